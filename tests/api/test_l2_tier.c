/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: L1 over L2 adapters through the engine API — write-through
 * to every adapter with the callback after the last, gets and prefetches
 * served from L2 (first adapter that has the key), promotion into L1, the
 * prefix across tiers, removal everywhere, failed L2 stores, close waiting
 * for L2 writes, and the local_cpu / use_only_staging_buffer table (SPEC
 * 3.5) for blocking gets and async prefetch alike, including a full
 * staging area.  Real plugins (the example "mem" adapter, the test "gate"
 * adapter that holds stores until a file appears), real threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "l2/fschunk.h"
#include "kvtier/l2.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/plugins.h"

#define CHUNK 4096 /* chunk_size 16 x 1 layer x 2 (K,V) x 1 head x 64 dim x 2 bytes */
#define MAXN 64

static const char *const plugin_names[] = { "l2_mem", "gate", NULL };

struct opts {
	unsigned int slots;
	const char *local_cpu;          /* "true" / "false" */
	bool staging;                   /* use_only_staging_buffer */
	const char *adapters;
	const char *staging_wait_ms;
	const char *admit;              /* l2.admit_after_hits */
};

static struct kvt *open_tier(const struct opts *o)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	char gb[64];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	snprintf(gb, sizeof(gb), "%.12f", (double)o->slots * CHUNK / 1073741824.0 + 1e-12);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "max_local_cpu_size", gb);
	cfg_set(cfg, "put_wait_ms", "200");
	cfg_set(cfg, "local_cpu", o->local_cpu ? o->local_cpu : "true");
	if (o->staging)
		cfg_set(cfg, "use_only_staging_buffer", "true");
	if (o->staging_wait_ms)
		cfg_set(cfg, "staging_wait_ms", o->staging_wait_ms);
	if (o->admit)
		cfg_set(cfg, "l2.admit_after_hits", o->admit);
	cfg_set(cfg, "l2_plugin_dirs", test_plugin_dir(plugin_names));
	cfg_set(cfg, "l2_adapters", o->adapters);
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	return kvt;
}

static void fill(uint8_t *buf, size_t len, uint64_t id)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(id * 31 + i * 7 + 1);
}

static int same(const uint8_t *buf, size_t len, uint64_t id)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (uint8_t)(id * 31 + i * 7 + 1))
			return 0;
	return 1;
}

static _Atomic int callbacks;

static void count_cb(void *arg, const struct kvt_key *key, size_t index)
{
	atomic_fetch_add(&callbacks, 1);
}

/* Put chunk ids @ids (full chunks, or @len bytes). */
static ssize_t put_ids(struct kvt *kvt, const uint64_t *ids, size_t n, size_t len, int *res)
{
	static uint8_t bufs[MAXN][CHUNK];
	struct kvt_key keys[MAXN];
	const void *ptrs[MAXN];
	size_t lens[MAXN];

	CHECK(n <= MAXN);
	for (size_t i = 0; i < n; i++) {
		fill(bufs[i], len, ids[i]);
		keys[i] = key_of(ids[i]);
		ptrs[i] = bufs[i];
		lens[i] = len;
	}
	return kvt_put(kvt, keys, ptrs, lens, n, res, count_cb, NULL);
}

static ssize_t put_range(struct kvt *kvt, uint64_t first, size_t n)
{
	uint64_t ids[MAXN];

	for (size_t i = 0; i < n; i++)
		ids[i] = first + i;
	return put_ids(kvt, ids, n, CHUNK, NULL);
}

struct readback {
	uint8_t bufs[MAXN][CHUNK];
	void *ptrs[MAXN];
	size_t buf_lens[MAXN], out_lens[MAXN];
	struct kvt_key keys[MAXN];
};

static void rb_init(struct readback *rb, uint64_t first, size_t n)
{
	memset(rb, 0, sizeof(*rb));
	for (size_t i = 0; i < n; i++) {
		rb->ptrs[i] = rb->bufs[i];
		rb->buf_lens[i] = CHUNK;
		rb->keys[i] = key_of(first + i);
	}
}

static ssize_t get_range(struct kvt *kvt, struct readback *rb, uint64_t first, size_t n)
{
	rb_init(rb, first, n);
	return kvt_get(kvt, rb->keys, n, rb->ptrs, rb->buf_lens, rb->out_lens);
}

struct prefetch_done {
	_Atomic int fired;
	ssize_t hits;
};

static void prefetch_cb(void *arg, uint64_t ticket, ssize_t hits)
{
	struct prefetch_done *d = arg;

	d->hits = hits;
	atomic_store(&d->fired, 1);
}

