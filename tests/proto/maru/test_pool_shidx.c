/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: kvtier-poold's shared index (proto/maru/pool_shidx.c): a
 * writer rewrites and deletes entries of a small, crowded table (long probe
 * chains, tombstones, emptied runs) while reader processes read it at full
 * speed, half of them evicting lines first (coherent=false), and rebuilds
 * clear the tombstones under them; the table full, then complete again; a
 * rebuild that makes room keeps every key; read-only readers; key parsing.
 *
 * Torture protocol.  Key k goes through versions 1, 2, 3, ...: an odd
 * version v means the key is published with region_id v and an offset and
 * length derived from (k, v); an even one means it is deleted.  The writer
 * stores pending[k] = v before it changes the table and cur[k] = v after,
 * so at every instant cur[k] <= (the table's version of k) <= pending[k].
 * A reader loads cur[k] before its lookup and pending[k] after it; every
 * version the table held during the lookup lies in [before, after].
 *	torn:   a hit whose offset or length does not match its version
 *	stale:  a hit whose version is even or outside [before, after] (served
 *	        although it was not the key's entry at any instant of the read)
 *	lost:   a miss although every version in [before, after] is odd (the
 *	        key was present for the whole read)
 * UNKNOWN (ask the RPC) is always a legal answer; it is counted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/maru/pool_shidx.h"
#include "tests/common/harness.h"

#define MAX_KEYS 330u
#define SLOTS 256u
#define NREADERS 3
#if defined(__SANITIZE_THREAD__)
#define WRITES 200000u
#else
#define WRITES 2000000u
#endif

struct shared {
	uint32_t nkeys;
	_Atomic uint64_t cur[MAX_KEYS], pending[MAX_KEYS];
	_Atomic int ready, stop;
	struct {
		_Atomic uint64_t reads, hits, misses, unknown, torn, stale, lost;
	} r[NREADERS];
};

static uint64_t key_lo(uint32_t k)
{
	return 0x9e3779b97f4a7c15ull * (k + 1);
}

static uint64_t key_hi(uint32_t k)
{
	return ~(uint64_t)k;
}

static uint64_t off_of(uint32_t k, uint64_t v)
{
	return (v * 0x100000001b3ull) ^ key_lo(k);
}

static uint64_t len_of(uint32_t k, uint64_t v)
{
	return (v << 20) + k;
}

static uint64_t ld(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_acquire);
}

static void reader(struct shared *sh, int fd, int idx)
{
	struct shidx x;
	uint64_t rng = 88172645463325252ull + (uint64_t)idx;
	int ret = shidx_attach(&x, fd, idx & 1);

	prctl(PR_SET_PDEATHSIG, SIGKILL);  /* a failed writer leaves no reader spinning */
	if (ret) {
		fprintf(stderr, "reader %d: attach: %s\n", idx, strerror(-ret));
		_exit(1);
	}
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load_explicit(&sh->stop, memory_order_acquire)) {
		struct shidx_loc loc;
		uint32_t k;
		uint64_t before, after;
		enum shidx_answer a;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = (uint32_t)(rng % sh->nkeys);
		before = ld(&sh->cur[k]);
		a = shidx_lookup(&x, key_lo(k), key_hi(k), &loc);
		after = ld(&sh->pending[k]);
		atomic_fetch_add_explicit(&sh->r[idx].reads, 1, memory_order_relaxed);
		if (a == SHIDX_UNKNOWN) {
			atomic_fetch_add_explicit(&sh->r[idx].unknown, 1, memory_order_relaxed);
			continue;
		}
		if (a == SHIDX_MISS) {
			atomic_fetch_add_explicit(&sh->r[idx].misses, 1, memory_order_relaxed);
			/* an even version in [before, after]? */
			if (!((before & 1) == 0 || after > before))
				atomic_fetch_add_explicit(&sh->r[idx].lost, 1, memory_order_relaxed);
			continue;
		}
		atomic_fetch_add_explicit(&sh->r[idx].hits, 1, memory_order_relaxed);
		if (loc.kv_offset != off_of(k, loc.region_id) ||
		    loc.kv_length != len_of(k, loc.region_id))
			atomic_fetch_add_explicit(&sh->r[idx].torn, 1, memory_order_relaxed);
		else if (!(loc.region_id & 1) || loc.region_id < before || loc.region_id > after)
			atomic_fetch_add_explicit(&sh->r[idx].stale, 1, memory_order_relaxed);
	}
	shidx_detach(&x);
	_exit(0);
}

/* The torture of @nkeys keys, about half of them live at a time.
 * Return: the writer's table header, copied before the table goes. */
