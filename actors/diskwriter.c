/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/diskwriter.c - the disk writer actor of the fs L2 adapter (see
 * diskwriter.h; the file format is core/fschunk.h).
 *
 * Owns (actor thread only, untagged): the io_uring, the directory fds, the
 * size map and age list, the lock counts, the O_DIRECT switch and the
 * window buffers.  The counters at the end of struct diskwriter are
 * [atomic]: written by the actor, read by diskwriter_stats() anywhere.
 *
 * A task is cut into windows of io_depth keys; each window's I/O goes into
 * the ring together and the window is finished before the next starts, so
 * when a job completes no I/O of it is in flight (close relies on that).
 *
 * Store, per key: statx the final name (present: done, not rewritten);
 * write the payload into an O_TMPFILE in the shard (or in tmp_dir) and hash
 * it while the write is in flight; write the header; fsync when durable;
 * publish with linkat(/proc/self/fd/N), which fails with EEXIST rather than
 * replace, so of N racing writers of one key (threads or processes) exactly
 * one file wins and the losers' files vanish with their fds.  A writer
 * killed mid-store leaves only an unnamed inode the kernel frees: nothing
 * torn is ever visible by name.  Where O_TMPFILE is unsupported a named
 * temp (pid, thread, counter) and renameat2(RENAME_NOREPLACE) stand in; a
 * crash there can leave that temp behind, never a torn chunk.  Upstream
 * wrote a shared "<name>.tmp" and os.replace()d it, so racing writers
 * truncated each other's files.
 *
 * Load, per key: read the header, then the payload straight into the
 * caller's buffer, and verify both (fschunk.h); a bad file is a miss and is
 * unlinked (upstream served any file of the right length).
 *
 * Nothing needs the size map (core/fs_sizemap.h) for correctness: lookups statx the real
 * names, so processes sharing one directory see each other's chunks and a
 * restart is warm.  The map only drives capacity (oldest first) and holds
 * the lock counts; chunks other processes write are counted once seen.
 *
 * O_DIRECT: the payload goes direct from an aligned caller buffer, its
 * unaligned tail through a one-block bounce (the file is then truncated to
 * its exact size); header blocks are bounce blocks too.  An unaligned
 * caller buffer goes buffered: the page-cache copy costs what a bounce copy
 * would.  When the kernel refuses O_DIRECT (EINVAL at open or I/O) that
 * chunk is redone buffered and O_DIRECT stays off for good.
 */
#define _GNU_SOURCE
#include "actors/diskwriter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <urcu/list.h>

#include "actors/actor.h"
#include "core/fschunk.h"
#include "core/fs_sizemap.h"
#include "core/log.h"
#include "core/mem.h"

#define DW_MAILBOX 1024
#define DW_WAIT_MS 1000
#define BLK FSCHUNK_ALIGN

enum dw_op {
	DW_TASK = 1,  /* ptr[0] struct dw_job *, handed to cfg.complete */
	DW_UNLOCK,    /* u64[0] key.lo, u64[1] key.hi */
	DW_DELETE,    /* ptr[0] struct dw_job *, the caller's; done signalled */
};

enum io_kind { IO_READ, IO_WRITE, IO_FSYNC, IO_STATX };

/* One ring operation; short reads and writes are resubmitted until whole. */
struct dw_io {
	enum io_kind kind;
	bool direct;            /* the fd is O_DIRECT: fault_odirect_einval applies */
	int fd;
	uint8_t *buf;
	size_t len;
	size_t done;
	uint64_t off;
	const char *path;       /* STATX, relative to fd */
	struct statx *stx;
	struct dw_chunk *c;     /* whose io this is */
	int res;                /* 0, or -errno; a read that hit EOF has res 0, done < len */
};

/* One key of the window being worked on. */
struct dw_chunk {
	size_t i;               /* index in the job */
	char name[FSCHUNK_NAME_LEN + 1];
	char tmpname[64];       /* a named temp, when O_TMPFILE is unsupported */
	int sfd;                /* shard dir, borrowed from the cache */
	int fd;
	int res;                /* < 0: this key failed (or missed) */
	bool todo;              /* store: not present yet; load: header read */
	bool direct;
	bool named;
	bool published;
	bool lost_race;         /* publish found the name taken */
	bool ok;                /* store: written and synced; load: read and verified */
	size_t got;             /* load: payload bytes read */
	uint8_t *hdr;           /* BLK-aligned bounce blocks of this slot */
	uint8_t *tail;
	size_t aligned;         /* payload bytes moved direct from/to the caller */
	uint64_t sum;
	struct fschunk_info info;
	struct statx stx;
};

struct diskwriter {
	struct actor actor;
	struct dw_config cfg;
	char *base_path;
	int base_fd;
	int tmp_fd;             /* -1: temps go in the shard */
	int shard_fd[FSCHUNK_SHARDS];
	struct io_uring ring;
	unsigned int depth;
	bool odirect;
	bool fault_einval;
	bool no_tmpfile;
	uint64_t rng;
	uint64_t tmp_seq;
	struct fs_sizemap sizes;
	/* window buffers, preallocated so the hot path allocates nothing */
	struct dw_chunk *ch;
	struct dw_io *io;
	uint8_t *blocks;
	size_t *idx;            /* the keys of the window being worked on */
	size_t *retry;          /* the keys of a window that met ENOSPC */
	/* [atomic] written by the actor, read by diskwriter_stats() */
	_Atomic bool st_healthy;
	_Atomic bool st_odirect;
	_Atomic uint64_t st_used;
	_Atomic uint64_t st_chunks;
	_Atomic uint64_t st_errors;
	_Atomic uint64_t st_fallbacks;
	_Atomic uint64_t st_corrupt;
	_Atomic uint64_t st_enospc_evictions;
	_Atomic uint64_t st_evictions;
	_Atomic uint64_t st_stores;
	_Atomic uint64_t st_loads;
};

