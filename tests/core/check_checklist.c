/*
 * tests/core/check_checklist.c - the run record and its checklist: what is
 * written reads back the same, what a person sees, and what a hostile or
 * damaged comment does.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "afk/run.h"
#include "core/checklist.h"
#include "fakes.h"

static void full(afk__record *r)
{
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(afk__record_set_str(&r->thread, "acme-api-12-1"), 0);
	ck_assert_int_eq(afk__record_set_str(&r->head, "abc"), 0);
	ck_assert_int_eq(afk__record_set_str(&r->answered_head, "abd"), 0);
	ck_assert_int_eq(afk__strv_push(&r->failing, "build"), 0);
	ck_assert_int_eq(afk__strv_push(&r->failing, "lint"), 0);
	ck_assert_int_eq(afk__strv_push(&r->failing_urls, "https://ci/1"), 0);
	ck_assert_int_eq(afk__strv_push(&r->failing_urls, ""), 0);
	r->attempts = 1;
	r->phase = AFK_PHASE_PUSHED;
	r->changed_at = 1700000000LL;
	r->started_at = 1699999000LL;
	r->ci_since = 1700000100LL;
	r->deploy_since = 1700000200LL;
	r->ci = AFK_STATUS_FAILURE;
	r->deploy = AFK_STATUS_PENDING;
	r->turn_pending = 1;
	r->status = AFK__RUN_ESCALATED;
	r->reason = AFK_ESCALATE_CI_FAILED;
	r->notify_pending = 1;
}

START_TEST(record_round_trips)
{
	afk__record a, b;
	char *body, *again;

	full(&a);
	body = afk__checklist_render(&a, "acme/api", 12, 1, 2);
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert_str_eq(b.thread, "acme-api-12-1");
	ck_assert_str_eq(b.head, "abc");
	ck_assert_str_eq(b.answered_head, "abd");
	ck_assert_uint_eq(b.failing.n, 2);
	ck_assert_str_eq(b.failing.v[1], "lint");
	ck_assert_uint_eq(b.failing_urls.n, 2);
	ck_assert_str_eq(b.failing_urls.v[0], "https://ci/1");
	ck_assert_int_eq(b.attempts, 1);
	ck_assert_int_eq(b.phase, AFK_PHASE_PUSHED);
	ck_assert_int_eq(b.changed_at, 1700000000LL);
	ck_assert_int_eq(b.started_at, 1699999000LL);
	ck_assert_int_eq(b.ci_since, 1700000100LL);
	ck_assert_int_eq(b.deploy_since, 1700000200LL);
	ck_assert_int_eq(b.ci, AFK_STATUS_FAILURE);
	ck_assert_int_eq(b.deploy, AFK_STATUS_PENDING);
	ck_assert_int_eq(b.turn_pending, 1);
	ck_assert_int_eq(b.status, AFK__RUN_ESCALATED);
	ck_assert_int_eq(b.reason, AFK_ESCALATE_CI_FAILED);
	ck_assert_int_eq(b.notify_pending, 1);
	/* rendering what was read gives the same text: a WAIT that changed
	 * nothing writes nothing */
	again = afk__checklist_render(&b, "acme/api", 12, 1, 2);
	ck_assert_str_eq(body, again);
	free(body);
	free(again);
	afk__record_clear(&a);
	afk__record_clear(&b);
}
END_TEST

/* A record written before started_at existed still parses (as 0, "no
 * watch tick saw it"), and one with 0 is written without the field, so
 * it reads as it did before. */
START_TEST(started_at_is_optional)
{
	const char *old = "<!-- afk-run:{\"thread\":\"t-1\",\"attempts\":0,"
	                  "\"phase\":1,\"changed_at\":5} -->\n";
	afk__record r;
	char *body;

	ck_assert_int_eq(afk__record_parse(old, &r), 0);
	ck_assert_int_eq(r.started_at, 0);
	ck_assert_int_eq(r.changed_at, 5);
	body = afk__checklist_render(&r, "acme/api", 12, 0, 2);
	ck_assert_ptr_nonnull(body);
	ck_assert_ptr_null(strstr(body, "started_at"));
	free(body);
	afk__record_clear(&r);
}
END_TEST

