/*
 * lib/builtin/command.c - the "command" agent: a local command run once
 * per turn, detached, in a run directory of its own under the state
 * directory:
 *
 *   <state_dir>/<repo with '/' -> '-'>-<number>-<k>/
 *       prompt.txt      the dispatch's prompt, also the command's stdin
 *       prompt-<n>.txt  the prompt of turn n (2, 3, ...)
 *       output.log      the command's stdout and stderr, every turn's;
 *                       its mtime is the agent's last activity
 *       supervisor      "<pid> <start time>" of the turn's supervisor
 *       pid             "<pgid> <start time>" of the turn's command, the
 *                       leader of its own session and process group
 *       exit_status     "exited N" or "killed by signal N", written by
 *                       the supervisor when the command ended; absent
 *                       while a turn runs
 *       turns           the number of the last turn started
 *       issue           "<repo>#<number>", for the later turns
 *       generation      which run of the issue this is (the poll tick's
 *                       afk_call_generation()); absent: the first
 *       lock            flock()ed for the turn's length, by the tick
 *                       that starts it and then by its supervisor: one
 *                       turn at a time
 *       stopped         the watch tick stopped the thread (a human took
 *                       the run back), and how: its snapshot says
 *                       stopped, and no turn is sent to it again
 *       usage           the sums of the log's AFK-USAGE lines so far:
 *                       "<offset> <tokens_in> <tokens_out>
 *                       <cost_microusd>", offset where the next line
 *                       to read starts; a cache, rebuilt when absent
 *
 * The run directory's name is the thread id.  The command is executed
 * without a shell and the prompt never travels in argv (it would show in
 * ps and is bounded by ARG_MAX).  Dispatch and send_turn return as soon
 * as it runs: a supervisor process of ours (afk__spawn_detach(), spawn.h)
 * outlives the tick, holds the lock, waits for the command and writes
 * exit_status.  A snapshot reads the directory: exit_status "exited 0" is
 * a completed turn, any other an error; without one, a held lock is a
 * turn running, and a free lock with a supervisor file an error too (the
 * supervisor died: a reboot, the OOM killer), never a run forever.  The
 * phase is the last "AFK-PHASE: <name>" line of the log.
 *
 * The usage is the sum of every "AFK-USAGE: tokens_in=<int>
 * tokens_out=<int> cost_usd=<decimal>" line of the log (lib/core/usage.h:
 * fields optional, each line what was used since the previous one), all
 * turns together.  The agent's prompt never asks for these lines - a
 * model would invent the numbers - a wrapper around the model's CLI
 * prints them.  A line counts once its newline is written; one longer
 * than USAGE_LINE bytes counts nothing.  The sums are kept in the usage
 * file with the offset they reach, so a snapshot reads only what the log
 * gained; a log shorter than the offset was emptied by a new dispatch
 * and is read again from its start.  The file is the agent's to write
 * like the rest of the directory: it can make its usage look smaller
 * than the log says, but never smaller than the run's record, which
 * keeps the largest usage reported.
 *
 * The directory is the agent's working directory, so what is in it is
 * not trusted: no file of it is opened through a symbolic link or when
 * it is not a regular file, what the host writes there replaces what
 * was there (a new file renamed over it) rather than writing through
 * it, and only the host's user can read any of it (0700 and 0600: the
 * log holds whatever the agent printed).
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for realpath() */

#include "builtin/builtin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "builtin/spawn.h"
#include "core/usage.h"

/* Runs past this many directories of one issue mean something is wrong
 * with the state directory, not that the issue ran that often. */
#define MAX_RUNS 100000

/* The modes of what this module creates: the output of an agent may
 * hold what it printed of its secrets, so only the host's user reads
 * it, whatever the umask. */
#define DIR_MODE 0700
#define FILE_MODE 0600

/* The phase is searched for in this many bytes at the end of the log:
 * a log can be of any size, and the phase wanted is the last one. */
#define PHASE_TAIL (1024 * 1024)

/* The longest AFK-USAGE line read, in bytes: a longer one is not. */
#define USAGE_LINE 256

/* What the callbacks need of the configuration, copied. */
struct command_agent {
	afk__strv argv;
	char *state_dir;
	afk__strv pass;   /* "env": our variables the command gets */
	afk__strv hide;   /* the configuration's secrets' variables */
	long stop_grace;  /* seconds between SIGTERM and SIGKILL */
};

static void command_agent_free(void *userdata)
{
	struct command_agent *ca = userdata;

	if (ca == NULL)
		return;
	afk__strv_clear(&ca->argv);
	free(ca->state_dir);
	afk__strv_clear(&ca->pass);
	afk__strv_clear(&ca->hide);
	free(ca);
}

/* --- the run directory ----------------------------------------------- */

