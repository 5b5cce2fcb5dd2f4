/*
 * lib/builtin/kubernetes.c - the "kubernetes" agent: one batch/v1 Job per
 * turn of a run, over the Kubernetes API through the HTTP layer
 * (lib/net/http.h).  The ticks stay stateless: everything a later tick
 * needs is a name it can derive or a label it can select by.
 *
 * The routes (Kubernetes API reference, v1.30):
 *   POST   /api/v1/namespaces/NS/secrets               create a Secret
 *   GET    /api/v1/namespaces/NS/secrets/NAME
 *   PATCH  /api/v1/namespaces/NS/secrets/NAME          merge-patch+json
 *   POST   /apis/batch/v1/namespaces/NS/jobs           create a Job
 *   GET    /apis/batch/v1/namespaces/NS/jobs/NAME
 *   GET    /apis/batch/v1/namespaces/NS/jobs?labelSelector=...
 *   DELETE /apis/batch/v1/namespaces/NS/jobs/NAME?propagationPolicy=Background
 *   GET    /api/v1/namespaces/NS/pods?labelSelector=...
 *   GET    /api/v1/namespaces/NS/pods/POD/log?container=agent&tailBytes=N
 *   GET    /version
 *   POST   /apis/authorization.k8s.io/v1/selfsubjectaccessreviews
 * Errors come as a Status object {"kind":"Status","status":"Failure",
 * "reason":"AlreadyExists","code":409,...}.
 *
 * Names.  A run is repo, issue and generation; its thread id is the
 * name of its first turn's Job:
 *   afk-<repo sanitized and cut>-<issue>-g<generation>-<8 hex>
 * a DNS-1123 label of at most 59 characters, lowercase; the hex is a
 * hash of the exact "repo#issue#generation", so that two repositories
 * that sanitize alike ("Acme/API" and "acme/api") never share a name.
 * Turn n > 1 (a corrective turn) is <thread>-t<n>: at most 63
 * characters up to turn 99.  Each turn's prompt is in a Secret named
 * like its Job (data key "prompt"), mounted at /afk/prompt; the command
 * gets AFK_PROMPT_FILE=/afk/prompt, AFK_REPO, AFK_ISSUE and AFK_TURN -
 * never the prompt in its environment or arguments, which anyone who
 * may read the Job would see.  Both objects carry the labels
 * app.kubernetes.io/managed-by=afk, afk.dev/thread=<thread> and
 * afk.dev/turn=<n>, and the annotations afk.dev/run=<repo>#<issue>#<gen>,
 * afk.dev/turn=<n> and afk.dev/prompt=<hash of the prompt>.
 *
 * Exactly once, across crashes: a dispatch creates the Secret, then the
 * Job, then makes the Job the Secret's owner (so the cluster deletes the
 * Secret with the Job).  A 409 on the Secret reuses it when its
 * afk.dev/run is this run's (a tick killed between the two creates:
 * no orphan, no second Secret); a 409 on the Job adopts it only when its
 * afk.dev/run is this run's (a tick killed after the create and before
 * the issue was labelled: one Job) - anything else already there is
 * refused, never adopted.  The owner patch is idempotent.
 *
 * Snapshot: the run's Jobs (one list by afk.dev/thread), the newest turn
 * decides: Complete -> completed; Failed -> errored with the condition's
 * reason (BackoffLimitExceeded, DeadlineExceeded); its pod waiting on
 * ImagePullBackOff, ErrImagePull, CreateContainerConfigError, or
 * unschedulable, or no pod made at all, for longer than pending_timeout
 * -> errored naming why (so the watch escalates instead of stalling);
 * a container OOMKilled -> errored naming it; no Job at all -> gone
 * (Jobs of the thread none of which has a turn label -> errored, not
 * gone: they may still run); else running.  The reason, made one line
 * (it holds the cluster's text), is the call's message, which the
 * watch's escalation names (afk_call_set_error(3)), and a warning on
 * the host's log.  Phase and
 * usage come from the last log_tail bytes of each started pod's log:
 * the last AFK-PHASE line of the newest turn that printed one, and the
 * AFK-USAGE lines summed over those tails.  Usage is therefore a lower
 * bound once a log outgrows log_tail (lines that scrolled out of the
 * tail are no longer counted; the watch's record keeps the highest sum
 * it saw, so the figure never goes down).  No activity time is reported:
 * the log's last line time is not to be had cheaply.
 *
 * The token is read from token_file, re-read whenever the file's
 * device, inode, size or modification time changed (the kubelet rotates
 * projected tokens by swapping a link), handed to the HTTP layer as a
 * secret and never in a message.  TLS is always verified: against
 * ca_file, or in-cluster the service account's ca.crt.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin/builtin.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "builtin/forge.h"
#include "core/log.h"
#include "core/usage.h"
#include "net/redact.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MANAGED_BY "app.kubernetes.io/managed-by"
#define L_THREAD "afk.dev/thread"
#define L_TURN "afk.dev/turn"
#define A_RUN "afk.dev/run"
#define A_PROMPT "afk.dev/prompt"
#define CONTAINER "agent"
#define PROMPT_DIR "/afk"
#define MAX_TURN 99
#define MAX_PROMPT (1000L * 1000L)  /* a Secret holds 1 MiB at most */
#define BASE_MAX 59                 /* room for "-t99" */

#define JOBS "/apis/batch/v1/namespaces/%s/jobs"
#define SECRETS "/api/v1/namespaces/%s/secrets"
#define PODS "/api/v1/namespaces/%s/pods"

/* --- the adapter's state --------------------------------------------- */

struct k8s_agent {
	afk__http *http;
	afk__log *log;
	char *base;           /* the API server's URL, no trailing '/' */
	char *ns;
	char *token_file;
	char *auth;           /* "Authorization: Bearer <token>" */
	char *token, *old_token; /* the token, and the one before it: the
	                           HTTP layer hides these two, not every
	                           token a long-lived host ever read */
	struct stat tok_st;   /* of token_file when auth was read */
	char *image;
	char *service_account;
	int automount;
	long long active_deadline, ttl, pending_timeout, log_tail;
	json_t *command, *resources, *node_selector, *tolerations,
	       *env_from_secrets;
};

static void k8s_tick_end(void *userdata)
{
	struct k8s_agent *k = userdata;

	afk__http_flush(k->http);
}

static void k8s_free(void *userdata)
{
	struct k8s_agent *k = userdata;

	if (k == NULL)
		return;
	afk__http_free(k->http);
	afk__log_unref(k->log);
	afk__free_secret(k->auth);
	afk__free_secret(k->token);
	afk__free_secret(k->old_token);
	free(k->base);
	free(k->ns);
	free(k->token_file);
	free(k->image);
	free(k->service_account);
	json_decref(k->command);
	json_decref(k->resources);
	json_decref(k->node_selector);
	json_decref(k->tolerations);
	json_decref(k->env_from_secrets);
	free(k);
}

/* --- names ----------------------------------------------------------- */

/* FNV-1a, 32 bits: a stable, short tag, not a security measure. */
static uint32_t fnv1a(const char *s, uint32_t h)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* "repo#issue#generation", the run's identity (heap, or NULL). */
static char *run_id(const char *repo, long number, int gen)
{
	return afk__aprintf("%s#%ld#%d", repo, number, gen);
}

