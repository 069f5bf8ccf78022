/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the "fs" L2 adapter (l2/fs/fs_adapter.c, l2/fs/diskwriter.c)
 * driven through fs_l2_ops on real directories: store/lookup/load round
 * trips (partial and unaligned chunks), duplicate stores, deletes (batch,
 * idempotent, locked keys), concurrent writers of one key (threads and
 * processes), kill -9 mid-store, corrupt files, O_DIRECT and its fallback,
 * ENOSPC on a small tmpfs, two processes on one directory, restart, capacity
 * eviction, modes, refused configs and hostile paths, close with tasks in
 * flight, and injected I/O errors.  Every task's completion is checked on
 * its event fd and through on_done.  Mirrors LMCache's fs adapter tests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "l2/fs/fs_adapter.h"
#include "l2/fschunk.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/l2_task.h"
#include "kvtier/l2.h"

#define GIB 1073741824.0
#define MAXN 512

/* ---- helpers ---------------------------------------------------------- */

/* A child of a forked case must not run the harness's atexit (it removes
 * the case's temp dirs): children report with _exit only. */
#define CHILD_CHECK(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "    child %d: %s:%d: %s\n", getpid(),   \
				__FILE__, __LINE__, #cond);                    \
			_exit(3);                                              \
		}                                                              \
	} while (0)

/* "@dir/@rel" in one of a few static buffers, valid for the case. */
static char *path_in(const char *dir, const char *rel)
{
	static char bufs[16][512];
	static int next;
	char tmp[512], *p = bufs[next++ % 16];

	snprintf(tmp, sizeof(tmp), "%s/%s", dir, rel);
	memcpy(p, tmp, sizeof(tmp));
	return p;
}

/*
 * Create an adapter on @base with extra members @kv ("key", "value", ...,
 * NULL), or return the error in @err (NULL: the case fails on error).
 */
static int fs_try(const char *base, const char *const *kv, struct kvt_l2_adapter **out,
		  char *err, size_t errlen)
{
	struct kvt_l2_param p[24];
	struct kvt_l2_config cfg = { .type = "fs", .params = p, .json = "{}" };
	size_t n = 0;

	p[n++] = (struct kvt_l2_param){ "type", "fs" };
	if (base)
		p[n++] = (struct kvt_l2_param){ "base_path", base };
	for (; kv && kv[0]; kv += 2)
		p[n++] = (struct kvt_l2_param){ kv[0], kv[1] };
	cfg.nparams = n;
	return fs_l2_ops.create(&cfg, NULL, out, err, errlen);
}

static struct kvt_l2_adapter *fs_new(const char *base, const char *const *kv)
{
	struct kvt_l2_adapter *a = NULL;
	char err[512] = "";
	int ret = fs_try(base, kv, &a, err, sizeof(err));

	if (ret)
		harness_fail(__FILE__, __LINE__, "create: %d %s", ret, err);
	return a;
}

/* Store chunks @ids[0..n) of @len bytes (pattern @salt); returns hits. */
static size_t store_ids(struct kvt_l2_adapter *a, const uint64_t *ids, size_t n, size_t len,
			unsigned int salt, int64_t *bytes)
{
	struct kvt_key keys[MAXN] = { { 0, 0 } };
	void *bufs[MAXN] = { NULL };
	size_t lens[MAXN] = { 0 };
	uint64_t bm[MAXN / 64];
	int64_t b;

	CHECK(n <= MAXN);
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(ids[i]);
		bufs[i] = malloc(len ? len : 1);
		lens[i] = len;
		l2t_fill(bufs[i], len, ids[i], salt);
	}
	b = l2t_run(&fs_l2_ops, a, KVT_L2_STORE, keys, bufs, lens, n, bm, NULL);
	if (bytes)
		*bytes = b;
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	return l2t_popcount(bm, n);
}

static size_t store_one(struct kvt_l2_adapter *a, uint64_t id, size_t len, unsigned int salt)
{
	return store_ids(a, &id, 1, len, salt, NULL);
}

/* Load @id into a buffer of @cap bytes; true on a hit whose bytes are
 * chunk @id of @len bytes with pattern @salt. */
static bool load_ok(struct kvt_l2_adapter *a, uint64_t id, size_t cap, size_t len,
		    unsigned int salt)
{
	struct kvt_key key = key_of(id);
	void *buf = malloc(cap);
	size_t got = 12345;
	uint64_t bm;
	bool ok;

	memset(buf, 0, cap);
	l2t_run(&fs_l2_ops, a, KVT_L2_LOAD, &key, &buf, &cap, 1, &bm, &got);
	ok = kvt_l2_bit(&bm, 0) && got == len && l2t_same(buf, len, id, salt);
	if (!kvt_l2_bit(&bm, 0))
		CHECK_EQ(got, 0);
	free(buf);
	return ok;
}

static bool load_hit(struct kvt_l2_adapter *a, uint64_t id, size_t cap)
{
	struct kvt_key key = key_of(id);
	void *buf = malloc(cap);
	size_t got;
	uint64_t bm;

	l2t_run(&fs_l2_ops, a, KVT_L2_LOAD, &key, &buf, &cap, 1, &bm, &got);
	free(buf);
	return kvt_l2_bit(&bm, 0);
}

static bool lookup_hit(struct kvt_l2_adapter *a, uint64_t id, size_t *len)
{
	struct kvt_key key = key_of(id);
	size_t l = 0;
	uint64_t bm;

	l2t_run(&fs_l2_ops, a, KVT_L2_LOOKUP, &key, NULL, NULL, 1, &bm, &l);
	if (len)
		*len = l;
	return kvt_l2_bit(&bm, 0);
}

static void unlock_id(struct kvt_l2_adapter *a, uint64_t id)
{
	struct kvt_key key = key_of(id);

	fs_l2_ops.unlock(a, &key, 1);
}

static ssize_t remove_id(struct kvt_l2_adapter *a, uint64_t id, int *res)
{
	struct kvt_key key = key_of(id);

	return fs_l2_ops.remove(a, &key, 1, res);
}

static struct kvt_l2_status status_of(struct kvt_l2_adapter *a)
{
	struct kvt_l2_status st;