static struct shidx_hdr torture(uint32_t nkeys)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	bool refused[MAX_KEYS] = { false };
	uint64_t ver[MAX_KEYS] = { 0 }, rng = 2463534242ull, reads = 0, unknown = 0;
	struct shidx_hdr out;
	pid_t pids[NREADERS];
	struct shidx w;
	int fd;

	CHECK(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	sh->nkeys = nkeys;
	CHECK_EQ(shidx_create(&w, SLOTS, false), 0);
	fd = shidx_reader_fd(&w);
	CHECK(fd >= 0);
	for (int i = 0; i < NREADERS; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0)
			reader(sh, fd, i);
	}
	while (atomic_load(&sh->ready) < NREADERS)
		usleep(1000);
	for (uint32_t n = 0; n < WRITES; n++) {
		uint32_t k;
		uint64_t v;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		k = (uint32_t)(rng % nkeys);
		v = ++ver[k];
		atomic_store_explicit(&sh->pending[k], v, memory_order_release);
		if (v & 1) {
			struct shidx_loc loc = { v, off_of(k, v), len_of(k, v) };

			refused[k] = shidx_publish(&w, key_lo(k), key_hi(k), &loc) == -ENOSPC;
		} else if (refused[k]) {
			shidx_refused_gone(&w);
			refused[k] = false;
		} else {
			CHECK(shidx_unpublish(&w, key_lo(k), key_hi(k)));
		}
		atomic_store_explicit(&sh->cur[k], v, memory_order_release);
		if (n % 500000 == 0)
			fprintf(stderr, "  %u writes, live %llu tombs %llu\n", n,
				(unsigned long long)w.hdr->live, (unsigned long long)w.hdr->tombs);
	}
	atomic_store_explicit(&sh->stop, 1, memory_order_release);
	for (int i = 0; i < NREADERS; i++) {
		int st;

		CHECK_EQ(waitpid(pids[i], &st, 0), pids[i]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (int i = 0; i < NREADERS; i++) {
		fprintf(stderr, "  reader %d%s: %llu reads, %llu hits, %llu misses, %llu unknown, "
			"%llu torn, %llu stale, %llu lost\n", i, i & 1 ? " (flush)" : "",
			(unsigned long long)sh->r[i].reads, (unsigned long long)sh->r[i].hits,
			(unsigned long long)sh->r[i].misses, (unsigned long long)sh->r[i].unknown,
			(unsigned long long)sh->r[i].torn, (unsigned long long)sh->r[i].stale,
			(unsigned long long)sh->r[i].lost);
		CHECK_EQ(sh->r[i].torn, 0);
		CHECK_EQ(sh->r[i].stale, 0);
		CHECK_EQ(sh->r[i].lost, 0);
		CHECK(sh->r[i].hits > 0);
		CHECK(sh->r[i].misses > 0);
		reads += sh->r[i].reads;
		unknown += sh->r[i].unknown;
	}
	fprintf(stderr, "  %u writes (%llu entry writes), %llu reads, %llu refused keys, "
		"%llu rebuilds\n", WRITES, (unsigned long long)w.hdr->writes,
		(unsigned long long)reads, (unsigned long long)w.hdr->refused,
		(unsigned long long)w.hdr->rebuilds);
	/* UNKNOWN is legal (a writer preempted mid-write outlasts the reader's
	 * retries): printed, not asserted */
	fprintf(stderr, "  %llu unknown answers\n", (unsigned long long)unknown);
	memcpy(&out, w.hdr, sizeof(out));
	close(fd);
	shidx_destroy(&w);
	munmap(sh, sizeof(*sh));
	return out;
}

TEST(readers_never_see_torn_stale_or_lost_entries)
{
	struct shidx_hdr h = torture(150);

	/* about 75 live keys and their tombstones stay under 3/4 of 256 */
	CHECK_EQ(h.refused, 0);
}

TEST(rebuilds_at_the_bound_under_readers_lose_and_tear_nothing)
{
	struct shidx_hdr h = torture(MAX_KEYS);

	/* about 165 live keys and their tombstones reach 3/4 of 256 slots:
	 * rebuilds clear the tombstones while the readers read */
	CHECK(h.rebuilds > 0);
}

TEST(full_table_is_marked_incomplete_until_refused_keys_go)
{
	struct shidx w, r;
	struct shidx_loc loc = { 7, 4096, 100 }, got;
	int fd, refused = 0;

	CHECK_EQ(shidx_create(&w, SHIDX_MIN_SLOTS, false), 0);
	fd = shidx_reader_fd(&w);
	CHECK(fd >= 0);
	CHECK_EQ(shidx_attach(&r, fd, false), 0);
	CHECK_EQ(shidx_lookup(&r, 1, 1, &got), SHIDX_MISS);
	for (uint64_t k = 1; k <= 60; k++)
		refused += shidx_publish(&w, k, k, &loc) == -ENOSPC;
	/* 3/4 of 64 slots taken, the rest refused */
	CHECK_EQ(refused, 60 - 48);
	CHECK(r.hdr->flags & SHIDX_INCOMPLETE);
	CHECK_EQ(shidx_lookup(&r, 1, 1, &got), SHIDX_HIT);
	CHECK_EQ(got.region_id, 7);
	CHECK_EQ(shidx_lookup(&r, 60, 60, &got), SHIDX_UNKNOWN);  /* refused */
	CHECK_EQ(shidx_lookup(&r, 99, 99, &got), SHIDX_UNKNOWN);  /* absent, can't tell */
	for (int i = 0; i < refused; i++)
		shidx_refused_gone(&w);
	CHECK(!(r.hdr->flags & SHIDX_INCOMPLETE));
	CHECK_EQ(shidx_lookup(&r, 99, 99, &got), SHIDX_MISS);
	/* every delete frees its slot for a new key */
	for (uint64_t k = 1; k <= 48; k++)
		CHECK(shidx_unpublish(&w, k, k));
	CHECK(!shidx_unpublish(&w, 1, 1));
	CHECK_EQ(w.hdr->live, 0);
	for (uint64_t k = 100; k < 148; k++)
		CHECK_EQ(shidx_publish(&w, k, k, &loc), 0);
	CHECK(!(r.hdr->flags & SHIDX_INCOMPLETE));
	CHECK_EQ(shidx_lookup(&r, 147, 147, &got), SHIDX_HIT);
	/* a closed table answers nothing */
	shidx_destroy(&w);
	CHECK_EQ(shidx_lookup(&r, 147, 147, &got), SHIDX_UNKNOWN);
	shidx_detach(&r);
	close(fd);
}

TEST(tombstones_at_the_bound_are_rebuilt_away_keeping_every_key)
{
	struct shidx w, r;
	struct shidx_loc got;
	uint64_t epoch;
	int fd;

	CHECK_EQ(shidx_create(&w, SHIDX_MIN_SLOTS, false), 0);
	fd = shidx_reader_fd(&w);
	CHECK(fd >= 0);
	CHECK_EQ(shidx_attach(&r, fd, false), 0);
	/* 48 keys reach the bound (3/4 of 64); deleting 24 of them leaves
	 * tombstones wherever a live key follows */
	for (uint64_t k = 1; k <= 48; k++) {
		struct shidx_loc loc = { k, k * 4096, 100 };

		CHECK_EQ(shidx_publish(&w, k, ~k, &loc), 0);
	}
	for (uint64_t k = 2; k <= 48; k += 2)
		CHECK(shidx_unpublish(&w, k, ~k));
	CHECK(w.hdr->tombs >= SHIDX_REBUILD_TOMBS(SHIDX_MIN_SLOTS));
	epoch = r.hdr->epoch;
	/* new keys until one meets the bound: it rebuilds, then is taken */
	for (uint64_t k = 100; w.hdr->rebuilds == 0; k++) {
		struct shidx_loc loc = { k, k * 4096, 100 };

		CHECK(k < 200);
		CHECK_EQ(shidx_publish(&w, k, ~k, &loc), 0);
		CHECK_EQ(shidx_lookup(&r, k, ~k, &got), SHIDX_HIT);
	}
	CHECK_EQ(w.hdr->tombs, 0);
	CHECK_EQ(r.hdr->epoch, epoch + 2);
	CHECK(!(r.hdr->flags & SHIDX_INCOMPLETE));
	for (uint64_t k = 1; k <= 48; k++) {
		enum shidx_answer a = shidx_lookup(&r, k, ~k, &got);

		CHECK_EQ(a, k & 1 ? SHIDX_HIT : SHIDX_MISS);
		if (a == SHIDX_HIT)
			CHECK(got.region_id == k && got.kv_offset == k * 4096);
	}
	shidx_detach(&r);
	close(fd);
	shidx_destroy(&w);
}

TEST(readers_map_it_read_only)
{
	struct shidx w;
	int fd;

	CHECK_EQ(shidx_create(&w, SHIDX_MIN_SLOTS, false), 0);
	fd = shidx_reader_fd(&w);
	CHECK(fd >= 0);
	CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	CHECK_EQ(errno, EACCES);
	CHECK(ftruncate(w.fd, 1 << 20) != 0);  /* sealed */
	close(fd);
	shidx_destroy(&w);
	CHECK_EQ(shidx_create(&w, 100, false), -EINVAL);
}

TEST(keys_parse_from_the_adapters_names)
{
	uint64_t lo, hi;

	CHECK(shidx_key_parse((const uint8_t *)"0123456789abcdeffedcba9876543210", 32, &lo, &hi));
	CHECK_EQ(lo, 0x0123456789abcdefull);
	CHECK_EQ(hi, 0xfedcba9876543210ull);
	CHECK(!shidx_key_parse((const uint8_t *)"0123456789ABCDEFfedcba9876543210", 32, &lo, &hi));
	CHECK(!shidx_key_parse((const uint8_t *)"0123456789abcdef", 16, &lo, &hi));
	CHECK(!shidx_key_parse((const uint8_t *)"0123456789abcdeffedcba987654321g", 32, &lo, &hi));
}
