/*
 * tests/builtin/check_github.c - the "github" tracker and CI (lib/builtin/github.c)
 * against tests/http_server.py on 127.0.0.1, playing GitHub's REST API.
 *
 * Each test starts its own server, scripts GitHub's answers, calls the
 * adapters' callbacks directly (as a tick would) and then reads the
 * server's log of what was sent.
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
#include "core/policy.h"

#define TOKEN "ghp_S3cr3tT0k3nValue0123456789abcdef"
#define TOKEN_ENV "AFK_TEST_GITHUB_TOKEN"

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
	         " \"tracker\": {\"kind\": \"github\", \"api_url\": \"%s/\","
	         "  \"token_env\": \"" TOKEN_ENV "\"},"
	         " \"ci\": {\"kind\": \"github\", \"api_url\": \"%s\","
	         "  \"token_env\": \"" TOKEN_ENV "\","
	         "  \"agent_logins\": [\"afk-bot\"]}}", S.base, S.base);
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

#define RL "ready-for-agent"
#define IL "agent-in-progress"
#define LAB(n) "{'name': '" n "'}"
#define ISSUE(n, labels) "{'number': " #n ", 'state': 'open', " \
	"'title': 'Issue " #n "', 'labels': [" labels "]}"
#define LABELED(who, l) "{'event': 'labeled', 'actor': {'login': '" who \
	"'}, 'label': {'name': '" l "'}}"

#define OPEN(repo) "/repos/" repo "/issues?state=open&per_page=100"
#define NOSUM "'issue_dependencies_summary': {'blocked_by': 0," \
	" 'blocking': 0, 'total_blocked_by': 0, 'total_blocking': 0}"
#define QUIET "'updated_at': '2020-01-01T00:00:00Z'"

/* A repository with one page of open issues: one listing, then the gates
 * of its best ready issue, of the next best when that one fails, and no
 * more once one passes. */
START_TEST(t_list_ready)
{
	static const char *const repos[] = {"acme/api"};
	afk__iset set;
	afk_call c;
	afk_issue *is;
	int rc;

	srv_script(&S, "{'routes': {"
	  /* #1 priority 3 labelled by a stranger, #2 a PR, #3 priority 3
	   * trusted and (the summary says) unblocked, #5 ready, #8 neither
	   * label */
	  "'" OPEN("acme/api") "': {'json': ["
	  ISSUE(1, LAB(RL) ", " LAB("priority:3")) ","
	  "{'number': 2, 'state': 'open', 'labels': [" LAB(RL) "],"
	  " 'pull_request': {'url': 'x'}},"
	  "{'number': 3, 'state': 'open', 'title': 'Issue 3', " NOSUM ","
	  " 'labels': [" LAB(RL) ", " LAB("priority:3") "]},"
	  ISSUE(5, LAB(RL)) "," ISSUE(8, LAB("bug")) "]},"
	  /* timelines: the latest labeled event for the ready label counts */
	  "'/repos/acme/api/issues/1/timeline': {'json': ["
	  LABELED("alice", RL) ", {'event': 'unlabeled', 'actor':"
	  " {'login': 'alice'}, 'label': {'name': '" RL "'}},"
	  LABELED("mallory", RL) "," LABELED("alice", "bug") "]},"
	  "'/repos/acme/api/issues/3/timeline': {'json': ["
	  LABELED("mallory", RL) "," LABELED("bob", RL) "]}},"
	  "'default': {'json': []}}");
	rc = list_ready(&c, &set, repos, 1);
	ck_assert_msg(rc == 0, "%s", msg_of(&c));
	/* #1 #3 #5; not the PR, not #8. */
	ck_assert_uint_eq(set.n, 3);
	ck_assert_ptr_null(find_issue(&set, "acme/api", 2));
	ck_assert_ptr_null(find_issue(&set, "acme/api", 8));

	is = find_issue(&set, "acme/api", 1);
	ck_assert_ptr_nonnull(is);
	ck_assert_int_eq(afk_issue_trusted(is), 0);
	ck_assert_int_eq(afk_issue_priority(is), 3);
	ck_assert_str_eq(afk_issue_title(is), "Issue 1");
	afk_issue_free(is);

	is = find_issue(&set, "acme/api", 3);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	ck_assert_uint_eq(afk_issue_blocker_count(is), 0);
	ck_assert_int_eq(afk_issue_has_label(is, RL), 1);
	afk_issue_free(is);

	/* Outranked by #3, which passed: not vetted. */
	is = find_issue(&set, "acme/api", 5);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);

	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues?"), 1);
	ck_assert_uint_eq(count_req(&S, "GET",
	                            "/repos/acme/api/issues/1/timeline"), 1);
	ck_assert_uint_eq(count_req(&S, "GET",
	                  "/repos/acme/api/issues/1/dependencies/blocked_by"),
	                  1);
	ck_assert_uint_eq(count_req(&S, "GET",
	                            "/repos/acme/api/issues/3/timeline"), 1);
	/* #3's summary says it has no open blocker. */
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/3/dep"),
	                  0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/5/"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/2/"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/8/"), 0);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* More than a page of open issues: the two label listings instead, in
 * full.  A repository with an issue in progress is locked: no gates are
 * read there.  Every repository's requests of a round run at once. */
