/*
 * lib/tick/watcher.c - the watch tick: the lifecycle wired to the adapters.
 */
#include "tick/watcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checklist.h"
#include "core/config.h"
#include "core/lifecycle.h"

/* What the tick reads of the configuration, copied when it starts (a
 * callback may change the configuration it was called with). */
typedef struct snapshot {
	afk__strv allowlist;
	char *ready_label;
	char *in_progress_label;
	char *human_label;
	afk__lifecycle_cfg life;
	afk__usage_cap cap;     /* the cost budget, as the checklist shows it */
} snapshot;

static void snapshot_clear(snapshot *s)
{
	afk__strv_clear(&s->allowlist);
	free(s->ready_label);
	free(s->in_progress_label);
	free(s->human_label);
}

static int snapshot_take(snapshot *s, const afk_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->ready_label = afk__strdup(cfg->ready_label);
	s->in_progress_label = afk__strdup(cfg->in_progress_label);
	s->human_label = afk__strdup(cfg->human_label);
	if (afk__strv_copy(&s->allowlist, &cfg->allowlist) ||
	    !s->ready_label || !s->in_progress_label || !s->human_label) {
		snapshot_clear(s);
		return AFK_ENOMEM;
	}
	s->life.deploy_stage = cfg->deploy_stage;
	s->life.budget = cfg->fix_forward_budget;
	s->life.stall_timeout = cfg->stall_timeout;
	s->life.ci_timeout = cfg->ci_timeout;
	s->life.deploy_timeout = cfg->deploy_timeout;
	s->life.max_tokens = cfg->budget_tokens;
	s->life.max_cost_microusd = cfg->budget_cost_microusd;
	s->cap.tokens = cfg->budget_tokens;
	s->cap.cost_microusd = cfg->budget_cost_microusd;
	return AFK_OK;
}

/* One run being watched: where it is, what the tick has learnt of it,
 * and the action entry it will report. */
typedef struct run {
	afk_watcher *w;
	const snapshot *s;
	const char *repo;
	long number;
	long long now;
	char what[256];         /* "acme/api#12", for messages */
	char *body;             /* the checklist comment as it stands */
	char *url;              /* the issue's address, or NULL */
	int closed;             /* listed by list_closed */
	int locked;             /* it carries the in-progress label */
	int ready;              /* it carries the ready label */
	int human;              /* it carries the human label */
	char why[AFK__WHY_MAX]; /* what the snapshot said of a state not
	                           running, "" when nothing */
	afk__record rec;
	afk__action act;
} run;

/* --- calling the adapters ---------------------------------------------- */

/* Finishes a call: passes the code through, naming the run and step. */
static int finish(run *r, afk_call *call, int rc, const char *step)
{
	char what[320];

	snprintf(what, sizeof(what), "watch %s: %s", r->what, step);
	return afk__call_finish(call, rc, what, r->w->errmsg);
}

static int find_comment(run *r)
{
	afk_tracker *t = r->w->tracker;
	afk_call call;
	int rc;

	afk__call_init(&call, AFK__CALL_FIND_COMMENT, NULL);
	rc = t->find_comment(&call, r->repo, r->number, AFK__RECORD_MARKER,
	                     t->userdata);
	rc = finish(r, &call, rc, "tracker find_comment");
	if (rc == AFK_OK) {
		r->body = call.comment;
		r->url = call.url;
		call.comment = call.url = NULL;
	}
	afk__call_clear(&call);
	return rc;
}

/* Writes the record and checklist when they differ from the comment. */
static int save(run *r)
{
	afk_tracker *t = r->w->tracker;
	afk_call call;
	char *body;
	int rc;

	body = afk__checklist_render_capped(&r->rec, r->repo, r->number,
	                                    r->s->life.deploy_stage,
	                                    r->s->life.budget, &r->s->cap);
	if (body == NULL)
		return AFK_ENOMEM;
	if (r->body != NULL && strcmp(body, r->body) == 0) {
		free(body);
		return AFK_OK;
	}
	afk__call_init(&call, AFK__CALL_UPSERT_COMMENT, NULL);
	rc = t->upsert_comment(&call, r->repo, r->number, AFK__RECORD_MARKER,
	                       body, t->userdata);
	rc = finish(r, &call, rc, "tracker upsert_comment");
	afk__call_clear(&call);
	if (rc) {
		free(body);
		return rc;
	}
	free(r->body);
	r->body = body;
	r->act.updated = 1;
	return AFK_OK;
}

static int label(run *r, const char *name, int add)
{
	afk_tracker *t = r->w->tracker;
	afk_call call;
	int rc;

	afk__call_init(&call, add ? AFK__CALL_ADD_LABEL : AFK__CALL_REMOVE_LABEL,
	               NULL);
	rc = add ? t->add_label(&call, r->repo, r->number, name, t->userdata)
	         : t->remove_label(&call, r->repo, r->number, name,
	                           t->userdata);
	rc = finish(r, &call, rc, add ? "tracker add_label"
	                              : "tracker remove_label");
	afk__call_clear(&call);
	return rc;
}

