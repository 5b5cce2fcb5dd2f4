/*
 * lib/net/http.c - the HTTP layer of the network adapters.  See http.h.
 *
 * A batch is a loop over one curl multi handle.  Each request becomes a
 * transfer (xfer) that waits, runs, and finishes; a paginated GET or a
 * retried one goes back to waiting between its attempts.  Admission is
 * ours, not libcurl's: a transfer starts only while fewer than per_host
 * transfers run to its host, so that
 *   - a queued request has not been sent, and a host that turns out to
 *     be rate limited fails it without spending anything;
 *   - CURLOPT_TIMEOUT_MS measures the request, not the queue (libcurl
 *     counts the time a transfer waits for a connection against it);
 *   - the cap holds under HTTP/2 too, where libcurl would multiplex any
 *     number of streams on one connection.
 * CURLMOPT_MAX_HOST_CONNECTIONS is set to the same number as a second
 * line.
 *
 * Connections live in the multi handle's connection cache, which all its
 * transfers share, for the life of the handle: that is what makes the
 * next batch reuse them.  The share handle holds DNS and TLS sessions
 * only.  Putting the connection cache in the share (CURL_LOCK_DATA_CONNECT)
 * would buy nothing here and costs the per-host limit: libcurl 8.13 to
 * 8.21 ignore CURLMOPT_MAX_HOST_CONNECTIONS for a shared pool (curl issue
 * 22265).
 */
#define _POSIX_C_SOURCE 200809L

#include "net/http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/jsonpos.h"
#include "net/redact.h"

#define RETRY_5XX_MS 300              /* back-off before a 5xx retry */
#define WAIT_MAX_S 2                  /* longest retry-after slept on */
#define BACKOFF_FIRST_S 60            /* GitHub: "at least one minute" */
#define BACKOFF_MAX_S 3600
#define RESERVE_WAIT_S 60             /* reserve reached, reset unknown */
#define SNIPPET 200                   /* bytes of a server's message */
#define SNIPPET_SCAN 8192             /* bytes redacted before cutting */
#define REASON_MAX 63                 /* bytes of a status line's text */
#define HEADER_MAX 16384              /* bytes kept of one header */
#define CACHE_VERSION 1
#define CACHE_ENTRIES_MAX 65536
#define CACHE_BYTES_MAX (64L * 1024 * 1024)
#define CACHE_FILE_MAX (2 * CACHE_BYTES_MAX + 1024 * 1024)
#define MEMO_PREFIX "memo\n"           /* no URL holds a newline */
#define MEMO_MAX 4096                 /* bytes of one memo */
#define SEQ_MAX 9007199254740991LL     /* 2^53 - 1: exact in any JSON
                                          reader, far from overflow */
#define TMP_TAG ".tmp-"                /* PATH.tmp-XXXXXX: a save's temp */
#define LOCK_WAIT_MS 5000              /* for another writer's save */
#define STALE_TMP_S 3600               /* a temporary left unlocked */

#if defined(__GNUC__)
#define PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF(f, a)
#endif

/* --- the handle ------------------------------------------------------ */

/* Which cache file the handle last read or wrote: when it is still the
 * one at the path, nobody else saved since, and a save need not read
 * it. */
typedef struct file_id {
	int known;
	dev_t dev;
	ino_t ino;
	off_t size;
	long long mtime_s;
	long mtime_ns;
} file_id;

/* What the handle remembers about one origin between batches. */
typedef struct host_state {
	char *origin;             /* "https://api.github.com:443" */
	char *name;               /* "api.github.com", for messages */
	int active;               /* transfers running to it */
	long long blocked_until;  /* epoch seconds; 0: not blocked */
	afk__http_fail block;     /* ERATELIMIT or ERESERVE */
	char why[AFK__ERRMSG_SIZE]; /* "rate limited by X until T" */
	int backoffs;             /* secondary limits hit in a row */
} host_state;

struct afk__http {
	afk__http_opts opts;
	char *cache_path;         /* NULL: the cache is not persisted */
	char *ca_file;            /* opts.ca_file copied; NULL: system CAs */
	CURLM *multi;
	CURLSH *share;
	json_t *cache;            /* key -> {etag, link, body, seq}, or for
	                             "memo\n" keys {memo, version, seq} */
	long long cache_seq;      /* the last seq given */
	size_t cache_bytes;       /* bodies' bytes */
	int cache_dirty;          /* changed since the file was written */
	file_id file_id;
	host_state **hosts;       /* each allocated alone: transfers point
	                             at them while the array grows */
	size_t nhosts, caphosts;
	char **secrets;           /* NULL-terminated, for afk__redact() */
	size_t nsecrets, capsecrets;
	afk__http_stats stats;
	char errmsg[AFK__ERRMSG_SIZE];
	char warning[AFK__ERRMSG_SIZE];
};

void afk__http_opts_default(afk__http_opts *o)
{
	o->per_host = 4;
	o->connect_timeout = 10;
	o->timeout = 30;
	o->max_body = 8 * 1024 * 1024;
	o->max_pages = 10;
	o->etag_cache = NULL;
	o->rate_reserve = 50;
	o->etag_cache_read_only = 0;
	o->ca_file = NULL;
	o->log = NULL;
}

/* Copies the UTF-8 text s into dst (size bytes), cut without splitting a
 * sequence. */
static void copy_cut(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Formats into dst (size bytes) through the redaction step: the whole
 * message is redacted before it is cut to size. */
static void vformat_redacted(afk__http *h, char *dst, size_t size,
                             const char *fmt, va_list ap)
{
	afk__redact_vformat(dst, size, (const char *const *)h->secrets, fmt,
	                    ap);
}

/* Keeps the note for afk__http_warning() and logs it as event. */
static void warn(afk__http *h, const char *event, const char *fmt, ...)
	PRINTF(3, 4);
static void warn(afk__http *h, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_redacted(h, h->warning, sizeof(h->warning), fmt, ap);
	va_end(ap);
	afk__log_str(h->opts.log, AFK_LOG_WARNING, event, h->warning);
}

/* Logs a line formatted through the redaction step; the level is
 * checked first, so an unwanted line costs no formatting. */
static void note(afk__http *h, int level, const char *event,
                 const char *fmt, ...) PRINTF(4, 5);
static void note(afk__http *h, int level, const char *event,
                 const char *fmt, ...)
{
	char msg[AFK__LOG_SIZE];
	va_list ap;

	if (!afk__log_wants(h->opts.log, level))
		return;
	va_start(ap, fmt);
	vformat_redacted(h, msg, sizeof(msg), fmt, ap);
	va_end(ap);
	afk__log_str(h->opts.log, level, event, msg);
}

int afk__http_add_secret(afk__http *h, const char *secret)
{
	size_t i;
	char *s;

	if (h == NULL || secret == NULL || secret[0] == '\0')
		return AFK_OK;
	for (i = 0; i < h->nsecrets; i++)
		if (strcmp(h->secrets[i], secret) == 0)
			return AFK_OK;
	if (afk__grow((void **)&h->secrets, &h->capsecrets, h->nsecrets, 2,
	              sizeof(*h->secrets)))
		return AFK_ENOMEM;
	s = afk__strdup(secret);
	if (s == NULL)
		return AFK_ENOMEM;
	h->secrets[h->nsecrets++] = s;
	h->secrets[h->nsecrets] = NULL;
	return AFK_OK;
}

void afk__http_drop_secret(afk__http *h, const char *secret)
{
	size_t i;

	if (h == NULL || secret == NULL)
		return;
	for (i = 0; i < h->nsecrets; i++)
		if (strcmp(h->secrets[i], secret) == 0) {
			afk__free_secret(h->secrets[i]);
			/* the NULL that ends the list moves too */
			memmove(&h->secrets[i], &h->secrets[i + 1],
			        (h->nsecrets - i) * sizeof(*h->secrets));
			h->nsecrets--;
			return;
		}
}

const char *afk__http_errmsg(const afk__http *h)
{
	return h != NULL ? h->errmsg : "";
}

const char *afk__http_warning(const afk__http *h)
{
	return h != NULL ? h->warning : "";
}

void afk__http_get_stats(const afk__http *h, afk__http_stats *out)
{
	if (h != NULL)
		*out = h->stats;
	else
		memset(out, 0, sizeof(*out));
}

/* --- clocks and numbers ---------------------------------------------- */

static long long wall_now(void)
{
	return (long long)time(NULL);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes the epoch second t as "2025-11-25T03:00:00Z" into buf (32). */
static void utc_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", t);
}

/* Parses a whole non-negative decimal number; -1 when s is not one. */
static long long parse_count(const char *s)
{
	long long n = 0;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (LLONG_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*s - '0');
	}
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0' ? n : -1;
}

/* The deadline a retry-after value names (seconds, or an HTTP date),
 * as epoch seconds; -1 when it names none. */
static long long retry_after_deadline(const char *v, long long now)
{
	long long n = parse_count(v);
	time_t t;

	if (n >= 0)
		return n > LLONG_MAX - now ? LLONG_MAX : now + n;
	if (v == NULL)
		return -1;
	t = curl_getdate(v, NULL);
	return t == (time_t)-1 ? -1 : (long long)t;
}

/* --- the ETag cache -------------------------------------------------- */

/* The entry for key, or NULL. */
static json_t *cache_get(afk__http *h, const char *key)
{
	return key != NULL ? json_object_get(h->cache, key) : NULL;
}

static size_t entry_bytes(json_t *e)
{
	return json_string_length(json_object_get(e, "body")) +
	       json_string_length(json_object_get(e, "memo"));
}

