/*
 * lib/core/checklist.c - the run's record and the progress checklist.
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */

#include "core/checklist.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "afk/run.h"

void afk__record_clear(afk__record *r)
{
	free(r->thread);
	free(r->head);
	free(r->pr);
	free(r->answered_head);
	free(r->why);
	afk__strv_clear(&r->failing);
	afk__strv_clear(&r->failing_urls);
	memset(r, 0, sizeof(*r));
}

int afk__record_set_str(char **field, const char *value)
{
	char *d = NULL;

	if (value != NULL && (d = afk__strdup(value)) == NULL)
		return AFK_ENOMEM;
	free(*field);
	*field = d;
	return AFK_OK;
}

int afk__record_why(afk__record *r, const char *why)
{
	char line[AFK__WHY_MAX], *c;

	if (why == NULL || why[0] == '\0')
		return afk__record_set_str(&r->why, NULL);
	afk__one_line(line, sizeof(line), why, strlen(why));
	/* shown in a code span of the checklist: no way out of it */
	for (c = line; *c != '\0'; c++)
		if (*c == '`')
			*c = '\'';
	return afk__record_set_str(&r->why, line);
}

int afk__record_copy(afk__record *dst, const afk__record *src)
{
	afk__record t = *src;

	t.thread = t.head = t.answered_head = t.pr = t.why = NULL;
	memset(&t.failing, 0, sizeof(t.failing));
	memset(&t.failing_urls, 0, sizeof(t.failing_urls));
	if (afk__record_set_str(&t.thread, src->thread) ||
	    afk__record_set_str(&t.head, src->head) ||
	    afk__record_set_str(&t.pr, src->pr) ||
	    afk__record_set_str(&t.answered_head, src->answered_head) ||
	    afk__record_set_str(&t.why, src->why) ||
	    afk__strv_copy(&t.failing, &src->failing) ||
	    afk__strv_copy(&t.failing_urls, &src->failing_urls)) {
		afk__record_clear(&t);
		return AFK_ENOMEM;
	}
	afk__record_clear(dst);
	*dst = t;
	return AFK_OK;
}

/* --- parsing ---------------------------------------------------------- */

static long long get_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static int get_str(json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return AFK_OK;
	if (!json_is_string(v))
		return AFK_EPARSE;
	return afk__record_set_str(out, json_string_value(v));
}

static int get_strv(json_t *o, const char *key, afk__strv *out)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	if (a == NULL)
		return AFK_OK;
	if (!json_is_array(a))
		return AFK_EPARSE;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return AFK_EPARSE;
		if (afk__strv_push(out, json_string_value(v)))
			return AFK_ENOMEM;
	}
	return AFK_OK;
}

static int clamp(long long v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : (int)v;
}

/* A usage figure as a record may hold it: an edited one is brought into
 * 0 .. AFK__USAGE_MAX. */
static long long usage_clamp(long long v)
{
	return v < 0 ? 0 : v > AFK__USAGE_MAX ? AFK__USAGE_MAX : v;
}

static void usage_max(long long *kept, long long reported)
{
	if (reported >= 0 && usage_clamp(reported) > *kept)
		*kept = usage_clamp(reported);
}

void afk__record_usage(afk__record *r, long long tokens_in,
                       long long tokens_out, long long cost_microusd)
{
	usage_max(&r->tokens_in, tokens_in);
	usage_max(&r->tokens_out, tokens_out);
	usage_max(&r->cost_microusd, cost_microusd);
}

