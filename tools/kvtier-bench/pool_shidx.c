/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/pool_shidx.c - `kvtier-bench pool`'s shared-index rows:
 * lookups from kvtier-poold's shared index (proto/maru/pool_shidx.h), with
 * no RPC, from 1, 4 and 16 threads of this process, in the same run as the
 * RPC rows.
 *
 * The keys are the pool adapter's kind (32 hex digits), registered through
 * client 0 into its region; every answer is checked against where the key
 * was registered.  Each thread spends half the phase in a loop that only
 * counts (keys/s over wall time, and over the thread's own CPU time, which
 * other load on the machine does not shrink), looking keys up as the pool
 * adapter looks up a prefix: in batches, each key's line prefetched
 * SHIDX_AHEAD keys before its lookup; and half timing each lookup alone
 * (p50, p99; the two clock reads add ~40 ns to each sample).  Only for the daemon the run started:
 * with --server there is no RM socket to ask for the index.
 */
#define _GNU_SOURCE
#include "tools/kvtier-bench/pool_bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "proto/maru/pool_shidx.h"
#include "tools/common/prng.h"
#include "tools/common/progress.h"

#define SHIDX_KEYS_MAX 500000u   /* below the default index's fill bound */
#define SX_BATCH 1024            /* keys a counting-loop batch looks up */

struct sx_worker {
	pthread_t tid;
	const struct shidx *x;
	uint64_t nkeys, seed, rid, ns;
	_Atomic int *go;
	uint64_t ops, errors;
	double secs, cpu_secs;
	struct lat_samples lat;
};

static uint64_t sx_lo(uint64_t seed, uint64_t i)
{
	return prng_mix64(seed ^ i);
}