static void bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static int openat2_beneath(int dfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static void publish_stats(struct diskwriter *dw)
{
	atomic_store_explicit(&dw->st_used, dw->sizes.used, memory_order_relaxed);
	atomic_store_explicit(&dw->st_chunks, dw->sizes.nsized, memory_order_relaxed);
	atomic_store_explicit(&dw->st_odirect, dw->odirect, memory_order_relaxed);
}

/* ---- directories -------------------------------------------------------- */

/* The fd of shard @s, opened (and made, when @create) on first use.
 * Return: fd, or -errno (-ENOENT: no such shard yet; -ELOOP: a symlink). */
static int shard_open(struct diskwriter *dw, unsigned int s, bool create)
{
	char name[3];
	int fd;

	if (dw->shard_fd[s] >= 0)
		return dw->shard_fd[s];
	fschunk_shard_name(s, name);
	if (create && mkdirat(dw->base_fd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat2_beneath(dw->base_fd, name, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0)
		dw->shard_fd[s] = fd;
	return fd;
}

/* ---- the ring ----------------------------------------------------------- */

static uint64_t rng_next(struct diskwriter *dw)
{
	uint64_t x = dw->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return dw->rng = x;
}

/* Injected faults replace a read or write's result. */
static int io_fault(struct diskwriter *dw, const struct dw_io *io, int res)
{
	if (io->kind != IO_READ && io->kind != IO_WRITE)
		return res;
	if (io->direct && dw->fault_einval) {
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

	while (!(sqe = io_uring_get_sqe(&dw->ring)))
		io_uring_submit(&dw->ring);
	return sqe;
}

static void io_prep(struct diskwriter *dw, struct dw_io *io)
{
	struct io_uring_sqe *sqe = sqe_get(dw);

	switch (io->kind) {
	case IO_READ:
		io_uring_prep_read(sqe, io->fd, io->buf + io->done, (unsigned int)(io->len - io->done),
				   io->off + io->done);
		break;
	case IO_WRITE:
		io_uring_prep_write(sqe, io->fd, io->buf + io->done, (unsigned int)(io->len - io->done),
				    io->off + io->done);
		break;
	case IO_FSYNC:
		io_uring_prep_fsync(sqe, io->fd, 0);
		break;
	case IO_STATX:
		io_uring_prep_statx(sqe, io->fd, io->path, AT_SYMLINK_NOFOLLOW,
				    STATX_TYPE | STATX_SIZE | STATX_INO, io->stx);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
}

/* Returns true when @io needs another round (short transfer, EINTR). */
static bool io_finish(struct diskwriter *dw, struct dw_io *io, int res)
{
	res = io_fault(dw, io, res);
	if (res == -EINTR || res == -EAGAIN)
		return true;
	if (res < 0) {
		io->res = res;
		return false;
	}
	if (io->kind == IO_FSYNC || io->kind == IO_STATX) {
		io->res = 0;
		return false;
	}
	if (res == 0) {
		/* a read at EOF ends short; a write that moves nothing is an error */
		io->res = io->kind == IO_WRITE ? -EIO : 0;
		return false;
	}
	io->done += (size_t)res;
	io->res = 0;
	return io->done < io->len;
}

/*
 * Run @n ios through the ring, at most depth in flight, until each is whole
 * or failed.  @cpu (may be NULL) runs once, right after the first submit,
 * so its work overlaps the I/O.  Blocks: on the ring.
 */
static void ring_run(struct diskwriter *dw, struct dw_io *ios, size_t n,
		     void (*cpu)(struct diskwriter *dw, void *arg), void *arg)
{
	size_t next = 0, inflight = 0;

	while (next < n || inflight) {
		struct io_uring_cqe *cqe;
		int ret;

		while (next < n && inflight < dw->depth) {
			struct dw_io *io = &ios[next++];

			if ((io->kind == IO_READ || io->kind == IO_WRITE) && io->len == 0)
				continue;
			io_prep(dw, io);
			inflight++;
		}
		if (!inflight)
			break;
		ret = io_uring_submit(&dw->ring);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			log_error("fs: %s: io_uring_submit: %s; retrying", dw->base_path,
				  strerror(-ret));
		if (cpu) {
			cpu(dw, arg);
			cpu = NULL;
		}
		ret = io_uring_wait_cqe(&dw->ring, &cqe);
		if (ret < 0)
			continue;
		do {
			struct dw_io *io = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&dw->ring, cqe);
			if (io_finish(dw, io, res))
				io_prep(dw, io);
			else
				inflight--;
		} while (io_uring_peek_cqe(&dw->ring, &cqe) == 0);
	}
	if (cpu)
		cpu(dw, arg);
}

/* ---- O_DIRECT ----------------------------------------------------------- */

static bool aligned_buf(const void *p)
{
	return ((uintptr_t)p & (BLK - 1)) == 0;
}

/* The kernel refused O_DIRECT: go buffered for good, and say so once. */
static void odirect_refused(struct diskwriter *dw, int err, const char *what)
{
	if (!dw->odirect)
		return;
	dw->odirect = false;
	log_warn("fs: %s: O_DIRECT %s refused: %s (errno %d); buffered I/O from now on",
		 dw->base_path, what, strerror(err), err);
}

/* Payload ios of chunk @c (store: write, load: read) into @io; returns
 * how many.  Direct: the aligned part straight from/to @buf, the tail
 * through c->tail. */
static size_t payload_ios(struct dw_chunk *c, struct dw_io *io, uint8_t *buf, size_t len,
			  enum io_kind kind)
{
	size_t n = 0, tail;

	c->aligned = c->direct ? len & ~(size_t)(BLK - 1) : len;
	tail = len - c->aligned;
	if (c->aligned)
		io[n++] = (struct dw_io){ .kind = kind, .direct = c->direct, .fd = c->fd,
					  .buf = buf, .len = c->aligned, .off = FSCHUNK_HDR, .c = c };
	if (tail) {
		if (kind == IO_WRITE) {
			memcpy(c->tail, buf + c->aligned, tail);
			memset(c->tail + tail, 0, BLK - tail);
		}
		io[n++] = (struct dw_io){ .kind = kind, .direct = c->direct, .fd = c->fd,
					  .buf = c->tail, .len = BLK,
					  .off = FSCHUNK_HDR + c->aligned, .c = c };
	}
	return n;
}

static void chunk_close(struct diskwriter *dw, struct dw_chunk *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->named && !c->published)
		unlinkat(dw->tmp_fd >= 0 ? dw->tmp_fd : c->sfd, c->tmpname, 0);
	c->named = false;
}

/* Start the window: slot @k gets key @i of @job. */
static struct dw_chunk *chunk_init(struct diskwriter *dw, size_t k, const struct dw_job *job,
				   size_t i)
{
	struct dw_chunk *c = &dw->ch[k];

	memset(c, 0, sizeof(*c));
	c->i = i;
	c->fd = -1;
	c->hdr = dw->blocks + 2 * k * BLK;
	c->tail = c->hdr + BLK;
	fschunk_name(&job->keys[i], c->name);
	return c;
}

/* statx each todo chunk's final name; results in c->res (0 or -errno). */
static void statx_window(struct diskwriter *dw, size_t cnt)
{
	size_t nio = 0;

	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (c->res == 0)
			dw->io[nio++] = (struct dw_io){ .kind = IO_STATX, .fd = c->sfd,
							.path = c->name, .stx = &c->stx, .c = c };
	}
	ring_run(dw, dw->io, nio, NULL, NULL);
	nio = 0;
	for (size_t k = 0; k < cnt; k++)
		if (dw->ch[k].res == 0)
			dw->ch[k].res = dw->io[nio++].res;
}

/* ---- store -------------------------------------------------------------- */

#define REDO 1 /* c->res: the kernel refused O_DIRECT; do the chunk again buffered */

/* Open the temp file of @c: O_TMPFILE, or a named temp where unsupported.
 * Return: 0 with c->fd set, or -errno (REDO: O_DIRECT refused). */
static int tmp_open(struct diskwriter *dw, struct dw_chunk *c, const void *buf)
{
	int dir = dw->tmp_fd >= 0 ? dw->tmp_fd : c->sfd;
	int flags = O_WRONLY;
	int fd;

	c->direct = dw->odirect && aligned_buf(buf);
	if (c->direct)
		flags |= O_DIRECT;
	if (!dw->no_tmpfile) {
		fd = openat(dir, ".", flags | O_TMPFILE | O_CLOEXEC, 0600);
		if (fd >= 0) {
			c->fd = fd;
			return 0;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR)
			goto out_err;
		log_warn("fs: %s: O_TMPFILE unsupported (%s); using named temps", dw->base_path,
			 strerror(errno));
		dw->no_tmpfile = true;
	}
	snprintf(c->tmpname, sizeof(c->tmpname), ".tmp-%ld-%ld-%llu", (long)getpid(),
		 (long)syscall(SYS_gettid), (unsigned long long)dw->tmp_seq++);
	fd = openat2_beneath(dir, c->tmpname, flags | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		c->fd = fd;
		c->named = true;
		return 0;
	}
	errno = -fd;
out_err:
	if (errno == EINVAL && c->direct) {
		odirect_refused(dw, EINVAL, "open");
		return REDO;
	}
	return -errno;
}

/* Link the finished temp of @c under its final name, never replacing. */
static int publish(struct diskwriter *dw, struct dw_chunk *c)
{
	int tdir = dw->tmp_fd >= 0 ? dw->tmp_fd : c->sfd;
	char proc[32];
	int ret;

	if (!c->named) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", c->fd);
		ret = linkat(AT_FDCWD, proc, c->sfd, c->name, AT_SYMLINK_FOLLOW);
	} else {
		ret = renameat2(tdir, c->tmpname, c->sfd, c->name, RENAME_NOREPLACE);
		if (ret < 0 && errno == EINVAL) {
			/* no RENAME_NOREPLACE here: link also refuses to replace */
			ret = linkat(tdir, c->tmpname, c->sfd, c->name, 0);
		}
	}
	if (ret < 0)
		return -errno;
	c->published = true;
	if (c->named)
		unlinkat(tdir, c->tmpname, 0);
	return 0;
}

struct sum_arg {
	const struct dw_job *job;
	size_t cnt;
};

static void sum_window(struct diskwriter *dw, void *arg)
{
	const struct sum_arg *s = arg;

	for (size_t k = 0; k < s->cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (c->todo && c->res == 0)
			c->sum = fschunk_sum(s->job->bufs[c->i], s->job->lens[c->i]);
	}
}


/* Fold the failures of @nio ios into their chunks.  A direct I/O the kernel
 * refused marks its chunk REDO. */
static void ios_settle(struct diskwriter *dw, size_t nio, const char *what)
{
	for (size_t j = 0; j < nio; j++) {
		struct dw_io *io = &dw->io[j];

		if (io->res == 0 || io->c->res != 0)
			continue;
		if (io->res == -EINVAL && io->direct) {
			odirect_refused(dw, EINVAL, what);
			io->c->res = REDO;
		} else {
			io->c->res = io->res;
		}
	}
}

static bool store_pending(const struct dw_chunk *c)
{
	return c->todo && c->res == 0 && !c->ok;
}

/*
 * One pass over the window's pending stores: temp file, payload (hashed
 * while it is written), header, exact length, fsync when durable.  Chunks
 * that end the pass with res 0 are ready to publish.
 */
static void store_write(struct diskwriter *dw, const struct dw_job *job, size_t cnt)
{
	struct sum_arg sa = { job, cnt };
	size_t nio = 0;

	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (store_pending(c))
			c->res = tmp_open(dw, c, job->bufs[c->i]);
		if (store_pending(c))
			nio += payload_ios(c, dw->io + nio, job->bufs[c->i], job->lens[c->i], IO_WRITE);
	}
	ring_run(dw, dw->io, nio, sum_window, &sa);
	ios_settle(dw, nio, "write");
	nio = 0;
	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (!store_pending(c))
			continue;
		fschunk_hdr_encode(c->hdr, &job->keys[c->i], job->lens[c->i], c->sum);
		dw->io[nio++] = (struct dw_io){ .kind = IO_WRITE, .direct = c->direct, .fd = c->fd,
						.buf = c->hdr, .len = BLK, .c = c };
	}
	ring_run(dw, dw->io, nio, NULL, NULL);
	ios_settle(dw, nio, "write");
	nio = 0;
	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		/* a direct tail wrote a whole block: cut the file to its size */
		if (store_pending(c) && c->aligned != job->lens[c->i] &&
		    ftruncate(c->fd, (off_t)(FSCHUNK_HDR + job->lens[c->i])) < 0)
			c->res = -errno;
		if (store_pending(c) && dw->cfg.durable)
			dw->io[nio++] = (struct dw_io){ .kind = IO_FSYNC, .fd = c->fd, .c = c };
	}
	ring_run(dw, dw->io, nio, NULL, NULL);
	ios_settle(dw, nio, "fsync");
	for (size_t k = 0; k < cnt; k++)
		if (store_pending(&dw->ch[k]))
			dw->ch[k].ok = true;
}

