/*
 * tests/builtin/check_forgejo.c - the "forgejo" tracker and CI
 * (lib/builtin/forgejo.c) against tests/http_server.py on 127.0.0.1,
 * playing Forgejo's REST API under /api/v1.
 *
 * Each test starts its own server, scripts Forgejo's answers, calls the
 * adapters' callbacks directly (as a tick would) and then reads the
 * server's log of what was sent.  The server helpers are those of
 * tests/builtin/check_github.c.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "afk/afk.h"
#include "core/adapter.h"
#include "core/config.h"
#include "fakes.h"
#include "httpsrv.h"
#include "core/issue.h"

#define TOKEN "fj0S3cr3tT0k3nValue0123456789abcdef01"
#define TOKEN_ENV "AFK_TEST_FORGEJO_TOKEN"

/* --- the server ------------------------------------------------------ */

static srv S;           /* the fixture's server */

/* --- the fixture ----------------------------------------------------- */

static afk_config *CFG;
static afk_tracker *T;
static afk_ci *CI;
/* What list_ready reported it could not list or vet, as a tick sees
 * it; emptied by each list_ready(). */
static afk__errv ERRS;

static void setup(void)
{
	char text[1024];

	srv_start(&S);
	ck_assert_int_eq(setenv(TOKEN_ENV, TOKEN, 1), 0);
	ck_assert_int_eq(afk_config_new(&CFG), 0);
	snprintf(text, sizeof(text),
	         "{\"allowlist\": [\"acme/api\", \"acme/web\"],"
	         " \"trusted_users\": [\"alice\", \"bob\"],"
	         " \"tracker\": {\"kind\": \"forgejo\", \"api_url\":"
	         "  \"%s/api/v1/\", \"token_env\": \"" TOKEN_ENV "\"},"
	         " \"ci\": {\"kind\": \"forgejo\", \"api_url\":"
	         "  \"%s/api/v1\", \"agent_logins\": [\"afk-bot\"],"
	         "  \"token_env\": \"" TOKEN_ENV "\"}}", S.base, S.base);
	ck_assert_msg(afk_config_load_string(CFG, text) == 0, "%s",
	              afk_config_errmsg(CFG));
	ck_assert_int_eq(afk_tracker_new(&T), 0);
	ck_assert_msg(afk_tracker_set_builtin(T, CFG) == 0, "%s",
	              afk_tracker_errmsg(T));
	ck_assert_int_eq(afk_ci_new(&CI), 0);
	ck_assert_msg(afk_ci_set_builtin(CI, CFG) == 0, "%s",
	              afk_ci_errmsg(CI));
}

static void teardown(void)
{
	afk__errv_clear(&ERRS);
	afk_tracker_free(T);
	afk_ci_free(CI);
	afk_config_free(CFG);
	T = NULL;
	CI = NULL;
	CFG = NULL;
	srv_stop(&S);
}

static const char *msg_of(const afk_call *call)
{
	return call->message ? call->message : "";
}

/* Runs list_ready over repos into *set (the caller clears it). */
static int list_ready(afk_call *c, afk__iset *set, const char *const *repos,
                      size_t n)
{
	memset(set, 0, sizeof(*set));
	afk__errv_clear(&ERRS);
	afk__call_init(c, AFK__CALL_LIST_READY, set);
	c->errors = &ERRS;
	return T->list_ready(c, repos, n, T->userdata);
}

/* The one error reported for repo#number (0: the repository), failing
 * the test when there is none or more than one. */
static const afk__err *error_of(const char *repo, long number)
{
	const afk__err *e = NULL;
	size_t i;

	for (i = 0; i < ERRS.n; i++) {
		if (strcmp(ERRS.v[i].repo, repo) != 0 ||
		    ERRS.v[i].number != number)
			continue;
		ck_assert_msg(e == NULL, "two errors for %s#%ld", repo, number);
		e = &ERRS.v[i];
	}
	ck_assert_msg(e != NULL, "no error for %s#%ld", repo, number);
	return e;
}

/* Fails the test when list_ready reported anything it could not list
 * or vet: a request the contract's mock refused would be one. */
static void no_errors(void)
{
	ck_assert_msg(ERRS.n == 0, "%s", ERRS.n ? ERRS.v[0].message : "");
}

/* Issue number of repo in set, or NULL; afk_issue_free() it. */
static afk_issue *find_issue(const afk__iset *set, const char *repo,
                             long number)
{
	afk_issue *is;
	size_t i;

	for (i = 0; i < set->n; i++) {
		ck_assert_int_eq(afk__iset_issue(set, i, &is), 0);
		if (strcmp(afk_issue_repo(is), repo) == 0 &&
		    afk_issue_number(is) == number)
			return is;
		afk_issue_free(is);
	}
	return NULL;
}

/* --- list_ready ------------------------------------------------------ */

#define A "/api/v1/repos/acme/api"
#define W "/api/v1/repos/acme/web"
#define RL "ready-for-agent"
#define IL "agent-in-progress"
#define Q(l) "?state=open&type=issues&labels=" l "&limit=50"
#define LAB(id, n) "{'id': " #id ", 'name': '" n "'}"
#define ISSUE(n, labels) "{'number': " #n ", 'state': 'open', " \
	"'title': 'Issue " #n "', 'pull_request': null, 'labels': [" \
	labels "]}"
/* A timeline "label" event: body "1" adds, "" removes. */
#define LABEV(who, l, add) "{'type': 'label', 'body': '" add "', " \
	"'user': {'login': '" who "'}, 'label': {'id': 1, 'name': '" l "'}}"
#define LABELED(who, l) LABEV(who, l, "1")

#define CLOSED_FJ(base) base "/issues?state=closed&type=issues&labels=" IL \
	"&limit=50"
#define CLOSED_ISSUE(n) "{'number': " #n ", 'state': 'closed', " \
	"'pull_request': null, 'labels': [" LAB(2, IL) "]}"
#define CLOSED_PR(n) "{'number': " #n ", 'state': 'closed', " \
	"'pull_request': {'merged': false}, 'labels': [" LAB(2, IL) "]}"

/* --- list_closed ----------------------------------------------------- */

static int list_closed(afk_call *c, afk__iset *set, const char *const *repos,
                       size_t n)
{
	memset(set, 0, sizeof(*set));
	afk__errv_clear(&ERRS);
	afk__call_init(c, AFK__CALL_LIST_CLOSED, set);
	c->errors = &ERRS;
	ck_assert_ptr_nonnull(T->list_closed);
	return T->list_closed(c, repos, n, IL, T->userdata);
}

/* The closed issues still carrying the lock, pull requests skipped; a
 * repository that cannot be listed is its own error; asked again, the
 * listing is conditional (If-None-Match) and a 304 lists the same. */
START_TEST(t_list_closed)
{
	static const char *const repos[] = {"acme/api", "acme/web"};
	afk__iset set;
	afk_call c;
	afk_issue *is;
	json_t *log;
	int round;

	srv_script(&S, "{'routes': {"
	           "'" CLOSED_FJ(A) "': {'etag': '`c1`', 'json': ["
	           CLOSED_ISSUE(3) ", " CLOSED_PR(4) "]},"
	           "'" CLOSED_FJ(W) "': {'status': 500, 'json': {}}}}");
	for (round = 0; round < 2; round++) {
		ck_assert_msg(list_closed(&c, &set, repos, 2) == 0, "%s",
		              msg_of(&c));
		ck_assert_uint_eq(set.n, 1);
		is = find_issue(&set, "acme/api", 3);
		ck_assert_ptr_nonnull(is);
		ck_assert(afk_issue_has_label(is, IL));
		afk_issue_free(is);
		ck_assert_uint_eq(ERRS.n, 1);
		ck_assert_str_eq(ERRS.v[0].repo, "acme/web");
		assert_lacks(ERRS.v[0].message, TOKEN);
		afk__call_clear(&c);
		afk__iset_clear(&set);
	}
	log = srv_log(&S);
	ck_assert_uint_eq(count_req(&S, "GET", CLOSED_FJ(A)), 2);
	{
		size_t i, seen = 0;

		for (i = 0; i < json_array_size(log); i++)
			if (strcmp(log_str(log, i, "path"), CLOSED_FJ(A)) == 0 &&
			    strcmp(log_header(log, i, "if-none-match"),
			           "\"c1\"") == 0)
				seen++;
		ck_assert_uint_eq(seen, 1);
	}
	json_decref(log);
}
END_TEST

