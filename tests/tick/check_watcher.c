/*
 * tests/tick/check_watcher.c - the watch tick over in-memory fakes: each
 * action carried out, idempotence, and resumption after a failed step.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"

#define T0 1700000000LL

static fake F;
static afk_tracker *T;
static afk_agent *A;
static afk_ci *C;
static afk_notifier *N;
static afk_poller *P;
static afk_watcher *W;
static afk_config *CFG;
static afk_actions *ACT;

static void setup(void)
{
	fake_init(&F);
	T = fake_tracker(&F);
	A = fake_agent(&F);
	C = fake_ci(&F);
	N = fake_notifier(&F);
	ck_assert_int_eq(afk_poller_new(&P, T, A), 0);
	ck_assert_int_eq(afk_watcher_new(&W, T, A, C, N), 0);
	CFG = fake_armed_config("a", NULL);
	ACT = NULL;
	F.agent_state = AFK_AGENT_RUNNING;
}

static void teardown(void)
{
	afk_actions_free(ACT);
	afk_watcher_free(W);
	afk_poller_free(P);
	afk_tracker_free(T);
	afk_agent_free(A);
	afk_ci_free(C);
	afk_notifier_free(N);
	afk_config_free(CFG);
	fake_clear(&F);
}

/* Dispatches a#1 with a poll tick: labelled, first record written. */
static void dispatch_a1(void)
{
	afk_result *r = NULL;

	fake_add(&F, "a", 1, 0, 1, NULL);
	ck_assert_msg(afk_poller_run_once(P, CFG, &r) == 0, "%s",
	              afk_poller_errmsg(P));
	ck_assert_uint_eq(afk_result_dispatched_count(r), 1);
	afk_result_free(r);
}

static int watch(long long now)
{
	afk_actions_free(ACT);
	ACT = NULL;
	return afk_watcher_run_once(W, CFG, now, &ACT);
}

/* Runs a watch tick that must succeed and act once, with kind. */
static void watch_expect(long long now, int kind)
{
	int rc = watch(now);

	ck_assert_msg(rc == 0, "watch failed: %d %s", rc, afk_watcher_errmsg(W));
	ck_assert_uint_eq(afk_actions_count(ACT), 1);
	ck_assert_msg(afk_actions_kind(ACT, 0) == kind, "action %s, wanted %s",
	              afk_action_str(afk_actions_kind(ACT, 0)),
	              afk_action_str(kind));
}

static int has(const char *label)
{
	return afk_issue_has_label(F.issues[0], label);
}

START_TEST(kill_switch_on_calls_nothing)
{
	dispatch_a1();
	F.nevents = 0;
	ck_assert_int_eq(afk_config_set(CFG, "kill_switch", "true"), 0);
	ck_assert_int_eq(watch(T0), 0);
	ck_assert_uint_eq(F.nevents, 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
}
END_TEST

START_TEST(poll_writes_the_first_record)
{
	dispatch_a1();
	ck_assert(has("agent-in-progress"));
	ck_assert_int_eq(F.comments_made[0], 1);
	ck_assert_ptr_nonnull(strstr(F.comment[0], "<!-- afk-run:"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "thread-a-1"));
	/* the record comes before the lock: a watch tick that sees the
	 * label must find the record */
	ck_assert_int_lt(fake_find(&F, 'U', "a", 1), fake_find(&F, 'A', "a", 1));
	ck_assert_int_gt(fake_find(&F, 'U', "a", 1), fake_find(&F, 'D', "a", 1));
}
END_TEST

/* The record's write failing must not leave a dispatched issue
 * unlocked: the label follows, and the tick reports the failure. */
START_TEST(poll_locks_even_when_the_record_fails)
{
	afk_result *r = NULL;

	fake_add(&F, "a", 1, 0, 1, NULL);
	F.fail_kind = 'U';
	F.fail_nth = 1;
	F.fail_rc = -93;
	ck_assert_int_eq(afk_poller_run_once(P, CFG, &r), -93);
	ck_assert_ptr_nonnull(strstr(afk_poller_errmsg(P), "no"));
	ck_assert_ptr_nonnull(strstr(afk_poller_errmsg(P), "record"));
	ck_assert_uint_eq(afk_result_dispatched_count(r), 1);
	afk_result_free(r);
	ck_assert(has("agent-in-progress"));
	/* the watch tick hands the record-less run to a human */
	watch_expect(T0, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_NO_RECORD);
}
END_TEST

START_TEST(run_waits_then_closes)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	ck_assert_str_eq(afk_actions_thread(ACT, 0), "thread-a-1");
	ck_assert_int_eq(afk_actions_phase(ACT, 0), AFK_PHASE_DISPATCHED);
	/* first sight: the run's age counts from now, and the stall
	 * deadline is the next one */
	ck_assert_int_eq(afk_actions_since(ACT, 0), T0);
	ck_assert_ptr_nonnull(strstr(F.comment[0], "\"started_at\":"));
	ck_assert_int_gt(afk_actions_deadline(ACT, 0), T0);
	ck_assert_int_eq(afk_actions_deadline_reason(ACT, 0),
	                 AFK_ESCALATE_STALLED);
	ck_assert_int_eq(afk_actions_since(ACT, 1), 0);      /* out of range */
	ck_assert_int_eq(afk_actions_deadline(ACT, 1), 0);
	ck_assert_int_eq(afk_actions_deadline_reason(ACT, 1), 0);
	ck_assert_int_eq(afk_actions_since(NULL, 0), 0);

	F.agent_phase = AFK_PHASE_GREEN;
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	ck_assert_int_eq(afk_actions_updated(ACT, 0), 1);
	ck_assert_int_eq(afk_actions_phase(ACT, 0), AFK_PHASE_GREEN);
	ck_assert_ptr_nonnull(strstr(afk_actions_checklist(ACT, 0),
	                             "- [x] green"));

	F.agent_state = AFK_AGENT_COMPLETED;
	F.agent_phase = AFK_PHASE_PUSHED;
	F.pr = AFK_PR_MERGED;
	snprintf(F.head, sizeof(F.head), "abc123");
	F.ci = AFK_STATUS_SUCCESS;
	watch_expect(T0 + 120, AFK_ACTION_CLOSE);
	ck_assert_int_eq(afk_actions_since(ACT, 0), T0);     /* kept */
	ck_assert_int_eq(afk_actions_deadline(ACT, 0), 0);   /* acted on */
	ck_assert_int_eq(afk_actions_deadline_reason(ACT, 0), 0);
	ck_assert(F.closed[0]);
	ck_assert(!has("agent-in-progress"));
	ck_assert(!has("ready-for-agent"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "**Done**"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "- [x] CI green"));
	ck_assert_int_eq(F.comments_made[0], 1);
	ck_assert_int_eq(F.notified, 0);

	/* the same tick again: nothing more to do */
	F.nevents = 0;
	ck_assert_int_eq(watch(T0 + 180), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
	ck_assert_int_eq(fake_count(&F, 'C'), 0);
	ck_assert_int_eq(fake_count(&F, 'U'), 0);
}
END_TEST

/* A CI that reports the agent's PR #42 and which one it is, and then no
 * PR at all (userdata: 1 while there is one). */
static int pr_ci_status(afk_call *call, const char *repo, long number,
                        void *userdata)
{
	int *has_pr = userdata;

	(void)repo;
	(void)number;
	if (!*has_pr)
		return afk_call_set_pr(call, AFK_PR_NONE, NULL);
	ck_assert_int_eq(afk_call_set_pr(call, AFK_PR_OPEN, "abc123"), 0);
	ck_assert_int_eq(afk_call_set_pr_info(call, 42, "afk-bot",
	                                      "afk/issue-1"), 0);
	return afk_call_set_ci(call, AFK_STATUS_PENDING);
}

/* The checklist says which pull request decides the run, and stops
 * saying so when the CI no longer reports one. */
START_TEST(checklist_names_the_run_pr)
{
	int has_pr = 1;

	ck_assert_int_eq(afk_ci_set_userdata(C, &has_pr, NULL), 0);
	ck_assert_int_eq(afk_ci_set_status(C, pr_ci_status), 0);
	dispatch_a1();
	F.agent_phase = AFK_PHASE_PUSHED;
	watch_expect(T0, AFK_ACTION_WAIT);
	ck_assert_int_eq(afk_actions_updated(ACT, 0), 1);
	ck_assert_ptr_nonnull(strstr(F.comment[0], "Pull request: #42 "
	                             "(afk-bot, branch afk/issue-1)."));
	has_pr = 0;
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	ck_assert_ptr_null(strstr(F.comment[0], "Pull request:"));
}
END_TEST

START_TEST(unchanged_wait_writes_nothing)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	F.nevents = 0;
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	ck_assert_int_eq(afk_actions_updated(ACT, 0), 0);
	ck_assert_int_eq(fake_count(&F, 'U'), 0);
}
END_TEST

