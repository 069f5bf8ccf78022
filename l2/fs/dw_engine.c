/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/dw_engine.c - the disk writer's ring engine (see dw_internal.h).
 *
 * Owns (actor thread only): the io_uring, the depth slots with their bounce
 * blocks, the free list, the CPU queue and the job lists.
 *
 * Every key of every posted job becomes a slot's work, whatever job it
 * belongs to, so the ring stays full across keys and across tasks: as soon
 * as one key finishes, the next key (of this job or the next) takes its
 * slot.  A slot has at most one ring operation in flight, so the ring
 * (depth entries, 2 * depth completions) never overflows.  Work that costs
 * CPU (hashing a payload before its write, verifying one after its read)
 * waits on the CPU queue and runs one item at a time between reaps, after
 * the new I/O is submitted, so it overlaps the I/O in flight.  A buffered
 * load's piece is the exception to the queue's order: it is read the
 * moment its predecessor is done (dw_io_read_now()) and goes first
 * (dw_cpu_defer_first()), so the kernel's copy and the hash follow each
 * other while the piece is in cache (dw_load.c).
 *
 * Ordering: a LOOKUP or LOAD job starts only when no STORE job posted
 * before it is unfinished, so a read posted after a store sees it (stores
 * may overtake reads: a store never changes an existing file).  A job
 * completes when its last key finishes, on the done list, flushed by
 * dw_engine_pump() outside any iteration; completions may come in another
 * order than posts.  DELETE and stop drain everything first (diskwriter.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdalign.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "l2/fs/dw_internal.h"
#include "core/log.h"
#include "core/mem.h"
#include "kvtier/l2.h"

static void io_prep_sqe(struct diskwriter *dw, struct dw_slot *s);

static void submit(struct diskwriter *dw)
{
	int ret;

	if (!io_uring_sq_ready(&dw->ring))
		return;
	ret = io_uring_submit(&dw->ring);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		log_error("fs: %s: io_uring_submit: %s; retrying", dw->base_path, strerror(-ret));
}

static uint64_t rng_next(struct diskwriter *dw)
{
	uint64_t x = dw->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return dw->rng = x;
}

/* Injected faults replace a read or write's result. */
static int io_fault(struct diskwriter *dw, const struct dw_slot *s, enum dw_io_kind kind, int res)
{
	if (kind != DW_IO_READ && kind != DW_IO_WRITE)
		return res;
	if (s->direct && dw->fault_einval) {
		dw->fault_einval = false;
		return -EINVAL;
	}
	if (dw->cfg.fault_eio_ppm && rng_next(dw) % 1000000 < dw->cfg.fault_eio_ppm)
		return -EIO;
	return res;
}

static struct io_uring_sqe *sqe_get(struct diskwriter *dw)
{
	struct io_uring_sqe *sqe;

	/* never NULL while each slot has at most one operation out */
	while (!(sqe = io_uring_get_sqe(&dw->ring)))
		io_uring_submit(&dw->ring);
	return sqe;
}

static void io_prep_sqe(struct diskwriter *dw, struct dw_slot *s)
{
	struct io_uring_sqe *sqe = sqe_get(dw);
	const struct iovec *iov = s->iov + s->iov_first;
	unsigned int niov = s->niov - s->iov_first;

	switch (s->io) {
	case DW_IO_READ:
		io_uring_prep_readv(sqe, s->fd, iov, niov, s->done);
		break;
	case DW_IO_WRITE:
		io_uring_prep_writev(sqe, s->fd, iov, niov, s->done);
		break;
	case DW_IO_FSYNC:
		io_uring_prep_fsync(sqe, s->sync_fd, 0);
		break;
	case DW_IO_STATX:
		io_uring_prep_statx(sqe, s->sfd, s->name, AT_SYMLINK_NOFOLLOW,
				    STATX_TYPE | STATX_SIZE | STATX_INO, &s->stx);
		break;
	case DW_IO_NONE:
		break;
	}
	io_uring_sqe_set_data(sqe, s);
	dw->inflight++;
}

void dw_io_rw(struct diskwriter *dw, struct dw_slot *s, bool write)
{
	s->io = write ? DW_IO_WRITE : DW_IO_READ;
	io_prep_sqe(dw, s);
}

void dw_io_read_now(struct diskwriter *dw, struct dw_slot *s)
{
	dw_io_rw(dw, s, false);
	submit(dw);
}

static void step(struct diskwriter *dw, struct dw_slot *s, int res);

/*
 * statx of the name without the ring when the kernel holds its path: the
 * ring runs every statx on an io-wq worker (statx has no non-blocking
 * attempt there), a thread hop and a wakeup a key, and the workers exit
 * when idle a few seconds, so a query's lookups after a pause pay their
 * creation too (a restart's first 33-key contains: 3.6 ms through the
 * ring, 0.6 ms here).  Only for tasks of up to DW_STATX_INLINE_MAX keys:
 * the workers run a large task's statx calls on every core, where this
 * thread would run them one by one (10,000 keys: 50 ms against 75).
 * openat2() with RESOLVE_CACHED does that walk or fails with EAGAIN, never
 * reading the disk; a cached miss (a negative dentry) answers ENOENT at
 * once.  O_PATH | O_NOFOLLOW opens a symlink itself, so its statx says
 * what AT_SYMLINK_NOFOLLOW says.
 * Return: 0 or -errno as the ring's statx would, or -EAGAIN: use the ring.
 */
static int statx_cached(struct diskwriter *dw, struct dw_slot *s)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_CACHED,
	};
	long fd;
	int res;

	if (dw->statx_ring_only || s->job->l2.n > DW_STATX_INLINE_MAX)
		return -EAGAIN;
	fd = syscall(SYS_openat2, s->sfd, s->name, &how, sizeof(how));
	if (fd < 0) {
		res = -errno;
		if (res == -EINVAL)
			dw->statx_ring_only = true; /* before Linux 5.12 */
		return res == -EINVAL ? -EAGAIN : res;
	}
	res = statx((int)fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE | STATX_INO, &s->stx)
		      ? -errno : 0;
	close((int)fd);
	return res;
}