	memset(&st, 0, sizeof(st));
	CHECK_EQ(fs_l2_ops.status(a, &st), 0);
	return st;
}

/* The path of chunk @id's file under @base. */
static char *chunk_path(const char *base, uint64_t id)
{
	static char p[512];
	struct kvt_key key = key_of(id);
	char name[FSCHUNK_NAME_LEN + 1];

	fschunk_name(&key, name);
	snprintf(p, sizeof(p), "%s/%.2s/%s", base, name, name);
	return p;
}

/* What a walk of a base directory found. */
static struct {
	int chunks;     /* regular files with a chunk name in the right shard */
	int strays;     /* anything else that is not a directory */
	int bad_modes;
} walk;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *name = path + ftw->base;
	struct kvt_key key;
	char shard[3];

	if (type == FTW_D || type == FTW_DP) {
		if (ftw->level > 0 && (st->st_mode & 07777) != 0700)
			walk.bad_modes++;
		return 0;
	}
	if (type == FTW_F && fschunk_parse_name(name, &key)) {
		fschunk_shard_name(fschunk_shard(&key), shard);
		if (ftw->base >= 3 && !strncmp(path + ftw->base - 3, shard, 2)) {
			walk.chunks++;
			if ((st->st_mode & 07777) != 0600)
				walk.bad_modes++;
			return 0;
		}
	}
	fprintf(stderr, "    stray: %s\n", path);
	walk.strays++;
	return 0;
}

static void walk_base(const char *base)
{
	memset(&walk, 0, sizeof(walk));
	CHECK_EQ(nftw(base, walk_one, 16, FTW_PHYS), 0);
}


/* ---- round trips -------------------------------------------------------- */

TEST(store_lookup_load_round_trip_partial_and_unaligned)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);
	static const size_t lens[] = { 65536, 1000, 3 * 4096 + 17, 0 };
	uint64_t ids[] = { 1, 2, 3, 4 };
	struct kvt_l2_status st;
	uint64_t total = 0;
	int64_t bytes;
	size_t len;

	for (size_t i = 0; i < 4; i++) {
		CHECK_EQ(store_ids(a, &ids[i], 1, lens[i], 0, &bytes), 1);
		CHECK_EQ(bytes, lens[i]);
		total += FSCHUNK_HDR + lens[i];
	}
	for (size_t i = 0; i < 4; i++) {
		CHECK_ROW(i, lookup_hit(a, ids[i], &len));
		CHECK_ROW(i, len == lens[i]);
		unlock_id(a, ids[i]);
		CHECK_ROW(i, load_ok(a, ids[i], 65536, lens[i], 0));
	}
	CHECK(!lookup_hit(a, 99, &len));
	CHECK_EQ(len, 0);
	CHECK(!load_hit(a, 99, 4096));
	st = status_of(a);
	CHECK(st.is_healthy);
	CHECK_EQ(st.chunks, 4);
	CHECK_EQ(st.bytes_used, total);
	CHECK_EQ(l2t_detail_num(&st, "stores"), 4);
	CHECK_EQ(l2t_detail_num(&st, "loads"), 4);
	CHECK_HAS(st.detail, "odirect=off");
	walk_base(base);
	CHECK_EQ(walk.chunks, 4);
	CHECK_EQ(walk.strays, 0);
	fs_l2_ops.destroy(a);
}

TEST(batch_of_many_keys_round_trips)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, (const char *[]){ "io_depth", "8", NULL });
	struct kvt_key keys[100];
	void *bufs[100];
	size_t lens[100], got[100];
	uint64_t ids[100], bm[2];

	for (size_t i = 0; i < 100; i++)
		ids[i] = 1000 + i;
	CHECK_EQ(store_ids(a, ids, 100, 5000, 7, NULL), 100);
	for (size_t i = 0; i < 100; i++) {
		keys[i] = key_of(ids[i]);
		bufs[i] = malloc(8192);
		lens[i] = 8192;
	}
	keys[50] = key_of(5); /* one miss in the middle */
	l2t_run(&fs_l2_ops, a, KVT_L2_LOAD, keys, bufs, lens, 100, bm, got);
	CHECK_EQ(l2t_popcount(bm, 100), 99);
	CHECK(!kvt_l2_bit(bm, 50));
	for (size_t i = 0; i < 100; i++) {
		if (i != 50) {
			CHECK_ROW(i, got[i] == 5000 && l2t_same(bufs[i], 5000, ids[i], 7));
		} else {
			CHECK_ROW(i, got[i] == 0);
		}
		free(bufs[i]);
	}
	fs_l2_ops.destroy(a);
}

TEST(too_small_buffer_is_a_miss_not_corruption)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);

	CHECK_EQ(store_one(a, 1, 10000, 0), 1);
	CHECK(!load_hit(a, 1, 9999));
	CHECK(load_ok(a, 1, 10000, 10000, 0));
	CHECK_EQ(l2t_detail_num((struct kvt_l2_status[]){ status_of(a) }, "corrupt_removed"), 0);
	fs_l2_ops.destroy(a);
}

TEST(duplicate_store_not_rewritten_nor_double_counted)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);
	struct kvt_l2_status st;
	struct stat before, after;
	uint64_t id = 7;
	int64_t bytes;

	CHECK_EQ(store_ids(a, &id, 1, 20000, 1, &bytes), 1);
	CHECK_EQ(bytes, 20000);
	CHECK_EQ(stat(chunk_path(base, 7), &before), 0);
	CHECK_EQ(store_ids(a, &id, 1, 20000, 2, &bytes), 1);
	CHECK_EQ(bytes, 0);
	CHECK_EQ(stat(chunk_path(base, 7), &after), 0);
	CHECK(before.st_ino == after.st_ino);
	CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
	CHECK(load_ok(a, 7, 20000, 20000, 1));
	st = status_of(a);
	CHECK_EQ(st.chunks, 1);
	CHECK_EQ(st.bytes_used, FSCHUNK_HDR + 20000);
	CHECK_EQ(l2t_detail_num(&st, "stores"), 1);
	fs_l2_ops.destroy(a);
}

/* ---- delete and locks ------------------------------------------------- */

