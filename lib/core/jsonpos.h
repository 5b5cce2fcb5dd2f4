/*
 * lib/core/jsonpos.h - where a JSON text went wrong, for messages: the line of
 * a value, and jansson's reason without its quote.  Internal.
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

#include <jansson.h>

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

/* jansson's reason for refusing a text, for a message: err->text without
 * what jansson quotes after " near '" - the text's own bytes, which may
 * hold anything, a token a server echoed, and which jansson cuts where it
 * likes, before any redaction could see the whole.  Written into buf
 * (size bytes); returns buf.  The caller adds err->line and err->column,
 * which say where without quoting. */
const char *afk__jsonpos_reason(const json_error_t *err, char *buf,
                                size_t size);

/* The name of v's JSON type with its article ("an object", "a string",
 * "a number", "a boolean", "null"), for messages. */
const char *afk__json_type_name(const json_t *v);

#endif
