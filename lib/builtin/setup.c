/*
 * lib/builtin/setup.c - what every built-in's setup shares: the start of
 * its messages (where the member was set, and which adapter failed) and
 * its HTTP handle, made from the configuration's "http" settings.
 */
#include "builtin/builtin.h"

#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>

char *afk__setup_what(const afk_config *cfg, const char *key,
                      const char *member, const char *label)
{
	char where[AFK__ERRMSG_SIZE / 2];

	afk__config_where(cfg, key, member, where, sizeof(where));
	return afk__aprintf("%s: %s", where, label);
}

int afk__setup_secret(const afk_config *cfg, afk__role role,
                      const char *name, const char *label, char **out,
                      char **what, char *errbuf)
{
	char member[48], *w;
	const char *env, *file;
	int rc;

	*out = NULL;
	snprintf(member, sizeof(member), "%s_env", name);
	env = afk__config_str(cfg, role, member);
	if (env == NULL)
		snprintf(member, sizeof(member), "%s_file", name);
	file = afk__config_str(cfg, role, member);
	w = afk__setup_what(cfg, afk__role_key(role), member, label);
	rc = w ? afk__secret_read(env, file, w, out, errbuf) : AFK_ENOMEM;
	if (rc == AFK_ENOMEM)
		afk__errf(errbuf, "%s: out of memory", label);
	if (what != NULL && rc == AFK_OK)
		*what = w;
	else
		free(w);
	return rc;
}

int afk__setup_http(const afk_config *cfg, const char *label,
                    afk__http **out, char *errbuf)
{
	char why[AFK__ERRMSG_SIZE], where[AFK__ERRMSG_SIZE / 2];
	char *cache = NULL;
	afk__http_opts o;
	int rc, none = 1;

	/* http.etag_cache, else the state directory's cache. */
	afk__http_opts_from_config(&o, cfg);
	if (o.etag_cache == NULL)
		o.etag_cache = cache = afk__config_state_path(cfg,
		                                              "etag-cache.json",
		                                              &none);
	if (o.etag_cache == NULL && !none) {
		afk__errf(errbuf, "%s: out of memory", label);
		return AFK_ENOMEM;
	}
	rc = afk__http_new(out, &o, why);
	if (rc == AFK_ECONFIG) {
		if (cache != NULL)
			snprintf(where, sizeof(where), "state_dir");
		else
			afk__config_where(cfg, "http", "etag_cache", where,
			                  sizeof(where));
		afk__errf(errbuf, "%s: %s: %s", where, label, why);
	} else if (rc != AFK_OK) {
		afk__errf(errbuf, "%s: %s", label, why);
	}
	free(cache);
	return rc;
}

void afk__http_opts_from_config(afk__http_opts *o, const afk_config *cfg)
{
	o->per_host = cfg->http_per_host;
	o->connect_timeout = cfg->http_connect_timeout;
	o->timeout = cfg->http_timeout;
	o->max_body = (size_t)cfg->http_max_body;
	o->max_pages = cfg->http_max_pages;
	o->etag_cache = cfg->http_etag_cache;
	o->rate_reserve = cfg->http_rate_reserve;
	o->etag_cache_read_only = cfg->http_etag_cache_read_only;
	o->log = cfg->log;
	o->ca_file = NULL;  /* a built-in that needs one sets it */
}

int afk__setup_agent(afk_agent *agent, void *userdata,
                     void (*free_fn)(void *), const afk__agent_fns *fns,
                     char *errbuf)
{
	int rc;

	rc = afk_agent_set_userdata(agent, userdata, free_fn);
	if (rc != AFK_OK) {
		free_fn(userdata);
		afk__errf(errbuf, "agent: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	rc = afk_agent_set_dispatch(agent, fns->dispatch);
	if (rc == AFK_OK)
		rc = afk_agent_set_snapshot(agent, fns->snapshot);
	if (rc == AFK_OK)
		rc = afk_agent_set_send_turn(agent, fns->send_turn);
	if (rc == AFK_OK)
		rc = afk_agent_set_stop(agent, fns->stop);
	if (rc == AFK_OK)
		rc = afk_agent_set_probe(agent, fns->probe);
	if (fns->tick_end != NULL)
		afk__agent_set_tick_end(agent, fns->tick_end);
	if (rc != AFK_OK)
		afk__errf(errbuf, "agent: cannot register the %s callbacks: %s",
		          fns->name, afk_strerror(rc));
	return rc;
}
