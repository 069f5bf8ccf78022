/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fault/loop.c - the fork-per-N driver of loop.h.
 */
#define _GNU_SOURCE
#include "tests/fault/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvtier.h"
#include "tests/common/harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define POINT_TIMEOUT_S 60
#define THREAD_SETTLE_MS 1000

struct point_report {
	long rc;
	long calls;
	int fired;
	int leaked;          /* memory, by LeakSanitizer */
	int fds, threads;    /* more than before setup() */
	char what[40];
};

bool fault_rc_ok(long rc)
{
	return rc >= 0 || (rc > -4096 && strncmp(kvt_strerror((int)rc), "Unknown", 7));
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		p += n;
		len -= (size_t)n;
	}
}

/* In the child: one N.  Never returns; _exit() skips the atexit handlers
 * the case's process registered (they kill the case's servers). */
static void run_point(const struct fault_area *a, long nth, int fd)
{
	struct point_report r;
	const char *what;

	int fds0, threads0;

	harness_child_begin();
	memset(&r, 0, sizeof(r));
	alarm(POINT_TIMEOUT_S);
	fds0 = harness_count_fds();
	threads0 = harness_count_threads();
	if (a->setup)
		a->setup(a->ctx);
	fault_arm(nth, a->mode);
	r.rc = a->armed(a->ctx);
	r.calls = fault_disarm(&what);
	r.fired = what != NULL;
	if (what)
		snprintf(r.what, sizeof(r.what), "%s", what);
	if (!what && r.rc < 0) {
		fprintf(stderr, "    N=%ld: no fault reached, yet it returned %s\n", nth,
			kvt_strerror((int)r.rc));
		_exit(1);
	}
	if (!fault_rc_ok(r.rc)) {
		fprintf(stderr, "    N=%ld (%s): returned %ld, not an errno\n", nth,
			what ? what : "not fired", r.rc);
		_exit(1);
	}
	if (a->verify)
		a->verify(a->ctx, r.rc, r.fired);
	r.fds = harness_count_fds() - fds0;
	/* a joined thread can stay in /proc/self/task a moment after its join
	 * returned (the kernel clears its tid before it is reaped): a leak is
	 * a thread still there after THREAD_SETTLE_MS */
	for (int ms = 0; (r.threads = harness_count_threads() - threads0) > 0 &&
			 ms < THREAD_SETTLE_MS; ms++)
		usleep(1000);
#ifdef HAVE_LSAN
	r.leaked = __lsan_do_recoverable_leak_check() != 0;
#endif
	write_all(fd, &r, sizeof(r));
	fflush(NULL);
	_exit(0);
}

static int read_report(int fd, struct point_report *r)
{
	size_t got = 0;

	while (got < sizeof(*r)) {
		ssize_t n = read(fd, (char *)r + got, sizeof(*r) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* How many points failed each kind of call, for the summary line. */
struct by_what {
	char what[8][40];
	long n[8];
};

static void count_what(struct by_what *b, const char *what)
{
	for (int i = 0; i < 8; i++) {
		if (!b->what[i][0])
			snprintf(b->what[i], sizeof(b->what[i]), "%s", what);
		if (!strcmp(b->what[i], what)) {
			b->n[i]++;
			return;
		}
	}
}

static void print_what(const struct by_what *b)
{
	for (int i = 0; i < 8 && b->what[i][0]; i++)
		printf("%s%s %ld", i ? ", " : " (", b->what[i], b->n[i]);
	if (b->what[0][0])
		printf(")");
}

void fault_loop(const struct fault_area *a, struct fault_tally *t)
{
	struct by_what by = { 0 };
	const char *env = getenv("KVT_FAULT_MAX_POINTS");
	long max = env ? atol(env) : 100000;
	struct timespec t0, t1, last;

	memset(t, 0, sizeof(*t));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	last = t0;
	/* a few failures say enough, and a failing N reports no count to stop at */
	for (long nth = 1; nth <= max && t->crashes + t->leaks + t->wrong < 3; nth++) {
		struct point_report r;
		int fds[2], status, have;
		pid_t pid;

		if (pipe(fds))
			harness_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			harness_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
		if (pid == 0) {
			close(fds[0]);
			run_point(a, nth, fds[1]);
		}
		close(fds[1]);
		have = read_report(fds[0], &r) == 0;
		close(fds[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		t->points++;
		if (WIFSIGNALED(status)) {
			t->crashes++;
			fprintf(stderr, "    fault %s: N=%ld: signal %d%s\n", a->name, nth,
				WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
			continue;
		}
		if (!have || WEXITSTATUS(status)) {
			t->wrong++;
			fprintf(stderr, "    fault %s: N=%ld: exit %d\n", a->name, nth,
				WEXITSTATUS(status));
			continue;
		}
		if (r.leaked || r.fds || r.threads) {
			t->leaks++;
			fprintf(stderr, "    fault %s: N=%ld (%s): leaked%s, %d fds, %d threads\n",
				a->name, nth, r.what, r.leaked ? " memory" : "", r.fds, r.threads);
		}
		if (r.rc < 0)
			t->errors++;
		if (r.fired)
			count_what(&by, r.what);
		if (!r.fired) {
			t->calls = r.calls;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - last.tv_sec >= 10) {
			printf("    fault %s: N=%ld ...\n", a->name, nth);
			fflush(stdout);
			last = t1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("    fault %s%s: %ld failure points", a->name,
	       a->mode == FAULT_PERSIST ? " (persistent)" : "", t->points - 1);
	print_what(&by);
	printf(", %ld calls; %ld returned an error; %ld crashes, %ld leaks, %ld wrong, %.1f s\n",
	       t->calls, t->errors, t->crashes, t->leaks, t->wrong,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	fflush(stdout);
	if (t->crashes || t->leaks || t->wrong)
		harness_fail(__FILE__, __LINE__, "fault %s: %ld crashes, %ld leaks, %ld wrong", a->name,
			     t->crashes, t->leaks, t->wrong);
	if (a->allocates_nothing && t->calls)
		harness_fail(__FILE__, __LINE__, "fault %s: allocates nothing, yet made %ld calls",
			     a->name, t->calls);
	if (!a->allocates_nothing && t->points == 1 && !t->calls)
		harness_fail(__FILE__, __LINE__, "fault %s: no wrapped call reached", a->name);
}
