/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/pool_index.c - kvtier-poold's index actor (see pool.h).
 *
 * Owns: every add and delete in the keys and regions maps (readers are the
 * front ends, lock-free under RCU), each entry's pins, each region's ref
 * count and owner state, the instance table and the connection table.
 *
 * Model (Maru's, with its gaps closed):
 * - A connection (cid, from the RPC front end) binds to an instance when it
 *   sends an instance_id (REQUEST_ALLOC, RETURN_ALLOC, HANDSHAKE).  Regions
 *   belong to instances; REGISTER_KV is accepted only inside a region the
 *   caller's instance owns and has not returned (upstream checked nothing).
 * - Pins belong to the connection that took them: a per-(entry, cid)
 *   record with a count and the time of its newest pin.  Only that
 *   connection unpins them; at most max_pins_per_key pins per key; the
 *   pin-monitor drops records older than pin_ttl_ms (upstream: unbounded,
 *   ownerless, never expiring).
 * - A connection that goes (socket closed, lease expired, SHUTDOWN) loses
 *   its pins; when an instance has no connection left it is disconnected and
 *   its regions follow Maru's deferred-free rule: freed at once when no key
 *   references them, else when the last key goes (upstream never called
 *   disconnect_client).
 * - Freeing: unlink, call_rcu() for the memory, and an async RELEASE of the
 *   extent to the allocation manager.  A region's extent is given back only
 *   when it is unlinked, so a reader inside a read section may still copy its
 *   handle, but GET_FD re-checks the region under RCU.
 */
#define _GNU_SOURCE
#include "poold/pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/waitword.h"

/* Buckets the key map starts with: about one per key of a large pool. */
#define POOL_KEY_BUCKETS (1ul << 20)

struct pool_instance {
	struct pool_instance *next;
	struct pool_region *regions;
	uint32_t live_conns;
	bool connected;
	uint32_t len;
	char id[MARU_ID_MAX + 1];
};

/* A connection owns the regions of every instance it named: Maru's own
 * benchmark allocates and registers for several instances over one. */
struct pool_conn {
	struct pool_conn *next;
	uint64_t cid;
	struct pool_instance **insts;
	uint32_t ninsts, capinsts;
	struct pool_pin *pins;
};

struct pool_pin {
	struct pool_entry *e;
	struct pool_conn *c;
	uint32_t count;
	uint64_t last_ms;
	struct pool_pin *e_next;              /* in e->pins */
	struct pool_pin *c_next, *c_prev;     /* in c->pins */
};

struct pool_index {
	struct pool_instance *instances;
	struct pool_conn *conns;
	struct pool_entry *pinned;            /* entries with pin_count > 0 */
	uint64_t next_region_id;
	/* stats, index actor only; read through GET_STATS */
	uint64_t entries, total_size, pinned_entries, total_pins;
	uint64_t force_unpins, refused_deletes, unpin_underflows, pin_cap_refusals;
	uint64_t refused_registers, num_allocations, total_allocated;
	uint64_t regions_freed, deferred_frees;
};

/* ---- hashing and lock-free lookup ---- */

static uint64_t key_hash(uint8_t kind, const uint8_t *b, uint32_t len)
{
	return XXH3_64bits_withSeed(b, len, kind);
}

struct key_ref {
	uint8_t kind;
	uint32_t len;
	const uint8_t *b;
};

static int entry_match(struct cds_lfht_node *node, const void *arg)
{
	const struct pool_entry *e = caa_container_of(node, struct pool_entry, node);
	const struct key_ref *k = arg;

	return e->kind == k->kind && e->klen == k->len && !memcmp(e->key, k->b, k->len);
}

static int region_match(struct cds_lfht_node *node, const void *arg)
{
	const struct pool_region *r = caa_container_of(node, struct pool_region, node);

	return r->id == *(const uint64_t *)arg;
}

struct pool_entry *pool_entry_find_rcu(struct pool *p, const struct maru_key *k)
{
	struct key_ref ref = { k->kind, k->len, maru_key_bytes(k) };
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	cds_lfht_lookup(p->keys, key_hash(ref.kind, ref.b, ref.len), entry_match, &ref, &it);
	n = cds_lfht_iter_get_node(&it);
	if (!n)
		return NULL;
	tsan_acquire(n);
	return caa_container_of(n, struct pool_entry, node);
}

struct pool_region *pool_region_find_rcu(struct pool *p, uint64_t id)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	cds_lfht_lookup(p->regions, XXH3_64bits(&id, sizeof(id)), region_match, &id, &it);
	n = cds_lfht_iter_get_node(&it);
	if (!n)
		return NULL;
	tsan_acquire(n);
	return caa_container_of(n, struct pool_region, node);
}

