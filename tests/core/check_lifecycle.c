/*
 * tests/core/check_lifecycle.c - the run's state machine as a decision table.
 *
 * The table is written from the rules (lib/core/lifecycle.c's header) as a
 * decision tree, not from the code: each row names every condition under
 * which its action holds, so the rows are read alone, never "first match
 * wins".  One test proves they partition the input space: every one of
 * the 73,728 combinations of the inputs' values is covered by exactly one
 * row.  Another runs the machine on each combination and demands that
 * row's action and reason.  Pure: no adapters, no clock.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/lifecycle.h"
#include "fakes.h"

/* The clock of the table.  past: one second over the timeout; not past:
 * exactly at it, which also pins the strict boundary.  The timeouts
 * differ so that one read in place of another shows. */
#define NOW 100000LL
#define STALL_TIMEOUT 1000LL
#define CI_TIMEOUT 2000LL
#define DEPLOY_TIMEOUT 3000LL
#define BUDGET 2
#define MAX_TOKENS 500000LL   /* the cost budget's caps */
#define MAX_COST 2000000LL

/* A row holds a set of values per input, as a bitmask over the values. */
#define ANY (~0u)
#define NO (1u << 0)
#define YES (1u << 1)
#define AGENT(x) (1u << AFK_AGENT_##x)
#define PR(x) (1u << AFK_PR_##x)
#define CI(x) (1u << AFK_STATUS_##x)
#define DEP(x) (1u << AFK_STATUS_##x)
#define ATT(n) (1u << (n))

#define WAITING (AGENT(WAITING_APPROVAL) | AGENT(WAITING_INPUT))
#define HALTED (AGENT(STOPPED) | AGENT(INTERRUPTED))
#define NOT_LOST (AGENT(RUNNING) | AGENT(COMPLETED) | WAITING | HALTED)
#define HAS_PR (PR(OPEN) | PR(MERGED))
#define UNMERGED (PR(NONE) | PR(OPEN))
#define NOT_GREEN (CI(NONE) | CI(PENDING) | CI(FAILURE))
#define UNDEPLOYED (DEP(NONE) | DEP(PENDING) | DEP(FAILURE))
#define CI_NOT_PENDING (CI(NONE) | CI(SUCCESS) | CI(FAILURE))
#define CI_NOT_FAILING (CI(NONE) | CI(PENDING) | CI(SUCCESS))
#define LEFT (ATT(0) | ATT(1))   /* fix-forwards left in the budget of 2 */
#define SPENT ATT(2)

/* The expected action and reason. */
#define CLOSE AFK_ACTION_CLOSE, 0
#define FIX AFK_ACTION_FIX_FORWARD, 0
#define WAIT AFK_ACTION_WAIT, 0
#define ESC(r) AFK_ACTION_ESCALATE, AFK_ESCALATE_##r

/* Single values, for the small tables. */
#define NOPR AFK_PR_NONE
#define OPEN AFK_PR_OPEN
#define MERGED AFK_PR_MERGED
#define NIL AFK_STATUS_NONE
#define PEND AFK_STATUS_PENDING
#define OK AFK_STATUS_SUCCESS
#define FAIL AFK_STATUS_FAILURE

typedef struct row {
	unsigned stage;         /* the config has a deploy stage */
	unsigned agent, pr, ci, deploy, attempts, answered;
	unsigned stall_late, ci_late, deploy_late; /* deadline past */
	unsigned over;          /* the usage passed the cost budget */
	int action, reason;
	const char *why;
} row;

