/*
 * lib/builtin/forge.c - what the "github" and "forgejo" adapters share (see
 * lib/builtin/forge.h).  Only code whose rules are the same on both forges is
 * here, so that a fix to one is a fix to both.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin/forge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stdio.h>

#include "core/adapter.h"
#include "core/jsonpos.h"

#define MAX_PRS 10             /* linked PRs read per status */

/* Makes the userdata of fk's adapter from the section of role. */
static int forge_new(const afk_config *cfg, afk__role role,
                     const afk__forge_kind *fk, struct afk__forge **out,
                     char *errbuf)
{
	const char *key = afk__role_key(role);
	const char *api = afk__config_str(cfg, role, "api_url");
	const char *deploy = afk__config_str(cfg, role, "deploy_environment");
	struct afk__forge *g;
	char *token = NULL, *label;
	size_t n;
	int rc;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return AFK_ENOMEM;
	g->headers = fk->headers;
	g->name = fk->name;
	/* The tracker and the CI may read one token: each names itself. */
	label = afk__aprintf("%s (%s)", role == AFK__ROLE_CI ? "CI" : key,
	                     fk->kind);
	rc = label ? afk__setup_secret(cfg, role, "token", label, &token, NULL,
	                               errbuf) : AFK_ENOMEM;
	if (rc != AFK_OK) {
		free(label);
		free(g);
		return rc;
	}
	rc = afk__setup_http(cfg, label, &g->http, errbuf);
	free(label);
	if (rc == AFK_OK)
		rc = afk__http_add_secret(g->http, token);
	if (rc == AFK_OK) {
		g->api = afk__strdup(api);
		g->auth = afk__aprintf("Authorization: %s %s", fk->scheme,
		                       token);
		g->ready = afk__strdup(cfg->ready_label);
		g->in_progress = afk__strdup(cfg->in_progress_label);
		g->trust_writers = cfg->trust_writers;
		g->max_pages = cfg->http_max_pages;
		g->comments_query = fk->comments_query;
		g->closed_query = fk->closed_query;
		if (deploy != NULL &&
		    (g->deploy_env = afk__strdup(deploy)) == NULL)
			rc = AFK_ENOMEM;
		if (g->api == NULL || g->auth == NULL || g->ready == NULL ||
		    g->in_progress == NULL ||
		    afk__strv_copy(&g->trusted, &cfg->trusted_users) != 0 ||
		    afk__config_strv(cfg, role, "agent_logins",
		                     &g->agent_logins) != 0)
			rc = AFK_ENOMEM;
	}
	afk__free_secret(token);
	if (rc != AFK_OK) {
		if (rc == AFK_ENOMEM)
			afk__errf(errbuf, "%s: out of memory", fk->kind);
		afk__forge_free(g);
		return rc;
	}
	n = strlen(g->api);
	while (n > 0 && g->api[n - 1] == '/')
		g->api[--n] = '\0';
	*out = g;
	return AFK_OK;
}

/* The issue o of repo, with its number and labels only: all the watch
 * needs of a closed one.  Pull requests, issues not "closed" and
 * malformed entries are skipped (*out NULL). */
static int closed_issue(json_t *o, const char *repo, afk_issue **out)
{
	json_t *num = json_object_get(o, "number"), *l;
	json_t *pr = json_object_get(o, "pull_request");
	const char *state = afk__forge_str_of(o, "state");
	afk_issue *is;
	size_t k;
	int rc;

	*out = NULL;
	/* GitHub lists pull requests as issues (Forgejo says null); and
	 * closed is what the issue itself says, not only what was asked: a
	 * stop must never come of an open issue */
	if (!json_is_object(o) || (pr != NULL && !json_is_null(pr)) ||
	    state == NULL || strcmp(state, "closed") != 0 ||
	    !json_is_integer(num) || json_integer_value(num) <= 0)
		return AFK_OK;
	rc = afk_issue_new(&is, repo, (long)json_integer_value(num));
	if (rc != AFK_OK)
		return rc;
	json_array_foreach(json_object_get(o, "labels"), k, l) {
		const char *name = afk__forge_str_of(l, "name");

		if (name != NULL && rc == AFK_OK)
			rc = afk_issue_add_label(is, name);
	}
	if (rc != AFK_OK) {
		afk_issue_free(is);
		return rc;
	}
	*out = is;
	return AFK_OK;
}

/* list_closed: one paginated GET per repository, in one batch - the
 * closed issues carrying label.  Conditional like every GET (the ETag
 * cache): an idle tick costs one 304 per repository.  A repository that
 * cannot be listed is its own failure (afk_call_add_error()). */