static bool sx_check(struct sx_worker *w, uint64_t i)
{
	struct shidx_loc l;

	return shidx_lookup(w->x, sx_lo(w->seed, i), i, &l) == SHIDX_HIT && l.region_id == w->rid &&
	       l.kv_offset == (i % PAGES) * PAGE && l.kv_length == PAGE;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sx_main(void *arg)
{
	struct sx_worker *w = arg;
	uint64_t rng = w->seed ^ (uint64_t)(uintptr_t)w, end, t0;
	double c0;

	while (!atomic_load_explicit(w->go, memory_order_acquire))
		;
	c0 = thread_cpu_s();
	t0 = tool_now_ns();
	end = t0 + w->ns / 2;
	for (;;) {
		uint64_t batch[SX_BATCH];

		for (int k = 0; k < SX_BATCH; k++)
			batch[k] = prng_below(&rng, w->nkeys);
		for (int k = 0; k < SX_BATCH; k++) {
			if (k + SHIDX_AHEAD < SX_BATCH)
				shidx_prefetch(w->x, sx_lo(w->seed, batch[k + SHIDX_AHEAD]),
					       batch[k + SHIDX_AHEAD]);
			w->errors += !sx_check(w, batch[k]);
		}
		w->ops += SX_BATCH;
		if (tool_now_ns() >= end)
			break;
	}
	w->secs = (double)(tool_now_ns() - t0) / 1e9;
	w->cpu_secs = thread_cpu_s() - c0;
	end = tool_now_ns() + w->ns / 2;
	for (uint64_t now = 0; now < end;) {
		uint64_t i = prng_below(&rng, w->nkeys), a = tool_now_ns();

		w->errors += !sx_check(w, i);
		now = tool_now_ns();
		lat_add(&w->lat, now - a);
	}
	return NULL;
}

/* Registers the index's keys through @c, into its region. */
static int sx_register(struct client *c, uint64_t seed, uint64_t nkeys)
{
	char key[40];

	for (uint64_t from = 0; from < nkeys; from += FILL_BATCH) {
		uint32_t n = (uint32_t)(nkeys - from < FILL_BATCH ? nkeys - from : FILL_BATCH);
		struct mp_cur m, arr;
		int ret;

		req_begin(c);
		msgpack_pack_map(&c->pk, 1);
		maru_pack_cstr(&c->pk, "entries");
		msgpack_pack_array(&c->pk, n);
		for (uint64_t i = from; i < from + n; i++) {
			snprintf(key, sizeof(key), "%016llx%016llx",
				 (unsigned long long)sx_lo(seed, i), (unsigned long long)i);
			msgpack_pack_map(&c->pk, 4);
			maru_pack_cstr(&c->pk, "key");
			pack_key(c, key);
			maru_pack_cstr(&c->pk, "region_id");
			msgpack_pack_uint64(&c->pk, c->h.rid);
			maru_pack_cstr(&c->pk, "kv_offset");
			msgpack_pack_uint64(&c->pk, (i % PAGES) * PAGE);
			maru_pack_cstr(&c->pk, "kv_length");
			msgpack_pack_uint64(&c->pk, PAGE);
		}
		ret = rpc(c, MARU_BATCH_REGISTER_KV, &m);
		if (!ret)
			ret = reply_array(c, m, "results", n, &arr);
		if (ret) {
			fprintf(stderr, "kvtier-bench: pool: shared index keys: %s\n", c->why);
			return -1;
		}
	}
	return 0;
}

static int sx_phase(const struct shidx *x, uint64_t seed, uint64_t nkeys, uint64_t rid,
		    int n, double seconds, struct row *row, uint64_t *errors)
{
	static const double q[2] = { 0.5, 0.99 };
	struct sx_worker w[MAX_CLIENTS];
	struct lat_samples sets[MAX_CLIENTS];
	_Atomic int go = 0;
	double us[2];
	int i, ret = 0;

	memset(w, 0, sizeof(w));
	for (i = 0; i < n; i++) {
		w[i] = (struct sx_worker){ .x = x, .nkeys = nkeys, .seed = seed, .rid = rid,
					   .ns = (uint64_t)(seconds * 1e9), .go = &go };
		if (lat_init(&w[i].lat, LAT_CAP, seed + (uint64_t)i) ||
		    pthread_create(&w[i].tid, NULL, sx_main, &w[i])) {
			fprintf(stderr, "kvtier-bench: pool: shared index thread %d: no memory\n", i);
			lat_free(&w[i].lat);
			ret = -1;
			break;
		}
	}
	atomic_store_explicit(&go, 1, memory_order_release);
	*row = (struct row){ .op = "shidx_lookup", .clients = n, .srv_cpu_us = NAN };
	for (int k = 0; k < i; k++) {
		pthread_join(w[k].tid, NULL);
		row->ops += w[k].ops;
		/* each thread's rate over its own loop, summed */
		row->keys_s += (double)w[k].ops / w[k].secs;
		row->keys_cpu_s += (double)w[k].ops / w[k].cpu_secs;
		*errors += w[k].errors;
		sets[k] = w[k].lat;
	}
	if (!ret && lat_quantiles(sets, (size_t)n, q, us, 2) == 0) {
		row->p50 = us[0];
		row->p99 = us[1];
	}
	row->ops_s = row->keys_s;
	for (int k = 0; k < i; k++)
		lat_free(&w[k].lat);
	return ret;
}

int shidx_rows(struct client *c, const char *rm, const struct run *r, double seconds,
	       const int *counts, int ncounts, struct row *rows, int *nrows, uint64_t *errors)
{
	uint64_t seed = prng_mix64(strtoull(r->tag, NULL, 16) + 0x5eed);
	uint64_t nkeys = r->nkeys < SHIDX_KEYS_MAX ? r->nkeys : SHIDX_KEYS_MAX;
	uint64_t before = *errors;
	struct shidx x;
	int ret;

	if (sx_register(c, seed, nkeys))
		return -1;
	ret = shidx_fetch(&x, rm, RPC_TIMEOUT_MS, false);
	if (ret) {
		fprintf(stderr, "kvtier-bench: pool: %s: no shared index: %s\n", rm, strerror(-ret));
		return -1;
	}
	{
		/* every key once: checks them all and faults the table's pages in
		 * before anything is timed */
		struct sx_worker w = { .x = &x, .seed = seed, .rid = c->h.rid };

		for (uint64_t i = 0; i < nkeys; i++)
			*errors += !sx_check(&w, i);
	}
	for (int ci = 0; ci < ncounts && !ret; ci++) {
		struct row *row = &rows[(*nrows)++];

		ret = sx_phase(&x, seed, nkeys, c->h.rid, counts[ci], seconds, row, errors);
		fprintf(stderr, "pool: %-19s x%-2d %9.0f ops/s %10.0f keys/s  p50 %7.3f  p99 %7.3f us"
			" (no RPC)\n", row->op, row->clients, row->ops_s, row->keys_s, row->p50,
			row->p99);
	}
	if (*errors > before)
		fprintf(stderr, "kvtier-bench: pool: %llu shared index lookups gave a wrong answer\n",
			(unsigned long long)(*errors - before));
	shidx_detach(&x);
	return ret;
}
