/*
 * tests/builtin/check_t3.c - the "t3" agent (lib/builtin/t3.c) against
 * tests/http_server.py on 127.0.0.1, scripted with T3 Code's shapes
 * (packages/contracts/src/orchestration.ts in pingdotgg/t3code).
 *
 * Each test starts its own server (the fixture), scripts its answers,
 * makes the agent from a configuration through afk_agent_set_builtin()
 * - the path a host takes - and calls its callbacks as a tick would.
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

#define TOKEN "t3tok_S3cr3tT0k3nValue0123456789"
#define TOKEN_ENV "AFK_TEST_T3_TOKEN"
#define DISPATCH "/api/orchestration/dispatch"
#define THREADS "/api/orchestration/threads/"
#define ENVIRONMENT "/.well-known/t3/environment"
#define SESSION "/api/auth/session"
#define SHELL "/api/orchestration/shell"

/* --- the scripted server (tests/http_server.py) ---------------------- */

static srv S;

/* No piece of the token is in s. */
static void assert_no_token(const char *s)
{
	assert_lacks(s, TOKEN);
	assert_lacks(s, "t3tok_S3cr");
	assert_lacks(s, "T0k3nValue");
}

/* T3 Code's environment descriptor, speaking protocol (0: the field
 * absent, as the servers from before it), as a route's answer. */
static json_t *env_answer(int protocol)
{
	json_t *d = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{}}",
	                      "environmentId", "env-1", "label", "test",
	                      "platform", "os", "linux", "arch", "x64",
	                      "serverVersion", "0.0.50", "capabilities");

	if (protocol != 0)
		json_object_set_new(d, "orchestrationProtocolVersion",
		                    json_integer(protocol));
	return json_pack("{s:o}", "json", d);
}

/* Writes script (a new reference, taken), its routes given a protocol 1
 * descriptor unless it has one: the dispatch tests are about threads,
 * and each reads the descriptor first. */
static void t3_script(json_t *script)
{
	json_t *routes = json_object_get(script, "routes");

	if (routes == NULL) {
		routes = json_object();
		json_object_set_new(script, "routes", routes);
	}
	if (json_object_get(routes, ENVIRONMENT) == NULL)
		json_object_set_new(routes, ENVIRONMENT, env_answer(1));
	srv_script_json(&S, script);
}

/* The server's log without the reads of the descriptor (counted by the
 * tests of the protocol, below). */
static json_t *t3_log(void)
{
	json_t *log = srv_log(&S), *out = json_array();
	size_t i;

	for (i = 0; i < json_array_size(log); i++)
		if (strcmp(log_str(log, i, "path"), ENVIRONMENT) != 0)
			json_array_append(out, json_array_get(log, i));
	json_decref(log);
	return out;
}

/* --- the agent ------------------------------------------------------- */

static afk_agent *A;

static void setup(void)
{
	srv_start(&S);
	setenv(TOKEN_ENV, TOKEN, 1);
	A = NULL;
}

static void teardown(void)
{
	afk_agent_free(A);
	A = NULL;
	srv_stop(&S);
}

/* The agent member for the fixture's server; extra is more members
 * ("" for none). */
static char *agent_json(const char *extra)
{
	char *j = afk__aprintf("{\"kind\": \"t3\", \"url\": \"%s/\", "
	                       "\"token_env\": \"%s\", \"project_id\": "
	                       "\"proj-1\", \"model\": \"gpt-5-codex\"%s%s}",
	                       S.base, TOKEN_ENV, extra[0] ? ", " : "", extra);

	ck_assert_ptr_nonnull(j);
	return j;
}

static afk_config *t3_config(const char *extra)
{
	afk_config *cfg = NULL;
	char *j = agent_json(extra);

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_msg(afk_config_set(cfg, "agent", j) == 0, "%s",
	              afk_config_errmsg(cfg));
	free(j);
	return cfg;
}

static afk_agent *t3_agent(const char *extra)
{
	afk_config *cfg = t3_config(extra);
	afk_agent *a = NULL;

	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_msg(afk_agent_set_builtin(a, cfg) == 0, "%s",
	              afk_agent_errmsg(a));
	afk_config_free(cfg);
	return a;
}

/* Calls the agent's dispatch as the poll tick does; the call is the
 * caller's to afk__call_clear(). */
static int dispatch(afk_call *call, const char *repo, long number,
                    const char *prompt)
{
	afk__call_init(call, AFK__CALL_DISPATCH, NULL);
	return A->dispatch(call, repo, number, prompt, A->userdata);
}

static int snapshot(afk_call *call, const char *thread_id)
{
	afk__call_init(call, AFK__CALL_SNAPSHOT, NULL);
	return A->snapshot(call, thread_id, A->userdata);
}

static json_t *ok_dispatch(void)
{
	return json_pack("{s:{s:i}}", "json", "sequence", 7);
}

/* --- dispatch -------------------------------------------------------- */

START_TEST(test_dispatch_sends_create_then_turn)
{
	const char *prompt = "Fix issue #12: the \"build\" fails.\nAFK-PHASE";
	char *want = afk__t3_thread_id("acme/api", 12);
	json_t *log, *b0, *b1;
	afk_call call;

	t3_script(json_pack("{s:{s:o}}", "routes", DISPATCH,
	                         ok_dispatch()));
	A = t3_agent("");
	ck_assert_int_eq(dispatch(&call, "acme/api", 12, prompt), 0);
	ck_assert_str_eq(call.thread_id, want);
	ck_assert_int_eq(strncmp(want, "afk-acme-api-12-", 16), 0);
	ck_assert_uint_eq(strlen(want), 16 + 8);
	log = t3_log();
	/* the probe: no such thread (the server's 404), so a fresh run */
	ck_assert_uint_eq(json_array_size(log), 3);
	ck_assert_str_eq(log_str(log, 0, "method"), "GET");
	ck_assert_int_eq(strncmp(log_str(log, 0, "path"), THREADS,
	                         strlen(THREADS)), 0);
	ck_assert_str_eq(log_str(log, 0, "path") + strlen(THREADS), want);
	ck_assert_str_eq(log_str(log, 1, "method"), "POST");
	ck_assert_str_eq(log_str(log, 1, "path"), DISPATCH);
	ck_assert_str_eq(log_str(log, 2, "path"), DISPATCH);
	ck_assert_str_eq(log_header(log, 0, "authorization"), "Bearer " TOKEN);
	ck_assert_str_eq(log_header(log, 1, "authorization"), "Bearer " TOKEN);
	ck_assert_str_eq(log_header(log, 2, "authorization"), "Bearer " TOKEN);
	assert_contains(log_header(log, 1, "content-type"), "application/json");
	b0 = log_body(log, 1);
	b1 = log_body(log, 2);
	ck_assert_str_eq(json_string_value(json_object_get(b0, "type")),
	                 "thread.create");
	ck_assert_str_eq(json_string_value(json_object_get(b0, "threadId")),
	                 want);
	ck_assert_str_eq(json_string_value(json_object_get(b0, "projectId")),
	                 "proj-1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	                 b0, "modelSelection"), "model")), "gpt-5-codex");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	                 b0, "modelSelection"), "instanceId")), "codex");
	ck_assert_str_eq(json_string_value(json_object_get(b0, "runtimeMode")),
	                 "full-access");
	ck_assert(json_is_null(json_object_get(b0, "branch")));
	ck_assert(json_is_null(json_object_get(b0, "worktreePath")));
	ck_assert(json_is_string(json_object_get(b0, "createdAt")));
	ck_assert_str_eq(json_string_value(json_object_get(b1, "type")),
	                 "thread.turn.start");
	ck_assert_str_eq(json_string_value(json_object_get(b1, "threadId")),
	                 want);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	                 b1, "message"), "text")), prompt);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	                 b1, "message"), "role")), "user");
	ck_assert(json_is_array(json_object_get(json_object_get(b1, "message"),
	                                        "attachments")));
	ck_assert_str_ne(json_string_value(json_object_get(b0, "commandId")),
	                 json_string_value(json_object_get(b1, "commandId")));
	json_decref(b0);
	json_decref(b1);
	json_decref(log);
	afk__call_clear(&call);
	free(want);
}
END_TEST

START_TEST(test_thread_id_is_deterministic)
{
	char *a = afk__t3_thread_id("acme/api", 12);
	char *b = afk__t3_thread_id("acme/api", 12);
	char *c = afk__t3_thread_id("acme/api", 13);
	char *d = afk__t3_thread_id("acme-api", 12);

	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_str_ne(a, d); /* the hash tells '/' from '-' */
	free(a);
	free(b);
	free(c);
	free(d);
}
END_TEST

