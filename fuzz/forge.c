/*
 * fuzz/forge.c - the GitHub tracker and CI (lib/builtin/github.c), or,
 * built with FUZZ_FORGEJO, the Forgejo ones (lib/builtin/forgejo.c),
 * with lib/builtin/forge.c under both: every answer they read comes from the
 * scripted HTTP layer (fuzz/script.c).
 *
 * The input: one byte of flags (bit 0: trust_writers), then the script.
 * One run lists the ready issues of acme/api and acme/web and finds the
 * record comment of acme/api#7 with a fresh tracker, then reads the CI
 * status of acme/api#7 with a fresh CI, until the script ends.
 *
 * Properties (decisions only from trusted data):
 *   - an issue is reported trusted only when the actor of the latest
 *     event adding the ready label, in the timeline the forge answered
 *     for that very issue, is one of trusted_users - or, with
 *     trust_writers, the forge answered that login's permission on that
 *     repository as write access;
 *   - every issue reported was in a listing of its repository, with the
 *     ready or in-progress label;
 *   - a comment is reported only when the forge listed it with the
 *     token's own login (the answer to GET /user) as its author, and
 *     its body is the one listed;
 *   - the CI states reported are in range.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <jansson.h>

#include "core/adapter.h"
#include "afk/afk.h"
#include "builtin/forge.h"
#include "core/issue.h"

#ifdef FUZZ_FORGEJO
#define KIND "forgejo"
#else
#define KIND "github"
#endif

static afk_config *cfgs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char fmt[] =
		"{\"allowlist\": [\"acme/api\", \"acme/web\"],"
		" \"trusted_users\": [\"alice\", \"bob\"],"
		" \"trust_writers\": %s,"
		" \"tracker\": {\"kind\": \"" KIND "\","
		"  \"api_url\": \"http://127.0.0.1:9/api\","
		"  \"token_env\": \"AFK_FUZZ_TOKEN\"},"
		" \"ci\": {\"kind\": \"" KIND "\","
		"  \"api_url\": \"http://127.0.0.1:9/api\","
		"  \"token_env\": \"AFK_FUZZ_TOKEN\"}}";
	char text[1024];
	int i;

	(void)argc;
	(void)argv;
	setenv("AFK_FUZZ_TOKEN", "fuzz-token-0123456789", 1);
	for (i = 0; i < 2; i++) {
		snprintf(text, sizeof(text), fmt, i ? "true" : "false");
		if (afk_config_new(&cfgs[i]) != AFK_OK ||
		    afk_config_load_string(cfgs[i], text) != AFK_OK) {
			fprintf(stderr, "config: %s\n", afk_config_errmsg(cfgs[i]));
			abort();
		}
	}
	return 0;
}

/* The answers whose URL holds needle, their JSON arrays joined. */
static json_t *joined(const char *needle)
{
	const fuzz_answer *a;
	size_t n = fuzz_script_answers(&a), i;
	json_t *all = json_array(), *j;

	for (i = 0; i < n; i++) {
		if (strstr(a[i].url, needle) == NULL || (a[i].status < 200 || a[i].status > 299))
			continue;
		j = json_loads(a[i].body, 0, NULL);
		if (json_is_array(j))
			json_array_extend(all, j);
		json_decref(j);
	}
	return all;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The oracle's labeller: the latest event adding "ready-for-agent". */
static const char *labeller(json_t *events)
{
	const char *who = NULL, *name;
	json_t *e;
	size_t i;

	json_array_foreach(events, i, e) {
		name = str(json_object_get(e, "label"), "name");
		if (name == NULL || strcmp(name, "ready-for-agent") != 0)
			continue;
#ifdef FUZZ_FORGEJO
		if (str(e, "type") != NULL && strcmp(str(e, "type"), "label") == 0
		    && str(e, "body") != NULL && strcmp(str(e, "body"), "1") == 0)
			who = str(json_object_get(e, "user"), "login");
#else
		if (str(e, "event") != NULL &&
		    strcmp(str(e, "event"), "labeled") == 0)
			who = str(json_object_get(e, "actor"), "login");
#endif
	}
	return who;
}

/* 1 when the forge answered that who may write to repo. */
static int writer(const char *repo, const char *who)
{
	const fuzz_answer *a;
	size_t n = fuzz_script_answers(&a), i;
	char *ew = afk__forge_enc(who), *tail;
	int yes = 0;
	json_t *p;

	tail = afk__aprintf("/repos/%s/collaborators/%s/permission", repo, ew);
	for (i = 0; i < n && tail != NULL; i++) {
		if (!fuzz_ends_with(a[i].url, tail) || (a[i].status < 200 || a[i].status > 299))
			continue;
		p = json_loads(a[i].body, 0, NULL);
		yes |= afk__forge_can_write(p);
		json_decref(p);
	}
	free(tail);
	free(ew);
	return yes;
}

/* 1 when a listing of repo held the issue number with label. */
static int listed(const char *repo, long number)
{
	char *needle = afk__aprintf("/repos/%s/issues?", repo);
	json_t *all = joined(needle), *it, *l;
	size_t i, k;
	int found = 0;

	json_array_foreach(all, i, it) {
		if (json_integer_value(json_object_get(it, "number")) != number)
			continue;
		json_array_foreach(json_object_get(it, "labels"), k, l) {
			const char *n = json_is_string(l) ? json_string_value(l) :
			                str(l, "name");

			found |= n != NULL && (strcmp(n, "ready-for-agent") == 0 ||
			         strcmp(n, "agent-in-progress") == 0);
		}
	}
	json_decref(all);
	free(needle);
	return found;
}

static void check_issue(const afk__iset *set, size_t i, int tw)
{
	afk_issue *is = NULL;
	const char *repo = afk__iset_repo(set, i), *who;
	char *needle;
	json_t *tl;
	long num;

	if (afk__iset_issue(set, i, &is) != AFK_OK)
		abort();
	num = afk_issue_number(is);
	FUZZ_ASSERT(listed(repo, num), "%s#%ld was never listed", repo, num);
	if (afk_issue_trusted(is) != 0 &&
	    afk_issue_trusted(is) != AFK_TRUST_UNCHECKED) {
		needle = afk__aprintf("/repos/%s/issues/%ld/timeline", repo, num);
		tl = joined(needle);
		who = labeller(tl);
		FUZZ_ASSERT(who != NULL, "%s#%ld trusted with no labeller",
		            repo, num);
		FUZZ_ASSERT(strcmp(who, "alice") == 0 || strcmp(who, "bob") == 0
		            || (tw && writer(repo, who)),
		            "%s#%ld trusted, labelled by %s", repo, num, who);
		json_decref(tl);
		free(needle);
	}
	afk_issue_free(is);
}

/* 1 when the forge listed body as a comment by the token's own login. */
static int own_comment(const char *body)
{
	const fuzz_answer *a;
	size_t n = fuzz_script_answers(&a), i, k;
	json_t *u, *all, *c;
	int ok = 0;

	all = joined("/repos/acme/api/issues/7/comments");
	for (i = 0; i < n; i++) {
		if (!fuzz_ends_with(a[i].url, "/api/user") || (a[i].status < 200 || a[i].status > 299))
			continue;
		u = json_loads(a[i].body, 0, NULL);
		json_array_foreach(all, k, c)
			ok |= str(u, "login") != NULL && str(c, "body") != NULL &&
			      str(json_object_get(c, "user"), "login") != NULL &&
			      strcmp(str(json_object_get(c, "user"), "login"),
			             str(u, "login")) == 0 &&
			      strcmp(str(c, "body"), body) == 0;
		json_decref(u);
	}
	json_decref(all);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"acme/api", "acme/web"};
	afk__strv repos = {(char **)names, 2, 2};
	char err[AFK__ERRMSG_SIZE];
	afk_tracker *t = NULL;
	afk_ci *ci = NULL;
	afk__iset set;
	afk__errv errors;
	afk_call call;
	int tw, rc;
	size_t i;

	if (size < 1)
		return 0;
	tw = data[0] & 1;
	fuzz_script_start(data + 1, size - 1);

	if (afk_tracker_new(&t) != AFK_OK ||
	    afk_tracker_set_builtin(t, cfgs[tw]) != AFK_OK)
		abort();
	memset(&set, 0, sizeof(set));
	memset(&errors, 0, sizeof(errors));
	rc = afk__tracker_list(t, &repos, &set, &errors, "list", err);
	if (rc == AFK_OK)
		for (i = 0; i < set.n; i++)
			check_issue(&set, i, tw);
	afk__iset_clear(&set);
	afk__errv_clear(&errors);

	afk__call_init(&call, AFK__CALL_FIND_COMMENT, NULL);
	rc = t->find_comment(&call, "acme/api", 7, "<!-- afk-run:",
	                     t->userdata);
	if (rc == AFK_OK && call.comment != NULL)
		FUZZ_ASSERT(own_comment(call.comment),
		            "a comment not the token's own: %s", call.comment);
	afk__call_clear(&call);
	afk_tracker_free(t);

	if (afk_ci_new(&ci) != AFK_OK || afk_ci_set_builtin(ci, cfgs[tw]))
		abort();
	afk__call_init(&call, AFK__CALL_CI_STATUS, NULL);
	rc = ci->status(&call, "acme/api", 7, ci->userdata);
	if (rc == AFK_OK)
		FUZZ_ASSERT(call.pr >= AFK_PR_NONE && call.pr <= AFK_PR_MERGED &&
		            call.ci >= AFK_STATUS_NONE &&
		            call.ci <= AFK_STATUS_FAILURE &&
		            call.deploy >= AFK_STATUS_NONE &&
		            call.deploy <= AFK_STATUS_FAILURE,
		            "states %d %d %d", call.pr, call.ci, call.deploy);
	afk__call_clear(&call);
	afk_ci_free(ci);
	fuzz_script_end();
	return 0;
}
