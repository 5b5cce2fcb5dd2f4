/*
 * tests/check_builtin.c - the built-in adapters (file tracker, command
 * agent), driven through real poll ticks and checked on disk.
 */
#define _XOPEN_SOURCE 700

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <jansson.h>

#include "afk/afk.h"

/* --- fixture --------------------------------------------------------- */

#define PATHLEN 512

/* A temporary directory holding issues.json, agent.sh and runs/, a
 * configuration over them and a poller. */
typedef struct fx {
	char dir[64];
	char issues[PATHLEN];
	char script[PATHLEN];
	char runs[PATHLEN];
	afk_config *cfg;
	afk_tracker *tracker;
	afk_agent *agent;
	afk_poller *poller;
	afk_result *result;
} fx;

static const char *const default_script =
	"#!/bin/sh\n"
	"echo \"agent: $AFK_REPO#$AFK_ISSUE thread $AFK_THREAD_ID\"\n"
	"cat\n";

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "cannot write %s", path);
	ck_assert_int_eq(fputs(text, fp) >= 0, 1);
	ck_assert_int_eq(fclose(fp), 0);
}

/* Test issue files are written with ' for ": JSON without the escapes.
 * Returns a converted copy; free with free(). */
static char *dq(const char *text)
{
	char *s = strdup(text), *p;

	ck_assert_ptr_nonnull(s);
	for (p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

static void write_issues(const char *path, const char *text)
{
	char *s = dq(text);

	write_text(path, s);
	free(s);
}

/* The file's contents, NUL-terminated, or NULL when it cannot be read;
 * free with free(). */
static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "r");
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

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Sets key to the JSON text made from fmt. */
static void cfg_set(afk_config *cfg, const char *key, const char *fmt, ...)
{
	char json[2 * PATHLEN];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(json, sizeof(json), fmt, ap);
	va_end(ap);
	rc = afk_config_set(cfg, key, json);
	ck_assert_msg(rc == 0, "afk_config_set(%s, %s): %s", key, json,
	              afk_config_errmsg(cfg));
}

/* Makes the directory, its issue file and agent script, and an armed
 * configuration allowlisting acme/api and acme/web, trusting alice and
 * bob.  command is the agent's argv[0] (NULL: the script). */
static void fx_open(fx *f, const char *issues, const char *script,
                    const char *command)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/check_builtin.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->issues, sizeof(f->issues), "%s/issues.json", f->dir);
	snprintf(f->script, sizeof(f->script), "%s/agent.sh", f->dir);
	snprintf(f->runs, sizeof(f->runs), "%s/runs", f->dir);
	write_issues(f->issues, issues);
	write_text(f->script, script ? script : default_script);
	ck_assert_int_eq(chmod(f->script, 0755), 0);

	ck_assert_int_eq(afk_config_new(&f->cfg), 0);
	cfg_set(f->cfg, "kill_switch", "false");
	cfg_set(f->cfg, "allowlist", "[\"acme/api\", \"acme/web\"]");
	cfg_set(f->cfg, "trusted_users", "[\"alice\", \"bob\"]");
	cfg_set(f->cfg, "tracker", "{\"kind\": \"file\", \"path\": \"%s\"}",
	        f->issues);
	cfg_set(f->cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\", \"--flag\"], \"state_dir\": \"%s\"}",
	        command ? command : f->script, f->runs);
	ck_assert_int_eq(afk_config_armed(f->cfg), 1);

	ck_assert_int_eq(afk_tracker_new(&f->tracker), 0);
	ck_assert_int_eq(afk_agent_new(&f->agent), 0);
	ck_assert_msg(afk_tracker_set_builtin(f->tracker, f->cfg) == 0, "%s",
	              afk_tracker_errmsg(f->tracker));
	ck_assert_msg(afk_agent_set_builtin(f->agent, f->cfg) == 0, "%s",
	              afk_agent_errmsg(f->agent));
	ck_assert_int_eq(afk_poller_new(&f->poller, f->tracker, f->agent), 0);
}