START_TEST(t_list_ready_large)
{
	static const char *const repos[] = {"acme/api", "acme/web"};
	afk__iset set;
	afk_call c;
	afk_issue *is;
	double t0;
	int rc;

	srv_script(&S, "{'routes': {"
	  "'" OPEN("acme/api") "': {'delay': 0.4, 'headers': {'Link':"
	  " '<http://127.0.0.1:{port}" OPEN("acme/api") "&page=2>; rel=`next`'},"
	  " 'json': [" ISSUE(99, "") "]},"
	  /* acme/api ready, page 1 of 2: #1, #4 also in progress */
	  "'/repos/acme/api/issues?state=open&labels=" RL "&per_page=100':"
	  " {'delay': 0.4, 'headers': {'Link': '<http://127.0.0.1:{port}"
	  "/repos/acme/api/issues?state=open&labels=" RL "&per_page=100"
	  "&page=2>; rel=`next`'}, 'json': ["
	  ISSUE(1, LAB(RL)) "," ISSUE(4, LAB(RL) ", " LAB(IL)) "]},"
	  "'/repos/acme/api/issues?state=open&labels=" RL "&per_page=100"
	  "&page=2': {'json': [" ISSUE(5, LAB(RL)) "]},"
	  "'/repos/acme/api/issues?state=open&labels=" IL "&per_page=100':"
	  " {'delay': 0.4, 'json': [" ISSUE(4, LAB(RL) ", " LAB(IL)) ","
	  ISSUE(6, LAB(IL)) "]},"
	  /* acme/web: #7, whose blockers are read: blocked by open #9, not
	   * by closed #8 */
	  "'" OPEN("acme/web") "': {'delay': 0.4, 'json': ["
	  ISSUE(7, LAB(RL)) "]},"
	  "'/repos/acme/web/issues/7/timeline': {'delay': 0.4, 'json': ["
	  LABELED("alice", RL) "]},"
	  "'/repos/acme/web/issues/7/dependencies/blocked_by': {'delay': 0.4,"
	  " 'json': [{'number': 8, 'state': 'closed'},"
	  " {'number': 9, 'state': 'open'}]}},"
	  "'default': {'json': []}}");
	t0 = now_s();
	rc = list_ready(&c, &set, repos, 2);
	ck_assert_msg(rc == 0, "%s", msg_of(&c));
	/* Two rounds of 0.4 s: the open listings; then acme/api's two label
	 * listings and acme/web's two gates, four at once. */
	ck_assert_double_lt(now_s() - t0, 1.4);
	ck_assert_int_ge(srv_stat(&S, "max_active"), 4);
	/* #1 #4 #5 #6 #7, #4 once; #99 had neither label. */
	ck_assert_uint_eq(set.n, 5);
	ck_assert_ptr_null(find_issue(&set, "acme/api", 99));

	is = find_issue(&set, "acme/api", 5); /* from page 2 */
	ck_assert_ptr_nonnull(is);
	/* locked: not vetted */
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	is = find_issue(&set, "acme/api", 6);
	ck_assert_int_eq(afk_issue_has_label(is, IL), 1);
	afk_issue_free(is);

	is = find_issue(&set, "acme/web", 7);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	ck_assert_uint_eq(afk_issue_blocker_count(is), 1);
	ck_assert_int_eq(afk_issue_blocker(is, 0), 9);
	afk_issue_free(is);

	/* Locked acme/api: no gates. */
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/"), 0);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* The issues left unvetted behind a lock are never picked, also by a
 * selection that does not see the lock - a host that polls with another
 * in-progress label than its tracker was made with: it fails closed. */
START_TEST(t_list_ready_unvetted_fail_closed)
{
	static const char *const repos[] = {"acme/api"};
	afk__iset set;
	afk__selection sel;
	afk_call c;

	srv_script(&S, "{'routes': {"
	  "'" OPEN("acme/api") "': {'json': [" ISSUE(1, LAB(RL) ", " LAB(IL))
	  "," ISSUE(2, LAB(RL)) "]}},"
	  "'default': {'json': []}}");
	ck_assert_int_eq(list_ready(&c, &set, repos, 1), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/2/"), 0);
	ck_assert_int_eq(afk__selection_run(&sel, &set, repos, 1, IL), 0);
	ck_assert_uint_eq(sel.out.npicks, 0);
	afk__selection_clear(&sel);
	ck_assert_int_eq(afk__selection_run(&sel, &set, repos, 1, "other"), 0);
	ck_assert_uint_eq(sel.out.npicks, 0);
	ck_assert_int_eq(sel.out.reason[1], AFK_SKIP_UNTRUSTED);
	afk__selection_clear(&sel);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* The labeller read from a quiet issue's timeline is remembered for the
 * issue's updated_at: the next listing reads no timeline, until the
 * issue changes.  A recently changed issue is read every time. */
START_TEST(t_list_ready_memo)
{
	static const char *const repos[] = {"acme/api", "acme/web"};
	char script[2048], now[32];
	afk__iset set;
	afk_call c;
	afk_issue *is;
	time_t t = time(NULL);
	int i;

	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	for (i = 0; i < 3; i++) {
		snprintf(script, sizeof(script), "{'routes': {"
		  "'" OPEN("acme/api") "': {'json': [{'number': 1, 'state':"
		  " 'open', 'labels': [" LAB(RL) "], " NOSUM ", 'updated_at':"
		  " '%s'}]},"
		  "'" OPEN("acme/web") "': {'json': [{'number': 2, 'state':"
		  " 'open', 'labels': [" LAB(RL) "], " NOSUM ", 'updated_at':"
		  " '%s'}]},"
		  "'/repos/acme/api/issues/1/timeline': {'json': ["
		  LABELED("%s", RL) "]},"
		  "'/repos/acme/web/issues/2/timeline': {'json': ["
		  LABELED("bob", RL) "]}},"
		  "'default': {'json': []}}",
		  i < 2 ? "2020-01-01T00:00:00Z" : "2020-01-02T00:00:00Z", now,
		  i < 2 ? "alice" : "mallory");
		srv_script(&S, script);
		ck_assert_int_eq(list_ready(&c, &set, repos, 2), 0);
		is = find_issue(&set, "acme/api", 1);
		/* Relabelled by mallory with the third listing. */
		ck_assert_int_eq(afk_issue_trusted(is), i < 2);
		afk_issue_free(is);
		is = find_issue(&set, "acme/web", 2);
		ck_assert_int_eq(afk_issue_trusted(is), 1);
		afk_issue_free(is);
		afk__call_clear(&c);
		afk__iset_clear(&set);
		/* The log keeps every request: 1, 1 (memo), 2. */
		ck_assert_uint_eq(count_req(&S, "GET",
		                  "/repos/acme/api/issues/1/timeline"),
		                  i == 2 ? 2 : 1);
		ck_assert_uint_eq(count_req(&S, "GET",
		                  "/repos/acme/web/issues/2/timeline"),
		                  (size_t)i + 1);
	}
}
END_TEST

/* With trust_writers, a labeller not among trusted_users counts when the
 * repository grants it write access; a user that does not exist (404)
 * does not, and is no error.  Without it no permission is read. */
START_TEST(t_list_ready_writers)
{
	static const char *const repos[] = {"acme/api", "acme/web"};
	afk__iset set;
	afk_call c;
	afk_issue *is;
	int pass, rc;

	srv_script(&S, "{'routes': {"
	  "'" OPEN("acme/api") "': {'json': ["
	  ISSUE(1, LAB(RL) ", " LAB("priority:2")) ","
	  ISSUE(2, LAB(RL) ", " LAB("priority:1")) "," ISSUE(3, LAB(RL)) "]},"
	  "'" OPEN("acme/web") "': {'json': [" ISSUE(4, LAB(RL)) "]},"
	  "'/repos/acme/api/issues/1/timeline': {'json': ["
	  LABELED("dave", RL) "]},"
	  "'/repos/acme/api/issues/2/timeline': {'json': ["
	  LABELED("ghost", RL) "]},"
	  "'/repos/acme/api/issues/3/timeline': {'json': ["
	  LABELED("carol", RL) "]},"
	  "'/repos/acme/web/issues/4/timeline': {'json': ["
	  LABELED("alice", RL) "]},"
	  "'/repos/acme/api/collaborators/dave/permission': {'json':"
	  " {'permission': 'read', 'role_name': 'triage'}},"
	  "'/repos/acme/api/collaborators/ghost/permission': {'status': 404,"
	  " 'json': {'message': 'Not Found'}},"
	  "'/repos/acme/api/collaborators/carol/permission': {'json':"
	  " {'permission': 'write', 'role_name': 'maintain'}}},"
	  "'default': {'json': []}}");
	for (pass = 0; pass < 2; pass++) {
		rc = list_ready(&c, &set, repos, 2);
		ck_assert_msg(rc == 0, "%s", msg_of(&c));
		is = find_issue(&set, "acme/api", 1);
		ck_assert_int_eq(afk_issue_trusted(is), 0);
		afk_issue_free(is);
		is = find_issue(&set, "acme/api", 2);
		ck_assert_int_eq(afk_issue_trusted(is), 0);
		afk_issue_free(is);
		is = find_issue(&set, "acme/api", 3);
		ck_assert_int_eq(afk_issue_trusted(is), pass == 1);
		afk_issue_free(is);
		is = find_issue(&set, "acme/web", 4);
		ck_assert_int_eq(afk_issue_trusted(is), 1);
		afk_issue_free(is);
		afk__call_clear(&c);
		afk__iset_clear(&set);
		if (pass == 0) {
			ck_assert_uint_eq(count_req(&S, "GET",
			                  "/repos/acme/api/collaborators/"), 0);
			ck_assert_int_eq(afk_config_set(CFG, "trust_writers",
			                                "true"), 0);
			afk_tracker_free(T);
			ck_assert_int_eq(afk_tracker_new(&T), 0);
			ck_assert_msg(afk_tracker_set_builtin(T, CFG) == 0, "%s",
			              afk_tracker_errmsg(T));
		}
	}
	ck_assert_uint_eq(count_req(&S, "GET",
	                  "/repos/acme/api/collaborators/dave/permission"), 1);
	ck_assert_uint_eq(count_req(&S, "GET",
	                  "/repos/acme/api/collaborators/ghost/permission"), 1);
	ck_assert_uint_eq(count_req(&S, "GET",
	                  "/repos/acme/api/collaborators/carol/permission"), 1);
	/* alice is a trusted user: her permission is not asked. */
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/web/collab"), 0);
}
END_TEST

/* A name GitHub cannot have is that repository's failure, reported;
 * the others are listed. */
START_TEST(t_list_ready_bad_repo)
{
	static const char *const repos[] = {"api", "acme/..", "acme/web"};
	afk__iset set;
	afk_call c;
	afk_issue *is;

	srv_script(&S, "{'routes': {"
	  "'" OPEN("acme/web") "': {'json': [" ISSUE(4, LAB(RL)) "]},"
	  "'/repos/acme/web/issues/4/timeline': {'json': ["
	  LABELED("alice", RL) "]}},"
	  "'default': {'json': []}}");
	ck_assert_msg(list_ready(&c, &set, repos, 3) == 0, "%s", msg_of(&c));
	ck_assert_uint_eq(ERRS.n, 2);
	ck_assert_int_eq(error_of("api", 0)->code, AFK_EINVAL);
	assert_contains(error_of("api", 0)->message, "could not list: ");
	assert_contains(error_of("api", 0)->message, "owner");
	ck_assert_int_eq(error_of("acme/..", 0)->code, AFK_EINVAL);
	is = find_issue(&set, "acme/web", 4);
	ck_assert_ptr_nonnull(is);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
	/* Nothing was asked about the bad names. */
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/api"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/../"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/%2E%2E"), 0);
}
END_TEST

/* A repository whose listing fails - 404 (renamed, gone), a 5xx after
 * the retry, an answer that is no list - is reported as such and lists
 * nothing; the others are listed and vetted all the same. */
START_TEST(t_list_ready_errors)
{
	static const char *const repos[] = {"acme/gone", "acme/api",
	                                    "acme/web"};
	static const char *const web[] = {"acme/web"};
	afk__iset set;
	afk_call c;
	afk_issue *is;

	/* acme/gone: 404; acme/api: a 500 (retried once), the token in its
	 * body and a header; acme/web: fine. */
	srv_script(&S, "{'routes': {"
	  "'" OPEN("acme/gone") "': {'status': 404, 'json': {'message':"
	  " 'Not Found'}},"
	  "'" OPEN("acme/api") "': {'status': 500, 'headers': {'X-Echo': '"
	  TOKEN "'}, 'body': 'oops " TOKEN "'},"
	  "'" OPEN("acme/web") "': {'json': [" ISSUE(4, LAB(RL)) "]},"
	  "'/repos/acme/web/issues/4/timeline': {'json': ["
	  LABELED("alice", RL) "]}},"
	  "'default': {'json': []}}");
	ck_assert_msg(list_ready(&c, &set, repos, 3) == 0, "%s", msg_of(&c));
	ck_assert_uint_eq(ERRS.n, 2);
	ck_assert_int_eq(error_of("acme/gone", 0)->code, AFK_EIO);
	assert_contains(error_of("acme/gone", 0)->message, "404");
	assert_contains(error_of("acme/api", 0)->message,
	                "could not list: list open issues of acme/api");
	assert_contains(error_of("acme/api", 0)->message, "500");
	assert_lacks(error_of("acme/api", 0)->message, TOKEN);
	ck_assert_uint_eq(count_req(&S, "GET", OPEN("acme/api")), 2);
	ck_assert_uint_eq(set.n, 1);
	is = find_issue(&set, "acme/web", 4);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* Not an array. */
	srv_script(&S, "{'default': {'json': {'message': 'hm'}}}");
	ck_assert_int_eq(list_ready(&c, &set, web, 1), 0);
	ck_assert_int_eq(error_of("acme/web", 0)->code, AFK_EPARSE);
	assert_contains(error_of("acme/web", 0)->message, "issues of acme/web");
	assert_contains(error_of("acme/web", 0)->message,
	                "is an object, not a JSON array");
	ck_assert_ptr_null(c.message);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* Not JSON: the reason and the place, not the answer's words (a
	 * token the server echoed). */
	srv_script(&S, "{'default': {'body': '" TOKEN " <html>'}}");
	ck_assert_int_eq(list_ready(&c, &set, web, 1), 0);
	assert_contains(error_of("acme/web", 0)->message,
	                "list open issues of acme/web: GET http://");
	assert_contains(error_of("acme/web", 0)->message, "not valid JSON");
	assert_contains(error_of("acme/web", 0)->message, "line 1, column");
	assert_lacks(error_of("acme/web", 0)->message, TOKEN);
	assert_lacks(error_of("acme/web", 0)->message, "ghp_");
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* A listing by label that fails (more than a page of open issues)
	 * fails that repository too: its locks are unknown. */
	srv_script(&S, "{'routes': {"
	  "'" OPEN("acme/web") "': {'headers': {'Link': '<http://127.0.0.1:"
	  "{port}" OPEN("acme/web") "&page=2>; rel=`next`'}, 'json': ["
	  ISSUE(4, LAB(RL)) "]},"
	  "'/repos/acme/web/issues?state=open&labels=" RL "&per_page=100':"
	  " {'json': [" ISSUE(4, LAB(RL)) "]},"
	  "'/repos/acme/web/issues?state=open&labels=" IL "&per_page=100':"
	  " {'status': 502, 'json': {'message': 'Bad Gateway'}}},"
	  "'default': {'json': []}}");
	ck_assert_int_eq(list_ready(&c, &set, web, 1), 0);
	assert_contains(error_of("acme/web", 0)->message,
	                "list in-progress issues of acme/web");
	ck_assert_uint_eq(set.n, 0);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* A gate that cannot be read leaves that issue unvetted ("could not
 * vet"), reported; the next best issue of its repository is vetted, and
 * other repositories go on. */
START_TEST(t_list_ready_unvetted)
{
	static const char *const repos[] = {"acme/api", "acme/web"};
	afk__iset set;
	afk_call c;
	afk_issue *is;

	srv_script(&S, "{'routes': {"
	  "'" OPEN("acme/api") "': {'json': [" ISSUE(1, LAB(RL) ", "
	  LAB("priority:5")) "," ISSUE(2, LAB(RL)) "]},"
	  "'/repos/acme/api/issues/1/timeline': {'status': 403, 'json':"
	  " {'message': 'Resource not accessible " TOKEN "'}},"
	  "'/repos/acme/api/issues/2/timeline': {'json': ["
	  LABELED("bob", RL) "]},"
	  "'" OPEN("acme/web") "': {'json': [" ISSUE(4, LAB(RL)) "]},"
	  "'/repos/acme/web/issues/4/timeline': {'json': ["
	  LABELED("alice", RL) "]},"
	  "'/repos/acme/web/issues/4/dependencies/blocked_by?per_page=100':"
	  " {'body': 'not json'}},"
	  "'default': {'json': []}}");
	ck_assert_msg(list_ready(&c, &set, repos, 2) == 0, "%s", msg_of(&c));
	ck_assert_uint_eq(ERRS.n, 2);
	assert_contains(error_of("acme/api", 1)->message,
	                "could not vet: read the timeline of acme/api#1");
	assert_contains(error_of("acme/api", 1)->message, "403");
	assert_lacks(error_of("acme/api", 1)->message, TOKEN);
	assert_contains(error_of("acme/web", 4)->message,
	                "could not vet: read the blockers of acme/web#4");
	ck_assert_int_eq(error_of("acme/web", 4)->code, AFK_EPARSE);
	ck_assert_uint_eq(set.n, 3);
	is = find_issue(&set, "acme/api", 1);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	is = find_issue(&set, "acme/api", 2);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	is = find_issue(&set, "acme/web", 4);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* A busy timeline of n events, most of them comments by strangers,
 * with a "labeled" event for the ready label by who at index at (none
 * when at < 0) and one by mallory at index 0: the answers of
 * acme/api#9's timeline pages. */
static void busy_timeline(json_t *routes, size_t n, long at, const char *who)
{
	json_t *items = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		if ((long)i == at || i == 0)
			json_array_append_new(items, json_pack("{s:s, s:{s:s},"
			        " s:{s:s}}", "event", "labeled", "actor", "login",
			        i == 0 ? "mallory" : who, "label", "name", RL));
		else
			json_array_append_new(items, json_pack("{s:s, s:{s:s}}",
			        "event", "commented", "actor", "login",
			        "mallory"));
	}
	srv_add_pages(routes, "/repos/acme/api/issues/9/timeline?per_page=100",
	              items, 100, 1);
}

/* Scripts acme/api#9 (ready, with the busy timeline) and acme/web#4
 * (ready, trusted) and lists both. */
static void busy_list(afk_call *c, afk__iset *set, size_t n, long at,
                      const char *who)
{
	static const char *const repos[] = {"acme/api", "acme/web"};
	json_t *routes = json_object();

	busy_timeline(routes, n, at, who);
	json_object_set_new(routes, OPEN("acme/api"), json_pack("{s:[{s:i,"
	        " s:s, s:[{s:s}], s:{s:i}}]}", "json", "number", 9, "state",
	        "open", "labels", "name", RL, "issue_dependencies_summary",
	        "blocked_by", 0));
	json_object_set_new(routes, OPEN("acme/web"), json_pack("{s:[{s:i,"
	        " s:s, s:[{s:s}], s:{s:i}}]}", "json", "number", 4, "state",
	        "open", "labels", "name", RL, "issue_dependencies_summary",
	        "blocked_by", 0));
	json_object_set_new(routes, "/repos/acme/web/issues/4/timeline",
	        json_pack("{s:[{s:s, s:{s:s}, s:{s:s}}]}", "json", "event",
	        "labeled", "actor", "login", "bob", "label", "name", RL));
	srv_script_json(&S, json_pack("{s:o, s:{s:[]}}", "routes", routes,
	                              "default", "json"));
	ck_assert_msg(list_ready(c, set, repos, 2) == 0, "%s", msg_of(c));
}

/* An issue with a timeline of 1,050 events - eleven pages, more than
 * http.max_pages - whose ready label a trusted user applied near the
 * end: found by reading from the end, only the last page(s) besides the
 * first; the listing does not fail. */
START_TEST(t_list_ready_busy_timeline)
{
	afk__iset set;
	afk_call c;
	afk_issue *is;
	const char *tl = "/repos/acme/api/issues/9/timeline";

	/* On the last page: pages 1 and 11 read. */
	busy_list(&c, &set, 1050, 1040, "alice");
	ck_assert_uint_eq(ERRS.n, 0);
	is = find_issue(&set, "acme/api", 9);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	ck_assert_uint_eq(count_req(&S, "GET", tl), 2);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/9/"
	                            "timeline?per_page=100&page=11"), 1);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* On page 10, then only comments: pages 1, 11 and 10. */
	busy_list(&c, &set, 1050, 950, "alice");
	is = find_issue(&set, "acme/api", 9);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	ck_assert_uint_eq(count_req(&S, "GET", tl), 2 + 3);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* The latest labeller is a stranger, an older one trusted: not
	 * trusted (the latest counts). */
	busy_list(&c, &set, 1050, 1049, "mallory");
	is = find_issue(&set, "acme/api", 9);
	ck_assert_int_eq(afk_issue_trusted(is), 0);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);

	/* Only on page 1, eleven pages from the end: more than max_pages
	 * to walk back - that issue could not be vetted, the other
	 * repository is listed and vetted all the same. */
	busy_list(&c, &set, 1150, -1, "alice");
	assert_contains(error_of("acme/api", 9)->message, "could not vet: "
	                "read the timeline of acme/api#9");
	assert_contains(error_of("acme/api", 9)->message, "max_pages");
	is = find_issue(&set, "acme/api", 9);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	is = find_issue(&set, "acme/web", 4);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	afk_issue_free(is);
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* A listing whose failure cannot be reported (a list_ready called with
 * nowhere to put it) fails as a whole, as before: never lost. */
START_TEST(t_list_ready_errors_unreported)
{
	static const char *const repos[] = {"acme/api"};
	afk__iset set;
	afk_call c;

	srv_script(&S, "{'default': {'status': 404, 'json': {'message':"
	           " 'Not Found'}}}");
	memset(&set, 0, sizeof(set));
	afk__call_init(&c, AFK__CALL_LIST_READY, &set);
	ck_assert_int_eq(T->list_ready(&c, repos, 1, T->userdata), AFK_EIO);
	assert_contains(msg_of(&c), "could not list: list open issues of "
	                "acme/api");
	afk__call_clear(&c);
	afk__iset_clear(&set);
}
END_TEST

/* The token is sent as a bearer token, with GitHub's media type. */
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
	                 "Bearer " TOKEN);
	ck_assert_str_eq(log_header(log, 0, "accept"),
	                 "application/vnd.github+json");
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

	srv_script(&S, "{'routes': {"
	  "'/repos/acme/api/issues/12/labels': {'json': []},"
	  "'/repos/acme/api/issues/12/labels/agent%20in%20progress':"
	  " {'json': []},"
	  "'/repos/acme/api/issues/12/labels/gone': {'status': 404, 'json':"
	  " {'message': 'Label does not exist'}},"
	  "'/repos/acme/api/issues/12/labels/boom': {'status': 500,"
	  " 'json': {'message': 'x'}},"
	  "'/repos/acme/api/issues/12': {'json': {'number': 12}}}}");
	ck_assert_msg(label(&c, "agent in progress", 1) == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	b = last_body(&S, "POST", "/repos/acme/api/issues/12/labels");
	ck_assert_str_eq(json_string_value(json_array_get(
	                 json_object_get(b, "labels"), 0)),
	                 "agent in progress");
	json_decref(b);

	/* The label's name is one encoded path segment. */
	ck_assert_msg(label(&c, "agent in progress", 0) == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "DELETE", "/repos/acme/api/issues/12/"
	                            "labels/agent%20in%20progress"), 1);
	/* Absent already: success. */
	ck_assert_msg(label(&c, "gone", 0) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	/* Any other failure is one, named, and a DELETE is not retried. */
	ck_assert_int_eq(label(&c, "boom", 0), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "remove a label of "
	                             "acme/api#12"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "500"));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "DELETE", "/repos/acme/api/issues/12/"
	                            "labels/boom"), 1);

	afk__call_init(&c, AFK__CALL_CLOSE_ISSUE, NULL);
	ck_assert_msg(T->close_issue(&c, "acme/api", 12, T->userdata) == 0,
	              "%s", msg_of(&c));
	afk__call_clear(&c);
	b = last_body(&S, "PATCH", "/repos/acme/api/issues/12");
	ck_assert_str_eq(json_string_value(json_object_get(b, "state")),
	                 "closed");
	json_decref(b);
}
END_TEST

