/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the Device-DAX tier through the public API, on real files
 * under /dev/shm (dax.allow_file_backing): tiered write-through (sync and
 * async) and promotion; primary-mode zero copy; eviction with clock and
 * none; restart recovery, byte-exact, after a clean close and after a real
 * kill -9 in the middle of puts; namespace and chunk-shape mismatches and
 * dax.reinit; per-rank partitions of one device; configs that must be
 * refused without leaving an fd, a thread or a file behind.  Expectations
 * come from kvt_stats() (slot counts depend on the page size), never from
 * timing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvtier.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/plugins.h"

#define CHUNK 4096 /* chunk_size 16 x 1 layer x 2 (K,V) x 1 head x 64 dim x 2 bytes */
#define GIB 1073741824.0
#define DAX_BYTES (10ull << 20) /* 0.009765625 GiB: about 2500 slots */
#define BATCH 32
#define PUT_BATCH 8 /* batches well below the 32-slot L1s the tiered cases use */

/* ---- helpers ---------------------------------------------------------- */

/* A fresh directory on /dev/shm, or SKIP when /dev/shm is not tmpfs. */
static const char *shm_dir(void)
{
	struct statfs sfs;

	if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
		SKIP("/dev/shm is not a tmpfs: no file to back the DAX tier");
	return harness_tmpdir(1);
}

/* Bytes for a DAX partition of about @n slots: superblock, headers, slots. */
static uint64_t arena_bytes(unsigned int n)
{
	return 2 * 4096 + (uint64_t)n * CHUNK;
}

/*
 * A config for a 4096-byte chunk on the file @path: tiered with @l1_slots of
 * L1, or primary mode (local_cpu false) when @l1_slots is 0; @dax_bytes of
 * DAX in all.  @kv: NULL, or "key", "value" pairs ending in NULL, applied
 * last.
 */
static struct kvt_config *dax_config(const char *path, unsigned int l1_slots,
				     uint64_t dax_bytes, const char *const *kv)
{
	struct kvt_config *cfg;
	char num[64];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "model_name", "test-model");
	cfg_set(cfg, "put_wait_ms", "5000");
	if (l1_slots) {
		snprintf(num, sizeof(num), "%.17g", (double)l1_slots * CHUNK / GIB);
		cfg_set(cfg, "max_local_cpu_size", num);
	} else {
		cfg_set(cfg, "local_cpu", "false");
		cfg_set(cfg, "dax.mode", "primary");
	}
	cfg_set(cfg, "dax.device_path", path);
	cfg_set(cfg, "dax.allow_file_backing", "true");
	snprintf(num, sizeof(num), "%.17g", (double)dax_bytes / GIB);
	cfg_set(cfg, "dax.max_dax_size", num);
	for (; kv && kv[0]; kv += 2)
		cfg_set(cfg, kv[0], kv[1]);
	return cfg;
}

/* kvt_open() with stderr captured in @msg: kvtier logs why it refused. */
static int open_captured(const struct kvt_config *cfg, struct kvt **out, char *msg, size_t len)
{
	FILE *f = tmpfile();
	int saved, ret;
	size_t n;

	CHECK(f);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	CHECK(saved >= 0);
	CHECK(dup2(fileno(f), STDERR_FILENO) >= 0);
	ret = kvt_open(cfg, out, NULL, 0);
	CHECK(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(msg, 1, len - 1, f);
	msg[n] = '\0';
	fclose(f);
	return ret;
}

/* kvt_open() that must succeed; what kvtier logs (a reformat, torn slots
 * discarded) is kept out of the test output unless the open fails. */
static struct kvt *open_cfg(const struct kvt_config *cfg)
{
	struct kvt *kvt = NULL;
	char msg[2048];
	int ret = open_captured(cfg, &kvt, msg, sizeof(msg));

	if (ret)
		harness_fail(__FILE__, __LINE__, "kvt_open: %d (%s): %s", ret, kvt_strerror(ret),
			     msg);
	return kvt;
}

static struct kvt *open_dax(const char *path, unsigned int l1_slots, uint64_t dax_bytes,
			    const char *const *kv)
{
	struct kvt_config *cfg = dax_config(path, l1_slots, dax_bytes, kv);
	struct kvt *kvt = open_cfg(cfg);

	kvt_config_free(cfg);
	CHECK_EQ(kvt_chunk_bytes(kvt), CHUNK);
	return kvt;
}

/* Every third chunk is partial, with a length that varies with @id. */
static size_t len_of(uint64_t id)
{
	return id % 3 == 1 ? 1 + (size_t)(id * 613 % (CHUNK - 1)) : CHUNK;
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

/* The content of chunk @id: every 8 bytes depend on all of @id. */
static void fill(uint8_t *buf, size_t len, uint64_t id)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = mix(id * 0x100000001b3ull + i);

		memcpy(buf + i, &w, len - i < 8 ? len - i : 8);
	}
}

static bool bytes_ok(const void *buf, size_t len, uint64_t id)
{
	uint8_t want[CHUNK];

	if (len > CHUNK)
		return false;
	fill(want, len, id);
	return memcmp(buf, want, len) == 0;
}

/*
 * Put ids [@first, @first + @n) (n <= BATCH) in one batch, each len_of(id)
 * bytes of its content.  @results may be NULL.
 * Return: what kvt_put() returned.
 */
static ssize_t put_ids(struct kvt *kvt, uint64_t first, size_t n, int *results, kvt_put_cb cb,
		       void *cb_arg)
{
	static uint8_t data[BATCH][CHUNK];
	struct kvt_key keys[BATCH];
	const void *bufs[BATCH];
	size_t lens[BATCH];

	CHECK(n <= BATCH);
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(first + i);
		lens[i] = len_of(first + i);
		fill(data[i], lens[i], first + i);
		bufs[i] = data[i];
	}
	return kvt_put(kvt, keys, bufs, lens, n, results, cb, cb_arg);
}

/* Put one id; return its per-key result (or kvt_put's error). */
static int put_one(struct kvt *kvt, uint64_t id)
{
	int res = 99;
	ssize_t r = put_ids(kvt, id, 1, &res, NULL, NULL);

	return r < 0 ? (int)r : res;
}

/* Put ids [@first, @first + @n) in batches; every one must be stored. */
static void put_all(struct kvt *kvt, uint64_t first, size_t n)
{
	int res[PUT_BATCH];

	for (size_t base = 0; base < n; base += PUT_BATCH) {
		size_t w = n - base < PUT_BATCH ? n - base : PUT_BATCH;

		CHECK_EQ(put_ids(kvt, first + base, w, res, NULL, NULL), w);
	}
}

/*
 * Get @id.  Return: 1 when present with its real length and exact bytes,
 * 0 when absent.  Wrong bytes or a wrong length fail the case.
 */
static int get_id(struct kvt *kvt, uint64_t id)
{
	uint8_t buf[CHUNK];
	struct kvt_key k = key_of(id);
	void *b = buf;
	size_t cap = sizeof(buf), len = 0;
	ssize_t r = kvt_get(kvt, &k, 1, &b, &cap, &len);

	if (r != 0 && r != 1)
		harness_fail(__FILE__, __LINE__, "kvt_get of key %llu: %zd", (unsigned long long)id,
			     r);
	if (r == 0)
		return 0;
	if (len != len_of(id) || !bytes_ok(buf, len, id))
		harness_fail(__FILE__, __LINE__, "key %llu: %zu bytes (want %zu), or wrong bytes",
			     (unsigned long long)id, len, len_of(id));
	return 1;
}

/* How many of ids [@first, @first + @n) are present, each checked byte-exact. */
static uint64_t count_present(struct kvt *kvt, uint64_t first, uint64_t n)
{
	uint64_t hits = 0;

	for (uint64_t id = first; id < first + n; id++)
		hits += (uint64_t)get_id(kvt, id);
	return hits;
}

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

struct census {
	int fds;
	int threads;
};

/* Open and close once first: liburcu sets up its process-wide state then. */
static struct census take_census(const char *dir)
{
	char path[256];
	struct census c;

	snprintf(path, sizeof(path), "%s/warmup.img", dir);
	kvt_close(open_dax(path, 8, arena_bytes(4), NULL));
	c.fds = harness_count_fds();
	c.threads = harness_count_threads();
	return c;
}

