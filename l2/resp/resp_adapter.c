/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/resp_adapter.c - the "resp" L2 adapter's ops (see resp_adapter.h):
 * parses the JSON members (l2/resp/resp_conf.c), copies each submitted task
 * into a job for the I/O actor (l2/resp/respio.c) through l2/l2_glue.c.
 *
 * Threads: every op may run on any thread, concurrently, except destroy,
 * which runs once, last; the shared state is the glue's (l2/l2_glue.h).
 */
#define _GNU_SOURCE
#include "l2/resp/resp_adapter.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "l2/resp/respio.h"
#include "l2/l2_glue.h"
#include "core/mem.h"
#include "l2/resp/resp_conf.h"
#include "kvtier/l2.h"

struct kvt_l2_adapter {
	struct l2_glue glue;
	struct respio *rio;
};

L2_GLUE_FIRST(struct kvt_l2_adapter);

static int post(void *rio, struct l2_job *job)
{
	return respio_submit(rio, job);
}

static int post_delete(void *rio, struct l2_job *job)
{
	return respio_delete(rio, job);
}

static void unlock(void *rio, const struct kvt_key *key)
{
	respio_unlock(rio, key);
}

static const struct l2_glue_actor resp_glue = {
	.type = "resp",
	.job_size = sizeof(struct l2_job),
	.submit = post,
	.delete = post_delete,
	.unlock = unlock,
};

static int resp_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		       struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	struct resp_conf conf;
	struct kvt_l2_adapter *a;
	int ret;

	ret = resp_conf_parse(cfg, &conf, err, errlen);
	if (ret)
		return ret;
	a = mem_zalloc(sizeof(*a));
	ret = -ENOMEM;
	if (!a)
		goto out_wipe;
	ret = l2_glue_init(&a->glue, &resp_glue, err, errlen);
	if (ret)
		goto err_free;
	ret = respio_create(&conf, &a->glue, &a->rio, err, errlen);
	if (ret)
		goto err_fini;
	a->glue.actor = a->rio;
	*out = a;
	goto out_wipe;
err_fini:
	l2_glue_fini(&a->glue);
err_free:
	mem_free(a);
out_wipe:
	/* the actor keeps its own copy: no password lingers on this stack */
	explicit_bzero(&conf, sizeof(conf));
	return ret;
}

static void resp_destroy(struct kvt_l2_adapter *a)
{
	l2_glue_close(&a->glue);
	respio_destroy(a->rio);
	l2_glue_fini(&a->glue);
	mem_free(a);
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
	L2_GLUE_OPS,
	.status = resp_status,
};
