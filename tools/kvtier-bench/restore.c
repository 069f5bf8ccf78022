/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/restore.c - `kvtier-bench restore`: how fast kvt_get()
 * restores chunks from a DAX tier, beside memcpy of the same bytes from the
 * same mapping into the same destinations with the same thread count.
 *
 * Per chunk size (256 KiB, 1, 4, 16 MiB: chunk_size 256, kv_heads 1, bf16,
 * kv_layers x head_dim chosen for the size) it stores N chunks (--gib in
 * all) in an emulated DAX device (a file in /dev/shm, removed at exit) in
 * PRIMARY mode (local_cpu false), so every get is a DAX restore.  Then, for
 * dax.restore_workers 1 and 2 (a fresh instance each; the second reopens the
 * device and recovery rebuilds the index), it times, one after another:
 *   batched  kvt_get() of BATCH keys at a time over all N chunks: one
 *            lookup pass, one restore plan, copies on the restore workers.
 *   serial   the pre-batching design: kvt_get() of one key per call (one
 *            lookup, one borrow, one copy handed to a worker, one wait).
 *   memcpy   the same N chunks copied from their slots in the same DAX
 *            (one memcpy per run of contiguous chunks, as the restore plans)
 *            mapping (kvt_borrow() gives the addresses) into the same
 *            destination buffers by 1 or 2 pthreads each copying half of
 *            every round's chunks: the limit.
 * Each mode runs one untimed round (which also checks a stamp at both ends
 * of every chunk); then the modes take whole rounds in turn (batched,
 * serial, memcpy, batched, ...) for --seconds per mode, at least MIN_ROUNDS
 * each.  This VM's memory bandwidth drifts by 2x within seconds, so modes
 * timed one after another compare moments, not code: the figures are
 * medians over rounds, and each ratio is the median over rounds of the two
 * round times next to each other.  The destinations (N chunk buffers) are
 * touched before any timing.
 *
 * restore_sweep_point() runs the batched mode alone for `docqa --plot`.
 *
 * Threads: main (setup, the kvt_get() calls, report), 1-2 memcpy threads
 * while the memcpy mode runs, plus kvtier's own actors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvtier.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define BATCH 64		/* keys per batched kvt_get() */
#define MAX_WORKERS 2
#define SERIAL_SIZE_IDX 0	/* the 256 KiB row: batched_vs_serial */
#define GIB_MAX 16.0
#define MIN_ROUNDS 5
#define MAX_ROUNDS 1024

/* Goals, printed beside the results; never a failure. */
#define GOAL_RATIO_TO_MEMCPY 0.9
#define GOAL_BATCHED_VS_SERIAL 2.0

enum mode { MODE_BATCHED, MODE_SERIAL, MODE_MEMCPY, MODE_COUNT };

static const char *const mode_names[MODE_COUNT] = { "batched", "serial", "memcpy" };

/* chunk shapes: 2 x layers x 256 tokens x 1 head x dim x 2 B = 1024 x L x D */
static const struct shape {
	const char *label;
	unsigned int layers, dim;
} shapes[] = {
	{ "256KiB", 2, 128 },
	{ "1MiB", 8, 128 },
	{ "4MiB", 32, 128 },
	{ "16MiB", 64, 256 },
};

#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

struct restore_opts {
	double seconds;
	double gib;
	bool json;
	bool curve;
	unsigned int max_workers;       /* --curve: 1..max_workers (powers of 2 past 4) */
	const char *plot;
	double loadavg;
};

struct row {
	size_t chunk_bytes;
	unsigned int workers;
	enum mode mode;
	double gbps;		/* median over the timed rounds */
	double memcpy_gbps;
	double ratio;		/* median of memcpy / this mode's round time, paired */
	double vs_serial;	/* batched rows: median of serial / batched round time */
	uint64_t rounds;
	uint64_t waves, regions, spans_merged; /* stats delta over the timed rounds */
};