int afk__forge_list_closed(afk_call *call, const char *const *repos,
                           size_t nrepos, const char *label, void *userdata)
{
	struct afk__forge *g = userdata;
	char err[AFK__ERRMSG_SIZE], *lab = afk__forge_enc(label), *q;
	afk__forge_req *qs = calloc(nrepos ? nrepos : 1, sizeof(*qs));
	size_t *of = calloc(nrepos ? nrepos : 1, sizeof(*of));
	size_t i, k, n = 0;
	int rc = AFK_OK;

	if (lab == NULL || qs == NULL || of == NULL) {
		rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nrepos && rc == AFK_OK; i++) {
		char *base = NULL;

		rc = afk__forge_repo_base(g, repos[i], &base, err);
		if (rc == AFK_EINVAL) {   /* a name the forge cannot have */
			rc = afk__forge_add_error(call, repos[i], 0, rc, err);
			continue;
		}
		if (rc != AFK_OK) {
			rc = afk__call_failf(call, rc, "list closed issues: %s",
			                     err);
			break;
		}
		q = afk__aprintf(g->closed_query, lab);
		rc = afk__forge_req_set(g, &qs[n], "GET",
		        afk__aprintf("list closed issues of %s", repos[i]),
		        q ? afk__aprintf("%s/issues?%s", base, q) : NULL, NULL, 1);
		free(q);
		free(base);
		of[n++] = i;
		if (rc != AFK_OK)
			rc = afk__call_failf(call, rc, "out of memory");
	}
	if (rc == AFK_OK)
		rc = afk__forge_run_each(call, g, qs, n);
	for (k = 0; k < n && rc == AFK_OK; k++) {
		const char *repo = repos[of[k]];
		json_t *list, *o;
		size_t j;

		if (afk__forge_failed(&qs[k])) {
			rc = afk__forge_add_error(call, repo, 0,
			                          afk__forge_code(&qs[k]),
			                          qs[k].r.errmsg);
			continue;
		}
		list = afk__forge_body_of(call, &qs[k], 1);
		if (list == NULL) {
			rc = afk__forge_add_error(call, repo, 0, AFK_EPARSE,
			                          afk__forge_why(call));
			continue;
		}
		json_array_foreach(list, j, o) {
			afk_issue *is = NULL;

			if (rc == AFK_OK)
				rc = closed_issue(o, repo, &is);
			if (rc == AFK_OK && is != NULL)
				rc = afk_call_add_issue(call, is);
			afk_issue_free(is);
		}
		json_decref(list);
	}
out:
	afk__forge_reqs_free(qs, n);
	free(of);
	free(lab);
	return rc;
}

int afk__forge_tracker_setup(afk_tracker *tracker, const afk_config *cfg,
                             const afk__forge_kind *fk, char *errbuf)
{
	struct afk__forge *g;
	int rc;

	rc = forge_new(cfg, AFK__ROLE_TRACKER, fk, &g, errbuf);
	if (rc != AFK_OK)
		return rc;
	rc = afk_tracker_set_userdata(tracker, g, afk__forge_free);
	if (rc != AFK_OK) {
		afk__forge_free(g);
		afk__errf(errbuf, "%s: cannot set userdata: %s", fk->kind,
		          afk_strerror(rc));
		return rc;
	}
	afk_tracker_set_list_ready(tracker, fk->list_ready);
	if (fk->closed_query != NULL)
		afk_tracker_set_list_closed(tracker, afk__forge_list_closed);
	afk_tracker_set_add_label(tracker, fk->add_label);
	afk_tracker_set_remove_label(tracker, fk->remove_label);
	afk_tracker_set_close_issue(tracker, fk->close_issue);
	afk_tracker_set_find_comment(tracker, fk->find_comment);
	afk_tracker_set_upsert_comment(tracker, fk->upsert_comment);
	afk_tracker_set_probe(tracker, afk__forge_probe);
	afk__tracker_set_tick_end(tracker, afk__forge_tick_end);
	return AFK_OK;
}

int afk__forge_ci_setup(afk_ci *ci, const afk_config *cfg,
                        const afk__forge_kind *fk, char *errbuf)
{
	struct afk__forge *g;
	int rc;

	rc = forge_new(cfg, AFK__ROLE_CI, fk, &g, errbuf);
	if (rc != AFK_OK)
		return rc;
	rc = afk_ci_set_userdata(ci, g, afk__forge_free);
	if (rc != AFK_OK) {
		afk__forge_free(g);
		afk__errf(errbuf, "%s: cannot set userdata: %s", fk->kind,
		          afk_strerror(rc));
		return rc;
	}
	afk_ci_set_probe(ci, afk__forge_probe);
	afk__ci_set_tick_end(ci, afk__forge_tick_end);
	return afk_ci_set_status(ci, fk->status);
}