static long long entry_seq(json_t *e)
{
	return json_integer_value(json_object_get(e, "seq"));
}

static void cache_drop(afk__http *h, const char *key)
{
	json_t *e = json_object_get(h->cache, key);

	if (e == NULL)
		return;
	h->cache_bytes -= entry_bytes(e);
	json_object_del(h->cache, key);
	h->cache_dirty = 1;
}

typedef struct aged {
	long long seq;
	const char *key;
} aged;

static int by_seq(const void *a, const void *b)
{
	const aged *x = a, *y = b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The entries' keys, least recently used first (free() it; the keys
 * are h->cache's); NULL when memory ran out. */
static aged *cache_by_age(afk__http *h, size_t *n)
{
	const char *key;
	size_t i = 0;
	json_t *e;
	aged *v;

	*n = json_object_size(h->cache);
	v = malloc((*n > 0 ? *n : 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	json_object_foreach(h->cache, key, e) {
		v[i].seq = entry_seq(e);
		v[i++].key = key;
	}
	qsort(v, *n, sizeof(*v), by_seq);
	return v;
}

/* A cache is an optimisation: when memory runs out, start again empty. */
static void cache_reset(afk__http *h)
{
	json_object_clear(h->cache);
	h->cache_bytes = 0;
	h->cache_seq = 0;
	h->cache_dirty = 1;
}

/* Drops the least recently used entries until the cache is within its
 * bounds: one sort, not a scan per entry dropped. */
static void cache_trim(afk__http *h)
{
	size_t n, i;
	aged *v;

	if (json_object_size(h->cache) <= CACHE_ENTRIES_MAX &&
	    h->cache_bytes <= (size_t)CACHE_BYTES_MAX)
		return;
	v = cache_by_age(h, &n);
	if (v == NULL) {
		cache_reset(h);
		return;
	}
	/* Deleting one member frees only its own key: the others' stay. */
	for (i = 0; i < n && (json_object_size(h->cache) > CACHE_ENTRIES_MAX ||
	                      h->cache_bytes > (size_t)CACHE_BYTES_MAX); i++)
		cache_drop(h, v[i].key);
	free(v);
	note(h, AFK_LOG_INFO, "http.cache.evicted", "ETag cache %s: %zu "
	     "least recently used entries dropped to stay within %d entries "
	     "and %lld bytes", h->cache_path != NULL ? h->cache_path :
	     "(in memory)", i, CACHE_ENTRIES_MAX, (long long)CACHE_BYTES_MAX);
}

/* The next seq.  Seqs stay within 0..SEQ_MAX (a file with any other is
 * refused), so counting up never overflows: at the top the entries are
 * numbered again from 1, in the same order. */
static json_int_t next_seq(afk__http *h)
{
	size_t n, i;
	aged *v;

	if (h->cache_seq >= SEQ_MAX) {
		v = cache_by_age(h, &n);
		if (v == NULL) {
			cache_reset(h);
		} else {
			for (i = 0; i < n; i++)
				json_object_set_new(json_object_get(h->cache,
				                    v[i].key), "seq",
				                    json_integer((json_int_t)i + 1));
			h->cache_seq = (long long)n;
			h->cache_dirty = 1;
			free(v);
		}
	}
	return (json_int_t)++h->cache_seq;
}

/* Marks an entry as just used, for the eviction order.  Not a change
 * worth writing the file for. */
static void cache_touch(afk__http *h, json_t *e)
{
	json_int_t seq = next_seq(h);

	json_object_set_new(e, "seq", json_integer(seq));
}

/* Stores body under key with its validators.  A body that is not UTF-8
 * (JSON strings must be) or does not fit is simply not cached. */
static void cache_put(afk__http *h, const char *key, const char *etag,
                      const char *link, const char *body, size_t len)
{
	json_t *e;

	cache_drop(h, key);
	if (len > (size_t)CACHE_BYTES_MAX / 4)
		return;
	e = json_pack("{s:s, s:o, s:s%, s:I}", "etag", etag, "link",
	              link != NULL ? json_string(link) : json_null(), "body",
	              body, len, "seq", next_seq(h));
	if (e == NULL)
		return;
	if (json_object_set_new(h->cache, key, e) != 0)
		return;
	h->cache_bytes += len;
	h->cache_dirty = 1;
	cache_trim(h);
}

/* Why the loaded document is not a cache, or NULL; sums the bodies. */
static const char *cache_check(json_t *doc, long long *max_seq,
                               size_t *bytes)
{
	json_t *entries, *e, *link, *seq;
	const char *key;

	if (!json_is_object(doc))
		return "not a JSON object";
	if (json_integer_value(json_object_get(doc, "version")) !=
	    CACHE_VERSION)
		return "unknown version";
	entries = json_object_get(doc, "entries");
	if (!json_is_object(entries))
		return "no entries object";
	*max_seq = 0;
	*bytes = 0;
	json_object_foreach(entries, key, e) {
		link = json_object_get(e, "link");
		seq = json_object_get(e, "seq");
		if (!json_is_object(e) || !json_is_integer(seq))
			return "an entry is malformed";
		if (json_integer_value(seq) < 0 ||
		    json_integer_value(seq) > SEQ_MAX)
			return "an entry's seq is out of range";
		if (strncmp(key, MEMO_PREFIX, strlen(MEMO_PREFIX)) == 0) {
			if (!json_is_string(json_object_get(e, "memo")) ||
			    !json_is_string(json_object_get(e, "version")))
				return "a memo is malformed";
		} else if (!json_is_string(json_object_get(e, "etag")) ||
		           !json_is_string(json_object_get(e, "body")) ||
		           (link != NULL && !json_is_string(link) &&
		            !json_is_null(link))) {
			return "an entry is malformed";
		}
		if (json_integer_value(seq) > *max_seq)
			*max_seq = json_integer_value(seq);
		*bytes += entry_bytes(e);
	}
	return NULL;
}

/* What the file at st is when it is not a regular one, for messages. */
static const char *file_kind(const struct stat *st)
{
	if (S_ISFIFO(st->st_mode))
		return "a FIFO";
	if (S_ISDIR(st->st_mode))
		return "a directory";
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		return "a device";
	if (S_ISSOCK(st->st_mode))
		return "a socket";
	return "not a regular file";
}

static int same_file(const file_id *id, const struct stat *st)
{
	return id->known && id->dev == st->st_dev && id->ino == st->st_ino &&
	       id->size == st->st_size &&
	       id->mtime_s == st->st_mtim.tv_sec &&
	       id->mtime_ns == st->st_mtim.tv_nsec;
}

static void set_file_id(file_id *id, const struct stat *st)
{
	id->known = 1;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime_s = st->st_mtim.tv_sec;
	id->mtime_ns = st->st_mtim.tv_nsec;
}

/* Reads the cache file unless it is still the one h->file_id names.
 * Opened only once it is known to be a regular file, and without
 * blocking: open() of a FIFO would wait for a writer forever.  Returns
 * CACHE_READ with *entries (a new reference), *max_seq, *bytes and
 * h->file_id set; CACHE_SAME (the file h last read or wrote) or
 * CACHE_NONE (no file) with *entries NULL; CACHE_BAD with why (an
 * unreadable or corrupt file); CACHE_NOTREG with why (a FIFO, a
 * directory, a device: never to be read or replaced). */
enum { CACHE_READ, CACHE_SAME, CACHE_NONE, CACHE_BAD, CACHE_NOTREG };

static int cache_read(afk__http *h, json_t **entries, long long *max_seq,
                      size_t *bytes, char *why, size_t size)
{
	char text[JSON_ERROR_TEXT_LENGTH];
	json_error_t err;
	struct stat st;
	json_t *doc;
	const char *bad;
	FILE *fp;
	int fd, gone;

	*entries = NULL;
	if (stat(h->cache_path, &st) != 0) {
		if (errno == ENOENT)
			return CACHE_NONE;
		snprintf(why, size, "%s", strerror(errno));
		return CACHE_BAD;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, size, "%s", file_kind(&st));
		return CACHE_NOTREG;
	}
	if (same_file(&h->file_id, &st))
		return CACHE_SAME;
	fd = open(h->cache_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		gone = errno == ENOENT;
		snprintf(why, size, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return gone ? CACHE_NONE : CACHE_BAD;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, size, "%s", file_kind(&st));
		return CACHE_NOTREG;
	}
	if (st.st_size > CACHE_FILE_MAX) {
		close(fd);
		snprintf(why, size, "larger than %ld bytes", (long)CACHE_FILE_MAX);
		return CACHE_BAD;
	}
	/* Through stdio: json_loadfd() reads a byte per system call. */
	fp = fdopen(fd, "r");
	if (fp == NULL) {
		snprintf(why, size, "%s", strerror(errno));
		close(fd);
		return CACHE_BAD;
	}
	doc = json_loadf(fp, JSON_REJECT_DUPLICATES, &err);
	fclose(fp);
	if (doc == NULL) {
		snprintf(why, size, "line %d: %s", err.line,
		         afk__jsonpos_reason(&err, text, sizeof(text)));
		return CACHE_BAD;
	}
	bad = cache_check(doc, max_seq, bytes);
	if (bad != NULL) {
		snprintf(why, size, "%s", bad);
		json_decref(doc);
		return CACHE_BAD;
	}
	*entries = json_incref(json_object_get(doc, "entries"));
	json_decref(doc);
	set_file_id(&h->file_id, &st);
	return CACHE_READ;
}

/* Reads the cache file, if any, into h->cache.  An unreadable or corrupt
 * file is a warning and an empty cache: a cache is an optimisation.
 * One that is not a regular file is refused: AFK_ECONFIG, naming it in
 * errbuf. */
static int cache_load(afk__http *h, char *errbuf)
{
	char why[AFK__ERRMSG_SIZE];
	long long max_seq;
	json_t *entries;
	size_t bytes;

	if (h->cache_path == NULL)
		return AFK_OK;
	switch (cache_read(h, &entries, &max_seq, &bytes, why, sizeof(why))) {
	case CACHE_NOTREG:
		if (errbuf != NULL)
			afk__errf(errbuf, "%s is %s, not a "
			          "regular file: refused, nothing read from or "
			          "written to it (name a file, or null)",
			          h->cache_path, why);
		return AFK_ECONFIG;
	case CACHE_BAD:
		warn(h, "http.cache.unreadable",
		     "ETag cache %s ignored: %s", h->cache_path, why);
		return AFK_OK;
	case CACHE_READ:
		break;
	default:
		return AFK_OK;
	}
	json_decref(h->cache);
	h->cache = entries;
	h->cache_seq = max_seq;
	h->cache_bytes = bytes;
	h->cache_dirty = 0;
	cache_trim(h);          /* dirty when it dropped some: write back */
	return AFK_OK;
}

/* Takes in what another writer saved since h last read or wrote the
 * file: for each key, whichever entry was used last (the higher seq).
 * Either is right - an entry is an ETag with its own body - so this only
 * keeps the other writer's entries from being lost. */
static void cache_merge(afk__http *h, json_t *theirs, long long their_max)
{
	const char *key;
	json_t *e, *ours;
	size_t old;

	json_object_foreach(theirs, key, e) {
		ours = json_object_get(h->cache, key);
		if (ours != NULL && entry_seq(ours) >= entry_seq(e))
			continue;
		old = ours != NULL ? entry_bytes(ours) : 0;
		if (json_object_set(h->cache, key, e) == 0)
			h->cache_bytes = h->cache_bytes - old + entry_bytes(e);
	}
	if (their_max > h->cache_seq)
		h->cache_seq = their_max;
	cache_trim(h);
}

/* Takes the lock file beside the cache ("PATH.lock", kept), waiting at
 * most LOCK_WAIT_MS for another writer.  Returns its descriptor (closing
 * it unlocks) with *locked, 1 unless the file system has no locks (then
 * the save goes on unlocked), or -1 with a warning: the save waits for
 * the next flush. */
static int cache_lock(afk__http *h, int *locked)
{
	long long until = mono_ms() + LOCK_WAIT_MS;
	struct timespec nap = {0, 10 * 1000 * 1000};
	struct stat st;
	char *path;
	int fd;

	*locked = 0;
	path = afk__aprintf("%s.lock", h->cache_path);
	if (path == NULL) {
		warn(h, "http.cache.unwritable",
		     "ETag cache %s not written: out of memory",
		     h->cache_path);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		warn(h, "http.cache.unwritable",
		     "ETag cache %s not written: its lock %s: %s",
		     h->cache_path, path, fd < 0 ? strerror(errno) :
		     "not a regular file");
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			free(path);
			return fd;
		}
		if (mono_ms() >= until) {
			warn(h, "http.cache.unwritable",
			     "ETag cache %s not written: %s is held by another "
			     "writer; kept for the next flush", h->cache_path,
			     path);
			close(fd);
			free(path);
			return -1;
		}
		nanosleep(&nap, NULL);
	}
	*locked = 1;
	free(path);
	return fd;
}

/* Removes the temporaries ("PATH.tmp-XXXXXX") a killed writer left
 * beside the cache, each up to the size of a whole cache file.  A
 * writer makes one only while it holds the lock, so under the lock
 * every one is stale; without a lock only those older than
 * STALE_TMP_S are. */
static void cache_sweep(afk__http *h, int locked)
{
	const char *slash = strrchr(h->cache_path, '/'), *base, *n;
	size_t blen, tlen = strlen(TMP_TAG);
	long long now = wall_now();
	struct dirent *de;
	struct stat st;
	char *dir;
	DIR *d;

	base = slash != NULL ? slash + 1 : h->cache_path;
	dir = slash == NULL ? afk__strdup(".") : slash == h->cache_path ?
	      afk__strdup("/") : afk__aprintf("%.*s",
	      (int)(slash - h->cache_path), h->cache_path);
	d = dir != NULL ? opendir(dir) : NULL;
	free(dir);
	if (d == NULL)
		return;
	blen = strlen(base);
	while ((de = readdir(d)) != NULL) {
		n = de->d_name;
		if (strncmp(n, base, blen) != 0 ||
		    strncmp(n + blen, TMP_TAG, tlen) != 0 ||
		    strlen(n + blen + tlen) != 6 ||
		    fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (locked || now - (long long)st.st_mtime > STALE_TMP_S)
			unlinkat(dirfd(d), n, 0);
	}
	closedir(d);
}

/* Writes the cache file atomically: a temporary file beside it, private
 * (it holds API responses), synced, then renamed over it.  A reader sees
 * the old file or the new one, never half of one. */
static void cache_write(afk__http *h)
{
	struct stat st;
	json_t *doc;
	char *tmp;
	FILE *fp = NULL;
	int fd, ok = 0;

	doc = json_pack("{s:i, s:O}", "version", CACHE_VERSION, "entries",
	                h->cache);
	tmp = afk__aprintf("%s" TMP_TAG "XXXXXX", h->cache_path);
	if (doc == NULL || tmp == NULL) {
		warn(h, "http.cache.unwritable",
		     "ETag cache %s not written: out of memory",
		     h->cache_path);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		warn(h, "http.cache.unwritable",
		     "ETag cache %s not written: %s", h->cache_path,
		     strerror(errno));
		goto out;
	}
	fp = fdopen(fd, "w");
	if (fp == NULL)
		close(fd);
	else if (fchmod(fd, 0600) == 0 &&
	         json_dumpf(doc, fp, JSON_COMPACT) == 0 && fflush(fp) == 0 &&
	         fsync(fd) == 0 && fstat(fd, &st) == 0)
		ok = 1;
	if (fp != NULL && fclose(fp) != 0)
		ok = 0;
	if (ok && rename(tmp, h->cache_path) != 0)
		ok = 0;
	if (!ok) {
		warn(h, "http.cache.unwritable",
		     "ETag cache %s not written: %s", h->cache_path,
		     strerror(errno));
		unlink(tmp);
	} else {
		set_file_id(&h->file_id, &st);
		h->cache_dirty = 0;
	}
out:
	free(tmp);
	json_decref(doc);
}

/* Saves a changed cache: under the lock, merged with what another
 * writer (another tick, another adapter's handle) saved meanwhile, so
 * that neither loses the other's entries. */
static void cache_save(afk__http *h)
{
	char why[AFK__ERRMSG_SIZE];
	long long their_max = 0;
	json_t *theirs = NULL;
	size_t bytes;
	int fd, locked;

	if (h->cache_path == NULL || !h->cache_dirty ||
	    h->opts.etag_cache_read_only)
		return;
	fd = cache_lock(h, &locked);
	if (fd < 0)
		return;
	switch (cache_read(h, &theirs, &their_max, &bytes, why, sizeof(why))) {
	case CACHE_NOTREG:
		warn(h, "http.cache.unwritable",
		     "ETag cache %s not written: it is %s, not a regular "
		     "file", h->cache_path, why);
		close(fd);
		return;
	case CACHE_READ:
		cache_merge(h, theirs, their_max);
		json_decref(theirs);
		break;
	default:                /* none, ours, or corrupt: replaced */
		break;
	}
	cache_sweep(h, locked);
	cache_write(h);
	close(fd);
}

/* --- making and freeing ---------------------------------------------- */

/* --- memos ---------------------------------------------------------- */

const char *afk__http_memo_get(afk__http *h, const char *key,
                               const char *version)
{
	char *k;
	json_t *e;

	if (h == NULL || key == NULL || version == NULL)
		return NULL;
	k = afk__aprintf(MEMO_PREFIX "%s", key);
	e = k != NULL ? json_object_get(h->cache, k) : NULL;
	free(k);
	if (e == NULL || strcmp(json_string_value(json_object_get(e,
	    "version")), version) != 0)
		return NULL;
	cache_touch(h, e);
	return json_string_value(json_object_get(e, "memo"));
}

void afk__http_memo_put(afk__http *h, const char *key, const char *version,
                        const char *value)
{
	char *k;
	json_t *e, *old;

	if (h == NULL || key == NULL || version == NULL || value == NULL ||
	    strlen(value) > MEMO_MAX || strlen(version) > MEMO_MAX)
		return;
	k = afk__aprintf(MEMO_PREFIX "%s", key);
	if (k == NULL)
		return;
	old = json_object_get(h->cache, k);
	if (old != NULL &&
	    strcmp(json_string_value(json_object_get(old, "version")),
	           version) == 0 &&
	    strcmp(json_string_value(json_object_get(old, "memo")),
	           value) == 0) {
		cache_touch(h, old);
		free(k);
		return;
	}
	cache_drop(h, k);
	e = json_pack("{s:s, s:s, s:I}", "memo", value, "version", version,
	              "seq", next_seq(h));
	if (e != NULL && json_object_set_new(h->cache, k, e) == 0) {
		h->cache_bytes += strlen(value);
		h->cache_dirty = 1;
		cache_trim(h);
	}
	free(k);
}

void afk__http_flush(afk__http *h)
{
	if (h != NULL) {
		h->warning[0] = '\0';
		cache_save(h);
	}
}

static int opts_problem(const afk__http_opts *o, char *errbuf)
{
	const char *what = NULL;

	if (o->per_host < 1 || o->per_host > 64)
		what = "per_host";
	else if (o->connect_timeout < 1 || o->timeout < 1)
		what = "a timeout";
	else if (o->max_body < 1024)
		what = "max_body";
	else if (o->max_pages < 1)
		what = "max_pages";
	else if (o->rate_reserve < 0)
		what = "rate_reserve";
	if (what == NULL)
		return AFK_OK;
	if (errbuf != NULL)
		afk__errf(errbuf, "http: %s is out of range", what);
	return AFK_EINVAL;
}

/* curl_global_init is counted by libcurl: each handle takes one
 * reference and afk__http_free() gives it back (see http.h for the
 * rule a threaded host follows). */
int afk__http_new(afk__http **out, const afk__http_opts *opts,
                  char *errbuf)
{
	afk__http *h;
	long conns;

	if (out == NULL || opts == NULL)
		return AFK_EINVAL;
	*out = NULL;
	if (opts_problem(opts, errbuf) != AFK_OK)
		return AFK_EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		if (errbuf != NULL)
			afk__errf(errbuf, "http: libcurl failed to initialise");
		return AFK_EIO;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		curl_global_cleanup();
		if (errbuf != NULL)
			afk__errf(errbuf, "out of memory");
		return AFK_ENOMEM;
	}
	h->opts = *opts;
	h->opts.etag_cache = NULL;
	h->opts.ca_file = NULL;
	h->opts.log = afk__log_ref(opts->log);
	if (opts->ca_file != NULL)
		h->ca_file = afk__strdup(opts->ca_file);
	h->multi = curl_multi_init();
	h->share = curl_share_init();
	h->cache = json_object();
	if (opts->etag_cache != NULL)
		h->cache_path = afk__strdup(opts->etag_cache);
	if (h->multi == NULL || h->share == NULL || h->cache == NULL ||
	    (opts->etag_cache != NULL && h->cache_path == NULL) ||
	    (opts->ca_file != NULL && h->ca_file == NULL)) {
		afk__http_free(h);
		if (errbuf != NULL)
			afk__errf(errbuf, "out of memory");
		return AFK_ENOMEM;
	}
	conns = opts->per_host * 8 > 32 ? opts->per_host * 8 : 32;
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	                  opts->per_host);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, conns);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if (cache_load(h, errbuf) != AFK_OK) {
		afk__http_free(h);
		return AFK_ECONFIG;
	}
	*out = h;
	return AFK_OK;
}

