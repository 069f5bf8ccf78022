/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/procs_child.c - an engine process of --tier pool:
 * one stress_run() of main.c on its slot of the shared memory.
 *
 * The supervisor (procs.c) starts this binary again with CHILD_ENV naming
 * the memfd of struct pool_shm and a slot.  The process maps it and takes
 * from it the keyspace, the daemon's addresses and a seed of its own, then
 * runs as any instance does, except that it prints no report: between naps
 * its main thread publishes its op counts and the pins the daemon holds
 * for it (the supervisor's progress and its pick of a victim), it stops its
 * workers when the supervisor says, waits at the barrier once quiet, and
 * writes its result into its slot.  It has no watchdog and cleans nothing
 * up: the supervisor does both, and its death kills the process
 * (PR_SET_PDEATHSIG).
 *
 * Threads: the engine process's main thread.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/kvtier-stress/stress.h"

static void publish_ops(struct stress *s)
{
	struct proc_slot *sl = &s->shm->slot[s->slot];
	uint64_t v[OP_N][OPC_N];

	worker_ops(s, v);
	for (int k = 0; k < OP_N; k++)
		for (int j = 0; j < OPC_N; j++)
			atomic_store_explicit(&sl->op[k][j], v[k][j], memory_order_relaxed);
}

bool procs_child_tick(struct stress *s)
{
	struct l2_status l2;

	publish_ops(s);
	/* pins taken and not yet sent back: what the daemon holds for us */
	l2_status(s->kvt, &l2);
	atomic_store_explicit(&s->shm->slot[s->slot].pins_held,
			      l2.pins > l2.unpins ? l2.pins - l2.unpins : 0, memory_order_relaxed);
	return atomic_load_explicit(&s->shm->stop, memory_order_relaxed) ||
	       getppid() != s->shm->supervisor;
}

void procs_child_quiet(struct stress *s)
{
	atomic_store_explicit(&s->shm->slot[s->slot].state, PROC_QUIET, memory_order_release);
	/* the supervisor's death kills us (PR_SET_PDEATHSIG) */
	while (!atomic_load_explicit(&s->shm->sweep, memory_order_acquire)) {
		struct timespec ts = { 0, 2000000 };

		nanosleep(&ts, NULL);
	}
}

void procs_child_done(struct stress *s, const struct checks *c, const struct kvt_stats *st,
		      const struct l2_status *l2, uint64_t run_ns, struct worker_acct acct,
		      bool pass)
{
	struct proc_slot *sl = &s->shm->slot[s->slot];

	publish_ops(s);
	sl->res = (struct proc_result){ .run_ns = run_ns, .checks_run = c->run,
					.checks_failed = c->failed, .pass = pass, .acct = acct,
					.st = *st, .l2 = *l2 };
	atomic_store_explicit(&sl->state, PROC_DONE, memory_order_release);
}

int procs_child_main(struct stress *s, const char *env)
{
	struct pool_shm *shm;
	unsigned int slot;
	struct stat sb;
	int fd, n = -1;

	if (sscanf(env, "%d,%u%n", &fd, &slot, &n) != 2 || env[n] || slot >= POOL_MAX_LIVES ||
	    fstat(fd, &sb) || (size_t)sb.st_size < sizeof(*shm)) {
		fprintf(stderr, "kvtier-stress: %s=\"%s\": not from a supervisor\n", CHILD_ENV,
			env);
		return 1;
	}
	shm = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	/* no watchdog or cleanup here: the supervisor's, and its death is ours
	 * (PR_SET_PDEATHSIG), checked once more now that we run */
	if (shm == MAP_FAILED || getppid() != shm->supervisor)
		return 1;
	/* one write per line: the processes share stdout */
	setvbuf(stdout, NULL, _IOLBF, 0);
	s->shm = shm;
	s->slot = slot;
	s->v = &shm->slot[slot].v;
	s->nkeys = shm->nkeys;
	s->o.seed = shm->seed + 0x9E3779B97F4A7C15ull * (slot + 1) * 7919;
	snprintf(s->pool_server, sizeof(s->pool_server), "%s", shm->pool_server);
	snprintf(s->pool_rm, sizeof(s->pool_rm), "%s", shm->pool_rm);
	snprintf(s->who, sizeof(s->who), "proc %u: ", slot);
	return stress_run(s);
}
