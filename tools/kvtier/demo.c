/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/demo.c - `kvtier demo`: a long-document QA workload on L1
 * and a Device-DAX tier.
 *
 * The shape is Qwen2.5-0.5B's KV cache (24 layers x 2 KV heads x 64 dims,
 * bfloat16: 12 KiB a token, 3 MiB a 256-token chunk), embedded so the demo
 * needs no file; --config FILE and KVT_* apply on top.
 *
 * Tiers.  By default the DAX tier is emulated by a file in /dev/shm
 * (created, and removed at the end unless --dax-path names it) large
 * enough for the whole working set, in tiered mode behind an L1 of a
 * quarter of the working set: puts write through to DAX on the DAX
 * writer, L1 evicts, and most restores come from DAX (each DAX hit is
 * promoted into L1).  The report splits restores by tier.  --no-dax runs
 * on L1 alone, sized to hold everything, as before.  A --dax-path that
 * holds this namespace from an earlier run is recovered at open: its
 * chunks are duplicates to the store phase and restore from DAX.
 *
 * Below them, unless --no-fs, an fs L2 tier (the "fs" adapter appended to
 * l2_adapters) on a fresh directory in DEMO_FS_DIR (removed at the end
 * unless --keep-fs) or on --fs-dir: every put writes through to one file
 * per chunk, and the put callback fires once the file is published.
 *
 *   store    for each document: deterministic pseudo-random token ids, keys
 *            by kvt_chunk_keys(), each chunk filled with a pattern seeded by
 *            its key, one kvt_put() of the document (the prefill).  Then a
 *            re-put of document 0 must be all duplicates.
 *   replay   each document once, shuffled, followed by a ~100-token question
 *            that misses: kvt_contains(KVT_PIN) gives the cached prefix,
 *            kvt_get() restores it into preallocated buffers, kvt_unpin().
 *            The latency of contains + get is the restore latency; its lower
 *            bound is the query's bytes over single-thread memcpy bandwidth
 *            measured in the same run.  A few more queries go through
 *            kvt_prefetch(), waiting on the event fd.
 *   restart  (with the fs tier) the warm restart from disk: close the
 *            instance, open a fresh one in the same namespace with a small
 *            L1, no DAX and the fs tier on the same directory, and replay a
 *            sample of the documents through both query paths.  The fs tier
 *            keeps no index in memory, so every chunk comes from the files
 *            the first instance wrote, and is promoted into L1.
 *   verify   every restored chunk, after the clock stops: its length and
 *            every byte against the pattern of its key, so a chunk restored
 *            under the wrong key fails too.  Destination pages are poisoned
 *            before each query, so a buffer the library left alone fails.
 *
 * The pattern is four interleaved xorshift64 streams (independent, so the
 * CPU overlaps them): filling and checking run near memory speed, and never
 * inside a timed region.
 *
 * Threads: the main thread; put and prefetch callbacks on whatever thread
 * the library runs them, so what they share with main is atomic.  Put
 * callbacks of the DAX tier fire on the DAX writer after kvt_put()
 * returned, so their state lives until the kvt_flush() that ends the store
 * phase.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tools/common/progress.h"
#include "tools/kvtier/cli.h"
#include "kvtier/l2.h"

/* The embedded model: Qwen2.5-0.5B. */
#define DEMO_MODEL "Qwen/Qwen2.5-0.5B-Instruct"
#define DEMO_CHUNK_TOKENS 256
#define DEMO_LAYERS 24
#define DEMO_KV_HEADS 2
#define DEMO_HEAD_DIM 64
#define DEMO_DTYPE "bfloat16"
#define DEMO_DTYPE_BYTES 2
#define DEMO_VOCAB 151936u

/* L1 alone (--no-dax): at least this many GiB ("GB" in LMCache). */
#define DEMO_L1_MIN_GB 2.5
/* ... and the working set x this, so eviction (which starts below 5% free
 * and stops at 10% by default) never runs. */
#define DEMO_L1_HEADROOM 1.25
/* With DAX: L1 holds 1/DEMO_L1_SHARE of the working set, so it evicts and
 * most restores come from DAX; DAX holds all of it x DEMO_DAX_HEADROOM, so
 * DAX never evicts (it keeps 1% free). */
#define DEMO_L1_SHARE 4
#define DEMO_DAX_HEADROOM 1.25
#define DEMO_DAX_DIR "/dev/shm"
/* The fs tier's directory: disk-backed, unlike /tmp on many machines. */
#define DEMO_FS_DIR "/var/tmp"
/* Each chunk file's header block (l2/fschunk.h), for the space check. */
#define DEMO_FS_HDR 4096
#define FS_DIR_MAX 256

#define DEFAULT_DOCS 20
#define DEFAULT_TOKENS 8192
#define QUESTION_TOKENS 100
#define PREFETCH_QUERIES 4
#define PREFETCH_WAIT_MS 10000
/* The warm restart replays this many documents by contains+get and then
 * this many more by prefetch: about a second of disk reads. */
#define RESTART_QUERIES 8
#define RESTART_PREFETCH 2

#define MEMCPY_BYTES (64ul << 20)
#define MEMCPY_REPS 5
#define FIRST_TOUCH_BYTES (256ul << 20)
#define FIRST_TOUCH_REPS 3

#define POISON_WORD 0x6b767469657262adull
#define POISON_STRIDE 4096
#define FAIL_PRINT_MAX 10

#define GIB (1024.0 * 1024.0 * 1024.0)
#define MIB (1024.0 * 1024.0)

struct demo_opts {
	const char *config;
	uint64_t docs;
	uint64_t tokens;
	uint64_t queries;
	bool json;
	bool no_dax;
	const char *dax_path;	/* NULL: a file in DEMO_DAX_DIR, removed at the end */
	double dax_gb;		/* 0: sized from the working set */
	bool no_fs;
	bool keep_fs;
	const char *fs_dir;	/* NULL: a directory in DEMO_FS_DIR */
};

struct quant {
	double lat50, lat99, bound50, bound99;
};

/* What the queries of one path (contains+get, or prefetch) of one phase
 * restored. */
struct tally {
	uint64_t asked, hit, ns, bytes;
	uint64_t n;			/* queries timed */
	double *lat_ms, *bound_ms;	/* per query; bound_ms holds bytes until tally_finish() */
	struct quant q;			/* by tally_finish() */
};

/* One kvt_put(): keys and n are written before the put, then only read. */
struct put_ctx {
	const struct kvt_key *keys;	/* this document's keys, kept until checked */
	size_t n;
	size_t stored;			/* main only: what kvt_put returned */
	_Atomic uint64_t calls;
	_Atomic uint64_t bad;
};

struct demo {
	struct demo_opts o;
	struct kvt *kvt;
	size_t chunk_tokens;
	size_t chunk_bytes;
	size_t token_bytes;
	size_t stride;			/* chunk buffer spacing, 64-byte multiple */
	size_t doc_keys;		/* keys of one document */
	size_t query_keys;		/* keys of a document plus its question */
	size_t full_chunks;		/* hits a query expects: whole doc chunks */
	uint64_t l1_slots;
	bool dax;			/* a DAX tier in tiered mode */
	char dax_path[256];		/* its device or file */
	bool dax_tmp;			/* created here: remove at the end */
	double dax_gb;
	uint64_t dax_slots, dax_recovered;

	uint32_t *tokens;		/* o.tokens + QUESTION_TOKENS */
	struct kvt_key *keys;		/* query_keys */
	char *arena;			/* query_keys chunk buffers */
	void **bufs;
	size_t *lens;
	size_t *buf_lens;
	size_t *out_lens;
	int *results;
	uint64_t *perm;

	uint64_t failures;		/* wrong bytes, failed calls, broken contracts */
	double memcpy_gbps;
	double first_touch_gbps;	/* memcpy into fresh pages, as a cold L1 */

	struct put_ctx *put;		/* per document, checked after the store flush */
	struct kvt_key *doc_keys_all;	/* o.docs x doc_keys, what put->keys point at */

	bool fs;			/* an fs L2 tier, written through */
	char fs_dir[FS_DIR_MAX];		/* its base_path */
	char fs_json[FS_DIR_MAX * 6 + 64];	/* its l2_adapters object, base_path escaped */
	bool fs_tmp;			/* created here: remove at the end unless --keep-fs */
	size_t fs_index;		/* its position in l2_adapters */

	uint64_t store_ns, store_bytes, stored, duplicates;
	uint64_t store_wall_ns;		/* puts + the flush that drains the lower-tier writes */
	uint64_t verified;
	struct tally get, pf;		/* the replay */
	struct kvt_stats before_replay, after_get;	/* per-tier hits by phase */
	struct kvt_stats st;		/* the first instance, at the end of the replay */
	struct kvt_l2_status fs_st;	/* the fs tier then */

	/* the warm restart from disk, on the second instance */
	bool restart;			/* d->kvt is the restart instance */
	uint64_t restart_l1_slots;
	uint64_t restart_open_ns;
	struct tally rget, rpf;
	struct kvt_stats rst;		/* its counters at the end */
	struct kvt_l2_status rfs_st;	/* its fs tier then */
};

struct prefetch_ctx {
	_Atomic uint32_t fired;		/* release by the callback, acquire by main */
	_Atomic uint64_t ticket;
	_Atomic int64_t hits;
};

