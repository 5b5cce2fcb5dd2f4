/*
 * lib/core/config.h - the configuration's inside, read by the ticks and the
 * built-in adapters.  Internal.
 *
 * Every path is stored resolved: a relative path in a file is joined to
 * the file's directory when the file is loaded.
 */
#ifndef AFK_LIB_CONFIG_H
#define AFK_LIB_CONFIG_H

#include <jansson.h>

#include "afk/config.h"
#include "core/kind.h"
#include "core/log.h"
#include "core/util.h"

struct afk_config {
	int kill_switch;          /* default 1 */
	afk__strv allowlist;      /* exact repository names, config order */
	char *ready_label;        /* default "ready-for-agent" */
	char *in_progress_label;  /* default "agent-in-progress" */
	char *human_label;        /* default "ready-for-human" */
	afk__strv trusted_users;  /* logins whose ready label counts */
	int trust_writers;        /* default 0: a labeller with write access
	                             to the repository counts too */
	char *preamble_file;      /* NULL: the built-in preamble */
	char *preamble;           /* the file's text, read when set */

	/* "tracker", "agent", "ci", "notifier": per role, the kind chosen
	 * (NULL: none) and its section, the object as checked - "kind"
	 * first, then the kind's members in its order, paths absolute,
	 * defaults filled in (lib/core/kind.h).  The configuration does not
	 * interpret it: the kind's built-in reads it (afk__config_str()). */
	const afk__kind *kind[AFK__ROLE_COUNT];
	json_t *section[AFK__ROLE_COUNT];  /* never changed once made:
	                                       copies share it */
	afk__kind_fn kinds;       /* the kinds known, from the registry */

	/* the run lifecycle */
	int fix_forward_budget;   /* default 2 */
	long max_in_flight;       /* runs in flight at most; 0 (default):
	                             no cap */
	int deploy_stage;         /* default 0: merged + green CI is the end */
	long long stall_timeout;  /* seconds; default 7200 */
	long long ci_timeout;     /* seconds; default 3600 */
	long long deploy_timeout; /* seconds; default 3600 */
	/* "budget": the cap on one run's usage (all its turns); 0: none */
	long long budget_tokens;  /* tokens in + out, 1 .. 1e12 */
	double budget_cost_usd;   /* as configured, > 0 .. 1e6 */
	long long budget_cost_microusd; /* the same, rounded, >= 1 */

	/* "http": the HTTP layer under the network adapters (lib/net/http.h) */
	long http_per_host;        /* requests in flight per host; default 4 */
	long http_connect_timeout; /* seconds; default 10 */
	long http_timeout;         /* seconds; default 30 */
	long long http_max_body;   /* bytes; default 8 MiB */
	long http_max_pages;       /* default 10 */
	char *http_etag_cache;     /* resolved path; NULL: no file */
	int http_etag_cache_read_only; /* read the file, never write it */
	long http_rate_reserve;    /* default 50 */

	char *state_dir;          /* resolved path; NULL: none (yet) */
	char *metrics_file;       /* resolved path; NULL: the host's default
	                             (the CLI: <state_dir>/afk.prom) */

	/* where each member of an object key was set from a text, for the
	 * built-ins' setup messages: "tracker.token_env\tafk.json:6" (a
	 * member name never holds a tab); a key set otherwise has none */
	afk__strv members;

	char errmsg[AFK__ERRMSG_SIZE];
	afk__log *log;            /* afk_config_set_log(); NULL: none.  Not
	                             a setting: it stays with the handle */
};

/* Validates a repository name as an allowlist entry: "name" or
 * "owner/name", each part of [A-Za-z0-9._-], not "." or "..".  Returns 0
 * or AFK_ECONFIG with why in errbuf (AFK__ERRMSG_SIZE bytes). */
int afk__config_check_repo(const char *repo, char *errbuf);

/* Stores in *out (emptied first; the caller's, afk__strv_clear()) the
 * names of the environment variables cfg reads secrets from (token_env,
 * webhook_env), NULL-terminated for lib/builtin/spawn.h: what no child
 * is given.  Returns 0 or AFK_ENOMEM. */
int afk__config_secret_envs(const afk_config *cfg, afk__strv *out);

/* Writes into buf (size bytes) where member of the object key was set:
 * "afk.json:6: tracker.token_env" when it came from a file (or
 * "<string>"), else "tracker.token_env" - what a built-in that cannot be
 * set up from it puts first in its message. */
void afk__config_where(const afk_config *cfg, const char *key,
                       const char *member, char *buf, size_t size);

/* A new configuration with the defaults, knowing the kinds kinds lists
 * (the registry's afk__registry_kind()).  afk_config_new() is this with
 * the registry's kinds. */
int afk__config_new(afk_config **out, afk__kind_fn kinds);

/* The kind cfg selects for role, or NULL when it selects none. */
const afk__kind *afk__config_kind(const afk_config *cfg, afk__role role);

/* The string member (a STRING, PATH, URL or one of a SECRET's pair) of
 * role's section, borrowed from cfg, or NULL when absent. */
const char *afk__config_str(const afk_config *cfg, afk__role role,
                            const char *member);

/* The BOOL or JSON member of role's section (any member, as kept),
 * borrowed from cfg, or NULL when absent. */
json_t *afk__config_json(const afk_config *cfg, afk__role role,
                         const char *member);

/* The INT member of role's section; 0 when absent. */
long long afk__config_int(const afk_config *cfg, afk__role role,
                          const char *member);

/* Stores in *out (emptied first; the caller's, afk__strv_clear()) a copy
 * of the array member (COMMAND, VARS, LOGINS) of role's section,
 * NULL-terminated for lib/builtin/spawn.h; empty when absent.  Returns 0
 * or AFK_ENOMEM. */
int afk__config_strv(const afk_config *cfg, afk__role role,
                     const char *member, afk__strv *out);

/* The path of name inside cfg's state directory, in a heap string (the
 * caller's), or NULL when cfg has no state directory or memory ran out
 * (*none set to 1 for the first). */
char *afk__config_state_path(const afk_config *cfg, const char *name,
                             int *none);

#endif
