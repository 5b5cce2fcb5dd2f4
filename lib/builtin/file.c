/*
 * lib/builtin/file.c - the "file" tracker: issues kept in a local JSON
 * file, for running afk with no server (the demo, tests, air-gapped use).
 *
 *   {"issues": [{"repo": "acme/api", "number": 12, "title": "...",
 *                "state": "open", "labels": ["ready-for-agent"],
 *                "priority": 2, "labeled_by": "alice",
 *                "blocked_by": [3], "url": "https://...",
 *                "comments": [{"body": "..."}]}]}
 *
 * The file is read afresh by every callback (the tick is stateless: the
 * file is the source of truth).  Every change is a read-modify-write
 * under an exclusive flock() on "<file>.lock", so that two overlapping
 * ticks never lose each other's label or comment, and replaces the file
 * atomically, so that a crash never leaves it half-written and readers,
 * who take no lock, see the old file or the new one.  Lookups go through
 * a sorted index, so a large file costs n log n, not n squared.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for realpath() */

#include "builtin/builtin.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/jsonpos.h"

/* What the callbacks need of the configuration, copied so that the
 * tracker does not depend on the configuration's lifetime. */
struct file_tracker {
	char *path;
	char *ready_label;
	char *in_progress_label;
	afk__strv trusted;
};

static void file_tracker_free(void *userdata)
{
	struct file_tracker *ft = userdata;

	if (ft == NULL)
		return;
	free(ft->path);
	free(ft->ready_label);
	free(ft->in_progress_label);
	afk__strv_clear(&ft->trusted);
	free(ft);
}

/* --- validation ------------------------------------------------------ */

#define NO_INDEX SIZE_MAX

/* Where the document is malformed and why: issues[i].key[k], each part
 * optional (NO_INDEX, NULL), as a path jsonpos can find the line of. */
struct bad {
	afk__jsonpos_step path[4];
	size_t n;
	char what[160];
};

/* Records a problem at issues[i].key[k]; always returns -1. */
static int bad_at(struct bad *b, size_t i, const char *key, size_t k,
                  const char *what)
{
	b->n = 0;
	b->path[b->n].key = "issues";
	b->path[b->n++].index = 0;
	if (i != NO_INDEX) {
		b->path[b->n].key = NULL;
		b->path[b->n++].index = i;
	}
	if (key != NULL) {
		b->path[b->n].key = key;
		b->path[b->n++].index = 0;
	}
	if (k != NO_INDEX) {
		b->path[b->n].key = NULL;
		b->path[b->n++].index = k;
	}
	snprintf(b->what, sizeof(b->what), "%s", what);
	return -1;
}

static int is_positive_long(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) > 0 &&
	       json_integer_value(v) <= LONG_MAX;
}

/* Checks that member key of issue i, when present, is a string.  "state"
 * must be "open" or "closed": a typo must not make an open blocker look
 * closed. */
static int check_string(const json_t *o, size_t i, const char *key,
                        int nullable, struct bad *b)
{
	const json_t *v = json_object_get(o, key);
	const char *s;

	if (v == NULL || (nullable && json_is_null(v)))
		return 0;
	if (!json_is_string(v) && nullable)
		return bad_at(b, i, key, NO_INDEX, "expected a string or null");
	if (!json_is_string(v))
		return bad_at(b, i, key, NO_INDEX, "expected a string");
	s = json_string_value(v);
	if (strcmp(key, "state") == 0 && strcmp(s, "open") != 0 &&
	    strcmp(s, "closed") != 0)
		return bad_at(b, i, key, NO_INDEX,
		              "expected \"open\" or \"closed\"");
	return 0;
}

/* Checks the optional array members: labels (non-empty strings) and
 * blocked_by (positive integers). */
static int check_arrays(const json_t *o, size_t i, struct bad *b)
{
	const json_t *a, *v;
	size_t k;

	a = json_object_get(o, "labels");
	if (a != NULL && !json_is_array(a))
		return bad_at(b, i, "labels", NO_INDEX, "expected an array");
	json_array_foreach(a, k, v) {
		if (!json_is_string(v) || json_string_length(v) == 0)
			return bad_at(b, i, "labels", k,
			              "expected a non-empty string");
	}
	a = json_object_get(o, "blocked_by");
	if (a != NULL && !json_is_array(a))
		return bad_at(b, i, "blocked_by", NO_INDEX,
		              "expected an array");
	json_array_foreach(a, k, v) {
		if (!is_positive_long(v))
			return bad_at(b, i, "blocked_by", k,
			              "expected a positive integer");
	}
	return 0;
}

