/*
 * afk/common.h - version, error codes and memory of libafk.
 *
 * Every libafk function that can fail returns an int: 0 (AFK_OK) on
 * success or one of the negative AFK_E* codes below.  A callback's own
 * negative code is passed through to the caller unchanged, so a caller may
 * also see codes of its own callbacks - with one documented exception: a
 * label that fails after its dispatch succeeded is AFK_ELABEL, because
 * the caller must know that an agent runs without a lock.  The detailed message of a failure
 * lives on the handle that failed (afk_config_errmsg(), afk_poller_errmsg(),
 * ...); afk_strerror() names a code.
 */
#ifndef AFK_COMMON_H
#define AFK_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define AFK_EXTERN __attribute__((visibility("default")))
#else
#define AFK_EXTERN
#endif

/* The version of the headers; afk_version() is the library's at run time. */
#define AFK_VERSION_MAJOR 1
#define AFK_VERSION_MINOR 1
#define AFK_VERSION_PATCH 0
#define AFK_VERSION_STRING "1.1.0"
/* 0xMMmmpp: compare with >= to test for a feature at compile time. */
#define AFK_VERSION_NUM 0x010100

#define AFK_OK 0
#define AFK_EINVAL (-1)     /* an argument was invalid (NULL, out of range) */
#define AFK_ENOMEM (-2)     /* memory ran out */
#define AFK_ECONFIG (-3)    /* a configuration value was refused */
#define AFK_EIO (-4)        /* a file or system call failed */
#define AFK_ERECURSIVE (-5) /* a tick was called from its own callback */
#define AFK_ECALLBACK (-6)  /* a callback failed or broke its contract */
#define AFK_ELABEL (-7)     /* a label failed after a successful dispatch */
#define AFK_ENOTSUP (-8)    /* a callback the tick needs is not registered */
#define AFK_EPARSE (-9)     /* data read from a file or a server is malformed */
#define AFK_EUNAVAIL (-10)  /* a server could not be reached (refused, timed out) */

/* Called once when a handle's userdata is replaced or its handle freed
 * (the adapters' afk_tracker_set_userdata(), afk_config_set_log()). */
typedef void (*afk_destroy_fn)(void *userdata);

/* The library's version, "MAJOR.MINOR.PATCH"; a static string. */
AFK_EXTERN const char *afk_version(void);

/* A static English description of an AFK_* code; never NULL. */
AFK_EXTERN const char *afk_strerror(int code);

/* Frees memory that libafk handed to the caller; NULL is a no-op. */
AFK_EXTERN void afk_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* AFK_COMMON_H */
