/*
 * lib/builtin_command.c - the "command" agent: a local command run once
 * per turn, synchronously, in a run directory of its own under the state
 * directory:
 *
 *   <state_dir>/<repo with '/' -> '-'>-<number>-<k>/
 *       prompt.txt      the dispatch's prompt, also the command's stdin
 *       prompt-<n>.txt  the prompt of turn n (2, 3, ...)
 *       output.log      the command's stdout and stderr, every turn's
 *       exit_status     "exited N" or "killed by signal N"; absent while
 *                       a turn runs
 *       turns           the number of the last turn started
 *       issue           "<repo>#<number>", for the later turns
 *
 * The run directory's name is the thread id.  The command is executed
 * without a shell and the prompt never travels in argv (it would show in
 * ps and is bounded by ARG_MAX).  A snapshot reads the directory: no
 * exit_status is a turn running, "exited 0" a completed one, anything
 * else an error; the phase is the last "AFK-PHASE: <name>" line of the
 * log.
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI, for realpath() */

#include "builtin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "spawn.h"

/* Runs past this many directories of one issue mean something is wrong
 * with the state directory, not that the issue ran that often. */
#define MAX_RUNS 100000

/* What the callbacks need of the configuration, copied. */
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
			return afk__call_failf(call, AFK_EIO, "%s/%s-%ld: %s", state_dir,
			            stem, k, strerror(ENAMETOOLONG));
		if (mkdir(dir, 0777) == 0)
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
		"prompt.txt", "output.log", "exit_status", "issue", "turns"
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		remove_run_file(dir, names[i]);
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

/* Writes text into name of dir through a temporary file renamed over
 * it, so that a snapshot in another process reads the old state or the
 * new one, never an empty file.  Returns 0 or an errno. */
static int replace_run_file(const char *dir, const char *name,
                            const char *text)
{
	char *tmp_name, *tmp = NULL, *path;
	int err;

	tmp_name = afk__aprintf("%s.tmp", name);
	if (tmp_name != NULL)
		tmp = run_file(dir, tmp_name);
	path = run_file(dir, name);
	if (tmp == NULL || path == NULL)
		err = ENOMEM;
	else
		err = write_run_file(dir, tmp_name, text);
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0 && tmp != NULL)
		unlink(tmp);
	free(tmp_name);
	free(tmp);
	free(path);
	return err;
}

/* Reads the small file name of dir into buf (size bytes, NUL-terminated,
 * cut to fit).  Returns 0 or an errno (ENOENT when it does not exist). */
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

/* The variables a turn of the command sees on top of ours: AFK_REPO,
 * AFK_ISSUE, AFK_THREAD_ID, AFK_RUN_DIR and AFK_TURN (1 for the
 * dispatch).  NULL-terminated; the caller frees it with
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

/* Starts the command in dir with stdin the file prompt_name and its
 * output into output.log (appended from the second turn on).  Returns 0
 * with *pid, or an errno. */
static int start_turn(const struct command_agent *ca, const afk__strv *env,
                      const char *dir, const char *prompt_name, long turn,
                      pid_t *pid)
{
	afk__spawn_opts o;
	int in, out = -1, err = 0;

	in = open_in(dir, prompt_name, O_RDONLY);
	if (in >= 0)
		out = open_in(dir, "output.log", O_WRONLY | O_CREAT |
		              (turn > 1 ? O_APPEND : O_TRUNC));
	if (out < 0)
		err = errno;
	if (err == 0) {
		memset(&o, 0, sizeof(o));
		o.argv = ca->argv.v;
		o.dir = dir;
		o.env = env->v;
		o.in = in;
		o.out = o.err = out;
		err = afk__spawn_start(&o, pid);
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return err;
}

/* Runs one turn of the command in dir and records it: the turn's number
 * in "turns" and, once it ended, how in "exit_status" (gone while it
 * runs, so that the thread reads as running).  Once the command has
 * started the turn took place, whatever follows: a failure to wait or to
 * record is not reported, since a failed dispatch would leave the issue
 * unlocked and the next tick would start a second agent on it. */
static int run_command(afk_call *call, const struct command_agent *ca,
                       const afk__strv *env, const char *dir,
                       const char *prompt_name, long turn)
{
	char desc[96], n[32];
	pid_t pid = -1;
	int err, status;

	err = start_turn(ca, env, dir, prompt_name, turn, &pid);
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "cannot run agent command '%s': %s",
		            ca->argv.v[0], strerror(err));
	remove_run_file(dir, "exit_status");
	snprintf(n, sizeof(n), "%ld\n", turn);
	replace_run_file(dir, "turns", n);
	err = afk__spawn_wait(pid, &status);
	if (err == 0)
		afk__spawn_describe(status, desc, sizeof(desc) - 1);
	else
		snprintf(desc, sizeof(desc) - 1, "unknown: %s", strerror(err));
	strcat(desc, "\n");
	replace_run_file(dir, "exit_status", desc);
	return AFK_OK;
}