static void check_census(struct census c)
{
	for (int i = 0; i < 100 && harness_count_threads() != c.threads; i++)
		usleep(10000);
	CHECK_EQ(harness_count_threads(), c.threads);
	CHECK_EQ(harness_count_fds(), c.fds);
}

/* ---- tiered mode ------------------------------------------------------ */

#define RT_KEYS 192

struct put_count {
	struct kvt *kvt;
	size_t batch;			/* keys per kvt_put(), aligned on ids */
	_Atomic int fired;
	_Atomic int before_dax;		/* fired while DAX held fewer entries */
	_Atomic int wrong_index;
	_Atomic uint8_t per_key[RT_KEYS];
};

static void count_put(void *arg, const struct kvt_key *key, size_t index)
{
	struct put_count *pc = arg;
	int fired = atomic_fetch_add(&pc->fired, 1) + 1;
	struct kvt_stats st;

	/* nothing is removed or evicted from DAX here: a key readable in DAX
	 * is counted in dax_entries before its callback may fire */
	kvt_stats(pc->kvt, &st, sizeof(st));
	if (st.dax_entries < (uint64_t)fired)
		atomic_fetch_add(&pc->before_dax, 1);
	if (key->hi >= RT_KEYS || key->hi % pc->batch != index)
		atomic_fetch_add(&pc->wrong_index, 1);
	else
		atomic_fetch_add(&pc->per_key[key->hi], 1);
}

TEST(tiered_write_through_sync_and_async)
{
	static const char *const modes[] = { "true", "false" };
	const char *dir = shm_dir();

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		bool async = strcmp(modes[m], "true") == 0;
		const char *const kv[] = { "dax.async_put", modes[m], NULL };
		static struct put_count pc;
		struct kvt_stats st;
		struct kvt *kvt;
		char path[256];
		int res[PUT_BATCH];

		snprintf(path, sizeof(path), "%s/roundtrip-async-%s.img", dir, modes[m]);
		kvt = open_dax(path, 32, DAX_BYTES, kv);
		memset(&pc, 0, sizeof(pc));
		pc.kvt = kvt;
		pc.batch = PUT_BATCH;
		for (uint64_t base = 0; base < RT_KEYS; base += PUT_BATCH) {
			CHECK_EQ(put_ids(kvt, base, PUT_BATCH, res, count_put, &pc), PUT_BATCH);
			for (int i = 0; i < PUT_BATCH; i++)
				CHECK_EQ(res[i], 0);
			/* sync: every callback has fired before kvt_put returns */
			if (!async)
				CHECK_EQ(atomic_load(&pc.fired), base + PUT_BATCH);
		}
		CHECK_EQ(kvt_flush(kvt), 0);
		/* async: the DAX writer fired them, each after its DAX copy */
		CHECK_EQ(atomic_load(&pc.fired), RT_KEYS);
		CHECK_EQ(atomic_load(&pc.before_dax), 0);
		CHECK_EQ(atomic_load(&pc.wrong_index), 0);
		for (int i = 0; i < RT_KEYS; i++)
			CHECK_EQ(atomic_load(&pc.per_key[i]), 1);
		st = stats_of(kvt);
		CHECK_EQ(st.dax_entries, RT_KEYS);
		CHECK_EQ(st.dax_write_errors, 0);
		CHECK(st.l1_entries < RT_KEYS);
		CHECK(st.l1_evictions > 0);
		CHECK_EQ(st.dax_numa_node, 0); /* a tmpfs file has no NUMA node */
		CHECK_EQ(count_present(kvt, 0, RT_KEYS), RT_KEYS);
		st = stats_of(kvt);
		CHECK(st.dax_hits > 0);
		CHECK_EQ(st.dax_hits + st.l1_hits, RT_KEYS);
		CHECK_EQ(atomic_load(&pc.fired), RT_KEYS);
		kvt_close(kvt);
	}
}

TEST(dax_hit_promoted_into_l1_only_when_enabled)
{
	static const char *const promote[] = { "true", "false" };
	const char *dir = shm_dir();

	for (size_t r = 0; r < 2; r++) {
		const char *const kv[] = { "dax.promote", promote[r], "dax.async_put", "false",
					   NULL };
		bool on = strcmp(promote[r], "true") == 0;
		struct kvt_stats s0, s1, s2;
		struct kvt *kvt;
		char path[256];

		snprintf(path, sizeof(path), "%s/promote-%s.img", dir, promote[r]);
		kvt = open_dax(path, 32, DAX_BYTES, kv);
		CHECK_EQ(put_one(kvt, 1), 0);
		/* 128 newer chunks through 32 L1 slots: CLOCK has evicted key 1 */
		put_all(kvt, 100, 128);
		CHECK_EQ(kvt_flush(kvt), 0);

		s0 = stats_of(kvt);
		CHECK_EQ(get_id(kvt, 1), 1);
		/* promotion runs on the DAX writer, off the reader's path */
		CHECK_EQ(kvt_flush(kvt), 0);
		s1 = stats_of(kvt);
		CHECK_EQ(s1.l1_misses, s0.l1_misses + 1);
		CHECK_EQ(s1.dax_hits, s0.dax_hits + 1);
		CHECK_EQ(s1.dax_promotions, s0.dax_promotions + (on ? 1 : 0));

		CHECK_EQ(get_id(kvt, 1), 1);
		s2 = stats_of(kvt);
		CHECK_EQ(s2.l1_hits, s1.l1_hits + (on ? 1 : 0));
		CHECK_EQ(s2.dax_hits, s1.dax_hits + (on ? 0 : 1));
		CHECK_EQ(s2.dax_promotions, s1.dax_promotions);
		kvt_close(kvt);
	}
}

/* ---- restart recovery ------------------------------------------------- */

#define RECOVER_KEYS 100

TEST(restart_recovers_every_chunk_byte_exact)
{
	static const struct {
		const char *name;
		unsigned int l1_writer, l1_reader; /* 0: primary mode */
		const char *async;
	} rows[] = {
		{ "tiered-sync", 32, 32, "false" },
		{ "tiered-async", 32, 32, "true" },
		{ "primary", 0, 0, "true" },
		{ "tiered-then-primary", 32, 0, "false" },
		{ "primary-then-tiered", 0, 32, "true" },
	};
	const char *dir = shm_dir();

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const char *const kv[] = { "dax.async_put", rows[r].async, NULL };
		struct kvt_lease lease;
		struct kvt_stats st;
		struct kvt_key k;
		struct kvt *kvt;
		char path[256];

		snprintf(path, sizeof(path), "%s/recover-%s.img", dir, rows[r].name);
		kvt = open_dax(path, rows[r].l1_writer, DAX_BYTES, kv);
		st = stats_of(kvt);
		CHECK_EQ(st.dax_recovered, 0);
		put_all(kvt, 0, RECOVER_KEYS);
		CHECK_EQ(kvt_flush(kvt), 0);
		CHECK_EQ(stats_of(kvt).dax_entries, RECOVER_KEYS);
		kvt_close(kvt);

		kvt = open_dax(path, rows[r].l1_reader, DAX_BYTES, kv);
		st = stats_of(kvt);
		CHECK_EQ(st.dax_recovered, RECOVER_KEYS);
		CHECK_EQ(st.dax_torn, 0);
		CHECK_EQ(st.dax_entries, RECOVER_KEYS);
		CHECK_EQ(st.dax_free_slots, st.dax_slots - RECOVER_KEYS);
		CHECK_EQ(count_present(kvt, 0, RECOVER_KEYS), RECOVER_KEYS);
		CHECK_EQ(get_id(kvt, RECOVER_KEYS), 0);
		/* the real length survives, also through a zero-copy borrow */
		k = key_of(1);
		CHECK_EQ(kvt_borrow(kvt, &k, &lease), 0);
		CHECK_EQ(lease.len, len_of(1));
		CHECK(len_of(1) < CHUNK);
		CHECK(bytes_ok(lease.data, lease.len, 1));
		CHECK_EQ(kvt_release(kvt, &lease), 0);
		/* a recovered key is present: putting it again is a duplicate */
		CHECK_EQ(put_one(kvt, 7), 1);
		CHECK_EQ(put_one(kvt, 1), 1);
		kvt_close(kvt);
	}
}

/* What `kvtier demo` shows, as a contract: L1 in front of DAX in front of the
 * fs tier, each chunk served by the highest tier that still has it. */
