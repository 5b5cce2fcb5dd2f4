/*
 * lib/net/redact.c - replaces secrets in messages.  See redact.h.
 *
 * Each rule marks the bytes it wants hidden in a mask over the text; runs
 * of marked bytes then become one "[REDACTED]" each.  Marking first and
 * replacing afterwards lets the rules overlap (a token that is also a
 * query value) without one rule's output confusing the next.
 */
#include "net/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define FRAG AFK__REDACT_FRAGMENT

/* Where the rules record what they hide: a mask of len bytes, or, when no
 * mask could be allocated, the text itself, overwritten with '*'. */
typedef struct marks {
	char *text;
	unsigned char *mask;
	size_t len;
} marks;

static void mark(marks *m, size_t from, size_t to)
{
	size_t i;

	if (to > m->len)
		to = m->len;
	for (i = from; i < to; i++) {
		if (m->mask != NULL)
			m->mask[i] = 1;
		else
			m->text[i] = '*';
	}
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* 1 when the n bytes at s equal the lower-case word w, case ignored. */
static int same_word(const char *s, size_t n, const char *w)
{
	size_t i;

	if (strlen(w) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (lower(s[i]) != w[i])
			return 0;
	return 1;
}

/* 1 when s starts with the lower-case prefix p, case ignored. */
static int starts_with(const char *s, const char *p)
{
	for (; *p != '\0'; s++, p++)
		if (lower(*s) != *p)
			return 0;
	return 1;
}

/* 1 when the parameter name (n bytes at s) names a credential: one of
 * the words below, alone or after a separator (access_token, x-api-key,
 * client.secret), or a few run-together forms (apikey).  "monkey" and
 * "tokens" are not. */
static int is_credential_name(const char *s, size_t n)
{
	static const char *const words[] = {
		"token", "secret", "key", "password", "passwd", "sig",
		"signature", "auth"
	};
	static const char *const whole[] = {
		"apikey", "accesstoken", "authtoken", "privatetoken"
	};
	size_t i, k;

	for (i = 0; i < sizeof(whole) / sizeof(*whole); i++)
		if (same_word(s, n, whole[i]))
			return 1;
	for (i = 0; i < sizeof(words) / sizeof(*words); i++) {
		k = strlen(words[i]);
		if (n < k || !same_word(s + n - k, k, words[i]))
			continue;
		if (n == k || s[n - k - 1] == '_' || s[n - k - 1] == '-' ||
		    s[n - k - 1] == '.')
			return 1;
	}
	return 0;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* Where a value in a URL, a header or a JSON string ends. */
static int ends_value(char c)
{
	return c == '\0' || strchr("&#; \t\r\n\"'<>,)\\", c) != NULL;
}

static void mark_secrets(marks *m, const char *const *secrets)
{
	const char *p;
	size_t n;

	for (; secrets != NULL && *secrets != NULL; secrets++) {
		n = strlen(*secrets);
		if (n == 0)
			continue;
		for (p = strstr(m->text, *secrets); p != NULL;
		     p = strstr(p + 1, *secrets))
			mark(m, (size_t)(p - m->text), (size_t)(p - m->text) + n);
	}
}

/* The longest k (FRAG <= k) such that the k bytes at t (len bytes
 * left) are also somewhere in the secret sec (n bytes), else 0. */
static size_t fragment_at(const char *t, size_t len, const char *sec,
                          size_t n)
{
	size_t j, k, best = 0;

	for (j = 0; j + FRAG <= n; j++) {
		if (sec[j] != t[0])
			continue;
		for (k = 0; k < len && j + k < n && t[k] == sec[j + k]; k++)
			;
		if (k >= FRAG && k > best)
			best = k;
	}
	return best;
}

/* Where the secret part of sec begins: for a URL (a webhook) after its
 * scheme and host, which are no secret and which messages about the
 * connection must be able to name ("cannot resolve hooks.slack.com") -
 * unless the host part holds user information; else at 0. */
static size_t secret_part(const char *sec)
{
	const char *p = strstr(sec, "://"), *slash, *at;

	if (p == NULL)
		return 0;
	p += 3;
	slash = strchr(p, '/');
	at = strchr(p, '@');
	if (at != NULL && (slash == NULL || at < slash))
		return (size_t)(p - sec);
	return slash != NULL ? (size_t)(slash - sec) : strlen(sec);
}

/* Every run of FRAG or more bytes that is also a part of a secret: a
 * server that quotes a token begun, cut or spliced, or a cut made before
 * redacting, must not show that part either.  What survives of a secret
 * is never longer than FRAG - 1 bytes. */
static void mark_fragments(marks *m, const char *const *secrets)
{
	const char *sec;
	size_t i, k, n;

	for (; secrets != NULL && *secrets != NULL; secrets++) {
		sec = *secrets + secret_part(*secrets);
		n = strlen(sec);
		if (n < FRAG)
			continue;
		for (i = 0; i + FRAG <= m->len; i++) {
			k = fragment_at(m->text + i, m->len - i, sec, n);
			if (k > 0)
				mark(m, i, i + k);
		}
	}
}

/* ?token=X, &access_token=X, ;api_key=X */
static void mark_query_values(marks *m)
{
	const char *s = m->text, *name, *v;
	size_t i;

	for (i = 0; i < m->len; i++) {
		if (s[i] != '?' && s[i] != '&' && s[i] != ';')
			continue;
		name = s + i + 1;
		for (v = name; is_name_char(*v); v++)
			;
		if (*v != '=' || v == name ||
		    !is_credential_name(name, (size_t)(v - name)))
			continue;
		v++;
		i = (size_t)(v - s);
		while (!ends_value(s[i]))
			i++;
		mark(m, (size_t)(v - s), i);
		i--;
	}
}

/* scheme://user:PASSWORD@host */
static void mark_userinfo(marks *m)
{
	const char *s = m->text, *p, *start, *colon;

	for (p = strstr(s, "://"); p != NULL; p = strstr(p + 1, "://")) {
		start = p + 3;
		colon = NULL;
		for (p = start; *p != '\0' && strchr("/?#@ \t\r\n\"'<>", *p) == NULL;
		     p++)
			if (*p == ':' && colon == NULL)
				colon = p;
		if (*p == '@' && colon != NULL && colon + 1 < p)
			mark(m, (size_t)(colon + 1 - s), (size_t)(p - s));
		if (*p == '\0')
			break;
	}
}

/* "Bearer X" and "Authorization: X": a header a server echoed back. */
static void mark_auth_words(marks *m)
{
	const char *s = m->text;
	size_t i, j;

	for (i = 0; i < m->len; i++) {
		if (i > 0 && is_name_char(s[i - 1]))
			continue;
		if (starts_with(s + i, "bearer ")) {
			j = i + 7;
			while (s[j] == ' ')
				j++;
			i = j;
			while (!ends_value(s[j]))
				j++;
			mark(m, i, j);
			if (j > i)
				i = j - 1;
		} else if (starts_with(s + i, "authorization:")) {
			j = i + 14;
			while (s[j] == ' ' || s[j] == '\t')
				j++;
			i = j;
			while (s[j] != '\0' && strchr("\r\n\"'\\,}", s[j]) == NULL)
				j++;
			mark(m, i, j);
			if (j > i)
				i = j - 1;
		}
	}
}

static void mark_all(marks *m, const char *const *secrets)
{
	mark_secrets(m, secrets);
	mark_fragments(m, secrets);
	mark_query_values(m);
	mark_userinfo(m);
	mark_auth_words(m);
}

/* The redacted copy of s in a heap string (the caller's); NULL when
 * memory ran out.  *count gets the number of replacements. */
static char *redact_alloc(const char *s, const char *const *secrets,
                          size_t *count)
{
	size_t len = strlen(s), i, o, out_len, runs = 0, hidden = 0;
	size_t rlen = strlen(AFK__REDACTED);
	marks m;
	char *out;

	m.text = (char *)s;  /* only written when mask is NULL: not here */
	m.len = len;
	m.mask = calloc(len + 1, 1);
	if (m.mask == NULL)
		return NULL;
	mark_all(&m, secrets);
	for (i = 0; i < len; i++) {
		if (!m.mask[i])
			continue;
		hidden++;
		if (i == 0 || !m.mask[i - 1])
			runs++;
	}
	out_len = len - hidden + runs * rlen;
	out = malloc(out_len + 1);
	if (out == NULL) {
		free(m.mask);
		return NULL;
	}
	for (i = 0, o = 0; i < len; i++) {
		if (!m.mask[i]) {
			out[o++] = s[i];
		} else if (i == 0 || !m.mask[i - 1]) {
			memcpy(out + o, AFK__REDACTED, rlen);
			o += rlen;
		}
	}
	out[o] = '\0';
	free(m.mask);
	*count = runs;
	return out;
}

/* The length of the longest prefix of s (len bytes) that fits in max
 * bytes without splitting a UTF-8 sequence. */
static size_t cut_utf8(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

size_t afk__redact(char *buf, size_t size, const char *const *secrets)
{
	size_t count = 0, n;
	marks m;
	char *r;

	if (buf == NULL || size == 0)
		return 0;
	buf[size - 1] = '\0';
	r = redact_alloc(buf, secrets, &count);
	if (r == NULL) {
		/* No memory: hide the bytes in place; nothing grows. */
		m.text = buf;
		m.mask = NULL;
		m.len = strlen(buf);
		mark_all(&m, secrets);
		return 1;
	}
	n = cut_utf8(r, strlen(r), size - 1);
	memcpy(buf, r, n);
	buf[n] = '\0';
	free(r);
	return count;
}

char *afk__redact_dup(const char *s, const char *const *secrets)
{
	size_t count;

	if (s == NULL)
		return NULL;
	return redact_alloc(s, secrets, &count);
}

size_t afk__redact_cut_len(const char *s, size_t max,
                           const char *const *secrets)
{
	size_t cut = max, n, k;

	for (; secrets != NULL && *secrets != NULL; secrets++) {
		n = strlen(*secrets);
		if (n == 0)
			continue;
		for (k = n - 1 < max ? n - 1 : max; k > 0; k--) {
			if (memcmp(s + max - k, *secrets, k) == 0) {
				if (max - k < cut)
					cut = max - k;
				break;
			}
		}
	}
	while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
		cut--;
	return cut;
}

void afk__redact_vformat(char *dst, size_t size,
                         const char *const *secrets, const char *fmt,
                         va_list ap)
{
	size_t count, n;
	va_list aq;
	char *raw, *r = NULL;
	int len;

	if (dst == NULL || size == 0)
		return;
	va_copy(aq, ap);
	raw = afk__vaprintf(fmt, aq);
	va_end(aq);
	if (raw != NULL) {
		r = redact_alloc(raw, secrets, &count);
		afk__free_secret(raw);
	}
	if (r == NULL) {
		/* No memory: the text is formatted into dst, cut clear of
		 * any secret it may have been cut in, and hidden in place. */
		len = vsnprintf(dst, size, fmt, ap);
		if (len > 0 && (size_t)len >= size)
			dst[afk__redact_cut_len(dst, size - 1, secrets)] = '\0';
		afk__redact(dst, size, secrets);
		return;
	}
	n = cut_utf8(r, strlen(r), size - 1);
	memcpy(dst, r, n);
	dst[n] = '\0';
	free(r);
}

void afk__redact_format(char *dst, size_t size, const char *const *secrets,
                        const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	afk__redact_vformat(dst, size, secrets, fmt, ap);
	va_end(ap);
}
