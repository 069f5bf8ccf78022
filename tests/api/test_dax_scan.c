/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the recovery scan runs on dax.restore_workers threads over
 * disjoint ranges of slots (api/dax.c).  A primary-mode device of about
 * 5,000 slots is filled whole, one payload byte is flipped in a chunk near
 * the start and in one near the end (the first and the last range), and
 * the device is reopened with 1, 2, 3 and 4 workers: every open must find
 * exactly the other chunks, byte for byte, discard exactly the two damaged
 * ones, and leave the same free slots; the damaged slots, written FREE by
 * the first scan, are free for every later one.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "tests/common/fixture.h"

#define CHUNK 4096 /* chunk_size 16 x 1 layer x 2 (K,V) x 1 head x 64 dim x 2 bytes */
#define DAX_BYTES (20ull << 20)
#define BATCH 64

static struct kvt *open_dev(const char *path, const char *workers)
{
	struct kvt_config *cfg;
	struct kvt *kvt = NULL;
	char num[64];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "model_name", "test-model");
	cfg_set(cfg, "local_cpu", "false");
	cfg_set(cfg, "dax.mode", "primary");
	cfg_set(cfg, "dax.eviction", "none");
	cfg_set(cfg, "dax.device_path", path);
	cfg_set(cfg, "dax.allow_file_backing", "true");
	cfg_set(cfg, "dax.restore_workers", workers);
	snprintf(num, sizeof(num), "%.17g", (double)DAX_BYTES / 1073741824.0);
	cfg_set(cfg, "dax.max_dax_size", num);
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	return kvt;
}

/* The content of chunk @id: its first 8 bytes are @id, the rest follow it. */
static void fill(uint8_t *buf, uint64_t id)
{
	for (size_t i = 0; i < CHUNK; i += 8) {
		uint64_t w = (id + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0x100000001b3ull);

		memcpy(buf + i, i ? &w : &id, 8);
	}
}

/* Put ids [0, n) until the device refuses one. Return: how many it took. */
static uint64_t fill_device(struct kvt *kvt)
{
	static uint8_t data[BATCH][CHUNK];
	uint64_t id = 0;

	for (;;) {
		struct kvt_key keys[BATCH];
		const void *bufs[BATCH];
		size_t lens[BATCH];
		int res[BATCH];
		ssize_t got;

		for (size_t i = 0; i < BATCH; i++) {
			keys[i] = key_of(id + i);
			fill(data[i], id + i);
			bufs[i] = data[i];
			lens[i] = CHUNK;
		}
		got = kvt_put(kvt, keys, bufs, lens, BATCH, res, NULL, NULL);
		CHECK(got >= 0);
		for (size_t i = 0; i < BATCH; i++)
			if (res[i])
				return id + i;
		id += BATCH;
	}
}

/* Flip a payload byte of chunk @id, found by its first 8 bytes. */
static void damage(const char *path, uint64_t id)
{
	struct stat sb;
	uint8_t *map;
	int hits = 0, fd = open(path, O_RDWR);

	CHECK(fd >= 0);
	CHECK_EQ(fstat(fd, &sb), 0);
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(map != MAP_FAILED);
	/* slots start on page boundaries */
	for (off_t off = 0; off + CHUNK <= sb.st_size; off += 4096) {
		uint8_t want[CHUNK];

		fill(want, id);
		if (!memcmp(map + off, want, CHUNK)) {
			map[off + 1000] ^= 0x40;
			hits++;
		}
	}
	munmap(map, (size_t)sb.st_size);
	close(fd);
	CHECK_EQ(hits, 1);
}

/* Every id in [0, n) but the two damaged is served, byte for byte. */
static void check_all(struct kvt *kvt, uint64_t n, uint64_t bad1, uint64_t bad2)
{
	uint8_t buf[CHUNK], want[CHUNK];

	for (uint64_t id = 0; id < n; id++) {
		struct kvt_key k = key_of(id);
		void *b = buf;
		size_t cap = sizeof(buf), len = 0;
		ssize_t r = kvt_get(kvt, &k, 1, &b, &cap, &len);

		if (id == bad1 || id == bad2) {
			CHECK_EQ(r, 0);
			continue;
		}
		fill(want, id);
		CHECK_ROW(id, r == 1 && len == CHUNK && !memcmp(buf, want, CHUNK));
	}
}

TEST(every_worker_count_recovers_the_same_chunks_and_discards_the_damaged)
{
	static const char *const workers[] = { "1", "2", "3", "4" };
	struct statfs sfs;
	struct kvt_stats st;
	struct kvt *kvt;
	char path[256];
	uint64_t n, bad1, bad2, free_slots = 0;

	if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
		SKIP("/dev/shm is not a tmpfs: no file to back the DAX tier");
	snprintf(path, sizeof(path), "%s/scan.img", harness_tmpdir(1));
	kvt = open_dev(path, "2");
	n = fill_device(kvt);
	st = stats_of(kvt);
	/* enough slots for 4 ranges of the scan's minimum (1,024) */
	CHECK(n >= 4096);
	CHECK_EQ(st.dax_entries, n);
	kvt_close(kvt);
	bad1 = 7;
	bad2 = n - 5;
	damage(path, bad1);
	damage(path, bad2);
	for (size_t w = 0; w < sizeof(workers) / sizeof(workers[0]); w++) {
		kvt = open_dev(path, workers[w]);
		st = stats_of(kvt);
		CHECK_EQ(st.dax_recovered, n - 2);
		/* the first scan wrote the damaged slots FREE */
		CHECK_EQ(st.dax_torn, w == 0 ? 2 : 0);
		CHECK_EQ(st.dax_entries, n - 2);
		if (w)
			CHECK_EQ(st.dax_free_slots, free_slots);
		free_slots = st.dax_free_slots;
		check_all(kvt, n, bad1, bad2);
		kvt_close(kvt);
	}
}
