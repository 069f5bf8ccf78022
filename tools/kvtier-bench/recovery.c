/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/recovery.c - `kvtier-bench recovery`: how long
 * kvt_open() of a formatted DAX device takes against its size, so the
 * open of a large device can be projected.
 *
 * Per size (1, 2, 4, 8, 16 GiB, up to --max-gib, while RAM allows) it
 * formats an emulated DAX
 * device (a file in /dev/shm, dax.allow_file_backing, primary mode),
 * fills every slot with a 256 KiB chunk, closes it, then times --opens
 * reopens (kvt_open() to return, dax.reinit false): recovery checks every
 * slot header and every payload's checksum, so its cost grows with the
 * bytes held.  Each reopen must recover every chunk.  The file is removed
 * before the next size.
 *
 * The bound, after the opens: a fresh read-only mapping of the same file
 * and XXH3-64 of each slot's bytes with the hash recovery uses
 * (core/hash.h) by REC_THREADS threads (each its own whole slots), as many
 * as the recovery scan runs on (dax.restore_workers), the least recovery
 * does (it must read every payload to check it); open_to_bound is the best
 * open over the best of --opens such passes.
 *
 * Figures: the best and the median open per size, ns per slot, and a
 * least-squares line open = a + b x slots over the sizes, whose slope is
 * the per-slot cost; the projection to 1 TiB of the same chunks is
 * a + b x slots(1 TiB).  /dev/shm is RAM: a device slower to read than
 * memory (CXL, PMem) scales the slope by its read bandwidth.
 *
 * Threads: main, the bound's REC_THREADS - 1 hashing threads, kvtier's
 * own (the scan's, then the actors) while an instance opens or is open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hash.h"
#include "kvtier.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define OPENS_MAX 9
#define GIB_CAP 16
#define SPARE_GIB 2 /* RAM a size leaves free: /dev/shm is RAM */
#define FILL_BATCH 64
#define TIB_GIB 1024.0
#define REC_CHUNK 262144 /* the shape rec_open() sets */
/* the recovery scan's threads (dax.restore_workers), and the bound's */
#define REC_THREADS 2
#define REC_THREADS_STR "2"

static const unsigned int sizes_gib[] = { 1, 2, 4, 8, 16 };

#define NSIZES (sizeof(sizes_gib) / sizeof(sizes_gib[0]))

struct rec_opts {
	uint64_t max_gib;
	uint64_t opens;
	bool json;
	const char *plot;
	double loadavg;
};

struct rec_point {
	unsigned int gib;
	uint64_t slots;
	double best_ms, median_ms, fill_s;
	double ns_per_slot; /* best open / slots */
	double bound_ms;    /* best hash pass over every slot's bytes */
};

static int rec_open(const char *path, unsigned int gib, bool reinit, struct kvt **kvt)
{
	static const char *const fixed[][2] = {
		{ "chunk_size", "256" },    { "kv_layers", "2" },
		{ "kv_heads", "1" },	    { "head_dim", "128" },
		{ "kv_dtype", "bfloat16" }, { "local_cpu", "false" },
		{ "dax.mode", "primary" },  { "dax.allow_file_backing", "true" },
		{ "dax.eviction", "none" },  { "dax.restore_workers", REC_THREADS_STR },
	};
	struct kvt_config *cfg;
	char v[32];
	int ret;

	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ret = bench_config_set(cfg, fixed[i][0], fixed[i][1]);
	snprintf(v, sizeof(v), "%u", gib);
	ret = ret ? ret : bench_config_set(cfg, "dax.max_dax_size", v);
	ret = ret ? ret : bench_config_set(cfg, "dax.device_path", path);
	ret = ret ? ret : bench_config_set(cfg, "dax.reinit", reinit ? "true" : "false");
	if (!ret) {
		ret = kvt_open(cfg, kvt, NULL, 0);
		if (ret)
			fprintf(stderr, "kvtier-bench: kvt_open %s: %s\n", path, kvt_strerror(ret));
	}
	kvt_config_free(cfg);
	return ret;
}

/* every slot of a freshly formatted device, FILL_BATCH puts a call */
static int rec_fill(struct kvt *kvt, uint64_t slots, unsigned int gib)
{
	const size_t chunk = kvt_chunk_bytes(kvt);
	const void *bufs[FILL_BATCH];
	size_t lens[FILL_BATCH];
	struct kvt_key keys[FILL_BATCH];
	int res[FILL_BATCH];
	struct progress p;
	char label[48];
	char *buf = malloc(chunk);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0x3c, chunk);
	for (size_t i = 0; i < FILL_BATCH; i++) {
		bufs[i] = buf;
		lens[i] = chunk;
	}
	snprintf(label, sizeof(label), "fill %u GiB", gib);
	progress_start(&p, label, slots);
	for (uint64_t id = 0; id < slots && !ret; id += FILL_BATCH) {
		size_t n = slots - id < FILL_BATCH ? (size_t)(slots - id) : FILL_BATCH;
		ssize_t got;

		for (size_t i = 0; i < n; i++) {
			keys[i].lo = prng_mix64(2 * (id + i) + ((uint64_t)gib << 40));
			keys[i].hi = prng_mix64(2 * (id + i) + 1 + ((uint64_t)gib << 40));
		}
		got = kvt_put(kvt, keys, bufs, lens, n, res, NULL, NULL);
		if (got != (ssize_t)n) {
			ret = got < 0 ? (int)got : -ENOSPC;
			fprintf(stderr, "kvtier-bench: kvt_put at chunk %llu: %s\n",
				(unsigned long long)id, kvt_strerror(ret));
		}
		progress_update(&p, id + n);
	}
	progress_end(&p);
	free(buf);
	return ret ? ret : kvt_flush(kvt);
}

