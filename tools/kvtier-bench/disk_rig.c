/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/disk_rig.c - one chunk size of `kvtier-bench disk`: its
 * chunks (page-aligned, every word derived from the chunk's key, so a read
 * can be checked), the rig both sides share (chunks, directories, io_uring
 * ring, fs adapter, task slots), one timed phase, and the repetitions whose
 * medians make the size's row.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "l2/fs/fs_adapter.h"
#include "kvtier/l2.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/disk_bench.h"

static const char *const phase_names[PH_COUNT] = { "raw write", "fs store", "raw read",
						   "fs load" };

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

int check_chunks(const struct rig *r, const char *who)
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
int measure_size(const struct disk_opts *o, const char *work, size_t chunk_bytes,
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
		if (rep + 1 == o->reps) {
			progress_end(&p);
			ret = cached_measure(&r, row);
			if (ret || o->keep)
				goto out;
			progress_start(&p, label, 0);
		}
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
