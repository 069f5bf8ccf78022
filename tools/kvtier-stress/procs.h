/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/procs.h - what the two files of the --tier pool
 * supervisor share: procs.c (its run until the deadline: it starts,
 * watches, kills and replaces the engine processes) and procs_end.c (the
 * end of the run: the barrier, the last instance, the checks, the report).
 *
 * Threads: the supervisor's main thread only.  Of all this, the engine
 * processes share struct pool_shm (stress.h), nothing else.
 */
#ifndef KVT_TOOLS_KVTIER_STRESS_PROCS_H
#define KVT_TOOLS_KVTIER_STRESS_PROCS_H

#include <time.h>

#include "tools/kvtier-stress/stress.h"

#define QUIET_WAIT_S (JOIN_GRACE_S + 15)
#define NS_PER_MS 1000000ull

/* The supervisor's view of one slot (never shared). */
struct life {
	pid_t pid;
	bool reaped;
	bool killed;
	int status;              /* waitpid()'s, once reaped */
	uint64_t pins_at_kill;   /* as the victim last published them */
	int64_t gone_ms;         /* the daemon dropped it this long after the kill; -1 never */
	uint64_t start_ns, end_ns;
};

struct run {
	uint64_t start_ns, run_ns;
	unsigned int kills, kills_pinned, kills_missed, kills_unseen;
	int64_t max_gone_ms;
	uint64_t last_kill_ns;
	uint64_t last_ops, last_ns;
};

/* What the supervisor's own instance found at the end. */
struct last {
	uint64_t entries;       /* keys of the keyspace the daemon held before */
	uint64_t read, removed, busy;
	struct l2_status l2;
};

/* procs.c's: the shared memory, and the slots started so far. */
extern struct pool_shm *shm;
extern struct life lives[POOL_MAX_LIVES];
extern unsigned int nlives;

static inline void nap_ms(unsigned int ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static inline bool alive(unsigned int i)
{
	return !lives[i].reaped;
}

static inline uint32_t state_of(unsigned int i)
{
	return atomic_load_explicit(&shm->slot[i].state, memory_order_acquire);
}

/* ---- procs.c ---- */

/* Reap what exited.  Return: processes still alive. */
unsigned int reap(void);

/* Calls made by the process of slot @i, as it last published them. */
uint64_t slot_ops(unsigned int i);

/* Failures (else corruptions) the processes counted, the killed included. */
uint64_t verdict(bool failures);

/* ---- procs_end.c ---- */

/* The end of the run: the barrier, the sweeps, the exits.  Return: true
 * when every process got through (else the rest were killed). */
bool finish(struct stress *s, struct checks *c, struct run *r);

/* One check per process: it finished and passed, or it was killed. */
void life_checks(struct checks *c);

/*
 * end_checks() - once every process got through: chunks were read across
 * processes, the daemon let every engine go, the last instance read back
 * and removed every key (@l), and the daemon is left empty (@d, when it is
 * our own).
 */
void end_checks(struct stress *s, struct checks *c, struct last *l, struct pool_daemon_stats *d);

/* The table of ops/s, a line per process, the pool's and the PASS line on
 * stdout (--json: one object more). */
void procs_report(const struct stress *s, const struct run *r, const struct last *l,
		  const struct pool_daemon_stats *d, const struct checks *c, bool pass);

#endif /* KVT_TOOLS_KVTIER_STRESS_PROCS_H */