/* rec_bound() - XXH3 of every @slot_bytes stretch of @path through a fresh
 * mapping, best of @passes: the whole file, as recovery reads the
 * superblock and the headers too. */
struct hash_share {
	const char *m;
	size_t from, to, slot_bytes;
	uint64_t sink;
};

static void *hash_share_main(void *arg)
{
	struct hash_share *h = arg;

	for (size_t off = h->from; off < h->to; off += h->slot_bytes) {
		size_t len = h->to - off;

		h->sink += hash64(h->m + off, len < h->slot_bytes ? len : h->slot_bytes);
	}
	return NULL;
}

/* XXH3 of every slot of @m (@len bytes) by REC_THREADS threads, each over
 * its own whole slots, the caller one of them.  Return: 0 or -EAGAIN. */
static int hash_slots(const char *m, size_t len, size_t slot_bytes, uint64_t *sink)
{
	struct hash_share sh[REC_THREADS];
	pthread_t th[REC_THREADS];
	size_t per = len / slot_bytes / REC_THREADS * slot_bytes;
	int started = 0, ret = 0;

	for (int t = 0; t < REC_THREADS; t++)
		sh[t] = (struct hash_share){ m, (size_t)t * per,
					     t == REC_THREADS - 1 ? len : (size_t)(t + 1) * per,
					     slot_bytes, 0 };
	for (; started < REC_THREADS - 1; started++)
		if (pthread_create(&th[started], NULL, hash_share_main, &sh[started])) {
			ret = -EAGAIN;
			break;
		}
	if (!ret)
		hash_share_main(&sh[REC_THREADS - 1]);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < REC_THREADS; t++)
		*sink += sh[t].sink;
	return ret;
}

