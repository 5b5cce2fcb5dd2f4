/*
 * lib/builtin/github.c - the "github" tracker and the "github" CI, over
 * GitHub's REST API (v3) and the HTTP layer (lib/net/http.h).
 *
 * Both are made through the public registration functions, as a host's
 * adapter would be.  The token comes from the environment variable or the
 * file the configuration names (never from the configuration itself), is
 * sent as "Authorization: Bearer ..." and is a secret of the HTTP handle,
 * so no message can carry it.
 *
 * The tracker, per callback:
 *
 *   list_ready      In rounds, each one concurrent batch over every
 *                   repository.  First GET /repos/{o}/{r}/issues?
 *                   state=open&per_page=100, the first page of its open
 *                   issues; a repository with a next page is listed
 *                   again by label instead, ...&labels={L} for the
 *                   ready and for the in-progress label, every page
 *                   (GitHub's labels filter is an AND).  Pull requests
 *                   (a "pull_request" member) and issues with neither
 *                   label are skipped.  An in-progress issue locks its
 *                   repository: nothing there is vetted.  Elsewhere the
 *                   ready issues are vetted best first (the policy's
 *                   order, afk__policy_outranks()), one per round, until
 *                   one passes: GET .../issues/{n}/timeline, read from
 *                   its end (afk__forge_read_back(): the Link header's
 *                   rel="last", then pages backwards to the one with a
 *                   ready "labeled" event, at most http.max_pages) -
 *                   trusted when the actor of the latest "labeled" event
 *                   for the ready label is one of trusted_users, or with
 *                   trust_writers can write (GET .../collaborators/
 *                   {login}/permission, a 404 being no access) - and,
 *                   unless the listing's issue_dependencies_summary
 *                   says blocked_by 0, GET .../issues/{n}/dependencies/
 *                   blocked_by - each open blocking issue a blocker.
 *                   A listing that fails is that repository's failure
 *                   (afk_call_add_error(), number 0) and lists nothing
 *                   of it; a gate that fails leaves that issue unvetted
 *                   ("could not vet: ...") and the next one is vetted:
 *                   never the whole list.
 *                   An unvetted issue cannot be picked (its repository
 *                   is locked, or a better one passed) and is reported
 *                   AFK_TRUST_UNCHECKED: never picked, skipped for the
 *                   reason that holds.  The labeller is remembered with
 *                   the ETag cache for the issue's updated_at (every
 *                   label event moves it) once the issue is quiet: an
 *                   idle tick reads one page per repository.  The
 *                   priority is N of a label "priority:N" (the first
 *                   one), else 0.
 *   list_closed     GET .../issues?state=closed&labels={L}&per_page=100
 *                   per repository, every page (afk__forge_list_closed):
 *                   the closed issues still carrying the lock.
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
 * one).  Only the agent's own PR may be the run's (afk__forge_pick_pr()):
 * authored by one of agent_logins (none: the token's own login, GET
 * /user once) and from a branch of the repository itself, never a fork;
 * anyone else's is never read.  Each such PR is read (GET .../pulls/{m},
 * one batch); a merged one wins, else the open one with the largest
 * number; closed unmerged PRs are ignored.  Which one was taken goes to
 * the checklist (afk_call_set_pr_info()).  The CI state of its head sha combines the commit
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

#include "builtin/builtin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#define AFK__FORGE_SHORT_NAMES
#include "builtin/forge.h"
#include "net/http.h"
#include "core/issue.h"
#include "core/policy.h"

#define DEFAULT_API "https://api.github.com"
#define MORE_PAGES 9           /* further pages of statuses, check runs */

static const char *const gh_headers[] = {
	"Accept: application/vnd.github+json",
	"X-GitHub-Api-Version: 2022-11-28",
	NULL
};

/* --- list_ready ------------------------------------------------------ */

/* Vetting (reading the gates of) a candidate can be skipped when it was
 * done before and nothing changed since.  The labeller read from an
 * issue's timeline is kept as a memo of the HTTP cache for the issue's
 * updated_at, which every label event moves; only for issues quiet for
 * this long, so that a label event in the same second as the
 * updated_at read - or a clock apart from GitHub's - cannot hide. */
