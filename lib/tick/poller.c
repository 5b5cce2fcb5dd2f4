/*
 * lib/tick/poller.c - the poll tick: the policy wired to the adapters.
 */
#include "tick/poller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checklist.h"
#include "core/config.h"
#include "core/policy.h"
#include "core/prompt.h"

/* What the tick reads of the configuration, copied when it starts: a
 * callback may change or even free the configuration it was called
 * with, and the tick must not read it half-changed. */
typedef struct snapshot {
	afk__strv allowlist;
	char *in_progress_label;
	char *preamble;
	int deploy_stage;     /* for the first checklist */
	int budget;
	afk__usage_cap cap;   /* the cost budget the checklist shows */
	size_t max_in_flight;  /* 0: no cap */
} snapshot;

static void snapshot_clear(snapshot *s)
{
	afk__strv_clear(&s->allowlist);
	free(s->in_progress_label);
	free(s->preamble);
}

static int snapshot_take(snapshot *s, const afk_config *cfg)
{
	memset(s, 0, sizeof(*s));
	if (afk__strv_copy(&s->allowlist, &cfg->allowlist))
		return AFK_ENOMEM;
	s->in_progress_label = afk__strdup(cfg->in_progress_label);
	if (s->in_progress_label == NULL)
		goto oom;
	if (cfg->preamble != NULL) {
		s->preamble = afk__strdup(cfg->preamble);
		if (s->preamble == NULL)
			goto oom;
	}
	s->deploy_stage = cfg->deploy_stage;
	s->budget = cfg->fix_forward_budget;
	s->cap.tokens = cfg->budget_tokens;
	s->cap.cost_microusd = cfg->budget_cost_microusd;
	s->max_in_flight = (size_t)cfg->max_in_flight;
	return AFK_OK;
oom:
	snapshot_clear(s);
	return AFK_ENOMEM;
}

int afk_poller_new(afk_poller **out, afk_tracker *tracker, afk_agent *agent)
{
	afk_poller *p;

	if (out == NULL || tracker == NULL || agent == NULL)
		return AFK_EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return AFK_ENOMEM;
	p->tracker = tracker;
	p->agent = agent;
	*out = p;
	return AFK_OK;
}

void afk_poller_free(afk_poller *poller)
{
	free(poller);
}

const char *afk_poller_errmsg(const afk_poller *poller)
{
	return poller ? poller->errmsg : "";
}

/* Fails with AFK_ENOTSUP, before any call, when a callback the tick
 * would need is missing: better than failing after a dispatch. */
static int check_callbacks(afk_poller *p)
{
	const char *missing = NULL;

	if (p->tracker->list_ready == NULL)
		missing = "the tracker has no list_ready callback";
	else if (p->tracker->add_label == NULL)
		missing = "the tracker has no add_label callback";
	else if (p->agent->dispatch == NULL)
		missing = "the agent has no dispatch callback";
	if (missing == NULL)
		return AFK_OK;
	afk__errf(p->errmsg, "%s", missing);
	return AFK_ENOTSUP;
}

/* The generation the next run of issue i is, read from the run record
 * its last run left: that one's when it has not ended (a dispatch that
 * stopped before its lock is taken up again, and its thread with it),
 * one past it when it has - closed or handed to a human, it is over,
 * and the agent must start afresh, never adopt its thread (one stuck on
 * an approval would be escalated again at once).  1 without a readable
 * record, or with a tracker that cannot find one (a poll-only host). */
static int next_generation(afk_poller *p, afk_result *res, size_t i,
                           int *generation, int *stopping)
{
	const char *repo = afk__iset_repo(&res->set, i);
	long number = res->set.recs[i].number;
	char what[160];
	afk__record rec;
	afk_call call;
	int rc;

	*generation = 1;
	*stopping = 0;
	if (p->tracker->find_comment == NULL)
		return AFK_OK;
	afk__call_init(&call, AFK__CALL_FIND_COMMENT, NULL);
	rc = p->tracker->find_comment(&call, repo, number, AFK__RECORD_MARKER,
	                              p->tracker->userdata);
	snprintf(what, sizeof(what), "tracker find_comment of %s#%ld (its "
	         "last run, before the dispatch)", repo, number);
	rc = afk__call_finish(&call, rc, what, p->errmsg);
	if (rc == AFK_OK && call.comment != NULL &&
	    afk__record_parse(call.comment, &rec) == AFK_OK) {
		*generation = rec.generation;
		*stopping = afk__record_stopping(&rec);
		if (rec.status != AFK__RUN_ACTIVE &&
		    *generation < AFK__GENERATION_MAX)
			(*generation)++;
		afk__record_clear(&rec);
	}
	afk__call_clear(&call);
	return rc;
}