/* mkdir -p: creates path and its missing parents, private to us (what
 * the agents print may hold secrets).  Returns 0 or -1 with errno set. */
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
		if (mkdir(p, DIR_MODE) != 0 && errno != EEXIST)
			err = errno;
		*s = '/';
	}
	free(p);
	if (err == 0 && mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
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

/* Claims a run directory: the first <state_dir>/<stem>-<k> from k =
 * first on that mkdir creates, written into dir (PATH_MAX bytes; on the
 * stack, so nothing of it is on the heap while a child is forked).
 * mkdir is atomic, so two ticks racing on one issue get distinct ids.
 * The thread id is the directory's last component. */
static int claim_run_dir(afk_call *call, const char *state_dir,
                         const char *stem, long first, char *dir)
{
	long k;
	int n;

	for (k = first; k <= MAX_RUNS; k++) {
		n = snprintf(dir, PATH_MAX, "%s/%s-%ld", state_dir, stem, k);
		if (n < 0 || n >= PATH_MAX)
			return afk__call_failf(call, AFK_EIO, "%s/%s-%ld: %s", state_dir,
			            stem, k, strerror(ENAMETOOLONG));
		if (mkdir(dir, DIR_MODE) == 0)
			return AFK_OK;
		if (errno != EEXIST)
			return afk__call_failf(call, AFK_EIO, "cannot create %s: %s", dir,
			            strerror(errno));
	}
	return afk__call_failf(call, AFK_EIO, "%s: more than %d runs of %s", state_dir,
	            MAX_RUNS, stem);
}

static char *run_file(const char *dir, const char *name)
{
	return afk__aprintf("%s/%s", dir, name);
}

static void remove_run_file(const char *dir, const char *name)
{
	char *f = run_file(dir, name);

	if (f != NULL)
		unlink(f);
	free(f);
}

/* Removes a run directory that never became a thread, with the files this
 * module puts in it. */
static void remove_run_dir(const char *dir)
{
	static const char *const names[] = {
		"prompt.txt", "output.log", "exit_status", "issue", "turns",
		"generation", "lock", "stopped", "supervisor", "pid",
		".supervisor.tmp", ".pid.tmp", ".exit_status.tmp", "usage"
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		remove_run_file(dir, names[i]);
	rmdir(dir);
}

/* What went wrong with a run file, for a message: the agent works in the
 * directory and may have put a link or a FIFO where a file was. */
static const char *file_error(int err)
{
	return err == ELOOP ? "not a regular file (a symbolic link?)"
	                    : strerror(err);
}

/* Opens name in dir with flags, never through a symbolic link (the
 * agent's own files are not the host's to follow), never blocking on a
 * FIFO, and only when it is a regular file; on a descriptor above stderr
 * so that the child's dup2() onto 0, 1 and 2 cannot clobber it.  Returns
 * the descriptor (close-on-exec, blocking) or -1 with errno set: ELOOP
 * for a link or anything but a regular file. */
static int open_in(const char *dir, const char *name, int flags)
{
	struct stat st;
	char *path;
	int fd, hi, err, fl;

	path = run_file(dir, name);
	if (path == NULL) {
		errno = ENOMEM;
		return -1;
	}
	fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	          FILE_MODE);
	free(path);
	if (fd < 0)
		return -1;
	err = 0;
	if (fstat(fd, &st) != 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = ELOOP;
	else if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	         fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		err = errno;
	if (err == 0 && fd > 2)
		return fd;
	hi = err ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (hi < 0 && err == 0)
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

/* Writes text into name of dir: into a new temporary file of a random
 * name (mkstemp: created, never followed), then renamed over name.  A
 * snapshot in another process reads the old file or the new one, never
 * an empty one, and whatever the agent left at name - a link to a file
 * of the host's, say - is replaced, not written through.  The file is
 * private (FILE_MODE).  Returns 0 or an errno. */
static int put_run_file(const char *dir, const char *name, const char *text)
{
	char *tmp, *path;
	int fd, err = 0;

	tmp = afk__aprintf("%s/.%s.XXXXXX", dir, name);
	path = run_file(dir, name);
	if (tmp == NULL || path == NULL) {
		free(tmp);
		free(path);
		return ENOMEM;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    fchmod(fd, FILE_MODE) != 0 ||
	    write_all(fd, text, strlen(text)) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0)
		unlink(tmp);
out:
	free(tmp);
	free(path);
	return err;
}

/* Reads the small file name of dir into buf (size bytes, NUL-terminated,
 * cut to fit).  Returns 0 or an errno (ENOENT when it does not exist,
 * ELOOP when it is no regular file). */
static int read_run_file(const char *dir, const char *name, char *buf,
                         size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd, err = 0;

	fd = open_in(dir, name, O_RDONLY);
	if (fd < 0)
		return errno;
	while (len + 1 < size) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : 0;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return err;
}

/* Takes the run directory's lock: held by whoever starts a turn in it
 * and then by the turn's supervisor, for as long as the turn runs, so
 * that two hosts (overlapping ticks, a resend) never run two turns in
 * one thread.  The command itself does not inherit it.  The lock file
 * is made when create is set.  Returns 0 with *fd (close it to unlock),
 * EWOULDBLOCK when another holds it, or an errno (ENOENT: no lock file,
 * so nobody holds it). */
static int lock_run_dir(const char *dir, int create, int *fd)
{
	int err;

	*fd = open_in(dir, "lock", O_RDWR | (create ? O_CREAT : 0));
	if (*fd < 0)
		return errno;
	while (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		err = errno == EAGAIN ? EWOULDBLOCK : errno;
		close(*fd);
		*fd = -1;
		return err;
	}
	return 0;
}

/* 1 when a turn is under way in dir: its lock is held (its supervisor
 * lives), or no exit_status says how the last turn ended (its
 * supervisor died, and its agent may be at work still). */
static int turn_running(const char *dir)
{
	char buf[8];
	int fd, err;

	err = lock_run_dir(dir, 0, &fd);
	if (err == EWOULDBLOCK)
		return 1;
	if (err == 0)
		close(fd);
	return read_run_file(dir, "exit_status", buf, sizeof(buf)) == ENOENT;
}

/* --- running the command --------------------------------------------- */

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

/* The variables a turn of the command sees on top of what it gets of
 * ours (the minimal set and its "env": the environment rule, spawn.h):
 * AFK_REPO, AFK_ISSUE, AFK_THREAD_ID, AFK_RUN_DIR and AFK_TURN (1 for
 * the dispatch).  NULL-terminated; the caller frees it with
 * afk__strv_clear(). */
static int turn_env(afk__strv *env, const char *repo, long number,
                    const char *id, const char *dir, long turn)
{
	char issue[32], n[32];

	snprintf(issue, sizeof(issue), "%ld", number);
	snprintf(n, sizeof(n), "%ld", turn);
	if (push_var(env, "AFK_REPO", repo) ||
	    push_var(env, "AFK_ISSUE", issue) ||
	    push_var(env, "AFK_THREAD_ID", id) ||
	    push_var(env, "AFK_RUN_DIR", dir) ||
	    push_var(env, "AFK_TURN", n) ||
	    afk__grow((void **)&env->v, &env->cap, env->n, 1, sizeof(char *)))
		return AFK_ENOMEM;
	env->v[env->n] = NULL;
	return AFK_OK;
}

/* Opens the turn's stdin, the file prompt_name, and its stdout and
 * stderr, output.log: appended to from the second turn on, emptied by
 * the first.  Neither is followed if the agent made it a link.  Returns
 * 0 with *in and *out, or fails the call. */
static int open_turn_files(afk_call *call, const char *dir,
                           const char *prompt_name, long turn, int *in,
                           int *out)
{
	const char *name = prompt_name;
	int err = 0;

	*out = -1;
	*in = open_in(dir, prompt_name, O_RDONLY);
	if (*in < 0) {
		err = errno;
	} else {
		name = "output.log";
		*out = open_in(dir, name, O_WRONLY | O_CREAT |
		               (turn > 1 ? O_APPEND : 0));
		if (*out < 0 || (turn == 1 && ftruncate(*out, 0) != 0))
			err = errno;
	}
	if (err == 0)
		return AFK_OK;
	if (*in >= 0)
		close(*in);
	if (*out >= 0)
		close(*out);
	return afk__call_failf(call, AFK_EIO, "cannot open %s/%s: %s", dir,
	            name, file_error(err));
}

/* Opens the run directory itself, for the supervisor to write its files
 * in: never through a link the agent put in its place. */
static int open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0 && fd <= 2) {
		int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		close(fd);
		fd = hi;
	}
	return fd;
}

/* Starts one turn of the command in dir, detached, with stdin the file
 * prompt_name and its output into output.log, and records its number in
 * "turns".  lock is the run directory's lock, which the caller holds:
 * the turn's supervisor holds it from now on, for the turn's length
 * (afk__spawn_detach(), spawn.h), and the caller closes its copy.  A
 * command that cannot start fails the call with AFK_EIO and leaves the
 * directory as it was.  Once it started the turn took place, whatever
 * follows: a failure to record "turns" is not reported, since a failed
 * dispatch would leave the issue unlocked and the next tick would start
 * a second agent on it. */
static int run_command(afk_call *call, const struct command_agent *ca,
                       const afk__strv *env, const char *dir,
                       const char *prompt_name, long turn, int lock)
{
	afk__spawn_opts o;
	char n[32];
	int in, out, dfd, rc, err;

	rc = open_turn_files(call, dir, prompt_name, turn, &in, &out);
	if (rc != AFK_OK)
		return rc;
	dfd = open_dir(dir);
	if (dfd < 0) {
		err = errno;
		close(in);
		close(out);
		return afk__call_failf(call, AFK_EIO, "cannot open %s: %s", dir,
		            file_error(err));
	}
	memset(&o, 0, sizeof(o));
	o.argv = ca->argv.v;
	o.dir = dir;
	o.pass = ca->pass.v;
	o.hide = ca->hide.v;
	o.env = env->v;
	o.in = in;
	o.out = o.err = out;
	/* No deadline: this is the agent's whole run, which the watch
	 * tick's stall deadline judges. */
	err = afk__spawn_detach(&o, dfd, lock);
	close(in);
	close(out);
	close(dfd);
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "cannot run agent command "
		            "'%s': %s", ca->argv.v[0], strerror(err));
	snprintf(n, sizeof(n), "%ld\n", turn);
	put_run_file(dir, "turns", n);
	return AFK_OK;
}

