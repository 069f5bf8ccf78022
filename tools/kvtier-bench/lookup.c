/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/lookup.c - `kvtier-bench lookup`: how kvt_contains()
 * scales with reader threads while a writer churns the index, beside the
 * same table guarded by a pthread mutex and by a pthread rwlock, and the
 * same table with no lock at all (the limit).
 *
 * Targets, each run with 1 and then 2 reader threads (--rounds times,
 * interleaved; figures are medians), in one process, one after another:
 *   kvtier-rcu  a kvtier instance whose L1 holds exactly --keys chunks of
 *               128 bytes; readers call kvt_contains() (one RCU read section
 *               per call, no lock); the writer calls kvt_put() with batches
 *               of PUT_BATCH new keys, and because L1 is full the index
 *               actor inserts and evicts (CLOCK) behind it.
 *   mutex       a liburcu cds_lfht of the same fixed size (no resize), the
 *               same 128-bit keys hashed by key.lo and the same population
 *               as kvtier held after its fill; every key lookup takes and
 *               drops a pthread mutex; the writer takes it for each
 *               insert-new + delete-oldest pair, so the size stays constant.
 *   rwlock      the same with a pthread rwlock: a read lock per key lookup,
 *               the write lock per writer pair.
 *   lfht-rcu    the same table and writer with no lock: what kvtier's map
 *               (also a fixed-size cds_lfht) costs before kvtier's own work.
 * The baselines open one RCU read section per call, as kvtier does, because
 * cds_lfht requires one; a reader may sleep on the mutex inside it, which is
 * harmless here because no grace period is awaited while readers run.
 *
 * Keys: key id i maps to {mix64(2i), mix64(2i + 1)}; all ids are made up
 * front (struct kvt_key array), so a call passes keys + off with no copy.
 * The writer publishes the first id it has not inserted yet (hi, a release
 * store; readers load it acquire once per call); a reader's window is WINDOW
 * consecutive ids drawn uniformly from [hi - span, hi), span being the newest
 * SPAN_PCT% of the live keys, so windows hold keys known present.  kvtier
 * evicts by CLOCK rather than strictly oldest-first, so its hit rate is
 * counted and printed (a call stops at the first miss, as kvt_contains()
 * does, in every target).
 *
 * Measured per call on the reader's own thread: latency (tool_now_ns()
 * around the call, kept in a preallocated per-thread array) and hits.  The
 * readers keep their counters in locals and publish them once at the end,
 * so the loop shares no written cache line except what the target itself
 * writes.  lookups/s counts WINDOW keys per call.
 *
 * Per configuration it also reports where the CPUs went: the readers' CPU
 * time over their wall time, the CPUs the rest of the process used (writer,
 * kvtier's actors), and the CPUs other processes used (from /proc/stat), so
 * a figure skewed by a busy machine says so.
 *
 * Threads: main (setup, fill, report), 1-2 readers (pinned to distinct
 * CPUs unless --no-pin), one writer (paced with clock_nanosleep on absolute
 * deadlines), plus kvtier's own actors while the kvtier target runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rcu.h"
#include "kvtier.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define WINDOW 128		/* keys per lookup call: one prompt's chunks */
#define PUT_BATCH 32		/* keys per writer kvt_put() */
#define FILL_BATCH 1024		/* keys per kvt_put() while filling */
#define CHUNK_BYTES 128		/* K+V x 1 layer x 16 tokens x 1 head x 2 dims x bf16 */
#define SPAN_PCT 80		/* windows come from the newest 80% of the live keys */
#define MAX_READERS 2
#define LAT_PER_SECOND 1000000	/* latency samples kept per reader-second... */
#define LAT_CAP_MAX (1u << 24)	/* ...up to this; a uniform reservoir past it */
#define ROUNDS_MAX 20
#define KEYS_MIN 1024
#define KEYS_MAX 100000000ull

/* Other processes using more CPUs than this during a configuration skew it. */
#define OTHER_CPU_QUIET 0.10

/* Goals, printed beside the results; never a failure. */
#define GOAL_SCALING_2T 1.7
#define GOAL_RATIO_VS_MUTEX_2T 1.5
#define GOAL_P99_RATIO_VS_MUTEX_2T 0.33

struct lookup_opts {
	uint64_t keys;
	double seconds;
	uint64_t write_rate; /* keys per second; 0: no writer */
	uint64_t rounds;     /* 1t/2t pairs per target; each figure is the median */
	bool json;
	bool pin;
	double loadavg; /* 1-minute load average when the run began */
};

enum target_kind { TARGET_KVTIER, TARGET_MUTEX, TARGET_RWLOCK, TARGET_LFHT, TARGET_COUNT };

static const char *const target_names[TARGET_COUNT] = {
	"kvtier-rcu", "mutex", "rwlock", "lfht-rcu",
};
/* JSON key prefixes; kvtier's figures carry none */
static const char *const target_json[TARGET_COUNT] = { "", "mutex_", "rwlock_", "lfht_" };

/*
 * A baseline entry: intrusive node and key, one per key id, never reused
 * while the table lives, so a delete needs no grace period before reuse.
 * 32 bytes in an array by key id, so a window's nodes are adjacent: smaller
 * and denser than kvtier's entries (about 96 bytes each, from jemalloc),
 * which favours every baseline, the lfht-rcu limit included.
 */
struct bnode {
	struct cds_lfht_node node;
	struct kvt_key key;
};

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

struct reader {
	alignas(64) struct target *t;
	struct bench_gate *gate;
	uint64_t dur_ns;
	uint64_t seed;
	int cpu;		/* -1: not pinned */
	struct lat_samples lat;	/* owned by the reader while it runs */
	uint64_t calls, hits, elapsed_ns;
	uint64_t cpu_ns;	/* CPU time the reader got while timed */
};

struct writer {
	alignas(64) struct target *t;
	struct bench_gate *gate;
	uint64_t dur_ns;
	uint64_t rate;
	uint64_t written, failed, elapsed_ns;
	int err;
	bool exhausted;
};

static const char zero_chunk[CHUNK_BYTES];

/* ---- the targets --------------------------------------------------------- */

static int bnode_match(struct cds_lfht_node *node, const void *key)
{
	const struct bnode *b = caa_container_of(node, struct bnode, node);
	const struct kvt_key *k = key;

	return b->key.lo == k->lo && b->key.hi == k->hi;
}

/* Call with rcu_read_lock held, and the target's lock if it has one. */
static bool table_has_rcu(struct target *t, const struct kvt_key *key)
{
	struct cds_lfht_iter it;

	cds_lfht_lookup(t->ht, (unsigned long)key->lo, bnode_match, key, &it);
	return cds_lfht_iter_get_node(&it) != NULL;
}

static size_t kvtier_contains(struct target *t, const struct kvt_key *keys)
{
	/* never negative: 0 once close began, which never happens here */
	return (size_t)kvt_contains(t->kvt, keys, WINDOW, 0);
}

static size_t mutex_contains(struct target *t, const struct kvt_key *keys)
{
	size_t hits;

	rcu_read_lock();
	for (hits = 0; hits < WINDOW; hits++) {
		bool hit;

		pthread_mutex_lock(&t->mutex);
		hit = table_has_rcu(t, &keys[hits]);
		pthread_mutex_unlock(&t->mutex);
		if (!hit)
			break;
	}
	rcu_read_unlock();
	return hits;
}

static size_t rwlock_contains(struct target *t, const struct kvt_key *keys)
{
	size_t hits;

	rcu_read_lock();
	for (hits = 0; hits < WINDOW; hits++) {
		bool hit;

		pthread_rwlock_rdlock(&t->rwlock);
		hit = table_has_rcu(t, &keys[hits]);
		pthread_rwlock_unlock(&t->rwlock);
		if (!hit)
			break;
	}
	rcu_read_unlock();
	return hits;
}

/* The limit: the same table with no lock at all, as kvtier's map is read. */
static size_t lfht_contains(struct target *t, const struct kvt_key *keys)
{
	size_t hits;

	rcu_read_lock();
	for (hits = 0; hits < WINDOW; hits++)
		if (!table_has_rcu(t, &keys[hits]))
			break;
	rcu_read_unlock();
	return hits;
}

static size_t (*const contains_of[TARGET_COUNT])(struct target *, const struct kvt_key *) = {
	kvtier_contains, mutex_contains, rwlock_contains, lfht_contains,
};

/* Insert ids [id, id + n).  Return: 0 or a negative kvtier code. */
static int kvtier_churn(struct target *t, uint64_t id, size_t n, uint64_t *failed)
{
	int results[FILL_BATCH];
	ssize_t ret;

	ret = kvt_put(t->kvt, t->keys + id, t->bufs, t->lens, n, results, NULL, NULL);
	if (ret < 0)
		return (int)ret;
	for (size_t i = 0; i < n; i++)
		*failed += results[i] != 0;
	return 0;
}

static void table_write_lock(struct target *t)
{
	if (t->kind == TARGET_MUTEX)
		pthread_mutex_lock(&t->mutex);
	else if (t->kind == TARGET_RWLOCK)
		pthread_rwlock_wrlock(&t->rwlock);
	/* lfht-rcu: the writer is the only writer, as kvtier's index actor is */
}

static void table_write_unlock(struct target *t)
{
	if (t->kind == TARGET_MUTEX)
		pthread_mutex_unlock(&t->mutex);
	else if (t->kind == TARGET_RWLOCK)
		pthread_rwlock_unlock(&t->rwlock);
}

/*
 * table_churn() - insert ids [id, id + n), deleting the oldest id for each,
 * one write-lock hold per pair.  A deleted node is never reused while the
 * table lives, so lock-free readers may still walk it.  Return: 0.
 */
static int table_churn(struct target *t, uint64_t id, size_t n, uint64_t *failed)
{
	rcu_read_lock();
	for (size_t i = 0; i < n; i++) {
		struct bnode *add = &t->nodes[id + i], *del = &t->nodes[id + i - t->live];

		table_write_lock(t);
		cds_lfht_add(t->ht, (unsigned long)add->key.lo, &add->node);
		*failed += cds_lfht_del(t->ht, &del->node) != 0;
		table_write_unlock(t);
	}
	rcu_read_unlock();
	return 0;
}

static int churn(struct target *t, uint64_t id, size_t n, uint64_t *failed)
{
	if (t->kind == TARGET_KVTIER)
		return kvtier_churn(t, id, n, failed);
	return table_churn(t, id, n, failed);
}

static uint64_t next_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static int kvtier_set(struct kvt_config *cfg, const char *key, const char *val)
{
	char err[256];
	int ret = kvt_config_set(cfg, key, val, err, sizeof(err));

	if (ret)
		fprintf(stderr, "kvtier-bench: kvt_config_set: %s\n", err);
	return ret;
}

/*
 * kvtier_open() - an instance whose L1 has exactly @o->keys slots of
 * CHUNK_BYTES, filled with ids [0, keys).  Sets t->live to the entries it
 * holds afterwards (eviction keeps l1.evict_low..high of L1 free).
 */
static int kvtier_open(struct target *t, const struct lookup_opts *o)
{
	static const char *const shape[][2] = {
		{ "chunk_size", "16" }, { "kv_layers", "1" }, { "kv_heads", "1" },
		{ "head_dim", "2" },	{ "kv_dtype", "bfloat16" },
	};
	struct kvt_config *cfg;
	struct kvt_stats st;
	struct progress p;
	uint64_t failed = 0;
	char gb[64];
	int ret;

	ret = kvt_config_new(&cfg);
	if (ret) {
		fprintf(stderr, "kvtier-bench: kvt_config_new: %s\n", kvt_strerror(ret));
		return ret;
	}
	for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
		ret = kvtier_set(cfg, shape[i][0], shape[i][1]);
		if (ret)
			goto out_free_cfg;
	}
	/* half a slot more than keys, so floor(GB * 2^30 / chunk) == keys */
	snprintf(gb, sizeof(gb), "%.17g", ((double)o->keys + 0.5) * CHUNK_BYTES / 1073741824.0);
	ret = kvtier_set(cfg, "max_local_cpu_size", gb);
	if (ret)
		goto out_free_cfg;
	ret = kvt_open(cfg, &t->kvt, NULL, 0);
	if (ret) {
		fprintf(stderr, "kvtier-bench: kvt_open: %s\n", kvt_strerror(ret));
		goto out_free_cfg;
	}
	kvt_stats(t->kvt, &st, sizeof(st));
	t->l1_slots = st.l1_slots;
	if (kvt_chunk_bytes(t->kvt) != CHUNK_BYTES || st.l1_slots != o->keys) {
		fprintf(stderr, "kvtier-bench: L1 has %llu slots of %zu bytes, wanted %llu of %d\n",
			(unsigned long long)st.l1_slots, kvt_chunk_bytes(t->kvt),
			(unsigned long long)o->keys, CHUNK_BYTES);
		ret = -EINVAL;
		goto out_close;
	}
	progress_start(&p, "fill kvtier", o->keys);
	for (uint64_t id = 0; id < o->keys; id += FILL_BATCH) {
		size_t n = o->keys - id < FILL_BATCH ? o->keys - id : FILL_BATCH;

		ret = kvtier_churn(t, id, n, &failed);
		if (ret) {
			fprintf(stderr, "kvtier-bench: kvt_put: %s\n", kvt_strerror(ret));
			goto out_close;
		}
		progress_update(&p, id + n);
	}
	progress_end(&p);
	kvt_stats(t->kvt, &st, sizeof(st));
	t->live = st.l1_entries;
	if (failed)
		fprintf(stderr, "kvtier-bench: %llu keys of the fill were not stored\n",
			(unsigned long long)failed);
	kvt_config_free(cfg);
	return 0;

out_close:
	kvt_close(t->kvt);
	t->kvt = NULL;
out_free_cfg:
	kvt_config_free(cfg);
	return ret;
}

