/*
 * tests/builtin/check_slack.c - the "slack" notifier (lib/builtin/slack.c)
 * against tests/http_server.py on 127.0.0.1, answering as a Slack
 * incoming webhook does: "ok", 429 with Retry-After, a 4xx with one word.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "afk/afk.h"
#include "core/adapter.h"
#include "builtin/builtin.h"
#include "core/config.h"
#include "fakes.h"
#include "httpsrv.h"

#define HOOK_ENV "AFK_TEST_SLACK_WEBHOOK"
#define HOOK_PATH "/services/T0AFK/B0AFK/xoxHookS3cr3tPart42"
#define HOOK_SECRET "xoxHookS3cr3tPart42"

/* --- the scripted server (tests/http_server.py) ---------------------- */

static srv S;

static afk_notifier *N;
static char HOOK[128];

static void setup(void)
{
	srv_start(&S);
	snprintf(HOOK, sizeof(HOOK), "%s%s", S.base, HOOK_PATH);
	setenv(HOOK_ENV, HOOK, 1);
	N = NULL;
}

static void teardown(void)
{
	afk_notifier_free(N);
	N = NULL;
	srv_stop(&S);
}

static afk_notifier *slack(void)
{
	afk_config *cfg = NULL;
	afk_notifier *n = NULL;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_msg(afk_config_set(cfg, "notifier", "{\"kind\": \"slack\", "
	              "\"webhook_env\": \"" HOOK_ENV "\"}") == 0, "%s",
	              afk_config_errmsg(cfg));
	ck_assert_int_eq(afk_notifier_new(&n), 0);
	ck_assert_msg(afk_notifier_set_builtin(n, cfg) == 0, "%s",
	              afk_notifier_errmsg(n));
	afk_config_free(cfg);
	return n;
}

static int notify(afk_call *call, const char *message, const char *link)
{
	afk__call_init(call, AFK__CALL_NOTIFY, NULL);
	return N->notify(call, "acme/api", 12, message, link, N->userdata);
}

/* Neither the webhook nor its secret part is in s. */
static void assert_no_hook(const char *s)
{
	assert_lacks(s, HOOK);
	assert_lacks(s, HOOK_PATH);
	assert_lacks(s, HOOK_SECRET);
	assert_lacks(s, "xoxHook");
}

static void script_answer(json_t *answer)
{
	srv_script_json(&S, json_pack("{s:{s:o}}", "routes", HOOK_PATH, answer));
}

START_TEST(test_notify_posts_the_text)
{
	afk_call call;
	json_t *log, *b;

	script_answer(json_pack("{s:s}", "body", "ok"));
	N = slack();
	ck_assert_int_eq(notify(&call, "acme/api#12 needs a human: the agent "
	                        "failed.", "https://github.com/acme/api/issues/12"),
	                 0);
	afk__call_clear(&call);
	ck_assert_int_eq(notify(&call, "no link\there", ""), 0);
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 2);
	ck_assert_str_eq(log_str(log, 0, "method"), "POST");
	ck_assert_str_eq(log_str(log, 0, "path"), HOOK_PATH);
	assert_contains(log_header(log, 0, "content-type"), "application/json");
	ck_assert_str_eq(log_header(log, 0, "authorization"), "");
	b = log_body(log, 0);
	ck_assert_str_eq(json_string_value(json_object_get(b, "text")),
	                 "acme/api#12 needs a human: the agent failed. "
	                 "https://github.com/acme/api/issues/12");
	ck_assert_uint_eq(json_object_size(b), 1);
	json_decref(b);
	b = log_body(log, 1);
	ck_assert_str_eq(json_string_value(json_object_get(b, "text")),
	                 "no link here");
	json_decref(b);
	json_decref(log);
}
END_TEST

