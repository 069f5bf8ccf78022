/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/options.c - the command line of kvtier-stress: usage,
 * tier names, and stress_parse_opts().
 */
#define _GNU_SOURCE
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/stress.h"

#define PROG "kvtier-stress"

static const char usage_text[] =
	"usage: kvtier-stress [options]\n"
	"Concurrency harness: mixed kvtier operations on T threads over a keyspace\n"
	"larger than L1, every read verified, then leak and accounting checks.\n"
	"\n"
	"  --threads T        worker threads (default 4)\n"
	"  --seconds S        run time (default 10; KVT_STRESS_SECONDS overrides)\n"
	"  --keys K           keyspace size (default 4 x the L1 slots; dax tiered:\n"
	"                     2 x the DAX slots; dax primary: 4 x the DAX slots;\n"
	"                     fs, resp, pool: 8 x the L1 slots; fs staging: 64 x them)\n"
	"  --capacity-mb M    L1 size in MiB (default 64; dax tiered: DAX / 4; fs, resp,\n"
	"                     pool: 8 (per process); fs staging: the staging area, default 1)\n"
	"  --chunk-kb C       chunk size in KiB (default 64)\n"
	"  --pin-ttl-ms N     pin lease; 0 (default) disables the pin-monitor\n"
	"  --seed N           worker RNG seed (default: from the clock, printed)\n"
	"  --tier NAME        l1 (default), dax, fs, resp or pool\n"
	"  --dax-mode MODE    tiered (default: L1 in front, write-through) or primary\n"
	"                     (DAX slots only)\n"
	"  --dax-mb N         DAX arena in MiB (default 64)\n"
	"  --dax-path P       DAX device or tmpfs file to use, reformatted and kept\n"
	"                     (default: a fresh file in /dev/shm, removed at exit)\n"
	"  --fs-mode MODE     cache (default: L1 in front, write-through, promotion)\n"
	"                     or staging (L1 only stages writes; reads from disk)\n"
	"  --fs-dir DIR       directory of the chunk files: created if absent, must be\n"
	"                     empty, kept (default: a fresh directory in /var/tmp,\n"
	"                     removed at exit)\n"
	"  --fs-mb N          fs capacity in MiB, oldest out first; 0 unbounded\n"
	"                     (default 32)\n"
	"  --fault-ppm N      fs store and load I/Os failed with EIO per million\n"
	"                     (default 2000)\n"
	"  --corrupt-ms N     fs, resp: corrupt a random chunk file or value every N ms;\n"
	"                     0 never (default 20)\n"
	"  --resp-url URL     resp: the server (redis://[user[:password]@]host[:port]);\n"
	"                     values get a prefix of this run and expire in an hour\n"
	"                     (default: a Redis Cluster of 3 masters of our own on\n"
	"                     loopback ports, stopped at exit)\n"
	"  --resp-cluster     resp: --resp-url is a Redis Cluster\n"
	"  --resp-timeout-ms N  resp: the adapter's timeout_ms (default 200)\n"
	"  --resp-pause-ms N  resp, own cluster: stop one master (SIGSTOP) this long\n"
	"                     every 2.5 s; 0 never (default 400)\n"
	"  --procs P          pool: engine processes, each T threads (default 3)\n"
	"  --kill-ms N        pool: SIGKILL one engine process holding pins every N ms\n"
	"                     and start a fresh one; 0 never (default: a quarter of\n"
	"                     the run)\n"
	"  --pool-mb N        pool, own daemon: its /dev/shm pool in MiB (default 512)\n"
	"  --pool-server ADDR pool: the daemon's ZeroMQ endpoint (with --pool-rm; it must\n"
	"                     hold no key of the keyspace; default: a kvtier-poold of our\n"
	"                     own from this binary's folder, stopped at exit)\n"
	"  --pool-rm PATH     pool: that daemon's resource-manager socket\n"
	"  --metrics ADDR     serve the instance's /metrics on ADDR (metrics.listen;\n"
	"                     one instance: not with --procs)\n"
	"  --json             one JSON object on the last stdout line\n"
	"  --verbose          print every check, not only failed ones\n"
	"  --help             this text\n"
	"\n"
	"Exit status: 0 no corruption, no unexpected error and every check held;\n"
	"1 otherwise; 2 bad usage.\n";

const char *const stress_tier_names[] = {
	[TIER_L1] = "l1", [TIER_DAX_TIERED] = "dax-tiered", [TIER_DAX_PRIMARY] = "dax-primary",
	[TIER_FS_CACHE] = "fs-cache", [TIER_FS_STAGING] = "fs-staging", [TIER_RESP] = "resp",
	[TIER_POOL] = "pool",
};