/* table_open() - the baseline table with ids [keys - live, keys) in it. */
static int table_open(struct target *t, const struct lookup_opts *o)
{
	uint64_t first = o->keys - t->live;
	struct progress p;
	char label[32];
	int ret;

	t->nodes = malloc(sizeof(*t->nodes) * t->nkeys);
	if (!t->nodes)
		return -ENOMEM;
	for (uint64_t id = 0; id < t->nkeys; id++)
		t->nodes[id].key = t->keys[id];
	/* kvtier's map: fixed size, next_pow2(slots) buckets, no auto-resize */
	t->ht = cds_lfht_new(next_pow2(o->keys), next_pow2(o->keys), next_pow2(o->keys), 0, NULL);
	if (!t->ht) {
		ret = -ENOMEM;
		goto err_free_nodes;
	}
	ret = pthread_mutex_init(&t->mutex, NULL);
	if (ret) {
		ret = -ret;
		goto err_destroy_ht;
	}
	ret = pthread_rwlock_init(&t->rwlock, NULL);
	if (ret) {
		ret = -ret;
		goto err_destroy_mutex;
	}
	snprintf(label, sizeof(label), "fill %s", target_names[t->kind]);
	progress_start(&p, label, t->live);
	rcu_read_lock();
	for (uint64_t id = first; id < o->keys; id++) {
		cds_lfht_add(t->ht, (unsigned long)t->nodes[id].key.lo, &t->nodes[id].node);
		if (!((id - first) % 65536))
			progress_update(&p, id - first);
	}
	rcu_read_unlock();
	progress_update(&p, t->live);
	progress_end(&p);
	return 0;

err_destroy_mutex:
	pthread_mutex_destroy(&t->mutex);
err_destroy_ht:
	cds_lfht_destroy(t->ht, NULL);
err_free_nodes:
	free(t->nodes);
	return ret;
}