START_TEST(test_prompt_over_max_refused_before_sending)
{
	json_t *log;
	afk_call call;
	int rc;

	t3_script(json_pack("{s:{s:o}}", "routes", DISPATCH,
	                         ok_dispatch()));
	A = t3_agent("\"max_prompt\": 10");
	rc = dispatch(&call, "acme/api", 12, "01234567890");
	ck_assert_int_eq(rc, AFK_EINVAL);
	assert_contains(call.message, "max_prompt");
	assert_contains(call.message, "not truncated");
	ck_assert_ptr_null(call.thread_id);
	afk__call_clear(&call);
	afk__call_init(&call, AFK__CALL_SEND_TURN, NULL);
	rc = A->send_turn(&call, "t1", "01234567890", A->userdata);
	ck_assert_int_eq(rc, AFK_EINVAL);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 0);
	json_decref(log);
	/* exactly max_prompt bytes is sent */
	ck_assert_int_eq(dispatch(&call, "acme/api", 12, "0123456789"), 0);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 3); /* probe, create, turn */
	json_decref(log);
}
END_TEST

START_TEST(test_turn_start_500_fails_the_dispatch)
{
	afk_call call;
	json_t *log;
	int rc;

	t3_script(json_pack("{s:{s:[o, {s:i, s:{s:s, s:s}}]}}", "routes",
	                         DISPATCH, ok_dispatch(), "status", 500,
	                         "json", "code", "internal_error", "reason",
	                         "orchestration_dispatch_failed"));
	A = t3_agent("");
	rc = dispatch(&call, "acme/api", 12, "do it");
	ck_assert_int_eq(rc, AFK_EIO);
	ck_assert_ptr_null(call.thread_id);
	assert_contains(call.message, "thread.turn.start");
	assert_contains(call.message, "500");
	afk__call_clear(&call);
	log = t3_log();
	/* the probe, then two POSTs: a POST is not retried */
	ck_assert_uint_eq(json_array_size(log), 3);
	json_decref(log);
}
END_TEST

/* Through a real poll tick: the dispatch fails, so the issue gets no
 * label and no thread. */
START_TEST(test_failed_dispatch_stamps_no_label)
{
	afk_config *cfg = fake_armed_config("acme/api", NULL);
	char *j = agent_json("");
	afk_tracker *t;
	afk_poller *p = NULL;
	afk_result *r = NULL;
	fake f;
	int rc;

	t3_script(json_pack("{s:{s:[o, {s:i, s:s}]}}", "routes",
	                         DISPATCH, ok_dispatch(), "status", 500,
	                         "body", "echo Bearer " TOKEN));
	ck_assert_int_eq(afk_config_set(cfg, "agent", j), 0);
	free(j);
	fake_init(&f);
	fake_add(&f, "acme/api", 12, 0, 1, NULL);
	t = fake_tracker(&f);
	ck_assert_int_eq(afk_agent_new(&A), 0);
	ck_assert_msg(afk_agent_set_builtin(A, cfg) == 0, "%s",
	              afk_agent_errmsg(A));
	ck_assert_int_eq(afk_poller_new(&p, t, A), 0);
	rc = afk_poller_run_once(p, cfg, &r);
	ck_assert_int_ne(rc, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(afk_result_dispatched_count(r), 0);
	ck_assert_int_eq(fake_count(&f, 'A'), 0);
	assert_contains(afk_poller_errmsg(p), "thread.turn.start");
	assert_no_token(afk_poller_errmsg(p));
	afk_result_free(r);
	afk_poller_free(p);
	afk_tracker_free(t);
	fake_clear(&f);
	afk_config_free(cfg);
}
END_TEST

/* The answer of a thread route: a detail with those latestTurn, session
 * and messages (new references, taken). */
static json_t *thread_answer(const char *id, json_t *turn, json_t *session,
                             json_t *messages)
{
	return json_pack("{s:{s:i, s:{s:s, s:o, s:o, s:[], s:o}}}", "json",
	                 "snapshotSequence", 3, "thread", "id", id,
	                 "latestTurn", turn, "messages", messages,
	                 "activities", "session", session);
}

static json_t *turn_in(const char *state)
{
	return json_pack("{s:s, s:s}", "turnId", "turn-1", "state", state);
}

/* The number of requests of log whose body has that "type". */
static size_t count_type(json_t *log, const char *type)
{
	size_t i, n = 0;
	json_t *b;

	for (i = 0; i < json_array_size(log); i++) {
		if (strcmp(log_str(log, i, "method"), "POST") != 0)
			continue;
		b = log_body(log, i);
		if (strcmp(json_string_value(json_object_get(b, "type")),
		           type) == 0)
			n++;
		json_decref(b);
	}
	return n;
}

/* A dispatch that stopped between its commands: the thread exists with
 * no turn, so the next dispatch starts the turn on it - no create. */
START_TEST(test_dispatch_resumes_an_empty_thread)
{
	char *id = afk__t3_thread_id("acme/api", 12);
	char *path = afk__aprintf(THREADS "%s", id);
	json_t *log, *b;
	afk_call call;
	int rc;

	t3_script(json_pack("{s:{s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, thread_answer(id,
	                         json_null(), json_null(), json_array())));
	A = t3_agent("");
	rc = dispatch(&call, "acme/api", 12, "go");
	ck_assert_msg(rc == 0, "%s", call.message);
	ck_assert_str_eq(call.thread_id, id);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 2);
	ck_assert_str_eq(log_str(log, 0, "method"), "GET");
	ck_assert_str_eq(log_str(log, 0, "path"), path);
	b = log_body(log, 1);
	ck_assert_str_eq(json_string_value(json_object_get(b, "type")),
	                 "thread.turn.start");
	ck_assert_str_eq(json_string_value(json_object_get(b, "threadId")), id);
	json_decref(b);
	json_decref(log);
	free(path);
	free(id);
}
END_TEST

/* The issue made ready again after a finished run: <base> is a past
 * run, so the dispatch makes <base>-2 and starts one turn on it; after
 * that one is over too, <base>-3. */
START_TEST(test_redispatch_takes_the_next_id)
{
	char *id = afk__t3_thread_id("acme/api", 12);
	char *id2 = afk__aprintf("%s-2", id), *id3 = afk__aprintf("%s-3", id);
	char *path = afk__aprintf(THREADS "%s", id);
	char *path2 = afk__aprintf(THREADS "%s", id2);
	char *path3 = afk__aprintf(THREADS "%s", id3);
	json_t *log, *b;
	afk_call call;
	int rc;

	t3_script(json_pack("{s:{s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, thread_answer(id,
	                         turn_in("completed"), json_null(),
	                         json_pack("[{s:s, s:s}]", "role", "user",
	                                   "text", "go"))));
	A = t3_agent("");
	rc = dispatch(&call, "acme/api", 12, "go again");
	ck_assert_msg(rc == 0, "%s", call.message);
	ck_assert_str_eq(call.thread_id, id2);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 4);
	ck_assert_str_eq(log_str(log, 0, "path"), path);
	ck_assert_str_eq(log_str(log, 1, "path"), path2);
	ck_assert_uint_eq(count_type(log, "thread.create"), 1);
	ck_assert_uint_eq(count_type(log, "thread.turn.start"), 1);
	b = log_body(log, 2);
	ck_assert_str_eq(json_string_value(json_object_get(b, "type")),
	                 "thread.create");
	ck_assert_str_eq(json_string_value(json_object_get(b, "threadId")),
	                 id2);
	json_decref(b);
	b = log_body(log, 3);
	ck_assert_str_eq(json_string_value(json_object_get(b, "threadId")),
	                 id2);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	                 b, "message"), "text")), "go again");
	json_decref(b);
	json_decref(log);

	/* <base> errored, <base>-2 interrupted: <base>-3 */
	t3_script(json_pack("{s:{s:o, s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, thread_answer(id,
	                         turn_in("error"), json_null(), json_array()),
	                         path2, thread_answer(id2,
	                         turn_in("interrupted"), json_null(),
	                         json_array())));
	rc = dispatch(&call, "acme/api", 12, "third");
	ck_assert_msg(rc == 0, "%s", call.message);
	ck_assert_str_eq(call.thread_id, id3);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 4 + 5);
	ck_assert_str_eq(log_str(log, 6, "path"), path3);
	b = log_body(log, 7);
	ck_assert_str_eq(json_string_value(json_object_get(b, "threadId")),
	                 id3);
	json_decref(b);
	json_decref(log);
	free(path3);
	free(path2);
	free(path);
	free(id3);
	free(id2);
	free(id);
}
END_TEST

/* A tick that stopped after the turn started, before the label: the
 * next dispatch finds the turn live and adopts the thread, sending no
 * command - running, waiting on an approval, or asked for and not yet
 * begun. */
