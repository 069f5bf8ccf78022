/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/respio.c - the I/O actor of the "resp" L2 adapter (see respio.h;
 * key names and values are l2/resp/resp_value.h, cluster slots
 * l2/resp/resp_slot.h, the outgoing wire l2/resp/resp_sendq.h).
 *
 * Owns (actor thread only, untagged): the nodes and their hiredis contexts
 * (blocking sockets, SO_RCVTIMEO/SO_SNDTIMEO = timeout_ms, keepalive), the
 * slot map, the send queue and the lock table.  The counters at the end of
 * struct respio are [atomic]: written by the actor, read anywhere.  Before
 * the actor starts, respio_create() connects the seed on the creating
 * thread; pthread_create orders that before the actor's first access.
 *
 * A task is one "run": each key gets its node (the slot map in cluster
 * mode, else the one server), the keys of each node go out as pipelines of
 * at most max_inflight commands (and about RIO_WINDOW_BYTES), written with
 * a sendmsg of an iovec per RIO_WRITE_BYTES or so, so a SET's header and the
 * caller's payload go from where they are, never copied into hiredis's
 * buffer, and its value is hashed just before it goes out; every
 * node's window is written before any is read, so the nodes work in
 * parallel and a batch costs one round trip per node.  Replies are read
 * by the small reader below (a GET's payload straight into the caller's
 * buffer); hiredis makes the connections and runs AUTH, SELECT, PING and
 * CLUSTER SLOTS.  A MOVED reply re-routes the key (and the slot;
 * the map is reloaded from CLUSTER SLOTS after the round), an ASK reply
 * sends it once more to the named node after ASKING; a key still
 * redirected after RIO_MAX_ROUNDS fails.
 *
 * Failures: a node whose connect, write or read fails (or times out) is
 * dropped and every key still queued on it fails (a miss for lookup and
 * load, a cleared bit for store), never a hang: each socket call is bounded
 * by timeout_ms.  It is reconnected with exponential backoff
 * (RIO_BACKOFF_MIN_MS .. RIO_BACKOFF_MAX_MS), on demand or from idle(),
 * which also PINGs the nodes every RIO_PING_MS to keep is_healthy true to
 * what answers.  A server error reply (OOM, READONLY, NOAUTH, ...) fails
 * that key alone, counted.  SIGPIPE is blocked on the actor thread (and
 * around the create-time I/O), so a peer that vanished is an EPIPE.
 *
 * Locks: Redis has none; a lookup hit takes a local count (as fs does) so
 * that this adapter's remove() refuses the key with -EBUSY.  Another client,
 * a TTL or maxmemory eviction may still delete it: that is a load miss.
 */
#define _GNU_SOURCE
#include "l2/resp/respio.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "core/actor.h"
#include "core/log.h"
#include "core/mem.h"
#include "l2/resp/resp_sendq.h"
#include "l2/resp/resp_slot.h"
#include "l2/resp/resp_value.h"
#include "kvtier/l2.h"

#include "l2/resp/rio_internal.h"

