/*
 * tests/core/check_config.c - the configuration: defaults, keys, validation,
 * line numbers, atomicity, paths, the environment, and lib/core/jsonpos.c.
 *
 * Tests that change the process (cwd, environment, temporary files) undo
 * it before they end, so the suite also runs unforked under valgrind.
 */
#define _XOPEN_SOURCE 700

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <afk/afk.h>
#include <jansson.h>

#include "core/config.h"
#include "core/jsonpos.h"

#define NKEYS_MAX 32
#define HTTP_DEFAULT "{\"per_host\":4,\"connect_timeout\":10," \
	"\"timeout\":30,\"max_body\":8388608,\"max_pages\":10," \
	"\"etag_cache\":null,\"etag_cache_read_only\":false," \
	"\"rate_reserve\":50}"
#define DIR_MAX 256

/* What a built-in reads of an adapter key's checked section: the kind's
 * name (NULL: none), a string member, an array member's length and
 * entries. */
#define KIND(c, role) (afk__config_kind((c), (role)) ? \
	afk__config_kind((c), (role))->name : NULL)
#define STR(c, role, m) afk__config_str((c), (role), (m))
#define LEN(c, role, m) json_array_size(json_object_get((c)->section[role], \
	(m)))
#define AT(c, role, m, i) json_string_value(json_array_get( \
	json_object_get((c)->section[role], (m)), (i)))

/* --- helpers --------------------------------------------------------- */

static afk_config *cfg_new(void)
{
	afk_config *c = NULL;

	ck_assert_int_eq(afk_config_new(&c), AFK_OK);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* The value of key as JSON text; the caller frees it with afk_free(). */
static char *get(const afk_config *c, const char *key)
{
	char *s = NULL;

	ck_assert_int_eq(afk_config_get(c, key, &s), AFK_OK);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void assert_get(const afk_config *c, const char *key,
                       const char *want)
{
	char *s = get(c, key);

	ck_assert_msg(strcmp(s, want) == 0, "%s is %s, want %s", key, s, want);
	afk_free(s);
}

static void assert_has(const char *msg, const char *needle)
{
	ck_assert_msg(strstr(msg, needle) != NULL, "message \"%s\" lacks \"%s\"",
	              msg, needle);
}

static void assert_msg(const afk_config *c, const char *want)
{
	ck_assert_msg(strcmp(afk_config_errmsg(c), want) == 0,
	              "message \"%s\", want \"%s\"", afk_config_errmsg(c),
	              want);
}

/* Every key's value, to show that a refusal changed nothing. */
typedef struct snapshot {
	char *v[NKEYS_MAX];
	char *preamble;
} snapshot;

static void snap_take(const afk_config *c, snapshot *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; afk_config_key(i) != NULL; i++) {
		ck_assert_uint_lt(i, NKEYS_MAX);
		s->v[i] = get(c, afk_config_key(i));
	}
	s->preamble = c->preamble ? strdup(c->preamble) : NULL;
}

static void snap_check(const afk_config *c, const snapshot *s)
{
	size_t i;

	for (i = 0; afk_config_key(i) != NULL; i++)
		assert_get(c, afk_config_key(i), s->v[i]);
	ck_assert_pstr_eq(c->preamble, s->preamble);
}

static void snap_free(snapshot *s)
{
	size_t i;

	for (i = 0; i < NKEYS_MAX; i++)
		afk_free(s->v[i]);
	free(s->preamble);
}

/* A fresh directory under /tmp, its real path in dir (DIR_MAX bytes:
 * short, so that paths built on it fit their buffers). */
static void tmp_make(char *dir)
{
	char tmpl[] = "/tmp/afk-cfg-XXXXXX";
	char *real;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	real = realpath(tmpl, NULL);
	ck_assert_ptr_nonnull(real);
	ck_assert_uint_lt(strlen(real), DIR_MAX);
	strcpy(dir, real);
	free(real);
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void tmp_remove(const char *dir)
{
	ck_assert_int_eq(nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* Writes len bytes of text to dir/name and its path into path. */
static void write_bytes(const char *dir, const char *name, const char *text,
                        size_t len, char *path)
{
	FILE *f;

	snprintf(path, PATH_MAX, "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void write_file(const char *dir, const char *name, const char *text,
                       char *path)
{
	write_bytes(dir, name, text, strlen(text), path);
}

static void env_clear(void)
{
	unsetenv("AFK_KILL_SWITCH");
	unsetenv("AFK_ALLOWLIST");
	unsetenv("STATE_DIRECTORY");
	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
}

/* --- defaults and arming --------------------------------------------- */

START_TEST(fresh_config_fails_closed)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_armed(c), 0);
	assert_get(c, "kill_switch", "true");
	assert_get(c, "allowlist", "[]");
	assert_get(c, "ready_label", "\"ready-for-agent\"");
	assert_get(c, "in_progress_label", "\"agent-in-progress\"");
	assert_get(c, "human_label", "\"ready-for-human\"");
	assert_get(c, "trusted_users", "[]");
	assert_get(c, "trust_writers", "false");
	assert_get(c, "preamble_file", "null");
	assert_get(c, "tracker", "null");
	assert_get(c, "agent", "null");
	assert_get(c, "ci", "null");
	assert_get(c, "notifier", "null");
	assert_get(c, "fix_forward_budget", "2");
	assert_get(c, "max_in_flight", "null");
	assert_get(c, "deploy_stage", "false");
	assert_get(c, "stall_timeout", "7200");
	assert_get(c, "ci_timeout", "3600");
	assert_get(c, "deploy_timeout", "3600");
	assert_get(c, "http", HTTP_DEFAULT);
	assert_get(c, "budget", "{}");
	ck_assert(c->budget_tokens == 0 && c->budget_cost_microusd == 0);
	ck_assert_str_eq(afk_config_errmsg(c), "");
	ck_assert_ptr_null(c->preamble);
	ck_assert_int_eq(c->fix_forward_budget, 2);
	ck_assert_int_eq(c->deploy_stage, 0);
	ck_assert(c->stall_timeout == 7200 && c->ci_timeout == 3600 &&
	          c->deploy_timeout == 3600);
	afk_config_free(c);
}
END_TEST

START_TEST(kill_switch_off_alone_is_not_armed)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "kill_switch", "false"), AFK_OK);
	ck_assert_int_eq(afk_config_armed(c), 0);
	afk_config_free(c);
}
END_TEST

START_TEST(allowlist_alone_is_not_armed)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "allowlist", "[\"infra\"]"),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_armed(c), 0);
	afk_config_free(c);
}
END_TEST

START_TEST(both_gates_arm)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c, "{\"kill_switch\": false, "
	                 "\"allowlist\": [\"infra\"]}"), AFK_OK);
	ck_assert_int_eq(afk_config_armed(c), 1);
	ck_assert_int_eq(afk_config_set(c, "kill_switch", "true"), AFK_OK);
	ck_assert_int_eq(afk_config_armed(c), 0);
	ck_assert_int_eq(afk_config_set(c, "kill_switch", "false"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "allowlist", "[]"), AFK_OK);
	ck_assert_int_eq(afk_config_armed(c), 0);
	afk_config_free(c);
}
END_TEST

/* --- keys ------------------------------------------------------------ */

START_TEST(keys_are_enumerated_in_order)
{
	static const char *const want[] = {
		"kill_switch", "allowlist", "ready_label", "in_progress_label",
		"human_label", "trusted_users", "trust_writers",
		"preamble_file", "tracker",
		"agent", "ci", "notifier", "fix_forward_budget", "max_in_flight",
		"deploy_stage", "stall_timeout", "ci_timeout", "deploy_timeout",
		"http", "state_dir", "metrics_file", "budget"
	};
	size_t i, n = sizeof(want) / sizeof(*want);

	for (i = 0; i < n; i++)
		ck_assert_pstr_eq(afk_config_key(i), want[i]);
	ck_assert_ptr_null(afk_config_key(n));
	ck_assert_ptr_null(afk_config_key((size_t)-1));
}
END_TEST

START_TEST(every_key_round_trips_its_default)
{
	afk_config *c = cfg_new();
	snapshot before;
	size_t i;

	snap_take(c, &before);
	for (i = 0; afk_config_key(i) != NULL; i++)
		ck_assert_msg(afk_config_set(c, afk_config_key(i),
		              before.v[i]) == AFK_OK, "%s: %s", afk_config_key(i),
		              afk_config_errmsg(c));
	snap_check(c, &before);
	snap_free(&before);
	afk_config_free(c);
}
END_TEST

/* A non-default value for every key, set then read back; a key added to
 * the library without a row here fails the test. */
START_TEST(every_key_round_trips_a_value)
{
	char dir[DIR_MAX], pre[PATH_MAX], pre_json[2 * PATH_MAX];
	char *got;
	afk_config *c = cfg_new();
	const char *v;
	size_t i;

	tmp_make(dir);
	write_file(dir, "pre.md", "Be careful.\n", pre);
	snprintf(pre_json, sizeof(pre_json), "\"%s\"", pre);
	for (i = 0; afk_config_key(i) != NULL; i++) {
		const char *k = afk_config_key(i);

		if (strcmp(k, "kill_switch") == 0)
			v = "false";
		else if (strcmp(k, "allowlist") == 0)
			v = "[\"infra\",\"acme/api\",\"A.b_c-d/x.y-z\"]";
		else if (strcmp(k, "ready_label") == 0)
			v = "\"go\"";
		else if (strcmp(k, "in_progress_label") == 0)
			v = "\"going\"";
		else if (strcmp(k, "human_label") == 0)
			v = "\"help me\"";
		else if (strcmp(k, "trusted_users") == 0)
			v = "[\"alice\",\"bob-1\"]";
		else if (strcmp(k, "trust_writers") == 0)
			v = "true";
		else if (strcmp(k, "preamble_file") == 0)
			v = pre_json;
		else if (strcmp(k, "tracker") == 0)
			v = "{\"kind\":\"file\",\"path\":\"/srv/issues.json\"}";
		else if (strcmp(k, "agent") == 0)
			v = "{\"kind\":\"command\",\"command\":[\"/bin/agent\","
			    "\"-v\"],\"state_dir\":\"/var/afk\","
			    "\"stop_grace\":10}";
		else if (strcmp(k, "ci") == 0)
			v = "{\"kind\":\"command\",\"command\":[\"/bin/ci\","
			    "\"--json\"]}";
		else if (strcmp(k, "notifier") == 0)
			v = "{\"kind\":\"file\",\"path\":\"/var/log/afk.log\"}";
		else if (strcmp(k, "fix_forward_budget") == 0)
			v = "0";
		else if (strcmp(k, "max_in_flight") == 0)
			v = "2";
		else if (strcmp(k, "deploy_stage") == 0)
			v = "true";
		else if (strcmp(k, "stall_timeout") == 0)
			v = "31536000";
		else if (strcmp(k, "ci_timeout") == 0)
			v = "1";
		else if (strcmp(k, "deploy_timeout") == 0)
			v = "600";
		else if (strcmp(k, "http") == 0)
			v = "{\"per_host\":64,\"connect_timeout\":1,"
			    "\"timeout\":3600,\"max_body\":1024,"
			    "\"max_pages\":1000,"
			    "\"etag_cache\":\"/var/cache/afk/etags.json\","
			    "\"etag_cache_read_only\":true,"
			    "\"rate_reserve\":0}";
		else if (strcmp(k, "state_dir") == 0)
			v = "\"/var/lib/afk\"";
		else if (strcmp(k, "metrics_file") == 0)
			v = "\"/var/lib/node_exporter/textfile/afk.prom\"";
		else if (strcmp(k, "budget") == 0)
			v = "{\"tokens\":500000,\"cost_usd\":2.5}";
		else
			ck_abort_msg("no sample value for key %s", k);
		ck_assert_msg(afk_config_set(c, k, v) == AFK_OK, "%s: %s", k,
		              afk_config_errmsg(c));
		got = get(c, k);
		ck_assert_str_eq(got, v);
		ck_assert_int_eq(afk_config_set(c, k, got), AFK_OK);
		afk_free(got);
		assert_get(c, k, v);
	}
	ck_assert_str_eq(c->preamble, "Be careful.\n");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

START_TEST(unknown_key_is_refused_by_set_and_get)
{
	afk_config *c = cfg_new();
	char *s = (char *)"sentinel";

	ck_assert_int_eq(afk_config_set(c, "kil_switch", "true"), AFK_ECONFIG);
	assert_msg(c, "\"kil_switch\": unknown key");
	ck_assert_int_eq(afk_config_get(c, "kil_switch", &s), AFK_ECONFIG);
	ck_assert_ptr_null(s);
	afk_config_free(c);
}
END_TEST

START_TEST(null_arguments_are_einval)
{
	afk_config *c = cfg_new();
	char *s = (char *)"sentinel";

	ck_assert_int_eq(afk_config_new(NULL), AFK_EINVAL);
	ck_assert_int_eq(afk_config_load_file(NULL, "x"), AFK_EINVAL);
	ck_assert_int_eq(afk_config_load_file(c, NULL), AFK_EINVAL);
	ck_assert_int_eq(afk_config_load_string(NULL, "{}"), AFK_EINVAL);
	ck_assert_int_eq(afk_config_load_string(c, NULL), AFK_EINVAL);
	ck_assert_int_eq(afk_config_set(NULL, "kill_switch", "true"),
	                 AFK_EINVAL);
	ck_assert_int_eq(afk_config_set(c, NULL, "true"), AFK_EINVAL);
	ck_assert_int_eq(afk_config_set(c, "kill_switch", NULL), AFK_EINVAL);
	ck_assert_int_eq(afk_config_get(NULL, "kill_switch", &s), AFK_EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(afk_config_get(c, NULL, &s), AFK_EINVAL);
	ck_assert_int_eq(afk_config_get(c, "kill_switch", NULL), AFK_EINVAL);
	ck_assert_int_eq(afk_config_apply_env(NULL), AFK_EINVAL);
	ck_assert_int_eq(afk_config_armed(NULL), 0);
	ck_assert_str_eq(afk_config_errmsg(NULL), "");
	afk_config_free(NULL);
	assert_get(c, "kill_switch", "true");
	afk_config_free(c);
}
END_TEST

/* --- the allowlist --------------------------------------------------- */

static const struct bad_repo {
	const char *json;    /* the entry as a JSON string */
	const char *quoted;  /* as the message quotes it */
	const char *why;
} bad_repos[] = {
	{"\"\"", "\"\"", "it is empty"},
	{"\"*\"", "\"*\"", "wildcards and patterns are refused"},
	{"\"org/*\"", "\"org/*\"", "wildcards and patterns are refused"},
	{"\"a?b\"", "\"a?b\"", "wildcards and patterns are refused"},
	{"\"[ab]\"", "\"[ab]\"", "wildcards and patterns are refused"},
	{"\"{a,b}\"", "\"{a,b}\"", "wildcards and patterns are refused"},
	{"\"!infra\"", "\"!infra\"", "wildcards and patterns are refused"},
	{"\" infra\"", "\" infra\"", "whitespace is refused"},
	{"\"a b\"", "\"a b\"", "whitespace is refused"},
	{"\"a\\tb\"", "\"a\\u0009b\"", "whitespace is refused"},
	{"\"a/b/c\"", "\"a/b/c\"", "more than one '/'"},
	{"\"..\"", "\"..\"", "\".\" and \"..\" are not names"},
	{"\".\"", "\".\"", "\".\" and \"..\" are not names"},
	{"\"acme/..\"", "\"acme/..\"", "\".\" and \"..\" are not names"},
	{"\"owner/\"", "\"owner/\"", "the name is empty"},
	{"\"/name\"", "\"/name\"", "the owner is empty"},
	{"\"/\"", "\"/\"", "the owner is empty"},
	{"\"a:b\"", "\"a:b\"",
	 "only letters, digits, '.', '_', '-' and one '/' are allowed"},
	{"\"caf\\u00e9\"", "\"caf\xc3\xa9\"",
	 "only letters, digits, '.', '_', '-' and one '/' are allowed"},
	{"\"a\\u0001b\"", "\"a\\u0001b\"",
	 "only letters, digits, '.', '_', '-' and one '/' are allowed"},
};

START_TEST(bad_allowlist_entry_is_refused_naming_key_and_value)
{
	const struct bad_repo *b = &bad_repos[_i];
	afk_config *c = cfg_new();
	char json[128], want[512];

	snprintf(json, sizeof(json), "[\"infra\", %s]", b->json);
	ck_assert_int_eq(afk_config_set(c, "allowlist", json), AFK_ECONFIG);
	snprintf(want, sizeof(want),
	         "allowlist[1]: %s is not a repository name: %s", b->quoted,
	         b->why);
	assert_msg(c, want);
	assert_get(c, "allowlist", "[]");
	afk_config_free(c);
}
END_TEST

START_TEST(bad_repo_is_refused_by_check_repo)
{
	const struct bad_repo *b = &bad_repos[_i];
	char errbuf[AFK__ERRMSG_SIZE], want[512];
	json_t *v = json_loads(b->json, JSON_DECODE_ANY, NULL);

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(afk__config_check_repo(json_string_value(v), errbuf),
	                 AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s is not a repository name: %s",
	         b->quoted, b->why);
	ck_assert_str_eq(errbuf, want);
	json_decref(v);
}
END_TEST

START_TEST(good_repos_pass_and_keep_their_order)
{
	static const char *const good[] = {
		"infra", "acme/api", "A.b_c-d/x.y-z", "a..b", "0/9", ".github",
		"o/.x"
	};
	char errbuf[AFK__ERRMSG_SIZE];
	afk_config *c = cfg_new();
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(*good); i++)
		ck_assert_msg(afk__config_check_repo(good[i], errbuf) == AFK_OK,
		              "%s: %s", good[i], errbuf);
	ck_assert_int_eq(afk_config_set(c, "allowlist",
	                 "[\"zeta\", \"acme/api\", \"alpha\"]"), AFK_OK);
	assert_get(c, "allowlist", "[\"zeta\",\"acme/api\",\"alpha\"]");
	ck_assert_uint_eq(c->allowlist.n, 3);
	ck_assert_str_eq(c->allowlist.v[0], "zeta");
	afk_config_free(c);
}
END_TEST

START_TEST(duplicate_allowlist_entry_is_refused)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "allowlist",
	                 "[\"a\", \"b/c\", \"a\"]"), AFK_ECONFIG);
	assert_msg(c, "allowlist[2]: \"a\" is listed twice");
	assert_get(c, "allowlist", "[]");
	afk_config_free(c);
}
END_TEST

