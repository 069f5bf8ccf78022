/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/restart.c - `kvtier-bench restart`: how a warm restart
 * from the fs tier grows with the files on disk.
 *
 * Per count (1K, 10K, 100K chunks, up to --max-files) one instance with
 * an fs L2 adapter (base_path a fresh directory under --dir, default
 * /var/tmp) puts that many 1 KiB chunks, flushes them to files and closes;
 * a second instance on the same directory (an empty L1, as after an engine
 * restart; the files are still in the page cache: a warm restart) is timed:
 *   open         kvt_open() to return.
 *   first hit    kvt_open() start to the first kvt_get() of key 0 returning
 *                its bytes.
 *   contains all kvt_open() start to kvt_contains() having confirmed every
 *                key (windows of WINDOW chained keys, one call each).
 * The bound, measured right after on the same directory: nftw() of the
 * tree, one lstat per entry, the least a process must do to learn which
 * files are there; contains_to_bound is (contains all - open) over it.
 * The directory is removed before the next count.
 *
 * Threads: main, plus kvtier's actors and the adapter's threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvtier.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define PUT_BATCH 64
/* kvt_flush() this often while storing: a put's write-through is dropped
 * when the fs tier's queue stays full past its bounded wait, and a chunk
 * only in L1 is gone after the close */
#define FLUSH_EVERY 4096
#define WINDOW 1024
#define CHUNK 1024	/* chunk_size 16, 1 layer, 1 head, head_dim 16, bfloat16 */
#define FILES_MAX 100000

static const uint64_t counts[] = { 1000, 10000, 100000 };

#define NCOUNTS (sizeof(counts) / sizeof(counts[0]))

struct rs_opts {
	uint64_t max_files;
	const char *dir;
	bool json;
	const char *plot;
	double loadavg;
};

struct rs_point {
	uint64_t files;
	double store_s;
	double open_ms, first_hit_ms, contains_ms, nftw_ms;
	uint64_t entries; /* what nftw saw */
};

static struct kvt_key key_of(uint64_t i)
{
	return (struct kvt_key){ .lo = prng_mix64(2 * i + 0x7e57a47), .hi = prng_mix64(2 * i + 1) };
}

static int rs_open(const char *base, uint64_t files, struct kvt **kvt)
{
	static const char *const fixed[][2] = {
		{ "chunk_size", "16" }, { "kv_layers", "1" },	     { "kv_heads", "1" },
		{ "head_dim", "16" },	{ "kv_dtype", "bfloat16" },
	};
	struct kvt_config *cfg;
	char v[512];
	int ret;

	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ret = bench_config_set(cfg, fixed[i][0], fixed[i][1]);
	/* L1 holds every chunk, so no put waits on the write-through */
	snprintf(v, sizeof(v), "%.12f", (double)(files + 1024) * CHUNK / 1073741824.0);
	ret = ret ? ret : bench_config_set(cfg, "max_local_cpu_size", v);
	snprintf(v, sizeof(v), "{\"type\":\"fs\",\"base_path\":\"%s\"}", base);
	ret = ret ? ret : bench_config_set(cfg, "l2_adapters", v);
	if (!ret) {
		ret = kvt_open(cfg, kvt, NULL, 0);
		if (ret)
			fprintf(stderr, "kvtier-bench: kvt_open (fs at %s): %s\n", base,
				kvt_strerror(ret));
	}
	kvt_config_free(cfg);
	if (!ret && kvt_chunk_bytes(*kvt) != CHUNK) {
		fprintf(stderr, "kvtier-bench: chunk is %zu bytes, wanted %d\n",
			kvt_chunk_bytes(*kvt), CHUNK);
		kvt_close(*kvt);
		ret = -EINVAL;
	}
	return ret;
}