START_TEST(t_close_error)
{
	afk_call c;

	srv_script(&S, "{'default': {'status': 410, 'json': {'message':"
	           " 'Issues are disabled'}}}");
	afk__call_init(&c, AFK__CALL_CLOSE_ISSUE, NULL);
	ck_assert_int_eq(T->close_issue(&c, "acme/api", 3, T->userdata),
	                 AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "close the issue of "
	                             "acme/api#3"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "410"));
	afk__call_clear(&c);
}
END_TEST

/* --- comments -------------------------------------------------------- */

#define MARK "<!-- afk:checklist -->"
#define COMMENT(id, who, body) "{'id': " #id ", 'user': {'login': '" who \
	"'}, 'body': '" body "', 'html_url': 'https://github.com/acme/api/" \
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
	  "'/user': {'json': {'login': 'afk-bot'}},"
	  "'/repos/acme/api/issues/7/comments?per_page=100': {'headers':"
	  " {'Link': '<http://127.0.0.1:{port}/repos/acme/api/issues/7/"
	  "comments?per_page=100&page=2>; rel=`next`'}, 'json': ["
	  COMMENT(101, "mallory", MARK " forged") ","
	  COMMENT(102, "afk-bot", "unrelated") "]},"
	  "'/repos/acme/api/issues/7/comments?per_page=100&page=2': {'json': ["
	  COMMENT(103, "afk-bot", "real " MARK) ","
	  COMMENT(104, "afk-bot", "second " MARK) "]},"
	  "'/repos/acme/api/issues/comments/103': {'json': {'id': 103}}}}");
	ck_assert_msg(find(&c) == 0, "%s", msg_of(&c));
	ck_assert_ptr_nonnull(c.comment);
	ck_assert_str_eq(c.comment, "real " MARK);
	ck_assert_str_eq(c.url, "https://github.com/acme/api/issues/7");
	afk__call_clear(&c);

	/* Edited in place: the first own marked comment, never a new one. */
	ck_assert_msg(upsert(&c, "new " MARK) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	b = last_body(&S, "PATCH", "/repos/acme/api/issues/comments/103");
	ck_assert_str_eq(json_string_value(json_object_get(b, "body")),
	                 "new " MARK);
	json_decref(b);
	ck_assert_uint_eq(count_req(&S, "POST", "/"), 0);
	ck_assert_uint_eq(count_req(&S, "PATCH", "/"), 1);
	/* The own login is read once per tracker. */
	ck_assert_uint_eq(count_req(&S, "GET", "/user"), 1);
}
END_TEST