START_TEST(t_list_ready)
{
	static const char *const repos[] = {"acme/api", "acme/web"};
	afk__iset set;
	afk_call c;
	afk_issue *is;
	double t0;
	int rc;

	srv_script(&S, "{'routes': {"
	  /* acme/api ready, page 1 of 2: #1 trusted with priority 3, #2 a
	   * PR, #3 labeled by a stranger, #4 also in progress */
	  "'" A "/issues" Q(RL) "':"
	  " {'delay': 0.4, 'headers': {'Link': '<http://127.0.0.1:{port}"
	  A "/issues" Q(RL) "&page=2>; rel=`next`'}, 'json': ["
	  ISSUE(1, LAB(1, RL) ", " LAB(3, "priority:3")) ","
	  "{'number': 2, 'state': 'open', 'labels': [" LAB(1, RL) "],"
	  " 'pull_request': {'merged': false, 'html_url': 'x'}},"
	  ISSUE(3, LAB(1, RL)) "," ISSUE(4, LAB(1, RL) ", " LAB(2, IL)) "]},"
	  "'" A "/issues" Q(RL) "&page=2': {'json': ["
	  ISSUE(5, LAB(1, RL)) "]},"
	  "'" A "/issues" Q(IL) "': {'delay': 0.4, 'json': ["
	  ISSUE(4, LAB(1, RL) ", " LAB(2, IL)) "," ISSUE(6, LAB(2, IL)) "]},"
	  "'" W "/issues" Q(RL) "': {'delay': 0.4, 'json': ["
	  ISSUE(7, LAB(1, RL)) "]},"
	  /* acme/web has no in-progress label: Forgejo dropped the filter
	   * and listed every open issue. */
	  "'" W "/issues" Q(IL) "': {'delay': 0.4, 'json': ["
	  ISSUE(7, LAB(1, RL)) "," ISSUE(20, LAB(4, "bug")) "]},"
	  /* timelines: the latest label event adding the ready label */
	  "'" A "/issues/1/timeline': {'json': ["
	  LABELED("mallory", RL) "," LABELED("alice", RL) ","
	  LABELED("mallory", "bug") "]},"
	  "'" A "/issues/3/timeline': {'json': ["
	  LABELED("mallory", RL) ", {'type': 'comment', 'body': '1',"
	  " 'user': {'login': 'alice'}}]},"
	  "'" A "/issues/5/timeline': {'json': ["
	  LABELED("bob", RL) "," LABEV("mallory", RL, "") "]},"
	  "'" W "/issues/7/timeline': {'json': ["
	  LABELED("alice", RL) "," LABEV("alice", RL, "") ","
	  LABELED("mallory", RL) "]},"
	  /* blockers: #5 is blocked by open #9, not by closed #8 */
	  "'" A "/issues/5/dependencies': {'json': ["
	  "{'number': 8, 'state': 'closed'}, {'number': 9, 'state': 'open',"
	  " 'repository': {'full_name': 'acme/api'}}]}},"
	  "'default': {'json': []}}");
	t0 = now_s();
	rc = list_ready(&c, &set, repos, 2);
	ck_assert_msg(rc == 0, "%s", msg_of(&c));
	/* The four listings ran at once: one batch for every repository. */
	ck_assert_double_lt(now_s() - t0, 1.2);
	ck_assert_int_ge(srv_stat(&S, "max_active"), 4);
	/* #1 #3 #4 #5 #6 #7, #4 and #7 once, the PR and #20 left out. */
	ck_assert_uint_eq(set.n, 6);
	ck_assert_ptr_null(find_issue(&set, "acme/api", 2));
	ck_assert_ptr_null(find_issue(&set, "acme/web", 20));

	is = find_issue(&set, "acme/api", 1);
	ck_assert_ptr_nonnull(is);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	ck_assert_int_eq(afk_issue_priority(is), 3);
	ck_assert_str_eq(afk_issue_title(is), "Issue 1");
	ck_assert_int_eq(afk_issue_has_label(is, RL), 1);
	ck_assert_uint_eq(afk_issue_blocker_count(is), 0);
	afk_issue_free(is);

	is = find_issue(&set, "acme/api", 3);
	ck_assert_int_eq(afk_issue_trusted(is), 0);
	afk_issue_free(is);

	is = find_issue(&set, "acme/api", 4);
	ck_assert_int_eq(afk_issue_has_label(is, IL), 1);
	afk_issue_free(is);

	is = find_issue(&set, "acme/api", 5); /* from page 2 */
	ck_assert_ptr_nonnull(is);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	ck_assert_int_eq(afk_issue_priority(is), 0);
	ck_assert_uint_eq(afk_issue_blocker_count(is), 1);
	ck_assert_int_eq(afk_issue_blocker(is, 0), 9);
	afk_issue_free(is);

	is = find_issue(&set, "acme/web", 7);
	ck_assert_ptr_nonnull(is);
	ck_assert_int_eq(afk_issue_trusted(is), 0);
	afk_issue_free(is);

	is = find_issue(&set, "acme/api", 6);
	ck_assert_ptr_nonnull(is);
	afk_issue_free(is);

	/* Gates only for ready issues not in progress; never for the PR. */
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/2/"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/4/"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/6/"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", W "/issues/20/"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/timeline"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/dependencies"),
	                  1);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* With trust_writers, a labeller not among trusted_users counts when the
 * repository grants it write access; a user that does not exist (404)
 * does not, and is no error.  Without it no permission is read. */
