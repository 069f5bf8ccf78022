/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the pool adapter on kvtier-poold's shared index
 * (l2/pool/pc_shidx.c): existence checks, lookups' misses and loads from a
 * mapped region need no RPC (the daemon's request counter, read with
 * GET_STATS, grows by the GET_STATS alone), lookups' hits take exactly
 * their pins, a region not mapped yet, a daemon without an index, an
 * adapter told not to use it and a full index all go to the RPC and answer
 * the same; coherent=false reads the index too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l2/fschunk.h"
#include "l2/pool/pool_adapter.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/l2_task.h"
#include "tests/common/poold.h"
#include "kvtier/l2.h"

#define MAXN 64
#define CHUNK 4000                   /* max_chunk_bytes: 8 KiB pages */

static struct poold *daemon_up(const char *args)
{
	static struct poold d[2];
	static int next;
	struct poold *p = &d[next++ % 2];

	if (!poold_path())
		SKIP("kvtier-poold is not built beside this test");
	if (poold_start(p, "64M", args))
		harness_fail(__FILE__, __LINE__, "could not start kvtier-poold %s", args ? args : "");
	return p;
}

/* An adapter whose idle heartbeat never fires during a case, so every
 * request the daemon counts is one a task sent. */
static struct kvt_l2_adapter *pool_new(const struct poold *d, const char *k1, const char *v1)
{
	static const struct kvt_key seed = { 42, 43 };
	struct kvt_l2_param p[] = {
		{ "type", "pool" }, { "server", d->addr }, { "rm", d->rm },
		{ "max_chunk_bytes", "4000" }, { "size_gb", "0.001953125" },
		{ "heartbeat_ms", "600000" }, { k1 ? k1 : "timeout_ms", v1 ? v1 : "2000" },
	};
	struct kvt_l2_config cfg = { .type = "pool", .params = p, .json = "{}", .ns_seed = &seed,
				     .nparams = sizeof(p) / sizeof(p[0]) };
	struct kvt_l2_adapter *a = NULL;
	char err[512] = "";
	int ret = pool_l2_ops.create(&cfg, NULL, &a, err, sizeof(err));

	if (ret)
		harness_fail(__FILE__, __LINE__, "create: %d %s", ret, err);
	return a;
}

static void keys_from(uint64_t first, size_t n, struct kvt_key *keys)
{
	for (size_t i = 0; i < n; i++)
		keys[i] = key_of(first + i);
}

static size_t store(struct kvt_l2_adapter *a, uint64_t first, size_t n)
{
	struct kvt_key keys[MAXN];
	void *bufs[MAXN];
	size_t lens[MAXN];
	uint64_t bm[1];

	keys_from(first, n, keys);
	for (size_t i = 0; i < n; i++) {
		lens[i] = CHUNK;
		bufs[i] = malloc(CHUNK);
		l2t_fill(bufs[i], CHUNK, first + i, 3);
	}
	l2t_run(&pool_l2_ops, a, KVT_L2_STORE, keys, bufs, lens, n, bm, NULL);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	return l2t_popcount(bm, n);
}

/* Verified hits: a set bit with wrong bytes fails the case. */
static size_t load(struct kvt_l2_adapter *a, uint64_t first, size_t n)
{
	struct kvt_key keys[MAXN];
	void *bufs[MAXN];
	size_t caps[MAXN], got[MAXN], hits = 0;
	uint64_t bm[1];

	keys_from(first, n, keys);
	for (size_t i = 0; i < n; i++) {
		caps[i] = CHUNK;
		bufs[i] = calloc(1, CHUNK);
	}
	l2t_run(&pool_l2_ops, a, KVT_L2_LOAD, keys, bufs, caps, n, bm, got);
	for (size_t i = 0; i < n; i++) {
		if (kvt_l2_bit(bm, i)) {
			CHECK_EQ(got[i], CHUNK);
			CHECK(l2t_same(bufs[i], CHUNK, first + i, 3));
			hits++;
		}
		free(bufs[i]);
	}
	return hits;
}

