/*
 * lib/redact.h - the one redaction step every error message and warning
 * of the network adapters passes through.  Internal.
 *
 * What is replaced by "[REDACTED]":
 *   - every occurrence of each secret the caller names (a token, a whole
 *     "Bearer X" header value);
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
 * the buffer afterwards, so that no prefix of a secret survives a cut.
 */
#ifndef AFK_LIB_REDACT_H
#define AFK_LIB_REDACT_H

#include <stddef.h>

#define AFK__REDACTED "[REDACTED]"

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

#endif
