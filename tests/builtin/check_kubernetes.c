/*
 * tests/builtin/check_kubernetes.c - the "kubernetes" agent
 * (lib/builtin/kubernetes.c) against tests/http_server.py on 127.0.0.1,
 * scripted with the Kubernetes API's own shapes: objects as the API
 * server returns them, errors as Status objects.
 *
 * Each test starts its own server, makes the agent from a configuration
 * through afk_agent_set_builtin() - the path a host takes - and calls
 * its callbacks as a tick would.  With AFK_K8S_SENT_DIR set, every
 * object the agent POSTed (Secret, Job, SelfSubjectAccessReview) is
 * written there, one file each, for tests/k8s_objects.sh to validate
 * against Kubernetes' published schemas.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "afk/afk.h"
#include "core/adapter.h"
#include "builtin/builtin.h"
#include "core/config.h"
#include "fakes.h"
#include "httpsrv.h"

#define TOKEN "k8stok_S3cr3tT0k3nValue0123456789"
#define TOKEN2 "k8stok_R0tat3dT0k3nValue987654321xyz"
#define NS "team"
#define JOBS "/apis/batch/v1/namespaces/team/jobs"
#define SECRETS "/api/v1/namespaces/team/secrets"
#define PODS "/api/v1/namespaces/team/pods"
#define SSAR "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
#define REPO "acme/api"
#define ISSUE 12
#define PROMPT "Fix issue #12 of acme/api.\nAFK-PHASE markers, please."

static srv S;
static afk_agent *A;
static char Dir[64];
static char Token[128];
static char *Name;        /* the run's first Job, generation 1 */
static char Run[64];      /* "acme/api#12#1" */

/* --- fixture --------------------------------------------------------- */

static void put_token(const char *token)
{
	write_file(Token, token);
}

static void setup(void)
{
	srv_start(&S);
	snprintf(Dir, sizeof(Dir), "/tmp/afk-k8s-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(Dir));
	snprintf(Token, sizeof(Token), "%s/token", Dir);
	put_token(TOKEN "\n");
	Name = afk__k8s_job_name(REPO, ISSUE, 1);
	ck_assert_ptr_nonnull(Name);
	snprintf(Run, sizeof(Run), "%s#%d#1", REPO, ISSUE);
	A = NULL;
}

/* Writes the bodies POSTed to the server to $AFK_K8S_SENT_DIR. */
static void save_sent(void)
{
	const char *dir = getenv("AFK_K8S_SENT_DIR");
	json_t *log, *body;
	char path[512];
	size_t i;

	if (dir == NULL || dir[0] == '\0' || S.pid <= 0)
		return;
	log = srv_log(&S);
	for (i = 0; i < json_array_size(log); i++) {
		if (strcmp(log_str(log, i, "method"), "POST") != 0)
			continue;
		body = log_body(log, i);
		snprintf(path, sizeof(path), "%s/sent-%ld-%zu.json", dir,
		         (long)getpid(), i);
		if (body != NULL)
			json_dump_file(body, path, JSON_INDENT(1));
		json_decref(body);
	}
	json_decref(log);
}

static void teardown(void)
{
	char p[96];

	save_sent();
	afk_agent_free(A);
	A = NULL;
	srv_stop(&S);
	unlink(Token);
	snprintf(p, sizeof(p), "%s", Dir);
	rmdir(p);
	free(Name);
	Name = NULL;
}

static afk_config *k8s_config(const char *extra)
{
	afk_config *cfg = NULL;
	char *j = afk__aprintf("{\"kind\": \"kubernetes\", \"namespace\": \""
	          NS "\", \"api_url\": \"%s\", \"token_file\": \"%s\", "
	          "\"image\": \"ghcr.io/acme/agent:1\", \"command\": "
	          "[\"/agent/run\", \"--issue\"], \"service_account\": "
	          "\"afk-agent\", \"resources\": {\"requests\": {\"cpu\": "
	          "\"500m\", \"memory\": \"1Gi\"}, \"limits\": {\"memory\": "
	          "\"2Gi\"}}, \"node_selector\": {\"pool\": \"agents\"}, "
	          "\"tolerations\": [{\"key\": \"agents\", \"operator\": "
	          "\"Exists\", \"effect\": \"NoSchedule\"}], "
	          "\"env_from_secrets\": [{\"name\": \"GH_TOKEN\", \"secret\": "
	          "\"agent-github\", \"key\": \"token\"}]%s%s}", S.base, Token,
	          extra[0] ? ", " : "", extra);

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_msg(afk_config_set(cfg, "agent", j) == 0, "%s",
	              afk_config_errmsg(cfg));
	free(j);
	return cfg;
}

static afk_agent *k8s_agent_cfg(afk_config *cfg)
{
	afk_agent *a = NULL;

	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_msg(afk_agent_set_builtin(a, cfg) == 0, "%s",
	              afk_agent_errmsg(a));
	afk_config_free(cfg);
	return a;
}

static afk_agent *k8s_agent(const char *extra)
{
	return k8s_agent_cfg(k8s_config(extra));
}

static int dispatch(afk_call *call, const char *prompt)
{
	afk__call_init(call, AFK__CALL_DISPATCH, NULL);
	return A->dispatch(call, REPO, ISSUE, prompt, A->userdata);
}

static int snapshot(afk_call *call)
{
	afk__call_init(call, AFK__CALL_SNAPSHOT, NULL);
	return A->snapshot(call, Name, A->userdata);
}

static int send_turn(afk_call *call, const char *prompt)
{
	afk__call_init(call, AFK__CALL_SEND_TURN, NULL);
	return A->send_turn(call, Name, prompt, A->userdata);
}

static int stop(afk_call *call)
{
	afk__call_init(call, AFK__CALL_STOP, NULL);
	return A->stop(call, REPO, ISSUE, Name, A->userdata);
}

/* No piece of either token is in s. */
static void assert_no_token(const char *s)
{
	assert_lacks(s, TOKEN);
	assert_lacks(s, "S3cr3tT0k3n");
	assert_lacks(s, "R0tat3dT0k3n");
}

/* --- the API server's answers ---------------------------------------- */

/* A Status object as the API server sends for an error. */
static json_t *status(int code, const char *reason, const char *message)
{
	return json_pack("{s:i, s:{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}}",
	                 "status", code, "json", "kind", "Status",
	                 "apiVersion", "v1", "metadata", "status", "Failure",
	                 "message", message, "reason", reason, "code", code);
}

static json_t *annotated(const char *kind, const char *api,
                         const char *name, const char *run,
                         const char *turn)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s, s:s}, "
	                 "s:{s:s, s:s}}}",
	                 "kind", kind, "apiVersion", api, "metadata",
	                 "name", name, "namespace", NS, "uid", "uid-7f3a",
	                 "labels", "afk.dev/thread", Name, "afk.dev/turn", turn,
	                 "annotations", "afk.dev/run", run, "afk.dev/turn", turn);
}