TEST(load_after_delete_is_a_miss_and_double_delete_is_idempotent)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);
	int res = 1;

	CHECK_EQ(store_one(a, 3, 5000, 0), 1);
	CHECK_EQ(remove_id(a, 3, &res), 1);
	CHECK_EQ(res, 0);
	CHECK(!load_hit(a, 3, 8192));
	CHECK(!lookup_hit(a, 3, NULL));
	CHECK_EQ(remove_id(a, 3, &res), 0);
	CHECK_EQ(res, -ENOENT);
	CHECK_EQ(remove_id(a, 3, NULL), 0);
	CHECK_EQ(fs_l2_ops.remove(a, NULL, 0, NULL), 0);
	CHECK_EQ(status_of(a).chunks, 0);
	CHECK_EQ(status_of(a).bytes_used, 0);
	fs_l2_ops.destroy(a);
}

TEST(delete_batch_of_300)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);
	struct kvt_key keys[300];
	uint64_t ids[300], bm[5];
	int res[300];

	for (size_t i = 0; i < 300; i++)
		ids[i] = 500 + i;
	CHECK_EQ(store_ids(a, ids, 300, 100, 0, NULL), 300);
	for (size_t i = 0; i < 300; i++)
		keys[i] = key_of(ids[i]);
	CHECK_EQ(fs_l2_ops.remove(a, keys, 300, res), 300);
	for (size_t i = 0; i < 300; i++)
		CHECK_ROW(i, res[i] == 0);
	l2t_run(&fs_l2_ops, a, KVT_L2_LOOKUP, keys, NULL, NULL, 300, bm, NULL);
	CHECK_EQ(l2t_popcount(bm, 300), 0);
	walk_base(base);
	CHECK_EQ(walk.chunks + walk.strays, 0);
	CHECK_EQ(status_of(a).bytes_used, 0);
	fs_l2_ops.destroy(a);
}

TEST(delete_of_locked_key_refused_until_unlock)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);
	int res = 0;

	CHECK_EQ(store_one(a, 4, 5000, 0), 1);
	CHECK(lookup_hit(a, 4, NULL));
	CHECK(lookup_hit(a, 4, NULL)); /* two locks */
	CHECK_EQ(remove_id(a, 4, &res), 0);
	CHECK_EQ(res, -EBUSY);
	unlock_id(a, 4);
	CHECK_EQ(remove_id(a, 4, &res), 0);
	CHECK_EQ(res, -EBUSY);
	CHECK(load_ok(a, 4, 5000, 5000, 0));
	unlock_id(a, 4);
	unlock_id(a, 4); /* one too many does nothing */
	CHECK_EQ(remove_id(a, 4, &res), 1);
	CHECK_EQ(res, 0);
	CHECK(!load_hit(a, 4, 5000));
	fs_l2_ops.destroy(a);
}

/* ---- concurrent writers ------------------------------------------------- */

struct writer {
	const char *base;
	pthread_barrier_t *start;
	int salt;
	bool stored;
};

#define RACE_LEN (256 * 1024 + 123)

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct kvt_l2_adapter *a = fs_new(w->base, NULL);

	pthread_barrier_wait(w->start);
	w->stored = store_one(a, 42, RACE_LEN, (unsigned int)w->salt) == 1;
	fs_l2_ops.destroy(a);
	return NULL;
}

/* One complete, valid file of chunk 42 written by one of @n salts. */
static void check_one_winner(const char *base, int n)
{
	struct kvt_l2_adapter *a = fs_new(base, NULL);
	void *buf = malloc(RACE_LEN);
	struct kvt_key key = key_of(42);
	size_t cap = RACE_LEN, got;
	uint64_t bm;
	int winners = 0;

	walk_base(base);
	CHECK_EQ(walk.chunks, 1);
	CHECK_EQ(walk.strays, 0);
	l2t_run(&fs_l2_ops, a, KVT_L2_LOAD, &key, &buf, &cap, 1, &bm, &got);
	CHECK(kvt_l2_bit(&bm, 0));
	CHECK_EQ(got, RACE_LEN);
	for (int s = 0; s < n; s++)
		winners += l2t_same(buf, RACE_LEN, 42, (unsigned int)s);
	CHECK_EQ(winners, 1);
	free(buf);
	fs_l2_ops.destroy(a);
}

