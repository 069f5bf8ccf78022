/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: allocation-failure injection over the engine API (issue 17
 * item 7): the YAML/JSON config loaders, kvt_open/kvt_close with L1 and
 * with a DAX tier, and each API call on an open instance, run with the Nth
 * wrapped allocation, mapping, eventfd, thread or hash-table creation
 * failing, for every N the call reaches (loop.h).  Each N must return a
 * result or an errno, leak no memory, fd or thread, and leave every chunk
 * stored before it readable byte for byte.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/fault/fault_kvt.h"
#include "tests/fault/loop.h"

#define STORED 24   /* ids [1, 25): stored before the fault, must survive it */
#define FRESH 100   /* ids [100, 116): what the armed call adds */
#define NFRESH 16

struct api_ctx {
	struct fk_setup s;
	struct kvt *kvt;
	/* the case's /dev/shm directory, made before the loop forks: a child
	 * _exit()s, so a directory it made would never be removed */
	const char *shm;
	long (*op)(struct api_ctx *c);
	/* what a fault the op's result does not show must have left in the
	 * stats, checked before the instance closes; may be NULL */
	void (*check)(struct api_ctx *c, long rc, bool fired);
	char yaml[256];
};

static void cleanup_files(struct api_ctx *c)
{
	if (c->s.dax)
		unlink(c->s.dax_path);
}

/* ---- the config loaders -------------------------------------------------- */

/* A call that takes an error buffer and fails must say why there, and a
 * failure caused by the fault is -ENOMEM, never a verdict on the input. */
static int config_step(int ret, const char *err)
{
	if (ret) {
		if (!err[0])
			harness_fail(__FILE__, __LINE__, "failed (%s) with no message", kvt_strerror(ret));
		if (fault_fired() && ret != -ENOMEM)
			harness_fail(__FILE__, __LINE__, "out of memory reported as %s: %s",
				     kvt_strerror(ret), err);
		if (!fault_fired())
			fprintf(stderr, "    config: %s\n", err);
	}
	return ret;
}

static long config_armed(void *arg)
{
	struct api_ctx *c = arg;
	struct kvt_config *cfg;
	char err[256] = "";
	const char *key;
	int ret, fd;

	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	ret = config_step(kvt_config_load_yaml(cfg, c->yaml, err, sizeof(err)), err);
	if (!ret)
		ret = config_step(kvt_config_add_l2_adapter(cfg, "{\"type\":\"fs\",\"base_path\":"
							    "\"/tmp/kvt-f\",\"io_depth\":8}",
							    err, sizeof(err)), err);
	if (!ret)
		ret = config_step(kvt_config_set(cfg, "dax.mode", "tiered", err, sizeof(err)), err);
	if (!ret)
		ret = config_step(kvt_config_check(cfg, err, sizeof(err)), err);
	if (!ret) {
		for (size_t i = 0; kvt_config_ignored(cfg, i, &key) == 0; i++)
			;
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		ret = fd < 0 ? -errno : kvt_config_dump(cfg, fd);
		if (fd >= 0)
			close(fd);
	}
	kvt_config_free(cfg);
	return ret;
}

static void config_write_yaml(struct api_ctx *c)
{
	FILE *f;

	snprintf(c->yaml, sizeof(c->yaml), "%s/lmcache.yaml", harness_tmpdir(0));
	f = fopen(c->yaml, "w");
	CHECK(f != NULL);
	fputs("chunk_size: 256\nlocal_cpu: true\nmax_local_cpu_size: 0.5\n"
	      "model_name: Qwen/Qwen2.5-0.5B\nsave_unfull_chunk: true\n"
	      "l2_adapters: '[{\"type\": \"fs\", \"base_path\": \"/tmp/kvt-fault-fs\"},"
	      " {\"type\": \"resp\", \"url\": \"redis://127.0.0.1:6399\"}]'\n"
	      "remote_url: null\nblocking_timeout_secs: 10\n", f);
	CHECK_EQ(fclose(f), 0);
}

TEST(config_loaders)
{
	struct api_ctx c = { 0 };
	struct fault_area a = { "config", FAULT_ONCE, false, &c, NULL, config_armed, NULL };
	struct fault_tally t;

	config_write_yaml(&c);
	fault_loop(&a, &t);
	a.mode = FAULT_PERSIST;
	fault_loop(&a, &t);
}

/* ---- open and close ------------------------------------------------------- */

/* The chunks a restart must find: stored and closed before the fault. */
static void open_setup(void *arg)
{
	struct api_ctx *c = arg;
	struct kvt *kvt;

	fk_paths(&c->s, c->shm);
	fk_open(&c->s, &kvt, true);
	CHECK_EQ(fk_put(kvt, 1, STORED), STORED);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(kvt_close(kvt), 0);
}

