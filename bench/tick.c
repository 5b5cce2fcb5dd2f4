/*
 * bench/tick.c - how long does a poll tick over the built-in GitHub
 * tracker take, and does an idle tick cost nothing but 304s?
 *
 *     bench/tick [R ...]          (default: 10 100 500)
 *
 * Starts bench/tick_server.py, a loopback GitHub on 127.0.0.1 that
 * answers every request after LATENCY (50 ms) and serves, for any
 * repository, K (3) open issues carrying the ready label, each labelled
 * by a trusted user, none blocked, with an ETag on every 200 and a 304
 * on a matching If-None-Match.  For each R it drives real poll ticks
 * through the public API - afk_config_load_string(), the built-in
 * tracker (afk_tracker_set_builtin()), afk_poller_run_once() - with
 * "http": {"per_host": 4, "etag_cache": a file} and R allowlisted
 * repositories:
 *
 *   tick 1   cold: empty ETag cache, new connections
 *   tick 2   idle, same tracker (connections and cache kept)
 *   tick 3   idle, a new tracker that reads only the cache file - what
 *            a stateless CronJob tick does
 *
 * The agent's dispatch fails at once.  The tick then stops right after
 * its listing and selection (the first pick is "dispatch failed", the
 * rest "not reached"): nothing is written, so every tick lists the same
 * unchanged issues and the idle ticks must be all 304s, and what is
 * timed is the tracker's listing - the part of a tick that grows with
 * R.  (A succeeding agent would add, per pick, a checklist comment - GET
 * /user once, GET the comments, POST one - and a label POST, one
 * request at a time: R x 3 x LATENCY of writes that say nothing about
 * the listing, and that would change what the next tick lists.)
 *
 * The requests the GitHub tracker makes for a listing (lib/
 * builtin/github.c): one per repository, the first page of its open
 * issues (a repository has one page here); then, for each unlocked
 * repository, the timeline of its best ready issue - the trust gate;
 * the blockers are not read, the listing's issue_dependencies_summary
 * says there are none.  The labeller read from a timeline is remembered
 * with the ETag cache for the issue's updated_at, so an idle tick reads
 * no timeline at all.  So tick 1 makes 2R requests, the idle ticks R.
 *
 * The issue's target is a wall time within 2x of ceil(R / C) x LATENCY
 * for a per-host cap C; "x target" is the tick's wall time over
 * ceil(R / C) x LATENCY.  A cold tick cannot do better than 2R requests
 * (each repository's listing and the trust read of its pick), so its
 * floor is ceil(2R / C) x LATENCY, which is the 2x itself when C divides
 * R: the table prints it beside.
 *
 * Exit status 1 when a tick did something other than expected (a
 * listing failed, an issue was gated out, a request was not answered
 * 200/304), not when a target is missed: that is what the table says.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <afk/afk.h>

#ifndef AFK_TOP_SRCDIR
#define AFK_TOP_SRCDIR "."
#endif
#ifndef AFK_PYTHON3
#define AFK_PYTHON3 "python3"
#endif

#define LATENCY_MS 50
#define ISSUES 3             /* K: ready issues per repository */
#define PER_HOST 4
#define TOKEN_ENV "BENCH_TOKEN"
#define READY "ready-for-agent"
#define IN_PROGRESS "agent-in-progress"
#define TRUSTED "bench-maintainer"
#define DISPATCH_RC AFK_EUNAVAIL /* the other picks wait for the next tick */

static pid_t srv_pid;
static FILE *srv_in, *srv_out;
static int srv_port;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench/tick: %s: %s\n", what, why);
	if (srv_pid > 0)
		kill(srv_pid, SIGTERM);
	exit(1);
}

/* Starts the server with two pipes: its stdin takes commands, its
 * stdout gives the port, then one line per command. */
