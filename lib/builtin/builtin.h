/*
 * lib/builtin/builtin.h - what a built-in adapter is: one module
 * (lib/builtin/NAME.c) that declares, in one afk__builtin, its kind's
 * name, role and configuration members (lib/core/kind.h) and its setup,
 * which registers its callbacks and probe through the public
 * registration functions, as a host's adapter would.  The registry
 * (lib/builtin/registry.c) lists them, one row each.  Internal.
 */
#ifndef AFK_LIB_BUILTIN_H
#define AFK_LIB_BUILTIN_H

#include "afk/adapter.h"
#include "core/adapter.h"
#include "core/config.h"
#include "core/kind.h"
#include "net/http.h"
#include "net/secret.h"

/*
 * A built-in.  setup is the member of the union that kind.role names:
 * it makes the adapter from cfg's section for that role (which the
 * configuration has checked against kind.members) and registers its
 * callbacks on the handle.  Returns 0 or an AFK_E* code with why in
 * errbuf (AFK__ERRMSG_SIZE bytes), naming where the member it cannot use
 * was set (afk__setup_what()).
 */
typedef struct afk__builtin {
	afk__kind kind;
	union {
		int (*tracker)(afk_tracker *tracker, const afk_config *cfg,
		               char *errbuf);
		int (*agent)(afk_agent *agent, const afk_config *cfg,
		             char *errbuf);
		int (*ci)(afk_ci *ci, const afk_config *cfg, char *errbuf);
		int (*notifier)(afk_notifier *notifier, const afk_config *cfg,
		                char *errbuf);
	} setup;
} afk__builtin;

/* The registry's kinds: the i-th built-in of role, NULL past the last
 * (an afk__kind_fn). */
const afk__kind *afk__registry_kind(afk__role role, size_t i);

/* What the "command" CI makes of the n bytes its command printed: the
 * states it reports on call, or AFK_EPARSE with why.  For fuzzing. */
int afk__command_ci_parse(afk_call *call, const char *text, size_t n);

/* The first generation's thread id the "t3" agent gives issue number of
 * repo (later runs of the same issue get "-2", "-3", ...), in a heap
 * string (free()), or NULL. */
char *afk__t3_thread_id(const char *repo, long number);

/* The name of the first turn's Job (and Secret) the "kubernetes" agent
 * makes for generation of issue number of repo - the run's thread id:
 * a DNS-1123 label of at most 59 characters (turn n > 1 appends "-tn"),
 * in a heap string (free()), or NULL. */
char *afk__k8s_job_name(const char *repo, long number, int generation);

/* What a built-in's setup message starts with: where the member of key
 * it cannot be set up from was set (afk__config_where()) and which
 * adapter failed, label, e.g. "afk.json:12: ci.token_env: CI (github)".
 * A heap string (free()), or NULL. */
char *afk__setup_what(const afk_config *cfg, const char *key,
                      const char *member, const char *label);

/* Reads the secret member name (its NAME_env or NAME_file) of role's
 * section into *out (the caller's, afk__free_secret()); a failure says
 * where the member was set and label (the adapter) in errbuf.  *what,
 * when what is not NULL and the read succeeded, is that start of a
 * message (afk__setup_what(), free()).  Returns 0 or an AFK_E* code. */
int afk__setup_secret(const afk_config *cfg, afk__role role,
                      const char *name, const char *label, char **out,
                      char **what, char *errbuf);

/* An agent built-in's callbacks, registered together by
 * afk__setup_agent(); name says whose in a message ("T3"). */
typedef struct afk__agent_fns {
	const char *name;
	afk_dispatch_fn dispatch;
	afk_snapshot_fn snapshot;
	afk_send_turn_fn send_turn;
	afk_stop_fn stop;
	afk_probe_fn probe;
	afk__tick_end_fn tick_end;    /* NULL: none */
} afk__agent_fns;

/* Hands userdata to agent (it frees it with free_fn from then on; so
 * does a failure here) and registers fns.  Returns 0 or an AFK_E* code
 * with why in errbuf.  Defined in builtin/setup.c. */
int afk__setup_agent(afk_agent *agent, void *userdata,
                     void (*free_fn)(void *), const afk__agent_fns *fns,
                     char *errbuf);

/* The settings of cfg's "http" key; o->etag_cache borrows cfg's string,
 * valid while cfg is unchanged, and o->log cfg's log (afk__http_new()
 * takes a reference of its own, so the handle may outlive cfg). */
void afk__http_opts_from_config(afk__http_opts *o, const afk_config *cfg);

/* Makes *out, a built-in's HTTP handle, from cfg's "http" settings; an
 * ETag cache path it refuses is named with its line and label (the
 * adapter, as above).  Returns 0 or an AFK_E* code with why in errbuf.
 * Defined in builtin/setup.c. */
int afk__setup_http(const afk_config *cfg, const char *label,
                    afk__http **out, char *errbuf);

#endif