START_TEST(long_value_is_cut_in_the_message)
{
	afk_config *c = cfg_new();
	char json[1100];

	memset(json, 'x', sizeof(json));
	memcpy(json, "[\"*", 3);
	memcpy(json + sizeof(json) - 3, "\"]", 3);
	ck_assert_int_eq(afk_config_set(c, "allowlist", json), AFK_ECONFIG);
	assert_has(afk_config_errmsg(c), "allowlist[0]: \"*xxx");
	assert_has(afk_config_errmsg(c), "...\" is not a repository name: "
	           "wildcards and patterns are refused");
	ck_assert_uint_lt(strlen(afk_config_errmsg(c)), 200);
	afk_config_free(c);
}
END_TEST

/* --- types ----------------------------------------------------------- */

static const struct bad_type {
	const char *key;
	const char *json;
	const char *msg;
} bad_types[] = {
	{"kill_switch", "\"yes\"",
	 "kill_switch: expected a boolean, got a string"},
	{"kill_switch", "1", "kill_switch: expected a boolean, got a number"},
	{"kill_switch", "null", "kill_switch: expected a boolean, got null"},
	{"allowlist", "\"infra\"",
	 "allowlist: expected an array of strings, got a string"},
	{"allowlist", "null", "allowlist: expected an array of strings, got null"},
	{"allowlist", "[\"a\", 1]",
	 "allowlist[1]: expected a string, got a number"},
	{"ready_label", "5", "ready_label: expected a string, got a number"},
	{"in_progress_label", "[]",
	 "in_progress_label: expected a string, got an array"},
	{"human_label", "{}", "human_label: expected a string, got an object"},
	{"human_label", "null", "human_label: expected a string, got null"},
	{"trusted_users", "\"alice\"",
	 "trusted_users: expected an array of strings, got a string"},
	{"trusted_users", "[true]",
	 "trusted_users[0]: expected a string, got a boolean"},
	{"preamble_file", "3",
	 "preamble_file: expected a string or null, got a number"},
	{"tracker", "\"file\"",
	 "tracker: expected an object or null, got a string"},
	{"tracker", "{\"kind\": 1, \"path\": \"x\"}",
	 "tracker.kind: expected a string, got a number"},
	{"tracker", "{\"kind\": \"file\", \"path\": 7}",
	 "tracker.path: expected a string, got a number"},
	{"agent", "[]", "agent: expected an object or null, got an array"},
	{"agent", "{\"kind\": \"command\", \"command\": \"ls\"}",
	 "agent.command: expected an array of strings, got a string"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"ls\", 2]}",
	 "agent.command[1]: expected a string, got a number"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"ls\"], "
	 "\"state_dir\": false}",
	 "agent.state_dir: expected a string, got a boolean"},
	{"ci", "[\"./ci.sh\"]", "ci: expected an object or null, got an array"},
	{"ci", "{\"kind\": \"command\", \"command\": [1]}",
	 "ci.command[0]: expected a string, got a number"},
	{"notifier", "\"stdout\"",
	 "notifier: expected an object or null, got a string"},
	{"notifier", "{\"kind\": \"file\", \"path\": []}",
	 "notifier.path: expected a string, got an array"},
	{"fix_forward_budget", "\"2\"",
	 "fix_forward_budget: expected an integer, got a string"},
	{"fix_forward_budget", "1.5",
	 "fix_forward_budget: expected an integer, got a number"},
	{"fix_forward_budget", "null",
	 "fix_forward_budget: expected an integer, got null"},
	{"max_in_flight", "\"2\"",
	 "max_in_flight: expected an integer, got a string"},
	{"deploy_stage", "1", "deploy_stage: expected a boolean, got a number"},
	{"trust_writers", "\"yes\"",
	 "trust_writers: expected a boolean, got a string"},
	{"stall_timeout", "true",
	 "stall_timeout: expected an integer, got a boolean"},
	{"ci_timeout", "60.0", "ci_timeout: expected an integer, got a number"},
	{"deploy_timeout", "\"1h\"",
	 "deploy_timeout: expected an integer, got a string"},
};

START_TEST(wrong_type_is_refused_by_set)
{
	const struct bad_type *b = &bad_types[_i];
	afk_config *c = cfg_new();
	snapshot before;

	snap_take(c, &before);
	ck_assert_int_eq(afk_config_set(c, b->key, b->json), AFK_ECONFIG);
	assert_msg(c, b->msg);
	snap_check(c, &before);
	snap_free(&before);
	afk_config_free(c);
}
END_TEST

START_TEST(wrong_type_is_refused_by_load_with_line)
{
	const struct bad_type *b = &bad_types[_i];
	afk_config *c = cfg_new();
	char json[256], want[512];
	snapshot before;

	/* line 2 sets another key to its default value */
	snprintf(json, sizeof(json), "{\n%s,\n\"%s\": %s\n}",
	         strcmp(b->key, "allowlist") ? "\"allowlist\": []" :
	         "\"kill_switch\": true", b->key, b->json);
	snprintf(want, sizeof(want), "<string>:3: %s", b->msg);
	snap_take(c, &before);
	ck_assert_int_eq(afk_config_load_string(c, json), AFK_ECONFIG);
	assert_msg(c, want);
	snap_check(c, &before);
	snap_free(&before);
	afk_config_free(c);
}
END_TEST

/* --- loading and line numbers ---------------------------------------- */

START_TEST(unknown_key_is_refused_with_its_line)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\n  \"kill_switch\": false,\n  \"kil_switch\": true\n}"),
	                 AFK_ECONFIG);
	assert_msg(c, "<string>:3: \"kil_switch\": unknown key");
	assert_get(c, "kill_switch", "true");
	afk_config_free(c);
}
END_TEST

START_TEST(file_error_names_path_and_line)
{
	char dir[DIR_MAX], path[PATH_MAX], want[2 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	write_file(dir, "afk.json",
	           "{\n"
	           "  \"kill_switch\": false,\n"
	           "  \"allowlist\": [\n"
	           "    \"infra\",\n"
	           "    \"org/*\"\n"
	           "  ]\n"
	           "}\n", path);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:5: allowlist[1]: \"org/*\" is not a "
	         "repository name: wildcards and patterns are refused", path);
	assert_msg(c, want);

	write_file(dir, "afk.json", "{\n  \"kil_switch\": true\n}\n", path);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:2: \"kil_switch\": unknown key", path);
	assert_msg(c, want);
	assert_get(c, "kill_switch", "true");
	assert_get(c, "allowlist", "[]");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

/* Strings holding brackets, quotes and escapes before the bad value must
 * not throw the count off. */
START_TEST(lines_survive_tricky_strings)
{
	afk_config *c = cfg_new();
	const char *json =
		"{\n"
		"  \"ready_label\": \"a \\\"{[\\\" b\",\n"
		"  \"trusted_users\": [\"x,]}\", \"y\\\\\", \"z\\\"\"],\n"
		"\n"
		"  \"tracker\": {\n"
		"    \"kind\": \"file\",\n"
		"    \"path\": \"\"\n"
		"  }\n"
		"}";

	ck_assert_int_eq(afk_config_load_string(c, json), AFK_ECONFIG);
	assert_msg(c, "<string>:7: tracker.path: a path cannot be empty");
	afk_config_free(c);
}
END_TEST

START_TEST(line_of_an_escaped_key)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\"allowlist\": [],\n\n \"kill\\u005fswitch\": \"no\"}"),
	                 AFK_ECONFIG);
	assert_msg(c, "<string>:3: kill_switch: expected a boolean, "
	           "got a string");
	afk_config_free(c);
}
END_TEST

START_TEST(line_of_a_nested_array_element)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\"agent\": {\n"
	                 "  \"kind\": \"command\",\n"
	                 "  \"command\": [\n"
	                 "    \"run\",\n"
	                 "    \"\"\n"
	                 "  ]}}"), AFK_ECONFIG);
	assert_msg(c, "<string>:5: agent.command[1]: an argument cannot be "
	           "empty");
	afk_config_free(c);
}
END_TEST

/* A missing member has no line: the line of its object is given. */
START_TEST(line_of_a_missing_member_is_its_parent)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\n\"kill_switch\": true,\n\"tracker\":\n"
	                 "  {\"path\": \"x\"}\n}"), AFK_ECONFIG);
	assert_msg(c, "<string>:3: tracker.kind: missing (known kinds: "
	           "\"file\", \"github\", \"forgejo\")");
	afk_config_free(c);
}
END_TEST

START_TEST(invalid_json_reports_line_and_column)
{
	afk_config *c = cfg_new();
	const char *m;
	int line = 0, col = 0, n = 0;

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\n  \"kill_switch\": true,\n  \"allowlist\": ,\n}"),
	                 AFK_ECONFIG);
	m = afk_config_errmsg(c);
	ck_assert_int_eq(sscanf(m, "<string>:%d:%d: invalid JSON: %n", &line,
	                        &col, &n), 2);
	ck_assert_int_eq(line, 3);
	ck_assert_int_gt(col, 0);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_gt(strlen(m + n), 0);
	assert_get(c, "kill_switch", "true");
	afk_config_free(c);
}
END_TEST

START_TEST(duplicate_json_keys_are_refused)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\"kill_switch\": true,\n\"kill_switch\": false}"),
	                 AFK_ECONFIG);
	assert_has(afk_config_errmsg(c), "<string>:2:");
	assert_has(afk_config_errmsg(c), "invalid JSON");
	assert_has(afk_config_errmsg(c), "duplicate");
	assert_get(c, "kill_switch", "true");
	ck_assert_int_eq(afk_config_set(c, "tracker",
	                 "{\"kind\": \"file\", \"kind\": \"file\", "
	                 "\"path\": \"x\"}"), AFK_ECONFIG);
	assert_has(afk_config_errmsg(c), "tracker: invalid JSON: ");
	assert_get(c, "tracker", "null");
	afk_config_free(c);
}
END_TEST

START_TEST(top_level_must_be_an_object)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c, "\n[\"kill_switch\"]"),
	                 AFK_ECONFIG);
	assert_msg(c, "<string>:2: expected an object at the top level, "
	           "got an array");
	ck_assert_int_eq(afk_config_load_string(c, "true"), AFK_ECONFIG);
	assert_has(afk_config_errmsg(c), "invalid JSON");
	ck_assert_int_eq(afk_config_load_string(c, ""), AFK_ECONFIG);
	assert_has(afk_config_errmsg(c), "invalid JSON");
	afk_config_free(c);
}
END_TEST

START_TEST(set_reports_invalid_json)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "kill_switch", "tru"), AFK_ECONFIG);
	assert_has(afk_config_errmsg(c), "kill_switch: invalid JSON: ");
	ck_assert_int_eq(afk_config_set(c, "kill_switch", "false true"),
	                 AFK_ECONFIG);
	assert_get(c, "kill_switch", "true");
	afk_config_free(c);
}
END_TEST

