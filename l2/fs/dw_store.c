/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/dw_store.c - one key's store, as a slot of the disk writer's
 * engine (dw_engine.c).  Actor thread only.
 *
 * Stages: statx the final name (present: done, not rewritten); hash the
 * payload (CPU queue) and encode the header; open an O_TMPFILE in the shard
 * (or in tmp_dir); write header and payload with ONE pwritev; cut a padded
 * tail back (O_DIRECT, unaligned length only); fsync when durable; publish
 * with linkat(/proc/self/fd/N), which fails with EEXIST rather than replace,
 * so of N racing writers of one key (threads or processes) exactly one file
 * wins and the losers' files vanish with their fds.  A writer killed
 * mid-store leaves only an unnamed inode the kernel frees: nothing torn is
 * ever visible by name.  Where O_TMPFILE is unsupported a named temp (pid,
 * thread, counter) and renameat2(RENAME_NOREPLACE) stand in; a crash there
 * can leave that temp behind, never a torn chunk.  Upstream wrote a shared
 * "<name>.tmp" and os.replace()d it, so racing writers truncated each
 * other's files.
 *
 * The open and the link are synchronous calls on the actor thread: each is
 * a few microseconds against a hot directory (the statx warmed it), cheaper
 * than a hop to an io-wq worker, and the ring stays busy with the other
 * slots' I/O meanwhile.
 *
 * O_DIRECT: header block and payload go direct from the bounce block and
 * an aligned caller buffer, an unaligned tail through a one-block bounce
 * (the file is then truncated to its exact size).  An unaligned caller
 * buffer goes buffered: the page-cache copy costs what a bounce copy would.
 * When the kernel refuses O_DIRECT (EINVAL at open or write) the key is
 * redone buffered and O_DIRECT stays off for good.
 *
 * ENOSPC with a capacity: evict the oldest chunks (this key's size, or an
 * eighth of the usage if more, so the next stores do not hit the wall at
 * once) and start the key once more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "l2/fs/dw_internal.h"
#include "core/log.h"

enum { ST_STATX, ST_HASH, ST_WRITE, ST_FSYNC, ST_DIRSYNC };

static void store_end(struct diskwriter *dw, struct dw_slot *s, int res);

#define REDO 1 /* tmp_open(): the kernel refused O_DIRECT */

/* Open the temp file of @s: O_TMPFILE, or a named temp where unsupported.
 * Return: 0 with s->fd set, REDO (O_DIRECT refused), or -errno. */
static int tmp_open(struct diskwriter *dw, struct dw_slot *s, const void *buf)
{
	int dir = dw->tmp_fd >= 0 ? dw->tmp_fd : s->sfd;
	int flags = O_WRONLY;
	int fd;

	s->direct = dw->odirect && dw_aligned(buf);
	if (s->direct)
		flags |= O_DIRECT;
	if (!dw->no_tmpfile) {
		fd = openat(dir, ".", flags | O_TMPFILE | O_CLOEXEC, 0600);
		if (fd >= 0) {
			s->fd = fd;
			return 0;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR)
			goto out_err;
		log_warn("fs: %s: O_TMPFILE unsupported (%s); using named temps", dw->base_path,
			 strerror(errno));
		dw->no_tmpfile = true;
	}
	snprintf(s->tmpname, sizeof(s->tmpname), ".tmp-%ld-%ld-%llu", (long)getpid(),
		 (long)syscall(SYS_gettid), (unsigned long long)dw->tmp_seq++);
	fd = dw_open_beneath(dir, s->tmpname, flags | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		s->fd = fd;
		s->named = true;
		return 0;
	}
	errno = -fd;
out_err:
	if (errno == EINVAL && s->direct) {
		dw_odirect_refused(dw, EINVAL, "open");
		return REDO;
	}
	return -errno;
}

/* Link the finished temp of @s under its final name, never replacing. */
static int publish(struct diskwriter *dw, struct dw_slot *s)
{
	int tdir = dw->tmp_fd >= 0 ? dw->tmp_fd : s->sfd;
	char proc[32];
	int ret;

	if (!s->named) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s->fd);
		ret = linkat(AT_FDCWD, proc, s->sfd, s->name, AT_SYMLINK_FOLLOW);
	} else {
		ret = renameat2(tdir, s->tmpname, s->sfd, s->name, RENAME_NOREPLACE);
		if (ret < 0 && errno == EINVAL) {
			/* no RENAME_NOREPLACE here: link also refuses to replace */
			ret = linkat(tdir, s->tmpname, s->sfd, s->name, 0);
		}
	}
	if (ret < 0)
		return -errno;
	s->published = true;
	if (s->named)
		unlinkat(tdir, s->tmpname, 0);
	return 0;
}