static ssize_t prefetch_range(struct kvt *kvt, struct readback *rb, uint64_t first, size_t n)
{
	struct prefetch_done d = { 0 };
	struct pollfd p = { .fd = kvt_event_fd(kvt), .events = POLLIN };
	uint64_t count;

	rb_init(rb, first, n);
	CHECK_EQ(kvt_prefetch(kvt, rb->keys, n, rb->ptrs, rb->buf_lens, rb->out_lens,
			      prefetch_cb, &d, NULL), 0);
	/* the callback runs before the event fd is bumped */
	CHECK_EQ(poll(&p, 1, 10000), 1);
	CHECK_EQ(read(p.fd, &count, sizeof(count)), (ssize_t)sizeof(count));
	CHECK_EQ(count, 1);
	CHECK(atomic_load(&d.fired));
	return d.hits;
}

static void check_range(const struct readback *rb, uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		CHECK_ROW(i, rb->out_lens[i] == CHUNK);
		CHECK_ROW(i, same(rb->bufs[i], CHUNK, first + i));
	}
}

static uint64_t l2_chunks(struct kvt *kvt, size_t i)
{
	struct kvt_l2_status st;

	CHECK_EQ(kvt_l2_report(kvt, i, NULL, &st), 0);
	return st.chunks;
}