START_TEST(absent_keys_keep_their_values)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "allowlist", "[\"infra\"]"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ready_label", "\"go\""), AFK_OK);
	ck_assert_int_eq(afk_config_load_string(c, "{\"kill_switch\": false}"),
	                 AFK_OK);
	assert_get(c, "kill_switch", "false");
	assert_get(c, "allowlist", "[\"infra\"]");
	assert_get(c, "ready_label", "\"go\"");
	ck_assert_int_eq(afk_config_load_string(c, "{}"), AFK_OK);
	assert_get(c, "allowlist", "[\"infra\"]");
	ck_assert_int_eq(afk_config_armed(c), 1);
	afk_config_free(c);
}
END_TEST

START_TEST(missing_file_is_eio_naming_it)
{
	char dir[DIR_MAX], path[PATH_MAX], want[2 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	snprintf(path, sizeof(path), "%s/nope.json", dir);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_EIO);
	snprintf(want, sizeof(want), "%s: cannot read: %s", path,
	         strerror(ENOENT));
	assert_msg(c, want);
	ck_assert_int_eq(afk_config_load_file(c, dir), AFK_EIO);
	assert_has(afk_config_errmsg(c), strerror(EISDIR));
	assert_get(c, "kill_switch", "true");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

/* A FIFO as the configuration file or the preamble is refused, naming
 * it, rather than waited on forever for a writer that never comes. */
START_TEST(fifo_is_refused_not_waited_on)
{
	char dir[DIR_MAX], path[PATH_MAX], json[2 * PATH_MAX];
	char want[2 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	snprintf(path, sizeof(path), "%s/afk.json", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_EIO);
	snprintf(want, sizeof(want), "%s: cannot read: not a regular file",
	         path);
	assert_msg(c, want);
	assert_get(c, "kill_switch", "true");
	snprintf(path, sizeof(path), "%s/preamble.md", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	snprintf(json, sizeof(json), "\"%s\"", path);
	ck_assert_int_eq(afk_config_set(c, "preamble_file", json), AFK_ECONFIG);
	snprintf(want, sizeof(want), "preamble_file: cannot read \"%s\": not "
	         "a regular file", path);
	assert_msg(c, want);
	assert_get(c, "preamble_file", "null");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

/* Bad loads, sets and environments, each after a valid non-default
 * configuration: every key reads the same afterwards. */
START_TEST(refusals_leave_the_config_unchanged)
{
	static const char *const loads[] = {
		"{\"kill_switch\": true, \"allowlist\": [\"x\"], "
		"\"ready_label\": \"\"}",
		"{\"allowlist\": [], \"trusted_users\": [\"a\", \"a\"]}",
		"{\"tracker\": null, \"agent\": null, \"preamble_file\": null, "
		"\"human_label\": \"go\"}",
		"{\"tracker\": null, \"agent\": {\"kind\": \"command\", "
		"\"command\": []}}",
		"{\"preamble_file\": null, \"tracker\": {\"kind\": \"svn\"}}",
		"{\"preamble_file\": \"/nonexistent/afk/preamble\"}",
		"{\"kill_switch\": true, \"bogus\": 1}",
		"{\"kill_switch\": true,",
		"[]",
		"{\"fix_forward_budget\": 5, \"ci_timeout\": 0}",
		"{\"deploy_stage\": false, \"notifier\": {\"kind\": \"mail\"}}",
		"{\"ci\": null, \"stall_timeout\": 99999999999}",
	};
	static const char *const sets[][2] = {
		{"kill_switch", "0"},
		{"allowlist", "[\"ok\", \"no/*\"]"},
		{"in_progress_label", "\"GO\""},
		{"trusted_users", "[\"a b\"]"},
		{"preamble_file", "\"\""},
		{"tracker", "{\"kind\": \"file\", \"path\": \"x\", \"p\": 1}"},
		{"agent", "{\"kind\": \"command\"}"},
		{"ci", "{\"kind\": \"command\", \"command\": []}"},
		{"notifier", "{\"kind\": \"file\"}"},
		{"fix_forward_budget", "101"},
		{"deploy_stage", "null"},
		{"stall_timeout", "0"},
		{"ci_timeout", "31536001"},
		{"deploy_timeout", "-1"},
		{"nope", "1"},
	};
	char dir[DIR_MAX], pre[PATH_MAX], json[4 * PATH_MAX];
	afk_config *c = cfg_new();
	snapshot before;
	size_t i;

	tmp_make(dir);
	write_file(dir, "pre.md", "preamble\n", pre);
	snprintf(json, sizeof(json),
	         "{\"kill_switch\": false, \"allowlist\": [\"a\", \"b/c\"], "
	         "\"ready_label\": \"go\", \"trusted_users\": [\"alice\"], "
	         "\"preamble_file\": \"%s\", "
	         "\"tracker\": {\"kind\": \"file\", \"path\": \"/i.json\"}, "
	         "\"agent\": {\"kind\": \"command\", \"command\": [\"x\"]}, "
	         "\"ci\": {\"kind\": \"command\", \"command\": [\"/c\"]}, "
	         "\"notifier\": {\"kind\": \"stdout\"}, "
	         "\"fix_forward_budget\": 3, \"deploy_stage\": true, "
	         "\"stall_timeout\": 60, \"ci_timeout\": 61, "
	         "\"deploy_timeout\": 62}",
	         pre);
	ck_assert_msg(afk_config_load_string(c, json) == AFK_OK, "%s",
	              afk_config_errmsg(c));
	snap_take(c, &before);
	for (i = 0; i < sizeof(loads) / sizeof(*loads); i++) {
		ck_assert_msg(afk_config_load_string(c, loads[i]) != AFK_OK,
		              "accepted %s", loads[i]);
		snap_check(c, &before);
	}
	for (i = 0; i < sizeof(sets) / sizeof(*sets); i++) {
		ck_assert_msg(afk_config_set(c, sets[i][0], sets[i][1]) != AFK_OK,
		              "accepted %s = %s", sets[i][0], sets[i][1]);
		snap_check(c, &before);
	}
	env_clear();
	setenv("AFK_KILL_SWITCH", "1", 1);
	setenv("AFK_ALLOWLIST", "x,y/*", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_ECONFIG);
	snap_check(c, &before);
	env_clear();
	snap_free(&before);
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

/* --- paths ----------------------------------------------------------- */

START_TEST(file_paths_are_taken_from_the_files_directory)
{
	char dir[DIR_MAX], path[PATH_MAX], pre[PATH_MAX];
	char want[4 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	write_file(dir, "pre.md", "Read CONTRIBUTING first.\n", pre);
	write_file(dir, "afk.json",
	           "{\"tracker\": {\"kind\": \"file\", \"path\": \"issues.json\"},\n"
	           " \"agent\": {\"kind\": \"command\",\n"
	           "   \"command\": [\"./agent.sh\", \"--x\", \"rel/arg\"]},\n"
	           " \"ci\": {\"kind\": \"command\", \"command\": [\"bin/ci\"]},\n"
	           " \"notifier\": {\"kind\": \"file\", \"path\": \"n.log\"},\n"
	           " \"state_dir\": \"state\",\n"
	           " \"metrics_file\": \"prom/afk.prom\",\n"
	           " \"preamble_file\": \"./pre.md\"}\n", path);
	ck_assert_msg(afk_config_load_file(c, path) == AFK_OK, "%s",
	              afk_config_errmsg(c));
	snprintf(want, sizeof(want),
	         "{\"kind\":\"file\",\"path\":\"%s/issues.json\"}", dir);
	assert_get(c, "tracker", want);
	/* No agent.state_dir: the runs go in the state directory's "runs"
	 * (the agent's setup finds it), never beside the file. */
	snprintf(want, sizeof(want), "{\"kind\":\"command\",\"command\":"
	         "[\"%s/agent.sh\",\"--x\",\"rel/arg\"],\"stop_grace\":10}",
	         dir);
	assert_get(c, "agent", want);
	snprintf(want, sizeof(want), "\"%s/state\"", dir);
	assert_get(c, "state_dir", want);
	snprintf(want, sizeof(want), "\"%s/prom/afk.prom\"", dir);
	assert_get(c, "metrics_file", want);
	snprintf(want, sizeof(want), "\"%s/pre.md\"", dir);
	assert_get(c, "preamble_file", want);
	snprintf(want, sizeof(want), "{\"kind\":\"command\",\"command\":"
	         "[\"%s/bin/ci\"]}", dir);
	assert_get(c, "ci", want);
	snprintf(want, sizeof(want), "{\"kind\":\"file\",\"path\":"
	         "\"%s/n.log\"}", dir);
	assert_get(c, "notifier", want);
	ck_assert_str_eq(c->preamble, "Read CONTRIBUTING first.\n");
	ck_assert_str_eq(KIND(c, AFK__ROLE_TRACKER), "file");
	ck_assert_str_eq(KIND(c, AFK__ROLE_AGENT), "command");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

START_TEST(relative_config_path_is_made_absolute)
{
	char dir[DIR_MAX], path[PATH_MAX], old[PATH_MAX];
	char want[4 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	snprintf(path, sizeof(path), "%s/sub", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	write_file(dir, "sub/afk.json",
	           "{\"tracker\": {\"kind\": \"file\", \"path\": \"../i.json\"},"
	           " \"agent\": {\"kind\": \"command\", \"command\": [\"echo\"],"
	           " \"state_dir\": \"runs\"}}", path);
	ck_assert_ptr_nonnull(getcwd(old, sizeof(old)));
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(afk_config_load_file(c, "sub/afk.json"), AFK_OK);
	ck_assert_int_eq(chdir(old), 0);
	snprintf(want, sizeof(want),
	         "{\"kind\":\"file\",\"path\":\"%s/sub/../i.json\"}", dir);
	assert_get(c, "tracker", want);
	snprintf(want, sizeof(want), "{\"kind\":\"command\",\"command\":"
	         "[\"echo\"],\"state_dir\":\"%s/sub/runs\",\"stop_grace\":10}",
	         dir);
	assert_get(c, "agent", want);
	/* a bare file name: its directory is the current one */
	ck_assert_int_eq(afk_config_set(c, "agent", "null"), AFK_OK);
	snprintf(path, sizeof(path), "%s/sub", dir);
	ck_assert_int_eq(chdir(path), 0);
	ck_assert_int_eq(afk_config_load_file(c, "afk.json"), AFK_OK);
	ck_assert_int_eq(chdir(old), 0);
	assert_get(c, "agent", want);
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

START_TEST(string_and_set_paths_are_taken_from_the_cwd)
{
	char dir[DIR_MAX], old[PATH_MAX], want[4 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	ck_assert_ptr_nonnull(getcwd(old, sizeof(old)));
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(afk_config_load_string(c, "{\"tracker\": "
	                 "{\"kind\": \"file\", \"path\": \"issues.json\"}}"),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "agent", "{\"kind\": \"command\", "
	                 "\"command\": [\"bin/agent\"], \"state_dir\": \".\"}"),
	                 AFK_OK);
	ck_assert_int_eq(chdir(old), 0);
	snprintf(want, sizeof(want),
	         "{\"kind\":\"file\",\"path\":\"%s/issues.json\"}", dir);
	assert_get(c, "tracker", want);
	snprintf(want, sizeof(want), "{\"kind\":\"command\",\"command\":"
	         "[\"%s/bin/agent\"],\"state_dir\":\"%s\",\"stop_grace\":10}",
	         dir, dir);
	assert_get(c, "agent", want);
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

START_TEST(absolute_paths_are_kept)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "tracker", "{\"kind\": \"file\", "
	                 "\"path\": \"/srv/afk/issues.json\"}"), AFK_OK);
	assert_get(c, "tracker",
	           "{\"kind\":\"file\",\"path\":\"/srv/afk/issues.json\"}");
	ck_assert_str_eq(STR(c, AFK__ROLE_TRACKER, "path"), "/srv/afk/issues.json");
	afk_config_free(c);
}
END_TEST

/* --- the preamble ---------------------------------------------------- */

START_TEST(preamble_file_is_read_when_set)
{
	char dir[DIR_MAX], pre[PATH_MAX], json[2 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	write_file(dir, "p.md", "line one\nline two\n", pre);
	snprintf(json, sizeof(json), "\"%s\"", pre);
	ck_assert_int_eq(afk_config_set(c, "preamble_file", json), AFK_OK);
	ck_assert_str_eq(c->preamble_file, pre);
	ck_assert_str_eq(c->preamble, "line one\nline two\n");
	/* read now, not later: removing the file changes nothing */
	ck_assert_int_eq(unlink(pre), 0);
	ck_assert_str_eq(c->preamble, "line one\nline two\n");
	ck_assert_int_eq(afk_config_set(c, "preamble_file", "null"), AFK_OK);
	ck_assert_ptr_null(c->preamble_file);
	ck_assert_ptr_null(c->preamble);
	assert_get(c, "preamble_file", "null");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

START_TEST(missing_preamble_names_path_and_error)
{
	char dir[DIR_MAX], path[PATH_MAX], want[4 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	write_file(dir, "afk.json",
	           "{\n  \"kill_switch\": false,\n  \"preamble_file\": \"gone.md\"\n}",
	           path);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:3: preamble_file: cannot read "
	         "\"%s/gone.md\": %s", path, dir, strerror(ENOENT));
	assert_msg(c, want);
	assert_get(c, "kill_switch", "true");
	assert_get(c, "preamble_file", "null");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

START_TEST(bad_preamble_files_are_refused)
{
	char dir[DIR_MAX], path[PATH_MAX], json[2 * PATH_MAX];
	char want[4 * PATH_MAX];
	char *big;
	afk_config *c = cfg_new();

	tmp_make(dir);
	big = malloc(64 * 1024 + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 64 * 1024 + 1);

	write_file(dir, "empty.md", "", path);
	snprintf(json, sizeof(json), "\"%s\"", path);
	ck_assert_int_eq(afk_config_set(c, "preamble_file", json), AFK_ECONFIG);
	snprintf(want, sizeof(want), "preamble_file: \"%s\" is empty", path);
	assert_msg(c, want);

	write_bytes(dir, "nul.md", "a\0b", 3, path);
	snprintf(json, sizeof(json), "\"%s\"", path);
	ck_assert_int_eq(afk_config_set(c, "preamble_file", json), AFK_ECONFIG);
	snprintf(want, sizeof(want), "preamble_file: \"%s\" contains a NUL "
	         "byte", path);
	assert_msg(c, want);

	write_bytes(dir, "big.md", big, 64 * 1024 + 1, path);
	snprintf(json, sizeof(json), "\"%s\"", path);
	ck_assert_int_eq(afk_config_set(c, "preamble_file", json), AFK_ECONFIG);
	snprintf(want, sizeof(want), "preamble_file: \"%s\" is larger than "
	         "64 KiB", path);
	assert_msg(c, want);

	snprintf(json, sizeof(json), "\"%s\"", dir);
	ck_assert_int_eq(afk_config_set(c, "preamble_file", json), AFK_ECONFIG);
	snprintf(want, sizeof(want), "preamble_file: cannot read \"%s\": %s",
	         dir, strerror(EISDIR));
	assert_msg(c, want);

	ck_assert_int_eq(afk_config_set(c, "preamble_file", "\"\""),
	                 AFK_ECONFIG);
	assert_msg(c, "preamble_file: a path cannot be empty");
	assert_get(c, "preamble_file", "null");

	write_bytes(dir, "max.md", big, 64 * 1024, path);
	snprintf(json, sizeof(json), "\"%s\"", path);
	ck_assert_int_eq(afk_config_set(c, "preamble_file", json), AFK_OK);
	ck_assert_uint_eq(strlen(c->preamble), 64 * 1024);
	free(big);
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

/* --- labels ---------------------------------------------------------- */

START_TEST(labels_must_differ)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "in_progress_label",
	                 "\"ready-for-agent\""), AFK_ECONFIG);
	assert_msg(c, "in_progress_label: \"ready-for-agent\" is also the "
	           "ready_label (labels are compared ignoring case); the three "
	           "labels must differ");
	ck_assert_int_eq(afk_config_set(c, "ready_label", "\"Ready-For-Human\""),
	                 AFK_ECONFIG);
	assert_has(afk_config_errmsg(c), "ready_label: \"Ready-For-Human\" is "
	           "also the human_label");
	ck_assert_int_eq(afk_config_load_string(c, "{\n\"ready_label\": \"x\","
	                 "\n\"human_label\": \"X\"\n}"), AFK_ECONFIG);
	assert_has(afk_config_errmsg(c), "<string>:3: human_label: \"X\" is "
	           "also the ready_label");
	assert_get(c, "ready_label", "\"ready-for-agent\"");
	assert_get(c, "in_progress_label", "\"agent-in-progress\"");
	assert_get(c, "human_label", "\"ready-for-human\"");
	afk_config_free(c);
}
END_TEST

/* Checked on the result, so one file may swap two labels. */
START_TEST(labels_may_be_swapped_in_one_load)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\"ready_label\": \"ready-for-human\", "
	                 "\"human_label\": \"ready-for-agent\"}"), AFK_OK);
	assert_get(c, "ready_label", "\"ready-for-human\"");
	assert_get(c, "human_label", "\"ready-for-agent\"");
	afk_config_free(c);
}
END_TEST

static const struct bad_label {
	const char *json;
	const char *msg;
} bad_labels[] = {
	{"\"\"", "ready_label: \"\": a label cannot be empty"},
	{"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
	 "ready_label: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": "
	 "longer than 50 bytes (GitHub's limit for a label)"},
	{"\"a\\nb\"", "ready_label: \"a\\u000ab\": control characters are "
	 "refused"},
	{"\"a\\u007fb\"", "ready_label: \"a\\u007fb\": control characters are "
	 "refused"},
	{"\" lead\"", "ready_label: \" lead\": leading or trailing whitespace "
	 "is refused"},
	{"\"trail \"", "ready_label: \"trail \": leading or trailing "
	 "whitespace is refused"},
};

START_TEST(bad_label_is_refused)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "ready_label", bad_labels[_i].json),
	                 AFK_ECONFIG);
	assert_msg(c, bad_labels[_i].msg);
	assert_get(c, "ready_label", "\"ready-for-agent\"");
	afk_config_free(c);
}
END_TEST

START_TEST(good_labels_pass)
{
	afk_config *c = cfg_new();

	/* 50 bytes exactly, inner spaces, UTF-8 */
	ck_assert_int_eq(afk_config_set(c, "ready_label",
	                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "in_progress_label",
	                 "\"agent: working\""), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "human_label", "\"pr\\u00eat\""),
	                 AFK_OK);
	ck_assert_str_eq(c->human_label, "pr\xc3\xaat");
	assert_get(c, "in_progress_label", "\"agent: working\"");
	afk_config_free(c);
}
END_TEST

/* --- trusted users --------------------------------------------------- */

START_TEST(trusted_users_are_checked)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "trusted_users",
	                 "[\"alice\", \"bob-1\"]"), AFK_OK);
	assert_get(c, "trusted_users", "[\"alice\",\"bob-1\"]");
	ck_assert_int_eq(afk_config_set(c, "trusted_users", "[\"\"]"),
	                 AFK_ECONFIG);
	assert_msg(c, "trusted_users[0]: a login cannot be empty");
	ck_assert_int_eq(afk_config_set(c, "trusted_users",
	                 "[\"a\", \"bob smith\"]"), AFK_ECONFIG);
	assert_msg(c, "trusted_users[1]: \"bob smith\": whitespace is refused");
	ck_assert_int_eq(afk_config_set(c, "trusted_users", "[\"a\\u0007\"]"),
	                 AFK_ECONFIG);
	assert_msg(c, "trusted_users[0]: \"a\\u0007\": control characters are "
	           "refused");
	ck_assert_int_eq(afk_config_set(c, "trusted_users",
	                 "[\"alice\", \"bob\", \"alice\"]"), AFK_ECONFIG);
	assert_msg(c, "trusted_users[2]: \"alice\" is listed twice");
	assert_get(c, "trusted_users", "[\"alice\",\"bob-1\"]");
	ck_assert_int_eq(afk_config_set(c, "trusted_users", "[]"), AFK_OK);
	assert_get(c, "trusted_users", "[]");
	afk_config_free(c);
}
END_TEST