/* Runs one tick, keeping its result in f->result. */
static int fx_tick(fx *f)
{
	int rc;

	afk_result_free(f->result);
	f->result = NULL;
	rc = afk_poller_run_once(f->poller, f->cfg, &f->result);
	ck_assert_ptr_nonnull(f->result);
	return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fx_close(fx *f)
{
	afk_result_free(f->result);
	afk_poller_free(f->poller);
	afk_tracker_free(f->tracker);
	afk_agent_free(f->agent);
	afk_config_free(f->cfg);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The index of repo#number among the dispatches, or -1. */
static long dispatched(const afk_result *r, const char *repo, long number)
{
	const afk_issue *is;
	size_t i;

	for (i = 0; i < afk_result_dispatched_count(r); i++) {
		is = afk_result_dispatched_issue(r, i);
		if (strcmp(afk_issue_repo(is), repo) == 0 &&
		    afk_issue_number(is) == number)
			return (long)i;
	}
	return -1;
}

/* The reason repo#number was skipped, or 0 when it was not. */
static int skipped(const afk_result *r, const char *repo, long number)
{
	size_t i;

	for (i = 0; i < afk_result_skipped_count(r); i++)
		if (strcmp(afk_result_skipped_repo(r, i), repo) == 0 &&
		    afk_result_skipped_number(r, i) == number)
			return afk_result_skipped_reason(r, i);
	return 0;
}

/* The number of entries in dir, -1 when it cannot be opened. */
static int count_entries(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The file name of a run's file: <runs>/<id>/<name>. */
static const char *run_path(const fx *f, const char *id, const char *name)
{
	static char path[3 * PATHLEN];

	snprintf(path, sizeof(path), "%s/%s%s%s", f->runs, id,
	         name ? "/" : "", name ? name : "");
	return path;
}

/* The issue repo#number in the issue file, as a new reference. */
static json_t *file_issue(const fx *f, const char *repo, long number)
{
	json_error_t err;
	json_t *root, *o, *found = NULL;
	size_t i;

	root = json_load_file(f->issues, 0, &err);
	ck_assert_msg(root != NULL, "%s: %s", f->issues, err.text);
	json_array_foreach(json_object_get(root, "issues"), i, o) {
		if (strcmp(json_string_value(json_object_get(o, "repo")),
		           repo) == 0 &&
		    json_integer_value(json_object_get(o, "number")) == number)
			found = json_incref(o);
	}
	json_decref(root);
	ck_assert_ptr_nonnull(found);
	return found;
}

static int file_has_label(const fx *f, const char *repo, long number,
                          const char *label)
{
	json_t *o = file_issue(f, repo, number), *v;
	size_t i;
	int has = 0;

	json_array_foreach(json_object_get(o, "labels"), i, v) {
		if (strcmp(json_string_value(v), label) == 0)
			has = 1;
	}
	json_decref(o);
	return has;
}

/* --- the file tracker ------------------------------------------------ */

START_TEST(test_lists_open_ready_allowlisted)
{
	fx f;
	const afk_issue *is;
	long k;

	fx_open(&f,
	        "{'issues': [\n"
	        " {'repo': 'acme/api', 'number': 1, 'title': 'one',"
	        "  'labels': ['bug', 'ready-for-agent'], 'priority': 7,"
	        "  'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/api', 'number': 2, 'state': 'closed',"
	        "  'labels': ['ready-for-agent'], 'priority': 9,"
	        "  'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/api', 'number': 3, 'priority': 9,"
	        "  'labels': ['bug'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/docs', 'number': 4,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/web', 'number': 5, 'state': 'open',"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'bob'}\n"
	        "]}\n", NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	/* Closed, unlabelled and not-allowlisted issues are not listed at
	 * all, so they are neither dispatched nor skipped. */
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 2);
	ck_assert_uint_eq(afk_result_skipped_count(f.result), 0);
	k = dispatched(f.result, "acme/api", 1);
	ck_assert_int_ge(k, 0);
	ck_assert_int_ge(dispatched(f.result, "acme/web", 5), 0);
	is = afk_result_dispatched_issue(f.result, (size_t)k);
	ck_assert_str_eq(afk_issue_title(is), "one");
	ck_assert_int_eq(afk_issue_priority(is), 7);
	ck_assert_int_eq(afk_issue_trusted(is), 1);
	ck_assert_uint_eq(afk_issue_label_count(is), 2);
	ck_assert_str_eq(afk_issue_label(is, 0), "bug");
	ck_assert_str_eq(afk_issue_label(is, 1), "ready-for-agent");
	ck_assert_uint_eq(afk_issue_blocker_count(is), 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_trust_from_labeled_by)
{
	fx f;

	fx_open(&f,
	        "{'issues': [\n"
	        " {'repo': 'acme/api', 'number': 1, 'priority': 1,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/api', 'number': 2, 'priority': 9,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'mallory'},\n"
	        " {'repo': 'acme/web', 'number': 3,"
	        "  'labels': ['ready-for-agent']},\n"
	        " {'repo': 'acme/web', 'number': 4,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': null},\n"
	        " {'repo': 'acme/web', 'number': 5,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'Alice'}\n"
	        "]}\n", NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	ck_assert_int_eq(dispatched(f.result, "acme/api", 1), 0);
	ck_assert_int_eq(skipped(f.result, "acme/api", 2), AFK_SKIP_UNTRUSTED);
	ck_assert_int_eq(skipped(f.result, "acme/web", 3), AFK_SKIP_UNTRUSTED);
	ck_assert_int_eq(skipped(f.result, "acme/web", 4), AFK_SKIP_UNTRUSTED);
	ck_assert_int_eq(skipped(f.result, "acme/web", 5), AFK_SKIP_UNTRUSTED);
	fx_close(&f);
}
END_TEST

START_TEST(test_blockers_open_closed_absent)
{
	fx f;
	const afk_issue *is;

	fx_open(&f,
	        "{'issues': [\n"
	        " {'repo': 'acme/api', 'number': 1, 'state': 'closed'},\n"
	        " {'repo': 'acme/api', 'number': 10, 'blocked_by': [1],"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/web', 'number': 20, 'blocked_by': [21],"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/web', 'number': 21},\n"
	        " {'repo': 'acme/web', 'number': 22, 'blocked_by': [99],"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/web', 'number': 23, 'blocked_by': [1],"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/web', 'number': 24, 'blocked_by': [],"
	        "  'priority': -1,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'}\n"
	        "]}\n", NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	/* api#10's blocker is closed: not blocked. */
	ck_assert_int_ge(dispatched(f.result, "acme/api", 10), 0);
	is = afk_result_dispatched_issue(f.result,
	        (size_t)dispatched(f.result, "acme/api", 10));
	ck_assert_uint_eq(afk_issue_blocker_count(is), 0);
	/* Open blocker; absent blocker (fail closed); acme/web#1 is absent
	 * although acme/api#1 is closed: blockers are of the same repo. */
	ck_assert_int_eq(skipped(f.result, "acme/web", 20), AFK_SKIP_BLOCKED);
	ck_assert_int_eq(skipped(f.result, "acme/web", 22), AFK_SKIP_BLOCKED);
	ck_assert_int_eq(skipped(f.result, "acme/web", 23), AFK_SKIP_BLOCKED);
	/* The only unblocked web issue runs, low priority or not. */
	ck_assert_int_ge(dispatched(f.result, "acme/web", 24), 0);
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 2);
	fx_close(&f);
}
END_TEST

/* The label is added in place: every other byte of meaning - other
 * issues, unknown members, the order of members - survives. */
START_TEST(test_label_written_order_kept)
{
	static const char *const order[] = {
		"number", "x-note", "repo", "labels", "labeled_by", "title"
	};
	fx f;
	json_t *root, *o, *v;
	json_error_t err;
	const char *key;
	struct stat st;
	size_t i;

	fx_open(&f,
	        "{'comment': 'kept', 'issues': [\n"
	        " {'number': 1, 'x-note': {'a': [1, 2]}, 'repo': 'acme/api',"
	        "  'labels': ['zeta', 'ready-for-agent'],"
	        "  'labeled_by': 'alice', 'title': 'caf\\u00e9'},\n"
	        " {'repo': 'acme/web', 'number': 2, 'state': 'closed',"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/api', 'number': 3, 'labeled_by': 'alice',"
	        "  'title': 'no labels member'}\n"
	        "]}\n", NULL, NULL);
	ck_assert_int_eq(chmod(f.issues, 0640), 0);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);

	root = json_load_file(f.issues, 0, &err);
	ck_assert_msg(root != NULL, "%s", err.text);
	ck_assert_str_eq(json_string_value(json_object_get(root, "comment")),
	                 "kept");
	o = json_array_get(json_object_get(root, "issues"), 0);
	i = 0;
	json_object_foreach(o, key, v) {
		ck_assert_uint_lt(i, 6);
		ck_assert_str_eq(key, order[i]);
		i++;
	}
	ck_assert_uint_eq(i, 6);
	v = json_object_get(o, "labels");
	ck_assert_uint_eq(json_array_size(v), 3);
	ck_assert_str_eq(json_string_value(json_array_get(v, 0)), "zeta");
	ck_assert_str_eq(json_string_value(json_array_get(v, 1)),
	                 "ready-for-agent");
	ck_assert_str_eq(json_string_value(json_array_get(v, 2)),
	                 "agent-in-progress");
	ck_assert_str_eq(json_string_value(json_object_get(o, "title")),
	                 "caf\xc3\xa9");
	v = json_object_get(o, "x-note");
	ck_assert_int_eq(json_integer_value(json_array_get(
	                 json_object_get(v, "a"), 1)), 2);
	/* The other issues are as they were. */
	o = json_array_get(json_object_get(root, "issues"), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "labels")), 1);
	o = json_array_get(json_object_get(root, "issues"), 2);
	ck_assert_ptr_null(json_object_get(o, "labels"));
	json_decref(root);

	/* Same mode; no temporary file left beside it. */
	ck_assert_int_eq(stat(f.issues, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(count_entries(f.dir), 3); /* issues, agent, runs */
	fx_close(&f);
}
END_TEST

/* An issue that lost its ready label while its agent works still locks
 * its repository: the file tracker lists in-progress issues too. */
START_TEST(test_in_progress_without_ready_label_locks)
{
	fx f;

	fx_open(&f,
	        "{'issues': [\n"
	        " {'repo': 'acme/api', 'number': 1,"
	        "  'labels': ['agent-in-progress'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/api', 'number': 2,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'}\n"
	        "]}\n", NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 0);
	ck_assert_int_eq(skipped(f.result, "acme/api", 1),
	                 AFK_SKIP_IN_PROGRESS);
	ck_assert_int_eq(skipped(f.result, "acme/api", 2), AFK_SKIP_LOCKED);
	fx_close(&f);
}
END_TEST

START_TEST(test_second_tick_locked)
{
	fx f;
	char *before, *after;

	fx_open(&f,
	        "{'issues': [\n"
	        " {'repo': 'acme/api', 'number': 1, 'priority': 2,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/api', 'number': 2, 'priority': 1,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'}\n"
	        "]}\n", NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_int_eq(dispatched(f.result, "acme/api", 1), 0);
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-1-1");
	ck_assert_int_eq(skipped(f.result, "acme/api", 2), AFK_SKIP_OUTRANKED);
	ck_assert(file_has_label(&f, "acme/api", 1, "agent-in-progress"));
	ck_assert(!file_has_label(&f, "acme/api", 2, "agent-in-progress"));

	before = read_text(f.issues);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 0);
	ck_assert_int_eq(skipped(f.result, "acme/api", 1),
	                 AFK_SKIP_IN_PROGRESS);
	ck_assert_int_eq(skipped(f.result, "acme/api", 2), AFK_SKIP_LOCKED);
	after = read_text(f.issues);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(count_entries(f.runs), 1);
	free(before);
	free(after);
	fx_close(&f);
}
END_TEST

/* Malformed issue files: each fails the tick with AFK_EPARSE and a
 * message naming the file, the line and what is wrong. */
static const struct {
	const char *text;
	const char *want;  /* in the message, after the file's name */
} malformed[] = {
	{"{'issues': [\n", ":2: invalid JSON: "},
	{"", ":1: invalid JSON: "},
	{"[]\n", "expected an object with an array \"issues\""},
	{"{'issues': {}}\n", "expected an object with an array \"issues\""},
	{"{'issues': [\n 7\n]}\n", ":2: issues[0]: expected an object"},
	{"{'issues': [\n {'number': 1}\n]}\n",
	 "issues[0].repo: expected a non-empty string"},
	{"{'issues': [{'repo': '', 'number': 1}]}\n",
	 "issues[0].repo: expected a non-empty string"},
	{"{'issues': [\n {'repo': 'acme/api', 'number': 1},\n"
	 " {'repo': 'acme/api', 'number': 1},\n"
	 " {'repo': 'acme/api', 'number': 1},\n"
	 " {'repo': 'acme/api',\n  'number': 0}\n]}\n",
	 ":6: issues[3].number: expected a positive integer"},
	{"{'issues': [{'repo': 'acme/api'}]}\n",
	 "issues[0].number: expected a positive integer"},
	{"{'issues': [{'repo': 'acme/api', 'number': '12'}]}\n",
	 "issues[0].number: expected a positive integer"},
	{"{'issues': [{'repo': 'acme/api', 'number': 1.5}]}\n",
	 "issues[0].number: expected a positive integer"},
	{"{'issues': [{'repo': 'acme/api', 'number': -3}]}\n",
	 "issues[0].number: expected a positive integer"},
	{"{'issues': [{'repo': 'a', 'number': 1, 'priority': 'hi'}]}",
	 "issues[0].priority: expected an integer"},
	{"{'issues': [{'repo': 'a', 'number': 1, "
	 "'priority': 99999999999}]}",
	 "issues[0].priority: expected an integer"},
	{"{'issues': [{'repo': 'a', 'number': 1, 'title': 5}]}",
	 "issues[0].title: expected a string"},
	{"{'issues': [{'repo': 'a', 'number': 1, 'state': 'Open'}]}",
	 "issues[0].state: expected \"open\" or \"closed\""},
	{"{'issues': [{'repo': 'a', 'number': 1, 'labeled_by': 1}]}",
	 "issues[0].labeled_by: expected a string or null"},
	{"{'issues': [{'repo': 'a', 'number': 1, 'labels': 'x'}]}",
	 "issues[0].labels: expected an array"},
	{"{'issues': [{'repo': 'a', 'number': 1, "
	 "'labels': ['x', 2]}]}",
	 "issues[0].labels[1]: expected a non-empty string"},
	{"{'issues': [{'repo': 'a', 'number': 1, 'blocked_by': 3}]}",
	 "issues[0].blocked_by: expected an array"},
	{"{'issues': [{'repo': 'a', 'number': 1, "
	 "'blocked_by': [3, 0]}]}",
	 "issues[0].blocked_by[1]: expected a positive integer"},
	{"{'issues': [\n{'repo': 'a', 'number': 1},\n"
	 "{'repo': 'a', 'number': 1}\n]}",
	 ":3: issues[1]: the same repo and number as issues[0]"},
	{"{'issues': [{'repo': 'a', 'repo': 'b', 'number': 1}]}",
	 "duplicate object key"},
};

START_TEST(test_malformed_file)
{
	fx f;
	char want[2 * PATHLEN];
	const char *msg, *at;

	fx_open(&f, malformed[_i].text, NULL, NULL);
	ck_assert_int_eq(fx_tick(&f), AFK_EPARSE);
	msg = afk_poller_errmsg(f.poller);
	ck_assert_msg(strstr(msg, f.issues) != NULL, "no file name in: %s",
	              msg);
	ck_assert_msg(strstr(msg, malformed[_i].want) != NULL,
	              "case %d: want \"%s\" in: %s", _i, malformed[_i].want,
	              msg);
	snprintf(want, sizeof(want), "%s:", f.issues);
	at = strstr(msg, want);
	ck_assert_msg(at != NULL && at[strlen(want)] >= '1' &&
	              at[strlen(want)] <= '9', "no line in: %s", msg);
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 0);
	ck_assert_int_eq(count_entries(f.dir), 2); /* no runs/ either */
	fx_close(&f);
}
END_TEST

START_TEST(test_missing_file)
{
	fx f;
	const char *msg;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	ck_assert_int_eq(unlink(f.issues), 0);
	ck_assert_int_eq(fx_tick(&f), AFK_EIO);
	msg = afk_poller_errmsg(f.poller);
	ck_assert_msg(strstr(msg, f.issues) != NULL, "%s", msg);
	ck_assert_msg(strstr(msg, strerror(ENOENT)) != NULL, "%s", msg);
	fx_close(&f);
}
END_TEST

/* The agent deletes the issue from the file while it runs: the label
 * has nothing to go on, and the tick says so. */
START_TEST(test_label_issue_gone)
{
	fx f;
	char script[2 * PATHLEN];
	const char *msg;

	snprintf(script, sizeof(script), "#!/bin/sh\n"
	         "echo '{\"issues\": []}' > \"$ISSUES_FILE\"\n");
	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 12,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'bob'}]}",
	        script, NULL);
	ck_assert_int_eq(setenv("ISSUES_FILE", f.issues, 1), 0);
	ck_assert_int_eq(fx_tick(&f), AFK_ELABEL);
	unsetenv("ISSUES_FILE");
	msg = afk_poller_errmsg(f.poller);
	ck_assert_msg(strstr(msg, "acme/api#12 is not in") != NULL, "%s", msg);
	ck_assert_msg(strstr(msg, f.issues) != NULL, "%s", msg);
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	fx_close(&f);
}
END_TEST

