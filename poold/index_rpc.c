/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/index_rpc.c - the index actor's answers to Maru's RPCs and to the
 * resource manager's ALLOC/FREE: each handler packs exactly one map.  Index
 * actor only.
 */
#define _GNU_SOURCE
#include "poold/index_internal.h"

#include <errno.h>
#include <string.h>

/* ---- RPC handlers: each packs exactly one map into @pk ---- */

static void pack_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
	maru_pack_cstr(pk, k);
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

static void pack_kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
	maru_pack_cstr(pk, k);
	msgpack_pack_uint64(pk, v);
}

static void on_request_alloc(struct pool *p, struct pool_conn *c, const struct maru_req *q,
			     msgpack_packer *pk)
{
	struct pool_instance *in = instance_get(p->idx, q->instance_id, q->instance_len, true);
	struct pool_region *r;
	int ret;

	if (!in || conn_bind(c, in)) {
		maru_pack_error(pk, "out of memory");
		return;
	}
	ret = region_create(p, in, q->size,
			    q->pool_id > 0xFFFFFFFFull ? MARU_RM_ANY_POOL : (uint32_t)q->pool_id, &r);
	if (ret) {
		msgpack_pack_map(pk, 2);
		pack_kv_bool(pk, "success", false);
		maru_pack_cstr(pk, "error");
		maru_pack_cstr(pk, ret == -ENOSPC ? "Allocation failed" : "Allocation failed: bad size");
		return;
	}
	log_info("region %llu: %llu bytes at %llu in pool %u for \"%.*s\"",
		 (unsigned long long)r->id, (unsigned long long)r->length,
		 (unsigned long long)r->offset, r->pool, (int)in->len, in->id);
	msgpack_pack_map(pk, 2);
	pack_kv_bool(pk, "success", true);
	maru_pack_cstr(pk, "handle");
	maru_pack_handle(pk, r->id, r->offset, r->length, r->token);
}

static void on_return_alloc(struct pool *p, struct pool_conn *c, const struct maru_req *q,
			    msgpack_packer *pk)
{
	struct pool_instance *in = instance_get(p->idx, q->instance_id, q->instance_len, false);
	struct pool_region *r;
	bool ok = false;

	kvt_rcu_read_lock();
	r = pool_region_find_rcu(p, q->region_id);
	kvt_rcu_read_unlock();
	if (in && r && r->owner == in && r->owner_connected) {
		conn_bind(c, in);
		region_release(p, r);
		ok = true;
	}
	msgpack_pack_map(pk, ok ? 1 : 2);
	pack_kv_bool(pk, "success", ok);
	if (!ok) {
		maru_pack_cstr(pk, "error");
		maru_pack_cstr(pk, r ? "not the owner" : "unknown region");
	}
}

static void on_list(struct pool *p, const struct maru_req *q, msgpack_packer *pk)
{
	struct pool_instance *ex = q->has_instance ?
		instance_get(p->idx, q->instance_id, q->instance_len, false) : NULL;
	uint32_t n = 0;

	for (struct pool_instance *in = p->idx->instances; in; in = in->next)
		for (struct pool_region *r = in->regions; r; r = r->owner_next)
			n += in != ex && r->owner_connected;
	msgpack_pack_map(pk, 2);
	pack_kv_bool(pk, "success", true);
	maru_pack_cstr(pk, "allocations");
	msgpack_pack_array(pk, n);
	for (struct pool_instance *in = p->idx->instances; in; in = in->next)
		for (struct pool_region *r = in->regions; r; r = r->owner_next)
			if (in != ex && r->owner_connected)
				maru_pack_handle(pk, r->id, r->offset, r->length, r->token);
}

static void on_register(struct pool *p, struct pool_conn *c, const struct maru_req *q,
			msgpack_packer *pk)
{
	int ret = register_one(p, c, &q->kv);

	if (ret < 0) {
		msgpack_pack_map(pk, 3);
		pack_kv_bool(pk, "success", false);
		pack_kv_bool(pk, "is_new", false);
		maru_pack_cstr(pk, "error");
		maru_pack_cstr(pk, ret != -EACCES ? "out of memory" :
			       p->opts.register_any_region ?
			       "region, offset and length must lie inside an existing region" :
			       "region, offset and length must lie inside a region the caller owns"
			       " (kvtier-poold --register-any-region lifts the owner check)");
		return;
	}
	msgpack_pack_map(pk, 2);
	pack_kv_bool(pk, "success", true);
	pack_kv_bool(pk, "is_new", ret == 1);
}

