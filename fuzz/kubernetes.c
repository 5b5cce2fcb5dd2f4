/*
 * fuzz/kubernetes.c - the "kubernetes" agent's reading of the API
 * server's answers (lib/builtin/kubernetes.c): a thread's snapshot (its
 * Job list, pod list and the pods' log tails), and a dispatch, a
 * corrective turn or a stop, every answer from the scripted HTTP layer
 * (fuzz/script.c).
 *
 * The input: a header, then the script.
 *   byte 0      the operation after the snapshot: 0 none, 1 dispatch,
 *               2 send_turn, 3 stop (modulo 4)
 *   byte 1      the dispatch's generation - 1
 *   string      the dispatch's repository (a length byte, then the
 *               bytes, a control character read as '_': the host's
 *               allowlisted name, not the cluster's text; empty:
 *               "acme/api")
 *   byte        the dispatch's issue - 1
 *   the rest    the script: the answers, separated by 0x1e
 * One run takes a snapshot of thread THREAD, then runs the operation,
 * until the script ends.
 *
 * Properties (decisions only from what the cluster said):
 *   - a snapshot that succeeds sets one of AFK_AGENT_*; completed only
 *     when the Job list, decoded, holds "Complete"; gone only when the
 *     Job list was answered (2xx) with no items; errored with a message;
 *     a phase only when a log read held "AFK-PHASE", usage only when
 *     one held "AFK-USAGE";
 *   - a dispatch that succeeds names a thread that is a DNS-1123 label
 *     of at most 63 characters, "afk-" first;
 *   - a message is one line with no control character and never holds
 *     the token (unless the input did: the cluster's answer or the
 *     repository's name echoed back).
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <jansson.h>

#include "core/adapter.h"
#include "core/util.h"
#include "afk/afk.h"

#define TOKEN "fuzz-token-SECRET-1234567890"
#define THREAD "afk-acme-api-7-g1-0123abcd"

static afk_config *cfg;
static const uint8_t *input;  /* this run's, and its size */
static size_t input_size;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *token = fuzz_scratch_file("token");
	char ca[128], *text;
	const char *slash = strrchr(token, '/');

	(void)argc;
	(void)argv;
	snprintf(ca, sizeof(ca), "%.*s/ca.crt", (int)(slash - token), token);
	write_file(token, TOKEN "\n");
	write_file(ca, "-----BEGIN CERTIFICATE-----\n"
	           "-----END CERTIFICATE-----\n");
	text = afk__aprintf("{\"agent\": {\"kind\": \"kubernetes\", "
	        "\"namespace\": \"afk-fuzz\", \"api_url\": "
	        "\"http://127.0.0.1:1\", \"token_file\": \"%s\", "
	        "\"ca_file\": \"%s\", \"image\": \"ghcr.io/acme/agent:1\", "
	        "\"command\": [\"/agent/run\"], \"log_tail\": 1024, "
	        "\"env_from_secrets\": [{\"name\": \"GH_TOKEN\", "
	        "\"secret\": \"agent-github\", \"key\": \"token\"}]}}",
	        token, ca);
	if (text == NULL || afk_config_new(&cfg) != AFK_OK ||
	    afk_config_load_string(cfg, text) != AFK_OK) {
		fprintf(stderr, "config: %s\n", afk_config_errmsg(cfg));
		abort();
	}
	free(text);
	return 0;
}

/* 1 when an answer so far held s; only to URLs holding in, if given. */
static int answered_with(const char *s, const char *in)
{
	const fuzz_answer *a;
	size_t i, n = fuzz_script_answers(&a);

	for (i = 0; i < n; i++)
		if ((in == NULL || strstr(a[i].url, in) != NULL) &&
		    strstr(a[i].body, s) != NULL)
			return 1;
	return 0;
}

/* 1 when the input holds s anywhere. */
static int input_has(const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i + n <= input_size; i++)
		if (memcmp(input + i, s, n) == 0)
			return 1;
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
	FUZZ_ASSERT(strstr(call->message, TOKEN) == NULL ||
	            input_has(TOKEN), "the token in %s",
	            call->message);
}