/* One DAX-backed instance and the buffers a chunk size needs. */
struct rig {
	char path[128];
	size_t chunk_bytes;
	size_t n;
	struct kvt *kvt;
	struct kvt_key *keys;
	void **dsts;		/* n destination buffers, carved from dst_map */
	size_t *lens, *out_lens;
	char *dst_map;
	size_t dst_bytes;
	const void **srcs;	/* n borrowed slot addresses (memcpy mode) */
	struct kvt_lease *leases;
};

struct copiers;

struct copier {
	struct rig *r;
	struct copiers *all;
	size_t first, count;
};

struct copiers {
	struct copier cs[MAX_WORKERS];
	pthread_t th[MAX_WORKERS];
	struct bench_gate gate;
	pthread_barrier_t bar;
	unsigned int n;
	atomic_bool stop;
};

static uint64_t stamp_of(size_t i)
{
	return prng_mix64(0x5e5707e + i);
}

/* rig_open() - an instance on r->path in primary mode with @workers restore
 * workers; @reinit formats the device (a new chunk shape). */
static int rig_open(struct rig *r, const struct shape *s, unsigned int workers, bool reinit)
{
	char v[64];
	struct kvt_config *cfg;
	int ret;

	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	snprintf(v, sizeof(v), "%u", s->layers);
	ret = bench_config_set(cfg, "kv_layers", v);
	snprintf(v, sizeof(v), "%u", s->dim);
	ret = ret ? ret : bench_config_set(cfg, "head_dim", v);
	ret = ret ? ret : bench_config_set(cfg, "kv_heads", "1");
	ret = ret ? ret : bench_config_set(cfg, "chunk_size", "256");
	ret = ret ? ret : bench_config_set(cfg, "kv_dtype", "bfloat16");
	ret = ret ? ret : bench_config_set(cfg, "local_cpu", "false");
	ret = ret ? ret : bench_config_set(cfg, "dax.mode", "primary");
	ret = ret ? ret : bench_config_set(cfg, "dax.allow_file_backing", "true");
	ret = ret ? ret : bench_config_set(cfg, "dax.device_path", r->path);
	ret = ret ? ret : bench_config_set(cfg, "dax.eviction", "none");
	ret = ret ? ret : bench_config_set(cfg, "dax.reinit", reinit ? "true" : "false");
	/* room for n chunks, their headers and the superblock, with slack */
	snprintf(v, sizeof(v), "%.6f",
		 ((double)r->n * (double)r->chunk_bytes * 1.05 + 64.0 * 1048576.0) / 1073741824.0);
	ret = ret ? ret : bench_config_set(cfg, "dax.max_dax_size", v);
	snprintf(v, sizeof(v), "%u", workers);
	ret = ret ? ret : bench_config_set(cfg, "dax.restore_workers", v);
	if (!ret) {
		ret = kvt_open(cfg, &r->kvt, NULL, 0);
		if (ret)
			fprintf(stderr, "kvtier-bench: kvt_open %s: %s\n", r->path, kvt_strerror(ret));
	}
	kvt_config_free(cfg);
	if (!ret && kvt_chunk_bytes(r->kvt) != r->chunk_bytes) {
		fprintf(stderr, "kvtier-bench: chunk is %zu bytes, wanted %zu\n",
			kvt_chunk_bytes(r->kvt), r->chunk_bytes);
		kvt_close(r->kvt);
		r->kvt = NULL;
		ret = -EINVAL;
	}
	return ret;
}

/* rig_fill() - put the n chunks, each stamped with its id at both ends. */
static int rig_fill(struct rig *r, const char *label)
{
	struct progress p;
	char *buf = malloc(r->chunk_bytes);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0xa5, r->chunk_bytes);
	progress_start(&p, label, r->n);
	for (size_t i = 0; i < r->n; i++) {
		uint64_t st = stamp_of(i);
		const void *b = buf;
		size_t len = r->chunk_bytes;
		int res = 0;
		ssize_t n;

		memcpy(buf, &st, sizeof(st));
		memcpy(buf + r->chunk_bytes - sizeof(st), &st, sizeof(st));
		n = kvt_put(r->kvt, &r->keys[i], &b, &len, 1, &res, NULL, NULL);
		if (n != 1) {
			ret = n < 0 ? (int)n : res ? res : -EEXIST;
			fprintf(stderr, "kvtier-bench: kvt_put chunk %zu: %s\n", i, kvt_strerror(ret));
			break;
		}
		progress_update(&p, i + 1);
	}
	progress_end(&p);
	free(buf);
	return ret;
}