START_TEST(test_dispatch_adopts_a_live_turn)
{
	char *id = afk__t3_thread_id("acme/api", 12);
	char *id2 = afk__aprintf("%s-2", id);
	char *path = afk__aprintf(THREADS "%s", id);
	char *path2 = afk__aprintf(THREADS "%s", id2);
	afk_call call;
	json_t *log;
	int rc;

	t3_script(json_pack("{s:{s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, thread_answer(id,
	                         turn_in("running"), json_pack("{s:s}",
	                         "status", "running"), json_array())));
	A = t3_agent("");
	rc = dispatch(&call, "acme/api", 12, "go");
	ck_assert_msg(rc == 0, "%s", call.message);
	ck_assert_str_eq(call.thread_id, id);
	ck_assert_ptr_null(call.message);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 1);
	ck_assert_str_eq(log_str(log, 0, "method"), "GET");
	json_decref(log);

	/* the turn asked for, not begun: a message and no latestTurn */
	t3_script(json_pack("{s:{s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, thread_answer(id,
	                         json_null(), json_null(),
	                         json_pack("[{s:s, s:s}]", "role", "user",
	                                   "text", "go"))));
	ck_assert_int_eq(dispatch(&call, "acme/api", 12, "go"), 0);
	ck_assert_str_eq(call.thread_id, id);
	afk__call_clear(&call);

	/* a later generation live: <base> completed, <base>-2 waiting */
	t3_script(json_pack("{s:{s:o, s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, thread_answer(id,
	                         turn_in("completed"), json_null(),
	                         json_array()), path2, json_pack("{s:{s:{s:s, "
	                         "s:o, s:[], s:[{s:s, s:{s:s}}], s:n}}}",
	                         "json", "thread", "id", id2, "latestTurn",
	                         turn_in("running"), "messages", "activities",
	                         "kind", "approval.requested", "payload",
	                         "requestId", "r1", "session")));
	ck_assert_int_eq(dispatch(&call, "acme/api", 12, "go"), 0);
	ck_assert_str_eq(call.thread_id, id2);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 1 + 1 + 2);
	ck_assert_uint_eq(count_type(log, "thread.create"), 0);
	ck_assert_uint_eq(count_type(log, "thread.turn.start"), 0);
	json_decref(log);
	free(path2);
	free(path);
	free(id2);
	free(id);
}
END_TEST

/* A thread whose turn runs and waits on an approval. */
static json_t *waiting_answer(const char *id)
{
	return json_pack("{s:{s:{s:s, s:o, s:[], s:[{s:s, s:{s:s}}], s:n}}}",
	                 "json", "thread", "id", id, "latestTurn",
	                 turn_in("running"), "messages", "activities",
	                 "kind", "approval.requested", "payload",
	                 "requestId", "r1", "session");
}

/* The dispatch of a later generation never looks at the threads of the
 * ones before: <base> still waits on the approval its run was escalated
 * for, and generation 2 creates <base>-2 instead of adopting it.  A
 * thread of the generation asked for that holds a past run is passed
 * over, and the generation started is reported. */
START_TEST(test_dispatch_starts_at_its_generation)
{
	char *id = afk__t3_thread_id("acme/api", 12);
	char *id2 = afk__aprintf("%s-2", id);
	char *id3 = afk__aprintf("%s-3", id);
	char *path = afk__aprintf(THREADS "%s", id);
	char *path2 = afk__aprintf(THREADS "%s", id2);
	afk_call call;
	json_t *log;
	int rc;

	t3_script(json_pack("{s:{s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, waiting_answer(id)));
	A = t3_agent("");
	afk__call_init(&call, AFK__CALL_DISPATCH, NULL);
	call.generation = 2;
	rc = A->dispatch(&call, "acme/api", 12, "go", A->userdata);
	ck_assert_msg(rc == 0, "%s", call.message);
	ck_assert_str_eq(call.thread_id, id2);
	ck_assert_int_eq(call.generation, 2);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 3);
	ck_assert_str_eq(log_str(log, 0, "path"), path2); /* never <base> */
	ck_assert_uint_eq(count_type(log, "thread.create"), 1);
	ck_assert_uint_eq(count_type(log, "thread.turn.start"), 1);
	json_decref(log);

	/* <base>-2 a past run: <base>-3, reported as generation 3 */
	t3_script(json_pack("{s:{s:o, s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, waiting_answer(id), path2,
	                         thread_answer(id2, turn_in("completed"),
	                         json_null(), json_array())));
	afk__call_init(&call, AFK__CALL_DISPATCH, NULL);
	call.generation = 2;
	rc = A->dispatch(&call, "acme/api", 12, "go", A->userdata);
	ck_assert_msg(rc == 0, "%s", call.message);
	ck_assert_str_eq(call.thread_id, id3);
	ck_assert_int_eq(call.generation, 3);
	afk__call_clear(&call);
	free(path2);
	free(path);
	free(id3);
	free(id2);
	free(id);
}
END_TEST

/* Issue 10 through the poll tick: the issue's record says its run (on
 * <base>, still waiting on an approval) was handed to a human, and a
 * trusted user made it ready again.  The poll dispatches generation 2
 * to a fresh thread, <base>-2, and records it. */
START_TEST(test_poll_after_escalation_creates_the_next_thread)
{
	char *id = afk__t3_thread_id("acme/api", 12);
	char *id2 = afk__aprintf("%s-2", id);
	char *path = afk__aprintf(THREADS "%s", id);
	char *path2 = afk__aprintf(THREADS "%s", id2);
	char *rec = afk__aprintf("<!-- afk-run: {\"thread\":\"%s\","
	                         "\"status\":2,\"reason\":3} -->\n", id);
	afk_tracker *t;
	afk_poller *p;
	afk_result *r = NULL;
	afk_config *cfg;
	json_t *log;
	fake f;

	fake_init(&f);
	t = fake_tracker(&f);
	fake_add(&f, "acme/api", 12, 0, 1, NULL);
	f.comment[0] = rec;
	t3_script(json_pack("{s:{s:o, s:o}}", "routes", DISPATCH,
	                         ok_dispatch(), path, waiting_answer(id)));
	A = t3_agent("");
	cfg = fake_armed_config("acme/api", NULL);
	ck_assert_int_eq(afk_poller_new(&p, t, A), 0);
	ck_assert_msg(afk_poller_run_once(p, cfg, &r) == 0, "%s",
	              afk_poller_errmsg(p));
	ck_assert_uint_eq(afk_result_dispatched_count(r), 1);
	ck_assert_str_eq(afk_result_dispatched_thread(r, 0), id2);
	log = t3_log();
	ck_assert_str_eq(log_str(log, 0, "path"), path2);
	ck_assert_uint_eq(count_type(log, "thread.create"), 1);
	ck_assert_uint_eq(count_type(log, "thread.turn.start"), 1);
	json_decref(log);
	assert_contains(f.comment[0], id2);
	assert_contains(f.comment[0], "\"generation\":2");
	ck_assert(afk_issue_has_label(f.issues[0], "agent-in-progress"));
	afk_result_free(r);
	afk_poller_free(p);
	afk_config_free(cfg);
	afk_tracker_free(t);
	fake_clear(&f);
	free(path2);
	free(path);
	free(id2);
	free(id);
}
END_TEST

/* Every generation a past run, or a turn state not known: refused with
 * no command sent. */
START_TEST(test_dispatch_refused_without_a_usable_id)
{
	afk_call call;
	json_t *log;
	int rc;

	t3_script(json_pack("{s:o, s:{}}", "default", thread_answer("x",
	                         turn_in("completed"), json_null(),
	                         json_array()), "routes"));
	A = t3_agent("");
	rc = dispatch(&call, "acme/api", 12, "go");
	ck_assert_int_ne(rc, 0);
	ck_assert_ptr_null(call.thread_id);
	assert_contains(call.message, "-100");
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 100);
	ck_assert_uint_eq(count_type(log, "thread.create"), 0);
	json_decref(log);

	t3_script(json_pack("{s:o, s:{}}", "default", thread_answer("x",
	                         turn_in("sideways"), json_null(),
	                         json_array()), "routes"));
	rc = dispatch(&call, "acme/api", 12, "go");
	ck_assert_int_eq(rc, AFK_EPARSE);
	ck_assert_ptr_null(call.thread_id);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 101);
	json_decref(log);
}
END_TEST

/* --- snapshot -------------------------------------------------------- */

