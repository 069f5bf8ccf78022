/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fault/loop.h - run one area of kvtier with its Nth resource
 * acquisition failing, for N = 1, 2, ... until N passes the last call the
 * area makes (inject.h), each N in a forked child so a crash, a hang or a
 * leak is that N's alone.
 *
 * Per N the child runs setup() unarmed (open, store the data that must
 * survive), armed() with the fault armed, then verify() unarmed (the data
 * stored before is still readable, byte for byte; everything is closed),
 * then LeakSanitizer's check over the whole process, and the counts of
 * open fds and threads against theirs before setup().  The parent counts
 * the points; a child that dies of a signal, fails a check, reports a
 * sanitizer error or leaks fails the case, naming N and the call that
 * failed.
 *
 * The case's process stays single-threaded (servers it starts are other
 * processes), so every fork is of a single thread.
 */
#ifndef KVT_TESTS_FAULT_LOOP_H
#define KVT_TESTS_FAULT_LOOP_H

#include <stdbool.h>

#include "tests/fault/inject.h"

struct fault_area {
	const char *name;
	enum fault_mode mode;
	/* kvtier.h promises armed()'s calls allocate nothing: its run must
	 * reach no wrapped call (else at least one must be reached) */
	bool allocates_nothing;
	void *ctx;
	void (*setup)(void *ctx);
	/* Return: what the API returned: >= 0, or a negative errno. */
	long (*armed)(void *ctx);
	/* @rc: armed()'s return; @fired: whether the fault was hit. */
	void (*verify)(void *ctx, long rc, bool fired);
};

struct fault_tally {
	long points;          /* values of N run */
	long errors;          /* of those, armed() returned a negative errno */
	long calls;           /* wrapped calls of the run that reached no fault */
	long crashes, leaks, wrong;  /* leaks: of memory, fds or threads */
};

/*
 * fault_loop() - run @a for every N (at most KVT_FAULT_MAX_POINTS, default
 * 100000), print one summary line, fail the case (harness_fail) if any N
 * crashed, leaked or failed a check.
 */
void fault_loop(const struct fault_area *a, struct fault_tally *t);

/* True when @rc is a result or a negative errno kvt_strerror() names. */
bool fault_rc_ok(long rc);

#endif /* KVT_TESTS_FAULT_LOOP_H */