static int check_stamps(const struct rig *r)
{
	for (size_t i = 0; i < r->n; i++) {
		uint64_t st = stamp_of(i), a, b;

		memcpy(&a, r->dsts[i], sizeof(a));
		memcpy(&b, (char *)r->dsts[i] + r->chunk_bytes - sizeof(b), sizeof(b));
		if (a != st || b != st) {
			fprintf(stderr, "kvtier-bench: chunk %zu restored wrong bytes\n", i);
			return -EIO;
		}
	}
	return 0;
}

/* One round of the batched or serial mode: every chunk once. */
static int get_round(struct rig *r, size_t per_call)
{
	for (size_t i = 0; i < r->n; i += per_call) {
		size_t k = r->n - i < per_call ? r->n - i : per_call;
		ssize_t hits = kvt_get(r->kvt, &r->keys[i], k, &r->dsts[i], &r->lens[i],
				       &r->out_lens[i]);

		if (hits != (ssize_t)k) {
			fprintf(stderr, "kvtier-bench: kvt_get of %zu chunks at %zu: %s\n", k, i,
				hits < 0 ? kvt_strerror((int)hits) : "holes");
			return hits < 0 ? (int)hits : -ENOENT;
		}
	}
	return 0;
}

/* Copy chunks [first, first + count) with one memcpy per run of chunks
 * whose sources and destinations are both contiguous: the same coalescing
 * the batched restore plans, so the baseline is the memcpy limit for the
 * same bytes, not a chunk-by-chunk copy it could beat. */
static void copy_runs(const struct rig *r, size_t first, size_t count)
{
	size_t i = first, end = first + count;

	while (i < end) {
		size_t j = i + 1;

		while (j < end &&
		       (const char *)r->srcs[j - 1] + r->chunk_bytes == (const char *)r->srcs[j] &&
		       (char *)r->dsts[j - 1] + r->chunk_bytes == (char *)r->dsts[j])
			j++;
		memcpy(r->dsts[i], r->srcs[i], (j - i) * r->chunk_bytes);
		i = j;
	}
}

static int rig_borrow_all(struct rig *r)
{
	for (size_t i = 0; i < r->n; i++) {
		int ret = kvt_borrow(r->kvt, &r->keys[i], &r->leases[i]);

		if (ret) {
			fprintf(stderr, "kvtier-bench: kvt_borrow chunk %zu: %s\n", i,
				kvt_strerror(ret));
			while (i--)
				kvt_release(r->kvt, &r->leases[i]);
			return ret;
		}
		r->srcs[i] = r->leases[i].data;
	}
	return 0;
}

static void rig_release_all(struct rig *r)
{
	for (size_t i = 0; i < r->n; i++)
		kvt_release(r->kvt, &r->leases[i]);
}

/*
 * The memcpy threads stay up for a whole configuration and copy their
 * share of one round between two barrier waits of the main thread, so
 * memcpy rounds interleave with restore rounds.  A gate holds them before
 * the first barrier, so a failed start can still release them.
 */
static void *copier_main(void *arg)
{
	struct copier *c = arg;
	struct copiers *all = c->all;

	if (bench_gate_pass(&all->gate) < 0)
		return NULL;
	for (;;) {
		pthread_barrier_wait(&all->bar);
		/* written by main before that barrier */
		if (atomic_load_explicit(&all->stop, memory_order_relaxed))
			return NULL;
		copy_runs(c->r, c->first, c->count);
		pthread_barrier_wait(&all->bar);
	}
}