void afk__http_free(afk__http *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	if (h->share != NULL)
		curl_share_cleanup(h->share);
	json_decref(h->cache);
	free(h->cache_path);
	for (i = 0; i < h->nhosts; i++) {
		free(h->hosts[i]->origin);
		free(h->hosts[i]->name);
		free(h->hosts[i]);
	}
	free(h->hosts);
	for (i = 0; i < h->nsecrets; i++)
		afk__free_secret(h->secrets[i]);
	free(h->secrets);
	afk__log_unref(h->opts.log);
	free(h->ca_file);
	free(h);
	curl_global_cleanup();
}

/* The state of origin, made on first sight; NULL when memory ran out. */
static host_state *host_get(afk__http *h, const char *origin,
                            const char *name)
{
	host_state *s;
	size_t i;

	for (i = 0; i < h->nhosts; i++)
		if (strcmp(h->hosts[i]->origin, origin) == 0)
			return h->hosts[i];
	if (afk__grow((void **)&h->hosts, &h->caphosts, h->nhosts, 1,
	              sizeof(*h->hosts)))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->origin = afk__strdup(origin);
	s->name = afk__strdup(name);
	if (s->origin == NULL || s->name == NULL) {
		free(s->origin);
		free(s->name);
		free(s);
		return NULL;
	}
	h->hosts[h->nhosts++] = s;
	return s;
}