void afk__forge_free(void *userdata)
{
	struct afk__forge *g = userdata;

	if (g == NULL)
		return;
	afk__http_free(g->http);
	free(g->api);
	afk__free_secret(g->auth);
	free(g->login);
	free(g->ready);
	free(g->in_progress);
	afk__strv_clear(&g->trusted);
	afk__strv_clear(&g->agent_logins);
	free(g->deploy_env);
	free(g);
}

void afk__forge_tick_end(void *userdata)
{
	struct afk__forge *g = userdata;

	afk__http_flush(g->http);
}

/* --- URLs ------------------------------------------------------------ */

/* The unreserved set is spelt out rather than isalnum(): a locale must
 * not widen it. */
char *afk__forge_enc(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(s) + 1), *o = out;
	unsigned char c;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

int afk__forge_repo_base(const struct afk__forge *g, const char *repo,
                         char **out, char *errbuf)
{
	const char *slash;
	char *owner, *eo, *en;
	int rc;

	*out = NULL;
	rc = afk__config_check_repo(repo, errbuf);
	if (rc != AFK_OK)
		return AFK_EINVAL;
	slash = strchr(repo, '/');
	if (slash == NULL) {
		afk__errf(errbuf, "repository \"%s\" has no owner "
		          "(%s needs \"owner/name\")", repo, g->name);
		return AFK_EINVAL;
	}
	owner = malloc((size_t)(slash - repo) + 1);
	if (owner == NULL)
		return AFK_ENOMEM;
	memcpy(owner, repo, (size_t)(slash - repo));
	owner[slash - repo] = '\0';
	eo = afk__forge_enc(owner);
	en = afk__forge_enc(slash + 1);
	if (eo != NULL && en != NULL)
		*out = afk__aprintf("%s/repos/%s/%s", g->api, eo, en);
	free(owner);
	free(eo);
	free(en);
	return *out != NULL ? AFK_OK : AFK_ENOMEM;
}

/* --- requests -------------------------------------------------------- */

int afk__forge_req_set(const struct afk__forge *g, afk__forge_req *q,
                       const char *method, char *what, char *url,
                       char *json, int paginate)
{
	memset(q, 0, sizeof(*q));
	q->what = what;
	q->url = url;
	q->json = json;
	q->r.what = what;
	q->r.method = method;
	q->r.url = url;
	q->r.json = json;
	q->r.headers = g->headers;
	q->r.secret_header = g->auth;
	q->r.paginate = paginate;
	return what != NULL && url != NULL ? AFK_OK : AFK_ENOMEM;
}

void afk__forge_req_clear(afk__forge_req *q)
{
	afk__http_req_clear(&q->r);
	free(q->what);
	free(q->url);
	free(q->json);
	memset(q, 0, sizeof(*q));
}

void afk__forge_reqs_free(afk__forge_req *qs, size_t n)
{
	size_t i;

	if (qs == NULL)
		return;
	for (i = 0; i < n; i++)
		afk__forge_req_clear(&qs[i]);
	free(qs);
}

int afk__forge_run(afk_call *call, struct afk__forge *g, afk__forge_req *qs,
                   size_t n)
{
	size_t i;
	int rc;

	rc = afk__forge_run_each(call, g, qs, n);
	if (rc != AFK_OK)
		return rc;
	for (i = 0; i < n; i++) {
		rc = qs[i].r.rc;
		if (rc == AFK_OK || (qs[i].absent_ok &&
		    qs[i].r.fail == AFK__HTTP_ESTATUS && qs[i].r.status == 404))
			continue;
		return afk__call_failf(call, rc, "%s", qs[i].r.errmsg);
	}
	return AFK_OK;
}

int afk__forge_run_each(afk_call *call, struct afk__forge *g,
                        afk__forge_req *qs, size_t n)
{
	afk__http_req *rs;
	size_t i;

	if (n == 0)
		return AFK_OK;
	rs = calloc(n, sizeof(*rs));
	if (rs == NULL)
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		rs[i] = qs[i].r;
	afk__http_run(g->http, rs, n);
	for (i = 0; i < n; i++)
		qs[i].r = rs[i];
	free(rs);
	return AFK_OK;
}

