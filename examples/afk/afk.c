/*
 * examples/afk/afk.c - the afk command: a poll tick, a watch tick or both
 * from a configuration file, with the built-in adapters (file tracker,
 * command agent, command CI, stdout or file notifier), optionally as a
 * dry run; and a check of a configuration file.  A host program like any
 * other: it uses only the public API.
 *
 * The library's log goes to standard error, one line per event (see
 * afk(1) LOGGING): -v, -vv, -q and --log-format text|json.  --json puts
 * the results on standard output as JSON Lines instead of the report
 * (afk(1) JSON OUTPUT), encoded by jansson: titles are anyone's text.
 *
 * afk status looks without writing: a dry run of both ticks, with the
 * ETag cache read-only and no tick lock, reported per repository.
 *
 * Exit status: 0 done (also when disarmed, or skipped because another
 * tick on the same configuration is running), 1 a tick (or a probe of
 * check-config --online) failed, 2 usage, 3 configuration refused.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for realpath() */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include <afk/afk.h>
#include <jansson.h>

#include "metrics.h"
#include "names.h"

#define EXIT_TICK 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 3

/* --dry-run: the write callbacks print what they would do instead. */
static int dry_run;
/* check-config --online: they neither print nor do anything. */
static int dry_quiet;
/* The width of a report line's first column. */
static int what_width = 11;
/* What this tick counts for afk(1) METRICS; NULL when it writes no
 * metrics (a dry run, check-config). */
static metrics *tick_metrics;

static const char synopsis[] =
	"usage: afk poll --config FILE [--dry-run] [LOG OPTIONS]\n"
	"       afk watch --config FILE [--now TIME] [--dry-run] "
	"[LOG OPTIONS]\n"
	"       afk tick --config FILE [--now TIME] [--dry-run] "
	"[LOG OPTIONS]\n"
	"       afk check-config --config FILE [--online] [LOG OPTIONS]\n"
	"       afk status --config FILE [--now TIME] [LOG OPTIONS]\n"
	"       afk --help | --version\n"
	"LOG OPTIONS: [-v | -vv | -q] [--log-format text|json] [--json]\n";

static void usage(FILE *fp)
{
	fputs(synopsis, fp);
	fputs("\n"
	      "Commands:\n"
	      "  poll      run one poll tick: dispatch at most one ready\n"
	      "            issue per allowlisted repository and lock it\n"
	      "  watch     run one watch tick: drive every run in progress\n"
	      "            one step on (wait, close, fix forward, escalate)\n"
	      "            and show its checklist\n"
	      "  tick      a poll tick, then a watch tick\n"
	      "  check-config\n"
	      "            check FILE and the built-in adapters it selects\n"
	      "            (tokens included) and summarise it\n"
	      "  status    show, per allowlisted repository, its lock, the\n"
	      "            runs in flight with their next deadline, and what\n"
	      "            the next poll would do; writes nothing\n"
	      "  help      show this help\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE  the configuration file (see afk.json(5))\n"
	      "      --state-dir DIR\n"
	      "                     where afk writes (the tick lock, the ETag\n"
	      "                     cache, the command agent's runs, the\n"
	      "                     metrics); default:\n"
	      "                     state_dir, $STATE_DIRECTORY,\n"
	      "                     $XDG_STATE_HOME/afk, ~/.local/state/afk\n"
	      "      --now TIME     the time the watch tick (or status)\n"
	      "                     decides at: seconds since the epoch or\n"
	      "                     RFC 3339 (2026-01-01T00:10:00Z);\n"
	      "                     default: now\n"
	      "      --dry-run      read everything, write nothing: print\n"
	      "                     each write instead (labels, comments,\n"
	      "                     closes, dispatches, turns, notices);\n"
	      "                     no metrics either\n"
	      "      --online       check-config: also probe each adapter and\n"
	      "                     list the ready issues, read-only\n"
	      "  -v, --verbose      log info lines too; -vv also debug lines\n"
	      "  -q, --quiet        log errors only (default: notices,\n"
	      "                     warnings and errors)\n"
	      "      --log-format text|json\n"
	      "                     the log on standard error: one line per\n"
	      "                     event, text (the default) or one JSON\n"
	      "                     object with ts, level, event, msg\n"
	      "      --json         the results on standard output as JSON\n"
	      "                     Lines, one object per decision, action,\n"
	      "                     warning and error (see afk(1))\n"
	      "  -h, --help         show this help\n"
	      "      --version      show the version\n"
	      "\n"
	      "Ticks on one state directory never overlap: one that finds\n"
	      "its afk.lock held by another is skipped (exit status 0).\n"
	      "Each tick writes Prometheus metrics to metrics_file\n"
	      "(default: the state directory's afk.prom).\n"
	      "\n"
	      "Environment: AFK_KILL_SWITCH and AFK_ALLOWLIST override the\n"
	      "file's two arming gates.  See afk(1).\n", fp);
}

/* --- the log ------------------------------------------------------------ */

/* How libafk's log is written: on standard error, one line per event. */
typedef struct log_opts {
	int max_level;      /* AFK_LOG_*: -q ERROR, default NOTICE, -v, -vv */
	int json;           /* --log-format json */
} log_opts;

static const char *const level_names[] = {"error", "warning", "notice",
                                          "info", "debug"};

/* Writes s as the inside of a JSON string. */
static void json_chars(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
}

/* The afk_log_fn: "TS LEVEL EVENT: MESSAGE" or a JSON object, with the
 * time in UTC to the second.  The library sends no secret and one line.
 * The metrics see every line, also those below the level it prints. */
static void log_line(int level, const char *event, const char *message,
                     void *userdata)
{
	const log_opts *lo = userdata;
	const char *name = level >= 0 && level <= AFK_LOG_DEBUG ?
	                   level_names[level] : "error";
	time_t now = time(NULL);
	struct tm tm;
	char ts[32] = "";

	metrics_log(tick_metrics, event, message);
	if (level > lo->max_level)
		return;
	if (gmtime_r(&now, &tm) != NULL)
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!lo->json) {
		fprintf(stderr, "%s %s %s: %s\n", ts, name, event, message);
		return;
	}
	fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", ts,
	        name);
	json_chars(stderr, event);
	fputs("\",\"msg\":\"", stderr);
	json_chars(stderr, message);
	fputs("\"}\n", stderr);
}

/* Sets the log the options ask for on cfg: every level when the
 * metrics read it (log_line() prints only what the options ask for). */
static void set_log(afk_config *cfg, const log_opts *lo)
{
	(void)afk_config_set_log(cfg, log_line, tick_metrics != NULL ?
	                         AFK_LOG_DEBUG : lo->max_level, (void *)lo,
	                         NULL);
}

/* --- JSON output (--json) ----------------------------------------------- */

/* --json: the results as JSON Lines on standard output, one object per
 * decision, action, warning and error (afk(1) JSON OUTPUT). */
static int json_out;
/* The command running, named in every event. */
static const char *command_name = "";

/* s as a JSON string, NULL as null.  Titles and messages are anyone's
 * text: jansson escapes quotes and control characters, so a line stays a
 * line; text that is not UTF-8, which JSON cannot carry, has its
 * non-ASCII bytes replaced by '?'. */
static json_t *jstr(const char *s)
{
	json_t *v;
	char *copy;
	size_t i;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	if (v != NULL)
		return v;
	copy = strdup(s);
	if (copy == NULL)
		return json_null();
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	v = json_string(copy);
	free(copy);
	return v != NULL ? v : json_null();
}

/* A new event object {"event": event, "command": the command}. */
static json_t *event_new(const char *event)
{
	json_t *o = json_object();

	json_object_set_new(o, "event", json_string(event));
	json_object_set_new(o, "command", json_string(command_name));
	return o;
}

static void put_str(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, jstr(s));
}

static void put_int(json_t *o, const char *key, long long v)
{
	json_object_set_new(o, key, json_integer(v));
}

/* v, or null when v is 0 (an issue number, a time: none). */
static void put_int0(json_t *o, const char *key, long long v)
{
	json_object_set_new(o, key, v != 0 ? json_integer(v) : json_null());
}

static void put_bool(json_t *o, const char *key, int v)
{
	json_object_set_new(o, key, json_boolean(v));
}

/* Writes o as one line on standard output, and frees it. */
static void emit(json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s != NULL) {
		fputs(s, stdout);
		putchar('\n');
		free(s);
	}
	json_decref(o);
}

/* {"event":"error"}: what failed - a repository, an issue, or the
 * command (repo and issue null) - with the code's name and the message. */
static void emit_error(const char *repo, long number, int code,
                       const char *message)
{
	json_t *o = event_new("error");

	put_str(o, "repo", repo != NULL && repo[0] != '\0' ? repo : NULL);
	put_int0(o, "issue", number);
	put_str(o, "code", code != 0 ? afk_strerror(code) : NULL);
	put_str(o, "message", message);
	emit(o);
}

static void emit_warning(const char *message)
{
	json_t *o = event_new("warning");

	put_str(o, "message", message);
	emit(o);
}

/* Says on standard error what stopped the command - and with --json as
 * an error event too. */
static void fail_msg(const char *message)
{
	fflush(stdout);
	fprintf(stderr, "afk: %s\n", message);
	if (json_out)
		emit_error(NULL, 0, 0, message);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* NULL for 0: no reason. */
static const char *escalation_token(int reason)
{
	return reason != 0 ? name_of(&names_escalation, reason) : NULL;
}

/* t (seconds since the epoch) as "2026-01-01T00:10:00Z" into buf. */
static void iso_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((long long)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "@%lld", t);
}

/* Runs a poll tick over adapters with no callbacks: with the disarmed
 * cfg it calls none and only logs, once, why it did nothing (event
 * tick.disarmed, from the library, as every disarmed tick does). */