/* Dispatches issue i as run *generation and hands back the thread id
 * (caller frees) and, in *generation, the one the agent started (maybe
 * past the one asked for). */
static int dispatch(afk_poller *p, const snapshot *s, afk_result *res,
                    size_t i, char **thread_id, int *generation)
{
	const char *repo = afk__iset_repo(&res->set, i);
	long number = res->set.recs[i].number;
	char what[128 + AFK__ERRMSG_SIZE];
	char *prompt;
	afk_call call;
	int rc;

	prompt = afk__prompt_build(s->preamble, repo, number);
	if (prompt == NULL)
		return AFK_ENOMEM;
	afk__call_init(&call, AFK__CALL_DISPATCH, NULL);
	call.generation = *generation;
	rc = p->agent->dispatch(&call, repo, number, prompt,
	                        p->agent->userdata);
	if (rc == 0 && call.thread_id == NULL) {
		afk_call_set_error(&call, "returned success without a thread "
		                   "id (afk_call_set_thread_id)");
		rc = AFK_ECALLBACK;
	}
	snprintf(what, sizeof(what), "agent dispatch of %s#%ld", repo, number);
	rc = afk__call_finish(&call, rc, what, p->errmsg);
	if (rc == AFK_OK) {
		*thread_id = call.thread_id;
		call.thread_id = NULL;
		*generation = call.generation;
	}
	afk__call_clear(&call);
	free(prompt);
	return rc;
}

/* Stamps the lock on a dispatched issue.  A failure here is its own
 * error: the agent runs, but its repository is not locked. */
static int stamp(afk_poller *p, const snapshot *s, afk_result *res,
                 size_t i, const char *thread_id)
{
	const char *repo = afk__iset_repo(&res->set, i);
	long number = res->set.recs[i].number;
	char why[AFK__ERRMSG_SIZE];
	afk_call call;
	int rc;

	afk__call_init(&call, AFK__CALL_ADD_LABEL, NULL);
	rc = p->tracker->add_label(&call, repo, number, s->in_progress_label,
	                           p->tracker->userdata);
	rc = afk__call_finish(&call, rc, "tracker add_label", why);
	afk__call_clear(&call);
	if (rc == AFK_OK)
		return AFK_OK;
	afk__errf(p->errmsg, "%s#%ld was dispatched (thread %s) but the "
	          "label \"%s\" was not added, so its repository is not "
	          "locked: %s", repo, number, thread_id, s->in_progress_label,
	          why);
	return AFK_ELABEL;
}

/* Writes the run's first record - its thread id, which nothing else
 * keeps, and its generation - as the checklist comment the watch tick
 * reads, over the record of the issue's last run.  Only for a tracker
 * that can hold comments: a poll-only host need not. */
static int record(afk_poller *p, const snapshot *s, afk_result *res,
                  size_t i, const char *thread_id, int generation)
{
	const char *repo = afk__iset_repo(&res->set, i);
	long number = res->set.recs[i].number;
	char why[AFK__ERRMSG_SIZE];
	afk__record rec;
	afk_call call;
	char *body;
	int rc;

	if (p->tracker->upsert_comment == NULL)
		return AFK_OK;
	memset(&rec, 0, sizeof(rec));
	if (afk__record_set_str(&rec.thread, thread_id))
		return AFK_ENOMEM;
	rec.generation = generation;
	body = afk__checklist_render_capped(&rec, repo, number,
	                                    s->deploy_stage, s->budget,
	                                    &s->cap);
	afk__record_clear(&rec);
	if (body == NULL)
		return AFK_ENOMEM;
	afk__call_init(&call, AFK__CALL_UPSERT_COMMENT, NULL);
	rc = p->tracker->upsert_comment(&call, repo, number,
	                                AFK__RECORD_MARKER, body,
	                                p->tracker->userdata);
	rc = afk__call_finish(&call, rc, "tracker upsert_comment", why);
	afk__call_clear(&call);
	free(body);
	if (rc)
		afk__errf(p->errmsg, "%s#%ld was dispatched (thread %s) and "
		          "locked, but its run record was not written, so the "
		          "watch tick will hand it to a human: %s", repo, number,
		          thread_id, why);
	return rc;
}

