/*
 * lib/net/http.h - the one HTTP layer under the built-in network adapters
 * (GitHub, Forgejo, T3 Code, CI status, Slack).  Internal.
 *
 * An adapter owns one afk__http handle, made from the configuration's
 * "http" settings, and hands it batches of requests: every request of a
 * batch runs concurrently over one curl multi handle, at most
 * opts.per_host at a time to one host, and the call returns when all of
 * them have finished.  Connections stay open in the handle between
 * batches, so the next tick's requests reuse them.
 *
 *     afk__http_req r[2];
 *     memset(r, 0, sizeof(r));
 *     r[0].what = "list issues of acme/api";
 *     r[0].url = "https://api.github.com/repos/acme/api/issues?per_page=100";
 *     r[0].secret_header = auth;           (e.g. "Authorization: Bearer X")
 *     r[0].paginate = 1;
 *     r[1] = ...;
 *     rc = afk__http_run(h, r, 2);
 *     ... r[i].rc, r[i].status, r[i].data, r[i].errmsg ...
 *     afk__http_req_clear(&r[0]); afk__http_req_clear(&r[1]);
 *
 * What the layer does for every request, so adapters need not:
 *   - Refuses, before any connection, a URL that is not https - plain
 *     http only to a loopback address (127.0.0.0/8, ::1, localhost) -
 *     or that carries user:password, and any scheme but http and https.
 *   - Verifies TLS, always.  Follows no redirect: a 3xx is an error
 *     naming where it pointed.
 *   - Caps the response body at opts.max_body ("response too large").
 *   - Paginates a GET marked paginate: follows the Link header's
 *     rel="next" up to opts.max_pages pages, never to another scheme,
 *     host or port, and joins the pages' JSON arrays into one.
 *   - Sends If-None-Match for a GET it has an ETag for and answers a 304
 *     from its cache (from_cache); the cache persists in the file
 *     opts.etag_cache (JSON, mode 0600, at most 65536 entries and 64 MiB
 *     of bodies: the least recently used go first).  Nothing with a body
 *     and no other method is cached.  Entries are keyed by the URL and
 *     the caller's headers (not the secret one): a cached body is only
 *     ever used on the server's own 304 for that request.
 *     A batch changes the cache in memory only; afk__http_flush() saves
 *     it, once per tick (the ticks call the built-ins' tick_end, which
 *     flushes), and only when it changed: under an flock on PATH.lock
 *     (waited for at most 5 s), merged with what another writer - another
 *     process's tick, another adapter's handle - saved since this handle
 *     last read or wrote the file (per key, the entry used last), written
 *     to PATH.tmp-XXXXXX, synced and renamed over PATH.  Temporaries of
 *     that name left by a killed writer are removed under the lock.  A
 *     path that names a FIFO, a directory or a device is refused by
 *     afk__http_new() and never opened, read or replaced.
 *   - Follows GitHub's rate-limit rules.  A 403 or 429 with retry-after
 *     waits that many seconds; one with x-ratelimit-remaining: 0 waits
 *     until x-ratelimit-reset; a 429, or a 403 whose body speaks of a
 *     rate limit, with neither, backs off exponentially (60 s, doubling
 *     per repeat, at most an hour).  The layer never sleeps for it: the
 *     host is blocked in the handle until the deadline, requests of the
 *     batch not yet sent to it fail at once ("rate limited by HOST until
 *     TIME; retry after N s"), and so do later batches until then.  A
 *     response whose x-ratelimit-remaining is at most opts.rate_reserve
 *     blocks the host the same way ("rate-limit reserve reached") - that
 *     response itself is still returned.
 *   - Retries a GET that got a 5xx once, after a short back-off: 300 ms,
 *     or the retry-after the server gave when it is at most 2 s (a longer
 *     one is not waited for: the 5xx is the error).  A second 5xx is the
 *     error.  Nothing but a GET is retried: it may have been applied.
 *   - Sends a write (POST, PATCH, PUT, DELETE) on a connection of its
 *     own, closed after it: libcurl silently sends a request again when
 *     the reused connection it went out on dies before the answer, and a
 *     write must never arrive twice (a second comment, a second Slack
 *     message).  A write that fails after it went out - the server hung
 *     up, a timeout - fails with outcome_unknown set and a message that
 *     says so: only a read can tell whether it was applied.  GETs keep
 *     sharing their connections.
 *   - Writes every message through afk__redact() (lib/net/redact.h) with
 *     every secret the handle has seen: the secret headers' values and
 *     tokens, those given to afk__http_add_secret(), credential-like
 *     query parameters.  A secret header is sent and never shown.  A
 *     message is formatted whole and redacted before it is cut; what a
 *     server sent and must be bounded first (a header, the start of a
 *     body) is cut where no secret begins; jansson's quote of a page
 *     is never used.  No 8 bytes of a secret reach a message.
 *
 * curl_global_init(): libcurl's one piece of global state, and not
 * thread-safe in libcurls older than 7.84.  afk__http_new() calls
 * curl_global_init(CURL_GLOBAL_DEFAULT) and afk__http_free()
 * curl_global_cleanup(); libcurl counts the calls, so only the first
 * init and the last cleanup do anything.  A single-threaded host needs
 * nothing more.  A host that uses threads must call
 * curl_global_init(CURL_GLOBAL_DEFAULT) itself before it starts them and
 * curl_global_cleanup() after they end: libafk's calls then only move
 * the count and never initialise anything while another thread runs.
 * Beyond that the layer keeps no global state; a handle must be used by
 * one thread at a time.
 */