/* CI fails: one corrective turn per head, up to the budget, then a
 * human. */
START_TEST(fix_forward_then_escalate_on_budget)
{
	int t;

	dispatch_a1();
	F.agent_state = AFK_AGENT_COMPLETED;
	F.pr = AFK_PR_OPEN;
	F.ci = AFK_STATUS_FAILURE;
	F.failing = "build";
	snprintf(F.head, sizeof(F.head), "h1");
	watch_expect(T0, AFK_ACTION_FIX_FORWARD);
	ck_assert_int_eq(afk_actions_attempts(ACT, 0), 1);
	t = fake_find(&F, 'T', "thread-a-1", 0);
	ck_assert_int_ge(t, 0);
	ck_assert_ptr_nonnull(strstr(F.events[t].prompt, "- build: "
	                             "https://ci.test/1"));
	ck_assert_ptr_nonnull(strstr(F.events[t].prompt, "attempt 1 of 2"));
	ck_assert_ptr_nonnull(strstr(F.events[t].prompt, "a#1"));

	/* the same failure again: answered already, no second turn */
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	ck_assert_int_eq(fake_count(&F, 'T'), 1);

	snprintf(F.head, sizeof(F.head), "h2");
	watch_expect(T0 + 120, AFK_ACTION_FIX_FORWARD);
	ck_assert_int_eq(afk_actions_attempts(ACT, 0), 2);
	ck_assert_int_eq(fake_count(&F, 'T'), 2);

	snprintf(F.head, sizeof(F.head), "h3");
	watch_expect(T0 + 180, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_CI_FAILED);
	ck_assert_int_eq(fake_count(&F, 'T'), 2);
	ck_assert(has("ready-for-human"));
	ck_assert(!has("ready-for-agent"));
	ck_assert(!has("agent-in-progress"));
	ck_assert_int_eq(F.notified, 1);
	ck_assert_ptr_nonnull(strstr(F.notice, "a#1"));
	ck_assert_ptr_nonnull(strstr(F.notice, "CI still failing"));
	ck_assert_ptr_nonnull(strstr(F.notice, "https://tracker.test/i"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "**Needs a human**"));

	F.nevents = 0;
	ck_assert_int_eq(watch(T0 + 240), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
	ck_assert_int_eq(F.notified, 1);
}
END_TEST

/* A CI that names no head: the same tick twice sends one turn. */
START_TEST(fix_forward_without_head_is_sent_once)
{
	dispatch_a1();
	F.agent_state = AFK_AGENT_COMPLETED;
	F.pr = AFK_PR_OPEN;
	F.ci = AFK_STATUS_FAILURE;
	watch_expect(T0, AFK_ACTION_FIX_FORWARD);
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	watch_expect(T0 + 120, AFK_ACTION_WAIT);
	ck_assert_int_eq(fake_count(&F, 'T'), 1);
}
END_TEST

START_TEST(running_agent_gets_no_fix_forward)
{
	dispatch_a1();
	F.agent_state = AFK_AGENT_RUNNING;
	F.pr = AFK_PR_OPEN;
	F.ci = AFK_STATUS_FAILURE;
	snprintf(F.head, sizeof(F.head), "h1");
	watch_expect(T0, AFK_ACTION_WAIT);
	ck_assert_int_eq(fake_count(&F, 'T'), 0);
}
END_TEST

static const struct {
	int agent;
	int reason;
} agent_trouble[] = {
	{AFK_AGENT_ERRORED, AFK_ESCALATE_AGENT_FAILED},
	{AFK_AGENT_STOPPED, AFK_ESCALATE_AGENT_STOPPED},
	{AFK_AGENT_INTERRUPTED, AFK_ESCALATE_AGENT_STOPPED},
	{AFK_AGENT_WAITING_INPUT, AFK_ESCALATE_AGENT_WAITING},
	{AFK_AGENT_WAITING_APPROVAL, AFK_ESCALATE_AGENT_WAITING},
	{AFK_AGENT_COMPLETED, AFK_ESCALATE_AGENT_STOPPED}, /* no PR */
	{AFK_AGENT_GONE, AFK_ESCALATE_AGENT_GONE},
	{0, AFK_ESCALATE_AGENT_FAILED},  /* reported no state at all */
};

START_TEST(agent_trouble_escalates)
{
	dispatch_a1();
	F.agent_state = agent_trouble[_i].agent;
	watch_expect(T0, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), agent_trouble[_i].reason);
	ck_assert_int_eq(F.notified, 1);
	ck_assert(!has("agent-in-progress"));
}
END_TEST

/* A thread that no longer exists is handed to a human on first sight,
 * not left locking its repository until the stall deadline; and once:
 * the next tick neither escalates nor rings again. */
START_TEST(gone_thread_escalates_at_once)
{
	dispatch_a1();
	F.agent_state = AFK_AGENT_GONE;
	watch_expect(T0, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_AGENT_GONE);
	ck_assert_str_eq(afk_escalation_str(AFK_ESCALATE_AGENT_GONE),
	                 "the agent thread is gone");
	ck_assert_ptr_nonnull(strstr(F.notice, "the agent thread is gone"));
	ck_assert_int_eq(F.notified, 1);
	ck_assert(!has("agent-in-progress"));
	ck_assert(has("ready-for-human"));
	ck_assert_int_eq(watch(T0 + 60), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
	ck_assert_int_eq(F.notified, 1);
}
END_TEST

/* --- the cost budget ---------------------------------------------------- */

static void usage(long long in, long long out, long long cost)
{
	F.usage_set = 1;
	F.tokens_in = in;
	F.tokens_out = out;
	F.cost_microusd = cost;
}

/* The record keeps the largest usage reported; a snapshot without usage,
 * or with less, changes nothing; the checklist shows it with the caps. */
START_TEST(usage_is_recorded_and_shown)
{
	ck_assert_int_eq(afk_config_set(CFG, "budget", "{\"cost_usd\": 5}"),
	                 0);
	dispatch_a1();
	/* the first record shows the cap: the first watch changes only
	 * the usage */
	ck_assert_ptr_nonnull(strstr(F.comment[0], "Usage: none reported; "
	                             "budget: $5.00."));
	usage(120400, 8210, 1420000);
	watch_expect(T0, AFK_ACTION_WAIT);
	ck_assert_ptr_nonnull(strstr(F.comment[0], "\"tokens_in\":120400"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "Usage: 120,400 tokens in, "
	                             "8,210 out, $1.42; budget: $5.00."));
	F.usage_set = 0;
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	ck_assert_int_eq(afk_actions_updated(ACT, 0), 0);
	usage(100, -1, 1500000);
	watch_expect(T0 + 120, AFK_ACTION_WAIT);
	ck_assert_ptr_nonnull(strstr(F.comment[0], "Usage: 120,400 tokens in, "
	                             "8,210 out, $1.50;"));
	ck_assert_int_eq(F.notified, 0);
}
END_TEST

/* Over budget: escalated with its reason, the agent stopped once, the
 * humans told once, the lock dropped; the next tick does nothing. */
START_TEST(over_budget_escalates_and_stops_the_agent_once)
{
	int x;

	ck_assert_int_eq(afk_config_set(CFG, "budget", "{\"tokens\": 1000}"),
	                 0);
	dispatch_a1();
	usage(900, 100, -1);
	watch_expect(T0, AFK_ACTION_WAIT);      /* at the cap is not over */
	usage(900, 101, -1);
	watch_expect(T0 + 60, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_BUDGET);
	ck_assert_int_eq(F.stopped, 1);
	x = fake_find(&F, 'X', "a", 1);
	ck_assert_int_ge(x, 0);
	ck_assert_str_eq(F.events[x].prompt, "thread-a-1");
	ck_assert_int_eq(F.notified, 1);
	ck_assert_ptr_nonnull(strstr(F.notice, "over its cost budget"));
	ck_assert(!has("agent-in-progress"));
	ck_assert(has("ready-for-human"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "**Needs a human**: over "
	                             "its cost budget; the agent was stopped."));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "Usage: 900 tokens in, "
	                             "101 out; budget: 1,000 tokens."));
	ck_assert_int_eq(watch(T0 + 120), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
	ck_assert_int_eq(fake_count(&F, 'X'), 1);
	ck_assert_int_eq(F.notified, 1);
}
END_TEST

