/*
 * tests/core/check_issue.c - the afk_issue handle, interning and the issue set.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core/issue.h"
#include "fakes.h"

START_TEST(new_has_documented_defaults)
{
	afk_issue *is;

	ck_assert_int_eq(afk_issue_new(&is, "acme/api", 12), 0);
	ck_assert_str_eq(afk_issue_repo(is), "acme/api");
	ck_assert_int_eq(afk_issue_number(is), 12);
	ck_assert_str_eq(afk_issue_title(is), "");
	ck_assert_uint_eq(afk_issue_label_count(is), 0);
	ck_assert_int_eq(afk_issue_priority(is), 0);
	ck_assert_int_eq(afk_issue_trusted(is), 0);
	ck_assert_uint_eq(afk_issue_blocker_count(is), 0);
	afk_issue_free(is);
}
END_TEST

START_TEST(new_refuses_bad_arguments)
{
	afk_issue *is = NULL;

	ck_assert_int_eq(afk_issue_new(NULL, "r", 1), AFK_EINVAL);
	ck_assert_int_eq(afk_issue_new(&is, NULL, 1), AFK_EINVAL);
	ck_assert_int_eq(afk_issue_new(&is, "", 1), AFK_EINVAL);
	ck_assert_int_eq(afk_issue_new(&is, "r", 0), AFK_EINVAL);
	ck_assert_int_eq(afk_issue_new(&is, "r", -3), AFK_EINVAL);
	ck_assert_ptr_null(is);
}
END_TEST

START_TEST(setters_and_getters)
{
	afk_issue *is;

	ck_assert_int_eq(afk_issue_new(&is, "infra", 3), 0);
	ck_assert_int_eq(afk_issue_set_title(is, "Fix the build"), 0);
	ck_assert_int_eq(afk_issue_add_label(is, "ready-for-agent"), 0);
	ck_assert_int_eq(afk_issue_add_label(is, "bug"), 0);
	ck_assert_int_eq(afk_issue_add_label(is, "bug"), 0); /* no-op */
	ck_assert_int_eq(afk_issue_set_priority(is, -4), 0);
	ck_assert_int_eq(afk_issue_set_trusted(is, 42), 0);
	ck_assert_int_eq(afk_issue_add_blocker(is, 7), 0);
	ck_assert_int_eq(afk_issue_add_blocker(is, 0), AFK_EINVAL);
	ck_assert_int_eq(afk_issue_add_label(is, ""), AFK_EINVAL);
	ck_assert_int_eq(afk_issue_set_title(is, NULL), AFK_EINVAL);

	ck_assert_str_eq(afk_issue_title(is), "Fix the build");
	ck_assert_uint_eq(afk_issue_label_count(is), 2);
	ck_assert_str_eq(afk_issue_label(is, 0), "ready-for-agent");
	ck_assert_str_eq(afk_issue_label(is, 1), "bug");
	ck_assert_ptr_null(afk_issue_label(is, 2));
	ck_assert(afk_issue_has_label(is, "bug"));
	ck_assert(!afk_issue_has_label(is, "Bug"));
	ck_assert_int_eq(afk_issue_priority(is), -4);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	ck_assert_int_eq(afk_issue_set_trusted(is, AFK_TRUST_UNCHECKED), 0);
	ck_assert_int_eq(afk_issue_trusted(is), AFK_TRUST_UNCHECKED);
	ck_assert_int_eq(afk_issue_set_trusted(is, -2), 0);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	ck_assert_uint_eq(afk_issue_blocker_count(is), 1);
	ck_assert_int_eq(afk_issue_blocker(is, 0), 7);
	ck_assert_int_eq(afk_issue_blocker(is, 1), 0);
	afk_issue_free(is);
}
END_TEST

START_TEST(null_handles_are_safe)
{
	afk_issue_free(NULL);
	ck_assert_ptr_null(afk_issue_repo(NULL));
	ck_assert_int_eq(afk_issue_number(NULL), 0);
	ck_assert_uint_eq(afk_issue_label_count(NULL), 0);
	ck_assert_int_eq(afk_issue_has_label(NULL, "x"), 0);
	ck_assert_int_eq(afk_issue_set_priority(NULL, 1), AFK_EINVAL);
	ck_assert_int_eq(afk_issue_set_trusted(NULL, 1), AFK_EINVAL);
	ck_assert_int_eq(afk_issue_add_blocker(NULL, 1), AFK_EINVAL);
}
END_TEST