#define MEMO_QUIET 300

/* An issue of a listing, kept until it is reported. */
typedef struct cand {
	json_t *obj;         /* the issue, borrowed from its listing */
	long number;
	int priority;
	int ready;           /* ready and not in progress: may be picked */
	int vetted;          /* its gates were read */
	int trusted;
	json_t *blockers;    /* its open blockers' numbers; NULL: none */
	char *who;           /* with trust_writers: the labeller not among
	                        trusted_users whose permission is to be read */
} cand;

/* What list_ready knows of one repository. */
typedef struct rstate {
	const char *name;
	char *base;          /* {api}/repos/{owner}/{name} */
	json_t *lists[3];    /* the first page of all open issues; or the
	                        ready and the in-progress listings */
	int listed;          /* the issues below are all its open ones */
	int locked;          /* one of them is in progress */
	cand *c;
	size_t n, cap;
	size_t *order;       /* the ready ones, best first */
	size_t nready, next; /* order[next] is the one to vet */
	int done;            /* a candidate passed, or none is left */
	int failed;          /* could not be listed: reported, none of its
	                        issues is */
	/* the requests of the current round: index into the batch, or -1 */
	long q_list, q_timeline, q_blockers, q_perm;
} rstate;

/* 1 when timeline event e is a "labeled" event adding label. */
static int adds_label(json_t *e, const char *label)
{
	const char *ev = str_of(e, "event");
	const char *name = str_of(json_object_get(e, "label"), "name");

	return ev != NULL && strcmp(ev, "labeled") == 0 &&
	       name != NULL && strcmp(name, label) == 0;
}

/* The actor of the latest "labeled" event for label, borrowed from
 * events, or NULL. */
static const char *labeller(json_t *events, const char *label)
{
	const char *actor = NULL;
	json_t *e;
	size_t i;

	json_array_foreach(events, i, e)
		if (adds_label(e, label))
			actor = str_of(json_object_get(e, "actor"), "login");
	return actor;
}

/* 1 when the timeline page events holds a "labeled" event for label
 * (afk__forge_page_fn): reading backwards can stop there. */
static int labelled_in(json_t *events, const char *label)
{
	json_t *e;
	size_t i;

	json_array_foreach(events, i, e)
		if (adds_label(e, label))
			return 1;
	return 0;
}

/* r could not be listed: that is reported, and none of its issues - its
 * locks are unknown. */
static int repo_failed(afk_call *call, rstate *r, int code, const char *why)
{
	r->failed = r->listed = r->done = 1;
	return afk__forge_add_error(call, r->name, 0, code, why);
}

/* The memo key of c's labeller. */
static char *memo_key(const struct afk__forge *g, const rstate *r,
                      const cand *c)
{
	return afk__aprintf("labeller\n%s/issues/%ld\n%s", r->base, c->number,
	                    g->ready);
}

/* 0 when the listing says c has no open blocker, so none need be read. */
static int may_be_blocked(const cand *c)
{
	json_t *sum = json_object_get(c->obj, "issue_dependencies_summary");
	json_t *open = json_object_get(sum, "blocked_by");

	return !json_is_integer(open) || json_integer_value(open) != 0;
}

/* c, the candidate of r being vetted, could not be: it stays unvetted
 * (never picked), that is reported, and the next one is vetted. */
static int vet_failed(afk_call *call, rstate *r, cand *c, int code,
                      const char *why)
{
	free(c->who);
	c->who = NULL;
	json_decref(c->blockers);
	c->blockers = NULL;
	if (++r->next >= r->nready)
		r->done = 1;
	return afk__forge_add_error(call, r->name, c->number, code, why);
}

/* Adds the open issues of list that carry either label to r,
 * deduplicated. */