static int copiers_start(struct copiers *cp, struct rig *r, unsigned int nthreads)
{
	unsigned int started = 0;

	cp->gate = (struct bench_gate)BENCH_GATE_INIT;
	cp->n = nthreads;
	atomic_init(&cp->stop, false);
	if (pthread_barrier_init(&cp->bar, NULL, nthreads + 1))
		return -ENOMEM;
	for (unsigned int t = 0; t < nthreads; t++) {
		size_t per = r->n / nthreads;

		cp->cs[t] = (struct copier){ .r = r, .all = cp, .first = t * per,
					     .count = t == nthreads - 1 ? r->n - t * per : per };
		if (pthread_create(&cp->th[t], NULL, copier_main, &cp->cs[t]))
			break;
		started++;
	}
	bench_gate_wait_ready(&cp->gate, started);
	bench_gate_open(&cp->gate, started == nthreads ? 1 : -1);
	if (started == nthreads)
		return 0;
	fprintf(stderr, "kvtier-bench: pthread_create failed\n");
	for (unsigned int t = 0; t < started; t++)
		pthread_join(cp->th[t], NULL);
	pthread_barrier_destroy(&cp->bar);
	return -EAGAIN;
}

/* One memcpy round on every copier.  Return: its nanoseconds. */
static uint64_t copiers_round(struct copiers *cp)
{
	uint64_t t0 = tool_now_ns();

	pthread_barrier_wait(&cp->bar);
	pthread_barrier_wait(&cp->bar);
	return tool_now_ns() - t0;
}

static void copiers_stop(struct copiers *cp)
{
	atomic_store_explicit(&cp->stop, true, memory_order_relaxed);
	pthread_barrier_wait(&cp->bar);
	for (unsigned int t = 0; t < cp->n; t++)
		pthread_join(cp->th[t], NULL);
	pthread_barrier_destroy(&cp->bar);
}

/* One timed kvt_get() round: @ns its nanoseconds, @st the stats it moved. */
static int get_round_timed(struct rig *r, size_t per_call, uint64_t *ns, struct row *st)
{
	struct kvt_stats a, b;
	uint64_t t0;
	int ret;

	kvt_stats(r->kvt, &a, sizeof(a));
	t0 = tool_now_ns();
	ret = get_round(r, per_call);
	*ns = tool_now_ns() - t0;
	kvt_stats(r->kvt, &b, sizeof(b));
	st->waves += b.restore_waves - a.restore_waves;
	st->regions += b.restore_regions - a.restore_regions;
	st->spans_merged += b.restore_spans_merged - a.restore_spans_merged;
	return ret;
}

/* One checked untimed round of a kvt_get() mode. */
static int get_round_checked(struct rig *r, size_t per_call)
{
	int ret;

	memset(r->dsts[0], 0, r->chunk_bytes);
	ret = get_round(r, per_call);
	return ret ? ret : check_stamps(r);
}

/* The median over rounds of @num[k] / @den[k]: paired rounds ran back to
 * back, so a machine that drifts moves both. */
static double paired_ratio(const uint64_t *num, const uint64_t *den, size_t n)
{
	double v[MAX_ROUNDS];

	for (size_t k = 0; k < n; k++)
		v[k] = (double)num[k] / (double)den[k];
	return bench_median(v, n);
}

static double median_gbps(const uint64_t *ns, size_t n, double bytes)
{
	double v[MAX_ROUNDS];

	for (size_t k = 0; k < n; k++)
		v[k] = bytes / (double)ns[k];
	return bench_median(v, n);
}

/*
 * run_config() - the modes in @mask on one open instance with @workers
 * restore workers: one checked untimed round each, then rounds of every
 * mode in turn (batched, serial, memcpy, batched, ...) until --seconds per
 * mode have passed (at least MIN_ROUNDS).  @got[m]: median GB/s of mode m
 * and its median ratio to the memcpy round next to it.  *@vs_serial: the
 * median of serial / batched round times.
 */