START_TEST(t_list_ready_writers)
{
	static const char *const repos[] = {"acme/api"};
	afk__iset set;
	afk_call c;
	afk_issue *is;
	int pass, rc;

	srv_script(&S, "{'routes': {"
	  "'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL)) ","
	  ISSUE(2, LAB(1, RL)) "," ISSUE(3, LAB(1, RL)) ","
	  ISSUE(4, LAB(1, RL)) "]},"
	  "'" A "/issues/1/timeline': {'json': [" LABELED("carol", RL) "]},"
	  "'" A "/issues/2/timeline': {'json': [" LABELED("dave", RL) "]},"
	  "'" A "/issues/3/timeline': {'json': [" LABELED("ghost", RL) "]},"
	  "'" A "/issues/4/timeline': {'json': [" LABELED("alice", RL) "]},"
	  "'" A "/collaborators/carol/permission': {'json':"
	  " {'permission': 'write', 'role_name': 'write'}},"
	  "'" A "/collaborators/dave/permission': {'json':"
	  " {'permission': 'read', 'role_name': 'read'}},"
	  "'" A "/collaborators/ghost/permission': {'status': 404,"
	  " 'json': {'message': 'user does not exist'}}},"
	  "'default': {'json': []}}");
	for (pass = 0; pass < 2; pass++) {
		rc = list_ready(&c, &set, repos, 1);
		ck_assert_msg(rc == 0, "%s", msg_of(&c));
		is = find_issue(&set, "acme/api", 1);
		ck_assert_int_eq(afk_issue_trusted(is), pass == 1);
		afk_issue_free(is);
		is = find_issue(&set, "acme/api", 2);
		ck_assert_int_eq(afk_issue_trusted(is), 0);
		afk_issue_free(is);
		is = find_issue(&set, "acme/api", 3);
		ck_assert_int_eq(afk_issue_trusted(is), 0);
		afk_issue_free(is);
		is = find_issue(&set, "acme/api", 4);
		ck_assert_int_eq(afk_issue_trusted(is), 1);
		afk_issue_free(is);
		afk__call_clear(&c);
		afk__iset_clear(&set);
		if (pass == 0) {
			ck_assert_uint_eq(count_req(&S, "GET",
			                  A "/collaborators/"), 0);
			ck_assert_int_eq(afk_config_set(CFG, "trust_writers",
			                                "true"), 0);
			afk_tracker_free(T);
			ck_assert_int_eq(afk_tracker_new(&T), 0);
			ck_assert_msg(afk_tracker_set_builtin(T, CFG) == 0, "%s",
			              afk_tracker_errmsg(T));
		}
	}
	ck_assert_uint_eq(count_req(&S, "GET", A "/collaborators/carol/"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", A "/collaborators/dave/"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", A "/collaborators/ghost/"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", A "/collaborators/alice/"), 0);

	/* A 500 on a permission read: that issue could not be vetted. */
	srv_script(&S, "{'routes': {"
	  "'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL)) "]},"
	  "'" A "/issues/1/timeline': {'json': [" LABELED("carol", RL) "]},"
	  "'" A "/collaborators/carol/permission': {'status': 500,"
	  " 'body': 'down'}},"
	  "'default': {'json': []}}");
	ck_assert_int_eq(list_ready(&c, &set, repos, 1), 0);
	assert_contains(error_of("acme/api", 1)->message, "could not vet: "
	                "read the permission of carol on acme/api");
	assert_contains(error_of("acme/api", 1)->message, "500");
	is = find_issue(&set, "acme/api", 1);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* A name Forgejo cannot have is that repository's failure, reported;
 * the others are listed. */
START_TEST(t_list_ready_bad_repo)
{
	static const char *const repos[] = {"api", "acme/..", "acme/web"};
	afk__iset set;
	afk_call c;
	afk_issue *is;

	srv_script(&S, "{'routes': {"
	  "'" W "/issues" Q(RL) "': {'json': [" ISSUE(7, LAB(1, RL)) "]},"
	  "'" W "/issues/7/timeline': {'json': [" LABELED("alice", RL) "]}},"
	  "'default': {'json': []}}");
	ck_assert_msg(list_ready(&c, &set, repos, 3) == 0, "%s", msg_of(&c));
	ck_assert_uint_eq(ERRS.n, 2);
	ck_assert_int_eq(error_of("api", 0)->code, AFK_EINVAL);
	assert_contains(error_of("api", 0)->message, "could not list: ");
	assert_contains(error_of("api", 0)->message, "owner");
	ck_assert_int_eq(error_of("acme/..", 0)->code, AFK_EINVAL);
	is = find_issue(&set, "acme/web", 7);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", "/api/v1/repos/api"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/api/v1/repos/acme/%2E"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/api/v1/repos/acme/../"), 0);
}
END_TEST

/* A repository whose listing fails (404, a 5xx after the retry, an
 * answer that is no list) is reported and lists nothing; a gate that
 * fails leaves its issue unvetted ("could not vet"); everything else is
 * listed and vetted all the same. */
START_TEST(t_list_ready_errors)
{
	static const char *const repos[] = {"acme/gone", "acme/api",
	                                    "acme/web"};
	static const char *const api[] = {"acme/api"};
	afk__iset set;
	afk_call c;
	afk_issue *is;

	srv_script(&S, "{'routes': {"
	  "'/api/v1/repos/acme/gone/issues" Q(RL) "': {'status': 404,"
	  " 'json': {'message': 'The target couldn`t be found.'}},"
	  "'" A "/issues" Q(IL) "': {'status': 500, 'headers': {'X-Echo': '"
	  TOKEN "'}, 'body': 'oops " TOKEN "'},"
	  "'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL)) "]},"
	  "'" W "/issues" Q(RL) "': {'json': [" ISSUE(7, LAB(1, RL)) "]},"
	  "'" W "/issues/7/timeline': {'json': [" LABELED("alice", RL) "]}},"
	  "'default': {'json': []}}");
	ck_assert_msg(list_ready(&c, &set, repos, 3) == 0, "%s", msg_of(&c));
	ck_assert_uint_eq(ERRS.n, 2);
	assert_contains(error_of("acme/gone", 0)->message, "404");
	assert_contains(error_of("acme/api", 0)->message,
	                "could not list: list in-progress issues of acme/api");
	assert_contains(error_of("acme/api", 0)->message, "500");
	assert_lacks(error_of("acme/api", 0)->message, TOKEN);
	/* acme/api's ready issue is not listed: its locks are unknown. */
	ck_assert_uint_eq(set.n, 1);
	is = find_issue(&set, "acme/web", 7);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/"), 0);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* Not an array. */
	srv_script(&S, "{'default': {'json': {'message': 'hm'}}}");
	ck_assert_int_eq(list_ready(&c, &set, api, 1), 0);
	ck_assert_int_eq(error_of("acme/api", 0)->code, AFK_EPARSE);
	assert_contains(error_of("acme/api", 0)->message, "issues of acme/api");
	ck_assert_ptr_null(c.message);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* A timeline that fails: that issue unvetted, the others vetted. */
	srv_script(&S, "{'routes': {"
	  "'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL)) ","
	  ISSUE(2, LAB(1, RL)) "]},"
	  "'" A "/issues/1/timeline': {'status': 403, 'json':"
	  " {'message': 'token " TOKEN " is not allowed'}},"
	  "'" A "/issues/2/timeline': {'json': [" LABELED("bob", RL) "]}},"
	  "'default': {'json': []}}");
	ck_assert_int_eq(list_ready(&c, &set, api, 1), 0);
	ck_assert_uint_eq(ERRS.n, 1);
	assert_contains(error_of("acme/api", 1)->message,
	                "could not vet: read the timeline of acme/api#1");
	assert_contains(error_of("acme/api", 1)->message, "403");
	assert_lacks(error_of("acme/api", 1)->message, TOKEN);
	is = find_issue(&set, "acme/api", 1);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	is = find_issue(&set, "acme/api", 2);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* So do the blockers. */
	srv_script(&S, "{'routes': {"
	  "'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL)) "]},"
	  "'" A "/issues/1/timeline': {'json': [" LABELED("bob", RL) "]},"
	  "'" A "/issues/1/dependencies': {'status': 404, 'json':"
	  " {'message': 'dependencies are disabled'}}},"
	  "'default': {'json': []}}");
	ck_assert_int_eq(list_ready(&c, &set, api, 1), 0);
	assert_contains(error_of("acme/api", 1)->message,
	                "could not vet: read the blockers of acme/api#1");
	assert_contains(error_of("acme/api", 1)->message, "404");
	ck_assert_uint_eq(set.n, 1);
	is = find_issue(&set, "acme/api", 1);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	ck_assert_uint_eq(afk_issue_blocker_count(is), 0);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* An open blocker without a number still blocks: the answer is
	 * refused rather than the blocker dropped - that issue could not
	 * be vetted. */
	srv_script(&S, "{'routes': {"
	  "'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL)) "]},"
	  "'" A "/issues/1/timeline': {'json': [" LABELED("bob", RL) "]},"
	  "'" A "/issues/1/dependencies': {'json': [{'state': 'open'}]}},"
	  "'default': {'json': []}}");
	ck_assert_int_eq(list_ready(&c, &set, api, 1), 0);
	assert_contains(error_of("acme/api", 1)->message, "no issue number");
	ck_assert_int_eq(error_of("acme/api", 1)->code, AFK_EPARSE);
	is = find_issue(&set, "acme/api", 1);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* n items of the form fmt (one %d, the index + first), JSON array
 * contents; heap. */
static char *items(int n, int first, const char *fmt)
{
	char *out = afk__strdup(""), *one, *t;
	int i;

	for (i = 0; i < n; i++) {
		one = afk__aprintf(fmt, first + i);
		t = afk__aprintf("%s%s%s", out, i ? "," : "", one);
		free(one);
		free(out);
		out = t;
		ck_assert_ptr_nonnull(out);
	}
	return out;
}

/* The timeline and the dependencies send no Link header: a full page is
 * followed by the next, so that no label event or blocker is missed. */
START_TEST(t_list_ready_full_pages)
{
	static const char *const repos[] = {"acme/api"};
	char *comments = items(49, 1, "{'type': 'comment', 'body': 'c%d',"
	                       " 'user': {'login': 'alice'}}");
	char *closed = items(50, 100, "{'number': %d, 'state': 'closed'}");
	char *text;
	afk__iset set;
	afk_call c;
	afk_issue *is;

	text = afk__aprintf("{'routes': {"
	  "'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL)) "]},"
	  "'" A "/issues/1/timeline?limit=50': {'json': ["
	  LABELED("alice", RL) ",%s]},"
	  "'" A "/issues/1/timeline?limit=50&page=2': {'json': ["
	  LABELED("mallory", RL) "]},"
	  "'" A "/issues/1/dependencies?limit=50': {'json': [%s]},"
	  "'" A "/issues/1/dependencies?limit=50&page=2': {'json': ["
	  "{'number': 60, 'state': 'open'}]}},"
	  "'default': {'json': []}}", comments, closed);
	srv_script(&S, text);
	free(text);
	ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	is = find_issue(&set, "acme/api", 1);
	ck_assert_ptr_nonnull(is);
	ck_assert_int_eq(afk_issue_trusted(is), 0);
	ck_assert_uint_eq(afk_issue_blocker_count(is), 1);
	ck_assert_int_eq(afk_issue_blocker(is, 0), 60);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/dependencies?"
	                            "limit=50&page=3"), 0);

	/* Full pages without end: that issue could not be vetted. */
	text = afk__aprintf("{'routes': {"
	  "'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL)) "]},"
	  "'" A "/issues/1/timeline': {'json': [" LABELED("alice", RL) "]},"
	  "'" A "/issues/1/dependencies': {'json': [%s]}},"
	  "'default': {'json': []}}", closed);
	srv_script(&S, text);
	free(text);
	ck_assert_int_eq(list_ready(&c, &set, repos, 1), 0);
	assert_contains(error_of("acme/api", 1)->message, "could not vet: "
	                "read the blockers of acme/api#1");
	assert_contains(error_of("acme/api", 1)->message, "more than 500");
	is = find_issue(&set, "acme/api", 1);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/dependencies?"
	                            "limit=50&page=10"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/dependencies?"
	                            "limit=50&page=11"), 0);
	free(comments);
	free(closed);
}
END_TEST