/* A failing stop is reported and blocks nothing but the lock: the
 * humans are told at once, and the next tick retries the stop - once
 * it succeeded, never again. */
START_TEST(failed_budget_stop_is_retried_next_tick)
{
	ck_assert_int_eq(afk_config_set(CFG, "budget", "{\"cost_usd\": 1}"),
	                 0);
	dispatch_a1();
	usage(-1, -1, 1000001);
	F.fail_kind = 'X';
	F.fail_nth = 1;
	F.fail_rc = -98;
	ck_assert_int_eq(watch(T0), -98);
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(W), "agent stop"));
	ck_assert_uint_eq(afk_actions_count(ACT), 1);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_BUDGET);
	ck_assert_int_eq(F.notified, 1);
	ck_assert(has("ready-for-human"));
	ck_assert(has("agent-in-progress"));    /* kept: the stop comes back */
	ck_assert_ptr_nonnull(strstr(F.comment[0], "stopping the agent"));
	watch_expect(T0 + 60, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_BUDGET);
	ck_assert_int_eq(fake_count(&F, 'X'), 2);
	ck_assert_int_eq(F.stopped, 1);
	ck_assert_int_eq(F.notified, 1);
	ck_assert(!has("agent-in-progress"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "the agent was stopped"));
	ck_assert_int_eq(watch(T0 + 120), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
	ck_assert_int_eq(fake_count(&F, 'X'), 2);
}
END_TEST

/* A step after the stop fails: the next tick finishes the escalation
 * without stopping the agent again. */
START_TEST(budget_stop_is_not_repeated_after_a_failed_step)
{
	ck_assert_int_eq(afk_config_set(CFG, "budget", "{\"tokens\": 10}"),
	                 0);
	dispatch_a1();
	usage(11, -1, -1);
	F.fail_kind = 'N';
	F.fail_nth = 1;
	F.fail_rc = -98;
	ck_assert_int_eq(watch(T0), -98);
	ck_assert_int_eq(F.stopped, 1);
	watch_expect(T0 + 60, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(F.stopped, 1);
	ck_assert_int_eq(fake_count(&F, 'X'), 1);
	ck_assert_int_eq(F.notified, 1);
	ck_assert(!has("agent-in-progress"));
}
END_TEST

/* The budget covers the whole run: usage from the fix-forward turn adds
 * to the first turn's and escalates the run. */
START_TEST(budget_covers_fix_forward_turns)
{
	ck_assert_int_eq(afk_config_set(CFG, "budget", "{\"tokens\": 1000}"),
	                 0);
	dispatch_a1();
	F.agent_state = AFK_AGENT_COMPLETED;
	F.pr = AFK_PR_OPEN;
	snprintf(F.head, sizeof(F.head), "h1");
	F.ci = AFK_STATUS_FAILURE;
	usage(600, 100, -1);
	watch_expect(T0, AFK_ACTION_FIX_FORWARD);
	F.agent_state = AFK_AGENT_RUNNING;
	usage(900, 150, -1);
	watch_expect(T0 + 60, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_BUDGET);
	ck_assert_int_eq(afk_actions_attempts(ACT, 0), 1);
	ck_assert_int_eq(F.stopped, 1);
}
END_TEST

/* Without a stop callback the escalation goes through and says so. */
START_TEST(over_budget_without_agent_stop)
{
	ck_assert_int_eq(afk_config_set(CFG, "budget", "{\"tokens\": 10}"),
	                 0);
	ck_assert_int_eq(afk_agent_set_stop(A, NULL), 0);
	dispatch_a1();
	usage(5, 6, -1);
	watch_expect(T0, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_BUDGET);
	ck_assert_int_eq(fake_count(&F, 'X'), 0);
	ck_assert(!has("agent-in-progress"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "could not be stopped"));
}
END_TEST

/* No budget configured: no usage is ever too much. */
START_TEST(no_budget_never_escalates)
{
	dispatch_a1();
	usage(1000000000000000LL, 1000000000000000LL, 1000000000000000LL);
	watch_expect(T0, AFK_ACTION_WAIT);
	ck_assert_int_eq(fake_count(&F, 'X'), 0);
	ck_assert_ptr_null(strstr(F.comment[0], "budget:"));
}
END_TEST

/* Issue 10's scenario: the agent waits on an approval and the run is
 * handed to a human, once; a trusted user makes the issue ready again.
 * That run is over: the next poll dispatches the second generation, to
 * a fresh thread - not the stuck one, which would be escalated again at
 * once with a second notification. */
START_TEST(ready_again_after_escalation_runs_afresh)
{
	afk_result *r = NULL;

	dispatch_a1();
	ck_assert_int_eq(F.dispatch_gen, 1);
	snprintf(F.stuck, sizeof(F.stuck), "thread-a-1");
	F.stuck_state = AFK_AGENT_WAITING_APPROVAL; /* and it stays so */
	watch_expect(T0, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_AGENT_WAITING);
	ck_assert_int_eq(F.notified, 1);
	ck_assert(!has("ready-for-agent"));
	ck_assert(!has("agent-in-progress"));

	/* a trusted user labels it ready again */
	ck_assert_int_eq(afk_issue_add_label(F.issues[0], "ready-for-agent"), 0);
	ck_assert_int_eq(afk_issue_trusted(F.issues[0]), 1);
	ck_assert_msg(afk_poller_run_once(P, CFG, &r) == 0, "%s",
	              afk_poller_errmsg(P));
	ck_assert_uint_eq(afk_result_dispatched_count(r), 1);
	ck_assert_int_eq(F.dispatch_gen, 2);
	ck_assert_str_eq(afk_result_dispatched_thread(r, 0), "thread-a-1-2");
	afk_result_free(r);
	/* the generation was read before the dispatch */
	ck_assert_int_lt(fake_find(&F, 'F', "a", 1), fake_find(&F, 'D', "a", 1));
	ck_assert(has("agent-in-progress"));
	/* the new record: the fresh thread, the second run, in progress */
	ck_assert_ptr_nonnull(strstr(F.comment[0], "\"thread\":\"thread-a-1-2\""));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "\"generation\":2"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "### afk: a#1 (run 2)"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "Status: in progress."));

	F.agent_state = AFK_AGENT_RUNNING;
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	ck_assert_str_eq(afk_actions_thread(ACT, 0), "thread-a-1-2");
	ck_assert_int_eq(F.notified, 1);
	ck_assert(has("agent-in-progress"));
}
END_TEST

/* A dispatch that stopped before its lock - its record written, the
 * issue never labelled - is no ended run: dispatched again, it keeps
 * its generation, so the agent may take its thread up again. */
START_TEST(unended_run_keeps_its_generation)
{
	afk_result *r = NULL;

	dispatch_a1();
	ck_assert_int_eq(afk_issue_has_label(F.issues[0], "agent-in-progress"),
	                 1);
	/* the lock lost, the ready label kept: as if the label never came */
	afk_issue_free(F.issues[0]);
	F.nissues = 0;
	fake_add(&F, "a", 1, 0, 1, NULL);
	ck_assert_msg(afk_poller_run_once(P, CFG, &r) == 0, "%s",
	              afk_poller_errmsg(P));
	ck_assert_uint_eq(afk_result_dispatched_count(r), 1);
	ck_assert_int_eq(F.dispatch_gen, 1);
	ck_assert_str_eq(afk_result_dispatched_thread(r, 0), "thread-a-1");
	afk_result_free(r);
}
END_TEST

/* A closed run is over too: reopened and made ready, the issue runs as
 * the next generation; and the generation after that follows. */