char *afk__k8s_job_name(const char *repo, long number, int generation)
{
	char tail[64], *id = run_id(repo, number, generation), *out;
	size_t room, n = 0, i;

	if (id == NULL)
		return NULL;
	snprintf(tail, sizeof(tail), "-%ld-g%d-%08lx", number, generation,
	         (unsigned long)fnv1a(id, 2166136261u));
	free(id);
	out = malloc(BASE_MAX + 1);
	if (out == NULL || strlen(tail) + 5 > BASE_MAX) {
		free(out);
		return NULL;
	}
	room = BASE_MAX - 4 - strlen(tail);
	memcpy(out, "afk-", 4);
	for (i = 0; repo[i] != '\0' && n < room; i++) {
		char c = repo[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		/* no run of dashes, none first */
		if (c == '-' && (n == 0 || out[4 + n - 1] == '-'))
			continue;
		out[4 + n++] = c;
	}
	while (n > 0 && out[4 + n - 1] == '-')
		n--;
	if (n == 0)
		out[4 + n++] = 'x';
	snprintf(out + 4 + n, BASE_MAX + 1 - 4 - n, "%s", tail);
	return out;
}

/* The Job (and Secret) name of turn of thread: heap, or NULL. */
static char *turn_name(const char *thread, int turn)
{
	return turn <= 1 ? afk__strdup(thread) :
	       afk__aprintf("%s-t%d", thread, turn);
}

/* A hash of the prompt, to know a turn sent twice. */
static void prompt_tag(const char *prompt, char *buf, size_t size)
{
	uint32_t a = fnv1a(prompt, 2166136261u), b = fnv1a(prompt, 0x811c9dc6u ^
	                                                   0x5bd1e995u);

	snprintf(buf, size, "%08lx%08lx", (unsigned long)a, (unsigned long)b);
}

/* --- the token ------------------------------------------------------- */

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reads the token again when token_file changed since it was read: a
 * rotated token is used from the next request on.  errbuf (may be the
 * call's) gets why it cannot be read, never the token. */
static int token_fresh(struct k8s_agent *k, char *errbuf)
{
	struct stat st;
	char *token = NULL, *auth;
	int rc;

	if (stat(k->token_file, &st) == 0 && k->auth != NULL &&
	    same_file(&st, &k->tok_st))
		return AFK_OK;
	rc = afk__secret_read(NULL, k->token_file, "agent (kubernetes): "
	                      "token_file", &token, errbuf);
	if (rc != AFK_OK)
		return rc;
	auth = afk__aprintf("Authorization: Bearer %s", token);
	if (auth == NULL || afk__http_add_secret(k->http, token) != AFK_OK) {
		afk__free_secret(token);
		afk__free_secret(auth);
		afk__errf(errbuf, "agent (kubernetes): out of memory");
		return AFK_ENOMEM;
	}
	if (k->old_token != NULL && strcmp(k->old_token, token) != 0 &&
	    (k->token == NULL || strcmp(k->old_token, k->token) != 0))
		afk__http_drop_secret(k->http, k->old_token);
	if (k->token != NULL && strcmp(k->token, token) == 0) {
		afk__free_secret(token); /* the file was touched, not rotated */
	} else {
		afk__free_secret(k->old_token);
		k->old_token = k->token;
		k->token = token;
	}
	afk__free_secret(k->auth);
	k->auth = auth;
	k->tok_st = st;
	return AFK_OK;
}

static int call_token(afk_call *call, struct k8s_agent *k)
{
	char why[AFK__ERRMSG_SIZE];
	int rc = token_fresh(k, why);

	if (rc != AFK_OK)
		afk_call_set_error(call, why);
	return rc;
}

/* --- requests -------------------------------------------------------- */

/* What a request is, for messages: "create jobs" (verb, resource). */
typedef struct kreq {
	const char *verb;
	const char *resource;
	const char *name;      /* the object's, or NULL */
	unsigned quiet;        /* statuses left to the caller, no message:
	                          Q404, Q409 */
} kreq;

#define Q404 1u
#define Q409 2u

/* The Status object's reason of a failed answer, or "". */
static void status_reason(const afk__http_req *r, char *buf, size_t size)
{
	json_t *st = r->data ? json_loadb(r->data, r->len, 0, NULL) : NULL;
	const char *s = json_string_value(json_object_get(st, "reason"));

	afk__one_line(buf, size, s ? s : "", s ? strlen(s) : 0);
	json_decref(st);
}

/* Runs one request against base + path with the token; a failure gets a
 * message naming the verb and the resource (a 403: the RBAC permission
 * that is missing) unless its status is one quiet names. */
static int k8s_run(afk_call *call, struct k8s_agent *k, afk__http_req *r,
                   const kreq *q, const char *method, const char *path,
                   const char *json, const char *const *headers)
{
	char *url, what[160], name[96], reason[64];
	int rc;

	memset(r, 0, sizeof(*r));
	rc = call_token(call, k);
	if (rc != AFK_OK)
		return rc;
	url = afk__aprintf("%s%s", k->base, path);
	if (url == NULL)
		return AFK_ENOMEM;
	/* the name may be the cluster's (a listed Job's): one line */
	afk__one_line(name, sizeof(name), q->name ? q->name : "",
	              q->name ? strlen(q->name) : 0);
	snprintf(what, sizeof(what), "Kubernetes: %s %s%s%s", q->verb,
	         q->resource, q->name ? " " : "", name);
	r->what = what;
	r->method = method;
	r->url = url;
	r->json = json;
	r->headers = headers;
	r->secret_header = k->auth;
	rc = afk__http_run(k->http, r, 1);
	r->url = NULL;
	r->what = NULL;
	free(url);
	if (rc == AFK_OK || r->fail != AFK__HTTP_ESTATUS) {
		if (rc != AFK_OK)
			afk_call_set_error(call, r->errmsg);
		return rc;
	}
	if ((r->status == 404 && (q->quiet & Q404)) ||
	    (r->status == 409 && (q->quiet & Q409)))
		return rc;
	status_reason(r, reason, sizeof(reason));
	if (r->status == 403)
		return afk__call_failf(call, rc, "Kubernetes: forbidden to %s "
		          "%s in namespace %s (403%s%s): the agent's service "
		          "account needs that RBAC permission", q->verb,
		          q->resource, k->ns, reason[0] ? " " : "", reason);
	if (r->status == 401)
		return afk__call_failf(call, rc, "Kubernetes: %s %s: the token "
		          "of %s was refused (401)", q->verb, q->resource,
		          k->token_file);
	afk_call_set_error(call, r->errmsg);
	return rc;
}

/* GETs path and parses the answer into *out (a new reference).  With
 * Q404 in quiet, a 404 is AFK_OK with *out NULL. */
static int k8s_get(afk_call *call, struct k8s_agent *k, const kreq *q,
                   const char *path, json_t **out)
{
	afk__http_req r;
	json_error_t jerr;
	int rc;

	*out = NULL;
	rc = k8s_run(call, k, &r, q, "GET", path, NULL, NULL);
	if (rc != AFK_OK && r.fail == AFK__HTTP_ESTATUS && r.status == 404 &&
	    (q->quiet & Q404)) {
		afk__http_req_clear(&r);
		return AFK_OK;
	}
	if (rc == AFK_OK) {
		*out = json_loadb(r.data, r.len, 0, &jerr);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			rc = afk__call_failf(call, AFK_EPARSE, "Kubernetes: %s "
			          "%s: the answer is no JSON object", q->verb,
			          q->resource);
		}
	}
	afk__http_req_clear(&r);
	return rc;
}

/* An encoded path: fmt's %s are the namespace, then name (encoded). */
static char *path1(const char *fmt, const char *ns, const char *name)
{
	char *a = afk__forge_enc(ns), *b = name ? afk__forge_enc(name) : NULL;
	char *out = NULL;

	if (a != NULL && (name == NULL || b != NULL))
		out = afk__aprintf(fmt, a, b);
	free(a);
	free(b);
	return out;
}

static const char *annotation(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(
	        json_object_get(obj, "metadata"), "annotations"), key));
}

static const char *label(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(
	        json_object_get(obj, "metadata"), "labels"), key));
}

