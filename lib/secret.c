/*
 * lib/secret.c - reads a secret (a token, a webhook) from the environment
 * variable or the file the configuration names; the configuration itself
 * never holds one.  One reader for every built-in, so that all refuse
 * the same malformed secrets with the same words.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET_MAX 4096        /* bytes of a token or webhook file */

/* Drops trailing whitespace (a file's newline). */
static void trim_end(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
	                 s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static int has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7F)
			return 1;
	return 0;
}

/* Reads the file at path (at most SECRET_MAX bytes) into a heap string. */
static int read_small(const char *path, char **out)
{
	char *buf = malloc(SECRET_MAX + 1);
	size_t len = 0;
	ssize_t n;
	int fd, err = 0;

	if (buf == NULL)
		return ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		free(buf);
		return err;
	}
	for (;;) {
		n = read(fd, buf + len, SECRET_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = errno;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len > SECRET_MAX) {
			err = EFBIG;
			break;
		}
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int afk__secret_read(const char *env, const char *file, const char *what,
                     char **out, char *errbuf)
{
	const char *v;
	char *s = NULL;
	int err;

	*out = NULL;
	if (env != NULL) {
		v = getenv(env);
		if (v == NULL || v[0] == '\0') {
			afk__errf(errbuf, "%s: the environment variable %s is "
			          "not set", what, env);
			return AFK_ECONFIG;
		}
		s = afk__strdup(v);
		if (s == NULL) {
			afk__errf(errbuf, "%s: out of memory", what);
			return AFK_ENOMEM;
		}
	} else if (file != NULL) {
		err = read_small(file, &s);
		if (err) {
			afk__errf(errbuf, "%s: cannot read %s: %s", what, file,
			          err == EFBIG ? "larger than 4 KiB" :
			          strerror(err));
			return err == ENOMEM ? AFK_ENOMEM : AFK_ECONFIG;
		}
	} else {
		afk__errf(errbuf, "%s: no secret configured", what);
		return AFK_ECONFIG;
	}
	trim_end(s);
	if (s[0] == '\0' || has_ctl(s)) {
		/* The value is never quoted: it is the secret. */
		afk__errf(errbuf, "%s: the secret from %s is %s", what,
		          env ? env : file, s[0] ? "not one line" : "empty");
		memset(s, 0, strlen(s));
		free(s);
		return AFK_ECONFIG;
	}
	*out = s;
	return AFK_OK;
}