/* --- dispatch -------------------------------------------------------- */

/* Fills the claimed run directory dir and starts the first turn in it,
 * holding its lock until the turn's supervisor holds it.  The issue is
 * kept in the directory for later turns, which are given only the
 * thread id. */
static int dispatch_in(afk_call *call, const struct command_agent *ca,
                       const char *repo, long number, const char *prompt,
                       const char *id, const char *dir)
{
	afk__strv env = {NULL, 0, 0};
	char *issue, gen[32];
	int rc, err, lock;

	err = lock_run_dir(dir, 1, &lock);
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "cannot lock %s/lock: %s",
		            dir, file_error(err));
	issue = afk__aprintf("%s#%ld\n", repo, number);
	if (issue == NULL) {
		close(lock);
		return AFK_ENOMEM;
	}
	snprintf(gen, sizeof(gen), "%d\n", afk_call_generation(call));
	err = put_run_file(dir, "prompt.txt", prompt);
	if (err == 0)
		err = put_run_file(dir, "issue", issue);
	if (err == 0)
		err = put_run_file(dir, "generation", gen);
	free(issue);
	if (err != 0) {
		close(lock);
		return afk__call_failf(call, AFK_EIO, "cannot write in %s: %s",
		            dir, strerror(err));
	}
	rc = turn_env(&env, repo, number, id, dir, 1);
	if (rc == AFK_OK)
		rc = run_command(call, ca, &env, dir, "prompt.txt", 1, lock);
	afk__strv_clear(&env);
	close(lock);
	return rc;
}

/* The k of the newest run directory of stem, <state_dir>/<stem>-<k>, or
 * 0 when the issue has none.  Returns 0 or an errno. */
static int newest_run(const char *state_dir, const char *stem, long *newest)
{
	size_t n = strlen(stem);
	struct dirent *e;
	char *end;
	DIR *d;
	long k;

	*newest = 0;
	d = opendir(state_dir);
	if (d == NULL)
		return errno;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, stem, n) != 0 || e->d_name[n] != '-' ||
		    e->d_name[n + 1] < '1' || e->d_name[n + 1] > '9')
			continue;
		k = strtol(e->d_name + n + 1, &end, 10);
		if (*end == '\0' && k <= MAX_RUNS && k > *newest)
			*newest = k;
		errno = 0;
	}
	k = errno;
	closedir(d);
	return (int)k;
}

/* The generation of the run in dir: 1 when no "generation" file says
 * otherwise (a run directory from before the file existed), 0 when it
 * is unreadable - older than any asked for, so never adopted. */
static int run_generation(const char *dir)
{
	char buf[32], *end;
	long g;
	int err;

	err = read_run_file(dir, "generation", buf, sizeof(buf));
	if (err == ENOENT)
		return 1;
	if (err != 0)
		return 0;
	errno = 0;
	g = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
	    g < 1 || g > INT_MAX)
		return 0;
	return (int)g;
}

/* Looks at the newest run directory of the issue before a new one is
 * claimed: a dispatch whose host died (killed mid-turn, the issue never
 * labelled) left it with no exit_status, its agent perhaps still at
 * work.  That thread is adopted - its id written into dir, *adopted set
 * - and not run again: two agents on one issue is the failure this
 * prevents; the watch tick sees the thread running, or its stall
 * deadline.  A directory whose command never started (no "turns", no
 * lock held) is removed so that the issue runs afresh; one of another
 * issue of the same stem ("a/b-1" #2 and "a-b/1" #2) is left alone.
 * A run of a generation before the one asked for ended (closed or handed
 * to a human) even if its command still runs: it is never adopted, and
 * the new run gets a directory of its own.
 * *next is where a new claim starts, past the newest, so that the
 * newest is always the last run, whatever was removed before it. */
