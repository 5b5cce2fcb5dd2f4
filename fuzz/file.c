/*
 * fuzz/file.c - the "file" tracker's reading of its issue file
 * (lib/builtin/file.c): the input is the file.
 *
 * One run lists the ready issues of acme/api and acme/web and finds the
 * record comment of acme/api#7.
 *
 * Properties, against the file read again here with jansson:
 *   - every issue reported is an open issue of the file, of a listed
 *     repository, with the ready or the in-progress label; it is
 *     trusted exactly when its labeled_by is one of trusted_users;
 *   - the comment reported is the body of the first comment of
 *     acme/api#7 holding the marker;
 *   - a refusal names the file and a line of it ("PATH:N: ..."), on one
 *     line with no control character.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <jansson.h>
#include <unistd.h>

#include "core/adapter.h"
#include "afk/afk.h"
#include "core/issue.h"

#define MARKER "<!-- afk-run:"

static const char *path;
static afk_config *cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char text[512];

	(void)argc;
	(void)argv;
	path = fuzz_scratch_file("issues.json");
	snprintf(text, sizeof(text), "{\"trusted_users\": [\"alice\", \"bob\"],"
	         " \"tracker\": {\"kind\": \"file\", \"path\": \"%s\"}}", path);
	if (afk_config_new(&cfg) != AFK_OK ||
	    afk_config_load_string(cfg, text) != AFK_OK)
		abort();
	return 0;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int has_label(json_t *o, const char *name)
{
	json_t *l;
	size_t i;

	json_array_foreach(json_object_get(o, "labels"), i, l)
		if (json_is_string(l) && strcmp(json_string_value(l), name) == 0)
			return 1;
	return 0;
}

/* The first issue of the file with repo and number. */
static json_t *issue_of(json_t *doc, const char *repo, long number)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(doc, "issues"), i, o)
		if (str(o, "repo") != NULL && strcmp(str(o, "repo"), repo) == 0
		    && json_integer_value(json_object_get(o, "number")) ==
		    number)
			return o;
	return NULL;
}

static void check_issue(json_t *doc, const afk__iset *set, size_t i)
{
	afk_issue *is = NULL;
	const char *repo = afk__iset_repo(set, i), *by;
	json_t *o;
	int trusted;

	if (afk__iset_issue(set, i, &is) != AFK_OK)
		abort();
	o = issue_of(doc, repo, afk_issue_number(is));
	FUZZ_ASSERT(o != NULL, "%s#%ld is not in the file", repo,
	            afk_issue_number(is));
	FUZZ_ASSERT(strcmp(repo, "acme/api") == 0 ||
	            strcmp(repo, "acme/web") == 0, "repo %s", repo);
	FUZZ_ASSERT(str(o, "state") == NULL ||
	            strcmp(str(o, "state"), "open") == 0, "not open");
	FUZZ_ASSERT(has_label(o, "ready-for-agent") ||
	            has_label(o, "agent-in-progress"), "no label");
	by = str(o, "labeled_by");
	trusted = by != NULL && (strcmp(by, "alice") == 0 ||
	                         strcmp(by, "bob") == 0);
	FUZZ_ASSERT((afk_issue_trusted(is) == 1) == trusted,
	            "%s#%ld trusted %d, labeled_by %s", repo,
	            afk_issue_number(is), afk_issue_trusted(is),
	            by ? by : "(none)");
	afk_issue_free(is);
}

/* text: the whole file, NUL bytes and all (jansson counts its lines past
 * them). */
static void check_refusal(const afk_call *call, const uint8_t *text,
                          size_t size)
{
	const char *m = call->message;
	size_t lines = 1, line;
	char *end;

	FUZZ_ASSERT(m != NULL, "a refusal with no message");
	for (; size > 0; text++, size--)
		lines += *text == '\n';
	FUZZ_ASSERT(strncmp(m, path, strlen(path)) == 0, "message %s", m);
	if (m[strlen(path)] == ':') {
		line = strtoul(m + strlen(path) + 1, &end, 10);
		FUZZ_ASSERT(line >= 1 && line <= lines, "line %zu of %zu: %s",
		            line, lines, m);
	}
	for (; *m != '\0'; m++)
		FUZZ_ASSERT((unsigned char)*m >= 0x20 && *m != 0x7f,
		            "a control character in the message: %s",
		            call->message);
}

static void check_comment(const afk_call *call, json_t *doc)
{
	json_t *o = issue_of(doc, "acme/api", 7), *c;
	const char *want = NULL, *b;
	size_t i;

	json_array_foreach(json_object_get(o, "comments"), i, c) {
		b = str(c, "body");
		if (want == NULL && b != NULL && strstr(b, MARKER) != NULL)
			want = b;
	}
	FUZZ_ASSERT(want == NULL ? call->comment == NULL :
	            call->comment != NULL && strcmp(want, call->comment) == 0,
	            "comment %s", call->comment ? call->comment : "(none)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"acme/api", "acme/web"};
	FILE *fp = fopen(path, "wb");
	char *text;
	afk_tracker *t = NULL;
	afk__iset set;
	afk_call call;
	json_t *doc;
	size_t i;
	int rc;

	if (fp == NULL || fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
		abort();
	text = fuzz_str(data, size);
	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	                 NULL);
	if (afk_tracker_new(&t) != AFK_OK ||
	    afk_tracker_set_builtin(t, cfg) != AFK_OK)
		abort();

	afk__call_init(&call, AFK__CALL_LIST_READY, NULL);
	memset(&set, 0, sizeof(set));
	call.issues = &set;
	rc = t->list_ready(&call, names, 2, t->userdata);
	if (rc == AFK_OK)
		for (i = 0; i < set.n; i++)
			check_issue(doc, &set, i);
	else if (rc != AFK_ENOMEM)
		check_refusal(&call, data, size);
	afk__call_clear(&call);
	afk__iset_clear(&set);

	afk__call_init(&call, AFK__CALL_FIND_COMMENT, NULL);
	rc = t->find_comment(&call, "acme/api", 7, MARKER, t->userdata);
	if (rc == AFK_OK)
		check_comment(&call, doc);
	afk__call_clear(&call);

	afk_tracker_free(t);
	json_decref(doc);
	free(text);
	return 0;
}
