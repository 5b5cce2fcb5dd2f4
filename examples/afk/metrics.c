/*
 * examples/afk/metrics.c - the afk command's Prometheus metrics
 * (metrics.h).
 *
 * Every metric is a sample: a family (a row of the table below), its
 * labels as the exposition format writes them (name="value",... with the
 * values escaped), and a value.  A tick gathers its samples in a handle;
 * the commit reads the state file's samples, merges the tick's into
 * them - a counter adds, a gauge replaces, and a gauge of the last watch
 * (the runs in flight) replaces its whole family - writes them back and
 * renders them.  The state file is one sample a line:
 *
 *     # afk metrics state 1
 *     afk_ticks_total<TAB>kind="poll",result="ok"<TAB>3
 *
 * A line that does not read so makes the whole file corrupt; a family
 * this afk does not know (one an older or newer afk kept) is dropped.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for mkstemp() */

#include "metrics.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_HEADER "# afk metrics state 1"

enum type { COUNTER, GAUGE, GAUGE_SET }; /* GAUGE_SET: replaced whole */

/* The families, in the order the file lists them. */
enum family {
	F_TICKS, F_TICK_SECONDS, F_LAST_SUCCESS, F_DISPATCHES, F_SKIPS,
	F_IN_FLIGHT, F_CLOSES, F_FIX_FORWARDS, F_ESCALATIONS, F_STOPS,
	F_HTTP_REQUESTS, F_HTTP_NOT_MODIFIED, F_HTTP_REMAINING, F_ERRORS,
	NFAMILIES
};

static const struct {
	const char *name;
	enum type type;
	const char *help;
} families[NFAMILIES] = {
	{"afk_ticks_total", COUNTER,
	 "Ticks run, by command (poll, watch, tick) and result (ok, error, "
	 "disarmed)."},
	{"afk_tick_duration_seconds", GAUGE,
	 "How long the last tick of each command took."},
	{"afk_last_success_timestamp_seconds", GAUGE,
	 "When the last tick of each command that ended ok ended."},
	{"afk_dispatches_total", COUNTER,
	 "Issues dispatched to the agent, by repository."},
	{"afk_skips_total", COUNTER,
	 "Listed issues a poll did not dispatch, by reason."},
	{"afk_runs_in_flight", GAUGE_SET,
	 "Runs the last watch left under way (waiting or fixing forward), "
	 "by phase."},
	{"afk_closes_total", COUNTER,
	 "Runs finished by closing their issue."},
	{"afk_fix_forwards_total", COUNTER,
	 "Corrective turns sent to an agent."},
	{"afk_escalations_total", COUNTER,
	 "Runs handed to a human, by reason."},
	{"afk_stops_total", COUNTER,
	 "Agents stopped because their issue was closed, handed to a human "
	 "or unlocked, by reason."},
	{"afk_http_requests_total", COUNTER,
	 "HTTP responses the adapters received, by host and status code "
	 "(304 Not Modified counted apart)."},
	{"afk_http_not_modified_total", COUNTER,
	 "HTTP responses 304 Not Modified (answered from the ETag cache), "
	 "by host."},
	{"afk_http_rate_limit_remaining", GAUGE,
	 "Requests left in the rate limit, from the last response of each "
	 "host that carried X-RateLimit-Remaining."},
	{"afk_errors_total", COUNTER,
	 "Failures, by kind: poll, watch (one per failure a tick recorded), "
	 "http (a transport failure), metrics_state (the state file was "
	 "reset), metrics_write (a metrics file could not be written)."},
};

static const char *const tick_kinds[] = {"poll", "watch", "tick"};
static const char *const tick_results[] = {"ok", "error", "disarmed"};
static const char *const error_kinds[] = {
	"poll", "watch", "http", "metrics_state", "metrics_write"
};

#define COUNT(a) (sizeof(a) / sizeof(*(a)))

typedef struct sample {
	enum family fam;
	char *labels;       /* rendered and escaped; "" for none */
	double value;
} sample;

typedef struct samples {
	sample *v;
	size_t n, cap;
} samples;

struct metrics {
	samples tick;       /* what this tick adds or sets */
	int nomem;          /* a sample was lost */
};

