/*
 * lib/builtin/forgejo.c - the "forgejo" tracker and the "forgejo" CI,
 * over the REST API of Forgejo and Gitea (/api/v1) and the HTTP layer
 * (lib/net/http.h).  Read against Forgejo's swagger description (11.0.3,
 * gitea-1.22.0).
 *
 * Both are made through the public registration functions, as a host's
 * adapter would be.  The API's base URL ("api_url", e.g.
 * https://codeberg.org/api/v1) has no default.  The token comes from the
 * environment variable or the file the configuration names, is sent as
 * "Authorization: token ..." and is a secret of the HTTP handle, so no
 * message can carry it.
 *
 * The tracker, per callback:
 *
 *   list_ready      GET /repos/{o}/{r}/issues?state=open&type=issues
 *                   &labels={L}&limit=50 once for the ready and once for
 *                   the in-progress label, every repository's in one
 *                   concurrent batch, paginated (Link rel="next").
 *                   Forgejo drops a label filter naming a label the
 *                   repository lacks - and with none left lists every
 *                   open issue - so an issue counts only when it carries
 *                   the ready or the in-progress label itself.  Pull
 *                   requests (a non-null "pull_request") are skipped,
 *                   issues carrying both labels reported once.  Then, in
 *                   a second batch, for each issue that carries the ready
 *                   label and not the in-progress one:
 *                   GET .../issues/{n}/timeline - trusted when the poster
 *                   ("user") of the latest "label" event adding the ready
 *                   label (body "1"; a removal has body "") is one of
 *                   trusted_users; Forgejo has no separate issue-events
 *                   list, the timeline is the one source - and
 *                   GET .../issues/{n}/dependencies - the issues that
 *                   block it; each open one becomes a blocker (one of
 *                   another repository too: blocking is the safe side).
 *                   The priority is N of a label "priority:N", else 0.
 *                   Neither list sends a Link header.  The timeline is
 *                   read from its end (afk__forge_read_back(): a full
 *                   first page is followed by probing for the last,
 *                   then pages backwards to the one adding the ready
 *                   label, at most http.max_pages); for the blockers a
 *                   full page is followed by the next (fill_pages()).
 *                   A listing that fails is that repository's failure
 *                   (afk_call_add_error(), number 0), nothing of it
 *                   listed; a gate that fails (or a list longer than ten
 *                   pages) leaves that issue unvetted, "could not vet:
 *                   ...": never the whole list.
 *   list_closed     GET .../issues?state=closed&type=issues&labels={L}
 *                   &limit=50 per repository, every page
 *                   (afk__forge_list_closed): closed issues still locked.
 *   add_label       POST .../issues/{n}/labels {"labels": [L]} by name
 *                   (IssueLabelsOption takes names or ids).  Forgejo
 *                   ignores a name the repository has no label for, so
 *                   the answer - the issue's labels - must hold L, else
 *                   the call fails naming the missing label.
 *   remove_label    Forgejo removes by id: GET .../issues/{n}/labels,
 *                   then DELETE .../issues/{n}/labels/{id} of the label
 *                   named L.  Not carried, or a 404 on the DELETE (gone
 *                   meanwhile): success.
 *   close_issue     PATCH .../issues/{n} {"state": "closed"}
 *   find_comment,   GET /user once per tracker (the token's own login,
 *   upsert_comment  kept), GET .../issues/{n}/comments; only comments
 *                   whose user.login is that login count.  upsert:
 *                   PATCH .../issues/comments/{id} {"body"} or
 *                   POST .../issues/{n}/comments {"body"}.
 *
 * The CI status of issue n: the pull requests are found through the
 * issue's timeline: a "pull_ref", "issue_ref" or "comment_ref" event
 * whose ref_issue is a pull request of the same repository (a PR whose
 * body says "Fixes #n", or that mentions #n) - by the rule of
 * afk__forge_pick_pr(): only the agent's own (an author among
 * agent_logins, else the token's own login; a branch of the repository
 * itself, never a fork) is read (GET .../pulls/{m}, one batch); a merged
 * one wins, else the open one with the largest number; closed unmerged
 * ones are ignored.  The CI
 * state of its head sha comes from the combined commit status
 * (GET .../commits/{sha}/status?limit=50, the latest status per
 * context): failure when any is failure or error, else pending when any
 * is pending (or a state not known), else success when any is success,
 * warning or skipped, else none.  A full page is followed by the next,
 * at most MORE_PAGES more; past those the unread statuses count as
 * pending, never as success.  Deploy: always none.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin/builtin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define AFK__FORGE_SHORT_NAMES
#include "builtin/forge.h"
#include "net/http.h"
#include "core/issue.h"

#define MORE_PAGES 9           /* further pages of commit statuses */
#define PAGE 50                /* Forgejo's default maximum page size */