static int adopt_run(afk_call *call, const struct command_agent *ca,
                     const char *stem, const char *repo, long number,
                     char *dir, int *adopted, long *next)
{
	char buf[512], *want;
	struct stat st;
	long k;
	int err, n, fd, same;

	*adopted = 0;
	err = newest_run(ca->state_dir, stem, &k);
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "cannot read %s: %s",
		            ca->state_dir, strerror(err));
	*next = k + 1;
	if (k == 0)
		return AFK_OK;
	n = snprintf(dir, PATH_MAX, "%s/%s-%ld", ca->state_dir, stem, k);
	if (n < 0 || n >= PATH_MAX || lstat(dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode) || !turn_running(dir))
		return AFK_OK;
	want = afk__aprintf("%s#%ld\n", repo, number);
	if (want == NULL)
		return AFK_ENOMEM;
	err = read_run_file(dir, "issue", buf, sizeof(buf));
	same = err == 0 && strcmp(buf, want) == 0;
	free(want);
	if ((err == 0 && !same) ||
	    run_generation(dir) < afk_call_generation(call))
		return AFK_OK;
	if (read_run_file(dir, "turns", buf, sizeof(buf)) == ENOENT &&
	    lock_run_dir(dir, 1, &fd) == 0) {
		remove_run_dir(dir); /* a claim whose command never ran */
		close(fd);
		*next = k;
		return AFK_OK;
	}
	*adopted = 1;
	return AFK_OK;
}

/* dispatch: starts the command detached and returns while it runs.  A
 * command that started is a dispatch, whatever its exit: the thread ran,
 * and judging it is the watch tick's job.  A command that could not
 * start fails with AFK_EIO and leaves no run directory behind.  A
 * thread of the issue still at work, from a dispatch that never
 * returned, is reported instead of a new one (see adopt_run()). */
static int command_dispatch(afk_call *call, const char *repo, long number,
                            const char *prompt, void *userdata)
{
	const struct command_agent *ca = userdata;
	char dir[PATH_MAX], *stem;
	const char *id;
	int rc, adopted = 0;
	long next = 1;

	if (mkdir_parents(ca->state_dir) != 0)
		return afk__call_failf(call, AFK_EIO, "cannot create %s: %s",
		            ca->state_dir, strerror(errno));
	stem = id_stem(repo, number);
	if (stem == NULL)
		return AFK_ENOMEM;
	rc = adopt_run(call, ca, stem, repo, number, dir, &adopted, &next);
	if (rc == AFK_OK && !adopted)
		rc = claim_run_dir(call, ca->state_dir, stem, next, dir);
	free(stem);
	if (rc)
		return rc;
	id = dir + strlen(ca->state_dir) + 1;
	if (adopted)
		return afk_call_set_thread_id(call, id);
	rc = dispatch_in(call, ca, repo, number, prompt, id, dir);
	if (rc == AFK_OK)
		rc = afk_call_set_thread_id(call, id);
	else
		remove_run_dir(dir);
	return rc;
}

/* --- an existing thread ---------------------------------------------- */

/* Finds the run directory of thread id, written into dir (PATH_MAX
 * bytes).  An id is one directory name this module made: one that could
 * leave the state directory (with a '/', or "." or ".." itself) is
 * refused, not looked up, and so is one with a character the module
 * never puts in a name.  ".." inside a name ("acme-foo..bar-1-1", from
 * the repository acme/foo..bar) is an ordinary name.  The directory
 * must be one, not a link to one.  With gone, a directory that does not
 * exist in a state directory that does is no failure but *gone set: the
 * thread was removed.  A missing state directory (an unmounted volume)
 * says nothing of any one thread and stays a failure. */
static int thread_dir_ex(afk_call *call, const struct command_agent *ca,
                         const char *id, char *dir, int *gone)
{
	struct stat st;
	const char *c;
	int n, found, err;

	if (gone != NULL)
		*gone = 0;

	if (id == NULL || id[0] == '\0' || strcmp(id, ".") == 0 ||
	    strcmp(id, "..") == 0 || strchr(id, '/') != NULL)
		return afk__call_failf(call, AFK_EINVAL, "not a thread id of the command "
		            "agent");
	for (c = id; *c != '\0'; c++)
		if (!is_name_char(*c))
			return afk__call_failf(call, AFK_EINVAL, "not a thread id of the "
			            "command agent: only letters, digits, '.', "
			            "'_' and '-' are allowed");
	n = snprintf(dir, PATH_MAX, "%s/%s", ca->state_dir, id);
	if (n < 0 || n >= PATH_MAX)
		return afk__call_failf(call, AFK_EINVAL, "%s/%s: %s", ca->state_dir, id,
		            strerror(ENAMETOOLONG));
	found = lstat(dir, &st) == 0;
	err = found ? 0 : errno;
	if (!found && err != ENOENT && err != ENOTDIR)
		return afk__call_failf(call, AFK_EIO, "%s: %s", dir, strerror(err));
	if (!found && err == ENOENT && gone != NULL &&
	    stat(ca->state_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		*gone = 1;
		return AFK_OK;
	}
	if (!found || !S_ISDIR(st.st_mode))
		return afk__call_failf(call, AFK_ECALLBACK, "no such thread %s in %s", id,
		            ca->state_dir);
	return AFK_OK;
}

static int thread_dir(afk_call *call, const struct command_agent *ca,
                      const char *id, char *dir)
{
	return thread_dir_ex(call, ca, id, dir, NULL);
}

/* 1 when the run directory's lock is held: a turn's supervisor (or a
 * tick starting a turn) is alive. */
static int lock_held(const char *dir)
{
	int fd, err;

	err = lock_run_dir(dir, 0, &fd);
	if (err == 0)
		close(fd);
	return err == EWOULDBLOCK;
}

/* The thread's state from exit_status: only a clean exit is a completed
 * turn.  Without one, a turn runs while the lock is held; a free lock
 * with a supervisor file means the supervisor died before its command
 * ended (or it never wrote how it did): an error, never a turn running
 * forever.  A directory without a supervisor file, from before
 * detached turns, reads as running, as it did.  The lock is looked at
 * before exit_status: a supervisor writes it and then ends. */
static int read_state(afk_call *call, const char *dir, int *state)
{
	char buf[64];
	int err, held;

	held = lock_held(dir);
	err = read_run_file(dir, "exit_status", buf, sizeof(buf));
	if (err == ENOENT) {
		*state = held || read_run_file(dir, "supervisor", buf,
		                               sizeof(buf)) == ENOENT
		         ? AFK_AGENT_RUNNING : AFK_AGENT_ERRORED;
		/* the snapshot's word on it, which an escalation names */
		if (*state == AFK_AGENT_ERRORED)
			afk_call_set_error(call, "the command ended with no exit "
			                   "status: its supervisor is gone (a "
			                   "reboot, the OOM killer?)");
		return AFK_OK;
	}
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "%s/exit_status: %s", dir,
		            file_error(err));
	buf[strcspn(buf, "\n")] = '\0';
	*state = strcmp(buf, "exited 0") == 0 ? AFK_AGENT_COMPLETED
	                                      : AFK_AGENT_ERRORED;
	if (*state == AFK_AGENT_ERRORED)
		afk__call_failf(call, AFK_OK, "the command %s", buf);
	return AFK_OK;
}

