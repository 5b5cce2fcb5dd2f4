/*
 * tests/net/check_http.c - the HTTP layer (lib/net/http.c) and the redaction
 * step (lib/net/redact.c), against tests/http_server.py on 127.0.0.1.
 *
 * Each test that speaks HTTP starts its own server (the fixture), tells
 * it what to answer by writing its script file, and afterwards reads the
 * server's log of what was sent and its counts of connections.  The
 * server binds 127.0.0.1 only and exits with its parent.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "afk/afk.h"
#include "builtin/builtin.h"
#include "core/config.h"
#include "fakes.h"
#include "httpsrv.h"
#include "net/http.h"
#include "core/jsonpos.h"
#include "net/redact.h"

#define TOKEN "ghp_S3cr3tT0k3nValue0123456789abcdef"
#define QTOKEN "qs-T0k3n-in-the-query-string-42"

/* --- the server ------------------------------------------------------ */

static srv S;           /* the fixture's server */
static srv S2;          /* a second one, for tests that need two */

static void setup(void)
{
	srv_start(&S);
}

static void teardown(void)
{
	srv_stop(&S);
	srv_stop(&S2);
}

/* --- helpers --------------------------------------------------------- */

static afk__http *H;

static afk__http *http_with(const afk__http_opts *o)
{
	char err[AFK__ERRMSG_SIZE] = "";
	afk__http *h = NULL;

	ck_assert_msg(afk__http_new(&h, o, err) == AFK_OK, "%s", err);
	ck_assert_ptr_nonnull(h);
	return h;
}

static afk__http *http_default(void)
{
	afk__http_opts o;

	afk__http_opts_default(&o);
	return http_with(&o);
}

/* A GET of base + path, with the secret header. */
static void req_get(afk__http_req *r, const char *url)
{
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->secret_header = "Authorization: Bearer " TOKEN;
}

/* Runs one request; returns its rc. */
static int run1(afk__http *h, afk__http_req *r)
{
	return afk__http_run(h, r, 1);
}

/* No piece of the token (its first 8 bytes would already identify it)
 * is in s. */
static void assert_no_token(const char *s)
{
	assert_lacks(s, TOKEN);
	assert_lacks(s, "ghp_S3cr");
	assert_lacks(s, "T0k3nValue");
	assert_lacks(s, QTOKEN);
	assert_lacks(s, "qs-T0k3n");
}

/* --- plain requests -------------------------------------------------- */

START_TEST(test_plain_get)
{
	afk__http_req r;
	afk__http_stats st;
	char *u = url_of(&S, "/hello");
	json_t *log;

	srv_script(&S, "{'routes': {'/hello': {'json': {'ok': true}, "
	           "'headers': [['X-RateLimit-Remaining', '4999'], "
	           "['X-RateLimit-Reset', '1999999999']]}}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.rc, AFK_OK);
	ck_assert_int_eq(r.fail, AFK__HTTP_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.data, "{\"ok\": true}");
	ck_assert_uint_eq(r.len, strlen("{\"ok\": true}"));
	ck_assert_str_eq(r.content_type, "application/json");
	ck_assert_str_eq(r.ratelimit_remaining, "4999");
	ck_assert_str_eq(r.ratelimit_reset, "1999999999");
	ck_assert_ptr_null(r.etag);
	ck_assert_int_eq(r.pages, 1);
	ck_assert_int_eq(r.from_cache, 0);
	ck_assert_str_eq(r.errmsg, "");
	ck_assert_str_eq(afk__http_errmsg(H), "");
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 1);
	ck_assert_str_eq(log_str(log, 0, "method"), "GET");
	ck_assert_str_eq(log_str(log, 0, "path"), "/hello");
	ck_assert_str_eq(log_header(log, 0, "authorization"), "Bearer " TOKEN);
	ck_assert_str_eq(log_header(log, 0, "accept"), "application/json");
	assert_contains(log_header(log, 0, "user-agent"), "libafk/");
	ck_assert_str_eq(log_header(log, 0, "if-none-match"), "");
	afk__http_get_stats(H, &st);
	ck_assert_uint_eq(st.sent, 1);
	ck_assert_uint_eq(st.not_modified, 0);
	json_decref(log);
	afk__http_req_clear(&r);
	ck_assert_ptr_null(r.data);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_methods_and_bodies)
{
	static const char *const hdrs[] = {
		"Accept: application/vnd.github+json",
		"X-GitHub-Api-Version: 2022-11-28", NULL
	};
	afk__http_req r[3];
	char *u = url_of(&S, "/write");
	json_t *log;

	srv_script(&S, "{'routes': {'/write': {'status': 201, "
	           "'json': {'id': 7}}}}");
	H = http_default();
	memset(r, 0, sizeof(r));
	r[0].method = "POST";
	r[0].url = u;
	r[0].json = "{\"labels\":[\"x\"]}";
	r[0].headers = hdrs;
	r[1].method = "PATCH";
	r[1].url = u;
	r[1].json = "{\"state\":\"closed\"}";
	r[2].method = "DELETE";
	r[2].url = u;
	ck_assert_int_eq(afk__http_run(H, r, 3), AFK_OK);
	ck_assert_int_eq(r[0].status, 201);
	ck_assert_str_eq(r[0].data, "{\"id\": 7}");
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 3);
	/* Concurrent: the log's order is not the batch's. */
	{
		size_t i;
		int post = 0, patch = 0, del = 0;

		for (i = 0; i < 3; i++) {
			const char *m = log_str(log, i, "method");

			if (strcmp(m, "POST") == 0) {
				post++;
				ck_assert_str_eq(log_str(log, i, "body"),
				                 "{\"labels\":[\"x\"]}");
				ck_assert_str_eq(log_header(log, i, "content-type"),
				                 "application/json");
				ck_assert_str_eq(log_header(log, i, "accept"),
				                 "application/vnd.github+json");
				ck_assert_str_eq(log_header(log, i,
				                 "x-github-api-version"), "2022-11-28");
			} else if (strcmp(m, "PATCH") == 0) {
				patch++;
				ck_assert_str_eq(log_str(log, i, "body"),
				                 "{\"state\":\"closed\"}");
			} else if (strcmp(m, "DELETE") == 0) {
				del++;
				ck_assert_str_eq(log_str(log, i, "body"), "");
			}
		}
		ck_assert(post == 1 && patch == 1 && del == 1);
	}
	json_decref(log);
	afk__http_req_clear(&r[0]);
	afk__http_req_clear(&r[1]);
	afk__http_req_clear(&r[2]);
	afk__http_free(H);
	free(u);
}
END_TEST

/* Bad requests are refused before anything is sent. */
START_TEST(test_bad_requests_refused)
{
	static const char *const crlf[] = {"X-A: b\r\nX-Injected: 1", NULL};
	afk__http_req r[5];
	afk__http_stats st;
	char *u = url_of(&S, "/x");

	srv_script(&S, "{'default': {'body': 'no'}}");
	H = http_default();
	memset(r, 0, sizeof(r));
	r[0].url = u;
	r[0].json = "{}";                /* GET with a body */
	r[1].url = u;
	r[1].method = "POST";
	r[1].paginate = 1;               /* paginated POST */
	r[2].url = u;
	r[2].headers = crlf;             /* header injection */
	r[3].url = u;
	r[3].method = "TRACE";
	r[4].url = NULL;
	ck_assert_int_eq(afk__http_run(H, r, 5), AFK_EINVAL);
	assert_contains(r[0].errmsg, "a GET carries no body");
	assert_contains(r[1].errmsg, "only a GET can be paginated");
	assert_contains(r[2].errmsg, "not one \"Name: value\" line");
	assert_contains(r[3].errmsg, "unsupported method");
	assert_contains(r[4].errmsg, "no URL");
	ck_assert_int_eq(r[2].fail, AFK__HTTP_EURL);
	ck_assert_str_eq(afk__http_errmsg(H), r[0].errmsg);
	ck_assert_uint_eq(srv_count(&S), 0);
	afk__http_get_stats(H, &st);
	ck_assert_uint_eq(st.sent, 0);
	ck_assert_uint_eq(st.refused, 5);
	for (size_t i = 0; i < 5; i++)
		afk__http_req_clear(&r[i]);
	afk__http_free(H);
	free(u);
}
END_TEST

/* --- concurrency and connections ------------------------------------- */

START_TEST(test_batch_is_concurrent_and_capped)
{
	afk__http_req r[8];
	char *u[8], path[32];
	double t0, dt;
	size_t i;

	srv_script(&S, "{'default': {'delay': 0.2, 'json': []}}");
	H = http_default();            /* per_host 4 */
	for (i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "/repo/%zu", i);
		u[i] = url_of(&S, path);
		req_get(&r[i], u[i]);
	}
	t0 = now_s();
	ck_assert_int_eq(afk__http_run(H, r, 8), AFK_OK);
	dt = now_s() - t0;
	/* 8 requests of 200 ms, 4 at a time: about 2 x 200 ms. */
	ck_assert_msg(dt >= 0.38 && dt < 1.5, "took %.3f s", dt);
	ck_assert_int_eq(srv_stat(&S, "max_active"), 4);
	ck_assert_int_le(srv_stat(&S, "max_open"), 4);
	ck_assert_uint_eq(srv_count(&S), 8);
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(r[i].status, 200);
		afk__http_req_clear(&r[i]);
		free(u[i]);
	}
	afk__http_free(H);
}
END_TEST

START_TEST(test_per_host_from_the_options)
{
	afk__http_opts o;
	afk__http_req r[3];
	char *u = url_of(&S, "/slow");
	size_t i;

	srv_script(&S, "{'default': {'delay': 0.1, 'json': []}}");
	afk__http_opts_default(&o);
	o.per_host = 1;
	H = http_with(&o);
	for (i = 0; i < 3; i++)
		req_get(&r[i], u);
	ck_assert_int_eq(afk__http_run(H, r, 3), AFK_OK);
	ck_assert_int_eq(srv_stat(&S, "max_active"), 1);
	ck_assert_int_eq(srv_stat(&S, "connections"), 1);
	for (i = 0; i < 3; i++)
		afk__http_req_clear(&r[i]);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_connection_reused_across_calls)
{
	afk__http_req r;
	char *u = url_of(&S, "/a"), *v = url_of(&S, "/b");

	srv_script(&S, "{'default': {'json': [1]}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	afk__http_req_clear(&r);
	req_get(&r, v);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	afk__http_req_clear(&r);
	ck_assert_uint_eq(srv_count(&S), 2);
	ck_assert_int_eq(srv_stat(&S, "connections"), 1);
	afk__http_free(H);
	free(u);
	free(v);
}
END_TEST

/* A write is never sent twice behind the caller's back: when the server
 * reads it and hangs up without answering, libcurl would send it again
 * on a fresh connection had it gone out on a reused one (it was: the
 * GET before it left one open).  It arrives once, and the call fails
 * saying its outcome is unknown; GETs still share their connection. */
static const char *const write_methods[] = {"POST", "PATCH", "PUT",
                                            "DELETE"};

START_TEST(test_write_never_resent)
{
	const char *m = write_methods[_i];
	afk__http_req r;
	char *g = url_of(&S, "/g"), *w = url_of(&S, "/w");

	srv_script(&S, "{'routes': {'/g': {'json': [1]}, "
	           "'/w': {'hangup': true}}}");
	H = http_default();
	req_get(&r, g);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	afk__http_req_clear(&r);
	memset(&r, 0, sizeof(r));
	r.method = m;
	r.url = w;
	r.json = strcmp(m, "DELETE") != 0 ? "{\"n\":1}" : NULL;
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ENET);
	ck_assert_int_eq(r.outcome_unknown, 1);
	assert_contains(r.errmsg, m);
	assert_contains(r.errmsg, "the outcome is unknown");
	assert_contains(afk__http_errmsg(H), "the outcome is unknown");
	ck_assert_uint_eq(count_req(&S, m, "/w"), 1);
	afk__http_req_clear(&r);
	/* The GET's connection is still the one GETs use. */
	req_get(&r, g);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.outcome_unknown, 0);
	afk__http_req_clear(&r);
	ck_assert_uint_eq(count_req(&S, "GET", "/g"), 2);
	ck_assert_int_eq(srv_stat(&S, "connections"), 2);
	afk__http_free(H);
	free(g);
	free(w);
}
END_TEST