static void log_disarmed(const afk_config *cfg)
{
	afk_tracker *t = NULL;
	afk_agent *a = NULL;
	afk_poller *p = NULL;
	afk_result *r = NULL;

	if (afk_tracker_new(&t) == 0 && afk_agent_new(&a) == 0 &&
	    afk_poller_new(&p, t, a) == 0)
		(void)afk_poller_run_once(p, cfg, &r);
	afk_result_free(r);
	afk_poller_free(p);
	afk_agent_free(a);
	afk_tracker_free(t);
}

/* Returns the JSON text of key (afk_free() it), or NULL. */
static char *config_get(const afk_config *cfg, const char *key)
{
	char *json = NULL;

	if (afk_config_get(cfg, key, &json) != 0)
		return NULL;
	return json;
}

static char *config_kind(const afk_config *cfg, const char *key);

/* Says which gate keeps a disarmed configuration from dispatching.
 * Either may be closed, or both; an unreadable answer counts as closed. */
static void report_disarmed(const afk_config *cfg, const char *nothing)
{
	char *ks = config_get(cfg, "kill_switch");
	char *al = config_get(cfg, "allowlist");
	int kill_on = ks == NULL || strcmp(ks, "false") != 0;
	int list_empty = al == NULL || strchr(al, '"') == NULL;

	json_t *o;

	if (json_out) {
		if (kill_on)
			emit_warning("the kill switch is on (kill_switch, "
			             "AFK_KILL_SWITCH)");
		if (list_empty)
			emit_warning("the allowlist is empty (allowlist, "
			             "AFK_ALLOWLIST)");
		o = event_new("summary");
		put_bool(o, "armed", 0);
		put_str(o, "nothing_was", nothing);
		emit(o);
	} else {
		if (kill_on)
			printf("afk: the kill switch is on (kill_switch, "
			       "AFK_KILL_SWITCH)\n");
		if (list_empty)
			printf("afk: the allowlist is empty (allowlist, "
			       "AFK_ALLOWLIST)\n");
		printf("afk: disarmed; nothing was %s\n", nothing);
	}
	afk_free(ks);
	afk_free(al);
}

/* The width of "repo#number", for lining the report up. */
static int ref_width(const char *repo, long number)
{
	return snprintf(NULL, 0, "%s#%ld", repo, number);
}

/* "what  repo#number  tail", the reference padded to width. */
static void print_line(const char *what, const char *repo, long number,
                       int width, const char *tail)
{
	if (tail[0] == '\0')
		printf("%-*s %s#%ld\n", what_width, what, repo, number);
	else
		printf("%-*s %s#%ld%*s  %s\n", what_width, what, repo, number,
		       width - ref_width(repo, number), "", tail);
}

/* {"event":"dispatch"}: an issue dispatched, or that would be. */
static void emit_dispatch(const afk_result *res, size_t i)
{
	const afk_issue *is = afk_result_dispatched_issue(res, i);
	json_t *o = event_new("dispatch");

	put_str(o, "repo", afk_issue_repo(is));
	put_int(o, "issue", afk_issue_number(is));
	put_str(o, "title", afk_issue_title(is));
	put_str(o, "thread", dry_run ? NULL :
	        afk_result_dispatched_thread(res, i));
	put_bool(o, "dry_run", dry_run);
	emit(o);
}

/* {"event":"skip"}: an issue listed and not dispatched, and why. */
static void emit_skip(const afk_result *res, size_t i)
{
	int reason = afk_result_skipped_reason(res, i);
	json_t *o = event_new("skip");

	put_str(o, "repo", afk_result_skipped_repo(res, i));
	put_int(o, "issue", afk_result_skipped_number(res, i));
	put_str(o, "reason", name_of(&names_skip, reason));
	put_str(o, "reason_text", afk_skip_reason_str(reason));
	emit(o);
}

/* One line per dispatch, one per skipped issue, then a summary; with
 * --json one event each (the caller writes the summary). */
static void report(const afk_result *res)
{
	const afk_issue *is;
	size_t i, nd, ns;
	int w, width = 0;
	char tail[512];

	nd = afk_result_dispatched_count(res);
	ns = afk_result_skipped_count(res);
	if (json_out) {
		for (i = 0; i < nd; i++)
			emit_dispatch(res, i);
		for (i = 0; i < ns; i++)
			emit_skip(res, i);
		return;
	}
	for (i = 0; i < nd; i++) {
		is = afk_result_dispatched_issue(res, i);
		w = ref_width(afk_issue_repo(is), afk_issue_number(is));
		width = w > width ? w : width;
	}
	for (i = 0; i < ns; i++) {
		w = ref_width(afk_result_skipped_repo(res, i),
		              afk_result_skipped_number(res, i));
		width = w > width ? w : width;
	}
	for (i = 0; i < nd; i++) {
		is = afk_result_dispatched_issue(res, i);
		if (dry_run)
			tail[0] = '\0';
		else
			snprintf(tail, sizeof(tail), "-> thread %s",
			         afk_result_dispatched_thread(res, i));
		print_line(dry_run ? "would dispatch" : "dispatched",
		           afk_issue_repo(is), afk_issue_number(is), width,
		           tail);
	}
	for (i = 0; i < ns; i++) {
		snprintf(tail, sizeof(tail), "(%s)", afk_skip_reason_str(
		         afk_result_skipped_reason(res, i)));
		print_line("skipped", afk_result_skipped_repo(res, i),
		           afk_result_skipped_number(res, i), width, tail);
	}
	if (dry_run)
		printf("%zu would be dispatched, %zu skipped (dry run: nothing "
		       "was written)\n", nd, ns);
	else
		printf("%zu dispatched, %zu skipped\n", nd, ns);
}

/* --- the watch report -------------------------------------------------- */

/* What was done with run i, as one phrase. */
static void describe_action(const afk_actions *acts, size_t i,
                            const afk_config *cfg, char *buf, size_t size)
{
	char *budget = config_get(cfg, "fix_forward_budget");
	int kind = afk_actions_kind(acts, i);

	if (kind == AFK_ACTION_FIX_FORWARD)
		snprintf(buf, size, "fix-forward (attempt %d of %s)",
		         afk_actions_attempts(acts, i), budget ? budget : "?");
	else if (kind == AFK_ACTION_ESCALATE)
		snprintf(buf, size, "escalate: %s",
		         afk_escalation_str(afk_actions_reason(acts, i)));
	else if (kind == AFK_ACTION_STOP)
		snprintf(buf, size, "stop: %s",
		         afk_stop_str(afk_actions_stop_reason(acts, i)));
	else
		snprintf(buf, size, "%s", afk_action_str(kind));
	afk_free(budget);
}

/* The checklist as a person sees it on the issue - without the hidden
 * record line it opens with - indented under its action. */
static void print_checklist(const char *body)
{
	const char *line = body, *end;

	if (strncmp(line, "<!--", 4) == 0) {
		end = strchr(line, '\n');
		line = end ? end + 1 : line + strlen(line);
	}
	for (; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		if (end > line)
			printf("    %.*s\n", (int)(end - line), line);
		else
			putchar('\n');
		if (*end == '\0')
			break;
	}
}

/* An event for run i of acts (event "action" from watch and tick,
 * "run" from status), at now. */
static json_t *action_event(const afk_actions *acts, size_t i,
                            const char *event, long long now)
{
	int kind = afk_actions_kind(acts, i);
	int reason = afk_actions_reason(acts, i);
	int dreason = afk_actions_deadline_reason(acts, i);
	int stop = afk_actions_stop_reason(acts, i);
	long long since = afk_actions_since(acts, i);
	long long deadline = afk_actions_deadline(acts, i);
	const char *thread = afk_actions_thread(acts, i);
	json_t *o = event_new(event);
	char when[40];

	put_str(o, "repo", afk_actions_repo(acts, i));
	put_int(o, "issue", afk_actions_number(acts, i));
	put_str(o, "thread", thread != NULL && thread[0] != '\0' ? thread :
	        NULL);
	put_str(o, "action", afk_action_str(kind));
	put_str(o, "reason", escalation_token(reason));
	put_str(o, "reason_text", reason ? afk_escalation_str(reason) : NULL);
	put_str(o, "stop_reason", stop ? name_of(&names_stop, stop) : NULL);
	put_str(o, "stop_reason_text", stop ? afk_stop_str(stop) : NULL);
	put_str(o, "phase", name_of(&names_phase, afk_actions_phase(acts, i)));
	put_int(o, "attempts", afk_actions_attempts(acts, i));
	put_bool(o, "updated", afk_actions_updated(acts, i));
	put_int0(o, "since", since);
	json_object_set_new(o, "age", since != 0 ? json_integer(now - since) :
	                    json_null());
	put_int0(o, "deadline", dreason ? deadline : 0);
	iso_time(deadline, when, sizeof(when));
	put_str(o, "deadline_at", dreason ? when : NULL);
	put_str(o, "deadline_reason", escalation_token(dreason));
	put_str(o, "deadline_reason_text", dreason ?
	        afk_escalation_str(dreason) : NULL);
	put_bool(o, "dry_run", dry_run);
	return o;
}

/* One block per run watched, then a summary line; with --json one
 * event each (the caller writes the summary). */
static void report_watch(const afk_actions *acts, const afk_config *cfg,
                         long long now)
{
	size_t i, n = afk_actions_count(acts);
	size_t count[AFK_ACTION_STOP + 1] = {0};
	char stopped[64] = "";
	int w, width = 0, kind;
	char what[512];

	if (json_out) {
		for (i = 0; i < n; i++)
			emit(action_event(acts, i, "action", now));
		return;
	}

	for (i = 0; i < n; i++) {
		w = ref_width(afk_actions_repo(acts, i),
		              afk_actions_number(acts, i));
		width = w > width ? w : width;
	}
	for (i = 0; i < n; i++) {
		kind = afk_actions_kind(acts, i);
		if (kind >= 0 && kind <= AFK_ACTION_STOP)
			count[kind]++;
		describe_action(acts, i, cfg, what, sizeof(what));
		print_line("watch", afk_actions_repo(acts, i),
		           afk_actions_number(acts, i), width, what);
		print_checklist(afk_actions_checklist(acts, i));
		putchar('\n');
	}
	/* only when there were some: a stop is a human's doing, rare */
	if (count[AFK_ACTION_STOP] > 0)
		snprintf(stopped, sizeof(stopped), "%zu stopped, ",
		         count[AFK_ACTION_STOP]);
	printf("%zu watched: %zu closed, %zu fixed forward, %zu escalated, "
	       "%s%zu waiting%s\n", n, count[AFK_ACTION_CLOSE],
	       count[AFK_ACTION_FIX_FORWARD], count[AFK_ACTION_ESCALATE],
	       stopped, count[AFK_ACTION_WAIT],
	       dry_run ? " (dry run: nothing was written)" : "");
}