int afk__forge_failed(const afk__forge_req *q)
{
	return q->r.rc != AFK_OK && !(q->absent_ok &&
	       q->r.fail == AFK__HTTP_ESTATUS && q->r.status == 404);
}

int afk__forge_code(const afk__forge_req *q)
{
	switch (q->r.fail) {
	case AFK__HTTP_EDNS:
	case AFK__HTTP_ECONNECT:
	case AFK__HTTP_ETIMEOUT:
	case AFK__HTTP_ETLS:
	case AFK__HTTP_ENET:
		return AFK_EUNAVAIL;
	default:
		return q->r.rc != AFK_OK ? q->r.rc : AFK_EIO;
	}
}

int afk__forge_add_error(afk_call *call, const char *repo, long number,
                         int code, const char *why)
{
	char msg[AFK__ERRMSG_SIZE];
	int rc;

	afk__errf(msg, "could not %s: %s", number > 0 ? "vet" : "list", why);
	rc = afk_call_add_error(call, repo, number, code, msg);
	if (rc == AFK_ENOMEM)
		return afk__call_failf(call, rc, "out of memory");
	if (rc != AFK_OK) /* no list to report to: the listing fails */
		return afk__call_failf(call, code, "%s", msg);
	free(call->message);
	call->message = NULL;
	return AFK_OK;
}

const char *afk__forge_why(const afk_call *call)
{
	return call->message != NULL ? call->message : "unreadable answer";
}

/* The page number of the rel="last" target of the Link header value v,
 * else 0. */
static long last_page(const char *v)
{
	const char *lt, *gt, *end, *rel, *pg;
	long n;

	for (; v != NULL && (lt = strchr(v, '<')) != NULL; v = end) {
		if ((gt = strchr(lt, '>')) == NULL)
			return 0;
		end = strchr(gt, ',');
		rel = strstr(gt, "rel=");
		if (rel == NULL || (end != NULL && rel > end))
			continue;
		rel += 4 + (rel[4] == '"');
		if (strncmp(rel, "last", 4) != 0 || (rel[4] != '"' &&
		    rel[4] != ';' && rel[4] != ',' && rel[4] != ' ' &&
		    rel[4] != '\0'))
			continue;
		for (pg = lt; pg < gt; pg++) {
			if ((*pg == '?' || *pg == '&') &&
			    strncmp(pg + 1, "page=", 5) == 0) {
				n = strtol(pg + 6, NULL, 10);
				return n > 0 ? n : 0;
			}
		}
		return 0;
	}
	return 0;
}

/* The pages of a list read so far, by number. */
typedef struct pagebuf {
	long no[64];
	json_t *page[64];
	size_t n;
} pagebuf;

static void pagebuf_clear(pagebuf *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		json_decref(b->page[i]);
	b->n = 0;
}

/* Page p of the list first reads (borrowed from b), reading it when it
 * is not in b; NULL on failure, the message on call. */
static json_t *page_of(afk_call *call, struct afk__forge *g,
                       const afk__forge_req *first, pagebuf *b, long p)
{
	afk__forge_req q;
	json_t *page = NULL;
	size_t i;
	int rc;

	for (i = 0; i < b->n; i++)
		if (b->no[i] == p)
			return b->page[i];
	if (b->n == sizeof(b->no) / sizeof(*b->no))
		pagebuf_clear(b);
	rc = afk__forge_req_set(g, &q, "GET",
	        afk__aprintf("%s (page %ld)", first->what, p),
	        afk__aprintf("%s&page=%ld", first->url, p), NULL, 0);
	if (rc != AFK_OK)
		afk__call_failf(call, rc, "out of memory");
	else if (afk__forge_run(call, g, &q, 1) == AFK_OK)
		page = afk__forge_body_of(call, &q, 1);
	afk__forge_req_clear(&q);
	if (page == NULL)
		return NULL;
	b->no[b->n] = p;
	b->page[b->n++] = page;
	return page;
}

/* The number of pages of a list whose first page is full and that says
 * nothing of its length: the last page holding any item, found by
 * probing 2, 4, 8, ... until one is short, then halving.  0 on
 * failure. */
