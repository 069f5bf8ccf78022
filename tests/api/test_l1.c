/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the engine API over the L1 DRAM tier — put/get/contains/pin/
 * remove/prefetch/lease semantics, eviction, close while busy, and that
 * open/close leave no thread or fd behind.  Real threads, real mappings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "kvtier.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"

#define CHUNK 4096 /* chunk_size 16 x 1 layer x 2 (K,V) x 1 head x 64 dim x 2 bytes */

static struct kvt *open_l1(unsigned int slots, const char *extra_key, const char *extra_val)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	char err[256], gb[64];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	snprintf(gb, sizeof(gb), "%.12f", (double)slots * CHUNK / 1073741824.0 + 1e-12);
	CHECK_EQ(kvt_config_set(cfg, "chunk_size", "16", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_set(cfg, "kv_layers", "1", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_set(cfg, "kv_heads", "1", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_set(cfg, "head_dim", "64", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_set(cfg, "max_local_cpu_size", gb, err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_set(cfg, "put_wait_ms", "200", err, sizeof(err)), 0);
	if (extra_key && kvt_config_set(cfg, extra_key, extra_val, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, "%s", err);
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	CHECK_EQ(kvt_chunk_bytes(kvt), CHUNK);
	return kvt;
}

static void fill(uint8_t *buf, size_t len, uint64_t id)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(id * 31 + i * 7);
}

static int check_bytes(const uint8_t *buf, size_t len, uint64_t id)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (uint8_t)(id * 31 + i * 7))
			return 0;
	return 1;
}

static int put_one(struct kvt *kvt, uint64_t id, size_t len)
{
	static uint8_t buf[2 * CHUNK];
	struct kvt_key k = key_of(id);
	const void *b = buf;
	int res = 99;
	ssize_t r;

	fill(buf, len, id);
	r = kvt_put(kvt, &k, &b, &len, 1, &res, NULL, NULL);
	return r < 0 ? (int)r : res;
}

static int get_one(struct kvt *kvt, uint64_t id, size_t *len)
{
	static uint8_t buf[CHUNK];
	struct kvt_key k = key_of(id);
	void *b = buf;
	size_t cap = sizeof(buf);
	ssize_t r = kvt_get(kvt, &k, 1, &b, &cap, len);

	if (r == 1 && !check_bytes(buf, *len, id))
		harness_fail(__FILE__, __LINE__, "key %llu: wrong bytes", (unsigned long long)id);
	return (int)r;
}

static int fired;

static void count_cb(void *arg, const struct kvt_key *key, size_t index)
{
	(void)key;
	(void)index;
	(*(int *)arg)++;
}

TEST(put_get_roundtrip_and_partial_length)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	size_t len = 0;

	CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
	CHECK_EQ(put_one(kvt, 2, 1000), 0);
	CHECK_EQ(get_one(kvt, 1, &len), 1);
	CHECK_EQ(len, CHUNK);
	CHECK_EQ(get_one(kvt, 2, &len), 1);
	CHECK_EQ(len, 1000);
	CHECK_EQ(get_one(kvt, 3, &len), 0);
	CHECK_EQ(len, 0);
	kvt_close(kvt);
}

TEST(duplicate_put_is_noop_without_second_callback)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	static uint8_t buf[CHUNK];
	struct kvt_key k = key_of(7);
	const void *b = buf;
	size_t len = CHUNK;
	int res;

	fired = 0;
	fill(buf, len, 7);
	CHECK_EQ(kvt_put(kvt, &k, &b, &len, 1, &res, count_cb, &fired), 1);
	CHECK_EQ(res, 0);
	CHECK_EQ(kvt_put(kvt, &k, &b, &len, 1, &res, count_cb, &fired), 0);
	CHECK_EQ(res, 1);
	CHECK_EQ(fired, 1);
	kvt_close(kvt);
}

TEST(oversized_chunk_refused_nothing_stored)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	struct kvt_stats st;
	size_t len;

	CHECK_EQ(put_one(kvt, 5, CHUNK + 1), -EMSGSIZE);
	CHECK_EQ(get_one(kvt, 5, &len), 0);
	kvt_stats(kvt, &st, sizeof(st));
	CHECK_EQ(st.l1_entries, 0);
	CHECK_EQ(st.l1_free_slots, st.l1_slots);
	CHECK_EQ(st.put_errors, 1);
	kvt_close(kvt);
}

/* A zero length would read back as a hole (kvtier.h): each such key of a
 * batch is -EINVAL, the others are stored; a commit of 0 bytes is -EINVAL
 * and the lease stays held. */
