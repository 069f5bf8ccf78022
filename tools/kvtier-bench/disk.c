/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/disk.c - `kvtier-bench disk`: store and load GB/s of
 * the fs L2 adapter beside raw io_uring O_DIRECT I/O of the same bytes, one
 * file per chunk, in the same directory, in the same run.
 *
 * Per chunk size, N chunks (--total-mib in all) live in page-aligned
 * buffers, every 8-byte word derived from the chunk's key.  Each of --reps
 * repetitions times four phases on WORK/<size>/ (WORK: a fresh directory
 * in --dir, removed at exit unless --keep):
 *   raw write  per chunk: openat(raw/cNNNNNNNN, O_CREAT|O_WRONLY|O_DIRECT,
 *              0600), an io_uring write of the whole chunk, close once it
 *              completes, --depth writes in flight; then syncfs.
 *   fs store   an fs adapter on fs/ (use_odirect true, durable false,
 *              io_depth --depth): submit_store() of --batch keys a task,
 *              --depth / --batch tasks in flight; then syncfs.
 *   raw read   the files read back with O_DIRECT, same depth.
 *   fs load    per task submit_lookup(), then submit_load(), then unlock().
 * Before every phase: sync and drop the page cache, so no phase inherits
 * another's dirty pages or warm cache.  Both reads are checked word by word
 * after their timed window; a wrong byte is fatal.  Between repetitions
 * both sides delete what they wrote (unlink / remove()), so every store
 * creates new files.  Raw and fs alternate which goes first in each
 * repetition, so a drifting VM favours neither; the table shows medians.
 *
 * Durability: durable:false makes the adapter skip fsync, so the raw side
 * does not fsync either; but each write phase ends with syncfs() inside its
 * timed window, on both sides, so neither is credited for metadata (or, if
 * O_DIRECT ever falls back to buffered, data) still dirty in memory.
 *
 * Threads: main (setup, raw I/O, adapter submits, checks, report); the
 * adapter's own threads run its I/O and the task callbacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <liburing.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "l2/fs/fs_adapter.h"
#include "kvtier/l2.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define MAX_CHUNK_SIZES 8
#define MAX_REPS 15 /* keeps every repetition's figures within the JSON line */
#define MIB 1048576ull
#define BIG_CHUNK MIB /* the goal applies to chunks of at least this size */

/* Goal, printed beside the results; never a failure. */
#define GOAL_RATIO 0.85

#define TMPFS_MAGIC_ 0x01021994

enum phase { PH_RAW_WRITE, PH_FS_STORE, PH_RAW_READ, PH_FS_LOAD, PH_COUNT };

static const char *const phase_names[PH_COUNT] = { "raw write", "fs store", "raw read",
						   "fs load" };

struct disk_opts {
	const char *dir;
	uint64_t total_mib;
	uint64_t chunk_kib[MAX_CHUNK_SIZES];
	size_t nsizes;
	uint64_t depth, batch, reps;
	bool json, keep;
	const char *plot;
};

/* One chunk size's medians over the repetitions, and every repetition's
 * figures for the JSON line. */
struct row {
	size_t chunk_bytes;
	size_t n;
	double gbps[PH_COUNT];
	double cpu_ms_per_gb[PH_COUNT];	/* process CPU (all threads) per GB moved */
	double rep_gbps[MAX_REPS][PH_COUNT];
	char fs_detail[sizeof(((struct kvt_l2_status *)0)->detail)];
	uint64_t fs_errors;
	bool fs_healthy;
};

/* Completed tasks, handed from the adapter's callback to the main thread. */
struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t *fin;
	uint32_t nfin;
};

enum stage { ST_IDLE, ST_STORE, ST_LOOKUP, ST_LOAD };

struct slot {
	struct kvt_l2_task task;
	struct waiter *w;
	uint32_t idx;
	enum stage stage;
	size_t first, count;
	uint64_t *bitmap;
	size_t *lens;
};

struct rig {
	const struct disk_opts *o;
	size_t chunk_bytes;
	size_t n;
	char *map;		/* n chunks, contiguous, page-aligned */
	size_t map_bytes;
	void **bufs;
	size_t *lens;
	struct kvt_key *keys;
	int *fds;
	struct io_uring ring;
	bool ring_ready;
	int raw_dirfd, fs_dirfd;
	char fs_path[4200];
	struct kvt_l2_adapter *fs;
	struct waiter w;
	struct slot *slots;
	uint32_t nslots;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t *taken;	/* fs_phase()'s copy of w.fin */
	bool drop_ok;
	struct progress *prog;
	uint64_t prog_base;
};

/* "256KiB", "4MiB": valid until the next call. */
static const char *size_label(size_t bytes)
{
	static char buf[32];

	if (bytes % MIB)
		snprintf(buf, sizeof(buf), "%zuKiB", bytes / 1024);
	else
		snprintf(buf, sizeof(buf), "%lluMiB", (unsigned long long)(bytes / MIB));
	return buf;
}

static bool drop_caches(void)
{
	int fd;
	bool ok;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, "1", 1) == 1;
	close(fd);
	return ok;
}

static uint64_t seed_of(const struct kvt_key *k)
{
	return k->lo ^ prng_mix64(k->hi);
}

/* Every word distinct within a chunk and across chunks, so a shifted,
 * swapped, stale or zeroed chunk cannot pass the check. */
static void fill_chunk(uint64_t *w, size_t words, uint64_t seed)
{
	for (size_t i = 0; i < words; i++)
		w[i] = seed + i * 0x9e3779b97f4a7c15ull;
}

