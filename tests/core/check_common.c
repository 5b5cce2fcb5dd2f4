/*
 * tests/core/check_common.c - version, error names, afk_free.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <afk/afk.h>
#include "fakes.h"

START_TEST(version_agrees_everywhere)
{
	char num[16];

	/* the header, the library and configure.ac say the same */
	ck_assert_str_eq(afk_version(), AFK_VERSION_STRING);
	ck_assert_str_eq(afk_version(), PACKAGE_VERSION);
	snprintf(num, sizeof(num), "%d.%d.%d", (AFK_VERSION_NUM >> 16) & 0xff,
	         (AFK_VERSION_NUM >> 8) & 0xff, AFK_VERSION_NUM & 0xff);
	ck_assert_str_eq(num, AFK_VERSION_STRING);
	snprintf(num, sizeof(num), "%d.%d.%d", AFK_VERSION_MAJOR,
	         AFK_VERSION_MINOR, AFK_VERSION_PATCH);
	ck_assert_str_eq(num, AFK_VERSION_STRING);
}
END_TEST

START_TEST(every_code_has_its_own_name)
{
	int a, b;

	for (a = AFK_EUNAVAIL; a <= AFK_OK; a++) {
		ck_assert_str_ne(afk_strerror(a), "unknown error");
		for (b = AFK_EUNAVAIL; b < a; b++)
			ck_assert_str_ne(afk_strerror(a), afk_strerror(b));
	}
	ck_assert_str_eq(afk_strerror(AFK_EUNAVAIL - 1), "unknown error");
	ck_assert_str_eq(afk_strerror(1), "unknown error");
}
END_TEST

START_TEST(afk_free_takes_null)
{
	afk_free(NULL);
	afk_free(malloc(16));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("common");

	tcase_add_test(tc, version_agrees_everywhere);
	tcase_add_test(tc, every_code_has_its_own_name);
	tcase_add_test(tc, afk_free_takes_null);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(suite());
}