/* A label already there is not added twice, and the file is not
 * rewritten for it: here the agent itself stamps the label while it runs,
 * and the bytes it wrote stay. */
START_TEST(test_label_idempotent)
{
	static const char stamped[] =
		"{\"issues\": [{\"repo\": \"acme/api\", \"number\": 1,"
		" \"labels\": [\"agent-in-progress\", \"ready-for-agent\"],"
		" \"labeled_by\": \"bob\"}]}\n";
	char script[sizeof(stamped) + 128];
	fx f;
	char *after;

	snprintf(script, sizeof(script), "#!/bin/sh\n"
	         "cat > \"$ISSUES_FILE\" <<'EOF'\n%sEOF\n", stamped);
	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 1,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'bob'}]}",
	        script, NULL);
	ck_assert_int_eq(setenv("ISSUES_FILE", f.issues, 1), 0);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	unsetenv("ISSUES_FILE");
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	after = read_text(f.issues);
	ck_assert_str_eq(after, stamped);
	free(after);
	fx_close(&f);
}
END_TEST

/* --- the command agent ----------------------------------------------- */

static const char *const env_script =
	"#!/bin/sh\n"
	"echo \"repo=$AFK_REPO issue=$AFK_ISSUE thread=$AFK_THREAD_ID\"\n"
	"echo \"run_dir=$AFK_RUN_DIR\"\n"
	"echo \"pwd=$(pwd -P)\"\n"
	"echo \"args=$*\"\n"
	"echo \"passed=$AFK_TEST_PASSED\"\n"
	/* The environment as exec passed it, before the shell dedups it. */
	"if [ -r /proc/$$/environ ]; then\n"
	"  n=$(tr '\\0' '\\n' < /proc/$$/environ | grep -c '^AFK_REPO=')\n"
	"else n=1; fi\n"
	"echo \"AFK_REPO entries=$n\"\n"
	"echo \"stdin:\"\n"
	"cat\n"
	"echo \"to stderr\" >&2\n"
	"exit 3\n";