TEST(l1_dax_and_fs_each_serve_what_the_tier_above_lost)
{
	char path[256], json[512];
	struct kvt_stats s0, s1;
	struct kvt *kvt;

	snprintf(path, sizeof(path), "%s/three-tiers.img", shm_dir());
	snprintf(json, sizeof(json), "{\"type\":\"fs\",\"base_path\":\"%s/fs\"}",
		 harness_tmpdir(0));
	const char *const kv[] = { "dax.async_put", "false", "l2_adapters", json, NULL };

	kvt = open_dax(path, 4, arena_bytes(64), kv);
	put_all(kvt, 0, 32);
	CHECK_EQ(kvt_flush(kvt), 0);
	s0 = stats_of(kvt);
	CHECK_EQ(s0.dax_entries, 32);
	CHECK(s0.l1_entries <= 4);
	CHECK_EQ(count_present(kvt, 0, 32), 32);
	s1 = stats_of(kvt);
	CHECK_EQ((s1.l1_hits - s0.l1_hits) + (s1.dax_hits - s0.dax_hits), 32);
	CHECK(s1.dax_hits - s0.dax_hits >= 28);
	CHECK_EQ(s1.l2_hits, 0);
	CHECK_EQ(kvt_close(kvt), 0);

	/* the DAX device is lost: a fresh one is formatted, the files remain */
	CHECK_EQ(unlink(path), 0);
	kvt = open_dax(path, 4, arena_bytes(64), kv);
	s0 = stats_of(kvt);
	CHECK_EQ(s0.dax_recovered, 0);
	CHECK_EQ(count_present(kvt, 0, 32), 32);
	s1 = stats_of(kvt);
	CHECK_EQ(s1.l2_hits, 32);
	CHECK_EQ(s1.dax_hits, 0);
	CHECK_EQ(get_id(kvt, 32), 0);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(namespace_or_shape_mismatch_refused_until_reinit)
{
	static const struct {
		const char *name;
		const char *kv[5];
		const char *why; /* in the refusal kvtier logs */
	} rows[] = {
		{ "tenant_salt", { "tenant_salt", "tenant-b" }, "namespace" },
		{ "model_name", { "model_name", "other-model" }, "namespace" },
		{ "kv_layout", { "kv_layout", "HND" }, "namespace" },
		{ "kv_dtype", { "kv_dtype", "float32" }, "slot size" },
		{ "same_bytes_other_shape", { "kv_heads", "2", "head_dim", "32" }, "namespace" },
		{ "head_dim", { "head_dim", "32" }, "slot size" },
		{ "chunk_size", { "chunk_size", "32" }, "slot size" },
		{ "kv_layers", { "kv_layers", "2" }, "slot size" },
		{ "max_dax_size", { "dax.max_dax_size", "0.0001" }, "slot count" },
	};
	const char *dir = shm_dir();
	const char *const base_kv[] = { "tenant_salt", "tenant-a", "dax.async_put", "false", NULL };
	struct census before = take_census(dir);

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct kvt_config *base, *other;
		struct kvt_stats st;
		struct kvt *kvt = NULL;
		char path[256], msg[2048];

		snprintf(path, sizeof(path), "%s/mismatch-%s.img", dir, rows[r].name);
		base = dax_config(path, 32, DAX_BYTES, base_kv);
		other = dax_config(path, 32, DAX_BYTES, base_kv);
		for (const char *const *kv = rows[r].kv; kv[0]; kv += 2)
			cfg_set(other, kv[0], kv[1]);

		kvt = open_cfg(base);
		put_all(kvt, 0, 20);
		kvt_close(kvt);

		kvt = NULL;
		CHECK_EQ(open_captured(other, &kvt, msg, sizeof(msg)), -EEXIST);
		CHECK(kvt == NULL);
		if (!strstr(msg, rows[r].why) || !strstr(msg, "dax.reinit"))
			harness_fail(__FILE__, __LINE__, "%s: refusal says \"%s\"", rows[r].name,
				     msg);
		check_census(before);

		/* the refusal changed nothing on the device */
		kvt = open_cfg(base);
		st = stats_of(kvt);
		CHECK_EQ(st.dax_recovered, 20);
		CHECK_EQ(count_present(kvt, 0, 20), 20);
		kvt_close(kvt);

		cfg_set(other, "dax.reinit", "true");
		CHECK_EQ(open_captured(other, &kvt, msg, sizeof(msg)), 0);
		CHECK(strstr(msg, "reformatting"));
		st = stats_of(kvt);
		CHECK_EQ(st.dax_recovered, 0);
		CHECK_EQ(st.dax_entries, 0);
		CHECK_EQ(st.dax_free_slots, st.dax_slots);
		if (kvt_chunk_bytes(kvt) == CHUNK)
			CHECK_EQ(count_present(kvt, 0, 20), 0);
		kvt_close(kvt);

		/* reformatted: now the first config is the stranger */
		kvt = NULL;
		CHECK_EQ(open_captured(base, &kvt, msg, sizeof(msg)), -EEXIST);
		kvt_config_free(other);
		kvt_config_free(base);
		check_census(before);
	}
}

/* ---- kill -9 in the middle of puts ------------------------------------ */

enum putter_kind { PUT_TIERED, PUT_PRIMARY, RESERVE_COMMIT };

struct putter_shared {
	_Atomic uint64_t next;	/* ids below it may be on the device */
	_Atomic int error;
};

/* The child: put ids from @first on, forever, until killed.  Never returns
 * and never calls exit(): the harness's atexit hook would remove the
 * directory the parent still uses. */
static void __attribute__((noreturn)) putter(const struct kvt_config *cfg, enum putter_kind kind,
					      uint64_t first, struct putter_shared *sh)
{
	struct kvt *kvt;
	int ret = kvt_open(cfg, &kvt, NULL, 0);

	if (ret) {
		atomic_store(&sh->error, ret);
		_exit(3);
	}
	for (uint64_t id = first;; id++) {
		struct kvt_key k = key_of(id);
		struct kvt_lease lease;

		atomic_store(&sh->next, id + 1);
		if (kind != RESERVE_COMMIT) {
			ret = put_one(kvt, id);
		} else {
			ret = kvt_reserve(kvt, &lease);
			if (ret == 0) {
				fill(lease.data, len_of(id), id);
				ret = kvt_commit(kvt, &lease, &k, len_of(id));
			}
		}
		if (ret) {
			atomic_store(&sh->error, ret);
			pause();
		}
	}
}

TEST(kill9_mid_put_recovers_only_whole_chunks)
{
	static const struct {
		const char *name;
		enum putter_kind kind;
		const char *async;
	} rows[] = {
		{ "tiered-sync", PUT_TIERED, "false" },
		{ "tiered-async", PUT_TIERED, "true" },
		{ "primary-put", PUT_PRIMARY, "true" },
		{ "primary-reserve-commit", RESERVE_COMMIT, "true" },
	};
	const char *dir = shm_dir();
	struct putter_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t rng = 0x2545F4914F6CDD1Dull;

	CHECK(sh != MAP_FAILED);
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const char *const kv[] = { "dax.async_put", rows[r].async, "dax.promote", "false",
					   NULL };
		unsigned int l1 = rows[r].kind == PUT_TIERED ? 16 : 0;
		struct kvt_config *cfg, *reader;
		uint64_t first[4], end[4], slots;
		struct kvt *kvt;
		char path[256];

		snprintf(path, sizeof(path), "%s/kill-%s.img", dir, rows[r].name);
		cfg = dax_config(path, l1, arena_bytes(64), kv);
		/* the reader evicts nothing: a recovered full arena stays full */
		reader = dax_config(path, l1, arena_bytes(64), kv);
		cfg_set(reader, "dax.eviction", "none");
		kvt = open_cfg(reader);
		slots = stats_of(kvt).dax_slots;
		kvt_close(kvt);

		for (int round = 0; round < 4; round++) {
			struct kvt_stats st;
			uint64_t hits = 0;
			int status, spins;
			pid_t pid;

			first[round] = (uint64_t)round << 32;
			atomic_store(&sh->next, first[round]);
			atomic_store(&sh->error, 0);
			fflush(NULL);
			pid = fork();
			CHECK(pid >= 0);
			if (pid == 0)
				putter(cfg, rows[r].kind, first[round], sh);
			/* let it cycle the arena a few times, so slots are reused */
			for (spins = 0; atomic_load(&sh->next) < first[round] + 3 * slots; spins++) {
				CHECK(!atomic_load(&sh->error));
				CHECK_EQ(waitpid(pid, &status, WNOHANG), 0);
				if (spins > 120000)
					harness_fail(__FILE__, __LINE__, "%s: the child stalled",
						     rows[r].name);
				usleep(500);
			}
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			usleep((useconds_t)(rng % 20000));
			CHECK_EQ(kill(pid, SIGKILL), 0);
			CHECK_EQ(waitpid(pid, &status, 0), pid);
			CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
			CHECK(!atomic_load(&sh->error));
			end[round] = atomic_load(&sh->next);

			kvt = open_cfg(reader);
			st = stats_of(kvt);
			CHECK(st.dax_recovered > 0);
			CHECK_EQ(st.dax_entries, st.dax_recovered);
			CHECK_EQ(st.dax_free_slots, st.dax_slots - st.dax_recovered);
			/* at most one slot mid-write per writer thread, plus one
			 * header the index actor was freeing */
			CHECK(st.dax_torn <= 2);
			/* every recovered chunk is one that was put, byte-exact */
			for (int i = 0; i <= round; i++)
				hits += count_present(kvt, first[i], end[i] - first[i]);
			CHECK_EQ(hits, st.dax_recovered);
			kvt_close(kvt);
		}
		kvt_config_free(reader);
		kvt_config_free(cfg);
	}
	munmap(sh, sizeof(*sh));
}

