/*
 * lib/builtin/ci.c - the "command" CI: a local command that tells the
 * state of an issue's pull request, its CI and its deploy.
 *
 * The command is run once per status read, without a shell, in the
 * minimal environment with the variables its "env" names (the
 * environment rule, lib/builtin/spawn.h) and AFK_REPO and AFK_ISSUE set, stdin
 * /dev/null, in the directory of its
 * program (when the command names one by path: a script beside the
 * configuration finds its files), in a process group of its own that is
 * killed after CI_TIMEOUT seconds, and prints one JSON object:
 *
 *   {"pr": "none" | "open" | "merged", "head": "<sha>",
 *    "ci": "none" | "pending" | "success" | "failure",
 *    "failing": [{"name": "build", "url": "https://..."}],
 *    "deploy": "none" | "pending" | "success" | "failure"}
 *
 * "pr" and "ci" are required, the rest optional.  The output is a
 * contract, so it is read strictly: an unknown member or value is an
 * error, never ignored, since a typo in "failure" must not read as
 * "none".
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin/builtin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "core/jsonpos.h"
#include "builtin/spawn.h"

/* Seconds a CI command may take before it and every process it started
 * (its process group) are killed: it reports a state, it does not wait
 * for one, and the tick must not hang on it (a background grandchild
 * holding its stdout, a hung network call). */
#define CI_TIMEOUT 60
#define OUT_MAX (64 * 1024)  /* bytes of stdout: one small JSON object */
#define ERR_MAX 4096         /* bytes of stderr kept for a message */
#define ERR_HEAD 200         /* bytes of stderr quoted in a message */

/* The command and where it runs, copied from the configuration. */
struct command_ci {
	afk__strv argv;   /* NULL-terminated for exec */
	char *dir;        /* the directory of argv[0], or NULL: ours */
	afk__strv pass;   /* "env": our variables the command gets */
	afk__strv hide;   /* the configuration's secrets' variables */
};

static void command_ci_free(void *userdata)
{
	struct command_ci *cc = userdata;

	if (cc == NULL)
		return;
	afk__strv_clear(&cc->argv);
	free(cc->dir);
	afk__strv_clear(&cc->pass);
	afk__strv_clear(&cc->hide);
	free(cc);
}

/* --- the protocol ---------------------------------------------------- */

static const char *const pr_names[] = {"none", "open", "merged", NULL};
static const char *const status_names[] = {
	"none", "pending", "success", "failure", NULL
};

/* The index of member name's string value in names (AFK_PR_* and
 * AFK_STATUS_* count from 0 in the same order), or -1 with a message. */
static int enum_member(afk_call *call, json_t *o, const char *name,
                       const char *const *names, const char *expected,
                       int *out)
{
	json_t *v = json_object_get(o, name);
	char q[64];
	int i;

	if (!json_is_string(v))
		return afk__call_failf(call, AFK_EPARSE, "CI command output: \"%s\": "
		            "expected %s", name, expected);
	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(names[i], json_string_value(v)) == 0) {
			*out = i;
			return AFK_OK;
		}
	}
	afk__one_line(q, sizeof(q), json_string_value(v), 48);
	return afk__call_failf(call, AFK_EPARSE, "CI command output: \"%s\": unknown "
	            "value \"%s\" (expected %s)", name, q, expected);
}

/* Checks that every member of o is one of names (NULL-terminated);
 * where names the object in a message. */
static int known_members(afk_call *call, json_t *o, const char *const *names,
                         const char *where)
{
	const char *key, *const *n;
	json_t *v;
	char q[64];

	json_object_foreach(o, key, v) {
		for (n = names; *n != NULL; n++)
			if (strcmp(*n, key) == 0)
				break;
		if (*n != NULL)
			continue;
		afk__one_line(q, sizeof(q), key, 48);
		return afk__call_failf(call, AFK_EPARSE, "CI command output: %sunknown "
		            "member \"%s\"", where, q);
	}
	return AFK_OK;
}

/* Checks failing[i]: {"name": non-empty, "url": string or null,
 * optional}. */
static int check_item(afk_call *call, json_t *item, size_t i)
{
	static const char *const members[] = {"name", "url", NULL};
	json_t *name, *url;
	char where[48];
	int rc;

	snprintf(where, sizeof(where), "\"failing\"[%zu]: ", i);
	if (!json_is_object(item))
		return afk__call_failf(call, AFK_EPARSE, "CI command output: %sexpected "
		            "an object", where);
	rc = known_members(call, item, members, where);
	if (rc)
		return rc;
	name = json_object_get(item, "name");
	url = json_object_get(item, "url");
	if (!json_is_string(name) || json_string_length(name) == 0)
		return afk__call_failf(call, AFK_EPARSE, "CI command output: %s\"name\": "
		            "expected a non-empty string", where);
	if (url != NULL && !json_is_null(url) && !json_is_string(url))
		return afk__call_failf(call, AFK_EPARSE, "CI command output: %s\"url\": "
		            "expected a string or null", where);
	return AFK_OK;
}

