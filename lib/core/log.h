/*
 * lib/core/log.h - the host's log, shared by what logs to it.  Internal.
 *
 * afk_config_set_log() makes one afk__log; the configuration holds a
 * reference, and so does everything that logs to it later without the
 * configuration at hand: each built-in's HTTP handle (lib/net/http.h,
 * given it by lib/builtin/setup.c) and each tick for its length.  The
 * host's destroy runs when the last reference goes, so a built-in that
 * outlives its configuration never logs to freed userdata.  The count is
 * atomic: handles made from one configuration may live in different
 * threads.
 *
 * A line below the host's max_level is never formatted: afk__logf()
 * checks the level first.  Every message is made one line (control
 * characters become spaces) and cut to AFK__LOG_SIZE bytes; the caller
 * redacts what may hold a secret before it gets here (the HTTP layer
 * formats through lib/net/redact.h).
 */
#ifndef AFK_LIB_LOG_H
#define AFK_LIB_LOG_H

#include <stdarg.h>

#include "afk/config.h"

#define AFK__LOG_SIZE 1024

typedef struct afk__log afk__log;

/* A new log with one reference (the caller's), or NULL when memory ran
 * out. */
afk__log *afk__log_new(afk_log_fn fn, int max_level, void *userdata,
                       afk_destroy_fn destroy);

/* Takes a reference: returns log (NULL is NULL). */
afk__log *afk__log_ref(afk__log *log);

/* Drops a reference; the last one runs the host's destroy and frees the
 * log.  NULL is a no-op. */
void afk__log_unref(afk__log *log);

/* 1 when log is there and wants lines of level. */
int afk__log_wants(const afk__log *log, int level);

/* 1 when log's host function and userdata are these (a setter called
 * again with the same ones); the level is then changed in place. */
int afk__log_same(const afk__log *log, afk_log_fn fn, void *userdata,
                  afk_destroy_fn destroy);
void afk__log_set_level(afk__log *log, int max_level);

/* Sends one line to the host when it wants its level; NULL is a no-op.
 * The log is held for the call: a host that replaces it from inside its
 * own function does not free it under itself. */
void afk__logf(afk__log *log, int level, const char *event,
               const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
void afk__log_str(afk__log *log, int level, const char *event,
                  const char *message);

/* Logs, at notice, that a tick made with the disarmed cfg does nothing
 * (event "tick.disarmed"), naming each gate that is closed. */
void afk__log_disarmed(const afk_config *cfg);

#endif
