/*
 * lib/builtin/registry.c - the built-in adapters, one row each.
 *
 * A row names the afk__builtin its module defines.  The configuration
 * learns the kinds from here (afk_config_new() hands it
 * afk__registry_kind()), and afk_*_set_builtin() looks the selected kind
 * up here and calls its setup.  Adding a built-in is its module and one
 * row below; the order of a role's rows is the order its kinds are
 * listed in messages.
 *
 * The arrows point one way: this file knows the built-ins and the
 * configuration; a built-in knows the public adapter API, the
 * configuration's accessors and the network layer; the configuration
 * knows no built-in.
 */
#include "builtin/builtin.h"

#include <string.h>

#define AFK__BUILTINS(X) \
	X(afk__builtin_file_tracker) \
	X(afk__builtin_github_tracker) \
	X(afk__builtin_forgejo_tracker) \
	X(afk__builtin_command_agent) \
	X(afk__builtin_t3_agent) \
	X(afk__builtin_kubernetes_agent) \
	X(afk__builtin_command_ci) \
	X(afk__builtin_github_ci) \
	X(afk__builtin_forgejo_ci) \
	X(afk__builtin_stdout_notifier) \
	X(afk__builtin_file_notifier) \
	X(afk__builtin_slack_notifier) \
	X(afk__builtin_command_notifier)

#define AFK__DECLARE(name) extern const afk__builtin name;
AFK__BUILTINS(AFK__DECLARE)
#undef AFK__DECLARE

#define AFK__ROW(name) &name,
static const afk__builtin *const builtins[] = {AFK__BUILTINS(AFK__ROW)};
#undef AFK__ROW

#define NBUILTINS (sizeof(builtins) / sizeof(*builtins))

const afk__kind *afk__registry_kind(afk__role role, size_t i)
{
	size_t j;

	for (j = 0; j < NBUILTINS; j++)
		if (builtins[j]->kind.role == role && i-- == 0)
			return &builtins[j]->kind;
	return NULL;
}

int afk_config_new(afk_config **out)
{
	return afk__config_new(out, afk__registry_kind);
}

/* The built-in of cfg's kind for role, or NULL with why in errbuf. */
static const afk__builtin *selected(const afk_config *cfg, afk__role role,
                                    char *errbuf)
{
	static const char *const noun[AFK__ROLE_COUNT] = {
		"tracker", "agent", "CI", "notifier"
	};
	const afk__kind *kind = afk__config_kind(cfg, role);
	size_t j;

	if (kind == NULL) {
		afk__errf(errbuf, "the configuration selects no %s (set the "
		          "\"%s\" key)", noun[role], afk__role_key(role));
		return NULL;
	}
	for (j = 0; j < NBUILTINS; j++)
		if (&builtins[j]->kind == kind)
			return builtins[j];
	/* A configuration made with other kinds (afk__config_new()). */
	afk__errf(errbuf, "%s kind \"%s\" is not built in", noun[role],
	          kind->name);
	return NULL;
}

int afk_tracker_set_builtin(afk_tracker *tracker, const afk_config *cfg)
{
	const afk__builtin *b;

	if (tracker == NULL || cfg == NULL)
		return AFK_EINVAL;
	tracker->errmsg[0] = '\0';
	b = selected(cfg, AFK__ROLE_TRACKER, tracker->errmsg);
	return b ? b->setup.tracker(tracker, cfg, tracker->errmsg) :
	       AFK_ECONFIG;
}

int afk_agent_set_builtin(afk_agent *agent, const afk_config *cfg)
{
	const afk__builtin *b;

	if (agent == NULL || cfg == NULL)
		return AFK_EINVAL;
	agent->errmsg[0] = '\0';
	b = selected(cfg, AFK__ROLE_AGENT, agent->errmsg);
	return b ? b->setup.agent(agent, cfg, agent->errmsg) : AFK_ECONFIG;
}

int afk_ci_set_builtin(afk_ci *ci, const afk_config *cfg)
{
	const afk__builtin *b;

	if (ci == NULL || cfg == NULL)
		return AFK_EINVAL;
	ci->errmsg[0] = '\0';
	b = selected(cfg, AFK__ROLE_CI, ci->errmsg);
	return b ? b->setup.ci(ci, cfg, ci->errmsg) : AFK_ECONFIG;
}

int afk_notifier_set_builtin(afk_notifier *notifier, const afk_config *cfg)
{
	const afk__builtin *b;

	if (notifier == NULL || cfg == NULL)
		return AFK_EINVAL;
	notifier->errmsg[0] = '\0';
	b = selected(cfg, AFK__ROLE_NOTIFIER, notifier->errmsg);
	return b ? b->setup.notifier(notifier, cfg, notifier->errmsg) :
	       AFK_ECONFIG;
}