/* Records a failure of issue i that the tick goes on from, with the
 * message the failing step left on the poller.  AFK_ENOMEM is no such
 * failure: it ends the tick, and so does losing a failure for want of
 * memory. */
static int note_msg(afk_poller *p, afk_result *res, size_t i, int code,
                    const char *msg)
{
	if (code == AFK_ENOMEM)
		return code;
	if (afk__errv_add(&res->errors, afk__iset_repo(&res->set, i),
	                  res->set.recs[i].number, code, msg))
		return AFK_ENOMEM;
	/* in the result now: a later failure must not read as this one */
	p->errmsg[0] = '\0';
	return AFK_OK;
}

static int note(afk_poller *p, afk_result *res, size_t i, int code)
{
	return note_msg(p, res, i, code, p->errmsg);
}

/* Dispatches the picks in order, each labelled right after its dispatch
 * succeeded.  One repository's failure is its own: it is recorded and
 * the next pick goes on - but an agent found unreachable is not asked
 * again this tick (a dead server costs one timeout, not one per
 * repository).  Only AFK_ENOMEM stops, marking the rest not reached. */
static int dispatch_picks(afk_poller *p, const snapshot *s, afk_result *res,
                          const afk__selection *sel)
{
	char why[AFK__ERRMSG_SIZE];
	size_t k, i;
	int rc = AFK_OK, rc2, unavailable = 0;

	res->issues = calloc(sel->out.npicks + 1, sizeof(*res->issues));
	res->threads = calloc(sel->out.npicks + 1, sizeof(*res->threads));
	res->listed_at = calloc(sel->out.npicks + 1,
	                        sizeof(*res->listed_at));
	if (res->issues == NULL || res->threads == NULL ||
	    res->listed_at == NULL)
		return AFK_ENOMEM;
	for (k = 0; rc == AFK_OK && k < sel->out.npicks; k++) {
		afk_issue *issue;
		char *thread_id = NULL;
		int generation, stopping;

		i = sel->out.picks[k];
		if (unavailable) {
			res->reason[i] = AFK_SKIP_AGENT_UNAVAILABLE;
			continue;
		}
		/* Everything that could fail for want of memory is done
		 * before the dispatch, so a dispatch is never lost. */
		rc = afk__iset_issue(&res->set, i, &issue);
		if (rc)
			break;
		/* Which run this is, before it starts: not knowing, the
		 * agent could take up the thread of one that ended. */
		rc = next_generation(p, res, i, &generation, &stopping);
		if (rc == AFK_OK && stopping) {
			/* a human took it back; the watch stops it */
			afk_issue_free(issue);
			res->reason[i] = AFK_SKIP_STOPPING;
			continue;
		}
		if (rc == AFK_OK) {
			rc = dispatch(p, s, res, i, &thread_id, &generation);
			unavailable = rc == AFK_EUNAVAIL;
		}
		if (rc) {
			afk_issue_free(issue);
			res->reason[i] = AFK_SKIP_DISPATCH_FAILED;
			rc = note(p, res, i, rc);
			continue;
		}
		res->issues[res->ndispatched] = issue;
		res->listed_at[res->ndispatched] = i;
		res->threads[res->ndispatched++] = thread_id;
		/* The record before the lock: a watch tick finds runs by their
		 * label, and one that sees the label must find the record.  The
		 * lock follows whatever became of the record: a dispatched
		 * issue is always locked. */
		rc2 = record(p, s, res, i, thread_id, generation);
		memcpy(why, p->errmsg, sizeof(why));
		rc = stamp(p, s, res, i, thread_id);
		/* An agent running without its lock is the graver news: it
		 * comes first, as it did when the tick stopped on it. */
		if (rc)
			rc = note(p, res, i, rc);
		if (rc == AFK_OK && rc2)
			rc = note_msg(p, res, i, rc2, why);
	}
	for (; k < sel->out.npicks; k++)
		if (res->reason[sel->out.picks[k]] == 0)
			res->reason[sel->out.picks[k]] = AFK_SKIP_NOT_REACHED;
	return rc;
}