static size_t lookup(struct kvt_l2_adapter *a, uint64_t first, size_t n)
{
	struct kvt_key keys[MAXN];
	size_t lens[MAXN];
	uint64_t bm[1];

	keys_from(first, n, keys);
	l2t_run(&pool_l2_ops, a, KVT_L2_LOOKUP, keys, NULL, NULL, n, bm, lens);
	for (size_t i = 0; i < n; i++)
		if (kvt_l2_bit(bm, i))
			CHECK_EQ(lens[i], CHUNK);
	return l2t_popcount(bm, n);
}

static void unlock(struct kvt_l2_adapter *a, uint64_t first, size_t n)
{
	struct kvt_key keys[MAXN];

	keys_from(first, n, keys);
	pool_l2_ops.unlock(a, keys, n);
}

static ssize_t remove_keys(struct kvt_l2_adapter *a, uint64_t first, size_t n)
{
	struct kvt_key keys[MAXN];

	keys_from(first, n, keys);
	return pool_l2_ops.remove(a, keys, n, NULL);
}

static uint64_t stat_of(const struct poold *d, const char *sec, const char *name)
{
	uint64_t v = 0;

	CHECK_EQ(poold_stat(d, sec, name, &v), 0);
	return v;
}

/* Requests the daemon served since @since's reading, less this reading's
 * own GET_STATS; @since moves on. */
static uint64_t requests_since(const struct poold *d, uint64_t *since)
{
	uint64_t now = stat_of(d, "server", "requests"), n = now - *since - 1;

	*since = now;
	return n;
}

static uint64_t detail(struct kvt_l2_adapter *a, const char *name)
{
	struct kvt_l2_status st;

	memset(&st, 0, sizeof(st));
	CHECK_EQ(pool_l2_ops.status(a, &st), 0);
	return l2t_detail_num(&st, name);
}

static void wait_pins(const struct poold *d, uint64_t want)
{
	for (int i = 0; i < 200 && stat_of(d, "kv_manager", "total_pins") != want; i++)
		usleep(10000);
	CHECK_EQ(stat_of(d, "kv_manager", "total_pins"), want);
}

/* ---- cases ------------------------------------------------------------ */

