/*
 * lib/builtin/forge.h - what the "github" and "forgejo" adapters share: their
 * state, requests over the HTTP layer (lib/net/http.h), and the JSON and
 * label helpers whose rules are the same on both forges.  Internal.
 *
 * Each forge keeps its differences in its own file: endpoints, the form
 * of the auth header, how a label is removed, how trust is read from the
 * timeline, how CI states combine.
 */
#ifndef AFK_FORGE_H
#define AFK_FORGE_H

#include <stddef.h>

#include <jansson.h>

#include "builtin/builtin.h"
#include "net/http.h"

/* The adapter's userdata: owned by the tracker or CI handle. */
struct afk__forge {
	afk__http *http;
	char *api;            /* base URL, no trailing '/' */
	char *auth;           /* "Authorization: <scheme> TOKEN" */
	char *login;          /* the token's own login, NULL until read */
	char *ready;          /* ready label */
	char *in_progress;    /* in-progress label */
	afk__strv trusted;    /* trusted logins */
	int trust_writers;    /* a labeller with write access counts too */
	char *deploy_env;     /* GitHub CI: the deployments' environment,
	                         NULL: the deploy state is none */
	const char *const *headers; /* sent with every request, or NULL */
	const char *name;     /* "GitHub", for messages */
	const char *comments_query; /* after .../comments: GitHub's page
	                               size; "" for Forgejo's default */
	afk__strv agent_logins; /* CI: whose pull request may be a run's;
	                           empty: the token's own login */
	long max_pages;       /* http.max_pages: pages read of one list */
	const char *closed_query; /* see afk__forge_kind */
};

/* What tells one forge's adapters from the other's when they are made:
 * names, the auth header's scheme, the extra headers and the
 * callbacks.  Static, borrowed. */
typedef struct afk__forge_kind {
	const char *kind;             /* "github", for setup messages */
	const char *name;             /* "GitHub", for the others */
	const char *scheme;           /* "Authorization: <scheme> TOKEN" */
	const char *const *headers;   /* sent with every request, or NULL */
	const char *comments_query;   /* see struct afk__forge */
	afk_list_ready_fn list_ready;
	afk_add_label_fn add_label;
	afk_remove_label_fn remove_label;
	afk_close_issue_fn close_issue;
	afk_find_comment_fn find_comment;
	afk_upsert_comment_fn upsert_comment;
	afk_ci_status_fn status;
	const char *closed_query;     /* after .../issues: the closed issues
	                                 with a label, "%s" for it */
} afk__forge_kind;

/* The setups of a forge's tracker and CI (an afk__builtin's): make the
 * userdata from the role's section - read the token (env or file), make
 * the HTTP handle that keeps it secret, take api_url, and for the CI
 * agent_logins and deploy_environment - and register fk's callbacks.  A
 * setup message names the line and member it comes from and the
 * adapter, e.g. "afk.json:12: ci.token_env: CI (github): ..."
 * (afk__setup_what()).  Return 0 or an AFK_E* code with why in errbuf. */
/* The list_closed of both forges (afk_list_closed_fn), over the kind's
 * closed_query. */
int afk__forge_list_closed(afk_call *call, const char *const *repos,
                           size_t nrepos, const char *label, void *userdata);

int afk__forge_tracker_setup(afk_tracker *tracker, const afk_config *cfg,
                             const afk__forge_kind *fk, char *errbuf);
int afk__forge_ci_setup(afk_ci *ci, const afk_config *cfg,
                        const afk__forge_kind *fk, char *errbuf);

/* Frees the userdata (a void * for the set_userdata calls); the auth
 * header, which holds the token, is wiped first. */
void afk__forge_free(void *userdata);
/* The tick_end of both forges' tracker and CI: saves the HTTP cache. */
void afk__forge_tick_end(void *userdata);

/* Percent-encodes s as one path segment or query value: everything but
 * RFC 3986's unreserved characters.  Heap, NULL on failure. */
