/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the fs adapter's buffered loads (l2/fs/dw_load.c), which
 * read a payload in pieces of DW_PIECE bytes (the first with the header)
 * and sum it piece by piece: every length around the piece size (1 byte, a
 * piece less or more one, several pieces and an odd tail, none) comes back
 * byte for byte into aligned and unaligned buffers larger than the chunk,
 * nothing written past it; many keys of several pieces in one task, from
 * the page cache and with the files out of it, so their reads are in
 * flight together; a file cut short in a middle piece and one with a byte
 * flipped in its last piece are misses and are removed, alone and in a
 * task with a good one.  Each twice: every piece read straight into the
 * caller's buffer (bounce_below_gbps 0), and through the bounce buffer
 * (bounce_below_gbps so high that every timed direct piece is slow: the
 * adapter starts in a bounce run, and each probe starts another).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "l2/fs/dw_internal.h"
#include "l2/fs/fs_adapter.h"
#include "l2/fschunk.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/l2_task.h"
#include "kvtier/l2.h"

#define NKEYS 24

#define DIRECT "0"
#define BOUNCED "1e6"

/* A buffered adapter on @base with bounce_below_gbps @gbps. */
static struct kvt_l2_adapter *fs_buffered(const char *base, const char *gbps)
{
	const struct kvt_l2_param p[] = { { "type", "fs" }, { "base_path", base },
					  { "use_odirect", "false" },
					  { "bounce_below_gbps", gbps } };

	return l2t_create(&fs_l2_ops, p, 4);
}

static char *chunk_path(const char *base, uint64_t id)
{
	static char p[512];
	struct kvt_key key = key_of(id);
	char name[FSCHUNK_NAME_LEN + 1];

	fschunk_name(&key, name);
	snprintf(p, sizeof(p), "%s/%.2s/%s", base, name, name);
	return p;
}

/* Store chunks @ids[0..n) of @lens bytes; every one must be stored. */
static void store_all(struct kvt_l2_adapter *a, const uint64_t *ids, const size_t *lens, size_t n)
{
	struct kvt_key keys[NKEYS] = { { 0, 0 } };
	void *bufs[NKEYS] = { NULL };
	size_t blens[NKEYS] = { 0 };
	uint64_t bm[1];

	CHECK(n <= NKEYS);
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(ids[i]);
		bufs[i] = malloc(lens[i] ? lens[i] : 1);
		CHECK(bufs[i]);
		blens[i] = lens[i];
		l2t_fill(bufs[i], lens[i], ids[i], 5);
	}
	l2t_run(&fs_l2_ops, a, KVT_L2_STORE, keys, bufs, blens, n, bm, NULL);
	CHECK_EQ(l2t_popcount(bm, n), n);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
}

/* Load chunks @ids[0..n) in one task into buffers @extra bytes larger than
 * @lens, starting @offset bytes past a page; true when each is a hit with
 * its exact bytes and the bytes after it untouched. */
static bool load_all(struct kvt_l2_adapter *a, const uint64_t *ids, const size_t *lens, size_t n,
		     size_t offset, size_t extra)
{
	struct kvt_key keys[NKEYS] = { { 0, 0 } };
	void *bufs[NKEYS] = { NULL }, *mem[NKEYS] = { NULL };
	size_t blens[NKEYS] = { 0 }, got[NKEYS] = { 0 };
	uint64_t bm[1];
	bool ok;

	CHECK(n <= NKEYS);
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(ids[i]);
		CHECK(posix_memalign(&mem[i], 4096, offset + lens[i] + extra + 1) == 0);
		bufs[i] = (uint8_t *)mem[i] + offset;
		blens[i] = lens[i] + extra;
		memset(bufs[i], 0xa5, lens[i] + extra);
	}
	l2t_run(&fs_l2_ops, a, KVT_L2_LOAD, keys, bufs, blens, n, bm, got);
	ok = l2t_popcount(bm, n) == n;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = bufs[i];

		ok = ok && got[i] == lens[i] && l2t_same(b, lens[i], ids[i], 5);
		for (size_t k = lens[i]; k < lens[i] + extra; k++)
			ok = ok && b[k] == 0xa5;
		free(mem[i]);
	}
	return ok;
}

/* Drop @base's chunk files of @ids from the page cache (they are clean:
 * the adapter does not keep pages dirty past a store's task). */
static void uncache(const char *base, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int fd = open(chunk_path(base, ids[i]), O_RDONLY);

		CHECK_ROW(i, fd >= 0);
		CHECK_ROW(i, fdatasync(fd) == 0);
		CHECK_ROW(i, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
		close(fd);
	}
}

/* The counter @name=N of the adapter's status detail. */
static uint64_t detail_count(struct kvt_l2_adapter *a, const char *name)
{
	struct kvt_l2_status st;

	memset(&st, 0, sizeof(st));
	CHECK_EQ(fs_l2_ops.status(a, &st), 0);
	return l2t_detail_num(&st, name);
}

static uint64_t corrupt_removed(struct kvt_l2_adapter *a)
{
	return detail_count(a, "corrupt_removed");
}

