/*
 * tests/builtin/check_builtin.c - the built-in adapters (file tracker, command
 * agent, command CI, stdout, file and command notifiers), driven through
 * real poll and watch ticks and checked on disk.  Failures a tick cannot
 * easily provoke are reached by calling a registered callback directly,
 * as the tick would, through the library's internal call
 * (lib/core/adapter.h).
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
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <jansson.h>

#include <signal.h>
#include <sys/file.h>
#include <time.h>

#include "afk/afk.h"
#include "core/adapter.h"   /* the call, to run one callback directly */
#include "builtin/spawn.h" /* the child's deadline, process group and fds */

/* --- fixture --------------------------------------------------------- */

#define PATHLEN 512

/* A temporary directory holding issues.json, agent.sh and runs/, a
 * configuration over them and a poller; after fx_watch() also ci.sh,
 * notes.log and a watcher. */
typedef struct fx {
	char dir[64];
	char issues[PATHLEN];
	char script[PATHLEN];
	char runs[PATHLEN];
	char ci_script[PATHLEN];
	char notes[PATHLEN];
	afk_config *cfg;
	afk_tracker *tracker;
	afk_agent *agent;
	afk_ci *ci;
	afk_notifier *notifier;
	afk_poller *poller;
	afk_watcher *watcher;
	afk_result *result;
	afk_actions *actions;
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

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Waits up to 30 s for path to exist (a detached turn's exit_status,
 * say).  1 when it does. */
static int wait_exists(const char *path)
{
	struct stat st;
	int tries;

	for (tries = 0; tries < 3000; tries++) {
		if (stat(path, &st) == 0)
			return 1;
		nap_ms(10);
	}
	return 0;
}

/* 1 when the lock file path is held by someone (a run's supervisor). */
static int held(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW), h;

	if (fd < 0)
		return 0;
	h = flock(fd, LOCK_EX | LOCK_NB) != 0;
	close(fd);
	return h;
}

/* Kills what a run of dir (a run directory) left running: its command's
 * process group and its supervisor. */
static void kill_run(const char *dir)
{
	static const char *const names[] = {"pid", "supervisor"};
	char path[4 * PATHLEN];
	long long pid;
	size_t i;
	FILE *fp;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fp = fopen(path, "r");
		if (fp == NULL)
			continue;
		if (fscanf(fp, "%lld", &pid) == 1 && pid > 1 && i == 0)
			killpg((pid_t)pid, SIGKILL);
		else if (pid > 1)
			kill((pid_t)pid, SIGKILL);
		fclose(fp);
	}
}

/* Waits until no run of the fixture runs a turn: every run directory's
 * lock is free (its supervisor ended).  The command agent runs detached,
 * so a test that reads what a turn did waits for it first.  Past
 * seconds, what still runs is killed and 0 returned; else 1. */
static int fx_settle_within(const fx *f, int seconds)
{
	char path[3 * PATHLEN];
	struct dirent *e;
	int tries, busy = 1;
	DIR *d;

	for (tries = 0; tries < seconds * 100 && busy; tries++) {
		busy = 0;
		d = opendir(f->runs);
		if (d == NULL)
			return 1;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/lock", f->runs,
			         e->d_name);
			busy |= held(path);
		}
		closedir(d);
		if (busy)
			nap_ms(10);
	}
	if (!busy)
		return 1;
	d = opendir(f->runs);
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->runs, e->d_name);
		kill_run(path);
	}
	if (d != NULL)
		closedir(d);
	nap_ms(100);
	return 0;
}

static void fx_settle(const fx *f)
{
	ck_assert_msg(fx_settle_within(f, 30), "an agent still runs");
}

/* Runs one tick, keeping its result in f->result, and waits for the
 * agents it started to end. */
static int fx_tick(fx *f)
{
	int rc;

	afk_result_free(f->result);
	f->result = NULL;
	rc = afk_poller_run_once(f->poller, f->cfg, &f->result);
	ck_assert_ptr_nonnull(f->result);
	fx_settle(f);
	return rc;
}

/* Gives the agent command the variables names (a JSON array) of ours
 * beyond the minimal environment: its configuration's "env". */
static void fx_agent_env(fx *f, const char *names)
{
	cfg_set(f->cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\", \"--flag\"], \"state_dir\": \"%s\", \"env\": %s}",
	        f->script, f->runs, names);
	ck_assert_msg(afk_agent_set_builtin(f->agent, f->cfg) == 0, "%s",
	              afk_agent_errmsg(f->agent));
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
	if (f->runs[0] != '\0')
		fx_settle_within(f, 30); /* never an agent left running */
	afk_result_free(f->result);
	afk_actions_free(f->actions);
	afk_poller_free(f->poller);
	afk_watcher_free(f->watcher);
	afk_notifier_free(f->notifier);
	afk_ci_free(f->ci);
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

static const char *lock_path(const fx *f)
{
	static char path[PATHLEN + 8];

	snprintf(path, sizeof(path), "%s.lock", f->issues);
	return path;
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
		"number", "x-note", "repo", "labels", "labeled_by", "title",
		"comments"
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
		ck_assert_uint_lt(i, 7);
		ck_assert_str_eq(key, order[i]);
		i++;
	}
	ck_assert_uint_eq(i, 7);
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

	/* Same mode; no temporary file left beside it, only the lock. */
	ck_assert_int_eq(stat(f.issues, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(count_entries(f.dir), 4); /* issues, agent, runs */
	ck_assert(exists(lock_path(&f)));
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
	{"{'issues': [{'repo': 'a', 'number': 1, 'url': 5}]}",
	 "issues[0].url: expected a string or null"},
	{"{'issues': [{'repo': 'a', 'number': 1, 'comments': {}}]}",
	 "issues[0].comments: expected an array"},
	{"{'issues': [{'repo': 'a', 'number': 1, 'comments': [\n"
	 "{'body': 'x'},\n{'text': 'y'}]}]}",
	 ":3: issues[0].comments[1]: expected an object with a string "
	 "\"body\""},
	{"{'issues': [{'repo': 'a', 'number': 1, 'comments': [7]}]}",
	 "issues[0].comments[0]: expected an object with a string \"body\""},
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

/* 1 when s holds a control character (a line break, an escape). */
static int has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Found by fuzz/file.c: jansson quotes the bytes it stopped at, and the
 * file's raw control characters reached the message (a log line, a
 * terminal).  The reason and the place stay. */
START_TEST(test_malformed_file_message_one_line)
{
	const char *msg;
	fx f;

	fx_open(&f, "{'issues': [\n \x17\x1b[2J\x07 ]}\n", NULL, NULL);
	ck_assert_int_eq(fx_tick(&f), AFK_EPARSE);
	msg = afk_poller_errmsg(f.poller);
	ck_assert_msg(strstr(msg, ":2: invalid JSON: ") != NULL, "%s", msg);
	ck_assert_msg(strstr(msg, "column ") != NULL, "%s", msg);
	ck_assert_msg(!has_control(msg), "a control character in: %s", msg);
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

static int t_label(fx *f, afk_call *c, long number, const char *label,
                   int add);
static const char *msg_of(const afk_call *call);

/* The issue deleted from the file while its agent runs (by the agent
 * itself, say): a label has nothing to go on then, and the tracker says
 * so.  (The poll's own failure to label is check_poller's.) */
START_TEST(test_label_issue_gone)
{
	fx f;
	afk_call c;

	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 12,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'bob'}]}",
	        NULL, NULL);
	ck_assert_int_eq(fx_tick(&f), 0);
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	write_issues(f.issues, "{'issues': []}");
	ck_assert_int_eq(t_label(&f, &c, 12, "agent-in-progress", 0),
	                 AFK_ECALLBACK);
	ck_assert_msg(strstr(msg_of(&c), "acme/api#12 is not in") != NULL,
	              "%s", msg_of(&c));
	ck_assert_msg(strstr(msg_of(&c), f.issues) != NULL, "%s", msg_of(&c));
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* A label already there is not added twice: here the issue was stamped
 * with it (by the agent, say) after the dispatch.  (The file is still
 * rewritten: the poll adds the run's record comment.) */
START_TEST(test_label_idempotent)
{
	static const char stamped[] =
		"{'issues': [{'repo': 'acme/api', 'number': 1,"
		" 'labels': ['agent-in-progress', 'ready-for-agent'],"
		" 'labeled_by': 'bob'}]}\n";
	afk_call c;
	fx f;
	char *after;
	json_t *o;

	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 1,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'bob'}]}",
	        NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	o = file_issue(&f, "acme/api", 1);
	ck_assert_uint_eq(json_array_size(json_object_get(o, "comments")), 1);
	json_decref(o);
	write_issues(f.issues, stamped);
	ck_assert_int_eq(t_label(&f, &c, 1, "agent-in-progress", 1), 0);
	afk__call_clear(&c);
	o = file_issue(&f, "acme/api", 1);
	after = json_dumps(json_object_get(o, "labels"), JSON_COMPACT);
	ck_assert_str_eq(after, "[\"agent-in-progress\",\"ready-for-agent\"]");
	free(after);
	json_decref(o);
	fx_close(&f);
}
END_TEST

/* --- the command agent ----------------------------------------------- */

static const char *const env_script =
	"#!/bin/sh\n"
	"echo \"repo=$AFK_REPO issue=$AFK_ISSUE thread=$AFK_THREAD_ID\"\n"
	"echo \"run_dir=$AFK_RUN_DIR turn=$AFK_TURN\"\n"
	"echo \"pwd=$(pwd -P)\"\n"
	"echo \"args=$*\"\n"
	"echo \"passed=$AFK_TEST_PASSED\"\n"
	"echo \"held=${AFK_TEST_HELD-unset}\"\n"
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
	/* A stale value in the host's environment is replaced even when
	 * "env" names it; what "env" names passes through, and nothing else
	 * does (the environment rule). */
	fx_agent_env(&f, "[\"AFK_TEST_PASSED\", \"AFK_REPO\"]");
	ck_assert_int_eq(setenv("AFK_REPO", "stale/value", 1), 0);
	ck_assert_int_eq(setenv("AFK_TEST_PASSED", "yes", 1), 0);
	ck_assert_int_eq(setenv("AFK_TEST_HELD", "no", 1), 0);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	unsetenv("AFK_REPO");
	unsetenv("AFK_TEST_PASSED");
	unsetenv("AFK_TEST_HELD");
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
	snprintf(want, sizeof(want), "run_dir=%s turn=1\n",
	         run_path(&f, "acme-api-12-1", NULL));
	ck_assert_msg(strstr(log, want) != NULL, "%s", log);
	ck_assert_msg(strstr(log, "args=--flag\n") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "passed=yes\n") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "held=unset\n") != NULL, "%s", log);
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
	ck_assert(wait_exists(run));
	fx_close(&f);
}
END_TEST

/* Without agent.state_dir the runs go in "runs" of the configuration's
 * state directory; with neither, the agent is not set up, and says what
 * to set. */
START_TEST(test_command_runs_in_the_state_dir)
{
	fx f;
	char state[2 * PATHLEN], run[3 * PATHLEN];

	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 1,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'alice'}]}",
	        NULL, NULL);
	cfg_set(f.cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"]}", f.script);
	ck_assert_int_eq(afk_agent_set_builtin(f.agent, f.cfg), AFK_ECONFIG);
	ck_assert_msg(strstr(afk_agent_errmsg(f.agent), "agent.state_dir: "
	              "agent (command): no directory for the runs: set "
	              "\"state_dir\"") != NULL, "%s",
	              afk_agent_errmsg(f.agent));
	snprintf(state, sizeof(state), "%s/state", f.dir);
	cfg_set(f.cfg, "state_dir", "\"%s\"", state);
	ck_assert_msg(afk_agent_set_builtin(f.agent, f.cfg) == 0, "%s",
	              afk_agent_errmsg(f.agent));
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	snprintf(run, sizeof(run), "%s/runs/acme-api-1-1/exit_status", state);
	ck_assert_msg(wait_exists(run), "no %s", run);
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

/* --- calling one callback directly ----------------------------------- */

/* A call of kind, as a tick makes it; the caller clears it with
 * afk__call_clear(). */
static afk_call *call_of(afk_call *call, enum afk__call_kind kind)
{
	afk__call_init(call, kind, NULL);
	return call;
}

static const char *msg_of(const afk_call *call)
{
	return call->message ? call->message : "";
}

static int t_find(fx *f, afk_call *c, long number, const char *marker)
{
	return f->tracker->find_comment(call_of(c, AFK__CALL_FIND_COMMENT),
	                                "acme/api", number, marker,
	                                f->tracker->userdata);
}

static int t_upsert(fx *f, afk_call *c, long number, const char *marker,
                    const char *body)
{
	return f->tracker->upsert_comment(call_of(c, AFK__CALL_UPSERT_COMMENT),
	                                  "acme/api", number, marker, body,
	                                  f->tracker->userdata);
}

static int t_label(fx *f, afk_call *c, long number, const char *label,
                   int add)
{
	if (add)
		return f->tracker->add_label(call_of(c, AFK__CALL_ADD_LABEL),
		                             "acme/api", number, label,
		                             f->tracker->userdata);
	return f->tracker->remove_label(call_of(c, AFK__CALL_REMOVE_LABEL),
	                                "acme/api", number, label,
	                                f->tracker->userdata);
}

static int t_close(fx *f, afk_call *c, long number)
{
	return f->tracker->close_issue(call_of(c, AFK__CALL_CLOSE_ISSUE),
	                               "acme/api", number,
	                               f->tracker->userdata);
}

static int a_snapshot(fx *f, afk_call *c, const char *thread)
{
	return f->agent->snapshot(call_of(c, AFK__CALL_SNAPSHOT), thread,
	                          f->agent->userdata);
}

/* send_turn as the watch tick calls it; returns at once. */
static int a_turn_start(fx *f, afk_call *c, const char *thread,
                        const char *prompt)
{
	return f->agent->send_turn(call_of(c, AFK__CALL_SEND_TURN), thread,
	                           prompt, f->agent->userdata);
}

/* send_turn, and waits for the turn to end. */
static int a_turn(fx *f, afk_call *c, const char *thread, const char *prompt)
{
	int rc = a_turn_start(f, c, thread, prompt);

	fx_settle(f);
	return rc;
}

static int c_status(fx *f, afk_call *c, const char *repo, long number)
{
	return f->ci->status(call_of(c, AFK__CALL_CI_STATUS), repo, number,
	                     f->ci->userdata);
}

static int n_notify(fx *f, afk_call *c, const char *message,
                    const char *link)
{
	return f->notifier->notify(call_of(c, AFK__CALL_NOTIFY), "acme/api", 1,
	                           message, link, f->notifier->userdata);
}

/* The inode of the file: a file replaced by rename has a new one, so an
 * unchanged inode proves that nothing was written. */
static ino_t inode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_ino;
}

/* The number of comments of repo#number, and in *marked how many of
 * them contain marker. */
static size_t comments_of(const fx *f, const char *repo, long number,
                          const char *marker, size_t *marked)
{
	json_t *o = file_issue(f, repo, number), *c;
	size_t k, n;

	n = json_array_size(json_object_get(o, "comments"));
	*marked = 0;
	json_array_foreach(json_object_get(o, "comments"), k, c) {
		if (strstr(json_string_value(json_object_get(c, "body")),
		           marker) != NULL)
			(*marked)++;
	}
	json_decref(o);
	return n;
}

/* The body of comment k of repo#number, in a static buffer. */
static const char *comment_body(const fx *f, const char *repo, long number,
                                size_t k)
{
	static char buf[4096];
	json_t *o = file_issue(f, repo, number);
	json_t *c = json_array_get(json_object_get(o, "comments"), k);

	ck_assert_ptr_nonnull(c);
	snprintf(buf, sizeof(buf), "%s",
	         json_string_value(json_object_get(c, "body")));
	json_decref(o);
	return buf;
}

/* --- the file tracker: comments, closing, removing ----------------- */

