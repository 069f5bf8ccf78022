/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the batched DAX restore (api/restore.c, actors/restore.c)
 * through kvt_get() and kvt_prefetch(), in primary mode (local_cpu false,
 * dax.mode primary) so every hit is a DAX hit, on a file under /dev/shm
 * (dax.allow_file_backing), with 2 restore workers and 64 KiB chunks so a
 * batch spans several regions: positional holes, prefix-only prefetch,
 * coalescing seen in stats, partial chunks inside a batch, concurrent
 * batches under puts and removes, an injected worker failure (the batch
 * fails with -EIO, its destinations are never written after the call
 * returns, every chunk stays readable and every borrow is released),
 * remove and re-put during restores, and close while batches run.
 * Expectations come from kvt_stats() and the bytes, never from timing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "actors/restore.h"
#include "kvtier.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"

/* chunk_size 16 x 1 layer x 2 (K,V) x 1 head x 1024 dim x 2 bytes */
#define CHUNK 65536
#define GIB 1073741824.0
#define MAXB 64 /* most keys in one batch here */

/* ---- helpers ---------------------------------------------------------- */

/* A fresh directory on /dev/shm, or SKIP when /dev/shm is not tmpfs. */
static const char *shm_dir(void)
{
	struct statfs sfs;

	if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
		SKIP("/dev/shm is not a tmpfs: no file to back the DAX tier");
	return harness_tmpdir(1);
}

/*
 * Open a primary-mode instance on a fresh file named @name with room for
 * about @nslots 64 KiB slots (plus room for the superblock and headers),
 * 2 restore workers and no eviction.  @kv: NULL, or "key", "value" pairs
 * ending in NULL, applied last.
 */
static struct kvt *open_restore(const char *name, unsigned int nslots, const char *const *kv)
{
	const char *dir = shm_dir();
	struct kvt_config *cfg;
	struct kvt *kvt = NULL;
	char path[256], num[64];
	int ret;

	snprintf(path, sizeof(path), "%s/%s.img", dir, name);
	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "1024");
	cfg_set(cfg, "kv_dtype", "bfloat16");
	cfg_set(cfg, "model_name", "test-model");
	cfg_set(cfg, "put_wait_ms", "5000");
	cfg_set(cfg, "local_cpu", "false");
	cfg_set(cfg, "dax.mode", "primary");
	cfg_set(cfg, "dax.eviction", "none");
	cfg_set(cfg, "dax.restore_workers", "2");
	cfg_set(cfg, "dax.device_path", path);
	cfg_set(cfg, "dax.allow_file_backing", "true");
	snprintf(num, sizeof(num), "%.17g", (double)((uint64_t)(nslots + 2) * CHUNK) / GIB);
	cfg_set(cfg, "dax.max_dax_size", num);
	for (; kv && kv[0]; kv += 2)
		cfg_set(cfg, kv[0], kv[1]);
	ret = kvt_open(cfg, &kvt, NULL, 0);
	kvt_config_free(cfg);
	if (ret)
		harness_fail(__FILE__, __LINE__, "kvt_open: %d (%s)", ret, kvt_strerror(ret));
	CHECK_EQ(kvt_chunk_bytes(kvt), CHUNK);
	return kvt;
}

/* Every third id is a partial chunk; its length varies with id and version. */
static size_t len_of(uint64_t id, uint32_t ver)
{
	return id % 3 == 1 ? 16 + (size_t)((id * 613 + ver * 97) % (CHUNK - 17)) : CHUNK;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Word @i of chunk (@id, @ver): word 0 names both, the rest depend on them. */
static uint64_t word_of(uint64_t id, uint32_t ver, size_t i)
{
	return i ? mix(id * 0x100000001b3ull + (uint64_t)ver * 0x9E3779B1ull + i)
		 : (id & 0xffffffffu) | (uint64_t)ver << 32;
}

static void fill(uint8_t *buf, size_t len, uint64_t id, uint32_t ver)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = word_of(id, ver, i);

		memcpy(buf + i, &w, len - i < 8 ? len - i : 8);
	}
}

/*
 * Whether @buf holds @len bytes of some version of chunk @id, at that
 * version's length; the version is read from word 0 into *@ver.
 */
static bool chunk_ok(const uint8_t *buf, size_t len, uint64_t id, uint32_t *ver)
{
	uint64_t w0;

	if (len < 16 || len > CHUNK)
		return false;
	memcpy(&w0, buf, 8);
	if ((w0 & 0xffffffffu) != (id & 0xffffffffu))
		return false;
	*ver = (uint32_t)(w0 >> 32);
	if (len != len_of(id, *ver))
		return false;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = word_of(id, *ver, i);

		if (memcmp(buf + i, &w, len - i < 8 ? len - i : 8))
			return false;
	}
	return true;
}

