/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/resp_adapter.c - the "resp" L2 adapter's ops (see resp_adapter.h):
 * parses the JSON members (core/resp_conf.c), copies each submitted task
 * into a job for the I/O actor (actors/respio.c), and completes tasks
 * (results, done, event fd, on_done).  Shaped as core/fs_adapter.c.
 *
 * Threads: every op may run on any thread, concurrently, except destroy,
 * which runs once, last.  The only shared state here is [atomic]: closing
 * and users, a Dekker pair so that no post starts after destroy began
 * stopping the actor (submit: users++, then read closing; destroy: set
 * closing, then wait for users == 0; both seq_cst).
 */
#define _GNU_SOURCE
#include "core/resp_adapter.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "actors/respio.h"
#include "core/resp_conf.h"
#include "core/mem.h"

struct kvt_l2_adapter {
	struct respio *rio;
	int efd[KVT_L2_NOPS];
	_Atomic uint32_t users;   /* [atomic] submitters past the closing check */
	_Atomic bool closing;     /* [atomic] destroy has begun */
};

/* Runs on the I/O actor thread: the job is finished; publish it. */
static void resp_complete(void *ctx, struct rio_job *job)
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

static int resp_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		       struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	struct resp_conf conf;
	struct kvt_l2_adapter *a;
	int ret, i;

	ret = resp_conf_parse(cfg, &conf, err, errlen);
	if (ret)
		return ret;
	a = mem_zalloc(sizeof(*a));
	ret = -ENOMEM;
	if (!a)
		goto out_wipe;
	for (i = 0; i < KVT_L2_NOPS; i++) {
		a->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (a->efd[i] < 0) {
			ret = -errno;
			snprintf(err, errlen, "resp: eventfd: %s", strerror(errno));
			goto err_close_efd;
		}
	}
	ret = respio_create(&conf, resp_complete, a, &a->rio, err, errlen);
	if (ret)
		goto err_close_efd;
	*out = a;
	goto out_wipe;
err_close_efd:
	while (i-- > 0)
		close(a->efd[i]);
	mem_free(a);
out_wipe:
	/* the actor keeps its own copy: no password lingers on this stack */
	explicit_bzero(&conf, sizeof(conf));
	return ret;
}

static void resp_destroy(struct kvt_l2_adapter *a)
{
	atomic_store_explicit(&a->closing, true, memory_order_seq_cst);
	while (atomic_load_explicit(&a->users, memory_order_seq_cst))
		sched_yield();
	respio_destroy(a->rio);
	for (int i = 0; i < KVT_L2_NOPS; i++)
		close(a->efd[i]);
	mem_free(a);
}

static int resp_event_fd(struct kvt_l2_adapter *a, enum kvt_l2_op op)
{
	return (unsigned int)op < KVT_L2_NOPS ? a->efd[op] : -EINVAL;
}

/* Pairs with resp_destroy(): either it sees us in users, or we see closing. */
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
static struct rio_job *job_new(enum kvt_l2_op op, const struct kvt_key *keys, size_t n,
			      bool with_bufs, struct kvt_l2_task *task)
{
	size_t size = sizeof(struct rio_job) + n * sizeof(*keys) +
		      (with_bufs ? n * (sizeof(void *) + sizeof(size_t)) : 0);
	struct rio_job *job = mem_zalloc(size);
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
	struct rio_job *job;
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
	/* a miss reads 0; the actor writes only the hits */
	if (n && task->lens && op != KVT_L2_STORE)
		memset(task->lens, 0, n * sizeof(*task->lens));
	task->bytes = 0;
	__atomic_store_n(&task->done, 0, __ATOMIC_RELAXED);
	ret = respio_submit(a->rio, job);
	if (ret)
		mem_free(job);
out_leave:
	leave(a);
	return ret;
}

static int resp_submit_store(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			   const void *const *bufs, const size_t *lens, size_t n,
			   struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_STORE, keys, bufs, lens, n, task);
}

static int resp_submit_lookup(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			    struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_LOOKUP, keys, NULL, NULL, n, task);
}

static int resp_submit_load(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			  void *const *bufs, const size_t *buf_lens, size_t n,
			  struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_LOAD, keys, (const void *const *)bufs, buf_lens, n, task);
}

static void resp_unlock(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n)
{
	/* once destroy began the locks die with the adapter */
	if (enter(a))
		return;
	for (size_t i = 0; i < n; i++)
		respio_unlock(a->rio, &keys[i]);
	leave(a);
}

static ssize_t resp_remove(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			 int *results)
{
	struct rio_job *job;
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
	ret = respio_delete(a->rio, job);
	if (ret == 0)
		ret = job->deleted;
	mem_free(job);
out_leave:
	leave(a);
	return ret;
}

static int resp_status(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	struct rio_stats s;

	respio_stats(a->rio, &s);
	st->is_healthy = s.healthy;
	st->bytes_used = 0;       /* the server's, shared with other clients: not ours to tell */
	st->capacity_bytes = 0;
	st->chunks = 0;
	st->errors = s.errors;
	snprintf(st->detail, sizeof(st->detail),
		 "nodes=%llu nodes_up=%llu round_trips=%llu bytes_out=%llu bytes_in=%llu "
		 "redirections=%llu map_refreshes=%llu errors=%llu refused=%llu reconnects=%llu "
		 "corrupt=%llu corrupt_removed=%llu stores=%llu loads=%llu locked=%llu "
		 "last_error=\"%s\"",
		 (unsigned long long)s.nodes, (unsigned long long)s.nodes_up,
		 (unsigned long long)s.round_trips, (unsigned long long)s.bytes_out,
		 (unsigned long long)s.bytes_in, (unsigned long long)s.redirections,
		 (unsigned long long)s.map_refreshes, (unsigned long long)s.errors,
		 (unsigned long long)s.refused, (unsigned long long)s.reconnects,
		 (unsigned long long)s.corrupt, (unsigned long long)s.corrupt_removed,
		 (unsigned long long)s.stores, (unsigned long long)s.loads,
		 (unsigned long long)s.locked, s.last_error);
	return 0;
}

const struct kvt_l2_ops resp_l2_ops = {
	.abi_version = KVT_L2_ABI_VERSION,
	.type = "resp",
	.help = "url: redis://[user[:password]@]host[:port][/db] (required; rediss:// refused: no TLS)\n"
		"cluster: Redis Cluster: slot map, MOVED/ASK followed (default false)\n"
		"username: ACL user for AUTH (default: the URL's)\n"
		"password: AUTH password (default: the URL's, else $KVT_REDIS_PASSWORD)\n"
		"timeout_ms: connect and per-I/O timeout (default 2000)\n"
		"max_inflight: commands pipelined per connection and round trip (default 1024)\n"
		"ttl_s: expiry of stored chunks in seconds; 0 = none (default 0)\n"
		"max_value_bytes: largest value (4096-byte header + chunk) stored (default 512 MiB)\n"
		"prefix: start of every key name (default \"kvt:\")\n"
		"hash_tag: \"namespace\" or a fixed tag: {tag} co-locates the chunks (default none)\n"
		"delete_corrupt: delete a value that fails its checks on load (default true)\n",
	.create = resp_create,
	.destroy = resp_destroy,
	.event_fd = resp_event_fd,
	.submit_store = resp_submit_store,
	.submit_lookup = resp_submit_lookup,
	.submit_load = resp_submit_load,
	.unlock = resp_unlock,
	.remove = resp_remove,
	.status = resp_status,
};