START_TEST(test_comments_find_and_upsert)
{
	afk_call c;
	fx f;
	size_t marked;
	ino_t ino;

	fx_open(&f,
	        "{'issues': [\n"
	        " {'repo': 'acme/api', 'number': 1, 'url': 'https://t/1',"
	        "  'comments': [{'author': 'bob', 'body': 'hello'}]},\n"
	        " {'repo': 'acme/api', 'number': 2}\n"
	        "]}\n", NULL, NULL);
	/* None yet: nothing reported, but the address is. */
	ck_assert_int_eq(t_find(&f, &c, 1, "<!-- m:"), 0);
	ck_assert_ptr_null(c.comment);
	ck_assert_pstr_eq(c.url, "https://t/1");
	afk__call_clear(&c);
	/* Added after the others, which stay as they were. */
	ck_assert_int_eq(t_upsert(&f, &c, 1, "<!-- m:", "<!-- m: 1 -->\nfirst"),
	                 0);
	afk__call_clear(&c);
	ck_assert_uint_eq(comments_of(&f, "acme/api", 1, "<!-- m:", &marked),
	                  2);
	ck_assert_uint_eq(marked, 1);
	ck_assert_str_eq(comment_body(&f, "acme/api", 1, 0), "hello");
	ck_assert_int_eq(t_find(&f, &c, 1, "<!-- m:"), 0);
	ck_assert_pstr_eq(c.comment, "<!-- m: 1 -->\nfirst");
	afk__call_clear(&c);
	/* Replaced in place: never a second comment with the marker. */
	ck_assert_int_eq(t_upsert(&f, &c, 1, "<!-- m:",
	                          "<!-- m: 2 -->\nsecond"), 0);
	afk__call_clear(&c);
	ck_assert_uint_eq(comments_of(&f, "acme/api", 1, "<!-- m:", &marked),
	                  2);
	ck_assert_uint_eq(marked, 1);
	ck_assert_str_eq(comment_body(&f, "acme/api", 1, 1),
	                 "<!-- m: 2 -->\nsecond");
	/* The same body again: the file is not even rewritten. */
	ino = inode_of(f.issues);
	ck_assert_int_eq(t_upsert(&f, &c, 1, "<!-- m:",
	                          "<!-- m: 2 -->\nsecond"), 0);
	afk__call_clear(&c);
	ck_assert(inode_of(f.issues) == ino);
	/* An issue without "comments" gets the member; without "url" no
	 * address is reported. */
	ck_assert_int_eq(t_upsert(&f, &c, 2, "<!-- m:", "<!-- m: x -->"), 0);
	afk__call_clear(&c);
	ck_assert_int_eq(t_find(&f, &c, 2, "<!-- m:"), 0);
	ck_assert_pstr_eq(c.comment, "<!-- m: x -->");
	ck_assert_ptr_null(c.url);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* Two comments with the marker (a human copied one): the first is the
 * one found and the one replaced. */
START_TEST(test_comments_first_marked_wins)
{
	afk_call c;
	fx f;
	size_t marked;

	fx_open(&f,
	        "{'issues': [{'repo': 'acme/api', 'number': 1, 'comments': ["
	        " {'body': 'no marker'}, {'body': 'A <!-- m: --> a'},"
	        " {'body': 'B <!-- m: --> b'}]}]}\n", NULL, NULL);
	ck_assert_int_eq(t_find(&f, &c, 1, "<!-- m:"), 0);
	ck_assert_pstr_eq(c.comment, "A <!-- m: --> a");
	afk__call_clear(&c);
	ck_assert_int_eq(t_upsert(&f, &c, 1, "<!-- m:", "<!-- m: --> new"), 0);
	afk__call_clear(&c);
	ck_assert_uint_eq(comments_of(&f, "acme/api", 1, "<!-- m:", &marked),
	                  3);
	ck_assert_uint_eq(marked, 2);
	ck_assert_str_eq(comment_body(&f, "acme/api", 1, 1), "<!-- m: --> new");
	ck_assert_str_eq(comment_body(&f, "acme/api", 1, 2), "B <!-- m: --> b");
	fx_close(&f);
}
END_TEST

START_TEST(test_close_and_remove_label)
{
	afk_call c;
	fx f;
	json_t *o;
	char *labels;
	ino_t ino;

	fx_open(&f,
	        "{'issues': [\n"
	        " {'repo': 'acme/api', 'number': 1, 'labels': ['a', 'b', 'a']},\n"
	        " {'repo': 'acme/api', 'number': 2, 'state': 'closed'}\n"
	        "]}\n", NULL, NULL);
	/* Every copy goes. */
	ck_assert_int_eq(t_label(&f, &c, 1, "a", 0), 0);
	afk__call_clear(&c);
	o = file_issue(&f, "acme/api", 1);
	labels = json_dumps(json_object_get(o, "labels"), JSON_COMPACT);
	ck_assert_str_eq(labels, "[\"b\"]");
	free(labels);
	json_decref(o);
	/* Absent: success, and no write. */
	ino = inode_of(f.issues);
	ck_assert_int_eq(t_label(&f, &c, 1, "zzz", 0), 0);
	afk__call_clear(&c);
	ck_assert_int_eq(t_label(&f, &c, 2, "zzz", 0), 0); /* no labels */
	afk__call_clear(&c);
	ck_assert(inode_of(f.issues) == ino);
	/* Closing adds the state; closing again writes nothing. */
	ck_assert_int_eq(t_close(&f, &c, 1), 0);
	afk__call_clear(&c);
	o = file_issue(&f, "acme/api", 1);
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")),
	                 "closed");
	json_decref(o);
	ino = inode_of(f.issues);
	ck_assert_int_eq(t_close(&f, &c, 1), 0);
	afk__call_clear(&c);
	ck_assert_int_eq(t_close(&f, &c, 2), 0);
	afk__call_clear(&c);
	ck_assert(inode_of(f.issues) == ino);
	fx_close(&f);
}
END_TEST

/* Every callback of the tracker refuses an issue the file does not
 * hold, naming it and the file, and leaves the file alone. */
START_TEST(test_tracker_issue_missing)
{
	static const char text[] = "{'issues': [{'repo': 'acme/api', "
	                           "'number': 1}]}\n";
	char want[2 * PATHLEN], *before, *after;
	afk_call c;
	int k, rc = 0;
	fx f;

	fx_open(&f, text, NULL, NULL);
	before = read_text(f.issues);
	snprintf(want, sizeof(want), "acme/api#99 is not in %s", f.issues);
	for (k = 0; k < 5; k++) {
		switch (k) {
		case 0: rc = t_label(&f, &c, 99, "x", 1); break;
		case 1: rc = t_label(&f, &c, 99, "x", 0); break;
		case 2: rc = t_close(&f, &c, 99); break;
		case 3: rc = t_find(&f, &c, 99, "<!--"); break;
		default: rc = t_upsert(&f, &c, 99, "<!--", "<!-- x"); break;
		}
		ck_assert_int_eq(rc, AFK_ECALLBACK);
		ck_assert_msg(strstr(msg_of(&c), want) != NULL, "%d: %s", k,
		              msg_of(&c));
		afk__call_clear(&c);
	}
	after = read_text(f.issues);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	fx_close(&f);
}
END_TEST

START_TEST(test_tracker_refuses_bad_writes)
{
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': [{'repo': 'acme/api', 'number': 1}]}\n",
	        NULL, NULL);
	/* A body without its marker would make the next find miss it and
	 * add a second one. */
	ck_assert_int_eq(t_upsert(&f, &c, 1, "<!-- m:", "no marker"),
	                 AFK_EINVAL);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "marker"));
	afk__call_clear(&c);
	ck_assert_int_eq(t_upsert(&f, &c, 1, "", "x"), AFK_EINVAL);
	afk__call_clear(&c);
	ck_assert_int_eq(t_upsert(&f, &c, 1, "<!--", "<!-- \xff"),
	                 AFK_EINVAL);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "not valid UTF-8"));
	afk__call_clear(&c);
	ck_assert_int_eq(t_label(&f, &c, 1, "caf\xe9", 1), AFK_EINVAL);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "not valid UTF-8"));
	afk__call_clear(&c);
	ck_assert_uint_eq(count_entries(f.dir), 3); /* no temporary left */
	fx_close(&f);
}
END_TEST

/* The lock file cannot be made: the write fails with AFK_EIO naming it,
 * and the issue file is untouched. */
START_TEST(test_tracker_lock_fails)
{
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': [{'repo': 'acme/api', 'number': 1}]}\n",
	        NULL, NULL);
	ck_assert_int_eq(mkdir(lock_path(&f), 0700), 0); /* not a file */
	ck_assert_int_eq(t_label(&f, &c, 1, "x", 1), AFK_EIO);
	ck_assert_msg(strstr(msg_of(&c), lock_path(&f)) != NULL, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	ck_assert(!file_has_label(&f, "acme/api", 1, "x"));
	ck_assert_int_eq(rmdir(lock_path(&f)), 0);
	fx_close(&f);
}
END_TEST

/* A symbolic link where the lock file goes is not followed: the write
 * fails naming the lock, and whatever the link points to is neither
 * created nor touched. */
START_TEST(test_tracker_lock_link_refused)
{
	char target[PATHLEN + 16], *text;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': [{'repo': 'acme/api', 'number': 1}]}\n",
	        NULL, NULL);
	snprintf(target, sizeof(target), "%s/target", f.dir);
	ck_assert_int_eq(symlink(target, lock_path(&f)), 0);
	ck_assert_int_eq(t_label(&f, &c, 1, "x", 1), AFK_EIO);
	ck_assert_msg(strstr(msg_of(&c), lock_path(&f)) != NULL, "%s",
	              msg_of(&c));
	ck_assert_msg(strstr(msg_of(&c), "symbolic link") != NULL, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	ck_assert(!exists(target));           /* not created through it */
	write_text(target, "theirs\n");
	ck_assert_int_eq(t_label(&f, &c, 1, "x", 1), AFK_EIO);
	afk__call_clear(&c);
	text = read_text(target);
	ck_assert_pstr_eq(text, "theirs\n");
	free(text);
	ck_assert(!file_has_label(&f, "acme/api", 1, "x"));
	fx_close(&f);
}
END_TEST

/* The lock file is the host user's alone, whatever the umask. */
START_TEST(test_tracker_lock_mode)
{
	struct stat st;
	mode_t mask;
	afk_call c;
	int rc;
	fx f;

	fx_open(&f, "{'issues': [{'repo': 'acme/api', 'number': 1}]}\n",
	        NULL, NULL);
	mask = umask(0);
	rc = t_label(&f, &c, 1, "x", 1);
	umask(mask);
	ck_assert_msg(rc == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_int_eq(lstat(lock_path(&f), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	fx_close(&f);
}
END_TEST

/* A FIFO in place of the issue file is refused, naming it, rather than
 * read forever: nobody will ever write to it. */
START_TEST(test_issue_file_fifo)
{
	char want[2 * PATHLEN];
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}\n", NULL, NULL);
	ck_assert_int_eq(unlink(f.issues), 0);
	ck_assert_int_eq(mkfifo(f.issues, 0600), 0);
	snprintf(want, sizeof(want), "%s: cannot read: not a regular file",
	         f.issues);
	ck_assert_int_eq(t_find(&f, &c, 1, "<!--"), AFK_EIO);
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	ck_assert_int_eq(t_label(&f, &c, 1, "x", 1), AFK_EIO);
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	ck_assert_int_eq(fx_tick(&f), AFK_EIO);
	ck_assert_msg(strstr(afk_poller_errmsg(f.poller), want) != NULL, "%s",
	              afk_poller_errmsg(f.poller));
	fx_close(&f);
}
END_TEST

#define RACE_N 25

/* One of two racing processes: RACE_N labels and RACE_N comments of its
 * own on one issue.  Exits 0 when every call succeeded. */
static void race_child(fx *f, int who)
{
	char label[32], marker[32], body[64];
	afk_call c;
	int i, rc;

	for (i = 0; i < RACE_N; i++) {
		snprintf(label, sizeof(label), "l%d-%d", who, i);
		snprintf(marker, sizeof(marker), "<!-- m%d-%d:", who, i);
		snprintf(body, sizeof(body), "%s -->", marker);
		rc = t_label(f, &c, 1, label, 1);
		afk__call_clear(&c);
		if (rc == 0)
			rc = t_upsert(f, &c, 1, marker, body);
		afk__call_clear(&c);
		if (rc != 0)
			_exit(1);
	}
	_exit(0);
}

/* Two processes changing one issue at once: without the lock, one would
 * read the file, the other replace it, and the first write over that -
 * losing a label or a comment. */
START_TEST(test_concurrent_writers_lose_nothing)
{
	char label[32], marker[32];
	pid_t pid[2];
	int who, i, status;
	size_t marked;
	fx f;

	fx_open(&f, "{'issues': [{'repo': 'acme/api', 'number': 1}]}\n",
	        NULL, NULL);
	for (who = 0; who < 2; who++) {
		pid[who] = fork();
		ck_assert_int_ge(pid[who], 0);
		if (pid[who] == 0)
			race_child(&f, who);
	}
	for (who = 0; who < 2; who++) {
		ck_assert_int_eq(waitpid(pid[who], &status, 0), pid[who]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		              "writer %d failed: status %d", who, status);
	}
	for (who = 0; who < 2; who++) {
		for (i = 0; i < RACE_N; i++) {
			snprintf(label, sizeof(label), "l%d-%d", who, i);
			snprintf(marker, sizeof(marker), "<!-- m%d-%d:", who, i);
			ck_assert_msg(file_has_label(&f, "acme/api", 1, label),
			              "lost %s", label);
			comments_of(&f, "acme/api", 1, marker, &marked);
			ck_assert_msg(marked == 1, "%s: %zu", marker, marked);
		}
	}
	ck_assert_uint_eq(comments_of(&f, "acme/api", 1, "<!--", &marked),
	                  2 * RACE_N);
	fx_close(&f);
}
END_TEST

/* --- the command agent: snapshot and send_turn ------------------------ */

static const struct {
	const char *log;      /* output.log; NULL: none */
	const char *status;   /* exit_status; NULL: none */
	int state;
	int phase;
} snapshots[] = {
	{"", NULL, AFK_AGENT_RUNNING, AFK_PHASE_DISPATCHED},
	{NULL, NULL, AFK_AGENT_RUNNING, AFK_PHASE_DISPATCHED},
	{"AFK-PHASE: tests-red\n", "exited 0\n", AFK_AGENT_COMPLETED,
	 AFK_PHASE_TESTS_RED},
	{"x\nAFK-PHASE: tests-red\nAFK-PHASE: green\nAFK-PHASE: pushed\ny\n",
	 "exited 0\n", AFK_AGENT_COMPLETED, AFK_PHASE_PUSHED},
	/* the last phase line counts, not the furthest */
	{"AFK-PHASE: pushed\nAFK-PHASE: green\n", NULL, AFK_AGENT_RUNNING,
	 AFK_PHASE_GREEN},
	/* other text, unknown or misspelt names are ignored */
	{"AFK-PHASE: green\nAFK-PHASE: deployed\nAFK-PHASE: Pushed\n"
	 "  AFK-PHASE: pushed\nsaid AFK-PHASE: pushed\nAFK-PHASE: pushed!\n"
	 "AFK-PHASE:pushed\nAFK-PHASE: pushed and more\n", "exited 0",
	 AFK_AGENT_COMPLETED, AFK_PHASE_GREEN},
	/* a CR, trailing blanks, and a last line without its newline */
	{"AFK-PHASE: tests-red\r\n", NULL, AFK_AGENT_RUNNING,
	 AFK_PHASE_TESTS_RED},
	{"AFK-PHASE: green \t\nAFK-PHASE: pushed", NULL, AFK_AGENT_RUNNING,
	 AFK_PHASE_PUSHED},
	{"AFK-PHASE: green\n", "exited 1\n", AFK_AGENT_ERRORED,
	 AFK_PHASE_GREEN},
	{"", "killed by signal 9\n", AFK_AGENT_ERRORED, AFK_PHASE_DISPATCHED},
	{"", "", AFK_AGENT_ERRORED, AFK_PHASE_DISPATCHED},
	{"", "exited 00\n", AFK_AGENT_ERRORED, AFK_PHASE_DISPATCHED},
	{"", "unknown: Interrupted system call\n", AFK_AGENT_ERRORED,
	 AFK_PHASE_DISPATCHED},
};

static void put_run_file(const fx *f, const char *id, const char *name,
                         const char *text)
{
	char path[3 * PATHLEN];

	snprintf(path, sizeof(path), "%s", run_path(f, id, name));
	unlink(path);
	if (text != NULL)
		write_text(path, text);
}

/* Makes run id read as a turn at work from before detached turns: no
 * exit_status and no supervisor file; its log's last change long ago
 * (the watch ticks of these tests run at made-up times near the Epoch,
 * and a later activity would count as progress). */
static void make_legacy_running(const fx *f, const char *id)
{
	struct timespec old[2] = {{1, 0}, {1, 0}};

	put_run_file(f, id, "exit_status", NULL);
	put_run_file(f, id, "supervisor", NULL);
	ck_assert_int_eq(utimensat(AT_FDCWD, run_path(f, id, "output.log"),
	                           old, 0), 0);
}

static const char *const one_issue =
	"{'issues': [{'repo': 'acme/api', 'number': 12,"
	" 'labels': ['ready-for-agent'], 'labeled_by': 'alice'}]}";

/* Without exit_status a turn runs while its supervisor holds the lock;
 * the test holds it instead. */
START_TEST(test_snapshot_states_and_phases)
{
	afk_call c;
	int lock = -1;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	put_run_file(&f, "acme-api-12-1", "output.log", snapshots[_i].log);
	put_run_file(&f, "acme-api-12-1", "exit_status", snapshots[_i].status);
	if (snapshots[_i].status == NULL) {
		lock = open(run_path(&f, "acme-api-12-1", "lock"), O_RDWR);
		ck_assert_int_ge(lock, 0);
		ck_assert_int_eq(flock(lock, LOCK_EX | LOCK_NB), 0);
	}
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), 0);
	if (lock >= 0)
		close(lock);
	ck_assert_int_eq(c.agent_state, snapshots[_i].state);
	ck_assert_int_eq(c.phase, snapshots[_i].phase);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* A log of many megabytes with a line longer than any buffer: the phase
 * after it is still found, and a phase line with more after it is no
 * phase line. */
START_TEST(test_snapshot_large_log)
{
	char path[3 * PATHLEN];
	afk_call c;
	FILE *fp;
	int i;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	snprintf(path, sizeof(path), "%s",
	         run_path(&f, "acme-api-12-1", "output.log"));
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("AFK-PHASE: tests-red\n", fp);
	for (i = 0; i < 3 * 1024 * 1024; i++)
		fputc('x', fp);
	fputs("\nAFK-PHASE: green\nAFK-PHASE: pushed", fp);
	for (i = 0; i < 100; i++)
		fputc(' ', fp);
	fputs("x\n", fp);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), 0);
	ck_assert_int_eq(c.phase, AFK_PHASE_GREEN);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* Thread ids that could leave the state directory are refused without a
 * look; unknown ones are "no such thread". */
START_TEST(test_thread_ids_checked)
{
	static const char *const bad[] = {
		"", ".", "..", "../acme-api-12-1", "acme-api-12-1/..", "a/b",
		"/etc", "sp ace", "new\nline"
	};
	char want[2 * PATHLEN];
	afk_call c;
	size_t k;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	for (k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		ck_assert_int_eq(a_snapshot(&f, &c, bad[k]), AFK_EINVAL);
		ck_assert_ptr_nonnull(strstr(msg_of(&c), "thread id"));
		afk__call_clear(&c);
		ck_assert_int_eq(a_turn(&f, &c, bad[k], "p"), AFK_EINVAL);
		afk__call_clear(&c);
	}
	write_text(run_path(&f, "plain-file", NULL), "not a directory\n");
	snprintf(want, sizeof(want), "no such thread acme-api-99-1 in %s",
	         f.runs);
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-99-1", "p"), AFK_ECALLBACK);
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	ck_assert_int_eq(a_snapshot(&f, &c, "plain-file"), AFK_ECALLBACK);
	afk__call_clear(&c);
	/* ".." inside one name is a name: looked up, not refused. */
	ck_assert_int_eq(a_turn(&f, &c, "x..y", "p"), AFK_ECALLBACK);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "no such thread x..y"));
	afk__call_clear(&c);
	ck_assert_int_eq(a_snapshot(&f, &c, "x..y"), AFK_OK);
	ck_assert_int_eq(c.agent_state, AFK_AGENT_GONE);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

static const char *const turn_script =
	"#!/bin/sh\n"
	"echo \"turn=$AFK_TURN repo=$AFK_REPO issue=$AFK_ISSUE"
	" thread=$AFK_THREAD_ID dir=$AFK_RUN_DIR\"\n"
	"echo \"stdin:\"\n"
	"cat\n"
	"echo \"[end of turn $AFK_TURN]\"\n"
	"exit $((AFK_TURN - 1))\n";

