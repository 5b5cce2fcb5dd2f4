/*
 * lib/spawn.c - running a local program without a shell.  See spawn.h.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for realpath() */

#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

/* --- finding the program --------------------------------------------- */

/* Checks that file is an executable regular file.  Returns 0 with *out
 * its absolute path (the child may change directory before exec), or an
 * errno. */
static int check_program(const char *file, char **out)
{
	struct stat st;

	if (stat(file, &st) != 0)
		return errno;
	if (!S_ISREG(st.st_mode) || access(file, X_OK) != 0)
		return EACCES;
	if (file[0] == '/')
		*out = afk__strdup(file);
	else
		*out = realpath(file, NULL);
	if (*out == NULL)
		return file[0] == '/' ? ENOMEM : errno;
	return 0;
}

/* Finds the program execvp() would run for name, in the parent, so that
 * a missing program fails before anything is forked and the child needs
 * only execve().  A name with a '/' is taken as it is; otherwise PATH is
 * searched (unset: /bin:/usr/bin; an empty entry is the current
 * directory).  Returns 0 with *out (free it), or an errno: ENOENT, EACCES
 * when only unexecutable matches were found. */
static int find_program(const char *name, char **out)
{
	const char *p, *colon, *path = getenv("PATH");
	char *file;
	size_t len;
	int rc, err = ENOENT;

	if (strchr(name, '/') != NULL)
		return check_program(name, out);
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (p = path;; p = colon + 1) {
		colon = strchr(p, ':');
		len = colon ? (size_t)(colon - p) : strlen(p);
		file = afk__aprintf("%.*s/%s", len ? (int)len : 1,
		                    len ? p : ".", name);
		if (file == NULL)
			return ENOMEM;
		rc = check_program(file, out);
		free(file);
		if (rc == 0 || rc == ENOMEM)
			return rc;
		if (rc == EACCES)
			err = EACCES;
		if (colon == NULL)
			return err;
	}
}

/* --- the environment ------------------------------------------------- */

/* 1 when the entry kv of the environment sets a variable that one of
 * the "NAME=value" entries of add sets too. */
static int is_replaced(const char *kv, char *const *add)
{
	const char *eq;
	size_t n;

	for (; add != NULL && *add != NULL; add++) {
		eq = strchr(*add, '=');
		n = eq ? (size_t)(eq - *add) : strlen(*add);
		if (strncmp(kv, *add, n) == 0 && kv[n] == '=')
			return 1;
	}
	return 0;
}

/* The child's environment: ours without the variables add sets, then
 * add.  NULL-terminated; the caller frees it with afk__strv_clear().
 * Returns 0 or ENOMEM. */
static int build_env(afk__strv *env, char *const *add)
{
	size_t i;

	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		if (!is_replaced(environ[i], add) &&
		    afk__strv_push(env, environ[i]))
			return ENOMEM;
	for (; add != NULL && *add != NULL; add++)
		if (afk__strv_push(env, *add))
			return ENOMEM;
	if (afk__grow((void **)&env->v, &env->cap, env->n, 1, sizeof(char *)))
		return ENOMEM;
	env->v[env->n] = NULL;
	return 0;
}

/* --- the child ------------------------------------------------------- */

/* A close-on-exec duplicate of fd above stderr, fd itself closed, so that
 * the child's dup2() onto 0, 1 and 2 cannot clobber it.  -1 (errno) on
 * failure, fd closed too. */
static int high_cloexec(int fd)
{
	int hi, err;

	if (fd < 0)
		return -1;
	if (fd > 2) {
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) == 0)
			return fd;
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	err = errno;
	close(fd);
	errno = err;
	return hi;
}

static int cloexec_pipe(int fds[2])
{
	int raw[2];

	if (pipe(raw) != 0)
		return -1;
	fds[0] = high_cloexec(raw[0]);
	fds[1] = high_cloexec(raw[1]);
	if (fds[0] >= 0 && fds[1] >= 0)
		return 0;
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return -1;
}

/* In the child: makes src descriptor target, src being any descriptor
 * (a low one was moved above 2 first).  Async-signal-safe. */
static int install(int src, int target)
{
	if (src == target)
		return fcntl(src, F_SETFD, 0); /* keep it across exec */
	return dup2(src, target) < 0 ? -1 : 0;
}

/* In the child, between fork() and exec: only async-signal-safe calls.
 * Returns only on failure, with the errno of the step that failed. */
static int run_child(const char *prog, char *const *argv, char **env,
                     const char *dir, const int std[3])
{
	sigset_t none;
	int fd[3], k;

	/* The program starts with default signals, not the host's. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* A source on 0-2 other than its own target would be clobbered by
	 * an earlier dup2(): move it up first. */
	for (k = 0; k < 3; k++) {
		fd[k] = std[k];
		if (fd[k] < 3 && fd[k] != k &&
		    (fd[k] = fcntl(std[k], F_DUPFD_CLOEXEC, 3)) < 0)
			return errno;
	}
	for (k = 0; k < 3; k++)
		if (install(fd[k], k) != 0)
			return errno;
	if (dir != NULL && chdir(dir) != 0)
		return errno;
	execve(prog, argv, env);
	return errno;
}

