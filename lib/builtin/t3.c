/*
 * lib/builtin/t3.c - the "t3" agent: T3 Code's orchestration API over the
 * HTTP layer (lib/net/http.h).
 *
 * The shapes come from T3 Code's contracts (pingdotgg/t3code):
 *   packages/contracts/src/environmentHttp.ts - the routes:
 *     POST /api/orchestration/dispatch     body: one ClientOrchestrationCommand
 *     GET  /api/orchestration/threads/:threadId
 *                                          answer: OrchestrationThreadDetailSnapshot
 *     both with "authorization: Bearer <token>".
 *   packages/contracts/src/orchestration.ts - the commands and the read side:
 *     ThreadCreateCommand {type "thread.create", commandId, threadId,
 *       projectId, title, modelSelection {instanceId, model}, runtimeMode,
 *       interactionMode, branch, worktreePath, createdAt}
 *     ThreadTurnStartCommand {type "thread.turn.start", commandId,
 *       threadId, message {messageId, role "user", text, attachments},
 *       runtimeMode, interactionMode, createdAt}
 *     ThreadTurnInterruptCommand {type "thread.turn.interrupt",
 *       commandId, threadId, createdAt} (turnId optional: the latest)
 *     ThreadSessionStopCommand {type "thread.session.stop", commandId,
 *       threadId, createdAt}
 *     OrchestrationThreadDetailSnapshot {snapshotSequence, thread}, the
 *     thread's latestTurn.state (running | interrupted | completed |
 *     error), session.status (... | stopped | error) and lastError,
 *     messages [{role, text}], activities [{kind, payload}].
 * The thread's usage comes from its activities too: T3 Code turns each
 * provider runtime event "thread.token-usage.updated" into an activity of
 * kind "context-window.updated" whose payload is the event's
 * ThreadTokenUsageSnapshot itself, so its members are the payload's:
 *   packages/contracts/src/providerRuntime.ts (pingdotgg/t3code, commit
 *   006fa4cad0c176f10b28a221bb8547e8d6c98746): ThreadTokenUsageSnapshot
 *     {usedTokens, ..., inputTokens, outputTokens, ..., cost
 *     ThreadUsageCostSnapshot {currency "USD", totalCostUsd, ...}},
 *     every member but usedTokens optional;
 *   apps/server/src/orchestration/Layers/ProviderRuntimeIngestion.ts:
 *     buildContextWindowActivityPayload() passes payload.usage through
 *     whole (when usedTokens > 0) as the activity's payload;
 *   apps/web/src/lib/contextWindow.ts (commit
 *     bb45105e20641cde9b85038937a9dacd6143085c): T3 Code's own client
 *     reads activity.payload.inputTokens / outputTokens of the activities
 *     of that kind.
 * The snapshot reports the highest inputTokens, outputTokens and
 * cost.totalCostUsd of them all (a detail may keep only some activities,
 * and the watch's record keeps the largest anyway); none at all, nothing.
 * Pending approvals and questions are not a field of the full thread (only
 * of the shell summary, hasPendingApprovals / hasPendingUserInput): they
 * are derived from the activities as T3 Code's own client does - an
 * "approval.requested" or "user-input.requested" activity whose
 * payload.requestId has no "approval.resolved" / "user-input.resolved"
 * after it.
 *
 * The thread id is the client's choice, made from the repository and the
 * issue number (afk-<owner>-<name>-<number>-<8 hex>, the base) and a
 * generation: the first run of an issue is <base>, a later one (the issue
 * made ready again after a finished run) <base>-2, <base>-3, ... up to
 * <base>-100.  A dispatch probes them in order from the generation the
 * poll tick asks for (afk_call_generation(): one past the last
 * run once that one ended, so the threads of ended runs are never
 * probed) and reads each thread:
 *   - not found (404): creates it and starts the turn - a fresh run;
 *   - found, no turn and no message yet: starts the turn on it - an
 *     earlier dispatch stopped between its two commands;
 *   - found, its turn running, waiting, or asked for and not yet begun
 *     (a message but no latestTurn): adopts it, reporting its id with no
 *     command sent - an earlier tick stopped after the turn started and
 *     before the issue was labelled;
 *   - found, its latest turn over (completed, interrupted, error, or the
 *     session stopped, interrupted or in error): a past run, on to the
 *     next generation, which the dispatch reports it started
 *     (afk_call_set_generation()) so that the next run starts past it.
 * So a crash anywhere in a dispatch never starts a second turn, and a
 * finished run never blocks the next one.
 *
 * What the server speaks and what the token may do are read, never
 * guessed, from these read-only routes:
 *   packages/contracts/src/environmentHttp.ts (the routes) and
 *   packages/contracts/src/environment.ts:
 *     GET /.well-known/t3/environment      public, no token; answer:
 *       ExecutionEnvironmentDescriptor {environmentId, label, platform,
 *       serverVersion, orchestrationProtocolVersion, capabilities} - the
 *       protocol is absent on servers from before it was negotiated,
 *       which speak 1; newer servers say 2.
 *   packages/contracts/src/auth.ts, apps/server/src/auth/EnvironmentAuth.ts
 *   (getSessionState):
 *     GET /api/auth/session                answer: AuthSessionState
 *       {authenticated, auth, scopes, sessionMethod, expiresAt}: the
 *       scopes of the bearer token, or authenticated false for a token
 *       it does not take.
 *   apps/server/src/orchestration/http.ts: the thread and shell reads
 *     need the scope "orchestration:read", the dispatch
 *     "orchestration:operate" (else 403 EnvironmentScopeRequiredError).
 *   packages/contracts/src/orchestration.ts:
 *     GET /api/orchestration/shell         answer: OrchestrationShellSnapshot
 *       {snapshotSequence, projects [{id, title, ...}], threads,
 *       updatedAt}: the projects a thread.create may name (another
 *       projectId fails it with an opaque 500
 *       orchestration_dispatch_failed).
 * The probe (afk check-config --online) reads all three; a tick reads
 * the descriptor once, before its first dispatch or corrective turn,
 * and sends no command to a server of another protocol.
 *
 * The token comes from the environment or a file named in the
 * configuration, is handed to the HTTP layer as a secret, and is never in
 * a message.  A prompt over max_prompt bytes is refused before anything
 * is sent: T3 Code refuses long input (PROVIDER_SEND_TURN_MAX_INPUT_CHARS)
 * and a truncated prompt would be a different task.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin/builtin.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "builtin/forge.h"
#include "net/http.h"
#include "core/jsonpos.h"
#include "core/usage.h"
#include "net/redact.h"

#define RUNTIME_MODE "full-access"
#define INTERACTION_MODE "default"
#define T3_PROTOCOL 1      /* the orchestration protocol spoken here */
#define T3_SCOPE_READ "orchestration:read"
#define T3_SCOPE_OPERATE "orchestration:operate"