static int str_is(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Lists what fmt names (JOBS, PODS) with label afk.dev/thread=thread
 * into *items (a new reference to the "items" array). */
static int list_thread(afk_call *call, struct k8s_agent *k, const char *fmt,
                       const char *resource, const char *thread,
                       json_t **items)
{
	kreq q = {"list", resource, NULL, 0};
	char *sel = afk__aprintf("%s=%s", L_THREAD, thread), *esel, *base,
	     *path;
	json_t *list;
	int rc;

	*items = NULL;
	esel = sel ? afk__forge_enc(sel) : NULL;
	base = path1(fmt, k->ns, NULL);
	path = esel && base ? afk__aprintf("%s?labelSelector=%s", base, esel) :
	       NULL;
	free(sel);
	free(esel);
	free(base);
	if (path == NULL)
		return AFK_ENOMEM;
	rc = k8s_get(call, k, &q, path, &list);
	free(path);
	if (rc != AFK_OK)
		return rc;
	*items = json_incref(json_object_get(list, "items"));
	json_decref(list);
	if (!json_is_array(*items)) {
		json_decref(*items);
		*items = NULL;
		return afk__call_failf(call, AFK_EPARSE, "Kubernetes: list %s: "
		          "the answer has no items", resource);
	}
	return AFK_OK;
}

/* The turn of a Job or pod (its afk.dev/turn label), 0 when it has
 * none. */
static int turn_of(json_t *obj)
{
	const char *s = label(obj, L_TURN);
	long n;
	char *end;

	if (s == NULL)
		return 0;
	n = strtol(s, &end, 10);
	return *end == '\0' && n >= 1 && n <= MAX_TURN ? (int)n : 0;
}

/* The newest turn's Job of items, or NULL. */
static json_t *newest(json_t *items)
{
	json_t *j, *best = NULL;
	size_t i;

	json_array_foreach(items, i, j)
		if (turn_of(j) > 0 &&
		    (best == NULL || turn_of(j) > turn_of(best)))
			best = j;
	return best;
}

/* The condition of type of obj's status that is "True", or NULL. */
static json_t *condition(json_t *obj, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(obj, "status"),
	                                   "conditions"), i, c)
		if (str_is(json_string_value(json_object_get(c, "type")),
		           type) &&
		    str_is(json_string_value(json_object_get(c, "status")),
		           "True"))
			return c;
	return NULL;
}

/* --- the objects sent ------------------------------------------------ */