static int close_issue(run *r)
{
	afk_tracker *t = r->w->tracker;
	afk_call call;
	int rc;

	afk__call_init(&call, AFK__CALL_CLOSE_ISSUE, NULL);
	rc = t->close_issue(&call, r->repo, r->number, t->userdata);
	rc = finish(r, &call, rc, "tracker close_issue");
	afk__call_clear(&call);
	return rc;
}

/* An adapter that could not be reached is not asked again this tick: a
 * dead server costs one timeout, not one per run.  The run is treated
 * as if its own call had failed so (its stall deadline still runs). */
static int skip_down(run *r, const char *step)
{
	afk__errf(r->w->errmsg, "watch %s: %s: not called: the server could "
	          "not be reached earlier in this tick", r->what, step);
	return AFK_EUNAVAIL;
}

static int snapshot_agent(run *r, afk__run_state *st)
{
	afk_agent *a = r->w->agent;
	afk_call call;
	int rc;

	if (r->w->agent_down)
		return skip_down(r, "agent snapshot");
	afk__call_init(&call, AFK__CALL_SNAPSHOT, NULL);
	rc = a->snapshot(&call, r->rec.thread, a->userdata);
	rc = finish(r, &call, rc, "agent snapshot");
	r->w->agent_down |= rc == AFK_EUNAVAIL;
	/* An agent that reports no state is not known to be well: the
	 * lifecycle treats 0 as a failed agent. */
	st->agent = call.agent_state;
	st->phase = call.phase;
	st->activity = call.activity;
	/* A snapshot that succeeded may say why its agent is where it is
	 * (an OOMKilled pod, an exit status): the escalation names it. */
	if (rc == AFK_OK && call.message != NULL &&
	    call.agent_state != AFK_AGENT_RUNNING)
		snprintf(r->why, sizeof(r->why), "%s", call.message);
	/* the record keeps the run's usage: it only grows, and a snapshot
	 * without usage changes nothing */
	if (rc == AFK_OK && call.usage_set)
		afk__record_usage(&r->rec, call.tokens_in, call.tokens_out,
		                  call.cost_microusd);
	afk__call_clear(&call);
	return rc;
}

/* Reads CI into st and the record (head, failing checks). */
static int read_ci(run *r, afk__run_state *st)
{
	afk_ci *ci = r->w->ci;
	afk_call call;
	int rc;

	if (r->w->ci_down)
		return skip_down(r, "CI status");
	afk__call_init(&call, AFK__CALL_CI_STATUS, NULL);
	rc = ci->status(&call, r->repo, r->number, ci->userdata);
	rc = finish(r, &call, rc, "CI status");
	r->w->ci_down |= rc == AFK_EUNAVAIL;
	if (rc == AFK_OK) {
		st->pr = call.pr;
		st->ci = call.ci;
		st->deploy = call.deploy;
		/* keep the head in the call until the record takes it */
		if ((r->rec.head == NULL) != (call.head == NULL) ||
		    (call.head != NULL && strcmp(r->rec.head, call.head) != 0)) {
			st->changed_at = r->now; /* a new head is progress */
			free(r->rec.head);
			r->rec.head = call.head;
			call.head = NULL;
		}
		/* which PR: only while there is one */
		free(r->rec.pr);
		r->rec.pr = call.pr != AFK_PR_NONE ? call.pr_info : NULL;
		if (call.pr != AFK_PR_NONE)
			call.pr_info = NULL;
		afk__strv_clear(&r->rec.failing);
		afk__strv_clear(&r->rec.failing_urls);
		r->rec.failing = call.failing;
		r->rec.failing_urls = call.failing_urls;
		memset(&call.failing, 0, sizeof(call.failing));
		memset(&call.failing_urls, 0, sizeof(call.failing_urls));
	}
	afk__call_clear(&call);
	return rc;
}

/* --- the actions ------------------------------------------------------- */

/* The corrective turn: which checks fail and where, and what is asked.
 * Names and addresses come from the CI adapter, never from the issue. */
static char *fix_prompt(const run *r)
{
	const afk__strv *urls = &r->rec.failing_urls;
	char *s = afk__aprintf("Checks failed on your pull request for %s "
	                       "(head %s). Fix forward: find the cause, push "
	                       "a fix to the same branch and report the "
	                       "phases again. This is attempt %d of %d.\n"
	                       "Failing checks:\n", r->what,
	                       r->rec.head ? r->rec.head : "unknown",
	                       r->rec.attempts, r->s->life.budget);
	size_t i;

	for (i = 0; s != NULL && i < r->rec.failing.n; i++) {
		const char *url = i < urls->n ? urls->v[i] : "";
		char *t = afk__aprintf("%s- %s%s%s\n", s, r->rec.failing.v[i],
		                       url[0] ? ": " : "", url);
		free(s);
		s = t;
	}
	if (s != NULL && r->rec.failing.n == 0) {
		char *t = afk__aprintf("%s- (the deploy or CI named none)\n", s);
		free(s);
		s = t;
	}
	return s;
}

