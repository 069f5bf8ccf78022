/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/pool_adapter.c - the "pool" L2 adapter's ops (see pool_adapter.h):
 * parses the JSON members, copies each submitted task into a job for the
 * client actor (l2/pool/poolclient.c) through l2/l2_glue.c.
 *
 * Threads: every op may run on any thread, concurrently, except destroy,
 * which runs once, last; the shared state is the glue's (l2/l2_glue.h).
 */
#define _GNU_SOURCE
#include "l2/pool/pool_adapter.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "l2/pool/poolclient.h"
#include "l2/fschunk.h"
#include "l2/l2_glue.h"
#include "core/l2_params.h"
#include "core/mem.h"
#include "kvtier/l2.h"

struct kvt_l2_adapter {
	struct l2_glue glue;
	struct poolclient *pc;
};

L2_GLUE_FIRST(struct kvt_l2_adapter);

static int post(void *pc, struct l2_job *job)
{
	return poolclient_submit(pc, job);
}

static int post_delete(void *pc, struct l2_job *job)
{
	return poolclient_delete(pc, job);
}

static void unlock(void *pc, const struct kvt_key *key)
{
	poolclient_unlock(pc, key);
}

static const struct l2_glue_actor pool_glue = {
	.type = "pool",
	.job_size = sizeof(struct l2_job),
	.submit = post,
	.delete = post_delete,
	.unlock = unlock,
};

static const char *const pool_keys[] = {
	"server", "rm", "size_gb", "auto_expand", "expand_size_mb", "timeout_ms",
	"heartbeat_ms", "max_chunk_bytes", "instance_id", "shared_index", "coherent", NULL,
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
	    (ret = l2_param_bool(cfg, "shared_index", true, &c->shared_index, err, errlen)) ||
	    (ret = l2_param_bool(cfg, "coherent", true, &c->coherent, err, errlen)) ||
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

int pool_conf_check(const struct kvt_l2_config *cfg, size_t chunk_bytes, char *err,
		    size_t errlen)
{
	struct kvt_l1_desc l1 = { .chunk_bytes = chunk_bytes };
	struct poolc_conf c;

	return pool_conf_parse(cfg, &l1, &c, err, errlen);
}

static int pool_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		       struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	struct poolc_conf conf;
	struct kvt_l2_adapter *a;
	int ret;

	ret = pool_conf_parse(cfg, l1, &conf, err, errlen);
	if (ret)
		return ret;
	a = mem_zalloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	ret = l2_glue_init(&a->glue, &pool_glue, err, errlen);
	if (ret)
		goto err_free;
	ret = poolclient_create(&conf, &a->glue, &a->pc, err, errlen);
	if (ret)
		goto err_fini;
	a->glue.actor = a->pc;
	*out = a;
	return 0;
err_fini:
	l2_glue_fini(&a->glue);
err_free:
	mem_free(a);
	return ret;
}

static void pool_destroy(struct kvt_l2_adapter *a)
{
	l2_glue_close(&a->glue);
	poolclient_destroy(a->pc);
	l2_glue_fini(&a->glue);
	mem_free(a);
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
		 "foreign_loads=%llu reclaimed=%llu renewals=%llu expansions=%llu pins=%llu "
		 "unpins=%llu shared_index=%d index_answers=%llu index_fallbacks=%llu",
		 (unsigned long long)s.regions, (unsigned long long)s.foreign_maps,
		 (unsigned long long)s.pages_total, (unsigned long long)s.pages_used,
		 (unsigned long long)(s.pages_total - s.pages_used),
		 (unsigned long long)s.round_trips, (unsigned long long)s.rpc_errors,
		 (unsigned long long)s.rm_errors, (unsigned long long)s.errors,
		 (unsigned long long)s.lost_races, (unsigned long long)s.unknown,
		 (unsigned long long)s.corrupt, (unsigned long long)s.stores,
		 (unsigned long long)s.loads, (unsigned long long)s.foreign_loads,
		 (unsigned long long)s.reclaimed, (unsigned long long)s.renewals,
		 (unsigned long long)s.expansions,
		 (unsigned long long)s.pins, (unsigned long long)s.unpins, s.shared_index,
		 (unsigned long long)s.index_answers, (unsigned long long)s.index_fallbacks);
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
		"instance_id: Maru instance id (default kvtier-<host>-<pid>-<n>)\n"
		"shared_index: find keys in kvtier-poold's shared index, without an RPC, when it\n"
		"  publishes one (default true)\n"
		"coherent: false when the index is read from another host without hardware\n"
		"  coherence: each entry's cache line is flushed before it is read (default true)\n",
	.create = pool_create,
	.destroy = pool_destroy,
	L2_GLUE_OPS,
	.status = pool_status,
};
