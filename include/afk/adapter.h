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

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afk_call afk_call;
typedef struct afk_tracker afk_tracker;
typedef struct afk_agent afk_agent;

/* Called once when userdata is replaced or its adapter freed. */
typedef void (*afk_destroy_fn)(void *userdata);

/* Tracker: list the open issues carrying the ready label or the
 * in-progress label in the nrepos repositories named by repos, adding
 * each with afk_call_add_issue().  The in-progress ones are the locks:
 * an issue that lost its ready label while an agent works on it must
 * still lock its repository. */
typedef int (*afk_list_ready_fn)(afk_call *call, const char *const *repos,
                                 size_t nrepos, void *userdata);

/* Tracker: add label to issue number of repo. */
typedef int (*afk_add_label_fn)(afk_call *call, const char *repo,
                                long number, const char *label,
                                void *userdata);

/* Agent: start a fresh thread working on issue number of repo with prompt
 * and report its id with afk_call_set_thread_id(). */
typedef int (*afk_dispatch_fn)(afk_call *call, const char *repo, long number,
                               const char *prompt, void *userdata);

/* Attaches a message to the failure the callback is about to return.
 * The message is copied. */
AFK_EXTERN int afk_call_set_error(afk_call *call, const char *message);

/* From a list_ready callback: hands the library a copy of issue. */
AFK_EXTERN int afk_call_add_issue(afk_call *call, const afk_issue *issue);

/* From a dispatch callback: reports the new thread's id (non-empty,
 * copied). */
AFK_EXTERN int afk_call_set_thread_id(afk_call *call, const char *thread_id);

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

/* Registers the built-in tracker that cfg's "tracker" key selects,
 * through the same functions as above.  AFK_ECONFIG when cfg selects
 * none; the message is on the tracker. */
AFK_EXTERN int afk_tracker_set_builtin(afk_tracker *tracker,
                                       const afk_config *cfg);

/* The message of the last failure on tracker ("" when none). */
AFK_EXTERN const char *afk_tracker_errmsg(const afk_tracker *tracker);

/* The agent handle, as the tracker's above. */
AFK_EXTERN int afk_agent_new(afk_agent **out);
AFK_EXTERN void afk_agent_free(afk_agent *agent);
AFK_EXTERN int afk_agent_set_userdata(afk_agent *agent, void *userdata,
                                      afk_destroy_fn destroy);
AFK_EXTERN int afk_agent_set_dispatch(afk_agent *agent, afk_dispatch_fn fn);
AFK_EXTERN int afk_agent_set_builtin(afk_agent *agent, const afk_config *cfg);
AFK_EXTERN const char *afk_agent_errmsg(const afk_agent *agent);

#ifdef __cplusplus
}
#endif

#endif /* AFK_ADAPTER_H */