static json_t *created(json_t *obj)
{
	return json_pack("{s:i, s:o}", "status", 201, "json", obj);
}

static json_t *ok(json_t *obj)
{
	return json_pack("{s:o}", "json", obj);
}

/* A Job of turn (1: Name) with a condition type ("" none), as listed. */
static json_t *job(int turn, const char *cond, const char *reason)
{
	char name[96], t[8];
	json_t *j;

	snprintf(name, sizeof(name), turn > 1 ? "%s-t%d" : "%s", Name, turn);
	snprintf(t, sizeof(t), "%d", turn);
	j = annotated("Job", "batch/v1", name, Run, t);
	if (cond[0] != '\0')
		json_object_set_new(j, "status", json_pack("{s:[{s:s, s:s, "
		                    "s:s, s:s}]}", "conditions", "type", cond,
		                    "status", "True", "reason", reason,
		                    "message", "the Job's message"));
	else
		json_object_set_new(j, "status", json_pack("{s:i}", "active", 1));
	return j;
}

static json_t *list(const char *kind, json_t *items)
{
	return ok(json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", kind,
	                    "apiVersion", "v1", "metadata", "resourceVersion",
	                    "42", "items", items));
}

/* A pod of turn 1 created at created, with a container state (JSON
 * text) and pod conditions (JSON text). */
static json_t *pod(const char *name, const char *created_at,
                   const char *state, const char *conditions)
{
	json_t *p = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s, s:s, "
	                      "s:s}}}", "kind", "Pod", "apiVersion", "v1",
	                      "metadata", "name", name, "namespace", NS,
	                      "creationTimestamp", created_at, "labels",
	                      "job-name", Name, "afk.dev/thread", Name,
	                      "afk.dev/turn", "1");
	json_t *st = json_object();

	json_object_set_new(st, "phase", json_string("Pending"));
	if (state != NULL)
		json_object_set_new(st, "containerStatuses", json_pack(
		        "[{s:s, s:o}]", "name", "agent", "state",
		        json_loads(state, 0, NULL)));
	if (conditions != NULL)
		json_object_set_new(st, "conditions",
		                    json_loads(conditions, 0, NULL));
	json_object_set_new(p, "status", st);
	return p;
}

static char *jobs_route(const char *method)
{
	return afk__aprintf("%s " JOBS, method);
}

static const char *iso(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* A route key "METHOD path". */
static char *route(const char *method, const char *fmt, const char *name)
{
	char *p = afk__aprintf(fmt, name);
	char *r = afk__aprintf("%s %s", method, p);

	free(p);
	return r;
}

/* The routes of a fresh dispatch, each answer given. */
static json_t *dispatch_routes(json_t *secret_post, json_t *job_post)
{
	json_t *routes = json_object();
	char *patch = route("PATCH", SECRETS "/%s", Name);

	json_object_set_new(routes, "POST " SECRETS, secret_post);
	json_object_set_new(routes, "POST " JOBS, job_post);
	json_object_set_new(routes, patch, ok(annotated("Secret", "v1", Name,
	                                                 Run, "1")));
	free(patch);
	return routes;
}

static size_t count_method(json_t *log, const char *method,
                           const char *path)
{
	size_t i, n = 0;

	for (i = 0; i < json_array_size(log); i++)
		if (strcmp(log_str(log, i, "method"), method) == 0 &&
		    strncmp(log_str(log, i, "path"), path, strlen(path)) == 0)
			n++;
	return n;
}

/* --- names ----------------------------------------------------------- */

static int dns_label(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] == '-' && i > 0 && i < n - 1)))
			return 0;
	return 1;
}

START_TEST(test_job_names)
{
	char *a = afk__k8s_job_name("acme/api", 12, 1);
	char *b = afk__k8s_job_name("acme/api", 12, 1);
	char *c = afk__k8s_job_name("Acme/API", 12, 1);
	char *d = afk__k8s_job_name("acme/api", 12, 2);
	char *e = afk__k8s_job_name("an-organisation-with-a-long-name/"
	          "and.a_repository.with.a.very-long.name", 123456, 1000000);

	ck_assert_str_eq(a, b);
	ck_assert_int_eq(strncmp(a, "afk-acme-api-12-g1-", 19), 0);
	ck_assert_str_ne(a, c);   /* sanitized alike, different runs */
	ck_assert_int_eq(strncmp(c, "afk-acme-api-12-g1-", 19), 0);
	ck_assert_str_ne(a, d);
	ck_assert(dns_label(a) && dns_label(c) && dns_label(d) && dns_label(e));
	ck_assert_uint_le(strlen(e), 59);
	assert_contains(e, "-123456-g1000000-");
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
}
END_TEST

/* --- dispatch -------------------------------------------------------- */