/* Blocks a host until the epoch second until, for the reason why. */
static void host_block(host_state *s, afk__http_fail kind, long long until,
                       const char *why)
{
	s->blocked_until = until;
	s->block = kind;
	copy_cut(s->why, sizeof(s->why), why);
}

/* 1 while s is blocked; unblocks it once its deadline has passed. */
static int host_blocked(host_state *s, long long now)
{
	if (s->blocked_until == 0)
		return 0;
	if (now < s->blocked_until)
		return 1;
	s->blocked_until = 0;
	s->why[0] = '\0';
	return 0;
}

/* --- URLs ------------------------------------------------------------ */

/* 1 when host (as libcurl's URL parser returns it) is a loopback
 * address: localhost, 127.0.0.0/8, ::1 or ::ffff:127.x.y.z. */
static int is_loopback(const char *host)
{
	unsigned char a4[4];
	struct in6_addr a6;
	char buf[64];
	size_t n;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a4) == 1)
		return a4[0] == 127;
	n = strlen(host);
	if (n < 3 || n - 2 >= sizeof(buf) || host[0] != '[' ||
	    host[n - 1] != ']')
		return 0;
	memcpy(buf, host + 1, n - 2);
	buf[n - 2] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

/* A parsed URL the layer accepts. */
typedef struct url_info {
	CURLU *u;
	char *text;     /* as libcurl will send it */
	char *origin;   /* "scheme://host:port", host lower-cased */
	char *host;
	int loopback;
} url_info;

static void url_info_free(url_info *ui)
{
	curl_url_cleanup(ui->u);
	curl_free(ui->text);
	free(ui->origin);
	curl_free(ui->host);
	memset(ui, 0, sizeof(*ui));
}

/* Checks the URL held by ui->u against the layer's rules and fills the
 * rest of ui.  Returns NULL, or why the URL is refused (a static
 * string; "" for out of memory). */