static void entry_free_rcu(struct rcu_head *head)
{
	kvt_rcu_grace_begin();
	mem_free(caa_container_of(head, struct pool_entry, rcu));
}

static void region_free_rcu(struct rcu_head *head)
{
	kvt_rcu_grace_begin();
	mem_free(caa_container_of(head, struct pool_region, rcu));
}

/* ---- instances, connections, regions ---- */

static struct pool_instance *instance_get(struct pool_index *x, const char *id, uint32_t len,
					  bool create)
{
	struct pool_instance *in;

	for (in = x->instances; in; in = in->next)
		if (in->len == len && !memcmp(in->id, id, len))
			return in;
	if (!create)
		return NULL;
	in = mem_zalloc(sizeof(*in));
	if (!in)
		return NULL;
	memcpy(in->id, id, len);
	in->len = len;
	in->next = x->instances;
	x->instances = in;
	return in;
}

static struct pool_conn *conn_get(struct pool_index *x, uint64_t cid, bool create)
{
	struct pool_conn *c;

	for (c = x->conns; c; c = c->next)
		if (c->cid == cid)
			return c;
	if (!create)
		return NULL;
	c = mem_zalloc(sizeof(*c));
	if (!c)
		return NULL;
	c->cid = cid;
	c->next = x->conns;
	x->conns = c;
	return c;
}

static bool conn_speaks_for(const struct pool_conn *c, const struct pool_instance *in)
{
	for (uint32_t i = 0; c && i < c->ninsts; i++)
		if (c->insts[i] == in)
			return true;
	return false;
}