TEST(eight_threads_one_key_leave_one_complete_file)
{
	const char *base = harness_tmpdir(0);
	pthread_barrier_t start;
	struct writer w[8];
	pthread_t th[8];

	for (int round = 0; round < 3; round++) {
		pthread_barrier_init(&start, NULL, 8);
		for (int i = 0; i < 8; i++) {
			w[i] = (struct writer){ base, &start, i, false };
			CHECK_EQ(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
		}
		for (int i = 0; i < 8; i++) {
			pthread_join(th[i], NULL);
			CHECK_ROW(i, w[i].stored);
		}
		pthread_barrier_destroy(&start);
		check_one_winner(base, 8);
		unlink(chunk_path(base, 42));
	}
}

TEST(four_processes_one_key_leave_one_complete_file)
{
	const char *base = harness_tmpdir(0);
	int go[2];
	pid_t pid[4];

	CHECK_EQ(pipe(go), 0);
	for (int i = 0; i < 4; i++) {
		pid[i] = fork();
		CHECK(pid[i] >= 0);
		if (pid[i] == 0) {
			struct kvt_l2_adapter *a;
			char c;

			close(go[1]);
			a = fs_new(base, NULL);
			CHILD_CHECK(read(go[0], &c, 1) == 0); /* EOF: all go */
			CHILD_CHECK(store_one(a, 42, RACE_LEN, (unsigned int)i) == 1);
			fs_l2_ops.destroy(a);
			_exit(0);
		}
	}
	close(go[0]);
	usleep(100 * 1000);
	close(go[1]);
	for (int i = 0; i < 4; i++) {
		int status;

		CHECK_EQ(waitpid(pid[i], &status, 0), pid[i]);
		CHECK_ROW(i, WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	check_one_winner(base, 4);
}

TEST(kill9_mid_store_never_leaves_a_torn_or_stray_file)
{
	const char *base = harness_tmpdir(0);
	const size_t len = 4u << 20;
	struct kvt_l2_adapter *a;
	struct kvt_l2_status st;
	int checked = 0;

	for (int round = 0; round < 5; round++) {
		pid_t pid = fork();
		int status;

		CHECK(pid >= 0);
		if (pid == 0) {
			struct kvt_l2_adapter *c = fs_new(base, NULL);

			for (uint64_t id = (uint64_t)round * 1000;; id++)
				store_one(c, id, len, 9);
		}
		usleep((useconds_t)(30 + 40 * round) * 1000);
		kill(pid, SIGKILL);
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK(WIFSIGNALED(status));
	}
	/* a restart with a capacity scans everything the writers left */
	a = fs_new(base, (const char *[]){ "max_capacity_gb", "100", NULL });
	walk_base(base);
	CHECK_EQ(walk.strays, 0);
	st = status_of(a);
	CHECK_EQ(st.chunks, (uint64_t)walk.chunks);
	for (int round = 0; round < 5; round++)
		for (uint64_t id = (uint64_t)round * 1000; id < (uint64_t)round * 1000 + 1000; id++) {
			struct stat sb;

			if (stat(chunk_path(base, id), &sb) < 0)
				break;
			CHECK_EQ(sb.st_size, FSCHUNK_HDR + len);
			CHECK(load_ok(a, id, len, len, 9));
			checked++;
		}
	CHECK_EQ(checked, walk.chunks);
	CHECK_EQ(l2t_detail_num((struct kvt_l2_status[]){ status_of(a) }, "corrupt_removed"), 0);
	fs_l2_ops.destroy(a);
}

/* ---- corruption ----------------------------------------------------------- */

enum damage { FLIP_PAYLOAD, FLIP_HEADER, TRUNCATE, FOREIGN, EMPTY, WRONG_KEY };

TEST(damaged_file_is_a_miss_and_is_removed)
{
	static const struct {
		enum damage d;
		const char *what;
	} rows[] = {
		{ FLIP_PAYLOAD, "bit flip in payload" }, { FLIP_HEADER, "bit flip in header" },
		{ TRUNCATE, "truncated payload" },       { FOREIGN, "foreign bytes" },
		{ EMPTY, "empty file" },                 { WRONG_KEY, "another key's file" },
	};
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		uint64_t id = 100 + r;
		char p[512];
		uint8_t b;
		int fd;

		snprintf(p, sizeof(p), "%s", chunk_path(base, id));
		CHECK_ROW(r, store_one(a, id, 10000, 0) == 1);
		fd = open(p, O_RDWR);
		CHECK_ROW(r, fd >= 0);
		switch (rows[r].d) {
		case FLIP_PAYLOAD:
		case FLIP_HEADER: {
			off_t off = rows[r].d == FLIP_PAYLOAD ? FSCHUNK_HDR + 5000 : 20;

			CHECK_ROW(r, pread(fd, &b, 1, off) == 1);
			b ^= 0x20;
			CHECK_ROW(r, pwrite(fd, &b, 1, off) == 1);
			break;
		}
		case TRUNCATE:
			CHECK_ROW(r, ftruncate(fd, FSCHUNK_HDR + 9999) == 0);
			break;
		case FOREIGN: {
			char junk[6000];

			memset(junk, 'x', sizeof(junk));
			CHECK_ROW(r, ftruncate(fd, 0) == 0);
			CHECK_ROW(r, pwrite(fd, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk));
			break;
		}
		case EMPTY:
			CHECK_ROW(r, ftruncate(fd, 0) == 0);
			break;
		case WRONG_KEY: {
			/* a valid chunk of another key under this key's name */
			char other[512];

			snprintf(other, sizeof(other), "%s", chunk_path(base, 999));
			CHECK_ROW(r, store_one(a, 999, 10000, 0) == 1);
			close(fd);
			CHECK_ROW(r, rename(other, p) == 0);
			fd = open(p, O_RDONLY);
			break;
		}
		}
		close(fd);
		CHECK_ROW(r, !load_hit(a, id, 10000));
		CHECK_ROW(r, access(p, F_OK) < 0 && errno == ENOENT);
		CHECK_ROW(r, l2t_detail_num((struct kvt_l2_status[]){ status_of(a) },
					"corrupt_removed") == r + 1);
	}
	fs_l2_ops.destroy(a);
}

/* A file shorter than a header (0 bytes: a crash before its data reached
 * the disk) can be no chunk: the lookup that finds it calls it a miss and
 * removes it like any damaged file, so kvt_get and kvt_contains, which
 * look up before they load, do not leave it behind. */
TEST(file_shorter_than_a_header_is_a_lookup_miss_and_is_removed)
{
	static const off_t sizes[] = { 0, 100, FSCHUNK_HDR - 1 };
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);

	for (size_t r = 0; r < sizeof(sizes) / sizeof(sizes[0]); r++) {
		uint64_t id = 300 + r;
		char p[512];

		snprintf(p, sizeof(p), "%s", chunk_path(base, id));
		CHECK_ROW(r, store_one(a, id, 10000, 0) == 1);
		CHECK_ROW(r, truncate(p, sizes[r]) == 0);
		CHECK_ROW(r, !lookup_hit(a, id, NULL));
		CHECK_ROW(r, access(p, F_OK) < 0 && errno == ENOENT);
		CHECK_ROW(r, l2t_detail_num((struct kvt_l2_status[]){ status_of(a) },
					"corrupt_removed") == r + 1);
		/* the name is free again: the key can be stored and served */
		CHECK_ROW(r, store_one(a, id, 10000, 0) == 1);
		CHECK_ROW(r, lookup_hit(a, id, NULL));
		unlock_id(a, id);
		CHECK_ROW(r, load_ok(a, id, 10000, 10000, 0));
	}
	fs_l2_ops.destroy(a);
}

/* ---- O_DIRECT ----------------------------------------------------------- */

static void need_odirect(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_DIRECT, 0600);

	if (fd < 0)
		SKIP("%s refuses O_DIRECT: %s", dir, strerror(errno));
	close(fd);
}

/* Store and load chunks @ids with lengths @lens through 4096-aligned
 * buffers (@offset bytes in: 0 aligned, else not). */