static void index_answers_without_rpc(const char *k1, const char *v1)
{
	struct poold *d = daemon_up(NULL);
	struct kvt_l2_adapter *a = pool_new(d, k1, v1), *b;
	uint64_t req = stat_of(d, "server", "requests");

	CHECK_EQ(detail(a, "shared_index"), 1);
	CHECK_EQ(store(a, 1, 8), 8);
	CHECK(requests_since(d, &req) >= 1);              /* the register */
	CHECK_EQ(lookup(a, 100, 8), 0);                   /* misses: no pin to take */
	CHECK_EQ(requests_since(d, &req), 0);
	CHECK_EQ(store(a, 1, 8), 8);                      /* all there already */
	CHECK_EQ(requests_since(d, &req), 0);
	CHECK_EQ(load(a, 1, 8), 8);                       /* our own region */
	CHECK_EQ(requests_since(d, &req), 0);
	/* hits are pinned, exactly once each, by the one RPC left */
	CHECK_EQ(lookup(a, 1, 8), 8);
	CHECK_EQ(requests_since(d, &req), 1);
	CHECK_EQ(stat_of(d, "kv_manager", "total_pins"), 8);
	CHECK_EQ(remove_keys(a, 1, 1), 0);                /* pinned: refused */
	unlock(a, 1, 8);
	wait_pins(d, 0);
	CHECK(detail(a, "index_answers") >= 40);
	CHECK_EQ(detail(a, "index_fallbacks"), 0);
	/* another instance: the first load maps the region through the RPC
	 * (the handle's token), the next needs none */
	b = pool_new(d, k1, v1);
	req = stat_of(d, "server", "requests");
	CHECK_EQ(load(b, 1, 8), 8);
	CHECK(requests_since(d, &req) >= 1);
	CHECK_EQ(detail(b, "index_fallbacks"), 1);
	CHECK_EQ(load(b, 1, 8), 8);
	CHECK_EQ(requests_since(d, &req), 0);
	/* deleted through the RPC, gone from the index at once */
	CHECK_EQ(remove_keys(b, 1, 4), 4);
	req = stat_of(d, "server", "requests");
	CHECK_EQ(lookup(a, 1, 8), 4);
	CHECK_EQ(load(b, 1, 4), 0);
	CHECK_EQ(requests_since(d, &req), 1);             /* the 4 hits' pins */
	unlock(a, 5, 4);
	pool_l2_ops.destroy(b);
	pool_l2_ops.destroy(a);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(lookups_and_existence_checks_need_no_rpc)
{
	index_answers_without_rpc(NULL, NULL);
}

TEST(coherent_false_flushes_and_answers_the_same)
{
	index_answers_without_rpc("coherent", "false");
}

static void rpc_only(struct poold *d, const char *k1, const char *v1)
{
	struct kvt_l2_adapter *a = pool_new(d, k1, v1);
	uint64_t req = stat_of(d, "server", "requests");

	CHECK_EQ(detail(a, "shared_index"), 0);
	CHECK_EQ(store(a, 1, 8), 8);
	req = stat_of(d, "server", "requests");
	CHECK_EQ(lookup(a, 100, 8), 0);
	CHECK_EQ(requests_since(d, &req), 1);             /* BATCH_LOOKUP */
	CHECK_EQ(store(a, 1, 8), 8);
	CHECK_EQ(requests_since(d, &req), 1);             /* BATCH_EXISTS */
	CHECK_EQ(load(a, 1, 8), 8);
	CHECK_EQ(requests_since(d, &req), 1);
	CHECK_EQ(lookup(a, 1, 8), 8);
	CHECK_EQ(requests_since(d, &req), 2);             /* lookup, pin */
	unlock(a, 1, 8);
	wait_pins(d, 0);
	CHECK_EQ(detail(a, "index_answers"), 0);
	pool_l2_ops.destroy(a);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(a_daemon_without_an_index_is_asked_by_rpc)
{
	rpc_only(daemon_up("--shared-index 0"), NULL, NULL);
}

TEST(shared_index_false_asks_by_rpc)
{
	rpc_only(daemon_up(NULL), "shared_index", "false");
}

TEST(a_full_index_sends_misses_to_the_rpc_until_it_is_complete_again)
{
	/* 64 slots take 48 keys */
	struct poold *d = daemon_up("--shared-index 64");
	struct kvt_l2_adapter *a = pool_new(d, NULL, NULL);
	uint64_t req;

	CHECK_EQ(store(a, 1, 30), 30);
	CHECK_EQ(lookup(a, 1000, 8), 0);
	CHECK_EQ(detail(a, "index_fallbacks"), 0);
	CHECK_EQ(store(a, 31, 30), 30);                   /* 12 not published */
	req = stat_of(d, "server", "requests");
	CHECK_EQ(lookup(a, 1000, 8), 0);
	CHECK_EQ(requests_since(d, &req), 1);             /* a miss proves nothing now */
	CHECK_EQ(detail(a, "index_fallbacks"), 1);
	CHECK_EQ(load(a, 1, 60), 60);                     /* every key, through either */
	CHECK_EQ(lookup(a, 1, 60), 60);
	unlock(a, 1, 60);
	wait_pins(d, 0);
	CHECK_EQ(remove_keys(a, 1, 60), 60);
	/* the keys it could not take are gone: complete again */
	req = stat_of(d, "server", "requests");
	CHECK_EQ(lookup(a, 1, 60), 0);
	CHECK_EQ(requests_since(d, &req), 0);
	pool_l2_ops.destroy(a);
	CHECK_EQ(poold_stop(d), 0);
}
