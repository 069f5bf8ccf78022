/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/disk.c - `kvtier-bench disk`: store and load GB/s of
 * the fs L2 adapter beside raw io_uring O_DIRECT I/O of the same bytes, one
 * file per chunk, in the same directory, in the same run.
 *
 * Per chunk size, N chunks (--total-mib in all) live in page-aligned
 * buffers, every 8-byte word derived from the chunk's key.  Each of --reps
 * repetitions times four phases on WORK/<size>/ (WORK: a fresh directory
 * in --dir, removed at exit unless --keep):
 *   raw write  per chunk: openat(raw/cNNNNNNNN, O_CREAT|O_WRONLY|O_DIRECT,
 *              0600), an io_uring write of the whole chunk, close once it
 *              completes, --depth writes in flight; then syncfs.
 *   fs store   an fs adapter on fs/ (use_odirect true, durable false,
 *              io_depth --depth): submit_store() of --batch keys a task,
 *              --depth / --batch tasks in flight; then syncfs.
 *   raw read   the files read back with O_DIRECT, same depth.
 *   fs load    per task submit_lookup(), then submit_load(), then unlock().
 * Before every phase: sync and drop the page cache, so no phase inherits
 * another's dirty pages or warm cache.  Both reads are checked word by word
 * after their timed window; a wrong byte is fatal.  Between repetitions
 * both sides delete what they wrote (unlink / remove()), so every store
 * creates new files.  Raw and fs alternate which goes first in each
 * repetition, so a drifting VM favours neither; the table shows medians.
 *
 * After the last repetition's phases, with its files still in place, a
 * buffered adapter on the same directory loads them with the files in the
 * page cache, against the fastest copy of the same bytes by as many threads
 * (disk_cached.c): fs_buffered_load_ratio, a warm restart's read.
 *
 * Durability: durable:false makes the adapter skip fsync, so the raw side
 * does not fsync either; but each write phase ends with syncfs() inside its
 * timed window, on both sides, so neither is credited for metadata (or, if
 * O_DIRECT ever falls back to buffered, data) still dirty in memory.
 *
 * Threads: main (setup, raw I/O, adapter submits, checks, report); the
 * adapter's own threads run its I/O and the task callbacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "tools/kvtier-bench/disk_bench.h"

#define BIG_CHUNK MIB /* the goal applies to chunks of at least this size */

/* Goals, printed beside the results; never a failure. */
#define GOAL_RATIO 0.85
#define GOAL_CACHED_RATIO 0.6

#define TMPFS_MAGIC_ 0x01021994

/* ---- the work directory --------------------------------------------------- */

static const char *fs_name(unsigned long magic)
{
	switch (magic) {
	case 0xef53: return "ext2/3/4";
	case 0x58465342: return "xfs";
	case 0x9123683e: return "btrfs";
	case 0x2fc12fc1: return "zfs";
	case 0x6969: return "nfs";
	case 0x65735546: return "fuse";
	case 0x794c7630: return "overlayfs";
	case TMPFS_MAGIC_: return "tmpfs";
	default: return NULL;
	}
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (remove(path))
		fprintf(stderr, "kvtier-bench: remove %s: %s\n", path, strerror(errno));
	return 0;
}

/*
 * probe_dir() - what @work sits on, whether it takes O_DIRECT, and whether
 * it has room for one chunk size's files of both sides.
 */
static int probe_dir(const char *work, const struct disk_opts *o, char *fsname, size_t len,
		     bool *tmpfs)
{
	char path[4200];
	struct statfs sf;
	struct statvfs sv;
	const char *name;
	double need, have;
	int fd;

	if (statfs(work, &sf) || statvfs(work, &sv)) {
		fprintf(stderr, "kvtier-bench: statfs %s: %s\n", work, strerror(errno));
		return -errno;
	}
	name = fs_name((unsigned long)sf.f_type);
	if (name)
		snprintf(fsname, len, "%s", name);
	else
		snprintf(fsname, len, "magic 0x%lx", (unsigned long)sf.f_type);
	*tmpfs = sf.f_type == TMPFS_MAGIC_;
	snprintf(path, sizeof(path), "%s/odirect-probe", work);
	fd = open(path, O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;

		fprintf(stderr, "kvtier-bench: %s (%s) refuses O_DIRECT: %s; the baseline is raw "
				"O_DIRECT I/O, so pick a directory on a block device with --dir "
				"(the default, /var/tmp, usually is one)\n", work, fsname,
			strerror(e));
		return -e;
	}
	close(fd);
	unlink(path);
	/* both sides' files of the largest size at once (more with --keep),
	 * with room for the adapter's headers */
	need = (double)o->total_mib * MIB * 2.0 * 1.05 * (o->keep ? (double)o->nsizes : 1.0);
	have = (double)sv.f_bavail * (double)sv.f_frsize;
	if (have < need) {
		fprintf(stderr, "kvtier-bench: %s has %.0f MiB free, the run needs %.0f MiB\n",
			work, have / MIB, need / MIB);
		return -ENOSPC;
	}
	return 0;
}