static void table_close(struct target *t)
{
	uint64_t hi = atomic_load_explicit(&t->hi, memory_order_relaxed);

	/* cds_lfht_destroy() wants an empty table */
	rcu_read_lock();
	for (uint64_t id = hi - t->live; id < hi; id++)
		cds_lfht_del(t->ht, &t->nodes[id].node);
	rcu_read_unlock();
	/* every reader has been joined; a grace period is cheap insurance */
	synchronize_rcu();
	cds_lfht_destroy(t->ht, NULL);
	pthread_rwlock_destroy(&t->rwlock);
	pthread_mutex_destroy(&t->mutex);
	free(t->nodes);
}

/* ---- threads ------------------------------------------------------------- */

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct target *t = r->t;
	size_t (*contains)(struct target *, const struct kvt_key *) = contains_of[t->kind];
	const struct kvt_key *keys = t->keys;
	const uint64_t span = t->span, choices = t->span - WINDOW + 1;
	uint64_t rng = r->seed, calls = 0, hits = 0, start, end, t0, cpu0;

	if (r->cpu >= 0)
		bench_pin_self(r->cpu);
	/* warm-up: urcu-bp registers this thread on its first read section */
	contains(t, keys + atomic_load_explicit(&t->hi, memory_order_acquire) - WINDOW);
	if (bench_gate_pass(r->gate) < 0)
		return NULL;
	cpu0 = bench_thread_cpu_ns();
	start = tool_now_ns();
	end = start + r->dur_ns;
	for (t0 = start; t0 < end;) {
		uint64_t hi = atomic_load_explicit(&t->hi, memory_order_acquire);
		uint64_t off = hi - span + prng_below(&rng, choices);
		uint64_t t1;

		hits += contains(t, keys + off);
		t1 = tool_now_ns();
		lat_add(&r->lat, t1 - t0);
		calls++;
		t0 = t1;
	}
	r->cpu_ns = bench_thread_cpu_ns() - cpu0;
	r->calls = calls;
	r->hits = hits;
	r->elapsed_ns = t0 - start;
	return NULL;
}

