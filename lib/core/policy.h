/*
 * lib/core/policy.h - dispatch selection, the pure core of the poll tick.
 * Internal.
 *
 * Given the listed issues, the allowlist and the in-progress label, it
 * decides for every issue whether it is picked and, if not, why.  No I/O,
 * no clock; afk__policy_select() does not even allocate.
 */
#ifndef AFK_LIB_POLICY_H
#define AFK_LIB_POLICY_H

#include "core/issue.h"

typedef struct afk__policy_in {
	const afk__rec *recs;        /* the issues, in the tracker's order */
	size_t n;
	const uint32_t *label_ids;   /* the set's label ids */
	size_t nrepos;               /* every recs[i].repo is < nrepos */
	const int32_t *allow_rank;   /* per repo id: allowlist position or -1 */
	const uint32_t *allow_repo;  /* per allowlist position: repo id or AFK__NONE */
	size_t nallow;
	uint32_t in_progress;        /* label id, or AFK__NONE if nobody has it */
	const uint8_t *repo_failed;  /* per repo id: 1 = not listed in full; or NULL */
	const uint8_t *unvetted;     /* per issue: 1 = could not be vetted; or NULL */
	size_t max_in_flight;        /* runs in flight at most; 0: no cap */
} afk__policy_in;

typedef struct afk__policy_out {
	uint8_t *reason;   /* n: 0 = picked, else an AFK_SKIP_* reason */
	uint32_t *best;    /* nrepos scratch */
	uint8_t *locked;   /* nrepos scratch */
	size_t *picks;     /* nallow: indexes of the picks, allowlist order */
	size_t npicks;
} afk__policy_out;

/* The rules, in the order an issue meets them:
 *   1. its repository is not allowlisted          -> NOT_ALLOWLISTED
 *   1a. its repository could not be listed in full -> REPO_FAILED (its
 *      locks are unknown, so nothing of it may be picked)
 *   2. it carries the in-progress label           -> IN_PROGRESS (and
 *      its repository is locked for this tick)
 *   3. its ready label was not set by a trusted user -> UNTRUSTED
 *   4. an open issue blocks it                    -> BLOCKED
 *   5. its repository is locked                   -> LOCKED
 *   6. another issue of its repository has a higher priority, or the
 *      same priority and a lower number           -> OUTRANKED
 * An issue whose trust was not checked (AFK__REC_UNCHECKED, or flagged
 * in unvetted whatever the tracker said) is never picked: LOCKED when
 * its repository is, OUTRANKED when the winner of its repository
 * outranks it, else UNVETTED when flagged, else UNTRUSTED.
 * So at most one issue per repository is picked.  The picks come out in
 * allowlist order.  Then the global cap: with max_in_flight set, the
 * runs in flight are the listed issues of allowlisted repositories that
 * carry the in-progress label (a repository that could not be listed in
 * full counts what was listed), and only the first max_in_flight minus
 * that many picks stay picks; the rest are CAPPED.
 * Writes every array of out and out->npicks. */
void afk__policy_select(const afk__policy_in *in, afk__policy_out *out);

/* The whole selection over an issue set: maps the allowlist and the
 * in-progress label to the set's ids, then selects.  The arrays of sel
 * are allocated here and freed by afk__selection_clear(). */
typedef struct afk__selection {
	afk__policy_out out;
	int32_t *allow_rank;
	uint32_t *allow_repo;
} afk__selection;

int afk__selection_run(afk__selection *sel, const afk__iset *set,
                       const char *const *allowlist, size_t nallow,
                       const char *in_progress_label);
/* The same, knowing what the listing could not read: repo_failed per
 * repo id of set, unvetted per issue (either may be NULL). */
int afk__selection_run_partial(afk__selection *sel, const afk__iset *set,
                               const char *const *allowlist, size_t nallow,
                               const char *in_progress_label,
                               const uint8_t *repo_failed,
                               const uint8_t *unvetted,
                               size_t max_in_flight);
void afk__selection_clear(afk__selection *sel);

/* Rule 6's order: does an issue of priority pa and number na outrank one
 * of pb and nb?  Higher priority first; ties go to the lower number.
 * Shared with the built-in trackers, which vet candidates in this order
 * and stop at the first that passes. */
static inline int afk__policy_outranks(int pa, long na, int pb, long nb)
{
	if (pa != pb)
		return pa > pb;
	return na < nb;
}

#endif