static long open_armed(void *arg)
{
	struct api_ctx *c = arg;
	struct kvt *kvt;
	int ret = fk_open(&c->s, &kvt, false);

	if (ret)
		return ret;
	return kvt_close(kvt);
}

static void open_verify(void *arg, long rc, bool fired)
{
	struct api_ctx *c = arg;
	struct kvt *kvt;

	fk_open(&c->s, &kvt, true);
	if (c->s.dax)
		fk_check_all(kvt, 1, STORED);
	CHECK_EQ(kvt_close(kvt), 0);
	cleanup_files(c);
}

static void open_close(const char *name, bool dax, bool metrics, enum fault_mode mode)
{
	struct api_ctx c = { .s = { .dax = dax, .big_dax = dax && strstr(name, "scan"),
				    .local_cpu = true, .metrics = metrics },
			     .shm = harness_tmpdir(1) };
	struct fault_area a = { name, mode, false, &c, open_setup, open_armed, open_verify };
	struct fault_tally t;

	fault_loop(&a, &t);
}

TEST(open_close_l1)
{
	open_close("open_close_l1", false, false, FAULT_ONCE);
	open_close("open_close_l1", false, false, FAULT_PERSIST);
}

/* with the Prometheus endpoint (metrics.listen) and its histograms */
TEST(open_close_metrics)
{
	open_close("open_close_metrics", false, true, FAULT_ONCE);
}

TEST(open_close_dax)
{
	open_close("open_close_dax", true, false, FAULT_ONCE);
	open_close("open_close_dax", true, false, FAULT_PERSIST);
}

/* a device large enough that recovery scans it on two threads: a thread
 * that does not start leaves its range to the caller */
TEST(open_close_dax_scan)
{
	open_close("open_close_dax_scan", true, false, FAULT_ONCE);
}

/* ---- each call on an open L1 + DAX instance ------------------------------- */

static void call_setup(void *arg)
{
	struct api_ctx *c = arg;

	fk_paths(&c->s, c->shm);
	fk_open(&c->s, &c->kvt, true);
	CHECK_EQ(fk_put(c->kvt, 1, STORED), STORED);
	CHECK_EQ(kvt_flush(c->kvt), 0);
}

static long call_armed(void *arg)
{
	struct api_ctx *c = arg;
	long ret = c->op(c);
	int fret = kvt_flush(c->kvt);

	/* what the background actors did for the call fails inside the window too */
	return ret < 0 ? ret : fret;
}

static void call_verify(void *arg, long rc, bool fired)
{
	struct api_ctx *c = arg;

	fk_check_all(c->kvt, 1, STORED);
	CHECK(fk_check_some(c->kvt, FRESH, NFRESH) >= 0);
	if (c->check)
		c->check(c, rc, fired);
	CHECK_EQ(kvt_close(c->kvt), 0);
	c->kvt = NULL;
	cleanup_files(c);
}

static long op_put(struct api_ctx *c)
{
	return fk_put(c->kvt, FRESH, NFRESH);
}

/* A put that failed no key yet hit the fault lost a write-through to DAX:
 * the chunk stays in L1, and the stats say so. */
static void put_check(struct api_ctx *c, long rc, bool fired)
{
	if (fired && rc >= 0 && c->s.local_cpu)
		CHECK(stats_of(c->kvt).dax_write_errors >= 1);
}

static long op_contains_pin(struct api_ctx *c)
{
	struct kvt_key keys[STORED + 2];
	ssize_t pinned, unpinned;

	for (int i = 0; i < STORED + 2; i++)
		keys[i] = key_of((uint64_t)i + 1);
	pinned = kvt_contains(c->kvt, keys, STORED + 2, KVT_PIN);
	if (pinned < 0)
		return pinned;
	unpinned = kvt_unpin(c->kvt, keys, (size_t)pinned);
	CHECK_EQ(unpinned, pinned);
	return kvt_contains(c->kvt, keys, STORED + 2, 0);
}

static long op_get(struct api_ctx *c)
{
	return fk_check_some(c->kvt, 1, STORED);
}

static int sink_check(void *arg, size_t index, const void *src, size_t len)
{
	unsigned char want[FK_CHUNK];

	fk_fill(index + 1, want);
	CHECK_EQ(len, (size_t)FK_CHUNK);
	CHECK(memcmp(src, want, FK_CHUNK) == 0);
	return 0;
}

static long op_get_sink(struct api_ctx *c)
{
	struct kvt_key keys[STORED];
	size_t out_lens[STORED];

	for (int i = 0; i < STORED; i++)
		keys[i] = key_of((uint64_t)i + 1);
	return kvt_get_sink(c->kvt, keys, STORED, sink_check, NULL, out_lens);
}