/* Paced on absolute deadlines, so a late batch does not lower the rate. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct target *t = w->t;
	uint64_t id = atomic_load_explicit(&t->hi, memory_order_relaxed);
	uint64_t batches = 0, start, end, now;
	double batch_ns = PUT_BATCH * 1e9 / (double)w->rate;

	if (bench_gate_pass(w->gate) < 0)
		return NULL;
	start = tool_now_ns();
	end = start + w->dur_ns;
	for (;;) {
		uint64_t due = start + (uint64_t)((double)batches * batch_ns);
		int ret;

		if (due >= end)
			break;
		if (due > tool_now_ns())
			bench_sleep_until(due);
		if (id + PUT_BATCH > t->nkeys) {
			w->exhausted = true;
			break;
		}
		ret = churn(t, id, PUT_BATCH, &w->failed);
		if (ret) {
			w->err = ret;
			break;
		}
		id += PUT_BATCH;
		batches++;
		atomic_store_explicit(&t->hi, id, memory_order_release);
	}
	now = tool_now_ns();
	w->written = batches * PUT_BATCH;
	w->elapsed_ns = (now > end ? now : end) - start;
	return NULL;
}

/* ---- one configuration --------------------------------------------------- */

/*
 * run_phase() - @nreaders readers and (with a write rate) one writer on
 * @t for o->seconds.  Return: 0, or a negative code (kvtier's, or -errno).
 */
static int run_phase(struct target *t, unsigned int nreaders, const struct lookup_opts *o,
		     struct phase_result *res)
{
	static const double q[2] = { 0.50, 0.99 };
	struct bench_gate gate = BENCH_GATE_INIT;
	struct reader rd[MAX_READERS];
	struct lat_samples sets[MAX_READERS];
	struct writer w;
	const char *what = NULL;
	pthread_t rth[MAX_READERS], wth;
	unsigned int started = 0;
	bool writer_started = false;
	uint64_t dur_ns = (uint64_t)(o->seconds * 1e9), lat_cap, total_keys = 0, total_hits = 0;
	uint64_t ev_before = 0, cpu_ns = 0, wall_ns = 0, proc_ns = 0, sys_ns = 0;
	uint64_t span_ns = 0;
	double quant[2];
	int cpus[MAX_READERS], ncpus = o->pin ? bench_allowed_cpus(cpus, MAX_READERS) : 0;
	struct kvt_stats st;
	int ret = 0;

	memset(rd, 0, sizeof(rd));
	memset(&w, 0, sizeof(w));
	memset(res, 0, sizeof(*res));
	lat_cap = (uint64_t)ceil(o->seconds * LAT_PER_SECOND);
	lat_cap = lat_cap > LAT_CAP_MAX ? LAT_CAP_MAX : lat_cap;
	for (unsigned int i = 0; i < nreaders; i++) {
		rd[i].t = t;
		rd[i].gate = &gate;
		rd[i].dur_ns = dur_ns;
		rd[i].seed = prng_mix64(((uint64_t)t->kind << 8 | nreaders << 4 | i) + 1);
		rd[i].cpu = ncpus ? cpus[i % (unsigned int)ncpus] : -1;
		ret = lat_init(&rd[i].lat, lat_cap, rd[i].seed);
		if (ret) {
			what = "latency samples";
			goto out_free;
		}
	}
	if (t->kind == TARGET_KVTIER) {
		kvt_stats(t->kvt, &st, sizeof(st));
		ev_before = st.l1_evictions;
	}
	for (; started < nreaders; started++) {
		ret = -pthread_create(&rth[started], NULL, reader_main, &rd[started]);
		if (ret) {
			what = "pthread_create";
			goto out_join;
		}
	}
	if (o->write_rate) {
		w.t = t;
		w.gate = &gate;
		w.dur_ns = dur_ns;
		w.rate = o->write_rate;
		ret = -pthread_create(&wth, NULL, writer_main, &w);
		if (ret) {
			what = "pthread_create";
			goto out_join;
		}
		writer_started = true;
	}
	/* the readers' warm-up is done once they all passed the gate */
	bench_gate_wait_ready(&gate, started + writer_started);
	sys_ns = bench_system_busy_ns();
	proc_ns = bench_process_cpu_ns();
	span_ns = tool_now_ns();
	bench_gate_open(&gate, 1);

out_join:
	if (ret)
		bench_gate_open(&gate, -1);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(rth[i], NULL);
	if (writer_started)
		pthread_join(wth, NULL);
	if (ret)
		goto out_free;
	span_ns = tool_now_ns() - span_ns;
	proc_ns = bench_process_cpu_ns() - proc_ns;
	sys_ns = sys_ns ? bench_system_busy_ns() - sys_ns : 0;
	if (w.err) {
		what = "writer";
		ret = w.err;
		goto out_free;
	}
	for (unsigned int i = 0; i < nreaders; i++) {
		if (rd[i].elapsed_ns)
			res->lookups_per_s += (double)rd[i].calls * WINDOW * 1e9 /
					      (double)rd[i].elapsed_ns;
		res->calls += rd[i].calls;
		total_keys += rd[i].calls * WINDOW;
		total_hits += rd[i].hits;
		cpu_ns += rd[i].cpu_ns;
		wall_ns += rd[i].elapsed_ns;
	}
	res->reader_cpu = wall_ns ? (double)cpu_ns / (double)wall_ns : 0;
	/* over the whole phase, gate to join, which ends a little after dur_ns */
	res->bg_cpu = proc_ns > cpu_ns ? (double)(proc_ns - cpu_ns) / (double)span_ns : 0;
	res->other_cpu = sys_ns > proc_ns ? (double)(sys_ns - proc_ns) / (double)span_ns : 0;
	res->hit_rate = total_keys ? (double)total_hits / (double)total_keys : 0;
	for (unsigned int i = 0; i < nreaders; i++)
		sets[i] = rd[i].lat;
	ret = lat_quantiles(sets, nreaders, q, quant, 2);
	if (ret) {
		what = "latency quantiles";
		goto out_free;
	}
	res->p50_us = quant[0];
	res->p99_us = quant[1];
	if (w.elapsed_ns)
		res->write_rate = (double)w.written * 1e9 / (double)w.elapsed_ns;
	res->write_failed = w.failed;
	res->writer_short = w.exhausted;
	if (t->kind == TARGET_KVTIER) {
		kvt_stats(t->kvt, &st, sizeof(st));
		res->evictions = st.l1_evictions - ev_before;
	}

out_free:
	for (unsigned int i = 0; i < nreaders; i++)
		lat_free(&rd[i].lat);
	if (ret)
		fprintf(stderr, "kvtier-bench: %s, %u reader%s: %s: %s\n", target_names[t->kind],
			nreaders, nreaders > 1 ? "s" : "", what, kvt_strerror(ret));
	return ret;
}