static int rec_bound(const char *path, uint64_t passes, size_t slot_bytes, double *best_ms)
{
	uint64_t sink = 0;
	struct stat sb;
	int fd = open(path, O_RDONLY), ret = 0;

	if (fd < 0 || fstat(fd, &sb) < 0) {
		ret = -errno;
		fprintf(stderr, "kvtier-bench: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	*best_ms = INFINITY;
	for (uint64_t i = 0; i < passes; i++) {
		uint64_t t0 = tool_now_ns();
		const char *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
		double ms;

		if (m == MAP_FAILED) {
			ret = -errno;
			break;
		}
		ret = hash_slots(m, (size_t)sb.st_size, slot_bytes, &sink);
		munmap((void *)m, (size_t)sb.st_size);
		if (ret)
			break;
		ms = (double)(tool_now_ns() - t0) / 1e6;
		*best_ms = ms < *best_ms ? ms : *best_ms;
	}
	/* the sums must be used, or the hashing could be left out */
	__asm__ volatile("" : : "r"(sink));
	close(fd);
	return ret;
}

/* MemAvailable of /proc/meminfo in GiB, or -1 when it cannot be read. */
static double mem_available_gib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	double gib = -1;
	unsigned long long kib;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
			gib = (double)kib / 1048576.0;
			break;
		}
	fclose(f);
	return gib;
}

static int rec_point(const struct rec_opts *o, unsigned int gib, struct rec_point *pt)
{
	double ms[OPENS_MAX];
	char path[128];
	struct kvt_stats st;
	struct kvt *kvt;
	uint64_t t0;
	int ret;

	snprintf(path, sizeof(path), "/dev/shm/kvtier-bench-recovery-%d", (int)getpid());
	unlink(path);
	memset(pt, 0, sizeof(*pt));
	pt->gib = gib;
	ret = rec_open(path, gib, true, &kvt);
	if (ret)
		goto out;
	kvt_stats(kvt, &st, sizeof(st));
	pt->slots = st.dax_slots;
	t0 = tool_now_ns();
	ret = rec_fill(kvt, pt->slots, gib);
	pt->fill_s = (double)(tool_now_ns() - t0) / 1e9;
	kvt_close(kvt);
	for (uint64_t i = 0; i < o->opens && !ret; i++) {
		t0 = tool_now_ns();
		ret = rec_open(path, gib, false, &kvt);
		ms[i] = (double)(tool_now_ns() - t0) / 1e6;
		if (ret)
			break;
		kvt_stats(kvt, &st, sizeof(st));
		kvt_close(kvt);
		if (st.dax_recovered != pt->slots) {
			fprintf(stderr, "kvtier-bench: reopen of %u GiB recovered %llu of %llu chunks\n",
				gib, (unsigned long long)st.dax_recovered,
				(unsigned long long)pt->slots);
			ret = -EIO;
		}
		fprintf(stderr, "  %u GiB open %llu: %.1f ms\n", gib, (unsigned long long)i + 1,
			ms[i]);
	}
	if (!ret) {
		pt->median_ms = bench_median(ms, o->opens); /* sorts: ms[0] is the best */
		pt->best_ms = ms[0];
		pt->ns_per_slot = pt->best_ms * 1e6 / (double)pt->slots;
		ret = rec_bound(path, o->opens, REC_CHUNK, &pt->bound_ms);
	}
out:
	unlink(path);
	return ret;
}

/* least squares open_ms = a + b x slots; b in ms per slot */
static void fit(const struct rec_point *pts, size_t n, double *a, double *b)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0;

	for (size_t i = 0; i < n; i++) {
		double x = (double)pts[i].slots, y = pts[i].best_ms;

		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
	}
	if (n < 2 || n * sxx == sx * sx) {
		*a = 0;
		*b = n ? sy / sx : NAN;
		return;
	}
	*b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
	*a = (sy - *b * sx) / n;
}