static int record_skipped(afk_result *res)
{
	size_t i;

	res->skipped = malloc((res->set.n + 1) * sizeof(*res->skipped));
	if (res->skipped == NULL)
		return AFK_ENOMEM;
	for (i = 0; i < res->set.n; i++)
		if (res->reason[i] != 0)
			res->skipped[res->nskipped++] = i;
	return AFK_OK;
}

/* What the listing reported it could not read, as the policy takes it:
 * per repository id of the set, 1 when it was not listed in full; per
 * issue, 1 when it could not be vetted.  Both NULL when nothing failed
 * (the common case costs nothing); the caller frees them. */
static int partial_flags(const afk_result *res, uint8_t **repo_failed,
                         uint8_t **unvetted)
{
	const afk__iset *set = &res->set;
	const afk__errv *e = &res->errors;
	size_t i, k;

	*repo_failed = *unvetted = NULL;
	if (e->n == 0)
		return AFK_OK;
	*repo_failed = calloc(set->repos.n + 1, 1);
	*unvetted = calloc(set->n + 1, 1);
	if (*repo_failed == NULL || *unvetted == NULL)
		return AFK_ENOMEM;
	for (k = 0; k < e->n; k++) {
		uint32_t id = afk__strtab_find(&set->repos, e->v[k].repo);

		if (id != AFK__NONE && e->v[k].number == 0)
			(*repo_failed)[id] = 1;
	}
	/* Few issues fail their vetting: a scan per failure is enough. */
	for (k = 0; k < e->n; k++) {
		uint32_t id = afk__strtab_find(&set->repos, e->v[k].repo);

		if (id == AFK__NONE || e->v[k].number == 0)
			continue;
		for (i = 0; i < set->n; i++)
			if (set->recs[i].repo == id &&
			    set->recs[i].number == e->v[k].number)
				(*unvetted)[i] = 1;
	}
	return AFK_OK;
}

/* Selects over what was listed, knowing what could not be. */
static int select_picks(const snapshot *s, afk_result *res,
                        afk__selection *sel)
{
	uint8_t *repo_failed, *unvetted;
	int rc;

	rc = partial_flags(res, &repo_failed, &unvetted);
	if (rc == AFK_OK)
		rc = afk__selection_run_partial(sel, &res->set,
		                                (const char *const *)
		                                s->allowlist.v,
		                                s->allowlist.n,
		                                s->in_progress_label,
		                                repo_failed, unvetted,
		                                s->max_in_flight);
	free(repo_failed);
	free(unvetted);
	return rc;
}

/* The tick's code and message when it went on to the end: the first
 * failure's, so that a single failure reads as it always did.  The
 * first nlisted failures are the listing's own reports, whose message
 * names neither the callback nor the repository. */
static int first_failure(afk_poller *p, const afk_result *res,
                         size_t nlisted)
{
	const afk__err *e = &res->errors.v[0];

	if (res->errors.n == 0)
		return AFK_OK;
	if (nlisted == 0)
		afk__errf(p->errmsg, "%s", e->message);
	else if (e->number == 0)
		afk__errf(p->errmsg, "tracker list_ready: %s: %s", e->repo,
		          e->message);
	else
		afk__errf(p->errmsg, "tracker list_ready: %s#%ld: %s", e->repo,
		          e->number, e->message);
	return e->code;
}

/* The failure that stopped the tick: its code and message stay on the
 * poller, and it is one of the result's errors too, of no one
 * repository (best effort: it is on the poller whatever becomes of
 * this). */
static int stop(afk_poller *p, afk_result *res, int rc)
{
	if (rc == AFK_ENOMEM && p->errmsg[0] == '\0')
		afk__errf(p->errmsg, "out of memory during the poll tick");
	afk__errv_add(&res->errors, "", 0, rc, p->errmsg);
	res->stopped = 1;
	return rc;
}