/* ---- the workload -------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench lookup [options]\n\n"
		"Reader threads (1, then 2) call kvt_contains() on windows of %d consecutive\n"
		"present keys while a writer thread puts new keys at a steady rate into a full\n"
		"L1, so the index actor inserts and evicts; then the same with a cds_lfht\n"
		"guarded by a pthread mutex, and by a pthread rwlock, taken per key lookup,\n"
		"and with no lock at all (lfht-rcu, the limit).\n\n"
		"options:\n"
		"  --keys N         keys in the table, and L1 slots (default 1000000; %d..%llu)\n"
		"  --seconds S      seconds per configuration (default 3; up to 3600)\n"
		"  --write-rate R   writer keys per second (default 20000; 0: no writer)\n"
		"  --rounds N       run each target's 1t and 2t configurations N times,\n"
		"                   interleaved, and print medians (default 1; up to %d)\n"
		"  --no-pin         do not pin reader threads to distinct CPUs\n"
		"  --json           print one JSON object as the last line of stdout\n"
		"  --help           this text\n",
		WINDOW, KEYS_MIN, KEYS_MAX, ROUNDS_MAX);
}

static int parse_opts(int argc, char **argv, struct lookup_opts *o)
{
	enum { OPT_KEYS = 256, OPT_SECONDS, OPT_WRITE_RATE, OPT_ROUNDS, OPT_JSON, OPT_NO_PIN };
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, OPT_KEYS },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "write-rate", required_argument, NULL, OPT_WRITE_RATE },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-pin", no_argument, NULL, OPT_NO_PIN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct lookup_opts){ .keys = 1000000, .seconds = 3, .write_rate = 20000, .rounds = 1,
				    .pin = true };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KEYS:
			if (opt_parse_u64("kvtier-bench", "keys", optarg, KEYS_MIN, KEYS_MAX, &o->keys))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_SECONDS:
			if (opt_parse_double("kvtier-bench", "seconds", optarg, 0, 3600, &o->seconds))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_WRITE_RATE:
			if (opt_parse_u64("kvtier-bench", "write-rate", optarg, 0, 10000000, &o->write_rate))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_ROUNDS:
			if (opt_parse_u64("kvtier-bench", "rounds", optarg, 1, ROUNDS_MAX, &o->rounds))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_NO_PIN:
			o->pin = false;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			fprintf(stderr, "kvtier-bench lookup: %s: %s (see --help)\n",
				argv[optind - 1], c == ':' ? "missing value" : "unknown option");
			return BENCH_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvtier-bench lookup: unexpected argument \"%s\" (see --help)\n",
			argv[optind]);
		return BENCH_EXIT_USAGE;
	}
	return 0;
}

static void print_inputs(const struct lookup_opts *o, uint64_t nkeys)
{
	int cpus[MAX_READERS], ncpus = o->pin ? bench_allowed_cpus(cpus, MAX_READERS) : 0;

	printf("kvtier-bench lookup\n");
	printf("  keys          %llu (L1 slots, chunk %d B: chunk_size 16, 1 layer, 1 head, "
	       "head_dim 2, bfloat16)\n",
	       (unsigned long long)o->keys, CHUNK_BYTES);
	printf("  seconds       %g per configuration, %llu round%s (medians)\n", o->seconds,
	       (unsigned long long)o->rounds, o->rounds > 1 ? "s" : "");
	printf("  write rate    %llu keys/s (kvtier: kvt_put of %d new keys into a full L1; "
	       "baselines: insert new + delete oldest per key)\n",
	       (unsigned long long)o->write_rate, PUT_BATCH);
	printf("  window        %d consecutive keys per call, from the newest %d%% of the "
	       "live keys\n", WINDOW, SPAN_PCT);
	printf("  key ids       %llu made up front (16 B each)\n", (unsigned long long)nkeys);
	if (ncpus >= 2)
		printf("  readers       1 then 2 threads, pinned to cpus %d and %d\n", cpus[0],
		       cpus[1]);
	else if (ncpus == 1)
		printf("  readers       1 then 2 threads, pinned to cpu %d (only one allowed)\n",
		       cpus[0]);
	else
		printf("  readers       1 then 2 threads, not pinned\n");
	printf("  kvtier-rcu    kvt_contains(%d keys, no flags): one RCU read section, no lock\n",
	       WINDOW);
	printf("  mutex         cds_lfht, same size and keys; pthread_mutex lock+unlock around "
	       "each key lookup (%d per call)\n", WINDOW);
	printf("  rwlock        cds_lfht, same size and keys; pthread_rwlock rdlock+unlock around "
	       "each key lookup (%d per call)\n", WINDOW);
	printf("  lfht-rcu      cds_lfht, same size and keys, no lock: the limit kvtier's map can "
	       "reach\n");
	printf("  writer lock   baselines take the lock once per insert+delete pair\n");
	printf("  load average  %.2f (1 min, before the run)\n\n", o->loadavg);
	fflush(stdout);
}

/* The headline ratios, all at 2 reader threads unless named otherwise. */
struct ratios {
	double scaling[TARGET_COUNT];	/* 2t / 1t lookups/s of each target */
	double vs_mutex, vs_rwlock;	/* kvtier lookups/s over the baseline's */
	double p99_vs_mutex, p99_vs_rwlock; /* kvtier p99 over the baseline's */
	double of_limit_1t, of_limit_2t; /* kvtier lookups/s over lfht-rcu's */
};