START_TEST(test_dispatch_creates_secret_job_owner)
{
	json_t *log, *sec, *jb, *patch, *pod, *ctr, *env, *e;
	afk_call call;
	char *text;
	size_t i;
	int saw_prompt_file = 0, saw_secret_ref = 0;

	srv_script_json(&S, json_pack("{s:o}", "routes", dispatch_routes(
	        created(annotated("Secret", "v1", Name, Run, "1")),
	        created(annotated("Job", "batch/v1", Name, Run, "1")))));
	A = k8s_agent("");
	ck_assert_msg(dispatch(&call, PROMPT) == 0, "%s", call.message);
	ck_assert_str_eq(call.thread_id, Name);
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 3);
	ck_assert_str_eq(log_str(log, 0, "path"), SECRETS);
	ck_assert_str_eq(log_str(log, 1, "path"), JOBS);
	ck_assert_str_eq(log_str(log, 2, "method"), "PATCH");
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(log_header(log, i, "authorization"),
		                 "Bearer " TOKEN);
	ck_assert_str_eq(log_header(log, 2, "content-type"),
	                 "application/merge-patch+json");
	sec = log_body(log, 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(sec,
	                 "data"), "prompt")),
	                 "Rml4IGlzc3VlICMxMiBvZiBhY21lL2FwaS4KQUZLLVBIQVNFIG1h"
	                 "cmtlcnMsIHBsZWFzZS4=");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	        json_object_get(sec, "metadata"), "annotations"), "afk.dev/run")),
	        Run);
	jb = log_body(log, 1);
	text = json_dumps(jb, 0);
	assert_lacks(text, "Fix issue");       /* never the prompt itself */
	free(text);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(jb,
	                 "metadata"), "name")), Name);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(jb,
	                 "spec"), "activeDeadlineSeconds")), 7200);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(jb,
	                 "spec"), "ttlSecondsAfterFinished")), 86400);
	pod = json_object_get(json_object_get(json_object_get(jb, "spec"),
	                      "template"), "spec");
	ck_assert(json_is_false(json_object_get(pod,
	                                        "automountServiceAccountToken")));
	ck_assert_str_eq(json_string_value(json_object_get(pod,
	                 "serviceAccountName")), "afk-agent");
	ck_assert_str_eq(json_string_value(json_object_get(pod,
	                 "restartPolicy")), "Never");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	        json_array_get(json_object_get(pod, "volumes"), 0), "secret"),
	        "secretName")), Name);
	ctr = json_array_get(json_object_get(pod, "containers"), 0);
	ck_assert_ptr_null(json_object_get(ctr, "stdin"));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	        json_object_get(ctr, "resources"), "limits"), "memory")), "2Gi");
	env = json_object_get(ctr, "env");
	json_array_foreach(env, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));

		if (strcmp(n, "AFK_PROMPT_FILE") == 0) {
			ck_assert_str_eq(json_string_value(json_object_get(e,
			                 "value")), "/afk/prompt");
			saw_prompt_file = 1;
		}
		if (strcmp(n, "AFK_TURN") == 0)
			ck_assert_str_eq(json_string_value(json_object_get(e,
			                 "value")), "1");
		if (strcmp(n, "GH_TOKEN") == 0) {
			ck_assert_ptr_null(json_object_get(e, "value"));
			ck_assert_str_eq(json_string_value(json_object_get(
			        json_object_get(json_object_get(e, "valueFrom"),
			        "secretKeyRef"), "name")), "agent-github");
			saw_secret_ref = 1;
		}
	}
	ck_assert(saw_prompt_file && saw_secret_ref);
	patch = log_body(log, 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	        json_object_get(json_object_get(patch, "metadata"),
	        "ownerReferences"), 0), "uid")), "uid-7f3a");
	json_decref(sec);
	json_decref(jb);
	json_decref(patch);
	json_decref(log);
}
END_TEST

/* A tick killed after the Job was created and before the issue was
 * labelled: the next dispatch meets both objects, sees they are this
 * run's, and adopts - one Job, nothing created twice. */
START_TEST(test_dispatch_adopts_its_own_job)
{
	json_t *routes, *log;
	afk_call call;
	char *gs = route("GET", SECRETS "/%s", Name),
	     *gj = route("GET", JOBS "/%s", Name);

	routes = dispatch_routes(status(409, "AlreadyExists", "secrets "
	                         "already exists"), status(409,
	                         "AlreadyExists", "jobs already exists"));
	json_object_set_new(routes, gs, ok(annotated("Secret", "v1", Name, Run,
	                                             "1")));
	json_object_set_new(routes, gj, ok(job(1, "", "")));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	A = k8s_agent("");
	ck_assert_msg(dispatch(&call, PROMPT) == 0, "%s", call.message);
	ck_assert_str_eq(call.thread_id, Name);
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(count_method(log, "POST", JOBS), 1);
	ck_assert_uint_eq(count_method(log, "PATCH", SECRETS), 1);
	json_decref(log);
	free(gs);
	free(gj);
}
END_TEST

/* A tick killed after the Secret and before the Job: the next dispatch
 * reuses the Secret and makes the one Job. */
START_TEST(test_dispatch_reuses_its_own_secret)
{
	json_t *routes, *log;
	afk_call call;
	char *gs = route("GET", SECRETS "/%s", Name);

	routes = dispatch_routes(status(409, "AlreadyExists", "exists"),
	                         created(annotated("Job", "batch/v1", Name, Run,
	                                           "1")));
	json_object_set_new(routes, gs, ok(annotated("Secret", "v1", Name, Run,
	                                             "1")));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	A = k8s_agent("");
	ck_assert_msg(dispatch(&call, PROMPT) == 0, "%s", call.message);
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(count_method(log, "POST", SECRETS), 1);
	ck_assert_uint_eq(count_method(log, "POST", JOBS), 1);
	ck_assert_uint_eq(count_method(log, "PATCH", SECRETS), 1);
	json_decref(log);
	free(gs);
}
END_TEST