/* Chunks marked REDO start again buffered; true if there were any. */
static bool redo_buffered(struct diskwriter *dw, size_t cnt)
{
	bool any = false;

	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (c->res != REDO)
			continue;
		bump(&dw->st_fallbacks, 1);
		chunk_close(dw, c);
		c->res = 0;
		any = true;
	}
	return any;
}

/* Evict the oldest unlocked chunks until at most @target bytes are used.
 * Return: chunks evicted. */
static uint64_t evict_until(struct diskwriter *dw, uint64_t target)
{
	struct fs_sizemap_ent *e, *tmp;
	uint64_t n = 0;

	cds_list_for_each_entry_safe(e, tmp, &dw->sizes.age, age) {
		char name[FSCHUNK_NAME_LEN + 1];
		int sfd;

		if (dw->sizes.used <= target)
			break;
		if (e->locks)
			continue;
		fschunk_name(&e->key, name);
		sfd = shard_open(dw, fschunk_shard(&e->key), false);
		if (sfd >= 0 && unlinkat(sfd, name, 0) < 0 && errno != ENOENT) {
			log_warn("fs: %s: evict %s: %s", dw->base_path, name, strerror(errno));
			bump(&dw->st_errors, 1);
			continue;
		}
		fs_sizemap_unsize(&dw->sizes, e);
		n++;
	}
	bump(&dw->st_evictions, n);
	return n;
}