/* Destroy @a once its pieces went the way @gbps sends them. */
static void done_with(struct kvt_l2_adapter *a, const char *gbps)
{
	uint64_t bounced = detail_count(a, "bounced_pieces");

	if (strcmp(gbps, DIRECT) == 0)
		CHECK_EQ(bounced, 0);
	else
		CHECK(bounced > 0);
	fs_l2_ops.destroy(a);
}

static void lengths_around_the_piece_size(const char *gbps)
{
	static const size_t lens[] = { 1, DW_PIECE - 1, DW_PIECE, DW_PIECE + 1,
				       3 * DW_PIECE + 4097, 0, 4096, 2 * DW_PIECE };
	const size_t n = sizeof(lens) / sizeof(lens[0]);
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_buffered(base, gbps);
	uint64_t ids[sizeof(lens) / sizeof(lens[0])];

	for (size_t i = 0; i < n; i++)
		ids[i] = 10 + i;
	store_all(a, ids, lens, n);
	for (size_t i = 0; i < n; i++) {
		CHECK_ROW(i, load_all(a, &ids[i], &lens[i], 1, 0, 0));
		CHECK_ROW(i, load_all(a, &ids[i], &lens[i], 1, 1, 4099));
	}
	CHECK(load_all(a, ids, lens, n, 7, 1));
	CHECK_EQ(corrupt_removed(a), 0);
	done_with(a, gbps);
}

TEST(lengths_around_the_piece_size_round_trip_direct)
{
	lengths_around_the_piece_size(DIRECT);
}

TEST(lengths_around_the_piece_size_round_trip_bounced)
{
	lengths_around_the_piece_size(BOUNCED);
}

static void many_keys_in_one_task(const char *gbps)
{
	const char *base = harness_disk_tmpdir();
	struct kvt_l2_adapter *a = fs_buffered(base, gbps);
	uint64_t ids[NKEYS];
	size_t lens[NKEYS];

	for (size_t i = 0; i < NKEYS; i++) {
		ids[i] = 100 + i;
		lens[i] = 2 * DW_PIECE + 1000 * i + 1;
	}
	store_all(a, ids, lens, NKEYS);
	CHECK(load_all(a, ids, lens, NKEYS, 0, 0));
	uncache(base, ids, NKEYS);
	CHECK(load_all(a, ids, lens, NKEYS, 3, 100));
	CHECK_EQ(corrupt_removed(a), 0);
	done_with(a, gbps);
}

TEST(many_keys_in_one_task_cached_and_not_direct)
{
	many_keys_in_one_task(DIRECT);
}

TEST(many_keys_in_one_task_cached_and_not_bounced)
{
	many_keys_in_one_task(BOUNCED);
}

static void cut_or_flipped(const char *gbps)
{
	const size_t len = 3 * DW_PIECE + 100;
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_buffered(base, gbps);
	const uint64_t cut = 1, flip = 2, good = 3;
	uint64_t ids[] = { cut, flip, good };
	size_t lens[] = { len, len, len };
	uint8_t b;
	int fd;

	store_all(a, ids, lens, 3);
	fd = open(chunk_path(base, cut), O_RDWR);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, FSCHUNK_HDR + DW_PIECE + 7) == 0);
	close(fd);
	fd = open(chunk_path(base, flip), O_RDWR);
	CHECK(fd >= 0);
	CHECK(pread(fd, &b, 1, FSCHUNK_HDR + 3 * DW_PIECE + 50) == 1);
	b ^= 0x01;
	CHECK(pwrite(fd, &b, 1, FSCHUNK_HDR + 3 * DW_PIECE + 50) == 1);
	close(fd);

	CHECK(!load_all(a, &ids[0], &lens[0], 1, 0, 0));
	CHECK(access(chunk_path(base, cut), F_OK) < 0 && errno == ENOENT);
	CHECK_EQ(corrupt_removed(a), 1);
	CHECK(!load_all(a, &ids[1], &lens[1], 1, 0, 0));
	CHECK(access(chunk_path(base, flip), F_OK) < 0 && errno == ENOENT);
	CHECK_EQ(corrupt_removed(a), 2);
	/* the good one, loaded in the same task as a bad one */
	store_all(a, ids, lens, 2);
	fd = open(chunk_path(base, flip), O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "x", 1, FSCHUNK_HDR + len - 1) == 1);
	close(fd);
	CHECK(!load_all(a, ids, lens, 3, 0, 0));
	CHECK(load_all(a, &ids[2], &lens[2], 1, 0, 0));
	CHECK(load_all(a, &ids[0], &lens[0], 1, 0, 0));
	CHECK(access(chunk_path(base, flip), F_OK) < 0 && errno == ENOENT);
	CHECK_EQ(corrupt_removed(a), 3);
	done_with(a, gbps);
}

TEST(cut_in_a_middle_piece_or_flipped_in_the_last_is_a_miss_and_removed_direct)
{
	cut_or_flipped(DIRECT);
}

TEST(cut_in_a_middle_piece_or_flipped_in_the_last_is_a_miss_and_removed_bounced)
{
	cut_or_flipped(BOUNCED);
}
