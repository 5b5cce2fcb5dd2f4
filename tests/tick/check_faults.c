/*
 * tests/tick/check_faults.c - whole ticks through the public API, with the
 * built-in adapters (GitHub or Forgejo tracker and CI, T3 agent, Slack
 * notifier) made from a configuration, against tests/http_server.py on
 * 127.0.0.1 with one fault injected: a 5xx, a rate limit, a timeout, a
 * refused connection, a malformed, truncated or oversized body.
 *
 * The scripted server keeps no state, so the test does: a small model of
 * the tracker, the agent and the notifier (the "world") is scripted
 * before every tick, and after it every write in the server's log that
 * took effect is applied to the model.  A write that got the fault did
 * not take effect, unless the case says it did (a timeout after the
 * server acted).  Applying checks the invariants on the way: no lock
 * before a dispatch took effect, no second checklist comment, every
 * checklist written whole (its record line parses and renders back to
 * the very body).  Then the fault is removed, and the next healthy
 * ticks must finish the job with nothing lost and nothing done twice:
 * one thread, one turn, one lock, one close, one message per escalation.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "afk/afk.h"
#include "builtin/builtin.h"
#include "core/checklist.h"
#include "httpsrv.h"
#include "core/util.h"

#define TOKEN "ghp_F4ultT3stT0k3nValue0123456789abcdef"
#define TOKEN_ENV "AFK_TEST_FAULTS_TOKEN"
#define T3_TOKEN "t3tok_F4ultT3stT0k3nValue0123456789"
#define T3_ENV "AFK_TEST_FAULTS_T3_TOKEN"
#define HOOK_ENV "AFK_TEST_FAULTS_WEBHOOK"
#define HOOK_PATH "/services/T0AFK/B0AFK/xoxF4ultHookPart42"

#define RL "ready-for-agent"
#define IL "agent-in-progress"
#define HL "ready-for-human"
#define BUDGET 2
#define REPO "acme/api"
#define NUM 12

#define GH "/repos/acme/api"
#define FJ "/api/v1/repos/acme/api"
#define DISPATCH "/api/orchestration/dispatch"
#define THREADS "/api/orchestration/threads/"
#define ENVIRONMENT "/.well-known/t3/environment"

static srv S;

/* --- the world ------------------------------------------------------- */

enum thread_state { TH_NONE, TH_EMPTY, TH_LIVE, TH_DONE, TH_ERROR };
enum pr_state { PR_NONE, PR_GREEN, PR_RED };

typedef struct world {
	int fj;                 /* Forgejo, else GitHub */
	int ready, inprog, human;  /* the labels issue NUM carries */
	int closed;
	int blocked;            /* the dependency summary counts a blocker */
	char *comment;          /* the own checklist comment, or NULL */
	int thread;             /* enum thread_state of the base thread */
	int pr;                 /* enum pr_state */
	/* writes that took effect, over all ticks */
	int creates, turns, locks, closes, slacks, comment_writes;
	/* writes requested in the last tick, effective or not */
	int tick_comment_writes;
	int not_modified;       /* reads answered 304, over all ticks */
	size_t seen;            /* log entries applied so far */
} world;

static void world_init(world *w, int fj)
{
	memset(w, 0, sizeof(*w));
	w->fj = fj;
	w->ready = 1;
}

static void world_clear(world *w)
{
	free(w->comment);
	w->comment = NULL;
}

static char *thread_id(void)
{
	char *id = afk__t3_thread_id(REPO, NUM);

	ck_assert_ptr_nonnull(id);
	return id;
}

/* Label objects as the forge shows them: Forgejo's carry ids. */
static json_t *label_obj(const world *w, const char *name)
{
	int id = strcmp(name, RL) == 0 ? 1 : strcmp(name, IL) == 0 ? 2 : 3;

	if (w->fj)
		return json_pack("{s:i, s:s}", "id", id, "name", name);
	return json_pack("{s:s}", "name", name);
}

static json_t *labels_of(const world *w)
{
	json_t *a = json_array();

	if (w->ready)
		json_array_append_new(a, label_obj(w, RL));
	if (w->inprog)
		json_array_append_new(a, label_obj(w, IL));
	if (w->human)
		json_array_append_new(a, label_obj(w, HL));
	return a;
}

/* The open issues listing: issue NUM while it is open.  GitHub's carries
 * its dependency summary, so a listing that reads blockers only when the
 * summary counts one works as well as one that always does. */
static json_t *listing(const world *w)
{
	json_t *a = json_array(), *is;

	if (w->closed)
		return a;
	is = json_pack("{s:i, s:s, s:s, s:s, s:o}", "number", NUM,
	               "state", "open", "title", "Fix the build",
	               "updated_at", "2026-01-01T00:00:00Z",
	               "labels", labels_of(w));
	if (w->fj)
		json_object_set_new(is, "pull_request", json_null());
	else
		json_object_set_new(is, "issue_dependencies_summary",
		        json_pack("{s:i, s:i, s:i, s:i}",
		                  "blocked_by", w->blocked, "blocking", 0,
		                  "total_blocked_by", w->blocked,
		                  "total_blocking", 0));
	json_array_append_new(a, is);
	return a;
}

static json_t *timeline(const world *w)
{
	if (w->fj)
		return json_pack("[{s:s, s:s, s:{s:s}, s:{s:i, s:s}}]",
		        "type", "label", "body", "1", "user", "login", "alice",
		        "label", "id", 1, "name", RL);
	return json_pack("[{s:s, s:{s:s}, s:{s:s}}]", "event", "labeled",
	                 "actor", "login", "alice", "label", "name", RL);
}

static void add_pr_ref(const world *w, json_t *tl)
{
	if (w->pr == PR_NONE)
		return;
	if (w->fj)
		json_array_append_new(tl, json_pack("{s:s, s:{s:i, s:{s:b}, "
		        "s:{s:s}, s:{s:s}}}", "type", "pull_ref", "ref_issue",
		        "number", 10, "pull_request", "merged", 0, "user",
		        "login", "afk-bot", "repository", "full_name", REPO));
	else
		json_array_append_new(tl, json_pack("{s:s, s:{s:s, s:{s:i, "
		        "s:{s:s}, s:{s:s}, s:{s:s}}}}", "event",
		        "cross-referenced", "source", "type", "issue", "issue",
		        "number", 10, "pull_request", "url", "x", "user",
		        "login", "afk-bot", "repository", "full_name", REPO));
}

/* The agent's own PR (by the token's login, from a branch of the
 * repository itself): the one the CI may take. */
static json_t *pull(const world *w)
{
	int green = w->pr == PR_GREEN;

	return json_pack("{s:i, s:s, s:b, s:s?, s:{s:s}, s:{s:{s:i}}, "
	                 "s:{s:s, s:s, s:{s:i}}}", "number", 10,
	                 "state", green ? "closed" : "open", "merged", green,
	                 "merged_at", green ? "2026-01-01T00:00:00Z" : NULL,
	                 "user", "login", "afk-bot", "base", "repo", "id", 77,
	                 "head", "sha", "abc123", "ref", "afk/issue-12",
	                 "repo", "id", 77);
}

