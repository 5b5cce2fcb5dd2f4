/*
 * fuzz/usage.c - the AFK-USAGE line (lib/core/usage.c), which an agent's
 * output carries and anyone who steers the agent can write.
 *
 * The input is split into lines as the command agent reads its log.
 *
 * Properties: a line is a usage line (1), none (0) or refused
 * (AFK_EPARSE), never anything else; only a line that starts with the
 * marker is one; a refused or foreign line leaves nothing, an accepted
 * one figures in 0..AFK__USAGE_MAX; a line reads the same twice and the
 * same with a CR appended; the sum of every line stays in range and
 * never shrinks.
 */
#include "fuzz.h"

#include "afk/common.h"
#include "core/usage.h"

static int in_range(const afk__usage *u)
{
	return u->tokens_in >= 0 && u->tokens_in <= AFK__USAGE_MAX &&
	       u->tokens_out >= 0 && u->tokens_out <= AFK__USAGE_MAX &&
	       u->cost_microusd >= 0 && u->cost_microusd <= AFK__USAGE_MAX;
}

static int same(const afk__usage *a, const afk__usage *b)
{
	return a->tokens_in == b->tokens_in && a->tokens_out == b->tokens_out &&
	       a->cost_microusd == b->cost_microusd;
}

static void one_line(const char *line, size_t n, afk__usage *sum)
{
	size_t m = strlen(AFK__USAGE_MARKER);
	afk__usage u, again, before = *sum;
	char cr[512];
	int rc = afk__usage_parse_line(line, n, &u);

	FUZZ_ASSERT(rc == 1 || rc == 0 || rc == AFK_EPARSE, "rc %d", rc);
	FUZZ_ASSERT((rc != 0) == (n >= m && memcmp(line, AFK__USAGE_MARKER,
	                                           m) == 0),
	            "rc %d for a line %s the marker", rc,
	            rc ? "without" : "with");
	FUZZ_ASSERT(in_range(&u), "%lld %lld %lld", u.tokens_in,
	            u.tokens_out, u.cost_microusd);
	if (rc != 1)
		FUZZ_ASSERT(u.tokens_in == 0 && u.tokens_out == 0 &&
		            u.cost_microusd == 0, "a refused line left usage");
	FUZZ_ASSERT(afk__usage_parse_line(line, n, &again) == rc &&
	            same(&u, &again), "read twice, read differently");
	if (n + 1 < sizeof(cr)) {
		memcpy(cr, line, n);
		cr[n] = '\r';
		FUZZ_ASSERT(afk__usage_parse_line(cr, n + 1, &again) == rc &&
		            same(&u, &again), "a CR changed the line");
	}
	afk__usage_add(sum, &u);
	FUZZ_ASSERT(in_range(sum) && sum->tokens_in >= before.tokens_in &&
	            sum->tokens_out >= before.tokens_out &&
	            sum->cost_microusd >= before.cost_microusd,
	            "the sum left its range or shrank");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	afk__usage sum = {0, 0, 0};

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		one_line(p, (size_t)(nl - p), &sum);
		p = nl + 1;
	}
	return 0;
}