static void samples_clear(samples *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].labels);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static sample *samples_find(const samples *s, enum family fam,
                            const char *labels)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].fam == fam && strcmp(s->v[i].labels, labels) == 0)
			return &s->v[i];
	return NULL;
}

/* Adds value to (or, set, replaces with it) the sample of fam and
 * labels, made with 0 when missing.  Returns 0 or -1 (out of memory). */
static int samples_put(samples *s, enum family fam, const char *labels,
                       double value, int set)
{
	sample *x = samples_find(s, fam, labels), *v;
	size_t cap;

	if (x == NULL) {
		if (s->n == s->cap) {
			cap = s->cap ? 2 * s->cap : 64;
			v = realloc(s->v, cap * sizeof(*v));
			if (v == NULL)
				return -1;
			s->v = v;
			s->cap = cap;
		}
		x = &s->v[s->n];
		x->labels = strdup(labels);
		if (x->labels == NULL)
			return -1;
		x->fam = fam;
		x->value = 0;
		s->n++;
	}
	x->value = set ? value : x->value + value;
	return 0;
}

/* Removes every sample of fam. */
static void samples_drop(samples *s, enum family fam)
{
	size_t i, o = 0;

	for (i = 0; i < s->n; i++) {
		if (s->v[i].fam == fam)
			free(s->v[i].labels);
		else
			s->v[o++] = s->v[i];
	}
	s->n = o;
}

/* Appends name="value" to buf (size bytes, holding a string), the value
 * escaped as the exposition format wants: backslash, double quote and
 * line feed.  Returns 0, or -1 when it does not fit. */