static void on_batch_register(struct pool *p, struct pool_conn *c, const struct maru_req *q,
			      msgpack_packer *pk)
{
	uint32_t refused = 0;
	int *res = mem_alloc(sizeof(*res) * (q->n ? q->n : 1));

	if (!res) {
		maru_pack_error(pk, "out of memory");
		return;
	}
	/* each add walks its bucket's chain, two misses one after the other,
	 * and an add is too long for the CPU to run ahead into the next: look
	 * the batch up first, where the misses of many keys overlap */
	if (q->n > 1) {
		kvt_rcu_read_lock();
		pool_entries_find_rcu(p, &q->entries[0].key, sizeof(q->entries[0]), q->n, NULL);
		kvt_rcu_read_unlock();
	}
	for (uint32_t i = 0; i < q->n; i++) {
		res[i] = register_one(p, c, &q->entries[i]);
		refused += res[i] < 0;
	}
	msgpack_pack_map(pk, refused ? 3 : 2);
	pack_kv_bool(pk, "success", true);
	maru_pack_cstr(pk, "results");
	msgpack_pack_array(pk, q->n);
	for (uint32_t i = 0; i < q->n; i++)
		if (res[i] == 1)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
	if (refused) {
		/* indices whose False means "refused", not "someone else's key" */
		maru_pack_cstr(pk, "refused");
		msgpack_pack_array(pk, refused);
		for (uint32_t i = 0; i < q->n; i++)
			if (res[i] < 0)
				msgpack_pack_uint32(pk, i);
	}
	mem_free(res);
}

static void on_delete(struct pool *p, const struct maru_req *q, msgpack_packer *pk)
{
	static const char *const names[] = { "DELETED", "PINNED", "NOT_FOUND" };
	enum del_result d = delete_one(p, &q->kv.key);

	msgpack_pack_map(pk, 2);
	pack_kv_bool(pk, "success", d == DEL_DELETED);
	maru_pack_cstr(pk, "result");
	maru_pack_cstr(pk, names[d]);
}

static void on_pin(struct pool *p, struct pool_conn *c, const struct maru_req *q,
		   msgpack_packer *pk)
{
	int ret = c ? pin_one(p, c, &q->kv.key, clock_now_ms()) : -ENOMEM;

	msgpack_pack_map(pk, ret == -EBUSY ? 2 : 1);
	pack_kv_bool(pk, "exists", ret == 0);
	if (ret == -EBUSY) {
		maru_pack_cstr(pk, "error");
		maru_pack_cstr(pk, "max_pins_per_key reached");
	}
}

static void on_unpin(struct pool *p, struct pool_conn *c, const struct maru_req *q,
		     msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	pack_kv_bool(pk, "success", unpin_one(p, c, &q->kv.key) == 0);
}

static void on_batch_pin(struct pool *p, struct pool_conn *c, const struct maru_req *q,
			 msgpack_packer *pk)
{
	uint64_t now = clock_now_ms();
	bool stop = !c;

	msgpack_pack_map(pk, 1);
	maru_pack_cstr(pk, "results");
	msgpack_pack_array(pk, q->n);
	/* prefix stop: from the first miss on nothing is pinned */
	for (uint32_t i = 0; i < q->n; i++) {
		if (!stop && pin_one(p, c, &q->keys[i], now) == 0) {
			msgpack_pack_true(pk);
			continue;
		}
		stop = true;
		msgpack_pack_false(pk);
	}
}

static void on_batch_unpin(struct pool *p, struct pool_conn *c, const struct maru_req *q,
			   msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	maru_pack_cstr(pk, "results");
	msgpack_pack_array(pk, q->n);
	for (uint32_t i = 0; i < q->n; i++)
		if (unpin_one(p, c, &q->keys[i]) == 0)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
}

