/*
 * lib/core/lifecycle.h - the run's state machine, the pure core of the watch
 * tick.  Internal.  No I/O, no clock: the time is an argument.
 */
#ifndef AFK_LIB_LIFECYCLE_H
#define AFK_LIB_LIFECYCLE_H

#include "afk/run.h"

/* What the watch tick knows of one run, assembled from the agent's
 * snapshot, the CI adapter and the run's record. */
typedef struct afk__run_state {
	int agent;              /* AFK_AGENT_* */
	int phase;              /* the latest AFK_PHASE_* the agent reported (0..3) */
	int recorded_phase;     /* the phase the checklist shows now (0..5) */
	int pr;                 /* AFK_PR_* */
	int ci;                 /* AFK_STATUS_* of the PR's head */
	int deploy;             /* AFK_STATUS_* */
	int attempts;           /* fix-forwards used so far */
	int answered;           /* the current failure got its fix-forward already */
	long long changed_at;   /* last progress (dispatch, phase, new head,
	                           the agent's output) */
	long long activity;     /* the agent's last output, from its
	                           snapshot; 0: unknown */
	long long ci_since;     /* when CI went pending (ci == PENDING) */
	long long deploy_since; /* when the deploy went pending */
	long long tokens;       /* the run's usage so far, tokens in + out */
	long long cost_microusd; /* and its cost; 0: none reported */
} afk__run_state;

typedef struct afk__lifecycle_cfg {
	int deploy_stage;       /* 0: merged + green CI is the end */
	int budget;             /* fix-forwards allowed (default 2) */
	long long stall_timeout;  /* seconds without progress */
	long long ci_timeout;     /* seconds CI may stay pending */
	long long deploy_timeout; /* seconds a deploy may stay pending */
	long long max_tokens;     /* the run's cost budget; 0: no cap */
	long long max_cost_microusd; /* 0: no cap */
} afk__lifecycle_cfg;

typedef struct afk__decision {
	int action;             /* AFK_ACTION_* */
	int reason;             /* AFK_ESCALATE_* when action is ESCALATE, else 0 */
	int refresh;            /* WAIT: the checklist's phase moved */
} afk__decision;

/* The phase a person sees: the furthest of what the agent reported, the
 * PR (pushed), CI success (CI) and a successful deploy (deployed). */
int afk__lifecycle_phase(const afk__run_state *s,
                         const afk__lifecycle_cfg *c);

/* 1 when now - since > timeout, computed without overflow whatever the
 * three hold (a record's times come from a comment anyone may edit):
 * every deadline is judged by it. */
int afk__lifecycle_past(long long now, long long since, long long timeout);

/* The last progress time once the agent's activity is counted: activity
 * later than changed_at moves it, to now at the latest (a clock that
 * starts in the future would hold the stall deadline off); an earlier
 * or unknown (0) activity leaves it. */
long long afk__lifecycle_progress(long long changed_at, long long activity,
                                  long long now);

/* The one action for s at time now.  See lifecycle.c for the rules. */
afk__decision afk__lifecycle_next(const afk__run_state *s,
                                  const afk__lifecycle_cfg *c,
                                  long long now);

/* When the decision for s changes if nothing but the clock moves on. */
typedef struct afk__deadline {
	long long at;           /* the first time after now it differs */
	afk__decision becomes;  /* what afk__lifecycle_next() says from then */
	int none;               /* 1: it never changes (at and becomes 0) */
} afk__deadline;

/* The next deadline of s after now: the first time t > now at which
 * afk__lifecycle_next(s, c, t) differs (in action or reason) from
 * afk__lifecycle_next(s, c, now), and what it becomes.  Only the clock
 * moves decisions on, and only at the three timeouts, so it always
 * becomes an escalation.  Pure, like afk__lifecycle_next(). */
afk__deadline afk__lifecycle_deadline(const afk__run_state *s,
                                      const afk__lifecycle_cfg *c,
                                      long long now);
/* Whether a human took the run back, from the state as the
 * tracker reports it: 0 (go on) or the AFK_STOP_* reason.  closed: the
 * issue is closed; in_progress, ready: it carries those labels; human:
 * it carries the human label and did not when the run started.  A
 * closed issue stops only while it holds the lock (in_progress); the
 * caller tells an unlocked run from a dispatch that never got its lock
 * by the run's record. */
int afk__lifecycle_stop(int closed, int in_progress, int ready, int human);

#endif
