/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/dw_load.c - one key's load or lookup, as a slot of the disk
 * writer's engine (dw_engine.c).  Actor thread only.
 *
 * O_DIRECT load: open the chunk, then ONE preadv from offset 0: the header
 * into the slot's bounce block, the payload straight into the caller's
 * buffer, its unaligned end into the tail bounce block.  The read asks for
 * as much as the buffer holds; once the header is in, it is checked and
 * says how much more is due, so a short read is continued only while the
 * file promises more.  Then the payload is verified on the CPU queue, while
 * other slots' I/O is in flight (fschunk.h).  O_DIRECT needs an aligned
 * caller buffer; an unaligned one is read buffered.  When the kernel
 * refuses O_DIRECT (EINVAL at open or read) the key is read again buffered
 * and O_DIRECT stays off for good.
 *
 * Buffered load: the payload is read in pieces of DW_PIECE bytes straight
 * into the caller's buffer (the first piece with the header, in one
 * preadv), and each piece is added to the payload's sum (hash64_update():
 * the pieces' sum is the payload's) the moment it is in, while the
 * kernel's copy has left it in this CPU's cache: its completion goes to the
 * head of the CPU queue (dw_cpu_defer_first()) and the next piece is read
 * right after (dw_io_read_now(): a read of cached pages runs inline in the
 * submit).  One read of the whole payload left the hash to read it all
 * back from RAM.  So where the kernel reads inline, a task's keys load one
 * after the other, in the order of their first reads (queued together, they
 * go to the CPU queue's tail): the first keys are in while the last are
 * not begun, and a fetch that loads in waves (api/l2_fetch.c) promotes the
 * first while this thread loads the rest.  A file that ends before its payload does is found at the
 * piece that hits the end.
 *
 * Into the caller's buffer, or through a bounce buffer (piece_target()):
 * where the hypervisor shadows the guest kernel's page tables apart from
 * its user's (a PVM guest, as this machine), the kernel's first write
 * into each page of a buffer pays a fault the guest does not see, however
 * warm the page is in user mode, and a buffered read is such a write: 256
 * KiB pieces of a cached file read into a buffer the kernel never wrote ran
 * at 0.6 GB/s, the same once it had at 11 GB/s, and through one cached
 * 256 KiB bounce buffer then nt_copy() out at 9 GB/s either way (one
 * thread, 96 MiB).  An engine's buffers are new to the kernel after every
 * restart.  Where the caller's buffer is fast the kernel's copy into it
 * costs less than the bounce's second copy (tools/kvtier-bench/
 * disk_cached.c), so pieces go direct until one copies slower than
 * bounce_below_gbps, then DW_BOUNCE_RUN pieces go through the bounce, then
 * a direct piece probes again; while probes stay slow the runs double (up
 * to DW_BOUNCE_RUN_MAX, 2 GiB), so buffers that stay new to the kernel
 * (bounced pieces never warm them) cost ever fewer slow probes.  Only pieces read by dw_io_read_now() are
 * timed: it runs the read inline, so the time is the kernel's copy.
 *
 * A bad file is a miss and is unlinked (upstream served any file of the
 * right length).
 *
 * Lookup: statx the name; a regular file with room for a header is a hit,
 * locked in the size map until unlocked; one shorter than a header is a
 * miss and is unlinked.  Nothing else is read: a hit is a file that may
 * still prove damaged when loaded.  Nothing needs the size map for
 * correctness: processes sharing one directory see each other's chunks, and
 * a restart is warm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "l2/fs/dw_internal.h"
#include "core/log.h"
#include "core/ntcopy.h"
#include "core/waitword.h"

enum {
	LD_READ,        /* O_DIRECT: the one read in flight */
	LD_VERIFY,      /* O_DIRECT: on the CPU queue, to hash the payload */
	LD_PIECE,       /* buffered: a read in flight (the first has the header) */
	LD_SUM,         /* buffered: on the CPU queue, to hash the piece just read */
};

static void load_end(struct diskwriter *dw, struct dw_slot *s, int res);

/* Where @s's next piece goes: the bounce buffer during a bounce run if no
 * other slot holds it, else @dst, the caller's buffer at the piece. */