/* --- adapters -------------------------------------------------------- */

#define SECRET_ENV "looks like a secret, not a variable name (name the environment variable that holds it)"
#define PLAIN_HTTP "plain http is refused except to a loopback address; use https"
#define SECRET_FILE "looks like a secret, not a file's path (name the file that holds it)"

static const struct bad_adapter {
	const char *key;
	const char *json;
	const char *msg;
} bad_adapters[] = {
	{"tracker", "{}", "tracker.kind: missing (known kinds: \"file\", "
	 "\"github\", \"forgejo\")"},
	{"tracker", "{\"kind\": \"gitlab\"}",
	 "tracker.kind: unknown kind \"gitlab\" (known kinds: \"file\", "
	 "\"github\", \"forgejo\")"},
	{"tracker", "{\"kind\": \"forgejo\", \"token_env\": \"T\"}",
	 "tracker.api_url: missing"},
	{"tracker", "{\"kind\": \"forgejo\", \"api_url\": "
	 "\"https://codeberg.org/api/v1\"}", "tracker: exactly one of "
	 "\"token_env\" and \"token_file\" is needed (the secret itself "
	 "never goes in the configuration)"},
	{"tracker", "{\"kind\": \"github\"}", "tracker: exactly one of "
	 "\"token_env\" and \"token_file\" is needed (the secret itself "
	 "never goes in the configuration)"},
	{"tracker", "{\"kind\": \"file\"}", "tracker.path: missing"},
	{"tracker", "{\"kind\": \"file\", \"path\": \"\"}",
	 "tracker.path: a path cannot be empty"},
	{"tracker", "{\"kind\": \"file\", \"path\": \"x\", \"token\": \"t\"}",
	 "tracker.token: unknown member of a \"file\" tracker"},
	{"agent", "{\"command\": [\"x\"]}",
	 "agent.kind: missing (known kinds: \"command\", \"t3\", "
	 "\"kubernetes\")"},
	{"agent", "{\"kind\": \"http\", \"command\": [\"x\"]}",
	 "agent.kind: unknown kind \"http\" (known kinds: \"command\", "
	 "\"t3\", \"kubernetes\")"},
	{"agent", "{\"kind\": \"t3\", \"url\": \"https://t3.example\", "
	 "\"project_id\": \"p\", \"model\": \"m\"}", "agent: exactly one "
	 "of \"token_env\" and \"token_file\" is needed (the secret itself "
	 "never goes in the configuration)"},
	{"agent", "{\"kind\": \"command\"}", "agent.command: missing"},
	{"agent", "{\"kind\": \"command\", \"command\": []}",
	 "agent.command: the command cannot be empty"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"\"]}",
	 "agent.command[0]: an argument cannot be empty"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"state_dir\": \"\"}", "agent.state_dir: a path cannot be empty"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"shell\": true}", "agent.shell: unknown member of a \"command\" "
	 "agent"},
	{"ci", "{\"command\": [\"x\"]}",
	 "ci.kind: missing (known kinds: \"command\", \"github\", "
	 "\"forgejo\")"},
	{"ci", "{\"kind\": \"gitlab\"}",
	 "ci.kind: unknown kind \"gitlab\" (known kinds: \"command\", "
	 "\"github\", \"forgejo\")"},
	{"ci", "{\"kind\": \"forgejo\", \"api_url\": \"ftp://x\", "
	 "\"token_env\": \"T\"}", "ci.api_url: expected an http or https "
	 "URL"},
	{"ci", "{\"kind\": \"forgejo\", \"api_url\": \"https://x\", "
	 "\"token_env\": \"T\", \"token\": \"x\"}",
	 "ci.token: unknown member of a \"forgejo\" ci"},
	{"ci", "{\"kind\": \"github\", \"token_env\": \"T\", \"token\": "
	 "\"x\"}", "ci.token: unknown member of a \"github\" ci"},
	{"ci", "{\"kind\": \"github\", \"token_env\": \"T\", "
	 "\"deploy_environment\": \"\"}",
	 "ci.deploy_environment: cannot be empty"},
	{"ci", "{\"kind\": \"github\", \"token_env\": \"T\", "
	 "\"deploy_environment\": 1}",
	 "ci.deploy_environment: expected a string, got a number"},
	{"ci", "{\"kind\": \"github\", \"token_env\": \"T\", "
	 "\"deploy_environment\": null}",
	 "ci.deploy_environment: expected a string, got null"},
	{"ci", "{\"kind\": \"github\", \"token_env\": \"T\", "
	 "\"deploy_environment\": \"prod\\n\"}",
	 "ci.deploy_environment: control characters are refused"},
	{"ci", "{\"kind\": \"forgejo\", \"api_url\": \"https://x\", "
	 "\"token_env\": \"T\", \"deploy_environment\": \"production\"}",
	 "ci.deploy_environment: Forgejo has no deployments to read: only a "
	 "\"github\" CI takes a deploy environment"},
	{"tracker", "{\"kind\": \"github\", \"token_env\": \"T\", "
	 "\"deploy_environment\": \"production\"}",
	 "tracker.deploy_environment: unknown member of a \"github\" "
	 "tracker"},
	{"ci", "{\"kind\": \"command\"}", "ci.command: missing"},
	{"ci", "{\"kind\": \"command\", \"command\": []}",
	 "ci.command: the command cannot be empty"},
	{"ci", "{\"kind\": \"command\", \"command\": [\"x\", \"\"]}",
	 "ci.command[1]: an argument cannot be empty"},
	{"ci", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"state_dir\": \"/s\"}",
	 "ci.state_dir: unknown member of a \"command\" ci"},
	{"notifier", "{}",
	 "notifier.kind: missing (known kinds: \"stdout\", \"file\", "
	 "\"slack\", \"command\")"},
	{"notifier", "{\"kind\": \"irc\"}", "notifier.kind: unknown kind "
	 "\"irc\" (known kinds: \"stdout\", \"file\", \"slack\", "
	 "\"command\")"},
	{"notifier", "{\"kind\": \"slack\"}", "notifier: exactly one of "
	 "\"webhook_env\" and \"webhook_file\" is needed (the secret itself "
	 "never goes in the configuration)"},
	{"notifier", "{\"kind\": \"file\"}", "notifier.path: missing"},
	{"notifier", "{\"kind\": \"file\", \"path\": \"\"}",
	 "notifier.path: a path cannot be empty"},
	{"notifier", "{\"kind\": \"stdout\", \"path\": \"x\"}",
	 "notifier.path: unknown member of a \"stdout\" notifier"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"env\": \"HOME\"}",
	 "agent.env: expected an array of strings, got a string"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"env\": [\"A\", 7]}", "agent.env[1]: expected a string, got a number"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"env\": [\"\"]}", "agent.env[0]: a variable's name cannot be empty"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"env\": [\"1X\"]}", "agent.env[0]: \"1X\" is not an environment "
	 "variable's name (letters, digits and '_', not starting with a "
	 "digit)"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"env\": [\"OK\", \"A-B\"]}", "agent.env[1]: \"A-B\" is not an "
	 "environment variable's name (letters, digits and '_', not starting "
	 "with a digit)"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"env\": [\"A=1\"]}", "agent.env[0]: \"A=1\" is not an environment "
	 "variable's name (letters, digits and '_', not starting with a "
	 "digit)"},
	{"agent", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"env\": [\"A\", \"A\"]}", "agent.env[1]: \"A\" is listed twice"},
	{"agent", "{\"kind\": \"t3\", \"url\": \"https://t3.example\", "
	 "\"token_env\": \"T\", \"project_id\": \"p\", \"model\": \"m\", "
	 "\"env\": [\"A\"]}", "agent.env: unknown member of a \"t3\" agent"},
	{"ci", "{\"kind\": \"command\", \"command\": [\"x\"], "
	 "\"env\": [\"x y\"]}", "ci.env[0]: \"x y\" is not an environment "
	 "variable's name (letters, digits and '_', not starting with a "
	 "digit)"},
	{"ci", "{\"kind\": \"github\", \"token_env\": \"T\", "
	 "\"env\": [\"A\"]}", "ci.env: unknown member of a \"github\" ci"},
	/* a credential pasted where its variable's name or file belongs:
	 * refused, never quoted */
	{"tracker", "{\"kind\": \"github\", \"token_env\": "
	 "\"ghp_L8dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeK\"}",
	 "tracker.token_env: " SECRET_ENV},
	{"ci", "{\"kind\": \"github\", \"token_env\": "
	 "\"github_pat_11ABCDEFG0abcdefghijkl\"}", "ci.token_env: " SECRET_ENV},
	{"tracker", "{\"kind\": \"forgejo\", \"api_url\": \"https://x\", "
	 "\"token_env\": \"4f9c2e1a7b3d5f6e8a9c0b1d2e3f4a5b6c7d8e9f\"}",
	 "tracker.token_env: " SECRET_ENV},
	{"agent", "{\"kind\": \"t3\", \"url\": \"https://t3.example\", "
	 "\"token_env\": \"glpat-cfBAepfJBd0Kh8oOO\", \"project_id\": "
	 "\"p\", \"model\": \"m\"}", "agent.token_env: " SECRET_ENV},
	{"agent", "{\"kind\": \"t3\", \"url\": \"https://t3.example\", "
	 "\"token_env\": \"T3_dNnFRIBXuDL7DxtpYlSXpfKt\", \"project_id\": "
	 "\"p\", \"model\": \"m\"}", "agent.token_env: " SECRET_ENV},
	{"notifier", "{\"kind\": \"slack\", \"webhook_env\": "
	 "\"https://hooks.slack.com/services/T0/B0/xyzSECRET\"}",
	 "notifier.webhook_env: " SECRET_ENV},
	{"notifier", "{\"kind\": \"slack\", \"webhook_env\": "
	 "\"xoxb-1234-abcd\"}", "notifier.webhook_env: " SECRET_ENV},
	{"notifier", "{\"kind\": \"slack\", \"webhook_file\": "
	 "\"https://hooks.slack.com/services/T0/B0/xyzSECRET\"}",
	 "notifier.webhook_file: " SECRET_FILE},
	{"tracker", "{\"kind\": \"github\", \"token_file\": "
	 "\"ghp_L8dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeK\"}",
	 "tracker.token_file: " SECRET_FILE},
	/* a URL every request would refuse: refused at load, in the HTTP
	 * layer's words */
	{"tracker", "{\"kind\": \"github\", \"api_url\": "
	 "\"http://ghe.example/api/v3\", \"token_env\": \"T\"}",
	 "tracker.api_url: " PLAIN_HTTP},
	{"tracker", "{\"kind\": \"forgejo\", \"api_url\": "
	 "\"http://codeberg.org/api/v1\", \"token_env\": \"T\"}",
	 "tracker.api_url: " PLAIN_HTTP},
	{"agent", "{\"kind\": \"t3\", \"url\": \"http://10.0.0.5:3773\", "
	 "\"token_env\": \"T\", \"project_id\": \"p\", \"model\": \"m\"}",
	 "agent.url: " PLAIN_HTTP},
	{"ci", "{\"kind\": \"github\", \"api_url\": "
	 "\"http://[::2]:8080\", \"token_env\": \"T\"}",
	 "ci.api_url: " PLAIN_HTTP},
	{"ci", "{\"kind\": \"forgejo\", \"api_url\": "
	 "\"http://localhost.example\", \"token_env\": \"T\"}",
	 "ci.api_url: " PLAIN_HTTP},
	{"ci", "{\"kind\": \"forgejo\", \"api_url\": "
	 "\"https://bot:hunter2@f.example/api/v1\", \"token_env\": \"T\"}",
	 "ci.api_url: credentials in a URL are refused (use a secret header)"},
	{"tracker", "{\"kind\": \"forgejo\", \"api_url\": "
	 "\"https://\", \"token_env\": \"T\"}",
	 "tracker.api_url: not a valid absolute URL"},
};