static int send_turn(run *r)
{
	afk_agent *a = r->w->agent;
	afk_call call;
	char *prompt = fix_prompt(r);
	int rc;

	if (prompt == NULL)
		return AFK_ENOMEM;
	if (r->w->agent_down) {
		free(prompt);
		return skip_down(r, "agent send_turn");
	}
	afk__call_init(&call, AFK__CALL_SEND_TURN, NULL);
	rc = a->send_turn(&call, r->rec.thread, prompt, a->userdata);
	rc = finish(r, &call, rc, "agent send_turn");
	r->w->agent_down |= rc == AFK_EUNAVAIL;
	afk__call_clear(&call);
	free(prompt);
	return rc;
}

/* Records the attempt before sending the turn, and clears the pending
 * mark after: a tick that dies in between resends it, and no tick ever
 * sends a second turn for an attempt it recorded as sent. */
static int fix_forward(run *r)
{
	int rc;

	r->act.kind = AFK_ACTION_FIX_FORWARD;
	if (!r->rec.turn_pending) {
		r->rec.attempts++;
		if (afk__record_set_str(&r->rec.answered_head,
		                        r->rec.head ? r->rec.head : ""))
			return AFK_ENOMEM;
		r->rec.turn_pending = 1;
		r->rec.changed_at = r->now;
		if ((rc = save(r)) != AFK_OK)
			return rc;
	}
	if ((rc = send_turn(r)) != AFK_OK)
		return rc;
	r->rec.turn_pending = 0;
	return save(r);
}

/* Closing: the final checklist first, so that a tick that dies part-way
 * finds a closed record and only finishes the steps.  The ready label
 * goes too: reopened, the issue must not run again unasked.  It goes
 * before the close: list_ready lists open issues only, and a closed one
 * is found again only through list_closed (optional), while it holds the
 * lock - so the lock's removal is the one step left after the close (and
 * dropped before it, a failed close would leave an open issue no tick
 * finds). */
static int close_run(run *r)
{
	int rc;

	r->act.kind = AFK_ACTION_CLOSE;
	r->rec.status = AFK__RUN_CLOSED;
	if ((rc = save(r)) != AFK_OK ||
	    (rc = label(r, r->s->ready_label, 0)) != AFK_OK ||
	    (rc = close_issue(r)) != AFK_OK)
		return rc;
	return label(r, r->s->in_progress_label, 0);
}

static int stop_agent(run *r)
{
	afk_agent *a = r->w->agent;
	afk_call call;
	int rc;

	if (r->w->agent_down)
		return skip_down(r, "agent stop");
	afk__call_init(&call, AFK__CALL_STOP, NULL);
	rc = a->stop(&call, r->repo, r->number, r->rec.thread, a->userdata);
	rc = finish(r, &call, rc, "agent stop");
	r->w->agent_down |= rc == AFK_EUNAVAIL;
	afk__call_clear(&call);
	return rc;
}

/* The agent's stop the record holds pending, done once: marked done when
 * it succeeded, or none when there is nothing to stop (no stop callback,
 * no thread); a failed stop leaves it pending and returns its code.  The
 * caller saves the record. */
static int stop_agent_once(run *r)
{
	int rc;

	if (r->rec.agent_stop != AFK__AGENT_STOP_PENDING)
		return AFK_OK;
	if (r->w->agent->stop == NULL || r->rec.thread[0] == '\0') {
		r->rec.agent_stop = AFK__AGENT_STOP_NONE;
		return AFK_OK;
	}
	if ((rc = stop_agent(r)) != AFK_OK)
		return rc;
	r->rec.agent_stop = AFK__AGENT_STOP_DONE;
	return AFK_OK;
}

/* Stopping a run a human took back (reason: AFK_STOP_*).  Each step is
 * recorded before its effect and the lock is dropped last, so a tick
 * that dies part-way is finished by the next, which stops the agent at
 * most once after it succeeded:
 *
 *   1. the record says "Stopping" (why, when);
 *   2. a run that lost its lock takes it back: until the stop is done
 *      it must be listed as in progress, and never dispatched again;
 *   3. the ready label goes (made ready again, it is a new run);
 *   4. the agent's stop - without one, or without a thread, the record
 *      says the agent could not be stopped;
 *   5. the record says "Stopped";
 *   6. the lock goes. */
static int stop_run(run *r, int reason)
{
	int rc;

	r->act.kind = AFK_ACTION_STOP;
	if (r->rec.status != AFK__RUN_STOPPED) {
		r->rec.status = AFK__RUN_STOPPED;
		r->rec.stop = reason;
		r->rec.stopped_at = r->now;
		r->rec.stop_pending = 1;
		r->rec.agent_stop = AFK__AGENT_STOP_PENDING;
	}
	if (r->rec.stop_pending) {
		if ((rc = save(r)) != AFK_OK ||
		    (!r->locked && !r->closed &&
		     (rc = label(r, r->s->in_progress_label, 1)) != AFK_OK))
			return rc;
		r->locked |= !r->closed;
		if (r->ready && (rc = label(r, r->s->ready_label, 0)) != AFK_OK)
			return rc;
		if ((rc = stop_agent_once(r)) != AFK_OK)
			return rc;
		r->rec.stop_pending = 0;
		if ((rc = save(r)) != AFK_OK)
			return rc;
	}
	if (!r->locked)
		return AFK_OK;
	return label(r, r->s->in_progress_label, 0);
}

/* 1 for the escalations the agent's state decides, whose snapshot may
 * say why. */