START_TEST(test_429_says_when_to_retry)
{
	afk_call call;
	json_t *log;
	int rc;

	script_answer(json_pack("{s:i, s:s, s:[[s, s]]}", "status", 429,
	                        "body", "rate_limited", "headers",
	                        "Retry-After", "30"));
	N = slack();
	rc = notify(&call, "m", "");
	ck_assert_int_eq(rc, AFK_EIO);
	assert_contains(call.message, "rate limited");
	assert_contains(call.message, "retry after");
	assert_contains(call.message, " s (at ");
	assert_contains(call.message, "stays pending");
	assert_no_hook(call.message);
	afk__call_clear(&call);
	/* the host stays blocked: the next call is not sent */
	rc = notify(&call, "m", "");
	ck_assert_int_eq(rc, AFK_EIO);
	assert_contains(call.message, "retry after");
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 1);
	json_decref(log);
}
END_TEST

/* Slack's permanent refusals, its word in the message. */
static const struct {
	int status;
	const char *word;
} refusals[] = {
	{400, "invalid_payload"},
	{404, "no_service"},
	{404, "channel_not_found"},
	{403, "action_prohibited"},
	{410, "channel_is_archived"},
};

START_TEST(test_4xx_is_permanent_with_slacks_word)
{
	afk_call call;
	int rc;

	script_answer(json_pack("{s:i, s:s}", "status", refusals[_i].status,
	                        "body", refusals[_i].word));
	N = slack();
	rc = notify(&call, "m", "");
	ck_assert_int_eq(rc, AFK_ECONFIG);
	assert_contains(call.message, refusals[_i].word);
	assert_contains(call.message, "permanent");
	assert_no_hook(call.message);
	afk__call_clear(&call);
}
END_TEST

/* Slack's word is redacted before it is cut to 64 bytes: the webhook's
 * token across the cut leaves not even its start. */
START_TEST(test_word_cut_after_redacting)
{
	size_t n = strlen(HOOK_SECRET), j;
	json_t *list = json_array();
	char word[128];
	afk_call call;

	for (j = 1; j <= n; j++) {
		memset(word, 'a', 64 - j);
		snprintf(word + 64 - j, sizeof(word) - (64 - j), "%s_more",
		         HOOK_SECRET);
		json_array_append_new(list, json_pack("{s:i, s:s}", "status", 400,
		                                      "body", word));
	}
	script_answer(list);
	N = slack();
	for (j = 1; j <= n; j++) {
		ck_assert_int_eq(notify(&call, "m", ""), AFK_ECONFIG);
		assert_contains(call.message, "aaaa");
		assert_lacks(call.message, "xoxH");
		assert_no_hook(call.message);
		afk__call_clear(&call);
	}
}
END_TEST

START_TEST(test_5xx_is_an_error)
{
	afk_call call;

	script_answer(json_pack("{s:i, s:s}", "status", 503, "body",
	                        "unavailable"));
	N = slack();
	ck_assert_int_eq(notify(&call, "m", ""), AFK_EIO);
	assert_contains(call.message, "503");
	afk__call_clear(&call);
}
END_TEST

/* The webhook is the credential: echoed in bodies and headers, in a
 * refusal, a server error, a connection failure, it never shows. */
START_TEST(test_webhook_never_in_a_message)
{
	static const int statuses[] = {400, 404, 500, 429};
	char *echo = afk__aprintf("%s rejected; see %s", HOOK_SECRET, HOOK);
	afk_call call;
	size_t i;

	N = slack();
	for (i = 0; i < sizeof(statuses) / sizeof(*statuses); i++) {
		script_answer(json_pack("{s:i, s:s, s:[[s, s], [s, s]]}",
		                        "status", statuses[i], "body", echo,
		                        "headers", "X-Echo", HOOK, "Retry-After",
		                        "1"));
		ck_assert_int_ne(notify(&call, "m", ""), 0);
		ck_assert_ptr_nonnull(call.message);
		assert_no_hook(call.message);
		afk__call_clear(&call);
		msleep(1100); /* past a 429's block */
	}
	free(echo);
	srv_stop(&S); /* connection refused names the URL: redacted */
	ck_assert_int_ne(notify(&call, "m", ""), 0);
	assert_no_hook(call.message);
	afk__call_clear(&call);
}
END_TEST

