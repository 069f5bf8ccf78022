/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/report.c - latency quantiles, medians, the JSON line
 * every workload prints, what it prints for a bad command line or a refused
 * configuration key, and its gnuplot runs (see bench.h).  Main thread only.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvtier.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

int lat_init(struct lat_samples *s, uint64_t cap, uint64_t seed)
{
	s->ns = malloc(sizeof(*s->ns) * (cap ? cap : 1));
	if (!s->ns)
		return -ENOMEM;
	/* fault every page in now, not in the timed loop */
	memset(s->ns, 0, sizeof(*s->ns) * (cap ? cap : 1));
	s->cap = cap;
	s->n = 0;
	s->seen = 0;
	s->rng = seed | 1;
	return 0;
}

void lat_free(struct lat_samples *s)
{
	free(s->ns);
	s->ns = NULL;
	s->cap = s->n = s->seen = 0;
}

int lat_quantiles(const struct lat_samples *sets, size_t nsets, const double *q,
		  double *out_us, size_t nq)
{
	uint64_t total = 0, k = 0;
	double *all;

	for (size_t i = 0; i < nsets; i++)
		total += sets[i].n;
	if (!total) {
		for (size_t i = 0; i < nq; i++)
			out_us[i] = 0;
		return 0;
	}
	all = malloc(sizeof(*all) * total);
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < nsets; i++)
		for (uint64_t j = 0; j < sets[i].n; j++)
			all[k++] = sets[i].ns[j] / 1e3;
	for (size_t i = 0; i < nq; i++)
		out_us[i] = tool_quantile(all, total, q[i]);
	free(all);
	return 0;
}

static void json_put(struct json_line *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void json_put(struct json_line *j, const char *fmt, ...)
{
	size_t room = sizeof(j->buf) - j->len;
	va_list ap;
	int n;

	if (j->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		j->overflow = true;
		return;
	}
	j->len += (size_t)n;
}

static void json_key(struct json_line *j, const char *key)
{
	json_put(j, "%s\"%s\":", j->len > 1 ? "," : "", key);
}

void json_begin(struct json_line *j)
{
	j->len = 0;
	j->overflow = false;
	json_put(j, "{");
}

void json_str(struct json_line *j, const char *key, const char *val)
{
	json_key(j, key);
	json_put(j, "\"");
	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		if (*p == '"' || *p == '\\')
			json_put(j, "\\%c", *p);
		else if (*p < 0x20)
			json_put(j, "\\u%04x", *p);
		else
			json_put(j, "%c", *p);
	}
	json_put(j, "\"");
}

void json_u64(struct json_line *j, const char *key, uint64_t val)
{
	json_key(j, key);
	json_put(j, "%llu", (unsigned long long)val);
}

void json_num(struct json_line *j, const char *key, double val, int decimals)
{
	json_key(j, key);
	if (isfinite(val))
		json_put(j, "%.*f", decimals, val);
	else
		json_put(j, "null");
}

void json_raw(struct json_line *j, const char *text, bool key)
{
	if (key && j->len > 1)
		json_put(j, ",");
	json_put(j, "%s", text);
}

void json_bool(struct json_line *j, const char *key, bool val)
{
	json_key(j, key);
	json_put(j, "%s", val ? "true" : "false");
}

int json_end(struct json_line *j)
{
	json_put(j, "}");
	if (j->overflow) {
		fprintf(stderr, "kvtier-bench: JSON line longer than %zu bytes\n",
			sizeof(j->buf));
		return -ENOSPC;
	}
	printf("%s\n", j->buf);
	fflush(stdout);
	return 0;
}

double bench_ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double load = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%lf", &load) != 1)
		load = -1;
	fclose(f);
	return load;
}

int bench_opt_refused(const char *workload, int c, char **argv)
{
	fprintf(stderr, "kvtier-bench %s: %s: %s (see --help)\n", workload, argv[optind - 1],
		c == ':' ? "missing value" : "unknown option");
	return BENCH_EXIT_USAGE;
}

int bench_opt_leftover(const char *workload, int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	fprintf(stderr, "kvtier-bench %s: unexpected argument \"%s\" (see --help)\n", workload,
		argv[optind]);
	return BENCH_EXIT_USAGE;
}

int bench_plot_file(const char *workload, const char *file)
{
	if (*file && !strchr(file, '\''))
		return 0;
	fprintf(stderr, "kvtier-bench %s: --plot: \"%s\": not a usable file name\n", workload,
		file);
	return BENCH_EXIT_USAGE;
}

FILE *bench_plot_open(const char *file)
{
	FILE *g = popen("gnuplot", "w");

	if (!g) {
		fprintf(stderr, "kvtier-bench: cannot run gnuplot: %s\n", strerror(errno));
		return NULL;
	}
	/* noenhanced: titles name kvt_get and the like, and enhanced text
	 * would set what follows an underscore as a subscript */
	fprintf(g, "set terminal svg size 720,480 noenhanced\nset output '%s'\n", file);
	return g;
}

int bench_plot_close(FILE *g, const char *file)
{
	if (pclose(g) != 0) {
		fprintf(stderr, "kvtier-bench: gnuplot failed for %s\n", file);
		return -EIO;
	}
	printf("plot written to %s\n", file);
	return 0;
}

int bench_config_set(struct kvt_config *cfg, const char *key, const char *val)
{
	char err[256];
	int ret = kvt_config_set(cfg, key, val, err, sizeof(err));

	if (ret)
		fprintf(stderr, "kvtier-bench: kvt_config_set: %s\n", err);
	return ret;
}