/* A Job of that name that is not this run's is refused, never adopted:
 * its Secret gets no owner, nothing is reported started. */
START_TEST(test_dispatch_refuses_a_foreign_job)
{
	json_t *routes, *log;
	afk_call call;
	char *gj = route("GET", JOBS "/%s", Name);

	routes = dispatch_routes(created(annotated("Secret", "v1", Name, Run,
	                         "1")), status(409, "AlreadyExists", "exists"));
	json_object_set_new(routes, gj, ok(annotated("Job", "batch/v1", Name,
	                                             "other/repo#12#1", "1")));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	A = k8s_agent("");
	ck_assert_int_ne(dispatch(&call, PROMPT), 0);
	ck_assert_ptr_null(call.thread_id);
	assert_contains(call.message, "not this run's");
	assert_contains(call.message, "not adopted");
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(count_method(log, "PATCH", SECRETS), 0);
	json_decref(log);
	free(gj);
}
END_TEST

START_TEST(test_dispatch_refuses_a_foreign_secret)
{
	json_t *routes, *log;
	afk_call call;
	char *gs = route("GET", SECRETS "/%s", Name);

	routes = dispatch_routes(status(409, "AlreadyExists", "exists"),
	                         created(job(1, "", "")));
	json_object_set_new(routes, gs, ok(annotated("Secret", "v1", Name,
	                                             "acme/api#12#9", "1")));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	A = k8s_agent("");
	ck_assert_int_ne(dispatch(&call, PROMPT), 0);
	assert_contains(call.message, "secrets");
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(count_method(log, "POST", JOBS), 0);
	json_decref(log);
	free(gs);
}
END_TEST

START_TEST(test_forbidden_names_verb_and_resource)
{
	afk_call call;

	srv_script_json(&S, json_pack("{s:o}", "routes", dispatch_routes(
	        created(annotated("Secret", "v1", Name, Run, "1")),
	        status(403, "Forbidden", "jobs.batch is forbidden: User "
	               "\"system:serviceaccount:team:afk\" cannot create "
	               "resource \"jobs\""))));
	A = k8s_agent("");
	ck_assert_int_ne(dispatch(&call, PROMPT), 0);
	assert_contains(call.message, "forbidden to create jobs");
	assert_contains(call.message, "namespace team");
	assert_contains(call.message, "RBAC");
	assert_no_token(call.message);
	afk__call_clear(&call);
}
END_TEST

/* --- snapshot -------------------------------------------------------- */

/* Scripts a snapshot: the jobs listed, the pods listed, a log. */
static void snap_script(json_t *jobs, json_t *pods, const char *logtext)
{
	json_t *routes = json_object();
	char *lj = jobs_route("GET");

	json_object_set_new(routes, lj, list("JobList", jobs));
	json_object_set_new(routes, "GET " PODS, list("PodList", pods));
	json_object_set_new(routes, "GET " PODS "/pod-1/log",
	                    json_pack("{s:s, s:{s:s}}", "body", logtext,
	                              "headers", "Content-Type", "text/plain"));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	free(lj);
}

START_TEST(test_snapshot_no_job_is_gone)
{
	afk_call call;

	snap_script(json_array(), json_array(), "");
	A = k8s_agent("");
	ck_assert_int_eq(snapshot(&call), 0);
	ck_assert_int_eq(call.agent_state, AFK_AGENT_GONE);
	afk__call_clear(&call);
}
END_TEST

/* A Job of the thread whose afk.dev/turn label was changed is still
 * there: errored, naming the label, never gone (found by
 * fuzz/kubernetes.c, fuzz/corpus/kubernetes/job-without-turn-not-gone). */
START_TEST(test_snapshot_job_without_turn_is_not_gone)
{
	json_t *j = job(1, "", "");
	afk_call call;

	json_object_del(json_object_get(json_object_get(j, "metadata"),
	                                "labels"), "afk.dev/turn");
	snap_script(json_pack("[o]", j), json_array(), "");
	A = k8s_agent("");
	ck_assert_msg(snapshot(&call) == 0, "%s", call.message);
	ck_assert_int_eq(call.agent_state, AFK_AGENT_ERRORED);
	assert_contains(call.message, "afk.dev/turn");
	afk__call_clear(&call);
}
END_TEST

/* The cluster's text in a message is made one line: a condition's
 * reason with a newline cannot forge a line of the log (found by
 * fuzz/kubernetes.c, fuzz/corpus/kubernetes/control-char-in-*). */
START_TEST(test_snapshot_message_is_one_line)
{
	afk_call call;
	const char *m;

	snap_script(json_pack("[o]", job(1, "Failed", "BackoffLimitExceeded\n"
	                                 "forged: line\x7f")), json_array(), "");
	A = k8s_agent("");
	ck_assert_msg(snapshot(&call) == 0, "%s", call.message);
	ck_assert_int_eq(call.agent_state, AFK_AGENT_ERRORED);
	assert_contains(call.message, "BackoffLimitExceeded forged: line?");
	for (m = call.message; *m != '\0'; m++)
		ck_assert_msg((unsigned char)*m >= 0x20 && *m != 0x7f,
		              "a control character in %s", call.message);
	afk__call_clear(&call);
}
END_TEST

#define RUNNING "{\"running\": {\"startedAt\": \"2026-01-01T00:00:00Z\"}}"