START_TEST(strtab_interns_and_finds)
{
	afk__strtab t;
	uint32_t id, again;
	char name[32];
	int i;

	memset(&t, 0, sizeof(t));
	ck_assert_uint_eq(afk__strtab_find(&t, "x"), AFK__NONE);
	/* enough strings to rehash several times */
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "repo-%d", i);
		ck_assert_int_eq(afk__strtab_intern(&t, name, &id), 0);
		ck_assert_uint_eq(id, (uint32_t)i);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "repo-%d", i);
		ck_assert_int_eq(afk__strtab_intern(&t, name, &again), 0);
		ck_assert_uint_eq(again, (uint32_t)i);
		ck_assert_uint_eq(afk__strtab_find(&t, name), (uint32_t)i);
	}
	ck_assert_uint_eq(afk__strtab_find(&t, "repo-5000"), AFK__NONE);
	ck_assert_uint_eq(t.n, 5000);
	afk__strtab_clear(&t);
}
END_TEST

START_TEST(iset_round_trips_every_field)
{
	afk__iset s;
	afk_issue *in, *out;
	int i;

	memset(&s, 0, sizeof(s));
	for (i = 1; i <= 300; i++) {
		char title[32];

		ck_assert_int_eq(afk_issue_new(&in, i % 2 ? "a" : "b/c", i), 0);
		snprintf(title, sizeof(title), "title %d", i);
		afk_issue_set_title(in, title);
		afk_issue_add_label(in, "ready-for-agent");
		if (i % 3 == 0)
			afk_issue_add_label(in, "agent-in-progress");
		afk_issue_set_priority(in, i % 5);
		afk_issue_set_trusted(in, i % 7 != 0);
		if (i % 4 == 0) {
			afk_issue_add_blocker(in, 1000 + i);
			afk_issue_add_blocker(in, 2000 + i);
		}
		ck_assert_int_eq(afk__iset_add(&s, in), 0);
		afk_issue_free(in);
	}
	ck_assert_uint_eq(s.n, 300);
	ck_assert_uint_eq(s.repos.n, 2);
	ck_assert_uint_eq(s.labels.n, 2);
	for (i = 1; i <= 300; i++) {
		char title[32];

		snprintf(title, sizeof(title), "title %d", i);
		ck_assert_int_eq(afk__iset_issue(&s, (size_t)i - 1, &out), 0);
		ck_assert_str_eq(afk_issue_repo(out), i % 2 ? "a" : "b/c");
		ck_assert_str_eq(afk__iset_repo(&s, (size_t)i - 1),
		                 i % 2 ? "a" : "b/c");
		ck_assert_int_eq(afk_issue_number(out), i);
		ck_assert_str_eq(afk_issue_title(out), title);
		ck_assert_uint_eq(afk_issue_label_count(out), i % 3 == 0 ? 2 : 1);
		ck_assert_int_eq(afk_issue_priority(out), i % 5);
		ck_assert_int_eq(afk_issue_trusted(out), i % 7 != 0);
		ck_assert_uint_eq(afk_issue_blocker_count(out), i % 4 == 0 ? 2 : 0);
		if (i % 4 == 0)
			ck_assert_int_eq(afk_issue_blocker(out, 1), 2000 + i);
		ck_assert_int_eq(s.recs[i - 1].blocked, i % 4 == 0);
		afk_issue_free(out);
	}
	afk__iset_clear(&s);
}
END_TEST

START_TEST(issue_copy_is_deep)
{
	afk_issue *a, *b;

	ck_assert_int_eq(afk_issue_new(&a, "r", 1), 0);
	afk_issue_add_label(a, "x");
	afk_issue_add_blocker(a, 2);
	ck_assert_int_eq(afk__issue_copy(&b, a), 0);
	afk_issue_free(a);
	ck_assert_str_eq(afk_issue_repo(b), "r");
	ck_assert_str_eq(afk_issue_label(b, 0), "x");
	ck_assert_int_eq(afk_issue_blocker(b, 0), 2);
	afk_issue_free(b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("issue");
	TCase *tc = tcase_create("issue");

	tcase_add_test(tc, new_has_documented_defaults);
	tcase_add_test(tc, new_refuses_bad_arguments);
	tcase_add_test(tc, setters_and_getters);
	tcase_add_test(tc, null_handles_are_safe);
	tcase_add_test(tc, strtab_interns_and_finds);
	tcase_add_test(tc, iset_round_trips_every_field);
	tcase_add_test(tc, issue_copy_is_deep);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(suite());
}
