/*
 * lib/core/kind.h - a built-in adapter's kind as the configuration sees
 * it: its name, its role and its members, declared as data by the
 * built-in's own module (lib/builtin/) and handed to the configuration by
 * the registry (lib/builtin/registry.c).  The configuration checks an
 * adapter key's object against its kind's members and keeps the result,
 * a validated section, without interpreting it.  Internal.
 *
 * Pure data: nothing here knows a tick, an adapter's callbacks or the
 * network.  A member that needs another layer's judgement (a URL the
 * HTTP layer would refuse) carries that judgement as a function pointer.
 */
#ifndef AFK_LIB_KIND_H
#define AFK_LIB_KIND_H

#include <stddef.h>

/* The four adapter keys, in the configuration's documented order. */
typedef enum afk__role {
	AFK__ROLE_TRACKER,
	AFK__ROLE_AGENT,
	AFK__ROLE_CI,
	AFK__ROLE_NOTIFIER,
	AFK__ROLE_COUNT
} afk__role;

/* The key of a role: "tracker", "agent", "ci" or "notifier". */
const char *afk__role_key(afk__role role);

/* What a member holds, and so how it is checked and kept. */
typedef enum afk__mtype {
	AFK__M_STRING,  /* non-empty, no control character */
	AFK__M_PATH,    /* non-empty; made absolute against the file's
	                   directory (or the current one) */
	AFK__M_URL,     /* http:// or https://, no whitespace, then check();
	                   trailing '/' dropped */
	AFK__M_COMMAND, /* a non-empty array of non-empty strings; [0] made
	                   absolute like a path when it holds a '/' */
	AFK__M_VARS,    /* an array of distinct environment variable names;
	                   an empty one is kept as absent */
	AFK__M_LOGINS,  /* a non-empty array of distinct logins */
	AFK__M_SECRET,  /* the pair NAME_env (a variable's name) and NAME_file
	                   (a path): exactly one, never the secret itself */
	AFK__M_INT,     /* an integer in lo..hi */
	AFK__M_BOOL,    /* true or false */
	AFK__M_JSON,    /* a JSON value kept as given once check() passes
	                   it: check receives its compact JSON text */
	AFK__M_REFUSED  /* never accepted: doc says why */
} afk__mtype;

#define AFK__M_REQUIRED 1u  /* refused when absent (and no default) */

/* One member of a kind's object ("kind" itself is implied). */
typedef struct afk__member {
	const char *name;
	afk__mtype type;
	unsigned flags;       /* AFK__M_REQUIRED */
	const char *dflt;     /* the value kept when absent, as JSON text
	                         checked like a given one; NULL: absent stays
	                         absent */
	long long lo, hi;     /* AFK__M_INT */
	/* AFK__M_URL: the URL's further refusal, in words to quote, or NULL
	 * when it passes; "" when memory ran out.  May be NULL.
	 * AFK__M_JSON: the same for the value's compact JSON text (the
	 * shape a kind needs, judged by its module); required. */
	const char *(*check)(const char *value);
	const char *doc;      /* one line, for afk.json(5) */
} afk__member;

/* The kind flags. */
#define AFK__K_OWNER_REPOS 1u  /* builds "owner/name" paths: every
                                  allowlist entry needs an owner */

/* A kind: what an adapter key's "kind" names. */
typedef struct afk__kind {
	const char *name;              /* "github" */
	afk__role role;
	unsigned flags;                /* AFK__K_* */
	const afk__member *members;    /* ends with a NULL name */
	const char *doc;               /* one line, for afk.json(5) */
} afk__kind;

/* How the configuration finds the kinds: the i-th kind of role (0, 1,
 * ...), NULL past the last.  The registry's afk__registry_kind(). */
typedef const afk__kind *(*afk__kind_fn)(afk__role role, size_t i);

#endif
