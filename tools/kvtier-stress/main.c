/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/main.c - kvtier-stress: the concurrency harness.
 *
 * Opens one instance smaller than the keyspace, runs --threads workers of
 * mixed operations (worker.c) for --seconds, then stops them and checks
 * what must hold once everything is quiet: no corruption, no unexpected
 * code, no borrow or pin left, no slot lost, kvtier's counters equal to what
 * the workers did, every chunk still stored verifies, and kvt_close() leaves
 * no thread or fd behind.  Prints progress every second on stderr, then a
 * table of ops/s on stdout (--json: one JSON object on the last line).
 *
 * --tier dax adds a Device-DAX tier on --dax-path or, by default, on a fresh
 * file in /dev/shm that emulates one (removed at exit).  Tiered mode puts an
 * L1 of a quarter of the arena in front of it and a keyspace of twice the
 * arena behind, so both tiers evict; primary mode has the DAX slots alone.
 * The run uses its own namespace (a tenant_salt from the seed, with
 * dax.reinit), so a device left by an earlier run is reformatted, not
 * recovered.  After kvt_close() the device is opened again with the same
 * config: it must recover exactly the chunks DAX held at close, none torn,
 * each byte-exact.
 *
 * --tier fs puts the fs L2 adapter (one file per chunk) behind L1, on
 * --fs-dir or, by default, a fresh directory in /var/tmp (removed at exit).
 * Cache mode: a small L1 (local_cpu true) in front, written through, with
 * a keyspace of 8 x its slots, so most reads come from disk and are
 * promoted.  Staging mode: local_cpu false + use_only_staging_buffer, so
 * L1 only holds puts until the adapter wrote them (a small staging area,
 * so puts wait for it and some time out) and every read comes from disk.
 * Either way the disk holds about half the keyspace.  The adapter fails
 * --fault-ppm of its I/Os with EIO, and a thread of the harness corrupts a
 * chunk file every --corrupt-ms (fs.c): nothing corrupt may ever be
 * served.  After kvt_close() the directory is opened again without EIO
 * faults: every file nobody corrupted since the adapter wrote it must read
 * back byte-exact, every corrupted one must miss and be removed.
 *
 * --tier resp puts the resp L2 adapter (one Redis key per chunk) behind the
 * same small L1 as fs cache mode, on a Redis Cluster of 3 masters that the
 * harness starts on free loopback ports (resp.c; stopped at exit) or on
 * --resp-url.  A thread of the harness corrupts a value every --corrupt-ms
 * (flips a byte with GETRANGE/SETRANGE, SETs a prefix of it, random bytes
 * or another key's value over it) and stops one master every few seconds
 * for --resp-pause-ms, longer than the adapter's --resp-timeout-ms, so its
 * I/O times out and it reconnects: nothing corrupt may ever be served, and
 * no operation may hang.  The end checks are those of fs (each value Redis
 * holds classified as intact or corrupt), then the same prefix is opened
 * again: every intact value must read back byte-exact, every corrupt one
 * must miss and be deleted.
 *
 * --tier pool puts the pool L2 adapter (chunks in a shared pool run by
 * kvtier-poold) behind the same small L1, in --procs engine processes at
 * once (procs.c), each with its own instance and workers over one shared
 * keyspace: a chunk one process stored is read by the others straight
 * from its region, mapped in place.  The harness starts its own daemon
 * (pool.c; a /dev/shm pool, sockets in a fresh /tmp directory, stopped at
 * exit) unless --pool-server names one.  Every --kill-ms one process is
 * SIGKILLed while it holds pins in the daemon and a fresh one takes its
 * place.  At the end every process checks its own instance as above (the
 * pool quiet meanwhile), then a last instance reads back and removes every
 * key, and the daemon must hold no key, pin or region: the dead processes'
 * pins went with them, their regions once their keys did.
 *
 * Exit: 0 pass, 1 fail, 2 usage.
 *
 * Threads: main parses, opens, reports and checks; workers run worker.c.
 * With --tier pool the first process only supervises (procs.c); each
 * engine process it starts is a main thread and its workers.
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

#define EXIT_USAGE 2

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
	"  --json             one JSON object on the last stdout line\n"
	"  --verbose          print every check, not only failed ones\n"
	"  --help             this text\n"
	"\n"
	"Exit status: 0 no corruption, no unexpected error and every check held;\n"
	"1 otherwise; 2 bad usage.\n";

static const char *const tier_names[] = {
	[TIER_L1] = "l1", [TIER_DAX_TIERED] = "dax-tiered", [TIER_DAX_PRIMARY] = "dax-primary",
	[TIER_FS_CACHE] = "fs-cache", [TIER_FS_STAGING] = "fs-staging", [TIER_RESP] = "resp",
	[TIER_POOL] = "pool",
};

/* The DAX file this run created, removed at exit (also from on_alarm). */
static char dax_tmp_path[64];

/* ---- options ---- */

static int parse_u64(const char *opt, const char *text, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-' || v < min || v > max) {
		fprintf(stderr, "kvtier-stress: --%s: \"%s\": must be a number from %" PRIu64
			" to %" PRIu64 "\n", opt, text, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_uint(const char *opt, const char *text, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	uint64_t v;
	int ret = parse_u64(opt, text, min, max, &v);

	if (!ret)
		*out = (unsigned int)v;
	return ret;
}

/* True if @text needs no escaping inside a JSON string. */
static bool json_safe(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if (*p < 0x20 || *p == '"' || *p == '\\')
			return false;
	return true;
}

static int parse_opts(int argc, char **argv, struct stress_opts *o)
{
	enum { O_THREADS = 256, O_SECONDS, O_KEYS, O_CAP, O_CHUNK, O_TTL, O_SEED, O_TIER,
	       O_DAX_MODE, O_DAX_MB, O_DAX_PATH, O_FS_MODE, O_FS_DIR, O_FS_MB, O_FAULT_PPM,
	       O_CORRUPT_MS, O_RESP_URL, O_RESP_CLUSTER, O_RESP_TIMEOUT, O_PAUSE_MS, O_PROCS,
	       O_KILL_MS, O_POOL_MB, O_POOL_SERVER, O_POOL_RM, O_JSON, O_VERBOSE, O_HELP };
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
			ret = parse_uint("threads", optarg, 1, STRESS_MAX_THREADS, &o->threads);
			break;
		case O_SECONDS:
			ret = parse_uint("seconds", optarg, 1, 86400, &o->seconds);
			break;
		case O_KEYS:
			ret = parse_u64("keys", optarg, 2, UINT32_MAX, &o->keys);
			break;
		case O_CAP:
			ret = parse_uint("capacity-mb", optarg, 1, 4096 * 1024, &o->capacity_mb);
			o->capacity_set = true;
			break;
		case O_CHUNK:
			ret = parse_uint("chunk-kb", optarg, 1, 256 * 1024, &o->chunk_kb);
			break;
		case O_TTL:
			ret = parse_uint("pin-ttl-ms", optarg, 0, 86400000, &o->pin_ttl_ms);
			break;
		case O_SEED:
			ret = parse_u64("seed", optarg, 0, UINT64_MAX, &o->seed);
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
			ret = parse_uint("dax-mb", optarg, 1, 1024 * 1024, &o->dax_mb);
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
			ret = parse_uint("fs-mb", optarg, 0, 1024 * 1024 * 1024, &o->fs_mb);
			o->fs_mb_set = true;
			fs_opt = true;
			break;
		case O_FAULT_PPM:
			ret = parse_u64("fault-ppm", optarg, 0, 1000000, &ppm);
			o->fault_ppm = (uint32_t)ppm;
			fs_opt = true;
			break;
		case O_CORRUPT_MS:
			ret = parse_uint("corrupt-ms", optarg, 0, 3600000, &o->corrupt_ms);
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
			ret = parse_uint("resp-timeout-ms", optarg, 10, 600000, &o->resp_timeout_ms);
			resp_opt = true;
			break;
		case O_PAUSE_MS:
			ret = parse_uint("resp-pause-ms", optarg, 0, 10000, &o->pause_ms);
			resp_opt = true;
			break;
		case O_PROCS:
			ret = parse_uint("procs", optarg, 1, POOL_MAX_PROCS, &o->procs);
			pool_opt = true;
			break;
		case O_KILL_MS:
			ret = parse_uint("kill-ms", optarg, 0, 3600000, &o->kill_ms);
			pool_opt = kill_opt = true;
			break;
		case O_POOL_MB:
			ret = parse_uint("pool-mb", optarg, 16, 1024 * 1024, &o->pool_mb);
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
		ret = parse_uint("seconds (KVT_STRESS_SECONDS)", env, 1, 86400, &o->seconds);
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

/* ---- process resources ---- */

long count_dir(const char *path)
{
	struct dirent *d;
	long n = 0;
	DIR *dir = opendir(path);

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STRESS_SANITIZED 1
#endif
#endif

#ifdef STRESS_SANITIZED
/* from <sanitizer/common_interface_defs.h>, which not every toolchain ships */
void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out_buf, size_t out_buf_size);
#endif

static void *noop_thread(void *arg)
{
	return arg;
}

/*
 * warm_runtime() - start what the runtime starts lazily, before the first
 * count of threads and fds: TSan spawns a background thread with the first
 * pthread_create(), and the sanitizers start llvm-symbolizer (two pipe fds)
 * with the first report, suppressed ones included.  Otherwise those would
 * read as threads and fds that kvt_close() leaked.
 */
void warm_runtime(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, noop_thread, NULL) == 0)
		pthread_join(t, NULL);
#ifdef STRESS_SANITIZED
	{
		char where[256];

		__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", where,
					 sizeof(where));
	}
#endif
}

/* ---- setup ---- */

/*
 * dax_prepare_path() - where the DAX tier lives: --dax-path, or a fresh
 * file in /dev/shm (mkstemp, mode 0600) that main removes at exit.  The
 * file is sized by kvtier; tmpfs does not reserve it, and a full tmpfs
 * would SIGBUS on first touch, so the free space is checked here.
 * Return: the path, or NULL with a message on stderr.
 */
static const char *dax_prepare_path(const struct stress_opts *o)
{
	struct statvfs vfs;
	int fd;

	if (o->dax_path)
		return o->dax_path;
	if (statvfs("/dev/shm", &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < ((uint64_t)o->dax_mb << 20)) {
		fprintf(stderr, "kvtier-stress: /dev/shm has %llu MiB free, --dax-mb is %u\n",
			(unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize >> 20),
			o->dax_mb);
		return NULL;
	}
	snprintf(dax_tmp_path, sizeof(dax_tmp_path), "/dev/shm/kvtier-stress-XXXXXX");
	fd = mkstemp(dax_tmp_path);
	if (fd < 0) {
		fprintf(stderr, "kvtier-stress: mkstemp(%s): %s\n", dax_tmp_path, strerror(errno));
		dax_tmp_path[0] = '\0';
		return NULL;
	}
	close(fd);
	return dax_tmp_path;
}

static void dax_remove_tmp(void)
{
	if (dax_tmp_path[0] && unlink(dax_tmp_path) < 0 && errno != ENOENT)
		fprintf(stderr, "kvtier-stress: unlink(%s): %s\n", dax_tmp_path, strerror(errno));
	dax_tmp_path[0] = '\0';
}

struct knob {
	const char *key;
	char value[PATH_MAX + 128]; /* the fs adapter's JSON holds a path */
};

#define MAX_KNOBS 16

static void knob_add(struct knob *k, size_t *n, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void knob_add(struct knob *k, size_t *n, const char *key, const char *fmt, ...)
{
	va_list ap;

	assert(*n < MAX_KNOBS);
	k[*n].key = key;
	va_start(ap, fmt);
	vsnprintf(k[*n].value, sizeof(k[*n].value), fmt, ap);
	va_end(ap);
	(*n)++;
}

/*
 * make_config() - the instance's config: a slot of --chunk-kb KiB, and the
 * tiers of --tier; an fs adapter fails @fault_ppm of its I/Os.
 *
 * kvt_chunk_bytes() = 2 (K, V) x kv_layers x chunk_size 16 x kv_heads 1 x
 * head_dim x 2 (bfloat16) = 64 x kv_layers x head_dim, so kv_layers x
 * head_dim = C x 16; head_dim is at most 4096, so large chunks add layers.
 * Sizes in MiB go in as GiB a hair over, so floor() in kvtier does not lose
 * a slot.
 */
static int make_config(struct stress *s, uint32_t fault_ppm, struct kvt_config **out)
{
	const struct stress_opts *o = &s->o;
	uint32_t units = o->chunk_kb * 16, layers = 1;
	struct knob k[MAX_KNOBS];
	struct kvt_config *cfg;
	const char *path;
	char err[256];
	size_t n = 0;
	int ret;

	while (layers <= 1024 && (units % layers || units / layers > 4096))
		layers++;
	if (layers > 1024) {
		fprintf(stderr, "kvtier-stress: --chunk-kb %u: no chunk shape gives that size\n",
			o->chunk_kb);
		return -EINVAL;
	}
	knob_add(k, &n, "chunk_size", "16");
	knob_add(k, &n, "kv_layers", "%u", layers);
	knob_add(k, &n, "kv_heads", "1");
	knob_add(k, &n, "head_dim", "%u", units / layers);
	knob_add(k, &n, "kv_dtype", "bfloat16");
	knob_add(k, &n, "pin_ttl_ms", "%u", o->pin_ttl_ms);
	knob_add(k, &n, "l1.prefetch_workers", "2");
	if (o->tier == TIER_DAX_PRIMARY || o->tier == TIER_FS_STAGING)
		knob_add(k, &n, "local_cpu", "false");
	if (o->tier == TIER_FS_STAGING) {
		knob_add(k, &n, "use_only_staging_buffer", "true");
		/* a put that finds the staging area full fails after 100 ms, not
		 * 1 s: more of those in a short run, and shorter stalls */
		knob_add(k, &n, "staging_wait_ms", "100");
	}
	if (o->tier != TIER_DAX_PRIMARY)
		knob_add(k, &n, "max_local_cpu_size", "%.12f",
			 (double)o->capacity_mb / 1024.0 + 1e-12);
	if (s->fs) {
		char json[sizeof(k[0].value)];

		ret = fs_adapter_json(s, fault_ppm, json, sizeof(json));
		if (ret)
			return ret;
		knob_add(k, &n, "l2_adapters", "%s", json);
	}
	if (s->resp || s->pool) {
		char json[sizeof(k[0].value)];

		ret = s->resp ? resp_adapter_json(s, json, sizeof(json)) :
				pool_adapter_json(s, json, sizeof(json));
		if (ret)
			return ret;
		knob_add(k, &n, "l2_adapters", "%s", json);
	}
	if (o->tier == TIER_DAX_TIERED || o->tier == TIER_DAX_PRIMARY) {
		path = dax_prepare_path(o);
		if (!path)
			return -EINVAL;
		if (strlen(path) >= sizeof(k[0].value)) {
			fprintf(stderr, "kvtier-stress: --dax-path: longer than %zu bytes\n",
				sizeof(k[0].value) - 1);
			return -EINVAL;
		}
		knob_add(k, &n, "dax.device_path", "%s", path);
		knob_add(k, &n, "dax.allow_file_backing", "true");
		knob_add(k, &n, "dax.max_dax_size", "%.12f", (double)o->dax_mb / 1024.0 + 1e-12);
		knob_add(k, &n, "dax.mode", "%s", o->tier == TIER_DAX_PRIMARY ? "primary" : "tiered");
		/* this run's own namespace: a device left by an earlier run (same
		 * key ids, other versions) is reformatted, never recovered */
		knob_add(k, &n, "dax.reinit", "true");
		knob_add(k, &n, "tenant_salt", "kvtier-stress-%016llx",
			 (unsigned long long)o->seed);
	}
	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < n; i++)
		ret = kvt_config_set(cfg, k[i].key, k[i].value, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier-stress: config: %s\n", err);
		kvt_config_free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

int stress_open(struct stress *s)
{
	const struct stress_opts *o = &s->o;
	int ret;

	s->fs = tier_is_fs(o->tier);
	s->resp = o->tier == TIER_RESP;
	s->pool = o->tier == TIER_POOL;
	s->l2 = s->fs || s->resp || s->pool;
	if (s->fs) {
		ret = fs_prepare_dir(s);
		if (ret)
			return ret;
	}
	if (s->resp) {
		ret = resp_prepare(s);
		if (ret)
			return ret;
	}
	ret = make_config(s, o->fault_ppm, &s->cfg);
	if (ret)
		return ret;
	ret = kvt_open(s->cfg, &s->kvt, NULL, 0);
	if (ret) {
		fprintf(stderr, "kvtier-stress: kvt_open: %d (%s)\n", ret, kvt_strerror(ret));
		return ret;
	}
	s->chunk = kvt_chunk_bytes(s->kvt);
	if (s->chunk != (size_t)o->chunk_kb * 1024) {
		fprintf(stderr, "kvtier-stress: kvt_chunk_bytes() = %zu, wanted %u KiB\n", s->chunk,
			o->chunk_kb);
		kvt_close(s->kvt);
		s->kvt = NULL;
		return -EINVAL;
	}
	/* tiers a pin holds a copy in: L2 copies are never pinned */
	s->ntiers = o->tier == TIER_DAX_TIERED ? 2 : 1;
	/* the DAX writer, or the L2 completion actor, fires them */
	s->async_cb = o->tier == TIER_DAX_TIERED || s->l2;
	return 0;
}

static int alloc_state(struct stress *s)
{
	size_t per = STRESS_MAX_BATCH * s->chunk;

	/* pool: every process hands out versions of the same keys */
	s->next_version = s->shm ? s->shm->next_version :
				   calloc(s->nkeys, sizeof(*s->next_version));
	s->pin_started = calloc(s->nkeys, sizeof(*s->pin_started));
	s->pin_finished = calloc(s->nkeys, sizeof(*s->pin_finished));
	s->w = calloc(s->o.threads, sizeof(*s->w));
	if (!s->next_version || !s->pin_started || !s->pin_finished || !s->w)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->o.threads; i++) {
		struct worker *w = &s->w[i];

		w->s = s;
		w->idx = i;
		w->rng = s->o.seed + 0x9E3779B97F4A7C15ull * (i + 1);
		w->rng = w->rng ? w->rng : 1;
		atomic_init(&w->cur_op, -1);
		w->put_buf = malloc(per);
		w->get_buf = malloc(per);
		w->pf_buf = malloc(per);
		w->tracks = calloc(PUT_TRACKS, sizeof(*w->tracks));
		if (!w->put_buf || !w->get_buf || !w->pf_buf || !w->tracks)
			return -ENOMEM;
	}
	return 0;
}

static void free_state(struct stress *s)
{
	for (unsigned int i = 0; s->w && i < s->o.threads; i++) {
		free(s->w[i].put_buf);
		free(s->w[i].get_buf);
		free(s->w[i].pf_buf);
		free(s->w[i].tracks);
	}
	free(s->w);
	fs_fault_free(s);
	free((void *)s->pin_finished);
	free((void *)s->pin_started);
	if (!s->shm)
		free((void *)s->next_version);
}

/* ---- the run ---- */

static uint64_t sum_ops(struct stress *s, int op)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < s->o.threads; i++)
		for (int k = 0; k < OP_N; k++)
			if (op < 0 || op == k)
				n += atomic_load_explicit(&s->w[i].op[k].ops, memory_order_relaxed);
	return n;
}

static void progress_line(struct stress *s, uint64_t start_ns, uint64_t *last_ops,
			  uint64_t *last_ns)
{
	uint64_t now = tool_now_ns(), ops = sum_ops(s, -1);
	struct kvt_stats st;
	struct fs_status fs;
	char lower[192] = "";

	kvt_stats(s->kvt, &st, sizeof(st));
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY)
		snprintf(lower, sizeof(lower), " dax %" PRIu64 "/%" PRIu64, st.dax_entries,
			 st.dax_slots);
	if (s->fs) {
		fs_status(s->kvt, &fs);
		snprintf(lower, sizeof(lower), " fs %" PRIu64 " files, hits %" PRIu64 " misses %"
			 PRIu64 " write errors %" PRIu64 " staging %" PRIu64 ", files corrupted %"
			 PRIu64 " detected %" PRIu64, fs.chunks, st.l2_hits, st.l2_misses,
			 st.l2_write_errors, st.staging_inflight, fs_injected(s),
			 fs.corrupt_removed);
	}
	if (s->resp) {
		fs_status(s->kvt, &fs);
		snprintf(lower, sizeof(lower), " resp %" PRIu64 "/%" PRIu64 " up, hits %" PRIu64
			 " misses %" PRIu64 " write errors %" PRIu64 " reconnects %" PRIu64
			 ", values corrupted %" PRIu64 " detected %" PRIu64 ", pauses %" PRIu64,
			 fs.nodes_up, fs.nodes, st.l2_hits, st.l2_misses, st.l2_write_errors,
			 fs.reconnects, fs_injected(s), fs.corrupt,
			 atomic_load_explicit(&s->fault.pauses, memory_order_relaxed));
	}
	fprintf(stderr, "kvtier-stress: %5.1fs ops %" PRIu64 " (%.0f/s) l1 %" PRIu64
		"/%" PRIu64 "%s pinned %" PRIu64 " borrows %" PRIu64 " corrupt %" PRIu64
		" failed %" PRIu64 "\n", (double)(now - start_ns) / 1e9, ops,
		(double)(ops - *last_ops) * 1e9 / (double)(now - *last_ns), st.l1_entries,
		st.l1_slots, lower, st.pinned_entries, st.borrows_active,
		atomic_load_explicit(&s->v->corruptions, memory_order_relaxed),
		atomic_load_explicit(&s->v->failures, memory_order_relaxed));
	*last_ops = ops;
	*last_ns = now;
}