static json_t *thread_json(int state)
{
	const char *turn = state == TH_LIVE ? "running" :
	                   state == TH_DONE ? "completed" : "error";
	json_t *msgs;

	if (state == TH_EMPTY)
		return json_pack("{s:i, s:{s:s, s:n, s:n, s:[], s:[]}}",
		        "snapshotSequence", 1, "thread", "id", "t",
		        "latestTurn", "session", "messages", "activities");
	msgs = json_pack("[{s:s, s:s}]", "role", "user", "text",
	                 "Work on acme/api#12.");
	if (state == TH_DONE)
		json_array_append_new(msgs, json_pack("{s:s, s:s}", "role",
		        "assistant", "text", "AFK-PHASE: tests-red\n"
		        "AFK-PHASE: green\nAFK-PHASE: pushed"));
	return json_pack("{s:i, s:{s:s, s:{s:s}, s:{s:s}, s:o, s:[]}}",
	        "snapshotSequence", 3, "thread", "id", "t",
	        "latestTurn", "state", turn,
	        "session", "status", state == TH_ERROR ? "error" :
	                             state == TH_LIVE ? "running" : "ready",
	        "messages", msgs, "activities");
}

static json_t *ok_json(json_t *v)
{
	return json_pack("{s:o}", "json", v);
}

/* A 200 with v and an ETag made from v, as a forge answers a read: the
 * server answers 304 to a request that names it (If-None-Match), and
 * the HTTP layer then hands the tick its cached body. */
static json_t *etagged(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS), tag[32];
	unsigned long h = 2166136261u;
	const char *c;

	ck_assert_ptr_nonnull(text);
	for (c = text; *c != '\0'; c++)
		h = ((h ^ (unsigned char)*c) * 16777619u) & 0xffffffffu;
	free(text);
	snprintf(tag, sizeof(tag), "\"%08lx\"", h);
	return json_pack("{s:o, s:s}", "json", v, "etag", tag);
}

static json_t *not_found(void)
{
	return json_pack("{s:i, s:{s:s}}", "status", 404, "json", "message",
	                 "Not Found");
}

static void route(json_t *routes, const char *path, json_t *answer)
{
	ck_assert_ptr_nonnull(answer);
	ck_assert_int_eq(json_object_set_new(routes, path, answer), 0);
}

static void routes_github(const world *w, json_t *r)
{
	const char *const names[] = {RL, IL, HL};
	json_t *tl = timeline(w), *comments = json_array();
	int green = w->pr == PR_GREEN;
	char path[256];
	int carried[3] = {w->ready, w->inprog, w->human};
	size_t i;

	add_pr_ref(w, tl);
	if (w->comment != NULL)
		json_array_append_new(comments, json_pack("{s:i, s:{s:s}, s:s, "
		        "s:s}", "id", 501, "user", "login", "afk-bot", "body",
		        w->comment, "html_url", "https://github.com/acme/api/"
		        "issues/12#issuecomment-501"));
	route(r, GH "/issues", etagged(listing(w)));
	route(r, GH "/issues/12/timeline", etagged(tl));
	route(r, GH "/issues/12/dependencies/blocked_by", ok_json(w->blocked ?
	      json_pack("[{s:i, s:s}]", "number", 8, "state", "closed") :
	      json_array()));
	route(r, "/user", ok_json(json_pack("{s:s}", "login", "afk-bot")));
	route(r, GH "/issues/12/comments?per_page=100", etagged(comments));
	route(r, GH "/issues/12/comments", ok_json(json_pack("{s:i}", "id",
	      501)));
	route(r, GH "/issues/comments/501", ok_json(json_pack("{s:i}", "id",
	      501)));
	route(r, GH "/issues/12/labels", ok_json(labels_of(w)));
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), GH "/issues/12/labels/%s",
		         names[i]);
		route(r, path, carried[i] ? ok_json(json_array()) :
		      json_pack("{s:i, s:{s:s}}", "status", 404, "json",
		                "message", "Label does not exist"));
	}
	route(r, GH "/issues/12", ok_json(json_pack("{s:i}", "number", NUM)));
	route(r, GH "/pulls/10", ok_json(pull(w)));
	route(r, GH "/commits/abc123/status", ok_json(json_pack("{s:s, "
	      "s:[{s:s, s:s, s:s}]}", "state", green ? "success" : "failure",
	      "statuses", "context", "build", "state",
	      green ? "success" : "failure", "target_url",
	      "https://ci.example/build")));
	route(r, GH "/commits/abc123/check-runs", ok_json(json_pack("{s:i, "
	      "s:[{s:s, s:s, s:s, s:s}]}", "total_count", 1, "check_runs",
	      "name", "test", "status", "completed", "conclusion",
	      green ? "success" : "failure", "html_url",
	      "https://github.com/run/test")));
}

static void routes_forgejo(const world *w, json_t *r)
{
	json_t *tl = timeline(w), *comments = json_array(), *all;
	int green = w->pr == PR_GREEN;

	add_pr_ref(w, tl);
	if (w->comment != NULL)
		json_array_append_new(comments, json_pack("{s:i, s:{s:s}, s:s, "
		        "s:s}", "id", 501, "user", "login", "afk-bot", "body",
		        w->comment, "html_url", "https://forgejo.example/acme/"
		        "api/issues/12#issuecomment-501"));
	/* Both the POST (whose answer must hold the label added) and the
	 * GET (read for a removal) of the labels: every label of ours. */
	all = json_array();
	json_array_append_new(all, label_obj(w, RL));
	json_array_append_new(all, label_obj(w, IL));
	json_array_append_new(all, label_obj(w, HL));
	route(r, FJ "/issues", etagged(listing(w)));
	route(r, FJ "/issues/12/timeline", ok_json(tl));
	route(r, FJ "/issues/12/dependencies", ok_json(json_array()));
	route(r, "/api/v1/user", ok_json(json_pack("{s:s}", "login",
	      "afk-bot")));
	route(r, FJ "/issues/12/comments", ok_json(comments));
	route(r, FJ "/issues/comments/501", ok_json(json_pack("{s:i}", "id",
	      501)));
	route(r, FJ "/issues/12/labels", ok_json(all));
	route(r, FJ "/issues/12/labels/1", json_pack("{s:i, s:s}", "status",
	      204, "body", ""));
	route(r, FJ "/issues/12/labels/2", json_pack("{s:i, s:s}", "status",
	      204, "body", ""));
	route(r, FJ "/issues/12/labels/3", json_pack("{s:i, s:s}", "status",
	      204, "body", ""));
	route(r, FJ "/issues/12", ok_json(json_pack("{s:i}", "number", NUM)));
	route(r, FJ "/pulls/10", ok_json(pull(w)));
	route(r, FJ "/commits/abc123/status", ok_json(json_pack("{s:s, s:s, "
	      "s:i, s:[{s:s, s:s, s:s}]}", "state", green ? "success" :
	      "failure", "sha", "abc123", "total_count", 1, "statuses",
	      "context", "build", "status", green ? "success" : "failure",
	      "target_url", "https://ci.example/build")));
}

/* --- faults ---------------------------------------------------------- */

enum fault_kind {
	F_NONE, F_500, F_502, F_503, F_429, F_403RL, F_TIMEOUT, F_REFUSED,
	F_MALFORMED, F_TRUNCATED, F_OVERSIZED
};

enum dead_adapter { D_NONE, D_TRACKER, D_AGENT, D_NOTIFIER };

typedef struct fault {
	const char *name;
	int kind;               /* enum fault_kind */
	const char *route;      /* the script key it answers for */
	int nok;                /* healthy answers first (the n-th call) */
	int applied;            /* the write took effect all the same */
	const char *call;       /* the error message names the call so */
	int blocked;            /* the issue's summary counts a blocker */
} fault;

