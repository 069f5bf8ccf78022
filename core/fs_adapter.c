/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/fs_adapter.c - the "fs" L2 adapter's ops (see fs_adapter.h): parses
 * the JSON members, copies each submitted task into a job for the disk
 * writer actor, and completes tasks (results, done, event fd, on_done).
 *
 * Threads: every op may run on any thread, concurrently, except destroy,
 * which runs once, last.  The only shared state here is [atomic]: closing
 * and users, a Dekker pair so that no post starts after destroy began
 * stopping the actor (submit: users++, then read closing; destroy: set
 * closing, then wait for users == 0; both seq_cst).
 */
#define _GNU_SOURCE
#include "core/fs_adapter.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "actors/diskwriter.h"
#include "core/l2_params.h"
#include "core/mem.h"

struct kvt_l2_adapter {
	struct diskwriter *dw;
	int efd[KVT_L2_NOPS];
	_Atomic uint32_t users;   /* [atomic] submitters past the closing check */
	_Atomic bool closing;     /* [atomic] destroy has begun */
};

static const char *const fs_keys[] = {
	"base_path", "relative_tmp_dir", "read_ahead_size", "use_odirect", "durable",
	"max_capacity_gb", "io_depth", "fault_eio_ppm", "fault_odirect_einval", NULL,
};

/* Runs on the disk writer thread: the job is finished; publish it. */
static void fs_complete(void *ctx, struct dw_job *job)
{
	struct kvt_l2_adapter *a = ctx;
	struct kvt_l2_task *task = job->task;
	/* read before done: a caller without on_done may free the task then */
	kvt_l2_done_fn on_done = task->on_done;
	int efd = a->efd[job->op];
	uint64_t one = 1;

	mem_free(job);
	/* release: the results above are visible to whoever sees done */
	__atomic_store_n(&task->done, 1, __ATOMIC_RELEASE);
	/* EAGAIN only at a counter of 2^64-2: the fd is readable anyway */
	if (write(efd, &one, sizeof(one)) < 0)
		(void)0;
	if (on_done)
		on_done(task);
}

/* A relative path with no ".." component (and not empty). */
static bool tmp_dir_ok(const char *p)
{
	if (!*p || *p == '/')
		return false;
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += len;
		p += *p == '/';
	}
	return true;
}

static int parse(const struct kvt_l2_config *cfg, struct dw_config *dc, char *err, size_t errlen)
{
	uint64_t depth, ppm;
	double gb;
	int ret;

	ret = l2_params_known(cfg, fs_keys, err, errlen);
	if (ret)
		return ret;
	dc->base_path = l2_param(cfg, "base_path");
	if (!dc->base_path || dc->base_path[0] != '/') {
		snprintf(err, errlen, "fs: base_path: \"%s\": required, an absolute path",
			 dc->base_path ? dc->base_path : "");
		return -EINVAL;
	}
	dc->tmp_dir = l2_param(cfg, "relative_tmp_dir");
	if (dc->tmp_dir && !tmp_dir_ok(dc->tmp_dir)) {
		snprintf(err, errlen,
			 "fs: relative_tmp_dir: \"%s\": must be relative, without \"..\"",
			 dc->tmp_dir);
		return -EINVAL;
	}
	if ((ret = l2_param_u64(cfg, "read_ahead_size", 0, 0, 1ull << 40, &dc->read_ahead, err,
				errlen)) ||
	    (ret = l2_param_bool(cfg, "use_odirect", false, &dc->odirect, err, errlen)) ||
	    (ret = l2_param_bool(cfg, "durable", false, &dc->durable, err, errlen)) ||
	    (ret = l2_param_double(cfg, "max_capacity_gb", 0, 0, 1e9, &gb, err, errlen)) ||
	    (ret = l2_param_u64(cfg, "io_depth", 64, 1, 4096, &depth, err, errlen)) ||
	    (ret = l2_param_u64(cfg, "fault_eio_ppm", 0, 0, 1000000, &ppm, err, errlen)) ||
	    (ret = l2_param_bool(cfg, "fault_odirect_einval", false, &dc->fault_odirect_einval,
				 err, errlen)))
		return ret;
	dc->capacity = (uint64_t)(gb * 1073741824.0);
	dc->io_depth = (unsigned int)depth;
	dc->fault_eio_ppm = (uint32_t)ppm;
	return 0;
}