TEST(write_through_reaches_every_adapter_before_the_callback)
{
	struct opts o = {
		.slots = 64,
		.adapters = "[{\"type\":\"mem\",\"max_size_mb\":4},{\"type\":\"mem\",\"max_size_mb\":4}]",
	};
	struct kvt *kvt = open_tier(&o);
	struct kvt_stats s;

	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(kvt, 0, 40), 40);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(atomic_load(&callbacks), 40);
	CHECK_EQ(l2_chunks(kvt, 0), 40);
	CHECK_EQ(l2_chunks(kvt, 1), 40);
	s = stats_of(kvt);
	CHECK_EQ(s.l2_bytes_in, 2ull * 40 * CHUNK);
	CHECK_EQ(s.l2_write_errors, 0);
	CHECK_EQ(s.borrows_active, 0);
	/* a duplicate put stores nothing anywhere and fires nothing */
	CHECK_EQ(put_range(kvt, 0, 4), 0);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(atomic_load(&callbacks), 40);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(gets_serve_l1_evictions_from_l2_and_promote_them)
{
	struct opts o = { .slots = 8, .adapters = "{\"type\":\"mem\",\"max_size_mb\":4}" };
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;
	struct kvt_stats s0, s1, s2;

	for (uint64_t base = 0; base < 32; base += 4)
		CHECK_EQ(put_range(kvt, base, 4), 4);
	CHECK_EQ(kvt_flush(kvt), 0);
	s0 = stats_of(kvt);
	CHECK(s0.l1_evictions > 0);
	CHECK(s0.l1_entries <= 8);
	CHECK_EQ(get_range(kvt, &rb, 0, 4), 4);
	check_range(&rb, 0, 4);
	s1 = stats_of(kvt);
	CHECK_EQ((s1.l1_hits - s0.l1_hits) + (s1.l2_hits - s0.l2_hits), 4);
	CHECK(s1.l2_hits - s0.l2_hits > 0);
	CHECK(s1.l2_promotions - s0.l2_promotions > 0);
	/* what was promoted now comes from L1 */
	CHECK_EQ(get_range(kvt, &rb, 0, 4), 4);
	check_range(&rb, 0, 4);
	s2 = stats_of(kvt);
	CHECK(s2.l1_hits - s1.l1_hits >= s1.l2_promotions - s0.l2_promotions);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(prefix_runs_across_tiers_and_get_keeps_holes)
{
	struct opts o = { .slots = 4, .adapters = "{\"type\":\"mem\",\"max_size_mb\":4}" };
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;
	struct kvt_key keys[10];
	uint64_t ids[] = { 9, 4, 5, 6, 7, 100, 101, 102, 103, 104, 105, 106, 107, 0, 1, 2, 3 };
	struct kvt_stats s0, s1;

	/* 8 is never stored; 4..7 and 9 are pushed out of the 4-slot L1 */
	CHECK_EQ(put_ids(kvt, ids, 17, CHUNK, NULL), 17);
	CHECK_EQ(kvt_flush(kvt), 0);
	for (int i = 0; i < 10; i++)
		keys[i] = key_of((uint64_t)i);
	CHECK_EQ(kvt_contains(kvt, keys, 10, 0), 8);
	s0 = stats_of(kvt);
	CHECK_EQ(get_range(kvt, &rb, 0, 10), 9);
	s1 = stats_of(kvt);
	CHECK_EQ((s1.l1_hits - s0.l1_hits) + (s1.l2_hits - s0.l2_hits), 9);
	CHECK(s1.l2_hits - s0.l2_hits >= 4);
	check_range(&rb, 0, 8);
	CHECK_EQ(rb.out_lens[8], 0);
	CHECK_EQ(rb.out_lens[9], CHUNK);
	CHECK(same(rb.bufs[9], CHUNK, 9));

	CHECK_EQ(prefetch_range(kvt, &rb, 0, 10), 8);
	check_range(&rb, 0, 8);
	CHECK_EQ(rb.out_lens[8], 0);
	CHECK_EQ(rb.out_lens[9], 0);    /* past the prefix: not reported */
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(each_key_comes_from_the_first_adapter_that_has_it)
{
	/* the first adapter holds ~12 chunks and drops the oldest; the second
	 * holds them all, so old keys come from the second */
	struct opts o = {
		.slots = 4,
		.adapters = "[{\"type\":\"mem\",\"max_size_mb\":0.05},{\"type\":\"mem\",\"max_size_mb\":4}]",
	};
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;

	for (uint64_t base = 0; base < 40; base += 8)
		CHECK_EQ(put_range(kvt, base, 8), 8);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK(l2_chunks(kvt, 0) <= 12);
	CHECK_EQ(l2_chunks(kvt, 1), 40);
	CHECK_EQ(get_range(kvt, &rb, 0, 40), 40);
	check_range(&rb, 0, 40);
	CHECK_EQ(prefetch_range(kvt, &rb, 0, 40), 40);
	check_range(&rb, 0, 40);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(remove_deletes_the_l2_copies_too)
{
	struct opts o = { .slots = 16, .adapters = "{\"type\":\"mem\",\"max_size_mb\":4}" };
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;
	int res[4];

	CHECK_EQ(put_range(kvt, 0, 4), 4);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(l2_chunks(kvt, 0), 4);
	rb_init(&rb, 0, 4);
	CHECK_EQ(kvt_remove(kvt, rb.keys, 4, 0, res), 4);
	CHECK_EQ(res[0], 0);
	CHECK_EQ(l2_chunks(kvt, 0), 0);
	CHECK_EQ(get_range(kvt, &rb, 0, 4), 0);
	CHECK_EQ(kvt_remove(kvt, rb.keys, 1, 0, res), 0);
	CHECK_EQ(res[0], -ENOENT);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(a_failed_l2_store_fires_no_callback_and_keeps_l1)
{
	/* capacity below one chunk: the adapter refuses every store */
	struct opts o = { .slots = 16, .adapters = "{\"type\":\"mem\",\"max_size_mb\":0.001}" };
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;
	struct kvt_stats s;

	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(kvt, 0, 6), 6);
	CHECK_EQ(kvt_flush(kvt), 0);
	s = stats_of(kvt);
	CHECK_EQ(s.l2_write_errors, 6);
	CHECK_EQ(atomic_load(&callbacks), 0);
	CHECK_EQ(s.borrows_active, 0);
	CHECK_EQ(get_range(kvt, &rb, 0, 6), 6);
	check_range(&rb, 0, 6);
	CHECK_EQ(kvt_close(kvt), 0);
}

/*
 * The SPEC 3.5 table, one row per config, each checked through a blocking
 * get and an async prefetch:
 *   local_cpu true:  L1 consulted first, puts in L1 and L2, L2 hits promoted
 *                    into L1, the L1 copy stays;
 *   local_cpu false (with or without use_only_staging_buffer): L1 only
 *                    stages: nothing linked, never consulted, never
 *                    promoted into, each staging buffer freed once its
 *                    write is done (callback first).
 */
static void staging_row(const char *local_cpu, bool staging)
{
	struct opts o = {
		.slots = 8, .local_cpu = local_cpu, .staging = staging,
		.adapters = "{\"type\":\"mem\",\"max_size_mb\":4}",
	};
	bool cache = !strcmp(local_cpu, "true");
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;
	struct kvt_stats s0, s1, s2;

	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(kvt, 0, 6), 6);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(atomic_load(&callbacks), 6);
	s0 = stats_of(kvt);
	CHECK_EQ(s0.staging_inflight, 0);
	CHECK_EQ(s0.l1_entries, cache ? 6 : 0);
	CHECK_EQ(s0.l1_free_slots, cache ? 2 : 8);
	CHECK_EQ(l2_chunks(kvt, 0), 6);

	CHECK_EQ(get_range(kvt, &rb, 0, 6), 6);
	check_range(&rb, 0, 6);
	s1 = stats_of(kvt);
	CHECK_EQ(s1.l1_hits - s0.l1_hits, cache ? 6 : 0);
	CHECK_EQ(s1.l2_hits - s0.l2_hits, cache ? 0 : 6);
	CHECK_EQ(s1.l2_promotions, 0);

	CHECK_EQ(prefetch_range(kvt, &rb, 0, 6), 6);
	check_range(&rb, 0, 6);
	s2 = stats_of(kvt);
	CHECK_EQ(s2.l1_hits - s1.l1_hits, cache ? 6 : 0);
	CHECK_EQ(s2.l2_hits - s1.l2_hits, cache ? 0 : 6);
	CHECK_EQ(s2.l2_promotions, 0);
	CHECK_EQ(s2.l1_entries, cache ? 6 : 0);
	CHECK_EQ(s2.l1_free_slots, cache ? 2 : 8);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(staging_table_local_cpu_true)
{
	staging_row("true", false);
}

TEST(staging_table_local_cpu_false)
{
	staging_row("false", false);
}

TEST(staging_table_use_only_staging_buffer)
{
	staging_row("false", true);
}

TEST(staging_hits_are_never_promoted_even_when_l1_has_room)
{
	struct opts o = {
		.slots = 64, .local_cpu = "false", .staging = true,
		.adapters = "{\"type\":\"mem\",\"max_size_mb\":4}",
	};
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;
	struct kvt_key keys[4];

	CHECK_EQ(put_range(kvt, 0, 4), 4);
	CHECK_EQ(kvt_flush(kvt), 0);
	for (int round = 0; round < 3; round++) {
		CHECK_EQ(get_range(kvt, &rb, 0, 4), 4);
		CHECK_EQ(prefetch_range(kvt, &rb, 0, 4), 4);
	}
	rb_init(&rb, 0, 4);
	memcpy(keys, rb.keys, sizeof(keys));
	CHECK_EQ(kvt_contains(kvt, keys, 4, 0), 4);
	CHECK_EQ(stats_of(kvt).l2_hits, 24);
	CHECK_EQ(stats_of(kvt).l1_entries, 0);
	CHECK_EQ(stats_of(kvt).l2_promotions, 0);
	CHECK_EQ(kvt_close(kvt), 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *gate_adapter(char *buf, size_t len, char *release, size_t rlen)
{
	snprintf(release, rlen, "%s/release", harness_tmpdir(0));
	snprintf(buf, len, "{\"type\":\"gate\",\"release_file\":\"%s\"}", release);
	return buf;
}

static void open_gate(const char *release)
{
	int fd = open(release, O_CREAT | O_WRONLY, 0600);

	CHECK(fd >= 0);
	close(fd);
}

TEST(full_staging_area_waits_staging_wait_ms_then_fails_clearly)
{
	char json[512], release[256];
	struct opts o = {
		.slots = 2, .local_cpu = "false", .staging = true, .staging_wait_ms = "150",
	};
	struct kvt *kvt;
	uint64_t t0, id = 7;
	int res[1];

	o.adapters = gate_adapter(json, sizeof(json), release, sizeof(release));
	kvt = open_tier(&o);
	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(kvt, 0, 2), 2);
	CHECK_EQ(stats_of(kvt).staging_inflight, 2);
	t0 = now_ms();
	CHECK_EQ(put_ids(kvt, &id, 1, CHUNK, res), 0);
	CHECK(now_ms() - t0 >= 140);
	CHECK_EQ(res[0], -ETIMEDOUT);
	CHECK_EQ(stats_of(kvt).staging_timeouts, 1);
	CHECK_EQ(atomic_load(&callbacks), 0);       /* nothing durable yet */
	open_gate(release);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(atomic_load(&callbacks), 2);
	CHECK_EQ(stats_of(kvt).staging_inflight, 0);
	CHECK_EQ(put_ids(kvt, &id, 1, CHUNK, res), 1);
	CHECK_EQ(res[0], 0);
	CHECK_EQ(kvt_close(kvt), 0);
	CHECK_EQ(atomic_load(&callbacks), 3);
}

struct opener {
	char path[256];
	unsigned int delay_ms;
};

static void *open_later(void *arg)
{
	struct opener *op = arg;
	struct timespec ts = { op->delay_ms / 1000, (long)(op->delay_ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
	open_gate(op->path);
	return NULL;
}

TEST(close_waits_for_l2_writes_in_flight)
{
	char json[512];
	struct opener op = { .delay_ms = 200 };
	struct opts o = { .slots = 16 };
	struct kvt *kvt;
	pthread_t t;
	uint64_t t0;

	o.adapters = gate_adapter(json, sizeof(json), op.path, sizeof(op.path));
	kvt = open_tier(&o);
	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(kvt, 0, 4), 4);
	CHECK_EQ(atomic_load(&callbacks), 0);
	CHECK_EQ(pthread_create(&t, NULL, open_later, &op), 0);
	t0 = now_ms();
	CHECK_EQ(kvt_close(kvt), 0);
	CHECK(now_ms() - t0 >= 150);
	CHECK_EQ(atomic_load(&callbacks), 4);
	pthread_join(t, NULL);
}

TEST(staging_mode_needs_an_adapter_no_dax_and_no_read_admission)
{
	struct kvt_config *cfg;
	char err[256];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_set(cfg, "local_cpu", "false");
	cfg_set(cfg, "use_only_staging_buffer", "true");
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "l2_adapters is empty");
	/* a built-in type: without l2_plugin_dirs the check refuses any other
	 * (nothing is made at base_path by a check) */
	cfg_set(cfg, "l2_adapters", "{\"type\":\"fs\",\"base_path\":\"/tmp/kvt-staging-check\"}");
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), 0);
	cfg_set(cfg, "l2.admit_after_hits", "3");
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "l2.admit_after_hits: \"3\": staging mode");
	cfg_set(cfg, "l2.admit_after_hits", "0");
	cfg_set(cfg, "max_local_cpu_size", "0.000001");
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "staging area holds no chunk");
	kvt_config_free(cfg);
}

