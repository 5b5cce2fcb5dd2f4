/*
 * fuzz/t3.c - the "t3" agent's reading of T3 Code's answers
 * (lib/builtin/t3.c): a thread's snapshot, the server's environment
 * descriptor and the probing of a new dispatch, and the read-only probe
 * (descriptor, session, shell snapshot), every answer from the scripted
 * HTTP layer (fuzz/script.c).
 *
 * The input: the script.  One run takes a snapshot of thread
 * "afk-fuzz-1", then dispatches acme/api#7, then probes, until the
 * script ends.
 *
 * Properties (decisions only from what T3 said):
 *   - a snapshot's state is one of AFK_AGENT_*; gone only when T3
 *     answered 404; "completed" only when the
 *     thread's latestTurn.state said so; waiting on an approval only
 *     when an activity asked for one; a phase only from an assistant
 *     message saying "AFK-PHASE:";
 *   - a refusal's message is one line with no control character and
 *     never holds the token;
 *   - a dispatch that succeeds names a thread of the issue, and the
 *     descriptor it read said protocol 1 (or said none);
 *   - a probe that succeeds read a descriptor of protocol 1 (or none), a
 *     session authenticated with both orchestration scopes (or a list
 *     of none), and a shell listing project "p", not deleted.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <jansson.h>

#include "core/adapter.h"
#include "afk/afk.h"

#define TOKEN "fuzz-token-0123456789"

static afk_config *cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("AFK_FUZZ_TOKEN", TOKEN, 1);
	if (afk_config_new(&cfg) != AFK_OK ||
	    afk_config_load_string(cfg, "{\"agent\": {\"kind\": \"t3\", "
	            "\"url\": \"http://127.0.0.1:9\", \"token_env\": "
	            "\"AFK_FUZZ_TOKEN\", \"project_id\": \"p\", "
	            "\"model\": \"m\"}}") != AFK_OK) {
		fprintf(stderr, "config: %s\n", afk_config_errmsg(cfg));
		abort();
	}
	return 0;
}

static void clean_message(const afk_call *call)
{
	const char *m;

	if (call->message == NULL)
		return;
	for (m = call->message; *m != '\0'; m++)
		FUZZ_ASSERT((unsigned char)*m >= 0x20 && *m != 0x7f,
		            "a control character in the message: %s",
		            call->message);
	FUZZ_ASSERT(strstr(call->message, TOKEN) == NULL, "the token in %s",
	            call->message);
}

/* The answer to the thread's read (the first not to the descriptor),
 * or NULL. */
#define ENVIRONMENT "/.well-known/t3/environment"

/* 1 when the last descriptor answered so far said protocol 1 (or none):
 * what a command or a thread's read was allowed by - the descriptor is
 * read once a tick, and again only after a read that failed. */
static int last_said_protocol_1(void)
{
	const fuzz_answer *a;
	size_t i, n = fuzz_script_answers(&a), last = n;
	json_t *d, *v;
	int ok;

	for (i = 0; i < n; i++)
		if (fuzz_ends_with(a[i].url, ENVIRONMENT))
			last = i;
	if (last == n || a[last].status / 100 != 2)
		return 0;
	d = json_loads(a[last].body, 0, NULL);
	v = json_object_get(d, "orchestrationProtocolVersion");
	ok = json_is_object(d) && (v == NULL || (json_is_integer(v) &&
	     json_integer_value(v) == 1));
	json_decref(d);
	return ok;
}

static const fuzz_answer *thread_answer(void);

/* The thread of that answer, as T3 sent it, or NULL. */
static json_t *answered_thread(void)
{
	const fuzz_answer *a = thread_answer();
	json_t *root, *t;

	if (a == NULL)
		return NULL;
	root = json_loads(a->body, 0, NULL);
	t = json_incref(json_object_get(root, "thread"));
	json_decref(root);
	return t;
}

static int has_kind(json_t *acts, const char *kind)
{
	json_t *a;
	size_t i;
	const char *k;

	json_array_foreach(acts, i, a) {
		k = json_string_value(json_object_get(a, "kind"));
		if (k != NULL && strcmp(k, kind) == 0)
			return 1;
	}
	return 0;
}

/* The body of the first answer from `from` on to a URL ending in path,
 * parsed if a 2xx, or NULL. */
static json_t *answered(size_t from, const char *path)
{
	const fuzz_answer *a;
	size_t i, n = fuzz_script_answers(&a);

	for (i = from; i < n; i++)
		if (fuzz_ends_with(a[i].url, path))
			return a[i].status / 100 == 2 ?
			       json_loads(a[i].body, 0, NULL) : NULL;
	return NULL;
}

static const fuzz_answer *thread_answer(void)
{
	const fuzz_answer *a;
	size_t i, n = fuzz_script_answers(&a);

	for (i = 0; i < n; i++)
		if (!fuzz_ends_with(a[i].url, ENVIRONMENT))
			return &a[i];
	return NULL;
}