static const struct {
	const char *cond, *reason;  /* the Job's condition */
	int old;                    /* the pod's age past pending_timeout */
	const char *state, *conditions;
	int want;
	const char *named;
} snaps[] = {
	{"", "", 0, RUNNING, NULL, AFK_AGENT_RUNNING, NULL},
	{"Complete", "", 0, "{\"terminated\": {\"exitCode\": 0, \"reason\": "
	 "\"Completed\"}}", NULL, AFK_AGENT_COMPLETED, NULL},
	{"Failed", "BackoffLimitExceeded", 0, "{\"terminated\": {\"exitCode\":"
	 " 1, \"reason\": \"Error\"}}", NULL, AFK_AGENT_ERRORED,
	 "BackoffLimitExceeded"},
	{"Failed", "DeadlineExceeded", 0, NULL, NULL, AFK_AGENT_ERRORED,
	 "DeadlineExceeded"},
	{"", "", 1, "{\"waiting\": {\"reason\": \"ImagePullBackOff\"}}", NULL,
	 AFK_AGENT_ERRORED, "ImagePullBackOff"},
	{"", "", 0, "{\"waiting\": {\"reason\": \"ImagePullBackOff\"}}", NULL,
	 AFK_AGENT_RUNNING, NULL},
	{"", "", 1, "{\"waiting\": {\"reason\": \"ErrImagePull\"}}", NULL,
	 AFK_AGENT_ERRORED, "ErrImagePull"},
	{"", "", 1, "{\"waiting\": {\"reason\": "
	 "\"CreateContainerConfigError\"}}", NULL, AFK_AGENT_ERRORED,
	 "CreateContainerConfigError"},
	{"", "", 1, NULL, "[{\"type\": \"PodScheduled\", \"status\": \"False\","
	 " \"reason\": \"Unschedulable\", \"message\": \"0/3 nodes are "
	 "available\", \"lastTransitionTime\": \"@\"}]", AFK_AGENT_ERRORED,
	 "Unschedulable"},
	{"", "", 0, NULL, "[{\"type\": \"PodScheduled\", \"status\": \"False\","
	 " \"reason\": \"Unschedulable\", \"lastTransitionTime\": \"@\"}]",
	 AFK_AGENT_RUNNING, NULL},
	{"", "", 0, "{\"terminated\": {\"exitCode\": 137, \"reason\": "
	 "\"OOMKilled\"}}", NULL, AFK_AGENT_ERRORED, "OOMKilled"},
	{"Failed", "BackoffLimitExceeded", 0, "{\"terminated\": {\"exitCode\":"
	 " 137, \"reason\": \"OOMKilled\"}}", NULL, AFK_AGENT_ERRORED,
	 "OOMKilled"},
};

START_TEST(test_snapshot_states)
{
	const char *c = snaps[_i].conditions, *at;
	char when[32], *conds = NULL;
	afk_call call;

	iso(time(NULL) - (snaps[_i].old ? 1000 : 10), when, sizeof(when));
	/* the conditions' '@' is when they began */
	if (c != NULL && (at = strchr(c, '@')) != NULL)
		conds = afk__aprintf("%.*s%s%s", (int)(at - c), c, when, at + 1);
	else if (c != NULL)
		conds = afk__strdup(c);
	snap_script(json_pack("[o]", job(1, snaps[_i].cond, snaps[_i].reason)),
	            json_pack("[o]", pod("pod-1", when, snaps[_i].state, conds)),
	            "working\n");
	A = k8s_agent("");
	ck_assert_msg(snapshot(&call) == 0, "%s", call.message);
	ck_assert_int_eq(call.agent_state, snaps[_i].want);
	if (snaps[_i].named != NULL) {
		ck_assert_ptr_nonnull(call.message);
		assert_contains(call.message, snaps[_i].named);
		assert_contains(call.message, Name);
	}
	afk__call_clear(&call);
	free(conds);
}
END_TEST

/* A Job the cluster made no pod for (a quota, an admission check) is
 * errored once pending_timeout has passed - running before. */
START_TEST(test_snapshot_job_without_pods)
{
	char when[32];
	json_t *j;
	afk_call call;

	j = job(1, "", "");
	json_object_set_new(json_object_get(j, "metadata"),
	                    "creationTimestamp",
	                    json_string(iso(time(NULL) - (_i ? 1000 : 10),
	                                    when, sizeof(when))));
	snap_script(json_pack("[o]", j), json_array(), "");
	A = k8s_agent("");
	ck_assert_msg(snapshot(&call) == 0, "%s", call.message);
	ck_assert_int_eq(call.agent_state, _i ? AFK_AGENT_ERRORED :
	                 AFK_AGENT_RUNNING);
	if (_i)
		assert_contains(call.message, "no pod was created");
	afk__call_clear(&call);
}
END_TEST

START_TEST(test_snapshot_log_markers)
{
	const char *text =
	        "AFK-PHASE: pushed AFK-USAGE: tokens_in=999999\n" /* neither */
	        "starting\n"
	        "AFK-USAGE: tokens_in=100 tokens_out=20 cost_usd=0.5\n"
	        "AFK-PHASE: tests-red\n"
	        "AFK-USAGE: tokens_in=5 tokens_out=1\n"
	        "AFK-PHASE: green\n"
	        "done";
	json_t *log;
	afk_call call;
	size_t i;
	int logs = 0;

	snap_script(json_pack("[o]", job(1, "", "")),
	            json_pack("[o]", pod("pod-1", "2026-01-01T00:00:00Z",
	                                 RUNNING, NULL)), text);
	A = k8s_agent("");
	ck_assert_msg(snapshot(&call) == 0, "%s", call.message);
	ck_assert_int_eq(call.agent_state, AFK_AGENT_RUNNING);
	ck_assert_int_eq(call.phase, AFK_PHASE_GREEN);
	ck_assert(call.usage_set);
	ck_assert_int_eq(call.tokens_in, 105);
	ck_assert_int_eq(call.tokens_out, 21);
	ck_assert_int_eq(call.cost_microusd, 500000);
	afk__call_clear(&call);
	log = srv_log(&S);
	for (i = 0; i < json_array_size(log); i++)
		if (strstr(log_str(log, i, "path"), "/log?") != NULL) {
			assert_contains(log_str(log, i, "path"),
			                "tailBytes=65536");
			assert_contains(log_str(log, i, "path"), "container=agent");
			logs++;
		}
	ck_assert_int_eq(logs, 1);
	/* what a watch tick costs the API server for a one-turn run: the
	 * Jobs, the pods, one log (the figure the closing note gives) */
	ck_assert_uint_eq(json_array_size(log), 3);
	json_decref(log);
}
END_TEST