static int rec_plot(const char *file, const struct rec_point *pts, size_t n, double a, double b)
{
	FILE *g = bench_plot_open(file);

	if (!g)
		return -errno;
	fprintf(g, "set title 'kvt_open of a full DAX device (256 KiB chunks, /dev/shm)'\n"
		   "set xlabel 'device size (GiB)'\nset ylabel 'open time (ms)'\n"
		   "set xrange [0:*]\nset yrange [0:*]\nset key left top\nset grid\n$d << EOD\n");
	for (size_t i = 0; i < n; i++)
		fprintf(g, "%u %.3f %.3f %llu %.3f\n", pts[i].gib, pts[i].best_ms,
			pts[i].median_ms, (unsigned long long)pts[i].slots, pts[i].bound_ms);
	fprintf(g, "EOD\nplot $d using 1:2 with linespoints title 'best open', "
		   "$d using 1:3 with linespoints title 'median open', "
		   "$d using 1:5 with linespoints dt 3 title 'bound: XXH3 of every slot', "
		   "$d using 1:(%.9g + %.9g * $4) with lines dt 2 title 'fit a + b x slots'\n",
		a, b);
	return bench_plot_close(g, file);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench recovery [options]\n\n"
		"Formats an emulated DAX device in /dev/shm of 1, 2, 4, 8, 16 GiB (up to --max-gib;\n"
		"a size needs its GiB + %d of MemAvailable, or the sweep stops before it),\n"
		"fills every slot with a 256 KiB chunk, then times kvt_open() reopening it\n"
		"(recovery checks every header and payload checksum) and projects 1 TiB from\n"
		"the per-slot cost.\n\n"
		"options:\n"
		"  --max-gib G     the largest size (default 2; 1..%d)\n"
		"  --opens N       reopens per size (default 3; up to %d)\n"
		"  --plot FILE.svg draw open time against size (gnuplot)\n"
		"  --json          print one JSON object as the last line of stdout\n"
		"  --help          this text\n",
		SPARE_GIB, GIB_CAP, OPENS_MAX);
}

static int parse_opts(int argc, char **argv, struct rec_opts *o)
{
	enum { OPT_MAX_GIB = 256, OPT_OPENS, OPT_PLOT, OPT_JSON };
	static const struct option longopts[] = {
		{ "max-gib", required_argument, NULL, OPT_MAX_GIB },
		{ "opens", required_argument, NULL, OPT_OPENS },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct rec_opts){ .max_gib = 2, .opens = 3 };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MAX_GIB:
			if (opt_parse_u64("kvtier-bench", "max-gib", optarg, 1, GIB_CAP, &o->max_gib))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_OPENS:
			if (opt_parse_u64("kvtier-bench", "opens", optarg, 1, OPENS_MAX, &o->opens))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_PLOT:
			if (bench_plot_file("recovery", optarg))
				return BENCH_EXIT_USAGE;
			o->plot = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return bench_opt_refused("recovery", c, argv);
		}
	}
	return bench_opt_leftover("recovery", argc, argv);
}