static const char *url_check(url_info *ui)
{
	char *scheme = NULL, *port = NULL, *user = NULL, *pass = NULL;
	const char *why = NULL;
	char *p;

	if (curl_url_get(ui->u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		why = "not an absolute URL";
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
		why = "only https (and http to loopback) is allowed";
		goto out;
	}
	if (curl_url_get(ui->u, CURLUPART_HOST, &ui->host, 0) != CURLUE_OK ||
	    curl_url_get(ui->u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		why = "not an absolute URL with a host";
		goto out;
	}
	if (curl_url_get(ui->u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(ui->u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		why = "credentials in a URL are refused (use a secret header)";
		goto out;
	}
	ui->loopback = is_loopback(ui->host);
	if (strcmp(scheme, "http") == 0 && !ui->loopback) {
		why = "plain http is refused except to a loopback address; "
		      "use https";
		goto out;
	}
	if (curl_url_get(ui->u, CURLUPART_URL, &ui->text, 0) != CURLUE_OK) {
		why = "not a URL libcurl can send";
		goto out;
	}
	ui->origin = afk__aprintf("%s://%s:%s", scheme, ui->host, port);
	if (ui->origin == NULL) {
		why = "";
		goto out;
	}
	for (p = ui->origin; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
out:
	curl_free(scheme);
	curl_free(port);
	curl_free(user);
	curl_free(pass);
	return why;
}

/* Parses text, relative to base when base is not NULL, into ui.  Returns
 * NULL or why it is refused ("" for out of memory). */
static const char *url_parse(url_info *ui, const CURLU *base,
                             const char *text)
{
	memset(ui, 0, sizeof(*ui));
	ui->u = base != NULL ? curl_url_dup((CURLU *)base) : curl_url();
	if (ui->u == NULL)
		return "";
	if (curl_url_set(ui->u, CURLUPART_URL, text, 0) != CURLUE_OK)
		return "not a valid absolute URL";
	return url_check(ui);
}

/* The request-time rules, for a URL known before any request (a
 * configuration's): the same parse and the same words, so a refusal
 * reads the same wherever it is made. */
const char *afk__url_check(const char *url)
{
	url_info ui;
	const char *why;

	why = url_parse(&ui, NULL, url);
	url_info_free(&ui);
	return why;
}

/* --- Link headers ---------------------------------------------------- */

static int is_sp(char c)
{
	return c == ' ' || c == '\t';
}

/* 1 when the n bytes at s are the lower-case word w, case ignored. */
static int word_is(const char *s, size_t n, const char *w)
{
	size_t i;
	char c;

	if (strlen(w) != n)
		return 0;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != w[i])
			return 0;
	}
	return 1;
}

/* A heap copy of the n bytes at s (the caller's), or NULL. */
static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* 1 when the rel value (n bytes at v) lists "next" among its words. */
static int rel_has_next(const char *v, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		while (i < n && is_sp(v[i]))
			i++;
		for (j = i; j < n && !is_sp(v[j]); j++)
			;
		if (word_is(v + i, j - i, "next"))
			return 1;
		i = j;
	}
	return 0;
}

/* The target of the rel="next" link of the Link header value v
 * (RFC 8288: <url>; rel="next", <url>; rel="last"), in a heap string
 * (the caller's); NULL when there is none, or when memory ran out, which
 * sets *nomem. */
static char *link_next(const char *v, int *nomem)
{
	const char *lt, *gt, *q, *name, *val;
	size_t nname, nval;
	char *url;
	int next;

	*nomem = 0;
	while (v != NULL && (lt = strchr(v, '<')) != NULL) {
		gt = strchr(lt, '>');
		if (gt == NULL)
			return NULL;
		next = 0;
		for (q = gt + 1; *q != '\0' && *q != ',';) {
			if (*q++ != ';')
				continue;
			while (is_sp(*q))
				q++;
			for (name = q; *q != '\0' && strchr("=;, \t", *q) == NULL;
			     q++)
				;
			nname = (size_t)(q - name);
			while (is_sp(*q))
				q++;
			val = q;
			nval = 0;
			if (*q == '=') {
				q++;
				while (is_sp(*q))
					q++;
				if (*q == '"') {
					for (val = ++q; *q != '\0' && *q != '"'; q++)
						;
					nval = (size_t)(q - val);
					if (*q == '"')
						q++;
				} else {
					for (val = q; *q != '\0' &&
					     strchr(";, \t", *q) == NULL; q++)
						;
					nval = (size_t)(q - val);
				}
			}
			if (word_is(name, nname, "rel") && rel_has_next(val, nval))
				next = 1;
		}
		if (next) {
			url = dupn(lt + 1, (size_t)(gt - lt - 1));
			*nomem = url == NULL;
			return url;
		}
		v = *q == ',' ? q + 1 : NULL;
	}
	return NULL;
}

int afk__http_link_has_next(const char *link)
{
	int nomem;
	char *next = link_next(link, &nomem);

	free(next);
	return next != NULL || nomem;
}

/* --- transfers ------------------------------------------------------- */

/* The response headers a transfer keeps; all but the last reach the
 * request's outputs. */
enum {
	H_ETAG, H_LINK, H_RETRY_AFTER, H_RL_REMAINING, H_RL_RESET,
	H_CONTENT_TYPE, H_LOCATION, NHDR
};
static const char *const hdr_names[NHDR] = {
	"etag", "link", "retry-after", "x-ratelimit-remaining",
	"x-ratelimit-reset", "content-type", "location"
};

typedef enum { X_WAITING, X_RUNNING, X_DONE } xstate;

/* One request on its way through a batch. */
typedef struct xfer {
	afk__http *h;
	afk__http_req *req;
	const char *method;
	int is_get;
	url_info cur;             /* the page being read */
	char *origin;             /* the first page's: all pages stay on it */
	host_state *hs;
	char *vary;               /* the caller's headers, part of cache keys */
	int has_accept;
	int has_type;             /* the caller set Content-Type (a PATCH's
	                             merge-patch+json) */
	CURL *easy;
	struct curl_slist *hdrs;  /* must live while the transfer runs */
	char *key;                /* this page's cache key; NULL: uncached */
	json_t *cached;           /* its entry when If-None-Match was sent;
	                             a reference of ours, since another
	                             transfer may evict it meanwhile */
	char *body;
	size_t len, cap;
	int too_large, nomem;
	char *hv[NHDR];
	char *reason;             /* of the status line: "Not Found", as
	                             sent (unredacted); NULL: none */
	json_t *joined;           /* the pages' elements, when paginated */
	int cached_pages;
	int retried;
	int sent;                 /* a write failed after going out */
	long long not_before;     /* monotonic ms; a retry waits for it */
	xstate state;
	char curl_err[CURL_ERROR_SIZE];
} xfer;

static int fail_rc(afk__http_fail fail)
{
	switch (fail) {
	case AFK__HTTP_OK:
		return AFK_OK;
	case AFK__HTTP_EURL:
		return AFK_EINVAL;
	case AFK__HTTP_EPARSE:
		return AFK_EPARSE;
	case AFK__HTTP_ENOMEM:
		return AFK_ENOMEM;
	case AFK__HTTP_ECONNECT:
	case AFK__HTTP_ETIMEOUT:
		return AFK_EUNAVAIL; /* a tick asks a dead server only once */
	default:
		return AFK_EIO;
	}
}

static void format_redacted(afk__http *h, char *dst, size_t size,
                            const char *fmt, ...) PRINTF(4, 5);
static void format_redacted(afk__http *h, char *dst, size_t size,
                            const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_redacted(h, dst, size, fmt, ap);
	va_end(ap);
}

/* Finishes x as failed: "what: METHOD URL: cause", redacted; a write
 * that went out says first that its outcome is unknown. */
static void x_fail(xfer *x, afk__http_fail fail, const char *fmt, ...)
	PRINTF(3, 4);
static void x_fail(xfer *x, afk__http_fail fail, const char *fmt, ...)
{
	afk__http_req *r = x->req;
	const char *url;
	char *cause;
	va_list ap;

	/* The cause is whole until the message is redacted: a cut before
	 * would leave the prefix of a secret it splits. */
	va_start(ap, fmt);
	cause = afk__vaprintf(fmt, ap);
	va_end(ap);
	url = x->cur.text != NULL ? x->cur.text :
	      r->url != NULL ? r->url : "(no URL)";
	format_redacted(x->h, r->errmsg, sizeof(r->errmsg), "%s%s%s %s: %s%s",
	                r->what != NULL ? r->what : "",
	                r->what != NULL ? ": " : "", x->method, url,
	                x->sent ? "the outcome is unknown (the request was "
	                "sent and may have been applied; read before trying "
	                "again): " : "", cause != NULL ? cause : "out of memory");
	afk__free_secret(cause);
	r->outcome_unknown = x->sent;
	r->fail = fail;
	r->rc = fail_rc(fail);
	x->state = X_DONE;
}

/* Case-insensitive search for the lower-case word w in the n bytes at
 * s. */
static int mentions(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w), i;

	for (i = 0; i + k <= n; i++)
		if (word_is(s + i, k, w))
			return 1;
	return 0;
}

/* Writes into out (SNIPPET + 4 bytes) the start of a server's answer as
 * a message quotes it: at most SNIPPET_SCAN bytes, cut where no secret
 * begins; redacted; control characters and runs of blanks folded to one
 * space; redacted again (the folding may have joined the parts of a
 * secret that a blank split); then cut. */
static void snippet(afk__http *h, const char *data, size_t len, char *out)
{
	const char *const *secrets = (const char *const *)h->secrets;
	char scan[SNIPPET_SCAN + 1];
	size_t n = len, i, o = 0;
	unsigned char c;

	if (data == NULL || n == 0) {
		strcpy(out, "(empty body)");
		return;
	}
	if (n > SNIPPET_SCAN)
		n = afk__redact_cut_len(data, SNIPPET_SCAN, secrets);
	for (i = 0; i < n; i++)
		scan[i] = data[i] != '\0' ? data[i] : ' ';
	scan[n] = '\0';
	afk__redact(scan, sizeof(scan), secrets);
	for (i = 0; scan[i] != '\0'; i++) {
		c = (unsigned char)scan[i];
		if (c <= 0x20 || c == 0x7F) {
			if (o > 0 && scan[o - 1] != ' ')
				scan[o++] = ' ';
		} else {
			scan[o++] = (char)c;
		}
	}
	scan[o] = '\0';
	afk__redact(scan, sizeof(scan), secrets);
	copy_cut(out, SNIPPET + 1, scan);
	if (strlen(scan) > SNIPPET)
		strcat(out, "...");
}

/* --- libcurl's callbacks --------------------------------------------- */

/* Keeps the body, refusing to grow it past max_body: libcurl stops a
 * transfer whose write callback takes less than it was given.  (libcurl
 * checks CURLOPT_MAXFILESIZE_LARGE against a Content-Length it knows;
 * this also stops a chunked or compressed body.) */
static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n;

	if (len > x->h->opts.max_body - x->len) {
		x->too_large = 1;
		return 0;
	}
	if (afk__grow((void **)&x->body, &x->cap, x->len, len + 1, 1)) {
		x->nomem = 1;
		return 0;
	}
	memcpy(x->body + x->len, data, len);
	x->len += len;
	x->body[x->len] = '\0';
	return len;
}

static void clear_headers(xfer *x)
{
	size_t i;

	for (i = 0; i < NHDR; i++) {
		free(x->hv[i]);
		x->hv[i] = NULL;
	}
	free(x->reason);
	x->reason = NULL;
}

/* How much of a header value of vlen bytes at v is kept: all of it up
 * to HEADER_MAX, else HEADER_MAX cut where no secret begins - the value
 * is redacted later, whole, when a message quotes it. */
static size_t header_len(const xfer *x, const char *v, size_t vlen)
{
	if (vlen <= HEADER_MAX)
		return vlen;
	return afk__redact_cut_len(v, HEADER_MAX,
	                           (const char *const *)x->h->secrets);
}

/* Keeps the headers of hdr_names: the first of each, every Link joined
 * with ", ".  A status line starts a new response (after a 100
 * Continue) and forgets the previous one's. */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	xfer *x = ud;
	size_t len = size * n, k, i, vlen;
	const char *colon, *v, *end = data + len, *sp;
	char *joined;

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		clear_headers(x);
		sp = memchr(data, ' ', len);
		sp = sp != NULL ? memchr(sp + 1, ' ', (size_t)(end - sp - 1)) :
		     NULL;
		if (sp != NULL) {
			for (v = sp + 1; end > v && (end[-1] == '\r' ||
			     end[-1] == '\n'); end--)
				;
			x->reason = dupn(v, header_len(x, v, (size_t)(end - v)));
		}
		return len;
	}
	colon = memchr(data, ':', len);
	if (colon == NULL)
		return len;
	k = (size_t)(colon - data);
	for (i = 0; i < NHDR && !word_is(data, k, hdr_names[i]); i++)
		;
	if (i == NHDR)
		return len;
	for (v = colon + 1; v < end && is_sp(*v); v++)
		;
	while (end > v && (is_sp(end[-1]) || end[-1] == '\r' ||
	       end[-1] == '\n'))
		end--;
	vlen = header_len(x, v, (size_t)(end - v));
	if (x->hv[i] == NULL) {
		x->hv[i] = dupn(v, vlen);
	} else if (i == H_LINK && strlen(x->hv[i]) < HEADER_MAX) {
		joined = afk__aprintf("%s, %.*s", x->hv[i], (int)vlen, v);
		if (joined != NULL) {
			free(x->hv[i]);
			x->hv[i] = joined;
		}
	}
	return len;
}