/* --- the adapter's state --------------------------------------------- */

struct t3_agent {
	afk__http *http;
	char *base;          /* the url, no trailing '/' */
	char *auth;          /* "Authorization: Bearer <token>" */
	char *project_id;
	char *model;
	char *instance_id;
	long long max_prompt;
	unsigned long seq;   /* ids this handle made */
	int env_read;        /* the descriptor was read this tick ... */
	long long env_proto; /* ... and said this protocol */
};

/* Saves the HTTP cache once, when a tick that used the agent ends, and
 * forgets the protocol read: the next tick reads it again, so a server
 * upgraded between ticks is seen. */
static void t3_tick_end(void *userdata)
{
	struct t3_agent *t = userdata;

	afk__http_flush(t->http);
	t->env_read = 0;
}

static void t3_free(void *userdata)
{
	struct t3_agent *t = userdata;

	if (t == NULL)
		return;
	afk__http_free(t->http);
	afk__free_secret(t->auth);
	free(t->base);
	free(t->project_id);
	free(t->model);
	free(t->instance_id);
	free(t);
}

/* --- ids and times --------------------------------------------------- */

/* FNV-1a, 32 bits: a stable, short tag, not a security measure. */
static uint32_t fnv1a(const char *s, uint32_t h)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* The thread id of issue number of repo in a heap string, or NULL. */
char *afk__t3_thread_id(const char *repo, long number)
{
	char num[32], *id, *p;
	uint32_t h;

	snprintf(num, sizeof(num), "#%ld", number);
	h = fnv1a(num, fnv1a(repo, 2166136261u));
	id = afk__aprintf("afk-%s-%ld-%08lx", repo, number, (unsigned long)h);
	for (p = id; p != NULL && *p != '\0'; p++)
		if (*p == '/')
			*p = '-';
	return id;
}

/* Now as T3 Code's IsoDateTime: 2026-01-02T03:04:05.000Z. */
static void iso_now(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", date,
	         (int)(ts.tv_nsec / 1000000L % 1000));
}

/* A fresh command or message id: kind, seconds, process, sequence. */
static void new_id(struct t3_agent *t, const char *kind, char *buf,
                   size_t size)
{
	snprintf(buf, size, "afk-%s-%lx-%lx-%lu", kind,
	         (unsigned long)time(NULL), (unsigned long)getpid(), ++t->seq);
}

/* --- requests -------------------------------------------------------- */

/* Runs one request against base + path; on failure attaches the layer's
 * redacted message to call and returns its code - except a 404 when
 * quiet404, left to the caller.  r's outputs are the caller's to
 * clear. */
static int t3_run_ex(afk_call *call, struct t3_agent *t, afk__http_req *r,
                     const char *method, const char *path,
                     const char *json, const char *what, int quiet404)
{
	char *url = afk__aprintf("%s%s", t->base, path);
	int rc;

	if (url == NULL)
		return AFK_ENOMEM;
	memset(r, 0, sizeof(*r));
	r->what = what;
	r->method = method;
	r->url = url;
	r->json = json;
	r->secret_header = t->auth;
	rc = afk__http_run(t->http, r, 1);
	r->url = NULL;
	free(url);
	if (rc != AFK_OK && !(quiet404 && r->fail == AFK__HTTP_ESTATUS &&
	                      r->status == 404))
		afk_call_set_error(call, r->errmsg);
	return rc;
}

static int t3_run(afk_call *call, struct t3_agent *t, afk__http_req *r,
                  const char *method, const char *path, const char *json,
                  const char *what)
{
	return t3_run_ex(call, t, r, method, path, json, what, 0);
}

