/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/top.c - `kvtier top --url URL [--interval S] [--count N]`:
 * scrape a running engine's or kvtier-poold's /metrics every interval and
 * show what changed in it: per tier hit rate, GB/s and occupancy, and for
 * every latency histogram ops/s and p50/p99/p99.9 over the interval.
 * A terminal is redrawn in place; anything else gets one block per sample,
 * so `--count N` runs in scripts and tests.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/kvtier/cli.h"
#include "tools/kvtier/remote.h"

static void top_usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier top --url http://HOST:PORT [--interval S] [--count N]\n"
		"\n"
		"Follow a running engine (metrics.listen) or kvtier-poold (--metrics):\n"
		"every S seconds (default 1), per tier: hit rate, read and write GB/s,\n"
		"occupancy; per latency histogram: ops/s and p50/p99/p99.9 over the\n"
		"interval.  --count N stops after N samples (default: until killed).\n");
}

static double delta(const struct prom_samples *now, const struct prom_samples *then,
		    const char *name, const char *labels)
{
	return prom_value(now, name, labels, NULL) - prom_value(then, name, labels, NULL);
}

static void fmt_rate(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "%s", "-");
	else
		snprintf(buf, len, "%.1f", v);
}

static void fmt_latency(char *buf, size_t len, double s)
{
	if (s < 1e-3)
		snprintf(buf, len, "%.1f us", s * 1e6);
	else if (s < 1)
		snprintf(buf, len, "%.2f ms", s * 1e3);
	else
		snprintf(buf, len, "%.2f s", s);
}

static void show_tiers(const struct prom_samples *now, const struct prom_samples *then,
		       double secs)
{
	bool header = false;

	for (size_t i = 0; i < now->n; i++) {
		const char *lab = now->v[i].labels;
		double hits, misses, used, cap;
		char hit[16], occ[48], tier[64];
		bool have_slots;

		if (strcmp(now->v[i].name, "kvtier_hits_total"))
			continue;
		if (!header)
			printf("%-10s %7s %10s %10s %10s  %s\n", "tier", "hit %", "hits/s",
			       "read GB/s", "write GB/s", "occupancy");
		header = true;
		hits = delta(now, then, "kvtier_hits_total", lab);
		misses = delta(now, then, "kvtier_misses_total", lab);
		fmt_rate(hit, sizeof(hit), hits + misses > 0 ? 100 * hits / (hits + misses) : NAN);
		used = prom_value(now, "kvtier_entries", lab, &have_slots);
		cap = prom_value(now, "kvtier_slots", lab, NULL);
		if (have_slots && cap > 0)
			snprintf(occ, sizeof(occ), "%.0f/%.0f chunks (%.1f %%)", used, cap,
				 100 * used / cap);
		else
			snprintf(occ, sizeof(occ), "-");
		prom_label(lab, "tier", tier, sizeof(tier));
		printf("%-10s %7s %10.1f %10.3f %10.3f  %s\n", tier, hit, hits / secs,
		       delta(now, then, "kvtier_read_bytes_total", lab) / secs / 1e9,
		       delta(now, then, "kvtier_written_bytes_total", lab) / secs / 1e9, occ);
	}
	for (size_t i = 0; i < now->n; i++) {
		const char *lab = now->v[i].labels;
		char tier[64];
		double cap;

		if (strcmp(now->v[i].name, "kvtier_l2_used_bytes"))
			continue;
		cap = prom_value(now, "kvtier_l2_capacity_bytes", lab, NULL);
		prom_label(lab, "tier", tier, sizeof(tier));
		printf("%-10s %.3f GB used%s", tier, now->v[i].value / 1e9, cap > 0 ? "" : "\n");
		if (cap > 0)
			printf(" of %.3f GB (%.1f %%)\n", cap / 1e9, 100 * now->v[i].value / cap);
	}
	if (header)
		printf("\n");
}

static void show_latency(const struct prom_samples *now, const struct prom_samples *then,
			 double secs)
{
	printf("%-52s %10s %10s %10s %10s\n", "latency over the interval", "ops/s", "p50",
	       "p99", "p99.9");
	for (size_t i = 0; i < now->n; i++) {
		const struct prom_sample *v = &now->v[i];
		struct histo_snap a, b;
		char base[160], full[432], p50[16], p99[16], p999[16];
		size_t n = strlen(v->name);

		if (n < 6 || strcmp(v->name + n - 6, "_count"))
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(n - 6), v->name);
		if (!remote_histo(now, base, v->labels, &a))
			continue;
		remote_histo(then, base, v->labels, &b);
		for (int k = 0; k < HISTO_BUCKETS; k++)
			a.bucket[k] -= b.bucket[k] <= a.bucket[k] ? b.bucket[k] : a.bucket[k];
		a.count -= b.count <= a.count ? b.count : a.count;
		snprintf(full, sizeof(full), "%s%s%s%s", base, v->labels[0] ? "{" : "", v->labels,
			 v->labels[0] ? "}" : "");
		if (!a.count) {
			printf("%-52s %10.1f %10s %10s %10s\n", full, 0.0, "-", "-", "-");
			continue;
		}
		fmt_latency(p50, sizeof(p50), histo_quantile(&a, 0.5));
		fmt_latency(p99, sizeof(p99), histo_quantile(&a, 0.99));
		fmt_latency(p999, sizeof(p999), histo_quantile(&a, 0.999));
		printf("%-52s %10.1f %10s %10s %10s\n", full, (double)a.count / secs, p50, p99,
		       p999);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct prom_samples then, now;
	const char *url = NULL;
	double interval = 1, t_then, t_now;
	long count = 0;
	bool tty = isatty(STDOUT_FILENO);
	char *end;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.05 && interval <= 3600)) {
				fprintf(stderr, "kvtier top: --interval '%s': want seconds, 0.05..3600\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "kvtier top: --count '%s': want a number >= 1\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			top_usage(stdout);
			return CLI_EXIT_OK;
		case ':':
			fprintf(stderr, "kvtier top: %s needs a value\n", argv[optind - 1]);
			top_usage(stderr);
			return CLI_EXIT_USAGE;
		default:
			fprintf(stderr, "kvtier top: unknown option '%s'\n", argv[optind - 1]);
			top_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (!url || optind < argc) {
		fprintf(stderr, "kvtier top: %s\n", url ? "unexpected argument" :
			"which instance?  --url http://HOST:PORT of a running engine or kvtier-poold");
		top_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (remote_scrape(url, &then, NULL))
		return CLI_EXIT_FAIL;
	t_then = now_s();
	for (long k = 1; !count || k <= count; k++) {
		usleep((useconds_t)(interval * 1e6));
		if (remote_scrape(url, &now, NULL)) {
			prom_samples_free(&then);
			return CLI_EXIT_FAIL;
		}
		t_now = now_s();
		if (tty)
			fputs("\033[H\033[J", stdout);
		printf("kvtier top  %s  sample %ld  over %.2f s\n\n", url, k, t_now - t_then);
		show_tiers(&now, &then, t_now - t_then);
		show_latency(&now, &then, t_now - t_then);
		printf("\n");
		fflush(stdout);
		prom_samples_free(&then);
		then = now;
		t_then = t_now;
	}
	prom_samples_free(&then);
	return CLI_EXIT_OK;
}
