/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/lookup_curve.c - `kvtier-bench lookup --curve`: how the
 * cost of kvt_contains() grows with the index.  The kvtier-rcu target alone
 * (1 then 2 reader threads, the writer churning a full L1, exactly as the
 * plain workload runs it) at 64K, 256K, 1M, 4M and 16M keys, capped by
 * --curve-max.  A fresh instance and key array per size, so one size's
 * pages never warm the next.
 *
 * The bound of each point is the same target at the smallest size, whose
 * index fits the caches: lookups_vs_smallest says how much of the small
 * index's rate survives a large one, p99_vs_smallest how the tail grows.
 *
 * Threads: main (per size as in lookup.c), plus the readers and writer of
 * lookup_run.c while a size runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/kvtier-bench/lookup_bench.h"

static const uint64_t curve_sizes[] = { 64ull << 10, 256ull << 10, 1ull << 20, 4ull << 20,
					16ull << 20 };

#define NSIZES (sizeof(curve_sizes) / sizeof(curve_sizes[0]))

struct curve_point {
	uint64_t keys;
	struct phase_result r[MAX_COUNTS];
	uint64_t live;
};

/* one size: a fresh key array and instance; @o->keys is set to @keys */
static int curve_point(struct lookup_opts *o, uint64_t keys, struct curve_point *pt)
{
	struct kvt_key *ids;
	struct target *t;
	uint64_t nkeys;
	int ret;

	o->keys = keys;
	ids = keys_make(o, &nkeys);
	if (!ids)
		return -ENOMEM;
	t = aligned_alloc(64, sizeof(*t));
	if (!t) {
		free(ids);
		return -ENOMEM;
	}
	target_init(t, TARGET_KVTIER, ids, nkeys, 0);
	fprintf(stderr, "kvtier-bench: lookup curve, %llu keys\n", (unsigned long long)keys);
	pt->keys = keys;
	ret = run_target(t, o, pt->r);
	pt->live = t->live;
	free(t);
	free(ids);
	return ret;
}

static int curve_plot(const char *file, const struct curve_point *pts, size_t n)
{
	FILE *g = bench_plot_open(file);

	if (!g)
		return -errno;
	fprintf(g, "set title 'kvt_contains (%d-key windows) against index size, writer running'\n"
		   "set xlabel 'keys in the index'\nset logscale x 2\nset format x '%%.0s%%c'\n"
		   "set ylabel 'million lookups/s'\nset y2label 'p99 per call (us, log)'\n"
		   "set ytics nomirror\nset y2tics\nset yrange [0:*]\nset logscale y2 10\n"
		   "set key left bottom\nset grid\n$d << EOD\n", WINDOW);
	for (size_t i = 0; i < n; i++)
		fprintf(g, "%llu %.4f %.4f %.3f %.3f\n", (unsigned long long)pts[i].keys,
			pts[i].r[0].lookups_per_s / 1e6, pts[i].r[1].lookups_per_s / 1e6,
			pts[i].r[0].p99_us, pts[i].r[1].p99_us);
	fprintf(g, "EOD\nplot $d using 1:2 with linespoints title 'lookups/s, 1 reader', "
		   "$d using 1:3 with linespoints title 'lookups/s, 2 readers', "
		   "$d using 1:4 axes x1y2 with linespoints dt 2 title 'p99, 1 reader', "
		   "$d using 1:5 axes x1y2 with linespoints dt 2 title 'p99, 2 readers'\n");
	return bench_plot_close(g, file);
}