START_TEST(t_comments_none_own)
{
	afk_call c;
	json_t *b;

	srv_script(&S, "{'routes': {"
	  "'/user': {'json': {'login': 'afk-bot'}},"
	  "'/repos/acme/api/issues/7/comments': {'json': ["
	  COMMENT(101, "mallory", MARK " forged") "]},"
	  "'/repos/acme/api/issues/7/comments?per_page=100': {'json': ["
	  COMMENT(101, "mallory", MARK " forged") "]}}}");
	ck_assert_msg(find(&c) == 0, "%s", msg_of(&c));
	ck_assert_ptr_null(c.comment);
	afk__call_clear(&c);
	ck_assert_msg(upsert(&c, "mine " MARK) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	b = last_body(&S, "POST", "/repos/acme/api/issues/7/comments");
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
	  "'/user': {'status': 401, 'json': {'message': 'Bad credentials "
	  TOKEN "'}},"
	  "'/repos/acme/api/issues/7/comments': {'json': []}}}");
	ck_assert_int_eq(upsert(&c, "x " MARK), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "own user"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "401"));
	ck_assert_ptr_null(strstr(msg_of(&c), TOKEN));
	afk__call_clear(&c);

	/* A user without a login, empty or absent, is no answer either. */
	srv_script(&S, "{'routes': {'/user': {'json': {'login': ''}},"
	  "'/repos/acme/api/issues/7/comments': {'json': []}}}");
	ck_assert_int_eq(upsert(&c, "x " MARK), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "has no login"));
	afk__call_clear(&c);
	srv_script(&S, "{'routes': {'/user': {'json': {'id': 1}},"
	  "'/repos/acme/api/issues/7/comments': {'json': []}}}");
	ck_assert_int_eq(upsert(&c, "x " MARK), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "has no login"));
	afk__call_clear(&c);
	/* Nothing was written without knowing whose comments count. */
	ck_assert_uint_eq(count_req(&S, "POST", "/"), 0);
}
END_TEST

/* --- CI -------------------------------------------------------------- */

/* A PR n of repo by who (the agent, afk-bot, when not said) mentions
 * the issue. */
#define XREF_BY(repo, n, who) "{'event': 'cross-referenced', 'source':" \
	" {'type': 'issue', 'issue': {'number': " #n ", 'pull_request':" \
	" {'url': 'x'}, 'user': {'login': '" who "'}, 'repository':" \
	" {'full_name': '" repo "'}}}}"
#define XREF(repo, n) XREF_BY(repo, n, "afk-bot")

/* Scripts a PR #10 (open, head abc123) linked to acme/api#5, with the
 * given statuses and check runs (JSON array contents). */
static void ci_script(const char *pr10, const char *statuses,
                      const char *runs)
{
	char *text = afk__aprintf("{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  LABELED("alice", RL) "," XREF("other/repo", 11) ","
	  XREF("acme/api", 10) "," XREF("acme/api", 9) "]},"
	  "'/repos/acme/api/pulls/10': {'json': %s},"
	  "'/repos/acme/api/pulls/9': {'json': {'number': 9, 'state':"
	  " 'closed', 'merged': false, 'merged_at': null, 'head': {'sha':"
	  " 'old'}}},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'state':"
	  " 'pending', 'statuses': [%s]}},"
	  "'/repos/acme/api/commits/abc123/check-runs': {'json':"
	  " {'total_count': 0, 'check_runs': [%s]}}}}", pr10, statuses, runs);

	ck_assert_ptr_nonnull(text);
	srv_script(&S, text);
	free(text);
}

/* The agent's own PR: by afk-bot, from a branch of the repository (id
 * 77) itself. */
#define OWN "'user': {'login': 'afk-bot'}, 'base': {'ref': 'main', " \
	"'repo': {'id': 77, 'full_name': 'acme/api'}}, "
#define HEAD(sha) "'head': {'sha': '" sha "', 'ref': 'afk/issue-5', " \
	"'repo': {'id': 77, 'full_name': 'acme/api'}}"
#define PR_OPEN "{'number': 10, 'state': 'open', 'merged': false, " \
	"'merged_at': null, " OWN HEAD("abc123") "}"
#define PR_MERGED "{'number': 10, 'state': 'closed', 'merged': true, " \
	"'merged_at': '2026-01-01T00:00:00Z', " OWN HEAD("abc123") "}"
#define ST(ctx, s) "{'context': '" ctx "', 'state': '" s "', " \
	"'target_url': 'https://ci.example/" ctx "'}"
#define RUN(name, st, concl) "{'name': '" name "', 'status': '" st "', " \
	"'conclusion': " concl ", 'html_url': 'https://github.com/run/" \
	name "'}"

static int ci_status(afk_call *c, long number)
{
	afk__call_init(c, AFK__CALL_CI_STATUS, NULL);
	return CI->status(c, "acme/api", number, CI->userdata);
}

START_TEST(t_ci_states)
{
	static const struct {
		const char *statuses, *runs;
		int want;
		const char *failing; /* the one failing name, or NULL */
	} cases[] = {
		{"", "", AFK_STATUS_NONE, NULL},
		{ST("lint", "success"), RUN("build", "completed", "'success'"),
		 AFK_STATUS_SUCCESS, NULL},
		{"", RUN("build", "completed", "'skipped'") ","
		 RUN("docs", "completed", "'neutral'"), AFK_STATUS_SUCCESS, NULL},
		{ST("lint", "pending"), RUN("build", "completed", "'success'"),
		 AFK_STATUS_PENDING, NULL},
		{ST("lint", "success"), RUN("build", "in_progress", "null"),
		 AFK_STATUS_PENDING, NULL},
		{"", RUN("build", "queued", "null"), AFK_STATUS_PENDING, NULL},
		{ST("lint", "failure"), RUN("build", "in_progress", "null"),
		 AFK_STATUS_FAILURE, "lint"},
		{ST("lint", "error"), "", AFK_STATUS_FAILURE, "lint"},
		{ST("lint", "pending"), RUN("build", "completed", "'failure'"),
		 AFK_STATUS_FAILURE, "build"},
		{"", RUN("build", "completed", "'timed_out'"),
		 AFK_STATUS_FAILURE, "build"},
		{ST("lint", "success"), RUN("e2e", "completed", "'cancelled'") ","
		 RUN("unit", "completed", "'success'"), AFK_STATUS_FAILURE,
		 "e2e"},
	};
	afk_call c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		ci_script(PR_OPEN, cases[i].statuses, cases[i].runs);
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
	/* The PR of another repository was never read. */
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/other/"), 0);
}
END_TEST

START_TEST(t_ci_merged_and_none)
{
	afk_call c;
	size_t before;

	ci_script(PR_MERGED, ST("lint", "success"), "");
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_MERGED);
	ck_assert_str_eq(c.head, "abc123");
	ck_assert_int_eq(c.ci, AFK_STATUS_SUCCESS);
	afk__call_clear(&c);

	/* No linked PR: none, and nothing else read. */
	before = srv_count(&S);
	srv_script(&S, "{'routes': {'/repos/acme/api/issues/6/timeline':"
	           " {'json': [" LABELED("alice", RL) "]}}}");
	ck_assert_msg(ci_status(&c, 6) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_NONE);
	ck_assert_int_eq(c.ci, AFK_STATUS_NONE);
	afk__call_clear(&c);
	ck_assert_uint_eq(srv_count(&S), before + 1);
}
END_TEST