static bool workers_idle(struct stress *s)
{
	for (unsigned int i = 0; i < s->o.threads; i++)
		if (atomic_load_explicit(&s->w[i].cur_op, memory_order_relaxed) >= 0)
			return false;
	return true;
}

/*
 * run_workers() - start the workers, print progress each second, stop them
 * at the deadline (a pool engine process: when its supervisor says, and it
 * prints nothing) and join.  Return: the run time in ns, or 0 if a worker
 * is stuck (then the process exits: joining would hang).
 */
static uint64_t run_workers(struct stress *s)
{
	uint64_t start = tool_now_ns(), deadline = start + s->o.seconds * 1000000000ull;
	uint64_t last_ops = 0, last_ns = start, next = start + 1000000000ull, end;
	unsigned int started;
	int ret = 0;

	for (started = 0; started < s->o.threads; started++) {
		ret = pthread_create(&s->w[started].thread, NULL, worker_main, &s->w[started]);
		if (ret) {
			fprintf(stderr, "kvtier-stress: pthread_create: %s\n", strerror(ret));
			atomic_store_explicit(&s->stop, 1, memory_order_relaxed);
			break;
		}
	}
	/* a pool engine process runs until the supervisor says stop */
	while (!ret && s->shm && !procs_child_tick(s)) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	while (!ret && !s->shm && tool_now_ns() < deadline) {
		uint64_t now = tool_now_ns(), until = next < deadline ? next : deadline;
		struct timespec ts = { 0, 0 };

		if (until > now) {
			ts.tv_sec = (time_t)((until - now) / 1000000000ull);
			ts.tv_nsec = (long)((until - now) % 1000000000ull);
			nanosleep(&ts, NULL);
		}
		if (tool_now_ns() >= next) {
			progress_line(s, start, &last_ops, &last_ns);
			next += 1000000000ull;
		}
	}
	atomic_store_explicit(&s->stop, 1, memory_order_relaxed);
	end = tool_now_ns();
	/* watchdog: a worker that never comes back is a hang in kvtier */
	while (!workers_idle(s) && tool_now_ns() - end < JOIN_GRACE_S * 1000000000ull) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	if (!workers_idle(s)) {
		for (unsigned int i = 0; i < started; i++) {
			int op = atomic_load_explicit(&s->w[i].cur_op, memory_order_relaxed);

			if (op >= 0)
				fprintf(stderr, "kvtier-stress: %sFAIL thread %u stuck in %s for %d s\n",
					s->who, i, stress_op_names[op], JOIN_GRACE_S);
		}
		fflush(NULL);
		_exit(1);
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(s->w[i].thread, NULL);
	return ret ? 0 : end - start;
}

/* ---- end-of-run checks ---- */

void check(struct checks *c, bool ok, const char *fmt, ...)
{
	va_list ap;

	c->run++;
	if (ok && !c->verbose)
		return;
	c->failed += !ok;
	printf("%scheck %-4s ", c->who, ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static struct worker_acct total_acct(struct stress *s)
{
	struct worker_acct t = { 0 };

	for (unsigned int i = 0; i < s->o.threads; i++) {
		const struct worker_acct *a = &s->w[i].acct;

		t.pins += a->pins;
		t.unpin_keys += a->unpin_keys;
		t.unpins += a->unpins;
		t.put_stored += a->put_stored;
		t.put_dups += a->put_dups;
		t.put_errors += a->put_errors;
		t.put_timeouts += a->put_timeouts;
		t.commits += a->commits;
		t.removes += a->removes;
		t.remove_refused += a->remove_refused;
		t.remove_l2_locked += a->remove_l2_locked;
		t.prefetch_posted += a->prefetch_posted;
		t.prefetch_failed += a->prefetch_failed;
		t.pins_lost += a->pins_lost;
		t.cross_removes += a->cross_removes;
		t.cb_fired += a->cb_fired;
		t.cb_missing += a->cb_missing;
		t.track_flushes += a->track_flushes;
		t.reads += a->reads;
		t.read_bytes += a->read_bytes;
		t.misses += a->misses;
		t.prefetch_misses += a->prefetch_misses;
		t.short_prefetches += a->short_prefetches;
	}
	return t;
}

/* Main, after the join and a kvt_flush(): no put callback can fire now. */
static void settle_tracks(struct stress *s)
{
	for (unsigned int i = 0; i < s->o.threads; i++)
		for (unsigned int j = 0; j < PUT_TRACKS; j++)
			put_track_settle(&s->w[i], &s->w[i].tracks[j]);
}

static bool same_levels(const struct kvt_stats *a, const struct kvt_stats *b)
{
	return a->l1_entries == b->l1_entries && a->l1_free_slots == b->l1_free_slots &&
	       a->l1_evictions == b->l1_evictions && a->dax_entries == b->dax_entries &&
	       a->dax_free_slots == b->dax_free_slots && a->dax_evictions == b->dax_evictions;
}

/*
 * quiet_stats() - the counters once kvtier is idle.  A kvt_flush() drains
 * the mailboxes, but the index actor may still be evicting in the
 * background (it does when a tier is below its low watermark), and an
 * unlink and its slot's give-back are two steps a snapshot can fall
 * between; so flush and read until two snapshots agree.
 * Return: the last kvt_flush() result.
 */
static int quiet_stats(struct stress *s, struct kvt_stats *st)
{
	struct kvt_stats prev;
	int ret = 0;

	for (int i = 0; i < 100; i++) {
		ret = kvt_flush(s->kvt);
		kvt_stats(s->kvt, st, sizeof(*st));
		if (i && same_levels(&prev, st))
			break;
		prev = *st;
		usleep(10000);
	}
	return ret;
}

/* Keys some tier holds, by kvt_contains(): no promotion, no copy. */
static uint64_t count_present(struct stress *s)
{
	uint64_t n = 0;

	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);

		n += kvt_contains(s->kvt, &key, 1, 0) == 1;
	}
	return n;
}

/*
 * sweep() - read back every key with kvt_get(): what is stored must
 * verify.  In tiered mode a DAX hit is promoted into L1, which may evict an
 * L1-only key the sweep has not reached yet.
 * Return: the keys read.
 */
static uint64_t sweep(struct stress *s, struct checks *c)
{
	unsigned char *buf = s->w[0].get_buf;
	uint64_t found = 0;

	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		void *b = buf;
		size_t cap = s->chunk, len = 0;
		ssize_t ret = kvt_get(s->kvt, &key, 1, &b, &cap, &len);

		if (ret < 0 || ret > 1 || (ret == 1) != (len != 0)) {
			check(c, false, "final sweep: kvt_get(key %" PRIu64 ") = %zd, len %zu", id,
			      ret, len);
			continue;
		}
		if (ret == 1) {
			found++;
			payload_check(s, "final sweep", buf, len, id);
		}
	}
	return found;
}

