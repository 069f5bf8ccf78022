/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the "pool" L2 adapter (l2/pool/pool_adapter.c,
 * l2/pool/poolclient.c) driven through pool_l2_ops against a real
 * kvtier-poold each case starts (tests/common/poold.h): round trips of
 * full, partial and empty chunks, per-key lookup bitmaps and lengths,
 * pins refusing removes until unlock, two processes sharing chunks in
 * place (the reader maps the writer's region), bytes corrupted in the
 * region by hand, a killed daemon (unhealthy, misses, bounded), auto
 * expansion and its absence, the pages of keys another instance deleted
 * reclaimed (and only those), a connection the daemon dropped for a lapsed
 * lease renewed with fresh regions, a client killed with -9 while holding pins,
 * two adapters racing on the same keys, config errors, and two engine
 * instances sharing chunks through kvt_open.  Every task's completion is
 * checked on its event fd and through on_done.  SKIPs when kvtier-poold
 * is not built.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "l2/fschunk.h"
#include "l2/pool/pool_adapter.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/l2_task.h"
#include "tests/common/poold.h"
#include "kvtier/l2.h"

#define MAXN 128
#define CHUNK (64 * 1024)            /* max_chunk_bytes: pages of 68 KiB */
#define REGION_GB "0.001953125"      /* 2 MiB: 30 pages */
#define REGION_PAGES 30

/* ---- helpers ---------------------------------------------------------- */

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

static int pool_try(const struct poold *d, const char *const *kv, struct kvt_l2_adapter **out,
		    char *err, size_t errlen)
{
	static const struct kvt_key seed = { 42, 43 };
	static char chunk[32];
	struct kvt_l2_param p[24];
	struct kvt_l2_config cfg = { .type = "pool", .params = p, .json = "{}", .ns_seed = &seed };
	size_t n = 0;

	snprintf(chunk, sizeof(chunk), "%d", CHUNK);
	p[n++] = (struct kvt_l2_param){ "type", "pool" };
	if (d) {
		p[n++] = (struct kvt_l2_param){ "server", d->addr };
		p[n++] = (struct kvt_l2_param){ "rm", d->rm };
	}
	p[n++] = (struct kvt_l2_param){ "max_chunk_bytes", chunk };
	for (; kv && kv[0]; kv += 2) {
		size_t j;

		/* a later value of a key replaces the default above */
		for (j = 0; j < n && strcmp(p[j].key, kv[0]); j++)
			;
		p[j] = (struct kvt_l2_param){ kv[0], kv[1] };
		n += j == n;
	}
	cfg.nparams = n;
	return pool_l2_ops.create(&cfg, NULL, out, err, errlen);
}

static struct kvt_l2_adapter *pool_new(const struct poold *d, const char *const *kv)
{
	static const char *const defaults[] = { "size_gb", REGION_GB, "timeout_ms", "2000",
						"heartbeat_ms", "100", NULL };
	const char *all[32];
	struct kvt_l2_adapter *a = NULL;
	char err[512] = "";
	size_t n = 0;
	int ret;

	for (const char *const *k = defaults; *k; k++)
		all[n++] = *k;
	for (; kv && *kv; kv++)
		all[n++] = *kv;
	all[n] = NULL;
	/* a short timeout_ms (a case bounding what follows a daemon's death)
	 * can miss the first HANDSHAKE under a loaded sanitizer build: only
	 * a timeout is tried again, a few times */
	for (int tries = 0; tries < 5; tries++) {
		ret = pool_try(d, all, &a, err, sizeof(err));
		if (ret != -ETIMEDOUT)
			break;
	}
	if (ret)
		harness_fail(__FILE__, __LINE__, "create: %d %s", ret, err);
	return a;
}

static void keys_of(const uint64_t *ids, size_t n, struct kvt_key *keys)
{
	for (size_t i = 0; i < n; i++)
		keys[i] = key_of(ids[i]);
}

/* Store ids[0..n) with lengths len_of(id); returns the keys stored. */
static size_t store_ids(struct kvt_l2_adapter *a, const uint64_t *ids, size_t n,
			size_t (*len_of)(uint64_t), unsigned int salt, uint64_t *bm, int64_t *bytes)
{
	struct kvt_key keys[MAXN];
	void *bufs[MAXN];
	size_t lens[MAXN];
	uint64_t local[MAXN / 64];
	int64_t b;

	CHECK(n <= MAXN);
	if (!bm)
		bm = local;
	keys_of(ids, n, keys);
	for (size_t i = 0; i < n; i++) {
		lens[i] = len_of(ids[i]);
		bufs[i] = malloc(lens[i] ? lens[i] : 1);
		l2t_fill(bufs[i], lens[i], ids[i], salt);
	}
	b = l2t_run(&pool_l2_ops, a, KVT_L2_STORE, keys, bufs, lens, n, bm, NULL);
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
	struct kvt_key keys[MAXN];
	void *bufs[MAXN];
	size_t caps[MAXN], got[MAXN];
	uint64_t local[MAXN / 64];
	size_t hits = 0;

	CHECK(n <= MAXN);
	if (!bm)
		bm = local;
	keys_of(ids, n, keys);
	for (size_t i = 0; i < n; i++) {
		caps[i] = cap;
		bufs[i] = calloc(1, cap ? cap : 1);
	}
	l2t_run(&pool_l2_ops, a, KVT_L2_LOAD, keys, bufs, caps, n, bm, got);
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

static size_t lookup_ids(struct kvt_l2_adapter *a, const uint64_t *ids, size_t n, uint64_t *bm,
			 size_t *lens)
{
	struct kvt_key keys[MAXN];
	uint64_t local[MAXN / 64];

	if (!bm)
		bm = local;
	keys_of(ids, n, keys);
	l2t_run(&pool_l2_ops, a, KVT_L2_LOOKUP, keys, NULL, NULL, n, bm, lens);
	return l2t_popcount(bm, n);
}

static void unlock_ids(struct kvt_l2_adapter *a, const uint64_t *ids, size_t n)
{
	struct kvt_key keys[MAXN];

	keys_of(ids, n, keys);
	pool_l2_ops.unlock(a, keys, n);
}

static ssize_t remove_ids(struct kvt_l2_adapter *a, const uint64_t *ids, size_t n, int *res)
{
	struct kvt_key keys[MAXN];

	keys_of(ids, n, keys);
	return pool_l2_ops.remove(a, keys, n, res);
}

static size_t len_full(uint64_t id)
{
	(void)id;
	return CHUNK;
}

/* full chunks, partial ones of odd sizes, and empty ones */
static size_t len_mixed(uint64_t id)
{
	return id % 3 == 0 ? CHUNK : id % 3 == 1 ? 1 + (id * 7919) % (CHUNK - 1) : (id % 2 ? 17 : 0);
}

static void status_of(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	memset(st, 0, sizeof(*st));
	CHECK_EQ(pool_l2_ops.status(a, st), 0);
}

/* The value of "name=" in a status detail. */
static uint64_t detail(struct kvt_l2_adapter *a, const char *name)
{
	struct kvt_l2_status st;
	char pat[64];
	const char *p;

	status_of(a, &st);
	/* a whole name: "errors" is not the tail of "rpc_errors" */
	snprintf(pat, sizeof(pat), " %s=", name);
	if (!strncmp(st.detail, pat + 1, strlen(pat + 1)))
		return strtoull(st.detail + strlen(pat + 1), NULL, 10);
	p = strstr(st.detail, pat);
	if (!p)
		harness_fail(__FILE__, __LINE__, "no %s in \"%s\"", name, st.detail);
	return strtoull(p + strlen(pat), NULL, 10);
}

static uint64_t daemon_stat(const struct poold *d, const char *sec, const char *name)
{
	uint64_t v = 0;

	CHECK_EQ(poold_stat(d, sec, name, &v), 0);
	return v;
}

static void range(uint64_t *ids, size_t n, uint64_t first)
{
	for (size_t i = 0; i < n; i++)
		ids[i] = first + i;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- cases ------------------------------------------------------------ */

TEST(round_trip_full_partial_and_empty_chunks)
{
	struct poold *d = daemon_up(NULL);
	struct kvt_l2_adapter *a = pool_new(d, NULL);
	uint64_t ids[MAXN], bm[MAXN / 64];
	size_t lens[MAXN];
	int64_t bytes, want = 0;
	struct kvt_l2_status st;

	range(ids, 24, 100);
	for (size_t i = 0; i < 20; i++)
		want += (int64_t)len_mixed(ids[i]);
	CHECK_EQ(store_ids(a, ids, 20, len_mixed, 1, bm, &bytes), 20);
	CHECK_EQ(bytes, want);
	CHECK_EQ(detail(a, "stores"), 20);
	CHECK_EQ(detail(a, "pages_used"), 20);

	/* lookup: a bit and a length per hit, wherever it sits in the batch */
	ids[20] = 5;
	ids[21] = 100;  /* again: pinned twice */
	CHECK_EQ(lookup_ids(a, ids, 22, bm, lens), 21);
	for (size_t i = 0; i < 22; i++) {
		CHECK_ROW(i, kvt_l2_bit(bm, i) == (i != 20));
		CHECK_ROW(i, lens[i] == (i == 20 ? 0 : len_mixed(ids[i])));
	}
	CHECK_EQ(daemon_stat(d, "kv_manager", "total_pins"), 21);
	unlock_ids(a, ids, 22);
	/* the unpins go out with the next RPC (or when idle) */
	CHECK_EQ(load_ids(a, ids, 22, CHUNK, len_mixed, 1, bm), 21);
	CHECK_EQ(daemon_stat(d, "kv_manager", "total_pins"), 0);

	/* a buffer too small for a chunk is a miss for it alone */
	range(ids, 3, 100);  /* 100: 17 bytes? see len_mixed */
	{
		size_t small = 100, hits = 0;
		uint64_t bm2[1];

		hits = load_ids(a, ids, 3, small, len_mixed, 1, bm2);
		for (size_t i = 0; i < 3; i++)
			CHECK_ROW(i, kvt_l2_bit(bm2, i) == (len_mixed(ids[i]) <= small));
		(void)hits;
	}

	/* storing again rewrites nothing and counts as stored */
	range(ids, 20, 100);
	CHECK_EQ(store_ids(a, ids, 20, len_mixed, 9, bm, &bytes), 20);
	CHECK_EQ(bytes, 0);
	CHECK_EQ(detail(a, "pages_used"), 20);
	CHECK_EQ(load_ids(a, ids, 20, CHUNK, len_mixed, 1, bm), 20);

	/* larger than max_chunk_bytes: refused, the rest stored */
	{
		static uint8_t big[CHUNK + 1], ok[10];
		struct kvt_key k[2] = { key_of(900), key_of(901) };
		void *b[2] = { big, ok };
		size_t l[2] = { sizeof(big), sizeof(ok) };

		l2t_run(&pool_l2_ops, a, KVT_L2_STORE, k, b, l, 2, bm, NULL);
		CHECK(!kvt_l2_bit(bm, 0));
		CHECK(kvt_l2_bit(bm, 1));
	}
	status_of(a, &st);
	CHECK(st.is_healthy);
	CHECK_EQ(st.chunks, 21);
	CHECK_EQ(st.capacity_bytes, (uint64_t)REGION_PAGES * CHUNK);
	CHECK_HAS(st.detail, "regions=1 ");
	CHECK_HAS(st.detail, "foreign_regions=0 ");
	pool_l2_ops.destroy(a);
	/* destroy returned the region; its keys keep it alive for others */
	CHECK_EQ(daemon_stat(d, "allocation_manager", "num_allocations"), 1);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(two_processes_share_chunks_in_place)
{
	struct poold *d = daemon_up(NULL);
	int up[2], down[2];
	uint64_t ids[16], bm[1];
	struct kvt_l2_adapter *b;
	struct maru_handle h;
	uint64_t off, len;
	uint8_t *map;
	pid_t pid;
	char c;
	int st;

	range(ids, 16, 7000);
	CHECK_EQ(pipe(up), 0);
	CHECK_EQ(pipe(down), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* writer: its own process, its own adapter and region; it dies
		 * with the case, and sees EOF if the case fails first */
		struct kvt_l2_adapter *a;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(up[0]);
		close(down[1]);
		a = pool_new(d, NULL);
		{
		int ok = store_ids(a, ids, 16, len_mixed, 3, NULL, NULL) == 16;

		c = ok ? 'y' : 'n';
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(3);
		pool_l2_ops.destroy(a);
		_exit(ok ? 0 : 2);
		}
	}
	close(up[1]);
	close(down[0]);
	CHECK_EQ(read(up[0], &c, 1), 1);
	CHECK_EQ(c, 'y');
	b = pool_new(d, NULL);
	CHECK_EQ(lookup_ids(b, ids, 16, bm, NULL), 16);
	unlock_ids(b, ids, 16);
	CHECK_EQ(load_ids(b, ids, 16, CHUNK, len_mixed, 3, bm), 16);
	/* B read A's region in place: one foreign mapping, nothing stored by B */
	CHECK_EQ(detail(b, "foreign_regions"), 1);
	CHECK_EQ(detail(b, "foreign_loads"), 16);
	CHECK_EQ(detail(b, "pages_used"), 0);
	/* and a byte A's region changes is what B reads next: zero copy */
	{
		struct kvt_key k0 = key_of(ids[0]);

		CHECK_EQ(poold_lookup(d, &k0, &h, &off, &len), 1);
	}
	CHECK_EQ(len, FSCHUNK_HDR + len_mixed(ids[0]));
	map = poold_map(d, &h);
	CHECK(map);
	CHECK(l2t_same(map + off + FSCHUNK_HDR, len - FSCHUNK_HDR, ids[0], 3));
	map[off + FSCHUNK_HDR] ^= 0x40;
	CHECK_EQ(load_ids(b, ids, 1, CHUNK, len_mixed, 3, bm), 0);
	CHECK_EQ(detail(b, "corrupt"), 1);
	map[off + FSCHUNK_HDR] ^= 0x40;
	CHECK_EQ(load_ids(b, ids, 1, CHUNK, len_mixed, 3, bm), 1);
	munmap(map, h.length);

	c = 'x';
	CHECK_EQ(write(down[1], &c, 1), 1);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the writer is gone; its chunks stay readable until deleted */
	CHECK_EQ(load_ids(b, ids, 16, CHUNK, len_mixed, 3, bm), 16);
	CHECK_EQ(remove_ids(b, ids, 16, NULL), 16);
	CHECK_EQ(daemon_stat(d, "allocation_manager", "num_allocations"), 1); /* B's own */
	pool_l2_ops.destroy(b);
	CHECK_EQ(daemon_stat(d, "allocation_manager", "num_allocations"), 0);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(lookup_pins_refuse_remove_until_unlock)
{
	struct poold *d = daemon_up(NULL);
	struct kvt_l2_adapter *a = pool_new(d, NULL);
	uint64_t ids[4], bm[1];
	int res[4];

	range(ids, 4, 50);
	CHECK_EQ(store_ids(a, ids, 3, len_full, 1, NULL, NULL), 3);
	CHECK_EQ(lookup_ids(a, ids, 2, bm, NULL), 2);
	CHECK_EQ(remove_ids(a, ids, 4, res), 1);
	CHECK_EQ(res[0], -EBUSY);
	CHECK_EQ(res[1], -EBUSY);
	CHECK_EQ(res[2], 0);
	CHECK_EQ(res[3], -ENOENT);
	CHECK_EQ(detail(a, "pages_used"), 2);
	unlock_ids(a, ids, 1);
	CHECK_EQ(remove_ids(a, ids, 2, res), 1);
	CHECK_EQ(res[0], 0);
	CHECK_EQ(res[1], -EBUSY);
	unlock_ids(a, ids + 1, 1);
	unlock_ids(a, ids + 1, 1);  /* not locked: does nothing */
	CHECK_EQ(remove_ids(a, ids + 1, 1, res), 1);
	CHECK_EQ(detail(a, "pages_used"), 0);
	CHECK_EQ(load_ids(a, ids, 3, CHUNK, len_full, 1, bm), 0);
	CHECK_EQ(daemon_stat(d, "kv_manager", "total_pins"), 0);
	pool_l2_ops.destroy(a);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(bytes_corrupted_in_the_region_are_misses)
{
	struct poold *d = daemon_up(NULL);
	struct kvt_l2_adapter *a = pool_new(d, NULL);
	uint64_t ids[4], bm[1];
	struct maru_handle h[4];
	uint64_t off[4], len[4];
	uint8_t *map;

	range(ids, 4, 300);
	CHECK_EQ(store_ids(a, ids, 4, len_full, 5, NULL, NULL), 4);
	for (int i = 0; i < 4; i++) {
		struct kvt_key k = key_of(ids[i]);

		CHECK_EQ(poold_lookup(d, &k, &h[i], &off[i], &len[i]), 1);
	}
	map = poold_map(d, &h[0]);
	CHECK(map);
	map[off[0] + FSCHUNK_HDR + CHUNK - 1] ^= 1;   /* payload bit flip */
	map[off[1] + 40] ^= 0x80;                     /* header bit flip */
	memset(map + off[2], 0, 64);                  /* foreign / torn header */
	CHECK_EQ(load_ids(a, ids, 4, CHUNK, len_full, 5, bm), 1);
	CHECK(kvt_l2_bit(bm, 3));
	CHECK_EQ(detail(a, "corrupt"), 3);
	munmap(map, h[0].length);
	pool_l2_ops.destroy(a);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(killed_daemon_is_unhealthy_and_nothing_hangs)
{
	struct poold *d = daemon_up(NULL);
	static const char *const kv[] = { "timeout_ms", "300", NULL };
	struct kvt_l2_adapter *a = pool_new(d, kv);
	uint64_t ids[8], bm[1], t0;
	struct kvt_l2_status st;
	int res[8];

	range(ids, 8, 1);
	CHECK_EQ(store_ids(a, ids, 4, len_full, 1, NULL, NULL), 4);
	status_of(a, &st);
	CHECK(st.is_healthy);
	poold_kill(d);
	for (int i = 0; i < 100; i++) {
		status_of(a, &st);
		if (!st.is_healthy)
			break;
		usleep(50000);
	}
	CHECK(!st.is_healthy);
	t0 = ms_now();
	CHECK_EQ(lookup_ids(a, ids, 4, bm, NULL), 0);
	CHECK_EQ(load_ids(a, ids, 4, CHUNK, len_full, 1, bm), 0);
	CHECK_EQ(store_ids(a, ids + 4, 4, len_full, 1, bm, NULL), 0);
	CHECK(remove_ids(a, ids, 8, res) == 0);
	for (int i = 0; i < 8; i++)
		CHECK_ROW(i, res[i] < 0);
	unlock_ids(a, ids, 4);
	pool_l2_ops.destroy(a);
	/* every request is bounded by timeout_ms (300): no hang */
	CHECK(ms_now() - t0 < 20000);
}

TEST(auto_expand_takes_more_regions)
{
	struct poold *d = daemon_up(NULL);
	struct kvt_l2_adapter *a = pool_new(d, NULL);
	static const char *const off[] = { "auto_expand", "false", NULL };
	struct kvt_l2_adapter *b;
	uint64_t ids[MAXN], bm[MAXN / 64];

	range(ids, 70, 1000);
	CHECK_EQ(store_ids(a, ids, 70, len_full, 2, NULL, NULL), 70);
	CHECK_EQ(detail(a, "regions"), 3);
	CHECK_EQ(detail(a, "expansions"), 2);
	CHECK_EQ(detail(a, "pages_used"), 70);
	CHECK_EQ(load_ids(a, ids, 70, CHUNK, len_full, 2, bm), 70);

	b = pool_new(d, off);
	range(ids, 40, 5000);
	CHECK_EQ(store_ids(b, ids, 40, len_full, 2, bm, NULL), REGION_PAGES);
	for (size_t i = 0; i < 40; i++)
		CHECK_ROW(i, kvt_l2_bit(bm, i) == (i < REGION_PAGES));
	CHECK_EQ(detail(b, "regions"), 1);
	CHECK_EQ(detail(b, "errors"), 10);
	/* removing frees pages for new chunks */
	CHECK_EQ(remove_ids(b, ids, 5, NULL), 5);
	CHECK_EQ(store_ids(b, ids + 30, 10, len_full, 2, bm, NULL), 5);
	pool_l2_ops.destroy(b);
	pool_l2_ops.destroy(a);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(pages_of_keys_another_instance_deleted_are_reclaimed)
{
	struct poold *d = daemon_up(NULL);
	static const char *const fixed[] = { "auto_expand", "false", NULL };
	struct kvt_l2_adapter *a = pool_new(d, fixed), *b = pool_new(d, NULL);
	uint64_t ids[MAXN], bm[MAXN / 64];

	/* A fills its one region; B deletes ten of A's keys, which only tells B */
	range(ids, REGION_PAGES, 2000);
	CHECK_EQ(store_ids(a, ids, REGION_PAGES, len_full, 6, NULL, NULL), REGION_PAGES);
	CHECK_EQ(remove_ids(b, ids, 10, NULL), 10);
	CHECK_EQ(detail(a, "pages_free"), 0);
	/* A's next store finds no free page: it frees those ten, and only those */
	range(ids + REGION_PAGES, 12, 3000);
	CHECK_EQ(store_ids(a, ids + REGION_PAGES, 12, len_mixed, 7, bm, NULL), 10);
	for (size_t i = 0; i < 12; i++)
		CHECK_ROW(i, kvt_l2_bit(bm, i) == (i < 10));
	CHECK_EQ(detail(a, "reclaimed"), 10);
	CHECK_EQ(detail(a, "regions"), 1);
	CHECK_EQ(detail(a, "pages_used"), REGION_PAGES);
	/* what A kept and what it stored over the freed pages read back intact */
	CHECK_EQ(load_ids(b, ids + 10, REGION_PAGES - 10, CHUNK, len_full, 6, NULL),
		 REGION_PAGES - 10);
	CHECK_EQ(load_ids(b, ids + REGION_PAGES, 10, CHUNK, len_mixed, 7, NULL), 10);
	/* a full region of live keys: a reclaim frees nothing */
	CHECK_EQ(store_ids(a, ids + REGION_PAGES + 10, 2, len_full, 7, bm, NULL), 0);
	CHECK_EQ(detail(a, "reclaimed"), 10);
	CHECK_EQ(detail(a, "errors"), 4);
	pool_l2_ops.destroy(b);
	pool_l2_ops.destroy(a);
	CHECK_EQ(daemon_stat(d, "kv_manager", "total_entries"), REGION_PAGES);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(a_connection_the_daemon_dropped_is_renewed)
{
	struct poold *d = daemon_up("--client-lease-ms 500");
	/* no heartbeat within the lease: a stalled process, as the daemon sees it */
	static const char *const stalled[] = { "heartbeat_ms", "60000", NULL };
	struct kvt_l2_adapter *a = pool_new(d, stalled), *b;
	uint64_t ids[10], bm[1];

	range(ids, 10, 4000);
	CHECK_EQ(store_ids(a, ids, 5, len_full, 8, NULL, NULL), 5);
	for (int i = 0; i < 200 && !daemon_stat(d, "server", "leases_expired"); i++)
		usleep(10000);
	CHECK_EQ(daemon_stat(d, "server", "leases_expired"), 1);
	/* its region went with its connection: the next store finds that out
	 * (its last answer is older than half the lease) before it writes a
	 * page, and binds again with a fresh region */
	CHECK_EQ(store_ids(a, ids + 5, 5, len_full, 8, bm, NULL), 5);
	CHECK_EQ(detail(a, "renewals"), 1);
	CHECK_EQ(detail(a, "regions"), 1);
	CHECK_EQ(detail(a, "pages_used"), 5);
	/* the old region's keys stay readable, mapped read-only now */
	CHECK_EQ(detail(a, "foreign_regions"), 1);
	CHECK_EQ(load_ids(a, ids, 10, CHUNK, len_full, 8, NULL), 10);
	b = pool_new(d, NULL);
	CHECK_EQ(load_ids(b, ids, 10, CHUNK, len_full, 8, NULL), 10);
	CHECK_EQ(remove_ids(b, ids, 10, NULL), 10);
	pool_l2_ops.destroy(b);
	pool_l2_ops.destroy(a);
	/* the old region went with its last key, the new one at destroy */
	CHECK_EQ(daemon_stat(d, "allocation_manager", "num_allocations"), 0);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(a_stalled_instance_never_writes_into_a_region_given_away)
{
	struct poold *d = daemon_up("--client-lease-ms 400");
	static const char *const stalled[] = { "heartbeat_ms", "60000", NULL };
	struct kvt_l2_adapter *a = pool_new(d, stalled), *b;
	uint64_t ids[8];
	size_t stored;

	range(ids, 8, 5000);
	/* A's first region is empty when its lease runs out: the daemon frees
	 * it at once, and B's first region takes the same extent */
	for (int i = 0; i < 200 && !daemon_stat(d, "server", "leases_expired"); i++)
		usleep(10000);
	CHECK_EQ(daemon_stat(d, "server", "leases_expired"), 1);
	b = pool_new(d, NULL);
	CHECK_EQ(store_ids(b, ids, 4, len_full, 3, NULL, NULL), 4);
	/* A wakes up and stores: it must renew first, not write its old
	 * pages, which are B's now */
	stored = store_ids(a, ids + 4, 4, len_full, 4, NULL, NULL);
	CHECK_EQ(load_ids(b, ids, 4, CHUNK, len_full, 3, NULL), 4);
	CHECK_EQ(stored, 4);
	CHECK_EQ(detail(a, "renewals"), 1);
	CHECK_EQ(load_ids(b, ids + 4, 4, CHUNK, len_full, 4, NULL), 4);
	CHECK_EQ(remove_ids(b, ids, 8, NULL), 8);
	pool_l2_ops.destroy(b);
	pool_l2_ops.destroy(a);
	CHECK_EQ(daemon_stat(d, "allocation_manager", "num_allocations"), 0);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(client_killed_holding_pins_loses_them)
{
	struct poold *d = daemon_up("--client-lease-ms 1000");
	uint64_t ids[5];
	struct kvt_l2_adapter *b;
	int up[2], res[5];
	pid_t pid;
	char c;

	range(ids, 5, 40);
	CHECK_EQ(pipe(up), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct kvt_l2_adapter *a;
		uint64_t bm[1];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(up[0]);
		a = pool_new(d, NULL);

		c = store_ids(a, ids, 5, len_full, 1, NULL, NULL) == 5 &&
		    lookup_ids(a, ids, 5, bm, NULL) == 5 ? 'y' : 'n';
		if (write(up[1], &c, 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(up[1]);
	CHECK_EQ(read(up[0], &c, 1), 1);
	CHECK_EQ(c, 'y');
	CHECK_EQ(daemon_stat(d, "kv_manager", "total_pins"), 5);
	b = pool_new(d, NULL);
	CHECK_EQ(remove_ids(b, ids, 5, res), 0);
	CHECK_EQ(res[0], -EBUSY);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (int i = 0; i < 100 && daemon_stat(d, "kv_manager", "total_pins"); i++)
		usleep(50000);
	CHECK_EQ(daemon_stat(d, "kv_manager", "total_pins"), 0);
	/* its chunks stay readable, now unpinned: another client deletes them */
	CHECK_EQ(load_ids(b, ids, 5, CHUNK, len_full, 1, NULL), 5);
	CHECK_EQ(remove_ids(b, ids, 5, res), 5);
	pool_l2_ops.destroy(b);
	CHECK_EQ(poold_stop(d), 0);
}

struct racer {
	struct kvt_l2_adapter *a;
	uint64_t ids[60];
	size_t stored;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	uint64_t bm[1];

	r->stored = store_ids(r->a, r->ids, 60, len_full, 4, bm, NULL);
	return NULL;
}

TEST(two_adapters_racing_on_the_same_keys_keep_one_copy)
{
	struct poold *d = daemon_up(NULL);
	struct racer r[2];
	pthread_t t[2];
	uint64_t bm[1];

	for (int i = 0; i < 2; i++) {
		r[i].a = pool_new(d, NULL);
		range(r[i].ids, 60, 600);
	}
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(r[0].stored, 60);
	CHECK_EQ(r[1].stored, 60);
	/* every key has one page: the loser of each race freed its own */
	CHECK_EQ(detail(r[0].a, "pages_used") + detail(r[1].a, "pages_used"), 60);
	CHECK_EQ(daemon_stat(d, "kv_manager", "total_entries"), 60);
	CHECK_EQ(load_ids(r[1].a, r[0].ids, 60, CHUNK, len_full, 4, NULL), 60);
	CHECK_EQ(load_ids(r[0].a, r[0].ids, 60, CHUNK, len_full, 4, NULL), 60);
	(void)bm;
	for (int i = 0; i < 2; i++)
		pool_l2_ops.destroy(r[i].a);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(config_errors_name_the_key)
{
	static const struct {
		const char *kv[5];
		const char *want;
	} rows[] = {
		{ { "bogus", "1" }, "unknown key \"bogus\"" },
		{ { "size_gb", "0.00001" }, "below one page" },
		{ { "timeout_ms", "0" }, "timeout_ms" },
		{ { "auto_expand", "maybe" }, "auto_expand" },
		{ { "server", "" }, "server" },
		{ { "server", "nonsense" }, "nonsense" },
		{ { "server", "tcp://127.0.0.1:1", "timeout_ms", "100" }, "HANDSHAKE" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kvt_l2_adapter *a = NULL;
		char err[512] = "";

		CHECK_ROW(i, pool_try(NULL, rows[i].kv, &a, err, sizeof(err)) < 0);
		CHECK_ROW(i, a == NULL);
		if (!strstr(err, rows[i].want))
			harness_fail(__FILE__, __LINE__, "row %zu: \"%s\" lacks \"%s\"", i, err,
				     rows[i].want);
	}
}

/* ---- through the engine ----------------------------------------------- */

#define ECHUNK 4096 /* chunk_size 16 x 1 layer x 2 (K,V) x 1 head x 64 dim x 2 bytes */

static struct kvt *open_engine(const struct poold *d)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	char json[600];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "max_local_cpu_size", "0.0001");
	snprintf(json, sizeof(json),
		 "{\"type\":\"pool\",\"server\":\"%s\",\"rm\":\"%s\",\"size_gb\":0.001953125,"
		 "\"timeout_ms\":2000}", d->addr, d->rm);
	cfg_set(cfg, "l2_adapters", json);
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	return kvt;
}

TEST(two_engine_instances_share_chunks_through_the_pool)
{
	struct poold *d = daemon_up(NULL);
	static uint8_t bufs[8][ECHUNK], out[8][ECHUNK];
	struct kvt_key keys[8];
	const void *in[8];
	void *outp[8];
	size_t lens[8], caps[8], got[8];
	struct kvt *a, *b;
	struct kvt_stats s;

	for (int i = 0; i < 8; i++) {
		l2t_fill(bufs[i], ECHUNK, (uint64_t)i, 7);
		keys[i] = key_of(70 + (uint64_t)i);
		in[i] = bufs[i];
		outp[i] = out[i];
		lens[i] = caps[i] = ECHUNK;
	}
	a = open_engine(d);
	b = open_engine(d);
	CHECK_EQ(kvt_put(a, keys, in, lens, 8, NULL, NULL, NULL), 8);
	CHECK_EQ(kvt_flush(a), 0);
	CHECK_EQ(kvt_contains(b, keys, 8, 0), 8);
	CHECK_EQ(kvt_get(b, keys, 8, outp, caps, got), 8);
	for (int i = 0; i < 8; i++) {
		CHECK_ROW(i, got[i] == ECHUNK);
		CHECK_ROW(i, l2t_same(out[i], ECHUNK, (uint64_t)i, 7));
	}
	s = stats_of(b);
	CHECK_EQ(s.l2_hits, 8);
	CHECK_EQ(s.l2_unhealthy, 0);
	CHECK_EQ(kvt_close(a), 0);
	CHECK_EQ(kvt_close(b), 0);
	CHECK_EQ(poold_stop(d), 0);
}

/* An LMCache config with maru_path and no l2_adapters: the pool tier comes
 * from the knobs, behind an L1 that only stages (local_cpu: false). */
static struct kvt *open_lmcache_style(const struct poold *d)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	char url[80];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "local_cpu", "false");
	cfg_set(cfg, "max_local_cpu_size", "0.0001");
	snprintf(url, sizeof(url), "maru://127.0.0.1:%d", d->port);
	cfg_set(cfg, "maru_path", url);
	cfg_set(cfg, "maru_pool_size", "0.001953125");
	cfg_set(cfg, "pool.rm", d->rm);
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	return kvt;
}

TEST(maru_path_alone_gives_a_pool_tier)
{
	struct poold *d = daemon_up(NULL);
	static uint8_t bufs[4][ECHUNK], out[4][ECHUNK];
	struct kvt_key keys[4];
	const void *in[4];
	void *outp[4];
	size_t lens[4], caps[4], got[4];
	struct kvt_l2_status st;
	const char *type;
	struct kvt *a, *b;
	struct kvt_stats s;

	for (int i = 0; i < 4; i++) {
		l2t_fill(bufs[i], ECHUNK, (uint64_t)i, 9);
		keys[i] = key_of(90 + (uint64_t)i);
		in[i] = bufs[i];
		outp[i] = out[i];
		lens[i] = caps[i] = ECHUNK;
	}
	a = open_lmcache_style(d);
	b = open_lmcache_style(d);
	CHECK_EQ(kvt_l2_report(a, 0, &type, &st), 0);
	CHECK(!strcmp(type, "pool"));
	CHECK(st.is_healthy);
	CHECK_EQ(kvt_put(a, keys, in, lens, 4, NULL, NULL, NULL), 4);
	CHECK_EQ(kvt_flush(a), 0);
	CHECK_EQ(kvt_get(b, keys, 4, outp, caps, got), 4);
	for (int i = 0; i < 4; i++)
		CHECK_ROW(i, got[i] == ECHUNK && l2t_same(out[i], ECHUNK, (uint64_t)i, 9));
	s = stats_of(b);
	CHECK_EQ(s.l2_hits, 4);
	CHECK_EQ(s.l1_entries, 0);
	CHECK_EQ(kvt_close(a), 0);
	CHECK_EQ(kvt_close(b), 0);
	CHECK_EQ(poold_stop(d), 0);
}

TEST(a_malformed_maru_path_is_refused)
{
	struct kvt_config *cfg;
	struct kvt *kvt = NULL;

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "maru_path", "http://127.0.0.1:5555");
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), -EINVAL);
	kvt_config_free(cfg);
}
