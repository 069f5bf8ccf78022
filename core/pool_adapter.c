/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/pool_adapter.c - the "pool" L2 adapter's ops (see pool_adapter.h):
 * parses the JSON members, copies each submitted task into a job for the
 * client actor (actors/poolclient.c), and completes tasks (results, done,
 * event fd, on_done).  Shaped as core/resp_adapter.c.
 *
 * Threads: every op may run on any thread, concurrently, except destroy,
 * which runs once, last.  The only shared state here is [atomic]: closing
 * and users, a Dekker pair so that no post starts after destroy began
 * stopping the actor (submit: users++, then read closing; destroy: set
 * closing, then wait for users == 0; both seq_cst).
 */
#define _GNU_SOURCE
#include "core/pool_adapter.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "actors/poolclient.h"
#include "core/fschunk.h"
#include "core/l2_params.h"
#include "core/mem.h"

struct kvt_l2_adapter {
	struct poolclient *pc;
	int efd[KVT_L2_NOPS];
	_Atomic uint32_t users;   /* [atomic] submitters past the closing check */
	_Atomic bool closing;     /* [atomic] destroy has begun */
};

static const char *const pool_keys[] = {
	"server", "rm", "size_gb", "auto_expand", "expand_size_mb", "timeout_ms",
	"heartbeat_ms", "max_chunk_bytes", "instance_id", NULL,
};

static int copy_str(const struct kvt_l2_config *cfg, const char *key, const char *def,
		    char *out, size_t cap, char *err, size_t errlen)
{
	const char *v = l2_param(cfg, key);

	if (!v)
		v = def;
	if (!*v || strlen(v) >= cap) {
		snprintf(err, errlen, "pool: %s: \"%s\": must be 1 to %zu characters", key, v,
			 cap - 1);
		return -EINVAL;
	}
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int pool_conf_parse(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
			   struct poolc_conf *c, char *err, size_t errlen)
{
	static _Atomic uint32_t instances;
	char host[64] = "host";
	uint64_t v, def_chunk = l1 && l1->chunk_bytes ? l1->chunk_bytes : 0;
	double gb;
	int ret;

	memset(c, 0, sizeof(*c));
	ret = l2_params_known(cfg, pool_keys, err, errlen);
	if (ret)
		return ret;
	gethostname(host, sizeof(host) - 1);
	snprintf(c->instance_id, sizeof(c->instance_id), "kvtier-%s-%d-%u", host, (int)getpid(),
		 atomic_fetch_add(&instances, 1));
	if ((ret = copy_str(cfg, "server", "tcp://127.0.0.1:5555", c->server, sizeof(c->server),
			    err, errlen)) ||
	    (ret = copy_str(cfg, "rm", "/run/kvtier-poold.sock", c->rm, sizeof(c->rm), err,
			    errlen)) ||
	    (ret = copy_str(cfg, "instance_id", c->instance_id, c->instance_id,
			    sizeof(c->instance_id), err, errlen)) ||
	    (ret = l2_param_double(cfg, "size_gb", 0.1, 1e-6, 1e6, &gb, err, errlen)) ||
	    (ret = l2_param_bool(cfg, "auto_expand", true, &c->auto_expand, err, errlen)) ||
	    (ret = l2_param_u64(cfg, "expand_size_mb", 0, 0, 1ull << 30, &c->expand_bytes, err,
				errlen)) ||
	    (ret = l2_param_u64(cfg, "timeout_ms", 2000, 1, 600000, &v, err, errlen)))
		return ret;
	c->timeout_ms = (uint32_t)v;
	if ((ret = l2_param_u64(cfg, "heartbeat_ms", 1000, 10, 600000, &v, err, errlen)))
		return ret;
	c->heartbeat_ms = (uint32_t)v;
	if ((ret = l2_param_u64(cfg, "max_chunk_bytes", def_chunk, 1, 1ull << 40, &c->max_chunk,
				err, errlen)))
		return ret;
	if (!c->max_chunk) {
		snprintf(err, errlen, "pool: max_chunk_bytes: needed when there is no L1");
		return -EINVAL;
	}
	c->size_bytes = (uint64_t)(gb * 1073741824.0);
	c->expand_bytes = c->expand_bytes ? c->expand_bytes << 20 : c->size_bytes;
	c->page_bytes = (FSCHUNK_HDR + c->max_chunk + 4095) / 4096 * 4096;
	if (c->size_bytes < c->page_bytes || c->expand_bytes < c->page_bytes) {
		snprintf(err, errlen, "pool: size_gb %g (expand_size_mb %llu) below one page of "
			 "%llu bytes (max_chunk_bytes + a 4 KiB header)", gb,
			 (unsigned long long)(c->expand_bytes >> 20),
			 (unsigned long long)c->page_bytes);
		return -EINVAL;
	}
	return 0;
}

/* Runs on the client actor thread: the job is finished; publish it. */
static void pool_complete(void *ctx, struct pc_job *job)
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

static int pool_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		       struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	struct poolc_conf conf;
	struct kvt_l2_adapter *a;
	int ret, i;

	ret = pool_conf_parse(cfg, l1, &conf, err, errlen);
	if (ret)
		return ret;
	a = mem_zalloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (i = 0; i < KVT_L2_NOPS; i++) {
		a->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (a->efd[i] < 0) {
			ret = -errno;
			snprintf(err, errlen, "pool: eventfd: %s", strerror(errno));
			goto err_close_efd;
		}
	}
	ret = poolclient_create(&conf, pool_complete, a, &a->pc, err, errlen);
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

static void pool_destroy(struct kvt_l2_adapter *a)
{
	atomic_store_explicit(&a->closing, true, memory_order_seq_cst);
	while (atomic_load_explicit(&a->users, memory_order_seq_cst))
		sched_yield();
	poolclient_destroy(a->pc);
	for (int i = 0; i < KVT_L2_NOPS; i++)
		close(a->efd[i]);
	mem_free(a);
}

static int pool_event_fd(struct kvt_l2_adapter *a, enum kvt_l2_op op)
{
	return (unsigned int)op < KVT_L2_NOPS ? a->efd[op] : -EINVAL;
}

/* Pairs with pool_destroy(): either it sees us in users, or we see closing. */
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
static struct pc_job *job_new(enum kvt_l2_op op, const struct kvt_key *keys, size_t n,
			      bool with_bufs, struct kvt_l2_task *task)
{
	size_t size = sizeof(struct pc_job) + n * sizeof(*keys) +
		      (with_bufs ? n * (sizeof(void *) + sizeof(size_t)) : 0);
	struct pc_job *job = mem_zalloc(size);
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
	struct pc_job *job;
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
	ret = poolclient_submit(a->pc, job);
	if (ret)
		mem_free(job);
out_leave:
	leave(a);
	return ret;
}

static int pool_submit_store(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			     const void *const *bufs, const size_t *lens, size_t n,
			     struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_STORE, keys, bufs, lens, n, task);
}