/* A webhook has no read-only endpoint: the slack notifier registers no
 * probe (it removes one an earlier built-in registered), so
 * afk_notifier_probe() says AFK_ENOTSUP and nothing is sent. */
START_TEST(test_no_probe)
{
	afk_config *cfg = NULL;
	json_t *log;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_int_eq(afk_config_set(cfg, "notifier",
	                                "{\"kind\": \"stdout\"}"), 0);
	ck_assert_int_eq(afk_notifier_new(&N), 0);
	ck_assert_int_eq(afk_notifier_set_builtin(N, cfg), 0);
	ck_assert_int_eq(afk_notifier_probe(N), 0);
	ck_assert_msg(afk_config_set(cfg, "notifier", "{\"kind\": \"slack\", "
	              "\"webhook_env\": \"" HOOK_ENV "\"}") == 0, "%s",
	              afk_config_errmsg(cfg));
	ck_assert_msg(afk_notifier_set_builtin(N, cfg) == 0, "%s",
	              afk_notifier_errmsg(N));
	afk_config_free(cfg);
	ck_assert_int_eq(afk_notifier_probe(N), AFK_ENOTSUP);
	assert_contains(afk_notifier_errmsg(N), "no probe");
	assert_no_hook(afk_notifier_errmsg(N));
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 0);
	json_decref(log);
}
END_TEST

START_TEST(test_config_and_webhook_sources)
{
	afk_config *cfg = NULL;
	afk_notifier *n = NULL;
	char *out = NULL;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_int_eq(afk_config_set(cfg, "notifier", "{\"kind\": "
	                 "\"slack\"}"), AFK_ECONFIG);
	assert_contains(afk_config_errmsg(cfg), "webhook_env");
	ck_assert_int_eq(afk_config_set(cfg, "notifier", "{\"kind\": "
	                 "\"slack\", \"webhook\": \"https://hooks\"}"),
	                 AFK_ECONFIG);
	ck_assert_int_eq(afk_config_set(cfg, "notifier", "{\"kind\": "
	                 "\"slack\", \"webhook_file\": \"/nonexistent/hook\"}"),
	                 0);
	ck_assert_int_eq(afk_config_get(cfg, "notifier", &out), 0);
	ck_assert_str_eq(out, "{\"kind\":\"slack\",\"webhook_file\":"
	                 "\"/nonexistent/hook\"}");
	afk_free(out);
	ck_assert_int_eq(afk_notifier_new(&n), 0);
	ck_assert_int_eq(afk_notifier_set_builtin(n, cfg), AFK_ECONFIG);
	assert_contains(afk_notifier_errmsg(n), "/nonexistent/hook");
	afk_notifier_free(n);
	/* back to stdout: the slack members go */
	ck_assert_int_eq(afk_config_set(cfg, "notifier", "{\"kind\": "
	                 "\"stdout\"}"), 0);
	ck_assert_int_eq(afk_config_get(cfg, "notifier", &out), 0);
	ck_assert_str_eq(out, "{\"kind\":\"stdout\"}");
	afk_free(out);
	afk_config_free(cfg);
}
END_TEST

static Suite *slack_suite(void)
{
	Suite *s = suite_create("slack");
	TCase *tc = tcase_create("slack");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_notify_posts_the_text);
	tcase_add_test(tc, test_429_says_when_to_retry);
	tcase_add_loop_test(tc, test_4xx_is_permanent_with_slacks_word, 0,
	                    (int)(sizeof(refusals) / sizeof(*refusals)));
	tcase_add_test(tc, test_word_cut_after_redacting);
	tcase_add_test(tc, test_5xx_is_an_error);
	tcase_add_test(tc, test_webhook_never_in_a_message);
	tcase_add_test(tc, test_config_and_webhook_sources);
	tcase_add_test(tc, test_no_probe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(slack_suite());
}