static int check_chunks(const struct rig *r, const char *who)
{
	size_t words = r->chunk_bytes / sizeof(uint64_t);

	for (size_t c = 0; c < r->n; c++) {
		const uint64_t *w = r->bufs[c];
		uint64_t seed = seed_of(&r->keys[c]);

		for (size_t i = 0; i < words; i++) {
			if (w[i] != seed + i * 0x9e3779b97f4a7c15ull) {
				fprintf(stderr, "kvtier-bench: %s: chunk %zu of %zu bytes: wrong "
						"bytes at offset %zu\n", who, c, r->chunk_bytes,
					i * sizeof(uint64_t));
				return -EIO;
			}
		}
	}
	return 0;
}

/* Anything but the pattern, so a read that moves no bytes fails the check. */
static void poison(struct rig *r)
{
	memset(r->map, 0xee, r->map_bytes);
}

/* ---- raw io_uring ---------------------------------------------------------- */

static int raw_phase(struct rig *r, bool write)
{
	size_t next = 0, done = 0;
	unsigned int inflight = 0;
	int ret = 0;

	while (inflight || (!ret && next < r->n)) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		int rc;

		while (!ret && inflight < r->o->depth && next < r->n) {
				struct io_uring_sqe *sqe;
			char name[32];
			int fd;

			snprintf(name, sizeof(name), "c%08zu", next);
			fd = openat(r->raw_dirfd, name,
				    write ? O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC
					  : O_RDONLY | O_DIRECT | O_CLOEXEC, 0600);
			if (fd < 0) {
				ret = -errno;
				fprintf(stderr, "kvtier-bench: raw: open %s: %s\n", name,
					strerror(errno));
				break;
			}
			/* never NULL: the ring has room for depth entries */
			sqe = io_uring_get_sqe(&r->ring);
			if (write)
				io_uring_prep_write(sqe, fd, r->bufs[next], (unsigned int)r->chunk_bytes,
						    0);
			else
				io_uring_prep_read(sqe, fd, r->bufs[next], (unsigned int)r->chunk_bytes,
						   0);
			io_uring_sqe_set_data64(sqe, next);
			r->fds[next++] = fd;
			inflight++;
		}
		if (!inflight)
			break;
		do
			rc = io_uring_submit_and_wait(&r->ring, 1);
		while (rc == -EINTR);
		if (rc < 0) {
			/* the caller tears the ring down, which waits for what is in
			 * flight, before the buffers go */
			fprintf(stderr, "kvtier-bench: raw: io_uring_submit: %s\n", strerror(-rc));
			return rc;
		}
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			size_t i = (size_t)io_uring_cqe_get_data64(cqe);

			close(r->fds[i]);
			if (cqe->res != (int)r->chunk_bytes && !ret) {
				ret = cqe->res < 0 ? cqe->res : -EIO;
				fprintf(stderr, "kvtier-bench: raw: %s c%08zu: %s\n",
					write ? "write" : "read", i,
					cqe->res < 0 ? strerror(-cqe->res) : "short transfer");
			}
			seen++;
		}
		io_uring_cq_advance(&r->ring, seen);
		inflight -= seen;
		done += seen;
		progress_update(r->prog, r->prog_base + done);
	}
	if (!ret && write && syncfs(r->raw_dirfd)) {
		ret = -errno;
		fprintf(stderr, "kvtier-bench: raw: syncfs: %s\n", strerror(errno));
	}
	return ret;
}