static int run_config(struct rig *r, unsigned int workers, unsigned int mask, double seconds,
		      struct row *got, double *vs_serial)
{
	static uint64_t ns[MODE_COUNT][MAX_ROUNDS];
	const size_t per_call[MODE_COUNT] = { [MODE_BATCHED] = BATCH, [MODE_SERIAL] = 1 };
	double bytes = (double)r->n * (double)r->chunk_bytes;
	unsigned int nmodes = (unsigned int)__builtin_popcount(mask);
	struct copiers cp;
	uint64_t deadline;
	size_t k = 0;
	int ret = 0;

	for (int m = MODE_BATCHED; m <= MODE_SERIAL && !ret; m++)
		if (mask & (1u << m))
			ret = get_round_checked(r, per_call[m]);
	if (ret)
		return ret;
	if (mask & (1u << MODE_MEMCPY)) {
		ret = rig_borrow_all(r);
		if (!ret && (ret = copiers_start(&cp, r, workers)))
			rig_release_all(r);
		if (ret)
			return ret;
		copiers_round(&cp);
	}
	deadline = tool_now_ns() + (uint64_t)(seconds * nmodes * 1e9);
	for (; !ret && k < MAX_ROUNDS && (k < MIN_ROUNDS || tool_now_ns() < deadline); k++)
		for (int m = 0; m < MODE_COUNT && !ret; m++) {
			if (!(mask & (1u << m)))
				continue;
			if (m == MODE_MEMCPY)
				ns[m][k] = copiers_round(&cp);
			else
				ret = get_round_timed(r, per_call[m], &ns[m][k], &got[m]);
		}
	if (mask & (1u << MODE_MEMCPY)) {
		copiers_stop(&cp);
		rig_release_all(r);
	}
	if (ret)
		return ret;
	for (int m = 0; m < MODE_COUNT; m++) {
		if (!(mask & (1u << m)))
			continue;
		got[m].gbps = median_gbps(ns[m], k, bytes);
		got[m].rounds = k;
		got[m].memcpy_gbps = NAN;
		got[m].ratio = NAN;
		if (mask & (1u << MODE_MEMCPY)) {
			got[m].memcpy_gbps = median_gbps(ns[MODE_MEMCPY], k, bytes);
			got[m].ratio = paired_ratio(ns[MODE_MEMCPY], ns[m], k);
		}
	}
	*vs_serial = (mask & 3u) == 3u ? paired_ratio(ns[MODE_SERIAL], ns[MODE_BATCHED], k) : NAN;
	return 0;
}

static void rig_free(struct rig *r)
{
	if (r->kvt)
		kvt_close(r->kvt);
	r->kvt = NULL;
	if (r->dst_map)
		munmap(r->dst_map, r->dst_bytes);
	free(r->keys);
	free(r->dsts);
	free(r->lens);
	free(r->out_lens);
	free(r->srcs);
	free(r->leases);
	unlink(r->path);
	memset(r, 0, sizeof(*r));
}

/* rig_init() - keys and n prefaulted destinations for chunks of @s. */
static int rig_init(struct rig *r, const struct shape *s, double gib)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "/dev/shm/kvtier-bench-restore-%d", (int)getpid());
	unlink(r->path);
	r->chunk_bytes = (size_t)1024 * s->layers * s->dim;
	r->n = (size_t)(gib * 1073741824.0 / (double)r->chunk_bytes);
	r->n = r->n < 2 ? 2 : r->n;
	r->dst_bytes = r->n * r->chunk_bytes;
	r->keys = malloc(r->n * sizeof(*r->keys));
	r->dsts = malloc(r->n * sizeof(*r->dsts));
	r->lens = malloc(r->n * sizeof(*r->lens));
	r->out_lens = malloc(r->n * sizeof(*r->out_lens));
	r->srcs = malloc(r->n * sizeof(*r->srcs));
	r->leases = malloc(r->n * sizeof(*r->leases));
	r->dst_map = mmap(NULL, r->dst_bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->dst_map == MAP_FAILED)
		r->dst_map = NULL;
	if (!r->keys || !r->dsts || !r->lens || !r->out_lens || !r->srcs || !r->leases ||
	    !r->dst_map) {
		fprintf(stderr, "kvtier-bench: out of memory for %zu chunks of %zu bytes\n", r->n,
			r->chunk_bytes);
		rig_free(r);
		return -ENOMEM;
	}
	memset(r->dst_map, 1, r->dst_bytes); /* prefault, also without MAP_POPULATE */
	for (size_t i = 0; i < r->n; i++) {
		r->keys[i].lo = prng_mix64(2 * i + ((uint64_t)r->chunk_bytes << 32));
		r->keys[i].hi = prng_mix64(2 * i + 1 + ((uint64_t)r->chunk_bytes << 32));
		r->dsts[i] = r->dst_map + i * r->chunk_bytes;
		r->lens[i] = r->chunk_bytes;
	}
	return 0;
}

