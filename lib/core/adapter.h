/*
 * lib/core/adapter.h - adapter handles and the per-callback call.  Internal.
 */
#ifndef AFK_LIB_ADAPTER_H
#define AFK_LIB_ADAPTER_H

#include "afk/adapter.h"
#include "core/issue.h"
#include "core/util.h"

/* What a built-in does when a tick that used it ends: save its HTTP
 * cache once per tick (lib/net/http.h).  Set after the userdata it takes
 * (a new userdata clears it); not part of the public API, since a
 * host's adapter knows its own ticks. */
typedef void (*afk__tick_end_fn)(void *userdata);
void afk__tracker_set_tick_end(afk_tracker *tracker, afk__tick_end_fn fn);
void afk__agent_set_tick_end(afk_agent *agent, afk__tick_end_fn fn);
void afk__ci_set_tick_end(afk_ci *ci, afk__tick_end_fn fn);

/* Attaches a formatted message to call (through the public
 * afk_call_set_error()) and returns code, so that a built-in's failure
 * is one statement. */
int afk__call_failf(afk_call *call, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

struct afk_tracker {
	afk_list_ready_fn list_ready;
	afk_list_closed_fn list_closed;  /* may be NULL */
	afk_add_label_fn add_label;
	afk_close_issue_fn close_issue;
	afk_remove_label_fn remove_label;
	afk_find_comment_fn find_comment;
	afk_upsert_comment_fn upsert_comment;
	afk_probe_fn probe;
	void *userdata;
	afk_destroy_fn destroy;
	afk__tick_end_fn tick_end;
	char errmsg[AFK__ERRMSG_SIZE];
};

struct afk_agent {
	afk_dispatch_fn dispatch;
	afk_snapshot_fn snapshot;
	afk_send_turn_fn send_turn;
	afk_stop_fn stop;                /* may be NULL */
	afk_probe_fn probe;
	void *userdata;
	afk_destroy_fn destroy;
	afk__tick_end_fn tick_end;
	char errmsg[AFK__ERRMSG_SIZE];
};

struct afk_ci {
	afk_ci_status_fn status;
	afk_probe_fn probe;
	void *userdata;
	afk_destroy_fn destroy;
	afk__tick_end_fn tick_end;
	char errmsg[AFK__ERRMSG_SIZE];
};

struct afk_notifier {
	afk_notify_fn notify;
	afk_probe_fn probe;
	void *userdata;
	afk_destroy_fn destroy;
	char errmsg[AFK__ERRMSG_SIZE];
};

/* One failure a tick reported and went on from: a repository or an
 * issue that could not be listed, vetted, dispatched or locked. */
typedef struct afk__err {
	char *repo;          /* owned; "" for a failure of no one repository */
	long number;         /* 0: the whole repository */
	int code;            /* a negative AFK_E* or a host's own code */
	char *message;       /* owned */
} afk__err;

typedef struct afk__errv {
	afk__err *v;
	size_t n;
	size_t cap;
} afk__errv;

/* Appends a copy of the failure; AFK_ENOMEM leaves e unchanged. */
int afk__errv_add(afk__errv *e, const char *repo, long number, int code,
                  const char *message);
/* Frees every entry; leaves e empty and reusable. */
void afk__errv_clear(afk__errv *e);

enum afk__call_kind {
	AFK__CALL_LIST_READY,
	AFK__CALL_LIST_CLOSED,
	AFK__CALL_STOP,
	AFK__CALL_ADD_LABEL,
	AFK__CALL_DISPATCH,
	AFK__CALL_CLOSE_ISSUE,
	AFK__CALL_REMOVE_LABEL,
	AFK__CALL_FIND_COMMENT,
	AFK__CALL_UPSERT_COMMENT,
	AFK__CALL_SNAPSHOT,
	AFK__CALL_SEND_TURN,
	AFK__CALL_CI_STATUS,
	AFK__CALL_NOTIFY,
	AFK__CALL_PROBE
};

/* Lives on the tick's stack for the length of one callback. */
struct afk_call {
	enum afk__call_kind kind;
	char *message;       /* afk_call_set_error(), owned */
	afk__iset *issues;   /* list_ready: where afk_call_add_issue() adds */
	afk__errv *errors;   /* list_ready: where afk_call_add_error() adds */
	char *thread_id;     /* dispatch: afk_call_set_thread_id(), owned */
	int generation;      /* dispatch: the run's generation (1 ..
	                        AFK__GENERATION_MAX), 1 for other calls */
	char *comment;       /* find_comment: the body, owned */
	char *url;           /* find_comment: the issue's address, owned */
	int agent_state;     /* snapshot: AFK_AGENT_*, 0 until set */
	int phase;           /* snapshot: AFK_PHASE_* */
	long long activity;  /* snapshot: the last output's time, 0 unknown */
	int usage_set;       /* snapshot: afk_call_set_usage() was called */
	long long tokens_in, tokens_out, cost_microusd; /* -1: unknown */
	int pr;              /* ci_status: AFK_PR_* */
	char *head;          /* ci_status: the PR head, owned */
	char *pr_info;       /* ci_status: "#N (author, branch B)", owned */
	int ci;              /* ci_status: AFK_STATUS_* */
	int deploy;          /* ci_status: AFK_STATUS_* */
	afk__strv failing;   /* ci_status: failing check names */
	afk__strv failing_urls; /* ci_status: their addresses ("" if none) */
	int lost;            /* an output the callback handed in was lost */
};

/* Calls tracker's list_ready with repos, adding what it lists to set
 * and the parts it could not list (afk_call_add_error()) to errors; the
 * tick's code, with errbuf "<what>: ..." when the whole list failed. */
int afk__tracker_list(afk_tracker *tracker, const afk__strv *repos,
                      afk__iset *set, afk__errv *errors, const char *what,
                      char *errbuf);

/* The same for the tracker's list_closed (which must be set): the
 * closed issues carrying label. */
int afk__tracker_list_closed(afk_tracker *tracker, const afk__strv *repos,
                             const char *label, afk__iset *set,
                             afk__errv *errors, const char *what,
                             char *errbuf);

/* Ends a tick for its adapters (NULL: not used by the tick): each
 * built-in's tick_end runs once, with its userdata. */
void afk__adapters_tick_end(afk_tracker *tracker, afk_agent *agent,
                            afk_ci *ci);

void afk__call_init(afk_call *call, enum afk__call_kind kind,
                    afk__iset *issues);
void afk__call_clear(afk_call *call);

/* Turns what a callback returned into the tick's code and message.  A
 * negative rc passes through unchanged; a positive one breaks the
 * contract (AFK_ECALLBACK); 0 with a lost output is AFK_ENOMEM.  On
 * failure errbuf gets "<what>: <the callback's message>", or a generic
 * message naming the callback when it attached none. */
int afk__call_finish(afk_call *call, int rc, const char *what, char *errbuf);

#endif
