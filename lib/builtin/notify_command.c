/*
 * lib/builtin/notify_command.c - the "command" notifier: a local command
 * run once per notification, so that an operator reaches mail, ntfy, a
 * pager's CLI or anything else without afk learning each service.
 *
 * The command is run without a shell, in the minimal environment with
 * the variables its "env" names (the environment rule, spawn.h) and
 * AFK_REPO, AFK_ISSUE and AFK_LINK set, in the directory of its program
 * when the command names one by path (else ours), in a process group of
 * its own that is killed after "timeout" seconds.  Its stdin is the line
 * the other notifiers write (afk__notify_line()); its stdout is read and
 * ignored.  Exit 0 is a delivered notification; anything else fails it,
 * quoting the last line of the command's stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin/notifier.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builtin/spawn.h"

/* The line on stdin is written whole into an empty pipe before the
 * command starts, so it must fit: a write of PIPE_BUF bytes to an empty
 * pipe is atomic, hence always has room.  A notification is one line of
 * a few hundred bytes; a longer one is cut, ending in "...". */
#define LINE_MAX_BYTES PIPE_BUF
#define OUT_MAX (64 * 1024)  /* bytes of stdout read before the command
                                is taken for broken and killed */
#define ERR_MAX (64 * 1024)  /* bytes of stderr kept to find its last
                                line in: of a command that writes more,
                                the last line of its first ERR_MAX
                                bytes is quoted (spawn.h keeps a
                                stream's start) */
#define ERR_QUOTE 200        /* bytes of that line quoted in a message */

/* The command and where it runs, copied from the configuration. */
struct command_notifier {
	afk__strv argv;   /* NULL-terminated for exec */
	char *dir;        /* the directory of argv[0], or NULL: ours */
	afk__strv pass;   /* "env": our variables the command gets */
	afk__strv hide;   /* the configuration's secrets' variables */
	long timeout;     /* seconds */
};

static void command_notifier_free(void *userdata)
{
	struct command_notifier *cn = userdata;

	if (cn == NULL)
		return;
	afk__strv_clear(&cn->argv);
	free(cn->dir);
	afk__strv_clear(&cn->pass);
	afk__strv_clear(&cn->hide);
	free(cn);
}

/* Cuts line (a NUL-terminated heap string ending in '\n') to at most
 * LINE_MAX_BYTES bytes, on a UTF-8 character's boundary, ending in
 * "...\n". */
static void cut_line(char *line)
{
	size_t n = strlen(line);

	if (n <= LINE_MAX_BYTES)
		return;
	n = LINE_MAX_BYTES - 4;
	while (n > 0 && ((unsigned char)line[n] & 0xC0) == 0x80)
		n--;
	memcpy(line + n, "...\n", 5);
}

/* Opens the command's stdin: a pipe holding line, its write end closed,
 * so the command reads the line and then its end.  Returns the read end
 * (close-on-exec; spawn.h installs it as the child's stdin), or -1 with
 * errno set. */
static int line_pipe(const char *line)
{
	size_t len = strlen(line);
	ssize_t n = -1;
	int fds[2], err = 0;

	if (pipe(fds) != 0)
		return -1;
	/* The line fits an empty pipe (cut_line()); the write end is made
	 * non-blocking all the same, so that a pipe smaller than promised
	 * fails the notification instead of hanging the tick. */
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0)
		err = errno;
	while (err == 0 && (n = write(fds[1], line, len)) < 0 &&
	       errno == EINTR)
		;
	if (err == 0 && n < 0)
		err = errno;
	else if (err == 0 && (size_t)n != len)
		err = EAGAIN; /* a short write: the pipe was full */
	close(fds[1]);
	if (err == 0)
		return fds[0];
	close(fds[0]);
	errno = err;
	return -1;
}

/* The last non-blank line of the n bytes at s (what the command wrote to
 * stderr, or its first ERR_MAX bytes), on one line, control characters
 * replaced and cut to ERR_QUOTE bytes, in dst (size bytes): a program
 * that fails says why last, after whatever it logged on the way. */
static void last_line(char *dst, size_t size, const char *s, size_t n)
{
	char line[ERR_QUOTE + 2];
	size_t start, len;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
	                 s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (start = n; start > 0 && s[start - 1] != '\n'; start--)
		;
	/* One byte past the quote, so that a longer line reads as cut. */
	len = n - start < ERR_QUOTE + 1 ? n - start : ERR_QUOTE + 1;
	memcpy(line, s + start, len);
	line[len] = '\0';
	afk__one_line(dst, size, line, ERR_QUOTE);
}

/* Fails the call for a command that ran and did not deliver: how, in
 * words (how), and the last line of its stderr. */
static int undelivered(afk_call *call, const struct command_notifier *cn,
                       const char *how, const afk__capture *err)
{
	char quote[ERR_QUOTE + 8];

	last_line(quote, sizeof(quote), err->buf, err->len);
	return afk__call_failf(call, AFK_EIO, "notifier command '%s' %s%s%s",
	                       cn->argv.v[0], how, quote[0] ? ": " : "",
	                       quote);
}

/* The variables the command gets on top of what it gets of ours:
 * AFK_REPO, AFK_ISSUE and AFK_LINK, into env (4 entries, the last NULL;
 * the caller frees them).  Returns 0 or AFK_ENOMEM. */
static int notify_env(char **env, const char *repo, long number,
                      const char *link)
{
	env[0] = afk__aprintf("AFK_REPO=%s", repo);
	env[1] = afk__aprintf("AFK_ISSUE=%ld", number);
	env[2] = afk__aprintf("AFK_LINK=%s", link);
	env[3] = NULL;
	return env[0] && env[1] && env[2] ? AFK_OK : AFK_ENOMEM;
}