/* The Job list's answer (the snapshot's first request), or NULL. */
static const fuzz_answer *job_list(void)
{
	const fuzz_answer *a;
	size_t n = fuzz_script_answers(&a);

	if (n == 0)
		return NULL;
	FUZZ_ASSERT(strstr(a[0].url, "/jobs?labelSelector=") != NULL,
	            "the snapshot first asked %s", a[0].url);
	return &a[0];
}

/* The Job list as jansson decoded it, dumped again: "\u0043omplete"
 * reads "Complete" there.  Heap, or NULL. */
static char *decoded(const fuzz_answer *a)
{
	json_t *j = json_loads(a->body, 0, NULL);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static void check_snapshot(const afk_call *call)
{
	const fuzz_answer *list = job_list();
	int st = call->agent_state;
	json_t *j;
	char *text;

	FUZZ_ASSERT(st >= AFK_AGENT_RUNNING && st <= AFK_AGENT_GONE,
	            "state %d", st);
	FUZZ_ASSERT(list != NULL && list->status / 100 == 2, "a state without "
	            "the Job list");
	if (st == AFK_AGENT_COMPLETED) {
		text = decoded(list);
		FUZZ_ASSERT(text != NULL &&
		            strstr(text, "\"Complete\"") != NULL,
		            "completed, but no Job said Complete: %s",
		            list->body);
		free(text);
	}
	if (st == AFK_AGENT_GONE) {
		j = json_loads(list->body, 0, NULL);
		FUZZ_ASSERT(json_array_size(json_object_get(j, "items")) == 0,
		            "gone, but the Job list has items: %s", list->body);
		json_decref(j);
	}
	if (st == AFK_AGENT_ERRORED)
		FUZZ_ASSERT(call->message != NULL, "errored without a message");
	if (call->phase != AFK_PHASE_DISPATCHED)
		FUZZ_ASSERT(answered_with("AFK-PHASE", "/log?"),
		            "phase %d that no log said", call->phase);
	if (call->usage_set)
		FUZZ_ASSERT(answered_with("AFK-USAGE", "/log?"),
		            "usage that no log said");
}

/* A DNS-1123 label: [a-z0-9-], at most 63, alphanumeric at both ends. */
static int dns_label(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (c != '-' || i == 0 || i == n - 1))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in in = {data, size};
	afk_agent *agent = NULL;
	afk_call call;
	unsigned op, gen;
	long number;
	char *repo, *p;
	int rc;

	input = data;
	input_size = size;
	op = fuzz_byte(&in) % 4;
	gen = fuzz_byte(&in) + 1;
	repo = fuzz_take_str(&in);
	for (p = repo; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '_';
	number = (long)fuzz_byte(&in) + 1;
	fuzz_script_start(in.p, in.n);
	if (afk_agent_new(&agent) != AFK_OK ||
	    afk_agent_set_builtin(agent, cfg) != AFK_OK)
		abort();

	afk__call_init(&call, AFK__CALL_SNAPSHOT, NULL);
	rc = agent->snapshot(&call, THREAD, agent->userdata);
	if (rc == AFK_OK)
		check_snapshot(&call);
	clean_message(&call);
	afk__call_clear(&call);

	switch (op) {
	case 1:
		afk__call_init(&call, AFK__CALL_DISPATCH, NULL);
		call.generation = (int)gen;
		rc = agent->dispatch(&call, repo[0] ? repo : "acme/api", number,
		                     "Fix issue 7.", agent->userdata);
		if (rc == AFK_OK)
			FUZZ_ASSERT(call.thread_id != NULL &&
			            dns_label(call.thread_id) &&
			            strncmp(call.thread_id, "afk-", 4) == 0,
			            "dispatched to %s", call.thread_id ?
			            call.thread_id : "(none)");
		break;
	case 2:
		afk__call_init(&call, AFK__CALL_SEND_TURN, NULL);
		agent->send_turn(&call, THREAD, "Fix the tests.",
		                 agent->userdata);
		break;
	case 3:
		afk__call_init(&call, AFK__CALL_STOP, NULL);
		agent->stop(&call, "acme/api", 7, THREAD, agent->userdata);
		break;
	default:
		afk__call_init(&call, AFK__CALL_PROBE, NULL);
		break;
	}
	clean_message(&call);
	afk__call_clear(&call);
	afk_agent_free(agent);
	fuzz_script_end();
	free(repo);
	return 0;
}
