/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/disk_bench.h - what `kvtier-bench disk`'s files share
 * (disk.c: the work directory, options, report; disk_rig.c: one chunk size's
 * chunks, phases and repetitions; disk_raw.c: the raw io_uring side;
 * disk_fs.c: the fs adapter side).
 */
#ifndef KVT_TOOLS_KVTIER_BENCH_DISK_BENCH_H
#define KVT_TOOLS_KVTIER_BENCH_DISK_BENCH_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvtier/l2.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define MAX_CHUNK_SIZES 8
#define MAX_REPS 15 /* keeps every repetition's figures within the JSON line */
#define MIB 1048576ull

enum phase { PH_RAW_WRITE, PH_FS_STORE, PH_RAW_READ, PH_FS_LOAD, PH_COUNT };

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
	/* disk_cached.c: buffered fs loads of files in the page cache */
	double cached_gbps;
	double cached_bound_gbps; /* the fastest copy of the same bytes, 1 thread */
	const char *cached_bound_copy;
	double cached_memcpy_gbps; /* memcpy alone, 1 thread */
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

/* ---- disk.c ---- */

const char *size_label(size_t bytes);

/* ---- disk_rig.c ---- */

int measure_size(const struct disk_opts *o, const char *work, size_t chunk_bytes,
		 struct row *row, bool *drop_ok);
/* check_chunks() - every word of every chunk as filled; -EIO (printed) if not. */
int check_chunks(const struct rig *r, const char *who);

/* ---- disk_cached.c ---- */

/*
 * cached_measure() - with the fs store's files in place: a buffered fs
 * adapter on the same directory loads every chunk once untimed (which
 * brings the files into the page cache), then CACHED_PASSES timed loads
 * with the files cached, beside the fastest 1-thread copy (memcpy or
 * nt_copy) of the same bytes into the same buffers.  Fills row->cached_*.
 */
int cached_measure(struct rig *r, struct row *row);

/* ---- disk_raw.c ---- */

int raw_phase(struct rig *r, bool write);
int raw_unlink_all(struct rig *r);

/* ---- disk_fs.c ---- */

int fs_open(struct rig *r);
/* fs_adapter_open() - an fs adapter on r->fs_path, O_DIRECT or buffered. */
int fs_adapter_open(struct rig *r, bool odirect, struct kvt_l2_adapter **out);
int fs_phase(struct rig *r, bool load);
int fs_remove_all(struct rig *r);

#endif /* KVT_TOOLS_KVTIER_BENCH_DISK_BENCH_H */
