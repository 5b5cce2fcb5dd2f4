/*
 * fuzz/config.c - loading a configuration from text (lib/core/config.c, with
 * lib/core/jsonpos.c naming the lines).
 *
 * Runs in an empty directory of its own, so relative paths lead nowhere.
 *
 * Properties:
 *   - a refused text leaves a message naming "<string>", and the line it
 *     names ("<string>:N: ...") is one of the text's lines;
 *   - an accepted configuration reads back: every key's value, got as
 *     JSON and set on a new configuration, reads back the same.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <unistd.h>

#include "afk/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/afk-fuzz-config.XXXXXX";

/* The directory goes when the run ends (loading writes nothing). */
static void cleanup(void)
{
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL || chdir(dir) != 0)
		abort();
	atexit(cleanup);
	return 0;
}

static size_t lines_of(const char *s)
{
	size_t n = 1;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void reads_back(afk_config *cfg)
{
	afk_config *again;
	const char *key;
	char *v, *w;
	size_t i;

	if (afk_config_new(&again) != AFK_OK)
		abort();
	for (i = 0; (key = afk_config_key(i)) != NULL; i++) {
		FUZZ_ASSERT(afk_config_get(cfg, key, &v) == AFK_OK, "get %s",
		            key);
		FUZZ_ASSERT(afk_config_set(again, key, v) == AFK_OK,
		            "%s = %s does not set back: %s", key, v,
		            afk_config_errmsg(again));
		FUZZ_ASSERT(afk_config_get(again, key, &w) == AFK_OK, "get");
		FUZZ_ASSERT(strcmp(v, w) == 0, "%s: %s reads back as %s", key,
		            v, w);
		afk_free(v);
		afk_free(w);
	}
	afk_config_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size);
	const char *msg, *p;
	afk_config *cfg;
	unsigned long line;
	int rc;

	if (afk_config_new(&cfg) != AFK_OK)
		abort();
	rc = afk_config_load_string(cfg, text);
	msg = afk_config_errmsg(cfg);
	if (rc == AFK_OK) {
		reads_back(cfg);
	} else {
		FUZZ_ASSERT(rc == AFK_ECONFIG || rc == AFK_ENOMEM ||
		            rc == AFK_EIO, "rc %d", rc);
		FUZZ_ASSERT(strncmp(msg, "<string>", 8) == 0, "message %s", msg);
		if (msg[8] == ':' && msg[9] >= '0' && msg[9] <= '9') {
			line = strtoul(msg + 9, (char **)&p, 10);
			FUZZ_ASSERT(line >= 1 && line <= lines_of(text),
			            "line %lu of %zu: %s", line, lines_of(text),
			            msg);
		}
	}
	afk_config_free(cfg);
	free(text);
	return 0;
}