/* The time of the agent's last output, output.log's mtime: 0 when there
 * is no log (or it is no regular file). */
static long long last_output(const char *dir)
{
	struct stat st;
	char *path = run_file(dir, "output.log");
	int ok;

	if (path == NULL)
		return 0;
	ok = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return ok ? (long long)st.st_mtime : 0;
}

/* Opens output.log to read, never through a link: AFK_OK with *fd, or
 * with *fd -1 when there is no log yet (nothing printed); a link or
 * anything but a regular file there fails the call, unread. */
static int open_log(afk_call *call, const char *dir, int *fd)
{
	*fd = open_in(dir, "output.log", O_RDONLY);
	if (*fd < 0 && errno != ENOENT)
		return afk__call_failf(call, AFK_EIO, "%s/output.log: %s", dir,
		            file_error(errno));
	return AFK_OK;
}

/* Positions fd, open on a log of size bytes, where the phase is looked
 * for: PHASE_TAIL bytes before its end, less one, so that a first line
 * cut by the window is known as cut.  Returns 1 when the first line read
 * is such a part (no phase line), 0 when it starts the file, -1 on
 * error (errno). */
static int seek_tail(int fd, off_t size)
{
	if (size <= PHASE_TAIL)
		return 0;
	if (lseek(fd, size - PHASE_TAIL - 1, SEEK_SET) < 0)
		return -1;
	return 1;
}

/* Scans the end of output.log for the last phase line, in constant
 * memory and time: a log may be of any size (only its last PHASE_TAIL
 * bytes are read), and a line longer than any phase line is no phase
 * line.  The log is the agent's: a link or anything but a regular file
 * there fails the snapshot, unread. */
static int read_phase(afk_call *call, const char *dir, int *phase)
{
	char block[8192], line[40];
	size_t n = 0, i, left;
	struct stat st;
	ssize_t got = 0;
	int fd, p, rc, too_long = 0, err = 0;

	*phase = AFK_PHASE_DISPATCHED;
	if ((rc = open_log(call, dir, &fd)) != AFK_OK || fd < 0)
		return rc;
	if (fstat(fd, &st) != 0 || (too_long = seek_tail(fd, st.st_size)) < 0)
		err = errno;
	/* The log may grow as it is read: no more than the window. */
	left = PHASE_TAIL + 1;
	while (err == 0 && left > 0) {
		got = read(fd, block, left < sizeof(block) ? left : sizeof(block));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			err = errno;
		if (got <= 0)
			break;
		left -= (size_t)got;
		for (i = 0; i < (size_t)got; i++) {
			if (block[i] == '\n') {
				if (!too_long && (p = afk__phase_parse_line(line, n)) >= 0)
					*phase = p;
				n = 0;
				too_long = 0;
			} else if (n < sizeof(line)) {
				line[n++] = block[i];
			} else {
				too_long = 1;
			}
		}
	}
	close(fd);
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "%s/output.log: %s", dir,
		            strerror(err));
	if (!too_long && (p = afk__phase_parse_line(line, n)) >= 0)
		*phase = p; /* a last line without its newline */
	return AFK_OK;
}

/* The sums kept in the usage file of dir, and the offset of the log
 * they reach; all 0 when there is no such file or it is not one this
 * module wrote. */
static void usage_cache_read(const char *dir, long long *offset,
                             afk__usage *sum)
{
	char buf[128];
	long long o, in, out, cost;

	*offset = 0;
	memset(sum, 0, sizeof(*sum));
	if (read_run_file(dir, "usage", buf, sizeof(buf)) != 0 ||
	    sscanf(buf, "%lld %lld %lld %lld", &o, &in, &out, &cost) != 4 ||
	    o < 0 || in < 0 || out < 0 || cost < 0 || in > AFK__USAGE_MAX ||
	    out > AFK__USAGE_MAX || cost > AFK__USAGE_MAX)
		return;
	*offset = o;
	sum->tokens_in = in;
	sum->tokens_out = out;
	sum->cost_microusd = cost;
}

/* Adds the AFK-USAGE lines output.log gained since the usage file's
 * offset to its sums, keeps them there, and reports them when any is
 * above 0.  Constant memory; the log is read to its size when opened
 * (it may grow meanwhile), never through a link. */