/* The file name of a run's file as a string for read_text(). */
static char *run_text(const fx *f, const char *name)
{
	return read_text(run_path(f, "acme-api-12-1", name));
}

START_TEST(test_send_turn)
{
	const char *t1, *t2, *t3;
	char want[4 * PATHLEN], *log, *s;
	afk_call c;
	fx f;

	fx_open(&f, one_issue, turn_script, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	s = run_text(&f, "turns");
	ck_assert_pstr_eq(s, "1\n");
	free(s);

	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "fix the build\n"), 0);
	afk__call_clear(&c);
	s = run_text(&f, "prompt-2.txt");
	ck_assert_pstr_eq(s, "fix the build\n");
	free(s);
	s = run_text(&f, "turns");
	ck_assert_pstr_eq(s, "2\n");
	free(s);
	s = run_text(&f, "exit_status");
	ck_assert_pstr_eq(s, "exited 1\n");
	free(s);
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), 0);
	ck_assert_int_eq(c.agent_state, AFK_AGENT_ERRORED);
	afk__call_clear(&c);

	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "and again"), 0);
	afk__call_clear(&c);
	s = run_text(&f, "exit_status");
	ck_assert_pstr_eq(s, "exited 2\n");
	free(s);

	/* One log, every turn in order, each with its environment. */
	log = run_text(&f, "output.log");
	ck_assert_ptr_nonnull(log);
	snprintf(want, sizeof(want), "turn=2 repo=acme/api issue=12 "
	         "thread=acme-api-12-1 dir=%s\nstdin:\nfix the build\n"
	         "[end of turn 2]\n", run_path(&f, "acme-api-12-1", NULL));
	t1 = strstr(log, "turn=1 repo=acme/api issue=12 ");
	t2 = strstr(log, want);
	t3 = strstr(log, "turn=3 repo=acme/api issue=12 ");
	ck_assert_msg(t1 && t2 && t3 && t1 < t2 && t2 < t3, "%s", log);
	ck_assert_ptr_nonnull(strstr(t3, "stdin:\nand again[end of turn 3]"));
	free(log);
	s = run_text(&f, "prompt.txt"); /* the dispatch's, kept */
	ck_assert_ptr_nonnull(strstr(s, "acme/api#12"));
	free(s);
	fx_close(&f);
}
END_TEST

/* A turn that cannot start fails with AFK_EIO and leaves the thread as
 * it was: same turn counter, same state, no prompt of a turn that never
 * ran. */
START_TEST(test_send_turn_cannot_start)
{
	char want[2 * PATHLEN], *s;
	afk_call c;
	fx f;

	fx_open(&f, one_issue, turn_script, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_int_eq(chmod(f.script, 0644), 0);
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "fix"), AFK_EIO);
	snprintf(want, sizeof(want), "cannot run agent command '%s': %s",
	         f.script, strerror(EACCES));
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	s = run_text(&f, "turns");
	ck_assert_pstr_eq(s, "1\n");
	free(s);
	ck_assert(!exists(run_path(&f, "acme-api-12-1", "prompt-2.txt")));
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), 0);
	ck_assert_int_eq(c.agent_state, AFK_AGENT_COMPLETED);
	afk__call_clear(&c);
	/* The same turn number once it can start again. */
	ck_assert_int_eq(chmod(f.script, 0755), 0);
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "fix"), 0);
	afk__call_clear(&c);
	ck_assert(exists(run_path(&f, "acme-api-12-1", "prompt-2.txt")));
	fx_close(&f);
}
END_TEST

/* A run directory a dispatch did not make has no issue to run a turn
 * for; a corrupt turn counter is not guessed at. */
START_TEST(test_send_turn_needs_its_files)
{
	afk_call c;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	put_run_file(&f, "acme-api-12-1", "turns", "two\n");
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "p"), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "/turns: expected"));
	afk__call_clear(&c);
	put_run_file(&f, "acme-api-12-1", "issue", "acme/api\n");
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "p"), AFK_EPARSE);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "/issue: expected"));
	afk__call_clear(&c);
	put_run_file(&f, "acme-api-12-1", "issue", NULL);
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "p"), AFK_ECALLBACK);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "/issue: "));
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* --- the command agent: usage -------------------------------------- */

/* A stand-in for a CLI wrapper: each turn prints its usage as increments,
 * with a field afk ignores, a refused line and a line of other text. */
static const char *const usage_script =
	"#!/bin/sh\n"
	"echo \"AFK-USAGE: tokens_in=100 tokens_out=10 cost_usd=0.25\"\n"
	"echo \"thinking... AFK-USAGE: tokens_in=999\"\n"
	"echo \"AFK-USAGE: tokens_in=50 cache_read=7\"\n"
	"echo \"AFK-USAGE: tokens_in=-1 tokens_out=1000\"\n"
	"cat >/dev/null\n";

static void assert_usage(fx *f, long long in, long long out, long long cost)
{
	afk_call c;

	ck_assert_int_eq(a_snapshot(f, &c, "acme-api-12-1"), 0);
	ck_assert_int_eq(c.usage_set, 1);
	ck_assert_msg(c.tokens_in == in && c.tokens_out == out &&
	              c.cost_microusd == cost, "usage %lld %lld %lld, want "
	              "%lld %lld %lld", c.tokens_in, c.tokens_out,
	              c.cost_microusd, in, out, cost);
	afk__call_clear(&c);
}

/* Every line of every turn adds up; the sums are kept with the offset
 * they reach, so a snapshot reads only what the log gained. */
START_TEST(test_snapshot_sums_usage_over_turns)
{
	char want[64], *s, *log;
	afk_call c;
	fx f;

	fx_open(&f, one_issue, usage_script, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	assert_usage(&f, 150, 10, 250000);
	log = run_text(&f, "output.log");
	snprintf(want, sizeof(want), "%zu 150 10 250000\n", strlen(log));
	free(log);
	s = run_text(&f, "usage");
	ck_assert_pstr_eq(s, want);
	free(s);
	assert_usage(&f, 150, 10, 250000);      /* nothing new: the same */
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "fix it"), 0);
	afk__call_clear(&c);
	assert_usage(&f, 300, 20, 500000);      /* two turns add up */
	log = run_text(&f, "output.log");
	snprintf(want, sizeof(want), "%zu 300 20 500000\n", strlen(log));
	free(log);
	s = run_text(&f, "usage");
	ck_assert_pstr_eq(s, want);
	free(s);
	fx_close(&f);
}
END_TEST

/* A log without usage reports none; a line counts once its newline is
 * there; a log shorter than the kept offset (emptied by a new dispatch)
 * is summed again from its start; a cache that is no cache, or a link,
 * is rebuilt, never followed. */
START_TEST(test_snapshot_usage_edges)
{
	char outside[2 * PATHLEN], *s;
	afk_call c;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), 0);
	ck_assert_int_eq(c.usage_set, 0);
	afk__call_clear(&c);

	put_run_file(&f, "acme-api-12-1", "output.log",
	             "AFK-USAGE: tokens_out=5\nAFK-USAGE: tokens_out=7");
	assert_usage(&f, 0, 5, 0);
	put_run_file(&f, "acme-api-12-1", "output.log",
	             "AFK-USAGE: tokens_out=5\nAFK-USAGE: tokens_out=7\n");
	assert_usage(&f, 0, 12, 0);
	/* emptied, then less written than was read: read from the start */
	put_run_file(&f, "acme-api-12-1", "output.log",
	             "AFK-USAGE: cost_usd=2\n");
	assert_usage(&f, 0, 0, 2000000);
	/* a damaged cache is rebuilt from the log */
	put_run_file(&f, "acme-api-12-1", "usage", "lots of tokens\n");
	assert_usage(&f, 0, 0, 2000000);
	/* a link is neither read nor written through */
	snprintf(outside, sizeof(outside), "%s/outside", f.dir);
	write_text(outside, "0 1000000 0 0\n");
	unlink(run_path(&f, "acme-api-12-1", "usage"));
	ck_assert_int_eq(symlink(outside,
	                         run_path(&f, "acme-api-12-1", "usage")), 0);
	assert_usage(&f, 0, 0, 2000000);
	s = read_text(outside);
	ck_assert_pstr_eq(s, "0 1000000 0 0\n");
	free(s);
	s = run_text(&f, "usage");
	ck_assert_pstr_eq(s, "22 0 0 2000000\n");
	free(s);
	fx_close(&f);
}
END_TEST

/* --- the command CI -------------------------------------------------- */

/* Adds a CI script (text), a file notifier writing notes.log and a
 * watcher over the four adapters to the fixture. */
static void fx_watch(fx *f, const char *ci_script)
{
	snprintf(f->ci_script, sizeof(f->ci_script), "%s/ci.sh", f->dir);
	snprintf(f->notes, sizeof(f->notes), "%s/notes.log", f->dir);
	write_text(f->ci_script, ci_script);
	ck_assert_int_eq(chmod(f->ci_script, 0755), 0);
	cfg_set(f->cfg, "ci", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"]}", f->ci_script);
	cfg_set(f->cfg, "notifier", "{\"kind\": \"file\", \"path\": \"%s\"}",
	        f->notes);
	ck_assert_int_eq(afk_ci_new(&f->ci), 0);
	ck_assert_int_eq(afk_notifier_new(&f->notifier), 0);
	ck_assert_msg(afk_ci_set_builtin(f->ci, f->cfg) == 0, "%s",
	              afk_ci_errmsg(f->ci));
	ck_assert_msg(afk_notifier_set_builtin(f->notifier, f->cfg) == 0,
	              "%s", afk_notifier_errmsg(f->notifier));
	ck_assert_int_eq(afk_watcher_new(&f->watcher, f->tracker, f->agent,
	                                 f->ci, f->notifier), 0);
}

/* Runs one watch tick at now, keeping its actions in f->actions. */
static int fx_watch_tick(fx *f, long long now)
{
	int rc;

	afk_actions_free(f->actions);
	f->actions = NULL;
	rc = afk_watcher_run_once(f->watcher, f->cfg, now, &f->actions);
	ck_assert_ptr_nonnull(f->actions);
	fx_settle(f);
	return rc;
}

/* The CI script prints what out.json, beside it, holds. */
static const char *const cat_ci = "#!/bin/sh\ncat out.json\n";

START_TEST(test_ci_reports_everything)
{
	char want[2 * PATH_MAX], real[PATH_MAX], *seen;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f,
	         "#!/bin/sh\n"
	         "{ echo \"repo=$AFK_REPO issue=$AFK_ISSUE\"; pwd -P; cat;"
	         "  echo end; } > seen.txt\n"
	         "cat <<'EOF'\n"
	         "{\"pr\": \"open\", \"head\": \"abc123\", \"ci\": \"failure\",\n"
	         " \"failing\": [{\"name\": \"build\", \"url\": \"https://ci/1\"},"
	         " {\"name\": \"lint\"}, {\"name\": \"unit\", \"url\": null}],\n"
	         " \"deploy\": \"pending\"}\n"
	         "EOF\n");
	ck_assert_msg(c_status(&f, &c, "acme/api", 12) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.pr, AFK_PR_OPEN);
	ck_assert_pstr_eq(c.head, "abc123");
	ck_assert_int_eq(c.ci, AFK_STATUS_FAILURE);
	ck_assert_int_eq(c.deploy, AFK_STATUS_PENDING);
	ck_assert_uint_eq(c.failing.n, 3);
	ck_assert_str_eq(c.failing.v[0], "build");
	ck_assert_str_eq(c.failing_urls.v[0], "https://ci/1");
	ck_assert_str_eq(c.failing.v[1], "lint");
	ck_assert_str_eq(c.failing_urls.v[1], "");
	ck_assert_str_eq(c.failing.v[2], "unit");
	ck_assert_str_eq(c.failing_urls.v[2], "");
	afk__call_clear(&c);
	/* The issue in its environment, run beside the script, stdin
	 * empty. */
	ck_assert_ptr_nonnull(realpath(f.dir, real));
	snprintf(want, sizeof(want), "repo=acme/api issue=12\n%s\nend\n", real);
	snprintf(real, sizeof(real), "%s/seen.txt", f.dir);
	seen = read_text(real);
	ck_assert_pstr_eq(seen, want);
	free(seen);
	fx_close(&f);
}
END_TEST

static const struct {
	const char *out;      /* what the command prints */
	int rc;
	const char *msg;      /* in the message when rc != 0 */
	int pr, ci, deploy;   /* reported when rc == 0 */
} ci_outputs[] = {
	{"{\"pr\": \"none\", \"ci\": \"none\"}", 0, NULL,
	 AFK_PR_NONE, AFK_STATUS_NONE, AFK_STATUS_NONE},
	{"\n {\"ci\": \"pending\",\n \"pr\": \"open\"} \n\n", 0, NULL,
	 AFK_PR_OPEN, AFK_STATUS_PENDING, AFK_STATUS_NONE},
	{"{\"pr\": \"merged\", \"ci\": \"success\", \"deploy\": \"success\","
	 " \"head\": null, \"failing\": []}", 0, NULL,
	 AFK_PR_MERGED, AFK_STATUS_SUCCESS, AFK_STATUS_SUCCESS},
	{"{\"pr\": \"merged\", \"ci\": \"success\", \"deploy\": \"failure\","
	 " \"failing\": null}", 0, NULL,
	 AFK_PR_MERGED, AFK_STATUS_SUCCESS, AFK_STATUS_FAILURE},
	{"{\"pr\": \"opened\", \"ci\": \"none\"}", AFK_EPARSE,
	 "CI command output: \"pr\": unknown value \"opened\" (expected "
	 "\"none\", \"open\" or \"merged\")", 0, 0, 0},
	{"{\"ci\": \"none\"}", AFK_EPARSE,
	 "CI command output: \"pr\": expected \"none\", \"open\" or "
	 "\"merged\"", 0, 0, 0},
	{"{\"pr\": \"none\"}", AFK_EPARSE, "\"ci\": expected", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"red\"}", AFK_EPARSE,
	 "\"ci\": unknown value \"red\"", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"Success\"}", AFK_EPARSE,
	 "\"ci\": unknown value \"Success\"", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"deploy\": 1}", AFK_EPARSE,
	 "\"deploy\": expected \"none\", \"pending\", \"success\" or "
	 "\"failure\"", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"status\": \"ok\"}",
	 AFK_EPARSE, "CI command output: unknown member \"status\"", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"a\\u001b[2J\": 1}",
	 AFK_EPARSE, "unknown member \"a?[2J\"", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"head\": \"\"}", AFK_EPARSE,
	 "\"head\": expected a non-empty string or null", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"head\": 7}", AFK_EPARSE,
	 "\"head\": expected a non-empty string or null", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"failing\": {}}", AFK_EPARSE,
	 "\"failing\": expected an array", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"failing\": [1]}", AFK_EPARSE,
	 "\"failing\"[0]: expected an object", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"failing\": [{\"name\": \"a\"},"
	 " {\"url\": \"x\"}]}", AFK_EPARSE,
	 "\"failing\"[1]: \"name\": expected a non-empty string", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"failing\": [{\"name\": \"\"}]}",
	 AFK_EPARSE, "\"failing\"[0]: \"name\": expected", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"failing\": [{\"name\": \"a\","
	 " \"url\": 3}]}", AFK_EPARSE,
	 "\"failing\"[0]: \"url\": expected a string or null", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\", \"failing\": [{\"name\": \"a\","
	 " \"why\": \"x\"}]}", AFK_EPARSE,
	 "\"failing\"[0]: unknown member \"why\"", 0, 0, 0},
	{"[]", AFK_EPARSE, "CI command output: expected one JSON object",
	 0, 0, 0},
	{"", AFK_EPARSE, "CI command output: line 1: invalid JSON", 0, 0, 0},
	{"ok\n", AFK_EPARSE, "invalid JSON", 0, 0, 0},
	{"{\"pr\": \"none\", \"ci\": \"none\"}\n{}", AFK_EPARSE,
	 "CI command output: line 2: invalid JSON", 0, 0, 0},
	{"{\"pr\": \"none\", \"pr\": \"open\", \"ci\": \"none\"}", AFK_EPARSE,
	 "invalid JSON: duplicate object key", 0, 0, 0},
};