static void aligned_round_trip(struct kvt_l2_adapter *a, const uint64_t *ids, const size_t *lens,
			       size_t n, size_t offset)
{
	struct kvt_key keys[8] = { { 0, 0 } };
	void *bufs[8] = { NULL }, *mem[8] = { NULL };
	size_t blens[8] = { 0 }, got[8];
	uint64_t bm;

	for (size_t i = 0; i < n; i++) {
		CHECK(posix_memalign(&mem[i], 4096, lens[i] + 8192) == 0);
		bufs[i] = (uint8_t *)mem[i] + offset;
		l2t_fill(bufs[i], lens[i], ids[i], 3);
		keys[i] = key_of(ids[i]);
		blens[i] = lens[i];
	}
	l2t_run(&fs_l2_ops, a, KVT_L2_STORE, keys, bufs, blens, n, &bm, NULL);
	CHECK_EQ(l2t_popcount(&bm, n), n);
	for (size_t i = 0; i < n; i++) {
		memset(bufs[i], 0, lens[i] + 4096);
		blens[i] = lens[i] + 4096;
	}
	l2t_run(&fs_l2_ops, a, KVT_L2_LOAD, keys, bufs, blens, n, &bm, got);
	CHECK_EQ(l2t_popcount(&bm, n), n);
	for (size_t i = 0; i < n; i++) {
		CHECK_ROW(i, got[i] == lens[i] && l2t_same(bufs[i], lens[i], ids[i], 3));
		free(mem[i]);
	}
}

TEST(odirect_success_keeps_odirect_on)
{
	const char *base = harness_disk_tmpdir();
	struct kvt_l2_adapter *a;
	static const size_t lens[] = { 65536, 4096 * 16 + 100, 1000, 8192 };
	uint64_t ids[] = { 1, 2, 3, 4 }, ids2[] = { 5, 6, 7, 8 };
	struct kvt_l2_status st;
	struct stat sb;

	need_odirect(base);
	a = fs_new(base, (const char *[]){ "use_odirect", "true", NULL });
	aligned_round_trip(a, ids, lens, 4, 0);
	aligned_round_trip(a, ids2, lens, 4, 1); /* unaligned caller buffers */
	CHECK_EQ(stat(chunk_path(base, 2), &sb), 0);
	CHECK_EQ(sb.st_size, FSCHUNK_HDR + lens[1]);
	st = status_of(a);
	CHECK_HAS(st.detail, "odirect=on");
	CHECK_EQ(l2t_detail_num(&st, "odirect_fallbacks"), 0);
	fs_l2_ops.destroy(a);
}

TEST(odirect_refused_falls_back_once_and_keeps_serving)
{
	const char *base = harness_disk_tmpdir();
	struct kvt_l2_adapter *a;
	static const size_t lens[] = { 65536, 65536, 4096 * 3 + 5, 65536 };
	uint64_t ids[] = { 1, 2, 3, 4 }, ids2[] = { 5, 6, 7, 8 };
	struct kvt_l2_status st;

	need_odirect(base);
	a = fs_new(base, (const char *[]){ "use_odirect", "true", "fault_odirect_einval", "true",
					   NULL });
	CHECK_HAS(status_of(a).detail, "odirect=on");
	aligned_round_trip(a, ids, lens, 4, 0);
	st = status_of(a);
	CHECK_HAS(st.detail, "odirect=off");
	CHECK_EQ(l2t_detail_num(&st, "odirect_fallbacks"), 1);
	aligned_round_trip(a, ids2, lens, 4, 0);
	st = status_of(a);
	CHECK_EQ(l2t_detail_num(&st, "odirect_fallbacks"), 1);
	CHECK(st.is_healthy);
	CHECK_EQ(st.errors, 0);
	fs_l2_ops.destroy(a);
}

TEST(odirect_refused_on_a_load_falls_back_too)
{
	const char *base = harness_disk_tmpdir();
	struct kvt_l2_adapter *a;
	uint64_t id = 1;
	size_t len = 65536;
	void *buf;
	struct kvt_key key = key_of(1);
	uint64_t bm;
	size_t got;

	need_odirect(base);
	a = fs_new(base, NULL);
	CHECK_EQ(store_one(a, 1, len, 3), 1);
	fs_l2_ops.destroy(a);
	a = fs_new(base, (const char *[]){ "use_odirect", "true", "fault_odirect_einval", "true",
					   NULL });
	CHECK(posix_memalign(&buf, 4096, len) == 0);
	l2t_run(&fs_l2_ops, a, KVT_L2_LOAD, &key, &buf, &len, 1, &bm, &got);
	CHECK(kvt_l2_bit(&bm, 0) && got == len && l2t_same(buf, len, id, 3));
	CHECK_HAS(status_of(a).detail, "odirect=off");
	CHECK_EQ(l2t_detail_num((struct kvt_l2_status[]){ status_of(a) }, "odirect_fallbacks"), 1);
	free(buf);
	fs_l2_ops.destroy(a);
}

/* ---- ENOSPC ------------------------------------------------------------- */

/* A 2 MiB tmpfs mounted in a fresh dir, unmounted at exit; or SKIP. */
static char mnt[256];

static void umount_small(void)
{
	umount2(mnt, MNT_DETACH);
}

static const char *small_tmpfs(void)
{
	snprintf(mnt, sizeof(mnt), "%s", path_in(harness_tmpdir(0), "mnt"));
	CHECK_EQ(mkdir(mnt, 0700), 0);
	if (mount("kvt-test", mnt, "tmpfs", 0, "size=2m") < 0)
		SKIP("cannot mount a small tmpfs: %s", strerror(errno));
	atexit(umount_small);
	return path_in(mnt, "kv");
}

