/*
 * lib/core/issue.c - the afk_issue handle and the issue set.
 */
#include "core/issue.h"

#include <stdlib.h>
#include <string.h>

int afk_issue_new(afk_issue **out, const char *repo, long number)
{
	afk_issue *is;

	if (out == NULL || repo == NULL || repo[0] == '\0' || number <= 0)
		return AFK_EINVAL;
	is = calloc(1, sizeof(*is));
	if (is == NULL)
		return AFK_ENOMEM;
	is->repo = afk__strdup(repo);
	is->title = afk__strdup("");
	if (is->repo == NULL || is->title == NULL) {
		afk_issue_free(is);
		return AFK_ENOMEM;
	}
	is->number = number;
	*out = is;
	return AFK_OK;
}

void afk_issue_free(afk_issue *issue)
{
	if (issue == NULL)
		return;
	free(issue->repo);
	free(issue->title);
	afk__strv_clear(&issue->labels);
	free(issue->blockers);
	free(issue);
}

int afk_issue_set_title(afk_issue *issue, const char *title)
{
	char *t;

	if (issue == NULL || title == NULL)
		return AFK_EINVAL;
	t = afk__strdup(title);
	if (t == NULL)
		return AFK_ENOMEM;
	free(issue->title);
	issue->title = t;
	return AFK_OK;
}

int afk_issue_add_label(afk_issue *issue, const char *label)
{
	if (issue == NULL || label == NULL || label[0] == '\0')
		return AFK_EINVAL;
	if (afk__strv_find(&issue->labels, label) >= 0)
		return AFK_OK;
	if (issue->labels.n >= UINT16_MAX)
		return AFK_EINVAL;
	return afk__strv_push(&issue->labels, label);
}

int afk_issue_set_priority(afk_issue *issue, int priority)
{
	if (issue == NULL)
		return AFK_EINVAL;
	issue->priority = priority;
	return AFK_OK;
}

int afk_issue_set_trusted(afk_issue *issue, int trusted)
{
	if (issue == NULL)
		return AFK_EINVAL;
	issue->trusted = trusted == AFK_TRUST_UNCHECKED ? AFK_TRUST_UNCHECKED :
	                 trusted != 0;
	return AFK_OK;
}

int afk_issue_add_blocker(afk_issue *issue, long number)
{
	if (issue == NULL || number <= 0)
		return AFK_EINVAL;
	if (afk__grow((void **)&issue->blockers, &issue->blockers_cap,
	              issue->nblockers, 1, sizeof(long)))
		return AFK_ENOMEM;
	issue->blockers[issue->nblockers++] = number;
	return AFK_OK;
}

const char *afk_issue_repo(const afk_issue *issue)
{
	return issue ? issue->repo : NULL;
}

long afk_issue_number(const afk_issue *issue)
{
	return issue ? issue->number : 0;
}

const char *afk_issue_title(const afk_issue *issue)
{
	return issue ? issue->title : NULL;
}

size_t afk_issue_label_count(const afk_issue *issue)
{
	return issue ? issue->labels.n : 0;
}

const char *afk_issue_label(const afk_issue *issue, size_t i)
{
	if (issue == NULL || i >= issue->labels.n)
		return NULL;
	return issue->labels.v[i];
}

int afk_issue_has_label(const afk_issue *issue, const char *label)
{
	if (issue == NULL || label == NULL)
		return 0;
	return afk__strv_find(&issue->labels, label) >= 0;
}

int afk_issue_priority(const afk_issue *issue)
{
	return issue ? issue->priority : 0;
}

int afk_issue_trusted(const afk_issue *issue)
{
	return issue ? issue->trusted : 0;
}

size_t afk_issue_blocker_count(const afk_issue *issue)
{
	return issue ? issue->nblockers : 0;
}

long afk_issue_blocker(const afk_issue *issue, size_t i)
{
	if (issue == NULL || i >= issue->nblockers)
		return 0;
	return issue->blockers[i];
}

int afk__issue_copy(afk_issue **out, const afk_issue *src)
{
	afk_issue *is;
	size_t i;
	int rc;

	rc = afk_issue_new(&is, src->repo, src->number);
	if (rc)
		return rc;
	rc = afk_issue_set_title(is, src->title);
	for (i = 0; rc == AFK_OK && i < src->labels.n; i++)
		rc = afk_issue_add_label(is, src->labels.v[i]);
	for (i = 0; rc == AFK_OK && i < src->nblockers; i++)
		rc = afk_issue_add_blocker(is, src->blockers[i]);
	if (rc) {
		afk_issue_free(is);
		return rc;
	}
	is->priority = src->priority;
	is->trusted = src->trusted;
	*out = is;
	return AFK_OK;
}

/* --- interned strings ------------------------------------------------ */

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

static size_t probe(const afk__strtab *t, const char *s)
{
	size_t mask = t->nslots - 1;
	size_t i = hash_str(s) & mask;

	while (t->slots[i] != 0 && strcmp(t->str[t->slots[i] - 1], s) != 0)
		i = (i + 1) & mask;
	return i;
}

uint32_t afk__strtab_find(const afk__strtab *t, const char *s)
{
	size_t i;

	if (t->nslots == 0)
		return AFK__NONE;
	i = probe(t, s);
	return t->slots[i] ? t->slots[i] - 1 : AFK__NONE;
}

/* Doubles the slot array and re-inserts every id. */
static int rehash(afk__strtab *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 16;
	uint32_t *old = t->slots;
	size_t oldn = t->nslots;
	size_t i;

	t->slots = calloc(nslots, sizeof(*t->slots));
	if (t->slots == NULL) {
		t->slots = old;
		return AFK_ENOMEM;
	}
	t->nslots = nslots;
	for (i = 0; i < oldn; i++)
		if (old[i])
			t->slots[probe(t, t->str[old[i] - 1])] = old[i];
	free(old);
	return AFK_OK;
}