static void borrow_once(struct kvt *kvt, uint64_t id)
{
	struct kvt_key key = key_of(id);
	struct kvt_lease lease;

	CHECK_EQ(kvt_borrow(kvt, &key, &lease), 0);
	CHECK(same(lease.data, CHUNK, id));
	CHECK_EQ(kvt_release(kvt, &lease), 0);
}

TEST(admit_after_hits_writes_a_chunk_to_l2_on_its_nth_read)
{
	struct opts o = { .slots = 64, .adapters = "{\"type\":\"mem\",\"max_size_mb\":4}",
			  .admit = "2" };
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;

	/* the put does not wait for L2: its callbacks fire at once */
	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(kvt, 0, 8), 8);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(atomic_load(&callbacks), 8);
	CHECK_EQ(l2_chunks(kvt, 0), 0);
	CHECK_EQ(get_range(kvt, &rb, 0, 4), 4);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(l2_chunks(kvt, 0), 0);
	/* the second read of each admits it: get, borrow and prefetch all count */
	CHECK_EQ(get_range(kvt, &rb, 0, 4), 4);
	check_range(&rb, 0, 4);
	borrow_once(kvt, 4);
	borrow_once(kvt, 4);
	CHECK_EQ(prefetch_range(kvt, &rb, 5, 3), 3);
	CHECK_EQ(prefetch_range(kvt, &rb, 5, 3), 3);
	check_range(&rb, 5, 3);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(l2_chunks(kvt, 0), 8);
	CHECK_EQ(stats_of(kvt).l2_admissions, 8);
	CHECK_EQ(stats_of(kvt).l2_bytes_in, 8ull * CHUNK);
	/* once only */
	CHECK_EQ(get_range(kvt, &rb, 0, 8), 8);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(stats_of(kvt).l2_admissions, 8);
	CHECK_EQ(stats_of(kvt).borrows_active, 0);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(chunks_promoted_from_l2_are_not_admitted_again)
{
	struct opts o = { .slots = 8, .adapters = "{\"type\":\"mem\",\"max_size_mb\":4}",
			  .admit = "1" };
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;
	struct kvt_stats s0, s1;

	CHECK_EQ(put_range(kvt, 0, 4), 4);
	CHECK_EQ(get_range(kvt, &rb, 0, 4), 4);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(l2_chunks(kvt, 0), 4);
	/* never read, so never in L2: what L1 evicts of these is gone */
	for (uint64_t base = 4; base < 32; base += 4)
		CHECK_EQ(put_range(kvt, base, 4), 4);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(l2_chunks(kvt, 0), 4);
	s0 = stats_of(kvt);
	CHECK_EQ(s0.l2_admissions, 4);
	CHECK_EQ(get_range(kvt, &rb, 0, 4), 4);
	check_range(&rb, 0, 4);
	CHECK_EQ(get_range(kvt, &rb, 0, 4), 4);
	check_range(&rb, 0, 4);
	CHECK_EQ(kvt_flush(kvt), 0);
	s1 = stats_of(kvt);
	CHECK(s1.l2_promotions - s0.l2_promotions > 0);
	CHECK(s1.l1_hits - s0.l1_hits > 0);
	CHECK_EQ(s1.l2_admissions, 4);
	CHECK_EQ(s1.l2_bytes_in, 4ull * CHUNK);
	CHECK_EQ(kvt_close(kvt), 0);
}