/* Version 0 of @id, exactly. */
static bool bytes_ok(const void *buf, size_t len, uint64_t id)
{
	uint32_t ver = ~0u;

	return chunk_ok(buf, len, id, &ver) && ver == 0;
}

/* Put @n ids (version @ver each) in one batch; return what kvt_put() did. */
static ssize_t put_ids(struct kvt *kvt, const uint64_t *ids, size_t n, uint32_t ver, int *results)
{
	struct kvt_key keys[MAXB];
	const void *bufs[MAXB];
	size_t lens[MAXB];
	uint8_t *data = malloc((size_t)MAXB * CHUNK);
	ssize_t r;

	CHECK(data);
	CHECK(n <= MAXB);
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(ids[i]);
		lens[i] = len_of(ids[i], ver);
		fill(data + i * CHUNK, lens[i], ids[i], ver);
		bufs[i] = data + i * CHUNK;
	}
	r = kvt_put(kvt, keys, bufs, lens, n, results, NULL, NULL);
	free(data);
	return r;
}

/* Put ids [@first, @first + @n), version 0, in one batch; all must store. */
static void put_range(struct kvt *kvt, uint64_t first, size_t n)
{
	uint64_t ids[MAXB];

	CHECK(n <= MAXB);
	for (size_t i = 0; i < n; i++)
		ids[i] = first + i;
	CHECK_EQ(put_ids(kvt, ids, n, 0, NULL), n);
}

/* Every destination pre-filled with this, so a write shows. */
#define POISON 0xA5

static uint8_t *poisoned(size_t len)
{
	uint8_t *p = malloc(len);

	CHECK(p);
	memset(p, POISON, len);
	return p;
}

static bool all_poison(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != POISON)
			return false;
	return true;
}

/* Get ids [@first, @first + @n) one by one; each must be version 0, exact. */
static void check_all_readable(struct kvt *kvt, uint64_t first, size_t n)
{
	uint8_t *buf = malloc(CHUNK);

	CHECK(buf);
	for (uint64_t id = first; id < first + n; id++) {
		struct kvt_key k = key_of(id);
		void *b = buf;
		size_t cap = CHUNK, len = 0;

		CHECK_EQ(kvt_get(kvt, &k, 1, &b, &cap, &len), 1);
		CHECK_EQ(len, len_of(id, 0));
		CHECK(bytes_ok(buf, len, id));
	}
	free(buf);
}

/* Wait (poll, no timeout: the harness bounds the case) for the event fd. */
static uint64_t wait_event_fd(struct kvt *kvt)
{
	struct pollfd pfd = { .fd = kvt_event_fd(kvt), .events = POLLIN };
	uint64_t count = 0;

	CHECK(pfd.fd >= 0);
	CHECK_EQ(poll(&pfd, 1, -1), 1);
	CHECK(pfd.revents & POLLIN);
	CHECK_EQ(read(pfd.fd, &count, sizeof(count)), sizeof(count));
	return count;
}

struct pf_result {
	_Atomic int fired;
	_Atomic long long hits;
	_Atomic uint64_t ticket;
};

static void pf_done(void *arg, uint64_t ticket, ssize_t hits)
{
	struct pf_result *r = arg;

	atomic_store(&r->hits, (long long)hits);
	atomic_store(&r->ticket, ticket);
	atomic_fetch_add(&r->fired, 1);
}

/* A small xorshift for per-thread random choices (not for timing). */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- cases ------------------------------------------------------------ */