/* --- the dry run -------------------------------------------------------- */

/*
 * A dry run keeps every read callback a built-in adapter registered and
 * replaces each of its write callbacks with one below, which prints what
 * it would have done and reports success.  The built-ins register through
 * the public afk_*_set_* functions, so registering again replaces exactly
 * that callback; the built-in's userdata stays for its reads and is
 * ignored here.  Nothing else is needed from the library: a dry write
 * never has to call the built-in one it replaces.
 */

/* {"event":"dry_write"}: the write call that was not made, on issue
 * repo#number (or thread), with one detail (key: value) and a size. */
static void emit_dry(const char *call, const char *repo, long number,
                     const char *key, const char *value, long long bytes)
{
	json_t *o = event_new("dry_write");

	put_str(o, "call", call);
	put_str(o, "repo", repo);
	put_int0(o, "issue", number);
	if (key != NULL)
		put_str(o, key, value);
	if (bytes >= 0)
		put_int(o, "bytes", bytes);
	emit(o);
}

static int dry_add_label(afk_call *call, const char *repo, long number,
                         const char *label, void *userdata)
{
	(void)call;
	(void)userdata;
	if (!dry_quiet && json_out)
		emit_dry("add_label", repo, number, "label", label, -1);
	else if (!dry_quiet)
		printf("would add label %s to %s#%ld\n", label, repo, number);
	return 0;
}

static int dry_remove_label(afk_call *call, const char *repo, long number,
                            const char *label, void *userdata)
{
	(void)call;
	(void)userdata;
	if (!dry_quiet && json_out)
		emit_dry("remove_label", repo, number, "label", label, -1);
	else if (!dry_quiet)
		printf("would remove label %s from %s#%ld\n", label, repo,
		       number);
	return 0;
}

static int dry_close_issue(afk_call *call, const char *repo, long number,
                           void *userdata)
{
	(void)call;
	(void)userdata;
	if (!dry_quiet && json_out)
		emit_dry("close_issue", repo, number, NULL, NULL, -1);
	else if (!dry_quiet)
		printf("would close %s#%ld\n", repo, number);
	return 0;
}

static int dry_upsert_comment(afk_call *call, const char *repo, long number,
                              const char *marker, const char *body,
                              void *userdata)
{
	(void)call;
	(void)marker;
	(void)userdata;
	if (!dry_quiet && json_out)
		emit_dry("upsert_comment", repo, number, NULL, NULL,
		         (long long)strlen(body));
	else if (!dry_quiet)
		printf("would write the checklist comment of %s#%ld "
		       "(%zu bytes)\n", repo, number, strlen(body));
	return 0;
}

/* Reports a thread id the watch tick never sees: the record holding it
 * is not written either. */
static int dry_dispatch(afk_call *call, const char *repo, long number,
                        const char *prompt, void *userdata)
{
	(void)userdata;
	if (!dry_quiet && json_out)
		emit_dry("dispatch", repo, number, NULL, NULL,
		         (long long)strlen(prompt));
	else if (!dry_quiet)
		printf("would dispatch %s#%ld (prompt of %zu bytes)\n", repo,
		       number, strlen(prompt));
	return afk_call_set_thread_id(call, "dry-run");
}

static int dry_send_turn(afk_call *call, const char *thread_id,
                         const char *prompt, void *userdata)
{
	(void)call;
	(void)userdata;
	if (!dry_quiet && json_out)
		emit_dry("send_turn", NULL, 0, "thread", thread_id,
		         (long long)strlen(prompt));
	else if (!dry_quiet)
		printf("would send a corrective turn to thread %s (prompt of "
		       "%zu bytes)\n", thread_id, strlen(prompt));
	return 0;
}

static int dry_stop(afk_call *call, const char *repo, long number,
                    const char *thread_id, void *userdata)
{
	(void)call;
	(void)userdata;
	if (!dry_quiet)
		printf("would stop thread %s of %s#%ld\n", thread_id, repo,
		       number);
	return 0;
}

static int dry_notify(afk_call *call, const char *repo, long number,
                      const char *message, const char *link, void *userdata)
{
	(void)call;
	(void)userdata;
	if (!dry_quiet && json_out)
		emit_dry("notify", repo, number, "message", message,
		         -1);
	else if (!dry_quiet)
		printf("would notify about %s#%ld: %s%s%s\n", repo, number,
		       message, link[0] ? " " : "", link);
	return 0;
}

/* With --json the "stdout" notifier, whose plain line would break the
 * JSON Lines, is replaced by this one: the notice as an event. */
static int json_notify(afk_call *call, const char *repo, long number,
                       const char *message, const char *link,
                       void *userdata)
{
	json_t *o = event_new("notify");

	(void)call;
	(void)userdata;
	put_str(o, "repo", repo);
	put_int(o, "issue", number);
	put_str(o, "message", message);
	put_str(o, "link", link[0] != '\0' ? link : NULL);
	emit(o);
	fflush(stdout);
	return 0;
}

/* --- the adapters and the ticks ----------------------------------------- */

/* The four built-in adapters a command needs; poll needs only the first
 * two. */
typedef struct adapters {
	afk_tracker *tracker;
	afk_agent *agent;
	afk_ci *ci;
	afk_notifier *notifier;
} adapters;

static void adapters_free(adapters *a)
{
	afk_notifier_free(a->notifier);
	afk_ci_free(a->ci);
	afk_agent_free(a->agent);
	afk_tracker_free(a->tracker);
	memset(a, 0, sizeof(*a));
}

/* Replaces the write callbacks of a's adapters with the dry ones. */
static void dry_wrap(adapters *a)
{
	if (a->tracker != NULL) {
		afk_tracker_set_add_label(a->tracker, dry_add_label);
		afk_tracker_set_remove_label(a->tracker, dry_remove_label);
		afk_tracker_set_close_issue(a->tracker, dry_close_issue);
		afk_tracker_set_upsert_comment(a->tracker, dry_upsert_comment);
	}
	if (a->agent != NULL) {
		afk_agent_set_dispatch(a->agent, dry_dispatch);
		afk_agent_set_send_turn(a->agent, dry_send_turn);
		afk_agent_set_stop(a->agent, dry_stop);
	}
	if (a->notifier != NULL)
		afk_notifier_set_notify(a->notifier, dry_notify);
}

/* Sets up the built-in adapters cfg selects - the CI and the notifier
 * only when watching - before any tick runs, so that a configuration
 * missing one is refused before anything is dispatched.  Returns 0 or an
 * exit status, having said why. */
static int adapters_init(adapters *a, const afk_config *cfg, int watching)
{
	memset(a, 0, sizeof(*a));
	char *kind;

	if (afk_tracker_new(&a->tracker) || afk_agent_new(&a->agent) ||
	    (watching && (afk_ci_new(&a->ci) ||
	                  afk_notifier_new(&a->notifier)))) {
		fail_msg("out of memory");
		return EXIT_TICK;
	}
	if (afk_tracker_set_builtin(a->tracker, cfg) != 0) {
		fail_msg(afk_tracker_errmsg(a->tracker));
		return EXIT_CONFIG;
	}
	if (afk_agent_set_builtin(a->agent, cfg) != 0) {
		fail_msg(afk_agent_errmsg(a->agent));
		return EXIT_CONFIG;
	}
	if (watching && afk_ci_set_builtin(a->ci, cfg) != 0) {
		fail_msg(afk_ci_errmsg(a->ci));
		return EXIT_CONFIG;
	}
	if (watching && afk_notifier_set_builtin(a->notifier, cfg) != 0) {
		fail_msg(afk_notifier_errmsg(a->notifier));
		return EXIT_CONFIG;
	}
	kind = watching && json_out ? config_kind(cfg, "notifier") : NULL;
	if (kind != NULL && strcmp(kind, "stdout") == 0)
		afk_notifier_set_notify(a->notifier, json_notify);
	free(kind);
	if (dry_run || dry_quiet)
		dry_wrap(a);
	return 0;
}

/* Says on standard error what failed in a poll tick: each repository's
 * failure (the tick went on past it), and the failure that stopped the
 * tick, if any.  Returns how many there were. */
static size_t report_errors(const afk_result *res)
{
	size_t i, n = afk_result_error_count(res);

	for (i = 0; i < n; i++) {
		const char *repo = afk_result_error_repo(res, i);

		if (json_out)
			emit_error(repo, afk_result_error_number(res, i),
			           afk_result_error_code(res, i),
			           afk_result_error_message(res, i));
		if (repo[0] != '\0')
			fprintf(stderr, "afk: poll: %s: %s\n", repo,
			        afk_result_error_message(res, i));
		else
			fprintf(stderr, "afk: poll failed: %s: %s\n",
			        afk_strerror(afk_result_error_code(res, i)),
			        afk_result_error_message(res, i));
	}
	return n;
}