/* Checks "failing": absent, null or an array of checks. */
static int check_failing(afk_call *call, json_t *a)
{
	json_t *item;
	size_t i;
	int rc;

	if (a == NULL || json_is_null(a))
		return AFK_OK;
	if (!json_is_array(a))
		return afk__call_failf(call, AFK_EPARSE, "CI command output: \"failing\": "
		            "expected an array");
	json_array_foreach(a, i, item) {
		rc = check_item(call, item, i);
		if (rc)
			return rc;
	}
	return AFK_OK;
}

/* Reports the checked "failing" checks, in order. */
static int report_failing(afk_call *call, json_t *a)
{
	json_t *item;
	size_t i;
	int rc;

	json_array_foreach(a, i, item) {
		rc = afk_call_add_failing_check(call,
		        json_string_value(json_object_get(item, "name")),
		        json_string_value(json_object_get(item, "url")));
		if (rc)
			return rc;
	}
	return AFK_OK;
}

/* Reads the object and reports it on call, all checks first, so a
 * refused output reports nothing. */
static int report(afk_call *call, json_t *o)
{
	static const char *const members[] = {
		"pr", "head", "ci", "failing", "deploy", NULL
	};
	static const char pr_expected[] = "\"none\", \"open\" or \"merged\"";
	static const char st_expected[] =
		"\"none\", \"pending\", \"success\" or \"failure\"";
	json_t *head = json_object_get(o, "head");
	int pr, ci, deploy = AFK_STATUS_NONE, rc;

	rc = known_members(call, o, members, "");
	if (rc == AFK_OK)
		rc = enum_member(call, o, "pr", pr_names, pr_expected, &pr);
	if (rc == AFK_OK)
		rc = enum_member(call, o, "ci", status_names, st_expected, &ci);
	if (rc == AFK_OK && json_object_get(o, "deploy") != NULL)
		rc = enum_member(call, o, "deploy", status_names, st_expected,
		                 &deploy);
	if (rc == AFK_OK && head != NULL && !json_is_null(head) &&
	    (!json_is_string(head) || json_string_length(head) == 0))
		rc = afk__call_failf(call, AFK_EPARSE, "CI command output: \"head\": "
		          "expected a non-empty string or null");
	if (rc == AFK_OK)
		rc = check_failing(call, json_object_get(o, "failing"));
	if (rc)
		return rc;
	rc = afk_call_set_pr(call, pr, json_string_value(head));
	if (rc == AFK_OK)
		rc = afk_call_set_ci(call, ci);
	if (rc == AFK_OK)
		rc = afk_call_set_deploy(call, deploy);
	if (rc == AFK_OK)
		rc = report_failing(call, json_object_get(o, "failing"));
	return rc;
}

/* Parses what the command printed and reports it. */
static int parse_output(afk_call *call, const afk__capture *out)
{
	char why[JSON_ERROR_TEXT_LENGTH];
	json_error_t jerr;
	json_t *o;
	int rc;

	o = json_loadb(out->buf, out->len, JSON_REJECT_DUPLICATES, &jerr);
	/* Not jansson's quote of the output: a command may print a
	 * token. */
	if (o == NULL)
		return afk__call_failf(call, AFK_EPARSE, "CI command output: line %d: "
		            "invalid JSON: %s", jerr.line,
		            afk__jsonpos_reason(&jerr, why, sizeof(why)));
	if (!json_is_object(o))
		rc = afk__call_failf(call, AFK_EPARSE, "CI command output: expected one "
		          "JSON object");
	else
		rc = report(call, o);
	json_decref(o);
	return rc;
}

/* The decoder alone, for fuzz/ci.c: the n bytes at text as the
 * command's standard output. */
int afk__command_ci_parse(afk_call *call, const char *text, size_t n)
{
	afk__capture out;

	memset(&out, 0, sizeof(out));
	out.buf = (char *)text;
	out.len = n;
	return parse_output(call, &out);
}

/* --- status ---------------------------------------------------------- */

/* Judges how the command ended: only "exited 0" counts; anything else
 * fails the call quoting the start of its stderr. */