static uint64_t ld(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void on_stats(struct pool *p, msgpack_packer *pk)
{
	struct pool_index *x = p->idx;
	uint64_t active = 0, total = 0, free = 0;

	for (struct pool_instance *in = x->instances; in; in = in->next) {
		bool any = false;

		for (struct pool_region *r = in->regions; r; r = r->owner_next)
			any |= r->owner_connected;
		active += any;
	}
	for (uint32_t i = 0; i < p->ndevs; i++) {
		total += p->devs[i].size;
		free += ld(&p->devs[i].free_bytes);
	}
	msgpack_pack_map(pk, 4);
	maru_pack_cstr(pk, "kv_manager");
	msgpack_pack_map(pk, 9);
	pack_kv_u64(pk, "total_entries", x->entries);
	pack_kv_u64(pk, "total_size", x->total_size);
	pack_kv_u64(pk, "pinned_entries", x->pinned_entries);
	pack_kv_u64(pk, "total_pins", x->total_pins);
	pack_kv_u64(pk, "force_unpins", x->force_unpins);
	pack_kv_u64(pk, "delete_refused_pinned", x->refused_deletes);
	pack_kv_u64(pk, "unpin_underflows", x->unpin_underflows);
	pack_kv_u64(pk, "pin_cap_refusals", x->pin_cap_refusals);
	pack_kv_u64(pk, "refused_registers", x->refused_registers);
	maru_pack_cstr(pk, "allocation_manager");
	msgpack_pack_map(pk, 7);
	pack_kv_u64(pk, "num_allocations", x->num_allocations);
	pack_kv_u64(pk, "total_allocated", x->total_allocated);
	pack_kv_u64(pk, "active_clients", active);
	pack_kv_u64(pk, "pool_total", total);
	pack_kv_u64(pk, "pool_free", free);
	pack_kv_u64(pk, "regions_freed", x->regions_freed);
	pack_kv_u64(pk, "deferred_frees", x->deferred_frees);
	maru_pack_cstr(pk, "server");
	msgpack_pack_map(pk, 12);
	pack_kv_u64(pk, "clients", ld(&p->ctr.clients));
	pack_kv_u64(pk, "clients_gone", ld(&p->ctr.clients_gone));
	pack_kv_u64(pk, "leases_expired", ld(&p->ctr.leases_expired));
	pack_kv_u64(pk, "requests", ld(&p->ctr.requests));
	pack_kv_u64(pk, "bad_header", ld(&p->ctr.bad_header));
	pack_kv_u64(pk, "bad_payload", ld(&p->ctr.bad_payload));
	pack_kv_u64(pk, "oversized", ld(&p->ctr.oversized));
	pack_kv_u64(pk, "unknown_type", ld(&p->ctr.unknown_type));
	pack_kv_u64(pk, "rm_requests", ld(&p->ctr.rm_requests));
	pack_kv_u64(pk, "rm_bad", ld(&p->ctr.rm_bad));
	pack_kv_u64(pk, "rm_bad_token", ld(&p->ctr.rm_bad_token));
	pack_kv_u64(pk, "rm_bad_peer", ld(&p->ctr.rm_bad_peer));
	maru_pack_cstr(pk, "stats_manager");
	msgpack_pack_map(pk, 0);
}

static void on_usage(struct pool *p, msgpack_packer *pk)
{
	uint64_t total = 0, free = 0;
	uint32_t n = 0;

	for (struct pool_instance *in = p->idx->instances; in; in = in->next)
		n += in->regions != NULL;
	for (uint32_t i = 0; i < p->ndevs; i++) {
		total += p->devs[i].size;
		free += ld(&p->devs[i].free_bytes);
	}
	msgpack_pack_map(pk, 3);
	maru_pack_cstr(pk, "instances");
	msgpack_pack_array(pk, n);
	for (struct pool_instance *in = p->idx->instances; in; in = in->next) {
		uint64_t regions = 0, alloc = 0, used = 0;

		if (!in->regions)
			continue;
		for (struct pool_region *r = in->regions; r; r = r->owner_next) {
			regions++;
			alloc += r->length;
			used += r->used;
		}
		msgpack_pack_map(pk, 4);
		maru_pack_cstr(pk, "instance_id");
		msgpack_pack_str(pk, in->len);
		msgpack_pack_str_body(pk, in->id, in->len);
		pack_kv_u64(pk, "regions", regions);
		pack_kv_u64(pk, "allocated", alloc);
		pack_kv_u64(pk, "used", used);
	}
	pack_kv_u64(pk, "pool_total", total);
	pack_kv_u64(pk, "pool_free", free);
}

static void on_handshake(struct pool *p, struct pool_conn *c, const struct maru_req *q,
			 msgpack_packer *pk)
{
	if (q->has_instance) {
		struct pool_instance *in = instance_get(p->idx, q->instance_id, q->instance_len, true);

		if (in)
			conn_bind(c, in);
	}
	/* beyond Maru's answer: the connection and its lease, so a client
	 * can tell (a HEARTBEAT answers the connection too) whether it is
	 * still the one that owns its regions before it writes them */
	msgpack_pack_map(pk, p->opts.rm_socket ? 5 : 4);
	pack_kv_bool(pk, "success", true);
	pack_kv_u64(pk, "server_version", MARU_VERSION);
	pack_kv_u64(pk, "connection", c->cid);
	pack_kv_u64(pk, "client_lease_ms", p->opts.client_lease_ms);
	if (p->opts.rm_socket) {
		/* Maru's current clients dial rm_address as HOST:PORT */
		maru_pack_cstr(pk, "rm_address");
		maru_pack_cstr(pk, p->opts.rm_tcp ? p->opts.rm_tcp : p->opts.rm_socket);
	}
}

void on_rpc(struct pool *p, const struct actor_msg *m)
{
	const struct maru_req *q = m->ptr[0];
	msgpack_packer *pk = m->ptr[1];
	struct pool_conn *c = conn_get(p->idx, m->u64[0], true);

	/* every handler below may take the connection's state for granted */
	if (!c) {
		maru_pack_error(pk, "out of memory");
		return;
	}
	switch (q->hdr.type) {
	case MARU_REQUEST_ALLOC: on_request_alloc(p, c, q, pk); break;
	case MARU_RETURN_ALLOC: on_return_alloc(p, c, q, pk); break;
	case MARU_LIST_ALLOCATIONS: on_list(p, q, pk); break;
	case MARU_REGISTER_KV: on_register(p, c, q, pk); break;
	case MARU_DELETE_KV: on_delete(p, q, pk); break;
	case MARU_PIN_KV: on_pin(p, c, q, pk); break;
	case MARU_UNPIN_KV: on_unpin(p, c, q, pk); break;
	case MARU_BATCH_REGISTER_KV: on_batch_register(p, c, q, pk); break;
	case MARU_BATCH_PIN_KV: on_batch_pin(p, c, q, pk); break;
	case MARU_BATCH_UNPIN_KV: on_batch_unpin(p, c, q, pk); break;
	case MARU_GET_STATS: on_stats(p, pk); break;
	case MARU_GET_USAGE: on_usage(p, pk); break;
	case MARU_HANDSHAKE: on_handshake(p, c, q, pk); break;
	default: maru_pack_error(pk, "internal server error"); break;
	}
}

/* The RM socket's ALLOC: the region belongs to instance "pid:<pid>". */
int on_rm_alloc(struct pool *p, const struct actor_msg *m)
{
	const struct maru_rm_req *q = m->ptr[0];
	struct maru_handle *h = m->ptr[1];
	struct pool_instance *in;
	struct pool_region *r;
	char id[32];
	int len, ret;

	len = snprintf(id, sizeof(id), "pid:%llu", (unsigned long long)m->u64[0]);
	in = instance_get(p->idx, id, (uint32_t)len, true);
	if (!in)
		return -ENOMEM;
	in->connected = true;
	ret = region_create(p, in, q->size, q->pool_id, &r);
	if (ret)
		return ret;
	*h = (struct maru_handle){ r->id, r->offset, r->length, r->token };
	return 0;
}

/* The RM socket's FREE: a valid token, and the allocating pid or root. */
int on_rm_free(struct pool *p, const struct actor_msg *m)
{
	const struct maru_rm_req *q = m->ptr[0];
	struct pool_region *r;
	char id[32];
	int len;

	kvt_rcu_read_lock();
	r = pool_region_find_rcu(p, q->handle.region_id);
	kvt_rcu_read_unlock();
	if (!r || !maru_token_eq(r->token, q->handle.auth_token))
		return -EACCES;
	len = snprintf(id, sizeof(id), "pid:%llu", (unsigned long long)m->u64[0]);
	if (m->u32 != 0 && (r->owner->len != (uint32_t)len || memcmp(r->owner->id, id, len)))
		return -EPERM;
	if (!r->owner_connected)
		return -ENOENT;
	region_release(p, r);
	return 0;
}
