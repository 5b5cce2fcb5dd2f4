/*
 * tests/examples/check_metrics.c - the afk command's metrics module
 * (examples/afk/metrics.c) alone: the http.request tail it reads, the
 * escaping of label values, counters carried over by the state file, a
 * gauge family replaced whole, a corrupt state reset.  tests/metrics.sh
 * runs the command itself.
 */
#define _XOPEN_SOURCE 700

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

/* A fresh directory under $TMPDIR, its path in dir. */
static void tmp_dir(char *dir, size_t size)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, size, "%s/afk-check-metrics.XXXXXX", t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The whole file at dir/name, to free(). */
static char *slurp(const char *dir, const char *name)
{
	char path[600], *buf;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "%s: cannot open", path);
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

/* 1 when text holds line as a whole line. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

#define assert_line(text, line) \
	ck_assert_msg(has_line(text, line), "no line [%s] in:\n%s", line, text)
#define assert_no_line(text, line) \
	ck_assert_msg(!has_line(text, line), "a line [%s] in:\n%s", line, text)

/* What a commit logs. */
typedef struct said {
	int lines;
	char last[1024];
} said;

static void say(int level, const char *event, const char *msg, void *ud)
{
	said *s = ud;

	s->lines++;
	snprintf(s->last, sizeof(s->last), "%d %s: %s", level, event, msg);
}

/* Commits a handle made by feed into dir and returns afk.prom. */
static char *commit(const char *dir, void (*feed)(metrics *), said *s)
{
	metrics *m = metrics_new();

	ck_assert_ptr_nonnull(m);
	feed(m);
	ck_assert_int_eq(metrics_commit(m, dir, NULL, say, s), 0);
	metrics_free(m);
	return slurp(dir, "afk.prom");
}

static void feed_http(metrics *m)
{
	metrics_log(m, "http.request", "list: GET https://api.github.com/"
	            "repos/a/b/issues: HTTP 200 host=api.github.com "
	            "status=200 remaining=4999");
	metrics_log(m, "http.request", "GET https://api.github.com/x: HTTP "
	            "304 host=api.github.com status=304 remaining=4998");
	/* The URL before the tail may hold anything: the last one counts. */
	metrics_log(m, "http.request", "GET https://h.example/?q= host=evil "
	            "status=200: HTTP 404 host=h.example status=404");
	metrics_log(m, "http.request", "GET https://h.example/: Couldn't "
	            "connect host=h.example status=0");
	/* Not a tail: ignored. */
	metrics_log(m, "http.request", "GET https://x/: HTTP 200");
	metrics_log(m, "http.request", "host=a status=200");
	metrics_log(m, "http.request", "x host=a status=200 trailing");
	metrics_log(m, "http.request", "x host=a status=2x0");
	metrics_log(m, "http.request", "x host= status=200");
	metrics_log(m, "http.retry", "x host=b status=200");
	/* A host is a label value: escaped as the format wants. */
	metrics_log(m, "http.request", "x host=q\"u\\o status=200");
}

START_TEST(http_tail_is_counted)
{
	char dir[512], *prom;
	said s = {0, ""};

	tmp_dir(dir, sizeof(dir));
	prom = commit(dir, feed_http, &s);
	ck_assert_int_eq(s.lines, 0);
	assert_line(prom, "afk_http_requests_total{host=\"api.github.com\","
	            "code=\"200\"} 1");
	assert_line(prom, "afk_http_not_modified_total{host="
	            "\"api.github.com\"} 1");
	assert_line(prom, "afk_http_rate_limit_remaining{host="
	            "\"api.github.com\"} 4998");
	assert_line(prom, "afk_http_requests_total{host=\"h.example\","
	            "code=\"404\"} 1");
	assert_line(prom, "afk_errors_total{kind=\"http\"} 1");
	assert_line(prom, "afk_http_requests_total{host=\"q\\\"u\\\\o\","
	            "code=\"200\"} 1");
	ck_assert_ptr_null(strstr(prom, "evil"));
	ck_assert_ptr_null(strstr(prom, "host=\"a\""));
	ck_assert_ptr_null(strstr(prom, "host=\"b\""));
	ck_assert_ptr_null(strstr(prom, "\"304\""));
	free(prom);
	rm_rf(dir);
}
END_TEST

static void feed_tick(metrics *m)
{
	metrics_tick(m, "poll", "ok", 0.25, 1700000000);
	metrics_error(m, "poll");
}

static void feed_failed(metrics *m)
{
	metrics_tick(m, "poll", "error", 1.5, 1700000100);
}