static int rs_store(const char *base, uint64_t files)
{
	static char buf[CHUNK];
	const void *bufs[PUT_BATCH];
	size_t lens[PUT_BATCH];
	struct kvt_key keys[PUT_BATCH];
	int res[PUT_BATCH];
	struct progress p;
	struct kvt *kvt;
	int ret;

	ret = rs_open(base, files, &kvt);
	if (ret)
		return ret;
	memset(buf, 0x6b, sizeof(buf));
	for (size_t i = 0; i < PUT_BATCH; i++) {
		bufs[i] = buf;
		lens[i] = CHUNK;
	}
	progress_start(&p, "store chunk files", files);
	for (uint64_t id = 0; id < files && !ret; id += PUT_BATCH) {
		size_t n = files - id < PUT_BATCH ? (size_t)(files - id) : PUT_BATCH;
		ssize_t got;

		for (size_t i = 0; i < n; i++)
			keys[i] = key_of(id + i);
		got = kvt_put(kvt, keys, bufs, lens, n, res, NULL, NULL);
		if (got != (ssize_t)n) {
			ret = got < 0 ? (int)got : -ENOSPC;
			fprintf(stderr, "kvtier-bench: kvt_put at chunk %llu: %s\n",
				(unsigned long long)id, kvt_strerror(ret));
		}
		if (!ret && (id + n) % FLUSH_EVERY == 0)
			ret = kvt_flush(kvt);
		progress_update(&p, id + n);
	}
	progress_end(&p);
	ret = ret ? ret : kvt_flush(kvt);
	if (!ret) {
		struct kvt_stats st;

		kvt_stats(kvt, &st, sizeof(st));
		if (st.l2_write_dropped || st.l2_write_errors) {
			fprintf(stderr, "kvtier-bench: chunk writes to the fs tier: %llu dropped, "
				"%llu failed\n", (unsigned long long)st.l2_write_dropped,
				(unsigned long long)st.l2_write_errors);
			ret = -EIO;
		}
	}
	kvt_close(kvt);
	return ret;
}

static uint64_t nftw_entries;