static void srv_start(void)
{
	int in[2], out[2];
	char script[1024], line[64], lat[32], iss[32];
	const char *top = getenv("top_srcdir");

	snprintf(script, sizeof(script), "%s/bench/tick_server.py",
	         top != NULL && top[0] != '\0' ? top : AFK_TOP_SRCDIR);
	snprintf(lat, sizeof(lat), "%g", LATENCY_MS / 1000.0);
	snprintf(iss, sizeof(iss), "%d", ISSUES);
	if (pipe(in) != 0 || pipe(out) != 0)
		die("pipe", strerror(errno));
	srv_pid = fork();
	if (srv_pid < 0)
		die("fork", strerror(errno));
	if (srv_pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execlp(AFK_PYTHON3, AFK_PYTHON3, script, "--latency", lat,
		       "--issues", iss, "--ready", READY, "--trusted",
		       TRUSTED, (char *)NULL);
		fprintf(stderr, "bench/tick: cannot run %s %s: %s\n",
		        AFK_PYTHON3, script, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	srv_in = fdopen(in[1], "w");
	srv_out = fdopen(out[0], "r");
	if (srv_in == NULL || srv_out == NULL)
		die("fdopen", strerror(errno));
	if (fgets(line, sizeof(line), srv_out) == NULL ||
	    (srv_port = atoi(line)) <= 0)
		die("tick_server.py", "did not start");
}

static void srv_stop(void)
{
	fclose(srv_in);   /* the server exits when its stdin closes */
	fclose(srv_out);
	waitpid(srv_pid, NULL, 0);
	srv_pid = 0;
}

typedef struct srv_stats {
	long requests, ok, not_modified, other, connections, max_active;
} srv_stats;

static json_t *srv_cmd(const char *cmd)
{
	char line[1024];
	json_t *v;

	fprintf(srv_in, "%s\n", cmd);
	fflush(srv_in);
	if (fgets(line, sizeof(line), srv_out) == NULL)
		die("tick_server.py", "no answer");
	v = json_loads(line, JSON_DECODE_ANY, NULL);
	if (v == NULL)
		die("tick_server.py", "answer is not JSON");
	return v;
}

static void srv_reset(void)
{
	json_decref(srv_cmd("reset"));
}

static srv_stats srv_get(void)
{
	json_t *v = srv_cmd("stats");
	srv_stats s;

#define F(name) s.name = (long)json_integer_value(json_object_get(v, #name))
	F(requests);
	F(ok);
	F(not_modified);
	F(other);
	F(connections);
	F(max_active);
#undef F
	json_decref(v);
	return s;
}

/* The agent: every dispatch fails at once (see the top). */
static int fail_dispatch(afk_call *call, const char *repo, long number,
                         const char *prompt, void *userdata)
{
	(void)repo;
	(void)number;
	(void)prompt;
	(void)userdata;
	afk_call_set_error(call, "bench: dispatch refused on purpose");
	return DISPATCH_RC;
}

/* The configuration for r repositories "bench/repo-N". */
static afk_config *make_config(int r, const char *cache)
{
	afk_config *cfg;
	size_t cap = 512 + (size_t)r * 32, n;
	char *text = malloc(cap);
	int i;

	if (text == NULL || afk_config_new(&cfg) != AFK_OK)
		die("config", "out of memory");
	n = (size_t)snprintf(text, cap,
	        "{\"tracker\": {\"kind\": \"github\","
	        " \"api_url\": \"http://127.0.0.1:%d\","
	        " \"token_env\": \"" TOKEN_ENV "\"},"
	        " \"http\": {\"per_host\": %d, \"etag_cache\": \"%s\"},"
	        " \"kill_switch\": false,"
	        " \"ready_label\": \"" READY "\","
	        " \"in_progress_label\": \"" IN_PROGRESS "\","
	        " \"trusted_users\": [\"" TRUSTED "\"],"
	        " \"allowlist\": [", srv_port, PER_HOST, cache);
	for (i = 0; i < r; i++)
		n += (size_t)snprintf(text + n, cap - n, "%s\"bench/repo-%d\"",
		                      i ? ", " : "", i);
	snprintf(text + n, cap - n, "]}");
	if (afk_config_load_string(cfg, text) != AFK_OK)
		die("config", afk_config_errmsg(cfg));
	free(text);
	return cfg;
}

typedef struct tick_out {
	double ms;
	srv_stats st;
} tick_out;

/* One tick with a tracker made now (so a new one reads the cache file
 * only) or the one given. */
static tick_out run_tick(afk_config *cfg, afk_tracker *tracker,
                         afk_agent *agent, int r)
{
	afk_poller *p;
	afk_result *res = NULL;
	tick_out o;
	size_t i, n, failed = 0, outranked = 0, unreached = 0;
	double t0;
	int rc;

	if (afk_poller_new(&p, tracker, agent) != AFK_OK)
		die("poller", "out of memory");
	srv_reset();
	t0 = now_ms();
	rc = afk_poller_run_once(p, cfg, &res);
	o.ms = now_ms() - t0;
	o.st = srv_get();
	if (rc != DISPATCH_RC)
		die("tick", rc ? afk_poller_errmsg(p) :
		    "succeeded, but the agent refuses every dispatch");
	n = afk_result_skipped_count(res);
	for (i = 0; i < n; i++) {
		switch (afk_result_skipped_reason(res, i)) {
		case AFK_SKIP_DISPATCH_FAILED:
			failed++;
			break;
		case AFK_SKIP_OUTRANKED:
			outranked++;
			break;
		case AFK_SKIP_AGENT_UNAVAILABLE:
			unreached++;
			break;
		default:
			fprintf(stderr, "bench/tick: %s#%ld: %s\n",
			        afk_result_skipped_repo(res, i),
			        afk_result_skipped_number(res, i),
			        afk_skip_reason_str(
			                afk_result_skipped_reason(res, i)));
			die("tick", "an issue was gated out");
		}
	}
	if (n != (size_t)r * ISSUES || failed != 1 ||
	    unreached != (size_t)r - 1 ||
	    outranked != (size_t)r * (ISSUES - 1))
		die("tick", "the listing is not what the server serves");
	if (o.st.other != 0 || o.st.ok + o.st.not_modified != o.st.requests)
		die("tick", "a request was not answered 200 or 304");
	afk_result_free(res);
	afk_poller_free(p);
	return o;
}

static afk_tracker *make_tracker(const afk_config *cfg)
{
	afk_tracker *t;

	if (afk_tracker_new(&t) != AFK_OK)
		die("tracker", "out of memory");
	if (afk_tracker_set_builtin(t, cfg) != AFK_OK)
		die("tracker", afk_tracker_errmsg(t));
	return t;
}

static long ceil_div(long a, long b)
{
	return (a + b - 1) / b;
}

int main(int argc, char **argv)
{
	static const int defaults[] = {10, 100, 500};
	char dir[] = "/tmp/afk-bench-tick-XXXXXX", cache[64];
	const int *rs = defaults;
	int *given = NULL, nr = 3, i, all_idle = 1, all_cold = 1;
	afk_agent *agent;

	if (argc > 1) {
		given = calloc((size_t)argc, sizeof(*given));
		if (given == NULL)
			die("args", "out of memory");
		for (i = 1; i < argc; i++)
			if ((given[i - 1] = atoi(argv[i])) <= 0)
				die("usage", "bench/tick [R ...] (R >= 1)");
		rs = given;
		nr = argc - 1;
	}
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", strerror(errno));
	if (setenv(TOKEN_ENV, "bench-token-not-secret", 1) != 0)
		die("setenv", strerror(errno));
	if (afk_agent_new(&agent) != AFK_OK ||
	    afk_agent_set_dispatch(agent, fail_dispatch) != AFK_OK)
		die("agent", "cannot make it");
	srv_start();

	printf("bench/tick: built-in GitHub tracker against a loopback "
	       "server, %d ms per request,\n%d ready issues per repository, "
	       "per_host %d.  target = ceil(R/%d) x %d ms; ok: the tick "
	       "<= 2 x target\n(idle: and every read a 304).  floor1 = "
	       "ceil(2R/%d) x %d ms, the least a cold tick can take\n(a "
	       "listing and a trust read per repository).  Tick 1 is cold; "
	       "2 and 3 are idle:\n2 on the same tracker, 3 on a new one "
	       "that has only the ETag cache file (a CronJob\ntick).\n\n",
	       LATENCY_MS, ISSUES, PER_HOST, PER_HOST, LATENCY_MS, PER_HOST,
	       LATENCY_MS);
	printf("%4s %6s %6s | %5s %7s %5s %5s | %7s %5s %9s | %7s %5s "
	       "%9s | %-4s %s\n", "R", "target", "floor1", "reqs", "tick1",
	       "x", "conns", "tick2", "x", "304/reads", "tick3", "x",
	       "304/reads", "cold", "idle");
	for (i = 0; i < nr; i++) {
		int r = rs[i];
		long target_ms = ceil_div(r, PER_HOST) * LATENCY_MS;
		long floor_ms = ceil_div(2L * r, PER_HOST) * LATENCY_MS;
		afk_config *cfg;
		afk_tracker *t;
		tick_out t1, t2, t3;
		int cold, idle;

		snprintf(cache, sizeof(cache), "%s/etag-%d.json", dir, r);
		cfg = make_config(r, cache);
		t = make_tracker(cfg);
		t1 = run_tick(cfg, t, agent, r);
		t2 = run_tick(cfg, t, agent, r);
		afk_tracker_free(t);
		t = make_tracker(cfg);
		t3 = run_tick(cfg, t, agent, r);
		afk_tracker_free(t);
		afk_config_free(cfg);
		unlink(cache);

		cold = t1.ms <= 2.0 * (double)target_ms;
		idle = t2.ms <= 2.0 * (double)target_ms &&
		       t3.ms <= 2.0 * (double)target_ms &&
		       t2.st.not_modified == t2.st.requests &&
		       t3.st.not_modified == t3.st.requests;
		all_cold &= cold;
		all_idle &= idle;
		printf("%4d %4ldms %4ldms | %5ld %5.0fms %4.2fx %5ld | "
		       "%5.0fms %4.2fx %4ld/%-4ld | %5.0fms %4.2fx %4ld/%-4ld | "
		       "%-4s %s\n", r, target_ms, floor_ms, t1.st.requests, t1.ms,
		       t1.ms / (double)target_ms, t1.st.connections, t2.ms,
		       t2.ms / (double)target_ms, t2.st.not_modified,
		       t2.st.requests, t3.ms, t3.ms / (double)target_ms,
		       t3.st.not_modified, t3.st.requests,
		       cold ? "ok" : "MISS", idle ? "ok" : "MISS");
		fflush(stdout);
	}
	printf("\nidle ticks: %s\ncold tick:  %s\n", all_idle ?
	       "within 2x of the target, every read a 304" :
	       "MISSED (see the rows)", all_cold ?
	       "within 2x of the target" : "MISSED where marked: its floor "
	       "(floor1) is 2x the target when 4 divides R");
	srv_stop();
	rmdir(dir);
	afk_agent_free(agent);
	free(given);
	return 0;
}