TEST(positional_holes)
{
	/* [hit, miss, hit, partial hit, hit into a too small buffer] */
	static const uint64_t ids[] = { 0, 900, 3, 4, 6 };
	static const uint64_t stored[] = { 0, 3, 4, 6 };
	enum { N = 5 };
	struct kvt *kvt = open_restore("holes", 16, NULL);
	struct kvt_key keys[N];
	uint8_t *bufs[N];
	size_t caps[N], lens[N];
	struct kvt_stats before, after;

	CHECK(len_of(4, 0) < CHUNK);
	CHECK_EQ(put_ids(kvt, stored, 4, 0, NULL), 4);
	for (int i = 0; i < N; i++) {
		keys[i] = key_of(ids[i]);
		caps[i] = i == 4 ? CHUNK - 1 : CHUNK;
		bufs[i] = poisoned(CHUNK);
		lens[i] = 12345;
	}
	before = stats_of(kvt);
	CHECK_EQ(kvt_get(kvt, keys, N, (void *const *)bufs, caps, lens), 3);
	after = stats_of(kvt);
	CHECK_EQ(lens[0], CHUNK);
	CHECK_EQ(lens[1], 0);
	CHECK_EQ(lens[2], CHUNK);
	CHECK_EQ(lens[3], len_of(4, 0));
	CHECK_EQ(lens[4], 0);
	CHECK(bytes_ok(bufs[0], lens[0], 0));
	CHECK(bytes_ok(bufs[2], lens[2], 3));
	CHECK(bytes_ok(bufs[3], lens[3], 4));
	/* the three served; the key whose buffer was too small is a hole */
	CHECK_EQ(after.dax_hits - before.dax_hits, 3);
	CHECK(after.restore_waves > before.restore_waves);
	CHECK_EQ(after.restore_errors, 0);
	CHECK_EQ(after.borrows_active, 0);
	for (int i = 0; i < N; i++)
		free(bufs[i]);
	kvt_close(kvt);
}

TEST(prefetch_prefix_only)
{
	/* [hit, hit, miss, hit]: only the prefix of two is restored */
	static const uint64_t ids[] = { 0, 1, 901, 3 };
	static const uint64_t stored[] = { 0, 1, 3 };
	enum { N = 4 };
	struct kvt *kvt = open_restore("prefetch", 16, NULL);
	struct pf_result res = { 0 };
	struct kvt_key keys[N];
	uint8_t *bufs[N];
	size_t caps[N], lens[N];
	struct kvt_stats before, after;
	uint64_t ticket = ~0ull;

	CHECK_EQ(put_ids(kvt, stored, 3, 0, NULL), 3);
	for (int i = 0; i < N; i++) {
		keys[i] = key_of(ids[i]);
		caps[i] = CHUNK;
		bufs[i] = poisoned(CHUNK);
		lens[i] = 12345;
	}
	before = stats_of(kvt);
	CHECK_EQ(kvt_prefetch(kvt, keys, N, (void *const *)bufs, caps, lens, pf_done, &res,
			      &ticket),
		 0);
	CHECK(wait_event_fd(kvt) >= 1);
	/* the callback runs before the event fd is bumped */
	CHECK_EQ(atomic_load(&res.fired), 1);
	CHECK_EQ(atomic_load(&res.hits), 2);
	CHECK_EQ(atomic_load(&res.ticket), ticket);
	CHECK_EQ(lens[0], len_of(0, 0));
	CHECK_EQ(lens[1], len_of(1, 0));
	CHECK_EQ(lens[2], 0);
	CHECK_EQ(lens[3], 0);
	CHECK(bytes_ok(bufs[0], lens[0], 0));
	CHECK(bytes_ok(bufs[1], lens[1], 1));
	CHECK(all_poison(bufs[3], CHUNK));
	CHECK_EQ(kvt_flush(kvt), 0);
	after = stats_of(kvt);
	CHECK_EQ(after.prefetches - before.prefetches, 1);
	CHECK_EQ(after.prefetch_hits - before.prefetch_hits, 2);
	CHECK_EQ(after.restore_errors, 0);
	CHECK_EQ(after.borrows_active, 0);
	for (int i = 0; i < N; i++)
		free(bufs[i]);
	kvt_close(kvt);
}

