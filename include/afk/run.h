/*
 * afk/run.h - the states of a run, as adapters report them and as the
 * watch tick decides on them.
 */
#ifndef AFK_RUN_H
#define AFK_RUN_H

#include <afk/common.h>

/* What an agent thread is doing (afk_call_set_agent_state()). */
#define AFK_AGENT_RUNNING 1          /* a turn is running */
#define AFK_AGENT_COMPLETED 2        /* the last turn completed */
#define AFK_AGENT_INTERRUPTED 3      /* the last turn was interrupted */
#define AFK_AGENT_ERRORED 4          /* the turn or the session failed */
#define AFK_AGENT_STOPPED 5          /* the session was stopped */
#define AFK_AGENT_WAITING_APPROVAL 6 /* it waits on a human's approval */
#define AFK_AGENT_WAITING_INPUT 7    /* it waits on a human's answer */
#define AFK_AGENT_GONE 8             /* the thread no longer exists */

/* The phases of a run, in order.  The agent reports the first four by
 * printing "AFK-PHASE: <name>" lines (tests-red, green, pushed); CI and
 * deployed come from the CI adapter. */
#define AFK_PHASE_DISPATCHED 0
#define AFK_PHASE_TESTS_RED 1
#define AFK_PHASE_GREEN 2
#define AFK_PHASE_PUSHED 3
#define AFK_PHASE_CI 4
#define AFK_PHASE_DEPLOYED 5

/* The pull request of an issue (afk_call_set_pr()). */
#define AFK_PR_NONE 0
#define AFK_PR_OPEN 1
#define AFK_PR_MERGED 2

/* The state of CI on the pull request's head, and of the deploy. */
#define AFK_STATUS_NONE 0
#define AFK_STATUS_PENDING 1
#define AFK_STATUS_SUCCESS 2
#define AFK_STATUS_FAILURE 3

/* What the watch tick does with a run: exactly one per run and tick. */
#define AFK_ACTION_WAIT 1         /* nothing decisive: maybe refresh */
#define AFK_ACTION_CLOSE 2        /* done: close the issue */
#define AFK_ACTION_FIX_FORWARD 3  /* send a corrective turn */
#define AFK_ACTION_ESCALATE 4     /* hand it to a human */
#define AFK_ACTION_STOP 5         /* a human took the run back: stop it */

/* Why a run is escalated. */
#define AFK_ESCALATE_AGENT_FAILED 1    /* the agent errored */
#define AFK_ESCALATE_AGENT_STOPPED 2   /* stopped, interrupted, or done without a PR */
#define AFK_ESCALATE_AGENT_WAITING 3   /* it waits on a human */
#define AFK_ESCALATE_STALLED 4         /* no progress before the stall deadline */
#define AFK_ESCALATE_CI_FAILED 5       /* CI fails after the last fix-forward */
#define AFK_ESCALATE_DEPLOY_FAILED 6   /* deploy fails after the last fix-forward */
#define AFK_ESCALATE_CI_TIMEOUT 7      /* CI pending past its deadline */
#define AFK_ESCALATE_DEPLOY_TIMEOUT 8  /* deploy pending past its deadline */
#define AFK_ESCALATE_NO_RECORD 9       /* in progress, but no run record */
#define AFK_ESCALATE_AGENT_GONE 10     /* the agent's thread no longer exists */
#define AFK_ESCALATE_BUDGET 11         /* over its cost budget (since 1.1) */

/* Why a run is stopped (AFK_ACTION_STOP): what a human did on the
 * tracker while the agent worked.  Only the state and labels
 * as the tracker reports them count, never its text. */
#define AFK_STOP_CLOSED 1         /* the issue was closed */
#define AFK_STOP_HUMAN_LABEL 2    /* it got the human label */
#define AFK_STOP_UNLOCKED 3       /* it lost the in-progress or ready label */

#endif /* AFK_RUN_H */