TEST(zero_length_chunk_is_einval_per_key_and_commit_keeps_the_lease)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	static uint8_t bufs[3][CHUNK];
	struct kvt_key keys[3] = { key_of(31), key_of(32), key_of(33) };
	const void *b[3] = { bufs[0], bufs[1], bufs[2] };
	size_t lens[3] = { CHUNK, 0, 100 }, len;
	int res[3] = { 99, 99, 99 };
	struct kvt_lease w;
	struct kvt_stats st;

	fill(bufs[0], CHUNK, 31);
	fill(bufs[2], 100, 33);
	CHECK_EQ(kvt_put(kvt, keys, b, lens, 3, res, NULL, NULL), 2);
	CHECK_EQ(res[0], 0);
	CHECK_EQ(res[1], -EINVAL);
	CHECK_EQ(res[2], 0);
	CHECK_EQ(get_one(kvt, 32, &len), 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(get_one(kvt, 33, &len), 1);
	CHECK_EQ(len, 100);
	CHECK_EQ(kvt_contains(kvt, &keys[1], 1, 0), 0);
	/* a NULL buffer of length 0 is no bad argument of the call, only of its key */
	b[1] = NULL;
	CHECK_EQ(kvt_put(kvt, &keys[1], &b[1], &lens[1], 1, res, NULL, NULL), 0);
	CHECK_EQ(res[0], -EINVAL);
	st = stats_of(kvt);
	CHECK_EQ(st.l1_entries, 2);
	CHECK_EQ(st.puts, 2);
	CHECK_EQ(st.put_errors, 2);

	CHECK_EQ(kvt_reserve(kvt, &w), 0);
	fill(w.data, 10, 32);
	CHECK_EQ(kvt_commit(kvt, &w, &keys[1], 0), -EINVAL);
	CHECK_EQ(get_one(kvt, 32, &len), 0);
	CHECK_EQ(kvt_commit(kvt, &w, &keys[1], 10), 0); /* still ours */
	CHECK_EQ(get_one(kvt, 32, &len), 1);
	CHECK_EQ(len, 10);
	CHECK_EQ(kvt_reserve(kvt, &w), 0);
	CHECK_EQ(kvt_commit(kvt, &w, &keys[1], 0), -EINVAL);
	CHECK_EQ(kvt_release(kvt, &w), 0);
	st = stats_of(kvt);
	CHECK_EQ(st.l1_entries, 3);
	CHECK_EQ(st.l1_free_slots, st.l1_slots - 3);
	kvt_close(kvt);
}

/* Flag bits a call does not define are -EINVAL, and nothing changes. */
TEST(unknown_flag_bits_are_einval_nothing_changed)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	struct kvt_key k = key_of(41);
	struct kvt_stats st;
	int res = 99;

	CHECK_EQ(put_one(kvt, 41, CHUNK), 0);
	CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_FORCE), -EINVAL);
	CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_PIN | 0x4u), -EINVAL);
	CHECK_EQ(kvt_contains(kvt, &k, 1, 0x80000000u), -EINVAL);
	CHECK_EQ(kvt_contains(kvt, &k, 0, 0x4u), -EINVAL);
	CHECK_EQ(kvt_remove(kvt, &k, 1, KVT_PIN, &res), -EINVAL);
	CHECK_EQ(res, 99);
	CHECK_EQ(kvt_remove(kvt, &k, 1, KVT_FORCE | 0x100u, &res), -EINVAL);
	CHECK_EQ(kvt_remove(kvt, &k, 0, 0x4u, NULL), -EINVAL);
	st = stats_of(kvt);
	CHECK_EQ(st.pins, 0);
	CHECK_EQ(st.pinned_entries, 0);
	CHECK_EQ(st.lookups, 0);
	CHECK_EQ(st.removes, 0);
	CHECK_EQ(st.l1_entries, 1);
	/* the defined bits still work */
	CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_PIN), 1);
	CHECK_EQ(kvt_remove(kvt, &k, 1, 0, &res), 0);
	CHECK_EQ(res, -EBUSY);
	CHECK_EQ(kvt_remove(kvt, &k, 1, KVT_FORCE, &res), 1);
	CHECK_EQ(res, 0);
	kvt_close(kvt);
}