/* POSTs the command cmd (a new reference, taken) to the dispatch
 * route. */
static int dispatch_cmd(afk_call *call, struct t3_agent *t, json_t *cmd,
                        const char *what, afk__http_req *r)
{
	char *body;
	int rc;

	memset(r, 0, sizeof(*r));
	if (cmd == NULL)
		return AFK_ENOMEM;
	body = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	if (body == NULL)
		return AFK_ENOMEM;
	rc = t3_run(call, t, r, "POST", "/api/orchestration/dispatch", body,
	            what);
	free(body);
	return rc;
}

/* The prompt as a JSON string, refused when too long or not UTF-8 -
 * before anything is sent. */
static int check_prompt(afk_call *call, const struct t3_agent *t,
                        const char *prompt)
{
	size_t n;

	if (prompt == NULL)
		return AFK_EINVAL;
	n = strlen(prompt);
	if ((long long)n > t->max_prompt)
		return afk__call_failf(call, AFK_EINVAL, "T3: the prompt is %zu "
		            "bytes, over max_prompt (%lld); refused, not "
		            "truncated", n, t->max_prompt);
	if (!afk__utf8_valid(prompt))
		return afk__call_failf(call, AFK_EINVAL, "T3: the prompt is not "
		            "valid UTF-8");
	return AFK_OK;
}

static int turn_start(afk_call *call, struct t3_agent *t,
                      const char *thread_id, const char *prompt,
                      const char *what)
{
	char cmd_id[96], msg_id[96], now[40];
	afk__http_req r;
	int rc;

	new_id(t, "turn", cmd_id, sizeof(cmd_id));
	new_id(t, "msg", msg_id, sizeof(msg_id));
	iso_now(now, sizeof(now));
	rc = dispatch_cmd(call, t, json_pack("{s:s, s:s, s:s, s:{s:s, s:s, "
	                  "s:s, s:[]}, s:s, s:s, s:s}",
	                  "type", "thread.turn.start",
	                  "commandId", cmd_id,
	                  "threadId", thread_id,
	                  "message", "messageId", msg_id, "role", "user",
	                  "text", prompt, "attachments",
	                  "runtimeMode", RUNTIME_MODE,
	                  "interactionMode", INTERACTION_MODE,
	                  "createdAt", now), what, &r);
	afk__http_req_clear(&r);
	return rc;
}

static int thread_create(afk_call *call, struct t3_agent *t,
                         const char *thread_id, const char *repo,
                         long number)
{
	char cmd_id[96], now[40], title[300];
	afk__http_req r;
	int rc;

	new_id(t, "create", cmd_id, sizeof(cmd_id));
	iso_now(now, sizeof(now));
	snprintf(title, sizeof(title), "afk: %s#%ld", repo, number);
	rc = dispatch_cmd(call, t, json_pack("{s:s, s:s, s:s, s:s, s:s, "
	                  "s:{s:s, s:s}, s:s, s:s, s:n, s:n, s:s}",
	                  "type", "thread.create",
	                  "commandId", cmd_id,
	                  "threadId", thread_id,
	                  "projectId", t->project_id,
	                  "title", title,
	                  "modelSelection", "instanceId", t->instance_id,
	                  "model", t->model,
	                  "runtimeMode", RUNTIME_MODE,
	                  "interactionMode", INTERACTION_MODE,
	                  "branch", "worktreePath",
	                  "createdAt", now), "T3 thread.create", &r);
	afk__http_req_clear(&r);
	return rc;
}

/* Reads the thread detail of thread_id; *out is the "thread" object
 * (a new reference) or NULL with a message on call.  With missing, a 404
 * is no failure: *missing is set and *out NULL, no message. */
static int read_thread_ex(afk_call *call, struct t3_agent *t,
                          const char *thread_id, json_t **out,
                          int *missing)
{
	char *path, *esc = afk__forge_enc(thread_id);
	afk__http_req r;
	json_error_t jerr;
	char why[JSON_ERROR_TEXT_LENGTH];
	json_t *root, *thread;
	int rc;

	*out = NULL;
	if (missing != NULL)
		*missing = 0;
	path = esc ? afk__aprintf("/api/orchestration/threads/%s", esc) : NULL;
	free(esc);
	if (path == NULL)
		return AFK_ENOMEM;
	rc = t3_run_ex(call, t, &r, "GET", path, NULL, "T3 thread snapshot",
	               missing != NULL);
	free(path);
	if (rc != AFK_OK && missing != NULL &&
	    r.fail == AFK__HTTP_ESTATUS && r.status == 404) {
		*missing = 1;
		rc = AFK_OK;
	}
	if (rc != AFK_OK || (missing != NULL && *missing)) {
		afk__http_req_clear(&r);
		return rc;
	}
	root = json_loadb(r.data, r.len, 0, &jerr);
	afk__http_req_clear(&r);
	/* jansson's reason and place, never its quote of the answer. */
	if (root == NULL)
		return afk__call_failf(call, AFK_EPARSE, "T3 thread snapshot: "
		            "invalid JSON: %s (line %d, column %d)",
		            afk__jsonpos_reason(&jerr, why, sizeof(why)),
		            jerr.line, jerr.column);
	thread = json_object_get(root, "thread");
	if (!json_is_object(thread)) {
		json_decref(root);
		return afk__call_failf(call, AFK_EPARSE, "T3 thread snapshot: "
		            "no \"thread\" object");
	}
	json_incref(thread);
	json_decref(root);
	*out = thread;
	return AFK_OK;
}