/* What the L2 tier holds per key: fs_scan(), resp_scan() or pool_scan(). */
static int l2_scan(struct stress *s, struct fs_scan *sc)
{
	return s->resp ? resp_scan(s, sc) : s->pool ? pool_scan(s, sc) : fs_scan(s, sc);
}

/* What the L2 tier keeps a chunk in, and where, for messages. */
static const char *l2_unit(const struct stress *s)
{
	return s->resp ? "value" : s->pool ? "entry" : "file";
}

static const char *l2_where(const struct stress *s)
{
	return s->resp ? s->resp_url : s->pool ? s->pool_server : s->fs_dir;
}

/*
 * fs_present() - kvt_contains() of each key against what holds it: an L1
 * copy (kvt_borrow() finds it; never in staging mode) or a chunk file a
 * lookup sees (fs_scan(): one the adapter wrote, or a corrupted one still
 * as long as a header; a lookup only looks at names and sizes).
 * @fragile: receives how many present keys have no intact file: a corrupted
 *           file is a miss, and an L1 copy may be evicted before the sweep
 *           reads it.
 * With resp, "file" reads "value": a lookup (STRLEN) sees any value at
 * least a header long; with pool, "entry" (the daemon's registry: nobody
 * writes the pool behind the adapter's back, so each is intact).
 * Return: keys present.
 */
static uint64_t fs_present(struct stress *s, struct checks *c, const struct kvt_stats *st,
			   uint64_t *fragile)
{
	uint64_t present = 0, in_l1 = 0, files = 0, wrong = 0;
	struct fs_scan sc;
	int ret = l2_scan(s, &sc);

	*fragile = 0;
	if (ret) {
		check(c, false, "%s: scan of %s: %s", tier_names[s->o.tier], l2_where(s),
		      strerror(-ret));
		fs_scan_free(&sc);
		*fragile = s->nkeys;
		return count_present(s);
	}
	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		struct kvt_lease lease;
		bool l1 = kvt_borrow(s->kvt, &key, &lease) == 0;
		bool file = sc.state[id] == FS_INTACT || sc.state[id] == FS_CORRUPT;
		bool got = kvt_contains(s->kvt, &key, 1, 0) == 1;

		if (l1 && kvt_release(s->kvt, &lease))
			check(c, false, "kvt_release(key %" PRIu64 ") after the run failed", id);
		in_l1 += l1;
		files += file;
		present += got;
		*fragile += got && sc.state[id] != FS_INTACT;
		if (got != (l1 || file)) {
			wrong++;
			stress_report(s, "fs: key %" PRIu64 ": kvt_contains = %d, in L1 %d, file %d",
				      id, got, l1, sc.state[id]);
		}
	}
	check(c, wrong == 0, "kvt_contains finds %" PRIu64 " keys: those in L1 (%" PRIu64 ") or "
	      "with a %s a lookup sees (%" PRIu64 "); %" PRIu64 " keys disagree", present, in_l1,
	      l2_unit(s), files, wrong);
	check(c, in_l1 == st->l1_entries, "kvt_borrow finds %" PRIu64 " keys in L1 == l1_entries %"
	      PRIu64, in_l1, st->l1_entries);
	fs_scan_free(&sc);
	return present;
}

/* What is stored, counted and read back, against the tiers' gauges. */
static void sweep_checks(struct stress *s, struct checks *c, const struct kvt_stats *st)
{
	uint64_t fragile = 0, present = s->l2 ? fs_present(s, c, st, &fragile) : count_present(s);
	struct fs_status before, after;
	uint64_t found;

	switch (s->o.tier) {
	case TIER_L1:
		check(c, present == st->l1_entries,
		      "kvt_contains finds %" PRIu64 " keys == l1_entries %" PRIu64, present,
		      st->l1_entries);
		break;
	case TIER_DAX_PRIMARY:
		check(c, present == st->dax_entries,
		      "kvt_contains finds %" PRIu64 " keys == dax_entries %" PRIu64, present,
		      st->dax_entries);
		break;
	case TIER_DAX_TIERED:
		/* a key may have a copy in each tier */
		check(c, present >= st->l1_entries && present >= st->dax_entries &&
			 present <= st->l1_entries + st->dax_entries,
		      "kvt_contains finds %" PRIu64 " keys, in [max, sum] of l1_entries %" PRIu64
		      " and dax_entries %" PRIu64, present, st->l1_entries, st->dax_entries);
		break;
	case TIER_FS_CACHE:
	case TIER_FS_STAGING:
	case TIER_RESP:
	case TIER_POOL:
		break;
	}
	if (s->l2)
		fs_status(s->kvt, &before);
	found = sweep(s, c);
	if (s->o.tier == TIER_DAX_TIERED) {
		check(c, found <= present,
		      "final sweep read %" PRIu64 " keys <= %" PRIu64 " present (promotions may "
		      "evict L1-only keys)", found, present);
	} else if (s->l2) {
		/* each key missed had no intact file (value), or its load failed
		 * with an injected EIO or a timeout (counted in the adapter's
		 * errors) */
		fs_status(s->kvt, &after);
		check(c, found <= present && present - found <= fragile + after.errors - before.errors,
		      "final sweep read %" PRIu64 " keys of %" PRIu64 " present, missing at most the %"
		      PRIu64 " without an intact file + %" PRIu64 " failed I/Os", found, present,
		      fragile, after.errors - before.errors);
	} else {
		check(c, found == present, "final sweep read %" PRIu64 " keys == %" PRIu64
		      " present", found, present);
	}
}

