/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/config_cmd.c - `kvtier config check FILE` and
 * `kvtier config defaults`, and the config loading every subcommand shares.
 *
 * A config is built in one order everywhere: kvt_config_new() defaults (or
 * a subcommand's own defaults), then the YAML file, then KVT_* variables.
 *
 * check does what kvt_open() will do with the file: it loads it (per-key
 * checks, message naming the key and value), then runs kvt_config_check(),
 * the cross-knob checks (l1.evict_low below l1.evict_high, worker_id below
 * world_size, L1 holding two chunks, ...), without opening anything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/kvtier/cli.h"

int config_cmd_load(struct kvt_config *cfg, const char *path)
{
	char err[512] = "";
	int ret;

	if (path) {
		ret = kvt_config_load_yaml(cfg, path, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "kvtier: %s\n", err[0] ? err : kvt_strerror(ret));
			return ret;
		}
	}
	ret = kvt_config_apply_env(cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier: environment: %s\n", err[0] ? err : kvt_strerror(ret));
		return ret;
	}
	return 0;
}

static void config_usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier config check FILE\n"
		"       kvtier config defaults\n"
		"\n"
		"check     load FILE (LMCache YAML) on the defaults, then KVT_* variables;\n"
		"          run the cross-knob checks kvt_open() runs; print\n"
		"          \"FILE: ok\", how many LMCache keys were accepted but ignored,\n"
		"          and the effective config, which ends with those keys, once.\n"
		"          On error the message names the key and value, on stderr;\n"
		"          exit 1.\n"
		"defaults  print every knob's default (loads back as YAML).\n");
}

/* How many LMCache keys were ignored; kvt_config_dump() lists them, at
 * the end of the effective config, so they are named once. */
static void print_ignored(const struct kvt_config *cfg)
{
	const char *key;
	size_t i;

	for (i = 0; kvt_config_ignored(cfg, i, &key) == 0; i++)
		;
	if (i)
		printf("# LMCache keys accepted but ignored by kvtier: %zu (listed at the end)\n", i);
	else
		printf("# LMCache keys accepted but ignored by kvtier: none\n");
}

/* The cross-knob checks kvt_open() would run. */
static int cross_check(const struct kvt_config *cfg, const char *path)
{
	char err[512] = "";
	int ret = kvt_config_check(cfg, err, sizeof(err));

	if (ret)
		fprintf(stderr, "kvtier: %s: every key loads, but the config is inconsistent: %s\n",
			path, err[0] ? err : kvt_strerror(ret));
	return ret;
}

static int config_check(const char *path)
{
	struct kvt_config *cfg;
	int ret, code = CLI_EXIT_FAIL;

	ret = kvt_config_new(&cfg);
	if (ret) {
		fprintf(stderr, "kvtier: kvt_config_new: %s\n", kvt_strerror(ret));
		return CLI_EXIT_FAIL;
	}
	if (config_cmd_load(cfg, path))
		goto out_free;
	if (cross_check(cfg, path))
		goto out_free;
	printf("%s: ok\n", path);
	print_ignored(cfg);
	printf("# effective config (defaults, then %s, then KVT_* variables):\n", path);
	fflush(stdout);
	ret = kvt_config_dump(cfg, STDOUT_FILENO);
	if (ret) {
		fprintf(stderr, "kvtier: kvt_config_dump: %s\n", strerror(-ret));
		goto out_free;
	}
	code = CLI_EXIT_OK;
out_free:
	kvt_config_free(cfg);
	return code;
}

static int config_defaults(void)
{
	struct kvt_config *cfg;
	int ret;

	ret = kvt_config_new(&cfg);
	if (ret) {
		fprintf(stderr, "kvtier: kvt_config_new: %s\n", kvt_strerror(ret));
		return CLI_EXIT_FAIL;
	}
	fflush(stdout);
	ret = kvt_config_dump(cfg, STDOUT_FILENO);
	kvt_config_free(cfg);
	if (ret) {
		fprintf(stderr, "kvtier: kvt_config_dump: %s\n", strerror(-ret));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

int config_cmd_main(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h"))) {
		config_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (sub && !strcmp(sub, "check") && argc == 3 && argv[2][0] != '-')
		return config_check(argv[2]);
	if (sub && !strcmp(sub, "defaults") && argc == 2)
		return config_defaults();
	if (!sub)
		fprintf(stderr, "kvtier config: missing subcommand\n");
	else if (strcmp(sub, "check") && strcmp(sub, "defaults"))
		fprintf(stderr, "kvtier config: unknown subcommand '%s'\n", sub);
	else
		fprintf(stderr, "kvtier config %s: wrong arguments\n", sub);
	config_usage(stderr);
	return CLI_EXIT_USAGE;
}