TEST(enospc_unbounded_fails_stores_and_reports_unhealthy)
{
	const char *base = small_tmpfs();
	struct kvt_l2_adapter *a = fs_new(base, NULL);
	struct kvt_l2_status st;
	uint64_t id;
	int ok = 0;

	for (id = 0; id < 40; id++) {
		if (store_one(a, id, 256 * 1024, 0) != 1)
			break;
		ok++;
	}
	CHECK(id < 40);
	CHECK(ok > 0);
	st = status_of(a);
	CHECK(!st.is_healthy);
	CHECK(st.errors > 0);
	CHECK_EQ(l2t_detail_num(&st, "evictions"), 0);
	walk_base(base);
	CHECK_EQ(walk.strays, 0);
	CHECK_EQ(walk.chunks, ok);
	/* room again: the next store succeeds and health comes back */
	CHECK_EQ(remove_id(a, 0, NULL), 1);
	CHECK_EQ(remove_id(a, 1, NULL), 1);
	CHECK_EQ(store_one(a, 1000, 1000, 0), 1);
	CHECK(status_of(a).is_healthy);
	for (uint64_t i = 2; i < (uint64_t)ok; i++)
		CHECK_ROW(i, load_ok(a, i, 256 * 1024, 256 * 1024, 0));
	fs_l2_ops.destroy(a);
}

TEST(enospc_with_capacity_evicts_oldest_and_keeps_storing)
{
	const char *base = small_tmpfs();
	struct kvt_l2_adapter *a = fs_new(base, (const char *[]){ "max_capacity_gb", "1", NULL });
	struct kvt_l2_status st;

	for (uint64_t id = 0; id < 40; id++)
		CHECK_ROW(id, store_one(a, id, 256 * 1024, 0) == 1);
	st = status_of(a);
	CHECK(st.is_healthy);
	CHECK(l2t_detail_num(&st, "enospc_evictions") > 0);
	CHECK(!load_hit(a, 0, 256 * 1024));
	CHECK(load_ok(a, 39, 256 * 1024, 256 * 1024, 0));
	walk_base(base);
	CHECK_EQ(walk.strays, 0);
	CHECK_EQ((uint64_t)walk.chunks, st.chunks);
	fs_l2_ops.destroy(a);
}

/* ---- sharing, restart, capacity ----------------------------------------- */

TEST(two_processes_on_one_dir_see_each_others_chunks)
{
	const char *base = harness_tmpdir(0);
	int ab[2], ba[2];
	pid_t pa, pb;
	int status;

	CHECK_EQ(pipe(ab), 0);
	CHECK_EQ(pipe(ba), 0);
	pa = fork();
	CHECK(pa >= 0);
	if (pa == 0) {
		struct kvt_l2_adapter *a = fs_new(base, NULL);
		char c = 'a';

		CHILD_CHECK(store_one(a, 1, 30000, 1) == 1);
		CHILD_CHECK(write(ab[1], &c, 1) == 1);
		CHILD_CHECK(read(ba[0], &c, 1) == 1);
		CHILD_CHECK(lookup_hit(a, 2, NULL));
		CHILD_CHECK(load_ok(a, 2, 30000, 30000, 2));
		fs_l2_ops.destroy(a);
		_exit(0);
	}
	pb = fork();
	CHECK(pb >= 0);
	if (pb == 0) {
		struct kvt_l2_adapter *b = fs_new(base, NULL);
		char c = 'b';

		CHILD_CHECK(read(ab[0], &c, 1) == 1);
		CHILD_CHECK(lookup_hit(b, 1, NULL));
		CHILD_CHECK(load_ok(b, 1, 30000, 30000, 1));
		CHILD_CHECK(store_one(b, 2, 30000, 2) == 1);
		CHILD_CHECK(write(ba[1], &c, 1) == 1);
		fs_l2_ops.destroy(b);
		_exit(0);
	}
	CHECK_EQ(waitpid(pa, &status, 0), pa);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(waitpid(pb, &status, 0), pb);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(restart_is_warm)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);

	for (uint64_t id = 0; id < 10; id++)
		CHECK_EQ(store_one(a, id, 7000, 5), 1);
	fs_l2_ops.destroy(a);
	a = fs_new(base, NULL);
	for (uint64_t id = 0; id < 10; id++) {
		CHECK_ROW(id, lookup_hit(a, id, NULL));
		CHECK_ROW(id, load_ok(a, id, 8192, 7000, 5));
	}
	fs_l2_ops.destroy(a);
}

TEST(capacity_evicts_oldest_unlocked_first_and_usage_survives_restart)
{
	const char *base = harness_tmpdir(0);
	const uint64_t file = FSCHUNK_HDR + 65536;
	const char *kv[] = { "max_capacity_gb", NULL, NULL };
	char gb[64];
	struct kvt_l2_adapter *a;
	struct kvt_l2_status st;

	snprintf(gb, sizeof(gb), "%.17g", (double)(10 * file) / GIB);
	kv[1] = gb;
	a = fs_new(base, kv);
	for (uint64_t id = 0; id < 10; id++) {
		CHECK_EQ(store_one(a, id, 65536, 0), 1);
		usleep(2000); /* distinct mtimes for the restart's order */
	}
	st = status_of(a);
	CHECK_EQ(st.bytes_used, 10 * file);
	CHECK_EQ(st.capacity_bytes, 10 * file);
	CHECK(lookup_hit(a, 1, NULL)); /* locked: eviction skips it */
	CHECK_EQ(store_one(a, 10, 65536, 0), 1);
	CHECK(!lookup_hit(a, 0, NULL));
	CHECK_EQ(store_one(a, 11, 65536, 0), 1);
	CHECK(!lookup_hit(a, 2, NULL));
	CHECK(load_ok(a, 1, 65536, 65536, 0));
	st = status_of(a);
	CHECK_EQ(l2t_detail_num(&st, "evictions"), 2);
	CHECK_EQ(st.bytes_used, 10 * file);
	CHECK_EQ(st.chunks, 10);
	fs_l2_ops.destroy(a);

	/* restart: usage recovered; chunk 1 is now the oldest and unlocked */
	a = fs_new(base, kv);
	st = status_of(a);
	CHECK_EQ(st.bytes_used, 10 * file);
	CHECK_EQ(st.chunks, 10);
	CHECK_EQ(store_one(a, 12, 65536, 0), 1);
	CHECK(!lookup_hit(a, 1, NULL));
	CHECK(lookup_hit(a, 3, NULL));
	unlock_id(a, 3);
	CHECK_EQ(remove_id(a, 5, NULL), 1);
	CHECK_EQ(status_of(a).bytes_used, 9 * file);
	fs_l2_ops.destroy(a);
}