static void ratios_of(const struct phase_result r[TARGET_COUNT][MAX_READERS], struct ratios *x)
{
	const struct phase_result *ours = &r[TARGET_KVTIER][1];

	for (int k = 0; k < TARGET_COUNT; k++)
		x->scaling[k] = bench_ratio(r[k][1].lookups_per_s, r[k][0].lookups_per_s);
	x->vs_mutex = bench_ratio(ours->lookups_per_s, r[TARGET_MUTEX][1].lookups_per_s);
	x->vs_rwlock = bench_ratio(ours->lookups_per_s, r[TARGET_RWLOCK][1].lookups_per_s);
	x->p99_vs_mutex = bench_ratio(ours->p99_us, r[TARGET_MUTEX][1].p99_us);
	x->p99_vs_rwlock = bench_ratio(ours->p99_us, r[TARGET_RWLOCK][1].p99_us);
	x->of_limit_1t = bench_ratio(r[TARGET_KVTIER][0].lookups_per_s,
				     r[TARGET_LFHT][0].lookups_per_s);
	x->of_limit_2t = bench_ratio(ours->lookups_per_s, r[TARGET_LFHT][1].lookups_per_s);
}

static bool goal_scaling(const struct ratios *x)
{
	return x->scaling[TARGET_KVTIER] >= GOAL_SCALING_2T;
}

static bool goal_vs_mutex(const struct ratios *x)
{
	return x->vs_mutex >= GOAL_RATIO_VS_MUTEX_2T;
}

static bool goal_p99_vs_mutex(const struct ratios *x)
{
	return x->p99_vs_mutex <= GOAL_P99_RATIO_VS_MUTEX_2T;
}

static const char *goal_mark(bool met)
{
	return met ? "met" : "MISSED";
}

static void print_table(const struct phase_result r[TARGET_COUNT][MAX_READERS])
{
	printf("%-10s %7s %12s %8s %8s %8s %9s %10s %7s %7s\n", "target", "threads", "lookups/s",
	       "p50 us", "p99 us", "hit rate", "writes/s", "reader cpu", "bg cpu", "others");
	for (int k = 0; k < TARGET_COUNT; k++) {
		for (int n = 0; n < MAX_READERS; n++) {
			const struct phase_result *p = &r[k][n];

			printf("%-10s %7d %12.0f %8.2f %8.2f %7.2f%% %9.0f %9.0f%% %7.2f %7.2f\n",
			       target_names[k], n + 1, p->lookups_per_s, p->p50_us, p->p99_us,
			       100 * p->hit_rate, p->write_rate, 100 * p->reader_cpu, p->bg_cpu,
			       p->other_cpu);
		}
	}
	printf("reader cpu: the readers' CPU time over their wall time (below 100%%: preempted,\n"
	       "or asleep on a lock); bg cpu: CPUs the rest of this process used (writer,\n"
	       "kvtier's actors and call_rcu thread); others: CPUs other processes used or the\n"
	       "hypervisor stole meanwhile (0 on a quiet machine)\n");
}

static void print_notes(const struct target *kt,
			const struct phase_result r[TARGET_COUNT][MAX_READERS])
{
	for (int k = 0; k < TARGET_COUNT; k++) {
		for (int n = 0; n < MAX_READERS; n++) {
			if (r[k][n].other_cpu < OTHER_CPU_QUIET)
				continue;
			printf("WARNING: other processes (or the hypervisor) used %.2f CPUs during "
			       "%s %dt:\nthe machine is not quiet, so these figures are skewed; "
			       "rerun when it is (or use --rounds).\n",
			       r[k][n].other_cpu, target_names[k], n + 1);
		}
	}
	printf("\nkvtier: %llu L1 slots, %llu live keys after the fill, %llu + %llu evictions "
	       "during the 1t and 2t runs\n",
	       (unsigned long long)kt->l1_slots, (unsigned long long)kt->live,
	       (unsigned long long)r[TARGET_KVTIER][0].evictions,
	       (unsigned long long)r[TARGET_KVTIER][1].evictions);
	for (int k = 0; k < TARGET_COUNT; k++) {
		for (int n = 0; n < MAX_READERS; n++) {
			if (r[k][n].write_failed)
				printf("note: %s %dt: %llu writer keys failed\n", target_names[k],
				       n + 1, (unsigned long long)r[k][n].write_failed);
			if (r[k][n].writer_short)
				printf("note: %s %dt: the writer ran out of key ids\n",
				       target_names[k], n + 1);
		}
	}
}

