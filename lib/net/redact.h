/*
 * lib/net/redact.h - the one redaction step every error message and warning
 * of the network adapters passes through.  Internal.
 *
 * What is replaced by "[REDACTED]":
 *   - every occurrence of each secret the caller names (a token, a whole
 *     "Bearer X" header value);
 *   - every run of AFK__REDACT_FRAGMENT (8) or more bytes that is also a
 *     part of such a secret: a token a server quotes cut, begun or
 *     spliced into other text, so that no 8 bytes of a secret are ever
 *     shown, whatever the text around them (of a URL, a webhook's, the
 *     part after its host: the scheme and host are no secret, and a
 *     message about the connection names them);
 *   - the value of a credential-like parameter in a URL query or a form
 *     (after '?', '&' or ';', before '='; case ignored): token, secret,
 *     key, password, passwd, sig, signature or auth, alone or after '_',
 *     '-' or '.' (access_token=, api_key=, client_secret=, x-auth=), and
 *     apikey, accesstoken, authtoken, privatetoken;
 *   - the password of a URL's user information (scheme://user:PASS@host);
 *   - what follows "Bearer " and "Authorization: " up to the end of the
 *     word or the line, so a server that echoes a header back does not
 *     show a token the caller did not name.
 *
 * The replacement is made on the whole text first and the result cut to
 * the buffer afterwards, so that no prefix of a secret survives a cut:
 * a message is formatted whole (afk__redact_format()), and a text that
 * must be bounded before it is redacted is cut where no secret begins
 * (afk__redact_cut_len()).  A secret shorter than 16 bytes is refused
 * where it is read (lib/net/secret.c): the fragment rule hides all of a
 * secret but at most 7 bytes, which must be the lesser part of it.
 */
#ifndef AFK_LIB_REDACT_H
#define AFK_LIB_REDACT_H

#include <stdarg.h>
#include <stddef.h>

#define AFK__REDACTED "[REDACTED]"
#define AFK__REDACT_FRAGMENT 8   /* bytes of a secret never shown */

/* Redacts the NUL-terminated string in buf (size bytes of storage) in
 * place.  secrets is a NULL-terminated array (NULL: none); empty strings
 * in it are skipped.  A result longer than size - 1 bytes is cut there.
 * Never fails: when memory runs out every byte a rule would replace is
 * overwritten with '*' instead, in place.  Returns the number of
 * replacements made. */
size_t afk__redact(char *buf, size_t size, const char *const *secrets);

/* The redacted copy of s in a heap string (free with free()), or NULL
 * when memory runs out. */
char *afk__redact_dup(const char *s, const char *const *secrets);

/* Formats fmt into dst (size bytes) through the redaction step: the
 * whole message is formatted on the heap, redacted, and only then cut to
 * size (at a UTF-8 boundary).  When memory runs out it is formatted into
 * dst, cut where no secret begins, and redacted in place. */
void afk__redact_format(char *dst, size_t size, const char *const *secrets,
                        const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
void afk__redact_vformat(char *dst, size_t size,
                         const char *const *secrets, const char *fmt,
                         va_list ap)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 0)))
#endif
	;

/* Where to cut a text that goes on past its first max bytes (s[max] is
 * readable) when it must be bounded before it is redacted: at most max,
 * less the longest tail of s[0..max) that begins a secret (so that no
 * prefix of a secret is left to escape the redaction), and never inside
 * a UTF-8 sequence. */
size_t afk__redact_cut_len(const char *s, size_t max,
                           const char *const *secrets);

#endif