/* A thread detail: ' for ", the rest of the members given. */
static const struct {
	const char *name;
	const char *thread;  /* members of "thread" */
	int state;
	int phase;           /* -1: not reported (DISPATCHED stays) */
} snaps[] = {
	{"running", "'latestTurn': {'turnId': 't1', 'state': 'running'}, "
	 "'session': {'status': 'running', 'lastError': null}, "
	 "'messages': [], 'activities': []",
	 AFK_AGENT_RUNNING, -1},
	{"no turn yet", "'latestTurn': null, 'session': null, "
	 "'messages': [], 'activities': []",
	 AFK_AGENT_RUNNING, -1},
	{"completed", "'latestTurn': {'turnId': 't1', 'state': 'completed'}, "
	 "'session': {'status': 'ready', 'lastError': null}, "
	 "'messages': [{'role': 'assistant', 'text': 'AFK-PHASE: tests-red\\n"
	 "work\\nAFK-PHASE: green'}, {'role': 'assistant', 'text': "
	 "'done. AFK-PHASE: pushed'}], 'activities': []",
	 AFK_AGENT_COMPLETED, AFK_PHASE_PUSHED},
	{"interrupted", "'latestTurn': {'turnId': 't1', 'state': "
	 "'interrupted'}, 'session': {'status': 'interrupted'}, "
	 "'messages': [{'role': 'assistant', 'text': 'AFK-PHASE: tests-red'}],"
	 " 'activities': []",
	 AFK_AGENT_INTERRUPTED, AFK_PHASE_TESTS_RED},
	{"turn error", "'latestTurn': {'turnId': 't1', 'state': 'error'}, "
	 "'session': {'status': 'ready'}, 'messages': [], 'activities': []",
	 AFK_AGENT_ERRORED, -1},
	{"session error", "'latestTurn': {'turnId': 't1', 'state': "
	 "'running'}, 'session': {'status': 'error', 'lastError': 'boom'}, "
	 "'messages': [], 'activities': []",
	 AFK_AGENT_ERRORED, -1},
	{"stopped", "'latestTurn': null, 'session': {'status': 'stopped'}, "
	 "'messages': [], 'activities': []",
	 AFK_AGENT_STOPPED, -1},
	{"pending approval", "'latestTurn': {'turnId': 't1', 'state': "
	 "'running'}, 'session': {'status': 'running'}, 'messages': "
	 "[{'role': 'assistant', 'text': 'AFK-PHASE: green'}], 'activities': "
	 "[{'kind': 'approval.requested', 'payload': {'requestId': 'r1'}}, "
	 "{'kind': 'approval.requested', 'payload': {'requestId': 'r2'}}, "
	 "{'kind': 'approval.resolved', 'payload': {'requestId': 'r1'}}]",
	 AFK_AGENT_WAITING_APPROVAL, AFK_PHASE_GREEN},
	{"approval resolved", "'latestTurn': {'turnId': 't1', 'state': "
	 "'running'}, 'session': {'status': 'running'}, 'messages': [], "
	 "'activities': [{'kind': 'approval.requested', 'payload': "
	 "{'requestId': 'r1'}}, {'kind': 'approval.resolved', 'payload': "
	 "{'requestId': 'r1'}}]",
	 AFK_AGENT_RUNNING, -1},
	{"pending user input", "'latestTurn': {'turnId': 't1', 'state': "
	 "'running'}, 'session': {'status': 'running'}, 'messages': [], "
	 "'activities': [{'kind': 'user-input.requested', 'payload': "
	 "{'requestId': 'q1'}}]",
	 AFK_AGENT_WAITING_INPUT, -1},
	{"stale request of a completed turn", "'latestTurn': {'turnId': 't1',"
	 " 'state': 'completed'}, 'session': {'status': 'ready'}, "
	 "'messages': [], 'activities': [{'kind': 'user-input.requested', "
	 "'payload': {'requestId': 'q1'}}]",
	 AFK_AGENT_COMPLETED, -1},
	{"user's phase does not count", "'latestTurn': {'turnId': 't1', "
	 "'state': 'running'}, 'session': null, 'messages': [{'role': "
	 "'user', 'text': 'AFK-PHASE: pushed'}, {'role': 'assistant', "
	 "'text': 'AFK-PHASE: tests-red AFK-PHASE: bogus'}], 'activities': []",
	 AFK_AGENT_RUNNING, AFK_PHASE_TESTS_RED},
};

/* text with ' made " and the server's route for thread t1 around it. */
static json_t *thread_script(const char *members)
{
	char *text = afk__aprintf("{\"routes\": {\"" THREADS "t1\": {\"json\":"
	                          " {\"snapshotSequence\": 9, \"thread\": "
	                          "{\"id\": \"t1\", %s}}}}}", members), *p;
	json_t *j;

	ck_assert_ptr_nonnull(text);
	for (p = text; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(text, 0, NULL);
	ck_assert_msg(j != NULL, "bad script %s", text);
	free(text);
	return j;
}

START_TEST(test_snapshot_maps_states_and_phases)
{
	afk_call call;
	json_t *log;
	int rc;

	t3_script(thread_script(snaps[_i].thread));
	A = t3_agent("");
	rc = snapshot(&call, "t1");
	ck_assert_msg(rc == 0, "%s: %s", snaps[_i].name,
	              call.message ? call.message : "");
	ck_assert_msg(call.agent_state == snaps[_i].state, "%s: state %d, "
	              "expected %d", snaps[_i].name, call.agent_state,
	              snaps[_i].state);
	ck_assert_msg(call.phase == (snaps[_i].phase < 0 ? AFK_PHASE_DISPATCHED
	                             : snaps[_i].phase), "%s: phase %d",
	              snaps[_i].name, call.phase);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 1);
	ck_assert_str_eq(log_str(log, 0, "method"), "GET");
	ck_assert_str_eq(log_header(log, 0, "authorization"), "Bearer " TOKEN);
	json_decref(log);
}
END_TEST

/* The usage T3 Code's thread detail carries: activities of kind
 * "context-window.updated" whose payload is the runtime event's
 * ThreadTokenUsageSnapshot (packages/contracts/src/providerRuntime.ts,
 * pingdotgg/t3code 006fa4cad0c176f10b28a221bb8547e8d6c98746; read by
 * apps/web/src/lib/contextWindow.ts, bb45105e20641cde9b85038937a9dacd6143085c).
 * The highest of each figure counts; other kinds, bad values and an
 * absent figure count nothing. */
static const struct {
	const char *name;
	const char *activities;
	int set;
	long long in, out, cost;
} usages[] = {
	{"none", "[]", 0, -1, -1, -1},
	{"another kind only", "[{'kind': 'task.progress', 'payload': "
	 "{'inputTokens': 5, 'usage': {'inputTokens': 9}}}]", 0, -1, -1, -1},
	{"one snapshot", "[{'kind': 'context-window.updated', 'payload': "
	 "{'usedTokens': 35000, 'maxTokens': 200000, 'inputTokens': 120400, "
	 "'outputTokens': 8210, 'cost': {'currency': 'USD', 'totalCostUsd': "
	 "1.42, 'source': 'provider', 'confidence': 'exact', 'components': "
	 "[]}}}]", 1, 120400, 8210, 1420000},
	{"the highest of each", "[{'kind': 'context-window.updated', "
	 "'payload': {'usedTokens': 1, 'inputTokens': 500, 'outputTokens': 90,"
	 " 'cost': {'totalCostUsd': 0.5}}}, {'kind': 'approval.requested', "
	 "'payload': {'requestId': 'r1'}}, {'kind': 'approval.resolved', "
	 "'payload': {'requestId': 'r1'}}, {'kind': 'context-window.updated', "
	 "'payload': {'usedTokens': 2, 'inputTokens': 400, 'outputTokens': 100,"
	 " 'cost': {'totalCostUsd': 0.25}}}]", 1, 500, 100, 500000},
	{"tokens without a cost", "[{'kind': 'context-window.updated', "
	 "'payload': {'usedTokens': 10, 'inputTokens': 7}}]", 1, 7, -1, -1},
	{"bad values count nothing", "[{'kind': 'context-window.updated', "
	 "'payload': {'usedTokens': 10, 'inputTokens': -7, 'outputTokens': "
	 "'lots', 'cost': {'totalCostUsd': null}}}, {'kind': "
	 "'context-window.updated', 'payload': 'x'}, {'kind': "
	 "'context-window.updated'}]", 0, -1, -1, -1},
	{"huge figures are capped", "[{'kind': 'context-window.updated', "
	 "'payload': {'usedTokens': 1, 'inputTokens': 1e300, 'cost': "
	 "{'totalCostUsd': 1e300}}}]", 1, 1000000000000000LL, -1,
	 1000000000000000LL},
};

START_TEST(test_snapshot_reports_usage)
{
	char members[2048];
	afk_call call;

	snprintf(members, sizeof(members), "'latestTurn': {'turnId': 't1', "
	         "'state': 'running'}, 'session': {'status': 'running'}, "
	         "'messages': [], 'activities': %s", usages[_i].activities);
	t3_script(thread_script(members));
	A = t3_agent("");
	ck_assert_msg(snapshot(&call, "t1") == 0, "%s: %s", usages[_i].name,
	              call.message ? call.message : "");
	ck_assert_int_eq(call.agent_state, AFK_AGENT_RUNNING);
	ck_assert_msg(call.usage_set == usages[_i].set &&
	              (!call.usage_set ||
	               (call.tokens_in == usages[_i].in &&
	                call.tokens_out == usages[_i].out &&
	                call.cost_microusd == usages[_i].cost)),
	              "%s: set %d, %lld %lld %lld", usages[_i].name,
	              call.usage_set, call.tokens_in, call.tokens_out,
	              call.cost_microusd);
	afk__call_clear(&call);
}
END_TEST