/* Checks the optional "comments": objects with a string "body" (other
 * members, an author say, are kept as they are). */
static int check_comments(const json_t *o, size_t i, struct bad *b)
{
	const json_t *a, *v;
	size_t k;

	a = json_object_get(o, "comments");
	if (a != NULL && !json_is_array(a))
		return bad_at(b, i, "comments", NO_INDEX, "expected an array");
	json_array_foreach(a, k, v) {
		if (!json_is_object(v) ||
		    !json_is_string(json_object_get(v, "body")))
			return bad_at(b, i, "comments", k, "expected an object "
			              "with a string \"body\"");
	}
	return 0;
}

/* Checks one element of "issues". */
static int check_issue(const json_t *o, size_t i, struct bad *b)
{
	const json_t *v;

	if (!json_is_object(o))
		return bad_at(b, i, NULL, NO_INDEX, "expected an object");
	v = json_object_get(o, "repo");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return bad_at(b, i, "repo", NO_INDEX,
		              "expected a non-empty string");
	if (!is_positive_long(json_object_get(o, "number")))
		return bad_at(b, i, "number", NO_INDEX,
		              "expected a positive integer");
	v = json_object_get(o, "priority");
	if (v != NULL && (!json_is_integer(v) ||
	                  json_integer_value(v) < INT_MIN ||
	                  json_integer_value(v) > INT_MAX))
		return bad_at(b, i, "priority", NO_INDEX,
		              "expected an integer");
	if (check_string(o, i, "title", 0, b) ||
	    check_string(o, i, "state", 0, b) ||
	    check_string(o, i, "labeled_by", 1, b) ||
	    check_string(o, i, "url", 1, b))
		return -1;
	return check_arrays(o, i, b) || check_comments(o, i, b);
}

/* --- the document and its index -------------------------------------- */

/* One issue of the file, found by repo and number. */
struct entry {
	const char *repo;
	long number;
	size_t i;       /* its place in the file */
	json_t *o;      /* borrowed from the document */
};

/* A checked issue file.  Release with doc_clear(). */
struct doc {
	json_t *root;
	json_t *issues;          /* borrowed from root */
	struct entry *index;     /* sorted by repo, number, place */
	size_t n;
};

static void doc_clear(struct doc *d)
{
	json_decref(d->root);
	free(d->index);
	memset(d, 0, sizeof(*d));
}

static const char *issue_repo(const json_t *o)
{
	return json_string_value(json_object_get(o, "repo"));
}

static long issue_number(const json_t *o)
{
	return (long)json_integer_value(json_object_get(o, "number"));
}

/* Orders by repo and number only: the lookup key of find_issue(). */
static int key_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	int c = strcmp(a->repo, b->repo);

	if (c != 0)
		return c;
	return a->number < b->number ? -1 : (a->number > b->number);
}

/* Orders by repo, number, then place in the file, so that of two equal
 * issues the first listed sorts first. */
static int entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	int c = key_cmp(pa, pb);

	if (c != 0)
		return c;
	return a->i < b->i ? -1 : (a->i > b->i);
}

/* Builds the index of the checked issues.  A repo#number listed twice is
 * refused: which of the two holds the lock would be a guess. */
static int build_index(struct doc *d, struct bad *b)
{
	const struct entry *e;
	char what[160];
	size_t i;

	d->n = json_array_size(d->issues);
	d->index = calloc(d->n ? d->n : 1, sizeof(*d->index));
	if (d->index == NULL)
		return AFK_ENOMEM;
	for (i = 0; i < d->n; i++) {
		d->index[i].o = json_array_get(d->issues, i);
		d->index[i].repo = issue_repo(d->index[i].o);
		d->index[i].number = issue_number(d->index[i].o);
		d->index[i].i = i;
	}
	qsort(d->index, d->n, sizeof(*d->index), entry_cmp);
	for (i = 1; i < d->n; i++) {
		e = &d->index[i];
		if (e->number != e[-1].number || strcmp(e->repo, e[-1].repo))
			continue;
		/* The repo is not quoted back: it is the file's text. */
		snprintf(what, sizeof(what), "the same repo and number as "
		         "issues[%zu]", e[-1].i);
		bad_at(b, e->i, NULL, NO_INDEX, what);
		return AFK_EPARSE;
	}
	return AFK_OK;
}