struct task_sum {
	uint64_t bytes;
	size_t ok;
	size_t failed;
	int first_err;
};

static void set_bit(struct kvt_l2_task *t, size_t i)
{
	t->bitmap[i / 64] |= 1ull << (i % 64);
}

/*
 * Store the keys @idx[0..@cnt) of @job (cnt <= depth).  Keys that met
 * ENOSPC go to @enospc (when not NULL) instead of failing.
 * Return: how many went to @enospc.
 */
static size_t store_window(struct diskwriter *dw, const struct dw_job *job, const size_t *idx,
			   size_t cnt, size_t *enospc, struct task_sum *ts)
{
	bool synced[FSCHUNK_SHARDS] = { false };
	size_t nspc = 0;

	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = chunk_init(dw, k, job, idx[k]);
		int sfd = shard_open(dw, fschunk_shard(&job->keys[c->i]), true);

		c->sfd = sfd;
		c->res = sfd < 0 ? sfd : 0;
	}
	statx_window(dw, cnt);
	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (c->res == -ENOENT) {
			c->todo = true;
			c->res = 0;
		}
	}
	store_write(dw, job, cnt);
	if (redo_buffered(dw, cnt))
		store_write(dw, job, cnt);
	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (!c->todo || c->res)
			continue;
		c->res = publish(dw, c);
		if (c->res == -EEXIST) {
			c->lost_race = true;
			c->res = 0;
		}
		if (c->published && dw->cfg.durable && !synced[fschunk_shard(&job->keys[c->i])]) {
			synced[fschunk_shard(&job->keys[c->i])] = true;
			if (fsync(c->sfd) < 0)
				c->res = -errno;
		}
	}
	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];
		const struct kvt_key *key = &job->keys[c->i];

		chunk_close(dw, c);
		if (c->res == 0 && !c->todo) {
			/* present already: count it once, as found */
			if (S_ISREG(c->stx.stx_mode))
				fs_sizemap_account(&dw->sizes, key, c->stx.stx_size);
		} else if (c->res == 0) {
			fs_sizemap_account(&dw->sizes, key, FSCHUNK_HDR + job->lens[c->i]);
			if (!c->lost_race) {
				ts->bytes += job->lens[c->i];
				bump(&dw->st_stores, 1);
			}
		} else if (c->res == -ENOSPC && enospc) {
			enospc[nspc++] = c->i;
			continue;
		}
		if (c->res == 0) {
			set_bit(job->task, c->i);
			ts->ok++;
			continue;
		}
		ts->failed++;
		if (!ts->first_err)
			ts->first_err = c->res;
		bump(&dw->st_errors, 1);
		log_debug("fs: %s: store %s: %s", dw->base_path, c->name, strerror(-c->res));
	}
	return nspc;
}