static int count_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)path, (void)sb, (void)type, (void)ftw;
	nftw_entries++;
	return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb, (void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0)
		fprintf(stderr, "kvtier-bench: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

/* the timed restart: open, first hit, every key confirmed */
static int rs_restart(const char *base, struct rs_point *pt)
{
	static char out[CHUNK];
	struct kvt_key keys[WINDOW];
	void *dst = out;
	size_t len = CHUNK, out_len = 0;
	struct kvt *kvt;
	uint64_t t0;
	ssize_t got;
	int ret;

	t0 = tool_now_ns();
	ret = rs_open(base, pt->files, &kvt);
	if (ret)
		return ret;
	pt->open_ms = (double)(tool_now_ns() - t0) / 1e6;
	keys[0] = key_of(0);
	got = kvt_get(kvt, keys, 1, &dst, &len, &out_len);
	pt->first_hit_ms = (double)(tool_now_ns() - t0) / 1e6;
	if (got != 1 || out_len != CHUNK || out[0] != 0x6b) {
		fprintf(stderr, "kvtier-bench: the first kvt_get after the restart missed (%zd)\n",
			got);
		ret = -EIO;
		goto out;
	}
	for (uint64_t id = 0; id < pt->files; id += WINDOW) {
		size_t n = pt->files - id < WINDOW ? (size_t)(pt->files - id) : WINDOW;

		for (size_t i = 0; i < n; i++)
			keys[i] = key_of(id + i);
		got = kvt_contains(kvt, keys, n, 0);
		if (got != (ssize_t)n) {
			fprintf(stderr, "kvtier-bench: kvt_contains at %llu found %zd of %zu\n",
				(unsigned long long)id, got, n);
			ret = got < 0 ? (int)got : -EIO;
			goto out;
		}
	}
	pt->contains_ms = (double)(tool_now_ns() - t0) / 1e6;
out:
	kvt_close(kvt);
	return ret;
}

static int rs_point(const struct rs_opts *o, uint64_t files, struct rs_point *pt)
{
	char base[4096];
	uint64_t t0;
	int ret;

	memset(pt, 0, sizeof(*pt));
	pt->files = files;
	snprintf(base, sizeof(base), "%s/kvtier-bench-restart-XXXXXX", o->dir);
	if (!mkdtemp(base)) {
		ret = -errno;
		fprintf(stderr, "kvtier-bench restart: --dir %s: %s\n", o->dir, strerror(-ret));
		return ret;
	}
	fprintf(stderr, "kvtier-bench: restart curve, %llu files in %s\n",
		(unsigned long long)files, base);
	t0 = tool_now_ns();
	ret = rs_store(base, files);
	pt->store_s = (double)(tool_now_ns() - t0) / 1e9;
	ret = ret ? ret : rs_restart(base, pt);
	if (!ret) {
		nftw_entries = 0;
		t0 = tool_now_ns();
		if (nftw(base, count_entry, 64, FTW_PHYS) < 0)
			ret = -errno;
		pt->nftw_ms = (double)(tool_now_ns() - t0) / 1e6;
		pt->entries = nftw_entries;
	}
	if (!ret)
		fprintf(stderr, "  open %.1f ms, first hit %.1f ms, contains all %.1f ms, nftw "
			"%.1f ms\n", pt->open_ms, pt->first_hit_ms, pt->contains_ms, pt->nftw_ms);
	nftw(base, remove_entry, 64, FTW_PHYS | FTW_DEPTH);
	return ret;
}

static int rs_plot(const char *file, const struct rs_point *pts, size_t n)
{
	FILE *g = bench_plot_open(file);

	if (!g)
		return -errno;
	fprintf(g, "set title 'fs tier warm restart: time from kvt_open against chunk files'\n"
		   "set xlabel 'chunk files on disk'\nset ylabel 'ms since kvt_open'\n"
		   "set logscale xy 10\nset key left top\nset grid\n$d << EOD\n");
	for (size_t i = 0; i < n; i++)
		fprintf(g, "%llu %.3f %.3f %.3f %.3f\n", (unsigned long long)pts[i].files,
			pts[i].open_ms, pts[i].first_hit_ms, pts[i].contains_ms, pts[i].nftw_ms);
	fprintf(g, "EOD\nplot $d using 1:2 with linespoints title 'open', "
		   "$d using 1:3 with linespoints title 'first hit', "
		   "$d using 1:4 with linespoints title 'contains of all', "
		   "$d using 1:5 with linespoints dt 2 title 'bound: nftw (lstat each)'\n");
	return bench_plot_close(g, file);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench restart [options]\n\n"
		"Stores 1K, 10K, 100K chunks (up to --max-files) of %d bytes through an fs L2\n"
		"tier, closes, and times a new instance on the same directory: kvt_open, the\n"
		"first kvt_get hit, kvt_contains of every key; beside nftw of the directory.\n\n"
		"options:\n"
		"  --max-files N   the largest count (default 10000; 1000..%d)\n"
		"  --dir DIR       where the temporary base_path goes (default /var/tmp)\n"
		"  --plot FILE.svg draw the times against the file count (gnuplot)\n"
		"  --json          print one JSON object as the last line of stdout\n"
		"  --help          this text\n",
		CHUNK, FILES_MAX);
}

static int parse_opts(int argc, char **argv, struct rs_opts *o)
{
	enum { OPT_MAX_FILES = 256, OPT_DIR, OPT_PLOT, OPT_JSON };
	static const struct option longopts[] = {
		{ "max-files", required_argument, NULL, OPT_MAX_FILES },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct rs_opts){ .max_files = 10000, .dir = "/var/tmp" };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MAX_FILES:
			if (opt_parse_u64("kvtier-bench", "max-files", optarg, 1000, FILES_MAX,
					  &o->max_files))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_DIR:
			o->dir = optarg;
			break;
		case OPT_PLOT:
			if (bench_plot_file("restart", optarg))
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
			return bench_opt_refused("restart", c, argv);
		}
	}
	return bench_opt_leftover("restart", argc, argv);
}