int recovery_main(int argc, char **argv)
{
	struct rec_point pts[NSIZES];
	double a, b, tib_slots, proj_s;
	struct rec_opts o;
	struct json_line j;
	size_t n = 0;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	o.loadavg = bench_loadavg();
	printf("kvtier-bench recovery\n");
	printf("  device        file in /dev/shm (dax.allow_file_backing), primary mode, every "
	       "slot filled\n");
	printf("  chunks        256 KiB (chunk_size 256, 2 layers, 1 head, head_dim 128, "
	       "bfloat16)\n");
	printf("  sizes         1, 2, 4, 8, 16 GiB up to --max-gib %llu\n",
	       (unsigned long long)o.max_gib);
	printf("  opens         %llu per size: kvt_open (dax.reinit false) to return; best and "
	       "median\n", (unsigned long long)o.opens);
	printf("  load average  %.2f (1 min, before the run)\n\n", o.loadavg);
	fflush(stdout);
	for (size_t i = 0; i < NSIZES && sizes_gib[i] <= o.max_gib; i++) {
		double avail = mem_available_gib();

		if (avail >= 0 && avail < sizes_gib[i] + SPARE_GIB) {
			fprintf(stderr, "kvtier-bench: recovery: %u GiB needs %u GiB of RAM free for "
				"/dev/shm and the rest; MemAvailable is %.1f GiB: stopping at %u GiB\n",
				sizes_gib[i], sizes_gib[i] + SPARE_GIB, avail,
				n ? pts[n - 1].gib : 0);
			break;
		}
		ret = rec_point(&o, sizes_gib[i], &pts[n]);
		if (ret)
			return BENCH_EXIT_FAIL;
		n++;
	}
	if (!n)
		return BENCH_EXIT_FAIL;
	fit(pts, n, &a, &b);
	/* the same chunks and slot size: the largest point's bytes per slot */
	tib_slots = TIB_GIB * 1073741824.0 / (pts[n - 1].gib * 1073741824.0 /
					      (double)pts[n - 1].slots);
	proj_s = (a + b * tib_slots) / 1e3;
	printf("%6s %8s %10s %10s %10s %8s %10s %8s %8s\n", "GiB", "slots", "best ms",
	       "median ms", "ns/slot", "GB/s", "bound ms", "vs bound", "fill s");
	for (size_t i = 0; i < n; i++)
		printf("%6u %8llu %10.1f %10.1f %10.0f %8.2f %10.1f %8.2f %8.1f\n", pts[i].gib,
		       (unsigned long long)pts[i].slots, pts[i].best_ms, pts[i].median_ms,
		       pts[i].ns_per_slot,
		       bench_ratio(pts[i].gib * 1.073741824, pts[i].best_ms / 1e3),
		       pts[i].bound_ms, bench_ratio(pts[i].best_ms, pts[i].bound_ms),
		       pts[i].fill_s);
	printf("ns/slot = best open / slots; GB/s = device bytes / best open; bound: XXH3 of\n"
	       "every slot through a fresh read-only mapping of the file by %d threads, as many\n"
	       "as the scan (best pass); vs bound: open / it\n", REC_THREADS);
	printf("\nfit (best opens)      open = %.2f ms + %.0f ns x slots\n", a, b * 1e6);
	printf("projection 1 TiB      %.0f slots of 256 KiB: %.1f s (RAM-speed reads)\n",
	       tib_slots, proj_s);
	fflush(stdout);
	if (o.plot && rec_plot(o.plot, pts, n, a, b))
		return BENCH_EXIT_FAIL;
	if (!o.json)
		return BENCH_EXIT_OK;
	json_begin(&j);
	json_str(&j, "workload", "recovery");
	json_u64(&j, "chunk_bytes", REC_CHUNK);
	json_u64(&j, "opens", o.opens);
	json_num(&j, "loadavg_1m", o.loadavg, 2);
	json_num(&j, "fit_ms", a, 3);
	json_num(&j, "ns_per_slot", b * 1e6, 1);
	json_num(&j, "projected_1tib_s", proj_s, 2);
	if (o.plot)
		json_str(&j, "plot", o.plot);
	json_raw(&j, "\"points\":[", true);
	for (size_t i = 0; i < n; i++) {
		char obj[256];

		snprintf(obj, sizeof(obj),
			 "%s{\"gib\":%u,\"slots\":%llu,\"open_best_ms\":%.3f,"
			 "\"open_median_ms\":%.3f,\"ns_per_slot\":%.1f,\"bound_ms\":%.3f,"
			 "\"open_to_bound\":%.3f,\"fill_s\":%.2f}",
			 i ? "," : "", pts[i].gib, (unsigned long long)pts[i].slots,
			 pts[i].best_ms, pts[i].median_ms, pts[i].ns_per_slot, pts[i].bound_ms,
			 bench_ratio(pts[i].best_ms, pts[i].bound_ms), pts[i].fill_s);
		json_raw(&j, obj, false);
	}
	json_raw(&j, "]", false);
	return json_end(&j) ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