START_TEST(closed_run_then_ready_again_is_next_generation)
{
	afk_result *r = NULL;
	int gen;

	dispatch_a1();
	for (gen = 2; gen <= 3; gen++) {
		F.pr = AFK_PR_MERGED;
		F.ci = AFK_STATUS_SUCCESS;
		watch_expect(T0 + gen, AFK_ACTION_CLOSE);
		/* reopened, made ready again */
		F.closed[0] = 0;
		F.pr = AFK_PR_NONE;
		F.ci = AFK_STATUS_NONE;
		ck_assert_int_eq(afk_issue_add_label(F.issues[0],
		                                     "ready-for-agent"), 0);
		ck_assert_msg(afk_poller_run_once(P, CFG, &r) == 0, "%s",
		              afk_poller_errmsg(P));
		ck_assert_uint_eq(afk_result_dispatched_count(r), 1);
		afk_result_free(r);
		r = NULL;
		ck_assert_int_eq(F.dispatch_gen, gen);
	}
}
END_TEST

START_TEST(stall_deadline_is_exact)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);              /* first sight */
	watch_expect(T0 + 7200, AFK_ACTION_WAIT);       /* at the deadline */
	watch_expect(T0 + 7201, AFK_ACTION_ESCALATE);   /* past it */
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_STALLED);
}
END_TEST

START_TEST(progress_moves_the_stall_deadline)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	F.agent_phase = AFK_PHASE_TESTS_RED;
	watch_expect(T0 + 7000, AFK_ACTION_WAIT);
	watch_expect(T0 + 7201, AFK_ACTION_WAIT);
	watch_expect(T0 + 14201, AFK_ACTION_ESCALATE);
}
END_TEST

/* The agent's output is progress: an agent whose process lives but
 * prints nothing stalls (above), one that keeps printing does not.  An
 * activity no later than the last progress moves nothing. */
START_TEST(activity_moves_the_stall_deadline)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	F.activity = T0 - 50;                           /* before: nothing */
	watch_expect(T0 + 7201, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_STALLED);
}
END_TEST

START_TEST(printing_agent_does_not_stall)
{
	int upserts;

	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	F.activity = T0 + 7000;                         /* it printed */
	upserts = fake_count(&F, 'U');
	watch_expect(T0 + 7201, AFK_ACTION_WAIT);
	ck_assert_int_eq(afk_actions_deadline(ACT, 0), T0 + 7000 + 7201);
	/* derived from each snapshot, not recorded: the comment stays */
	ck_assert_int_eq(fake_count(&F, 'U'), upserts);
	F.activity = T0 + 14000;
	watch_expect(T0 + 14201, AFK_ACTION_WAIT);
	watch_expect(T0 + 21201, AFK_ACTION_ESCALATE);  /* then went quiet */
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_STALLED);
}
END_TEST

/* An activity after the tick's time counts as the tick's time. */
START_TEST(future_activity_counts_as_now)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	F.activity = T0 + 1000000;
	watch_expect(T0 + 100, AFK_ACTION_WAIT);
	ck_assert_int_eq(afk_actions_deadline(ACT, 0), T0 + 100 + 7201);
}
END_TEST

START_TEST(ci_pending_past_deadline)
{
	ck_assert_int_eq(afk_config_set(CFG, "ci_timeout", "100"), 0);
	dispatch_a1();
	F.agent_state = AFK_AGENT_COMPLETED;
	F.pr = AFK_PR_OPEN;
	snprintf(F.head, sizeof(F.head), "h1");
	F.ci = AFK_STATUS_PENDING;
	watch_expect(T0, AFK_ACTION_WAIT);
	watch_expect(T0 + 100, AFK_ACTION_WAIT);
	watch_expect(T0 + 101, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_CI_TIMEOUT);
}
END_TEST

START_TEST(deploy_stage_closes_on_deploy)
{
	ck_assert_int_eq(afk_config_set(CFG, "deploy_stage", "true"), 0);
	dispatch_a1();
	F.agent_state = AFK_AGENT_COMPLETED;
	F.pr = AFK_PR_MERGED;
	snprintf(F.head, sizeof(F.head), "h1");
	F.ci = AFK_STATUS_SUCCESS;
	watch_expect(T0, AFK_ACTION_WAIT);      /* merged + green: not yet */
	ck_assert_ptr_nonnull(strstr(F.comment[0], "- [ ] deployed"));
	F.deploy = AFK_STATUS_FAILURE;
	watch_expect(T0 + 60, AFK_ACTION_FIX_FORWARD);
	snprintf(F.head, sizeof(F.head), "h2");
	F.deploy = AFK_STATUS_SUCCESS;
	watch_expect(T0 + 120, AFK_ACTION_CLOSE);
	ck_assert_ptr_nonnull(strstr(F.comment[0], "- [x] deployed"));
}
END_TEST

START_TEST(no_record_goes_to_a_human)
{
	fake_add(&F, "a", 5, 0, 1, "agent-in-progress");
	watch_expect(T0, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_NO_RECORD);
	ck_assert_str_eq(afk_actions_thread(ACT, 0), "");
	ck_assert_int_eq(fake_count(&F, 'S'), 0); /* no thread to ask */
	ck_assert_int_eq(F.notified, 1);
}
END_TEST

/* Each step of an escalation may fail; the next tick finishes the job
 * and the human is told exactly once. */
static const char escalate_steps[] = {'U', 'A', 'R', 'N'};

START_TEST(escalation_resumes_after_a_failed_step)
{
	dispatch_a1();
	F.agent_state = AFK_AGENT_ERRORED;
	F.fail_kind = escalate_steps[_i];
	F.fail_nth = F.calls[(unsigned char)F.fail_kind] + 1;
	if (F.fail_kind == 'A')
		F.label_fail_at = F.label_calls + 1, F.label_rc = -99;
	F.fail_rc = -99;
	ck_assert_int_eq(watch(T0), -99);
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(W), "a#1"));
	ck_assert(has("agent-in-progress"));         /* still found next time */
	/* Once the escalation is recorded it is carried out whatever the
	 * agent does now; before that (the record's write failed) nothing
	 * happened, and the next tick decides afresh. */
	if (F.fail_kind != 'U')
		F.agent_state = AFK_AGENT_RUNNING;
	watch_expect(T0 + 60, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_AGENT_FAILED);
	ck_assert_int_eq(F.notified, 1);
	ck_assert(has("ready-for-human"));
	ck_assert(!has("agent-in-progress"));
	ck_assert_int_eq(F.comments_made[0], 1);
}
END_TEST

/* A snapshot that says why its agent failed has the escalation name
 * it: on one line, no way out of the checklist's code span, kept in the
 * record so that the next tick's checklist still says it.  Running, the
 * same word is not kept. */
START_TEST(escalation_names_the_agents_why)
{
	const char *c;

	dispatch_a1();
	F.snap_why = "still thinking";
	watch_expect(T0, AFK_ACTION_WAIT);
	F.agent_state = AFK_AGENT_ERRORED;
	F.snap_why = "Job a-1 failed:\nOOMKilled `x`";
	watch_expect(T0 + 60, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_AGENT_FAILED);
	c = F.comment[0];
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(strstr(c, "**Needs a human**: the agent failed "
	              "(`Job a-1 failed: OOMKilled 'x'`).") != NULL, "%s", c);
	ck_assert_msg(strstr(F.notice, "needs a human: the agent failed "
	              "(Job a-1 failed: OOMKilled 'x').") != NULL, "%s",
	              F.notice);
	ck_assert_ptr_null(strstr(c, "still thinking"));
	F.snap_why = NULL;
	watch(T0 + 120); /* the record keeps it */
	ck_assert_ptr_nonnull(strstr(F.comment[0], "OOMKilled 'x'"));
}
END_TEST

/* The lock's removal is an escalation's last step: when it fails the
 * next tick resumes from the record - also for a run that had none -
 * and the human is not told twice. */
START_TEST(no_record_escalation_resumes_once)
{
	fake_add(&F, "a", 5, 0, 1, "agent-in-progress");
	F.fail_kind = 'R';
	F.fail_nth = 2;
	F.fail_rc = -96;
	ck_assert_int_eq(watch(T0), -96);
	ck_assert_int_eq(F.notified, 1);
	ck_assert(afk_issue_has_label(F.issues[0], "agent-in-progress"));
	watch_expect(T0 + 60, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_NO_RECORD);
	ck_assert_int_eq(F.notified, 1);
	ck_assert(!afk_issue_has_label(F.issues[0], "agent-in-progress"));
}
END_TEST

/* A thread that cannot be read - gone, or its server down - still meets
 * the stall deadline: the clock starts on first sight. */