/* PR n of acme/api by who, from the repository itself (head repo id 77)
 * or a fork (id 99), open or merged. */
#define PR_BY(n, who, hid, state, merged) "{'number': " #n ", 'state': '" \
	state "', 'merged': " merged ", 'merged_at': null, 'user': " \
	"{'login': '" who "'}, 'base': {'ref': 'main', 'repo': {'id': 77}}, " \
	"'head': {'sha': 'sha" #n "', 'ref': 'b" #n "', 'repo': {'id': " \
	#hid "}}}"
/* The timeline of acme/api#5: a fork PR of the agent's login (#20),
 * an open PR from a branch of the repository by a stranger (#21), an
 * unrelated merged one by a stranger (#22), one whose event names the
 * agent but whose answer another author (#23), a fork PR whose head
 * repository is gone (#24), and the agent's own (#10, when own). */
static void hostile_script(int own)
{
	char *text = afk__aprintf("{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  LABELED("alice", RL) "," XREF("acme/api", 20) ","
	  XREF_BY("acme/api", 21, "mallory") ","
	  XREF_BY("acme/api", 22, "mallory") "," XREF("acme/api", 23) ","
	  XREF("acme/api", 24) "%s]},"
	  "'/repos/acme/api/pulls/10': {'json': " PR_OPEN "},"
	  "'/repos/acme/api/pulls/20': {'json': "
	  PR_BY(20, "afk-bot", 99, "open", "false") "},"
	  "'/repos/acme/api/pulls/21': {'json': "
	  PR_BY(21, "mallory", 77, "open", "false") "},"
	  "'/repos/acme/api/pulls/22': {'json': "
	  PR_BY(22, "mallory", 77, "closed", "true") "},"
	  "'/repos/acme/api/pulls/23': {'json': "
	  PR_BY(23, "mallory", 77, "closed", "true") "},"
	  "'/repos/acme/api/pulls/24': {'json': {'number': 24, 'state':"
	  " 'closed', 'merged': true, 'user': {'login': 'afk-bot'}, 'base':"
	  " {'repo': {'id': 77}}, 'head': {'sha': 'sha24', 'repo': null}}},"
	  "'/user': {'json': {'login': 'AFK-bot'}},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'statuses':"
	  " [" ST("lint", "success") "]}},"
	  "'/repos/acme/api/commits/abc123/check-runs': {'json':"
	  " {'total_count': 0, 'check_runs': []}}},"
	  "'default': {'status': 599}}",
	  own ? ", " XREF("acme/api", 10) : "");

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
	ck_assert_uint_eq(c.failing.n, 0);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/pulls/20"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/pulls/21"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/pulls/22"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/commits/"), 0);
	/* agent_logins given: the token's own user is not asked. */
	ck_assert_uint_eq(count_req(&S, "GET", "/user"), 0);

	hostile_script(1);
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_OPEN);
	ck_assert_str_eq(c.head, "abc123");
	ck_assert_str_eq(c.pr_info, "#10 (afk-bot, branch afk/issue-5)");
	ck_assert_int_eq(c.ci, AFK_STATUS_SUCCESS);
	afk__call_clear(&c);
}
END_TEST

/* Without agent_logins the CI token's own login is the one author: read
 * once (GET /user), compared without case. */
START_TEST(t_ci_own_pr_default)
{
	afk_config *cfg;
	afk_ci *ci;
	afk_call c;
	char *text = afk__aprintf("{\"ci\": {\"kind\": \"github\", "
	                          "\"api_url\": \"%s\", \"token_env\": \""
	                          TOKEN_ENV "\"}}", S.base);
	size_t before;
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
		if (k)
			ck_assert_str_eq(c.pr_info, "#10 (afk-bot, branch "
			                 "afk/issue-5)");
		afk__call_clear(&c);
		ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/pulls/"
		                            "21"), 0);
		ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/pulls/"
		                            "22"), 0);
	}
	/* Read the first time only. */
	ck_assert_uint_eq(count_req(&S, "GET", "/user"), 1);

	/* A token whose user is someone else: no PR is the agent's. */
	afk_ci_free(ci);
	ck_assert_int_eq(afk_ci_new(&ci), 0);
	ck_assert_int_eq(afk_config_new(&cfg), 0);
	text = afk__aprintf("{\"ci\": {\"kind\": \"github\", \"api_url\": "
	                    "\"%s\", \"token_env\": \"" TOKEN_ENV "\"}}",
	                    S.base);
	ck_assert_int_eq(afk_config_load_string(cfg, text), 0);
	free(text);
	ck_assert_int_eq(afk_ci_set_builtin(ci, cfg), 0);
	afk_config_free(cfg);
	srv_script(&S, "{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  XREF("acme/api", 10) "]},"
	  "'/repos/acme/api/pulls/10': {'json': " PR_OPEN "},"
	  "'/user': {'json': {'login': 'ci-reader'}}},"
	  "'default': {'status': 599}}");
	before = count_req(&S, "GET", "/repos/acme/api/pulls/");
	afk__call_init(&c, AFK__CALL_CI_STATUS, NULL);
	ck_assert_msg(ci->status(&c, "acme/api", 5, ci->userdata) == 0, "%s",
	              msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_NONE);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/user"), 2);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/pulls/"),
	                  before);
	afk_ci_free(ci);
}
END_TEST

/* afk_call_set_pr_info(): only from ci_status, a positive number. */
START_TEST(t_pr_info_api)
{
	afk_call c;

	afk__call_init(&c, AFK__CALL_CI_STATUS, NULL);
	ck_assert_int_eq(afk_call_set_pr_info(&c, 0, "a", "b"), AFK_EINVAL);
	ck_assert_int_eq(afk_call_set_pr_info(&c, 3, "\xff", "b"),
	                 AFK_EINVAL);
	ck_assert_int_eq(afk_call_set_pr_info(&c, 3, NULL, NULL), 0);
	ck_assert_str_eq(c.pr_info, "#3");
	ck_assert_int_eq(afk_call_set_pr_info(&c, 4, "bot", NULL), 0);
	ck_assert_str_eq(c.pr_info, "#4 (bot)");
	ck_assert_int_eq(afk_call_set_pr_info(&c, 5, NULL, "x"), 0);
	ck_assert_str_eq(c.pr_info, "#5 (branch x)");
	afk__call_clear(&c);
	afk__call_init(&c, AFK__CALL_SNAPSHOT, NULL);
	ck_assert_int_eq(afk_call_set_pr_info(&c, 3, "a", "b"), AFK_EINVAL);
	afk__call_clear(&c);
	ck_assert_int_eq(afk_call_set_pr_info(NULL, 3, "a", "b"), AFK_EINVAL);
}
END_TEST

/* The CI status of acme/api#9 whose timeline has n events: the
 * in-progress label added at index lab (none when < 0), the agent's PR
 * #10 linked at index xref. */
static int busy_ci(afk_call *c, size_t n, long lab, long xref)
{
	json_t *items = json_array(), *routes = json_object();
	size_t i;

	for (i = 0; i < n; i++) {
		if ((long)i == lab)
			json_array_append_new(items, json_pack("{s:s, s:{s:s},"
			        " s:{s:s}}", "event", "labeled", "actor", "login",
			        "afk-bot", "label", "name", IL));
		else if ((long)i == xref)
			json_array_append_new(items, json_pack("{s:s, s:{s:s,"
			        " s:{s:i, s:{s:s}, s:{s:s}, s:{s:s}}}}", "event",
			        "cross-referenced", "source", "type", "issue",
			        "issue", "number", 10, "pull_request", "url", "x",
			        "user", "login", "afk-bot", "repository",
			        "full_name", "acme/api"));
		else
			json_array_append_new(items, json_pack("{s:s, s:{s:s}}",
			        "event", "commented", "actor", "login",
			        "mallory"));
	}
	srv_add_pages(routes, "/repos/acme/api/issues/9/timeline?per_page=100",
	              items, 100, 1);
	json_object_set_new(routes, "/repos/acme/api/pulls/10",
	                    json_pack("{s:o}", "json", json_loads("{\"number\":"
	                    " 10, \"state\": \"open\", \"merged\": false, "
	                    "\"user\": {\"login\": \"afk-bot\"}, \"base\": "
	                    "{\"repo\": {\"id\": 77}}, \"head\": {\"sha\": "
	                    "\"abc123\", \"ref\": \"afk/issue-9\", \"repo\": "
	                    "{\"id\": 77}}}", 0, NULL)));
	json_object_set_new(routes, "/repos/acme/api/commits/abc123/status",
	                    json_pack("{s:{s:[]}}", "json", "statuses"));
	json_object_set_new(routes, "/repos/acme/api/commits/abc123/check-runs",
	                    json_pack("{s:{s:i, s:[]}}", "json", "total_count",
	                              0, "check_runs"));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	return ci_status(c, 9);
}

/* A busy issue's timeline - eleven pages, more than http.max_pages -
 * never fails the CI status: it is read from the end back to the
 * dispatch (the in-progress label), where the run's PR is linked. */