static int pool_submit_lookup(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			      struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_LOOKUP, keys, NULL, NULL, n, task);
}

static int pool_submit_load(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			    void *const *bufs, const size_t *buf_lens, size_t n,
			    struct kvt_l2_task *task)
{
	return submit(a, KVT_L2_LOAD, keys, (const void *const *)bufs, buf_lens, n, task);
}

static void pool_unlock(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n)
{
	/* once destroy began the pins go with the connection (SHUTDOWN) */
	if (enter(a))
		return;
	for (size_t i = 0; i < n; i++)
		poolclient_unlock(a->pc, &keys[i]);
	leave(a);
}

static ssize_t pool_remove(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			   int *results)
{
	struct pc_job *job;
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
	ret = poolclient_delete(a->pc, job);
	if (ret == 0)
		ret = job->deleted;
	mem_free(job);
out_leave:
	leave(a);
	return ret;
}

static int pool_status(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	struct pc_stats s;

	poolclient_stats(a->pc, &s);
	st->is_healthy = s.healthy;
	st->bytes_used = s.bytes_used;
	st->capacity_bytes = s.capacity_bytes;
	st->chunks = s.pages_used;
	st->errors = s.errors;
	snprintf(st->detail, sizeof(st->detail),
		 "regions=%llu foreign_regions=%llu pages_total=%llu pages_used=%llu "
		 "pages_free=%llu round_trips=%llu rpc_errors=%llu rm_errors=%llu errors=%llu "
		 "lost_races=%llu unknown_outcome=%llu corrupt=%llu stores=%llu loads=%llu "
		 "expansions=%llu pins=%llu unpins=%llu",
		 (unsigned long long)s.regions, (unsigned long long)s.foreign_maps,
		 (unsigned long long)s.pages_total, (unsigned long long)s.pages_used,
		 (unsigned long long)(s.pages_total - s.pages_used),
		 (unsigned long long)s.round_trips, (unsigned long long)s.rpc_errors,
		 (unsigned long long)s.rm_errors, (unsigned long long)s.errors,
		 (unsigned long long)s.lost_races, (unsigned long long)s.unknown,
		 (unsigned long long)s.corrupt, (unsigned long long)s.stores,
		 (unsigned long long)s.loads, (unsigned long long)s.expansions,
		 (unsigned long long)s.pins, (unsigned long long)s.unpins);
	return 0;
}

const struct kvt_l2_ops pool_l2_ops = {
	.abi_version = KVT_L2_ABI_VERSION,
	.type = "pool",
	.help = "server: ZeroMQ endpoint of kvtier-poold's metadata RPC (default tcp://127.0.0.1:5555)\n"
		"rm: its resource-manager Unix socket (default /run/kvtier-poold.sock)\n"
		"size_gb: size of the first region (default 0.1)\n"
		"auto_expand: take another region when every page is used (default true)\n"
		"expand_size_mb: size of each further region (default: size_gb's)\n"
		"timeout_ms: bound of each RPC and resource-manager request (default 2000)\n"
		"heartbeat_ms: idle HEARTBEAT period, below the daemon's lease (default 1000)\n"
		"max_chunk_bytes: largest payload (default: the instance's chunk size)\n"
		"instance_id: Maru instance id (default kvtier-<host>-<pid>-<n>)\n",
	.create = pool_create,
	.destroy = pool_destroy,
	.event_fd = pool_event_fd,
	.submit_store = pool_submit_store,
	.submit_lookup = pool_submit_lookup,
	.submit_load = pool_submit_load,
	.unlock = pool_unlock,
	.remove = pool_remove,
	.status = pool_status,
};