/* A log as long as log_tail: its first line may be a cut one and is
 * not read as a marker. */
START_TEST(test_snapshot_cut_first_line)
{
	static const char last[] = "\nAFK-USAGE: tokens_in=3\n";
	char text[1025];
	size_t n;
	afk_call call;

	strcpy(text, "AFK-USAGE: tokens_in=7\n");
	n = strlen(text);
	memset(text + n, 'x', 1024 - n - strlen(last));
	strcpy(text + 1024 - strlen(last), last);
	ck_assert_uint_eq(strlen(text), 1024);
	snap_script(json_pack("[o]", job(1, "", "")),
	            json_pack("[o]", pod("pod-1", "2026-01-01T00:00:00Z",
	                                 RUNNING, NULL)), text);
	A = k8s_agent("\"log_tail\": 1024");
	ck_assert_msg(snapshot(&call) == 0, "%s", call.message);
	ck_assert_int_eq(call.tokens_in, 3);
	afk__call_clear(&call);
}
END_TEST

/* 410, 503 and a timeout fail the call - the watch retries next tick,
 * nothing is lost - and the next call succeeds. */
START_TEST(test_snapshot_transient_failures)
{
	static const char *const answers[] = {
		"{\"status\": 410}", "{\"status\": 503}", "{\"delay\": 3}"
	};
	json_t *routes, *first;
	afk_config *cfg;
	afk_call call;
	char *lj = jobs_route("GET");

	if (_i == 0)
		first = status(410, "Expired", "too old resource version");
	else if (_i == 1)
		first = status(503, "ServiceUnavailable", "etcd is down");
	else
		first = json_loads(answers[2], 0, NULL);
	routes = json_object();
	/* a GET that got a 5xx is retried once by the HTTP layer */
	json_object_set_new(routes, lj, _i == 1 ?
	        json_pack("[O, o, o]", first, first,
	                  list("JobList", json_array())) :
	        json_pack("[o, o]", first, list("JobList", json_array())));
	json_object_set_new(routes, "GET " PODS, list("PodList", json_array()));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	cfg = k8s_config("");
	ck_assert_int_eq(afk_config_set(cfg, "http", "{\"timeout\": 1}"), 0);
	A = k8s_agent_cfg(cfg);
	ck_assert_int_ne(snapshot(&call), 0);
	ck_assert_ptr_nonnull(call.message);
	ck_assert_int_eq(call.agent_state, 0);
	afk__call_clear(&call);
	ck_assert_msg(snapshot(&call) == 0, "%s", call.message);
	ck_assert_int_eq(call.agent_state, AFK_AGENT_GONE);
	afk__call_clear(&call);
	free(lj);
}
END_TEST

/* The token file is read again when it changes: the rotated token is
 * sent from the next request on, and neither is ever in a message. */
START_TEST(test_token_rotation)
{
	json_t *log;
	afk_call call;
	size_t n;

	snap_script(json_array(), json_array(), "");
	A = k8s_agent("");
	ck_assert_int_eq(snapshot(&call), 0);
	afk__call_clear(&call);
	put_token(TOKEN2 "\n");
	ck_assert_int_eq(snapshot(&call), 0);
	afk__call_clear(&call);
	log = srv_log(&S);
	n = json_array_size(log);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(log_header(log, 0, "authorization"), "Bearer " TOKEN);
	ck_assert_str_eq(log_header(log, 1, "authorization"), "Bearer " TOKEN2);
	json_decref(log);
	/* a failure after the rotation names neither token */
	srv_script(&S, "{'default': {'status': 401, 'json': {'kind': "
	           "'Status', 'code': 401, 'reason': 'Unauthorized'}}}");
	ck_assert_int_ne(snapshot(&call), 0);
	assert_contains(call.message, "refused (401)");
	assert_no_token(call.message);
	afk__call_clear(&call);
}
END_TEST

/* --- send_turn and stop ---------------------------------------------- */

START_TEST(test_send_turn_waits_then_starts_t2)
{
	json_t *routes, *log, *jb, *e;
	char *lj = jobs_route("GET"), *t2 = afk__aprintf("%s-t2", Name),
	     *patch = route("PATCH", SECRETS "/%s", t2), *text;
	afk_call call;
	size_t i;
	int turn2 = 0;

	/* turn 1 still running: refused, nothing created */
	routes = json_object();
	json_object_set_new(routes, lj, list("JobList", json_pack("[o]",
	                    job(1, "", ""))));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	A = k8s_agent("");
	ck_assert_int_ne(send_turn(&call, "Fix CI"), 0);
	assert_contains(call.message, "still running");
	afk__call_clear(&call);
	/* turn 1 over: turn 2 is its own Job and Secret */
	routes = json_object();
	json_object_set_new(routes, lj, list("JobList", json_pack("[o]",
	                    job(1, "Complete", "Completed"))));
	json_object_set_new(routes, "POST " SECRETS, created(annotated(
	                    "Secret", "v1", t2, Run, "2")));
	json_object_set_new(routes, "POST " JOBS, created(annotated(
	                    "Job", "batch/v1", t2, Run, "2")));
	json_object_set_new(routes, patch, ok(json_object()));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	ck_assert_msg(send_turn(&call, "Fix CI") == 0, "%s", call.message);
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(count_method(log, "POST", JOBS), 1);
	for (i = 0; i < json_array_size(log); i++)
		if (strcmp(log_str(log, i, "method"), "POST") == 0 &&
		    strcmp(log_str(log, i, "path"), JOBS) == 0)
			break;
	jb = log_body(log, i);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(jb,
	                 "metadata"), "name")), t2);
	json_array_foreach(json_object_get(json_array_get(json_object_get(
	        json_object_get(json_object_get(json_object_get(jb, "spec"),
	        "template"), "spec"), "containers"), 0), "env"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "name")),
		           "AFK_TURN") == 0)
			turn2 = strcmp(json_string_value(json_object_get(e,
			               "value")), "2") == 0;
	ck_assert(turn2);
	text = json_dumps(jb, 0);
	assert_contains(text, "\"AFK_REPO\", \"value\": \"acme/api\"");
	free(text);
	json_decref(jb);
	json_decref(log);
	free(lj);
	free(t2);
	free(patch);
}
END_TEST

