/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/diskwriter.c - the disk writer actor of the fs L2 adapter (see
 * diskwriter.h; the file format is l2/fschunk.h; the actor's other files
 * are listed in dw_internal.h).
 *
 * Owns (actor thread only, untagged): the directory fds, the O_DIRECT
 * switch, the size map and, through dw_engine.c, the io_uring.  The
 * counters at the end of struct diskwriter are [atomic]: written by the
 * actor, read by diskwriter_stats() anywhere.
 *
 * Handlers never block on I/O: a task message hands its job to the engine
 * and moves the engine along without waiting; idle() waits for the next
 * completion while jobs are in flight, and goes back to the mailbox after
 * each, so new tasks join the ring while older ones run.  DELETE waits for
 * every earlier job first (a delete must not race a store posted before
 * it), and so does stop (on_stop), so when the actor exits no I/O touches a
 * caller's buffer.
 */
#define _GNU_SOURCE
#include "l2/fs/diskwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "l2/fs/dw_internal.h"
#include "core/log.h"
#include "core/mem.h"

#define DW_MAILBOX 1024
#define DW_WAIT_MS 1000

enum dw_op {
	DW_TASK = 1,  /* ptr[0] struct dw_job *, handed to l2_glue_complete() */
	DW_UNLOCK,    /* u64[0] key.lo, u64[1] key.hi */
	DW_DELETE,    /* ptr[0] struct dw_job *, the caller's; done signalled */
};

