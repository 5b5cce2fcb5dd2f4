/*
 * lib/builtin/notifier.c - the "stdout" and "file" notifiers: one line
 * per notification,
 *
 *   afk: acme/api#12 needs a human: the agent failed. https://...
 *
 * written to standard output (flushed) or appended to a file.  A line is
 * one write(2) to a file opened with O_APPEND, so lines of two processes
 * notifying at once never interleave.  The "stdout" kind is the one place
 * the library prints, and only because the configuration asked for it.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin/notifier.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The notifier's copy of what it needs of the configuration. */
struct file_notifier {
	char *path;     /* NULL: standard output */
};

static void file_notifier_free(void *userdata)
{
	struct file_notifier *fn = userdata;

	if (fn == NULL)
		return;
	free(fn->path);
	free(fn);
}

/* Copies s to the end of line, control characters made '?': a message or
 * a link must not break the one-line format nor carry a terminal
 * escape. */
static void append_clean(char *line, size_t *len, const char *s)
{
	for (; *s != '\0'; s++)
		line[(*len)++] = ((unsigned char)*s < 0x20 || *s == 0x7F)
		                 ? '?' : *s;
	line[*len] = '\0';
}

char *afk__notify_line(const char *message, const char *link)
{
	size_t len = 0;
	char *line;

	line = malloc(strlen(message) + strlen(link) + 8);
	if (line == NULL)
		return NULL;
	memcpy(line, "afk: ", 5);
	len = 5;
	append_clean(line, &len, message);
	if (link[0] != '\0') {
		line[len++] = ' ';
		append_clean(line, &len, link);
	}
	line[len++] = '\n';
	line[len] = '\0';
	return line;
}

static int fail(afk_call *call, const char *what, int err)
{
	char msg[AFK__ERRMSG_SIZE];

	afk__errf(msg, "%s: cannot write a notification: %s", what,
	          strerror(err));
	afk_call_set_error(call, msg);
	return AFK_EIO;
}

/* Through stdio, so that the line keeps its place among what the host
 * printed before it. */
static int to_stdout(afk_call *call, const char *line)
{
	errno = EIO;
	if (fputs(line, stdout) == EOF || fflush(stdout) != 0)
		return fail(call, "standard output", errno);
	return AFK_OK;
}

/* The file is created the host user's alone (0600, whatever the umask:
 * a notification names issues and links), never opened through a
 * symbolic link (which would append to whatever it points to), and a
 * FIFO without a reader fails rather than hangs the tick. */
static int to_file(afk_call *call, const char *path, const char *line)
{
	size_t len = strlen(line);
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	          O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0 && errno == ELOOP)
		return afk__call_failf(call, AFK_EIO, "%s: cannot write a "
		                       "notification: a symbolic link, which "
		                       "is not followed", path);
	if (fd < 0)
		return fail(call, path, errno);
	do
		n = write(fd, line, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		err = errno;
	else if ((size_t)n != len)
		err = ENOSPC; /* a short append: the disk is full */
	if (close(fd) != 0 && err == 0)
		err = errno;
	return err ? fail(call, path, err) : AFK_OK;
}

static int file_notify(afk_call *call, const char *repo, long number,
                       const char *message, const char *link,
                       void *userdata)
{
	const struct file_notifier *fn = userdata;
	char *line;
	int rc;

	(void)repo;   /* the message names the issue already */
	(void)number;
	if (message == NULL)
		return AFK_EINVAL;
	line = afk__notify_line(message, link ? link : "");
	if (line == NULL)
		return AFK_ENOMEM;
	rc = fn->path ? to_file(call, fn->path, line) : to_stdout(call, line);
	free(line);
	return rc;
}

/* probe: standard output needs nothing; a file needs a writable
 * directory (and, when it exists, to be writable itself).  Nothing is
 * written. */
static int file_probe(afk_call *call, void *userdata)
{
	const struct file_notifier *fn = userdata;
	const char *slash;
	struct stat st;
	char *dir;
	int err = 0;

	if (fn->path == NULL)
		return AFK_OK;
	slash = strrchr(fn->path, '/');
	if (slash == NULL)
		dir = afk__strdup(".");
	else if (slash == fn->path)
		dir = afk__strdup("/");
	else
		dir = afk__aprintf("%.*s", (int)(slash - fn->path), fn->path);
	if (dir == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	if (access(dir, W_OK | X_OK) != 0)
		err = errno;
	if (err != 0) {
		afk__call_failf(call, AFK_EIO, "%s: directory %s is not "
		                "writable: %s", fn->path, dir, strerror(err));
		free(dir);
		return AFK_EIO;
	}
	free(dir);
	if (lstat(fn->path, &st) == 0 && S_ISLNK(st.st_mode))
		return afk__call_failf(call, AFK_EIO, "%s: a symbolic link, "
		                       "which is not followed", fn->path);
	if (access(fn->path, F_OK) == 0 && access(fn->path, W_OK) != 0)
		return afk__call_failf(call, AFK_EIO, "%s: not writable: %s",
		                       fn->path, strerror(errno));
	return AFK_OK;
}

/* The userdata is handed to the notifier, which owns it from then on.
 * The "stdout" notifier is this one without a path. */
static int file_notifier_setup(afk_notifier *notifier, const afk_config *cfg,
                               char *errbuf)
{
	const char *path = afk__config_str(cfg, AFK__ROLE_NOTIFIER, "path");
	struct file_notifier *fn;
	int rc;

	fn = calloc(1, sizeof(*fn));
	if (fn == NULL ||
	    (path != NULL && (fn->path = afk__strdup(path)) == NULL)) {
		file_notifier_free(fn);
		afk__errf(errbuf, "notifier: out of memory");
		return AFK_ENOMEM;
	}
	rc = afk_notifier_set_userdata(notifier, fn, file_notifier_free);
	if (rc) {
		file_notifier_free(fn);
		afk__errf(errbuf, "notifier: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	rc = afk_notifier_set_notify(notifier, file_notify);
	if (rc == AFK_OK)
		rc = afk_notifier_set_probe(notifier, file_probe);
	if (rc)
		afk__errf(errbuf, "notifier: cannot register notify: %s",
		          afk_strerror(rc));
	return rc;
}

static const afk__member stdout_notifier_members[] = {
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_stdout_notifier = {
	{"stdout", AFK__ROLE_NOTIFIER, 0, stdout_notifier_members,
	 "one line per notification on standard output"},
	{.notifier = file_notifier_setup}
};

static const afk__member file_notifier_members[] = {
	{"path", AFK__M_PATH, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "the file each notification is appended to, one line each"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_file_notifier = {
	{"file", AFK__ROLE_NOTIFIER, 0, file_notifier_members,
	 "one line per notification appended to a file"},
	{.notifier = file_notifier_setup}
};