/* --- the server's protocol, the token's scopes, the project --------- */

/* Refuses, naming the server, with the redacted message fmt formats:
 * the URL is the configuration's, and its user information if any is
 * no message's business. */
static int t3_failf_server(afk_call *call, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static int t3_failf_server(afk_call *call, int code, const char *fmt, ...)
{
	char msg[AFK__ERRMSG_SIZE];
	va_list ap;

	va_start(ap, fmt);
	afk__redact_vformat(msg, sizeof(msg), NULL, fmt, ap);
	va_end(ap);
	afk_call_set_error(call, msg);
	return code;
}

/* The JSON answer of r (cleared here) as *out (a new reference), or
 * AFK_EPARSE with jansson's reason and place on call - never its quote
 * of the answer. */
static int parse_answer(afk_call *call, afk__http_req *r, const char *what,
                        json_t **out)
{
	json_error_t jerr;
	char why[JSON_ERROR_TEXT_LENGTH];

	*out = json_loadb(r->data, r->len, 0, &jerr);
	afk__http_req_clear(r);
	if (*out == NULL)
		return afk__call_failf(call, AFK_EPARSE, "%s: invalid JSON: %s "
		            "(line %d, column %d)", what,
		            afk__jsonpos_reason(&jerr, why, sizeof(why)),
		            jerr.line, jerr.column);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return afk__call_failf(call, AFK_EPARSE, "%s: not a JSON "
		                       "object", what);
	}
	return AFK_OK;
}

/* Reads the server's environment descriptor: *version is its
 * orchestrationProtocolVersion, 1 when absent (the servers from before
 * the field speak 1).  The route is public: no token is sent. */
static int read_env(afk_call *call, struct t3_agent *t, long long *version)
{
	char *url = afk__aprintf("%s/.well-known/t3/environment", t->base);
	afk__http_req r;
	json_t *root, *v;
	int rc;

	if (url == NULL)
		return AFK_ENOMEM;
	memset(&r, 0, sizeof(r));
	r.what = "T3 environment";
	r.method = "GET";
	r.url = url;
	rc = afk__http_run(t->http, &r, 1);
	r.url = NULL;
	free(url);
	if (rc != AFK_OK) {
		afk_call_set_error(call, r.errmsg);
		afk__http_req_clear(&r);
		return rc;
	}
	rc = parse_answer(call, &r, "T3 environment", &root);
	if (rc != AFK_OK)
		return rc;
	v = json_object_get(root, "orchestrationProtocolVersion");
	if (v == NULL)
		*version = 1;
	else if (json_is_integer(v))
		*version = json_integer_value(v);
	else
		rc = afk__call_failf(call, AFK_EPARSE, "T3 environment: "
		          "orchestrationProtocolVersion is not an integer");
	json_decref(root);
	return rc;
}

/* Refuses a server that speaks another protocol than this adapter:
 * its commands and snapshots would be read as what they are not. */
static int check_protocol(afk_call *call, const struct t3_agent *t,
                          long long version)
{
	if (version == T3_PROTOCOL)
		return AFK_OK;
	return t3_failf_server(call, AFK_EIO, "T3: the server at %s speaks "
	          "orchestration protocol %lld; libafk speaks %d", t->base,
	          version, T3_PROTOCOL);
}

/* Reads the descriptor once a tick (t3_tick_end() forgets it) and
 * refuses a server of another protocol before any command is sent.  A
 * descriptor not read (the server down, an answer not understood) is
 * not remembered: it refuses this call, and the next one asks again. */
static int check_env_once(afk_call *call, struct t3_agent *t)
{
	long long version;
	int rc;

	if (!t->env_read) {
		rc = read_env(call, t, &version);
		if (rc != AFK_OK)
			return rc;
		t->env_proto = version;
		t->env_read = 1;
	}
	return check_protocol(call, t, t->env_proto);
}

/* A 401 or 403 of r, said as the token refused; other failures as the
 * HTTP layer said them (already on call). */
static int token_refused(afk_call *call, int rc, const afk__http_req *r)
{
	if (rc != AFK_OK && r->fail == AFK__HTTP_ESTATUS &&
	    (r->status == 401 || r->status == 403))
		rc = afk__call_failf(call, rc, "T3 server refused the token "
		                     "(HTTP %ld): %s", r->status, r->errmsg);
	return rc;
}

/* 1 when the array scopes holds scope. */
static int has_scope(json_t *scopes, const char *scope)
{
	json_t *s;
	size_t i;

	json_array_foreach(scopes, i, s)
		if (json_is_string(s) &&
		    strcmp(json_string_value(s), scope) == 0)
			return 1;
	return 0;
}

/* GETs path (read-only, with the token) and parses its JSON object
 * answer into *root; what names it in messages.  A 401 or 403 is said
 * as the token refused. */