static const row table[] = {
/*	stage, agent, pr, ci, deploy, attempts, answered,
 *	stall deadline past, CI deadline past, deploy deadline past,
 *	over budget, action and reason, why */

	/* No deploy stage: merged and green is the end; the deploy
	 * never counts. */
	{NO, ANY, PR(MERGED), CI(SUCCESS), ANY, ANY, ANY, ANY, ANY, ANY,
	 ANY, CLOSE, "merged and green"},
	/* Not done: unmerged, or merged but not green.  An agent that
	 * needs a human gets one, whatever else holds. */
	{NO, AGENT(ERRORED), UNMERGED, ANY, ANY, ANY, ANY, ANY, ANY, ANY,
	 ANY, ESC(AGENT_FAILED), "errored, unmerged"},
	{NO, AGENT(ERRORED), PR(MERGED), NOT_GREEN, ANY, ANY, ANY, ANY, ANY, ANY,
	 ANY, ESC(AGENT_FAILED), "errored, merged but not green"},
	{NO, AGENT(GONE), UNMERGED, ANY, ANY, ANY, ANY, ANY, ANY, ANY,
	 ANY, ESC(AGENT_GONE), "thread gone, unmerged: at once, no deadline"},
	{NO, AGENT(GONE), PR(MERGED), NOT_GREEN, ANY, ANY, ANY, ANY, ANY, ANY,
	 ANY, ESC(AGENT_GONE), "thread gone, merged but not green"},
	/* Over budget: after a lost agent, before everything else. */
	{NO, NOT_LOST, UNMERGED, ANY, ANY, ANY, ANY, ANY, ANY, ANY,
	 YES, ESC(BUDGET), "over budget, unmerged"},
	{NO, NOT_LOST, PR(MERGED), NOT_GREEN, ANY, ANY, ANY, ANY, ANY, ANY,
	 YES, ESC(BUDGET), "over budget, merged but not green"},
	{NO, WAITING, UNMERGED, ANY, ANY, ANY, ANY, ANY, ANY, ANY,
	 NO, ESC(AGENT_WAITING), "waits on a human, unmerged"},
	{NO, WAITING, PR(MERGED), NOT_GREEN, ANY, ANY, ANY, ANY, ANY, ANY,
	 NO, ESC(AGENT_WAITING), "waits on a human, merged but not green"},
	{NO, HALTED, UNMERGED, ANY, ANY, ANY, ANY, ANY, ANY, ANY,
	 NO, ESC(AGENT_STOPPED), "stopped or interrupted, unmerged"},
	{NO, HALTED, PR(MERGED), NOT_GREEN, ANY, ANY, ANY, ANY, ANY, ANY,
	 NO, ESC(AGENT_STOPPED), "stopped or interrupted, merged but not green"},
	{NO, AGENT(COMPLETED), PR(NONE), ANY, ANY, ANY, ANY, ANY, ANY, ANY,
	 NO, ESC(AGENT_STOPPED), "completed without a PR"},
	/* Completed with a PR, CI fails, the failure is unanswered. */
	{NO, AGENT(COMPLETED), HAS_PR, CI(FAILURE), ANY, LEFT, NO, ANY, ANY, ANY,
	 NO, FIX, "CI fails, budget left"},
	{NO, AGENT(COMPLETED), HAS_PR, CI(FAILURE), ANY, SPENT, NO, ANY, ANY, ANY,
	 NO, ESC(CI_FAILED), "CI fails, budget spent"},
	/* Completed with a PR, otherwise: the deadlines. */
	{NO, AGENT(COMPLETED), HAS_PR, CI(PENDING), ANY, ANY, ANY, ANY, YES, ANY,
	 NO, ESC(CI_TIMEOUT), "completed, CI pending too long"},
	{NO, AGENT(COMPLETED), HAS_PR, CI(PENDING), ANY, ANY, ANY, ANY, NO, ANY,
	 NO, WAIT, "completed, CI pending in time (no stall while pending)"},
	{NO, AGENT(COMPLETED), HAS_PR, CI(NONE), ANY, ANY, ANY, YES, ANY, ANY,
	 NO, ESC(STALLED), "completed, no CI, no progress"},
	{NO, AGENT(COMPLETED), HAS_PR, CI(NONE), ANY, ANY, ANY, NO, ANY, ANY,
	 NO, WAIT, "completed, no CI yet"},
	{NO, AGENT(COMPLETED), HAS_PR, CI(FAILURE), ANY, ANY, YES, YES, ANY, ANY,
	 NO, ESC(STALLED), "answered failure, no progress since"},
	{NO, AGENT(COMPLETED), HAS_PR, CI(FAILURE), ANY, ANY, YES, NO, ANY, ANY,
	 NO, WAIT, "answered failure, the fix may still come"},
	{NO, AGENT(COMPLETED), PR(OPEN), CI(SUCCESS), ANY, ANY, ANY, YES, ANY, ANY,
	 NO, ESC(STALLED), "green, never merged"},
	{NO, AGENT(COMPLETED), PR(OPEN), CI(SUCCESS), ANY, ANY, ANY, NO, ANY, ANY,
	 NO, WAIT, "green, waits for the merge"},
	/* Running: still at work, a failure does not interrupt it. */
	{NO, AGENT(RUNNING), ANY, CI(PENDING), ANY, ANY, ANY, ANY, YES, ANY,
	 NO, ESC(CI_TIMEOUT), "running, CI pending too long"},
	{NO, AGENT(RUNNING), ANY, CI(PENDING), ANY, ANY, ANY, ANY, NO, ANY,
	 NO, WAIT, "running, CI pending in time"},
	{NO, AGENT(RUNNING), ANY, CI(NONE) | CI(FAILURE), ANY, ANY, ANY, YES, ANY, ANY,
	 NO, ESC(STALLED), "running, no CI or failing, no progress"},
	{NO, AGENT(RUNNING), ANY, CI(NONE) | CI(FAILURE), ANY, ANY, ANY, NO, ANY, ANY,
	 NO, WAIT, "running, no CI or failing"},
	{NO, AGENT(RUNNING), UNMERGED, CI(SUCCESS), ANY, ANY, ANY, YES, ANY, ANY,
	 NO, ESC(STALLED), "running, green unmerged, no progress"},
	{NO, AGENT(RUNNING), UNMERGED, CI(SUCCESS), ANY, ANY, ANY, NO, ANY, ANY,
	 NO, WAIT, "running, green unmerged"},

	/* Deploy stage: a successful deploy is the end, and the only one. */
	{YES, ANY, ANY, ANY, DEP(SUCCESS), ANY, ANY, ANY, ANY, ANY,
	 ANY, CLOSE, "deployed"},
	/* Not deployed: an agent that needs a human gets one. */
	{YES, AGENT(ERRORED), ANY, ANY, UNDEPLOYED, ANY, ANY, ANY, ANY, ANY,
	 ANY, ESC(AGENT_FAILED), "errored, undeployed"},
	{YES, AGENT(GONE), ANY, ANY, UNDEPLOYED, ANY, ANY, ANY, ANY, ANY,
	 ANY, ESC(AGENT_GONE), "thread gone, undeployed"},
	{YES, NOT_LOST, ANY, ANY, UNDEPLOYED, ANY, ANY, ANY, ANY, ANY,
	 YES, ESC(BUDGET), "over budget, undeployed"},
	{YES, WAITING, ANY, ANY, UNDEPLOYED, ANY, ANY, ANY, ANY, ANY,
	 NO, ESC(AGENT_WAITING), "waits on a human, undeployed"},
	{YES, HALTED, ANY, ANY, UNDEPLOYED, ANY, ANY, ANY, ANY, ANY,
	 NO, ESC(AGENT_STOPPED), "stopped or interrupted, undeployed"},
	{YES, AGENT(COMPLETED), PR(NONE), ANY, UNDEPLOYED, ANY, ANY, ANY, ANY, ANY,
	 NO, ESC(AGENT_STOPPED), "completed without a PR, undeployed"},
	/* Completed with a PR, CI or the deploy fails, unanswered.  When
	 * both fail, CI is named: it comes first. */
	{YES, AGENT(COMPLETED), HAS_PR, CI(FAILURE), UNDEPLOYED, LEFT, NO, ANY, ANY, ANY,
	 NO, FIX, "CI fails, budget left"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(FAILURE), UNDEPLOYED, SPENT, NO, ANY, ANY, ANY,
	 NO, ESC(CI_FAILED), "CI fails, budget spent"},
	{YES, AGENT(COMPLETED), HAS_PR, CI_NOT_FAILING, DEP(FAILURE), LEFT, NO, ANY, ANY, ANY,
	 NO, FIX, "deploy fails, budget left"},
	{YES, AGENT(COMPLETED), HAS_PR, CI_NOT_FAILING, DEP(FAILURE), SPENT, NO, ANY, ANY, ANY,
	 NO, ESC(DEPLOY_FAILED), "deploy fails, budget spent"},
	/* Running: the deadlines, CI's first, then the deploy's, then the
	 * stall one when nothing is pending. */
	{YES, AGENT(RUNNING), ANY, CI(PENDING), UNDEPLOYED, ANY, ANY, ANY, YES, ANY,
	 NO, ESC(CI_TIMEOUT), "running, CI pending too long"},
	{YES, AGENT(RUNNING), ANY, CI(PENDING), DEP(PENDING), ANY, ANY, ANY, NO, YES,
	 NO, ESC(DEPLOY_TIMEOUT), "running, both pending, the deploy too long"},
	{YES, AGENT(RUNNING), ANY, CI(PENDING), DEP(PENDING), ANY, ANY, ANY, NO, NO,
	 NO, WAIT, "running, both pending in time"},
	{YES, AGENT(RUNNING), ANY, CI(PENDING), DEP(NONE) | DEP(FAILURE), ANY, ANY, ANY, NO, ANY,
	 NO, WAIT, "running, CI pending in time"},
	{YES, AGENT(RUNNING), ANY, CI_NOT_PENDING, DEP(PENDING), ANY, ANY, ANY, ANY, YES,
	 NO, ESC(DEPLOY_TIMEOUT), "running, deploy pending too long"},
	{YES, AGENT(RUNNING), ANY, CI_NOT_PENDING, DEP(PENDING), ANY, ANY, ANY, ANY, NO,
	 NO, WAIT, "running, deploy pending in time"},
	{YES, AGENT(RUNNING), ANY, CI_NOT_PENDING, DEP(NONE) | DEP(FAILURE), ANY, ANY, YES, ANY, ANY,
	 NO, ESC(STALLED), "running, nothing pending, no progress"},
	{YES, AGENT(RUNNING), ANY, CI_NOT_PENDING, DEP(NONE) | DEP(FAILURE), ANY, ANY, NO, ANY, ANY,
	 NO, WAIT, "running, nothing pending"},
	/* Completed with a PR, the failure answered (or nothing fails
	 * but the flag is set): the same deadlines. */
	{YES, AGENT(COMPLETED), HAS_PR, CI(PENDING), UNDEPLOYED, ANY, YES, ANY, YES, ANY,
	 NO, ESC(CI_TIMEOUT), "answered, CI pending too long"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(PENDING), DEP(PENDING), ANY, YES, ANY, NO, YES,
	 NO, ESC(DEPLOY_TIMEOUT), "answered, both pending, the deploy too long"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(PENDING), DEP(PENDING), ANY, YES, ANY, NO, NO,
	 NO, WAIT, "answered, both pending in time"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(PENDING), DEP(NONE) | DEP(FAILURE), ANY, YES, ANY, NO, ANY,
	 NO, WAIT, "answered, CI pending in time"},
	{YES, AGENT(COMPLETED), HAS_PR, CI_NOT_PENDING, DEP(PENDING), ANY, YES, ANY, ANY, YES,
	 NO, ESC(DEPLOY_TIMEOUT), "answered, deploy pending too long"},
	{YES, AGENT(COMPLETED), HAS_PR, CI_NOT_PENDING, DEP(PENDING), ANY, YES, ANY, ANY, NO,
	 NO, WAIT, "answered, deploy pending in time"},
	{YES, AGENT(COMPLETED), HAS_PR, CI_NOT_PENDING, DEP(NONE) | DEP(FAILURE), ANY, YES, YES, ANY, ANY,
	 NO, ESC(STALLED), "answered, nothing pending, no progress"},
	{YES, AGENT(COMPLETED), HAS_PR, CI_NOT_PENDING, DEP(NONE) | DEP(FAILURE), ANY, YES, NO, ANY, ANY,
	 NO, WAIT, "answered, nothing pending"},
	/* Completed with a PR, nothing fails: the same deadlines. */
	{YES, AGENT(COMPLETED), HAS_PR, CI(PENDING), DEP(NONE) | DEP(PENDING), ANY, NO, ANY, YES, ANY,
	 NO, ESC(CI_TIMEOUT), "completed, CI pending too long"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(PENDING), DEP(PENDING), ANY, NO, ANY, NO, YES,
	 NO, ESC(DEPLOY_TIMEOUT), "completed, both pending, the deploy too long"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(PENDING), DEP(PENDING), ANY, NO, ANY, NO, NO,
	 NO, WAIT, "completed, both pending in time"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(PENDING), DEP(NONE), ANY, NO, ANY, NO, ANY,
	 NO, WAIT, "completed, CI pending in time"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(NONE) | CI(SUCCESS), DEP(PENDING), ANY, NO, ANY, ANY, YES,
	 NO, ESC(DEPLOY_TIMEOUT), "completed, deploy pending too long"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(NONE) | CI(SUCCESS), DEP(PENDING), ANY, NO, ANY, ANY, NO,
	 NO, WAIT, "completed, deploy pending in time"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(NONE) | CI(SUCCESS), DEP(NONE), ANY, NO, YES, ANY, ANY,
	 NO, ESC(STALLED), "completed, nothing pending, no progress"},
	{YES, AGENT(COMPLETED), HAS_PR, CI(NONE) | CI(SUCCESS), DEP(NONE), ANY, NO, NO, ANY, ANY,
	 NO, WAIT, "completed, nothing pending"},
};