static int agent_reason(int reason)
{
	return reason == AFK_ESCALATE_AGENT_FAILED ||
	       reason == AFK_ESCALATE_AGENT_STOPPED ||
	       reason == AFK_ESCALATE_AGENT_WAITING ||
	       reason == AFK_ESCALATE_AGENT_GONE;
}

static int notify(run *r)
{
	afk_notifier *n = r->w->notifier;
	afk_call call;
	char *msg;
	int rc;

	msg = afk__aprintf("%s needs a human: %s%s%s%s.", r->what,
	                   afk__escalation_str(r->rec.reason),
	                   r->rec.why != NULL ? " (" : "",
	                   r->rec.why != NULL ? r->rec.why : "",
	                   r->rec.why != NULL ? ")" : "");
	if (msg == NULL)
		return AFK_ENOMEM;
	afk__call_init(&call, AFK__CALL_NOTIFY, NULL);
	rc = n->notify(&call, r->repo, r->number, msg, r->url ? r->url : "",
	               n->userdata);
	rc = finish(r, &call, rc, "notifier notify");
	afk__call_clear(&call);
	free(msg);
	return rc;
}

/* A run over its cost budget has its agent stopped, once: the stop is
 * recorded as soon as it succeeded (or as impossible, with no stop
 * callback or no thread), so no later tick repeats it.  A failed stop
 * returns its code and leaves the mark pending for the next tick. */
static int budget_stop(run *r)
{
	int rc;

	if (r->rec.reason != AFK_ESCALATE_BUDGET ||
	    r->rec.agent_stop != AFK__AGENT_STOP_PENDING)
		return AFK_OK;
	if ((rc = stop_agent_once(r)) != AFK_OK)
		return rc;
	return save(r);
}

/* Escalating: record it, stop an agent over its budget, hand the issue
 * to humans (their label on, the ready label off so no poll takes it
 * again), ring once, and drop the lock last - it is what brings the run
 * back to the next tick should a step fail.  A failed stop holds up
 * nothing but the lock: the humans are told, and the next tick tries
 * the stop again. */
static int escalate(run *r, int reason)
{
	char stop_msg[AFK__ERRMSG_SIZE];
	int rc, stop_rc;

	r->act.kind = AFK_ACTION_ESCALATE;
	if (r->rec.status != AFK__RUN_ESCALATED) {
		r->rec.status = AFK__RUN_ESCALATED;
		r->rec.reason = reason;
		r->rec.notify_pending = 1;
		if (agent_reason(reason) &&
		    afk__record_why(&r->rec, r->why) != AFK_OK)
			return AFK_ENOMEM;
		r->rec.agent_stop = AFK__AGENT_STOP_PENDING;
	}
	if ((rc = save(r)) != AFK_OK)
		return rc;
	stop_rc = budget_stop(r);
	if (stop_rc == AFK_ENOMEM)
		return stop_rc;
	memcpy(stop_msg, r->w->errmsg, sizeof(stop_msg));
	if ((rc = label(r, r->s->human_label, 1)) != AFK_OK ||
	    (rc = label(r, r->s->ready_label, 0)) != AFK_OK)
		return rc;
	if (r->rec.notify_pending) {
		if ((rc = notify(r)) != AFK_OK)
			return rc;
		r->rec.notify_pending = 0;
		if ((rc = save(r)) != AFK_OK)
			return rc;
	}
	if (stop_rc != AFK_OK) {
		memcpy(r->w->errmsg, stop_msg, sizeof(stop_msg));
		return stop_rc;
	}
	return label(r, r->s->in_progress_label, 0);
}

/* The agent or the CI could not be read (rc).  A run that cannot be
 * seen must still meet its stall deadline, or a thread that is gone
 * would lock its repository forever: past the deadline it goes to a
 * human; before it, the failure is the tick's, and the clock is saved
 * when this tick started it so that it runs. */
static int unreachable(run *r, int rc, int clock_started)
{
	if (afk__lifecycle_past(r->now, r->rec.changed_at,
	                        r->s->life.stall_timeout))
		return escalate(r, AFK_ESCALATE_STALLED);
	if (clock_started) {
		char msg[AFK__ERRMSG_SIZE];

		memcpy(msg, r->w->errmsg, sizeof(msg));
		if (save(r) == AFK_OK)
			memcpy(r->w->errmsg, msg, sizeof(msg));
	}
	return rc;
}

/* Brings a time of the record that lies after now back to now: the
 * record is a comment anyone with access may edit, and a clock that
 * starts in the future would hold its deadline off until then.  1 when
 * it moved. */
static int not_after_now(const run *r, long long *t)
{
	if (*t <= r->now)
		return 0;
	*t = r->now;
	return 1;
}

/* Learns the run's state, asks the lifecycle, acts.  The stall clock
 * starts on first sight (changed_at 0) and when the record had it in
 * the future. */