/* The issue of the file that is repo#number, or NULL.  The index holds
 * no duplicates, so the order without the place finds the one. */
static json_t *find_issue(const struct doc *d, const char *repo,
                          long number)
{
	struct entry key = {repo, number, 0, NULL}, *e;

	e = bsearch(&key, d->index, d->n, sizeof(*d->index), key_cmp);
	return e != NULL ? e->o : NULL;
}

/* Checks the parsed root and builds d from it.  AFK_EPARSE with b set
 * when malformed. */
static int doc_init(struct doc *d, json_t *root, struct bad *b)
{
	json_t *o;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->root = root;
	d->issues = json_object_get(root, "issues");
	if (!json_is_object(root) || !json_is_array(d->issues)) {
		bad_at(b, NO_INDEX, NULL, NO_INDEX, "expected an object with "
		       "an array \"issues\"");
		return AFK_EPARSE;
	}
	json_array_foreach(d->issues, i, o) {
		if (check_issue(o, i, b))
			return AFK_EPARSE;
	}
	return build_index(d, b);
}

/* --- reading and writing the file ------------------------------------ */

/* Opens the file at path for reading, only when it is a regular file:
 * a FIFO put there would block the tick forever, and a device is no
 * issue file (O_NONBLOCK, left on, does nothing to a regular one).  A
 * symbolic link is followed (see write_file()).  Returns
 * the stream, or NULL with *err an errno value or NOT_REGULAR. */
#define NOT_REGULAR (-1)
static FILE *open_regular(const char *path, int *err)
{
	struct stat st;
	FILE *fp;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	*err = 0;
	if (fstat(fd, &st) != 0)
		*err = errno;
	else if (S_ISDIR(st.st_mode))
		*err = EISDIR;
	else if (!S_ISREG(st.st_mode))
		*err = NOT_REGULAR;
	fp = *err == 0 ? fdopen(fd, "r") : NULL;
	if (fp == NULL && *err == 0)
		*err = errno;
	if (fp == NULL)
		close(fd);
	return fp;
}

/* Reads all of the file at path into a NUL-terminated buffer (*text,
 * the caller's to free) of *len bytes.  Returns 0, an errno value or
 * NOT_REGULAR. */
