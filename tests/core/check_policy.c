/*
 * tests/core/check_policy.c - dispatch selection as tables: every gate alone
 * and in combination, ranking, ordering.  Pure: no adapters.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afk/poller.h"
#include "core/issue.h"
#include "core/policy.h"
#include "fakes.h"

#define IP "agent-in-progress"

typedef struct spec {
	const char *repo;
	long number;
	int priority;
	int trusted;
	int blocked;
	int in_progress;
} spec;

/* Selects over specs with allowlist and returns the selection. */
static void select_over(afk__iset *set, afk__selection *sel,
                        const spec *specs, size_t n,
                        const char *const *allow, size_t nallow)
{
	size_t i;

	memset(set, 0, sizeof(*set));
	for (i = 0; i < n; i++) {
		afk_issue *is;

		ck_assert_int_eq(afk_issue_new(&is, specs[i].repo,
		                               specs[i].number), 0);
		afk_issue_add_label(is, "ready-for-agent");
		if (specs[i].in_progress)
			afk_issue_add_label(is, IP);
		afk_issue_set_priority(is, specs[i].priority);
		afk_issue_set_trusted(is, specs[i].trusted);
		if (specs[i].blocked)
			afk_issue_add_blocker(is, 1000);
		ck_assert_int_eq(afk__iset_add(set, is), 0);
		afk_issue_free(is);
	}
	ck_assert_int_eq(afk__selection_run(sel, set, allow, nallow, IP), 0);
}

/* Every combination of the four gates for a lone issue, with the reason
 * written out (0 = picked).  Precedence: allowlist, in progress, trust,
 * blocker. */
static const struct {
	int allowed, in_progress, trusted, blocked, reason;
} lone[] = {
	{0, 0, 0, 0, AFK_SKIP_NOT_ALLOWLISTED},
	{0, 0, 0, 1, AFK_SKIP_NOT_ALLOWLISTED},
	{0, 0, 1, 0, AFK_SKIP_NOT_ALLOWLISTED},
	{0, 0, 1, 1, AFK_SKIP_NOT_ALLOWLISTED},
	{0, 1, 0, 0, AFK_SKIP_NOT_ALLOWLISTED},
	{0, 1, 0, 1, AFK_SKIP_NOT_ALLOWLISTED},
	{0, 1, 1, 0, AFK_SKIP_NOT_ALLOWLISTED},
	{0, 1, 1, 1, AFK_SKIP_NOT_ALLOWLISTED},
	{1, 0, 0, 0, AFK_SKIP_UNTRUSTED},
	{1, 0, 0, 1, AFK_SKIP_UNTRUSTED},
	{1, 0, 1, 0, 0},
	{1, 0, 1, 1, AFK_SKIP_BLOCKED},
	{1, 1, 0, 0, AFK_SKIP_IN_PROGRESS},
	{1, 1, 0, 1, AFK_SKIP_IN_PROGRESS},
	{1, 1, 1, 0, AFK_SKIP_IN_PROGRESS},
	{1, 1, 1, 1, AFK_SKIP_IN_PROGRESS},
};