/*
 * measure_shape() - every mode for both worker counts on one chunk size.
 * @rows: receives workers x modes rows; @modes_mask selects the modes.
 */
static int measure_shape(const struct shape *s, double gib, double seconds, unsigned int modes_mask,
			 struct row *rows, size_t *nrows)
{
	struct rig r;
	char label[64];
	int ret;

	ret = rig_init(&r, s, gib);
	if (ret)
		return ret;
	for (unsigned int w = 1; w <= MAX_WORKERS; w++) {
		struct row got[MODE_COUNT] = { 0 };
		double vs_serial;
		struct kvt_stats st;

		ret = rig_open(&r, s, w, w == 1);
		if (ret)
			goto out;
		if (w == 1) {
			snprintf(label, sizeof(label), "store %zu x %s", r.n, s->label);
			ret = rig_fill(&r, label);
			if (ret)
				goto out;
		} else {
			kvt_stats(r.kvt, &st, sizeof(st));
			if (st.dax_recovered != r.n || st.dax_entries != r.n) {
				fprintf(stderr, "kvtier-bench: reopen recovered %llu of %zu chunks\n",
					(unsigned long long)st.dax_recovered, r.n);
				ret = -EIO;
				goto out;
			}
		}
		fprintf(stderr, "kvtier-bench: %s, %u worker%s\n", s->label, w, w > 1 ? "s" : "");
		ret = run_config(&r, w, modes_mask, seconds, got, &vs_serial);
		if (ret)
			goto out;
		for (int m = 0; m < MODE_COUNT; m++) {
			if (!(modes_mask & (1u << m)))
				continue;
			got[m].chunk_bytes = r.chunk_bytes;
			got[m].workers = w;
			got[m].mode = (enum mode)m;
			got[m].vs_serial = m == MODE_BATCHED ? vs_serial : NAN;
			rows[(*nrows)++] = got[m];
		}
		kvt_close(r.kvt);
		r.kvt = NULL;
	}
out:
	rig_free(&r);
	return ret;
}

int restore_sweep_point(size_t shape_idx, double gib, double seconds, size_t *chunk_bytes,
			double gbps[2])
{
	struct row rows[MAX_WORKERS * MODE_COUNT];
	size_t n = 0;
	int ret;

	if (shape_idx >= NSHAPES)
		return -EINVAL;
	ret = measure_shape(&shapes[shape_idx], gib, seconds, 1u << MODE_BATCHED, rows, &n);
	if (ret)
		return ret;
	*chunk_bytes = rows[0].chunk_bytes;
	gbps[0] = rows[0].gbps;
	gbps[1] = rows[1].gbps;
	return 0;
}

size_t restore_sweep_shapes(void)
{
	return NSHAPES;
}

