/*
 * lib/core/policy.c - dispatch selection.
 */
#include "core/policy.h"

#include <stdlib.h>
#include <string.h>

#include "afk/skip.h"

/* Does a beat b?  Higher priority first; ties go to the lower number. */
static int outranks(const afk__rec *a, const afk__rec *b)
{
	return afk__policy_outranks(a->priority, (long)a->number, b->priority,
	                            (long)b->number);
}

/* Was issue i's trust left unread?  Flagged by the listing or by the
 * tracker itself; a flag wins over a trusted the tracker also set. */
static int unchecked_at(const afk__policy_in *in, size_t i)
{
	return in->recs[i].trusted == AFK__REC_UNCHECKED ||
	       (in->unvetted != NULL && in->unvetted[i]);
}

void afk__policy_select(const afk__policy_in *in, afk__policy_out *out)
{
	size_t i, k, in_flight = 0;
	int unchecked = 0;

	memset(out->locked, 0, in->nrepos);
	for (i = 0; i < in->nrepos; i++)
		out->best[i] = AFK__NONE;

	/* Pass 1: the lock must be known for the whole repository before
	 * any of its issues can be judged. */
	for (i = 0; i < in->n; i++) {
		const afk__rec *r = &in->recs[i];

		if (in->allow_rank[r->repo] >= 0 &&
		    in->in_progress != AFK__NONE &&
		    afk__rec_has_label(in->label_ids, r, in->in_progress))
			in_flight++;
		if (in->allow_rank[r->repo] < 0) {
			out->reason[i] = AFK_SKIP_NOT_ALLOWLISTED;
		} else if (in->repo_failed != NULL &&
		           in->repo_failed[r->repo]) {
			out->reason[i] = AFK_SKIP_REPO_FAILED;
		} else if (in->in_progress != AFK__NONE &&
		           afk__rec_has_label(in->label_ids, r, in->in_progress)) {
			out->reason[i] = AFK_SKIP_IN_PROGRESS;
			out->locked[r->repo] = 1;
		} else {
			out->reason[i] = 0;
		}
	}

	/* Pass 2: the gates of each issue, then one winner per repository. */
	for (i = 0; i < in->n; i++) {
		const afk__rec *r = &in->recs[i];
		uint32_t *best = &out->best[r->repo];

		if (out->reason[i] != 0)
			continue;
		if (unchecked_at(in, i)) {
			unchecked = 1;
			continue;
		}
		if (!r->trusted) {
			out->reason[i] = AFK_SKIP_UNTRUSTED;
		} else if (r->blocked) {
			out->reason[i] = AFK_SKIP_BLOCKED;
		} else if (out->locked[r->repo]) {
			out->reason[i] = AFK_SKIP_LOCKED;
		} else if (*best == AFK__NONE) {
			*best = (uint32_t)i;
		} else if (outranks(r, &in->recs[*best])) {
			out->reason[*best] = AFK_SKIP_OUTRANKED;
			*best = (uint32_t)i;
		} else {
			out->reason[i] = AFK_SKIP_OUTRANKED;
		}
	}

	/* Pass 3: the unchecked ones, once the winners are known.  Never
	 * picked: locked, outranked by the winner, or else untrusted - a
	 * tracker that left the best issue unchecked broke its word, and
	 * the selection fails closed. */
	for (i = 0; unchecked && i < in->n; i++) {
		const afk__rec *r = &in->recs[i];
		uint32_t best = out->best[r->repo];

		if (out->reason[i] != 0 || !unchecked_at(in, i))
			continue;
		if (out->locked[r->repo])
			out->reason[i] = AFK_SKIP_LOCKED;
		else if (best != AFK__NONE && outranks(&in->recs[best], r))
			out->reason[i] = AFK_SKIP_OUTRANKED;
		else if (in->unvetted != NULL && in->unvetted[i])
			out->reason[i] = AFK_SKIP_UNVETTED;
		else
			out->reason[i] = AFK_SKIP_UNTRUSTED;
	}

	out->npicks = 0;
	for (k = 0; k < in->nallow; k++) {
		uint32_t repo = in->allow_repo[k];

		/* A repository listed twice is picked once: its first place. */
		if (repo != AFK__NONE && in->allow_rank[repo] == (int32_t)k &&
		    out->best[repo] != AFK__NONE)
			out->picks[out->npicks++] = out->best[repo];
	}

	/* The global cap, in allowlist order. */
	if (in->max_in_flight == 0)
		return;
	k = in->max_in_flight > in_flight ? in->max_in_flight - in_flight : 0;
	for (i = k; i < out->npicks; i++)
		out->reason[out->picks[i]] = AFK_SKIP_CAPPED;
	if (out->npicks > k)
		out->npicks = k;
}

void afk__selection_clear(afk__selection *sel)
{
	free(sel->out.reason);
	free(sel->out.best);
	free(sel->out.locked);
	free(sel->out.picks);
	free(sel->allow_rank);
	free(sel->allow_repo);
	memset(sel, 0, sizeof(*sel));
}

int afk__selection_run(afk__selection *sel, const afk__iset *set,
                       const char *const *allowlist, size_t nallow,
                       const char *in_progress_label)
{
	return afk__selection_run_partial(sel, set, allowlist, nallow,
	                                  in_progress_label, NULL, NULL, 0);
}

int afk__selection_run_partial(afk__selection *sel, const afk__iset *set,
                               const char *const *allowlist, size_t nallow,
                               const char *in_progress_label,
                               const uint8_t *repo_failed,
                               const uint8_t *unvetted,
                               size_t max_in_flight)
{
	afk__policy_in in;
	size_t nrepos = set->repos.n, i;

	memset(sel, 0, sizeof(*sel));
	/* +1: malloc(0) may return NULL, which must not read as failure */
	sel->out.reason = malloc(set->n + 1);
	sel->out.best = malloc((nrepos + 1) * sizeof(uint32_t));
	sel->out.locked = malloc(nrepos + 1);
	sel->out.picks = malloc((nallow + 1) * sizeof(size_t));
	sel->allow_rank = malloc((nrepos + 1) * sizeof(int32_t));
	sel->allow_repo = malloc((nallow + 1) * sizeof(uint32_t));
	if (!sel->out.reason || !sel->out.best || !sel->out.locked ||
	    !sel->out.picks || !sel->allow_rank || !sel->allow_repo) {
		afk__selection_clear(sel);
		return AFK_ENOMEM;
	}

	for (i = 0; i < nrepos; i++)
		sel->allow_rank[i] = -1;
	for (i = 0; i < nallow; i++) {
		uint32_t id = afk__strtab_find(&set->repos, allowlist[i]);

		sel->allow_repo[i] = id;
		if (id != AFK__NONE && sel->allow_rank[id] < 0)
			sel->allow_rank[id] = (int32_t)i;
	}

	in.recs = set->recs;
	in.n = set->n;
	in.label_ids = set->label_ids;
	in.nrepos = nrepos;
	in.allow_rank = sel->allow_rank;
	in.allow_repo = sel->allow_repo;
	in.nallow = nallow;
	in.in_progress = afk__strtab_find(&set->labels, in_progress_label);
	in.repo_failed = repo_failed;
	in.unvetted = unvetted;
	in.max_in_flight = max_in_flight;
	afk__policy_select(&in, &sel->out);
	return AFK_OK;
}