static int read_text(const char *path, char **text, size_t *len)
{
	size_t cap = 0, n = 0, got;
	char *buf = NULL;
	FILE *fp;
	int err = 0;

	fp = open_regular(path, &err);
	if (fp == NULL)
		return err;
	do {
		if (afk__grow((void **)&buf, &cap, n, 4096 + 1, 1)) {
			err = ENOMEM;
			break;
		}
		got = fread(buf + n, 1, cap - n - 1, fp);
		n += got;
	} while (got > 0);
	if (err == 0 && ferror(fp))
		err = EIO;
	fclose(fp);
	if (err != 0) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

/* Sets the call's message: path, the line of b's place in text, b. */
static void set_bad(afk_call *call, const char *path, const char *text,
                    const struct bad *b)
{
	char msg[AFK__ERRMSG_SIZE], where[128];
	size_t k, len = 0;

	where[0] = '\0';
	for (k = 0; k < b->n && len < sizeof(where); k++) {
		char *at = where + len;
		size_t room = sizeof(where) - len;

		if (b->path[k].key != NULL)
			len += (size_t)snprintf(at, room, "%s%s", k ? "." : "",
			                        b->path[k].key);
		else
			len += (size_t)snprintf(at, room, "[%zu]",
			                        b->path[k].index);
	}
	afk__errf(msg, "%s:%zu: %s: %s", path,
	          afk__jsonpos_line(text, b->path, b->n), where, b->what);
	afk_call_set_error(call, msg);
}

/* Reads and checks the file at path into d (released with doc_clear()).
 * AFK_EIO when the file cannot be read, AFK_EPARSE when it is malformed;
 * both with a message on call naming the file and, for a malformed one,
 * the line. */
static int load_file(afk_call *call, const char *path, struct doc *d)
{
	char msg[AFK__ERRMSG_SIZE], why[JSON_ERROR_TEXT_LENGTH];
	json_error_t jerr;
	struct bad b;
	json_t *root;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = read_text(path, &text, &len);
	if (rc == ENOMEM)
		return AFK_ENOMEM;
	if (rc != 0) {
		afk__errf(msg, "%s: cannot read: %s", path, rc == NOT_REGULAR ?
		          "not a regular file" : strerror(rc));
		afk_call_set_error(call, msg);
		return AFK_EIO;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson quotes the text it stopped at after " near ": the
		 * file's bytes, control characters and all, which would reach
		 * a log or a terminal raw.  The reason and the place say
		 * enough. */
		afk__errf(msg, "%s:%d: invalid JSON: %s (column %d)", path,
		          jerr.line, afk__jsonpos_reason(&jerr, why,
		          sizeof(why)), jerr.column);
		afk_call_set_error(call, msg);
		free(text);
		return AFK_EPARSE;
	}
	rc = doc_init(d, root, &b);
	if (rc == AFK_EPARSE)
		set_bad(call, path, text, &b);
	if (rc != AFK_OK)
		doc_clear(d);
	free(text);
	return rc;
}

/* Writes root into the open temporary file fd with mode, flushed to the
 * disk; fd is closed in every case.  Returns 0 or an errno value. */
static int dump_and_sync(int fd, mode_t mode, const json_t *root)
{
	FILE *fp;
	int err = 0;

	if (fchmod(fd, mode) != 0) {
		err = errno;
		close(fd);
		return err;
	}
	fp = fdopen(fd, "w");
	if (fp == NULL) {
		err = errno;
		close(fd);
		return err;
	}
	errno = EIO; /* json_dumpf() does not always set errno */
	if (json_dumpf(root, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
	    fputc('\n', fp) == EOF || fflush(fp) != 0 || fsync(fd) != 0)
		err = errno;
	if (fclose(fp) != 0 && err == 0)
		err = errno;
	return err;
}

/* Flushes the directory holding file to the disk, so that a rename
 * into it survives a power failure (the file's own fsync() does not
 * cover its name).  A file system that cannot sync a directory (EINVAL)
 * is no failure.  Returns 0 or an errno value. */
static int sync_dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *dir;
	int fd, err = 0;

	if (slash == NULL)
		dir = afk__strdup(".");
	else if (slash == file)
		dir = afk__strdup("/");
	else
		dir = afk__aprintf("%.*s", (int)(slash - file), file);
	if (dir == NULL)
		return ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return errno;
	if (fsync(fd) != 0 && errno != EINVAL)
		err = errno;
	close(fd);
	return err;
}

/* Replaces the file at path by root: written to a temporary file beside
 * it (same file system, same mode), synced, then renamed over it and
 * its directory synced, so readers see the old file or the new one and
 * never a part, and a label stamped stays stamped after a power failure.
 * A path that is a symbolic link has its target replaced, the link kept:
 * the file may live elsewhere (in a repository, say) by design.  On
 * failure the original is untouched, the temporary file is gone and
 * AFK_EIO carries a message on call. */
static int write_file(afk_call *call, const char *path, const json_t *root)
{
	char msg[AFK__ERRMSG_SIZE];
	struct stat st;
	char *real, *tmp;
	int fd, err;

	real = realpath(path, NULL);
	if (real == NULL || stat(real, &st) != 0) {
		afk__errf(msg, "%s: cannot write: %s", path, strerror(errno));
		afk_call_set_error(call, msg);
		free(real);
		return AFK_EIO;
	}
	tmp = afk__aprintf("%s.XXXXXX", real);
	if (tmp == NULL) {
		free(real);
		return AFK_ENOMEM;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		afk__errf(msg, "%s: cannot create a temporary file beside "
		          "it: %s", real, strerror(errno));
		afk_call_set_error(call, msg);
		free(tmp);
		free(real);
		return AFK_EIO;
	}
	err = dump_and_sync(fd, st.st_mode & 07777, root);
	if (err == 0 && rename(tmp, real) != 0)
		err = errno;
	if (err != 0)
		unlink(tmp);
	else
		err = sync_dir_of(real);
	if (err != 0) {
		afk__errf(msg, "%s: cannot write: %s", path, strerror(err));
		afk_call_set_error(call, msg);
	}
	free(tmp);
	free(real);
	return err ? AFK_EIO : AFK_OK;
}

/* --- list_ready ------------------------------------------------------ */

static int is_open(const json_t *o)
{
	const json_t *state = json_object_get(o, "state");

	return state == NULL || strcmp(json_string_value(state), "open") == 0;
}

static int json_has_label(const json_t *o, const char *label)
{
	const json_t *v;
	size_t k;

	json_array_foreach(json_object_get(o, "labels"), k, v) {
		if (strcmp(json_string_value(v), label) == 0)
			return 1;
	}
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_trusted(const json_t *o, const struct file_tracker *ft)
{
	const char *by = json_string_value(json_object_get(o, "labeled_by"));

	return by != NULL && afk__strv_find(&ft->trusted, by) >= 0;
}

/* Adds to issue the blockers of o that may still block it.  A blocker the
 * file does not hold is taken as open: an issue we know nothing about
 * must not unblock anything (fail closed). */
static int add_blockers(afk_issue *issue, const struct doc *d,
                        const json_t *o)
{
	const json_t *v, *blocker;
	size_t k;
	long n;
	int rc;

	json_array_foreach(json_object_get(o, "blocked_by"), k, v) {
		n = (long)json_integer_value(v);
		blocker = find_issue(d, issue_repo(o), n);
		if (blocker != NULL && !is_open(blocker))
			continue;
		rc = afk_issue_add_blocker(issue, n);
		if (rc)
			return rc;
	}
	return AFK_OK;
}

/* Builds the afk_issue of o; the caller frees *out. */
static int build_issue(const struct doc *d, const json_t *o,
                       const struct file_tracker *ft, afk_issue **out)
{
	const json_t *v, *title, *prio;
	afk_issue *issue;
	size_t k;
	int rc;

	rc = afk_issue_new(&issue, issue_repo(o), issue_number(o));
	if (rc)
		return rc;
	title = json_object_get(o, "title");
	prio = json_object_get(o, "priority");
	if (title != NULL)
		rc = afk_issue_set_title(issue, json_string_value(title));
	json_array_foreach(json_object_get(o, "labels"), k, v) {
		if (rc == AFK_OK)
			rc = afk_issue_add_label(issue, json_string_value(v));
	}
	if (rc == AFK_OK && prio != NULL)
		rc = afk_issue_set_priority(issue,
		                            (int)json_integer_value(prio));
	if (rc == AFK_OK)
		rc = afk_issue_set_trusted(issue, is_trusted(o, ft));
	if (rc == AFK_OK)
		rc = add_blockers(issue, d, o);
	if (rc) {
		afk_issue_free(issue);
		return rc;
	}
	*out = issue;
	return AFK_OK;
}

/* Hands over every open issue of d whose repo is in the sorted array
 * repos (nrepos) and that carries the ready or the in-progress label, in
 * the file's order: an in-progress issue is its repository's lock even
 * when someone took its ready label off. */
static int add_ready(afk_call *call, const struct doc *d,
                     const char **repos, size_t nrepos,
                     const struct file_tracker *ft, const char *closed)
{
	const char *repo;
	afk_issue *issue;
	json_t *o;
	size_t i;
	int rc;

	json_array_foreach(d->issues, i, o) {
		repo = issue_repo(o);
		if (closed != NULL ? is_open(o) || !json_has_label(o, closed)
		    : !is_open(o) ||
		      (!json_has_label(o, ft->ready_label) &&
		       !json_has_label(o, ft->in_progress_label)) ||
		    bsearch(&repo, repos, nrepos, sizeof(*repos), str_cmp) ==
		    NULL)
			continue;
		rc = build_issue(d, o, ft, &issue);
		if (rc)
			return rc;
		rc = afk_call_add_issue(call, issue);
		afk_issue_free(issue);
		if (rc)
			return rc;
	}
	return AFK_OK;
}

/* Lists the open issues of repos carrying the ready or the in-progress
 * label - or, with closed, the closed ones carrying that label.  The
 * file is read afresh on each call. */
static int list(afk_call *call, const char *const *repos, size_t nrepos,
                const struct file_tracker *ft, const char *closed)
{
	const char **sorted;
	struct doc d;
	size_t i, n = 0;
	int rc;

	sorted = malloc((nrepos ? nrepos : 1) * sizeof(*sorted));
	if (sorted == NULL)
		return AFK_ENOMEM;
	for (i = 0; i < nrepos; i++)
		if (repos[i] != NULL)
			sorted[n++] = repos[i];
	qsort(sorted, n, sizeof(*sorted), str_cmp);
	rc = load_file(call, ft->path, &d);
	if (rc == AFK_OK) {
		rc = add_ready(call, &d, sorted, n, ft, closed);
		doc_clear(&d);
	}
	free(sorted);
	return rc;
}

static int file_list_ready(afk_call *call, const char *const *repos,
                           size_t nrepos, void *userdata)
{
	return list(call, repos, nrepos, userdata, NULL);
}

/* list_closed: the closed issues of repos that still carry label. */
static int file_list_closed(afk_call *call, const char *const *repos,
                            size_t nrepos, const char *label, void *userdata)
{
	return list(call, repos, nrepos, userdata, label);
}

/* --- changing an issue ---------------------------------------------- */

/* Takes the exclusive lock of the file at path: flock() on "<path>.lock"
 * (the file itself is replaced by rename, so a lock on it would be held
 * on an inode nobody opens any more).  Sets *fd to the descriptor that
 * holds it - closing it releases the lock.  The lock file is made the
 * host user's alone (0600, whatever the umask) and never opened through
 * a symbolic link, which would create or touch the file it points to,
 * as the CLI's tick lock does.  AFK_EIO carries a message on call. */
static int lock_file(afk_call *call, const char *path, int *fd)
{
	char msg[AFK__ERRMSG_SIZE];
	char *lock;
	int err;

	lock = afk__aprintf("%s.lock", path);
	if (lock == NULL)
		return AFK_ENOMEM;
	*fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	err = errno;
	while (*fd >= 0 && flock(*fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		err = errno;
		close(*fd);
		*fd = -1;
	}
	if (*fd < 0) {
		afk__errf(msg, "%s: cannot lock: %s", lock, err == ELOOP ?
		          "a symbolic link, which is not followed" :
		          strerror(err));
		afk_call_set_error(call, msg);
	}
	free(lock);
	return *fd < 0 ? AFK_EIO : AFK_OK;
}

/* An edit of one issue object o, in place.  Sets *changed to 1 when it
 * changed the document; returns 0 or an AFK_E* code with a message on
 * call. */
typedef int (*edit_fn)(afk_call *call, json_t *o, const void *arg,
                       int *changed);

/* The read-modify-write of issue repo#number under the file's lock: the
 * file is rewritten only when the edit changed something.  An issue the
 * file does not hold is the callback's failure (AFK_ECALLBACK): the tick
 * asked to change something that is not there. */
static int edit_issue(afk_call *call, const struct file_tracker *ft,
                      const char *repo, long number, edit_fn edit,
                      const void *arg)
{
	char msg[AFK__ERRMSG_SIZE];
	struct doc d;
	json_t *o;
	int lock, rc, changed = 0;

	rc = lock_file(call, ft->path, &lock);
	if (rc != AFK_OK)
		return rc;
	rc = load_file(call, ft->path, &d);
	if (rc != AFK_OK) {
		close(lock);
		return rc;
	}
	o = find_issue(&d, repo, number);
	if (o == NULL) {
		afk__errf(msg, "%s#%ld is not in %s", repo, number, ft->path);
		afk_call_set_error(call, msg);
		rc = AFK_ECALLBACK;
	} else {
		rc = edit(call, o, arg, &changed);
		if (rc == AFK_OK && changed)
			rc = write_file(call, ft->path, d.root);
	}
	doc_clear(&d);
	close(lock);
	return rc;
}

/* A copy of s as a JSON string, or NULL with a message on call: jansson
 * takes only valid UTF-8. */
static json_t *utf8_string(afk_call *call, const char *s, const char *what)
{
	char msg[AFK__ERRMSG_SIZE];
	json_t *v = json_string(s);

	if (v == NULL) {
		afk__errf(msg, "the %s is not valid UTF-8", what);
		afk_call_set_error(call, msg);
	}
	return v;
}

/* --- labels ---------------------------------------------------------- */

/* Appends the label arg to o's labels unless present. */
static int edit_add_label(afk_call *call, json_t *o, const void *arg,
                          int *changed)
{
	const char *label = arg;
	json_t *labels, *s;

	if (json_has_label(o, label))
		return AFK_OK;
	s = utf8_string(call, label, "label");
	if (s == NULL)
		return AFK_EINVAL;
	labels = json_object_get(o, "labels");
	if (labels == NULL) {
		labels = json_array();
		if (labels == NULL ||
		    json_object_set_new(o, "labels", labels) != 0) {
			json_decref(s);
			return AFK_ENOMEM;
		}
	}
	if (json_array_append_new(labels, s))
		return AFK_ENOMEM;
	*changed = 1;
	return AFK_OK;
}

/* Removes every copy of the label arg from o's labels. */
static int edit_remove_label(afk_call *call, json_t *o, const void *arg,
                             int *changed)
{
	json_t *labels = json_object_get(o, "labels");
	const char *label = arg;
	size_t k = 0;

	(void)call;
	while (k < json_array_size(labels)) {
		if (strcmp(json_string_value(json_array_get(labels, k)),
		           label) == 0) {
			if (json_array_remove(labels, k))
				return AFK_ENOMEM;
			*changed = 1;
		} else {
			k++;
		}
	}
	return AFK_OK;
}

/* add_label: idempotent; the file is rewritten only when the label was
 * missing. */
static int file_add_label(afk_call *call, const char *repo, long number,
                          const char *label, void *userdata)
{
	return edit_issue(call, userdata, repo, number, edit_add_label, label);
}

/* remove_label: a label the issue does not carry is already removed. */
static int file_remove_label(afk_call *call, const char *repo, long number,
                             const char *label, void *userdata)
{
	return edit_issue(call, userdata, repo, number, edit_remove_label,
	                  label);
}

/* --- close_issue ----------------------------------------------------- */

static int edit_close(afk_call *call, json_t *o, const void *arg,
                      int *changed)
{
	(void)call;
	(void)arg;
	if (!is_open(o))
		return AFK_OK;
	if (json_object_set_new(o, "state", json_string("closed")))
		return AFK_ENOMEM;
	*changed = 1;
	return AFK_OK;
}

/* close_issue: sets "state" to "closed"; closing a closed issue
 * succeeds. */
static int file_close_issue(afk_call *call, const char *repo, long number,
                            void *userdata)
{
	return edit_issue(call, userdata, repo, number, edit_close, NULL);
}

/* --- comments -------------------------------------------------------- */

/* The first comment of o whose body contains marker, or NULL. */
static json_t *marked_comment(const json_t *o, const char *marker)
{
	json_t *c;
	size_t k;

	json_array_foreach(json_object_get(o, "comments"), k, c) {
		if (strstr(json_string_value(json_object_get(c, "body")),
		           marker) != NULL)
			return c;
	}
	return NULL;
}

/* find_comment: reads without the lock - the file is only ever replaced
 * whole - and reports the issue's "url" too when it has one. */
static int file_find_comment(afk_call *call, const char *repo, long number,
                             const char *marker, void *userdata)
{
	const struct file_tracker *ft = userdata;
	char msg[AFK__ERRMSG_SIZE];
	const char *url;
	json_t *o, *c;
	struct doc d;
	int rc;

	rc = load_file(call, ft->path, &d);
	if (rc != AFK_OK)
		return rc;
	o = find_issue(&d, repo, number);
	if (o == NULL) {
		afk__errf(msg, "%s#%ld is not in %s", repo, number, ft->path);
		afk_call_set_error(call, msg);
		rc = AFK_ECALLBACK;
	} else {
		c = marked_comment(o, marker);
		url = json_string_value(json_object_get(o, "url"));
		if (c != NULL)
			rc = afk_call_set_comment(call, json_string_value(
			                          json_object_get(c, "body")));
		if (rc == AFK_OK && url != NULL && url[0] != '\0')
			rc = afk_call_set_url(call, url);
	}
	doc_clear(&d);
	return rc;
}

/* What upsert_comment writes. */
struct upsert {
	const char *marker;
	const char *body;
};

static int edit_upsert(afk_call *call, json_t *o, const void *arg,
                       int *changed)
{
	const struct upsert *u = arg;
	json_t *comments, *c, *body;

	c = marked_comment(o, u->marker);
	if (c != NULL &&
	    strcmp(json_string_value(json_object_get(c, "body")), u->body) == 0)
		return AFK_OK;
	body = utf8_string(call, u->body, "comment");
	if (body == NULL)
		return AFK_EINVAL;
	if (c != NULL) {
		*changed = 1;
		return json_object_set_new(c, "body", body) ? AFK_ENOMEM : AFK_OK;
	}
	comments = json_object_get(o, "comments");
	if (comments == NULL) {
		comments = json_array();
		if (comments == NULL ||
		    json_object_set_new(o, "comments", comments)) {
			json_decref(body);
			return AFK_ENOMEM;
		}
	}
	c = json_object();
	if (c == NULL || json_object_set_new(c, "body", body) ||
	    json_array_append_new(comments, c))
		return AFK_ENOMEM;
	*changed = 1;
	return AFK_OK;
}

/* upsert_comment: replaces the body of the first comment containing
 * marker, or appends {"body": body}; under the lock, so that two ticks
 * never make two comments with one marker. */
static int file_upsert_comment(afk_call *call, const char *repo,
                               long number, const char *marker,
                               const char *body, void *userdata)
{
	struct upsert u;

	if (marker == NULL || marker[0] == '\0' || body == NULL ||
	    strstr(body, marker) == NULL) {
		afk_call_set_error(call, "upsert_comment: the body must contain "
		                   "the non-empty marker");
		return AFK_EINVAL;
	}
	u.marker = marker;
	u.body = body;
	return edit_issue(call, userdata, repo, number, edit_upsert, &u);
}

/* --- registration ---------------------------------------------------- */

static int file_tracker_new(const afk_config *cfg,
                            struct file_tracker **out)
{
	struct file_tracker *ft;

	ft = calloc(1, sizeof(*ft));
	if (ft == NULL)
		return AFK_ENOMEM;
	ft->path = afk__strdup(afk__config_str(cfg, AFK__ROLE_TRACKER,
	                                            "path"));
	ft->ready_label = afk__strdup(cfg->ready_label);
	ft->in_progress_label = afk__strdup(cfg->in_progress_label);
	if (ft->path == NULL || ft->ready_label == NULL ||
	    ft->in_progress_label == NULL ||
	    afk__strv_copy(&ft->trusted, &cfg->trusted_users)) {
		file_tracker_free(ft);
		return AFK_ENOMEM;
	}
	*out = ft;
	return AFK_OK;
}

/* The userdata is handed to the tracker, which owns it from then on and
 * frees it with file_tracker_free(). */
/* probe: the issue file is readable and parses; nothing is written. */
static int file_probe(afk_call *call, void *userdata)
{
	const struct file_tracker *ft = userdata;
	struct doc d;
	int rc;

	memset(&d, 0, sizeof(d));
	rc = load_file(call, ft->path, &d);
	if (rc == AFK_OK)
		doc_clear(&d);
	return rc;
}

static int file_tracker_setup(afk_tracker *tracker, const afk_config *cfg,
                              char *errbuf)
{
	struct file_tracker *ft;
	int rc;

	rc = file_tracker_new(cfg, &ft);
	if (rc) {
		afk__errf(errbuf, "tracker: out of memory");
		return rc;
	}
	rc = afk_tracker_set_userdata(tracker, ft, file_tracker_free);
	if (rc) {
		file_tracker_free(ft);
		afk__errf(errbuf, "tracker: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	rc = afk_tracker_set_list_ready(tracker, file_list_ready);
	if (rc == AFK_OK)
		rc = afk_tracker_set_list_closed(tracker, file_list_closed);
	if (rc == AFK_OK)
		rc = afk_tracker_set_add_label(tracker, file_add_label);
	if (rc == AFK_OK)
		rc = afk_tracker_set_remove_label(tracker, file_remove_label);
	if (rc == AFK_OK)
		rc = afk_tracker_set_close_issue(tracker, file_close_issue);
	if (rc == AFK_OK)
		rc = afk_tracker_set_find_comment(tracker, file_find_comment);
	if (rc == AFK_OK)
		rc = afk_tracker_set_upsert_comment(tracker,
		                                    file_upsert_comment);
	if (rc == AFK_OK)
		rc = afk_tracker_set_probe(tracker, file_probe);
	if (rc)
		afk__errf(errbuf, "tracker: cannot register callbacks: %s",
		          afk_strerror(rc));
	return rc;
}

static const afk__member file_tracker_members[] = {
	{"path", AFK__M_PATH, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "the issue file (see THE FILE TRACKER)"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_file_tracker = {
	{"file", AFK__ROLE_TRACKER, 0, file_tracker_members,
	 "issues kept in a local JSON file"},
	{.tracker = file_tracker_setup}
};