static int decide(run *r)
{
	afk__run_state st;
	afk__decision d;
	int rc, clock_started = r->rec.changed_at == 0;

	memset(&st, 0, sizeof(st));
	if (clock_started)
		r->rec.changed_at = r->now;
	/* the run's age counts from here (a record older than the field
	 * gets it from the first tick that reads it) */
	if (r->rec.started_at == 0)
		r->rec.started_at = r->now;
	not_after_now(r, &r->rec.started_at);
	clock_started |= not_after_now(r, &r->rec.changed_at);
	not_after_now(r, &r->rec.ci_since);
	not_after_now(r, &r->rec.deploy_since);
	st.changed_at = r->rec.changed_at;
	if ((rc = snapshot_agent(r, &st)) != AFK_OK ||
	    (rc = read_ci(r, &st)) != AFK_OK)
		return unreachable(r, rc, clock_started);
	st.recorded_phase = r->rec.phase;
	st.attempts = r->rec.attempts;
	/* A CI that reports no head answers as "": one fix-forward then
	 * covers every failure until a head is known - no second turn for
	 * what may be the same failure. */
	st.answered = r->rec.answered_head != NULL &&
	              strcmp(r->rec.answered_head,
	                     r->rec.head ? r->rec.head : "") == 0;
	if (st.ci == AFK_STATUS_PENDING &&
	    (r->rec.ci != AFK_STATUS_PENDING || st.changed_at == r->now))
		r->rec.ci_since = r->now;
	if (st.deploy == AFK_STATUS_PENDING &&
	    r->rec.deploy != AFK_STATUS_PENDING)
		r->rec.deploy_since = r->now;
	st.ci_since = r->rec.ci_since;
	st.deploy_since = r->rec.deploy_since;
	/* the whole run's usage, fix-forward turns included; each figure
	 * is at most AFK__USAGE_MAX, so the sum fits */
	st.tokens = r->rec.tokens_in + r->rec.tokens_out;
	st.cost_microusd = r->rec.cost_microusd;
	r->rec.ci = st.ci;
	r->rec.deploy = st.deploy;

	if (afk__lifecycle_phase(&st, &r->s->life) > r->rec.phase) {
		st.changed_at = r->now; /* a phase reached is progress */
		r->rec.phase = afk__lifecycle_phase(&st, &r->s->life);
	}
	r->rec.changed_at = st.changed_at;
	/* The agent's output is progress too (after CI's clock above, which
	 * a new head restarts and output must not), but it is not recorded:
	 * every snapshot reports it again, and recording it would rewrite
	 * the checklist comment on each tick an agent printed. */
	st.changed_at = afk__lifecycle_progress(st.changed_at, st.activity,
	                                        r->now);
	d = afk__lifecycle_next(&st, &r->s->life, r->now);
	if (d.action == AFK_ACTION_WAIT) {
		afk__deadline dl = afk__lifecycle_deadline(&st, &r->s->life,
		                                           r->now);

		r->act.deadline = dl.none ? 0 : dl.at;
		r->act.deadline_reason = dl.none ? 0 : dl.becomes.reason;
	}
	switch (d.action) {
	case AFK_ACTION_CLOSE:
		rc = close_run(r);
		break;
	case AFK_ACTION_FIX_FORWARD:
		rc = fix_forward(r);
		break;
	case AFK_ACTION_ESCALATE:
		rc = escalate(r, d.reason);
		break;
	default:
		r->act.kind = AFK_ACTION_WAIT;
		rc = save(r);
		break;
	}
	return rc;
}

/* Watches one run: finishes what an earlier tick started, or decides. */
static int watch_run(run *r)
{
	int rc = find_comment(r), reason, parsed;

	if (rc)
		return rc;
	/* Parsed once: a second parse would drop what the first kept. */
	parsed = r->body != NULL &&
	         afk__record_parse(r->body, &r->rec) == AFK_OK;
	if (!parsed)
		afk__record_clear(&r->rec);
	/* Listed as ready without the lock: a run only when its record
	 * says a watch saw it (a dispatch that never got its lock is the
	 * poller's to take up again) or it is stopping. */
	if (!r->locked && !r->closed &&
	    (!parsed || !afk__record_stopping(&r->rec)))
		return AFK_OK;
	if (!parsed) {
		if (afk__record_set_str(&r->rec.thread, ""))
			return AFK_ENOMEM;
		/* Closed while locked, with no record to say by what: nothing
		 * is known to stop, but the lock must go.  Locked but
		 * unreadable: nobody can tell which agent works on it, so a
		 * human must look. */
		return r->closed ? stop_run(r, AFK_STOP_CLOSED) :
		       escalate(r, AFK_ESCALATE_NO_RECORD);
	}
	if (r->rec.status == AFK__RUN_CLOSED)
		return close_run(r);
	if (r->rec.status == AFK__RUN_ESCALATED)
		return escalate(r, r->rec.reason);
	if (r->rec.status == AFK__RUN_STOPPED)
		return stop_run(r, r->rec.stop);
	/* The human label on the issue before the watch first saw the run
	 * was left over from an earlier one: it stops nothing. */
	if (r->rec.changed_at == 0 && r->human && !r->closed)
		r->rec.human_before = 1;
	reason = afk__lifecycle_stop(r->closed, r->locked, r->ready,
	                             r->human && !r->rec.human_before);
	if (reason)
		return stop_run(r, reason);
	if (r->rec.thread[0] == '\0')
		return escalate(r, AFK_ESCALATE_NO_RECORD);
	if (r->rec.turn_pending)
		return fix_forward(r);
	return decide(r);
}