START_TEST(bad_adapter_is_refused)
{
	const struct bad_adapter *b = &bad_adapters[_i];
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, b->key, b->json), AFK_ECONFIG);
	assert_msg(c, b->msg);
	assert_get(c, b->key, "null");
	afk_config_free(c);
}
END_TEST

/* Plain http to a loopback address is what a test server or a local T3
 * Code speaks: accepted, whichever spelling of loopback. */
START_TEST(plain_http_to_loopback_is_accepted)
{
	static const char *const urls[] = {
		"http://127.0.0.1:8080", "http://localhost", "http://LocalHost:1",
		"http://127.1.2.3/api/v1", "http://[::1]:3773",
		"http://[::ffff:127.0.0.1]", "https://ghe.example/api/v3"
	};
	char json[256];
	afk_config *c = cfg_new();
	size_t i;

	for (i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
		snprintf(json, sizeof(json), "{\"kind\": \"forgejo\", "
		         "\"api_url\": \"%s\", \"token_env\": \"T\"}", urls[i]);
		ck_assert_msg(afk_config_set(c, "tracker", json) == AFK_OK,
		              "%s: %s", urls[i], afk_config_errmsg(c));
		snprintf(json, sizeof(json), "{\"kind\": \"t3\", \"url\": "
		         "\"%s\", \"token_env\": \"T\", \"project_id\": \"p\", "
		         "\"model\": \"m\"}", urls[i]);
		ck_assert_msg(afk_config_set(c, "agent", json) == AFK_OK,
		              "%s: %s", urls[i], afk_config_errmsg(c));
	}
	afk_config_free(c);
}
END_TEST

/* A file names the line of the URL it refuses. */
START_TEST(plain_http_is_refused_at_its_line)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\n"
	                 "  \"allowlist\": [\"acme/api\"],\n"
	                 "  \"ci\": {\n"
	                 "    \"kind\": \"github\",\n"
	                 "    \"token_env\": \"GITHUB_TOKEN\",\n"
	                 "    \"api_url\": \"http://ghe.example/api/v3\"\n"
	                 "  }\n"
	                 "}\n"), AFK_ECONFIG);
	assert_msg(c, "<string>:6: ci.api_url: " PLAIN_HTTP);
	assert_get(c, "ci", "null");
	afk_config_free(c);
}
END_TEST

/* A command's "env" reads back as it was set, and goes with the command:
 * another kind of agent or CI has none. */
START_TEST(command_env_round_trips_and_goes_with_the_kind)
{
	static const char agent[] = "{\"kind\":\"command\",\"command\":"
		"[\"/bin/agent\"],\"state_dir\":\"/s\",\"env\":"
		"[\"ANTHROPIC_API_KEY\",\"_x1\"],\"stop_grace\":10}";
	static const char ci[] = "{\"kind\":\"command\",\"command\":"
		"[\"/bin/ci\"],\"env\":[\"CI_HOME\"]}";
	afk_config *c = cfg_new();
	char *got;

	ck_assert_int_eq(afk_config_set(c, "agent", agent), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ci", ci), AFK_OK);
	assert_get(c, "agent", agent);
	assert_get(c, "ci", ci);
	got = get(c, "agent");
	ck_assert_int_eq(afk_config_set(c, "agent", got), AFK_OK);
	afk_free(got);
	assert_get(c, "agent", agent);
	ck_assert_uint_eq(LEN(c, AFK__ROLE_AGENT, "env"), 2);
	ck_assert_str_eq(AT(c, AFK__ROLE_AGENT, "env", 0), "ANTHROPIC_API_KEY");
	ck_assert_uint_eq(LEN(c, AFK__ROLE_CI, "env"), 1);
	/* no "env": none */
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"command\", "
	                 "\"command\": [\"/bin/ci\"]}"), AFK_OK);
	assert_get(c, "ci", "{\"kind\":\"command\",\"command\":"
	           "[\"/bin/ci\"]}");
	ck_assert_uint_eq(LEN(c, AFK__ROLE_CI, "env"), 0);
	ck_assert_int_eq(afk_config_set(c, "ci", ci), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "agent", "{\"kind\": \"t3\", "
	                 "\"url\": \"https://t3.example\", \"token_env\": "
	                 "\"T3_TOKEN\", \"project_id\": \"p\", \"model\": "
	                 "\"m\"}"), AFK_OK);
	ck_assert_uint_eq(LEN(c, AFK__ROLE_AGENT, "env"), 0);
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"github\", "
	                 "\"token_env\": \"GH\"}"), AFK_OK);
	ck_assert_uint_eq(LEN(c, AFK__ROLE_CI, "env"), 0);
	ck_assert_int_eq(afk_config_set(c, "ci", ci), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ci", "null"), AFK_OK);
	ck_assert_uint_eq(LEN(c, AFK__ROLE_CI, "env"), 0);
	afk_config_free(c);
}
END_TEST

/* No command is ever passed a variable the configuration reads a
 * secret from: such an "env" entry is refused at load, naming it and
 * its line, whichever key comes first; a change that adds the secret
 * later is refused at the secret.  Nothing changes either way. */
START_TEST(env_naming_a_secret_is_refused)
{
	char dir[DIR_MAX], path[PATH_MAX], want[2 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	write_file(dir, "afk.json",
	           "{\n"
	           "  \"agent\": {\"kind\": \"command\", \"command\": [\"x\"],\n"
	           "    \"env\": [\"ANTHROPIC_API_KEY\",\n"
	           "            \"GITHUB_TOKEN\"]},\n"
	           "  \"tracker\": {\"kind\": \"github\",\n"
	           "              \"token_env\": \"GITHUB_TOKEN\"}\n"
	           "}\n", path);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:4: agent.env[1]: \"GITHUB_TOKEN\" is "
	         "the tracker's token_env: a secret never goes to a command",
	         path);
	assert_msg(c, want);
	assert_get(c, "agent", "null");
	assert_get(c, "tracker", "null");

	ck_assert_int_eq(afk_config_load_string(c, "{\"notifier\": "
	                 "{\"kind\": \"slack\", \"webhook_env\": \"HOOK\"},\n"
	                 "\"ci\": {\"kind\": \"command\", \"command\": [\"x\"],"
	                 "\n\"env\": [\"HOOK\"]}}"), AFK_ECONFIG);
	assert_msg(c, "<string>:3: ci.env[0]: \"HOOK\" is the notifier's "
	           "webhook_env: a secret never goes to a command");
	assert_get(c, "notifier", "null");

	ck_assert_int_eq(afk_config_set(c, "agent", "{\"kind\": \"t3\", "
	                 "\"url\": \"https://t3.example\", \"token_env\": "
	                 "\"T3_TOKEN\", \"project_id\": \"p\", \"model\": "
	                 "\"m\"}"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"command\", "
	                 "\"command\": [\"x\"], \"env\": [\"T3_TOKEN\"]}"),
	                 AFK_ECONFIG);
	assert_msg(c, "ci.env[0]: \"T3_TOKEN\" is the agent's token_env: a "
	           "secret never goes to a command");
	assert_get(c, "ci", "null");

	/* The secret set after the "env" that names it: refused there. */
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"command\", "
	                 "\"command\": [\"x\"], \"env\": [\"MY_TOKEN\"]}"),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "tracker", "{\"kind\": \"forgejo\", "
	                 "\"api_url\": \"https://f.example/api/v1\", "
	                 "\"token_env\": \"MY_TOKEN\"}"), AFK_ECONFIG);
	assert_msg(c, "tracker.token_env: \"MY_TOKEN\" is passed to the ci "
	           "command by ci.env: a secret never goes to a command");
	assert_get(c, "tracker", "null");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

/* Names that are names are taken, however long; the refusal of one that
 * is a token names its file and line. */
START_TEST(secret_shaped_names)
{
	static const char *const names[] = {
		"GITHUB_TOKEN", "AFK_TEST_FAULTS_TOKEN", "token",
		"MY_ORG_FORGEJO_API_TOKEN_FOR_PRODUCTION_2",
		"CI_JOB_TOKEN_2024", "ghp", "GHP_TOKEN"
	};
	char dir[DIR_MAX], path[PATH_MAX], want[2 * PATH_MAX], *j;
	afk_config *c = cfg_new();
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		j = afk__aprintf("{\"kind\": \"github\", \"token_env\": "
		                 "\"%s\"}", names[i]);
		ck_assert_msg(afk_config_set(c, "tracker", j) == AFK_OK,
		              "%s: %s", names[i], afk_config_errmsg(c));
		free(j);
	}
	tmp_make(dir);
	write_file(dir, "afk.json",
	           "{\n"
	           "  \"tracker\": {\"kind\": \"github\",\n"
	           "    \"token_env\": \"ghp_L8dKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeK\"}\n"
	           "}\n", path);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:3: tracker.token_env: " SECRET_ENV,
	         path);
	assert_msg(c, want);
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

START_TEST(adapters_set_their_fields_and_null_clears)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "tracker", "{\"kind\": \"file\", "
	                 "\"path\": \"/a/i.json\"}"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "agent", "{\"kind\": \"command\", "
	                 "\"command\": [\"claude\", \"-p\"], "
	                 "\"state_dir\": \"/s\"}"), AFK_OK);
	ck_assert_str_eq(KIND(c, AFK__ROLE_TRACKER), "file");
	ck_assert_str_eq(STR(c, AFK__ROLE_TRACKER, "path"), "/a/i.json");
	ck_assert_str_eq(KIND(c, AFK__ROLE_AGENT), "command");
	ck_assert_uint_eq(LEN(c, AFK__ROLE_AGENT, "command"), 2);
	ck_assert_str_eq(AT(c, AFK__ROLE_AGENT, "command", 0), "claude");
	ck_assert_str_eq(AT(c, AFK__ROLE_AGENT, "command", 1), "-p");
	ck_assert_str_eq(STR(c, AFK__ROLE_AGENT, "state_dir"), "/s");
	ck_assert_int_eq(afk_config_set(c, "tracker", "null"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "agent", "null"), AFK_OK);
	ck_assert_ptr_null(KIND(c, AFK__ROLE_TRACKER));
	ck_assert_ptr_null(STR(c, AFK__ROLE_TRACKER, "path"));
	ck_assert_ptr_null(KIND(c, AFK__ROLE_AGENT));
	ck_assert_uint_eq(LEN(c, AFK__ROLE_AGENT, "command"), 0);
	ck_assert_ptr_null(STR(c, AFK__ROLE_AGENT, "state_dir"));
	assert_get(c, "tracker", "null");
	assert_get(c, "agent", "null");
	afk_config_free(c);
}
END_TEST

START_TEST(ci_and_notifier_set_their_fields_and_null_clears)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"command\", "
	                 "\"command\": [\"ci-status\", \"--json\"]}"), AFK_OK);
	ck_assert_str_eq(KIND(c, AFK__ROLE_CI), "command");
	ck_assert_uint_eq(LEN(c, AFK__ROLE_CI, "command"), 2);
	/* a bare name is looked up in PATH when it runs: kept as it is */
	ck_assert_str_eq(AT(c, AFK__ROLE_CI, "command", 0), "ci-status");
	ck_assert_str_eq(AT(c, AFK__ROLE_CI, "command", 1), "--json");
	ck_assert_int_eq(afk_config_set(c, "notifier",
	                 "{\"kind\": \"stdout\"}"), AFK_OK);
	ck_assert_str_eq(KIND(c, AFK__ROLE_NOTIFIER), "stdout");
	ck_assert_ptr_null(STR(c, AFK__ROLE_NOTIFIER, "path"));
	assert_get(c, "notifier", "{\"kind\":\"stdout\"}");
	ck_assert_int_eq(afk_config_set(c, "notifier", "{\"kind\": \"file\", "
	                 "\"path\": \"/var/log/n\"}"), AFK_OK);
	ck_assert_str_eq(KIND(c, AFK__ROLE_NOTIFIER), "file");
	ck_assert_str_eq(STR(c, AFK__ROLE_NOTIFIER, "path"), "/var/log/n");
	/* back to stdout: the file's path goes with its kind */
	ck_assert_int_eq(afk_config_set(c, "notifier",
	                 "{\"kind\": \"stdout\"}"), AFK_OK);
	ck_assert_ptr_null(STR(c, AFK__ROLE_NOTIFIER, "path"));
	ck_assert_int_eq(afk_config_set(c, "ci", "null"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "notifier", "null"), AFK_OK);
	ck_assert_ptr_null(KIND(c, AFK__ROLE_CI));
	ck_assert_uint_eq(LEN(c, AFK__ROLE_CI, "command"), 0);
	ck_assert_ptr_null(KIND(c, AFK__ROLE_NOTIFIER));
	ck_assert_ptr_null(STR(c, AFK__ROLE_NOTIFIER, "path"));
	assert_get(c, "ci", "null");
	assert_get(c, "notifier", "null");
	afk_config_free(c);
}
END_TEST