/* ---- the workload --------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench disk [options]\n\n"
		"Store and load GB/s of the fs L2 adapter (use_odirect, durable false) beside\n"
		"raw io_uring O_DIRECT files of the same bytes (one file per chunk, opened,\n"
		"written or read, closed) in the same directory, alternating which runs first.\n"
		"Every phase starts after sync and drop_caches; write phases end with syncfs;\n"
		"loaded and read bytes are checked.  Figures are medians of --reps.\n\n"
		"options:\n"
		"  --dir DIR         where to make the work directory (default /var/tmp); it\n"
		"                    must take O_DIRECT: tmpfs (/dev/shm) refuses it on older\n"
		"                    kernels and only copies memory on newer ones\n"
		"  --total-mib M     bytes per chunk size, in MiB (default 256)\n"
		"  --chunk-kib LIST  chunk sizes in KiB, multiples of 4 (default 256,1024,4096)\n"
		"  --depth D         I/O in flight: io_uring depth of the raw side and the\n"
		"                    adapter's io_depth (default 64)\n"
		"  --batch B         keys per adapter task; depth / batch tasks in flight\n"
		"                    (default 32)\n"
		"  --reps R          repetitions of each phase (default 3; up to %d)\n"
		"  --keep            leave the work directory and the last repetition's files\n"
		"  --plot FILE       also write an SVG of GB/s against chunk size (gnuplot)\n"
		"  --json            print one JSON object as the last line of stdout\n"
		"  --help            this text\n", MAX_REPS);
}

static int parse_sizes(const char *arg, struct disk_opts *o)
{
	if (opt_parse_u64_list("kvtier-bench", "chunk-kib", arg, 4, 1048576, o->chunk_kib,
			       MAX_CHUNK_SIZES, &o->nsizes))
		return -EINVAL;
	for (size_t i = 0; i < o->nsizes; i++) {
		if (o->chunk_kib[i] % 4) {
			fprintf(stderr, "kvtier-bench: --chunk-kib: \"%llu\": not a multiple of 4 "
					"(O_DIRECT needs whole 4 KiB blocks)\n",
				(unsigned long long)o->chunk_kib[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct disk_opts *o)
{
	enum { OPT_DIR = 256, OPT_TOTAL, OPT_CHUNK, OPT_DEPTH, OPT_BATCH, OPT_REPS, OPT_KEEP,
	       OPT_PLOT, OPT_JSON };
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "total-mib", required_argument, NULL, OPT_TOTAL },
		{ "chunk-kib", required_argument, NULL, OPT_CHUNK },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "reps", required_argument, NULL, OPT_REPS },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, bad = 0;

	*o = (struct disk_opts){ .dir = "/var/tmp", .total_mib = 256,
				 .chunk_kib = { 256, 1024, 4096 }, .nsizes = 3, .depth = 64,
				 .batch = 32, .reps = 3 };
	opterr = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DIR:
			o->dir = optarg;
			break;
		case OPT_TOTAL:
			bad = opt_parse_u64("kvtier-bench", "total-mib", optarg, 1, 1048576,
					    &o->total_mib);
			break;
		case OPT_CHUNK:
			bad = parse_sizes(optarg, o);
			break;
		case OPT_DEPTH:
			bad = opt_parse_u64("kvtier-bench", "depth", optarg, 1, 4096, &o->depth);
			break;
		case OPT_BATCH:
			bad = opt_parse_u64("kvtier-bench", "batch", optarg, 1, 4096, &o->batch);
			break;
		case OPT_REPS:
			bad = opt_parse_u64("kvtier-bench", "reps", optarg, 1, MAX_REPS, &o->reps);
			break;
		case OPT_KEEP:
			o->keep = true;
			break;
		case OPT_PLOT:
			if (bench_plot_file("disk", optarg))
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
			return bench_opt_refused("disk", c, argv);
		}
	}
	if (bad)
		return BENCH_EXIT_USAGE;
	if (bench_opt_leftover("disk", argc, argv))
		return BENCH_EXIT_USAGE;
	for (size_t i = 0; i < o->nsizes; i++) {
		if (o->chunk_kib[i] * 1024 > o->total_mib * MIB) {
			fprintf(stderr, "kvtier-bench disk: --chunk-kib %llu is more than "
					"--total-mib %llu\n", (unsigned long long)o->chunk_kib[i],
				(unsigned long long)o->total_mib);
			return BENCH_EXIT_USAGE;
		}
	}
	return 0;
}

/* "256KiB", "4MiB": valid until the next call. */
const char *size_label(size_t bytes)
{
	static char buf[32];

	if (bytes % MIB)
		snprintf(buf, sizeof(buf), "%zuKiB", bytes / 1024);
	else
		snprintf(buf, sizeof(buf), "%lluMiB", (unsigned long long)(bytes / MIB));
	return buf;
}