static uint8_t *piece_target(struct diskwriter *dw, struct dw_slot *s, uint8_t *dst)
{
	s->bounce = NULL;
	if (!dw->bounce_run || dw->bounce_busy)
		return dst;
	dw->bounce_busy = true;
	dw->bounce_run--;
	s->bounce = dw->bounce;
	return s->bounce;
}

static void bounce_put(struct diskwriter *dw, struct dw_slot *s)
{
	if (!s->bounce)
		return;
	dw->bounce_busy = false;
	s->bounce = NULL;
}

/* A timed direct piece of @s is in: one slower than bounce_below_gbps
 * starts a bounce run, a fast one resets the runs' length. */
static void piece_timed(struct diskwriter *dw, const struct dw_slot *s)
{
	double ns = (double)(clock_now_ns() - s->piece_t0);

	if (ns * dw->cfg.bounce_below_gbps <= (double)s->piece) {
		dw->bounce_next = DW_BOUNCE_RUN;
		return;
	}
	dw->bounce_run = dw->bounce_next;
	if (dw->bounce_next < DW_BOUNCE_RUN_MAX)
		dw->bounce_next *= 2;
}

/* Open the chunk of @s and issue its first read (O_DIRECT: its one read). */
static void load_read(struct diskwriter *dw, struct dw_slot *s)
{
	uint8_t *buf = s->job->l2.bufs[s->i];
	size_t cap = s->job->l2.lens[s->i];
	int fd;

	s->direct = dw->odirect && dw_aligned(buf);
	fd = dw_open_beneath(s->sfd, s->name, O_RDONLY | (s->direct ? O_DIRECT : 0), 0);
	if (fd == -EINVAL && s->direct) {
		dw_odirect_refused(dw, EINVAL, "open");
		dw_bump(&dw->st_fallbacks, 1);
		s->direct = false;
		fd = dw_open_beneath(s->sfd, s->name, O_RDONLY, 0);
	}
	if (fd < 0) {
		load_end(dw, s, fd);
		return;
	}
	s->fd = fd;
	s->iov_first = 0;
	s->done = 0;
	s->hdr_ok = false;
	if (!s->direct) {
		if (dw->cfg.read_ahead)
			posix_fadvise(fd, 0, (off_t)(FSCHUNK_HDR + dw->cfg.read_ahead),
				      POSIX_FADV_WILLNEED);
		s->off = 0;
		/* the first read is queued with other slots' (untimed) and would
		 * hold the bounce meanwhile: during a bounce run it reads the
		 * header alone, and the pieces follow inline; a payload too short
		 * to stream (NTCOPY_MIN) is not worth a read of its own */
		s->piece = dw->bounce_run && cap >= NTCOPY_MIN ? 0 : cap < DW_PIECE ? cap : DW_PIECE;
		s->bounce = NULL;
		s->piece_t0 = 0;
		s->iov[0] = (struct iovec){ s->hdr, FSCHUNK_HDR };
		s->iov[1] = (struct iovec){ buf, s->piece };
		s->niov = s->piece ? 2 : 1;
		s->stage = LD_PIECE;
		dw_io_rw(dw, s, false);
		return;
	}
	s->aligned = cap & ~(size_t)(DW_BLK - 1);
	s->niov = 0;
	s->iov[s->niov++] = (struct iovec){ s->hdr, DW_BLK };
	if (s->aligned)
		s->iov[s->niov++] = (struct iovec){ buf, s->aligned };
	if (cap > s->aligned)
		s->iov[s->niov++] = (struct iovec){ s->tail, DW_BLK };
	s->stage = LD_READ;
	dw_io_rw(dw, s, false);
}