START_TEST(t_ci_busy_timeline)
{
	const char *tl = "/repos/acme/api/issues/9/timeline";
	afk_call c;

	ck_assert_msg(busy_ci(&c, 1050, 950, 1000) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_OPEN);
	ck_assert_str_eq(c.pr_info, "#10 (afk-bot, branch afk/issue-9)");
	afk__call_clear(&c);
	/* pages 1, 11 and 10 */
	ck_assert_uint_eq(count_req(&S, "GET", tl), 3);

	/* No dispatch in the last ten pages, the PR linked only on the
	 * first: not seen - no PR, and no failure. */
	ck_assert_msg(busy_ci(&c, 1150, -1, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_NONE);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", tl), 3 + 11);
}
END_TEST

START_TEST(t_ci_pages)
{
	afk_call c;

	/* 150 check runs: the failing one is on page 2. */
	srv_script(&S, "{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  XREF("acme/api", 10) "]},"
	  "'/repos/acme/api/pulls/10': {'json': " PR_OPEN "},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'total_count':"
	  " 1, 'statuses': [" ST("lint", "success") "]}},"
	  "'/repos/acme/api/commits/abc123/check-runs?per_page=100': {'json':"
	  " {'total_count': 150, 'check_runs': ["
	  RUN("unit", "completed", "'success'") "]}},"
	  "'/repos/acme/api/commits/abc123/check-runs?per_page=100&page=2':"
	  " {'json': {'total_count': 150, 'check_runs': ["
	  RUN("e2e", "completed", "'failure'") "]}}}}");
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.ci, AFK_STATUS_FAILURE);
	ck_assert_uint_eq(c.failing.n, 1);
	ck_assert_str_eq(c.failing.v[0], "e2e");
	afk__call_clear(&c);

	/* More than the pages read, none failing: pending, never success. */
	srv_script(&S, "{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  XREF("acme/api", 10) "]},"
	  "'/repos/acme/api/pulls/10': {'json': " PR_OPEN "},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'total_count':"
	  " 0, 'statuses': []}},"
	  "'/repos/acme/api/commits/abc123/check-runs': {'json':"
	  " {'total_count': 5000, 'check_runs': ["
	  RUN("unit", "completed", "'success'") "]}}}}");
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.ci, AFK_STATUS_PENDING);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/commits/abc123/"
	                            "check-runs?per_page=100&page=10"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/commits/abc123/"
	                            "check-runs?per_page=100&page=11"), 0);
}
END_TEST

/* A total_count at the top of the integers (a broken or hostile API)
 * is clamped like any large one, without overflow: the pages that can
 * be read are, and the rest count as pending. */
START_TEST(t_ci_huge_total)
{
	afk_call c;

	srv_script(&S, "{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  XREF("acme/api", 10) "]},"
	  "'/repos/acme/api/pulls/10': {'json': " PR_OPEN "},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'total_count':"
	  " 9223372036854775807, 'statuses': [" ST("lint", "success") "]}},"
	  "'/repos/acme/api/commits/abc123/check-runs': {'json':"
	  " {'total_count': 9223372036854775807, 'check_runs': ["
	  RUN("unit", "completed", "'success'") "]}}}}");
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.ci, AFK_STATUS_PENDING);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/commits/abc123/"
	                            "check-runs?per_page=100&page=10"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/commits/abc123/"
	                            "check-runs?per_page=100&page=11"), 0);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/commits/abc123/"
	                            "status?per_page=100&page=10"), 1);
}
END_TEST

START_TEST(t_ci_errors)
{
	afk_call c;

	srv_script(&S, "{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  XREF("acme/api", 10) "]},"
	  "'/repos/acme/api/pulls/10': {'json': " PR_OPEN "},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'statuses': []}},"
	  "'/repos/acme/api/commits/abc123/check-runs': {'status': 403,"
	  " 'json': {'message': 'Resource not accessible by integration'}}}}");
	ck_assert_int_eq(ci_status(&c, 5), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "check runs of acme/api@"
	                             "abc123"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "403"));
	ck_assert_ptr_null(strstr(msg_of(&c), TOKEN));
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

/* --- deploy --------------------------------------------------------- */

#define ENV "prod eu"          /* sent as prod%20eu */
#define DEPLOYS "/repos/acme/api/deployments?sha=m3rge&environment=" \
	"prod%20eu&per_page=100"
#define PR_MERGED_SHA "{'number': 10, 'state': 'closed', 'merged': true, " \
	"'merged_at': '2026-01-01T00:00:00Z', " OWN HEAD("abc123") ", " \
	"'merge_commit_sha': 'm3rge'}"
#define DEP(id, at) "{'id': " #id ", 'sha': 'm3rge', 'environment': '" \
	ENV "', 'created_at': '" at "'}"
#define DST(id, st, at) "{'id': " #id ", 'state': '" st "', " \
	"'created_at': '" at "', 'log_url': 'https://ci.example/deploy/" \
	#id "', 'target_url': '', 'environment_url': ''}"

/* A CI like the fixture's, with deploy_environment env. */
static afk_ci *deploy_ci(const char *env)
{
	afk_config *cfg;
	afk_ci *ci;
	char *text = afk__aprintf("{\"ci\": {\"kind\": \"github\", "
	                          "\"api_url\": \"%s\", \"token_env\": \""
	                          TOKEN_ENV "\", \"deploy_environment\": "
	                          "\"%s\", \"agent_logins\": [\"afk-bot\"]}}",
	                          S.base, env);

	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_msg(afk_config_load_string(cfg, text) == 0, "%s",
	              afk_config_errmsg(cfg));
	free(text);
	ck_assert_int_eq(afk_ci_new(&ci), 0);
	ck_assert_msg(afk_ci_set_builtin(ci, cfg) == 0, "%s",
	              afk_ci_errmsg(ci));
	afk_config_free(cfg);
	return ci;
}

/* Scripts PR #10 (pr) linked to acme/api#5 with a green CI, the
 * deployments of m3rge (deps, the answer to DEPLOYS) and the statuses of
 * deployment 7 (sts, JSON array contents). */
static void deploy_script(const char *pr, const char *deps, const char *sts)
{
	char *text = afk__aprintf("{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  XREF("acme/api", 10) "]},"
	  "'/repos/acme/api/pulls/10': {'json': %s},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'statuses': ["
	  ST("lint", "success") "]}},"
	  "'/repos/acme/api/commits/abc123/check-runs': {'json':"
	  " {'total_count': 0, 'check_runs': []}},"
	  "'%s': %s,"
	  "'/repos/acme/api/deployments/7/statuses?per_page=100': {'json':"
	  " [%s]}}, 'default': {'status': 404, 'json': {'message':"
	  " 'Not Found'}}}", pr, DEPLOYS, deps, sts);

	ck_assert_ptr_nonnull(text);
	srv_script(&S, text);
	free(text);
}

static int deploy_status(afk_call *c, afk_ci *ci)
{
	afk__call_init(c, AFK__CALL_CI_STATUS, NULL);
	return ci->status(c, "acme/api", 5, ci->userdata);
}

/* Each state of deployment 7's newest status, and no status yet. */
START_TEST(t_deploy_states)
{
	static const struct {
		const char *statuses;
		int want;
	} cases[] = {
		{DST(1, "success", "2026-01-02T00:00:00Z"), AFK_STATUS_SUCCESS},
		{DST(1, "inactive", "2026-01-02T00:00:00Z"), AFK_STATUS_SUCCESS},
		{DST(1, "failure", "2026-01-02T00:00:00Z"), AFK_STATUS_FAILURE},
		{DST(1, "error", "2026-01-02T00:00:00Z"), AFK_STATUS_FAILURE},
		{DST(1, "pending", "2026-01-02T00:00:00Z"), AFK_STATUS_PENDING},
		{DST(1, "queued", "2026-01-02T00:00:00Z"), AFK_STATUS_PENDING},
		{DST(1, "in_progress", "2026-01-02T00:00:00Z"),
		 AFK_STATUS_PENDING},
		{DST(1, "something_new", "2026-01-02T00:00:00Z"),
		 AFK_STATUS_PENDING},
		{"", AFK_STATUS_PENDING},
	};
	afk_ci *ci = deploy_ci(ENV);
	afk_call c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		deploy_script(PR_MERGED_SHA, "{'json': [" DEP(7,
		              "2026-01-01T00:00:00Z") "]}", cases[i].statuses);
		ck_assert_msg(deploy_status(&c, ci) == 0, "case %zu: %s", i,
		              msg_of(&c));
		ck_assert_int_eq(c.pr, AFK_PR_MERGED);
		ck_assert_int_eq(c.ci, AFK_STATUS_SUCCESS);
		ck_assert_msg(c.deploy == cases[i].want, "case %zu: deploy %d, "
		              "want %d", i, c.deploy, cases[i].want);
		if (cases[i].want == AFK_STATUS_FAILURE) {
			ck_assert_uint_eq(c.failing.n, 1);
			ck_assert_str_eq(c.failing.v[0], "deployment to " ENV);
			ck_assert_str_eq(c.failing_urls.v[0],
			                 "https://ci.example/deploy/1");
		} else {
			ck_assert_uint_eq(c.failing.n, 0);
		}
		afk__call_clear(&c);
	}
	/* one of each per case (the log is never cleared) */
	ck_assert_uint_eq(count_req(&S, "GET", DEPLOYS), i);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments/7/"
	                            "statuses?per_page=100"), i);
	afk_ci_free(ci);
}
END_TEST

/* The newest deployment and status win whatever the order: the largest
 * created_at, on a tie the largest id.  A failure's link falls back to
 * target_url when log_url is empty. */
