/*
 * afk/poller.h - the poll tick.
 *
 * One run reads the ready issues of the allowlisted repositories, picks at
 * most one per repository, dispatches each pick to the agent and only
 * then stamps the in-progress label that locks its repository.  The tick
 * keeps no state between runs: the tracker is the source of truth.
 */
#ifndef AFK_POLLER_H
#define AFK_POLLER_H

#include <afk/common.h>
#include <afk/adapter.h>
#include <afk/config.h>
#include <afk/issue.h>
#include <afk/skip.h> /* AFK_SKIP_*: why an issue was not dispatched */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afk_poller afk_poller;
typedef struct afk_result afk_result;

/* Makes a poller over tracker and agent, which it borrows: they must
 * outlive it.  Free it with afk_poller_free(). */
AFK_EXTERN int afk_poller_new(afk_poller **out, afk_tracker *tracker,
                              afk_agent *agent);

/* Frees a poller; NULL is a no-op.  Not from inside its own tick. */
AFK_EXTERN void afk_poller_free(afk_poller *poller);

/* Runs one poll tick with cfg.  When the tracker has an upsert_comment
 * callback, each dispatch's first run record (its thread id) is written
 * as the issue's checklist comment between the dispatch and the label,
 * for the watch tick (afk_watcher_new(3)); the label is stamped even when
 * that write fails.
 * One repository's fault does not stop the others: a repository that
 * could not be listed (afk_call_add_error()), a failed dispatch, label or
 * record is recorded in the result (afk_result_error_count()) and the
 * tick goes on; a dispatch failing with AFK_EUNAVAIL ends the dispatching
 * for this tick (the other picks are AFK_SKIP_AGENT_UNAVAILABLE).  Only a
 * list_ready that fails whole or AFK_ENOMEM stops the tick.
 * On return *result holds what the tick did and is freed with
 * afk_result_free(); it is NULL only when the tick did not start
 * (AFK_EINVAL, AFK_ERECURSIVE, or AFK_ENOMEM before anything was done).
 * Returns 0, or the first recorded failure's code - the failing
 * callback's (list, dispatch or record), AFK_ELABEL (a label failed after
 * its dispatch) or another AFK_E* code - with its message on the poller;
 * AFK_ENOMEM when memory ran out. */
AFK_EXTERN int afk_poller_run_once(afk_poller *poller, const afk_config *cfg,
                                   afk_result **result);

/* The message of the last failure on poller ("" when none). */
AFK_EXTERN const char *afk_poller_errmsg(const afk_poller *poller);

/* Frees a result; NULL is a no-op. */
AFK_EXTERN void afk_result_free(afk_result *result);

/* The dispatches made, in order; issue and thread id live as long as the
 * result. */
AFK_EXTERN size_t afk_result_dispatched_count(const afk_result *result);
AFK_EXTERN const afk_issue *afk_result_dispatched_issue(const afk_result *result,
                                                       size_t i);
AFK_EXTERN const char *afk_result_dispatched_thread(const afk_result *result,
                                                    size_t i);

/* The listed issues not dispatched, in the tracker's order, each with an
 * AFK_SKIP_* reason (0 when i is out of range). */
AFK_EXTERN size_t afk_result_skipped_count(const afk_result *result);
AFK_EXTERN const char *afk_result_skipped_repo(const afk_result *result,
                                               size_t i);
AFK_EXTERN long afk_result_skipped_number(const afk_result *result, size_t i);
AFK_EXTERN int afk_result_skipped_reason(const afk_result *result, size_t i);

/* The listing at once, for a host that keeps what its list_ready
 * handed over: the number of issues listed, and for the first n of them
 * (at most that number), in the order listed, out[i] = the AFK_SKIP_*
 * reason of listed issue i, or 0 when it was not skipped (dispatched,
 * or the tick stopped before judging it).  out may be NULL when n is 0.
 * afk_result_dispatches() is the same for the dispatches: it returns
 * their number and, for the first n of them, in the order made, sets
 * index[k] to the dispatched issue's position in the listing and
 * thread[k] to its thread id (living as long as the result); either
 * array may be NULL. */
AFK_EXTERN size_t afk_result_reasons(const afk_result *result, int *out,
                                     size_t n);
AFK_EXTERN size_t afk_result_dispatches(const afk_result *result,
                                        size_t *index, const char **thread,
                                        size_t n);

/* The failures the tick reported and went on from (a repository that
 * could not be listed, a dispatch or a label that failed), and the one
 * that stopped it, in the order met.  For the i-th: its repository (""
 * for a failure of no one repository), the issue (0 for a whole
 * repository), its code (a negative AFK_E* or the callback's own) and
 * message.  NULL, 0, 0 and NULL when i is out of range; the strings live
 * as long as the result. */
AFK_EXTERN size_t afk_result_error_count(const afk_result *result);
AFK_EXTERN const char *afk_result_error_repo(const afk_result *result,
                                             size_t i);
AFK_EXTERN long afk_result_error_number(const afk_result *result, size_t i);
AFK_EXTERN int afk_result_error_code(const afk_result *result, size_t i);
AFK_EXTERN const char *afk_result_error_message(const afk_result *result,
                                                size_t i);

/* A static English phrase for an AFK_SKIP_* reason; never NULL. */
AFK_EXTERN const char *afk_skip_reason_str(int reason);

#ifdef __cplusplus
}
#endif

#endif /* AFK_POLLER_H */
