/*
 * lib/core/config.c - the configuration handle: keys, validation, loading.
 *
 * Every way in (a file, a string, afk_config_set(), the environment)
 * applies its values to a copy of the configuration and swaps the copy in
 * only when all of them passed, so a refusal never leaves half a change.
 * Each key is one row of the table at the bottom of the key section: its
 * name, the function that validates and sets it from JSON, and the one
 * that renders it back as JSON.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/config.h"
#include "core/jsonpos.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define LABEL_MAX 50                   /* bytes; GitHub's label limit */
#define PREAMBLE_MAX (64 * 1024)       /* bytes of a preamble file */
#define CONFIG_FILE_MAX (1024 * 1024)  /* bytes of a configuration file */
#define DEFAULT_BUDGET 2               /* fix-forwards per run */
#define BUDGET_MAX 100
#define MAX_IN_FLIGHT_MAX 100000
#define DEFAULT_STALL_TIMEOUT 7200     /* seconds */
#define DEFAULT_CI_TIMEOUT 3600
#define DEFAULT_DEPLOY_TIMEOUT 3600
#define TIMEOUT_MAX 31536000           /* seconds: a year */
#define BUDGET_TOKENS_MAX 1000000000000LL  /* "budget": 1e12 tokens ... */
#define BUDGET_COST_MAX 1e6                /* ... and a million dollars */
#define HTTP_PER_HOST 4                /* the "http" key's defaults ... */
#define HTTP_CONNECT_TIMEOUT 10        /* seconds */
#define HTTP_TIMEOUT 30                /* seconds */
#define HTTP_MAX_BODY (8LL * 1024 * 1024)
#define HTTP_MAX_PAGES 10
#define HTTP_RATE_RESERVE 50
#define HTTP_PER_HOST_MAX 64           /* ... and its limits */
#define HTTP_CONNECT_TIMEOUT_MAX 600
#define HTTP_TIMEOUT_MAX 3600
#define HTTP_MAX_BODY_MIN 1024LL
#define HTTP_MAX_BODY_MAX (256LL * 1024 * 1024)
#define HTTP_MAX_PAGES_MAX 1000
#define HTTP_RATE_RESERVE_MAX 1000000
#define PATH_DEPTH 4                   /* agent.command[i] is the deepest */
#define QUOTE_SHORT 96                 /* a quoted value in a message */
#define QUOTE_LONG 320                 /* a quoted path in a message */

#if defined(__GNUC__)
#define AFK__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AFK__PRINTF(f, a)
#endif

/* Where the values being applied come from: what an error message names
 * and what a relative path is taken from. */
typedef struct cfg_ctx {
	const char *source;  /* file path or "<string>"; NULL: no location */
	const char *text;    /* the JSON text lines are found in */
	const char *dir;     /* relative paths' base; NULL or "": the cwd */
	afk__jsonpos_step path[PATH_DEPTH];  /* the value being checked */
	size_t depth;
	unsigned long set_keys;  /* bit i: table key i was set */
	char *errbuf;            /* AFK__ERRMSG_SIZE bytes */
} cfg_ctx;

/* --- messages -------------------------------------------------------- */

/* Writes s into dst (size bytes) quoted, with quotes, backslashes and
 * control characters escaped and anything past about size - 32 bytes cut
 * to "...", so that a hostile value can neither flood a message nor put a
 * terminal escape into a log.  A cut never splits a UTF-8 sequence of a
 * valid string. */
static void quote(char *dst, size_t size, const char *s)
{
	size_t o = 0, limit = size - 32;
	unsigned char c;

	dst[o++] = '"';
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (o >= limit && ((c & 0xC0) != 0x80 || o >= limit + 8)) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7F) {
			snprintf(dst + o, 7, "\\u%04x", (unsigned)c);
			o += 6;
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o++] = '"';
	dst[o] = '\0';
}

/* The path of the value being checked, kept for messages and lines; key
 * must outlive the check (table names and jansson's keys do).  Past
 * PATH_DEPTH steps are counted but not kept. */
static void push_key(cfg_ctx *cx, const char *key)
{
	if (cx->depth < PATH_DEPTH) {
		cx->path[cx->depth].key = key;
		cx->path[cx->depth].index = 0;
	}
	cx->depth++;
}

static void push_index(cfg_ctx *cx, size_t index)
{
	if (cx->depth < PATH_DEPTH) {
		cx->path[cx->depth].key = NULL;
		cx->path[cx->depth].index = index;
	}
	cx->depth++;
}

static void pop(cfg_ctx *cx)
{
	cx->depth--;
}

static size_t path_depth(const cfg_ctx *cx)
{
	return cx->depth < PATH_DEPTH ? cx->depth : PATH_DEPTH;
}

/* Writes "source:line: " for the value being checked, or "" when the
 * values did not come from a text. */
static void locate(const cfg_ctx *cx, char *buf, size_t size)
{
	size_t line;

	buf[0] = '\0';
	if (cx->source == NULL)
		return;
	line = afk__jsonpos_line(cx->text, cx->path, path_depth(cx));
	snprintf(buf, size, "%s:%zu: ", cx->source, line);
}