/* base64 of the n bytes of s (heap, or NULL). */
static char *base64(const char *s, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		*o++ = abc[p[i] >> 2];
		*o++ = abc[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = abc[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = abc[p[i + 2] & 63];
	}
	if (i < n) {
		*o++ = abc[p[i] >> 2];
		if (i + 1 < n) {
			*o++ = abc[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*o++ = abc[(p[i + 1] & 15) << 2];
		} else {
			*o++ = abc[(p[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* What a turn is: the run, the turn, the names. */
typedef struct turn_info {
	const char *repo;
	long number;
	const char *run;       /* "repo#issue#generation" */
	const char *thread;
	const char *name;      /* this turn's Job and Secret */
	int turn;
	char tag[20];          /* prompt_tag() */
} turn_info;

/* The metadata both objects carry. */
static json_t *metadata(const struct k8s_agent *k, const turn_info *t)
{
	char turn[16];

	snprintf(turn, sizeof(turn), "%d", t->turn);
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}",
	                 "name", t->name, "namespace", k->ns,
	                 "labels", MANAGED_BY, "afk", L_THREAD, t->thread,
	                 L_TURN, turn,
	                 "annotations", A_RUN, t->run, L_TURN, turn,
	                 A_PROMPT, t->tag);
}

static json_t *secret_body(const struct k8s_agent *k, const turn_info *t,
                           const char *prompt)
{
	char *b64 = base64(prompt, strlen(prompt));
	json_t *o = b64 ? json_pack("{s:s, s:s, s:o, s:s, s:{s:s}}",
	                            "apiVersion", "v1", "kind", "Secret",
	                            "metadata", metadata(k, t),
	                            "type", "Opaque", "data", "prompt", b64) :
	            NULL;

	free(b64);
	return o;
}

static json_t *env_var(const char *name, const char *value)
{
	return json_pack("{s:s, s:s}", "name", name, "value", value);
}

/* The container's environment: the run's facts, then the configured
 * secret references - never a value from the configuration. */
static json_t *container_env(const struct k8s_agent *k, const turn_info *t)
{
	char issue[32], turn[16];
	json_t *env = json_array(), *e;
	size_t i;

	snprintf(issue, sizeof(issue), "%ld", t->number);
	snprintf(turn, sizeof(turn), "%d", t->turn);
	if (env == NULL)
		return NULL;
	json_array_append_new(env, env_var("AFK_PROMPT_FILE",
	                                   PROMPT_DIR "/prompt"));
	json_array_append_new(env, env_var("AFK_REPO", t->repo));
	json_array_append_new(env, env_var("AFK_ISSUE", issue));
	json_array_append_new(env, env_var("AFK_TURN", turn));
	json_array_foreach(k->env_from_secrets, i, e)
		json_array_append_new(env, json_pack("{s:O, s:{s:{s:O, s:O}}}",
		        "name", json_object_get(e, "name"),
		        "valueFrom", "secretKeyRef",
		        "name", json_object_get(e, "secret"),
		        "key", json_object_get(e, "key")));
	if (json_array_size(env) != 4 + json_array_size(k->env_from_secrets)) {
		json_decref(env);
		return NULL;
	}
	return env;
}

static json_t *job_body(const struct k8s_agent *k, const turn_info *t)
{
	json_t *meta = metadata(k, t), *container, *pod, *job;
	char turn[16];

	snprintf(turn, sizeof(turn), "%d", t->turn);
	container = json_pack("{s:s, s:s, s:O, s:o, s:[{s:s, s:s, s:b}]}",
	                      "name", CONTAINER, "image", k->image,
	                      "command", k->command,
	                      "env", container_env(k, t),
	                      "volumeMounts", "name", "prompt",
	                      "mountPath", PROMPT_DIR, "readOnly", 1);
	if (container != NULL && k->resources != NULL)
		json_object_set(container, "resources", k->resources);
	pod = json_pack("{s:s, s:b, s:[o], s:[{s:s, s:{s:s, s:i}}]}",
	                "restartPolicy", "Never",
	                "automountServiceAccountToken", k->automount,
	                "containers", container,
	                "volumes", "name", "prompt", "secret",
	                "secretName", t->name, "defaultMode", 0444);
	if (pod != NULL && k->service_account != NULL)
		json_object_set_new(pod, "serviceAccountName",
		                    json_string(k->service_account));
	if (pod != NULL && k->node_selector != NULL)
		json_object_set(pod, "nodeSelector", k->node_selector);
	if (pod != NULL && k->tolerations != NULL)
		json_object_set(pod, "tolerations", k->tolerations);
	job = json_pack("{s:s, s:s, s:o, s:{s:i, s:I, s:I, s:{s:{s:{s:s, "
	                "s:s, s:s}}, s:o}}}",
	                "apiVersion", "batch/v1", "kind", "Job",
	                "metadata", meta,
	                "spec", "backoffLimit", 0,
	                "activeDeadlineSeconds", (json_int_t)k->active_deadline,
	                "ttlSecondsAfterFinished", (json_int_t)k->ttl,
	                "template", "metadata", "labels", MANAGED_BY, "afk",
	                L_THREAD, t->thread, L_TURN, turn,
	                "spec", pod);
	return job;
}

/* --- starting a turn ------------------------------------------------- */

/* POSTs obj (a new reference, taken) to the collection fmt names.
 * *conflict is set on a 409 (no message), *answer (may be NULL) gets
 * the created object. */
static int create(afk_call *call, struct k8s_agent *k, const char *fmt,
                  const char *resource, json_t *obj, int *conflict,
                  json_t **answer)
{
	kreq q = {"create", resource, NULL, Q409};
	char *body = obj ? json_dumps(obj, JSON_COMPACT) : NULL,
	     *path = path1(fmt, k->ns, NULL);
	afk__http_req r;
	int rc;

	json_decref(obj);
	*conflict = 0;
	if (answer != NULL)
		*answer = NULL;
	if (body == NULL || path == NULL) {
		free(body);
		free(path);
		return AFK_ENOMEM;
	}
	rc = k8s_run(call, k, &r, &q, "POST", path, body, NULL);
	free(body);
	free(path);
	if (rc != AFK_OK && r.fail == AFK__HTTP_ESTATUS && r.status == 409) {
		*conflict = 1;
		rc = AFK_OK;
	} else if (rc == AFK_OK && answer != NULL) {
		*answer = json_loadb(r.data, r.len, 0, NULL);
	}
	afk__http_req_clear(&r);
	return rc;
}

/* Reads the object name of fmt after a 409 and refuses it unless it is
 * this turn's: its afk.dev/run and afk.dev/turn those of t.  *out (may
 * be NULL) gets it. */
static int ours(afk_call *call, struct k8s_agent *k, const char *fmt,
                const char *resource, const turn_info *t, json_t **out)
{
	kreq q = {"get", resource, t->name, 0};
	char *path = path1(fmt, k->ns, t->name), turn[16], got[160];
	const char *run;
	json_t *obj;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (path == NULL)
		return AFK_ENOMEM;
	rc = k8s_get(call, k, &q, path, &obj);
	free(path);
	if (rc != AFK_OK)
		return rc;
	snprintf(turn, sizeof(turn), "%d", t->turn);
	run = annotation(obj, A_RUN);
	if (!str_is(run, t->run) || !str_is(annotation(obj, L_TURN), turn)) {
		afk__one_line(got, sizeof(got), run ? run : "(none)",
		              run ? strlen(run) : 6);
		json_decref(obj);
		return afk__call_failf(call, AFK_ECALLBACK, "Kubernetes: %s %s "
		          "already exists in namespace %s and is not this run's "
		          "(%s is \"%s\", not \"%s\" turn %s); refused, not "
		          "adopted", resource, t->name, k->ns, A_RUN, got,
		          t->run, turn);
	}
	if (out != NULL)
		*out = obj;
	else
		json_decref(obj);
	return AFK_OK;
}

/* Makes the Job with uid the owner of the turn's Secret. */
static int own_secret(afk_call *call, struct k8s_agent *k,
                      const turn_info *t, const char *uid)
{
	static const char *const headers[] = {
		"Content-Type: application/merge-patch+json", NULL
	};
	kreq q = {"patch", "secrets", t->name, 0};
	json_t *patch = json_pack("{s:{s:[{s:s, s:s, s:s, s:s}]}}",
	                          "metadata", "ownerReferences",
	                          "apiVersion", "batch/v1", "kind", "Job",
	                          "name", t->name, "uid", uid);
	char *body = patch ? json_dumps(patch, JSON_COMPACT) : NULL,
	     *path = path1(SECRETS "/%s", k->ns, t->name);
	afk__http_req r;
	int rc = AFK_ENOMEM;

	json_decref(patch);
	if (body != NULL && path != NULL) {
		rc = k8s_run(call, k, &r, &q, "PATCH", path, body, headers);
		afk__http_req_clear(&r);
	}
	free(body);
	free(path);
	return rc;
}

/* The prompt, refused before anything is sent when it cannot be one. */
static int check_prompt(afk_call *call, const char *prompt)
{
	size_t n;

	if (prompt == NULL)
		return AFK_EINVAL;
	n = strlen(prompt);
	if (n > (size_t)MAX_PROMPT)
		return afk__call_failf(call, AFK_EINVAL, "Kubernetes: the prompt "
		          "is %zu bytes, over the %ld a Secret holds; refused, "
		          "not truncated", n, MAX_PROMPT);
	if (!afk__utf8_valid(prompt))
		return afk__call_failf(call, AFK_EINVAL, "Kubernetes: the prompt "
		          "is not valid UTF-8");
	return AFK_OK;
}

/* Starts turn t: the Secret (or ours, left by a killed tick), the Job
 * (or ours), then the Secret's owner. */
static int start_turn(afk_call *call, struct k8s_agent *k,
                      const turn_info *t, const char *prompt)
{
	json_t *job = NULL;
	const char *uid;
	int rc, conflict;

	rc = create(call, k, SECRETS, "secrets", secret_body(k, t, prompt),
	            &conflict, NULL);
	if (rc == AFK_OK && conflict)
		rc = ours(call, k, SECRETS "/%s", "secrets", t, NULL);
	if (rc == AFK_OK)
		rc = create(call, k, JOBS, "jobs", job_body(k, t), &conflict,
		            &job);
	if (rc == AFK_OK && conflict)
		rc = ours(call, k, JOBS "/%s", "jobs", t, &job);
	if (rc != AFK_OK) {
		json_decref(job);
		return rc;
	}
	uid = json_string_value(json_object_get(json_object_get(job,
	                                        "metadata"), "uid"));
	if (uid == NULL || uid[0] == '\0')
		rc = afk__call_failf(call, AFK_EPARSE, "Kubernetes: Job %s: no "
		          "metadata.uid in the answer", t->name);
	else
		rc = own_secret(call, k, t, uid);
	json_decref(job);
	return rc;
}

static int k8s_dispatch(afk_call *call, const char *repo, long number,
                        const char *prompt, void *userdata)
{
	struct k8s_agent *k = userdata;
	int gen = afk_call_generation(call), rc;
	turn_info t;
	char *run, *name;

	if (repo == NULL || number <= 0)
		return AFK_EINVAL;
	rc = check_prompt(call, prompt);
	if (rc != AFK_OK)
		return rc;
	run = run_id(repo, number, gen);
	name = afk__k8s_job_name(repo, number, gen);
	if (run == NULL || name == NULL) {
		free(run);
		free(name);
		return AFK_ENOMEM;
	}
	memset(&t, 0, sizeof(t));
	t.repo = repo;
	t.number = number;
	t.run = run;
	t.thread = t.name = name;
	t.turn = 1;
	prompt_tag(prompt, t.tag, sizeof(t.tag));
	rc = start_turn(call, k, &t, prompt);
	if (rc == AFK_OK)
		rc = afk_call_set_thread_id(call, name);
	free(run);
	free(name);
	return rc;
}

/* 1 when the Job is over: Complete or Failed. */
static int job_over(json_t *job)
{
	return condition(job, "Complete") != NULL ||
	       condition(job, "Failed") != NULL;
}

/* A corrective turn: the next turn's Job, once the previous one is over.
 * The same prompt asked for again while its turn runs (a tick killed
 * after the create) is that turn, not a refusal. */
static int k8s_send_turn(afk_call *call, const char *thread_id,
                         const char *prompt, void *userdata)
{
	struct k8s_agent *k = userdata;
	json_t *items, *last;
	char *name = NULL, *repo = NULL, *hash;
	const char *run;
	turn_info t;
	int rc;

	if (thread_id == NULL || thread_id[0] == '\0')
		return AFK_EINVAL;
	rc = check_prompt(call, prompt);
	if (rc == AFK_OK)
		rc = list_thread(call, k, JOBS, "jobs", thread_id, &items);
	if (rc != AFK_OK)
		return rc;
	memset(&t, 0, sizeof(t));
	prompt_tag(prompt, t.tag, sizeof(t.tag));
	last = newest(items);
	run = annotation(last, A_RUN);
	if (last == NULL || run == NULL || (hash = strrchr(run, '#')) == NULL ||
	    hash == run) {
		json_decref(items);
		return afk__call_failf(call, AFK_ECALLBACK, "Kubernetes: thread "
		          "%s has no Job of afk's in namespace %s; no turn sent",
		          thread_id, k->ns);
	}
	if (!job_over(last)) {
		rc = str_is(annotation(last, A_PROMPT), t.tag) ? AFK_OK :
		     afk__call_failf(call, AFK_ECALLBACK, "Kubernetes: turn %d "
		          "of %s is still running; the next is sent once it "
		          "ends", turn_of(last), thread_id);
		json_decref(items);
		return rc;
	}
	t.turn = turn_of(last) + 1;
	if (t.turn > MAX_TURN) {
		json_decref(items);
		return afk__call_failf(call, AFK_ECALLBACK, "Kubernetes: %s has "
		          "had %d turns, the most a thread takes", thread_id,
		          MAX_TURN);
	}
	/* "owner/name#7#1": the repository is what precedes the issue */
	repo = afk__strdup(run);
	name = turn_name(thread_id, t.turn);
	if (repo != NULL && name != NULL) {
		char *p = strchr(repo, '#');

		t.number = p ? strtol(p + 1, NULL, 10) : 0;
		if (p != NULL)
			*p = '\0';
		t.repo = repo;
		t.run = run;
		t.thread = thread_id;
		t.name = name;
		rc = start_turn(call, k, &t, prompt);
	} else {
		rc = AFK_ENOMEM;
	}
	free(repo);
	free(name);
	json_decref(items);
	return rc;
}

/* --- stop ------------------------------------------------------------ */

static int delete_job(afk_call *call, struct k8s_agent *k, const char *name)
{
	kreq q = {"delete", "jobs", name, Q404};
	char *path = path1(JOBS "/%s?propagationPolicy=Background", k->ns,
	                   name);
	afk__http_req r;
	int rc;

	if (path == NULL)
		return AFK_ENOMEM;
	rc = k8s_run(call, k, &r, &q, "DELETE", path, NULL, NULL);
	if (rc != AFK_OK && r.fail == AFK__HTTP_ESTATUS && r.status == 404)
		rc = AFK_OK;
	afk__http_req_clear(&r);
	free(path);
	return rc;
}

/* Deletes every Job of the thread (the pods and the Secrets go with
 * them); one already gone is stopped. */
static int k8s_stop(afk_call *call, const char *repo, long number,
                    const char *thread_id, void *userdata)
{
	struct k8s_agent *k = userdata;
	json_t *items, *j;
	const char *name;
	size_t i;
	int rc;

	(void)repo;
	(void)number;
	if (thread_id == NULL || thread_id[0] == '\0')
		return AFK_EINVAL;
	rc = list_thread(call, k, JOBS, "jobs", thread_id, &items);
	json_array_foreach(items, i, j) {
		name = json_string_value(json_object_get(json_object_get(j,
		                         "metadata"), "name"));
		if (rc == AFK_OK && name != NULL)
			rc = delete_job(call, k, name);
	}
	json_decref(items);
	return rc;
}

/* --- snapshot -------------------------------------------------------- */

/* Why pod keeps the turn from running and has for longer than
 * pending_timeout, in buf; "" when nothing does (yet). */
static void pod_stuck(const struct k8s_agent *k, json_t *pod, long long now,
                      char *buf, size_t size)
{
	static const char *const waits[] = {
		"ImagePullBackOff", "ErrImagePull",
		"CreateContainerConfigError", "InvalidImageName", NULL
	};
	json_t *status = json_object_get(pod, "status"), *cs, *c,
	       *css = json_object_get(status, "containerStatuses");
	const char *why, *msg;
	long long since;
	size_t i, w;

	buf[0] = '\0';
	json_array_foreach(css, i, cs) {
		why = json_string_value(json_object_get(json_object_get(
		        json_object_get(cs, "state"), "terminated"), "reason"));
		if (str_is(why, "OOMKilled")) {
			snprintf(buf, size, "OOMKilled (container %s ran out of "
			         "its memory limit)", CONTAINER);
			return;
		}
	}
	since = afk__utc_seconds(json_string_value(json_object_get(
	        json_object_get(pod, "metadata"), "creationTimestamp")));
	json_array_foreach(css, i, cs) {
		c = json_object_get(json_object_get(cs, "state"), "waiting");
		why = json_string_value(json_object_get(c, "reason"));
		for (w = 0; why != NULL && waits[w] != NULL; w++)
			if (strcmp(why, waits[w]) == 0 && since >= 0 &&
			    now - since > k->pending_timeout) {
				snprintf(buf, size, "%s for more than %llds", why,
				         k->pending_timeout);
				return;
			}
	}
	json_array_foreach(json_object_get(status, "conditions"), i, c) {
		if (!str_is(json_string_value(json_object_get(c, "type")),
		            "PodScheduled") ||
		    !str_is(json_string_value(json_object_get(c, "status")),
		            "False"))
			continue;
		since = afk__utc_seconds(json_string_value(json_object_get(c,
		                         "lastTransitionTime")));
		why = json_string_value(json_object_get(c, "reason"));
		msg = json_string_value(json_object_get(c, "message"));
		if (since >= 0 && now - since > k->pending_timeout) {
			snprintf(buf, size, "%s for more than %llds%s%.200s",
			         why ? why : "Unschedulable", k->pending_timeout,
			         msg ? ": " : "", msg ? msg : "");
			return;
		}
	}
}

/* A Job of turn that has no pod at all pending_timeout after it was
 * made - a quota, an admission webhook or a missing service account
 * refused it (the Job's FailedCreate events say which) - is as stuck as
 * a pod that cannot start: why goes in buf, left alone otherwise. */
static void no_pod(const struct k8s_agent *k, json_t *job, json_t *pods,
                   int turn, long long now, char *buf, size_t size)
{
	json_t *pod;
	long long since;
	size_t i;

	json_array_foreach(pods, i, pod)
		if (turn_of(pod) == turn)
			return;
	since = afk__utc_seconds(json_string_value(json_object_get(
	        json_object_get(job, "metadata"), "creationTimestamp")));
	if (since >= 0 && now - since > k->pending_timeout)
		snprintf(buf, size, "no pod was created for more than %llds "
		         "(see the Job's FailedCreate events: a quota, an "
		         "admission check, a missing service account)",
		         k->pending_timeout);
}

/* 1 when a container of pod has started: its log may be read. */
static int pod_started(json_t *pod)
{
	json_t *cs, *st;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(pod, "status"),
	                                   "containerStatuses"), i, cs) {
		st = json_object_get(cs, "state");
		if (json_object_get(st, "running") ||
		    json_object_get(st, "terminated"))
			return 1;
	}
	return 0;
}

/* Adds to *sum the AFK-USAGE lines of the last log_tail bytes of pod's
 * log and sets *phase to its last AFK-PHASE line, if any.  A first line
 * the tail cut is no marker. */
static int read_log(afk_call *call, struct k8s_agent *k, const char *pod,
                    afk__usage *sum, int *phase)
{
	static const char *const headers[] = {"Accept: */*", NULL};
	kreq q = {"get", "pods/log", pod, Q404};
	char *base = path1(PODS "/%s/log", k->ns, pod), *path;
	afk__http_req r;
	afk__usage inc;
	const char *p, *end, *nl;
	int rc, p2;

	path = base ? afk__aprintf("%s?container=%s&tailBytes=%lld", base,
	                           CONTAINER, k->log_tail) : NULL;
	free(base);
	if (path == NULL)
		return AFK_ENOMEM;
	rc = k8s_run(call, k, &r, &q, "GET", path, NULL, headers);
	free(path);
	if (rc != AFK_OK) {
		/* a pod deleted meanwhile has no log: nothing to read */
		if (r.fail == AFK__HTTP_ESTATUS && r.status == 404)
			rc = AFK_OK;
		afk__http_req_clear(&r);
		return rc;
	}
	p = r.data;
	end = r.data + r.len;
	if ((long long)r.len >= k->log_tail) {
		nl = memchr(p, '\n', r.len);
		p = nl ? nl + 1 : end;
	}
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((p2 = afk__phase_parse_line(p, (size_t)(nl - p))) >= 0)
			*phase = p2;
		if (afk__usage_parse_line(p, (size_t)(nl - p), &inc) == 1)
			afk__usage_add(sum, &inc);
		if (nl == end)
			break;
	}
	afk__http_req_clear(&r);
	return AFK_OK;
}

/* Phase and usage from the logs of pods, turn by turn, so that the
 * newest turn's phase wins. */
static int read_logs(afk_call *call, struct k8s_agent *k, json_t *pods,
                     int turns, int *phase)
{
	afk__usage sum = {0, 0, 0};
	const char *name;
	json_t *pod;
	size_t i;
	int turn, rc = AFK_OK;

	for (turn = 1; rc == AFK_OK && turn <= turns; turn++)
		json_array_foreach(pods, i, pod) {
			name = json_string_value(json_object_get(
			        json_object_get(pod, "metadata"), "name"));
			if (rc == AFK_OK && turn_of(pod) == turn &&
			    name != NULL && pod_started(pod))
				rc = read_log(call, k, name, &sum, phase);
		}
	if (rc != AFK_OK || (sum.tokens_in == 0 && sum.tokens_out == 0 &&
	                     sum.cost_microusd == 0))
		return rc;
	return afk_call_set_usage(call, sum.tokens_in, sum.tokens_out,
	                          sum.cost_microusd);
}

/* Reports an errored turn: the call's message and a warning. */
static int errored(afk_call *call, struct k8s_agent *k, const char *job,
                   const char *why)
{
	char raw[AFK__ERRMSG_SIZE], msg[AFK__ERRMSG_SIZE];

	/* job and why hold the cluster's text (a Job's name, a condition's
	 * reason and message): one line, for the message and the log */
	snprintf(raw, sizeof(raw), "Kubernetes: Job %s failed: %s", job, why);
	afk__one_line(msg, sizeof(msg), raw, strlen(raw));
	afk_call_set_error(call, msg);
	afk__log_str(k->log, AFK_LOG_WARNING, "kubernetes.job_failed", msg);
	return afk_call_set_agent_state(call, AFK_AGENT_ERRORED);
}

static int k8s_snapshot(afk_call *call, const char *thread_id,
                        void *userdata)
{
	struct k8s_agent *k = userdata;
	json_t *jobs = NULL, *pods = NULL, *last, *pod, *failed;
	char why[AFK__ERRMSG_SIZE / 2], stuck[AFK__ERRMSG_SIZE / 2];
	const char *name, *reason, *msg;
	int rc, phase = -1, turn;
	size_t i;

	if (thread_id == NULL || thread_id[0] == '\0')
		return AFK_EINVAL;
	rc = list_thread(call, k, JOBS, "jobs", thread_id, &jobs);
	if (rc != AFK_OK)
		return rc;
	last = newest(jobs);
	if (last == NULL && json_array_size(jobs) > 0) {
		/* The thread's Jobs are there, but none says which turn it
		 * is (its afk.dev/turn label was changed): not gone - gone
		 * would free the issue while a Job may still push. */
		snprintf(why, sizeof(why), "%zu Job(s) of the thread carry no "
		         "%s label of 1 to %d; not reported gone while they "
		         "exist", json_array_size(jobs), L_TURN, MAX_TURN);
		json_decref(jobs);
		return errored(call, k, thread_id, why);
	}
	if (last == NULL) {
		json_decref(jobs);
		return afk_call_set_agent_state(call, AFK_AGENT_GONE);
	}
	turn = turn_of(last);
	name = json_string_value(json_object_get(json_object_get(last,
	                         "metadata"), "name"));
	rc = list_thread(call, k, PODS, "pods", thread_id, &pods);
	if (rc == AFK_OK)
		rc = read_logs(call, k, pods, turn, &phase);
	if (rc == AFK_OK && phase >= 0)
		rc = afk_call_set_phase(call, phase);
	stuck[0] = '\0';
	json_array_foreach(pods, i, pod)
		if (stuck[0] == '\0' && turn_of(pod) == turn)
			pod_stuck(k, pod, (long long)time(NULL), stuck,
			          sizeof(stuck));
	if (rc == AFK_OK && !job_over(last))
		no_pod(k, last, pods, turn, (long long)time(NULL), stuck,
		       sizeof(stuck));
	if (rc != AFK_OK) {
		/* the message is the failed read's */
	} else if (condition(last, "Complete") != NULL) {
		rc = afk_call_set_agent_state(call, AFK_AGENT_COMPLETED);
	} else if ((failed = condition(last, "Failed")) != NULL) {
		reason = json_string_value(json_object_get(failed, "reason"));
		msg = json_string_value(json_object_get(failed, "message"));
		snprintf(why, sizeof(why), "%s%s%.200s%s%s",
		         reason ? reason : "Failed", msg ? ": " : "",
		         msg ? msg : "", stuck[0] ? "; " : "", stuck);
		rc = errored(call, k, name ? name : thread_id, why);
	} else if (stuck[0] != '\0') {
		rc = errored(call, k, name ? name : thread_id, stuck);
	} else {
		rc = afk_call_set_agent_state(call, AFK_AGENT_RUNNING);
	}
	json_decref(jobs);
	json_decref(pods);
	return rc;
}

/* --- probe ----------------------------------------------------------- */

/* What a tick does, as SelfSubjectAccessReview attributes. */
static const struct perm {
	const char *verb, *group, *resource, *sub;
} perms[] = {
	{"create", "batch", "jobs", ""}, {"get", "batch", "jobs", ""},
	{"list", "batch", "jobs", ""}, {"delete", "batch", "jobs", ""},
	{"create", "", "secrets", ""}, {"get", "", "secrets", ""},
	{"delete", "", "secrets", ""}, {"patch", "", "secrets", ""},
	{"get", "", "pods", ""}, {"list", "", "pods", ""},
	{"get", "", "pods", "log"},
};
#define NPERMS (sizeof(perms) / sizeof(*perms))

static json_t *review_body(const struct k8s_agent *k, const struct perm *p)
{
	json_t *attrs = json_pack("{s:s, s:s, s:s, s:s}", "namespace", k->ns,
	                          "verb", p->verb, "group", p->group,
	                          "resource", p->resource);

	if (attrs != NULL && p->sub[0] != '\0')
		json_object_set_new(attrs, "subresource", json_string(p->sub));
	return json_pack("{s:s, s:s, s:{s:o}}",
	                 "apiVersion", "authorization.k8s.io/v1",
	                 "kind", "SelfSubjectAccessReview",
	                 "spec", "resourceAttributes", attrs);
}

/* Appends "verb resource[/sub] [(group)]" to the list in buf. */
static void add_missing(char *buf, size_t size, const struct perm *p)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s %s%s%s%s%s%s", n ? ", " : "",
	         p->verb, p->resource, p->sub[0] ? "/" : "", p->sub,
	         p->group[0] ? " (" : "", p->group, p->group[0] ? ")" : "");
}

/* probe: the server answers (GET /version) and the token may do all a
 * tick does; every permission missing is named.  Nothing is changed:
 * a review only asks. */
static int k8s_probe(afk_call *call, void *userdata)
{
	struct k8s_agent *k = userdata;
	kreq q = {"get", "version", NULL, 0};
	char missing[AFK__ERRMSG_SIZE / 2] = "", *body;
	json_t *v, *ans;
	afk__http_req r;
	size_t i;
	int rc;

	rc = k8s_get(call, k, &q, "/version", &v);
	json_decref(v);
	for (i = 0; rc == AFK_OK && i < NPERMS; i++) {
		kreq qr = {"create", "selfsubjectaccessreviews", NULL, 0};

		v = review_body(k, &perms[i]);
		body = v ? json_dumps(v, JSON_COMPACT) : NULL;
		json_decref(v);
		if (body == NULL)
			return AFK_ENOMEM;
		rc = k8s_run(call, k, &r, &qr, "POST", "/apis/authorization.k8s."
		             "io/v1/selfsubjectaccessreviews", body, NULL);
		free(body);
		ans = rc == AFK_OK ? json_loadb(r.data, r.len, 0, NULL) : NULL;
		afk__http_req_clear(&r);
		if (rc != AFK_OK)
			break;
		if (!json_is_true(json_object_get(json_object_get(ans, "status"),
		                                  "allowed")))
			add_missing(missing, sizeof(missing), &perms[i]);
		json_decref(ans);
	}
	if (rc == AFK_OK && missing[0] != '\0')
		rc = afk__call_failf(call, AFK_ECONFIG, "Kubernetes: the token "
		          "of %s may not, in namespace %s: %s", k->token_file,
		          k->ns, missing);
	return rc;
}

/* --- the configuration's checks -------------------------------------- */

/* Each takes a member's compact JSON text and says why it is refused,
 * or NULL; "" when memory ran out. */

static json_t *parse(const char *text)
{
	return json_loads(text, JSON_DECODE_ANY, NULL);
}

/* 1 when s is a DNS-1123 label (max 63) or, with dots, subdomain (253). */
static int dns_name(const char *s, int dots)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > (dots ? 253u : 63u))
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && c != '-' && !(dots && c == '.'))
			return 0;
		if ((i == 0 || i == n - 1) && !alnum)
			return 0;
	}
	return 1;
}

