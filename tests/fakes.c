/*
 * tests/fakes.c - in-memory adapters for the Check suites.
 */
#define _POSIX_C_SOURCE 200809L

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

	for (i = 0; i < f->nissues; i++) {
		afk_issue_free(f->issues[i]);
		free(f->comment[i]);
		f->comment[i] = NULL;
	}
	f->nissues = 0;
}

int fake_index(const fake *f, const char *repo, long number)
{
	size_t i;

	for (i = 0; i < f->nissues; i++)
		if (afk_issue_number(f->issues[i]) == number &&
		    strcmp(afk_issue_repo(f->issues[i]), repo) == 0)
			return (int)i;
	return -1;
}

int fake_count(const fake *f, char kind)
{
	size_t i;
	int n = 0;

	for (i = 0; i < f->nevents; i++)
		n += f->events[i].kind == kind;
	return n;
}

/* Counts a call of kind and says whether it is the one to fail. */
static int should_fail(fake *f, char kind)
{
	return ++f->calls[(unsigned char)kind & 127] == f->fail_nth &&
	       f->fail_kind == kind;
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
	for (i = 0; i < f->nlist_err; i++)
		ck_assert_int_eq(afk_call_add_error(call, f->list_err[i].repo,
		                                    f->list_err[i].number,
		                                    f->list_err[i].code,
		                                    f->list_err[i].msg), 0);
	for (i = 0; i < f->nissues; i++)
		if (!f->closed[i])
			ck_assert_int_eq(afk_call_add_issue(call, f->issues[i]), 0);
	return 0;
}

/* The closed issues that carry label: what a forge's list_closed
 * reports. */
static int list_closed(afk_call *call, const char *const *repos,
                       size_t nrepos, const char *label, void *userdata)
{
	fake *f = ud(userdata);
	size_t i;

	record(f, 'Q', NULL, 0);
	ck_assert_ptr_nonnull(label);
	(void)repos;
	(void)nrepos;
	if (should_fail(f, 'Q'))
		return afk_call_set_error(call, "closed issues unreadable"),
		       f->fail_rc;
	for (i = 0; i < f->nissues; i++)
		if (f->closed[i] && afk_issue_has_label(f->issues[i], label))
			ck_assert_int_eq(afk_call_add_issue(call, f->issues[i]), 0);
	return 0;
}

void fake_list_error(fake *f, const char *repo, long number, int code,
                     const char *msg)
{
	ck_assert_uint_lt(f->nlist_err, 8);
	f->list_err[f->nlist_err].repo = repo;
	f->list_err[f->nlist_err].number = number;
	f->list_err[f->nlist_err].code = code;
	f->list_err[f->nlist_err].msg = msg;
	f->nlist_err++;
}

static int add_label(afk_call *call, const char *repo, long number,
                     const char *label, void *userdata)
{
	fake *f = ud(userdata);
	fake_event *e = record(f, 'A', repo, number);
	int i = fake_index(f, repo, number);

	snprintf(e->label, sizeof(e->label), "%s", label);
	if (++f->label_calls == f->label_fail_at) {
		afk_call_set_error(call, "label service down");
		return f->label_rc;
	}
	if (i >= 0)
		ck_assert_int_eq(afk_issue_add_label(f->issues[i], label), 0);
	return 0;
}

static int close_issue(afk_call *call, const char *repo, long number,
                       void *userdata)
{
	fake *f = ud(userdata);
	int i = fake_index(f, repo, number);

	record(f, 'C', repo, number);
	if (should_fail(f, 'C'))
		return afk_call_set_error(call, "close refused"), f->fail_rc;
	ck_assert_int_ge(i, 0);
	f->closed[i] = 1;
	return 0;
}

/* Rebuilds issue i without label: afk_issue has no remover. */
static int remove_label(afk_call *call, const char *repo, long number,
                        const char *label, void *userdata)
{
	fake *f = ud(userdata);
	fake_event *e = record(f, 'R', repo, number);
	int i = fake_index(f, repo, number);
	afk_issue *old, *is;
	size_t k;

	snprintf(e->label, sizeof(e->label), "%s", label);
	if (should_fail(f, 'R'))
		return afk_call_set_error(call, "unlabel refused"), f->fail_rc;
	ck_assert_int_ge(i, 0);
	old = f->issues[i];
	ck_assert_int_eq(afk_issue_new(&is, repo, number), 0);
	for (k = 0; k < afk_issue_label_count(old); k++)
		if (strcmp(afk_issue_label(old, k), label) != 0)
			afk_issue_add_label(is, afk_issue_label(old, k));
	for (k = 0; k < afk_issue_blocker_count(old); k++)
		afk_issue_add_blocker(is, afk_issue_blocker(old, k));
	afk_issue_set_title(is, afk_issue_title(old));
	afk_issue_set_priority(is, afk_issue_priority(old));
	afk_issue_set_trusted(is, afk_issue_trusted(old));
	afk_issue_free(old);
	f->issues[i] = is;
	return 0;
}