/*
 * Pins: kvtier counts a pin per copy (kvt_contains pins every tier's copy of
 * a key, kvt_unpin drops one from each), while the calls return keys.  With
 * one tier the two agree.  A pin vanishes only when the pin-monitor drops
 * it or a forced remove kills its entry (at most ntiers copies for each pin
 * a forced remove may have dropped).
 */
static void pin_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
			   const struct worker_acct *a)
{
	uint64_t bound = atomic_load_explicit(&s->removed_pin_bound, memory_order_relaxed);
	uint64_t vanished;

	check(c, a->unpins + st->unpin_underflows == a->unpin_keys,
	      "kvt_unpin() total %" PRIu64 " + unpin_underflows %" PRIu64 " == keys unpinned %"
	      PRIu64, a->unpins, st->unpin_underflows, a->unpin_keys);
	if (s->l2) {
		/* kvt_contains(KVT_PIN) returns the L2 hits of its prefix too but
		 * pins only L1 copies, so kvtier counts fewer pins than the calls
		 * returned keys, and the unpins of unpinned keys are underflows
		 * (or drop a pin another thread took on a copy promoted since,
		 * whose own unpin then underflows): pins no longer match keys,
		 * but every pin kvtier took is still unpinned, released by the
		 * monitor or dropped by a forced remove */
		vanished = st->pins - st->unpins - st->pin_force_releases;
		check(c, st->pins <= a->pins && st->unpins == a->unpins,
		      "stats.pins %" PRIu64 " <= keys pinned %" PRIu64 " (L2 hits are not pinned), "
		      "stats.unpins %" PRIu64 " == kvt_unpin() total %" PRIu64, st->pins, a->pins,
		      st->unpins, a->unpins);
		check(c, st->pins >= st->unpins + st->pin_force_releases && vanished <= bound,
		      "pins vanished (pins %" PRIu64 " - unpins %" PRIu64 " - pin_force_releases %"
		      PRIu64 ") in [0, %" PRIu64 "] (pins forced removes may drop)", st->pins,
		      st->unpins, st->pin_force_releases, bound);
		if (s->o.tier == TIER_FS_STAGING)
			check(c, st->pins == 0, "staging: stats.pins %" PRIu64 " == 0 (L1 holds "
			      "nothing to pin)", st->pins);
		return;
	}
	if (s->ntiers == 1) {
		check(c, st->pins == a->pins, "stats.pins %" PRIu64 " == pins taken %" PRIu64,
		      st->pins, a->pins);
		check(c, st->unpins == a->unpins,
		      "stats.unpins %" PRIu64 " == kvt_unpin() total %" PRIu64, st->unpins,
		      a->unpins);
		/* each vanished pin makes exactly one unpin underflow */
		check(c, st->unpin_underflows >= st->pin_force_releases &&
			 st->unpin_underflows - st->pin_force_releases <= bound,
		      "unpin_underflows %" PRIu64 " - pin_force_releases %" PRIu64
		      " in [0, %" PRIu64 "] (pins forced removes may drop)", st->unpin_underflows,
		      st->pin_force_releases, bound);
		return;
	}
	check(c, st->pins >= a->pins && st->pins <= s->ntiers * a->pins,
	      "stats.pins %" PRIu64 " (copies) in [1, %u] x keys pinned %" PRIu64, st->pins,
	      s->ntiers, a->pins);
	check(c, st->unpins >= a->unpins && st->unpins <= s->ntiers * a->unpins,
	      "stats.unpins %" PRIu64 " (copies) in [1, %u] x keys unpinned %" PRIu64,
	      st->unpins, s->ntiers, a->unpins);
	vanished = st->pins - st->unpins - st->pin_force_releases;
	check(c, st->pins >= st->unpins + st->pin_force_releases && vanished <= s->ntiers * bound,
	      "copy pins vanished (pins %" PRIu64 " - unpins %" PRIu64 " - pin_force_releases %"
	      PRIu64 ") in [0, %u x %" PRIu64 "] (pins forced removes may drop)", st->pins,
	      st->unpins, st->pin_force_releases, s->ntiers, bound);
	check(c, st->unpin_underflows <= bound + st->pin_force_releases,
	      "unpin_underflows %" PRIu64 " <= %" PRIu64 " + pin_force_releases %" PRIu64,
	      st->unpin_underflows, bound, st->pin_force_releases);
}

static void dax_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
			   const struct worker_acct *a)
{
	check(c, st->dax_entries + st->dax_free_slots == st->dax_slots,
	      "dax_entries %" PRIu64 " + dax_free_slots %" PRIu64 " == dax_slots %" PRIu64
	      " (no lost slot)", st->dax_entries, st->dax_free_slots, st->dax_slots);
	check(c, st->dax_recovered == 0 && st->dax_torn == 0,
	      "fresh device: dax_recovered %" PRIu64 " == 0, dax_torn %" PRIu64 " == 0",
	      st->dax_recovered, st->dax_torn);
	if (s->async_cb) {
		/* a write-through that failed, or was dropped because its key
		 * was removed while it was queued, fires no callback and is
		 * counted; so is one of a commit, which has no callback */
		uint64_t unwritten = st->dax_write_errors + st->dax_write_dropped;

		check(c, unwritten >= a->cb_missing && unwritten <= a->cb_missing + a->commits,
		      "dax_write_errors %" PRIu64 " + dax_write_dropped %" PRIu64
		      " in [stored keys whose callback never fired %" PRIu64
		      ", that + commits %" PRIu64 "]", st->dax_write_errors,
		      st->dax_write_dropped, a->cb_missing, a->commits);
		check(c, a->cb_fired + a->cb_missing == a->put_stored,
		      "put callbacks %" PRIu64 " + missing %" PRIu64 " == keys stored by put %"
		      PRIu64, a->cb_fired, a->cb_missing, a->put_stored);
		check(c, st->dax_promotions <= st->dax_hits,
		      "dax_promotions %" PRIu64 " <= dax_hits %" PRIu64, st->dax_promotions,
		      st->dax_hits);
	} else {
		check(c, st->dax_write_errors == 0 && st->dax_promotions == 0,
		      "primary: dax_write_errors %" PRIu64 " == 0, dax_promotions %" PRIu64 " == 0",
		      st->dax_write_errors, st->dax_promotions);
		check(c, st->l1_slots == 0 && st->l1_hits == 0,
		      "primary: l1_slots %" PRIu64 " == 0, l1_hits %" PRIu64 " == 0",
		      st->l1_slots, st->l1_hits);
	}
	/* coverage, with the default keyspace: every tier evicted */
	if (!s->o.keys)
		check(c, st->dax_evictions > 0 && (s->o.tier != TIER_DAX_TIERED ||
						   st->l1_evictions > 0),
		      "both tiers evicted (l1_evictions %" PRIu64 ", dax_evictions %" PRIu64 ")",
		      st->l1_evictions, st->dax_evictions);
}

/*
 * resp_accounting() - the resp adapter's own counters.  Redis holds what
 * this instance never counts (no chunks or bytes in its report: the server
 * is shared), and a value the fault thread corrupted is detected only when
 * a load reads it, so these are bounds, not equalities.
 */
static void resp_accounting(struct stress *s, struct checks *c, const struct fs_status *fs)
{
	uint64_t pauses = atomic_load_explicit(&s->fault.pauses, memory_order_relaxed);

	check(c, fs->corrupt <= fs_injected(s) && fs->corrupt_removed <= fs->corrupt,
	      "resp: values found corrupt %" PRIu64 " <= %" PRIu64 " corrupted, deleted %" PRIu64
	      " <= found (more would be values the adapter itself wrote bad)", fs->corrupt,
	      fs_injected(s), fs->corrupt_removed);
	check(c, fs->refused == 0, "resp: refused %" PRIu64 " == 0 (no maxmemory, no ACL)",
	      fs->refused);
	if (s->resp_cluster)
		check(c, fs->nodes >= 3 && fs->round_trips > 0,
		      "resp: %" PRIu64 " cluster nodes known, %" PRIu64 " round trips", fs->nodes,
		      fs->round_trips);
	/* a master stopped longer than timeout_ms drops the adapter's
	 * connection, which comes back by a reconnect (unless nothing was
	 * sent to it while it was stopped: then the pause went unseen) */
	if (pauses && s->o.pause_ms > s->o.resp_timeout_ms)
		check(c, fs->reconnects > 0, "resp: %" PRIu64 " reconnects after %" PRIu64
		      " pauses of a master", fs->reconnects, pauses);
}

/*
 * pool_accounting() - the pool adapter's own counters.  Nobody writes the
 * pool behind the adapter's back, and a load only follows a lookup that
 * pinned its keys (a pinned key is never deleted, so its page is never
 * reused under the copy): no load may find a bad value, and every load
 * served is an L2 hit.  The daemon is local: no request may fail or time
 * out, and with a pool larger than the keyspace no store may find no page.
 * The adapter sends its unpins when idle: they are waited for.
 */
static void pool_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
			    struct fs_status *fs)
{
	uint64_t deadline = tool_now_ns() + 2000000000ull;

	while (fs->pins != fs->unpins && tool_now_ns() < deadline) {
		usleep(10000);
		fs_status(s->kvt, fs);
	}
	check(c, fs->healthy, "pool: the adapter is healthy");
	check(c, fs->corrupt == 0, "pool: corrupt %" PRIu64 " == 0 (loads copy pinned keys only)",
	      fs->corrupt);
	check(c, fs->errors == 0 && fs->rpc_errors == 0 && fs->rm_errors == 0 && fs->unknown == 0 &&
	      fs->renewals == 0, "pool: errors %" PRIu64 ", rpc_errors %" PRIu64 ", rm_errors %"
	      PRIu64 ", unknown_outcome %" PRIu64 ", renewals %" PRIu64 " all 0", fs->errors,
	      fs->rpc_errors, fs->rm_errors, fs->unknown, fs->renewals);
	check(c, fs->pins == fs->unpins, "pool: every lookup pin unpinned (pins %" PRIu64
	      ", unpins %" PRIu64 ")", fs->pins, fs->unpins);
	check(c, fs->loads == st->l2_hits, "pool: loads %" PRIu64 " == l2_hits %" PRIu64,
	      fs->loads, st->l2_hits);
}

