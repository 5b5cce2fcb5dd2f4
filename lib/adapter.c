/*
 * lib/adapter.c - adapter handles, callback registration and the call.
 */
#include "adapter.h"

#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "config.h"

/* --- the call -------------------------------------------------------- */

void afk__call_init(afk_call *call, enum afk__call_kind kind,
                    afk__iset *issues)
{
	memset(call, 0, sizeof(*call));
	call->kind = kind;
	call->issues = issues;
}

void afk__call_clear(afk_call *call)
{
	free(call->message);
	free(call->thread_id);
	call->message = NULL;
	call->thread_id = NULL;
}

int afk__call_finish(afk_call *call, int rc, const char *what, char *errbuf)
{
	if (rc == 0 && call->lost)
		rc = AFK_ENOMEM;
	if (rc > 0)
		rc = AFK_ECALLBACK;
	if (rc == 0)
		return AFK_OK;
	if (call->message != NULL)
		afk__errf(errbuf, "%s: %s", what, call->message);
	else
		afk__errf(errbuf, "%s: callback failed (%d: %s)", what, rc,
		          afk_strerror(rc));
	return rc;
}

int afk_call_set_error(afk_call *call, const char *message)
{
	char *m;

	if (call == NULL || message == NULL)
		return AFK_EINVAL;
	m = afk__strdup(message);
	if (m == NULL)
		return AFK_ENOMEM;
	free(call->message);
	call->message = m;
	return AFK_OK;
}

int afk_call_add_issue(afk_call *call, const afk_issue *issue)
{
	if (call == NULL || issue == NULL || call->kind != AFK__CALL_LIST_READY)
		return AFK_EINVAL;
	/* An issue the callback believes handed over must not vanish
	 * silently, even if the callback ignores this return. */
	if (afk__iset_add(call->issues, issue)) {
		call->lost = 1;
		return AFK_ENOMEM;
	}
	return AFK_OK;
}

int afk_call_set_thread_id(afk_call *call, const char *thread_id)
{
	char *t;

	if (call == NULL || thread_id == NULL || thread_id[0] == '\0' ||
	    call->kind != AFK__CALL_DISPATCH)
		return AFK_EINVAL;
	t = afk__strdup(thread_id);
	if (t == NULL) {
		call->lost = 1;
		return AFK_ENOMEM;
	}
	free(call->thread_id);
	call->thread_id = t;
	return AFK_OK;
}

/* --- the tracker ----------------------------------------------------- */

int afk_tracker_new(afk_tracker **out)
{
	if (out == NULL)
		return AFK_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? AFK_OK : AFK_ENOMEM;
}

void afk_tracker_free(afk_tracker *tracker)
{
	if (tracker == NULL)
		return;
	if (tracker->destroy)
		tracker->destroy(tracker->userdata);
	free(tracker);
}

int afk_tracker_set_userdata(afk_tracker *tracker, void *userdata,
                             afk_destroy_fn destroy)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	if (userdata == tracker->userdata && destroy == tracker->destroy)
		return AFK_OK; /* the same again: destroying it would free it */
	if (tracker->destroy)
		tracker->destroy(tracker->userdata);
	tracker->userdata = userdata;
	tracker->destroy = destroy;
	return AFK_OK;
}

int afk_tracker_set_list_ready(afk_tracker *tracker, afk_list_ready_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->list_ready = fn;
	return AFK_OK;
}

int afk_tracker_set_add_label(afk_tracker *tracker, afk_add_label_fn fn)
{
	if (tracker == NULL)
		return AFK_EINVAL;
	tracker->add_label = fn;
	return AFK_OK;
}

int afk_tracker_set_builtin(afk_tracker *tracker, const afk_config *cfg)
{
	if (tracker == NULL || cfg == NULL)
		return AFK_EINVAL;
	tracker->errmsg[0] = '\0';
	if (cfg->tracker_kind == NULL) {
		afk__errf(tracker->errmsg, "the configuration selects no "
		          "tracker (set the \"tracker\" key)");
		return AFK_ECONFIG;
	}
	if (strcmp(cfg->tracker_kind, "file") == 0)
		return afk__builtin_file_tracker(tracker, cfg, tracker->errmsg);
	afk__errf(tracker->errmsg, "tracker kind \"%s\" is not built in",
	          cfg->tracker_kind);
	return AFK_ECONFIG;
}

const char *afk_tracker_errmsg(const afk_tracker *tracker)
{
	return tracker ? tracker->errmsg : "";
}

/* --- the agent ------------------------------------------------------- */

int afk_agent_new(afk_agent **out)
{
	if (out == NULL)
		return AFK_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? AFK_OK : AFK_ENOMEM;
}

void afk_agent_free(afk_agent *agent)
{
	if (agent == NULL)
		return;
	if (agent->destroy)
		agent->destroy(agent->userdata);
	free(agent);
}

int afk_agent_set_userdata(afk_agent *agent, void *userdata,
                           afk_destroy_fn destroy)
{
	if (agent == NULL)
		return AFK_EINVAL;
	if (userdata == agent->userdata && destroy == agent->destroy)
		return AFK_OK; /* the same again: destroying it would free it */
	if (agent->destroy)
		agent->destroy(agent->userdata);
	agent->userdata = userdata;
	agent->destroy = destroy;
	return AFK_OK;
}

int afk_agent_set_dispatch(afk_agent *agent, afk_dispatch_fn fn)
{
	if (agent == NULL)
		return AFK_EINVAL;
	agent->dispatch = fn;
	return AFK_OK;
}

int afk_agent_set_builtin(afk_agent *agent, const afk_config *cfg)
{
	if (agent == NULL || cfg == NULL)
		return AFK_EINVAL;
	agent->errmsg[0] = '\0';
	if (cfg->agent_kind == NULL) {
		afk__errf(agent->errmsg, "the configuration selects no agent "
		          "(set the \"agent\" key)");
		return AFK_ECONFIG;
	}
	if (strcmp(cfg->agent_kind, "command") == 0)
		return afk__builtin_command_agent(agent, cfg, agent->errmsg);
	afk__errf(agent->errmsg, "agent kind \"%s\" is not built in",
	          cfg->agent_kind);
	return AFK_ECONFIG;
}

const char *afk_agent_errmsg(const afk_agent *agent)
{
	return agent ? agent->errmsg : "";
}
