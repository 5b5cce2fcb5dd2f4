/*
 * tests/httpsrv.c - the harness for tests/http_server.py; see httpsrv.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <jansson.h>

#include "httpsrv.h"

#ifndef AFK_TOP_SRCDIR
#define AFK_TOP_SRCDIR "."
#endif
#ifndef AFK_PYTHON3
#define AFK_PYTHON3 "/usr/bin/python3"
#endif

char *read_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "cannot write %s", path);
	ck_assert_int_ge(fputs(text, fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}

void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The server script: $top_srcdir from make check, else the source tree
 * this suite was built from. */
static void server_script(char *buf, size_t size)
{
	const char *top = getenv("top_srcdir");

	snprintf(buf, size, "%s/tests/http_server.py",
	         top != NULL && top[0] != '\0' ? top : AFK_TOP_SRCDIR);
}

void srv_start(srv *s)
{
	char script[1024], portfile[128], *text;
	const char *py = access(AFK_PYTHON3, X_OK) == 0 ? AFK_PYTHON3 :
	                 "python3";
	int i;

	memset(s, 0, sizeof(*s));
	strcpy(s->dir, "/tmp/afk-http.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	server_script(script, sizeof(script));
	ck_assert_msg(access(script, R_OK) == 0, "no %s", script);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		/* Out of the test's process group, which Check kills with
		 * SIGKILL after a failed test: the server is told with SIGTERM
		 * when this process ends, and removes its directory. */
		setpgid(0, 0);
#if defined(__linux__)
		prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
		execlp(py, py, script, "--dir", s->dir, (char *)NULL);
		_exit(127);
	}
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	for (i = 0; i < 1000; i++) {
		text = read_file(portfile);
		if (text != NULL) {
			s->port = atoi(text);
			free(text);
			break;
		}
		ck_assert_msg(waitpid(s->pid, NULL, WNOHANG) == 0,
		              "the test server died at start");
		msleep(10);
	}
	ck_assert_msg(s->port > 0, "the test server did not start");
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
}

static void rm_dir(const char *dir)
{
	static const char *const files[] = {
		"port", "script.json", "script.json.tmp", "log.jsonl",
		"stats.json", "stats.json.tmp", "port.tmp", "cache.json",
		"cache.json.tmp"
	};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

void srv_stop(srv *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->dir[0] != '\0')
		rm_dir(s->dir);
	s->dir[0] = '\0';
}

/* Writes the server's script from text written with ' for " and ` for
 * \" (a quote inside a JSON string), replacing the file atomically so
 * the server never reads half of it. */
void srv_script(srv *s, const char *text)
{
	char path[128], tmp[128], *t = malloc(2 * strlen(text) + 1), *o;

	ck_assert_ptr_nonnull(t);
	for (o = t; *text != '\0'; text++) {
		if (*text == '`') {
			*o++ = '\\';
			*o++ = '"';
		} else {
			*o++ = *text == '\'' ? '"' : *text;
		}
	}
	*o = '\0';
	snprintf(path, sizeof(path), "%s/script.json", s->dir);
	snprintf(tmp, sizeof(tmp), "%s/script.json.tmp", s->dir);
	write_file(tmp, t);
	ck_assert_int_eq(rename(tmp, path), 0);
	free(t);
}

/* The requests the server saw, a JSON array (json_decref() it). */
json_t *srv_log(srv *s)
{
	char path[128], *text, *line, *save = NULL;
	json_t *log = json_array(), *e;

	snprintf(path, sizeof(path), "%s/log.jsonl", s->dir);
	text = read_file(path);
	if (text == NULL)
		return log;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		e = json_loads(line, 0, NULL);
		ck_assert_ptr_nonnull(e);
		json_array_append_new(log, e);
	}
	free(text);
	return log;
}

size_t srv_count(srv *s)
{
	json_t *log = srv_log(s);
	size_t n = json_array_size(log);

	json_decref(log);
	return n;
}

/* Field key of request i of the log, as a string; "" when absent. */
const char *log_str(json_t *log, size_t i, const char *key)
{
	const char *v = json_string_value(json_object_get(
	                json_array_get(log, i), key));

	return v != NULL ? v : "";
}

const char *log_header(json_t *log, size_t i, const char *name)
{
	const char *v = json_string_value(json_object_get(json_object_get(
	                json_array_get(log, i), "headers"), name));

	return v != NULL ? v : "";
}

