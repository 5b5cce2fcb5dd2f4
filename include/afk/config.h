/*
 * afk/config.h - the configuration handle.
 *
 * A new configuration fails closed: the kill switch is on and the
 * allowlist is empty, so a tick made with it dispatches nothing and calls
 * no adapter.  Arming takes both: the kill switch cleared AND at least one
 * repository on the allowlist.
 *
 * Every setting has a key (see afk.json(5)).  Values cross the API as JSON
 * text, so one function sets any key from C, from a file or from another
 * language, and every path validates the same way.  A refused value leaves
 * the configuration exactly as it was.
 */
#ifndef AFK_CONFIG_H
#define AFK_CONFIG_H

#include <afk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct afk_config afk_config;

/* Makes a configuration with the fail-closed defaults.  Free it with
 * afk_config_free(). */
AFK_EXTERN int afk_config_new(afk_config **out);

/* Frees a configuration; NULL is a no-op. */
AFK_EXTERN void afk_config_free(afk_config *cfg);

/* Reads a JSON object from the file at path and sets each of its keys.
 * An unknown key, a value of the wrong type or a refused value fails the
 * whole load with AFK_ECONFIG and a message naming the key and its line;
 * the configuration is then unchanged.  Relative paths inside the file are
 * taken from the file's directory. */
AFK_EXTERN int afk_config_load_file(afk_config *cfg, const char *path);

/* As afk_config_load_file(), from a NUL-terminated JSON text; relative
 * paths are taken from the current directory. */
AFK_EXTERN int afk_config_load_string(afk_config *cfg, const char *json);

/* Applies the environment's overrides of the two arming gates:
 * AFK_KILL_SWITCH ("1", "true", "on" / "0", "false", "off") and
 * AFK_ALLOWLIST (repository names separated by commas; empty empties the
 * allowlist).  An unset variable changes nothing. */
AFK_EXTERN int afk_config_apply_env(afk_config *cfg);

/* Sets one key from JSON text, e.g. afk_config_set(c, "allowlist",
 * "[\"infra\"]").  AFK_ECONFIG with a message when the key is unknown or
 * the value refused. */
AFK_EXTERN int afk_config_set(afk_config *cfg, const char *key,
                              const char *json);

/* Stores in *json the value of key as JSON text (null when unset); free
 * it with afk_free(). */
AFK_EXTERN int afk_config_get(const afk_config *cfg, const char *key,
                              char **json);

/* The name of the i-th key the library knows, or NULL past the last. */
AFK_EXTERN const char *afk_config_key(size_t i);

/* 1 when a tick made with cfg may dispatch: the kill switch is off and the
 * allowlist is not empty; 0 otherwise (also for NULL). */
AFK_EXTERN int afk_config_armed(const afk_config *cfg);

/* The levels of a log line, most severe first (syslog's order); ints in
 * the ABI. */
typedef enum afk_log_level {
	AFK_LOG_ERROR = 0,
	AFK_LOG_WARNING = 1,
	AFK_LOG_NOTICE = 2,
	AFK_LOG_INFO = 3,
	AFK_LOG_DEBUG = 4
} afk_log_level;

/* Receives one log line: its level (AFK_LOG_*), a short stable dotted
 * event name ("http.rate_limited", "tick.disarmed"; see
 * afk_config_set_log(3)) and a one-line message that holds no secret.
 * Both strings are borrowed for the call. */
typedef void (*afk_log_fn)(int level, const char *event,
                           const char *message, void *userdata);

/* Sets the log of cfg and of everything made from it (the ticks run with
 * it, the built-ins set up from it): fn receives the lines of level at
 * most max_level (AFK_LOG_ERROR .. AFK_LOG_DEBUG); others cost nothing.
 * fn NULL removes the log.  The previous log's destroy runs once nothing
 * uses it any more (see afk_config_set_log(3)); userdata's runs likewise
 * when this one is replaced or cfg freed.  The log is not a setting: no
 * load, set or get changes it.  AFK_EINVAL for a NULL cfg or a level
 * out of range (nothing changed, destroy not called). */
AFK_EXTERN int afk_config_set_log(afk_config *cfg, afk_log_fn fn,
                                  int max_level, void *userdata,
                                  afk_destroy_fn destroy);

/* The message of the last failure on cfg ("" when none); valid until the
 * next call on cfg. */
AFK_EXTERN const char *afk_config_errmsg(const afk_config *cfg);

#ifdef __cplusplus
}
#endif

#endif /* AFK_CONFIG_H */