/* The github CI's deploy environment: stored, given back by get, kept
 * by a change of another key, dropped with its kind. */
START_TEST(github_ci_deploy_environment_round_trips)
{
	afk_config *c = cfg_new();
	const char *want = "{\"kind\":\"github\",\"api_url\":"
	                   "\"https://api.github.com\",\"token_env\":\"T\","
	                   "\"deploy_environment\":\"prod eu\"}";
	char *s;

	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"github\", "
	                 "\"token_env\": \"T\", \"deploy_environment\": "
	                 "\"prod eu\"}"), AFK_OK);
	ck_assert_str_eq(STR(c, AFK__ROLE_CI, "deploy_environment"), "prod eu");
	assert_get(c, "ci", want);
	/* what get gives, set takes back unchanged */
	s = get(c, "ci");
	ck_assert_int_eq(afk_config_set(c, "ci", s), AFK_OK);
	afk_free(s);
	assert_get(c, "ci", want);
	ck_assert_int_eq(afk_config_set(c, "ready_label", "\"go\""), AFK_OK);
	assert_get(c, "ci", want);
	ck_assert_int_eq(afk_config_load_string(c, "{\"ci\": {\"kind\": "
	                 "\"github\", \"token_env\": \"T\", "
	                 "\"deploy_environment\": \"staging\"}}"), AFK_OK);
	ck_assert_str_eq(STR(c, AFK__ROLE_CI, "deploy_environment"), "staging");
	/* absent: none, and get does not invent one */
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"github\", "
	                 "\"token_env\": \"T\"}"), AFK_OK);
	ck_assert_ptr_null(STR(c, AFK__ROLE_CI, "deploy_environment"));
	assert_get(c, "ci", "{\"kind\":\"github\",\"api_url\":"
	           "\"https://api.github.com\",\"token_env\":\"T\"}");
	/* another kind, or null, drops it */
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"github\", "
	                 "\"token_env\": \"T\", \"deploy_environment\": "
	                 "\"x\"}"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"command\", "
	                 "\"command\": [\"ci\"]}"), AFK_OK);
	ck_assert_ptr_null(STR(c, AFK__ROLE_CI, "deploy_environment"));
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"github\", "
	                 "\"token_env\": \"T\", \"deploy_environment\": "
	                 "\"x\"}"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ci", "null"), AFK_OK);
	ck_assert_ptr_null(STR(c, AFK__ROLE_CI, "deploy_environment"));
	assert_get(c, "ci", "null");
	/* a refusal keeps the one set */
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"github\", "
	                 "\"token_env\": \"T\", \"deploy_environment\": "
	                 "\"y\"}"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ci", "{\"kind\": \"github\", "
	                 "\"token_env\": \"T\", \"deploy_environment\": "
	                 "\"\"}"), AFK_ECONFIG);
	ck_assert_str_eq(STR(c, AFK__ROLE_CI, "deploy_environment"), "y");
	afk_config_free(c);
}
END_TEST

/* --- the HTTP layer's settings --------------------------------------- */

static const struct http_case {
	const char *json;
	const char *msg;     /* NULL: accepted */
} http_cases[] = {
	{"{\"per_host\": 1, \"max_pages\": 1000, \"rate_reserve\": 0}", NULL},
	{"{\"max_body\": 268435456, \"connect_timeout\": 600, "
	 "\"timeout\": 3600}", NULL},
	{"[]", "http: expected an object, got an array"},
	{"null", "http: expected an object, got null"},
	{"{\"per_host\": 0}", "http.per_host: 0 is out of range (1 to 64)"},
	{"{\"per_host\": 65}", "http.per_host: 65 is out of range (1 to 64)"},
	{"{\"connect_timeout\": 601}",
	 "http.connect_timeout: 601 is out of range (1 to 600)"},
	{"{\"timeout\": 0}", "http.timeout: 0 is out of range (1 to 3600)"},
	{"{\"timeout\": \"30\"}",
	 "http.timeout: expected an integer, got a string"},
	{"{\"max_body\": 1023}",
	 "http.max_body: 1023 is out of range (1024 to 268435456)"},
	{"{\"max_body\": 268435457}",
	 "http.max_body: 268435457 is out of range (1024 to 268435456)"},
	{"{\"max_pages\": 0}", "http.max_pages: 0 is out of range (1 to 1000)"},
	{"{\"max_pages\": 2.5}",
	 "http.max_pages: expected an integer, got a number"},
	{"{\"rate_reserve\": -1}",
	 "http.rate_reserve: -1 is out of range (0 to 1000000)"},
	{"{\"etag_cache\": \"\"}", "http.etag_cache: a path cannot be empty"},
	{"{\"etag_cache\": 5}",
	 "http.etag_cache: expected a string, got a number"},
	{"{\"retries\": 1}", "http.retries: unknown member of http"},
	{"{\"etag_cache_read_only\": true}", NULL},
	{"{\"etag_cache_read_only\": 1}",
	 "http.etag_cache_read_only: expected a boolean, got a number"},
};

/* key's value json is refused with msg, by afk_config_set() and, on line
 * 3 of a file, by afk_config_load_string(), and neither changes anything
 * of before. */
static void assert_refused_twice(afk_config *c, const snapshot *before,
                                 const char *key, const char *json,
                                 const char *msg)
{
	char file[256], want[512];

	ck_assert_int_eq(afk_config_set(c, key, json), AFK_ECONFIG);
	assert_msg(c, msg);
	snap_check(c, before);
	snprintf(file, sizeof(file), "{\n\"deploy_stage\": true,\n"
	         "\"%s\": %s\n}", key, json);
	snprintf(want, sizeof(want), "<string>:3: %s", msg);
	ck_assert_int_eq(afk_config_load_string(c, file), AFK_ECONFIG);
	assert_msg(c, want);
	snap_check(c, before);
}

START_TEST(http_settings_are_checked)
{
	const struct http_case *h = &http_cases[_i];
	afk_config *c = cfg_new();
	snapshot before;

	snap_take(c, &before);
	if (h->msg == NULL) {
		ck_assert_msg(afk_config_set(c, "http", h->json) == AFK_OK,
		              "%s", afk_config_errmsg(c));
	} else {
		assert_refused_twice(c, &before, "http", h->json, h->msg);
	}
	snap_free(&before);
	afk_config_free(c);
}
END_TEST

/* --- the cost budget ------------------------------------------------ */

static const struct budget_case {
	const char *json;
	const char *msg;     /* NULL: accepted */
	long long tokens, micro; /* when accepted */
} budget_cases[] = {
	{"{}", NULL, 0, 0},
	{"{\"tokens\": 1}", NULL, 1, 0},
	{"{\"tokens\": 1000000000000}", NULL, 1000000000000LL, 0},
	{"{\"cost_usd\": 1000000}", NULL, 0, 1000000000000LL},
	{"{\"cost_usd\": 0.000001, \"tokens\": null}", NULL, 0, 1},
	{"{\"tokens\": 20000, \"cost_usd\": 1.42}", NULL, 20000, 1420000},
	{"{\"tokens\": null, \"cost_usd\": null}", NULL, 0, 0},
	{"[]", "budget: expected an object, got an array", 0, 0},
	{"5", "budget: expected an object, got a number", 0, 0},
	{"{\"tokens\": 0}",
	 "budget.tokens: 0 is out of range (1 to 1000000000000)", 0, 0},
	{"{\"tokens\": 1000000000001}", "budget.tokens: 1000000000001 is out "
	 "of range (1 to 1000000000000)", 0, 0},
	{"{\"tokens\": 1.5}",
	 "budget.tokens: expected an integer, got a number", 0, 0},
	{"{\"tokens\": \"5\"}",
	 "budget.tokens: expected an integer, got a string", 0, 0},
	{"{\"cost_usd\": 0}",
	 "budget.cost_usd: 0 is out of range (above 0, up to 1000000)", 0, 0},
	{"{\"cost_usd\": -2.5}",
	 "budget.cost_usd: -2.5 is out of range (above 0, up to 1000000)", 0, 0},
	{"{\"cost_usd\": 1000000.5}", "budget.cost_usd: 1000000.5 is out of "
	 "range (above 0, up to 1000000)", 0, 0},
	{"{\"cost_usd\": 1e-9}",
	 "budget.cost_usd: 1e-09 is below a millionth of a dollar", 0, 0},
	{"{\"cost_usd\": \"1\"}",
	 "budget.cost_usd: expected a number, got a string", 0, 0},
	{"{\"dollars\": 1}", "budget.dollars: unknown member of budget", 0, 0},
};

START_TEST(budget_is_checked)
{
	const struct budget_case *b = &budget_cases[_i];
	afk_config *c = cfg_new();
	snapshot before;

	snap_take(c, &before);
	if (b->msg == NULL) {
		ck_assert_msg(afk_config_set(c, "budget", b->json) == AFK_OK,
		              "%s", afk_config_errmsg(c));
		ck_assert(c->budget_tokens == b->tokens);
		ck_assert(c->budget_cost_microusd == b->micro);
	} else {
		assert_refused_twice(c, &before, "budget", b->json, b->msg);
	}
	snap_free(&before);
	afk_config_free(c);
}
END_TEST

/* A refused member is named at its own line in a file. */
START_TEST(budget_is_refused_at_its_line)
{
	char dir[DIR_MAX], path[PATH_MAX], want[2 * PATH_MAX];
	afk_config *c = cfg_new();

	tmp_make(dir);
	write_file(dir, "afk.json", "{\n  \"budget\": {\n    \"tokens\": 100,"
	           "\n    \"cost_usd\": -1\n  }\n}\n", path);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_ECONFIG);
	snprintf(want, sizeof(want), "%s:4: budget.cost_usd: -1 is out of "
	         "range (above 0, up to 1000000)", path);
	assert_msg(c, want);
	ck_assert(c->budget_tokens == 0);
	write_file(dir, "afk.json", "{\"budget\": {\"tokens\": 100, "
	           "\"cost_usd\": 0.25}}", path);
	ck_assert_int_eq(afk_config_load_file(c, path), AFK_OK);
	ck_assert(c->budget_tokens == 100 && c->budget_cost_microusd == 250000);
	assert_get(c, "budget", "{\"tokens\":100,\"cost_usd\":0.25}");
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

/* The object is taken whole: what it leaves out is the default, and a
 * relative cache path is taken from the file's directory. */
START_TEST(http_settings_reach_the_fields)
{
	char dir[DIR_MAX], path[PATH_MAX], want[2 * PATH_MAX];
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "http", "{}"), AFK_OK);
	assert_get(c, "http", HTTP_DEFAULT);
	ck_assert_int_eq(afk_config_set(c, "http", "{\"per_host\": 8, "
	                 "\"max_body\": 4096}"), AFK_OK);
	ck_assert_int_eq(c->http_per_host, 8);
	ck_assert(c->http_max_body == 4096);
	ck_assert_int_eq(c->http_max_pages, 10);
	ck_assert_ptr_null(c->http_etag_cache);
	ck_assert_int_eq(afk_config_set(c, "http", "{\"timeout\": 5}"),
	                 AFK_OK);
	ck_assert_int_eq(c->http_per_host, 4);
	ck_assert_int_eq(c->http_timeout, 5);
	ck_assert(c->http_max_body == 8388608);

	tmp_make(dir);
	write_file(dir, "afk.json", "{\"http\": {\"etag_cache\": "
	           "\"state/etags.json\", \"rate_reserve\": 100}}", path);
	ck_assert_msg(afk_config_load_file(c, path) == AFK_OK, "%s",
	              afk_config_errmsg(c));
	snprintf(want, sizeof(want), "%s/state/etags.json", dir);
	ck_assert_str_eq(c->http_etag_cache, want);
	ck_assert_int_eq(c->http_rate_reserve, 100);
	ck_assert_int_eq(c->http_timeout, 30);
	ck_assert_int_eq(afk_config_set(c, "http", "{\"etag_cache\": null}"),
	                 AFK_OK);
	ck_assert_ptr_null(c->http_etag_cache);
	afk_config_free(c);
	tmp_remove(dir);
}
END_TEST

/* --- the lifecycle's numbers ----------------------------------------- */

static const struct range_case {
	const char *key;
	const char *json;
	const char *msg;     /* NULL: accepted */
} range_cases[] = {
	{"fix_forward_budget", "0", NULL},
	{"fix_forward_budget", "100", NULL},
	{"fix_forward_budget", "101",
	 "fix_forward_budget: 101 is out of range (0 to 100)"},
	{"fix_forward_budget", "-1",
	 "fix_forward_budget: -1 is out of range (0 to 100)"},
	{"max_in_flight", "1", NULL},
	{"max_in_flight", "100000", NULL},
	{"max_in_flight", "null", NULL},
	{"max_in_flight", "0",
	 "max_in_flight: 0 is out of range (1 to 100000)"},
	{"max_in_flight", "100001",
	 "max_in_flight: 100001 is out of range (1 to 100000)"},
	{"stall_timeout", "1", NULL},
	{"stall_timeout", "31536000", NULL},
	{"stall_timeout", "0",
	 "stall_timeout: 0 is out of range (1 to 31536000)"},
	{"ci_timeout", "31536001",
	 "ci_timeout: 31536001 is out of range (1 to 31536000)"},
	{"deploy_timeout", "-3600",
	 "deploy_timeout: -3600 is out of range (1 to 31536000)"},
	{"deploy_timeout", "9223372036854775807",
	 "deploy_timeout: 9223372036854775807 is out of range (1 to 31536000)"},
	{"deploy_stage", "true", NULL},
	{"deploy_stage", "false", NULL},
};

START_TEST(lifecycle_numbers_are_range_checked)
{
	const struct range_case *r = &range_cases[_i];
	afk_config *c = cfg_new();
	char json[256], want[512];
	snapshot before;

	snap_take(c, &before);
	if (r->msg == NULL) {
		ck_assert_msg(afk_config_set(c, r->key, r->json) == AFK_OK,
		              "%s: %s", r->key, afk_config_errmsg(c));
		assert_get(c, r->key, r->json);
	} else {
		ck_assert_int_eq(afk_config_set(c, r->key, r->json),
		                 AFK_ECONFIG);
		assert_msg(c, r->msg);
		snap_check(c, &before);
		/* the same from a file, with the line */
		snprintf(json, sizeof(json), "{\n\"deploy_stage\": true,\n"
		         "\"%s\": %s\n}", r->key, r->json);
		snprintf(want, sizeof(want), "<string>:3: %s", r->msg);
		ck_assert_int_eq(afk_config_load_string(c, json), AFK_ECONFIG);
		assert_msg(c, want);
		snap_check(c, &before);
	}
	snap_free(&before);
	afk_config_free(c);
}
END_TEST