static void fs_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
			  const struct worker_acct *a)
{
	bool staging = s->o.tier == TIER_FS_STAGING;
	struct fs_status fs;

	fs_status(s->kvt, &fs);
	check(c, st->l2_adapters == 1 && fs.found && st->l2_plugin_errors == 0,
	      "l2_adapters %" PRIu64 " == 1 (%s), l2_plugin_errors %" PRIu64 " == 0",
	      st->l2_adapters, tier_names[s->o.tier], st->l2_plugin_errors);
	check(c, st->staging_inflight == 0, "staging_inflight %" PRIu64 " == 0 after kvt_flush",
	      st->staging_inflight);
	/* an L2 store that failed (an injected EIO, a full queue; with resp a
	 * timeout, a paused master, a server's refusal) fires no callback and
	 * is counted; so is one of a commit, which has no callback.  With resp
	 * a SET that timed out may still have been applied: counted as failed,
	 * stored all the same, which no check here can see */
	check(c, st->l2_write_errors >= a->cb_missing &&
		 st->l2_write_errors <= a->cb_missing + a->commits,
	      "l2_write_errors %" PRIu64 " in [stored keys whose callback never fired %" PRIu64
	      ", that + commits %" PRIu64 "]", st->l2_write_errors, a->cb_missing, a->commits);
	check(c, a->cb_fired + a->cb_missing == a->put_stored,
	      "put callbacks %" PRIu64 " + missing %" PRIu64 " == keys stored by put %" PRIu64,
	      a->cb_fired, a->cb_missing, a->put_stored);
	/* every key a get, prefetch or borrow was served came from L1 or L2 */
	check(c, st->l1_hits + st->l2_hits == a->reads,
	      "l1_hits %" PRIu64 " + l2_hits %" PRIu64 " == keys read %" PRIu64, st->l1_hits,
	      st->l2_hits, a->reads);
	check(c, st->l1_bytes_out + st->l2_bytes_out == a->read_bytes,
	      "l1_bytes_out %" PRIu64 " + l2_bytes_out %" PRIu64 " == bytes read %" PRIu64,
	      st->l1_bytes_out, st->l2_bytes_out, a->read_bytes);
	/* a get asks L2 for each of its holes; a prefetch for the rest of its
	 * prefix past L1, and a prefix that ends short is one miss or one per
	 * key past its end, as kvtier counts it */
	check(c, st->l2_misses >= a->misses - a->prefetch_misses + a->short_prefetches &&
		 st->l2_misses <= a->misses,
	      "l2_misses %" PRIu64 " in [get misses %" PRIu64 " + short prefetches %" PRIu64
	      ", get and prefetch misses %" PRIu64 "]", st->l2_misses,
	      a->misses - a->prefetch_misses, a->short_prefetches, a->misses);
	check(c, st->l2_promotions <= st->l2_hits, "l2_promotions %" PRIu64 " <= l2_hits %" PRIu64,
	      st->l2_promotions, st->l2_hits);
	if (staging) {
		check(c, st->l1_entries == 0 && st->l1_hits == 0 && st->l2_promotions == 0,
		      "staging: nothing readable in L1 (l1_entries %" PRIu64 ", l1_hits %" PRIu64
		      ", l2_promotions %" PRIu64 ")", st->l1_entries, st->l1_hits,
		      st->l2_promotions);
		check(c, st->staging_timeouts == a->put_timeouts,
		      "staging_timeouts %" PRIu64 " == put results -ETIMEDOUT %" PRIu64,
		      st->staging_timeouts, a->put_timeouts);
	} else {
		check(c, st->staging_timeouts == 0 && a->put_timeouts == 0,
		      "cache: staging_timeouts %" PRIu64 " == 0, put results -ETIMEDOUT %" PRIu64
		      " == 0", st->staging_timeouts, a->put_timeouts);
	}
	/* coverage: L1 evicted once more keys went in than it holds and removes
	 * took out (whether the disk filled depends on how fast it was written
	 * and emptied: reported only) */
	if (!staging && a->put_stored + a->commits > st->l1_slots + st->removes)
		check(c, st->l1_evictions > 0, "L1 evicted (l1_evictions %" PRIu64 ")",
		      st->l1_evictions);
	if (s->o.corrupt_ms && (uint64_t)s->o.seconds * 1000 >= 10ull * s->o.corrupt_ms)
		check(c, fs_injected(s) > 0, "the corruption thread corrupted %s (%" PRIu64 ")",
		      s->resp ? "values" : "files", fs_injected(s));
	if (s->resp)
		resp_accounting(s, c, &fs);
	if (s->pool)
		pool_accounting(s, c, st, &fs);
}

static void accounting(struct stress *s, struct checks *c, const struct kvt_stats *st)
{
	struct worker_acct a = total_acct(s);

	check(c, st->borrows_active == 0, "borrows_active %" PRIu64 " == 0", st->borrows_active);
	check(c, st->pinned_entries == 0, "pinned_entries %" PRIu64 " == 0 (every pin unpinned)",
	      st->pinned_entries);
	check(c, st->l1_entries + st->l1_free_slots == st->l1_slots,
	      "l1_entries %" PRIu64 " + l1_free_slots %" PRIu64 " == l1_slots %" PRIu64
	      " (no lost slot)", st->l1_entries, st->l1_free_slots, st->l1_slots);
	pin_accounting(s, c, st, &a);
	if (!s->o.pin_ttl_ms)
		check(c, st->pin_force_releases == 0,
		      "pin_force_releases %" PRIu64 " == 0 without pin_ttl_ms",
		      st->pin_force_releases);
	check(c, st->puts == a.put_stored + a.commits,
	      "stats.puts %" PRIu64 " == stored by put %" PRIu64 " + commits %" PRIu64, st->puts,
	      a.put_stored, a.commits);
	check(c, st->put_duplicates == a.put_dups, "put_duplicates %" PRIu64 " == %" PRIu64,
	      st->put_duplicates, a.put_dups);
	check(c, st->put_errors == a.put_errors, "put_errors %" PRIu64 " == %" PRIu64,
	      st->put_errors, a.put_errors);
	/* kvt_remove() answers -EAGAIN for a key whose L2 copy a lookup or load
	 * holds locked, even when it removed the L1 copy (counted in
	 * stats.removes: "every other copy is gone"), and -EBUSY only for keys
	 * the index refused as pinned.  So stats.removes is the keys removed
	 * plus at most the -EAGAIN results.  (Lookups hold resp locks across a
	 * network round trip: with resp the second term is seen.) */
	check(c, st->removes >= a.removes && st->removes <= a.removes + a.remove_l2_locked,
	      "stats.removes %" PRIu64 " in [removed %" PRIu64 ", that + %" PRIu64
	      " -EAGAIN results]", st->removes, a.removes, a.remove_l2_locked);
	check(c, st->remove_refused == a.remove_refused,
	      "remove_refused %" PRIu64 " == -EBUSY results %" PRIu64, st->remove_refused,
	      a.remove_refused);
	check(c, s->l2 || a.remove_l2_locked == 0,
	      "no -EAGAIN results without L2 tiers (%" PRIu64 ")", a.remove_l2_locked);
	check(c, st->prefetches == a.prefetch_posted + a.prefetch_failed,
	      "stats.prefetches %" PRIu64 " == posted %" PRIu64 " + timed out %" PRIu64,
	      st->prefetches, a.prefetch_posted, a.prefetch_failed);
	check(c, atomic_load_explicit(&s->evfd_total, memory_order_relaxed) == a.prefetch_posted,
	      "event fd counted %" PRIu64 " == prefetches posted %" PRIu64,
	      atomic_load_explicit(&s->evfd_total, memory_order_relaxed), a.prefetch_posted);
	check(c, st->index_queue_depth == 0 && st->restore_queue_depth == 0,
	      "mailboxes empty after kvt_flush (index %" PRIu64 ", restore %" PRIu64 ")",
	      st->index_queue_depth, st->restore_queue_depth);
	check(c, st->errors == 0, "stats.errors %" PRIu64 " == 0", st->errors);
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY)
		dax_accounting(s, c, st, &a);
	if (s->l2)
		fs_accounting(s, c, st, &a);
}

void leak_checks(struct checks *c, long fds_before, long tasks_before, const char *when)
{
	uint64_t deadline = tool_now_ns() + 1000000000ull;
	long fds_after, tasks_after;

	/* exiting threads may take a moment to leave /proc/self/task */
	for (;;) {
		fds_after = count_dir("/proc/self/fd");
		tasks_after = count_dir("/proc/self/task");
		if ((fds_after == fds_before && tasks_after == tasks_before) ||
		    tool_now_ns() >= deadline)
			break;
		usleep(10000);
	}
	check(c, fds_after == fds_before, "open fds %ld after %s == %ld before kvt_open",
	      fds_after, when, fds_before);
	check(c, tasks_after == tasks_before, "threads %ld after %s == %ld before kvt_open",
	      tasks_after, when, tasks_before);
}

struct reopen {
	bool done;
	uint64_t at_close;  /* dax_entries when the first instance closed */
	uint64_t recovered, torn, read, corrupt;
	struct fs_status fs_close;  /* fs: the first instance's report at close */
	struct fs_scan scan;        /* fs: the directory after close (counts only) */
	uint64_t missed;            /* fs: intact files not served */
	uint64_t served_bad;        /* fs: corrupted files served */
	uint64_t removed;           /* fs: corrupt_removed by the reopened instance */
};

/*
 * reopen_check() - open the DAX device again with the same config: it must
 * recover exactly the chunks DAX held at close, none torn, and each must
 * read back byte-exact.  kvt_borrow() reads in place and never promotes,
 * and L1 starts empty, so every byte checked comes from the device.
 */
static void reopen_check(struct stress *s, struct checks *c, struct reopen *r)
{
	uint64_t corrupt_before = atomic_load_explicit(&s->v->corruptions, memory_order_relaxed);
	struct kvt_stats st, after;
	int ret;

	ret = kvt_open(s->cfg, &s->kvt, NULL, 0);
	check(c, ret == 0, "reopen: kvt_open() on the same device = %d (%s)", ret,
	      kvt_strerror(ret));
	if (ret) {
		s->kvt = NULL;
		return;
	}
	r->done = true;
	kvt_stats(s->kvt, &st, sizeof(st));
	r->recovered = st.dax_recovered;
	r->torn = st.dax_torn;
	check(c, st.dax_recovered == r->at_close,
	      "reopen: dax_recovered %" PRIu64 " == dax_entries %" PRIu64 " at close",
	      st.dax_recovered, r->at_close);
	check(c, st.dax_torn == 0, "reopen: dax_torn %" PRIu64 " == 0", st.dax_torn);
	check(c, st.dax_entries == st.dax_recovered,
	      "reopen: dax_entries %" PRIu64 " == dax_recovered %" PRIu64, st.dax_entries,
	      st.dax_recovered);
	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		struct kvt_lease lease;

		ret = kvt_borrow(s->kvt, &key, &lease);
		if (ret == -ENOENT)
			continue;
		if (ret) {
			check(c, false, "reopen: kvt_borrow(key %" PRIu64 ") = %d (%s)", id, ret,
			      kvt_strerror(ret));
			continue;
		}
		r->read++;
		payload_check(s, "reopen", lease.data, lease.len, id);
		ret = kvt_release(s->kvt, &lease);
		if (ret)
			check(c, false, "reopen: kvt_release(key %" PRIu64 ") = %d", id, ret);
	}
	r->corrupt = atomic_load_explicit(&s->v->corruptions, memory_order_relaxed) - corrupt_before;
	kvt_stats(s->kvt, &after, sizeof(after));
	check(c, r->read == st.dax_recovered && r->corrupt == 0,
	      "reopen: read back %" PRIu64 " recovered chunks == %" PRIu64 ", %" PRIu64
	      " corrupt", r->read, st.dax_recovered, r->corrupt);
	check(c, after.dax_hits == r->read && after.l1_hits == 0 && after.dax_evictions == 0,
	      "reopen: dax_hits %" PRIu64 " == %" PRIu64 " read, l1_hits %" PRIu64
	      " == 0, dax_evictions %" PRIu64 " == 0", after.dax_hits, r->read, after.l1_hits,
	      after.dax_evictions);
	ret = kvt_close(s->kvt);
	s->kvt = NULL;
	check(c, ret == 0, "reopen: kvt_close() = %d", ret);
}