/* Runs one poll tick and reports it. */
static int poll_tick(const adapters *a, const afk_config *cfg)
{
	afk_poller *poller = NULL;
	afk_result *res = NULL;
	json_t *o;
	size_t nerr;
	int rc, status = 0;

	if (afk_poller_new(&poller, a->tracker, a->agent) != 0) {
		fail_msg("out of memory");
		return EXIT_TICK;
	}
	rc = afk_poller_run_once(poller, cfg, &res);
	metrics_poll(tick_metrics, res);
	if (res != NULL)
		report(res);
	fflush(stdout); /* the report first, then what failed */
	nerr = report_errors(res);
	if (nerr > 0)
		status = EXIT_TICK;
	else if (rc != 0) {
		fprintf(stderr, "afk: poll failed: %s: %s\n",
		        afk_strerror(rc), afk_poller_errmsg(poller));
		if (json_out)
			emit_error(NULL, 0, rc, afk_poller_errmsg(poller));
		nerr = 1;
		status = EXIT_TICK;
	}
	if (json_out) {
		o = event_new("summary");
		put_str(o, "tick", "poll");
		put_bool(o, "armed", 1);
		put_int(o, "dispatched", (long long)
		        afk_result_dispatched_count(res));
		put_int(o, "skipped", (long long)afk_result_skipped_count(res));
		put_int(o, "errors", (long long)nerr);
		put_bool(o, "dry_run", dry_run);
		emit(o);
	}
	afk_result_free(res);
	afk_poller_free(poller);
	return status;
}

/* The same for a watch tick: each run's failure, and what stopped the
 * tick. */
static size_t report_watch_errors(const afk_actions *acts)
{
	size_t i, n = afk_actions_error_count(acts);

	for (i = 0; i < n; i++) {
		const char *repo = afk_actions_error_repo(acts, i);

		if (json_out)
			emit_error(repo, afk_actions_error_number(acts, i),
			           afk_actions_error_code(acts, i),
			           afk_actions_error_message(acts, i));
		if (repo[0] != '\0')
			fprintf(stderr, "afk: watch: %s: %s\n", repo,
			        afk_actions_error_message(acts, i));
		else
			fprintf(stderr, "afk: watch failed: %s: %s\n",
			        afk_strerror(afk_actions_error_code(acts, i)),
			        afk_actions_error_message(acts, i));
	}
	return n;
}

/* Runs one watch tick at now and reports it. */
static int watch_tick(const adapters *a, const afk_config *cfg,
                      long long now)
{
	afk_watcher *watcher = NULL;
	afk_actions *acts = NULL;
	size_t i, nerr, count[AFK_ACTION_ESCALATE + 1] = {0};
	json_t *o;
	int rc, kind, status = 0;

	if (afk_watcher_new(&watcher, a->tracker, a->agent, a->ci,
	                    a->notifier) != 0) {
		fail_msg("out of memory");
		return EXIT_TICK;
	}
	rc = afk_watcher_run_once(watcher, cfg, now, &acts);
	metrics_watch(tick_metrics, acts);
	if (acts != NULL)
		report_watch(acts, cfg, now);
	fflush(stdout); /* the report first, then what failed */
	nerr = report_watch_errors(acts);
	if (nerr > 0)
		status = EXIT_TICK;
	else if (rc != 0) {
		fprintf(stderr, "afk: watch failed: %s: %s\n",
		        afk_strerror(rc), afk_watcher_errmsg(watcher));
		if (json_out)
			emit_error(NULL, 0, rc, afk_watcher_errmsg(watcher));
		nerr = 1;
		status = EXIT_TICK;
	}
	if (json_out) {
		for (i = 0; i < afk_actions_count(acts); i++) {
			kind = afk_actions_kind(acts, i);
			if (kind >= 0 && kind <= AFK_ACTION_ESCALATE)
				count[kind]++;
		}
		o = event_new("summary");
		put_str(o, "tick", "watch");
		put_bool(o, "armed", 1);
		put_int(o, "watched", (long long)afk_actions_count(acts));
		put_int(o, "closed", (long long)count[AFK_ACTION_CLOSE]);
		put_int(o, "fixed_forward",
		        (long long)count[AFK_ACTION_FIX_FORWARD]);
		put_int(o, "escalated", (long long)count[AFK_ACTION_ESCALATE]);
		put_int(o, "waiting", (long long)count[AFK_ACTION_WAIT]);
		put_int(o, "errors", (long long)nerr);
		put_bool(o, "dry_run", dry_run);
		emit(o);
	}
	afk_actions_free(acts);
	afk_watcher_free(watcher);
	return status;
}

/* --- the commands ------------------------------------------------------- */

enum command { CMD_POLL, CMD_WATCH, CMD_TICK, CMD_CHECK, CMD_STATUS };

static const char *const command_names[] = {"poll", "watch", "tick",
                                            "check-config", "status"};

/* What the command line asked for. */
typedef struct options {
	enum command cmd;
	const char *config;
	long long now;      /* -1: the clock's */
	int dry_run;        /* --dry-run (poll, watch, tick) */
	int online;         /* --online (check-config) */
	int json;           /* --json */
	const char *state_dir; /* --state-dir DIR, or NULL */
	log_opts log;       /* -v, -q, --log-format */
} options;

/* Sets key of cfg to the JSON string s: quotes, backslashes and control
 * characters escaped.  Returns afk_config_set()'s code. */
static int config_set_string(afk_config *cfg, const char *key, const char *s)
{
	size_t n = strlen(s), o = 0;
	char *json = malloc(6 * n + 3);
	int rc;

	if (json == NULL)
		return AFK_ENOMEM;
	json[o++] = '"';
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			json[o++] = '\\';
			json[o++] = *s;
		} else if ((unsigned char)*s < 0x20) {
			o += (size_t)sprintf(json + o, "\\u%04x", *s);
		} else {
			json[o++] = *s;
		}
	}
	json[o++] = '"';
	json[o] = '\0';
	rc = afk_config_set(cfg, key, json);
	free(json);
	return rc;
}

/* Loads the configuration file of o into cfg, then --state-dir, then
 * the environment (AFK_KILL_SWITCH, AFK_ALLOWLIST, and the state
 * directory's default when neither the file nor the option set one).
 * Returns 0, or nonzero with why in afk_config_errmsg(cfg). */
static int load_config(const options *o, afk_config *cfg)
{
	if (afk_config_load_file(cfg, o->config) != 0)
		return -1;
	if (o->state_dir != NULL &&
	    config_set_string(cfg, "state_dir", o->state_dir) != 0)
		return -1;
	return afk_config_apply_env(cfg) != 0;
}

/* Runs the ticks cmd names.  A tick runs the watch even when its poll
 * failed: runs already under way still need watching. */
static int run_ticks(const options *o, const afk_config *cfg)
{
	adapters a;
	long long now = o->now >= 0 ? o->now : (long long)time(NULL);
	int status, st2 = 0;

	status = adapters_init(&a, cfg, o->cmd != CMD_POLL);
	if (status == 0) {
		if (o->cmd != CMD_WATCH)
			status = poll_tick(&a, cfg);
		if (o->cmd == CMD_TICK && !json_out)
			putchar('\n');
		if (o->cmd != CMD_POLL)
			st2 = watch_tick(&a, cfg, now);
	}
	adapters_free(&a);
	return status ? status : st2;
}

/* The string value of key, unescaped from afk_config_get()'s JSON, in a
 * string to free(); NULL when it is null (or on failure). */
static char *config_get_string(const afk_config *cfg, const char *key)
{
	char *json = config_get(cfg, key), *out = NULL, *o;
	const char *p;
	unsigned v;

	if (json != NULL && json[0] == '"' && (out = malloc(strlen(json)))) {
		for (p = json + 1, o = out; *p != '\0' && *p != '"'; p++) {
			if (*p != '\\') {
				*o++ = *p;
				continue;
			}
			switch (*++p) {
			case 'b': *o++ = '\b'; break;
			case 'f': *o++ = '\f'; break;
			case 'n': *o++ = '\n'; break;
			case 'r': *o++ = '\r'; break;
			case 't': *o++ = '\t'; break;
			case 'u':
				/* jansson escapes only control characters */
				if (sscanf(p + 1, "%4x", &v) == 1 && v < 0x80)
					*o++ = (char)v;
				p += 4;
				break;
			default: *o++ = *p; break;
			}
		}
		*o = '\0';
	}
	afk_free(json);
	return out;
}

/* Makes dir and its missing parents, mode 0700 (the state is the
 * operator's alone).  Returns 0 or an errno. */
static int make_dirs(char *dir)
{
	struct stat st;
	char *p, c;

	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			*p = c;
			return errno;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(dir, &st) != 0)
		return errno;
	return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/* Takes the tick lock: an exclusive, non-blocking flock() on
 * "afk.lock" in the state directory (made if missing), held until *fd is
 * closed and never inherited by an agent or a CI command.  afk writes
 * nothing beside its configuration, which may be read-only (a
 * ConfigMap).  Ticks on one state must not overlap: a dispatch runs the
 * agent to its end before the issue is labelled, so a second tick
 * meanwhile would dispatch the issue again.  A tick that finds the lock
 * held is skipped, as a cron job that forbids concurrent runs skips.
 * Returns 0 with the lock held, -1 when another process holds it, or an
 * exit status; says why when not 0. */
static int lock_ticks(const afk_config *cfg, const char *config, int *fd)
{
	char *dir = config_get_string(cfg, "state_dir"), *lock = NULL;
	int err = 0;

	*fd = -1;
	if (dir == NULL) {
		fprintf(stderr, "afk: no state directory for the tick lock: "
		        "set \"state_dir\" in %s, pass --state-dir, or set "
		        "$STATE_DIRECTORY, $XDG_STATE_HOME or $HOME\n", config);
		return EXIT_CONFIG;
	}
	err = make_dirs(dir);
	if (err != 0) {
		fprintf(stderr, "afk: cannot make the state directory %s: %s\n",
		        dir, strerror(err));
		free(dir);
		return EXIT_TICK;
	}
	if ((lock = malloc(strlen(dir) + 10)) != NULL)
		sprintf(lock, "%s/afk.lock", dir);
	free(dir);
	if (lock == NULL) {
		fprintf(stderr, "afk: out of memory\n");
		return EXIT_TICK;
	}
	*fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	while (*fd >= 0 && flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		err = errno;
		close(*fd);
		*fd = -1;
	}
	if (*fd < 0 && err == 0)
		err = errno;
	if (err == EWOULDBLOCK || err == EAGAIN)
		fprintf(stderr, "afk: another tick is running (lock %s held); "
		        "skipped\n", lock);
	else if (err != 0)
		fprintf(stderr, "afk: cannot lock %s: %s\n", lock,
		        strerror(err));
	free(lock);
	if (err == EWOULDBLOCK || err == EAGAIN)
		return -1;
	return err ? EXIT_TICK : 0;
}