START_TEST(lifecycle_numbers_reach_the_fields)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c, "{\"fix_forward_budget\": 0,"
	                 " \"deploy_stage\": true, \"stall_timeout\": 10,"
	                 " \"ci_timeout\": 20, \"deploy_timeout\": 30}"),
	                 AFK_OK);
	ck_assert_int_eq(c->fix_forward_budget, 0);
	ck_assert_int_eq(c->deploy_stage, 1);
	ck_assert(c->stall_timeout == 10);
	ck_assert(c->ci_timeout == 20);
	ck_assert(c->deploy_timeout == 30);
	/* absent keys keep what an earlier load set */
	ck_assert_int_eq(afk_config_load_string(c, "{\"ci_timeout\": 21}"),
	                 AFK_OK);
	ck_assert_int_eq(c->fix_forward_budget, 0);
	ck_assert(c->stall_timeout == 10 && c->ci_timeout == 21);
	afk_config_free(c);
}
END_TEST

/* --- the environment ------------------------------------------------- */

static const struct env_bool {
	const char *value;
	const char *kill_switch;
} env_bools[] = {
	{"1", "true"}, {"true", "true"}, {"TRUE", "true"}, {"On", "true"},
	{"yes", "true"}, {"0", "false"}, {"false", "false"},
	{"False", "false"}, {"OFF", "false"}, {"no", "false"},
};

START_TEST(env_kill_switch_words)
{
	afk_config *c = cfg_new();
	const char *flip = strcmp(env_bools[_i].kill_switch, "true") == 0 ?
	                   "false" : "true";

	env_clear();
	ck_assert_int_eq(afk_config_set(c, "kill_switch", flip), AFK_OK);
	setenv("AFK_KILL_SWITCH", env_bools[_i].value, 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "kill_switch", env_bools[_i].kill_switch);
	env_clear();
	afk_config_free(c);
}
END_TEST

START_TEST(env_bad_kill_switch_is_refused)
{
	afk_config *c = cfg_new();

	env_clear();
	setenv("AFK_KILL_SWITCH", "maybe", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_ECONFIG);
	assert_msg(c, "AFK_KILL_SWITCH: \"maybe\" is not a boolean "
	           "(use 1/0, true/false, on/off)");
	setenv("AFK_KILL_SWITCH", "", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_ECONFIG);
	setenv("AFK_KILL_SWITCH", " 0", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_ECONFIG);
	assert_get(c, "kill_switch", "true");
	env_clear();
	afk_config_free(c);
}
END_TEST

/* --- an allowlist entry without an owner ---------------------------- */

#define GITHUB_TRACKER "{\"kind\": \"github\", \"token_env\": \"T\"}"
#define FORGEJO_CI "{\"kind\": \"forgejo\", \"api_url\": " \
	"\"https://f.example/api/v1\", \"token_env\": \"T\"}"

/* The github and forgejo adapters address "owner/name": a bare name is
 * refused whichever of the two keys comes last, blaming the one the
 * change set. */
START_TEST(ownerless_entry_is_refused_for_a_forge)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_set(c, "allowlist",
	                 "[\"acme/api\", \"web\"]"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "tracker", GITHUB_TRACKER),
	                 AFK_ECONFIG);
	assert_msg(c, "tracker.kind: the github tracker needs \"owner/name\" "
	           "repositories, and allowlist[1] \"web\" has no owner");
	assert_get(c, "tracker", "null");
	ck_assert_int_eq(afk_config_set(c, "ci", FORGEJO_CI), AFK_ECONFIG);
	assert_msg(c, "ci.kind: the forgejo ci needs \"owner/name\" "
	           "repositories, and allowlist[1] \"web\" has no owner");
	assert_get(c, "ci", "null");

	ck_assert_int_eq(afk_config_set(c, "allowlist", "[\"acme/api\"]"),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "tracker", GITHUB_TRACKER), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "allowlist",
	                 "[\"acme/api\", \"web\"]"), AFK_ECONFIG);
	assert_msg(c, "allowlist[1]: \"web\" has no owner (the github "
	           "tracker needs \"owner/name\")");
	assert_get(c, "allowlist", "[\"acme/api\"]");
	afk_config_free(c);
}
END_TEST

/* In a file the entry is blamed at its line, whichever comes first. */
START_TEST(ownerless_entry_is_refused_at_its_line)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\n"
	                 "  \"allowlist\": [\n"
	                 "    \"acme/api\",\n"
	                 "    \"api\"\n"
	                 "  ],\n"
	                 "  \"tracker\": {\"kind\": \"forgejo\",\n"
	                 "    \"api_url\": \"https://f.example/api/v1\",\n"
	                 "    \"token_env\": \"T\"}\n"
	                 "}\n"), AFK_ECONFIG);
	assert_msg(c, "<string>:4: allowlist[1]: \"api\" has no owner (the "
	           "forgejo tracker needs \"owner/name\")");
	assert_get(c, "allowlist", "[]");
	assert_get(c, "tracker", "null");
	afk_config_free(c);
}
END_TEST

/* The file tracker matches names as they are: a bare one is its own. */
START_TEST(ownerless_entry_is_kept_for_the_file_tracker)
{
	afk_config *c = cfg_new();

	ck_assert_int_eq(afk_config_load_string(c,
	                 "{\"allowlist\": [\"infra\", \"acme/api\"],\n"
	                 " \"tracker\": {\"kind\": \"file\", \"path\": \"/i\"},\n"
	                 " \"ci\": {\"kind\": \"command\", \"command\": "
	                 "[\"/c\"]}}"), AFK_OK);
	assert_get(c, "allowlist", "[\"infra\",\"acme/api\"]");
	/* and the forge can go once the file tracker replaces it */
	ck_assert_int_eq(afk_config_set(c, "allowlist", "[\"acme/api\"]"),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "tracker", GITHUB_TRACKER), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "tracker", "{\"kind\": \"file\", "
	                 "\"path\": \"/i\"}"), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "allowlist", "[\"infra\"]"),
	                 AFK_OK);
	afk_config_free(c);
}
END_TEST

/* AFK_ALLOWLIST is held to the same rule, and leaves the list as it was
 * when it breaks it. */
START_TEST(env_ownerless_entry_is_refused_for_a_forge)
{
	afk_config *c = cfg_new();

	env_clear();
	ck_assert_int_eq(afk_config_set(c, "allowlist", "[\"acme/api\"]"),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ci", FORGEJO_CI), AFK_OK);
	setenv("AFK_ALLOWLIST", "acme/api, infra", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_ECONFIG);
	assert_msg(c, "AFK_ALLOWLIST: \"infra\" has no owner (the forgejo ci "
	           "needs \"owner/name\")");
	assert_get(c, "allowlist", "[\"acme/api\"]");
	setenv("AFK_ALLOWLIST", "acme/api, acme/infra", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "allowlist", "[\"acme/api\",\"acme/infra\"]");
	env_clear();
	afk_config_free(c);
}
END_TEST

START_TEST(env_allowlist_is_split_and_trimmed)
{
	afk_config *c = cfg_new();

	env_clear();
	setenv("AFK_ALLOWLIST", " infra ,acme/api,\tx.y ", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "allowlist", "[\"infra\",\"acme/api\",\"x.y\"]");
	setenv("AFK_ALLOWLIST", "solo", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "allowlist", "[\"solo\"]");
	setenv("AFK_ALLOWLIST", "", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "allowlist", "[]");
	ck_assert_int_eq(afk_config_set(c, "allowlist", "[\"a\"]"), AFK_OK);
	setenv("AFK_ALLOWLIST", "  ", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "allowlist", "[]");
	env_clear();
	afk_config_free(c);
}
END_TEST

static const struct env_bad_list {
	const char *value;
	const char *msg;
} env_bad_lists[] = {
	{"infra,org/*", "AFK_ALLOWLIST: \"org/*\" is not a repository name: "
	 "wildcards and patterns are refused"},
	{"a,,b", "AFK_ALLOWLIST: \"\" is not a repository name: it is empty"},
	{"a,b,", "AFK_ALLOWLIST: \"\" is not a repository name: it is empty"},
	{"a b", "AFK_ALLOWLIST: \"a b\" is not a repository name: whitespace "
	 "is refused"},
	{"a/b/c", "AFK_ALLOWLIST: \"a/b/c\" is not a repository name: more "
	 "than one '/'"},
	{"x, x", "AFK_ALLOWLIST: \"x\" is listed twice"},
};

START_TEST(env_bad_allowlist_is_refused_atomically)
{
	afk_config *c = cfg_new();

	env_clear();
	ck_assert_int_eq(afk_config_set(c, "allowlist", "[\"keep\"]"), AFK_OK);
	setenv("AFK_KILL_SWITCH", "off", 1);
	setenv("AFK_ALLOWLIST", env_bad_lists[_i].value, 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_ECONFIG);
	assert_msg(c, env_bad_lists[_i].msg);
	assert_get(c, "kill_switch", "true");
	assert_get(c, "allowlist", "[\"keep\"]");
	env_clear();
	afk_config_free(c);
}
END_TEST

START_TEST(env_unset_changes_nothing)
{
	afk_config *c = cfg_new();
	snapshot before;

	env_clear();
	ck_assert_int_eq(afk_config_load_string(c, "{\"kill_switch\": false, "
	                 "\"allowlist\": [\"a\"]}"), AFK_OK);
	snap_take(c, &before);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	snap_check(c, &before);
	snap_free(&before);
	afk_config_free(c);
}
END_TEST

/* The state directory's default comes from the environment, in this
 * order, and only when none was set: systemd's, XDG's, $HOME's. */
START_TEST(env_gives_the_state_dir)
{
	afk_config *c;

	env_clear();
	c = cfg_new();
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "state_dir", "null");
	setenv("HOME", "relative/home", 1);    /* not absolute: ignored */
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "state_dir", "null");
	setenv("HOME", "/home/op", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "state_dir", "\"/home/op/.local/state/afk\"");
	afk_config_free(c);

	c = cfg_new();
	setenv("XDG_STATE_HOME", "/x/state", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "state_dir", "\"/x/state/afk\"");
	afk_config_free(c);

	c = cfg_new();
	setenv("STATE_DIRECTORY", "/var/lib/afk:/var/lib/other", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "state_dir", "\"/var/lib/afk\"");
	/* a set one is kept: the environment gives only the default */
	ck_assert_int_eq(afk_config_set(c, "state_dir", "\"/srv/afk\""),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	assert_get(c, "state_dir", "\"/srv/afk\"");
	ck_assert_int_eq(afk_config_set(c, "state_dir", "\"\""),
	                 AFK_ECONFIG);
	ck_assert_int_eq(afk_config_set(c, "state_dir", "7"), AFK_ECONFIG);
	assert_get(c, "state_dir", "\"/srv/afk\"");
	/* metrics_file stays null: the host's default follows state_dir */
	assert_get(c, "metrics_file", "null");
	ck_assert_int_eq(afk_config_set(c, "metrics_file", "\"\""),
	                 AFK_ECONFIG);
	ck_assert_int_eq(afk_config_set(c, "metrics_file", "false"),
	                 AFK_ECONFIG);
	assert_get(c, "metrics_file", "null");
	afk_config_free(c);
	env_clear();
}
END_TEST

START_TEST(env_arms_and_disarms)
{
	afk_config *c = cfg_new();

	env_clear();
	setenv("AFK_KILL_SWITCH", "0", 1);
	setenv("AFK_ALLOWLIST", "acme/api", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	ck_assert_int_eq(afk_config_armed(c), 1);
	unsetenv("AFK_ALLOWLIST");
	setenv("AFK_KILL_SWITCH", "on", 1);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	ck_assert_int_eq(afk_config_armed(c), 0);
	assert_get(c, "allowlist", "[\"acme/api\"]");
	env_clear();
	afk_config_free(c);
}
END_TEST

/* --- lib/core/jsonpos.c --------------------------------------------------- */

#define K(k) {(k), 0}
#define I(i) {NULL, (i)}

static const struct pos_case {
	const char *text;
	afk__jsonpos_step path[3];
	size_t n;
	size_t line;
} pos_cases[] = {
	{"{}", {K("a")}, 0, 1},
	{"\n\n  {}", {K("a")}, 0, 3},
	{"{\"a\": 1,\n \"b\": 2}", {K("b")}, 1, 2},
	{"{\"a\": 1,\n \"b\": 2}", {K("c")}, 1, 1},
	{"{\"a\": \"x\\\"}{\\n\",\n \"b\": 2}", {K("b")}, 1, 2},
	{"{\"a\": {\"b\": [1,\n{\"c\": \"]\"}]},\n \"b\": 2}", {K("b")}, 1, 3},
	{"{\"list\": [\n 1,\n [2, 3],\n {\"x\": [\n]},\n 5]}",
	 {K("list"), I(3)}, 2, 6},
	{"{\"list\": [\n 1,\n 2]}", {K("list"), I(7)}, 2, 1},
	{"{\"t\":\n {\"k\":\n \"v\"}}", {K("t"), K("k")}, 2, 2},
	{"{\"t\":\n {\"k\":\n \"v\"}}", {K("t"), K("z")}, 2, 1},
	{"{\"a\\u0062\": 1,\n\"ab\": 2}", {K("ab")}, 1, 1},
	{"{\"x\": 1,\n\"\\ud83d\\ude00\": 2}", {K("\xf0\x9f\x98\x80")}, 1, 2},
	{"{\"x\": 1,\r\n\"y\": 2}", {K("y")}, 1, 2},
	{"{\"a\": [1, 2", {K("a"), I(5)}, 2, 1},
	{"{\"a\": \"unterminated", {K("b")}, 1, 1},
	{"[\n1,\n{\"k\": true}]", {I(1), K("k")}, 2, 3},
};

START_TEST(jsonpos_finds_lines)
{
	const struct pos_case *t = &pos_cases[_i];

	ck_assert_uint_eq(afk__jsonpos_line(t->text, t->path, t->n), t->line);
}
END_TEST

/* The \u0000 key must not match "k"; the second member is the hit. */
START_TEST(jsonpos_skips_past_a_decoded_nul)
{
	afk__jsonpos_step path[] = {K("k")};

	ck_assert_uint_eq(afk__jsonpos_line("{\"k\\u0000\": 1,\n\"k\": 2}",
	                  path, 1), 2);
}
END_TEST

#define LOOP(tc, fn, table) \
	tcase_add_loop_test(tc, fn, 0, (int)(sizeof(table) / sizeof(*table)))

/* --- the log (afk_config_set_log()) ------------------------------------ */

#define LOG_MAGIC 0x106106

/* A fake log: counts its lines and its destroys, keeps the last line,
 * and checks the userdata it is called with. */
typedef struct fake_log {
	int magic;
	int lines;
	int destroyed;
	int level;
	char event[64];
	char message[1200];
} fake_log;

static void fake_log_fn(int level, const char *event, const char *message,
                        void *userdata)
{
	fake_log *f = userdata;

	ck_assert_int_eq(f->magic, LOG_MAGIC);
	f->lines++;
	f->level = level;
	snprintf(f->event, sizeof(f->event), "%s", event);
	snprintf(f->message, sizeof(f->message), "%s", message);
}

static void fake_log_destroy(void *userdata)
{
	fake_log *f = userdata;

	ck_assert_int_eq(f->magic, LOG_MAGIC);
	f->destroyed++;
}

START_TEST(log_gets_the_disarmed_notice_naming_the_gates)
{
	fake_log f = {LOG_MAGIC, 0, 0, 0, "", ""};
	afk_config *c;

	ck_assert_int_eq(afk_config_new(&c), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_NOTICE, &f,
	                                    fake_log_destroy), AFK_OK);
	afk__log_disarmed(c);
	ck_assert_int_eq(f.lines, 1);
	ck_assert_int_eq(f.level, AFK_LOG_NOTICE);
	ck_assert_str_eq(f.event, "tick.disarmed");
	ck_assert_str_eq(f.message, "the kill switch is on (kill_switch, "
	                 "AFK_KILL_SWITCH); the allowlist is empty (allowlist, "
	                 "AFK_ALLOWLIST)");
	ck_assert_int_eq(afk_config_set(c, "kill_switch", "false"), AFK_OK);
	afk__log_disarmed(c);
	ck_assert_str_eq(f.message, "the allowlist is empty (allowlist, "
	                 "AFK_ALLOWLIST)");
	ck_assert_int_eq(afk_config_load_string(c, "{\"kill_switch\": true, "
	                 "\"allowlist\": [\"infra\"]}"), AFK_OK);
	afk__log_disarmed(c);
	ck_assert_int_eq(f.lines, 3);
	ck_assert_str_eq(f.message, "the kill switch is on (kill_switch, "
	                 "AFK_KILL_SWITCH)");
	ck_assert_int_eq(f.destroyed, 0);
	afk_config_free(c);
	ck_assert_int_eq(f.destroyed, 1);
}
END_TEST

