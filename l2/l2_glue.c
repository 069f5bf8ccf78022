/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/l2_glue.c - what every L2 adapter built on an actor shares (see
 * l2_glue.h).
 */
#define _GNU_SOURCE
#include "l2/l2_glue.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/mem.h"
#include "kvtier/l2.h"

int l2_glue_init(struct l2_glue *g, const struct l2_glue_actor *ops, char *err, size_t errlen)
{
	int ret, i;

	memset(g, 0, sizeof(*g));
	g->ops = ops;
	for (i = 0; i < KVT_L2_NOPS; i++) {
		g->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (g->efd[i] < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: eventfd: %s", ops->type, strerror(errno));
			while (i-- > 0)
				close(g->efd[i]);
			return ret;
		}
	}
	return 0;
}

void l2_glue_close(struct l2_glue *g)
{
	atomic_store_explicit(&g->closing, true, memory_order_seq_cst);
	while (atomic_load_explicit(&g->users, memory_order_seq_cst))
		sched_yield();
}

void l2_glue_fini(struct l2_glue *g)
{
	for (int i = 0; i < KVT_L2_NOPS; i++)
		close(g->efd[i]);
}

int l2_glue_event_fd(const struct l2_glue *g, enum kvt_l2_op op)
{
	return (unsigned int)op < KVT_L2_NOPS ? g->efd[op] : -EINVAL;
}

int l2_glue_enter(struct l2_glue *g)
{
	atomic_fetch_add_explicit(&g->users, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&g->closing, memory_order_seq_cst)) {
		atomic_fetch_sub_explicit(&g->users, 1, memory_order_seq_cst);
		return -ESHUTDOWN;
	}
	return 0;
}

void l2_glue_leave(struct l2_glue *g)
{
	atomic_fetch_sub_explicit(&g->users, 1, memory_order_seq_cst);
}

/* One block holding the job and copies of the caller's arrays, so only
 * the buffers themselves stay borrowed until completion.  Allocates. */
static struct l2_job *job_new(const struct l2_glue *g, enum kvt_l2_op op,
			      const struct kvt_key *keys, size_t n, bool with_bufs,
			      struct kvt_l2_task *task)
{
	size_t head = g->ops->job_size;
	size_t size = head + n * sizeof(*keys) +
		      (with_bufs ? n * (sizeof(void *) + sizeof(size_t)) : 0);
	struct l2_job *job = mem_zalloc(size);
	uint8_t *p = (uint8_t *)job + head;

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

int l2_glue_submit(struct l2_glue *g, enum kvt_l2_op op, const struct kvt_key *keys,
		   const void *const *bufs, const size_t *lens, size_t n,
		   struct kvt_l2_task *task)
{
	struct l2_job *job;
	int ret;

	if (!task || (n && (!keys || !task->bitmap || (op != KVT_L2_LOOKUP && (!bufs || !lens)))))
		return -EINVAL;
	ret = l2_glue_enter(g);
	if (ret)
		return ret;
	job = job_new(g, op, keys, n, op != KVT_L2_LOOKUP, task);
	ret = -ENOMEM;
	if (!job)
		goto out_leave;
	/* an empty batch may come with NULL arrays, and memcpy() must not see NULL */
	if (job->bufs && n) {
		for (size_t i = 0; i < n; i++)
			job->bufs[i] = (void *)bufs[i];
		memcpy(job->lens, lens, n * sizeof(*lens));
	}
	if (n)
		memset(task->bitmap, 0, (n + 63) / 64 * sizeof(*task->bitmap));
	/* a miss reads 0; the actors write only the hits */
	if (n && task->lens && op != KVT_L2_STORE)
		memset(task->lens, 0, n * sizeof(*task->lens));
	task->bytes = 0;
	__atomic_store_n(&task->done, 0, __ATOMIC_RELAXED);
	ret = g->ops->submit(g->actor, job);
	if (ret)
		mem_free(job);
out_leave:
	l2_glue_leave(g);
	return ret;
}

ssize_t l2_glue_remove(struct l2_glue *g, const struct kvt_key *keys, size_t n, int *results)
{
	struct l2_job *job;
	ssize_t ret;

	if (n && !keys)
		return -EINVAL;
	ret = l2_glue_enter(g);
	if (ret)
		return ret;
	job = job_new(g, KVT_L2_NOPS, keys, n, false, NULL);
	ret = -ENOMEM;
	if (!job)
		goto out_leave;
	job->results = results;
	ret = g->ops->delete(g->actor, job);
	if (ret == 0)
		ret = job->deleted;
	mem_free(job);
out_leave:
	l2_glue_leave(g);
	return ret;
}

void l2_glue_complete(struct l2_glue *g, struct l2_job *job)
{
	struct kvt_l2_task *task = job->task;
	/* read before done: a caller without on_done may free the task then */
	kvt_l2_done_fn on_done = task->on_done;
	int efd = g->efd[job->op];
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

static struct l2_glue *glue_of(struct kvt_l2_adapter *a)
{
	return (struct l2_glue *)(void *)a;
}

int l2_glue_op_event_fd(struct kvt_l2_adapter *a, enum kvt_l2_op op)
{
	return l2_glue_event_fd(glue_of(a), op);
}

int l2_glue_op_submit_store(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			    const void *const *bufs, const size_t *lens, size_t n,
			    struct kvt_l2_task *task)
{
	return l2_glue_submit(glue_of(a), KVT_L2_STORE, keys, bufs, lens, n, task);
}

int l2_glue_op_submit_lookup(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			     struct kvt_l2_task *task)
{
	return l2_glue_submit(glue_of(a), KVT_L2_LOOKUP, keys, NULL, NULL, n, task);
}

int l2_glue_op_submit_load(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			   void *const *bufs, const size_t *buf_lens, size_t n,
			   struct kvt_l2_task *task)
{
	return l2_glue_submit(glue_of(a), KVT_L2_LOAD, keys, (const void *const *)bufs, buf_lens,
			      n, task);
}

void l2_glue_op_unlock(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n)
{
	struct l2_glue *g = glue_of(a);

	if (l2_glue_enter(g))
		return;
	for (size_t i = 0; i < n; i++)
		g->ops->unlock(g->actor, &keys[i]);
	l2_glue_leave(g);
}

ssize_t l2_glue_op_remove(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			  int *results)
{
	return l2_glue_remove(glue_of(a), keys, n, results);
}