/* What the error message must say of the cause. */
static const char *cause_of(int kind)
{
	switch (kind) {
	case F_500:
		return "500";
	case F_502:
		return "502";
	case F_503:
		return "503";
	case F_429:
	case F_403RL:
		return "rate limit";
	case F_TIMEOUT:
		return "timed out";
	case F_REFUSED:
		return "connection refused";
	case F_MALFORMED:
		return "JSON";
	case F_TRUNCATED:
		return "truncated";
	case F_OVERSIZED:
		return "too large";
	default:
		return "";
	}
}

/* How long a rate limit holds the host: the next tick waits it out. */
static long wait_of(int kind)
{
	return kind == F_429 || kind == F_403RL ? 2100 : 0;
}

static json_t *fault_answer(int kind)
{
	char reset[32];

	switch (kind) {
	case F_500:
		return json_pack("{s:i, s:{s:s}}", "status", 500, "json",
		                 "message", "Internal Server Error");
	case F_502:
		return json_pack("{s:i, s:s}", "status", 502, "body",
		                 "<html>502 Bad Gateway</html>");
	case F_503:
		return json_pack("{s:i, s:{s:s}, s:s}", "status", 503,
		                 "headers", "Retry-After", "1", "body",
		                 "Service Unavailable");
	case F_429:
		return json_pack("{s:i, s:{s:s}, s:{s:s}}", "status", 429,
		                 "headers", "Retry-After", "1", "json",
		                 "message", "You have exceeded a secondary "
		                 "rate limit");
	case F_403RL:
		snprintf(reset, sizeof(reset), "%lld",
		         (long long)time(NULL) + 1);
		return json_pack("{s:i, s:{s:s, s:s}, s:{s:s}}", "status", 403,
		                 "headers", "x-ratelimit-remaining", "0",
		                 "x-ratelimit-reset", reset, "json", "message",
		                 "API rate limit exceeded");
	case F_TIMEOUT:
		return json_pack("{s:f, s:[]}", "delay", 2.5, "json");
	case F_MALFORMED:
		return json_pack("{s:{s:s}, s:s}", "headers", "Content-Type",
		                 "application/json", "body",
		                 "<html>not json</html>");
	case F_TRUNCATED:
		return json_pack("{s:{s:s}, s:s, s:i}", "headers",
		                 "Content-Type", "application/json", "body",
		                 "[{\"number\": 12, \"state\": ",
		                 "content_length", 400);
	case F_OVERSIZED:
		return json_pack("{s:{s:s}, s:s, s:i}", "headers",
		                 "Content-Type", "application/json", "body",
		                 "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]", "repeat",
		                 1000);
	default:
		return NULL;
	}
}

/* The script of the world; with f, its route answers the fault after
 * f->nok healthy answers (a list's last element repeats). */
static json_t *script_of(const world *w, const fault *f)
{
	json_t *script = json_object(), *r = json_object(), *thr;
	char *id = thread_id(), path[256];

	ck_assert_ptr_nonnull(script);
	if (w->fj)
		routes_forgejo(w, r);
	else
		routes_github(w, r);
	snprintf(path, sizeof(path), THREADS "%s", id);
	thr = w->thread == TH_NONE ? not_found() :
	      ok_json(thread_json(w->thread));
	route(r, path, thr);
	route(r, DISPATCH, ok_json(json_pack("{s:i}", "sequence", 7)));
	route(r, ENVIRONMENT, ok_json(json_pack("{s:s, s:i}", "environmentId",
	                      "env-1", "orchestrationProtocolVersion", 1)));
	route(r, HOOK_PATH, json_pack("{s:s}", "body", "ok"));
	if (f != NULL && f->kind != F_NONE && f->kind != F_REFUSED) {
		json_t *list = json_array(), *healthy = json_object_get(r,
		                                                f->route);
		int i;

		ck_assert_msg(healthy != NULL || f->nok == 0, "%s: no route %s",
		              f->name, f->route);
		for (i = 0; i < f->nok; i++)
			json_array_append(list, healthy);
		json_array_append_new(list, fault_answer(f->kind));
		route(r, f->route, list);
	}
	json_object_set_new(script, "routes", r);
	json_object_set_new(script, "default", not_found());
	free(id);
	return script;
}

/* --- applying the log ------------------------------------------------ */

/* path without its query, in buf. */
static const char *bare(const char *path, char *buf, size_t size)
{
	size_t n = strcspn(path, "?");

	if (n >= size)
		n = size - 1;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return buf;
}

/* The body must be a whole checklist: the record line parses and the
 * record renders back to the very body. */
static void assert_whole(const char *body)
{
	afk__record rec;
	char *again;

	ck_assert_msg(body != NULL && strncmp(body, AFK__RECORD_MARKER " {",
	              strlen(AFK__RECORD_MARKER) + 2) == 0,
	              "a checklist without its record line: %s",
	              body ? body : "(null)");
	memset(&rec, 0, sizeof(rec));
	ck_assert_msg(afk__record_parse(body, &rec) == 0,
	              "the record line is not whole JSON: %s", body);
	again = afk__checklist_render(&rec, REPO, NUM, 0, BUDGET);
	ck_assert_ptr_nonnull(again);
	ck_assert_msg(strcmp(again, body) == 0, "a checklist half-written:\n"
	              "%s\nwhole it reads:\n%s", body, again);
	free(again);
	afk__record_clear(&rec);
}

static void set_label(world *w, const char *name, int on)
{
	if (strcmp(name, RL) == 0 || strcmp(name, "1") == 0)
		w->ready = on;
	else if (strcmp(name, IL) == 0 || strcmp(name, "2") == 0)
		w->inprog = on;
	else if (strcmp(name, HL) == 0 || strcmp(name, "3") == 0)
		w->human = on;
	else
		ck_abort_msg("unknown label %s", name);
}

/* Applies one request that took effect. */
static void apply_one(world *w, const char *method, const char *path,
                      const char *body_text)
{
	const char *base = w->fj ? FJ : GH;
	size_t nb = strlen(base);
	json_t *body = json_loads(body_text, 0, NULL);
	const char *type, *text;
	size_t i;

	if (strcmp(path, DISPATCH) == 0) {
		type = json_string_value(json_object_get(body, "type"));
		ck_assert_ptr_nonnull(type);
		if (strcmp(type, "thread.create") == 0) {
			ck_assert_msg(w->thread == TH_NONE, "a second "
			              "thread.create for one thread");
			w->creates++;
			w->thread = TH_EMPTY;
		} else if (strcmp(type, "thread.turn.start") == 0) {
			ck_assert_msg(w->thread != TH_NONE, "a turn on a "
			              "thread never created");
			w->turns++;
			w->thread = TH_LIVE;
		}
	} else if (strcmp(path, HOOK_PATH) == 0) {
		w->slacks++;
	} else if (strncmp(path, base, nb) == 0) {
		const char *p = path + nb;

		if (strcmp(method, "POST") == 0 &&
		    strcmp(p, "/issues/12/labels") == 0) {
			json_t *ls = json_object_get(body, "labels");

			for (i = 0; i < json_array_size(ls); i++) {
				text = json_string_value(json_array_get(ls, i));
				ck_assert_ptr_nonnull(text);
				if (strcmp(text, IL) == 0)
					w->locks++;
				set_label(w, text, 1);
			}
		} else if (strcmp(method, "DELETE") == 0 &&
		           strncmp(p, "/issues/12/labels/", 18) == 0) {
			set_label(w, p + 18, 0);
		} else if (strcmp(method, "PATCH") == 0 &&
		           strcmp(p, "/issues/12") == 0) {
			text = json_string_value(json_object_get(body,
			                                         "state"));
			if (text != NULL && strcmp(text, "closed") == 0) {
				w->closed = 1;
				w->closes++;
			}
		} else if ((strcmp(method, "POST") == 0 &&
		            strcmp(p, "/issues/12/comments") == 0) ||
		           (strcmp(method, "PATCH") == 0 &&
		            strcmp(p, "/issues/comments/501") == 0)) {
			text = json_string_value(json_object_get(body, "body"));
			free(w->comment);
			w->comment = afk__strdup(text);
			w->comment_writes++;
		}
	}
	json_decref(body);
}

