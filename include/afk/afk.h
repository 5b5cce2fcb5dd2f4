/*
 * afk/afk.h - libafk, a control plane for coding agents that work a
 * team's issue tracker while the team is away.  Include this one header.
 */
#ifndef AFK_AFK_H
#define AFK_AFK_H

#include <afk/common.h>
#include <afk/config.h>
#include <afk/issue.h>
#include <afk/adapter.h>
#include <afk/skip.h>
#include <afk/poller.h>
#include <afk/run.h>
#include <afk/watcher.h>

#endif /* AFK_AFK_H */