START_TEST(t_deploy_newest)
{
	afk_ci *ci = deploy_ci(ENV);
	afk_call c;

	srv_script(&S, "{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  XREF("acme/api", 10) "]},"
	  "'/repos/acme/api/pulls/10': {'json': " PR_MERGED_SHA "},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'statuses': []}},"
	  "'/repos/acme/api/commits/abc123/check-runs': {'json':"
	  " {'total_count': 0, 'check_runs': []}},"
	  "'" DEPLOYS "': {'json': [" DEP(7, "2026-01-02T00:00:00Z") ","
	  DEP(12, "2026-01-03T00:00:00Z") "," DEP(3, "2026-01-01T00:00:00Z")
	  "," DEP(11, "2026-01-03T00:00:00Z") "]},"
	  "'/repos/acme/api/deployments/12/statuses?per_page=100': {'json': ["
	  DST(1, "success", "2026-01-03T01:00:00Z") ","
	  DST(5, "failure", "2026-01-03T03:00:00Z") ","
	  DST(4, "pending", "2026-01-03T03:00:00Z") ","
	  DST(6, "in_progress", "2026-01-03T02:00:00Z") "]}},"
	  "'default': {'status': 404, 'json': {'message': 'Not Found'}}}");
	ck_assert_msg(deploy_status(&c, ci) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.ci, AFK_STATUS_NONE);
	ck_assert_int_eq(c.deploy, AFK_STATUS_FAILURE);
	ck_assert_uint_eq(c.failing.n, 1);
	ck_assert_str_eq(c.failing.v[0], "deployment to " ENV);
	ck_assert_str_eq(c.failing_urls.v[0], "https://ci.example/deploy/5");
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments/"
	                            "12/statuses"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments/"
	                            "11/"), 0);

	/* A failure without log_url: its target_url, then environment_url. */
	deploy_script(PR_MERGED_SHA, "{'json': [" DEP(7,
	              "2026-01-01T00:00:00Z") "]}", "{'id': 1, 'state':"
	              " 'error', 'created_at': '2026-01-02T00:00:00Z',"
	              " 'target_url': 'https://ci.example/target',"
	              " 'environment_url': 'https://prod.example'}");
	ck_assert_msg(deploy_status(&c, ci) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.deploy, AFK_STATUS_FAILURE);
	ck_assert_str_eq(c.failing_urls.v[0], "https://ci.example/target");
	afk__call_clear(&c);
	deploy_script(PR_MERGED_SHA, "{'json': [" DEP(7,
	              "2026-01-01T00:00:00Z") "]}", "{'id': 1, 'state':"
	              " 'failure', 'created_at': '2026-01-02T00:00:00Z',"
	              " 'target_url': '',"
	              " 'environment_url': 'https://prod.example'}");
	ck_assert_msg(deploy_status(&c, ci) == 0, "%s", msg_of(&c));
	ck_assert_str_eq(c.failing_urls.v[0], "https://prod.example");
	afk__call_clear(&c);
	afk_ci_free(ci);
}
END_TEST

/* No deployment yet: pending, and no status read.  Not merged: none,
 * nothing read.  No deploy_environment: none, nothing read. */
START_TEST(t_deploy_none_and_pending)
{
	afk_ci *ci = deploy_ci(ENV);
	afk_call c;
	size_t before;

	deploy_script(PR_MERGED_SHA, "{'json': []}", "");
	ck_assert_msg(deploy_status(&c, ci) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.deploy, AFK_STATUS_PENDING);
	ck_assert_uint_eq(c.failing.n, 0);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", DEPLOYS), 1);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments/"
	                            "7/"), 0);

	/* An open PR: none, whatever was deployed. */
	before = count_req(&S, "GET", "/repos/acme/api/deployments");
	deploy_script(PR_OPEN, "{'json': [" DEP(7, "2026-01-01T00:00:00Z")
	              "]}", DST(1, "success", "2026-01-02T00:00:00Z"));
	ck_assert_msg(deploy_status(&c, ci) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_OPEN);
	ck_assert_int_eq(c.deploy, AFK_STATUS_NONE);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments"),
	                  before);

	/* The fixture's CI names no environment: none, nothing read. */
	deploy_script(PR_MERGED_SHA, "{'json': [" DEP(7,
	              "2026-01-01T00:00:00Z") "]}",
	              DST(1, "success", "2026-01-02T00:00:00Z"));
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_MERGED);
	ck_assert_int_eq(c.ci, AFK_STATUS_SUCCESS);
	ck_assert_int_eq(c.deploy, AFK_STATUS_NONE);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments"),
	                  before);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/pulls/10"), 3);
	afk_ci_free(ci);
}
END_TEST

START_TEST(t_deploy_errors)
{
	afk_ci *ci = deploy_ci(ENV);
	afk_call c;
	size_t before;

	/* A 500 on the deployments: the call and the status named, no
	 * token. */
	deploy_script(PR_MERGED_SHA, "{'status': 500, 'json': {'message':"
	              " 'boom " TOKEN "'}}", "");
	ck_assert_int_eq(deploy_status(&c, ci), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "read the deployments of "
	                             "acme/api@m3rge"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "500"));
	ck_assert_ptr_null(strstr(msg_of(&c), TOKEN));
	afk__call_clear(&c);

	/* A 403 on the deployment's statuses. */
	srv_script(&S, "{'routes': {"
	  "'/repos/acme/api/issues/5/timeline': {'json': ["
	  XREF("acme/api", 10) "]},"
	  "'/repos/acme/api/pulls/10': {'json': " PR_MERGED_SHA "},"
	  "'/repos/acme/api/commits/abc123/status': {'json': {'statuses': []}},"
	  "'/repos/acme/api/commits/abc123/check-runs': {'json':"
	  " {'total_count': 0, 'check_runs': []}},"
	  "'" DEPLOYS "': {'json': [" DEP(7, "2026-01-01T00:00:00Z") "]},"
	  "'/repos/acme/api/deployments/7/statuses': {'status': 403,"
	  " 'json': {'message': 'Resource not accessible'}}}}");
	ck_assert_int_eq(deploy_status(&c, ci), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "read the statuses of "
	                             "deployment 7 of acme/api@m3rge"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "403"));
	afk__call_clear(&c);

	/* Not a JSON array. */
	deploy_script(PR_MERGED_SHA, "{'json': {'id': 7}}", "");
	ck_assert_int_eq(deploy_status(&c, ci), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "read the deployments of "
	                             "acme/api@m3rge"));
	afk__call_clear(&c);

	/* The newest deployment without an id. */
	deploy_script(PR_MERGED_SHA, "{'json': [{'created_at':"
	              " '2026-01-01T00:00:00Z'}]}", "");
	ck_assert_int_eq(deploy_status(&c, ci), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "no id"));
	afk__call_clear(&c);

	/* Merged, without merge_commit_sha: the PR named. */
	before = count_req(&S, "GET", "/repos/acme/api/deployments");
	deploy_script(PR_MERGED, "{'json': []}", "");
	ck_assert_int_eq(deploy_status(&c, ci), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "acme/api#10"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "merge_commit_sha"));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments"),
	                  before);
	afk_ci_free(ci);
}
END_TEST

/* --- the probe ------------------------------------------------------ */

/* GET /user, read-only, for the tracker and the CI: 200 is reachable,
 * a 401 fails naming the status, never the token. */
START_TEST(t_probe)
{
	srv_script(&S, "{'routes': {'/user': {'json': {'login': 'afk-bot',"
	           " 'id': 1}}}, 'default': {'status': 599}}");
	ck_assert_msg(afk_tracker_probe(T) == 0, "%s", afk_tracker_errmsg(T));
	ck_assert_str_eq(afk_tracker_errmsg(T), "");
	ck_assert_msg(afk_ci_probe(CI) == 0, "%s", afk_ci_errmsg(CI));
	ck_assert_uint_eq(count_req(&S, "GET", "/user"), 2);
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

#define CLOSED_GH(repo) "/repos/" repo "/issues?state=closed&labels=" IL \
	"&per_page=100"
#define CLOSED_ISSUE(n) "{'number': " #n ", 'state': 'closed', " \
	"'labels': [" LAB(IL) "]}"
#define CLOSED_PR(n) "{'number': " #n ", 'state': 'closed', " \
	"'pull_request': {}, 'labels': [" LAB(IL) "]}"

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
	           "'" CLOSED_GH("acme/api") "': {'etag': '`c1`', 'json': ["
	           CLOSED_ISSUE(3) ", " CLOSED_PR(4) "]},"
	           "'" CLOSED_GH("acme/web") "': {'status': 500, 'json': {}}}}");
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
	ck_assert_uint_eq(count_req(&S, "GET", CLOSED_GH("acme/api")), 2);
	{
		size_t i, seen = 0;

		for (i = 0; i < json_array_size(log); i++)
			if (strcmp(log_str(log, i, "path"), CLOSED_GH("acme/api")) == 0 &&
			    strcmp(log_header(log, i, "if-none-match"),
			           "\"c1\"") == 0)
				seen++;
		ck_assert_uint_eq(seen, 1);
	}
	json_decref(log);
}
END_TEST

/* --- the contract, against GitHub's OpenAPI description --------------- */

/* Runs only when AFK_GITHUB_CONTRACT_URL names a validating mock of
 * GitHub's OpenAPI description (@octokit/openapi served by
 * @stoplight/prism-cli "mock"): a request the description rejects is
 * answered 422 or carries an sl-violations header, which the scripted
 * server turns into a 599.  The scripted server forwards to it (and
 * drops the mock's Link headers, which point at api.github.com; asks
 * for application/json, the one media type the description lists,
 * where the adapter asks for GitHub's recommended
 * application/vnd.github+json, which the mock refuses), except
 * for the few answers scripted here so that every endpoint is reached.
 * Every callback must succeed: a 422 would fail it. */
static char *contract_script(const char *routes)
{
	const char *url = getenv("AFK_GITHUB_CONTRACT_URL");
	char *t = afk__aprintf("{'routes': {%s}, 'default': {'proxy': '%s',"
	                       " 'drop_headers': ['Link'], 'fail_on_header':"
	                       " 'sl-violations', 'set_headers':"
	                       " {'Accept': 'application/json'}}}", routes,
	                       url);

	ck_assert_ptr_nonnull(t);
	return t;
}

static void contract(const char *routes)
{
	char *t = contract_script(routes);

	srv_script(&S, t);
	free(t);
}