static void lease_row(const char *local_cpu, bool staging)
{
	struct opts o = {
		.slots = 4, .local_cpu = local_cpu, .staging = staging,
		.adapters = "{\"type\":\"mem\",\"max_size_mb\":4}",
	};
	struct kvt *kvt = open_tier(&o);
	static struct readback rb;
	struct kvt_lease l;
	struct kvt_key k = key_of(1);

	/* a released reservation gives its buffer back */
	CHECK_EQ(kvt_reserve(kvt, &l), 0);
	CHECK_EQ(kvt_release(kvt, &l), 0);
	for (uint64_t id = 0; id < 12; id++) {
		k = key_of(id);
		CHECK_EQ(kvt_reserve(kvt, &l), 0);
		fill(l.data, CHUNK, id);
		CHECK_EQ(kvt_commit(kvt, &l, &k, CHUNK), 0);
	}
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(l2_chunks(kvt, 0), 12);
	CHECK_EQ(stats_of(kvt).staging_inflight, 0);
	CHECK_EQ(stats_of(kvt).borrows_active, 0);
	CHECK_EQ(get_range(kvt, &rb, 0, 12), 12);
	check_range(&rb, 0, 12);
	if (strcmp(local_cpu, "true"))
		CHECK_EQ(stats_of(kvt).l1_free_slots, 4);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(zero_copy_commits_write_through_to_l2)
{
	lease_row("true", false);
}

TEST(zero_copy_commits_in_staging_mode_free_their_buffer)
{
	lease_row("false", true);
}

/* ---- the fs adapter behind L1 ------------------------------------------ */

static char fs_dir[256];

/* An fs adapter in a fresh fs_dir. */
static const char *fs_adapter(char *buf, size_t len, const char *extra)
{
	snprintf(fs_dir, sizeof(fs_dir), "%s/fs", harness_tmpdir(0));
	snprintf(buf, len, "{\"type\":\"fs\",\"base_path\":\"%s\"%s}", fs_dir,
		 extra ? extra : "");
	return buf;
}

TEST(fs_tier_restart_is_warm_from_disk)
{
	char json[512];
	struct opts o = { .slots = 16 };
	static struct readback rb;
	struct kvt *a, *b;
	struct kvt_stats s;

	o.adapters = fs_adapter(json, sizeof(json), NULL);
	a = open_tier(&o);
	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(a, 0, 10), 10);
	CHECK_EQ(kvt_flush(a), 0);
	CHECK_EQ(atomic_load(&callbacks), 10);
	CHECK_EQ(kvt_close(a), 0);

	/* a new instance with an empty L1 finds every chunk on disk */
	b = open_tier(&o);
	rb_init(&rb, 0, 11);
	CHECK_EQ(kvt_contains(b, rb.keys, 11, 0), 10);
	CHECK_EQ(get_range(b, &rb, 0, 10), 10);
	check_range(&rb, 0, 10);
	s = stats_of(b);
	CHECK_EQ(s.l2_hits, 10);
	CHECK_EQ(s.l1_hits, 0);
	CHECK_EQ(s.l2_bytes_out, 10ull * CHUNK);
	CHECK_EQ(s.l2_promotions, 10);
	CHECK_EQ(kvt_close(b), 0);
}