/* Counts the tick - its command, result ("ok", "error", "disarmed")
 * and length since start - and writes the metrics (afk(1) METRICS).
 * A failure is logged and counted, and changes no exit status. */
static void write_metrics(const options *o, const afk_config *cfg,
                          const char *result, const struct timespec *start)
{
	struct timespec end;
	char *dir, *file;
	double seconds = 0;

	if (tick_metrics == NULL)
		return;
	if (clock_gettime(CLOCK_MONOTONIC, &end) == 0)
		seconds = (double)(end.tv_sec - start->tv_sec) +
		          (double)(end.tv_nsec - start->tv_nsec) / 1e9;
	metrics_tick(tick_metrics, command_names[o->cmd], result, seconds,
	             (long long)time(NULL));
	dir = config_get_string(cfg, "state_dir");
	file = config_get_string(cfg, "metrics_file");
	(void)metrics_commit(tick_metrics, dir, file, log_line,
	                     (void *)&o->log);
	free(file);
	free(dir);
}

/* Loads the file, applies the environment, and ticks only when armed -
 * a disarmed run touches no adapter at all - and no other tick on the
 * same file runs.  Every tick but a dry run, and one skipped or refused,
 * writes the metrics. */
static int cmd_run(const options *o)
{
	afk_config *cfg = NULL;
	struct timespec start = {0, 0};
	int status, lock;

	(void)clock_gettime(CLOCK_MONOTONIC, &start);
	if (afk_config_new(&cfg) != 0) {
		fprintf(stderr, "afk: out of memory\n");
		return EXIT_TICK;
	}
	if (!o->dry_run)
		tick_metrics = metrics_new();
	set_log(cfg, &o->log);
	if (load_config(o, cfg) != 0) {
		fail_msg(afk_config_errmsg(cfg));
		status = EXIT_CONFIG;
	} else if (!afk_config_armed(cfg)) {
		log_disarmed(cfg);
		report_disarmed(cfg, o->cmd == CMD_POLL ? "dispatched" :
		                o->cmd == CMD_WATCH ? "watched" :
		                "dispatched or watched");
		status = 0;
		write_metrics(o, cfg, "disarmed", &start);
	} else if (o->dry_run) {
		/* Writes nothing, so it needs no lock and makes no lock file. */
		dry_run = 1;
		what_width = 14;
		status = run_ticks(o, cfg);
	} else {
		status = lock_ticks(cfg, o->config, &lock);
		if (status > 0 && json_out)
			emit_error(NULL, 0, 0, "the tick lock could not be "
			           "taken (see standard error)");
		if (status == 0) {
			status = run_ticks(o, cfg);
			write_metrics(o, cfg, status ? "error" : "ok", &start);
		} else if (status < 0) {
			status = 0; /* skipped */
			if (json_out)
				emit_warning("another tick is running on this "
				             "state directory; skipped");
		}
		if (lock >= 0)
			close(lock);
	}
	metrics_free(tick_metrics);
	tick_metrics = NULL;
	afk_config_free(cfg);
	return status;
}

/* --- check-config ------------------------------------------------------- */

/* The kind of adapter key selects, in a string to free(), or NULL when
 * it selects none.  afk_config_get() writes the object compactly with
 * its kind first. */
static char *config_kind(const afk_config *cfg, const char *key)
{
	static const char prefix[] = "{\"kind\":\"";
	char *json = config_get(cfg, key), *kind = NULL;
	size_t n;

	if (json != NULL && strncmp(json, prefix, sizeof(prefix) - 1) == 0) {
		n = strcspn(json + sizeof(prefix) - 1, "\"\\");
		kind = malloc(n + 1);
		if (kind != NULL) {
			memcpy(kind, json + sizeof(prefix) - 1, n);
			kind[n] = '\0';
		}
	}
	afk_free(json);
	return kind;
}

/* Where a tick writes its metrics: metrics_file, else the state
 * directory's afk.prom; NULL when there is neither (or memory ran out).
 * free() it. */
static char *metrics_path(const afk_config *cfg)
{
	char *file = config_get_string(cfg, "metrics_file");
	char *dir = file == NULL ? config_get_string(cfg, "state_dir") : NULL;
	size_t n;

	if (dir != NULL) {
		n = strlen(dir) + sizeof("/afk.prom");
		file = malloc(n);
		if (file != NULL)
			snprintf(file, n, "%s/afk.prom", dir);
		free(dir);
	}
	return file;
}

/* The gates and the allowlist, one line each. */
static void summarise_gates(const afk_config *cfg)
{
	char *ks = config_get(cfg, "kill_switch");
	char *al = config_get(cfg, "allowlist");
	int kill_on = ks == NULL || strcmp(ks, "false") != 0;
	int list_empty = al == NULL || strchr(al, '"') == NULL;
	const char *p;
	char *mf;
	json_t *o;

	if (json_out) {
		o = event_new("config");
		put_bool(o, "armed", afk_config_armed(cfg));
		put_bool(o, "kill_switch", kill_on);
		json_object_set_new(o, "allowlist", al != NULL ?
		                    json_loads(al, 0, NULL) : json_array());
		mf = metrics_path(cfg);
		json_object_set_new(o, "metrics_file", mf != NULL ?
		                    json_string(mf) : json_null());
		free(mf);
		emit(o);
		afk_free(ks);
		afk_free(al);
		return;
	}
	if (afk_config_armed(cfg))
		printf("armed: yes\n");
	else
		printf("armed: no (%s%s%s)\n",
		       kill_on ? "the kill switch is on: kill_switch, "
		                 "AFK_KILL_SWITCH" : "",
		       kill_on && list_empty ? "; " : "",
		       list_empty ? "the allowlist is empty: allowlist, "
		                    "AFK_ALLOWLIST" : "");
	/* Repository names hold no quote, comma or bracket. */
	fputs("allowlist:", stdout);
	for (p = al ? al : ""; *p != '\0'; p++) {
		if (*p == '"' && p[-1] != '\\' && (p[-1] == '[' ||
		                                     p[-1] == ','))
			fputs(p[-1] == '[' ? " " : ", ", stdout);
		else if (*p != '"' && *p != '[' && *p != ']' && *p != ',')
			putchar(*p);
	}
	if (list_empty)
		fputs(" (empty)", stdout);
	putchar('\n');
	afk_free(ks);
	afk_free(al);
}

/* The metrics file's line of check-config (JSON: a member of the
 * "config" event, see summarise_gates()). */
static void summarise_metrics_file(const afk_config *cfg)
{
	char *file;

	if (json_out)
		return;
	file = metrics_path(cfg);
	printf("metrics_file: %s\n", file != NULL ? file :
	       "none (no state directory)");
	free(file);
}

/* Says what kind of adapter key selects, with its members as the
 * configuration keeps them (paths absolute, defaults filled in: never a
 * secret, which is only ever named), and whether its built-in could be
 * set up (rc); a missing one is an error when required.  Returns 1 when
 * the configuration is refused for it. */
static int summarise_adapter(const afk_config *cfg, const char *key,
                             int rc, const char *errmsg, int required)
{
	char *kind = config_kind(cfg, key), *json;
	int bad = 0;
	json_t *o;

	if (json_out) {
		json = kind != NULL ? config_get(cfg, key) : NULL;
		o = event_new("adapter");
		put_str(o, "key", key);
		put_str(o, "kind", kind);
		put_bool(o, "required", required);
		put_bool(o, "ok", rc == 0 && (kind != NULL || !required));
		json_object_set_new(o, "settings", json != NULL ?
		                    json_loads(json, 0, NULL) : json_null());
		emit(o);
		afk_free(json);
		if (rc != 0) {
			emit_error(NULL, 0, rc, errmsg);
			fprintf(stderr, "afk: %s\n", errmsg);
			bad = 1;
		}
		free(kind);
		return bad;
	}
	if (kind == NULL && !required) {
		printf("%s: none (afk watch and afk tick need one)\n", key);
	} else {
		printf("%s: %s%s\n", key, kind ? kind : "none",
		       rc != 0 ? " (refused)" : "");
		json = kind != NULL ? config_get(cfg, key) : NULL;
		if (json != NULL)
			printf("  %s\n", json);
		afk_free(json);
		if (rc != 0) {
			fflush(stdout);
			fprintf(stderr, "afk: %s\n", errmsg);
			bad = 1;
		}
	}
	free(kind);
	return bad;
}

/* Lists the ready issues through a's tracker, whose writes are dry and
 * quiet, with a copy of the configuration whose kill switch is off: the
 * probe writes nothing whatever the gates say.  Returns 0 or
 * EXIT_TICK, having said why. */