/* A GET that dies the same way is not a write: nothing is unknown. */
START_TEST(test_get_hangup_is_not_unknown)
{
	afk__http_req r;
	char *w = url_of(&S, "/w");

	srv_script(&S, "{'routes': {'/w': {'hangup': true}}}");
	H = http_default();
	req_get(&r, w);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.outcome_unknown, 0);
	assert_lacks(r.errmsg, "unknown");
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(w);
}
END_TEST

/* --- pagination ------------------------------------------------------ */

START_TEST(test_paginate_three_pages)
{
	afk__http_req r;
	char *u = url_of(&S, "/items?per_page=2");
	json_t *log;

	/* The Link header as GitHub writes it: several links, "next" not
	 * first, absolute URLs. */
	srv_script(&S, "{'routes': {"
	  "'/items?per_page=2': {'json': [1, 2], 'headers': [['Link', "
	  "'<http://127.0.0.1:{port}/items?per_page=2&page=3>; rel=\\'last\\', "
	  "<http://127.0.0.1:{port}/items?per_page=2&page=2>; rel=\\'next\\'']]},"
	  "'/items?per_page=2&page=2': {'json': [3, 4], 'headers': [['Link', "
	  "'</items?per_page=2&page=3>; rel=\\'next last\\'']]},"
	  "'/items?per_page=2&page=3': {'json': [{'n': 5}], 'headers': "
	  "[['Link', '<http://127.0.0.1:{port}/items?per_page=2>; "
	  "rel=\\'first\\'']]}}}");
	H = http_default();
	req_get(&r, u);
	r.paginate = 1;
	ck_assert_msg(run1(H, &r) == AFK_OK, "%s", r.errmsg);
	ck_assert_str_eq(r.data, "[1,2,3,4,{\"n\":5}]");
	ck_assert_int_eq(r.pages, 3);
	ck_assert_int_eq(r.truncated, 0);
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 3);
	ck_assert_str_eq(log_str(log, 1, "path"), "/items?per_page=2&page=2");
	ck_assert_str_eq(log_str(log, 2, "path"), "/items?per_page=2&page=3");
	/* The secret header goes to every page: they are one origin. */
	ck_assert_str_eq(log_header(log, 2, "authorization"), "Bearer " TOKEN);
	json_decref(log);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* An endless chain of pages, each pointing at the next. */
static const char *const endless =
	"{'routes': {"
	"'/p': {'json': [0], 'headers': [['Link', '</p1>; rel=next']]},"
	"'/p1': {'json': [1], 'headers': [['Link', '</p2>; rel=next']]},"
	"'/p2': {'json': [2], 'headers': [['Link', '</p3>; rel=next']]},"
	"'/p3': {'json': [3], 'headers': [['Link', '</p4>; rel=next']]}}}";

START_TEST(test_paginate_capped_at_max_pages)
{
	afk__http_opts o;
	afk__http_req r;
	char *u = url_of(&S, "/p");

	srv_script(&S, endless);
	afk__http_opts_default(&o);
	o.max_pages = 3;
	H = http_with(&o);
	req_get(&r, u);
	r.paginate = 1;
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_EPAGES);
	assert_contains(r.errmsg, "more than 3 pages (http.max_pages)");
	assert_contains(r.errmsg, "/p3");
	ck_assert_ptr_null(r.data);
	ck_assert_uint_eq(srv_count(&S), 3);

	/* partial_ok: the pages read, marked truncated. */
	r.partial_ok = 1;
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_str_eq(r.data, "[0,1,2]");
	ck_assert_int_eq(r.truncated, 1);
	ck_assert_int_eq(r.pages, 3);
	ck_assert_uint_eq(srv_count(&S), 6);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_paginate_never_leaves_the_origin)
{
	afk__http_req r;
	char *u = url_of(&S, "/p"), script[512];

	/* Another host (127.0.0.2 is loopback too: allowed by the scheme
	 * rule, refused by the origin rule). */
	srv_script(&S, "{'routes': {'/p': {'json': [0], 'headers': [['Link', "
	           "'<http://127.0.0.2:{port}/p2>; rel=next']]}}}");
	H = http_default();
	req_get(&r, u);
	r.paginate = 1;
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ELINK);
	assert_contains(r.errmsg, "http://127.0.0.2:");
	assert_contains(r.errmsg, "another origin");
	ck_assert_uint_eq(srv_count(&S), 1);

	/* Another port: a second server, which must see nothing. */
	srv_start(&S2);
	srv_script(&S2, "{'default': {'json': ['stolen']}}");
	snprintf(script, sizeof(script), "{'routes': {'/p': {'json': [0], "
	         "'headers': [['Link', '<http://127.0.0.1:%d/p2>; "
	         "rel=next']]}}}", S2.port);
	srv_script(&S, script);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ELINK);
	assert_contains(r.errmsg, "not followed");
	ck_assert_uint_eq(srv_count(&S2), 0);

	/* Another scheme. */
	srv_script(&S, "{'routes': {'/p': {'json': [0], 'headers': [['Link', "
	           "'<https://127.0.0.1:{port}/p2>; rel=next']]}}}");
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ELINK);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_paginate_malformed_pages)
{
	afk__http_req r;
	char *u = url_of(&S, "/m?access_token=" QTOKEN);

	srv_script(&S, "{'routes': {"
	  "'/m': {'json': [1], 'headers': [['Link', "
	  "'</m2?access_token=" QTOKEN "&page=2>; rel=next']]},"
	  "'/m2': {'body': '[2, 3', 'headers': [['Content-Type', "
	  "'application/json']]}}}");
	H = http_default();
	req_get(&r, u);
	r.paginate = 1;
	ck_assert_int_eq(run1(H, &r), AFK_EPARSE);
	ck_assert_int_eq(r.fail, AFK__HTTP_EPARSE);
	assert_contains(r.errmsg, "page 2 is not valid JSON");
	/* The URL is named, its token is not. */
	assert_contains(r.errmsg, "/m2?access_token=[REDACTED]&page=2");
	assert_no_token(r.errmsg);

	srv_script(&S, "{'routes': {'/m': {'json': {'message': 'hi'}}}}");
	ck_assert_int_eq(run1(H, &r), AFK_EPARSE);
	assert_contains(r.errmsg, "page 1 is not a JSON array");
	assert_contains(r.errmsg, "/m?access_token=[REDACTED]");
	assert_no_token(r.errmsg);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* --- conditional requests -------------------------------------------- */

START_TEST(test_etag_304_from_the_cache)
{
	afk__http_req r;
	afk__http_stats st;
	char *u = url_of(&S, "/e");
	json_t *log;

	srv_script(&S, "{'routes': {'/e': {'etag': '`v1`', "
	           "'json': {'n': 1}}}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.from_cache, 0);
	ck_assert_str_eq(r.etag, "\"v1\"");
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 304);
	ck_assert_int_eq(r.from_cache, 1);
	ck_assert_str_eq(r.data, "{\"n\": 1}");
	afk__http_get_stats(H, &st);
	ck_assert_uint_eq(st.sent, 2);
	ck_assert_uint_eq(st.not_modified, 1);
	log = srv_log(&S);
	ck_assert_str_eq(log_header(log, 0, "if-none-match"), "");
	ck_assert_str_eq(log_header(log, 1, "if-none-match"), "\"v1\"");
	json_decref(log);

	/* A changed resource: the new body, and the cache follows. */
	srv_script(&S, "{'routes': {'/e': {'etag': '`v2`', "
	           "'json': {'n': 2}}}}");
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.data, "{\"n\": 2}");
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.from_cache, 1);
	ck_assert_str_eq(r.data, "{\"n\": 2}");
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_etag_pages_from_the_cache)
{
	afk__http_req r;
	char *u = url_of(&S, "/l");

	srv_script(&S, "{'routes': {"
	  "'/l': {'etag': '`a`', 'json': [1], 'headers': [['Link', "
	  "'</l2>; rel=next']]},"
	  "'/l2': {'etag': '`b`', 'json': [2]}}}");
	H = http_default();
	req_get(&r, u);
	r.paginate = 1;
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.from_cache, 0);
	/* The 304 carries no Link: the cached one leads to page 2. */
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_str_eq(r.data, "[1,2]");
	ck_assert_int_eq(r.pages, 2);
	ck_assert_int_eq(r.from_cache, 1);
	ck_assert_uint_eq(srv_count(&S), 4);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_etag_never_for_writes)
{
	afk__http_req r;
	afk__http_opts o;
	char *u = url_of(&S, "/e"), cache[128];
	json_t *log;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	srv_script(&S, "{'routes': {'/e': {'etag': '`v1`', 'json': 1}}}");
	afk__http_opts_default(&o);
	o.etag_cache = cache;
	H = http_with(&o);
	memset(&r, 0, sizeof(r));
	r.url = u;
	r.method = "POST";
	r.json = "{}";
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 200);
	r.method = "PATCH";
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	log = srv_log(&S);
	ck_assert_str_eq(log_header(log, 1, "if-none-match"), "");
	ck_assert_str_eq(log_header(log, 2, "if-none-match"), "");
	json_decref(log);
	ck_assert_int_eq(access(cache, F_OK), -1);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* One tick in a process of its own, as a CronJob would run it. */
static void tick_in_child(const char *cache, const char *url)
{
	afk__http_opts o;
	afk__http_req r;
	afk__http *h = NULL;
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		afk__http_opts_default(&o);
		o.etag_cache = cache;
		if (afk__http_new(&h, &o, NULL) != AFK_OK)
			_exit(2);
		req_get(&r, url);
		if (afk__http_run(h, &r, 1) != AFK_OK || r.status != 200 ||
		    r.from_cache)
			_exit(3);
		afk__http_req_clear(&r);
		afk__http_flush(h);
		afk__http_free(h);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	              "the first process failed: %d", status);
}

START_TEST(test_etag_cache_persists_across_processes)
{
	afk__http_opts o;
	afk__http_req r;
	afk__http_stats st;
	char *u = url_of(&S, "/e?state=open"), cache[128], *text;
	struct stat sb;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	srv_script(&S, "{'routes': {'/e': {'etag': 'W/`abc`', "
	           "'json': [{'number': 1}]}}}");
	tick_in_child(cache, u);
	ck_assert_int_eq(stat(cache, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	text = read_file(cache);
	assert_contains(text, "W/\\\"abc\\\"");
	assert_no_token(text);
	free(text);

	afk__http_opts_default(&o);
	o.etag_cache = cache;
	H = http_with(&o);
	ck_assert_str_eq(afk__http_warning(H), "");
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 304);
	ck_assert_int_eq(r.from_cache, 1);
	ck_assert_str_eq(r.data, "[{\"number\": 1}]");
	afk__http_get_stats(H, &st);
	ck_assert_uint_eq(st.not_modified, 1);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

static const char *const corrupt_caches[] = {
	"{\"version\": 1, \"entries\": {\"x\": {\"etag\": 1}}",  /* cut */
	"not json at all",
	"[]",
	"{\"version\": 99, \"entries\": {}}",
	"{\"version\": 1, \"entries\": {\"k\": {\"etag\": 5, \"body\": \"\", "
	"\"seq\": 1}}}",
	"{\"version\": 1, \"entries\": {\"memo\\nk\": {\"memo\": 5, "
	"\"version\": \"v\", \"seq\": 1}}}",
};

START_TEST(test_etag_cache_corrupt_is_ignored)
{
	afk__http_opts o;
	afk__http_req r;
	char *u = url_of(&S, "/e"), cache[128], *text;
	json_t *doc;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	write_file(cache, corrupt_caches[_i]);
	srv_script(&S, "{'routes': {'/e': {'etag': '`v1`', 'json': 1}}}");
	afk__http_opts_default(&o);
	o.etag_cache = cache;
	H = http_with(&o);
	assert_contains(afk__http_warning(H), "ETag cache");
	assert_contains(afk__http_warning(H), "ignored");
	assert_contains(afk__http_warning(H), cache);
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 200);
	afk__http_req_clear(&r);
	afk__http_flush(H);
	afk__http_free(H);
	/* ... and replaced by a good one. */
	text = read_file(cache);
	doc = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "version")),
	                 1);
	json_decref(doc);
	free(text);
	free(u);
}
END_TEST