START_TEST(lone_issue_every_gate_combination)
{
	const char *allow[] = {"r"};
	spec s = {lone[_i].allowed ? "r" : "x", 5, 0, lone[_i].trusted,
	          lone[_i].blocked, lone[_i].in_progress};
	afk__iset set;
	afk__selection sel;

	select_over(&set, &sel, &s, 1, allow, 1);
	ck_assert_int_eq(sel.out.reason[0], lone[_i].reason);
	ck_assert_uint_eq(sel.out.npicks, lone[_i].reason == 0 ? 1 : 0);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

/* A second issue in a repository whose first issue holds the lock, for
 * every combination of the second's own gates. */
static const struct {
	int trusted, blocked, reason;
} behind_lock[] = {
	{0, 0, AFK_SKIP_UNTRUSTED},
	{0, 1, AFK_SKIP_UNTRUSTED},
	{1, 0, AFK_SKIP_LOCKED},
	{1, 1, AFK_SKIP_BLOCKED},
};

START_TEST(issue_behind_a_lock)
{
	const char *allow[] = {"r"};
	/* The lock holder comes last: the lock must still win. */
	spec s[] = {
		{"r", 2, 99, behind_lock[_i].trusted, behind_lock[_i].blocked, 0},
		{"r", 1, 0, 1, 0, 1},
	};
	afk__iset set;
	afk__selection sel;

	select_over(&set, &sel, s, 2, allow, 1);
	ck_assert_int_eq(sel.out.reason[0], behind_lock[_i].reason);
	ck_assert_int_eq(sel.out.reason[1], AFK_SKIP_IN_PROGRESS);
	ck_assert_uint_eq(sel.out.npicks, 0);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

/* Two candidates of one repository: which one wins. */
static const struct {
	int prio_a;
	long num_a;
	int prio_b;
	long num_b;
	int winner; /* 0: a, 1: b */
} rank[] = {
	{1, 10, 2, 20, 1},   /* higher priority wins */
	{2, 10, 1, 20, 0},
	{5, 30, 5, 20, 1},   /* tie: lower number */
	{5, 20, 5, 30, 0},
	{-1, 1, 0, 2, 1},    /* negative priorities rank below zero */
	{0, 7, 0, 7, 0},     /* listed twice: the first stays, once */
};

START_TEST(ranking_within_a_repo)
{
	const char *allow[] = {"r"};
	spec s[] = {
		{"r", rank[_i].num_a, rank[_i].prio_a, 1, 0, 0},
		{"r", rank[_i].num_b, rank[_i].prio_b, 1, 0, 0},
	};
	afk__iset set;
	afk__selection sel;
	int w = rank[_i].winner;

	select_over(&set, &sel, s, 2, allow, 1);
	ck_assert_uint_eq(sel.out.npicks, 1);
	ck_assert_uint_eq(sel.out.picks[0], (size_t)w);
	ck_assert_int_eq(sel.out.reason[w], 0);
	ck_assert_int_eq(sel.out.reason[1 - w], AFK_SKIP_OUTRANKED);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

START_TEST(many_candidates_one_winner)
{
	const char *allow[] = {"r"};
	spec s[] = {
		{"r", 4, 1, 1, 0, 0}, {"r", 3, 7, 1, 0, 0}, {"r", 9, 7, 1, 0, 0},
		{"r", 1, 2, 1, 0, 0}, {"r", 2, 7, 1, 0, 0}, {"r", 8, 0, 1, 0, 0},
	};
	afk__iset set;
	afk__selection sel;
	size_t i;

	select_over(&set, &sel, s, 6, allow, 1);
	ck_assert_uint_eq(sel.out.npicks, 1);
	ck_assert_uint_eq(sel.out.picks[0], 4); /* #2, priority 7 */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(sel.out.reason[i], i == 4 ? 0 : AFK_SKIP_OUTRANKED);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

START_TEST(picks_in_allowlist_order)
{
	const char *allow[] = {"c", "missing", "a", "b"};
	spec s[] = {
		{"a", 1, 0, 1, 0, 0}, {"b", 2, 0, 1, 0, 0}, {"c", 3, 0, 1, 0, 0},
		{"d", 4, 0, 1, 0, 0},
	};
	afk__iset set;
	afk__selection sel;

	select_over(&set, &sel, s, 4, allow, 4);
	ck_assert_uint_eq(sel.out.npicks, 3);
	ck_assert_uint_eq(sel.out.picks[0], 2);
	ck_assert_uint_eq(sel.out.picks[1], 0);
	ck_assert_uint_eq(sel.out.picks[2], 1);
	ck_assert_int_eq(sel.out.reason[3], AFK_SKIP_NOT_ALLOWLISTED);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

START_TEST(repo_listed_twice_is_picked_once)
{
	/* The config refuses duplicates; the core must not rely on it. */
	const char *allow[] = {"a", "a"};
	spec s[] = {{"a", 1, 0, 1, 0, 0}};
	afk__iset set;
	afk__selection sel;

	select_over(&set, &sel, s, 1, allow, 2);
	ck_assert_uint_eq(sel.out.npicks, 1);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

START_TEST(locks_are_per_repo)
{
	const char *allow[] = {"a", "b", "c"};
	spec s[] = {
		{"a", 1, 0, 1, 0, 1}, {"a", 2, 0, 1, 0, 0},
		{"b", 3, 0, 1, 0, 0},
		{"c", 4, 0, 1, 0, 0}, {"c", 5, 0, 0, 0, 1}, /* untrusted still locks */
	};
	afk__iset set;
	afk__selection sel;

	select_over(&set, &sel, s, 5, allow, 3);
	ck_assert_uint_eq(sel.out.npicks, 1);
	ck_assert_uint_eq(sel.out.picks[0], 2);
	ck_assert_int_eq(sel.out.reason[1], AFK_SKIP_LOCKED);
	ck_assert_int_eq(sel.out.reason[3], AFK_SKIP_LOCKED);
	ck_assert_int_eq(sel.out.reason[4], AFK_SKIP_IN_PROGRESS);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

START_TEST(empty_inputs)
{
	const char *allow[] = {"a"};
	afk__iset set;
	afk__selection sel;

	select_over(&set, &sel, NULL, 0, allow, 1);
	ck_assert_uint_eq(sel.out.npicks, 0);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
	select_over(&set, &sel, (spec[]){{"a", 1, 0, 1, 0, 0}}, 1, NULL, 0);
	ck_assert_uint_eq(sel.out.npicks, 0);
	ck_assert_int_eq(sel.out.reason[0], AFK_SKIP_NOT_ALLOWLISTED);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

/* Many repositories and issues: one pick per unlocked repository, each
 * the best of its repository; checked against a plain recomputation. */
START_TEST(one_pick_per_repo_at_scale)
{
	enum { NREPO = 50, NISSUE = 2000 };
	static char names[NREPO][16];
	const char *allow[NREPO];
	static spec s[NISSUE];
	afk__iset set;
	afk__selection sel;
	size_t i, k, npicks = 0;
	unsigned x = 12345;

	for (i = 0; i < NREPO; i++) {
		snprintf(names[i], sizeof(names[i]), "org/r%zu", i);
		allow[i] = names[i];
	}
	for (i = 0; i < NISSUE; i++) {
		x = x * 1103515245u + 12345u;
		s[i].repo = names[(x >> 8) % NREPO];
		s[i].number = (long)i + 1;
		s[i].priority = (int)((x >> 16) % 5);
		s[i].trusted = (x >> 20) % 7 != 0;
		s[i].blocked = (x >> 24) % 11 == 0;
		s[i].in_progress = (x >> 4) % 97 == 0;
	}
	select_over(&set, &sel, s, NISSUE, allow, NREPO);
	for (k = 0; k < NREPO; k++) {
		long best = -1;
		int locked = 0;

		for (i = 0; i < NISSUE; i++) {
			if (strcmp(s[i].repo, names[k]) != 0)
				continue;
			if (s[i].in_progress)
				locked = 1;
			else if (s[i].trusted && !s[i].blocked &&
			         (best < 0 || s[i].priority > s[best].priority ||
			          (s[i].priority == s[best].priority &&
			           s[i].number < s[best].number)))
				best = (long)i;
		}
		if (locked || best < 0) {
			for (i = 0; i < sel.out.npicks; i++)
				ck_assert_str_ne(s[sel.out.picks[i]].repo, names[k]);
		} else {
			ck_assert_int_eq(sel.out.reason[best], 0);
			ck_assert_uint_lt(npicks, sel.out.npicks);
			/* allowlist order: the next pick is this repository's */
			ck_assert_uint_eq(sel.out.picks[npicks++], (size_t)best);
		}
	}
	ck_assert_uint_eq(sel.out.npicks, npicks);
	ck_assert_uint_gt(npicks, NREPO / 2);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

/* Unchecked trust (AFK_TRUST_UNCHECKED): never picked; the reason is
 * the one that holds without the gates, else untrusted.  Each row: the
 * unchecked issue (number 5, priority 1) beside another issue of the
 * repository with these gates; -1 in other_trusted: no other issue. */
static const struct {
	int other_trusted, other_blocked, other_in_progress;
	int other_priority;
	int reason, other_reason;
} unchecked[] = {
	/* alone: nothing vouches for it */
	{-1, 0, 0, 0, AFK_SKIP_UNTRUSTED, 0},
	/* the repository is locked */
	{1, 0, 1, 0, AFK_SKIP_LOCKED, AFK_SKIP_IN_PROGRESS},
	{0, 1, 1, 9, AFK_SKIP_LOCKED, AFK_SKIP_IN_PROGRESS},
	/* a better issue passed: outranked (also on a tie of priority,
	 * since the other has the lower number) */
	{1, 0, 0, 2, AFK_SKIP_OUTRANKED, 0},
	{1, 0, 0, 1, AFK_SKIP_OUTRANKED, 0},
	/* the pick ranks below it: the tracker broke its word - fail
	 * closed, the other is still picked */
	{1, 0, 0, 0, AFK_SKIP_UNTRUSTED, 0},
	/* the better issue failed its gates: nothing outranks it */
	{0, 0, 0, 2, AFK_SKIP_UNTRUSTED, AFK_SKIP_UNTRUSTED},
	{1, 1, 0, 2, AFK_SKIP_UNTRUSTED, AFK_SKIP_BLOCKED},
};

START_TEST(unchecked_trust_is_never_picked)
{
	const char *allow[] = {"r"};
	spec s[] = {
		{"r", 5, 1, AFK_TRUST_UNCHECKED, 0, 0},
		{"r", 3, unchecked[_i].other_priority, unchecked[_i].other_trusted,
		 unchecked[_i].other_blocked, unchecked[_i].other_in_progress},
	};
	size_t n = unchecked[_i].other_trusted < 0 ? 1 : 2;
	afk__iset set;
	afk__selection sel;
	afk_issue *is;

	select_over(&set, &sel, s, n, allow, 1);
	ck_assert_int_eq(sel.out.reason[0], unchecked[_i].reason);
	if (n == 2)
		ck_assert_int_eq(sel.out.reason[1], unchecked[_i].other_reason);
	ck_assert_uint_eq(sel.out.npicks,
	                  n == 2 && unchecked[_i].other_reason == 0);
	if (sel.out.npicks == 1)
		ck_assert_uint_eq(sel.out.picks[0], 1);
	/* The set gives the value back as it was set. */
	ck_assert_int_eq(afk__iset_issue(&set, 0, &is), 0);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	afk_issue_free(is);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

/* What the listing could not read, passed as data: a failed repository
 * has nothing picked (whatever was listed of it, an in-progress issue
 * included: the listing is partial), an unallowlisted one stays that;
 * an unvetted issue is never picked, skipped as UNVETTED unless a
 * stronger reason holds, even when the tracker called it trusted. */
START_TEST(partial_listing_as_data)
{
	const char *allow[] = {"a", "b", "c"};
	spec sp[] = {
		{"a", 1, 9, 1, 0, 0},   /* failed repo */
		{"a", 2, 0, 1, 0, 1},   /* failed repo, in progress */
		{"b", 3, 5, 1, 0, 0},   /* unvetted, claimed trusted */
		{"b", 4, 0, 1, 0, 0},   /* picked in b */
		{"c", 5, 0, AFK_TRUST_UNCHECKED, 0, 0}, /* unvetted, alone */
		{"x", 6, 0, 1, 0, 0},   /* not allowlisted, failed too */
	};
	uint8_t unvetted[6] = {0, 0, 1, 0, 1, 0};
	uint8_t *failed;
	afk__iset set;
	afk__selection sel;
	size_t i;

	memset(&set, 0, sizeof(set));
	for (i = 0; i < 6; i++) {
		afk_issue *is;

		ck_assert_int_eq(afk_issue_new(&is, sp[i].repo, sp[i].number), 0);
		afk_issue_add_label(is, "ready-for-agent");
		if (sp[i].in_progress)
			afk_issue_add_label(is, IP);
		afk_issue_set_priority(is, sp[i].priority);
		afk_issue_set_trusted(is, sp[i].trusted);
		ck_assert_int_eq(afk__iset_add(&set, is), 0);
		afk_issue_free(is);
	}
	failed = calloc(set.repos.n, 1);
	ck_assert_ptr_nonnull(failed);
	failed[afk__strtab_find(&set.repos, "a")] = 1;
	failed[afk__strtab_find(&set.repos, "x")] = 1;
	ck_assert_int_eq(afk__selection_run_partial(&sel, &set, allow, 3, IP,
	                                            failed, unvetted, 0), 0);
	ck_assert_int_eq(sel.out.reason[0], AFK_SKIP_REPO_FAILED);
	ck_assert_int_eq(sel.out.reason[1], AFK_SKIP_REPO_FAILED);
	ck_assert_int_eq(sel.out.reason[2], AFK_SKIP_UNVETTED);
	ck_assert_int_eq(sel.out.reason[3], 0);
	ck_assert_int_eq(sel.out.reason[4], AFK_SKIP_UNVETTED);
	ck_assert_int_eq(sel.out.reason[5], AFK_SKIP_NOT_ALLOWLISTED);
	ck_assert_uint_eq(sel.out.npicks, 1);
	ck_assert_uint_eq(sel.out.picks[0], 3);
	afk__selection_clear(&sel);
	/* Without the data, b#3 wins in b (a is locked by a#2). */
	ck_assert_int_eq(afk__selection_run(&sel, &set, allow, 3, IP), 0);
	ck_assert_uint_eq(sel.out.npicks, 1);
	ck_assert_uint_eq(sel.out.picks[0], 2);
	afk__selection_clear(&sel);
	free(failed);
	afk__iset_clear(&set);
}
END_TEST

/* The global cap over four repositories: a, b and c each have one ready
 * issue; d has a run in flight (d#1, in progress) and a ready issue that
 * its lock holds back; x, not allowlisted, has a run that does not count.
 * So one run is in flight, and a cap of max allows max - 1 picks, the
 * first in allowlist order; the rest are CAPPED. */
static const struct {
	size_t max;      /* max_in_flight; 0: no cap */
	size_t npicks;
	int reason[3];   /* of a#1, b#1, c#1 */
} caps[] = {
	{0, 3, {0, 0, 0}},
	{1, 0, {AFK_SKIP_CAPPED, AFK_SKIP_CAPPED, AFK_SKIP_CAPPED}},
	{2, 1, {0, AFK_SKIP_CAPPED, AFK_SKIP_CAPPED}},
	{3, 2, {0, 0, AFK_SKIP_CAPPED}},
	{4, 3, {0, 0, 0}},
	{100, 3, {0, 0, 0}},
};

START_TEST(global_cap)
{
	static const spec sp[] = {
		{"c", 1, 0, 1, 0, 0}, {"a", 1, 0, 1, 0, 0},
		{"b", 1, 0, 1, 0, 0}, {"d", 1, 0, 1, 0, 1},
		{"d", 2, 0, 1, 0, 0}, {"x", 1, 0, 1, 0, 1},
		{"x", 2, 0, 1, 0, 1},
	};
	static const char *const allow[] = {"a", "b", "c", "d"};
	afk__iset set;
	afk__selection sel;
	size_t k;

	select_over(&set, &sel, sp, 7, allow, 4);
	afk__selection_clear(&sel);
	ck_assert_int_eq(afk__selection_run_partial(&sel, &set, allow, 4, IP,
	                                            NULL, NULL, caps[_i].max),
	                 0);
	ck_assert_uint_eq(sel.out.npicks, caps[_i].npicks);
	ck_assert_int_eq(sel.out.reason[1], caps[_i].reason[0]);  /* a#1 */
	ck_assert_int_eq(sel.out.reason[2], caps[_i].reason[1]);  /* b#1 */
	ck_assert_int_eq(sel.out.reason[0], caps[_i].reason[2]);  /* c#1 */
	ck_assert_int_eq(sel.out.reason[3], AFK_SKIP_IN_PROGRESS);
	ck_assert_int_eq(sel.out.reason[4], AFK_SKIP_LOCKED);
	ck_assert_int_eq(sel.out.reason[5], AFK_SKIP_NOT_ALLOWLISTED);
	/* the picks that stay are the first, in allowlist order */
	for (k = 0; k < sel.out.npicks; k++)
		ck_assert_uint_eq(sel.out.picks[k], k == 0 ? 1 : k == 1 ? 2 : 0);
	afk__selection_clear(&sel);
	afk__iset_clear(&set);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("select");

	tcase_add_loop_test(tc, lone_issue_every_gate_combination, 0,
	                    (int)(sizeof(lone) / sizeof(lone[0])));
	tcase_add_loop_test(tc, issue_behind_a_lock, 0,
	                    (int)(sizeof(behind_lock) / sizeof(behind_lock[0])));
	tcase_add_loop_test(tc, ranking_within_a_repo, 0,
	                    (int)(sizeof(rank) / sizeof(rank[0])));
	tcase_add_loop_test(tc, unchecked_trust_is_never_picked, 0,
	                    (int)(sizeof(unchecked) / sizeof(unchecked[0])));
	tcase_add_test(tc, many_candidates_one_winner);
	tcase_add_test(tc, picks_in_allowlist_order);
	tcase_add_test(tc, repo_listed_twice_is_picked_once);
	tcase_add_test(tc, locks_are_per_repo);
	tcase_add_test(tc, empty_inputs);
	tcase_add_test(tc, one_pick_per_repo_at_scale);
	tcase_add_test(tc, partial_listing_as_data);
	tcase_add_loop_test(tc, global_cap, 0,
	                    (int)(sizeof(caps) / sizeof(caps[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(suite());
}
