/*
 * lib/core/adapter.c - adapter handles, callback registration and the call.
 */
#include "core/adapter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checklist.h"
#include "core/config.h"

/* --- failures a tick went on from ------------------------------------ */

int afk__errv_add(afk__errv *e, const char *repo, long number, int code,
                  const char *message)
{
	afk__err *x;

	if (afk__grow((void **)&e->v, &e->cap, e->n, 1, sizeof(*e->v)))
		return AFK_ENOMEM;
	x = &e->v[e->n];
	x->repo = afk__strdup(repo ? repo : "");
	x->message = afk__strdup(message ? message : "");
	if (x->repo == NULL || x->message == NULL) {
		free(x->repo);
		free(x->message);
		return AFK_ENOMEM;
	}
	x->number = number;
	x->code = code;
	e->n++;
	return AFK_OK;
}

void afk__errv_clear(afk__errv *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->v[i].repo);
		free(e->v[i].message);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* --- the call -------------------------------------------------------- */

void afk__call_init(afk_call *call, enum afk__call_kind kind,
                    afk__iset *issues)
{
	memset(call, 0, sizeof(*call));
	call->kind = kind;
	call->issues = issues;
	call->generation = 1;
}

void afk__call_clear(afk_call *call)
{
	free(call->message);
	free(call->thread_id);
	free(call->comment);
	free(call->url);
	free(call->head);
	free(call->pr_info);
	afk__strv_clear(&call->failing);
	afk__strv_clear(&call->failing_urls);
	memset(call, 0, sizeof(*call));
}

int afk__call_finish(afk_call *call, int rc, const char *what, char *errbuf)
{
	if (rc == 0 && call->lost)
		rc = AFK_ENOMEM;
	if (rc > 0)
		rc = AFK_ECALLBACK;
	if (rc == 0)
		return AFK_OK;
	if (call->message != NULL)
		afk__errf(errbuf, "%s: %s", what, call->message);
	else
		afk__errf(errbuf, "%s: callback failed (%d: %s)", what, rc,
		          afk_strerror(rc));
	return rc;
}