TEST(kill9_holding_reservation_discards_the_torn_slot)
{
	const char *dir = shm_dir();
	const char *const kv[] = { "dax.eviction", "none", NULL };
	struct kvt_config *cfg;
	struct kvt_stats st;
	struct kvt *kvt;
	char path[256];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/torn.img", dir);
	cfg = dax_config(path, 0, arena_bytes(8), kv);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* no CHECK here: exit() would run the harness's cleanup */
		struct kvt_lease lease;

		if (kvt_open(cfg, &kvt, NULL, 0))
			_exit(3);
		for (uint64_t id = 0; id < 3; id++)
			if (put_one(kvt, id))
				_exit(4);
		if (kvt_reserve(kvt, &lease))
			_exit(5);
		/* a whole chunk's bytes, never committed */
		fill(lease.data, CHUNK, 99);
		raise(SIGKILL);
		_exit(6);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	kvt = open_cfg(cfg);
	st = stats_of(kvt);
	CHECK_EQ(st.dax_recovered, 3);
	CHECK_EQ(st.dax_torn, 1);
	CHECK_EQ(st.dax_entries, 3);
	CHECK_EQ(st.dax_free_slots, st.dax_slots - 3);
	CHECK_EQ(get_id(kvt, 99), 0);
	CHECK_EQ(count_present(kvt, 0, 3), 3);
	kvt_close(kvt);

	/* the scan wrote the torn slot FREE: the next open finds nothing torn */
	kvt = open_cfg(cfg);
	st = stats_of(kvt);
	CHECK_EQ(st.dax_recovered, 3);
	CHECK_EQ(st.dax_torn, 0);
	kvt_close(kvt);
	kvt_config_free(cfg);
}

TEST(corrupted_payload_never_served_after_restart)
{
	const char *dir = shm_dir();
	uint8_t head[64];
	struct kvt_stats st;
	struct kvt *kvt;
	struct stat sb;
	char path[256];
	uint8_t *map;
	size_t hits = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/corrupt.img", dir);
	kvt = open_dax(path, 0, arena_bytes(8), NULL);
	put_all(kvt, 0, 5);
	kvt_close(kvt);

	/* slots start on page boundaries: find chunk 2 by its content */
	CHECK(len_of(2) == CHUNK);
	fill(head, sizeof(head), 2);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(fstat(fd, &sb), 0);
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	for (off_t off = 0; off + CHUNK <= sb.st_size; off += 4096) {
		if (memcmp(map + off, head, sizeof(head)) == 0) {
			map[off + 1000] ^= 0x40;
			hits++;
		}
	}
	munmap(map, (size_t)sb.st_size);
	close(fd);
	CHECK_EQ(hits, 1);

	kvt = open_dax(path, 0, arena_bytes(8), NULL);
	st = stats_of(kvt);
	CHECK_EQ(st.dax_recovered, 4);
	CHECK_EQ(st.dax_torn, 1);
	CHECK_EQ(get_id(kvt, 2), 0);
	CHECK_EQ(count_present(kvt, 0, 5), 4);
	kvt_close(kvt);
}

/* ---- primary mode: zero copy ----------------------------------------- */

TEST(primary_reserve_commit_borrow_in_place)
{
	const char *dir = shm_dir();
	char path[256];
	struct kvt *kvt;
	struct kvt_lease w, r;
	struct kvt_key k = key_of(21);
	struct kvt_stats st;

	snprintf(path, sizeof(path), "%s/zero-copy.img", dir);
	kvt = open_dax(path, 0, arena_bytes(8), NULL);
	st = stats_of(kvt);
	CHECK_EQ(st.l1_slots, 0);
	CHECK(st.dax_slots >= 4);
	CHECK_EQ(kvt_reserve(kvt, &w), 0);
	CHECK_EQ(w.len, CHUNK);
	fill(w.data, len_of(21), 21);
	CHECK_EQ(kvt_commit(kvt, &w, &k, CHUNK + 1), -EMSGSIZE);
	CHECK_EQ(kvt_commit(kvt, &w, &k, len_of(21)), 0);
	CHECK_EQ(kvt_commit(kvt, &w, &k, len_of(21)), -ESTALE);
	CHECK_EQ(kvt_borrow(kvt, &k, &r), 0);
	CHECK_EQ(r.len, len_of(21));
	/* the borrow is the very slot the engine wrote: no copy */
	CHECK(r.data == w.data);
	CHECK(bytes_ok(r.data, r.len, 21));
	CHECK_EQ(kvt_release(kvt, &r), 0);
	CHECK_EQ(get_id(kvt, 21), 1);
	st = stats_of(kvt);
	CHECK_EQ(st.dax_entries, 1);
	CHECK_EQ(st.dax_hits, 2);
	CHECK_EQ(st.borrows_active, 0);
	kvt_close(kvt);
}

/*
 * LMCache's DAX restore-path sample (local_cpu false, no dax.mode; see
 * tests/core/test_config.c) opens as LMCache means it: DAX holds the
 * chunks, no L1 cache, and a chunk read back is not admitted to one.  Only
 * the device path and what a test file needs (file backing, its size, a
 * small chunk) differ from the sample.
 */