/* ---- the workload -------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench restore [options]\n\n"
		"Stores --gib of chunks (256 KiB, 1, 4, 16 MiB) in an emulated DAX device in\n"
		"/dev/shm (primary mode: no L1), then times kvt_get() restores with 1 and 2\n"
		"restore workers, batched (%d keys a call) and serial (1 key a call), beside\n"
		"memcpy of the same bytes from the same mapping with as many threads.\n\n"
		"options:\n"
		"  --seconds S   seconds per mode and configuration (default 1; up to 600)\n"
		"  --gib G       GiB stored per chunk size (default 1; up to %g)\n"
		"  --curve       instead: batched restores with 1-4 workers and chunks of\n"
		"                256 KiB-64 MiB, each beside the fastest copy at its thread\n"
		"                count (defaults then: --seconds 0.5, --gib 0.5)\n"
		"  --max-workers N  with --curve: worker counts up to N: 1..N up to 4,\n"
		"                then powers of 2 (and N) (default 4; up to %u)\n"
		"  --plot FILE   with --curve: draw GB/s against chunk size (gnuplot SVG)\n"
		"  --json        print one JSON object as the last line of stdout\n"
		"  --help        this text\n",
		BATCH, GIB_MAX, RESTORE_CURVE_WORKERS_MAX);
}

static int parse_opts(int argc, char **argv, struct restore_opts *o)
{
	enum { OPT_SECONDS = 256, OPT_GIB, OPT_JSON, OPT_CURVE, OPT_MAX_WORKERS, OPT_PLOT };
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "gib", required_argument, NULL, OPT_GIB },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "curve", no_argument, NULL, OPT_CURVE },
		{ "max-workers", required_argument, NULL, OPT_MAX_WORKERS },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* NaN until given: --curve has shorter defaults */
	*o = (struct restore_opts){ .seconds = NAN, .gib = NAN, .max_workers = 4 };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SECONDS:
			if (opt_parse_double("kvtier-bench", "seconds", optarg, 0, 600, &o->seconds))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_GIB:
			if (opt_parse_double("kvtier-bench", "gib", optarg, 0, GIB_MAX, &o->gib))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_CURVE:
			o->curve = true;
			break;
		case OPT_MAX_WORKERS:
			if (opt_parse_uint("kvtier-bench", "max-workers", optarg, 1,
					   RESTORE_CURVE_WORKERS_MAX, &o->max_workers))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_PLOT:
			if (bench_plot_file("restore", optarg))
				return BENCH_EXIT_USAGE;
			o->plot = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return bench_opt_refused("restore", c, argv);
		}
	}
	if (o->plot && !o->curve) {
		fprintf(stderr, "kvtier-bench restore: --plot needs --curve (see --help)\n");
		return BENCH_EXIT_USAGE;
	}
	if (isnan(o->seconds))
		o->seconds = o->curve ? 0.5 : 1;
	if (isnan(o->gib))
		o->gib = o->curve ? 0.5 : 1;
	return bench_opt_leftover("restore", argc, argv);
}

static const char *goal_mark(bool met)
{
	return met ? "(met)" : "(not met)";
}