START_TEST(unreadable_run_escalates_at_the_deadline)
{
	dispatch_a1();
	F.fail_kind = 'S';
	F.fail_nth = 1;
	F.fail_rc = -92;
	ck_assert_int_eq(watch(T0), -92);
	F.fail_nth = 2;
	ck_assert_int_eq(watch(T0 + 7200), -92);
	F.fail_nth = 3;
	watch_expect(T0 + 7201, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_STALLED);
	ck_assert(!has("agent-in-progress"));
	ck_assert_int_eq(F.notified, 1);
}
END_TEST

/* Sets the integer member key of a#1's record to value, as a person
 * editing the comment could. */
static void set_record_int(const char *key, long long value)
{
	char pat[64], *at, *end, *body;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	at = strstr(F.comment[0], pat);
	ck_assert_msg(at != NULL, "no %s in %s", key, F.comment[0]);
	at += strlen(pat);
	while (*at == ' ')
		at++;
	end = at;
	while (*end == '-' || (*end >= '0' && *end <= '9'))
		end++;
	n = strlen(F.comment[0]) + 32;
	body = malloc(n);
	ck_assert_ptr_nonnull(body);
	snprintf(body, n, "%.*s%lld%s", (int)(at - F.comment[0]), F.comment[0],
	         value, end);
	free(F.comment[0]);
	F.comment[0] = body;
}

/* A record whose clock is at the bottom of the integers: the gap to now
 * does not fit, and an unreadable run is still past its deadline - it
 * goes to a human instead of keeping its repository locked. */
START_TEST(unreadable_run_with_ancient_clock_escalates)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	set_record_int("changed_at", LLONG_MIN + 1);
	F.fail_kind = 'S';
	F.fail_nth = F.calls['S'] + 1;
	F.fail_rc = -92;
	watch_expect(T0 + 60, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_STALLED);
	ck_assert(!has("agent-in-progress"));
	ck_assert_int_eq(F.notified, 1);
}
END_TEST

/* A clock in the future is brought back to now: the stall deadline
 * runs from then, it is not held off until that future. */
START_TEST(future_clock_does_not_disable_the_stall_deadline)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	set_record_int("changed_at", T0 + 1000000000LL);
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	watch_expect(T0 + 60 + 7200, AFK_ACTION_WAIT);
	watch_expect(T0 + 60 + 7201, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_STALLED);
}
END_TEST

/* The same for a run that cannot be read: the clock brought back is
 * saved, so that it runs although the tick fails. */
START_TEST(unreadable_run_with_future_clock_escalates)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	set_record_int("changed_at", LLONG_MAX);
	F.fail_kind = 'S';
	F.fail_nth = F.calls['S'] + 1;
	F.fail_rc = -92;
	ck_assert_int_eq(watch(T0 + 60), -92);
	F.fail_nth = F.calls['S'] + 1;
	ck_assert_int_eq(watch(T0 + 60 + 7200), -92);
	F.fail_nth = F.calls['S'] + 1;
	watch_expect(T0 + 60 + 7201, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_STALLED);
}
END_TEST

/* CI pending since a time in the future still meets its deadline. */
START_TEST(future_ci_clock_does_not_disable_the_ci_deadline)
{
	ck_assert_int_eq(afk_config_set(CFG, "ci_timeout", "100"), 0);
	dispatch_a1();
	F.agent_state = AFK_AGENT_COMPLETED;
	F.pr = AFK_PR_OPEN;
	snprintf(F.head, sizeof(F.head), "h1");
	F.ci = AFK_STATUS_PENDING;
	watch_expect(T0, AFK_ACTION_WAIT);
	set_record_int("ci_since", LLONG_MAX);
	watch_expect(T0 + 10, AFK_ACTION_WAIT);
	watch_expect(T0 + 111, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_CI_TIMEOUT);
}
END_TEST

/* A run whose tick failed before its action was chosen reports none. */
START_TEST(failed_run_reports_no_action)
{
	dispatch_a1();
	F.fail_kind = 'S';
	F.fail_nth = 1;
	F.fail_rc = -95;
	ck_assert_int_eq(watch(T0), -95);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
}
END_TEST

START_TEST(fix_forward_resumes_after_failed_turn)
{
	dispatch_a1();
	F.agent_state = AFK_AGENT_COMPLETED;
	F.pr = AFK_PR_OPEN;
	F.ci = AFK_STATUS_FAILURE;
	snprintf(F.head, sizeof(F.head), "h1");
	F.failing = "build";
	F.fail_kind = 'T';
	F.fail_nth = 1;
	F.fail_rc = -98;
	ck_assert_int_eq(watch(T0), -98);
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(W), "send_turn"));
	watch_expect(T0 + 60, AFK_ACTION_FIX_FORWARD);
	ck_assert_int_eq(afk_actions_attempts(ACT, 0), 1);  /* not 2 */
	ck_assert_int_eq(fake_count(&F, 'T'), 2);          /* resent once */
	/* the same turn: the check and its address come from the record */
	{
		size_t k, first = F.nevents, last = 0;

		for (k = 0; k < F.nevents; k++)
			if (F.events[k].kind == 'T') {
				if (first == F.nevents)
					first = k;
				last = k;
			}
		ck_assert_uint_lt(first, last);
		ck_assert_ptr_nonnull(strstr(F.events[last].prompt,
		                             "- build: https://ci.test/1"));
		ck_assert_str_eq(F.events[first].prompt, F.events[last].prompt);
	}
	watch_expect(T0 + 120, AFK_ACTION_WAIT);
	ck_assert_int_eq(fake_count(&F, 'T'), 2);
}
END_TEST

START_TEST(close_resumes_after_failed_close)
{
	dispatch_a1();
	F.agent_state = AFK_AGENT_COMPLETED;
	F.pr = AFK_PR_MERGED;
	F.ci = AFK_STATUS_SUCCESS;
	F.fail_kind = 'C';
	F.fail_nth = 1;
	F.fail_rc = -97;
	ck_assert_int_eq(watch(T0), -97);
	ck_assert(!F.closed[0]);
	/* CI turning red now must not undo a decided close */
	F.ci = AFK_STATUS_FAILURE;
	watch_expect(T0 + 60, AFK_ACTION_CLOSE);
	ck_assert(F.closed[0]);
	ck_assert(!has("agent-in-progress"));
	ck_assert_int_eq(fake_count(&F, 'T'), 0);
}
END_TEST

START_TEST(adapter_failure_reports_code_and_step)
{
	dispatch_a1();
	F.fail_kind = 'I';
	F.fail_nth = 1;
	F.fail_rc = -1234;
	ck_assert_int_eq(watch(T0), -1234);
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(W), "CI status"));
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(W), "CI unreachable"));
	ck_assert(has("agent-in-progress"));
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
}
END_TEST

/* One run failing does not hold up the others; the tick reports the
 * first failure. */
START_TEST(failing_run_does_not_block_the_rest)
{
	afk_result *r = NULL;

	ck_assert_int_eq(afk_config_set(CFG, "allowlist", "[\"a\", \"b\"]"), 0);
	fake_add(&F, "a", 1, 0, 1, NULL);
	fake_add(&F, "b", 2, 0, 1, NULL);
	ck_assert_int_eq(afk_poller_run_once(P, CFG, &r), 0);
	ck_assert_uint_eq(afk_result_dispatched_count(r), 2);
	afk_result_free(r);
	F.agent_state = AFK_AGENT_ERRORED;
	F.fail_kind = 'S';
	F.fail_nth = F.calls['S'] + 1;
	F.fail_rc = -94;
	ck_assert_int_eq(watch(T0), -94);
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(W), "a#1"));
	ck_assert_uint_eq(afk_actions_count(ACT), 1);
	ck_assert_str_eq(afk_actions_repo(ACT, 0), "b");
	ck_assert_int_eq(afk_actions_kind(ACT, 0), AFK_ACTION_ESCALATE);
	/* the failure is the run's, in the actions too */
	ck_assert_uint_eq(afk_actions_error_count(ACT), 1);
	ck_assert_str_eq(afk_actions_error_repo(ACT, 0), "a");
	ck_assert_int_eq(afk_actions_error_number(ACT, 0), 1);
	ck_assert_int_eq(afk_actions_error_code(ACT, 0), -94);
	ck_assert_str_eq(afk_actions_error_message(ACT, 0),
	                 afk_watcher_errmsg(W));
	ck_assert_ptr_null(afk_actions_error_repo(ACT, 1));
	ck_assert_ptr_null(afk_actions_error_message(ACT, 1));
	ck_assert_int_eq(afk_actions_error_code(ACT, 1), 0);
	ck_assert_int_eq(afk_actions_error_number(ACT, 1), 0);
	ck_assert_uint_eq(afk_actions_error_count(NULL), 0);
}
END_TEST