/* --- the tick ---------------------------------------------------------- */

static int check_callbacks(afk_watcher *w)
{
	const char *missing = NULL;

	if (!w->tracker->list_ready)
		missing = "the tracker has no list_ready callback";
	else if (!w->tracker->find_comment)
		missing = "the tracker has no find_comment callback";
	else if (!w->tracker->upsert_comment)
		missing = "the tracker has no upsert_comment callback";
	else if (!w->tracker->add_label)
		missing = "the tracker has no add_label callback";
	else if (!w->tracker->remove_label)
		missing = "the tracker has no remove_label callback";
	else if (!w->tracker->close_issue)
		missing = "the tracker has no close_issue callback";
	else if (!w->agent->snapshot)
		missing = "the agent has no snapshot callback";
	else if (!w->agent->send_turn)
		missing = "the agent has no send_turn callback";
	else if (!w->ci->status)
		missing = "the CI adapter has no status callback";
	else if (!w->notifier->notify)
		missing = "the notifier has no notify callback";
	if (missing == NULL)
		return AFK_OK;
	afk__errf(w->errmsg, "%s", missing);
	return AFK_ENOTSUP;
}

static int push_action(afk_actions *out, afk__action *a)
{
	if (afk__grow((void **)&out->v, &out->cap, out->n, 1, sizeof(*a)))
		return AFK_ENOMEM;
	out->v[out->n++] = *a;
	memset(a, 0, sizeof(*a));
	return AFK_OK;
}

static void action_clear(afk__action *a)
{
	free(a->repo);
	free(a->thread);
	free(a->checklist);
	memset(a, 0, sizeof(*a));
}

/* Runs one run and reports its action - also when it failed part-way,
 * with what it had done by then; a run that failed before its action
 * was chosen reports none. */
static int has(const afk__iset *set, size_t i, const char *name)
{
	uint32_t id = afk__strtab_find(&set->labels, name);

	return id != AFK__NONE &&
	       afk__rec_has_label(set->label_ids, &set->recs[i], id);
}

static int watch_one(afk_watcher *w, const snapshot *s, const afk__iset *set,
                     size_t i, int closed, long long now, afk_actions *out)
{
	run r;
	int rc, rc2;

	memset(&r, 0, sizeof(r));
	r.w = w;
	r.s = s;
	r.repo = afk__iset_repo(set, i);
	r.number = set->recs[i].number;
	r.now = now;
	r.closed = closed;
	r.locked = has(set, i, s->in_progress_label);
	r.ready = has(set, i, s->ready_label);
	r.human = has(set, i, s->human_label);
	snprintf(r.what, sizeof(r.what), "%s#%ld", r.repo, r.number);
	rc = watch_run(&r);
	r.act.repo = afk__strdup(r.repo);
	r.act.number = r.number;
	r.act.thread = afk__strdup(r.rec.thread ? r.rec.thread : "");
	r.act.reason = r.act.kind == AFK_ACTION_ESCALATE ? r.rec.reason : 0;
	r.act.stop = r.act.kind == AFK_ACTION_STOP ? r.rec.stop : 0;
	r.act.phase = r.rec.phase;
	r.act.attempts = r.rec.attempts;
	r.act.since = r.rec.started_at;
	r.act.checklist = afk__strdup(r.body ? r.body : "");
	if (!r.act.repo || !r.act.thread || !r.act.checklist)
		rc2 = AFK_ENOMEM;
	else if (r.act.kind == 0)
		rc2 = AFK_OK;
	else
		rc2 = push_action(out, &r.act);
	action_clear(&r.act);
	afk__record_clear(&r.rec);
	free(r.body);
	free(r.url);
	return rc ? rc : rc2;
}

/* Records a failure the tick goes on from: a run's (repo, number) or
 * one of no one repository (""), with the message on the watcher. */
static int note(afk_watcher *w, afk_actions *out, const char *repo,
                long number, int code)
{
	if (afk__errv_add(&out->errors, repo, number, code, w->errmsg))
		return AFK_ENOMEM;
	return AFK_OK;
}

/* The tick's code and message when it went on to the end: the first
 * failure's.  The first nlisted are the listing's own reports, whose
 * message names neither the callback nor the repository. */
static int first_failure(afk_watcher *w, const afk_actions *out,
                         size_t nlisted)
{
	const afk__err *e = &out->errors.v[0];

	if (out->errors.n == 0)
		return AFK_OK;
	if (nlisted == 0)
		afk__errf(w->errmsg, "%s", e->message);
	else if (e->number == 0)
		afk__errf(w->errmsg, "watch: tracker list_ready: %s: %s",
		          e->repo, e->message);
	else
		afk__errf(w->errmsg, "watch: tracker list_ready: %s#%ld: %s",
		          e->repo, e->number, e->message);
	return e->code;
}

/* Lists the closed issues that still carry the lock into closed, when
 * the tracker can; its failures are the tick's errors, and the tick goes
 * on with the open runs.  Only AFK_ENOMEM stops it. */