/* Applies the new entries of the server's log under the script script
 * (which routes them, as the server did) and fault f. */
static void apply(world *w, json_t *script, const fault *f)
{
	json_t *log = srv_log(&S), *routes = json_object_get(script, "routes");
	json_t *counts = json_object();
	const char *base = w->fj ? FJ : GH;
	int had_comment = w->comment != NULL;
	size_t i;

	w->tick_comment_writes = 0;
	for (i = w->seen; i < json_array_size(log); i++) {
		const char *method = log_str(log, i, "method");
		const char *path = log_str(log, i, "path");
		const char *body = log_str(log, i, "body");
		char buf[512];
		const char *key, *p, *tag;
		json_int_t n;
		int faulted;

		key = json_object_get(routes, path) ? path :
		      json_object_get(routes, bare(path, buf, sizeof(buf))) ?
		      buf : "default";
		n = json_integer_value(json_object_get(counts, key));
		json_object_set_new(counts, key, json_integer(n + 1));
		faulted = f != NULL && f->route != NULL &&
		          f->kind != F_REFUSED && strcmp(key, f->route) == 0 &&
		          n >= f->nok;
		tag = json_string_value(json_object_get(json_object_get(routes,
		                                                key), "etag"));
		if (!faulted && tag != NULL &&
		    strcmp(log_header(log, i, "if-none-match"), tag) == 0)
			w->not_modified++;
		p = bare(path, buf, sizeof(buf));
		/* Every checklist written is whole, and there is one. */
		if (strncmp(p, base, strlen(base)) == 0 &&
		    ((strcmp(method, "POST") == 0 &&
		      strcmp(p + strlen(base), "/issues/12/comments") == 0) ||
		     (strcmp(method, "PATCH") == 0 &&
		      strcmp(p + strlen(base), "/issues/comments/501") == 0))) {
			json_t *b = json_loads(body, 0, NULL);

			assert_whole(json_string_value(json_object_get(b,
			                                               "body")));
			json_decref(b);
			/* (The script is the world as the tick began: a
			 * comment posted in this tick is not listed to its
			 * later writes.) */
			ck_assert_msg(strcmp(method, "PATCH") == 0 ||
			              !had_comment, "a second checklist "
			              "comment was posted");
			w->tick_comment_writes++;
		}
		/* The lock only on an issue whose dispatch took effect. */
		if (strcmp(method, "POST") == 0 && strncmp(p, base,
		    strlen(base)) == 0 && strcmp(p + strlen(base),
		    "/issues/12/labels") == 0 && strstr(body, IL) != NULL)
			ck_assert_msg(w->thread == TH_LIVE, "the lock was "
			              "requested while the thread is %d (not "
			              "live)", w->thread);
		if (!faulted || f->applied)
			apply_one(w, method, p, body);
	}
	w->seen = json_array_size(log);
	json_decref(counts);
	json_decref(log);
}

/* --- the adapters ---------------------------------------------------- */

typedef struct env {
	afk_config *cfg;
	afk_tracker *t;
	afk_agent *a;
	afk_ci *ci;
	afk_notifier *n;
	afk_poller *p;
	afk_watcher *w;
} env;

/* A port on 127.0.0.1 that nothing listens on. */
static int dead_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* The adapters made from a configuration, as a host makes them; dead
 * names the one pointed at a port nothing listens on. */
static void env_make(env *e, int fj, int dead)
{
	char *text, hook[256], dead_base[64];
	const char *tbase, *abase;
	const char *api = fj ? "/api/v1" : "";
	const char *kind = fj ? "forgejo" : "github";

	memset(e, 0, sizeof(e[0]));
	snprintf(dead_base, sizeof(dead_base), "http://127.0.0.1:%d",
	         dead_port());
	tbase = dead == D_TRACKER ? dead_base : S.base;
	abase = dead == D_AGENT ? dead_base : S.base;
	snprintf(hook, sizeof(hook), "%s" HOOK_PATH,
	         dead == D_NOTIFIER ? dead_base : S.base);
	ck_assert_int_eq(setenv(HOOK_ENV, hook, 1), 0);
	ck_assert_int_eq(setenv(TOKEN_ENV, TOKEN, 1), 0);
	ck_assert_int_eq(setenv(T3_ENV, T3_TOKEN, 1), 0);
	text = afk__aprintf("{\"kill_switch\": false,"
	  " \"allowlist\": [\"" REPO "\"], \"trusted_users\": [\"alice\"],"
	  " \"fix_forward_budget\": %d,"
	  " \"tracker\": {\"kind\": \"%s\", \"api_url\": \"%s%s\","
	  "  \"token_env\": \"" TOKEN_ENV "\"},"
	  " \"ci\": {\"kind\": \"%s\", \"api_url\": \"%s%s\","
	  "  \"token_env\": \"" TOKEN_ENV "\"},"
	  " \"agent\": {\"kind\": \"t3\", \"url\": \"%s\","
	  "  \"token_env\": \"" T3_ENV "\", \"project_id\": \"proj-1\","
	  "  \"model\": \"gpt-5-codex\"},"
	  " \"notifier\": {\"kind\": \"slack\","
	  "  \"webhook_env\": \"" HOOK_ENV "\"},"
	  " \"http\": {\"timeout\": 1, \"connect_timeout\": 1,"
	  "  \"max_body\": 8192}}", BUDGET, kind, tbase, api, kind, S.base,
	  api, abase);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(afk_config_new(&e->cfg), 0);
	ck_assert_msg(afk_config_load_string(e->cfg, text) == 0, "%s",
	              afk_config_errmsg(e->cfg));
	free(text);
	ck_assert_int_eq(afk_tracker_new(&e->t), 0);
	ck_assert_msg(afk_tracker_set_builtin(e->t, e->cfg) == 0, "%s",
	              afk_tracker_errmsg(e->t));
	ck_assert_int_eq(afk_agent_new(&e->a), 0);
	ck_assert_msg(afk_agent_set_builtin(e->a, e->cfg) == 0, "%s",
	              afk_agent_errmsg(e->a));
	ck_assert_int_eq(afk_ci_new(&e->ci), 0);
	ck_assert_msg(afk_ci_set_builtin(e->ci, e->cfg) == 0, "%s",
	              afk_ci_errmsg(e->ci));
	ck_assert_int_eq(afk_notifier_new(&e->n), 0);
	ck_assert_msg(afk_notifier_set_builtin(e->n, e->cfg) == 0, "%s",
	              afk_notifier_errmsg(e->n));
	ck_assert_int_eq(afk_poller_new(&e->p, e->t, e->a), 0);
	ck_assert_int_eq(afk_watcher_new(&e->w, e->t, e->a, e->ci, e->n), 0);
}

