/*
 * lib/builtin_github.c - the "github" tracker and the "github" CI, over
 * GitHub's REST API (v3) and the HTTP layer (lib/http.h).
 *
 * Both are made through the public registration functions, as a host's
 * adapter would be.  The token comes from the environment variable or the
 * file the configuration names (never from the configuration itself), is
 * sent as "Authorization: Bearer ..." and is a secret of the HTTP handle,
 * so no message can carry it.
 *
 * The tracker, per callback:
 *
 *   list_ready      GET /repos/{o}/{r}/issues?state=open&labels={L}
 *                   once for the ready and once for the in-progress
 *                   label, every repository's in one concurrent batch,
 *                   paginated; pull requests (a "pull_request" member)
 *                   are skipped, issues carrying both labels reported
 *                   once.  Then, in a second batch, for each issue that
 *                   carries the ready label and not the in-progress one
 *                   (an in-progress issue is a lock whatever its trust):
 *                   GET .../issues/{n}/timeline - trusted when the actor
 *                   of the latest "labeled" event for the ready label is
 *                   one of trusted_users - and
 *                   GET .../issues/{n}/dependencies/blocked_by - each
 *                   open blocking issue becomes a blocker.  The
 *                   priority is N of a label "priority:N" (the first
 *                   one), else 0.
 *   add_label       POST .../issues/{n}/labels {"labels": [L]}
 *   remove_label    DELETE .../issues/{n}/labels/{L}; a 404 means the
 *                   label is absent already, which is success.
 *   close_issue     PATCH .../issues/{n} {"state": "closed"}
 *   find_comment,   GET /user once per tracker (the token's own login,
 *   upsert_comment  kept), GET .../issues/{n}/comments paginated; only
 *                   comments whose user.login is that login count.
 *                   upsert: PATCH .../issues/comments/{id} {"body"} or
 *                   POST .../issues/{n}/comments {"body"}.
 *
 * The CI status of issue n: the pull request is found through the
 * issue's timeline, as GitHub documents linking: a "cross-referenced"
 * event whose source issue is a pull request of the same repository (a
 * PR whose body says "Fixes #n" - or that merely mentions #n - makes
 * one).  Each such PR is read (GET .../pulls/{m}, one batch); a merged
 * one wins, else the open one with the largest number; closed unmerged
 * PRs are ignored.  The CI state of its head sha combines the commit
 * statuses (GET .../commits/{sha}/status, the latest per context) and
 * the check runs (GET .../commits/{sha}/check-runs): failure when any
 * failed (status failure/error; conclusion failure, timed_out,
 * cancelled, action_required, startup_failure), else pending when any
 * is pending (status pending; a check run not completed, or stale), else
 * success when any succeeded (success, neutral, skipped), else none.
 * Both answers are objects, which the layer cannot join page by page:
 * the further pages their total_count calls for are read in one more
 * batch, at most MORE_PAGES each; past those the unread ones count as
 * pending, never as success.
 *
 * The deploy state is none unless the CI names a deploy_environment and
 * the pull request is merged.  Then the deployments of its merge commit
 * to that environment are read (GET .../deployments?sha={merge sha}&
 * environment={env}, paginated) and the newest one's statuses (GET
 * .../deployments/{id}/statuses, paginated); newest is the largest
 * created_at, on a tie the largest id, whatever the order of the answer.
 * The newest status says the state: success and inactive (GitHub makes
 * a successful deployment inactive once a newer one succeeds) are
 * success; failure and error are failure, and a failing check named
 * "deployment to {env}" with the status's log_url, target_url or
 * environment_url; anything else, or no deployment or no status yet, is
 * pending.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define AFK__FORGE_SHORT_NAMES
#include "forge.h"
#include "http.h"
#include "issue.h"

#define DEFAULT_API "https://api.github.com"
#define MORE_PAGES 9           /* further pages of statuses, check runs */

static const char *const gh_headers[] = {
	"Accept: application/vnd.github+json",
	"X-GitHub-Api-Version: 2022-11-28",
	NULL
};

/* --- list_ready ------------------------------------------------------ */

/* An issue of the listing, kept until the second batch has run. */
typedef struct cand {
	size_t repo;         /* index into repos */
	json_t *obj;         /* the issue, borrowed from the listing */
	long number;
	int needs_gates;     /* ready and not in progress: trust, blockers */
	int trusted;
} cand;