static int collect(afk_call *call, const struct afk__forge *g, rstate *r,
                   json_t *list)
{
	size_t k, j;
	json_t *it;

	json_array_foreach(list, k, it) {
		json_int_t num;
		const char *state = str_of(it, "state");
		int ready, busy, dup = 0;
		cand *c;

		if (json_object_get(it, "pull_request") != NULL ||
		    !json_is_integer(json_object_get(it, "number")) ||
		    (state != NULL && strcmp(state, "open") != 0))
			continue;
		num = json_integer_value(json_object_get(it, "number"));
		ready = afk__forge_has_label_named(it, g->ready, 1);
		busy = afk__forge_has_label_named(it, g->in_progress, 1);
		if (num <= 0 || (!ready && !busy))
			continue;
		for (j = 0; j < r->n && !dup; j++)
			dup = r->c[j].number == (long)num;
		if (dup)
			continue;
		if (afk__grow((void **)&r->c, &r->cap, r->n, 1,
		              sizeof(*r->c)) != AFK_OK)
			return afk__call_failf(call, AFK_ENOMEM, "out of memory");
		c = &r->c[r->n++];
		memset(c, 0, sizeof(*c));
		c->obj = it;
		c->number = (long)num;
		c->priority = afk__forge_priority_of(it);
		c->ready = ready && !busy;
		r->locked |= busy;
	}
	return AFK_OK;
}

/* Once r's issues are all known: its ready ones in ranking order. */
static int rank(afk_call *call, rstate *r)
{
	size_t i, j, t;

	r->listed = 1;
	r->order = malloc((r->n + 1) * sizeof(*r->order));
	if (r->order == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	for (i = 0; i < r->n; i++)
		if (r->c[i].ready)
			r->order[r->nready++] = i;
	/* Insertion sort: a repository has few ready issues. */
	for (i = 1; i < r->nready; i++) {
		t = r->order[i];
		for (j = i; j > 0 && afk__policy_outranks(r->c[t].priority,
		     r->c[t].number, r->c[r->order[j - 1]].priority,
		     r->c[r->order[j - 1]].number); j--)
			r->order[j] = r->order[j - 1];
		r->order[j] = t;
	}
	r->done = r->locked || r->nready == 0;
	return AFK_OK;
}

/* The gates of c are known: does it pass, and what is left to vet? */
static void vetted(rstate *r, cand *c, int trusted)
{
	c->vetted = 1;
	c->trusted = trusted;
	if (c->trusted && json_array_size(c->blockers) == 0)
		r->done = 1;
	else if (++r->next >= r->nready)
		r->done = 1;
}

/* c's labeller is who (NULL: nobody labelled it): trusted when one of
 * trusted_users; else, with trust_writers, once its permission is read
 * (c->who is set and c is not vetted yet). */
static int judge(rstate *r, cand *c, const struct afk__forge *g,
                 const char *who)
{
	if (who != NULL && afk__strv_find(&g->trusted, who) < 0 &&
	    g->trust_writers) {
		c->who = afk__strdup(who);
		return c->who != NULL ? AFK_OK : AFK_ENOMEM;
	}
	vetted(r, c, who != NULL && afk__strv_find(&g->trusted, who) >= 0);
	return AFK_OK;
}

/* The open blockers' numbers of a blocked_by answer. */
static json_t *open_blockers(json_t *list)
{
	json_t *out = json_array(), *b;
	size_t i;

	json_array_foreach(list, i, b) {
		const char *st = str_of(b, "state");
		json_t *num = json_object_get(b, "number");

		if (out != NULL && json_is_integer(num) &&
		    (st == NULL || strcmp(st, "closed") != 0))
			json_array_append(out, num);
	}
	return out;
}

/* Makes the afk_issue of c and hands it to call.  An issue that was not
 * vetted cannot be picked whatever its gates say - its repository is
 * locked, or a better one passed - and is reported AFK_TRUST_UNCHECKED,
 * which the selection never picks and skips for the reason that holds. */
static int report_issue(afk_call *call, const char *repo, cand *c)
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
		rc = afk_issue_set_priority(is, c->priority);
	if (rc == AFK_OK)
		rc = afk_issue_set_trusted(is, c->vetted ? c->trusted :
		                           AFK_TRUST_UNCHECKED);
	json_array_foreach(c->blockers, i, b)
		if (rc == AFK_OK)
			rc = afk_issue_add_blocker(is,
			                           (long)json_integer_value(b));
	if (rc == AFK_OK)
		rc = afk_call_add_issue(call, is);
	afk_issue_free(is);
	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "issue %s#%ld: %s", repo,
		                       c->number, afk_strerror(rc));
	return AFK_OK;
}