START_TEST(test_command_run_dir)
{
	fx f;
	char want[PATH_MAX + 4 * PATHLEN], real[PATH_MAX];
	char *prompt, *log, *status;

	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 12,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'alice'}]}",
	        env_script, NULL);
	/* A stale value in the host's environment is replaced, others
	 * pass through. */
	ck_assert_int_eq(setenv("AFK_REPO", "stale/value", 1), 0);
	ck_assert_int_eq(setenv("AFK_TEST_PASSED", "yes", 1), 0);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	unsetenv("AFK_REPO");
	unsetenv("AFK_TEST_PASSED");
	/* Exit status 3 is still a dispatch: the thread ran. */
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-1");
	ck_assert(file_has_label(&f, "acme/api", 12, "agent-in-progress"));

	prompt = read_text(run_path(&f, "acme-api-12-1", "prompt.txt"));
	ck_assert_ptr_nonnull(prompt);
	ck_assert_msg(strstr(prompt, "acme/api#12") != NULL, "%s", prompt);
	log = read_text(run_path(&f, "acme-api-12-1", "output.log"));
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "repo=acme/api issue=12 "
	                     "thread=acme-api-12-1\n") != NULL, "%s", log);
	ck_assert_ptr_nonnull(realpath(run_path(&f, "acme-api-12-1", NULL),
	                               real));
	snprintf(want, sizeof(want), "pwd=%s\n", real);
	ck_assert_msg(strstr(log, want) != NULL, "%s", log);
	snprintf(want, sizeof(want), "run_dir=%s\n",
	         run_path(&f, "acme-api-12-1", NULL));
	ck_assert_msg(strstr(log, want) != NULL, "%s", log);
	ck_assert_msg(strstr(log, "args=--flag\n") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "passed=yes\n") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "AFK_REPO entries=1\n") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "to stderr\n") != NULL, "%s", log);
	/* stdin was the prompt, whole. */
	snprintf(want, sizeof(want), "stdin:\n%s", prompt);
	ck_assert_msg(strstr(log, want) != NULL, "%s", log);
	status = read_text(run_path(&f, "acme-api-12-1", "exit_status"));
	ck_assert_ptr_nonnull(status);
	ck_assert_str_eq(status, "exited 3\n");
	free(prompt);
	free(log);
	free(status);
	fx_close(&f);
}
END_TEST