static int probe_tracker(adapters *a, const options *o)
{
	afk_config *pc = NULL;
	afk_poller *poller = NULL;
	afk_result *res = NULL;
	char *al;
	int rc, status = 0;

	if (afk_config_new(&pc) != 0 || afk_config_set_log(pc, log_line,
	    o->log.max_level, (void *)&o->log, NULL) != 0 ||
	    load_config(o, pc) != 0 ||
	    afk_config_set(pc, "kill_switch", "false") != 0) {
		fprintf(stderr, "afk: %s\n", pc ? afk_config_errmsg(pc) :
		        "out of memory");
		afk_config_free(pc);
		return EXIT_TICK;
	}
	al = config_get(pc, "allowlist");
	if (json_out && (al == NULL || strchr(al, '"') == NULL)) {
		emit_warning("tracker not probed: the allowlist is empty, so "
		             "there is nothing to list");
	} else if (al == NULL || strchr(al, '"') == NULL) {
		printf("tracker: not probed: the allowlist is empty, so there "
		       "is nothing to list\n");
	} else if (afk_poller_new(&poller, a->tracker, a->agent) != 0) {
		fprintf(stderr, "afk: out of memory\n");
		status = EXIT_TICK;
	} else {
		rc = afk_poller_run_once(poller, pc, &res);
		if (rc != 0) {
			fflush(stdout);
			fprintf(stderr, "afk: tracker probe failed: %s: %s\n",
			        afk_strerror(rc), afk_poller_errmsg(poller));
			if (json_out)
				emit_error(NULL, 0, rc,
				           afk_poller_errmsg(poller));
			status = EXIT_TICK;
		} else if (json_out) {
			report(res);
		} else {
			printf("tracker: listed %zu issue(s); a poll would do "
			       "this:\n", afk_result_dispatched_count(res) +
			       afk_result_skipped_count(res));
			report(res);
		}
	}
	afk_result_free(res);
	afk_poller_free(poller);
	afk_free(al);
	afk_config_free(pc);
	return status;
}

/* {"event":"probe"}: what the read-only probe of key (of kind) found:
 * "reachable" (with what the probe said, if anything), "no-probe" or
 * "failed" (with the message). */
static void emit_probe(const char *key, const char *kind,
                       const char *result, const char *message)
{
	json_t *o = event_new("probe");

	put_str(o, "key", key);
	put_str(o, "kind", kind);
	put_str(o, "result", result);
	put_str(o, "message", message);
	emit(o);
}

/* Runs the read-only probe of the adapter key names (of kind) and says
 * what it found.  Returns 0, or 1 when the probe failed. */
static int probe_adapter(adapters *a, const char *key, const char *kind)
{
	const char *msg, *prefix;
	size_t n;
	int rc;

	if (strcmp(key, "tracker") == 0) {
		rc = afk_tracker_probe(a->tracker);
		msg = afk_tracker_errmsg(a->tracker);
		prefix = "tracker probe: ";
	} else if (strcmp(key, "agent") == 0) {
		rc = afk_agent_probe(a->agent);
		msg = afk_agent_errmsg(a->agent);
		prefix = "agent probe: ";
	} else if (strcmp(key, "ci") == 0) {
		rc = afk_ci_probe(a->ci);
		msg = afk_ci_errmsg(a->ci);
		prefix = "CI probe: ";
	} else {
		rc = afk_notifier_probe(a->notifier);
		msg = afk_notifier_errmsg(a->notifier);
		prefix = "notifier probe: ";
	}
	/* A probe that succeeded may say what it found (the command
	 * agent: its command's version, or a warning). */
	if (rc == 0 && json_out) {
		emit_probe(key, kind, "reachable", msg[0] ? msg : NULL);
		return 0;
	}
	if (rc == 0 && msg[0]) {
		printf("%s: reachable (%s)\n", key, msg);
		return 0;
	}
	if (rc == 0) {
		printf("%s: reachable\n", key);
		return 0;
	}
	if (rc == AFK_ENOTSUP && json_out) {
		emit_probe(key, kind, "no-probe", NULL);
		return 0;
	}
	if (rc == AFK_ENOTSUP) {
		printf("%s: no read-only probe (%s%s have none)\n", key, kind,
		       strcmp(kind, "slack") == 0 ? " webhooks" : " adapters");
		return 0;
	}
	n = strlen(prefix);
	if (strncmp(msg, prefix, n) == 0)
		msg += n;
	if (json_out)
		emit_probe(key, kind, "failed", msg);
	else
		printf("%s: probe failed: %s\n", key, msg);
	return 1;
}

/* Loads and checks the configuration, sets up every built-in it selects
 * (reading their tokens), summarises it - never a secret - and with
 * --online runs each adapter's read-only probe and lists through the
 * tracker without writing. */
static int cmd_check(const options *o)
{
	afk_config *cfg = NULL;
	adapters a;
	int bad = 0, rc, status = 0;
	const char *const kinds[] = {"tracker", "agent", "ci", "notifier"};
	char *kind;
	size_t i;

	memset(&a, 0, sizeof(a));
	if (afk_config_new(&cfg) != 0 || afk_tracker_new(&a.tracker) ||
	    afk_agent_new(&a.agent) || afk_ci_new(&a.ci) ||
	    afk_notifier_new(&a.notifier)) {
		fail_msg("out of memory");
		status = EXIT_TICK;
		goto out;
	}
	set_log(cfg, &o->log);
	if (load_config(o, cfg) != 0) {
		fail_msg(afk_config_errmsg(cfg));
		status = EXIT_CONFIG;
		goto out;
	}
	if (!json_out)
		printf("config: %s\n", o->config);
	summarise_gates(cfg);
	summarise_metrics_file(cfg);
	rc = afk_tracker_set_builtin(a.tracker, cfg);
	bad |= summarise_adapter(cfg, "tracker", rc,
	                         afk_tracker_errmsg(a.tracker), 1);
	rc = afk_agent_set_builtin(a.agent, cfg);
	bad |= summarise_adapter(cfg, "agent", rc, afk_agent_errmsg(a.agent),
	                         1);
	rc = afk_ci_set_builtin(a.ci, cfg);
	bad |= summarise_adapter(cfg, "ci", rc, afk_ci_errmsg(a.ci), 0);
	rc = afk_notifier_set_builtin(a.notifier, cfg);
	bad |= summarise_adapter(cfg, "notifier", rc,
	                         afk_notifier_errmsg(a.notifier), 0);
	if (bad) {
		fflush(stdout);
		fprintf(stderr, "afk: %s: invalid\n", o->config);
		status = EXIT_CONFIG;
		goto out;
	}
	if (!json_out)
		printf("valid\n");
	if (!o->online)
		goto out;
	dry_quiet = dry_run = 1;
	what_width = 14;
	dry_wrap(&a);
	for (i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
		kind = config_kind(cfg, kinds[i]);
		if (kind != NULL && probe_adapter(&a, kinds[i], kind) != 0)
			status = EXIT_TICK;
		free(kind);
	}
	if (probe_tracker(&a, o) != 0)
		status = EXIT_TICK;
out:
	if (json_out && cfg != NULL) {
		json_t *sum = event_new("summary");

		put_str(sum, "config", o->config);
		put_bool(sum, "valid", status != EXIT_CONFIG);
		put_bool(sum, "online", o->online);
		put_bool(sum, "ok", status == 0);
		emit(sum);
	}
	adapters_free(&a);
	afk_config_free(cfg);
	return status;
}

/* --- status ------------------------------------------------------------- */

/* Sets http.etag_cache_read_only on cfg: status reads the ETag cache
 * (so its reads stay cheap conditional requests) and never writes it.
 * Returns 0, or nonzero with why in afk_config_errmsg(cfg). */
static int cache_read_only(afk_config *cfg)
{
	char *http = config_get(cfg, "http"), *text = NULL;
	json_t *o = http != NULL ? json_loads(http, 0, NULL) : NULL;
	int rc = -1;

	if (o != NULL && json_object_set_new(o, "etag_cache_read_only",
	                                     json_true()) == 0 &&
	    (text = json_dumps(o, JSON_COMPACT)) != NULL)
		rc = afk_config_set(cfg, "http", text);
	free(text);
	json_decref(o);
	afk_free(http);
	return rc;
}

/* A duration as "1h50m0s", "10m0s" or "5s". */
static void duration(long long secs, char *buf, size_t size)
{
	const char *sign = secs < 0 ? "-" : "";
	unsigned long long u = secs < 0 ? 0ULL - (unsigned long long)secs :
	                       (unsigned long long)secs;

	if (u >= 3600)
		snprintf(buf, size, "%s%lluh%llum%llus", sign, u / 3600,
		         u / 60 % 60, u % 60);
	else if (u >= 60)
		snprintf(buf, size, "%s%llum%llus", sign, u / 60, u % 60);
	else
		snprintf(buf, size, "%s%llus", sign, u);
}

/* What status learnt from its dry poll and dry watch. */
typedef struct seen {
	const afk_result *res;
	const afk_actions *acts;
	long long now;
	size_t errors;          /* failures reported so far */
} seen;

/* 1 when number is already among the first n of v. */
static int has_number(const long *v, size_t n, long number)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == number)
			return 1;
	return 0;
}

/* The issues holding repo's lock: its runs in flight (watched, or
 * failed to be read), and the issues the poll found in progress.  Into
 * v (room for every run and skip); returns how many. */
static size_t lock_holders(const char *repo, const seen *sn, long *v)
{
	size_t i, n = 0;
	long k;

	for (i = 0; i < afk_actions_count(sn->acts); i++) {
		k = afk_actions_number(sn->acts, i);
		if (strcmp(afk_actions_repo(sn->acts, i), repo) == 0 &&
		    !has_number(v, n, k))
			v[n++] = k;
	}
	for (i = 0; i < afk_actions_error_count(sn->acts); i++) {
		k = afk_actions_error_number(sn->acts, i);
		if (k != 0 && strcmp(afk_actions_error_repo(sn->acts, i),
		                     repo) == 0 && !has_number(v, n, k))
			v[n++] = k;
	}
	for (i = 0; i < afk_result_skipped_count(sn->res); i++) {
		k = afk_result_skipped_number(sn->res, i);
		if (afk_result_skipped_reason(sn->res, i) ==
		    AFK_SKIP_IN_PROGRESS &&
		    strcmp(afk_result_skipped_repo(sn->res, i), repo) == 0 &&
		    !has_number(v, n, k))
			v[n++] = k;
	}
	return n;
}

/* Run i as two lines: where it is, and what the next watch does and
 * when that changes. */