START_TEST(log_stays_with_the_handle_through_every_change)
{
	fake_log f = {LOG_MAGIC, 0, 0, 0, "", ""};
	afk_config *c;

	ck_assert_int_eq(afk_config_new(&c), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_DEBUG, &f,
	                                    fake_log_destroy), AFK_OK);
	/* changes made on an aside copy, a refused one, an environment */
	ck_assert_int_eq(afk_config_set(c, "ready_label", "\"go\""), AFK_OK);
	ck_assert_int_eq(afk_config_set(c, "ready_label", "7"), AFK_ECONFIG);
	ck_assert_int_eq(afk_config_load_string(c, "{\"stall_timeout\": 60}"),
	                 AFK_OK);
	ck_assert_int_eq(afk_config_apply_env(c), AFK_OK);
	ck_assert_int_eq(f.destroyed, 0);
	afk__logf(c->log, AFK_LOG_DEBUG, "test.event", "n=%d", 42);
	ck_assert_int_eq(f.lines, 1);
	ck_assert_int_eq(f.level, AFK_LOG_DEBUG);
	ck_assert_str_eq(f.event, "test.event");
	ck_assert_str_eq(f.message, "n=42");
	afk_config_free(c);
	ck_assert_int_eq(f.destroyed, 1);
}
END_TEST

START_TEST(log_max_level_filters)
{
	fake_log f = {LOG_MAGIC, 0, 0, 0, "", ""};
	afk_config *c;
	int lvl;

	ck_assert_int_eq(afk_config_new(&c), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_WARNING,
	                                    &f, NULL), AFK_OK);
	for (lvl = AFK_LOG_ERROR; lvl <= AFK_LOG_DEBUG; lvl++)
		afk__logf(c->log, lvl, "test.level", "%d", lvl);
	ck_assert_int_eq(f.lines, 2);
	ck_assert_int_eq(f.level, AFK_LOG_WARNING);
	ck_assert(!afk__log_wants(c->log, AFK_LOG_NOTICE));
	ck_assert(afk__log_wants(c->log, AFK_LOG_ERROR));
	/* the same function and userdata again: only the level changes */
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_ERROR,
	                                    &f, NULL), AFK_OK);
	afk__log_disarmed(c);
	ck_assert_int_eq(f.lines, 2);
	afk_config_free(c);
	ck_assert_int_eq(f.destroyed, 0);     /* no destroy was given */
}
END_TEST

START_TEST(log_destroy_runs_on_replace_once)
{
	fake_log a = {LOG_MAGIC, 0, 0, 0, "", ""};
	fake_log b = {LOG_MAGIC, 0, 0, 0, "", ""};
	afk_config *c;

	ck_assert_int_eq(afk_config_new(&c), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_NOTICE, &a,
	                                    fake_log_destroy), AFK_OK);
	/* the same again changes nothing and destroys nothing */
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_DEBUG, &a,
	                                    fake_log_destroy), AFK_OK);
	ck_assert_int_eq(a.destroyed, 0);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_NOTICE, &b,
	                                    fake_log_destroy), AFK_OK);
	ck_assert_int_eq(a.destroyed, 1);
	afk__log_disarmed(c);
	ck_assert_int_eq(a.lines, 0);
	ck_assert_int_eq(b.lines, 1);
	/* removing it: b's destroy runs, and the one given with no
	 * function at once (nothing will use it) */
	ck_assert_int_eq(afk_config_set_log(c, NULL, AFK_LOG_NOTICE, &a,
	                                    fake_log_destroy), AFK_OK);
	ck_assert_int_eq(b.destroyed, 1);
	ck_assert_int_eq(a.destroyed, 2);
	afk__log_disarmed(c);
	ck_assert_int_eq(b.lines, 1);
	afk_config_free(c);
	ck_assert_int_eq(a.destroyed, 2);
	ck_assert_int_eq(b.destroyed, 1);
}
END_TEST

START_TEST(log_refuses_bad_arguments_and_keeps_the_old_one)
{
	fake_log f = {LOG_MAGIC, 0, 0, 0, "", ""};
	fake_log g = {LOG_MAGIC, 0, 0, 0, "", ""};
	afk_config *c;

	ck_assert_int_eq(afk_config_set_log(NULL, fake_log_fn, AFK_LOG_NOTICE,
	                                    &g, fake_log_destroy), AFK_EINVAL);
	ck_assert_int_eq(afk_config_new(&c), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_NOTICE, &f,
	                                    fake_log_destroy), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, -1, &g,
	                                    fake_log_destroy), AFK_EINVAL);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_DEBUG + 1,
	                                    &g, fake_log_destroy), AFK_EINVAL);
	ck_assert_int_eq(g.destroyed, 0);
	ck_assert_int_eq(f.destroyed, 0);
	afk__log_disarmed(c);
	ck_assert_int_eq(f.lines, 1);
	afk_config_free(c);
	ck_assert_int_eq(f.destroyed, 1);
}
END_TEST

/* What a built-in does with the log (its HTTP handle takes a
 * reference): the host's userdata lives until the last holder lets go,
 * after the configuration is freed. */
START_TEST(log_outlives_the_config_while_held)
{
	fake_log f = {LOG_MAGIC, 0, 0, 0, "", ""};
	afk__log *held;
	afk_config *c;

	ck_assert_int_eq(afk_config_new(&c), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_NOTICE, &f,
	                                    fake_log_destroy), AFK_OK);
	held = afk__log_ref(c->log);
	afk_config_free(c);
	ck_assert_int_eq(f.destroyed, 0);
	afk__logf(held, AFK_LOG_WARNING, "test.held", "still here");
	ck_assert_int_eq(f.lines, 1);
	afk__log_unref(held);
	ck_assert_int_eq(f.destroyed, 1);
}
END_TEST

START_TEST(log_message_is_one_line)
{
	fake_log f = {LOG_MAGIC, 0, 0, 0, "", ""};
	char big[1100];
	afk_config *c;

	ck_assert_int_eq(afk_config_new(&c), AFK_OK);
	ck_assert_int_eq(afk_config_set_log(c, fake_log_fn, AFK_LOG_DEBUG, &f,
	                                    NULL), AFK_OK);
	afk__logf(c->log, AFK_LOG_INFO, "test.lines", "a\nb\r\tc");
	ck_assert_str_eq(f.message, "a b  c");
	/* cut to 1023 bytes, never inside a UTF-8 sequence */
	memset(big, 'x', sizeof(big));
	memcpy(big + 1021, "\xc3\xa9", 2);   /* bytes 1021-1022: complete */
	big[1023] = '\0';
	afk__log_str(c->log, AFK_LOG_INFO, "test.cut", big);
	ck_assert_uint_eq(strlen(f.message), 1023);
	memcpy(big + 1021, "x\xc3\xa9", 3);  /* bytes 1022-1023: split */
	big[1024] = '\0';
	afk__log_str(c->log, AFK_LOG_INFO, "test.cut", big);
	ck_assert_uint_eq(strlen(f.message), 1022);
	afk_config_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, fresh_config_fails_closed);
	tcase_add_test(tc, kill_switch_off_alone_is_not_armed);
	tcase_add_test(tc, allowlist_alone_is_not_armed);
	tcase_add_test(tc, both_gates_arm);
	tcase_add_test(tc, keys_are_enumerated_in_order);
	tcase_add_test(tc, every_key_round_trips_its_default);
	tcase_add_test(tc, every_key_round_trips_a_value);
	tcase_add_test(tc, unknown_key_is_refused_by_set_and_get);
	tcase_add_test(tc, null_arguments_are_einval);
	LOOP(tc, bad_allowlist_entry_is_refused_naming_key_and_value,
	     bad_repos);
	LOOP(tc, bad_repo_is_refused_by_check_repo, bad_repos);
	tcase_add_test(tc, good_repos_pass_and_keep_their_order);
	tcase_add_test(tc, duplicate_allowlist_entry_is_refused);
	tcase_add_test(tc, long_value_is_cut_in_the_message);
	LOOP(tc, wrong_type_is_refused_by_set, bad_types);
	LOOP(tc, wrong_type_is_refused_by_load_with_line, bad_types);
	tcase_add_test(tc, unknown_key_is_refused_with_its_line);
	tcase_add_test(tc, file_error_names_path_and_line);
	tcase_add_test(tc, secret_shaped_names);
	tcase_add_test(tc, lines_survive_tricky_strings);
	tcase_add_test(tc, line_of_an_escaped_key);
	tcase_add_test(tc, line_of_a_nested_array_element);
	tcase_add_test(tc, line_of_a_missing_member_is_its_parent);
	tcase_add_test(tc, invalid_json_reports_line_and_column);
	tcase_add_test(tc, duplicate_json_keys_are_refused);
	tcase_add_test(tc, top_level_must_be_an_object);
	tcase_add_test(tc, set_reports_invalid_json);
	tcase_add_test(tc, absent_keys_keep_their_values);
	tcase_add_test(tc, missing_file_is_eio_naming_it);
	tcase_add_test(tc, command_env_round_trips_and_goes_with_the_kind);
	tcase_add_test(tc, env_naming_a_secret_is_refused);
	tcase_add_test(tc, fifo_is_refused_not_waited_on);
	tcase_add_test(tc, refusals_leave_the_config_unchanged);
	tcase_add_test(tc, file_paths_are_taken_from_the_files_directory);
	tcase_add_test(tc, relative_config_path_is_made_absolute);
	tcase_add_test(tc, string_and_set_paths_are_taken_from_the_cwd);
	tcase_add_test(tc, absolute_paths_are_kept);
	tcase_add_test(tc, preamble_file_is_read_when_set);
	tcase_add_test(tc, missing_preamble_names_path_and_error);
	tcase_add_test(tc, bad_preamble_files_are_refused);
	tcase_add_test(tc, labels_must_differ);
	tcase_add_test(tc, labels_may_be_swapped_in_one_load);
	LOOP(tc, bad_label_is_refused, bad_labels);
	tcase_add_test(tc, good_labels_pass);
	tcase_add_test(tc, trusted_users_are_checked);
	tcase_add_test(tc, plain_http_to_loopback_is_accepted);
	tcase_add_test(tc, plain_http_is_refused_at_its_line);
	tcase_add_test(tc, ownerless_entry_is_refused_for_a_forge);
	tcase_add_test(tc, ownerless_entry_is_refused_at_its_line);
	tcase_add_test(tc, ownerless_entry_is_kept_for_the_file_tracker);
	tcase_add_test(tc, env_ownerless_entry_is_refused_for_a_forge);
	LOOP(tc, bad_adapter_is_refused, bad_adapters);
	tcase_add_test(tc, adapters_set_their_fields_and_null_clears);
	tcase_add_test(tc, ci_and_notifier_set_their_fields_and_null_clears);
	tcase_add_test(tc, github_ci_deploy_environment_round_trips);
	LOOP(tc, lifecycle_numbers_are_range_checked, range_cases);
	tcase_add_test(tc, lifecycle_numbers_reach_the_fields);
	LOOP(tc, http_settings_are_checked, http_cases);
	LOOP(tc, budget_is_checked, budget_cases);
	tcase_add_test(tc, budget_is_refused_at_its_line);
	tcase_add_test(tc, http_settings_reach_the_fields);
	LOOP(tc, env_kill_switch_words, env_bools);
	tcase_add_test(tc, env_bad_kill_switch_is_refused);
	tcase_add_test(tc, env_allowlist_is_split_and_trimmed);
	LOOP(tc, env_bad_allowlist_is_refused_atomically, env_bad_lists);
	tcase_add_test(tc, env_unset_changes_nothing);
	tcase_add_test(tc, env_gives_the_state_dir);
	tcase_add_test(tc, env_arms_and_disarms);
	LOOP(tc, jsonpos_finds_lines, pos_cases);
	tcase_add_test(tc, jsonpos_skips_past_a_decoded_nul);
	tcase_add_test(tc, log_gets_the_disarmed_notice_naming_the_gates);
	tcase_add_test(tc, log_stays_with_the_handle_through_every_change);
	tcase_add_test(tc, log_max_level_filters);
	tcase_add_test(tc, log_destroy_runs_on_replace_once);
	tcase_add_test(tc, log_refuses_bad_arguments_and_keeps_the_old_one);
	tcase_add_test(tc, log_outlives_the_config_while_held);
	tcase_add_test(tc, log_message_is_one_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