static long probe_last(afk_call *call, struct afk__forge *g,
                       const afk__forge_req *first, pagebuf *b,
                       long per_page)
{
	long lo = 1, hi = 2, mid;
	json_t *pg;

	/* lo: a full page; hi: a short one (perhaps empty). */
	for (;;) {
		if ((pg = page_of(call, g, first, b, hi)) == NULL)
			return 0;
		if ((long)json_array_size(pg) < per_page)
			break;
		lo = hi;
		if (hi > (1L << 20)) {
			afk__call_failf(call, AFK_EIO, "%s: %s: no end found",
			                first->what, first->url);
			return 0;
		}
		hi *= 2;
	}
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if ((pg = page_of(call, g, first, b, mid)) == NULL)
			return 0;
		if ((long)json_array_size(pg) < per_page)
			hi = mid;
		else
			lo = mid;
	}
	pg = page_of(call, g, first, b, hi);
	if (pg == NULL)
		return 0;
	return json_array_size(pg) > 0 ? hi : lo;
}

int afk__forge_read_back(afk_call *call, struct afk__forge *g,
                         const afk__forge_req *first, json_t *page1,
                         long per_page, afk__forge_page_fn *found,
                         const char *label, int must_find, json_t **out,
                         int *partial)
{
	pagebuf b;
	json_t *all = NULL, *pg, *more;
	long last, p, walked = 0;
	int rc = AFK_OK;

	*out = NULL;
	*partial = 0;
	b.n = 0;
	last = last_page(first->r.link);
	if (last == 0 && (afk__http_link_has_next(first->r.link) ||
	    (first->r.link == NULL &&
	     (long)json_array_size(page1) == per_page)))
		last = probe_last(call, g, first, &b, per_page);
	else if (last == 0)
		last = 1;
	if (last == 0) {
		pagebuf_clear(&b);
		return AFK_EIO;
	}
	all = json_array();
	for (p = last; p >= 1 && all != NULL; p--) {
		if (p > 1 && walked++ == g->max_pages) {  /* page 1 is read */
			if (!must_find) {
				*partial = 1;
				break;
			}
			rc = afk__call_failf(call, AFK_EIO, "%s: %s: no event "
			                     "adding \"%s\" in the last %ld "
			                     "pages (http.max_pages) of %ld",
			                     first->what, first->url, label,
			                     g->max_pages, last);
			break;
		}
		pg = p == 1 ? page1 : page_of(call, g, first, &b, p);
		if (pg == NULL) {
			rc = AFK_EIO;
			break;
		}
		/* oldest first: this page goes before those read */
		more = json_copy(pg);
		if (more == NULL || json_array_extend(more, all) != 0) {
			json_decref(more);
			rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
			break;
		}
		json_decref(all);
		all = more;
		if (found(pg, label))
			break;
	}
	pagebuf_clear(&b);
	if (all == NULL && rc == AFK_OK)
		rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
	if (rc != AFK_OK) {
		json_decref(all);
		return rc;
	}
	*out = all;
	return AFK_OK;
}

int afk__forge_probe(afk_call *call, void *userdata)
{
	struct afk__forge *g = userdata;
	afk__forge_req q;
	int rc;

	rc = afk__forge_req_set(g, &q, "GET",
	                        afk__strdup("read the token's user"),
	                        afk__aprintf("%s/user", g->api), NULL, 0);
	if (rc != AFK_OK) {
		afk__forge_req_clear(&q);
		return afk__call_failf(call, rc, "out of memory");
	}
	rc = afk__forge_run(call, g, &q, 1);
	if (rc == AFK_OK && q.r.status != 200)
		rc = afk__call_failf(call, AFK_EIO, "%s: %s: HTTP %ld, not 200",
		                     q.what, q.url, q.r.status);
	afk__forge_req_clear(&q);
	return rc;
}

/* --- JSON ------------------------------------------------------------ */

json_t *afk__forge_body_of(afk_call *call, const afk__forge_req *q,
                           int want_array)
{
	const char *method = q->r.method != NULL ? q->r.method : "GET";
	json_error_t err;
	json_t *v = json_loadb(q->r.data ? q->r.data : "", q->r.len, 0,
	                       &err);
	char why[JSON_ERROR_TEXT_LENGTH];

	if (v == NULL) {
		/* Only the reason and the place: never the answer's words. */
		afk__call_failf(call, AFK_EPARSE, "%s: %s %s: the answer is "
		                "not valid JSON: %s (line %d, column %d)",
		                q->what, method, q->url,
		                afk__jsonpos_reason(&err, why, sizeof(why)),
		                err.line, err.column);
		return NULL;
	}
	if (want_array ? !json_is_array(v) : !json_is_object(v)) {
		afk__call_failf(call, AFK_EPARSE, "%s: %s %s: the answer is %s, "
		                "not a JSON %s", q->what, method, q->url,
		                afk__json_type_name(v), want_array ? "array" : "object");
		json_decref(v);
		return NULL;
	}
	return v;
}