void rio_set_error(struct respio *rio, const char *fmt, ...)
{
	char buf[sizeof(rio->last_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&rio->err_mu);
	memcpy(rio->last_error, buf, sizeof(buf));
	pthread_mutex_unlock(&rio->err_mu);
}

/* ---- locks ----------------------------------------------------------------- */

static struct rio_lock **lock_slot(struct respio *rio, const struct kvt_key *key)
{
	uint64_t h = (key->lo ^ (key->hi * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
	struct rio_lock **pp = &rio->locks[(h >> 40) & (RIO_LOCK_BUCKETS - 1)];

	while (*pp && ((*pp)->key.lo != key->lo || (*pp)->key.hi != key->hi))
		pp = &(*pp)->next;
	return pp;
}

bool rio_lock_take(struct respio *rio, const struct kvt_key *key)
{
	struct rio_lock **pp = lock_slot(rio, key);

	if (!*pp) {
		*pp = mem_zalloc(sizeof(**pp));
		if (!*pp)
			return false;
		(*pp)->key = *key;
		bump(&rio->st_locked, 1);
	}
	(*pp)->count++;
	return true;
}

static void lock_drop(struct respio *rio, const struct kvt_key *key)
{
	struct rio_lock **pp = lock_slot(rio, key), *l = *pp;

	if (!l || --l->count)
		return;
	*pp = l->next;
	mem_free(l);
	atomic_fetch_sub_explicit(&rio->st_locked, 1, memory_order_relaxed);
}

static bool locked(struct respio *rio, const struct kvt_key *key)
{
	return *lock_slot(rio, key) != NULL;
}

/* Delete the values a load found corrupt, so a later store rewrites them. */
static void delete_corrupt(struct respio *rio, struct rio_run *load)
{
	struct l2_job *job;
	struct rio_run run;
	size_t n = load->ncorrupt;

	job = mem_zalloc(sizeof(*job) + n * sizeof(*job->keys));
	if (!job)
		return;
	job->op = KVT_L2_NOPS;
	job->n = n;
	job->keys = (struct kvt_key *)(job + 1);
	for (size_t k = 0; k < n; k++)
		job->keys[k] = load->job->keys[load->corrupt[k]];
	if (rio_run_init(rio, &run, job, CMD_DEL) == 0) {
		rio_run_exec(rio, &run);
		bump(&rio->st_corrupt_removed, (uint64_t)job->deleted);
		rio_run_free(&run);
	}
	mem_free(job);
}

static void rio_on_task(struct respio *rio, struct l2_job *job)
{
	static const enum rio_cmd cmds[] = {
		[KVT_L2_STORE] = CMD_SET, [KVT_L2_LOOKUP] = CMD_STRLEN, [KVT_L2_LOAD] = CMD_GET,
	};
	struct rio_run run;
	int ret;

	ACTOR_ASSERT_SELF(&rio->actor);
	if (!job->n) {
		job->task->bytes = 0;
		l2_glue_complete(rio->glue, job);
		return;
	}
	ret = rio_run_init(rio, &run, job, cmds[job->op]);
	if (ret) {
		job->task->bytes = ret;
		l2_glue_complete(rio->glue, job);
		return;
	}
	if (job->op == KVT_L2_STORE)
		for (size_t i = 0; i < job->n; i++)
			if (FSCHUNK_HDR + (uint64_t)job->lens[i] > rio->conf.max_value_bytes)
				rio_key_fail(rio, &run, i, -EMSGSIZE);
	rio_run_exec(rio, &run);
	if (run.ncorrupt && rio->conf.delete_corrupt)
		delete_corrupt(rio, &run);
	job->task->bytes = run.ok == 0 && run.first_err ? run.first_err : (int64_t)run.bytes;
	rio_run_free(&run);
	rio_publish_health(rio);
	l2_glue_complete(rio->glue, job);
}

static void rio_on_delete(struct respio *rio, struct l2_job *job)
{
	struct rio_run run;
	int ret;

	ACTOR_ASSERT_SELF(&rio->actor);
	job->deleted = 0;
	if (!job->n)
		return;
	ret = rio_run_init(rio, &run, job, CMD_DEL);
	if (ret) {
		for (size_t i = 0; job->results && i < job->n; i++)
			job->results[i] = ret;
		return;
	}
	for (size_t i = 0; i < job->n; i++)
		if (locked(rio, &job->keys[i])) {
			run.state[i] = K_DONE;
			run.res[i] = -EBUSY;
		}
	rio_run_exec(rio, &run);
	for (size_t i = 0; job->results && i < job->n; i++)
		job->results[i] = run.res[i];
	rio_run_free(&run);
	rio_publish_health(rio);
}

/* ---- the actor --------------------------------------------------------------- */

static void rio_start(void *ctx)
{
	sigset_t old;

	(void)ctx;
	sigpipe_block(&old);
}

static void rio_handle(void *ctx, const struct actor_msg *m)
{
	struct respio *rio = ctx;
	struct kvt_key key;

	switch (m->op) {
	case RIO_TASK:
		rio_on_task(rio, m->ptr[0]);
		break;
	case RIO_UNLOCK:
		key.lo = m->u64[0];
		key.hi = m->u64[1];
		lock_drop(rio, &key);
		break;
	case RIO_DELETE:
		rio_on_delete(rio, m->ptr[0]);
		completion_signal(m->done, 0);
		break;
	}
}

/* Between messages: PING the connected nodes, reconnect the dropped ones
 * once their backoff passed, reload a stale slot map; at most every
 * RIO_PING_MS. */
static int rio_idle(void *ctx)
{
	struct respio *rio = ctx;
	uint64_t now = clock_now_ms();

	if (now < rio->ping_next)
		return (int)(rio->ping_next - now);
	for (size_t i = 0; i < rio->nnodes; i++) {
		struct rio_node *nd = rio->nodes[i];
		redisReply *r;

		if (rio->conf.cluster && !nd->owns && i != 0)
			continue;
		if (!nd->c) {
			if (clock_now_ms() >= nd->retry_at)
				rio_node_connect(rio, nd);
			continue;
		}
		r = redisCommand(nd->c, "PING");
		if (!r)
			rio_node_fail(rio, nd, "PING", rio_io_code(nd->c));
		freeReplyObject(r);
	}
	if (rio->conf.cluster && (rio->map_stale || !rio->map_loaded) &&
	    clock_now_ms() >= rio->map_next)
		rio_map_refresh(rio, NULL, 0);
	rio_publish_health(rio);
	rio->ping_next = clock_now_ms() + RIO_PING_MS;
	return RIO_PING_MS;
}

static const struct actor_ops rio_ops = {
	.on_start = rio_start,
	.handle = rio_handle,
	.idle = rio_idle,
};

static void rio_free(struct respio *rio)
{
	for (size_t i = 0; i < rio->nnodes; i++) {
		if (rio->nodes[i]->c)
			redisFree(rio->nodes[i]->c);
		free(rio->nodes[i]->q);
		mem_free(rio->nodes[i]->rbuf);
		mem_free(rio->nodes[i]);
	}
	free(rio->nodes);
	for (size_t b = 0; b < RIO_LOCK_BUCKETS; b++)
		while (rio->locks[b]) {
			struct rio_lock *l = rio->locks[b];

			rio->locks[b] = l->next;
			mem_free(l);
		}
	resp_sendq_free(&rio->sq);
	mem_free(rio->slot_node);
	pthread_mutex_destroy(&rio->err_mu);
	mem_free(rio);
}

int respio_create(const struct resp_conf *conf, struct l2_glue *glue, struct respio **out,
		  char *err, size_t errlen)
{
	struct respio *rio;
	sigset_t old;
	int ret;

	rio = mem_zalloc(sizeof(*rio));
	if (!rio)
		return -ENOMEM;
	pthread_mutex_init(&rio->err_mu, NULL);
	rio->conf = *conf;
	rio->glue = glue;
	ret = rio_node_get(rio, conf->host, conf->port);
	if (ret < 0)
		goto err_free;
	if (conf->cluster) {
		rio->slot_node = mem_alloc(RESP_SLOTS * sizeof(*rio->slot_node));
		ret = -ENOMEM;
		if (!rio->slot_node)
			goto err_free;
		for (unsigned int s = 0; s < RESP_SLOTS; s++)
			rio->slot_node[s] = RIO_NO_NODE;
	}
	sigpipe_block(&old);
	ret = rio_node_connect(rio, rio->nodes[0]);
	if (ret == 0 && conf->cluster) {
		char refusal[128] = "";

		ret = rio_map_refresh(rio, refusal, sizeof(refusal));
		if (ret == -EPROTO) {
			snprintf(err, errlen, "resp: %s: cluster is true but CLUSTER SLOTS failed: %s",
				 conf->url_redacted, refusal[0] ? refusal : "malformed reply");
			ret = -EINVAL;
		}
	}
	sigpipe_restore(&old);
	if (ret == -EACCES || ret == -EINVAL || ret == -EPROTO) {
		if (ret != -EINVAL || !conf->cluster)
			snprintf(err, errlen, "resp: %s: %s", conf->url_redacted, rio->last_error);
		if (ret == -EPROTO)
			ret = -EACCES;  /* a server that answers PING with an error: NOAUTH */
		goto err_free;
	}
	if (ret)
		log_warn("resp: %s: not reachable now, will retry: %s", conf->url_redacted,
			 rio->last_error);
	rio_publish_health(rio);
	rio->ping_next = clock_now_ms() + RIO_PING_MS;
	ret = actor_start(&rio->actor, "respio", &rio_ops, rio, RIO_MAILBOX, RIO_WAIT_MS, -1);
	if (ret) {
		snprintf(err, errlen, "resp: cannot start the I/O actor: %s", strerror(-ret));
		goto err_free;
	}
	*out = rio;
	return 0;
err_free:
	rio_free(rio);
	return ret;
}

void respio_destroy(struct respio *rio)
{
	actor_stop(&rio->actor);
	rio_free(rio);
}

int respio_submit(struct respio *rio, struct l2_job *job)
{
	struct actor_msg m = { .op = RIO_TASK, .ptr = { job } };

	return actor_post(&rio->actor, &m);
}

int respio_delete(struct respio *rio, struct l2_job *job)
{
	struct actor_msg m = { .op = RIO_DELETE, .ptr = { job } };

	return actor_call(&rio->actor, &m);
}

void respio_unlock(struct respio *rio, const struct kvt_key *key)
{
	struct actor_msg m = { .op = RIO_UNLOCK, .u64 = { key->lo, key->hi } };

	while (actor_post(&rio->actor, &m) == -ETIMEDOUT)
		log_warn("resp: mailbox full, still posting an unlock");
}

void respio_stats(struct respio *rio, struct rio_stats *out)
{
#define LD(f) atomic_load_explicit(&rio->st_##f, memory_order_relaxed)
	out->healthy = atomic_load_explicit(&rio->healthy, memory_order_relaxed);
	out->nodes = LD(nodes);
	out->nodes_up = LD(nodes_up);
	out->round_trips = LD(round_trips);
	out->bytes_out = LD(bytes_out);
	out->bytes_in = LD(bytes_in);
	out->redirections = LD(redirections);
	out->map_refreshes = LD(map_refreshes);
	out->errors = LD(errors);
	out->refused = LD(refused);
	out->reconnects = LD(reconnects);
	out->corrupt = LD(corrupt);
	out->corrupt_removed = LD(corrupt_removed);
	out->stores = LD(stores);
	out->loads = LD(loads);
	out->locked = LD(locked);
#undef LD
	pthread_mutex_lock(&rio->err_mu);
	memcpy(out->last_error, rio->last_error, sizeof(out->last_error));
	pthread_mutex_unlock(&rio->err_mu);
}
