/*
 * lib/core/lifecycle.c - the run's state machine.
 *
 * afk__lifecycle_next() decides the one thing the watch tick does with a
 * run.  The first rule that applies wins:
 *
 *   1. the run succeeded: with a deploy stage, the deploy succeeded;
 *      without one, the PR is merged and CI is green     -> CLOSE
 *   2. the agent errored                                 -> ESCALATE AGENT_FAILED
 *      its thread is gone                                -> ESCALATE AGENT_GONE
 *      its usage passed the cost budget (tokens in + out
 *      above max_tokens, or cost above max_cost_microusd) -> ESCALATE BUDGET
 *   3. it waits on an approval or an answer              -> ESCALATE AGENT_WAITING
 *   4. it was stopped or interrupted                     -> ESCALATE AGENT_STOPPED
 *   5. it completed without delivering a PR              -> ESCALATE AGENT_STOPPED
 *   6. CI fails (or, with a deploy stage, the deploy does), the agent
 *      completed its turn and this failure has not had its corrective
 *      turn yet: FIX_FORWARD while attempts < budget, else ESCALATE
 *      CI_FAILED, or DEPLOY_FAILED when CI itself does not fail
 *   7. CI pending past ci_timeout                        -> ESCALATE CI_TIMEOUT
 *   8. the deploy pending past deploy_timeout            -> ESCALATE DEPLOY_TIMEOUT
 *   9. nothing pending, no progress past stall_timeout   -> ESCALATE STALLED
 *      (progress: the dispatch, a phase, a new head, a corrective turn
 *      and the agent's output - its snapshot's activity, which the
 *      watch tick folds into changed_at with afk__lifecycle_progress())
 *  10. WAIT, refreshing the checklist when its phase moved.
 *
 * A running agent is still at work, maybe on the fix, so a failure does
 * not interrupt it; an answered failure already had its turn.  Both meet
 * the deadlines instead (7-9).  While CI or a deploy is pending, their
 * own deadline applies and the stall one does not.  "Past" is strict:
 * now - since > timeout.
 *
 * The budget covers the whole run, fix-forward turns included: usage is
 * the run's total as the record keeps it, never reset by a turn.  It
 * comes after a failed or vanished agent, which say more about the run,
 * and before everything the agent could still do: an agent over budget
 * is not waited on, nor sent another turn.  A run that succeeded is
 * closed whatever it cost.
 *
 * Before any of these the watch asks afk__lifecycle_stop() whether a
 * human took the run back (closed the issue, added the human label,
 * removed the in-progress or the ready label): that run is stopped.
 *
 * Values out of their documented ranges fail closed: an unknown agent
 * state counts as ERRORED (escalated unless the run already succeeded),
 * an unknown PR, CI or deploy state as NONE (never success, failure or
 * pending).  Without a deploy stage the deploy state is ignored.
 */
#include "core/lifecycle.h"

#include <limits.h>

/* The run's states brought into range, as the rules read them. */
typedef struct view {
	int agent;
	int pr;
	int ci;
	int deploy;     /* NONE without a deploy stage */
} view;

static int known_agent(int agent)
{
	return agent >= AFK_AGENT_RUNNING && agent <= AFK_AGENT_GONE;
}

/* v if it lies in 0..max, else 0 (the NONE of PR and status values). */
static int or_none(int v, int max)
{
	return v >= 0 && v <= max ? v : 0;
}

static view see(const afk__run_state *s, const afk__lifecycle_cfg *c)
{
	view v;

	v.agent = known_agent(s->agent) ? s->agent : AFK_AGENT_ERRORED;
	v.pr = or_none(s->pr, AFK_PR_MERGED);
	v.ci = or_none(s->ci, AFK_STATUS_FAILURE);
	v.deploy = c->deploy_stage ? or_none(s->deploy, AFK_STATUS_FAILURE)
	                           : AFK_STATUS_NONE;
	return v;
}

/* The furthest of the reported phase (clamped into the agent's 0..3)
 * and what the PR, CI and the deploy show. */
static int shown_phase(int reported, const view *v)
{
	int phase = reported;

	if (phase < AFK_PHASE_DISPATCHED)
		phase = AFK_PHASE_DISPATCHED;
	if (phase > AFK_PHASE_PUSHED)
		phase = AFK_PHASE_PUSHED;
	if (v->pr != AFK_PR_NONE)
		phase = AFK_PHASE_PUSHED;
	if (v->pr != AFK_PR_NONE && v->ci == AFK_STATUS_SUCCESS)
		phase = AFK_PHASE_CI;
	if (v->deploy == AFK_STATUS_SUCCESS)
		phase = AFK_PHASE_DEPLOYED;
	return phase;
}