static int tick(afk_poller *p, const snapshot *s, afk_result *res)
{
	afk__selection sel;
	size_t nlisted;
	int rc, rc2;

	rc = afk__tracker_list(p->tracker, &s->allowlist, &res->set,
	                       &res->errors, "tracker list_ready", p->errmsg);
	if (rc)
		return stop(p, res, rc);
	nlisted = res->errors.n;
	rc = select_picks(s, res, &sel);
	if (rc)
		return stop(p, res, rc);
	res->reason = sel.out.reason;
	sel.out.reason = NULL;
	rc = dispatch_picks(p, s, res, &sel);
	afk__selection_clear(&sel);
	rc2 = record_skipped(res);
	if (rc == AFK_OK)
		rc = rc2;
	return rc ? stop(p, res, rc) : first_failure(p, res, nlisted);
}

/* Tells the host's log what the tick did, once it is over (a callback
 * may have changed the configuration meanwhile: the log is the one the
 * tick started with).  Events: see afk_config_set_log(3). */
static void log_result(afk__log *log, const afk_result *res)
{
	const afk__err *e;
	size_t i;
	int stop;

	for (i = 0; i < res->ndispatched; i++)
		afk__logf(log, AFK_LOG_NOTICE, "poll.dispatch",
		          "%s#%ld dispatched: thread %s",
		          afk_issue_repo(res->issues[i]),
		          afk_issue_number(res->issues[i]), res->threads[i]);
	for (i = 0; afk__log_wants(log, AFK_LOG_INFO) && i < res->nskipped;
	     i++)
		afk__logf(log, AFK_LOG_INFO, "poll.skip", "%s#%ld skipped: %s",
		          afk_result_skipped_repo(res, i),
		          afk_result_skipped_number(res, i),
		          afk_skip_reason_str(afk_result_skipped_reason(res,
		                                                        i)));
	for (i = 0; i < res->errors.n; i++) {
		e = &res->errors.v[i];
		stop = res->stopped && i + 1 == res->errors.n;
		/* "%.0ld" prints nothing for 0: a whole repository's */
		afk__logf(log, stop ? AFK_LOG_ERROR : AFK_LOG_WARNING,
		          stop ? "poll.failed" : "poll.error", "%s%s%.0ld%s%s",
		          e->repo, e->number != 0 ? "#" : "", e->number,
		          e->repo[0] != '\0' ? ": " : "", e->message);
	}
}

int afk_poller_run_once(afk_poller *poller, const afk_config *cfg,
                        afk_result **result)
{
	afk_result *res;
	afk__log *log;
	snapshot s;
	int rc;

	if (result != NULL)
		*result = NULL;
	if (poller == NULL || cfg == NULL || result == NULL)
		return AFK_EINVAL;
	if (poller->in_tick) {
		afk__errf(poller->errmsg, "afk_poller_run_once was called from "
		          "inside one of its own callbacks");
		return AFK_ERECURSIVE;
	}
	poller->errmsg[0] = '\0';
	res = calloc(1, sizeof(*res));
	if (res == NULL)
		return AFK_ENOMEM;
	/* Fail closed: a disarmed configuration calls no adapter at all. */
	if (!afk_config_armed(cfg)) {
		afk__log_disarmed(cfg);
		*result = res;
		return AFK_OK;
	}
	log = afk__log_ref(cfg->log);
	rc = check_callbacks(poller);
	if (rc == AFK_OK)
		rc = snapshot_take(&s, cfg);
	if (rc == AFK_ENOMEM) {
		afk__log_unref(log);
		afk_result_free(res);
		return rc;
	}
	if (rc == AFK_OK) {
		poller->in_tick = 1;
		rc = tick(poller, &s, res);
		poller->in_tick = 0;
		afk__adapters_tick_end(poller->tracker, poller->agent, NULL);
		snapshot_clear(&s);
	} else {
		stop(poller, res, rc);
	}
	log_result(log, res);
	afk__log_unref(log);
	*result = res;
	return rc;
}

/* --- the result ------------------------------------------------------ */

void afk_result_free(afk_result *result)
{
	size_t i;

	if (result == NULL)
		return;
	for (i = 0; i < result->ndispatched; i++) {
		afk_issue_free(result->issues[i]);
		free(result->threads[i]);
	}
	free(result->issues);
	free(result->threads);
	free(result->listed_at);
	free(result->reason);
	free(result->skipped);
	afk__errv_clear(&result->errors);
	afk__iset_clear(&result->set);
	free(result);
}