/* 1 when the actor of the latest "labeled" event for label is trusted. */
static int trusted_by_timeline(const struct afk__forge *g, json_t *events,
                               const char *label)
{
	const char *actor = NULL;
	json_t *e;
	size_t i;

	json_array_foreach(events, i, e) {
		const char *ev = str_of(e, "event");
		const char *name = str_of(json_object_get(e, "label"), "name");

		if (ev != NULL && strcmp(ev, "labeled") == 0 &&
		    name != NULL && strcmp(name, label) == 0)
			actor = str_of(json_object_get(e, "actor"), "login");
	}
	return actor != NULL && afk__strv_find(&g->trusted, actor) >= 0;
}

/* Adds the open issues of the collected listings (the 2*nrepos first
 * requests) to *cands, deduplicated. */
static int collect(afk_call *call, const struct afk__forge *g, greq *qs,
                   size_t nrepos, json_t **lists, cand **cands,
                   size_t *n, size_t *cap)
{
	size_t i, k, j;
	json_t *it;

	for (i = 0; i < 2 * nrepos; i++) {
		lists[i] = body_of(call, &qs[i], 1);
		if (lists[i] == NULL)
			return AFK_EPARSE;
		json_array_foreach(lists[i], k, it) {
			json_int_t num;
			const char *state = str_of(it, "state");
			int dup = 0;

			if (json_object_get(it, "pull_request") != NULL ||
			    !json_is_integer(json_object_get(it, "number")) ||
			    (state != NULL && strcmp(state, "open") != 0))
				continue;
			num = json_integer_value(json_object_get(it, "number"));
			if (num <= 0)
				continue;
			for (j = 0; j < *n && !dup; j++)
				dup = (*cands)[j].repo == i / 2 &&
				      (*cands)[j].number == (long)num;
			if (dup)
				continue;
			if (afk__grow((void **)cands, cap, *n, 1,
			              sizeof(**cands)) != AFK_OK)
				return afk__call_failf(call, AFK_ENOMEM,
				                       "out of memory");
			memset(&(*cands)[*n], 0, sizeof(**cands));
			(*cands)[*n].repo = i / 2;
			(*cands)[*n].obj = it;
			(*cands)[*n].number = (long)num;
			(*cands)[*n].needs_gates =
				afk__forge_has_label_named(it, g->ready, 1) &&
				!afk__forge_has_label_named(it,
				                            g->in_progress, 1);
			(*n)++;
		}
	}
	return AFK_OK;
}

/* Makes the afk_issue of c and hands it to call. */
static int report_issue(afk_call *call, const char *repo, cand *c,
                        json_t *blockers)
{
	afk_issue *is = NULL;
	json_t *l, *b;
	size_t i;
	const char *title = str_of(c->obj, "title");
	int rc;

	rc = afk_issue_new(&is, repo, c->number);
	if (rc == AFK_OK && title != NULL)
		rc = afk_issue_set_title(is, title);
	json_array_foreach(json_object_get(c->obj, "labels"), i, l) {
		const char *n = json_is_string(l) ? json_string_value(l) :
		                str_of(l, "name");
		if (rc == AFK_OK && n != NULL)
			rc = afk_issue_add_label(is, n);
	}
	if (rc == AFK_OK)
		rc = afk_issue_set_priority(is, afk__forge_priority_of(c->obj));
	if (rc == AFK_OK)
		rc = afk_issue_set_trusted(is, c->trusted);
	json_array_foreach(blockers, i, b) {
		const char *st = str_of(b, "state");
		json_t *num = json_object_get(b, "number");

		if (rc == AFK_OK && json_is_integer(num) &&
		    (st == NULL || strcmp(st, "closed") != 0))
			rc = afk_issue_add_blocker(is,
			                           (long)json_integer_value(num));
	}
	if (rc == AFK_OK)
		rc = afk_call_add_issue(call, is);
	afk_issue_free(is);
	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "issue %s#%ld: %s", repo,
		                       c->number, afk_strerror(rc));
	return AFK_OK;
}