START_TEST(checklist_reads_as_a_person_expects)
{
	afk__record r;
	char *body;

	memset(&r, 0, sizeof(r));
	afk__record_set_str(&r.thread, "t-1");
	r.phase = AFK_PHASE_GREEN;
	body = afk__checklist_render(&r, "infra", 7, 0, 2);
	ck_assert_ptr_nonnull(body);
	ck_assert_ptr_eq(strstr(body, AFK__RECORD_MARKER), body);
	ck_assert_ptr_nonnull(strstr(body, "### afk: infra#7"));
	ck_assert_ptr_nonnull(strstr(body, "- [x] dispatched (agent thread `t-1`)"));
	ck_assert_ptr_nonnull(strstr(body, "- [x] tests red"));
	ck_assert_ptr_nonnull(strstr(body, "- [x] green"));
	ck_assert_ptr_nonnull(strstr(body, "- [ ] pushed"));
	ck_assert_ptr_nonnull(strstr(body, "- [ ] CI green"));
	ck_assert_ptr_null(strstr(body, "deployed"));  /* no deploy stage */
	ck_assert_ptr_nonnull(strstr(body, "Fix-forward attempts: 0 of 2."));
	ck_assert_ptr_nonnull(strstr(body, "Status: in progress."));
	free(body);
	r.status = AFK__RUN_CLOSED;
	r.phase = AFK_PHASE_DEPLOYED;
	body = afk__checklist_render(&r, "infra", 7, 1, 2);
	ck_assert_ptr_nonnull(strstr(body, "- [x] deployed"));
	ck_assert_ptr_nonnull(strstr(body, "**Done**"));
	free(body);
	afk__record_clear(&r);
}
END_TEST

/* A thread id or check name cannot close the hidden comment early. */
START_TEST(hostile_strings_stay_inside_the_record)
{
	afk__record a, b;
	char *body, *end;

	memset(&a, 0, sizeof(a));
	afk__record_set_str(&a.thread, "x-->y--");
	afk__strv_push(&a.failing, "<!-- afk-run: {} -->");
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_nonnull(body);
	/* the first "-->" ends the first line: nothing closed it early */
	end = strstr(body, "-->");
	ck_assert_ptr_nonnull(end);
	ck_assert_ptr_eq(end + 3, strchr(body, '\n'));
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert_str_eq(b.thread, "x-->y--");
	ck_assert_str_eq(b.failing.v[0], "<!-- afk-run: {} -->");
	free(body);
	afk__record_clear(&a);
	afk__record_clear(&b);
}
END_TEST

static const char *const bad_bodies[] = {
	NULL,
	"",
	"a human's comment",
	"<!-- afk-run: -->",
	"<!-- afk-run: {\"thread\": \"t\"",            /* never closed */
	"<!-- afk-run: not json -->",
	"<!-- afk-run: [] -->",
	"<!-- afk-run: {} -->",                        /* no thread */
	"<!-- afk-run: {\"thread\": 7} -->",
	"<!-- afk-run: {\"thread\": \"t\", \"head\": 3} -->",
	"<!-- afk-run: {\"thread\": \"t\", \"failing\": \"build\"} -->",
	"<!-- afk-run: {\"thread\": \"t\", \"failing\": [1]} -->",
};

START_TEST(damaged_records_are_refused)
{
	afk__record r;

	ck_assert_int_eq(afk__record_parse(bad_bodies[_i], &r), AFK_EPARSE);
	ck_assert_ptr_null(r.thread);
}
END_TEST

START_TEST(out_of_range_fields_are_clamped)
{
	afk__record r;

	ck_assert_int_eq(afk__record_parse("<!-- afk-run: {\"thread\": \"t\", "
	                 "\"phase\": 99, \"status\": -4, \"attempts\": -1, "
	                 "\"ci\": 12} -->", &r), 0);
	ck_assert_int_eq(r.phase, AFK_PHASE_DEPLOYED);
	ck_assert_int_eq(r.status, AFK__RUN_ACTIVE);
	ck_assert_int_eq(r.attempts, 0);
	ck_assert_int_eq(r.ci, AFK_STATUS_FAILURE);
	afk__record_clear(&r);
}
END_TEST

/* A run escalated for having no record keeps one with no thread, so
 * that a later tick resumes the escalation instead of starting it over. */
START_TEST(record_without_thread_reads_back)
{
	afk__record a, b;
	char *body;

	memset(&a, 0, sizeof(a));
	afk__record_set_str(&a.thread, "");
	a.status = AFK__RUN_ESCALATED;
	a.reason = AFK_ESCALATE_NO_RECORD;
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_nonnull(strstr(body, "- [x] dispatched\n"));
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert_str_eq(b.thread, "");
	ck_assert_int_eq(b.status, AFK__RUN_ESCALATED);
	free(body);
	afk__record_clear(&a);
	afk__record_clear(&b);
}
END_TEST