static int fs_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		     struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	struct dw_config dc = { 0 };
	struct kvt_l2_adapter *a;
	int ret, i;

	ret = parse(cfg, &dc, err, errlen);
	if (ret)
		return ret;
	a = mem_zalloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (i = 0; i < KVT_L2_NOPS; i++) {
		a->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (a->efd[i] < 0) {
			ret = -errno;
			snprintf(err, errlen, "fs: eventfd: %s", strerror(errno));
			goto err_close_efd;
		}
	}
	dc.complete = fs_complete;
	dc.ctx = a;
	ret = diskwriter_create(&dc, &a->dw, err, errlen);
	if (ret)
		goto err_close_efd;
	*out = a;
	return 0;
err_close_efd:
	while (i-- > 0)
		close(a->efd[i]);
	mem_free(a);
	return ret;
}

static void fs_destroy(struct kvt_l2_adapter *a)
{
	atomic_store_explicit(&a->closing, true, memory_order_seq_cst);
	while (atomic_load_explicit(&a->users, memory_order_seq_cst))
		sched_yield();
	diskwriter_destroy(a->dw);
	for (int i = 0; i < KVT_L2_NOPS; i++)
		close(a->efd[i]);
	mem_free(a);
}

static int fs_event_fd(struct kvt_l2_adapter *a, enum kvt_l2_op op)
{
	return (unsigned int)op < KVT_L2_NOPS ? a->efd[op] : -EINVAL;
}

/* Pairs with fs_destroy(): either it sees us in users, or we see closing. */
static int enter(struct kvt_l2_adapter *a)
{
	atomic_fetch_add_explicit(&a->users, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&a->closing, memory_order_seq_cst)) {
		atomic_fetch_sub_explicit(&a->users, 1, memory_order_seq_cst);
		return -ESHUTDOWN;
	}
	return 0;
}

static void leave(struct kvt_l2_adapter *a)
{
	atomic_fetch_sub_explicit(&a->users, 1, memory_order_seq_cst);
}

/* One block holding the job and copies of the caller's arrays, so only
 * the buffers themselves stay borrowed until completion.  Allocates. */
static struct dw_job *job_new(enum kvt_l2_op op, const struct kvt_key *keys, size_t n,
			      bool with_bufs, struct kvt_l2_task *task)
{
	size_t size = sizeof(struct dw_job) + n * sizeof(*keys) +
		      (with_bufs ? n * (sizeof(void *) + sizeof(size_t)) : 0);
	struct dw_job *job = mem_zalloc(size);
	uint8_t *p = (uint8_t *)(job + 1);

	if (!job)
		return NULL;
	job->op = op;
	job->n = n;
	job->task = task;
	job->keys = (struct kvt_key *)p;
	if (n)
		memcpy(job->keys, keys, n * sizeof(*keys));
	if (with_bufs) {
		job->bufs = (void **)(p + n * sizeof(*keys));
		job->lens = (size_t *)(p + n * (sizeof(*keys) + sizeof(void *)));
	}
	return job;
}

