/*
 * tests/fakes.h - an in-memory tracker and agent that count their calls,
 * check the magic of their userdata and fail on demand.
 */
#ifndef AFK_TESTS_FAKES_H
#define AFK_TESTS_FAKES_H

#include <afk/afk.h>
#include <check.h>

#define FAKE_MAGIC 0xAF6B1E55u
#define FAKE_MAX 256

typedef struct fake_event {
	char kind;        /* 'L' list_ready, 'A' add_label, 'D' dispatch,
	                   * 'C' close_issue, 'R' remove_label, 'F' find_comment,
	                   * 'U' upsert_comment, 'S' snapshot, 'T' send_turn,
	                   * 'I' ci_status, 'N' notify, 'Q' list_closed,
	                   * 'X' stop (its thread in prompt) */
	char repo[128];
	long number;
	char label[64];
	char prompt[4096];
} fake_event;

typedef struct fake {
	unsigned magic;
	afk_issue *issues[FAKE_MAX];  /* what list_ready returns */
	size_t nissues;

	int list_calls;
	char repos_seen[FAKE_MAX][128];
	size_t nrepos_seen;
	int list_rc;                  /* returned by list_ready */
	const char *list_msg;         /* attached when list_rc != 0 */
	struct {                      /* reported with afk_call_add_error() */
		const char *repo;     /* before the issues are listed */
		long number;
		int code;
		const char *msg;
	} list_err[8];
	size_t nlist_err;

	int label_calls;
	int label_fail_at;            /* 1-based call that fails; 0 none */
	int label_rc;

	int dispatch_calls;
	int dispatch_fail_at;         /* 1-based call that fails; 0 none */
	int dispatch_rc;
	const char *dispatch_msg;     /* attached when failing; NULL: none */
	int no_thread_id;             /* dispatch returns 0 without an id */
	int dispatch_gen;             /* afk_call_generation() of the last
	                               * dispatch; its thread is
	                               * thread-<repo>-<n>, -<gen> past 1 */

	fake_event events[FAKE_MAX];  /* every call, in order */
	size_t nevents;

	afk_poller *reenter;          /* when set, list_ready re-enters it */
	const afk_config *reenter_cfg;
	int reenter_rc;
	afk_config *mutate_cfg;       /* when set, list_ready changes it */

	int destroyed;                /* destroy callbacks seen */

	/* The watch tick's world: labels and state live on the issues. */
	int closed[FAKE_MAX];         /* closed issues are not listed */
	char *comment[FAKE_MAX];      /* the one record comment per issue */
	int comments_made[FAKE_MAX];  /* upserts that created a comment */
	int agent_state;              /* what snapshot reports */
	char stuck[160];              /* a thread that reports stuck_state */
	int stuck_state;              /* instead, whatever agent_state says */
	int agent_phase;
	long long activity;           /* what snapshot reports; 0: none */
	const char *snap_why;         /* its message (why), or NULL */
	int usage_set;                /* snapshot reports the usage below */
	long long tokens_in, tokens_out, cost_microusd;
	int pr;                       /* what ci_status reports */
	char head[64];
	int ci;
	int deploy;
	const char *failing;          /* one failing check name, or NULL */
	int notified;                 /* notify calls */
	int stopped;                  /* stop calls that succeeded */
	char notice[512];             /* the last message and link */
	char fail_kind;               /* this kind of call fails ... */
	int fail_nth;                 /* ... on its nth call (1-based) */
	int fail_rc;
	int calls[128];               /* calls per kind */
} fake;

void fake_init(fake *f);
void fake_clear(fake *f);
/* Adds a ready issue to what list_ready returns, with a second label
 * unless label is NULL; the fake keeps it. */
afk_issue *fake_add(fake *f, const char *repo, long number, int priority,
                    int trusted, const char *label);
/* New adapters over f; the test frees them.  The tracker keeps labels,
 * comments and state on the fake's issues, as a real tracker would. */
afk_tracker *fake_tracker(fake *f);
afk_agent *fake_agent(fake *f);
afk_ci *fake_ci(fake *f);
afk_notifier *fake_notifier(fake *f);
/* Makes list_ready report a failure of repo (number 0) or of one of its
 * issues; the issues are listed all the same. */
void fake_list_error(fake *f, const char *repo, long number, int code,
                     const char *msg);
/* The index of repo#number among the fake's issues, or -1. */
int fake_index(const fake *f, const char *repo, long number);
/* Events of kind so far. */
int fake_count(const fake *f, char kind);
/* Index of the first event of kind for repo#number, or -1. */
int fake_find(const fake *f, char kind, const char *repo, long number);
/* Runs suite s, forking per test unless CK_FORK=no; the exit status
 * for main(): 0 when every test passed. */
int fake_run(Suite *s);

/* A config armed for the repos given, NULL-terminated. */
afk_config *fake_armed_config(const char *repo, ...);

/* A host's log (afk_config_set_log()): keeps every line it gets as
 * "LEVEL EVENT: MESSAGE\n" (LEVEL a digit) in all, counts its lines and
 * destroys, and checks its userdata's magic. */
typedef struct fake_log {
	unsigned magic;
	int lines;
	int destroyed;
	char *all;                    /* malloc'd; fake_log_clear() */
} fake_log;

void fake_log_init(fake_log *l);
void fake_log_clear(fake_log *l);
void fake_log_line(int level, const char *event, const char *message,
                   void *userdata);
void fake_log_destroy(void *userdata);
/* Lines of level (-1: any) and event (NULL: any) whose message holds
 * part (NULL: any). */
int fake_log_count(const fake_log *l, int level, const char *event,
                   const char *part);

#endif