TEST(fs_tier_two_instances_share_one_directory)
{
	char json[512];
	struct opts o = { .slots = 16 };
	static struct readback rb;
	struct kvt *a, *b;

	o.adapters = fs_adapter(json, sizeof(json), NULL);
	a = open_tier(&o);
	b = open_tier(&o);
	CHECK_EQ(put_range(a, 0, 6), 6);
	CHECK_EQ(kvt_flush(a), 0);
	CHECK_EQ(prefetch_range(b, &rb, 0, 6), 6);
	check_range(&rb, 0, 6);
	CHECK_EQ(put_range(b, 6, 6), 6);
	CHECK_EQ(kvt_flush(b), 0);
	CHECK_EQ(get_range(a, &rb, 0, 12), 12);
	check_range(&rb, 0, 12);
	CHECK_EQ(stats_of(a).l2_hits, 6);
	CHECK_EQ(kvt_close(a), 0);
	CHECK_EQ(kvt_close(b), 0);
}

TEST(fs_tier_staging_mode_reads_every_chunk_from_disk)
{
	char json[512];
	struct opts o = { .slots = 2, .local_cpu = "false", .staging = true };
	static struct readback rb;
	struct kvt_l2_status st;
	struct kvt *kvt;

	o.adapters = fs_adapter(json, sizeof(json), ",\"durable\":true");
	kvt = open_tier(&o);
	atomic_store(&callbacks, 0);
	/* 20 chunks through 2 staging buffers: puts wait for writes to finish */
	for (uint64_t base = 0; base < 20; base += 2)
		CHECK_EQ(put_range(kvt, base, 2), 2);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(atomic_load(&callbacks), 20);
	CHECK_EQ(kvt_l2_report(kvt, 0, NULL, &st), 0);
	CHECK_EQ(st.chunks, 20);
	CHECK_EQ(get_range(kvt, &rb, 0, 20), 20);
	check_range(&rb, 0, 20);
	CHECK_EQ(prefetch_range(kvt, &rb, 0, 20), 20);
	check_range(&rb, 0, 20);
	CHECK_EQ(stats_of(kvt).l2_hits, 40);
	CHECK_EQ(stats_of(kvt).l2_promotions, 0);
	CHECK_EQ(stats_of(kvt).staging_timeouts, 0);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(fs_tier_partial_chunks_and_a_corrupted_file)
{
	char json[512], path[1024];
	struct opts o = { .slots = 16 };
	static struct readback rb;
	uint64_t ids[3] = { 0, 1, 2 };
	struct kvt_key k = key_of(1);
	struct kvt *a, *b;
	char name[40];
	int fd;

	o.adapters = fs_adapter(json, sizeof(json), NULL);
	a = open_tier(&o);
	CHECK_EQ(put_ids(a, ids, 3, 1000, NULL), 3);
	CHECK_EQ(kvt_flush(a), 0);
	CHECK_EQ(kvt_close(a), 0);
	/* flip one payload byte of chunk 1 behind the adapter's back */
	snprintf(name, sizeof(name), "%016llx%016llx", (unsigned long long)k.lo,
		 (unsigned long long)k.hi);
	snprintf(path, sizeof(path), "%s/%.2s/%s.kvc", fs_dir, name, name);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, "\xff", 1, 4096 + 500), 1);
	close(fd);

	b = open_tier(&o);
	CHECK_EQ(get_range(b, &rb, 0, 3), 2);
	CHECK_EQ(rb.out_lens[0], 1000);
	CHECK(same(rb.bufs[0], 1000, 0));
	CHECK_EQ(rb.out_lens[1], 0);            /* never served */
	CHECK_EQ(rb.out_lens[2], 1000);
	CHECK(same(rb.bufs[2], 1000, 2));
	CHECK(access(path, F_OK) != 0);         /* and removed */
	CHECK_EQ(kvt_close(b), 0);
}

