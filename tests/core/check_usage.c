/*
 * tests/core/check_usage.c - the AFK-USAGE line: what counts, what is
 * refused, and sums that stop at the ceiling.
 */
#include <check.h>
#include <string.h>

#include "afk/common.h"
#include "core/usage.h"
#include "fakes.h"

#define X 0   /* what a refused or foreign line leaves */

static const struct line_case {
	const char *line;
	int rc;                 /* 1 usage, 0 no usage line, AFK_EPARSE */
	long long in, out, cost;
	const char *why;
} lines[] = {
	{"AFK-USAGE: tokens_in=120400 tokens_out=8210 cost_usd=1.42", 1,
	 120400, 8210, 1420000, "all three"},
	{"AFK-USAGE: cost_usd=0.5 tokens_in=7", 1, 7, 0, 500000,
	 "any order, fields optional"},
	{"AFK-USAGE:tokens_out=3", 1, 0, 3, 0, "no blank after the colon"},
	{"AFK-USAGE:   tokens_in=1\t\ttokens_out=2  \r", 1, 1, 2, 0,
	 "blanks and a CR forgiven"},
	{"AFK-USAGE:", 1, 0, 0, 0, "no field: nothing used"},
	{"AFK-USAGE: tokens_in=5 cache_read=900 model=opus-4", 1, 5, 0, 0,
	 "other fields ignored"},
	{"AFK-USAGE: cost_usd=3", 1, 0, 0, 3000000, "whole dollars"},
	{"AFK-USAGE: cost_usd=0.0000004", 1, 0, 0, 0, "below half a millionth"},
	{"AFK-USAGE: cost_usd=0.0000005", 1, 0, 0, 1, "the seventh rounds"},
	{"AFK-USAGE: cost_usd=1.23456789", 1, 0, 0, 1234568, "more decimals"},
	{"AFK-USAGE: tokens_in=1000000000000000", 1, 1000000000000000LL, 0, 0,
	 "at the ceiling"},
	{"AFK-USAGE: cost_usd=1000000000", 1, 0, 0, 1000000000000000LL,
	 "the cost at the ceiling"},
	{"AFK-USAGE: tokens_in=007", 1, 7, 0, 0, "leading zeros"},

	{"AFK-USAGE: tokens_in=1000000000000001", AFK_EPARSE, X, X, X,
	 "past the ceiling"},
	{"AFK-USAGE: tokens_in=99999999999999999999999999", AFK_EPARSE, X, X, X,
	 "overflow"},
	{"AFK-USAGE: cost_usd=1000000000.000001", AFK_EPARSE, X, X, X,
	 "a cost past the ceiling"},
	{"AFK-USAGE: tokens_in=-5", AFK_EPARSE, X, X, X, "negative"},
	{"AFK-USAGE: tokens_in=+5", AFK_EPARSE, X, X, X, "signed"},
	{"AFK-USAGE: cost_usd=-0.5", AFK_EPARSE, X, X, X, "a negative cost"},
	{"AFK-USAGE: tokens_in=1.5", AFK_EPARSE, X, X, X, "a fraction of a token"},
	{"AFK-USAGE: tokens_in=1e3", AFK_EPARSE, X, X, X, "an exponent"},
	{"AFK-USAGE: tokens_in=", AFK_EPARSE, X, X, X, "empty"},
	{"AFK-USAGE: tokens_in=0x10", AFK_EPARSE, X, X, X, "hex"},
	{"AFK-USAGE: cost_usd=.5", AFK_EPARSE, X, X, X, "no whole part"},
	{"AFK-USAGE: cost_usd=1.", AFK_EPARSE, X, X, X, "no fraction after ."},
	{"AFK-USAGE: cost_usd=$1.42", AFK_EPARSE, X, X, X, "a dollar sign"},
	{"AFK-USAGE: cost_usd=1,42", AFK_EPARSE, X, X, X, "a comma"},
	{"AFK-USAGE: tokens_in=5 tokens_in=6", AFK_EPARSE, X, X, X,
	 "a field twice"},
	{"AFK-USAGE: tokens_in=5 lots", AFK_EPARSE, X, X, X, "no name=value"},
	{"AFK-USAGE: =5", AFK_EPARSE, X, X, X, "no name"},
	{"AFK-USAGE: tokens_in=1tokens_out=2", AFK_EPARSE, X, X, X,
	 "fields not parted"},
	{"AFK-USAGE: tokens_in = 5", AFK_EPARSE, X, X, X, "blanks around ="},
	{"AFK-USAGE: tokens_in=5 tokens_out=x", AFK_EPARSE, X, X, X,
	 "one bad field refuses the line"},

	{"afk-usage: tokens_in=5", 0, X, X, X, "the marker is exact"},
	{" AFK-USAGE: tokens_in=5", 0, X, X, X, "at the start of the line"},
	{"AFK-PHASE: green", 0, X, X, X, "another marker"},
	{"AFK-USAGE", 0, X, X, X, "no colon"},
	{"", 0, X, X, X, "empty line"},
};

START_TEST(usage_lines)
{
	const struct line_case *c = &lines[_i];
	afk__usage u;
	int rc;

	memset(&u, 0x55, sizeof(u));
	rc = afk__usage_parse_line(c->line, strlen(c->line), &u);
	ck_assert_msg(rc == c->rc, "%s: rc %d, want %d", c->why, rc, c->rc);
	ck_assert_msg(u.tokens_in == c->in && u.tokens_out == c->out &&
	              u.cost_microusd == c->cost, "%s: %lld %lld %lld", c->why,
	              u.tokens_in, u.tokens_out, u.cost_microusd);
}
END_TEST

/* The length is what counts, not a NUL: a line is read in place. */
START_TEST(usage_line_is_read_to_its_length)
{
	const char *buf = "AFK-USAGE: tokens_in=12345\nAFK-USAGE: x";
	afk__usage u;

	ck_assert_int_eq(afk__usage_parse_line(buf, 24, &u), 1);
	ck_assert(u.tokens_in == 123);
	ck_assert_int_eq(afk__usage_parse_line(buf, 5, &u), 0);
	ck_assert_int_eq(afk__usage_parse_line(NULL, 0, &u), 0);
}
END_TEST

START_TEST(sums_stop_at_the_ceiling)
{
	afk__usage sum = {0, 0, 0}, inc = {5, 6, 7};

	afk__usage_add(&sum, &inc);
	afk__usage_add(&sum, &inc);
	ck_assert(sum.tokens_in == 10 && sum.tokens_out == 12 &&
	          sum.cost_microusd == 14);
	inc.tokens_in = AFK__USAGE_MAX;
	inc.tokens_out = -3;        /* adds nothing */
	inc.cost_microusd = AFK__USAGE_MAX - 14;
	afk__usage_add(&sum, &inc);
	ck_assert(sum.tokens_in == AFK__USAGE_MAX);
	ck_assert(sum.tokens_out == 12);
	ck_assert(sum.cost_microusd == AFK__USAGE_MAX);
	afk__usage_add(&sum, &inc);
	ck_assert(sum.tokens_in == AFK__USAGE_MAX);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("usage");
	TCase *tc = tcase_create("line");

	tcase_add_loop_test(tc, usage_lines, 0,
	                    (int)(sizeof(lines) / sizeof(lines[0])));
	tcase_add_test(tc, usage_line_is_read_to_its_length);
	tcase_add_test(tc, sums_stop_at_the_ceiling);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(suite());
}
