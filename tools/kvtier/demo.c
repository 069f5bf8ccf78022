/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/demo.c - `kvtier demo`: what kvtier does, on an embedded
 * config, in about fifteen seconds.
 *
 * An engine serving long-document QA stores each document's KV cache once
 * (the prefill) and restores it when a question about that document comes.
 * The demo does that with Qwen2.5-0.5B's KV shape (24 layers x 2 KV heads x
 * 64 dims, bfloat16: 3 MiB a 256-token chunk) on three tiers:
 *
 *   L1    DRAM, a quarter of the working set, so it evicts;
 *   DAX   a Device-DAX tier in tiered mode, emulated by a file in /dev/shm,
 *         holding all of it: most restores come from here;
 *   fs    every put written through to one file per chunk in a fresh
 *         directory under /var/tmp.
 *
 *   store    each document: token ids, keys by kvt_chunk_keys(), one
 *            kvt_put(); kvt_flush() until every chunk is in DAX and on disk.
 *   replay   each document once, shuffled, with a question of its own:
 *            kvt_contains() gives the cached prefix (KVT_PIN pins its L1
 *            and DAX part), kvt_get() restores it, kvt_unpin(); two more
 *            through kvt_prefetch() and the event fd.
 *   restart  close, open a fresh instance with a small L1, no DAX and the
 *            fs tier alone, and replay a few documents from the files.
 *
 * Every restored chunk is checked, length and bytes, against the pattern of
 * its key.  The tests prove the contracts; `kvtier-bench docqa` and
 * `kvtier-bench restore` measure them.  This shows them working together.
 *
 * Threads: the main thread, but for the prefetch callback (a library
 * thread), which hands its result over through an atomic.
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
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/ntcopy.h"
#include "tools/common/copybound.h"
#include "tools/common/prng.h"
#include "tools/common/progress.h"
#include "tools/kvtier/cli.h"

#define DEMO_CHUNK_BYTES (3.0 * 1024 * 1024)
#define DEMO_CHUNK_TOKENS 256
#define DEMO_VOCAB 151936u
#define DEMO_DAX_DIR "/dev/shm"
#define DEMO_FS_DIR "/var/tmp" /* disk-backed, unlike /tmp on many machines */
#define DEFAULT_DOCS 20
#define DEFAULT_TOKENS 8192
#define QUESTION_TOKENS 100
#define PREFETCH_QUERIES 2
#define RESTART_QUERIES 4
#define PREFETCH_WAIT_MS 10000
#define MEMCPY_BYTES (64ul << 20)
/* the bound's source: larger than any cache, as the DAX file a restore
 * reads from is */
#define MEMCPY_SRC_BYTES (512ul << 20)
#define DEMO_COPY_THREADS 2 /* dax.restore_workers' default */
#define GIB (1024.0 * 1024.0 * 1024.0)

struct demo_opts {
	const char *config;
	uint64_t docs, tokens;
	bool no_dax, no_fs;
};

/* What one kind of query restored. */
struct tally {
	uint64_t queries, asked, hit, bytes, ns;
	uint64_t worst_ns, worst_bytes; /* the slowest query for its bytes */
};

struct demo {
	struct demo_opts o;
	struct kvt *kvt;
	size_t chunk_bytes, token_bytes, doc_keys, query_keys;
	char dax_path[64];
	char fs_dir[64];
	char fs_json[128];
	uint32_t *tokens;
	struct kvt_key *keys;
	void **bufs;
	size_t *lens, *out_lens;
	int *results;
	uint64_t failures, checked;
	struct tally store, get, prefetch, restart;
	struct kvt_stats st;
};

static void fail(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kvtier demo: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	d->failures++;
}

static int set_knob(struct kvt_config *cfg, const char *key, const char *value)
{
	char err[256];
	int ret = kvt_config_set(cfg, key, value, err, sizeof(err));

	if (ret)
		fprintf(stderr, "kvtier demo: embedded config: %s\n", err);
	return ret;
}

/* Document @doc's token ids, then (@question) query @doc's question. */
static void make_tokens(struct demo *d, uint64_t doc, bool question)
{
	uint64_t s = prng_mix64(doc) | 1;
	size_t i;

	for (i = 0; i < d->o.tokens; i++)
		d->tokens[i] = (uint32_t)prng_below(&s, DEMO_VOCAB);
	s = prng_mix64(~doc) | 1;
	for (; question && i < d->o.tokens + QUESTION_TOKENS; i++)
		d->tokens[i] = (uint32_t)prng_below(&s, DEMO_VOCAB);
}