static int gh_list_ready(afk_call *call, const char *const *repos,
                         size_t nrepos, void *userdata)
{
	struct afk__forge *g = userdata;
	char err[AFK__ERRMSG_SIZE], *base = NULL, *lab[2] = {NULL, NULL};
	greq *qs = NULL, *gq = NULL;
	json_t **lists = NULL, *tl, *bl;
	cand *cands = NULL;
	size_t i, n = 0, cap = 0, ng = 0, k;
	int rc = AFK_OK;

	if (nrepos == 0)
		return AFK_OK;
	qs = calloc(2 * nrepos, sizeof(*qs));
	lists = calloc(2 * nrepos, sizeof(*lists));
	lab[0] = enc(g->ready);
	lab[1] = enc(g->in_progress);
	if (qs == NULL || lists == NULL || lab[0] == NULL || lab[1] == NULL) {
		rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nrepos && rc == AFK_OK; i++) {
		rc = repo_base(g, repos[i], &base, err);
		if (rc != AFK_OK) {
			rc = afk__call_failf(call, rc, "list issues: %s", err);
			break;
		}
		for (k = 0; k < 2 && rc == AFK_OK; k++)
			rc = greq_set(g, &qs[2 * i + k], "GET",
			        afk__aprintf("list %s issues of %s",
			                     k ? "in-progress" : "ready",
			                     repos[i]),
			        afk__aprintf("%s/issues?state=open&labels=%s"
			                     "&per_page=100", base, lab[k]),
			        NULL, 1);
		free(base);
		base = NULL;
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
	}
	if (rc == AFK_OK)
		rc = run(call, g, qs, 2 * nrepos);
	if (rc == AFK_OK)
		rc = collect(call, g, qs, nrepos, lists, &cands, &n, &cap);
	if (rc != AFK_OK)
		goto out;

	/* The second batch: timeline and blockers of each gated issue. */
	for (i = 0; i < n; i++)
		ng += cands[i].needs_gates;
	gq = calloc(2 * ng + 1, sizeof(*gq));
	if (gq == NULL) {
		rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0, k = 0; i < n && rc == AFK_OK; i++) {
		const char *repo = repos[cands[i].repo];
		long num = cands[i].number;

		if (!cands[i].needs_gates)
			continue;
		rc = repo_base(g, repo, &base, err);
		if (rc == AFK_OK)
			rc = greq_set(g, &gq[k++], "GET",
			        afk__aprintf("read the timeline of %s#%ld",
			                     repo, num),
			        afk__aprintf("%s/issues/%ld/timeline?"
			                     "per_page=100", base, num),
			        NULL, 1);
		if (rc == AFK_OK)
			rc = greq_set(g, &gq[k++], "GET",
			        afk__aprintf("read the blockers of %s#%ld",
			                     repo, num),
			        afk__aprintf("%s/issues/%ld/dependencies/"
			                     "blocked_by?per_page=100", base,
			                     num),
			        NULL, 1);
		free(base);
		base = NULL;
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
	}
	if (rc == AFK_OK)
		rc = run(call, g, gq, 2 * ng);
	for (i = 0, k = 0; i < n && rc == AFK_OK; i++) {
		tl = bl = NULL;
		if (cands[i].needs_gates) {
			tl = body_of(call, &gq[k++], 1);
			bl = tl ? body_of(call, &gq[k++], 1) : NULL;
			if (tl == NULL || bl == NULL) {
				json_decref(tl);
				rc = AFK_EPARSE;
				break;
			}
			cands[i].trusted = trusted_by_timeline(g, tl, g->ready);
		}
		rc = report_issue(call, repos[cands[i].repo], &cands[i], bl);
		json_decref(tl);
		json_decref(bl);
	}
out:
	greqs_free(gq, 2 * ng);
	greqs_free(qs, 2 * nrepos);
	for (i = 0; lists != NULL && i < 2 * nrepos; i++)
		json_decref(lists[i]);
	free(lists);
	free(cands);
	free(lab[0]);
	free(lab[1]);
	return rc;
}

/* --- labels and closing ---------------------------------------------- */

/* Runs one write request, method to {base}/issues/{number}{tail} with
 * json (taken over; NULL: no body, for a DELETE).  what names the call
 * in messages.  With absent_ok a 404 is success: the thing to remove is
 * gone already. */
