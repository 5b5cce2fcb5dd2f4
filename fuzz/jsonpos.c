/*
 * fuzz/jsonpos.c - the line finder of lib/core/jsonpos.c, on any text.
 *
 * The input: one byte, the number of steps (0..4), each a byte choosing
 * a key (a length-prefixed string) or an index; the rest is the text.
 *
 * Properties: never reads past the text's NUL (ASan); the line is one of
 * the text's lines (1 .. newlines + 1); the same question gets the same
 * answer; when jansson accepts the text as an object, the line of each
 * of its members holds a '"' (where the key starts).
 */
#include "fuzz.h"

#include <jansson.h>

#include "core/jsonpos.h"

static size_t lines_of(const char *s)
{
	size_t n = 1;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* The text of line l (1-based) of s, in a heap string. */
static char *line_text(const char *s, size_t l)
{
	const char *e;

	for (; l > 1 && *s != '\0'; s++)
		if (*s == '\n')
			l--;
	e = strchr(s, '\n');
	return fuzz_str((const uint8_t *)s, e != NULL ? (size_t)(e - s) :
	                strlen(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in in = {data, size};
	afk__jsonpos_step path[4];
	char *keys[4] = {NULL}, *text, *lt;
	size_t n, i, line;
	json_t *doc;
	const char *k;
	json_t *v;

	n = fuzz_byte(&in) % 5;
	for (i = 0; i < n; i++) {
		unsigned b = fuzz_byte(&in);

		if (b & 1) {
			keys[i] = fuzz_take_str(&in);
			path[i].key = keys[i];
			path[i].index = 0;
		} else {
			path[i].key = NULL;
			path[i].index = b >> 1;
		}
	}
	text = fuzz_str(in.p, in.n);
	line = afk__jsonpos_line(text, path, n);
	FUZZ_ASSERT(line >= 1 && line <= lines_of(text), "line %zu of %zu",
	            line, lines_of(text));
	FUZZ_ASSERT(afk__jsonpos_line(text, path, n) == line, "not the same");

	/* Each member of an object jansson accepts is found on a line that
	 * holds the start of its key: a '"'. */
	doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(doc)) {
		json_object_foreach(doc, k, v) {
			afk__jsonpos_step s = {k, 0};

			(void)v;
			line = afk__jsonpos_line(text, &s, 1);
			lt = line_text(text, line);
			FUZZ_ASSERT(strchr(lt, '"') != NULL, "key %s on line "
			            "%zu: %s", k, line, lt);
			free(lt);
		}
	}
	json_decref(doc);
	free(text);
	for (i = 0; i < 4; i++)
		free(keys[i]);
	return 0;
}