static int label_cat(char *buf, size_t size, const char *name,
                     const char *value)
{
	size_t o = strlen(buf);
	int n;

	n = snprintf(buf + o, size - o, "%s%s=\"", o ? "," : "", name);
	if (n < 0 || (size_t)n >= size - o)
		return -1;
	for (o += (size_t)n; *value != '\0'; value++) {
		if (o + 3 >= size || ((unsigned char)*value < 0x20 &&
		                      *value != '\n'))
			return -1;
		if (*value == '\\' || *value == '"') {
			buf[o++] = '\\';
			buf[o++] = *value;
		} else if (*value == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *value;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return 0;
}

/* Puts a sample with up to two labels (a NULL name ends them) in m's
 * tick.  A label value too long for a line is not counted. */
static void put(metrics *m, enum family fam, double value, int set,
                const char *k1, const char *v1, const char *k2,
                const char *v2)
{
	char labels[1024] = "";

	if (m == NULL)
		return;
	if ((k1 != NULL && label_cat(labels, sizeof(labels), k1, v1) != 0) ||
	    (k2 != NULL && label_cat(labels, sizeof(labels), k2, v2) != 0))
		return;
	if (samples_put(&m->tick, fam, labels, value, set) != 0)
		m->nomem = 1;
}

metrics *metrics_new(void)
{
	return calloc(1, sizeof(metrics));
}

void metrics_free(metrics *m)
{
	if (m == NULL)
		return;
	samples_clear(&m->tick);
	free(m);
}

void metrics_error(metrics *m, const char *kind)
{
	put(m, F_ERRORS, 1, 0, "kind", kind, NULL, NULL);
}

void metrics_poll(metrics *m, const afk_result *res)
{
	const afk_issue *is;
	char name[32];
	size_t i;
	int r;

	if (m == NULL || res == NULL)
		return;
	for (i = 0; i < afk_result_dispatched_count(res); i++) {
		is = afk_result_dispatched_issue(res, i);
		put(m, F_DISPATCHES, 1, 0, "repo", afk_issue_repo(is), NULL,
		    NULL);
	}
	for (i = 0; i < afk_result_skipped_count(res); i++) {
		r = afk_result_skipped_reason(res, i);
		put(m, F_SKIPS, 1, 0, "reason",
		    label_of(&names_skip, r, name, sizeof(name)), NULL, NULL);
	}
	for (i = 0; i < afk_result_error_count(res); i++)
		metrics_error(m, "poll");
}

void metrics_watch(metrics *m, const afk_actions *acts)
{
	size_t i, p, in_flight[8] = {0};
	char name[32];
	int kind, phase;

	if (m == NULL || acts == NULL)
		return;
	for (i = 0; i < afk_actions_count(acts); i++) {
		kind = afk_actions_kind(acts, i);
		phase = afk_actions_phase(acts, i);
		if (kind == AFK_ACTION_CLOSE)
			put(m, F_CLOSES, 1, 0, NULL, NULL, NULL, NULL);
		else if (kind == AFK_ACTION_FIX_FORWARD)
			put(m, F_FIX_FORWARDS, 1, 0, NULL, NULL, NULL, NULL);
		else if (kind == AFK_ACTION_ESCALATE)
			put(m, F_ESCALATIONS, 1, 0, "reason",
			    label_of(&names_escalation,
			             afk_actions_reason(acts, i), name,
			             sizeof(name)), NULL, NULL);
		else if (kind == AFK_ACTION_STOP)
			put(m, F_STOPS, 1, 0, "reason",
			    label_of(&names_stop,
			             afk_actions_stop_reason(acts, i), name,
			             sizeof(name)), NULL, NULL);
		if ((kind == AFK_ACTION_WAIT || kind == AFK_ACTION_FIX_FORWARD) &&
		    phase >= 0 && (size_t)phase < names_phase.n &&
		    (size_t)phase < COUNT(in_flight))
			in_flight[phase]++;
	}
	for (p = 0; p < names_phase.n && p < COUNT(in_flight); p++)
		put(m, F_IN_FLIGHT, (double)in_flight[p], 1, "phase",
		    label_of(&names_phase, (int)p, name, sizeof(name)), NULL,
		    NULL);
	for (i = 0; i < afk_actions_error_count(acts); i++)
		metrics_error(m, "watch");
}

/* Reads a whole non-negative decimal number of at most 18 digits at *p,
 * moving *p past it; -1 when there is none. */
static long long read_count(const char **p)
{
	long long n = 0;
	int digits = 0;

	for (; **p >= '0' && **p <= '9' && digits < 18; (*p)++, digits++)
		n = n * 10 + (**p - '0');
	return digits > 0 && (**p < '0' || **p > '9') ? n : -1;
}

void metrics_log(metrics *m, const char *event, const char *message)
{
	const char *tail = NULL, *p, *h;
	char host[128], code[24];
	long long status, left = -1;
	size_t n;

	if (m == NULL || strcmp(event, "http.request") != 0)
		return;
	/* The tail is last: the text before it quotes a URL, which may
	 * hold anything. */
	for (p = message; (p = strstr(p, " host=")) != NULL; p++)
		tail = p;
	if (tail == NULL)
		return;
	h = tail + 6;
	n = strcspn(h, " ");
	if (n == 0 || n >= sizeof(host) || strncmp(h + n, " status=", 8) != 0)
		return;
	memcpy(host, h, n);
	host[n] = '\0';
	p = h + n + 8;
	if ((status = read_count(&p)) < 0)
		return;
	if (strncmp(p, " remaining=", 11) == 0) {
		p += 11;
		if ((left = read_count(&p)) < 0)
			return;
	}
	if (*p != '\0')
		return;
	if (status == 0) {
		metrics_error(m, "http");
	} else if (status == 304) {
		put(m, F_HTTP_NOT_MODIFIED, 1, 0, "host", host, NULL, NULL);
	} else {
		snprintf(code, sizeof(code), "%lld", status);
		put(m, F_HTTP_REQUESTS, 1, 0, "host", host, "code", code);
	}
	if (left >= 0)
		put(m, F_HTTP_REMAINING, (double)left, 1, "host", host, NULL,
		    NULL);
}

void metrics_tick(metrics *m, const char *kind, const char *result,
                  double seconds, long long now)
{
	put(m, F_TICKS, 1, 0, "kind", kind, "result", result);
	put(m, F_TICK_SECONDS, seconds, 1, "kind", kind, NULL, NULL);
	if (strcmp(result, "ok") == 0)
		put(m, F_LAST_SUCCESS, (double)now, 1, "kind", kind, NULL,
		    NULL);
}

/* fam's series at zero for every name of t, as its "reason" label. */
static void zeros(metrics *m, enum family fam, const names *t)
{
	char name[32];
	size_t i;

	for (i = 0; i < t->n; i++)
		put(m, fam, 0, 0, "reason",
		    label_of(t, t->first + (int)i, name, sizeof(name)), NULL,
		    NULL);
}

/* Every counter's known series at zero, so that each shows from the
 * first tick on and a rate() over it never starts from nothing. */
static void put_zeros(metrics *m)
{
	size_t i, j;

	for (i = 0; i < COUNT(tick_kinds); i++)
		for (j = 0; j < COUNT(tick_results); j++)
			put(m, F_TICKS, 0, 0, "kind", tick_kinds[i], "result",
			    tick_results[j]);
	zeros(m, F_SKIPS, &names_skip);
	zeros(m, F_ESCALATIONS, &names_escalation);
	zeros(m, F_STOPS, &names_stop);
	for (i = 0; i < COUNT(error_kinds); i++)
		put(m, F_ERRORS, 0, 0, "kind", error_kinds[i], NULL, NULL);
	put(m, F_CLOSES, 0, 0, NULL, NULL, NULL, NULL);
	put(m, F_FIX_FORWARDS, 0, 0, NULL, NULL, NULL, NULL);
}

/* --- the files ------------------------------------------------------------ */

/* Says what went wrong through the caller's log. */
typedef struct say {
	afk_log_fn fn;
	void *userdata;
} say;

static void sayf(const say *s, int level, const char *event,
                 const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
static void sayf(const say *s, int level, const char *event,
                 const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (s->fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->fn(level, event, msg, s->userdata);
}

/* Makes dir and its missing parents, mode 0700.  Returns 0 or an
 * errno. */
static int make_dirs(const char *path)
{
	struct stat st;
	char *dir = strdup(path), *p, c;
	int err = 0;

	if (dir == NULL)
		return ENOMEM;
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			err = errno;
		*p = c;
		if (c == '\0' || err != 0)
			break;
	}
	if (err == 0 && stat(dir, &st) != 0)
		err = errno;
	else if (err == 0 && !S_ISDIR(st.st_mode))
		err = ENOTDIR;
	free(dir);
	return err;
}

/* A heap string "dir/name", or NULL. */
static char *path_in(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);

	if (p != NULL)
		sprintf(p, "%s/%s", dir, name);
	return p;
}

/* Formats a value the shortest way that reads back the same: counters
 * as whole numbers. */
static void format_value(char *buf, size_t size, double v)
{
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, size, "%.0f", v);
		return;
	}
	snprintf(buf, size, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, size, "%.17g", v);
}

