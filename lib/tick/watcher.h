/*
 * lib/tick/watcher.h - the watch tick's handles.  Internal.
 */
#ifndef AFK_LIB_WATCHER_H
#define AFK_LIB_WATCHER_H

#include "afk/watcher.h"
#include "core/adapter.h"
#include "core/issue.h"

struct afk_watcher {
	afk_tracker *tracker;   /* borrowed, as are the three below */
	afk_agent *agent;
	afk_ci *ci;
	afk_notifier *notifier;
	int in_tick;            /* refuses re-entry from a callback */
	int agent_down;         /* this tick: the agent could not be reached */
	int ci_down;            /* this tick: the CI could not be reached */
	char errmsg[AFK__ERRMSG_SIZE];
};

/* What the tick did with one run. */
typedef struct afk__action {
	char *repo;
	long number;
	char *thread;
	int kind;               /* AFK_ACTION_* */
	int reason;             /* AFK_ESCALATE_* or 0 */
	int stop;               /* AFK_STOP_* or 0 */
	int phase;              /* AFK_PHASE_* shown after the action */
	int attempts;
	int updated;            /* the checklist comment was written */
	long long since;        /* the record's started_at, 0 when unknown */
	long long deadline;     /* WAIT: when the decision changes, or 0 */
	int deadline_reason;    /* AFK_ESCALATE_* it becomes then, or 0 */
	char *checklist;        /* its body after the action */
} afk__action;

struct afk_actions {
	afk__action *v;
	size_t n;
	size_t cap;
	afk__errv errors;       /* what failed, run by run, in order */
	int stopped;            /* the last of errors stopped the tick */
};

#endif
