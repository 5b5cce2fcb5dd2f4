/*
 * tests/httpsrv.h - the harness for tests/http_server.py, the scripted
 * loopback HTTP server the HTTP, tracker, agent and notifier suites
 * talk to.
 *
 * A test starts its own server (srv_start), tells it what to answer by
 * writing its script file (srv_script, srv_script_json), and afterwards
 * reads the server's log of what was sent (srv_log) and its counts of
 * connections (srv_stat).  The server binds 127.0.0.1 only and exits
 * with its parent.
 */
#ifndef AFK_TESTS_HTTPSRV_H
#define AFK_TESTS_HTTPSRV_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

typedef struct srv {
	char dir[64];
	pid_t pid;
	int port;
	char base[64];      /* "http://127.0.0.1:PORT" */
} srv;

/* The whole of a file, NUL-terminated (free() it); NULL when absent. */
char *read_file(const char *path);
/* Writes text to path, failing the test when it cannot. */
void write_file(const char *path, const char *text);
void msleep(long ms);
/* Seconds on the monotonic clock. */
double now_s(void);

/* Starts a server in a fresh directory; fails the test when it does not
 * come up. */
void srv_start(srv *s);
/* Stops it and removes its directory; harmless when not started. */
void srv_stop(srv *s);
/* Writes the server's script from text written with ' for " and ` for
 * \" (a quote inside a JSON string), replacing the file atomically so
 * the server never reads half of it. */
void srv_script(srv *s, const char *text);
/* The same from a JSON value (a new reference, taken). */
void srv_script_json(srv *s, json_t *script);
/* Adds to the script's routes object the answers of a paginated list:
 * the items (an array, taken) cut into pages of per_page, the first at
 * path (which has a query), page N at path&page=N.  With link each page
 * carries a Link header as GitHub's (rel="next" but on the last,
 * rel="last" on all); without, none (as Forgejo's timeline). */
void srv_add_pages(json_t *routes, const char *path, json_t *items,
                   size_t per_page, int link);
/* The requests the server saw, a JSON array (json_decref() it). */
json_t *srv_log(srv *s);
size_t srv_count(srv *s);
/* A counter from the server's stats.json. */
long srv_stat(srv *s, const char *key);
/* How many logged requests have method and a path starting with path. */
size_t count_req(srv *s, const char *method, const char *path);
/* The body of the last logged request with method and path, parsed. */
json_t *last_body(srv *s, const char *method, const char *path);
/* base + path (free() it). */
char *url_of(const srv *s, const char *path);

/* Field key of request i of the log, as a string; "" when absent. */
const char *log_str(json_t *log, size_t i, const char *key);
const char *log_header(json_t *log, size_t i, const char *name);
/* Request i's body parsed (json_decref() it). */
json_t *log_body(json_t *log, size_t i);

void assert_contains(const char *s, const char *part);
void assert_lacks(const char *s, const char *part);

#endif