/*
 * fs_reopen_check() - open the directory (resp: the same key prefix on the
 * same servers, with every master up) again, without injected EIO, and
 * kvt_get() every key: L1 starts empty (and never serves in staging mode),
 * so every byte comes from disk.  Each file the adapter wrote and nobody
 * touched since must read back byte-exact; each still holding what the
 * corruption thread left must miss, and be removed if a lookup sees it.
 * Only chunk files may be left in the directory after kvt_close().
 */
static void fs_reopen_check(struct stress *s, struct checks *c, struct reopen *r)
{
	unsigned char *buf = s->w[0].get_buf;
	struct kvt_config *cfg = NULL;
	struct fs_status fs;
	struct kvt_stats st;
	int ret;

	ret = l2_scan(s, &r->scan);
	check(c, ret == 0, "%s: scan of %s after kvt_close: %s", s->resp ? "resp" : "fs",
	      s->resp ? s->resp_url : s->fs_dir, strerror(-ret));
	if (ret)
		goto out;
	/* Redis is shared: other keys are none of ours to count */
	if (s->fs)
		check(c, r->scan.stray == 0, "fs: %" PRIu64 " stray files in %s after kvt_close "
		      "(temp files, misnamed chunks)", r->scan.stray, s->fs_dir);
	ret = make_config(s, 0, &cfg);
	if (!ret)
		ret = kvt_open(cfg, &s->kvt, NULL, 0);
	check(c, ret == 0, "reopen: kvt_open() on the same %s = %d (%s)",
	      s->resp ? "keys" : "directory", ret, kvt_strerror(ret));
	if (ret) {
		s->kvt = NULL;
		goto out;
	}
	r->done = true;
	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		void *b = buf;
		size_t cap = s->chunk, len = 0;
		ssize_t got = kvt_get(s->kvt, &key, 1, &b, &cap, &len);
		int state = r->scan.state[id];

		if (got < 0 || got > 1 || (got == 1) != (len != 0)) {
			check(c, false, "reopen: kvt_get(key %" PRIu64 ") = %zd, len %zu", id, got,
			      len);
			continue;
		}
		if (got == 1) {
			bool ok = payload_check(s, "reopen", buf, len, id);

			r->read++;
			r->corrupt += !ok;
			if (state != FS_INTACT) {
				/* a corrupted file got through: a corruption even where
				 * its payload happens to be right (a flip in the header) */
				r->served_bad++;
				if (ok)
					atomic_fetch_add_explicit(&s->v->corruptions, 1,
								  memory_order_relaxed);
				stress_report(s, "CORRUPTION reopen: key %" PRIu64 ": served a %s "
					      "the corruption thread left (%s)", id,
					      s->resp ? "value" : "file",
					      state == FS_ABSENT ? "gone at the scan" : "still there");
			}
		} else if (state == FS_INTACT) {
			r->missed++;
			stress_report(s, "FAIL reopen: key %" PRIu64 ": its %s is intact but was "
				      "not served", id, s->resp ? "value" : "file");
		}
	}
	kvt_stats(s->kvt, &st, sizeof(st));
	fs_status(s->kvt, &fs);
	r->removed = fs.corrupt_removed;
	check(c, r->read == r->scan.intact && r->missed == 0 && r->served_bad == 0 &&
		 r->corrupt == 0,
	      "reopen: read back %" PRIu64 " == %" PRIu64 " files the adapter wrote and nobody "
	      "touched since (%" PRIu64 " not served), %" PRIu64 " corrupt, %" PRIu64
	      " corrupted files served", r->read, r->scan.intact, r->missed, r->corrupt,
	      r->served_bad);
	check(c, r->removed == r->scan.corrupt_seen,
	      "reopen: corrupt_removed %" PRIu64 " == %" PRIu64 " corrupted files a lookup sees "
	      "(%" PRIu64 " shorter than a header only miss)", r->removed, r->scan.corrupt_seen,
	      r->scan.corrupt - r->scan.corrupt_seen);
	check(c, st.l2_hits == r->read && st.l1_hits == 0,
	      "reopen: l2_hits %" PRIu64 " == %" PRIu64 " read, l1_hits %" PRIu64 " == 0",
	      st.l2_hits, r->read, st.l1_hits);
	/* one corrupted file is removed once at most: more removals would be
	 * files the adapter itself published bad */
	check(c, r->fs_close.corrupt_removed + r->removed <= fs_injected(s),
	      "files removed as corrupt (%" PRIu64 " in the run, %" PRIu64 " at reopen) <= %"
	      PRIu64 " corrupted", r->fs_close.corrupt_removed, r->removed, fs_injected(s));
	ret = kvt_close(s->kvt);
	s->kvt = NULL;
	check(c, ret == 0, "reopen: kvt_close() = %d", ret);
out:
	kvt_config_free(cfg);
	fs_scan_free(&r->scan);
}

/* ---- report ---- */

static void report_fs(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
		      const struct worker_acct *a)
{
	const struct fs_status *f = &r->fs_close;
	const _Atomic uint64_t *inj = s->fault.injected;

	printf("fs (%s): %" PRIu64 " chunks (%" PRIu64 " MiB) at close in %s; %" PRIu64
	       " hits, %" PRIu64 " misses, %" PRIu64 " promotions, %" PRIu64 " write errors, %"
	       PRIu64 " staging timeouts, %" PRIu64 " I/O errors, %" PRIu64 " evictions; %" PRIu64
	       " put callbacks (%" PRIu64 " flushes to settle)\n",
	       s->o.tier == TIER_FS_CACHE ? "cache" : "staging", f->chunks, f->bytes_used >> 20,
	       s->fs_dir, st->l2_hits, st->l2_misses, st->l2_promotions, st->l2_write_errors,
	       st->staging_timeouts, f->errors, f->evictions, a->cb_fired, a->track_flushes);
	printf("fs faults: %u EIO per million I/Os; %" PRIu64 " files corrupted (%" PRIu64
	       " payload flips, %" PRIu64 " header flips, %" PRIu64 " truncated, %" PRIu64
	       " replaced by garbage, %" PRIu64 " by another key's file); removed as corrupt: %"
	       PRIu64 " in the run, %" PRIu64 " at reopen\n", s->o.fault_ppm, fs_injected(s),
	       atomic_load_explicit(&inj[CORRUPT_PAYLOAD], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_HEADER], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_TRUNCATE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_GARBAGE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_FOREIGN], memory_order_relaxed),
	       f->corrupt_removed, r->removed);
	if (r->done)
		printf("reopen: %" PRIu64 " files (%" PRIu64 " intact, %" PRIu64 " corrupted, %"
		       PRIu64 " of them shorter than a header), %" PRIu64 " read back, %" PRIu64
		       " intact not served, %" PRIu64 " corrupted served, %" PRIu64 " corrupt\n",
		       r->scan.files, r->scan.intact, r->scan.corrupt,
		       r->scan.corrupt - r->scan.corrupt_seen, r->read, r->missed, r->served_bad,
		       r->corrupt);
}

static void json_fs(struct stress *s, const struct kvt_stats *st, const struct reopen *r)
{
	const struct fs_status *f = &r->fs_close;
	const _Atomic uint64_t *inj = s->fault.injected;

	printf(",\"fs\":{\"mode\":\"%s\",\"dir\":\"%s\",\"mb\":%u,\"fault_ppm\":%u,"
	       "\"corrupt_ms\":%u,\"l2_hits\":%" PRIu64 ",\"l2_misses\":%" PRIu64
	       ",\"l2_bytes_in\":%" PRIu64 ",\"l2_bytes_out\":%" PRIu64 ",\"l2_promotions\":%"
	       PRIu64 ",\"l2_write_errors\":%" PRIu64 ",\"staging_timeouts\":%" PRIu64
	       ",\"chunks\":%" PRIu64 ",\"io_errors\":%" PRIu64 ",\"evictions\":%" PRIu64
	       ",\"corrupted\":{\"payload\":%" PRIu64 ",\"header\":%" PRIu64 ",\"truncate\":%"
	       PRIu64 ",\"garbage\":%" PRIu64 ",\"foreign\":%" PRIu64 "},\"corrupt_removed\":"
	       "{\"run\":%" PRIu64 ",\"reopen\":%" PRIu64 "},\"reopen\":{\"files\":%" PRIu64
	       ",\"intact\":%" PRIu64 ",\"corrupted\":%" PRIu64 ",\"read\":%" PRIu64
	       ",\"missed\":%" PRIu64
	       ",\"served_corrupted\":%" PRIu64 ",\"corrupt\":%" PRIu64 "}}",
	       s->o.tier == TIER_FS_CACHE ? "cache" : "staging", s->fs_dir, s->o.fs_mb,
	       s->o.fault_ppm, s->o.corrupt_ms, st->l2_hits, st->l2_misses, st->l2_bytes_in,
	       st->l2_bytes_out, st->l2_promotions, st->l2_write_errors, st->staging_timeouts,
	       f->chunks, f->errors, f->evictions,
	       atomic_load_explicit(&inj[CORRUPT_PAYLOAD], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_HEADER], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_TRUNCATE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_GARBAGE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_FOREIGN], memory_order_relaxed),
	       f->corrupt_removed, r->removed, r->scan.files, r->scan.intact, r->scan.corrupt,
	       r->read, r->missed, r->served_bad, r->corrupt);
}

