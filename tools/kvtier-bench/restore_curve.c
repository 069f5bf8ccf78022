/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/restore_curve.c - `kvtier-bench restore --curve`: how
 * batched DAX restores scale with restore workers (1-4, or up to
 * --max-workers: powers of 2 past 4) and chunk size (256 KiB - 64 MiB),
 * each point beside its bound.
 *
 * Per chunk size it stores --gib of chunks (at least 2 per worker) in an
 * emulated DAX device in /dev/shm (primary mode, so every get is a DAX
 * restore), then for each dax.restore_workers count (a reopen each: recovery
 * rebuilds the index) it runs one checked untimed round and timed rounds of
 * kvt_get() of BATCH keys a call over every chunk for --seconds (at least
 * MIN_ROUNDS); the figure is the median round's GB/s.  After every round,
 * one pass of the bound: the same number of bytes copied from a read-only
 * mapping of the device file into the same destinations by a team of as
 * many threads as workers (tools/common/copyteam.h), once with memcpy()
 * and once with nt_copy() (what the workers use); the best pass of all
 * counts.  So each point's ratio is to the fastest copy at its own thread
 * count in the same moments (a bound measured only before and after read
 * 0.93 of a restore's median between them on this loaded VM: 1.073).
 *
 * Threads: main (setup, kvt_get(), report), the bound's team while a
 * point is measured, plus kvtier's actors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvtier.h"
#include "core/ntcopy.h"
#include "tools/common/copybound.h"
#include "tools/common/copyteam.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define BATCH 64
#define COUNTS_MAX 8 /* worker counts a curve runs: 1, 2, 3, 4, 8, 16 at most */
#define MIN_ROUNDS 3
#define MAX_ROUNDS 1024

/* 2 (K, V) x layers x 256 tokens x heads x dim x 2 B = 1024 x L x H x D */
static const struct curve_shape {
	const char *label;
	unsigned int layers, heads, dim;
} cshapes[] = {
	{ "256KiB", 2, 1, 128 }, { "1MiB", 8, 1, 128 }, { "4MiB", 32, 1, 128 },
	{ "16MiB", 64, 1, 256 }, { "64MiB", 64, 4, 256 },
};

#define NCSHAPES (sizeof(cshapes) / sizeof(cshapes[0]))

/* The worker counts up to @max: each up to 4, then powers of 2, then @max.
 * Return: how many (<= COUNTS_MAX). */
static size_t worker_counts(unsigned int max, unsigned int *out)
{
	size_t n = 0;

	for (unsigned int w = 1; w <= max; w = w < 4 ? w + 1 : 2 * w)
		out[n++] = w;
	if (out[n - 1] != max)
		out[n++] = max;
	return n;
}

struct cpoint {
	size_t chunk_bytes;
	unsigned int workers;
	double gbps, bound_gbps, ratio;
	const char *bound_way;
	uint64_t rounds;
};

struct crig {
	char path[128];
	size_t chunk_bytes, n;
	struct kvt *kvt;
	struct kvt_key *keys;
	void **dsts;
	size_t *lens, *out_lens;
	char *dst;
	size_t dst_bytes;
};

static void plain_copy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

static const struct copy_way ways[] = {
	{ "memcpy", plain_copy },
	{ "nt_copy", nt_copy },
};

static uint64_t stamp(size_t i)
{
	return prng_mix64(0xc0ffee + i);
}

static void crig_free(struct crig *r)
{
	if (r->kvt)
		kvt_close(r->kvt);
	if (r->dst)
		munmap(r->dst, r->dst_bytes);
	free(r->keys);
	free(r->dsts);
	free(r->lens);
	free(r->out_lens);
	unlink(r->path);
	memset(r, 0, sizeof(*r));
}

/* At least @min_chunks chunks: two a worker. */
static int crig_init(struct crig *r, const struct curve_shape *s, double gib, size_t min_chunks)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "/dev/shm/kvtier-bench-rcurve-%d", (int)getpid());
	unlink(r->path);
	r->chunk_bytes = (size_t)1024 * s->layers * s->heads * s->dim;
	r->n = (size_t)(gib * 1073741824.0 / (double)r->chunk_bytes);
	r->n = r->n < min_chunks ? min_chunks : r->n;
	r->dst_bytes = r->n * r->chunk_bytes;
	r->keys = malloc(r->n * sizeof(*r->keys));
	r->dsts = malloc(r->n * sizeof(*r->dsts));
	r->lens = malloc(r->n * sizeof(*r->lens));
	r->out_lens = malloc(r->n * sizeof(*r->out_lens));
	r->dst = mmap(NULL, r->dst_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (r->dst == MAP_FAILED)
		r->dst = NULL;
	if (!r->keys || !r->dsts || !r->lens || !r->out_lens || !r->dst) {
		fprintf(stderr, "kvtier-bench: out of memory for %zu chunks of %zu bytes\n", r->n,
			r->chunk_bytes);
		crig_free(r);
		return -ENOMEM;
	}
	memset(r->dst, 1, r->dst_bytes); /* prefault: no first touch in a timed round */
	for (size_t i = 0; i < r->n; i++) {
		r->keys[i].lo = prng_mix64(2 * i + ((uint64_t)r->chunk_bytes << 32));
		r->keys[i].hi = prng_mix64(2 * i + 1 + ((uint64_t)r->chunk_bytes << 32));
		r->dsts[i] = r->dst + i * r->chunk_bytes;
		r->lens[i] = r->chunk_bytes;
	}
	return 0;
}

