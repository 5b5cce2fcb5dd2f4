/*
 * lib/builtin/slack.c - the "slack" notifier: one message per
 * notification to a Slack incoming webhook, over the HTTP layer
 * (lib/net/http.h).
 *
 * Slack's contract for incoming webhooks: POST {"text": ...} as JSON;
 * 200 with the body "ok" on success; 429 with Retry-After when the
 * webhook is rate limited; a 4xx whose body is one word saying why
 * ("invalid_payload", "no_service", "channel_not_found",
 * "channel_is_archived", "action_prohibited", ...), which no retry will
 * change; 5xx when Slack itself failed.
 *
 * The webhook's URL is the credential: it comes from the environment or
 * a file named in the configuration, the HTTP layer knows it as a secret,
 * and every message this file writes is redacted with it once more.  A
 * failed notification fails the call; the watch tick keeps the
 * notification pending and tries again on its next run.
 */
#define _POSIX_C_SOURCE 200809L

#include "builtin/builtin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "net/http.h"
#include "net/redact.h"

#define WORD_MAX 64            /* bytes of Slack's word quoted */

struct slack_notifier {
	afk__http *http;
	char *url;                 /* the webhook: a secret */
	char *path;                /* its path: a secret */
	char *last;                /* its last segment, the token: a secret */
};

static void slack_free(void *userdata)
{
	struct slack_notifier *sn = userdata;

	if (sn == NULL)
		return;
	afk__http_free(sn->http);
	afk__free_secret(sn->url);
	afk__free_secret(sn->path);
	afk__free_secret(sn->last);
	free(sn);
}

/* Every form of the webhook, for afk__redact(). */
static void list_secrets(const struct slack_notifier *sn,
                         const char *secrets[4])
{
	secrets[0] = sn->url;
	secrets[1] = sn->path;
	secrets[2] = sn->last;
	secrets[3] = NULL;
}

/* Fails call with code and the message fmt makes, redacted with the
 * webhook once more (Slack's answer is quoted in it). */