START_TEST(t_contract)
{
	static const char *const repos[] = {"acme/api"};
	afk__iset set;
	afk_call c;

	/* The listing: a page of open issues (the mock's example issue is
	 * a pull request)... */
	contract("");
	ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues?"), 1);
	/* The closed issues still locked (the watch's reconciliation). */
	ck_assert_msg(list_closed(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues?state=closed"), 1);
	/* ... or, past a page, the two listings by label. */
	contract("'" OPEN("acme/api") "': {'headers': {'Link': '<http://"
	         "127.0.0.1:{port}" OPEN("acme/api") "&page=2>; rel=`next`'},"
	         " 'json': []}");
	ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues?state="
	                            "open&labels="), 2);
	/* The gates of a ready issue: timeline and blockers... */
	contract("'" OPEN("acme/api") "': {'json': [" ISSUE(1, LAB(RL)) "]}");
	ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/1/"
	                            "timeline"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/1/"
	                            "dependencies/blocked_by"), 1);
	/* ... and with trust_writers the permission of a labeller who is not
	 * a trusted user. */
	ck_assert_int_eq(afk_config_set(CFG, "trust_writers", "true"), 0);
	afk_tracker_free(T);
	ck_assert_int_eq(afk_tracker_new(&T), 0);
	ck_assert_msg(afk_tracker_set_builtin(T, CFG) == 0, "%s",
	              afk_tracker_errmsg(T));
	contract("'" OPEN("acme/api") "': {'json': [" ISSUE(1, LAB(RL)) "]},"
	         "'/repos/acme/api/issues/1/timeline?per_page=100': {'json':"
	         " [" LABELED("carol", RL) "]}");
	ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/collaborators/"
	                            "carol/permission"), 1);

	contract("");
	ck_assert_msg(label(&c, "agent in progress", 1) == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	ck_assert_msg(label(&c, "agent in progress", 0) == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	afk__call_init(&c, AFK__CALL_CLOSE_ISSUE, NULL);
	ck_assert_msg(T->close_issue(&c, "acme/api", 12, T->userdata) == 0,
	              "%s", msg_of(&c));
	afk__call_clear(&c);

	/* Comments: a new one (the example comment has no marker)... */
	ck_assert_msg(find(&c) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_msg(upsert(&c, "x " MARK) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "POST", "/repos/acme/api/issues/7/"
	                            "comments"), 1);
	/* ... and an edit of the own one (the example user is octocat). */
	contract("'/repos/acme/api/issues/7/comments?per_page=100': {'json':"
	         " [" COMMENT(42, "octocat", "old " MARK) "]}");
	ck_assert_msg(upsert(&c, "y " MARK) == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "PATCH", "/repos/acme/api/issues/"
	                            "comments/42"), 1);

	/* A busy timeline read from its end: page 2 of 2, the mock's. */
	contract("'" OPEN("acme/api") "': {'json': [" ISSUE(1, LAB(RL)) "]},"
	         "'/repos/acme/api/issues/1/timeline?per_page=100': {'headers':"
	         " {'Link': '<http://127.0.0.1:{port}/repos/acme/api/issues/1/"
	         "timeline?per_page=100&page=2>; rel=`next`, <http://127.0.0.1:"
	         "{port}/repos/acme/api/issues/1/timeline?per_page=100&page=2>;"
	         " rel=`last`'}, 'json': [" LABELED("alice", RL) "]}");
	ck_assert_msg(list_ready(&c, &set, repos, 1) == 0, "%s", msg_of(&c));
	no_errors();
	ck_assert_uint_eq(ERRS.n, 0);
	afk__call_clear(&c);
	afk__iset_clear(&set);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/issues/1/"
	                            "timeline?per_page=100&page=2"), 1);

	/* CI: a linked pull request (the agent's own, scripted: the mock's
	 * example is no one's), its head's statuses and check runs. */
	contract("'/repos/acme/api/issues/5/timeline?per_page=100': {'json':"
	         " [" XREF("acme/api", 10) "]},"
	         "'/repos/acme/api/pulls/10': {'json': " PR_OPEN "}");
	ck_assert_msg(ci_status(&c, 5) == 0, "%s", msg_of(&c));
	ck_assert_int_ne(c.pr, AFK_PR_NONE);
	afk__call_clear(&c);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/pulls/10"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/commits/"), 2);
}
END_TEST

/* The deploy state: the deployments of a merged pull request's merge
 * commit to an environment, and the newest one's statuses (the example
 * deployment is 1, its example status a success). */
START_TEST(t_contract_deploy)
{
	afk_ci *ci = deploy_ci("production");
	afk_call c;

	contract("'/repos/acme/api/issues/5/timeline?per_page=100': {'json':"
	         " [" XREF("acme/api", 10) "]},"
	         "'/repos/acme/api/pulls/10': {'json': " PR_MERGED_SHA "}");
	ck_assert_msg(deploy_status(&c, ci) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_MERGED);
	ck_assert_int_eq(c.deploy, AFK_STATUS_SUCCESS);
	afk__call_clear(&c);
	afk_ci_free(ci);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments?"
	                            "sha=m3rge&environment=production&"), 1);
	ck_assert_uint_eq(count_req(&S, "GET", "/repos/acme/api/deployments/"
	                            "1/statuses?per_page=100"), 1);
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
	/* Exactly one token source. */
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"tracker\": {\"kind\":"
	                 " \"github\"}}"), AFK_ECONFIG);
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"tracker\": {\"kind\":"
	                 " \"github\", \"token_env\": \"A\", \"token_file\":"
	                 " \"/x\"}}"), AFK_ECONFIG);
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"github\", \"token_env\": \"A\", \"token\":"
	                 " \"x\"}}"), AFK_ECONFIG);
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"github\", \"token_env\": \"A\", \"api_url\":"
	                 " \"ftp://x\"}}"), AFK_ECONFIG);
	/* agent_logins: a non-empty list of distinct logins, named in the
	 * message when refused; kept and shown. */
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"github\", \"token_env\": \"A\", \"agent_logins\":"
	                 " []}}"), AFK_ECONFIG);
	ck_assert_ptr_nonnull(strstr(afk_config_errmsg(cfg),
	                             "ci.agent_logins: "));
	ck_assert_ptr_nonnull(strstr(afk_config_errmsg(cfg), "empty"));
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"forgejo\", \"api_url\": \"https://x\", \"token_env\":"
	                 " \"A\", \"agent_logins\": [\"a b\"]}}"), AFK_ECONFIG);
	ck_assert_ptr_nonnull(strstr(afk_config_errmsg(cfg), "agent_logins"));
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"github\", \"token_env\": \"A\", \"agent_logins\":"
	                 " [\"bot\", \"bot\"]}}"), AFK_ECONFIG);
	ck_assert_ptr_nonnull(strstr(afk_config_errmsg(cfg), "twice"));
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"github\", \"token_env\": \"A\", \"agent_logins\":"
	                 " \"bot\"}}"), AFK_ECONFIG);
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	                 " \"command\", \"command\": [\"x\"], \"agent_logins\":"
	                 " [\"bot\"]}}"), AFK_ECONFIG);
	ck_assert_msg(afk_config_load_string(cfg, "{\"ci\": {\"kind\":"
	              " \"github\", \"token_env\": \"A\", \"agent_logins\":"
	              " [\"afk-bot\", \"app[bot]\"]}}") == 0, "%s",
	              afk_config_errmsg(cfg));
	ck_assert_int_eq(afk_config_get(cfg, "ci", &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"agent_logins\":[\"afk-bot\","
	                             "\"app[bot]\"]"));
	afk_free(json);
	json = NULL;
	/* The token file's name is kept, never its content. */
	snprintf(path, sizeof(path), "%s/token", S.dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(TOKEN "\n", fp);
	fclose(fp);
	json = afk__aprintf("{\"tracker\": {\"kind\": \"github\", \"api_url\":"
	                    " \"%s\", \"token_file\": \"%s\"}}", S.base, path);
	ck_assert_msg(afk_config_load_string(cfg, json) == 0, "%s",
	              afk_config_errmsg(cfg));
	free(json);
	ck_assert_int_eq(afk_config_get(cfg, "tracker", &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "token_file"));
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
	                 " \"github\", \"token_env\":"
	                 " \"AFK_TEST_NO_SUCH_TOKEN\"}}"), 0);
	ck_assert_int_eq(afk_ci_new(&ci), 0);
	ck_assert_int_eq(afk_ci_set_builtin(ci, cfg), AFK_ECONFIG);
	ck_assert_ptr_nonnull(strstr(afk_ci_errmsg(ci),
	                             "AFK_TEST_NO_SUCH_TOKEN"));
	afk_ci_free(ci);
	afk_config_free(cfg);
}
END_TEST

static Suite *github_suite(void)
{
	Suite *s = suite_create("github");
	TCase *tc = tcase_create("github");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_list_ready);
	tcase_add_test(tc, t_list_closed);
	tcase_add_test(tc, t_list_ready_large);
	tcase_add_test(tc, t_list_ready_unvetted_fail_closed);
	tcase_add_test(tc, t_list_ready_memo);
	tcase_add_test(tc, t_list_ready_writers);
	tcase_add_test(tc, t_list_ready_bad_repo);
	tcase_add_test(tc, t_list_ready_errors);
	tcase_add_test(tc, t_list_ready_unvetted);
	tcase_add_test(tc, t_list_ready_busy_timeline);
	tcase_add_test(tc, t_list_ready_errors_unreported);
	tcase_add_test(tc, t_headers);
	tcase_add_test(tc, t_labels);
	tcase_add_test(tc, t_close_error);
	tcase_add_test(tc, t_comments);
	tcase_add_test(tc, t_comments_none_own);
	tcase_add_test(tc, t_comments_user_error);
	tcase_add_test(tc, t_ci_states);
	tcase_add_test(tc, t_ci_merged_and_none);
	tcase_add_test(tc, t_ci_own_pr);
	tcase_add_test(tc, t_ci_own_pr_default);
	tcase_add_test(tc, t_pr_info_api);
	tcase_add_test(tc, t_ci_busy_timeline);
	tcase_add_test(tc, t_ci_pages);
	tcase_add_test(tc, t_ci_huge_total);
	tcase_add_test(tc, t_ci_errors);
	tcase_add_test(tc, t_deploy_states);
	tcase_add_test(tc, t_deploy_newest);
	tcase_add_test(tc, t_deploy_none_and_pending);
	tcase_add_test(tc, t_deploy_errors);
	tcase_add_test(tc, t_config);
	tcase_add_test(tc, t_probe);
	suite_add_tcase(s, tc);
	if (getenv("AFK_GITHUB_CONTRACT_URL") != NULL) {
		tc = tcase_create("contract");
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 120);
		tcase_add_test(tc, t_contract);
		tcase_add_test(tc, t_contract_deploy);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return fake_run(github_suite());
}