static int issue_write(afk_call *call, struct afk__forge *g, const char *repo,
                       long number, const char *method, const char *tail,
                       char *json, const char *what, int absent_ok)
{
	char err[AFK__ERRMSG_SIZE], *base = NULL;
	greq q;
	int rc;

	memset(&q, 0, sizeof(q));
	rc = repo_base(g, repo, &base, err);
	if (rc != AFK_OK) {
		free(json);
		return afk__call_failf(call, rc, "%s: %s", what, err);
	}
	rc = greq_set(g, &q, method,
	              afk__aprintf("%s of %s#%ld", what, repo, number),
	              afk__aprintf("%s/issues/%ld%s", base, number, tail),
	              json, 0);
	free(base);
	if (rc != AFK_OK || (json == NULL && strcmp(method, "DELETE") != 0)) {
		greq_clear(&q);
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	}
	rc = afk__http_run(g->http, &q.r, 1);
	if (rc != AFK_OK && absent_ok && q.r.fail == AFK__HTTP_ESTATUS &&
	    q.r.status == 404)
		rc = AFK_OK;
	else if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "%s", q.r.errmsg);
	greq_clear(&q);
	return rc;
}

static int gh_add_label(afk_call *call, const char *repo, long number,
                        const char *label, void *userdata)
{
	json_t *a = json_array();

	if (a != NULL && json_array_append_new(a, json_string(label)) != 0) {
		json_decref(a);
		a = NULL;
	}
	return issue_write(call, userdata, repo, number, "POST", "/labels",
	                   json1("labels", a), "add a label", 0);
}

static int gh_remove_label(afk_call *call, const char *repo, long number,
                           const char *label, void *userdata)
{
	char *e = enc(label), *tail = e ? afk__aprintf("/labels/%s", e) : NULL;
	int rc;

	free(e);
	if (tail == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	rc = issue_write(call, userdata, repo, number, "DELETE", tail, NULL,
	                 "remove a label", 1);
	free(tail);
	return rc;
}

static int gh_close_issue(afk_call *call, const char *repo, long number,
                          void *userdata)
{
	return issue_write(call, userdata, repo, number, "PATCH", "",
	                   json1("state", json_string("closed")),
	                   "close the issue", 0);
}

/* --- comments -------------------------------------------------------- */

/* Lists the comments of issue number of repo into *out (a JSON array the
 * caller decrefs), reading the token's own login first when it is not
 * known yet (in the same batch). */
static int list_comments(afk_call *call, struct afk__forge *g, const char *repo,
                         long number, const char *what, json_t **out)
{
	char err[AFK__ERRMSG_SIZE], *base = NULL;
	greq q[2];
	json_t *user;
	size_t nq = 1;
	int rc;

	*out = NULL;
	memset(q, 0, sizeof(q));
	rc = repo_base(g, repo, &base, err);
	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "%s: %s", what, err);
	rc = greq_set(g, &q[0], "GET",
	              afk__aprintf("%s: list the comments of %s#%ld", what,
	                           repo, number),
	              afk__aprintf("%s/issues/%ld/comments?per_page=100",
	                           base, number), NULL, 1);
	free(base);
	if (rc == AFK_OK && g->login == NULL) {
		nq = 2;
		rc = greq_set(g, &q[1], "GET",
		              afk__aprintf("%s: read the token's own user",
		                           what),
		              afk__aprintf("%s/user", g->api), NULL, 0);
	}
	if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "out of memory");
	if (rc == AFK_OK)
		rc = run(call, g, q, nq);
	if (rc == AFK_OK && nq == 2) {
		user = body_of(call, &q[1], 0);
		if (user == NULL) {
			rc = AFK_EPARSE;
		} else if (str_of(user, "login") == NULL) {
			rc = afk__call_failf(call, AFK_EPARSE, "%s: the "
			                     "answer has no login", q[1].what);
		} else {
			g->login = afk__strdup(str_of(user, "login"));
			if (g->login == NULL)
				rc = afk__call_failf(call, AFK_ENOMEM,
				                     "out of memory");
		}
		json_decref(user);
	}
	if (rc == AFK_OK) {
		*out = body_of(call, &q[0], 1);
		if (*out == NULL)
			rc = AFK_EPARSE;
	}
	greq_clear(&q[0]);
	greq_clear(&q[1]);
	return rc;
}

static int gh_find_comment(afk_call *call, const char *repo, long number,
                           const char *marker, void *userdata)
{
	return afk__forge_find_comment(call, userdata, list_comments, repo,
	                               number, marker);
}

static int gh_upsert_comment(afk_call *call, const char *repo, long number,
                             const char *marker, const char *body,
                             void *userdata)
{
	return afk__forge_upsert_comment(call, userdata, list_comments, repo,
	                                 number, marker, body);
}

/* --- CI status ------------------------------------------------------- */

/* The number of the pull request of repo that the timeline event e
 * cross-references, else 0. */