/* Completes the array arr, the answer of the paginated GET q whose URL
 * has a query and a limit of PAGE.  Some lists (the timeline, the
 * dependencies) send no Link header, and may or may not cut the answer
 * at the limit: while every page read was full the next one is read
 * (page=N), at most MORE_PAGES more; still full after those, the list
 * is too long to be known and that is a failure - a blocker or a label
 * event must never be missed. */
static int fill_pages(afk_call *call, struct afk__forge *g, const greq *q,
                      json_t *arr)
{
	long p = q->r.pages > 0 ? q->r.pages : 1, extra;
	json_t *more;
	greq n;
	int rc = AFK_OK;

	for (extra = 0; rc == AFK_OK &&
	     json_array_size(arr) == (size_t)PAGE * (size_t)p;
	     extra++, p++) {
		if (extra == MORE_PAGES)
			return afk__call_failf(call, AFK_EIO, "%s: %s: more "
			                       "than %ld items", q->what, q->url,
			                       (long)PAGE * p);
		rc = greq_set(g, &n, "GET",
		        afk__aprintf("%s (page %ld)", q->what, p + 1),
		        afk__aprintf("%s&page=%ld", q->url, p + 1), NULL, 0);
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
		if (rc == AFK_OK)
			rc = run(call, g, &n, 1);
		more = rc == AFK_OK ? body_of(call, &n, 1) : NULL;
		if (rc == AFK_OK && more == NULL)
			rc = AFK_EPARSE;
		if (rc == AFK_OK && json_array_extend(arr, more) != 0)
			rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
		json_decref(more);
		greq_clear(&n);
	}
	return rc;
}


/* --- list_ready ------------------------------------------------------ */

/* An issue of the listing, kept until the second batch has run. */
typedef struct cand {
	size_t repo;         /* index into repos */
	json_t *obj;         /* the issue, borrowed from the listing */
	long number;
	int needs_gates;     /* ready and not in progress: trust, blockers */
	int trusted;         /* or AFK_TRUST_UNCHECKED: could not be vetted */
	char *who;           /* with trust_writers: a labeller not among
	                        trusted_users, whose permission is read */
	json_t *blockers;    /* its blockers' answer, until reported */
} cand;

/* 1 when timeline event e is a "label" event adding label: Forgejo's
 * label events carry body "1" when the label was added and "" when it
 * was removed. */
static int adds_label(json_t *e, const char *label)
{
	const char *type = str_of(e, "type");
	const char *body = str_of(e, "body");
	const char *name = str_of(json_object_get(e, "label"), "name");

	return type != NULL && strcmp(type, "label") == 0 &&
	       body != NULL && strcmp(body, "1") == 0 &&
	       name != NULL && strcmp(name, label) == 0;
}

/* The poster of the latest "label" event adding label, borrowed from
 * events, or NULL. */
static const char *labeller(json_t *events, const char *label)
{
	const char *poster = NULL;
	json_t *e;
	size_t i;

	json_array_foreach(events, i, e)
		if (adds_label(e, label))
			poster = str_of(json_object_get(e, "user"), "login");
	return poster;
}

/* 1 when the timeline page events holds a "label" event adding label
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

/* c could not be vetted: it stays unchecked (never picked), and that is
 * reported. */
static int vet_failed(afk_call *call, const char *repo, cand *c, int code,
                      const char *why)
{
	c->trusted = AFK_TRUST_UNCHECKED;
	free(c->who);
	c->who = NULL;
	json_decref(c->blockers);
	c->blockers = NULL;
	return afk__forge_add_error(call, repo, c->number, code, why);
}

/* With trust_writers: reads, in one batch, the permission of each
 * labeller not among trusted_users (c->who), trusted with write access;
 * a 404 (no such user) is no access, not an error. */
