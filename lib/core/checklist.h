/*
 * lib/core/checklist.h - the run's record and the progress checklist that
 * carries it.  Internal, pure.
 *
 * Ticks keep no state: what the watch tick must remember of a run lives
 * in the one comment the library owns on the issue, as JSON in a hidden
 * HTML comment on its first line, followed by the checklist a person
 * reads.  The tracker finds that comment by the marker and edits it in
 * place.
 */
#ifndef AFK_LIB_CHECKLIST_H
#define AFK_LIB_CHECKLIST_H

#include "core/usage.h"
#include "core/util.h"

/* Finds the comment: the text every record starts with. */
#define AFK__RECORD_MARKER "<!-- afk-run:"

/* The highest generation of an issue's runs: a record holding more was
 * edited by hand, and is read as this. */
#define AFK__GENERATION_MAX 1000000

/* A run that is CLOSED or ESCALATED is over: the issue made ready again
 * starts the next generation, with a fresh agent thread. */
enum afk__run_status {
	AFK__RUN_ACTIVE = 0,
	AFK__RUN_CLOSED = 1,     /* closing: close the issue, drop the lock */
	AFK__RUN_ESCALATED = 2,  /* escalating: relabel, notify, drop the lock */
	AFK__RUN_STOPPED = 3     /* a human took it back: stop the agent,
	                            drop the lock */
};

/* How the agent's stop went (afk__record.agent_stop). */
enum afk__agent_stop {
	AFK__AGENT_STOP_PENDING = 0,  /* not asked yet, or the ask failed */
	AFK__AGENT_STOP_DONE = 1,     /* the agent's stop succeeded */
	AFK__AGENT_STOP_NONE = 2      /* the agent has no stop, or no thread */
};

typedef struct afk__record {
	char *thread;           /* the agent's thread id; "" when unknown */
	int attempts;           /* fix-forwards used */
	int phase;              /* AFK_PHASE_* the checklist shows */
	long long changed_at;   /* last progress; 0: no watch tick saw it yet */
	long long started_at;   /* when a watch tick first saw the run; 0:
	                           none has (or the record predates it) */
	long long ci_since;     /* when CI went pending */
	long long deploy_since; /* when the deploy went pending */
	int ci;                 /* AFK_STATUS_* last seen */
	int deploy;             /* AFK_STATUS_* last seen */
	char *head;             /* the PR head last seen, or NULL */
	char *pr;               /* which PR that is, "#N (author, branch B)",
	                           or NULL */
	char *answered_head;    /* the head the last fix-forward answered */
	afk__strv failing;      /* failing checks last seen */
	afk__strv failing_urls; /* their addresses, "" when none */
	int turn_pending;       /* a fix-forward recorded, its turn not sent */
	int status;             /* enum afk__run_status */
	int reason;             /* AFK_ESCALATE_* when escalated */
	int notify_pending;     /* escalated, the human not told yet */
	int stop;               /* AFK_STOP_* when STOPPED */
	long long stopped_at;   /* when the stop was decided */
	int stop_pending;       /* stopping: the agent's stop or the final
	                           record not done yet */
	int agent_stop;         /* enum afk__agent_stop, when STOPPED */
	int human_before;       /* the human label was on when the watch
	                           first saw the run: it stops nothing */
	int generation;         /* which run of the issue this is, from 1
	                           (a record without one is of the first);
	                           0 reads as 1 */
	long long tokens_in;    /* the run's usage as its agent reported it */
	long long tokens_out;   /* (all turns), each 0 .. AFK__USAGE_MAX; */
	long long cost_microusd; /* 0: none reported */
	/* agent_stop is kept for an escalation for the budget too: its
	 * agent is stopped once */
	char *why;              /* escalated for its agent's state: what the
	                           agent said of it (one line, at most
	                           AFK__WHY_MAX bytes), or NULL */
} afk__record;

/* The longest "why" kept, with its NUL. */
#define AFK__WHY_MAX 160

/* The caps the checklist shows beside the usage; 0: none. */
typedef struct afk__usage_cap {
	long long tokens;        /* tokens in + out */
	long long cost_microusd;
} afk__usage_cap;

void afk__record_clear(afk__record *r);
/* A deep copy; AFK_ENOMEM leaves dst untouched. */
int afk__record_copy(afk__record *dst, const afk__record *src);
/* Replaces *field by a copy of value (NULL allowed). */
int afk__record_set_str(char **field, const char *value);

/* Sets r->why to why made fit: one line (afk__one_line()), at most
 * AFK__WHY_MAX bytes, no backquote (it is shown in a code span); NULL or
 * "" clears it.  AFK_ENOMEM leaves it as it was. */
int afk__record_why(afk__record *r, const char *why);

/* Takes a snapshot's usage into r: each figure only grows (the larger
 * of the recorded and the reported one is kept), and one not known
 * (-1) or out of range changes nothing. */
void afk__record_usage(afk__record *r, long long tokens_in,
                       long long tokens_out, long long cost_microusd);

/* Reads the record out of a comment body.  AFK_EPARSE when body has no
 * marker or its JSON is malformed; *r is then left cleared. */
int afk__record_parse(const char *body, afk__record *r);

/* The whole comment body for r: the hidden record line, then the
 * checklist.  NULL when memory ran out; the caller frees it. */
char *afk__checklist_render(const afk__record *r, const char *repo,
                            long number, int deploy_stage, int budget);
/* The same, showing cap (NULL: none) on the usage line. */
char *afk__checklist_render_capped(const afk__record *r, const char *repo,
                                   long number, int deploy_stage, int budget,
                                   const afk__usage_cap *cap);

/* 1 when the record, found on an issue that carries no lock, is of a
 * run a human took back whose stop is not finished: active and seen by
 * a watch tick (a dispatch that never got its lock was not), or
 * stopping.  Such an issue must not be dispatched again. */
int afk__record_stopping(const afk__record *r);

/* A static English phrase for an AFK_STOP_* reason. */
const char *afk__stop_str(int reason);

/* A static English phrase for an AFK_ESCALATE_* reason. */
const char *afk__escalation_str(int reason);

#endif