/* Found by fuzz/t3.c: jansson quotes the bytes it stopped at, and T3's
 * raw control characters reached the message.  The reason stays. */
START_TEST(test_snapshot_invalid_json_message_one_line)
{
	afk_call call;
	const char *m;

	t3_script(json_pack("{s:{s:{s:s}}}", "routes", THREADS "t1",
	                         "body", "{\"thread\": \x17\x1b[2J\x07}"));
	A = t3_agent("");
	ck_assert_int_eq(snapshot(&call, "t1"), AFK_EPARSE);
	assert_contains(call.message, "T3 thread snapshot: invalid JSON: ");
	for (m = call.message; *m != '\0'; m++)
		ck_assert_msg((unsigned char)*m >= 0x20 && *m != 0x7f,
		              "a control character in: %s", call.message);
	afk__call_clear(&call);
}
END_TEST

START_TEST(test_snapshot_malformed_and_missing)
{
	afk_call call;

	t3_script(json_pack("{s:{s:{s:s}}}", "routes", THREADS "t1",
	                         "body", "{not json"));
	A = t3_agent("");
	ck_assert_int_eq(snapshot(&call, "t1"), AFK_EPARSE);
	assert_contains(call.message, "T3 thread snapshot");
	afk__call_clear(&call);
	t3_script(thread_script("'latestTurn': {'state': 'sideways'}, "
	                             "'messages': [], 'activities': []"));
	ck_assert_int_eq(snapshot(&call, "t1"), AFK_EPARSE);
	afk__call_clear(&call);
	t3_script(json_pack("{s:{s:{s:i, s:{s:s, s:s}}}}", "routes",
	                         THREADS "t2", "status", 404, "json", "code",
	                         "not_found", "reason", "thread_not_found"));
	/* a thread the server does not know is gone, not a failure: the
	 * watch tick escalates it at once instead of at the stall deadline */
	ck_assert_int_eq(snapshot(&call, "t2"), AFK_OK);
	ck_assert_int_eq(call.agent_state, AFK_AGENT_GONE);
	ck_assert_ptr_null(call.message);
	afk__call_clear(&call);
}
END_TEST

/* A server that answers 404 for everything (a URL moved, a wrong path)
 * has no descriptor: the snapshot fails, and the run is not taken for
 * gone - which would hand every run in flight to a human at once. */
START_TEST(test_snapshot_needs_the_descriptor)
{
	afk_call call;

	srv_script_json(&S, json_pack("{s:{s:i, s:s}}", "default", "status",
	                              404, "body", "{\"message\": \"no route\"}"));
	A = t3_agent("");
	ck_assert_int_ne(snapshot(&call, "t1"), AFK_OK);
	ck_assert_int_ne(call.agent_state, AFK_AGENT_GONE);
	assert_contains(call.message, "T3 environment");
	afk__call_clear(&call);
	/* and of another protocol: the thread is not read */
	t3_script(json_pack("{s:{s:o}}", "routes", ENVIRONMENT,
	                    env_answer(2)));
	ck_assert_int_eq(snapshot(&call, "t1"), AFK_EIO);
	assert_contains(call.message, "protocol 2");
	afk__call_clear(&call);
}
END_TEST

/* --- send_turn ------------------------------------------------------- */

START_TEST(test_send_turn_starts_a_turn)
{
	afk_call call;
	json_t *log, *b;

	t3_script(json_pack("{s:{s:o}}", "routes", DISPATCH,
	                         ok_dispatch()));
	A = t3_agent("");
	afk__call_init(&call, AFK__CALL_SEND_TURN, NULL);
	ck_assert_int_eq(A->send_turn(&call, "afk-acme-api-12-0badf00d",
	                              "CI failed: build", A->userdata), 0);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 1);
	ck_assert_str_eq(log_str(log, 0, "path"), DISPATCH);
	b = log_body(log, 0);
	ck_assert_str_eq(json_string_value(json_object_get(b, "type")),
	                 "thread.turn.start");
	ck_assert_str_eq(json_string_value(json_object_get(b, "threadId")),
	                 "afk-acme-api-12-0badf00d");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	                 b, "message"), "text")), "CI failed: build");
	json_decref(b);
	json_decref(log);
}
END_TEST

/* --- stop ------------------------------------------------------------ */

static int stop(afk_call *call, const char *thread_id)
{
	afk__call_init(call, AFK__CALL_STOP, NULL);
	return A->stop(call, "acme/api", 12, thread_id, A->userdata);
}

START_TEST(test_stop_interrupts_then_stops_the_session)
{
	afk_call call;
	json_t *log, *b;

	t3_script(json_pack("{s:{s:o}}", "routes", DISPATCH, ok_dispatch()));
	A = t3_agent("");
	ck_assert_int_eq(stop(&call, "afk-acme-api-12-0badf00d"), 0);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 2);
	b = log_body(log, 0);
	ck_assert_str_eq(json_string_value(json_object_get(b, "type")),
	                 "thread.turn.interrupt");
	ck_assert_str_eq(json_string_value(json_object_get(b, "threadId")),
	                 "afk-acme-api-12-0badf00d");
	json_decref(b);
	b = log_body(log, 1);
	ck_assert_str_eq(json_string_value(json_object_get(b, "type")),
	                 "thread.session.stop");
	ck_assert_ptr_nonnull(json_object_get(b, "commandId"));
	ck_assert_ptr_nonnull(json_object_get(b, "createdAt"));
	json_decref(b);
	json_decref(log);
}
END_TEST

/* No turn to interrupt: the session is stopped all the same. */
START_TEST(test_stop_without_a_turn_stops_the_session)
{
	afk_call call;
	json_t *log;

	t3_script(json_pack("{s:{s:[{s:i, s:{s:s}}, o]}}", "routes", DISPATCH,
	                    "status", 400, "json", "error", "no active turn",
	                    ok_dispatch()));
	A = t3_agent("");
	ck_assert_int_eq(stop(&call, "afk-acme-api-12-0badf00d"), 0);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(count_type(log, "thread.session.stop"), 1);
	json_decref(log);
}
END_TEST

/* A thread the server does not know is stopped already. */
START_TEST(test_stop_of_a_gone_thread_succeeds)
{
	afk_call call;
	json_t *log;

	t3_script(json_pack("{s:{s:{s:i}}}", "routes", DISPATCH, "status", 404));
	A = t3_agent("");
	ck_assert_int_eq(stop(&call, "afk-acme-api-12-0badf00d"), 0);
	afk__call_clear(&call);
	log = t3_log();
	ck_assert_uint_eq(json_array_size(log), 1);
	json_decref(log);
}
END_TEST

/* A server failure is the stop's: the watch asks again next tick. */
START_TEST(test_stop_server_error_fails)
{
	afk_call call;

	t3_script(json_pack("{s:{s:{s:i}}}", "routes", DISPATCH, "status", 500));
	A = t3_agent("");
	ck_assert_int_lt(stop(&call, "afk-acme-api-12-0badf00d"), 0);
	ck_assert_ptr_nonnull(call.message);
	assert_contains(call.message, "thread.turn.interrupt");
	assert_no_token(call.message);
	afk__call_clear(&call);
}
END_TEST

/* --- the token ------------------------------------------------------- */

START_TEST(test_token_never_in_a_message)
{
	static const int statuses[] = {401, 403, 500, 502};
	afk_call call;
	json_t *answer;
	size_t i;

	A = t3_agent("");
	for (i = 0; i < sizeof(statuses) / sizeof(*statuses); i++) {
		answer = json_pack("{s:i, s:s, s:[[s, s], [s, s]]}", "status",
		                   statuses[i], "body", "bad token " TOKEN
		                   " (Authorization: Bearer " TOKEN ")",
		                   "headers", "X-Echo", TOKEN, "WWW-Authenticate",
		                   "Bearer " TOKEN);
		t3_script(json_pack("{s:O, s:o}", "default", answer,
		                         "routes", json_object()));
		json_decref(answer);
		ck_assert_int_ne(dispatch(&call, "acme/api", 12, "go"), 0);
		ck_assert_ptr_nonnull(call.message);
		assert_no_token(call.message);
		afk__call_clear(&call);
		ck_assert_int_ne(snapshot(&call, "t1"), 0);
		ck_assert_ptr_nonnull(call.message);
		assert_no_token(call.message);
		afk__call_clear(&call);
		afk__call_init(&call, AFK__CALL_SEND_TURN, NULL);
		ck_assert_int_ne(A->send_turn(&call, "t1", "x", A->userdata), 0);
		assert_no_token(call.message);
		afk__call_clear(&call);
	}
}
END_TEST