int restore_main(int argc, char **argv)
{
	struct row rows[NSHAPES * MAX_WORKERS * MODE_COUNT];
	double min_ratio = INFINITY, serial_ratio = NAN;
	struct restore_opts o;
	struct json_line j;
	size_t nrows = 0;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	if (o.curve)
		return restore_curve(o.gib, o.seconds, o.max_workers, o.json, o.plot) ?
			       BENCH_EXIT_FAIL :
									  BENCH_EXIT_OK;
	o.loadavg = bench_loadavg();
	printf("kvtier-bench restore\n");
	printf("  chunks        chunk_size 256, kv_heads 1, bfloat16; kv_layers x head_dim "
	       "2x128, 8x128, 32x128, 64x256 = 256 KiB, 1, 4, 16 MiB\n");
	printf("  stored        %.3g GiB per chunk size, DAX primary mode (local_cpu false), "
	       "file in /dev/shm\n", o.gib);
	printf("  workers       dax.restore_workers 1, then 2 (reopen: recovery rebuilds the "
	       "index)\n");
	printf("  batched       kvt_get of %d keys a call; serial: 1 key a call\n", BATCH);
	printf("  memcpy        same slots (kvt_borrow addresses) -> same destinations, 1 or 2 "
	       "pthreads, half the chunks each\n");
	printf("  seconds       %g per mode (after one untimed, checked round); the modes take "
	       "rounds in turn\n", o.seconds);
	printf("  load average  %.2f (1 min, before the run)\n\n", o.loadavg);
	fflush(stdout);
	for (size_t s = 0; s < NSHAPES; s++) {
		ret = measure_shape(&shapes[s], o.gib, o.seconds, 0x7, rows, &nrows);
		if (ret)
			return BENCH_EXIT_FAIL;
	}
	printf("%-8s %7s %-8s %8s %11s %7s %7s %7s %8s %8s\n", "chunk", "workers", "mode", "GB/s",
	       "memcpy GB/s", "ratio", "rounds", "waves", "regions", "merged");
	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];
		double ratio = w->ratio;

		printf("%-8s %7u %-8s %8.2f %11.2f %7.3f %7llu %7llu %8llu %8llu\n",
		       shapes[i / (MAX_WORKERS * MODE_COUNT)].label, w->workers,
		       mode_names[w->mode], w->gbps, w->memcpy_gbps, ratio,
		       (unsigned long long)w->rounds, (unsigned long long)w->waves,
		       (unsigned long long)w->regions, (unsigned long long)w->spans_merged);
		if (w->mode == MODE_BATCHED && w->chunk_bytes >= 1048576 && ratio < min_ratio)
			min_ratio = ratio;
	}
	{
		const struct row *b = &rows[SERIAL_SIZE_IDX * MAX_WORKERS * MODE_COUNT +
					     MODE_COUNT + MODE_BATCHED];

		serial_ratio = b->vs_serial;
	}
	printf("GB/s = 1e9 bytes/s, median over rounds; ratio = median over rounds of the memcpy\n"
	       "round's time / this round's (each mode's rounds run in turn, so drift moves both);\n"
	       "waves/regions/merged: restore_waves, restore_regions, restore_spans_merged stats\n"
	       "delta over the timed rounds.\n");
	printf("\n%-44s %8s  %s\n", "ratio", "value", "goal (info only)");
	printf("%-44s %8.3f  >= %.2f %s\n", "ratio_to_memcpy (lowest batched, >= 1 MiB)",
	       min_ratio, GOAL_RATIO_TO_MEMCPY, goal_mark(min_ratio >= GOAL_RATIO_TO_MEMCPY));
	printf("%-44s %8.3f  >= %.2f %s\n", "batched_vs_serial (256 KiB, 2 workers)", serial_ratio,
	       GOAL_BATCHED_VS_SERIAL, goal_mark(serial_ratio >= GOAL_BATCHED_VS_SERIAL));
	if (!o.json)
		return BENCH_EXIT_OK;
	json_begin(&j);
	json_str(&j, "workload", "restore");
	json_num(&j, "seconds", o.seconds, 3);
	json_num(&j, "gib", o.gib, 3);
	json_u64(&j, "batch", BATCH);
	json_num(&j, "loadavg_1m", o.loadavg, 2);
	json_num(&j, "ratio_to_memcpy", min_ratio, 3);
	json_num(&j, "batched_vs_serial", serial_ratio, 3);
	json_bool(&j, "goal_ratio_to_memcpy_met", min_ratio >= GOAL_RATIO_TO_MEMCPY);
	json_bool(&j, "goal_batched_vs_serial_met", serial_ratio >= GOAL_BATCHED_VS_SERIAL);
	json_raw(&j, "\"rows\":[", true);
	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];
		char obj[320];

		snprintf(obj, sizeof(obj),
			 "%s{\"chunk_bytes\":%zu,\"workers\":%u,\"mode\":\"%s\",\"gbps\":%.3f,"
			 "\"memcpy_gbps\":%.3f,\"ratio\":%.3f,\"waves\":%llu,\"regions\":%llu,"
			 "\"spans_merged\":%llu}",
			 i ? "," : "", w->chunk_bytes, w->workers, mode_names[w->mode], w->gbps,
			 w->memcpy_gbps, w->ratio,
			 (unsigned long long)w->waves, (unsigned long long)w->regions,
			 (unsigned long long)w->spans_merged);
		json_raw(&j, obj, false);
	}
	json_raw(&j, "]", false);
	return json_end(&j) ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