static int read_usage(afk_call *call, const char *dir)
{
	char block[8192], line[USAGE_LINE], keep[128];
	long long offset, pos, done;
	afk__usage sum, inc;
	struct stat st;
	ssize_t got;
	size_t n = 0, i;
	int fd, rc, too_long = 0, err = 0;

	usage_cache_read(dir, &offset, &sum);
	if ((rc = open_log(call, dir, &fd)) != AFK_OK || fd < 0)
		return rc;
	if (fstat(fd, &st) != 0)
		err = errno;
	if (err == 0 && (long long)st.st_size < offset) {
		offset = 0;     /* emptied by a new dispatch */
		memset(&sum, 0, sizeof(sum));
	}
	if (err == 0 && lseek(fd, (off_t)offset, SEEK_SET) < 0)
		err = errno;
	pos = done = offset;
	while (err == 0 && pos < (long long)st.st_size) {
		got = read(fd, block, sizeof(block));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			err = errno;
		if (got <= 0)
			break;
		for (i = 0; i < (size_t)got; i++) {
			if (block[i] != '\n') {
				if (n < sizeof(line))
					line[n++] = block[i];
				else
					too_long = 1;
				continue;
			}
			if (!too_long &&
			    afk__usage_parse_line(line, n, &inc) == 1)
				afk__usage_add(&sum, &inc);
			n = 0;
			too_long = 0;
			done = pos + (long long)i + 1;
		}
		pos += got;
	}
	close(fd);
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "%s/output.log: %s", dir,
		            strerror(err));
	/* a cache: one not written is rebuilt by the next snapshot */
	if (done > offset) {
		snprintf(keep, sizeof(keep), "%lld %lld %lld %lld\n", done,
		         sum.tokens_in, sum.tokens_out, sum.cost_microusd);
		put_run_file(dir, "usage", keep);
	}
	if (sum.tokens_in == 0 && sum.tokens_out == 0 &&
	    sum.cost_microusd == 0)
		return AFK_OK;
	return afk_call_set_usage(call, sum.tokens_in, sum.tokens_out,
	                          sum.cost_microusd);
}

/* 1 when the watch tick stopped the thread in dir. */
static int is_stopped(const char *dir)
{
	char buf[8];

	return read_run_file(dir, "stopped", buf, sizeof(buf)) == 0;
}

/* snapshot: what the run directory says of the thread.  The command
 * agent knows only running, completed and errored - and gone, when the
 * run directory was removed: nothing will ever run in it again, so the
 * watch tick hands the run to a human at once - and stopped.  The
 * activity is the log's last change, so that an agent that prints is
 * seen making progress. */
static int command_snapshot(afk_call *call, const char *thread_id,
                            void *userdata)
{
	const struct command_agent *ca = userdata;
	char dir[PATH_MAX];
	int rc, gone, state = 0, phase = 0;
	long long when;

	rc = thread_dir_ex(call, ca, thread_id, dir, &gone);
	if (rc == AFK_OK && gone)
		return afk_call_set_agent_state(call, AFK_AGENT_GONE);
	if (rc == AFK_OK)
		rc = read_state(call, dir, &state);
	if (rc == AFK_OK && is_stopped(dir))
		state = AFK_AGENT_STOPPED;
	if (rc == AFK_OK)
		rc = read_phase(call, dir, &phase);
	if (rc == AFK_OK)
		rc = read_usage(call, dir);
	if (rc == AFK_OK)
		rc = afk_call_set_agent_state(call, state);
	if (rc == AFK_OK)
		rc = afk_call_set_phase(call, phase);
	if (rc == AFK_OK && (when = last_output(dir)) > 0)
		rc = afk_call_set_activity(call, when);
	return rc;
}

/* Reads the issue the dispatch kept in dir: "<repo>#<number>".  *repo
 * is the caller's to free. */
static int read_issue(afk_call *call, const char *dir, char **repo,
                      long *number)
{
	char buf[512], *hash, *end;
	int err;

	err = read_run_file(dir, "issue", buf, sizeof(buf));
	if (err != 0)
		return afk__call_failf(call, err == ENOENT ? AFK_ECALLBACK : AFK_EIO,
		            "%s/issue: %s", dir, file_error(err));
	buf[strcspn(buf, "\n")] = '\0';
	hash = strrchr(buf, '#');
	if (hash == NULL || hash == buf)
		return afk__call_failf(call, AFK_EPARSE, "%s/issue: expected "
		            "<repo>#<number>", dir);
	errno = 0;
	*number = strtol(hash + 1, &end, 10);
	if (errno != 0 || end == hash + 1 || *end != '\0' || *number <= 0)
		return afk__call_failf(call, AFK_EPARSE, "%s/issue: expected "
		            "<repo>#<number>", dir);
	*hash = '\0';
	*repo = afk__strdup(buf);
	return *repo != NULL ? AFK_OK : AFK_ENOMEM;
}

/* The number of the thread's last turn: 1 when no "turns" file says
 * otherwise (a run directory from before the file existed). */
static int read_turns(afk_call *call, const char *dir, long *turns)
{
	char buf[32], *end;
	int err;

	*turns = 1;
	err = read_run_file(dir, "turns", buf, sizeof(buf));
	if (err == ENOENT)
		return AFK_OK;
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "%s/turns: %s", dir,
		            file_error(err));
	errno = 0;
	*turns = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
	    *turns < 1 || *turns >= MAX_RUNS)
		return afk__call_failf(call, AFK_EPARSE, "%s/turns: expected a turn "
		            "number", dir);
	return AFK_OK;
}

/* Runs turn n of the thread in dir with prompt, saved as
 * prompt-<n>.txt. */
static int turn_in(afk_call *call, const struct command_agent *ca,
                   const char *id, const char *dir, const char *prompt,
                   int lock)
{
	afk__strv env = {NULL, 0, 0};
	char name[48], *repo = NULL;
	long number = 0, turn = 0;
	int rc, err;

	rc = read_issue(call, dir, &repo, &number);
	if (rc == AFK_OK)
		rc = read_turns(call, dir, &turn);
	if (rc != AFK_OK) {
		free(repo);
		return rc;
	}
	turn++;
	snprintf(name, sizeof(name), "prompt-%ld.txt", turn);
	err = put_run_file(dir, name, prompt);
	if (err != 0)
		rc = afk__call_failf(call, AFK_EIO, "cannot write %s/%s: %s", dir, name,
		          strerror(err));
	if (rc == AFK_OK)
		rc = turn_env(&env, repo, number, id, dir, turn);
	if (rc == AFK_OK)
		rc = run_command(call, ca, &env, dir, name, turn, lock);
	if (rc != AFK_OK && err == 0)
		remove_run_file(dir, name); /* the turn never was */
	afk__strv_clear(&env);
	free(repo);
	return rc;
}