char *afk__forge_enc(const char *s);

/* "{api}/repos/{owner}/{name}" for repo "owner/name", both parts
 * encoded; heap.  AFK_EINVAL with why in errbuf for a name that is not
 * "owner/name". */
int afk__forge_repo_base(const struct afk__forge *g, const char *repo,
                         char **out, char *errbuf);

/* One request with the strings it borrows during afk__http_run(). */
typedef struct afk__forge_req {
	afk__http_req r;
	char *what;
	char *url;
	char *json;
	int absent_ok;       /* a 404 is an answer (no such thing), not a
	                        failure of the batch: r.status says which */
} afk__forge_req;

/* Fills q (zeroed here) with a request of g; what and url are taken
 * over (freed by afk__forge_req_clear), json too (may be NULL).
 * AFK_ENOMEM when what or url is NULL. */
int afk__forge_req_set(const struct afk__forge *g, afk__forge_req *q,
                       const char *method, char *what, char *url,
                       char *json, int paginate);
void afk__forge_req_clear(afk__forge_req *q);
/* Clears the n requests of qs and frees the array; NULL is fine. */
void afk__forge_reqs_free(afk__forge_req *qs, size_t n);

/* Runs the n requests in one batch; on failure attaches the first
 * failed request's message (it names the call, the URL and the cause,
 * redacted) and returns its code.  A 404 to a request marked absent_ok
 * is no failure. */
int afk__forge_run(afk_call *call, struct afk__forge *g, afk__forge_req *qs,
                   size_t n);

/* Runs the n requests in one batch and leaves each outcome on its
 * request (afk__forge_failed() says which failed): one that fails does
 * not fail the others, so a listing can go on past one repository or
 * issue.  AFK_ENOMEM, with a message, only when the batch could not be
 * run at all. */
int afk__forge_run_each(afk_call *call, struct afk__forge *g,
                        afk__forge_req *qs, size_t n);

/* 1 when the finished request q failed (a 404 to one marked absent_ok
 * is no failure). */
int afk__forge_failed(const afk__forge_req *q);

/* The code to report for the failed request q: AFK_EUNAVAIL when its
 * server could not be reached (name, connection, timeout, TLS), else its
 * own. */
int afk__forge_code(const afk__forge_req *q);

/* Reports through afk_call_add_error() that repo (number 0) could not be
 * listed, or that issue number of repo could not be vetted: "could not
 * list: " or "could not vet: " and why.  A message the failure left on
 * call is dropped: the listing goes on.  Returns AFK_OK; when the error
 * cannot be reported (no list_ready, or memory), its code with why on
 * call, and the listing must fail rather than lose it. */
int afk__forge_add_error(afk_call *call, const char *repo, long number,
                         int code, const char *why);

/* The message a failure left on call, for afk__forge_add_error(). */
const char *afk__forge_why(const afk_call *call);

/* Says whether one page of a timeline holds an event adding label. */
typedef int afk__forge_page_fn(json_t *page, const char *label);

/* Reads a list from its end backwards.  first is the finished request
 * of its first page (not paginated; its URL has a query, to which
 * "&page=N" is added) and page1 that page's body.  The number of pages
 * comes from the Link header's rel="last"; without one (Forgejo's
 * timeline sends none) a full first page of per_page items is followed
 * by probing pages 2, 4, 8, ... and halving to the last non-empty one.
 * Pages are then read from the last down until one holds an event
 * adding label (found(page, label)), or the first page.  *out is a new
 * array of the pages read, oldest first - so the latest event is the
 * last - and page1's items when it was all.  At most g->max_pages pages
 * are walked back: past those, with must_find the read fails ("more
 * than N pages ..."), else *out holds those read and *partial is set.
 * A failed request fails the read, its message on call. */
int afk__forge_read_back(afk_call *call, struct afk__forge *g,
                         const afk__forge_req *first, json_t *page1,
                         long per_page, afk__forge_page_fn *found,
                         const char *label, int must_find, json_t **out,
                         int *partial);