START_TEST(test_command_exit_zero_and_signal)
{
	fx f;
	char *status;

	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 1,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'alice'},"
	        " {'repo': 'acme/web', 'number': 2,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'alice'}]}",
	        "#!/bin/sh\n"
	        "[ \"$AFK_ISSUE\" = 2 ] && kill -9 $$\n"
	        "exit 0\n", NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 2);
	status = read_text(run_path(&f, "acme-api-1-1", "exit_status"));
	ck_assert_ptr_nonnull(status);
	ck_assert_str_eq(status, "exited 0\n");
	free(status);
	status = read_text(run_path(&f, "acme-web-2-1", "exit_status"));
	ck_assert_ptr_nonnull(status);
	ck_assert_str_eq(status, "killed by signal 9\n");
	free(status);
	fx_close(&f);
}
END_TEST

START_TEST(test_command_successive_ids)
{
	static const char text[] =
		"{'issues': [{'repo': 'acme/api', 'number': 7,"
		" 'labels': ['ready-for-agent'], 'labeled_by': 'alice'}]}";
	fx f;
	int k;

	fx_open(&f, text, NULL, NULL);
	for (k = 1; k <= 3; k++) {
		char want[64];

		/* A human dropped the lock: the issue runs again, in a
		 * fresh run directory. */
		write_issues(f.issues, text);
		ck_assert_msg(fx_tick(&f) == 0, "%s",
		              afk_poller_errmsg(f.poller));
		snprintf(want, sizeof(want), "acme-api-7-%d", k);
		ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
		ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
		                 want);
		ck_assert(exists(run_path(&f, want, "output.log")));
	}
	ck_assert_int_eq(count_entries(f.runs), 3);
	fx_close(&f);
}
END_TEST

