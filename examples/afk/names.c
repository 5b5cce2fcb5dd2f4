/*
 * examples/afk/names.c - stable names of the library's codes; see
 * names.h.  A code the library adds shows as "unknown" until it is
 * named here.
 */
#include "names.h"

#include <stdio.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const skip[] = {
	"not-allowlisted", "in-progress", "untrusted", "blocked", "locked",
	"outranked", "dispatch-failed", "not-reached", "repo-failed",
	"unvetted", "agent-unavailable", "stopping", "capped"
};
static const char *const escalation[] = {
	"agent-failed", "agent-stopped", "agent-waiting", "stalled",
	"ci-failed", "deploy-failed", "ci-timeout", "deploy-timeout",
	"no-record", "agent-gone", "budget"
};
static const char *const stop[] = {"closed", "human-label", "unlocked"};
static const char *const phase[] = {
	"dispatched", "tests-red", "green", "pushed", "ci", "deployed"
};

const names names_skip = {skip, COUNT(skip), 1};
const names names_escalation = {escalation, COUNT(escalation), 1};
const names names_stop = {stop, COUNT(stop), 1};
const names names_phase = {phase, COUNT(phase), 0};

const char *name_of(const names *t, int code)
{
	return code >= t->first && (size_t)(code - t->first) < t->n ?
	       t->v[code - t->first] : "unknown";
}

const char *label_of(const names *t, int code, char *buf, size_t size)
{
	char *p;

	snprintf(buf, size, "%s", name_of(t, code));
	for (p = buf; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	return buf;
}
