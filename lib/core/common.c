/*
 * lib/core/common.c - version, error names and the library's free().
 */
#include <stdlib.h>

#include "afk/common.h"

const char *afk_version(void)
{
	return AFK_VERSION_STRING;
}

const char *afk_strerror(int code)
{
	switch (code) {
	case AFK_OK:
		return "success";
	case AFK_EINVAL:
		return "invalid argument";
	case AFK_ENOMEM:
		return "out of memory";
	case AFK_ECONFIG:
		return "invalid configuration";
	case AFK_EIO:
		return "file or system error";
	case AFK_ERECURSIVE:
		return "tick called from inside its own callback";
	case AFK_ECALLBACK:
		return "callback failed";
	case AFK_ELABEL:
		return "label failed after a successful dispatch";
	case AFK_ENOTSUP:
		return "callback not registered";
	case AFK_EPARSE:
		return "malformed data";
	case AFK_EUNAVAIL:
		return "server unreachable";
	default:
		return "unknown error";
	}
}

/* The caller must not mix allocators: what libafk allocated, libafk frees
 * (a host may link another malloc than the library's). */
void afk_free(void *ptr)
{
	free(ptr);
}
