/*
 * fuzz/checklist.c - the run record in the checklist comment
 * (lib/core/checklist.c).
 *
 * Properties:
 *   - a comment that parses renders, and the rendered comment parses to
 *     the same record (parse(render(parse(x))) == parse(x));
 *   - a record made of any values in the ranges the parser keeps renders
 *     (unless one of its strings is not UTF-8, which JSON cannot carry,
 *     and then render refuses it) and parses back equal;
 *   - the rendered comment holds the record marker once, at its start.
 */
#include "fuzz.h"

#include "afk/run.h"
#include "afk/watcher.h"
#include "core/checklist.h"
#include "core/util.h"

static int str_eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int strv_eq(const afk__strv *a, const afk__strv *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

static int record_eq(const afk__record *a, const afk__record *b)
{
	return str_eq(a->thread, b->thread) && a->attempts == b->attempts &&
	       a->phase == b->phase && a->changed_at == b->changed_at &&
	       a->ci_since == b->ci_since &&
	       a->deploy_since == b->deploy_since && a->ci == b->ci &&
	       a->deploy == b->deploy && str_eq(a->head, b->head) &&
	       str_eq(a->answered_head, b->answered_head) &&
	       strv_eq(&a->failing, &b->failing) &&
	       strv_eq(&a->failing_urls, &b->failing_urls) &&
	       a->turn_pending == b->turn_pending && a->status == b->status &&
	       a->reason == b->reason &&
	       a->notify_pending == b->notify_pending &&
	       a->tokens_in == b->tokens_in && a->tokens_out == b->tokens_out &&
	       a->cost_microusd == b->cost_microusd &&
	       (a->generation > 1 ? a->generation : 1) ==
	       (b->generation > 1 ? b->generation : 1);
}

/* Renders r and checks that it reads back as r. */
static void round_trip(const afk__record *r, int budget)
{
	afk__record back;
	char *text = afk__checklist_render(r, "acme/api", 7, budget & 1,
	                                   budget);
	const char *m;

	FUZZ_ASSERT(text != NULL, "a valid record did not render");
	FUZZ_ASSERT(strncmp(text, AFK__RECORD_MARKER,
	                    strlen(AFK__RECORD_MARKER)) == 0,
	            "the comment does not start with the marker:\n%s", text);
	FUZZ_ASSERT(afk__record_parse(text, &back) == AFK_OK,
	            "the rendered comment does not parse:\n%s", text);
	FUZZ_ASSERT(record_eq(r, &back),
	            "the record changed on the round trip:\n%s", text);
	m = strstr(text + 1, "-->");
	FUZZ_ASSERT(m != NULL && memchr(text, '\n', (size_t)(m - text)) ==
	            NULL, "the record line is not one line:\n%s", text);
	afk__record_clear(&back);
	free(text);
}

static int all_utf8(const afk__record *r)
{
	size_t i;
	int ok = afk__utf8_valid(r->thread) &&
	         (r->head == NULL || afk__utf8_valid(r->head)) &&
	         (r->answered_head == NULL ||
	          afk__utf8_valid(r->answered_head));

	for (i = 0; i < r->failing.n; i++)
		ok = ok && afk__utf8_valid(r->failing.v[i]) &&
		     afk__utf8_valid(r->failing_urls.v[i]);
	return ok;
}

/* A record made of the input's bytes, in the ranges the parser keeps. */
static void from_bytes(const uint8_t *data, size_t size)
{
	fuzz_in in = {data, size};
	afk__record r;
	unsigned flags, nfail, i;
	char *s, *text;

	memset(&r, 0, sizeof(r));
	flags = fuzz_byte(&in);
	r.thread = fuzz_take_str(&in);
	if (flags & 1)
		r.head = fuzz_take_str(&in);
	if (flags & 2)
		r.answered_head = fuzz_take_str(&in);
	r.attempts = (int)(fuzz_i64(&in) % 1001);
	if (r.attempts < 0)
		r.attempts = -r.attempts;
	r.phase = (int)(fuzz_byte(&in) % (AFK_PHASE_DEPLOYED + 1));
	r.changed_at = fuzz_i64(&in);
	r.ci_since = fuzz_i64(&in);
	r.deploy_since = fuzz_i64(&in);
	r.ci = (int)(fuzz_byte(&in) % (AFK_STATUS_FAILURE + 1));
	r.deploy = (int)(fuzz_byte(&in) % (AFK_STATUS_FAILURE + 1));
	r.turn_pending = (flags & 4) != 0;
	r.notify_pending = (flags & 8) != 0;
	r.status = (int)(fuzz_byte(&in) % (AFK__RUN_ESCALATED + 1));
	r.reason = (int)(fuzz_byte(&in) % (AFK_ESCALATE_BUDGET + 1));
	afk__record_usage(&r, fuzz_i64(&in), fuzz_i64(&in), fuzz_i64(&in));
	r.generation = 1 + (int)(fuzz_i64(&in) % AFK__GENERATION_MAX);
	if (r.generation < 1)
		r.generation = -r.generation + 2;
	nfail = fuzz_byte(&in) % 5;
	for (i = 0; i < nfail; i++) {
		s = fuzz_take_str(&in);
		if (afk__strv_push(&r.failing, s))
			abort();
		free(s);
		s = fuzz_take_str(&in);
		if (afk__strv_push(&r.failing_urls, s))
			abort();
		free(s);
	}
	if (all_utf8(&r)) {
		round_trip(&r, (int)(flags >> 4));
	} else {
		text = afk__checklist_render(&r, "acme/api", 7, 0, 2);
		FUZZ_ASSERT(text == NULL, "a record that is not UTF-8 "
		            "rendered:\n%s", text);
	}
	afk__record_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = fuzz_str(data, size);
	afk__record r;

	if (afk__record_parse(body, &r) == AFK_OK) {
		round_trip(&r, 2);
		afk__record_clear(&r);
	}
	free(body);
	from_bytes(data, size);
	return 0;
}