START_TEST(test_ci_outputs)
{
	char path[2 * PATHLEN];
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	snprintf(path, sizeof(path), "%s/out.json", f.dir);
	write_text(path, ci_outputs[_i].out);
	ck_assert_int_eq(c_status(&f, &c, "acme/api", 1), ci_outputs[_i].rc);
	if (ci_outputs[_i].rc == 0) {
		ck_assert_int_eq(c.pr, ci_outputs[_i].pr);
		ck_assert_int_eq(c.ci, ci_outputs[_i].ci);
		ck_assert_int_eq(c.deploy, ci_outputs[_i].deploy);
		ck_assert_ptr_null(c.head);
	} else {
		ck_assert_msg(strstr(msg_of(&c), ci_outputs[_i].msg) != NULL,
		              "case %d: want \"%s\" in: %s", _i,
		              ci_outputs[_i].msg, msg_of(&c));
		/* A refused output reports nothing. */
		ck_assert_int_eq(c.pr + c.ci + c.deploy, 0);
		ck_assert_uint_eq(c.failing.n, 0);
	}
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* Found by fuzz/ci.c: output that is not JSON put its own control
 * characters into the message, quoted by jansson.  They are defused as
 * stderr's are. */
START_TEST(test_ci_output_invalid_json_one_line)
{
	char path[2 * PATHLEN];
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	snprintf(path, sizeof(path), "%s/out.json", f.dir);
	write_text(path, "\n\x17\x1b[2J");
	ck_assert_int_eq(c_status(&f, &c, "acme/api", 1), AFK_EPARSE);
	ck_assert_msg(strstr(msg_of(&c), "CI command output: line 2: invalid "
	              "JSON") != NULL, "%s", msg_of(&c));
	ck_assert_msg(!has_control(msg_of(&c)), "a control character in: %s",
	              msg_of(&c));
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

static const struct {
	const char *script;
	int rc;
	const char *msg;      /* the message, whole */
} ci_failures[] = {
	{"echo 'boom: the runner is down' >&2\nexit 3\n", AFK_ECALLBACK,
	 "CI command exited 3: boom: the runner is down"},
	{"echo '{\"pr\": \"none\", \"ci\": \"none\"}'\nexit 4\n", AFK_ECALLBACK,
	 "CI command exited 4"},
	{"kill -9 $$\n", AFK_ECALLBACK, "CI command killed by signal 9"},
	/* stderr on one line, its control characters defused */
	{"printf 'one\\ntwo\\033[2J\\n\\n' >&2\nexit 1\n", AFK_ECALLBACK,
	 "CI command exited 1: one two?[2J"},
	{"printf '%070000d' 0\n", AFK_EPARSE,
	 "CI command output too large (over 64 KiB)"},
	/* far beyond the cap, on both streams: read to the end, no
	 * deadlock on a full pipe */
	{"i=0; while [ $i -lt 64 ]; do printf '%016384d' 0;"
	 " printf '%016384d' 0 >&2; i=$((i+1)); done\n", AFK_EPARSE,
	 "CI command output too large (over 64 KiB)"},
};

START_TEST(test_ci_failures)
{
	char script[512];
	afk_call c;
	fx f;

	snprintf(script, sizeof(script), "#!/bin/sh\n%s",
	         ci_failures[_i].script);
	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, script);
	ck_assert_int_eq(c_status(&f, &c, "acme/api", 1), ci_failures[_i].rc);
	ck_assert_str_eq(msg_of(&c), ci_failures[_i].msg);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* A large stderr with a good answer is no failure; a long one in a
 * failure is cut. */
START_TEST(test_ci_stderr_kept_short)
{
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, "#!/bin/sh\n"
	         "i=0; while [ $i -lt 64 ]; do printf '%016384d' 0 >&2;"
	         " i=$((i+1)); done\n"
	         "echo '{\"pr\": \"open\", \"ci\": \"pending\"}'\n"
	         "[ -n \"$FAIL\" ] && exit 1\nexit 0\n");
	cfg_set(f.cfg, "ci", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"], \"env\": [\"FAIL\"]}", f.ci_script);
	ck_assert_int_eq(afk_ci_set_builtin(f.ci, f.cfg), 0);
	ck_assert_msg(c_status(&f, &c, "acme/api", 1) == 0, "%s", msg_of(&c));
	ck_assert_int_eq(c.ci, AFK_STATUS_PENDING);
	afk__call_clear(&c);
	ck_assert_int_eq(setenv("FAIL", "1", 1), 0);
	ck_assert_int_eq(c_status(&f, &c, "acme/api", 1), AFK_ECALLBACK);
	unsetenv("FAIL");
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "CI command exited 1: 0000"));
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "..."));
	ck_assert_uint_lt(strlen(msg_of(&c)), 300);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

