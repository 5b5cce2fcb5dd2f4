/*
 * afk/watcher.h - the watch tick.
 *
 * For each run in progress in the allowlisted repositories, one run of
 * the watch tick reads the run's record from its checklist comment, the
 * agent thread's snapshot and the CI and deploy state of its pull
 * request; a pure state machine picks exactly one action - wait, close,
 * fix forward or escalate - and the tick carries it out.  Before that it
 * reconciles what humans did: a run whose issue was closed (with a
 * tracker that lists closed issues), got the human label or lost the
 * in-progress or ready label is stopped (AFK_ACTION_STOP).  The tick keeps
 * no state: a tick after a restart carries on from the record, and
 * running the same tick twice on the same tracker state performs each
 * action once.
 */
#ifndef AFK_WATCHER_H
#define AFK_WATCHER_H

#include <afk/common.h>
#include <afk/adapter.h>
#include <afk/config.h>
#include <afk/run.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afk_watcher afk_watcher;
typedef struct afk_actions afk_actions;

/* Makes a watcher over the four adapters, which it borrows: they must
 * outlive it.  Free it with afk_watcher_free(). */
AFK_EXTERN int afk_watcher_new(afk_watcher **out, afk_tracker *tracker,
                               afk_agent *agent, afk_ci *ci,
                               afk_notifier *notifier);

/* Frees a watcher; NULL is a no-op.  Not from inside its own tick. */
AFK_EXTERN void afk_watcher_free(afk_watcher *watcher);

/* Runs one watch tick with cfg at time now (seconds since the epoch: the
 * library reads no clock).  *actions is set as by afk_poller_run_once():
 * what was done, also when the tick failed part-way.  Returns 0, the
 * failing callback's code, or another AFK_E* code; the message, on the
 * watcher, names the issue and the step. */
AFK_EXTERN int afk_watcher_run_once(afk_watcher *watcher,
                                    const afk_config *cfg, long long now,
                                    afk_actions **actions);

/* The message of the last failure on watcher ("" when none). */
AFK_EXTERN const char *afk_watcher_errmsg(const afk_watcher *watcher);

/* The actions of one watch tick, one per run watched, in the tracker's
 * order.  Strings live as long as the actions. */
AFK_EXTERN void afk_actions_free(afk_actions *actions);
AFK_EXTERN size_t afk_actions_count(const afk_actions *actions);
AFK_EXTERN const char *afk_actions_repo(const afk_actions *actions, size_t i);
AFK_EXTERN long afk_actions_number(const afk_actions *actions, size_t i);
/* The agent thread ("" when the run has no record). */
AFK_EXTERN const char *afk_actions_thread(const afk_actions *actions,
                                          size_t i);
/* AFK_ACTION_*, or 0 when i is out of range. */
AFK_EXTERN int afk_actions_kind(const afk_actions *actions, size_t i);
/* AFK_ESCALATE_* for an escalation, else 0. */
AFK_EXTERN int afk_actions_reason(const afk_actions *actions, size_t i);
/* AFK_STOP_* for a stop (AFK_ACTION_STOP), else 0. */
AFK_EXTERN int afk_actions_stop_reason(const afk_actions *actions, size_t i);
/* The AFK_PHASE_* the checklist shows after the action. */
AFK_EXTERN int afk_actions_phase(const afk_actions *actions, size_t i);
/* Fix-forward attempts used after the action. */
AFK_EXTERN int afk_actions_attempts(const afk_actions *actions, size_t i);
/* 1 when the tick wrote the checklist comment for this run. */
AFK_EXTERN int afk_actions_updated(const afk_actions *actions, size_t i);
/* When the run started, as the watch tick that first saw it recorded
 * (seconds since the epoch: the base of its age); 0 when unknown. */
AFK_EXTERN long long afk_actions_since(const afk_actions *actions,
                                       size_t i);
/* For a run left waiting: the first time at which the watch tick would
 * decide otherwise if nothing but the clock moved on (a stall, CI or
 * deploy deadline), and the AFK_ESCALATE_* it would escalate for then.
 * Both 0 when no deadline applies (the run was acted on, or nothing
 * will time out). */
AFK_EXTERN long long afk_actions_deadline(const afk_actions *actions,
                                          size_t i);
AFK_EXTERN int afk_actions_deadline_reason(const afk_actions *actions,
                                           size_t i);
/* The checklist comment's body as the tick left it. */
AFK_EXTERN const char *afk_actions_checklist(const afk_actions *actions,
                                             size_t i);

/* The failures of the tick, in the order met: each run that failed (the
 * tick went on with the others), each part of the listing the tracker
 * could not read (afk_call_add_error()), and the failure that stopped
 * the tick, if any (repository "").  As afk_result_error_count() and
 * the rest: NULL, 0, 0 and NULL when i is out of range. */
AFK_EXTERN size_t afk_actions_error_count(const afk_actions *actions);
AFK_EXTERN const char *afk_actions_error_repo(const afk_actions *actions,
                                              size_t i);
AFK_EXTERN long afk_actions_error_number(const afk_actions *actions,
                                         size_t i);
AFK_EXTERN int afk_actions_error_code(const afk_actions *actions, size_t i);
AFK_EXTERN const char *afk_actions_error_message(const afk_actions *actions,
                                                 size_t i);

/* Static English names of an AFK_ACTION_*, an AFK_ESCALATE_* and an
 * AFK_STOP_*. */
AFK_EXTERN const char *afk_action_str(int action);
AFK_EXTERN const char *afk_escalation_str(int reason);
AFK_EXTERN const char *afk_stop_str(int reason);

#ifdef __cplusplus
}
#endif

#endif /* AFK_WATCHER_H */