/* A tick killed after it sent turn 2: the same prompt asked for again
 * while that turn runs is that turn - nothing is created. */
START_TEST(test_send_turn_same_prompt_is_that_turn)
{
	json_t *routes, *log, *t2;
	char *lj = jobs_route("GET");
	afk_call call;
	char tag[20];
	uint32_t a = 2166136261u, b = 0x811c9dc6u ^ 0x5bd1e995u;
	const char *p;

	/* the agent's tag of the prompt (two FNV-1a of it) */
	for (p = "Fix CI"; *p != '\0'; p++) {
		a = (a ^ (unsigned char)*p) * 16777619u;
		b = (b ^ (unsigned char)*p) * 16777619u;
	}
	snprintf(tag, sizeof(tag), "%08lx%08lx", (unsigned long)a,
	         (unsigned long)b);
	t2 = job(2, "", "");
	json_object_set_new(json_object_get(json_object_get(t2, "metadata"),
	                    "annotations"), "afk.dev/prompt", json_string(tag));
	routes = json_object();
	json_object_set_new(routes, lj, list("JobList", json_pack("[o, o]",
	                    job(1, "Complete", "Completed"), t2)));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	A = k8s_agent("");
	ck_assert_msg(send_turn(&call, "Fix CI") == 0, "%s", call.message);
	afk__call_clear(&call);
	ck_assert_int_ne(send_turn(&call, "Fix CI, again"), 0);
	assert_contains(call.message, "turn 2");
	afk__call_clear(&call);
	log = srv_log(&S);
	ck_assert_uint_eq(count_method(log, "POST", ""), 0);
	json_decref(log);
	free(lj);
}
END_TEST

START_TEST(test_stop_deletes_every_turn)
{
	json_t *routes, *log;
	char *lj = jobs_route("GET"), *d1 = route("DELETE", JOBS "/%s", Name),
	     *t2 = afk__aprintf("%s-t2", Name),
	     *d2 = route("DELETE", JOBS "/%s", t2);
	afk_call call;
	size_t i, dels = 0;

	routes = json_object();
	json_object_set_new(routes, lj, list("JobList", json_pack("[o, o]",
	                    job(1, "Complete", "Completed"), job(2, "", ""))));
	json_object_set_new(routes, d1, status(404, "NotFound", "gone"));
	json_object_set_new(routes, d2, ok(json_pack("{s:s}", "kind",
	                                             "Status")));
	srv_script_json(&S, json_pack("{s:o}", "routes", routes));
	A = k8s_agent("");
	ck_assert_msg(stop(&call) == 0, "%s", call.message);
	afk__call_clear(&call);
	log = srv_log(&S);
	for (i = 0; i < json_array_size(log); i++)
		if (strcmp(log_str(log, i, "method"), "DELETE") == 0) {
			assert_contains(log_str(log, i, "path"),
			                "propagationPolicy=Background");
			dels++;
		}
	ck_assert_uint_eq(dels, 2);
	json_decref(log);
	free(lj);
	free(d1);
	free(d2);
	free(t2);
}
END_TEST

/* --- probe ----------------------------------------------------------- */

START_TEST(test_probe_names_missing_permissions)
{
	json_t *answers = json_array(), *log;
	int i;

	for (i = 0; i < 11; i++)
		json_array_append_new(answers, created(json_pack("{s:s, s:s, "
		        "s:{s:b}}", "kind", "SelfSubjectAccessReview",
		        "apiVersion", "authorization.k8s.io/v1", "status",
		        "allowed", i != 7 && i != 10)));
	srv_script_json(&S, json_pack("{s:{s:o, s:o}}", "routes", "GET /version",
	                ok(json_pack("{s:s, s:s}", "major", "1", "minor",
	                             "30")), "POST " SSAR, answers));
	A = k8s_agent("");
	ck_assert_int_ne(afk_agent_probe(A), 0);
	assert_contains(afk_agent_errmsg(A), "patch secrets");
	assert_contains(afk_agent_errmsg(A), "get pods/log");
	assert_lacks(afk_agent_errmsg(A), "create jobs");
	assert_no_token(afk_agent_errmsg(A));
	log = srv_log(&S);
	ck_assert_uint_eq(json_array_size(log), 12);
	json_decref(log);
}
END_TEST

START_TEST(test_probe_all_allowed)
{
	srv_script_json(&S, json_pack("{s:{s:o, s:o}}", "routes", "GET /version",
	                ok(json_pack("{s:s, s:s}", "major", "1", "minor",
	                             "30")), "POST " SSAR,
	                created(json_pack("{s:s, s:s, s:{s:b}}", "kind",
	                        "SelfSubjectAccessReview", "apiVersion",
	                        "authorization.k8s.io/v1", "status", "allowed",
	                        1))));
	A = k8s_agent("");
	ck_assert_msg(afk_agent_probe(A) == 0, "%s", afk_agent_errmsg(A));
}
END_TEST

/* --- configuration --------------------------------------------------- */

