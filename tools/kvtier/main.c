/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/main.c - the kvtier command: dispatch to one subcommand.
 *
 *	kvtier demo     long-document QA on an embedded config (demo.c)
 *	kvtier stats    metrics of a running engine or daemon (stats.c, remote.c)
 *	kvtier top      the same, live, per tier (top.c)
 *	kvtier config   check a YAML file, or print the defaults (config_cmd.c)
 *	kvtier inspect  what a DAX device holds, read-only (inspect.c)
 *	kvtier version
 *
 * Each subcommand gets argv from its own name on, so it parses its options
 * with getopt_long() as a program of its own would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/kvtier/cli.h"
#include "tools/kvtier/remote.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static int version_main(int argc, char **argv);

static const struct command commands[] = {
	{ "demo", demo_main,
	  "store, restore and restart a long-document QA KV cache on every tier" },
	{ "stats", stats_main,
	  "print the metrics of a running engine or kvtier-poold (--url)" },
	{ "top", top_main,
	  "follow a running engine or kvtier-poold live: per tier and latency" },
	{ "config", config_cmd_main,
	  "check FILE: validate an LMCache YAML; defaults: print every knob" },
	{ "inspect", inspect_main,
	  "print what a DAX device (or a file emulating one) holds, read-only" },
	{ "version", version_main, "print the kvtier version" },
};

void main_usage(FILE *f)
{
	fprintf(f, "usage: kvtier <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\n"
		"  kvtier demo [--config FILE] [--docs N] [--tokens N] [--no-dax] [--no-fs]\n"
		"  kvtier stats --url http://HOST:PORT | --config FILE [--prometheus]\n"
		"  kvtier top --url http://HOST:PORT [--interval S] [--count N]\n"
		"  kvtier config check FILE\n"
		"  kvtier config defaults\n"
		"  kvtier inspect DEVICE [--json] [--entries]\n"
		"  kvtier inspect DIR [--json] [--verify]\n"
		"  kvtier version\n"
		"\n"
		"A config is the defaults, then FILE (LMCache YAML), then every KVT_*\n"
		"environment variable (KVT_CHUNK_SIZE sets chunk_size).\n"
		"`kvtier <command> --help` describes one command.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int version_main(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "kvtier version: unexpected argument '%s'\n", argv[1]);
		return CLI_EXIT_USAGE;
	}
	printf("kvtier %d.%d (libkvtier API %d.%d)\n", KVT_VERSION_MAJOR,
	       KVT_VERSION_MINOR, KVT_VERSION_MAJOR, KVT_VERSION_MINOR);
	return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (!name) {
		main_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		main_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(name, "--version"))
		return version_main(1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "kvtier: unknown command '%s'\n\n", name);
	main_usage(stderr);
	return CLI_EXIT_USAGE;
}