/* --- the probe ------------------------------------------------------ */

/* T3 Code's answer to GET /api/auth/session for a token with scopes (a
 * JSON array in ' for " text; NULL: a server that lists none). */
static json_t *session_answer(const char *scopes)
{
	json_t *a = json_pack("{s:b, s:{s:s, s:[], s:[s], s:s}, s:s}",
	                      "authenticated", 1, "auth", "policy",
	                      "remote-reachable", "bootstrapMethods",
	                      "sessionMethods", "bearer-access-token",
	                      "sessionCookieName", "t3_session",
	                      "sessionMethod", "bearer-access-token");
	char *j, *q;

	if (scopes != NULL) {
		j = afk__strdup(scopes);
		for (q = j; *q != '\0'; q++)
			if (*q == '\'')
				*q = '"';
		json_object_set_new(a, "scopes",
		                    json_loads(j, JSON_DECODE_ANY, NULL));
		free(j);
	}
	return json_pack("{s:o}", "json", a);
}

#define ALL_SCOPES "['orchestration:read', 'orchestration:operate', " \
                   "'terminal:operate']"

/* T3 Code's answer to GET /api/orchestration/shell with those projects
 * (a new reference, taken). */
static json_t *shell_answer(json_t *projects)
{
	return json_pack("{s:{s:i, s:o, s:[], s:s}}", "json",
	                 "snapshotSequence", 9, "projects", projects,
	                 "threads", "updatedAt", "2026-01-02T03:04:05.000Z");
}

static json_t *project(const char *id)
{
	return json_pack("{s:s, s:s, s:s, s:n, s:[]}", "id", id, "title", id,
	                 "workspaceRoot", "/src", "defaultModelSelection",
	                 "scripts");
}

/* Scripts a server of protocol (0: the field absent) whose session has
 * scopes and whose shell has projects (taken). */
static void probe_script(int protocol, const char *scopes, json_t *projects)
{
	srv_script_json(&S, json_pack("{s:{s:o, s:o, s:o}}", "routes",
	                              ENVIRONMENT, env_answer(protocol),
	                              SESSION, session_answer(scopes),
	                              SHELL, shell_answer(projects)));
}

/* The server's protocol, the token's scopes, the project: three GETs,
 * the public descriptor's without the token. */
START_TEST(test_probe_reads_protocol_scopes_project)
{
	json_t *log;
	size_t i;

	probe_script(1, ALL_SCOPES, json_pack("[o, o]", project("other"),
	                                      project("proj-1")));
	A = t3_agent("");
	ck_assert_msg(afk_agent_probe(A) == 0, "%s", afk_agent_errmsg(A));
	ck_assert_str_eq(afk_agent_errmsg(A), "");
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 3);
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(log_str(log, i, "method"), "GET");
	ck_assert_str_eq(log_str(log, 0, "path"), ENVIRONMENT);
	ck_assert_str_eq(log_header(log, 0, "authorization"), "");
	ck_assert_str_eq(log_str(log, 1, "path"), SESSION);
	ck_assert_str_eq(log_header(log, 1, "authorization"), "Bearer " TOKEN);
	ck_assert_str_eq(log_str(log, 2, "path"), SHELL);
	ck_assert_str_eq(log_header(log, 2, "authorization"), "Bearer " TOKEN);
	json_decref(log);
}
END_TEST

/* A descriptor without orchestrationProtocolVersion is a server from
 * before it: protocol 1. */
START_TEST(test_probe_absent_protocol_is_1)
{
	probe_script(0, ALL_SCOPES, json_pack("[o]", project("proj-1")));
	A = t3_agent("");
	ck_assert_msg(afk_agent_probe(A) == 0, "%s", afk_agent_errmsg(A));
	ck_assert_uint_eq(count_req(&S, "GET", ENVIRONMENT), 1);
	ck_assert_uint_eq(count_req(&S, "GET", SHELL), 1);
}
END_TEST

START_TEST(test_probe_refuses_another_protocol)
{
	json_t *log;

	probe_script(2, ALL_SCOPES, json_pack("[o]", project("proj-1")));
	A = t3_agent("");
	ck_assert_int_eq(afk_agent_probe(A), AFK_EIO);
	assert_contains(afk_agent_errmsg(A), "agent probe: T3: the server at "
	                "http://127.0.0.1:");
	assert_contains(afk_agent_errmsg(A), " speaks orchestration protocol "
	                "2; libafk speaks 1");
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 1); /* nothing after it */
	json_decref(log);
	/* a version that is no integer is not taken for one */
	srv_script_json(&S, json_pack("{s:{s:{s:{s:s}}}}", "routes",
	                              ENVIRONMENT, "json",
	                              "orchestrationProtocolVersion", "1"));
	ck_assert_int_eq(afk_agent_probe(A), AFK_EPARSE);
	assert_contains(afk_agent_errmsg(A), "orchestrationProtocolVersion is "
	                "not an integer");
}
END_TEST

/* A token that reads but cannot write: every dispatch would be a 403
 * EnvironmentScopeRequiredError. */
START_TEST(test_probe_refuses_a_token_without_a_scope)
{
	probe_script(1, "['orchestration:read']",
	             json_pack("[o]", project("proj-1")));
	A = t3_agent("");
	ck_assert_int_eq(afk_agent_probe(A), AFK_EIO);
	assert_contains(afk_agent_errmsg(A), "T3: the token lacks the scope "
	                "orchestration:operate; every dispatch would be "
	                "refused");
	assert_no_token(afk_agent_errmsg(A));
	probe_script(1, "['orchestration:operate']",
	             json_pack("[o]", project("proj-1")));
	ck_assert_int_eq(afk_agent_probe(A), AFK_EIO);
	assert_contains(afk_agent_errmsg(A), "lacks the scope "
	                "orchestration:read");
	/* a server that lists no scopes has none to miss */
	probe_script(1, NULL, json_pack("[o]", project("proj-1")));
	ck_assert_msg(afk_agent_probe(A) == 0, "%s", afk_agent_errmsg(A));
	/* but a list that is none is not taken for all of them */
	probe_script(1, "'orchestration:read orchestration:operate'",
	             json_pack("[o]", project("proj-1")));
	ck_assert_int_eq(afk_agent_probe(A), AFK_EPARSE);
	assert_contains(afk_agent_errmsg(A), "\"scopes\" is not an array");
	/* one that does not take the token says so with a 200 */
	srv_script_json(&S, json_pack("{s:{s:o, s:{s:{s:b, s:{}}}, s:o}}",
	                              "routes", ENVIRONMENT, env_answer(1),
	                              SESSION, "json", "authenticated", 0,
	                              "auth", SHELL, shell_answer(json_pack(
	                              "[o]", project("proj-1")))));
	ck_assert_int_eq(afk_agent_probe(A), AFK_EIO);
	assert_contains(afk_agent_errmsg(A), "T3 server refused the token");
	assert_no_token(afk_agent_errmsg(A));
}
END_TEST

/* A project_id the server does not have: every thread.create would be
 * an opaque 500 orchestration_dispatch_failed. */
START_TEST(test_probe_refuses_an_unknown_project)
{
	json_t *gone;
	char want[160];

	probe_script(1, ALL_SCOPES, json_pack("[o]", project("other")));
	A = t3_agent("");
	ck_assert_int_eq(afk_agent_probe(A), AFK_ECONFIG);
	snprintf(want, sizeof(want), "agent probe: T3: project proj-1 not "
	         "found on %s", S.base);
	ck_assert_str_eq(afk_agent_errmsg(A), want);
	gone = project("proj-1");
	json_object_set_new(gone, "deletedAt",
	                    json_string("2026-01-02T03:04:05.000Z"));
	probe_script(1, ALL_SCOPES, json_pack("[o]", gone));
	ck_assert_int_eq(afk_agent_probe(A), AFK_ECONFIG);
	probe_script(1, ALL_SCOPES, json_pack("[]"));
	ck_assert_int_eq(afk_agent_probe(A), AFK_ECONFIG);
	srv_script_json(&S, json_pack("{s:{s:o, s:o, s:{s:{}}}}", "routes",
	                              ENVIRONMENT, env_answer(1), SESSION,
	                              session_answer(ALL_SCOPES), SHELL,
	                              "json"));
	ck_assert_int_eq(afk_agent_probe(A), AFK_EPARSE);
	assert_contains(afk_agent_errmsg(A), "no \"projects\" array");
}
END_TEST