static long linked_pr(json_t *e, const char *repo)
{
	json_t *src, *is, *num;
	const char *full, *rurl;
	size_t lr = strlen(repo), lu;

	if (str_of(e, "event") == NULL ||
	    strcmp(str_of(e, "event"), "cross-referenced") != 0)
		return 0;
	src = json_object_get(e, "source");
	is = json_object_get(src, "issue");
	num = json_object_get(is, "number");
	if (json_object_get(is, "pull_request") == NULL ||
	    !json_is_integer(num))
		return 0;
	full = str_of(json_object_get(is, "repository"), "full_name");
	rurl = str_of(is, "repository_url");
	if (full != NULL) {
		if (strcasecmp(full, repo) != 0)
			return 0;
	} else if (rurl == NULL || (lu = strlen(rurl)) <= lr ||
	           strcasecmp(rurl + lu - lr, repo) != 0 ||
	           rurl[lu - lr - 1] != '/') {
		return 0;
	}
	return (long)json_integer_value(num);
}

/* Folds one state into the CI's: failure > pending > success > none. */
static void fold(int *ci, int st)
{
	static const int rank[] = {0, 2, 1, 3}; /* NONE, PENDING, SUCCESS,
	                                            FAILURE */
	if (rank[st] > rank[*ci])
		*ci = st;
}

static int status_state(const char *s)
{
	if (s == NULL)
		return AFK_STATUS_NONE;
	if (strcmp(s, "success") == 0)
		return AFK_STATUS_SUCCESS;
	if (strcmp(s, "failure") == 0 || strcmp(s, "error") == 0)
		return AFK_STATUS_FAILURE;
	return AFK_STATUS_PENDING;
}

static int check_run_state(json_t *cr)
{
	const char *st = str_of(cr, "status"), *c = str_of(cr, "conclusion");
	static const char *const bad[] = {
		"failure", "timed_out", "cancelled", "action_required",
		"startup_failure", NULL
	};
	size_t i;

	if (st == NULL || strcmp(st, "completed") != 0 || c == NULL)
		return AFK_STATUS_PENDING;
	for (i = 0; bad[i] != NULL; i++)
		if (strcmp(c, bad[i]) == 0)
			return AFK_STATUS_FAILURE;
	if (strcmp(c, "success") == 0 || strcmp(c, "neutral") == 0 ||
	    strcmp(c, "skipped") == 0)
		return AFK_STATUS_SUCCESS;
	return AFK_STATUS_PENDING; /* "stale" and anything new */
}

/* 1 when the object o holds fewer items in its array key than its
 * total_count says there are. */
static int incomplete(json_t *o, const char *key)
{
	json_t *t = json_object_get(o, "total_count");

	return json_is_integer(t) && json_integer_value(t) >
	       (json_int_t)json_array_size(json_object_get(o, key));
}

/* Reads the further pages of the two page-1 answers objs[k] (array
 * member keys[k], read from urls[k] with per_page=100) in one batch and
 * appends their items to objs[k]. */
static int more_pages(afk_call *call, struct afk__forge *g,
                      const char *const *urls, const char *const *whats,
                      json_t **objs, const char *const *keys)
{
	greq qs[2 * MORE_PAGES];
	json_t *o;
	size_t n = 0, i, k;
	long pages[2], p;
	int rc = AFK_OK;

	memset(qs, 0, sizeof(qs));
	for (k = 0; k < 2; k++) {
		json_int_t total = json_integer_value(json_object_get(objs[k],
		                                      "total_count"));

		pages[k] = 0;
		if (!incomplete(objs[k], keys[k]))
			continue;
		pages[k] = (long)((total + 99) / 100) - 1;
		if (pages[k] > MORE_PAGES)
			pages[k] = MORE_PAGES;
		for (p = 2; p < pages[k] + 2 && rc == AFK_OK; p++)
			rc = greq_set(g, &qs[n++], "GET",
			        afk__aprintf("%s (page %ld)", whats[k], p),
			        afk__aprintf("%s&page=%ld", urls[k], p), NULL, 0);
	}
	if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "out of memory");
	if (rc == AFK_OK)
		rc = run(call, g, qs, n);
	for (k = 0, i = 0; k < 2 && rc == AFK_OK; k++) {
		for (p = 0; p < pages[k] && rc == AFK_OK; p++, i++) {
			if ((o = body_of(call, &qs[i], 0)) == NULL)
				rc = AFK_EPARSE;
			else if (json_array_extend(json_object_get(objs[k],
			                           keys[k]),
			                           json_object_get(o, keys[k])))
				rc = afk__call_failf(call, AFK_EPARSE, "%s: "
				                     "no %s", qs[i].what,
				                     keys[k]);
			json_decref(o);
		}
	}
	for (i = 0; i < n; i++)
		greq_clear(&qs[i]);
	return rc;
}