TEST(get_is_positional_with_holes)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	static uint8_t bufs[3][CHUNK];
	struct kvt_key keys[3] = { key_of(1), key_of(2), key_of(3) };
	void *b[3] = { bufs[0], bufs[1], bufs[2] };
	size_t caps[3] = { CHUNK, CHUNK, CHUNK }, lens[3];

	CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
	CHECK_EQ(put_one(kvt, 3, 100), 0);
	CHECK_EQ(kvt_get(kvt, keys, 3, b, caps, lens), 2);
	CHECK_EQ(lens[0], CHUNK);
	CHECK_EQ(lens[1], 0);
	CHECK_EQ(lens[2], 100);
	CHECK(check_bytes(bufs[0], CHUNK, 1));
	CHECK(check_bytes(bufs[2], 100, 3));
	CHECK_EQ(kvt_contains(kvt, keys, 3, 0), 1);
	kvt_close(kvt);
}

TEST(pin_is_counted_and_blocks_non_forced_remove)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	struct kvt_key k = key_of(9);
	struct kvt_stats st;
	int res;

	CHECK_EQ(put_one(kvt, 9, CHUNK), 0);
	CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_PIN), 1);
	CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_PIN), 1);
	CHECK_EQ(kvt_unpin(kvt, &k, 1), 1);
	CHECK_EQ(kvt_remove(kvt, &k, 1, 0, &res), 0);
	CHECK_EQ(res, -EBUSY);
	kvt_stats(kvt, &st, sizeof(st));
	CHECK_EQ(st.pinned_entries, 1);
	CHECK_EQ(st.remove_refused, 1);
	CHECK_EQ(kvt_unpin(kvt, &k, 1), 1);
	CHECK_EQ(kvt_unpin(kvt, &k, 1), 0); /* underflow: nothing left */
	kvt_stats(kvt, &st, sizeof(st));
	CHECK_EQ(st.pinned_entries, 0);
	CHECK_EQ(st.unpin_underflows, 1);
	CHECK_EQ(kvt_remove(kvt, &k, 1, 0, &res), 1);
	CHECK_EQ(res, 0);
	CHECK_EQ(kvt_contains(kvt, &k, 1, 0), 0);
	kvt_close(kvt);
}

TEST(forced_remove_takes_pinned_key)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	struct kvt_key k = key_of(4);
	struct kvt_stats st;
	int res;

	CHECK_EQ(put_one(kvt, 4, CHUNK), 0);
	CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_PIN), 1);
	CHECK_EQ(kvt_remove(kvt, &k, 1, KVT_FORCE, &res), 1);
	CHECK_EQ(res, 0);
	CHECK_EQ(kvt_remove(kvt, &k, 1, KVT_FORCE, &res), 0);
	CHECK_EQ(res, -ENOENT);
	kvt_stats(kvt, &st, sizeof(st));
	CHECK_EQ(st.pinned_entries, 0);
	CHECK_EQ(st.l1_free_slots, st.l1_slots);
	kvt_close(kvt);
}

TEST(remove_during_borrow_keeps_bytes_until_release)
{
	struct kvt *kvt = open_l1(4, NULL, NULL);
	struct kvt_key k = key_of(11);
	struct kvt_lease lease, again;
	struct kvt_stats st;
	uint64_t slots;

	CHECK_EQ(put_one(kvt, 11, 3000), 0);
	CHECK_EQ(kvt_borrow(kvt, &k, &lease), 0);
	CHECK_EQ(lease.len, 3000);
	CHECK_EQ(kvt_remove(kvt, &k, 1, KVT_FORCE, NULL), 1);
	CHECK_EQ(kvt_borrow(kvt, &k, &again), -ENOENT);
	kvt_stats(kvt, &st, sizeof(st));
	slots = st.l1_slots;
	/* the borrowed slot is not free: fill every other slot */
	CHECK_EQ(st.l1_free_slots, slots - 1);
	for (uint64_t i = 0; i < slots - 1; i++)
		CHECK_EQ(put_one(kvt, 100 + i, CHUNK), 0);
	/* full, and the only candidate is borrowed-and-dead: no slot for us */
	kvt_stats(kvt, &st, sizeof(st));
	CHECK(check_bytes(lease.data, 3000, 11));
	CHECK_EQ(kvt_release(kvt, &lease), 0);
	CHECK_EQ(kvt_release(kvt, &lease), -ESTALE);
	kvt_flush(kvt);
	kvt_stats(kvt, &st, sizeof(st));
	CHECK_EQ(st.l1_entries + st.l1_free_slots, slots);
	CHECK_EQ(st.borrows_active, 0);
	kvt_close(kvt);
}