static int crig_open(struct crig *r, const struct curve_shape *s, unsigned int workers,
		     bool reinit)
{
	static const char *const fixed[][2] = {
		{ "chunk_size", "256" },	  { "kv_dtype", "bfloat16" },
		{ "local_cpu", "false" },	  { "dax.mode", "primary" },
		{ "dax.allow_file_backing", "true" }, { "dax.eviction", "none" },
	};
	struct kvt_config *cfg;
	char v[64];
	int ret;

	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ret = bench_config_set(cfg, fixed[i][0], fixed[i][1]);
	snprintf(v, sizeof(v), "%u", s->layers);
	ret = ret ? ret : bench_config_set(cfg, "kv_layers", v);
	snprintf(v, sizeof(v), "%u", s->heads);
	ret = ret ? ret : bench_config_set(cfg, "kv_heads", v);
	snprintf(v, sizeof(v), "%u", s->dim);
	ret = ret ? ret : bench_config_set(cfg, "head_dim", v);
	ret = ret ? ret : bench_config_set(cfg, "dax.device_path", r->path);
	ret = ret ? ret : bench_config_set(cfg, "dax.reinit", reinit ? "true" : "false");
	/* the chunks, their headers and the superblock, with slack */
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
	return ret;
}

static int crig_fill(struct crig *r, const char *label)
{
	char *buf = malloc(r->chunk_bytes);
	struct progress p;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0x5a, r->chunk_bytes);
	progress_start(&p, label, r->n);
	for (size_t i = 0; i < r->n && !ret; i++) {
		uint64_t st = stamp(i);
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
		}
		progress_update(&p, i + 1);
	}
	progress_end(&p);
	free(buf);
	return ret ? ret : kvt_flush(r->kvt);
}

