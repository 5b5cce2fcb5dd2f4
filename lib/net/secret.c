/*
 * lib/net/secret.c - reads a secret (a token, a webhook) from the environment
 * variable or the file the configuration names; the configuration itself
 * never holds one.  One reader for every built-in, so that all refuse
 * the same malformed secrets with the same words.
 *
 * A secret shorter than SECRET_MIN bytes is refused: messages hide every
 * 8 bytes of a secret (lib/net/redact.h), so what may show of one is at most
 * 7 bytes, which must be the lesser part of it - and a secret of a byte
 * or two would blank those bytes out of every message.  Every copy made
 * here is wiped before it is freed.
 */
#define _POSIX_C_SOURCE 200809L

#include "net/secret.h"

#include "afk/common.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_MAX 4096        /* bytes of a token or webhook file */
#define SECRET_MIN 16          /* bytes of a secret, at least */
#define NOT_REGULAR (-1)       /* read_small(): a FIFO, a device, ... */

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

/* Opens path for reading, only when it is a regular file: a FIFO would
 * block the tick until a writer came, a device could be read forever.
 * The open itself never blocks (O_NONBLOCK, cleared once the file is
 * known to be regular).  Returns the descriptor, or -1 with *err an
 * errno value or NOT_REGULAR. */
static int open_regular(const char *path, int *err)
{
	struct stat st;
	int fd, fl;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (fstat(fd, &st) != 0)
		*err = errno;
	else if (!S_ISREG(st.st_mode))
		*err = NOT_REGULAR;
	else if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	         fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		*err = errno;
	else
		return fd;
	close(fd);
	return -1;
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
	fd = open_regular(path, &err);
	if (fd < 0) {
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
		afk__wipe(buf, len);
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
	size_t n;
	int err, bad = 1;

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
			          err == NOT_REGULAR ? "not a regular file (a "
			          "FIFO or a device is never read)" :
			          strerror(err));
			return err == ENOMEM ? AFK_ENOMEM : AFK_ECONFIG;
		}
	} else {
		afk__errf(errbuf, "%s: no secret configured", what);
		return AFK_ECONFIG;
	}
	n = strlen(s);
	trim_end(s);
	/* The value is never quoted: it is the secret. */
	if (s[0] == '\0' || has_ctl(s))
		afk__errf(errbuf, "%s: the secret from %s is %s", what,
		          env ? env : file, s[0] ? "not one line" : "empty");
	else if (strlen(s) < SECRET_MIN)
		afk__errf(errbuf, "%s: the secret from %s is shorter than %d "
		          "bytes: too short to be told apart from the words of "
		          "a message, so messages could not hide it", what,
		          env ? env : file, SECRET_MIN);
	else
		bad = 0;
	if (bad) {
		afk__wipe(s, n);
		free(s);
		return AFK_ECONFIG;
	}
	*out = s;
	return AFK_OK;
}