TEST(coalescing_visible_in_stats)
{
	enum { N = 8 };
	struct kvt *kvt = open_restore("coalesce", 16, NULL);
	struct kvt_key keys[N];
	void *bufs[N];
	size_t caps[N], lens[N];
	struct kvt_stats before, after;
	uint8_t *base = poisoned((size_t)N * (CHUNK + 64));
	uint64_t merged;

	/* ids 0, 2, 3, 5, 6, 8, 9, 11: all full chunks, put in one batch */
	uint64_t ids[N];

	for (int i = 0, id = 0; i < N; id++)
		if (len_of((uint64_t)id, 0) == CHUNK)
			ids[i++] = (uint64_t)id;
	CHECK_EQ(put_ids(kvt, ids, N, 0, NULL), N);
	for (int i = 0; i < N; i++) {
		keys[i] = key_of(ids[i]);
		caps[i] = CHUNK;
	}

	/* one contiguous destination, in key order */
	for (int i = 0; i < N; i++)
		bufs[i] = base + (size_t)i * CHUNK;
	before = stats_of(kvt);
	CHECK_EQ(kvt_get(kvt, keys, N, bufs, caps, lens), N);
	after = stats_of(kvt);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(lens[i], CHUNK);
		CHECK(bytes_ok(bufs[i], CHUNK, ids[i]));
	}
	merged = after.restore_spans_merged - before.restore_spans_merged;
	CHECK(merged >= 1);
	CHECK(merged <= N - 1);
	if (merged != N - 1)
		fprintf(stderr, "    note: %llu of %d chunks coalesced (slots not all adjacent)\n",
			(unsigned long long)merged, N - 1);

	/* destinations 64 bytes apart: no two are contiguous, nothing merges */
	memset(base, POISON, (size_t)N * (CHUNK + 64));
	for (int i = 0; i < N; i++)
		bufs[i] = base + (size_t)i * (CHUNK + 64);
	before = stats_of(kvt);
	CHECK_EQ(kvt_get(kvt, keys, N, bufs, caps, lens), N);
	after = stats_of(kvt);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(lens[i], CHUNK);
		CHECK(bytes_ok(bufs[i], CHUNK, ids[i]));
		CHECK(all_poison((uint8_t *)bufs[i] + CHUNK, 64));
	}
	CHECK_EQ(after.restore_spans_merged - before.restore_spans_merged, 0);
	CHECK_EQ(after.restore_errors, 0);
	CHECK_EQ(after.borrows_active, 0);
	free(base);
	kvt_close(kvt);
}

TEST(mixed_full_and_partial)
{
	/* ids 0..15: 1, 4, 7, 10, 13 are partial, in the middle of the batch */
	enum { N = 16 };
	const char *const kv[] = { "dax.restore_max_regions", "8", NULL };
	struct kvt *kvt = open_restore("mixed", 32, kv);
	struct kvt_key keys[N];
	void *bufs[N];
	size_t caps[N], lens[N];
	uint8_t *base = poisoned((size_t)N * CHUNK);
	uint8_t *sep[N];

	put_range(kvt, 0, N);
	for (int i = 0; i < N; i++) {
		keys[i] = key_of((uint64_t)i);
		caps[i] = CHUNK;
		bufs[i] = base + (size_t)i * CHUNK;
		sep[i] = poisoned(CHUNK);
	}
	/* contiguous destinations: partial chunks cut the runs */
	CHECK_EQ(kvt_get(kvt, keys, N, bufs, caps, lens), N);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(lens[i], len_of((uint64_t)i, 0));
		CHECK(bytes_ok(bufs[i], lens[i], (uint64_t)i));
	}
	/* separate destinations, in reverse key order within the batch */
	for (int i = 0; i < N; i++) {
		keys[i] = key_of((uint64_t)(N - 1 - i));
		bufs[i] = sep[i];
		lens[i] = 12345;
	}
	CHECK_EQ(kvt_get(kvt, keys, N, bufs, caps, lens), N);
	for (int i = 0; i < N; i++) {
		uint64_t id = (uint64_t)(N - 1 - i);

		CHECK_EQ(lens[i], len_of(id, 0));
		CHECK(bytes_ok(bufs[i], lens[i], id));
	}
	CHECK_EQ(stats_of(kvt).restore_errors, 0);
	CHECK_EQ(stats_of(kvt).borrows_active, 0);
	for (int i = 0; i < N; i++)
		free(sep[i]);
	free(base);
	kvt_close(kvt);
}

/* ---- concurrent batches ----------------------------------------------- */

#define CB_KEYS 64
#define CB_READERS 4
#define CB_BATCHES 60
#define CB_BATCH 16
#define CB_OTHER 1000 /* ids the churn thread puts and removes */

struct cb_ctx {
	struct kvt *kvt;
	_Atomic int readers_left;
	_Atomic uint64_t mismatches;
	_Atomic uint64_t wrong_hits;
	_Atomic uint64_t errors;
	_Atomic uint64_t churn_rounds;
	_Atomic uint64_t churn_errors;
};

struct cb_reader {
	struct cb_ctx *ctx;
	uint64_t seed;
};