/* Memos: kept for their version only, persisted with the cache, read
 * back by another handle (another process's tick). */
START_TEST(test_memo_versions_and_persists)
{
	afk__http_opts o;
	char cache[128], *text;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	afk__http_opts_default(&o);
	o.etag_cache = cache;
	H = http_with(&o);
	ck_assert_ptr_null(afk__http_memo_get(H, "labeller of #1", "v1"));
	afk__http_memo_put(H, "labeller of #1", "v1", "alice");
	ck_assert_str_eq(afk__http_memo_get(H, "labeller of #1", "v1"),
	                 "alice");
	ck_assert_ptr_null(afk__http_memo_get(H, "labeller of #1", "v2"));
	ck_assert_ptr_null(afk__http_memo_get(H, "labeller of #2", "v1"));
	afk__http_flush(H);
	ck_assert_str_eq(afk__http_warning(H), "");
	afk__http_free(H);

	text = read_file(cache);
	assert_contains(text, "alice");
	free(text);

	H = http_with(&o);
	ck_assert_str_eq(afk__http_warning(H), "");
	ck_assert_str_eq(afk__http_memo_get(H, "labeller of #1", "v1"),
	                 "alice");
	/* A new version replaces the memo. */
	afk__http_memo_put(H, "labeller of #1", "v2", "mallory");
	ck_assert_ptr_null(afk__http_memo_get(H, "labeller of #1", "v1"));
	ck_assert_str_eq(afk__http_memo_get(H, "labeller of #1", "v2"),
	                 "mallory");
	afk__http_free(H);
	/* Not flushed: the file still says alice for v1. */
	H = http_with(&o);
	ck_assert_str_eq(afk__http_memo_get(H, "labeller of #1", "v1"),
	                 "alice");
	afk__http_free(H);
}
END_TEST

/* A cache file over the entry bound loses its least recently used
 * entries, and only those. */
START_TEST(test_cache_bound_drops_the_oldest)
{
	enum { MAX = 65536, OVER = 10 };
	afk__http_opts o;
	char cache[128], key[64];
	json_t *doc, *entries, *got;
	long i;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	entries = json_object();
	for (i = 0; i < MAX + OVER; i++) {
		/* seq order is the reverse of the key order */
		snprintf(key, sizeof(key), "https://x.example/%ld", i);
		json_object_set_new(entries, key, json_pack("{s:s, s:s, s:I}",
		                    "etag", "e", "body", "[]", "seq",
		                    (json_int_t)(MAX + OVER - i)));
	}
	doc = json_pack("{s:i, s:o}", "version", 1, "entries", entries);
	ck_assert_int_eq(json_dump_file(doc, cache, JSON_COMPACT), 0);
	json_decref(doc);

	afk__http_opts_default(&o);
	o.etag_cache = cache;
	H = http_with(&o);
	ck_assert_str_eq(afk__http_warning(H), "");
	afk__http_flush(H);
	afk__http_free(H);
	doc = json_load_file(cache, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	got = json_object_get(doc, "entries");
	ck_assert_uint_eq(json_object_size(got), MAX);
	/* The highest keys had the lowest seq. */
	for (i = 0; i < MAX + OVER; i++) {
		snprintf(key, sizeof(key), "https://x.example/%ld", i);
		ck_assert_int_eq(json_object_get(got, key) != NULL,
		                 i < MAX);
	}
	json_decref(doc);
}
END_TEST

START_TEST(test_etag_cache_unwritable_is_a_warning)
{
	afk__http_opts o;
	afk__http_req r;
	char *u = url_of(&S, "/e");

	srv_script(&S, "{'routes': {'/e': {'etag': '`v1`', 'json': 1}}}");
	afk__http_opts_default(&o);
	o.etag_cache = "/nonexistent-dir-of-afk/cache.json";
	H = http_with(&o);
	ck_assert_str_eq(afk__http_warning(H), "");
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_str_eq(afk__http_warning(H), "");
	afk__http_flush(H);
	assert_contains(afk__http_warning(H), "not written");
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* --- the cache file: when and how it is written ----------------------- */

static afk__http *http_cached(const char *cache)
{
	afk__http_opts o;

	afk__http_opts_default(&o);
	o.etag_cache = cache;
	return http_with(&o);
}

/* The memos of the cache file at path whose key starts with prefix. */
static size_t memos_in(const char *path, const char *prefix)
{
	json_t *doc = json_load_file(path, 0, NULL), *e;
	const char *key;
	size_t n = 0, k = strlen("memo\n");

	ck_assert_msg(doc != NULL, "%s is not JSON", path);
	json_object_foreach(json_object_get(doc, "entries"), key, e)
		if (strncmp(key, "memo\n", k) == 0 &&
		    strncmp(key + k, prefix, strlen(prefix)) == 0)
			n++;
	json_decref(doc);
	return n;
}

/* A batch writes nothing; a flush writes once, 0600; a flush with
 * nothing new (an idle tick: all 304s) leaves the file alone. */
START_TEST(test_cache_written_once_per_flush)
{
	afk__http_req r;
	char *u = url_of(&S, "/e"), cache[128];
	struct stat a, b;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	srv_script(&S, "{'routes': {'/e': {'etag': '`v1`', 'json': [1]}}}");
	H = http_cached(cache);
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 200);
	afk__http_req_clear(&r);
	ck_assert_int_eq(stat(cache, &a), -1);       /* not per batch */
	afk__http_flush(H);
	ck_assert_str_eq(afk__http_warning(H), "");
	ck_assert_int_eq(stat(cache, &a), 0);
	ck_assert_int_eq(a.st_mode & 0777, 0600);
	afk__http_free(H);

	msleep(20);
	H = http_cached(cache);
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 304);
	afk__http_req_clear(&r);
	afk__http_flush(H);
	ck_assert_int_eq(stat(cache, &b), 0);
	ck_assert_uint_eq(b.st_ino, a.st_ino);
	ck_assert_int_eq(b.st_mtim.tv_sec, a.st_mtim.tv_sec);
	ck_assert_int_eq(b.st_mtim.tv_nsec, a.st_mtim.tv_nsec);
	afk__http_free(H);
	free(u);
}
END_TEST

/* etag_cache_read_only (afk status): the file is read - its ETags are
 * sent - but neither it nor its lock is ever written, even when the
 * cache changed. */
START_TEST(test_cache_read_only_writes_nothing)
{
	afk__http_opts o;
	afk__http_req r;
	char *u = url_of(&S, "/e"), *v = url_of(&S, "/f"), cache[128];
	char lock[160];
	struct stat a, b;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	snprintf(lock, sizeof(lock), "%s.lock", cache);
	srv_script(&S, "{'routes': {'/e': {'etag': '`v1`', 'json': [1]}, "
	           "'/f': {'etag': '`v2`', 'json': [2]}}}");
	afk__http_opts_default(&o);
	o.etag_cache = cache;
	o.etag_cache_read_only = 1;
	H = http_with(&o);
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 200);
	afk__http_req_clear(&r);
	afk__http_flush(H);
	afk__http_free(H);
	ck_assert_int_eq(stat(cache, &a), -1);       /* never made */
	ck_assert_int_eq(stat(lock, &a), -1);

	H = http_cached(cache);                      /* a writer saves one */
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	afk__http_req_clear(&r);
	afk__http_flush(H);
	afk__http_free(H);
	ck_assert_int_eq(stat(cache, &a), 0);

	msleep(20);
	H = http_with(&o);                           /* read-only again */
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(r.status, 304);             /* its ETag was read */
	afk__http_req_clear(&r);
	req_get(&r, v);                              /* a new entry */
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	afk__http_req_clear(&r);
	afk__http_flush(H);
	afk__http_free(H);
	ck_assert_int_eq(stat(cache, &b), 0);
	ck_assert_uint_eq(b.st_ino, a.st_ino);
	ck_assert_int_eq(b.st_mtim.tv_sec, a.st_mtim.tv_sec);
	ck_assert_int_eq(b.st_mtim.tv_nsec, a.st_mtim.tv_nsec);
	free(u);
	free(v);
}
END_TEST

/* Two handles on one file (two ticks, or a tracker and a CI of one
 * tick) each keep what the other saved meanwhile. */
START_TEST(test_cache_two_writers_merge)
{
	afk__http *a, *b;
	char cache[128], key[32];
	int i;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	a = http_cached(cache);
	b = http_cached(cache);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "a%d", i);
		afk__http_memo_put(a, key, "v", "x");
		snprintf(key, sizeof(key), "b%d", i);
		afk__http_memo_put(b, key, "v", "y");
		if (i % 10 == 9) {
			afk__http_flush(a);
			afk__http_flush(b);
		}
	}
	ck_assert_str_eq(afk__http_warning(a), "");
	ck_assert_str_eq(afk__http_warning(b), "");
	ck_assert_uint_eq(memos_in(cache, "a"), 100);
	ck_assert_uint_eq(memos_in(cache, "b"), 100);
	/* And a later reader sees both. */
	afk__http_free(a);
	afk__http_free(b);
	H = http_cached(cache);
	ck_assert_str_eq(afk__http_memo_get(H, "a7", "v"), "x");
	ck_assert_str_eq(afk__http_memo_get(H, "b93", "v"), "y");
	afk__http_free(H);
}
END_TEST