static void handle_store(struct diskwriter *dw, struct dw_job *job, struct task_sum *ts)
{
	for (size_t base = 0; base < job->n; base += dw->depth) {
		size_t cnt = job->n - base < dw->depth ? job->n - base : dw->depth;
		size_t nspc;

		for (size_t k = 0; k < cnt; k++)
			dw->idx[k] = base + k;
		nspc = store_window(dw, job, dw->idx, cnt, dw->cfg.capacity ? dw->retry : NULL, ts);
		if (nspc) {
			uint64_t need = 0, cut;

			for (size_t k = 0; k < nspc; k++)
				need += FSCHUNK_HDR + job->lens[dw->retry[k]];
			/* make room for the batch and an eighth more, so the
			 * next stores do not hit the wall at once */
			cut = need > dw->sizes.used / 8 ? need : dw->sizes.used / 8;
			bump(&dw->st_enospc_evictions,
			     evict_until(dw, dw->sizes.used > cut ? dw->sizes.used - cut : 0));
			store_window(dw, job, dw->retry, nspc, NULL, ts);
		}
		if (dw->cfg.capacity && dw->sizes.used > dw->cfg.capacity)
			evict_until(dw, dw->cfg.capacity);
	}
	if (ts->failed)
		atomic_store_explicit(&dw->st_healthy, false, memory_order_relaxed);
	else if (ts->ok)
		atomic_store_explicit(&dw->st_healthy, true, memory_order_relaxed);
}

/* ---- load --------------------------------------------------------------- */

static bool load_pending(const struct dw_chunk *c)
{
	return c->res == 0 && !c->ok;
}

static int load_open(struct diskwriter *dw, struct dw_chunk *c, const void *buf)
{
	int fd;

	c->direct = dw->odirect && aligned_buf(buf);
	fd = openat2_beneath(c->sfd, c->name, O_RDONLY | (c->direct ? O_DIRECT : 0), 0);
	if (fd == -EINVAL && c->direct) {
		odirect_refused(dw, EINVAL, "open");
		return REDO;
	}
	if (fd < 0)
		return fd;
	c->fd = fd;
	if (!c->direct && dw->cfg.read_ahead)
		posix_fadvise(fd, 0, (off_t)(FSCHUNK_HDR + dw->cfg.read_ahead),
			      POSIX_FADV_WILLNEED);
	return 0;
}

/* One pass over the window's pending loads: open, header, payload into
 * the caller's buffer, verify.  A bad file ends with res -EBADMSG. */