static void *cb_read(void *arg)
{
	struct cb_reader *rd = arg;
	struct cb_ctx *ctx = rd->ctx;
	uint8_t *base = malloc((size_t)CB_BATCH * CHUNK);
	struct kvt_key keys[CB_BATCH];
	uint64_t ids[CB_BATCH];
	void *bufs[CB_BATCH];
	size_t caps[CB_BATCH], lens[CB_BATCH];
	uint64_t s = rd->seed;

	if (!base)
		abort();
	for (int b = 0; b < CB_BATCHES; b++) {
		/* odd batches read into one contiguous buffer, even ones shuffled */
		for (int i = 0; i < CB_BATCH; i++) {
			ids[i] = rnd(&s) % CB_KEYS;
			keys[i] = key_of(ids[i]);
			caps[i] = CHUNK;
			bufs[i] = base + (size_t)(b % 2 ? i : CB_BATCH - 1 - i) * CHUNK;
		}
		ssize_t r = kvt_get(ctx->kvt, keys, CB_BATCH, bufs, caps, lens);

		if (r < 0) {
			atomic_fetch_add(&ctx->errors, 1);
			continue;
		}
		if (r != CB_BATCH)
			atomic_fetch_add(&ctx->wrong_hits, 1);
		/* a key may appear twice in a batch: the later copy wins; only
		 * check each buffer against its own key */
		for (int i = 0; i < CB_BATCH; i++)
			if (lens[i] && !bytes_ok(bufs[i], lens[i], ids[i]))
				atomic_fetch_add(&ctx->mismatches, 1);
	}
	free(base);
	atomic_fetch_sub(&ctx->readers_left, 1);
	return NULL;
}

static void *cb_churn(void *arg)
{
	struct cb_ctx *ctx = arg;
	uint64_t round = 0;

	while (atomic_load(&ctx->readers_left) > 0) {
		uint64_t ids[8];
		struct kvt_key keys[8];
		int res[8];

		for (int i = 0; i < 8; i++) {
			ids[i] = CB_OTHER + (round * 8 + (uint64_t)i) % 32;
			keys[i] = key_of(ids[i]);
		}
		if (put_ids(ctx->kvt, ids, 8, 0, res) < 0)
			atomic_fetch_add(&ctx->churn_errors, 1);
		for (int i = 0; i < 8; i++)
			if (res[i] < 0)
				atomic_fetch_add(&ctx->churn_errors, 1);
		if (kvt_remove(ctx->kvt, keys, 8, 0, NULL) != 8)
			atomic_fetch_add(&ctx->churn_errors, 1);
		round++;
	}
	atomic_store(&ctx->churn_rounds, round);
	return NULL;
}

TEST(concurrent_batches_verified)
{
	struct kvt *kvt = open_restore("concurrent", CB_KEYS + 48, NULL);
	struct cb_ctx ctx = { .kvt = kvt };
	struct cb_reader rd[CB_READERS];
	pthread_t readers[CB_READERS], churn;
	struct kvt_stats st;

	put_range(kvt, 0, CB_KEYS / 2);
	put_range(kvt, CB_KEYS / 2, CB_KEYS / 2);
	atomic_store(&ctx.readers_left, CB_READERS);
	CHECK_EQ(pthread_create(&churn, NULL, cb_churn, &ctx), 0);
	for (int t = 0; t < CB_READERS; t++) {
		rd[t].ctx = &ctx;
		rd[t].seed = 0x1234567ull * (uint64_t)(t + 1);
		CHECK_EQ(pthread_create(&readers[t], NULL, cb_read, &rd[t]), 0);
	}
	for (int t = 0; t < CB_READERS; t++)
		CHECK_EQ(pthread_join(readers[t], NULL), 0);
	CHECK_EQ(pthread_join(churn, NULL), 0);
	CHECK_EQ(atomic_load(&ctx.mismatches), 0);
	CHECK_EQ(atomic_load(&ctx.wrong_hits), 0);
	CHECK_EQ(atomic_load(&ctx.errors), 0);
	CHECK_EQ(atomic_load(&ctx.churn_errors), 0);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK_EQ(st.restore_errors, 0);
	CHECK_EQ(st.borrows_active, 0);
	CHECK_EQ(st.dax_entries, CB_KEYS);
	CHECK_EQ(st.dax_free_slots, st.dax_slots - CB_KEYS);
	check_all_readable(kvt, 0, CB_KEYS);
	kvt_close(kvt);
}

/* ---- injected failure --------------------------------------------------- */

#define IF_KEYS 16