static long op_prefetch(struct api_ctx *c)
{
	static unsigned char out[STORED][FK_CHUNK];
	unsigned char want[FK_CHUNK];
	struct kvt_key keys[STORED];
	void *bufs[STORED];
	size_t lens[STORED], out_lens[STORED];
	struct pollfd pfd = { .fd = kvt_event_fd(c->kvt), .events = POLLIN };
	uint64_t done;
	int ret;

	for (int i = 0; i < STORED; i++) {
		keys[i] = key_of((uint64_t)i + 1);
		bufs[i] = out[i];
		lens[i] = FK_CHUNK;
		out_lens[i] = 0;
	}
	ret = kvt_prefetch(c->kvt, keys, STORED, bufs, lens, out_lens, NULL, NULL, NULL);
	if (ret)
		return ret;
	CHECK_EQ(poll(&pfd, 1, 20000), 1);
	CHECK_EQ(read(pfd.fd, &done, sizeof(done)), (ssize_t)sizeof(done));
	for (int i = 0; i < STORED; i++) {
		if (!out_lens[i])
			continue;
		fk_fill((uint64_t)i + 1, want);
		CHECK(memcmp(out[i], want, FK_CHUNK) == 0);
	}
	return 0;
}

static long op_lease(struct api_ctx *c)
{
	struct kvt_lease lease, view;
	struct kvt_key key = key_of(FRESH);
	int ret = kvt_reserve(c->kvt, &lease);

	if (ret)
		return ret;
	fk_fill(FRESH, lease.data);
	ret = kvt_commit(c->kvt, &lease, &key, FK_CHUNK);
	if (ret) {
		CHECK_EQ(kvt_release(c->kvt, &lease), 0);
		return ret;
	}
	ret = kvt_borrow(c->kvt, &key, &view);
	if (ret)
		return ret;
	return kvt_release(c->kvt, &view);
}

static long op_remove(struct api_ctx *c)
{
	struct kvt_key keys[NFRESH];
	long stored = fk_put(c->kvt, FRESH, NFRESH);

	if (stored < 0)
		return stored;
	for (int i = 0; i < NFRESH; i++)
		keys[i] = key_of(FRESH + (uint64_t)i);
	return kvt_remove(c->kvt, keys, NFRESH, 0, NULL);
}

static long op_stats(struct api_ctx *c)
{
	struct kvt_stats st;

	return kvt_stats(c->kvt, &st, sizeof(st));
}

static long op_prometheus(struct api_ctx *c)
{
	static char text[1 << 18];

	return kvt_stats_prometheus(c->kvt, text, sizeof(text));
}

/* @tier "l1": the chunks stored before are L1 hits (and written through
 * to DAX); "dax": L1 holds nothing (dax.mode primary), reads restore from
 * DAX.  @no_alloc: kvtier.h says the call allocates nothing there. */
static void each_call(const char *name, const char *tier, bool no_alloc,
		      long (*op)(struct api_ctx *c))
{
	struct api_ctx c = { .s = { .dax = true, .local_cpu = !strcmp(tier, "l1") },
			     .shm = harness_tmpdir(1), .op = op,
			     .check = op == op_put ? put_check : NULL };
	struct fault_area a = { NULL, FAULT_ONCE, no_alloc, &c, call_setup, call_armed,
				call_verify };
	char full[64];
	struct fault_tally t;

	snprintf(full, sizeof(full), "%s_%s", name, tier);
	a.name = full;
	fault_loop(&a, &t);
}

TEST(put)
{
	each_call("put", "l1", false, op_put);
	each_call("put", "dax", false, op_put);
}

TEST(contains_pin_unpin)
{
	each_call("contains_pin_unpin", "l1", true, op_contains_pin);
	each_call("contains_pin_unpin", "dax", true, op_contains_pin);
}

TEST(get)
{
	each_call("get", "l1", true, op_get);
	each_call("get", "dax", false, op_get);
}

TEST(get_sink)
{
	each_call("get_sink", "l1", false, op_get_sink);
	each_call("get_sink", "dax", false, op_get_sink);
}

TEST(prefetch)
{
	each_call("prefetch", "l1", false, op_prefetch);
	each_call("prefetch", "dax", false, op_prefetch);
}

TEST(reserve_commit_borrow_release)
{
	each_call("lease", "l1", false, op_lease);
}

TEST(remove)
{
	each_call("remove", "l1", false, op_remove);
	each_call("remove", "dax", false, op_remove);
}

TEST(stats)
{
	each_call("stats", "l1", true, op_stats);
	each_call("prometheus", "l1", false, op_prometheus);
}
