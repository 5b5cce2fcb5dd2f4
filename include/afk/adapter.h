/*
 * afk/adapter.h - the adapters a tick calls: a tracker and an agent.
 *
 * An adapter is an opaque handle with one registration function per
 * callback.  A callback receives an afk_call first, the call's arguments,
 * and the adapter's userdata last.  It returns 0 on success or a negative
 * code, which reaches the tick's caller unchanged; it may attach a message
 * with afk_call_set_error(), else the library writes one naming the
 * callback.  Results go back through the afk_call (afk_call_add_issue(),
 * afk_call_set_thread_id()).  An afk_call is valid only until its callback
 * returns.
 *
 * Calling a tick from inside one of its own callbacks is refused with
 * AFK_ERECURSIVE.  Handles are not thread-safe; distinct handles may be
 * used from distinct threads.
 */
#ifndef AFK_ADAPTER_H
#define AFK_ADAPTER_H

#include <afk/common.h>
#include <afk/config.h>
#include <afk/issue.h>
#include <afk/run.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afk_call afk_call;
typedef struct afk_tracker afk_tracker;
typedef struct afk_agent afk_agent;
typedef struct afk_ci afk_ci;
typedef struct afk_notifier afk_notifier;

/* The AFK_AGENT_*, AFK_PHASE_*, AFK_PR_* and AFK_STATUS_* values the
 * callbacks below report are in afk/run.h. */

/* Tracker: list the open issues carrying the ready label or the
 * in-progress label in the nrepos repositories named by repos, adding
 * each with afk_call_add_issue().  The in-progress ones are the locks:
 * an issue that lost its ready label while an agent works on it must
 * still lock its repository. */
typedef int (*afk_list_ready_fn)(afk_call *call, const char *const *repos,
                                 size_t nrepos, void *userdata);

/* Tracker: list the closed issues that still carry label (the
 * in-progress label) in the nrepos repositories named by repos, adding
 * each with afk_call_add_issue() (failures with afk_call_add_error(), as
 * list_ready).  The watch tick stops the runs of those issues and drops
 * their lock; a tracker without it leaves closed issues unreconciled.
 * Should be cheap when nothing changed (conditional requests). */
typedef int (*afk_list_closed_fn)(afk_call *call, const char *const *repos,
                                  size_t nrepos, const char *label,
                                  void *userdata);

/* Tracker: add label to issue number of repo. */
typedef int (*afk_add_label_fn)(afk_call *call, const char *repo,
                                long number, const char *label,
                                void *userdata);

/* Agent: start a fresh thread working on issue number of repo with prompt
 * and report its id with afk_call_set_thread_id(). */
typedef int (*afk_dispatch_fn)(afk_call *call, const char *repo, long number,
                               const char *prompt, void *userdata);

/* Tracker: close issue number of repo. */
typedef int (*afk_close_issue_fn)(afk_call *call, const char *repo,
                                  long number, void *userdata);

/* Tracker: remove label from issue number of repo; removing a label the
 * issue does not carry succeeds. */
typedef int (*afk_remove_label_fn)(afk_call *call, const char *repo,
                                   long number, const char *label,
                                   void *userdata);

/* Tracker: find the first comment of the issue whose body contains
 * marker AND that the tracker's own identity wrote, and report its body
 * with afk_call_set_comment(); report nothing when there is none.  A
 * comment anybody else wrote must never count: the record it carries
 * steers what the agent is told.  May report the issue's web address with
 * afk_call_set_url(), for notifications. */
typedef int (*afk_find_comment_fn)(afk_call *call, const char *repo,
                                   long number, const char *marker,
                                   void *userdata);

/* Tracker: replace the body of the first comment the tracker's own
 * identity wrote that contains marker with body, or add a comment with
 * body when there is none - never a second one. */
typedef int (*afk_upsert_comment_fn)(afk_call *call, const char *repo,
                                     long number, const char *marker,
                                     const char *body, void *userdata);

/* Agent: report the thread's state with afk_call_set_agent_state() and
 * the latest phase it reported with afk_call_set_phase(). */