void dw_statx(struct diskwriter *dw, struct dw_slot *s)
{
	int res = statx_cached(dw, s);

	if (res != -EAGAIN) {
		step(dw, s, res);
		return;
	}
	s->io = DW_IO_STATX;
	io_prep_sqe(dw, s);
}

void dw_io_fsync(struct diskwriter *dw, struct dw_slot *s, int fd)
{
	s->io = DW_IO_FSYNC;
	s->sync_fd = fd;
	io_prep_sqe(dw, s);
}

void dw_cpu_defer(struct diskwriter *dw, struct dw_slot *s)
{
	cds_list_add_tail(&s->node, &dw->cpu);
}

void dw_cpu_defer_first(struct diskwriter *dw, struct dw_slot *s)
{
	cds_list_add(&s->node, &dw->cpu);
}

bool dw_iov_advance(struct dw_slot *s, size_t n)
{
	s->done += n;
	while (n && s->iov_first < s->niov) {
		struct iovec *v = &s->iov[s->iov_first];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return true;
		}
		n -= v->iov_len;
		s->iov_first++;
	}
	return s->iov_first < s->niov;
}

void dw_set_bit(struct dw_job *job, size_t i)
{
	job->l2.task->bitmap[i / 64] |= 1ull << (i % 64);
}

static void step(struct diskwriter *dw, struct dw_slot *s, int res)
{
	switch (s->job->l2.op) {
	case KVT_L2_STORE:
		dw_store_step(dw, s, res);
		break;
	case KVT_L2_LOAD:
		dw_load_step(dw, s, res);
		break;
	default:
		dw_lookup_step(dw, s, res);
		break;
	}
}

/* Hand every completion that is ready to its slot's path.  Never blocks. */
static void reap(struct diskwriter *dw)
{
	struct io_uring_cqe *cqe;

	while (dw->inflight && io_uring_peek_cqe(&dw->ring, &cqe) == 0) {
		struct dw_slot *s = io_uring_cqe_get_data(cqe);
		enum dw_io_kind kind = s->io;
		int res = io_fault(dw, s, kind, cqe->res);

		io_uring_cqe_seen(&dw->ring, cqe);
		dw->inflight--;
		if (res == -EINTR || res == -EAGAIN) {
			io_prep_sqe(dw, s);
			continue;
		}
		s->io = DW_IO_NONE;
		step(dw, s, res);
	}
}

static void slot_init(struct diskwriter *dw, struct dw_slot *s, struct dw_job *job, size_t i)
{
	size_t k = (size_t)(s - dw->slots);

	memset(s, 0, sizeof(*s));
	s->job = job;
	s->i = i;
	s->fd = -1;
	s->sfd = -1;
	s->hdr = dw->blocks + 2 * k * DW_BLK;
	s->tail = s->hdr + DW_BLK;
	fschunk_name(&job->l2.keys[i], s->name);
}

/* Start keys into free slots, jobs in posted order; a read waits for the
 * stores posted before it. */
static void admit(struct diskwriter *dw)
{
	struct dw_job *job, *tmp;
	bool store_ahead = false;

	cds_list_for_each_entry_safe(job, tmp, &dw->jobs, node) {
		bool store = job->l2.op == KVT_L2_STORE;

		if (!store && store_ahead)
			continue;
		store_ahead |= store;
		/* a start may finish its key at once, and so the job: it then
		 * moves to the done list but stays allocated until the flush */
		while (job->next < job->l2.n) {
			struct dw_slot *s;

			if (cds_list_empty(&dw->free_slots))
				return;
			s = cds_list_first_entry(&dw->free_slots, struct dw_slot, node);
			cds_list_del(&s->node);
			slot_init(dw, s, job, job->next++);
			if (store)
				dw_store_start(dw, s);
			else if (job->l2.op == KVT_L2_LOAD)
				dw_load_start(dw, s);
			else
				dw_lookup_start(dw, s);
		}
	}
}