void dw_slot_close(struct diskwriter *dw, struct dw_slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->named && !s->published)
		unlinkat(dw->tmp_fd >= 0 ? dw->tmp_fd : s->sfd, s->tmpname, 0);
	s->named = false;
}

/* Open the temp and write header and payload in one pwritev. */
static void store_write(struct diskwriter *dw, struct dw_slot *s)
{
	const struct dw_job *job = s->job;
	uint8_t *buf = job->l2.bufs[s->i];
	size_t len = job->l2.lens[s->i], tail;
	int ret;

	ret = tmp_open(dw, s, buf);
	if (ret == REDO) {
		dw_bump(&dw->st_fallbacks, 1);
		ret = tmp_open(dw, s, buf);
	}
	if (ret < 0) {
		store_end(dw, s, ret);
		return;
	}
	s->aligned = s->direct ? len & ~(size_t)(DW_BLK - 1) : len;
	tail = len - s->aligned;
	s->niov = 0;
	s->iov[s->niov++] = (struct iovec){ s->hdr, DW_BLK };
	if (s->aligned)
		s->iov[s->niov++] = (struct iovec){ buf, s->aligned };
	if (tail) {
		memcpy(s->tail, buf + s->aligned, tail);
		memset(s->tail + tail, 0, DW_BLK - tail);
		s->iov[s->niov++] = (struct iovec){ s->tail, DW_BLK };
	}
	s->iov_first = 0;
	s->done = 0;
	s->stage = ST_WRITE;
	dw_io_rw(dw, s, true);
}

static void store_publish(struct diskwriter *dw, struct dw_slot *s)
{
	int ret = publish(dw, s);

	if (ret == -EEXIST) {
		s->lost_race = true;
		ret = 0;
	}
	if (ret == 0 && s->published && dw->cfg.durable) {
		s->stage = ST_DIRSYNC;
		dw_io_fsync(dw, s, s->sfd);
		return;
	}
	store_end(dw, s, ret);
}

/* The write is whole: exact length, durability, then publish. */
static void store_written(struct diskwriter *dw, struct dw_slot *s)
{
	size_t len = s->job->l2.lens[s->i];

	/* a direct tail wrote a whole block: cut the file to its size */
	if (s->aligned != len && ftruncate(s->fd, (off_t)(FSCHUNK_HDR + len)) < 0) {
		store_end(dw, s, -errno);
		return;
	}
	if (dw->cfg.durable) {
		s->stage = ST_FSYNC;
		dw_io_fsync(dw, s, s->fd);
		return;
	}
	store_publish(dw, s);
}

/* Whether the file statx found can be this chunk: a regular file of the
 * header plus exactly this length.  (A same-size file with flipped bits
 * passes; the first load finds it out and removes it.) */
static bool store_fits(const struct dw_slot *s)
{
	return S_ISREG(s->stx.stx_mode) &&
	       s->stx.stx_size == FSCHUNK_HDR + (uint64_t)s->job->l2.lens[s->i];
}

/*
 * Whether the file at the name is a whole chunk of this key, only of
 * another length (an older version a removal missed): its header is valid
 * and says the length the file has.  Otherwise it is torn or foreign.
 */
