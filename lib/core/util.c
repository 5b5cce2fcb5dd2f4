/*
 * lib/core/util.c - small helpers shared by every module.
 */
#include "core/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *afk__strdup(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	d = malloc(n);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void afk__one_line(char *dst, size_t size, const char *s, size_t n)
{
	size_t o = 0, i;
	unsigned char c;

	for (i = 0; i < n && s[i] != '\0' && o + 4 < size; i++) {
		c = (unsigned char)s[i];
		if (c == '\n' || c == '\r' || c == '\t')
			dst[o++] = ' ';
		else
			dst[o++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
	}
	if (s[i] != '\0') {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

int afk__grow(void **arr, size_t *cap, size_t len, size_t n, size_t elem)
{
	size_t want, ncap;
	void *p;

	if (n > SIZE_MAX - len)
		return AFK_ENOMEM;
	want = len + n;
	if (want <= *cap)
		return AFK_OK;
	ncap = *cap ? *cap : 8;
	while (ncap < want) {
		if (ncap > SIZE_MAX / 2)
			return AFK_ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return AFK_ENOMEM;
	p = realloc(*arr, ncap * elem);
	if (p == NULL)
		return AFK_ENOMEM;
	*arr = p;
	*cap = ncap;
	return AFK_OK;
}

int afk__strv_push(afk__strv *v, const char *s)
{
	char *d;

	if (afk__grow((void **)&v->v, &v->cap, v->n, 1, sizeof(*v->v)))
		return AFK_ENOMEM;
	d = afk__strdup(s);
	if (d == NULL)
		return AFK_ENOMEM;
	v->v[v->n++] = d;
	return AFK_OK;
}

long afk__strv_find(const afk__strv *v, const char *s)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->v[i], s) == 0)
			return (long)i;
	return -1;
}

void afk__strv_clear(afk__strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
}

int afk__strv_copy(afk__strv *dst, const afk__strv *src)
{
	afk__strv tmp = {NULL, 0, 0};
	size_t i;

	for (i = 0; i < src->n; i++) {
		if (afk__strv_push(&tmp, src->v[i])) {
			afk__strv_clear(&tmp);
			return AFK_ENOMEM;
		}
	}
	afk__strv_clear(dst);
	*dst = tmp;
	return AFK_OK;
}

void afk__errf(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, AFK__ERRMSG_SIZE, fmt, ap);
	va_end(ap);
}

char *afk__vaprintf(const char *fmt, va_list ap)
{
	va_list aq;
	int n;
	char *s;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s == NULL)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

char *afk__aprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = afk__vaprintf(fmt, ap);
	va_end(ap);
	return s;
}

void afk__wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

void afk__free_secret(char *s)
{
	if (s == NULL)
		return;
	afk__wipe(s, strlen(s));
	free(s);
}

int afk__utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p, n, cp;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (p++; n > 0; n--, p++) {
			if ((*p & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (*p & 0x3f);
		}
		/* overlong, surrogate or past U+10FFFF */
		if ((cp < 0x800 && c >= 0xe0) || (cp < 0x10000 && c >= 0xf0) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
	}
	return 1;
}

/* Seconds since the epoch of an ISO 8601 UTC time "YYYY-MM-DDTHH:MM:SSZ",
 * or -1. */
long long afk__utc_seconds(const char *s)
{
	int y, mo, d, h, mi, se, n = 0;
	long long days;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d,
	                        &h, &mi, &se, &n) != 6 || n != 20 ||
	    mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60)
		return -1;
	/* Days from the civil date (H. Hinnant's algorithm). */
	y -= mo <= 2;
	days = (long long)(y >= 0 ? y : y - 399) / 400 * 146097;
	{
		long long yoe = y - ((y >= 0 ? y : y - 399) / 400) * 400;
		long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;

		days += yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
	}
	return days * 86400 + h * 3600 + mi * 60 + se;
}