/* ---- modes, config, paths ----------------------------------------------- */

TEST(files_0600_and_dirs_0700)
{
	const char *base = path_in(harness_tmpdir(0), "new");
	mode_t old = umask(0);
	struct kvt_l2_adapter *a = fs_new(base, (const char *[]){ "relative_tmp_dir", "tmp",
								  "durable", "true", NULL });
	struct stat st;

	CHECK_EQ(store_one(a, 1, 5000, 0), 1);
	CHECK_EQ(store_one(a, 2, 5000, 0), 1);
	CHECK_EQ(stat(base, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0700);
	CHECK_EQ(stat(path_in(base, "tmp"), &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0700);
	walk_base(base);
	CHECK_EQ(walk.chunks, 2);
	CHECK_EQ(walk.bad_modes, 0);
	CHECK_EQ(walk.strays, 0);
	CHECK(load_ok(a, 2, 5000, 5000, 0));
	fs_l2_ops.destroy(a);
	umask(old);
}

TEST(bad_configs_refused_naming_the_key)
{
	static const struct {
		const char *kv[5];
		const char *msg;
	} rows[] = {
		{ { "relative_tmp_dir", "/abs" }, "relative_tmp_dir" },
		{ { "relative_tmp_dir", "../up" }, "relative_tmp_dir" },
		{ { "relative_tmp_dir", "a/../../b" }, "relative_tmp_dir" },
		{ { "relative_tmp_dir", "a/.." }, "relative_tmp_dir" },
		{ { "relative_tmp_dir", "" }, "relative_tmp_dir" },
		{ { "bogus_key", "1" }, "bogus_key" },
		{ { "use_odirect", "yes" }, "use_odirect" },
		{ { "durable", "1" }, "durable" },
		{ { "max_capacity_gb", "-1" }, "max_capacity_gb" },
		{ { "max_capacity_gb", "lots" }, "max_capacity_gb" },
		{ { "io_depth", "0" }, "io_depth" },
		{ { "read_ahead_size", "-5" }, "read_ahead_size" },
		{ { "fault_eio_ppm", "1000001" }, "fault_eio_ppm" },
	};
	const char *base = harness_tmpdir(0);
	int fds = harness_count_fds(), threads = harness_count_threads();
	struct kvt_l2_adapter *a = NULL;
	char err[512];

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		err[0] = '\0';
		CHECK_ROW(r, fs_try(base, rows[r].kv, &a, err, sizeof(err)) == -EINVAL);
		CHECK_HAS(err, rows[r].msg);
	}
	CHECK_EQ(fs_try(NULL, NULL, &a, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "base_path");
	CHECK_EQ(fs_try("relative/dir", NULL, &a, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "base_path");
	CHECK_EQ(harness_count_fds(), fds);
	CHECK_EQ(harness_count_threads(), threads);
	/* a nested tmp dir below base is fine */
	a = fs_new(base, (const char *[]){ "relative_tmp_dir", "./t", "read_ahead_size",
					   "1048576", NULL });
	CHECK_EQ(store_one(a, 1, 5000, 0), 1);
	CHECK(load_ok(a, 1, 5000, 5000, 0));
	fs_l2_ops.destroy(a);
	CHECK_EQ(harness_count_fds(), fds);
}

TEST(base_path_symlink_or_file_refused)
{
	const char *dir = harness_tmpdir(0);
	char *real = path_in(dir, "real"), *link = path_in(dir, "link"), *file = path_in(dir, "file");
	struct kvt_l2_adapter *a;
	char err[512];
	int fd;

	CHECK_EQ(mkdir(real, 0700), 0);
	CHECK_EQ(symlink(real, link), 0);
	CHECK(fs_try(link, NULL, &a, err, sizeof(err)) < 0);
	CHECK_HAS(err, "symlink");
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(fs_try(file, NULL, &a, err, sizeof(err)) < 0);
	CHECK_HAS(err, "not a directory");
}

TEST(symlinked_shard_or_chunk_is_refused)
{
	const char *dir = harness_tmpdir(0);
	char *good = path_in(dir, "good"), *evil = path_in(dir, "evil");
	struct kvt_l2_adapter *a = fs_new(good, NULL), *b;
	struct kvt_key key = key_of(1);
	char name[FSCHUNK_NAME_LEN + 1], src[512], dst[512];

	CHECK_EQ(store_one(a, 1, 5000, 0), 1);
	CHECK_EQ(store_one(a, 2, 5000, 0), 1);
	fs_l2_ops.destroy(a);
	CHECK_EQ(mkdir(evil, 0700), 0);
	/* the shard of chunk 1 is a symlink into the good tree */
	fschunk_name(&key, name);
	snprintf(src, sizeof(src), "%s/%.2s", good, name);
	snprintf(dst, sizeof(dst), "%s/%.2s", evil, name);
	CHECK_EQ(symlink(src, dst), 0);
	/* chunk 2's file is a symlink to the good file */
	key = key_of(2);
	fschunk_name(&key, name);
	snprintf(dst, sizeof(dst), "%s/%.2s", evil, name);
	if (mkdir(dst, 0700) == 0) {
		snprintf(dst, sizeof(dst), "%s/%.2s/%s", evil, name, name);
		CHECK_EQ(symlink(chunk_path(good, 2), dst), 0);
		b = fs_new(evil, NULL);
		CHECK(!lookup_hit(b, 2, NULL));
		CHECK(!load_hit(b, 2, 5000));
	} else {
		b = fs_new(evil, NULL); /* both keys share a shard: checked below */
	}
	CHECK(!lookup_hit(b, 1, NULL));
	CHECK(!load_hit(b, 1, 5000));
	CHECK_EQ(store_one(b, 1, 5000, 0), 0);
	fs_l2_ops.destroy(b);
	a = fs_new(good, NULL);
	CHECK(load_ok(a, 1, 5000, 5000, 0)); /* untouched */
	CHECK(load_ok(a, 2, 5000, 5000, 0));
	fs_l2_ops.destroy(a);
}

TEST(event_fds_unique_per_op_and_adapter)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL), *b = fs_new(base, NULL);
	int fds[6];

	for (int op = 0; op < KVT_L2_NOPS; op++) {
		fds[op] = fs_l2_ops.event_fd(a, (enum kvt_l2_op)op);
		fds[3 + op] = fs_l2_ops.event_fd(b, (enum kvt_l2_op)op);
	}
	for (int i = 0; i < 6; i++) {
		CHECK_ROW(i, fds[i] >= 0);
		for (int j = i + 1; j < 6; j++)
			CHECK_ROW(i, fds[i] != fds[j]);
	}
	CHECK(fs_l2_ops.abi_version == KVT_L2_ABI_VERSION && !strcmp(fs_l2_ops.type, "fs"));
	fs_l2_ops.destroy(a);
	fs_l2_ops.destroy(b);
}

/* ---- close and faults --------------------------------------------------- */

#define INFLIGHT 16

TEST(destroy_completes_tasks_in_flight)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *a = fs_new(base, NULL);
	static struct kvt_l2_task t[2 * INFLIGHT];
	static uint64_t bm[2 * INFLIGHT];
	static size_t got[INFLIGHT];
	_Atomic int calls = 0;
	struct kvt_key keys[INFLIGHT];
	void *bufs[INFLIGHT], *rbufs[INFLIGHT];
	size_t lens[INFLIGHT];
	const size_t len = 1 << 20;

	for (int i = 0; i < INFLIGHT; i++) {
		keys[i] = key_of((uint64_t)i);
		bufs[i] = malloc(len);
		rbufs[i] = malloc(len);
		lens[i] = len;
		l2t_fill(bufs[i], len, (uint64_t)i, 0);
		t[i] = (struct kvt_l2_task){ .on_done = l2t_count_done, .arg = &calls, .bitmap = &bm[i] };
		CHECK_EQ(fs_l2_ops.submit_store(a, &keys[i], (const void *const *)&bufs[i], &lens[i],
						1, &t[i]), 0);
	}
	for (int i = 0; i < INFLIGHT; i++) {
		t[INFLIGHT + i] = (struct kvt_l2_task){ .on_done = l2t_count_done, .arg = &calls,
							.bitmap = &bm[INFLIGHT + i],
							.lens = &got[i] };
		CHECK_EQ(fs_l2_ops.submit_load(a, &keys[i], &rbufs[i], &lens[i], 1,
					       &t[INFLIGHT + i]), 0);
	}
	fs_l2_ops.destroy(a);
	CHECK_EQ(atomic_load(&calls), 2 * INFLIGHT);
	for (int i = 0; i < INFLIGHT; i++) {
		CHECK_ROW(i, kvt_l2_task_done(&t[i]) && kvt_l2_bit(&bm[i], 0));
		CHECK_ROW(i, kvt_l2_task_done(&t[INFLIGHT + i]) && kvt_l2_bit(&bm[INFLIGHT + i], 0));
		CHECK_ROW(i, got[i] == len && !memcmp(rbufs[i], bufs[i], len));
		free(bufs[i]);
		free(rbufs[i]);
	}
}