int afk__lifecycle_phase(const afk__run_state *s,
                         const afk__lifecycle_cfg *c)
{
	view v = see(s, c);

	return shown_phase(s->phase, &v);
}

/* Rule 1.  The deploy, when there is one, is the end; merged + green is
 * not enough then. */
static int succeeded(const view *v, const afk__lifecycle_cfg *c)
{
	if (c->deploy_stage)
		return v->deploy == AFK_STATUS_SUCCESS;
	return v->pr == AFK_PR_MERGED && v->ci == AFK_STATUS_SUCCESS;
}

/* Rule 2's first half: the agent is lost.  0 if it is not. */
static int lost_reason(const view *v)
{
	switch (v->agent) {
	case AFK_AGENT_ERRORED:
		return AFK_ESCALATE_AGENT_FAILED;
	case AFK_AGENT_GONE:
		/* Nothing will ever move it again: waiting for the stall
		 * deadline would only keep its repository locked. */
		return AFK_ESCALATE_AGENT_GONE;
	default:
		return 0;
	}
}

/* Rule 2's budget: "passes" is strict, like the deadlines; a cap of 0
 * is none. */
static int over_budget(const afk__run_state *s, const afk__lifecycle_cfg *c)
{
	if (c->max_tokens > 0 && s->tokens > c->max_tokens)
		return 1;
	return c->max_cost_microusd > 0 &&
	       s->cost_microusd > c->max_cost_microusd;
}

/* Rules 3-5: the agent's own state asks for a human.  0 if it does not. */
static int agent_reason(const view *v)
{
	switch (v->agent) {
	case AFK_AGENT_WAITING_APPROVAL:
	case AFK_AGENT_WAITING_INPUT:
		return AFK_ESCALATE_AGENT_WAITING;
	case AFK_AGENT_STOPPED:
	case AFK_AGENT_INTERRUPTED:
		return AFK_ESCALATE_AGENT_STOPPED;
	case AFK_AGENT_COMPLETED:
		return v->pr == AFK_PR_NONE ? AFK_ESCALATE_AGENT_STOPPED : 0;
	default:
		return 0;
	}
}

/* now - since > timeout.  A record's since may hold anything, so the gap
 * is not computed where it would overflow: there its sign decides. */
static int past(long long now, long long since, long long timeout)
{
	if (since < 0 && now > LLONG_MAX + since)
		return 1;       /* the gap is above LLONG_MAX >= timeout */
	if (since > 0 && now < LLONG_MIN + since)
		return 0;       /* the gap is below LLONG_MIN <= timeout */
	return now - since > timeout;
}

int afk__lifecycle_past(long long now, long long since, long long timeout)
{
	return past(now, since, timeout);
}

/* Rules 7-9: the deadline the run has missed.  0 if none. */
static int deadline_reason(const afk__run_state *s, const view *v,
                           const afk__lifecycle_cfg *c, long long now)
{
	int ci_pending = v->ci == AFK_STATUS_PENDING;
	int deploy_pending = v->deploy == AFK_STATUS_PENDING;

	if (ci_pending && past(now, s->ci_since, c->ci_timeout))
		return AFK_ESCALATE_CI_TIMEOUT;
	if (deploy_pending && past(now, s->deploy_since, c->deploy_timeout))
		return AFK_ESCALATE_DEPLOY_TIMEOUT;
	if (!ci_pending && !deploy_pending &&
	    past(now, s->changed_at, c->stall_timeout))
		return AFK_ESCALATE_STALLED;
	return 0;
}

static afk__decision decision(int action, int reason, int refresh)
{
	afk__decision d;

	d.action = action;
	d.reason = reason;
	d.refresh = refresh;
	return d;
}

