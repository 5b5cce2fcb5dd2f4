/*
 * fuzz/redact.c - the redaction step (lib/net/redact.c), through its
 * interface: afk__redact() and afk__redact_dup().
 *
 * The input names up to four secrets of at least MIN_SECRET bytes, then
 * a text made of filler and whole copies of the secrets.  Secrets are
 * drawn from lower-case letters, digits and "-_.~+/", the filler from
 * everything else printable (upper case, punctuation, blanks), so that
 * any run of MIN_SECRET bytes of a secret in the output can only come
 * from a copy the redaction failed to hide.
 *
 * Property: no MIN_SECRET-byte substring of a secret is in the output
 * (after the "[REDACTED]" markers are taken out, since "REDACTED" could
 * itself be part of a secret), whatever the buffer's size; and the
 * output of the buffer form is a prefix of the heap form's.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include "net/redact.h"

#define MIN_SECRET 8

static const char secret_chars[] =
	"abcdefghijklmnopqrstuvwxyz0123456789-_.~+/";
static const char filler_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ :=?&;@#'\"<>,()[]{}|\\!$%^*`\t\n";

/* Takes "[REDACTED]" out of s in place (a blank instead). */
static void unmark(char *s)
{
	char *p;
	size_t n = strlen(AFK__REDACTED);

	while ((p = strstr(s, AFK__REDACTED)) != NULL) {
		*p = ' ';
		memmove(p + 1, p + n, strlen(p + n) + 1);
	}
}

static void check(const char *out, char **secrets, size_t ns)
{
	char *s = strdup(out), w[MIN_SECRET + 1];
	size_t i, k, n;

	if (s == NULL)
		abort();
	unmark(s);
	for (i = 0; i < ns; i++) {
		n = strlen(secrets[i]);
		for (k = 0; k + MIN_SECRET <= n; k++) {
			memcpy(w, secrets[i] + k, MIN_SECRET);
			w[MIN_SECRET] = '\0';
			FUZZ_ASSERT(strstr(s, w) == NULL,
			            "part \"%s\" of secret \"%s\" is in the "
			            "output: %s", w, secrets[i], out);
		}
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in in = {data, size};
	char *secrets[5] = {NULL}, *text, *buf, *dup;
	size_t ns = 0, nwant, i, n, len = 0, cap, bufsize;
	unsigned b;

	nwant = 1 + fuzz_byte(&in) % 4;
	for (i = 0; i < nwant; i++) {
		char *s = fuzz_take_str(&in);

		n = strlen(s);
		for (size_t k = 0; k < n; k++)
			s[k] = secret_chars[(unsigned char)s[k] %
			                    (sizeof(secret_chars) - 1)];
		if (n < MIN_SECRET) {
			free(s);
			continue;
		}
		secrets[ns++] = s;
	}
	bufsize = fuzz_byte(&in);
	cap = in.n * 256 + 1;
	text = malloc(cap);
	if (text == NULL)
		abort();
	while (in.n > 0) {
		b = fuzz_byte(&in);
		if ((b & 0x80) != 0 && ns > 0) {
			n = strlen(secrets[b % ns]);
			memcpy(text + len, secrets[b % ns], n);
			len += n;
		} else {
			text[len++] = filler_chars[b % (sizeof(filler_chars) - 1)];
		}
	}
	text[len] = '\0';

	dup = afk__redact_dup(text, (const char *const *)secrets);
	FUZZ_ASSERT(dup != NULL, "afk__redact_dup failed");
	check(dup, secrets, ns);
	/* the buffer form: the text fills size bytes or fewer, and the
	 * result may be cut where the markers made it longer */
	bufsize = len + 1 + bufsize % 16;
	buf = malloc(bufsize);
	if (buf == NULL)
		abort();
	memcpy(buf, text, len + 1);
	afk__redact(buf, bufsize, (const char *const *)secrets);
	FUZZ_ASSERT(strlen(buf) < bufsize, "the output overran its buffer");
	check(buf, secrets, ns);
	FUZZ_ASSERT(strncmp(buf, dup, strlen(buf)) == 0,
	            "the cut output is not a prefix of the whole one:\n%s\n%s",
	            buf, dup);
	free(buf);
	free(dup);
	free(text);
	for (i = 0; i < ns; i++)
		free(secrets[i]);
	return 0;
}