void dw_slot_finish(struct diskwriter *dw, struct dw_slot *s)
{
	struct dw_job *job = s->job;

	s->job = NULL;
	cds_list_add(&s->node, &dw->free_slots);
	if (--job->left == 0) {
		cds_list_del(&job->node);
		cds_list_add_tail(&job->node, &dw->done);
	}
}

/* Complete the finished jobs: results, stats, then the owner's callback,
 * which frees the job (and may post new ones). */
static void flush(struct diskwriter *dw)
{
	while (!cds_list_empty(&dw->done)) {
		struct dw_job *job = cds_list_first_entry(&dw->done, struct dw_job, node);

		cds_list_del(&job->node);
		job->l2.task->bytes = job->ok == 0 && job->first_err ? job->first_err
								  : (int64_t)job->moved;
		if (job->l2.op == KVT_L2_STORE && job->failed)
			atomic_store_explicit(&dw->st_healthy, false, memory_order_relaxed);
		else if (job->l2.op == KVT_L2_STORE && job->ok)
			atomic_store_explicit(&dw->st_healthy, true, memory_order_relaxed);
		dw_publish_stats(dw);
		l2_glue_complete(dw->cfg.glue, &job->l2);
	}
}

void dw_engine_add(struct diskwriter *dw, struct dw_job *job)
{
	job->next = 0;
	job->left = job->l2.n;
	job->moved = 0;
	job->ok = 0;
	job->failed = 0;
	job->first_err = 0;
	cds_list_add_tail(&job->node, job->l2.n ? &dw->jobs : &dw->done);
}

bool dw_engine_pump(struct diskwriter *dw, enum dw_pump how)
{
	bool waited = false;

	for (;;) {
		reap(dw);
		admit(dw);
		flush(dw);
		if (!cds_list_empty(&dw->cpu)) {
			struct dw_slot *s = cds_list_first_entry(&dw->cpu, struct dw_slot, node);

			/* the I/O prepared so far goes out before the CPU work */
			submit(dw);
			cds_list_del(&s->node);
			step(dw, s, 0);
			continue;
		}
		if (how == DW_PUMP_NOWAIT || (how == DW_PUMP_ONE && waited) || !dw->inflight) {
			submit(dw);
			break;
		}
		io_uring_submit_and_wait(&dw->ring, 1);
		waited = true;
	}
	if (how == DW_PUMP_DRAIN && !cds_list_empty(&dw->jobs))
		log_error("fs: %s: jobs left with no I/O in flight", dw->base_path);
	return !cds_list_empty(&dw->jobs);
}

/*
 * Have the kernel write every page of @p (@len bytes, whose content does
 * not matter yet): the bounce buffer and the header blocks are what every
 * read of a buffered load writes into, and a PVM guest's kernel pays a
 * hypervisor fault on its first write into each page (dw_load.c), which
 * the first loads after a restart paid instead (their first 6 MiB took 1.3
 * ms longer).  Reading /dev/zero is such a write; without it the first
 * loads pay as before.
 */
static void kernel_touch(void *p, size_t len)
{
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			break;
		p = (uint8_t *)p + n;
		len -= (size_t)n;
	}
	close(fd);
}

int dw_engine_init(struct diskwriter *dw)
{
	unsigned int depth = dw->depth;
	int ret;

	CDS_INIT_LIST_HEAD(&dw->free_slots);
	CDS_INIT_LIST_HEAD(&dw->cpu);
	CDS_INIT_LIST_HEAD(&dw->jobs);
	CDS_INIT_LIST_HEAD(&dw->done);
	dw->slots = mem_aligned_zalloc(alignof(struct dw_slot), depth * sizeof(*dw->slots));
	dw->blocks = mem_aligned_zalloc(DW_BLK, 2 * depth * (size_t)DW_BLK);
	dw->bounce = mem_aligned_alloc(DW_BLK, DW_PIECE);
	if (!dw->slots || !dw->blocks || !dw->bounce) {
		ret = -ENOMEM;
		goto err_free;
	}
	kernel_touch(dw->bounce, DW_PIECE);
	kernel_touch(dw->blocks, 2 * depth * (size_t)DW_BLK);
	/* a new instance: the engine's buffers are likely new to the kernel */
	dw->bounce_run = dw->cfg.bounce_below_gbps > 0 ? DW_BOUNCE_RUN : 0;
	dw->bounce_next = DW_BOUNCE_RUN;
	for (unsigned int k = 0; k < depth; k++)
		cds_list_add_tail(&dw->slots[k].node, &dw->free_slots);
	ret = io_uring_queue_init(depth, &dw->ring, 0);
	if (ret < 0)
		goto err_free;
	return 0;
err_free:
	mem_free(dw->bounce);
	mem_free(dw->blocks);
	mem_free(dw->slots);
	dw->bounce = NULL;
	dw->blocks = NULL;
	dw->slots = NULL;
	return ret;
}

void dw_engine_fini(struct diskwriter *dw)
{
	io_uring_queue_exit(&dw->ring);
	mem_free(dw->bounce);
	mem_free(dw->blocks);
	mem_free(dw->slots);
}