START_TEST(test_ci_cannot_start)
{
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	cfg_set(f.cfg, "ci", "{\"kind\": \"command\", \"command\": "
	        "[\"/nonexistent/afk-ci\"]}");
	ck_assert_int_eq(afk_ci_set_builtin(f.ci, f.cfg), 0);
	ck_assert_int_eq(c_status(&f, &c, "acme/api", 1), AFK_EIO);
	ck_assert_str_eq(msg_of(&c), "cannot run CI command "
	                 "'/nonexistent/afk-ci': No such file or directory");
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* A bare program name is found in PATH and runs in the current
 * directory. */
START_TEST(test_ci_bare_command)
{
	char want[PATH_MAX + 2], path[2 * PATHLEN], *got;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	snprintf(path, sizeof(path), "%s/cwd.txt", f.dir);
	ck_assert_int_eq(setenv("CWD_FILE", path, 1), 0);
	cfg_set(f.cfg, "ci", "{\"kind\": \"command\", \"command\": [\"sh\","
	        " \"-c\", \"pwd -P > \\\"$CWD_FILE\\\"; echo "
	        "'{\\\"pr\\\": \\\"none\\\", \\\"ci\\\": \\\"pending\\\"}'\"],"
	        " \"env\": [\"CWD_FILE\"]}");
	ck_assert_int_eq(afk_ci_set_builtin(f.ci, f.cfg), 0);
	ck_assert_msg(c_status(&f, &c, "acme/api", 1) == 0, "%s", msg_of(&c));
	unsetenv("CWD_FILE");
	ck_assert_int_eq(c.ci, AFK_STATUS_PENDING);
	afk__call_clear(&c);
	ck_assert_ptr_nonnull(getcwd(want, PATH_MAX));
	ck_assert_ptr_nonnull(realpath(want, path));
	snprintf(want, sizeof(want), "%s\n", path);
	snprintf(path, sizeof(path), "%s/cwd.txt", f.dir);
	got = read_text(path);
	ck_assert_pstr_eq(got, want);
	free(got);
	fx_close(&f);
}
END_TEST

/* --- the notifiers --------------------------------------------------- */

START_TEST(test_notifier_stdout)
{
	char path[2 * PATHLEN], *got;
	int saved, fd;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	cfg_set(f.cfg, "notifier", "{\"kind\": \"stdout\"}");
	ck_assert_int_eq(afk_notifier_set_builtin(f.notifier, f.cfg), 0);
	snprintf(path, sizeof(path), "%s/stdout.txt", f.dir);
	fflush(stdout);
	saved = dup(1);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(dup2(fd, 1), 0);
	close(fd);
	ck_assert_int_eq(n_notify(&f, &c, "acme/api#1 needs a human: x.",
	                          "https://t/1"), 0);
	afk__call_clear(&c);
	ck_assert_int_eq(n_notify(&f, &c, "no link", ""), 0);
	afk__call_clear(&c);
	ck_assert_int_eq(n_notify(&f, &c, "two\nlines\033[2J", "a\tb"), 0);
	afk__call_clear(&c);
	/* flushed by the notifier itself: read before our own flush */
	got = read_text(path);
	ck_assert_int_ge(dup2(saved, 1), 0);
	close(saved);
	ck_assert_pstr_eq(got, "afk: acme/api#1 needs a human: x. https://t/1\n"
	                  "afk: no link\n"
	                  "afk: two?lines?[2J a?b\n");
	free(got);
	fx_close(&f);
}
END_TEST

START_TEST(test_notifier_file)
{
	char want[2 * PATHLEN], *got;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	write_text(f.notes, "kept\n");
	ck_assert_int_eq(n_notify(&f, &c, "first", "https://t/1"), 0);
	afk__call_clear(&c);
	ck_assert_int_eq(n_notify(&f, &c, "second", ""), 0);
	afk__call_clear(&c);
	got = read_text(f.notes);
	ck_assert_pstr_eq(got, "kept\nafk: first https://t/1\nafk: second\n");
	free(got);
	/* A file that cannot be opened: AFK_EIO naming it and why. */
	cfg_set(f.cfg, "notifier", "{\"kind\": \"file\", \"path\": "
	        "\"%s/no/such/dir/notes.log\"}", f.dir);
	ck_assert_int_eq(afk_notifier_set_builtin(f.notifier, f.cfg), 0);
	ck_assert_int_eq(n_notify(&f, &c, "lost", ""), AFK_EIO);
	snprintf(want, sizeof(want), "%s/no/such/dir/notes.log: cannot write "
	         "a notification: %s", f.dir, strerror(ENOENT));
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* A symbolic link at the notifier's path is not followed: nothing is
 * created or appended through it, and the failure names the file. */
START_TEST(test_notifier_link_refused)
{
	char target[PATHLEN + 16], want[2 * PATHLEN], *text;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	snprintf(target, sizeof(target), "%s/target", f.dir);
	ck_assert_int_eq(symlink(target, f.notes), 0);
	snprintf(want, sizeof(want), "%s: cannot write a notification: a "
	         "symbolic link, which is not followed", f.notes);
	ck_assert_int_eq(n_notify(&f, &c, "lost", ""), AFK_EIO);
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	ck_assert(!exists(target));
	write_text(target, "theirs\n");
	ck_assert_int_eq(n_notify(&f, &c, "lost", ""), AFK_EIO);
	afk__call_clear(&c);
	text = read_text(target);
	ck_assert_pstr_eq(text, "theirs\n");
	free(text);
	/* The probe says so before any notification is lost. */
	ck_assert_int_eq(afk_notifier_probe(f.notifier), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(afk_notifier_errmsg(f.notifier),
	                             "symbolic link"));
	fx_close(&f);
}
END_TEST

/* The notifier's file is created the host user's alone, whatever the
 * umask; a FIFO nobody reads fails the notification instead of hanging
 * the tick. */
START_TEST(test_notifier_file_mode_and_fifo)
{
	struct stat st;
	mode_t mask;
	afk_call c;
	int rc;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	mask = umask(0);
	rc = n_notify(&f, &c, "first", "");
	umask(mask);
	ck_assert_msg(rc == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_int_eq(stat(f.notes, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(unlink(f.notes), 0);
	ck_assert_int_eq(mkfifo(f.notes, 0600), 0);
	ck_assert_int_eq(n_notify(&f, &c, "lost", ""), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), f.notes));
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* --- the read-only probes --------------------------------------------- */

/* Each built-in's probe through afk_*_probe(): it succeeds on a sound
 * setup, fails with a message naming what is wrong, and changes
 * nothing. */
START_TEST(test_probe_tracker_file)
{
	char *before, *after;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	before = read_text(f.issues);
	ck_assert_msg(afk_tracker_probe(f.tracker) == 0, "%s",
	              afk_tracker_errmsg(f.tracker));
	ck_assert_str_eq(afk_tracker_errmsg(f.tracker), "");
	after = read_text(f.issues);
	ck_assert_pstr_eq(after, before);
	free(after);
	free(before);
	/* A file that does not parse. */
	write_text(f.issues, "{\"issues\": [\n");
	ck_assert_int_eq(afk_tracker_probe(f.tracker), AFK_EPARSE);
	ck_assert_msg(strstr(afk_tracker_errmsg(f.tracker), "tracker probe: ")
	              == afk_tracker_errmsg(f.tracker), "%s",
	              afk_tracker_errmsg(f.tracker));
	ck_assert_ptr_nonnull(strstr(afk_tracker_errmsg(f.tracker), f.issues));
	/* One that does not exist. */
	ck_assert_int_eq(unlink(f.issues), 0);
	ck_assert_int_eq(afk_tracker_probe(f.tracker), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(afk_tracker_errmsg(f.tracker),
	                             "cannot read"));
	ck_assert_int_eq(exists(f.issues), 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_probe_command_agent)
{
	char path[2 * PATHLEN];
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	ck_assert_msg(afk_agent_probe(f.agent) == 0, "%s",
	              afk_agent_errmsg(f.agent));
	ck_assert_int_le(count_entries(f.runs), 0); /* nothing was run */
	/* A command that does not exist, one that is not executable, and a
	 * bare name that PATH has. */
	cfg_set(f.cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"/nonexistent/afk-agent\"], \"state_dir\": \"%s\"}", f.runs);
	ck_assert_int_eq(afk_agent_set_builtin(f.agent, f.cfg), 0);
	ck_assert_int_eq(afk_agent_probe(f.agent), AFK_EIO);
	ck_assert_str_eq(afk_agent_errmsg(f.agent), "agent probe: agent "
	                 "command '/nonexistent/afk-agent': No such file or "
	                 "directory");
	snprintf(path, sizeof(path), "%s/plain.txt", f.dir);
	write_text(path, "not a program\n");
	ck_assert_int_eq(chmod(path, 0644), 0);
	cfg_set(f.cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"], \"state_dir\": \"%s\"}", path, f.runs);
	ck_assert_int_eq(afk_agent_set_builtin(f.agent, f.cfg), 0);
	ck_assert_int_eq(afk_agent_probe(f.agent), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(afk_agent_errmsg(f.agent),
	                             strerror(EACCES)));
	cfg_set(f.cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"sh\"], \"state_dir\": \"%s\"}", f.runs);
	ck_assert_int_eq(afk_agent_set_builtin(f.agent, f.cfg), 0);
	ck_assert_msg(afk_agent_probe(f.agent) == 0, "%s",
	              afk_agent_errmsg(f.agent));
	/* What "command --version" says is the probe's message: its first
	 * line, made printable; what it cannot say is a warning, and the
	 * probe still succeeds. */
	snprintf(path, sizeof(path), "%s/version.sh", f.dir);
	write_text(path, "#!/bin/sh\n[ \"$1\" = --version ] || exit 9\n"
	           "printf '\\n  tool \\033[31m1.2.3\\nsecond line\\n'\n");
	ck_assert_int_eq(chmod(path, 0755), 0);
	cfg_set(f.cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\", \"--ignored\"], \"state_dir\": \"%s\"}", path,
	        f.runs);
	ck_assert_int_eq(afk_agent_set_builtin(f.agent, f.cfg), 0);
	ck_assert_int_eq(afk_agent_probe(f.agent), 0);
	ck_assert_str_eq(afk_agent_errmsg(f.agent), "tool ?[31m1.2.3");
	write_text(path, "#!/bin/sh\nexit 4\n");
	ck_assert_int_eq(afk_agent_probe(f.agent), 0);
	ck_assert_ptr_nonnull(strstr(afk_agent_errmsg(f.agent),
	                             "warning: '"));
	ck_assert_ptr_nonnull(strstr(afk_agent_errmsg(f.agent),
	                             " --version' exited 4"));
	write_text(path, "#!/bin/sh\nexec sleep 60\n");
	ck_assert_int_eq(afk_agent_probe(f.agent), 0);
	ck_assert_ptr_nonnull(strstr(afk_agent_errmsg(f.agent),
	                             " --version' did not answer in 5 s"));
	/* It runs with none of a turn's variables, in an empty directory
	 * of its own that is gone after; what a command that does not know
	 * --version leaves there is named. */
	write_text(path, "#!/bin/sh\necho \"repo=${AFK_REPO-none} "
	           "files=$(ls -A | wc -l) in $(pwd)\"\n");
	ck_assert_int_eq(afk_agent_probe(f.agent), 0);
	{
		const char *m = afk_agent_errmsg(f.agent), *in;
		char left[2 * PATHLEN];

		ck_assert_msg(strncmp(m, "repo=none files=0 in /", 22) == 0,
		              "%s", m);
		in = strstr(m, " in /") + 4;
		ck_assert_ptr_nonnull(strstr(in, "/afk-probe-"));
		ck_assert_int_ne(access(in, F_OK), 0);
		write_text(path, "#!/bin/sh\ntouch stray\necho tool 2\n");
		ck_assert_int_eq(afk_agent_probe(f.agent), 0);
		m = afk_agent_errmsg(f.agent);
		ck_assert_msg(strncmp(m, "tool 2 (it left files in /", 26) == 0,
		              "%s", m);
		snprintf(left, sizeof(left), "%s", m + 25); /* "<dir>)" */
		left[strcspn(left, ")")] = '\0';
		ck_assert_int_eq(count_entries(left), 1);
		strcat(left, "/stray");
		ck_assert_int_eq(unlink(left), 0);
		*strrchr(left, '/') = '\0';
		ck_assert_int_eq(rmdir(left), 0);
	}
	fx_close(&f);
}
END_TEST

START_TEST(test_probe_command_ci)
{
	char path[2 * PATHLEN];
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	snprintf(path, sizeof(path), "%s/ran", f.dir);
	fx_watch(&f, "#!/bin/sh\ntouch ran\necho '{}'\n");
	ck_assert_msg(afk_ci_probe(f.ci) == 0, "%s", afk_ci_errmsg(f.ci));
	ck_assert_int_eq(exists(path), 0); /* nothing was run */
	cfg_set(f.cfg, "ci", "{\"kind\": \"command\", \"command\": "
	        "[\"/nonexistent/afk-ci\"]}");
	ck_assert_int_eq(afk_ci_set_builtin(f.ci, f.cfg), 0);
	ck_assert_int_eq(afk_ci_probe(f.ci), AFK_EIO);
	ck_assert_str_eq(afk_ci_errmsg(f.ci), "CI probe: CI command "
	                 "'/nonexistent/afk-ci': No such file or directory");
	fx_close(&f);
}
END_TEST

START_TEST(test_probe_notifiers)
{
	char path[2 * PATHLEN];
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	/* The file notifier: its directory is writable; nothing is
	 * written, not even the file created. */
	ck_assert_msg(afk_notifier_probe(f.notifier) == 0, "%s",
	              afk_notifier_errmsg(f.notifier));
	ck_assert_int_eq(exists(f.notes), 0);
	snprintf(path, sizeof(path), "%s/no/such/dir/notes.log", f.dir);
	cfg_set(f.cfg, "notifier", "{\"kind\": \"file\", \"path\": \"%s\"}",
	        path);
	ck_assert_int_eq(afk_notifier_set_builtin(f.notifier, f.cfg), 0);
	ck_assert_int_eq(afk_notifier_probe(f.notifier), AFK_EIO);
	ck_assert_ptr_nonnull(strstr(afk_notifier_errmsg(f.notifier), path));
	ck_assert_ptr_nonnull(strstr(afk_notifier_errmsg(f.notifier),
	                             "not writable"));
	/* stdout: always reachable. */
	cfg_set(f.cfg, "notifier", "{\"kind\": \"stdout\"}");
	ck_assert_int_eq(afk_notifier_set_builtin(f.notifier, f.cfg), 0);
	ck_assert_int_eq(afk_notifier_probe(f.notifier), 0);
	ck_assert_str_eq(afk_notifier_errmsg(f.notifier), "");
	fx_close(&f);
}
END_TEST

/* --- the watch tick over the built-ins ------------------------------- */

static const char *const life_agent =
	"#!/bin/sh\n"
	"cat >/dev/null\n"
	"echo 'AFK-PHASE: tests-red'\n"
	"[ \"$AFK_REPO\" = acme/ops ] && exit 1\n"
	"echo 'AFK-PHASE: green'\n"
	"echo \"head-$AFK_TURN\" > head\n"
	"echo 'AFK-PHASE: pushed'\n";

static const char *const life_ci =
	"#!/bin/sh\n"
	"run=runs/$(echo \"$AFK_REPO\" | tr / -)-$AFK_ISSUE-1\n"
	"if [ ! -f \"$run/head\" ]; then\n"
	"  echo '{\"pr\": \"none\", \"ci\": \"none\"}'; exit 0\n"
	"fi\n"
	"head=$(cat \"$run/head\")\n"
	"if [ \"$AFK_REPO\" = acme/web ] && [ \"$head\" = head-1 ]; then\n"
	"  echo \"{\\\"pr\\\": \\\"open\\\", \\\"head\\\": \\\"$head\\\","
	" \\\"ci\\\": \\\"failure\\\", \\\"failing\\\": [{\\\"name\\\":"
	" \\\"build\\\", \\\"url\\\": \\\"https://ci/7\\\"}]}\"\n"
	"else\n"
	"  echo \"{\\\"pr\\\": \\\"merged\\\", \\\"head\\\": \\\"$head\\\","
	" \\\"ci\\\": \\\"success\\\"}\"\n"
	"fi\n";

/* The index of repo#number among the actions, or -1. */
static long action_of(const afk_actions *a, const char *repo, long number)
{
	size_t i;

	for (i = 0; i < afk_actions_count(a); i++)
		if (strcmp(afk_actions_repo(a, i), repo) == 0 &&
		    afk_actions_number(a, i) == number)
			return (long)i;
	return -1;
}

static int file_is_closed(const fx *f, const char *repo, long number)
{
	json_t *o = file_issue(f, repo, number);
	const char *s = json_string_value(json_object_get(o, "state"));
	int closed = s != NULL && strcmp(s, "closed") == 0;

	json_decref(o);
	return closed;
}

/* One poll, then watches until nothing is left: one run closes, one is
 * fixed forward once and then closes, one is handed to a human. */
START_TEST(test_watch_lifecycle)
{
	char *notes, *before, *after, *s;
	size_t marked;
	long k;
	fx f;

	fx_open(&f,
	        "{'issues': [\n"
	        " {'repo': 'acme/api', 'number': 1,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/web', 'number': 2,"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'},\n"
	        " {'repo': 'acme/ops', 'number': 3, 'url': 'https://t/3',"
	        "  'labels': ['ready-for-agent'], 'labeled_by': 'alice'}\n"
	        "]}\n", life_agent, NULL);
	cfg_set(f.cfg, "allowlist", "[\"acme/api\", \"acme/web\", "
	        "\"acme/ops\"]");
	fx_watch(&f, life_ci);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 3);

	ck_assert_msg(fx_watch_tick(&f, 1000) == 0, "%s",
	              afk_watcher_errmsg(f.watcher));
	ck_assert_uint_eq(afk_actions_count(f.actions), 3);
	k = action_of(f.actions, "acme/api", 1);
	ck_assert_int_eq(afk_actions_kind(f.actions, (size_t)k),
	                 AFK_ACTION_CLOSE);
	ck_assert_int_eq(afk_actions_phase(f.actions, (size_t)k),
	                 AFK_PHASE_CI);
	k = action_of(f.actions, "acme/web", 2);
	ck_assert_int_eq(afk_actions_kind(f.actions, (size_t)k),
	                 AFK_ACTION_FIX_FORWARD);
	ck_assert_int_eq(afk_actions_attempts(f.actions, (size_t)k), 1);
	k = action_of(f.actions, "acme/ops", 3);
	ck_assert_int_eq(afk_actions_kind(f.actions, (size_t)k),
	                 AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(f.actions, (size_t)k),
	                 AFK_ESCALATE_AGENT_FAILED);
	ck_assert_int_eq(afk_actions_phase(f.actions, (size_t)k),
	                 AFK_PHASE_TESTS_RED);

	ck_assert_msg(fx_watch_tick(&f, 1600) == 0, "%s",
	              afk_watcher_errmsg(f.watcher));
	ck_assert_uint_eq(afk_actions_count(f.actions), 1);
	ck_assert_int_eq(afk_actions_kind(f.actions, 0), AFK_ACTION_CLOSE);
	ck_assert_int_eq(afk_actions_attempts(f.actions, 0), 1);

	/* Nothing left in progress: a further tick changes nothing. */
	before = read_text(f.issues);
	ck_assert_int_eq(fx_watch_tick(&f, 2200), 0);
	ck_assert_uint_eq(afk_actions_count(f.actions), 0);
	after = read_text(f.issues);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	ck_assert(file_is_closed(&f, "acme/api", 1));
	ck_assert(file_is_closed(&f, "acme/web", 2));
	ck_assert(!file_is_closed(&f, "acme/ops", 3));
	ck_assert(!file_has_label(&f, "acme/api", 1, "agent-in-progress"));
	ck_assert(!file_has_label(&f, "acme/web", 2, "agent-in-progress"));
	ck_assert(!file_has_label(&f, "acme/ops", 3, "agent-in-progress"));
	ck_assert(!file_has_label(&f, "acme/ops", 3, "ready-for-agent"));
	ck_assert(file_has_label(&f, "acme/ops", 3, "ready-for-human"));
	ck_assert_uint_eq(comments_of(&f, "acme/api", 1, "<!-- afk-run:",
	                              &marked), 1);
	ck_assert_uint_eq(comments_of(&f, "acme/web", 2, "<!-- afk-run:",
	                              &marked), 1);
	ck_assert_uint_eq(comments_of(&f, "acme/ops", 3, "<!-- afk-run:",
	                              &marked), 1);
	ck_assert_ptr_nonnull(strstr(comment_body(&f, "acme/web", 2, 0),
	                             "Fix-forward attempts: 1 of 2."));
	notes = read_text(f.notes);
	ck_assert_pstr_eq(notes, "afk: acme/ops#3 needs a human: the agent "
	                  "failed (the command exited 1). https://t/3\n");
	free(notes);
	/* The corrective turn ran in the same thread, naming the check. */
	s = read_text(run_path(&f, "acme-web-2-1", "prompt-2.txt"));
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "build: https://ci/7"));
	free(s);
	ck_assert(!exists(run_path(&f, "acme-web-2-2", NULL)));
	fx_close(&f);
}
END_TEST

static void check_run_file(const fx *f, const char *id, const char *name,
                           const char *want);

/* A CI that sees no pull request. */
static const char *const no_pr_ci =
	"#!/bin/sh\necho '{\"pr\": \"none\", \"ci\": \"none\"}'\n";

/* Issue 10 with the command agent: a run handed to a human while its
 * command looks at work still (no exit_status) is over all the same.
 * Made ready again by a trusted user, the issue runs afresh as
 * generation 2 in a new run directory - the old one is not adopted,
 * and nobody is told twice. */
START_TEST(test_ready_again_after_escalation_runs_afresh)
{
	afk_call c;
	char *notes;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	fx_watch(&f, no_pr_ci);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-1");
	check_run_file(&f, "acme-api-12-1", "generation", "1\n");
	make_legacy_running(&f, "acme-api-12-1"); /* at work */
	ck_assert_int_eq(fx_watch_tick(&f, 1000), 0);
	ck_assert_int_eq(afk_actions_kind(f.actions, 0), AFK_ACTION_WAIT);
	ck_assert_int_eq(fx_watch_tick(&f, 1000 + 7201), 0);
	ck_assert_int_eq(afk_actions_kind(f.actions, 0), AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(f.actions, 0), AFK_ESCALATE_STALLED);
	ck_assert(!file_has_label(&f, "acme/api", 12, "agent-in-progress"));

	ck_assert_int_eq(t_label(&f, &c, 12, "ready-for-agent", 1), 0);
	afk__call_clear(&c);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-2");
	check_run_file(&f, "acme-api-12-2", "generation", "2\n");
	ck_assert_ptr_nonnull(strstr(comment_body(&f, "acme/api", 12, 0),
	                             "\"generation\":2"));
	ck_assert(file_has_label(&f, "acme/api", 12, "agent-in-progress"));
	make_legacy_running(&f, "acme-api-12-2");
	ck_assert_int_eq(fx_watch_tick(&f, 8300), 0);
	ck_assert_int_eq(afk_actions_kind(f.actions, 0), AFK_ACTION_WAIT);
	ck_assert_str_eq(afk_actions_thread(f.actions, 0), "acme-api-12-2");
	notes = read_text(f.notes);
	ck_assert_pstr_eq(notes, "afk: acme/api#12 needs a human: no progress "
	                  "before the deadline.\n");
	free(notes);
	fx_close(&f);
}
END_TEST

/* A run directory removed under a run in progress: its thread is gone,
 * and the run goes to a human on the next tick - not at the stall
 * deadline, hours later, with its repository locked until then. */
START_TEST(test_watch_removed_run_dir_is_gone)
{
	char *notes;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	fx_watch(&f, no_pr_ci);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-1");
	make_legacy_running(&f, "acme-api-12-1");
	ck_assert_msg(fx_watch_tick(&f, 1000) == 0, "%s",
	              afk_watcher_errmsg(f.watcher));
	ck_assert_int_eq(afk_actions_kind(f.actions, 0), AFK_ACTION_WAIT);
	ck_assert_int_eq(nftw(run_path(&f, "acme-api-12-1", NULL), rm_one, 16,
	                      FTW_DEPTH | FTW_PHYS), 0);
	ck_assert_msg(fx_watch_tick(&f, 1060) == 0, "%s",
	              afk_watcher_errmsg(f.watcher));
	ck_assert_uint_eq(afk_actions_count(f.actions), 1);
	ck_assert_int_eq(afk_actions_kind(f.actions, 0), AFK_ACTION_ESCALATE);
	ck_assert_int_eq(afk_actions_reason(f.actions, 0),
	                 AFK_ESCALATE_AGENT_GONE);
	ck_assert(!file_has_label(&f, "acme/api", 12, "agent-in-progress"));
	ck_assert(file_has_label(&f, "acme/api", 12, "ready-for-human"));
	notes = read_text(f.notes);
	ck_assert_pstr_eq(notes, "afk: acme/api#12 needs a human: the agent "
	                  "thread is gone.\n");
	free(notes);
	fx_close(&f);
}
END_TEST

/* --- one agent per issue, one turn per thread ------------------------ */

/* An agent that notes each of its turns in started.log, beside runs/. */
static const char *const counting_script =
	"#!/bin/sh\n"
	"echo \"$AFK_THREAD_ID $AFK_TURN\" >> ../../started.log\n"
	"cat >/dev/null\n";

/* The number of lines of the file, 0 when there is none. */
static int count_lines(const char *path)
{
	char *s = read_text(path), *p;
	int n = 0;

	for (p = s; p != NULL && *p != '\0'; p++)
		if (*p == '\n')
			n++;
	free(s);
	return n;
}

/* The text of a run's file, compared and freed. */
static void check_run_file(const fx *f, const char *id, const char *name,
                           const char *want)
{
	char *s = read_text(run_path(f, id, name));

	ck_assert_msg(s != NULL, "%s/%s is missing", id, name);
	ck_assert_str_eq(s, want);
	free(s);
}

/* A tick killed while its agent ran left a run directory with no
 * exit_status and an issue without its label: the next dispatch adopts
 * that thread rather than starting a second agent on the issue. */
START_TEST(test_dispatch_adopts_unfinished_run)
{
	char started[PATHLEN + 16];
	fx f;

	fx_open(&f, one_issue, counting_script, NULL);
	snprintf(started, sizeof(started), "%s/started.log", f.dir);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-1");

	put_run_file(&f, "acme-api-12-1", "exit_status", NULL);
	write_issues(f.issues, one_issue);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-1");
	ck_assert(file_has_label(&f, "acme/api", 12, "agent-in-progress"));
	ck_assert_int_eq(count_entries(f.runs), 1);
	ck_assert_int_eq(count_lines(started), 1);

	/* Once that run has ended, the issue relabelled runs afresh. */
	put_run_file(&f, "acme-api-12-1", "exit_status", "exited 0\n");
	write_issues(f.issues, one_issue);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-2");
	ck_assert_int_eq(count_lines(started), 2);

	/* A claim whose command never started is taken again. */
	ck_assert_int_eq(mkdir(run_path(&f, "acme-api-12-3", NULL), 0700), 0);
	put_run_file(&f, "acme-api-12-3", "issue", "acme/api#12\n");
	put_run_file(&f, "acme-api-12-3", "prompt.txt", "an old prompt\n");
	write_issues(f.issues, one_issue);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-3");
	ck_assert_int_eq(count_lines(started), 3);
	check_run_file(&f, "acme-api-12-3", "exit_status", "exited 0\n");

	/* A directory of that name kept for another issue is no thread of
	 * this one. */
	put_run_file(&f, "acme-api-12-3", "exit_status", NULL);
	put_run_file(&f, "acme-api-12-3", "issue", "acme/other#12\n");
	write_issues(f.issues, one_issue);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-4");
	ck_assert_int_eq(count_lines(started), 4);
	fx_close(&f);
}
END_TEST

/* An agent that says whether the run directory's lock is held while it
 * runs (flock(1), where there is one). */
static const char *const lock_script =
	"#!/bin/sh\n"
	"cat >/dev/null\n"
	"if ! command -v flock >/dev/null 2>&1; then echo lock=unknown\n"
	"elif flock -n lock true; then echo lock=free\n"
	"else echo lock=held; fi\n";

/* One turn at a time in a thread: a turn is refused while another host
 * runs one (it holds the lock) or while no exit_status says the last
 * one ended (its host died), and the dispatch holds the lock too. */
START_TEST(test_send_turn_one_at_a_time)
{
	afk_call c;
	char *log;
	int fd;
	fx f;

	fx_open(&f, one_issue, lock_script, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	log = run_text(&f, "output.log");
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "lock=held") != NULL ||
	              strstr(log, "lock=unknown") != NULL, "%s", log);
	free(log);

	fd = open(run_path(&f, "acme-api-12-1", "lock"), O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	ck_assert_int_eq(a_turn_start(&f, &c, "acme-api-12-1", "fix"),
	                 AFK_ECALLBACK);
	ck_assert_str_eq(msg_of(&c), "thread acme-api-12-1 is still running "
	                 "a turn");
	afk__call_clear(&c);
	close(fd);

	put_run_file(&f, "acme-api-12-1", "exit_status", NULL);
	ck_assert_int_eq(a_turn_start(&f, &c, "acme-api-12-1", "fix"),
	                 AFK_ECALLBACK);
	ck_assert_str_eq(msg_of(&c), "thread acme-api-12-1 is still running "
	                 "a turn");
	afk__call_clear(&c);
	check_run_file(&f, "acme-api-12-1", "turns", "1\n");
	ck_assert(!exists(run_path(&f, "acme-api-12-1", "prompt-2.txt")));

	put_run_file(&f, "acme-api-12-1", "exit_status", "exited 0\n");
	ck_assert_msg(a_turn(&f, &c, "acme-api-12-1", "fix") == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	check_run_file(&f, "acme-api-12-1", "turns", "2\n");
	fx_close(&f);
}
END_TEST

/* A repository name with ".." in it (acme/foo..bar) makes a thread id
 * with ".." in it: an ordinary name, watched and sent turns. */
START_TEST(test_dotdot_repo)
{
	afk_call c;
	fx f;

	fx_open(&f,
	        "{'issues': [{'repo': 'acme/foo..bar', 'number': 1,"
	        " 'labels': ['ready-for-agent'], 'labeled_by': 'alice'}]}",
	        turn_script, NULL);
	cfg_set(f.cfg, "allowlist", "[\"acme/foo..bar\"]");
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-foo..bar-1-1");
	ck_assert_msg(a_snapshot(&f, &c, "acme-foo..bar-1-1") == 0, "%s",
	              msg_of(&c));
	ck_assert_int_eq(c.agent_state, AFK_AGENT_COMPLETED);
	afk__call_clear(&c);
	ck_assert_msg(a_turn(&f, &c, "acme-foo..bar-1-1", "fix") == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	check_run_file(&f, "acme-foo..bar-1-1", "turns", "2\n");
	fx_close(&f);
}
END_TEST

/* --- the run directory is the agent's -------------------------------- */

/* Links the agent plants in its run directory are never followed: the
 * host's files they point at are neither read nor written. */
START_TEST(test_run_dir_links_not_followed)
{
	static const char *const planted[] = {
		"exit_status.tmp", "turns.tmp", "prompt-2.txt"
	};
	char victim[PATHLEN + 16], *s;
	struct stat st;
	afk_call c;
	size_t k;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	snprintf(victim, sizeof(victim), "%s/victim", f.dir);
	write_text(victim, "precious\n");

	/* Where the host writes: what is there is replaced, not written
	 * through. */
	for (k = 0; k < sizeof(planted) / sizeof(*planted); k++)
		ck_assert_int_eq(symlink(victim, run_path(&f, "acme-api-12-1",
		                                          planted[k])), 0);
	ck_assert_msg(a_turn(&f, &c, "acme-api-12-1", "fix") == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	s = read_text(victim);
	ck_assert_pstr_eq(s, "precious\n");
	free(s);
	ck_assert_int_eq(lstat(run_path(&f, "acme-api-12-1", "prompt-2.txt"),
	                       &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	check_run_file(&f, "acme-api-12-1", "prompt-2.txt", "fix");

	/* What the host reads and appends to: refused, with a message. */
	put_run_file(&f, "acme-api-12-1", "output.log", NULL);
	ck_assert_int_eq(symlink(victim, run_path(&f, "acme-api-12-1",
	                                          "output.log")), 0);
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), AFK_EIO);
	ck_assert_msg(strstr(msg_of(&c), "/output.log: not a regular file")
	              != NULL, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "again"), AFK_EIO);
	ck_assert_msg(strstr(msg_of(&c), "cannot open ") != NULL &&
	              strstr(msg_of(&c), "/output.log: not a regular file")
	              != NULL, "%s", msg_of(&c));
	afk__call_clear(&c);
	s = read_text(victim);
	ck_assert_pstr_eq(s, "precious\n");
	free(s);
	check_run_file(&f, "acme-api-12-1", "turns", "2\n");
	ck_assert(!exists(run_path(&f, "acme-api-12-1", "prompt-3.txt")));

	/* A FIFO is refused at once, not waited on. */
	put_run_file(&f, "acme-api-12-1", "output.log", NULL);
	ck_assert_int_eq(mkfifo(run_path(&f, "acme-api-12-1", "output.log"),
	                        0600), 0);
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), AFK_EIO);
	afk__call_clear(&c);
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "again"), AFK_EIO);
	afk__call_clear(&c);

	put_run_file(&f, "acme-api-12-1", "output.log", "");
	put_run_file(&f, "acme-api-12-1", "exit_status", NULL);
	ck_assert_int_eq(symlink(victim, run_path(&f, "acme-api-12-1",
	                                          "exit_status")), 0);
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), AFK_EIO);
	ck_assert_msg(strstr(msg_of(&c), "/exit_status: not a regular file")
	              != NULL, "%s", msg_of(&c));
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* The run directories and their files are the host user's alone,
 * whatever the umask: the log holds what the agent printed. */
