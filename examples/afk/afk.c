/*
 * examples/afk/afk.c - the afk command: a poll tick, a watch tick or both
 * from a configuration file, with the built-in adapters (file tracker,
 * command agent, command CI, stdout or file notifier).  A host program
 * like any other: it uses only the public API.
 *
 * Exit status: 0 done (also when disarmed, or skipped because another
 * tick on the same configuration is running), 1 a tick failed, 2 usage,
 * 3 configuration refused.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for realpath() */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <afk/afk.h>

#define EXIT_TICK 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 3

static const char synopsis[] =
	"usage: afk poll --config FILE\n"
	"       afk watch --config FILE [--now SECONDS]\n"
	"       afk tick --config FILE [--now SECONDS]\n"
	"       afk --help | --version\n";

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
	      "  help      show this help\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE  the configuration file (see afk.json(5))\n"
	      "      --now SECONDS  the time the watch tick decides at, in\n"
	      "                     seconds since the epoch (default: now)\n"
	      "  -h, --help         show this help\n"
	      "      --version      show the version\n"
	      "\n"
	      "Ticks on one configuration never overlap: one that finds\n"
	      "FILE.lock held by another is skipped (exit status 0).\n"
	      "\n"
	      "Environment: AFK_KILL_SWITCH and AFK_ALLOWLIST override the\n"
	      "file's two arming gates.  See afk(1).\n", fp);
}

/* Returns the JSON text of key (afk_free() it), or NULL. */
static char *config_get(const afk_config *cfg, const char *key)
{
	char *json = NULL;

	if (afk_config_get(cfg, key, &json) != 0)
		return NULL;
	return json;
}

/* Says which gate keeps a disarmed configuration from dispatching.
 * Either may be closed, or both; an unreadable answer counts as closed. */
static void report_disarmed(const afk_config *cfg, const char *nothing)
{
	char *ks = config_get(cfg, "kill_switch");
	char *al = config_get(cfg, "allowlist");
	int kill_on = ks == NULL || strcmp(ks, "false") != 0;
	int list_empty = al == NULL || strchr(al, '"') == NULL;

	if (kill_on)
		printf("afk: the kill switch is on (kill_switch, "
		       "AFK_KILL_SWITCH)\n");
	if (list_empty)
		printf("afk: the allowlist is empty (allowlist, "
		       "AFK_ALLOWLIST)\n");
	printf("afk: disarmed; nothing was %s\n", nothing);
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
	printf("%-11s %s#%ld%*s  %s\n", what, repo, number,
	       width - ref_width(repo, number), "", tail);
}

/* One line per dispatch, one per skipped issue, then a summary. */
static void report(const afk_result *res)
{
	const afk_issue *is;
	size_t i, nd, ns;
	int w, width = 0;
	char tail[512];

	nd = afk_result_dispatched_count(res);
	ns = afk_result_skipped_count(res);
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
		snprintf(tail, sizeof(tail), "-> thread %s",
		         afk_result_dispatched_thread(res, i));
		print_line("dispatched", afk_issue_repo(is),
		           afk_issue_number(is), width, tail);
	}
	for (i = 0; i < ns; i++) {
		snprintf(tail, sizeof(tail), "(%s)", afk_skip_reason_str(
		         afk_result_skipped_reason(res, i)));
		print_line("skipped", afk_result_skipped_repo(res, i),
		           afk_result_skipped_number(res, i), width, tail);
	}
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

