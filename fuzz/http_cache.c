/*
 * fuzz/http_cache.c - the HTTP layer's loading of its ETag cache file
 * (lib/net/http.c: cache_load and cache_check, through afk__http_new()).
 *
 * The input is the file.  Properties:
 *   - a file that is not a cache is ignored with a warning, never a
 *     failure: afk__http_new() succeeds;
 *   - the cache reads back what it writes: after a memo is stored and
 *     the file written, a new handle loads it with no warning and finds
 *     the memo;
 *   - the warning names the file and is one line.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <unistd.h>

static const char *path;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* tmpfs when there is one: the cache file is synced on each write */
	path = fuzz_scratch_file("etags.json");
	return 0;
}

static afk__http *open_cache(void)
{
	afk__http_opts o;
	afk__http *h = NULL;
	char err[AFK__ERRMSG_SIZE];

	afk__http_opts_default(&o);
	o.etag_cache = path;
	FUZZ_ASSERT(afk__http_new(&h, &o, err) == AFK_OK, "new: %s", err);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp = fopen(path, "wb");
	const char *w, *m;
	afk__http *h;

	if (fp == NULL || fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
		abort();
	h = open_cache();
	w = afk__http_warning(h);
	FUZZ_ASSERT(w[0] == '\0' || (strstr(w, path) != NULL &&
	            strchr(w, '\n') == NULL), "warning: %s", w);
	afk__http_memo_get(h, "labeller\nx", "v0");
	afk__http_memo_put(h, "fuzz\nkey", "v1", "who");
	afk__http_flush(h);
	FUZZ_ASSERT(afk__http_warning(h)[0] == '\0', "flush: %s",
	            afk__http_warning(h));
	afk__http_free(h);

	h = open_cache();
	FUZZ_ASSERT(afk__http_warning(h)[0] == '\0',
	            "the cache does not read back what it wrote: %s",
	            afk__http_warning(h));
	m = afk__http_memo_get(h, "fuzz\nkey", "v1");
	FUZZ_ASSERT(m != NULL && strcmp(m, "who") == 0, "the memo is lost");
	afk__http_free(h);
	return 0;
}