/* plot() - the rows' four GB/s series against chunk size, by gnuplot. */
static int plot(const char *file, const struct row *rows, size_t nrows)
{
	FILE *g = bench_plot_open(file);

	if (!g)
		return -errno;
	fprintf(g, "set title 'fs adapter against raw io_uring O_DIRECT (median of reps)'\n"
		   "set xlabel 'chunk size (KiB)'\nset ylabel 'GB/s'\nset logscale x 2\n"
		   "set yrange [0:*]\nset key outside right\nset grid\n$d << EOD\n");
	for (size_t i = 0; i < nrows; i++)
		fprintf(g, "%zu %.3f %.3f %.3f %.3f\n", rows[i].chunk_bytes / 1024,
			rows[i].gbps[PH_RAW_WRITE], rows[i].gbps[PH_FS_STORE],
			rows[i].gbps[PH_RAW_READ], rows[i].gbps[PH_FS_LOAD]);
	fprintf(g, "EOD\nplot $d using 1:2 with linespoints title 'raw write', "
		   "$d using 1:3 with linespoints title 'fs store', "
		   "$d using 1:4 with linespoints title 'raw read', "
		   "$d using 1:5 with linespoints title 'fs load'\n");
	return bench_plot_close(g, file);
}

static void json_rows(struct json_line *j, const struct row *rows, size_t nrows, uint64_t reps)
{
	json_raw(j, "\"rows\":[", true);
	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];
		char obj[512];

		snprintf(obj, sizeof(obj),
			       "%s{\"chunk_bytes\":%zu,\"chunks\":%zu,\"raw_write_gbps\":%.3f,"
			       "\"fs_store_gbps\":%.3f,\"store_ratio\":%.3f,\"raw_read_gbps\":%.3f,"
			       "\"fs_load_gbps\":%.3f,\"load_ratio\":%.3f,\"fs_errors\":%llu,",
			       i ? "," : "", w->chunk_bytes, w->n,
			       w->gbps[PH_RAW_WRITE], w->gbps[PH_FS_STORE],
			       bench_ratio(w->gbps[PH_FS_STORE], w->gbps[PH_RAW_WRITE]),
			       w->gbps[PH_RAW_READ], w->gbps[PH_FS_LOAD],
			       bench_ratio(w->gbps[PH_FS_LOAD], w->gbps[PH_RAW_READ]),
			       (unsigned long long)w->fs_errors);
		json_raw(j, obj, false);
		snprintf(obj, sizeof(obj), "\"fs_buffered_load_gbps\":%.3f,\"cached_bound_gbps\":%.3f,"
			 "\"fs_buffered_load_ratio\":%.3f,\"cached_memcpy_gbps\":%.3f,"
			 "\"fs_buffered_load_ratio_memcpy\":%.3f,\"rep_gbps\":[", w->cached_gbps,
			 w->cached_bound_gbps, bench_ratio(w->cached_gbps, w->cached_bound_gbps),
			 w->cached_memcpy_gbps, bench_ratio(w->cached_gbps, w->cached_memcpy_gbps));
		json_raw(j, obj, false);
		/* per repetition: raw write, fs store, raw read, fs load */
		for (uint64_t r = 0; r < reps; r++) {
			snprintf(obj, sizeof(obj), "%s[%.3f,%.3f,%.3f,%.3f]", r ? "," : "",
				       w->rep_gbps[r][PH_RAW_WRITE], w->rep_gbps[r][PH_FS_STORE],
				       w->rep_gbps[r][PH_RAW_READ], w->rep_gbps[r][PH_FS_LOAD]);
			json_raw(j, obj, false);
		}
		json_raw(j, "]}", false);
	}
	json_raw(j, "]", false);
}

