/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/worker.h - what the two files of a stress thread
 * share: worker.c (the loop, and the ops that write and read chunks) and
 * worker_hold.c (the ops that hold keys or take them away).  The picks of
 * keys and batches, and the counts every op keeps.
 *
 * Threads: all of it on the worker's own thread, on its own struct worker;
 * the counts are [atomic] because main reads them for progress.
 */
#ifndef KVT_TOOLS_KVTIER_STRESS_WORKER_H
#define KVT_TOOLS_KVTIER_STRESS_WORKER_H

#include "tools/kvtier-stress/stress.h"

/* What a per-key result holds until kvtier writes it: none of its codes. */
#define RESULT_UNSET 0x5a5a5a5a

static inline uint32_t rnd_below(struct worker *w, uint32_t n)
{
	return (uint32_t)(((prng_next(&w->rng) >> 32) * (uint64_t)n) >> 32);
}

static inline bool stopping(const struct stress *s)
{
	return atomic_load_explicit(&s->stop, memory_order_relaxed) != 0;
}

/*
 * Keys for contention: one pick in eight from the first 8 ids (every thread
 * races on them), three in eight from a hot eighth of the keyspace, the
 * rest uniform, so most of the keyspace still cycles through eviction.
 */
static inline uint64_t pick_key(struct worker *w)
{
	uint32_t n = w->s->nkeys, hot = n / 8 ? n / 8 : 1, r = rnd_below(w, 8);

	if (r == 0)
		return rnd_below(w, n < 8 ? n : 8);
	return r < 4 ? rnd_below(w, hot) : rnd_below(w, n);
}

/* @n ids: consecutive from a random base (a chained prefix) or random. */
static inline void pick_keys(struct worker *w, uint64_t *ids, struct kvt_key *keys, size_t n,
			     bool chain)
{
	uint64_t base = pick_key(w);

	for (size_t i = 0; i < n; i++) {
		ids[i] = chain ? (base + i) % w->s->nkeys : pick_key(w);
		keys[i] = stress_key(ids[i]);
	}
}

static inline size_t batch_len(struct worker *w)
{
	return 1 + rnd_below(w, STRESS_MAX_BATCH);
}

static inline void count_op(struct worker *w, enum stress_op op, size_t keys, size_t hits)
{
	atomic_fetch_add_explicit(&w->op[op].ops, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->op[op].keys, keys, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->op[op].hits, hits, memory_order_relaxed);
}

static inline void count_pressure(struct worker *w, enum stress_op op)
{
	atomic_fetch_add_explicit(&w->op[op].pressure, 1, memory_order_relaxed);
}

/* ---- worker_hold.c: one op each, for the loop's mix ---- */

void op_contains(struct worker *w);
void op_pin(struct worker *w);
void op_remove(struct worker *w);
void op_borrow(struct worker *w);

#endif /* KVT_TOOLS_KVTIER_STRESS_WORKER_H */
