/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: allocation-failure injection over the L2 adapters (issue 17
 * item 7): fs (io_uring on a real directory), resp (a real redis-server)
 * and pool (a real kvtier-poold).  Per N, instance A stores chunks through
 * the adapter unarmed; then, armed, instance B opens on the same adapter
 * target, stores chunks of its own, reads A's back through L2 and closes;
 * then A must still read every chunk it stored, byte for byte, and B's
 * chunks are holes or exact.  L1 holds no readable chunk (local_cpu
 * false), so every read is an adapter load.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/poold.h"
#include "tests/fault/fault_kvt.h"
#include "tests/fault/loop.h"
#include "tools/common/redis_srv.h"

#define STORED 16
#define NFRESH 16

struct l2_ctx {
	struct fk_setup s;
	struct kvt *a;
	const char *base;             /* the fs tier's parent directory */
	const struct redis_srv *redis;
	char json[512];
	uint64_t first;               /* this N's ids: A's, then B's at first + 1000 */
};

static void l2_setup(void *arg)
{
	struct l2_ctx *c = arg;

	/* ids unique to this child: the pool and redis outlive it */
	c->first = (uint64_t)getpid() * 10000;
	if (c->base) {
		snprintf(c->json, sizeof(c->json), "{\"type\":\"fs\",\"base_path\":\"%s/fs.%d\"}",
			 c->base, (int)getpid());
		c->s.l2_json = c->json;
	}
	fk_open(&c->s, &c->a, true);
	CHECK_EQ(fk_put(c->a, c->first, STORED), STORED);
	CHECK_EQ(kvt_flush(c->a), 0);
}

static long l2_armed(void *arg)
{
	struct l2_ctx *c = arg;
	struct kvt *b;
	long ret = fk_open(&c->s, &b, false);

	if (ret)
		return ret;
	ret = fk_put(b, c->first + 1000, NFRESH);
	if (ret >= 0)
		ret = kvt_flush(b);
	if (ret >= 0)
		ret = fk_check_some(b, c->first, STORED);
	CHECK_EQ(kvt_close(b), 0);
	return ret;
}

static void l2_verify(void *arg, long rc, bool fired)
{
	struct l2_ctx *c = arg;
	char cmd[600];

	fk_check_all(c->a, c->first, STORED);
	CHECK(fk_check_some(c->a, c->first + 1000, NFRESH) >= 0);
	CHECK_EQ(kvt_close(c->a), 0);
	if (c->base) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s/fs.%d'", c->base, (int)getpid());
		CHECK_EQ(system(cmd), 0);
	}
}

static void l2_loop(const char *name, struct l2_ctx *c)
{
	struct fault_area a = { name, FAULT_ONCE, false, c, l2_setup, l2_armed, l2_verify };
	struct fault_tally t;

	c->s.local_cpu = false;
	fault_loop(&a, &t);
}

TEST(fs_adapter)
{
	struct l2_ctx c = { .base = harness_tmpdir(0) };

	l2_loop("fs", &c);
}

TEST(resp_adapter)
{
	struct redis_srv srv;
	struct l2_ctx c = { .redis = &srv };

	if (!redis_available())
		harness_skip("redis-server is not installed");
	CHECK_EQ(redis_start(&srv, harness_tmpdir(0), NULL, 20), 0);
	snprintf(c.json, sizeof(c.json), "{\"type\":\"resp\",\"url\":\"redis://127.0.0.1:%d\"}",
		 srv.port);
	c.s.l2_json = c.json;
	l2_loop("resp", &c);
	redis_kill(&srv);
}

TEST(pool_adapter)
{
	struct poold d;
	struct l2_ctx c = { 0 };

	if (!poold_path())
		harness_skip("kvtier-poold is not built");
	CHECK_EQ(poold_start(&d, "512M", NULL), 0);
	snprintf(c.json, sizeof(c.json),
		 "{\"type\":\"pool\",\"server\":\"%s\",\"rm\":\"%s\",\"size_gb\":0.001953125,"
		 "\"timeout_ms\":5000,\"heartbeat_ms\":100}", d.addr, d.rm);
	c.s.l2_json = c.json;
	l2_loop("pool", &c);
	CHECK_EQ(poold_stop(&d), 0);
}