/* The same from two processes writing at the same time. */
START_TEST(test_cache_concurrent_processes_keep_all)
{
	char cache[128], key[32];
	int go[2], status, w, i, round;
	pid_t pid[2];
	char c = 'g';

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	ck_assert_int_eq(pipe(go), 0);
	for (w = 0; w < 2; w++) {
		pid[w] = fork();
		ck_assert_int_ge(pid[w], 0);
		if (pid[w] == 0) {
			afk__http_opts o;
			afk__http *h = NULL;

			close(go[1]);
			if (read(go[0], &c, 1) != 0)
				_exit(4);
			afk__http_opts_default(&o);
			o.etag_cache = cache;
			for (round = 0; round < 10; round++) {
				/* A tick of its own: read, add ten, save. */
				if (afk__http_new(&h, &o, NULL) != AFK_OK)
					_exit(2);
				for (i = 0; i < 10; i++) {
					snprintf(key, sizeof(key), "%c%d",
					         w ? 'b' : 'a', round * 10 + i);
					afk__http_memo_put(h, key, "v", "x");
				}
				afk__http_flush(h);
				if (afk__http_warning(h)[0] != '\0')
					_exit(3);
				afk__http_free(h);
			}
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);              /* both start now */
	for (w = 0; w < 2; w++) {
		ck_assert_int_eq(waitpid(pid[w], &status, 0), pid[w]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		              "writer %d: status %d", w, status);
	}
	ck_assert_uint_eq(memos_in(cache, "a"), 100);
	ck_assert_uint_eq(memos_in(cache, "b"), 100);
	(void)c;
}
END_TEST

/* A killed writer's temporary is removed by the next save; files that
 * only look alike are not. */
START_TEST(test_cache_stale_temporary_removed)
{
	char cache[128], stale[160], other[3][160];
	struct stat st;
	int i;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	snprintf(stale, sizeof(stale), "%s.tmp-Ab3xYz", cache);
	snprintf(other[0], sizeof(other[0]), "%s.tmp-Ab3xY", cache);
	snprintf(other[1], sizeof(other[1]), "%s.backup", cache);
	snprintf(other[2], sizeof(other[2]), "%s/other.json.tmp-Ab3xYz", S.dir);
	write_file(stale, "{\"version\": 1, \"entries\": {");
	for (i = 0; i < 3; i++)
		write_file(other[i], "keep");
	H = http_cached(cache);
	afk__http_memo_put(H, "k", "v", "x");
	afk__http_flush(H);
	ck_assert_str_eq(afk__http_warning(H), "");
	ck_assert_int_eq(stat(stale, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(stat(other[i], &st), 0);
	ck_assert_int_eq(stat(cache, &st), 0);
	afk__http_free(H);
}
END_TEST

/* Another writer holding the lock past the wait: not written, a warning,
 * and the change kept for the next flush. */
START_TEST(test_cache_lock_held_waits_then_warns)
{
	char cache[128], lock[160];
	int fd;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	snprintf(lock, sizeof(lock), "%s.lock", cache);
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	H = http_cached(cache);
	afk__http_memo_put(H, "k", "v", "x");
	afk__http_flush(H);
	assert_contains(afk__http_warning(H), "not written");
	assert_contains(afk__http_warning(H), "held by another writer");
	ck_assert_int_eq(access(cache, F_OK), -1);
	close(fd);
	afk__http_flush(H);
	ck_assert_str_eq(afk__http_warning(H), "");
	ck_assert_uint_eq(memos_in(cache, "k"), 1);
	afk__http_free(H);
}
END_TEST

/* A seq past the range is a corrupt file, not an overflow (UBSan); one
 * at the top of the range is numbered again, in order. */
START_TEST(test_cache_seq_out_of_range)
{
	char cache[128], text[512];
	json_t *doc, *e;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	snprintf(text, sizeof(text), "{\"version\": 1, \"entries\": "
	         "{\"memo\\nk\": {\"memo\": \"x\", \"version\": \"v\", "
	         "\"seq\": %lld}}}", LLONG_MAX);
	write_file(cache, text);
	H = http_cached(cache);
	assert_contains(afk__http_warning(H), "seq is out of range");
	ck_assert_ptr_null(afk__http_memo_get(H, "k", "v"));
	afk__http_memo_put(H, "n", "v", "y");
	afk__http_flush(H);
	afk__http_free(H);
	ck_assert_uint_eq(memos_in(cache, "k"), 0);
	ck_assert_uint_eq(memos_in(cache, "n"), 1);

	write_file(cache, "{\"version\": 1, \"entries\": {"
	           "\"memo\\nold\": {\"memo\": \"x\", \"version\": \"v\", "
	           "\"seq\": 9007199254740990}, "
	           "\"memo\\ntop\": {\"memo\": \"x\", \"version\": \"v\", "
	           "\"seq\": 9007199254740991}}}");
	H = http_cached(cache);
	ck_assert_str_eq(afk__http_warning(H), "");
	afk__http_memo_put(H, "new", "v", "z");
	afk__http_flush(H);
	afk__http_free(H);
	doc = json_load_file(cache, 0, NULL);
	ck_assert_ptr_nonnull(doc);
	e = json_object_get(doc, "entries");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e,
	                 "memo\nold"), "seq")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e,
	                 "memo\ntop"), "seq")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e,
	                 "memo\nnew"), "seq")), 3);
	json_decref(doc);
}
END_TEST

/* A FIFO (or a directory) at the path would hang open() or be replaced
 * by rename(): refused when the handle is made, never read or written -
 * and one that appears later is left alone. */