/* --- deploy status --------------------------------------------------- */

/* The id of o, -1 when it has none. */
static json_int_t id_of(json_t *o)
{
	json_t *id = json_object_get(o, "id");

	return json_is_integer(id) ? json_integer_value(id) : -1;
}

/* 1 when a is newer than b: a later created_at (GitHub writes every
 * timestamp as YYYY-MM-DDTHH:MM:SSZ, so strings compare as times; one
 * missing is the oldest), on a tie a larger id. */
static int newer(json_t *a, json_t *b)
{
	const char *ta = str_of(a, "created_at"), *tb = str_of(b, "created_at");
	int c = strcmp(ta ? ta : "", tb ? tb : "");

	return c != 0 ? c > 0 : id_of(a) > id_of(b);
}

/* The newest object of the array a, borrowed; NULL when none. */
static json_t *newest(json_t *a)
{
	json_t *best = NULL, *it;
	size_t i;

	json_array_foreach(a, i, it) {
		if (json_is_object(it) && (best == NULL || newer(it, best)))
			best = it;
	}
	return best;
}

/* The deploy state a deployment status's state says; unknown ones are
 * pending, never success. */
static int deploy_state(const char *s)
{
	if (s == NULL)
		return AFK_STATUS_PENDING;
	if (strcmp(s, "success") == 0 || strcmp(s, "inactive") == 0)
		return AFK_STATUS_SUCCESS;
	if (strcmp(s, "failure") == 0 || strcmp(s, "error") == 0)
		return AFK_STATUS_FAILURE;
	return AFK_STATUS_PENDING;
}

/* Reports the state of the newest deployment status s (NULL: none yet,
 * pending); a failed one is also a failing check. */
static int report_deploy_status(afk_call *call, const struct afk__forge *g,
                                json_t *s)
{
	int st = s ? deploy_state(str_of(s, "state")) : AFK_STATUS_PENDING;
	static const char *const links[] = {
		"log_url", "target_url", "environment_url"
	};
	const char *url = NULL;
	char *name;
	size_t i;
	int rc;

	if (st != AFK_STATUS_FAILURE)
		return afk_call_set_deploy(call, st);
	for (i = 0; i < sizeof(links) / sizeof(*links) && url == NULL; i++) {
		url = str_of(s, links[i]);
		if (url != NULL && url[0] == '\0')
			url = NULL;
	}
	name = afk__aprintf("deployment to %s", g->deploy_env);
	if (name == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	rc = afk_call_add_failing_check(call, name, url);
	free(name);
	if (rc == AFK_OK)
		rc = afk_call_set_deploy(call, st);
	return rc;
}

/* Reports the deploy state of the merged pull request pr of repo (base:
 * its URL from repo_base()) from the deployments of its merge commit to
 * g->deploy_env; see the head of the file. */
static int report_deploy(afk_call *call, struct afk__forge *g,
                         const char *repo, const char *base, json_t *pr)
{
	const char *sha = str_of(pr, "merge_commit_sha");
	long long num = (long long)json_integer_value(json_object_get(pr,
	                                              "number"));
	char *es, *ee;
	greq dq, sq;
	json_t *deps = NULL, *sts = NULL, *dep = NULL;
	int rc;

	memset(&dq, 0, sizeof(dq));
	memset(&sq, 0, sizeof(sq));
	if (sha == NULL || sha[0] == '\0')
		return afk__call_failf(call, AFK_EPARSE, "read pull request "
		                       "%s#%lld: merged, but no "
		                       "merge_commit_sha", repo, num);
	es = enc(sha);
	ee = enc(g->deploy_env);
	rc = greq_set(g, &dq, "GET",
	        afk__aprintf("read the deployments of %s@%s", repo, sha),
	        es && ee ? afk__aprintf("%s/deployments?sha=%s&environment=%s"
	                                "&per_page=100", base, es, ee) : NULL,
	        NULL, 1);
	free(es);
	free(ee);
	if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "out of memory");
	if (rc == AFK_OK)
		rc = run(call, g, &dq, 1);
	if (rc == AFK_OK && (deps = body_of(call, &dq, 1)) == NULL)
		rc = AFK_EPARSE;
	if (rc == AFK_OK)
		dep = newest(deps);
	if (rc == AFK_OK && dep != NULL && id_of(dep) < 0)
		rc = afk__call_failf(call, AFK_EPARSE, "%s: the newest "
		                     "deployment has no id", dq.what);
	if (rc == AFK_OK && dep != NULL) {
		long long id = (long long)id_of(dep);

		rc = greq_set(g, &sq, "GET",
		        afk__aprintf("read the statuses of deployment %lld of "
		                     "%s@%s", id, repo, sha),
		        afk__aprintf("%s/deployments/%lld/statuses?"
		                     "per_page=100", base, id), NULL, 1);
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
		if (rc == AFK_OK)
			rc = run(call, g, &sq, 1);
		if (rc == AFK_OK && (sts = body_of(call, &sq, 1)) == NULL)
			rc = AFK_EPARSE;
	}
	if (rc == AFK_OK)
		rc = report_deploy_status(call, g, newest(sts));
	json_decref(deps);
	json_decref(sts);
	greq_clear(&dq);
	greq_clear(&sq);
	return rc;
}

