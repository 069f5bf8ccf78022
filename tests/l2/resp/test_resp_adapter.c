/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the "resp" L2 adapter (l2/resp/resp_adapter.c,
 * l2/resp/respio.c) driven through resp_l2_ops against real redis-server
 * processes each case starts (tests/common/redis.h): round trips of full
 * and partial chunks in one pipeline, chunks from empty to larger than
 * the reader's buffer and the writer's writes in one pipeline with
 * corrupt ones among them, per-key lookup bitmaps, locked
 * deletes, corrupt / truncated / foreign values, ttl, ACL AUTH (env
 * password, wrong password, missing password), a server stopped and then
 * killed mid-batch and its recovery, maxmemory noeviction refusals, and a
 * 3-master cluster: keys over every master, a migrating slot (ASK), a
 * moved slot (MOVED) and a master that died.  Every task's completion is
 * checked on its event fd and through on_done.  SKIPs when redis-server
 * is not installed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "l2/resp/resp_adapter.h"
#include "l2/resp/resp_conf.h"
#include "l2/resp/resp_slot.h"
#include "l2/resp/resp_value.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/l2_task.h"
#include "tools/common/redis_srv.h"
#include "kvtier/l2.h"

#define MAXN 512
#define WAIT_S 30

/* ---- helpers ---------------------------------------------------------- */

static void need_redis(void)
{
	if (!redis_available())
		SKIP("redis-server is not installed (apt-get install redis-server)");
}

static struct redis_srv *server(const char *args)
{
	static struct redis_srv srv[4];
	static int next;
	struct redis_srv *s = &srv[next++ % 4];

	need_redis();
	if (redis_start(s, harness_tmpdir(0), args, WAIT_S))
		harness_fail(__FILE__, __LINE__, "could not start redis-server %s", args ? args : "");
	return s;
}

static int resp_try(const char *url, const char *const *kv, struct kvt_l2_adapter **out,
		    char *err, size_t errlen)
{
	static const struct kvt_key seed = { 42, 43 };
	struct kvt_l2_param p[24];
	struct kvt_l2_config cfg = { .type = "resp", .params = p, .json = "{}", .ns_seed = &seed };
	size_t n = 0;

	p[n++] = (struct kvt_l2_param){ "type", "resp" };
	if (url)
		p[n++] = (struct kvt_l2_param){ "url", url };
	for (; kv && kv[0]; kv += 2)
		p[n++] = (struct kvt_l2_param){ kv[0], kv[1] };
	cfg.nparams = n;
	return resp_l2_ops.create(&cfg, NULL, out, err, errlen);
}

static const char *url_of(const struct redis_srv *s)
{
	static char bufs[4][64];
	static int next;
	char *u = bufs[next++ % 4];

	snprintf(u, 64, "redis://127.0.0.1:%d", s->port);
	return u;
}

static struct kvt_l2_adapter *resp_new(const struct redis_srv *s, const char *const *kv)
{
	struct kvt_l2_adapter *a = NULL;
	char err[512] = "";
	int ret = resp_try(url_of(s), kv, &a, err, sizeof(err));

	if (ret)
		harness_fail(__FILE__, __LINE__, "create: %d %s", ret, err);
	return a;
}

/* Store ids[0..n) with lengths len_of(id); returns the stored bitmap. */
static size_t store_ids(struct kvt_l2_adapter *a, const uint64_t *ids, size_t n,
			size_t (*len_of)(uint64_t), unsigned int salt, uint64_t *bm, int64_t *bytes)
{
	static struct kvt_key keys[MAXN];
	static void *bufs[MAXN];
	static size_t lens[MAXN];
	uint64_t local[MAXN / 64];
	int64_t b;

	CHECK(n <= MAXN);
	if (!bm)
		bm = local;
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(ids[i]);
		lens[i] = len_of(ids[i]);
		bufs[i] = malloc(lens[i] ? lens[i] : 1);
		l2t_fill(bufs[i], lens[i], ids[i], salt);
	}
	b = l2t_run(&resp_l2_ops, a, KVT_L2_STORE, keys, bufs, lens, n, bm, NULL);
	if (bytes)
		*bytes = b;
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	return l2t_popcount(bm, n);
}

