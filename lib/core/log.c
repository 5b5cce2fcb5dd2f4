/*
 * lib/core/log.c - the host's log (lib/core/log.h).
 */
#include "core/log.h"

#include "core/config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct afk__log {
	atomic_long refs;
	afk_log_fn fn;
	atomic_int max_level;
	void *userdata;
	afk_destroy_fn destroy;
};

afk__log *afk__log_new(afk_log_fn fn, int max_level, void *userdata,
                       afk_destroy_fn destroy)
{
	afk__log *log = calloc(1, sizeof(*log));

	if (log == NULL)
		return NULL;
	atomic_init(&log->refs, 1);
	atomic_init(&log->max_level, max_level);
	log->fn = fn;
	log->userdata = userdata;
	log->destroy = destroy;
	return log;
}

afk__log *afk__log_ref(afk__log *log)
{
	if (log != NULL)
		atomic_fetch_add(&log->refs, 1);
	return log;
}

void afk__log_unref(afk__log *log)
{
	if (log == NULL || atomic_fetch_sub(&log->refs, 1) != 1)
		return;
	if (log->destroy != NULL)
		log->destroy(log->userdata);
	free(log);
}

int afk__log_wants(const afk__log *log, int level)
{
	return log != NULL && log->fn != NULL &&
	       level <= atomic_load(&log->max_level);
}

int afk__log_same(const afk__log *log, afk_log_fn fn, void *userdata,
                  afk_destroy_fn destroy)
{
	return log != NULL && log->fn == fn && log->userdata == userdata &&
	       log->destroy == destroy;
}

void afk__log_set_level(afk__log *log, int max_level)
{
	if (log != NULL)
		atomic_store(&log->max_level, max_level);
}

void afk__log_str(afk__log *log, int level, const char *event,
                  const char *message)
{
	char line[AFK__LOG_SIZE];
	size_t i, n;

	if (!afk__log_wants(log, level))
		return;
	if (message == NULL)
		message = "";
	/* Cut where no UTF-8 sequence is split: a host may encode it. */
	n = strlen(message);
	if (n >= sizeof(line)) {
		n = sizeof(line) - 1;
		while (n > 0 && ((unsigned char)message[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(line, message, n);
	line[n] = '\0';
	/* One line: a host writes it as one record. */
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	afk__log_ref(log);
	log->fn(level, event, line, log->userdata);
	afk__log_unref(log);
}

void afk__logf(afk__log *log, int level, const char *event,
               const char *fmt, ...)
{
	char msg[AFK__LOG_SIZE];
	va_list ap;

	if (!afk__log_wants(log, level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	afk__log_str(log, level, event, msg);
}

void afk__log_disarmed(const afk_config *cfg)
{
	int kill_on = cfg->kill_switch, empty = cfg->allowlist.n == 0;

	afk__logf(cfg->log, AFK_LOG_NOTICE, "tick.disarmed", "%s%s%s",
	          kill_on ? "the kill switch is on (kill_switch, "
	          "AFK_KILL_SWITCH)" : "", kill_on && empty ? "; " : "",
	          empty ? "the allowlist is empty (allowlist, AFK_ALLOWLIST)" :
	          "");
}