typedef int (*afk_snapshot_fn)(afk_call *call, const char *thread_id,
                               void *userdata);

/* Agent: start a new turn on an existing thread with prompt. */
typedef int (*afk_send_turn_fn)(afk_call *call, const char *thread_id,
                                const char *prompt, void *userdata);

/* Agent: stop the thread thread_id working on issue number of repo -
 * a human took the run back.  Stopping a thread that is already
 * stopped, finished or gone succeeds: the watch tick may ask twice. */
typedef int (*afk_stop_fn)(afk_call *call, const char *repo, long number,
                           const char *thread_id, void *userdata);

/* CI: report the pull request of issue number of repo
 * (afk_call_set_pr()), the CI state of its head (afk_call_set_ci(),
 * afk_call_add_failing_check()) and the deploy state
 * (afk_call_set_deploy()).  Unreported states are AFK_PR_NONE and
 * AFK_STATUS_NONE. */
typedef int (*afk_ci_status_fn)(afk_call *call, const char *repo,
                                long number, void *userdata);

/* Notifier: tell a human that issue number of repo needs them; message
 * says why, link (maybe "") where to look. */
typedef int (*afk_notify_fn)(afk_call *call, const char *repo, long number,
                             const char *message, const char *link,
                             void *userdata);

/* Any adapter: check, read-only, that the endpoint is reachable and
 * accepts the adapter's credentials - no issue, thread, comment or
 * notification is created or changed.  Returns 0, or a negative code
 * with a message attached by afk_call_set_error(). */
typedef int (*afk_probe_fn)(afk_call *call, void *userdata);

/* Attaches a message to the failure the callback is about to return.
 * The message is copied. */
AFK_EXTERN int afk_call_set_error(afk_call *call, const char *message);

/* From a list_ready or list_closed callback: hands the library a copy
 * of issue. */
AFK_EXTERN int afk_call_add_issue(afk_call *call, const afk_issue *issue);
/* The same for n issues at once, in order: as n calls of
 * afk_call_add_issue(), in one call (a binding hands a whole listing
 * over with it).  issues may be NULL when n is 0. */
AFK_EXTERN int afk_call_add_issues(afk_call *call,
                                   const afk_issue *const *issues, size_t n);

/* From a list_ready callback: part of the listing failed.  number 0:
 * repository repo could not be listed - the tick dispatches nothing in
 * it (its locks are unknown) and reports the failure; number > 0: issue
 * number of repo could not be vetted - add it, if at all, as
 * AFK_TRUST_UNCHECKED; it is skipped as AFK_SKIP_UNVETTED.  code is the
 * negative AFK_E* (or the host's own) code; message is copied (NULL: a
 * generic one).  AFK_EINVAL from any other callback or for bad arguments
 * (repo NULL or "", number < 0, code >= 0). */
AFK_EXTERN int afk_call_add_error(afk_call *call, const char *repo,
                                  long number, int code,
                                  const char *message);

/* From a dispatch callback: reports the new thread's id (non-empty
 * UTF-8, copied; AFK_EINVAL otherwise). */
AFK_EXTERN int afk_call_set_thread_id(afk_call *call, const char *thread_id);

/* From a dispatch callback: the generation of the run it starts - 1 for
 * an issue's first run, one more each time the issue is made ready again
 * after its run ended (closed or handed to a human).  A thread of an
 * earlier generation belongs to a run that is over: the dispatch must
 * start a fresh one, never adopt it.  A dispatch that retries after an
 * interrupted one gets the same generation again, so it may take up the
 * thread it started then.  1 from any other callback. */
AFK_EXTERN int afk_call_generation(const afk_call *call);
/* From a dispatch callback: the generation the run was started as, when
 * the agent went past the one asked for (a thread of that generation
 * already held a finished run); it is recorded, so that the next run
 * starts past it.  AFK_EINVAL below afk_call_generation(), above
 * 1000000, or from another callback. */
AFK_EXTERN int afk_call_set_generation(afk_call *call, int generation);

/* From a find_comment callback: the comment's body and the issue's
 * address (both copied). */