const char *afk__forge_str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

char *afk__forge_json1(const char *key, json_t *value)
{
	json_t *o = json_object();
	char *s = NULL;

	if (o != NULL && value != NULL &&
	    json_object_set_new(o, key, value) == 0)
		s = json_dumps(o, JSON_COMPACT);
	else
		json_decref(value);
	json_decref(o);
	return s;
}

/* --- labels ---------------------------------------------------------- */

int afk__forge_has_label_named(json_t *issue, const char *name,
                               int strings_too)
{
	json_t *l;
	size_t i;

	json_array_foreach(json_object_get(issue, "labels"), i, l) {
		const char *n = strings_too && json_is_string(l) ?
		                json_string_value(l) :
		                afk__forge_str_of(l, "name");

		if (n != NULL && strcmp(n, name) == 0)
			return 1;
	}
	return 0;
}

int afk__forge_priority_of(json_t *issue)
{
	json_t *l;
	size_t i;
	long v;
	char *end;

	json_array_foreach(json_object_get(issue, "labels"), i, l) {
		const char *n = afk__forge_str_of(l, "name");

		if (n == NULL || strncmp(n, "priority:", 9) != 0)
			continue;
		errno = 0;
		v = strtol(n + 9, &end, 10);
		if (end != n + 9 && *end == '\0' && errno == 0 &&
		    v >= -1000000 && v <= 1000000)
			return (int)v;
	}
	return 0;
}

/* --- comments -------------------------------------------------------- */

/* The first comment of list that g's own login wrote and whose body
 * contains marker, or NULL. */
static json_t *own_comment(const struct afk__forge *g, json_t *list,
                           const char *marker)
{
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c) {
		const char *who = afk__forge_str_of(json_object_get(c,
		                                    "user"), "login");
		const char *body = afk__forge_str_of(c, "body");

		if (who != NULL && strcmp(who, g->login) == 0 &&
		    body != NULL && strstr(body, marker) != NULL)
			return c;
	}
	return NULL;
}

int afk__forge_can_write(json_t *perm)
{
	static const char *const yes[] = {"owner", "admin", "maintain",
	                                  "write"};
	const char *p = afk__forge_str_of(perm, "permission");
	const char *role = afk__forge_str_of(perm, "role_name");
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		if ((p != NULL && strcmp(p, yes[i]) == 0) ||
		    (role != NULL && strcmp(role, yes[i]) == 0))
			return 1;
	return 0;
}

/* Takes the token's own login into g->login from the finished GET /user
 * q. */
static int take_login(afk_call *call, struct afk__forge *g,
                      const afk__forge_req *q)
{
	json_t *user = afk__forge_body_of(call, q, 0);
	const char *login = afk__forge_str_of(user, "login");
	int rc = AFK_OK;

	if (user == NULL)
		rc = AFK_EPARSE;
	else if (login == NULL || login[0] == '\0')
		rc = afk__call_failf(call, AFK_EPARSE, "%s: the answer has no "
		                     "login", q->what);
	else if ((g->login = afk__strdup(login)) == NULL)
		rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
	json_decref(user);
	return rc;
}

/* Makes sure g->login is known: GET /user, the first time. */
static int read_login(afk_call *call, struct afk__forge *g, const char *what)
{
	afk__forge_req q;
	int rc;

	if (g->login != NULL)
		return AFK_OK;
	rc = afk__forge_req_set(g, &q, "GET",
	        afk__aprintf("%s: read the token's own user", what),
	        afk__aprintf("%s/user", g->api), NULL, 0);
	if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "out of memory");
	if (rc == AFK_OK)
		rc = afk__forge_run(call, g, &q, 1);
	if (rc == AFK_OK)
		rc = take_login(call, g, &q);
	afk__forge_req_clear(&q);
	return rc;
}

/* Lists the comments of issue number of repo into *out (a JSON array the
 * caller decrefs), every page, and makes sure g->login is known: GET
 * /user in the same batch, the first time. */
