/*
 * lib/core/issue.h - issues inside the library.  Internal.
 *
 * A tracker hands issues over one by one; the library keeps them in an
 * issue set, laid out for the policy rather than as a pile of handles:
 * repository names and labels are interned to small integer ids once, on
 * the way in, so that selecting over a million issues compares integers,
 * not strings, and walks one flat array.
 */
#ifndef AFK_LIB_ISSUE_H
#define AFK_LIB_ISSUE_H

#include <stdint.h>

#include "afk/issue.h"
#include "core/util.h"

#define AFK__NONE UINT32_MAX

struct afk_issue {
	char *repo;
	long number;
	char *title;
	afk__strv labels;
	int priority;
	int trusted;
	long *blockers;
	size_t nblockers;
	size_t blockers_cap;
};

/* A deep copy of src in *out; AFK_ENOMEM leaves *out untouched. */
int afk__issue_copy(afk_issue **out, const afk_issue *src);

/* Interned strings: each distinct string gets the next id from 0. */
typedef struct afk__strtab {
	char **str;       /* id -> owned string */
	size_t n;
	size_t cap;
	uint32_t *slots;  /* open addressing: id + 1, 0 = empty */
	size_t nslots;    /* a power of two, at least 2n */
} afk__strtab;

/* The id of s, adding it when new.  AFK_ENOMEM leaves t unchanged. */
int afk__strtab_intern(afk__strtab *t, const char *s, uint32_t *id);
/* The id of s, or AFK__NONE. */
uint32_t afk__strtab_find(const afk__strtab *t, const char *s);
void afk__strtab_clear(afk__strtab *t);

/* What the policy reads of one issue: 24 bytes, no pointers. */
typedef struct afk__rec {
	long number;
	int priority;
	uint32_t repo;       /* id in the set's repo table */
	uint32_t label_off;  /* first of nlabels ids in the set's label_ids */
	uint16_t nlabels;
	uint8_t trusted;     /* 0, 1 or AFK__REC_UNCHECKED */
	uint8_t blocked;     /* at least one open blocker */
} afk__rec;

#define AFK__REC_UNCHECKED 2  /* afk_issue's AFK_TRUST_UNCHECKED */

/* 1 when record r carries label id `label`; label_ids is its set's.
 * Inline: the policy calls it once per issue. */
static inline int afk__rec_has_label(const uint32_t *label_ids,
                                     const afk__rec *r, uint32_t label)
{
	const uint32_t *ids = label_ids + r->label_off;
	uint16_t k;

	for (k = 0; k < r->nlabels; k++)
		if (ids[k] == label)
			return 1;
	return 0;
}

/* What only the result reads: title and blockers. */
typedef struct afk__cold {
	size_t title_off;    /* in titles */
	size_t blocker_off;  /* in blockers */
	size_t nblockers;
} afk__cold;

typedef struct afk__iset {
	afk__rec *recs;
	afk__cold *cold;
	size_t n;
	size_t cap;
	size_t cold_cap;
	afk__strtab repos;
	afk__strtab labels;
	uint32_t *label_ids;
	size_t nlabel_ids;
	size_t label_ids_cap;
	char *titles;        /* NUL-terminated titles, back to back */
	size_t titles_len;
	size_t titles_cap;
	long *blockers;
	size_t nblockers;
	size_t blockers_cap;
} afk__iset;

/* An empty set is all zeroes. */
void afk__iset_clear(afk__iset *s);
/* Appends a copy of issue.  AFK_ENOMEM leaves s as it was. */
int afk__iset_add(afk__iset *s, const afk_issue *issue);
const char *afk__iset_repo(const afk__iset *s, size_t i);
/* Rebuilds issue i as a handle the caller frees with afk_issue_free(). */
int afk__iset_issue(const afk__iset *s, size_t i, afk_issue **out);

#endif