TEST(lmcache_sample_without_mode_opens_primary)
{
	const char *dir = shm_dir();
	char path[256], yaml[256], text[1024], err[512] = "", num[64];
	struct kvt_config *cfg;
	struct kvt_stats st;
	struct kvt_lease w;
	struct kvt *kvt;
	FILE *f;

	snprintf(path, sizeof(path), "%s/lmcache-sample.img", dir);
	snprintf(yaml, sizeof(yaml), "%s/lmcache-sample.yaml", dir);
	snprintf(text, sizeof(text),
		 "chunk_size: 256\n"
		 "local_cpu: false\n"
		 "max_local_cpu_size: 16\n"
		 "storage_plugins: [\"dax\"]\n"
		 "extra_config:\n"
		 "  storage_plugin.dax.module_path: lmcache.v1.storage_backend.plugins.dax_backend\n"
		 "  storage_plugin.dax.class_name: DaxBackend\n"
		 "  dax.device_path: \"%s\"\n"
		 "  dax.max_dax_size: 100\n"
		 "  dax.restore_workers: 8\n"
		 "  dax.restore_max_regions: 8\n"
		 "  dax.retrieve_staging_slab_bytes: 268435456\n", path);
	f = fopen(yaml, "w");
	CHECK(f);
	CHECK(fputs(text, f) >= 0);
	CHECK_EQ(fclose(f), 0);
	CHECK_EQ(kvt_config_new(&cfg), 0);
	CHECK_EQ(kvt_config_load_yaml(cfg, yaml, err, sizeof(err)), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "dax.allow_file_backing", "true");
	snprintf(num, sizeof(num), "%.17g", (double)arena_bytes(8) / GIB);
	cfg_set(cfg, "dax.max_dax_size", num);
	if (kvt_config_check(cfg, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, "check: %s", err);
	kvt = open_cfg(cfg);
	kvt_config_free(cfg);
	st = stats_of(kvt);
	CHECK_EQ(st.l1_slots, 0);
	CHECK(st.dax_slots >= 4);
	/* primary: the engine reserves DAX slots directly */
	CHECK_EQ(kvt_reserve(kvt, &w), 0);
	CHECK_EQ(kvt_release(kvt, &w), 0);
	CHECK_EQ(put_one(kvt, 5), 0);
	CHECK_EQ(get_id(kvt, 5), 1);
	CHECK_EQ(get_id(kvt, 5), 1);
	st = stats_of(kvt);
	CHECK_EQ(st.l1_slots, 0);
	CHECK_EQ(st.dax_hits, 2);
	kvt_close(kvt);
}

/* LMCache's own primary-mode config (RFC #2572): local_cpu false and
 * max_local_cpu_size 0, which LMCache insists on, so it loads unchanged. */
TEST(lmcache_primary_config_with_no_l1_opens)
{
	static const char *const kv[] = { "max_local_cpu_size", "0", NULL };
	char path[256], err[512] = "";
	struct kvt_config *cfg;
	struct kvt_stats st;
	struct kvt *kvt;

	snprintf(path, sizeof(path), "%s/lmcache-primary.img", shm_dir());
	cfg = dax_config(path, 0, arena_bytes(8), kv);
	if (kvt_config_check(cfg, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, "check: %s", err);
	kvt = open_cfg(cfg);
	kvt_config_free(cfg);
	CHECK_EQ(put_one(kvt, 7), 0);
	CHECK_EQ(get_id(kvt, 7), 1);
	st = stats_of(kvt);
	CHECK_EQ(st.l1_slots, 0);
	CHECK_EQ(st.dax_hits, 1);
	kvt_close(kvt);
}

TEST(primary_borrow_survives_remove_until_release)
{
	const char *dir = shm_dir();
	const char *const kv[] = { "dax.eviction", "none", "put_wait_ms", "0", NULL };
	struct kvt_key k = key_of(11);
	struct kvt_lease lease, again;
	struct kvt_stats st;
	struct kvt *kvt;
	char path[256];
	uint64_t slots;

	snprintf(path, sizeof(path), "%s/borrow-remove.img", dir);
	kvt = open_dax(path, 0, arena_bytes(8), kv);
	CHECK_EQ(put_one(kvt, 11), 0);
	CHECK_EQ(kvt_borrow(kvt, &k, &lease), 0);
	CHECK_EQ(kvt_remove(kvt, &k, 1, 0, NULL), 1);
	CHECK_EQ(kvt_borrow(kvt, &k, &again), -ENOENT);
	CHECK_EQ(get_id(kvt, 11), 0);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	slots = st.dax_slots;
	/* the borrowed slot is not free: fill every other one */
	CHECK_EQ(st.dax_free_slots, slots - 1);
	put_all(kvt, 100, slots - 1);
	CHECK_EQ(put_one(kvt, 1000), -ENOSPC);
	CHECK(bytes_ok(lease.data, lease.len, 11));
	CHECK_EQ(lease.len, len_of(11));
	CHECK_EQ(kvt_release(kvt, &lease), 0);
	CHECK_EQ(kvt_release(kvt, &lease), -ESTALE);
	CHECK_EQ(kvt_flush(kvt), 0);
	/* now the slot is back */
	st = stats_of(kvt);
	CHECK_EQ(st.dax_free_slots, 1);
	CHECK_EQ(st.borrows_active, 0);
	CHECK_EQ(put_one(kvt, 1000), 0);
	CHECK_EQ(count_present(kvt, 100, slots - 1), slots - 1);
	kvt_close(kvt);
}

TEST(primary_duplicate_commit_keeps_reservation_until_release)
{
	const char *dir = shm_dir();
	const char *const kv[] = { "dax.eviction", "none", "put_wait_ms", "0", NULL };
	struct kvt_key k = key_of(5), k2 = key_of(6);
	struct kvt_lease w1, w2;
	struct kvt_stats st;
	struct kvt *kvt;
	char path[256];

	snprintf(path, sizeof(path), "%s/dup-commit.img", dir);
	kvt = open_dax(path, 0, arena_bytes(8), kv);
	CHECK_EQ(kvt_reserve(kvt, &w1), 0);
	fill(w1.data, len_of(5), 5);
	CHECK_EQ(kvt_commit(kvt, &w1, &k, len_of(5)), 0);
	CHECK_EQ(kvt_reserve(kvt, &w2), 0);
	memset(w2.data, 0xa5, CHUNK);
	CHECK_EQ(kvt_commit(kvt, &w2, &k, 100), 1);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK_EQ(st.dax_entries, 1);
	CHECK_EQ(st.dax_free_slots, st.dax_slots - 2); /* w2's slot is still ours */
	CHECK_EQ(get_id(kvt, 5), 1);			/* the first commit's bytes */
	/* still a live reservation: it can be committed under another key */
	fill(w2.data, len_of(6), 6);
	CHECK_EQ(kvt_commit(kvt, &w2, &k2, len_of(6)), 0);
	CHECK_EQ(get_id(kvt, 6), 1);
	CHECK_EQ(kvt_release(kvt, &w2), -ESTALE);

	/* or released, exactly once */
	CHECK_EQ(kvt_reserve(kvt, &w2), 0);
	CHECK_EQ(kvt_commit(kvt, &w2, &k, 10), 1);
	CHECK_EQ(kvt_release(kvt, &w2), 0);
	CHECK_EQ(kvt_release(kvt, &w2), -ESTALE);
	CHECK_EQ(kvt_commit(kvt, &w2, &k2, 10), -ESTALE);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK_EQ(st.dax_entries, 2);
	CHECK_EQ(st.dax_free_slots, st.dax_slots - 2);
	kvt_close(kvt);
}

TEST(primary_released_reservation_returns_its_slot)
{
	const char *dir = shm_dir();
	const char *const kv[] = { "dax.eviction", "none", "put_wait_ms", "0", NULL };
	struct kvt_lease w;
	struct kvt_stats st;
	struct kvt *kvt;
	char path[256];
	uint64_t slots;

	snprintf(path, sizeof(path), "%s/reserve-release.img", dir);
	kvt = open_dax(path, 0, arena_bytes(4), kv);
	slots = stats_of(kvt).dax_slots;
	CHECK(slots >= 2);
	/* one slot left, and nothing may be evicted */
	put_all(kvt, 0, slots - 1);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(kvt_reserve(kvt, &w), 0);
		memset(w.data, i, CHUNK);
		CHECK_EQ(kvt_reserve(kvt, &(struct kvt_lease){ 0 }), -ENOSPC);
		CHECK_EQ(kvt_release(kvt, &w), 0);
		/* the release reaches the free ring through the index actor */
		CHECK_EQ(kvt_flush(kvt), 0);
		CHECK_EQ(stats_of(kvt).dax_free_slots, 1);
	}
	st = stats_of(kvt);
	CHECK_EQ(st.dax_entries, slots - 1);
	CHECK_EQ(st.dax_evictions, 0);
	CHECK_EQ(put_one(kvt, 1000), 0);
	CHECK_EQ(count_present(kvt, 0, slots - 1), slots - 1);
	kvt_close(kvt);
}

/* ---- eviction --------------------------------------------------------- */

TEST(eviction_none_full_arena_fails_cleanly)
{
	static const struct {
		const char *name;
		bool pin; /* pin every other chunk first */
	} rows[] = {
		{ "unpinned", false },
		{ "half-pinned", true },
	};
	const char *dir = shm_dir();

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const char *const kv[] = { "dax.eviction", "none", "put_wait_ms", "0", NULL };
		bool pin = rows[r].pin;
		struct kvt_key k;
		struct kvt_lease w;
		struct kvt_stats st;
		struct kvt *kvt;
		char path[256];
		uint64_t slots;
		int res[2];

		snprintf(path, sizeof(path), "%s/none-%s.img", dir, rows[r].name);
		kvt = open_dax(path, 0, arena_bytes(8), kv);
		slots = stats_of(kvt).dax_slots;
		put_all(kvt, 0, slots);
		for (uint64_t id = 0; pin && id < slots; id += 2) {
			k = key_of(id);
			CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_PIN), 1);
		}
		CHECK_EQ(kvt_flush(kvt), 0);
		st = stats_of(kvt);
		CHECK_EQ(st.dax_free_slots, 0);
		/* per-key -ENOSPC; the batch goes on; nothing stored is touched */
		CHECK_EQ(put_ids(kvt, slots, 2, res, NULL, NULL), 0);
		CHECK_EQ(res[0], -ENOSPC);
		CHECK_EQ(res[1], -ENOSPC);
		CHECK_EQ(kvt_reserve(kvt, &w), -ENOSPC);
		CHECK_EQ(kvt_flush(kvt), 0);
		st = stats_of(kvt);
		CHECK_EQ(st.dax_evictions, 0);
		CHECK_EQ(st.dax_entries, slots);
		CHECK_EQ(st.put_errors, 2);
		CHECK_EQ(count_present(kvt, 0, slots), slots);
		CHECK_EQ(get_id(kvt, slots), 0);
		k = key_of(slots);
		CHECK_EQ(kvt_contains(kvt, &k, 1, 0), 0);
		/* a removal makes room again */
		k = key_of(1);
		CHECK_EQ(kvt_remove(kvt, &k, 1, 0, NULL), 1);
		CHECK_EQ(kvt_flush(kvt), 0);
		CHECK_EQ(put_one(kvt, slots), 0);
		CHECK_EQ(get_id(kvt, slots), 1);
		kvt_close(kvt);
	}
}