/* Replaces path with the n bytes of text, atomically: written to a new
 * file beside it (".<name>.tmp.XXXXXX": not matched by a reader's
 * "*.prom"), synced, given mode, renamed over path, and the directory
 * synced.  Returns 0 or an errno. */
static int write_atomic(const char *path, const char *text, size_t n,
                        mode_t mode)
{
	char *copy = strdup(path), *copy2 = strdup(path), *tmp = NULL;
	const char *dir, *base;
	size_t off = 0;
	ssize_t w;
	int fd = -1, dfd, err = 0;

	if (copy == NULL || copy2 == NULL) {
		err = ENOMEM;
		goto out;
	}
	dir = dirname(copy);
	base = basename(copy2);
	tmp = malloc(strlen(dir) + strlen(base) + 16);
	if (tmp == NULL) {
		err = ENOMEM;
		goto out;
	}
	sprintf(tmp, "%s/.%s.tmp.XXXXXX", dir, base);
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	while (off < n) {
		w = write(fd, text + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	if (err == 0 && fchmod(fd, mode) != 0)
		err = errno;
	if (err == 0 && fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0) {
		unlink(tmp);
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
out:
	free(tmp);
	free(copy);
	free(copy2);
	return err;
}

/* The index of the family named name, or -1. */
static int family_of(const char *name, size_t n)
{
	size_t f;

	for (f = 0; f < NFAMILIES; f++)
		if (strlen(families[f].name) == n &&
		    strncmp(families[f].name, name, n) == 0)
			return (int)f;
	return -1;
}

/* Reads one state line into s.  Returns 0, or -1 when it is not one. */
static int read_line(samples *s, char *line, int *nomem)
{
	char *t1 = strchr(line, '\t'), *t2, *end;
	double v;
	int f;

	if (t1 == NULL || (t2 = strchr(t1 + 1, '\t')) == NULL)
		return -1;
	*t2 = '\0';
	errno = 0;
	v = strtod(t2 + 1, &end);
	if (end == t2 + 1 || *end != '\0' || errno != 0 || !isfinite(v))
		return -1;
	f = family_of(line, (size_t)(t1 - line));
	if (f < 0)
		return 0; /* kept by another afk: dropped */
	if (families[f].type == COUNTER && v < 0)
		return -1;
	if (samples_put(s, (enum family)f, t1 + 1, v, 1) != 0)
		*nomem = 1;
	return 0;
}

/* Reads the state file at path into s (emptied first).  Returns 0 (a
 * missing file is an empty state), or -1 with why in err. */
static int read_state(const char *path, samples *s, char *why,
                      size_t size)
{
	FILE *fp = fopen(path, "re");
	char line[4096];
	size_t n, lineno = 0;
	int nomem = 0, bad = 0;

	samples_clear(s);
	if (fp == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, size, "cannot read it: %s", strerror(errno));
		return -1;
	}
	while (!bad && fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		n = strlen(line);
		if (n == 0 || line[n - 1] != '\n') {
			bad = 1;
			break;
		}
		line[n - 1] = '\0';
		if (lineno == 1)
			bad = strcmp(line, STATE_HEADER) != 0;
		else
			bad = read_line(s, line, &nomem) != 0;
	}
	if (ferror(fp)) {
		snprintf(why, size, "cannot read it: %s", strerror(errno));
		bad = -1;
	} else if (lineno == 0) {
		snprintf(why, size, "it is empty");
		bad = 1;
	} else if (bad) {
		snprintf(why, size, "line %zu is not a state line", lineno);
	} else if (nomem) {
		snprintf(why, size, "out of memory");
		bad = 1;
	}
	fclose(fp);
	if (bad)
		samples_clear(s);
	return bad ? -1 : 0;
}

/* A growing text. */
typedef struct text {
	char *s;
	size_t n, cap;
	int nomem;
} text;

static void text_add(text *t, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
static void text_add(text *t, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *s;
	int n;

	if (t->nomem)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0,
	              fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->nomem = 1;
		return;
	}
	if (t->s != NULL && t->n + (size_t)n < t->cap) {
		t->n += (size_t)n;
		return;
	}
	cap = t->cap ? t->cap : 4096;
	while (cap <= t->n + (size_t)n)
		cap *= 2;
	s = realloc(t->s, cap);
	if (s == NULL) {
		t->nomem = 1;
		return;
	}
	t->s = s;
	t->cap = cap;
	va_start(ap, fmt);
	vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
	va_end(ap);
	t->n += (size_t)n;
}

/* The state file's text of s. */
static void render_state(const samples *s, text *t)
{
	char v[64];
	size_t i;

	text_add(t, "%s\n", STATE_HEADER);
	for (i = 0; i < s->n; i++) {
		format_value(v, sizeof(v), s->v[i].value);
		text_add(t, "%s\t%s\t%s\n", families[s->v[i].fam].name,
		         s->v[i].labels, v);
	}
}

static int by_labels(const void *a, const void *b)
{
	const sample *x = a, *y = b;

	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	return strcmp(x->labels, y->labels);
}

/* The exposition format's text of s: every family with its HELP and
 * TYPE lines, in the table's order, its samples sorted by labels. */
static void render_prom(samples *s, text *t)
{
	char v[64];
	size_t f, i;

	qsort(s->v, s->n, sizeof(*s->v), by_labels);
	for (f = 0; f < NFAMILIES; f++) {
		text_add(t, "# HELP %s %s\n# TYPE %s %s\n", families[f].name,
		         families[f].help, families[f].name,
		         families[f].type == COUNTER ? "counter" : "gauge");
		for (i = 0; i < s->n; i++) {
			if (s->v[i].fam != (enum family)f)
				continue;
			format_value(v, sizeof(v), s->v[i].value);
			if (s->v[i].labels[0] != '\0')
				text_add(t, "%s{%s} %s\n", families[f].name,
				         s->v[i].labels, v);
			else
				text_add(t, "%s %s\n", families[f].name, v);
		}
	}
}

/* Merges the tick's samples into the state's: a counter adds; a gauge
 * replaces; a family of GAUGE_SET the tick set replaces the whole
 * family. */
static int merge(samples *state, const samples *tick)
{
	int dropped[NFAMILIES] = {0};
	size_t i;
	enum family f;

	for (i = 0; i < tick->n; i++) {
		f = tick->v[i].fam;
		if (families[f].type == GAUGE_SET && !dropped[f]) {
			samples_drop(state, f);
			dropped[f] = 1;
		}
		if (samples_put(state, f, tick->v[i].labels, tick->v[i].value,
		                families[f].type != COUNTER) != 0)
			return -1;
	}
	return 0;
}

/* Writes s to the state file; 0 or an errno. */
static int save_state(const char *path, const samples *s)
{
	text t = {NULL, 0, 0, 0};
	int err;

	render_state(s, &t);
	err = t.nomem ? ENOMEM : write_atomic(path, t.s, t.n, 0600);
	free(t.s);
	return err;
}

int metrics_commit(metrics *m, const char *state_dir, const char *file,
                   afk_log_fn log, void *userdata)
{
	say s = {log, userdata};
	samples state = {NULL, 0, 0};
	char *lock = NULL, *spath = NULL, *prom = NULL, why[512];
	text t = {NULL, 0, 0, 0};
	int fd = -1, err, rc = 0;

	if (m == NULL || state_dir == NULL)
		return 0;
	err = make_dirs(state_dir);
	if (err != 0) {
		sayf(&s, AFK_LOG_ERROR, "metrics.write_failed", "cannot make "
		     "the state directory %s: %s", state_dir, strerror(err));
		return -1;
	}
	lock = path_in(state_dir, "metrics.lock");
	spath = path_in(state_dir, "metrics.state");
	prom = file != NULL ? strdup(file) : path_in(state_dir, "afk.prom");
	if (lock == NULL || spath == NULL || prom == NULL || m->nomem) {
		sayf(&s, AFK_LOG_ERROR, "metrics.write_failed", "out of "
		     "memory; no metrics written");
		rc = -1;
		goto out;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	while (fd >= 0 && flock(fd, LOCK_EX) != 0 && errno == EINTR)
		;
	if (fd < 0) {
		sayf(&s, AFK_LOG_ERROR, "metrics.write_failed", "cannot lock "
		     "%s: %s", lock, strerror(errno));
		rc = -1;
		goto out;
	}
	if (read_state(spath, &state, why, sizeof(why)) != 0) {
		sayf(&s, AFK_LOG_WARNING, "metrics.state_reset", "%s: %s; the "
		     "counters start again from zero", spath, why);
		metrics_error(m, "metrics_state");
	}
	put_zeros(m);
	if (m->nomem || merge(&state, &m->tick) != 0) {
		sayf(&s, AFK_LOG_ERROR, "metrics.write_failed", "out of "
		     "memory; no metrics written");
		rc = -1;
		goto out;
	}
	err = save_state(spath, &state);
	if (err != 0) {
		sayf(&s, AFK_LOG_ERROR, "metrics.write_failed", "cannot write "
		     "%s: %s", spath, strerror(err));
		(void)samples_put(&state, F_ERRORS, "kind=\"metrics_write\"", 1,
		                  0);
		rc = -1;
	}
	render_prom(&state, &t);
	err = t.nomem ? ENOMEM : write_atomic(prom, t.s, t.n, 0644);
	if (err != 0) {
		sayf(&s, AFK_LOG_ERROR, "metrics.write_failed", "cannot write "
		     "%s: %s", prom, strerror(err));
		if (rc == 0 && samples_put(&state, F_ERRORS,
		    "kind=\"metrics_write\"", 1, 0) == 0)
			(void)save_state(spath, &state);
		rc = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	samples_clear(&state);
	free(t.s);
	free(lock);
	free(spath);
	free(prom);
	return rc;
}