TEST(a_put_waiting_for_l1_gets_a_slot_once_l2_writes_release_it)
{
	/* both L1 slots are held by writes to a gated L2; when the gate
	 * opens their borrows drop, and the waiting put must then evict one
	 * (nothing is freed meanwhile that would wake it) */
	char json[512];
	struct opener op = { .delay_ms = 60 };
	struct opts o = { .slots = 2 };
	struct kvt *kvt;
	uint64_t id = 9;
	pthread_t t;
	int res[1];

	o.adapters = gate_adapter(json, sizeof(json), op.path, sizeof(op.path));
	kvt = open_tier(&o);
	CHECK_EQ(put_range(kvt, 0, 2), 2);
	CHECK_EQ(pthread_create(&t, NULL, open_later, &op), 0);
	CHECK_EQ(put_ids(kvt, &id, 1, CHUNK, res), 1);
	CHECK_EQ(res[0], 0);
	pthread_join(t, NULL);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(a_key_removed_while_its_l2_write_runs_is_deleted_from_l2_again)
{
	char json[512], release[256];
	struct opts o = { .slots = 16 };
	static struct readback rb;
	struct kvt *kvt;
	int res[2];

	o.adapters = gate_adapter(json, sizeof(json), release, sizeof(release));
	kvt = open_tier(&o);
	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(kvt, 0, 3), 3);
	rb_init(&rb, 0, 2);
	CHECK_EQ(kvt_remove(kvt, rb.keys, 2, 0, res), 2);
	CHECK_EQ(res[0], 0);
	open_gate(release);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(stats_of(kvt).l2_write_dropped, 2);
	CHECK_EQ(stats_of(kvt).removes, 2);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(the_prefix_runs_back_into_l1_where_l2_misses)
{
	/* Y's key 0 is on disk only (X wrote it); its key 1 is in Y's L1 only
	 * (its file is gone): the prefix is both, through contains, prefetch
	 * and get alike */
	char json[512], name[FSCHUNK_NAME_LEN + 1], path[1024];
	struct opts o = { .slots = 16 };
	static struct readback rb;
	struct kvt_key k1 = key_of(1);
	struct kvt *x, *y;
	struct kvt_stats s;

	o.adapters = fs_adapter(json, sizeof(json), NULL);
	x = open_tier(&o);
	y = open_tier(&o);
	CHECK_EQ(put_range(x, 0, 1), 1);
	CHECK_EQ(kvt_flush(x), 0);
	CHECK_EQ(put_range(y, 1, 1), 1);
	CHECK_EQ(kvt_flush(y), 0);
	fschunk_name(&k1, name);
	snprintf(path, sizeof(path), "%s/%.2s/%s", fs_dir, name, name);
	CHECK_EQ(unlink(path), 0);

	rb_init(&rb, 0, 3);
	CHECK_EQ(kvt_contains(y, rb.keys, 3, 0), 2);
	CHECK_EQ(prefetch_range(y, &rb, 0, 3), 2);
	check_range(&rb, 0, 2);
	CHECK_EQ(rb.out_lens[2], 0);
	s = stats_of(y);
	CHECK_EQ(s.l2_hits, 1);
	CHECK_EQ(s.l1_hits, 1);
	CHECK_EQ(s.prefetch_hits, 2);
	CHECK_EQ(get_range(y, &rb, 0, 2), 2);
	check_range(&rb, 0, 2);
	CHECK_EQ(kvt_close(x), 0);
	CHECK_EQ(kvt_close(y), 0);
}

TEST(a_put_replaces_a_truncated_file_instead_of_trusting_it)
{
	char json[512], name[FSCHUNK_NAME_LEN + 1], path[1024];
	struct opts o = { .slots = 16 };
	static struct readback rb;
	struct kvt_key k = key_of(0);
	struct kvt *a, *b;

	o.adapters = fs_adapter(json, sizeof(json), NULL);
	a = open_tier(&o);
	CHECK_EQ(put_range(a, 0, 1), 1);
	CHECK_EQ(kvt_flush(a), 0);
	CHECK_EQ(kvt_close(a), 0);
	fschunk_name(&k, name);
	snprintf(path, sizeof(path), "%s/%.2s/%s", fs_dir, name, name);
	CHECK_EQ(truncate(path, 100), 0);

	/* a fresh instance puts the chunk again: the stub must not count as it */
	b = open_tier(&o);
	atomic_store(&callbacks, 0);
	CHECK_EQ(put_range(b, 0, 1), 1);
	CHECK_EQ(kvt_flush(b), 0);
	CHECK_EQ(atomic_load(&callbacks), 1);
	CHECK_EQ(kvt_close(b), 0);
	b = open_tier(&o);
	CHECK_EQ(get_range(b, &rb, 0, 1), 1);
	check_range(&rb, 0, 1);
	CHECK_EQ(stats_of(b).l2_hits, 1);
	CHECK_EQ(kvt_close(b), 0);
}

/*
 * kvt_contains(KVT_PIN) pins exactly the keys it counts: L2 copies cannot
 * be pinned, so the pinned prefix ends where L1/DAX end, and
 * kvt_unpin(keys, returned count) drops every pin it took and nothing
 * else (no underflow).  Without KVT_PIN the prefix still runs into L2.
 */
TEST(pinned_prefix_stops_at_l2_and_unpin_of_it_never_underflows)
{
	char json[512];
	struct opts o = { .slots = 16 };
	static struct readback rb;
	struct kvt_stats s;
	struct kvt *a, *b;
	int res[4];
	ssize_t hits;

	o.adapters = fs_adapter(json, sizeof(json), NULL);
	a = open_tier(&o);
	CHECK_EQ(put_range(a, 0, 4), 4);
	CHECK_EQ(kvt_flush(a), 0);
	CHECK_EQ(kvt_close(a), 0);

	/* a fresh instance: keys 0 and 1 promoted into L1, 2 and 3 on disk only */
	b = open_tier(&o);
	CHECK_EQ(get_range(b, &rb, 0, 2), 2);
	CHECK_EQ(stats_of(b).l1_entries, 2);
	rb_init(&rb, 0, 5);
	CHECK_EQ(kvt_contains(b, rb.keys, 5, 0), 4);
	hits = kvt_contains(b, rb.keys, 5, KVT_PIN);
	CHECK_EQ(hits, 2);
	s = stats_of(b);
	CHECK_EQ(s.pins, 2);
	CHECK_EQ(s.pinned_entries, 2);
	/* what it counted is pinned: a remove without KVT_FORCE is refused */
	CHECK_EQ(kvt_remove(b, rb.keys, (size_t)hits, 0, res), 0);
	CHECK_EQ(res[0], -EBUSY);
	CHECK_EQ(res[1], -EBUSY);
	CHECK_EQ(kvt_contains(b, rb.keys, 5, 0), 4);
	CHECK_EQ(kvt_unpin(b, rb.keys, (size_t)hits), hits);
	s = stats_of(b);
	CHECK_EQ(s.unpin_underflows, 0);
	CHECK_EQ(s.unpins, 2);
	CHECK_EQ(s.pinned_entries, 0);
	CHECK_EQ(kvt_remove(b, rb.keys, 2, 0, res), 2);
	CHECK_EQ(kvt_close(b), 0);
}