/* --- CI state -------------------------------------------------------- */

/* Reports the CI state of head from the combined status and the check
 * runs; items past those read count as pending. */
static int report_ci(afk_call *call, json_t *status, json_t *runs)
{
	int ci = AFK_STATUS_NONE, st, rc = AFK_OK;
	json_t *s;
	size_t i;

	if (incomplete(status, "statuses") || incomplete(runs, "check_runs"))
		ci = AFK_STATUS_PENDING;

	json_array_foreach(json_object_get(status, "statuses"), i, s) {
		st = status_state(str_of(s, "state"));
		fold(&ci, st);
		if (st == AFK_STATUS_FAILURE && rc == AFK_OK)
			rc = afk_call_add_failing_check(call,
			        str_of(s, "context") ? str_of(s, "context") :
			        "status", str_of(s, "target_url"));
	}
	json_array_foreach(json_object_get(runs, "check_runs"), i, s) {
		const char *url = str_of(s, "html_url");

		st = check_run_state(s);
		fold(&ci, st);
		if (url == NULL)
			url = str_of(s, "details_url");
		if (st == AFK_STATUS_FAILURE && rc == AFK_OK)
			rc = afk_call_add_failing_check(call,
			        str_of(s, "name") ? str_of(s, "name") :
			        "check run", url);
	}
	if (rc == AFK_OK)
		rc = afk_call_set_ci(call, ci);
	return rc;
}

static int gh_ci_status(afk_call *call, const char *repo, long number,
                        void *userdata)
{
	struct afk__forge *g = userdata;
	char err[AFK__ERRMSG_SIZE], *base = NULL;
	greq tq, hq[2];
	json_t *tl = NULL, *best = NULL, *status = NULL, *runs = NULL;
	int rc, best_merged = 0;
	const char *head;

	memset(&tq, 0, sizeof(tq));
	memset(hq, 0, sizeof(hq));
	rc = repo_base(g, repo, &base, err);
	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "CI status: %s", err);
	rc = greq_set(g, &tq, "GET",
	        afk__aprintf("find the pull request of %s#%ld", repo, number),
	        afk__aprintf("%s/issues/%ld/timeline?per_page=100", base,
	                     number), NULL, 1);
	if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "out of memory");
	if (rc == AFK_OK)
		rc = run(call, g, &tq, 1);
	if (rc == AFK_OK && (tl = body_of(call, &tq, 1)) == NULL)
		rc = AFK_EPARSE;
	if (rc == AFK_OK)
		rc = afk__forge_pick_pr(call, g, repo, base, tl, linked_pr,
		                        &best, &best_merged);
	head = str_of(json_object_get(best, "head"), "sha");
	if (rc == AFK_OK && best != NULL && head == NULL)
		rc = afk__call_failf(call, AFK_EPARSE, "read pull request "
		                     "%s#%lld: no head sha", repo,
		                     (long long)json_integer_value(
		                     json_object_get(best, "number")));
	if (rc == AFK_OK && best == NULL) {
		rc = afk_call_set_pr(call, AFK_PR_NONE, NULL);
		goto out;
	}
	if (rc == AFK_OK)
		rc = afk_call_set_pr(call, best_merged ? AFK_PR_MERGED :
		                     AFK_PR_OPEN, head);
	if (rc == AFK_OK) {
		char *eh = enc(head);

		rc = greq_set(g, &hq[0], "GET",
		        afk__aprintf("read the commit statuses of %s@%s", repo,
		                     head),
		        eh ? afk__aprintf("%s/commits/%s/status?per_page=100",
		                          base, eh) : NULL, NULL, 0);
		if (rc == AFK_OK)
			rc = greq_set(g, &hq[1], "GET",
			        afk__aprintf("read the check runs of %s@%s",
			                     repo, head),
			        eh ? afk__aprintf("%s/commits/%s/check-runs?"
			                          "per_page=100", base, eh) :
			        NULL, NULL, 0);
		free(eh);
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
	}
	if (rc == AFK_OK)
		rc = run(call, g, hq, 2);
	if (rc == AFK_OK && ((status = body_of(call, &hq[0], 0)) == NULL ||
	                     (runs = body_of(call, &hq[1], 0)) == NULL))
		rc = AFK_EPARSE;
	if (rc == AFK_OK) {
		const char *urls[2] = {hq[0].url, hq[1].url};
		const char *whats[2] = {hq[0].what, hq[1].what};
		static const char *const keys[2] = {"statuses", "check_runs"};
		json_t *objs[2] = {status, runs};

		rc = more_pages(call, g, urls, whats, objs, keys);
	}
	if (rc == AFK_OK)
		rc = report_ci(call, status, runs);
	if (rc == AFK_OK && best_merged && g->deploy_env != NULL)
		rc = report_deploy(call, g, repo, base, best);
	else if (rc == AFK_OK)
		rc = afk_call_set_deploy(call, AFK_STATUS_NONE);