AFK_EXTERN int afk_call_set_comment(afk_call *call, const char *body);
AFK_EXTERN int afk_call_set_url(afk_call *call, const char *url);

/* From a snapshot callback: an AFK_AGENT_* state and the latest
 * AFK_PHASE_* (DISPATCHED to PUSHED) the agent reported. */
AFK_EXTERN int afk_call_set_agent_state(afk_call *call, int state);
AFK_EXTERN int afk_call_set_phase(afk_call *call, int phase);
/* From a snapshot callback (since 1.1): the time of the agent's last
 * output, in seconds since the Epoch (> 0), from which the stall deadline
 * counts; and the thread's usage so far, all its turns together: tokens
 * in and out and the cost in millionths of a US dollar (each >= 0, -1
 * for one not known), against the run's budget.  AFK_EINVAL for bad
 * arguments or from another callback. */
AFK_EXTERN int afk_call_set_activity(afk_call *call, long long when);
AFK_EXTERN int afk_call_set_usage(afk_call *call, long long tokens_in,
                                  long long tokens_out,
                                  long long cost_microusd);

/* From a ci_status callback: the pull request (an AFK_PR_* state and the
 * commit id of its head, maybe NULL), the CI state of that head and the
 * deploy state (AFK_STATUS_*), and each failing check with its address
 * (maybe NULL), which the corrective turn names.  Strings must be UTF-8
 * (they are kept in the run record): AFK_EINVAL otherwise. */
AFK_EXTERN int afk_call_set_pr(afk_call *call, int state, const char *head);
/* From a ci_status callback, with a pull request set: which one it is -
 * its number (> 0), its author's login and its head branch (UTF-8,
 * either may be NULL) - so that the run's checklist can say which pull
 * request was taken ("#42 (afk-bot, branch afk/issue-7)").  Copied;
 * AFK_EINVAL for bad arguments or from another callback. */
AFK_EXTERN int afk_call_set_pr_info(afk_call *call, long number,
                                    const char *author, const char *branch);
AFK_EXTERN int afk_call_set_ci(afk_call *call, int state);
AFK_EXTERN int afk_call_add_failing_check(afk_call *call, const char *name,
                                          const char *url);
AFK_EXTERN int afk_call_set_deploy(afk_call *call, int state);

/* Makes a tracker with no callbacks.  Free it with afk_tracker_free(). */
AFK_EXTERN int afk_tracker_new(afk_tracker **out);

/* Frees a tracker, calling its userdata's destroy function; NULL is a
 * no-op.  A poller using it must be freed first. */
AFK_EXTERN void afk_tracker_free(afk_tracker *tracker);

/* Sets the userdata passed last to every callback; destroy (may be NULL)
 * is called on the previous userdata and on this one when the tracker is
 * freed. */
AFK_EXTERN int afk_tracker_set_userdata(afk_tracker *tracker, void *userdata,
                                        afk_destroy_fn destroy);
AFK_EXTERN int afk_tracker_set_list_ready(afk_tracker *tracker,
                                          afk_list_ready_fn fn);
AFK_EXTERN int afk_tracker_set_add_label(afk_tracker *tracker,
                                         afk_add_label_fn fn);
/* Optional: see afk_list_closed_fn. */
AFK_EXTERN int afk_tracker_set_list_closed(afk_tracker *tracker,
                                           afk_list_closed_fn fn);

AFK_EXTERN int afk_tracker_set_close_issue(afk_tracker *tracker,
                                           afk_close_issue_fn fn);
AFK_EXTERN int afk_tracker_set_remove_label(afk_tracker *tracker,
                                            afk_remove_label_fn fn);
AFK_EXTERN int afk_tracker_set_find_comment(afk_tracker *tracker,
                                            afk_find_comment_fn fn);
AFK_EXTERN int afk_tracker_set_upsert_comment(afk_tracker *tracker,
                                              afk_upsert_comment_fn fn);

/* Registers the built-in tracker that cfg's "tracker" key selects,
 * through the same functions as above; setting one callback afterwards
 * replaces that one only (the built-in's others keep their userdata).  AFK_ECONFIG when cfg selects
 * none; the message is on the tracker. */