/* Runs the command with stdin in and judges how it ended. */
static int run(afk_call *call, const struct command_notifier *cn,
               char *const *env, int in)
{
	afk__capture out = {OUT_MAX, NULL, 0, 0}, err = {ERR_MAX, NULL, 0, 0};
	afk__spawn_opts o;
	char how[64];
	int rc, e, status = 0, started = 0;

	memset(&o, 0, sizeof(o));
	o.argv = cn->argv.v;
	o.dir = cn->dir;
	o.pass = cn->pass.v;
	o.hide = cn->hide.v;
	o.env = env;
	o.in = in;
	o.timeout_ms = cn->timeout * 1000L;
	e = afk__spawn_capture(&o, &out, &err, &status, &started);
	if (e == ENOMEM && !started) {
		rc = AFK_ENOMEM;
	} else if (e == ETIMEDOUT && started) {
		snprintf(how, sizeof(how), "timed out after %ld s",
		         cn->timeout);
		rc = undelivered(call, cn, how, &err);
	} else if (e == 0 && out.over) { /* killed for it */
		snprintf(how, sizeof(how), "printed over %d KiB and was "
		         "killed", OUT_MAX / 1024);
		rc = undelivered(call, cn, how, &err);
	} else if (e != 0) {
		rc = afk__call_failf(call, AFK_EIO, "%s notifier command "
		                     "'%s': %s", started ? "lost track of" :
		                     "cannot run", cn->argv.v[0], strerror(e));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = AFK_OK;
	} else {
		afk__spawn_describe(status, how, sizeof(how));
		rc = undelivered(call, cn, how, &err);
	}
	free(out.buf);
	free(err.buf);
	return rc;
}

static int command_notify(afk_call *call, const char *repo, long number,
                          const char *message, const char *link,
                          void *userdata)
{
	const struct command_notifier *cn = userdata;
	char *env[4] = {NULL, NULL, NULL, NULL}, *line = NULL;
	int rc, in = -1, k;

	if (message == NULL || repo == NULL)
		return AFK_EINVAL;
	if (link == NULL)
		link = "";
	rc = notify_env(env, repo, number, link);
	if (rc == AFK_OK && (line = afk__notify_line(message, link)) == NULL)
		rc = AFK_ENOMEM;
	if (rc == AFK_OK) {
		cut_line(line);
		in = line_pipe(line);
		if (in < 0)
			rc = afk__call_failf(call, AFK_EIO, "notifier command "
			                     "'%s': cannot make its stdin: %s",
			                     cn->argv.v[0], strerror(errno));
	}
	if (rc == AFK_OK)
		rc = run(call, cn, env, in);
	if (in >= 0)
		close(in);
	free(line);
	for (k = 0; k < 3; k++)
		free(env[k]);
	return rc;
}

/* probe: the command exists and is executable; nothing is run. */
static int command_notifier_probe(afk_call *call, void *userdata)
{
	const struct command_notifier *cn = userdata;
	int err = afk__spawn_find(cn->argv.v[0]);

	if (err == ENOMEM)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "notifier command "
		                       "'%s': %s", cn->argv.v[0],
		                       strerror(err));
	return AFK_OK;
}

static int command_notifier_new(const afk_config *cfg,
                                struct command_notifier **out)
{
	struct command_notifier *cn;

	cn = calloc(1, sizeof(*cn));
	if (cn == NULL)
		return AFK_ENOMEM;
	cn->timeout = (long)afk__config_int(cfg, AFK__ROLE_NOTIFIER,
	                                    "timeout");
	/* NULL-terminated: execve wants a terminated argv. */
	if (afk__config_strv(cfg, AFK__ROLE_NOTIFIER, "env", &cn->pass) ||
	    afk__config_secret_envs(cfg, &cn->hide) ||
	    afk__config_strv(cfg, AFK__ROLE_NOTIFIER, "command", &cn->argv) ||
	    afk__spawn_dir(cn->argv.v[0], &cn->dir)) {
		command_notifier_free(cn);
		return AFK_ENOMEM;
	}
	*out = cn;
	return AFK_OK;
}

/* The userdata is handed to the notifier, which owns it from then on
 * and frees it with command_notifier_free(). */
static int command_notifier_setup(afk_notifier *notifier,
                                  const afk_config *cfg, char *errbuf)
{
	struct command_notifier *cn;
	int rc;

	rc = command_notifier_new(cfg, &cn);
	if (rc) {
		afk__errf(errbuf, "notifier: out of memory");
		return rc;
	}
	rc = afk_notifier_set_userdata(notifier, cn, command_notifier_free);
	if (rc) {
		command_notifier_free(cn);
		afk__errf(errbuf, "notifier: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	rc = afk_notifier_set_notify(notifier, command_notify);
	if (rc == AFK_OK)
		rc = afk_notifier_set_probe(notifier, command_notifier_probe);
	if (rc)
		afk__errf(errbuf, "notifier: cannot register notify: %s",
		          afk_strerror(rc));
	return rc;
}

static const afk__member command_notifier_members[] = {
	{"command", AFK__M_COMMAND, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "the program and its arguments, run once per notification"},
	{"env", AFK__M_VARS, 0, NULL, 0, 0, NULL,
	 "variables passed on beyond the minimal set"},
	{"timeout", AFK__M_INT, 0, "30", 1, 3600, NULL,
	 "seconds the command may run before its process group is killed"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_command_notifier = {
	{"command", AFK__ROLE_NOTIFIER, 0, command_notifier_members,
	 "a local command run once per notification, the line on its stdin"},
	{.notifier = command_notifier_setup}
};
