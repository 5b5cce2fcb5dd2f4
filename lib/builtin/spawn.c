/*
 * lib/builtin/spawn.c - running a local program without a shell.  See spawn.h.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for realpath() */
#define _DEFAULT_SOURCE   /* syscall(), for close_range() */

#include "builtin/spawn.h"

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
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

/* close_range()'s flag, from <linux/close_range.h> (Linux 5.11), which
 * older headers lack. */
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#include "core/util.h"

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

int afk__spawn_find(const char *name)
{
	char *prog = NULL;
	int rc;

	if (name == NULL || name[0] == '\0')
		return ENOENT;
	rc = find_program(name, &prog);
	free(prog);
	return rc;
}

int afk__spawn_dir(const char *prog, char **out)
{
	const char *slash = strrchr(prog, '/');
	size_t n;

	*out = NULL;
	if (slash == NULL)
		return 0;
	n = slash == prog ? 1 : (size_t)(slash - prog);
	*out = malloc(n + 1);
	if (*out == NULL)
		return ENOMEM;
	memcpy(*out, prog, n);
	(*out)[n] = '\0';
	return 0;
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

/* 1 when the entry kv of the environment sets a variable named in
 * names (NULL-terminated, may be NULL). */
static int is_named(const char *kv, char *const *names)
{
	size_t n;

	for (; names != NULL && *names != NULL; names++) {
		n = strlen(*names);
		if (strncmp(kv, *names, n) == 0 && kv[n] == '=')
			return 1;
	}
	return 0;
}

/* 1 when the entry kv sets a variable of the minimal environment: what
 * a program needs to find programs, its home, its language, its time
 * zone and its temporary files, and nothing that is a credential. */
static int is_minimal(const char *kv)
{
	static char *const minimal[] = {
		"PATH", "HOME", "LANG", "TZ", "TMPDIR", NULL
	};

	return is_named(kv, minimal) ||
	       (strncmp(kv, "LC_", 3) == 0 && strchr(kv, '=') != NULL);
}

/* The child's environment (see "the environment rule" in spawn.h): the
 * minimal set of ours and the variables pass names, without those hide
 * names or add sets, then add.  NULL-terminated; the caller frees it
 * with afk__strv_clear().  Returns 0 or ENOMEM. */
static int build_env(afk__strv *env, char *const *pass, char *const *hide,
                     char *const *add)
{
	const char *kv;
	size_t i;

	for (i = 0; environ != NULL && environ[i] != NULL; i++) {
		kv = environ[i];
		if ((is_minimal(kv) || is_named(kv, pass)) &&
		    !is_named(kv, hide) && !is_replaced(kv, add) &&
		    afk__strv_push(env, kv))
			return ENOMEM;
	}
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

/* In the child: marks every descriptor above stderr close-on-exec, so
 * that the program inherits none of the host's (a lock, a socket, a
 * file the host opened without O_CLOEXEC), while the pipe that reports
 * a failed exec stays open until exec.  close_range() where the kernel
 * has it, else every descriptor below max_fd (found before fork()).
 * Async-signal-safe. */
static void cloexec_above_stderr(long max_fd)
{
	long fd;

#if defined(SYS_close_range)
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
#endif
	for (fd = 3; fd < max_fd; fd++)
		fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* EBADF: not open */
}

/* In the child, between fork() and exec: only async-signal-safe calls.
 * Returns only on failure, with the errno of the step that failed. */
static int run_child(const char *prog, char *const *argv, char **env,
                     const char *dir, const int std[3], long max_fd)
{
	sigset_t none;
	int fd[3], k;

	/* A process group of its own: a deadline kills it and whatever it
	 * started, and the host's terminal signals are not its. */
	setpgid(0, 0);
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
	cloexec_above_stderr(max_fd);
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
	long max_fd = sysconf(_SC_OPEN_MAX);
	int fds[2], err, status;

	if (max_fd < 0)
		max_fd = 1024;
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
		err = run_child(prog, argv, env, dir, std, max_fd);
		while (write(fds[1], &err, sizeof(err)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	/* In the parent too, so that the group exists before anyone may
	 * kill it; EACCES once the child has exec'd is harmless. */
	setpgid(*pid, *pid);
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
		err = build_env(&env, o->pass, o->hide, o->env);
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

/* Milliseconds on the monotonic clock. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The poll() timeout left before deadline (ms on the monotonic clock,
 * -1: none): -1 for none, 0 once it has passed. */
static int time_left(long long deadline)
{
	long long left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Reads the two pipes, stdout and stderr, to their ends or until
 * deadline.  Returns 0 at both ends, ETIMEDOUT at the deadline, EFBIG as
 * soon as stdout has run past its cap, or an errno. */
static int drain(int fds[2], afk__capture *caps[2], long long deadline)
{
	struct pollfd p[2];
	int open_n = 2, k, r, wait_ms;

	while (open_n > 0) {
		for (k = 0; k < 2; k++) {
			p[k].fd = fds[k];
			p[k].events = POLLIN;
			p[k].revents = 0;
		}
		wait_ms = time_left(deadline);
		if (wait_ms == 0)
			return ETIMEDOUT;
		r = poll(p, 2, wait_ms);
		if (r < 0) {
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
			if (k == 0 && caps[0]->over)
				return EFBIG;
			if (r == 0) {
				close(fds[k]);
				fds[k] = -1; /* poll() ignores it from now */
				open_n--;
			}
		}
	}
	return 0;
}

/* Kills the child's process group - the child and what it started - and
 * the child itself, should it have left the group.  The child is not
 * reaped yet, so neither id can have been reused. */
static void kill_group(pid_t pid)
{
	killpg(pid, SIGKILL);
	kill(pid, SIGKILL);
}

/* Reaps pid with *status, or kills its group at deadline (-1: none) and
 * reaps it then: a child may close its output and go on running.
 * Returns 0, ETIMEDOUT (reaped, killed) or an errno. */
static int wait_until(pid_t pid, int *status, long long deadline)
{
	struct timespec nap = {0, 1000 * 1000};
	pid_t r;
	int left;

	while (deadline >= 0) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return errno;
		left = time_left(deadline);
		if (left == 0) {
			kill_group(pid);
			r = (pid_t)afk__spawn_wait(pid, status);
			return r ? (int)r : ETIMEDOUT;
		}
		/* 1 ms, doubling to 64 ms: short children cost little. */
		if (nap.tv_nsec * 2 < 64L * 1000 * 1000)
			nap.tv_nsec *= 2;
		if (left < 64 && left * 1000000L < nap.tv_nsec)
			nap.tv_nsec = left * 1000000L;
		nanosleep(&nap, NULL);
	}
	return afk__spawn_wait(pid, status);
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
	long long deadline = -1;
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
	if (o->timeout_ms > 0)
		deadline = now_ms() + o->timeout_ms;
	e = afk__spawn_start(&run, &pid);
	close(po[1]);
	close(pe[1]);
	fds[0] = po[0];
	fds[1] = pe[0];
	caps[0] = out;
	caps[1] = err;
	if (e == 0) {
		*started = 1;
		e = drain(fds, caps, deadline);
		/* Past the deadline or the cap, and after a read failure, the
		 * child is not waited for: it may never end. */
		if (e != 0)
			kill_group(pid);
		if (e == EFBIG)
			e = 0; /* out->over says it */
	}
	for (k = 0; k < 2; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	if (*started && e == 0)
		e = wait_until(pid, status, deadline);
	else if (*started)
		afk__spawn_wait(pid, e == ETIMEDOUT ? status : &status2);
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

/* --- detached: the supervisor ------------------------------------------ */

/* Everything below the fork in afk__spawn_detach() runs in children of a
 * host that may have threads: only async-signal-safe calls, no malloc,
 * no stdio - not even snprintf(). */

/* Writes v in decimal at p; returns the end (not NUL-terminated). */
static char *put_ull(char *p, unsigned long long v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

static char *put_str(char *p, const char *s)
{
	while (*s != '\0')
		*p++ = *s++;
	return p;
}

int afk__spawn_starttime(pid_t pid, unsigned long long *start)
{
	char path[48], buf[1024], *p, *end, *close_paren = NULL;
	ssize_t n, len = 0;
	int fd, field;

	*start = 0;
	p = put_str(path, "/proc/");
	p = put_ull(p, (unsigned long long)pid);
	p = put_str(p, "/stat");
	*p = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	while (len < (ssize_t)sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	/* The name, field 2, is in parentheses and may hold anything, ')'
	 * and blanks too: the fields are counted from its last ')'. */
	for (p = buf; *p != '\0'; p++)
		if (*p == ')')
			close_paren = p;
	if (close_paren == NULL)
		return EINVAL;
	p = close_paren + 1;
	for (field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return EINVAL;
		if (field == 22)
			break;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	*start = 0;
	for (end = p; *end >= '0' && *end <= '9'; end++)
		*start = *start * 10 + (unsigned long long)(*end - '0');
	return end == p ? EINVAL : 0;
}

/* The state (field 3) and process group (field 5) of pid from
 * /proc/<pid>/stat.  Returns 0 or an errno. */
static int proc_group(const char *pid, char *state, long long *pgrp)
{
	char path[300], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return EINVAL;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %c %*d %lld", state, pgrp) != 2)
		return EINVAL;
	return 0;
}

int afk__spawn_group_alive(pid_t pgid)
{
	struct dirent *e;
	long long pgrp;
	char state;
	DIR *d;
	int alive = 0;

	if (killpg(pgid, 0) != 0 && errno != EPERM)
		return 0;
	d = opendir("/proc");
	if (d == NULL)
		return 1; /* no /proc: killpg() said it exists */
	while (!alive && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		if (proc_group(e->d_name, &state, &pgrp) == 0 &&
		    pgrp == (long long)pgid && state != 'Z' && state != 'X')
			alive = 1;
	}
	closedir(d);
	return alive;
}

/* Writes len bytes of text into name of dirfd atomically: into tmp,
 * made afresh (O_EXCL: never through a link the agent left there), then
 * renamed over name.  Async-signal-safe; best effort. */
static void put_at(int dirfd, const char *tmp, const char *name,
                   const char *text, size_t len)
{
	ssize_t n;
	int fd;

	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	            O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	while (len > 0) {
		n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		text += n;
		len -= (size_t)n;
	}
	if (close(fd) == 0 && len == 0 &&
	    renameat(dirfd, tmp, dirfd, name) == 0)
		return;
	unlinkat(dirfd, tmp, 0);
}

/* Writes "<pid> <starttime>\n" of pid into name of dirfd. */
static void put_pid_at(int dirfd, const char *tmp, const char *name,
                       pid_t pid)
{
	unsigned long long start;
	char buf[64], *p;

	afk__spawn_starttime(pid, &start);
	p = put_ull(buf, (unsigned long long)pid);
	*p++ = ' ';
	p = put_ull(p, start);
	*p++ = '\n';
	put_at(dirfd, tmp, name, buf, (size_t)(p - buf));
}

/* afk__spawn_describe() without snprintf(), and with a newline. */
static void put_status_at(int dirfd, int status)
{
	char buf[64], *p = buf;

	if (WIFEXITED(status)) {
		p = put_str(p, "exited ");
		p = put_ull(p, (unsigned long long)WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		p = put_str(p, "killed by signal ");
		p = put_ull(p, (unsigned long long)WTERMSIG(status));
	} else {
		p = put_str(p, "unknown status");
	}
	*p++ = '\n';
	put_at(dirfd, ".exit_status.tmp", "exit_status", buf,
	       (size_t)(p - buf));
}

static void send_errno(int fd, int err)
{
	while (write(fd, &err, sizeof(err)) < 0 && errno == EINTR)
		;
}

/* In the supervisor: closes every descriptor above stderr but the keep
 * ones (n of them, each > 2), so that it holds nothing of the host's - a
 * socket, the write end of a pipe someone reads to its end - for the
 * agent's whole run.  Async-signal-safe. */
static void close_others(const int *keep, int n, long max_fd)
{
	int sorted[8], i, j, t;
	long lo = 3, fd;

	for (i = 0; i < n; i++)
		sorted[i] = keep[i];
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
			t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (i = 0; i <= n; i++) {
		long hi = i < n ? (long)sorted[i] - 1 : -1;

		if (i < n && sorted[i] < lo)
			continue;
#if defined(SYS_close_range)
		if (syscall(SYS_close_range, (unsigned)lo,
		            hi < 0 ? ~0U : (unsigned)hi, 0U) == 0) {
			lo = i < n ? (long)sorted[i] + 1 : lo;
			continue;
		}
#endif
		for (fd = lo; fd <= (hi < 0 ? max_fd - 1 : hi); fd++)
			close((int)fd);
		if (i < n)
			lo = (long)sorted[i] + 1;
	}
}

/* What the supervisor is handed, all made before the first fork. */
typedef struct detach_job {
	const char *prog;
	char *const *argv;
	char **env;
	const char *dir;
	int std[3];       /* the agent's stdin, stdout, stderr */
	int null_fd;      /* /dev/null, the supervisor's own 0, 1 and 2 */
	int dirfd;        /* the run directory */
	int keep;         /* the run's lock, or -1 */
	int report;       /* write end of the pipe to the host */
	long max_fd;
} detach_job;

/* The agent, in the supervisor's child: a session of its own, then as
 * run_child().  Never returns. */
static void run_agent(const detach_job *j, int report)
{
	int err;

	setsid();
	err = run_child(j->prog, j->argv, j->env, j->dir, j->std, j->max_fd);
	send_errno(report, err);
	_exit(127);
}

/* The supervisor: starts the agent, learns whether its exec succeeded,
 * then writes "supervisor" and "pid", removes the last turn's
 * "exit_status", tells the host (its pipe closed empty) and waits for
 * the agent to write how it ended into "exit_status".  An agent that
 * could not start is reaped and its errno sent to the host, and nothing
 * is written.  Never returns. */
static void run_supervisor(const detach_job *j)
{
	struct sigaction sa;
	int p[2], keep[6], n = 0, err, status;
	ssize_t got;
	pid_t agent;

	/* Default signals: a host that ignores SIGCHLD would leave it
	 * nothing to wait for; a host gone makes its pipe EPIPE, not a
	 * signal. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	keep[n++] = j->dirfd;
	keep[n++] = j->report;
	keep[n++] = j->std[0];
	keep[n++] = j->std[1];
	keep[n++] = j->std[2];
	if (j->keep >= 0)
		keep[n++] = j->keep;
	close_others(keep, n, j->max_fd);
	if (pipe(p) != 0 ||
	    fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0) {
		send_errno(j->report, errno);
		_exit(1);
	}
	agent = fork();
	if (agent < 0) {
		send_errno(j->report, errno);
		_exit(1);
	}
	if (agent == 0)
		run_agent(j, p[1]);
	close(p[1]);
	err = 0;
	do
		got = read(p[0], &err, sizeof(err));
	while (got < 0 && errno == EINTR);
	close(p[0]);
	if (got == (ssize_t)sizeof(err) && err != 0) {
		while (waitpid(agent, &status, 0) < 0 && errno == EINTR)
			;
		send_errno(j->report, err);
		_exit(1);
	}
	/* What stays open: the run directory and the lock. */
	close(j->std[0]);
	close(j->std[1]);
	close(j->std[2]);
	put_pid_at(j->dirfd, ".supervisor.tmp", "supervisor", getpid());
	put_pid_at(j->dirfd, ".pid.tmp", "pid", agent);
	unlinkat(j->dirfd, "exit_status", 0);
	close(j->report);
	while (waitpid(agent, &status, 0) < 0) {
		if (errno != EINTR)
			_exit(1);
	}
	put_status_at(j->dirfd, status);
	_exit(0);
}

/* The first child: leaves the host's session (no terminal's signal
 * reaches what it starts), forks the supervisor and ends at once, so
 * that the supervisor is no child of the host's.  Never returns. */
static void run_launcher(const detach_job *j)
{
	pid_t sup;

	setsid();
	if (dup2(j->null_fd, 0) < 0 || dup2(j->null_fd, 1) < 0 ||
	    dup2(j->null_fd, 2) < 0) {
		send_errno(j->report, errno);
		_exit(1);
	}
	sup = fork();
	if (sup < 0) {
		send_errno(j->report, errno);
		_exit(1);
	}
	if (sup == 0)
		run_supervisor(j);
	_exit(0);
}

/* Moves every descriptor of the job above stderr (the launcher puts
 * /dev/null onto 0, 1 and 2), close-on-exec.  Returns 0 or an errno,
 * the moved ones in *moved to close. */
static int lift(int *fd, int *moved, int *n)
{
	int hi;

	if (*fd > 2)
		return 0;
	hi = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (hi < 0)
		return errno;
	*fd = hi;
	moved[(*n)++] = hi;
	return 0;
}

int afk__spawn_detach(const afk__spawn_opts *o, int dirfd, int keep)
{
	afk__strv env = {NULL, 0, 0};
	detach_job j;
	char *prog = NULL;
	int fds[2] = {-1, -1}, moved[8], nmoved = 0, k, err, status, null_in = -1;
	pid_t pid;

	if (o->argv == NULL || o->argv[0] == NULL || o->argv[0][0] == '\0')
		return EINVAL;
	memset(&j, 0, sizeof(j));
	j.null_fd = -1;
	err = find_program(o->argv[0], &prog);
	if (err == 0)
		err = build_env(&env, o->pass, o->hide, o->env);
	if (err == 0) {
		j.null_fd = high_cloexec(open("/dev/null", O_RDWR | O_CLOEXEC));
		if (j.null_fd < 0)
			err = errno;
	}
	if (err == 0 && o->in < 0 &&
	    (null_in = fcntl(j.null_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		err = errno;
	if (err == 0 && cloexec_pipe(fds) != 0)
		err = errno;
	j.prog = prog;
	j.argv = o->argv;
	j.env = env.v;
	j.dir = o->dir;
	j.std[0] = o->in >= 0 ? o->in : null_in;
	j.std[1] = o->out;
	j.std[2] = o->err;
	j.dirfd = dirfd;
	j.keep = keep;
	j.report = fds[1];
	j.max_fd = sysconf(_SC_OPEN_MAX);
	if (j.max_fd < 0)
		j.max_fd = 1024;
	for (k = 0; k < 3 && err == 0; k++)
		err = lift(&j.std[k], moved, &nmoved);
	if (err == 0)
		err = lift(&j.dirfd, moved, &nmoved);
	if (err == 0 && j.keep >= 0)
		err = lift(&j.keep, moved, &nmoved);
	if (err == 0) {
		pid = fork();
		if (pid < 0)
			err = errno;
		else if (pid == 0)
			run_launcher(&j);
	}
	if (fds[1] >= 0)
		close(fds[1]);
	if (err == 0) {
		afk__spawn_wait(pid, &status);
		/* Closed empty once the supervisor has written its files (or
		 * died: then the snapshot reads the run as errored). */
		err = read_exec_errno(fds[0]);
	}
	if (fds[0] >= 0)
		close(fds[0]);
	for (k = 0; k < nmoved; k++)
		close(moved[k]);
	if (j.null_fd >= 0)
		close(j.null_fd);
	if (null_in >= 0)
		close(null_in);
	afk__strv_clear(&env);
	free(prog);
	return err;
}