TEST(eviction_skips_pinned_and_borrowed)
{
	struct kvt *kvt = open_l1(16, NULL, NULL);
	struct kvt_key pinned = key_of(1), borrowed = key_of(2);
	struct kvt_lease lease;
	struct kvt_stats st;
	size_t len;

	CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
	CHECK_EQ(put_one(kvt, 2, CHUNK), 0);
	CHECK_EQ(kvt_contains(kvt, &pinned, 1, KVT_PIN), 1);
	CHECK_EQ(kvt_borrow(kvt, &borrowed, &lease), 0);
	for (uint64_t id = 10; id < 10 + 200; id++)
		CHECK_EQ(put_one(kvt, id, CHUNK), 0);
	kvt_stats(kvt, &st, sizeof(st));
	CHECK(st.l1_evictions >= 150);
	CHECK_EQ(kvt_contains(kvt, &pinned, 1, 0), 1);
	CHECK_EQ(get_one(kvt, 2, &len), 1);
	CHECK(check_bytes(lease.data, CHUNK, 2));
	CHECK_EQ(get_one(kvt, 209, &len), 1); /* the newest survives */
	CHECK_EQ(kvt_release(kvt, &lease), 0);
	CHECK_EQ(kvt_unpin(kvt, &pinned, 1), 1);
	kvt_close(kvt);
}

TEST(put_into_all_pinned_l1_fails_after_bounded_wait)
{
	struct kvt *kvt = open_l1(8, NULL, NULL);
	struct kvt_stats st;
	uint64_t pinned[64], npinned = 0;
	struct kvt_lease held[8];

	kvt_stats(kvt, &st, sizeof(st));
	/* background eviction may take a fresh entry before we pin it: retry */
	for (uint64_t id = 0; npinned < st.l1_slots && id < 64; id++) {
		struct kvt_key k = key_of(id);

		CHECK_EQ(put_one(kvt, id, CHUNK), 0);
		if (kvt_contains(kvt, &k, 1, KVT_PIN) == 1)
			pinned[npinned++] = id;
	}
	/* background eviction keeps the low watermark free: one slot here */
	CHECK(npinned >= st.l1_slots - 1);
	/* in-flight reservations are not evictable either */
	kvt_flush(kvt);
	kvt_stats(kvt, &st, sizeof(st));
	for (uint64_t i = 0; i < st.l1_free_slots; i++)
		CHECK_EQ(kvt_reserve(kvt, &held[i]), 0);
	CHECK_EQ(put_one(kvt, 1000, CHUNK), -ENOSPC);
	for (uint64_t i = 0; i < st.l1_free_slots; i++)
		CHECK_EQ(kvt_release(kvt, &held[i]), 0);
	for (uint64_t i = 0; i < npinned; i++) {
		struct kvt_key k = key_of(pinned[i]);
		size_t len;

		CHECK_EQ(get_one(kvt, pinned[i], &len), 1);
		CHECK_EQ(kvt_unpin(kvt, &k, 1), 1);
	}
	CHECK_EQ(put_one(kvt, 1000, CHUNK), 0);
	kvt_close(kvt);
}

struct prefetch_wait {
	_Atomic int done;
	uint64_t ticket;
	ssize_t hits;
};

static void prefetch_cb(void *arg, uint64_t ticket, ssize_t hits)
{
	struct prefetch_wait *w = arg;

	w->ticket = ticket;
	w->hits = hits;
	atomic_store(&w->done, 1);
}

TEST(prefetch_restores_prefix_only_and_signals_eventfd)
{
	struct kvt *kvt = open_l1(64, NULL, NULL);
	static uint8_t bufs[4][CHUNK];
	struct kvt_key keys[4] = { key_of(1), key_of(2), key_of(3), key_of(4) };
	void *b[4] = { bufs[0], bufs[1], bufs[2], bufs[3] };
	size_t caps[4] = { CHUNK, CHUNK, CHUNK, CHUNK }, lens[4] = { 9, 9, 9, 9 };
	struct prefetch_wait w = { 0 };
	struct pollfd pfd = { .fd = kvt_event_fd(kvt), .events = POLLIN };
	uint64_t ticket, count;

	CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
	CHECK_EQ(put_one(kvt, 2, 500), 0);
	CHECK_EQ(put_one(kvt, 4, CHUNK), 0); /* after the hole at 3: not restored */
	CHECK_EQ(kvt_prefetch(kvt, keys, 4, b, caps, lens, prefetch_cb, &w, &ticket), 0);
	CHECK_EQ(poll(&pfd, 1, 10000), 1);
	CHECK_EQ(read(pfd.fd, &count, sizeof(count)), sizeof(count));
	CHECK_EQ(count, 1);
	CHECK(atomic_load(&w.done));
	CHECK_EQ(w.ticket, ticket);
	CHECK_EQ(w.hits, 2);
	CHECK_EQ(lens[0], CHUNK);
	CHECK_EQ(lens[1], 500);
	CHECK_EQ(lens[2], 0);
	CHECK_EQ(lens[3], 0);
	CHECK(check_bytes(bufs[0], CHUNK, 1));
	CHECK(check_bytes(bufs[1], 500, 2));
	kvt_close(kvt);
}

