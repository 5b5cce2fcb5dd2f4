/*
 * lib/core/usage.c - the "AFK-USAGE:" line.
 *
 * The line comes from an agent's output, which anyone who can steer the
 * agent can write: it is read in its bytes, nothing is allocated, and
 * every figure is bounded before it is added.  A line that breaks the
 * grammar counts nothing rather than something guessed: a budget is
 * better undercounted once than fed a misread number.
 */
#include "core/usage.h"

#include <string.h>

#include "afk/common.h"
#include "afk/run.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* An <int> of v (len bytes) into *out: digits only, <= AFK__USAGE_MAX. */
static int parse_int(const char *v, size_t len, long long *out)
{
	long long n = 0;
	size_t i;

	if (len == 0)
		return AFK_EPARSE;
	for (i = 0; i < len; i++) {
		if (!is_digit(v[i]))
			return AFK_EPARSE;
		n = n * 10 + (v[i] - '0');
		if (n > AFK__USAGE_MAX)
			return AFK_EPARSE;
	}
	*out = n;
	return AFK_OK;
}

/* A <decimal> of dollars into millionths: "1.42" is 1420000; the
 * seventh decimal rounds, the rest are read but count nothing. */
static int parse_cost(const char *v, size_t len, long long *out)
{
	const char *dot = memchr(v, '.', len);
	size_t whole = dot ? (size_t)(dot - v) : len, i;
	long long dollars, micro = 0;
	int digits = 0;

	if (whole == 0 || parse_int(v, whole, &dollars) != AFK_OK ||
	    dollars > AFK__USAGE_MAX / 1000000)
		return AFK_EPARSE;
	if (dot != NULL) {
		if (whole + 1 == len)
			return AFK_EPARSE;      /* "1." */
		for (i = whole + 1; i < len; i++) {
			if (!is_digit(v[i]))
				return AFK_EPARSE;
			if (digits < 6)
				micro = micro * 10 + (v[i] - '0');
			else if (digits == 6 && v[i] >= '5')
				micro++;
			digits++;
		}
		for (; digits < 6; digits++)
			micro *= 10;
	}
	micro += dollars * 1000000;
	if (micro > AFK__USAGE_MAX)
		return AFK_EPARSE;
	*out = micro;
	return AFK_OK;
}

/* The field name=value (len bytes) into inc; seen marks the known ones
 * met already (1, 2, 4). */
static int parse_field(const char *f, size_t len, afk__usage *inc, int *seen)
{
	static const struct {
		const char *name;
		int bit;
	} known[] = {{"tokens_in", 1}, {"tokens_out", 2}, {"cost_usd", 4}};
	const char *eq = memchr(f, '=', len);
	size_t name_len, i;
	const char *v;

	if (eq == NULL || eq == f)
		return AFK_EPARSE;
	name_len = (size_t)(eq - f);
	v = eq + 1;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strlen(known[i].name) != name_len ||
		    memcmp(known[i].name, f, name_len) != 0)
			continue;
		if (*seen & known[i].bit)
			return AFK_EPARSE;
		*seen |= known[i].bit;
		len -= name_len + 1;
		switch (known[i].bit) {
		case 1:
			return parse_int(v, len, &inc->tokens_in);
		case 2:
			return parse_int(v, len, &inc->tokens_out);
		default:
			return parse_cost(v, len, &inc->cost_microusd);
		}
	}
	return AFK_OK;  /* another field: a wrapper may say more */
}

int afk__usage_parse_line(const char *line, size_t n, afk__usage *inc)
{
	size_t m = strlen(AFK__USAGE_MARKER), i, start;
	int seen = 0, rc;

	memset(inc, 0, sizeof(*inc));
	if (line == NULL || n < m || memcmp(line, AFK__USAGE_MARKER, m) != 0)
		return 0;
	while (n > m && (line[n - 1] == '\r' || is_blank(line[n - 1])))
		n--;
	i = m;
	while (i < n) {
		if (is_blank(line[i])) {
			i++;
			continue;
		}
		/* blanks part the fields: "tokens_in=1tokens_out=2" is one
		 * field, a bad <int> */
		start = i;
		while (i < n && !is_blank(line[i]))
			i++;
		rc = parse_field(line + start, i - start, inc, &seen);
		if (rc != AFK_OK) {
			memset(inc, 0, sizeof(*inc));
			return AFK_EPARSE;
		}
	}
	return 1;
}

static void add_one(long long *sum, long long inc)
{
	if (inc <= 0)
		return;
	*sum = *sum > AFK__USAGE_MAX - inc ? AFK__USAGE_MAX : *sum + inc;
}

void afk__usage_add(afk__usage *sum, const afk__usage *inc)
{
	add_one(&sum->tokens_in, inc->tokens_in);
	add_one(&sum->tokens_out, inc->tokens_out);
	add_one(&sum->cost_microusd, inc->cost_microusd);
}

/* The AFK_PHASE_* of one line of output, or -1 when it is no phase
 * line.  The names are exact; trailing blanks and a CR are forgiven. */
int afk__phase_parse_line(const char *line, size_t n)
{
	static const struct {
		const char *name;
		int phase;
	} phases[] = {
		{"AFK-PHASE: tests-red", AFK_PHASE_TESTS_RED},
		{"AFK-PHASE: green", AFK_PHASE_GREEN},
		{"AFK-PHASE: pushed", AFK_PHASE_PUSHED},
	};
	size_t i;

	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
	                 line[n - 1] == '\t'))
		n--;
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (strlen(phases[i].name) == n &&
		    memcmp(phases[i].name, line, n) == 0)
			return phases[i].phase;
	return -1;
}