static bool whole_other_chunk(struct diskwriter *dw, struct dw_slot *s)
{
	struct fschunk_info info;
	ssize_t got;
	int fd = openat(s->sfd, s->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return false;
	got = pread(fd, s->hdr, FSCHUNK_HDR, 0);
	close(fd);
	return fschunk_hdr_check(s->hdr, got > 0 ? (size_t)got : 0, &s->job->l2.keys[s->i],
				 UINT64_MAX, &info) == 0 &&
	       FSCHUNK_HDR + info.len == s->stx.stx_size;
}

/*
 * A file that cannot be this chunk holds the name: remove it so this store
 * can publish, else the key would stay a miss for good (and a file shorter
 * than a header is never even seen by a lookup).  A torn or foreign one is
 * counted as corrupt; a whole chunk of another length (an older version)
 * is simply replaced.  Only the inode statx saw is removed, so a good file
 * a racing writer published meanwhile stays.
 * Return: -ENOENT (now write it), or 0 (leave it).
 */
static int replace_misfit(struct diskwriter *dw, struct dw_slot *s)
{
	bool corrupt = !S_ISREG(s->stx.stx_mode) || !whole_other_chunk(dw, s);
	struct fs_sizemap_ent *e;
	struct stat now;

	if (fstatat(s->sfd, s->name, &now, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -ENOENT : 0;
	if (now.st_ino != s->stx.stx_ino || unlinkat(s->sfd, s->name, 0) < 0)
		return 0;
	if (corrupt) {
		log_warn("fs: %s: removed %s, torn or foreign (%llu bytes)", dw->base_path,
			 s->name, (unsigned long long)s->stx.stx_size);
		dw_bump(&dw->st_corrupt, 1);
	}
	e = fs_sizemap_find(&dw->sizes, &s->job->l2.keys[s->i]);
	if (e)
		fs_sizemap_unsize(&dw->sizes, e);
	return -ENOENT;
}

void dw_store_start(struct diskwriter *dw, struct dw_slot *s)
{
	int sfd = dw_shard_open(dw, fschunk_shard(&s->job->l2.keys[s->i]), true);

	s->stage = ST_STATX;
	if (sfd < 0) {
		store_end(dw, s, sfd);
		return;
	}
	s->sfd = sfd;
	dw_statx(dw, s);
}

void dw_store_step(struct diskwriter *dw, struct dw_slot *s, int res)
{
	const struct dw_job *job = s->job;

	switch (s->stage) {
	case ST_STATX:
		if (res == 0 && !store_fits(s))
			res = replace_misfit(dw, s);
		if (res == -ENOENT) {
			s->stage = ST_HASH;
			dw_cpu_defer(dw, s);
			return;
		}
		break;  /* present (not rewritten), or failed */
	case ST_HASH:
		fschunk_hdr_encode(s->hdr, &job->l2.keys[s->i], job->l2.lens[s->i],
				   fschunk_sum(job->l2.bufs[s->i], job->l2.lens[s->i]));
		store_write(dw, s);
		return;
	case ST_WRITE:
		if (res == -EINVAL && s->direct) {
			dw_odirect_refused(dw, EINVAL, "write");
			dw_bump(&dw->st_fallbacks, 1);
			dw_slot_close(dw, s);
			store_write(dw, s);
			return;
		}
		if (res == 0)
			res = -EIO; /* a write that moves nothing */
		if (res < 0)
			break;
		if (dw_iov_advance(s, (size_t)res)) {
			dw_io_rw(dw, s, true);
			return;
		}
		store_written(dw, s);
		return;
	case ST_FSYNC:
		if (res < 0)
			break;
		store_publish(dw, s);
		return;
	case ST_DIRSYNC:
		break;
	}
	store_end(dw, s, res);
}

/* Make room after ENOSPC and start @s again; false when that is not for
 * this key (no capacity, or retried already). */
static bool enospc_retry(struct diskwriter *dw, struct dw_slot *s)
{
	uint64_t need = FSCHUNK_HDR + s->job->l2.lens[s->i], used = dw->sizes.used, cut;

	if (!dw->cfg.capacity || s->retried)
		return false;
	dw_slot_close(dw, s);
	cut = need > used / 8 ? need : used / 8;
	dw_bump(&dw->st_enospc_evictions, dw_evict_until(dw, used > cut ? used - cut : 0));
	s->retried = true;
	s->direct = false;
	s->published = false;
	dw_store_start(dw, s);
	return true;
}

/* @s's key is stored (res 0), or failed: account, count, free the slot. */
static void store_end(struct diskwriter *dw, struct dw_slot *s, int res)
{
	struct dw_job *job = s->job;
	const struct kvt_key *key = &job->l2.keys[s->i];

	if (res == -ENOSPC && enospc_retry(dw, s))
		return;
	dw_slot_close(dw, s);
	if (res == 0 && s->stage == ST_STATX) {
		/* present already: count it once, as found */
		if (S_ISREG(s->stx.stx_mode))
			fs_sizemap_account(&dw->sizes, key, s->stx.stx_size);
	} else if (res == 0) {
		fs_sizemap_account(&dw->sizes, key, FSCHUNK_HDR + job->l2.lens[s->i]);
		if (!s->lost_race) {
			job->moved += job->l2.lens[s->i];
			dw_bump(&dw->st_stores, 1);
		}
		if (dw->cfg.capacity && dw->sizes.used > dw->cfg.capacity)
			dw_evict_until(dw, dw->cfg.capacity);
	}
	if (res == 0) {
		dw_set_bit(job, s->i);
		job->ok++;
	} else {
		job->failed++;
		if (!job->first_err)
			job->first_err = res;
		dw_bump(&dw->st_errors, 1);
		log_debug("fs: %s: store %s: %s", dw->base_path, s->name, strerror(-res));
	}
	dw_slot_finish(dw, s);
}
