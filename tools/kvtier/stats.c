/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/stats.c - `kvtier stats --url URL | --config FILE
 * [--prometheus]`, and the table of struct kvt_stats fields the demo prints
 * too.
 *
 * --url reads a running engine's (metrics.listen) or kvtier-poold's
 * (--metrics) endpoint.  --config opens an instance from the config
 * (defaults, FILE, KVT_*), prints what it holds at open (its geometry, and
 * what a DAX device recovered) and closes it; its traffic counters are 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/kvtier/cli.h"
#include "tools/kvtier/remote.h"

#define PROM_BUF_START 4096
#define PROM_BUF_MAX (1u << 20)

void stats_print_table(FILE *f, const struct kvt_stats *st)
{
	const char *name, *help;
	uint64_t v;
	int w = 0;

	for (size_t i = 0; kvt_stats_field(st, i, &name, NULL, NULL, NULL) == 0; i++) {
		int n = (int)strlen(name);

		w = n > w ? n : w;
	}
	for (size_t i = 0; kvt_stats_field(st, i, &name, &help, NULL, &v) == 0; i++)
		fprintf(f, "%-*s %14llu  %s\n", w, name, (unsigned long long)v, help);
}

void stats_print_json(FILE *f, const struct kvt_stats *st)
{
	const char *name;
	uint64_t v;

	fputc('{', f);
	for (size_t i = 0; kvt_stats_field(st, i, &name, NULL, NULL, &v) == 0; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "", name, (unsigned long long)v);
	fputc('}', f);
}

static void stats_usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier stats --url http://HOST:PORT [--prometheus]\n"
		"       kvtier stats --config FILE [--prometheus]\n"
		"\n"
		"--url: the metrics of a running engine (its metrics.listen knob) or\n"
		"kvtier-poold (its --metrics option), as a table (histograms as count,\n"
		"p50, p99 and mean), or the raw Prometheus text with --prometheus.\n"
		"--config: open an instance from the config (defaults, then FILE, then\n"
		"KVT_* variables), print what it holds at open, and close it; its\n"
		"traffic counters start at 0.  `kvtier top --url` follows one live.\n");
}

static int print_prometheus(struct kvt *kvt)
{
	size_t len = PROM_BUF_START;
	char *buf = NULL;
	ssize_t n;

	for (;;) {
		char *grown = realloc(buf, len);

		if (!grown) {
			free(buf);
			fprintf(stderr, "kvtier: out of memory\n");
			return -ENOMEM;
		}
		buf = grown;
		n = kvt_stats_prometheus(kvt, buf, len);
		if (n != -ENOSPC || len >= PROM_BUF_MAX)
			break;
		len *= 2;
	}
	if (n < 0) {
		fprintf(stderr, "kvtier: kvt_stats_prometheus: %s\n", kvt_strerror((int)n));
		free(buf);
		return (int)n;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	free(buf);
	return 0;
}

static void print_table(struct kvt *kvt, const struct kvt_config *cfg)
{
	struct kvt_stats st;
	char chunk[32] = "?", size[32] = "?";
	size_t bytes = kvt_chunk_bytes(kvt);

	kvt_stats(kvt, &st, sizeof(st));
	kvt_config_get(cfg, "chunk_size", chunk, sizeof(chunk));
	kvt_config_get(cfg, "max_local_cpu_size", size, sizeof(size));
	printf("L1: %llu slots x %zu bytes (%.2f MiB, %s tokens) = %.3f GiB; max_local_cpu_size %s GB\n\n",
	       (unsigned long long)st.l1_slots, bytes, (double)bytes / (1 << 20), chunk,
	       (double)st.l1_slots * (double)bytes / (double)(1u << 30), size);
	stats_print_table(stdout, &st);
}

static int stats_url(const char *url, bool prom)
{
	struct prom_samples s;
	char *text;

	if (remote_scrape(url, &s, &text))
		return CLI_EXIT_FAIL;
	if (prom)
		fputs(text, stdout);
	else
		remote_print(stdout, &s);
	free(text);
	prom_samples_free(&s);
	return CLI_EXIT_OK;
}

int stats_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *url = NULL;
	bool prom = false;
	struct kvt_config *cfg;
	struct kvt *kvt;
	int c, ret, code = CLI_EXIT_FAIL;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'p':
			prom = true;
			break;
		case 'h':
			stats_usage(stdout);
			return CLI_EXIT_OK;
		case ':':
			fprintf(stderr, "kvtier stats: %s needs a value\n", argv[optind - 1]);
			stats_usage(stderr);
			return CLI_EXIT_USAGE;
		default:
			fprintf(stderr, "kvtier stats: unknown option '%s'\n", argv[optind - 1]);
			stats_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvtier stats: unexpected argument '%s'\n", argv[optind]);
		stats_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!url == !path) {
		fprintf(stderr, "kvtier stats: %s\n", url ? "--url and --config exclude each other" :
			"which instance?  --url http://HOST:PORT of a running engine or "
			"kvtier-poold, or --config FILE");
		stats_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (url)
		return stats_url(url, prom);
	ret = kvt_config_new(&cfg);
	if (ret) {
		fprintf(stderr, "kvtier: kvt_config_new: %s\n", kvt_strerror(ret));
		return CLI_EXIT_FAIL;
	}
	if (config_cmd_load(cfg, path))
		goto out_free_cfg;
	ret = kvt_open(cfg, &kvt, NULL, 0);
	if (ret) {
		fprintf(stderr, "kvtier: kvt_open: %s\n", kvt_strerror(ret));
		goto out_free_cfg;
	}
	if (prom) {
		if (print_prometheus(kvt))
			goto out_close;
	} else {
		print_table(kvt, cfg);
	}
	code = CLI_EXIT_OK;
out_close:
	kvt_close(kvt);
out_free_cfg:
	kvt_config_free(cfg);
	return code;
}