static int list_comments(afk_call *call, struct afk__forge *g,
                         const char *repo, long number, const char *what,
                         json_t **out)
{
	char err[AFK__ERRMSG_SIZE], *base = NULL;
	afk__forge_req q[2];
	size_t nq = 1;
	int rc;

	*out = NULL;
	memset(q, 0, sizeof(q));
	rc = afk__forge_repo_base(g, repo, &base, err);
	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "%s: %s", what, err);
	rc = afk__forge_req_set(g, &q[0], "GET",
	        afk__aprintf("%s: list the comments of %s#%ld", what, repo,
	                     number),
	        afk__aprintf("%s/issues/%ld/comments%s", base, number,
	                     g->comments_query), NULL, 1);
	free(base);
	if (rc == AFK_OK && g->login == NULL) {
		nq = 2;
		rc = afk__forge_req_set(g, &q[1], "GET",
		        afk__aprintf("%s: read the token's own user", what),
		        afk__aprintf("%s/user", g->api), NULL, 0);
	}
	if (rc != AFK_OK)
		rc = afk__call_failf(call, rc, "out of memory");
	if (rc == AFK_OK)
		rc = afk__forge_run(call, g, q, nq);
	if (rc == AFK_OK && nq == 2)
		rc = take_login(call, g, &q[1]);
	if (rc == AFK_OK && (*out = afk__forge_body_of(call, &q[0], 1)) == NULL)
		rc = AFK_EPARSE;
	afk__forge_req_clear(&q[0]);
	afk__forge_req_clear(&q[1]);
	return rc;
}

int afk__forge_find_comment(afk_call *call, struct afk__forge *g,
                            const char *repo, long number,
                            const char *marker)
{
	json_t *list, *c;
	const char *url;
	char *issue_url;
	int rc;

	rc = list_comments(call, g, repo, number, "find a comment", &list);
	if (rc != AFK_OK)
		return rc;
	c = own_comment(g, list, marker);
	if (c != NULL)
		rc = afk_call_set_comment(call, afk__forge_str_of(c, "body"));
	/* The issue's address: a comment's, without its fragment. */
	url = afk__forge_str_of(json_array_get(list, 0), "html_url");
	if (rc == AFK_OK && url != NULL &&
	    (issue_url = afk__strdup(url)) != NULL) {
		if (strchr(issue_url, '#') != NULL)
			*strchr(issue_url, '#') = '\0';
		rc = afk_call_set_url(call, issue_url);
		free(issue_url);
	}
	json_decref(list);
	if (rc != AFK_OK)
		return afk__call_failf(call, rc, "find a comment of %s#%ld: "
		                       "%s", repo, number, afk_strerror(rc));
	return AFK_OK;
}

int afk__forge_upsert_comment(afk_call *call, struct afk__forge *g,
                              const char *repo, long number,
                              const char *marker, const char *body)
{
	char err[AFK__ERRMSG_SIZE], *base = NULL;
	json_t *list, *c, *id;
	afk__forge_req q;
	int rc;

	rc = list_comments(call, g, repo, number, "upsert a comment", &list);
	if (rc != AFK_OK)
		return rc;
	c = own_comment(g, list, marker);
	id = json_object_get(c, "id");
	memset(&q, 0, sizeof(q));
	rc = afk__forge_repo_base(g, repo, &base, err);
	if (rc != AFK_OK) {
		json_decref(list);
		return afk__call_failf(call, rc, "upsert a comment: %s", err);
	}
	if (c != NULL && json_is_integer(id))
		rc = afk__forge_req_set(g, &q, "PATCH",
		        afk__aprintf("edit the comment of %s#%ld", repo,
		                     number),
		        afk__aprintf("%s/issues/comments/%lld", base,
		                     (long long)json_integer_value(id)),
		        afk__forge_json1("body", json_string(body)), 0);
	else
		rc = afk__forge_req_set(g, &q, "POST",
		        afk__aprintf("add a comment to %s#%ld", repo, number),
		        afk__aprintf("%s/issues/%ld/comments", base, number),
		        afk__forge_json1("body", json_string(body)), 0);
	free(base);
	json_decref(list);
	if (rc != AFK_OK || q.json == NULL) {
		afk__forge_req_clear(&q);
		return afk__call_failf(call, AFK_ENOMEM, "out of memory");
	}
	rc = afk__forge_run(call, g, &q, 1);
	afk__forge_req_clear(&q);
	return rc;
}

/* --- CI status ------------------------------------------------------- */

/* 1 when who is one of the logins whose pull request may be the run's:
 * g->agent_logins, else the token's own (g->login, read before).  Logins
 * are compared as the forges do, without case. */
static int is_agent(const struct afk__forge *g, const char *who)
{
	size_t i;

	if (who == NULL || who[0] == '\0')
		return 0;
	if (g->agent_logins.n == 0)
		return g->login != NULL && strcasecmp(who, g->login) == 0;
	for (i = 0; i < g->agent_logins.n; i++)
		if (strcasecmp(who, g->agent_logins.v[i]) == 0)
			return 1;
	return 0;
}