/* Scripts acme/api#9 (ready) whose timeline has n events, most of
 * them comments by strangers: a ready label added by mallory first and
 * by who at index at (none when < 0) - Forgejo's pages of 50, without a
 * Link header - and acme/web#7 (ready, trusted); lists both. */
static void busy_list(afk_call *c, afk__iset *set, size_t n, long at,
                      const char *who)
{
	static const char *const repos[] = {"acme/api", "acme/web"};
	json_t *routes = json_object(), *ev = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		if ((long)i == at || i == 0)
			json_array_append_new(ev, json_pack("{s:s, s:s, s:{s:s},"
			        " s:{s:i, s:s}}", "type", "label", "body", "1",
			        "user", "login", i == 0 ? "mallory" : who,
			        "label", "id", 1, "name", RL));
		else
			json_array_append_new(ev, json_pack("{s:s, s:s, s:{s:s}}",
			        "type", "comment", "body", "+1", "user", "login",
			        "mallory"));
	}
	srv_add_pages(routes, A "/issues/9/timeline?limit=50", ev, 50, 0);
	json_object_set_new(routes, A "/issues" Q(RL), json_pack("{s:[{s:i,"
	        " s:s, s:n, s:[{s:i, s:s}]}]}", "json", "number", 9, "state",
	        "open", "pull_request", "labels", "id", 1, "name", RL));
	json_object_set_new(routes, W "/issues" Q(RL), json_pack("{s:[{s:i,"
	        " s:s, s:n, s:[{s:i, s:s}]}]}", "json", "number", 7, "state",
	        "open", "pull_request", "labels", "id", 1, "name", RL));
	json_object_set_new(routes, W "/issues/7/timeline", json_pack(
	        "{s:[{s:s, s:s, s:{s:s}, s:{s:i, s:s}}]}", "json", "type",
	        "label", "body", "1", "user", "login", "bob", "label", "id",
	        1, "name", RL));
	srv_script_json(&S, json_pack("{s:o, s:{s:[]}}", "routes", routes,
	                              "default", "json"));
	ck_assert_msg(list_ready(c, set, repos, 2) == 0, "%s", msg_of(c));
}

/* An issue with a timeline of 550 events - eleven pages of 50, more
 * than http.max_pages, and Forgejo sends no Link header - whose ready
 * label a trusted user added near the end: its end is found by probing,
 * then it is read backwards; the listing does not fail. */
START_TEST(t_list_ready_busy_timeline)
{
	afk__iset set;
	afk_call c;
	afk_issue *is;
	const char *tl = A "/issues/9/timeline";

	busy_list(&c, &set, 550, 540, "alice");
	ck_assert_uint_eq(ERRS.n, 0);
	is = find_issue(&set, "acme/api", 9);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	/* page 1; probes 2, 4, 8, 16 (empty), 12 (empty), 10, 11; page 11
	 * already read holds the label */
	ck_assert_uint_eq(count_req(&S, "GET", tl), 8);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/9/timeline?"
	                            "limit=50&page=11"), 1);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* The latest adder a stranger: not trusted. */
	busy_list(&c, &set, 550, 549, "mallory");
	is = find_issue(&set, "acme/api", 9);
	ck_assert_int_eq(afk_issue_trusted(is), 0);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* Only on page 1 of twelve: more than max_pages back - that issue
	 * could not be vetted; acme/web is all the same. */
	busy_list(&c, &set, 600, -1, "alice");
	assert_contains(error_of("acme/api", 9)->message, "could not vet: "
	                "read the timeline of acme/api#9");
	assert_contains(error_of("acme/api", 9)->message, "max_pages");
	is = find_issue(&set, "acme/api", 9);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	is = find_issue(&set, "acme/web", 7);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

static int ci_status(afk_call *c, long number);

/* The CI status of a busy issue: read back to the dispatch (the
 * in-progress label), never failed by the timeline's length. */
START_TEST(t_ci_busy_timeline)
{
	json_t *routes = json_object(), *ev = json_array();
	afk_call c;
	size_t i;

	for (i = 0; i < 550; i++) {
		if (i == 480)
			json_array_append_new(ev, json_pack("{s:s, s:s, s:{s:s},"
			        " s:{s:i, s:s}}", "type", "label", "body", "1",
			        "user", "login", "afk-bot", "label", "id", 2,
			        "name", IL));
		else if (i == 520)
			json_array_append_new(ev, json_pack("{s:s, s:{s:i, s:{},"
			        " s:{s:s}, s:{s:s}}}", "type", "pull_ref",
			        "ref_issue", "number", 10, "pull_request", "user",
			        "login", "afk-bot", "repository", "full_name",
			        "acme/api"));
		else
			json_array_append_new(ev, json_pack("{s:s, s:s, s:{s:s}}",
			        "type", "comment", "body", "+1", "user", "login",
			        "mallory"));
	}
	srv_add_pages(routes, A "/issues/9/timeline?limit=50", ev, 50, 0);
	json_object_set_new(routes, A "/pulls/10", json_pack("{s:o}", "json",
	        json_loads("{\"number\": 10, \"state\": \"open\", \"merged\":"
	        " false, \"user\": {\"login\": \"afk-bot\"}, \"base\":"
	        " {\"repo\": {\"id\": 77}}, \"head\": {\"sha\": \"abc123\","
	        " \"ref\": \"afk/issue-9\", \"repo\": {\"id\": 77}}}", 0,
	        NULL)));
	json_object_set_new(routes, A "/commits/abc123/status", json_pack(
	        "{s:{s:[]}}", "json", "statuses"));
	srv_script_json(&S, json_pack("{s:o, s:{s:[]}}", "routes", routes,
	                              "default", "json"));
	ck_assert_msg(ci_status(&c, 9) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_OPEN);
	ck_assert_str_eq(c.pr_info, "#10 (afk-bot, branch afk/issue-9)");
	afk__call_clear(&c);
	/* page 1, probes 2 4 8 16 12 10 11; pages 11 and 10 (the dispatch)
	 * were read by the probes */
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/9/timeline"), 8);
}
END_TEST

/* The token is sent as Forgejo's "token" authorization, asking for
 * JSON. */
