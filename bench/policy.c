/*
 * bench/policy.c - how fast is dispatch selection?
 *
 * Times the whole selection of the poll tick - allowlist mapping, lock
 * derivation, the gates, one pick per repository, allowlist order - over
 * 1k, 10k, 100k and 1M issues spread over 1k allowlisted repositories,
 * and prints nanoseconds per issue (the median of repeated runs, and the
 * best).  Ingestion - copying the tracker's issues into the set, which
 * interns repositories and labels - is timed apart, as it happens once
 * per listed issue whatever the policy.
 *
 * Target (issue #2): 100k issues in at most 2 ms, linear growth.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/issue.h"
#include "core/policy.h"

#define NREPO 1000

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Makes n issues over NREPO repositories, as a tracker would hand them
 * over.  A third of the repositories are locked: their first issue
 * carries the in-progress label. */
static afk_issue **make_issues(size_t n, char names[][24])
{
	afk_issue **v = malloc(n * sizeof(*v));
	unsigned char seen[NREPO] = {0};
	unsigned x = 2463534242u;
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		unsigned repo;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		repo = x % NREPO;
		if (afk_issue_new(&v[i], names[repo], (long)i + 1) ||
		    afk_issue_add_label(v[i], "ready-for-agent")) {
			fprintf(stderr, "bench: out of memory\n");
			exit(1);
		}
		if (repo % 3 == 0 && !seen[repo])
			afk_issue_add_label(v[i], "agent-in-progress");
		seen[repo] = 1;
		afk_issue_set_priority(v[i], (int)((x >> 12) % 10));
		afk_issue_set_trusted(v[i], (x >> 16) % 10 != 0);
		if ((x >> 20) % 20 == 0)
			afk_issue_add_blocker(v[i], 1);
	}
	return v;
}

/* Copies the issues into set, as afk_call_add_issue() does; returns
 * ns per issue. */
static double ingest(afk__iset *set, afk_issue **v, size_t n)
{
	double t0 = now_ns();
	size_t i;

	for (i = 0; i < n; i++) {
		if (afk__iset_add(set, v[i])) {
			fprintf(stderr, "bench: out of memory\n");
			exit(1);
		}
	}
	return (now_ns() - t0) / (double)n;
}

int main(void)
{
	static const size_t sizes[] = {1000, 10000, 100000, 1000000};
	static char names[NREPO][24];
	const char *allow[NREPO];
	size_t s, i;

	for (i = 0; i < NREPO; i++) {
		snprintf(names[i], sizeof(names[i]), "org/repo-%04zu", i);
		allow[i] = names[i];
	}
	printf("policy selection, %d allowlisted repositories\n", NREPO);
	printf("%10s %8s %12s %12s %12s %10s %14s\n", "issues", "runs",
	       "median ms", "median ns/i", "best ns/i", "picks",
	       "ingest ns/i");
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		int runs = n <= 10000 ? 501 : n <= 100000 ? 101 : 21;
		double *t = malloc((size_t)runs * sizeof(*t));
		double ingest_ns;
		afk_issue **v = make_issues(n, names);
		afk__iset set;
		afk__selection sel;
		size_t picks = 0;
		int r;

		memset(&set, 0, sizeof(set));
		if (v == NULL || t == NULL) {
			fprintf(stderr, "bench: out of memory\n");
			return 1;
		}
		ingest_ns = ingest(&set, v, n);
		for (r = 0; r < runs; r++) {
			double t0 = now_ns();

			if (afk__selection_run(&sel, &set, allow, NREPO,
			                       "agent-in-progress")) {
				fprintf(stderr, "bench: out of memory\n");
				return 1;
			}
			t[r] = now_ns() - t0;
			picks = sel.out.npicks;
			afk__selection_clear(&sel);
		}
		qsort(t, (size_t)runs, sizeof(*t), cmp_double);
		printf("%10zu %8d %12.3f %12.2f %12.2f %10zu %14.1f\n", n, runs,
		       t[runs / 2] / 1e6, t[runs / 2] / (double)n,
		       t[0] / (double)n, picks, ingest_ns);
		for (i = 0; i < n; i++)
			afk_issue_free(v[i]);
		free(v);
		free(t);
		afk__iset_clear(&set);
	}
	return 0;
}