static void load_read(struct diskwriter *dw, const struct dw_job *job, size_t cnt)
{
	size_t nio = 0;

	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (load_pending(c))
			c->res = load_open(dw, c, job->bufs[c->i]);
		if (load_pending(c))
			dw->io[nio++] = (struct dw_io){ .kind = IO_READ, .direct = c->direct,
							.fd = c->fd, .buf = c->hdr, .len = BLK,
							.c = c };
	}
	ring_run(dw, dw->io, nio, NULL, NULL);
	ios_settle(dw, nio, "read");
	for (size_t j = 0; j < nio; j++) {
		struct dw_chunk *c = dw->io[j].c;

		if (load_pending(c))
			c->res = fschunk_hdr_check(c->hdr, dw->io[j].done, &job->keys[c->i],
						   job->lens[c->i], &c->info);
	}
	nio = 0;
	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		c->got = 0;
		if (load_pending(c))
			nio += payload_ios(c, dw->io + nio, job->bufs[c->i], c->info.len, IO_READ);
	}
	ring_run(dw, dw->io, nio, NULL, NULL);
	ios_settle(dw, nio, "read");
	for (size_t j = 0; j < nio; j++) {
		struct dw_io *io = &dw->io[j];
		struct dw_chunk *c = io->c;
		size_t tail = c->info.len - c->aligned;

		if (!load_pending(c))
			continue;
		if (io->buf != c->tail) {
			c->got += io->done;
		} else if (io->done >= tail) {
			memcpy((uint8_t *)job->bufs[c->i] + c->aligned, c->tail, tail);
			c->got += tail;
		}
	}
	for (size_t k = 0; k < cnt; k++) {
		struct dw_chunk *c = &dw->ch[k];

		if (!load_pending(c))
			continue;
		if (fschunk_payload_ok(&c->info, job->bufs[c->i], c->got))
			c->ok = true;
		else
			c->res = -EBADMSG;
	}
}

/* Unlink the file @c read as bad, unless its name now holds another file. */
static void remove_corrupt(struct diskwriter *dw, struct dw_chunk *c, const struct kvt_key *key)
{
	struct stat mine, now;
	struct fs_sizemap_ent *e;

	if (fstat(c->fd, &mine) < 0 || fstatat(c->sfd, c->name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    mine.st_ino != now.st_ino || mine.st_dev != now.st_dev)
		return;
	if (unlinkat(c->sfd, c->name, 0) < 0)
		return;
	log_warn("fs: %s: removed corrupt chunk %s", dw->base_path, c->name);
	bump(&dw->st_corrupt, 1);
	e = fs_sizemap_find(&dw->sizes, key);
	if (e)
		fs_sizemap_unsize(&dw->sizes, e);
}

static void handle_load(struct diskwriter *dw, struct dw_job *job, struct task_sum *ts)
{
	for (size_t base = 0; base < job->n; base += dw->depth) {
		size_t cnt = job->n - base < dw->depth ? job->n - base : dw->depth;

		for (size_t k = 0; k < cnt; k++) {
			struct dw_chunk *c = chunk_init(dw, k, job, base + k);

			c->sfd = shard_open(dw, fschunk_shard(&job->keys[c->i]), false);
			c->res = c->sfd < 0 ? c->sfd : 0;
		}
		load_read(dw, job, cnt);
		if (redo_buffered(dw, cnt))
			load_read(dw, job, cnt);
		for (size_t k = 0; k < cnt; k++) {
			struct dw_chunk *c = &dw->ch[k];

			if (c->res == -EBADMSG)
				remove_corrupt(dw, c, &job->keys[c->i]);
			chunk_close(dw, c);
			if (job->task->lens)
				job->task->lens[c->i] = c->res ? 0 : c->info.len;
			if (c->res == 0) {
				set_bit(job->task, c->i);
				ts->bytes += c->info.len;
				ts->ok++;
				continue;
			}
			if (c->res == -ENOENT || c->res == -EBADMSG || c->res == -EMSGSIZE ||
			    c->res == -ELOOP)
				continue;
			ts->failed++;
			bump(&dw->st_errors, 1);
			log_debug("fs: %s: load %s: %s", dw->base_path, c->name, strerror(-c->res));
		}
	}
	bump(&dw->st_loads, ts->ok);
}

/* ---- lookup, unlock, delete --------------------------------------------- */

static void handle_lookup(struct diskwriter *dw, struct dw_job *job, struct task_sum *ts)
{
	for (size_t base = 0; base < job->n; base += dw->depth) {
		size_t cnt = job->n - base < dw->depth ? job->n - base : dw->depth;

		for (size_t k = 0; k < cnt; k++) {
			struct dw_chunk *c = chunk_init(dw, k, job, base + k);

			c->sfd = shard_open(dw, fschunk_shard(&job->keys[c->i]), false);
			c->res = c->sfd < 0 ? c->sfd : 0;
		}
		statx_window(dw, cnt);
		for (size_t k = 0; k < cnt; k++) {
			struct dw_chunk *c = &dw->ch[k];
			struct fs_sizemap_ent *e;

			if (c->res || !S_ISREG(c->stx.stx_mode) || c->stx.stx_size < FSCHUNK_HDR)
				continue;
			/* a hit we could not lock would be a lie: call it a miss */
			e = fs_sizemap_get(&dw->sizes, &job->keys[c->i]);
			if (!e)
				continue;
			e->locks++;
			fs_sizemap_size(&dw->sizes, e, c->stx.stx_size);
			set_bit(job->task, c->i);
			if (job->task->lens)
				job->task->lens[c->i] = c->stx.stx_size - FSCHUNK_HDR;
			ts->ok++;
		}
	}
}

static void handle_unlock(struct diskwriter *dw, const struct kvt_key *key)
{
	struct fs_sizemap_ent *e = fs_sizemap_find(&dw->sizes, key);

	if (!e || !e->locks)
		return;
	if (--e->locks == 0 && !e->sized)
		fs_sizemap_unsize(&dw->sizes, e);
}

static void handle_delete(struct diskwriter *dw, struct dw_job *job)
{
	job->deleted = 0;
	for (size_t i = 0; i < job->n; i++) {
		const struct kvt_key *key = &job->keys[i];
		struct fs_sizemap_ent *e = fs_sizemap_find(&dw->sizes, key);
		char name[FSCHUNK_NAME_LEN + 1];
		int sfd, res;

		if (e && e->locks) {
			res = -EBUSY;
			goto out_result;
		}
		fschunk_name(key, name);
		sfd = shard_open(dw, fschunk_shard(key), false);
		res = sfd < 0 ? sfd : unlinkat(sfd, name, 0) < 0 ? -errno : 0;
		if (res == 0)
			job->deleted++;
		else if (res != -ENOENT)
			bump(&dw->st_errors, 1);
		if (e && (res == 0 || res == -ENOENT))
			fs_sizemap_unsize(&dw->sizes, e);
out_result:
		if (job->results)
			job->results[i] = res;
	}
}

/* Actor thread only. */
static void dw_handle(void *ctx, const struct actor_msg *m)
{
	struct diskwriter *dw = ctx;
	struct dw_job *job = m->ptr[0];
	struct task_sum ts = { 0, 0, 0, 0 };
	struct kvt_key key;

	ACTOR_ASSERT_SELF(&dw->actor);
	switch (m->op) {
	case DW_TASK:
		if (job->op == KVT_L2_STORE)
			handle_store(dw, job, &ts);
		else if (job->op == KVT_L2_LOAD)
			handle_load(dw, job, &ts);
		else
			handle_lookup(dw, job, &ts);
		job->task->bytes = ts.ok == 0 && ts.first_err ? ts.first_err : (int64_t)ts.bytes;
		publish_stats(dw);
		dw->cfg.complete(dw->cfg.ctx, job);
		break;
	case DW_UNLOCK:
		key.lo = m->u64[0];
		key.hi = m->u64[1];
		handle_unlock(dw, &key);
		break;
	case DW_DELETE:
		handle_delete(dw, job);
		publish_stats(dw);
		completion_signal(m->done, 0);
		break;
	}
}

static const struct actor_ops dw_actor_ops = {
	.handle = dw_handle,
};

/* ---- create, scan, destroy ---------------------------------------------- */

/* Append the chunk files of shard @s to @v (growing it).  Temp files,
 * symlinks, foreign names and files too short for a header are skipped. */
static int scan_shard(struct diskwriter *dw, unsigned int s, struct fs_sizemap_seed **v, size_t *n,
		      size_t *cap)
{
	int sfd = shard_open(dw, s, false);
	struct dirent *de;
	DIR *d;
	int fd;

	if (sfd == -ENOENT)
		return 0;
	if (sfd < 0)
		return sfd;
	fd = dup(sfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct fs_sizemap_seed se;
		struct stat st;

		if (!fschunk_parse_name(de->d_name, &se.key) || fschunk_shard(&se.key) != s ||
		    fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size < FSCHUNK_HDR)
			continue;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 256;
			struct fs_sizemap_seed *nv = mem_alloc(ncap * sizeof(*nv));

			if (!nv) {
				closedir(d);
				return -ENOMEM;
			}
			if (*n)
				memcpy(nv, *v, *n * sizeof(*nv));
			mem_free(*v);
			*v = nv;
			*cap = ncap;
		}
		se.bytes = (uint64_t)st.st_size;
		se.mtime = st.st_mtim;
		(*v)[(*n)++] = se;
	}
	closedir(d);
	return 0;
}