static int from_json(json_t *o, afk__record *r)
{
	size_t i;
	int rc;

	/* The thread may be "": a run escalated for having no record keeps
	 * one, so that its escalation resumes like any other. */
	if (!json_is_object(o) ||
	    !json_is_string(json_object_get(o, "thread")))
		return AFK_EPARSE;
	if (get_str(o, "thread", &r->thread) || get_str(o, "head", &r->head) ||
	    get_str(o, "pr", &r->pr) ||
	    get_str(o, "answered_head", &r->answered_head) ||
	    get_str(o, "why", &r->why))
		return AFK_EPARSE;
	if (afk__record_why(r, r->why) != AFK_OK) /* a hand-edited one */
		return AFK_ENOMEM;
	r->attempts = clamp(get_int(o, "attempts"), 0, 1000);
	r->phase = clamp(get_int(o, "phase"), AFK_PHASE_DISPATCHED,
	                 AFK_PHASE_DEPLOYED);
	r->changed_at = get_int(o, "changed_at");
	r->started_at = get_int(o, "started_at"); /* 0 when absent */
	r->ci_since = get_int(o, "ci_since");
	r->deploy_since = get_int(o, "deploy_since");
	r->ci = clamp(get_int(o, "ci"), AFK_STATUS_NONE, AFK_STATUS_FAILURE);
	r->deploy = clamp(get_int(o, "deploy"), AFK_STATUS_NONE,
	                  AFK_STATUS_FAILURE);
	r->turn_pending = get_int(o, "turn_pending") != 0;
	r->status = clamp(get_int(o, "status"), AFK__RUN_ACTIVE,
	                  AFK__RUN_STOPPED);
	r->stop = clamp(get_int(o, "stop"), 0, AFK_STOP_UNLOCKED);
	r->stopped_at = get_int(o, "stopped_at");
	r->agent_stop = clamp(get_int(o, "agent_stop"), AFK__AGENT_STOP_PENDING,
	                      AFK__AGENT_STOP_NONE);
	r->stop_pending = get_int(o, "stop_pending") != 0;
	r->human_before = get_int(o, "human_before") != 0;
	/* a stop needs its reason; a record without one was edited */
	if (r->status == AFK__RUN_STOPPED && r->stop == 0)
		r->stop = AFK_STOP_UNLOCKED;
	r->reason = clamp(get_int(o, "reason"), 0, AFK_ESCALATE_BUDGET);
	r->notify_pending = get_int(o, "notify_pending") != 0;
	r->generation = clamp(get_int(o, "generation"), 1,
	                      AFK__GENERATION_MAX);
	r->tokens_in = usage_clamp(get_int(o, "tokens_in"));
	r->tokens_out = usage_clamp(get_int(o, "tokens_out"));
	r->cost_microusd = usage_clamp(get_int(o, "cost_microusd"));
	if ((rc = get_strv(o, "failing", &r->failing)) != AFK_OK ||
	    (rc = get_strv(o, "failing_urls", &r->failing_urls)) != AFK_OK)
		return rc;
	/* one address per check: pad a record that lost some */
	for (i = r->failing_urls.n; i < r->failing.n; i++)
		if (afk__strv_push(&r->failing_urls, ""))
			return AFK_ENOMEM;
	return AFK_OK;
}

int afk__record_parse(const char *body, afk__record *r)
{
	const char *start, *end;
	json_t *o;
	int rc;

	memset(r, 0, sizeof(*r));
	start = body ? strstr(body, AFK__RECORD_MARKER) : NULL;
	if (start == NULL)
		return AFK_EPARSE;
	start += strlen(AFK__RECORD_MARKER);
	end = strstr(start, "-->");
	if (end == NULL)
		return AFK_EPARSE;
	o = json_loadb(start, (size_t)(end - start), 0, NULL);
	if (o == NULL)
		return AFK_EPARSE;
	rc = from_json(o, r);
	json_decref(o);
	if (rc)
		afk__record_clear(r);
	return rc;
}

