/*
 * lib/builtin.h - the built-in adapters, selected by the configuration's
 * "tracker" and "agent" keys.  Each registers its callbacks through the
 * public registration functions, as a host's adapter would.  Internal.
 */
#ifndef AFK_LIB_BUILTIN_H
#define AFK_LIB_BUILTIN_H

#include "afk/adapter.h"
#include "config.h"

/* Attaches a formatted message to call (through the public
 * afk_call_set_error()) and returns code, so that a built-in's failure
 * is one statement.  Defined in adapter.c. */
int afk__call_failf(afk_call *call, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* The "file" tracker: issues kept in a local JSON file (see afk.json(5)).
 * Registers all six tracker callbacks on tracker with a private userdata
 * copied from cfg.  Returns 0 or an AFK_E* code with why in errbuf
 * (AFK__ERRMSG_SIZE bytes). */
int afk__builtin_file_tracker(afk_tracker *tracker, const afk_config *cfg,
                              char *errbuf);

/* The "command" agent: a local command run once per dispatch and once
 * per corrective turn, its thread id and output kept under the state
 * directory.  Registers dispatch, snapshot and send_turn. */
int afk__builtin_command_agent(afk_agent *agent, const afk_config *cfg,
                               char *errbuf);

/* The "command" CI: a local command run per status read, with AFK_REPO
 * and AFK_ISSUE set, printing one JSON object (see afk.json(5)).
 * Registers status. */
int afk__builtin_command_ci(afk_ci *ci, const afk_config *cfg, char *errbuf);

/* The "stdout" and "file" notifiers: one line per notification, to
 * standard output or appended to a file.  Registers notify. */
int afk__builtin_file_notifier(afk_notifier *notifier, const afk_config *cfg,
                               char *errbuf);

#endif