static void env_free(env *e)
{
	afk_poller_free(e->p);
	afk_watcher_free(e->w);
	afk_tracker_free(e->t);
	afk_agent_free(e->a);
	afk_ci_free(e->ci);
	afk_notifier_free(e->n);
	afk_config_free(e->cfg);
	memset(e, 0, sizeof(*e));
}

static void setup(void)
{
	srv_start(&S);
}

static void teardown(void)
{
	srv_stop(&S);
}

/* --- the ticks ------------------------------------------------------- */

static void assert_no_secret(const char *msg)
{
	assert_lacks(msg, TOKEN);
	assert_lacks(msg, T3_TOKEN);
	assert_lacks(msg, "xoxF4ultHookPart42");
}

/* One poll tick against the world (f: the fault, or NULL); returns its
 * code, *ndispatched the issues it dispatched. */
/* The first failure the last poll tick reported and went on from
 * (afk_result_error_message()), "" when none. */
static char POLL_ERR[AFK__ERRMSG_SIZE];

static int poll_tick(world *w, env *e, const fault *f, size_t *ndispatched)
{
	json_t *script = script_of(w, f);
	afk_result *res = NULL;
	int rc;

	json_incref(script);
	srv_script_json(&S, script);
	rc = afk_poller_run_once(e->p, e->cfg, &res);
	ck_assert_ptr_nonnull(res);
	POLL_ERR[0] = '\0';
	if (afk_result_error_count(res) > 0)
		snprintf(POLL_ERR, sizeof(POLL_ERR), "%s",
		         afk_result_error_message(res, 0));
	*ndispatched = afk_result_dispatched_count(res);
	if (*ndispatched > 0) {
		char *id = thread_id();

		ck_assert_str_eq(afk_result_dispatched_thread(res, 0), id);
		free(id);
	}
	afk_result_free(res);
	apply(w, script, f);
	json_decref(script);
	return rc;
}

static int watch_tick(world *w, env *e, const fault *f, long long now,
                      size_t *nactions)
{
	json_t *script = script_of(w, f);
	afk_actions *acts = NULL;
	int rc;

	json_incref(script);
	srv_script_json(&S, script);
	rc = afk_watcher_run_once(e->w, e->cfg, now, &acts);
	ck_assert_ptr_nonnull(acts);
	*nactions = afk_actions_count(acts);
	afk_actions_free(acts);
	apply(w, script, f);
	json_decref(script);
	return rc;
}

/* The adapter a "connection refused" case points at a dead port: its
 * route names it. */
static int dead_of(const fault *f)
{
	if (f->kind != F_REFUSED)
		return D_NONE;
	if (strcmp(f->route, "tracker") == 0)
		return D_TRACKER;
	if (strcmp(f->route, "agent") == 0)
		return D_AGENT;
	return D_NOTIFIER;
}

/* The record of the world's checklist comment (afk__record_clear()). */
static void world_record(const world *w, afk__record *rec)
{
	memset(rec, 0, sizeof(*rec));
	ck_assert_ptr_nonnull(w->comment);
	ck_assert_int_eq(afk__record_parse(w->comment, rec), 0);
}

/* --- poll ticks ------------------------------------------------------ */

#define LIST_GH GH "/issues"
#define TL_GH GH "/issues/12/timeline"
#define BLK_GH GH "/issues/12/dependencies/blocked_by"
#define LAB_GH GH "/issues/12/labels"
#define THREAD "thread"   /* stands for the base thread's route */

static const fault poll_gh[] = {
	/* the listing */
	{"list 500", F_500, LIST_GH, 0, 0, "issues of acme/api", 0},
	{"list 502", F_502, LIST_GH, 0, 0, "issues of acme/api", 0},
	{"list 503", F_503, LIST_GH, 0, 0, "issues of acme/api", 0},
	{"list 429", F_429, LIST_GH, 0, 0, "issues of acme/api", 0},
	{"list 403 reset", F_403RL, LIST_GH, 0, 0, "issues of acme/api", 0},
	{"list timeout", F_TIMEOUT, LIST_GH, 0, 0, "issues of acme/api", 0},
	{"list refused", F_REFUSED, "tracker", 0, 0, "issues of acme/api", 0},
	{"list malformed", F_MALFORMED, LIST_GH, 0, 0, "issues of acme/api",
	 0},
	{"list truncated", F_TRUNCATED, LIST_GH, 0, 0, "issues of acme/api",
	 0},
	{"list oversized", F_OVERSIZED, LIST_GH, 0, 0, "issues of acme/api",
	 0},
	/* the trust and blocker reads */
	{"timeline 500", F_500, TL_GH, 0, 0, "timeline of acme/api#12", 0},
	{"timeline 429", F_429, TL_GH, 0, 0, "timeline of acme/api#12", 0},
	{"timeline timeout", F_TIMEOUT, TL_GH, 0, 0,
	 "timeline of acme/api#12", 0},
	{"timeline malformed", F_MALFORMED, TL_GH, 0, 0,
	 "timeline of acme/api#12", 0},
	{"blockers 502", F_502, BLK_GH, 0, 0, "blockers of acme/api#12", 1},
	{"blockers truncated", F_TRUNCATED, BLK_GH, 0, 0,
	 "blockers of acme/api#12", 1},
	/* the dispatch: the server's protocol, the probe of the thread,
	 * its two commands */
	{"environment 500", F_500, ENVIRONMENT, 0, 0, "T3 environment", 0},
	{"environment malformed", F_MALFORMED, ENVIRONMENT, 0, 0,
	 "T3 environment", 0},
	{"probe 500", F_500, THREAD, 0, 0, "T3 thread snapshot", 0},
	{"probe malformed", F_MALFORMED, THREAD, 0, 0, "T3 thread snapshot",
	 0},
	{"probe refused", F_REFUSED, "agent", 0, 0, "agent dispatch of "
	 "acme/api#12", 0},
	{"create 500", F_500, DISPATCH, 0, 0, "T3 thread.create", 0},
	{"create 503", F_503, DISPATCH, 0, 0, "T3 thread.create", 0},
	{"create 429", F_429, DISPATCH, 0, 0, "T3 thread.create", 0},
	{"create timeout", F_TIMEOUT, DISPATCH, 0, 0, "T3 thread.create", 0},
	{"create timeout, applied", F_TIMEOUT, DISPATCH, 0, 1,
	 "T3 thread.create", 0},
	{"turn 500", F_500, DISPATCH, 1, 0, "T3 thread.turn.start", 0},
	{"turn 502", F_502, DISPATCH, 1, 0, "T3 thread.turn.start", 0},
	{"turn oversized", F_OVERSIZED, DISPATCH, 1, 0,
	 "T3 thread.turn.start", 0},
	{"turn timeout, applied", F_TIMEOUT, DISPATCH, 1, 1,
	 "T3 thread.turn.start", 0},
	/* the lock, after a dispatch that took effect */
	{"label 500", F_500, LAB_GH, 0, 0, "was not added", 0},
	{"label 429", F_429, LAB_GH, 0, 0, "was not added", 0},
	{"label 403 reset", F_403RL, LAB_GH, 0, 0, "was not added", 0},
	{"label timeout", F_TIMEOUT, LAB_GH, 0, 0, "was not added", 0},
	{"label timeout, applied", F_TIMEOUT, LAB_GH, 0, 1, "was not added",
	 0},
};

#define LIST_FJ FJ "/issues"
#define LAB_FJ FJ "/issues/12/labels"