TEST(tiered_async_write_to_full_dax_stays_in_l1_without_callback)
{
	const char *dir = shm_dir();
	const char *const kv[] = { "dax.eviction", "none", "dax.async_put", "true", NULL };
	static struct put_count pc;
	struct kvt_stats st;
	struct kvt *kvt;
	char path[256];
	uint64_t slots;
	int res;

	snprintf(path, sizeof(path), "%s/none-async.img", dir);
	kvt = open_dax(path, 64, arena_bytes(8), kv);
	slots = stats_of(kvt).dax_slots;
	CHECK(slots < 64);
	memset(&pc, 0, sizeof(pc));
	pc.kvt = kvt;
	pc.batch = 1;
	for (uint64_t id = 0; id < slots; id++)
		CHECK_EQ(put_ids(kvt, id, 1, &res, count_put, &pc), 1);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(atomic_load(&pc.fired), slots);
	/* L1 takes it; the DAX write fails later: counted, no callback */
	CHECK_EQ(put_ids(kvt, slots, 1, &res, count_put, &pc), 1);
	CHECK_EQ(res, 0);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK_EQ(atomic_load(&pc.fired), slots);
	CHECK_EQ(st.dax_write_errors, 1);
	CHECK_EQ(st.dax_evictions, 0);
	CHECK_EQ(st.dax_entries, slots);
	CHECK_EQ(atomic_load(&pc.before_dax), 0);
	CHECK_EQ(atomic_load(&pc.wrong_index), 0);
	CHECK_EQ(atomic_load(&pc.per_key[slots]), 0);
	CHECK_EQ(count_present(kvt, 0, slots + 1), slots + 1);
	kvt_close(kvt);
}

TEST(eviction_clock_skips_pinned_and_borrowed)
{
	const char *dir = shm_dir();
	struct kvt_key pinned = key_of(1), borrowed = key_of(2);
	struct kvt_lease lease;
	struct kvt_stats st;
	struct kvt *kvt;
	char path[256];
	uint64_t slots;

	snprintf(path, sizeof(path), "%s/clock.img", dir);
	kvt = open_dax(path, 0, arena_bytes(8), NULL);
	slots = stats_of(kvt).dax_slots;
	CHECK_EQ(put_one(kvt, 1), 0);
	CHECK_EQ(put_one(kvt, 2), 0);
	CHECK_EQ(kvt_contains(kvt, &pinned, 1, KVT_PIN), 1);
	CHECK_EQ(kvt_borrow(kvt, &borrowed, &lease), 0);
	for (uint64_t id = 100; id < 100 + 10 * slots; id++)
		CHECK_EQ(put_one(kvt, id), 0);
	CHECK_EQ(kvt_flush(kvt), 0);
	st = stats_of(kvt);
	CHECK(st.dax_evictions >= 8 * slots);
	CHECK_EQ(kvt_contains(kvt, &pinned, 1, 0), 1);
	CHECK_EQ(get_id(kvt, 1), 1);
	CHECK_EQ(get_id(kvt, 2), 1);
	CHECK(bytes_ok(lease.data, lease.len, 2));
	CHECK_EQ(get_id(kvt, 100 + 10 * slots - 1), 1); /* the newest survives */
	CHECK_EQ(kvt_release(kvt, &lease), 0);
	CHECK_EQ(kvt_unpin(kvt, &pinned, 1), 1);
	kvt_close(kvt);
}

/* ---- tensor-parallel ranks -------------------------------------------- */

TEST(tp_ranks_partition_one_device)
{
	const char *dir = shm_dir();
	const char *const kv0[] = { "world_size", "2", "worker_id", "0", NULL };
	const char *const kv1[] = { "world_size", "2", "worker_id", "1", NULL };
	struct kvt *r0, *r1;
	struct kvt_stats s0, s1;
	char path[256];

	snprintf(path, sizeof(path), "%s/tp.img", dir);
	r0 = open_dax(path, 0, DAX_BYTES, kv0);
	r1 = open_dax(path, 0, DAX_BYTES, kv1);
	s0 = stats_of(r0);
	s1 = stats_of(r1);
	CHECK_EQ(s0.dax_slots, s1.dax_slots);
	/* each rank has its own half, less its own header table */
	CHECK(s0.dax_slots < DAX_BYTES / 2 / CHUNK);
	CHECK(s0.dax_slots >= DAX_BYTES / 2 / (CHUNK + 64) - 2);
	put_all(r0, 0, 50);
	put_all(r1, 1000, 60);
	CHECK_EQ(count_present(r0, 1000, 60), 0);
	CHECK_EQ(count_present(r1, 0, 50), 0);
	kvt_close(r0);
	kvt_close(r1);

	/* reopened the other way round, each recovers exactly its own */
	r1 = open_dax(path, 0, DAX_BYTES, kv1);
	r0 = open_dax(path, 0, DAX_BYTES, kv0);
	s0 = stats_of(r0);
	s1 = stats_of(r1);
	CHECK_EQ(s0.dax_recovered, 50);
	CHECK_EQ(s1.dax_recovered, 60);
	CHECK_EQ(s0.dax_torn + s1.dax_torn, 0);
	CHECK_EQ(count_present(r0, 0, 50), 50);
	CHECK_EQ(count_present(r1, 1000, 60), 60);
	CHECK_EQ(count_present(r0, 1000, 60), 0);
	CHECK_EQ(count_present(r1, 0, 50), 0);
	kvt_close(r0);
	kvt_close(r1);
}

/* ---- refused configs -------------------------------------------------- */

enum make { MAKE_NONE, MAKE_FILE, MAKE_LINK };

struct bad_row {
	const char *name;
	const char *path;	/* "%s" is the test directory */
	unsigned int l1;	/* 0: primary */
	const char *kv[7];
	enum make make;		/* what to create at @path first */
	mode_t mode;		/* MAKE_FILE */
	const char *link_to;	/* MAKE_LINK; "%s" is the test directory */
	int check_ret;		/* kvt_config_check() */
	int open_ret;		/* kvt_open(), when the check passes */
	const char *msg;	/* in the check's error, or in what open logs */
};

