/*
 * lib/core/jsonpos.c - where a JSON text went wrong: the line of a value, and
 * jansson's reason without its quote.
 *
 * A forward scan with a cursor and a line counter.  Containers that are
 * not on the path are skipped by counting brackets outside strings, so
 * the scan needs no recursion and no allocation.
 */
#include "core/jsonpos.h"

#include <string.h>

typedef struct scan {
	const char *p;  /* next byte; never moved past the NUL */
	size_t line;    /* 1-based line of *p */
} scan;

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_ws(scan *s)
{
	while (is_ws(*s->p)) {
		if (*s->p == '\n')
			s->line++;
		s->p++;
	}
}

/* Moves past the string whose opening quote s->p is on.  An escape is
 * two bytes as far as skipping goes (\uXXXX's digits are plain bytes);
 * raw newlines are counted although JSON forbids them, so that a line
 * stays right on text jansson would refuse. */
static void skip_string(scan *s)
{
	s->p++;
	while (*s->p != '\0' && *s->p != '"') {
		if (*s->p == '\\' && s->p[1] != '\0')
			s->p++;
		if (*s->p == '\n')
			s->line++;
		s->p++;
	}
	if (*s->p == '"')
		s->p++;
}

/* Moves past the value s->p is on: a string, a container with everything
 * inside it, or a scalar up to the next delimiter.  Stops without moving
 * on a delimiter, so a caller expecting ',' sees the surprise. */
static void skip_value(scan *s)
{
	size_t depth = 0;
	char c;

	for (;;) {
		c = *s->p;
		if (c == '\0')
			return;
		if (c == '"') {
			skip_string(s);
			if (depth == 0)
				return;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return;
			if (--depth == 0) {
				s->p++;
				return;
			}
		} else if (depth == 0 && (c == ',' || c == ':' || is_ws(c))) {
			return;
		} else if (c == '\n') {
			s->line++;
		}
		s->p++;
	}
}

/* Reads four hex digits at p into *out; 0 when they are not there. */
static int hex4(const char *p, unsigned long *out)
{
	unsigned long v = 0;
	int i, d;

	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return 0;
		v = v * 16 + (unsigned long)d;
	}
	*out = v;
	return 1;
}

/* Writes code point cp as UTF-8 into out (4 bytes); returns the length.
 * A lone surrogate, which no decoded key can contain, becomes 0xFF, a
 * byte no UTF-8 key contains either, so it matches nothing. */
static size_t utf8(unsigned long cp, unsigned char *out)
{
	if (cp >= 0xD800 && cp <= 0xDFFF) {
		out[0] = 0xFF;
		return 1;
	}
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes the \u escape whose 'u' s->p is on, joining a surrogate pair. */
static size_t decode_u(scan *s, unsigned char *out)
{
	unsigned long cp, lo;

	if (!hex4(s->p + 1, &cp)) {
		s->p++;
		out[0] = 0xFF;
		return 1;
	}
	s->p += 5;
	if (cp >= 0xD800 && cp <= 0xDBFF && s->p[0] == '\\' &&
	    s->p[1] == 'u' && hex4(s->p + 2, &lo) &&
	    lo >= 0xDC00 && lo <= 0xDFFF) {
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		s->p += 6;
	}
	return utf8(cp, out);
}

/* Decodes the next character of a string into out (up to 4 bytes) and
 * returns its length; 0 at the closing quote (then passed) or the NUL. */
static size_t next_char(scan *s, unsigned char *out)
{
	char c = *s->p;

	if (c == '\0')
		return 0;
	if (c == '"') {
		s->p++;
		return 0;
	}
	if (c != '\\') {
		if (c == '\n')
			s->line++;
		out[0] = (unsigned char)c;
		s->p++;
		return 1;
	}
	c = *++s->p;
	switch (c) {
	case '\0':
		return 0;
	case 'u':
		return decode_u(s, out);
	case 'b':
		out[0] = '\b';
		break;
	case 'f':
		out[0] = '\f';
		break;
	case 'n':
		out[0] = '\n';
		break;
	case 'r':
		out[0] = '\r';
		break;
	case 't':
		out[0] = '\t';
		break;
	default:
		out[0] = (unsigned char)c;  /* \" \\ \/ and anything else */
		break;
	}
	s->p++;
	return 1;
}

/* Moves past the string s->p is on and tells whether it decodes to key.
 * A key's NUL never matches a decoded \u0000, so the comparison cannot
 * run past the end of key. */
static int match_key(scan *s, const char *key)
{
	unsigned char ch[4];
	size_t n, i;
	int same = 1;

	s->p++;
	while ((n = next_char(s, ch)) > 0) {
		for (i = 0; same && i < n; i++)
			if (key[i] == '\0' || (unsigned char)key[i] != ch[i])
				same = 0;
		if (same)
			key += n;
	}
	return same && *key == '\0';
}

/* In the object s->p is on, finds the member named key and leaves s on
 * its value.  Returns the line of the member's key, or 0. */
static size_t find_member(scan *s, const char *key)
{
	size_t line;
	int hit;

	if (*s->p != '{')
		return 0;
	s->p++;
	for (;;) {
		skip_ws(s);
		if (*s->p != '"')
			return 0;
		line = s->line;
		hit = match_key(s, key);
		skip_ws(s);
		if (*s->p != ':')
			return 0;
		s->p++;
		skip_ws(s);
		if (hit)
			return line;
		skip_value(s);
		skip_ws(s);
		if (*s->p != ',')
			return 0;
		s->p++;
	}
}

/* In the array s->p is on, finds the element at index and leaves s on
 * it.  Returns the element's line, or 0. */
static size_t find_element(scan *s, size_t index)
{
	size_t i;

	if (*s->p != '[')
		return 0;
	s->p++;
	for (i = 0;; i++) {
		skip_ws(s);
		if (*s->p == ']' || *s->p == '\0')
			return 0;
		if (i == index)
			return s->line;
		skip_value(s);
		skip_ws(s);
		if (*s->p != ',')
			return 0;
		s->p++;
	}
}

size_t afk__jsonpos_line(const char *text, const afk__jsonpos_step *path,
                         size_t n)
{
	scan s;
	size_t best, line, i;

	s.p = text;
	s.line = 1;
	skip_ws(&s);
	best = s.line;
	for (i = 0; i < n; i++) {
		if (path[i].key != NULL)
			line = find_member(&s, path[i].key);
		else
			line = find_element(&s, path[i].index);
		if (line == 0)
			break;
		best = line;
	}
	return best;
}

const char *afk__jsonpos_reason(const json_error_t *err, char *buf,
                                size_t size)
{
	const char *near = strstr(err->text, " near '");
	size_t n = near != NULL ? (size_t)(near - err->text) :
	           strlen(err->text);

	if (size == 0)
		return buf;
	if (n >= size)
		n = size - 1;
	memcpy(buf, err->text, n);
	buf[n] = '\0';
	return buf;
}

const char *afk__json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}