START_TEST(test_probe_refused_token)
{
	static const int statuses[] = {401, 403};
	char want[16];
	json_t *answer;
	size_t i;

	A = t3_agent("");
	for (i = 0; i < sizeof(statuses) / sizeof(*statuses); i++) {
		answer = json_pack("{s:i, s:s}", "status", statuses[i], "body",
		                   "bad token " TOKEN);
		srv_script_json(&S, json_pack("{s:o, s:{s:o}}", "default",
		                         answer, "routes", ENVIRONMENT,
		                         env_answer(1)));
		ck_assert_int_eq(afk_agent_probe(A), AFK_EIO);
		snprintf(want, sizeof(want), "HTTP %d", statuses[i]);
		assert_contains(afk_agent_errmsg(A), "agent probe: T3 server "
		                "refused the token");
		assert_contains(afk_agent_errmsg(A), want);
		assert_no_token(afk_agent_errmsg(A));
	}
}
END_TEST

START_TEST(test_probe_connection_refused)
{
	A = t3_agent("");
	srv_stop(&S); /* nothing listens on its port now */
	ck_assert_int_ne(afk_agent_probe(A), 0);
	assert_contains(afk_agent_errmsg(A), "agent probe: ");
	assert_contains(afk_agent_errmsg(A), "T3 environment");
	assert_no_token(afk_agent_errmsg(A));
}
END_TEST

/* --- the protocol, before a command ---------------------------------- */

/* A server of another protocol gets no command: the dispatch and the
 * follow-up turn are refused after one read of the descriptor. */
START_TEST(test_dispatch_refuses_another_protocol)
{
	afk_call call;
	json_t *log;

	t3_script(json_pack("{s:{s:o, s:o}}", "routes", ENVIRONMENT,
	                    env_answer(2), DISPATCH, ok_dispatch()));
	A = t3_agent("");
	ck_assert_int_eq(dispatch(&call, "acme/api", 12, "go"), AFK_EIO);
	ck_assert_ptr_null(call.thread_id);
	assert_contains(call.message, "speaks orchestration protocol 2; "
	                "libafk speaks 1");
	afk__call_clear(&call);
	afk__call_init(&call, AFK__CALL_SEND_TURN, NULL);
	ck_assert_int_eq(A->send_turn(&call, "t1", "go", A->userdata),
	                 AFK_EIO);
	assert_contains(call.message, "protocol 2");
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 1);
	ck_assert_str_eq(log_str(log, 0, "path"), ENVIRONMENT);
	json_decref(log);
}
END_TEST

START_TEST(test_dispatch_absent_protocol_is_1)
{
	afk_call call;

	t3_script(json_pack("{s:{s:o, s:o}}", "routes", ENVIRONMENT,
	                    env_answer(0), DISPATCH, ok_dispatch()));
	A = t3_agent("");
	ck_assert_msg(dispatch(&call, "acme/api", 12, "go") == 0, "%s",
	              call.message);
	ck_assert_ptr_nonnull(call.thread_id);
	afk__call_clear(&call);
	ck_assert_uint_eq(count_req(&S, "GET", ENVIRONMENT), 1);
	ck_assert_uint_eq(count_req(&S, "POST", DISPATCH), 2);
}
END_TEST

/* A descriptor that could not be read refuses the command and is asked
 * again by the next one. */
START_TEST(test_dispatch_unread_descriptor_refuses)
{
	afk_call call;

	srv_script_json(&S, json_pack("{s:{s:o}}", "routes", DISPATCH,
	                              ok_dispatch()));
	A = t3_agent("");
	ck_assert_int_ne(dispatch(&call, "acme/api", 12, "go"), 0);
	assert_contains(call.message, "T3 environment");
	assert_contains(call.message, "404");
	afk__call_clear(&call);
	ck_assert_uint_eq(count_req(&S, "POST", DISPATCH), 0);
	t3_script(json_pack("{s:{s:o}}", "routes", DISPATCH, ok_dispatch()));
	ck_assert_msg(dispatch(&call, "acme/api", 12, "go") == 0, "%s",
	              call.message);
	afk__call_clear(&call);
	ck_assert_uint_eq(count_req(&S, "GET", ENVIRONMENT), 2);
}
END_TEST

/* Through real poll ticks of two dispatches each: one read of the
 * descriptor a tick, not one a dispatch - and one again the next tick,
 * so an upgraded server is seen. */
START_TEST(test_one_descriptor_read_per_tick)
{
	afk_config *cfg = fake_armed_config("acme/api", "acme/web",
	                                    "acme/cli", NULL);
	char *j = agent_json("");
	afk_tracker *t;
	afk_poller *p = NULL;
	afk_result *r = NULL;
	fake f;
	int rc;

	t3_script(json_pack("{s:{s:o}}", "routes", DISPATCH, ok_dispatch()));
	ck_assert_int_eq(afk_config_set(cfg, "agent", j), 0);
	free(j);
	fake_init(&f);
	fake_add(&f, "acme/api", 12, 0, 1, NULL);
	fake_add(&f, "acme/web", 3, 0, 1, NULL);
	t = fake_tracker(&f);
	ck_assert_int_eq(afk_agent_new(&A), 0);
	ck_assert_msg(afk_agent_set_builtin(A, cfg) == 0, "%s",
	              afk_agent_errmsg(A));
	ck_assert_int_eq(afk_poller_new(&p, t, A), 0);
	rc = afk_poller_run_once(p, cfg, &r);
	ck_assert_msg(rc == 0, "%s", afk_poller_errmsg(p));
	ck_assert_uint_eq(afk_result_dispatched_count(r), 2);
	ck_assert_uint_eq(count_req(&S, "GET", ENVIRONMENT), 1);
	afk_result_free(r);
	r = NULL;
	/* the server now speaks 2: the next tick sees it, sends nothing */
	fake_add(&f, "acme/cli", 1, 0, 1, NULL);
	srv_script_json(&S, json_pack("{s:{s:o, s:o}}", "routes", ENVIRONMENT,
	                              env_answer(2), DISPATCH, ok_dispatch()));
	rc = afk_poller_run_once(p, cfg, &r);
	ck_assert_int_ne(rc, 0);
	ck_assert_uint_eq(afk_result_dispatched_count(r), 0);
	assert_contains(afk_poller_errmsg(p), "protocol 2");
	ck_assert_uint_eq(count_req(&S, "GET", ENVIRONMENT), 2);
	ck_assert_uint_eq(count_req(&S, "POST", DISPATCH), 4);
	afk_result_free(r);
	afk_poller_free(p);
	afk_tracker_free(t);
	fake_clear(&f);
	afk_config_free(cfg);
}
END_TEST

/* --- configuration --------------------------------------------------- */

START_TEST(test_config_and_token_sources)
{
	afk_config *cfg = NULL;
	char path[] = "/tmp/afk-t3-token.XXXXXX", *j, *out = NULL;
	afk_agent *a = NULL;
	int fd;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	/* neither source, both sources, a token in the config */
	j = afk__aprintf("{\"kind\": \"t3\", \"url\": \"%s\", \"project_id\":"
	                 " \"p\", \"model\": \"m\"}", S.base);
	ck_assert_int_eq(afk_config_set(cfg, "agent", j), AFK_ECONFIG);
	assert_contains(afk_config_errmsg(cfg), "token_env");
	free(j);
	j = afk__aprintf("{\"kind\": \"t3\", \"url\": \"%s\", \"token_env\":"
	                 " \"X\", \"token_file\": \"f\", \"project_id\": "
	                 "\"p\", \"model\": \"m\"}", S.base);
	ck_assert_int_eq(afk_config_set(cfg, "agent", j), AFK_ECONFIG);
	free(j);
	j = afk__aprintf("{\"kind\": \"t3\", \"url\": \"%s\", \"token\":"
	                 " \"" TOKEN "\", \"project_id\": \"p\", \"model\": "
	                 "\"m\"}", S.base);
	ck_assert_int_eq(afk_config_set(cfg, "agent", j), AFK_ECONFIG);
	assert_no_token(afk_config_errmsg(cfg));
	free(j);
	ck_assert_int_eq(afk_config_set(cfg, "agent", "{\"kind\": \"t3\", "
	                 "\"url\": \"ftp://x\", \"token_env\": \"X\", "
	                 "\"project_id\": \"p\", \"model\": \"m\"}"),
	                 AFK_ECONFIG);
	ck_assert_int_eq(afk_config_set(cfg, "agent", "{\"kind\": \"t3\", "
	                 "\"url\": \"https://t3.example\", \"token_env\": "
	                 "\"1X\", \"project_id\": \"p\", \"model\": \"m\"}"),
	                 AFK_ECONFIG);
	/* round trip: the source is kept, never the token */
	j = agent_json("\"max_prompt\": 5000");
	ck_assert_int_eq(afk_config_set(cfg, "agent", j), 0);
	free(j);
	ck_assert_int_eq(afk_config_get(cfg, "agent", &out), 0);
	assert_contains(out, "\"token_env\":\"" TOKEN_ENV "\"");
	assert_contains(out, "\"max_prompt\":5000");
	assert_contains(out, "\"instance_id\":\"codex\"");
	assert_no_token(out);
	afk_free(out);
	/* the variable unset: refused when the agent is made */
	unsetenv(TOKEN_ENV);
	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_int_eq(afk_agent_set_builtin(a, cfg), AFK_ECONFIG);
	assert_contains(afk_agent_errmsg(a), TOKEN_ENV);
	afk_agent_free(a);
	/* from a file, its newline dropped */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, TOKEN "\n", strlen(TOKEN) + 1),
	                 (ssize_t)strlen(TOKEN) + 1);
	close(fd);
	j = afk__aprintf("{\"kind\": \"t3\", \"url\": \"%s\", \"token_file\":"
	                 " \"%s\", \"project_id\": \"p\", \"model\": \"m\"}",
	                 S.base, path);
	ck_assert_int_eq(afk_config_set(cfg, "agent", j), 0);
	free(j);
	t3_script(json_pack("{s:{s:o}}", "routes", DISPATCH,
	                         ok_dispatch()));
	ck_assert_int_eq(afk_agent_new(&A), 0);
	ck_assert_msg(afk_agent_set_builtin(A, cfg) == 0, "%s",
	              afk_agent_errmsg(A));
	{
		afk_call call;
		json_t *log;

		ck_assert_int_eq(dispatch(&call, "acme/api", 1, "x"), 0);
		afk__call_clear(&call);
		log = t3_log();
		ck_assert_str_eq(log_header(log, 0, "authorization"),
		                 "Bearer " TOKEN);
		json_decref(log);
	}
	unlink(path);
	afk_config_free(cfg);
}
END_TEST