/* --- starting a transfer --------------------------------------------- */

/* The options every attempt of x shares. */
static void x_setup(xfer *x)
{
	afk__http *h = x->h;
	afk__http_req *r = x->req;
	CURL *e = x->easy;

	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS,
	                 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	/* Never follow: a redirect is reported, not taken. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* libcurl's defaults, said out loud: never turned off. */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 h->opts.connect_timeout * 1000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->opts.timeout * 1000L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	                 (curl_off_t)h->opts.max_body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "libafk/" AFK_VERSION_STRING);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_SHARE, h->share);
	/* Loopback traffic never goes through a proxy from the
	 * environment. */
	if (x->cur.loopback)
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	/* libcurl sends a request again, on a fresh connection, when the
	 * reused one it went out on dies before any answer - harmless for
	 * a GET, a second comment or message for a write.  A write gets a
	 * connection of its own, which libcurl never retries on, and
	 * leaves no connection behind for the GETs. */
	if (!x->is_get) {
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	}
	if (x->is_get) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(x->method, "DELETE") == 0 && r->json == NULL) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		                 r->json != NULL ? r->json : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(r->json != NULL ?
		                              strlen(r->json) : 0));
		if (strcmp(x->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
	}
}

/* Frees request header lines, wiped first: one is the secret header. */
static void free_lines(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			afk__wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* Appends line to *l; 0, or -1 when memory ran out (*l unchanged). */
static int add_line(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (n == NULL)
		return -1;
	*l = n;
	return 0;
}

/* The request headers of this attempt: ours, the caller's, the secret
 * one, and If-None-Match when the cache holds this page. */
static int x_headers(xfer *x)
{
	afk__http_req *r = x->req;
	struct curl_slist *l = NULL;
	const char *const *hp;
	char *inm = NULL;
	int bad = 0;

	json_decref(x->cached);
	x->cached = json_incref(cache_get(x->h, x->key));
	if (x->cached != NULL) {
		inm = afk__aprintf("If-None-Match: %s", json_string_value(
		                   json_object_get(x->cached, "etag")));
		bad |= inm == NULL;
	}
	if (!x->has_accept)
		bad |= add_line(&l, "Accept: application/json");
	if (r->json != NULL && !x->has_type)
		bad |= add_line(&l, "Content-Type: application/json");
	else if (!x->is_get)
		bad |= add_line(&l, "Content-Type:");
	bad |= add_line(&l, "Expect:");
	for (hp = r->headers; hp != NULL && *hp != NULL; hp++)
		bad |= add_line(&l, *hp);
	if (r->secret_header != NULL)
		bad |= add_line(&l, r->secret_header);
	if (inm != NULL)
		bad |= add_line(&l, inm);
	free(inm);
	if (bad) {
		free_lines(l);
		return -1;
	}
	free_lines(x->hdrs);
	x->hdrs = l;
	return 0;
}

/* Sends the current page of x. */
static void x_start(xfer *x)
{
	afk__http *h = x->h;

	if (x->easy == NULL) {
		x->easy = curl_easy_init();
		if (x->easy == NULL) {
			x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
			return;
		}
		x_setup(x);
	}
	free(x->key);
	x->key = NULL;
	if (x->is_get) {
		x->key = x->vary != NULL ?
		         afk__aprintf("%s\n%s", x->cur.text, x->vary) :
		         afk__strdup(x->cur.text);
		if (x->key == NULL) {
			x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
			return;
		}
	}
	if (x_headers(x) != 0) {
		x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
		return;
	}
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->easy, CURLOPT_URL, x->cur.text);
	x->len = 0;
	if (x->body != NULL)
		x->body[0] = '\0';
	x->too_large = x->nomem = 0;
	x->curl_err[0] = '\0';
	clear_headers(x);
	if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
		x_fail(x, AFK__HTTP_ENOMEM, "libcurl refused the transfer");
		return;
	}
	x->state = X_RUNNING;
	x->hs->active++;
	h->stats.sent++;
}

/* --- finishing a transfer -------------------------------------------- */

/* Moves the kept response headers into the request's outputs. */
static void take_headers(xfer *x)
{
	afk__http_req *r = x->req;
	char **out[H_LOCATION] = {
		&r->etag, &r->link, &r->retry_after, &r->ratelimit_remaining,
		&r->ratelimit_reset, &r->content_type
	};
	size_t i;

	for (i = 0; i < H_LOCATION; i++) {
		free(*out[i]);
		*out[i] = x->hv[i];
		x->hv[i] = NULL;
	}
}

static void fail_transport(xfer *x, CURLcode res)
{
	const char *detail = x->curl_err[0] != '\0' ? x->curl_err :
	                     curl_easy_strerror(res);
	long oserr = 0, sent = 0;

	/* Request bytes went out: the server may have acted on a write. */
	curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &sent);
	x->sent = !x->is_get && sent > 0;

	if (x->nomem) {
		x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
		return;
	}
	if (x->too_large || res == CURLE_FILESIZE_EXCEEDED) {
		x_fail(x, AFK__HTTP_ETOOLARGE, "response too large: more than "
		       "%zu bytes (http.max_body)", x->h->opts.max_body);
		return;
	}
	switch (res) {
	case CURLE_COULDNT_RESOLVE_HOST:
		x_fail(x, AFK__HTTP_EDNS, "cannot resolve host %s (DNS): %s",
		       x->cur.host, detail);
		break;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
		x_fail(x, AFK__HTTP_ECONNECT, "%s: %s",
		       oserr == ECONNREFUSED ? "connection refused" :
		       "cannot connect", detail);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		x_fail(x, AFK__HTTP_ETIMEOUT, "timed out: %s", detail);
		break;
	case CURLE_PARTIAL_FILE:
		x_fail(x, AFK__HTTP_ETRUNCATED, "truncated response: %s",
		       detail);
		break;
	case CURLE_GOT_NOTHING:
		x_fail(x, AFK__HTTP_ENET, "the server closed the connection "
		       "without answering: %s", detail);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
		x_fail(x, AFK__HTTP_ETLS, "TLS failed: %s", detail);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		x_fail(x, AFK__HTTP_EURL, "refused: %s", detail);
		break;
	case CURLE_OUT_OF_MEMORY:
		x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
		break;
	default:
		x_fail(x, AFK__HTTP_ENET, "%s", detail);
		break;
	}
}

/* Handles a 403 or 429 by GitHub's rules.  Returns 1 when it was a rate
 * limit (x failed, its host blocked), 0 when it is an ordinary status. */
static int rate_limit(xfer *x, long status, long long now)
{
	afk__http_req *r = x->req;
	host_state *hs = x->hs;
	char why[AFK__ERRMSG_SIZE], when[32], snip[SNIPPET + 4];
	long long until = retry_after_deadline(r->retry_after, now), reset;
	int shift;

	if (until < 0 && parse_count(r->ratelimit_remaining) == 0 &&
	    (reset = parse_count(r->ratelimit_reset)) >= 0)
		until = reset;
	if (until < 0) {
		if (status != 429 &&
		    !mentions(x->body != NULL ? x->body : "",
		              x->len < SNIPPET_SCAN ? x->len : SNIPPET_SCAN,
		              "rate limit"))
			return 0;
		/* A secondary limit with no hint: a minute, doubling. */
		shift = hs->backoffs < 6 ? hs->backoffs : 6;
		until = now + BACKOFF_FIRST_S * (1LL << shift);
		if (until > now + BACKOFF_MAX_S)
			until = now + BACKOFF_MAX_S;
		hs->backoffs++;
	}
	if (until <= now)
		until = now + 1;
	utc_time(until, when, sizeof(when));
	snprintf(why, sizeof(why), "rate limited by %s until %s", hs->name,
	         when);
	host_block(hs, AFK__HTTP_ERATELIMIT, until, why);
	snippet(x->h, x->body, x->len, snip);
	x_fail(x, AFK__HTTP_ERATELIMIT, "%s; retry after %lld s (HTTP %ld: %s)",
	       why, until - now, status, snip);
	r->retry_at = until;
	note(x->h, AFK_LOG_WARNING, "http.rate_limited", "%s (HTTP %ld); "
	     "requests to it fail until then", why, status);
	return 1;
}

/* Blocks the host once its x-ratelimit-remaining is down to the
 * reserve; the response that said so is still used. */
static void check_reserve(xfer *x, long long now)
{
	afk__http_req *r = x->req;
	long long left = parse_count(r->ratelimit_remaining), until;
	char why[AFK__ERRMSG_SIZE], when[32];

	if (left < 0 || left > x->h->opts.rate_reserve)
		return;
	until = parse_count(r->ratelimit_reset);
	if (until <= now)
		until = now + RESERVE_WAIT_S;
	utc_time(until, when, sizeof(when));
	snprintf(why, sizeof(why), "rate-limit reserve reached: %s has %lld "
	         "requests left (http.rate_reserve is %ld) until %s",
	         x->hs->name, left, x->h->opts.rate_reserve, when);
	host_block(x->hs, AFK__HTTP_ERESERVE, until, why);
	note(x->h, AFK_LOG_WARNING, "http.rate_reserve", "%s; requests to it "
	     "fail until then", why);
}