#define NROWS ((int)(sizeof(table) / sizeof(table[0])))

/* One combination of the inputs' values. */
typedef struct combo {
	int stage, agent, pr, ci, deploy, attempts, answered;
	int stall_late, ci_late, deploy_late;
	int over;
} combo;

#define NCOMBOS (2 * 8 * 3 * 4 * 4 * 3 * 2 * 2 * 2 * 2 * 2)

/* The i-th combination, 0 <= i < NCOMBOS, read as a mixed-radix number. */
static combo nth_combo(int i)
{
	combo k;

	k.stage = i % 2, i /= 2;
	k.agent = AFK_AGENT_RUNNING + i % 8, i /= 8;
	k.pr = i % 3, i /= 3;
	k.ci = i % 4, i /= 4;
	k.deploy = i % 4, i /= 4;
	k.attempts = i % 3, i /= 3;
	k.answered = i % 2, i /= 2;
	k.stall_late = i % 2, i /= 2;
	k.ci_late = i % 2, i /= 2;
	k.deploy_late = i % 2, i /= 2;
	k.over = i % 2;
	return k;
}

static int in(unsigned set, int value)
{
	return (set >> value) & 1u;
}

static int row_covers(const row *r, const combo *k)
{
	return in(r->stage, k->stage) && in(r->agent, k->agent) &&
	       in(r->pr, k->pr) && in(r->ci, k->ci) &&
	       in(r->deploy, k->deploy) && in(r->attempts, k->attempts) &&
	       in(r->answered, k->answered) &&
	       in(r->stall_late, k->stall_late) &&
	       in(r->ci_late, k->ci_late) &&
	       in(r->deploy_late, k->deploy_late) && in(r->over, k->over);
}

static void describe(const combo *k, char *buf, size_t n)
{
	snprintf(buf, n, "stage=%d agent=%d pr=%d ci=%d deploy=%d "
	         "attempts=%d answered=%d stall_late=%d ci_late=%d "
	         "deploy_late=%d over=%d", k->stage, k->agent, k->pr, k->ci,
	         k->deploy, k->attempts, k->answered, k->stall_late,
	         k->ci_late, k->deploy_late, k->over);
}

