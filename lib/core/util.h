/*
 * lib/core/util.h - small helpers shared by every module: strings, growable
 * arrays and per-handle error messages.  Internal.
 */
#ifndef AFK_LIB_UTIL_H
#define AFK_LIB_UTIL_H

#include <stdarg.h>
#include <stddef.h>

#include "afk/common.h"

#define AFK__ERRMSG_SIZE 512

/* strdup that returns NULL for NULL and on failure. */
char *afk__strdup(const char *s);

/* A growable array of owned strings. */
typedef struct afk__strv {
	char **v;
	size_t n;
	size_t cap;
} afk__strv;

/* Appends a copy of s; AFK_ENOMEM on failure (v unchanged). */
int afk__strv_push(afk__strv *v, const char *s);
/* Index of s in v, or -1. */
long afk__strv_find(const afk__strv *v, const char *s);
/* Frees the strings and the array; leaves v empty and reusable. */
void afk__strv_clear(afk__strv *v);
/* Replaces *dst by a deep copy of src; on failure dst is unchanged. */
int afk__strv_copy(afk__strv *dst, const afk__strv *src);

/* 1 when s is well-formed UTF-8 (no overlongs, no surrogates), else 0.
 * What goes into JSON - the run record - must be. */
int afk__utf8_valid(const char *s);

/* Copies at most n bytes of the string s into dst (size bytes) on one
 * line: line breaks become spaces, other control characters '?', so that
 * what a command printed can neither split a log line nor move a
 * terminal's cursor.  Trailing spaces are dropped; a cut ends in "...". */
void afk__one_line(char *dst, size_t size, const char *s, size_t n);

/* Makes room for n more elements of size elem in *arr (count *len,
 * capacity *cap), doubling.  AFK_ENOMEM on failure, *arr unchanged. */
int afk__grow(void **arr, size_t *cap, size_t len, size_t n, size_t elem);

/* Formats into an error buffer of AFK__ERRMSG_SIZE bytes, truncating. */
void afk__errf(char *buf, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Heap printf; NULL on failure.  Free with free(). */
char *afk__aprintf(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
char *afk__vaprintf(const char *fmt, va_list ap)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 0)))
#endif
	;

/* Overwrites the n bytes at p with zeros through a volatile pointer, a
 * store the compiler may not drop as dead because the memory is freed
 * next (a plain memset() before free() it may). */
void afk__wipe(void *p, size_t n);

/* Wipes the string s (a secret, or a text that held one) and frees it;
 * NULL is a no-op. */
void afk__free_secret(char *s);

/* Seconds since the epoch of an ISO 8601 UTC time "YYYY-MM-DDTHH:MM:SSZ"
 * (GitHub's, Kubernetes' timestamps), or -1. */
long long afk__utc_seconds(const char *s);

#endif
