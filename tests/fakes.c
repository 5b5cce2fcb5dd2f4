/*
 * tests/fakes.c - in-memory adapters for the Check suites.
 */
#include "fakes.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fake *ud(void *userdata)
{
	fake *f = userdata;

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->magic, FAKE_MAGIC);
	return f;
}

static fake_event *record(fake *f, char kind, const char *repo, long number)
{
	fake_event *e;

	ck_assert_uint_lt(f->nevents, FAKE_MAX);
	e = &f->events[f->nevents++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	if (repo)
		snprintf(e->repo, sizeof(e->repo), "%s", repo);
	e->number = number;
	return e;
}

void fake_init(fake *f)
{
	memset(f, 0, sizeof(*f));
	f->magic = FAKE_MAGIC;
}

void fake_clear(fake *f)
{
	size_t i;

	for (i = 0; i < f->nissues; i++)
		afk_issue_free(f->issues[i]);
	f->nissues = 0;
}

afk_issue *fake_add(fake *f, const char *repo, long number, int priority,
                    int trusted, const char *label)
{
	afk_issue *is;

	ck_assert_uint_lt(f->nissues, FAKE_MAX);
	ck_assert_int_eq(afk_issue_new(&is, repo, number), 0);
	ck_assert_int_eq(afk_issue_add_label(is, "ready-for-agent"), 0);
	if (label)
		ck_assert_int_eq(afk_issue_add_label(is, label), 0);
	ck_assert_int_eq(afk_issue_set_priority(is, priority), 0);
	ck_assert_int_eq(afk_issue_set_trusted(is, trusted), 0);
	f->issues[f->nissues++] = is;
	return is;
}

static int list_ready(afk_call *call, const char *const *repos,
                      size_t nrepos, void *userdata)
{
	fake *f = ud(userdata);
	size_t i;

	f->list_calls++;
	record(f, 'L', NULL, 0);
	f->nrepos_seen = nrepos;
	for (i = 0; i < nrepos && i < FAKE_MAX; i++)
		snprintf(f->repos_seen[i], sizeof(f->repos_seen[i]), "%s",
		         repos[i]);
	if (f->reenter)
		f->reenter_rc = afk_poller_run_once(f->reenter, f->reenter_cfg,
		                                    &(afk_result *){NULL});
	if (f->mutate_cfg) {
		ck_assert_int_eq(afk_config_set(f->mutate_cfg, "allowlist",
		                                "[\"other\"]"), 0);
		ck_assert_int_eq(afk_config_set(f->mutate_cfg,
		                 "in_progress_label", "\"changed\""), 0);
	}
	if (f->list_rc) {
		if (f->list_msg)
			afk_call_set_error(call, f->list_msg);
		return f->list_rc;
	}
	for (i = 0; i < f->nissues; i++)
		ck_assert_int_eq(afk_call_add_issue(call, f->issues[i]), 0);
	return 0;
}

static int add_label(afk_call *call, const char *repo, long number,
                     const char *label, void *userdata)
{
	fake *f = ud(userdata);
	fake_event *e = record(f, 'A', repo, number);

	snprintf(e->label, sizeof(e->label), "%s", label);
	if (++f->label_calls == f->label_fail_at) {
		afk_call_set_error(call, "label service down");
		return f->label_rc;
	}
	return 0;
}

static int dispatch(afk_call *call, const char *repo, long number,
                    const char *prompt, void *userdata)
{
	fake *f = ud(userdata);
	fake_event *e = record(f, 'D', repo, number);
	char id[160];

	snprintf(e->prompt, sizeof(e->prompt), "%s", prompt);
	if (++f->dispatch_calls == f->dispatch_fail_at) {
		if (f->dispatch_msg)
			afk_call_set_error(call, f->dispatch_msg);
		return f->dispatch_rc;
	}
	if (f->no_thread_id)
		return 0;
	snprintf(id, sizeof(id), "thread-%s-%ld", repo, number);
	return afk_call_set_thread_id(call, id);
}

static void destroy(void *userdata)
{
	ud(userdata)->destroyed++;
}

afk_tracker *fake_tracker(fake *f)
{
	afk_tracker *t;

	ck_assert_int_eq(afk_tracker_new(&t), 0);
	ck_assert_int_eq(afk_tracker_set_userdata(t, f, destroy), 0);
	ck_assert_int_eq(afk_tracker_set_list_ready(t, list_ready), 0);
	ck_assert_int_eq(afk_tracker_set_add_label(t, add_label), 0);
	return t;
}

afk_agent *fake_agent(fake *f)
{
	afk_agent *a;

	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_int_eq(afk_agent_set_userdata(a, f, destroy), 0);
	ck_assert_int_eq(afk_agent_set_dispatch(a, dispatch), 0);
	return a;
}

int fake_find(const fake *f, char kind, const char *repo, long number)
{
	size_t i;

	for (i = 0; i < f->nevents; i++)
		if (f->events[i].kind == kind && f->events[i].number == number &&
		    strcmp(f->events[i].repo, repo) == 0)
			return (int)i;
	return -1;
}

afk_config *fake_armed_config(const char *repo, ...)
{
	afk_config *cfg;
	char json[2048] = "[";
	const char *r;
	va_list ap;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	va_start(ap, repo);
	for (r = repo; r != NULL; r = va_arg(ap, const char *)) {
		if (json[1] != '\0')
			strcat(json, ",");
		strcat(json, "\"");
		strcat(json, r);
		strcat(json, "\"");
	}
	va_end(ap);
	strcat(json, "]");
	ck_assert_msg(afk_config_set(cfg, "allowlist", json) == 0, "%s",
	              afk_config_errmsg(cfg));
	ck_assert_int_eq(afk_config_set(cfg, "kill_switch", "false"), 0);
	return cfg;
}