static void print_ratios(const struct ratios *x)
{
	printf("\n%-36s %8s  %s\n", "ratio", "value", "goal (info only)");
	printf("%-36s %8.2f  >= %.2f %s\n", "scaling_2t (kvtier 2t / 1t)",
	       x->scaling[TARGET_KVTIER], GOAL_SCALING_2T, goal_mark(goal_scaling(x)));
	printf("%-36s %8.2f  >= %.2f %s\n", "ratio_vs_mutex_2t (lookups/s)", x->vs_mutex,
	       GOAL_RATIO_VS_MUTEX_2T, goal_mark(goal_vs_mutex(x)));
	printf("%-36s %8.2f  <= %.2f %s\n", "p99_ratio_vs_mutex_2t (p99)", x->p99_vs_mutex,
	       GOAL_P99_RATIO_VS_MUTEX_2T, goal_mark(goal_p99_vs_mutex(x)));
	printf("%-36s %8.2f\n", "rwlock_ratio_2t (lookups/s)", x->vs_rwlock);
	printf("%-36s %8.2f\n", "p99_ratio_vs_rwlock_2t (p99)", x->p99_vs_rwlock);
	printf("%-36s %8.2f\n", "mutex scaling_2t", x->scaling[TARGET_MUTEX]);
	printf("%-36s %8.2f\n", "rwlock scaling_2t", x->scaling[TARGET_RWLOCK]);
	printf("%-36s %8.2f\n", "lfht-rcu scaling_2t (the limit)", x->scaling[TARGET_LFHT]);
	printf("%-36s %8.2f / %.2f\n", "kvtier / lfht-rcu lookups/s, 1t / 2t", x->of_limit_1t,
	       x->of_limit_2t);
	fflush(stdout);
}

/* Keys: "<prefix><name>_<n>t", prefix "" for kvtier, "mutex_", "rwlock_". */
static void json_phase(struct json_line *j, enum target_kind k, int n,
		       const struct phase_result *p)
{
	static const struct {
		const char *name;
		size_t off;
		int decimals;
	} fields[] = {
		{ "lookups_per_s", offsetof(struct phase_result, lookups_per_s), 0 },
		{ "p50_us", offsetof(struct phase_result, p50_us), 3 },
		{ "p99_us", offsetof(struct phase_result, p99_us), 3 },
		{ "hit_rate", offsetof(struct phase_result, hit_rate), 4 },
		{ "writes_per_s", offsetof(struct phase_result, write_rate), 0 },
		{ "reader_cpu", offsetof(struct phase_result, reader_cpu), 3 },
		{ "bg_cpus", offsetof(struct phase_result, bg_cpu), 3 },
		{ "other_cpus", offsetof(struct phase_result, other_cpu), 3 },
	};
	char key[64];

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		double v;

		memcpy(&v, (const char *)p + fields[i].off, sizeof(v));
		snprintf(key, sizeof(key), "%s%s_%dt", target_json[k], fields[i].name, n + 1);
		json_num(j, key, v, fields[i].decimals);
	}
}

static int print_json(const struct lookup_opts *o, const struct target *kt,
		      const struct phase_result r[TARGET_COUNT][MAX_READERS],
		      const struct ratios *x)
{
	struct json_line j;
	char key[64];

	json_begin(&j);
	json_str(&j, "workload", "lookup");
	json_u64(&j, "keys", o->keys);
	json_num(&j, "seconds", o->seconds, 3);
	json_u64(&j, "rounds", o->rounds);
	json_u64(&j, "write_rate", o->write_rate);
	json_u64(&j, "window", WINDOW);
	json_bool(&j, "pinned", o->pin);
	json_num(&j, "loadavg_1m", o->loadavg, 2);
	json_u64(&j, "l1_slots", kt->l1_slots);
	json_u64(&j, "live_keys", kt->live);
	for (int k = 0; k < TARGET_COUNT; k++) {
		for (int n = 0; n < MAX_READERS; n++)
			json_phase(&j, (enum target_kind)k, n, &r[k][n]);
		snprintf(key, sizeof(key), "%sscaling_2t", target_json[k]);
		json_num(&j, key, x->scaling[k], 3);
	}
	json_u64(&j, "evictions_1t", r[TARGET_KVTIER][0].evictions);
	json_u64(&j, "evictions_2t", r[TARGET_KVTIER][1].evictions);
	json_num(&j, "ratio_vs_mutex_2t", x->vs_mutex, 3);
	json_num(&j, "p99_ratio_vs_mutex_2t", x->p99_vs_mutex, 3);
	json_num(&j, "rwlock_ratio_2t", x->vs_rwlock, 3);
	json_num(&j, "p99_ratio_vs_rwlock_2t", x->p99_vs_rwlock, 3);
	json_num(&j, "lfht_ratio_1t", x->of_limit_1t, 3);
	json_num(&j, "lfht_ratio_2t", x->of_limit_2t, 3);
	json_bool(&j, "goal_scaling_2t_met", goal_scaling(x));
	json_bool(&j, "goal_ratio_vs_mutex_2t_met", goal_vs_mutex(x));
	json_bool(&j, "goal_p99_ratio_vs_mutex_2t_met", goal_p99_vs_mutex(x));
	return json_end(&j);
}