static void print_run(const seen *sn, size_t i, const afk_config *cfg)
{
	const afk_actions *acts = sn->acts;
	long long since = afk_actions_since(acts, i);
	long long deadline = afk_actions_deadline(acts, i);
	int dreason = afk_actions_deadline_reason(acts, i);
	const char *thread = afk_actions_thread(acts, i);
	char age[48] = "unknown", what[512], when[40], in[48];

	if (since != 0)
		duration(sn->now - since, age, sizeof(age));
	printf("  run %s#%ld thread %s, phase %s, %d fix-forward(s), "
	       "age %s\n", afk_actions_repo(acts, i),
	       afk_actions_number(acts, i), thread[0] ? thread : "(none)",
	       name_of(&names_phase, afk_actions_phase(acts, i)),
	       afk_actions_attempts(acts, i), age);
	describe_action(acts, i, cfg, what, sizeof(what));
	if (dreason == 0) {
		printf("  next watch: %s\n", what);
		return;
	}
	/* the decision holds up to the last second before the deadline:
	 * "past" is strict, so it changes at the first watch after it */
	iso_time(deadline - 1, when, sizeof(when));
	duration(deadline - 1 - sn->now, in, sizeof(in));
	printf("  next watch: %s; after %s (in %s): escalate: %s\n", what,
	       when, in, afk_escalation_str(dreason));
}

/* A failure status could not read past, on standard error and in the
 * report: what (a repository, an issue) and why. */
static void status_error(seen *sn, const char *repo, long number, int code,
                         const char *message)
{
	sn->errors++;
	if (json_out) {
		emit_error(repo, number, code, message);
	} else if (repo[0] != '\0') {
		if (number != 0)
			printf("  could not read %s#%ld: %s\n", repo, number,
			       message);
		else
			printf("  could not read %s: %s\n", repo, message);
	}
	fflush(stdout);
	if (repo[0] == '\0')
		fprintf(stderr, "afk: status: could not read everything: "
		        "%s: %s\n", afk_strerror(code), message);
	else if (number != 0)
		fprintf(stderr, "afk: status: could not read %s#%ld: %s\n",
		        repo, number, message);
	else
		fprintf(stderr, "afk: status: could not read %s: %s\n", repo,
		        message);
}

/* Everything status knows of repo: its lock, its runs, what the next
 * poll would do with its issues, and what of it could not be read.
 * holders: room for every run and skip (see lock_holders()). */
static void status_repo(const char *repo, seen *sn, const afk_config *cfg,
                        long *holders)
{
	const afk_result *res = sn->res;
	const afk_actions *acts = sn->acts;
	const afk_issue *is;
	size_t i, n = lock_holders(repo, sn, holders);
	json_t *o, *by;

	if (json_out) {
		o = event_new("repo");
		put_str(o, "repo", repo);
		put_bool(o, "locked", n > 0);
		by = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(by, json_integer(holders[i]));
		json_object_set_new(o, "locked_by", by);
		emit(o);
	} else if (n == 0) {
		printf("%s: unlocked\n", repo);
	} else {
		printf("%s: locked by", repo);
		for (i = 0; i < n; i++)
			printf("%s %s#%ld", i ? "," : "", repo, holders[i]);
		putchar('\n');
	}
	for (i = 0; i < afk_actions_count(acts); i++) {
		if (strcmp(afk_actions_repo(acts, i), repo) != 0)
			continue;
		if (json_out)
			emit(action_event(acts, i, "run", sn->now));
		else
			print_run(sn, i, cfg);
	}
	for (i = 0; i < afk_actions_error_count(acts); i++)
		if (strcmp(afk_actions_error_repo(acts, i), repo) == 0)
			status_error(sn, repo, afk_actions_error_number(acts, i),
			             afk_actions_error_code(acts, i),
			             afk_actions_error_message(acts, i));
	for (i = 0; i < afk_result_dispatched_count(res); i++) {
		is = afk_result_dispatched_issue(res, i);
		if (strcmp(afk_issue_repo(is), repo) != 0)
			continue;
		if (json_out)
			emit_dispatch(res, i);
		else
			printf("  would dispatch %s#%ld\n", repo,
			       afk_issue_number(is));
	}
	for (i = 0; i < afk_result_skipped_count(res); i++) {
		if (strcmp(afk_result_skipped_repo(res, i), repo) != 0)
			continue;
		if (json_out)
			emit_skip(res, i);
		else
			printf("  skip %s#%ld: %s\n", repo,
			       afk_result_skipped_number(res, i),
			       afk_skip_reason_str(
			       afk_result_skipped_reason(res, i)));
	}
	for (i = 0; i < afk_result_error_count(res); i++)
		if (strcmp(afk_result_error_repo(res, i), repo) == 0)
			status_error(sn, repo, afk_result_error_number(res, i),
			             afk_result_error_code(res, i),
			             afk_result_error_message(res, i));
}

/* The repositories a listing named that are not allowlisted (a tracker
 * may list more than asked), each once, after the allowlisted ones. */
static void status_others(const json_t *allow, seen *sn,
                          const afk_config *cfg, long *holders)
{
	size_t i, j, k, n = afk_result_skipped_count(sn->res);
	const char *repo;
	json_t *v;
	int known;

	for (i = 0; i < n; i++) {
		repo = afk_result_skipped_repo(sn->res, i);
		known = 0;
		json_array_foreach(allow, k, v)
			known |= json_is_string(v) &&
			         strcmp(json_string_value(v), repo) == 0;
		for (j = 0; j < i && !known; j++)
			known = strcmp(afk_result_skipped_repo(sn->res, j),
			               repo) == 0;
		if (!known)
			status_repo(repo, sn, cfg, holders);
	}
}

/* The header: the time and whether the configuration is armed, and if
 * not, which gate is closed. */
static void status_header(const afk_config *cfg, long long now, int kill_on,
                          int list_empty)
{
	char when[40];
	json_t *o;

	iso_time(now, when, sizeof(when));
	if (json_out) {
		o = event_new("status");
		put_str(o, "at", when);
		put_int(o, "now", now);
		put_bool(o, "armed", afk_config_armed(cfg));
		put_bool(o, "kill_switch", kill_on);
		put_bool(o, "allowlist_empty", list_empty);
		emit(o);
		return;
	}
	if (afk_config_armed(cfg)) {
		printf("status at %s: armed\n", when);
		return;
	}
	printf("status at %s: disarmed (%s%s%s); nothing would be "
	       "dispatched or watched\n", when,
	       kill_on ? "the kill switch is on: kill_switch, "
	                 "AFK_KILL_SWITCH" : "",
	       kill_on && list_empty ? "; " : "",
	       list_empty ? "the allowlist is empty: allowlist, "
	                    "AFK_ALLOWLIST" : "");
}

/* The runs in flight: those watched, or without a watch those the poll
 * found in progress. */
static void status_summary(const seen *sn, int armed, int watching)
{
	size_t runs = afk_actions_count(sn->acts), i;
	size_t nd = afk_result_dispatched_count(sn->res);
	size_t ns = afk_result_skipped_count(sn->res);
	json_t *o;

	for (i = 0; !watching && i < ns; i++)
		runs += afk_result_skipped_reason(sn->res, i) ==
		        AFK_SKIP_IN_PROGRESS;
	if (json_out) {
		o = event_new("summary");
		put_bool(o, "armed", armed);
		put_int(o, "runs", (long long)runs);
		put_int(o, "would_dispatch", (long long)nd);
		put_int(o, "skipped", (long long)ns);
		put_int(o, "errors", (long long)sn->errors);
		put_bool(o, "written", 0);
		emit(o);
		return;
	}
	printf("%zu run(s) in flight, %zu would be dispatched, %zu skipped%s; "
	       "nothing was written\n", runs, nd, ns,
	       sn->errors ? ", some could not be read" : "");
}

/* afk status: a dry poll and a dry watch at now, with the ETag cache
 * read-only and no tick lock - nothing is written - reported per
 * allowlisted repository.  A disarmed configuration is looked at all
 * the same (with the kill switch off in this private copy: every write
 * is dry), and says so.  Exit 0 when everything could be read, 1 when
 * something could not (named on standard error), 3 for a configuration
 * refused. */