static int get_object(afk_call *call, struct t3_agent *t, const char *path,
                      const char *what, json_t **root)
{
	afk__http_req r;
	int rc;

	rc = t3_run(call, t, &r, "GET", path, NULL, what);
	rc = token_refused(call, rc, &r);
	if (rc != AFK_OK) {
		afk__http_req_clear(&r);
		return rc;
	}
	return parse_answer(call, &r, what, root);
}

/* Refuses a token the server does not take, or one without a scope the
 * adapter needs, from the server's own account of the session.  A
 * server that lists no scopes (one from before scoped tokens) has none
 * to miss.  The token is never named, only the scope. */
static int check_session(afk_call *call, struct t3_agent *t)
{
	static const struct {
		const char *scope;
		const char *use;
	} need[] = {
		{T3_SCOPE_READ, "every thread snapshot"},
		{T3_SCOPE_OPERATE, "every dispatch"},
	};
	json_t *root, *scopes;
	size_t i;
	int rc;

	rc = get_object(call, t, "/api/auth/session", "T3 session", &root);
	if (rc != AFK_OK)
		return rc;
	scopes = json_object_get(root, "scopes");
	if (!json_is_true(json_object_get(root, "authenticated")))
		rc = afk__call_failf(call, AFK_EIO, "T3 server refused the "
		          "token: /api/auth/session says it is not "
		          "authenticated");
	else if (scopes != NULL && !json_is_array(scopes))
		rc = afk__call_failf(call, AFK_EPARSE, "T3 session: \"scopes\" "
		          "is not an array");
	for (i = 0; rc == AFK_OK && scopes != NULL &&
	            i < sizeof(need) / sizeof(*need); i++) {
		if (has_scope(scopes, need[i].scope))
			continue;
		rc = afk__call_failf(call, AFK_EIO, "T3: the token lacks the "
		          "scope %s; %s would be refused (HTTP 403 "
		          "EnvironmentScopeRequiredError)", need[i].scope,
		          need[i].use);
	}
	json_decref(root);
	return rc;
}

/* Refuses a project_id the server does not have - a thread.create
 * naming it would fail with an opaque 500 - from the projects of its
 * shell snapshot. */
static int check_project(afk_call *call, struct t3_agent *t)
{
	json_t *root, *p, *del;
	const char *id;
	size_t i;
	int rc, found = 0;

	rc = get_object(call, t, "/api/orchestration/shell",
	                "T3 shell snapshot", &root);
	if (rc != AFK_OK)
		return rc;
	if (!json_is_array(json_object_get(root, "projects"))) {
		json_decref(root);
		return afk__call_failf(call, AFK_EPARSE, "T3 shell snapshot: "
		                       "no \"projects\" array");
	}
	json_array_foreach(json_object_get(root, "projects"), i, p) {
		id = json_string_value(json_object_get(p, "id"));
		del = json_object_get(p, "deletedAt");
		if (id != NULL && strcmp(id, t->project_id) == 0 &&
		    (del == NULL || json_is_null(del)))
			found = 1;
	}
	json_decref(root);
	if (!found)
		return t3_failf_server(call, AFK_ECONFIG, "T3: project %s not "
		          "found on %s", t->project_id, t->base);
	return AFK_OK;
}

/* Read-only: the server's protocol, the token's scopes, the project -
 * each thing a dispatch needs that the network can tell before one is
 * made. */
static int t3_probe(afk_call *call, void *userdata)
{
	struct t3_agent *t = userdata;
	long long version;
	int rc;

	rc = read_env(call, t, &version);
	if (rc == AFK_OK)
		rc = check_protocol(call, t, version);
	if (rc == AFK_OK)
		rc = check_session(call, t);
	if (rc == AFK_OK)
		rc = check_project(call, t);
	return rc;
}

/* --- dispatch -------------------------------------------------------- */

#define T3_GENERATIONS 100  /* <base>, <base>-2, ... <base>-100 */

static int thread_state(json_t *thread);

enum probe {
	PROBE_MISSING,  /* no such thread: create it, start the turn */
	PROBE_EMPTY,    /* no turn asked for yet: start it */
	PROBE_LIVE,     /* a turn running or asked for: adopt it */
	PROBE_PAST      /* a finished run: the next generation */
};

/* What thread (read back) is to a dispatch, or -1 when its turn state
 * is unknown. */
static int probe_thread(json_t *thread)
{
	json_t *lt = json_object_get(thread, "latestTurn");

	if ((lt == NULL || json_is_null(lt)) &&
	    json_array_size(json_object_get(thread, "messages")) == 0)
		return PROBE_EMPTY;
	switch (thread_state(thread)) {
	case AFK_AGENT_RUNNING:
	case AFK_AGENT_WAITING_APPROVAL:
	case AFK_AGENT_WAITING_INPUT:
		return PROBE_LIVE;
	case AFK_AGENT_COMPLETED:
	case AFK_AGENT_INTERRUPTED:
	case AFK_AGENT_ERRORED:
	case AFK_AGENT_STOPPED:
		return PROBE_PAST;
	default:
		return -1;
	}
}