AFK_EXTERN int afk_tracker_set_builtin(afk_tracker *tracker,
                                       const afk_config *cfg);

/* Registers the read-only probe (see afk_probe_fn). */
AFK_EXTERN int afk_tracker_set_probe(afk_tracker *tracker, afk_probe_fn fn);

/* Runs the probe callback: 0 when it succeeds, else its code with the
 * message on the tracker (afk_tracker_errmsg()); AFK_ENOTSUP, with a
 * message saying so, when no probe is registered. */
AFK_EXTERN int afk_tracker_probe(afk_tracker *tracker);

/* The message of the last failure on tracker ("" when none). */
AFK_EXTERN const char *afk_tracker_errmsg(const afk_tracker *tracker);

/* The agent handle, as the tracker's above. */
AFK_EXTERN int afk_agent_new(afk_agent **out);
AFK_EXTERN void afk_agent_free(afk_agent *agent);
AFK_EXTERN int afk_agent_set_userdata(afk_agent *agent, void *userdata,
                                      afk_destroy_fn destroy);
AFK_EXTERN int afk_agent_set_dispatch(afk_agent *agent, afk_dispatch_fn fn);
AFK_EXTERN int afk_agent_set_snapshot(afk_agent *agent, afk_snapshot_fn fn);
AFK_EXTERN int afk_agent_set_send_turn(afk_agent *agent,
                                       afk_send_turn_fn fn);
/* Optional: see afk_stop_fn.  Without it a stopped run is still
 * finalised and its lock dropped; its checklist says the agent could not
 * be stopped. */
AFK_EXTERN int afk_agent_set_stop(afk_agent *agent, afk_stop_fn fn);
AFK_EXTERN int afk_agent_set_builtin(afk_agent *agent, const afk_config *cfg);
AFK_EXTERN int afk_agent_set_probe(afk_agent *agent, afk_probe_fn fn);
AFK_EXTERN int afk_agent_probe(afk_agent *agent);
AFK_EXTERN const char *afk_agent_errmsg(const afk_agent *agent);

/* The CI adapter, as the tracker's above; its built-in is selected by
 * cfg's "ci" key. */
AFK_EXTERN int afk_ci_new(afk_ci **out);
AFK_EXTERN void afk_ci_free(afk_ci *ci);
AFK_EXTERN int afk_ci_set_userdata(afk_ci *ci, void *userdata,
                                   afk_destroy_fn destroy);
AFK_EXTERN int afk_ci_set_status(afk_ci *ci, afk_ci_status_fn fn);
AFK_EXTERN int afk_ci_set_builtin(afk_ci *ci, const afk_config *cfg);
AFK_EXTERN int afk_ci_set_probe(afk_ci *ci, afk_probe_fn fn);
AFK_EXTERN int afk_ci_probe(afk_ci *ci);
AFK_EXTERN const char *afk_ci_errmsg(const afk_ci *ci);

/* The notifier, as the tracker's above; its built-in is selected by
 * cfg's "notifier" key. */
AFK_EXTERN int afk_notifier_new(afk_notifier **out);
AFK_EXTERN void afk_notifier_free(afk_notifier *notifier);
AFK_EXTERN int afk_notifier_set_userdata(afk_notifier *notifier,
                                         void *userdata,
                                         afk_destroy_fn destroy);
AFK_EXTERN int afk_notifier_set_notify(afk_notifier *notifier,
                                       afk_notify_fn fn);
AFK_EXTERN int afk_notifier_set_builtin(afk_notifier *notifier,
                                        const afk_config *cfg);
AFK_EXTERN int afk_notifier_set_probe(afk_notifier *notifier,
                                      afk_probe_fn fn);
AFK_EXTERN int afk_notifier_probe(afk_notifier *notifier);
AFK_EXTERN const char *afk_notifier_errmsg(const afk_notifier *notifier);

#ifdef __cplusplus
}
#endif

#endif /* AFK_ADAPTER_H */