static int read_permissions(afk_call *call, struct afk__forge *g,
                            const char *const *repos, cand *cands,
                            size_t n)
{
	char err[AFK__ERRMSG_SIZE], *base = NULL, *ew;
	greq *pq;
	json_t *perm;
	size_t i, k = 0, np = 0;
	int rc = AFK_OK;

	for (i = 0; i < n; i++)
		np += cands[i].who != NULL;
	if (np == 0)
		return AFK_OK;
	pq = calloc(np, sizeof(*pq));
	if (pq == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	for (i = 0; i < n && rc == AFK_OK; i++) {
		if (cands[i].who == NULL)
			continue;
		rc = repo_base(g, repos[cands[i].repo], &base, err);
		if (rc != AFK_OK) {
			rc = afk__call_failf(call, rc, "list issues: %s", err);
			break;
		}
		ew = enc(cands[i].who);
		rc = greq_set(g, &pq[k], "GET",
		        afk__aprintf("read the permission of %s on %s",
		                     cands[i].who, repos[cands[i].repo]),
		        ew != NULL ? afk__aprintf("%s/collaborators/%s/"
		                                  "permission", base, ew) :
		        NULL, NULL, 0);
		pq[k++].absent_ok = 1; /* 404: no such user, no access */
		free(ew);
		free(base);
		base = NULL;
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
	}
	if (rc == AFK_OK)
		rc = afk__forge_run_each(call, g, pq, np);
	for (i = 0, k = 0; i < n && rc == AFK_OK; i++) {
		if (cands[i].who == NULL)
			continue;
		perm = NULL;
		if (afk__forge_failed(&pq[k]))
			rc = vet_failed(call, repos[cands[i].repo], &cands[i],
			                afk__forge_code(&pq[k]), pq[k].r.errmsg);
		else if (pq[k].r.rc == AFK_OK &&
		         (perm = body_of(call, &pq[k], 0)) == NULL)
			rc = vet_failed(call, repos[cands[i].repo], &cands[i],
			                AFK_EPARSE, afk__forge_why(call));
		else
			cands[i].trusted = afk__forge_can_write(perm);
		json_decref(perm);
		k++;
	}
	greqs_free(pq, np);
	return rc;
}

/* 1 when the issue object is a pull request. */
static int is_pull(json_t *issue)
{
	json_t *pr = json_object_get(issue, "pull_request");

	return pr != NULL && !json_is_null(pr);
}

/* Adds the open issues of the collected listings (the 2*nrepos first
 * requests) to *cands, deduplicated.  A repository whose listing failed
 * is reported (failed[] set) and none of its issues kept. */
static int collect(afk_call *call, const struct afk__forge *g, greq *qs,
                   const char *const *repos, size_t nrepos, int *failed,
                   json_t **lists, cand **cands, size_t *n, size_t *cap)
{
	size_t i, k, j;
	json_t *it;
	int rc;

	for (i = 0; i < 2 * nrepos; i++) {
		if (failed[i / 2])
			continue;
		if (afk__forge_failed(&qs[i]) ||
		    (lists[i] = body_of(call, &qs[i], 1)) == NULL) {
			/* Its locks are unknown: nothing of it is listed. */
			rc = afk__forge_add_error(call, repos[i / 2], 0,
			        afk__forge_failed(&qs[i]) ?
			        afk__forge_code(&qs[i]) : AFK_EPARSE,
			        afk__forge_failed(&qs[i]) ? qs[i].r.errmsg :
			        afk__forge_why(call));
			if (rc != AFK_OK)
				return rc;
			failed[i / 2] = 1;
			while (*n > 0 && (*cands)[*n - 1].repo == i / 2)
				(*n)--;
			continue;
		}
		json_array_foreach(lists[i], k, it) {
			json_int_t num;
			const char *state = str_of(it, "state");
			int dup = 0, ready, busy;

			if (is_pull(it) ||
			    !json_is_integer(json_object_get(it, "number")) ||
			    (state != NULL && strcmp(state, "open") != 0))
				continue;
			/* A filter Forgejo dropped lists unlabelled issues. */
			ready = afk__forge_has_label_named(it, g->ready, 0);
			busy = afk__forge_has_label_named(it, g->in_progress,
			                                  0);
			if (!ready && !busy)
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
			(*cands)[*n].needs_gates = ready && !busy;
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
		const char *n = str_of(l, "name");

		if (rc == AFK_OK && n != NULL && n[0] != '\0')
			rc = afk_issue_add_label(is, n);
	}
	if (rc == AFK_OK)
		rc = afk_issue_set_priority(is, afk__forge_priority_of(c->obj));
	if (rc == AFK_OK)
		rc = afk_issue_set_trusted(is, c->trusted);
	json_array_foreach(blockers, i, b) {
		const char *st = str_of(b, "state");
		json_t *num = json_object_get(b, "number");

		if (rc != AFK_OK || (st != NULL && strcmp(st, "closed") == 0))
			continue;
		/* An open blocker without a usable number still blocks:
		 * refuse the answer rather than drop the blocker. */
		if (!json_is_integer(num) || json_integer_value(num) <= 0) {
			afk_issue_free(is);
			return afk__call_failf(call, AFK_EPARSE, "issue %s#%ld: an "
			                       "open dependency has no issue number",
			                       repo, c->number);
		}
		rc = afk_issue_add_blocker(is, (long)json_integer_value(num));
	}
	if (rc == AFK_OK)
		rc = afk_call_add_issue(call, is);
	afk_issue_free(is);
	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "issue %s#%ld: %s", repo,
		                       c->number, afk_strerror(rc));
	return AFK_OK;
}

/* 1 when the dependencies answer deps has an open one without a usable
 * number: it still blocks, so the issue cannot be vetted (a blocker is
 * never dropped). */
static int nameless_blocker(json_t *deps)
{
	json_t *b, *num;
	const char *st;
	size_t i;

	json_array_foreach(deps, i, b) {
		st = str_of(b, "state");
		num = json_object_get(b, "number");
		if ((st == NULL || strcmp(st, "closed") != 0) &&
		    (!json_is_integer(num) || json_integer_value(num) <= 0))
			return 1;
	}
	return 0;
}

/* Runs, in one batch, the two listings qs[2i], qs[2i + 1] of each
 * repository i not failed already (whose requests are unset). */
static int run_listed(afk_call *call, struct afk__forge *g, greq *qs,
                      size_t nrepos, const int *failed)
{
	greq *b = calloc(2 * nrepos + 1, sizeof(*b));
	size_t i, n = 0;
	int rc;

	if (b == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	for (i = 0; i < 2 * nrepos; i++)
		if (!failed[i / 2])
			b[n++] = qs[i];
	rc = afk__forge_run_each(call, g, b, n);
	for (i = 0, n = 0; i < 2 * nrepos; i++)
		if (!failed[i / 2])
			qs[i] = b[n++];
	free(b);
	return rc;
}

static int fj_list_ready(afk_call *call, const char *const *repos,
                         size_t nrepos, void *userdata)
{
	struct afk__forge *g = userdata;
	char err[AFK__ERRMSG_SIZE], *base = NULL, *lab[2] = {NULL, NULL};
	greq *qs = NULL, *gq = NULL;
	json_t **lists = NULL, *tl, *bl, *all;
	const char *who, *repo;
	cand *cands = NULL;
	size_t i, n = 0, cap = 0, ng = 0, k;
	int rc = AFK_OK, *failed = NULL, partial;

	if (nrepos == 0)
		return AFK_OK;
	qs = calloc(2 * nrepos, sizeof(*qs));
	lists = calloc(2 * nrepos, sizeof(*lists));
	failed = calloc(nrepos, sizeof(*failed));
	lab[0] = enc(g->ready);
	lab[1] = enc(g->in_progress);
	if (qs == NULL || lists == NULL || failed == NULL || lab[0] == NULL ||
	    lab[1] == NULL) {
		rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nrepos && rc == AFK_OK; i++) {
		rc = repo_base(g, repos[i], &base, err);
		if (rc == AFK_EINVAL) {  /* a name Forgejo cannot have */
			failed[i] = 1;
			rc = afk__forge_add_error(call, repos[i], 0, rc, err);
			continue;
		}
		if (rc != AFK_OK) {
			rc = afk__call_failf(call, rc, "list issues: %s", err);
			break;
		}
		for (k = 0; k < 2 && rc == AFK_OK; k++)
			rc = greq_set(g, &qs[2 * i + k], "GET",
			        afk__aprintf("list %s issues of %s",
			                     k ? "in-progress" : "ready",
			                     repos[i]),
			        afk__aprintf("%s/issues?state=open&type=issues"
			                     "&labels=%s&limit=%d", base,
			                     lab[k], PAGE),
			        NULL, 1);
		free(base);
		base = NULL;
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
	}
	if (rc == AFK_OK)
		rc = run_listed(call, g, qs, nrepos, failed);
	if (rc == AFK_OK)
		rc = collect(call, g, qs, repos, nrepos, failed, lists, &cands,
		             &n, &cap);
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
		long num = cands[i].number;

		repo = repos[cands[i].repo];
		if (!cands[i].needs_gates)
			continue;
		rc = repo_base(g, repo, &base, err);
		/* The timeline's first page: the rest is read from its end. */
		if (rc == AFK_OK)
			rc = greq_set(g, &gq[k++], "GET",
			        afk__aprintf("read the timeline of %s#%ld",
			                     repo, num),
			        afk__aprintf("%s/issues/%ld/timeline?limit=%d",
			                     base, num, PAGE),
			        NULL, 0);
		if (rc == AFK_OK)
			rc = greq_set(g, &gq[k++], "GET",
			        afk__aprintf("read the blockers of %s#%ld",
			                     repo, num),
			        afk__aprintf("%s/issues/%ld/dependencies?"
			                     "limit=%d", base, num, PAGE),
			        NULL, 1);
		free(base);
		base = NULL;
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
	}
	if (rc == AFK_OK)
		rc = afk__forge_run_each(call, g, gq, 2 * ng);
	for (i = 0, k = 0; i < n && rc == AFK_OK; i++) {
		if (!cands[i].needs_gates)
			continue;
		repo = repos[cands[i].repo];
		tl = bl = all = NULL;
		if (afk__forge_failed(&gq[k]) || afk__forge_failed(&gq[k + 1])) {
			greq *q = afk__forge_failed(&gq[k]) ? &gq[k] :
			          &gq[k + 1];

			rc = vet_failed(call, repo, &cands[i],
			                afk__forge_code(q), q->r.errmsg);
			k += 2;
			continue;
		}
		tl = body_of(call, &gq[k], 1);
		bl = tl ? body_of(call, &gq[k + 1], 1) : NULL;
		rc = tl == NULL || bl == NULL ? AFK_EPARSE :
		     afk__forge_read_back(call, g, &gq[k], tl, PAGE,
		                          labelled_in, g->ready, 1, &all,
		                          &partial);
		if (rc == AFK_OK)
			rc = fill_pages(call, g, &gq[k + 1], bl);
		k += 2;
		json_decref(tl);
		if (rc != AFK_OK) {
			json_decref(all);
			json_decref(bl);
			rc = rc == AFK_ENOMEM ? rc : vet_failed(call, repo,
			     &cands[i], rc, afk__forge_why(call));
			continue;
		}
		if (nameless_blocker(bl)) {
			json_decref(all);
			json_decref(bl);
			rc = vet_failed(call, repo, &cands[i], AFK_EPARSE,
			                "an open dependency has no issue number");
			continue;
		}
		who = labeller(all, g->ready);
		cands[i].trusted = who != NULL &&
		        afk__strv_find(&g->trusted, who) >= 0;
		if (who != NULL && !cands[i].trusted && g->trust_writers &&
		    (cands[i].who = afk__strdup(who)) == NULL)
			rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
		cands[i].blockers = bl;
		json_decref(all);
	}
	if (rc == AFK_OK)
		rc = read_permissions(call, g, repos, cands, n);
	for (i = 0; i < n && rc == AFK_OK; i++)
		rc = report_issue(call, repos[cands[i].repo], &cands[i],
		                  cands[i].blockers);
out:
	for (i = 0; cands != NULL && i < n; i++) {
		json_decref(cands[i].blockers);
		free(cands[i].who);
	}
	greqs_free(gq, 2 * ng);
	greqs_free(qs, 2 * nrepos);
	for (i = 0; lists != NULL && i < 2 * nrepos; i++)
		json_decref(lists[i]);
	free(lists);
	free(failed);
	free(cands);
	free(lab[0]);
	free(lab[1]);
	return rc;
}

/* --- labels and closing ---------------------------------------------- */

/* Runs one request, method to {base}/issues/{number}{tail} with json
 * (taken over; NULL: no body).  what names the call in messages.  With
 * absent_ok a 404 is success: the thing to remove is gone already.  With
 * out, the answer is parsed into *out (want_array: an array, else an
 * object). */
static int issue_req(afk_call *call, struct afk__forge *g, const char *repo,
                     long number, const char *method, const char *tail,
                     char *json, int json_wanted, const char *what,
                     int absent_ok, json_t **out, int want_array)
{
	char err[AFK__ERRMSG_SIZE], *base = NULL;
	greq q;
	int rc;

	if (out != NULL)
		*out = NULL;
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
	if (rc != AFK_OK || (json == NULL && json_wanted)) {
		greq_clear(&q);
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	}
	q.absent_ok = absent_ok;
	rc = run(call, g, &q, 1);
	if (rc == AFK_OK && q.r.rc == AFK_OK && out != NULL &&
	    (*out = body_of(call, &q, want_array)) == NULL)
		rc = AFK_EPARSE;
	greq_clear(&q);
	return rc;
}

/* The label object named name in the array list, or NULL. */
static json_t *label_in(json_t *list, const char *name)
{
	json_t *l;
	size_t i;

	json_array_foreach(list, i, l) {
		const char *n = str_of(l, "name");

		if (n != NULL && strcmp(n, name) == 0)
			return l;
	}
	return NULL;
}

static int fj_add_label(afk_call *call, const char *repo, long number,
                        const char *label, void *userdata)
{
	json_t *a = json_array(), *got = NULL;
	int rc;

	if (a != NULL && json_array_append_new(a, json_string(label)) != 0) {
		json_decref(a);
		a = NULL;
	}
	rc = issue_req(call, userdata, repo, number, "POST", "/labels",
	               json1("labels", a), 1, "add a label", 0, &got, 1);
	/* Forgejo ignores a name the repository has no label for. */
	if (rc == AFK_OK && label_in(got, label) == NULL)
		rc = afk__call_failf(call, AFK_EIO, "add a label of %s#%ld: "
		                     "the repository has no label \"%s\" (the "
		                     "issue does not carry it)", repo, number,
		                     label);
	json_decref(got);
	return rc;
}

static int fj_remove_label(afk_call *call, const char *repo, long number,
                           const char *label, void *userdata)
{
	json_t *list = NULL, *l, *id;
	char *tail;
	int rc;

	rc = issue_req(call, userdata, repo, number, "GET", "/labels", NULL,
	               0, "remove a label: read the labels", 0, &list, 1);
	if (rc != AFK_OK)
		return rc;
	l = label_in(list, label);
	id = json_object_get(l, "id");
	if (l == NULL) {
		json_decref(list);
		return AFK_OK; /* not carried: nothing to remove */
	}
	if (!json_is_integer(id)) {
		json_decref(list);
		return afk__call_failf(call, AFK_EPARSE, "remove a label of "
		                       "%s#%ld: the label \"%s\" has no id",
		                       repo, number, label);
	}
	tail = afk__aprintf("/labels/%lld", (long long)json_integer_value(id));
	json_decref(list);
	if (tail == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	rc = issue_req(call, userdata, repo, number, "DELETE", tail, NULL, 0,
	               "remove a label", 1, NULL, 0);
	free(tail);
	return rc;
}

static int fj_close_issue(afk_call *call, const char *repo, long number,
                          void *userdata)
{
	return issue_req(call, userdata, repo, number, "PATCH", "",
	                 json1("state", json_string("closed")), 1,
	                 "close the issue", 0, NULL, 0);
}

/* --- comments -------------------------------------------------------- */

/* Lists the comments of issue number of repo into *out (a JSON array the
 * caller decrefs), reading the token's own login first when it is not
 * known yet (in the same batch). */
static int fj_find_comment(afk_call *call, const char *repo, long number,
                           const char *marker, void *userdata)
{
	return afk__forge_find_comment(call, userdata, repo, number, marker);
}

static int fj_upsert_comment(afk_call *call, const char *repo, long number,
                             const char *marker, const char *body,
                             void *userdata)
{
	return afk__forge_upsert_comment(call, userdata, repo, number, marker,
	                                 body);
}

/* --- CI status ------------------------------------------------------- */

/* The number of the pull request of repo that the timeline event e
 * references, else 0; *author: the pull request's author. */
static long linked_pr(json_t *e, const char *repo, const char **author)
{
	static const char *const types[] = {
		"pull_ref", "issue_ref", "comment_ref", NULL
	};
	const char *type = str_of(e, "type"), *full;
	json_t *is, *num;
	size_t i;
	int ok = 0;

	*author = NULL;
	for (i = 0; type != NULL && types[i] != NULL; i++)
		ok |= strcmp(type, types[i]) == 0;
	if (!ok)
		return 0;
	is = json_object_get(e, "ref_issue");
	num = json_object_get(is, "number");
	if (!is_pull(is) || !json_is_integer(num))
		return 0;
	full = str_of(json_object_get(is, "repository"), "full_name");
	if (full == NULL || strcasecmp(full, repo) != 0)
		return 0;
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
		return AFK_STATUS_PENDING;
	if (strcmp(s, "success") == 0 || strcmp(s, "warning") == 0 ||
	    strcmp(s, "skipped") == 0)
		return AFK_STATUS_SUCCESS;
	if (strcmp(s, "failure") == 0 || strcmp(s, "error") == 0)
		return AFK_STATUS_FAILURE;
	return AFK_STATUS_PENDING;
}

/* Reads the combined status of head into *out (an object whose
 * "statuses" holds every page read) and sets *unread when a page past
 * those read may hold more. */
static int read_statuses(afk_call *call, struct afk__forge *g, const char *repo,
                         const char *base, const char *head, json_t **out,
                         int *unread)
{
	json_t *all = NULL, *o;
	char *eh = enc(head);
	greq q;
	long p;
	size_t got;
	int rc = AFK_OK;

	*out = NULL;
	*unread = 0;
	if (eh == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	for (p = 1; p <= 1 + MORE_PAGES && rc == AFK_OK; p++) {
		rc = greq_set(g, &q, "GET",
		        p == 1 ? afk__aprintf("read the commit statuses of "
		                              "%s@%s", repo, head) :
		        afk__aprintf("read the commit statuses of %s@%s "
		                     "(page %ld)", repo, head, p),
		        afk__aprintf("%s/commits/%s/status?limit=%d&page=%ld",
		                     base, eh, PAGE, p), NULL, 0);
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
		if (rc == AFK_OK)
			rc = run(call, g, &q, 1);
		o = rc == AFK_OK ? body_of(call, &q, 0) : NULL;
		if (rc == AFK_OK && o == NULL)
			rc = AFK_EPARSE;
		greq_clear(&q);
		if (rc != AFK_OK)
			break;
		got = json_array_size(json_object_get(o, "statuses"));
		if (all == NULL) {
			all = o;
			if (!json_is_array(json_object_get(all, "statuses")))
				json_object_set_new(all, "statuses",
				                    json_array());
		} else {
			json_array_extend(json_object_get(all, "statuses"),
			                  json_object_get(o, "statuses"));
			json_decref(o);
		}
		if (got < PAGE)
			break;
		if (p == 1 + MORE_PAGES)
			*unread = 1;
	}
	free(eh);
	if (rc != AFK_OK) {
		json_decref(all);
		return rc;
	}
	*out = all;
	return AFK_OK;
}

/* Reports the CI state from the statuses; unread ones count as pending. */
static int report_ci(afk_call *call, json_t *status, int unread)
{
	int ci = unread ? AFK_STATUS_PENDING : AFK_STATUS_NONE, st;
	int rc = AFK_OK;
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(status, "statuses"), i, s) {
		st = status_state(str_of(s, "status"));
		fold(&ci, st);
		if (st == AFK_STATUS_FAILURE && rc == AFK_OK)
			rc = afk_call_add_failing_check(call,
			        str_of(s, "context") ? str_of(s, "context") :
			        "status", str_of(s, "target_url"));
	}
	if (rc == AFK_OK)
		rc = afk_call_set_ci(call, ci);
	return rc;
}

static int fj_ci_status(afk_call *call, const char *repo, long number,
                        void *userdata)
{
	struct afk__forge *g = userdata;
	char err[AFK__ERRMSG_SIZE], *base = NULL;
	greq tq;
	json_t *tl = NULL, *best = NULL, *status = NULL;
	int rc, best_merged = 0, unread = 0;
	const char *head;

	memset(&tq, 0, sizeof(tq));
	rc = repo_base(g, repo, &base, err);
	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "CI status: %s", err);
	rc = greq_set(g, &tq, "GET",
	        afk__aprintf("find the pull request of %s#%ld", repo, number),
	        afk__aprintf("%s/issues/%ld/timeline?limit=%d", base, number,
	                     PAGE), NULL, 0);
	if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "out of memory");
	if (rc == AFK_OK)
		rc = run(call, g, &tq, 1);
	if (rc == AFK_OK && (tl = body_of(call, &tq, 1)) == NULL)
		rc = AFK_EPARSE;
	/* From the end back to the dispatch (the in-progress label), where
	 * the run's PR is linked; at most http.max_pages pages, never a
	 * failure for a busy issue: a PR linked only earlier is not seen and
	 * the run waits. */
	if (rc == AFK_OK) {
		json_t *all = NULL;
		int partial;

		rc = afk__forge_read_back(call, g, &tq, tl, PAGE, labelled_in,
		                          g->in_progress, 0, &all, &partial);
		json_decref(tl);
		tl = all;
	}
	if (rc == AFK_OK)
		rc = afk__forge_pick_pr(call, g, repo, base, tl, linked_pr,
		                        &best, &best_merged);
	head = str_of(json_object_get(best, "head"), "sha");
	if (rc == AFK_OK && best != NULL && (head == NULL || head[0] == '\0'))
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
	if (rc == AFK_OK)
		rc = read_statuses(call, g, repo, base, head, &status, &unread);
	if (rc == AFK_OK)
		rc = report_ci(call, status, unread);
	if (rc == AFK_OK)
		rc = afk_call_set_deploy(call, AFK_STATUS_NONE);
out:
	json_decref(best);
	json_decref(tl);
	json_decref(status);
	greq_clear(&tq);
	free(base);
	return rc;
}

