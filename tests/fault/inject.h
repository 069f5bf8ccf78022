/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fault/inject.h - fail the Nth resource acquisition, as SQLite's
 * malloc-failure tests do.
 *
 * The fault-injection programs are linked with -Wl,--wrap for every call
 * through which kvtier acquires memory, threads or kernel objects
 * (FAULT_WRAPS in configure.py: malloc, calloc, realloc, posix_memalign,
 * jemalloc's mallocx and rallocx (release builds), strdup, mmap, eventfd,
 * io_uring setup, pthread_create, liburcu hash tables and call_rcu threads,
 * libyaml parsers, hiredis connections and commands, ZeroMQ contexts and
 * sockets).  Only the objects of that link are
 * wrapped: libkvtier.a, the daemon's objects, the test's own; the shared
 * libraries' internal calls are not.  While armed, every wrapped call from
 * any thread is counted, and the Nth fails the way the real call fails when
 * out of memory (NULL/-1 with ENOMEM, EAGAIN for threads).
 *
 * A program whose environment holds KVT_FAULT_NTH=N[:persist] is armed from
 * its first call (kvtier-poold-fault), and reports on stderr at exit
 * whether the fault fired ("fault: fired at call N (what)" or
 * "fault: not reached (M calls)").
 */
#ifndef KVT_TESTS_FAULT_INJECT_H
#define KVT_TESTS_FAULT_INJECT_H

#include <stdbool.h>

enum fault_mode {
	FAULT_ONCE,     /* only the Nth call fails: a transient shortage */
	FAULT_PERSIST,  /* the Nth and every later call fail: no memory left */
};

/* Arm: count wrapped calls from now on, fail the @nth (1-based). */
void fault_arm(long nth, enum fault_mode mode);

/*
 * fault_disarm() - stop failing calls.
 * @what: set to the name of the call that failed, or NULL.
 * Return: the number of wrapped calls counted since fault_arm().
 */
long fault_disarm(const char **what);

/* True between fault_arm() and fault_disarm() once the Nth call failed. */
bool fault_fired(void);

#endif /* KVT_TESTS_FAULT_INJECT_H */
