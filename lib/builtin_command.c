/*
 * lib/builtin_command.c - the "command" agent: a local command run once
 * per dispatch, synchronously, in a run directory of its own under the
 * state directory:
 *
 *   <state_dir>/<repo with '/' -> '-'>-<number>-<k>/
 *       prompt.txt    the prompt, also the command's stdin
 *       output.log    the command's stdout and stderr
 *       exit_status   "exited N" or "killed by signal N"
 *
 * The run directory's name is the thread id.  The command is executed
 * without a shell and the prompt never travels in argv (it would show in
 * ps and is bounded by ARG_MAX).
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for realpath() */

#include "builtin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Runs past this many directories of one issue mean something is wrong
 * with the state directory, not that the issue ran that often. */
#define MAX_RUNS 100000

/* What dispatch needs of the configuration, copied. */
struct command_agent {
	afk__strv argv;
	char *state_dir;
};

static void command_agent_free(void *userdata)
{
	struct command_agent *ca = userdata;

	if (ca == NULL)
		return;
	afk__strv_clear(&ca->argv);
	free(ca->state_dir);
	free(ca);
}

/* Sets the call's message and returns code. */
static int fail(afk_call *call, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static int fail(afk_call *call, int code, const char *fmt, ...)
{
	char msg[AFK__ERRMSG_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	afk_call_set_error(call, msg);
	return code;
}

/* --- the run directory ----------------------------------------------- */

/* mkdir -p: creates path and its missing parents.  Returns 0 or -1 with
 * errno set. */
static int mkdir_parents(const char *path)
{
	char *p, *s;
	int err = 0;

	p = afk__strdup(path);
	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (s = strchr(p + 1, '/'); s != NULL && err == 0;
	     s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0777) != 0 && errno != EEXIST)
			err = errno;
		*s = '/';
	}
	free(p);
	if (err == 0 && mkdir(path, 0777) != 0 && errno != EEXIST)
		err = errno;
	errno = err;
	return err ? -1 : 0;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* The thread id's stem: repo with '/' made '-', and anything that is not
 * safe in a file name made '_' (the allowlist admits only safe names, but
 * the tracker is not to be trusted with the file system). */
static char *id_stem(const char *repo, long number)
{
	char *stem, *s;

	stem = afk__aprintf("%s-%ld", repo, number);
	if (stem == NULL)
		return NULL;
	for (s = stem; *s; s++) {
		if (*s == '/')
			*s = '-';
		else if (!is_name_char(*s))
			*s = '_';
	}
	return stem;
}

/* Claims a run directory: the first <state_dir>/<stem>-<k> that mkdir
 * creates, written into dir (PATH_MAX bytes; on the stack, so nothing of
 * it is on the heap while a child is forked).  mkdir is atomic, so two
 * ticks racing on one issue get distinct ids.  The thread id is the
 * directory's last component. */
static int claim_run_dir(afk_call *call, const char *state_dir,
                         const char *stem, char *dir)
{
	long k;
	int n;

	for (k = 1; k <= MAX_RUNS; k++) {
		n = snprintf(dir, PATH_MAX, "%s/%s-%ld", state_dir, stem, k);
		if (n < 0 || n >= PATH_MAX)
			return fail(call, AFK_EIO, "%s/%s-%ld: %s", state_dir,
			            stem, k, strerror(ENAMETOOLONG));
		if (mkdir(dir, 0777) == 0)
			return AFK_OK;
		if (errno != EEXIST)
			return fail(call, AFK_EIO, "cannot create %s: %s", dir,
			            strerror(errno));
	}
	return fail(call, AFK_EIO, "%s: more than %d runs of %s", state_dir,
	            MAX_RUNS, stem);
}

static char *run_file(const char *dir, const char *name)
{
	return afk__aprintf("%s/%s", dir, name);
}

/* Removes a run directory that never became a thread, with the files this
 * module puts in it. */
static void remove_run_dir(const char *dir)
{
	static const char *const names[] = {
		"prompt.txt", "output.log", "exit_status"
	};
	size_t i;
	char *f;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		f = run_file(dir, names[i]);
		if (f != NULL)
			unlink(f);
		free(f);
	}
	rmdir(dir);
}

/* Opens name in dir with flags, on a descriptor above stderr so that the
 * child's dup2() onto 0, 1 and 2 cannot clobber it.  Returns the
 * descriptor (close-on-exec) or -1 with errno set. */
static int open_in(const char *dir, const char *name, int flags)
{
	char *path;
	int fd, hi, err;

	path = run_file(dir, name);
	if (path == NULL) {
		errno = ENOMEM;
		return -1;
	}
	fd = open(path, flags | O_CLOEXEC, 0666);
	free(path);
	if (fd < 0 || fd > 2)
		return fd;
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	err = errno;
	close(fd);
	errno = err;
	return hi;
}