/* 1 when the pull request pr is the agent's own: its author is one of
 * the agent's logins and its head branch is in the repository itself -
 * the head's repository has the base's id (a fork's has another; a
 * deleted fork's is null). */
static int own_pr(const struct afk__forge *g, json_t *pr)
{
	json_t *hid = json_object_get(json_object_get(json_object_get(pr,
	              "head"), "repo"), "id");
	json_t *bid = json_object_get(json_object_get(json_object_get(pr,
	              "base"), "repo"), "id");

	return is_agent(g, afk__forge_str_of(json_object_get(pr, "user"),
	                                     "login")) &&
	       json_is_integer(hid) && json_is_integer(bid) &&
	       json_integer_value(hid) == json_integer_value(bid);
}

int afk__forge_pick_pr(afk_call *call, struct afk__forge *g,
                       const char *repo, const char *base, json_t *tl,
                       afk__forge_linked_fn *linked_pr, json_t **best_out,
                       int *merged_out)
{
	afk__forge_req *pq = NULL;
	json_t *pr, *best = NULL, *prs[MAX_PRS];
	const char *author;
	long nums[MAX_PRS], m;
	size_t i, j, np = 0, n = json_array_size(tl), linked = 0;
	int rc = AFK_OK, merged = 0, best_merged = 0;

	*best_out = NULL;
	*merged_out = 0;
	memset(prs, 0, sizeof(prs));
	for (i = 0; i < n; i++)
		linked += linked_pr(json_array_get(tl, i), repo, &author) > 0;
	/* The token's own login is read only when a PR could be its. */
	if (linked > 0 && g->agent_logins.n == 0)
		rc = read_login(call, g, "find the pull request");
	/* From the latest: a stranger's PRs are never read, and the run's
	 * own is among the latest of the agent's. */
	for (i = n; i-- > 0 && rc == AFK_OK && np < MAX_PRS;) {
		int dup = 0;

		m = linked_pr(json_array_get(tl, i), repo, &author);
		if (m <= 0 || !is_agent(g, author))
			continue;
		for (j = 0; j < np; j++)
			dup |= nums[j] == m;
		if (!dup)
			nums[np++] = m;
	}
	if (np > 0) {
		pq = calloc(np, sizeof(*pq));
		if (pq == NULL)
			rc = afk__call_failf(call, AFK_ENOMEM, "out of memory");
		for (i = 0; i < np && rc == AFK_OK; i++) {
			rc = afk__forge_req_set(g, &pq[i], "GET",
			        afk__aprintf("read pull request %s#%ld", repo,
			                     nums[i]),
			        afk__aprintf("%s/pulls/%ld", base, nums[i]),
			        NULL, 0);
			if (rc != AFK_OK)
				rc = afk__call_failf(call, rc,
				                     "out of memory");
		}
		if (rc == AFK_OK)
			rc = afk__forge_run(call, g, pq, np);
	}
	for (i = 0; i < np && rc == AFK_OK; i++) {
		const char *st;

		if ((prs[i] = afk__forge_body_of(call, &pq[i], 0)) == NULL) {
			rc = AFK_EPARSE;
			break;
		}
		pr = prs[i];
		st = afk__forge_str_of(pr, "state");
		merged = json_is_true(json_object_get(pr, "merged")) ||
		         json_is_string(json_object_get(pr, "merged_at"));
		if (!own_pr(g, pr) ||
		    (!merged && (st == NULL || strcmp(st, "open") != 0)))
			continue;
		if (best == NULL || (merged && !best_merged) ||
		    (merged == best_merged && nums[i] > (long)
		     json_integer_value(json_object_get(best, "number")))) {
			best = pr;
			best_merged = merged;
		}
	}
	if (rc == AFK_OK && best != NULL) {
		*best_out = json_incref(best);
		*merged_out = best_merged;
	}
	for (i = 0; i < np; i++)
		json_decref(prs[i]);
	afk__forge_reqs_free(pq, np);
	return rc;
}

int afk__forge_report_pr_info(afk_call *call, json_t *best)
{
	json_t *num = json_object_get(best, "number");
	int rc;

	if (!json_is_integer(num) || json_integer_value(num) <= 0)
		return AFK_OK;
	rc = afk_call_set_pr_info(call, (long)json_integer_value(num),
	        afk__forge_str_of(json_object_get(best, "user"), "login"),
	        afk__forge_str_of(json_object_get(best, "head"), "ref"));
	/* Only memory is a failure: the line is for a person to read. */
	if (rc == AFK_ENOMEM)
		return afk__call_failf(call, rc, "out of memory");
	return AFK_OK;
}