#ifndef AFK_LIB_HTTP_H
#define AFK_LIB_HTTP_H

#include <stddef.h>

#include "afk/common.h"
#include "core/log.h"
#include "core/util.h"

typedef struct afk__http afk__http;

/* The settings of a handle (the configuration's "http" key, which
 * builtin/setup.c reads: the network layer knows no configuration). */
typedef struct afk__http_opts {
	long per_host;         /* requests in flight per host; 1..64 */
	long connect_timeout;  /* seconds to connect */
	long timeout;          /* seconds for a whole request, one page */
	size_t max_body;       /* bytes of one response body */
	long max_pages;        /* pages of a paginated GET */
	const char *etag_cache; /* path of the persisted cache; NULL: the
	                           cache lives in the handle only */
	long rate_reserve;     /* stop when x-ratelimit-remaining <= this */
	int etag_cache_read_only; /* 1: read etag_cache, never write it
	                             (nor its lock): afk status */
	const char *ca_file;   /* PEM bundle TLS peers are verified against
	                          instead of the system's (a Kubernetes
	                          API server's cluster CA); NULL: the
	                          system's.  Copied.  Verification stays on */
	afk__log *log;         /* the host's log (lib/core/log.h), or NULL;
	                          the handle takes a reference of its own */
} afk__http_opts;

/* What the handle logs, each message redacted like its errors:
 *   warning http.cache.unreadable  the cache file was ignored (corrupt,
 *                                  unreadable): afk__http_new()
 *   warning http.cache.unwritable  a flush could not save the file
 *   info    http.cache.evicted     entries dropped to stay in bounds
 *   warning http.rate_limited      a host blocked on a rate limit
 *   warning http.rate_reserve      a host blocked at the reserve
 *   info    http.retry             a GET retried after a 5xx
 *   debug   http.request           one per response or failure: method,
 *                                  URL, status or cause, then the tail
 *                                  " host=H status=C[ remaining=N]"
 *                                  (C 0 for a transport failure) */

/* The defaults: 4, 10 s, 30 s, 8 MiB, 10 pages, no file, 50, no log. */
void afk__http_opts_default(afk__http_opts *o);

/* Makes a handle.  Reads the ETag cache file when opts names one: a
 * missing file is an empty cache, a corrupt or unreadable one is ignored
 * with a note in afk__http_warning() - never a failure.  Returns 0 with
 * *out (free with afk__http_free()), AFK_EINVAL for settings out of
 * range, AFK_ECONFIG when the cache path names something other than a
 * regular file (a FIFO would hang the read), AFK_ENOMEM, or AFK_EIO when
 * libcurl cannot start; the reason is written to errbuf
 * (AFK__ERRMSG_SIZE bytes; may be NULL).  A refused cache path is named
 * but not its key: the caller knows where it was set (afk__setup_http()
 * in lib/builtin/builtin.h names the line). */