/* Writes the path as a reader names it: allowlist[1], tracker.kind. */
static void name_path(const cfg_ctx *cx, char *buf, size_t size)
{
	size_t i, o = 0, n = path_depth(cx);
	int w;

	buf[0] = '\0';
	for (i = 0; i < n && o < size; i++) {
		if (cx->path[i].key != NULL)
			w = snprintf(buf + o, size - o, "%s%s", i ? "." : "",
			             cx->path[i].key);
		else
			w = snprintf(buf + o, size - o, "[%zu]",
			             cx->path[i].index);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/* Records "source:line: path: message" on the handle being changed.
 * Returns AFK_ECONFIG, so a refusal is one statement. */
static int vrefuse(cfg_ctx *cx, int with_path, const char *fmt, va_list ap)
{
	char msg[AFK__ERRMSG_SIZE];
	char where[AFK__ERRMSG_SIZE / 2];
	char path[AFK__ERRMSG_SIZE / 2];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	locate(cx, where, sizeof(where));
	if (with_path)
		name_path(cx, path, sizeof(path));
	else
		path[0] = '\0';
	afk__errf(cx->errbuf, "%s%s%s%s", where, path, path[0] ? ": " : "",
	          msg);
	return AFK_ECONFIG;
}

static int refuse(cfg_ctx *cx, const char *fmt, ...) AFK__PRINTF(2, 3);
static int refuse(cfg_ctx *cx, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vrefuse(cx, 1, fmt, ap);
	va_end(ap);
	return rc;
}

/* As refuse(), without the path: for messages that quote it themselves. */
static int refuse_bare(cfg_ctx *cx, const char *fmt, ...) AFK__PRINTF(2, 3);
static int refuse_bare(cfg_ctx *cx, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vrefuse(cx, 0, fmt, ap);
	va_end(ap);
	return rc;
}

static int nomem(cfg_ctx *cx)
{
	afk__errf(cx->errbuf, "out of memory");
	return AFK_ENOMEM;
}

static int wrong_type(cfg_ctx *cx, const json_t *v, const char *expected)
{
	return refuse(cx, "expected %s, got %s", expected, afk__json_type_name(v));
}

/* --- character rules ------------------------------------------------- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	       c == '\r';
}

static int is_control(char c)
{
	return (unsigned char)c < 0x20 || c == 0x7F;
}

static int has_space(const char *s)
{
	for (; *s != '\0'; s++)
		if (is_space(*s))
			return 1;
	return 0;
}

static int has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if (is_control(*s))
			return 1;
	return 0;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* ASCII case-insensitive equality: GitHub treats "Ready" and "ready" as
 * one label, so two labels differing only in case would collide; the
 * environment's words are compared the same way. */
static int same_ascii(const char *a, const char *b)
{
	char x, y;

	for (;; a++, b++) {
		x = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
		y = (*b >= 'A' && *b <= 'Z') ? (char)(*b - 'A' + 'a') : *b;
		if (x != y)
			return 0;
		if (x == '\0')
			return 1;
	}
}

/* Why the n bytes at part cannot be one half of a repository name, or
 * NULL; owner tells which half it is, for the message. */
static const char *repo_part_problem(const char *part, size_t n, int owner)
{
	size_t i;

	if (n == 0)
		return owner ? "the owner is empty" : "the name is empty";
	for (i = 0; i < n; i++)
		if (!is_name_char(part[i]))
			return "only letters, digits, '.', '_', '-' and one '/' "
			       "are allowed";
	if ((n == 1 && part[0] == '.') ||
	    (n == 2 && part[0] == '.' && part[1] == '.'))
		return "\".\" and \"..\" are not names";
	return NULL;
}

/* Why repo is not an exact repository name, or NULL when it is.  Wildcards
 * get their own reason: an allowlist is a list of repositories, never a
 * pattern, and whoever wrote one should learn that rather than "bad
 * character". */
static const char *repo_problem(const char *repo)
{
	const char *slash, *why;

	if (repo[0] == '\0')
		return "it is empty";
	if (strpbrk(repo, "*?[]{}!") != NULL)
		return "wildcards and patterns are refused";
	if (has_space(repo))
		return "whitespace is refused";
	slash = strchr(repo, '/');
	if (slash == NULL)
		return repo_part_problem(repo, strlen(repo), 0);
	if (strchr(slash + 1, '/') != NULL)
		return "more than one '/'";
	why = repo_part_problem(repo, (size_t)(slash - repo), 1);
	if (why == NULL)
		why = repo_part_problem(slash + 1, strlen(slash + 1), 0);
	return why;
}

int afk__config_check_repo(const char *repo, char *errbuf)
{
	char q[QUOTE_SHORT];
	const char *why;

	if (repo == NULL) {
		afk__errf(errbuf, "NULL is not a repository name");
		return AFK_ECONFIG;
	}
	why = repo_problem(repo);
	if (why == NULL)
		return AFK_OK;
	quote(q, sizeof(q), repo);
	afk__errf(errbuf, "%s is not a repository name: %s", q, why);
	return AFK_ECONFIG;
}

/* Why s cannot be a label, or NULL. */
static const char *label_problem(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "a label cannot be empty";
	if (n > LABEL_MAX)
		return "longer than 50 bytes (GitHub's limit for a label)";
	if (has_control(s))
		return "control characters are refused";
	if (is_space(s[0]) || is_space(s[n - 1]))
		return "leading or trailing whitespace is refused";
	return NULL;
}

/* --- paths ----------------------------------------------------------- */

/* The current directory in a heap string (the caller's), or NULL with
 * errno set. */
static char *current_dir(void)
{
	size_t size = 256;
	char *buf, *bigger;

	buf = malloc(size);
	while (buf != NULL && getcwd(buf, size) == NULL) {
		if (errno != ERANGE || size > SIZE_MAX / 2) {
			free(buf);
			return NULL;
		}
		size *= 2;
		bigger = realloc(buf, size);
		if (bigger == NULL)
			free(buf);
		buf = bigger;
	}
	if (buf == NULL)
		errno = ENOMEM;
	return buf;
}

/* Drops leading "./" steps, which only make a joined path harder to
 * read. */
static const char *skip_dot_slash(const char *p)
{
	while (p[0] == '.' && p[1] == '/') {
		p += 2;
		while (*p == '/')
			p++;
	}
	return p;
}

/* base joined to the relative path rel, in a heap string (the caller's);
 * NULL on failure. */
static char *join(const char *base, const char *rel)
{
	size_t n = strlen(base);

	rel = skip_dot_slash(rel);
	if (rel[0] == '\0' || strcmp(rel, ".") == 0)
		return afk__strdup(base);
	return afk__aprintf("%s%s%s", base,
	                    n > 0 && base[n - 1] == '/' ? "" : "/", rel);
}

/* The absolute directory relative paths are taken from, in a heap string
 * (the caller's); NULL with errno set. */
static char *base_dir(const cfg_ctx *cx)
{
	char *cwd, *dir;

	if (cx->dir != NULL && cx->dir[0] == '/')
		return afk__strdup(cx->dir);
	cwd = current_dir();
	if (cwd == NULL || cx->dir == NULL || cx->dir[0] == '\0')
		return cwd;
	dir = join(cwd, cx->dir);
	free(cwd);
	if (dir == NULL)
		errno = ENOMEM;
	return dir;
}

/* Stores in *out (the caller's) path made absolute against the base
 * directory: the command agent runs in a directory of its own, where a
 * relative path would name something else. */
static int resolve(cfg_ctx *cx, const char *path, char **out)
{
	char q[QUOTE_LONG];
	char *base;

	if (path[0] == '/') {
		*out = afk__strdup(path);
		return *out != NULL ? AFK_OK : nomem(cx);
	}
	base = base_dir(cx);
	if (base == NULL) {
		if (errno == ENOMEM)
			return nomem(cx);
		quote(q, sizeof(q), path);
		refuse(cx, "cannot make %s absolute: %s", q, strerror(errno));
		return AFK_EIO;
	}
	*out = join(base, path);
	free(base);
	return *out != NULL ? AFK_OK : nomem(cx);
}

/* What errno-or-NOT_REGULAR err says of a file that cannot be read. */
#define NOT_REGULAR (-1)
static const char *read_error(int err)
{
	return err == NOT_REGULAR ? "not a regular file" : strerror(err);
}

/* Opens the file at path for reading, only when it is a regular file: a
 * FIFO would block the load until someone writes to it, maybe forever
 * (O_NONBLOCK, left on, does nothing to a regular file).  Returns the
 * stream, or NULL with errno an errno value or NOT_REGULAR. */
static FILE *open_regular(const char *path)
{
	struct stat st;
	FILE *f = NULL;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0)
		err = errno;
	else if (S_ISDIR(st.st_mode))
		err = EISDIR;
	else if (!S_ISREG(st.st_mode))
		err = NOT_REGULAR;
	else if ((f = fdopen(fd, "rb")) == NULL)
		err = errno;
	if (f == NULL)
		close(fd);
	errno = err;
	return f;
}

/* Reads at most max + 1 bytes of the file at path into a NUL-terminated
 * heap buffer (*out, the caller's; *len bytes before the NUL), so that a
 * caller can refuse a file longer than max without reading all of it.
 * Returns 0, AFK_EIO with errno set (an errno value or NOT_REGULAR, for
 * read_error()), or AFK_ENOMEM. */
static int slurp(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f;
	char *buf = NULL;
	size_t n = 0, cap = 0, want, got;
	int rc = AFK_OK, err = 0;

	f = open_regular(path);
	if (f == NULL)
		return AFK_EIO;
	for (;;) {
		if (afk__grow((void **)&buf, &cap, n, 4097, 1)) {
			rc = AFK_ENOMEM;
			break;
		}
		want = cap - n - 1;
		if (want > max + 1 - n)
			want = max + 1 - n;
		got = fread(buf + n, 1, want, f);
		n += got;
		if (got < want) {
			if (ferror(f)) {
				err = errno ? errno : EIO;
				rc = AFK_EIO;
			}
			break;
		}
		if (n > max)
			break;
	}
	fclose(f);
	if (rc != AFK_OK) {
		free(buf);
		errno = err;
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return AFK_OK;
}

/* Reads the preamble file at the absolute path into *text (the
 * caller's), refusing what cannot be a prompt's preamble. */
static int read_preamble(cfg_ctx *cx, const char *path, char **text)
{
	char q[QUOTE_LONG];
	size_t len;
	int rc;

	quote(q, sizeof(q), path);
	rc = slurp(path, PREAMBLE_MAX, text, &len);
	if (rc == AFK_ENOMEM)
		return nomem(cx);
	if (rc != AFK_OK)
		return refuse(cx, "cannot read %s: %s", q, read_error(errno));
	if (len == 0)
		rc = refuse(cx, "%s is empty", q);
	else if (len > PREAMBLE_MAX)
		rc = refuse(cx, "%s is larger than 64 KiB", q);
	else if (memchr(*text, '\0', len) != NULL)
		rc = refuse(cx, "%s contains a NUL byte", q);
	if (rc != AFK_OK) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

/* --- the configuration's fields -------------------------------------- */

/* Frees every setting of c and leaves them empty; the message stays. */
static void config_clear(afk_config *c)
{
	size_t r;

	afk__strv_clear(&c->allowlist);
	free(c->ready_label);
	free(c->in_progress_label);
	free(c->human_label);
	afk__strv_clear(&c->trusted_users);
	free(c->preamble_file);
	free(c->preamble);
	for (r = 0; r < AFK__ROLE_COUNT; r++) {
		json_decref(c->section[r]);
		c->section[r] = NULL;
		c->kind[r] = NULL;
	}
	free(c->http_etag_cache);
	c->http_etag_cache = NULL;
	free(c->state_dir);
	c->state_dir = NULL;
	free(c->metrics_file);
	c->metrics_file = NULL;
	afk__strv_clear(&c->members);
	c->ready_label = c->in_progress_label = c->human_label = NULL;
	c->preamble_file = c->preamble = NULL;
}

/* Replaces *dst by a copy of src (either may be NULL); 0 or -1. */
static int dup_into(char **dst, const char *src)
{
	char *d = afk__strdup(src);

	if (src != NULL && d == NULL)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

/* Fills the zeroed *dst with a deep copy of src's settings, the aside
 * copy a change is made on.  AFK_ENOMEM leaves dst empty. */
static int config_copy(afk_config *dst, const afk_config *src)
{
	size_t r;

	memset(dst, 0, sizeof(*dst));
	dst->kill_switch = src->kill_switch;
	dst->fix_forward_budget = src->fix_forward_budget;
	dst->max_in_flight = src->max_in_flight;
	dst->deploy_stage = src->deploy_stage;
	dst->trust_writers = src->trust_writers;
	dst->stall_timeout = src->stall_timeout;
	dst->ci_timeout = src->ci_timeout;
	dst->deploy_timeout = src->deploy_timeout;
	dst->budget_tokens = src->budget_tokens;
	dst->budget_cost_usd = src->budget_cost_usd;
	dst->budget_cost_microusd = src->budget_cost_microusd;
	dst->http_per_host = src->http_per_host;
	dst->http_connect_timeout = src->http_connect_timeout;
	dst->http_timeout = src->http_timeout;
	dst->http_max_body = src->http_max_body;
	dst->http_max_pages = src->http_max_pages;
	dst->http_rate_reserve = src->http_rate_reserve;
	dst->http_etag_cache_read_only = src->http_etag_cache_read_only;
	dst->kinds = src->kinds;
	for (r = 0; r < AFK__ROLE_COUNT; r++) {
		/* A section is never changed once checked: shared. */
		dst->kind[r] = src->kind[r];
		dst->section[r] = json_incref(src->section[r]);
	}
	if (afk__strv_copy(&dst->allowlist, &src->allowlist) ||
	    dup_into(&dst->ready_label, src->ready_label) ||
	    dup_into(&dst->in_progress_label, src->in_progress_label) ||
	    dup_into(&dst->human_label, src->human_label) ||
	    afk__strv_copy(&dst->trusted_users, &src->trusted_users) ||
	    dup_into(&dst->preamble_file, src->preamble_file) ||
	    dup_into(&dst->preamble, src->preamble) ||
	    dup_into(&dst->http_etag_cache, src->http_etag_cache) ||
	    dup_into(&dst->state_dir, src->state_dir) ||
	    dup_into(&dst->metrics_file, src->metrics_file) ||
	    afk__strv_copy(&dst->members, &src->members)) {
		config_clear(dst);
		return AFK_ENOMEM;
	}
	return AFK_OK;
}

/* Moves the settings of the aside copy next into cfg, whose message
 * stays: it is the handle's, not a setting. */
static void config_commit(afk_config *cfg, afk_config *next)
{
	config_clear(cfg);
	memcpy(next->errmsg, cfg->errmsg, sizeof(next->errmsg));
	next->log = cfg->log;   /* the handle's too: the copy has none */
	*cfg = *next;
	memset(next, 0, sizeof(*next));
}

/* --- setters and getters, one per key -------------------------------- */

/* A check of one element of a string array: 0 or a refusal. */
typedef int (*item_check)(cfg_ctx *cx, const char *s);

/* Stores in *out (emptied first; the caller's) the strings of the JSON
 * array v, each passed through check; unique refuses a repeat. */
static int strv_from_json(cfg_ctx *cx, json_t *v, item_check check,
                          int unique, afk__strv *out)
{
	char q[QUOTE_SHORT];
	const char *s;
	json_t *item;
	size_t i;
	int rc = AFK_OK;

	afk__strv_clear(out);
	if (!json_is_array(v))
		return wrong_type(cx, v, "an array of strings");
	json_array_foreach(v, i, item) {
		push_index(cx, i);
		if (!json_is_string(item)) {
			rc = wrong_type(cx, item, "a string");
		} else {
			s = json_string_value(item);
			rc = check(cx, s);
			if (rc == AFK_OK && unique && afk__strv_find(out, s) >= 0) {
				quote(q, sizeof(q), s);
				rc = refuse(cx, "%s is listed twice", q);
			}
			if (rc == AFK_OK && afk__strv_push(out, s))
				rc = nomem(cx);
		}
		if (rc != AFK_OK)
			break;
		pop(cx);
	}
	if (rc != AFK_OK)
		afk__strv_clear(out);
	return rc;
}

static int check_repo_item(cfg_ctx *cx, const char *s)
{
	char why[AFK__ERRMSG_SIZE];

	if (afk__config_check_repo(s, why) != AFK_OK)
		return refuse(cx, "%s", why);
	return AFK_OK;
}

static int check_user_item(cfg_ctx *cx, const char *s)
{
	char q[QUOTE_SHORT];

	quote(q, sizeof(q), s);
	if (s[0] == '\0')
		return refuse(cx, "a login cannot be empty");
	if (has_control(s))
		return refuse(cx, "%s: control characters are refused", q);
	if (has_space(s))
		return refuse(cx, "%s: whitespace is refused", q);
	return AFK_OK;
}

static int check_arg_item(cfg_ctx *cx, const char *s)
{
	if (s[0] == '\0')
		return refuse(cx, "an argument cannot be empty");
	return AFK_OK;
}

static json_t *strv_to_json(const afk__strv *v)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < v->n; i++) {
		if (json_array_append_new(a, json_string(v->v[i]))) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

static json_t *string_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* A boolean key's value into *dst. */
static int bool_into(cfg_ctx *cx, json_t *v, int *dst)
{
	if (!json_is_boolean(v))
		return wrong_type(cx, v, "a boolean");
	*dst = json_is_true(v);
	return AFK_OK;
}

static int set_kill_switch(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return bool_into(cx, v, &c->kill_switch);
}

static json_t *get_kill_switch(const afk_config *c)
{
	return json_boolean(c->kill_switch);
}

static int set_allowlist(afk_config *c, json_t *v, cfg_ctx *cx)
{
	afk__strv list = {NULL, 0, 0};
	int rc;

	rc = strv_from_json(cx, v, check_repo_item, 1, &list);
	if (rc != AFK_OK)
		return rc;
	afk__strv_clear(&c->allowlist);
	c->allowlist = list;
	return AFK_OK;
}

static json_t *get_allowlist(const afk_config *c)
{
	return strv_to_json(&c->allowlist);
}

/* Sets one of the three labels; that they differ is checked on the
 * result (check_labels()), since a file may swap two of them. */
static int set_label(char **field, json_t *v, cfg_ctx *cx)
{
	char q[QUOTE_SHORT];
	const char *why;
	char *s;

	if (!json_is_string(v))
		return wrong_type(cx, v, "a string");
	why = label_problem(json_string_value(v));
	if (why != NULL) {
		quote(q, sizeof(q), json_string_value(v));
		return refuse(cx, "%s: %s", q, why);
	}
	s = afk__strdup(json_string_value(v));
	if (s == NULL)
		return nomem(cx);
	free(*field);
	*field = s;
	return AFK_OK;
}

static int set_ready_label(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return set_label(&c->ready_label, v, cx);
}

static int set_in_progress_label(afk_config *c, json_t *v,
                                 cfg_ctx *cx)
{
	return set_label(&c->in_progress_label, v, cx);
}

static int set_human_label(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return set_label(&c->human_label, v, cx);
}

static json_t *get_ready_label(const afk_config *c)
{
	return json_string(c->ready_label);
}

static json_t *get_in_progress_label(const afk_config *c)
{
	return json_string(c->in_progress_label);
}

static json_t *get_human_label(const afk_config *c)
{
	return json_string(c->human_label);
}

static int set_trusted_users(afk_config *c, json_t *v, cfg_ctx *cx)
{
	afk__strv users = {NULL, 0, 0};
	int rc;

	rc = strv_from_json(cx, v, check_user_item, 1, &users);
	if (rc != AFK_OK)
		return rc;
	afk__strv_clear(&c->trusted_users);
	c->trusted_users = users;
	return AFK_OK;
}

static json_t *get_trusted_users(const afk_config *c)
{
	return strv_to_json(&c->trusted_users);
}

/* Reads the file right away: a missing or unreadable preamble is found
 * when the configuration is loaded, not at the first dispatch. */
static int set_preamble_file(afk_config *c, json_t *v, cfg_ctx *cx)
{
	char *path = NULL, *text = NULL;
	int rc;

	if (json_is_null(v)) {
		free(c->preamble_file);
		free(c->preamble);
		c->preamble_file = c->preamble = NULL;
		return AFK_OK;
	}
	if (!json_is_string(v))
		return wrong_type(cx, v, "a string or null");
	if (json_string_value(v)[0] == '\0')
		return refuse(cx, "a path cannot be empty");
	rc = resolve(cx, json_string_value(v), &path);
	if (rc == AFK_OK)
		rc = read_preamble(cx, path, &text);
	if (rc != AFK_OK) {
		free(path);
		return rc;
	}
	free(c->preamble_file);
	free(c->preamble);
	c->preamble_file = path;
	c->preamble = text;
	return AFK_OK;
}

/* A path member that may be null: *slot gets v made absolute against the
 * file's directory, or NULL. */
static int set_path_or_null(char **slot, json_t *v, cfg_ctx *cx)
{
	char *path = NULL;
	int rc;

	if (json_is_null(v)) {
		free(*slot);
		*slot = NULL;
		return AFK_OK;
	}
	if (!json_is_string(v))
		return wrong_type(cx, v, "a string or null");
	if (json_string_value(v)[0] == '\0')
		return refuse(cx, "a path cannot be empty");
	rc = resolve(cx, json_string_value(v), &path);
	if (rc != AFK_OK)
		return rc;
	free(*slot);
	*slot = path;
	return AFK_OK;
}

/* "state_dir": where afk writes (the tick lock, the ETag cache, the
 * command agent's runs, the metrics), a path or null.  Null until
 * afk_config_apply_env() finds a default in the environment. */
static int set_state_dir(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return set_path_or_null(&c->state_dir, v, cx);
}

static json_t *get_state_dir(const afk_config *c)
{
	return string_or_null(c->state_dir);
}

/* "metrics_file": where a host writes its Prometheus text file after
 * each tick (the afk CLI does; the library writes nothing there), a
 * path or null.  Null means the host's default, <state_dir>/afk.prom:
 * the value stays null so that a state directory set later still
 * counts. */
static int set_metrics_file(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return set_path_or_null(&c->metrics_file, v, cx);
}

static json_t *get_metrics_file(const afk_config *c)
{
	return string_or_null(c->metrics_file);
}

static json_t *get_preamble_file(const afk_config *c)
{
	return string_or_null(c->preamble_file);
}

/* --- the adapter keys: a kind and its checked section ----------------- */

/*
 * An adapter key ("tracker", "agent", "ci", "notifier") holds an object
 * whose "kind" names one of the kinds the registry lists for that role
 * (lib/core/kind.h).  Its members are checked here by their declared
 * type, generically: the configuration knows no kind.  What is kept is
 * a new object, the section: "kind" first, then the members in the
 * kind's order, paths made absolute, URLs trimmed, defaults filled in.
 * The built-in reads it through afk__config_str() and its siblings.
 */

static int int_in_range(cfg_ctx *cx, json_t *v, long long lo, long long hi,
                        long long *out);

/* Stores in *out (the caller's) the absolute form of the path member
 * name of object v; a missing member is refused when dflt is NULL, else
 * dflt stands in for it.  Used by "http" too. */
static int path_member(cfg_ctx *cx, json_t *v, const char *name,
                       const char *dflt, char **out)
{
	json_t *m = json_object_get(v, name);
	const char *s = dflt;
	int rc;

	push_key(cx, name);
	if (m == NULL && dflt == NULL)
		rc = refuse(cx, "missing");
	else if (m != NULL && !json_is_string(m))
		rc = wrong_type(cx, m, "a string");
	else if (m != NULL && json_string_value(m)[0] == '\0')
		rc = refuse(cx, "a path cannot be empty");
	else
		rc = AFK_OK;
	if (rc != AFK_OK)
		return rc;
	if (m != NULL)
		s = json_string_value(m);
	rc = resolve(cx, s, out);
	if (rc == AFK_OK)
		pop(cx);
	return rc;
}

/* The string m (the member being checked, on cx's path): non-empty,
 * without control characters.  Borrowed from m. */
static int string_value(cfg_ctx *cx, json_t *m, const char **out)
{
	const char *s;

	if (!json_is_string(m))
		return wrong_type(cx, m, "a string");
	s = json_string_value(m);
	if (s[0] == '\0')
		return refuse(cx, "cannot be empty");
	if (has_control(s))
		return refuse(cx, "control characters are refused");
	*out = s;
	return AFK_OK;
}

/* The path m, made absolute, in *out (the caller's). */
static int path_value(cfg_ctx *cx, json_t *m, char **out)
{
	if (!json_is_string(m))
		return wrong_type(cx, m, "a string");
	if (json_string_value(m)[0] == '\0')
		return refuse(cx, "a path cannot be empty");
	return resolve(cx, json_string_value(m), out);
}

/* The URL m: http:// or https://, no whitespace; trailing '/' dropped.
 * What another layer would refuse on every request (the HTTP layer's
 * plain http but to a loopback address, user:password) is refused here
 * in its words through check, so that no configuration is valid that no
 * tick could use. */
static int url_value(cfg_ctx *cx, json_t *m,
                     const char *(*check)(const char *), char **out)
{
	const char *s, *why;
	size_t n;
	int rc;

	rc = string_value(cx, m, &s);
	if (rc != AFK_OK)
		return rc;
	if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) ||
	    has_space(s))
		return refuse(cx, "expected an http or https URL");
	why = check != NULL ? check(s) : NULL;
	if (why != NULL && why[0] == '\0')
		return nomem(cx);
	if (why != NULL)
		return refuse(cx, "%s", why);
	*out = afk__strdup(s);
	if (*out == NULL)
		return nomem(cx);
	n = strlen(*out);
	while (n > 0 && (*out)[n - 1] == '/')
		(*out)[--n] = '\0';
	return AFK_OK;
}

/* Resolves argv[0] like a path only when it names one: a bare name is
 * looked up in PATH when the command runs. */
static int resolve_command(cfg_ctx *cx, afk__strv *argv)
{
	char *abs;
	int rc;

	if (strchr(argv->v[0], '/') == NULL)
		return AFK_OK;
	push_index(cx, 0);
	rc = resolve(cx, argv->v[0], &abs);
	if (rc != AFK_OK)
		return rc;
	pop(cx);
	free(argv->v[0]);
	argv->v[0] = abs;
	return AFK_OK;
}

/* 1 when s is a name a variable of the environment can have in a
 * shell: [A-Za-z_][A-Za-z0-9_]*. */
static int is_var_name(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '_' || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= 'a' && *p <= 'z') || (p != s && *p >= '0' &&
		                                 *p <= '9'))
			continue;
		return 0;
	}
	return p != s;
}