/* send_turn: starts the command again in the thread's run directory,
 * detached, as dispatch started it; its output is appended to the
 * thread's log.  A command that cannot start fails with AFK_EIO and the
 * turn counter stays, so the same turn is tried again.  One turn at a
 * time: while its supervisor (or another host) holds the directory's
 * lock, or no exit_status says the last turn ended (its supervisor died,
 * its agent may be at work still), the turn is refused with
 * AFK_ECALLBACK, and a later tick sends it once the thread is done.  A
 * stopped thread gets no turn again. */
static int command_send_turn(afk_call *call, const char *thread_id,
                             const char *prompt, void *userdata)
{
	const struct command_agent *ca = userdata;
	char dir[PATH_MAX], buf[8];
	int rc, err, lock = -1;

	if (prompt == NULL)
		return afk__call_failf(call, AFK_EINVAL, "send_turn: prompt is NULL");
	rc = thread_dir(call, ca, thread_id, dir);
	if (rc != AFK_OK)
		return rc;
	if (is_stopped(dir))
		return afk__call_failf(call, AFK_ECALLBACK, "thread %s was "
		            "stopped: no turn is sent to it", thread_id);
	err = lock_run_dir(dir, 1, &lock);
	if (err == 0)
		err = read_run_file(dir, "exit_status", buf, sizeof(buf));
	if (err == EWOULDBLOCK || err == ENOENT)
		rc = afk__call_failf(call, AFK_ECALLBACK, "thread %s is still "
		          "running a turn", thread_id);
	else if (err != 0)
		rc = afk__call_failf(call, AFK_EIO, "cannot lock %s: %s",
		          dir, file_error(err));
	else
		rc = turn_in(call, ca, thread_id, dir, prompt, lock);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* Reads "pid": the process group of the thread's last command and its
 * leader's start time.  Returns 0 or an errno (ENOENT: none started). */
static int read_pid(const char *dir, pid_t *pgid, unsigned long long *start)
{
	char buf[64], *end;
	long long g;
	int err;

	err = read_run_file(dir, "pid", buf, sizeof(buf));
	if (err != 0)
		return err;
	errno = 0;
	g = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf || *end != ' ' || g <= 1 || g > INT_MAX)
		return EINVAL;
	*start = strtoull(end + 1, &end, 10);
	if (errno != 0 || (*end != '\n' && *end != '\0'))
		return EINVAL;
	*pgid = (pid_t)g;
	return 0;
}

static int group_alive(pid_t pgid)
{
	return afk__spawn_group_alive(pgid);
}

static void nap(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Waits up to ms milliseconds for the group pgid to end.  1 when it
 * did. */
static int group_ended(pid_t pgid, long ms)
{
	long waited;

	for (waited = 0; waited < ms && group_alive(pgid); waited += 20)
		nap(20);
	return !group_alive(pgid);
}

/* Ends the thread's command and what it started, its process group:
 * SIGTERM, and SIGKILL once grace seconds passed.  Only the group "pid"
 * names, while it is that one: its leader's start time still matches
 * (a pid reused since is never signalled), or, where /proc cannot say,
 * while the lock is held - the supervisor has not reaped the leader, so
 * its pid cannot have been reused.  Once the group was signalled it is
 * known to be the same group as long as it has a member: a group's id
 * is not reused while it does.  What happened is written into how. */
static void stop_group(const char *dir, long grace, char *how,
                       size_t size)
{
	unsigned long long start = 0, now_start = 0;
	pid_t pgid = 0;
	int ours;

	ours = read_pid(dir, &pgid, &start) == 0;
	if (ours && start != 0 && afk__spawn_starttime(pgid, &now_start) == 0)
		ours = now_start == start;
	else if (ours)
		ours = lock_held(dir);
	if (!ours || !group_alive(pgid) || killpg(pgid, SIGTERM) != 0) {
		snprintf(how, size, "no process");
		return;
	}
	if (group_ended(pgid, grace * 1000)) {
		snprintf(how, size, "SIGTERM");
		return;
	}
	killpg(pgid, SIGKILL);
	group_ended(pgid, 2000);
	snprintf(how, size, "SIGKILL after %ld s", grace);
}

/* stop: the thread is marked stopped first - no later turn is sent to a
 * stopped run, and its snapshot says stopped - then its command's
 * process group is ended (stop_group()) and how is recorded in
 * "stopped": "stopped by the watch tick: SIGTERM", "...: SIGKILL after
 * N s" or "...: no process".  It may take agent.stop_grace seconds.  A
 * thread whose directory is gone is stopped already. */
static int command_stop(afk_call *call, const char *repo, long number,
                        const char *thread_id, void *userdata)
{
	const struct command_agent *ca = userdata;
	char dir[PATH_MAX], how[64], text[128];
	int rc, gone, err;

	(void)repo;
	(void)number;
	rc = thread_dir_ex(call, ca, thread_id, dir, &gone);
	if (rc != AFK_OK || gone)
		return rc;
	err = put_run_file(dir, "stopped", "stopped by the watch tick\n");
	if (err == 0) {
		stop_group(dir, ca->stop_grace, how, sizeof(how));
		snprintf(text, sizeof(text), "stopped by the watch tick: %s\n",
		         how);
		err = put_run_file(dir, "stopped", text);
	}
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "cannot write %s/stopped: "
		                       "%s", dir, strerror(err));
	return AFK_OK;
}

/* --- registration ---------------------------------------------------- */

/* The directory of the runs: agent.state_dir, else "runs" in the
 * configuration's state directory.  A heap string, or NULL. */
static char *state_dir(const afk_config *cfg)
{
	const char *dir = afk__config_str(cfg, AFK__ROLE_AGENT, "state_dir");
	int none;

	return dir != NULL ? afk__strdup(dir) :
	       afk__config_state_path(cfg, "runs", &none);
}

static int command_agent_new(const afk_config *cfg,
                             struct command_agent **out)
{
	struct command_agent *ca;

	ca = calloc(1, sizeof(*ca));
	if (ca == NULL)
		return AFK_ENOMEM;
	ca->state_dir = state_dir(cfg);
	ca->stop_grace = (long)afk__config_int(cfg, AFK__ROLE_AGENT,
	                                       "stop_grace");
	/* NULL-terminated: execve wants a terminated argv. */
	if (ca->state_dir == NULL ||
	    afk__config_strv(cfg, AFK__ROLE_AGENT, "env", &ca->pass) ||
	    afk__config_secret_envs(cfg, &ca->hide) ||
	    afk__config_strv(cfg, AFK__ROLE_AGENT, "command", &ca->argv)) {
		command_agent_free(ca);
		return AFK_ENOMEM;
	}
	*out = ca;
	return AFK_OK;
}