START_TEST(test_run_dir_modes)
{
	static const char *const names[] = {
		"prompt.txt", "prompt-2.txt", "output.log", "exit_status",
		"turns", "issue", "lock"
	};
	struct stat st;
	mode_t mask;
	afk_call c;
	size_t k;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	mask = umask(0);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_int_eq(a_turn(&f, &c, "acme-api-12-1", "fix"), 0);
	afk__call_clear(&c);
	umask(mask);
	ck_assert_int_eq(stat(f.runs, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(stat(run_path(&f, "acme-api-12-1", NULL), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	for (k = 0; k < sizeof(names) / sizeof(*names); k++) {
		ck_assert_msg(stat(run_path(&f, "acme-api-12-1", names[k]),
		                   &st) == 0, "%s", names[k]);
		ck_assert_msg((st.st_mode & 07777) == 0600, "%s: %o", names[k],
		              (unsigned)(st.st_mode & 07777));
	}
	fx_close(&f);
}
END_TEST

/* An issue file that is a link (to a file kept elsewhere) stays a link:
 * its target is what a change replaces. */
START_TEST(test_issue_file_link_kept)
{
	char dir[PATHLEN + 16], real[2 * PATHLEN];
	struct stat st;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	snprintf(dir, sizeof(dir), "%s/elsewhere", f.dir);
	snprintf(real, sizeof(real), "%s/issues.json", dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(rename(f.issues, real), 0);
	ck_assert_int_eq(symlink("elsewhere/issues.json", f.issues), 0);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	ck_assert_int_eq(lstat(f.issues, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert(file_has_label(&f, "acme/api", 12, "agent-in-progress"));
	ck_assert_int_eq(count_entries(dir), 1); /* no temporary left */
	fx_close(&f);
}
END_TEST

/* --- the child's process group, deadline and descriptors ------------- */

/* Runs argv through afk__spawn_capture() with stdout capped at max and
 * the deadline timeout_ms; *ms is how long it took.  out->buf is the
 * caller's to free. */
static int capture(char *const *argv, long timeout_ms, size_t max,
                   afk__capture *out, int *status, long *ms)
{
	afk__capture err = {4096, NULL, 0, 0};
	struct timespec t0, t1;
	afk__spawn_opts o;
	int e, started = 0;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.in = -1;
	o.timeout_ms = timeout_ms;
	out->max = max;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = afk__spawn_capture(&o, out, &err, status, &started);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(err.buf);
	ck_assert_int_eq(started, 1);
	*ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
	      (t1.tv_nsec - t0.tv_nsec) / 1000000;
	return e;
}

/* 1 once process pid has ended (gone, or a zombie), waiting up to 5 s. */
static int ended(long pid)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	for (i = 0; i < 500; i++) {
		if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			return 1;
		fp = fopen(path, "r");
		if (fp != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, fp);
			fclose(fp);
			buf[n] = '\0';
			p = strrchr(buf, ')');
			if (p != NULL && p[1] == ' ' &&
			    (p[2] == 'Z' || p[2] == 'X'))
				return 1;
		}
		nanosleep(&tick, NULL);
	}
	return 0;
}

/* A child that never ends, one that ends leaving a grandchild that
 * holds its stdout, and one that closes its output and runs on, are
 * killed at the deadline with all they started. */
START_TEST(test_spawn_deadline)
{
	char *const forever[] = {"/bin/sh", "-c", "exec sleep 120", NULL};
	char *const orphan[] = {"/bin/sh", "-c", "sleep 120 & echo $!", NULL};
	char *const mute[] = {"/bin/sh", "-c",
	                      "exec >/dev/null 2>&1; exec sleep 120", NULL};
	afk__capture out;
	int status = 0;
	long ms, pid;

	ck_assert_int_eq(capture(forever, 1000, 4096, &out, &status, &ms),
	                 ETIMEDOUT);
	free(out.buf);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert_int_ge(ms, 900);
	ck_assert_int_lt(ms, 60000);

	ck_assert_int_eq(capture(orphan, 1000, 4096, &out, &status, &ms),
	                 ETIMEDOUT);
	pid = strtol(out.buf, NULL, 10);
	free(out.buf);
	ck_assert_int_gt(pid, 1);
	ck_assert_msg(ended(pid), "the grandchild %ld was not killed", pid);
	ck_assert_int_lt(ms, 60000);

	/* Its output closed, it is still waited for no longer. */
	ck_assert_int_eq(capture(mute, 1000, 4096, &out, &status, &ms),
	                 ETIMEDOUT);
	free(out.buf);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert_int_lt(ms, 60000);
}
END_TEST

/* A child that writes past the stdout cap has given its wrong answer:
 * it is killed, not read forever. */
START_TEST(test_spawn_output_cap)
{
	char *const chatty[] = {"/bin/sh", "-c",
	                        "while :; do echo 0123456789abcdef; done",
	                        NULL};
	afk__capture out;
	int status = 0;
	long ms;

	ck_assert_int_eq(capture(chatty, 0, 1024, &out, &status, &ms), 0);
	ck_assert_int_eq(out.over, 1);
	ck_assert_uint_eq(out.len, 1024);
	free(out.buf);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}
END_TEST

/* 1 when text has the line line. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	}
	return 0;
}

/* A descriptor the host opened without O_CLOEXEC reaches neither the
 * agent nor the CI command. */
START_TEST(test_no_fd_leak)
{
	char *const ls[] = {"/bin/sh", "-c", "ls /proc/$$/fd", NULL};
	afk__capture out;
	int status = 0, fd;
	char *log;
	long ms;
	fx f;

	if (access("/proc/self/fd", R_OK) != 0)
		return; /* no /proc to look in */
	fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 47), 47);
	close(fd);

	ck_assert_int_eq(capture(ls, 0, 4096, &out, &status, &ms), 0);
	ck_assert_msg(has_line(out.buf, "1"), "%s", out.buf);
	ck_assert_msg(!has_line(out.buf, "47"), "fd 47 leaked: %s", out.buf);
	free(out.buf);

	fx_open(&f, one_issue, "#!/bin/sh\ncat >/dev/null\nls /proc/$$/fd\n",
	        NULL);
	ck_assert_msg(fx_tick(&f) == 0, "%s", afk_poller_errmsg(f.poller));
	log = run_text(&f, "output.log");
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(has_line(log, "1"), "%s", log);
	ck_assert_msg(!has_line(log, "47"), "fd 47 leaked: %s", log);
	free(log);
	fx_close(&f);
	close(47);
}
END_TEST

/* --- the environment rule -------------------------------------------- */

extern char **environ;

/* A copy of the environment, NULL-terminated; for env_reset(). */
static char **env_save(void)
{
	size_t n = 0, i;
	char **saved;

	while (environ[n] != NULL)
		n++;
	saved = calloc(n + 1, sizeof(*saved));
	ck_assert_ptr_nonnull(saved);
	for (i = 0; i < n; i++) {
		saved[i] = strdup(environ[i]);
		ck_assert_ptr_nonnull(saved[i]);
	}
	return saved;
}

/* Makes the environment exactly the "NAME=value" entries of kv. */
static void env_reset(char *const *kv)
{
	char name[256];
	const char *eq;
	size_t n;

	while (environ[0] != NULL) {
		eq = strchr(environ[0], '=');
		n = eq ? (size_t)(eq - environ[0]) : strlen(environ[0]);
		ck_assert_uint_lt(n, sizeof(name));
		memcpy(name, environ[0], n);
		name[n] = '\0';
		ck_assert_int_eq(unsetenv(name), 0);
	}
	for (; *kv != NULL; kv++) {
		eq = strchr(*kv, '=');
		ck_assert_ptr_nonnull(eq);
		n = (size_t)(eq - *kv);
		memcpy(name, *kv, n);
		name[n] = '\0';
		ck_assert_int_eq(setenv(name, eq + 1, 1), 0);
	}
}

static void env_restore(char **saved)
{
	size_t i;

	env_reset(saved);
	for (i = 0; saved[i] != NULL; i++)
		free(saved[i]);
	free(saved);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The non-empty lines of text (or the NULL-terminated lines of v when
 * text is NULL), sorted, each ending in '\n', in a heap string. */
static char *sorted_lines(const char *text, char *const *v)
{
	char *copy, *lines[256], *p, *out;
	size_t n = 0, i, len = 1;

	copy = strdup(text ? text : "");
	ck_assert_ptr_nonnull(copy);
	for (p = strtok(copy, "\n"); text != NULL && p != NULL;
	     p = strtok(NULL, "\n")) {
		ck_assert_uint_lt(n, 256);
		lines[n++] = p;
	}
	for (; text == NULL && v[n] != NULL; n++)
		lines[n] = v[n];
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	out = malloc(len);
	ck_assert_ptr_nonnull(out);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		strcat(out, lines[i]);
		strcat(out, "\n");
	}
	free(copy);
	return out;
}

/* The host's world: the minimal set, tokens, and two others. */
static char *const env_world[] = {
	"PATH=/usr/bin:/bin", "HOME=/home/afk", "LANG=C.UTF-8",
	"LC_TIME=C", "LC_ALL=C", "TZ=UTC", "TMPDIR=/tmp",
	"GITHUB_TOKEN=ghp_secret", "T3_TOKEN=t3_secret",
	"SLACK_WEBHOOK=https://hooks.slack.test/secret",
	"AFK_T_PASS=yes", "AFK_T_OTHER=no", NULL
};

/* A child gets the minimal set of ours and what it is passed, never
 * what is hidden (here TZ, of the minimal set) nor anything else; the
 * caller's own entries win over ours. */
START_TEST(test_spawn_environment_rule)
{
	char *const argv[] = {"/usr/bin/env", NULL};
	char *const pass[] = {"AFK_T_PASS", "AFK_T_UNSET", NULL};
	char *const hide[] = {"TZ", "GITHUB_TOKEN", NULL};
	char *const add[] = {"AFK_REPO=acme/api", "LANG=C", NULL};
	char *const want[] = {
		"PATH=/usr/bin:/bin", "HOME=/home/afk", "LANG=C",
		"LC_TIME=C", "LC_ALL=C", "TMPDIR=/tmp", "AFK_T_PASS=yes",
		"AFK_REPO=acme/api", NULL
	};
	afk__capture out = {65536, NULL, 0, 0}, err = {4096, NULL, 0, 0};
	afk__spawn_opts o;
	char **saved, *got, *expected;
	int status = 0, started = 0, e;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.pass = pass;
	o.hide = hide;
	o.env = add;
	o.in = -1;
	saved = env_save();
	env_reset(env_world);
	e = afk__spawn_capture(&o, &out, &err, &status, &started);
	env_restore(saved);
	ck_assert_int_eq(e, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	got = sorted_lines(out.buf, NULL);
	expected = sorted_lines(NULL, want);
	ck_assert_str_eq(got, expected);
	free(got);
	free(expected);
	free(out.buf);
	free(err.buf);
}
END_TEST

/* The environment as exec gave it, one variable a line. */
#define DUMP_ENV "tr '\\0' '\\n' < /proc/$$/environ"

/* The built-in agent and CI commands, configured: each sees exactly the
 * minimal set and its "env", with the tokens of the host absent and a
 * variable the configuration reads a secret from (here TZ, named by a
 * webhook_env) absent even of the minimal set. */
START_TEST(test_commands_get_the_minimal_environment)
{
	char dump[2 * PATHLEN], run_dir[3 * PATHLEN], rd[4 * PATHLEN];
	char *const want_ci[] = {
		"PATH=/usr/bin:/bin", "HOME=/home/afk", "LANG=C.UTF-8",
		"LC_TIME=C", "LC_ALL=C", "TMPDIR=/tmp", "AFK_T_PASS=yes",
		"AFK_REPO=acme/api", "AFK_ISSUE=7", NULL
	};
	char *want_agent[] = {
		"PATH=/usr/bin:/bin", "HOME=/home/afk", "LANG=C.UTF-8",
		"LC_TIME=C", "LC_ALL=C", "TMPDIR=/tmp", "AFK_T_PASS=yes",
		"AFK_REPO=acme/api", "AFK_ISSUE=12", "AFK_THREAD_ID=acme-api-12-1",
		"AFK_TURN=1", rd, NULL
	};
	char **saved, *got, *expected, *text;
	afk_call c;
	int rc;
	fx f;

	if (access("/proc/self/environ", R_OK) != 0)
		return; /* no /proc to look in */
	fx_open(&f, one_issue, "#!/bin/sh\n" DUMP_ENV " > env.txt\n", NULL);
	fx_watch(&f, "#!/bin/sh\n" DUMP_ENV " > ci-env.txt\n"
	         "echo '{\"pr\": \"none\", \"ci\": \"none\"}'\n");
	cfg_set(f.cfg, "notifier", "{\"kind\": \"slack\", \"webhook_env\": "
	        "\"TZ\"}");
	fx_agent_env(&f, "[\"AFK_T_PASS\"]");
	cfg_set(f.cfg, "ci", "{\"kind\": \"command\", \"command\": [\"%s\"], "
	        "\"env\": [\"AFK_T_PASS\"]}", f.ci_script);
	ck_assert_int_eq(afk_ci_set_builtin(f.ci, f.cfg), 0);

	saved = env_save();
	env_reset(env_world);
	rc = fx_tick(&f);
	if (rc == 0)
		rc = c_status(&f, &c, "acme/api", 7);
	env_restore(saved);
	ck_assert_msg(rc == 0, "%s", afk_poller_errmsg(f.poller));
	afk__call_clear(&c);

	snprintf(run_dir, sizeof(run_dir), "%s",
	         run_path(&f, "acme-api-12-1", NULL));
	snprintf(rd, sizeof(rd), "AFK_RUN_DIR=%s", run_dir);
	text = run_text(&f, "env.txt");
	ck_assert_ptr_nonnull(text);
	got = sorted_lines(text, NULL);
	free(text);
	expected = sorted_lines(NULL, want_agent);
	ck_assert_str_eq(got, expected);
	free(got);
	free(expected);

	snprintf(dump, sizeof(dump), "%s/ci-env.txt", f.dir);
	text = read_text(dump);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strstr(text, "secret"));
	got = sorted_lines(text, NULL);
	free(text);
	expected = sorted_lines(NULL, want_ci);
	ck_assert_str_eq(got, expected);
	free(got);
	free(expected);
	fx_close(&f);
}
END_TEST

/* --- the command notifier -------------------------------------------- */

/* Makes notify.sh in the fixture's directory from script and selects
 * the command notifier running it, with the further members more (JSON
 * text starting with ", ", or NULL); its path goes into path (PATHLEN
 * bytes). */
static void fx_notify_command(fx *f, const char *script, const char *more,
                              char *path)
{
	snprintf(path, PATHLEN, "%s/notify.sh", f->dir);
	write_text(path, script);
	ck_assert_int_eq(chmod(path, 0755), 0);
	cfg_set(f->cfg, "notifier", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"]%s}", path, more ? more : "");
	ck_assert_msg(afk_notifier_set_builtin(f->notifier, f->cfg) == 0,
	              "%s", afk_notifier_errmsg(f->notifier));
}

/* The line on stdin, the issue and the link in the environment, run in
 * the script's directory; exit 0 is delivered. */
START_TEST(test_command_notifier_delivers)
{
	char path[PATHLEN], dir[PATH_MAX], want[2 * PATH_MAX + 256], *got;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	fx_notify_command(&f, "#!/bin/sh\n"
	                  "{ cat; echo \"repo=$AFK_REPO issue=$AFK_ISSUE "
	                  "link=$AFK_LINK\"; pwd -P; } >> out.txt\n"
	                  "echo 'chatter on stdout'\necho 'and stderr' >&2\n",
	                  NULL, path);
	ck_assert_ptr_nonnull(realpath(f.dir, dir));
	ck_assert_msg(n_notify(&f, &c, "acme/api#1 needs a human: x.\033[2J",
	                       "https://t/1") == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	ck_assert_msg(n_notify(&f, &c, "two\nlines", "") == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	snprintf(want, sizeof(want),
	         "afk: acme/api#1 needs a human: x.?[2J https://t/1\n"
	         "repo=acme/api issue=1 link=https://t/1\n%s\n"
	         "afk: two?lines\n"
	         "repo=acme/api issue=1 link=\n%s\n", dir, dir);
	snprintf(path, PATHLEN, "%s/out.txt", f.dir);
	got = read_text(path);
	ck_assert_pstr_eq(got, want);
	free(got);
	fx_close(&f);
}
END_TEST

/* A line longer than a pipe holds at once is cut, not blocked on. */
START_TEST(test_command_notifier_long_line_cut)
{
	char path[PATHLEN], *msg, *got;
	size_t n;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	fx_notify_command(&f, "#!/bin/sh\ncat > out.txt\n", NULL, path);
	msg = malloc(100001);
	ck_assert_ptr_nonnull(msg);
	memset(msg, 'm', 100000);
	msg[100000] = '\0';
	ck_assert_msg(n_notify(&f, &c, msg, "https://t/1") == 0, "%s",
	              msg_of(&c));
	afk__call_clear(&c);
	free(msg);
	snprintf(path, PATHLEN, "%s/out.txt", f.dir);
	got = read_text(path);
	ck_assert_ptr_nonnull(got);
	n = strlen(got);
	ck_assert_uint_le(n, PIPE_BUF);
	ck_assert_uint_gt(n, 512);
	ck_assert_int_eq(strncmp(got, "afk: mmm", 8), 0);
	ck_assert_str_eq(got + n - 5, "m...\n");
	free(got);
	fx_close(&f);
}
END_TEST

/* A variable a secret is read from never reaches the command: naming it
 * in "env" is refused at load, and one of the minimal set (TZ here) is
 * hidden too; an unnamed variable is not passed. */
START_TEST(test_command_notifier_environment)
{
	char path[PATHLEN], dump[2 * PATHLEN];
	char *const want[] = {
		"PATH=/usr/bin:/bin", "HOME=/home/afk", "LANG=C.UTF-8",
		"LC_TIME=C", "LC_ALL=C", "TMPDIR=/tmp", "AFK_T_PASS=yes",
		"AFK_REPO=acme/api", "AFK_ISSUE=1", "AFK_LINK=https://t/1", NULL
	};
	char **saved, *text, *got, *expected;
	afk_call c;
	int rc;
	fx f;

	if (access("/proc/self/environ", R_OK) != 0)
		return; /* no /proc to look in */
	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	cfg_set(f.cfg, "tracker", "{\"kind\": \"github\", \"token_env\": "
	        "\"GITHUB_TOKEN\"}");
	cfg_set(f.cfg, "ci", "{\"kind\": \"github\", \"token_env\": \"TZ\"}");
	snprintf(path, PATHLEN, "%s/notify.sh", f.dir);
	ck_assert_int_eq(afk_config_set(f.cfg, "notifier", "{\"kind\": "
	                 "\"command\", \"command\": [\"notify-send\"], "
	                 "\"env\": [\"AFK_T_PASS\", \"GITHUB_TOKEN\"]}"),
	                 AFK_ECONFIG);
	ck_assert_str_eq(afk_config_errmsg(f.cfg), "notifier.env[1]: "
	                 "\"GITHUB_TOKEN\" is the tracker's token_env: a secret "
	                 "never goes to a command");
	fx_notify_command(&f, "#!/bin/sh\n" DUMP_ENV " > env.txt\n",
	                  ", \"env\": [\"AFK_T_PASS\"]", path);
	saved = env_save();
	env_reset(env_world);
	rc = n_notify(&f, &c, "hello", "https://t/1");
	env_restore(saved);
	ck_assert_msg(rc == 0, "%s", msg_of(&c));
	afk__call_clear(&c);
	snprintf(dump, sizeof(dump), "%s/env.txt", f.dir);
	text = read_text(dump);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_null(strstr(text, "secret"));
	ck_assert_ptr_null(strstr(text, "GITHUB_TOKEN"));
	ck_assert_ptr_null(strstr(text, "AFK_T_OTHER"));
	ck_assert_ptr_null(strstr(text, "TZ="));
	got = sorted_lines(text, NULL);
	free(text);
	expected = sorted_lines(NULL, want);
	ck_assert_str_eq(got, expected);
	free(got);
	free(expected);
	fx_close(&f);
}
END_TEST

static const struct {
	const char *script;
	const char *msg;      /* after "notifier command '<path>' " */
} notify_failures[] = {
	{"echo 'sending' >&2\necho 'boom: the relay is down' >&2\nexit 3\n",
	 "exited 3: boom: the relay is down"},
	{"exit 4\n", "exited 4"},
	{"echo 'dying' >&2\nkill -9 $$\n", "killed by signal 9: dying"},
	/* the last line that says something, its control characters
	 * defused */
	{"printf 'one\\ntwo\\033[2J\\t\\n\\n  \\n' >&2\nexit 1\n",
	 "exited 1: two?[2J"},
	/* stdout is no answer, but a flood of it is a broken command */
	{"i=0; while [ $i -lt 64 ]; do printf '%016384d' 0; i=$((i+1)); "
	 "done\n", "printed over 64 KiB and was killed"},
};

START_TEST(test_command_notifier_failures)
{
	char script[512], path[PATHLEN], want[2 * PATHLEN];
	afk_call c;
	fx f;

	snprintf(script, sizeof(script), "#!/bin/sh\ncat >/dev/null\n%s",
	         notify_failures[_i].script);
	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	fx_notify_command(&f, script, NULL, path);
	ck_assert_int_eq(n_notify(&f, &c, "lost", ""), AFK_EIO);
	snprintf(want, sizeof(want), "notifier command '%s' %s", path,
	         notify_failures[_i].msg);
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* The quoted line of stderr is the last one, found after much logging,
 * and cut short. */
START_TEST(test_command_notifier_stderr_cut)
{
	char path[PATHLEN], want[2 * PATHLEN];
	size_t n;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	fx_notify_command(&f, "#!/bin/sh\n"
	                  "i=0; while [ $i -lt 3 ]; do printf '%016384d\\n' 0"
	                  " >&2; i=$((i+1)); done\n"
	                  "printf 'e%.0s' $(seq 300) >&2\nexit 2\n", NULL, path);
	ck_assert_int_eq(n_notify(&f, &c, "lost", ""), AFK_EIO);
	n = (size_t)snprintf(want, sizeof(want), "notifier command '%s' "
	                     "exited 2: ", path);
	memset(want + n, 'e', 200);
	strcpy(want + n + 200, "...");
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* A stuck command fails the notification at its timeout, killed with
 * what it started: the tick is not held. */
START_TEST(test_command_notifier_timeout)
{
	char path[PATHLEN], want[2 * PATHLEN], *pids, *end;
	struct timespec t0, t1;
	long ms, sh_pid, sleep_pid;
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	fx_notify_command(&f, "#!/bin/sh\necho $$ > pids.txt\n"
	                  "echo 'waiting for the relay' >&2\n"
	                  "sleep 120 &\necho $! >> pids.txt\nwait\n",
	                  ", \"timeout\": 1", path);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(n_notify(&f, &c, "stuck", ""), AFK_EIO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(want, sizeof(want), "notifier command '%s' timed out after "
	         "1 s: waiting for the relay", path);
	ck_assert_str_eq(msg_of(&c), want);
	afk__call_clear(&c);
	ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_ge(ms, 900);
	ck_assert_int_lt(ms, 30000); /* nowhere near the sleep's 120 s */
	snprintf(path, PATHLEN, "%s/pids.txt", f.dir);
	pids = read_text(path);
	ck_assert_ptr_nonnull(pids);
	sh_pid = strtol(pids, &end, 10);
	sleep_pid = strtol(end, NULL, 10);
	free(pids);
	ck_assert_int_gt(sh_pid, 1);
	ck_assert_int_gt(sleep_pid, 1);
	ck_assert_msg(ended(sh_pid), "the command %ld was not killed", sh_pid);
	ck_assert_msg(ended(sleep_pid), "its child %ld was not killed",
	              sleep_pid);
	fx_close(&f);
}
END_TEST

START_TEST(test_command_notifier_cannot_start)
{
	afk_call c;
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	cfg_set(f.cfg, "notifier", "{\"kind\": \"command\", \"command\": "
	        "[\"/nonexistent/afk-notify\"]}");
	ck_assert_int_eq(afk_notifier_set_builtin(f.notifier, f.cfg), 0);
	ck_assert_int_eq(n_notify(&f, &c, "lost", ""), AFK_EIO);
	ck_assert_str_eq(msg_of(&c), "cannot run notifier command "
	                 "'/nonexistent/afk-notify': No such file or directory");
	afk__call_clear(&c);
	fx_close(&f);
}
END_TEST

/* The probe finds the program and runs nothing. */
START_TEST(test_command_notifier_probe)
{
	char path[PATHLEN], ran[2 * PATHLEN];
	fx f;

	fx_open(&f, "{'issues': []}", NULL, NULL);
	fx_watch(&f, cat_ci);
	fx_notify_command(&f, "#!/bin/sh\ntouch ran\n", NULL, path);
	snprintf(ran, sizeof(ran), "%s/ran", f.dir);
	ck_assert_msg(afk_notifier_probe(f.notifier) == 0, "%s",
	              afk_notifier_errmsg(f.notifier));
	ck_assert_int_eq(exists(ran), 0);
	cfg_set(f.cfg, "notifier", "{\"kind\": \"command\", \"command\": "
	        "[\"/nonexistent/afk-notify\"]}");
	ck_assert_int_eq(afk_notifier_set_builtin(f.notifier, f.cfg), 0);
	ck_assert_int_eq(afk_notifier_probe(f.notifier), AFK_EIO);
	ck_assert_str_eq(afk_notifier_errmsg(f.notifier), "notifier probe: "
	                 "notifier command '/nonexistent/afk-notify': No such "
	                 "file or directory");
	/* a bare name PATH has */
	cfg_set(f.cfg, "notifier", "{\"kind\": \"command\", \"command\": "
	        "[\"sh\", \"-c\", \"touch ran\"]}");
	ck_assert_int_eq(afk_notifier_set_builtin(f.notifier, f.cfg), 0);
	ck_assert_msg(afk_notifier_probe(f.notifier) == 0, "%s",
	              afk_notifier_errmsg(f.notifier));
	ck_assert_int_eq(exists(ran), 0);
	fx_close(&f);
}
END_TEST

static const struct {
	const char *json;
	const char *msg;
} notify_refusals[] = {
	{"{\"kind\": \"command\"}", "notifier.command: missing"},
	{"{\"kind\": \"command\", \"command\": []}", NULL},
	{"{\"kind\": \"command\", \"command\": [\"true\"], \"timeout\": 0}",
	 "notifier.timeout: 0 is out of range (1 to 3600)"},
	{"{\"kind\": \"command\", \"command\": [\"true\"], \"timeout\": 3601}",
	 "notifier.timeout: 3601 is out of range (1 to 3600)"},
	{"{\"kind\": \"command\", \"command\": [\"true\"], \"url\": \"x\"}",
	 "notifier.url: unknown member of a \"command\" notifier"},
};

/* What the configuration refuses of a command notifier, and leaves the
 * notifier it had. */
START_TEST(test_command_notifier_refused)
{
	afk_config *cfg;
	afk_notifier *n;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_int_eq(afk_config_set(cfg, "notifier", "{\"kind\": "
	                 "\"command\", \"command\": [\"true\"]}"), 0);
	ck_assert_int_eq(afk_config_set(cfg, "notifier",
	                                notify_refusals[_i].json),
	                 AFK_ECONFIG);
	if (notify_refusals[_i].msg != NULL)
		ck_assert_str_eq(afk_config_errmsg(cfg),
		                 notify_refusals[_i].msg);
	else
		ck_assert_ptr_nonnull(strstr(afk_config_errmsg(cfg),
		                             "notifier.command"));
	ck_assert_int_eq(afk_notifier_new(&n), 0);
	ck_assert_msg(afk_notifier_set_builtin(n, cfg) == 0, "%s",
	              afk_notifier_errmsg(n));
	afk_notifier_free(n);
	afk_config_free(cfg);
}
END_TEST

/* --- registration ---------------------------------------------------- */

/* A built-in that cannot be set up names the file, line and member it
 * comes from and which adapter failed: the tracker and the CI reading
 * one missing token say so in two lines that differ. */
START_TEST(test_setup_errors_name_line_key_and_adapter)
{
	char dir[64], path[PATHLEN], want[PATHLEN * 2], fifo[PATHLEN];
	afk_config *cfg = NULL;
	afk_tracker *t = NULL;
	afk_agent *a = NULL;
	afk_ci *ci = NULL;
	afk_notifier *n = NULL;
	char json[PATHLEN * 2];

	snprintf(dir, sizeof(dir), "/tmp/check_builtin.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/afk.json", dir);
	unsetenv("AFK_TEST_UNSET_TOKEN");
	unsetenv("AFK_TEST_UNSET_T3");
	write_text(path,
	           "{\n"
	           "  \"allowlist\": [\"acme/api\"],\n"
	           "  \"tracker\": {\n"
	           "    \"kind\": \"github\",\n"
	           "    \"token_env\": \"AFK_TEST_UNSET_TOKEN\"\n"
	           "  },\n"
	           "  \"agent\": {\"kind\": \"t3\", \"url\": \"http://[::1]:1\",\n"
	           "    \"project_id\": \"p\", \"model\": \"m\",\n"
	           "    \"token_env\": \"AFK_TEST_UNSET_T3\"},\n"
	           "  \"ci\": {\n"
	           "    \"kind\": \"forgejo\",\n"
	           "    \"api_url\": \"https://f.example/api/v1\",\n"
	           "    \"token_env\": \"AFK_TEST_UNSET_TOKEN\"\n"
	           "  },\n"
	           "  \"notifier\": {\"kind\": \"slack\",\n"
	           "    \"webhook_file\": \"hook\"}\n"
	           "}\n");
	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_msg(afk_config_load_file(cfg, path) == 0, "%s",
	              afk_config_errmsg(cfg));
	ck_assert_int_eq(afk_tracker_new(&t), 0);
	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_int_eq(afk_ci_new(&ci), 0);
	ck_assert_int_eq(afk_notifier_new(&n), 0);

	ck_assert_int_eq(afk_tracker_set_builtin(t, cfg), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:5: tracker.token_env: tracker "
	         "(github): the environment variable AFK_TEST_UNSET_TOKEN is "
	         "not set", path);
	ck_assert_str_eq(afk_tracker_errmsg(t), want);
	ck_assert_int_eq(afk_ci_set_builtin(ci, cfg), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:13: ci.token_env: CI (forgejo): the "
	         "environment variable AFK_TEST_UNSET_TOKEN is not set", path);
	ck_assert_str_eq(afk_ci_errmsg(ci), want);
	ck_assert_int_eq(afk_agent_set_builtin(a, cfg), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:9: agent.token_env: agent (t3): the "
	         "environment variable AFK_TEST_UNSET_T3 is not set", path);
	ck_assert_str_eq(afk_agent_errmsg(a), want);
	ck_assert_int_eq(afk_notifier_set_builtin(n, cfg), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:16: notifier.webhook_file: notifier "
	         "(slack): cannot read %s/hook: No such file or directory",
	         path, dir);
	ck_assert_str_eq(afk_notifier_errmsg(n), want);

	/* a webhook every post would refuse, never quoted */
	snprintf(want, sizeof(want), "%s/hook", dir);
	write_text(want, "http://hooks.example/services/T0/B0/SECRETxyz\n");
	ck_assert_int_eq(afk_notifier_set_builtin(n, cfg), AFK_ECONFIG);
	ck_assert_ptr_null(strstr(afk_notifier_errmsg(n), "SECRET"));
	snprintf(want, sizeof(want), "%s:16: notifier.webhook_file: notifier "
	         "(slack): the webhook: plain http is refused except to a "
	         "loopback address; use https", path);
	ck_assert_str_eq(afk_notifier_errmsg(n), want);

	/* set by afk_config_set(): the member, no line */
	ck_assert_int_eq(afk_config_set(cfg, "ci", "{\"kind\": \"github\", "
	                 "\"token_file\": \"/nonexistent/token\"}"), 0);
	ck_assert_int_eq(afk_ci_set_builtin(ci, cfg), AFK_ECONFIG);
	ck_assert_str_eq(afk_ci_errmsg(ci), "ci.token_file: CI (github): "
	                 "cannot read /nonexistent/token: No such file or "
	                 "directory");

	/* the ETag cache's line, and the adapter that refused it */
	snprintf(fifo, sizeof(fifo), "%s/cache", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	setenv("AFK_TEST_UNSET_TOKEN", "0123456789abcdef0123", 1);
	snprintf(json, sizeof(json), "{\n\"http\": {\n\"etag_cache\": \"%s\"}}",
	         fifo);
	ck_assert_int_eq(afk_config_load_string(cfg, json), 0);
	ck_assert_int_eq(afk_tracker_set_builtin(t, cfg), AFK_ECONFIG);
	snprintf(want, sizeof(want), "<string>:3: http.etag_cache: tracker "
	         "(github): %s is a FIFO", fifo);
	ck_assert_msg(strncmp(afk_tracker_errmsg(t), want, strlen(want)) == 0,
	              "%s, want %s...", afk_tracker_errmsg(t), want);

	/* without http.etag_cache, the state directory's cache */
	snprintf(fifo, sizeof(fifo), "%s/etag-cache.json", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	snprintf(json, sizeof(json), "{\"http\": {}, \"state_dir\": \"%s\"}",
	         dir);
	ck_assert_int_eq(afk_config_load_string(cfg, json), 0);
	ck_assert_int_eq(afk_tracker_set_builtin(t, cfg), AFK_ECONFIG);
	snprintf(want, sizeof(want), "state_dir: tracker (github): %s is a "
	         "FIFO", fifo);
	ck_assert_msg(strncmp(afk_tracker_errmsg(t), want, strlen(want)) == 0,
	              "%s, want %s...", afk_tracker_errmsg(t), want);
	unsetenv("AFK_TEST_UNSET_TOKEN");

	afk_notifier_free(n);
	afk_ci_free(ci);
	afk_agent_free(a);
	afk_tracker_free(t);
	afk_config_free(cfg);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

START_TEST(test_builtin_needs_config)
{
	afk_config *cfg;
	afk_tracker *t;
	afk_agent *a;
	afk_ci *ci;
	afk_notifier *n;

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
	/* Nor the CI and the notifier, each with its own key. */
	ck_assert_int_eq(afk_ci_new(&ci), 0);
	ck_assert_int_eq(afk_notifier_new(&n), 0);
	ck_assert_int_eq(afk_ci_set_builtin(ci, cfg), AFK_ECONFIG);
	ck_assert_msg(strstr(afk_ci_errmsg(ci), "\"ci\"") != NULL, "%s",
	              afk_ci_errmsg(ci));
	ck_assert_int_eq(afk_notifier_set_builtin(n, cfg), AFK_ECONFIG);
	ck_assert_msg(strstr(afk_notifier_errmsg(n), "\"notifier\"") != NULL,
	              "%s", afk_notifier_errmsg(n));
	cfg_set(cfg, "ci", "{\"kind\": \"command\", \"command\": [\"ci\"]}");
	cfg_set(cfg, "notifier", "{\"kind\": \"stdout\"}");
	ck_assert_int_eq(afk_ci_set_builtin(ci, cfg), 0);
	ck_assert_str_eq(afk_ci_errmsg(ci), "");
	ck_assert_int_eq(afk_notifier_set_builtin(n, cfg), 0);
	/* twice: the first userdata is destroyed (no leak) */
	ck_assert_int_eq(afk_ci_set_builtin(ci, cfg), 0);
	ck_assert_int_eq(afk_notifier_set_builtin(n, cfg), 0);
	afk_notifier_free(n);
	afk_ci_free(ci);
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

/* --- detached turns --------------------------------------------------- */

/* An agent held at a gate: it says it started, then reads its exit
 * status from the FIFO gate beside runs/ (the test opens it to let the
 * agent go) and exits with it. */
static const char *const gate_script =
	"#!/bin/sh\n"
	"cat >/dev/null\n"
	"echo \"$AFK_THREAD_ID $AFK_TURN\" >> ../../started.log\n"
	"echo started\n"
	"code=$(cat ../../gate)\n"
	"echo released\n"
	"exit $code\n";

/* Opens the fixture with gate_script and its FIFO. */
static void fx_open_gated(fx *f)
{
	char gate[PATHLEN + 8];

	fx_open(f, one_issue, gate_script, NULL);
	snprintf(gate, sizeof(gate), "%s/gate", f->dir);
	ck_assert_int_eq(mkfifo(gate, 0600), 0);
}

/* Lets the gated agent go with exit status code: blocks until it opens
 * the gate. */
static void release(const fx *f, int code)
{
	char gate[PATHLEN + 8];
	FILE *fp;

	snprintf(gate, sizeof(gate), "%s/gate", f->dir);
	fp = fopen(gate, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "%d\n", code);
	ck_assert_int_eq(fclose(fp), 0);
}

/* A poll tick that does not wait for the agents it starts. */
static int fx_tick_nowait(fx *f)
{
	afk_result_free(f->result);
	f->result = NULL;
	return afk_poller_run_once(f->poller, f->cfg, &f->result);
}

/* The first number of a run's file ("pid", "supervisor"), 0 without. */
static long long run_number(const fx *f, const char *name)
{
	char *s = run_text(f, name);
	long long n = s ? atoll(s) : 0;

	free(s);
	return n;
}

static int snapshot_state(fx *f)
{
	afk_call c;
	int state;

	ck_assert_int_eq(a_snapshot(f, &c, "acme-api-12-1"), 0);
	state = c.agent_state;
	afk__call_clear(&c);
	return state;
}

static int a_stop(fx *f, afk_call *c)
{
	return f->agent->stop(call_of(c, AFK__CALL_STOP), "acme/api", 12,
	                      "acme-api-12-1", f->agent->userdata);
}

/* The dispatch returns while its agent runs on, which the snapshot
 * says; once the agent ends its supervisor writes how, and the
 * snapshot says that.  The agent leads a session of its own. */
START_TEST(test_dispatch_returns_while_the_agent_runs)
{
	long long pid;
	char *log;
	fx f;

	fx_open_gated(&f);
	ck_assert_msg(fx_tick_nowait(&f) == 0, "%s",
	              afk_poller_errmsg(f.poller));
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-1");
	ck_assert(file_has_label(&f, "acme/api", 12, "agent-in-progress"));
	ck_assert(!exists(run_path(&f, "acme-api-12-1", "exit_status")));
	ck_assert(held(run_path(&f, "acme-api-12-1", "lock")));
	check_run_file(&f, "acme-api-12-1", "turns", "1\n");
	ck_assert_int_eq(snapshot_state(&f), AFK_AGENT_RUNNING);
	pid = run_number(&f, "pid");
	ck_assert_int_gt(pid, 1);
	ck_assert_int_eq(getsid((pid_t)pid), (pid_t)pid);
	ck_assert_int_eq(getpgid((pid_t)pid), (pid_t)pid);
	ck_assert_int_gt(run_number(&f, "supervisor"), 1);
	ck_assert_int_ne(run_number(&f, "supervisor"), getpid());

	release(&f, 0);
	fx_settle(&f);
	check_run_file(&f, "acme-api-12-1", "exit_status", "exited 0\n");
	ck_assert_int_eq(snapshot_state(&f), AFK_AGENT_COMPLETED);
	log = run_text(&f, "output.log");
	ck_assert_msg(strstr(log, "started\nreleased\n") != NULL, "%s", log);
	free(log);
	fx_close(&f);
}
END_TEST

/* A turn that fails: running, then errored. */
START_TEST(test_detached_turn_fails)
{
	fx f;

	fx_open_gated(&f);
	ck_assert_int_eq(fx_tick_nowait(&f), 0);
	ck_assert_int_eq(snapshot_state(&f), AFK_AGENT_RUNNING);
	release(&f, 3);
	fx_settle(&f);
	check_run_file(&f, "acme-api-12-1", "exit_status", "exited 3\n");
	ck_assert_int_eq(snapshot_state(&f), AFK_AGENT_ERRORED);
	fx_close(&f);
}
END_TEST

/* A supervisor that died (the OOM killer, a reboot) leaves no
 * exit_status and a free lock: the run reads as errored, never as
 * running forever - whether its agent lives on or vanished too. */
START_TEST(test_dead_supervisor_is_errored)
{
	long long sup, pid;
	fx f;

	fx_open_gated(&f);
	ck_assert_int_eq(fx_tick_nowait(&f), 0);
	sup = run_number(&f, "supervisor");
	pid = run_number(&f, "pid");
	ck_assert_int_gt(sup, 1);
	ck_assert_int_eq(kill((pid_t)sup, SIGKILL), 0);
	fx_settle(&f); /* the lock goes with it */
	ck_assert(!exists(run_path(&f, "acme-api-12-1", "exit_status")));
	ck_assert_int_eq(snapshot_state(&f), AFK_AGENT_ERRORED);
	/* its agent, still at the gate, vanishes too */
	ck_assert_int_eq(killpg((pid_t)pid, SIGKILL), 0);
	ck_assert(ended((long)pid));
	ck_assert_int_eq(snapshot_state(&f), AFK_AGENT_ERRORED);
	fx_close(&f);
}
END_TEST

/* While a turn runs no second process starts for the run: a second
 * tick (the issue relabelled) adopts the thread, and a turn is
 * refused. */
START_TEST(test_no_second_process_while_running)
{
	char started[PATHLEN + 16];
	afk_call c;
	fx f;

	fx_open_gated(&f);
	snprintf(started, sizeof(started), "%s/started.log", f.dir);
	ck_assert_int_eq(fx_tick_nowait(&f), 0);
	write_issues(f.issues, one_issue);
	ck_assert_int_eq(fx_tick_nowait(&f), 0);
	ck_assert_uint_eq(afk_result_dispatched_count(f.result), 1);
	ck_assert_str_eq(afk_result_dispatched_thread(f.result, 0),
	                 "acme-api-12-1");
	ck_assert_int_eq(count_entries(f.runs), 1);
	ck_assert_int_eq(a_turn_start(&f, &c, "acme-api-12-1", "fix"),
	                 AFK_ECALLBACK);
	ck_assert_str_eq(msg_of(&c), "thread acme-api-12-1 is still running "
	                 "a turn");
	afk__call_clear(&c);
	release(&f, 0);
	fx_settle(&f);
	ck_assert_int_eq(count_lines(started), 1);
	check_run_file(&f, "acme-api-12-1", "turns", "1\n");
	fx_close(&f);
}
END_TEST

/* The next turn, once the last ended, is detached too. */
START_TEST(test_send_turn_detached)
{
	afk_call c;
	fx f;

	fx_open_gated(&f);
	ck_assert_int_eq(fx_tick_nowait(&f), 0);
	release(&f, 0);
	fx_settle(&f);
	ck_assert_int_eq(a_turn_start(&f, &c, "acme-api-12-1", "fix"), 0);
	afk__call_clear(&c);
	check_run_file(&f, "acme-api-12-1", "turns", "2\n");
	ck_assert(!exists(run_path(&f, "acme-api-12-1", "exit_status")));
	ck_assert_int_eq(snapshot_state(&f), AFK_AGENT_RUNNING);
	release(&f, 5);
	fx_settle(&f);
	check_run_file(&f, "acme-api-12-1", "exit_status", "exited 5\n");
	fx_close(&f);
}
END_TEST

/* An agent that starts a child and waits: the stop must end both. */
static const char *const family_script =
	"#!/bin/sh\n"
	"cat >/dev/null\n"
	"%s"
	"sleep 300 &\n"
	"echo $! > ../../child\n"
	"wait\n";

static void fx_open_family(fx *f, const char *trap, long grace)
{
	char script[512];

	snprintf(script, sizeof(script), family_script, trap);
	fx_open(f, one_issue, script, NULL);
	cfg_set(f->cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"], \"state_dir\": \"%s\", \"stop_grace\": %ld}",
	        f->script, f->runs, grace);
	ck_assert_msg(afk_agent_set_builtin(f->agent, f->cfg) == 0, "%s",
	              afk_agent_errmsg(f->agent));
}

/* The agent's child, once it has started. */
static long family_child(const fx *f)
{
	char path[PATHLEN + 8], *s;
	long pid;

	snprintf(path, sizeof(path), "%s/child", f->dir);
	ck_assert(wait_exists(path));
	do {
		s = read_text(path);
		pid = s ? atol(s) : 0;
		free(s);
	} while (pid == 0 && (nap_ms(10), 1));
	return pid;
}

/* stop ends the agent's process group - its child too - with SIGTERM
 * and records it; the run then reads stopped, and gets no turn. */
START_TEST(test_stop_kills_the_process_group)
{
	afk_call c;
	long child;
	fx f;

	fx_open_family(&f, "", 10);
	ck_assert_int_eq(fx_tick_nowait(&f), 0);
	child = family_child(&f);
	ck_assert_int_eq(a_stop(&f, &c), 0);
	afk__call_clear(&c);
	check_run_file(&f, "acme-api-12-1", "stopped",
	               "stopped by the watch tick: SIGTERM\n");
	ck_assert(ended(child));
	ck_assert(ended((long)run_number(&f, "pid")));
	fx_settle(&f);
	check_run_file(&f, "acme-api-12-1", "exit_status",
	               "killed by signal 15\n");
	ck_assert_int_eq(snapshot_state(&f), AFK_AGENT_STOPPED);
	ck_assert_int_eq(a_turn_start(&f, &c, "acme-api-12-1", "fix"),
	                 AFK_ECALLBACK);
	ck_assert_ptr_nonnull(strstr(msg_of(&c), "was stopped"));
	afk__call_clear(&c);
	ck_assert(!exists(run_path(&f, "acme-api-12-1", "prompt-2.txt")));

	/* Stopped again: nothing is left to signal. */
	ck_assert_int_eq(a_stop(&f, &c), 0);
	afk__call_clear(&c);
	check_run_file(&f, "acme-api-12-1", "stopped",
	               "stopped by the watch tick: no process\n");
	fx_close(&f);
}
END_TEST

/* An agent that ignores SIGTERM gets SIGKILL after stop_grace. */
START_TEST(test_stop_kills_after_grace)
{
	afk_call c;
	long child;
	fx f;

	fx_open_family(&f, "trap '' TERM\n", 1);
	ck_assert_int_eq(fx_tick_nowait(&f), 0);
	child = family_child(&f);
	ck_assert_int_eq(a_stop(&f, &c), 0);
	afk__call_clear(&c);
	check_run_file(&f, "acme-api-12-1", "stopped",
	               "stopped by the watch tick: SIGKILL after 1 s\n");
	ck_assert(ended(child));
	fx_settle(&f);
	check_run_file(&f, "acme-api-12-1", "exit_status",
	               "killed by signal 9\n");
	fx_close(&f);
}
END_TEST

/* A pid the run no longer owns is never signalled: "pid" naming a
 * process whose start time differs (here the test's own, with a start
 * time of 1) is no process of the run. */
START_TEST(test_stop_spares_a_reused_pid)
{
	char text[64];
	afk_call c;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	ck_assert_int_eq(fx_tick(&f), 0);
	snprintf(text, sizeof(text), "%ld 1\n", (long)getpgrp());
	put_run_file(&f, "acme-api-12-1", "pid", text);
	ck_assert_int_eq(a_stop(&f, &c), 0);
	afk__call_clear(&c);
	check_run_file(&f, "acme-api-12-1", "stopped",
	               "stopped by the watch tick: no process\n");
	fx_close(&f);
}
END_TEST

/* stop_grace is an integer in 0..3600. */
START_TEST(test_stop_grace_range)
{
	static const char *const bad[] = {"-1", "3601", "\"10\"", "1.5"};
	char json[3 * PATHLEN];
	size_t i;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), "{\"kind\": \"command\", "
		         "\"command\": [\"%s\"], \"state_dir\": \"%s\", "
		         "\"stop_grace\": %s}", f.script, f.runs, bad[i]);
		ck_assert_msg(afk_config_set(f.cfg, "agent", json) ==
		              AFK_ECONFIG, "stop_grace %s accepted", bad[i]);
		ck_assert_msg(strstr(afk_config_errmsg(f.cfg), "stop_grace"),
		              "%s", afk_config_errmsg(f.cfg));
	}
	cfg_set(f.cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"], \"state_dir\": \"%s\", \"stop_grace\": 0}",
	        f.script, f.runs);
	cfg_set(f.cfg, "agent", "{\"kind\": \"command\", \"command\": "
	        "[\"%s\"], \"state_dir\": \"%s\", \"stop_grace\": 3600}",
	        f.script, f.runs);
	fx_close(&f);
}
END_TEST

/* The snapshot's activity is the log's last change. */
START_TEST(test_snapshot_activity)
{
	struct timespec when[2] = {{123456, 0}, {123456, 0}};
	afk_call c;
	fx f;

	fx_open(&f, one_issue, NULL, NULL);
	ck_assert_int_eq(fx_tick(&f), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, run_path(&f, "acme-api-12-1",
	                           "output.log"), when, 0), 0);
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), 0);
	ck_assert_int_eq(c.activity, 123456);
	afk__call_clear(&c);
	put_run_file(&f, "acme-api-12-1", "output.log", NULL);
	ck_assert_int_eq(a_snapshot(&f, &c, "acme-api-12-1"), 0);
	ck_assert_int_eq(c.activity, 0);
	afk__call_clear(&c);
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
	tcase_add_test(tc, test_malformed_file_message_one_line);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_label_issue_gone);
	tcase_add_test(tc, test_label_idempotent);
	suite_add_tcase(s, tc);

	tc = tcase_create("command");
	tcase_add_test(tc, test_command_run_dir);
	tcase_add_test(tc, test_command_exit_zero_and_signal);
	tcase_add_test(tc, test_command_successive_ids);
	tcase_add_test(tc, test_command_state_dir_parents);
	tcase_add_test(tc, test_command_runs_in_the_state_dir);
	tcase_add_loop_test(tc, test_command_cannot_start, 0,
	                    (int)(sizeof(unstartable) /
	                          sizeof(unstartable[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("comments");
	tcase_add_test(tc, test_comments_find_and_upsert);
	tcase_add_test(tc, test_comments_first_marked_wins);
	tcase_add_test(tc, test_close_and_remove_label);
	tcase_add_test(tc, test_tracker_issue_missing);
	tcase_add_test(tc, test_tracker_refuses_bad_writes);
	tcase_add_test(tc, test_tracker_lock_fails);
	tcase_add_test(tc, test_tracker_lock_link_refused);
	tcase_add_test(tc, test_tracker_lock_mode);
	tcase_add_test(tc, test_issue_file_fifo);
	tcase_add_test(tc, test_concurrent_writers_lose_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("turns");
	tcase_add_loop_test(tc, test_snapshot_states_and_phases, 0,
	                    (int)(sizeof(snapshots) / sizeof(snapshots[0])));
	tcase_add_test(tc, test_snapshot_large_log);
	tcase_add_test(tc, test_snapshot_sums_usage_over_turns);
	tcase_add_test(tc, test_snapshot_usage_edges);
	tcase_add_test(tc, test_thread_ids_checked);
	tcase_add_test(tc, test_send_turn);
	tcase_add_test(tc, test_send_turn_cannot_start);
	tcase_add_test(tc, test_send_turn_needs_its_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("ci");
	tcase_add_test(tc, test_ci_reports_everything);
	tcase_add_loop_test(tc, test_ci_outputs, 0,
	                    (int)(sizeof(ci_outputs) / sizeof(ci_outputs[0])));
	tcase_add_test(tc, test_ci_output_invalid_json_one_line);
	tcase_add_loop_test(tc, test_ci_failures, 0,
	                    (int)(sizeof(ci_failures) / sizeof(ci_failures[0])));
	tcase_add_test(tc, test_ci_stderr_kept_short);
	tcase_add_test(tc, test_ci_cannot_start);
	tcase_add_test(tc, test_ci_bare_command);
	suite_add_tcase(s, tc);

	tc = tcase_create("notifier");
	tcase_add_test(tc, test_notifier_stdout);
	tcase_add_test(tc, test_notifier_file);
	tcase_add_test(tc, test_notifier_link_refused);
	tcase_add_test(tc, test_notifier_file_mode_and_fifo);
	suite_add_tcase(s, tc);

	tc = tcase_create("probe");
	tcase_set_timeout(tc, 30); /* a --version that never answers: 5 s */
	tcase_add_test(tc, test_probe_tracker_file);
	tcase_add_test(tc, test_probe_command_agent);
	tcase_add_test(tc, test_probe_command_ci);
	tcase_add_test(tc, test_probe_notifiers);
	suite_add_tcase(s, tc);

	tc = tcase_create("watch");
	tcase_add_test(tc, test_watch_lifecycle);
	tcase_add_test(tc, test_watch_removed_run_dir_is_gone);
	tcase_add_test(tc, test_ready_again_after_escalation_runs_afresh);
	suite_add_tcase(s, tc);

	tc = tcase_create("hardening");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_dispatch_adopts_unfinished_run);
	tcase_add_test(tc, test_send_turn_one_at_a_time);
	tcase_add_test(tc, test_dotdot_repo);
	tcase_add_test(tc, test_run_dir_links_not_followed);
	tcase_add_test(tc, test_run_dir_modes);
	tcase_add_test(tc, test_issue_file_link_kept);
	tcase_add_test(tc, test_spawn_deadline);
	tcase_add_test(tc, test_spawn_output_cap);
	tcase_add_test(tc, test_no_fd_leak);
	tcase_add_test(tc, test_spawn_environment_rule);
	tcase_add_test(tc, test_commands_get_the_minimal_environment);
	suite_add_tcase(s, tc);

	tc = tcase_create("detached");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dispatch_returns_while_the_agent_runs);
	tcase_add_test(tc, test_detached_turn_fails);
	tcase_add_test(tc, test_dead_supervisor_is_errored);
	tcase_add_test(tc, test_no_second_process_while_running);
	tcase_add_test(tc, test_send_turn_detached);
	tcase_add_test(tc, test_stop_kills_the_process_group);
	tcase_add_test(tc, test_stop_kills_after_grace);
	tcase_add_test(tc, test_stop_spares_a_reused_pid);
	tcase_add_test(tc, test_stop_grace_range);
	tcase_add_test(tc, test_snapshot_activity);
	suite_add_tcase(s, tc);

	tc = tcase_create("command notifier");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_command_notifier_delivers);
	tcase_add_test(tc, test_command_notifier_long_line_cut);
	tcase_add_test(tc, test_command_notifier_environment);
	tcase_add_loop_test(tc, test_command_notifier_failures, 0,
	                    (int)(sizeof(notify_failures) /
	                          sizeof(notify_failures[0])));
	tcase_add_test(tc, test_command_notifier_stderr_cut);
	tcase_add_test(tc, test_command_notifier_timeout);
	tcase_add_test(tc, test_command_notifier_cannot_start);
	tcase_add_test(tc, test_command_notifier_probe);
	tcase_add_loop_test(tc, test_command_notifier_refused, 0,
	                    (int)(sizeof(notify_refusals) /
	                          sizeof(notify_refusals[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("registration");
	tcase_add_test(tc, test_builtin_needs_config);
	tcase_add_test(tc, test_setup_errors_name_line_key_and_adapter);
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