/* One block per run watched, then a summary line. */
static void report_watch(const afk_actions *acts, const afk_config *cfg)
{
	size_t i, n = afk_actions_count(acts);
	size_t count[AFK_ACTION_ESCALATE + 1] = {0};
	int w, width = 0, kind;
	char what[512];

	for (i = 0; i < n; i++) {
		w = ref_width(afk_actions_repo(acts, i),
		              afk_actions_number(acts, i));
		width = w > width ? w : width;
	}
	for (i = 0; i < n; i++) {
		kind = afk_actions_kind(acts, i);
		if (kind >= 0 && kind <= AFK_ACTION_ESCALATE)
			count[kind]++;
		describe_action(acts, i, cfg, what, sizeof(what));
		print_line("watch", afk_actions_repo(acts, i),
		           afk_actions_number(acts, i), width, what);
		print_checklist(afk_actions_checklist(acts, i));
		putchar('\n');
	}
	printf("%zu watched: %zu closed, %zu fixed forward, %zu escalated, "
	       "%zu waiting\n", n, count[AFK_ACTION_CLOSE],
	       count[AFK_ACTION_FIX_FORWARD], count[AFK_ACTION_ESCALATE],
	       count[AFK_ACTION_WAIT]);
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

/* Sets up the built-in adapters cfg selects - the CI and the notifier
 * only when watching - before any tick runs, so that a configuration
 * missing one is refused before anything is dispatched.  Returns 0 or an
 * exit status, having said why. */
static int adapters_init(adapters *a, const afk_config *cfg, int watching)
{
	memset(a, 0, sizeof(*a));
	if (afk_tracker_new(&a->tracker) || afk_agent_new(&a->agent) ||
	    (watching && (afk_ci_new(&a->ci) ||
	                  afk_notifier_new(&a->notifier)))) {
		fprintf(stderr, "afk: out of memory\n");
		return EXIT_TICK;
	}
	if (afk_tracker_set_builtin(a->tracker, cfg) != 0) {
		fprintf(stderr, "afk: %s\n", afk_tracker_errmsg(a->tracker));
		return EXIT_CONFIG;
	}
	if (afk_agent_set_builtin(a->agent, cfg) != 0) {
		fprintf(stderr, "afk: %s\n", afk_agent_errmsg(a->agent));
		return EXIT_CONFIG;
	}
	if (watching && afk_ci_set_builtin(a->ci, cfg) != 0) {
		fprintf(stderr, "afk: %s\n", afk_ci_errmsg(a->ci));
		return EXIT_CONFIG;
	}
	if (watching && afk_notifier_set_builtin(a->notifier, cfg) != 0) {
		fprintf(stderr, "afk: %s\n", afk_notifier_errmsg(a->notifier));
		return EXIT_CONFIG;
	}
	return 0;
}

/* Runs one poll tick and reports it. */
static int poll_tick(const adapters *a, const afk_config *cfg)
{
	afk_poller *poller = NULL;
	afk_result *res = NULL;
	int rc, status = 0;

	if (afk_poller_new(&poller, a->tracker, a->agent) != 0) {
		fprintf(stderr, "afk: out of memory\n");
		return EXIT_TICK;
	}
	rc = afk_poller_run_once(poller, cfg, &res);
	if (res != NULL)
		report(res);
	if (rc != 0) {
		fflush(stdout); /* the report first, then why it stopped */
		fprintf(stderr, "afk: poll failed: %s: %s\n",
		        afk_strerror(rc), afk_poller_errmsg(poller));
		status = EXIT_TICK;
	}
	afk_result_free(res);
	afk_poller_free(poller);
	return status;
}

/* Runs one watch tick at now and reports it. */
static int watch_tick(const adapters *a, const afk_config *cfg,
                      long long now)
{
	afk_watcher *watcher = NULL;
	afk_actions *acts = NULL;
	int rc, status = 0;

	if (afk_watcher_new(&watcher, a->tracker, a->agent, a->ci,
	                    a->notifier) != 0) {
		fprintf(stderr, "afk: out of memory\n");
		return EXIT_TICK;
	}
	rc = afk_watcher_run_once(watcher, cfg, now, &acts);
	if (acts != NULL)
		report_watch(acts, cfg);
	if (rc != 0) {
		fflush(stdout); /* the report first, then why it stopped */
		fprintf(stderr, "afk: watch failed: %s: %s\n",
		        afk_strerror(rc), afk_watcher_errmsg(watcher));
		status = EXIT_TICK;
	}
	afk_actions_free(acts);
	afk_watcher_free(watcher);
	return status;
}

/* --- the commands ------------------------------------------------------- */

enum command { CMD_POLL, CMD_WATCH, CMD_TICK };

static const char *const command_names[] = {"poll", "watch", "tick"};

/* What the command line asked for. */
typedef struct options {
	enum command cmd;
	const char *config;
	long long now;      /* -1: the clock's */
} options;

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
		if (o->cmd == CMD_TICK)
			putchar('\n');
		if (o->cmd != CMD_POLL)
			st2 = watch_tick(&a, cfg, now);
	}
	adapters_free(&a);
	return status ? status : st2;
}