/* The rows covering k: how many, and their indexes written into buf. */
static int covering_rows(const combo *k, char *buf, size_t n)
{
	int r, count = 0;
	size_t used = 0;

	buf[0] = '\0';
	for (r = 0; r < NROWS; r++) {
		if (!row_covers(&table[r], k))
			continue;
		count++;
		if (used < n)
			used += (size_t)snprintf(buf + used, n - used, " %d (%s)",
			                         r, table[r].why);
	}
	return count;
}

/* 1 second over the timeout when late, exactly at it when not. */
static long long since(int late, long long timeout)
{
	return NOW - timeout - (late ? 1 : 0);
}

static void build(const combo *k, afk__run_state *s, afk__lifecycle_cfg *c)
{
	memset(s, 0, sizeof(*s));
	s->agent = k->agent;
	s->phase = AFK_PHASE_GREEN;
	s->recorded_phase = -1; /* never a phase: every WAIT must refresh */
	s->pr = k->pr;
	s->ci = k->ci;
	s->deploy = k->deploy;
	s->attempts = k->attempts;
	s->answered = k->answered;
	s->changed_at = since(k->stall_late, STALL_TIMEOUT);
	s->ci_since = since(k->ci_late, CI_TIMEOUT);
	s->deploy_since = since(k->deploy_late, DEPLOY_TIMEOUT);
	/* over: one token past the cap; not over: exactly at it */
	s->tokens = MAX_TOKENS + (k->over ? 1 : 0);
	s->cost_microusd = MAX_COST;
	memset(c, 0, sizeof(*c));
	c->deploy_stage = k->stage;
	c->budget = BUDGET;
	c->stall_timeout = STALL_TIMEOUT;
	c->ci_timeout = CI_TIMEOUT;
	c->deploy_timeout = DEPLOY_TIMEOUT;
	c->max_tokens = MAX_TOKENS;
	c->max_cost_microusd = MAX_COST;
}

/* The table alone, without the machine: every combination is covered by
 * exactly one row, and every row covers some combination. */
START_TEST(table_is_a_partition)
{
	int used[NROWS] = {0};
	int i, r;

	ck_assert_int_eq(NCOMBOS, 73728);
	for (i = 0; i < NCOMBOS; i++) {
		combo k = nth_combo(i);
		char what[256], rows[1024];

		if (covering_rows(&k, rows, sizeof(rows)) != 1) {
			describe(&k, what, sizeof(what));
			ck_abort_msg("%s is covered by rows:%s", what,
			             rows[0] ? rows : " none");
		}
		for (r = 0; r < NROWS; r++)
			used[r] += row_covers(&table[r], &k);
	}
	for (r = 0; r < NROWS; r++)
		ck_assert_msg(used[r] > 0, "row %d (%s) covers nothing", r,
		              table[r].why);
}
END_TEST

/* The machine on every combination: its row's action and reason, and a
 * refresh exactly when it waits (recorded_phase is never a phase). */
START_TEST(machine_follows_the_table)
{
	int i, r;

	for (i = 0; i < NCOMBOS; i++) {
		combo k = nth_combo(i);
		afk__run_state s;
		afk__lifecycle_cfg c;
		afk__decision d;
		char what[256];

		for (r = 0; r < NROWS && !row_covers(&table[r], &k); r++)
			;
		describe(&k, what, sizeof(what));
		if (r == NROWS)
			ck_abort_msg("%s: no row covers it", what);
		build(&k, &s, &c);
		d = afk__lifecycle_next(&s, &c, NOW);
		if (d.action != table[r].action || d.reason != table[r].reason ||
		    d.refresh != (d.action == AFK_ACTION_WAIT)) {
			ck_abort_msg("%s: got action %d reason %d refresh %d, "
			             "row %d (%s) wants action %d reason %d",
			             what, d.action, d.reason, d.refresh, r,
			             table[r].why, table[r].action,
			             table[r].reason);
		}
	}
}
END_TEST

/* The phase a person sees: the furthest of the reported phase (clamped
 * into 0..3), the PR, CI success on it, and a successful deploy when the
 * config has a deploy stage. */
static const struct {
	int stage, phase, pr, ci, deploy, shown;
	const char *why;
} shown[] = {
	{0, 0, NOPR, NIL, NIL, 0, "dispatched"},
	{0, 1, NOPR, NIL, NIL, 1, "tests red"},
	{0, 2, NOPR, NIL, NIL, 2, "green"},
	{0, 3, NOPR, NIL, NIL, 3, "pushed, the PR not seen yet"},
	{0, 0, OPEN, NIL, NIL, 3, "a PR is pushed"},
	{0, 2, MERGED, PEND, NIL, 3, "merged PR, CI pending"},
	{0, 1, OPEN, FAIL, NIL, 3, "CI failing"},
	{0, 0, OPEN, OK, NIL, 4, "CI success"},
	{0, 2, NOPR, OK, NIL, 2, "CI without a PR counts nothing"},
	{0, 0, OPEN, OK, OK, 4, "no deploy stage: a deploy counts nothing"},
	{1, 0, MERGED, OK, OK, 5, "deployed"},
	{1, 0, NOPR, NIL, OK, 5, "deployed, whatever else"},
	{1, 0, MERGED, OK, PEND, 4, "deploy pending"},
	{1, 0, MERGED, OK, FAIL, 4, "deploy failing"},
	{0, -1, NOPR, NIL, NIL, 0, "below the range clamps to 0"},
	{0, INT_MIN, NOPR, NIL, NIL, 0, "INT_MIN clamps to 0"},
	{0, 4, NOPR, NIL, NIL, 3, "the agent cannot report CI"},
	{0, 5, NOPR, NIL, NIL, 3, "the agent cannot report deployed"},
	{0, INT_MAX, NOPR, NIL, NIL, 3, "INT_MAX clamps to 3"},
	{0, 99, OPEN, OK, NIL, 4, "clamped, then CI"},
	{0, 0, 7, OK, NIL, 0, "unknown PR is none"},
	{0, 0, OPEN, 7, NIL, 3, "unknown CI is none"},
	{1, 0, OPEN, OK, 7, 4, "unknown deploy is none"},
};

START_TEST(phase_shown)
{
	afk__run_state s;
	afk__lifecycle_cfg c;

	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	s.phase = shown[_i].phase;
	s.pr = shown[_i].pr;
	s.ci = shown[_i].ci;
	s.deploy = shown[_i].deploy;
	c.deploy_stage = shown[_i].stage;
	ck_assert_msg(afk__lifecycle_phase(&s, &c) == shown[_i].shown,
	              "%s: phase %d, want %d", shown[_i].why,
	              afk__lifecycle_phase(&s, &c), shown[_i].shown);
}
END_TEST