static int submit(struct kvt_l2_adapter *a, enum kvt_l2_op op, const struct kvt_key *keys,
		  const void *const *bufs, const size_t *lens, size_t n, struct kvt_l2_task *task)
{
	struct dw_job *job;
	int ret;

	if (!task || (n && (!keys || !task->bitmap || (op != KVT_L2_LOOKUP && (!bufs || !lens)))))
		return -EINVAL;
	ret = enter(a);
	if (ret)
		return ret;
	job = job_new(op, keys, n, op != KVT_L2_LOOKUP, task);
	ret = -ENOMEM;
	if (!job)
		goto out_leave;
	if (job->bufs) {
		for (size_t i = 0; i < n; i++)
			job->bufs[i] = (void *)bufs[i];
		memcpy(job->lens, lens, n * sizeof(*lens));
	}
	if (n)
		memset(task->bitmap, 0, (n + 63) / 64 * sizeof(*task->bitmap));
	task->bytes = 0;
	__atomic_store_n(&task->done, 0, __ATOMIC_RELAXED);
	ret = diskwriter_submit(a->dw, job);
	if (ret)
		mem_free(job);
out_leave:
	leave(a);
	return ret;
}

static int fs_submit_store(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			   const void *const *bufs, const size_t *lens, size_t n,
			   struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_STORE, keys, bufs, lens, n, task);
}

static int fs_submit_lookup(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			    struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_LOOKUP, keys, NULL, NULL, n, task);
}

static int fs_submit_load(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			  void *const *bufs, const size_t *buf_lens, size_t n,
			  struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_LOAD, keys, (const void *const *)bufs, buf_lens, n, task);
}

static void fs_unlock(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n)
{
	/* once destroy began the locks die with the adapter */
	if (enter(a))
		return;
	for (size_t i = 0; i < n; i++)
		diskwriter_unlock(a->dw, &keys[i]);
	leave(a);
}

static ssize_t fs_remove(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			 int *results)
{
	struct dw_job *job;
	ssize_t ret;

	if (n && !keys)
		return -EINVAL;
	ret = enter(a);
	if (ret)
		return ret;
	job = job_new(KVT_L2_NOPS, keys, n, false, NULL);
	ret = -ENOMEM;
	if (!job)
		goto out_leave;
	job->results = results;
	ret = diskwriter_delete(a->dw, job);
	if (ret == 0)
		ret = job->deleted;
	mem_free(job);
out_leave:
	leave(a);
	return ret;
}

static int fs_status(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	struct dw_stats s;

	diskwriter_stats(a->dw, &s);
	st->is_healthy = s.healthy;
	st->bytes_used = s.bytes_used;
	st->capacity_bytes = s.capacity;
	st->chunks = s.chunks;
	st->errors = s.errors;
	snprintf(st->detail, sizeof(st->detail),
		 "odirect=%s odirect_fallbacks=%llu corrupt_removed=%llu enospc_evictions=%llu "
		 "evictions=%llu stores=%llu loads=%llu",
		 s.odirect ? "on" : "off", (unsigned long long)s.odirect_fallbacks,
		 (unsigned long long)s.corrupt_removed, (unsigned long long)s.enospc_evictions,
		 (unsigned long long)s.evictions, (unsigned long long)s.stores,
		 (unsigned long long)s.loads);
	return 0;
}

const struct kvt_l2_ops fs_l2_ops = {
	.abi_version = KVT_L2_ABI_VERSION,
	.type = "fs",
	.help = "base_path: directory of the chunk files (required, absolute)\n"
		"relative_tmp_dir: temp-file directory below base_path (relative, no \"..\")\n"
		"read_ahead_size: bytes of read-ahead on buffered loads (default 0)\n"
		"use_odirect: O_DIRECT I/O where aligned (default false)\n"
		"durable: fsync file and directory on every store (default false)\n"
		"max_capacity_gb: GiB before oldest-first eviction; 0 = unbounded (default 0)\n"
		"io_depth: io_uring queue depth (default 64)\n"
		"fault_eio_ppm: test only: store/load I/Os per million that fail (default 0)\n"
		"fault_odirect_einval: test only: the first O_DIRECT I/O fails (default false)\n",
	.create = fs_create,
	.destroy = fs_destroy,
	.event_fd = fs_event_fd,
	.submit_store = fs_submit_store,
	.submit_lookup = fs_submit_lookup,
	.submit_load = fs_submit_load,
	.unlock = fs_unlock,
	.remove = fs_remove,
	.status = fs_status,
};
