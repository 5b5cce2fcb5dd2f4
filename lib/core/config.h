/*
 * lib/core/config.h - the configuration's inside, read by the ticks and the
 * built-in adapters.  Internal.
 *
 * Every path is stored resolved: a relative path in a file is joined to
 * the file's directory when the file is loaded.
 */
#ifndef AFK_LIB_CONFIG_H
#define AFK_LIB_CONFIG_H

#include "afk/config.h"
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

	/* "tracker": {"kind": "file", "path": ...} or absent (kind NULL) */
	char *tracker_kind;
	char *tracker_path;
	/* "tracker": {"kind": "github", "api_url", "token_env" |
	 * "token_file"} */
	/* or {"kind": "forgejo", the same members, "api_url" required} */
	char *tracker_api_url;    /* NULL: https://api.github.com */
	char *tracker_token_env;  /* exactly one of these two */
	char *tracker_token_file; /* resolved */

	/* "agent": {"kind": "command", "command": [...], "state_dir": ...,
	 * "env": [...]} */
	char *agent_kind;
	afk__strv agent_command;  /* argv; [0] resolved like a path if it has a '/' */
	char *agent_state_dir;
	afk__strv agent_env;      /* variables passed to the command beyond
	                             the minimal set (lib/builtin/spawn.h) */
	/* "agent": {"kind": "t3", "url", "token_env" | "token_file",
	 * "project_id", "model", "instance_id", "max_prompt"} */
	char *agent_url;          /* no trailing '/' */
	char *agent_token_env;    /* exactly one of these two */
	char *agent_token_file;   /* resolved */
	char *agent_project_id;
	char *agent_model;
	char *agent_instance_id;  /* default "codex" */
	long long agent_max_prompt; /* bytes; default 100000 */

	/* "ci": {"kind": "command", "command": [...], "env": [...]} or
	 * absent */
	char *ci_kind;
	afk__strv ci_command;
	afk__strv ci_env;         /* as agent_env */
	/* "ci": {"kind": "github", "api_url", "token_env" | "token_file",
	 * "deploy_environment", "agent_logins"} */
	/* or {"kind": "forgejo", the same members but deploy_environment,
	 * "api_url" required} */
	char *ci_api_url;         /* NULL: https://api.github.com */
	char *ci_token_env;
	char *ci_token_file;      /* resolved */
	char *ci_deploy_env;      /* NULL: the deploy state is none */
	afk__strv ci_agent_logins; /* "agent_logins": whose PR may be the
	                              run's; empty: the token's own login */

	/* "notifier": {"kind": "stdout"} or {"kind": "file", "path": ...} */
	char *notifier_kind;
	char *notifier_path;      /* "file" only */
	char *notifier_webhook_env;  /* "slack": exactly one of these two */
	char *notifier_webhook_file; /* resolved */

	/* the run lifecycle */
	int fix_forward_budget;   /* default 2 */
	int deploy_stage;         /* default 0: merged + green CI is the end */
	long long stall_timeout;  /* seconds; default 7200 */
	long long ci_timeout;     /* seconds; default 3600 */
	long long deploy_timeout; /* seconds; default 3600 */

	/* "http": the HTTP layer under the network adapters (lib/net/http.h) */
	long http_per_host;        /* requests in flight per host; default 4 */
	long http_connect_timeout; /* seconds; default 10 */
	long http_timeout;         /* seconds; default 30 */
	long long http_max_body;   /* bytes; default 8 MiB */
	long http_max_pages;       /* default 10 */
	char *http_etag_cache;     /* resolved path; NULL: no file */
	long http_rate_reserve;    /* default 50 */

	/* where each member of an object key was set from a text, for the
	 * built-ins' setup messages: "tracker.token_env\tafk.json:6" (a
	 * member name never holds a tab); a key set otherwise has none */
	afk__strv members;

	char errmsg[AFK__ERRMSG_SIZE];
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

/* Stores in *out (emptied first; the caller's) a NULL-terminated copy of
 * names, a command's "env", for lib/builtin/spawn.h.  Returns 0 or
 * AFK_ENOMEM. */
int afk__config_env_names(const afk__strv *names, afk__strv *out);

#endif
