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

#include "poold/index_internal.h"

/* ---- hashing and lock-free lookup ---- */

static uint64_t key_hash(uint8_t kind, const uint8_t *b, uint32_t len)
{
	return XXH3_64bits_withSeed(b, len, kind);
}

static const struct maru_key *key_at(const struct maru_key *keys, size_t stride, uint32_t i)
{
	return (const struct maru_key *)((const uint8_t *)keys + stride * i);
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

/*
 * Two passes a chunk, so the two dependent misses of each key's lookup (its
 * bucket, then its node: 98% of cds_lfht_lookup's samples under a batch-100
 * load) overlap with other keys' instead of following one another: the
 * hashes are computed before any lookup, and the lookup pass does nothing
 * else, so the CPU runs ahead into the next keys' loads while one key's are
 * outstanding.
 */
void pool_entries_find_rcu(struct pool *p, const struct maru_key *keys, size_t stride,
			   uint32_t n, struct pool_entry **out)
{
	uint64_t h[POOL_FIND_CHUNK];

	for (uint32_t base = 0; base < n; base += POOL_FIND_CHUNK) {
		uint32_t m = n - base < POOL_FIND_CHUNK ? n - base : POOL_FIND_CHUNK;

		for (uint32_t i = 0; i < m; i++) {
			const struct maru_key *k = key_at(keys, stride, base + i);

			h[i] = key_hash(k->kind, maru_key_bytes(k), k->len);
		}
		for (uint32_t i = 0; i < m; i++) {
			const struct maru_key *k = key_at(keys, stride, base + i);
			struct key_ref ref = { k->kind, k->len, maru_key_bytes(k) };
			struct cds_lfht_iter it;
			struct cds_lfht_node *node;

			cds_lfht_lookup(p->keys, h[i], entry_match, &ref, &it);
			node = cds_lfht_iter_get_node(&it);
			if (!out)
				continue;
			if (node)
				tsan_acquire(node);
			out[base + i] = node ? caa_container_of(node, struct pool_entry, node) : NULL;
		}
	}
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

struct pool_instance *instance_get(struct pool_index *x, const char *id, uint32_t len,
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

struct pool_conn *conn_get(struct pool_index *x, uint64_t cid, bool create)
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
int conn_bind(struct pool_conn *c, struct pool_instance *in)
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
void region_release(struct pool *p, struct pool_region *r)
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

int region_create(struct pool *p, struct pool_instance *in, uint64_t size,
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
int pin_one(struct pool *p, struct pool_conn *c, const struct maru_key *k, uint64_t now)
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
int unpin_one(struct pool *p, struct pool_conn *c, const struct maru_key *k)
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

/* ---- the shared index (proto/maru/pool_shidx.h) ---- */

/* Publish @e, already in the keys map: both happen before the register is
 * answered, so a client told "registered" finds it in either. */
static void shidx_entry_add(struct pool *p, struct pool_entry *e)
{
	struct shidx_loc loc = { e->region->id, e->kv_offset, e->kv_length };
	uint64_t lo, hi;

	if (!p->shidx.hdr || e->kind != 's' || !shidx_key_parse(e->key, e->klen, &lo, &hi))
		return;
	e->shidx_key = true;
	if (shidx_publish(&p->shidx, lo, hi, &loc) == 0) {
		e->shidx_published = true;
		return;
	}
	if (p->shidx.unpublished == 1)
		log_warn("shared index full (%llu slots): its readers ask the RPC for misses "
			 "until the keys it could not take are deleted",
			 (unsigned long long)p->shidx.hdr->nslots);
}

/* Unpublish @e, just unlinked from the keys map. */
static void shidx_entry_remove(struct pool *p, struct pool_entry *e)
{
	uint64_t lo, hi;

	if (!e->shidx_key)
		return;
	if (!e->shidx_published) {
		shidx_refused_gone(&p->shidx);
		return;
	}
	shidx_key_parse(e->key, e->klen, &lo, &hi);
	shidx_unpublish(&p->shidx, lo, hi);
}

/* ---- registry mutations ---- */

/*
 * Return: 1 new, 0 duplicate, -EACCES not inside a live region the caller
 * owns, -ENOMEM.  Under --register-any-region (Maru's rule) any region that
 * still exists will do, one its owner released included: it exists only while
 * keys reference it, and the new entry's reference keeps it until that entry
 * is deleted, so the extent cannot be carved for someone else meanwhile.
 */
int register_one(struct pool *p, struct pool_conn *c, const struct maru_kv_entry *kv)
{
	struct pool_index *x = p->idx;
	struct key_ref ref = { kv->key.kind, kv->key.len, maru_key_bytes(&kv->key) };
	struct cds_lfht_node *got;
	struct pool_region *r;
	struct pool_entry *e;

	kvt_rcu_read_lock();
	r = pool_region_find_rcu(p, kv->region_id);
	kvt_rcu_read_unlock();
	if (!r || (!p->opts.register_any_region &&
		   (!conn_speaks_for(c, r->owner) || !r->owner_connected)) ||
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
	shidx_entry_add(p, e);
	r->kv_ref++;
	r->used += kv->kv_length;
	x->entries++;
	x->total_size += kv->kv_length;
	return 1;
}


enum del_result delete_one(struct pool *p, const struct maru_key *k)
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
	shidx_entry_remove(p, e);
	r = e->region;
	x->entries--;
	x->total_size -= e->kv_length;
	r->used -= e->kv_length;
	kvt_call_rcu(&e->rcu, entry_free_rcu);
	if (--r->kv_ref == 0 && !r->owner_connected)
		region_free(p, r);
	return DEL_DELETED;
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
	if (p->opts.shidx_slots) {
		int ret = shidx_create(&p->shidx, p->opts.shidx_slots, p->opts.shidx_flush);

		/* lookups still work through the RPC: say so and go on */
		if (ret)
			log_warn("shared index of %llu slots not created (%s): clients will use "
				 "the RPC for every lookup", (unsigned long long)p->opts.shidx_slots,
				 strerror(-ret));
	}
	if (!p->keys || !p->regions) {
		shidx_destroy(&p->shidx);
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
	shidx_destroy(&p->shidx);
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