/* Load ids[0..n) into buffers of @cap; count the verified hits (a set bit
 * with wrong bytes fails the case: never garbage in a set bit). */
static size_t load_ids(struct kvt_l2_adapter *a, const uint64_t *ids, size_t n, size_t cap,
		       size_t (*len_of)(uint64_t), unsigned int salt, uint64_t *bm)
{
	static struct kvt_key keys[MAXN];
	static void *bufs[MAXN];
	static size_t caps[MAXN], got[MAXN];
	uint64_t local[MAXN / 64];
	size_t hits = 0;

	CHECK(n <= MAXN);
	if (!bm)
		bm = local;
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(ids[i]);
		caps[i] = cap;
		bufs[i] = calloc(1, cap);
	}
	l2t_run(&resp_l2_ops, a, KVT_L2_LOAD, keys, bufs, caps, n, bm, got);
	for (size_t i = 0; i < n; i++) {
		if (kvt_l2_bit(bm, i)) {
			CHECK_EQ(got[i], len_of(ids[i]));
			CHECK(l2t_same(bufs[i], got[i], ids[i], salt));
			hits++;
		} else {
			CHECK_EQ(got[i], 0);
		}
		free(bufs[i]);
	}
	return hits;
}

static size_t len_full(uint64_t id)
{
	(void)id;
	return 256 * 1024;
}

/* full chunks, partial ones of odd sizes, and an empty one */
static size_t len_mixed(uint64_t id)
{
	return id % 3 == 0 ? 256 * 1024 : id % 3 == 1 ? 1 + (id * 7919) % 100000 : (id % 5 ? 17 : 0);
}

static size_t len_small(uint64_t id)
{
	return 1000 + id % 1000;
}

static void status_of(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	memset(st, 0, sizeof(*st));
	CHECK_EQ(resp_l2_ops.status(a, st), 0);
}

/* The value of "name=<n>" in a status detail. */
static unsigned long long detail(const struct kvt_l2_status *st, const char *name)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=", name);
	p = strstr(st->detail, pat);
	if (!p)
		harness_fail(__FILE__, __LINE__, "no %s in \"%s\"", name, st->detail);
	return strtoull(p + strlen(pat), NULL, 10);
}

static void key_name(const struct kvt_key *k, const char *head, char *out)
{
	struct resp_conf c = { 0 };

	c.keyhead_len = (size_t)snprintf(c.keyhead, sizeof(c.keyhead), "%s", head);
	resp_key_name(&c, k, out);
}