TEST(zero_copy_reserve_commit_borrow)
{
	struct kvt *kvt = open_l1(8, NULL, NULL);
	struct kvt_key k = key_of(21);
	struct kvt_lease w, w2, r;
	size_t len;

	CHECK_EQ(kvt_reserve(kvt, &w), 0);
	CHECK_EQ(w.len, CHUNK);
	fill(w.data, 2000, 21);
	CHECK_EQ(kvt_commit(kvt, &w, &k, CHUNK + 1), -EMSGSIZE);
	CHECK_EQ(kvt_commit(kvt, &w, &k, 2000), 0);
	CHECK_EQ(kvt_commit(kvt, &w, &k, 2000), -ESTALE);
	CHECK_EQ(get_one(kvt, 21, &len), 1);
	CHECK_EQ(len, 2000);
	/* a duplicate commit leaves the reservation held until released */
	CHECK_EQ(kvt_reserve(kvt, &w2), 0);
	CHECK_EQ(kvt_commit(kvt, &w2, &k, 10), 1);
	CHECK_EQ(kvt_release(kvt, &w2), 0);
	CHECK_EQ(kvt_release(kvt, &w2), -ESTALE);
	CHECK_EQ(kvt_borrow(kvt, &k, &r), 0);
	CHECK_EQ(r.len, 2000);
	CHECK(check_bytes(r.data, 2000, 21));
	CHECK_EQ(kvt_release(kvt, &r), 0);
	kvt_flush(kvt);
	{
		struct kvt_stats st;

		kvt_stats(kvt, &st, sizeof(st));
		CHECK_EQ(st.l1_entries, 1);
		CHECK_EQ(st.l1_free_slots, st.l1_slots - 1);
	}
	kvt_close(kvt);
}

TEST(pin_monitor_releases_expired_pins)
{
	struct kvt *kvt = open_l1(16, "pin_ttl_ms", "40");
	struct kvt_key k = key_of(3);
	struct kvt_stats st;
	int res;

	CHECK_EQ(put_one(kvt, 3, CHUNK), 0);
	CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_PIN), 1);
	CHECK_EQ(kvt_contains(kvt, &k, 1, KVT_PIN), 1);
	for (int i = 0; i < 200; i++) {
		kvt_stats(kvt, &st, sizeof(st));
		if (st.pin_force_releases)
			break;
		usleep(10000);
	}
	CHECK_EQ(st.pin_force_releases, 2);
	CHECK_EQ(st.pinned_entries, 0);
	CHECK_EQ(kvt_remove(kvt, &k, 1, 0, &res), 1);
	kvt_close(kvt);
}

struct closer {
	struct kvt *kvt;
	_Atomic int done;
};

static void *close_thread(void *arg)
{
	struct closer *c = arg;

	kvt_close(c->kvt);
	atomic_store(&c->done, 1);
	return NULL;
}

TEST(close_waits_for_lease_and_rejects_new_work)
{
	struct kvt *kvt = open_l1(16, NULL, NULL);
	struct kvt_key k = key_of(1);
	struct closer c = { .kvt = kvt };
	struct kvt_lease lease, other;
	pthread_t t;
	size_t len;

	CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
	CHECK_EQ(kvt_borrow(kvt, &k, &lease), 0);
	CHECK_EQ(pthread_create(&t, NULL, close_thread, &c), 0);
	usleep(100000);
	CHECK(!atomic_load(&c.done));
	CHECK_EQ(put_one(kvt, 2, CHUNK), -ESHUTDOWN);
	CHECK_EQ(get_one(kvt, 1, &len), 0);
	CHECK_EQ(kvt_contains(kvt, &k, 1, 0), -ESHUTDOWN);
	CHECK_EQ(kvt_borrow(kvt, &k, &other), -ESHUTDOWN);
	CHECK(check_bytes(lease.data, CHUNK, 1)); /* still mapped */
	CHECK(!atomic_load(&c.done));
	CHECK_EQ(kvt_release(kvt, &lease), 0);
	pthread_join(t, NULL);
	CHECK(atomic_load(&c.done));
}