static uint64_t pattern_seed(const struct kvt_key *key)
{
	return prng_mix64(key->lo ^ prng_mix64(key->hi)) | 1;
}

/* A chunk's bytes are a stream seeded by its key, so a chunk restored under
 * the wrong key, or left alone, fails the check. */
static void pattern_fill(void *buf, size_t len, const struct kvt_key *key)
{
	uint64_t s = pattern_seed(key), *w = buf;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = prng_next(&s);
}

static bool pattern_ok(const void *buf, size_t len, const struct kvt_key *key)
{
	uint64_t s = pattern_seed(key);
	const uint64_t *w = buf;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i] != prng_next(&s))
			return false;
	return true;
}

static size_t chunk_len(const struct demo *d, size_t ntokens, size_t i)
{
	size_t left = ntokens - i * DEMO_CHUNK_TOKENS;

	return (left < DEMO_CHUNK_TOKENS ? left : DEMO_CHUNK_TOKENS) * d->token_bytes;
}

static double free_gib(const char *dir)
{
	struct statvfs vfs;

	return statvfs(dir, &vfs) ? 0 : (double)vfs.f_bavail * (double)vfs.f_frsize / GIB;
}

/*
 * tiers_config() - L1 of a quarter of the working set in whole chunks, a
 * DAX file holding all of it with a quarter spare (a tmpfs does not reserve
 * the file and a full one raises SIGBUS, hence the space check), and the fs
 * tier appended after --config's adapters.
 */