/* An agent that cannot be reached is asked once per watch tick: the
 * other runs fail with AFK_EUNAVAIL without a call, each reported, and
 * the CI is not asked for them either. */
START_TEST(unreachable_agent_asked_once_per_tick)
{
	afk_result *r = NULL;
	int snaps, cis;

	ck_assert_int_eq(afk_config_set(CFG, "allowlist",
	                                "[\"a\", \"b\", \"c\"]"), 0);
	fake_add(&F, "a", 1, 0, 1, NULL);
	fake_add(&F, "b", 2, 0, 1, NULL);
	fake_add(&F, "c", 3, 0, 1, NULL);
	ck_assert_int_eq(afk_poller_run_once(P, CFG, &r), 0);
	afk_result_free(r);
	snaps = F.calls['S'];
	cis = F.calls['I'];
	F.fail_kind = 'S';
	F.fail_nth = snaps + 1;
	F.fail_rc = AFK_EUNAVAIL;
	ck_assert_int_eq(watch(T0), AFK_EUNAVAIL);
	ck_assert_int_eq(F.calls['S'], snaps + 1);
	ck_assert_int_eq(F.calls['I'], cis);
	ck_assert_uint_eq(afk_actions_error_count(ACT), 3);
	ck_assert_str_eq(afk_actions_error_repo(ACT, 0), "a");
	ck_assert_str_eq(afk_actions_error_repo(ACT, 1), "b");
	ck_assert_str_eq(afk_actions_error_repo(ACT, 2), "c");
	ck_assert_int_eq(afk_actions_error_code(ACT, 2), AFK_EUNAVAIL);
	ck_assert_ptr_nonnull(strstr(afk_actions_error_message(ACT, 1),
	                             "not called"));
	/* the next tick asks again */
	ck_assert_int_eq(watch(T0 + 60), 0);
	ck_assert_int_eq(F.calls['S'], snaps + 4);
}
END_TEST

/* A repository the tracker could not list is reported; the runs of the
 * others are watched. */
START_TEST(failed_listing_reported_others_watched)
{
	dispatch_a1();
	ck_assert_int_eq(afk_config_set(CFG, "allowlist", "[\"a\", \"b\"]"),
	                 0);
	fake_list_error(&F, "b", 0, -404, "HTTP 404");
	ck_assert_int_eq(watch(T0), -404);
	ck_assert_str_eq(afk_watcher_errmsg(W),
	                 "watch: tracker list_ready: b: HTTP 404");
	ck_assert_uint_eq(afk_actions_count(ACT), 1);
	ck_assert_str_eq(afk_actions_repo(ACT, 0), "a");
	ck_assert_uint_eq(afk_actions_error_count(ACT), 1);
	ck_assert_str_eq(afk_actions_error_repo(ACT, 0), "b");
	ck_assert_str_eq(afk_actions_error_message(ACT, 0), "HTTP 404");
}
END_TEST

/* A listing that fails whole stops the tick: one error of no one
 * repository. */
START_TEST(failed_list_is_an_error_of_no_repo)
{
	dispatch_a1();
	F.list_rc = -31;
	ck_assert_int_eq(watch(T0), -31);
	ck_assert_uint_eq(afk_actions_error_count(ACT), 1);
	ck_assert_str_eq(afk_actions_error_repo(ACT, 0), "");
	ck_assert_int_eq(afk_actions_error_code(ACT, 0), -31);
}
END_TEST

START_TEST(only_allowlisted_runs_are_watched)
{
	dispatch_a1();
	fake_add(&F, "b", 2, 0, 1, "agent-in-progress");
	ck_assert_int_eq(watch(T0), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 1);
	ck_assert_str_eq(afk_actions_repo(ACT, 0), "a");
	ck_assert_int_eq(fake_find(&F, 'F', "b", 2), -1);
}
END_TEST

START_TEST(missing_callback_refused_before_any_call)
{
	afk_ci *bare;
	afk_watcher *w;
	afk_actions *act = NULL;

	dispatch_a1();
	F.nevents = 0;
	ck_assert_int_eq(afk_ci_new(&bare), 0);
	ck_assert_int_eq(afk_watcher_new(&w, T, A, bare, N), 0);
	ck_assert_int_eq(afk_watcher_run_once(w, CFG, T0, &act), AFK_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(w), "status"));
	ck_assert_uint_eq(F.nevents, 0);
	afk_actions_free(act);
	afk_watcher_free(w);
	afk_ci_free(bare);
}
END_TEST

START_TEST(null_arguments)
{
	afk_actions *act = (afk_actions *)&act;

	ck_assert_int_eq(afk_watcher_new(NULL, T, A, C, N), AFK_EINVAL);
	ck_assert_int_eq(afk_watcher_run_once(NULL, CFG, T0, &act), AFK_EINVAL);
	ck_assert_ptr_null(act);
	ck_assert_int_eq(afk_watcher_run_once(W, NULL, T0, &act), AFK_EINVAL);
	ck_assert_int_eq(afk_watcher_run_once(W, CFG, T0, NULL), AFK_EINVAL);
	ck_assert_uint_eq(afk_actions_count(NULL), 0);
	ck_assert_int_eq(afk_actions_kind(NULL, 0), 0);
	ck_assert_str_eq(afk_watcher_errmsg(NULL), "");
	ck_assert_str_eq(afk_action_str(0), "unknown action");
	ck_assert_str_ne(afk_escalation_str(AFK_ESCALATE_STALLED),
	                 "unknown reason");
}
END_TEST

/* --- the host's log (afk_config_set_log()) ---------------------------- */

START_TEST(log_disarmed_watch_says_so)
{
	fake_log fl;

	fake_log_init(&fl);
	dispatch_a1();
	ck_assert_int_eq(afk_config_set(CFG, "allowlist", "[]"), 0);
	ck_assert_int_eq(afk_config_set_log(CFG, fake_log_line, AFK_LOG_DEBUG,
	                                    &fl, NULL), 0);
	F.nevents = 0;
	ck_assert_int_eq(watch(T0), 0);
	ck_assert_uint_eq(F.nevents, 0);
	ck_assert_str_eq(fl.all, "2 tick.disarmed: the allowlist is empty "
	                 "(allowlist, AFK_ALLOWLIST)\n");
	fake_log_clear(&fl);
}
END_TEST

/* A wait is info, an action taken a notice, a failed run a warning. */
START_TEST(log_tells_actions_and_errors)
{
	fake_log fl;

	fake_log_init(&fl);
	dispatch_a1();
	ck_assert_int_eq(afk_config_set_log(CFG, fake_log_line, AFK_LOG_INFO,
	                                    &fl, NULL), 0);
	F.fail_kind = 'I';
	F.fail_nth = 1;
	F.fail_rc = -1234;
	ck_assert_int_eq(watch(T0), -1234);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_WARNING, "watch.error",
	                                "a#1: "), 1);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_WARNING, "watch.error",
	                                "CI status"), 1);
	ck_assert_int_eq(fl.lines, 1);

	watch_expect(T0 + 30, AFK_ACTION_WAIT);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_INFO, "watch.wait",
	                                "a#1: wait"), 1);
	ck_assert_int_eq(fl.lines, 2);

	F.agent_state = AFK_AGENT_COMPLETED;
	F.agent_phase = AFK_PHASE_PUSHED;
	F.pr = AFK_PR_MERGED;
	snprintf(F.head, sizeof(F.head), "abc123");
	F.ci = AFK_STATUS_SUCCESS;
	/* notice only from here: no wait line would pass */
	ck_assert_int_eq(afk_config_set_log(CFG, fake_log_line,
	                                    AFK_LOG_NOTICE, &fl, NULL), 0);
	watch_expect(T0 + 120, AFK_ACTION_CLOSE);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_NOTICE, "watch.action",
	                 NULL), 1);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_NOTICE, "watch.action",
	                 afk_action_str(AFK_ACTION_CLOSE)), 1);
	ck_assert_int_eq(fl.lines, 3);
	fake_log_clear(&fl);
}
END_TEST