static int raw_unlink_all(struct rig *r)
{
	for (size_t i = 0; i < r->n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "c%08zu", i);
		if (unlinkat(r->raw_dirfd, name, 0)) {
			fprintf(stderr, "kvtier-bench: raw: unlink %s: %s\n", name, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* ---- fs adapter ------------------------------------------------------------ */

/* Runs on an adapter thread: the lock is held for a few instructions, never
 * across anything that waits. */
static void slot_done(struct kvt_l2_task *t)
{
	struct slot *s = t->arg;
	struct waiter *w = s->w;

	pthread_mutex_lock(&w->mu);
	w->fin[w->nfin++] = s->idx;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int slot_submit(struct rig *r, struct slot *s, enum stage stage)
{
	const struct kvt_key *keys = &r->keys[s->first];
	int ret;

	memset(&s->task, 0, sizeof(s->task));
	s->task.on_done = slot_done;
	s->task.arg = s;
	s->task.bitmap = s->bitmap;
	s->task.lens = s->lens;
	s->stage = stage;
	switch (stage) {
	case ST_STORE:
		ret = fs_l2_ops.submit_store(r->fs, keys, (const void *const *)&r->bufs[s->first],
					     &r->lens[s->first], s->count, &s->task);
		break;
	case ST_LOOKUP:
		ret = fs_l2_ops.submit_lookup(r->fs, keys, s->count, &s->task);
		break;
	default:
		ret = fs_l2_ops.submit_load(r->fs, keys, &r->bufs[s->first], &r->lens[s->first],
					    s->count, &s->task);
		break;
	}
	if (ret) {
		fprintf(stderr, "kvtier-bench: fs: submit of %zu keys at %zu: %s\n", s->count,
			s->first, kvt_strerror(ret));
		s->stage = ST_IDLE;
	}
	return ret;
}

/* The first key of @s whose bit is clear or whose length is not a whole
 * chunk (@lens), or s->count when there is none. */
static size_t first_bad(const struct rig *r, const struct slot *s, bool lens)
{
	for (size_t i = 0; i < s->count; i++)
		if (!kvt_l2_bit(s->bitmap, i) || (lens && s->lens[i] != r->chunk_bytes))
			return i;
	return s->count;
}

/*
 * slot_finish() - act on a completed task: check it, then start a
 * lookup's load, or unlock a load's keys.
 * Return: 1 when @s is busy again (its load was submitted), 0 when it is
 * idle, or a negative code (idle, and the phase has failed).
 */
static int slot_finish(struct rig *r, struct slot *s, bool failing, size_t *moved)
{
	static const char *const what[] = { "", "store", "lookup", "load" };
	enum stage st = s->stage;
	size_t bad;

	s->stage = ST_IDLE;
	if (s->task.bytes < 0) {
		fprintf(stderr, "kvtier-bench: fs: %s task of %zu keys at %zu failed: %s\n",
			what[st], s->count, s->first, kvt_strerror((int)s->task.bytes));
		if (st == ST_LOOKUP)
			fs_l2_ops.unlock(r->fs, &r->keys[s->first], s->count);
		return (int)s->task.bytes;
	}
	bad = first_bad(r, s, st != ST_STORE);
	if (bad < s->count && st == ST_STORE) {
		fprintf(stderr, "kvtier-bench: fs: chunk %zu not stored\n", s->first + bad);
		return -EIO;
	}
	if (bad < s->count) {
		fprintf(stderr, "kvtier-bench: fs: %s of chunk %zu: %s (length %zu of %zu)\n",
			what[st], s->first + bad,
			kvt_l2_bit(s->bitmap, bad) ? "wrong length" : "missed", s->lens[bad],
			r->chunk_bytes);
		fs_l2_ops.unlock(r->fs, &r->keys[s->first], s->count);
		return -EIO;
	}
	if (st == ST_LOOKUP) {
		int ret = failing ? -ECANCELED : slot_submit(r, s, ST_LOAD);

		if (ret)
			fs_l2_ops.unlock(r->fs, &r->keys[s->first], s->count);
		return ret ? ret : 1;
	}
	if (st == ST_LOAD)
		fs_l2_ops.unlock(r->fs, &r->keys[s->first], s->count);
	*moved += s->count;
	return 0;
}

/* Every chunk through the adapter, --batch keys a task, up to r->nslots
 * tasks in flight; a failure stops new tasks and waits out the rest. */
static int fs_phase(struct rig *r, bool load)
{
	uint32_t busy = 0, *fin = r->taken;
	size_t next = 0, moved = 0;
	int ret = 0;

	for (;;) {
		uint32_t nfin;

		while (!ret && r->nfree && next < r->n) {
			struct slot *s = &r->slots[r->free_slots[r->nfree - 1]];

			s->first = next;
			s->count = r->n - next < r->o->batch ? r->n - next : r->o->batch;
			ret = slot_submit(r, s, load ? ST_LOOKUP : ST_STORE);
			if (ret)
				break;
			r->nfree--;
			next += s->count;
			busy++;
		}
		if (!busy)
			break;
		pthread_mutex_lock(&r->w.mu);
		while (!r->w.nfin)
			pthread_cond_wait(&r->w.cv, &r->w.mu);
		nfin = r->w.nfin;
		memcpy(fin, r->w.fin, nfin * sizeof(*fin));
		r->w.nfin = 0;
		pthread_mutex_unlock(&r->w.mu);
		for (uint32_t k = 0; k < nfin; k++) {
			struct slot *s = &r->slots[fin[k]];
			int res = slot_finish(r, s, ret != 0, &moved);

			if (res == 1)
				continue;
			if (res < 0 && !ret)
				ret = res;
			r->free_slots[r->nfree++] = s->idx;
			busy--;
		}
		progress_update(r->prog, r->prog_base + moved);
	}
	if (!ret && !load && syncfs(r->fs_dirfd)) {
		ret = -errno;
		fprintf(stderr, "kvtier-bench: fs: syncfs: %s\n", strerror(errno));
	}
	return ret;
}

static int fs_remove_all(struct rig *r)
{
	ssize_t n = fs_l2_ops.remove(r->fs, r->keys, r->n, NULL);

	if (n != (ssize_t)r->n) {
		fprintf(stderr, "kvtier-bench: fs: remove of %zu keys: %s\n", r->n,
			n < 0 ? kvt_strerror((int)n) : "some were not deleted");
		return n < 0 ? (int)n : -EIO;
	}
	return 0;
}

static int fs_open(struct rig *r)
{
	char depth[24], json[4400], err[512];
	static const struct kvt_key ns_seed = { 0x6b767469657221ull, 0x6469736bull };
	const struct kvt_l2_param params[] = {
		{ "type", "fs" },
		{ "base_path", r->fs_path },
		{ "use_odirect", "true" },
		{ "durable", "false" },
		{ "io_depth", depth },
	};
	const struct kvt_l1_desc l1 = { .align_bytes = 4096, .chunk_bytes = r->chunk_bytes,
					.numa_node = -1 };
	struct kvt_l2_config cfg = { .type = "fs", .params = params,
				     .nparams = sizeof(params) / sizeof(params[0]), .json = json,
				     .ns_seed = &ns_seed };
	int ret;

	snprintf(depth, sizeof(depth), "%llu", (unsigned long long)r->o->depth);
	snprintf(json, sizeof(json),
		 "{\"type\":\"fs\",\"base_path\":\"%s\",\"use_odirect\":true,\"durable\":false,"
		 "\"io_depth\":%s}", r->fs_path, depth);
	ret = fs_l2_ops.create(&cfg, &l1, &r->fs, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier-bench: fs adapter %s: %s (%s)\n", json, err,
			kvt_strerror(ret));
		r->fs = NULL;
		return ret;
	}
	r->fs_dirfd = open(r->fs_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->fs_dirfd < 0) {
		fprintf(stderr, "kvtier-bench: open %s: %s\n", r->fs_path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---- one chunk size ----------------------------------------------------------- */

static void rig_free(struct rig *r)
{
	if (r->fs)
		fs_l2_ops.destroy(r->fs);
	/* after the adapter and the ring are done with them: the buffers */
	if (r->ring_ready)
		io_uring_queue_exit(&r->ring);
	if (r->raw_dirfd >= 0)
		close(r->raw_dirfd);
	if (r->fs_dirfd >= 0)
		close(r->fs_dirfd);
	if (r->map)
		munmap(r->map, r->map_bytes);
	for (uint32_t i = 0; r->slots && i < r->nslots; i++) {
		free(r->slots[i].bitmap);
		free(r->slots[i].lens);
	}
	free(r->slots);
	free(r->free_slots);
	free(r->w.fin);
	free(r->taken);
	free(r->bufs);
	free(r->lens);
	free(r->keys);
	free(r->fds);
	pthread_mutex_destroy(&r->w.mu);
	pthread_cond_destroy(&r->w.cv);
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST) {
		fprintf(stderr, "kvtier-bench: mkdir %s: %s\n", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int rig_init(struct rig *r, const struct disk_opts *o, const char *work,
		    size_t chunk_bytes)
{
	char path[4200];
	int ret;

	memset(r, 0, sizeof(*r));
	r->o = o;
	r->raw_dirfd = r->fs_dirfd = -1;
	pthread_mutex_init(&r->w.mu, NULL);
	pthread_cond_init(&r->w.cv, NULL);
	r->chunk_bytes = chunk_bytes;
	r->n = (size_t)(o->total_mib * MIB / chunk_bytes);
	r->n = r->n ? r->n : 1;
	r->map_bytes = r->n * chunk_bytes;
	r->nslots = (uint32_t)(o->depth / o->batch ? o->depth / o->batch : 1);
	r->map = mmap(NULL, r->map_bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->map == MAP_FAILED)
		r->map = NULL;
	r->bufs = malloc(r->n * sizeof(*r->bufs));
	r->lens = malloc(r->n * sizeof(*r->lens));
	r->keys = malloc(r->n * sizeof(*r->keys));
	r->fds = malloc(r->n * sizeof(*r->fds));
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	r->free_slots = malloc(r->nslots * sizeof(*r->free_slots));
	r->w.fin = malloc(r->nslots * sizeof(*r->w.fin));
	r->taken = malloc(r->nslots * sizeof(*r->taken));
	if (!r->map || !r->bufs || !r->lens || !r->keys || !r->fds || !r->slots ||
	    !r->free_slots || !r->w.fin || !r->taken)
		goto nomem;
	for (uint32_t i = 0; i < r->nslots; i++) {
		struct slot *s = &r->slots[i];

		s->w = &r->w;
		s->idx = i;
		s->bitmap = calloc((o->batch + 63) / 64, sizeof(*s->bitmap));
		s->lens = calloc(o->batch, sizeof(*s->lens));
		if (!s->bitmap || !s->lens)
			goto nomem;
		r->free_slots[r->nfree++] = i;
	}
	for (size_t i = 0; i < r->n; i++) {
		r->keys[i].lo = prng_mix64(2 * i + ((uint64_t)chunk_bytes << 32));
		r->keys[i].hi = prng_mix64(2 * i + 1 + ((uint64_t)chunk_bytes << 32));
		r->bufs[i] = r->map + i * chunk_bytes;
		r->lens[i] = chunk_bytes;
		fill_chunk(r->bufs[i], chunk_bytes / sizeof(uint64_t), seed_of(&r->keys[i]));
	}
	ret = io_uring_queue_init((unsigned int)o->depth, &r->ring, 0);
	if (ret) {
		fprintf(stderr, "kvtier-bench: io_uring_queue_init(%llu): %s\n",
			(unsigned long long)o->depth, strerror(-ret));
		return ret;
	}
	r->ring_ready = true;
	snprintf(path, sizeof(path), "%s/%zuKiB", work, chunk_bytes / 1024);
	ret = make_dir(path);
	snprintf(path, sizeof(path), "%s/%zuKiB/raw", work, chunk_bytes / 1024);
	ret = ret ? ret : make_dir(path);
	if (ret)
		return ret;
	r->raw_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->raw_dirfd < 0) {
		fprintf(stderr, "kvtier-bench: open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	snprintf(r->fs_path, sizeof(r->fs_path), "%s/%zuKiB/fs", work, chunk_bytes / 1024);
	ret = make_dir(r->fs_path);
	return ret ? ret : fs_open(r);
nomem:
	fprintf(stderr, "kvtier-bench: out of memory for %zu chunks of %zu bytes\n", r->n,
		chunk_bytes);
	return -ENOMEM;
}

static int run_phase(struct rig *r, enum phase ph, uint64_t *ns, uint64_t *cpu_ns)
{
	uint64_t t0, c0;
	int ret;

	if (ph == PH_RAW_READ || ph == PH_FS_LOAD)
		poison(r);
	r->drop_ok = drop_caches();
	c0 = bench_process_cpu_ns();
	t0 = tool_now_ns();
	switch (ph) {
	case PH_RAW_WRITE:
		ret = raw_phase(r, true);
		break;
	case PH_FS_STORE:
		ret = fs_phase(r, false);
		break;
	case PH_RAW_READ:
		ret = raw_phase(r, false);
		break;
	default:
		ret = fs_phase(r, true);
		break;
	}
	*ns = tool_now_ns() - t0;
	*cpu_ns = bench_process_cpu_ns() - c0;
	r->prog_base += r->n;
	if (!ret && (ph == PH_RAW_READ || ph == PH_FS_LOAD))
		ret = check_chunks(r, phase_names[ph]);
	return ret;
}

/*
 * measure_size() - every repetition of the four phases for one chunk size.
 * Return: 0 with @row filled, or a negative code (already reported).
 */
static int measure_size(const struct disk_opts *o, const char *work, size_t chunk_bytes,
			struct row *row, bool *drop_ok)
{
	/* raw first in repetitions 0, 2, ..., fs first in 1, 3, ... */
	static const enum phase order[2][PH_COUNT] = {
		{ PH_RAW_WRITE, PH_FS_STORE, PH_RAW_READ, PH_FS_LOAD },
		{ PH_FS_STORE, PH_RAW_WRITE, PH_FS_LOAD, PH_RAW_READ },
	};
	double cpu[PH_COUNT][MAX_REPS], gbps[MAX_REPS];
	struct kvt_l2_status st;
	struct progress p;
	char label[48];
	struct rig r;
	int ret;

	snprintf(label, sizeof(label), "disk %s", size_label(chunk_bytes));
	ret = rig_init(&r, o, work, chunk_bytes);
	if (ret)
		goto out;
	memset(row, 0, sizeof(*row));
	row->chunk_bytes = chunk_bytes;
	row->n = r.n;
	progress_start(&p, label, o->reps * PH_COUNT * r.n);
	r.prog = &p;
	for (uint64_t rep = 0; rep < o->reps; rep++) {
		for (int k = 0; k < PH_COUNT; k++) {
			enum phase ph = order[rep % 2][k];
			uint64_t ns, cpu_ns;

			ret = run_phase(&r, ph, &ns, &cpu_ns);
			if (ret)
				goto out_progress;
			*drop_ok = *drop_ok && r.drop_ok;
			row->rep_gbps[rep][ph] = (double)r.map_bytes / (double)ns;
			cpu[ph][rep] = (double)cpu_ns * 1e3 / (double)r.map_bytes;
		}
		if (rep + 1 == o->reps && o->keep)
			break;
		ret = raw_unlink_all(&r);
		ret = ret ? ret : fs_remove_all(&r);
		if (ret)
			goto out_progress;
	}
	for (int ph = 0; ph < PH_COUNT; ph++) {
		for (uint64_t rep = 0; rep < o->reps; rep++)
			gbps[rep] = row->rep_gbps[rep][ph];
		row->gbps[ph] = bench_median(gbps, o->reps);
		row->cpu_ms_per_gb[ph] = bench_median(cpu[ph], o->reps);
	}
	fs_l2_ops.status(r.fs, &st);
	memcpy(row->fs_detail, st.detail, sizeof(row->fs_detail));
	row->fs_detail[sizeof(row->fs_detail) - 1] = '\0';
	row->fs_errors = st.errors;
	row->fs_healthy = st.is_healthy;
out_progress:
	progress_end(&p);
out:
	rig_free(&r);
	return ret;
}

/* ---- the work directory --------------------------------------------------- */

static const char *fs_name(unsigned long magic)
{
	switch (magic) {
	case 0xef53: return "ext2/3/4";
	case 0x58465342: return "xfs";
	case 0x9123683e: return "btrfs";
	case 0x2fc12fc1: return "zfs";
	case 0x6969: return "nfs";
	case 0x65735546: return "fuse";
	case 0x794c7630: return "overlayfs";
	case TMPFS_MAGIC_: return "tmpfs";
	default: return NULL;
	}
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (remove(path))
		fprintf(stderr, "kvtier-bench: remove %s: %s\n", path, strerror(errno));
	return 0;
}

/*
 * probe_dir() - what @work sits on, whether it takes O_DIRECT, and whether
 * it has room for one chunk size's files of both sides.
 */
static int probe_dir(const char *work, const struct disk_opts *o, char *fsname, size_t len,
		     bool *tmpfs)
{
	char path[4200];
	struct statfs sf;
	struct statvfs sv;
	const char *name;
	double need, have;
	int fd;

	if (statfs(work, &sf) || statvfs(work, &sv)) {
		fprintf(stderr, "kvtier-bench: statfs %s: %s\n", work, strerror(errno));
		return -errno;
	}
	name = fs_name((unsigned long)sf.f_type);
	if (name)
		snprintf(fsname, len, "%s", name);
	else
		snprintf(fsname, len, "magic 0x%lx", (unsigned long)sf.f_type);
	*tmpfs = sf.f_type == TMPFS_MAGIC_;
	snprintf(path, sizeof(path), "%s/odirect-probe", work);
	fd = open(path, O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;

		fprintf(stderr, "kvtier-bench: %s (%s) refuses O_DIRECT: %s; the baseline is raw "
				"O_DIRECT I/O, so pick a directory on a block device with --dir "
				"(the default, /var/tmp, usually is one)\n", work, fsname, strerror(e));
		return -e;
	}
	close(fd);
	unlink(path);
	/* both sides' files of the largest size at once (more with --keep),
	 * with room for the adapter's headers */
	need = (double)o->total_mib * MIB * 2.0 * 1.05 * (o->keep ? (double)o->nsizes : 1.0);
	have = (double)sv.f_bavail * (double)sv.f_frsize;
	if (have < need) {
		fprintf(stderr, "kvtier-bench: %s has %.0f MiB free, the run needs %.0f MiB\n", work,
			have / MIB, need / MIB);
		return -ENOSPC;
	}
	return 0;
}

/* ---- the workload --------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench disk [options]\n\n"
		"Store and load GB/s of the fs L2 adapter (use_odirect, durable false) beside\n"
		"raw io_uring O_DIRECT files of the same bytes (one file per chunk, opened,\n"
		"written or read, closed) in the same directory, alternating which runs first.\n"
		"Every phase starts after sync and drop_caches; write phases end with syncfs;\n"
		"loaded and read bytes are checked.  Figures are medians of --reps.\n\n"
		"options:\n"
		"  --dir DIR         where to make the work directory (default /var/tmp); it\n"
		"                    must take O_DIRECT: tmpfs (/dev/shm) refuses it on older\n"
		"                    kernels and only copies memory on newer ones\n"
		"  --total-mib M     bytes per chunk size, in MiB (default 256)\n"
		"  --chunk-kib LIST  chunk sizes in KiB, multiples of 4 (default 256,1024,4096)\n"
		"  --depth D         I/O in flight: io_uring depth of the raw side and the\n"
		"                    adapter's io_depth (default 64)\n"
		"  --batch B         keys per adapter task; depth / batch tasks in flight\n"
		"                    (default 32)\n"
		"  --reps R          repetitions of each phase (default 3; up to %d)\n"
		"  --keep            leave the work directory and the last repetition's files\n"
		"  --plot FILE       also write an SVG of GB/s against chunk size (gnuplot)\n"
		"  --json            print one JSON object as the last line of stdout\n"
		"  --help            this text\n", MAX_REPS);
}

static int parse_sizes(const char *arg, struct disk_opts *o)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(arg) >= sizeof(buf)) {
		fprintf(stderr, "kvtier-bench: --chunk-kib: list too long\n");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", arg);
	o->nsizes = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nsizes == MAX_CHUNK_SIZES) {
			fprintf(stderr, "kvtier-bench: --chunk-kib: at most %d sizes\n",
				MAX_CHUNK_SIZES);
			return -EINVAL;
		}
		if (opt_parse_u64("kvtier-bench", "chunk-kib", tok, 4, 1048576, &o->chunk_kib[o->nsizes]))
			return -EINVAL;
		if (o->chunk_kib[o->nsizes] % 4) {
			fprintf(stderr, "kvtier-bench: --chunk-kib: \"%s\": not a multiple of 4 "
					"(O_DIRECT needs whole 4 KiB blocks)\n", tok);
			return -EINVAL;
		}
		o->nsizes++;
	}
	if (!o->nsizes) {
		fprintf(stderr, "kvtier-bench: --chunk-kib: \"%s\": no size\n", arg);
		return -EINVAL;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct disk_opts *o)
{
	enum { OPT_DIR = 256, OPT_TOTAL, OPT_CHUNK, OPT_DEPTH, OPT_BATCH, OPT_REPS, OPT_KEEP,
	       OPT_PLOT, OPT_JSON };
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "total-mib", required_argument, NULL, OPT_TOTAL },
		{ "chunk-kib", required_argument, NULL, OPT_CHUNK },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "reps", required_argument, NULL, OPT_REPS },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, bad = 0;

	*o = (struct disk_opts){ .dir = "/var/tmp", .total_mib = 256,
				 .chunk_kib = { 256, 1024, 4096 }, .nsizes = 3, .depth = 64,
				 .batch = 32, .reps = 3 };
	opterr = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DIR:
			o->dir = optarg;
			break;
		case OPT_TOTAL:
			bad = opt_parse_u64("kvtier-bench", "total-mib", optarg, 1, 1048576, &o->total_mib);
			break;
		case OPT_CHUNK:
			bad = parse_sizes(optarg, o);
			break;
		case OPT_DEPTH:
			bad = opt_parse_u64("kvtier-bench", "depth", optarg, 1, 4096, &o->depth);
			break;
		case OPT_BATCH:
			bad = opt_parse_u64("kvtier-bench", "batch", optarg, 1, 4096, &o->batch);
			break;
		case OPT_REPS:
			bad = opt_parse_u64("kvtier-bench", "reps", optarg, 1, MAX_REPS, &o->reps);
			break;
		case OPT_KEEP:
			o->keep = true;
			break;
		case OPT_PLOT:
			if (!*optarg || strchr(optarg, '\'')) {
				fprintf(stderr, "kvtier-bench disk: --plot: \"%s\": not a usable "
						"file name\n", optarg);
				return BENCH_EXIT_USAGE;
			}
			o->plot = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			fprintf(stderr, "kvtier-bench disk: %s: %s (see --help)\n", argv[optind - 1],
				c == ':' ? "missing value" : "unknown option");
			return BENCH_EXIT_USAGE;
		}
	}
	if (bad)
		return BENCH_EXIT_USAGE;
	if (optind < argc) {
		fprintf(stderr, "kvtier-bench disk: unexpected argument \"%s\" (see --help)\n",
			argv[optind]);
		return BENCH_EXIT_USAGE;
	}
	for (size_t i = 0; i < o->nsizes; i++) {
		if (o->chunk_kib[i] * 1024 > o->total_mib * MIB) {
			fprintf(stderr, "kvtier-bench disk: --chunk-kib %llu is more than "
					"--total-mib %llu\n", (unsigned long long)o->chunk_kib[i],
				(unsigned long long)o->total_mib);
			return BENCH_EXIT_USAGE;
		}
	}
	return 0;
}

/* plot() - the rows' four GB/s series against chunk size, by gnuplot. */
static int plot(const char *file, const struct row *rows, size_t nrows)
{
	FILE *g = popen("gnuplot", "w");

	if (!g) {
		fprintf(stderr, "kvtier-bench: cannot run gnuplot: %s\n", strerror(errno));
		return -errno;
	}
	fprintf(g, "set terminal svg size 720,480\nset output '%s'\n", file);
	fprintf(g, "set title 'fs adapter against raw io_uring O_DIRECT (median of reps)'\n"
		   "set xlabel 'chunk size (KiB)'\nset ylabel 'GB/s'\nset logscale x 2\n"
		   "set yrange [0:*]\nset key outside right\nset grid\n$d << EOD\n");
	for (size_t i = 0; i < nrows; i++)
		fprintf(g, "%zu %.3f %.3f %.3f %.3f\n", rows[i].chunk_bytes / 1024,
			rows[i].gbps[PH_RAW_WRITE], rows[i].gbps[PH_FS_STORE],
			rows[i].gbps[PH_RAW_READ], rows[i].gbps[PH_FS_LOAD]);
	fprintf(g, "EOD\nplot $d using 1:2 with linespoints title 'raw write', "
		   "$d using 1:3 with linespoints title 'fs store', "
		   "$d using 1:4 with linespoints title 'raw read', "
		   "$d using 1:5 with linespoints title 'fs load'\n");
	if (pclose(g) != 0) {
		fprintf(stderr, "kvtier-bench: gnuplot failed for %s\n", file);
		return -EIO;
	}
	printf("plot written to %s\n", file);
	return 0;
}

static void json_rows(struct json_line *j, const struct row *rows, size_t nrows, uint64_t reps)
{
	json_raw(j, "\"rows\":[", true);
	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];
		char obj[512];

		snprintf(obj, sizeof(obj),
			       "%s{\"chunk_bytes\":%zu,\"chunks\":%zu,\"raw_write_gbps\":%.3f,"
			       "\"fs_store_gbps\":%.3f,\"store_ratio\":%.3f,\"raw_read_gbps\":%.3f,"
			       "\"fs_load_gbps\":%.3f,\"load_ratio\":%.3f,\"fs_errors\":%llu,"
			       "\"rep_gbps\":[", i ? "," : "", w->chunk_bytes, w->n,
			       w->gbps[PH_RAW_WRITE], w->gbps[PH_FS_STORE],
			       bench_ratio(w->gbps[PH_FS_STORE], w->gbps[PH_RAW_WRITE]),
			       w->gbps[PH_RAW_READ], w->gbps[PH_FS_LOAD],
			       bench_ratio(w->gbps[PH_FS_LOAD], w->gbps[PH_RAW_READ]),
			       (unsigned long long)w->fs_errors);
		json_raw(j, obj, false);
		/* per repetition: raw write, fs store, raw read, fs load */
		for (uint64_t r = 0; r < reps; r++) {
			snprintf(obj, sizeof(obj), "%s[%.3f,%.3f,%.3f,%.3f]", r ? "," : "",
				       w->rep_gbps[r][PH_RAW_WRITE], w->rep_gbps[r][PH_FS_STORE],
				       w->rep_gbps[r][PH_RAW_READ], w->rep_gbps[r][PH_FS_LOAD]);
			json_raw(j, obj, false);
		}
		json_raw(j, "]}", false);
	}
	json_raw(j, "]", false);
}

static void print_ratio(const char *what, double ratio, bool goal)
{
	if (!isfinite(ratio))
		printf("%-40s %8s  (no chunk size in this range)\n", what, "-");
	else if (goal)
		printf("%-40s %8.3f  >= %.2f %s\n", what, ratio, GOAL_RATIO,
		       ratio >= GOAL_RATIO ? "(met)" : "(not met)");
	else
		printf("%-40s %8.3f  (reported, no goal)\n", what, ratio);
}

/* The row with the lowest @num / @den ratio among chunks of at least (@big)
 * or under (!@big) BIG_CHUNK bytes, or NULL when there is none. */
static const struct row *lowest(const struct row *rows, size_t nrows, enum phase num,
				enum phase den, bool big)
{
	const struct row *best = NULL;

	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];

		if ((w->chunk_bytes >= BIG_CHUNK) != big)
			continue;
		if (!best || bench_ratio(w->gbps[num], w->gbps[den]) <
				     bench_ratio(best->gbps[num], best->gbps[den]))
			best = w;
	}
	return best;
}

static double ratio_of(const struct row *w, enum phase num, enum phase den)
{
	return w ? bench_ratio(w->gbps[num], w->gbps[den]) : NAN;
}

static double gbps_of(const struct row *w, enum phase ph)
{
	return w ? w->gbps[ph] : NAN;
}

int disk_main(int argc, char **argv)
{
	struct row *rows;
	const struct row *ws, *wl, *ss, *sl;
	struct disk_opts o;
	struct json_line j;
	char work[4096], fsname[64];
	bool drop_ok = true, tmpfs = false;
	double loadavg;
	size_t nrows = 0;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	if (snprintf(work, sizeof(work), "%s/kvtier-bench-disk.XXXXXX", o.dir) >=
	    (int)sizeof(work) - 64) {
		fprintf(stderr, "kvtier-bench disk: --dir: path too long\n");
		return BENCH_EXIT_USAGE;
	}
	if (!mkdtemp(work)) {
		fprintf(stderr, "kvtier-bench: mkdtemp %s: %s\n", work, strerror(errno));
		return BENCH_EXIT_FAIL;
	}
	rows = calloc(o.nsizes, sizeof(*rows));
	ret = rows ? probe_dir(work, &o, fsname, sizeof(fsname), &tmpfs) : -ENOMEM;
	if (ret)
		goto out;
	loadavg = bench_loadavg();
	printf("kvtier-bench disk\n");
	printf("  directory     %s (%s)%s\n", work, fsname,
	       o.keep ? ", kept" : ", removed at exit");
	if (tmpfs)
		printf("  note          tmpfs takes O_DIRECT as a memory copy: these are not a "
		       "disk's figures\n");
	printf("  bytes         %llu MiB per chunk size;", (unsigned long long)o.total_mib);
	for (size_t i = 0; i < o.nsizes; i++)
		printf(" %llu", (unsigned long long)o.chunk_kib[i]);
	printf(" KiB chunks\n");
	printf("  raw           a file per chunk: open O_CREAT|O_WRONLY|O_DIRECT 0600, io_uring "
	       "write, close; read back O_DIRECT; depth %llu\n", (unsigned long long)o.depth);
	printf("  fs adapter    use_odirect true, durable false, io_depth %llu; %llu keys a task, "
	       "%llu tasks in flight; load = lookup + load + unlock\n",
	       (unsigned long long)o.depth, (unsigned long long)o.batch,
	       (unsigned long long)(o.depth / o.batch ? o.depth / o.batch : 1));
	printf("  timing        write phases end with syncfs (no fsync on either side); reads "
	       "checked after their window\n");
	printf("  order         %llu repetitions, raw first in the 1st, 3rd, ..., fs first in the "
	       "2nd, 4th, ...; figures are medians\n", (unsigned long long)o.reps);
	printf("  load average  %.2f (1 min, before the run)\n\n", loadavg);
	fflush(stdout);
	for (size_t i = 0; i < o.nsizes; i++) {
		ret = measure_size(&o, work, (size_t)o.chunk_kib[i] * 1024, &rows[nrows], &drop_ok);
		if (ret)
			goto out;
		nrows++;
	}
	printf("%-9s %7s %10s %9s %7s %9s %8s %7s\n", "chunk", "files", "raw write", "fs store",
	       "ratio", "raw read", "fs load", "ratio");
	for (size_t i = 0; i < nrows; i++) {
		const struct row *w = &rows[i];

		printf("%-9s %7zu %10.3f %9.3f %7.3f %9.3f %8.3f %7.3f\n", size_label(w->chunk_bytes),
		       w->n,
		       w->gbps[PH_RAW_WRITE], w->gbps[PH_FS_STORE],
		       ratio_of(w, PH_FS_STORE, PH_RAW_WRITE), w->gbps[PH_RAW_READ],
		       w->gbps[PH_FS_LOAD], ratio_of(w, PH_FS_LOAD, PH_RAW_READ));
	}
	printf("GB/s = 1e9 bytes/s of chunk payload; ratio = fs / raw.\n");
	printf("\nCPU ms per GB (this process, all threads, adapter included)\n");
	printf("%-9s %10s %9s %9s %8s\n", "chunk", "raw write", "fs store", "raw read", "fs load");
	for (size_t i = 0; i < nrows; i++)
		printf("%-9s %10.1f %9.1f %9.1f %8.1f\n", size_label(rows[i].chunk_bytes),
		       rows[i].cpu_ms_per_gb[PH_RAW_WRITE], rows[i].cpu_ms_per_gb[PH_FS_STORE],
		       rows[i].cpu_ms_per_gb[PH_RAW_READ], rows[i].cpu_ms_per_gb[PH_FS_LOAD]);
	printf("\nfs adapter status at the end of each size\n");
	for (size_t i = 0; i < nrows; i++)
		printf("%-9s %s, errors %llu; %s\n", size_label(rows[i].chunk_bytes),
		       rows[i].fs_healthy ? "healthy" : "UNHEALTHY",
		       (unsigned long long)rows[i].fs_errors, rows[i].fs_detail);
	printf("\npage cache    %s\n", drop_ok ? "synced and dropped before every phase"
					       : "NOT dropped before every phase: writing "
						 "/proc/sys/vm/drop_caches was refused (not root?)");
	ws = lowest(rows, nrows, PH_FS_STORE, PH_RAW_WRITE, true);
	wl = lowest(rows, nrows, PH_FS_LOAD, PH_RAW_READ, true);
	ss = lowest(rows, nrows, PH_FS_STORE, PH_RAW_WRITE, false);
	sl = lowest(rows, nrows, PH_FS_LOAD, PH_RAW_READ, false);
	printf("\n%-40s %8s  %s\n", "ratio", "value", "goal (info only)");
	print_ratio("store_ratio (lowest, chunks >= 1 MiB)", ratio_of(ws, PH_FS_STORE, PH_RAW_WRITE),
		    true);
	print_ratio("load_ratio (lowest, chunks >= 1 MiB)", ratio_of(wl, PH_FS_LOAD, PH_RAW_READ),
		    true);
	print_ratio("store_ratio (lowest, chunks < 1 MiB)", ratio_of(ss, PH_FS_STORE, PH_RAW_WRITE),
		    false);
	print_ratio("load_ratio (lowest, chunks < 1 MiB)", ratio_of(sl, PH_FS_LOAD, PH_RAW_READ),
		    false);
	fflush(stdout);
	if (o.plot && plot(o.plot, rows, nrows)) {
		ret = -EIO;
		goto out;
	}
	if (!o.json)
		goto out;
	json_begin(&j);
	json_str(&j, "workload", "disk");
	json_str(&j, "dir", work);
	json_str(&j, "fs", fsname);
	json_u64(&j, "total_mib", o.total_mib);
	json_u64(&j, "depth", o.depth);
	json_u64(&j, "batch", o.batch);
	json_u64(&j, "reps", o.reps);
	json_str(&j, "stat", "median");
	json_bool(&j, "caches_dropped", drop_ok);
	json_num(&j, "loadavg_1m", loadavg, 2);
	json_num(&j, "store_ratio", ratio_of(ws, PH_FS_STORE, PH_RAW_WRITE), 3);
	json_num(&j, "load_ratio", ratio_of(wl, PH_FS_LOAD, PH_RAW_READ), 3);
	json_num(&j, "store_gbps", gbps_of(ws, PH_FS_STORE), 3);
	json_num(&j, "raw_write_gbps", gbps_of(ws, PH_RAW_WRITE), 3);
	json_num(&j, "load_gbps", gbps_of(wl, PH_FS_LOAD), 3);
	json_num(&j, "raw_read_gbps", gbps_of(wl, PH_RAW_READ), 3);
	json_u64(&j, "store_ratio_chunk_bytes", ws ? ws->chunk_bytes : 0);
	json_u64(&j, "load_ratio_chunk_bytes", wl ? wl->chunk_bytes : 0);
	json_num(&j, "small_store_ratio", ratio_of(ss, PH_FS_STORE, PH_RAW_WRITE), 3);
	json_num(&j, "small_load_ratio", ratio_of(sl, PH_FS_LOAD, PH_RAW_READ), 3);
	json_bool(&j, "goal_store_met", ratio_of(ws, PH_FS_STORE, PH_RAW_WRITE) >= GOAL_RATIO);
	json_bool(&j, "goal_load_met", ratio_of(wl, PH_FS_LOAD, PH_RAW_READ) >= GOAL_RATIO);
	json_rows(&j, rows, nrows, o.reps);
	if (o.plot)
		json_str(&j, "plot", o.plot);
	ret = json_end(&j);
out:
	if (ret == -ENOMEM)
		fprintf(stderr, "kvtier-bench: out of memory\n");
	if (!o.keep)
		nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(rows);
	return ret ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