const struct tier_ops *const stress_tier_ops[] = {
	[TIER_L1] = &tier_l1, [TIER_DAX_TIERED] = &tier_dax, [TIER_DAX_PRIMARY] = &tier_dax,
	[TIER_FS_CACHE] = &tier_fs, [TIER_FS_STAGING] = &tier_fs, [TIER_RESP] = &tier_resp,
	[TIER_POOL] = &tier_pool,
};

/* ---- options ---- */

/* True if @text needs no escaping inside a JSON string. */
static bool json_safe(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if (*p < 0x20 || *p == '"' || *p == '\\')
			return false;
	return true;
}

int stress_parse_opts(int argc, char **argv, struct stress_opts *o)
{
	enum { O_THREADS = 256, O_SECONDS, O_KEYS, O_CAP, O_CHUNK, O_TTL, O_SEED, O_TIER,
	       O_DAX_MODE, O_DAX_MB, O_DAX_PATH, O_FS_MODE, O_FS_DIR, O_FS_MB, O_FAULT_PPM,
	       O_CORRUPT_MS, O_RESP_URL, O_RESP_CLUSTER, O_RESP_TIMEOUT, O_PAUSE_MS, O_PROCS,
	       O_KILL_MS, O_POOL_MB, O_POOL_SERVER, O_POOL_RM, O_METRICS, O_JSON, O_VERBOSE, O_HELP };
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, O_THREADS },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "capacity-mb", required_argument, NULL, O_CAP },
		{ "chunk-kb", required_argument, NULL, O_CHUNK },
		{ "pin-ttl-ms", required_argument, NULL, O_TTL },
		{ "seed", required_argument, NULL, O_SEED },
		{ "tier", required_argument, NULL, O_TIER },
		{ "dax-mode", required_argument, NULL, O_DAX_MODE },
		{ "dax-mb", required_argument, NULL, O_DAX_MB },
		{ "dax-path", required_argument, NULL, O_DAX_PATH },
		{ "fs-mode", required_argument, NULL, O_FS_MODE },
		{ "fs-dir", required_argument, NULL, O_FS_DIR },
		{ "fs-mb", required_argument, NULL, O_FS_MB },
		{ "fault-ppm", required_argument, NULL, O_FAULT_PPM },
		{ "corrupt-ms", required_argument, NULL, O_CORRUPT_MS },
		{ "resp-url", required_argument, NULL, O_RESP_URL },
		{ "resp-cluster", no_argument, NULL, O_RESP_CLUSTER },
		{ "resp-timeout-ms", required_argument, NULL, O_RESP_TIMEOUT },
		{ "resp-pause-ms", required_argument, NULL, O_PAUSE_MS },
		{ "procs", required_argument, NULL, O_PROCS },
		{ "kill-ms", required_argument, NULL, O_KILL_MS },
		{ "pool-mb", required_argument, NULL, O_POOL_MB },
		{ "pool-server", required_argument, NULL, O_POOL_SERVER },
		{ "pool-rm", required_argument, NULL, O_POOL_RM },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "json", no_argument, NULL, O_JSON },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *env, *tier = "l1", *mode = NULL, *fs_mode = NULL;
	bool dax_opt = false, fs_opt = false, corrupt_opt = false, resp_opt = false;
	bool pool_opt = false, kill_opt = false;
	uint64_t ppm;
	int c, ret = 0;

	*o = (struct stress_opts){ .threads = 4, .seconds = 10, .capacity_mb = 64,
				   .chunk_kb = 64, .dax_mb = 64, .fault_ppm = 2000,
				   .corrupt_ms = 20, .resp_timeout_ms = 200, .pause_ms = 400,
				   .procs = 3, .pool_mb = 512 };
	o->seed = tool_now_ns() ^ ((uint64_t)getpid() << 32);
	while (!ret && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_THREADS:
			ret = opt_parse_uint(PROG, "threads", optarg, 1, STRESS_MAX_THREADS, &o->threads);
			break;
		case O_SECONDS:
			ret = opt_parse_uint(PROG, "seconds", optarg, 1, 86400, &o->seconds);
			break;
		case O_KEYS:
			ret = opt_parse_u64(PROG, "keys", optarg, 2, UINT32_MAX, &o->keys);
			break;
		case O_CAP:
			ret = opt_parse_uint(PROG, "capacity-mb", optarg, 1, 4096 * 1024, &o->capacity_mb);
			o->capacity_set = true;
			break;
		case O_CHUNK:
			ret = opt_parse_uint(PROG, "chunk-kb", optarg, 1, 256 * 1024, &o->chunk_kb);
			break;
		case O_TTL:
			ret = opt_parse_uint(PROG, "pin-ttl-ms", optarg, 0, 86400000, &o->pin_ttl_ms);
			break;
		case O_SEED:
			ret = opt_parse_u64(PROG, "seed", optarg, 0, UINT64_MAX, &o->seed);
			break;
		case O_TIER:
			tier = optarg;
			if (strcmp(tier, "l1") && strcmp(tier, "dax") && strcmp(tier, "fs") &&
			    strcmp(tier, "resp") && strcmp(tier, "pool")) {
				fprintf(stderr, "kvtier-stress: --tier: \"%s\": must be l1, dax, fs, "
					"resp or pool\n", tier);
				ret = -EINVAL;
			}
			break;
		case O_DAX_MODE:
			mode = optarg;
			dax_opt = true;
			if (strcmp(mode, "tiered") && strcmp(mode, "primary")) {
				fprintf(stderr, "kvtier-stress: --dax-mode: \"%s\": must be tiered or "
					"primary\n", mode);
				ret = -EINVAL;
			}
			break;
		case O_DAX_MB:
			ret = opt_parse_uint(PROG, "dax-mb", optarg, 1, 1024 * 1024, &o->dax_mb);
			dax_opt = true;
			break;
		case O_DAX_PATH:
			o->dax_path = optarg;
			dax_opt = true;
			if (optarg[0] != '/') {
				fprintf(stderr, "kvtier-stress: --dax-path: \"%s\": must be an "
					"absolute path\n", optarg);
				ret = -EINVAL;
			}
			break;
		case O_FS_MODE:
			fs_mode = optarg;
			fs_opt = true;
			if (strcmp(fs_mode, "cache") && strcmp(fs_mode, "staging")) {
				fprintf(stderr, "kvtier-stress: --fs-mode: \"%s\": must be cache or "
					"staging\n", fs_mode);
				ret = -EINVAL;
			}
			break;
		case O_FS_DIR:
			o->fs_dir = optarg;
			fs_opt = true;
			/* it goes into JSON verbatim: the adapter's config, --json */
			if (optarg[0] != '/' || strlen(optarg) >= PATH_MAX || !json_safe(optarg)) {
				fprintf(stderr, "kvtier-stress: --fs-dir: \"%s\": must be an absolute "
					"path without '\"', '\\' or control characters\n", optarg);
				ret = -EINVAL;
			}
			break;
		case O_FS_MB:
			ret = opt_parse_uint(PROG, "fs-mb", optarg, 0, 1024 * 1024 * 1024, &o->fs_mb);
			o->fs_mb_set = true;
			fs_opt = true;
			break;
		case O_FAULT_PPM:
			ret = opt_parse_u64(PROG, "fault-ppm", optarg, 0, 1000000, &ppm);
			o->fault_ppm = (uint32_t)ppm;
			fs_opt = true;
			break;
		case O_CORRUPT_MS:
			ret = opt_parse_uint(PROG, "corrupt-ms", optarg, 0, 3600000, &o->corrupt_ms);
			corrupt_opt = true;
			break;
		case O_RESP_URL:
			o->resp_url = optarg;
			resp_opt = true;
			/* it goes into JSON verbatim: the adapter's config */
			if (strlen(optarg) >= 400 || !json_safe(optarg)) {
				fprintf(stderr, "kvtier-stress: --resp-url: must be shorter than 400 "
					"bytes, without '\"', '\\' or control characters\n");
				ret = -EINVAL;
			}
			break;
		case O_RESP_CLUSTER:
			o->resp_cluster = true;
			resp_opt = true;
			break;
		case O_RESP_TIMEOUT:
			ret = opt_parse_uint(PROG, "resp-timeout-ms", optarg, 10, 600000, &o->resp_timeout_ms);
			resp_opt = true;
			break;
		case O_PAUSE_MS:
			ret = opt_parse_uint(PROG, "resp-pause-ms", optarg, 0, 10000, &o->pause_ms);
			resp_opt = true;
			break;
		case O_PROCS:
			ret = opt_parse_uint(PROG, "procs", optarg, 1, POOL_MAX_PROCS, &o->procs);
			pool_opt = true;
			break;
		case O_KILL_MS:
			ret = opt_parse_uint(PROG, "kill-ms", optarg, 0, 3600000, &o->kill_ms);
			pool_opt = kill_opt = true;
			break;
		case O_POOL_MB:
			ret = opt_parse_uint(PROG, "pool-mb", optarg, 16, 1024 * 1024, &o->pool_mb);
			pool_opt = true;
			break;
		case O_POOL_SERVER:
			o->pool_server = optarg;
			pool_opt = true;
			/* it goes into JSON verbatim: the adapter's config */
			if (!*optarg || strlen(optarg) >= 256 || !json_safe(optarg)) {
				fprintf(stderr, "kvtier-stress: --pool-server: must be 1 to 255 bytes, "
					"without '\"', '\\' or control characters\n");
				ret = -EINVAL;
			}
			break;
		case O_POOL_RM:
			o->pool_rm = optarg;
			pool_opt = true;
			if (optarg[0] != '/' || strlen(optarg) >= 108 || !json_safe(optarg)) {
				fprintf(stderr, "kvtier-stress: --pool-rm: must be an absolute path "
					"shorter than 108 bytes, without '\"', '\\' or control "
					"characters\n");
				ret = -EINVAL;
			}
			break;
		case O_METRICS:
			o->metrics = optarg;
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_VERBOSE:
			o->verbose = true;
			break;
		case O_HELP:
			fputs(usage_text, stdout);
			exit(0);
		default:
			ret = -EINVAL;
		}
	}
	if (!ret && optind < argc) {
		fprintf(stderr, "kvtier-stress: unexpected argument \"%s\"\n", argv[optind]);
		ret = -EINVAL;
	}
	if (!ret && dax_opt && strcmp(tier, "dax")) {
		fprintf(stderr, "kvtier-stress: --dax-mode, --dax-mb and --dax-path need --tier dax\n");
		ret = -EINVAL;
	}
	if (!ret && fs_opt && strcmp(tier, "fs")) {
		fprintf(stderr, "kvtier-stress: --fs-mode, --fs-dir, --fs-mb and --fault-ppm need "
			"--tier fs\n");
		ret = -EINVAL;
	}
	if (!ret && corrupt_opt && strcmp(tier, "fs") && strcmp(tier, "resp")) {
		fprintf(stderr, "kvtier-stress: --corrupt-ms needs --tier fs or resp\n");
		ret = -EINVAL;
	}
	if (!ret && resp_opt && strcmp(tier, "resp")) {
		fprintf(stderr, "kvtier-stress: --resp-url, --resp-cluster, --resp-timeout-ms and "
			"--resp-pause-ms need --tier resp\n");
		ret = -EINVAL;
	}
	if (!ret && pool_opt && strcmp(tier, "pool")) {
		fprintf(stderr, "kvtier-stress: --procs, --kill-ms, --pool-mb, --pool-server and "
			"--pool-rm need --tier pool\n");
		ret = -EINVAL;
	}
	if (!ret && !o->pool_server != !o->pool_rm) {
		fprintf(stderr, "kvtier-stress: --pool-server and --pool-rm go together\n");
		ret = -EINVAL;
	}
	if (!ret && o->resp_cluster && !o->resp_url) {
		fprintf(stderr, "kvtier-stress: --resp-cluster describes --resp-url (without it "
			"the harness starts a cluster of its own)\n");
		ret = -EINVAL;
	}
	if (!strcmp(tier, "dax"))
		o->tier = mode && !strcmp(mode, "primary") ? TIER_DAX_PRIMARY : TIER_DAX_TIERED;
	if (!strcmp(tier, "fs"))
		o->tier = fs_mode && !strcmp(fs_mode, "staging") ? TIER_FS_STAGING : TIER_FS_CACHE;
	if (!strcmp(tier, "resp"))
		o->tier = TIER_RESP;
	if (!strcmp(tier, "pool"))
		o->tier = TIER_POOL;
	if (!ret && o->tier == TIER_DAX_PRIMARY && o->capacity_set) {
		fprintf(stderr, "kvtier-stress: --capacity-mb: primary mode has no L1 (local_cpu: "
			"false)\n");
		ret = -EINVAL;
	}
	if (o->tier == TIER_DAX_TIERED && !o->capacity_set)
		o->capacity_mb = o->dax_mb / 4 ? o->dax_mb / 4 : 1;
	/* fs: an L1 of 128 chunks of 64 KiB, or a staging area of 16 (fewer
	 * than 4 threads' batches of puts: puts wait for it), and room on disk
	 * for about half the default keyspace, so every tier evicts */
	if ((o->tier == TIER_FS_CACHE || o->tier == TIER_RESP || o->tier == TIER_POOL) &&
	    !o->capacity_set)
		o->capacity_mb = 8;
	if (o->tier == TIER_FS_STAGING && !o->capacity_set)
		o->capacity_mb = 1;
	if (tier_is_fs(o->tier) && !o->fs_mb_set)
		o->fs_mb = 32;
	env = getenv("KVT_STRESS_SECONDS");
	if (!ret && env && *env)
		ret = opt_parse_uint(PROG, "seconds (KVT_STRESS_SECONDS)", env, 1, 86400, &o->seconds);
	/* pool: kills are its faults, no corruption thread; three kills in a
	 * run, the last well before the end */
	if (o->tier == TIER_POOL)
		o->corrupt_ms = 0;
	if (o->tier == TIER_POOL && !kill_opt)
		o->kill_ms = o->seconds >= 4 ? o->seconds * 250 : 0;
	if (ret)
		fputs("kvtier-stress: --help lists the options\n", stderr);
	return ret;
}