int afk__call_failf(afk_call *call, int code, const char *fmt, ...)
{
	char msg[AFK__ERRMSG_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	afk_call_set_error(call, msg);
	return code;
}

int afk_call_set_error(afk_call *call, const char *message)
{
	char *m;

	if (call == NULL || message == NULL)
		return AFK_EINVAL;
	m = afk__strdup(message);
	if (m == NULL)
		return AFK_ENOMEM;
	free(call->message);
	call->message = m;
	return AFK_OK;
}

/* A listing callback: list_ready or list_closed. */
static int listing(const afk_call *call)
{
	return call->kind == AFK__CALL_LIST_READY ||
	       call->kind == AFK__CALL_LIST_CLOSED;
}

int afk_call_add_issue(afk_call *call, const afk_issue *issue)
{
	if (call == NULL || issue == NULL || !listing(call))
		return AFK_EINVAL;
	/* An issue the callback believes handed over must not vanish
	 * silently, even if the callback ignores this return. */
	if (afk__iset_add(call->issues, issue)) {
		call->lost = 1;
		return AFK_ENOMEM;
	}
	return AFK_OK;
}

int afk_call_add_issues(afk_call *call, const afk_issue *const *issues,
                        size_t n)
{
	size_t i;

	if (call == NULL || (issues == NULL && n > 0) || !listing(call))
		return AFK_EINVAL;
	for (i = 0; i < n; i++)
		if (issues[i] == NULL)
			return AFK_EINVAL;
	for (i = 0; i < n; i++)
		if (afk__iset_add(call->issues, issues[i])) {
			call->lost = 1;
			return AFK_ENOMEM;
		}
	return AFK_OK;
}

int afk_call_add_error(afk_call *call, const char *repo, long number,
                       int code, const char *message)
{
	char generic[AFK__ERRMSG_SIZE];

	if (call == NULL || !listing(call) ||
	    call->errors == NULL || repo == NULL || repo[0] == '\0' ||
	    number < 0 || code >= 0)
		return AFK_EINVAL;
	if (message == NULL) {
		if (number == 0)
			afk__errf(generic, "the repository could not be listed "
			          "(%d: %s)", code, afk_strerror(code));
		else
			afk__errf(generic, "issue #%ld could not be vetted "
			          "(%d: %s)", number, code, afk_strerror(code));
		message = generic;
	}
	/* A failure the callback believes reported must not vanish: the
	 * tick would treat the repository as listed in full. */
	if (afk__errv_add(call->errors, repo, number, code, message)) {
		call->lost = 1;
		return AFK_ENOMEM;
	}
	return AFK_OK;
}

int afk_call_set_thread_id(afk_call *call, const char *thread_id)
{
	char *t;

	/* The id goes into the run record, which is JSON: UTF-8 only. */
	if (call == NULL || thread_id == NULL || thread_id[0] == '\0' ||
	    call->kind != AFK__CALL_DISPATCH || !afk__utf8_valid(thread_id))
		return AFK_EINVAL;
	t = afk__strdup(thread_id);
	if (t == NULL) {
		call->lost = 1;
		return AFK_ENOMEM;
	}
	free(call->thread_id);
	call->thread_id = t;
	return AFK_OK;
}

int afk_call_generation(const afk_call *call)
{
	return call != NULL ? call->generation : 1;
}

/* Only upwards: the generations below the one asked for are runs that
 * ended, and a dispatch must never take one of them up again. */
int afk_call_set_generation(afk_call *call, int generation)
{
	if (call == NULL || call->kind != AFK__CALL_DISPATCH ||
	    generation < call->generation || generation > AFK__GENERATION_MAX)
		return AFK_EINVAL;
	call->generation = generation;
	return AFK_OK;
}

/* Copies s into *field for a call of kind; a failed copy marks the
 * call's output lost, so the callback cannot succeed without it. */
static int set_output(afk_call *call, enum afk__call_kind kind,
                      char **field, const char *s)
{
	char *d;

	if (call == NULL || s == NULL || call->kind != kind)
		return AFK_EINVAL;
	d = afk__strdup(s);
	if (d == NULL) {
		call->lost = 1;
		return AFK_ENOMEM;
	}
	free(*field);
	*field = d;
	return AFK_OK;
}

int afk_call_set_comment(afk_call *call, const char *body)
{
	return set_output(call, AFK__CALL_FIND_COMMENT,
	                  call ? &call->comment : NULL, body);
}

int afk_call_set_url(afk_call *call, const char *url)
{
	return set_output(call, AFK__CALL_FIND_COMMENT,
	                  call ? &call->url : NULL, url);
}

int afk_call_set_agent_state(afk_call *call, int state)
{
	if (call == NULL || call->kind != AFK__CALL_SNAPSHOT ||
	    state < AFK_AGENT_RUNNING || state > AFK_AGENT_GONE)
		return AFK_EINVAL;
	call->agent_state = state;
	return AFK_OK;
}

int afk_call_set_phase(afk_call *call, int phase)
{
	if (call == NULL || call->kind != AFK__CALL_SNAPSHOT ||
	    phase < AFK_PHASE_DISPATCHED || phase > AFK_PHASE_PUSHED)
		return AFK_EINVAL;
	call->phase = phase;
	return AFK_OK;
}

int afk_call_set_activity(afk_call *call, long long when)
{
	if (call == NULL || call->kind != AFK__CALL_SNAPSHOT || when <= 0)
		return AFK_EINVAL;
	call->activity = when;
	return AFK_OK;
}

/* The largest usage figure kept: far beyond any real run, small enough
 * that sums and JSON doubles stay exact. */
#define USAGE_MAX 1000000000000000LL

int afk_call_set_usage(afk_call *call, long long tokens_in,
                       long long tokens_out, long long cost_microusd)
{
	if (call == NULL || call->kind != AFK__CALL_SNAPSHOT ||
	    tokens_in < -1 || tokens_out < -1 || cost_microusd < -1)
		return AFK_EINVAL;
	call->usage_set = 1;
	call->tokens_in = tokens_in < USAGE_MAX ? tokens_in : USAGE_MAX;
	call->tokens_out = tokens_out < USAGE_MAX ? tokens_out : USAGE_MAX;
	call->cost_microusd = cost_microusd < USAGE_MAX ? cost_microusd
	                                                : USAGE_MAX;
	return AFK_OK;
}

int afk_call_set_pr(afk_call *call, int state, const char *head)
{
	if (call == NULL || call->kind != AFK__CALL_CI_STATUS ||
	    state < AFK_PR_NONE || state > AFK_PR_MERGED)
		return AFK_EINVAL;
	if (head != NULL && !afk__utf8_valid(head))
		return AFK_EINVAL;
	if (head != NULL && head[0] != '\0') {
		int rc = set_output(call, AFK__CALL_CI_STATUS, &call->head, head);
		if (rc)
			return rc;
	}
	call->pr = state;
	return AFK_OK;
}

int afk_call_set_pr_info(afk_call *call, long number, const char *author,
                         const char *branch)
{
	char *s;

	if (call == NULL || call->kind != AFK__CALL_CI_STATUS || number <= 0 ||
	    (author != NULL && !afk__utf8_valid(author)) ||
	    (branch != NULL && !afk__utf8_valid(branch)))
		return AFK_EINVAL;
	if (author != NULL && author[0] == '\0')
		author = NULL;
	if (branch != NULL && branch[0] == '\0')
		branch = NULL;
	s = afk__aprintf("#%ld%s%s%s%s%s", number,
	                 author || branch ? " (" : "", author ? author : "",
	                 author && branch ? ", " : "",
	                 branch ? "branch " : "", branch ? branch : "");
	if (s != NULL && (author || branch)) {
		char *t = afk__aprintf("%s)", s);

		free(s);
		s = t;
	}
	if (s == NULL) {
		call->lost = 1;
		return AFK_ENOMEM;
	}
	free(call->pr_info);
	call->pr_info = s;
	return AFK_OK;
}

static int set_status(afk_call *call, int *field, int state)
{
	if (call == NULL || call->kind != AFK__CALL_CI_STATUS ||
	    state < AFK_STATUS_NONE || state > AFK_STATUS_FAILURE)
		return AFK_EINVAL;
	*field = state;
	return AFK_OK;
}

int afk_call_set_ci(afk_call *call, int state)
{
	return set_status(call, call ? &call->ci : NULL, state);
}

int afk_call_set_deploy(afk_call *call, int state)
{
	return set_status(call, call ? &call->deploy : NULL, state);
}

int afk_call_add_failing_check(afk_call *call, const char *name,
                               const char *url)
{
	if (call == NULL || name == NULL || name[0] == '\0' ||
	    call->kind != AFK__CALL_CI_STATUS || !afk__utf8_valid(name) ||
	    (url != NULL && !afk__utf8_valid(url)))
		return AFK_EINVAL;
	if (afk__strv_push(&call->failing, name)) {
		call->lost = 1;
		return AFK_ENOMEM;
	}
	if (afk__strv_push(&call->failing_urls, url ? url : "")) {
		free(call->failing.v[--call->failing.n]);
		call->lost = 1;
		return AFK_ENOMEM;
	}
	return AFK_OK;
}

/* --- the probe ------------------------------------------------------ */

/* Runs probe (NULL: none registered) for an adapter of the kind what
 * names, leaving the message in errmsg: why it failed, or what a probe
 * that succeeded said with afk_call_set_error() (empty when nothing). */
static int run_probe(afk_probe_fn probe, void *userdata, const char *what,
                     char *errmsg)
{
	afk_call call;
	int rc;

	errmsg[0] = '\0';
	if (probe == NULL) {
		afk__errf(errmsg, "%s: no probe is registered", what);
		return AFK_ENOTSUP;
	}
	afk__call_init(&call, AFK__CALL_PROBE, NULL);
	rc = probe(&call, userdata);
	rc = afk__call_finish(&call, rc, what, errmsg);
	/* A probe that succeeded may have said what it found (a version):
	 * kept as it was set, with no prefix, for the host to show. */
	if (rc == AFK_OK && call.message != NULL)
		afk__errf(errmsg, "%s", call.message);
	afk__call_clear(&call);
	return rc;
}

int afk__tracker_list(afk_tracker *tracker, const afk__strv *repos,
                      afk__iset *set, afk__errv *errors, const char *what,
                      char *errbuf)
{
	afk_call call;
	int rc;

	afk__call_init(&call, AFK__CALL_LIST_READY, set);
	call.errors = errors;
	rc = tracker->list_ready(&call, (const char *const *)repos->v, repos->n,
	                         tracker->userdata);
	rc = afk__call_finish(&call, rc, what, errbuf);
	afk__call_clear(&call);
	return rc;
}

int afk__tracker_list_closed(afk_tracker *tracker, const afk__strv *repos,
                             const char *label, afk__iset *set,
                             afk__errv *errors, const char *what,
                             char *errbuf)
{
	afk_call call;
	int rc;

	afk__call_init(&call, AFK__CALL_LIST_CLOSED, set);
	call.errors = errors;
	rc = tracker->list_closed(&call, (const char *const *)repos->v,
	                          repos->n, label, tracker->userdata);
	rc = afk__call_finish(&call, rc, what, errbuf);
	afk__call_clear(&call);
	return rc;
}

/* --- the tracker ----------------------------------------------------- */

int afk_tracker_new(afk_tracker **out)
{
	if (out == NULL)
		return AFK_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? AFK_OK : AFK_ENOMEM;
}

void afk_tracker_free(afk_tracker *tracker)
{
	if (tracker == NULL)
		return;
	if (tracker->destroy)
		tracker->destroy(tracker->userdata);
	free(tracker);
}

int afk_tracker_set_userdata(afk_tracker *tracker, void *userdata,
                             afk_destroy_fn destroy)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	if (userdata == tracker->userdata && destroy == tracker->destroy)
		return AFK_OK; /* the same again: destroying it would free it */
	if (tracker->destroy)
		tracker->destroy(tracker->userdata);
	tracker->userdata = userdata;
	tracker->destroy = destroy;
	tracker->tick_end = NULL;    /* it was the old userdata's */
	return AFK_OK;
}