static void report_resp(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
			const struct worker_acct *a)
{
	const struct fs_status *f = &r->fs_close;
	const _Atomic uint64_t *inj = s->fault.injected;

	printf("resp (%s%s): %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " promotions, %"
	       PRIu64 " write errors; adapter at close: %" PRIu64 "/%" PRIu64 " nodes up, %" PRIu64
	       " round_trips, %" PRIu64 " redirections, %" PRIu64 " map refreshes, %" PRIu64
	       " reconnects, %" PRIu64 " errors, %" PRIu64 " refused, %" PRIu64 " corrupt (%" PRIu64
	       " deleted); %" PRIu64 " put callbacks (%" PRIu64 " flushes to settle)\n",
	       s->resp_url, s->resp_cluster ? ", cluster" : "", st->l2_hits, st->l2_misses,
	       st->l2_promotions, st->l2_write_errors, f->nodes_up, f->nodes, f->round_trips,
	       f->redirections, f->map_refreshes, f->reconnects, f->errors, f->refused, f->corrupt,
	       f->corrupt_removed, a->cb_fired, a->track_flushes);
	printf("resp faults: %" PRIu64 " values corrupted (%" PRIu64 " payload flips, %" PRIu64
	       " header flips, %" PRIu64 " truncated, %" PRIu64 " replaced by garbage, %" PRIu64
	       " by another key's value), %" PRIu64 " pauses of %u ms; found corrupt: %" PRIu64
	       " in the run, %" PRIu64 " deleted at reopen\n", fs_injected(s),
	       atomic_load_explicit(&inj[CORRUPT_PAYLOAD], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_HEADER], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_TRUNCATE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_GARBAGE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_FOREIGN], memory_order_relaxed),
	       atomic_load_explicit(&s->fault.pauses, memory_order_relaxed), s->o.pause_ms,
	       f->corrupt, r->removed);
	if (r->done)
		printf("reopen: %" PRIu64 " values (%" PRIu64 " intact, %" PRIu64 " corrupted, %"
		       PRIu64 " of them shorter than a header), %" PRIu64 " read back, %" PRIu64
		       " intact not served, %" PRIu64 " corrupted served, %" PRIu64 " corrupt\n",
		       r->scan.files, r->scan.intact, r->scan.corrupt,
		       r->scan.corrupt - r->scan.corrupt_seen, r->read, r->missed, r->served_bad,
		       r->corrupt);
}

static void json_resp(struct stress *s, const struct kvt_stats *st, const struct reopen *r)
{
	const struct fs_status *f = &r->fs_close;
	const _Atomic uint64_t *inj = s->fault.injected;

	printf(",\"resp\":{\"url\":\"%s\",\"cluster\":%s,\"own_servers\":%s,\"timeout_ms\":%u,"
	       "\"corrupt_ms\":%u,\"pause_ms\":%u,\"pauses\":%" PRIu64 ",\"l2_hits\":%" PRIu64
	       ",\"l2_misses\":%" PRIu64 ",\"l2_bytes_in\":%" PRIu64 ",\"l2_bytes_out\":%" PRIu64
	       ",\"l2_promotions\":%" PRIu64 ",\"l2_write_errors\":%" PRIu64 ",\"nodes\":%" PRIu64
	       ",\"nodes_up\":%" PRIu64 ",\"round_trips\":%" PRIu64 ",\"redirections\":%" PRIu64
	       ",\"map_refreshes\":%" PRIu64 ",\"reconnects\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"refused\":%" PRIu64 ",\"corrupt\":%" PRIu64 ",\"corrupt_removed\":{\"run\":%"
	       PRIu64 ",\"reopen\":%" PRIu64 "},\"corrupted\":{\"payload\":%" PRIu64 ",\"header\":%"
	       PRIu64 ",\"truncate\":%" PRIu64 ",\"garbage\":%" PRIu64 ",\"foreign\":%" PRIu64
	       "},\"reopen\":{\"values\":%" PRIu64 ",\"intact\":%" PRIu64 ",\"corrupted\":%" PRIu64
	       ",\"read\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"served_corrupted\":%" PRIu64
	       ",\"corrupt\":%" PRIu64 "}}",
	       s->resp_url, s->resp_cluster ? "true" : "false", s->o.resp_url ? "false" : "true",
	       s->o.resp_timeout_ms, s->o.corrupt_ms, s->o.pause_ms,
	       atomic_load_explicit(&s->fault.pauses, memory_order_relaxed), st->l2_hits,
	       st->l2_misses, st->l2_bytes_in, st->l2_bytes_out, st->l2_promotions,
	       st->l2_write_errors, f->nodes, f->nodes_up, f->round_trips, f->redirections,
	       f->map_refreshes, f->reconnects, f->errors, f->refused, f->corrupt,
	       f->corrupt_removed, r->removed,
	       atomic_load_explicit(&inj[CORRUPT_PAYLOAD], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_HEADER], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_TRUNCATE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_GARBAGE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_FOREIGN], memory_order_relaxed),
	       r->scan.files, r->scan.intact, r->scan.corrupt, r->read, r->missed, r->served_bad,
	       r->corrupt);
}

void worker_ops(const struct stress *s, uint64_t v[OP_N][OPC_N])
{
	memset(v, 0, sizeof(uint64_t[OP_N][OPC_N]));
	for (unsigned int i = 0; s->w && i < s->o.threads; i++) {
		for (int k = 0; k < OP_N; k++) {
			const struct op_stats *o = &s->w[i].op[k];

			v[k][OPC_CALLS] += atomic_load_explicit(&o->ops, memory_order_relaxed);
			v[k][OPC_KEYS] += atomic_load_explicit(&o->keys, memory_order_relaxed);
			v[k][OPC_HITS] += atomic_load_explicit(&o->hits, memory_order_relaxed);
			v[k][OPC_PRESSURE] += atomic_load_explicit(&o->pressure,
								   memory_order_relaxed);
			v[k][OPC_ERRORS] += atomic_load_explicit(&o->errors, memory_order_relaxed);
		}
	}
}

void report_ops(const uint64_t v[OP_N][OPC_N], double secs, uint64_t tot[OPC_N])
{
	memset(tot, 0, OPC_N * sizeof(*tot));
	printf("\n%-10s %12s %12s %12s %12s %10s %8s\n", "op", "calls", "calls/s", "keys",
	       "hits", "pressure", "errors");
	for (int k = 0; k < OP_N; k++) {
		for (int j = 0; j < OPC_N; j++)
			tot[j] += v[k][j];
		printf("%-10s %12" PRIu64 " %12.0f %12" PRIu64 " %12" PRIu64 " %10" PRIu64
		       " %8" PRIu64 "\n", stress_op_names[k], v[k][OPC_CALLS],
		       (double)v[k][OPC_CALLS] / secs, v[k][OPC_KEYS], v[k][OPC_HITS],
		       v[k][OPC_PRESSURE], v[k][OPC_ERRORS]);
	}
	printf("%-10s %12" PRIu64 " %12.0f %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %8" PRIu64
	       "\n", "total", tot[OPC_CALLS], (double)tot[OPC_CALLS] / secs, tot[OPC_KEYS],
	       tot[OPC_HITS], tot[OPC_PRESSURE], tot[OPC_ERRORS]);
}

void json_ops(const uint64_t v[OP_N][OPC_N], double secs)
{
	for (int k = 0; k < OP_N; k++)
		printf("%s\"%s\":{\"calls\":%" PRIu64 ",\"per_s\":%.1f,\"pressure\":%" PRIu64 "}",
		       k ? "," : "{", stress_op_names[k], v[k][OPC_CALLS],
		       (double)v[k][OPC_CALLS] / secs, v[k][OPC_PRESSURE]);
	putchar('}');
}

static void report(struct stress *s, uint64_t run_ns, const struct kvt_stats *st,
		   const struct checks *c, const struct reopen *r, bool pass)
{
	double secs = (double)run_ns / 1e9;
	uint64_t v[OP_N][OPC_N], tot[OPC_N], pressure;
	struct worker_acct a = total_acct(s);
	char fs[320] = "";

	worker_ops(s, v);
	report_ops(v, secs, tot);
	/* a failed DAX or L2 write-through is pressure too: the chunk stays in
	 * L1 (or, staged, is dropped), as an injected EIO wants */
	pressure = tot[OPC_PRESSURE] + st->dax_write_errors + st->l2_write_errors;
	printf("\nl1: %" PRIu64 " slots, %" PRIu64 " evictions, %" PRIu64 " hits; %" PRIu64
	       " removes (%" PRIu64 " of borrowed keys), %" PRIu64 " pins, %" PRIu64
	       " unpin underflows, %" PRIu64 " pins released by the monitor, %" PRIu64
	       " pins lost to forced removes or the ttl\n", st->l1_slots, st->l1_evictions,
	       st->l1_hits, st->removes, a.cross_removes, st->pins, st->unpin_underflows,
	       st->pin_force_releases, a.pins_lost);
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY)
		printf("dax (%s): %" PRIu64 " slots, %" PRIu64 " entries at the end, %" PRIu64
		       " evictions, %" PRIu64 " hits, %" PRIu64 " promotions, %" PRIu64
		       " write errors, %" PRIu64 " put callbacks (%" PRIu64 " flushes to settle)\n",
		       s->o.tier == TIER_DAX_TIERED ? "tiered" : "primary", st->dax_slots,
		       st->dax_entries, st->dax_evictions, st->dax_hits, st->dax_promotions,
		       st->dax_write_errors, a.cb_fired, a.track_flushes);
	if (s->fs)
		report_fs(s, st, r, &a);
	else if (s->resp)
		report_resp(s, st, r, &a);
	else if (r->done)
		printf("reopen: %" PRIu64 " chunks at close, %" PRIu64 " recovered, %" PRIu64
		       " torn, %" PRIu64 " read back, %" PRIu64 " corrupt\n", r->at_close,
		       r->recovered, r->torn, r->read, r->corrupt);
	printf("mailboxes: %" PRIu64 " full waits, %" PRIu64 " timeouts\n",
	       st->mailbox_full_waits, st->mailbox_timeouts);
	printf("checks: %u run, %u failed\n", c->run, c->failed);
	if (s->fs)
		snprintf(fs, sizeof(fs), ", fs hits %" PRIu64 " misses %" PRIu64 " write errors %"
			 PRIu64 ", files corrupted %" PRIu64 " detected %" PRIu64, st->l2_hits,
			 st->l2_misses, st->l2_write_errors, fs_injected(s),
			 r->fs_close.corrupt_removed + r->removed);
	if (s->resp)
		snprintf(fs, sizeof(fs), ", resp hits %" PRIu64 " misses %" PRIu64 " write errors %"
			 PRIu64 ", values corrupted %" PRIu64 " detected %" PRIu64 ", pauses %" PRIu64
			 ", round_trips %" PRIu64 " redirections %" PRIu64 " reconnects %" PRIu64
			 " corrupt %" PRIu64, st->l2_hits, st->l2_misses, st->l2_write_errors,
			 fs_injected(s), r->fs_close.corrupt + r->removed,
			 atomic_load_explicit(&s->fault.pauses, memory_order_relaxed),
			 r->fs_close.round_trips, r->fs_close.redirections, r->fs_close.reconnects,
			 r->fs_close.corrupt);
	printf("kvtier-stress: %s: tier %s, %u threads, %.1f s, %.0f ops/s, corruptions %" PRIu64
	       ", errors %" PRIu64 ", expected pressure %" PRIu64 "%s\n", pass ? "PASS" : "FAIL",
	       tier_names[s->o.tier], s->o.threads, secs, (double)tot[OPC_CALLS] / secs,
	       atomic_load_explicit(&s->v->corruptions, memory_order_relaxed),
	       atomic_load_explicit(&s->v->failures, memory_order_relaxed), pressure, fs);
	if (!s->o.json)
		return;
	printf("{\"tool\":\"kvtier-stress\",\"tier\":\"%s\",\"threads\":%u,\"seconds\":%.3f,"
	       "\"keys\":%u,\"capacity_mb\":%u,\"chunk_bytes\":%zu,\"l1_slots\":%" PRIu64
	       ",\"pin_ttl_ms\":%u,\"seed\":%" PRIu64 ",\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f,"
	       "\"per_op\":", tier_names[s->o.tier], s->o.threads, secs, s->nkeys,
	       s->o.tier == TIER_DAX_PRIMARY ? 0 : s->o.capacity_mb, s->chunk, st->l1_slots,
	       s->o.pin_ttl_ms, s->o.seed, tot[OPC_CALLS], (double)tot[OPC_CALLS] / secs);
	json_ops(v, secs);
	printf(",\"corruptions\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"pressure\":%" PRIu64
	       ",\"checks\":%u,\"checks_failed\":%u,\"evictions\":%" PRIu64
	       ",\"unpin_underflows\":%" PRIu64 ",\"pin_force_releases\":%" PRIu64,
	       atomic_load_explicit(&s->v->corruptions, memory_order_relaxed),
	       atomic_load_explicit(&s->v->failures, memory_order_relaxed), pressure, c->run,
	       c->failed, st->l1_evictions, st->unpin_underflows, st->pin_force_releases);
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY)
		printf(",\"dax\":{\"mode\":\"%s\",\"mb\":%u,\"slots\":%" PRIu64 ",\"entries\":%"
		       PRIu64 ",\"evictions\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"promotions\":%"
		       PRIu64 ",\"write_errors\":%" PRIu64 ",\"reopen\":{\"at_close\":%" PRIu64
		       ",\"recovered\":%" PRIu64 ",\"torn\":%" PRIu64 ",\"read\":%" PRIu64
		       ",\"corrupt\":%" PRIu64 "}}",
		       s->o.tier == TIER_DAX_TIERED ? "tiered" : "primary", s->o.dax_mb,
		       st->dax_slots, st->dax_entries, st->dax_evictions, st->dax_hits,
		       st->dax_promotions, st->dax_write_errors, r->at_close, r->recovered, r->torn,
		       r->read, r->corrupt);
	if (s->fs)
		json_fs(s, st, r);
	if (s->resp)
		json_resp(s, st, r);
	printf(",\"result\":\"%s\"}\n", pass ? "PASS" : "FAIL");
}

