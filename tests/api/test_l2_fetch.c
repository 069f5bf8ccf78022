/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: gets and prefetches of chunks large enough that the fetch
 * loads them from L2 in several waves (api/l2_fetch.c: 4 MiB of buffers a
 * wave) and promotes each wave into L1 while the next loads: every byte
 * and length lands at its own key across wave boundaries, with the keys of
 * one wave split between two adapters, a never-stored key in the middle
 * (a hole for a get, the prefix's end for a prefetch), and a zero-length
 * buffer.  Real plugins (the example "mem" adapter), real threads.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvtier/l2.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/plugins.h"

/* chunk_size 256 x 4 layers x 2 (K, V) x 8 heads x 64 dims x 2 bytes */
#define CHUNK (1u << 20)
#define KEYS 16         /* 4 waves */
#define HOLE 9          /* never stored */
#define L1_SLOTS 4

static const char *const plugin_names[] = { "l2_mem", NULL };

/* L1 of L1_SLOTS chunks over two mem adapters: the first keeps only the
 * newest few chunks, the second all of them. */
static struct kvt *open_tier(void)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	char gb[64];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_set(cfg, "chunk_size", "256");
	cfg_set(cfg, "kv_layers", "4");
	cfg_set(cfg, "kv_heads", "8");
	cfg_set(cfg, "head_dim", "64");
	snprintf(gb, sizeof(gb), "%.12f", (double)L1_SLOTS * CHUNK / 1073741824.0 + 1e-12);
	cfg_set(cfg, "max_local_cpu_size", gb);
	cfg_set(cfg, "put_wait_ms", "200");
	cfg_set(cfg, "l2_plugin_dirs", test_plugin_dir(plugin_names));
	cfg_set(cfg, "l2_adapters",
		"[{\"type\":\"mem\",\"max_size_mb\":6},{\"type\":\"mem\",\"max_size_mb\":64}]");
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	return kvt;
}

static uint8_t byte_of(uint64_t id, size_t i)
{
	return (uint8_t)(id * 131 + i * 7 + (i >> 12) + 1);
}

static void fill(uint8_t *buf, uint64_t id)
{
	for (size_t i = 0; i < CHUNK; i++)
		buf[i] = byte_of(id, i);
}

static bool same(const uint8_t *buf, uint64_t id)
{
	for (size_t i = 0; i < CHUNK; i++)
		if (buf[i] != byte_of(id, i))
			return false;
	return true;
}

/* Chunks 0 .. KEYS + 3 but HOLE, one put each, flushed to both adapters. */
static void store_all(struct kvt *kvt)
{
	uint8_t *buf = malloc(CHUNK);

	CHECK(buf);
	for (uint64_t id = 0; id < KEYS + 4; id++) {
		struct kvt_key k = key_of(id);
		const void *p = buf;
		size_t len = CHUNK;
		int res = -1;

		if (id == HOLE)
			continue;
		fill(buf, id);
		CHECK_EQ(kvt_put(kvt, &k, &p, &len, 1, &res, NULL, NULL), 1);
		CHECK_EQ(res, 0);
	}
	CHECK_EQ(kvt_flush(kvt), 0);
	free(buf);
}

struct readback {
	uint8_t *mem;
	void *ptrs[KEYS];
	size_t buf_lens[KEYS], out_lens[KEYS];
	struct kvt_key keys[KEYS];
};

static void rb_init(struct readback *rb)
{
	rb->mem = malloc((size_t)KEYS * CHUNK);
	CHECK(rb->mem);
	memset(rb->mem, 0xee, (size_t)KEYS * CHUNK);
	for (size_t i = 0; i < KEYS; i++) {
		rb->ptrs[i] = rb->mem + i * CHUNK;
		rb->buf_lens[i] = CHUNK;
		rb->out_lens[i] = 12345;
		rb->keys[i] = key_of(i);
	}
}