static int t3_dispatch(afk_call *call, const char *repo, long number,
                       const char *prompt, void *userdata)
{
	struct t3_agent *t = userdata;
	char *base, *thread_id = NULL;
	json_t *thread;
	int rc, gen, missing, probe = PROBE_PAST;

	if (repo == NULL)
		return AFK_EINVAL;
	rc = check_prompt(call, t, prompt);
	if (rc == AFK_OK)
		rc = check_env_once(call, t);
	if (rc != AFK_OK)
		return rc;
	base = afk__t3_thread_id(repo, number);
	if (base == NULL)
		return AFK_ENOMEM;
	/* The threads of the generations before the one asked for hold
	 * runs that ended: never probed, so never adopted. */
	for (gen = afk_call_generation(call); gen <= T3_GENERATIONS; gen++) {
		free(thread_id);
		thread_id = gen == 1 ? afk__strdup(base) :
		            afk__aprintf("%s-%d", base, gen);
		if (thread_id == NULL) {
			rc = AFK_ENOMEM;
			break;
		}
		rc = read_thread_ex(call, t, thread_id, &thread, &missing);
		if (rc != AFK_OK)
			break;
		probe = missing ? PROBE_MISSING : probe_thread(thread);
		json_decref(thread);
		if (probe < 0)
			rc = afk__call_failf(call, AFK_EPARSE, "T3: thread %s: "
			          "unknown latestTurn.state; not dispatched",
			          thread_id);
		if (rc != AFK_OK || probe != PROBE_PAST)
			break;
	}
	if (rc == AFK_OK && probe == PROBE_PAST)
		rc = afk__call_failf(call, AFK_EIO, "T3: threads %s to %s-%d "
		          "all hold finished runs; not dispatched", base, base,
		          T3_GENERATIONS);
	if (rc == AFK_OK && probe == PROBE_MISSING)
		rc = thread_create(call, t, thread_id, repo, number);
	if (rc == AFK_OK && probe != PROBE_LIVE)
		rc = turn_start(call, t, thread_id, prompt,
		                "T3 thread.turn.start");
	if (rc == AFK_OK)
		rc = afk_call_set_generation(call, gen);
	if (rc == AFK_OK)
		rc = afk_call_set_thread_id(call, thread_id);
	free(thread_id);
	free(base);
	return rc;
}

static int t3_send_turn(afk_call *call, const char *thread_id,
                        const char *prompt, void *userdata)
{
	struct t3_agent *t = userdata;
	int rc;

	if (thread_id == NULL || thread_id[0] == '\0')
		return AFK_EINVAL;
	rc = check_prompt(call, t, prompt);
	if (rc == AFK_OK)
		rc = check_env_once(call, t);
	if (rc != AFK_OK)
		return rc;
	return turn_start(call, t, thread_id, prompt, "T3 thread.turn.start");
}

/* Sends a command of type to thread_id that only needs the thread: an
 * interrupt or a stop.  *gone is set when the server does not know the
 * thread (404); *refused when it refused the command with another 4xx
 * (say, no turn to interrupt) - neither attaches a message. */
static int thread_cmd(afk_call *call, struct t3_agent *t, const char *type,
                      const char *thread_id, int *gone, int *refused)
{
	char cmd_id[96], now[40], what[64];
	afk__http_req r;
	json_t *cmd;
	char *body;
	int rc;

	*gone = *refused = 0;
	new_id(t, "stop", cmd_id, sizeof(cmd_id));
	iso_now(now, sizeof(now));
	snprintf(what, sizeof(what), "T3 %s", type);
	cmd = json_pack("{s:s, s:s, s:s, s:s}", "type", type,
	                "commandId", cmd_id, "threadId", thread_id,
	                "createdAt", now);
	body = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
	json_decref(cmd);
	if (body == NULL)
		return AFK_ENOMEM;
	rc = t3_run_ex(call, t, &r, "POST", "/api/orchestration/dispatch",
	               body, what, 1);
	free(body);
	if (rc != AFK_OK && r.fail == AFK__HTTP_ESTATUS) {
		*gone = r.status == 404;
		*refused = !*gone && r.status >= 400 && r.status < 500 &&
		           r.status != 401 && r.status != 403 &&
		           r.status != 429;
		if (*gone || *refused)
			rc = AFK_OK;
	}
	afk__http_req_clear(&r);
	return rc;
}

/* stop: interrupts the thread's turn, then stops its session.  A thread
 * the server does not know is stopped already; an interrupt it refuses
 * (no turn running) leaves only the session to stop.  Either command
 * sent twice is harmless, so a tick that dies after it asks again. */
static int t3_stop(afk_call *call, const char *repo, long number,
                   const char *thread_id, void *userdata)
{
	struct t3_agent *t = userdata;
	int rc, gone, refused;

	(void)repo;
	(void)number;
	if (thread_id == NULL || thread_id[0] == '\0')
		return AFK_EINVAL;
	rc = check_env_once(call, t);
	if (rc == AFK_OK)
		rc = thread_cmd(call, t, "thread.turn.interrupt", thread_id,
		                &gone, &refused);
	if (rc != AFK_OK || gone)
		return rc;
	rc = thread_cmd(call, t, "thread.session.stop", thread_id, &gone,
	                &refused);
	if (rc == AFK_OK && refused)
		return afk__call_failf(call, AFK_ECALLBACK, "T3 thread.session.stop"
		                       ": the server refused to stop thread %s",
		                       thread_id);
	return rc;
}

