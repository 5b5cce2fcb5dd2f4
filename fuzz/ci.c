/*
 * fuzz/ci.c - the "command" CI's reading of its command's output
 * (lib/builtin/ci.c, afk__command_ci_parse()).
 *
 * Properties:
 *   - what is reported is exactly what the output says, read again here
 *     with jansson: the PR state, head, CI and deploy states, and every
 *     failing check's name and address, in order;
 *   - a refused output reports nothing, and its message is one line with
 *     no control character (the output is the command's, untrusted, and
 *     the message reaches logs and terminals).
 */
#include "fuzz.h"

#include <jansson.h>

#include "core/adapter.h"
#include "afk/run.h"
#include "builtin/builtin.h"

static int index_of(const char *const *names, const char *s)
{
	int i;

	for (i = 0; s != NULL && names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prs[] = {"none", "open", "merged", NULL};
	static const char *const sts[] = {
		"none", "pending", "success", "failure", NULL
	};
	afk_call call;
	json_t *o, *f, *item;
	const char *m;
	size_t i;
	int rc;

	afk__call_init(&call, AFK__CALL_CI_STATUS, NULL);
	rc = afk__command_ci_parse(&call, (const char *)data, size);
	if (rc != AFK_OK) {
		FUZZ_ASSERT(rc == AFK_EPARSE || rc == AFK_ENOMEM, "rc %d", rc);
		FUZZ_ASSERT(call.message != NULL, "a refusal without a message");
		for (m = call.message; *m != '\0'; m++)
			FUZZ_ASSERT((unsigned char)*m >= 0x20 && *m != 0x7f,
			            "a control character in the message: %s",
			            call.message);
		FUZZ_ASSERT(call.pr == AFK_PR_NONE && call.head == NULL &&
		            call.ci == AFK_STATUS_NONE && call.failing.n == 0,
		            "a refused output reported something");
		afk__call_clear(&call);
		return 0;
	}
	o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_ASSERT(json_is_object(o), "accepted output that is no object");
	FUZZ_ASSERT(call.pr == index_of(prs, json_string_value(
	            json_object_get(o, "pr"))), "pr %d", call.pr);
	FUZZ_ASSERT(call.ci == index_of(sts, json_string_value(
	            json_object_get(o, "ci"))), "ci %d", call.ci);
	FUZZ_ASSERT(json_object_get(o, "deploy") == NULL ?
	            call.deploy == AFK_STATUS_NONE :
	            call.deploy == index_of(sts, json_string_value(
	            json_object_get(o, "deploy"))), "deploy %d", call.deploy);
	m = json_string_value(json_object_get(o, "head"));
	FUZZ_ASSERT(m == NULL ? call.head == NULL :
	            call.head != NULL && strcmp(call.head, m) == 0,
	            "head %s", call.head ? call.head : "(null)");
	f = json_object_get(o, "failing");
	FUZZ_ASSERT(call.failing.n == json_array_size(f), "%zu failing",
	            call.failing.n);
	json_array_foreach(f, i, item) {
		m = json_string_value(json_object_get(item, "url"));
		FUZZ_ASSERT(strcmp(call.failing.v[i], json_string_value(
		            json_object_get(item, "name"))) == 0, "name %zu", i);
		FUZZ_ASSERT(strcmp(call.failing_urls.v[i], m ? m : "") == 0,
		            "url %zu", i);
	}
	json_decref(o);
	afk__call_clear(&call);
	return 0;
}