static const struct bad_row bad_rows[] = {
	{ "primary-with-local-cpu", "%s/a.img", 8, { "dax.mode", "primary" }, MAKE_NONE, 0,
	  NULL, -EINVAL, 0, "dax.mode: \"primary\"" },
	{ "tiered-without-local-cpu", "%s/a.img", 0, { "dax.mode", "tiered" }, MAKE_NONE, 0,
	  NULL, -EINVAL, 0, "dax.mode: \"tiered\"" },
	{ "max-dax-size-zero", "%s/a.img", 8, { "dax.max_dax_size", "0" }, MAKE_NONE, 0, NULL,
	  -EINVAL, 0, "dax.max_dax_size" },
	/* no L1 is LMCache's primary config only: tiered keeps its hot chunks there */
	{ "tiered-with-no-l1", "%s/a.img", 8, { "max_local_cpu_size", "0" }, MAKE_NONE, 0, NULL,
	  -EINVAL, 0, "max_local_cpu_size (0 GB) holds fewer than 2 chunks" },
	{ "ranks-sharing-one-arena", "%s/a.img", 0,
	  { "world_size", "2", "dax.partition", "none" }, MAKE_NONE, 0, NULL, -EINVAL, 0,
	  "dax.partition" },
	/* refused by the check too: `kvtier config check` catches it */
	{ "relative-path", "kvt-dax-relative.img", 8, { NULL }, MAKE_NONE, 0, NULL, -EINVAL, 0,
	  "not an absolute path" },
	{ "directory", "%s", 8, { NULL }, MAKE_NONE, 0, NULL, 0, -EINVAL, "is a directory" },
	{ "file-without-allow-file-backing", "%s/b.img", 8,
	  { "dax.allow_file_backing", "false" }, MAKE_FILE, 0600, NULL, 0, -EINVAL,
	  "dax.allow_file_backing" },
	{ "missing-without-allow-file-backing", "%s/c.img", 8,
	  { "dax.allow_file_backing", "false" }, MAKE_NONE, 0, NULL, 0, -ENOENT,
	  "no such device" },
	{ "missing-dax-device", "/dev/dax999.0", 8, { "dax.allow_file_backing", "false" },
	  MAKE_NONE, 0, NULL, 0, -ENOENT, "no such device" },
	{ "char-device-not-dax", "/dev/null", 8, { NULL }, MAKE_NONE, 0, NULL, 0, -EINVAL,
	  "not a Device-DAX device" },
	{ "world-writable-file", "%s/d.img", 8, { NULL }, MAKE_FILE, 0666, NULL, 0, -EINVAL,
	  "world-writable" },
	{ "dangling-symlink", "%s/e.img", 8, { NULL }, MAKE_LINK, 0, "%s/nowhere.img", 0,
	  -ENOENT, "symlink target does not exist" },
	{ "symlink-to-char-device", "%s/f.img", 8, { NULL }, MAKE_LINK, 0, "/dev/null", 0,
	  -EINVAL, "not a DAX device" },
	{ "smaller-than-a-page", "%s/g.img", 8, { "dax.max_dax_size", "9.3132257461547852e-07" },
	  MAKE_NONE, 0, NULL, 0, -ENOSPC, "alignment unit" },
	{ "rank-partition-below-a-page", "%s/h.img", 0,
	  { "world_size", "2", "worker_id", "1", "dax.max_dax_size", "3.814697265625e-06" },
	  MAKE_NONE, 0, NULL, 0, -ENOSPC, "alignment unit" },
	/* pre-created, so this row checks the refusal of the geometry alone */
	{ "too-small-for-one-slot", "%s/i.img", 8, { "dax.max_dax_size", "7.62939453125e-06" },
	  MAKE_FILE, 0600, NULL, 0, -ENOSPC, "holds no" },
};

TEST(bad_dax_configs_refused_without_leaks)
{
	const char *dir = shm_dir();
	struct census before = take_census(dir);

	for (size_t r = 0; r < sizeof(bad_rows) / sizeof(bad_rows[0]); r++) {
		const struct bad_row *row = &bad_rows[r];
		char path[256], target[256], err[512], msg[2048];
		struct kvt_config *cfg;
		struct kvt *kvt = NULL;
		bool existed;
		int ret, fd;

		snprintf(path, sizeof(path), row->path, dir);
		if (row->make == MAKE_FILE) {
			fd = open(path, O_CREAT | O_EXCL | O_WRONLY, row->mode);
			CHECK(fd >= 0);
			CHECK_EQ(fchmod(fd, row->mode), 0); /* past the umask */
			close(fd);
		} else if (row->make == MAKE_LINK) {
			snprintf(target, sizeof(target), row->link_to, dir);
			CHECK_EQ(symlink(target, path), 0);
		}
		existed = path_exists(path);
		cfg = dax_config(path, row->l1, arena_bytes(8), row->kv);
		err[0] = '\0';
		ret = kvt_config_check(cfg, err, sizeof(err));
		if (ret != row->check_ret)
			harness_fail(__FILE__, __LINE__, "%s: kvt_config_check %d, want %d (%s)",
				     row->name, ret, row->check_ret, err);
		if (ret) {
			CHECK(strstr(err, row->msg));
			ret = open_captured(cfg, &kvt, msg, sizeof(msg));
			CHECK_EQ(ret, row->check_ret);
		} else {
			ret = open_captured(cfg, &kvt, msg, sizeof(msg));
			if (ret != row->open_ret || !strstr(msg, row->msg))
				harness_fail(__FILE__, __LINE__,
					     "%s: kvt_open %d, want %d; logged \"%s\"", row->name,
					     ret, row->open_ret, msg);
		}
		CHECK(kvt == NULL);
		/* no file appears where none was */
		if (!existed && path_exists(path))
			harness_fail(__FILE__, __LINE__, "%s: %s was left behind", row->name,
				     path);
		kvt_config_free(cfg);
		check_census(before);
	}
}

/* ---- what a device holds before kvtier formats it --------------------- */

/* A 0600 file at @path of @len bytes: @head at offset 0, then @fill. */
static void make_file(const char *path, uint64_t len, const void *head, size_t head_len,
		      void (*filler)(uint8_t *buf, size_t len, uint64_t off))
{
	static uint8_t buf[1 << 16];
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)len), 0);
	for (uint64_t off = 0; filler && off < len; off += sizeof(buf)) {
		size_t n = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);

		filler(buf, n, off);
		CHECK_EQ(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
	if (head_len)
		CHECK_EQ(pwrite(fd, head, head_len, 0), (ssize_t)head_len);
	close(fd);
}

static void fill_random(uint8_t *buf, size_t len, uint64_t off)
{
	fill(buf, len, 0x5eed0000 + off);
}