START_TEST(t_headers)
{
	static const char *const repos[] = {"acme/api"};
	afk__iset set;
	afk_call c;
	json_t *log;

	srv_script(&S, "{'default': {'json': []}}");
	ck_assert_int_eq(list_ready(&c, &set, repos, 1), 0);
	log = srv_log(&S);
	ck_assert_str_eq(log_header(log, 0, "authorization"),
	                 "token " TOKEN);
	ck_assert_str_eq(log_header(log, 0, "accept"), "application/json");
	json_decref(log);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* --- labels and closing ---------------------------------------------- */

static int label(afk_call *c, const char *l, int add)
{
	if (add) {
		afk__call_init(c, AFK__CALL_ADD_LABEL, NULL);
		return T->add_label(c, "acme/api", 12, l, T->userdata);
	}
	afk__call_init(c, AFK__CALL_REMOVE_LABEL, NULL);
	return T->remove_label(c, "acme/api", 12, l, T->userdata);
}

START_TEST(t_labels)
{
	afk_call c;
	json_t *b;

	/* The issue's labels, as both the POST and the GET answer them. */
	srv_script(&S, "{'routes': {"
	  "'" A "/issues/12/labels': {'json': [" LAB(5, "agent in progress")
	  "," LAB(7, "boom") "," LAB(9, "gone") "]},"
	  "'" A "/issues/12/labels/5': {'status': 204, 'body': ''},"
	  "'" A "/issues/12/labels/9': {'status': 404, 'json':"
	  " {'message': 'label not found'}},"
	  "'" A "/issues/12/labels/7': {'status': 500, 'json':"
	  " {'message': 'x'}},"
	  "'" A "/issues/12': {'status': 201, 'json': {'number': 12}}}}");
	ck_assert_msg(label(&c, "agent in progress", 1) == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	b = last_body(&S, "POST", A "/issues/12/labels");
	ck_assert_str_eq(json_string_value(json_array_get(
	                 json_object_get(b, "labels"), 0)),
	                 "agent in progress");
	json_decref(b);
	/* A name the repository has no label for is ignored by Forgejo: the
	 * answer lacks it, and that is a failure, named. */
	ck_assert_int_eq(label(&c, "nope", 1), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "add a label of "
	                             "acme/api#12"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "\"nope\""));
	afk__call_clear(&c);

	/* Removed by its id. */
	ck_assert_msg(label(&c, "agent in progress", 0) == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "DELETE", A "/issues/12/labels/5"),
	                  1);
	/* Not carried: success, and nothing deleted. */
	ck_assert_msg(label(&c, "absent", 0) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "DELETE", "/"), 1);
	/* Gone meanwhile (404 on the DELETE): success. */
	ck_assert_msg(label(&c, "gone", 0) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "DELETE", A "/issues/12/labels/9"),
	                  1);
	/* Any other failure is one, named, and a DELETE is not retried. */
	ck_assert_int_eq(label(&c, "boom", 0), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "remove a label of "
	                             "acme/api#12"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "500"));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "DELETE", A "/issues/12/labels/7"),
	                  1);

	afk__call_init(&c, AFK__CALL_CLOSE_ISSUE, NULL);
	ck_assert_msg(T->close_issue(&c, "acme/api", 12, T->userdata) == 0,
	              "%s", msg_of(&c));
	afk__call_clear(&c);
	b = last_body(&S, "PATCH", A "/issues/12");
	ck_assert_str_eq(json_string_value(json_object_get(b, "state")),
	                 "closed");
	json_decref(b);
}
END_TEST

START_TEST(t_labels_read_error)
{
	afk_call c;

	srv_script(&S, "{'default': {'status': 403, 'json': {'message':"
	           " 'token " TOKEN " may not'}}}");
	ck_assert_int_eq(label(&c, "x", 0), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "read the labels of "
	                             "acme/api#12"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "403"));
	ck_assert_ptr_null(strstr(msg_of(&c), TOKEN));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "DELETE", "/"), 0);
}
END_TEST

START_TEST(t_close_error)
{
	afk_call c;

	srv_script(&S, "{'default': {'status': 423, 'json': {'message':"
	           " 'repo is archived'}}}");
	afk__call_init(&c, AFK__CALL_CLOSE_ISSUE, NULL);
	ck_assert_int_eq(T->close_issue(&c, "acme/api", 3, T->userdata),
	                 AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "close the issue of "
	                             "acme/api#3"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "423"));
	afk__call_clear(&c);
}
END_TEST

/* --- comments -------------------------------------------------------- */

#define MARK "<!-- afk:checklist -->"
#define COMMENT(id, who, body) "{'id': " #id ", 'user': {'login': '" who \
	"'}, 'body': '" body "', 'html_url': 'https://codeberg.org/acme/api/" \
	"issues/7#issuecomment-" #id "'}"

static int find(afk_call *c)
{
	afk__call_init(c, AFK__CALL_FIND_COMMENT, NULL);
	return T->find_comment(c, "acme/api", 7, MARK, T->userdata);
}

static int upsert(afk_call *c, const char *body)
{
	afk__call_init(c, AFK__CALL_UPSERT_COMMENT, NULL);
	return T->upsert_comment(c, "acme/api", 7, MARK, body, T->userdata);
}

START_TEST(t_comments)
{
	afk_call c;
	json_t *b;

	/* A stranger's marked comment comes first and never counts; the
	 * listing has two pages. */
	srv_script(&S, "{'routes': {"
	  "'/api/v1/user': {'json': {'login': 'afk-bot'}},"
	  "'" A "/issues/7/comments': {'headers':"
	  " {'Link': '<http://127.0.0.1:{port}" A "/issues/7/"
	  "comments?page=2>; rel=`next`'}, 'json': ["
	  COMMENT(101, "mallory", MARK " forged") ","
	  COMMENT(102, "afk-bot", "unrelated") "]},"
	  "'" A "/issues/7/comments?page=2': {'json': ["
	  COMMENT(103, "afk-bot", "real " MARK) ","
	  COMMENT(104, "afk-bot", "second " MARK) "]},"
	  "'" A "/issues/comments/103': {'json': {'id': 103}}}}");
	ck_assert_msg(find(&c) == 0, "%s", msg_of(&c));
	ck_assert_ptr_nonnull(c.comment);
	ck_assert_str_eq(c.comment, "real " MARK);
	ck_assert_str_eq(c.url, "https://codeberg.org/acme/api/issues/7");
	afk__call_clear(&c);

	/* Edited in place: the first own marked comment, never a new one. */
	ck_assert_msg(upsert(&c, "new " MARK) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	b = last_body(&S, "PATCH", A "/issues/comments/103");
	ck_assert_str_eq(json_string_value(json_object_get(b, "body")),
	                 "new " MARK);
	json_decref(b);
	ck_assert_uint_eq(count_req(&S, "POST", "/"), 0);
	ck_assert_uint_eq(count_req(&S, "PATCH", "/"), 1);
	/* The own login is read once per tracker. */
	ck_assert_uint_eq(count_req(&S, "GET", "/api/v1/user"), 1);
}
END_TEST

START_TEST(t_comments_none_own)
{
	afk_call c;
	json_t *b;

	srv_script(&S, "{'routes': {"
	  "'/api/v1/user': {'json': {'login': 'afk-bot'}},"
	  "'" A "/issues/7/comments': {'json': ["
	  COMMENT(101, "mallory", MARK " forged") ","
	  COMMENT(102, "afk-bot2", MARK " near miss") "]}}}");
	ck_assert_msg(find(&c) == 0, "%s", msg_of(&c));
	ck_assert_ptr_null(c.comment);
	afk__call_clear(&c);
	ck_assert_msg(upsert(&c, "mine " MARK) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	b = last_body(&S, "POST", A "/issues/7/comments");
	ck_assert_str_eq(json_string_value(json_object_get(b, "body")),
	                 "mine " MARK);
	json_decref(b);
	ck_assert_uint_eq(count_req(&S, "PATCH", "/"), 0);
}
END_TEST

START_TEST(t_comments_user_error)
{
	afk_call c;

	srv_script(&S, "{'routes': {"
	  "'/api/v1/user': {'status': 401, 'json': {'message': 'token is "
	  "required " TOKEN "'}},"
	  "'" A "/issues/7/comments': {'json': []}}}");
	ck_assert_int_eq(upsert(&c, "x " MARK), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "own user"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "401"));
	ck_assert_ptr_null(strstr(msg_of(&c), TOKEN));
	afk__call_clear(&c);
	/* A user without a login is refused too. */
	srv_script(&S, "{'routes': {"
	  "'/api/v1/user': {'json': {'id': 3}},"
	  "'" A "/issues/7/comments': {'json': []}}}");
	ck_assert_int_eq(find(&c), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "no login"));
	afk__call_clear(&c);
	/* Nothing was written without knowing whose comments count. */
	ck_assert_uint_eq(count_req(&S, "POST", "/"), 0);
}
END_TEST

/* --- CI -------------------------------------------------------------- */

/* A timeline event referencing issue or PR n of repo. */
#define REF_BY(type, repo, n, pr, who) "{'type': '" type "', " \
	"'ref_issue': {'number': " #n ", 'pull_request': " pr ", 'user': " \
	"{'login': '" who "'}, 'repository': {'full_name': '" repo "'}}}"
/* ... by the agent, afk-bot */
#define REF(type, repo, n, pr) REF_BY(type, repo, n, pr, "afk-bot")
#define ISPR "{'merged': false}"

/* Scripts a PR #10 (pr10, head abc123) linked to acme/api#5, with the
 * given commit statuses (JSON array contents). */
static void ci_script(const char *pr10, const char *statuses)
{
	char *text = afk__aprintf("{'routes': {"
	  "'" A "/issues/5/timeline': {'json': ["
	  LABELED("alice", RL) "," REF("pull_ref", "other/repo", 11, ISPR) ","
	  REF("pull_ref", "acme/api", 10, ISPR) ","
	  REF("comment_ref", "acme/api", 9, ISPR) ","
	  REF("issue_ref", "acme/api", 12, "null") "]},"
	  "'" A "/pulls/10': {'json': %s},"
	  "'" A "/pulls/9': {'json': {'number': 9, 'state': 'closed',"
	  " 'merged': false, 'merged_at': null, 'head': {'sha': 'old'}}},"
	  "'" A "/commits/abc123/status': {'json': {'state': 'pending',"
	  " 'sha': 'abc123', 'total_count': 0, 'statuses': [%s]}}}}",
	  pr10, statuses);

	ck_assert_ptr_nonnull(text);
	srv_script(&S, text);
	free(text);
}