static int check_var_item(cfg_ctx *cx, const char *s)
{
	char q[QUOTE_SHORT];

	if (s[0] == '\0')
		return refuse(cx, "a variable's name cannot be empty");
	quote(q, sizeof(q), s);
	if (!is_var_name(s))
		return refuse(cx, "%s is not an environment variable's name "
		              "(letters, digits and '_', not starting with a "
		              "digit)", q);
	return AFK_OK;
}

/* The array m of type t (AFK__M_COMMAND, _VARS or _LOGINS) in *out (the
 * caller's).  That no VARS entry names a secret is checked on the result
 * (check_env_secrets()): the secret may be configured after it. */
static int strv_value(cfg_ctx *cx, json_t *m, afk__mtype t, afk__strv *out)
{
	int rc;

	if (t == AFK__M_COMMAND) {
		rc = strv_from_json(cx, m, check_arg_item, 0, out);
		if (rc == AFK_OK && out->n == 0)
			rc = refuse(cx, "the command cannot be empty");
		if (rc == AFK_OK)
			rc = resolve_command(cx, out);
	} else if (t == AFK__M_VARS) {
		rc = strv_from_json(cx, m, check_var_item, 1, out);
	} else {
		rc = strv_from_json(cx, m, check_user_item, 1, out);
		if (rc == AFK_OK && out->n == 0)
			rc = refuse(cx, "an empty list would accept no pull "
			            "request: name the agent's login, or leave "
			            "the key out for the token's own");
	}
	return rc;
}