/* The userdata is handed to the agent, which owns it from then on and
 * frees it with command_agent_free(). */

/* What the probe takes of "command --version": this long, in this many
 * bytes of its output at most, for so many seconds. */
#define VERSION_SHOWN 120
#define VERSION_MAX 4096
#define VERSION_TIMEOUT 5

/* Runs "command[0] --version" as the turns run the command (no shell,
 * the environment rule, stdin /dev/null) but with none of a turn's
 * variables and in an empty directory of its own, made for it and
 * removed after: a command that does not know --version and does
 * something else finds no run to work on and leaves nothing behind
 * (what it does leave is named).  For VERSION_TIMEOUT seconds at most,
 * then its process group is killed.  Describes what it said in msg: the
 * first line of its output, made printable, or a warning saying why
 * there is none.  Returns 0, or AFK_ENOMEM. */
static int command_version(const struct command_agent *ca, char *msg,
                           size_t size)
{
	char *argv[3];
	afk__capture out = {VERSION_MAX, NULL, 0, 0}, err = {256, NULL, 0, 0};
	afk__spawn_opts o;
	char how[64], dir[PATH_MAX];
	const char *tmp;
	int e, status = 0, started = 0, left;

	argv[0] = ca->argv.v[0];
	argv[1] = "--version";
	argv[2] = NULL;
	tmp = getenv("TMPDIR");
	if (tmp == NULL || tmp[0] != '/' ||
	    strlen(tmp) + sizeof("/afk-probe-XXXXXX") > sizeof(dir))
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/afk-probe-XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		snprintf(msg, size, "warning: '%s --version' not run: no "
		         "directory to run it in: %s: %s", ca->argv.v[0], dir,
		         strerror(errno));
		return AFK_OK;
	}
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.dir = dir;
	o.pass = ca->pass.v;
	o.hide = ca->hide.v;
	o.in = -1;
	o.timeout_ms = VERSION_TIMEOUT * 1000L;
	e = afk__spawn_capture(&o, &out, &err, &status, &started);
	left = rmdir(dir) != 0;
	if (e == ENOMEM && !started) {
		free(out.buf);
		free(err.buf);
		return AFK_ENOMEM;
	}
	if (e == ETIMEDOUT)
		snprintf(msg, size, "warning: '%s --version' did not answer "
		         "in %d s", ca->argv.v[0], VERSION_TIMEOUT);
	else if (e != 0)
		snprintf(msg, size, "warning: '%s --version': %s",
		         ca->argv.v[0], strerror(e));
	else if (status != 0) { /* anything but "exited 0" */
		afk__spawn_describe(status, how, sizeof(how));
		snprintf(msg, size, "warning: '%s --version' %s",
		         ca->argv.v[0], how);
	} else if (out.buf == NULL || out.buf[strspn(out.buf, " \t\r\n")] ==
	           '\0')
		snprintf(msg, size, "warning: '%s --version' printed nothing",
		         ca->argv.v[0]);
	else {
		char *line = out.buf + strspn(out.buf, " \t\r\n");

		line[strcspn(line, "\r\n")] = '\0'; /* the first line only */
		afk__one_line(msg, size < VERSION_SHOWN ? size : VERSION_SHOWN,
		              line, strlen(line));
	}
	if (left && strlen(msg) + strlen(dir) + 32 < size)
		snprintf(msg + strlen(msg), size - strlen(msg), " (it left "
		         "files in %s)", dir);
	free(out.buf);
	free(err.buf);
	return AFK_OK;
}

/* probe: the command exists and is executable, and what its --version
 * says, kept as the call's message: run_probe() keeps a successful
 * probe's message for afk_agent_errmsg() (afk_agent_probe(3)).  A
 * --version that fails or does not answer is a warning in that message,
 * not a failed probe: the command is there, and a command need not
 * know --version. */
static int command_probe(afk_call *call, void *userdata)
{
	const struct command_agent *ca = userdata;
	char msg[AFK__ERRMSG_SIZE];
	int err = afk__spawn_find(ca->argv.v[0]);

	if (err == ENOMEM)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "agent command '%s': %s",
		                       ca->argv.v[0], strerror(err));
	if (command_version(ca, msg, sizeof(msg)) != AFK_OK)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	return afk_call_set_error(call, msg);
}

static int command_agent_setup(afk_agent *agent, const afk_config *cfg,
                               char *errbuf)
{
	static const afk__agent_fns fns = {
		"command", command_dispatch, command_snapshot, command_send_turn,
		command_stop, command_probe, NULL
	};
	struct command_agent *ca;
	int rc;

	if (cfg->state_dir == NULL &&
	    afk__config_str(cfg, AFK__ROLE_AGENT, "state_dir") == NULL) {
		afk__errf(errbuf, "agent.state_dir: agent (command): no "
		          "directory for the runs: set \"state_dir\" (or "
		          "agent.state_dir), or let afk_config_apply_env() "
		          "find one ($STATE_DIRECTORY, $XDG_STATE_HOME, $HOME)");
		return AFK_ECONFIG;
	}
	rc = command_agent_new(cfg, &ca);
	if (rc) {
		afk__errf(errbuf, "agent: out of memory");
		return rc;
	}
	return afk__setup_agent(agent, ca, command_agent_free, &fns, errbuf);
}

static const afk__member command_agent_members[] = {
	{"command", AFK__M_COMMAND, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "run once per dispatch and once per corrective turn"},
	{"state_dir", AFK__M_PATH, 0, NULL, 0, 0, NULL,
	 "where each run's thread id and output are kept (default: "
	 "\"runs\" in the state directory)"},
	{"env", AFK__M_VARS, 0, NULL, 0, 0, NULL,
	 "variables passed on beyond the minimal set"},
	{"stop_grace", AFK__M_INT, 0, "10", 0, 3600, NULL,
	 "seconds a stopped agent's process group has between SIGTERM and "
	 "SIGKILL"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_command_agent = {
	{"command", AFK__ROLE_AGENT, 0, command_agent_members,
	 "a local command run once per dispatch and corrective turn"},
	{.agent = command_agent_setup}
};