static int find_comment(afk_call *call, const char *repo, long number,
                        const char *marker, void *userdata)
{
	fake *f = ud(userdata);
	int i = fake_index(f, repo, number);

	record(f, 'F', repo, number);
	if (should_fail(f, 'F'))
		return afk_call_set_error(call, "comments unavailable"),
		       f->fail_rc;
	if (i >= 0 && f->comment[i] && strstr(f->comment[i], marker))
		ck_assert_int_eq(afk_call_set_comment(call, f->comment[i]), 0);
	ck_assert_int_eq(afk_call_set_url(call, "https://tracker.test/i"), 0);
	return 0;
}

static int upsert_comment(afk_call *call, const char *repo, long number,
                          const char *marker, const char *body,
                          void *userdata)
{
	fake *f = ud(userdata);
	int i = fake_index(f, repo, number);

	record(f, 'U', repo, number);
	if (should_fail(f, 'U'))
		return afk_call_set_error(call, "comment refused"), f->fail_rc;
	ck_assert_int_ge(i, 0);
	ck_assert_ptr_nonnull(strstr(body, marker));
	if (f->comment[i] == NULL || strstr(f->comment[i], marker) == NULL)
		f->comments_made[i]++;
	free(f->comment[i]);
	f->comment[i] = strdup(body);
	ck_assert_ptr_nonnull(f->comment[i]);
	return 0;
}

static int snapshot(afk_call *call, const char *thread_id, void *userdata)
{
	fake *f = ud(userdata);

	record(f, 'S', NULL, 0);
	ck_assert_ptr_nonnull(thread_id);
	if (should_fail(f, 'S'))
		return afk_call_set_error(call, "agent unreachable"), f->fail_rc;
	if (f->stuck[0] && strcmp(thread_id, f->stuck) == 0)
		ck_assert_int_eq(afk_call_set_agent_state(call, f->stuck_state),
		                 0);
	else if (f->agent_state)
		ck_assert_int_eq(afk_call_set_agent_state(call, f->agent_state),
		                 0);
	if (f->activity)
		ck_assert_int_eq(afk_call_set_activity(call, f->activity), 0);
	if (f->usage_set)
		ck_assert_int_eq(afk_call_set_usage(call, f->tokens_in,
		                                    f->tokens_out,
		                                    f->cost_microusd), 0);
	if (f->snap_why != NULL)
		ck_assert_int_eq(afk_call_set_error(call, f->snap_why), 0);
	return afk_call_set_phase(call, f->agent_phase);
}

static int send_turn(afk_call *call, const char *thread_id,
                     const char *prompt, void *userdata)
{
	fake *f = ud(userdata);
	fake_event *e = record(f, 'T', thread_id, 0);

	snprintf(e->prompt, sizeof(e->prompt), "%s", prompt);
	if (should_fail(f, 'T'))
		return afk_call_set_error(call, "turn refused"), f->fail_rc;
	return 0;
}

static int stop(afk_call *call, const char *repo, long number,
                const char *thread_id, void *userdata)
{
	fake *f = ud(userdata);
	fake_event *e = record(f, 'X', repo, number);

	ck_assert_ptr_nonnull(thread_id);
	snprintf(e->prompt, sizeof(e->prompt), "%s", thread_id);
	if (should_fail(f, 'X'))
		return afk_call_set_error(call, "stop refused"), f->fail_rc;
	f->stopped++;
	return 0;
}

static int ci_status(afk_call *call, const char *repo, long number,
                     void *userdata)
{
	fake *f = ud(userdata);

	record(f, 'I', repo, number);
	if (should_fail(f, 'I'))
		return afk_call_set_error(call, "CI unreachable"), f->fail_rc;
	ck_assert_int_eq(afk_call_set_pr(call, f->pr,
	                                 f->head[0] ? f->head : NULL), 0);
	ck_assert_int_eq(afk_call_set_ci(call, f->ci), 0);
	ck_assert_int_eq(afk_call_set_deploy(call, f->deploy), 0);
	if (f->failing)
		ck_assert_int_eq(afk_call_add_failing_check(call, f->failing,
		                 "https://ci.test/1"), 0);
	return 0;
}