START_TEST(copy_is_deep)
{
	afk__record a, b;

	full(&a);
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(afk__record_copy(&b, &a), 0);
	afk__record_clear(&a);
	ck_assert_str_eq(b.thread, "acme-api-12-1");
	ck_assert_str_eq(b.failing.v[0], "build");
	afk__record_clear(&b);
}
END_TEST

/* Which pull request decides the run: shown, kept, and absent when
 * none is known. */
START_TEST(checklist_names_the_pr)
{
	afk__record a, b;
	char *body;

	memset(&a, 0, sizeof(a));
	afk__record_set_str(&a.thread, "t-1");
	body = afk__checklist_render(&a, "acme/api", 7, 0, 2);
	ck_assert_ptr_null(strstr(body, "Pull request"));
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert_ptr_null(b.pr);
	afk__record_clear(&b);
	free(body);
	afk__record_set_str(&a.pr, "#42 (afk-bot, branch afk/issue-7)");
	body = afk__checklist_render(&a, "acme/api", 7, 0, 2);
	ck_assert_ptr_nonnull(strstr(body, "\nPull request: #42 (afk-bot, "
	                             "branch afk/issue-7).\n"));
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert_str_eq(b.pr, "#42 (afk-bot, branch afk/issue-7)");
	afk__record_clear(&b);
	ck_assert_int_eq(afk__record_copy(&b, &a), 0);
	ck_assert_str_eq(b.pr, a.pr);
	ck_assert_ptr_ne(b.pr, a.pr);
	afk__record_clear(&b);
	free(body);
	afk__record_clear(&a);
}
END_TEST

/* Which run of the issue a record is: absent (every record from before
 * generations) is the first, and a first run's record reads as it did
 * then; a later one keeps its number and says it to a person. */
START_TEST(generation_reads_back)
{
	afk__record a, b;
	char *body;

	ck_assert_int_eq(afk__record_parse("<!-- afk-run: {\"thread\":\"t\"} -->",
	                                   &b), 0);
	ck_assert_int_eq(b.generation, 1);
	afk__record_clear(&b);
	ck_assert_int_eq(afk__record_parse("<!-- afk-run: {\"thread\":\"t\","
	                                   "\"generation\":0} -->", &b), 0);
	ck_assert_int_eq(b.generation, 1);
	afk__record_clear(&b);
	ck_assert_int_eq(afk__record_parse("<!-- afk-run: {\"thread\":\"t\","
	                                   "\"generation\":99999999999} -->",
	                                   &b), 0);
	ck_assert_int_eq(b.generation, AFK__GENERATION_MAX);
	afk__record_clear(&b);

	memset(&a, 0, sizeof(a));
	afk__record_set_str(&a.thread, "t");
	a.generation = 1;
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_null(strstr(body, "generation"));
	ck_assert_ptr_nonnull(strstr(body, "### afk: r#1\n"));
	free(body);
	a.generation = 3;
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_nonnull(strstr(body, "\"generation\":3"));
	ck_assert_ptr_nonnull(strstr(body, "### afk: r#1 (run 3)\n"));
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert_int_eq(b.generation, 3);
	free(body);
	afk__record_clear(&a);
	afk__record_clear(&b);
}
END_TEST

START_TEST(escalations_have_names)
{
	int r;

	for (r = AFK_ESCALATE_AGENT_FAILED; r <= AFK_ESCALATE_BUDGET; r++)
		ck_assert_str_ne(afk__escalation_str(r), "unknown reason");
	ck_assert_str_eq(afk__escalation_str(0), "unknown reason");
}
END_TEST

/* --- usage ------------------------------------------------------------ */

/* Usage only grows; -1 (unknown) and a smaller report change nothing. */
START_TEST(usage_is_monotone)
{
	afk__record r;

	memset(&r, 0, sizeof(r));
	afk__record_usage(&r, -1, -1, -1);
	ck_assert(r.tokens_in == 0 && r.tokens_out == 0 &&
	          r.cost_microusd == 0);
	afk__record_usage(&r, 100, 20, 5000);
	ck_assert(r.tokens_in == 100 && r.tokens_out == 20 &&
	          r.cost_microusd == 5000);
	afk__record_usage(&r, 90, -1, 7000);
	ck_assert(r.tokens_in == 100 && r.tokens_out == 20 &&
	          r.cost_microusd == 7000);
	afk__record_usage(&r, AFK__USAGE_MAX * 2, 0, -5);
	ck_assert(r.tokens_in == AFK__USAGE_MAX && r.tokens_out == 20 &&
	          r.cost_microusd == 7000);
}
END_TEST