/* Return: 0, or -ENOMEM with @c unchanged. */
static int conn_bind(struct pool_conn *c, struct pool_instance *in)
{
	if (!c)
		return 0;
	in->connected = true;
	if (conn_speaks_for(c, in))
		return 0;
	if (c->ninsts == c->capinsts) {
		uint32_t cap = c->capinsts ? 2 * c->capinsts : 2;
		struct pool_instance **v = mem_realloc(c->insts, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->insts = v;
		c->capinsts = cap;
	}
	c->insts[c->ninsts++] = in;
	in->live_conns++;
	return 0;
}

static void region_free(struct pool *p, struct pool_region *r)
{
	struct pool_index *x = p->idx;
	struct actor_msg m = { .op = POOL_ALLOC_RELEASE, .u32 = r->pool,
			       .u64 = { r->offset, r->length } };
	struct pool_region **pp;
	int ret;

	if (r->owner) {
		for (pp = &r->owner->regions; *pp; pp = &(*pp)->owner_next)
			if (*pp == r) {
				*pp = r->owner_next;
				break;
			}
	}
	kvt_rcu_read_lock();
	ret = cds_lfht_del(p->regions, &r->node);
	kvt_rcu_read_unlock();
	assert(ret == 0); /* this actor is the only remover */
	(void)ret;
	x->num_allocations--;
	x->total_allocated -= r->length;
	x->regions_freed++;
	log_info("region %llu freed (%llu bytes at %llu in pool %u)", (unsigned long long)r->id,
		 (unsigned long long)r->length, (unsigned long long)r->offset, r->pool);
	/* synchronous, so a reply sent after this free already shows it in
	 * pool_free; the allocation manager never waits on this actor, so a
	 * call can only time out on a full ring: retry rather than leak */
	while (actor_call(&p->alloc, &m) == -ETIMEDOUT)
		log_warn("index: allocation manager mailbox full, retrying a release");
	kvt_call_rcu(&r->rcu, region_free_rcu);
}

/* Maru's rule: a released region goes when no key references it. */
static void region_release(struct pool *p, struct pool_region *r)
{
	r->owner_connected = false;
	if (r->kv_ref == 0)
		region_free(p, r);
	else
		p->idx->deferred_frees++;
}

struct fixed_buf {
	uint8_t *b;
	size_t len, cap;
};

static int fixed_buf_write(void *data, const char *buf, size_t len)
{
	struct fixed_buf *f = data;

	if (len > f->cap - f->len)
		return -1;
	memcpy(f->b + f->len, buf, len);
	f->len += len;
	return 0;
}

static void found_head_pack(struct pool_region *r)
{
	struct fixed_buf f = { .b = r->found_head, .cap = sizeof(r->found_head) };
	msgpack_packer pk;

	msgpack_packer_init(&pk, &f, fixed_buf_write);
	maru_pack_found_head(&pk, r->id, r->offset, r->length, r->token);
	/* 87 bytes at most: every integer fits its 9-byte form */
	assert(f.len <= sizeof(r->found_head));
	r->found_head_len = (uint8_t)f.len;
}

static int region_create(struct pool *p, struct pool_instance *in, uint64_t size,
			 uint32_t pool_id, struct pool_region **out)
{
	struct pool_index *x = p->idx;
	struct pool_carve cv;
	struct actor_msg m = { .op = POOL_ALLOC_CARVE, .u32 = pool_id, .u64 = { size },
			       .ptr = { &cv } };
	struct pool_region *r;
	uint64_t nonce;
	int ret;

	if (!size)
		return -EINVAL;
	r = mem_zalloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = actor_call(&p->alloc, &m);
	if (ret) {
		mem_free(r);
		return ret;
	}
	r->id = x->next_region_id++;
	r->offset = cv.off;
	r->length = cv.len;
	r->pool = cv.pool;
	r->requested = size;
	nonce = maru_token_nonce();
	r->token = maru_token(&p->tkey, r->id, r->offset, r->length, nonce);
	found_head_pack(r);
	r->owner = in;
	r->owner_connected = true;
	r->owner_next = in->regions;
	in->regions = r;
	x->num_allocations++;
	x->total_allocated += r->length;
	cds_lfht_node_init(&r->node);
	tsan_release(&r->node);
	kvt_rcu_read_lock();
	cds_lfht_add(p->regions, XXH3_64bits(&r->id, sizeof(r->id)), &r->node);
	kvt_rcu_read_unlock();
	*out = r;
	return 0;
}

static void instance_disconnect(struct pool *p, struct pool_instance *in)
{
	struct pool_region *r, *next;

	in->connected = false;
	for (r = in->regions; r; r = next) {
		next = r->owner_next;
		if (r->owner_connected)
			region_release(p, r);
	}
	log_info("instance \"%.*s\" disconnected", (int)in->len, in->id);
}

/* ---- pins ---- */

static void pinned_link(struct pool_index *x, struct pool_entry *e)
{
	e->pinned_prev = NULL;
	e->pinned_next = x->pinned;
	if (x->pinned)
		x->pinned->pinned_prev = e;
	x->pinned = e;
	x->pinned_entries++;
}

static void pinned_unlink(struct pool_index *x, struct pool_entry *e)
{
	if (e->pinned_prev)
		e->pinned_prev->pinned_next = e->pinned_next;
	else
		x->pinned = e->pinned_next;
	if (e->pinned_next)
		e->pinned_next->pinned_prev = e->pinned_prev;
	e->pinned_prev = e->pinned_next = NULL;
	x->pinned_entries--;
}

/* Removes @pin entirely (all its count) and frees it. */
static void pin_drop(struct pool_index *x, struct pool_pin *pin)
{
	struct pool_entry *e = pin->e;
	struct pool_conn *c = pin->c;
	struct pool_pin **pp;

	for (pp = &e->pins; *pp; pp = &(*pp)->e_next)
		if (*pp == pin) {
			*pp = pin->e_next;
			break;
		}
	if (pin->c_prev)
		pin->c_prev->c_next = pin->c_next;
	else
		c->pins = pin->c_next;
	if (pin->c_next)
		pin->c_next->c_prev = pin->c_prev;
	e->pin_count -= pin->count;
	x->total_pins -= pin->count;
	if (!e->pin_count)
		pinned_unlink(x, e);
	mem_free(pin);
}

static struct pool_pin *pin_find(struct pool_entry *e, struct pool_conn *c)
{
	for (struct pool_pin *pin = e->pins; pin; pin = pin->e_next)
		if (pin->c == c)
			return pin;
	return NULL;
}

/* Return: 0 pinned, -ENOENT no such key, -EBUSY the key's cap, -ENOMEM. */
static int pin_one(struct pool *p, struct pool_conn *c, const struct maru_key *k, uint64_t now)
{
	struct pool_index *x = p->idx;
	struct pool_entry *e;
	struct pool_pin *pin;

	kvt_rcu_read_lock();
	e = pool_entry_find_rcu(p, k);
	kvt_rcu_read_unlock(); /* this actor is the only remover: e stays */
	if (!e)
		return -ENOENT;
	if (p->opts.max_pins_per_key && e->pin_count >= p->opts.max_pins_per_key) {
		x->pin_cap_refusals++;
		return -EBUSY;
	}
	pin = pin_find(e, c);
	if (!pin) {
		pin = mem_zalloc(sizeof(*pin));
		if (!pin)
			return -ENOMEM;
		pin->e = e;
		pin->c = c;
		pin->e_next = e->pins;
		e->pins = pin;
		pin->c_next = c->pins;
		if (c->pins)
			c->pins->c_prev = pin;
		c->pins = pin;
	}
	if (!e->pin_count)
		pinned_link(x, e);
	pin->count++;
	pin->last_ms = now;
	e->pin_count++;
	x->total_pins++;
	return 0;
}

/* Return: 0, -ENOENT no such key, -ERANGE the caller holds no pin on it. */
static int unpin_one(struct pool *p, struct pool_conn *c, const struct maru_key *k)
{
	struct pool_index *x = p->idx;
	struct pool_entry *e;
	struct pool_pin *pin;

	kvt_rcu_read_lock();
	e = pool_entry_find_rcu(p, k);
	kvt_rcu_read_unlock();
	if (!e)
		return -ENOENT;
	pin = c ? pin_find(e, c) : NULL;
	if (!pin) {
		x->unpin_underflows++;
		log_debug("unpin underflow: the caller holds no pin on this key");
		return -ERANGE;
	}
	if (pin->count == 1) {
		pin_drop(x, pin);
	} else {
		pin->count--;
		e->pin_count--;
		x->total_pins--;
	}
	return 0;
}

static void conn_gone(struct pool *p, uint64_t cid)
{
	struct pool_index *x = p->idx;
	struct pool_conn **pp, *c;

	for (pp = &x->conns; *pp; pp = &(*pp)->next)
		if ((*pp)->cid == cid)
			break;
	c = *pp;
	if (!c)
		return;
	*pp = c->next;
	while (c->pins)
		pin_drop(x, c->pins);
	for (uint32_t i = 0; i < c->ninsts; i++) {
		struct pool_instance *in = c->insts[i];

		if (in->live_conns && !--in->live_conns && in->connected)
			instance_disconnect(p, in);
	}
	mem_free(c->insts);
	mem_free(c);
}

static void sweep(struct pool *p)
{
	struct pool_index *x = p->idx;
	uint64_t now = clock_now_ms(), ttl = p->opts.pin_ttl_ms;
	struct pool_entry *e, *next;

	if (!ttl)
		return;
	for (e = x->pinned; e; e = next) {
		struct pool_pin *pin, *pnext;

		next = e->pinned_next; /* e may leave the list below */
		for (pin = e->pins; pin; pin = pnext) {
			pnext = pin->e_next;
			if (now - pin->last_ms < ttl)
				continue;
			x->force_unpins += pin->count;
			log_warn("pin-monitor: released %u pin(s) of connection %llu held over "
				 "pin_ttl_ms=%llu", pin->count, (unsigned long long)pin->c->cid,
				 (unsigned long long)ttl);
			pin_drop(x, pin);
		}
	}
}

/* ---- registry mutations ---- */

/* Return: 1 new, 0 duplicate, -EACCES not inside a region the caller owns, -ENOMEM. */
static int register_one(struct pool *p, struct pool_conn *c, const struct maru_kv_entry *kv)
{
	struct pool_index *x = p->idx;
	struct key_ref ref = { kv->key.kind, kv->key.len, maru_key_bytes(&kv->key) };
	struct cds_lfht_node *got;
	struct pool_region *r;
	struct pool_entry *e;

	kvt_rcu_read_lock();
	r = pool_region_find_rcu(p, kv->region_id);
	kvt_rcu_read_unlock();
	if (!r || !conn_speaks_for(c, r->owner) || !r->owner_connected ||
	    kv->kv_offset > r->length || kv->kv_length > r->length - kv->kv_offset) {
		x->refused_registers++;
		return -EACCES;
	}
	e = mem_zalloc(sizeof(*e) + ref.len);
	if (!e)
		return -ENOMEM;
	e->region = r;
	e->kv_offset = kv->kv_offset;
	e->kv_length = kv->kv_length;
	e->kind = ref.kind;
	e->klen = ref.len;
	memcpy(e->key, ref.b, ref.len);
	cds_lfht_node_init(&e->node);
	tsan_release(&e->node);
	kvt_rcu_read_lock();
	got = cds_lfht_add_unique(p->keys, key_hash(ref.kind, ref.b, ref.len), entry_match,
				  &ref, &e->node);
	kvt_rcu_read_unlock();
	if (got != &e->node) {
		/* first writer wins; never published, so free without a grace period */
		mem_free(e);
		return 0;
	}
	r->kv_ref++;
	r->used += kv->kv_length;
	x->entries++;
	x->total_size += kv->kv_length;
	return 1;
}

enum del_result { DEL_DELETED, DEL_PINNED, DEL_NOT_FOUND };

static enum del_result delete_one(struct pool *p, const struct maru_key *k)
{
	struct pool_index *x = p->idx;
	struct pool_entry *e;
	struct pool_region *r;
	int ret;

	kvt_rcu_read_lock();
	e = pool_entry_find_rcu(p, k);
	if (!e) {
		kvt_rcu_read_unlock();
		return DEL_NOT_FOUND;
	}
	if (e->pin_count) {
		kvt_rcu_read_unlock();
		x->refused_deletes++;
		log_warn("delete refused: key is pinned (%u pins)", e->pin_count);
		return DEL_PINNED;
	}
	ret = cds_lfht_del(p->keys, &e->node);
	kvt_rcu_read_unlock();
	assert(ret == 0);
	(void)ret;
	r = e->region;
	x->entries--;
	x->total_size -= e->kv_length;
	r->used -= e->kv_length;
	kvt_call_rcu(&e->rcu, entry_free_rcu);
	if (--r->kv_ref == 0 && !r->owner_connected)
		region_free(p, r);
	return DEL_DELETED;
}

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
		maru_pack_cstr(pk, ret == -EACCES ?
			       "region, offset and length must lie inside a region the caller owns" :
			       "out of memory");
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
		maru_pack_cstr(pk, "rm_address");
		maru_pack_cstr(pk, p->opts.rm_socket);
	}
}