/* A waiting run refreshes its checklist exactly when the phase it shows
 * differs from the recorded one.  Every row is a WAIT: a running agent,
 * no deadline past, not done. */
static const struct {
	int stage, phase, pr, ci, deploy, recorded, refresh;
	const char *why;
} refresh[] = {
	{0, 1, NOPR, NIL, NIL, 0, 1, "the agent's phase moved"},
	{0, 2, NOPR, NIL, NIL, 1, 1, "moved again"},
	{0, 1, NOPR, NIL, NIL, 1, 0, "unchanged"},
	{0, 2, NOPR, NIL, NIL, 2, 0, "unchanged, later"},
	{0, 2, OPEN, NIL, NIL, 2, 1, "a PR appears: pushed"},
	{0, 2, OPEN, PEND, NIL, 3, 0, "pushed, unchanged"},
	{0, 3, OPEN, OK, NIL, 3, 1, "CI success: CI"},
	{0, 3, OPEN, OK, NIL, 4, 0, "CI, unchanged"},
	{0, 3, OPEN, PEND, NIL, 4, 1, "a new head: back to pushed"},
	{1, 3, MERGED, OK, PEND, 3, 1, "deploy stage, merged and green: CI"},
	{1, 3, MERGED, OK, PEND, 4, 0, "deploy pending, unchanged"},
	{0, 99, NOPR, NIL, NIL, 3, 0, "99 clamps to 3"},
	{0, 99, NOPR, NIL, NIL, 5, 1, "clamped, differs"},
	{0, -5, NOPR, NIL, NIL, 0, 0, "-5 clamps to 0"},
};

START_TEST(refresh_on_wait)
{
	afk__run_state s;
	afk__lifecycle_cfg c;
	afk__decision d;

	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	s.agent = AFK_AGENT_RUNNING;
	s.phase = refresh[_i].phase;
	s.recorded_phase = refresh[_i].recorded;
	s.pr = refresh[_i].pr;
	s.ci = refresh[_i].ci;
	s.deploy = refresh[_i].deploy;
	s.changed_at = s.ci_since = s.deploy_since = NOW;
	c.deploy_stage = refresh[_i].stage;
	c.budget = BUDGET;
	c.stall_timeout = STALL_TIMEOUT;
	c.ci_timeout = CI_TIMEOUT;
	c.deploy_timeout = DEPLOY_TIMEOUT;
	d = afk__lifecycle_next(&s, &c, NOW);
	ck_assert_msg(d.action == AFK_ACTION_WAIT && d.reason == 0,
	              "%s: action %d reason %d", refresh[_i].why, d.action,
	              d.reason);
	ck_assert_msg(d.refresh == refresh[_i].refresh, "%s: refresh %d",
	              refresh[_i].why, d.refresh);
}
END_TEST

/* Values outside the documented ranges fail closed: an unknown agent is
 * an errored one (unless the run succeeded), an unknown PR, CI or deploy
 * state is none.  A deploy_stage other than 0 or 1 is on. */
static const struct {
	int stage, agent, pr, ci, deploy;
	int stall_late, ci_late, deploy_late;
	int action, reason;
	const char *why;
} wild[] = {
	/* stage, agent, pr, ci, deploy, stall/CI/deploy deadline past */
	{0, 0, OPEN, PEND, NIL, 0, 0, 0,
	 ESC(AGENT_FAILED), "agent 0"},
	{0, 99, OPEN, PEND, NIL, 0, 0, 0,
	 ESC(AGENT_FAILED), "agent 99"},
	{0, -1, NOPR, NIL, NIL, 0, 0, 0,
	 ESC(AGENT_FAILED), "agent -1"},
	{0, INT_MAX, OPEN, FAIL, NIL, 0, 0, 0,
	 ESC(AGENT_FAILED), "agent INT_MAX, CI failing"},
	{1, 9, MERGED, OK, PEND, 0, 0, 0,
	 ESC(AGENT_FAILED), "agent 9, undeployed"},
	{0, 0, MERGED, OK, NIL, 1, 1, 1,
	 CLOSE, "agent 0, merged and green"},
	{1, 99, NOPR, NIL, OK, 1, 1, 1,
	 CLOSE, "agent 99, deployed"},
	{0, AFK_AGENT_COMPLETED, 7, OK, NIL, 0, 0, 0,
	 ESC(AGENT_STOPPED), "PR 7 is no PR"},
	{0, AFK_AGENT_COMPLETED, -1, FAIL, NIL, 0, 0, 0,
	 ESC(AGENT_STOPPED), "PR -1 is no PR"},
	{0, AFK_AGENT_RUNNING, 7, OK, NIL, 0, 0, 0,
	 WAIT, "PR 7 is not merged"},
	{0, AFK_AGENT_COMPLETED, MERGED, 7, NIL, 0, 0, 0,
	 WAIT, "CI 7 is not green"},
	{0, AFK_AGENT_COMPLETED, OPEN, 7, NIL, 0, 1, 0,
	 WAIT, "CI 7 neither fails nor pends"},
	{0, AFK_AGENT_COMPLETED, OPEN, 7, NIL, 1, 1, 0,
	 ESC(STALLED), "CI 7 is not pending: the stall deadline"},
	{0, AFK_AGENT_COMPLETED, OPEN, -2, NIL, 1, 0, 0,
	 ESC(STALLED), "CI -2 likewise"},
	{1, AFK_AGENT_COMPLETED, OPEN, OK, 7, 0, 0, 1,
	 WAIT, "deploy 7 neither succeeds, fails nor pends"},
	{1, AFK_AGENT_COMPLETED, OPEN, OK, 7, 1, 0, 1,
	 ESC(STALLED), "deploy 7 is not pending: the stall deadline"},
	{1, AFK_AGENT_COMPLETED, MERGED, OK, -3, 1, 0, 0,
	 ESC(STALLED), "deploy -3 likewise"},
	{0, AFK_AGENT_RUNNING, OPEN, NIL, 7, 0, 0, 1,
	 WAIT, "no deploy stage: deploy 7 ignored"},
	{2, AFK_AGENT_RUNNING, MERGED, OK, PEND, 0, 0, 0,
	 WAIT, "deploy stage 2 is on: merged is not the end"},
	{2, AFK_AGENT_RUNNING, OPEN, NIL, OK, 0, 0, 0,
	 CLOSE, "deploy stage 2 is on: deployed"},
};