/* --- dispatch -------------------------------------------------------- */

/* Fills the claimed run directory dir and runs the first turn in it.
 * The issue is kept in the directory for later turns, which are given
 * only the thread id. */
static int dispatch_in(afk_call *call, const struct command_agent *ca,
                       const char *repo, long number, const char *prompt,
                       const char *id, const char *dir)
{
	afk__strv env = {NULL, 0, 0};
	char *issue;
	int rc, err;

	issue = afk__aprintf("%s#%ld\n", repo, number);
	if (issue == NULL)
		return AFK_ENOMEM;
	err = write_run_file(dir, "prompt.txt", prompt);
	if (err == 0)
		err = write_run_file(dir, "issue", issue);
	free(issue);
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "cannot write in %s: %s", dir,
		            strerror(err));
	rc = turn_env(&env, repo, number, id, dir, 1);
	if (rc == AFK_OK)
		rc = run_command(call, ca, &env, dir, "prompt.txt", 1);
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
		return afk__call_failf(call, AFK_EIO, "cannot create %s: %s",
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

/* --- an existing thread ---------------------------------------------- */

/* Finds the run directory of thread id, written into dir (PATH_MAX
 * bytes).  An id is a directory name this module made: anything that
 * could leave the state directory ('/', "..") is refused, not looked
 * up. */
static int thread_dir(afk_call *call, const struct command_agent *ca,
                      const char *id, char *dir)
{
	struct stat st;
	const char *c;
	int n, found;

	if (id == NULL || id[0] == '\0' || strcmp(id, ".") == 0 ||
	    strstr(id, "..") != NULL)
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
	found = stat(dir, &st) == 0;
	if (!found && errno != ENOENT && errno != ENOTDIR)
		return afk__call_failf(call, AFK_EIO, "%s: %s", dir, strerror(errno));
	if (!found || !S_ISDIR(st.st_mode))
		return afk__call_failf(call, AFK_ECALLBACK, "no such thread %s in %s", id,
		            ca->state_dir);
	return AFK_OK;
}

/* The thread's state from exit_status: none yet is a turn running, and
 * only a clean exit is a completed turn. */
static int read_state(afk_call *call, const char *dir, int *state)
{
	char buf[64];
	int err;

	err = read_run_file(dir, "exit_status", buf, sizeof(buf));
	if (err == ENOENT) {
		*state = AFK_AGENT_RUNNING;
		return AFK_OK;
	}
	if (err != 0)
		return afk__call_failf(call, AFK_EIO, "%s/exit_status: %s", dir,
		            strerror(err));
	*state = strcmp(buf, "exited 0\n") == 0 || strcmp(buf, "exited 0") == 0
	         ? AFK_AGENT_COMPLETED : AFK_AGENT_ERRORED;
	return AFK_OK;
}

/* The AFK_PHASE_* of one line of output, or -1 when it is no phase
 * line.  The names are exact; trailing blanks and a CR are forgiven. */
static int phase_of(const char *line, size_t n)
{
	static const struct {
		const char *name;
		int phase;
	} phases[] = {
		{"AFK-PHASE: tests-red", AFK_PHASE_TESTS_RED},
		{"AFK-PHASE: green", AFK_PHASE_GREEN},
		{"AFK-PHASE: pushed", AFK_PHASE_PUSHED},
	};
	size_t i;

	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
	                 line[n - 1] == '\t'))
		n--;
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (strlen(phases[i].name) == n &&
		    memcmp(phases[i].name, line, n) == 0)
			return phases[i].phase;
	return -1;
}