/* --- rendering -------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *to_json(const afk__record *r)
{
	json_t *o = json_object(), *failing = json_array(), *urls = json_array();
	size_t i;
	int bad = o == NULL || failing == NULL || urls == NULL;

	for (i = 0; !bad && i < r->failing.n; i++)
		bad = json_array_append_new(failing, json_string(r->failing.v[i]));
	for (i = 0; !bad && i < r->failing_urls.n; i++)
		bad = json_array_append_new(urls,
		                            json_string(r->failing_urls.v[i]));
	bad = bad ||
	      json_object_set_new(o, "thread", json_string(r->thread)) ||
	      json_object_set_new(o, "attempts", json_integer(r->attempts)) ||
	      json_object_set_new(o, "phase", json_integer(r->phase)) ||
	      json_object_set_new(o, "changed_at", json_integer(r->changed_at)) ||
	      /* only once known: a record no watch tick saw yet reads as
	       * it did before the field existed */
	      (r->started_at != 0 &&
	       json_object_set_new(o, "started_at",
	                           json_integer(r->started_at))) ||
	      json_object_set_new(o, "ci_since", json_integer(r->ci_since)) ||
	      json_object_set_new(o, "deploy_since",
	                          json_integer(r->deploy_since)) ||
	      json_object_set_new(o, "ci", json_integer(r->ci)) ||
	      json_object_set_new(o, "deploy", json_integer(r->deploy)) ||
	      json_object_set_new(o, "head", str_or_null(r->head)) ||
	      (r->pr != NULL &&
	       json_object_set_new(o, "pr", json_string(r->pr))) ||
	      json_object_set_new(o, "answered_head",
	                          str_or_null(r->answered_head)) ||
	      json_object_set(o, "failing", failing) ||
	      json_object_set(o, "failing_urls", urls) ||
	      json_object_set_new(o, "turn_pending",
	                          json_integer(r->turn_pending)) ||
	      json_object_set_new(o, "status", json_integer(r->status)) ||
	      json_object_set_new(o, "reason", json_integer(r->reason)) ||
	      json_object_set_new(o, "notify_pending",
	                          json_integer(r->notify_pending)) ||
	      /* only when set: older records read as they did */
	      (r->status == AFK__RUN_STOPPED &&
	       (json_object_set_new(o, "stop", json_integer(r->stop)) ||
	        json_object_set_new(o, "stopped_at",
	                            json_integer(r->stopped_at)) ||
	        json_object_set_new(o, "agent_stop",
	                            json_integer(r->agent_stop)) ||
	        json_object_set_new(o, "stop_pending",
	                            json_integer(r->stop_pending)))) ||
	      (r->human_before &&
	       json_object_set_new(o, "human_before", json_integer(1))) ||
	      /* only past the first: a first run's record reads as it did
	       * before generations were kept */
	      (r->generation > 1 &&
	       json_object_set_new(o, "generation",
	                           json_integer(r->generation))) ||
	      /* only once reported: a run without usage reads as before */
	      (r->tokens_in > 0 &&
	       json_object_set_new(o, "tokens_in",
	                           json_integer(r->tokens_in))) ||
	      (r->tokens_out > 0 &&
	       json_object_set_new(o, "tokens_out",
	                           json_integer(r->tokens_out))) ||
	      (r->cost_microusd > 0 &&
	       json_object_set_new(o, "cost_microusd",
	                           json_integer(r->cost_microusd))) ||
	      (r->status == AFK__RUN_ESCALATED && r->why != NULL &&
	       json_object_set_new(o, "why", json_string(r->why))) ||
	      /* a run escalated for its budget has its agent stopped */
	      (r->status == AFK__RUN_ESCALATED &&
	       r->reason == AFK_ESCALATE_BUDGET &&
	       json_object_set_new(o, "agent_stop",
	                           json_integer(r->agent_stop)));
	json_decref(failing);
	json_decref(urls);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The record as one line of JSON that cannot end the HTML comment it
 * sits in: "--" can only occur inside a JSON string, where "-\u002d"
 * reads back the same. */