struct racer {
	struct kvt *kvt;
	int fired;
	int stored;
};

static void *race_put(void *arg)
{
	struct racer *r = arg;
	static uint8_t buf[CHUNK];
	struct kvt_key k = key_of(77);
	const void *b = buf;
	size_t len = CHUNK;

	r->stored = (int)kvt_put(r->kvt, &k, &b, &len, 1, NULL, count_cb, &r->fired);
	return NULL;
}

TEST(racing_puts_of_one_key_store_it_once)
{
	for (int round = 0; round < 20; round++) {
		struct kvt *kvt = open_l1(16, NULL, NULL);
		struct racer r[4] = { { .kvt = kvt }, { .kvt = kvt }, { .kvt = kvt }, { .kvt = kvt } };
		pthread_t t[4];
		int stored = 0, fired_total = 0;
		struct kvt_stats st;

		for (int i = 0; i < 4; i++)
			CHECK_EQ(pthread_create(&t[i], NULL, race_put, &r[i]), 0);
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			stored += r[i].stored;
			fired_total += r[i].fired;
		}
		CHECK_EQ(stored, 1);
		CHECK_EQ(fired_total, 1);
		kvt_flush(kvt);
		kvt_stats(kvt, &st, sizeof(st));
		CHECK_EQ(st.l1_entries, 1);
		CHECK_EQ(st.l1_free_slots, st.l1_slots - 1);
		kvt_close(kvt);
	}
}

TEST(open_close_leaks_no_thread_or_fd)
{
	struct kvt *kvt;
	int fds, threads;

	/* the first open initialises liburcu's process-wide state */
	kvt = open_l1(8, NULL, NULL);
	kvt_close(kvt);
	fds = harness_count_fds();
	threads = harness_count_threads();
	for (int i = 0; i < 5; i++) {
		kvt = open_l1(8, "l1.prefetch_workers", "3");
		CHECK(harness_count_threads() > threads);
		CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
		kvt_close(kvt);
	}
	for (int i = 0; i < 100 && harness_count_threads() != threads; i++)
		usleep(10000);
	CHECK_EQ(harness_count_threads(), threads);
	CHECK_EQ(harness_count_fds(), fds);
}

TEST(prefaulted_l1_serves_puts)
{
	struct kvt *kvt = open_l1(32, "l1.prefault", "true");
	size_t len;

	CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
	CHECK_EQ(get_one(kvt, 1, &len), 1);
	kvt_close(kvt);
}

TEST(namespaces_never_share_keys)
{
	uint32_t tokens[300];
	struct kvt_key a, b, c, d, ka, kb;

	for (int i = 0; i < 300; i++)
		tokens[i] = (uint32_t)i;
	struct kvt_namespace ns = {
		.model = "qwen", .world_size = 1, .kv_dtype = "bfloat16", .tenant_salt = "tenant-a",
	};

	CHECK_EQ(kvt_namespace_seed(&ns, &a), 0);
	ns.tenant_salt = "tenant-b";
	CHECK_EQ(kvt_namespace_seed(&ns, &b), 0);
	ns.tenant_salt = "tenant-a";
	ns.kv_dtype = "fp8_e4m3";
	CHECK_EQ(kvt_namespace_seed(&ns, &c), 0);
	ns.kv_dtype = "bfloat16";
	ns.layout = ""; /* NULL and "" are one namespace */
	CHECK_EQ(kvt_namespace_seed(&ns, &d), 0);
	CHECK(a.lo != b.lo || a.hi != b.hi);
	CHECK(a.lo != c.lo || a.hi != c.hi);
	CHECK(a.lo == d.lo && a.hi == d.hi);
	kvt_key_chain(&a, tokens, 256, &ka);
	kvt_key_chain(&b, tokens, 256, &kb);
	CHECK(ka.lo != kb.lo);
	/* chained: the same chunk after a different prefix is a different key */
	kvt_key_chain(&ka, tokens, 44, &kb);
	kvt_key_chain(&a, tokens, 44, &ka);
	CHECK(ka.lo != kb.lo);
	CHECK_EQ(kvt_namespace_seed(NULL, &a), -EINVAL);
	CHECK_EQ(kvt_key_chain(&a, NULL, 4, &ka), -EINVAL);
	CHECK_EQ(kvt_key_chain(&a, NULL, 0, &ka), 0);
}