/* Adds request what/url to the batch qs (room for it is there). */
static int add_req(afk_call *call, const struct afk__forge *g, greq *qs,
                   size_t *nq, long *slot, char *what, char *url,
                   int paginate)
{
	int rc = greq_set(g, &qs[*nq], "GET", what, url, NULL, paginate);

	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "out of memory");
	*slot = (long)(*nq)++;
	return AFK_OK;
}

/* Queues the requests r needs this round, or vets its next candidate
 * from the memo and the listing alone (then *again is set: it may need
 * more). */
static int plan(afk_call *call, struct afk__forge *g, rstate *r,
                const char *lab[2], greq *qs, size_t *nq, int *again)
{
	cand *c;
	const char *who;
	char *key;
	int rc = AFK_OK, k;

	r->q_list = r->q_timeline = r->q_blockers = r->q_perm = -1;
	if (!r->listed) {
		/* More than a page of open issues: the two listings by label
		 * (GitHub's labels filter is an AND), in full; q_list is the
		 * first of the two. */
		long slot;

		for (k = 0; k < 2 && rc == AFK_OK; k++)
			rc = add_req(call, g, qs, nq, k ? &slot : &r->q_list,
			        afk__aprintf("list %s issues of %s",
			                     k ? "in-progress" : "ready",
			                     r->name),
			        afk__aprintf("%s/issues?state=open&labels=%s"
			                     "&per_page=100", r->base, lab[k]), 1);
		return rc;
	}
	if (r->done)
		return AFK_OK;
	c = &r->c[r->order[r->next]];
	if (c->who != NULL) {
		char *ew = enc(c->who);

		rc = add_req(call, g, qs, nq, &r->q_perm,
		        afk__aprintf("read the permission of %s on %s", c->who,
		                     r->name),
		        ew != NULL ? afk__aprintf("%s/collaborators/%s/"
		                                  "permission", r->base, ew) :
		        NULL, 0);
		free(ew);
		if (rc == AFK_OK)
			qs[r->q_perm].absent_ok = 1; /* 404: no such user */
		return rc;
	}
	key = memo_key(g, r, c);
	if (key == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	who = afk__http_memo_get(g->http, key,
	                         str_of(c->obj, "updated_at") ?
	                         str_of(c->obj, "updated_at") : "");
	free(key);
	if (who != NULL && !may_be_blocked(c)) {
		*again = 1;
		rc = judge(r, c, g, who[0] != '\0' ? who : NULL);
		return rc == AFK_OK ? AFK_OK :
		       afk__call_failf(call, rc, "out of memory");
	}
	if (who == NULL)
		rc = add_req(call, g, qs, nq, &r->q_timeline,
		        afk__aprintf("read the timeline of %s#%ld", r->name,
		                     c->number),
		        afk__aprintf("%s/issues/%ld/timeline?per_page=100",
		                     r->base, c->number), 0);
	if (rc == AFK_OK && may_be_blocked(c))
		rc = add_req(call, g, qs, nq, &r->q_blockers,
		        afk__aprintf("read the blockers of %s#%ld", r->name,
		                     c->number),
		        afk__aprintf("%s/issues/%ld/dependencies/blocked_by?"
		                     "per_page=100", r->base, c->number), 1);
	return rc;
}

/* Takes in the answers of r's requests of the round.  A failed one
 * fails r's listing (a listing) or leaves the issue being vetted
 * unvetted (a gate), reported either way: never the whole list. */
static int take(afk_call *call, struct afk__forge *g, rstate *r, greq *qs,
                long long now)
{
	cand *c;
	greq *q;
	json_t *tl, *bl, *all;
	const char *who, *upd;
	char *key;
	long long t;
	int rc = AFK_OK, k, partial;

	if (r->q_list >= 0) {
		for (k = 1; k < 3 && rc == AFK_OK; k++) {
			q = &qs[r->q_list + k - 1];
			if (afk__forge_failed(q))
				return repo_failed(call, r, afk__forge_code(q),
				                   q->r.errmsg);
			r->lists[k] = body_of(call, q, 1);
			if (r->lists[k] == NULL)
				return repo_failed(call, r, AFK_EPARSE,
				                   afk__forge_why(call));
			rc = collect(call, g, r, r->lists[k]);
		}
		return rc == AFK_OK ? rank(call, r) : rc;
	}
	if (r->q_perm >= 0) {
		/* A 404: no such user - no access. */
		json_t *perm = NULL;

		c = &r->c[r->order[r->next]];
		q = &qs[r->q_perm];
		if (afk__forge_failed(q))
			return vet_failed(call, r, c, afk__forge_code(q),
			                  q->r.errmsg);
		if (q->r.rc == AFK_OK && (perm = body_of(call, q, 0)) == NULL)
			return vet_failed(call, r, c, AFK_EPARSE, afk__forge_why(call));
		free(c->who);
		c->who = NULL;
		vetted(r, c, afk__forge_can_write(perm));
		json_decref(perm);
		return AFK_OK;
	}
	if (r->q_timeline < 0 && r->q_blockers < 0)
		return AFK_OK;
	c = &r->c[r->order[r->next]];
	for (k = 0; k < 2; k++) {
		long slot = k ? r->q_blockers : r->q_timeline;

		if (slot >= 0 && afk__forge_failed(&qs[slot]))
			return vet_failed(call, r, c, afk__forge_code(&qs[slot]),
			                  qs[slot].r.errmsg);
	}
	if (r->q_blockers >= 0) {
		bl = body_of(call, &qs[r->q_blockers], 1);
		if (bl == NULL)
			return vet_failed(call, r, c, AFK_EPARSE, afk__forge_why(call));
		c->blockers = open_blockers(bl);
		json_decref(bl);
		if (c->blockers == NULL)
			return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	}
	upd = str_of(c->obj, "updated_at");
	key = memo_key(g, r, c);
	if (key == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	tl = NULL;
	if (r->q_timeline >= 0) {
		/* The latest ready "labeled" event, however long the
		 * timeline: read from its end. */
		all = NULL;
		tl = body_of(call, &qs[r->q_timeline], 1);
		rc = tl == NULL ? AFK_EPARSE :
		     afk__forge_read_back(call, g, &qs[r->q_timeline], tl,
		                          100, labelled_in, g->ready, 1, &all,
		                          &partial);
		json_decref(tl);
		tl = all;
		if (rc != AFK_OK) {
			free(key);
			return rc == AFK_ENOMEM ? rc :
			       vet_failed(call, r, c, rc, afk__forge_why(call));
		}
		who = labeller(tl, g->ready);
		t = afk__utc_seconds(upd);
		if (t >= 0 && now - t >= MEMO_QUIET)
			afk__http_memo_put(g->http, key, upd,
			                   who != NULL ? who : "");
	} else {
		who = afk__http_memo_get(g->http, key, upd ? upd : "");
	}
	free(key);
	rc = judge(r, c, g, who != NULL && who[0] != '\0' ? who : NULL);
	json_decref(tl);
	return rc == AFK_OK ? AFK_OK :
	       afk__call_failf(call, rc, "out of memory");
}

static void rstates_free(rstate *rs, size_t n)
{
	size_t i, j;
	int k;

	for (i = 0; rs != NULL && i < n; i++) {
		for (j = 0; j < rs[i].n; j++) {
			json_decref(rs[i].c[j].blockers);
			free(rs[i].c[j].who);
		}
		for (k = 0; k < 3; k++)
			json_decref(rs[i].lists[k]);
		free(rs[i].c);
		free(rs[i].order);
		free(rs[i].base);
	}
	free(rs);
}

/* The listing, in rounds of one concurrent batch each: the first page of
 * every repository's open issues; then the label listings of those with
 * more than a page, and the gates of each unlocked repository's best
 * ready issue; then of the next best where the best failed; and so on. */
static int gh_list_ready(afk_call *call, const char *const *repos,
                         size_t nrepos, void *userdata)
{
	struct afk__forge *g = userdata;
	char err[AFK__ERRMSG_SIZE], *lab[2] = {NULL, NULL};
	const char *labc[2];
	greq *qs = NULL;
	rstate *rs = NULL;
	size_t i, j, nq = 0;
	long long now = (long long)time(NULL);
	int rc = AFK_OK, again;

	if (nrepos == 0)
		return AFK_OK;
	qs = calloc(2 * nrepos, sizeof(*qs));
	rs = calloc(nrepos, sizeof(*rs));
	lab[0] = enc(g->ready);
	lab[1] = enc(g->in_progress);
	if (qs == NULL || rs == NULL || lab[0] == NULL || lab[1] == NULL) {
		rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
		goto out;
	}
	labc[0] = lab[0];
	labc[1] = lab[1];
	for (i = 0; i < nrepos && rc == AFK_OK; i++) {
		rs[i].name = repos[i];
		rs[i].q_list = -1;
		rc = repo_base(g, repos[i], &rs[i].base, err);
		if (rc == AFK_EINVAL)  /* a name GitHub cannot have */
			rc = repo_failed(call, &rs[i], rc, err);
		else if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "list issues: %s", err);
		else
			rc = add_req(call, g, qs, &nq, &rs[i].q_list,
			        afk__aprintf("list open issues of %s", repos[i]),
			        afk__aprintf("%s/issues?state=open&per_page=100",
			                     rs[i].base), 0);
	}
	if (rc == AFK_OK)
		rc = afk__forge_run_each(call, g, qs, nq);
	for (i = 0; i < nrepos && rc == AFK_OK; i++) {
		greq *q = rs[i].q_list >= 0 ? &qs[rs[i].q_list] : NULL;

		if (q == NULL)
			continue;
		if (afk__forge_failed(q)) {
			rc = repo_failed(call, &rs[i], afk__forge_code(q),
			                 q->r.errmsg);
			continue;
		}
		rs[i].lists[0] = body_of(call, q, 1);
		if (rs[i].lists[0] == NULL)
			rc = repo_failed(call, &rs[i], AFK_EPARSE, afk__forge_why(call));
		else if (!afk__http_link_has_next(q->r.link))
			rc = collect(call, g, &rs[i], rs[i].lists[0]);
		if (rc == AFK_OK && !rs[i].failed &&
		    !afk__http_link_has_next(q->r.link))
			rc = rank(call, &rs[i]);
	}
	while (rc == AFK_OK) {
		greqs_free(qs, nq);
		qs = calloc(2 * nrepos, sizeof(*qs));
		nq = 0;
		if (qs == NULL) {
			rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
			break;
		}
		for (i = 0; i < nrepos; i++)
			rs[i].q_list = rs[i].q_timeline = rs[i].q_blockers =
			rs[i].q_perm = -1;
		do {
			again = 0;
			for (i = 0; i < nrepos && rc == AFK_OK; i++)
				if (!rs[i].listed || !rs[i].done)
					rc = plan(call, g, &rs[i], labc, qs, &nq,
					          &again);
		} while (rc == AFK_OK && again && nq == 0);
		if (rc != AFK_OK || nq == 0)
			break;
		rc = afk__forge_run_each(call, g, qs, nq);
		for (i = 0; i < nrepos && rc == AFK_OK; i++)
			rc = take(call, g, &rs[i], qs, now);
	}
	for (i = 0; i < nrepos && rc == AFK_OK; i++)
		for (j = 0; j < rs[i].n && !rs[i].failed && rc == AFK_OK; j++)
			rc = report_issue(call, repos[i], &rs[i].c[j]);
out:
	greqs_free(qs, nq);
	rstates_free(rs, nrepos);
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
	q.absent_ok = absent_ok;
	rc = run(call, g, &q, 1);
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
static int gh_find_comment(afk_call *call, const char *repo, long number,
                           const char *marker, void *userdata)
{
	return afk__forge_find_comment(call, userdata, repo, number, marker);
}

static int gh_upsert_comment(afk_call *call, const char *repo, long number,
                             const char *marker, const char *body,
                             void *userdata)
{
	return afk__forge_upsert_comment(call, userdata, repo, number, marker,
	                                 body);
}

/* --- CI status ------------------------------------------------------- */

/* The number of the pull request of repo that the timeline event e
 * cross-references, else 0; *author: the pull request's author. */
static long linked_pr(json_t *e, const char *repo, const char **author)
{
	json_t *src, *is, *num;
	const char *full, *rurl;
	size_t lr = strlen(repo), lu;

	*author = NULL;
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
	*author = str_of(json_object_get(is, "user"), "login");
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
		/* Rounded up without total + 99, which a huge total_count
		 * would overflow; clamped before it is made a long. */
		total = total / 100 + (total % 100 != 0) - 1;
		pages[k] = total > MORE_PAGES ? MORE_PAGES : (long)total;
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
	/* GitHub lists the newest first: pages past http.max_pages hold
	 * older ones, which must not fail the status. */
	dq.r.partial_ok = 1;
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
		sq.r.partial_ok = 1;  /* newest first, as above */
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

/* Replaces *tl, the first page of the timeline that q read, with its
 * part that can link the run's PR: read from the end back to the page
 * where the in-progress label was added (the run's PR comes after the
 * dispatch), at most http.max_pages pages.  A busy issue's timeline never
 * fails the status: past those pages, a PR linked only there is not
 * seen, and the run waits (no PR) rather than take another. */
static int read_since_dispatch(afk_call *call, struct afk__forge *g,
                               const greq *q, json_t **tl)
{
	json_t *all = NULL;
	int partial, rc;

	rc = afk__forge_read_back(call, g, q, *tl, 100, labelled_in,
	                          g->in_progress, 0, &all, &partial);
	json_decref(*tl);
	*tl = all;
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
	                     number), NULL, 0);
	if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "out of memory");
	if (rc == AFK_OK)
		rc = run(call, g, &tq, 1);
	if (rc == AFK_OK && (tl = body_of(call, &tq, 1)) == NULL)
		rc = AFK_EPARSE;
	if (rc == AFK_OK)
		rc = read_since_dispatch(call, g, &tq, &tl);
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
	if (rc == AFK_OK)
		rc = afk__forge_report_pr_info(call, best);
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

static const afk__forge_kind github = {
	"github", "GitHub", "Bearer", gh_headers, "?per_page=100",
	gh_list_ready, gh_add_label, gh_remove_label, gh_close_issue,
	gh_find_comment, gh_upsert_comment, gh_ci_status,
	"state=closed&labels=%s&per_page=100"
};

static int github_tracker_setup(afk_tracker *tracker, const afk_config *cfg,
                                char *errbuf)
{
	return afk__forge_tracker_setup(tracker, cfg, &github, errbuf);
}

static int github_ci_setup(afk_ci *ci, const afk_config *cfg, char *errbuf)
{
	return afk__forge_ci_setup(ci, cfg, &github, errbuf);
}

#define GITHUB_API_URL {"api_url", AFK__M_URL, 0, "\"" DEFAULT_API "\"", \
	0, 0, afk__url_check, "the REST API's root (GitHub Enterprise: " \
	"https://HOST/api/v3)"}
#define GITHUB_TOKEN {"token", AFK__M_SECRET, AFK__M_REQUIRED, NULL, 0, 0, \
	NULL, "where the token is read from"}

static const afk__member github_tracker_members[] = {
	GITHUB_API_URL,
	GITHUB_TOKEN,
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_github_tracker = {
	{"github", AFK__ROLE_TRACKER, AFK__K_OWNER_REPOS,
	 github_tracker_members, "GitHub's issues, over its REST API"},
	{.tracker = github_tracker_setup}
};

static const afk__member github_ci_members[] = {
	GITHUB_API_URL,
	GITHUB_TOKEN,
	{"deploy_environment", AFK__M_STRING, 0, NULL, 0, 0, NULL,
	 "the environment whose deployments give the deploy state"},
	{"agent_logins", AFK__M_LOGINS, 0, NULL, 0, 0, NULL,
	 "whose pull request may be a run's (default: the token's login)"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_github_ci = {
	{"github", AFK__ROLE_CI, AFK__K_OWNER_REPOS, github_ci_members,
	 "a pull request's checks and deployments on GitHub"},
	{.ci = github_ci_setup}
};