static int list_closed(afk_watcher *w, const snapshot *s, afk__iset *closed,
                       afk_actions *out)
{
	afk__errv errs;
	size_t i;
	int rc;

	if (w->tracker->list_closed == NULL)
		return AFK_OK;
	memset(&errs, 0, sizeof(errs));
	rc = afk__tracker_list_closed(w->tracker, &s->allowlist,
	                              s->in_progress_label, closed, &errs,
	                              "watch: tracker list_closed", w->errmsg);
	for (i = 0; rc != AFK_ENOMEM && i < errs.n; i++) {
		char *msg = afk__aprintf("watch: tracker list_closed: %s",
		                         errs.v[i].message);

		if (msg == NULL ||
		    afk__errv_add(&out->errors, errs.v[i].repo, errs.v[i].number,
		                  errs.v[i].code, msg))
			rc = AFK_ENOMEM;
		free(msg);
	}
	afk__errv_clear(&errs);
	if (rc != AFK_OK && rc != AFK_ENOMEM)
		rc = note(w, out, "", 0, rc);
	return rc;
}

/* Watches every run of set that is allowlisted and (unless closed) ...
 * in_progress: those carrying the lock; else the others (ready issues
 * whose lock a human may have removed).  Failures as tick(). */
static int watch_set(afk_watcher *w, const snapshot *s, const afk__iset *set,
                     int closed, int in_progress, long long now,
                     afk_actions *out)
{
	size_t i;
	int rc = AFK_OK;

	for (i = 0; rc == AFK_OK && i < set->n; i++) {
		const char *repo = afk__iset_repo(set, i);
		int one;

		/* The allowlist again: a tracker may list more than asked. */
		if (has(set, i, s->in_progress_label) != in_progress ||
		    afk__strv_find(&s->allowlist, repo) < 0)
			continue;
		one = watch_one(w, s, set, i, closed, now, out);
		if (one == AFK_ENOMEM)
			rc = one;
		else if (one != AFK_OK)
			rc = note(w, out, repo, set->recs[i].number, one);
	}
	return rc;
}

static int tick(afk_watcher *w, const snapshot *s, long long now,
                afk_actions *out)
{
	afk__iset set, closed;
	size_t nlisted;
	int rc;

	memset(&set, 0, sizeof(set));
	memset(&closed, 0, sizeof(closed));
	w->agent_down = w->ci_down = 0;
	rc = afk__tracker_list(w->tracker, &s->allowlist, &set, &out->errors,
	                       "watch: tracker list_ready", w->errmsg);
	nlisted = out->errors.n;
	/* A run that fails does not hold the others up: each is watched,
	 * each failure is recorded, and the first is the tick's.  A run
	 * listed in a repository whose listing failed in part is watched
	 * too: it is known to carry the lock.  The runs in progress first,
	 * then those a human unlocked (one find_comment per ready issue
	 * without the lock), then the closed ones that still hold it. */
	if (rc == AFK_OK)
		rc = list_closed(w, s, &closed, out);
	if (rc == AFK_OK)
		rc = watch_set(w, s, &set, 0, 1, now, out);
	if (rc == AFK_OK)
		rc = watch_set(w, s, &set, 0, 0, now, out);
	if (rc == AFK_OK)
		rc = watch_set(w, s, &closed, 1, 1, now, out);
	afk__iset_clear(&set);
	afk__iset_clear(&closed);
	if (rc != AFK_OK) {
		/* the failure that stopped the tick is one of its errors too */
		if (rc == AFK_ENOMEM && w->errmsg[0] == '\0')
			afk__errf(w->errmsg, "out of memory during the watch "
			          "tick");
		afk__errv_add(&out->errors, "", 0, rc, w->errmsg);
		out->stopped = 1;
		return rc;
	}
	return first_failure(w, out, nlisted);
}

int afk_watcher_new(afk_watcher **out, afk_tracker *tracker, afk_agent *agent,
                    afk_ci *ci, afk_notifier *notifier)
{
	afk_watcher *w;

	if (out == NULL || !tracker || !agent || !ci || !notifier)
		return AFK_EINVAL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return AFK_ENOMEM;
	w->tracker = tracker;
	w->agent = agent;
	w->ci = ci;
	w->notifier = notifier;
	*out = w;
	return AFK_OK;
}

void afk_watcher_free(afk_watcher *watcher)
{
	free(watcher);
}

const char *afk_watcher_errmsg(const afk_watcher *watcher)
{
	return watcher ? watcher->errmsg : "";
}

/* Tells the host's log what the tick did, once it is over, with the
 * log it started with.  Events: see afk_config_set_log(3). */
static void log_actions(afk__log *log, const afk_actions *out)
{
	const afk__action *a;
	const afk__err *e;
	size_t i;
	int stop;

	for (i = 0; i < out->n; i++) {
		a = &out->v[i];
		if (a->kind == AFK_ACTION_WAIT)
			afk__logf(log, AFK_LOG_INFO, "watch.wait",
			          "%s#%ld: %s", a->repo, a->number,
			          afk_action_str(a->kind));
		else
			afk__logf(log, AFK_LOG_NOTICE, "watch.action",
			          "%s#%ld: %s%s%s", a->repo, a->number,
			          afk_action_str(a->kind),
			          a->reason || a->stop ? ": " : "",
			          a->reason ? afk_escalation_str(a->reason)
			          : a->stop ? afk_stop_str(a->stop) : "");
	}
	for (i = 0; i < out->errors.n; i++) {
		e = &out->errors.v[i];
		stop = out->stopped && i + 1 == out->errors.n;
		/* "%.0ld" prints nothing for 0: a whole repository's */
		afk__logf(log, stop ? AFK_LOG_ERROR : AFK_LOG_WARNING,
		          stop ? "watch.failed" : "watch.error", "%s%s%.0ld%s%s",
		          e->repo, e->number != 0 ? "#" : "", e->number,
		          e->repo[0] != '\0' ? ": " : "", e->message);
	}
}

