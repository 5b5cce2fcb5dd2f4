/*
 * afk/skip.h - why an issue the tracker listed was not dispatched.
 *
 * Its own header so that the pure selection (lib/core/policy.c), which
 * decides most of these, needs nothing of the poll tick; <afk/poller.h>
 * includes it, so every user of the tick still has them.
 */
#ifndef AFK_SKIP_H
#define AFK_SKIP_H

#include <afk/common.h>

#define AFK_SKIP_NOT_ALLOWLISTED 1 /* its repository is not allowlisted */
#define AFK_SKIP_IN_PROGRESS 2     /* it carries the in-progress label */
#define AFK_SKIP_UNTRUSTED 3       /* ready label not applied by a trusted user */
#define AFK_SKIP_BLOCKED 4         /* an open issue blocks it */
#define AFK_SKIP_LOCKED 5          /* its repository has a run in progress */
#define AFK_SKIP_OUTRANKED 6       /* another issue of its repository won */
#define AFK_SKIP_DISPATCH_FAILED 7 /* its dispatch failed; it was not labelled */
#define AFK_SKIP_NOT_REACHED 8     /* the tick stopped on an error first */
#define AFK_SKIP_REPO_FAILED 9     /* its repository could not be listed */
#define AFK_SKIP_UNVETTED 10       /* its ready label's author could not be read */
#define AFK_SKIP_AGENT_UNAVAILABLE 11 /* the agent could not be reached this tick */
#define AFK_SKIP_STOPPING 12       /* a human took its run back: being stopped */
#define AFK_SKIP_CAPPED 13         /* max_in_flight runs are in flight */

#endif /* AFK_SKIP_H */