static int fail(afk_call *call, const struct slack_notifier *sn, int code,
                const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
static int fail(afk_call *call, const struct slack_notifier *sn, int code,
                const char *fmt, ...)
{
	const char *secrets[4];
	char msg[AFK__ERRMSG_SIZE];
	va_list ap;

	list_secrets(sn, secrets);
	va_start(ap, fmt);
	afk__redact_vformat(msg, sizeof(msg), secrets, fmt, ap);
	va_end(ap);
	afk_call_set_error(call, msg);
	return code;
}

static int is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* Slack's one-word answer at the start of body (letters, digits, '_'),
 * redacted whole and only then cut to WORD_MAX bytes (a cut first could
 * split the webhook's token and show its start), in word; "" when there
 * is none. */
static void slack_word(const struct slack_notifier *sn, const char *body,
                       char *word)
{
	const char *secrets[4];
	size_t n = 0;
	char *w, *r;

	list_secrets(sn, secrets);
	while (body != NULL && is_word_char(body[n]))
		n++;
	w = malloc(n + 1);
	if (w == NULL) {
		word[0] = '\0';
		return;
	}
	memcpy(w, body != NULL ? body : "", n);
	w[n] = '\0';
	r = afk__redact_dup(w, secrets);
	afk__free_secret(w);
	n = r != NULL ? strlen(r) : 0;
	if (n > WORD_MAX)
		n = WORD_MAX;
	memcpy(word, r != NULL ? r : "", n);
	word[n] = '\0';
	free(r);
}

/* The message's text: message and link on one line, control characters
 * made spaces.  A heap string, or NULL. */
static char *make_text(const char *message, const char *link)
{
	char *text = afk__aprintf("%s%s%s", message, link[0] ? " " : "", link);
	char *p;

	for (p = text; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = ' ';
	return text;
}

/* Judges a failed request: the code and message the call fails with. */
static int judge(afk_call *call, const struct slack_notifier *sn,
                 const afk__http_req *r)
{
	char word[WORD_MAX + 1], when[32];
	long long wait;
	time_t at;
	struct tm tm;

	if (r->fail == AFK__HTTP_ERATELIMIT || r->fail == AFK__HTTP_ERESERVE) {
		wait = r->retry_at - (long long)time(NULL);
		at = (time_t)r->retry_at;
		gmtime_r(&at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		return fail(call, sn, AFK_EIO, "Slack webhook: rate limited; "
		            "retry after %lld s (at %s); the notification stays "
		            "pending", wait > 0 ? wait : 1, when);
	}
	if (r->fail == AFK__HTTP_ESTATUS && r->status >= 400 &&
	    r->status < 500) {
		slack_word(sn, r->data, word);
		return fail(call, sn, AFK_ECONFIG, "Slack webhook refused the "
		            "notification: \"%s\" (HTTP %ld); a permanent error: "
		            "check the webhook and its channel", word, r->status);
	}
	if (r->fail == AFK__HTTP_ESTATUS && r->status >= 500)
		return fail(call, sn, AFK_EIO, "Slack webhook: server error "
		            "(HTTP %ld); the notification stays pending",
		            r->status);
	return fail(call, sn, r->rc != AFK_OK ? r->rc : AFK_EIO, "%s",
	            r->errmsg);
}

static int slack_notify(afk_call *call, const char *repo, long number,
                        const char *message, const char *link,
                        void *userdata)
{
	struct slack_notifier *sn = userdata;
	afk__http_req r;
	char *text, *body;
	json_t *o;
	int rc;

	(void)repo;   /* the message names the issue already */
	(void)number;
	if (message == NULL)
		return AFK_EINVAL;
	text = make_text(message, link != NULL ? link : "");
	if (text == NULL)
		return AFK_ENOMEM;
	o = json_pack("{s:s}", "text", text);
	free(text);
	if (o == NULL)
		return afk__call_failf(call, AFK_EINVAL, "Slack: the message is "
		            "not valid UTF-8");
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (body == NULL)
		return AFK_ENOMEM;
	memset(&r, 0, sizeof(r));
	r.what = "Slack notification";
	r.method = "POST";
	r.url = sn->url;
	r.json = body;
	rc = afk__http_run(sn->http, &r, 1);
	if (rc != AFK_OK)
		rc = judge(call, sn, &r);
	afk__http_req_clear(&r);
	free(body);
	return rc;
}

/* The path of url (from the first '/' after "scheme://host"), or "". */
static char *url_path(const char *url)
{
	const char *p = strstr(url, "://");

	p = strchr(p != NULL ? p + 3 : url, '/');
	return afk__strdup(p != NULL && p[1] != '\0' ? p : "");
}

/* The last segment of path ("" for none): a server that quotes only the
 * token part of /services/T.../B.../<token> must not show it either. */
static char *last_segment(const char *path)
{
	const char *p = strrchr(path, '/');

	return afk__strdup(p != NULL ? p + 1 : "");
}

/* Hands every form of the webhook to the HTTP layer as a secret. */
static int add_secrets(struct slack_notifier *sn)
{
	sn->path = url_path(sn->url);
	sn->last = sn->path != NULL ? last_segment(sn->path) : NULL;
	/* A short one would blank ordinary words out of every message. */
	if (sn->last != NULL && strlen(sn->last) < 8)
		sn->last[0] = '\0';
	if (sn->path == NULL || sn->last == NULL ||
	    afk__http_add_secret(sn->http, sn->url) != AFK_OK ||
	    (sn->path[0] != '\0' &&
	     afk__http_add_secret(sn->http, sn->path) != AFK_OK) ||
	    (sn->last[0] != '\0' &&
	     afk__http_add_secret(sn->http, sn->last) != AFK_OK))
		return AFK_ENOMEM;
	return AFK_OK;
}

/* The userdata is handed to the notifier, which owns it from then on. */
static int slack_setup(afk_notifier *notifier, const afk_config *cfg,
                       char *errbuf)
{
	struct slack_notifier *sn;
	const char *why = NULL;
	char *what = NULL;
	int rc;

	sn = calloc(1, sizeof(*sn));
	if (sn == NULL) {
		afk__errf(errbuf, "notifier: out of memory");
		return AFK_ENOMEM;
	}
	rc = afk__setup_secret(cfg, AFK__ROLE_NOTIFIER, "webhook",
	                       "notifier (slack)", &sn->url, &what, errbuf);
	/* What every post would refuse is refused now, never quoted: the
	 * webhook's URL is the secret. */
	if (rc == AFK_OK && strncmp(sn->url, "https://", 8) != 0 &&
	    strncmp(sn->url, "http://", 7) != 0)
		why = "not an https URL";
	else if (rc == AFK_OK)
		why = afk__url_check(sn->url);
	if (why != NULL) {
		if (why[0] == '\0')
			afk__errf(errbuf, "notifier: out of memory");
		else
			afk__errf(errbuf, "%s: the webhook: %s", what, why);
		rc = why[0] == '\0' ? AFK_ENOMEM : AFK_ECONFIG;
	}
	free(what);
	if (rc == AFK_OK)
		rc = afk__setup_http(cfg, "notifier (slack)", &sn->http, errbuf);
	if (rc == AFK_OK && add_secrets(sn) != AFK_OK) {
		afk__errf(errbuf, "notifier: out of memory");
		rc = AFK_ENOMEM;
	}
	if (rc != AFK_OK) {
		slack_free(sn);
		return rc;
	}
	rc = afk_notifier_set_userdata(notifier, sn, slack_free);
	if (rc != AFK_OK) {
		slack_free(sn);
		afk__errf(errbuf, "notifier: cannot set userdata: %s",
		          afk_strerror(rc));
		return rc;
	}
	rc = afk_notifier_set_notify(notifier, slack_notify);
	/* A webhook has no read-only endpoint: no probe, so that
	 * afk_notifier_probe() says AFK_ENOTSUP. */
	if (rc == AFK_OK)
		rc = afk_notifier_set_probe(notifier, NULL);
	if (rc != AFK_OK)
		afk__errf(errbuf, "notifier: cannot register notify: %s",
		          afk_strerror(rc));
	return rc;
}

static const afk__member slack_members[] = {
	{"webhook", AFK__M_SECRET, AFK__M_REQUIRED, NULL, 0, 0, NULL,
	 "where the incoming webhook's URL, a secret, is read from"},
	{NULL, AFK__M_STRING, 0, NULL, 0, 0, NULL, NULL}
};

const afk__builtin afk__builtin_slack_notifier = {
	{"slack", AFK__ROLE_NOTIFIER, 0, slack_members,
	 "a Slack incoming webhook"},
	{.notifier = slack_setup}
};
