/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/cli.h - what the files of the kvtier command share.
 *
 * One file per subcommand: main.c dispatches, demo.c, stats.c,
 * config_cmd.c and inspect.c each export one <file>_main().  They use only
 * the public API (kvtier.h) and tools/common, except inspect.c, which reads
 * the on-device format itself (core/daxfmt.h, core/daxdev.h) since no
 * instance is opened.
 *
 * Exit codes, every subcommand: 0 success, 1 failure (an API call failed
 * or a check did not hold), 2 usage error (usage went to stderr).
 *
 * Threads: the tool's main thread, except where a callback says otherwise.
 */
#ifndef KVT_TOOLS_KVTIER_CLI_H
#define KVT_TOOLS_KVTIER_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kvtier.h"
#include "tools/common/opts.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* main.c */

/* Top-level usage to @f. */
void main_usage(FILE *f);

/* config_cmd.c */

/*
 * config_cmd_load() - apply @path (NULL: none) with kvt_config_load_yaml(),
 * then every KVT_* variable, onto @cfg.  Prints the library's message
 * (naming the key and value) to stderr on error.
 * Return: 0, or the library's negative code.
 */
int config_cmd_load(struct kvt_config *cfg, const char *path);

/* `kvtier config ...`; @argv[0] is "config".  Return: an exit code. */
int config_cmd_main(int argc, char **argv);

/* demo.c */

/* `kvtier demo ...`; @argv[0] is "demo".  Return: an exit code. */
int demo_main(int argc, char **argv);

/* inspect.c */

/* `kvtier inspect ...`; @argv[0] is "inspect".  Return: an exit code. */
int inspect_main(int argc, char **argv);

/* inspect_fs.c */

/* `kvtier inspect DIR`: an fs L2 tier's directory.  Return: an exit code
 * (failure when a file would not be served). */
int inspect_fs_main(const char *path, bool json, bool verify);

/* stats.c */

/* Every counter as an aligned "name  value  help" table. */
void stats_print_table(FILE *f, const struct kvt_stats *st);

/* Every counter as one JSON object, {"l1_hits":N,...}, no newline. */
void stats_print_json(FILE *f, const struct kvt_stats *st);

/* `kvtier stats ...`; @argv[0] is "stats".  Return: an exit code. */
int stats_main(int argc, char **argv);

#endif /* KVT_TOOLS_KVTIER_CLI_H */
