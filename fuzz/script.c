/*
 * fuzz/script.c - the scripted HTTP layer of fuzz/fuzz.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "afk/common.h"

static const uint8_t *script;
static size_t script_len, script_pos;
static fuzz_answer *answers;
static size_t nanswers, answers_cap;

char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

int fuzz_ends_with(const char *t, const char *s)
{
	size_t nt = strlen(t), ns = strlen(s);

	return nt >= ns && strcmp(t + nt - ns, s) == 0;
}

void fuzz_script_start(const uint8_t *data, size_t n)
{
	fuzz_script_end();
	script = data;
	script_len = n;
	script_pos = 0;
}

size_t fuzz_script_answers(const fuzz_answer **out)
{
	*out = answers;
	return nanswers;
}

void fuzz_script_end(void)
{
	size_t i;

	for (i = 0; i < nanswers; i++) {
		free(answers[i].url);
		free(answers[i].body);
	}
	free(answers);
	answers = NULL;
	nanswers = answers_cap = 0;
}

static void logged(const char *url, long status, const char *body)
{
	if (nanswers == answers_cap) {
		answers_cap = answers_cap ? 2 * answers_cap : 16;
		answers = realloc(answers, answers_cap * sizeof(*answers));
		if (answers == NULL)
			abort();
	}
	answers[nanswers].url = strdup(url != NULL ? url : "");
	answers[nanswers].status = status;
	answers[nanswers].body = strdup(body);
	if (answers[nanswers].url == NULL || answers[nanswers].body == NULL)
		abort();
	nanswers++;
}

/* Answers one request from the script. */
static void answer(afk__http_req *r)
{
	const uint8_t *p = script + script_pos, *end, *sep;
	size_t n;
	long status = 200;
	int next = 0;
	char *body;

	if (script_pos >= script_len) {
		r->rc = AFK_EIO;
		r->fail = AFK__HTTP_ECONNECT;
		snprintf(r->errmsg, sizeof(r->errmsg), "%s: the script ended",
		         r->what != NULL ? r->what : "request");
		return;
	}
	end = script + script_len;
	sep = memchr(p, FUZZ_SEP, (size_t)(end - p));
	n = (size_t)((sep != NULL ? sep : end) - p);
	script_pos += n + 1;
	if (n >= 9 && memcmp(p, "HTTP ", 5) == 0) {
		const uint8_t *nl = memchr(p, '\n', n);
		char line[64];
		size_t ln = (size_t)((nl != NULL ? nl : p + n) - p);

		if (ln >= sizeof(line))
			ln = sizeof(line) - 1;
		memcpy(line, p, ln);
		line[ln] = '\0';
		status = strtol(line + 5, NULL, 10);
		next = strstr(line, " next") != NULL;
		if (status < 100 || status > 599)
			status = 200;
		n -= nl != NULL ? (size_t)(nl + 1 - p) : n;
		p = nl != NULL ? nl + 1 : p + n;
	}
	body = fuzz_str(p, n);
	r->len = strlen(body);  /* the layer adds a NUL: the body ends there */
	r->data = body;
	r->status = status;
	r->pages = 1;
	if (next)
		r->link = strdup("<http://127.0.0.1:9/page2>; rel=\"next\"");
	logged(r->url, status, body);
	if (status < 200 || status > 299) {
		r->rc = AFK_EIO;
		r->fail = AFK__HTTP_ESTATUS;
		snprintf(r->errmsg, sizeof(r->errmsg), "%s: HTTP %ld",
		         r->what != NULL ? r->what : "request", status);
		return;
	}
	if (r->paginate && (r->method == NULL || strcmp(r->method, "GET") == 0)) {
		/* The real layer joins pages of arrays: anything else fails. */
		json_t *j = json_loadb(body, r->len, 0, NULL);
		int ok = json_is_array(j);

		json_decref(j);
		if (!ok) {
			r->rc = AFK_EPARSE;
			r->fail = AFK__HTTP_EPARSE;
			snprintf(r->errmsg, sizeof(r->errmsg),
			         "%s: not a JSON array", r->what != NULL ?
			         r->what : "request");
			return;
		}
	}
	r->rc = AFK_OK;
	r->fail = AFK__HTTP_OK;
}

int __wrap_afk__http_run(afk__http *h, afk__http_req *reqs, size_t n);

int __wrap_afk__http_run(afk__http *h, afk__http_req *reqs, size_t n)
{
	size_t i;
	int rc = AFK_OK;

	(void)h;
	for (i = 0; i < n; i++) {
		afk__http_req_clear(&reqs[i]);
		answer(&reqs[i]);
		if (rc == AFK_OK && reqs[i].rc != AFK_OK)
			rc = reqs[i].rc;
	}
	return rc;
}

/* --- a scratch file -------------------------------------------------- */

static char scratch[96];

/* Removes the scratch directory and all in it (the file, and what the
 * code under test made beside it, such as the cache's lock). */
static void scratch_remove(void)
{
	char *slash = strrchr(scratch, '/'), entry[sizeof(scratch) + 256];
	struct dirent *d;
	DIR *dir;

	if (slash == NULL)
		return;
	*slash = '\0';
	if ((dir = opendir(scratch)) != NULL) {
		while ((d = readdir(dir)) != NULL) {
			snprintf(entry, sizeof(entry), "%s/%s", scratch,
			         d->d_name);
			unlink(entry);
		}
		closedir(dir);
	}
	rmdir(scratch);
}

const char *fuzz_scratch_file(const char *name)
{
	char shm[] = "/dev/shm/afk-fuzz.XXXXXX";
	char tmp[] = "/tmp/afk-fuzz.XXXXXX";
	char *dir = mkdtemp(shm);

	if (dir == NULL && (dir = mkdtemp(tmp)) == NULL)
		abort();
	atexit(scratch_remove);
	snprintf(scratch, sizeof(scratch), "%s/%s", dir, name);
	return scratch;
}