START_TEST(log_escalation_names_its_reason)
{
	fake_log fl;

	fake_log_init(&fl);
	dispatch_a1();
	ck_assert_int_eq(afk_config_set_log(CFG, fake_log_line, AFK_LOG_NOTICE,
	                                    &fl, NULL), 0);
	F.agent_state = AFK_AGENT_ERRORED;
	watch_expect(T0, AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), AFK_ESCALATE_AGENT_FAILED);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_NOTICE, "watch.action",
	                 afk_escalation_str(AFK_ESCALATE_AGENT_FAILED)), 1);
	fake_log_clear(&fl);
}
END_TEST

/* --- stopping a run a human took back ------------------------------- */

/* What a human does on the tracker: takes label off issue 0 (the fake
 * tracker's own remove_label would count as afk's call). */
static void human_unlabel(const char *label)
{
	afk_issue *old = F.issues[0], *is;
	size_t k;

	ck_assert_int_eq(afk_issue_new(&is, afk_issue_repo(old),
	                               afk_issue_number(old)), 0);
	for (k = 0; k < afk_issue_label_count(old); k++)
		if (strcmp(afk_issue_label(old, k), label) != 0)
			afk_issue_add_label(is, afk_issue_label(old, k));
	afk_issue_set_priority(is, afk_issue_priority(old));
	afk_issue_set_trusted(is, afk_issue_trusted(old));
	afk_issue_free(old);
	F.issues[0] = is;
}

/* The four things a human does, and the reason each is stopped for. */
enum { BY_CLOSE, BY_HUMAN, BY_UNLOCK, BY_UNREADY };

static int take_back(int how)
{
	switch (how) {
	case BY_CLOSE:
		F.closed[0] = 1;
		return AFK_STOP_CLOSED;
	case BY_HUMAN:
		ck_assert_int_eq(afk_issue_add_label(F.issues[0],
		                                     "ready-for-human"), 0);
		return AFK_STOP_HUMAN_LABEL;
	case BY_UNLOCK:
		human_unlabel("agent-in-progress");
		return AFK_STOP_UNLOCKED;
	default:
		human_unlabel("ready-for-agent");
		return AFK_STOP_UNLOCKED;
	}
}

/* A run already watched once (its clock started), then taken back. */
static int running_then_taken_back(int how)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	return take_back(how);
}

static void assert_stopped(int reason, int agent_stopped)
{
	ck_assert_int_eq(afk_actions_stop_reason(ACT, 0), reason);
	ck_assert_int_eq(afk_actions_reason(ACT, 0), 0);
	ck_assert(!has("agent-in-progress"));
	ck_assert(!has("ready-for-agent"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "**Stopped**"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], afk_stop_str(reason)));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "2023-11-14"));
	ck_assert_ptr_nonnull(strstr(F.comment[0],
	                             agent_stopped ? "the agent was stopped"
	                                           : "could not be stopped"));
	ck_assert_ptr_nonnull(strstr(afk_actions_checklist(ACT, 0),
	                             "**Stopped**"));
	ck_assert_int_eq(F.comments_made[0], 1);
}

START_TEST(stop_on_each_trigger)
{
	int reason = running_then_taken_back(_i);
	int x;

	watch_expect(T0 + 60, AFK_ACTION_STOP);
	assert_stopped(reason, 1);
	ck_assert_int_eq(F.stopped, 1);
	x = fake_find(&F, 'X', "a", 1);
	ck_assert_int_ge(x, 0);
	ck_assert_str_eq(F.events[x].prompt, "thread-a-1");
	/* the lock goes last, the record says "Stopping" first */
	ck_assert_int_lt(x, (int)F.nevents - 1);
	ck_assert_int_eq(F.events[F.nevents - 1].kind, 'R');
	ck_assert_str_eq(F.events[F.nevents - 1].label, "agent-in-progress");
	/* no snapshot, no CI: a stopped run is not watched */
	ck_assert_int_eq(fake_count(&F, 'I'), 1);
	/* stopped once: the next tick has nothing to do */
	F.nevents = 0;
	ck_assert_int_eq(watch(T0 + 120), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
	ck_assert_int_eq(fake_count(&F, 'X'), 0);
	ck_assert_int_eq(F.stopped, 1);
}
END_TEST

/* The steps of a stop, in order, as the fake counts them; each may
 * fail, and the next tick finishes the stop. */
static const struct {
	int how;
	char kind;
	int nth;            /* which call of kind in the stop (1-based) */
} stop_steps[] = {
	{BY_HUMAN, 'U', 1}, {BY_HUMAN, 'R', 1}, {BY_HUMAN, 'X', 1},
	{BY_HUMAN, 'U', 2}, {BY_HUMAN, 'R', 2},
	{BY_UNLOCK, 'U', 1}, {BY_UNLOCK, 'A', 1}, {BY_UNLOCK, 'R', 1},
	{BY_UNLOCK, 'X', 1}, {BY_UNLOCK, 'U', 2}, {BY_UNLOCK, 'R', 2},
	{BY_CLOSE, 'U', 1}, {BY_CLOSE, 'R', 1}, {BY_CLOSE, 'X', 1},
	{BY_CLOSE, 'U', 2}, {BY_CLOSE, 'R', 2},
};

START_TEST(stop_resumes_after_a_failed_step)
{
	int reason = running_then_taken_back(stop_steps[_i].how);
	char kind = stop_steps[_i].kind;

	if (kind == 'A') {
		F.label_fail_at = F.label_calls + stop_steps[_i].nth;
		F.label_rc = -98;
	}
	F.fail_kind = kind;
	F.fail_nth = F.calls[(unsigned char)kind] + stop_steps[_i].nth;
	F.fail_rc = -98;
	ck_assert_int_eq(watch(T0 + 60), -98);
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(W), "a#1"));
	/* the poller must not take it up again meanwhile */
	{
		afk_result *r = NULL;

		ck_assert_int_eq(afk_poller_run_once(P, CFG, &r), 0);
		ck_assert_uint_eq(afk_result_dispatched_count(r), 0);
		afk_result_free(r);
	}
	watch_expect(T0 + 120, AFK_ACTION_STOP);
	assert_stopped(reason, 1);
	/* the agent is asked again only when the record of its stop was
	 * lost (the stop is idempotent by contract); it never runs on */
	ck_assert_int_eq(F.stopped, kind == 'U' && stop_steps[_i].nth == 2
	                            ? 2 : 1);
	ck_assert_int_eq(watch(T0 + 180), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
}
END_TEST

/* A run whose lock a human removed is not dispatched again while the
 * watch has not stopped it: the poll skips it as AFK_SKIP_STOPPING. */
START_TEST(poll_skips_a_run_being_stopped)
{
	afk_result *r = NULL;
	size_t k;
	int seen = 0;

	running_then_taken_back(BY_UNLOCK);
	ck_assert_int_eq(afk_poller_run_once(P, CFG, &r), 0);
	ck_assert_uint_eq(afk_result_dispatched_count(r), 0);
	for (k = 0; k < afk_result_skipped_count(r); k++)
		seen += afk_result_skipped_reason(r, k) == AFK_SKIP_STOPPING;
	ck_assert_int_eq(seen, 1);
	afk_result_free(r);
	ck_assert_int_eq(fake_count(&F, 'D'), 1); /* the first dispatch only */
}
END_TEST

/* An agent without a stop: the run is finalised and unlocked all the
 * same, and the checklist says the agent could not be stopped. */
START_TEST(stop_without_agent_stop)
{
	int reason = running_then_taken_back(BY_HUMAN);

	ck_assert_int_eq(afk_agent_set_stop(A, NULL), 0);
	watch_expect(T0 + 60, AFK_ACTION_STOP);
	assert_stopped(reason, 0);
	ck_assert_int_eq(fake_count(&F, 'X'), 0);
}
END_TEST

/* A tracker that cannot list closed issues: closed runs are not
 * reconciled, everything else is. */
START_TEST(stop_without_list_closed)
{
	int reason;

	ck_assert_int_eq(afk_tracker_set_list_closed(T, NULL), 0);
	reason = running_then_taken_back(BY_HUMAN);
	watch_expect(T0 + 60, AFK_ACTION_STOP);
	assert_stopped(reason, 1);
	ck_assert_int_eq(fake_count(&F, 'Q'), 0);
}
END_TEST