/* Takes the tick lock of the configuration file config: an exclusive,
 * non-blocking flock() on "<config>.lock" beside the file (its real
 * path, links resolved, so that every name of one file shares one lock),
 * held until *fd is closed and never inherited by an agent or a CI
 * command.  Ticks on one configuration must not overlap: a dispatch
 * runs the agent to its end before the issue is labelled, so a second
 * tick meanwhile would dispatch the issue again.  A tick that finds the
 * lock held is skipped, as a cron job that forbids concurrent runs
 * skips.  Returns 0 with the lock held, -1 when another process holds
 * it, or an exit status; says why when not 0. */
static int lock_ticks(const char *config, int *fd)
{
	char *real, *lock = NULL;
	int err = 0;

	*fd = -1;
	real = realpath(config, NULL);
	if (real != NULL && (lock = malloc(strlen(real) + 6)) != NULL)
		sprintf(lock, "%s.lock", real);
	if (lock == NULL) {
		fprintf(stderr, "afk: %s: %s\n", config, strerror(errno));
		free(real);
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
	free(real);
	if (err == EWOULDBLOCK || err == EAGAIN)
		return -1;
	return err ? EXIT_TICK : 0;
}

/* Loads the file, applies the environment, and ticks only when armed -
 * a disarmed run touches no adapter at all - and no other tick on the
 * same file runs. */
static int cmd_run(const options *o)
{
	afk_config *cfg = NULL;
	int status, lock;

	if (afk_config_new(&cfg) != 0) {
		fprintf(stderr, "afk: out of memory\n");
		return EXIT_TICK;
	}
	if (afk_config_load_file(cfg, o->config) != 0 ||
	    afk_config_apply_env(cfg) != 0) {
		fprintf(stderr, "afk: %s\n", afk_config_errmsg(cfg));
		status = EXIT_CONFIG;
	} else if (!afk_config_armed(cfg)) {
		report_disarmed(cfg, o->cmd == CMD_POLL ? "dispatched" :
		                o->cmd == CMD_WATCH ? "watched" :
		                "dispatched or watched");
		status = 0;
	} else {
		status = lock_ticks(o->config, &lock);
		if (status == 0)
			status = run_ticks(o, cfg);
		else if (status < 0)
			status = 0; /* skipped */
		if (lock >= 0)
			close(lock);
	}
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

/* Parses --now's value: whole seconds since the epoch, not negative. */
static int parse_now(const char *s, long long *now)
{
	char *end;

	errno = 0;
	*now = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0)
		return usage_error("--now needs whole seconds since the epoch, "
		                   "not '%s'", s);
	return 0;
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
 * --config=FILE, and for watch and tick --now SECONDS.  Returns 0, -1
 * after --help, or the usage exit status. */
static int parse_options(int argc, char **argv, options *o)
{
	const char *v;
	int i, missing;

	o->config = NULL;
	o->now = -1;
	for (i = 2; i < argc; i++) {
		if ((v = option_value(argc, argv, &i, "--config", "-c",
		                      &missing)) != NULL) {
			o->config = v;
		} else if (!missing && o->cmd != CMD_POLL &&
		           (v = option_value(argc, argv, &i, "--now", NULL,
		                             &missing)) != NULL) {
			if (parse_now(v, &o->now))
				return EXIT_USAGE;
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
	return cmd_run(&o);
}