int dw_open_beneath(int dfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

void dw_publish_stats(struct diskwriter *dw)
{
	atomic_store_explicit(&dw->st_used, dw->sizes.used, memory_order_relaxed);
	atomic_store_explicit(&dw->st_chunks, dw->sizes.nsized, memory_order_relaxed);
	atomic_store_explicit(&dw->st_odirect, dw->odirect, memory_order_relaxed);
}

/* ---- directories ------------------------------------------------------ */

/* The fd of shard @s, opened (and made, when @create) on first use.
 * Return: fd, or -errno (-ENOENT: no such shard yet; -ELOOP: a symlink). */
int dw_shard_open(struct diskwriter *dw, unsigned int s, bool create)
{
	char name[3];
	int fd;

	if (dw->shard_fd[s] >= 0)
		return dw->shard_fd[s];
	fschunk_shard_name(s, name);
	if (create && mkdirat(dw->base_fd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = dw_open_beneath(dw->base_fd, name, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0)
		dw->shard_fd[s] = fd;
	return fd;
}

/* The kernel refused O_DIRECT: go buffered for good, and say so once. */
void dw_odirect_refused(struct diskwriter *dw, int err, const char *what)
{
	if (!dw->odirect)
		return;
	dw->odirect = false;
	log_warn("fs: %s: O_DIRECT %s refused: %s (errno %d); buffered I/O from now on",
		 dw->base_path, what, strerror(err), err);
}

/* ---- unlock, delete ---------------------------------------------------- */

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
	job->l2.deleted = 0;
	for (size_t i = 0; i < job->l2.n; i++) {
		const struct kvt_key *key = &job->l2.keys[i];
		struct fs_sizemap_ent *e = fs_sizemap_find(&dw->sizes, key);
		char name[FSCHUNK_NAME_LEN + 1];
		int sfd, res;

		if (e && e->locks) {
			res = -EBUSY;
			goto out_result;
		}
		fschunk_name(key, name);
		sfd = dw_shard_open(dw, fschunk_shard(key), false);
		res = sfd < 0 ? sfd : unlinkat(sfd, name, 0) < 0 ? -errno : 0;
		if (res == 0)
			job->l2.deleted++;
		else if (res != -ENOENT)
			dw_bump(&dw->st_errors, 1);
		if (e && (res == 0 || res == -ENOENT))
			fs_sizemap_unsize(&dw->sizes, e);
out_result:
		if (job->l2.results)
			job->l2.results[i] = res;
	}
}

/* Actor thread only. */
static void dw_handle(void *ctx, const struct actor_msg *m)
{
	struct diskwriter *dw = ctx;
	struct dw_job *job = m->ptr[0];
	struct kvt_key key;

	ACTOR_ASSERT_SELF(&dw->actor);
	switch (m->op) {
	case DW_TASK:
		dw_engine_add(dw, job);
		break;
	case DW_UNLOCK:
		key.lo = m->u64[0];
		key.hi = m->u64[1];
		handle_unlock(dw, &key);
		break;
	case DW_DELETE:
		dw_engine_pump(dw, DW_PUMP_DRAIN);
		handle_delete(dw, job);
		dw_publish_stats(dw);
		completion_signal(m->done, 0);
		break;
	}
	/* a stream of messages must not starve the I/O in flight */
	dw_engine_pump(dw, DW_PUMP_NOWAIT);
}

/* Mailbox empty: wait for one completion while jobs are in flight. */
static int dw_idle(void *ctx)
{
	struct diskwriter *dw = ctx;

	return dw_engine_pump(dw, DW_PUMP_ONE) ? 0 : -1;
}

/* After stop: finish every job still in flight or queued. */
static void dw_on_stop(void *ctx)
{
	dw_engine_pump(ctx, DW_PUMP_DRAIN);
}

static const struct actor_ops dw_actor_ops = {
	.handle = dw_handle,
	.idle = dw_idle,
	.on_stop = dw_on_stop,
};

/* ---- create, destroy ---------------------------------------------------- */

static void free_state(struct diskwriter *dw)
{
	fs_sizemap_fini(&dw->sizes);
	for (unsigned int s = 0; s < FSCHUNK_SHARDS; s++)
		if (dw->shard_fd[s] >= 0)
			close(dw->shard_fd[s]);
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
	ret = -ENOMEM;
	if (!dw->base_path) {
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
			ret = dw_open_beneath(dw->base_fd, cfg->tmp_dir, O_RDONLY | O_DIRECTORY, 0);
		if (ret < 0) {
			snprintf(err, errlen, "fs: relative_tmp_dir: \"%s\": %s", cfg->tmp_dir,
				 strerror(-ret));
			goto err_close_base;
		}
		dw->tmp_fd = ret;
	}
	ret = dw_engine_init(dw);
	if (ret < 0) {
		snprintf(err, errlen, "fs: io_depth: \"%u\": io_uring_queue_init: %s", depth,
			 strerror(-ret));
		goto err_close_tmp;
	}
	if (cfg->capacity) {
		ret = dw_scan(dw);
		if (ret < 0) {
			snprintf(err, errlen, "fs: base_path: \"%s\": scan: %s", cfg->base_path,
				 strerror(-ret));
			goto err_ring;
		}
		if (dw->sizes.used > cfg->capacity)
			dw_evict_until(dw, cfg->capacity);
		dw_publish_stats(dw);
	}
	ret = actor_start(&dw->actor, "fs", &dw_actor_ops, dw, DW_MAILBOX, DW_WAIT_MS, -1);
	if (ret < 0) {
		snprintf(err, errlen, "fs: cannot start the disk writer: %s", strerror(-ret));
		goto err_ring;
	}
	*out = dw;
	return 0;
err_ring:
	dw_engine_fini(dw);
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
	dw_engine_fini(dw);
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
	out->bounced_pieces = atomic_load_explicit(&dw->st_bounced, memory_order_relaxed);
	out->corrupt_removed = atomic_load_explicit(&dw->st_corrupt, memory_order_relaxed);
	out->enospc_evictions = atomic_load_explicit(&dw->st_enospc_evictions, memory_order_relaxed);
	out->evictions = atomic_load_explicit(&dw->st_evictions, memory_order_relaxed);
	out->stores = atomic_load_explicit(&dw->st_stores, memory_order_relaxed);
	out->loads = atomic_load_explicit(&dw->st_loads, memory_order_relaxed);
}