int afk_watcher_run_once(afk_watcher *watcher, const afk_config *cfg,
                         long long now, afk_actions **actions)
{
	afk_actions *out;
	afk__log *log;
	snapshot s;
	int rc;

	if (actions != NULL)
		*actions = NULL;
	if (watcher == NULL || cfg == NULL || actions == NULL)
		return AFK_EINVAL;
	if (watcher->in_tick) {
		afk__errf(watcher->errmsg, "afk_watcher_run_once was called from "
		          "inside one of its own callbacks");
		return AFK_ERECURSIVE;
	}
	watcher->errmsg[0] = '\0';
	out = calloc(1, sizeof(*out));
	if (out == NULL)
		return AFK_ENOMEM;
	/* Fail closed: a disarmed configuration calls no adapter at all. */
	if (!afk_config_armed(cfg)) {
		afk__log_disarmed(cfg);
		*actions = out;
		return AFK_OK;
	}
	log = afk__log_ref(cfg->log);
	rc = check_callbacks(watcher);
	if (rc == AFK_OK)
		rc = snapshot_take(&s, cfg);
	if (rc == AFK_ENOMEM) {
		afk__log_unref(log);
		afk_actions_free(out);
		return rc;
	}
	if (rc == AFK_OK) {
		watcher->in_tick = 1;
		rc = tick(watcher, &s, now, out);
		watcher->in_tick = 0;
		afk__adapters_tick_end(watcher->tracker, watcher->agent,
		                       watcher->ci);
		snapshot_clear(&s);
	} else {
		afk__errv_add(&out->errors, "", 0, rc, watcher->errmsg);
		out->stopped = 1;
	}
	log_actions(log, out);
	afk__log_unref(log);
	*actions = out;
	return rc;
}

/* --- the actions ------------------------------------------------------- */

void afk_actions_free(afk_actions *actions)
{
	size_t i;

	if (actions == NULL)
		return;
	for (i = 0; i < actions->n; i++)
		action_clear(&actions->v[i]);
	free(actions->v);
	afk__errv_clear(&actions->errors);
	free(actions);
}

size_t afk_actions_count(const afk_actions *actions)
{
	return actions ? actions->n : 0;
}

static const afk__action *at(const afk_actions *actions, size_t i)
{
	return actions && i < actions->n ? &actions->v[i] : NULL;
}

const char *afk_actions_repo(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->repo : NULL;
}

long afk_actions_number(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->number : 0;
}

const char *afk_actions_thread(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->thread : NULL;
}

int afk_actions_kind(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->kind : 0;
}

int afk_actions_reason(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->reason : 0;
}

int afk_actions_stop_reason(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->stop : 0;
}

int afk_actions_phase(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->phase : 0;
}

int afk_actions_attempts(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->attempts : 0;
}

int afk_actions_updated(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->updated : 0;
}

long long afk_actions_since(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->since : 0;
}

long long afk_actions_deadline(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->deadline : 0;
}

int afk_actions_deadline_reason(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->deadline_reason : 0;
}

const char *afk_actions_checklist(const afk_actions *actions, size_t i)
{
	return at(actions, i) ? at(actions, i)->checklist : NULL;
}

static const afk__err *error_at(const afk_actions *actions, size_t i)
{
	return actions && i < actions->errors.n ? &actions->errors.v[i] : NULL;
}

size_t afk_actions_error_count(const afk_actions *actions)
{
	return actions ? actions->errors.n : 0;
}

const char *afk_actions_error_repo(const afk_actions *actions, size_t i)
{
	return error_at(actions, i) ? error_at(actions, i)->repo : NULL;
}

long afk_actions_error_number(const afk_actions *actions, size_t i)
{
	return error_at(actions, i) ? error_at(actions, i)->number : 0;
}

int afk_actions_error_code(const afk_actions *actions, size_t i)
{
	return error_at(actions, i) ? error_at(actions, i)->code : 0;
}

const char *afk_actions_error_message(const afk_actions *actions, size_t i)
{
	return error_at(actions, i) ? error_at(actions, i)->message : NULL;
}

const char *afk_action_str(int action)
{
	switch (action) {
	case AFK_ACTION_WAIT:
		return "wait";
	case AFK_ACTION_CLOSE:
		return "close";
	case AFK_ACTION_FIX_FORWARD:
		return "fix-forward";
	case AFK_ACTION_ESCALATE:
		return "escalate";
	case AFK_ACTION_STOP:
		return "stop";
	default:
		return "unknown action";
	}
}

const char *afk_escalation_str(int reason)
{
	return afk__escalation_str(reason);
}

const char *afk_stop_str(int reason)
{
	return afk__stop_str(reason);
}