/* The state directory is made with its parents when missing. */
START_TEST(test_command_state_dir_parents)
{
	fx f;
	char deep[2 * PATHLEN], run[3 * PATHLEN];

	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 1,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'alice'}]}",
	        NULL, NULL);
	snprintf(deep, sizeof(deep), "%s/a/b/c", f.runs);
	cfg_set(f.cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"], \"state_dir\": \"%s\"}", f.script, deep);
	ck_assert_int_eq(afk_agent_set_builtin(f.agent, f.cfg), 0);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	snprintf(run, sizeof(run), "%s/acme-api-1-1/exit_status", deep);
	ck_assert(exists(run));
	fx_close(&f);
}
END_TEST

/* A command that cannot start fails the dispatch: no run directory is
 * left, and the issue is not locked. */
static const struct {
	const char *command;  /* NULL: the fixture's script */
	const char *script;   /* its text, when the script */
	mode_t mode;          /* its mode, when the script */
} unstartable[] = {
	{"afk-no-such-command-for-check-builtin", NULL, 0},
	{"/nonexistent/afk-agent", NULL, 0},
	/* No execute bit at all: refused even to root. */
	{NULL, "#!/bin/sh\nexit 0\n", 0644},
	/* Executable but no #! line: execve() itself fails, in the child
	 * (no shell is tried, unlike execvp). */
	{NULL, "echo no interpreter line\n", 0755},
};