static int check_exit(afk_call *call, int status, const afk__capture *err)
{
	char how[64], head[ERR_HEAD + 8];

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return AFK_OK;
	afk__spawn_describe(status, how, sizeof(how));
	afk__one_line(head, sizeof(head), err->buf, ERR_HEAD);
	return afk__call_failf(call, AFK_ECALLBACK, "CI command %s%s%s", how,
	            head[0] ? ": " : "", head);
}

static int command_status(afk_call *call, const char *repo, long number,
                          void *userdata)
{
	const struct command_ci *cc = userdata;
	afk__capture out = {OUT_MAX, NULL, 0, 0}, err = {ERR_MAX, NULL, 0, 0};
	afk__spawn_opts o;
	char *env[3] = {NULL, NULL, NULL};
	int rc, e, status = 0, started = 0;

	env[0] = afk__aprintf("AFK_REPO=%s", repo);
	env[1] = afk__aprintf("AFK_ISSUE=%ld", number);
	if (env[0] == NULL || env[1] == NULL) {
		rc = AFK_ENOMEM;
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.argv = cc->argv.v;
	o.dir = cc->dir;
	o.pass = cc->pass.v;
	o.hide = cc->hide.v;
	o.env = env;
	o.in = -1;
	o.timeout_ms = CI_TIMEOUT * 1000L;
	e = afk__spawn_capture(&o, &out, &err, &status, &started);
	if (e == ENOMEM && !started)
		rc = AFK_ENOMEM;
	else if (e == ETIMEDOUT && started)
		rc = afk__call_failf(call, AFK_ECALLBACK, "CI command '%s' timed "
		          "out after %d s", cc->argv.v[0], CI_TIMEOUT);
	else if (e == 0 && out.over) /* killed for it: its status says no more */
		rc = afk__call_failf(call, AFK_EPARSE, "CI command output too "
		          "large (over %d KiB)", OUT_MAX / 1024);
	else if (e != 0)
		rc = afk__call_failf(call, AFK_EIO, "%s CI command '%s': %s",
		          started ? "lost track of" : "cannot run",
		          cc->argv.v[0], strerror(e));
	else
		rc = check_exit(call, status, &err);
	if (rc == AFK_OK)
		rc = parse_output(call, &out);
out:
	free(env[0]);
	free(env[1]);
	free(out.buf);
	free(err.buf);
	return rc;
}

/* --- registration ---------------------------------------------------- */

static int command_ci_new(const afk_config *cfg, struct command_ci **out)
{
	struct command_ci *cc;

	cc = calloc(1, sizeof(*cc));
	if (cc == NULL)
		return AFK_ENOMEM;
	/* NULL-terminated: execve wants a terminated argv. */
	if (afk__config_strv(cfg, AFK__ROLE_CI, "env", &cc->pass) ||
	    afk__config_secret_envs(cfg, &cc->hide) ||
	    afk__config_strv(cfg, AFK__ROLE_CI, "command", &cc->argv) ||
	    afk__spawn_dir(cc->argv.v[0], &cc->dir)) {
		command_ci_free(cc);
		return AFK_ENOMEM;
	}
	*out = cc;
	return AFK_OK;
}

/* probe: the command exists and is executable; nothing is run. */
static int command_ci_probe(afk_call *call, void *userdata)
{
	const struct command_ci *cc = userdata;
	int err = afk__spawn_find(cc->argv.v[0]);

	if (err == ENOMEM)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "CI command '%s': %s",
		                       cc->argv.v[0], strerror(err));
	return AFK_OK;
}

/* The userdata is handed to the CI adapter, which owns it from then on
 * and frees it with command_ci_free(). */
static int command_ci_setup(afk_ci *ci, const afk_config *cfg, char *errbuf)
{
	struct command_ci *cc;
	int rc;

	rc = command_ci_new(cfg, &cc);
	if (rc) {
		afk__errf(errbuf, "ci: out of memory");
		return rc;
	}
	rc = afk_ci_set_userdata(ci, cc, command_ci_free);
	if (rc) {
		command_ci_free(cc);
		afk__errf(errbuf, "ci: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	rc = afk_ci_set_status(ci, command_status);
	if (rc == AFK_OK)
		rc = afk_ci_set_probe(ci, command_ci_probe);
	if (rc)
		afk__errf(errbuf, "ci: cannot register status: %s",
		          afk_strerror(rc));
	return rc;
}

static const afk__member command_ci_members[] = {
	{"command", AFK__M_COMMAND, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "run once per status read; prints one JSON object"},
	{"env", AFK__M_VARS, 0, NULL, 0, 0, NULL,
	 "variables passed on beyond the minimal set"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_command_ci = {
	{"command", AFK__ROLE_CI, 0, command_ci_members,
	 "a local command that prints the CI and deploy state as JSON"},
	{.ci = command_ci_setup}
};