static void demo_fail(struct demo *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void demo_fail(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	if (d->failures++ >= FAIL_PRINT_MAX)
		return;
	fprintf(stderr, "kvtier demo: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- deterministic data ------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void fill_tokens(uint32_t *t, size_t n, uint64_t seed)
{
	uint64_t s = splitmix64(&seed) | 1;

	for (size_t i = 0; i < n; i++)
		t[i] = (uint32_t)(xorshift64(&s) % DEMO_VOCAB);
}

static void doc_tokens(uint32_t *t, size_t n, uint64_t doc)
{
	fill_tokens(t, n, doc);
}

static void question_tokens(uint32_t *t, size_t n, uint64_t query)
{
	fill_tokens(t, n, ~query);
}

struct pattern {
	uint64_t s[4];
};

static void pattern_init(struct pattern *p, const struct kvt_key *key)
{
	uint64_t x = key->lo ^ (key->hi * 0x9e3779b97f4a7c15ull);

	for (int i = 0; i < 4; i++)
		p->s[i] = splitmix64(&x) | 1;
}

/* The 8 bytes after the last whole word, when @len is not a multiple of 8. */
static uint64_t pattern_tail(struct pattern *p)
{
	return xorshift64(&p->s[0]);
}

/* Fill @len bytes at @buf (8-byte aligned) with @key's pattern. */
static void pattern_fill(void *buf, size_t len, const struct kvt_key *key)
{
	uint64_t *w = buf;
	size_t nw = len / 8, i;
	struct pattern p;

	pattern_init(&p, key);
	for (i = 0; i + 4 <= nw; i += 4) {
		w[i] = xorshift64(&p.s[0]);
		w[i + 1] = xorshift64(&p.s[1]);
		w[i + 2] = xorshift64(&p.s[2]);
		w[i + 3] = xorshift64(&p.s[3]);
	}
	for (; i < nw; i++)
		w[i] = xorshift64(&p.s[i & 3]);
	if (len & 7) {
		uint64_t t = pattern_tail(&p);

		memcpy((char *)buf + nw * 8, &t, len & 7);
	}
}

/*
 * pattern_check() - compare @len bytes at @buf with @key's pattern.
 * Return: @len when all match, else the offset of the first wrong 32-byte
 * block (or tail).
 */
static size_t pattern_check(const void *buf, size_t len, const struct kvt_key *key)
{
	const uint64_t *w = buf;
	size_t nw = len / 8, i;
	struct pattern p;

	pattern_init(&p, key);
	for (i = 0; i + 4 <= nw; i += 4) {
		uint64_t diff = (w[i] ^ xorshift64(&p.s[0])) |
				(w[i + 1] ^ xorshift64(&p.s[1])) |
				(w[i + 2] ^ xorshift64(&p.s[2])) |
				(w[i + 3] ^ xorshift64(&p.s[3]));

		if (diff)
			return i * 8;
	}
	for (; i < nw; i++)
		if (w[i] != xorshift64(&p.s[i & 3]))
			return i * 8;
	if (len & 7) {
		uint64_t t = pattern_tail(&p);

		if (memcmp((const char *)buf + nw * 8, &t, len & 7))
			return nw * 8;
	}
	return len;
}

/* Fisher-Yates over 0..n-1 with a fixed stream, so runs repeat. */
static void shuffle(uint64_t *perm, size_t n, uint64_t *seed)
{
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(splitmix64(seed) % i);
		uint64_t t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

/* ---- setup --------------------------------------------------------------- */

static void demo_usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier demo [--config FILE] [--docs N] [--tokens N] [--queries N]\n"
		"                   [--no-dax | --dax-path P] [--dax-gb G]\n"
		"                   [--no-fs | --fs-dir D] [--keep-fs] [--json]\n"
		"\n"
		"Long-document QA on L1, DAX and an fs tier: store N documents (default\n"
		"%d) of N tokens (default %d) in %d-token chunks of Qwen2.5-0.5B's KV\n"
		"shape (3 MiB a chunk), then replay N queries (default: every document\n"
		"once, shuffled, each with a %d-token question that misses) through\n"
		"kvt_contains + kvt_get, and %d through kvt_prefetch; verify every\n"
		"restored byte.  The DAX tier is emulated by a file in %s (removed at\n"
		"the end) that holds the whole working set, behind an L1 of 1/%d of it,\n"
		"so most restores come from DAX.  Every put also writes through to one\n"
		"file per chunk in a fresh directory in %s (removed at the end); then\n"
		"a warm restart from disk: a fresh instance (small L1, no DAX) on that\n"
		"directory replays %d documents by contains+get and %d by prefetch, all\n"
		"from the files.  Prints hit rate, restores by tier, store and restore\n"
		"GB/s, restore latency p50/p99 next to the memcpy bound of the same\n"
		"run, and the counters.\n"
		"\n"
		"  --config FILE  LMCache YAML applied on the demo's config, then KVT_*\n"
		"  --no-dax       L1 only, sized to hold the whole working set\n"
		"  --dax-path P   DAX device, or tmpfs file (created if absent), kept at\n"
		"                 the end; this namespace's chunks in it are recovered\n"
		"  --dax-gb G     DAX size in GiB (default: %.2f x the working set)\n"
		"  --no-fs        no fs tier, no restart phase\n"
		"  --fs-dir D     the fs tier's directory (created if absent), kept at\n"
		"                 the end\n"
		"  --keep-fs      keep the fs tier's fresh directory at the end\n"
		"  --json         also print one JSON object as the last line\n"
		"Exit status: 0 all checks held, 1 a check failed, 2 usage error.\n",
		DEFAULT_DOCS, DEFAULT_TOKENS, DEMO_CHUNK_TOKENS, QUESTION_TOKENS,
		PREFETCH_QUERIES, DEMO_DAX_DIR, DEMO_L1_SHARE, DEMO_FS_DIR, RESTART_QUERIES,
		RESTART_PREFETCH, DEMO_DAX_HEADROOM);
}

/* Return: -1 to go on, or an exit code. */
static int parse_opts(struct demo_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "docs", required_argument, NULL, 'd' },
		{ "tokens", required_argument, NULL, 't' },
		{ "queries", required_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-dax", no_argument, NULL, 'n' },
		{ "dax-path", required_argument, NULL, 'p' },
		{ "dax-gb", required_argument, NULL, 'g' },
		{ "no-fs", no_argument, NULL, 'N' },
		{ "fs-dir", required_argument, NULL, 'f' },
		{ "keep-fs", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_queries = false;
	char *end;
	int c;

	o->docs = DEFAULT_DOCS;
	o->tokens = DEFAULT_TOKENS;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'd':
			if (opt_parse_u64("kvtier", "docs", optarg, 1, 1000000, &o->docs))
				return CLI_EXIT_USAGE;
			break;
		case 't':
			if (opt_parse_u64("kvtier", "tokens", optarg, 1, 1u << 20, &o->tokens))
				return CLI_EXIT_USAGE;
			break;
		case 'q':
			if (opt_parse_u64("kvtier", "queries", optarg, 1, 10000000, &o->queries))
				return CLI_EXIT_USAGE;
			have_queries = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			o->no_dax = true;
			break;
		case 'p':
			if (optarg[0] != '/') {
				fprintf(stderr, "kvtier demo: --dax-path: \"%s\": must be an absolute path\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			o->dax_path = optarg;
			break;
		case 'g':
			errno = 0;
			o->dax_gb = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->dax_gb > 0) || o->dax_gb > 1048576) {
				fprintf(stderr, "kvtier demo: --dax-gb: \"%s\": must be a number of GiB above 0\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'N':
			o->no_fs = true;
			break;
		case 'f':
			if (optarg[0] != '/') {
				fprintf(stderr, "kvtier demo: --fs-dir: \"%s\": must be an absolute path\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			o->fs_dir = optarg;
			break;
		case 'k':
			o->keep_fs = true;
			break;
		case 'h':
			demo_usage(stdout);
			return CLI_EXIT_OK;
		case ':':
			fprintf(stderr, "kvtier demo: %s needs a value\n", argv[optind - 1]);
			demo_usage(stderr);
			return CLI_EXIT_USAGE;
		default:
			fprintf(stderr, "kvtier demo: unknown option '%s'\n", argv[optind - 1]);
			demo_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvtier demo: unexpected argument '%s'\n", argv[optind]);
		demo_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (o->no_dax && (o->dax_path || o->dax_gb > 0)) {
		fprintf(stderr, "kvtier demo: --no-dax excludes --dax-path and --dax-gb\n");
		return CLI_EXIT_USAGE;
	}
	if (o->no_fs && (o->fs_dir || o->keep_fs)) {
		fprintf(stderr, "kvtier demo: --no-fs excludes --fs-dir and --keep-fs\n");
		return CLI_EXIT_USAGE;
	}
	if (!have_queries)
		o->queries = o->docs;
	return -1;
}

static double phys_gib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || page <= 0)
		return 8.0;
	return (double)pages * (double)page / GIB;
}

/* Free bytes of the filesystem holding @dir, or 0 if unknown. */
static double fs_free_bytes(const char *dir)
{
	struct statvfs vfs;

	if (statvfs(dir, &vfs) < 0)
		return 0;
	return (double)vfs.f_bavail * (double)vfs.f_frsize;
}

/* Remove the DAX file this run created. */
static void dax_remove_tmp(struct demo *d)
{
	if (d->dax_tmp && unlink(d->dax_path) < 0)
		fprintf(stderr, "kvtier demo: cannot remove %s: %s\n", d->dax_path, strerror(errno));
	d->dax_tmp = false;
}

/* An nftw() callback: removal needs the path only, children first
 * (FTW_DEPTH), and one entry that cannot go does not stop the others. */
static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) < 0)
		fprintf(stderr, "kvtier demo: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

/* Remove the fs directory this run created, and every file in it (the
 * chunk files and their shard directories), unless --keep-fs. */
static void fs_remove_tmp(struct demo *d)
{
	if (d->fs_tmp && !d->o.keep_fs &&
	    nftw(d->fs_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "kvtier demo: cannot remove %s: %s\n", d->fs_dir, strerror(errno));
	d->fs_tmp = false;
}

/* The working set of the options in chunks of the embedded shape, and a
 * chunk's bytes: estimates where --config changes the shape. */
static void working_set(const struct demo_opts *o, double *chunks, double *chunk)
{
	*chunk = 2.0 * DEMO_LAYERS * DEMO_CHUNK_TOKENS * DEMO_KV_HEADS * DEMO_HEAD_DIM *
		 DEMO_DTYPE_BYTES;
	*chunks = (double)o->docs *
		  (double)((o->tokens + DEMO_CHUNK_TOKENS - 1) / DEMO_CHUNK_TOKENS);
}

/* @s as the body of a JSON string into @out, which holds 6 x strlen(@s) + 1
 * bytes: the most escaping can take ("\u001f" for one byte). */
static void json_escape(char *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			out += sprintf(out, "\\%c", c);
		else if (c < 0x20)
			out += sprintf(out, "\\u%04x", c);
		else
			*out++ = (char)c;
	}
	*out = '\0';
}

static int set_knob(struct kvt_config *cfg, const char *key, const char *value)
{
	char err[256];
	int ret = kvt_config_set(cfg, key, value, err, sizeof(err));

	if (ret)
		fprintf(stderr, "kvtier demo: embedded config: %s\n", err);
	return ret;
}

/*
 * dax_config() - the DAX tier: tiered mode on --dax-path, or on a fresh
 * file in DEMO_DAX_DIR (mkstemp, mode 0600; removed by demo_main), sized
 * for @chunks chunks with headroom unless --dax-gb says otherwise.  A tmpfs
 * does not reserve the file (a full one raises SIGBUS on first touch), so
 * the free space is checked first.
 */
static int dax_config(struct demo *d, struct kvt_config *cfg, double chunks, double chunk)
{
	const struct demo_opts *o = &d->o;
	double gb = o->dax_gb, slot = chunk + 64;
	char value[64];
	int fd;

	if (!(gb > 0)) {
		gb = ceil(chunks * slot * DEMO_DAX_HEADROOM / GIB * 4) / 4;
		if (gb > floor(phys_gib() / 2) && floor(phys_gib() / 2) >= 1)
			gb = floor(phys_gib() / 2);
	}
	d->dax_gb = gb;
	if (o->dax_path) {
		snprintf(d->dax_path, sizeof(d->dax_path), "%s", o->dax_path);
	} else {
		if (fs_free_bytes(DEMO_DAX_DIR) < gb * GIB) {
			fprintf(stderr, "kvtier demo: %s has %.2f GiB free, the DAX file needs %.2f GiB; use fewer --docs or --tokens, --dax-gb, or --no-dax\n",
				DEMO_DAX_DIR, fs_free_bytes(DEMO_DAX_DIR) / GIB, gb);
			return -ENOSPC;
		}
		snprintf(d->dax_path, sizeof(d->dax_path), "%s/kvtier-demo-XXXXXX", DEMO_DAX_DIR);
		fd = mkstemp(d->dax_path);
		if (fd < 0) {
			fprintf(stderr, "kvtier demo: cannot create a DAX file in %s: %s\n",
				DEMO_DAX_DIR, strerror(errno));
			return -errno;
		}
		close(fd);
		d->dax_tmp = true;
	}
	snprintf(value, sizeof(value), "%.4f", gb);
	if (set_knob(cfg, "dax.device_path", d->dax_path) ||
	    set_knob(cfg, "dax.allow_file_backing", "true") ||
	    set_knob(cfg, "dax.max_dax_size", value) || set_knob(cfg, "dax.mode", "tiered"))
		return -EINVAL;
	d->dax = true;
	return 0;
}

/*
 * fs_config() - the fs tier: the "fs" adapter appended to l2_adapters, on
 * --fs-dir or on a fresh directory in DEMO_FS_DIR (mkdtemp, mode 0700;
 * removed by demo_main unless --keep-fs) with room for a file per chunk.
 * Called after --config and KVT_* so that it appends to their adapters
 * rather than being replaced by them.
 */
static int fs_config(struct demo *d, struct kvt_config *cfg)
{
	char path[FS_DIR_MAX * 6], err[256];
	double chunks, chunk, need;
	int ret;

	working_set(&d->o, &chunks, &chunk);
	need = chunks * (chunk + DEMO_FS_HDR);
	if (d->o.fs_dir) {
		if (strlen(d->o.fs_dir) >= sizeof(d->fs_dir)) {
			fprintf(stderr, "kvtier demo: --fs-dir: longer than %zu bytes\n",
				sizeof(d->fs_dir) - 1);
			return -ENAMETOOLONG;
		}
		snprintf(d->fs_dir, sizeof(d->fs_dir), "%s", d->o.fs_dir);
	} else {
		if (fs_free_bytes(DEMO_FS_DIR) < need) {
			fprintf(stderr, "kvtier demo: %s has %.2f GiB free, the fs tier needs %.2f GiB; use fewer --docs or --tokens, --fs-dir, or --no-fs\n",
				DEMO_FS_DIR, fs_free_bytes(DEMO_FS_DIR) / GIB, need / GIB);
			return -ENOSPC;
		}
		snprintf(d->fs_dir, sizeof(d->fs_dir), "%s/kvtier-demo-fs-XXXXXX", DEMO_FS_DIR);
		if (!mkdtemp(d->fs_dir)) {
			ret = -errno;
			fprintf(stderr, "kvtier demo: cannot create a directory in %s: %s\n",
				DEMO_FS_DIR, strerror(-ret));
			return ret;
		}
		d->fs_tmp = true;
	}
	json_escape(path, d->fs_dir);
	snprintf(d->fs_json, sizeof(d->fs_json), "{\"type\":\"fs\",\"base_path\":\"%s\"}", path);
	ret = kvt_config_add_l2_adapter(cfg, d->fs_json, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier demo: fs tier: %s\n", err);
		return ret;
	}
	d->fs = true;
	return 0;
}

/*
 * demo_config() - the embedded config: Qwen2.5-0.5B's KV shape, and either
 * an L1 of 1/DEMO_L1_SHARE of the working set in front of a DAX tier that
 * holds all of it, or (--no-dax) an L1 that holds the whole working set
 * with headroom (capped at half the machine's memory).
 */
static int demo_config(struct demo *d, struct kvt_config *cfg)
{
	static const struct {
		const char *key;
		const char *value;
	} rows[] = {
		{ "model_name", DEMO_MODEL },
		{ "chunk_size", "256" },
		{ "kv_layers", "24" },
		{ "kv_heads", "2" },
		{ "head_dim", "64" },
		{ "kv_dtype", DEMO_DTYPE },
		{ "use_mla", "false" },
		{ "local_cpu", "true" },
	};
	_Static_assert(DEMO_CHUNK_TOKENS == 256 && DEMO_LAYERS == 24 && DEMO_KV_HEADS == 2 &&
		       DEMO_HEAD_DIM == 64, "rows[] spells the DEMO_* shape");
	const struct demo_opts *o = &d->o;
	double chunk, chunks, gb, cap = floor(phys_gib() / 2);
	char value[32];
	int ret;

	working_set(o, &chunks, &chunk);
	gb = chunks * chunk * DEMO_L1_HEADROOM / GIB;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ret = set_knob(cfg, rows[i].key, rows[i].value);
		if (ret)
			return ret;
	}
	if (!o->no_dax) {
		/* whole slots, a hair over so floor() in kvtier keeps the last one */
		double slots = fmax(2, ceil(chunks / DEMO_L1_SHARE));

		snprintf(value, sizeof(value), "%.9f", slots * chunk / GIB + 1e-9);
		ret = set_knob(cfg, "max_local_cpu_size", value);
		return ret ? ret : dax_config(d, cfg, chunks, chunk);
	}
	gb = ceil(gb * 4) / 4;
	if (gb < DEMO_L1_MIN_GB)
		gb = DEMO_L1_MIN_GB;
	if (gb > cap && cap >= 1)
		gb = cap;
	snprintf(value, sizeof(value), "%.2f", gb);
	return set_knob(cfg, "max_local_cpu_size", value);
}

static uint64_t config_u64(const struct kvt_config *cfg, const char *key)
{
	char buf[64];

	if (kvt_config_get(cfg, key, buf, sizeof(buf)) < 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);

	if (!p)
		fprintf(stderr, "kvtier demo: out of memory (%zu bytes)\n", n);
	return p;
}

static int tally_alloc(struct tally *t, uint64_t queries)
{
	t->lat_ms = xalloc(queries * sizeof(double));
	t->bound_ms = xalloc(queries * sizeof(double));
	return t->lat_ms && t->bound_ms ? 0 : -ENOMEM;
}

static void tally_free(struct tally *t)
{
	free(t->bound_ms);
	free(t->lat_ms);
}

/* Buffers for one query, all faulted in: an engine's buffers are resident. */
static int demo_alloc(struct demo *d)
{
	size_t arena = d->query_keys * d->stride;
	uint64_t nq = d->o.queries;

	if ((double)arena > phys_gib() * GIB / 4) {
		fprintf(stderr, "kvtier demo: %zu chunk buffers of %zu bytes (%.1f GiB) for one query is more than a quarter of memory; use fewer --tokens\n",
			d->query_keys, d->chunk_bytes, (double)arena / GIB);
		return -ENOMEM;
	}
	d->tokens = xalloc((d->o.tokens + QUESTION_TOKENS) * sizeof(*d->tokens));
	d->keys = xalloc(d->query_keys * sizeof(*d->keys));
	d->arena = xalloc(arena);
	d->bufs = xalloc(d->query_keys * sizeof(*d->bufs));
	d->lens = xalloc(d->query_keys * sizeof(*d->lens));
	d->buf_lens = xalloc(d->query_keys * sizeof(*d->buf_lens));
	d->out_lens = xalloc(d->query_keys * sizeof(*d->out_lens));
	d->results = xalloc(d->query_keys * sizeof(*d->results));
	d->perm = xalloc(d->o.docs * sizeof(*d->perm));
	/* one more document: the re-put of document 0 */
	d->put = xalloc((d->o.docs + 1) * sizeof(*d->put));
	d->doc_keys_all = xalloc((d->o.docs + 1) * d->doc_keys * sizeof(*d->doc_keys_all));
	if (!d->tokens || !d->keys || !d->arena || !d->bufs || !d->lens || !d->buf_lens ||
	    !d->out_lens || !d->results || !d->perm || !d->put || !d->doc_keys_all ||
	    tally_alloc(&d->get, nq) || tally_alloc(&d->pf, PREFETCH_QUERIES) ||
	    tally_alloc(&d->rget, RESTART_QUERIES) || tally_alloc(&d->rpf, RESTART_PREFETCH))
		return -ENOMEM;
	memset(d->arena, 0, arena);
	for (size_t i = 0; i < d->query_keys; i++) {
		d->bufs[i] = d->arena + i * d->stride;
		d->buf_lens[i] = d->chunk_bytes;
	}
	return 0;
}

static void demo_free(struct demo *d)
{
	tally_free(&d->rpf);
	tally_free(&d->rget);
	tally_free(&d->pf);
	tally_free(&d->get);
	free(d->doc_keys_all);
	free(d->put);
	free(d->perm);
	free(d->results);
	free(d->out_lens);
	free(d->buf_lens);
	free(d->lens);
	free(d->bufs);
	free(d->arena);
	free(d->keys);
	free(d->tokens);
}

/*
 * Single-thread memcpy of a 64 MiB buffer, best of MEMCPY_REPS: the bound a
 * restore into engine buffers cannot beat on one thread.
 */
static double measure_memcpy_gbps(void)
{
	char *src = xalloc(MEMCPY_BYTES), *dst = xalloc(MEMCPY_BYTES);
	uint64_t best = UINT64_MAX;

	if (!src || !dst) {
		free(src);
		free(dst);
		return 0;
	}
	memset(src, 0x5a, MEMCPY_BYTES);
	memset(dst, 0xa5, MEMCPY_BYTES);
	for (int r = 0; r <= MEMCPY_REPS; r++) {
		uint64_t t0 = tool_now_ns(), t;

		memcpy(dst, src, MEMCPY_BYTES);
		/* the copy is observable: no dead-store elimination */
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		t = tool_now_ns() - t0;
		if (r && t < best)	/* rep 0 warms up */
			best = t;
	}
	free(src);
	free(dst);
	return (double)MEMCPY_BYTES / (double)best;
}

/*
 * Chunk-sized memcpys into a fresh anonymous mapping with MADV_HUGEPAGE, as
 * the L1 arena is mapped: the bound for storing into a cold L1, where the
 * kernel faults in and zeroes every page on first write.  Best of
 * FIRST_TOUCH_REPS fresh mappings.
 */
static double measure_first_touch_gbps(const struct demo *d)
{
	size_t n = FIRST_TOUCH_BYTES / d->chunk_bytes;
	uint64_t best = UINT64_MAX;

	if (n < 8)
		n = 8;
	for (int r = 0; r < FIRST_TOUCH_REPS; r++) {
		char *m = mmap(NULL, n * d->chunk_bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		uint64_t t0, t;

		if (m == MAP_FAILED)
			return 0;
		madvise(m, n * d->chunk_bytes, MADV_HUGEPAGE);
		t0 = tool_now_ns();
		for (size_t i = 0; i < n; i++)
			memcpy(m + i * d->chunk_bytes, d->bufs[i % d->query_keys], d->chunk_bytes);
		__asm__ __volatile__("" : : "r"(m) : "memory");
		t = tool_now_ns() - t0;
		best = t < best ? t : best;
		munmap(m, n * d->chunk_bytes);
	}
	return (double)(n * d->chunk_bytes) / (double)best;
}

/* ---- the workload ---------------------------------------------------------- */

/* Bytes of chunk @i of a sequence of @ntokens tokens. */
static size_t chunk_len(const struct demo *d, size_t ntokens, size_t i)
{
	size_t left = ntokens - i * d->chunk_tokens;

	return (left < d->chunk_tokens ? left : d->chunk_tokens) * d->token_bytes;
}

static bool key_eq(const struct kvt_key *a, const struct kvt_key *b)
{
	return a->lo == b->lo && a->hi == b->hi;
}

static void put_cb(void *arg, const struct kvt_key *key, size_t index)
{
	struct put_ctx *pc = arg;

	atomic_fetch_add_explicit(&pc->calls, 1, memory_order_relaxed);
	if (index >= pc->n || !key_eq(key, &pc->keys[index]))
		atomic_fetch_add_explicit(&pc->bad, 1, memory_order_relaxed);
}

/* Evictions that can make a cached chunk miss: DAX's with a DAX tier (L1
 * evicts by design, and DAX holds everything), else L1's.  On the restart
 * instance none: the fs tier has no capacity limit. */
static uint64_t evictions(struct demo *d)
{
	struct kvt_stats st;

	if (d->restart)
		return 0;
	kvt_stats(d->kvt, &st, sizeof(st));
	return d->dax ? st.dax_evictions : st.l1_evictions;
}

/* Whether a stored chunk may be missing from the fs tier at the restart:
 * a chunk recovered from DAX at open made its put a duplicate, and
 * duplicates are not written through. */
static bool restart_miss_expected(const struct demo *d)
{
	return d->restart && d->dax_recovered;
}

/* Whether a put of an already-stored chunk is expected: a document stored
 * twice, or a DAX device that held this namespace at open. */
static bool dup_expected(const struct demo *d, bool dup)
{
	return dup || d->dax_recovered;
}

/*
 * store_doc() - the prefill of document @doc: keys, chunk bytes, one put.
 * @slot: which put_ctx (and key copy) the callbacks use; they are checked
 *        by check_put_callbacks() after the store phase's kvt_flush().
 * @dup: the document is stored already; every key must be a duplicate.
 */
static void store_doc(struct demo *d, uint64_t doc, uint64_t slot, bool dup)
{
	struct put_ctx *pc = &d->put[slot];
	struct kvt_key *keys = d->doc_keys_all + slot * d->doc_keys;
	size_t n = d->doc_keys;
	uint64_t stored_bytes = 0, t0, t1;
	ssize_t r;

	*pc = (struct put_ctx){ .keys = keys, .n = n };
	doc_tokens(d->tokens, d->o.tokens, doc);
	r = kvt_chunk_keys(d->kvt, d->tokens, d->o.tokens, d->keys, d->query_keys);
	if (r != (ssize_t)n) {
		demo_fail(d, "kvt_chunk_keys(doc %llu): %zd, expected %zu",
			  (unsigned long long)doc, r, n);
		return;
	}
	memcpy(keys, d->keys, n * sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		d->lens[i] = chunk_len(d, d->o.tokens, i);
		pattern_fill(d->bufs[i], d->lens[i], &d->keys[i]);
	}
	t0 = tool_now_ns();
	r = kvt_put(d->kvt, d->keys, (const void *const *)d->bufs, d->lens, n, d->results,
		    put_cb, pc);
	t1 = tool_now_ns();
	if (r < 0) {
		demo_fail(d, "kvt_put(doc %llu): %s", (unsigned long long)doc,
			  kvt_strerror((int)r));
		return;
	}
	pc->stored = (size_t)r;
	for (size_t i = 0; i < n; i++) {
		int want = dup ? 1 : 0;

		if (d->results[i] == 0)
			stored_bytes += d->lens[i];
		if (d->results[i] == 1)
			d->duplicates++;
		if (d->results[i] < 0)
			demo_fail(d, "kvt_put(doc %llu) key %zu: %s", (unsigned long long)doc,
				  i, kvt_strerror(d->results[i]));
		else if (d->results[i] != want && !(dup && evictions(d)) &&
			 !(d->results[i] == 1 && dup_expected(d, dup)))
			demo_fail(d, "kvt_put(doc %llu) key %zu: result %d, expected %d",
				  (unsigned long long)doc, i, d->results[i], want);
	}
	if (dup)
		return;
	d->store_ns += t1 - t0;
	d->store_bytes += stored_bytes;	/* recovered chunks are not stored again */
	d->stored += (uint64_t)r;
}

/*
 * check_put_callbacks() - once the store flush returned no put callback can
 * still fire: each put's fired once per key it stored, with that key.
 */
static void check_put_callbacks(struct demo *d, uint64_t nput)
{
	for (uint64_t i = 0; i < nput; i++) {
		struct put_ctx *pc = &d->put[i];
		uint64_t calls = atomic_load_explicit(&pc->calls, memory_order_relaxed);
		uint64_t bad = atomic_load_explicit(&pc->bad, memory_order_relaxed);

		if (calls != pc->stored || bad)
			demo_fail(d, "kvt_put #%llu: stored %zu keys, callback fired %llu times (%llu with a wrong key or index)",
				  (unsigned long long)i, pc->stored, (unsigned long long)calls,
				  (unsigned long long)bad);
	}
}

static void store_phase(struct demo *d)
{
	uint64_t t0 = tool_now_ns();
	struct progress p;
	int ret;

	progress_start(&p, "store", d->o.docs);
	for (uint64_t doc = 0; doc < d->o.docs; doc++) {
		store_doc(d, doc, doc, false);
		progress_update(&p, doc + 1);
	}
	/* with DAX: until the last write-through is in DAX */
	ret = kvt_flush(d->kvt);
	d->store_wall_ns = tool_now_ns() - t0;
	progress_end(&p);
	if (ret)
		demo_fail(d, "kvt_flush: %s", kvt_strerror(ret));
	store_doc(d, 0, d->o.docs, true);
	ret = kvt_flush(d->kvt);
	if (ret)
		demo_fail(d, "kvt_flush: %s", kvt_strerror(ret));
	check_put_callbacks(d, d->o.docs + 1);
}

/* Tokens and keys of query @q on document @doc.  Return: false on failure. */
static bool make_query(struct demo *d, uint64_t doc, uint64_t q)
{
	size_t ntok = d->o.tokens + QUESTION_TOKENS;
	ssize_t r;

	doc_tokens(d->tokens, d->o.tokens, doc);
	question_tokens(d->tokens + d->o.tokens, QUESTION_TOKENS, q);
	r = kvt_chunk_keys(d->kvt, d->tokens, ntok, d->keys, d->query_keys);
	if (r != (ssize_t)d->query_keys) {
		demo_fail(d, "kvt_chunk_keys(query %llu): %zd, expected %zu",
			  (unsigned long long)q, r, d->query_keys);
		return false;
	}
	return true;
}

/* Mark every page of every destination buffer, and every out_len. */
static void poison(struct demo *d)
{
	const uint64_t w = POISON_WORD;

	for (size_t i = 0; i < d->query_keys; i++) {
		char *b = d->bufs[i];

		for (size_t off = 0; off + sizeof(w) <= d->chunk_bytes; off += POISON_STRIDE)
			memcpy(b + off, &w, sizeof(w));
		if (d->chunk_bytes >= sizeof(w))
			memcpy(b + d->chunk_bytes - sizeof(w), &w, sizeof(w));
		d->out_lens[i] = SIZE_MAX;
	}
}

/*
 * check_restore() - after query @q restored @hits chunks: the hit count
 * against what is cached, every out_len, every byte.
 * Return: the bytes restored.
 */
static uint64_t check_restore(struct demo *d, uint64_t q, const char *how, ssize_t hits,
			      bool holes_zeroed)
{
	size_t ntok = d->o.tokens + QUESTION_TOKENS;
	uint64_t bytes = 0;

	if (hits < 0 || (size_t)hits > d->full_chunks ||
	    ((size_t)hits < d->full_chunks && !evictions(d) && !restart_miss_expected(d))) {
		demo_fail(d, "%s query %llu: %zd hits; %zu chunks are cached and none was evicted",
			  how, (unsigned long long)q, hits, d->full_chunks);
		if (hits < 0)
			return 0;
	}
	for (size_t i = 0; i < d->query_keys; i++) {
		size_t want = (ssize_t)i < hits ? chunk_len(d, ntok, i) : 0, at;

		if ((ssize_t)i >= hits && !holes_zeroed)
			break;
		if (d->out_lens[i] != want) {
			demo_fail(d, "%s query %llu chunk %zu: out_len %zu, expected %zu", how,
				  (unsigned long long)q, i, d->out_lens[i], want);
			continue;
		}
		if (!want)
			continue;
		at = pattern_check(d->bufs[i], want, &d->keys[i]);
		if (at != want)
			demo_fail(d, "%s query %llu chunk %zu: wrong bytes at offset %zu of %zu",
				  how, (unsigned long long)q, i, at, want);
		bytes += want;
		d->verified++;
	}
	return bytes;
}

/*
 * replay_query() - one query through kvt_contains(KVT_PIN) + kvt_get(), then
 * unpin, into @t.  Pins hold L1 and DAX copies only: the hits L1 and DAX
 * served are the prefix contains pinned, and the hits the fs tier served
 * after it were never pinned, so only that prefix is unpinned.
 */
static void replay_query(struct demo *d, struct tally *t, uint64_t doc, uint64_t q)
{
	const char *how = d->restart ? "restart get" : "get";
	struct kvt_stats s0, s1;
	uint64_t t0, t1, bytes, pinned;
	ssize_t hits, got, unpinned;

	if (!make_query(d, doc, q))
		return;
	poison(d);
	kvt_stats(d->kvt, &s0, sizeof(s0));
	t0 = tool_now_ns();
	hits = kvt_contains(d->kvt, d->keys, d->query_keys, KVT_PIN);
	got = hits > 0 ? kvt_get(d->kvt, d->keys, (size_t)hits, d->bufs, d->buf_lens,
				 d->out_lens) : 0;
	t1 = tool_now_ns();
	kvt_stats(d->kvt, &s1, sizeof(s1));
	pinned = (s1.l1_hits - s0.l1_hits) + (s1.dax_hits - s0.dax_hits);
	unpinned = pinned ? kvt_unpin(d->kvt, d->keys, (size_t)pinned) : 0;
	if (got != hits)
		demo_fail(d, "%s query %llu: kvt_get restored %zd of %zd hits", how,
			  (unsigned long long)q, got, hits);
	if (unpinned < 0 || (uint64_t)unpinned != pinned)
		demo_fail(d, "%s query %llu: kvt_unpin dropped %zd of %llu pins", how,
			  (unsigned long long)q, unpinned, (unsigned long long)pinned);
	bytes = check_restore(d, q, how, hits, false);
	t->asked += d->query_keys;
	t->hit += hits > 0 ? (uint64_t)hits : 0;
	t->ns += t1 - t0;
	t->bytes += bytes;
	t->lat_ms[t->n] = (double)(t1 - t0) / 1e6;
	t->bound_ms[t->n] = (double)bytes;	/* bytes until tally_finish() */
	t->n++;
}

static void prefetch_cb(void *arg, uint64_t ticket, ssize_t hits)
{
	struct prefetch_ctx *pc = arg;

	atomic_store_explicit(&pc->ticket, ticket, memory_order_relaxed);
	atomic_store_explicit(&pc->hits, (int64_t)hits, memory_order_relaxed);
	/* release: the restored bytes and the fields above, before main sees it */
	atomic_fetch_add_explicit(&pc->fired, 1, memory_order_release);
}

/* One query through kvt_prefetch(), waiting on the event fd, into @t. */
static void prefetch_query(struct demo *d, struct tally *t, uint64_t doc, uint64_t q)
{
	const char *how = d->restart ? "restart prefetch" : "prefetch";
	struct prefetch_ctx pc = { .fired = 0 };
	struct pollfd pfd = { .fd = kvt_event_fd(d->kvt), .events = POLLIN };
	uint64_t ticket = 0, count = 0, t0, t1, bytes;
	uint32_t fired;
	int ret;

	if (!make_query(d, doc, q))
		return;
	poison(d);
	t0 = tool_now_ns();
	ret = kvt_prefetch(d->kvt, d->keys, d->query_keys, d->bufs, d->buf_lens, d->out_lens,
			   prefetch_cb, &pc, &ticket);
	if (ret) {
		demo_fail(d, "kvt_prefetch(%s query %llu): %s", how, (unsigned long long)q,
			  kvt_strerror(ret));
		return;
	}
	ret = poll(&pfd, 1, PREFETCH_WAIT_MS);
	if (ret != 1 || read(pfd.fd, &count, sizeof(count)) != sizeof(count)) {
		/* the buffers may still be written: do not reuse them */
		demo_fail(d, "%s query %llu: event fd not readable after %d ms", how,
			  (unsigned long long)q, PREFETCH_WAIT_MS);
		kvt_flush(d->kvt);
		return;
	}
	t1 = tool_now_ns();
	/* acquire: pairs with the release in prefetch_cb */
	fired = atomic_load_explicit(&pc.fired, memory_order_acquire);
	if (fired != 1 || count != 1 || atomic_load(&pc.ticket) != ticket) {
		demo_fail(d, "%s query %llu: callback fired %u times, event count %llu, ticket %llu vs %llu",
			  how, (unsigned long long)q, fired, (unsigned long long)count,
			  (unsigned long long)atomic_load(&pc.ticket), (unsigned long long)ticket);
		if (!fired)
			return;
	}
	bytes = check_restore(d, q, how, (ssize_t)atomic_load(&pc.hits), true);
	t->asked += d->query_keys;
	if (atomic_load(&pc.hits) > 0)
		t->hit += (uint64_t)atomic_load(&pc.hits);
	t->ns += t1 - t0;
	t->bytes += bytes;
	t->lat_ms[t->n] = (double)(t1 - t0) / 1e6;
	t->bound_ms[t->n] = (double)bytes;
	t->n++;
}

static void replay_phase(struct demo *d)
{
	uint64_t npf = d->o.queries < PREFETCH_QUERIES ? d->o.queries : PREFETCH_QUERIES;
	uint64_t seed = 0x6b7674696572ull, q;
	struct progress p;

	kvt_stats(d->kvt, &d->before_replay, sizeof(d->before_replay));
	progress_start(&p, "replay", d->o.queries + npf);
	for (q = 0; q < d->o.queries; q++) {
		if (q % d->o.docs == 0)
			shuffle(d->perm, d->o.docs, &seed);
		replay_query(d, &d->get, d->perm[q % d->o.docs], q);
		progress_update(&p, q + 1);
	}
	kvt_stats(d->kvt, &d->after_get, sizeof(d->after_get));
	shuffle(d->perm, d->o.docs, &seed);
	for (uint64_t i = 0; i < npf; i++) {
		prefetch_query(d, &d->pf, d->perm[i % d->o.docs], q + i);
		progress_update(&p, q + i + 1);
	}
	progress_end(&p);
}

/*
 * restart_config() - the restart instance's config: @cfg's namespace and
 * chunk shape (so keys and chunks are the first instance's), an L1 of
 * d->restart_l1_slots chunks, no DAX, and the fs tier alone; nothing else
 * of --config or KVT_*, so that every chunk comes from the files.
 */
static int restart_config(struct demo *d, const struct kvt_config *cfg, struct kvt_config **out)
{
	static const char *const same[] = {
		"model_name", "world_size", "worker_id", "kv_dtype", "kv_layout", "tenant_salt",
		"chunk_size", "kv_layers", "kv_heads", "head_dim", "use_mla",
	};
	struct kvt_config *rc;
	char value[512], err[256];
	int ret;

	ret = kvt_config_new(&rc);
	if (ret)
		return ret;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		ret = kvt_config_get(cfg, same[i], value, sizeof(value));
		if (ret < 0 || (ret = set_knob(rc, same[i], value)))
			goto err_free;
	}
	/* whole slots, a hair over as in demo_config() */
	snprintf(value, sizeof(value), "%.9f",
		 (double)d->restart_l1_slots * (double)d->chunk_bytes / GIB + 1e-9);
	ret = set_knob(rc, "max_local_cpu_size", value);
	if (ret)
		goto err_free;
	ret = kvt_config_add_l2_adapter(rc, d->fs_json, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier demo: restart: fs tier: %s\n", err);
		goto err_free;
	}
	*out = rc;
	return 0;
err_free:
	kvt_config_free(rc);
	return ret;
}

/*
 * restart_phase() - the warm restart from disk: close the instance (its
 * DAX file goes too), open a fresh one by restart_config(), and replay
 * RESTART_QUERIES documents by contains+get, then RESTART_PREFETCH others
 * by prefetch.  Nothing is cached but the files, so every chunk is read
 * from the fs tier and promoted into the small L1.
 */
static void restart_phase(struct demo *d, const struct kvt_config *cfg)
{
	uint64_t nget = d->o.docs < RESTART_QUERIES ? d->o.docs : RESTART_QUERIES;
	uint64_t npf = d->o.docs < RESTART_PREFETCH ? d->o.docs : RESTART_PREFETCH;
	uint64_t seed = 0x726573746172ull, q = d->o.queries + PREFETCH_QUERIES, t0;
	struct kvt_config *rc;
	struct progress p;
	int ret;

	kvt_close(d->kvt);
	d->kvt = NULL;
	/* give its memory back before the second instance maps its own */
	dax_remove_tmp(d);
	ret = restart_config(d, cfg, &rc);
	if (ret) {
		demo_fail(d, "restart: config: %s", kvt_strerror(ret));
		return;
	}
	t0 = tool_now_ns();
	ret = kvt_open(rc, &d->kvt, NULL, 0);
	d->restart_open_ns = tool_now_ns() - t0;
	kvt_config_free(rc);
	if (ret) {
		d->kvt = NULL;
		demo_fail(d, "restart: kvt_open: %s", kvt_strerror(ret));
		return;
	}
	d->restart = true;
	shuffle(d->perm, d->o.docs, &seed);
	progress_start(&p, "restart", nget + npf);
	for (uint64_t i = 0; i < nget; i++) {
		replay_query(d, &d->rget, d->perm[i], q + i);
		progress_update(&p, i + 1);
	}
	/* the next documents of the shuffle: not in L1 yet, where there are enough */
	for (uint64_t i = 0; i < npf; i++) {
		prefetch_query(d, &d->rpf, d->perm[(nget + i) % d->o.docs], q + nget + i);
		progress_update(&p, nget + i + 1);
	}
	progress_end(&p);
	kvt_stats(d->kvt, &d->rst, sizeof(d->rst));
	kvt_l2_report(d->kvt, 0, NULL, &d->rfs_st);
}

/* ---- report -------------------------------------------------------------- */

static double gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0;
}

/* Turn @t's per-query bytes into memcpy-bound milliseconds, and take the
 * quantiles (each array sorted on its own). */
static void tally_finish(struct tally *t, double gbps_bound)
{
	for (uint64_t i = 0; i < t->n; i++)
		t->bound_ms[i] = t->bound_ms[i] / gbps_bound / 1e6;
	t->q = (struct quant){
		.lat50 = tool_quantile(t->lat_ms, t->n, 0.5),
		.lat99 = tool_quantile(t->lat_ms, t->n, 0.99),
		.bound50 = tool_quantile(t->bound_ms, t->n, 0.5),
		.bound99 = tool_quantile(t->bound_ms, t->n, 0.99),
	};
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void print_inputs(struct demo *d, const struct kvt_config *cfg)
{
	char model[256] = "", dtype[32] = "", mla[8] = "", size[32] = "";
	uint64_t total = d->o.docs * d->doc_keys;

	kvt_config_get(cfg, "model_name", model, sizeof(model));
	kvt_config_get(cfg, "kv_dtype", dtype, sizeof(dtype));
	kvt_config_get(cfg, "use_mla", mla, sizeof(mla));
	kvt_config_get(cfg, "max_local_cpu_size", size, sizeof(size));
	printf("kvtier demo: long-document QA, %s%s\n",
	       d->dax ? "L1 + Device-DAX (tiered)" : "L1 only", d->fs ? " + fs" : "");
	printf("  model     %s KV: %llu layers x %llu heads x %llu dims, %s%s\n",
	       model[0] ? model : "(unnamed)", (unsigned long long)config_u64(cfg, "kv_layers"),
	       (unsigned long long)config_u64(cfg, "kv_heads"),
	       (unsigned long long)config_u64(cfg, "head_dim"), dtype,
	       strcmp(mla, "true") ? ", K and V" : ", MLA");
	printf("  docs      %llu x %llu tokens; chunk %zu tokens = %zu bytes (%.2f MiB); %llu chunks = %.2f GiB\n",
	       (unsigned long long)d->o.docs, (unsigned long long)d->o.tokens, d->chunk_tokens,
	       d->chunk_bytes, (double)d->chunk_bytes / MIB, (unsigned long long)total,
	       (double)(d->o.docs * d->o.tokens) * (double)d->token_bytes / GIB);
	printf("  queries   %llu (documents shuffled, + %d question tokens each) by contains+get, %llu by prefetch\n",
	       (unsigned long long)d->o.queries, QUESTION_TOKENS,
	       (unsigned long long)(d->o.queries < PREFETCH_QUERIES ? d->o.queries :
				    PREFETCH_QUERIES));
	printf("  L1        %llu slots = %.2f GiB (max_local_cpu_size %.6s)%s\n",
	       (unsigned long long)d->l1_slots, (double)d->l1_slots * (double)d->chunk_bytes / GIB,
	       size, total <= d->l1_slots ? "" : d->dax ?
	       "; a fraction of the working set: L1 evicts, restores come mostly from DAX" :
	       "; working set is larger: expect evictions");
	if (d->dax)
		printf("  DAX       %llu slots = %.2f GiB (dax.max_dax_size %.2f) on %s%s; write-through, DAX hits promoted into L1\n",
		       (unsigned long long)d->dax_slots,
		       (double)d->dax_slots * (double)d->chunk_bytes / GIB, d->dax_gb, d->dax_path,
		       d->dax_tmp ? " (a tmpfs file emulating a device; removed at the end)" : "");
	if (d->dax_recovered)
		printf("  DAX       %llu chunks recovered at open from an earlier run: stored chunks are duplicates%s\n",
		       (unsigned long long)d->dax_recovered,
		       d->fs ? ", not written to the fs tier" : "");
	if (!d->fs)
		return;
	printf("  fs        %s%s: every put written through, one file per chunk (buffered I/O)\n",
	       d->fs_dir, !d->fs_tmp ? "" : d->o.keep_fs ? " (a fresh directory; kept: --keep-fs)" :
	       " (a fresh directory; removed at the end)");
	printf("  restart   then close, open a fresh instance on it (L1 %llu slots = %.2f GiB, no DAX): %llu documents by contains+get, %llu by prefetch, from disk\n",
	       (unsigned long long)d->restart_l1_slots,
	       (double)d->restart_l1_slots * (double)d->chunk_bytes / GIB,
	       (unsigned long long)(d->o.docs < RESTART_QUERIES ? d->o.docs : RESTART_QUERIES),
	       (unsigned long long)(d->o.docs < RESTART_PREFETCH ? d->o.docs : RESTART_PREFETCH));
}

/* Restores of the contains+get queries and of the prefetches, by tier. */
struct by_tier {
	uint64_t get_l1, get_dax, get_fs, pf_l1, pf_dax, pf_fs, promoted;
};

static struct by_tier restores_by_tier(const struct demo *d)
{
	const struct kvt_stats *b = &d->before_replay, *g = &d->after_get, *e = &d->st;

	return (struct by_tier){
		.get_l1 = g->l1_hits - b->l1_hits,
		.get_dax = g->dax_hits - b->dax_hits,
		.get_fs = g->l2_hits - b->l2_hits,
		.pf_l1 = e->l1_hits - g->l1_hits,
		.pf_dax = e->dax_hits - g->dax_hits,
		.pf_fs = e->l2_hits - g->l2_hits,
		.promoted = e->dax_promotions - b->dax_promotions,
	};
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0;
}

/* The tiers the store phase waited for, and where its chunks then were. */
static const char *store_flush_label(const struct demo *d)
{
	return d->dax && d->fs ? "L1+DAX+fs (to flush)" : d->dax ? "L1 + DAX (to flush)" :
	       "L1 + fs (to flush)";
}

static const char *store_flush_what(const struct demo *d)
{
	return d->dax && d->fs ? "in DAX and on disk" : d->dax ? "in DAX" : "on disk";
}

/* kvt_l2_report() of the fs tier; @note says what its counts cover. */
static void print_fs_status(const char *when, const struct kvt_l2_status *st, const char *note)
{
	printf("%-9s %-20s %llu chunks, %.2f GiB used%s, %s, %llu errors; %s\n", "fs", when,
	       (unsigned long long)st->chunks, (double)st->bytes_used / GIB, note,
	       st->is_healthy ? "healthy" : "UNHEALTHY", (unsigned long long)st->errors,
	       st->detail);
}

/* The prefetches' chunks by tier, with an fs tier: "L1 / DAX / fs". */
static void print_pf_by_tier(const struct demo *d, const struct by_tier *t)
{
	char v[80];

	if (d->dax)
		snprintf(v, sizeof(v), "%llu / %llu / %llu", (unsigned long long)t->pf_l1,
			 (unsigned long long)t->pf_dax, (unsigned long long)t->pf_fs);
	else
		snprintf(v, sizeof(v), "%llu / %llu", (unsigned long long)t->pf_l1,
			 (unsigned long long)t->pf_fs);
	printf("%-9s %-20s %12s   (chunks from L1%s / fs)\n", "prefetch", "by tier", v,
	       d->dax ? " / DAX" : "");
}

static void print_restart(struct demo *d)
{
	const struct kvt_stats *st = &d->rst;
	uint64_t hit = d->rget.hit + d->rpf.hit, asked = d->rget.asked + d->rpf.asked;
	uint64_t ns = d->rget.ns + d->rpf.ns;

	printf("%-9s %-20s %9.2f ms   (fresh instance: L1 %llu slots, no DAX, the fs tier alone)\n",
	       "restart", "kvt_open", (double)d->restart_open_ns / 1e6,
	       (unsigned long long)d->restart_l1_slots);
	printf("%-9s %-20s %10.2f %%   (%llu of %llu chunks, contains+get and prefetch)\n",
	       "restart", "hit rate", pct(hit, asked), (unsigned long long)hit,
	       (unsigned long long)asked);
	printf("%-9s %-20s %12llu   (%.1f %% of restored chunks; l2_misses %llu, l2_promotions %llu into L1)\n",
	       "restart", "from fs (l2_hits)", (unsigned long long)st->l2_hits,
	       pct(st->l2_hits, hit), (unsigned long long)st->l2_misses,
	       (unsigned long long)st->l2_promotions);
	printf("%-9s %-20s %7.2f GB/s                (%llu chunks = %.2f GiB from the fs tier in %.2f s of queries; buffered reads: files still in the page cache skip the device)\n",
	       "restart", "from disk", gbps(st->l2_bytes_out, ns), (unsigned long long)st->l2_hits,
	       (double)st->l2_bytes_out / GIB, (double)ns / 1e9);
	printf("%-9s %-20s %7.2f GB/s %7.2f GB/s %7.2f\n", "restart", "restore (get)",
	       gbps(d->rget.bytes, d->rget.ns), d->memcpy_gbps,
	       ratio(gbps(d->rget.bytes, d->rget.ns), d->memcpy_gbps));
	printf("%-9s %-20s %9.2f ms %9.2f ms %7.2f\n", "restart", "latency p50",
	       d->rget.q.lat50, d->rget.q.bound50, ratio(d->rget.q.lat50, d->rget.q.bound50));
	printf("%-9s %-20s %9.2f ms %9.2f ms %7.2f\n", "restart", "latency p99",
	       d->rget.q.lat99, d->rget.q.bound99, ratio(d->rget.q.lat99, d->rget.q.bound99));
	if (d->rpf.n) {
		printf("%-9s %-20s %7.2f GB/s %7.2f GB/s %7.2f\n", "restart", "prefetch",
		       gbps(d->rpf.bytes, d->rpf.ns), d->memcpy_gbps,
		       ratio(gbps(d->rpf.bytes, d->rpf.ns), d->memcpy_gbps));
		printf("%-9s %-20s %9.2f ms %9.2f ms %7.2f\n", "restart", "prefetch p50",
		       d->rpf.q.lat50, d->rpf.q.bound50, ratio(d->rpf.q.lat50, d->rpf.q.bound50));
	}
}

static void print_report(struct demo *d)
{
	double store = gbps(d->store_bytes, d->store_ns);
	double store_wall = gbps(d->store_bytes, d->store_wall_ns);
	double restore = gbps(d->get.bytes, d->get.ns);
	double prefetch = gbps(d->pf.bytes, d->pf.ns);
	const struct kvt_stats *st = &d->st;
	struct by_tier t = restores_by_tier(d);
	uint64_t got = t.get_l1 + t.get_dax + t.get_fs;
	const struct quant *g = &d->get.q, *pf = &d->pf.q;

	printf("  memcpy    1 thread, 64 MiB buffer: %.2f GB/s (best of %d, before and after replay); into fresh pages (cold L1): %.2f GB/s\n\n",
	       d->memcpy_gbps, 2 * MEMCPY_REPS, d->first_touch_gbps);
	printf("%-9s %-20s %12s %12s %7s\n", "phase", "metric", "value", "bound", "ratio");
	printf("%-9s %-20s %7.2f GB/s %7.2f GB/s %7.2f   (bound: memcpy into fresh pages)\n",
	       "store", "kvt_put (cold L1)", store, d->first_touch_gbps,
	       ratio(store, d->first_touch_gbps));
	if (d->dax || d->fs)
		printf("%-9s %-20s %7.2f GB/s %7.2f GB/s %7.2f   (puts, then kvt_flush until every chunk is %s)\n",
		       "store", store_flush_label(d), store_wall, d->first_touch_gbps,
		       ratio(store_wall, d->first_touch_gbps), store_flush_what(d));
	printf("%-9s %-20s %10.2f %%   (%llu of %llu chunks)\n", "replay", "hit rate",
	       pct(d->get.hit, d->get.asked), (unsigned long long)d->get.hit,
	       (unsigned long long)d->get.asked);
	if (d->dax || d->fs)
		printf("%-9s %-20s %12llu   (%.1f %% of restored chunks)\n", "replay", "from L1 (l1_hits)",
		       (unsigned long long)t.get_l1, pct(t.get_l1, got));
	if (d->dax)
		printf("%-9s %-20s %12llu   (%.1f %%; dax_promotions %llu into L1, whole replay)\n",
		       "replay", "from DAX (dax_hits)", (unsigned long long)t.get_dax,
		       pct(t.get_dax, got), (unsigned long long)t.promoted);
	if (d->fs)
		printf("%-9s %-20s %12llu   (%.1f %%)\n", "replay", "from fs (l2_hits)",
		       (unsigned long long)t.get_fs, pct(t.get_fs, got));
	printf("%-9s %-20s %7.2f GB/s %7.2f GB/s %7.2f\n", "replay", "restore", restore,
	       d->memcpy_gbps, ratio(restore, d->memcpy_gbps));
	printf("%-9s %-20s %9.2f ms %9.2f ms %7.2f\n", "replay", "latency p50", g->lat50,
	       g->bound50, ratio(g->lat50, g->bound50));
	printf("%-9s %-20s %9.2f ms %9.2f ms %7.2f\n", "replay", "latency p99", g->lat99,
	       g->bound99, ratio(g->lat99, g->bound99));
	if (d->pf.n) {
		printf("%-9s %-20s %7.2f GB/s %7.2f GB/s %7.2f\n", "prefetch", "restore",
		       prefetch, d->memcpy_gbps, ratio(prefetch, d->memcpy_gbps));
		printf("%-9s %-20s %9.2f ms %9.2f ms %7.2f\n", "prefetch", "latency p50",
		       pf->lat50, pf->bound50, ratio(pf->lat50, pf->bound50));
		if (d->dax && !d->fs)
			printf("%-9s %-20s %5llu / %-5llu  (chunks from L1 / from DAX)\n", "prefetch",
			       "by tier", (unsigned long long)t.pf_l1, (unsigned long long)t.pf_dax);
		else if (d->fs)
			print_pf_by_tier(d, &t);
	}
	if (d->restart)
		print_restart(d);
	printf("%-9s %-20s %12llu   (%llu duplicates on re-put, %llu failures)\n", "verify",
	       "chunks checked", (unsigned long long)d->verified,
	       (unsigned long long)d->duplicates, (unsigned long long)d->failures);
	if (d->fs)
		print_fs_status("after the replay", &d->fs_st, "");
	/* with no index in memory, a fresh adapter counts the files it has met */
	if (d->restart)
		print_fs_status("after the restart", &d->rfs_st, " (files read since open)");
	printf("%-9s entries %llu, evictions %llu, hits %llu, misses %llu, puts %llu, duplicates %llu, pins %llu, unpins %llu, prefetches %llu, errors %llu\n",
	       "stats", (unsigned long long)st->l1_entries, (unsigned long long)st->l1_evictions,
	       (unsigned long long)st->l1_hits, (unsigned long long)st->l1_misses,
	       (unsigned long long)st->puts, (unsigned long long)st->put_duplicates,
	       (unsigned long long)st->pins, (unsigned long long)st->unpins,
	       (unsigned long long)st->prefetches, (unsigned long long)st->errors);
	if (d->dax)
		printf("%-9s dax_entries %llu, dax_evictions %llu, dax_hits %llu, dax_misses %llu, dax_promotions %llu, dax_write_errors %llu, dax_recovered %llu\n",
		       "stats", (unsigned long long)st->dax_entries,
		       (unsigned long long)st->dax_evictions, (unsigned long long)st->dax_hits,
		       (unsigned long long)st->dax_misses, (unsigned long long)st->dax_promotions,
		       (unsigned long long)st->dax_write_errors,
		       (unsigned long long)st->dax_recovered);
	if (d->fs)
		printf("%-9s l2_adapters %llu, l2_hits %llu, l2_misses %llu, l2_promotions %llu, l2_bytes_in %llu, l2_write_errors %llu\n",
		       "stats", (unsigned long long)st->l2_adapters, (unsigned long long)st->l2_hits,
		       (unsigned long long)st->l2_misses, (unsigned long long)st->l2_promotions,
		       (unsigned long long)st->l2_bytes_in, (unsigned long long)st->l2_write_errors);
	if (d->restart)
		printf("%-9s restart: entries %llu, evictions %llu, hits %llu, misses %llu, l2_hits %llu, l2_misses %llu, l2_promotions %llu, l2_bytes_out %llu, pins %llu, unpins %llu, errors %llu\n",
		       "stats", (unsigned long long)d->rst.l1_entries,
		       (unsigned long long)d->rst.l1_evictions, (unsigned long long)d->rst.l1_hits,
		       (unsigned long long)d->rst.l1_misses, (unsigned long long)d->rst.l2_hits,
		       (unsigned long long)d->rst.l2_misses, (unsigned long long)d->rst.l2_promotions,
		       (unsigned long long)d->rst.l2_bytes_out, (unsigned long long)d->rst.pins,
		       (unsigned long long)d->rst.unpins, (unsigned long long)d->rst.errors);
	printf("restore bounds: single-thread memcpy; latency = kvt_contains(KVT_PIN) + kvt_get per query, bound = its bytes / memcpy GB/s\n");
}

/* @st as a JSON object's members, after a '{' or ','. */
static void print_json_fs_status(const struct kvt_l2_status *st)
{
	char detail[sizeof(st->detail) * 6];

	json_escape(detail, st->detail);
	printf("\"fs_healthy\":%s,\"fs_chunks\":%llu,\"fs_bytes_used\":%llu,\"fs_errors\":%llu,"
	       "\"fs_detail\":\"%s\"",
	       st->is_healthy ? "true" : "false", (unsigned long long)st->chunks,
	       (unsigned long long)st->bytes_used, (unsigned long long)st->errors, detail);
}

/* The restart's members, as "restart":{...}, or null without it. */
static void print_json_restart(struct demo *d)
{
	const struct kvt_stats *st = &d->rst;
	uint64_t ns = d->rget.ns + d->rpf.ns;

	if (!d->restart) {
		printf("null");
		return;
	}
	printf("{\"queries\":%llu,\"prefetch_queries\":%llu,\"l1_slots\":%llu,\"open_ms\":%.3f,"
	       "\"chunks_asked\":%llu,\"chunks_hit\":%llu,\"disk_chunks\":%llu,\"disk_bytes\":%llu,"
	       "\"disk_gbps\":%.3f,\"restore_gbps\":%.3f,\"latency_p50_ms\":%.3f,"
	       "\"latency_p99_ms\":%.3f,\"bound_p50_ms\":%.3f,\"bound_p99_ms\":%.3f,"
	       "\"prefetch_gbps\":%.3f,\"prefetch_p50_ms\":%.3f,\"l2_hits\":%llu,"
	       "\"l2_misses\":%llu,\"l2_promotions\":%llu,",
	       (unsigned long long)d->rget.n, (unsigned long long)d->rpf.n,
	       (unsigned long long)d->restart_l1_slots, (double)d->restart_open_ns / 1e6,
	       (unsigned long long)(d->rget.asked + d->rpf.asked),
	       (unsigned long long)(d->rget.hit + d->rpf.hit), (unsigned long long)st->l2_hits,
	       (unsigned long long)st->l2_bytes_out, gbps(st->l2_bytes_out, ns),
	       gbps(d->rget.bytes, d->rget.ns), d->rget.q.lat50, d->rget.q.lat99,
	       d->rget.q.bound50, d->rget.q.bound99, gbps(d->rpf.bytes, d->rpf.ns),
	       d->rpf.q.lat50, (unsigned long long)st->l2_hits, (unsigned long long)st->l2_misses,
	       (unsigned long long)st->l2_promotions);
	print_json_fs_status(&d->rfs_st);
	printf(",\"stats\":");
	stats_print_json(stdout, st);
	printf("}");
}

static void print_json(struct demo *d, double wall_s)
{
	double store = gbps(d->store_bytes, d->store_ns);
	double restore = gbps(d->get.bytes, d->get.ns);
	struct by_tier t = restores_by_tier(d);
	uint64_t l1 = t.get_l1 + t.pf_l1, dax = t.get_dax + t.pf_dax;
	const struct quant *g = &d->get.q, *pf = &d->pf.q;
	char dir[FS_DIR_MAX * 6];

	printf("{\"ok\":%s,\"failures\":%llu,\"tier\":\"%s\",\"docs\":%llu,\"tokens\":%llu,\"queries\":%llu,"
	       "\"prefetch_queries\":%llu,\"chunk_tokens\":%zu,\"chunk_bytes\":%zu,"
	       "\"l1_slots\":%llu,\"dax_slots\":%llu,\"dax_gb\":%.3f,\"chunks_stored\":%llu,"
	       "\"memcpy_gbps\":%.3f,"
	       "\"first_touch_gbps\":%.3f,\"store_gbps\":%.3f,\"store_ratio\":%.3f,"
	       "\"store_to_flush_gbps\":%.3f,\"chunks_asked\":%llu,"
	       "\"chunks_hit\":%llu,\"hit_rate\":%.4f,\"l1_hits\":%llu,\"dax_hits\":%llu,"
	       "\"dax_promotions\":%llu,\"restore_source\":\"%s\",\"restore_dax_fraction\":%.4f,"
	       "\"restore_gbps\":%.3f,"
	       "\"restore_ratio\":%.3f,\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,"
	       "\"bound_p50_ms\":%.3f,\"bound_p99_ms\":%.3f,\"ratio_p50\":%.3f,"
	       "\"ratio_p99\":%.3f,\"prefetch_gbps\":%.3f,\"prefetch_p50_ms\":%.3f,"
	       "\"verified_chunks\":%llu,\"wall_s\":%.3f,",
	       d->failures ? "false" : "true", (unsigned long long)d->failures,
	       d->dax ? "l1+dax" : "l1", (unsigned long long)d->o.docs,
	       (unsigned long long)d->o.tokens, (unsigned long long)d->o.queries,
	       (unsigned long long)d->pf.n, d->chunk_tokens, d->chunk_bytes,
	       (unsigned long long)d->l1_slots, (unsigned long long)d->dax_slots,
	       d->dax ? d->dax_gb : 0.0, (unsigned long long)d->stored, d->memcpy_gbps,
	       d->first_touch_gbps, store, ratio(store, d->first_touch_gbps),
	       gbps(d->store_bytes, d->store_wall_ns), (unsigned long long)d->get.asked,
	       (unsigned long long)d->get.hit,
	       d->get.asked ? (double)d->get.hit / (double)d->get.asked : 0,
	       (unsigned long long)l1, (unsigned long long)dax,
	       (unsigned long long)(d->st.dax_promotions - d->before_replay.dax_promotions),
	       dax > l1 ? "dax" : "l1", l1 + dax ? (double)dax / (double)(l1 + dax) : 0,
	       restore, ratio(restore, d->memcpy_gbps), g->lat50, g->lat99, g->bound50,
	       g->bound99, ratio(g->lat50, g->bound50), ratio(g->lat99, g->bound99),
	       gbps(d->pf.bytes, d->pf.ns), pf->lat50, (unsigned long long)d->verified,
	       wall_s);
	if (d->fs) {
		json_escape(dir, d->fs_dir);
		printf("\"fs\":true,\"fs_dir\":\"%s\",\"fs_kept\":%s,\"fs_hits\":%llu,", dir,
		       d->o.fs_dir || d->o.keep_fs ? "true" : "false",
		       (unsigned long long)(t.get_fs + t.pf_fs));
		print_json_fs_status(&d->fs_st);
		printf(",");
	} else {
		printf("\"fs\":false,");
	}
	printf("\"restart\":");
	print_json_restart(d);
	printf(",\"stats\":");
	stats_print_json(stdout, &d->st);
	printf("}\n");
}

/* Pins, borrows and errors left on an instance: none may be. */
static void check_leaks(struct demo *d, const char *which, const struct kvt_stats *st)
{
	if (st->pinned_entries || st->borrows_active || st->pins != st->unpins)
		demo_fail(d, "%s: %llu entries still pinned, %llu borrows active, %llu pins vs %llu unpins",
			  which, (unsigned long long)st->pinned_entries,
			  (unsigned long long)st->borrows_active, (unsigned long long)st->pins,
			  (unsigned long long)st->unpins);
	if (st->put_errors || st->errors || st->mailbox_timeouts)
		demo_fail(d, "%s: %llu put errors, %llu internal errors, %llu mailbox timeouts",
			  which, (unsigned long long)st->put_errors, (unsigned long long)st->errors,
			  (unsigned long long)st->mailbox_timeouts);
	if (st->l2_unhealthy || st->l2_write_errors || st->staging_timeouts)
		demo_fail(d, "%s: %llu L2 adapters unhealthy, %llu L2 write errors, %llu staging timeouts",
			  which, (unsigned long long)st->l2_unhealthy,
			  (unsigned long long)st->l2_write_errors,
			  (unsigned long long)st->staging_timeouts);
}

static void check_fs_status(struct demo *d, const char *when, const struct kvt_l2_status *st)
{
	if (!st->is_healthy || st->errors)
		demo_fail(d, "fs %s: healthy %d, %llu I/O errors (%s)", when, st->is_healthy,
			  (unsigned long long)st->errors, st->detail);
}

/* Counters that must hold after the run, whatever the timing. */
static void check_stats(struct demo *d)
{
	const struct kvt_stats *st = &d->st;
	struct by_tier t = restores_by_tier(d);
	uint64_t read = t.get_l1 + t.get_dax + t.get_fs + t.pf_l1 + t.pf_dax + t.pf_fs;

	/* L1 is filled by puts and by promotions from DAX and the fs tier */
	if (st->l1_entries + st->l1_evictions != st->puts + st->dax_promotions + st->l2_promotions)
		demo_fail(d, "stats: l1_entries %llu + l1_evictions %llu != puts %llu + dax_promotions %llu + l2_promotions %llu",
			  (unsigned long long)st->l1_entries,
			  (unsigned long long)st->l1_evictions, (unsigned long long)st->puts,
			  (unsigned long long)st->dax_promotions,
			  (unsigned long long)st->l2_promotions);
	check_leaks(d, "stats", st);
	/* each chunk restored was read from exactly one tier */
	if (read != d->get.hit + d->pf.hit)
		demo_fail(d, "stats: l1_hits + dax_hits + l2_hits grew by %llu during replay, %llu chunks were restored",
			  (unsigned long long)read, (unsigned long long)(d->get.hit + d->pf.hit));
	if (d->fs) {
		check_fs_status(d, "after the replay", &d->fs_st);
		/* a fresh directory holds a file for each chunk stored, no more */
		if (d->fs_tmp && d->fs_st.chunks != d->stored)
			demo_fail(d, "fs: %llu chunk files, %llu chunks stored",
				  (unsigned long long)d->fs_st.chunks, (unsigned long long)d->stored);
	}
	if (!d->dax)
		return;
	/* DAX is filled by every put's write-through */
	if (st->dax_entries + st->dax_evictions != st->puts + st->dax_recovered ||
	    st->dax_write_errors)
		demo_fail(d, "stats: dax_entries %llu + dax_evictions %llu != puts %llu + dax_recovered %llu (dax_write_errors %llu)",
			  (unsigned long long)st->dax_entries,
			  (unsigned long long)st->dax_evictions, (unsigned long long)st->puts,
			  (unsigned long long)st->dax_recovered,
			  (unsigned long long)st->dax_write_errors);
	if (!d->o.dax_gb && st->dax_evictions)
		demo_fail(d, "stats: dax_evictions %llu, but DAX was sized for the whole working set",
			  (unsigned long long)st->dax_evictions);
}

/* Counters of the restart instance that must hold. */
static void check_restart(struct demo *d)
{
	const struct kvt_stats *st = &d->rst;
	uint64_t restored = d->rget.hit + d->rpf.hit;

	check_leaks(d, "restart stats", st);
	/* each chunk restored was read from exactly one tier: the fs tier, or
	 * L1 where a document's chunks were promoted by an earlier query */
	if (st->l1_hits + st->l2_hits != restored || st->dax_hits)
		demo_fail(d, "restart stats: l1_hits %llu + l2_hits %llu (dax_hits %llu), %llu chunks were restored",
			  (unsigned long long)st->l1_hits, (unsigned long long)st->l2_hits,
			  (unsigned long long)st->dax_hits, (unsigned long long)restored);
	check_fs_status(d, "after the restart", &d->rfs_st);
}

int demo_main(int argc, char **argv)
{
	struct demo d = { .o = { .config = NULL } };
	uint64_t start = tool_now_ns();
	struct kvt_config *cfg;
	double wall_s;
	int ret, code;

	code = parse_opts(&d.o, argc, argv);
	if (code >= 0)
		return code;
	code = CLI_EXIT_FAIL;
	ret = kvt_config_new(&cfg);
	if (ret) {
		fprintf(stderr, "kvtier demo: kvt_config_new: %s\n", kvt_strerror(ret));
		return CLI_EXIT_FAIL;
	}
	if (demo_config(&d, cfg) || config_cmd_load(cfg, d.o.config) ||
	    (!d.o.no_fs && fs_config(&d, cfg)))
		goto out_free_cfg;
	ret = kvt_open(cfg, &d.kvt, NULL, 0);
	if (ret) {
		fprintf(stderr, "kvtier demo: kvt_open: %s\n", kvt_strerror(ret));
		goto out_free_cfg;
	}
	d.chunk_tokens = config_u64(cfg, "chunk_size");
	d.chunk_bytes = kvt_chunk_bytes(d.kvt);
	if (!d.chunk_tokens || d.chunk_bytes % d.chunk_tokens) {
		fprintf(stderr, "kvtier demo: chunk of %zu bytes is not chunk_size %zu x a token's bytes\n",
			d.chunk_bytes, d.chunk_tokens);
		goto out_close;
	}
	d.token_bytes = d.chunk_bytes / d.chunk_tokens;
	d.stride = (d.chunk_bytes + 63) & ~(size_t)63;
	d.doc_keys = (d.o.tokens + d.chunk_tokens - 1) / d.chunk_tokens;
	d.query_keys = (d.o.tokens + QUESTION_TOKENS + d.chunk_tokens - 1) / d.chunk_tokens;
	d.full_chunks = d.o.tokens / d.chunk_tokens;
	/* a small L1 for the restart: one query's chunks, so each query's
	 * promotions evict the previous one's */
	d.restart_l1_slots = d.query_keys > 2 ? d.query_keys : 2;
	kvt_stats(d.kvt, &d.st, sizeof(d.st));
	d.l1_slots = d.st.l1_slots;
	d.dax_slots = d.st.dax_slots;
	d.dax_recovered = d.st.dax_recovered;
	/* --config may have turned DAX off, or on */
	d.dax = d.dax_slots && d.l1_slots;
	/* appended last, after the adapters of --config and KVT_* */
	d.fs_index = d.fs ? d.st.l2_adapters - 1 : 0;
	if (demo_alloc(&d))
		goto out_close;
	d.memcpy_gbps = measure_memcpy_gbps();
	d.first_touch_gbps = measure_first_touch_gbps(&d);
	if (d.memcpy_gbps <= 0 || d.first_touch_gbps <= 0) {
		fprintf(stderr, "kvtier demo: cannot measure memcpy bandwidth\n");
		goto out_close;
	}
	print_inputs(&d, cfg);
	fflush(stdout);

	store_phase(&d);
	replay_phase(&d);
	/* the bound is the best this machine did: measure again, keep the max */
	d.memcpy_gbps = fmax(d.memcpy_gbps, measure_memcpy_gbps());
	kvt_stats(d.kvt, &d.st, sizeof(d.st));
	if (d.fs)
		kvt_l2_report(d.kvt, d.fs_index, NULL, &d.fs_st);
	check_stats(&d);
	if (d.fs) {
		restart_phase(&d, cfg);
		if (d.restart)
			check_restart(&d);
	}
	tally_finish(&d.get, d.memcpy_gbps);
	tally_finish(&d.pf, d.memcpy_gbps);
	tally_finish(&d.rget, d.memcpy_gbps);
	tally_finish(&d.rpf, d.memcpy_gbps);
	code = d.failures ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out_close:
	if (d.kvt)
		kvt_close(d.kvt);
	dax_remove_tmp(&d);
	fs_remove_tmp(&d);
	wall_s = (double)(tool_now_ns() - start) / 1e9;
	if (d.get.n) {
		print_report(&d);
		printf("result: %s (%llu failures), wall %.2f s\n", d.failures ? "FAIL" : "ok",
		       (unsigned long long)d.failures, wall_s);
		if (d.o.json)
			print_json(&d, wall_s);
	}
	demo_free(&d);
out_free_cfg:
	dax_remove_tmp(&d);
	fs_remove_tmp(&d);
	kvt_config_free(cfg);
	return code;
}