/* Writes all of len bytes of buf to fd, retrying short writes. */
static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes text into a new file name of dir.  Returns 0 or an errno. */
static int write_run_file(const char *dir, const char *name,
                          const char *text)
{
	int fd, err = 0;

	fd = open_in(dir, name, O_WRONLY | O_CREAT | O_TRUNC);
	if (fd < 0)
		return errno;
	if (write_all(fd, text, strlen(text)) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	return err;
}

/* --- the child ------------------------------------------------------- */

/* Appends "name=value" to env. */
static int push_var(afk__strv *env, const char *name, const char *value)
{
	char *kv;
	int rc;

	kv = afk__aprintf("%s=%s", name, value);
	if (kv == NULL)
		return AFK_ENOMEM;
	rc = afk__strv_push(env, kv);
	free(kv);
	return rc;
}

/* 1 when the environment entry kv sets one of the variables we set. */
static int is_ours(const char *kv)
{
	static const char *const ours[] = {
		"AFK_REPO=", "AFK_ISSUE=", "AFK_THREAD_ID=", "AFK_RUN_DIR="
	};
	size_t k;

	for (k = 0; k < sizeof(ours) / sizeof(ours[0]); k++)
		if (strncmp(kv, ours[k], strlen(ours[k])) == 0)
			return 1;
	return 0;
}

/* The environment of the command: the current one, with AFK_REPO,
 * AFK_ISSUE, AFK_THREAD_ID and AFK_RUN_DIR set for this run.  Built
 * before fork() because the child of a threaded host may not allocate.
 * NULL-terminated for exec; the caller frees it with afk__strv_clear(). */
static int build_env(afk__strv *env, const char *repo, long number,
                     const char *id, const char *dir)
{
	char issue[32];
	size_t i;

	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		if (!is_ours(environ[i]) && afk__strv_push(env, environ[i]))
			return AFK_ENOMEM;
	snprintf(issue, sizeof(issue), "%ld", number);
	if (push_var(env, "AFK_REPO", repo) ||
	    push_var(env, "AFK_ISSUE", issue) ||
	    push_var(env, "AFK_THREAD_ID", id) ||
	    push_var(env, "AFK_RUN_DIR", dir) ||
	    afk__grow((void **)&env->v, &env->cap, env->n, 1, sizeof(char *)))
		return AFK_ENOMEM;
	env->v[env->n] = NULL;
	return AFK_OK;
}

/* Checks that file is an executable regular file.  Returns 0 with *out
 * its absolute path (the child changes directory before exec), or an
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
 * only execve(), which is async-signal-safe.  A name with a '/' is taken
 * as it is; otherwise PATH is searched (unset: /bin:/usr/bin; an empty
 * entry is the current directory).  Returns 0 with *out (free it), or an
 * errno: ENOENT, EACCES when only unexecutable matches were found. */
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

/* In the child, between fork() and exec: only async-signal-safe calls.
 * Returns only on failure, with the errno of the step that failed. */
static int run_child(const char *prog, char *const *argv, char **env,
                     const char *dir, int in, int out)
{
	sigset_t none;

	/* The agent starts with default signals, not the host's. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
	    chdir(dir) != 0)
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

/* waitpid() retried on EINTR.  Returns 0 with *status, or -1 (errno). */
static int wait_child(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static int make_cloexec_pipe(int fds[2])
{
	if (pipe(fds) != 0)
		return -1;
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return 0;
}

/* Starts argv (the program prog) with stdin in and stdout+stderr out,
 * in dir, with env.  Returns 0 with *pid once exec succeeded, or an errno
 * (the child, if any, reaped).  The exec's own failure comes back through
 * a close-on-exec pipe, which exec closes with nothing written. */
static int spawn(const char *prog, char *const *argv, char **env,
                 const char *dir, int in, int out, pid_t *pid)
{
	int fds[2], err;

	if (make_cloexec_pipe(fds) != 0)
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
		err = run_child(prog, argv, env, dir, in, out);
		while (write(fds[1], &err, sizeof(err)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	close(fds[1]);
	err = read_exec_errno(fds[0]);
	close(fds[0]);
	if (err != 0) {
		int status;

		wait_child(*pid, &status);
	}
	return err;
}

/* --- dispatch -------------------------------------------------------- */

/* The exit_status text of a wait status. */
static void describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited %d\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d\n", WTERMSIG(status));
	else
		snprintf(buf, size, "unknown status %d\n", status);
}

/* Runs the command in dir, which holds prompt.txt, and records its
 * outcome.  Once the command has started the run is a thread, whatever
 * follows: a failure to wait or to write exit_status is not reported as
 * a failed dispatch, since that would leave the issue unlocked and the
 * next tick would start a second agent on it. */
static int run_command(afk_call *call, const struct command_agent *ca,
                       const afk__strv *env, const char *dir)
{
	char desc[64], *prog = NULL;
	pid_t pid = -1;
	int in = -1, out = -1, err, status;

	err = find_program(ca->argv.v[0], &prog);
	if (err == 0) {
		in = open_in(dir, "prompt.txt", O_RDONLY);
		out = in < 0 ? -1 : open_in(dir, "output.log",
		                            O_WRONLY | O_CREAT | O_TRUNC);
		if (out < 0)
			err = errno;
	}
	if (err == 0)
		err = spawn(prog, ca->argv.v, env->v, dir, in, out, &pid);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(prog);
	if (err != 0)
		return fail(call, AFK_EIO, "cannot run agent command '%s': %s",
		            ca->argv.v[0], strerror(err));
	if (wait_child(pid, &status) == 0)
		describe_status(status, desc, sizeof(desc));
	else
		snprintf(desc, sizeof(desc), "unknown: %s\n", strerror(errno));
	write_run_file(dir, "exit_status", desc);
	return AFK_OK;
}

/* Fills the claimed run directory dir and runs the command in it. */
static int dispatch_in(afk_call *call, const struct command_agent *ca,
                       const char *repo, long number, const char *prompt,
                       const char *id, const char *dir)
{
	afk__strv env = {NULL, 0, 0};
	int rc, err;

	err = write_run_file(dir, "prompt.txt", prompt);
	if (err != 0)
		return fail(call, AFK_EIO, "cannot write %s/prompt.txt: %s",
		            dir, strerror(err));
	rc = build_env(&env, repo, number, id, dir);
	if (rc == AFK_OK)
		rc = run_command(call, ca, &env, dir);
	afk__strv_clear(&env);
	return rc;
}

/* dispatch: one synchronous run of the command.  A command that started
 * and exited non-zero is still a dispatch: the thread ran, and judging it
 * is the watch tick's job.  A command that could not start fails with
 * AFK_EIO and leaves no run directory behind. */
static int command_dispatch(afk_call *call, const char *repo, long number,
                            const char *prompt, void *userdata)
{
	const struct command_agent *ca = userdata;
	char dir[PATH_MAX], *stem;
	const char *id;
	int rc;

	if (mkdir_parents(ca->state_dir) != 0)
		return fail(call, AFK_EIO, "cannot create %s: %s",
		            ca->state_dir, strerror(errno));
	stem = id_stem(repo, number);
	if (stem == NULL)
		return AFK_ENOMEM;
	rc = claim_run_dir(call, ca->state_dir, stem, dir);
	free(stem);
	if (rc)
		return rc;
	id = dir + strlen(ca->state_dir) + 1;
	rc = dispatch_in(call, ca, repo, number, prompt, id, dir);
	if (rc == AFK_OK)
		rc = afk_call_set_thread_id(call, id);
	else
		remove_run_dir(dir);
	return rc;
}

/* --- registration ---------------------------------------------------- */

static int command_agent_new(const afk_config *cfg,
                             struct command_agent **out)
{
	struct command_agent *ca;

	ca = calloc(1, sizeof(*ca));
	if (ca == NULL)
		return AFK_ENOMEM;
	ca->state_dir = afk__strdup(cfg->agent_state_dir);
	/* One more slot, kept NULL: execve wants a terminated argv. */
	if (ca->state_dir == NULL ||
	    afk__strv_copy(&ca->argv, &cfg->agent_command) ||
	    afk__grow((void **)&ca->argv.v, &ca->argv.cap, ca->argv.n, 1,
	              sizeof(char *))) {
		command_agent_free(ca);
		return AFK_ENOMEM;
	}
	ca->argv.v[ca->argv.n] = NULL;
	*out = ca;
	return AFK_OK;
}

/* The userdata is handed to the agent, which owns it from then on and
 * frees it with command_agent_free(). */
int afk__builtin_command_agent(afk_agent *agent, const afk_config *cfg,
                               char *errbuf)
{
	struct command_agent *ca;
	int rc;

	if (cfg->agent_kind == NULL || strcmp(cfg->agent_kind, "command")) {
		afk__errf(errbuf, "agent: the built-in agent needs "
		          "{\"kind\": \"command\", \"command\": [...]}");
		return AFK_ECONFIG;
	}
	if (cfg->agent_command.n == 0 || cfg->agent_command.v[0][0] == '\0') {
		afk__errf(errbuf, "agent: the command agent needs a non-empty "
		          "command");
		return AFK_ECONFIG;
	}
	if (cfg->agent_state_dir == NULL || cfg->agent_state_dir[0] == '\0') {
		afk__errf(errbuf, "agent: the command agent needs a state_dir");
		return AFK_ECONFIG;
	}
	rc = command_agent_new(cfg, &ca);
	if (rc) {
		afk__errf(errbuf, "agent: out of memory");
		return rc;
	}
	rc = afk_agent_set_userdata(agent, ca, command_agent_free);
	if (rc) {
		command_agent_free(ca);
		afk__errf(errbuf, "agent: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	rc = afk_agent_set_dispatch(agent, command_dispatch);
	if (rc)
		afk__errf(errbuf, "agent: cannot register dispatch: %s",
		          afk_strerror(rc));
	return rc;
}
