/*
 * fuzz/t3.c - the "t3" agent's reading of T3 Code's answers
 * (lib/builtin_t3.c): a thread's snapshot, and the probing of a new
 * dispatch, every answer from the scripted HTTP layer (fuzz/script.c).
 *
 * The input: the script.  One run takes a snapshot of thread
 * "afk-fuzz-1", then dispatches acme/api#7, until the script ends.
 *
 * Properties (decisions only from what T3 said):
 *   - a snapshot's state is one of AFK_AGENT_*; gone only when T3
 *     answered 404; "completed" only when the
 *     thread's latestTurn.state said so; waiting on an approval only
 *     when an activity asked for one; a phase only from an assistant
 *     message saying "AFK-PHASE:";
 *   - a refusal's message is one line with no control character and
 *     never holds the token;
 *   - a dispatch that succeeds names a thread of the issue.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <jansson.h>

#include "adapter.h"
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

/* The thread of the first answer, as T3 sent it, or NULL. */
static json_t *answered_thread(void)
{
	const fuzz_answer *a;
	json_t *root, *t;

	if (fuzz_script_answers(&a) == 0)
		return NULL;
	root = json_loads(a[0].body, 0, NULL);
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

static void check_snapshot(const afk_call *call)
{
	json_t *t, *m;
	const fuzz_answer *a;
	const char *st;
	size_t i;
	int said = 0;

	if (call->agent_state == AFK_AGENT_GONE) {
		FUZZ_ASSERT(fuzz_script_answers(&a) > 0 && a[0].status == 404,
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
	afk_call call;
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

	afk__call_init(&call, AFK__CALL_DISPATCH, NULL);
	rc = agent->dispatch(&call, "acme/api", 7, "Fix issue 7.",
	                     agent->userdata);
	if (rc == AFK_OK)
		FUZZ_ASSERT(call.thread_id != NULL &&
		            strncmp(call.thread_id, "afk-", 4) == 0,
		            "dispatched to %s", call.thread_id ? call.thread_id :
		            "(none)");
	clean_message(&call);
	afk__call_clear(&call);
	afk_agent_free(agent);
	fuzz_script_end();
	return 0;
}
