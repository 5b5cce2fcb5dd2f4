/*
 * lib/builtin/builtin.h - the built-in adapters, selected by the
 * configuration's "tracker" and "agent" keys.  Each registers its
 * callbacks through the public registration functions, as a host's
 * adapter would.  Internal.
 */
#ifndef AFK_LIB_BUILTIN_H
#define AFK_LIB_BUILTIN_H

#include "afk/adapter.h"
#include "core/config.h"
#include "net/http.h"
#include "net/secret.h"

/* Attaches a formatted message to call (through the public
 * afk_call_set_error()) and returns code, so that a built-in's failure
 * is one statement.  Defined in tick/adapter.c. */
int afk__call_failf(afk_call *call, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* What a built-in does when a tick that used it ends: save its HTTP
 * cache once per tick (lib/net/http.h).  Set after the userdata it takes
 * (a new userdata clears it); not part of the public API, since a
 * host's adapter knows its own ticks. */
typedef void (*afk__tick_end_fn)(void *userdata);
void afk__tracker_set_tick_end(afk_tracker *tracker, afk__tick_end_fn fn);
void afk__agent_set_tick_end(afk_agent *agent, afk__tick_end_fn fn);
void afk__ci_set_tick_end(afk_ci *ci, afk__tick_end_fn fn);

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
/* What the "command" CI makes of the n bytes its command printed: the
 * states it reports on call, or AFK_EPARSE with why.  For fuzzing. */
int afk__command_ci_parse(afk_call *call, const char *text, size_t n);

/* The "github" tracker and CI over GitHub's REST API
 * (lib/builtin/github.c): the token is read from the environment
 * variable or file the kind names, now.  Register all six tracker
 * callbacks, and status. */
int afk__builtin_github_tracker(afk_tracker *tracker, const afk_config *cfg,
                                char *errbuf);
int afk__builtin_github_ci(afk_ci *ci, const afk_config *cfg, char *errbuf);

/* The "forgejo" tracker and CI over the REST API of Forgejo and Gitea
 * (lib/builtin/forgejo.c): the same six tracker callbacks and status,
 * against the configured api_url; the token is read now. */
int afk__builtin_forgejo_tracker(afk_tracker *tracker, const afk_config *cfg,
                                 char *errbuf);
int afk__builtin_forgejo_ci(afk_ci *ci, const afk_config *cfg, char *errbuf);

/* The "stdout" and "file" notifiers: one line per notification, to
 * standard output or appended to a file.  Registers notify. */
int afk__builtin_file_notifier(afk_notifier *notifier, const afk_config *cfg,
                               char *errbuf);

/* The "t3" agent: T3 Code's orchestration API (lib/builtin/t3.c).  Reads
 * the token now.  Registers dispatch, snapshot and send_turn. */
int afk__builtin_t3_agent(afk_agent *agent, const afk_config *cfg,
                          char *errbuf);

/* The first generation's thread id the "t3" agent gives issue number of
 * repo (later runs of the same issue get "-2", "-3", ...), in a heap
 * string (free()), or NULL. */
char *afk__t3_thread_id(const char *repo, long number);

/* The "slack" notifier: a Slack incoming webhook (lib/builtin/slack.c).
 * Reads the webhook's URL now.  Registers notify. */
int afk__builtin_slack_notifier(afk_notifier *notifier,
                                const afk_config *cfg, char *errbuf);

/* What a built-in's setup message starts with: where the member of key
 * it cannot be set up from was set (afk__config_where()) and which
 * adapter failed, label, e.g. "afk.json:12: ci.token_env: CI (github)".
 * A heap string (free()), or NULL. */
char *afk__setup_what(const afk_config *cfg, const char *key,
                      const char *member, const char *label);

/* The settings of cfg's "http" key; o->etag_cache borrows cfg's string,
 * valid while cfg is unchanged. */
void afk__http_opts_from_config(afk__http_opts *o, const afk_config *cfg);

/* Makes *out, a built-in's HTTP handle, from cfg's "http" settings; an
 * ETag cache path it refuses is named with its line and label (the
 * adapter, as above).  Returns 0 or an AFK_E* code with why in errbuf.
 * Defined in builtin/setup.c. */
int afk__setup_http(const afk_config *cfg, const char *label,
                    afk__http **out, char *errbuf);

/* Reads a secret from the environment variable env or, when env is NULL,
 * the file at path file; trailing whitespace is dropped, an empty or
 * multi-line secret refused.  *out is the caller's (free()); what names
 * it in errbuf's message, which never holds the secret.  Defined in
 * net/secret.c. */
int afk__secret_read(const char *env, const char *file, const char *what,
                     char **out, char *errbuf);

#endif
