/*
 * tests/check_slack.c - the "slack" notifier (lib/builtin_slack.c)
 * against tests/http_server.py on 127.0.0.1, answering as a Slack
 * incoming webhook does: "ok", 429 with Retry-After, a 4xx with one word.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <jansson.h>

#include "afk/afk.h"
#include "adapter.h"
#include "builtin.h"
#include "config.h"
#include "fakes.h"

#ifndef AFK_TOP_SRCDIR
#define AFK_TOP_SRCDIR "."
#endif
#ifndef AFK_PYTHON3
#define AFK_PYTHON3 "/usr/bin/python3"
#endif

#define HOOK_ENV "AFK_TEST_SLACK_WEBHOOK"
#define HOOK_PATH "/services/T0AFK/B0AFK/xoxHookS3cr3tPart42"
#define HOOK_SECRET "xoxHookS3cr3tPart42"

/* --- the scripted server (tests/http_server.py) ---------------------- */

typedef struct srv {
	char dir[64];
	pid_t pid;
	int port;
	char base[64];      /* "http://127.0.0.1:PORT" */
} srv;

static srv S;

static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "cannot write %s", path);
	ck_assert_int_ge(fputs(text, fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}

static void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void srv_start(srv *s)
{
	char script[1024], portfile[128], *text;
	const char *top = getenv("top_srcdir");
	const char *py = access(AFK_PYTHON3, X_OK) == 0 ? AFK_PYTHON3 :
	                 "python3";
	int i;

	memset(s, 0, sizeof(*s));
	strcpy(s->dir, "/tmp/afk-srv.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	snprintf(script, sizeof(script), "%s/tests/http_server.py",
	         top != NULL && top[0] != '\0' ? top : AFK_TOP_SRCDIR);
	ck_assert_msg(access(script, R_OK) == 0, "no %s", script);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		setpgid(0, 0);
#if defined(__linux__)
		prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
		execlp(py, py, script, "--dir", s->dir, (char *)NULL);
		_exit(127);
	}
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	for (i = 0; i < 1000; i++) {
		text = read_text(portfile);
		if (text != NULL) {
			s->port = atoi(text);
			free(text);
			break;
		}
		ck_assert_msg(waitpid(s->pid, NULL, WNOHANG) == 0,
		              "the test server died at start");
		msleep(10);
	}
	ck_assert_msg(s->port > 0, "the test server did not start");
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
}

static void srv_stop(srv *s)
{
	static const char *const files[] = {
		"port", "port.tmp", "script.json", "script.json.tmp",
		"log.jsonl", "stats.json", "stats.json.tmp"
	};
	char path[256];
	size_t i;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, files[i]);
		unlink(path);
	}
	rmdir(s->dir);
	s->dir[0] = '\0';
}

/* Writes the server's script (script: a new reference, taken),
 * replacing the file atomically. */
static void srv_script(srv *s, json_t *script)
{
	char path[128], tmp[128], *text;

	ck_assert_ptr_nonnull(script);
	text = json_dumps(script, 0);
	json_decref(script);
	ck_assert_ptr_nonnull(text);
	snprintf(path, sizeof(path), "%s/script.json", s->dir);
	snprintf(tmp, sizeof(tmp), "%s/script.json.tmp", s->dir);
	write_text(tmp, text);
	ck_assert_int_eq(rename(tmp, path), 0);
	free(text);
}

/* The requests the server saw, a JSON array (json_decref() it). */
static json_t *srv_log(srv *s)
{
	char path[128], *text, *line, *save = NULL;
	json_t *log = json_array(), *e;

	snprintf(path, sizeof(path), "%s/log.jsonl", s->dir);
	text = read_text(path);
	if (text == NULL)
		return log;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		e = json_loads(line, 0, NULL);
		ck_assert_ptr_nonnull(e);
		json_array_append_new(log, e);
	}
	free(text);
	return log;
}

static const char *log_str(json_t *log, size_t i, const char *key)
{
	const char *v = json_string_value(json_object_get(
	                json_array_get(log, i), key));

	return v != NULL ? v : "";
}

static const char *log_header(json_t *log, size_t i, const char *name)
{
	const char *v = json_string_value(json_object_get(json_object_get(
	                json_array_get(log, i), "headers"), name));

	return v != NULL ? v : "";
}

/* Request i's body parsed (json_decref() it). */
static json_t *log_body(json_t *log, size_t i)
{
	json_t *b = json_loads(log_str(log, i, "body"), 0, NULL);

	ck_assert_msg(b != NULL, "request %zu has no JSON body", i);
	return b;
}

static void assert_contains(const char *s, const char *part)
{
	ck_assert_msg(s != NULL && strstr(s, part) != NULL,
	              "\"%s\" does not contain \"%s\"", s ? s : "(null)", part);
}

static void assert_lacks(const char *s, const char *part)
{
	ck_assert_msg(s == NULL || strstr(s, part) == NULL,
	              "\"%s\" contains \"%s\"", s, part);
}

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
	srv_script(&S, json_pack("{s:{s:o}}", "routes", HOOK_PATH, answer));
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