START_TEST(test_command_cannot_start)
{
	static const char text[] =
		"{'issues': [{'repo': 'acme/api', 'number': 1,"
		" 'labels': ['ready-for-agent'], 'labeled_by': 'alice'}]}";
	fx f;
	char want[2 * PATHLEN];
	const char *msg, *argv0;
	char *after, *want_text;

	fx_open(&f, text, unstartable[_i].script, unstartable[_i].command);
	argv0 = unstartable[_i].command ? unstartable[_i].command : f.script;
	if (unstartable[_i].command == NULL)
		ck_assert_int_eq(chmod(f.script, unstartable[_i].mode), 0);
	ck_assert_int_eq(fx_tick(&f), AFK_EIO);
	msg = afk_poller_errmsg(f.poller);
	snprintf(want, sizeof(want), "cannot run agent command '%s': ", argv0);
	ck_assert_msg(strstr(msg, want) != NULL, "%s", msg);
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 0);
	ck_assert_int_eq(skipped(f.result, "acme/api", 1),
	                 AFK_SKIP_DISPATCH_FAILED);
	ck_assert_int_eq(count_entries(f.runs), 0);
	after = read_text(f.issues);
	want_text = dq(text);
	ck_assert_str_eq(after, want_text);
	free(after);
	free(want_text);
	fx_close(&f);
}
END_TEST