static void print_ratio(const char *what, double ratio, bool goal)
{
	if (!isfinite(ratio))
		printf("%-40s %8s  (no chunk size in this range)\n", what, "-");
	else if (goal)
		printf("%-40s %8.3f  >= %.2f %s\n", what, ratio, GOAL_RATIO,
		       ratio >= GOAL_RATIO ? "(met)" : "(not met)");
	else
		printf("%-40s %8.3f  (reported, no goal)\n", what, ratio);
}

/* The row with the lowest @num / @den ratio among chunks of at least (@big)
 * or under (!@big) BIG_CHUNK bytes, or NULL when there is none. */
static const struct row *lowest(const struct row *rows, size_t nrows, enum phase num,
				enum phase den, bool big)
{
	const struct row *best = NULL;

	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];

		if ((w->chunk_bytes >= BIG_CHUNK) != big)
			continue;
		if (!best || bench_ratio(w->gbps[num], w->gbps[den]) <
				     bench_ratio(best->gbps[num], best->gbps[den]))
			best = w;
	}
	return best;
}

static double ratio_of(const struct row *w, enum phase num, enum phase den)
{
	return w ? bench_ratio(w->gbps[num], w->gbps[den]) : NAN;
}

static double gbps_of(const struct row *w, enum phase ph)
{
	return w ? w->gbps[ph] : NAN;
}

