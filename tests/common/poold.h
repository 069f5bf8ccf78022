/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/poold.h - real kvtier-poold processes for the pool tier's
 * tests: each on a free loopback port, with its resource-manager socket in
 * the case's temp directory and a /dev/shm pool file it removes at exit.
 * The binary is build/<variant>/kvtier-poold beside the test binary
 * (build/asan/kvtier-poold for the tsan variant, see poold.c).
 * Every daemon a process starts is killed (SIGKILL, by PID) when that
 * process exits, and when it dies of a signal (PR_SET_PDEATHSIG), so a
 * failed or timed-out case leaves nothing behind.
 *
 * A small blocking client (a fresh DEALER per call, 5 s timeouts) lets a
 * test look behind the adapter: the daemon's counters, where a key lives,
 * and a mapping of any region (GET_FD).
 */
#ifndef KVT_TESTS_POOLD_H
#define KVT_TESTS_POOLD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/maru/maru_rm.h"
#include "kvtier.h"

struct poold {
	pid_t pid;           /* 0: not running */
	int port;
	char addr[64];       /* tcp://127.0.0.1:<port> */
	char rm[200];        /* the RM socket */
	char log[220];       /* its stderr */
};

/* The daemon binary of this build, or NULL when it is not built. */
const char *poold_path(void);

/* Start @exe instead of poold_path()'s in later poold_start() calls (the
 * fault-injection build of the daemon); NULL goes back to it. */
void poold_use(const char *exe);

/*
 * poold_start() - start a daemon with a @pool_size pool ("64M") and extra
 * arguments @args (space separated, may be NULL), wait until it prints
 * "ready" (at most 20 s).  Return: 0, or -1 after printing why.
 */
int poold_start(struct poold *d, const char *pool_size, const char *args);

/* SIGKILL and reap; nothing if not running. */
void poold_kill(struct poold *d);

/* SIGTERM, reap.  Return: its exit status, or -1 if it did not exit
 * cleanly (a signal, a sanitizer report in its log). */
int poold_stop(struct poold *d);

/* GET_STATS member @section.@name (e.g. "kv_manager", "total_pins").
 * Return: 0 or -1. */
int poold_stat(const struct poold *d, const char *section, const char *name, uint64_t *out);

/* LOOKUP_KV of @key as the pool adapter names it.  Return: 1 found (fills
 * @h, @off, @len), 0 absent, -1 error. */
int poold_lookup(const struct poold *d, const struct kvt_key *key, struct maru_handle *h,
		 uint64_t *off, uint64_t *len);

/* GET_FD and mmap (shared, read-write) of region @h; NULL on error.
 * munmap(p, h->length) when done. */
void *poold_map(const struct poold *d, const struct maru_handle *h);

#endif /* KVT_TESTS_POOLD_H */