/* No 8 bytes of the token in any message, whatever T3 answers: a
 * thread snapshot that is not JSON and stops jansson anywhere in the
 * token, a status text and an error body with the token across the
 * cuts a message goes through (j of its bytes before them, every j). */
START_TEST(test_no_token_fragment_in_t3_messages)
{
	size_t n = strlen(TOKEN), j, i, k;
	json_t *list = json_array();
	char pad[256], frag[9], *s;
	afk_call call;

	for (j = 1; j <= n; j++) {
		s = afk__aprintf("{\"thread\": \"%.*s", (int)j, TOKEN);
		json_array_append_new(list, json_pack("{s:s}", "body", s));
		free(s);
		s = afk__aprintf("{\"thread\": %.*s}", (int)j, TOKEN);
		json_array_append_new(list, json_pack("{s:s}", "body", s));
		free(s);
		memset(pad, 'R', sizeof(pad));
		pad[63 - (j < 63 ? j : 62)] = '\0';
		s = afk__aprintf("%s%s", pad, TOKEN);
		json_array_append_new(list, json_pack("{s:i, s:s, s:s}",
		                      "status", 400, "reason", s, "body", "no"));
		free(s);
		memset(pad, 'b', sizeof(pad));
		pad[200 - j] = '\0';
		s = afk__aprintf("%s%s tail", pad, TOKEN);
		json_array_append_new(list, json_pack("{s:i, s:s}", "status", 422,
		                                      "body", s));
		free(s);
	}
	t3_script(json_pack("{s:{s:o}}", "routes", THREADS "t-1", list));
	A = t3_agent("");
	for (i = 0; i < 4 * n; i++) {
		ck_assert_int_ne(snapshot(&call, "t-1"), AFK_OK);
		ck_assert_ptr_nonnull(call.message);
		for (k = 0; k + 8 <= n; k++) {
			memcpy(frag, TOKEN + k, 8);
			frag[8] = '\0';
			ck_assert_msg(strstr(call.message, frag) == NULL,
			              "answer %zu: \"%s\" of the token in: %s", i,
			              frag, call.message);
		}
		afk__call_clear(&call);
	}
}
END_TEST

/* A token a FIFO would hand over is not waited for: the file is named,
 * refused as not a regular file, at once. */
START_TEST(test_token_fifo_refused)
{
	char dir[] = "/tmp/afk-t3-fifo.XXXXXX", *fifo, *j;
	afk_config *cfg = NULL;
	afk_agent *a = NULL;
	double t0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	fifo = afk__aprintf("%s/token", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	j = afk__aprintf("{\"kind\": \"t3\", \"url\": \"%s\", \"token_file\":"
	                 " \"%s\", \"project_id\": \"p\", \"model\": \"m\"}",
	                 S.base, fifo);
	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_int_eq(afk_config_set(cfg, "agent", j), 0);
	ck_assert_int_eq(afk_agent_new(&a), 0);
	t0 = now_s();
	ck_assert_int_eq(afk_agent_set_builtin(a, cfg), AFK_ECONFIG);
	ck_assert_double_lt(now_s() - t0, 2.0);
	assert_contains(afk_agent_errmsg(a), fifo);
	assert_contains(afk_agent_errmsg(a), "not a regular file");
	afk_agent_free(a);
	afk_config_free(cfg);
	unlink(fifo);
	rmdir(dir);
	free(fifo);
	free(j);
}
END_TEST

/* A token too short to be hidden in messages is refused, unquoted; one
 * of 16 bytes is enough. */
START_TEST(test_short_token_refused)
{
	afk_config *cfg = t3_config("");
	afk_agent *a = NULL;

	setenv(TOKEN_ENV, "xK9-short-tok", 1);
	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_int_eq(afk_agent_set_builtin(a, cfg), AFK_ECONFIG);
	assert_contains(afk_agent_errmsg(a), TOKEN_ENV);
	assert_contains(afk_agent_errmsg(a), "shorter than 16 bytes");
	assert_lacks(afk_agent_errmsg(a), "xK9-short");
	afk_agent_free(a);
	a = NULL;
	setenv(TOKEN_ENV, "xK9-sixteen-byte", 1);
	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_msg(afk_agent_set_builtin(a, cfg) == 0, "%s",
	              afk_agent_errmsg(a));
	afk_agent_free(a);
	afk_config_free(cfg);
}
END_TEST

static Suite *t3_suite(void)
{
	Suite *s = suite_create("t3");
	TCase *tc = tcase_create("t3");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dispatch_sends_create_then_turn);
	tcase_add_test(tc, test_thread_id_is_deterministic);
	tcase_add_test(tc, test_prompt_over_max_refused_before_sending);
	tcase_add_test(tc, test_turn_start_500_fails_the_dispatch);
	tcase_add_test(tc, test_failed_dispatch_stamps_no_label);
	tcase_add_test(tc, test_dispatch_resumes_an_empty_thread);
	tcase_add_test(tc, test_redispatch_takes_the_next_id);
	tcase_add_test(tc, test_dispatch_adopts_a_live_turn);
	tcase_add_test(tc, test_dispatch_starts_at_its_generation);
	tcase_add_test(tc, test_poll_after_escalation_creates_the_next_thread);
	tcase_add_test(tc, test_dispatch_refused_without_a_usable_id);
	tcase_add_loop_test(tc, test_snapshot_maps_states_and_phases, 0,
	                    (int)(sizeof(snaps) / sizeof(*snaps)));
	tcase_add_loop_test(tc, test_snapshot_reports_usage, 0,
	                    (int)(sizeof(usages) / sizeof(*usages)));
	tcase_add_test(tc, test_snapshot_malformed_and_missing);
	tcase_add_test(tc, test_snapshot_needs_the_descriptor);
	tcase_add_test(tc, test_snapshot_invalid_json_message_one_line);
	tcase_add_test(tc, test_send_turn_starts_a_turn);
	tcase_add_test(tc, test_stop_interrupts_then_stops_the_session);
	tcase_add_test(tc, test_stop_without_a_turn_stops_the_session);
	tcase_add_test(tc, test_stop_of_a_gone_thread_succeeds);
	tcase_add_test(tc, test_stop_server_error_fails);
	tcase_add_test(tc, test_token_never_in_a_message);
	tcase_add_test(tc, test_config_and_token_sources);
	tcase_add_test(tc, test_no_token_fragment_in_t3_messages);
	tcase_add_test(tc, test_short_token_refused);
	tcase_add_test(tc, test_probe_reads_protocol_scopes_project);
	tcase_add_test(tc, test_probe_absent_protocol_is_1);
	tcase_add_test(tc, test_probe_refuses_another_protocol);
	tcase_add_test(tc, test_probe_refuses_a_token_without_a_scope);
	tcase_add_test(tc, test_probe_refuses_an_unknown_project);
	tcase_add_test(tc, test_probe_refused_token);
	tcase_add_test(tc, test_probe_connection_refused);
	tcase_add_test(tc, test_dispatch_refuses_another_protocol);
	tcase_add_test(tc, test_dispatch_absent_protocol_is_1);
	tcase_add_test(tc, test_dispatch_unread_descriptor_refuses);
	tcase_add_test(tc, test_one_descriptor_read_per_tick);
	suite_add_tcase(s, tc);

	/* A FIFO that hangs must fail the test, not the suite's minute. */
	tc = tcase_create("token file");
	tcase_set_timeout(tc, 5);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_token_fifo_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(t3_suite());
}