void afk__tracker_set_tick_end(afk_tracker *tracker, afk__tick_end_fn fn)
{
	if (tracker != NULL)
		tracker->tick_end = fn;
}

int afk_tracker_set_list_ready(afk_tracker *tracker, afk_list_ready_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->list_ready = fn;
	return AFK_OK;
}

int afk_tracker_set_list_closed(afk_tracker *tracker, afk_list_closed_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->list_closed = fn;
	return AFK_OK;
}

int afk_tracker_set_add_label(afk_tracker *tracker, afk_add_label_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->add_label = fn;
	return AFK_OK;
}

int afk_tracker_set_close_issue(afk_tracker *tracker, afk_close_issue_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->close_issue = fn;
	return AFK_OK;
}

int afk_tracker_set_remove_label(afk_tracker *tracker, afk_remove_label_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->remove_label = fn;
	return AFK_OK;
}

int afk_tracker_set_find_comment(afk_tracker *tracker, afk_find_comment_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->find_comment = fn;
	return AFK_OK;
}

int afk_tracker_set_upsert_comment(afk_tracker *tracker,
                                   afk_upsert_comment_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->upsert_comment = fn;
	return AFK_OK;
}

int afk_tracker_set_probe(afk_tracker *tracker, afk_probe_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->probe = fn;
	return AFK_OK;
}

