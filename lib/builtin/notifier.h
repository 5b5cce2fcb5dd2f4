/*
 * lib/builtin/notifier.h - the one line a built-in notifier delivers,
 * shared by the "stdout" and "file" notifiers (lib/builtin/notifier.c,
 * which defines it) and the "command" notifier's stdin
 * (lib/builtin/notify_command.c), so that every kind says the same thing
 * the same way.  Internal.
 */
#ifndef AFK_LIB_NOTIFIER_H
#define AFK_LIB_NOTIFIER_H

#include "builtin/builtin.h"

/* "afk: <message>[ <link>]\n" - link only when not "" - with every
 * control character of message and link made '?', so that neither can
 * break the one-line format nor carry a terminal escape.  A heap string
 * (the caller's, free()), or NULL when memory ran out. */
char *afk__notify_line(const char *message, const char *link);

#endif