/* Rebuild the size map from the files on disk, oldest first. */
static int scan(struct diskwriter *dw)
{
	struct fs_sizemap_seed *v = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	for (unsigned int s = 0; s < FSCHUNK_SHARDS && !ret; s++)
		ret = scan_shard(dw, s, &v, &n, &cap);
	if (!ret)
		ret = fs_sizemap_load(&dw->sizes, v, n);
	mem_free(v);
	return ret;
}

static void free_state(struct diskwriter *dw)
{
	fs_sizemap_fini(&dw->sizes);
	for (unsigned int s = 0; s < FSCHUNK_SHARDS; s++)
		if (dw->shard_fd[s] >= 0)
			close(dw->shard_fd[s]);
	mem_free(dw->ch);
	mem_free(dw->io);
	mem_free(dw->blocks);
	mem_free(dw->idx);
	mem_free(dw->retry);
}

/* Open (making it 0700 if missing) the base directory, refusing symlinks. */
static int open_base(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0 && (errno != ENOENT || mkdir(path, 0700) < 0 ||
				     lstat(path, &st) < 0)) {
		snprintf(err, errlen, "fs: base_path: \"%s\": %s", path, strerror(errno));
		return -errno;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "fs: base_path: \"%s\": is a symlink", path);
		return -ELOOP;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "fs: base_path: \"%s\": not a directory", path);
		return -ENOTDIR;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "fs: base_path: \"%s\": %s", path, strerror(errno));
		return -errno;
	}
	return fd;
}