/* The agent's own PR: by afk-bot, from a branch of the repository (id
 * 77) itself. */
#define OWN "'user': {'login': 'afk-bot'}, 'base': {'ref': 'main', " \
	"'repo_id': 77, 'repo': {'id': 77, 'full_name': 'acme/api'}}, "
#define HEAD(sha) "'head': {'sha': '" sha "', 'ref': 'afk/issue-5', " \
	"'repo_id': 77, 'repo': {'id': 77, 'full_name': 'acme/api'}}"
#define PR_OPEN "{'number': 10, 'state': 'open', 'merged': false, " \
	"'merged_at': null, " OWN HEAD("abc123") "}"
#define PR_MERGED "{'number': 10, 'state': 'closed', 'merged': true, " \
	"'merged_at': '2026-01-01T00:00:00Z', " OWN HEAD("abc123") "}"
#define ST(ctx, s) "{'context': '" ctx "', 'status': '" s "', " \
	"'target_url': 'https://ci.example/" ctx "'}"

static int ci_status(afk_call *c, long number)
{
	afk__call_init(c, AFK__CALL_CI_STATUS, NULL);
	return CI->status(c, "acme/api", number, CI->userdata);
}

START_TEST(t_ci_states)
{
	static const struct {
		const char *statuses;
		int want;
		const char *failing; /* the one failing name, or NULL */
	} cases[] = {
		{"", AFK_STATUS_NONE, NULL},
		{ST("lint", "success"), AFK_STATUS_SUCCESS, NULL},
		{ST("lint", "success") "," ST("docs", "warning") ","
		 ST("e2e", "skipped"), AFK_STATUS_SUCCESS, NULL},
		{ST("lint", "pending") "," ST("build", "success"),
		 AFK_STATUS_PENDING, NULL},
		{ST("lint", "success") "," ST("build", "queued-new-state"),
		 AFK_STATUS_PENDING, NULL},
		{ST("lint", "failure") "," ST("build", "pending"),
		 AFK_STATUS_FAILURE, "lint"},
		{ST("lint", "error"), AFK_STATUS_FAILURE, "lint"},
		{ST("lint", "success") "," ST("build", "failure"),
		 AFK_STATUS_FAILURE, "build"},
	};
	afk_call c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		ci_script(PR_OPEN, cases[i].statuses);
		ck_assert_msg(ci_status(&c, 5) == 0, "case %zu: %s", i,
		              msg_of(&c));
		ck_assert_int_eq(c.pr, AFK_PR_OPEN);
		ck_assert_str_eq(c.head, "abc123");
		ck_assert_msg(c.ci == cases[i].want, "case %zu: ci %d, want %d",
		              i, c.ci, cases[i].want);
		ck_assert_int_eq(c.deploy, AFK_STATUS_NONE);
		if (cases[i].failing == NULL) {
			ck_assert_uint_eq(c.failing.n, 0);
		} else {
			ck_assert_uint_eq(c.failing.n, 1);
			ck_assert_str_eq(c.failing.v[0], cases[i].failing);
			ck_assert_ptr_nonnull(strstr(c.failing_urls.v[0],
			                             cases[i].failing));
		}
		afk__call_clear(&c);
	}
	/* The PR of another repository and the plain issue were never
	 * read; the closed unmerged #9 was, and lost. */
	ck_assert_uint_eq(count_req(&S, "GET", "/api/v1/repos/other/"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", A "/pulls/12"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", A "/pulls/11"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", A "/commits/old/"), 0);
}
END_TEST

START_TEST(t_ci_merged_and_none)
{
	afk_call c;
	size_t before;

	ci_script(PR_MERGED, ST("lint", "success"));
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_MERGED);
	ck_assert_str_eq(c.head, "abc123");
	ck_assert_int_eq(c.ci, AFK_STATUS_SUCCESS);
	afk__call_clear(&c);

	/* No linked PR: none, and nothing else read. */
	before = srv_count(&S);
	srv_script(&S, "{'routes': {'" A "/issues/6/timeline':"
	           " {'json': [" LABELED("alice", RL) "]}}}");
	ck_assert_msg(ci_status(&c, 6) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_NONE);
	ck_assert_int_eq(c.ci, AFK_STATUS_NONE);
	afk__call_clear(&c);
	ck_assert_uint_eq(srv_count(&S), before + 1);
}
END_TEST

/* n statuses of state s named ctx0.., JSON array contents; heap. */
static char *statuses(int n, const char *s)
{
	char *out = afk__strdup(""), *t;
	int i;

	for (i = 0; i < n; i++) {
		t = afk__aprintf("%s%s{'context': 'ctx%d', 'status': '%s'}",
		                 out, i ? "," : "", i, s);
		free(out);
		out = t;
		ck_assert_ptr_nonnull(out);
	}
	return out;
}

/* PR n of acme/api by who, from the repository itself (head repo id 77)
 * or a fork (id 99), open or merged. */
#define PR_BY(n, who, hid, state, merged) "{'number': " #n ", 'state': '" \
	state "', 'merged': " merged ", 'merged_at': null, 'user': " \
	"{'login': '" who "'}, 'base': {'ref': 'main', 'repo_id': 77, " \
	"'repo': {'id': 77}}, 'head': {'sha': 'sha" #n "', 'ref': 'b" #n \
	"', 'repo_id': " #hid ", 'repo': {'id': " #hid "}}}"
/* The timeline of acme/api#5: a fork PR of the agent's login (#20), an
 * open PR from a branch of the repository by a stranger (#21), an
 * unrelated merged one by a stranger (#22), one whose event names the
 * agent but whose answer another author (#23), and the agent's own
 * (#10, when own). */
static void hostile_script(int own)
{
	char *text = afk__aprintf("{'routes': {"
	  "'" A "/issues/5/timeline': {'json': ["
	  LABELED("alice", RL) "," REF("pull_ref", "acme/api", 20, ISPR) ","
	  REF_BY("pull_ref", "acme/api", 21, ISPR, "mallory") ","
	  REF_BY("comment_ref", "acme/api", 22, ISPR, "mallory") ","
	  REF("pull_ref", "acme/api", 23, ISPR) "%s]},"
	  "'" A "/pulls/10': {'json': " PR_OPEN "},"
	  "'" A "/pulls/20': {'json': "
	  PR_BY(20, "afk-bot", 99, "open", "false") "},"
	  "'" A "/pulls/21': {'json': "
	  PR_BY(21, "mallory", 77, "open", "false") "},"
	  "'" A "/pulls/22': {'json': "
	  PR_BY(22, "mallory", 77, "closed", "true") "},"
	  "'" A "/pulls/23': {'json': "
	  PR_BY(23, "mallory", 77, "closed", "true") "},"
	  "'/api/v1/user': {'json': {'login': 'AFK-bot'}},"
	  "'" A "/commits/abc123/status': {'json': {'state': 'success',"
	  " 'statuses': [" ST("lint", "success") "]}}},"
	  "'default': {'status': 599}}",
	  own ? ", " REF("pull_ref", "acme/api", 10, ISPR) : "");

	ck_assert_ptr_nonnull(text);
	srv_script(&S, text);
	free(text);
}

/* Only the agent's own PR, from a branch of the repository itself, can
 * be the run's: a fork's, a stranger's (open or merged) never is, and a
 * stranger's is not even read. */
START_TEST(t_ci_own_pr)
{
	afk_call c;

	hostile_script(0);
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_NONE);
	ck_assert_ptr_null(c.head);
	ck_assert_ptr_null(c.pr_info);
	ck_assert_int_eq(c.ci, AFK_STATUS_NONE);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", A "/pulls/20"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", A "/pulls/21"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", A "/pulls/22"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", A "/commits/"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/api/v1/user"), 0);

	hostile_script(1);
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_OPEN);
	ck_assert_str_eq(c.head, "abc123");
	ck_assert_str_eq(c.pr_info, "#10 (afk-bot, branch afk/issue-5)");
	ck_assert_int_eq(c.ci, AFK_STATUS_SUCCESS);
	afk__call_clear(&c);
}
END_TEST