/* The whole file, malloc'ed; its size in @len. */
static uint8_t *slurp(const char *path, uint64_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	CHECK(fd >= 0);
	CHECK_EQ(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	CHECK(p != NULL);
	CHECK_EQ(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (uint64_t)st.st_size;
	return p;
}

/* kvt_open() of @cfg that must fail with @want; the file is unchanged, byte for byte. */
static void open_refused(const char *path, const struct kvt_config *cfg, int want, char *err,
			 size_t errlen)
{
	uint64_t before_len, after_len;
	uint8_t *before = slurp(path, &before_len), *after;
	struct kvt *kvt = NULL;
	int ret;

	err[0] = '\0';
	ret = kvt_open(cfg, &kvt, err, errlen);
	if (ret != want)
		harness_fail(__FILE__, __LINE__, "kvt_open: %d (%s), want %d: \"%s\"", ret,
			     kvt_strerror(ret), want, err);
	CHECK(kvt == NULL);
	after = slurp(path, &after_len);
	CHECK_EQ(after_len, before_len);
	CHECK(memcmp(before, after, (size_t)before_len) == 0);
	free(before);
	free(after);
}

static const char USER_DATA[] = "IMPORTANT USER DATA: quarterly figures, do not delete\n";

TEST(file_of_user_text_refused_and_left_intact)
{
	const char *dir = shm_dir();
	struct kvt_config *cfg;
	char path[256], err[512];

	/* smaller than dax.max_dax_size: not even extended */
	snprintf(path, sizeof(path), "%s/user.txt", dir);
	make_file(path, 1 << 20, USER_DATA, sizeof(USER_DATA) - 1, NULL);
	cfg = dax_config(path, 32, DAX_BYTES, NULL);
	open_refused(path, cfg, -EEXIST, err, sizeof(err));
	CHECK_HAS(err, "dax.device_path");
	CHECK_HAS(err, path);
	CHECK_HAS(err, "holds data that is not kvtier's");
	CHECK_HAS(err, "first bytes 49 4d 50 4f 52 54 41 4e 54");
	CHECK_HAS(err, "dax.reinit: true");
	kvt_config_free(cfg);

	/* as large as the tier: refused just the same */
	snprintf(path, sizeof(path), "%s/user-full.txt", dir);
	make_file(path, DAX_BYTES, USER_DATA, sizeof(USER_DATA) - 1, NULL);
	cfg = dax_config(path, 32, DAX_BYTES, NULL);
	open_refused(path, cfg, -EEXIST, err, sizeof(err));
	CHECK_HAS(err, "holds data that is not kvtier's");
	kvt_config_free(cfg);
}

TEST(file_of_random_bytes_refused_and_left_intact)
{
	const char *dir = shm_dir();
	struct kvt_config *cfg;
	char path[256], err[512];

	snprintf(path, sizeof(path), "%s/random.bin", dir);
	make_file(path, DAX_BYTES, NULL, 0, fill_random);
	cfg = dax_config(path, 32, DAX_BYTES, NULL);
	open_refused(path, cfg, -EEXIST, err, sizeof(err));
	CHECK_HAS(err, "holds data that is not kvtier's");
	CHECK_HAS(err, "dax.reinit: true");
	kvt_config_free(cfg);
}

/* Zeros at the start, data further in: found by the sampling. */
TEST(data_past_zeros_refused)
{
	static const uint64_t offs[] = { 4095, 3ull << 20, (5ull << 20) + 7, DAX_BYTES - 1 };
	const char *dir = shm_dir();

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		struct kvt_config *cfg;
		char path[256], err[512];
		int fd;

		snprintf(path, sizeof(path), "%s/late%zu.bin", dir, i);
		make_file(path, DAX_BYTES, NULL, 0, NULL);
		fd = open(path, O_WRONLY);
		CHECK(fd >= 0);
		CHECK_EQ(pwrite(fd, "\x01", 1, (off_t)offs[i]), 1);
		close(fd);
		cfg = dax_config(path, 32, DAX_BYTES, NULL);
		open_refused(path, cfg, -EEXIST, err, sizeof(err));
		CHECK_HAS(err, "not all zeros");
		kvt_config_free(cfg);
	}
}

TEST(zero_file_formats_and_formatted_file_reopens)
{
	const char *dir = shm_dir();
	const char *const kv[] = { "dax.async_put", "false", NULL };
	struct kvt *kvt;
	char path[256];

	/* all zeros, as large as the tier and smaller (then extended) */
	for (int small = 0; small < 2; small++) {
		uint64_t len;

		snprintf(path, sizeof(path), "%s/zero%d.img", dir, small);
		make_file(path, small ? 64 << 10 : DAX_BYTES, NULL, 0, NULL);
		kvt = open_dax(path, 32, DAX_BYTES, kv);
		CHECK_EQ(put_one(kvt, 7), 0);
		CHECK_EQ(kvt_close(kvt), 0);
		free(slurp(path, &len));
		CHECK_EQ(len, DAX_BYTES);
		/* kvtier's own: reopened, the chunk recovered */
		kvt = open_dax(path, 32, DAX_BYTES, kv);
		CHECK_EQ(stats_of(kvt).dax_recovered, 1);
		CHECK_EQ(kvt_close(kvt), 0);
	}
}

TEST(reinit_formats_foreign_file)
{
	const char *dir = shm_dir();
	const char *const kv[] = { "dax.reinit", "true", NULL };
	struct kvt *kvt;
	char path[256];
	uint64_t len;

	snprintf(path, sizeof(path), "%s/user.txt", dir);
	make_file(path, 1 << 20, USER_DATA, sizeof(USER_DATA) - 1, NULL);
	kvt = open_dax(path, 32, DAX_BYTES, kv);
	CHECK_EQ(kvt_close(kvt), 0);
	free(slurp(path, &len));
	CHECK_EQ(len, DAX_BYTES);
	snprintf(path, sizeof(path), "%s/random.bin", dir);
	make_file(path, DAX_BYTES, NULL, 0, fill_random);
	kvt = open_dax(path, 32, DAX_BYTES, kv);
	CHECK_EQ(kvt_close(kvt), 0);
}

/* A formatted file cut to @len bytes. */
static void make_truncated(const char *path, uint64_t len)
{
	const char *const kv[] = { "dax.async_put", "false", NULL };
	struct kvt *kvt = open_dax(path, 32, DAX_BYTES, kv);

	CHECK_EQ(put_one(kvt, 3), 0);
	CHECK_EQ(kvt_close(kvt), 0);
	CHECK_EQ(truncate(path, (off_t)len), 0);
}

TEST(truncated_formatted_file_refused_not_extended)
{
	const char *dir = shm_dir();
	struct kvt_config *cfg;
	char path[256], err[512], want[128];

	snprintf(path, sizeof(path), "%s/cut.img", dir);
	make_truncated(path, DAX_BYTES / 2);
	cfg = dax_config(path, 32, DAX_BYTES, NULL);
	open_refused(path, cfg, -ENOSPC, err, sizeof(err));
	CHECK_HAS(err, path);
	snprintf(want, sizeof(want), "%llu bytes", (unsigned long long)DAX_BYTES / 2);
	CHECK_HAS(err, want);
	snprintf(want, sizeof(want), "%llu", (unsigned long long)DAX_BYTES);
	CHECK_HAS(err, want);
	kvt_config_free(cfg);
}

/* `kvtier inspect @path --json`: output in @out.  Return: the exit status. */
static int inspect_dev(const char *path, char *out, size_t len)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "%s inspect %s --json 2>&1", test_tool_path("kvtier"), path);
	return test_shell_run(cmd, out, len);
}

TEST(inspect_names_foreign_data_and_truncation)
{
	const char *dir = shm_dir();
	char path[256], out[8192], want[128];

	snprintf(path, sizeof(path), "%s/user.txt", dir);
	make_file(path, 1 << 20, USER_DATA, sizeof(USER_DATA) - 1, NULL);
	CHECK_EQ(inspect_dev(path, out, sizeof(out)), 1);
	CHECK_HAS(out, "not a kvtier device");
	CHECK_HAS(out, "(not all zeros)");
	CHECK_HAS(out, "49 4d 50 4f");
	CHECK_HAS(out, "\"status\":\"foreign\"");
	CHECK_HAS(out, "\"first_bytes\":\"49 4d 50 4f 52 54 41 4e");

	snprintf(path, sizeof(path), "%s/zero.img", dir);
	make_file(path, 1 << 20, NULL, 0, NULL);
	CHECK_EQ(inspect_dev(path, out, sizeof(out)), 1);
	CHECK_HAS(out, "not a kvtier device");
	CHECK_HAS(out, "all zeros");
	CHECK_HAS(out, "\"status\":\"zero\"");

	snprintf(path, sizeof(path), "%s/cut.img", dir);
	make_truncated(path, DAX_BYTES / 2);
	CHECK_EQ(inspect_dev(path, out, sizeof(out)), 1);
	CHECK_HAS(out, "truncated");
	snprintf(want, sizeof(want), "%llu bytes", (unsigned long long)DAX_BYTES / 2);
	CHECK_HAS(out, want);
	CHECK_HAS(out, "\"status\":\"truncated\"");
	snprintf(want, sizeof(want), "\"bytes\":%llu", (unsigned long long)DAX_BYTES / 2);
	CHECK_HAS(out, want);
	snprintf(want, sizeof(want), "\"recorded_bytes\":%llu", (unsigned long long)DAX_BYTES);
	CHECK_HAS(out, want);
}

/* ---- close ------------------------------------------------------------ */

#define CLOSE_KEYS 512

TEST(close_completes_queued_dax_writes)
{
	const char *dir = shm_dir();
	const char *const kv[] = { "dax.async_put", "true", NULL };
	int res[BATCH];
	uint64_t stored = 0;
	struct kvt_stats st;
	struct kvt *kvt;
	char path[256];

	snprintf(path, sizeof(path), "%s/close.img", dir);
	kvt = open_dax(path, 1024, DAX_BYTES, kv);
	for (uint64_t base = 0; base < CLOSE_KEYS; base += BATCH) {
		CHECK_EQ(put_ids(kvt, base, BATCH, res, NULL, NULL), BATCH);
		for (int i = 0; i < BATCH; i++)
			stored += res[i] == 0;
	}
	CHECK_EQ(stored, CLOSE_KEYS);
	CHECK_EQ(kvt_close(kvt), 0); /* no flush */

	kvt = open_dax(path, 32, DAX_BYTES, kv);
	st = stats_of(kvt);
	CHECK_EQ(st.dax_recovered, CLOSE_KEYS);
	CHECK_EQ(st.dax_torn, 0);
	CHECK_EQ(count_present(kvt, 0, CLOSE_KEYS), CLOSE_KEYS);
	kvt_close(kvt);
}