START_TEST(out_of_range_inputs)
{
	combo k;
	afk__run_state s;
	afk__lifecycle_cfg c;
	afk__decision d;

	memset(&k, 0, sizeof(k));
	k.stage = wild[_i].stage;
	k.agent = wild[_i].agent;
	k.pr = wild[_i].pr;
	k.ci = wild[_i].ci;
	k.deploy = wild[_i].deploy;
	k.stall_late = wild[_i].stall_late;
	k.ci_late = wild[_i].ci_late;
	k.deploy_late = wild[_i].deploy_late;
	build(&k, &s, &c);
	d = afk__lifecycle_next(&s, &c, NOW);
	ck_assert_msg(d.action == wild[_i].action && d.reason == wild[_i].reason,
	              "%s: action %d reason %d, want %d %d", wild[_i].why,
	              d.action, d.reason, wild[_i].action, wild[_i].reason);
}
END_TEST

/* Fix-forwards against budgets other than the table's 2. */
static const struct {
	int budget, attempts, answered, action, reason;
} budgets[] = {
	{0, 0, 0, ESC(CI_FAILED)},     /* no fix-forward at all */
	{1, 0, 0, FIX},
	{1, 1, 0, ESC(CI_FAILED)},
	{2, 5, 0, ESC(CI_FAILED)},     /* over the budget: still spent */
	{3, 2, 0, FIX},
	{3, 2, 5, WAIT},               /* any nonzero answered is answered */
	{-1, 0, 0, ESC(CI_FAILED)},
};

START_TEST(fix_forward_budget)
{
	combo k;
	afk__run_state s;
	afk__lifecycle_cfg c;
	afk__decision d;

	memset(&k, 0, sizeof(k));
	k.agent = AFK_AGENT_COMPLETED;
	k.pr = AFK_PR_OPEN;
	k.ci = AFK_STATUS_FAILURE;
	build(&k, &s, &c);
	s.attempts = budgets[_i].attempts;
	s.answered = budgets[_i].answered;
	c.budget = budgets[_i].budget;
	d = afk__lifecycle_next(&s, &c, NOW);
	ck_assert_int_eq(d.action, budgets[_i].action);
	ck_assert_int_eq(d.reason, budgets[_i].reason);
}
END_TEST

/* "Past" is now - since > timeout, also where now - since does not fit
 * in a long long: a wild record must not overflow (run under UBSan). */
static const struct {
	long long now, since, timeout;
	int past;
} clocks[] = {
	{100, 50, 49, 1},
	{100, 50, 50, 0},                   /* strict */
	{100, 200, 0, 0},                   /* since in the future */
	{0, LLONG_MIN, 1000, 1},            /* the gap overflows upward */
	{LLONG_MAX, LLONG_MIN, LLONG_MAX, 1},
	{0, LLONG_MIN + 1, LLONG_MAX - 1, 1}, /* the gap is LLONG_MAX */
	{0, LLONG_MIN + 1, LLONG_MAX, 0},
	{LLONG_MIN, LLONG_MAX, 0, 0},       /* the gap overflows downward */
	{-1, LLONG_MAX, LLONG_MIN, 0},      /* the gap is LLONG_MIN */
	{LLONG_MIN, 1, LLONG_MIN, 0},
	{LLONG_MAX, -1, 0, 1},
};

/* The cost budget's caps: each alone, strict, 0 is no cap, and the
 * whole run's usage counts (the table holds the token cap alone). */
static const struct {
	long long tokens, cost, max_tokens, max_cost;
	int over;
	const char *why;
} caps[] = {
	{0, 0, 0, 0, 0, "no usage, no caps"},
	{LLONG_MAX, LLONG_MAX, 0, 0, 0, "no caps: never over"},
	{1000, 0, 1000, 0, 0, "tokens at the cap"},
	{1001, 0, 1000, 0, 1, "tokens past the cap"},
	{0, 5000000, 0, 5000000, 0, "cost at the cap"},
	{0, 5000001, 0, 5000000, 1, "cost past the cap"},
	{1001, 0, 0, 5000000, 0, "tokens past nothing: no token cap"},
	{0, 5000001, 1000, 0, 0, "cost past nothing: no cost cap"},
	{10, 5000001, 1000, 5000000, 1, "cost over, tokens under"},
	{1001, 10, 1000, 5000000, 1, "tokens over, cost under"},
	{0, 0, 1, 1, 0, "no usage reported is never over"},
};

START_TEST(cost_budget_caps)
{
	afk__run_state s;
	afk__lifecycle_cfg c;
	afk__decision d;

	memset(&s, 0, sizeof(s));
	memset(&c, 0, sizeof(c));
	s.agent = AFK_AGENT_RUNNING;
	s.changed_at = NOW;
	s.tokens = caps[_i].tokens;
	s.cost_microusd = caps[_i].cost;
	c.budget = BUDGET;
	c.stall_timeout = STALL_TIMEOUT;
	c.ci_timeout = CI_TIMEOUT;
	c.deploy_timeout = DEPLOY_TIMEOUT;
	c.max_tokens = caps[_i].max_tokens;
	c.max_cost_microusd = caps[_i].max_cost;
	d = afk__lifecycle_next(&s, &c, NOW);
	ck_assert_msg(d.action == (caps[_i].over ? AFK_ACTION_ESCALATE
	                                         : AFK_ACTION_WAIT) &&
	              d.reason == (caps[_i].over ? AFK_ESCALATE_BUDGET : 0),
	              "%s: action %d reason %d", caps[_i].why, d.action,
	              d.reason);
	/* over budget is not a deadline: the clock never brings it */
	if (!caps[_i].over)
		ck_assert(afk__lifecycle_deadline(&s, &c, NOW).becomes.reason !=
		          AFK_ESCALATE_BUDGET);
}
END_TEST

START_TEST(deadline_arithmetic)
{
	combo k;
	afk__run_state s;
	afk__lifecycle_cfg c;
	afk__decision d;

	/* A running agent with nothing pending: only the stall deadline. */
	memset(&k, 0, sizeof(k));
	k.agent = AFK_AGENT_RUNNING;
	build(&k, &s, &c);
	s.changed_at = clocks[_i].since;
	c.stall_timeout = clocks[_i].timeout;
	d = afk__lifecycle_next(&s, &c, clocks[_i].now);
	ck_assert_int_eq(d.action, clocks[_i].past ? AFK_ACTION_ESCALATE
	                                          : AFK_ACTION_WAIT);
	ck_assert_int_eq(d.reason, clocks[_i].past ? AFK_ESCALATE_STALLED : 0);

	/* The same arithmetic for CI's and the deploy's deadlines. */
	k.stage = 1;
	k.ci = AFK_STATUS_PENDING;
	build(&k, &s, &c);
	s.ci_since = clocks[_i].since;
	c.ci_timeout = clocks[_i].timeout;
	s.deploy_since = clocks[_i].now;
	d = afk__lifecycle_next(&s, &c, clocks[_i].now);
	ck_assert_int_eq(d.reason, clocks[_i].past ? AFK_ESCALATE_CI_TIMEOUT : 0);
	k.ci = AFK_STATUS_NONE;
	k.deploy = AFK_STATUS_PENDING;
	build(&k, &s, &c);
	s.deploy_since = clocks[_i].since;
	c.deploy_timeout = clocks[_i].timeout;
	d = afk__lifecycle_next(&s, &c, clocks[_i].now);
	ck_assert_int_eq(d.reason,
	                 clocks[_i].past ? AFK_ESCALATE_DEPLOY_TIMEOUT : 0);
}
END_TEST

