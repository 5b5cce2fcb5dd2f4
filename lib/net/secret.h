/*
 * lib/net/secret.h - reads a secret (a token, a webhook) from the
 * environment variable or the file the configuration names.  Internal.
 */
#ifndef AFK_LIB_SECRET_H
#define AFK_LIB_SECRET_H

/* Reads a secret from the environment variable env or, when env is NULL,
 * the file at path file; trailing whitespace is dropped, an empty or
 * multi-line secret refused.  *out is the caller's (free()); what names
 * it in errbuf's message, which never holds the secret. */
int afk__secret_read(const char *env, const char *file, const char *what,
                     char **out, char *errbuf);

#endif