/* Reads the child's exec errno from the pipe: 0 when exec succeeded (the
 * pipe closed empty). */
static int read_exec_errno(int fd)
{
	ssize_t n;
	int err = 0;

	do
		n = read(fd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(err) ? err : 0;
}

int afk__spawn_wait(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return errno;
	}
	return 0;
}

/* Forks and execs prog with std as its 0, 1 and 2.  Returns 0 with *pid
 * once exec succeeded, or an errno (the child, if any, reaped). */
static int fork_exec(const char *prog, char *const *argv, char **env,
                     const char *dir, const int std[3], pid_t *pid)
{
	int fds[2], err, status;

	if (cloexec_pipe(fds) != 0)
		return errno;
	*pid = fork();
	if (*pid < 0) {
		err = errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (*pid == 0) {
		/* The child: run_child() returns only if exec failed. */
		err = run_child(prog, argv, env, dir, std);
		while (write(fds[1], &err, sizeof(err)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	close(fds[1]);
	err = read_exec_errno(fds[0]);
	close(fds[0]);
	if (err != 0)
		afk__spawn_wait(*pid, &status);
	return err;
}

int afk__spawn_start(const afk__spawn_opts *o, pid_t *pid)
{
	afk__strv env = {NULL, 0, 0};
	char *prog = NULL;
	int std[3], null_fd = -1, err;

	if (o->argv == NULL || o->argv[0] == NULL || o->argv[0][0] == '\0')
		return EINVAL;
	err = find_program(o->argv[0], &prog);
	if (err == 0)
		err = build_env(&env, o->env);
	if (err == 0 && o->in < 0) {
		null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null_fd < 0)
			err = errno;
	}
	if (err == 0) {
		std[0] = o->in >= 0 ? o->in : null_fd;
		std[1] = o->out;
		std[2] = o->err;
		err = fork_exec(prog, o->argv, env.v, o->dir, std, pid);
	}
	if (null_fd >= 0)
		close(null_fd);
	afk__strv_clear(&env);
	free(prog);
	return err;
}

/* --- capturing ------------------------------------------------------- */

/* Appends what one read() of fd brought to c, past its cap only counting.
 * Returns 1 while the stream is open, 0 at its end, -1 (errno). */
static int drain_once(int fd, afk__capture *c)
{
	char chunk[4096];
	size_t room, take;
	ssize_t n;

	n = read(fd, chunk, sizeof(chunk));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (n == 0)
		return 0;
	room = c->max - c->len;
	take = (size_t)n < room ? (size_t)n : room;
	memcpy(c->buf + c->len, chunk, take);
	c->len += take;
	c->buf[c->len] = '\0';
	if ((size_t)n > take)
		c->over = 1;
	return 1;
}

/* Reads the two pipes to their ends.  Returns 0 or an errno. */
static int drain(int fds[2], afk__capture *caps[2])
{
	struct pollfd p[2];
	int open_n = 2, k, r;

	while (open_n > 0) {
		for (k = 0; k < 2; k++) {
			p[k].fd = fds[k];
			p[k].events = POLLIN;
			p[k].revents = 0;
		}
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		for (k = 0; k < 2; k++) {
			if (fds[k] < 0 || p[k].revents == 0)
				continue;
			r = drain_once(fds[k], caps[k]);
			if (r < 0)
				return errno;
			if (r == 0) {
				close(fds[k]);
				fds[k] = -1; /* poll() ignores it from now */
				open_n--;
			}
		}
	}
	return 0;
}

static int capture_init(afk__capture *c)
{
	c->buf = malloc(c->max + 1);
	c->len = 0;
	c->over = 0;
	if (c->buf == NULL)
		return ENOMEM;
	c->buf[0] = '\0';
	return 0;
}

int afk__spawn_capture(const afk__spawn_opts *o, afk__capture *out,
                       afk__capture *err, int *status, int *started)
{
	afk__spawn_opts run = *o;
	afk__capture *caps[2];
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, fds[2], e, k, status2;
	pid_t pid;

	*started = 0;
	out->buf = err->buf = NULL;
	if ((e = capture_init(out)) != 0 || (e = capture_init(err)) != 0)
		return e;
	if (cloexec_pipe(po) != 0 || cloexec_pipe(pe) != 0) {
		e = errno;
		for (k = 0; k < 2; k++)
			if (po[k] >= 0)
				close(po[k]);
		return e;
	}
	run.out = po[1];
	run.err = pe[1];
	e = afk__spawn_start(&run, &pid);
	close(po[1]);
	close(pe[1]);
	fds[0] = po[0];
	fds[1] = pe[0];
	caps[0] = out;
	caps[1] = err;
	if (e == 0) {
		*started = 1;
		e = drain(fds, caps);
	}
	/* Closed before the wait: after a read failure a child blocked on
	 * a full pipe then gets EPIPE instead of waiting for us forever. */
	for (k = 0; k < 2; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	if (*started) {
		k = afk__spawn_wait(pid, e == 0 ? status : &status2);
		e = e ? e : k;
	}
	return e;
}

void afk__spawn_describe(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "unknown status %d", status);
}