START_TEST(test_cache_not_a_regular_file)
{
	afk__http_opts o;
	afk__http *h = NULL;
	char cache[128], err[AFK__ERRMSG_SIZE] = "";
	struct stat st;

	snprintf(cache, sizeof(cache), "%s/fifo.json", S.dir);
	ck_assert_int_eq(mkfifo(cache, 0600), 0);
	afk__http_opts_default(&o);
	o.etag_cache = cache;
	alarm(10);                 /* a hang fails, it does not stall */
	ck_assert_int_eq(afk__http_new(&h, &o, err), AFK_ECONFIG);
	ck_assert_ptr_null(h);
	/* the key is the caller's to name (afk__setup_http()) */
	assert_contains(err, cache);
	assert_contains(err, "a FIFO");
	o.etag_cache = S.dir;
	ck_assert_int_eq(afk__http_new(&h, &o, err), AFK_ECONFIG);
	assert_contains(err, "a directory");

	snprintf(cache, sizeof(cache), "%s/later.json", S.dir);
	H = http_cached(cache);
	ck_assert_int_eq(mkfifo(cache, 0600), 0);
	afk__http_memo_put(H, "k", "v", "x");
	afk__http_flush(H);
	assert_contains(afk__http_warning(H), "not written");
	assert_contains(afk__http_warning(H), "a FIFO");
	ck_assert_int_eq(stat(cache, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	alarm(0);
	afk__http_free(H);
}
END_TEST

static int no_dispatch(afk_call *call, const char *repo, long number,
                       const char *prompt, void *userdata)
{
	(void)call;
	(void)repo;
	(void)number;
	(void)prompt;
	(void)userdata;
	return AFK_ECALLBACK;
}

/* The end of a poll tick saves the built-in tracker's cache (the
 * tracker lives on, as in a long-running host): the next process's
 * tick gets 304s from it. */
START_TEST(test_tick_end_saves_the_cache)
{
	afk_config *cfg = NULL;
	afk_tracker *t = NULL;
	afk_agent *a = NULL;
	afk_poller *p = NULL;
	afk_result *res = NULL;
	char text[1024], cache[128];
	struct stat st;
	json_t *log;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	srv_script(&S, "{'default': {'etag': '`v1`', 'json': []}}");
	ck_assert_int_eq(setenv("AFK_TEST_HTTP_TOKEN", TOKEN, 1), 0);
	snprintf(text, sizeof(text), "{\"tracker\": {\"kind\": \"github\", "
	         "\"api_url\": \"%s\", \"token_env\": \"AFK_TEST_HTTP_TOKEN\"}, "
	         "\"http\": {\"etag_cache\": \"%s\"}, \"kill_switch\": false, "
	         "\"allowlist\": [\"acme/api\"]}", S.base, cache);
	ck_assert_int_eq(afk_config_new(&cfg), AFK_OK);
	ck_assert_msg(afk_config_load_string(cfg, text) == AFK_OK, "%s",
	              afk_config_errmsg(cfg));
	ck_assert_int_eq(afk_tracker_new(&t), AFK_OK);
	ck_assert_msg(afk_tracker_set_builtin(t, cfg) == AFK_OK, "%s",
	              afk_tracker_errmsg(t));
	ck_assert_int_eq(afk_agent_new(&a), AFK_OK);
	ck_assert_int_eq(afk_agent_set_dispatch(a, no_dispatch), AFK_OK);
	ck_assert_int_eq(afk_poller_new(&p, t, a), AFK_OK);
	ck_assert_int_eq(stat(cache, &st), -1);
	ck_assert_msg(afk_poller_run_once(p, cfg, &res) == AFK_OK, "%s",
	              afk_poller_errmsg(p));
	afk_result_free(res);
	ck_assert_int_eq(count_req(&S, "GET", "/repos/acme/api/issues"), 1);
	ck_assert_int_eq(stat(cache, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	afk_poller_free(p);
	afk_tracker_free(t);

	/* A new tracker: only the file can make its read a 304. */
	ck_assert_int_eq(afk_tracker_new(&t), AFK_OK);
	ck_assert_int_eq(afk_tracker_set_builtin(t, cfg), AFK_OK);
	ck_assert_int_eq(afk_poller_new(&p, t, a), AFK_OK);
	ck_assert_int_eq(afk_poller_run_once(p, cfg, &res), AFK_OK);
	afk_result_free(res);
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 2);
	ck_assert_str_eq(log_header(log, 1, "if-none-match"), "\"v1\"");
	json_decref(log);
	afk_poller_free(p);
	afk_tracker_free(t);
	afk_agent_free(a);
	afk_config_free(cfg);
}
END_TEST

/* A host that puts its own userdata on a built-in tracker takes its
 * ticks over: the built-in's tick_end, which would take the host's
 * userdata for its own, is not called. */
static int host_list(afk_call *call, const char *const *repos,
                     size_t nrepos, void *userdata)
{
	(void)call;
	(void)repos;
	(void)nrepos;
	ck_assert_int_eq(*(int *)userdata, 4242);
	return AFK_OK;
}

START_TEST(test_tick_end_forgets_a_replaced_userdata)
{
	afk_config *cfg = NULL;
	afk_tracker *t = NULL;
	afk_agent *a = NULL;
	afk_poller *p = NULL;
	afk_result *res = NULL;
	static int magic = 4242;
	char text[512];

	ck_assert_int_eq(setenv("AFK_TEST_HTTP_TOKEN", TOKEN, 1), 0);
	snprintf(text, sizeof(text), "{\"tracker\": {\"kind\": \"github\", "
	         "\"api_url\": \"%s\", \"token_env\": \"AFK_TEST_HTTP_TOKEN\"}, "
	         "\"kill_switch\": false, \"allowlist\": [\"acme/api\"]}",
	         S.base);
	ck_assert_int_eq(afk_config_new(&cfg), AFK_OK);
	ck_assert_int_eq(afk_config_load_string(cfg, text), AFK_OK);
	ck_assert_int_eq(afk_tracker_new(&t), AFK_OK);
	ck_assert_int_eq(afk_tracker_set_builtin(t, cfg), AFK_OK);
	ck_assert_int_eq(afk_tracker_set_userdata(t, &magic, NULL), AFK_OK);
	ck_assert_int_eq(afk_tracker_set_list_ready(t, host_list), AFK_OK);
	ck_assert_int_eq(afk_agent_new(&a), AFK_OK);
	ck_assert_int_eq(afk_agent_set_dispatch(a, no_dispatch), AFK_OK);
	ck_assert_int_eq(afk_poller_new(&p, t, a), AFK_OK);
	ck_assert_int_eq(afk_poller_run_once(p, cfg, &res), AFK_OK);
	afk_result_free(res);
	ck_assert_int_eq(magic, 4242);
	afk_poller_free(p);
	afk_tracker_free(t);
	afk_agent_free(a);
	afk_config_free(cfg);
}
END_TEST

/* --- rate limits ----------------------------------------------------- */

START_TEST(test_429_retry_after_blocks_the_host)
{
	afk__http_req r;
	afk__http_stats st;
	char *u = url_of(&S, "/r");
	long long t0 = (long long)time(NULL);

	srv_script(&S, "{'routes': {'/r': {'status': 429, 'headers': "
	           "[['Retry-After', '120']], 'json': {'message': 'slow down'}}}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ERATELIMIT);
	ck_assert_int_eq(r.status, 429);
	assert_contains(r.errmsg, "rate limited by 127.0.0.1 until ");
	assert_contains(r.errmsg, "retry after 120 s");
	assert_contains(r.errmsg, "slow down");
	ck_assert(r.retry_at >= t0 + 120 && r.retry_at <= t0 + 122);

	/* The next call in the tick fails at once, sending nothing. */
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ERATELIMIT);
	assert_contains(r.errmsg, "not sent: rate limited by 127.0.0.1");
	assert_contains(r.errmsg, "retry after 1");
	ck_assert_uint_eq(srv_count(&S), 1);
	afk__http_get_stats(H, &st);
	ck_assert_uint_eq(st.sent, 1);
	ck_assert_uint_eq(st.refused, 1);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_403_remaining_zero_waits_for_reset)
{
	afk__http_req r;
	char *u = url_of(&S, "/r"), script[512], when[32];
	time_t reset = time(NULL) + 300;
	struct tm tm;

	snprintf(script, sizeof(script), "{'routes': {'/r': {'status': 403, "
	         "'headers': [['X-RateLimit-Remaining', '0'], "
	         "['X-RateLimit-Reset', '%lld']], 'json': {'message': "
	         "'API rate limit exceeded'}}}}", (long long)reset);
	srv_script(&S, script);
	gmtime_r(&reset, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ERATELIMIT);
	assert_contains(r.errmsg, when);
	assert_contains(r.errmsg, "; retry after ");
	ck_assert_int_eq(r.retry_at, (long long)reset);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	assert_contains(r.errmsg, "not sent");
	assert_contains(r.errmsg, when);
	ck_assert_uint_eq(srv_count(&S), 1);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_secondary_limit_backs_off)
{
	afk__http_req r;
	char *u = url_of(&S, "/r");

	srv_script(&S, "{'routes': {'/r': {'status': 403, 'json': "
	           "{'message': 'You have exceeded a secondary rate limit.'}}}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ERATELIMIT);
	assert_contains(r.errmsg, "retry after 60 s");
	afk__http_req_clear(&r);
	afk__http_free(H);

	/* A 429 without any hint backs off too. */
	srv_script(&S, "{'routes': {'/r': {'status': 429, 'body': ''}}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ERATELIMIT);
	assert_contains(r.errmsg, "retry after 60 s");
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* A 403 that is a permission problem is a plain error; the host stays
 * open. */
START_TEST(test_403_forbidden_is_not_a_rate_limit)
{
	afk__http_req r;
	char *u = url_of(&S, "/r");

	srv_script(&S, "{'routes': {'/r': {'status': 403, 'headers': "
	           "[['X-RateLimit-Remaining', '4000']], 'json': "
	           "{'message': 'Resource not accessible by integration'}}}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ESTATUS);
	assert_contains(r.errmsg, "HTTP 403 Forbidden");
	assert_contains(r.errmsg, "Resource not accessible by integration");
	assert_contains(r.data, "Resource not accessible");
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ESTATUS);
	ck_assert_uint_eq(srv_count(&S), 2);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_rate_limit_stops_the_batch)
{
	afk__http_opts o;
	afk__http_req r[4];
	char *u = url_of(&S, "/r");
	size_t i;

	srv_script(&S, "{'routes': {'/r': {'status': 429, 'headers': "
	           "[['Retry-After', '30']], 'body': ''}}}");
	afk__http_opts_default(&o);
	o.per_host = 1;
	H = http_with(&o);
	for (i = 0; i < 4; i++)
		req_get(&r[i], u);
	ck_assert_int_eq(afk__http_run(H, r, 4), AFK_EIO);
	ck_assert_uint_eq(srv_count(&S), 1);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(r[i].fail, AFK__HTTP_ERATELIMIT);
		if (i > 0)
			assert_contains(r[i].errmsg, "not sent");
		afk__http_req_clear(&r[i]);
	}
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_reserve_stops_before_spending_it)
{
	afk__http_opts o;
	afk__http_req r[3];
	char *u = url_of(&S, "/r"), script[512];
	long long reset = (long long)time(NULL) + 600;
	size_t i;

	snprintf(script, sizeof(script), "{'routes': {'/r': {'json': [], "
	         "'headers': [['X-RateLimit-Remaining', '50'], "
	         "['X-RateLimit-Reset', '%lld']]}}}", reset);
	srv_script(&S, script);
	afk__http_opts_default(&o);       /* rate_reserve 50 */
	o.per_host = 1;
	H = http_with(&o);
	for (i = 0; i < 3; i++)
		req_get(&r[i], u);
	ck_assert_int_eq(afk__http_run(H, r, 3), AFK_EIO);
	/* The response that said so is used; the rest are not sent. */
	ck_assert_int_eq(r[0].rc, AFK_OK);
	ck_assert_str_eq(r[0].data, "[]");
	ck_assert_int_eq(r[1].fail, AFK__HTTP_ERESERVE);
	assert_contains(r[1].errmsg, "rate-limit reserve reached");
	assert_contains(r[1].errmsg, "50 requests left");
	ck_assert_int_eq(r[1].retry_at, reset);
	ck_assert_int_eq(r[2].fail, AFK__HTTP_ERESERVE);
	ck_assert_uint_eq(srv_count(&S), 1);
	ck_assert_int_eq(afk__http_run(H, r, 1), AFK_EIO);
	ck_assert_int_eq(r[0].fail, AFK__HTTP_ERESERVE);
	ck_assert_uint_eq(srv_count(&S), 1);
	for (i = 0; i < 3; i++)
		afk__http_req_clear(&r[i]);
	afk__http_free(H);

	/* Above the reserve nothing stops. */
	snprintf(script, sizeof(script), "{'routes': {'/r': {'json': [], "
	         "'headers': [['X-RateLimit-Remaining', '51']]}}}");
	srv_script(&S, script);
	H = http_with(&o);
	for (i = 0; i < 3; i++)
		req_get(&r[i], u);
	ck_assert_int_eq(afk__http_run(H, r, 3), AFK_OK);
	for (i = 0; i < 3; i++)
		afk__http_req_clear(&r[i]);
	afk__http_free(H);
	free(u);
}
END_TEST

/* --- server errors --------------------------------------------------- */

START_TEST(test_5xx_retried_once_for_a_get)
{
	afk__http_req r;
	char *u = url_of(&S, "/f");
	double t0;

	srv_script(&S, "{'routes': {'/f': [{'status': 500, 'body': 'oops'}, "
	           "{'json': ['ok']}]}}");
	H = http_default();
	req_get(&r, u);
	t0 = now_s();
	ck_assert_msg(run1(H, &r) == AFK_OK, "%s", r.errmsg);
	ck_assert_msg(now_s() - t0 >= 0.25, "no back-off before the retry");
	ck_assert_str_eq(r.data, "[\"ok\"]");
	ck_assert_uint_eq(srv_count(&S), 2);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_5xx_twice_is_an_error)
{
	afk__http_req r;
	char *u = url_of(&S, "/f");

	srv_script(&S, "{'routes': {'/f': [{'status': 500, 'body': 'oops'}, "
	           "{'status': 502, 'json': {'message': 'bad gateway'}}]}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ESTATUS);
	ck_assert_int_eq(r.status, 502);
	assert_contains(r.errmsg, "GET http://127.0.0.1:");
	assert_contains(r.errmsg, "/f: HTTP 502 Bad Gateway (also on the "
	                "retry): {\"message\": \"bad gateway\"}");
	ck_assert_uint_eq(srv_count(&S), 2);

	/* A POST is not retried: it may have been applied. */
	srv_script(&S, "{'routes': {'/f': [{'status': 503, 'body': 'x'}, "
	           "{'json': ['ok']}]}}");
	afk__http_req_clear(&r);
	memset(&r, 0, sizeof(r));
	r.url = u;
	r.method = "POST";
	r.json = "{}";
	r.what = "dispatch acme/api#7";
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	assert_contains(r.errmsg, "dispatch acme/api#7: POST http://");
	assert_contains(r.errmsg, "HTTP 503");
	ck_assert_uint_eq(srv_count(&S), 3);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* --- transport failures ---------------------------------------------- */

START_TEST(test_timeout)
{
	afk__http_opts o;
	afk__http_req r;
	char *u = url_of(&S, "/slow");
	double t0, dt;

	srv_script(&S, "{'routes': {'/slow': {'delay': 3, 'json': []}}}");
	afk__http_opts_default(&o);
	o.timeout = 1;
	H = http_with(&o);
	req_get(&r, u);
	t0 = now_s();
	ck_assert_int_eq(run1(H, &r), AFK_EUNAVAIL);
	dt = now_s() - t0;
	ck_assert_int_eq(r.fail, AFK__HTTP_ETIMEOUT);
	assert_contains(r.errmsg, "timed out");
	assert_contains(r.errmsg, "/slow");
	ck_assert_msg(dt >= 0.9 && dt < 2.5, "took %.3f s", dt);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* A port nothing listens on: bound, then closed. */
static int closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

START_TEST(test_connection_refused)
{
	afk__http_req r;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port());
	H = http_default();
	req_get(&r, url);
	ck_assert_int_eq(run1(H, &r), AFK_EUNAVAIL);
	ck_assert_int_eq(r.fail, AFK__HTTP_ECONNECT);
	assert_contains(r.errmsg, "connection refused");
	assert_contains(r.errmsg, url);
	afk__http_req_clear(&r);
	afk__http_free(H);
}
END_TEST

START_TEST(test_truncated_body)
{
	afk__http_req r;
	char *u = url_of(&S, "/t");

	srv_script(&S, "{'routes': {'/t': {'body': '[1, 2, 3]', "
	           "'content_length': 100}}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_ETRUNCATED);
	assert_contains(r.errmsg, "truncated response");
	assert_contains(r.errmsg, "91 bytes remaining");
	ck_assert_ptr_null(r.data);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

START_TEST(test_oversized_body)
{
	afk__http_opts o;
	afk__http_req r[3];
	char *a = url_of(&S, "/big"), *b = url_of(&S, "/chunked"),
	     *c = url_of(&S, "/fits");

	/* 2048 bytes announced; 2048 bytes chunked (length unknown);
	 * exactly the cap. */
	srv_script(&S, "{'routes': {"
	           "'/big': {'body': 'x', 'repeat': 2048},"
	           "'/chunked': {'body': 'y', 'repeat': 2048, 'chunked': true},"
	           "'/fits': {'body': 'z', 'repeat': 1024}}}");
	afk__http_opts_default(&o);
	o.max_body = 1024;
	H = http_with(&o);
	req_get(&r[0], a);
	req_get(&r[1], b);
	req_get(&r[2], c);
	ck_assert_int_eq(afk__http_run(H, r, 3), AFK_EIO);
	ck_assert_int_eq(r[0].fail, AFK__HTTP_ETOOLARGE);
	assert_contains(r[0].errmsg, "response too large: more than 1024 bytes");
	ck_assert_int_eq(r[1].fail, AFK__HTTP_ETOOLARGE);
	assert_contains(r[1].errmsg, "response too large");
	ck_assert_int_eq(r[2].rc, AFK_OK);
	ck_assert_uint_eq(r[2].len, 1024);
	afk__http_req_clear(&r[0]);
	afk__http_req_clear(&r[1]);
	afk__http_req_clear(&r[2]);
	afk__http_free(H);
	free(a);
	free(b);
	free(c);
}
END_TEST

/* --- the URL rules --------------------------------------------------- */

static const struct {
	const char *url;
	const char *why;
} refused_urls[] = {
	{"http://example.invalid/x", "plain http is refused"},
	{"http://10.0.0.1/x", "plain http is refused"},
	{"http://127.0.0.1.example.invalid/", "plain http is refused"},
	{"http://[::2]/", "plain http is refused"},
	{"ftp://127.0.0.1/x", "only https"},
	{"file:///etc/passwd", "only https"},
	{"https://user:pw@example.invalid/", "credentials in a URL"},
	{"example.invalid/no-scheme", "not a valid absolute URL"},
	{"https://", "not a valid absolute URL"},
	{"https://:443/", "not a valid absolute URL"},
};

/* Refused before any connection: no DNS either, so this is quick and
 * sends nothing anywhere. */
START_TEST(test_url_refused_before_connecting)
{
	afk__http_req r;
	afk__http_stats st;
	double t0 = now_s();

	H = http_default();
	req_get(&r, refused_urls[_i].url);
	ck_assert_int_eq(run1(H, &r), AFK_EINVAL);
	ck_assert_int_eq(r.fail, AFK__HTTP_EURL);
	assert_contains(r.errmsg, "refused before connecting");
	assert_contains(r.errmsg, refused_urls[_i].why);
	if (strchr(refused_urls[_i].url, '@') == NULL)
		assert_contains(r.errmsg, refused_urls[_i].url);
	else
		assert_lacks(r.errmsg, "user:pw");
	afk__http_get_stats(H, &st);
	ck_assert_uint_eq(st.sent, 0);
	ck_assert_msg(now_s() - t0 < 0.5, "slow: a lookup was made?");
	afk__http_req_clear(&r);
	afk__http_free(H);
}
END_TEST

START_TEST(test_loopback_http_allowed)
{
	afk__http_req r;
	char url[64];

	srv_script(&S, "{'default': {'json': 'hi'}}");
	H = http_default();
	snprintf(url, sizeof(url), "http://localhost:%d/x", S.port);
	req_get(&r, url);
	ck_assert_msg(run1(H, &r) == AFK_OK, "%s", r.errmsg);
	snprintf(url, sizeof(url), "http://127.1:%d/x", S.port);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	snprintf(url, sizeof(url), "http://0x7f.0.0.1:%d/x", S.port);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	afk__http_req_clear(&r);
	afk__http_free(H);
}
END_TEST

START_TEST(test_redirect_not_followed)
{
	afk__http_req r;
	char *u = url_of(&S, "/old");

	srv_script(&S, "{'routes': {'/old': {'status': 301, 'headers': "
	           "[['Location', 'http://127.0.0.1:{port}/new']], 'body': ''},"
	           "'/new': {'json': 'moved'}}}");
	H = http_default();
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(r.fail, AFK__HTTP_EREDIRECT);
	ck_assert_int_eq(r.status, 301);
	assert_contains(r.errmsg, "301 Moved Permanently");
	assert_contains(r.errmsg, "/new), not followed");
	ck_assert_uint_eq(srv_count(&S), 1);
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* --- secrets --------------------------------------------------------- */

/* Every fault the server can produce, each carrying the token in its
 * body and headers; no message may show any of it. */
static const char *const leaky[] = {
	/* 404 with the token in the body and an echoed header */
	"{'status': 404, 'headers': [['X-Echo', 'Bearer " TOKEN "']], "
	"'body': '{`message`: `bad credentials " TOKEN "`, "
	"`auth`: `Authorization: Bearer " TOKEN "`}'}",
	/* 500 twice (retried) */
	"{'status': 500, 'body': 'token " TOKEN " rejected'}",
	/* a redirect to a URL with the token in its query */
	"{'status': 302, 'headers': [['Location', 'https://evil.invalid/?"
	"token=" TOKEN "&access_token=" QTOKEN "']], 'body': '" TOKEN "'}",
	/* rate limited, token in the body */
	"{'status': 429, 'headers': [['Retry-After', '5']], 'body': '" TOKEN
	"'}",
	/* a secondary limit mentioned next to the token */
	"{'status': 403, 'body': 'secondary rate limit for " TOKEN "'}",
	/* a 422 whose token sits past the quoted snippet's end */
	"{'status': 422, 'body': 'x', 'repeat': 1}",
	/* truncated */
	"{'body': '" TOKEN "', 'content_length': 1000}",
	/* a link off the origin, carrying the token */
	"{'json': [], 'headers': [['Link', '<https://evil.invalid/?"
	"access_token=" QTOKEN "&t=" TOKEN ">; rel=next']]}",
	/* a malformed page after the token */
	"{'body': '[`" TOKEN "`, ', 'headers': [['X-Token', '" TOKEN "']]}",
	/* too large */
	"{'body': '" TOKEN "', 'repeat': 100}",
	/* the token as the ETag of a 304 we never asked for */
	"{'status': 304, 'headers': [['ETag', '" TOKEN "']]}",
};

START_TEST(test_secret_never_in_a_message)
{
	afk__http_opts o;
	afk__http_req r;
	char *u = url_of(&S, "/s?access_token=" QTOKEN "&x=1"), script[2048];
	char long_body[700];
	fake_log fl;
	size_t i;

	/* A token cut by the snippet's end must not leave its prefix. */
	if (strstr(leaky[_i], "'repeat': 1}") != NULL) {
		for (i = 0; i < 190; i++)
			long_body[i] = 'a';
		long_body[190] = '\0';
		snprintf(script, sizeof(script), "{'default': {'status': 422, "
		         "'body': '%s%s%s'}}", long_body, TOKEN, TOKEN);
	} else {
		snprintf(script, sizeof(script), "{'default': %s}", leaky[_i]);
	}
	srv_script(&S, script);
	afk__http_opts_default(&o);
	o.max_body = 2048;
	fake_log_init(&fl);
	o.log = afk__log_new(fake_log_line, AFK_LOG_DEBUG, &fl, NULL);
	H = http_with(&o);
	afk__log_unref(o.log);          /* the handle holds its own */
	req_get(&r, u);
	r.what = "list issues of acme/api";
	r.paginate = strstr(leaky[_i], "Link") != NULL ||
	             strstr(leaky[_i], "'[`") != NULL;
	ck_assert_int_ne(run1(H, &r), AFK_OK);
	ck_assert_str_ne(r.errmsg, "");
	assert_contains(r.errmsg, "list issues of acme/api: GET http://");
	assert_no_token(r.errmsg);
	assert_no_token(afk__http_errmsg(H));
	/* The next call fails (fast or not): its message is clean too. */
	run1(H, &r);
	assert_no_token(r.errmsg);
	afk__http_req_clear(&r);
	afk__http_free(H);
	/* Every line logged - the requests' URLs, a rate limit - too. */
	ck_assert_int_ge(fake_log_count(&fl, AFK_LOG_DEBUG, "http.request",
	                                "GET http://"), 1);
	assert_no_token(fl.all);
	fake_log_clear(&fl);
	free(u);
}
END_TEST

/* A secret the adapter names that no header carried. */
START_TEST(test_added_secret_redacted)
{
	afk__http_req r;
	char *u = url_of(&S, "/s");

	srv_script(&S, "{'default': {'status': 400, 'body': 'hook "
	           "https://hooks.example.invalid/T000/B000/XXXXSECRETXXXX bad'}}");
	H = http_default();
	ck_assert_int_eq(afk__http_add_secret(H, "T000/B000/XXXXSECRETXXXX"),
	                 AFK_OK);
	memset(&r, 0, sizeof(r));
	r.url = u;
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	assert_lacks(r.errmsg, "XXXXSECRETXXXX");
	assert_contains(r.errmsg, "https://hooks.example.invalid/[REDACTED]");
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* A dropped secret is no longer hidden, the others still are: a rotated
 * token is forgotten, not every token a long-lived handle had. */
START_TEST(test_dropped_secret_is_forgotten)
{
	afk__http_req r;
	char *u = url_of(&S, "/s");

	srv_script(&S, "{'default': {'status': 400, 'body': 'was "
	           "alphaalpha11 then bravobravo22 now charliecharlie3'}}");
	H = http_default();
	ck_assert_int_eq(afk__http_add_secret(H, "alphaalpha11"), AFK_OK);
	ck_assert_int_eq(afk__http_add_secret(H, "bravobravo22"), AFK_OK);
	ck_assert_int_eq(afk__http_add_secret(H, "charliecharlie3"), AFK_OK);
	afk__http_drop_secret(H, "alphaalpha11");
	afk__http_drop_secret(H, "never-added");
	afk__http_drop_secret(H, NULL);
	memset(&r, 0, sizeof(r));
	r.url = u;
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	assert_contains(r.errmsg, "was alphaalpha11 then [REDACTED] now "
	                "[REDACTED]");
	afk__http_req_clear(&r);
	afk__http_free(H);
	free(u);
}
END_TEST

/* --- the redaction step alone ---------------------------------------- */

static const struct {
	const char *in;
	const char *out;
} redactions[] = {
	{"plain text", "plain text"},
	{"tok " TOKEN " end", "tok [REDACTED] end"},
	{TOKEN TOKEN, "[REDACTED]"},
	{"GET https://h/x?token=abc&page=2", "GET https://h/x?token=[REDACTED]&page=2"},
	{"?access_token=abc", "?access_token=[REDACTED]"},
	{"a?page=1&API_KEY=k1#frag", "a?page=1&API_KEY=[REDACTED]#frag"},
	{"x?client_secret=s;sig=zz", "x?client_secret=[REDACTED];sig=[REDACTED]"},
	{"x?monkey=banana&tokens=1", "x?monkey=banana&tokens=1"},
	{"x?apikey=1&X-Api-Key=2&key=3", "x?apikey=[REDACTED]&X-Api-Key=[REDACTED]&key=[REDACTED]"},
	{"https://bob:hunter2@host/p", "https://bob:[REDACTED]@host/p"},
	{"https://bob@host/p", "https://bob@host/p"},
	{"\"Authorization: token abc\"", "\"Authorization: [REDACTED]\""},
	{"sent bearer  xyz, ok", "sent bearer  [REDACTED], ok"},
	{"unbearer x", "unbearer x"},
	{"", ""},
};

START_TEST(test_redact_rules)
{
	const char *const secrets[] = {TOKEN, "", NULL};
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", redactions[_i].in);
	afk__redact(buf, sizeof(buf), secrets);
	ck_assert_str_eq(buf, redactions[_i].out);
}
END_TEST

START_TEST(test_redact_cuts_after_replacing)
{
	const char *const secrets[] = {"SECRETSECRETSECRET", NULL};
	char buf[24], *d;

	const char *const short_secret[] = {"SEC", NULL};

	/* A replacement longer than the secret grows the text past its
	 * buffer: the cut comes after the replacement, so no part of the
	 * secret is left. */
	strcpy(buf, "0123456789SEC");               /* 13 bytes + NUL */
	ck_assert_uint_eq(afk__redact(buf, 14, short_secret), 1);
	ck_assert_str_eq(buf, "0123456789[RE");
	strcpy(buf, "01234SECRETSECRETSECRET");
	afk__redact(buf, sizeof(buf), secrets);
	ck_assert_str_eq(buf, "01234[REDACTED]");
	d = afk__redact_dup("a SECRETSECRETSECRET b", secrets);
	ck_assert_str_eq(d, "a [REDACTED] b");
	free(d);
	ck_assert_ptr_null(afk__redact_dup(NULL, secrets));
	ck_assert_uint_eq(afk__redact(NULL, 10, secrets), 0);
	strcpy(buf, "no secrets");
	ck_assert_uint_eq(afk__redact(buf, sizeof(buf), NULL), 0);
	ck_assert_str_eq(buf, "no secrets");
}
END_TEST

/* A part of 8 bytes or more of a secret is hidden wherever it is; a
 * shorter one is not (it could be any word). */
START_TEST(test_redact_hides_fragments)
{
	const char *const secrets[] = {TOKEN, NULL};
	char buf[256];

	strcpy(buf, "cut ghp_S3cr3tT0k3n| begun");
	afk__redact(buf, sizeof(buf), secrets);
	ck_assert_str_eq(buf, "cut [REDACTED]| begun");
	strcpy(buf, "end 0123456789abcdef, middle T0k3nValue0, short ghp_S3c");
	afk__redact(buf, sizeof(buf), secrets);
	ck_assert_str_eq(buf, "end [REDACTED], middle [REDACTED], short "
	                 "ghp_S3c");
	/* two parts spliced: one run, one replacement */
	strcpy(buf, "x ghp_S3cr3tValue0123 y");
	afk__redact(buf, sizeof(buf), secrets);
	ck_assert_str_eq(buf, "x [REDACTED] y");
}
END_TEST

/* Of a URL secret (a webhook) the scheme and host are no secret: a
 * message about the connection names them.  Its path's parts are. */
START_TEST(test_redact_url_secret_fragments)
{
	const char *const hook[] = {
		"https://hooks.slack.com/services/T0AFK/B0AFK/xoxHookS3cr3t", NULL
	};
	const char *const userinfo[] = {"https://bob:hunter2pw@example.org/x",
	                                NULL};
	char buf[256];

	strcpy(buf, "cannot resolve hooks.slack.com: https://hooks.slack.com "
	       "/services/T0AFK/B0 and xoxHookS3c");
	afk__redact(buf, sizeof(buf), hook);
	ck_assert_str_eq(buf, "cannot resolve hooks.slack.com: "
	                 "https://hooks.slack.com [REDACTED] and [REDACTED]");
	strcpy(buf, "bob:hunter2pw@exam");
	afk__redact(buf, sizeof(buf), userinfo);
	ck_assert_str_eq(buf, "[REDACTED]");
}
END_TEST

/* A text bounded before it is redacted is cut where no secret begins. */
START_TEST(test_redact_cut_len)
{
	const char *const secrets[] = {"SECRETTOKEN1234567", NULL};
	const char *s = "abc SECRETTOKEN1234567 def";

	/* "abc SECRE|TTOKEN...": cut before the secret */
	ck_assert_uint_eq(afk__redact_cut_len(s, 9, secrets), 4);
	/* "abc |SECRET...": nothing of it before the cut */
	ck_assert_uint_eq(afk__redact_cut_len(s, 4, secrets), 4);
	/* past the secret: the cut stays */
	ck_assert_uint_eq(afk__redact_cut_len(s, 24, secrets), 24);
	ck_assert_uint_eq(afk__redact_cut_len(s, 9, NULL), 9);
	/* never inside a UTF-8 sequence */
	ck_assert_uint_eq(afk__redact_cut_len("a\xc3\xa9" "b", 2, NULL), 1);
}
END_TEST

/* A message is formatted whole, redacted, and only then cut: the secret
 * a cut would split is gone, not half shown. */
START_TEST(test_redact_format_cuts_after)
{
	const char *const secrets[] = {TOKEN, NULL};
	char buf[32], big[600];

	afk__redact_format(buf, sizeof(buf), secrets, "%s %s", "lorem-ipsu",
	                   TOKEN);
	ck_assert_str_eq(buf, "lorem-ipsu [REDACTED]");
	afk__redact_format(buf, 20, secrets, "%s%s", "lorem-ipsum!", TOKEN);
	ck_assert_str_eq(buf, "lorem-ipsum![REDACT");
	memset(big, 'x', 500);
	big[500] = '\0';
	afk__redact_format(buf, sizeof(buf), secrets, "%s%s", big, TOKEN);
	ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
	assert_no_token(buf);
}
END_TEST

/* jansson's reason, without its quote of the text. */
START_TEST(test_json_reason_drops_the_quote)
{
	json_error_t err;
	char why[JSON_ERROR_TEXT_LENGTH];

	ck_assert_ptr_null(json_loads("[\"ghp_S3cr3tT0k", 0, &err));
	ck_assert_ptr_nonnull(strstr(err.text, "ghp_"));
	afk__jsonpos_reason(&err, why, sizeof(why));
	ck_assert_ptr_null(strstr(why, "ghp_"));
	ck_assert_ptr_null(strstr(why, " near '"));
	ck_assert_str_ne(why, "");
	ck_assert_ptr_null(json_loads("[1", 0, &err));
	afk__jsonpos_reason(&err, why, 8);
	ck_assert_uint_le(strlen(why), 7);
}
END_TEST

/* --- no part of a secret in any message, whatever the server sends ---- */

/* Secrets of several lengths: 16 bytes (the least a token may have), a
 * GitLab-, a GitHub-shaped one, and a long one. */
static const char *const hostile_secrets[] = {
	"u8jzPde0IgxLd6Gn",
	"glpat-cfBAepfJBd0Kh8oOO",
	"ghp_L8dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeK",
	"dNnFRIBXuDL7DxtpYlSXpfKtHF4vUCsMehGAkWvj7FAc9QeWJKY40uvSwMFLZDe1",
	NULL
};

#define FRAG 8               /* bytes of a secret never shown */
#define REASON_CUT 63        /* bytes of a status text a message shows */
#define SNIPPET_CUT 200      /* bytes of a body a message shows */
#define SCAN_CUT 8192        /* bytes of a body scanned */
#define HEADER_CUT 16384     /* bytes of a header kept */

/* Fails when s holds FRAG bytes in a row of any hostile secret. */
static void assert_no_fragment(const char *s, const char *what)
{
	const char *const *sec;
	char frag[FRAG + 1];
	size_t i, n;

	for (sec = hostile_secrets; *sec != NULL; sec++) {
		n = strlen(*sec);
		for (i = 0; i + FRAG <= n; i++) {
			memcpy(frag, *sec + i, FRAG);
			frag[FRAG] = '\0';
			ck_assert_msg(strstr(s, frag) == NULL, "%s: \"%s\" of a "
			              "secret is in: %s", what, frag, s);
		}
	}
}

/* k bytes c, then a (NULL: none), then b; a heap string. */
static char *padded(char c, size_t k, const char *a, const char *b)
{
	size_t na = a != NULL ? strlen(a) : 0, nb = strlen(b);
	char *s = malloc(k + na + nb + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, k);
	memcpy(s + k, a != NULL ? a : "", na);
	memcpy(s + k + na, b, nb + 1);
	return s;
}

/* sec repeated until the text is longer than at least bytes. */
static char *repeated(const char *sec, size_t at_least)
{
	size_t n = strlen(sec), r = at_least / n + 2, i;
	char *s = malloc(r * n + 1);

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < r; i++)
		memcpy(s + i * n, sec, n);
	s[r * n] = '\0';
	return s;
}

/* k bytes c, then sec repeated past at_least bytes; heap. */
static char *padded_rep(char c, size_t k, const char *sec, size_t at_least)
{
	char *rep = repeated(sec, at_least), *s = padded(c, k, NULL, rep);

	free(rep);
	return s;
}

/* The first k bytes of sec; heap. */
static char *head_of(const char *sec, size_t k)
{
	char *s = malloc(k + 1);

	ck_assert_ptr_nonnull(s);
	memcpy(s, sec, k);
	s[k] = '\0';
	return s;
}

/* The answers of one run: route "/h/NNNNN" gets answers[i]. */
typedef struct hostile {
	json_t *routes;
	int paginate[4096];
	char what[4096][24];
	size_t n;
} hostile;

/* Adds an answer (a new reference, taken); what names it in failures.
 * The strings given are freed. */
static void h_add(hostile *h, const char *what, int paginate, json_t *ans)
{
	char route[32];

	ck_assert_ptr_nonnull(ans);
	ck_assert_uint_lt(h->n, 4096);
	snprintf(route, sizeof(route), "/h/%05zu", h->n);
	ck_assert_int_eq(json_object_set_new(h->routes, route, ans), 0);
	h->paginate[h->n] = paginate;
	snprintf(h->what[h->n], sizeof(h->what[0]), "%s", what);
	h->n++;
}

static void h_body(hostile *h, const char *what, long status, char *body,
                   int paginate)
{
	h_add(h, what, paginate, json_pack("{s:i, s:s}", "status", (int)status,
	                                   "body", body));
	free(body);
}

static void h_reason(hostile *h, const char *what, char *reason)
{
	h_add(h, what, 0, json_pack("{s:i, s:s, s:s}", "status", 400,
	                            "reason", reason, "body", "no"));
	free(reason);
}

static void h_location(hostile *h, const char *what, char *path)
{
	char *loc = afk__aprintf("https://example.invalid/%s", path);

	ck_assert_ptr_nonnull(loc);
	h_add(h, what, 0, json_pack("{s:i, s:{s:s}, s:s}", "status", 302,
	                            "headers", "Location", loc, "body", ""));
	free(loc);
	free(path);
}

/* Runs every answer of h against H in batches; every one must fail and
 * its message, and the handle's, must hold no FRAG bytes of a secret. */
static void h_run(hostile *h, const char *header)
{
	static afk__http_req r[64];
	size_t i, k, m;
	char *u;

	srv_script_json(&S, json_pack("{s:O}", "routes", h->routes));
	for (i = 0; i < h->n; i += m) {
		m = h->n - i < 64 ? h->n - i : 64;
		for (k = 0; k < m; k++) {
			char path[32];

			snprintf(path, sizeof(path), "/h/%05zu", i + k);
			memset(&r[k], 0, sizeof(r[k]));
			u = url_of(&S, path);
			r[k].url = u;
			r[k].what = "hostile";
			r[k].secret_header = header;
			r[k].paginate = h->paginate[i + k];
		}
		ck_assert_int_ne(afk__http_run(H, r, m), AFK_OK);
		assert_no_fragment(afk__http_errmsg(H), "the handle");
		for (k = 0; k < m; k++) {
			ck_assert_msg(r[k].rc != AFK_OK, "%s: no failure",
			              h->what[i + k]);
			ck_assert_msg(r[k].errmsg[0] != '\0', "%s: no message",
			              h->what[i + k]);
			assert_no_fragment(r[k].errmsg, h->what[i + k]);
			free((char *)r[k].url);
			r[k].url = NULL;
			afk__http_req_clear(&r[k]);
		}
	}
}

/* Where the path of a redirect's Location starts in its message: a
 * message is cut at AFK__ERRMSG_SIZE - 1 bytes, and a Location padded by
 * (that - this - j) bytes puts a secret j bytes before the cut. */
static size_t location_offset(const char *header)
{
	afk__http_req r;
	const char *at;
	char *u = url_of(&S, "/h/00000");

	srv_script(&S, "{'routes': {'/h/00000': {'status': 302, 'headers': "
	           "{'Location': 'https://example.invalid/@MARK@'}}}}");
	memset(&r, 0, sizeof(r));
	r.url = u;
	r.what = "hostile";
	r.secret_header = header;
	ck_assert_int_eq(afk__http_run(H, &r, 1), AFK_EIO);
	at = strstr(r.errmsg, "@MARK@");
	ck_assert_ptr_nonnull(at);
	afk__http_req_clear(&r);
	free(u);
	return (size_t)(at - r.errmsg);
}

/* The property of issue 9 item 4, over every path a server's words take
 * into a message: the status text, error bodies of every size, a
 * redirect's Location, paginated pages that are not JSON - each with a
 * secret placed across every cut a message goes through (j of its bytes
 * before it, for every j), repeated so that redacting would merge the
 * whole ones and leave the cut one, or only a part of it sent. */
START_TEST(test_no_secret_fragment_in_any_message)
{
	const char *sec = hostile_secrets[_i];
	size_t n = strlen(sec), j, p, loc;
	const char *const *s;
	char *header, *head;
	afk__http_opts o;
	hostile h;

	memset(&h, 0, sizeof(h));
	h.routes = json_object();
	afk__http_opts_default(&o);
	o.per_host = 32;        /* hundreds of answers: in parallel */
	H = http_with(&o);
	for (s = hostile_secrets; *s != NULL; s++)
		ck_assert_int_eq(afk__http_add_secret(H, *s), AFK_OK);
	header = afk__aprintf("Authorization: Bearer %s", sec);
	ck_assert_ptr_nonnull(header);
	loc = location_offset(header);
	ck_assert_uint_lt(loc, AFK__ERRMSG_SIZE - 1 - n);
	for (j = 1; j < n; j++) {
		h_reason(&h, "reason at its cut", padded('R', REASON_CUT - j, sec,
		                                         "!"));
		h_body(&h, "body at the snippet's cut", 400,
		       padded('b', SNIPPET_CUT - j, sec, " tail"), 0);
		h_body(&h, "blanks to the scan's cut", 400,
		       padded(' ', SCAN_CUT - j, sec, " tail"), 0);
		h_location(&h, "Location at the message's cut",
		           padded('L', AFK__ERRMSG_SIZE - 1 - loc - j, sec, ""));
	}
	for (p = 0; p < n; p++) {
		h_reason(&h, "secrets to the header's cut",
		         padded_rep('R', p, sec, HEADER_CUT));
		h_body(&h, "secrets to the scan's cut", 422,
		       padded_rep(' ', p, sec, SCAN_CUT), 0);
		h_location(&h, "secrets past 4 KiB",
		           padded_rep('L', p, sec, 4200));
	}
	for (j = 1; j <= n; j++) {
		head = head_of(sec, j);
		h_body(&h, "a page: an open string", 200,
		       padded('[', 1, "\"", head), 1);
		h_body(&h, "a page: a bad escape", 200,
		       afk__aprintf("{\"k\": \"%s\\q\"}", head), 1);
		h_body(&h, "a page: a bare word", 200, padded('[', 1, head, "]"),
		       1);
		h_body(&h, "a part of a secret", 404, padded(' ', 1, head, " x"),
		       0);
		h_body(&h, "the end of a secret", 404,
		       padded('x', 2, sec + n - j, " y"), 0);
		h_reason(&h, "a part in the status", padded('R', 3, head, "!"));
		free(head);
	}
	h_run(&h, header);
	json_decref(h.routes);
	afk__http_free(H);
	free(header);
}
END_TEST


/* --- the host's log -------------------------------------------------- */

/* An ignored cache file is a warning on the log, not only a note. */
START_TEST(test_log_corrupt_cache_warns)
{
	afk__http_opts o;
	char cache[128];
	fake_log fl;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	write_file(cache, "not json at all");
	fake_log_init(&fl);
	afk__http_opts_default(&o);
	o.etag_cache = cache;
	o.log = afk__log_new(fake_log_line, AFK_LOG_NOTICE, &fl,
	                     fake_log_destroy);
	H = http_with(&o);
	afk__log_unref(o.log);
	ck_assert_int_eq(fl.lines, 1);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_WARNING,
	                                "http.cache.unreadable", cache), 1);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_WARNING,
	                                "http.cache.unreadable", "ignored"), 1);
	ck_assert_int_eq(fl.destroyed, 0);      /* the handle holds it */
	afk__http_free(H);
	ck_assert_int_eq(fl.destroyed, 1);
	fake_log_clear(&fl);
}
END_TEST

/* A rate limit is a warning; each response a debug line, which a log
 * at notice never sees. */
START_TEST(test_log_rate_limit_and_requests)
{
	afk__http_opts o;
	afk__http_req r;
	char *u = url_of(&S, "/r"), *ok = url_of(&S, "/ok");
	char *rl = url_of(&S, "/rl");
	fake_log dbg, quiet;
	afk__http *h2;

	srv_script(&S, "{'routes': {'/r': {'status': 429, 'headers': "
	           "[['Retry-After', '120']], 'json': {'message': 'slow'}}, "
	           "'/rl': {'headers': [['X-RateLimit-Remaining', '4999']], "
	           "'json': 2}, "
	           "'/ok': {'json': 1}}}");
	fake_log_init(&dbg);
	fake_log_init(&quiet);
	afk__http_opts_default(&o);
	o.log = afk__log_new(fake_log_line, AFK_LOG_DEBUG, &dbg, NULL);
	H = http_with(&o);
	afk__log_unref(o.log);
	o.log = afk__log_new(fake_log_line, AFK_LOG_NOTICE, &quiet, NULL);
	h2 = http_with(&o);
	afk__log_unref(o.log);
	req_get(&r, ok);
	r.what = "read it";
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(run1(h2, &r), AFK_OK);
	ck_assert_int_eq(fake_log_count(&dbg, AFK_LOG_DEBUG, "http.request",
	                                "read it: GET http://"), 1);
	ck_assert_int_eq(fake_log_count(&dbg, AFK_LOG_DEBUG, "http.request",
	                                "/ok: HTTP 200"), 1);
	/* The tail a host reads (the CLI's metrics) ends the line. */
	ck_assert_int_eq(fake_log_count(&dbg, AFK_LOG_DEBUG, "http.request",
	                 "/ok: HTTP 200 host=127.0.0.1 status=200"), 1);
	ck_assert_int_eq(quiet.lines, 0);
	afk__http_req_clear(&r);
	req_get(&r, rl);
	ck_assert_int_eq(run1(H, &r), AFK_OK);
	ck_assert_int_eq(fake_log_count(&dbg, AFK_LOG_DEBUG, "http.request",
	                 "/rl: HTTP 200 host=127.0.0.1 status=200 "
	                 "remaining=4999"), 1);
	afk__http_req_clear(&r);
	req_get(&r, u);
	ck_assert_int_eq(run1(H, &r), AFK_EIO);
	ck_assert_int_eq(run1(h2, &r), AFK_EIO);
	ck_assert_int_eq(fake_log_count(&dbg, AFK_LOG_WARNING,
	                                "http.rate_limited",
	                                "rate limited by 127.0.0.1 until "), 1);
	ck_assert_int_eq(quiet.lines, 1);
	ck_assert_int_eq(fake_log_count(&quiet, AFK_LOG_WARNING,
	                                "http.rate_limited", "HTTP 429"), 1);
	/* refused without sending: no new line */
	ck_assert_int_eq(run1(h2, &r), AFK_EIO);
	ck_assert_int_eq(quiet.lines, 1);
	assert_no_token(dbg.all);
	afk__http_req_clear(&r);
	afk__http_free(H);
	afk__http_free(h2);
	fake_log_clear(&dbg);
	fake_log_clear(&quiet);
	free(u);
	free(ok);
	free(rl);
}
END_TEST

/* A built-in's handle, made from a configuration with a log, logs to
 * it - and keeps it after the configuration is freed. */
START_TEST(test_log_from_the_config)
{
	afk_config *cfg = NULL;
	char err[AFK__ERRMSG_SIZE] = "", cache[128], json[256];
	afk__http *h = NULL;
	fake_log fl;

	snprintf(cache, sizeof(cache), "%s/cache.json", S.dir);
	write_file(cache, "[]");
	fake_log_init(&fl);
	ck_assert_int_eq(afk_config_new(&cfg), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(cfg, fake_log_line,
	                                    AFK_LOG_WARNING, &fl,
	                                    fake_log_destroy), AFK_OK);
	snprintf(json, sizeof(json), "{\"etag_cache\": \"%s\"}", cache);
	ck_assert_int_eq(afk_config_set(cfg, "http", json), AFK_OK);
	ck_assert_int_eq(afk__setup_http(cfg, "tracker (github)", &h, err),
	                 AFK_OK);
	ck_assert_int_eq(fake_log_count(&fl, AFK_LOG_WARNING,
	                                "http.cache.unreadable", cache), 1);
	afk_config_free(cfg);
	ck_assert_int_eq(fl.destroyed, 0);
	afk__http_flush(h);     /* "[]" is replaced: no warning */
	ck_assert_int_eq(fl.lines, 1);
	afk__http_free(h);
	ck_assert_int_eq(fl.destroyed, 1);
	fake_log_clear(&fl);
}
END_TEST

/* --- settings -------------------------------------------------------- */

START_TEST(test_options_from_config)
{
	afk_config *cfg = NULL;
	afk__http_opts o;
	afk__http *h = NULL;
	char err[AFK__ERRMSG_SIZE] = "";

	ck_assert_int_eq(afk_config_new(&cfg), AFK_OK);
	afk__http_opts_from_config(&o, cfg);
	ck_assert_int_eq(o.per_host, 4);
	ck_assert_int_eq(o.connect_timeout, 10);
	ck_assert_int_eq(o.timeout, 30);
	ck_assert_uint_eq(o.max_body, 8u * 1024 * 1024);
	ck_assert_int_eq(o.max_pages, 10);
	ck_assert_ptr_null(o.etag_cache);
	ck_assert_int_eq(o.rate_reserve, 50);
	ck_assert_int_eq(afk_config_set(cfg, "http", "{\"per_host\": 9, "
	                 "\"timeout\": 5, \"max_body\": 2048, \"max_pages\": 2, "
	                 "\"etag_cache\": \"/var/cache/afk/etags.json\", "
	                 "\"rate_reserve\": 0, \"connect_timeout\": 3}"), AFK_OK);
	afk__http_opts_from_config(&o, cfg);
	ck_assert_int_eq(o.per_host, 9);
	ck_assert_int_eq(o.connect_timeout, 3);
	ck_assert_int_eq(o.timeout, 5);
	ck_assert_uint_eq(o.max_body, 2048);
	ck_assert_int_eq(o.max_pages, 2);
	ck_assert_str_eq(o.etag_cache, "/var/cache/afk/etags.json");
	ck_assert_int_eq(o.rate_reserve, 0);
	afk_config_free(cfg);

	afk__http_opts_default(&o);
	o.per_host = 0;
	ck_assert_int_eq(afk__http_new(&h, &o, err), AFK_EINVAL);
	ck_assert_ptr_null(h);
	assert_contains(err, "per_host");
	ck_assert_int_eq(afk__http_new(NULL, &o, err), AFK_EINVAL);
	ck_assert_int_eq(afk__http_run(NULL, NULL, 0), AFK_EINVAL);
	afk__http_free(NULL);
	ck_assert_str_eq(afk__http_errmsg(NULL), "");
}
END_TEST

START_TEST(test_empty_batch)
{
	H = http_default();
	ck_assert_int_eq(afk__http_run(H, NULL, 0), AFK_OK);
	afk__http_free(H);
}
END_TEST

/* --- the suite ------------------------------------------------------- */

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = tcase_create("requests");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_plain_get);
	tcase_add_test(tc, test_methods_and_bodies);
	tcase_add_test(tc, test_bad_requests_refused);
	tcase_add_test(tc, test_batch_is_concurrent_and_capped);
	tcase_add_test(tc, test_per_host_from_the_options);
	tcase_add_test(tc, test_connection_reused_across_calls);
	tcase_add_loop_test(tc, test_write_never_resent, 0,
	                    (int)(sizeof(write_methods) /
	                          sizeof(*write_methods)));
	tcase_add_test(tc, test_get_hangup_is_not_unknown);
	tcase_add_test(tc, test_paginate_three_pages);
	tcase_add_test(tc, test_paginate_capped_at_max_pages);
	tcase_add_test(tc, test_paginate_never_leaves_the_origin);
	tcase_add_test(tc, test_paginate_malformed_pages);
	tcase_add_test(tc, test_etag_304_from_the_cache);
	tcase_add_test(tc, test_etag_pages_from_the_cache);
	tcase_add_test(tc, test_etag_never_for_writes);
	tcase_add_test(tc, test_etag_cache_persists_across_processes);
	tcase_add_loop_test(tc, test_etag_cache_corrupt_is_ignored, 0,
	                    (int)(sizeof(corrupt_caches) /
	                          sizeof(*corrupt_caches)));
	tcase_add_test(tc, test_etag_cache_unwritable_is_a_warning);
	tcase_add_test(tc, test_memo_versions_and_persists);
	tcase_add_test(tc, test_cache_bound_drops_the_oldest);
	tcase_add_test(tc, test_cache_written_once_per_flush);
	tcase_add_test(tc, test_cache_read_only_writes_nothing);
	tcase_add_test(tc, test_cache_two_writers_merge);
	tcase_add_test(tc, test_cache_concurrent_processes_keep_all);
	tcase_add_test(tc, test_cache_stale_temporary_removed);
	tcase_add_test(tc, test_cache_lock_held_waits_then_warns);
	tcase_add_test(tc, test_cache_seq_out_of_range);
	tcase_add_test(tc, test_cache_not_a_regular_file);
	tcase_add_test(tc, test_tick_end_saves_the_cache);
	tcase_add_test(tc, test_tick_end_forgets_a_replaced_userdata);
	tcase_add_test(tc, test_429_retry_after_blocks_the_host);
	tcase_add_test(tc, test_403_remaining_zero_waits_for_reset);
	tcase_add_test(tc, test_secondary_limit_backs_off);
	tcase_add_test(tc, test_403_forbidden_is_not_a_rate_limit);
	tcase_add_test(tc, test_rate_limit_stops_the_batch);
	tcase_add_test(tc, test_reserve_stops_before_spending_it);
	tcase_add_test(tc, test_5xx_retried_once_for_a_get);
	tcase_add_test(tc, test_5xx_twice_is_an_error);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_truncated_body);
	tcase_add_test(tc, test_oversized_body);
	tcase_add_test(tc, test_loopback_http_allowed);
	tcase_add_test(tc, test_redirect_not_followed);
	tcase_add_loop_test(tc, test_secret_never_in_a_message, 0,
	                    (int)(sizeof(leaky) / sizeof(*leaky)));
	tcase_add_test(tc, test_added_secret_redacted);
	tcase_add_test(tc, test_dropped_secret_is_forgotten);
	tcase_add_test(tc, test_log_corrupt_cache_warns);
	tcase_add_test(tc, test_log_rate_limit_and_requests);
	tcase_add_test(tc, test_log_from_the_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_no_secret_fragment_in_any_message, 0,
	                    (int)(sizeof(hostile_secrets) /
	                          sizeof(*hostile_secrets)) - 1);
	suite_add_tcase(s, tc);

	tc = tcase_create("offline");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_url_refused_before_connecting, 0,
	                    (int)(sizeof(refused_urls) /
	                          sizeof(*refused_urls)));
	tcase_add_loop_test(tc, test_redact_rules, 0,
	                    (int)(sizeof(redactions) / sizeof(*redactions)));
	tcase_add_test(tc, test_redact_cuts_after_replacing);
	tcase_add_test(tc, test_redact_hides_fragments);
	tcase_add_test(tc, test_redact_url_secret_fragments);
	tcase_add_test(tc, test_redact_cut_len);
	tcase_add_test(tc, test_redact_format_cuts_after);
	tcase_add_test(tc, test_json_reason_drops_the_quote);
	tcase_add_test(tc, test_options_from_config);
	tcase_add_test(tc, test_empty_batch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(http_suite());
}