/* 1 when the n bytes at s are a token's shape: 20 or more letters and
 * digits, both, of 12 distinct bytes or more - no variable's name, made
 * of words, looks so. */
static int random_run(const char *s, size_t n)
{
	unsigned char seen[256];
	int alpha = 0, digit = 0, distinct = 0;
	size_t i;

	if (n < 20)
		return 0;
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digit = 1;
		else
			alpha = 1;
		if (!seen[(unsigned char)s[i]]++)
			distinct++;
	}
	return alpha && digit && distinct >= 12;
}

/* 1 when s, given where a variable's name (is_name) or a file's path
 * belongs, is rather a credential pasted there: one that starts as
 * GitHub's, GitLab's and Slack's tokens do, a URL (a webhook), or - for
 * a name - a run of letters and digits with a random token's shape. */
static int looks_like_secret(const char *s, int is_name)
{
	static const char *const prefixes[] = {
		"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
		"glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glimt-",
		"gloas-", "glcbt-", "glsoat-", "glagent-",
		"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-",
		"Bearer ", "bearer "
	};
	size_t i, n;

	for (i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++)
		if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	if (strstr(s, "://") != NULL)
		return 1;
	while (is_name && *s != '\0') {
		for (n = 0; (s[n] >= 'a' && s[n] <= 'z') ||
		            (s[n] >= 'A' && s[n] <= 'Z') ||
		            (s[n] >= '0' && s[n] <= '9'); n++)
			;
		if (random_run(s, n))
			return 1;
		s += n > 0 ? n : 1;
	}
	return 0;
}

/* The names of a secret member's pair: NAME_env and NAME_file. */
typedef struct secret_names {
	char env[48];
	char file[48];
} secret_names;

static void name_secret(const afk__member *mb, secret_names *n)
{
	snprintf(n->env, sizeof(n->env), "%s_env", mb->name);
	snprintf(n->file, sizeof(n->file), "%s_file", mb->name);
}

/* A secret is named, never written: exactly one of NAME_env (an
 * environment variable's name) and NAME_file (a path, made absolute),
 * set into sec.  A credential pasted in either is refused without being
 * quoted. */
static int secret_member(cfg_ctx *cx, json_t *v, const afk__member *mb,
                         json_t *sec)
{
	secret_names n;
	json_t *e, *f;
	const char *s;
	char *file = NULL;
	int rc;

	name_secret(mb, &n);
	e = json_object_get(v, n.env);
	f = json_object_get(v, n.file);
	if ((e == NULL) == (f == NULL))
		return refuse(cx, "exactly one of \"%s\" and \"%s\" is needed "
		              "(the secret itself never goes in the "
		              "configuration)", n.env, n.file);
	push_key(cx, f != NULL ? n.file : n.env);
	if (f != NULL && json_is_string(f) &&
	    looks_like_secret(json_string_value(f), 0))
		return refuse(cx, "looks like a secret, not a file's path (name "
		              "the file that holds it)");
	if (f != NULL) {
		rc = path_value(cx, f, &file);
		if (rc == AFK_OK && json_object_set_new(sec, n.file,
		                                        json_string(file)))
			rc = nomem(cx);
		free(file);
		if (rc == AFK_OK)
			pop(cx);
		return rc;
	}
	if (json_is_string(e) && looks_like_secret(json_string_value(e), 1))
		return refuse(cx, "looks like a secret, not a variable name "
		              "(name the environment variable that holds it)");
	rc = string_value(cx, e, &s);
	if (rc != AFK_OK)
		return rc;
	if (!is_var_name(s))
		return refuse(cx, "not an environment variable's name");
	if (json_object_set_new(sec, n.env, json_string(s)))
		return nomem(cx);
	pop(cx);
	return AFK_OK;
}

/* The JSON member m as its kind's check judges it: its compact text is
 * handed over, so that the configuration stays ignorant of the shape. */
static int json_value(cfg_ctx *cx, json_t *m,
                      const char *(*check)(const char *))
{
	char *text = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
	const char *why;

	if (text == NULL)
		return nomem(cx);
	why = check != NULL ? check(text) : NULL;
	free(text);
	if (why != NULL && why[0] == '\0')
		return nomem(cx);
	if (why != NULL)
		return refuse(cx, "%s", why);
	return AFK_OK;
}

/* Checks m, the value of member mb (on cx's path), and sets what is kept
 * of it into sec.  An empty VARS array is kept as absent. */
static int member_value(cfg_ctx *cx, const afk__member *mb, json_t *m,
                        json_t *sec)
{
	afk__strv list = {NULL, 0, 0};
	const char *s;
	char *owned = NULL;
	long long n;
	json_t *out = NULL;
	int rc;

	switch (mb->type) {
	case AFK__M_STRING:
		rc = string_value(cx, m, &s);
		if (rc == AFK_OK)
			out = json_string(s);
		break;
	case AFK__M_PATH:
		rc = path_value(cx, m, &owned);
		if (rc == AFK_OK)
			out = json_string(owned);
		break;
	case AFK__M_URL:
		rc = url_value(cx, m, mb->check, &owned);
		if (rc == AFK_OK)
			out = json_string(owned);
		break;
	case AFK__M_COMMAND:
	case AFK__M_VARS:
	case AFK__M_LOGINS:
		rc = strv_value(cx, m, mb->type, &list);
		if (rc == AFK_OK && list.n == 0)
			return AFK_OK;
		if (rc == AFK_OK)
			out = strv_to_json(&list);
		afk__strv_clear(&list);
		break;
	case AFK__M_INT:
		rc = int_in_range(cx, m, mb->lo, mb->hi, &n);
		if (rc == AFK_OK)
			out = json_integer((json_int_t)n);
		break;
	case AFK__M_BOOL:
		rc = json_is_boolean(m) ? AFK_OK : wrong_type(cx, m, "true or "
		                                              "false");
		if (rc == AFK_OK)
			out = json_incref(m);
		break;
	case AFK__M_JSON:
		rc = json_value(cx, m, mb->check);
		if (rc == AFK_OK)
			out = json_deep_copy(m);
		break;
	default:
		return refuse(cx, "%s", mb->doc);
	}
	free(owned);
	if (rc != AFK_OK)
		return rc;
	if (out == NULL || json_object_set_new(sec, mb->name, out))
		return nomem(cx);
	return AFK_OK;
}

/* Checks member mb of the adapter object v into sec: its value, its
 * default, or its absence. */
static int check_member(cfg_ctx *cx, const afk__member *mb, json_t *v,
                        json_t *sec)
{
	json_error_t err;
	json_t *m, *dflt = NULL;
	int rc;

	if (mb->type == AFK__M_SECRET)
		return secret_member(cx, v, mb, sec);
	m = json_object_get(v, mb->name);
	if (m == NULL && mb->dflt != NULL) {
		dflt = json_loads(mb->dflt, JSON_DECODE_ANY, &err);
		if (dflt == NULL)
			return nomem(cx);
		m = dflt;
	}
	push_key(cx, mb->name);
	if (m == NULL && (mb->flags & AFK__M_REQUIRED))
		return refuse(cx, "missing");
	rc = m != NULL ? member_value(cx, mb, m, sec) : AFK_OK;
	json_decref(dflt);
	if (rc == AFK_OK)
		pop(cx);
	return rc;
}

/* 1 when name is a member an object of kind k may have. */
static int is_member(const afk__kind *k, const char *name)
{
	const afk__member *mb;
	secret_names n;

	if (strcmp(name, "kind") == 0)
		return 1;
	for (mb = k->members; mb->name != NULL; mb++) {
		if (mb->type != AFK__M_SECRET) {
			if (strcmp(mb->name, name) == 0)
				return 1;
			continue;
		}
		name_secret(mb, &n);
		if (strcmp(n.env, name) == 0 || strcmp(n.file, name) == 0)
			return 1;
	}
	return 0;
}

/* Writes the known kinds of role, quoted and separated by commas, into
 * buf. */