static int tiers_config(struct demo *d, struct kvt_config *cfg)
{
	double chunks = (double)d->o.docs *
			(double)((d->o.tokens + DEMO_CHUNK_TOKENS - 1) / DEMO_CHUNK_TOKENS);
	double gib = chunks * DEMO_CHUNK_BYTES / GIB;
	char value[64], err[256];
	int fd;

	/* a hair over, so that kvtier's floor() keeps the last slot */
	snprintf(value, sizeof(value), "%.9f",
		 (d->o.no_dax ? chunks * 1.25 : fmax(2, ceil(chunks / 4))) * DEMO_CHUNK_BYTES /
		 GIB + 1e-9);
	if (set_knob(cfg, "max_local_cpu_size", value))
		return -EINVAL;
	if (!d->o.no_dax) {
		if (free_gib(DEMO_DAX_DIR) < gib * 1.25) {
			fprintf(stderr, "kvtier demo: %s has %.2f GiB free, the DAX file needs %.2f GiB; "
				"use fewer --docs or --tokens, or --no-dax\n",
				DEMO_DAX_DIR, free_gib(DEMO_DAX_DIR), gib * 1.25);
			return -ENOSPC;
		}
		snprintf(d->dax_path, sizeof(d->dax_path), "%s/kvtier-demo-XXXXXX", DEMO_DAX_DIR);
		fd = mkstemp(d->dax_path);
		if (fd < 0) {
			fprintf(stderr, "kvtier demo: cannot create a file in %s: %s\n",
				DEMO_DAX_DIR, strerror(errno));
			d->dax_path[0] = '\0';
			return -EIO;
		}
		close(fd);
		snprintf(value, sizeof(value), "%.4f", gib * 1.25 + 0.01);
		if (set_knob(cfg, "dax.device_path", d->dax_path) ||
		    set_knob(cfg, "dax.allow_file_backing", "true") ||
		    set_knob(cfg, "dax.max_dax_size", value) || set_knob(cfg, "dax.mode", "tiered"))
			return -EINVAL;
	}
	if (d->o.no_fs)
		return 0;
	if (free_gib(DEMO_FS_DIR) < gib * 1.01) {
		fprintf(stderr, "kvtier demo: %s has %.2f GiB free, the fs tier needs %.2f GiB; "
			"use fewer --docs or --tokens, or --no-fs\n",
			DEMO_FS_DIR, free_gib(DEMO_FS_DIR), gib * 1.01);
		return -ENOSPC;
	}
	snprintf(d->fs_dir, sizeof(d->fs_dir), "%s/kvtier-demo-fs-XXXXXX", DEMO_FS_DIR);
	if (!mkdtemp(d->fs_dir)) {
		fprintf(stderr, "kvtier demo: cannot create a directory in %s: %s\n", DEMO_FS_DIR,
			strerror(errno));
		d->fs_dir[0] = '\0';
		return -EIO;
	}
	snprintf(d->fs_json, sizeof(d->fs_json), "{\"type\":\"fs\",\"base_path\":\"%s\"}",
		 d->fs_dir);
	if (kvt_config_add_l2_adapter(cfg, d->fs_json, err, sizeof(err))) {
		fprintf(stderr, "kvtier demo: fs tier: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

/* The embedded model's shape, --config and KVT_* over it, then the tiers. */
static int demo_config(struct demo *d, struct kvt_config *cfg)
{
	static const char *const shape[][2] = {
		{ "model_name", "Qwen/Qwen2.5-0.5B-Instruct" },
		{ "chunk_size", "256" }, { "kv_layers", "24" }, { "kv_heads", "2" },
		{ "head_dim", "64" }, { "kv_dtype", "bfloat16" }, { "use_mla", "false" },
	};

	for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++)
		if (set_knob(cfg, shape[i][0], shape[i][1]))
			return -EINVAL;
	if (config_cmd_load(cfg, d->o.config))
		return -EINVAL;
	return tiers_config(d, cfg);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) < 0)
		fprintf(stderr, "kvtier demo: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

static void remove_tiers(struct demo *d)
{
	if (d->dax_path[0] && unlink(d->dax_path) < 0)
		fprintf(stderr, "kvtier demo: cannot remove %s: %s\n", d->dax_path, strerror(errno));
	if (d->fs_dir[0])
		nftw(d->fs_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	d->dax_path[0] = d->fs_dir[0] = '\0';
}

/* Keys and chunk lengths of document @doc (with its question). */
static bool make_keys(struct demo *d, uint64_t doc, bool question)
{
	size_t ntok = d->o.tokens + (question ? QUESTION_TOKENS : 0);
	size_t want = question ? d->query_keys : d->doc_keys;
	ssize_t n;

	make_tokens(d, doc, question);
	n = kvt_chunk_keys(d->kvt, d->tokens, ntok, d->keys, d->query_keys);
	if (n != (ssize_t)want) {
		fail(d, "kvt_chunk_keys(doc %llu): %zd keys, expected %zu",
		     (unsigned long long)doc, n, want);
		return false;
	}
	for (size_t i = 0; i < want; i++)
		d->lens[i] = chunk_len(d, ntok, i);
	return true;
}

static void store_phase(struct demo *d)
{
	struct progress p;
	uint64_t t0 = tool_now_ns();
	ssize_t r;
	int ret;

	progress_start(&p, "store", d->o.docs);
	for (uint64_t doc = 0; doc < d->o.docs; doc++) {
		if (!make_keys(d, doc, false))
			continue;
		for (size_t i = 0; i < d->doc_keys; i++)
			pattern_fill(d->bufs[i], d->lens[i], &d->keys[i]);
		r = kvt_put(d->kvt, d->keys, (const void *const *)d->bufs, d->lens, d->doc_keys,
			    d->results, NULL, NULL);
		if (r < 0)
			fail(d, "kvt_put(doc %llu): %s", (unsigned long long)doc,
			     kvt_strerror((int)r));
		for (size_t i = 0; r >= 0 && i < d->doc_keys; i++)
			d->store.bytes += d->results[i] == 0 ? d->lens[i] : 0;
		d->store.hit += r > 0 ? (uint64_t)r : 0;
		progress_update(&p, doc + 1);
	}
	ret = kvt_flush(d->kvt);
	if (ret)
		fail(d, "kvt_flush: %s", kvt_strerror(ret));
	d->store.ns = tool_now_ns() - t0;
	progress_end(&p);
}

/* Every restored chunk of the query in d->keys: its length, its bytes. */
static uint64_t check_restore(struct demo *d, ssize_t hits, const char *how)
{
	uint64_t bytes = 0;

	for (ssize_t i = 0; i < hits; i++) {
		d->checked++;
		if (d->out_lens[i] != d->lens[i] ||
		    !pattern_ok(d->bufs[i], d->lens[i], &d->keys[i]))
			fail(d, "%s: chunk %zd restored %zu bytes, not the %zu it was given", how, i,
			     d->out_lens[i], d->lens[i]);
		bytes += d->out_lens[i];
	}
	return bytes;
}

/* The first word of each buffer, so one kvtier left alone fails the check. */
static void poison(struct demo *d)
{
	for (size_t i = 0; i < d->query_keys; i++)
		*(uint64_t *)d->bufs[i] = 0;
}

static void get_query(struct demo *d, struct tally *t, uint64_t doc)
{
	ssize_t pinned, hits, got = 0, unpinned = 0;
	uint64_t t0, ns, bytes;

	if (!make_keys(d, doc, true))
		return;
	poison(d);
	t0 = tool_now_ns();
	/* the pins hold what L1 and DAX have of the prefix until it is copied;
	 * where they end the fs tier goes on with the prefix, unpinned */
	pinned = kvt_contains(d->kvt, d->keys, d->query_keys, KVT_PIN);
	hits = pinned;
	if (pinned >= 0 && (size_t)pinned < d->query_keys) {
		ssize_t more = kvt_contains(d->kvt, d->keys + pinned, d->query_keys - (size_t)pinned,
					    0);

		hits = more < 0 ? more : pinned + more;
	}
	if (hits > 0)
		got = kvt_get(d->kvt, d->keys, (size_t)hits, d->bufs, d->lens, d->out_lens);
	ns = tool_now_ns() - t0;
	t->ns += ns;
	if (pinned > 0)
		unpinned = kvt_unpin(d->kvt, d->keys, (size_t)pinned);
	if (hits < 0 || got != hits || unpinned != (pinned > 0 ? pinned : 0))
		fail(d, "query on doc %llu: contains %zd (%zd pinned), get %zd, unpin %zd",
		     (unsigned long long)doc, hits, pinned, got, unpinned);
	t->queries++;
	t->asked += d->query_keys;
	t->hit += got > 0 ? (uint64_t)got : 0;
	bytes = check_restore(d, got, "get");
	t->bytes += bytes;
	/* ns per byte, compared without dividing */
	if (bytes && (!t->worst_bytes || (double)ns * (double)t->worst_bytes >
					      (double)t->worst_ns * (double)bytes)) {
		t->worst_ns = ns;
		t->worst_bytes = bytes;
	}
}

/* The slowest query of @t against its own bytes over @bound. */
static double worst_to_bound(const struct tally *t, const struct copy_bound *bound)
{
	return t->worst_bytes && bound->gbps > 0 ?
		       (double)t->worst_ns / ((double)t->worst_bytes / bound->gbps) : 0;
}

static void prefetch_cb(void *arg, uint64_t ticket, ssize_t hits)
{
	(void)ticket;
	/* release: the restored bytes before main, which polls the event fd, sees them */
	atomic_store_explicit((_Atomic int64_t *)arg, hits, memory_order_release);
}

/* A query through kvt_prefetch(), waiting on the event fd as an engine's
 * event loop would. */
static void prefetch_query(struct demo *d, struct tally *t, uint64_t doc)
{
	struct pollfd pfd = { .fd = kvt_event_fd(d->kvt), .events = POLLIN };
	_Atomic int64_t result = INT64_MIN;
	uint64_t ticket, count, t0;
	int64_t hits;
	int ret;

	if (!make_keys(d, doc, true))
		return;
	poison(d);
	t0 = tool_now_ns();
	ret = kvt_prefetch(d->kvt, d->keys, d->query_keys, d->bufs, d->lens, d->out_lens,
			   prefetch_cb, &result, &ticket);
	if (ret) {
		fail(d, "kvt_prefetch: %s", kvt_strerror(ret));
		return;
	}
	if (poll(&pfd, 1, PREFETCH_WAIT_MS) != 1 ||
	    read(pfd.fd, &count, sizeof(count)) != sizeof(count)) {
		fail(d, "kvt_prefetch: the event fd stayed silent for %d ms", PREFETCH_WAIT_MS);
		kvt_flush(d->kvt); /* the buffers may still be written */
		return;
	}
	t->ns += tool_now_ns() - t0;
	hits = atomic_load_explicit(&result, memory_order_acquire);
	if (hits < 0) {
		fail(d, "kvt_prefetch: %s", hits == INT64_MIN ? "event without a callback"
							       : kvt_strerror((int)hits));
		return;
	}
	t->queries++;
	t->asked += d->query_keys;
	t->hit += (uint64_t)hits;
	t->bytes += check_restore(d, hits, "prefetch");
}

/* Each document once, in an order of its own, then PREFETCH_QUERIES more. */
static void replay_phase(struct demo *d)
{
	uint64_t n = d->o.docs, seed = 0x6b7674696572ull, *order = calloc(n, sizeof(*order));
	struct progress p;

	if (!order) {
		fail(d, "out of memory");
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = prng_below(&seed, i + 1);

		order[i] = order[j];
		order[j] = i;
	}
	progress_start(&p, "replay", n + PREFETCH_QUERIES);
	for (uint64_t i = 0; i < n; i++) {
		get_query(d, &d->get, order[i]);
		progress_update(&p, i + 1);
	}
	for (uint64_t i = 0; i < PREFETCH_QUERIES; i++) {
		prefetch_query(d, &d->prefetch, order[i % n]);
		progress_update(&p, n + i + 1);
	}
	progress_end(&p);
	free(order);
}

/*
 * restart_phase() - a fresh instance in the same namespace and shape with
 * one query's worth of L1, no DAX, and the fs tier alone, so every chunk
 * comes from the files the first instance wrote.
 */
static void restart_phase(struct demo *d, const struct kvt_config *cfg)
{
	static const char *const same[] = {
		"model_name", "world_size", "worker_id", "kv_dtype", "kv_layout", "tenant_salt",
		"chunk_size", "kv_layers", "kv_heads", "head_dim", "use_mla",
	};
	char value[512], err[256];
	struct kvt_config *rc;
	int ret;

	kvt_close(d->kvt);
	d->kvt = NULL;
	if (d->dax_path[0] && !unlink(d->dax_path))
		d->dax_path[0] = '\0';
	if (kvt_config_new(&rc)) {
		fail(d, "restart: out of memory");
		return;
	}
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (kvt_config_get(cfg, same[i], value, sizeof(value)) < 0 ||
		    set_knob(rc, same[i], value))
			goto out;
	snprintf(value, sizeof(value), "%.9f",
		 (double)(d->query_keys + 1) * (double)d->chunk_bytes / GIB + 1e-9);
	if (set_knob(rc, "max_local_cpu_size", value) ||
	    kvt_config_add_l2_adapter(rc, d->fs_json, err, sizeof(err)))
		goto out;
	ret = kvt_open(rc, &d->kvt, err, sizeof(err));
	if (ret) {
		d->kvt = NULL;
		fail(d, "restart: kvt_open: %s", err);
		goto out;
	}
	for (uint64_t doc = 0; doc < d->o.docs && doc < RESTART_QUERIES; doc++)
		get_query(d, &d->restart, doc);
	kvt_stats(d->kvt, &d->st, sizeof(d->st));
	if (d->st.l2_hits != d->restart.hit)
		fail(d, "restart: %llu chunks restored, %llu of them from the fs tier",
		     (unsigned long long)d->restart.hit, (unsigned long long)d->st.l2_hits);
out:
	kvt_config_free(rc);
}

static void plain_copy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

/*
 * measure_bound() - the fastest copy of MEMCPY_BYTES windows of a
 * MEMCPY_SRC_BYTES source into one destination this machine does with
 * as many threads as the restore (dax.restore_workers' default), memcpy()
 * or the restore's own streaming nt_copy(): the bound a restore cannot beat.
 */
static struct copy_bound measure_bound(void)
{
	static const struct copy_way ways[] = { { "memcpy", plain_copy }, { "nt_copy", nt_copy } };
	struct copy_bound b = { .gbps = 0, .name = "none" };
	char *src = malloc(MEMCPY_SRC_BYTES), *dst = malloc(MEMCPY_BYTES);

	if (src && dst) {
		memset(src, 0x5a, MEMCPY_SRC_BYTES);
		memset(dst, 0xa5, MEMCPY_BYTES);
		copy_bound_measure(dst, src, MEMCPY_SRC_BYTES, MEMCPY_BYTES, DEMO_COPY_THREADS, ways,
				   sizeof(ways) / sizeof(ways[0]), 3, &b);
	}
	free(src);
	free(dst);
	return b;
}

static double gbps(const struct tally *t)
{
	return t->ns ? (double)t->bytes / (double)t->ns : 0;
}

/* @replay: the counters the replay moved (gets and prefetches). */
static void report(struct demo *d, const struct kvt_stats *first, const struct kvt_stats *replay,
		   const struct copy_bound *bound)
{
	const struct tally *g = &d->get;

	printf("store     %llu chunks (%.2f GiB) in %.2f s, until every one was in L1%s%s\n",
	       (unsigned long long)d->store.hit, (double)d->store.bytes / GIB,
	       (double)d->store.ns / 1e9, first->dax_slots ? ", DAX" : "",
	       d->fs_dir[0] ? " and on disk" : "");
	printf("replay    %llu queries: %llu of %llu chunks hit (each question's own chunk misses)\n",
	       (unsigned long long)g->queries, (unsigned long long)g->hit,
	       (unsigned long long)g->asked);
	printf("          restore %.2f GB/s = %.2f x the fastest copy (%s, %u threads: %.2f GB/s, "
	       "this run), %.2f ms a query\n", gbps(g), gbps(g) / bound->gbps, bound->name,
	       bound->threads, bound->gbps,
	       g->queries ? (double)g->ns / 1e6 / (double)g->queries : 0);
	printf("          slowest query %.2f ms = %.2f x its bytes over the fastest copy\n",
	       (double)g->worst_ns / 1e6, worst_to_bound(g, bound));
	printf("prefetch  %llu queries through the event fd: %llu chunks, %.2f GB/s\n",
	       (unsigned long long)d->prefetch.queries, (unsigned long long)d->prefetch.hit,
	       gbps(&d->prefetch));
	printf("tiers     the replay's chunks came %llu from L1, %llu from DAX, %llu from fs\n",
	       (unsigned long long)(first->l1_hits - replay->l1_hits),
	       (unsigned long long)(first->dax_hits - replay->dax_hits),
	       (unsigned long long)(first->l2_hits - replay->l2_hits));
	if (d->restart.queries)
		printf("restart   a fresh instance on the fs tier alone: %llu queries, %llu chunks "
		       "from the files, %.2f GB/s = %.2f x the fastest copy;\n          slowest "
		       "query %.2f ms = %.2f x its bytes over the fastest copy\n",
		       (unsigned long long)d->restart.queries, (unsigned long long)d->restart.hit,
		       gbps(&d->restart), gbps(&d->restart) / bound->gbps,
		       (double)d->restart.worst_ns / 1e6, worst_to_bound(&d->restart, bound));
	printf("verify    %llu restored chunks checked byte for byte\n",
	       (unsigned long long)d->checked);
	printf("more      kvtier-bench docqa | restore | disk: latencies and bounds; kvtier stats\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier demo [--config FILE] [--docs N] [--tokens N] [--no-dax] [--no-fs]\n"
		"\n"
		"Stores N documents (default %d) of N tokens (default %d) of Qwen2.5-0.5B's\n"
		"KV cache on L1, an emulated DAX tier in %s and an fs tier in %s,\n"
		"replays a question on each, restarts from the files, and checks every\n"
		"restored byte.  Temporary files are removed at the end.\n"
		"\n"
		"  --config FILE  LMCache YAML applied over the embedded shape, then KVT_*\n"
		"  --no-dax       L1 only, sized to hold every document\n"
		"  --no-fs        no fs tier, no restart\n"
		"Exit status: 0 every check held, 1 one failed, 2 usage error.\n",
		DEFAULT_DOCS, DEFAULT_TOKENS, DEMO_DAX_DIR, DEMO_FS_DIR);
}

/* Return: -1 to go on, or an exit code. */
static int parse_opts(struct demo_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "docs", required_argument, NULL, 'd' },
		{ "tokens", required_argument, NULL, 't' }, { "no-dax", no_argument, NULL, 'n' },
		{ "no-fs", no_argument, NULL, 'N' },        { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct demo_opts){ .docs = DEFAULT_DOCS, .tokens = DEFAULT_TOKENS };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'c')
			o->config = optarg;
		else if (c == 'd' && opt_parse_u64("kvtier", "docs", optarg, 1, 100000, &o->docs))
			return CLI_EXIT_USAGE;
		else if (c == 't' &&
			 opt_parse_u64("kvtier", "tokens", optarg, 1, 1u << 20, &o->tokens))
			return CLI_EXIT_USAGE;
		else if (c == 'n' || c == 'N')
			*(c == 'n' ? &o->no_dax : &o->no_fs) = true;
		else if (c == 'h')
			return usage(stdout), CLI_EXIT_OK;
		else if (c != 'd' && c != 't')
			goto bad;
	}
	if (optind == argc)
		return -1;
	c = 0;
bad:
	fprintf(stderr, "kvtier demo: %s '%s'\n", c == ':' ? "missing value for" : "unexpected",
		argv[optind - (c ? 1 : 0)]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}

static int demo_alloc(struct demo *d)
{
	size_t n = d->query_keys, stride = (d->chunk_bytes + 63) & ~(size_t)63;
	char *arena;

	d->tokens = calloc(d->o.tokens + QUESTION_TOKENS, sizeof(*d->tokens));
	d->keys = calloc(n, sizeof(*d->keys));
	d->bufs = calloc(n, sizeof(*d->bufs));
	d->lens = calloc(n, sizeof(*d->lens));
	d->out_lens = calloc(n, sizeof(*d->out_lens));
	d->results = calloc(n, sizeof(*d->results));
	arena = aligned_alloc(64, n * stride);
	if (!d->tokens || !d->keys || !d->bufs || !d->lens || !d->out_lens || !d->results ||
	    !arena) {
		free(arena);
		return -ENOMEM;
	}
	memset(arena, 0, n * stride);
	for (size_t i = 0; i < n; i++)
		d->bufs[i] = arena + i * stride;
	return 0;
}

static void demo_free(struct demo *d)
{
	if (d->bufs)
		free(d->bufs[0]);
	free(d->tokens);
	free(d->keys);
	free(d->bufs);
	free(d->lens);
	free(d->out_lens);
	free(d->results);
}

int demo_main(int argc, char **argv)
{
	struct demo d = { .kvt = NULL };
	uint64_t start = tool_now_ns();
	struct kvt_stats first = { .l1_slots = 0 }, before_replay;
	struct kvt_config *cfg = NULL;
	char err[256];
	struct copy_bound bound;
	int code = parse_opts(&d.o, argc, argv);

	if (code >= 0)
		return code;
	if (kvt_config_new(&cfg) || demo_config(&d, cfg))
		goto out;
	if (kvt_open(cfg, &d.kvt, err, sizeof(err))) {
		fprintf(stderr, "kvtier demo: kvt_open: %s\n", err);
		d.kvt = NULL;
		goto out;
	}
	d.chunk_bytes = kvt_chunk_bytes(d.kvt);
	d.token_bytes = d.chunk_bytes / DEMO_CHUNK_TOKENS;
	d.doc_keys = (d.o.tokens + DEMO_CHUNK_TOKENS - 1) / DEMO_CHUNK_TOKENS;
	d.query_keys = (d.o.tokens + QUESTION_TOKENS + DEMO_CHUNK_TOKENS - 1) / DEMO_CHUNK_TOKENS;
	if (d.chunk_bytes % DEMO_CHUNK_TOKENS || demo_alloc(&d)) {
		fprintf(stderr, "kvtier demo: chunks of %zu bytes: %s\n", d.chunk_bytes,
			d.chunk_bytes % DEMO_CHUNK_TOKENS ? "--config changed chunk_size"
							  : "out of memory");
		goto out;
	}
	bound = measure_bound();
	kvt_stats(d.kvt, &first, sizeof(first));
	printf("kvtier demo: %llu documents x %llu tokens of Qwen2.5-0.5B KV (%.2f MiB chunks): "
	       "L1 %llu chunks%s%s%s%s\n", (unsigned long long)d.o.docs,
	       (unsigned long long)d.o.tokens, (double)d.chunk_bytes / (1 << 20),
	       (unsigned long long)first.l1_slots, first.dax_slots ? ", DAX " : "",
	       first.dax_slots ? d.dax_path : "", d.fs_dir[0] ? ", fs " : "", d.fs_dir);
	fflush(stdout);
	store_phase(&d);
	kvt_stats(d.kvt, &before_replay, sizeof(before_replay));
	replay_phase(&d);
	kvt_stats(d.kvt, &first, sizeof(first));
	if (first.errors || first.pinned_entries)
		fail(&d, "counters: %llu errors, %llu chunks still pinned",
		     (unsigned long long)first.errors, (unsigned long long)first.pinned_entries);
	if (d.fs_dir[0])
		restart_phase(&d, cfg);
	report(&d, &first, &before_replay, &bound);
	code = d.failures ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	printf("result: %s (%llu failures), wall %.2f s\n", d.failures ? "FAIL" : "ok",
	       (unsigned long long)d.failures, (double)(tool_now_ns() - start) / 1e9);
out:
	if (d.kvt)
		kvt_close(d.kvt);
	remove_tiers(&d);
	demo_free(&d);
	kvt_config_free(cfg);
	return code < 0 ? CLI_EXIT_FAIL : code;
}
