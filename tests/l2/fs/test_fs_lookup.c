/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the fs adapter's statx of a chunk's name (dw_statx() in
 * l2/fs/dw_engine.c) answers the same whether the kernel holds the path
 * (openat2 RESOLVE_CACHED, on the actor) or not (the ring's statx): good
 * chunks hit with their lengths, a symlink at a chunk's name and a never
 * stored key miss, a file shorter than a header misses and is removed;
 * stores over a present chunk leave it and over a symlink replace it.
 * Each case runs with the dentries hot, then again after the kernel
 * dropped them (vm.drop_caches 2, as root; skipped otherwise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "l2/fs/fs_adapter.h"
#include "l2/fschunk.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/l2_task.h"
#include "kvtier/l2.h"

#define NKEYS 8
#define LEN 5000u

enum { LINKED = 3, SHORT = 5, NEVER = 8 };

static struct kvt_l2_adapter *fs_at(const char *base)
{
	const struct kvt_l2_param p[] = { { "type", "fs" }, { "base_path", base } };

	return l2t_create(&fs_l2_ops, p, 2);
}

static char *chunk_path(const char *base, uint64_t id)
{
	static char p[2][512];
	static int next;
	struct kvt_key key = key_of(id);
	char name[FSCHUNK_NAME_LEN + 1];
	char *out = p[next++ % 2];

	fschunk_name(&key, name);
	snprintf(out, sizeof(p[0]), "%s/%.2s/%s", base, name, name);
	return out;
}

/* Store keys 1..NKEYS-1 (not NEVER); return the popcount of stored. */
static size_t store_keys(struct kvt_l2_adapter *a)
{
	struct kvt_key keys[NKEYS - 1];
	void *bufs[NKEYS - 1];
	size_t lens[NKEYS - 1];
	uint64_t bm[1];

	for (size_t i = 0; i < NKEYS - 1; i++) {
		keys[i] = key_of(i + 1);
		bufs[i] = malloc(LEN);
		CHECK(bufs[i]);
		lens[i] = LEN;
		l2t_fill(bufs[i], LEN, i + 1, 2);
	}
	l2t_run(&fs_l2_ops, a, KVT_L2_STORE, keys, bufs, lens, NKEYS - 1, bm, NULL);
	for (size_t i = 0; i < NKEYS - 1; i++)
		free(bufs[i]);
	return l2t_popcount(bm, NKEYS - 1);
}

/* At LINKED's name a symlink to its own good file, moved aside in the same
 * directory (a link the walk would follow beneath the shard), and a
 * 10-byte file at SHORT's. */
static void damage(const char *base)
{
	char aside[600];
	const char *name = strrchr(chunk_path(base, LINKED), '/') + 1;
	int fd;

	snprintf(aside, sizeof(aside), "%s.aside", chunk_path(base, LINKED));
	CHECK_EQ(rename(chunk_path(base, LINKED), aside), 0);
	snprintf(aside, sizeof(aside), "%s.aside", name);
	CHECK_EQ(symlink(aside, chunk_path(base, LINKED)), 0);
	fd = open(chunk_path(base, SHORT), O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "0123456789", 10), 10);
	close(fd);
}

/* Look every key up; each must answer as damage() left it. */
static void lookups_as_damaged(struct kvt_l2_adapter *a, const char *base)
{
	struct kvt_key keys[NKEYS];
	size_t lens[NKEYS];
	uint64_t bm[1];

	for (size_t i = 0; i < NKEYS; i++)
		keys[i] = key_of(i + 1);
	l2t_run(&fs_l2_ops, a, KVT_L2_LOOKUP, keys, NULL, NULL, NKEYS, bm, lens);
	for (uint64_t id = 1; id <= NKEYS; id++) {
		bool hit = bm[0] >> (id - 1) & 1;

		if (id == LINKED || id == SHORT || id == NEVER) {
			CHECK_ROW(id, !hit);
			continue;
		}
		CHECK_ROW(id, hit);
		CHECK_ROW(id, lens[id - 1] == LEN);
	}
	fs_l2_ops.unlock(a, keys, NKEYS);
	CHECK(access(chunk_path(base, SHORT), F_OK) < 0 && errno == ENOENT);
}

/* Drop the kernel's dentries and inodes, so each walk reads the disk. */
static void drop_dentries(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd < 0 || write(fd, "2", 1) != 1)
		SKIP("cannot drop the dentry cache: %s", strerror(errno));
	close(fd);
}

static void lookups_and_stores(bool dropped)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_at(base);
	struct stat st;

	CHECK_EQ(store_keys(a), NKEYS - 1);
	damage(base);
	if (dropped)
		drop_dentries();
	lookups_as_damaged(a, base);
	if (dropped)
		drop_dentries();
	/* stores: the present ones stay, the symlink and the gone one are
	 * written anew as regular files */
	CHECK_EQ(store_keys(a), NKEYS - 1);
	CHECK_EQ(lstat(chunk_path(base, LINKED), &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_size, FSCHUNK_HDR + LEN);
	CHECK_EQ(lstat(chunk_path(base, SHORT), &st), 0);
	CHECK_EQ(st.st_size, FSCHUNK_HDR + LEN);
	fs_l2_ops.destroy(a);
}

TEST(statx_answers_alike_with_dentries_cached)
{
	lookups_and_stores(false);
}

TEST(statx_answers_alike_after_dentries_dropped)
{
	lookups_and_stores(true);
}