/* phase_median() - each figure's median over @n rounds; counts are summed. */
static void phase_median(const struct phase_result *runs, unsigned int n, struct phase_result *out)
{
	double v[ROUNDS_MAX];

	memset(out, 0, sizeof(*out));
#define MEDIAN(field)                                  \
	do {                                           \
		for (unsigned int i = 0; i < n; i++)   \
			v[i] = runs[i].field;          \
		out->field = bench_median(v, n);          \
	} while (0)
	MEDIAN(lookups_per_s);
	MEDIAN(p50_us);
	MEDIAN(p99_us);
	MEDIAN(hit_rate);
	MEDIAN(write_rate);
	MEDIAN(reader_cpu);
	MEDIAN(bg_cpu);
	MEDIAN(other_cpu);
#undef MEDIAN
	for (unsigned int i = 0; i < n; i++) {
		out->calls += runs[i].calls;
		out->write_failed += runs[i].write_failed;
		out->evictions += runs[i].evictions;
		out->writer_short |= runs[i].writer_short;
	}
}

/*
 * run_target() - open and fill one target, run 1 then 2 readers, close it.
 * For the kvtier target this also sets @kt->live, the population the
 * baselines copy.
 */
static int run_target(struct target *t, const struct lookup_opts *o,
		      struct phase_result res[MAX_READERS])
{
	struct phase_result runs[MAX_READERS][ROUNDS_MAX];
	int ret;

	atomic_store_explicit(&t->hi, o->keys, memory_order_relaxed);
	ret = t->kind == TARGET_KVTIER ? kvtier_open(t, o) : table_open(t, o);
	if (ret) {
		if (t->kind != TARGET_KVTIER)
			fprintf(stderr, "kvtier-bench: %s table: %s\n", target_names[t->kind],
				strerror(-ret));
		return ret;
	}
	t->span = t->live * SPAN_PCT / 100;
	if (t->span < 2 * WINDOW) {
		fprintf(stderr, "kvtier-bench: only %llu live keys after the fill\n",
			(unsigned long long)t->live);
		ret = -ENOSPC;
		goto out_close;
	}
	for (unsigned int r = 0; r < o->rounds && !ret; r++) {
		for (unsigned int n = 1; n <= MAX_READERS && !ret; n++) {
			struct phase_result *p = &runs[n - 1][r];

			fprintf(stderr, "run %s, %u reader%s, %gs, round %u of %llu\n",
				target_names[t->kind], n, n > 1 ? "s" : "", o->seconds, r + 1,
				(unsigned long long)o->rounds);
			ret = run_phase(t, n, o, p);
			if (!ret)
				fprintf(stderr, "  %.0f lookups/s, p99 %.1f us, reader cpu %.0f%%, "
					"others %.2f\n", p->lookups_per_s, p->p99_us,
					100 * p->reader_cpu, p->other_cpu);
		}
	}
	for (unsigned int n = 0; n < MAX_READERS && !ret; n++)
		phase_median(runs[n], (unsigned int)o->rounds, &res[n]);
out_close:
	if (t->kind == TARGET_KVTIER)
		kvt_close(t->kvt);
	else
		table_close(t);
	return ret;
}

int lookup_main(int argc, char **argv)
{
	struct phase_result res[TARGET_COUNT][MAX_READERS];
	struct ratios x;
	struct target *t;
	struct kvt_key *keys;
	uint64_t nkeys, per_phase, live = 0, l1_slots = 0;
	struct lookup_opts o;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	/* every id a writer could insert in all phases, plus one batch of slack */
	per_phase = ((uint64_t)ceil((double)o.write_rate * o.seconds / PUT_BATCH) + 1) * PUT_BATCH;
	nkeys = o.keys + 2 * o.rounds * per_phase + PUT_BATCH;
	o.loadavg = bench_loadavg();
	print_inputs(&o, nkeys);
	keys = malloc(sizeof(*keys) * nkeys);
	t = aligned_alloc(64, sizeof(*t));
	if (!keys || !t) {
		fprintf(stderr, "kvtier-bench: out of memory for %llu keys\n",
			(unsigned long long)nkeys);
		ret = BENCH_EXIT_FAIL;
		goto out_free;
	}
	for (uint64_t id = 0; id < nkeys; id++) {
		keys[id].lo = prng_mix64(2 * id);
		keys[id].hi = prng_mix64(2 * id + 1);
	}
	memset(res, 0, sizeof(res));
	for (int k = 0; k < TARGET_COUNT; k++) {
		memset(t, 0, sizeof(*t));
		t->kind = (enum target_kind)k;
		t->keys = keys;
		t->nkeys = nkeys;
		t->live = live;
		for (size_t i = 0; i < FILL_BATCH; i++) {
			t->bufs[i] = zero_chunk;
			t->lens[i] = CHUNK_BYTES;
		}
		if (run_target(t, &o, res[k])) {
			ret = BENCH_EXIT_FAIL;
			goto out_free;
		}
		if (k == TARGET_KVTIER) {
			live = t->live;
			l1_slots = t->l1_slots;
		}
	}
	t->live = live;
	t->l1_slots = l1_slots;
	ratios_of(res, &x);
	print_table(res);
	print_notes(t, res);
	print_ratios(&x);
	ret = BENCH_EXIT_OK;
	if (o.json && print_json(&o, t, res, &x))
		ret = BENCH_EXIT_FAIL;

out_free:
	free(t);
	free(keys);
	return ret;
}
