/*
 * examples/afk/metrics.h - the afk command's Prometheus metrics.
 *
 * Each tick is a process of its own, so a counter cannot live in memory
 * from one tick to the next.  A tick gathers what it did - the result of
 * its poll and watch, each HTTP response its adapters logged, its own
 * outcome and length - into a metrics handle, and at its end
 * metrics_commit() adds that to the counters kept in
 * <state_dir>/metrics.state (under an flock() of metrics.lock beside
 * it) and writes every metric in Prometheus' text exposition format,
 * as node_exporter's textfile collector reads it.  Both files are
 * replaced atomically: written whole under a temporary name in the same
 * directory, synced, then renamed.
 *
 * Nothing here fails a tick.  A state file that cannot be read or makes
 * no sense is reported and started afresh; a file that cannot be written
 * is reported and counted (afk_errors_total{kind="metrics_write"}).
 * Every function takes NULL for the handle and then does nothing, so a
 * dry run - which writes no metrics - simply has none.
 */
#ifndef AFK_CLI_METRICS_H
#define AFK_CLI_METRICS_H

#include <afk/afk.h>

typedef struct metrics metrics;

/* A handle with nothing counted yet, or NULL when memory ran out.  Free
 * it with metrics_free(). */
metrics *metrics_new(void);
void metrics_free(metrics *m);

/* Counts what a poll tick's result says: a dispatch per repository,
 * a skip per reason, an error per failure it recorded. */
void metrics_poll(metrics *m, const afk_result *res);

/* Counts what a watch tick did - closes, fix-forwards, escalations per
 * reason, stops per reason, an error per failure - and sets the runs in
 * flight per phase (the runs it left waiting or fixing forward). */
void metrics_watch(metrics *m, const afk_actions *acts);

/* Counts one error of kind (a short slug). */
void metrics_error(metrics *m, const char *kind);

/* Feeds one line of the library's log: an "http.request" line's tail
 * (" host=H status=C[ remaining=N]", see afk_config_set_log(3)) counts
 * a request per host and status, a 304 apart, a transport failure as an
 * error, and sets the host's rate limit left.  Other lines are ignored. */
void metrics_log(metrics *m, const char *event, const char *message);

/* Records the tick itself: kind "poll", "watch" or "tick", result "ok",
 * "error" or "disarmed", its length in seconds, and - for "ok" - now
 * (seconds since the epoch) as its last success. */
void metrics_tick(metrics *m, const char *kind, const char *result,
                  double seconds, long long now);

/* Adds what m gathered to the counters in state_dir (made, mode 0700,
 * when missing) and writes the metrics to file (NULL: state_dir's
 * afk.prom).  Says what went wrong through log (level, event, message,
 * userdata) - warning "metrics.state_reset" for a state started afresh,
 * error "metrics.write_failed" - and returns 0, or -1 when something
 * could not be written.  The caller's exit status does not depend on
 * it. */
int metrics_commit(metrics *m, const char *state_dir, const char *file,
                   afk_log_fn log, void *userdata);

#endif