START_TEST(usage_round_trips)
{
	afk__record a, b;
	char *body, *again;

	memset(&a, 0, sizeof(a));
	afk__record_set_str(&a.thread, "t-1");
	a.tokens_in = 120400;
	a.tokens_out = 8210;
	a.cost_microusd = 1420000;
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert(b.tokens_in == 120400 && b.tokens_out == 8210 &&
	          b.cost_microusd == 1420000);
	again = afk__checklist_render(&b, "r", 1, 0, 2);
	ck_assert_str_eq(body, again);
	ck_assert_ptr_nonnull(strstr(body, "\"tokens_in\":120400"));
	ck_assert_ptr_nonnull(strstr(body, "\"cost_microusd\":1420000"));
	free(body);
	free(again);
	/* none reported: no field, no line */
	a.tokens_in = a.tokens_out = a.cost_microusd = 0;
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_null(strstr(body, "tokens_in"));
	ck_assert_ptr_null(strstr(body, "Usage:"));
	free(body);
	afk__record_clear(&a);
	afk__record_clear(&b);
}
END_TEST

/* Edited by hand: negative, too large or of the wrong type is clamped. */
START_TEST(usage_garbage_is_clamped)
{
	const char *body = "<!-- afk-run:{\"thread\":\"t\",\"tokens_in\":-5,"
	                   "\"tokens_out\":99999999999999999,"
	                   "\"cost_microusd\":\"lots\"} -->\n";
	afk__record r;

	ck_assert_int_eq(afk__record_parse(body, &r), 0);
	ck_assert(r.tokens_in == 0);
	ck_assert(r.tokens_out == AFK__USAGE_MAX);
	ck_assert(r.cost_microusd == 0);
	afk__record_clear(&r);
}
END_TEST

static const struct usage_line_case {
	long long in, out, cost, cap_tokens, cap_cost;
	const char *line;   /* NULL: no usage line */
} usage_lines[] = {
	{120400, 8210, 1420000, 0, 0,
	 "Usage: 120,400 tokens in, 8,210 out, $1.42.\n"},
	{120400, 0, 0, 0, 0, "Usage: 120,400 tokens in.\n"},
	{0, 8210, 0, 0, 0, "Usage: 8,210 tokens out.\n"},
	{0, 0, 1234567890, 0, 0, "Usage: $1,234.57.\n"},
	{0, 0, 4000, 0, 0, "Usage: <$0.01.\n"},
	{5, 0, 1995000, 0, 0, "Usage: 5 tokens in, $2.00.\n"},
	{0, 0, 0, 2000000, 5000000,
	 "Usage: none reported; budget: 2,000,000 tokens, $5.00.\n"},
	{1000, 1000, 0, 0, 250001,
	 "Usage: 1,000 tokens in, 1,000 out; budget: $0.250001.\n"},
	{1000, 0, 1000000, 999, 0,
	 "Usage: 1,000 tokens in, $1.00; budget: 999 tokens.\n"},
	{0, 0, 0, 0, 0, NULL},
};

START_TEST(usage_line_shows_what_is_known)
{
	const struct usage_line_case *u = &usage_lines[_i];
	afk__usage_cap cap;
	afk__record r;
	char *body;

	memset(&r, 0, sizeof(r));
	afk__record_set_str(&r.thread, "t-1");
	r.tokens_in = u->in;
	r.tokens_out = u->out;
	r.cost_microusd = u->cost;
	cap.tokens = u->cap_tokens;
	cap.cost_microusd = u->cap_cost;
	body = afk__checklist_render_capped(&r, "r", 1, 0, 2, &cap);
	ck_assert_ptr_nonnull(body);
	if (u->line == NULL)
		ck_assert_ptr_null(strstr(body, "Usage:"));
	else
		ck_assert_msg(strstr(body, u->line) != NULL, "want %s in:\n%s",
		              u->line, body);
	free(body);
	afk__record_clear(&r);
}
END_TEST