/* --- snapshot -------------------------------------------------------- */

/* The last "AFK-PHASE: <word>" of text, as AFK_PHASE_*, or -1. */
static int last_phase(const char *text, int phase)
{
	static const struct {
		const char *word;
		int phase;
	} words[] = {
		{"tests-red", AFK_PHASE_TESTS_RED},
		{"green", AFK_PHASE_GREEN},
		{"pushed", AFK_PHASE_PUSHED},
	};
	const char *p = text, *w;
	size_t i, n;

	while ((p = strstr(p, "AFK-PHASE:")) != NULL) {
		p += 10;
		while (*p == ' ' || *p == '\t')
			p++;
		for (w = p; (*w >= 'a' && *w <= 'z') || *w == '-'; w++)
			;
		n = (size_t)(w - p);
		for (i = 0; i < sizeof(words) / sizeof(*words); i++)
			if (strlen(words[i].word) == n &&
			    strncmp(words[i].word, p, n) == 0)
				phase = words[i].phase;
		p = w;
	}
	return phase;
}

/* 1 when an activity of kind "<what>.requested" has no later
 * "<what>.resolved" with its payload.requestId. */
static int pending(json_t *activities, const char *what)
{
	char req[64], res[64];
	afk__strv open = {NULL, 0, 0};
	const char *kind, *id;
	json_t *a;
	size_t i;
	long k;
	int any;

	snprintf(req, sizeof(req), "%s.requested", what);
	snprintf(res, sizeof(res), "%s.resolved", what);
	json_array_foreach(activities, i, a) {
		kind = json_string_value(json_object_get(a, "kind"));
		id = json_string_value(json_object_get(
		        json_object_get(a, "payload"), "requestId"));
		if (kind == NULL)
			continue;
		if (id == NULL)
			id = "";
		if (strcmp(kind, req) == 0 && afk__strv_find(&open, id) < 0) {
			afk__strv_push(&open, id);
		} else if (strcmp(kind, res) == 0 &&
		           (k = afk__strv_find(&open, id)) >= 0) {
			free(open.v[k]);
			open.v[k] = open.v[--open.n];
		}
	}
	any = open.n > 0;
	afk__strv_clear(&open);
	return any;
}

static int str_is(json_t *o, const char *key, const char *value)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && strcmp(s, value) == 0;
}

/* The AFK_AGENT_* state of thread, or -1 for a turn state this adapter
 * does not know. */
static int thread_state(json_t *thread)
{
	json_t *turn = json_object_get(thread, "latestTurn");
	json_t *session = json_object_get(thread, "session");
	json_t *acts = json_object_get(thread, "activities");
	int settled;

	if (json_is_object(turn) && !json_is_string(json_object_get(turn,
	                                                           "state")))
		return -1;
	if (str_is(turn, "state", "error") || str_is(session, "status", "error"))
		return AFK_AGENT_ERRORED;
	settled = str_is(turn, "state", "completed") ||
	          str_is(turn, "state", "interrupted");
	if (!settled && pending(acts, "approval"))
		return AFK_AGENT_WAITING_APPROVAL;
	if (!settled && pending(acts, "user-input"))
		return AFK_AGENT_WAITING_INPUT;
	if (str_is(turn, "state", "completed"))
		return AFK_AGENT_COMPLETED;
	if (str_is(turn, "state", "interrupted"))
		return AFK_AGENT_INTERRUPTED;
	if (str_is(session, "status", "stopped"))
		return AFK_AGENT_STOPPED;
	if (str_is(turn, "state", "running"))
		return AFK_AGENT_RUNNING;
	if (json_is_object(turn))
		return -1;
	/* No turn yet: the one asked for is starting, unless the session
	 * was interrupted before it did. */
	return str_is(session, "status", "interrupted") ?
	       AFK_AGENT_INTERRUPTED : AFK_AGENT_RUNNING;
}

/* The larger of *kept and the number v when v is a whole, finite, non-
 * negative number (scaled by scale, rounded, at most AFK__USAGE_MAX). */
static void usage_max(long long *kept, json_t *v, double scale)
{
	double d;

	if (!json_is_number(v))
		return;
	d = json_number_value(v) * scale;
	if (!(d >= 0))
		return;         /* negative, or NaN */
	if (d > (double)AFK__USAGE_MAX)
		d = (double)AFK__USAGE_MAX;
	if ((long long)(d + 0.5) > *kept)
		*kept = (long long)(d + 0.5);
}

/* Reports the thread's usage from its "context-window.updated"
 * activities (see the top of this file), when it has any. */
static int thread_usage(afk_call *call, json_t *thread)
{
	long long in = -1, out = -1, cost = -1;
	json_t *a, *payload;
	size_t i;

	json_array_foreach(json_object_get(thread, "activities"), i, a) {
		payload = json_object_get(a, "payload");
		if (!str_is(a, "kind", "context-window.updated") ||
		    !json_is_object(payload))
			continue;
		usage_max(&in, json_object_get(payload, "inputTokens"), 1);
		usage_max(&out, json_object_get(payload, "outputTokens"), 1);
		usage_max(&cost, json_object_get(json_object_get(payload, "cost"),
		                                 "totalCostUsd"), 1e6);
	}
	if (in < 0 && out < 0 && cost < 0)
		return AFK_OK;
	return afk_call_set_usage(call, in, out, cost);
}