/* The closed listing failing is one error; the open runs go on. */
START_TEST(failed_closed_listing_does_not_block)
{
	dispatch_a1();
	F.fail_kind = 'Q';
	F.fail_nth = F.calls['Q'] + 1;
	F.fail_rc = -97;
	ck_assert_int_eq(watch(T0), -97);
	ck_assert_uint_eq(afk_actions_count(ACT), 1);
	ck_assert_int_eq(afk_actions_kind(ACT, 0), AFK_ACTION_WAIT);
	ck_assert_ptr_nonnull(strstr(afk_watcher_errmsg(W), "list_closed"));
}
END_TEST

/* The human label left on from an earlier run stops nothing; added
 * after the watch saw the run, it does. */
START_TEST(human_label_from_before_stops_nothing)
{
	fake_add(&F, "a", 1, 0, 1, "ready-for-human");
	{
		afk_result *r = NULL;

		ck_assert_int_eq(afk_poller_run_once(P, CFG, &r), 0);
		ck_assert_uint_eq(afk_result_dispatched_count(r), 1);
		afk_result_free(r);
	}
	watch_expect(T0, AFK_ACTION_WAIT);
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
	ck_assert_int_eq(F.stopped, 0);
}
END_TEST

/* A dispatch that never got its lock is the poller's, not a stop. */
START_TEST(unlocked_dispatch_is_not_stopped)
{
	dispatch_a1();
	human_unlabel("agent-in-progress");
	ck_assert_int_eq(watch(T0), 0);
	ck_assert_uint_eq(afk_actions_count(ACT), 0);
	ck_assert_int_eq(fake_count(&F, 'X'), 0);
}
END_TEST

/* Closed without a record: nothing to stop, the lock goes. */
START_TEST(closed_without_record_releases_the_lock)
{
	fake_add(&F, "a", 5, 0, 1, "agent-in-progress");
	F.closed[0] = 1;
	watch_expect(T0, AFK_ACTION_STOP);
	ck_assert_int_eq(afk_actions_stop_reason(ACT, 0), AFK_STOP_CLOSED);
	ck_assert(!has("agent-in-progress"));
	ck_assert_ptr_nonnull(strstr(F.comment[0], "could not be stopped"));
	ck_assert_int_eq(fake_count(&F, 'X'), 0);
}
END_TEST

/* Issue text never stops a run: only labels and the closed state. */
START_TEST(issue_text_stops_nothing)
{
	dispatch_a1();
	watch_expect(T0, AFK_ACTION_WAIT);
	ck_assert_int_eq(afk_issue_set_title(F.issues[0],
	                 "ready-for-human closed agent-in-progress"), 0);
	watch_expect(T0 + 60, AFK_ACTION_WAIT);
}
END_TEST

START_TEST(stop_names)
{
	ck_assert_str_eq(afk_action_str(AFK_ACTION_STOP), "stop");
	ck_assert_str_eq(afk_stop_str(AFK_STOP_CLOSED), "the issue was closed");
	ck_assert_ptr_nonnull(strstr(afk_stop_str(AFK_STOP_HUMAN_LABEL),
	                             "human"));
	ck_assert_ptr_nonnull(strstr(afk_stop_str(AFK_STOP_UNLOCKED),
	                             "label"));
	ck_assert_str_eq(afk_stop_str(99), "unknown reason");
	ck_assert_int_eq(afk_actions_stop_reason(NULL, 0), 0);
	ck_assert_ptr_nonnull(afk_skip_reason_str(AFK_SKIP_STOPPING));
	ck_assert_str_ne(afk_skip_reason_str(AFK_SKIP_STOPPING),
	                 afk_skip_reason_str(99));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("watcher");
	TCase *tc = tcase_create("watch tick");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, kill_switch_on_calls_nothing);
	tcase_add_loop_test(tc, stop_on_each_trigger, BY_CLOSE, BY_UNREADY + 1);
	tcase_add_loop_test(tc, stop_resumes_after_a_failed_step, 0,
	                    sizeof(stop_steps) / sizeof(stop_steps[0]));
	tcase_add_test(tc, stop_without_agent_stop);
	tcase_add_test(tc, poll_skips_a_run_being_stopped);
	tcase_add_test(tc, stop_without_list_closed);
	tcase_add_test(tc, failed_closed_listing_does_not_block);
	tcase_add_test(tc, human_label_from_before_stops_nothing);
	tcase_add_test(tc, unlocked_dispatch_is_not_stopped);
	tcase_add_test(tc, closed_without_record_releases_the_lock);
	tcase_add_test(tc, issue_text_stops_nothing);
	tcase_add_test(tc, stop_names);
	tcase_add_test(tc, log_disarmed_watch_says_so);
	tcase_add_test(tc, log_tells_actions_and_errors);
	tcase_add_test(tc, log_escalation_names_its_reason);
	tcase_add_test(tc, poll_writes_the_first_record);
	tcase_add_test(tc, poll_locks_even_when_the_record_fails);
	tcase_add_test(tc, run_waits_then_closes);
	tcase_add_test(tc, unchanged_wait_writes_nothing);
	tcase_add_test(tc, fix_forward_then_escalate_on_budget);
	tcase_add_test(tc, running_agent_gets_no_fix_forward);
	tcase_add_test(tc, fix_forward_without_head_is_sent_once);
	tcase_add_loop_test(tc, agent_trouble_escalates, 0,
	                    (int)(sizeof(agent_trouble) / sizeof(agent_trouble[0])));
	tcase_add_test(tc, gone_thread_escalates_at_once);
	tcase_add_test(tc, usage_is_recorded_and_shown);
	tcase_add_test(tc, over_budget_escalates_and_stops_the_agent_once);
	tcase_add_test(tc, failed_budget_stop_is_retried_next_tick);
	tcase_add_test(tc, budget_stop_is_not_repeated_after_a_failed_step);
	tcase_add_test(tc, budget_covers_fix_forward_turns);
	tcase_add_test(tc, over_budget_without_agent_stop);
	tcase_add_test(tc, no_budget_never_escalates);
	tcase_add_test(tc, ready_again_after_escalation_runs_afresh);
	tcase_add_test(tc, unended_run_keeps_its_generation);
	tcase_add_test(tc, closed_run_then_ready_again_is_next_generation);
	tcase_add_test(tc, stall_deadline_is_exact);
	tcase_add_test(tc, unreadable_run_with_ancient_clock_escalates);
	tcase_add_test(tc, future_clock_does_not_disable_the_stall_deadline);
	tcase_add_test(tc, unreadable_run_with_future_clock_escalates);
	tcase_add_test(tc, future_ci_clock_does_not_disable_the_ci_deadline);
	tcase_add_test(tc, progress_moves_the_stall_deadline);
	tcase_add_test(tc, activity_moves_the_stall_deadline);
	tcase_add_test(tc, printing_agent_does_not_stall);
	tcase_add_test(tc, future_activity_counts_as_now);
	tcase_add_test(tc, ci_pending_past_deadline);
	tcase_add_test(tc, deploy_stage_closes_on_deploy);
	tcase_add_test(tc, no_record_goes_to_a_human);
	tcase_add_test(tc, escalation_names_the_agents_why);
	tcase_add_loop_test(tc, escalation_resumes_after_a_failed_step, 0,
	                    (int)sizeof(escalate_steps));
	tcase_add_test(tc, fix_forward_resumes_after_failed_turn);
	tcase_add_test(tc, no_record_escalation_resumes_once);
	tcase_add_test(tc, failed_run_reports_no_action);
	tcase_add_test(tc, unreadable_run_escalates_at_the_deadline);
	tcase_add_test(tc, close_resumes_after_failed_close);
	tcase_add_test(tc, adapter_failure_reports_code_and_step);
	tcase_add_test(tc, failing_run_does_not_block_the_rest);
	tcase_add_test(tc, unreachable_agent_asked_once_per_tick);
	tcase_add_test(tc, failed_listing_reported_others_watched);
	tcase_add_test(tc, failed_list_is_an_error_of_no_repo);
	tcase_add_test(tc, only_allowlisted_runs_are_watched);
	tcase_add_test(tc, missing_callback_refused_before_any_call);
	tcase_add_test(tc, null_arguments);
	tcase_add_test(tc, checklist_names_the_run_pr);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(suite());
}