/* --- registration ---------------------------------------------------- */

START_TEST(test_builtin_needs_config)
{
	afk_config *cfg;
	afk_tracker *t;
	afk_agent *a;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_int_eq(afk_tracker_new(&t), 0);
	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_int_eq(afk_tracker_set_builtin(t, cfg), AFK_ECONFIG);
	ck_assert_str_ne(afk_tracker_errmsg(t), "");
	ck_assert_msg(strstr(afk_tracker_errmsg(t), "tracker") != NULL, "%s",
	              afk_tracker_errmsg(t));
	ck_assert_int_eq(afk_agent_set_builtin(a, cfg), AFK_ECONFIG);
	ck_assert_str_ne(afk_agent_errmsg(a), "");
	ck_assert_msg(strstr(afk_agent_errmsg(a), "agent") != NULL, "%s",
	              afk_agent_errmsg(a));
	/* A tracker alone does not make an agent. */
	cfg_set(cfg, "tracker", "{\"kind\": \"file\", \"path\": \"/x.json\"}");
	ck_assert_int_eq(afk_tracker_set_builtin(t, cfg), 0);
	ck_assert_str_eq(afk_tracker_errmsg(t), "");
	ck_assert_int_eq(afk_agent_set_builtin(a, cfg), AFK_ECONFIG);
	afk_agent_free(a);
	afk_tracker_free(t);
	afk_config_free(cfg);
}
END_TEST

/* Registering twice replaces the userdata; the first is destroyed (no
 * leak under valgrind). */
START_TEST(test_builtin_twice)
{
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	ck_assert_int_eq(afk_tracker_set_builtin(f.tracker, f.cfg), 0);
	ck_assert_int_eq(afk_agent_set_builtin(f.agent, f.cfg), 0);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	fx_close(&f);
}
END_TEST

static Suite *builtin_suite(void)
{
	Suite *s = suite_create("builtin");
	TCase *tc = tcase_create("file");

	tcase_add_test(tc, test_lists_open_ready_allowlisted);
	tcase_add_test(tc, test_trust_from_labeled_by);
	tcase_add_test(tc, test_blockers_open_closed_absent);
	tcase_add_test(tc, test_label_written_order_kept);
	tcase_add_test(tc, test_second_tick_locked);
	tcase_add_test(tc, test_in_progress_without_ready_label_locks);
	tcase_add_loop_test(tc, test_malformed_file, 0,
	                    (int)(sizeof(malformed) / sizeof(malformed[0])));
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_label_issue_gone);
	tcase_add_test(tc, test_label_idempotent);
	suite_add_tcase(s, tc);

	tc = tcase_create("command");
	tcase_add_test(tc, test_command_run_dir);
	tcase_add_test(tc, test_command_exit_zero_and_signal);
	tcase_add_test(tc, test_command_successive_ids);
	tcase_add_test(tc, test_command_state_dir_parents);
	tcase_add_loop_test(tc, test_command_cannot_start, 0,
	                    (int)(sizeof(unstartable) /
	                          sizeof(unstartable[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("registration");
	tcase_add_test(tc, test_builtin_needs_config);
	tcase_add_test(tc, test_builtin_twice);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(builtin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
