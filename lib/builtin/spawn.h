/*
 * lib/builtin/spawn.h - running a local program without a shell, for the
 * built-in command agent, command CI and command notifier.  Internal.
 *
 * The program is found in the parent (a missing one fails before
 * anything is forked), the child does only async-signal-safe work
 * between fork() and execve(), and a failed exec comes back as its
 * errno through a close-on-exec pipe.  Everything the child needs is
 * built before fork(): the child of a threaded host may not allocate.
 *
 * The environment rule: the child gets only the minimal environment of
 * ours - PATH, HOME, LANG, LC_*, TZ and TMPDIR - and the variables the
 * caller names (from a configuration's "env"), never one it hides (the
 * variables a configuration reads its secrets from), then the caller's
 * own "NAME=value" entries.  A coding agent reads untrusted issue text:
 * whatever token it holds, it can be talked into giving away.
 *
 * The child leads a process group of its own, so that what it leaves
 * behind (a background grandchild holding its stdout, say) can be
 * killed with it, and it inherits no descriptor of the host but its
 * stdin, stdout and stderr: every other one is made close-on-exec in
 * the child, whatever flags the host opened it with.
 */
#ifndef AFK_LIB_SPAWN_H
#define AFK_LIB_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

typedef struct afk__spawn_opts {
	char *const *argv;     /* NULL-terminated; argv[0] found as by execvp */
	const char *dir;       /* the child's working directory; NULL: ours */
	char *const *pass;     /* names of our variables the child gets beyond
	                        * the minimal set, NULL-terminated; NULL: none */
	char *const *hide;     /* names of our variables it never gets, not
	                        * even of the minimal set; NULL: none */
	char *const *env;      /* "NAME=value" entries set over what it gets
	                        * of ours, NULL-terminated; NULL: none */
	int in;                /* the child's stdin; -1: /dev/null */
	int out;               /* the child's stdout */
	int err;               /* the child's stderr (may equal out) */
	long timeout_ms;       /* afk__spawn_capture() only: how long the
	                        * child may run before its process group is
	                        * killed; 0: no limit */
} afk__spawn_opts;

/* Starts the program.  Returns 0 with *pid once exec has succeeded, or
 * an errno value (ENOENT, EACCES, ...) with no child left behind.  The
 * caller must reap *pid with afk__spawn_wait(). */
int afk__spawn_start(const afk__spawn_opts *o, pid_t *pid);

/* Checks, running nothing, that name is a program afk__spawn_start()
 * could run (found as by execvp, an executable regular file).  Returns 0
 * or an errno value: ENOENT, EACCES, ENOMEM. */
int afk__spawn_find(const char *name);

/* Where a configured command runs: in the directory of its program when
 * prog names one by path (a script beside the configuration finds its
 * files), else in ours.  Returns 0 with *out the directory (free it), or
 * NULL for a bare name; ENOMEM. */
int afk__spawn_dir(const char *prog, char **out);

/* waitpid() retried on EINTR.  Returns 0 with *status, or an errno. */
int afk__spawn_wait(pid_t pid, int *status);

/* What the child wrote to one stream, kept up to max bytes. */
typedef struct afk__capture {
	size_t max;            /* set by the caller */
	char *buf;             /* NUL-terminated, the caller's to free */
	size_t len;
	int over;              /* the child wrote more than max bytes */
} afk__capture;

/* Runs the program to its end with stdin o->in (o->out and o->err are
 * ignored), collecting its stdout into *out and its stderr into *err.
 * Its stderr is read to its end past the cap, so that a chatty child
 * never blocks on a full pipe; a child that writes more than out->max
 * bytes to stdout has already given a wrong answer and its process
 * group is killed (out->over set).  When o->timeout_ms passes before
 * both streams end, the process group is killed too.  The child is
 * always reaped.  Returns 0 with *status; ETIMEDOUT, with *status, when
 * the deadline passed; or an errno: of the start (nothing ran) when
 * *started is 0, else of the reading or the waiting. */
int afk__spawn_capture(const afk__spawn_opts *o, afk__capture *out,
                       afk__capture *err, int *status, int *started);

/* Starts the program detached, for the command agent: it outlives the
 * host.  The host forks a launcher, which leaves the host's session and
 * forks the supervisor and ends at once (the host reaps it; the
 * supervisor is reparented to init).  The supervisor holds nothing of
 * the host's but dirfd, the run directory, and keep (the run's lock,
 * -1: none; flock() is per open file description, so the lock passes to
 * it with no gap once the host closes its own copy), and /dev/null on
 * 0, 1 and 2.  It forks the program, which calls setsid() - a session
 * and process group of its own - and execs as afk__spawn_start()'s
 * child would (o->timeout_ms is ignored).  Once the exec succeeded the
 * supervisor writes into dirfd, each file atomically (a temporary file
 * renamed over it):
 *
 *   supervisor   "<its pid> <its start time>
"
 *   pid          "<the program's pid, its process group> <its start
 *                time>
"
 *
 * and removes "exit_status", then waits for the program and writes
 * "exit_status" ("exited N
" or "killed by signal N
", as
 * afk__spawn_describe()) and ends, releasing keep.  The start time is
 * field 22 of /proc/<pid>/stat (0 where there is none): with the pid it
 * names one process, never a later one that reused the pid.
 *
 * Returns 0 once the program runs and the two files are written, or an
 * errno value (ENOENT, EACCES, ...) when it could not start: nothing is
 * written then, and the supervisor ends by itself.  Everything is made
 * before the first fork; the children make only async-signal-safe
 * calls. */
int afk__spawn_detach(const afk__spawn_opts *o, int dirfd, int keep);

/* The start time of process pid: field 22 of /proc/<pid>/stat, in clock
 * ticks since boot.  Returns 0 with *start, or an errno (ENOENT: no such
 * process, or no /proc) with *start 0.  Async-signal-safe. */
int afk__spawn_starttime(pid_t pid, unsigned long long *start);

/* 1 while the process group pgid has a member that is not a zombie (a
 * zombie cannot be signalled, and one whose parent died is reaped only
 * when init gets to it): /proc is read where there is one, else
 * killpg(pgid, 0) answers.  For the host, not for a child. */
int afk__spawn_group_alive(pid_t pgid);

/* "exited 3", "killed by signal 9": how a wait status ended, in buf. */
void afk__spawn_describe(int status, char *buf, size_t size);

#endif