static long long int_cmd(const struct redis_srv *s, const char *fmt, const char *arg)
{
	redisReply *r = redis_cmd(s, fmt, arg);
	long long v = -1;

	CHECK(r != NULL);
	if (r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	freeReplyObject(r);
	return v;
}

static void ok_cmd(const struct redis_srv *s, const char *fmt, ...)
{
	redisContext *c = redis_connect(s);
	redisReply *r;
	va_list ap;

	CHECK(c != NULL);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (!r || r->type == REDIS_REPLY_ERROR)
		harness_fail(__FILE__, __LINE__, "%s: %s", fmt, r ? r->str : c->errstr);
	freeReplyObject(r);
	redisFree(c);
}

/* ---- one server ------------------------------------------------------- */

TEST(round_trip_full_and_partial_one_pipeline)
{
	struct redis_srv *s = server(NULL);
	const char *kv[] = { "ttl_s", "1000", NULL };
	struct kvt_l2_adapter *a = resp_new(s, kv);
	uint64_t ids[60], bm[1];
	size_t want = 0;
	struct kvt_l2_status st;
	char name[RESP_KEY_MAX];
	struct kvt_key k;
	int64_t bytes;

	for (size_t i = 0; i < 60; i++) {
		ids[i] = i + 1;
		want += len_mixed(ids[i]);
	}
	CHECK_EQ(store_ids(a, ids, 60, len_mixed, 1, bm, &bytes), 60);
	CHECK_EQ(bytes, (int64_t)want);
	status_of(a, &st);
	CHECK(st.is_healthy);
	CHECK_EQ(detail(&st, "round_trips"), 1);    /* one pipeline for 60 keys */
	CHECK_EQ(load_ids(a, ids, 60, 256 * 1024, len_mixed, 1, NULL), 60);
	status_of(a, &st);
	CHECK_EQ(detail(&st, "round_trips"), 2);
	/* stored again: NX keeps the first value, and counts it stored */
	CHECK_EQ(store_ids(a, ids, 60, len_mixed, 2, bm, &bytes), 60);
	CHECK_EQ(bytes, 0);
	CHECK_EQ(load_ids(a, ids, 60, 256 * 1024, len_mixed, 1, NULL), 60);
	/* a buffer too small is a miss, not a partial copy */
	CHECK_EQ(load_ids(a, (uint64_t[]){ 3, 6, 9 }, 3, 1000, len_mixed, 1, NULL), 0);
	/* ttl_s became an expiry */
	k = key_of(1);
	key_name(&k, "kvt:", name);
	CHECK(int_cmd(s, "TTL %s", name) > 900);
	resp_l2_ops.destroy(a);
}

/* sizes around the reader's and writer's thresholds: larger than a read
 * buffer and a write, just past and below the direct-read size, empty */
static size_t len_wide(uint64_t id)
{
	static const size_t lens[] = { (3 << 20) + 5, 100, 300 << 10, 0, 70000, 4095, 1 << 20 };

	return lens[id % (sizeof(lens) / sizeof(lens[0]))];
}

TEST(big_and_small_chunks_one_pipeline)
{
	struct redis_srv *s = server(NULL);
	struct kvt_l2_adapter *a = resp_new(s, NULL);
	static struct kvt_key keys[14];
	static void *bufs[14];
	size_t caps[14], got[14];
	uint64_t ids[14], bm[1];
	char name[RESP_KEY_MAX];
	struct kvt_l2_status st;
	int64_t bytes, want = 0;
	redisReply *r;

	for (size_t i = 0; i < 14; i++) {
		ids[i] = i;
		want += (int64_t)len_wide(i);
	}
	CHECK_EQ(store_ids(a, ids, 14, len_wide, 3, NULL, &bytes), 14);
	CHECK_EQ(bytes, want);
	status_of(a, &st);
	CHECK_EQ(detail(&st, "round_trips"), 1);
	CHECK(detail(&st, "bytes_out") > (unsigned long long)want + 14 * FSCHUNK_HDR);
	/* 7: a payload byte flipped deep in a big value; 9: cut after its header */
	keys[0] = key_of(7);
	key_name(&keys[0], "kvt:", name);
	ok_cmd(s, "SETRANGE %s 2000000 X", name);
	keys[0] = key_of(9);
	key_name(&keys[0], "kvt:", name);
	r = redis_cmd(s, "GETRANGE %s 0 5000", name);
	CHECK(r && r->type == REDIS_REPLY_STRING);
	ok_cmd(s, "SET %s %b", name, r->str, r->len);
	freeReplyObject(r);
	/* buffers of the exact size and of 4 MiB alternate in one pipeline */
	for (size_t i = 0; i < 14; i++) {
		keys[i] = key_of(i);
		caps[i] = i % 2 ? len_wide(i) : 4 << 20;
		bufs[i] = malloc(caps[i] ? caps[i] : 1);
	}
	l2t_run(&resp_l2_ops, a, KVT_L2_LOAD, keys, bufs, caps, 14, bm, got);
	for (size_t i = 0; i < 14; i++) {
		CHECK_ROW(i, kvt_l2_bit(bm, i) == (i != 7 && i != 9));
		if (kvt_l2_bit(bm, i)) {
			CHECK_ROW(i, got[i] == len_wide(i));
			CHECK_ROW(i, l2t_same(bufs[i], got[i], i, 3));
		}
		free(bufs[i]);
	}
	status_of(a, &st);
	CHECK_EQ(detail(&st, "round_trips"), 2 + 1);   /* the load, the deletes */
	CHECK_EQ(detail(&st, "corrupt"), 2);
	resp_l2_ops.destroy(a);
}

TEST(batch_lookup_bitmap_and_locks)
{
	struct redis_srv *s = server(NULL);
	struct kvt_l2_adapter *a = resp_new(s, NULL);
	static struct kvt_key keys[200];
	uint64_t stored[70], bm[4];
	size_t lens[200];
	int results[3];
	size_t n = 0;

	for (uint64_t id = 0; id < 200; id++)
		if (id % 3 == 0 && n < 70)
			stored[n++] = id;
	CHECK_EQ(store_ids(a, stored, n, len_small, 1, NULL, NULL), n);
	for (uint64_t id = 0; id < 200; id++)
		keys[id] = key_of(id);
	l2t_run(&resp_l2_ops, a, KVT_L2_LOOKUP, keys, NULL, NULL, 200, bm, lens);
	for (uint64_t id = 0; id < 200; id++) {
		bool in = id % 3 == 0 && id / 3 < 70;

		CHECK_ROW(id, kvt_l2_bit(bm, id) == in);
		CHECK_ROW(id, lens[id] == (in ? len_small(id) : 0));
	}
	/* lookup without lens is allowed */
	l2t_run(&resp_l2_ops, a, KVT_L2_LOOKUP, keys, NULL, NULL, 4, bm, NULL);
	CHECK(kvt_l2_bit(bm, 0) && !kvt_l2_bit(bm, 1) && kvt_l2_bit(bm, 3));
	/* key 0 and 3 are locked twice now, key 6 once: remove refuses them */
	CHECK_EQ(resp_l2_ops.remove(a, &keys[0], 3, results), 0);
	CHECK_EQ(results[0], -EBUSY);
	CHECK_EQ(results[1], -ENOENT);
	resp_l2_ops.unlock(a, &keys[0], 1);
	resp_l2_ops.unlock(a, &keys[0], 1);
	CHECK_EQ(resp_l2_ops.remove(a, &keys[0], 1, results), 1);
	CHECK_EQ(results[0], 0);
	CHECK_EQ(resp_l2_ops.remove(a, &keys[0], 1, results), 0);
	CHECK_EQ(results[0], -ENOENT);
	/* unlocking what is not locked does nothing */
	resp_l2_ops.unlock(a, &keys[1], 1);
	l2t_run(&resp_l2_ops, a, KVT_L2_LOOKUP, keys, NULL, NULL, 1, bm, lens);
	CHECK(!kvt_l2_bit(bm, 0));
	resp_l2_ops.destroy(a);
}

TEST(corrupt_truncated_foreign_values_miss)
{
	struct redis_srv *s = server(NULL);
	struct kvt_l2_adapter *a = resp_new(s, NULL);
	uint64_t ids[4] = { 1, 2, 3, 4 }, bm[1];
	char names[4][RESP_KEY_MAX];
	struct kvt_l2_status st;
	redisReply *r;

	CHECK_EQ(store_ids(a, ids, 4, len_full, 1, NULL, NULL), 4);
	for (int i = 0; i < 4; i++) {
		struct kvt_key k = key_of(ids[i]);

		key_name(&k, "kvt:", names[i]);
	}
	/* 1: a payload byte flipped; 2: truncated; 3: foreign; 4 untouched */
	ok_cmd(s, "SETRANGE %s 10000 X", names[0]);
	r = redis_cmd(s, "GETRANGE %s 0 100000", names[1]);
	CHECK(r && r->type == REDIS_REPLY_STRING);
	ok_cmd(s, "SET %s %b", names[1], r->str, r->len);
	freeReplyObject(r);
	ok_cmd(s, "SET %s hello", names[2]);
	CHECK_EQ(load_ids(a, ids, 4, 256 * 1024, len_full, 1, bm), 1);
	CHECK(kvt_l2_bit(bm, 3));
	/* the foreign value is shorter than a header: not even a lookup hit */
	{
		struct kvt_key k = key_of(3);
		size_t len;

		l2t_run(&resp_l2_ops, a, KVT_L2_LOOKUP, &k, NULL, NULL, 1, bm, &len);
		CHECK(!kvt_l2_bit(bm, 0));
	}
	status_of(a, &st);
	CHECK_EQ(detail(&st, "corrupt"), 3);
	CHECK_EQ(detail(&st, "corrupt_removed"), 3);
	CHECK_EQ(int_cmd(s, "EXISTS %s", names[0]), 0);
	/* so a store rewrites them */
	CHECK_EQ(store_ids(a, ids, 4, len_full, 1, NULL, NULL), 4);
	CHECK_EQ(load_ids(a, ids, 4, 256 * 1024, len_full, 1, NULL), 4);
	resp_l2_ops.destroy(a);
}

TEST(acl_auth)
{
	struct redis_srv *s = server(NULL);
	const char *user[] = { "username", "alice", NULL };
	const char *wrong[] = { "username", "alice", "password", "nope", NULL };
	struct kvt_l2_adapter *a = NULL;
	char err[512] = "", url[96];
	uint64_t ids[3] = { 7, 8, 9 };

	ok_cmd(s, "ACL SETUSER alice on >s3cret ~kvt:* +@all");
	ok_cmd(s, "ACL SETUSER default off");
	/* the password from the environment */
	setenv(RESP_PASSWORD_ENV, "s3cret", 1);
	a = resp_new(s, user);
	CHECK_EQ(store_ids(a, ids, 3, len_small, 1, NULL, NULL), 3);
	CHECK_EQ(load_ids(a, ids, 3, 4096, len_small, 1, NULL), 3);
	resp_l2_ops.destroy(a);
	a = NULL;
	/* in the URL, and wrong */
	unsetenv(RESP_PASSWORD_ENV);
	snprintf(url, sizeof(url), "redis://alice:bad@127.0.0.1:%d", s->port);
	CHECK_EQ(resp_try(url, NULL, &a, err, sizeof(err)), -EACCES);
	CHECK_HAS(err, "AUTH");
	CHECK_HAS(err, "WRONGPASS");
	CHECK(!strstr(err, ":bad@"));
	CHECK_EQ(resp_try(url_of(s), wrong, &a, err, sizeof(err)), -EACCES);
	CHECK_HAS(err, "WRONGPASS");
	/* none at all: the server says NOAUTH */
	CHECK_EQ(resp_try(url_of(s), NULL, &a, err, sizeof(err)), -EACCES);
	CHECK_HAS(err, "NOAUTH");
}

TEST(server_killed_mid_batch_then_recovers)
{
	struct redis_srv *s = server(NULL);
	const char *kv[] = { "timeout_ms", "500", NULL };
	struct kvt_l2_adapter *a = resp_new(s, kv);
	static struct kvt_key keys[32];
	static void *bufs[32];
	size_t lens[32];
	uint64_t bm[1], ids[2] = { 100, 101 };
	_Atomic int calls = 0;
	struct kvt_l2_task t = { .on_done = l2t_count_done, .arg = &calls, .bitmap = bm };
	struct kvt_l2_status st;
	struct timespec t0, t1;
	bool ok = false;

	for (int i = 0; i < 32; i++) {
		keys[i] = key_of((uint64_t)i);
		lens[i] = 1 << 20;
		bufs[i] = malloc(lens[i]);
		l2t_fill(bufs[i], lens[i], (uint64_t)i, 1);
	}
	/* stopped: the batch is surely in flight when the server dies */
	redis_signal(s, SIGSTOP);
	CHECK_EQ(resp_l2_ops.submit_store(a, keys, (const void *const *)bufs, lens, 32, &t), 0);
	usleep(200000);
	redis_kill(s);
	l2t_wait(&resp_l2_ops, a, KVT_L2_STORE, &t, &calls);
	CHECK_EQ(l2t_popcount(bm, 32), 0);
	CHECK(t.bytes < 0);
	/* a server that does not answer: bounded misses, never a hang */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(load_ids(a, ids, 2, 4096, len_small, 1, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(t1.tv_sec - t0.tv_sec < 20);
	status_of(a, &st);
	CHECK(!st.is_healthy);
	CHECK(st.errors >= 32);
	/* back on its port: the adapter reconnects (backoff at most 5 s) */
	CHECK_EQ(redis_restart(s, WAIT_S), 0);
	for (int i = 0; i < 300 && !ok; i++) {
		ok = store_ids(a, ids, 2, len_small, 1, NULL, NULL) == 2;
		if (!ok)
			usleep(100000);
	}
	CHECK(ok);
	CHECK_EQ(load_ids(a, ids, 2, 4096, len_small, 1, NULL), 2);
	status_of(a, &st);
	CHECK(st.is_healthy);
	CHECK(detail(&st, "reconnects") >= 1);
	for (int i = 0; i < 32; i++)
		free(bufs[i]);
	resp_l2_ops.destroy(a);
}

TEST(maxmemory_noeviction_store_failures_reported)
{
	struct redis_srv *s = server("--maxmemory 6mb --maxmemory-policy noeviction");
	struct kvt_l2_adapter *a = resp_new(s, NULL);
	uint64_t ids[64], bm[1], lbm[1];
	struct kvt_l2_status st;
	size_t stored;
	int64_t bytes;

	for (int i = 0; i < 64; i++)
		ids[i] = (uint64_t)i + 1000;
	stored = store_ids(a, ids, 64, len_full, 1, bm, &bytes);
	CHECK(stored > 0 && stored < 64);
	CHECK_EQ(bytes, (int64_t)(stored * len_full(0)));
	status_of(a, &st);
	CHECK_EQ(detail(&st, "refused"), 64 - stored);
	CHECK(st.errors >= 64 - stored);
	CHECK_HAS(st.detail, "OOM");
	/* what was stored loads whole; what was refused is a miss */
	CHECK_EQ(load_ids(a, ids, 64, 256 * 1024, len_full, 1, lbm), stored);
	CHECK_EQ(lbm[0], bm[0]);
	resp_l2_ops.destroy(a);
}

TEST(create_errors_named)
{
	struct redis_srv *s = server(NULL);
	const char *cl[] = { "cluster", "true", NULL };
	struct kvt_l2_adapter *a = NULL;
	char err[512] = "";
	struct kvt_l2_status st;

	CHECK_EQ(resp_try("rediss://127.0.0.1:1", NULL, &a, err, sizeof(err)), -EPROTONOSUPPORT);
	CHECK_HAS(err, "TLS");
	CHECK_EQ(resp_try("redis://127.0.0.1:notaport", NULL, &a, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "port");
	CHECK_EQ(resp_try(url_of(s), (const char *[]){ "bogus", "1", NULL }, &a, err,
			  sizeof(err)), -EINVAL);
	CHECK_HAS(err, "unknown key \"bogus\"");
	CHECK_EQ(resp_try(url_of(s), cl, &a, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "cluster support disabled");
	/* a database the server lacks */
	{
		char url[96];

		snprintf(url, sizeof(url), "redis://127.0.0.1:%d/99", s->port);
		CHECK_EQ(resp_try(url, NULL, &a, err, sizeof(err)), -EINVAL);
		CHECK_HAS(err, "SELECT");
	}
	/* nobody listening: created, unhealthy, misses */
	{
		int port = s->port;
		uint64_t ids[1] = { 5 };

		redis_kill(s);
		snprintf(err, sizeof(err), "redis://127.0.0.1:%d", port);
		CHECK_EQ(resp_try(err, NULL, &a, err, sizeof(err)), 0);
		status_of(a, &st);
		CHECK(!st.is_healthy);
		CHECK_HAS(st.detail, "connect");
		CHECK_EQ(load_ids(a, ids, 1, 4096, len_small, 1, NULL), 0);
		resp_l2_ops.destroy(a);
	}
}

TEST(destroy_completes_tasks_in_flight)
{
	struct redis_srv *s = server(NULL);
	struct kvt_l2_adapter *a = resp_new(s, NULL);
	static struct kvt_key keys[16];
	static void *bufs[16];
	size_t lens[16];
	uint64_t bm[8][1];
	_Atomic int calls = 0;
	struct kvt_l2_task t[8];
	int fds_before = harness_count_fds();

	(void)fds_before;
	for (int i = 0; i < 16; i++) {
		keys[i] = key_of((uint64_t)i);
		lens[i] = 100000;
		bufs[i] = calloc(1, lens[i]);
	}
	for (int i = 0; i < 8; i++) {
		t[i] = (struct kvt_l2_task){ .on_done = l2t_count_done, .arg = &calls, .bitmap = bm[i] };
		CHECK_EQ(resp_l2_ops.submit_store(a, keys, (const void *const *)bufs, lens, 16,
						  &t[i]), 0);
	}
	resp_l2_ops.destroy(a);
	CHECK_EQ(atomic_load(&calls), 8);
	for (int i = 0; i < 8; i++)
		CHECK(kvt_l2_task_done(&t[i]) && l2t_popcount(bm[i], 16) == 16);
	for (int i = 0; i < 16; i++)
		free(bufs[i]);
}

/* ---- a cluster of 3 masters ------------------------------------------- */

static struct redis_srv cl[3];

static void cluster(void)
{
	need_redis();
	if (redis_cluster_create(cl, 3, harness_tmpdir(0), 60))
		harness_fail(__FILE__, __LINE__, "could not form a 3-master cluster");
}

/* The node of @cl that owns @slot now, by CLUSTER SLOTS of node 0. */
static int owner_of(unsigned int slot)
{
	redisReply *r = redis_cmd(&cl[0], "CLUSTER SLOTS");
	int who = -1;

	CHECK(r && r->type == REDIS_REPLY_ARRAY);
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *e = r->element[i];

		if ((unsigned)e->element[0]->integer <= slot &&
		    slot <= (unsigned)e->element[1]->integer)
			for (int n = 0; n < 3; n++)
				if (e->element[2]->element[1]->integer == cl[n].port)
					who = n;
	}
	freeReplyObject(r);
	return who;
}

TEST(cluster_keys_spread_over_all_masters)
{
	const char *kv[] = { "cluster", "true", NULL };
	struct kvt_l2_adapter *a;
	uint64_t ids[300];
	struct kvt_l2_status st;

	cluster();
	a = resp_new(&cl[1], kv);
	for (int i = 0; i < 300; i++)
		ids[i] = (uint64_t)i * 31 + 5;
	CHECK_EQ(store_ids(a, ids, 300, len_small, 3, NULL, NULL), 300);
	for (int n = 0; n < 3; n++)
		CHECK(int_cmd(&cl[n], "DBSIZE%s", "") > 50);
	CHECK_EQ(load_ids(a, ids, 300, 4096, len_small, 3, NULL), 300);
	status_of(a, &st);
	CHECK(st.is_healthy);
	CHECK_EQ(detail(&st, "redirections"), 0);
	CHECK_EQ(detail(&st, "round_trips"), 6);   /* one per master per batch */
	resp_l2_ops.destroy(a);
}

/* A slot in migration (ASK), then moved (MOVED), still serves every key. */
TEST(cluster_ask_then_moved_slot_still_served)
{
	const char *kv[] = { "cluster", "true", "hash_tag", "grp", NULL };
	unsigned int slot = resp_key_slot("grp", 3);
	struct kvt_l2_adapter *a;
	uint64_t ids[20], bm[1];
	char src_id[41], dst_id[41], name[RESP_KEY_MAX];
	struct kvt_l2_status st;
	int src, dst;

	cluster();
	a = resp_new(&cl[0], kv);
	for (int i = 0; i < 20; i++)
		ids[i] = (uint64_t)i + 500;
	CHECK_EQ(store_ids(a, ids, 10, len_small, 4, NULL, NULL), 10);
	src = owner_of(slot);
	CHECK(src >= 0);
	dst = (src + 1) % 3;
	CHECK_EQ(int_cmd(&cl[src], "DBSIZE%s", ""), 10);
	CHECK_EQ(redis_node_id(&cl[src], src_id), 0);
	CHECK_EQ(redis_node_id(&cl[dst], dst_id), 0);
	ok_cmd(&cl[dst], "CLUSTER SETSLOT %u IMPORTING %s", slot, src_id);
	ok_cmd(&cl[src], "CLUSTER SETSLOT %u MIGRATING %s", slot, dst_id);
	/* half the keys move: the others are still on src */
	for (int i = 0; i < 5; i++) {
		struct kvt_key k = key_of(ids[i]);

		key_name(&k, "kvt:{grp}", name);
		ok_cmd(&cl[src], "MIGRATE 127.0.0.1 %d %s 0 5000", cl[dst].port, name);
	}
	CHECK_EQ(load_ids(a, ids, 10, 4096, len_small, 4, NULL), 10);
	status_of(a, &st);
	CHECK(detail(&st, "redirections") >= 5);
	/* new keys of a migrating slot go to the importing node (ASK) */
	CHECK_EQ(store_ids(a, ids + 10, 10, len_small, 4, bm, NULL), 10);
	CHECK_EQ(int_cmd(&cl[dst], "DBSIZE%s", ""), 15);
	CHECK_EQ(load_ids(a, ids, 20, 4096, len_small, 4, NULL), 20);
	/* finish: the slot belongs to dst; src answers MOVED */
	for (int i = 5; i < 10; i++) {
		struct kvt_key k = key_of(ids[i]);

		key_name(&k, "kvt:{grp}", name);
		ok_cmd(&cl[src], "MIGRATE 127.0.0.1 %d %s 0 5000", cl[dst].port, name);
	}
	for (int n = 0; n < 3; n++)
		ok_cmd(&cl[n], "CLUSTER SETSLOT %u NODE %s", slot, dst_id);
	CHECK_EQ(load_ids(a, ids, 20, 4096, len_small, 4, NULL), 20);
	status_of(a, &st);
	CHECK(detail(&st, "map_refreshes") >= 2);
	/* the map follows: no more redirections */
	{
		unsigned long long before = detail(&st, "redirections");

		CHECK_EQ(load_ids(a, ids, 20, 4096, len_small, 4, NULL), 20);
		status_of(a, &st);
		CHECK_EQ(detail(&st, "redirections"), before);
	}
	resp_l2_ops.destroy(a);
}

TEST(cluster_master_down_misses_and_unhealthy)
{
	const char *kv[] = { "cluster", "true", "timeout_ms", "500", NULL };
	struct kvt_l2_adapter *a;
	uint64_t ids[120], bm[2];
	struct kvt_l2_status st;
	size_t hits;

	cluster();
	a = resp_new(&cl[0], kv);
	for (int i = 0; i < 120; i++)
		ids[i] = (uint64_t)i + 9000;
	CHECK_EQ(store_ids(a, ids, 120, len_small, 5, NULL, NULL), 120);
	redis_kill(&cl[2]);
	hits = load_ids(a, ids, 120, 4096, len_small, 5, bm);
	CHECK(hits > 40 && hits < 120);
	status_of(a, &st);
	CHECK(!st.is_healthy);
	CHECK(st.errors > 0);
	/* the live masters keep serving their keys, batch after batch */
	CHECK_EQ(load_ids(a, ids, 120, 4096, len_small, 5, NULL), hits);
	resp_l2_ops.destroy(a);
}