/* A JSON string without NUL or control characters. */
static const char *plain_string(json_t *v)
{
	const char *s = json_string_value(v);
	size_t i;

	if (s == NULL || strlen(s) != json_string_length(v) || s[0] == '\0')
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return NULL;
	return s;
}

static const char *check_namespace(const char *text)
{
	json_t *v = parse(text);
	const char *s = plain_string(v), *why = NULL;

	if (s == NULL || !dns_name(s, 0))
		why = "expected a namespace's name: a DNS-1123 label (lowercase "
		      "letters, digits and '-', at most 63)";
	json_decref(v);
	return why;
}

static const char *check_account(const char *text)
{
	json_t *v = parse(text);
	const char *s = plain_string(v), *why = NULL;

	if (s == NULL || !dns_name(s, 1))
		why = "expected a service account's name: a DNS-1123 subdomain";
	json_decref(v);
	return why;
}

static const char *check_image(const char *text)
{
	json_t *v = parse(text);
	const char *s = plain_string(v), *why = NULL;

	if (s == NULL || strchr(s, ' ') != NULL || strlen(s) > 4096)
		why = "expected an image reference: a non-empty string without "
		      "blanks";
	json_decref(v);
	return why;
}

static const char *check_command(const char *text)
{
	json_t *v = parse(text), *a;
	const char *why = NULL;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		why = "expected a non-empty array of strings: the program "
		      "in the image and its arguments";
	json_array_foreach(v, i, a)
		if (why == NULL && plain_string(a) == NULL)
			why = "every argument must be a non-empty string "
			      "without control characters";
	json_decref(v);
	return why;
}