static int crig_round(struct crig *r)
{
	for (size_t i = 0; i < r->n; i += BATCH) {
		size_t k = r->n - i < BATCH ? r->n - i : BATCH;
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

static int crig_checked_round(struct crig *r)
{
	int ret;

	memset(r->dst, 0, r->dst_bytes);
	ret = crig_round(r);
	for (size_t i = 0; !ret && i < r->n; i++) {
		uint64_t st = stamp(i), a, b;

		memcpy(&a, r->dsts[i], sizeof(a));
		memcpy(&b, (char *)r->dsts[i] + r->chunk_bytes - sizeof(b), sizeof(b));
		if (a != st || b != st) {
			fprintf(stderr, "kvtier-bench: chunk %zu restored wrong bytes\n", i);
			ret = -EIO;
		}
	}
	return ret;
}

/* A read-only mapping of the device file, at least the round's bytes. */
static const char *crig_map_dev(struct crig *r, size_t *len)
{
	struct stat sb;
	void *dev;
	int fd = open(r->path, O_RDONLY);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		fprintf(stderr, "kvtier-bench: %s: %s\n", r->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if ((size_t)sb.st_size < r->dst_bytes) {
		fprintf(stderr, "kvtier-bench: %s: %lld bytes, fewer than the %zu stored\n",
			r->path, (long long)sb.st_size, r->dst_bytes);
		close(fd);
		return NULL;
	}
	dev = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	*len = (size_t)sb.st_size;
	return dev == MAP_FAILED ? NULL : dev;
}

/* One timed copy of the round's bytes by @team with every way; the best
 * beats *@best. */
static void bound_pass(struct crig *r, struct copy_team *team, const char *dev,
		       struct copy_bound *best)
{
	for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
		uint64_t t0 = tool_now_ns();
		double gbps;

		copy_team_run(team, &ways[w], r->dst, dev, r->dst_bytes);
		gbps = (double)r->dst_bytes / (double)(tool_now_ns() - t0);
		if (gbps > best->gbps) {
			best->gbps = gbps;
			best->name = ways[w].name;
		}
	}
}

static int measure_point(struct crig *r, unsigned int w, double seconds, struct cpoint *pt)
{
	static double gbps[MAX_ROUNDS];
	double bytes = (double)r->dst_bytes;
	struct copy_bound b = { .gbps = 0, .name = ways[0].name, .threads = w };
	struct copy_team team;
	uint64_t deadline;
	const char *dev;
	size_t k = 0, dev_len = 0;
	int ret;

	dev = crig_map_dev(r, &dev_len);
	if (!dev)
		return -EIO;
	ret = copy_team_start(&team, w);
	if (ret) {
		munmap((void *)dev, dev_len);
		return ret;
	}
	ret = crig_checked_round(r);
	/* untimed: the bound's first touch of its mapping and its threads */
	bound_pass(r, &team, dev, &(struct copy_bound){ 0 });
	deadline = tool_now_ns() + (uint64_t)(seconds * 1e9);
	for (; !ret && k < MAX_ROUNDS && (k < MIN_ROUNDS || tool_now_ns() < deadline); k++) {
		uint64_t t0 = tool_now_ns();

		ret = crig_round(r);
		gbps[k] = bytes / (double)(tool_now_ns() - t0);
		/* a bound pass after every round: both see the same moments */
		bound_pass(r, &team, dev, &b);
	}
	copy_team_stop(&team);
	munmap((void *)dev, dev_len);
	if (ret)
		return ret;
	pt->chunk_bytes = r->chunk_bytes;
	pt->workers = w;
	pt->rounds = k;
	pt->gbps = bench_median(gbps, k);
	pt->bound_gbps = b.gbps;
	pt->bound_way = b.name;
	pt->ratio = bench_ratio(pt->gbps, b.gbps);
	fprintf(stderr, "  %u worker%s: %.2f GB/s, bound %.2f GB/s (%s), ratio %.3f\n", w,
		w > 1 ? "s" : "", pt->gbps, b.gbps, b.name, pt->ratio);
	return 0;
}

static int measure_cshape(const struct curve_shape *s, double gib, double seconds,
			  const unsigned int *counts, size_t ncounts, struct cpoint *pts)
{
	struct kvt_stats st;
	struct crig r;
	char label[64];
	int ret;

	ret = crig_init(&r, s, gib, 2 * (size_t)counts[ncounts - 1]);
	if (ret)
		return ret;
	for (size_t c = 0; c < ncounts && !ret; c++) {
		unsigned int w = counts[c];

		ret = crig_open(&r, s, w, c == 0);
		if (!ret && c == 0) {
			snprintf(label, sizeof(label), "store %zu x %s", r.n, s->label);
			ret = crig_fill(&r, label);
		} else if (!ret) {
			kvt_stats(r.kvt, &st, sizeof(st));
			if (st.dax_entries != r.n) {
				fprintf(stderr, "kvtier-bench: reopen holds %llu of %zu chunks\n",
					(unsigned long long)st.dax_entries, r.n);
				ret = -EIO;
			}
		}
		if (!ret) {
			fprintf(stderr, "kvtier-bench: restore curve, %s, %u worker%s\n", s->label,
				w, w > 1 ? "s" : "");
			ret = measure_point(&r, w, seconds, &pts[c]);
		}
		if (r.kvt)
			kvt_close(r.kvt);
		r.kvt = NULL;
	}
	crig_free(&r);
	return ret;
}

static int curve_plot(const char *file, const struct cpoint *pts, size_t nshapes,
		      size_t ncounts)
{
	FILE *g = bench_plot_open(file);

	if (!g)
		return -errno;
	fprintf(g, "set title 'kvtier batched DAX restore (kvt_get, %d keys a call) and its bound'\n"
		   "set xlabel 'chunk size (KiB)'\nset ylabel 'GB/s'\nset logscale x 2\n"
		   "set yrange [0:*]\nset key outside right\nset grid\n$d << EOD\n", BATCH);
	for (size_t s = 0; s < nshapes; s++) {
		fprintf(g, "%zu", pts[s * ncounts].chunk_bytes / 1024);
		for (size_t c = 0; c < ncounts; c++)
			fprintf(g, " %.3f %.3f", pts[s * ncounts + c].gbps,
				pts[s * ncounts + c].bound_gbps);
		fprintf(g, "\n");
	}
	fprintf(g, "EOD\nplot ");
	for (size_t c = 0; c < ncounts; c++) {
		unsigned int w = pts[c].workers;

		fprintf(g, "%s$d using 1:%zu with linespoints lc %zu title '%u worker%s', "
			   "$d using 1:%zu with lines dt 2 lc %zu title 'bound, %u thread%s'",
			c ? ", " : "", 2 + 2 * c, c + 1, w, w > 1 ? "s" : "", 3 + 2 * c, c + 1, w,
			w > 1 ? "s" : "");
	}
	fprintf(g, "\n");
	return bench_plot_close(g, file);
}

int restore_curve(double gib, double seconds, unsigned int max_workers, bool json,
		  const char *plot)
{
	struct cpoint pts[NCSHAPES * COUNTS_MAX];
	unsigned int counts[COUNTS_MAX];
	size_t ncounts = worker_counts(max_workers, counts), npts = NCSHAPES * ncounts;
	double loadavg = bench_loadavg();
	struct json_line j;
	int ret;

	printf("kvtier-bench restore --curve\n");
	printf("  chunks        chunk_size 256, bfloat16: 256 KiB, 1, 4, 16, 64 MiB\n");
	printf("  stored        %.3g GiB per chunk size (at least %u chunks), DAX primary mode, "
	       "file in /dev/shm\n", gib, 2 * counts[ncounts - 1]);
	printf("  workers       dax.restore_workers");
	for (size_t c = 0; c < ncounts; c++)
		printf("%s%u", c ? ", " : " ", counts[c]);
	printf(" (a reopen each)\n");
	printf("  restore       kvt_get of %d keys a call over every chunk; median of rounds over "
	       "%g s (at least %d)\n", BATCH, seconds, MIN_ROUNDS);
	printf("  bound         fastest of memcpy / nt_copy of the same bytes from the device's "
	       "mapping, as many threads as workers,\n                one pass of each after "
	       "every restore round\n");
	printf("  load average  %.2f (1 min, before the run)\n\n", loadavg);
	fflush(stdout);
	for (size_t s = 0; s < NCSHAPES; s++) {
		ret = measure_cshape(&cshapes[s], gib, seconds, counts, ncounts, &pts[s * ncounts]);
		if (ret) {
			fprintf(stderr, "kvtier-bench: restore curve %s: %s\n", cshapes[s].label,
				kvt_strerror(ret));
			return ret;
		}
	}
	printf("%-8s %7s %8s %11s %-8s %7s %7s\n", "chunk", "workers", "GB/s", "bound GB/s",
	       "bound by", "ratio", "rounds");
	for (size_t i = 0; i < npts; i++)
		printf("%-8s %7u %8.2f %11.2f %-8s %7.3f %7llu\n", cshapes[i / ncounts].label,
		       pts[i].workers, pts[i].gbps, pts[i].bound_gbps, pts[i].bound_way,
		       pts[i].ratio, (unsigned long long)pts[i].rounds);
	printf("GB/s = 1e9 bytes/s; ratio = restore GB/s / bound GB/s at the same thread count\n");
	fflush(stdout);
	if (plot && (ret = curve_plot(plot, pts, NCSHAPES, ncounts)))
		return ret;
	if (!json)
		return 0;
	json_begin(&j);
	json_str(&j, "workload", "restore_curve");
	json_num(&j, "seconds", seconds, 3);
	json_num(&j, "gib", gib, 3);
	json_u64(&j, "batch", BATCH);
	json_num(&j, "loadavg_1m", loadavg, 2);
	if (plot)
		json_str(&j, "plot", plot);
	json_raw(&j, "\"points\":[", true);
	for (size_t i = 0; i < npts; i++) {
		char obj[256];

		snprintf(obj, sizeof(obj),
			 "%s{\"chunk_bytes\":%zu,\"workers\":%u,\"gbps\":%.3f,\"bound_gbps\":%.3f,"
			 "\"bound_way\":\"%s\",\"ratio\":%.3f,\"rounds\":%llu}",
			 i ? "," : "", pts[i].chunk_bytes, pts[i].workers, pts[i].gbps,
			 pts[i].bound_gbps, pts[i].bound_way, pts[i].ratio,
			 (unsigned long long)pts[i].rounds);
		json_raw(&j, obj, false);
	}
	json_raw(&j, "]", false);
	return json_end(&j);
}
