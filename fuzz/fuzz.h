/*
 * fuzz/fuzz.h - what the libFuzzer harnesses share.  Not part of the
 * library: each harness is built with the library's sources compiled
 * into it (fuzz/build.sh), so it can reach the internal decoders.
 *
 * A property that does not hold aborts through FUZZ_ASSERT, which
 * libFuzzer reports as a crash with the input that broke it.
 */
#ifndef AFK_FUZZ_H
#define AFK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"

#define FUZZ_ASSERT(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "property failed: %s (%s:%d)\n", #cond, \
		        __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

/* A NUL-terminated heap copy of the input, NULs included as bytes (the
 * string then ends at the first one, as a C reader would see it). */
char *fuzz_str(const uint8_t *data, size_t size);

/* --- the scripted HTTP layer ----------------------------------------
 *
 * The network harnesses link the real HTTP layer, but every call of
 * afk__http_run() from the adapters is wrapped (-Wl,--wrap) into
 * fuzz_http_run(): each request of a batch, in order, is answered with
 * the next response of the script - the input split at 0x1e bytes.  A
 * response that starts with a line "HTTP <status>[ next]" gets that
 * status (and a Link header with a rel="next" target); otherwise 200.
 * The rest is the body.  The answers are logged for the properties. */

#define FUZZ_SEP '\x1e'

typedef struct fuzz_answer {
	char *url;        /* the request's */
	long status;
	char *body;
} fuzz_answer;

/* Starts a script over the n bytes at data (borrowed until the next
 * fuzz_script_start). */
void fuzz_script_start(const uint8_t *data, size_t n);
/* The answers given since, in order. */
size_t fuzz_script_answers(const fuzz_answer **out);
/* Frees the log. */
void fuzz_script_end(void);

/* 1 when the t string ends with suffix s. */
int fuzz_ends_with(const char *t, const char *s);

/* The path of file name in a fresh scratch directory (on tmpfs when
 * there is one), both removed when the run ends; a static string.
 * Aborts when no directory can be made.  Once per process. */
const char *fuzz_scratch_file(const char *name);

#endif

/* --- reading structured values out of the input ---------------------- */

typedef struct fuzz_in {
	const uint8_t *p;
	size_t n;
} fuzz_in;

static inline unsigned fuzz_byte(fuzz_in *in)
{
	unsigned b = 0;

	if (in->n > 0) {
		b = in->p[0];
		in->p++;
		in->n--;
	}
	return b;
}

static inline long long fuzz_i64(fuzz_in *in)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | fuzz_byte(in);
	return (long long)v;
}

/* A string of up to 255 bytes (a length byte, then the bytes; a NUL in
 * them ends it); heap. */
static inline char *fuzz_take_str(fuzz_in *in)
{
	size_t n = fuzz_byte(in);

	if (n > in->n)
		n = in->n;
	in->p += n;
	in->n -= n;
	return fuzz_str(in->p - n, n);
}