static void on_alarm(int sig)
{
	static const char msg[] = "kvtier-stress: FAIL: the run did not finish in time "
				  "(hang in kvt_flush or kvt_close?)\n";

	(void)sig;
	/* unlink() is async-signal-safe; the file is ours (dax_prepare_path) */
	if (dax_tmp_path[0])
		unlink(dax_tmp_path);
	fs_remove_dir();
	resp_stop_signal();
	procs_kill_signal();
	pool_stop_signal();
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

/* Ctrl-C or kill: the DAX file, fs directory, Redis servers or the pool's
 * daemon and engine processes go too, then the default action. */
static void on_signal(int sig)
{
	if (dax_tmp_path[0])
		unlink(dax_tmp_path);
	fs_remove_dir();
	resp_stop_signal();
	procs_kill_signal();
	pool_stop_signal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The keyspace: larger than the tier that evicts last, so everything cycles. */
static uint32_t default_keys(const struct stress *s, const struct kvt_stats *st)
{
	switch (s->o.tier) {
	case TIER_DAX_TIERED:
		return (uint32_t)(2 * st->dax_slots);
	case TIER_DAX_PRIMARY:
		return (uint32_t)(4 * st->dax_slots);
	case TIER_FS_CACHE:
	case TIER_RESP:
	case TIER_POOL:
		/* most reads miss L1 and go to disk (Redis, the pool) */
		return (uint32_t)(8 * st->l1_slots);
	case TIER_FS_STAGING:
		/* the staging area is small; the keyspace is as large as in cache mode */
		return (uint32_t)(64 * st->l1_slots);
	default:
		return (uint32_t)(4 * st->l1_slots);
	}
}

static void print_inputs(const struct stress *s, const struct kvt_stats *st)
{
	printf("kvtier-stress: tier %s, %u threads, %u s, %u keys, chunk %zu bytes, pin_ttl_ms %u,"
	       " seed %" PRIu64 "\n", tier_names[s->o.tier], s->o.threads, s->o.seconds, s->nkeys,
	       s->chunk, s->o.pin_ttl_ms, s->o.seed);
	if (s->o.tier != TIER_DAX_PRIMARY)
		printf("  l1  %" PRIu64 " slots (%u MiB)%s\n", st->l1_slots, s->o.capacity_mb,
		       s->o.tier == TIER_FS_STAGING ? ", staging only" : "");
	if (s->fs)
		printf("  fs  %s%s, %s mode, capacity %u MiB%s, EIO on %u I/Os per million, a file "
		       "corrupted every %u ms%s\n", s->fs_dir,
		       s->o.fs_dir ? "" : " (removed at exit)",
		       s->o.tier == TIER_FS_CACHE ? "cache" : "staging", s->o.fs_mb,
		       s->o.fs_mb ? "" : " (unbounded)", s->o.fault_ppm, s->o.corrupt_ms,
		       s->o.corrupt_ms ? "" : " (never)");
	if (s->resp)
		printf("  resp %s%s%s, prefix %s, timeout_ms %u, a value corrupted every %u ms%s, "
		       "a master stopped for %u ms every %.1f s%s\n", s->resp_url,
		       s->resp_cluster ? " (cluster)" : "",
		       s->o.resp_url ? "" : ": 3 masters of our own, stopped at exit", s->resp_prefix,
		       s->o.resp_timeout_ms, s->o.corrupt_ms, s->o.corrupt_ms ? "" : " (never)",
		       s->o.pause_ms, 2.5, s->o.pause_ms && !s->o.resp_url ? "" : " (never)");
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY) {
		char path[PATH_MAX] = "";

		kvt_config_get(s->cfg, "dax.device_path", path, sizeof(path));
		printf("  dax %" PRIu64 " slots (%u MiB) on %s%s, %s mode\n", st->dax_slots,
		       s->o.dax_mb, path, s->o.dax_path ? "" : " (emulated; removed at exit)",
		       s->o.tier == TIER_DAX_TIERED ? "tiered" : "primary");
	}
	fflush(stdout);
}

/* The keyspace of --tier pool, before any instance is open: L1 slots are
 * whole chunks of --capacity-mb (make_config sizes it so). */
uint32_t stress_pool_keys(const struct stress_opts *o)
{
	struct kvt_stats st = { .l1_slots = (uint64_t)o->capacity_mb * 1024 / o->chunk_kb };
	struct stress s = { .o = *o };
	uint64_t n = o->keys ? o->keys : default_keys(&s, &st);

	return n < 2 ? 2 : (uint32_t)n;
}

int stress_run(struct stress *s)
{
	struct checks c = { .verbose = s->o.verbose, .who = s->who };
	struct reopen r = { 0 };
	struct fs_status quiet_l2 = { 0 };
	struct kvt_stats st;
	long fds_before, tasks_before;
	uint64_t run_ns = 1;
	bool pass;
	int ret;

	warm_runtime();
	fds_before = count_dir("/proc/self/fd");
	tasks_before = count_dir("/proc/self/task");
	ret = stress_open(s);
	if (ret)
		goto out_cfg;
	kvt_stats(s->kvt, &st, sizeof(st));
	/* a pool engine process: the supervisor chose it */
	if (!s->shm) {
		s->nkeys = (uint32_t)(s->o.keys ? s->o.keys : default_keys(s, &st));
		if (s->nkeys < 2)
			s->nkeys = 2;
	}
	if (alloc_state(s)) {
		fprintf(stderr, "kvtier-stress: out of memory\n");
		kvt_close(s->kvt);
		ret = -ENOMEM;
		goto out_free;
	}
	if (!s->shm)
		print_inputs(s, &st);
	ret = s->fs ? fs_fault_start(s) : s->resp ? resp_fault_start(s) : 0;
	if (ret) {
		kvt_close(s->kvt);
		goto out_free;
	}

	run_ns = run_workers(s);
	/* it stops with the workers, at the deadline */
	fs_fault_stop(s);
	check(&c, run_ns != 0, "all %u workers started", s->o.threads);
	if (!run_ns)
		run_ns = 1;

	/* quiet now: every op has returned, every lease and pin was given back,
	 * and after the flush no put callback can fire */
	ret = kvt_flush(s->kvt);
	check(&c, ret == 0, "kvt_flush() = %d after the run", ret);
	settle_tracks(s);
	stress_drain_event_fd(s);
	/* a master paused near the end may leave the adapter in its reconnect
	 * backoff (at most 5 s): the checks below need every master */
	if (s->resp)
		check(&c, resp_wait_healthy(s, 15), "resp: every master up again after the run");
	quiet_stats(s, &st);
	accounting(s, &c, &st);
	/* what the pool holds changes until every process is quiet; the
	 * adapter's counters as they match st, before the sweep adds to them */
	if (s->shm) {
		fs_status(s->kvt, &quiet_l2);
		procs_child_quiet(s);
	}
	sweep_checks(s, &c, &st);
	fflush(stdout);
	if (st.borrows_active) {
		/* kvt_close() waits for every lease: it would never return */
		check(&c, false, "kvt_close() skipped: kvtier still counts %" PRIu64
		      " leases that every worker released", st.borrows_active);
		goto report;
	}
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY) {
		struct kvt_stats at_close;

		/* the sweep's promotions changed L1 only, but let eviction settle */
		quiet_stats(s, &at_close);
		r.at_close = at_close.dax_entries;
	}
	if (s->l2)
		fs_status(s->kvt, &r.fs_close);
	ret = kvt_close(s->kvt);
	s->kvt = NULL;
	check(&c, ret == 0, "kvt_close() = %d", ret);
	leak_checks(&c, fds_before, tasks_before, "kvt_close");
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY)
		reopen_check(s, &c, &r);
	/* the pool is reread by the supervisor's last instance (procs.c) */
	if (s->fs || s->resp)
		fs_reopen_check(s, &c, &r);
	if (s->o.tier != TIER_L1 && !s->pool)
		leak_checks(&c, fds_before, tasks_before, "the reopened kvt_close");
report:
	alarm(0);
	pass = c.failed == 0 &&
	       atomic_load_explicit(&s->v->corruptions, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&s->v->failures, memory_order_relaxed) == 0;
	if (s->shm)
		procs_child_done(s, &c, &st, &quiet_l2, run_ns, total_acct(s), pass);
	else
		report(s, run_ns, &st, &c, &r, pass);
	ret = pass ? 0 : 1;
out_free:
	free_state(s);
out_cfg:
	kvt_config_free(s->cfg);
	s->cfg = NULL;
	dax_remove_tmp();
	fs_remove_dir();
	resp_stop();
	/* before the sanitizers' exit-time reports, which end with _exit() */
	fflush(stdout);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct stress s = { 0 };

	const char *child = getenv(CHILD_ENV);

	if (parse_opts(argc, argv, &s.o))
		return EXIT_USAGE;
	s.v = &s.own;
	/* a pool engine process: its supervisor watches the time, and cleans up */
	if (child && s.o.tier == TIER_POOL)
		return procs_child_main(&s, child);
	signal(SIGALRM, on_alarm);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (s.o.tier == TIER_POOL)
		return procs_main(&s, argv);
	alarm(s.o.seconds + JOIN_GRACE_S + CLOSE_GRACE_S);
	return stress_run(&s);
}