static void on_rpc(struct pool *p, const struct actor_msg *m)
{
	const struct maru_req *q = m->ptr[0];
	msgpack_packer *pk = m->ptr[1];
	struct pool_conn *c = conn_get(p->idx, m->u64[0], true);

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
static int on_rm_alloc(struct pool *p, const struct actor_msg *m)
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
static int on_rm_free(struct pool *p, const struct actor_msg *m)
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

static void index_handle(void *ctx, const struct actor_msg *m)
{
	struct pool *p = ctx;
	int ret = 0;

	ACTOR_ASSERT_SELF(&p->index);
	switch (m->op) {
	case POOL_IDX_RPC: on_rpc(p, m); break;
	case POOL_IDX_GONE: conn_gone(p, m->u64[0]); break;
	case POOL_IDX_SWEEP: sweep(p); break;
	case POOL_IDX_RM_ALLOC: ret = on_rm_alloc(p, m); break;
	case POOL_IDX_RM_FREE: ret = on_rm_free(p, m); break;
	default: ret = -EINVAL; break;
	}
	if (m->done)
		completion_signal(m->done, ret);
}

const struct actor_ops pool_index_ops = {
	.handle = index_handle,
};

int pool_index_create(struct pool *p)
{
	p->idx = mem_zalloc(sizeof(*p->idx));
	if (!p->idx)
		return -ENOMEM;
	p->idx->next_region_id = 1;
	/* start with a bucket per key of a large pool: growing a table under
	 * load made lookups 5-50x slower here (long chains until the resize
	 * worker catches up); it still grows past that if it must */
	p->keys = cds_lfht_new(POOL_KEY_BUCKETS, POOL_KEY_BUCKETS, 0,
			       CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	p->regions = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE, NULL);
	if (!p->keys || !p->regions) {
		if (p->keys)
			cds_lfht_destroy(p->keys, NULL);
		if (p->regions)
			cds_lfht_destroy(p->regions, NULL);
		mem_free(p->idx);
		p->idx = NULL;
		return -ENOMEM;
	}
	return 0;
}

void pool_index_destroy(struct pool *p)
{
	struct pool_index *x = p->idx;
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	if (!x)
		return;
	while (x->conns) {
		struct pool_conn *c = x->conns;

		x->conns = c->next;
		while (c->pins)
			pin_drop(x, c->pins);
		mem_free(c->insts);
		mem_free(c);
	}
	kvt_rcu_read_lock();
	cds_lfht_for_each(p->keys, &it, n) {
		struct pool_entry *e = caa_container_of(n, struct pool_entry, node);

		cds_lfht_del(p->keys, n);
		kvt_call_rcu(&e->rcu, entry_free_rcu);
	}
	cds_lfht_for_each(p->regions, &it, n) {
		struct pool_region *r = caa_container_of(n, struct pool_region, node);

		cds_lfht_del(p->regions, n);
		kvt_call_rcu(&r->rcu, region_free_rcu);
	}
	kvt_rcu_read_unlock();
	rcu_barrier();
	cds_lfht_destroy(p->keys, NULL);
	cds_lfht_destroy(p->regions, NULL);
	while (x->instances) {
		struct pool_instance *in = x->instances;

		x->instances = in->next;
		mem_free(in);
	}
	mem_free(x);
	p->idx = NULL;
}