static int cmd_status(const options *o)
{
	afk_config *cfg = NULL;
	afk_poller *poller = NULL;
	afk_watcher *watcher = NULL;
	afk_result *res = NULL;
	afk_actions *acts = NULL;
	json_t *allow = NULL, *v;
	char *ks = NULL, *al = NULL, *ci, *nt;
	long *holders = NULL;
	log_opts lo = o->log;
	adapters a;
	seen sn;
	size_t i;
	int status = 0, armed, kill_on, list_empty, prc, wrc = 0, watching;

	memset(&a, 0, sizeof(a));
	memset(&sn, 0, sizeof(sn));
	sn.now = o->now >= 0 ? o->now : (long long)time(NULL);
	/* the dry ticks' notices would read as if they had acted */
	if (lo.max_level == AFK_LOG_NOTICE)
		lo.max_level = AFK_LOG_WARNING;
	if (afk_config_new(&cfg) != 0) {
		fail_msg("out of memory");
		return EXIT_TICK;
	}
	set_log(cfg, &lo);
	if (load_config(o, cfg) != 0 || cache_read_only(cfg) != 0) {
		fail_msg(afk_config_errmsg(cfg));
		afk_config_free(cfg);
		return EXIT_CONFIG;
	}
	ks = config_get(cfg, "kill_switch");
	al = config_get(cfg, "allowlist");
	kill_on = ks == NULL || strcmp(ks, "false") != 0;
	allow = al != NULL ? json_loads(al, 0, NULL) : NULL;
	list_empty = !json_is_array(allow) || json_array_size(allow) == 0;
	armed = afk_config_armed(cfg);
	status_header(cfg, sn.now, kill_on, list_empty);
	if (list_empty) {
		if (!json_out)
			printf("no repository is allowlisted: nothing to "
			       "look at\n");
		sn.res = NULL;
		sn.acts = NULL;
		status_summary(&sn, armed, 1);
		goto out;
	}
	if (kill_on && afk_config_set(cfg, "kill_switch", "false") != 0) {
		fail_msg(afk_config_errmsg(cfg));
		status = EXIT_TICK;
		goto out;
	}
	/* A configuration that only polls (no CI or notifier) still shows
	 * its locks and what the next poll would do. */
	ci = config_kind(cfg, "ci");
	nt = config_kind(cfg, "notifier");
	watching = ci != NULL && nt != NULL;
	free(ci);
	free(nt);
	if (!watching && json_out)
		emit_warning("runs in flight are not watched: the "
		             "configuration selects no CI or no notifier");
	else if (!watching)
		printf("runs in flight are not watched: the configuration "
		       "selects no CI or no notifier\n");
	dry_run = dry_quiet = 1;
	status = adapters_init(&a, cfg, watching);
	if (status != 0)
		goto out;
	if (afk_poller_new(&poller, a.tracker, a.agent) != 0 ||
	    (watching && afk_watcher_new(&watcher, a.tracker, a.agent, a.ci,
	                                 a.notifier) != 0)) {
		fail_msg("out of memory");
		status = EXIT_TICK;
		goto out;
	}
	prc = afk_poller_run_once(poller, cfg, &res);
	if (watching)
		wrc = afk_watcher_run_once(watcher, cfg, sn.now, &acts);
	sn.res = res;
	sn.acts = acts;
	holders = malloc((afk_actions_count(acts) +
	                  afk_actions_error_count(acts) +
	                  afk_result_skipped_count(res) + 1) * sizeof(long));
	if (holders == NULL) {
		fail_msg("out of memory");
		status = EXIT_TICK;
		goto out;
	}
	json_array_foreach(allow, i, v)
		if (json_is_string(v))
			status_repo(json_string_value(v), &sn, cfg, holders);
	status_others(allow, &sn, cfg, holders);
	/* what failed beyond any one repository */
	for (i = 0; i < afk_result_error_count(res); i++)
		if (afk_result_error_repo(res, i)[0] == '\0')
			status_error(&sn, "", 0, afk_result_error_code(res, i),
			             afk_result_error_message(res, i));
	for (i = 0; i < afk_actions_error_count(acts); i++)
		if (afk_actions_error_repo(acts, i)[0] == '\0')
			status_error(&sn, "", 0, afk_actions_error_code(acts, i),
			             afk_actions_error_message(acts, i));
	if (prc != 0 && afk_result_error_count(res) == 0)
		status_error(&sn, "", 0, prc, afk_poller_errmsg(poller));
	if (wrc != 0 && afk_actions_error_count(acts) == 0)
		status_error(&sn, "", 0, wrc, afk_watcher_errmsg(watcher));
	status_summary(&sn, armed, watching);
	if (sn.errors > 0)
		status = EXIT_TICK;
out:
	free(holders);
	afk_actions_free(acts);
	afk_result_free(res);
	afk_watcher_free(watcher);
	afk_poller_free(poller);
	adapters_free(&a);
	json_decref(allow);
	afk_free(ks);
	afk_free(al);
	afk_config_free(cfg);
	return status;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "afk: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fputs(synopsis, stderr);
	fputs("Try 'afk --help' for more.\n", stderr);
	return EXIT_USAGE;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil): timegm() is not POSIX. */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Parses --now: whole seconds since the epoch ("1767225600"), or an
 * RFC 3339 time, "2026-01-01T00:10:00Z" or with an offset ("+01:00"; a
 * fraction of a second is dropped).  Not before the epoch. */
static int parse_now(const char *s, long long *now)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, n = 0;
	const char *p;
	char *end;
	long long t;

	if (s[0] >= '0' && s[0] <= '9' && strchr(s, '-') == NULL) {
		errno = 0;
		t = strtoll(s, &end, 10);
		if (*end != '\0' || errno != 0)
			goto bad;
		*now = t;
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 ||
	    n != 8)
		goto bad;
	p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		/* UTC */
	} else if ((*p == '+' || *p == '-') &&
	           sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5 &&
	           p[6] == '\0' && oh < 24 && om < 60) {
		if (*p == '-') {
			oh = -oh;
			om = -om;
		}
	} else {
		goto bad;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		goto bad;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    (oh * 3600 + om * 60);
	if (t < 0)
		goto bad;
	*now = t;
	return 0;
bad:
	return usage_error("--now needs seconds since the epoch or an RFC "
	                   "3339 time such as 2026-01-01T00:10:00Z, not '%s'",
	                   s);
}

/* Parses the value of option argv[*i] (name): "--name VALUE" or
 * "--name=VALUE".  Returns the value, or NULL when it is not this
 * option; *missing is set when the value is missing. */
static const char *option_value(int argc, char **argv, int *i,
                                const char *name, const char *shortname,
                                int *missing)
{
	size_t n = strlen(name);

	*missing = 0;
	if (strcmp(argv[*i], name) == 0 ||
	    (shortname != NULL && strcmp(argv[*i], shortname) == 0)) {
		if (*i + 1 >= argc) {
			*missing = 1;
			return NULL;
		}
		return argv[++*i];
	}
	if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	return NULL;
}

/* Parses the options after the command: -c FILE, --config FILE,
 * --config=FILE, for watch, tick and status --now TIME, for poll, watch and
 * tick --dry-run, and for check-config --online.  Returns 0, -1 after
 * --help, or the usage exit status. */
static int parse_options(int argc, char **argv, options *o)
{
	const char *v;
	int i, missing;

	o->config = NULL;
	o->now = -1;
	o->dry_run = 0;
	o->online = 0;
	o->json = 0;
	o->state_dir = NULL;
	o->log.max_level = AFK_LOG_NOTICE;
	o->log.json = 0;
	for (i = 2; i < argc; i++) {
		if ((v = option_value(argc, argv, &i, "--config", "-c",
		                      &missing)) != NULL) {
			o->config = v;
		} else if (!missing && (v = option_value(argc, argv, &i,
		           "--log-format", NULL, &missing)) != NULL) {
			if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)
				return usage_error("--log-format is text or "
				                   "json, not '%s'", v);
			o->log.json = strcmp(v, "json") == 0;
		} else if (!missing && (strcmp(argv[i], "-v") == 0 ||
		           strcmp(argv[i], "--verbose") == 0 ||
		           strcmp(argv[i], "-vv") == 0)) {
			o->log.max_level += strcmp(argv[i], "-vv") == 0 ?
			                    2 : 1;
			if (o->log.max_level > AFK_LOG_DEBUG)
				o->log.max_level = AFK_LOG_DEBUG;
		} else if (!missing && (strcmp(argv[i], "-q") == 0 ||
		           strcmp(argv[i], "--quiet") == 0)) {
			o->log.max_level = AFK_LOG_ERROR;
		} else if (!missing &&
		           (v = option_value(argc, argv, &i, "--state-dir", NULL,
		                             &missing)) != NULL) {
			if (v[0] == '\0')
				return usage_error("%s", "--state-dir needs a "
				                   "directory");
			o->state_dir = v;
		} else if (!missing &&
		           (o->cmd == CMD_WATCH || o->cmd == CMD_TICK ||
		            o->cmd == CMD_STATUS) &&
		           (v = option_value(argc, argv, &i, "--now", NULL,
		                             &missing)) != NULL) {
			if (parse_now(v, &o->now))
				return EXIT_USAGE;
		} else if (!missing && strcmp(argv[i], "--json") == 0) {
			o->json = 1;
		} else if (!missing && o->cmd != CMD_CHECK &&
		           o->cmd != CMD_STATUS &&
		           strcmp(argv[i], "--dry-run") == 0) {
			o->dry_run = 1;
		} else if (!missing && o->cmd == CMD_CHECK &&
		           strcmp(argv[i], "--online") == 0) {
			o->online = 1;
		} else if (missing) {
			return usage_error("%s needs a value", argv[i]);
		} else if (strcmp(argv[i], "-h") == 0 ||
		           strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return -1;
		} else {
			return usage_error("unknown option %s", argv[i]);
		}
	}
	if (o->config == NULL || o->config[0] == '\0')
		return usage_error("%s needs --config FILE",
		                   command_names[o->cmd]);
	return 0;
}

/* The built-in adapters hold tokens in memory from the configuration's
 * check on: a core dump would write them to disk, and another process of
 * the same user could read them with a debugger.  So the process is made
 * non-dumpable (Linux; also refuses ptrace) and its soft core limit 0.
 * The hard limit is left alone, so that an agent the tick starts - which
 * inherits the limit, not the non-dumpable flag - may raise it again.
 * Best effort: a failure leaves the defaults. */
static void no_core_dumps(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		(void)setrlimit(RLIMIT_CORE, &rl);
	}
#if defined(__linux__)
	(void)prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L);
#endif
}

/* The command named cmd, or -1. */
static int find_command(const char *cmd)
{
	size_t i;

	for (i = 0; i < sizeof(command_names) / sizeof(*command_names); i++)
		if (strcmp(cmd, command_names[i]) == 0)
			return (int)i;
	return -1;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	options o;
	int rc, k;

	if (cmd == NULL)
		return usage_error("%s", "no command given");
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("afk %s\n", afk_version());
		return 0;
	}
	k = find_command(cmd);
	if (k < 0)
		return usage_error(cmd[0] == '-' ? "unknown option %s" :
		                   "unknown command %s", cmd);
	o.cmd = (enum command)k;
	rc = parse_options(argc, argv, &o);
	if (rc < 0)
		return 0; /* --help after a command */
	if (rc > 0)
		return rc;
	no_core_dumps();
	json_out = o.json;
	command_name = command_names[o.cmd];
	if (o.cmd == CMD_STATUS)
		return cmd_status(&o);
	return o.cmd == CMD_CHECK ? cmd_check(&o) : cmd_run(&o);
}