TEST(injected_worker_failure)
{
	const char *const kv[] = { "dax.restore_max_regions", "8", NULL };
	struct kvt *kvt = open_restore("fail-get", 32, kv);
	struct kvt_key keys[IF_KEYS];
	uint8_t *bufs[IF_KEYS];
	size_t caps[IF_KEYS], lens[IF_KEYS];
	struct kvt_stats before, st;

	put_range(kvt, 0, IF_KEYS);
	for (int i = 0; i < IF_KEYS; i++) {
		keys[i] = key_of((uint64_t)i);
		caps[i] = CHUNK;
		bufs[i] = poisoned(CHUNK);
		lens[i] = 12345;
	}
	before = stats_of(kvt);
	atomic_store(&restore_fail_countdown, 1);
	CHECK_EQ(kvt_get(kvt, keys, IF_KEYS, (void *const *)bufs, caps, lens), -EIO);
	/* the batch is over: ASan catches any copy that still runs into these */
	for (int i = 0; i < IF_KEYS; i++)
		free(bufs[i]);
	CHECK_EQ(atomic_load(&restore_fail_countdown), 0);
	for (int i = 0; i < IF_KEYS; i++)
		CHECK_EQ(lens[i], 0);
	st = stats_of(kvt);
	CHECK_EQ(st.restore_errors - before.restore_errors, 1);
	CHECK_EQ(st.borrows_active, 0);

	/* every chunk is still there, byte-exact, one by one and as a batch */
	check_all_readable(kvt, 0, IF_KEYS);
	for (int i = 0; i < IF_KEYS; i++)
		bufs[i] = poisoned(CHUNK);
	CHECK_EQ(kvt_get(kvt, keys, IF_KEYS, (void *const *)bufs, caps, lens), IF_KEYS);
	for (int i = 0; i < IF_KEYS; i++) {
		CHECK_EQ(lens[i], len_of((uint64_t)i, 0));
		CHECK(bytes_ok(bufs[i], lens[i], (uint64_t)i));
		free(bufs[i]);
	}
	CHECK_EQ(stats_of(kvt).restore_errors - before.restore_errors, 1);

	/* no borrow leaked: a plain remove succeeds and every slot comes back */
	CHECK_EQ(kvt_remove(kvt, keys, IF_KEYS, 0, NULL), IF_KEYS);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK_EQ(st.borrows_active, 0);
	CHECK_EQ(st.dax_entries, 0);
	CHECK_EQ(st.dax_free_slots, st.dax_slots);
	kvt_close(kvt);
}

TEST(injected_worker_failure_prefetch)
{
	const char *const kv[] = { "dax.restore_max_regions", "8", NULL };
	struct kvt *kvt = open_restore("fail-prefetch", 32, kv);
	struct pf_result res = { 0 };
	struct kvt_key keys[IF_KEYS];
	uint8_t *bufs[IF_KEYS];
	size_t caps[IF_KEYS], lens[IF_KEYS];
	struct kvt_stats before, st;

	put_range(kvt, 0, IF_KEYS);
	for (int i = 0; i < IF_KEYS; i++) {
		keys[i] = key_of((uint64_t)i);
		caps[i] = CHUNK;
		bufs[i] = poisoned(CHUNK);
		lens[i] = 12345;
	}
	before = stats_of(kvt);
	atomic_store(&restore_fail_countdown, 1);
	CHECK_EQ(kvt_prefetch(kvt, keys, IF_KEYS, (void *const *)bufs, caps, lens, pf_done, &res,
			      NULL),
		 0);
	CHECK(wait_event_fd(kvt) >= 1);
	CHECK_EQ(atomic_load(&res.fired), 1);
	CHECK_EQ(atomic_load(&res.hits), -EIO);
	for (int i = 0; i < IF_KEYS; i++) {
		CHECK_EQ(lens[i], 0);
		free(bufs[i]);
	}
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK_EQ(st.restore_errors - before.restore_errors, 1);
	CHECK_EQ(st.borrows_active, 0);
	check_all_readable(kvt, 0, IF_KEYS);
	CHECK_EQ(kvt_remove(kvt, keys, IF_KEYS, 0, NULL), IF_KEYS);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK_EQ(st.dax_free_slots, st.dax_slots);
	kvt_close(kvt);
}

/* ---- remove during restore ---------------------------------------------- */

#define RR_KEYS 16
#define RR_GETS 120

struct rr_ctx {
	struct kvt *kvt;
	_Atomic int reader_done;
	_Atomic uint32_t ver[RR_KEYS];	/* newest version put of each id */
	_Atomic uint64_t mismatches;
	_Atomic uint64_t too_new;
	_Atomic uint64_t errors;
	_Atomic uint64_t hits;
	_Atomic uint64_t writer_errors;
};

