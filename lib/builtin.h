/*
 * lib/builtin.h - the built-in adapters, selected by the configuration's
 * "tracker" and "agent" keys.  Each registers its callbacks through the
 * public registration functions, as a host's adapter would.  Internal.
 */
#ifndef AFK_LIB_BUILTIN_H
#define AFK_LIB_BUILTIN_H

#include "afk/adapter.h"
#include "config.h"

/* The "file" tracker: issues kept in a local JSON file (see afk.json(5)).
 * Registers list_ready and add_label on tracker with a private userdata
 * copied from cfg.  Returns 0 or an AFK_E* code with why in errbuf
 * (AFK__ERRMSG_SIZE bytes). */
int afk__builtin_file_tracker(afk_tracker *tracker, const afk_config *cfg,
                              char *errbuf);

/* The "command" agent: a local command run once per dispatch, its thread
 * id and output kept under the state directory.  Registers dispatch. */
int afk__builtin_command_agent(afk_agent *agent, const afk_config *cfg,
                               char *errbuf);

#endif