/* A resource quantity: digits with an optional fraction and an optional
 * suffix ("500m", "1.5", "2Gi", "1e3"). */
static int quantity(const char *s)
{
	static const char *const suffixes[] = {
		"", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti",
		"Pi", "Ei", NULL
	};
	size_t i = 0, d = 0;

	if (s[i] == '+')
		i++;
	for (; (s[i] >= '0' && s[i] <= '9') || s[i] == '.'; i++)
		d += s[i] != '.';
	if (d == 0)
		return 0;
	if ((s[i] == 'e' || s[i] == 'E') && s[i + 1] != '\0') {
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			;
		return s[i] == '\0';
	}
	for (d = 0; suffixes[d] != NULL; d++)
		if (strcmp(s + i, suffixes[d]) == 0)
			return 1;
	return 0;
}

/* cpu, memory, ephemeral-storage, or a vendor's "domain/resource". */
static int resource_name(const char *s)
{
	return strcmp(s, "cpu") == 0 || strcmp(s, "memory") == 0 ||
	       strcmp(s, "ephemeral-storage") == 0 || strchr(s, '/') != NULL;
}

static const char *check_resources(const char *text)
{
	json_t *v = parse(text), *part, *q;
	const char *key, *rkey, *why = NULL;

	if (!json_is_object(v))
		why = "expected an object with \"requests\" and/or \"limits\"";
	json_object_foreach(v, key, part) {
		if (why == NULL && strcmp(key, "requests") != 0 &&
		    strcmp(key, "limits") != 0)
			why = "only \"requests\" and \"limits\" are taken";
		if (why == NULL && !json_is_object(part))
			why = "requests and limits are objects of quantities";
		json_object_foreach(part, rkey, q)
			if (why == NULL && (plain_string(q) == NULL ||
			                    !quantity(json_string_value(q)) ||
			                    !resource_name(rkey)))
				why = "each of requests and limits maps cpu, memory, "
				      "ephemeral-storage or a vendor/resource to a "
				      "quantity string (\"500m\", \"2Gi\")";
	}
	json_decref(v);
	return why;
}