static const fault poll_fj[] = {
	{"list 500", F_500, LIST_FJ, 0, 0, "issues of acme/api", 0},
	{"list 503", F_503, LIST_FJ, 0, 0, "issues of acme/api", 0},
	{"list truncated", F_TRUNCATED, LIST_FJ, 0, 0, "issues of acme/api",
	 0},
	{"list refused", F_REFUSED, "tracker", 0, 0, "issues of acme/api", 0},
	{"label 500", F_500, LAB_FJ, 0, 0, "was not added", 0},
	{"label timeout", F_TIMEOUT, LAB_FJ, 0, 0, "was not added", 0},
	{"label malformed", F_MALFORMED, LAB_FJ, 0, 0, "was not added", 0},
	{"create 502", F_502, DISPATCH, 0, 0, "T3 thread.create", 0},
};

/* 1 when f is in the listing or in the gates of an issue (its route,
 * or "tracker" for a refused connection): list_ready reports it for the
 * repository or the issue and goes on. */
static int listing_fault(const fault *f)
{
	return strcmp(f->route, "tracker") == 0 ||
	       strcmp(f->route, LIST_GH) == 0 || strcmp(f->route, TL_GH) == 0 ||
	       strcmp(f->route, BLK_GH) == 0 || strcmp(f->route, LIST_FJ) == 0;
}

/* The fault with its "thread" route made the base thread's path. */
static fault resolve(const fault *f, char *buf, size_t size)
{
	fault g = *f;

	if (g.route != NULL && strcmp(g.route, THREAD) == 0) {
		char *id = thread_id();

		snprintf(buf, size, THREADS "%s", id);
		free(id);
		g.route = buf;
	}
	return g;
}

/* A poll tick with the fault fails, naming the call and the cause, with
 * no lock unless the dispatch took effect; the next healthy tick
 * dispatches what is left, and in all the issue ran once: one thread,
 * one turn, one lock, a record naming the thread. */
static void poll_case(int fj, const fault *f0)
{
	char buf[256], *id = thread_id();
	fault f = resolve(f0, buf, sizeof(buf));
	size_t nd;
	afk__record rec;
	world w;
	env e;
	int rc, locked;

	world_init(&w, fj);
	w.blocked = f.blocked;
	env_make(&e, fj, dead_of(&f));
	rc = poll_tick(&w, &e, &f, &nd);
	if (listing_fault(&f)) {
		/* A listing or a gate that fails is that repository's or
		 * issue's failure, reported in the result and as the tick's
		 * code and message (the first failure): the tick goes on, and
		 * nothing half-known is dispatched. */
		ck_assert_msg(rc != 0, "%s: the tick with the fault succeeded",
		              f.name);
		ck_assert_msg(POLL_ERR[0] != '\0', "%s: no failure reported",
		              f.name);
		assert_contains(afk_poller_errmsg(e.p), POLL_ERR);
		ck_assert_uint_eq(nd, 0);
		assert_contains(POLL_ERR, f.call);
		assert_contains(POLL_ERR, cause_of(f.kind));
		assert_no_secret(POLL_ERR);
	} else {
		ck_assert_msg(rc != 0, "%s: the tick with the fault succeeded",
		              f.name);
		assert_contains(afk_poller_errmsg(e.p), f.call);
		assert_contains(afk_poller_errmsg(e.p), cause_of(f.kind));
		assert_no_secret(afk_poller_errmsg(e.p));
	}
	ck_assert_msg(w.locks == 0 || w.thread == TH_LIVE, "%s: locked "
	              "without a dispatch", f.name);
	locked = w.inprog;

	msleep(wait_of(f.kind));
	if (f.kind == F_REFUSED) {
		env_free(&e);
		env_make(&e, fj, D_NONE);
	}
	rc = poll_tick(&w, &e, NULL, &nd);
	ck_assert_msg(rc == 0, "%s: the healthy tick: %s", f.name,
	              afk_poller_errmsg(e.p));
	/* A lock that took effect holds: nothing more to dispatch. */
	ck_assert_uint_eq(nd, locked ? 0 : 1);
	rc = poll_tick(&w, &e, NULL, &nd);
	ck_assert_msg(rc == 0, "%s: the third tick: %s", f.name,
	              afk_poller_errmsg(e.p));
	ck_assert_uint_eq(nd, 0);

	ck_assert_msg(w.creates == 1 && w.turns == 1, "%s: %d thread.create, "
	              "%d thread.turn.start", f.name, w.creates, w.turns);
	ck_assert_msg(w.locks == 1, "%s: %d locks", f.name, w.locks);
	/* A listing read whole before is answered from the cache when it
	 * has not changed: a 304 must not lose or repeat anything either. */
	if (f.kind != F_REFUSED && strcmp(f.route, LIST_GH) != 0 &&
	    strcmp(f.route, LIST_FJ) != 0)
		ck_assert_msg(w.not_modified > 0, "%s: no read was answered "
		              "304", f.name);
	ck_assert_int_eq(w.inprog, 1);
	ck_assert_int_eq(w.ready, 1);
	ck_assert_int_eq(w.thread, TH_LIVE);
	world_record(&w, &rec);
	ck_assert_str_eq(rec.thread, id);
	afk__record_clear(&rec);
	env_free(&e);
	world_clear(&w);
	free(id);
}

/* The run's record cannot be written: the dispatch stands and is locked
 * (never dispatched again), the tick says the record is missing, and the
 * watch tick hands the run to a human, telling them once. */
START_TEST(t_poll_record_fails)
{
	fault f = {"record 500", F_500, GH "/issues/12/comments", 0, 0,
	           "run record was not written", 0};
	long long now = 1800000000LL;
	size_t n;
	world w;
	env e;
	int i;

	world_init(&w, 0);
	env_make(&e, 0, D_NONE);
	ck_assert_int_ne(poll_tick(&w, &e, &f, &n), 0);
	assert_contains(afk_poller_errmsg(e.p), f.call);
	assert_contains(afk_poller_errmsg(e.p), "500");
	ck_assert_uint_eq(n, 1);
	ck_assert(w.inprog && w.comment == NULL);
	ck_assert_msg(poll_tick(&w, &e, NULL, &n) == 0, "%s",
	              afk_poller_errmsg(e.p));
	ck_assert_uint_eq(n, 0);
	for (i = 0; i < 2; i++) {
		ck_assert_msg(watch_tick(&w, &e, NULL, now + 60 * i, &n) == 0,
		              "%s", afk_watcher_errmsg(e.w));
		ck_assert_uint_eq(n, i == 0 ? 1 : 0);
	}
	ck_assert(w.creates == 1 && w.turns == 1 && w.locks == 1);
	ck_assert(w.slacks == 1 && w.human && !w.inprog && !w.ready);
	env_free(&e);
	world_clear(&w);
}
END_TEST

START_TEST(t_poll_github)
{
	poll_case(0, &poll_gh[_i]);
}
END_TEST

START_TEST(t_poll_forgejo)
{
	poll_case(1, &poll_fj[_i]);
}
END_TEST

/* --- watch ticks ----------------------------------------------------- */

enum outcome { O_CLOSE, O_ESCALATE, O_FIX };

typedef struct wcase {
	fault f;
	int outcome;            /* enum outcome the run comes to */
} wcase;

#define CHECKRUNS_GH GH "/commits/abc123/check-runs"
#define EDIT_GH GH "/issues/comments/501"
#define EDIT_FJ FJ "/issues/comments/501"
#define CLOSE_GH GH "/issues/12"
#define UPSERT "tracker upsert_comment"