static void *rr_read(void *arg)
{
	struct rr_ctx *ctx = arg;
	uint8_t *base = malloc((size_t)RR_KEYS * CHUNK);
	struct kvt_key keys[RR_KEYS];
	void *bufs[RR_KEYS];
	size_t caps[RR_KEYS], lens[RR_KEYS];

	if (!base)
		abort();
	for (int i = 0; i < RR_KEYS; i++) {
		keys[i] = key_of((uint64_t)i);
		caps[i] = CHUNK;
		bufs[i] = base + (size_t)i * CHUNK;
	}
	for (int g = 0; g < RR_GETS; g++) {
		ssize_t r = kvt_get(ctx->kvt, keys, RR_KEYS, bufs, caps, lens);
		ssize_t seen = 0;

		if (r < 0) {
			atomic_fetch_add(&ctx->errors, 1);
			continue;
		}
		for (int i = 0; i < RR_KEYS; i++) {
			uint32_t ver;

			if (!lens[i])
				continue;
			seen++;
			if (!chunk_ok(bufs[i], lens[i], (uint64_t)i, &ver))
				atomic_fetch_add(&ctx->mismatches, 1);
			else if (ver > atomic_load(&ctx->ver[i]))
				atomic_fetch_add(&ctx->too_new, 1);
		}
		if (seen != r)
			atomic_fetch_add(&ctx->mismatches, 1);
		atomic_fetch_add(&ctx->hits, (uint64_t)r);
	}
	free(base);
	atomic_store(&ctx->reader_done, 1);
	return NULL;
}

static void *rr_write(void *arg)
{
	struct rr_ctx *ctx = arg;

	for (uint64_t round = 0; !atomic_load(&ctx->reader_done); round++) {
		uint64_t id = round % RR_KEYS;
		struct kvt_key k = key_of(id);
		uint32_t next = atomic_load(&ctx->ver[id]) + 1;
		int res = 99;

		ssize_t rm = kvt_remove(ctx->kvt, &k, 1, 0, NULL);

		if (rm != 1) {
			fprintf(stderr, "    remove of %llu: %zd\n", (unsigned long long)id, rm);
			atomic_fetch_add(&ctx->writer_errors, 1);
		}
		/* publish the version before it can be read */
		atomic_store(&ctx->ver[id], next);
		ssize_t pr = put_ids(ctx->kvt, &id, 1, next, &res);

		if (pr != 1 || res != 0) {
			fprintf(stderr, "    put of %llu v%u: %zd, res %d\n", (unsigned long long)id,
				next, pr, res);
			atomic_fetch_add(&ctx->writer_errors, 1);
		}
	}
	return NULL;
}

TEST(remove_during_restore_defers_reuse)
{
	/*
	 * Room for every key plus a removed copy of each still held by the
	 * reader's batch (dax.eviction none: a put finding no free slot fails
	 * at once), and little more, so freed slots are soon reused.
	 */
	struct kvt *kvt = open_restore("remove-reuse", 2 * RR_KEYS + 4, NULL);
	struct rr_ctx ctx = { .kvt = kvt };
	pthread_t reader, writer;
	struct kvt_stats st;

	CHECK(stats_of(kvt).dax_slots >= 2 * RR_KEYS + 1);
	put_range(kvt, 0, RR_KEYS);
	CHECK_EQ(pthread_create(&writer, NULL, rr_write, &ctx), 0);
	CHECK_EQ(pthread_create(&reader, NULL, rr_read, &ctx), 0);
	CHECK_EQ(pthread_join(reader, NULL), 0);
	CHECK_EQ(pthread_join(writer, NULL), 0);
	CHECK_EQ(atomic_load(&ctx.mismatches), 0);
	CHECK_EQ(atomic_load(&ctx.too_new), 0);
	CHECK_EQ(atomic_load(&ctx.errors), 0);
	CHECK_EQ(atomic_load(&ctx.writer_errors), 0);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK_EQ(st.restore_errors, 0);
	CHECK_EQ(st.borrows_active, 0);
	CHECK_EQ(st.dax_entries, RR_KEYS);
	CHECK_EQ(st.dax_free_slots, st.dax_slots - RR_KEYS);
	/* every key holds exactly its newest version */
	for (uint64_t id = 0; id < RR_KEYS; id++) {
		uint8_t *buf = malloc(CHUNK);
		struct kvt_key k = key_of(id);
		void *b = buf;
		size_t cap = CHUNK, len = 0;
		uint32_t ver = ~0u;

		CHECK(buf);
		CHECK_EQ(kvt_get(kvt, &k, 1, &b, &cap, &len), 1);
		CHECK(chunk_ok(buf, len, id, &ver));
		CHECK_EQ(ver, atomic_load(&ctx.ver[id]));
		free(buf);
	}
	kvt_close(kvt);
}

/* ---- close during restore ----------------------------------------------- */

#define CD_KEYS 32
#define CD_READERS 2

struct cd_ctx {
	struct kvt *kvt;
	_Atomic uint64_t batches;	/* batches with every key hit */
	_Atomic uint64_t mismatches;
	_Atomic uint64_t errors;
};