static const char *check_node_selector(const char *text)
{
	json_t *v = parse(text), *s;
	const char *key, *why = NULL;

	if (!json_is_object(v))
		why = "expected an object of label names to strings";
	json_object_foreach(v, key, s)
		if (why == NULL && (key[0] == '\0' || strlen(key) > 317 ||
		                    !json_is_string(s) ||
		                    json_string_length(s) > 63))
			why = "every member maps a label's name to a string of at "
			      "most 63 characters";
	json_decref(v);
	return why;
}

static int in(const char *s, const char *const *list)
{
	for (; s != NULL && *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static const char *check_tolerations(const char *text)
{
	static const char *const keys[] = {
		"key", "operator", "value", "effect", "tolerationSeconds", NULL
	};
	static const char *const ops[] = {"Exists", "Equal", NULL};
	static const char *const effects[] = {
		"NoSchedule", "PreferNoSchedule", "NoExecute", NULL
	};
	json_t *v = parse(text), *t, *m;
	const char *key, *why = NULL;
	size_t i;

	if (!json_is_array(v))
		why = "expected an array of tolerations";
	json_array_foreach(v, i, t) {
		if (why == NULL &&
		    (!json_is_object(t) || json_object_size(t) == 0))
			why = "every toleration is a non-empty object";
		json_object_foreach(t, key, m) {
			if (why != NULL)
				break;
			if (!in(key, keys))
				why = "a toleration has only key, operator, value, "
				      "effect and tolerationSeconds";
			else if (strcmp(key, "tolerationSeconds") == 0 ?
			         !json_is_integer(m) : !json_is_string(m))
				why = "tolerationSeconds is an integer, the other "
				      "members strings";
			else if (strcmp(key, "operator") == 0 &&
			         !in(json_string_value(m), ops))
				why = "operator is \"Exists\" or \"Equal\"";
			else if (strcmp(key, "effect") == 0 &&
			         !in(json_string_value(m), effects))
				why = "effect is \"NoSchedule\", \"PreferNoSchedule\" "
				      "or \"NoExecute\"";
		}
	}
	json_decref(v);
	return why;
}

static int is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9');
}

/* A variable name the container can be given: a C identifier, not one
 * of afk's own AFK_*. */
static int env_name(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strncmp(s, "AFK_", 4) == 0 ||
	    (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!(s[i] == '_' || is_alnum(s[i])))
			return 0;
	return 1;
}

static int secret_key(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 253)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' ||
		      is_alnum(s[i])))
			return 0;
	return 1;
}

static const char *check_env_from_secrets(const char *text)
{
	json_t *v = parse(text), *e, *f;
	const char *why = NULL;
	size_t i, j;

	if (!json_is_array(v))
		why = "expected an array of {\"name\", \"secret\", \"key\"}";
	json_array_foreach(v, i, e) {
		const char *name = json_string_value(json_object_get(e, "name")),
		           *secret = json_string_value(json_object_get(e,
		                                                       "secret"));

		if (why != NULL)
			break;
		if (!json_is_object(e) || json_object_size(e) != 3 ||
		    !env_name(name) || !dns_name(secret ? secret : "", 1) ||
		    !secret_key(json_string_value(json_object_get(e, "key"))))
			why = "every entry is exactly {\"name\": a variable's name "
			      "(not AFK_*), \"secret\": a Secret's name, \"key\": "
			      "a key of it} - a reference, never a value";
		for (j = 0; why == NULL && j < i; j++) {
			f = json_array_get(v, j);
			if (str_is(name, json_string_value(json_object_get(f,
			                                                   "name"))))
				why = "a variable is named twice";
		}
	}
	json_decref(v);
	return why;
}

/* --- registration ---------------------------------------------------- */

/* The setup's message for member: where it was set, and why. */
static int setup_fail(const afk_config *cfg, const char *member, int rc,
                      const char *why, char *errbuf)
{
	char *what = afk__setup_what(cfg, "agent", member,
	                             "agent (kubernetes)");

	afk__errf(errbuf, "%s: %s", what ? what : "agent (kubernetes)", why);
	free(what);
	return rc;
}

/* The namespace the pod runs in, for an unset "namespace": the file the
 * service account mounts. */
static int incluster_namespace(const afk_config *cfg, char **out,
                               char *errbuf)
{
	char why[AFK__ERRMSG_SIZE];
	int rc = afk__secret_read(NULL, SA_DIR "/namespace", "the in-cluster "
	                          "namespace file", out, why);

	if (rc == AFK_OK && !dns_name(*out, 0)) {
		free(*out);
		*out = NULL;
		rc = AFK_ECONFIG;
		snprintf(why, sizeof(why), SA_DIR "/namespace holds no "
		         "namespace's name");
	}
	if (rc != AFK_OK)
		return setup_fail(cfg, "namespace", AFK_ECONFIG, why, errbuf);
	return AFK_OK;
}

/* The API server's URL for an unset "api_url": the service's address in
 * the pod's environment. */