static int notify(afk_call *call, const char *repo, long number,
                  const char *message, const char *link, void *userdata)
{
	fake *f = ud(userdata);

	record(f, 'N', repo, number);
	if (should_fail(f, 'N'))
		return afk_call_set_error(call, "pager down"), f->fail_rc;
	f->notified++;
	snprintf(f->notice, sizeof(f->notice), "%s %s", message, link);
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
	/* one thread per generation, as the built-in agents name them */
	f->dispatch_gen = afk_call_generation(call);
	if (f->dispatch_gen > 1)
		snprintf(id, sizeof(id), "thread-%s-%ld-%d", repo, number,
		         f->dispatch_gen);
	else
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
	ck_assert_int_eq(afk_tracker_set_close_issue(t, close_issue), 0);
	ck_assert_int_eq(afk_tracker_set_remove_label(t, remove_label), 0);
	ck_assert_int_eq(afk_tracker_set_find_comment(t, find_comment), 0);
	ck_assert_int_eq(afk_tracker_set_upsert_comment(t, upsert_comment), 0);
	ck_assert_int_eq(afk_tracker_set_list_closed(t, list_closed), 0);
	return t;
}

afk_agent *fake_agent(fake *f)
{
	afk_agent *a;

	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_int_eq(afk_agent_set_userdata(a, f, destroy), 0);
	ck_assert_int_eq(afk_agent_set_dispatch(a, dispatch), 0);
	ck_assert_int_eq(afk_agent_set_snapshot(a, snapshot), 0);
	ck_assert_int_eq(afk_agent_set_send_turn(a, send_turn), 0);
	ck_assert_int_eq(afk_agent_set_stop(a, stop), 0);
	return a;
}

afk_ci *fake_ci(fake *f)
{
	afk_ci *c;

	ck_assert_int_eq(afk_ci_new(&c), 0);
	ck_assert_int_eq(afk_ci_set_userdata(c, f, destroy), 0);
	ck_assert_int_eq(afk_ci_set_status(c, ci_status), 0);
	return c;
}

afk_notifier *fake_notifier(fake *f)
{
	afk_notifier *n;

	ck_assert_int_eq(afk_notifier_new(&n), 0);
	ck_assert_int_eq(afk_notifier_set_userdata(n, f, destroy), 0);
	ck_assert_int_eq(afk_notifier_set_notify(n, notify), 0);
	return n;
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

int fake_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* --- the host's log -------------------------------------------------- */

void fake_log_init(fake_log *l)
{
	memset(l, 0, sizeof(*l));
	l->magic = FAKE_MAGIC;
	l->all = calloc(1, 1);
	ck_assert_ptr_nonnull(l->all);
}

void fake_log_clear(fake_log *l)
{
	free(l->all);
	l->all = NULL;
}

void fake_log_line(int level, const char *event, const char *message,
                   void *userdata)
{
	fake_log *l = userdata;
	size_t n;
	char *all;

	ck_assert_uint_eq(l->magic, FAKE_MAGIC);
	ck_assert(level >= AFK_LOG_ERROR && level <= AFK_LOG_DEBUG);
	ck_assert_ptr_null(strchr(message, '\n'));
	n = strlen(l->all) + strlen(event) + strlen(message) + 8;
	all = realloc(l->all, n);
	ck_assert_ptr_nonnull(all);
	snprintf(all + strlen(all), n - strlen(all), "%d %s: %s\n", level,
	         event, message);
	l->all = all;
	l->lines++;
}

void fake_log_destroy(void *userdata)
{
	fake_log *l = userdata;

	ck_assert_uint_eq(l->magic, FAKE_MAGIC);
	l->destroyed++;
}

int fake_log_count(const fake_log *l, int level, const char *event,
                   const char *part)
{
	const char *line = l->all, *end, *ev;
	char head[128];
	int n = 0;

	for (; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		if (level >= 0 && line[0] != '0' + level)
			continue;
		ev = line + 2;
		if (event != NULL) {
			snprintf(head, sizeof(head), "%s: ", event);
			if (strncmp(ev, head, strlen(head)) != 0)
				continue;
		}
		if (part != NULL) {
			char *msg = strndup(line, (size_t)(end - line));

			ck_assert_ptr_nonnull(msg);
			if (strstr(msg, part) == NULL) {
				free(msg);
				continue;
			}
			free(msg);
		}
		n++;
	}
	return n;
}