/* Without agent_logins the CI token's own login is the one author. */
START_TEST(t_ci_own_pr_default)
{
	afk_config *cfg;
	afk_ci *ci;
	afk_call c;
	char *text = afk__aprintf("{\"ci\": {\"kind\": \"forgejo\", "
	                          "\"api_url\": \"%s/api/v1\", \"token_env\": \""
	                          TOKEN_ENV "\"}}", S.base);
	int k;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_msg(afk_config_load_string(cfg, text) == 0, "%s",
	              afk_config_errmsg(cfg));
	free(text);
	ck_assert_int_eq(afk_ci_new(&ci), 0);
	ck_assert_msg(afk_ci_set_builtin(ci, cfg) == 0, "%s",
	              afk_ci_errmsg(ci));
	afk_config_free(cfg);
	for (k = 0; k < 2; k++) {
		hostile_script(k);
		afk__call_init(&c, AFK__CALL_CI_STATUS, NULL);
		ck_assert_msg(ci->status(&c, "acme/api", 5, ci->userdata) == 0,
		              "%s", msg_of(&c));
		ck_assert_int_eq(c.pr, k ? AFK_PR_OPEN : AFK_PR_NONE);
		afk__call_clear(&c);
		ck_assert_uint_eq(count_req(&S, "GET", A "/pulls/21"), 0);
		ck_assert_uint_eq(count_req(&S, "GET", A "/pulls/22"), 0);
	}
	ck_assert_uint_eq(count_req(&S, "GET", "/api/v1/user"), 1);
	afk_ci_free(ci);
}
END_TEST

START_TEST(t_ci_pages)
{
	afk_call c;
	char *full = statuses(50, "success"), *text;

	/* 51 statuses: the failing one is on page 2. */
	text = afk__aprintf("{'routes': {"
	  "'" A "/issues/5/timeline': {'json': ["
	  REF("pull_ref", "acme/api", 10, ISPR) "]},"
	  "'" A "/pulls/10': {'json': " PR_OPEN "},"
	  "'" A "/commits/abc123/status?limit=50&page=1': {'json': {"
	  "'total_count': 50, 'statuses': [%s]}},"
	  "'" A "/commits/abc123/status?limit=50&page=2': {'json': {"
	  "'total_count': 1, 'statuses': [" ST("e2e", "failure") "]}}}}",
	  full);
	srv_script(&S, text);
	free(text);
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.ci, AFK_STATUS_FAILURE);
	ck_assert_uint_eq(c.failing.n, 1);
	ck_assert_str_eq(c.failing.v[0], "e2e");
	afk__call_clear(&c);

	/* Every page full, none failing: pending, never success. */
	text = afk__aprintf("{'routes': {"
	  "'" A "/issues/5/timeline': {'json': ["
	  REF("pull_ref", "acme/api", 10, ISPR) "]},"
	  "'" A "/pulls/10': {'json': " PR_OPEN "},"
	  "'" A "/commits/abc123/status': {'json': {"
	  "'total_count': 50, 'statuses': [%s]}}}}", full);
	srv_script(&S, text);
	free(text);
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.ci, AFK_STATUS_PENDING);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", A "/commits/abc123/status?"
	                            "limit=50&page=10"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", A "/commits/abc123/status?"
	                            "limit=50&page=11"), 0);
	free(full);
}
END_TEST

START_TEST(t_ci_errors)
{
	afk_call c;

	srv_script(&S, "{'routes': {"
	  "'" A "/issues/5/timeline': {'json': ["
	  REF("pull_ref", "acme/api", 10, ISPR) "]},"
	  "'" A "/pulls/10': {'json': " PR_OPEN "},"
	  "'" A "/commits/abc123/status': {'status': 404,"
	  " 'json': {'message': 'not found " TOKEN "'}}}}");
	ck_assert_int_eq(ci_status(&c, 5), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "commit statuses of "
	                             "acme/api@abc123"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "404"));
	ck_assert_ptr_null(strstr(msg_of(&c), TOKEN));
	afk__call_clear(&c);

	/* A PR without a head. */
	srv_script(&S, "{'routes': {"
	  "'" A "/issues/5/timeline': {'json': ["
	  REF("pull_ref", "acme/api", 10, ISPR) "]},"
	  "'" A "/pulls/10': {'json': {'number': 10, 'state': 'open', " OWN
	  "'head': {'ref': 'afk/issue-5', 'repo': {'id': 77}}}}}}");
	ck_assert_int_eq(ci_status(&c, 5), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "no head sha"));
	afk__call_clear(&c);

	/* Connection refused: named, and the cause said. */
	srv_stop(&S);
	ck_assert_int_eq(ci_status(&c, 5), AFK_EUNAVAIL);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "find the pull request of "
	                             "acme/api#5"));
	ck_assert_ptr_null(strstr(msg_of(&c), TOKEN));
	afk__call_clear(&c);
}
END_TEST

/* --- the probe ------------------------------------------------------ */

/* GET /api/v1/user, read-only, for the tracker and the CI: 200 is reachable,
 * a 401 fails naming the status, never the token. */
START_TEST(t_probe)
{
	srv_script(&S, "{'routes': {'/api/v1/user': {'json': {'login': 'afk-bot',"
	           " 'id': 1}}}, 'default': {'status': 599}}");
	ck_assert_msg(afk_tracker_probe(T) == 0, "%s", afk_tracker_errmsg(T));
	ck_assert_str_eq(afk_tracker_errmsg(T), "");
	ck_assert_msg(afk_ci_probe(CI) == 0, "%s", afk_ci_errmsg(CI));
	ck_assert_uint_eq(count_req(&S, "GET", "/api/v1/user"), 2);
	ck_assert_uint_eq(srv_count(&S), 2); /* nothing else was asked */

	srv_script(&S, "{'default': {'status': 401, 'headers': {'X-Echo': '"
	           TOKEN "'}, 'json': {'message': 'Bad credentials " TOKEN
	           "'}}}");
	ck_assert_int_eq(afk_tracker_probe(T), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(afk_tracker_errmsg(T), "tracker probe: "));
	ck_assert_ptr_nonnull(strstr(afk_tracker_errmsg(T), "401"));
	ck_assert_ptr_null(strstr(afk_tracker_errmsg(T), TOKEN));
	ck_assert_int_eq(afk_ci_probe(CI), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(afk_ci_errmsg(CI), "CI probe: "));
	ck_assert_ptr_nonnull(strstr(afk_ci_errmsg(CI), "401"));
	ck_assert_ptr_null(strstr(afk_ci_errmsg(CI), TOKEN));

	/* Connection refused. */
	srv_stop(&S);
	ck_assert_int_eq(afk_tracker_probe(T), AFK_EUNAVAIL);
	ck_assert_ptr_nonnull(strstr(afk_tracker_errmsg(T), "user"));
	ck_assert_ptr_null(strstr(afk_tracker_errmsg(T), TOKEN));
}
END_TEST

/* --- the contract, against Forgejo's swagger description ------------- */

/* Runs only when AFK_FORGEJO_CONTRACT_URL names a validating mock of
 * Forgejo's swagger description (tests/specs/forgejo-swagger.v1.json,
 * served by @stoplight/prism-cli "mock" without its /api/v1 base path,
 * which the scripted server strips when it forwards): a request the description rejects is answered 422 or
 * carries an sl-violations header, which the scripted server turns into
 * a 599.  The scripted server forwards to it, except for the few answers
 * scripted here so that every endpoint is reached.  make check never
 * sets the variable. */
static void contract(const char *routes)
{
	const char *url = getenv("AFK_FORGEJO_CONTRACT_URL");
	char *t = afk__aprintf("{'routes': {%s}, 'default': {'proxy': '%s',"
	                       " 'strip_prefix': '/api/v1',"
	                       " 'drop_headers': ['Link'], 'fail_on_header':"
	                       " 'sl-violations'}}", routes, url);

	ck_assert_ptr_nonnull(t);
	srv_script(&S, t);
	free(t);
}

