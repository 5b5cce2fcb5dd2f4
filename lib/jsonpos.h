/*
 * lib/jsonpos.h - the line of a value in a JSON text.  Internal.
 *
 * jansson keeps no positions of the values it decodes, so a message that
 * names the line of a refused value scans the text again.  The scanner is
 * meant for text jansson has already accepted, but it trusts nothing: on
 * text that is not JSON it stops at the first surprise and answers with
 * what it found so far, never reading past the terminating NUL.
 */
#ifndef AFK_LIB_JSONPOS_H
#define AFK_LIB_JSONPOS_H

#include <stddef.h>

/* One step of a key path: the member named key of an object, or, when key
 * is NULL, the element at index of an array.  {"allowlist", 1} is written
 * {{"allowlist", 0}, {NULL, 1}}. */
typedef struct afk__jsonpos_step {
	const char *key;
	size_t index;
} afk__jsonpos_step;

/* Returns the 1-based line where the n steps of path lead in the
 * NUL-terminated text: for an object member the line of its key (where
 * an editor should look), for an array element the line where the
 * element starts, for n == 0 the line of the top-level value.  Keys are
 * compared after decoding their escapes, so "a\u0062" is found as "ab".
 * When a step is not found the answer is the line of the deepest
 * ancestor that was: the top-level value's at worst. */
size_t afk__jsonpos_line(const char *text, const afk__jsonpos_step *path,
                         size_t n);

#endif