static int curve_json(const struct lookup_opts *o, const struct curve_point *pts, size_t n)
{
	struct json_line j;

	json_begin(&j);
	json_str(&j, "workload", "lookup_curve");
	json_num(&j, "seconds", o->seconds, 3);
	json_u64(&j, "rounds", o->rounds);
	json_u64(&j, "write_rate", o->write_rate);
	json_u64(&j, "window", WINDOW);
	json_num(&j, "loadavg_1m", o->loadavg, 2);
	if (o->plot)
		json_str(&j, "plot", o->plot);
	json_raw(&j, "\"points\":[", true);
	for (size_t i = 0; i < n; i++) {
		const struct phase_result *a = pts[i].r, *b = pts[0].r;
		char obj[512];

		snprintf(obj, sizeof(obj),
			 "%s{\"keys\":%llu,\"live_keys\":%llu,\"lookups_per_s_1t\":%.0f,"
			 "\"lookups_per_s_2t\":%.0f,\"p50_us_1t\":%.3f,\"p50_us_2t\":%.3f,"
			 "\"p99_us_1t\":%.3f,\"p99_us_2t\":%.3f,\"hit_rate_2t\":%.4f,"
			 "\"writes_per_s_2t\":%.0f,\"other_cpus_2t\":%.3f,"
			 "\"lookups_vs_smallest_2t\":%.3f,\"p99_vs_smallest_2t\":%.3f}",
			 i ? "," : "", (unsigned long long)pts[i].keys,
			 (unsigned long long)pts[i].live, a[0].lookups_per_s, a[1].lookups_per_s,
			 a[0].p50_us, a[1].p50_us, a[0].p99_us, a[1].p99_us, a[1].hit_rate,
			 a[1].write_rate, a[1].other_cpu,
			 bench_ratio(a[1].lookups_per_s, b[1].lookups_per_s),
			 bench_ratio(a[1].p99_us, b[1].p99_us));
		json_raw(&j, obj, false);
	}
	json_raw(&j, "]", false);
	return json_end(&j);
}

int lookup_curve(struct lookup_opts *o)
{
	struct curve_point pts[NSIZES];
	size_t n = 0;
	int ret;

	printf("kvtier-bench lookup --curve\n");
	printf("  target        kvtier-rcu: kvt_contains(%d keys) from 1 then 2 readers, writer "
	       "%llu keys/s into a full L1 (chunks %d B)\n", WINDOW,
	       (unsigned long long)o->write_rate, CHUNK_BYTES);
	printf("  sizes         64K, 256K, 1M, 4M, 16M keys, up to --curve-max %llu\n",
	       (unsigned long long)o->curve_max);
	printf("  seconds       %g per configuration, %llu round%s (medians)\n", o->seconds,
	       (unsigned long long)o->rounds, o->rounds > 1 ? "s" : "");
	printf("  bound         the smallest size's figures (its index fits the caches)\n");
	printf("  load average  %.2f (1 min, before the run)\n\n", o->loadavg);
	fflush(stdout);
	for (size_t i = 0; i < NSIZES && curve_sizes[i] <= o->curve_max; i++) {
		ret = curve_point(o, curve_sizes[i], &pts[n]);
		if (ret)
			return ret;
		n++;
	}
	if (!n) {
		fprintf(stderr, "kvtier-bench lookup: --curve-max %llu is below the smallest size "
			"%llu\n", (unsigned long long)o->curve_max,
			(unsigned long long)curve_sizes[0]);
		return -EINVAL;
	}
	printf("%10s %12s %12s %9s %9s %9s %9s %8s %9s %8s %8s\n", "keys", "lookups/s 1t",
	       "lookups/s 2t", "p50 1t", "p50 2t", "p99 1t", "p99 2t", "hit 2t", "writes/s",
	       "vs 64K", "p99 x");
	for (size_t i = 0; i < n; i++) {
		const struct phase_result *a = pts[i].r, *b = pts[0].r;

		printf("%10llu %12.0f %12.0f %9.2f %9.2f %9.2f %9.2f %7.2f%% %9.0f %8.3f %8.3f\n",
		       (unsigned long long)pts[i].keys, a[0].lookups_per_s, a[1].lookups_per_s,
		       a[0].p50_us, a[1].p50_us, a[0].p99_us, a[1].p99_us, 100 * a[1].hit_rate,
		       a[1].write_rate, bench_ratio(a[1].lookups_per_s, b[1].lookups_per_s),
		       bench_ratio(a[1].p99_us, b[1].p99_us));
	}
	printf("latencies in us per call (%d keys); vs 64K: 2-reader lookups/s over the smallest\n"
	       "size's; p99 x: 2-reader p99 over the smallest size's\n", WINDOW);
	fflush(stdout);
	if (o->plot) {
		ret = curve_plot(o->plot, pts, n);
		if (ret)
			return ret;
	}
	return o->json ? curve_json(o, pts, n) : 0;
}