int afk_tracker_probe(afk_tracker *tracker)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	return run_probe(tracker->probe, tracker->userdata, "tracker probe",
	                 tracker->errmsg);
}

const char *afk_tracker_errmsg(const afk_tracker *tracker)
{
	return tracker ? tracker->errmsg : "";
}

/* --- the agent ------------------------------------------------------- */

int afk_agent_new(afk_agent **out)
{
	if (out == NULL)
		return AFK_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? AFK_OK : AFK_ENOMEM;
}

void afk_agent_free(afk_agent *agent)
{
	if (agent == NULL)
		return;
	if (agent->destroy)
		agent->destroy(agent->userdata);
	free(agent);
}

int afk_agent_set_userdata(afk_agent *agent, void *userdata,
                           afk_destroy_fn destroy)
{
	if (agent == NULL)
		return AFK_EINVAL;
	if (userdata == agent->userdata && destroy == agent->destroy)
		return AFK_OK; /* the same again: destroying it would free it */
	if (agent->destroy)
		agent->destroy(agent->userdata);
	agent->userdata = userdata;
	agent->destroy = destroy;
	agent->tick_end = NULL;    /* it was the old userdata's */
	return AFK_OK;
}

void afk__agent_set_tick_end(afk_agent *agent, afk__tick_end_fn fn)
{
	if (agent != NULL)
		agent->tick_end = fn;
}

int afk_agent_set_dispatch(afk_agent *agent, afk_dispatch_fn fn)
{
	if (agent == NULL)
		return AFK_EINVAL;
	agent->dispatch = fn;
	return AFK_OK;
}

int afk_agent_set_snapshot(afk_agent *agent, afk_snapshot_fn fn)
{
	if (agent == NULL)
		return AFK_EINVAL;
	agent->snapshot = fn;
	return AFK_OK;
}

int afk_agent_set_send_turn(afk_agent *agent, afk_send_turn_fn fn)
{
	if (agent == NULL)
		return AFK_EINVAL;
	agent->send_turn = fn;
	return AFK_OK;
}

int afk_agent_set_stop(afk_agent *agent, afk_stop_fn fn)
{
	if (agent == NULL)
		return AFK_EINVAL;
	agent->stop = fn;
	return AFK_OK;
}