/* An escalation for the budget keeps how the agent's stop went. */
START_TEST(budget_escalation_keeps_the_stop)
{
	afk__record a, b;
	char *body;

	memset(&a, 0, sizeof(a));
	afk__record_set_str(&a.thread, "t-1");
	a.status = AFK__RUN_ESCALATED;
	a.reason = AFK_ESCALATE_BUDGET;
	a.agent_stop = AFK__AGENT_STOP_DONE;
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_nonnull(strstr(body, "**Needs a human**: over its cost "
	                             "budget; the agent was stopped."));
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert_int_eq(b.agent_stop, AFK__AGENT_STOP_DONE);
	ck_assert_int_eq(b.reason, AFK_ESCALATE_BUDGET);
	free(body);
	afk__record_clear(&b);
	a.agent_stop = AFK__AGENT_STOP_PENDING;
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_nonnull(strstr(body, "budget; stopping the agent."));
	free(body);
	/* another reason says nothing of a stop */
	a.reason = AFK_ESCALATE_STALLED;
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_null(strstr(body, "agent_stop"));
	ck_assert_ptr_null(strstr(body, "stopping"));
	free(body);
	afk__record_clear(&a);
}
END_TEST

/* The agent's word on an escalation reads back, is rendered in a code
 * span it cannot leave, and one edited by hand into something long, on
 * many lines or with backquotes is made fit when read. */
START_TEST(why_round_trips_and_is_made_fit)
{
	afk__record a, b;
	char *body, *edited, big[600];

	memset(&a, 0, sizeof(a));
	afk__record_set_str(&a.thread, "t-1");
	a.status = AFK__RUN_ESCALATED;
	a.reason = AFK_ESCALATE_AGENT_FAILED;
	ck_assert_int_eq(afk__record_why(&a, "Job t-1 failed:\nOOMKilled `rm`"),
	                 0);
	ck_assert_str_eq(a.why, "Job t-1 failed: OOMKilled 'rm'");
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_nonnull(strstr(body, "**Needs a human**: the agent "
	                             "failed (`Job t-1 failed: OOMKilled "
	                             "'rm'`)."));
	ck_assert_int_eq(afk__record_parse(body, &b), 0);
	ck_assert_str_eq(b.why, a.why);
	afk__record_clear(&b);
	/* a hand-edited one */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '`';
	edited = afk__aprintf("<!-- afk-run: {\"thread\": \"t-1\", "
	                      "\"status\": %d, \"reason\": 1, \"why\": "
	                      "\"%s\\nz\"} -->\n", AFK__RUN_ESCALATED, big);
	ck_assert_int_eq(afk__record_parse(edited, &b), 0);
	ck_assert_ptr_nonnull(b.why);
	ck_assert_uint_lt(strlen(b.why), AFK__WHY_MAX);
	ck_assert_ptr_null(strchr(b.why, '`'));
	ck_assert_ptr_null(strchr(b.why, '\n'));
	afk__record_clear(&b);
	free(edited);
	/* cleared, it is not written */
	ck_assert_int_eq(afk__record_why(&a, ""), 0);
	free(body);
	body = afk__checklist_render(&a, "r", 1, 0, 2);
	ck_assert_ptr_null(strstr(body, "\"why\""));
	ck_assert_ptr_nonnull(strstr(body, "the agent failed."));
	free(body);
	afk__record_clear(&a);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("checklist");
	TCase *tc = tcase_create("record");

	tcase_add_test(tc, record_round_trips);
	tcase_add_test(tc, why_round_trips_and_is_made_fit);
	tcase_add_test(tc, started_at_is_optional);
	tcase_add_test(tc, checklist_reads_as_a_person_expects);
	tcase_add_test(tc, hostile_strings_stay_inside_the_record);
	tcase_add_loop_test(tc, damaged_records_are_refused, 0,
	                    (int)(sizeof(bad_bodies) / sizeof(bad_bodies[0])));
	tcase_add_test(tc, out_of_range_fields_are_clamped);
	tcase_add_test(tc, record_without_thread_reads_back);
	tcase_add_test(tc, copy_is_deep);
	tcase_add_test(tc, escalations_have_names);
	tcase_add_test(tc, generation_reads_back);
	tcase_add_test(tc, checklist_names_the_pr);
	tcase_add_test(tc, usage_is_monotone);
	tcase_add_test(tc, usage_round_trips);
	tcase_add_test(tc, usage_garbage_is_clamped);
	tcase_add_loop_test(tc, usage_line_shows_what_is_known, 0,
	                    (int)(sizeof(usage_lines) / sizeof(usage_lines[0])));
	tcase_add_test(tc, budget_escalation_keeps_the_stop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(suite());
}