TEST(chunk_keys_cover_partial_last_chunk)
{
	struct kvt *kvt = open_l1(8, NULL, NULL);
	uint32_t tokens[40];
	struct kvt_key keys[3], again[3];

	for (int i = 0; i < 40; i++)
		tokens[i] = (uint32_t)(i * 13);
	CHECK_EQ(kvt_chunk_keys(kvt, tokens, 40, keys, 2), -ENOSPC);
	CHECK_EQ(kvt_chunk_keys(kvt, tokens, 40, keys, 3), 3); /* 16 + 16 + 8 */
	CHECK_EQ(kvt_chunk_keys(kvt, tokens, 32, again, 3), 2);
	CHECK(keys[0].lo == again[0].lo && keys[1].hi == again[1].hi);
	kvt_close(kvt);
}

TEST(opaque_ids_map_to_one_key_per_namespace)
{
	static const char id[] = "qwen@00000000@0@5f3a";
	struct kvt *a = open_l1(8, NULL, NULL), *b = open_l1(8, NULL, NULL);
	struct kvt *other = open_l1(8, "tenant_salt", "tenant-b");
	struct kvt_key ka, kb, kc, kd, chunk[1];
	uint32_t tokens[16] = { 0 };

	CHECK_EQ(kvt_key_of(a, id, strlen(id), &ka), 0);
	CHECK_EQ(kvt_key_of(b, id, strlen(id), &kb), 0);
	CHECK(ka.lo == kb.lo && ka.hi == kb.hi);
	CHECK_EQ(kvt_key_of(other, id, strlen(id), &kc), 0);
	CHECK(ka.lo != kc.lo || ka.hi != kc.hi);
	CHECK_EQ(kvt_key_of(a, id, strlen(id) - 1, &kd), 0);
	CHECK(ka.lo != kd.lo || ka.hi != kd.hi);
	/* an empty id is an id; no id key is the key of a chunk */
	CHECK_EQ(kvt_key_of(a, NULL, 0, &kd), 0);
	CHECK_EQ(kvt_chunk_keys(a, tokens, 16, chunk, 1), 1);
	CHECK_EQ(kvt_key_of(a, tokens, sizeof(tokens), &kd), 0);
	CHECK(kd.lo != chunk[0].lo || kd.hi != chunk[0].hi);
	CHECK_EQ(kvt_key_of(NULL, id, 1, &kd), -EINVAL);
	CHECK_EQ(kvt_key_of(a, NULL, 1, &kd), -EINVAL);
	CHECK_EQ(kvt_key_of(a, id, 1, NULL), -EINVAL);
	kvt_close(a);
	kvt_close(b);
	kvt_close(other);
}

TEST(stats_as_prometheus_text)
{
	struct kvt *kvt = open_l1(8, NULL, NULL);
	char text[8192];
	size_t len;

	CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
	CHECK_EQ(get_one(kvt, 1, &len), 1);
	CHECK(kvt_stats_prometheus(kvt, text, sizeof(text)) > 0);
	CHECK(strstr(text, "# TYPE kvtier_hits_total counter\nkvtier_hits_total{tier=\"l1\"} 1\n"));
	CHECK(strstr(text, "\nkvtier_puts_total 1\n"));
	CHECK_EQ(kvt_stats_prometheus(kvt, text, 64), -ENOSPC);
	kvt_close(kvt);
}