size_t afk_result_dispatched_count(const afk_result *result)
{
	return result ? result->ndispatched : 0;
}

const afk_issue *afk_result_dispatched_issue(const afk_result *result,
                                             size_t i)
{
	if (result == NULL || i >= result->ndispatched)
		return NULL;
	return result->issues[i];
}

const char *afk_result_dispatched_thread(const afk_result *result, size_t i)
{
	if (result == NULL || i >= result->ndispatched)
		return NULL;
	return result->threads[i];
}

size_t afk_result_skipped_count(const afk_result *result)
{
	return result ? result->nskipped : 0;
}

const char *afk_result_skipped_repo(const afk_result *result, size_t i)
{
	if (result == NULL || i >= result->nskipped)
		return NULL;
	return afk__iset_repo(&result->set, result->skipped[i]);
}

long afk_result_skipped_number(const afk_result *result, size_t i)
{
	if (result == NULL || i >= result->nskipped)
		return 0;
	return result->set.recs[result->skipped[i]].number;
}

int afk_result_skipped_reason(const afk_result *result, size_t i)
{
	if (result == NULL || i >= result->nskipped)
		return 0;
	return result->reason[result->skipped[i]];
}

size_t afk_result_reasons(const afk_result *result, int *out, size_t n)
{
	size_t i;

	if (result == NULL)
		return 0;
	if (n > result->set.n)
		n = result->set.n;
	for (i = 0; i < n; i++)
		out[i] = result->reason ? result->reason[i] : 0;
	return result->set.n;
}

size_t afk_result_dispatches(const afk_result *result, size_t *index,
                             const char **thread, size_t n)
{
	size_t k;

	if (result == NULL)
		return 0;
	if (n > result->ndispatched)
		n = result->ndispatched;
	for (k = 0; k < n; k++) {
		if (index != NULL)
			index[k] = result->listed_at[k];
		if (thread != NULL)
			thread[k] = result->threads[k];
	}
	return result->ndispatched;
}

static const afk__err *error_at(const afk_result *result, size_t i)
{
	return result && i < result->errors.n ? &result->errors.v[i] : NULL;
}

size_t afk_result_error_count(const afk_result *result)
{
	return result ? result->errors.n : 0;
}

const char *afk_result_error_repo(const afk_result *result, size_t i)
{
	return error_at(result, i) ? error_at(result, i)->repo : NULL;
}

long afk_result_error_number(const afk_result *result, size_t i)
{
	return error_at(result, i) ? error_at(result, i)->number : 0;
}

int afk_result_error_code(const afk_result *result, size_t i)
{
	return error_at(result, i) ? error_at(result, i)->code : 0;
}

const char *afk_result_error_message(const afk_result *result, size_t i)
{
	return error_at(result, i) ? error_at(result, i)->message : NULL;
}

const char *afk_skip_reason_str(int reason)
{
	switch (reason) {
	case AFK_SKIP_NOT_ALLOWLISTED:
		return "repository not allowlisted";
	case AFK_SKIP_IN_PROGRESS:
		return "already in progress";
	case AFK_SKIP_UNTRUSTED:
		return "ready label not applied by a trusted user";
	case AFK_SKIP_BLOCKED:
		return "blocked by an open issue";
	case AFK_SKIP_LOCKED:
		return "repository locked by a run in progress";
	case AFK_SKIP_OUTRANKED:
		return "another issue of the repository comes first";
	case AFK_SKIP_DISPATCH_FAILED:
		return "dispatch failed";
	case AFK_SKIP_NOT_REACHED:
		return "not reached: the tick stopped on an error";
	case AFK_SKIP_REPO_FAILED:
		return "its repository could not be listed";
	case AFK_SKIP_UNVETTED:
		return "who applied the ready label could not be read";
	case AFK_SKIP_STOPPING:
		return "a human took its run back; it is being stopped";
	case AFK_SKIP_AGENT_UNAVAILABLE:
		return "the agent could not be reached this tick";
	case AFK_SKIP_CAPPED:
		return "max_in_flight runs are already in flight";
	default:
		return "unknown reason";
	}
}
