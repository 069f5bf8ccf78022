/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/get.c - kvt_get() (blocking, positional), kvt_prefetch() (async,
 * prefix only) and kvt_flush().  Each key is read from the first tier that
 * holds it; a DAX hit is promoted into L1 when dax.promote says so.
 *
 * Every chunk is borrowed before it is copied, so a concurrent remove or
 * eviction cannot reuse its slot under the copy; the copy itself runs with
 * no lock and no read section held.
 */
#include <errno.h>
#include <string.h>

#include "actors/daxwriter.h"
#include "actors/index.h"
#include "actors/prefetch.h"
#include "core/instance.h"
#include "core/mem.h"

#define GET_STACK_KEYS 128

/* The holes kvt_copy_out() left (out_lens 0), filled from the L2 tiers in
 * place.  Return: @got plus the chunks L2 supplied, or a negative code. */
static ssize_t get_from_l2(struct kvt *kvt, const struct kvt_key *keys, size_t n,
			   void *const *bufs, const size_t *buf_lens, size_t *out_lens, ssize_t got)
{
	size_t holes = n - (size_t)got, k = 0;
	size_t scratch = holes * (sizeof(struct kvt_key) + sizeof(void *) + 3 * sizeof(size_t));
	char *mem = mem_alloc(scratch);
	struct kvt_key *hk = (struct kvt_key *)mem;
	void **hb = (void **)(hk + holes);
	size_t *hl = (size_t *)(hb + holes), *ho = hl + holes, *hi = ho + holes;
	ssize_t more;

	if (!mem)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (out_lens[i])
			continue;
		hk[k] = keys[i];
		hb[k] = bufs[i];
		hl[k] = buf_lens[i];
		hi[k++] = i;
	}
	more = l2_fetch(kvt, hk, k, hb, hl, ho, false);
	for (size_t j = 0; more > 0 && j < k; j++)
		out_lens[hi[j]] = ho[j];
	mem_free(mem);
	return more < 0 ? more : got + more;
}

ssize_t kvt_get(struct kvt *kvt, const struct kvt_key *keys, size_t n, void *const *bufs,
		const size_t *buf_lens, size_t *out_lens)
{
	struct entry *stack_ents[GET_STACK_KEYS], **ents = stack_ents;
	ssize_t ret;
	uint64_t t0;

	if (!kvt || (n && (!keys || !bufs || !buf_lens || !out_lens)))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!bufs[i] && buf_lens[i])
			return -EINVAL;
	for (size_t i = 0; i < n; i++)
		out_lens[i] = 0;
	if (!kvt_enter(kvt))
		return 0;
	t0 = kvt_op_start(kvt);
	if (n > GET_STACK_KEYS) {
		ents = mem_alloc(n * sizeof(*ents));
		if (!ents) {
			kvt_exit(kvt);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		ents[i] = kvt_borrow_key(kvt, &keys[i]);
		if (ents[i] && ents[i]->len > buf_lens[i]) {
			kvt_put_entry(kvt, ents[i]);
			ents[i] = NULL;
		}
	}
	ret = kvt_copy_out(kvt, ents, bufs, n, out_lens);
	if (ret >= 0 && (size_t)ret < n && kvt->nl2)
		ret = get_from_l2(kvt, keys, n, bufs, buf_lens, out_lens, ret);
	if (ents != stack_ents)
		mem_free(ents);
	KVT_OP_DONE(kvt, KVT_OP_GET, t0);
	kvt_exit(kvt);
	return ret;
}

int kvt_prefetch(struct kvt *kvt, const struct kvt_key *keys, size_t n, void *const *bufs,
		 const size_t *buf_lens, size_t *out_lens, kvt_prefetch_cb cb, void *cb_arg,
		 uint64_t *ticket)
{
	struct prefetch_req *req;
	struct actor_msg m = { .op = PREFETCH_RUN };
	size_t hits;
	uint64_t t0;
	int ret;

	if (!kvt || (n && (!keys || !bufs || !buf_lens || !out_lens)))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!bufs[i] && buf_lens[i])
			return -EINVAL;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	t0 = kvt_op_start(kvt);
	req = mem_alloc(sizeof(*req) + n * sizeof(req->entries[0]) +
			(kvt->nl2 ? n * sizeof(struct kvt_key) : 0));
	if (!req) {
		kvt_exit(kvt);
		return -ENOMEM;
	}
	req->n = n;
	req->t0 = t0;
	req->buf_lens = buf_lens;
	req->keys = kvt->nl2 ? (struct kvt_key *)&req->entries[n] : NULL;
	if (req->keys)
		memcpy(req->keys, keys, n * sizeof(*keys));
	req->ticket = atomic_fetch_add_explicit(&kvt->prefetch_ticket, 1, memory_order_relaxed);
	req->bufs = bufs;
	req->out_lens = out_lens;
	req->cb = cb;
	req->cb_arg = cb_arg;
	for (req->hits = 0; req->hits < n; req->hits++) {
		struct entry *e = kvt_borrow_key(kvt, &keys[req->hits]);

		if (!e)
			break;
		if (e->len > buf_lens[req->hits]) {
			kvt_put_entry(kvt, e);
			break;
		}
		req->entries[req->hits] = e;
	}
	for (size_t i = req->hits; i < n; i++)
		out_lens[i] = 0;
	hits = req->hits;
	if (ticket)
		*ticket = req->ticket;
	m.ptr[0] = req;
	ret = actor_post(&kvt->prefetchers[req->ticket % kvt->nprefetchers], &m);
	if (ret) {
		for (size_t i = 0; i < req->hits; i++)
			kvt_put_entry(kvt, req->entries[i]);
		mem_free(req);
		kvt_exit(kvt);
		return ret;
	}
	/* the worker now owns req, its borrows and our kvt_enter() */
	COUNT(kvt, prefetches, 1);
	COUNT(kvt, prefetch_hits, hits);
	return 0;
}

int kvt_flush(struct kvt *kvt)
{
	struct actor_msg m = { .op = INDEX_BARRIER };
	int ret = 0;

	if (!kvt)
		return -EINVAL;
	if (!kvt_enter(kvt))
		return -ESHUTDOWN;
	if (kvt->has_dax && kvt->primary == &kvt->l1) {
		struct actor_msg d = { .op = DAXW_BARRIER };

		ret = actor_call(&kvt->daxwriter, &d);
	}
	if (!ret)
		l2_flush(kvt);
	if (!ret)
		ret = actor_call(&kvt->index, &m);
	for (uint32_t i = 0; !ret && i < kvt->nprefetchers; i++) {
		struct actor_msg b = { .op = PREFETCH_BARRIER };

		ret = actor_call(&kvt->prefetchers[i], &b);
	}
	kvt_exit(kvt);
	return ret;
}
