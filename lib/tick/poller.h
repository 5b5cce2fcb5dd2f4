/*
 * lib/tick/poller.h - the poll tick's handles.  Internal.
 */
#ifndef AFK_LIB_POLLER_H
#define AFK_LIB_POLLER_H

#include "afk/poller.h"
#include "core/adapter.h"
#include "core/issue.h"

struct afk_poller {
	afk_tracker *tracker;   /* borrowed */
	afk_agent *agent;       /* borrowed */
	int in_tick;            /* refuses re-entry from a callback */
	char errmsg[AFK__ERRMSG_SIZE];
};

struct afk_result {
	afk__iset set;          /* every issue the tracker listed */
	uint8_t *reason;        /* per issue of set: 0 dispatched, AFK_SKIP_* */
	afk_issue **issues;     /* the dispatches, in order */
	char **threads;
	size_t *listed_at;      /* per dispatch: its index in set */
	size_t ndispatched;
	size_t *skipped;        /* indexes into set, tracker order */
	size_t nskipped;
	afk__errv errors;       /* what failed, the tick going on or not */
	int stopped;            /* the last of errors stopped the tick */
};

#endif