int afk__http_new(afk__http **out, const afk__http_opts *opts,
                  char *errbuf);

/* Closes the connections and frees the handle; NULL is a no-op.  It
 * does not save the cache: what was not flushed is dropped. */
void afk__http_free(afk__http *h);

/* Adds a string every later message of h must hide (a token read from
 * the environment, say).  Copied; 0 or AFK_ENOMEM. */
int afk__http_add_secret(afk__http *h, const char *secret);
/* Forgets a secret afk__http_add_secret() was given (a rotated token
 * long replaced), so that a long-lived handle does not hide every token
 * it ever had; one not known is a no-op. */
void afk__http_drop_secret(afk__http *h, const char *secret);

/* The message of the last failed afk__http_run() (the first failed
 * request's), "" before any; owned by h, valid until the next call. */
const char *afk__http_errmsg(const afk__http *h);

/* A note about the ETag cache file, redacted, "" when there is none:
 * from afk__http_new() (the file was ignored as unreadable or corrupt)
 * until the first afk__http_flush(), then from the last one (the file
 * could not be written: another writer held the lock too long, the
 * directory is not writable; the change is kept for the next flush).
 * Owned by h; valid until the next call. */
const char *afk__http_warning(const afk__http *h);

/* Counters since the handle was made, for benchmarks and tests. */
typedef struct afk__http_stats {
	unsigned long sent;          /* HTTP requests sent, retries and pages
	                                counted */
	unsigned long not_modified;  /* 304s answered from the cache */
	unsigned long refused;       /* requests failed without being sent:
	                                policy, rate limit, reserve */
} afk__http_stats;

void afk__http_get_stats(const afk__http *h, afk__http_stats *out);

/* Why every request to url would be refused before connecting (the
 * rules above: https, plain http only to a loopback address, no
 * user:password, parsed by libcurl), or NULL when it would not be: a
 * static string, "" when memory ran out.  For a URL known before any
 * request, so that a configuration can refuse it at load. */
const char *afk__url_check(const char *url);

/* Why a request failed, for an adapter that handles some causes itself
 * (a 404 that means "absent", a rate limit it reports differently). */
typedef enum afk__http_fail {
	AFK__HTTP_OK = 0,
	AFK__HTTP_EURL,        /* URL refused before connecting (AFK_EINVAL) */
	AFK__HTTP_EDNS,        /* host name not resolved */
	AFK__HTTP_ECONNECT,    /* connection refused or failed (AFK_EUNAVAIL) */
	AFK__HTTP_ETIMEOUT,    /* connect or total timeout (AFK_EUNAVAIL) */
	AFK__HTTP_ETLS,        /* TLS handshake or verification */
	AFK__HTTP_ENET,        /* another transport failure */
	AFK__HTTP_ETRUNCATED,  /* body shorter than announced */
	AFK__HTTP_ETOOLARGE,   /* body over max_body */
	AFK__HTTP_EREDIRECT,   /* a 3xx, not followed */
	AFK__HTTP_ESTATUS,     /* a 4xx or 5xx: status and data are set */
	AFK__HTTP_ERATELIMIT,  /* rate limited: retry_at is set */
	AFK__HTTP_ERESERVE,    /* the rate-limit reserve was reached */
	AFK__HTTP_EPAGES,      /* more pages than max_pages */
	AFK__HTTP_ELINK,       /* a next-page link to another origin */
	AFK__HTTP_EPARSE,      /* a page that is no JSON array (AFK_EPARSE) */
	AFK__HTTP_ENOMEM       /* memory ran out (AFK_ENOMEM) */
} afk__http_fail;

/* One request: the caller zeroes it, sets the inputs and keeps them
 * alive during afk__http_run(), which fills the outputs.  The outputs
 * are freed by afk__http_req_clear(), which leaves the inputs, so the
 * same request can be run again. */