/* Finishes a paginated request with the joined array. */
static void finish_joined(xfer *x)
{
	afk__http_req *r = x->req;

	r->data = json_dumps(x->joined, JSON_COMPACT);
	if (r->data == NULL) {
		x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
		return;
	}
	r->len = strlen(r->data);
	r->from_cache = x->cached_pages == r->pages;
	r->rc = AFK_OK;
	x->state = X_DONE;
}

/* A page arrived (text, len bytes; from the cache or not): finishes x,
 * or sets it waiting for its next page. */
static void page_done(xfer *x, const char *text, size_t len, int cached)
{
	afk__http *h = x->h;
	afk__http_req *r = x->req;
	json_error_t err;
	json_t *page;
	url_info next;
	const char *why;
	char why_buf[JSON_ERROR_TEXT_LENGTH];
	char *target;
	int nomem;

	r->pages++;
	if (!r->paginate) {
		if (!cached && x->body != NULL) {
			r->data = x->body;
			x->body = NULL;
			x->cap = 0;
		} else {
			r->data = dupn(text, len);
		}
		if (r->data == NULL && (r->data = afk__strdup("")) == NULL) {
			x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
			return;
		}
		r->len = len;
		r->from_cache = cached;
		r->rc = AFK_OK;
		x->state = X_DONE;
		return;
	}
	page = json_loadb(text, len, 0, &err);
	if (page == NULL) {
		x_fail(x, AFK__HTTP_EPARSE, "page %d is not valid JSON: %s "
		       "(line %d, column %d)", r->pages,
		       afk__jsonpos_reason(&err, why_buf, sizeof(why_buf)),
		       err.line, err.column);
		return;
	}
	if (!json_is_array(page) || json_array_extend(x->joined, page) != 0) {
		json_decref(page);
		x_fail(x, AFK__HTTP_EPARSE, "page %d is not a JSON array",
		       r->pages);
		return;
	}
	json_decref(page);
	target = r->link != NULL ? link_next(r->link, &nomem) : NULL;
	if (target == NULL) {
		if (r->link != NULL && nomem)
			x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
		else
			finish_joined(x);
		return;
	}
	if (r->pages >= h->opts.max_pages) {
		if (r->partial_ok) {
			r->truncated = 1;
			finish_joined(x);
		} else {
			x_fail(x, AFK__HTTP_EPAGES, "more than %ld pages "
			       "(http.max_pages); the next is %s", h->opts.max_pages,
			       target);
		}
		free(target);
		return;
	}
	why = url_parse(&next, x->cur.u, target);
	if (why != NULL && why[0] == '\0')
		x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
	else if (why != NULL)
		x_fail(x, AFK__HTTP_ELINK, "next page %s refused: %s", target, why);
	else if (strcmp(next.origin, x->origin) != 0)
		x_fail(x, AFK__HTTP_ELINK, "next page %s is on another origin "
		       "(%s, not %s); not followed", target, next.origin,
		       x->origin);
	free(target);
	if (x->state == X_DONE) {
		url_info_free(&next);
		return;
	}
	url_info_free(&x->cur);
	x->cur = next;
	x->retried = 0;
	x->not_before = 0;
}

/* The status line's text as a message quotes it (REASON_MAX + 1
 * bytes): redacted whole, then cut. */
static void reason_of(const xfer *x, char *out)
{
	char *r;

	r = afk__redact_dup(x->reason != NULL ? x->reason : "",
	                    (const char *const *)x->h->secrets);
	copy_cut(out, REASON_MAX + 1, r != NULL ? r : "");
	free(r);
}

/* Handles a response that is not a page: a 3xx, 4xx or 5xx. */
static void status_failed(xfer *x, long status)
{
	afk__http_req *r = x->req;
	char snip[SNIPPET + 4], reason[REASON_MAX + 1];
	long long ra;

	if (status >= 500 && x->is_get && !x->retried) {
		ra = parse_count(r->retry_after);
		if (ra <= WAIT_MAX_S) {
			x->retried = 1;
			x->not_before = mono_ms() +
			                (ra > 0 ? ra * 1000 : RETRY_5XX_MS);
			note(x->h, AFK_LOG_INFO, "http.retry", "%s%sGET %s: "
			     "HTTP %ld; retried once", r->what != NULL ?
			     r->what : "", r->what != NULL ? ": " : "",
			     x->cur.text != NULL ? x->cur.text : "(no URL)",
			     status);
			return;
		}
	}
	/* The caller may want the server's answer (Slack's word, a 404). */
	r->data = x->body != NULL ? x->body : afk__strdup("");
	r->len = x->body != NULL ? x->len : 0;
	x->body = NULL;
	x->cap = 0;
	snippet(x->h, r->data, r->len, snip);
	reason_of(x, reason);
	if (status == 304)
		x_fail(x, AFK__HTTP_ESTATUS, "answered 304 Not Modified to a "
		       "request the cache did not make");
	else if (status >= 300 && status < 400)
		x_fail(x, AFK__HTTP_EREDIRECT, "answered %ld %s (a redirect to %s), "
		       "not followed", status, reason,
		       x->hv[H_LOCATION] != NULL ? x->hv[H_LOCATION] : "nowhere");
	else
		x_fail(x, AFK__HTTP_ESTATUS, "HTTP %ld %s%s: %s", status,
		       reason, x->retried ? " (also on the retry)" : "", snip);
}

/* Logs the debug line "http.request" of a response (status) or a
 * transport failure (status 0): the human text fmt formats, then a tail
 * a host may read - " host=H status=C", and " remaining=N" when the
 * response carried x-ratelimit-remaining.  The host is the URL's alone
 * (no path, no query, no user information).  The text is formatted
 * through the redaction step and cut to leave the tail room, so the
 * tail always ends the line; the whole line is redacted once more. */
static void log_request(xfer *x, long status, const char *fmt, ...)
	PRINTF(3, 4);