static const struct {
	const char *member, *key;
} bad[] = {
	{"\"namespace\": \"Team_A\"", "agent.namespace"},
	{"\"image\": \"\"", "agent.image"},
	{"\"command\": []", "agent.command"},
	{"\"command\": [\"run\", 3]", "agent.command"},
	{"\"resources\": {\"limits\": {\"memory\": 2}}", "agent.resources"},
	{"\"resources\": {\"limitz\": {}}", "agent.resources"},
	{"\"resources\": {\"limits\": {\"memory\": \"two gigs\"}}",
	 "agent.resources"},
	{"\"node_selector\": {\"pool\": 1}", "agent.node_selector"},
	{"\"tolerations\": [{\"operator\": \"Maybe\"}]", "agent.tolerations"},
	{"\"tolerations\": {}", "agent.tolerations"},
	{"\"env_from_secrets\": [{\"name\": \"X\", \"value\": \"s3cret\"}]",
	 "agent.env_from_secrets"},
	{"\"env_from_secrets\": [{\"name\": \"AFK_REPO\", \"secret\": \"s\", "
	 "\"key\": \"k\"}]", "agent.env_from_secrets"},
	{"\"automount_token\": \"yes\"", "agent.automount_token"},
	{"\"active_deadline\": 0", "agent.active_deadline"},
	{"\"log_tail\": 10", "agent.log_tail"},
	{"\"service_account\": \"Not A Name\"", "agent.service_account"},
	{"\"api_url\": \"http://example.com\"", "agent.api_url"},
};

START_TEST(test_config_refuses_bad_values)
{
	afk_config *cfg = NULL;
	const char *m = bad[_i].member;
	char *text = afk__aprintf("{\"agent\": {\"kind\": \"kubernetes\", "
	             "%s%s%s}}", strncmp(m, "\"image\"", 7) == 0 ? "" :
	             "\"image\": \"i\", ", strncmp(m, "\"command\"", 9) == 0 ?
	             "" : "\"command\": [\"c\"], ", m);

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_int_eq(afk_config_load_string(cfg, text), AFK_ECONFIG);
	assert_contains(afk_config_errmsg(cfg), bad[_i].key);
	assert_contains(afk_config_errmsg(cfg), ":1:");
	afk_config_free(cfg);
	free(text);
}
END_TEST

START_TEST(test_config_requires_image_and_command)
{
	afk_config *cfg = NULL;

	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"agent\": {\"kind\": "
	                 "\"kubernetes\", \"command\": [\"c\"]}}"), AFK_ECONFIG);
	assert_contains(afk_config_errmsg(cfg), "agent.image");
	ck_assert_int_eq(afk_config_load_string(cfg, "{\"agent\": {\"kind\": "
	                 "\"kubernetes\", \"image\": \"i\"}}"), AFK_ECONFIG);
	assert_contains(afk_config_errmsg(cfg), "agent.command");
	afk_config_free(cfg);
}
END_TEST

/* Outside a cluster without api_url: setup says which member to set. */
START_TEST(test_setup_outside_a_cluster)
{
	afk_config *cfg = NULL;
	afk_agent *a = NULL;
	char *text = afk__aprintf("{\"agent\": {\"kind\": \"kubernetes\", "
	             "\"namespace\": \"team\", \"token_file\": \"%s\", "
	             "\"image\": \"i\", \"command\": [\"c\"]}}", Token);

	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_eq(afk_config_new(&cfg), 0);
	ck_assert_msg(afk_config_load_string(cfg, text) == 0, "%s",
	              afk_config_errmsg(cfg));
	ck_assert_int_eq(afk_agent_new(&a), 0);
	ck_assert_int_eq(afk_agent_set_builtin(a, cfg), AFK_ECONFIG);
	assert_contains(afk_agent_errmsg(a), "api_url");
	afk_agent_free(a);
	afk_config_free(cfg);
	free(text);
}
END_TEST

static Suite *k8s_suite(void)
{
	Suite *s = suite_create("kubernetes");
	TCase *tc = tcase_create("kubernetes");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_job_names);
	tcase_add_test(tc, test_dispatch_creates_secret_job_owner);
	tcase_add_test(tc, test_dispatch_adopts_its_own_job);
	tcase_add_test(tc, test_dispatch_reuses_its_own_secret);
	tcase_add_test(tc, test_dispatch_refuses_a_foreign_job);
	tcase_add_test(tc, test_dispatch_refuses_a_foreign_secret);
	tcase_add_test(tc, test_forbidden_names_verb_and_resource);
	tcase_add_test(tc, test_snapshot_no_job_is_gone);
	tcase_add_test(tc, test_snapshot_job_without_turn_is_not_gone);
	tcase_add_test(tc, test_snapshot_message_is_one_line);
	tcase_add_loop_test(tc, test_snapshot_states, 0,
	                    (int)(sizeof(snaps) / sizeof(*snaps)));
	tcase_add_loop_test(tc, test_snapshot_job_without_pods, 0, 2);
	tcase_add_test(tc, test_snapshot_log_markers);
	tcase_add_test(tc, test_snapshot_cut_first_line);
	tcase_add_loop_test(tc, test_snapshot_transient_failures, 0, 3);
	tcase_add_test(tc, test_token_rotation);
	tcase_add_test(tc, test_send_turn_waits_then_starts_t2);
	tcase_add_test(tc, test_send_turn_same_prompt_is_that_turn);
	tcase_add_test(tc, test_stop_deletes_every_turn);
	tcase_add_test(tc, test_probe_names_missing_permissions);
	tcase_add_test(tc, test_probe_all_allowed);
	tcase_add_loop_test(tc, test_config_refuses_bad_values, 0,
	                    (int)(sizeof(bad) / sizeof(*bad)));
	tcase_add_test(tc, test_config_requires_image_and_command);
	tcase_add_test(tc, test_setup_outside_a_cluster);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fake_run(k8s_suite());
}