static const wcase watch_gh[] = {
	/* a rate limit from GitHub mid-watch */
	{{"check-runs 429", F_429, CHECKRUNS_GH, 0, 0, "CI status", 0},
	 O_CLOSE},
	{{"check-runs 403 reset", F_403RL, CHECKRUNS_GH, 0, 0, "CI status",
	  0}, O_CLOSE},
	{{"check-runs truncated", F_TRUNCATED, CHECKRUNS_GH, 0, 0,
	  "CI status", 0}, O_CLOSE},
	{{"upsert 429", F_429, EDIT_GH, 0, 0, UPSERT, 0}, O_CLOSE},
	{{"upsert 403 reset", F_403RL, EDIT_GH, 0, 0, UPSERT, 0}, O_CLOSE},
	{{"upsert 500", F_500, EDIT_GH, 0, 0, UPSERT, 0}, O_ESCALATE},
	{{"upsert timeout", F_TIMEOUT, EDIT_GH, 0, 0, UPSERT, 0},
	 O_ESCALATE},
	{{"close 502", F_502, CLOSE_GH, 0, 0, "tracker close_issue", 0},
	 O_CLOSE},
	{{"unlabel ready 500", F_500, GH "/issues/12/labels/" RL, 0, 0,
	  "tracker remove_label", 0}, O_CLOSE},
	{{"unlock 500 after notify", F_500, GH "/issues/12/labels/" IL, 0, 0,
	  "tracker remove_label", 0}, O_ESCALATE},
	{{"human label 429", F_429, LAB_GH, 0, 0, "tracker add_label", 0},
	 O_ESCALATE},
	/* the notifier during an escalation */
	{{"slack 500", F_500, HOOK_PATH, 0, 0, "notifier notify", 0},
	 O_ESCALATE},
	{{"slack 503", F_503, HOOK_PATH, 0, 0, "notifier notify", 0},
	 O_ESCALATE},
	{{"slack timeout", F_TIMEOUT, HOOK_PATH, 0, 0, "notifier notify", 0},
	 O_ESCALATE},
	{{"slack refused", F_REFUSED, "notifier", 0, 0, "notifier notify", 0},
	 O_ESCALATE},
	/* the agent's snapshot */
	{{"snapshot 500", F_500, THREAD, 0, 0, "agent snapshot", 0}, O_CLOSE},
	{{"snapshot timeout", F_TIMEOUT, THREAD, 0, 0, "agent snapshot", 0},
	 O_CLOSE},
	{{"snapshot malformed", F_MALFORMED, THREAD, 0, 0, "agent snapshot",
	  0}, O_CLOSE},
	{{"snapshot oversized", F_OVERSIZED, THREAD, 0, 0, "agent snapshot",
	  0}, O_CLOSE},
	{{"snapshot refused", F_REFUSED, "agent", 0, 0, "agent snapshot", 0},
	 O_ESCALATE},
	/* the corrective turn */
	{{"send_turn 500", F_500, DISPATCH, 0, 0, "agent send_turn", 0},
	 O_FIX},
	{{"send_turn timeout", F_TIMEOUT, DISPATCH, 0, 0, "agent send_turn",
	  0}, O_FIX},
};

static const wcase watch_fj[] = {
	{{"upsert 500", F_500, EDIT_FJ, 0, 0, UPSERT, 0}, O_CLOSE},
	{{"upsert timeout", F_TIMEOUT, EDIT_FJ, 0, 0, UPSERT, 0}, O_ESCALATE},
	{{"label read 500", F_500, LAB_FJ, 0, 0, "tracker remove_label", 0},
	 O_CLOSE},
	{{"slack 502", F_502, HOOK_PATH, 0, 0, "notifier notify", 0},
	 O_ESCALATE},
	{{"human label 502", F_502, LAB_FJ, 0, 0, "tracker add_label", 0},
	 O_ESCALATE},
	{{"snapshot 503", F_503, THREAD, 0, 0, "agent snapshot", 0}, O_CLOSE},
};

/* A run dispatched by a healthy poll tick; then the agent and CI as the
 * outcome wants them. */
static void start_run(world *w, env *e, int outcome)
{
	size_t nd;

	ck_assert_msg(poll_tick(w, e, NULL, &nd) == 0, "the poll tick: %s",
	              afk_poller_errmsg(e->p));
	ck_assert_uint_eq(nd, 1);
	ck_assert_int_eq(w->inprog, 1);
	ck_assert_ptr_nonnull(w->comment);
	switch (outcome) {
	case O_CLOSE:
		w->thread = TH_DONE;
		w->pr = PR_GREEN;
		break;
	case O_ESCALATE:
		w->thread = TH_ERROR;
		w->pr = PR_NONE;
		break;
	default:
		w->thread = TH_DONE;
		w->pr = PR_RED;
		break;
	}
}

/* The run finished as wanted, once. */
static void assert_outcome(const world *w, int outcome, const char *name)
{
	afk__record rec;

	world_record(w, &rec);
	ck_assert_msg(w->creates == 1, "%s: %d threads", name, w->creates);
	switch (outcome) {
	case O_CLOSE:
		ck_assert_msg(w->closes == 1, "%s: closed %d times", name,
		              w->closes);
		ck_assert_msg(w->closed && !w->inprog && !w->ready &&
		              !w->human, "%s: labels after the close: ready %d,"
		              " in progress %d, human %d", name, w->ready,
		              w->inprog, w->human);
		ck_assert_int_eq(rec.status, AFK__RUN_CLOSED);
		ck_assert_int_eq(w->slacks, 0);
		ck_assert_int_eq(w->turns, 1);
		break;
	case O_ESCALATE:
		ck_assert_msg(w->slacks == 1, "%s: %d Slack messages", name,
		              w->slacks);
		ck_assert_msg(!w->closed && !w->inprog && !w->ready &&
		              w->human, "%s: labels after the escalation: "
		              "ready %d, in progress %d, human %d", name,
		              w->ready, w->inprog, w->human);
		ck_assert_int_eq(rec.status, AFK__RUN_ESCALATED);
		ck_assert_int_eq(rec.notify_pending, 0);
		ck_assert_int_eq(w->closes, 0);
		break;
	default:
		ck_assert_msg(w->turns == 2, "%s: %d turns for one corrective "
		              "turn", name, w->turns);
		ck_assert_int_eq(rec.attempts, 1);
		ck_assert_int_eq(rec.turn_pending, 0);
		ck_assert_msg(!w->closed && w->inprog && w->ready && !w->human,
		              "%s: labels after the corrective turn", name);
		ck_assert_int_eq(w->slacks, 0);
		break;
	}
	afk__record_clear(&rec);
}

/* A watch tick with the fault fails, naming the call and the cause, and
 * writes at most one whole checklist; the next healthy ticks finish the
 * run, each step once. */
