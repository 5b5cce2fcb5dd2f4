/*
 * examples/afk/names.h - stable names of the library's codes, for the
 * afk command's --json events and its metrics' labels.
 *
 * The English phrases (afk_skip_reason_str() and its kin) may be
 * reworded; these names may not: scripts and alerts match them.  JSON
 * spells them with hyphens ("agent-unavailable"), the metrics' label
 * values with underscores ("agent_unavailable"), as each world does;
 * both come from the one table here.
 */
#ifndef AFK_CLI_NAMES_H
#define AFK_CLI_NAMES_H

#include <stddef.h>

/* The names of one kind of code: v[0] names code first, and so on. */
typedef struct names {
	const char *const *v;
	size_t n;
	int first;
} names;

extern const names names_skip;       /* AFK_SKIP_*, from 1 */
extern const names names_escalation; /* AFK_ESCALATE_*, from 1 */
extern const names names_stop;       /* AFK_STOP_*, from 1 */
extern const names names_phase;      /* AFK_PHASE_*, from 0 */

/* The name of code in t, or "unknown" when t has none. */
const char *name_of(const names *t, int code);

/* The same with '_' for '-' in buf (size bytes), which it returns. */
const char *label_of(const names *t, int code, char *buf, size_t size);

#endif
