/*
 * examples/afk/afk.c - the afk command: one poll tick from a configuration
 * file, with the built-in file tracker and command agent.  A host program
 * like any other: it uses only the public API.
 *
 * Exit status: 0 done (also when disarmed), 1 the tick failed, 2 usage,
 * 3 configuration refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <afk/afk.h>

#define EXIT_TICK 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 3

static const char synopsis[] =
	"usage: afk poll --config FILE\n"
	"       afk --help | --version\n";

static void usage(FILE *fp)
{
	fputs(synopsis, fp);
	fputs("\n"
	      "Commands:\n"
	      "  poll      run one poll tick: dispatch at most one ready\n"
	      "            issue per allowlisted repository and lock it\n"
	      "  help      show this help\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE  the configuration file (see afk.json(5))\n"
	      "  -h, --help         show this help\n"
	      "      --version      show the version\n"
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
static void report_disarmed(const afk_config *cfg)
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
	printf("afk: disarmed; nothing was dispatched\n");
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

/* Sets up the built-in adapters, runs one tick and reports it. */
static int run_tick(const afk_config *cfg)
{
	afk_tracker *tracker = NULL;
	afk_agent *agent = NULL;
	afk_poller *poller = NULL;
	afk_result *res = NULL;
	int rc, status = 0;

	if (afk_tracker_new(&tracker) || afk_agent_new(&agent)) {
		fprintf(stderr, "afk: out of memory\n");
		status = EXIT_TICK;
	} else if (afk_tracker_set_builtin(tracker, cfg) != 0) {
		fprintf(stderr, "afk: %s\n", afk_tracker_errmsg(tracker));
		status = EXIT_CONFIG;
	} else if (afk_agent_set_builtin(agent, cfg) != 0) {
		fprintf(stderr, "afk: %s\n", afk_agent_errmsg(agent));
		status = EXIT_CONFIG;
	} else if (afk_poller_new(&poller, tracker, agent) != 0) {
		fprintf(stderr, "afk: out of memory\n");
		status = EXIT_TICK;
	} else {
		rc = afk_poller_run_once(poller, cfg, &res);
		if (res != NULL)
			report(res);
		if (rc != 0) {
			fprintf(stderr, "afk: poll failed: %s: %s\n",
			        afk_strerror(rc), afk_poller_errmsg(poller));
			status = EXIT_TICK;
		}
	}
	afk_result_free(res);
	afk_poller_free(poller);
	afk_agent_free(agent);
	afk_tracker_free(tracker);
	return status;
}

/* afk poll: loads the file, applies the environment, and ticks only when
 * armed - a disarmed run touches no adapter at all. */
static int cmd_poll(const char *path)
{
	afk_config *cfg = NULL;
	int status;

	if (afk_config_new(&cfg) != 0) {
		fprintf(stderr, "afk: out of memory\n");
		return EXIT_TICK;
	}
	if (afk_config_load_file(cfg, path) != 0 ||
	    afk_config_apply_env(cfg) != 0) {
		fprintf(stderr, "afk: %s\n", afk_config_errmsg(cfg));
		status = EXIT_CONFIG;
	} else if (!afk_config_armed(cfg)) {
		report_disarmed(cfg);
		status = 0;
	} else {
		status = run_tick(cfg);
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

/* Parses the options after "poll": -c FILE, --config FILE,
 * --config=FILE. */
static int parse_poll(int argc, char **argv, const char **config)
{
	int i;

	*config = NULL;
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc)
				return usage_error("%s needs a file", argv[i]);
			*config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			*config = argv[i] + 9;
		} else if (strcmp(argv[i], "-h") == 0 ||
		           strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return -1;
		} else {
			return usage_error("unknown option %s", argv[i]);
		}
	}
	if (*config == NULL || (*config)[0] == '\0')
		return usage_error("%s needs --config FILE", "poll");
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	const char *config;
	int rc;

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
	if (strcmp(cmd, "poll") != 0)
		return usage_error(cmd[0] == '-' ? "unknown option %s" :
		                   "unknown command %s", cmd);
	rc = parse_poll(argc, argv, &config);
	if (rc < 0)
		return 0; /* poll --help */
	if (rc > 0)
		return rc;
	return cmd_poll(config);
}