static void watch_case(int fj, const wcase *c)
{
	char buf[256];
	fault f = resolve(&c->f, buf, sizeof(buf));
	long long now = 1800000000LL;
	size_t na;
	world w;
	env e;
	int rc, i;

	world_init(&w, fj);
	env_make(&e, fj, D_NONE);
	start_run(&w, &e, c->outcome);
	if (f.kind == F_REFUSED) {
		env_free(&e);
		env_make(&e, fj, dead_of(&f));
	}
	rc = watch_tick(&w, &e, &f, now, &na);
	ck_assert_msg(rc != 0, "%s: the tick with the fault succeeded",
	              f.name);
	assert_contains(afk_watcher_errmsg(e.w), "watch acme/api#12");
	assert_contains(afk_watcher_errmsg(e.w), f.call);
	assert_contains(afk_watcher_errmsg(e.w), cause_of(f.kind));
	assert_no_secret(afk_watcher_errmsg(e.w));
	/* One write - two when the escalation's message went out and its
	 * pending mark was cleared. */
	ck_assert_msg(w.tick_comment_writes <= 1 + w.slacks, "%s: %d "
	              "checklist writes in the failed tick", f.name,
	              w.tick_comment_writes);

	msleep(wait_of(f.kind));
	if (f.kind == F_REFUSED) {
		env_free(&e);
		env_make(&e, fj, D_NONE);
	}
	/* The first healthy tick finishes; two more change nothing. */
	for (i = 0; i < 3; i++) {
		now += 60;
		rc = watch_tick(&w, &e, NULL, now, &na);
		ck_assert_msg(rc == 0, "%s: healthy tick %d: %s", f.name, i + 1,
		              afk_watcher_errmsg(e.w));
		if (i == 0)
			assert_outcome(&w, c->outcome, f.name);
	}
	assert_outcome(&w, c->outcome, f.name);
	env_free(&e);
	world_clear(&w);
}

START_TEST(t_watch_github)
{
	watch_case(0, &watch_gh[_i]);
}
END_TEST

START_TEST(t_watch_forgejo)
{
	watch_case(1, &watch_fj[_i]);
}
END_TEST

/* --- a dead agent costs one attempt per tick (issue 9 item 3) -------- */

#define NREPOS 3
static const char *const dead_repos[NREPOS] = {"acme/api", "acme/web",
                                               "acme/ops"};

/* A tracker in memory: one trusted ready issue in each repository; it
 * counts the labels it is asked to add. */
static int mem_list(afk_call *call, const char *const *repos, size_t n,
                    void *userdata)
{
	size_t i;

	(void)repos;
	(void)userdata;
	for (i = 0; i < n; i++) {
		afk_issue *is;

		ck_assert_int_eq(afk_issue_new(&is, dead_repos[i], 1), 0);
		ck_assert_int_eq(afk_issue_add_label(is, RL), 0);
		ck_assert_int_eq(afk_issue_set_trusted(is, 1), 0);
		ck_assert_int_eq(afk_call_add_issue(call, is), 0);
		afk_issue_free(is);
	}
	return 0;
}

static int mem_label(afk_call *call, const char *repo, long number,
                     const char *label, void *userdata)
{
	(void)call;
	(void)repo;
	(void)number;
	(void)label;
	(*(int *)userdata)++;
	return 0;
}

/* The built-in T3 agent at base; a poller over it and the tracker. */
static void dead_agent_env(env *e, const char *base, int *labels)
{
	char *text;

	memset(e, 0, sizeof(*e));
	ck_assert_int_eq(setenv(T3_ENV, T3_TOKEN, 1), 0);
	text = afk__aprintf("{\"kill_switch\": false,"
	  " \"allowlist\": [\"acme/api\", \"acme/web\", \"acme/ops\"],"
	  " \"agent\": {\"kind\": \"t3\", \"url\": \"%s\","
	  "  \"token_env\": \"" T3_ENV "\", \"project_id\": \"proj-1\","
	  "  \"model\": \"gpt-5-codex\"},"
	  " \"http\": {\"timeout\": 1, \"connect_timeout\": 1}}", base);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(afk_config_new(&e->cfg), 0);
	ck_assert_msg(afk_config_load_string(e->cfg, text) == 0, "%s",
	              afk_config_errmsg(e->cfg));
	free(text);
	ck_assert_int_eq(afk_tracker_new(&e->t), 0);
	ck_assert_int_eq(afk_tracker_set_list_ready(e->t, mem_list), 0);
	ck_assert_int_eq(afk_tracker_set_add_label(e->t, mem_label), 0);
	ck_assert_int_eq(afk_tracker_set_userdata(e->t, labels, NULL), 0);
	ck_assert_int_eq(afk_agent_new(&e->a), 0);
	ck_assert_msg(afk_agent_set_builtin(e->a, e->cfg) == 0, "%s",
	              afk_agent_errmsg(e->a));
	ck_assert_int_eq(afk_poller_new(&e->p, e->t, e->a), 0);
}

/* One tick against the dead agent: it fails with AFK_EUNAVAIL, the first
 * pick's dispatch failed and the others were not tried, one error. */
static void dead_agent_tick(env *e, const char *cause)
{
	afk_result *res = NULL;
	size_t i;

	ck_assert_int_eq(afk_poller_run_once(e->p, e->cfg, &res),
	                 AFK_EUNAVAIL);
	assert_contains(afk_poller_errmsg(e->p), "agent dispatch of acme/api#1");
	assert_contains(afk_poller_errmsg(e->p), cause);
	assert_no_secret(afk_poller_errmsg(e->p));
	ck_assert_uint_eq(afk_result_dispatched_count(res), 0);
	ck_assert_uint_eq(afk_result_skipped_count(res), NREPOS);
	ck_assert_int_eq(afk_result_skipped_reason(res, 0),
	                 AFK_SKIP_DISPATCH_FAILED);
	for (i = 1; i < NREPOS; i++)
		ck_assert_int_eq(afk_result_skipped_reason(res, i),
		                 AFK_SKIP_AGENT_UNAVAILABLE);
	ck_assert_uint_eq(afk_result_error_count(res), 1);
	ck_assert_str_eq(afk_result_error_repo(res, 0), "acme/api");
	ck_assert_int_eq(afk_result_error_code(res, 0), AFK_EUNAVAIL);
	afk_result_free(res);
}

/* The T3 server refuses connections: each tick tries one dispatch, not
 * one per repository, and locks nothing. */
START_TEST(t_poll_agent_refused_once_per_tick)
{
	char base[64];
	int labels = 0, k;
	env e;

	snprintf(base, sizeof(base), "http://127.0.0.1:%d", dead_port());
	dead_agent_env(&e, base, &labels);
	for (k = 0; k < 3; k++)
		dead_agent_tick(&e, "connection refused");
	ck_assert_int_eq(labels, 0);
	env_free(&e);
}
END_TEST

/* The T3 server never answers in time: each tick waits for one timeout
 * - the server sees one request per tick - not one per repository. */
START_TEST(t_poll_agent_timeout_once_per_tick)
{
	int labels = 0, k;
	double t0, dt;
	env e;

	srv_script(&S, "{'default': {'delay': 4, 'json': {}}}");
	dead_agent_env(&e, S.base, &labels);
	for (k = 1; k <= 2; k++) {
		t0 = now_s();
		dead_agent_tick(&e, "timed out");
		dt = now_s() - t0;
		ck_assert_msg(dt < 2.5, "tick %d took %.3f s", k, dt);
		ck_assert_uint_eq(srv_count(&S), (size_t)k);
	}
	ck_assert_int_eq(labels, 0);
	env_free(&e);
}
END_TEST

/* --- the suite ------------------------------------------------------- */

#define N(a) ((int)(sizeof(a) / sizeof(*(a))))

static Suite *suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("ticks");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, t_poll_github, 0, N(poll_gh));
	tcase_add_test(tc, t_poll_record_fails);
	tcase_add_loop_test(tc, t_poll_forgejo, 0, N(poll_fj));
	tcase_add_loop_test(tc, t_watch_github, 0, N(watch_gh));
	tcase_add_loop_test(tc, t_watch_forgejo, 0, N(watch_fj));
	tcase_add_test(tc, t_poll_agent_refused_once_per_tick);
	tcase_add_test(tc, t_poll_agent_timeout_once_per_tick);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