/* snapshot: a thread the server answers 404 for no longer exists (it
 * was deleted, or the server lost its state): GONE, which the watch tick
 * escalates at once, not a failure that would hold the run until its
 * stall deadline.  The server's descriptor is read first, as before a
 * command (once a tick): a thread's detail is read only from a server of
 * the protocol it is understood in, and a URL that answers 404 for
 * everything (a server moved, a wrong path) fails the watch instead of
 * handing every run to a human as gone. */
static int t3_snapshot(afk_call *call, const char *thread_id,
                       void *userdata)
{
	struct t3_agent *t = userdata;
	json_t *thread = NULL, *m;
	const char *text;
	int rc, state, missing, phase = -1;
	size_t i;

	if (thread_id == NULL || thread_id[0] == '\0')
		return AFK_EINVAL;
	rc = check_env_once(call, t);
	if (rc != AFK_OK)
		return rc;
	rc = read_thread_ex(call, t, thread_id, &thread, &missing);
	if (rc != AFK_OK)
		return rc;
	if (missing)
		return afk_call_set_agent_state(call, AFK_AGENT_GONE);
	state = thread_state(thread);
	json_array_foreach(json_object_get(thread, "messages"), i, m) {
		text = json_string_value(json_object_get(m, "text"));
		if (str_is(m, "role", "assistant") && text != NULL)
			phase = last_phase(text, phase);
	}
	if (state < 0)
		rc = afk__call_failf(call, AFK_EPARSE, "T3 thread snapshot: "
		          "unknown latestTurn.state");
	else
		rc = afk_call_set_agent_state(call, state);
	if (rc == AFK_OK && phase >= 0)
		rc = afk_call_set_phase(call, phase);
	if (rc == AFK_OK)
		rc = thread_usage(call, thread);
	json_decref(thread);
	return rc;
}

/* --- registration ---------------------------------------------------- */

static int t3_new(const afk_config *cfg, struct t3_agent **out,
                  char *errbuf)
{
	struct t3_agent *t;
	char *token = NULL;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		afk__errf(errbuf, "agent: out of memory");
		return AFK_ENOMEM;
	}
	rc = afk__setup_secret(cfg, AFK__ROLE_AGENT, "token", "agent (t3)",
	                       &token, NULL, errbuf);
	if (rc == AFK_OK)
		rc = afk__setup_http(cfg, "agent (t3)", &t->http, errbuf);
	if (rc == AFK_OK) {
		t->base = afk__strdup(afk__config_str(cfg, AFK__ROLE_AGENT,
		                                      "url"));
		t->auth = afk__aprintf("Authorization: Bearer %s", token);
		t->project_id = afk__strdup(afk__config_str(cfg,
		                            AFK__ROLE_AGENT, "project_id"));
		t->model = afk__strdup(afk__config_str(cfg, AFK__ROLE_AGENT,
		                                       "model"));
		t->instance_id = afk__strdup(afk__config_str(cfg,
		                             AFK__ROLE_AGENT, "instance_id"));
		t->max_prompt = afk__config_int(cfg, AFK__ROLE_AGENT,
		                                "max_prompt");
		if (t->base == NULL || t->auth == NULL ||
		    t->project_id == NULL || t->model == NULL ||
		    t->instance_id == NULL ||
		    afk__http_add_secret(t->http, token) != AFK_OK) {
			afk__errf(errbuf, "agent: out of memory");
			rc = AFK_ENOMEM;
		}
	}
	afk__free_secret(token);
	if (rc != AFK_OK) {
		t3_free(t);
		return rc;
	}
	*out = t;
	return AFK_OK;
}

/* The userdata is handed to the agent, which owns it from then on. */
static int t3_setup(afk_agent *agent, const afk_config *cfg, char *errbuf)
{
	static const afk__agent_fns fns = {
		"T3", t3_dispatch, t3_snapshot, t3_send_turn, t3_stop, t3_probe,
		t3_tick_end
	};
	struct t3_agent *t;
	int rc;

	rc = t3_new(cfg, &t, errbuf);
	if (rc != AFK_OK)
		return rc;
	return afk__setup_agent(agent, t, t3_free, &fns, errbuf);
}

static const afk__member t3_members[] = {
	{"url", AFK__M_URL, AFK__M_REQUIRED, NULL, 0, 0, afk__url_check,
	 "the T3 Code server's base URL"},
	{"token", AFK__M_SECRET, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "where the bearer token is read from"},
	{"project_id", AFK__M_STRING, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "the T3 project the threads are made in"},
	{"model", AFK__M_STRING, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "the model each thread runs"},
	{"instance_id", AFK__M_STRING, 0, "\"codex\"", 0, 0, NULL,
	 "the provider instance that runs the model"},
	{"max_prompt", AFK__M_INT, 0, "100000", 1, 16LL * 1024 * 1024, NULL,
	 "bytes of the largest prompt sent; a larger one is refused"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_t3_agent = {
	{"t3", AFK__ROLE_AGENT, 0, t3_members,
	 "T3 Code's orchestration API: one thread per run"},
	{.agent = t3_setup}
};