/* The watch tick judges an unreadable run's deadline with the same
 * guarded arithmetic the lifecycle uses. */
START_TEST(past_for_the_watch_tick)
{
	ck_assert_int_eq(afk__lifecycle_past(clocks[_i].now, clocks[_i].since,
	                                     clocks[_i].timeout),
	                 clocks[_i].past);
}
END_TEST

/* --- the next deadline -------------------------------------------------- */

/* The decision afk__lifecycle_next() makes, as action and reason. */
static int same_decision(afk__decision a, afk__decision b)
{
	return a.action == b.action && a.reason == b.reason;
}

/* The clocks of the deadline grid: each "since" lies before, at or
 * after NOW by a little or by its timeout, so every threshold falls
 * before now, at now, just after it and well after it. */
static const long long dl_since[] = {
	NOW, NOW - 1, NOW - 999, NOW - 1000, NOW - 1001, NOW - 2000,
	NOW - 2001, NOW - 3000, NOW - 3001, NOW - 100000
};

/* Times after now to ask the machine again: around every threshold the
 * grid's clocks can produce, and far away. */
static void probe_times(const afk__run_state *s, long long now,
                        long long *t, int *n)
{
	const long long sinces[3] = {s->changed_at, s->ci_since,
	                             s->deploy_since};
	const long long outs[3] = {STALL_TIMEOUT, CI_TIMEOUT, DEPLOY_TIMEOUT};
	int i, j;

	*n = 0;
	t[(*n)++] = now;
	t[(*n)++] = now + 1;
	t[(*n)++] = LLONG_MAX;
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			t[(*n)++] = sinces[i] + outs[i] + j; /* at, +1, +2 */
}

/* Checks afk__lifecycle_deadline() against afk__lifecycle_next() on one
 * state: before the deadline the decision is the one of now, at it the
 * one it names, and without one it never changes.  Returns 0 or 1. */
static int deadline_consistent(const afk__run_state *s,
                               const afk__lifecycle_cfg *c, long long now,
                               char *why, size_t n)
{
	afk__decision d0 = afk__lifecycle_next(s, c, now), d;
	afk__deadline dl = afk__lifecycle_deadline(s, c, now);
	long long t[16];
	int i, nt;

	if (!dl.none && (dl.at <= now || dl.becomes.action !=
	                 AFK_ACTION_ESCALATE || same_decision(dl.becomes, d0))) {
		snprintf(why, n, "deadline %lld at now %lld becomes %d/%d "
		         "from %d/%d", dl.at, now, dl.becomes.action,
		         dl.becomes.reason, d0.action, d0.reason);
		return 1;
	}
	probe_times(s, now, t, &nt);
	for (i = 0; i < nt; i++) {
		if (t[i] < now)
			continue;
		d = afk__lifecycle_next(s, c, t[i]);
		if ((dl.none || t[i] < dl.at) && !same_decision(d, d0)) {
			snprintf(why, n, "at %lld the decision is %d/%d, not "
			         "%d/%d (deadline %s %lld)", t[i], d.action,
			         d.reason, d0.action, d0.reason,
			         dl.none ? "none" : "at", dl.at);
			return 1;
		}
		if (!dl.none && t[i] == dl.at &&
		    !same_decision(d, dl.becomes)) {
			snprintf(why, n, "at the deadline %lld the decision is "
			         "%d/%d, not %d/%d", t[i], d.action, d.reason,
			         dl.becomes.action, dl.becomes.reason);
			return 1;
		}
	}
	return 0;
}

/* Every agent state (and one out of range), reported phase, PR, CI and
 * deploy state,
 * with and without a deploy stage, answered or not, budget left or not,
 * each with every combination of the clocks it reads: 1.6 million
 * states, each asked again at a dozen times. */
START_TEST(deadline_follows_next)
{
	afk__run_state s;
	afk__lifecycle_cfg c;
	char why[256], state[160];
	int agent, ph, pr, ci, dep, stage, ans, att, a, b, k;
	long checked = 0;
	const int nsince = (int)(sizeof(dl_since) / sizeof(dl_since[0]));

	memset(&c, 0, sizeof(c));
	c.budget = BUDGET;
	c.stall_timeout = STALL_TIMEOUT;
	c.ci_timeout = CI_TIMEOUT;
	c.deploy_timeout = DEPLOY_TIMEOUT;
	for (agent = 0; agent <= AFK_AGENT_GONE + 1; agent++)
	for (ph = AFK_PHASE_DISPATCHED; ph <= AFK_PHASE_PUSHED; ph++)
	for (pr = AFK_PR_NONE; pr <= AFK_PR_MERGED; pr++)
	for (ci = AFK_STATUS_NONE; ci <= AFK_STATUS_FAILURE; ci++)
	for (dep = AFK_STATUS_NONE; dep <= AFK_STATUS_FAILURE; dep++)
	for (stage = 0; stage <= 1; stage++)
	for (ans = 0; ans <= 1; ans++)
	for (att = 0; att <= BUDGET; att += BUDGET)
	for (a = 0; a < nsince; a++)
	for (b = 0; b < nsince; b++)
	for (k = 0; k < nsince; k++) {
		if (ci != AFK_STATUS_PENDING && b > 0)
			continue; /* the CI clock is read only while pending */
		if (dep != AFK_STATUS_PENDING && k > 0)
			continue;
		memset(&s, 0, sizeof(s));
		s.agent = agent;
		s.phase = ph;
		s.recorded_phase = AFK_PHASE_TESTS_RED;
		s.pr = pr;
		s.ci = ci;
		s.deploy = dep;
		s.answered = ans;
		s.attempts = att;
		s.changed_at = dl_since[a];
		s.ci_since = dl_since[b];
		s.deploy_since = dl_since[k];
		c.deploy_stage = stage;
		checked++;
		if (deadline_consistent(&s, &c, NOW, why, sizeof(why))) {
			snprintf(state, sizeof(state), "agent %d phase %d pr %d ci %d "
			         "deploy %d stage %d answered %d attempts %d "
			         "since %lld/%lld/%lld", agent, ph, pr, ci, dep,
			         stage, ans, att, s.changed_at, s.ci_since,
			         s.deploy_since);
			ck_abort_msg("%s: %s", state, why);
		}
	}
	ck_assert_int_gt(checked, 20000);
}
END_TEST