typedef struct afk__http_req {
	/* --- inputs ------------------------------------------------------ */
	const char *what;          /* the call, for messages ("list issues of
	                              acme/api"); NULL: none */
	const char *method;        /* "GET" (NULL), "POST", "PATCH", "PUT",
	                              "DELETE" */
	const char *url;
	const char *json;          /* body, sent as application/json; NULL:
	                              none */
	const char *const *headers; /* NULL-terminated "Name: value" lines;
	                               NULL: none.  An Accept line replaces
	                               the default application/json, and so
	                               does a Content-Type line for json. */
	const char *secret_header; /* "Authorization: Bearer X": sent, never
	                              shown; its value and last word become
	                              secrets of the handle */
	int paginate;              /* GET: follow rel="next", join arrays */
	int partial_ok;            /* paginate: past max_pages return the
	                              pages read (truncated = 1) instead of
	                              failing */

	/* --- outputs ----------------------------------------------------- */
	int rc;                    /* AFK_OK, AFK_EIO, AFK_EUNAVAIL,
	                              AFK_EINVAL, AFK_EPARSE, AFK_ENOMEM */
	afk__http_fail fail;
	long status;               /* of the last response; 0: none */
	char *data;                /* the body (NUL added), the joined array
	                              of a paginated GET, or the cached body
	                              of a 304; also set for an ESTATUS */
	size_t len;                /* bytes of data, NUL not counted */
	int from_cache;            /* every page came from a 304 */
	int pages;                 /* pages read (1 unless paginated) */
	int truncated;             /* partial_ok cut the pages */
	long long retry_at;        /* ERATELIMIT/ERESERVE: epoch seconds */
	int outcome_unknown;       /* a write that failed after it was sent
	                              (the connection died, a timeout): the
	                              server may have applied it, so only a
	                              read can tell; never re-sent */
	/* response headers of the last page; NULL when absent */
	char *etag;
	char *link;
	char *retry_after;
	char *ratelimit_remaining;
	char *ratelimit_reset;
	char *content_type;
	char errmsg[AFK__ERRMSG_SIZE]; /* redacted; "" on success */
} afk__http_req;

/* Runs the n requests concurrently and returns when every one has
 * finished.  Each request's outcome is in its outputs (they are cleared
 * first).  Returns AFK_OK when all succeeded, else the rc of the first
 * failed request in array order, whose message is also
 * afk__http_errmsg(h).  A request fails on any status outside 2xx (and
 * 304 answered from the cache).  Never writes the cache file: see
 * afk__http_flush(). */
int afk__http_run(afk__http *h, afk__http_req *reqs, size_t n);

/* Frees a request's outputs and zeroes them; the inputs stay. */
void afk__http_req_clear(afk__http_req *r);

/* 1 when the Link header value link (a request's link output; NULL is
 * none) has a rel="next" target, or when memory ran out finding out. */
int afk__http_link_has_next(const char *link);

/* Memos: small strings an adapter derived from responses, kept with the
 * ETag cache (and persisted in its file) under a key of its own, each
 * valid for one version of what it was derived from - say the labeller
 * read from an issue's timeline, for the updated_at.  memo_get
 * returns the memo of key stored with this very version, else NULL (owned
 * by h; valid until h changes).  memo_put stores one (a value or version
 * over 4 KiB is not kept); the file is written by the next
 * afk__http_flush().  Memos share the cache's bounds
 * and its least-recently-used eviction. */
const char *afk__http_memo_get(afk__http *h, const char *key,
                               const char *version);
void afk__http_memo_put(afk__http *h, const char *key, const char *version,
                        const char *value);

/* Saves the cache file now if the cache changed since it was last
 * saved or read, as the header comment says (lock, merge, temporary,
 * rename); failing to is a warning (afk__http_warning()) and the
 * change stays for the next flush.  The end of each tick calls it for
 * the built-ins. */
void afk__http_flush(afk__http *h);

/* For the fuzz harness: parses a response's header block (n bytes,
 * lines ending in CRLF) into r's header outputs, which the caller frees
 * with afk__http_req_clear(). */
void afk__http_parse_headers(afk__http_req *r, const char *block,
                             size_t n);

#endif