int afk__strtab_intern(afk__strtab *t, const char *s, uint32_t *id)
{
	size_t slot;
	char *d;

	*id = afk__strtab_find(t, s);
	if (*id != AFK__NONE)
		return AFK_OK;
	if (t->n >= AFK__NONE - 1)
		return AFK_ENOMEM;
	if ((t->n + 1) * 2 > t->nslots && rehash(t))
		return AFK_ENOMEM;
	if (afk__grow((void **)&t->str, &t->cap, t->n, 1, sizeof(*t->str)))
		return AFK_ENOMEM;
	d = afk__strdup(s);
	if (d == NULL)
		return AFK_ENOMEM;
	slot = probe(t, s);
	t->str[t->n] = d;
	t->slots[slot] = (uint32_t)++t->n;
	*id = (uint32_t)(t->n - 1);
	return AFK_OK;
}

void afk__strtab_clear(afk__strtab *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->str[i]);
	free(t->str);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* --- the issue set --------------------------------------------------- */

void afk__iset_clear(afk__iset *s)
{
	free(s->recs);
	free(s->cold);
	afk__strtab_clear(&s->repos);
	afk__strtab_clear(&s->labels);
	free(s->label_ids);
	free(s->titles);
	free(s->blockers);
	memset(s, 0, sizeof(*s));
}

/* Reserves room for one more issue of this shape, so that the appends
 * that follow cannot fail half-way. */
static int reserve(afk__iset *s, const afk_issue *is, size_t title_len)
{
	if (afk__grow((void **)&s->recs, &s->cap, s->n, 1, sizeof(*s->recs)))
		return AFK_ENOMEM;
	if (afk__grow((void **)&s->cold, &s->cold_cap, s->n, 1,
	              sizeof(*s->cold)))
		return AFK_ENOMEM;
	if (afk__grow((void **)&s->label_ids, &s->label_ids_cap, s->nlabel_ids,
	              is->labels.n, sizeof(*s->label_ids)))
		return AFK_ENOMEM;
	if (afk__grow((void **)&s->titles, &s->titles_cap, s->titles_len,
	              title_len + 1, 1))
		return AFK_ENOMEM;
	if (afk__grow((void **)&s->blockers, &s->blockers_cap, s->nblockers,
	              is->nblockers, sizeof(*s->blockers)))
		return AFK_ENOMEM;
	return AFK_OK;
}

int afk__iset_add(afk__iset *s, const afk_issue *is)
{
	size_t title_len = strlen(is->title);
	afk__rec *r;
	afk__cold *c;
	uint32_t repo, id;
	size_t i;

	if (s->n >= AFK__NONE || s->nlabel_ids + is->labels.n >= AFK__NONE)
		return AFK_ENOMEM;
	if (reserve(s, is, title_len))
		return AFK_ENOMEM;
	if (afk__strtab_intern(&s->repos, is->repo, &repo))
		return AFK_ENOMEM;
	for (i = 0; i < is->labels.n; i++) {
		/* On failure, names interned for this issue stay unused:
		 * the set still holds exactly the issues it held. */
		if (afk__strtab_intern(&s->labels, is->labels.v[i], &id))
			return AFK_ENOMEM;
		s->label_ids[s->nlabel_ids + i] = id;
	}
	r = &s->recs[s->n];
	r->number = is->number;
	r->priority = is->priority;
	r->repo = repo;
	r->label_off = (uint32_t)s->nlabel_ids;
	r->nlabels = (uint16_t)is->labels.n;
	r->trusted = is->trusted == AFK_TRUST_UNCHECKED ? AFK__REC_UNCHECKED :
	             (uint8_t)(is->trusted != 0);
	r->blocked = (uint8_t)(is->nblockers > 0);
	c = &s->cold[s->n];
	c->title_off = s->titles_len;
	c->blocker_off = s->nblockers;
	c->nblockers = is->nblockers;
	memcpy(s->titles + s->titles_len, is->title, title_len + 1);
	s->titles_len += title_len + 1;
	if (is->nblockers)
		memcpy(s->blockers + s->nblockers, is->blockers,
		       is->nblockers * sizeof(*s->blockers));
	s->nblockers += is->nblockers;
	s->nlabel_ids += is->labels.n;
	s->n++;
	return AFK_OK;
}

const char *afk__iset_repo(const afk__iset *s, size_t i)
{
	return s->repos.str[s->recs[i].repo];
}

int afk__iset_issue(const afk__iset *s, size_t i, afk_issue **out)
{
	const afk__rec *r = &s->recs[i];
	const afk__cold *c = &s->cold[i];
	afk_issue *is;
	size_t k;
	int rc;

	rc = afk_issue_new(&is, s->repos.str[r->repo], r->number);
	if (rc)
		return rc;
	rc = afk_issue_set_title(is, s->titles + c->title_off);
	for (k = 0; rc == AFK_OK && k < r->nlabels; k++)
		rc = afk_issue_add_label(is,
		        s->labels.str[s->label_ids[r->label_off + k]]);
	for (k = 0; rc == AFK_OK && k < c->nblockers; k++)
		rc = afk_issue_add_blocker(is, s->blockers[c->blocker_off + k]);
	if (rc) {
		afk_issue_free(is);
		return rc;
	}
	is->priority = r->priority;
	is->trusted = r->trusted == AFK__REC_UNCHECKED ? AFK_TRUST_UNCHECKED :
	              r->trusted;
	*out = is;
	return AFK_OK;
}
