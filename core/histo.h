/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/histo.h - latency histograms with log2 buckets, recorded per shard
 * and merged when read (a scrape), so recording takes no lock and writes
 * no cache line another shard writes.
 *
 * Bucket i counts latencies <= 2^i microseconds (i < HISTO_BUCKETS - 1);
 * the last bucket is +Inf.  Each shard's cell starts its own cache line;
 * threads pick a shard once (the engine uses its kvt_shard() index), so
 * two threads share a cell only when there are more threads than shards,
 * and then an atomic add keeps the counts exact.
 */
#ifndef KVT_CORE_HISTO_H
#define KVT_CORE_HISTO_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define HISTO_SHARDS 16
#define HISTO_BUCKETS 28	/* 1 us .. 2^26 us (67 s), then +Inf */

struct histo_cell {
	alignas(64) _Atomic uint64_t bucket[HISTO_BUCKETS];
	_Atomic uint64_t sum_ns;
};

struct histo {
	struct histo_cell cell[HISTO_SHARDS];
};

/* A merged read of one histogram: bucket counts (not cumulative). */
struct histo_snap {
	uint64_t bucket[HISTO_BUCKETS];
	uint64_t count;
	uint64_t sum_ns;
};

static inline uint64_t histo_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline unsigned int histo_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned int b;

	if (!us)
		return 0;
	/* us in [2^(b-1), 2^b): every ns of it is <= 2^b us */
	b = 64 - (unsigned int)__builtin_clzll(us);
	return b < HISTO_BUCKETS - 1 ? b : HISTO_BUCKETS - 1;
}

/* histo_record() - count one latency of @ns in shard @shard's cell.
 * Threads: any.  Blocks: never. */
static inline void histo_record(struct histo *h, unsigned int shard, uint64_t ns)
{
	struct histo_cell *c = &h->cell[shard % HISTO_SHARDS];

	atomic_fetch_add_explicit(&c->bucket[histo_bucket(ns)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->sum_ns, ns, memory_order_relaxed);
}

/* histo_read() - merge every shard of @h into @out (each count read
 * atomically; not one snapshot of all).  Threads: any. */
void histo_read(const struct histo *h, struct histo_snap *out);

/* histo_bound_s() - bucket @i's upper bound in seconds (finite buckets). */
double histo_bound_s(unsigned int i);

/* histo_quantile() - the @q quantile (0..1) of @s in seconds, interpolated
 * inside its bucket as Prometheus's histogram_quantile() does; 0 when empty. */
double histo_quantile(const struct histo_snap *s, double q);

#endif /* KVT_CORE_HISTO_H */