static void list_kinds(const afk_config *c, afk__role role, char *buf,
                       size_t size)
{
	const afk__kind *k;
	size_t i, o = 0;
	int w;

	buf[0] = '\0';
	for (i = 0; o < size && (k = c->kinds(role, i)) != NULL; i++) {
		w = snprintf(buf + o, size - o, "%s\"%s\"", i ? ", " : "",
		             k->name);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/* Finds the kind of role the adapter object v names, or refuses. */
static int find_kind(const afk_config *c, cfg_ctx *cx, json_t *v,
                     afk__role role, const afk__kind **out)
{
	char known[192], q[QUOTE_SHORT];
	json_t *k = json_object_get(v, "kind");
	const afk__kind *kind;
	size_t i;

	list_kinds(c, role, known, sizeof(known));
	push_key(cx, "kind");
	if (k == NULL)
		return refuse(cx, "missing (known kinds: %s)", known);
	if (!json_is_string(k))
		return wrong_type(cx, k, "a string");
	for (i = 0; (kind = c->kinds(role, i)) != NULL; i++) {
		if (strcmp(kind->name, json_string_value(k)) == 0) {
			pop(cx);
			*out = kind;
			return AFK_OK;
		}
	}
	quote(q, sizeof(q), json_string_value(k));
	return refuse(cx, "unknown kind %s (known kinds: %s)", q, known);
}

/* Sets the adapter key of role: null selects none; an object is checked
 * against its kind's members and kept as its section. */
static int set_adapter(afk_config *c, json_t *v, cfg_ctx *cx, afk__role role)
{
	const afk__kind *kind = NULL;
	const afk__member *mb;
	const char *name;
	json_t *m, *sec;
	int rc;

	if (json_is_null(v)) {
		json_decref(c->section[role]);
		c->section[role] = NULL;
		c->kind[role] = NULL;
		return AFK_OK;
	}
	if (!json_is_object(v))
		return wrong_type(cx, v, "an object or null");
	rc = find_kind(c, cx, v, role, &kind);
	if (rc != AFK_OK)
		return rc;
	json_object_foreach(v, name, m) {
		if (!is_member(kind, name)) {
			push_key(cx, name);
			return refuse(cx, "unknown member of a \"%s\" %s",
			              kind->name, afk__role_key(role));
		}
	}
	sec = json_object();
	if (sec == NULL || json_object_set_new(sec, "kind",
	                                       json_string(kind->name))) {
		json_decref(sec);
		return nomem(cx);
	}
	for (mb = kind->members, rc = AFK_OK; rc == AFK_OK && mb->name; mb++)
		rc = check_member(cx, mb, v, sec);
	if (rc != AFK_OK) {
		json_decref(sec);
		return rc;
	}
	json_decref(c->section[role]);
	c->section[role] = sec;
	c->kind[role] = kind;
	return AFK_OK;
}

static json_t *get_adapter(const afk_config *c, afk__role role)
{
	return c->section[role] != NULL ? json_incref(c->section[role]) :
	       json_null();
}

static int set_tracker(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return set_adapter(c, v, cx, AFK__ROLE_TRACKER);
}

static json_t *get_tracker(const afk_config *c)
{
	return get_adapter(c, AFK__ROLE_TRACKER);
}

static int set_agent(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return set_adapter(c, v, cx, AFK__ROLE_AGENT);
}

static json_t *get_agent(const afk_config *c)
{
	return get_adapter(c, AFK__ROLE_AGENT);
}

static int set_ci(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return set_adapter(c, v, cx, AFK__ROLE_CI);
}

static json_t *get_ci(const afk_config *c)
{
	return get_adapter(c, AFK__ROLE_CI);
}

static int set_notifier(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return set_adapter(c, v, cx, AFK__ROLE_NOTIFIER);
}

static json_t *get_notifier(const afk_config *c)
{
	return get_adapter(c, AFK__ROLE_NOTIFIER);
}

/* Stores in *out the integer v when it lies in lo..hi.  A number with a
 * fraction or an exponent is refused, not rounded: 1.5 retries is a
 * mistake to point out. */
static int int_in_range(cfg_ctx *cx, json_t *v, long long lo, long long hi,
                        long long *out)
{
	long long n;

	if (!json_is_integer(v))
		return wrong_type(cx, v, "an integer");
	n = (long long)json_integer_value(v);
	if (n < lo || n > hi)
		return refuse(cx, "%lld is out of range (%lld to %lld)", n, lo,
		              hi);
	*out = n;
	return AFK_OK;
}

static int set_fix_forward_budget(afk_config *c, json_t *v, cfg_ctx *cx)
{
	long long n = 0;
	int rc = int_in_range(cx, v, 0, BUDGET_MAX, &n);

	if (rc == AFK_OK)
		c->fix_forward_budget = (int)n;
	return rc;
}

static json_t *get_fix_forward_budget(const afk_config *c)
{
	return json_integer(c->fix_forward_budget);
}

/* "max_in_flight": the most runs in flight across every repository, an
 * integer from 1, or null for no cap (the default). */
static int set_max_in_flight(afk_config *c, json_t *v, cfg_ctx *cx)
{
	long long n = 0;
	int rc;

	if (json_is_null(v)) {
		c->max_in_flight = 0;
		return AFK_OK;
	}
	rc = int_in_range(cx, v, 1, MAX_IN_FLIGHT_MAX, &n);
	if (rc == AFK_OK)
		c->max_in_flight = (long)n;
	return rc;
}

static json_t *get_max_in_flight(const afk_config *c)
{
	return c->max_in_flight > 0 ? json_integer(c->max_in_flight) :
	       json_null();
}

static int set_trust_writers(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return bool_into(cx, v, &c->trust_writers);
}

static json_t *get_trust_writers(const afk_config *c)
{
	return json_boolean(c->trust_writers);
}

static int set_deploy_stage(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return bool_into(cx, v, &c->deploy_stage);
}

static json_t *get_deploy_stage(const afk_config *c)
{
	return json_boolean(c->deploy_stage);
}

static int set_stall_timeout(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return int_in_range(cx, v, 1, TIMEOUT_MAX, &c->stall_timeout);
}

static int set_ci_timeout(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return int_in_range(cx, v, 1, TIMEOUT_MAX, &c->ci_timeout);
}

static int set_deploy_timeout(afk_config *c, json_t *v, cfg_ctx *cx)
{
	return int_in_range(cx, v, 1, TIMEOUT_MAX, &c->deploy_timeout);
}

static json_t *get_stall_timeout(const afk_config *c)
{
	return json_integer(c->stall_timeout);
}

static json_t *get_ci_timeout(const afk_config *c)
{
	return json_integer(c->ci_timeout);
}

static json_t *get_deploy_timeout(const afk_config *c)
{
	return json_integer(c->deploy_timeout);
}

/* Stores in *out the integer member name of the "http" object v, in
 * lo..hi; dflt when the member is absent. */
static int http_int(cfg_ctx *cx, json_t *v, const char *name, long long lo,
                    long long hi, long long dflt, long long *out)
{
	json_t *m = json_object_get(v, name);
	int rc;

	*out = dflt;
	if (m == NULL)
		return AFK_OK;
	push_key(cx, name);
	rc = int_in_range(cx, m, lo, hi, out);
	if (rc == AFK_OK)
		pop(cx);
	return rc;
}

static const char *const http_members[] = {
	"per_host", "connect_timeout", "timeout", "max_body", "max_pages",
	"etag_cache", "etag_cache_read_only", "rate_reserve", NULL
};

static int in_list(const char *const *list, const char *name)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

/* "http": {"per_host": 4, ...}.  The object is taken whole: a member it
 * leaves out gets its default, so what a file says is all that counts. */
static int set_http(afk_config *c, json_t *v, cfg_ctx *cx)
{
	long long per_host, connect, total, body, pages, reserve;
	const char *name;
	char *cache = NULL;
	json_t *m;
	int rc, read_only = 0;

	if (!json_is_object(v))
		return wrong_type(cx, v, "an object");
	json_object_foreach(v, name, m) {
		if (!in_list(http_members, name)) {
			push_key(cx, name);
			return refuse(cx, "unknown member of http");
		}
	}
	rc = http_int(cx, v, "per_host", 1, HTTP_PER_HOST_MAX, HTTP_PER_HOST,
	              &per_host);
	if (rc == AFK_OK)
		rc = http_int(cx, v, "connect_timeout", 1,
		              HTTP_CONNECT_TIMEOUT_MAX, HTTP_CONNECT_TIMEOUT,
		              &connect);
	if (rc == AFK_OK)
		rc = http_int(cx, v, "timeout", 1, HTTP_TIMEOUT_MAX, HTTP_TIMEOUT,
		              &total);
	if (rc == AFK_OK)
		rc = http_int(cx, v, "max_body", HTTP_MAX_BODY_MIN,
		              HTTP_MAX_BODY_MAX, HTTP_MAX_BODY, &body);
	if (rc == AFK_OK)
		rc = http_int(cx, v, "max_pages", 1, HTTP_MAX_PAGES_MAX,
		              HTTP_MAX_PAGES, &pages);
	if (rc == AFK_OK)
		rc = http_int(cx, v, "rate_reserve", 0, HTTP_RATE_RESERVE_MAX,
		              HTTP_RATE_RESERVE, &reserve);
	m = json_object_get(v, "etag_cache");
	if (rc == AFK_OK && m != NULL && !json_is_null(m))
		rc = path_member(cx, v, "etag_cache", NULL, &cache);
	m = json_object_get(v, "etag_cache_read_only");
	if (rc == AFK_OK && m != NULL) {
		push_key(cx, "etag_cache_read_only");
		rc = bool_into(cx, m, &read_only);
		if (rc == AFK_OK)
			pop(cx);
	}
	if (rc != AFK_OK) {
		free(cache);
		return rc;
	}
	free(c->http_etag_cache);
	c->http_etag_cache = cache;
	c->http_per_host = (long)per_host;
	c->http_connect_timeout = (long)connect;
	c->http_timeout = (long)total;
	c->http_max_body = body;
	c->http_max_pages = (long)pages;
	c->http_rate_reserve = (long)reserve;
	c->http_etag_cache_read_only = read_only;
	return AFK_OK;
}

static json_t *get_http(const afk_config *c)
{
	json_t *o = json_object();

	if (o == NULL ||
	    json_object_set_new(o, "per_host", json_integer(c->http_per_host)) ||
	    json_object_set_new(o, "connect_timeout",
	                        json_integer(c->http_connect_timeout)) ||
	    json_object_set_new(o, "timeout", json_integer(c->http_timeout)) ||
	    json_object_set_new(o, "max_body", json_integer(c->http_max_body)) ||
	    json_object_set_new(o, "max_pages",
	                        json_integer(c->http_max_pages)) ||
	    json_object_set_new(o, "etag_cache",
	                        string_or_null(c->http_etag_cache)) ||
	    json_object_set_new(o, "etag_cache_read_only",
	                        json_boolean(c->http_etag_cache_read_only)) ||
	    json_object_set_new(o, "rate_reserve",
	                        json_integer(c->http_rate_reserve))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* "budget": {"tokens": N, "cost_usd": X}, the cap on one run's usage
 * as its agent reports it, fix-forward turns included.  Both members
 * are optional (absent or null: no cap); the object is taken whole,
 * like "http".  A cost is a JSON number of dollars, kept in millionths
 * too, which is what the snapshots report; a cap that rounds to none is
 * refused rather than read as "no cap". */
static const char *const budget_members[] = {"tokens", "cost_usd", NULL};

static int budget_cost(cfg_ctx *cx, json_t *m, double *usd, long long *micro)
{
	double d;

	if (!json_is_number(m))
		return wrong_type(cx, m, "a number");
	d = json_number_value(m);
	if (!(d > 0) || d > BUDGET_COST_MAX)
		return refuse(cx, "%.15g is out of range (above 0, up to "
		              "1000000)", d);
	if (d * 1e6 < 0.5)
		return refuse(cx, "%.15g is below a millionth of a dollar", d);
	*usd = d;
	*micro = (long long)(d * 1e6 + 0.5);
	return AFK_OK;
}

static int set_budget(afk_config *c, json_t *v, cfg_ctx *cx)
{
	long long tokens = 0, micro = 0;
	double usd = 0;
	const char *name;
	json_t *m;
	int rc = AFK_OK;

	if (!json_is_object(v))
		return wrong_type(cx, v, "an object");
	json_object_foreach(v, name, m) {
		if (!in_list(budget_members, name)) {
			push_key(cx, name);
			return refuse(cx, "unknown member of budget");
		}
	}
	m = json_object_get(v, "tokens");
	if (m != NULL && !json_is_null(m)) {
		push_key(cx, "tokens");
		rc = int_in_range(cx, m, 1, BUDGET_TOKENS_MAX, &tokens);
		if (rc != AFK_OK)
			return rc;
		pop(cx);
	}
	m = json_object_get(v, "cost_usd");
	if (m != NULL && !json_is_null(m)) {
		push_key(cx, "cost_usd");
		rc = budget_cost(cx, m, &usd, &micro);
		if (rc != AFK_OK)
			return rc;
		pop(cx);
	}
	c->budget_tokens = tokens;
	c->budget_cost_usd = usd;
	c->budget_cost_microusd = micro;
	return AFK_OK;
}

/* Only the caps that are set: the default reads "{}". */
static json_t *get_budget(const afk_config *c)
{
	json_t *o = json_object();

	if (o == NULL ||
	    (c->budget_tokens > 0 &&
	     json_object_set_new(o, "tokens", json_integer(c->budget_tokens))) ||
	    (c->budget_cost_microusd > 0 &&
	     json_object_set_new(o, "cost_usd",
	                         json_real(c->budget_cost_usd)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* A key: its name, its setter (validates v and sets it on the aside copy
 * c, which is thrown away on failure, so a setter may stop halfway) and
 * its getter (a new reference, NULL when memory ran out). */
typedef struct cfg_key {
	const char *name;
	int (*set)(afk_config *c, json_t *v, cfg_ctx *cx);
	json_t *(*get)(const afk_config *c);
} cfg_key;

static const cfg_key keys[] = {
	{"kill_switch", set_kill_switch, get_kill_switch},
	{"allowlist", set_allowlist, get_allowlist},
	{"ready_label", set_ready_label, get_ready_label},
	{"in_progress_label", set_in_progress_label, get_in_progress_label},
	{"human_label", set_human_label, get_human_label},
	{"trusted_users", set_trusted_users, get_trusted_users},
	{"trust_writers", set_trust_writers, get_trust_writers},
	{"preamble_file", set_preamble_file, get_preamble_file},
	{"tracker", set_tracker, get_tracker},
	{"agent", set_agent, get_agent},
	{"ci", set_ci, get_ci},
	{"notifier", set_notifier, get_notifier},
	{"fix_forward_budget", set_fix_forward_budget, get_fix_forward_budget},
	{"max_in_flight", set_max_in_flight, get_max_in_flight},
	{"deploy_stage", set_deploy_stage, get_deploy_stage},
	{"stall_timeout", set_stall_timeout, get_stall_timeout},
	{"ci_timeout", set_ci_timeout, get_ci_timeout},
	{"deploy_timeout", set_deploy_timeout, get_deploy_timeout},
	{"http", set_http, get_http},
	{"state_dir", set_state_dir, get_state_dir},
	{"metrics_file", set_metrics_file, get_metrics_file},
	{"budget", set_budget, get_budget},
};

#define NKEYS (sizeof(keys) / sizeof(*keys))

static long key_index(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* 1 when the entry e of c->members is one of key's members. */
static int member_of(const char *e, const char *key)
{
	size_t n = strlen(key);

	return strncmp(e, key, n) == 0 && e[n] == '.';
}

/* Forgets where the members of key were set, and, when v (key's new
 * value) is an object read from a text, records where each of its
 * members is: the built-ins name the line of the member they cannot be
 * set up from (afk__config_where()). */
static int record_members(afk_config *c, const char *key, json_t *v,
                          cfg_ctx *cx)
{
	afk__strv kept = {NULL, 0, 0};
	afk__jsonpos_step path[2];
	const char *name;
	json_t *m;
	char *e;
	size_t i;
	int rc = AFK_OK;

	for (i = 0; rc == AFK_OK && i < c->members.n; i++)
		if (!member_of(c->members.v[i], key) &&
		    afk__strv_push(&kept, c->members.v[i]))
			rc = AFK_ENOMEM;
	path[0].key = key;
	path[0].index = 0;
	path[1].index = 0;
	if (cx->source != NULL && json_is_object(v)) {
		json_object_foreach(v, name, m) {
			if (rc != AFK_OK)
				break;
			path[1].key = name;
			e = afk__aprintf("%s.%s\t%s:%zu", key, name, cx->source,
			                 afk__jsonpos_line(cx->text, path, 2));
			if (e == NULL || afk__strv_push(&kept, e))
				rc = AFK_ENOMEM;
			free(e);
		}
	}
	if (rc != AFK_OK) {
		afk__strv_clear(&kept);
		return nomem(cx);
	}
	afk__strv_clear(&c->members);
	c->members = kept;
	return AFK_OK;
}

/* Sets key i from v on the aside copy c, naming key i in any message. */
static int apply_key(afk_config *c, size_t i, json_t *v, cfg_ctx *cx)
{
	int rc;

	push_key(cx, keys[i].name);
	rc = keys[i].set(c, v, cx);
	if (rc == AFK_OK)
		pop(cx);
	cx->set_keys |= 1UL << i;
	if (rc == AFK_OK)
		rc = record_members(c, keys[i].name, v, cx);
	return rc;
}

/* Refuses a result where two of the three labels are one: the lifecycle
 * tells issues apart by them.  The blame goes to a label this change set,
 * so the message points at what the user just wrote. */
static int check_labels(const afk_config *c, cfg_ctx *cx)
{
	const char *name[3] = {"ready_label", "in_progress_label",
	                       "human_label"};
	const char *val[3];
	char q[QUOTE_SHORT];
	size_t i, j, blame, other;

	val[0] = c->ready_label;
	val[1] = c->in_progress_label;
	val[2] = c->human_label;
	for (i = 0; i < 3; i++) {
		for (j = i + 1; j < 3; j++) {
			if (!same_ascii(val[i], val[j]))
				continue;
			blame = cx->set_keys & (1UL << key_index(name[j])) ? j : i;
			other = blame == j ? i : j;
			push_key(cx, name[blame]);
			quote(q, sizeof(q), val[blame]);
			return refuse(cx, "%s is also the %s (labels are "
			              "compared ignoring case); the three labels "
			              "must differ", q, name[other]);
		}
	}
	return AFK_OK;
}

/* A variable the configuration reads a secret from: the role whose
 * section names it, in which member. */
typedef struct secret_var {
	afk__role role;
	char member[48];      /* "token_env" */
	const char *name;     /* the variable */
} secret_var;

/* Refuses the entry j of the VARS member vars of role, which names the
 * variable of the secret s.  The blame goes to the entry, unless this
 * change set only the secret. */
static int refuse_secret_env(cfg_ctx *cx, afk__role role, const char *vars,
                             size_t j, const secret_var *s)
{
	const char *key = afk__role_key(role), *skey = afk__role_key(s->role);
	unsigned long env_bit = 1UL << key_index(key);
	unsigned long secret_bit = 1UL << key_index(skey);
	char q[QUOTE_SHORT];

	quote(q, sizeof(q), s->name);
	if (!(cx->set_keys & env_bit) && (cx->set_keys & secret_bit)) {
		push_key(cx, skey);
		push_key(cx, s->member);
		return refuse(cx, "%s is passed to the %s command by %s.%s: "
		              "a secret never goes to a command", q, key, key,
		              vars);
	}
	push_key(cx, key);
	push_key(cx, vars);
	push_index(cx, j);
	return refuse(cx, "%s is the %s's %s: a secret never goes to a "
	              "command", q, skey, s->member);
}

/* The variable the secret member mb of role's section is read from, in
 * *s; 0 when it is read from a file. */
static int secret_var_of(const afk_config *c, afk__role role,
                         const afk__member *mb, secret_var *s)
{
	secret_names n;
	json_t *e;

	name_secret(mb, &n);
	e = json_object_get(c->section[role], n.env);
	if (e == NULL)
		return 0;
	s->role = role;
	memcpy(s->member, n.env, sizeof(s->member));
	s->name = json_string_value(e);
	return 1;
}

/* Refuses the entries of the VARS member mb of role's section that pass
 * on the variable of a secret of any section. */
static int check_vars(const afk_config *c, cfg_ctx *cx, afk__role role,
                      const afk__member *mb)
{
	json_t *list = json_object_get(c->section[role], mb->name), *item;
	const afk__member *sm;
	secret_var s;
	size_t j, r;

	json_array_foreach(list, j, item)
		for (r = 0; r < AFK__ROLE_COUNT; r++)
			for (sm = c->kind[r] ? c->kind[r]->members : NULL;
			     sm != NULL && sm->name != NULL; sm++)
				if (sm->type == AFK__M_SECRET &&
				    secret_var_of(c, (afk__role)r, sm, &s) &&
				    strcmp(s.name, json_string_value(item)) == 0)
					return refuse_secret_env(cx, role,
					                         mb->name, j, &s);
	return AFK_OK;
}

/* Refuses a result where a command's VARS member ("env") passes on a
 * variable that a secret of the configuration is read from: the agent
 * reads untrusted issue text, and what a command is given it may be
 * talked into giving away.  Checked on the result, since the secret may
 * come after. */
static int check_env_secrets(const afk_config *c, cfg_ctx *cx)
{
	const afk__member *mb;
	size_t r;
	int rc;

	for (r = 0; r < AFK__ROLE_COUNT; r++) {
		for (mb = c->kind[r] ? c->kind[r]->members : NULL;
		     mb != NULL && mb->name != NULL; mb++) {
			if (mb->type != AFK__M_VARS)
				continue;
			rc = check_vars(c, cx, (afk__role)r, mb);
			if (rc != AFK_OK)
				return rc;
		}
	}
	return AFK_OK;
}

/* The adapter of c that addresses repositories as "owner/name"
 * (AFK__K_OWNER_REPOS: the forges build their API paths from both
 * halves), as its key, or NULL when none does.  The tracker first: it is
 * the one that lists the allowlist. */
static const char *owner_needed_by(const afk_config *c, const char **kind)
{
	size_t r;

	for (r = 0; r < AFK__ROLE_COUNT; r++) {
		if (c->kind[r] != NULL &&
		    (c->kind[r]->flags & AFK__K_OWNER_REPOS)) {
			*kind = c->kind[r]->name;
			return afk__role_key((afk__role)r);
		}
	}
	return NULL;
}

/* The index of the first entry of list (c's allowlist, or one about to
 * be) without an owner, or -1 when every entry has one or no adapter of
 * c needs one. */
static long ownerless_entry(const afk_config *c, const afk__strv *list,
                            const char **key, const char **kind)
{
	size_t i;

	*key = owner_needed_by(c, kind);
	if (*key == NULL)
		return -1;
	for (i = 0; i < list->n; i++)
		if (strchr(list->v[i], '/') == NULL)
			return (long)i;
	return -1;
}

/* Refuses a result whose allowlist holds a bare name ("api") while an
 * adapter needs "owner/name": every tick would fail on it.  Checked on
 * the result, since the tracker may come after the allowlist.  The blame
 * goes to the entry, unless this change set only the adapter. */
static int check_allowlist_owners(const afk_config *c, cfg_ctx *cx)
{
	unsigned long list_bit = 1UL << key_index("allowlist");
	const char *key, *kind;
	char q[QUOTE_SHORT];
	long j;

	j = ownerless_entry(c, &c->allowlist, &key, &kind);
	if (j < 0)
		return AFK_OK;
	quote(q, sizeof(q), c->allowlist.v[j]);
	if (!(cx->set_keys & list_bit) &&
	    (cx->set_keys & (1UL << key_index(key)))) {
		push_key(cx, key);
		push_key(cx, "kind");
		return refuse(cx, "the %s %s needs \"owner/name\" "
		              "repositories, and allowlist[%ld] %s has no owner",
		              kind, key, j, q);
	}
	push_key(cx, "allowlist");
	push_index(cx, (size_t)j);
	return refuse(cx, "%s has no owner (the %s %s needs \"owner/name\")",
	              q, kind, key);
}

/* The checks of a whole result, after every key of a change was set. */
static int check_result(const afk_config *c, cfg_ctx *cx)
{
	int rc;

	rc = check_labels(c, cx);
	if (rc == AFK_OK)
		rc = check_env_secrets(c, cx);
	if (rc == AFK_OK)
		rc = check_allowlist_owners(c, cx);
	return rc;
}

/* --- the public functions -------------------------------------------- */

/* Fills a zeroed c with the defaults; AFK_ENOMEM leaves what was made
 * for config_clear(). */
static int config_defaults(afk_config *c)
{
	c->kill_switch = 1;
	c->fix_forward_budget = DEFAULT_BUDGET;
	c->deploy_stage = 0;
	c->trust_writers = 0;
	c->stall_timeout = DEFAULT_STALL_TIMEOUT;
	c->ci_timeout = DEFAULT_CI_TIMEOUT;
	c->deploy_timeout = DEFAULT_DEPLOY_TIMEOUT;
	c->http_per_host = HTTP_PER_HOST;
	c->http_connect_timeout = HTTP_CONNECT_TIMEOUT;
	c->http_timeout = HTTP_TIMEOUT;
	c->http_max_body = HTTP_MAX_BODY;
	c->http_max_pages = HTTP_MAX_PAGES;
	c->http_rate_reserve = HTTP_RATE_RESERVE;
	c->ready_label = afk__strdup("ready-for-agent");
	c->in_progress_label = afk__strdup("agent-in-progress");
	c->human_label = afk__strdup("ready-for-human");
	if (c->ready_label == NULL || c->in_progress_label == NULL ||
	    c->human_label == NULL)
		return AFK_ENOMEM;
	return AFK_OK;
}

/* The defaults fail closed (see afk/config.h); *out is the caller's, NULL
 * on failure.  afk_config_new() is the registry's (lib/builtin/): it
 * hands in the kinds it lists. */
int afk__config_new(afk_config **out, afk__kind_fn kinds)
{
	afk_config *c;

	if (out == NULL)
		return AFK_EINVAL;
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return AFK_ENOMEM;
	c->kinds = kinds;
	if (config_defaults(c) != AFK_OK) {
		afk_config_free(c);
		return AFK_ENOMEM;
	}
	*out = c;
	return AFK_OK;
}

/* Frees every setting and the handle; NULL is a no-op. */
void afk_config_free(afk_config *cfg)
{
	if (cfg == NULL)
		return;
	config_clear(cfg);
	afk__log_unref(cfg->log);
	free(cfg);
}

/* The log is the handle's, like its message: config_commit() keeps it.
 * The same function and userdata again only change the level (the
 * built-ins holding the log see it too); anything else is a new log,
 * and the old one's destroy runs when the last holder lets it go. */
int afk_config_set_log(afk_config *cfg, afk_log_fn fn, int max_level,
                       void *userdata, afk_destroy_fn destroy)
{
	afk__log *log = NULL;

	if (cfg == NULL || max_level < AFK_LOG_ERROR ||
	    max_level > AFK_LOG_DEBUG)
		return AFK_EINVAL;
	if (fn != NULL && afk__log_same(cfg->log, fn, userdata, destroy)) {
		afk__log_set_level(cfg->log, max_level);
		return AFK_OK;
	}
	if (fn != NULL) {
		log = afk__log_new(fn, max_level, userdata, destroy);
		if (log == NULL) {
			afk__errf(cfg->errmsg, "afk_config_set_log: out of "
			          "memory");
			return AFK_ENOMEM;
		}
	} else if (destroy != NULL) {
		destroy(userdata);      /* nothing will use it */
	}
	afk__log_unref(cfg->log);
	cfg->log = log;
	return AFK_OK;
}

/* Records jansson's refusal of the text, with its line and column when it
 * knows them. */
static int refuse_json(cfg_ctx *cx, const json_error_t *err)
{
	char where[AFK__ERRMSG_SIZE / 2];
	char path[AFK__ERRMSG_SIZE / 2];

	where[0] = path[0] = '\0';
	if (cx->source != NULL && err->line > 0)
		snprintf(where, sizeof(where), "%s:%d:%d: ", cx->source,
		         err->line, err->column);
	else if (cx->source != NULL)
		snprintf(where, sizeof(where), "%s: ", cx->source);
	name_path(cx, path, sizeof(path));
	afk__errf(cx->errbuf, "%s%s%sinvalid JSON: %s", where, path,
	          path[0] ? ": " : "", err->text);
	return AFK_ECONFIG;
}

/* Applies every member of the object root to the aside copy next. */
static int apply_object(afk_config *next, json_t *root, cfg_ctx *cx)
{
	char q[QUOTE_SHORT];
	const char *name;
	json_t *v;
	long i;
	int rc;

	if (!json_is_object(root))
		return refuse(cx, "expected an object at the top level, got %s",
		              afk__json_type_name(root));
	json_object_foreach(root, name, v) {
		i = key_index(name);
		if (i < 0) {
			push_key(cx, name);
			quote(q, sizeof(q), name);
			return refuse_bare(cx, "%s: unknown key", q);
		}
		rc = apply_key(next, (size_t)i, v, cx);
		if (rc != AFK_OK)
			return rc;
	}
	return check_result(next, cx);
}

/* Loads the len bytes of text (NUL-terminated) named source, relative
 * paths taken from dir, all or nothing. */
static int load_text(afk_config *cfg, const char *text, size_t len,
                     const char *source, const char *dir)
{
	cfg_ctx cx;
	afk_config next;
	json_error_t err;
	json_t *root;
	int rc;

	memset(&cx, 0, sizeof(cx));
	cx.source = source;
	cx.text = text;
	cx.dir = dir;
	cx.errbuf = cfg->errmsg;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
		return refuse_json(&cx, &err);
	rc = config_copy(&next, cfg);
	if (rc != AFK_OK) {
		json_decref(root);
		return nomem(&cx);
	}
	rc = apply_object(&next, root, &cx);
	json_decref(root);
	if (rc != AFK_OK) {
		config_clear(&next);
		return rc;
	}
	config_commit(cfg, &next);
	return AFK_OK;
}

/* The directory part of path in a heap string (the caller's): "" when
 * path has none, so that the current directory is used. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n;
	char *dir;

	if (slash == NULL)
		return afk__strdup("");
	n = slash == path ? 1 : (size_t)(slash - path);
	dir = malloc(n + 1);
	if (dir != NULL) {
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	return dir;
}

/* Reads the whole file first, since the line of a refused value is found
 * in its text.  AFK_EIO when it cannot be read, AFK_ECONFIG for anything
 * refused; either way cfg is untouched but for its message. */
int afk_config_load_file(afk_config *cfg, const char *path)
{
	char *text = NULL, *dir;
	size_t len;
	int rc;

	if (cfg == NULL)
		return AFK_EINVAL;
	if (path == NULL) {
		afk__errf(cfg->errmsg, "afk_config_load_file: path is NULL");
		return AFK_EINVAL;
	}
	rc = slurp(path, CONFIG_FILE_MAX, &text, &len);
	if (rc == AFK_ENOMEM) {
		afk__errf(cfg->errmsg, "out of memory");
		return rc;
	}
	if (rc != AFK_OK) {
		afk__errf(cfg->errmsg, "%s: cannot read: %s", path,
		          read_error(errno));
		return AFK_EIO;
	}
	if (len > CONFIG_FILE_MAX) {
		free(text);
		afk__errf(cfg->errmsg, "%s: larger than 1 MiB", path);
		return AFK_ECONFIG;
	}
	dir = dir_of(path);
	if (dir == NULL)
		rc = AFK_ENOMEM;
	else
		rc = load_text(cfg, text, len, path, dir);
	if (rc == AFK_ENOMEM)
		afk__errf(cfg->errmsg, "out of memory");
	free(dir);
	free(text);
	return rc;
}

/* As afk_config_load_file(), naming the source "<string>" and taking
 * relative paths from the current directory. */
int afk_config_load_string(afk_config *cfg, const char *json)
{
	if (cfg == NULL)
		return AFK_EINVAL;
	if (json == NULL) {
		afk__errf(cfg->errmsg, "afk_config_load_string: json is NULL");
		return AFK_EINVAL;
	}
	return load_text(cfg, json, strlen(json), "<string>", NULL);
}

/* Any JSON value is accepted by the parser, then judged by the key's
 * setter exactly as in a file; messages name the key but no line. */
int afk_config_set(afk_config *cfg, const char *key, const char *json)
{
	char q[QUOTE_SHORT];
	cfg_ctx cx;
	afk_config next;
	json_error_t err;
	json_t *v;
	long i;
	int rc;

	if (cfg == NULL)
		return AFK_EINVAL;
	if (key == NULL || json == NULL) {
		afk__errf(cfg->errmsg, "afk_config_set: %s is NULL",
		          key == NULL ? "key" : "json");
		return AFK_EINVAL;
	}
	memset(&cx, 0, sizeof(cx));
	cx.errbuf = cfg->errmsg;
	i = key_index(key);
	if (i < 0) {
		quote(q, sizeof(q), key);
		afk__errf(cfg->errmsg, "%s: unknown key", q);
		return AFK_ECONFIG;
	}
	push_key(&cx, keys[i].name);
	v = json_loads(json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	if (v == NULL)
		return refuse_json(&cx, &err);
	pop(&cx);
	if (config_copy(&next, cfg) != AFK_OK) {
		json_decref(v);
		return nomem(&cx);
	}
	rc = apply_key(&next, (size_t)i, v, &cx);
	json_decref(v);
	if (rc == AFK_OK)
		rc = check_result(&next, &cx);
	if (rc != AFK_OK) {
		config_clear(&next);
		return rc;
	}
	config_commit(cfg, &next);
	return AFK_OK;
}

/* *json is compact JSON text, the caller's to afk_free().  cfg is const,
 * so a failure (AFK_EINVAL, AFK_ECONFIG for an unknown key, AFK_ENOMEM)
 * records no message. */
int afk_config_get(const afk_config *cfg, const char *key, char **json)
{
	json_t *v;
	long i;

	if (json != NULL)
		*json = NULL;
	if (cfg == NULL || key == NULL || json == NULL)
		return AFK_EINVAL;
	i = key_index(key);
	if (i < 0)
		return AFK_ECONFIG;
	v = keys[i].get(cfg);
	if (v == NULL)
		return AFK_ENOMEM;
	*json = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(v);
	return *json != NULL ? AFK_OK : AFK_ENOMEM;
}

/* The table's order is the documented order of afk.json(5). */
const char *afk_config_key(size_t i)
{
	return i < NKEYS ? keys[i].name : NULL;
}

/* Both gates, every time: neither alone arms. */
int afk_config_armed(const afk_config *cfg)
{
	return cfg != NULL && !cfg->kill_switch && cfg->allowlist.n > 0;
}

/* Never NULL: "" until a failure, then the last failure's message. */
const char *afk_config_errmsg(const afk_config *cfg)
{
	return cfg != NULL ? cfg->errmsg : "";
}

void afk__config_where(const afk_config *cfg, const char *key,
                       const char *member, char *buf, size_t size)
{
	size_t i, n = strlen(key), m = strlen(member);
	const char *e;

	for (i = 0; i < cfg->members.n; i++) {
		e = cfg->members.v[i];
		if (strncmp(e, key, n) == 0 && e[n] == '.' &&
		    strncmp(e + n + 1, member, m) == 0 && e[n + 1 + m] == '\t') {
			snprintf(buf, size, "%s: %s.%s", e + n + 2 + m, key,
			         member);
			return;
		}
	}
	snprintf(buf, size, "%s.%s", key, member);
}

/* --- what the commands are given of the environment ------------------ */

/* Ends v with a NULL that is not one of its strings. */
static int terminate(afk__strv *v)
{
	if (afk__grow((void **)&v->v, &v->cap, v->n, 1, sizeof(char *)))
		return AFK_ENOMEM;
	v->v[v->n] = NULL;
	return AFK_OK;
}

int afk__config_secret_envs(const afk_config *cfg, afk__strv *out)
{
	const afk__member *mb;
	secret_var v;
	size_t r;

	afk__strv_clear(out);
	for (r = 0; r < AFK__ROLE_COUNT; r++) {
		for (mb = cfg->kind[r] ? cfg->kind[r]->members : NULL;
		     mb != NULL && mb->name != NULL; mb++) {
			if (mb->type == AFK__M_SECRET &&
			    secret_var_of(cfg, (afk__role)r, mb, &v) &&
			    afk__strv_push(out, v.name)) {
				afk__strv_clear(out);
				return AFK_ENOMEM;
			}
		}
	}
	if (terminate(out) != AFK_OK) {
		afk__strv_clear(out);
		return AFK_ENOMEM;
	}
	return AFK_OK;
}

const afk__kind *afk__config_kind(const afk_config *cfg, afk__role role)
{
	return cfg->kind[role];
}

const char *afk__config_str(const afk_config *cfg, afk__role role,
                            const char *member)
{
	return json_string_value(json_object_get(cfg->section[role], member));
}

json_t *afk__config_json(const afk_config *cfg, afk__role role,
                         const char *member)
{
	return json_object_get(cfg->section[role], member);
}

long long afk__config_int(const afk_config *cfg, afk__role role,
                          const char *member)
{
	return (long long)json_integer_value(json_object_get(cfg->section[role],
	                                                     member));
}

int afk__config_strv(const afk_config *cfg, afk__role role,
                     const char *member, afk__strv *out)
{
	json_t *list = json_object_get(cfg->section[role], member), *item;
	size_t i;

	afk__strv_clear(out);
	json_array_foreach(list, i, item) {
		if (afk__strv_push(out, json_string_value(item))) {
			afk__strv_clear(out);
			return AFK_ENOMEM;
		}
	}
	if (terminate(out) != AFK_OK) {
		afk__strv_clear(out);
		return AFK_ENOMEM;
	}
	return AFK_OK;
}

const char *afk__role_key(afk__role role)
{
	static const char *const key[AFK__ROLE_COUNT] = {
		"tracker", "agent", "ci", "notifier"
	};

	return (size_t)role < AFK__ROLE_COUNT ? key[role] : "";
}

/* --- the environment ------------------------------------------------- */

/* Parses AFK_KILL_SWITCH's value into *on; -1 when it is no boolean. */
static int parse_bool(const char *s, int *on)
{
	static const char *const yes[] = {"1", "true", "on", "yes"};
	static const char *const no[] = {"0", "false", "off", "no"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (same_ascii(s, yes[i])) {
			*on = 1;
			return 0;
		}
		if (same_ascii(s, no[i])) {
			*on = 0;
			return 0;
		}
	}
	return -1;
}

/* Appends the entry of AFK_ALLOWLIST at s (n bytes, spaces around it
 * already trimmed) to list, refusing what the file would refuse. */
static int env_entry(const char *s, size_t n, afk__strv *list, char *errbuf)
{
	char why[AFK__ERRMSG_SIZE], q[QUOTE_SHORT];
	char *entry;
	int rc = AFK_OK;

	entry = malloc(n + 1);
	if (entry == NULL) {
		afk__errf(errbuf, "out of memory");
		return AFK_ENOMEM;
	}
	memcpy(entry, s, n);
	entry[n] = '\0';
	quote(q, sizeof(q), entry);
	if (afk__config_check_repo(entry, why) != AFK_OK) {
		afk__errf(errbuf, "AFK_ALLOWLIST: %s", why);
		rc = AFK_ECONFIG;
	} else if (afk__strv_find(list, entry) >= 0) {
		afk__errf(errbuf, "AFK_ALLOWLIST: %s is listed twice", q);
		rc = AFK_ECONFIG;
	} else if (afk__strv_push(list, entry)) {
		afk__errf(errbuf, "out of memory");
		rc = AFK_ENOMEM;
	}
	free(entry);
	return rc;
}

/* Parses AFK_ALLOWLIST's comma-separated value into *list (the
 * caller's).  A value of only spaces is empty: it empties the list. */
static int parse_allowlist(const char *s, afk__strv *list, char *errbuf)
{
	const char *end, *a, *b;
	int rc;

	for (a = s; is_space(*a); a++)
		;
	if (*a == '\0')
		return AFK_OK;
	for (;;) {
		end = strchr(s, ',');
		if (end == NULL)
			end = s + strlen(s);
		for (a = s; a < end && is_space(*a); a++)
			;
		for (b = end; b > a && is_space(b[-1]); b--)
			;
		rc = env_entry(a, (size_t)(b - a), list, errbuf);
		if (rc != AFK_OK) {
			afk__strv_clear(list);
			return rc;
		}
		if (*end == '\0')
			return AFK_OK;
		s = end + 1;
	}
}

/* Refuses (and clears) AFK_ALLOWLIST's list when an entry has no owner
 * while an adapter of cfg needs one, as check_allowlist_owners() does
 * for the file. */
static int env_owners(afk_config *cfg, afk__strv *list)
{
	const char *key, *kind;
	char q[QUOTE_SHORT];
	long j;

	j = ownerless_entry(cfg, list, &key, &kind);
	if (j < 0)
		return AFK_OK;
	quote(q, sizeof(q), list->v[j]);
	afk__errf(cfg->errmsg, "AFK_ALLOWLIST: %s has no owner (the %s %s "
	          "needs \"owner/name\")", q, kind, key);
	afk__strv_clear(list);
	return AFK_ECONFIG;
}

/* The default state directory the environment gives, in a heap string
 * (the caller's): systemd's $STATE_DIRECTORY (its first entry), else
 * $XDG_STATE_HOME/afk, else $HOME/.local/state/afk.  A relative value is
 * ignored, as the XDG specification says.  NULL when none is set (or
 * memory ran out: *nomem). */
static char *env_state_dir(int *nomem)
{
	const char *v = getenv("STATE_DIRECTORY");
	char *dir = NULL;

	*nomem = 0;
	if (v != NULL && v[0] == '/') {
		dir = afk__strdup(v);
		if (dir != NULL)
			dir[strcspn(dir, ":")] = '\0';
	} else if ((v = getenv("XDG_STATE_HOME")) != NULL && v[0] == '/') {
		dir = afk__aprintf("%s/afk", v);
	} else if ((v = getenv("HOME")) != NULL && v[0] == '/') {
		dir = afk__aprintf("%s/.local/state/afk", v);
	} else {
		return NULL;
	}
	*nomem = dir == NULL;
	return dir;
}

char *afk__config_state_path(const afk_config *cfg, const char *name,
                             int *none)
{
	*none = cfg->state_dir == NULL;
	return *none ? NULL : afk__aprintf("%s/%s", cfg->state_dir, name);
}

/* Both variables are parsed before either is applied, so a bad one
 * leaves both gates as they were.  The state directory's default is
 * taken last, and only when none was set. */
int afk_config_apply_env(afk_config *cfg)
{
	const char *ks, *al;
	char q[QUOTE_SHORT], *dir = NULL;
	afk__strv list = {NULL, 0, 0};
	int on, rc, nomem = 0;

	if (cfg == NULL)
		return AFK_EINVAL;
	ks = getenv("AFK_KILL_SWITCH");
	al = getenv("AFK_ALLOWLIST");
	on = cfg->kill_switch;
	if (ks != NULL && parse_bool(ks, &on) != 0) {
		quote(q, sizeof(q), ks);
		afk__errf(cfg->errmsg, "AFK_KILL_SWITCH: %s is not a boolean "
		          "(use 1/0, true/false, on/off)", q);
		return AFK_ECONFIG;
	}
	if (al != NULL) {
		rc = parse_allowlist(al, &list, cfg->errmsg);
		if (rc != AFK_OK)
			return rc;
		rc = env_owners(cfg, &list);
		if (rc != AFK_OK)
			return rc;
	}
	if (cfg->state_dir == NULL && (dir = env_state_dir(&nomem)) == NULL &&
	    nomem) {
		afk__strv_clear(&list);
		afk__errf(cfg->errmsg, "out of memory");
		return AFK_ENOMEM;
	}
	if (al != NULL) {
		afk__strv_clear(&cfg->allowlist);
		cfg->allowlist = list;
	}
	if (dir != NULL)
		cfg->state_dir = dir;
	cfg->kill_switch = on;
	return AFK_OK;
}