int restart_main(int argc, char **argv)
{
	struct rs_point pts[NCOUNTS];
	struct rs_opts o;
	struct json_line j;
	size_t n = 0;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	o.loadavg = bench_loadavg();
	printf("kvtier-bench restart\n");
	printf("  tier          l2_adapters fs, base_path a fresh directory under %s (removed "
	       "after)\n", o.dir);
	printf("  chunks        %d B (chunk_size 16, 1 layer, 1 head, head_dim 16, bfloat16), "
	       "1K, 10K, 100K up to --max-files %llu\n", CHUNK,
	       (unsigned long long)o.max_files);
	printf("  restart       a new instance, empty L1, files in the page cache; times from "
	       "kvt_open's start\n");
	printf("  contains      kvt_contains of %d chained keys a call until every key is "
	       "confirmed\n", WINDOW);
	printf("  bound         nftw of the directory (lstat of every entry), right after\n");
	printf("  load average  %.2f (1 min, before the run)\n\n", o.loadavg);
	fflush(stdout);
	for (size_t i = 0; i < NCOUNTS && counts[i] <= o.max_files; i++) {
		ret = rs_point(&o, counts[i], &pts[n]);
		if (ret)
			return BENCH_EXIT_FAIL;
		n++;
	}
	printf("%8s %8s %9s %11s %13s %9s %10s %10s\n", "files", "store s", "open ms",
	       "1st hit ms", "contains ms", "nftw ms", "us/file", "vs bound");
	for (size_t i = 0; i < n; i++) {
		const struct rs_point *p = &pts[i];

		printf("%8llu %8.1f %9.1f %11.1f %13.1f %9.1f %10.2f %10.2f\n",
		       (unsigned long long)p->files, p->store_s, p->open_ms, p->first_hit_ms,
		       p->contains_ms, p->nftw_ms, (p->contains_ms - p->open_ms) * 1e3 / p->files,
		       bench_ratio(p->contains_ms - p->open_ms, p->nftw_ms));
	}
	printf("times in ms from kvt_open's start; us/file: (contains - open) per file;\n"
	       "vs bound: (contains - open) / nftw of the directory\n");
	fflush(stdout);
	if (o.plot && rs_plot(o.plot, pts, n))
		return BENCH_EXIT_FAIL;
	if (!o.json)
		return BENCH_EXIT_OK;
	json_begin(&j);
	json_str(&j, "workload", "restart");
	json_u64(&j, "chunk_bytes", CHUNK);
	json_u64(&j, "window", WINDOW);
	json_num(&j, "loadavg_1m", o.loadavg, 2);
	if (o.plot)
		json_str(&j, "plot", o.plot);
	json_raw(&j, "\"points\":[", true);
	for (size_t i = 0; i < n; i++) {
		const struct rs_point *p = &pts[i];
		char obj[320];

		snprintf(obj, sizeof(obj),
			 "%s{\"files\":%llu,\"store_s\":%.2f,\"open_ms\":%.3f,\"first_hit_ms\":%.3f,"
			 "\"contains_all_ms\":%.3f,\"nftw_ms\":%.3f,\"nftw_entries\":%llu,"
			 "\"contains_to_bound\":%.3f}",
			 i ? "," : "", (unsigned long long)p->files, p->store_s, p->open_ms,
			 p->first_hit_ms, p->contains_ms, p->nftw_ms,
			 (unsigned long long)p->entries,
			 bench_ratio(p->contains_ms - p->open_ms, p->nftw_ms));
		json_raw(&j, obj, false);
	}
	json_raw(&j, "]", false);
	return json_end(&j) ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
