/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/lookup_bench.h - what `kvtier-bench lookup`'s files
 * share (lookup.c: options, inputs, report; lookup_run.c: the reader and
 * writer threads, one configuration, a target's rounds; lookup_target.c:
 * the four targets' lookups, churn, fill and close).
 */
#ifndef KVT_TOOLS_KVTIER_BENCH_LOOKUP_BENCH_H
#define KVT_TOOLS_KVTIER_BENCH_LOOKUP_BENCH_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rcu.h"
#include "kvtier.h"
#include "tools/kvtier-bench/bench.h"

#define WINDOW 128		/* keys per lookup call: one prompt's chunks */
#define PUT_BATCH 32		/* keys per writer kvt_put() */
#define FILL_BATCH 1024		/* keys per kvt_put() while filling */
#define CHUNK_BYTES 128		/* K+V x 1 layer x 16 tokens x 1 head x 2 dims x bf16 */
#define SPAN_PCT 80		/* windows come from the newest 80% of the live keys */
#define MAX_READERS 16	/* reader threads, at most */
#define MAX_COUNTS 6	/* reader counts a run measures: 1, 2, then powers of 2 up to the most */
#define ROUNDS_MAX 20

#define LOOKUP_MAX_SETS 8

struct lookup_opts {
	uint64_t keys;
	double seconds;
	uint64_t write_rate; /* keys per second; 0: no writer */
	uint64_t rounds;     /* runs of every reader count per target; figures are medians */
	unsigned int counts[MAX_COUNTS]; /* reader counts: 1, 2 (the ratios'), then more */
	size_t ncounts;
	bool json;
	bool pin;
	const char *set[LOOKUP_MAX_SETS]; /* --set KEY=VALUE, applied to kvtier's config last */
	size_t nset;
	double loadavg; /* 1-minute load average when the run began */
	bool curve;	     /* --curve: kvtier-rcu alone at sizes up to curve_max */
	uint64_t curve_max;
	const char *plot;    /* --plot FILE.svg (with --curve) */
};

enum target_kind { TARGET_KVTIER, TARGET_MUTEX, TARGET_RWLOCK, TARGET_LFHT, TARGET_COUNT };

/* A baseline table's entry (lookup_target.c). */
struct bnode;

struct target {
	enum target_kind kind;
	const struct kvt_key *keys; /* key id -> key, nkeys of them */
	uint64_t nkeys;
	uint64_t live;		    /* entries held once filled */
	uint64_t span;		    /* reader windows lie in [hi - span, hi) */
	/* [atomic] ids below hi are inserted: the writer's release store
	 * pairs with each reader's acquire load */
	alignas(64) _Atomic uint64_t hi;
	alignas(64) struct kvt *kvt;
	uint64_t l1_slots;
	const void *bufs[FILL_BATCH]; /* every put copies the same zero chunk */
	size_t lens[FILL_BATCH];
	struct cds_lfht *ht;
	struct bnode *nodes;	/* indexed by key id */
	/* each lock on its own line, so the table pointer above never bounces */
	alignas(64) pthread_mutex_t mutex;
	alignas(64) pthread_rwlock_t rwlock;
};

struct phase_result {
	double lookups_per_s;
	double p50_us, p99_us;
	double hit_rate;
	double write_rate;	/* keys/s the writer achieved */
	double reader_cpu;	/* readers' CPU time / their wall time: < 1 when preempted */
	double bg_cpu;		/* CPUs the rest of the process used: writer, actors */
	double other_cpu;	/* CPUs other processes used, or the hypervisor stole */
	uint64_t calls;
	uint64_t write_failed;	/* per-key put failures, or deletes that missed */
	uint64_t evictions;	/* kvtier only */
	bool writer_short;	/* the key array ran out (a bug in sizing) */
};

/* ---- lookup_target.c ---- */

extern const char *const target_names[TARGET_COUNT];
extern size_t (*const contains_of[TARGET_COUNT])(struct target *, const struct kvt_key *);

int churn(struct target *t, uint64_t id, size_t n, uint64_t *failed);
int kvtier_open(struct target *t, const struct lookup_opts *o);
int table_open(struct target *t, const struct lookup_opts *o);
void table_close(struct target *t);

/* ---- lookup.c ---- */

/* keys_make() - every key id a run of @o could use, id i -> {mix64(2i),
 * mix64(2i + 1)}.  Return: the array (malloc'd, *@nkeys of them) or NULL. */
struct kvt_key *keys_make(const struct lookup_opts *o, uint64_t *nkeys);
/* target_init() - @t reset to an unopened @kind over @keys. */
void target_init(struct target *t, enum target_kind kind, const struct kvt_key *keys,
		 uint64_t nkeys, uint64_t live);

/* ---- lookup_curve.c ---- */

/* lookup_curve() - `lookup --curve`: the kvtier-rcu target alone at each
 * size up to o->curve_max; prints the table, the JSON line, the plot. */
int lookup_curve(struct lookup_opts *o);

/* ---- lookup_run.c ---- */

int run_target(struct target *t, const struct lookup_opts *o,
	       struct phase_result res[MAX_COUNTS]);

#endif /* KVT_TOOLS_KVTIER_BENCH_LOOKUP_BENCH_H */