/* Unlink the file @s read as bad, unless its name now holds another file. */
static void remove_corrupt(struct diskwriter *dw, struct dw_slot *s)
{
	struct stat mine, now;
	struct fs_sizemap_ent *e;

	if (fstat(s->fd, &mine) < 0 || fstatat(s->sfd, s->name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    mine.st_ino != now.st_ino || mine.st_dev != now.st_dev)
		return;
	if (unlinkat(s->sfd, s->name, 0) < 0)
		return;
	log_warn("fs: %s: removed corrupt chunk %s", dw->base_path, s->name);
	dw_bump(&dw->st_corrupt, 1);
	e = fs_sizemap_find(&dw->sizes, &s->job->l2.keys[s->i]);
	if (e)
		fs_sizemap_unsize(&dw->sizes, e);
}

/* Read the next piece of @s's payload (see piece_target()). */
static void piece_read(struct diskwriter *dw, struct dw_slot *s)
{
	size_t left = s->info.len - s->off;
	uint8_t *to = piece_target(dw, s, s->job->l2.bufs[s->i] + s->off);

	s->piece = left < DW_PIECE ? left : DW_PIECE;
	s->piece_t0 = s->bounce || !dw->cfg.bounce_below_gbps ? 0 : clock_now_ns();
	s->iov[0] = (struct iovec){ to, s->piece };
	s->niov = 1;
	s->iov_first = 0;
	s->done = FSCHUNK_HDR + s->off;
	s->stage = LD_PIECE;
	dw_io_read_now(dw, s);
}

/* The piece just read is whole: add it to the sum (and move it out of the
 * bounce buffer), then read the next. */
static void piece_sum(struct diskwriter *dw, struct dw_slot *s)
{
	uint8_t *dst = s->job->l2.bufs[s->i] + s->off;

	hash64_update(&s->hs, s->bounce ? s->bounce : dst, s->piece);
	if (s->bounce) {
		nt_copy(dst, s->bounce, s->piece);
		bounce_put(dw, s);
		dw_bump(&dw->st_bounced, 1);
	}
	s->off += s->piece;
	if (s->off < s->info.len) {
		piece_read(dw, s);
		return;
	}
	load_end(dw, s, hash64_digest(&s->hs) == s->info.sum ? 0 : -EBADMSG);
}

/*
 * The read of @s advanced by @res bytes; once the header is in (or the
 * file ended before it), check it.  Return: 1 the load goes on (*@more:
 * the file may hold more than was read), 0 it ended (load_end() called).
 */
static int read_advanced(struct diskwriter *dw, struct dw_slot *s, int res, bool *more)
{
	const struct dw_job *job = s->job;

	if (res < 0) {
		load_end(dw, s, res);
		return 0;
	}
	*more = res > 0 && dw_iov_advance(s, (size_t)res);
	if (!s->hdr_ok && (s->done >= FSCHUNK_HDR || !*more)) {
		size_t got = s->done < FSCHUNK_HDR ? s->done : FSCHUNK_HDR;

		res = fschunk_hdr_check(s->hdr, got, &job->l2.keys[s->i], job->l2.lens[s->i],
					&s->info);
		if (res) {
			load_end(dw, s, res);
			return 0;
		}
		s->hdr_ok = true;
		if (!s->direct) {
			hash64_reset(&s->hs);
			/* the first read asked for a piece of the buffer, not of the file */
			if (s->piece > s->info.len)
				s->piece = s->info.len;
		}
	}
	return 1;
}

/* A buffered load's read completed with @res. */
static void buffered_step(struct diskwriter *dw, struct dw_slot *s, int res)
{
	bool first = !s->hdr_ok, more;

	if (!read_advanced(dw, s, res, &more))
		return;
	if (s->hdr_ok && s->done >= FSCHUNK_HDR + s->off + s->piece) {
		if (s->piece_t0)
			piece_timed(dw, s);
		s->stage = LD_SUM;
		/* first reads complete together: queued in order, their keys
		 * then run one after the other, each piece summed while hot */
		if (first)
			dw_cpu_defer(dw, s);
		else
			dw_cpu_defer_first(dw, s);
		return;
	}
	if (!more) {
		load_end(dw, s, -EBADMSG); /* the file ends before its payload does */
		return;
	}
	dw_io_read_now(dw, s); /* a short read: the rest of the same iovecs */
}

void dw_load_start(struct diskwriter *dw, struct dw_slot *s)
{
	int sfd = dw_shard_open(dw, fschunk_shard(&s->job->l2.keys[s->i]), false);

	if (sfd < 0) {
		load_end(dw, s, sfd);
		return;
	}
	s->sfd = sfd;
	load_read(dw, s);
}

void dw_load_step(struct diskwriter *dw, struct dw_slot *s, int res)
{
	const struct dw_job *job = s->job;
	uint8_t *buf = job->l2.bufs[s->i];
	bool more;

	switch (s->stage) {
	case LD_PIECE:
		buffered_step(dw, s, res);
		return;
	case LD_SUM:
		piece_sum(dw, s);
		return;
	}
	if (s->stage == LD_VERIFY) {
		size_t len = s->info.len;

		if (len > s->aligned)
			memcpy(buf + s->aligned, s->tail, len - s->aligned);
		load_end(dw, s, fschunk_payload_ok(&s->info, buf, len) ? 0 : -EBADMSG);
		return;
	}
	if (res == -EINVAL && s->direct) {
		dw_odirect_refused(dw, EINVAL, "read");
		dw_bump(&dw->st_fallbacks, 1);
		dw_slot_close(dw, s);
		load_read(dw, s);
		return;
	}
	if (!read_advanced(dw, s, res, &more))
		return;
	if (s->hdr_ok && s->done >= FSCHUNK_HDR + s->info.len) {
		s->stage = LD_VERIFY;
		dw_cpu_defer(dw, s);
		return;
	}
	if (!more) {
		load_end(dw, s, -EBADMSG); /* the file ends before its payload does */
		return;
	}
	dw_io_rw(dw, s, false);
}

/* @s's key is loaded (res 0) or missed or failed: report, free the slot. */
static void load_end(struct diskwriter *dw, struct dw_slot *s, int res)
{
	struct dw_job *job = s->job;

	if (res == -EBADMSG)
		remove_corrupt(dw, s);
	bounce_put(dw, s);
	dw_slot_close(dw, s);
	if (job->l2.task->lens)
		job->l2.task->lens[s->i] = res ? 0 : s->info.len;
	if (res == 0) {
		dw_set_bit(job, s->i);
		job->moved += s->info.len;
		job->ok++;
		dw_bump(&dw->st_loads, 1);
	} else if (res != -ENOENT && res != -EBADMSG && res != -EMSGSIZE && res != -ELOOP) {
		job->failed++;
		dw_bump(&dw->st_errors, 1);
		log_debug("fs: %s: load %s: %s", dw->base_path, s->name, strerror(-res));
	}
	dw_slot_finish(dw, s);
}

void dw_lookup_start(struct diskwriter *dw, struct dw_slot *s)
{
	int sfd = dw_shard_open(dw, fschunk_shard(&s->job->l2.keys[s->i]), false);

	if (sfd < 0) {
		dw_slot_finish(dw, s);
		return;
	}
	s->sfd = sfd;
	dw_statx(dw, s);
}

/*
 * A regular file shorter than a header under a chunk's name (0 bytes: its
 * data never reached the disk before a crash) is no chunk and never will
 * be: files are published whole, by linkat.  Remove it as a load removes a
 * damaged file, or it would stay a miss nothing ever loads, hence removes.
 * Only the inode statx saw goes, so a good file published meanwhile stays.
 */
static void remove_short(struct diskwriter *dw, struct dw_slot *s)
{
	struct fs_sizemap_ent *e;
	struct stat now;

	if (fstatat(s->sfd, s->name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_ino != s->stx.stx_ino || unlinkat(s->sfd, s->name, 0) < 0)
		return;
	log_warn("fs: %s: removed truncated chunk %s (%llu bytes)", dw->base_path, s->name,
		 (unsigned long long)s->stx.stx_size);
	dw_bump(&dw->st_corrupt, 1);
	e = fs_sizemap_find(&dw->sizes, &s->job->l2.keys[s->i]);
	if (e)
		fs_sizemap_unsize(&dw->sizes, e);
}

void dw_lookup_step(struct diskwriter *dw, struct dw_slot *s, int res)
{
	struct dw_job *job = s->job;
	struct fs_sizemap_ent *e;

	if (res || !S_ISREG(s->stx.stx_mode))
		goto out_finish;
	if (s->stx.stx_size < FSCHUNK_HDR) {
		remove_short(dw, s);
		goto out_finish;
	}
	/* a hit we could not lock would be a lie: call it a miss */
	e = fs_sizemap_get(&dw->sizes, &job->l2.keys[s->i]);
	if (!e)
		goto out_finish;
	e->locks++;
	fs_sizemap_size(&dw->sizes, e, s->stx.stx_size);
	dw_set_bit(job, s->i);
	if (job->l2.task->lens)
		job->l2.task->lens[s->i] = s->stx.stx_size - FSCHUNK_HDR;
	job->ok++;
out_finish:
	dw_slot_finish(dw, s);
}
