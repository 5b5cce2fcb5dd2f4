/*
 * lib/core/usage.h - what a run has used: tokens in and out and the cost,
 * and the "AFK-USAGE:" line an agent's wrapper prints it in; and the
 * "AFK-PHASE:" line beside it.  Internal, pure.
 */
#ifndef AFK_LIB_USAGE_H
#define AFK_LIB_USAGE_H

#include <stddef.h>

/* The highest usage figure kept anywhere: far beyond any real run,
 * small enough that a sum of two fits and a JSON double holds it
 * exactly.  Sums stop at it. */
#define AFK__USAGE_MAX 1000000000000000LL

/* The marker a usage line starts with. */
#define AFK__USAGE_MARKER "AFK-USAGE:"

typedef struct afk__usage {
	long long tokens_in;
	long long tokens_out;
	long long cost_microusd;  /* millionths of a US dollar */
} afk__usage;

/* Reads one line of an agent's output (n bytes, no newline; a trailing
 * CR and blanks are forgiven):
 *
 *   AFK-USAGE: tokens_in=<int> tokens_out=<int> cost_usd=<decimal>
 *
 * Fields are optional, in any order, separated by blanks; each is what
 * was used since the previous usage line (an increment).  An <int> is
 * decimal digits, a <decimal> digits with an optional fraction (only
 * its first six digits count, the seventh rounds), neither signed, each
 * at most AFK__USAGE_MAX (in millionths for the cost).  A field of
 * another name=value is ignored, so that a wrapper may print more; a
 * known field given twice, with a bad value, or anything that is no
 * name=value refuses the whole line.  Returns 1 with *inc set (an
 * absent field 0), 0 when the line is no usage line, or AFK_EPARSE when
 * it is a refused one (*inc zeroed either way). */
int afk__usage_parse_line(const char *line, size_t n, afk__usage *inc);

/* The AFK_PHASE_* of one line of an agent's output (n bytes, no
 * newline), "AFK-PHASE: tests-red", "green" or "pushed", or -1 when it
 * is no phase line.  The names are exact; trailing blanks and a CR are
 * forgiven.  Shared by the agents that read a log (command, kubernetes). */
int afk__phase_parse_line(const char *line, size_t n);

/* sum += inc, each figure stopping at AFK__USAGE_MAX; negative figures
 * of inc add nothing. */
void afk__usage_add(afk__usage *sum, const afk__usage *inc);

#endif