START_TEST(counters_carry_over_and_gauges_replace)
{
	char dir[512], *prom, *state;
	said s = {0, ""};

	tmp_dir(dir, sizeof(dir));
	free(commit(dir, feed_tick, &s));
	free(commit(dir, feed_tick, &s));
	prom = commit(dir, feed_failed, &s);
	ck_assert_int_eq(s.lines, 0);
	assert_line(prom, "# TYPE afk_ticks_total counter");
	assert_line(prom, "afk_ticks_total{kind=\"poll\",result=\"ok\"} 2");
	assert_line(prom, "afk_ticks_total{kind=\"poll\",result=\"error\"} 1");
	assert_line(prom, "afk_ticks_total{kind=\"watch\",result=\"ok\"} 0");
	assert_line(prom, "afk_errors_total{kind=\"poll\"} 2");
	assert_line(prom, "# TYPE afk_tick_duration_seconds gauge");
	assert_line(prom, "afk_tick_duration_seconds{kind=\"poll\"} 1.5");
	/* the last success stays the last ok tick's */
	assert_line(prom, "afk_last_success_timestamp_seconds{kind=\"poll\"} "
	            "1700000000");
	assert_line(prom, "afk_stops_total{reason=\"closed\"} 0");
	assert_line(prom, "afk_closes_total 0");
	state = slurp(dir, "metrics.state");
	ck_assert_int_eq(strncmp(state, "# afk metrics state 1\n", 22), 0);
	assert_line(state, "afk_ticks_total\tkind=\"poll\",result=\"ok\"\t2");
	free(state);
	free(prom);
	rm_rf(dir);
}
END_TEST

START_TEST(corrupt_state_is_reset)
{
	static const char *const bad[] = {
		"", "not a header\n", "# afk metrics state 1\nafk_ticks_total\n",
		"# afk metrics state 1\nafk_closes_total\t\tx\n",
		"# afk metrics state 1\nafk_closes_total\t\t-1\n",
		"# afk metrics state 1\nafk_closes_total\t\tnan\n",
		"# afk metrics state 1\nafk_closes_total\t\t7", /* cut */
	};
	char dir[512], path[600], *prom;
	said s;
	size_t i;
	FILE *fp;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		tmp_dir(dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/metrics.state", dir);
		fp = fopen(path, "w");
		ck_assert_ptr_nonnull(fp);
		fputs(bad[i], fp);
		fclose(fp);
		memset(&s, 0, sizeof(s));
		prom = commit(dir, feed_tick, &s);
		ck_assert_msg(s.lines == 1 && strstr(s.last, "1 metrics."
		              "state_reset: ") == s.last, "case %zu: %s", i,
		              s.last);
		assert_line(prom, "afk_ticks_total{kind=\"poll\",result=\"ok\"} 1");
		assert_line(prom, "afk_errors_total{kind=\"metrics_state\"} 1");
		assert_no_line(prom, "afk_closes_total 7");
		free(prom);
		rm_rf(dir);
	}
}
END_TEST

/* A family this afk does not know (another version's) is dropped, not a
 * corruption; a known one is kept. */
START_TEST(unknown_family_is_dropped)
{
	char dir[512], path[600], *prom;
	said s = {0, ""};
	FILE *fp;

	tmp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/metrics.state", dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("# afk metrics state 1\nafk_future_total\tx=\"1\"\t3\n"
	      "afk_closes_total\t\t7\n", fp);
	fclose(fp);
	prom = commit(dir, feed_tick, &s);
	ck_assert_int_eq(s.lines, 0);
	assert_line(prom, "afk_closes_total 7");
	ck_assert_ptr_null(strstr(prom, "afk_future_total"));
	free(prom);
	rm_rf(dir);
}
END_TEST

/* A file that cannot be written fails the commit, says so and is
 * counted the next time; no temporary file is left. */
START_TEST(unwritable_file_is_counted)
{
	char dir[512], file[600], *prom;
	said s = {0, ""};
	metrics *m = metrics_new();

	tmp_dir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/no/such/afk.prom", dir);
	feed_tick(m);
	ck_assert_int_eq(metrics_commit(m, dir, file, say, &s), -1);
	metrics_free(m);
	ck_assert_int_eq(s.lines, 1);
	ck_assert_msg(strstr(s.last, "0 metrics.write_failed: cannot write ")
	              == s.last, "%s", s.last);
	s.lines = 0;
	prom = commit(dir, feed_tick, &s);
	ck_assert_int_eq(s.lines, 0);
	assert_line(prom, "afk_errors_total{kind=\"metrics_write\"} 1");
	assert_line(prom, "afk_ticks_total{kind=\"poll\",result=\"ok\"} 2");
	free(prom);
	rm_rf(dir);
}
END_TEST

/* NULL handles do nothing: a dry run has none. */
START_TEST(null_handle_is_a_no_op)
{
	metrics_log(NULL, "http.request", "x host=a status=200");
	metrics_tick(NULL, "poll", "ok", 1, 1);
	metrics_error(NULL, "poll");
	metrics_poll(NULL, NULL);
	metrics_watch(NULL, NULL);
	ck_assert_int_eq(metrics_commit(NULL, "/nonexistent", NULL, NULL,
	                                NULL), 0);
	metrics_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, http_tail_is_counted);
	tcase_add_test(tc, counters_carry_over_and_gauges_replace);
	tcase_add_test(tc, corrupt_state_is_reset);
	tcase_add_test(tc, unknown_family_is_dropped);
	tcase_add_test(tc, unwritable_file_is_counted);
	tcase_add_test(tc, null_handle_is_a_no_op);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
