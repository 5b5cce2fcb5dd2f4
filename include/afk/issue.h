/*
 * afk/issue.h - an issue as a tracker reports it.
 *
 * A tracker callback builds one afk_issue per ready issue and hands it to
 * the library with afk_call_add_issue(), which copies it.  Strings passed
 * in are copied; strings returned are borrowed from the issue and live as
 * long as it does.
 */
#ifndef AFK_ISSUE_H
#define AFK_ISSUE_H

#include <afk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afk_issue afk_issue;

/* Makes issue number (> 0) of repo (a non-empty name such as "infra" or
 * "owner/name").  Title empty, no labels, priority 0, not trusted, not
 * blocked.  Free it with afk_issue_free(). */
AFK_EXTERN int afk_issue_new(afk_issue **out, const char *repo, long number);

/* Frees an issue; NULL is a no-op. */
AFK_EXTERN void afk_issue_free(afk_issue *issue);

AFK_EXTERN int afk_issue_set_title(afk_issue *issue, const char *title);

/* Adds a label; adding one the issue has already is a no-op. */
AFK_EXTERN int afk_issue_add_label(afk_issue *issue, const char *label);

/* A larger priority is picked first. */
AFK_EXTERN int afk_issue_set_priority(afk_issue *issue, int priority);

/* The trust of an issue whose gates its tracker did not check because it
 * cannot be picked whatever they say: its repository is locked, or a
 * better issue of it passed.  Such an issue is never dispatched; it is
 * skipped as locked or outranked when that holds, else as untrusted. */
#define AFK_TRUST_UNCHECKED (-1)

/* 1 (any non-zero but AFK_TRUST_UNCHECKED): the ready label was applied
 * by a trusted user; 0: it was not; AFK_TRUST_UNCHECKED: not checked.
 * Only a trusted issue is ever dispatched. */
AFK_EXTERN int afk_issue_set_trusted(afk_issue *issue, int trusted);

/* Records that open issue number (> 0) of the same repository blocks this
 * one.  A blocked issue is never dispatched. */
AFK_EXTERN int afk_issue_add_blocker(afk_issue *issue, long number);

AFK_EXTERN const char *afk_issue_repo(const afk_issue *issue);
AFK_EXTERN long afk_issue_number(const afk_issue *issue);
AFK_EXTERN const char *afk_issue_title(const afk_issue *issue);
AFK_EXTERN size_t afk_issue_label_count(const afk_issue *issue);
/* The i-th label in the order added, or NULL when i is out of range. */
AFK_EXTERN const char *afk_issue_label(const afk_issue *issue, size_t i);
AFK_EXTERN int afk_issue_has_label(const afk_issue *issue, const char *label);
AFK_EXTERN int afk_issue_priority(const afk_issue *issue);
AFK_EXTERN int afk_issue_trusted(const afk_issue *issue);
AFK_EXTERN size_t afk_issue_blocker_count(const afk_issue *issue);
/* The i-th blocker's number, or 0 when i is out of range. */
AFK_EXTERN long afk_issue_blocker(const afk_issue *issue, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* AFK_ISSUE_H */