/* 1 when the descriptor from `from` on said protocol 1, or none. */
static int said_protocol_1(size_t from)
{
	json_t *d = answered(from, ENVIRONMENT);
	json_t *v = json_object_get(d, "orchestrationProtocolVersion");
	int ok = json_is_object(d) && (v == NULL || (json_is_integer(v) &&
	         json_integer_value(v) == 1));

	json_decref(d);
	return ok;
}

static int has_str(json_t *a, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* What a probe that succeeded must have read, from `from` on. */
static void check_probe(size_t from)
{
	json_t *sess = answered(from, "/api/auth/session");
	json_t *shell = answered(from, "/api/orchestration/shell");
	json_t *scopes = json_object_get(sess, "scopes"), *p, *del;
	const char *id;
	size_t i;
	int found = 0;

	FUZZ_ASSERT(said_protocol_1(from), "probed a server of another "
	            "protocol");
	FUZZ_ASSERT(json_is_true(json_object_get(sess, "authenticated")),
	            "probed a session not authenticated");
	FUZZ_ASSERT(scopes == NULL ||
	            (has_str(scopes, "orchestration:read") &&
	             has_str(scopes, "orchestration:operate")),
	            "probed a token without the orchestration scopes");
	json_array_foreach(json_object_get(shell, "projects"), i, p) {
		id = json_string_value(json_object_get(p, "id"));
		del = json_object_get(p, "deletedAt");
		found |= id != NULL && strcmp(id, "p") == 0 &&
		         (del == NULL || json_is_null(del));
	}
	FUZZ_ASSERT(found, "probed a server without project p");
	json_decref(sess);
	json_decref(shell);
}

static void check_snapshot(const afk_call *call)
{
	json_t *t, *m;
	const fuzz_answer *a = thread_answer();
	const char *st;
	size_t i;
	int said = 0;

	/* a thread is read only from a server of protocol 1 */
	FUZZ_ASSERT(last_said_protocol_1(), "a snapshot from a server of "
	            "another protocol");
	if (call->agent_state == AFK_AGENT_GONE) {
		FUZZ_ASSERT(a != NULL && a->status == 404,
		            "gone, but T3 did not answer 404");
		return;
	}
	t = answered_thread();
	FUZZ_ASSERT(t != NULL, "a snapshot without a thread");
	FUZZ_ASSERT(call->agent_state >= AFK_AGENT_RUNNING &&
	            call->agent_state <= AFK_AGENT_WAITING_INPUT, "state %d",
	            call->agent_state);
	st = json_string_value(json_object_get(json_object_get(t,
	                       "latestTurn"), "state"));
	if (call->agent_state == AFK_AGENT_COMPLETED)
		FUZZ_ASSERT(st != NULL && strcmp(st, "completed") == 0,
		            "completed, but the turn is %s", st ? st : "(none)");
	if (call->agent_state == AFK_AGENT_WAITING_APPROVAL)
		FUZZ_ASSERT(has_kind(json_object_get(t, "activities"),
		            "approval.requested"), "waiting on no approval");
	if (call->phase != AFK_PHASE_DISPATCHED) {
		json_array_foreach(json_object_get(t, "messages"), i, m) {
			const char *role = json_string_value(
			        json_object_get(m, "role"));
			const char *text = json_string_value(
			        json_object_get(m, "text"));

			said |= role != NULL && strcmp(role, "assistant") == 0 &&
			        text != NULL && strstr(text, "AFK-PHASE:") != NULL;
		}
		FUZZ_ASSERT(said, "phase %d that no message said", call->phase);
	}
	json_decref(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	afk_agent *agent = NULL;
	const fuzz_answer *ans;
	afk_call call;
	size_t from;
	int rc;

	fuzz_script_start(data, size);
	if (afk_agent_new(&agent) != AFK_OK ||
	    afk_agent_set_builtin(agent, cfg) != AFK_OK)
		abort();
	afk__call_init(&call, AFK__CALL_SNAPSHOT, NULL);
	rc = agent->snapshot(&call, "afk-fuzz-1", agent->userdata);
	if (rc == AFK_OK)
		check_snapshot(&call);
	clean_message(&call);
	afk__call_clear(&call);

	from = fuzz_script_answers(&ans);
	afk__call_init(&call, AFK__CALL_DISPATCH, NULL);
	rc = agent->dispatch(&call, "acme/api", 7, "Fix issue 7.",
	                     agent->userdata);
	if (rc == AFK_OK) {
		FUZZ_ASSERT(call.thread_id != NULL &&
		            strncmp(call.thread_id, "afk-", 4) == 0,
		            "dispatched to %s", call.thread_id ? call.thread_id :
		            "(none)");
		/* the descriptor is read once a tick: perhaps by the
		 * snapshot before */
		FUZZ_ASSERT(last_said_protocol_1(), "dispatched to a server "
		            "of another protocol");
	}
	clean_message(&call);
	afk__call_clear(&call);

	from = fuzz_script_answers(&ans);
	afk__call_init(&call, AFK__CALL_PROBE, NULL);
	rc = agent->probe(&call, agent->userdata);
	if (rc == AFK_OK)
		check_probe(from);
	clean_message(&call);
	afk__call_clear(&call);
	afk_agent_free(agent);
	fuzz_script_end();
	return 0;
}