out:
	json_decref(best);
	json_decref(tl);
	json_decref(status);
	json_decref(runs);
	greq_clear(&tq);
	greq_clear(&hq[0]);
	greq_clear(&hq[1]);
	free(base);
	return rc;
}

/* --- making one ------------------------------------------------------ */

/* Makes the userdata of either adapter from its settings. */
static int gh_new(const afk_config *cfg, const char *api, const char *env,
                  const char *file, struct afk__forge **out, char *errbuf)
{
	return afk__forge_new(cfg, api ? api : DEFAULT_API, env, file,
	                      "github", "Bearer", gh_headers, "GitHub", out,
	                      errbuf);
}

int afk__builtin_github_tracker(afk_tracker *tracker, const afk_config *cfg,
                                char *errbuf)
{
	struct afk__forge *g;
	int rc;

	rc = gh_new(cfg, cfg->tracker_api_url, cfg->tracker_token_env,
	            cfg->tracker_token_file, &g, errbuf);
	if (rc != AFK_OK)
		return rc;
	rc = afk_tracker_set_userdata(tracker, g, afk__forge_free);
	if (rc != AFK_OK) {
		afk__forge_free(g);
		afk__errf(errbuf, "github: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	afk_tracker_set_list_ready(tracker, gh_list_ready);
	afk_tracker_set_add_label(tracker, gh_add_label);
	afk_tracker_set_remove_label(tracker, gh_remove_label);
	afk_tracker_set_close_issue(tracker, gh_close_issue);
	afk_tracker_set_find_comment(tracker, gh_find_comment);
	afk_tracker_set_upsert_comment(tracker, gh_upsert_comment);
	afk_tracker_set_probe(tracker, afk__forge_probe);
	return AFK_OK;
}

int afk__builtin_github_ci(afk_ci *ci, const afk_config *cfg, char *errbuf)
{
	struct afk__forge *g;
	int rc;

	rc = gh_new(cfg, cfg->ci_api_url, cfg->ci_token_env,
	            cfg->ci_token_file, &g, errbuf);
	if (rc != AFK_OK)
		return rc;
	if (cfg->ci_deploy_env != NULL &&
	    (g->deploy_env = afk__strdup(cfg->ci_deploy_env)) == NULL) {
		afk__forge_free(g);
		afk__errf(errbuf, "github: out of memory");
		return AFK_ENOMEM;
	}
	rc = afk_ci_set_userdata(ci, g, afk__forge_free);
	if (rc != AFK_OK) {
		afk__forge_free(g);
		afk__errf(errbuf, "github: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	afk_ci_set_probe(ci, afk__forge_probe);
	return afk_ci_set_status(ci, gh_ci_status);
}