struct chain {
	struct kvt_l2_adapter *a;
	struct kvt_l2_task t[4096];
	uint64_t bm[4096];
	struct kvt_key key;
	_Atomic int next;
	_Atomic int completed;
	_Atomic int last_ret;
};

static struct chain chain;

/* on_done that submits the next lookup, until the adapter refuses. */
static void chain_next(struct kvt_l2_task *done)
{
	int i = atomic_fetch_add(&chain.next, 1);
	int ret;

	(void)done;
	atomic_fetch_add(&chain.completed, 1);
	if (i >= 4096)
		return;
	chain.t[i] = (struct kvt_l2_task){ .on_done = chain_next, .bitmap = &chain.bm[i] };
	ret = fs_l2_ops.submit_lookup(chain.a, &chain.key, 1, &chain.t[i]);
	atomic_store(&chain.last_ret, ret);
}

TEST(submit_after_destroy_began_is_refused)
{
	const char *base = harness_tmpdir(0);
	int submitted;

	chain.a = fs_new(base, NULL);
	chain.key = key_of(1);
	atomic_store(&chain.next, 1);
	chain.t[0] = (struct kvt_l2_task){ .on_done = chain_next, .bitmap = &chain.bm[0] };
	CHECK_EQ(fs_l2_ops.submit_lookup(chain.a, &chain.key, 1, &chain.t[0]), 0);
	fs_l2_ops.destroy(chain.a);
	submitted = atomic_load(&chain.next);
	CHECK(submitted < 4096);
	CHECK_EQ(atomic_load(&chain.last_ret), -ESHUTDOWN);
	/* every accepted task completed; the refused one never did */
	CHECK_EQ(atomic_load(&chain.completed), submitted - 1);
	CHECK(!kvt_l2_task_done(&chain.t[submitted - 1]));
}

TEST(injected_eio_fails_every_store_and_load_without_crashing)
{
	const char *base = harness_tmpdir(0);
	struct kvt_l2_adapter *good = fs_new(base, NULL);
	struct kvt_l2_adapter *bad = fs_new(base, (const char *[]){ "fault_eio_ppm", "1000000",
								    NULL });
	uint64_t ids[20];
	struct kvt_l2_status st;
	int64_t bytes;

	CHECK_EQ(store_one(good, 1, 20000, 0), 1);
	for (int i = 0; i < 20; i++)
		ids[i] = 100 + (uint64_t)i;
	CHECK_EQ(store_ids(bad, ids, 20, 20000, 0, &bytes), 0);
	CHECK(bytes < 0);
	CHECK(!load_hit(bad, 1, 20000));
	st = status_of(bad);
	CHECK(!st.is_healthy);
	CHECK(st.errors >= 21);
	CHECK_EQ(l2t_detail_num(&st, "corrupt_removed"), 0);
	walk_base(base);
	CHECK_EQ(walk.chunks, 1); /* no partial file, and chunk 1 kept */
	CHECK_EQ(walk.strays, 0);
	CHECK(load_ok(good, 1, 20000, 20000, 0));
	fs_l2_ops.destroy(bad);
	fs_l2_ops.destroy(good);
}
