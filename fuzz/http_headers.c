/*
 * fuzz/http_headers.c - the HTTP layer's reading of response headers
 * (lib/net/http.c: the header callback, afk__http_parse_headers(), and the
 * Link header's rel="next", afk__http_link_has_next()).
 *
 * Properties, checked against a reading of the same lines done here:
 *   - each kept header (ETag, Link, Retry-After, X-RateLimit-*,
 *     Content-Type) is the value of its first line (name case ignored),
 *     blanks and line ends trimmed, cut at 16 KiB; every Link line after
 *     the first is joined with ", "; a status line forgets what came
 *     before it;
 *   - a Link that has a next page holds "<", ">" and "next".
 */
#define _GNU_SOURCE

#include "fuzz.h"

#include <strings.h>

#define HEADER_MAX 16384

static const char *const names[] = {
	"etag", "link", "retry-after", "x-ratelimit-remaining",
	"x-ratelimit-reset", "content-type"
};

/* The expected value of header k: a heap string or NULL. */
static char *expect(const char *block, size_t n, int k)
{
	const char *p = block, *end = block + n, *nl, *colon, *v, *e;
	char *val = NULL, *j;
	size_t len, vlen;

	for (; p < end; p += len) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl != NULL ? (size_t)(nl + 1 - p) : (size_t)(end - p);
		if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
			free(val);
			val = NULL;
			continue;
		}
		colon = memchr(p, ':', len);
		if (colon == NULL || (size_t)(colon - p) != strlen(names[k]) ||
		    strncasecmp(p, names[k], strlen(names[k])) != 0)
			continue;
		for (v = colon + 1; v < p + len && (*v == ' ' || *v == '\t');
		     v++)
			;
		for (e = p + len; e > v && strchr(" \t\r\n", e[-1]) != NULL &&
		     e[-1] != '\0'; e--)
			;
		vlen = (size_t)(e - v);
		if (vlen > HEADER_MAX)
			vlen = HEADER_MAX;
		if (val == NULL) {
			val = fuzz_str((const uint8_t *)v, vlen);
		} else if (k == 1 && strlen(val) < HEADER_MAX) {
			j = malloc(strlen(val) + 2 + vlen + 1);
			if (j == NULL)
				abort();
			sprintf(j, "%s, ", val);
			memcpy(j + strlen(j), v, vlen);
			j[strlen(val) + 2 + vlen] = '\0';
			free(val);
			val = j;
		}
	}
	return val;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	afk__http_req r;
	char **got[6];
	char *want;
	int k;

	memset(&r, 0, sizeof(r));
	afk__http_parse_headers(&r, (const char *)data, size);
	got[0] = &r.etag;
	got[1] = &r.link;
	got[2] = &r.retry_after;
	got[3] = &r.ratelimit_remaining;
	got[4] = &r.ratelimit_reset;
	got[5] = &r.content_type;
	for (k = 0; k < 6; k++) {
		want = expect((const char *)data, size, k);
		FUZZ_ASSERT(want == NULL ? *got[k] == NULL :
		            *got[k] != NULL && strcmp(want, *got[k]) == 0,
		            "%s: got \"%s\", want \"%s\"", names[k],
		            *got[k] ? *got[k] : "(null)", want ? want : "(null)");
		free(want);
	}
	if (afk__http_link_has_next(r.link))
		FUZZ_ASSERT(strchr(r.link, '<') != NULL &&
		            strchr(r.link, '>') != NULL &&
		            strcasestr(r.link, "next") != NULL,
		            "a next page in %s", r.link);
	/* any text is a Link value too, not only what a header held */
	{
		char *s = fuzz_str(data, size);

		if (afk__http_link_has_next(s))
			FUZZ_ASSERT(strchr(s, '<') != NULL &&
			            strcasestr(s, "next") != NULL, "next in %s", s);
		free(s);
	}
	afk__http_req_clear(&r);
	return 0;
}