afk__decision afk__lifecycle_next(const afk__run_state *s,
                                  const afk__lifecycle_cfg *c,
                                  long long now)
{
	view v = see(s, c);
	int ci_failed = v.ci == AFK_STATUS_FAILURE;
	int failed = ci_failed || v.deploy == AFK_STATUS_FAILURE;
	int reason;

	if (succeeded(&v, c))
		return decision(AFK_ACTION_CLOSE, 0, 0);
	reason = lost_reason(&v);
	if (reason)
		return decision(AFK_ACTION_ESCALATE, reason, 0);
	if (over_budget(s, c))
		return decision(AFK_ACTION_ESCALATE, AFK_ESCALATE_BUDGET, 0);
	reason = agent_reason(&v);
	if (reason)
		return decision(AFK_ACTION_ESCALATE, reason, 0);
	if (failed && v.agent == AFK_AGENT_COMPLETED && !s->answered) {
		if (s->attempts < c->budget)
			return decision(AFK_ACTION_FIX_FORWARD, 0, 0);
		return decision(AFK_ACTION_ESCALATE,
		                ci_failed ? AFK_ESCALATE_CI_FAILED
		                          : AFK_ESCALATE_DEPLOY_FAILED, 0);
	}
	reason = deadline_reason(s, &v, c, now);
	if (reason)
		return decision(AFK_ACTION_ESCALATE, reason, 0);
	return decision(AFK_ACTION_WAIT, 0,
	                shown_phase(s->phase, &v) != s->recorded_phase);
}

/* --- the next deadline ------------------------------------------------ */

/* The first time after now at which now - since > timeout holds, or 0
 * (with *never set) when it does not before the clock's end.  past() is
 * monotonic in now, so a bisection finds it whatever the record holds,
 * with no arithmetic that could overflow. */
static long long first_past(long long now, long long since,
                            long long timeout, int *never)
{
	long long lo = now, hi = LLONG_MAX, mid;

	*never = 0;
	if (past(now, since, timeout))
		return now;     /* already past: no change to come from it */
	if (!past(LLONG_MAX, since, timeout)) {
		*never = 1;
		return 0;
	}
	/* past(lo) is false, past(hi) true; the gap may exceed LLONG_MAX,
	 * so it is taken unsigned, and half of it always fits */
	while ((unsigned long long)hi - (unsigned long long)lo > 1) {
		mid = lo + (long long)(((unsigned long long)hi -
		                        (unsigned long long)lo) / 2);
		if (past(mid, since, timeout))
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

static int same(afk__decision a, afk__decision b)
{
	return a.action == b.action && a.reason == b.reason;
}

/* The decision can only change when one of the clocks the rules read
 * passes its timeout, so the candidates are those three instants; the
 * answer is the earliest candidate after now at which the rules,
 * asked again, say something else.  Between candidates nothing the
 * rules read changes. */
afk__deadline afk__lifecycle_deadline(const afk__run_state *s,
                                      const afk__lifecycle_cfg *c,
                                      long long now)
{
	afk__decision d0 = afk__lifecycle_next(s, c, now), d;
	long long cand[3], t, best;
	afk__deadline out;
	int i, n = 0, never, found = 0;

	out.at = 0;
	out.becomes = decision(0, 0, 0);
	out.none = 1;
	t = first_past(now, s->ci_since, c->ci_timeout, &never);
	if (!never && t > now)
		cand[n++] = t;
	t = first_past(now, s->deploy_since, c->deploy_timeout, &never);
	if (!never && t > now)
		cand[n++] = t;
	t = first_past(now, s->changed_at, c->stall_timeout, &never);
	if (!never && t > now)
		cand[n++] = t;
	best = 0;
	for (i = 0; i < n; i++) {
		if (found && cand[i] >= best)
			continue;
		d = afk__lifecycle_next(s, c, cand[i]);
		if (!same(d, d0)) {
			best = cand[i];
			found = 1;
			out.becomes = d;
		}
	}
	if (found) {
		out.at = best;
		out.becomes.refresh = 0;
		out.none = 0;
	}
	return out;
}

long long afk__lifecycle_progress(long long changed_at, long long activity,
                                  long long now)
{
	if (activity > now)
		activity = now;
	return activity > changed_at ? activity : changed_at;
}

/* Closed first: it is final, whatever the labels say.  Then the human
 * label, then the labels that make the run afk's.  A closed issue that
 * holds no lock has nothing left to stop. */
int afk__lifecycle_stop(int closed, int in_progress, int ready, int human)
{
	if (closed)
		return in_progress ? AFK_STOP_CLOSED : 0;
	if (human)
		return AFK_STOP_HUMAN_LABEL;
	if (!in_progress || !ready)
		return AFK_STOP_UNLOCKED;
	return 0;
}