/* --- making one ------------------------------------------------------ */

static const afk__forge_kind forgejo = {
	"forgejo", "Forgejo", "token", NULL, "",
	fj_list_ready, fj_add_label, fj_remove_label, fj_close_issue,
	fj_find_comment, fj_upsert_comment, fj_ci_status,
	"state=closed&type=issues&labels=%s&limit=50"
};

static int forgejo_tracker_setup(afk_tracker *tracker, const afk_config *cfg,
                                 char *errbuf)
{
	return afk__forge_tracker_setup(tracker, cfg, &forgejo, errbuf);
}

static int forgejo_ci_setup(afk_ci *ci, const afk_config *cfg, char *errbuf)
{
	return afk__forge_ci_setup(ci, cfg, &forgejo, errbuf);
}

#define FORGEJO_API_URL {"api_url", AFK__M_URL, AFK__M_REQUIRED, NULL, 0, 0, \
	afk__url_check, "the instance's API, e.g. https://codeberg.org/api/v1"}
#define FORGEJO_TOKEN {"token", AFK__M_SECRET, AFK__M_REQUIRED, NULL, 0, 0, \
	NULL, "where the token is read from"}

static const afk__member forgejo_tracker_members[] = {
	FORGEJO_API_URL,
	FORGEJO_TOKEN,
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_forgejo_tracker = {
	{"forgejo", AFK__ROLE_TRACKER, AFK__K_OWNER_REPOS,
	 forgejo_tracker_members,
	 "the issues of a Forgejo or Gitea instance, over its REST API"},
	{.tracker = forgejo_tracker_setup}
};

static const afk__member forgejo_ci_members[] = {
	FORGEJO_API_URL,
	FORGEJO_TOKEN,
	{"deploy_environment", AFK__M_REFUSED, 0, NULL, 0, 0, NULL,
	 "Forgejo has no deployments to read: only a \"github\" CI takes a "
	 "deploy environment"},
	{"agent_logins", AFK__M_LOGINS, 0, NULL, 0, 0, NULL,
	 "whose pull request may be a run's (default: the token's login)"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_forgejo_ci = {
	{"forgejo", AFK__ROLE_CI, AFK__K_OWNER_REPOS, forgejo_ci_members,
	 "a pull request's commit statuses on Forgejo or Gitea"},
	{.ci = forgejo_ci_setup}
};