/* Get batches until close has begun (a batch that misses everything). */
static void *cd_read(void *arg)
{
	struct cd_ctx *ctx = arg;
	uint8_t *base = malloc((size_t)CD_KEYS * CHUNK);
	struct kvt_key keys[CD_KEYS];
	void *bufs[CD_KEYS];
	size_t caps[CD_KEYS], lens[CD_KEYS];

	if (!base)
		abort();
	for (int i = 0; i < CD_KEYS; i++) {
		keys[i] = key_of((uint64_t)i);
		caps[i] = CHUNK;
		bufs[i] = base + (size_t)i * CHUNK;
	}
	for (;;) {
		ssize_t r = kvt_get(ctx->kvt, keys, CD_KEYS, bufs, caps, lens);

		if (r < 0) {
			atomic_fetch_add(&ctx->errors, 1);
			break;
		}
		if (r == 0)
			break;
		for (int i = 0; i < CD_KEYS; i++)
			if (lens[i] && !bytes_ok(bufs[i], lens[i], (uint64_t)i))
				atomic_fetch_add(&ctx->mismatches, 1);
		if (r == CD_KEYS)
			atomic_fetch_add(&ctx->batches, 1);
	}
	free(base);
	return NULL;
}

static void *cd_close(void *arg)
{
	kvt_close(arg);
	return NULL;
}

TEST(close_during_restore)
{
	struct kvt *kvt = open_restore("close", CD_KEYS + 4, NULL);
	struct cd_ctx ctx = { .kvt = kvt };
	pthread_t readers[CD_READERS], closer;
	struct kvt_key held = key_of(0);
	struct kvt_lease lease;

	put_range(kvt, 0, CD_KEYS);
	/*
	 * A borrow keeps close from finishing (it waits for leases), so the
	 * readers' calls, which stop at the first all-miss batch, never reach
	 * a freed handle; gets in flight when close begins still complete.
	 */
	CHECK_EQ(kvt_borrow(kvt, &held, &lease), 0);
	for (int t = 0; t < CD_READERS; t++)
		CHECK_EQ(pthread_create(&readers[t], NULL, cd_read, &ctx), 0);
	while (atomic_load(&ctx.batches) < CD_READERS)
		sched_yield();
	CHECK_EQ(pthread_create(&closer, NULL, cd_close, kvt), 0);
	for (int t = 0; t < CD_READERS; t++)
		CHECK_EQ(pthread_join(readers[t], NULL), 0);
	CHECK_EQ(atomic_load(&ctx.mismatches), 0);
	CHECK_EQ(atomic_load(&ctx.errors), 0);
	/* the lease still reads its bytes while close waits for it */
	CHECK_EQ(lease.len, CHUNK);
	CHECK(bytes_ok(lease.data, lease.len, 0));
	CHECK_EQ(kvt_release(kvt, &lease), 0);
	CHECK_EQ(pthread_join(closer, NULL), 0);
}

TEST(close_waits_for_prefetches)
{
	enum { NPF = 8 };
	struct kvt *kvt = open_restore("close-prefetch", CD_KEYS + 4, NULL);
	struct pf_result res[NPF];
	struct kvt_key keys[CD_KEYS];
	size_t caps[CD_KEYS], lens[NPF][CD_KEYS];
	uint8_t *base[NPF];
	void *pbufs[NPF][CD_KEYS];

	put_range(kvt, 0, CD_KEYS);
	for (int i = 0; i < CD_KEYS; i++) {
		keys[i] = key_of((uint64_t)i);
		caps[i] = CHUNK;
	}
	for (int p = 0; p < NPF; p++) {
		memset(&res[p], 0, sizeof(res[p]));
		base[p] = poisoned((size_t)CD_KEYS * CHUNK);
		for (int i = 0; i < CD_KEYS; i++)
			pbufs[p][i] = base[p] + (size_t)i * CHUNK;
		CHECK_EQ(kvt_prefetch(kvt, keys, CD_KEYS, pbufs[p], caps, lens[p], pf_done, &res[p],
				      NULL),
			 0);
	}
	kvt_close(kvt);
	/* every prefetch finished, whole, before close returned */
	for (int p = 0; p < NPF; p++) {
		CHECK_EQ(atomic_load(&res[p].fired), 1);
		CHECK_EQ(atomic_load(&res[p].hits), CD_KEYS);
		for (int i = 0; i < CD_KEYS; i++) {
			CHECK_EQ(lens[p][i], len_of((uint64_t)i, 0));
			CHECK(bytes_ok(pbufs[p][i], lens[p][i], (uint64_t)i));
		}
		free(base[p]);
	}
}