static char *record_line(const afk__record *r)
{
	json_t *o = to_json(r);
	char *text, *out, *p;
	size_t n, dashes = 0;

	if (o == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	for (p = text; (p = strstr(p, "--")) != NULL; p++)
		dashes++;
	out = malloc(n + dashes * 5 + 1);
	if (out != NULL) {
		char *w = out;

		for (p = text; *p; p++) {
			if (p[0] == '-' && p[1] == '-') {
				memcpy(w, "-\\u002d", 7);
				w += 7;
				p++;
			} else {
				*w++ = *p;
			}
		}
		*w = '\0';
	}
	free(text);
	return out;
}

static const char *const phase_names[] = {
	"dispatched", "tests red", "green", "pushed", "CI green", "deployed"
};

const char *afk__escalation_str(int reason)
{
	switch (reason) {
	case AFK_ESCALATE_AGENT_FAILED:
		return "the agent failed";
	case AFK_ESCALATE_AGENT_STOPPED:
		return "the agent stopped without delivering";
	case AFK_ESCALATE_AGENT_WAITING:
		return "the agent waits on a human";
	case AFK_ESCALATE_STALLED:
		return "no progress before the deadline";
	case AFK_ESCALATE_CI_FAILED:
		return "CI still failing after the last fix-forward";
	case AFK_ESCALATE_DEPLOY_FAILED:
		return "deploy still failing after the last fix-forward";
	case AFK_ESCALATE_CI_TIMEOUT:
		return "CI pending past its deadline";
	case AFK_ESCALATE_DEPLOY_TIMEOUT:
		return "deploy pending past its deadline";
	case AFK_ESCALATE_NO_RECORD:
		return "in progress without a run record";
	case AFK_ESCALATE_AGENT_GONE:
		return "the agent thread is gone";
	case AFK_ESCALATE_BUDGET:
		return "over its cost budget";
	default:
		return "unknown reason";
	}
}

int afk__record_stopping(const afk__record *r)
{
	if (r->status == AFK__RUN_ACTIVE)
		return r->changed_at != 0;
	return r->status == AFK__RUN_STOPPED && r->stop_pending;
}

const char *afk__stop_str(int reason)
{
	switch (reason) {
	case AFK_STOP_CLOSED:
		return "the issue was closed";
	case AFK_STOP_HUMAN_LABEL:
		return "a human took it (the human label was added)";
	case AFK_STOP_UNLOCKED:
		return "its in-progress or ready label was removed";
	default:
		return "unknown reason";
	}
}

/* Appends to a heap string; on failure frees it and returns NULL. */
static char *cat(char *s, const char *add)
{
	size_t a = strlen(s), b = strlen(add);
	char *t = realloc(s, a + b + 1);

	if (t == NULL) {
		free(s);
		return NULL;
	}
	memcpy(t + a, add, b + 1);
	return t;
}

/* "2026-12-06 02:00 UTC", or the raw number for a time gmtime cannot
 * hold (a record is a comment anyone may edit). */
static void utc(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((long long)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, size, "%lld", t);
}

/* Who stopped it, why and when; while stopping, and once stopped, how
 * the agent took it. */
static char *stopped_line(const afk__record *r)
{
	char when[64];

	utc(r->stopped_at, when, sizeof(when));
	if (r->stop_pending)
		return afk__aprintf("**Stopping**: stopped by a human: %s "
		                    "(%s).\n", afk__stop_str(r->stop), when);
	return afk__aprintf("**Stopped**: stopped by a human: %s (%s); %s.\n",
	                    afk__stop_str(r->stop), when,
	                    r->agent_stop == AFK__AGENT_STOP_DONE
	                        ? "the agent was stopped"
	                        : "the agent could not be stopped (it has no "
	                          "stop, or no thread)");
}

static char *status_line(const afk__record *r)
{
	switch (r->status) {
	case AFK__RUN_STOPPED:
		return stopped_line(r);
	case AFK__RUN_CLOSED:
		return afk__aprintf("**Done**: delivered; the issue is closed.\n");
	case AFK__RUN_ESCALATED:
		return afk__aprintf("**Needs a human**: %s%s%s%s%s.\n",
		                    afk__escalation_str(r->reason),
		                    r->why != NULL ? " (`" : "",
		                    r->why != NULL ? r->why : "",
		                    r->why != NULL ? "`)" : "",
		                    r->reason != AFK_ESCALATE_BUDGET ? "" :
		                    r->agent_stop == AFK__AGENT_STOP_DONE
		                        ? "; the agent was stopped" :
		                    r->agent_stop == AFK__AGENT_STOP_NONE
		                        ? "; the agent could not be stopped "
		                          "(it has no stop, or no thread)"
		                        : "; stopping the agent");
	default:
		return afk__aprintf("Status: in progress.\n");
	}
}

/* n with a comma between thousands: "120,400". */
static void thousands(long long n, char *buf, size_t size)
{
	char digits[32];
	size_t len, i, o = 0;

	snprintf(digits, sizeof(digits), "%lld", n < 0 ? 0 : n);
	len = strlen(digits);
	for (i = 0; i < len && o + 2 < size; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

/* Millionths of a dollar as "$1.42": a usage to the cent ("<$0.01"
 * below one), a cap exactly, with at least two decimals. */
static void dollars(long long micro, int exact, char *buf, size_t size)
{
	char whole[32], frac[24];
	int n;

	if (!exact) {
		if (micro < 10000) {
			snprintf(buf, size, "<$0.01");
			return;
		}
		micro = (micro + 5000) / 10000 * 10000;
	}
	thousands(micro / 1000000, whole, sizeof(whole));
	snprintf(frac, sizeof(frac), "%06lld", micro % 1000000);
	for (n = 6; n > 2 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	snprintf(buf, size, "$%s.%s", whole, frac);
}

/* "Usage: 120,400 tokens in, 8,210 out, $1.42; budget: 2,000,000
 * tokens, $5.00.": the figures known, then the caps set; "" when there
 * is neither. */
static char *usage_line(const afk__record *r, const afk__usage_cap *cap)
{
	char n[32], d[64], in[48], out[48], cost[80], tok[48], money[80];
	int capped = cap && (cap->tokens > 0 || cap->cost_microusd > 0);
	int used = r->tokens_in > 0 || r->tokens_out > 0 ||
	           r->cost_microusd > 0;

	if (!used && !capped)
		return afk__strdup("");
	in[0] = out[0] = cost[0] = tok[0] = money[0] = '\0';
	if (r->tokens_in > 0) {
		thousands(r->tokens_in, n, sizeof(n));
		snprintf(in, sizeof(in), "%s tokens in", n);
	}
	if (r->tokens_out > 0) {
		thousands(r->tokens_out, n, sizeof(n));
		snprintf(out, sizeof(out), "%s%s%s", in[0] ? ", " : "", n,
		         in[0] ? " out" : " tokens out");
	}
	if (r->cost_microusd > 0) {
		dollars(r->cost_microusd, 0, d, sizeof(d));
		snprintf(cost, sizeof(cost), "%s%s",
		         in[0] || out[0] ? ", " : "", d);
	}
	if (!used)
		snprintf(in, sizeof(in), "none reported");
	if (capped && cap->tokens > 0) {
		thousands(cap->tokens, n, sizeof(n));
		snprintf(tok, sizeof(tok), "%s tokens", n);
	}
	if (capped && cap->cost_microusd > 0) {
		dollars(cap->cost_microusd, 1, d, sizeof(d));
		snprintf(money, sizeof(money), "%s%s", tok[0] ? ", " : "", d);
	}
	return afk__aprintf("Usage: %s%s%s%s%s%s.\n", in, out, cost,
	                    capped ? "; budget: " : "", tok, money);
}

char *afk__checklist_render(const afk__record *r, const char *repo,
                            long number, int deploy_stage, int budget)
{
	return afk__checklist_render_capped(r, repo, number, deploy_stage,
	                                    budget, NULL);
}

char *afk__checklist_render_capped(const afk__record *r, const char *repo,
                                   long number, int deploy_stage, int budget,
                                   const afk__usage_cap *cap)
{
	int last = deploy_stage ? AFK_PHASE_DEPLOYED : AFK_PHASE_CI;
	char *line = record_line(r), *s, *part;
	int k;
	size_t i;

	if (line == NULL)
		return NULL;
	if (r->generation > 1)
		s = afk__aprintf("%s %s -->\n### afk: %s#%ld (run %d)\n\n",
		                 AFK__RECORD_MARKER, line, repo, number,
		                 r->generation);
	else
		s = afk__aprintf("%s %s -->\n### afk: %s#%ld\n\n",
		                 AFK__RECORD_MARKER, line, repo, number);
	free(line);
	for (k = AFK_PHASE_DISPATCHED; s != NULL && k <= last; k++) {
		int named = k == 0 && r->thread && r->thread[0];

		part = afk__aprintf("- [%c] %s%s%s%s\n",
		                    k <= r->phase ? 'x' : ' ', phase_names[k],
		                    named ? " (agent thread `" : "",
		                    named ? r->thread : "", named ? "`)" : "");
		s = part ? cat(s, part) : (free(s), NULL);
		free(part);
	}
	if (s == NULL)
		return NULL;
	part = afk__aprintf("\nFix-forward attempts: %d of %d", r->attempts,
	                    budget);
	s = part ? cat(s, part) : (free(s), NULL);
	free(part);
	for (i = 0; s != NULL && i < r->failing.n; i++) {
		s = cat(s, i == 0 ? " (failing: " : ", ");
		if (s)
			s = cat(s, r->failing.v[i]);
		if (s && i + 1 == r->failing.n)
			s = cat(s, ")");
	}
	if (s)
		s = cat(s, ".\n");
	/* Which pull request decides the run: a person can check that it
	 * is the agent's own. */
	if (s && r->pr != NULL) {
		s = cat(s, "Pull request: ");
		if (s)
			s = cat(s, r->pr);
		if (s)
			s = cat(s, ".\n");
	}
	part = s ? usage_line(r, cap) : NULL;
	s = part ? cat(s, part) : (free(s), NULL);
	free(part);
	part = s ? status_line(r) : NULL;
	s = part ? cat(s, part) : (free(s), NULL);
	free(part);
	return s;
}