/* The probe of both forges' tracker and CI (afk_probe_fn, userdata a
 * struct afk__forge): reads the token's own user, GET /user, which
 * must answer 200.  Read-only. */
int afk__forge_probe(afk_call *call, void *userdata);

/* Parses the body of a finished request; NULL (with a message on call)
 * when it is not JSON of the wanted type. */
json_t *afk__forge_body_of(afk_call *call, const afk__forge_req *q,
                           int want_array);

/* The string member key of o, or NULL. */
const char *afk__forge_str_of(json_t *o, const char *key);

/* Serialises a one-member object {key: value}, value taken over; heap,
 * NULL on failure. */
char *afk__forge_json1(const char *key, json_t *value);

/* 1 when the issue's labels hold one named name.  GitHub may list a
 * label as a bare string (strings_too); Forgejo only as objects. */
int afk__forge_has_label_named(json_t *issue, const char *name,
                               int strings_too);

/* The priority a label "priority:N" gives, else 0. */
int afk__forge_priority_of(json_t *issue);

/* find_comment: the body of the own comment holding marker, and the
 * issue's address taken from a comment's. */
int afk__forge_find_comment(afk_call *call, struct afk__forge *g,
                            const char *repo, long number,
                            const char *marker);

/* upsert_comment: edits the own comment holding marker, else adds one. */
int afk__forge_upsert_comment(afk_call *call, struct afk__forge *g,
                              const char *repo, long number,
                              const char *marker, const char *body);

/* 1 when a collaborator permission answer (GET .../collaborators/
 * {login}/permission, either forge) grants write access: permission or
 * role_name owner, admin, maintain or write. */
int afk__forge_can_write(json_t *perm);

/* The number of the pull request of repo that the timeline event e links
 * to, else 0; *author is the login of its author as the event tells it
 * (borrowed from e), NULL when it does not.  Per forge: the event shapes
 * differ. */
typedef long afk__forge_linked_fn(json_t *e, const char *repo,
                                  const char **author);

/* Picks the run's pull request from the issue's timeline tl (base: the
 * repository's URL from afk__forge_repo_base()).  Only the agent's own
 * pull requests count: authored by one of g->agent_logins (none: the
 * token's own login, read once with GET /user) and whose head branch
 * lives in the repository itself - head.repo.id equal to base.repo.id,
 * so never a fork's.  A pull request of anyone else that mentions the
 * issue is never read.  The linked ones whose event names such an author
 * (the latest 10) are read in one batch and checked again on their own
 * answer; a merged one wins, else the open one with the largest number;
 * closed unmerged ones are ignored.  *best is a reference the caller
 * decrefs, NULL when none qualifies; *merged says whether it is
 * merged. */
int afk__forge_pick_pr(afk_call *call, struct afk__forge *g,
                       const char *repo, const char *base, json_t *tl,
                       afk__forge_linked_fn *linked_pr, json_t **best,
                       int *merged);

/* The adapters call these helpers on every other line: with
 * AFK__FORGE_SHORT_NAMES defined before the #include, a file gets them
 * by their short names.  Only the forge adapters ask; elsewhere a macro
 * named run or enc would rename local words. */
/* Reports best (a pull request from afk__forge_pick_pr()) to call with
 * afk_call_set_pr_info(): its number, author and head branch. */
int afk__forge_report_pr_info(afk_call *call, json_t *best);

#ifdef AFK__FORGE_SHORT_NAMES
typedef afk__forge_req greq;
#define enc afk__forge_enc
#define repo_base afk__forge_repo_base
#define greq_set afk__forge_req_set
#define greq_clear afk__forge_req_clear
#define greqs_free afk__forge_reqs_free
#define run afk__forge_run
#define body_of afk__forge_body_of
#define str_of afk__forge_str_of
#define json1 afk__forge_json1
#endif

#endif