/* Scans output.log for the last phase line, in constant memory: a log
 * may be large, and a line longer than any phase line is no phase
 * line. */
static int read_phase(afk_call *call, const char *dir, int *phase)
{
	char block[8192], line[40];
	size_t n = 0, i;
	ssize_t got;
	int fd, p, too_long = 0;

	*phase = AFK_PHASE_DISPATCHED;
	fd = open_in(dir, "output.log", O_RDONLY);
	if (fd < 0 && errno == ENOENT)
		return AFK_OK;
	if (fd < 0)
		return afk__call_failf(call, AFK_EIO, "%s/output.log: %s", dir,
		            strerror(errno));
	for (;;) {
		got = read(fd, block, sizeof(block));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		for (i = 0; i < (size_t)got; i++) {
			if (block[i] == '\n') {
				if (!too_long && (p = phase_of(line, n)) >= 0)
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
	if (got < 0) {
		int err = errno;

		close(fd);
		return afk__call_failf(call, AFK_EIO, "%s/output.log: %s", dir,
		            strerror(err));
	}
	close(fd);
	if (!too_long && (p = phase_of(line, n)) >= 0)
		*phase = p; /* a last line without its newline */
	return AFK_OK;
}

/* snapshot: what the run directory says of the thread.  The command
 * agent knows only running, completed and errored. */
static int command_snapshot(afk_call *call, const char *thread_id,
                            void *userdata)
{
	const struct command_agent *ca = userdata;
	char dir[PATH_MAX];
	int rc, state = 0, phase = 0;

	rc = thread_dir(call, ca, thread_id, dir);
	if (rc == AFK_OK)
		rc = read_state(call, dir, &state);
	if (rc == AFK_OK)
		rc = read_phase(call, dir, &phase);
	if (rc == AFK_OK)
		rc = afk_call_set_agent_state(call, state);
	if (rc == AFK_OK)
		rc = afk_call_set_phase(call, phase);
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
		            "%s/issue: %s", dir, strerror(err));
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
		return afk__call_failf(call, AFK_EIO, "%s/turns: %s", dir, strerror(err));
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
                   const char *id, const char *dir, const char *prompt)
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
	err = write_run_file(dir, name, prompt);
	if (err != 0)
		rc = afk__call_failf(call, AFK_EIO, "cannot write %s/%s: %s", dir, name,
		          strerror(err));
	if (rc == AFK_OK)
		rc = turn_env(&env, repo, number, id, dir, turn);
	if (rc == AFK_OK)
		rc = run_command(call, ca, &env, dir, name, turn);
	if (rc != AFK_OK && err == 0)
		remove_run_file(dir, name); /* the turn never was */
	afk__strv_clear(&env);
	free(repo);
	return rc;
}

/* send_turn: runs the command again in the thread's run directory,
 * synchronously, as dispatch ran it; its output is appended to the
 * thread's log.  A command that cannot start fails with AFK_EIO and the
 * turn counter stays, so the same turn is tried again. */
static int command_send_turn(afk_call *call, const char *thread_id,
                             const char *prompt, void *userdata)
{
	const struct command_agent *ca = userdata;
	char dir[PATH_MAX];
	int rc;

	if (prompt == NULL)
		return afk__call_failf(call, AFK_EINVAL, "send_turn: prompt is NULL");
	rc = thread_dir(call, ca, thread_id, dir);
	if (rc == AFK_OK)
		rc = turn_in(call, ca, thread_id, dir, prompt);
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
	if (rc == AFK_OK)
		rc = afk_agent_set_snapshot(agent, command_snapshot);
	if (rc == AFK_OK)
		rc = afk_agent_set_send_turn(agent, command_send_turn);
	if (rc)
		afk__errf(errbuf, "agent: cannot register callbacks: %s",
		          afk_strerror(rc));
	return rc;
}
