/*
 * man/kinds.c - writes afk.json(5) from man/afk.json.5.in on stdin: the
 * line "@BUILTIN_KINDS@" becomes the list of the built-in kinds and
 * their members, read from the registry (lib/builtin/registry.c), which
 * reads them from each built-in's own declaration.  So a new built-in's
 * keys are in the man page without an edit to it.  Built and run at
 * build time, never installed.
 */
#include <stdio.h>
#include <string.h>

#include "builtin/builtin.h"

#define MARKER "@BUILTIN_KINDS@"

/* Writes s for roff, its first letter capitalised (a doc line starts a
 * sentence here): a backslash as \e, a line-leading '.' or '\'' guarded,
 * '"' as \(dq, '-' as \-. */
static void roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	if (*s >= 'a' && *s <= 'z')
		putchar(*s++ - 'a' + 'A');
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '"')
			fputs("\\(dq", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

/* What a member of type t holds, in words. */
static void type_words(const afk__member *mb)
{
	switch (mb->type) {
	case AFK__M_STRING:
		fputs("A non\\-empty string without control characters", stdout);
		break;
	case AFK__M_PATH:
		fputs("A path, relative to the configuration file", stdout);
		break;
	case AFK__M_URL:
		fputs("An http or https URL (plain http to a loopback address "
		      "only)", stdout);
		break;
	case AFK__M_COMMAND:
		fputs("A non\\-empty array of non\\-empty strings, the program "
		      "and its arguments", stdout);
		break;
	case AFK__M_VARS:
		fputs("An array of distinct environment variable names, none "
		      "naming a secret", stdout);
		break;
	case AFK__M_LOGINS:
		fputs("A non\\-empty array of distinct logins", stdout);
		break;
	case AFK__M_SECRET:
		printf("Exactly one of \\fB%s_env\\fR (the name of the "
		       "environment variable that holds it) and \\fB%s_file\\fR "
		       "(a path); see \\fBSECRETS\\fR", mb->name, mb->name);
		break;
	case AFK__M_INT:
		printf("An integer, %lld to %lld", mb->lo, mb->hi);
		break;
	case AFK__M_BOOL:
		fputs("A boolean", stdout);
		break;
	case AFK__M_JSON:
		fputs("A JSON value of the shape below", stdout);
		break;
	case AFK__M_REFUSED:
		fputs("Refused", stdout);
		break;
	}
}

static void member(const afk__member *mb)
{
	puts(".TP");
	if (mb->type == AFK__M_SECRET)
		printf(".BR %s_env \" or \" %s_file\n", mb->name, mb->name);
	else
		printf(".B %s\n", mb->name);
	type_words(mb);
	if (mb->flags & AFK__M_REQUIRED)
		fputs("; required", stdout);
	else if (mb->dflt != NULL) {
		fputs("; default ", stdout);
		roff(mb->dflt);
	} else if (mb->type != AFK__M_REFUSED)
		fputs("; optional", stdout);
	puts(".");
	roff(mb->doc);
	puts(".");
}

static void kinds(void)
{
	const afk__kind *k;
	const afk__member *mb;
	size_t r, i;

	for (r = 0; r < AFK__ROLE_COUNT; r++) {
		for (i = 0; (k = afk__registry_kind((afk__role)r, i)) != NULL;
		     i++) {
			printf(".SS \"%s: {\\(dqkind\\(dq: \\(dq%s\\(dq}\"\n",
			       afk__role_key((afk__role)r), k->name);
			roff(k->doc);
			puts(".");
			if (k->flags & AFK__K_OWNER_REPOS)
				puts("Every allowlist entry needs an owner "
				     "(\\(dqowner/name\\(dq).");
			if (k->members[0].name == NULL) {
				puts("No other member.");
				continue;
			}
			for (mb = k->members; mb->name != NULL; mb++)
				member(mb);
		}
	}
}

int main(void)
{
	char line[4096];
	int seen = 0;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strncmp(line, MARKER, strlen(MARKER)) == 0) {
			kinds();
			seen = 1;
		} else {
			fputs(line, stdout);
		}
	}
	if (!seen) {
		fprintf(stderr, "kinds: no %s line in the input\n", MARKER);
		return 1;
	}
	return fflush(stdout) != 0 || ferror(stdin);
}