static int incluster_url(const afk_config *cfg, char **out, char *errbuf)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"),
	           *port = getenv("KUBERNETES_SERVICE_PORT");

	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
		return setup_fail(cfg, "api_url", AFK_ECONFIG, "not set, and "
		          "KUBERNETES_SERVICE_HOST/PORT are not either: set it "
		          "outside a cluster", errbuf);
	*out = afk__aprintf(strchr(host, ':') ? "https://[%s]:%s" :
	                    "https://%s:%s", host, port);
	return *out ? AFK_OK : AFK_ENOMEM;
}

static const char *member_str(const afk_config *cfg, const char *name)
{
	return json_string_value(afk__config_json(cfg, AFK__ROLE_AGENT, name));
}

/* The JSON member name, kept by reference: the section is never changed
 * once made. */
static json_t *member_copy(const afk_config *cfg, const char *name)
{
	return json_incref(afk__config_json(cfg, AFK__ROLE_AGENT, name));
}

static int k8s_new(const afk_config *cfg, struct k8s_agent **out,
                   char *errbuf)
{
	struct k8s_agent *k = calloc(1, sizeof(*k));
	afk__http_opts o;
	const char *url, *ca, *s = NULL;
	char why[AFK__ERRMSG_SIZE];
	int rc = AFK_OK;

	*out = NULL;
	if (k == NULL)
		return AFK_ENOMEM;
	url = afk__config_str(cfg, AFK__ROLE_AGENT, "api_url");
	ca = afk__config_str(cfg, AFK__ROLE_AGENT, "ca_file");
	/* In-cluster, the cluster's CA; given a URL, the system's unless
	 * ca_file says otherwise.  Verified either way. */
	if (url == NULL && ca == NULL)
		ca = SA_DIR "/ca.crt";
	afk__http_opts_default(&o);
	afk__http_opts_from_config(&o, cfg);
	o.ca_file = ca;
	o.etag_cache = NULL;       /* nothing Kubernetes answers is cached */
	rc = afk__http_new(&k->http, &o, why);
	if (rc != AFK_OK)
		afk__errf(errbuf, "agent (kubernetes): %s", why);
	if (rc == AFK_OK && url != NULL)
		k->base = afk__strdup(url);
	else if (rc == AFK_OK)
		rc = incluster_url(cfg, &k->base, errbuf);
	if (rc == AFK_OK && (s = member_str(cfg, "namespace")) != NULL)
		k->ns = afk__strdup(s);
	else if (rc == AFK_OK)
		rc = incluster_namespace(cfg, &k->ns, errbuf);
	if (rc == AFK_OK) {
		k->log = afk__log_ref(cfg->log);
		k->token_file = afk__strdup(afk__config_str(cfg, AFK__ROLE_AGENT,
		                                            "token_file"));
		k->image = afk__strdup(member_str(cfg, "image"));
		if ((s = member_str(cfg, "service_account")) != NULL)
			k->service_account = afk__strdup(s);
		k->automount = json_is_true(afk__config_json(cfg,
		                            AFK__ROLE_AGENT, "automount_token"));
		k->command = member_copy(cfg, "command");
		k->resources = member_copy(cfg, "resources");
		k->node_selector = member_copy(cfg, "node_selector");
		k->tolerations = member_copy(cfg, "tolerations");
		k->env_from_secrets = member_copy(cfg, "env_from_secrets");
		k->active_deadline = afk__config_int(cfg, AFK__ROLE_AGENT,
		                                     "active_deadline");
		k->ttl = afk__config_int(cfg, AFK__ROLE_AGENT,
		                         "ttl_after_finished");
		k->pending_timeout = afk__config_int(cfg, AFK__ROLE_AGENT,
		                                     "pending_timeout");
		k->log_tail = afk__config_int(cfg, AFK__ROLE_AGENT, "log_tail");
		if (k->base == NULL || k->ns == NULL || k->token_file == NULL ||
		    k->image == NULL || k->command == NULL ||
		    (s != NULL && k->service_account == NULL))
			rc = AFK_ENOMEM;
	}
	if (rc == AFK_OK && (rc = token_fresh(k, why)) != AFK_OK)
		setup_fail(cfg, "token_file", rc, why, errbuf);
	if (rc == AFK_ENOMEM)
		afk__errf(errbuf, "agent (kubernetes): out of memory");
	if (rc != AFK_OK) {
		k8s_free(k);
		return rc;
	}
	*out = k;
	return AFK_OK;
}

/* The userdata is handed to the agent, which owns it from then on. */
static int k8s_setup(afk_agent *agent, const afk_config *cfg, char *errbuf)
{
	static const afk__agent_fns fns = {
		"Kubernetes", k8s_dispatch, k8s_snapshot, k8s_send_turn,
		k8s_stop, k8s_probe, k8s_tick_end
	};
	struct k8s_agent *k;
	int rc;

	rc = k8s_new(cfg, &k, errbuf);
	if (rc != AFK_OK)
		return rc;
	return afk__setup_agent(agent, k, k8s_free, &fns, errbuf);
}

static const afk__member k8s_members[] = {
	{"namespace", AFK__M_JSON, 0, NULL, 0, 0, check_namespace,
	 "the namespace the Jobs run in; default the in-cluster one (the "
	 "service account's namespace file)"},
	{"api_url", AFK__M_URL, 0, NULL, 0, 0, afk__url_check,
	 "the API server; default in-cluster, "
	 "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"},
	{"token_file", AFK__M_PATH, 0, "\"" SA_DIR "/token\"", 0, 0, NULL,
	 "the bearer token's file, read again whenever it changes (rotation)"},
	{"ca_file", AFK__M_PATH, 0, NULL, 0, 0, NULL,
	 "the CA bundle the API server is verified against; default in-"
	 "cluster " SA_DIR "/ca.crt, else the system's"},
	{"image", AFK__M_JSON, AFK__M_REQUIRED, NULL, 0, 0, check_image,
	 "the agent container's image, a string"},
	{"command", AFK__M_JSON, AFK__M_REQUIRED, NULL, 0, 0, check_command,
	 "the container's command, an array of strings, run as is in the "
	 "image (no path is resolved on the host)"},
	{"service_account", AFK__M_JSON, 0, NULL, 0, 0, check_account,
	 "the agent pod's service account (not afk's), a string; default "
	 "the namespace's default"},
	{"automount_token", AFK__M_BOOL, 0, "false", 0, 0, NULL,
	 "whether the agent pod gets its service account's token "
	 "(automountServiceAccountToken)"},
	{"resources", AFK__M_JSON, 0, NULL, 0, 0, check_resources,
	 "the container's resources: {\"requests\": {...}, \"limits\": "
	 "{...}}, each mapping cpu, memory, ephemeral-storage or a vendor/"
	 "resource to a quantity string"},
	{"active_deadline", AFK__M_INT, 0, "7200", 1, 30LL * 86400, NULL,
	 "seconds a turn's Job may run (activeDeadlineSeconds)"},
	{"ttl_after_finished", AFK__M_INT, 0, "86400", 0, 365LL * 86400, NULL,
	 "seconds a finished Job is kept (ttlSecondsAfterFinished)"},
	{"node_selector", AFK__M_JSON, 0, NULL, 0, 0, check_node_selector,
	 "the pod's nodeSelector: an object of label names to strings"},
	{"tolerations", AFK__M_JSON, 0, NULL, 0, 0, check_tolerations,
	 "the pod's tolerations: an array of {key, operator, value, effect, "
	 "tolerationSeconds}"},
	{"env_from_secrets", AFK__M_JSON, 0, NULL, 0, 0, check_env_from_secrets,
	 "variables the container gets from Secrets: an array of "
	 "{\"name\": VAR, \"secret\": SECRET, \"key\": KEY}; never a value"},
	{"pending_timeout", AFK__M_INT, 0, "900", 1, 86400, NULL,
	 "seconds a pod may stay unschedulable or unable to pull or start "
	 "its image before the run is reported errored"},
	{"log_tail", AFK__M_INT, 0, "65536", 1024, 8LL * 1024 * 1024, NULL,
	 "bytes of the end of each pod's log read for AFK-PHASE and AFK-USAGE "
	 "lines"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_kubernetes_agent = {
	{"kubernetes", AFK__ROLE_AGENT, 0, k8s_members,
	 "Kubernetes: one batch/v1 Job per turn, the prompt in a Secret"},
	{.agent = k8s_setup}
};