START_TEST(t_contract)
{
	static const char *const repos[] = {"acme/api"};
	afk__iset set;
	afk_call c;

	/* The listings. */
	contract("");
	ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	afk__call_clear(&c);
	afk__iset_clear(&set);
	/* The closed issues still locked (the watch's reconciliation). */
	ck_assert_msg(list_closed(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues?state=closed"), 1);
	/* The gates of a ready issue: timeline and blockers. */
	contract("'" A "/issues" Q(RL) "': {'json': ["
	         ISSUE(1, LAB(1, RL)) "]}");
	{
		/* The mock's example dependency may carry no issue number,
		 * which leaves the issue unvetted; what is checked here is that
		 * both requests passed the description (a refusal is a 599). */
		size_t i;

		ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s",
		              msg_of(&c));
		for (i = 0; i < ERRS.n; i++)
			ck_assert_msg(strstr(ERRS.v[i].message, "no issue "
			              "number") != NULL, "%s",
			              ERRS.v[i].message);
	}
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/timeline"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/dependencies"),
	                  1);
	/* A full first page of the timeline (no Link header): its last
	 * page is probed, page=2 with limit=50, the mock's. */
	{
		char *full = items(50, 1, "{'type': 'comment', 'body': 'c%d',"
		                   " 'user': {'login': 'alice'}}");
		char *t = afk__aprintf("'" A "/issues" Q(RL) "': {'json': ["
		                       ISSUE(1, LAB(1, RL)) "]},"
		                       "'" A "/issues/1/timeline?limit=50':"
		                       " {'json': [%s]},"
		                       "'" A "/issues/1/dependencies?limit=50':"
		                       " {'json': []}", full);

		contract(t);
		free(t);
		free(full);
		ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s",
		              msg_of(&c));
		no_errors();
		ck_assert_uint_eq(count_req(&S, "GET", A "/issues/1/timeline?"
		                            "limit=50&page=2"), 1);
	}
	afk__call_clear(&c);
	afk__iset_clear(&set);
	/* With trust_writers: the permission of a labeller who is not a
	 * trusted user. */
	ck_assert_int_eq(afk_config_set(CFG, "trust_writers", "true"), 0);
	afk_tracker_free(T);
	ck_assert_int_eq(afk_tracker_new(&T), 0);
	ck_assert_msg(afk_tracker_set_builtin(T, CFG) == 0, "%s",
	              afk_tracker_errmsg(T));
	contract("'" A "/issues" Q(RL) "': {'json': [" ISSUE(1, LAB(1, RL))
	         "]}, '" A "/issues/1/timeline': {'json': ["
	         LABELED("carol", RL) "]},"
	         "'" A "/issues/1/dependencies': {'json': []}");
	ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", A "/collaborators/carol/"
	                            "permission"), 1);

	/* The mock's label is not ours: the request passed, the check of
	 * the answer fails (a refused request would be a 599). */
	contract("");
	ck_assert_int_eq(label(&c, "agent in progress", 1), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "has no label"));
	afk__call_clear(&c);
	contract("'" A "/issues/12/labels': {'json': ["
	         LAB(5, "agent in progress") "]}");
	ck_assert_msg(label(&c, "agent in progress", 0) == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "DELETE", A "/issues/12/labels/5"),
	                  1);
	contract("");
	afk__call_init(&c, AFK__CALL_CLOSE_ISSUE, NULL);
	ck_assert_msg(T->close_issue(&c, "acme/api", 12, T->userdata) == 0,
	              "%s", msg_of(&c));
	afk__call_clear(&c);

	/* Comments: a new one, then an edit of the own one. */
	contract("'/api/v1/user': {'json': {'login': 'afk-bot'}}");
	ck_assert_msg(find(&c) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_msg(upsert(&c, "x " MARK) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "POST", A "/issues/7/comments"), 1);
	contract("'" A "/issues/7/comments': {'json': ["
	         COMMENT(42, "afk-bot", "old " MARK) "]}");
	ck_assert_msg(upsert(&c, "y " MARK) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "PATCH", A "/issues/comments/42"), 1);

	/* CI: the timeline and the PR scripted, the statuses the mock's. */
	contract("'" A "/issues/5/timeline': {'json': ["
	         REF("pull_ref", "acme/api", 10, ISPR) "]},"
	         "'" A "/pulls/10': {'json': " PR_OPEN "}");
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_OPEN);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", A "/commits/abc123/status"), 1);
}
END_TEST

/* --- configuration --------------------------------------------------- */

START_TEST(t_config)
{
	afk_config *cfg;
	afk_tracker *t;
	afk_ci *ci;
	char *json = NULL, path[128];
	FILE *fp;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	/* api_url is required; exactly one token source. */
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"tracker\": {\"kind\":"
	                 " \"forgejo\", \"token_env\": \"A\"}}"), AFK_ECONFIG);
	ck_assert_ptr_nonnull(strstr(afk_config_errmsg(cfg), "api_url"));
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"tracker\": {\"kind\":"
	                 " \"forgejo\", \"api_url\": \"https://x/api/v1\"}}"),
	                 AFK_ECONFIG);
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"tracker\": {\"kind\":"
	                 " \"forgejo\", \"api_url\": \"https://x/api/v1\","
	                 " \"token_env\": \"A\", \"token_file\": \"/x\"}}"),
	                 AFK_ECONFIG);
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"forgejo\", \"api_url\": \"https://x/api/v1\","
	                 " \"token_env\": \"A\", \"token\": \"x\"}}"),
	                 AFK_ECONFIG);
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"forgejo\", \"token_env\": \"A\", \"api_url\":"
	                 " \"ftp://x\"}}"), AFK_ECONFIG);
	/* The token file's name is kept, never its content; api_url is
	 * given back as set. */
	snprintf(path, sizeof(path), "%s/token", S.dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(TOKEN "\n", fp);
	fclose(fp);
	json = afk__aprintf("{\"tracker\": {\"kind\": \"forgejo\", \"api_url\":"
	                    " \"%s/api/v1/\", \"token_file\": \"%s\"}}", S.base,
	                    path);
	ck_assert_msg(afk_config_load_string(cfg, json) == 0, "%s",
	              afk_config_errmsg(cfg));
	free(json);
	ck_assert_int_eq(afk_config_get(cfg, "tracker", &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"forgejo\""));
	ck_assert_ptr_nonnull(strstr(json, "token_file"));
	ck_assert_ptr_nonnull(strstr(json, "/api/v1\""));
	ck_assert_ptr_null(strstr(json, TOKEN));
	afk_free(json);
	ck_assert_int_eq(afk_tracker_new(&t), 0);
	ck_assert_msg(afk_tracker_set_builtin(t, cfg) == 0, "%s",
	              afk_tracker_errmsg(t));
	afk_tracker_free(t);
	unlink(path);

	/* A variable that is not set: refused when the adapter is made. */
	unsetenv("AFK_TEST_NO_SUCH_TOKEN");
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"forgejo\", \"api_url\": \"https://x/api/v1\","
	                 " \"token_env\": \"AFK_TEST_NO_SUCH_TOKEN\"}}"), 0);
	ck_assert_int_eq(afk_ci_new(&ci), 0);
	ck_assert_int_eq(afk_ci_set_builtin(ci, cfg), AFK_ECONFIG);
	ck_assert_ptr_nonnull(strstr(afk_ci_errmsg(ci),
	                             "AFK_TEST_NO_SUCH_TOKEN"));
	afk_ci_free(ci);
	afk_config_free(cfg);
}
END_TEST

static Suite *forgejo_suite(void)
{
	Suite *s = suite_create("forgejo");
	TCase *tc = tcase_create("forgejo");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_list_ready);
	tcase_add_test(tc, t_list_closed);
	tcase_add_test(tc, t_list_ready_bad_repo);
	tcase_add_test(tc, t_list_ready_errors);
	tcase_add_test(tc, t_list_ready_busy_timeline);
	tcase_add_test(tc, t_ci_busy_timeline);
	tcase_add_test(tc, t_list_ready_full_pages);
	tcase_add_test(tc, t_list_ready_writers);
	tcase_add_test(tc, t_headers);
	tcase_add_test(tc, t_labels);
	tcase_add_test(tc, t_labels_read_error);
	tcase_add_test(tc, t_close_error);
	tcase_add_test(tc, t_comments);
	tcase_add_test(tc, t_comments_none_own);
	tcase_add_test(tc, t_comments_user_error);
	tcase_add_test(tc, t_ci_states);
	tcase_add_test(tc, t_ci_merged_and_none);
	tcase_add_test(tc, t_ci_own_pr);
	tcase_add_test(tc, t_ci_own_pr_default);
	tcase_add_test(tc, t_ci_pages);
	tcase_add_test(tc, t_ci_errors);
	tcase_add_test(tc, t_config);
	tcase_add_test(tc, t_probe);
	suite_add_tcase(s, tc);
	if (getenv("AFK_FORGEJO_CONTRACT_URL") != NULL) {
		tc = tcase_create("contract");
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 120);
		tcase_add_test(tc, t_contract);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return fake_run(forgejo_suite());
}