long srv_stat(srv *s, const char *key)
{
	char path[128], *text;
	json_t *st;
	long v;

	snprintf(path, sizeof(path), "%s/stats.json", s->dir);
	text = read_file(path);
	ck_assert_ptr_nonnull(text);
	st = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(st);
	v = (long)json_integer_value(json_object_get(st, key));
	json_decref(st);
	free(text);
	return v;
}

/* How many logged requests have method and a path starting with path. */
size_t count_req(srv *s, const char *method, const char *path)
{
	json_t *log = srv_log(s);
	size_t i, n = 0;

	for (i = 0; i < json_array_size(log); i++)
		if (strcmp(log_str(log, i, "method"), method) == 0 &&
		    strncmp(log_str(log, i, "path"), path, strlen(path)) == 0)
			n++;
	json_decref(log);
	return n;
}

/* The body of the last logged request with method and path, parsed. */
json_t *last_body(srv *s, const char *method, const char *path)
{
	json_t *log = srv_log(s), *b = NULL;
	size_t i;

	for (i = 0; i < json_array_size(log); i++)
		if (strcmp(log_str(log, i, "method"), method) == 0 &&
		    strcmp(log_str(log, i, "path"), path) == 0) {
			json_decref(b);
			b = json_loads(log_str(log, i, "body"), 0, NULL);
		}
	json_decref(log);
	ck_assert_msg(b != NULL, "no %s %s with a JSON body", method, path);
	return b;
}

/* Writes the server's script (script: a new reference, taken),
 * replacing the file atomically. */
void srv_script_json(srv *s, json_t *script)
{
	char path[128], tmp[128], *text;

	ck_assert_ptr_nonnull(script);
	text = json_dumps(script, 0);
	json_decref(script);
	ck_assert_ptr_nonnull(text);
	snprintf(path, sizeof(path), "%s/script.json", s->dir);
	snprintf(tmp, sizeof(tmp), "%s/script.json.tmp", s->dir);
	write_file(tmp, text);
	ck_assert_int_eq(rename(tmp, path), 0);
	free(text);
}

void srv_add_pages(json_t *routes, const char *path, json_t *items,
                   size_t per_page, int link)
{
	size_t n = json_array_size(items), last = (n + per_page - 1) / per_page;
	size_t p, i;
	char key[512], hdr[1024];

	if (last == 0)
		last = 1;
	for (p = 1; p <= last; p++) {
		json_t *page = json_array(), *ans = json_object();

		for (i = (p - 1) * per_page; i < n && i < p * per_page; i++)
			json_array_append(page, json_array_get(items, i));
		json_object_set_new(ans, "json", page);
		if (link) {
			if (p < last)
				snprintf(hdr, sizeof(hdr), "<http://127.0.0.1:{port}"
				         "%s&page=%zu>; rel=\"next\", <http://"
				         "127.0.0.1:{port}%s&page=%zu>; rel=\"last\"",
				         path, p + 1, path, last);
			else
				snprintf(hdr, sizeof(hdr), "<http://127.0.0.1:{port}"
				         "%s&page=1>; rel=\"first\", <http://"
				         "127.0.0.1:{port}%s&page=%zu>; rel=\"last\"",
				         path, path, last);
			json_object_set_new(ans, "headers",
			                    json_pack("{s:s}", "Link", hdr));
		}
		if (p == 1)
			snprintf(key, sizeof(key), "%s", path);
		else
			snprintf(key, sizeof(key), "%s&page=%zu", path, p);
		ck_assert_int_eq(json_object_set_new(routes, key, ans), 0);
	}
	json_decref(items);
}

char *url_of(const srv *s, const char *path)
{
	char *u = malloc(strlen(s->base) + strlen(path) + 1);

	ck_assert_ptr_nonnull(u);
	strcpy(u, s->base);
	strcat(u, path);
	return u;
}

/* Request i's body parsed (json_decref() it). */
json_t *log_body(json_t *log, size_t i)
{
	json_t *b = json_loads(log_str(log, i, "body"), 0, NULL);

	ck_assert_msg(b != NULL, "request %zu has no JSON body", i);
	return b;
}

void assert_contains(const char *s, const char *part)
{
	ck_assert_msg(s != NULL && strstr(s, part) != NULL,
	              "\"%s\" does not contain \"%s\"", s ? s : "(null)", part);
}

void assert_lacks(const char *s, const char *part)
{
	ck_assert_msg(s == NULL || strstr(s, part) == NULL,
	              "\"%s\" contains \"%s\"", s, part);
}