/* The shapes a person reads in afk status: a waiting run names its
 * stall, CI or deploy deadline; a decided one has none; a clock that
 * cannot pass before the end of time has none; a record's wild times
 * do not overflow. */
START_TEST(deadline_examples)
{
	afk__run_state s;
	afk__lifecycle_cfg c;
	afk__deadline dl;

	memset(&c, 0, sizeof(c));
	c.budget = BUDGET;
	c.stall_timeout = STALL_TIMEOUT;
	c.ci_timeout = CI_TIMEOUT;
	c.deploy_timeout = DEPLOY_TIMEOUT;
	memset(&s, 0, sizeof(s));
	s.agent = AFK_AGENT_RUNNING;
	s.changed_at = NOW - 10;
	dl = afk__lifecycle_deadline(&s, &c, NOW);
	ck_assert_int_eq(dl.none, 0);
	ck_assert_int_eq(dl.at, NOW - 10 + STALL_TIMEOUT + 1);
	ck_assert_int_eq(dl.becomes.action, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(dl.becomes.reason, AFK_ESCALATE_STALLED);

	s.pr = AFK_PR_OPEN;
	s.ci = AFK_STATUS_PENDING;
	s.ci_since = NOW;
	dl = afk__lifecycle_deadline(&s, &c, NOW);
	ck_assert_int_eq(dl.at, NOW + CI_TIMEOUT + 1);
	ck_assert_int_eq(dl.becomes.reason, AFK_ESCALATE_CI_TIMEOUT);

	s.agent = AFK_AGENT_ERRORED;
	dl = afk__lifecycle_deadline(&s, &c, NOW);
	ck_assert_int_eq(dl.none, 1);
	ck_assert_int_eq(dl.at, 0);

	s.agent = AFK_AGENT_RUNNING;
	s.ci = AFK_STATUS_NONE;
	s.changed_at = LLONG_MAX;
	c.stall_timeout = LLONG_MAX;
	dl = afk__lifecycle_deadline(&s, &c, NOW);
	ck_assert_int_eq(dl.none, 1);

	s.changed_at = LLONG_MIN + 5;
	c.stall_timeout = 0;
	dl = afk__lifecycle_deadline(&s, &c, LLONG_MIN + 5);
	ck_assert_int_eq(dl.at, LLONG_MIN + 6);
}
END_TEST

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every combination of the four facts a stop is decided on, with the
 * reason the rules give: closed wins, then the human label, then the
 * lock and the ready label. */
static const struct {
	int closed, in_progress, ready, human, want;
} stops[16] = {
	{0, 0, 0, 0, AFK_STOP_UNLOCKED},
	{0, 0, 0, 1, AFK_STOP_HUMAN_LABEL},
	{0, 0, 1, 0, AFK_STOP_UNLOCKED},
	{0, 0, 1, 1, AFK_STOP_HUMAN_LABEL},
	{0, 1, 0, 0, AFK_STOP_UNLOCKED},
	{0, 1, 0, 1, AFK_STOP_HUMAN_LABEL},
	{0, 1, 1, 0, 0},
	{0, 1, 1, 1, AFK_STOP_HUMAN_LABEL},
	{1, 0, 0, 0, 0},
	{1, 0, 0, 1, 0},
	{1, 0, 1, 0, 0},
	{1, 0, 1, 1, 0},
	{1, 1, 0, 0, AFK_STOP_CLOSED},
	{1, 1, 0, 1, AFK_STOP_CLOSED},
	{1, 1, 1, 0, AFK_STOP_CLOSED},
	{1, 1, 1, 1, AFK_STOP_CLOSED},
};

START_TEST(stop_table)
{
	ck_assert_int_eq(afk__lifecycle_stop(stops[_i].closed,
	                                     stops[_i].in_progress,
	                                     stops[_i].ready, stops[_i].human),
	                 stops[_i].want);
}
END_TEST

/* The table covers every combination once. */
START_TEST(stop_table_is_complete)
{
	int seen[16] = {0};
	size_t i;

	for (i = 0; i < 16; i++)
		seen[stops[i].closed * 8 + stops[i].in_progress * 4 +
		     stops[i].ready * 2 + stops[i].human]++;
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(seen[i], 1);
}
END_TEST

/* The agent's activity as progress: later moves the clock, to now at
 * the latest; earlier, equal or unknown leaves it. */
static const struct {
	long long changed_at, activity, now, want;
} progress[] = {
	{100, 0, 500, 100},         /* unknown */
	{100, 50, 500, 100},        /* earlier */
	{100, 100, 500, 100},       /* equal */
	{100, 300, 500, 300},       /* later */
	{100, 500, 500, 500},       /* at now */
	{100, 900, 500, 500},       /* in the future: now */
	{100, LLONG_MAX, 500, 500},
	{100, LLONG_MIN, 500, 100},
	{0, 300, 500, 300},
};

START_TEST(progress_table)
{
	ck_assert_int_eq(afk__lifecycle_progress(progress[_i].changed_at,
	                                         progress[_i].activity,
	                                         progress[_i].now),
	                 progress[_i].want);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("next");

	tcase_add_test(tc, table_is_a_partition);
	tcase_add_test(tc, machine_follows_the_table);
	tcase_add_loop_test(tc, phase_shown, 0, LEN(shown));
	tcase_add_loop_test(tc, refresh_on_wait, 0, LEN(refresh));
	tcase_add_loop_test(tc, out_of_range_inputs, 0, LEN(wild));
	tcase_add_loop_test(tc, fix_forward_budget, 0, LEN(budgets));
	tcase_add_loop_test(tc, cost_budget_caps, 0, LEN(caps));
	tcase_add_loop_test(tc, deadline_arithmetic, 0, LEN(clocks));
	tcase_add_loop_test(tc, past_for_the_watch_tick, 0, LEN(clocks));
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, deadline_follows_next);
	tcase_add_test(tc, deadline_examples);
	tcase_add_loop_test(tc, stop_table, 0, 16);
	tcase_add_test(tc, stop_table_is_complete);
	tcase_add_loop_test(tc, progress_table, 0, LEN(progress));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(suite());
}