static uint64_t l2_chunks(struct kvt *kvt, size_t i)
{
	struct kvt_l2_status st;

	CHECK_EQ(kvt_l2_report(kvt, i, NULL, &st), 0);
	return st.chunks;
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

TEST(a_get_in_waves_fills_every_key_from_both_adapters_and_promotes)
{
	struct kvt *kvt = open_tier();
	struct readback rb;
	struct kvt_stats s0, s1;
	struct kvt_key last = key_of(KEYS - 1);

	store_all(kvt);
	/* the first adapter kept the newest chunks only: the fetch's later
	 * waves take keys from both */
	CHECK(l2_chunks(kvt, 0) < KEYS);
	CHECK_EQ(l2_chunks(kvt, 1), KEYS + 3);
	rb_init(&rb);
	s0 = stats_of(kvt);
	CHECK_EQ(kvt_get(kvt, rb.keys, KEYS, rb.ptrs, rb.buf_lens, rb.out_lens), KEYS - 1);
	s1 = stats_of(kvt);
	for (size_t i = 0; i < KEYS; i++) {
		CHECK_ROW(i, rb.out_lens[i] == (i == HOLE ? 0 : CHUNK));
		CHECK_ROW(i, i == HOLE || same(rb.mem + i * CHUNK, i));
	}
	/* the hole's buffer is left as it was */
	CHECK_EQ(rb.mem[HOLE * CHUNK], 0xee);
	CHECK_EQ(rb.mem[(HOLE + 1) * CHUNK - 1], 0xee);
	CHECK(s1.l2_hits - s0.l2_hits >= KEYS - 1 - L1_SLOTS);
	CHECK_EQ(s1.l2_hits - s0.l2_hits + s1.l1_hits - s0.l1_hits, KEYS - 1);
	CHECK(s1.l2_promotions - s0.l2_promotions >= 1);
	/* the last wave was promoted last: L1 serves its last key */
	CHECK_EQ(kvt_contains(kvt, &last, 1, 0), 1);
	s0 = stats_of(kvt);
	CHECK_EQ(kvt_get(kvt, &last, 1, rb.ptrs, rb.buf_lens, rb.out_lens), 1);
	s1 = stats_of(kvt);
	CHECK_EQ(s1.l1_hits - s0.l1_hits, 1);
	free(rb.mem);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(a_prefetch_in_waves_ends_at_the_first_missing_key)
{
	struct kvt *kvt = open_tier();
	struct pollfd p = { .fd = kvt_event_fd(kvt), .events = POLLIN };
	struct prefetch_done d = { 0 };
	struct readback rb;
	uint64_t count;

	store_all(kvt);
	rb_init(&rb);
	CHECK_EQ(kvt_prefetch(kvt, rb.keys, KEYS, rb.ptrs, rb.buf_lens, rb.out_lens, prefetch_cb,
			      &d, NULL), 0);
	CHECK_EQ(poll(&p, 1, 10000), 1);
	CHECK_EQ(read(p.fd, &count, sizeof(count)), (ssize_t)sizeof(count));
	CHECK(atomic_load(&d.fired));
	CHECK_EQ(d.hits, HOLE);
	for (size_t i = 0; i < KEYS; i++) {
		CHECK_ROW(i, rb.out_lens[i] == (i < HOLE ? CHUNK : 0));
		CHECK_ROW(i, i >= HOLE || same(rb.mem + i * CHUNK, i));
	}
	free(rb.mem);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(a_zero_length_buffer_between_waves_is_a_hole_and_the_rest_load)
{
	struct kvt *kvt = open_tier();
	struct readback rb;

	store_all(kvt);
	rb_init(&rb);
	/* 4 MiB close the first wave after key 3: key 4 opens the second */
	rb.buf_lens[4] = 0;
	CHECK_EQ(kvt_get(kvt, rb.keys, KEYS, rb.ptrs, rb.buf_lens, rb.out_lens), KEYS - 2);
	for (size_t i = 0; i < KEYS; i++) {
		CHECK_ROW(i, rb.out_lens[i] == (i == HOLE || i == 4 ? 0 : CHUNK));
		CHECK_ROW(i, i == HOLE || i == 4 || same(rb.mem + i * CHUNK, i));
	}
	CHECK_EQ(rb.mem[4 * CHUNK], 0xee);
	free(rb.mem);
	CHECK_EQ(kvt_close(kvt), 0);
}
