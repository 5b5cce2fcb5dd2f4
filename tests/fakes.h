/*
 * tests/fakes.h - an in-memory tracker and agent that count their calls,
 * check the magic of their userdata and fail on demand.
 */
#ifndef AFK_TESTS_FAKES_H
#define AFK_TESTS_FAKES_H

#include <afk/afk.h>

#define FAKE_MAGIC 0xAF6B1E55u
#define FAKE_MAX 64

typedef struct fake_event {
	char kind;        /* 'L' list_ready, 'A' add_label, 'D' dispatch */
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

	int label_calls;
	int label_fail_at;            /* 1-based call that fails; 0 none */
	int label_rc;

	int dispatch_calls;
	int dispatch_fail_at;         /* 1-based call that fails; 0 none */
	int dispatch_rc;
	const char *dispatch_msg;     /* attached when failing; NULL: none */
	int no_thread_id;             /* dispatch returns 0 without an id */

	fake_event events[FAKE_MAX];  /* every call, in order */
	size_t nevents;

	afk_poller *reenter;          /* when set, list_ready re-enters it */
	const afk_config *reenter_cfg;
	int reenter_rc;
	afk_config *mutate_cfg;       /* when set, list_ready changes it */

	int destroyed;                /* destroy callbacks seen */
} fake;

void fake_init(fake *f);
void fake_clear(fake *f);
/* Adds a ready issue to what list_ready returns, with a second label
 * unless label is NULL; the fake keeps it. */
afk_issue *fake_add(fake *f, const char *repo, long number, int priority,
                    int trusted, const char *label);
/* New adapters over f; the test frees them. */
afk_tracker *fake_tracker(fake *f);
afk_agent *fake_agent(fake *f);
/* Index of the first event of kind for repo#number, or -1. */
int fake_find(const fake *f, char kind, const char *repo, long number);
/* A config armed for the repos given, NULL-terminated. */
afk_config *fake_armed_config(const char *repo, ...);

#endif