int diskwriter_create(const struct dw_config *cfg, struct diskwriter **out, char *err,
		      size_t errlen)
{
	struct diskwriter *dw = mem_zalloc(sizeof(*dw));
	unsigned int depth = cfg->io_depth;
	int ret;

	if (!dw)
		return -ENOMEM;
	dw->cfg = *cfg;
	dw->depth = depth;
	dw->odirect = cfg->odirect;
	dw->fault_einval = cfg->fault_odirect_einval;
	dw->rng = (uint64_t)clock_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)dw;
	dw->rng |= 1;
	dw->tmp_fd = -1;
	for (unsigned int s = 0; s < FSCHUNK_SHARDS; s++)
		dw->shard_fd[s] = -1;
	fs_sizemap_init(&dw->sizes);
	atomic_init(&dw->st_healthy, true);
	atomic_init(&dw->st_odirect, cfg->odirect);
	dw->base_path = strdup(cfg->base_path);
	dw->ch = mem_zalloc(depth * sizeof(*dw->ch));
	dw->io = mem_zalloc(2 * depth * sizeof(*dw->io));
	dw->blocks = mem_aligned_zalloc(BLK, 2 * depth * (size_t)BLK);
	dw->idx = mem_alloc(depth * sizeof(*dw->idx));
	dw->retry = mem_alloc(depth * sizeof(*dw->retry));
	ret = -ENOMEM;
	if (!dw->base_path || !dw->ch || !dw->io || !dw->blocks || !dw->idx || !dw->retry) {
		snprintf(err, errlen, "fs: out of memory");
		goto err_free;
	}
	dw->base_fd = ret = open_base(cfg->base_path, err, errlen);
	if (ret < 0)
		goto err_free;
	if (cfg->tmp_dir) {
		if (mkdirat(dw->base_fd, cfg->tmp_dir, 0700) < 0 && errno != EEXIST)
			ret = -errno;
		else
			ret = openat2_beneath(dw->base_fd, cfg->tmp_dir, O_RDONLY | O_DIRECTORY, 0);
		if (ret < 0) {
			snprintf(err, errlen, "fs: relative_tmp_dir: \"%s\": %s", cfg->tmp_dir,
				 strerror(-ret));
			goto err_close_base;
		}
		dw->tmp_fd = ret;
	}
	ret = io_uring_queue_init(depth, &dw->ring, 0);
	if (ret < 0) {
		snprintf(err, errlen, "fs: io_depth: \"%u\": io_uring_queue_init: %s", depth,
			 strerror(-ret));
		goto err_close_tmp;
	}
	if (cfg->capacity) {
		ret = scan(dw);
		if (ret < 0) {
			snprintf(err, errlen, "fs: base_path: \"%s\": scan: %s", cfg->base_path,
				 strerror(-ret));
			goto err_ring;
		}
		if (dw->sizes.used > cfg->capacity)
			evict_until(dw, cfg->capacity);
		publish_stats(dw);
	}
	ret = actor_start(&dw->actor, "fs", &dw_actor_ops, dw, DW_MAILBOX, DW_WAIT_MS, -1);
	if (ret < 0) {
		snprintf(err, errlen, "fs: cannot start the disk writer: %s", strerror(-ret));
		goto err_ring;
	}
	*out = dw;
	return 0;
err_ring:
	io_uring_queue_exit(&dw->ring);
err_close_tmp:
	if (dw->tmp_fd >= 0)
		close(dw->tmp_fd);
err_close_base:
	close(dw->base_fd);
err_free:
	free_state(dw);
	free(dw->base_path);
	mem_free(dw);
	return ret;
}

void diskwriter_destroy(struct diskwriter *dw)
{
	actor_stop(&dw->actor);
	io_uring_queue_exit(&dw->ring);
	if (dw->tmp_fd >= 0)
		close(dw->tmp_fd);
	close(dw->base_fd);
	free_state(dw);
	free(dw->base_path);
	mem_free(dw);
}

int diskwriter_submit(struct diskwriter *dw, struct dw_job *job)
{
	struct actor_msg m = { .op = DW_TASK, .ptr = { job } };

	return actor_post(&dw->actor, &m);
}

int diskwriter_delete(struct diskwriter *dw, struct dw_job *job)
{
	struct actor_msg m = { .op = DW_DELETE, .ptr = { job } };

	return actor_call(&dw->actor, &m);
}

void diskwriter_unlock(struct diskwriter *dw, const struct kvt_key *key)
{
	struct actor_msg m = { .op = DW_UNLOCK, .u64 = { key->lo, key->hi } };

	/* the caller never retries an unlock, so it must land */
	while (actor_post(&dw->actor, &m) == -ETIMEDOUT)
		;
}

void diskwriter_stats(struct diskwriter *dw, struct dw_stats *out)
{
	out->healthy = atomic_load_explicit(&dw->st_healthy, memory_order_relaxed);
	out->odirect = atomic_load_explicit(&dw->st_odirect, memory_order_relaxed);
	out->bytes_used = atomic_load_explicit(&dw->st_used, memory_order_relaxed);
	out->capacity = dw->cfg.capacity;
	out->chunks = atomic_load_explicit(&dw->st_chunks, memory_order_relaxed);
	out->errors = atomic_load_explicit(&dw->st_errors, memory_order_relaxed);
	out->odirect_fallbacks = atomic_load_explicit(&dw->st_fallbacks, memory_order_relaxed);
	out->corrupt_removed = atomic_load_explicit(&dw->st_corrupt, memory_order_relaxed);
	out->enospc_evictions = atomic_load_explicit(&dw->st_enospc_evictions, memory_order_relaxed);
	out->evictions = atomic_load_explicit(&dw->st_evictions, memory_order_relaxed);
	out->stores = atomic_load_explicit(&dw->st_stores, memory_order_relaxed);
	out->loads = atomic_load_explicit(&dw->st_loads, memory_order_relaxed);
}