int disk_main(int argc, char **argv)
{
	struct row *rows;
	const struct row *ws, *wl, *ss, *sl, *cached = NULL;
	double cached_ratio = NAN;
	struct disk_opts o;
	struct json_line j;
	char work[4096], fsname[64];
	bool drop_ok = true, tmpfs = false;
	double loadavg;
	size_t nrows = 0;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	if (snprintf(work, sizeof(work), "%s/kvtier-bench-disk.XXXXXX", o.dir) >=
	    (int)sizeof(work) - 64) {
		fprintf(stderr, "kvtier-bench disk: --dir: path too long\n");
		return BENCH_EXIT_USAGE;
	}
	if (!mkdtemp(work)) {
		fprintf(stderr, "kvtier-bench: mkdtemp %s: %s\n", work, strerror(errno));
		return BENCH_EXIT_FAIL;
	}
	rows = calloc(o.nsizes, sizeof(*rows));
	ret = rows ? probe_dir(work, &o, fsname, sizeof(fsname), &tmpfs) : -ENOMEM;
	if (ret)
		goto out;
	loadavg = bench_loadavg();
	printf("kvtier-bench disk\n");
	printf("  directory     %s (%s)%s\n", work, fsname,
	       o.keep ? ", kept" : ", removed at exit");
	if (tmpfs)
		printf("  note          tmpfs takes O_DIRECT as a memory copy: these are not a "
		       "disk's figures\n");
	printf("  bytes         %llu MiB per chunk size;", (unsigned long long)o.total_mib);
	for (size_t i = 0; i < o.nsizes; i++)
		printf(" %llu", (unsigned long long)o.chunk_kib[i]);
	printf(" KiB chunks\n");
	printf("  raw           a file per chunk: open O_CREAT|O_WRONLY|O_DIRECT 0600, io_uring "
	       "write, close; read back O_DIRECT; depth %llu\n", (unsigned long long)o.depth);
	printf("  fs adapter    use_odirect true, durable false, io_depth %llu; %llu keys a task, "
	       "%llu tasks in flight; load = lookup + load + unlock\n",
	       (unsigned long long)o.depth, (unsigned long long)o.batch,
	       (unsigned long long)(o.depth / o.batch ? o.depth / o.batch : 1));
	printf("  timing        write phases end with syncfs (no fsync on either side); reads "
	       "checked after their window\n");
	printf("  order         %llu repetitions, raw first in the 1st, 3rd, ..., fs first in the "
	       "2nd, 4th, ...; figures are medians\n", (unsigned long long)o.reps);
	printf("  load average  %.2f (1 min, before the run)\n\n", loadavg);
	fflush(stdout);
	for (size_t i = 0; i < o.nsizes; i++) {
		ret = measure_size(&o, work, (size_t)o.chunk_kib[i] * 1024, &rows[nrows], &drop_ok);
		if (ret)
			goto out;
		nrows++;
	}
	printf("%-9s %7s %10s %9s %7s %9s %8s %7s\n", "chunk", "files", "raw write", "fs store",
	       "ratio", "raw read", "fs load", "ratio");
	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];

		printf("%-9s %7zu %10.3f %9.3f %7.3f %9.3f %8.3f %7.3f\n",
		       size_label(w->chunk_bytes), w->n, w->gbps[PH_RAW_WRITE],
		       w->gbps[PH_FS_STORE], ratio_of(w, PH_FS_STORE, PH_RAW_WRITE),
		       w->gbps[PH_RAW_READ], w->gbps[PH_FS_LOAD],
		       ratio_of(w, PH_FS_LOAD, PH_RAW_READ));
	}
	printf("GB/s = 1e9 bytes/s of chunk payload; ratio = fs / raw.\n");
	printf("\nCPU ms per GB (this process, all threads, adapter included)\n");
	printf("%-9s %10s %9s %9s %8s\n", "chunk", "raw write", "fs store", "raw read", "fs load");
	for (size_t i = 0; i < nrows; i++)
		printf("%-9s %10.1f %9.1f %9.1f %8.1f\n", size_label(rows[i].chunk_bytes),
		       rows[i].cpu_ms_per_gb[PH_RAW_WRITE], rows[i].cpu_ms_per_gb[PH_FS_STORE],
		       rows[i].cpu_ms_per_gb[PH_RAW_READ], rows[i].cpu_ms_per_gb[PH_FS_LOAD]);
	printf("\nbuffered fs loads, files in the page cache, against the fastest 1-thread "
	       "copy\n");
	printf("%-9s %10s %10s %-8s %7s %11s %7s\n", "chunk", "fs load", "copy GB/s", "copy",
	       "ratio", "memcpy GB/s", "ratio");
	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];
		double cr = bench_ratio(w->cached_gbps, w->cached_bound_gbps);

		printf("%-9s %10.3f %10.3f %-8s %7.3f %11.3f %7.3f\n", size_label(w->chunk_bytes),
		       w->cached_gbps, w->cached_bound_gbps,
		       w->cached_bound_copy ? w->cached_bound_copy : "-", cr, w->cached_memcpy_gbps,
		       bench_ratio(w->cached_gbps, w->cached_memcpy_gbps));
		if (w->chunk_bytes >= BIG_CHUNK && (!cached || cr < cached_ratio)) {
			cached = w;
			cached_ratio = cr;
		}
	}
	printf("\nfs adapter status at the end of each size\n");
	for (size_t i = 0; i < nrows; i++)
		printf("%-9s %s, errors %llu; %s\n", size_label(rows[i].chunk_bytes),
		       rows[i].fs_healthy ? "healthy" : "UNHEALTHY",
		       (unsigned long long)rows[i].fs_errors, rows[i].fs_detail);
	printf("\npage cache    %s\n",
	       drop_ok ? "synced and dropped before every phase"
		       : "NOT dropped before every phase: writing /proc/sys/vm/drop_caches was "
			 "refused (not root?)");
	ws = lowest(rows, nrows, PH_FS_STORE, PH_RAW_WRITE, true);
	wl = lowest(rows, nrows, PH_FS_LOAD, PH_RAW_READ, true);
	ss = lowest(rows, nrows, PH_FS_STORE, PH_RAW_WRITE, false);
	sl = lowest(rows, nrows, PH_FS_LOAD, PH_RAW_READ, false);
	printf("\n%-40s %8s  %s\n", "ratio", "value", "goal (info only)");
	print_ratio("store_ratio (lowest, chunks >= 1 MiB)",
		    ratio_of(ws, PH_FS_STORE, PH_RAW_WRITE), true);
	print_ratio("load_ratio (lowest, chunks >= 1 MiB)", ratio_of(wl, PH_FS_LOAD, PH_RAW_READ),
		    true);
	printf("%-40s %8.3f  >= %.2f %s\n", "fs_buffered_load_ratio (lowest, >= 1 MiB)",
	       cached_ratio, GOAL_CACHED_RATIO, cached_ratio >= GOAL_CACHED_RATIO ? "(met)" :
										"(not met)");
	print_ratio("store_ratio (lowest, chunks < 1 MiB)", ratio_of(ss, PH_FS_STORE, PH_RAW_WRITE),
		    false);
	print_ratio("load_ratio (lowest, chunks < 1 MiB)", ratio_of(sl, PH_FS_LOAD, PH_RAW_READ),
		    false);
	fflush(stdout);
	if (o.plot && plot(o.plot, rows, nrows)) {
		ret = -EIO;
		goto out;
	}
	if (!o.json)
		goto out;
	json_begin(&j);
	json_str(&j, "workload", "disk");
	json_str(&j, "dir", work);
	json_str(&j, "fs", fsname);
	json_u64(&j, "total_mib", o.total_mib);
	json_u64(&j, "depth", o.depth);
	json_u64(&j, "batch", o.batch);
	json_u64(&j, "reps", o.reps);
	json_str(&j, "stat", "median");
	json_bool(&j, "caches_dropped", drop_ok);
	json_num(&j, "loadavg_1m", loadavg, 2);
	json_num(&j, "store_ratio", ratio_of(ws, PH_FS_STORE, PH_RAW_WRITE), 3);
	json_num(&j, "load_ratio", ratio_of(wl, PH_FS_LOAD, PH_RAW_READ), 3);
	json_num(&j, "store_gbps", gbps_of(ws, PH_FS_STORE), 3);
	json_num(&j, "raw_write_gbps", gbps_of(ws, PH_RAW_WRITE), 3);
	json_num(&j, "load_gbps", gbps_of(wl, PH_FS_LOAD), 3);
	json_num(&j, "raw_read_gbps", gbps_of(wl, PH_RAW_READ), 3);
	json_u64(&j, "store_ratio_chunk_bytes", ws ? ws->chunk_bytes : 0);
	json_u64(&j, "load_ratio_chunk_bytes", wl ? wl->chunk_bytes : 0);
	json_num(&j, "small_store_ratio", ratio_of(ss, PH_FS_STORE, PH_RAW_WRITE), 3);
	json_num(&j, "small_load_ratio", ratio_of(sl, PH_FS_LOAD, PH_RAW_READ), 3);
	json_bool(&j, "goal_store_met", ratio_of(ws, PH_FS_STORE, PH_RAW_WRITE) >= GOAL_RATIO);
	json_bool(&j, "goal_load_met", ratio_of(wl, PH_FS_LOAD, PH_RAW_READ) >= GOAL_RATIO);
	json_num(&j, "fs_buffered_load_ratio", cached_ratio, 3);
	json_num(&j, "fs_buffered_load_gbps", cached ? cached->cached_gbps : NAN, 3);
	json_num(&j, "fs_buffered_bound_gbps", cached ? cached->cached_bound_gbps : NAN, 3);
	json_num(&j, "fs_buffered_load_ratio_memcpy",
		 cached ? bench_ratio(cached->cached_gbps, cached->cached_memcpy_gbps) : NAN, 3);
	json_u64(&j, "fs_buffered_load_ratio_chunk_bytes", cached ? cached->chunk_bytes : 0);
	json_bool(&j, "goal_fs_buffered_load_met", cached_ratio >= GOAL_CACHED_RATIO);
	json_rows(&j, rows, nrows, o.reps);
	if (o.plot)
		json_str(&j, "plot", o.plot);
	ret = json_end(&j);
out:
	if (ret == -ENOMEM)
		fprintf(stderr, "kvtier-bench: out of memory\n");
	if (!o.keep)
		nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(rows);
	return ret ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