/* kvtier.h: a NULL instance, array or out pointer is -EINVAL, never a crash. */
TEST(null_arguments_are_einval_never_a_crash)
{
	struct kvt *kvt = open_l1(8, NULL, NULL);
	struct kvt_key k = key_of(1);
	struct kvt_lease lease;
	struct kvt_stats st;
	struct kvt_config *cfg;
	const void *src[1] = { NULL };
	void *dst[1] = { NULL };
	size_t len = CHUNK, out;
	char text[64];

	CHECK_EQ(kvt_put(NULL, &k, src, &len, 1, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(kvt_put(kvt, NULL, src, &len, 1, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(kvt_put(kvt, &k, src, &len, 1, NULL, NULL, NULL), -EINVAL); /* NULL bufs[0] */
	CHECK_EQ(kvt_contains(NULL, &k, 1, 0), -EINVAL);
	CHECK_EQ(kvt_contains(kvt, NULL, 3, 0), -EINVAL);
	CHECK_EQ(kvt_unpin(kvt, NULL, 1), -EINVAL);
	CHECK_EQ(kvt_remove(NULL, &k, 1, 0, NULL), -EINVAL);
	CHECK_EQ(kvt_get(NULL, &k, 1, dst, &len, &out), -EINVAL);
	CHECK_EQ(kvt_get(kvt, &k, 1, dst, &len, &out), -EINVAL); /* NULL bufs[0] */
	CHECK_EQ(kvt_prefetch(kvt, &k, 1, dst, &len, &out, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(kvt_get_sink(NULL, &k, 1, NULL, NULL, &out), -EINVAL);
	CHECK_EQ(kvt_flush(NULL), -EINVAL);
	CHECK_EQ(kvt_reserve(NULL, &lease), -EINVAL);
	CHECK_EQ(kvt_commit(NULL, &lease, &k, CHUNK), -EINVAL);
	CHECK_EQ(kvt_borrow(NULL, &k, &lease), -EINVAL);
	CHECK_EQ(kvt_release(NULL, &lease), -EINVAL);
	CHECK_EQ(kvt_stats(NULL, &st, sizeof(st)), -EINVAL);
	CHECK_EQ(kvt_stats(kvt, NULL, sizeof(st)), -EINVAL);
	CHECK_EQ(kvt_stats_prometheus(NULL, text, sizeof(text)), -EINVAL);
	CHECK_EQ(kvt_l2_report(NULL, 0, NULL, NULL), -EINVAL);
	CHECK_EQ(kvt_chunk_keys(NULL, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ(kvt_chunk_bytes(NULL), 0);
	CHECK_EQ(kvt_event_fd(NULL), -EINVAL);
	CHECK_EQ(kvt_close(NULL), -EINVAL);
	CHECK_EQ(kvt_config_new(NULL), -EINVAL);
	CHECK_EQ(kvt_config_apply_env(NULL, NULL, 0), -EINVAL);
	CHECK_EQ(kvt_config_check(NULL, NULL, 0), -EINVAL);
	CHECK_EQ(kvt_config_dump(NULL, 1), -EINVAL);
	CHECK_EQ(kvt_config_get(NULL, "chunk_size", text, sizeof(text)), -EINVAL);
	CHECK_EQ(kvt_open(NULL, &kvt, NULL, 0), -EINVAL);
	CHECK_EQ(kvt_config_new(&cfg), 0);
	CHECK_EQ(kvt_open(cfg, NULL, NULL, 0), -EINVAL);
	kvt_config_free(cfg);
	/* nothing changed: the refused put stored nothing */
	CHECK_EQ(stats_of(kvt).puts, 0);
	kvt_close(kvt);
}

TEST(open_says_why_it_failed_in_err)
{
	struct kvt_config *cfg;
	struct kvt *kvt = NULL;
	char err[256] = "";

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_set(cfg, "dax.device_path", "/dev/shm/kvt-no-such-dir/dax0");
	cfg_set(cfg, "dax.max_dax_size", "0.01");
	CHECK(kvt_open(cfg, &kvt, err, sizeof(err)) < 0);
	CHECK(kvt == NULL);
	CHECK(strstr(err, "kvt-no-such-dir") != NULL);
	CHECK_EQ(kvt_open(NULL, &kvt, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "NULL config") != NULL);
	kvt_config_free(cfg);
}

/* A caller built against an older, shorter struct kvt_stats gets the
 * counters it knows and nothing written past them. */
TEST(stats_are_size_versioned)
{
	struct kvt *kvt = open_l1(8, NULL, NULL);
	struct {
		uint64_t first[3];
		uint64_t guard;
	} old;
	struct kvt_stats st;
	const char *name;
	size_t n = 0;

	CHECK_EQ(put_one(kvt, 1, CHUNK), 0);
	memset(&old, 0xa5, sizeof(old));
	CHECK_EQ(kvt_stats(kvt, (struct kvt_stats *)&old, sizeof(old.first)),
		 (ssize_t)sizeof(old.first));
	CHECK_EQ(old.guard, 0xa5a5a5a5a5a5a5a5ull);
	CHECK_EQ(kvt_stats(kvt, &st, sizeof(st)), (ssize_t)sizeof(st));
	CHECK(memcmp(old.first, &st, sizeof(old.first)) == 0);
	/* a newer caller's larger struct: the library writes what it has */
	CHECK_EQ(kvt_stats(kvt, &st, sizeof(st) + 64), (ssize_t)sizeof(st));
	while (kvt_stats_field(&st, n, &name, NULL, NULL, NULL) == 0)
		n++;
	CHECK_EQ(n, sizeof(st) / sizeof(uint64_t));
	CHECK_EQ(kvt_stats_field(&st, n, &name, NULL, NULL, NULL), -ENOENT);
	kvt_close(kvt);
}