static void log_request(xfer *x, long status, const char *fmt, ...)
{
	char msg[AFK__LOG_SIZE], tail[160];
	long long left = parse_count(x->hv[H_RL_REMAINING]);
	const char *host = x->cur.host != NULL ? x->cur.host : "";
	va_list ap;
	size_t n;
	int t;

	if (!afk__log_wants(x->h->opts.log, AFK_LOG_DEBUG))
		return;
	if (strlen(host) > 100 || strcspn(host, " =\"") != strlen(host))
		host = "-";
	t = snprintf(tail, sizeof(tail), " host=%s status=%ld", host,
	             status);
	if (left >= 0 && t > 0 && (size_t)t < sizeof(tail))
		snprintf(tail + t, sizeof(tail) - (size_t)t,
		         " remaining=%lld", left);
	va_start(ap, fmt);
	vformat_redacted(x->h, msg, sizeof(msg) - strlen(tail), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	memcpy(msg + n, tail, strlen(tail) + 1);
	afk__redact(msg, sizeof(msg), (const char *const *)x->h->secrets);
	afk__log_str(x->h->opts.log, AFK_LOG_DEBUG, "http.request", msg);
}

/* A transfer of x ended with res. */
static void x_complete(xfer *x, CURLcode res)
{
	afk__http *h = x->h;
	afk__http_req *r = x->req;
	long long now = wall_now();
	long status = 0;
	json_t *c;
	const char *link;

	curl_multi_remove_handle(h->multi, x->easy);
	x->hs->active--;
	x->state = X_WAITING;
	if (res != CURLE_OK) {
		fail_transport(x, res);
		log_request(x, 0, "%s", r->errmsg);
		return;
	}
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	log_request(x, status, "%s%s%s %s: HTTP %ld",
	            r->what != NULL ? r->what : "",
	            r->what != NULL ? ": " : "", x->method,
	            x->cur.text != NULL ? x->cur.text : "(no URL)", status);
	take_headers(x);
	if ((status == 403 || status == 429) && rate_limit(x, status, now))
		return;
	check_reserve(x, now);
	if (status == 304 && x->cached != NULL) {
		c = x->cached;
		cache_touch(h, c);
		h->stats.not_modified++;
		x->cached_pages++;
		link = json_string_value(json_object_get(c, "link"));
		if (r->etag == NULL)
			r->etag = afk__strdup(json_string_value(
			                      json_object_get(c, "etag")));
		if (r->link == NULL && link != NULL)
			r->link = afk__strdup(link);
		page_done(x, json_string_value(json_object_get(c, "body")),
		          json_string_length(json_object_get(c, "body")), 1);
		return;
	}
	if (status >= 200 && status < 300) {
		x->hs->backoffs = 0;
		if (x->key != NULL && status == 200 && r->etag != NULL)
			cache_put(h, x->key, r->etag, r->link,
			          x->body != NULL ? x->body : "", x->len);
		else if (x->key != NULL)
			cache_drop(h, x->key);
		page_done(x, x->body != NULL ? x->body : "", x->len, 0);
		return;
	}
	status_failed(x, status);
}

/* --- preparing a request --------------------------------------------- */

/* 1 when line is one "Name: value" header line. */
static int header_ok(const char *line)
{
	const char *colon = strchr(line, ':');

	return colon != NULL && colon != line &&
	       strpbrk(line, "\r\n") == NULL;
}

/* Makes the secret header's value, and its last word (the token of
 * "Bearer X"), secrets of the handle. */
static int add_header_secrets(afk__http *h, const char *line)
{
	const char *v = strchr(line, ':') + 1, *w;
	int rc;

	while (is_sp(*v))
		v++;
	rc = afk__http_add_secret(h, v);
	w = strrchr(v, ' ');
	if (rc == AFK_OK && w != NULL)
		rc = afk__http_add_secret(h, w + 1);
	return rc;
}

static int method_ok(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0 ||
	       strcmp(m, "PATCH") == 0 || strcmp(m, "PUT") == 0 ||
	       strcmp(m, "DELETE") == 0;
}

/* The caller's header lines joined by newlines (the caller's), "" for
 * none with *vary NULL; -1 when memory ran out. */
static int join_headers(xfer *x)
{
	const char *const *hp;
	size_t n = 0;
	char *s;

	for (hp = x->req->headers; hp != NULL && *hp != NULL; hp++) {
		n += strlen(*hp) + 1;
		if (strncasecmp(*hp, "accept:", 7) == 0)
			x->has_accept = 1;
		if (strncasecmp(*hp, "content-type:", 13) == 0)
			x->has_type = 1;
	}
	if (n == 0)
		return 0;
	s = malloc(n);
	if (s == NULL)
		return -1;
	s[0] = '\0';
	for (hp = x->req->headers; *hp != NULL; hp++) {
		if (s[0] != '\0')
			strcat(s, "\n");
		strcat(s, *hp);
	}
	x->vary = s;
	return 0;
}

/* Checks a request before anything is sent; a refused one is finished
 * here, counted as refused. */
static void x_prepare(afk__http *h, xfer *x, afk__http_req *r)
{
	const char *const *hp;
	const char *why;

	x->h = h;
	x->req = r;
	x->method = r->method != NULL ? r->method : "GET";
	x->state = X_WAITING;
	if (r->secret_header != NULL && header_ok(r->secret_header) &&
	    add_header_secrets(h, r->secret_header) != AFK_OK) {
		x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
		return;
	}
	x->is_get = strcmp(x->method, "GET") == 0;
	why = NULL;
	if (!method_ok(x->method))
		why = "unsupported method (GET, POST, PATCH, PUT, DELETE)";
	else if (r->url == NULL)
		why = "no URL";
	else if (x->is_get && r->json != NULL)
		why = "a GET carries no body";
	else if (r->paginate && !x->is_get)
		why = "only a GET can be paginated";
	else if (r->secret_header != NULL && !header_ok(r->secret_header))
		why = "the secret header is not one \"Name: value\" line";
	for (hp = r->headers; why == NULL && hp != NULL && *hp != NULL; hp++)
		if (!header_ok(*hp))
			why = "a header is not one \"Name: value\" line";
	if (why == NULL) {
		why = url_parse(&x->cur, NULL, r->url);
		if (why != NULL)
			url_info_free(&x->cur);
	}
	if (why != NULL) {
		h->stats.refused++;
		if (why[0] == '\0')
			x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
		else
			x_fail(x, AFK__HTTP_EURL, "refused before connecting: %s",
			       why);
		return;
	}
	x->origin = afk__strdup(x->cur.origin);
	x->hs = x->origin != NULL ? host_get(h, x->origin, x->cur.host) :
	        NULL;
	if (r->paginate)
		x->joined = json_array();
	if (x->hs == NULL || (r->paginate && x->joined == NULL) ||
	    join_headers(x) != 0)
		x_fail(x, AFK__HTTP_ENOMEM, "out of memory");
}

static void x_free(afk__http *h, xfer *x)
{
	if (x->easy != NULL) {
		if (x->state == X_RUNNING) {
			curl_multi_remove_handle(h->multi, x->easy);
			x->hs->active--;
		}
		curl_easy_cleanup(x->easy);
	}
	free_lines(x->hdrs);
	json_decref(x->cached);
	url_info_free(&x->cur);
	free(x->origin);
	free(x->vary);
	free(x->key);
	free(x->body);
	clear_headers(x);
	json_decref(x->joined);
}

/* --- the batch ------------------------------------------------------- */

/* Starts every waiting transfer whose time has come and whose host has
 * room; fails at once those whose host is blocked. */
static void admit(afk__http *h, xfer *xs, size_t n)
{
	long long now = mono_ms(), wall = wall_now();
	host_state *hs;
	size_t i;

	for (i = 0; i < n; i++) {
		if (xs[i].state != X_WAITING || xs[i].not_before > now)
			continue;
		hs = xs[i].hs;
		if (host_blocked(hs, wall)) {
			h->stats.refused++;
			x_fail(&xs[i], hs->block, "not sent: %s; retry after %lld s",
			       hs->why, hs->blocked_until - wall);
			xs[i].req->retry_at = hs->blocked_until;
			continue;
		}
		if (hs->active < h->opts.per_host)
			x_start(&xs[i]);
	}
}

/* How long to wait for sockets: until the next scheduled retry that
 * will have room, at most a second (libcurl shortens it for its own
 * timers).  -1 when nothing is left to do. */
static int wait_ms(afk__http *h, xfer *xs, size_t n)
{
	long long now = mono_ms(), d, best = 1000;
	int pending = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (xs[i].state == X_DONE)
			continue;
		pending = 1;
		if (xs[i].state != X_WAITING ||
		    xs[i].hs->active >= h->opts.per_host)
			continue;
		d = xs[i].not_before - now;
		if (d < best)
			best = d < 0 ? 0 : d;
	}
	return pending ? (int)best : -1;
}

/* Fails every transfer still running after the multi handle failed. */
static void fail_running(afk__http *h, xfer *xs, size_t n, CURLMcode mc)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (xs[i].state == X_DONE)
			continue;
		if (xs[i].state == X_RUNNING) {
			curl_multi_remove_handle(h->multi, xs[i].easy);
			xs[i].hs->active--;
		}
		x_fail(&xs[i], mc == CURLM_OUT_OF_MEMORY ? AFK__HTTP_ENOMEM :
		       AFK__HTTP_ENET, "libcurl: %s", curl_multi_strerror(mc));
	}
}

void afk__http_req_clear(afk__http_req *r)
{
	if (r == NULL)
		return;
	free(r->data);
	free(r->etag);
	free(r->link);
	free(r->retry_after);
	free(r->ratelimit_remaining);
	free(r->ratelimit_reset);
	free(r->content_type);
	r->rc = AFK_OK;
	r->fail = AFK__HTTP_OK;
	r->status = 0;
	r->data = NULL;
	r->len = 0;
	r->from_cache = r->pages = r->truncated = 0;
	r->retry_at = 0;
	r->outcome_unknown = 0;
	r->etag = r->link = r->retry_after = NULL;
	r->ratelimit_remaining = r->ratelimit_reset = r->content_type = NULL;
	r->errmsg[0] = '\0';
}

int afk__http_run(afk__http *h, afk__http_req *reqs, size_t n)
{
	CURLMsg *msg;
	CURLMcode mc;
	CURLcode res;
	CURL *easy;
	xfer *xs;
	char *priv;
	int running, left, wait;
	size_t i;

	if (h == NULL || (reqs == NULL && n > 0))
		return AFK_EINVAL;
	h->errmsg[0] = '\0';
	for (i = 0; i < n; i++)
		afk__http_req_clear(&reqs[i]);
	if (n == 0)
		return AFK_OK;
	xs = calloc(n, sizeof(*xs));
	if (xs == NULL) {
		for (i = 0; i < n; i++) {
			reqs[i].rc = AFK_ENOMEM;
			reqs[i].fail = AFK__HTTP_ENOMEM;
			strcpy(reqs[i].errmsg, "out of memory");
		}
		strcpy(h->errmsg, "out of memory");
		return AFK_ENOMEM;
	}
	for (i = 0; i < n; i++)
		x_prepare(h, &xs[i], &reqs[i]);
	for (;;) {
		admit(h, xs, n);
		wait = wait_ms(h, xs, n);
		if (wait < 0)
			break;
		mc = curl_multi_perform(h->multi, &running);
		while (mc == CURLM_OK &&
		       (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			/* msg dies with curl_multi_remove_handle(): copy first. */
			easy = msg->easy_handle;
			res = msg->data.result;
			curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
			x_complete((xfer *)(void *)priv, res);
		}
		if (mc == CURLM_OK) {
			admit(h, xs, n);
			wait = wait_ms(h, xs, n);
			if (wait < 0)
				break;
			if (wait > 0)
				mc = curl_multi_poll(h->multi, NULL, 0, wait, NULL);
		}
		if (mc != CURLM_OK) {
			fail_running(h, xs, n, mc);
			break;
		}
	}
	for (i = 0; i < n; i++)
		x_free(h, &xs[i]);
	free(xs);
	for (i = 0; i < n; i++) {
		if (reqs[i].rc != AFK_OK) {
			copy_cut(h->errmsg, sizeof(h->errmsg), reqs[i].errmsg);
			return reqs[i].rc;
		}
	}
	return AFK_OK;
}

/* For fuzz/http_headers.c: the n bytes of a response's header block,
 * line by line as libcurl hands them over, through a transfer's header
 * callback, then into r's outputs as a finished request would get them. */
void afk__http_parse_headers(afk__http_req *r, const char *block, size_t n)
{
	const char *p = block, *nl;
	size_t len;
	xfer x;

	memset(&x, 0, sizeof(x));
	x.req = r;
	while (p < block + n) {
		nl = memchr(p, '\n', (size_t)(block + n - p));
		len = nl != NULL ? (size_t)(nl + 1 - p) : (size_t)(block + n - p);
		on_header((char *)p, 1, len, &x);
		p += len;
	}
	take_headers(&x);
	clear_headers(&x);
}