int afk_agent_set_probe(afk_agent *agent, afk_probe_fn fn)
{
	if (agent == NULL)
		return AFK_EINVAL;
	agent->probe = fn;
	return AFK_OK;
}

int afk_agent_probe(afk_agent *agent)
{
	if (agent == NULL)
		return AFK_EINVAL;
	return run_probe(agent->probe, agent->userdata, "agent probe",
	                 agent->errmsg);
}

const char *afk_agent_errmsg(const afk_agent *agent)
{
	return agent ? agent->errmsg : "";
}

/* --- CI and notifier ------------------------------------------------- */

int afk_ci_new(afk_ci **out)
{
	if (out == NULL)
		return AFK_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? AFK_OK : AFK_ENOMEM;
}

void afk_ci_free(afk_ci *ci)
{
	if (ci == NULL)
		return;
	if (ci->destroy)
		ci->destroy(ci->userdata);
	free(ci);
}

int afk_ci_set_userdata(afk_ci *ci, void *userdata, afk_destroy_fn destroy)
{
	if (ci == NULL)
		return AFK_EINVAL;
	if (userdata == ci->userdata && destroy == ci->destroy)
		return AFK_OK; /* the same again: destroying it would free it */
	if (ci->destroy)
		ci->destroy(ci->userdata);
	ci->userdata = userdata;
	ci->destroy = destroy;
	ci->tick_end = NULL;    /* it was the old userdata's */
	return AFK_OK;
}

void afk__ci_set_tick_end(afk_ci *ci, afk__tick_end_fn fn)
{
	if (ci != NULL)
		ci->tick_end = fn;
}

int afk_ci_set_status(afk_ci *ci, afk_ci_status_fn fn)
{
	if (ci == NULL)
		return AFK_EINVAL;
	ci->status = fn;
	return AFK_OK;
}

int afk_ci_set_probe(afk_ci *ci, afk_probe_fn fn)
{
	if (ci == NULL)
		return AFK_EINVAL;
	ci->probe = fn;
	return AFK_OK;
}

int afk_ci_probe(afk_ci *ci)
{
	if (ci == NULL)
		return AFK_EINVAL;
	return run_probe(ci->probe, ci->userdata, "CI probe", ci->errmsg);
}

const char *afk_ci_errmsg(const afk_ci *ci)
{
	return ci ? ci->errmsg : "";
}

int afk_notifier_new(afk_notifier **out)
{
	if (out == NULL)
		return AFK_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? AFK_OK : AFK_ENOMEM;
}

void afk_notifier_free(afk_notifier *notifier)
{
	if (notifier == NULL)
		return;
	if (notifier->destroy)
		notifier->destroy(notifier->userdata);
	free(notifier);
}

int afk_notifier_set_userdata(afk_notifier *notifier, void *userdata,
                              afk_destroy_fn destroy)
{
	if (notifier == NULL)
		return AFK_EINVAL;
	if (userdata == notifier->userdata && destroy == notifier->destroy)
		return AFK_OK; /* the same again: destroying it would free it */
	if (notifier->destroy)
		notifier->destroy(notifier->userdata);
	notifier->userdata = userdata;
	notifier->destroy = destroy;
	return AFK_OK;
}

int afk_notifier_set_notify(afk_notifier *notifier, afk_notify_fn fn)
{
	if (notifier == NULL)
		return AFK_EINVAL;
	notifier->notify = fn;
	return AFK_OK;
}

int afk_notifier_set_probe(afk_notifier *notifier, afk_probe_fn fn)
{
	if (notifier == NULL)
		return AFK_EINVAL;
	notifier->probe = fn;
	return AFK_OK;
}

int afk_notifier_probe(afk_notifier *notifier)
{
	if (notifier == NULL)
		return AFK_EINVAL;
	return run_probe(notifier->probe, notifier->userdata,
	                 "notifier probe", notifier->errmsg);
}

const char *afk_notifier_errmsg(const afk_notifier *notifier)
{
	return notifier ? notifier->errmsg : "";
}

void afk__adapters_tick_end(afk_tracker *tracker, afk_agent *agent,
                            afk_ci *ci)
{
	if (tracker != NULL && tracker->tick_end != NULL)
		tracker->tick_end(tracker->userdata);
	if (agent != NULL && agent->tick_end != NULL)
		agent->tick_end(agent->userdata);
	if (ci != NULL && ci->tick_end != NULL)
		ci->tick_end(ci->userdata);
}
