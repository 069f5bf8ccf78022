/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/l2.c - the L2 tiers of an instance: the adapters of l2_adapters (in
 * priority order) and the write-through of puts to every adapter.  The
 * fetch that serves gets and prefetches from them is api/l2_fetch.c.
 *
 * Write-through: one task per adapter per put window, with the chunk's
 * memory held (an L1 borrow, or a staging slot) until every adapter has
 * answered; the last answer hands the window to the l2done actor, which
 * fires the callbacks and lets the memory go.  Each window is one
 * kvt_enter() operation, so kvt_close() waits for every queued write.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actors/l2done.h"
#include "core/instance.h"
#include "core/l2_conf.h"
#include "l2/l2_registry.h"
#include "l2/pool/pool_knobs.h"
#include "api/l2_builtins.h"
#include "core/log.h"
#include "core/mem.h"
#include "kvtier/l2.h"

#define L2_WINDOW 64

/* A write-through window, owned by the adapters until the last answers. */
struct l2_put {
	struct kvt *kvt;
	size_t n;
	kvt_put_cb cb;
	void *cb_arg;
	_Atomic uint32_t pending;       /* adapters yet to answer */
	uint64_t t0;                    /* kvt_op_start() at submit */
	struct kvt_l2_task tasks[KVT_L2_MAX_ADAPTERS];
	uint64_t stored[KVT_L2_MAX_ADAPTERS];   /* one bitmap word: n <= 64 */
	struct kvt_key keys[L2_WINDOW];
	size_t idx[L2_WINDOW];          /* each key's index in its kvt_put() */
	struct entry *ents[L2_WINDOW];  /* borrowed, or NULL in staging mode */
	uint32_t slots[L2_WINDOW];      /* staging mode: RESERVED L1 slots */
	uint64_t gens[L2_WINDOW];
};

int l2_open(struct kvt *kvt, char *err, size_t errlen)
{
	const struct kvt_config *cfg = &kvt->cfg;
	struct kvt_l1_desc l1 = {
		.base = kvt->l1.slots.base,
		.bytes = kvt->l1.slots.map_bytes,
		.align_bytes = 4096,
		.chunk_bytes = kvt->chunk_bytes,
		.numa_node = cfg->l1_numa_node,
	};
	int ret;

	kvt->l2reg = mem_zalloc(sizeof(*kvt->l2reg));
	kvt->l2conf = mem_zalloc(sizeof(*kvt->l2conf));
	if (!kvt->l2reg || !kvt->l2conf) {
		l2_close(kvt);
		return -ENOMEM;
	}
	l2_registry_init(kvt->l2reg, l2_builtin_ops);
	if (cfg->l2_plugin_dirs[0])
		l2_registry_load_dirs(kvt->l2reg, cfg->l2_plugin_dirs);
	ret = l2_conf_parse(cfg->l2_adapters, kvt->l2conf, err, errlen);
	if (!ret)
		ret = pool_conf_from_knobs(&kvt->cfg, kvt->l2conf, err, errlen);
	if (ret) {
		l2_close(kvt);
		return ret;
	}
	for (size_t i = 0; i < kvt->l2conf->n; i++) {
		struct kvt_l2_config *c = &kvt->l2conf->cfg[i];
		const struct kvt_l2_ops *ops = l2_registry_find(kvt->l2reg, c->type);
		char why[256];

		if (!ops) {
			char known[256];

			l2_registry_names(kvt->l2reg, known, sizeof(known));
			snprintf(err, errlen, "l2_adapters #%zu: unknown type \"%s\" (known: %s)", i,
				 c->type, known[0] ? known : "none");
			l2_close(kvt);
			return -EINVAL;
		}
		c->ns_seed = &kvt->ns_seed;
		why[0] = '\0';
		ret = ops->create(c, &l1, &kvt->l2[i].a, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "l2_adapters #%zu (%s): %s", i, c->type,
				 why[0] ? why : kvt_strerror(ret));
			l2_close(kvt);
			return ret;
		}
		kvt->l2[i].ops = ops;
		kvt->nl2++;
	}
	kvt->l2_admit_hits = kvt->nl2 ? cfg->l2_admit_after_hits : 0;
	return 0;
}

int l2_start(struct kvt *kvt)
{
	if (!kvt->nl2)
		return 0;
	return actor_start(&kvt->l2done, "l2done", &l2done_actor_ops, kvt, kvt->cfg.mailbox_depth,
			   kvt->cfg.mailbox_wait_ms, kvt->cfg.l1_numa_node);
}

void l2_stop(struct kvt *kvt)
{
	if (kvt->nl2)
		actor_stop(&kvt->l2done);
}

void l2_close(struct kvt *kvt)
{
	while (kvt->nl2) {
		struct l2_tier *t = &kvt->l2[--kvt->nl2];

		t->ops->destroy(t->a);
	}
	if (kvt->l2conf)
		l2_conf_free(kvt->l2conf);
	if (kvt->l2reg)
		l2_registry_fini(kvt->l2reg);
	mem_free(kvt->l2conf);
	mem_free(kvt->l2reg);
	kvt->l2conf = NULL;
	kvt->l2reg = NULL;
}

int kvt_l2_report(struct kvt *kvt, size_t i, const char **type, struct kvt_l2_status *st)
{
	if (!kvt)
		return -EINVAL;
	if (i >= kvt->nl2)
		return -ENOENT;
	if (type)
		*type = kvt->l2[i].ops->type;
	memset(st, 0, sizeof(*st));
	return kvt->l2[i].ops->status(kvt->l2[i].a, st);
}

/* ---- write-through ------------------------------------------------------ */

/*
 * Keys of @p whose L1 copy died while the write ran were removed (eviction
 * cannot take a borrowed entry): delete what the adapters just stored, so
 * a removal is not undone.  A removal racing this delete is harmless.
 */
static void undo_removed(struct kvt *kvt, struct l2_put *p)
{
	struct kvt_key dead[L2_WINDOW];
	size_t k = 0;

	for (size_t i = 0; i < p->n; i++)
		if (p->ents[i] &&
		    (atomic_load_explicit(&p->ents[i]->holds, memory_order_acquire) & HOLD_DEAD))
			dead[k++] = p->keys[i];
	for (uint32_t a = 0; k && a < kvt->nl2; a++)
		kvt->l2[a].ops->remove(kvt->l2[a].a, dead, k, NULL);
	COUNT(kvt, l2_write_dropped, k);
}

void l2done_finish(struct kvt *kvt, struct l2_put *p)
{
	undo_removed(kvt, p);
	for (size_t i = 0; i < p->n; i++) {
		bool everywhere = true;

		for (uint32_t a = 0; a < kvt->nl2; a++)
			everywhere &= (p->stored[a] >> i) & 1;
		if (everywhere) {
			if (p->cb)
				p->cb(p->cb_arg, &p->keys[i], p->idx[i]);
		} else {
			COUNT(kvt, l2_write_errors, 1);
		}
		if (p->ents[i]) {
			kvt_put_entry(kvt, p->ents[i]);
		} else {
			kvt_free_reserved_slot(kvt, &kvt->l1, p->slots[i], p->gens[i]);
			UNCOUNT(kvt, staging_inflight, 1);
		}
	}
	for (uint32_t a = 0; a < kvt->nl2; a++)
		if (p->tasks[a].bytes > 0)
			COUNT(kvt, l2_bytes_in, p->tasks[a].bytes);
	mem_free(p);
	atomic_fetch_sub_explicit(&kvt->l2_windows, 1, memory_order_release);
	atomic_fetch_add_explicit(&kvt->l2_finished_seq, 1, memory_order_release);
	waitword_wake(&kvt->l2_finished_seq);
	kvt_exit(kvt);
}

void l2_flush(struct kvt *kvt)
{
	for (;;) {
		uint32_t seq = atomic_load_explicit(&kvt->l2_finished_seq, memory_order_acquire);

		if (!atomic_load_explicit(&kvt->l2_windows, memory_order_acquire))
			return;
		waitword_wait(&kvt->l2_finished_seq, seq, 100);
	}
}

/* Runs on an adapter thread: must not block. */
static void put_task_done(struct kvt_l2_task *task)
{
	struct l2_put *p = task->arg;
	struct actor_msg m = { .op = L2DONE_FINISH, .ptr = { p } };

	if (p->kvt->metrics)
		kvt_op_done(p->kvt, &p->kvt->metrics->l2_store[task - p->tasks], p->t0);
	if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) != 1)
		return;
	/* window_admit() leaves room for this post: it never waits */
	while (actor_post(&p->kvt->l2done, &m) == -ETIMEDOUT)
		log_error("l2: completion mailbox full, which window_admit() rules out");
}

/*
 * At most mailbox_depth windows are in flight, so the one message each
 * posts to l2done always finds room: an adapter thread finishing a window
 * never waits on l2done, and l2done may therefore wait on adapters (its
 * deletes in undo_removed()) without a cycle.  Putters wait here instead.
 */
static bool window_try_admit(struct kvt *kvt)
{
	/* a ck_ring of depth slots holds depth - 1 messages */
	if (atomic_fetch_add_explicit(&kvt->l2_windows, 1, memory_order_acq_rel) <
	    kvt->cfg.mailbox_depth - 1)
		return true;
	atomic_fetch_sub_explicit(&kvt->l2_windows, 1, memory_order_relaxed);
	return false;
}

static void window_admit(struct kvt *kvt)
{
	for (;;) {
		uint32_t seq = atomic_load_explicit(&kvt->l2_finished_seq, memory_order_acquire);

		if (window_try_admit(kvt))
			return;
		waitword_wait(&kvt->l2_finished_seq, seq, 100);
	}
}

/* Submits admitted window @p (its chunks' bytes at @bufs) to every
 * adapter; l2done_finish() ends it, here if no adapter took it. */
static void window_submit(struct kvt *kvt, struct l2_put *p, const void *const *bufs,
			  const size_t *lens)
{
	uint32_t failed = 0;

	atomic_init(&p->pending, kvt->nl2 + 1);
	p->t0 = kvt_op_start(kvt);
	for (uint32_t a = 0; a < kvt->nl2; a++) {
		struct kvt_l2_task *t = &p->tasks[a];
		int ret;

		t->on_done = put_task_done;
		t->arg = p;
		t->bitmap = &p->stored[a];
		ret = kvt->l2[a].ops->submit_store(kvt->l2[a].a, p->keys, bufs, lens, p->n, t);
		if (ret) {
			log_warn("l2: %s store of %zu chunks not queued: %s", kvt->l2[a].ops->type,
				 p->n, kvt_strerror(ret));
			p->stored[a] = 0;
			failed++;
		}
	}
	/* the +1 above kept the window alive while submitting */
	if (atomic_fetch_sub_explicit(&p->pending, failed + 1, memory_order_acq_rel) ==
	    failed + 1)
		l2done_finish(kvt, p);
}

void l2_write_through(struct kvt *kvt, const struct kvt_key *keys, const void *const *bufs,
		      const size_t *lens, size_t n, struct entry *const *ents,
		      const uint32_t *slots, const uint64_t *gens, kvt_put_cb cb, void *cb_arg,
		      const size_t *idx)
{
	struct l2_put *p = mem_zalloc(sizeof(*p));

	if (!p) {
		/* nothing can be queued: hand everything back now */
		for (size_t i = 0; i < n; i++) {
			COUNT(kvt, l2_write_errors, 1);
			if (ents)
				kvt_put_entry(kvt, ents[i]);
			else {
				kvt_free_reserved_slot(kvt, &kvt->l1, slots[i], gens[i]);
				UNCOUNT(kvt, staging_inflight, 1);
			}
		}
		return;
	}
	p->kvt = kvt;
	p->n = n;
	p->cb = cb;
	p->cb_arg = cb_arg;
	for (size_t i = 0; i < n; i++) {
		p->keys[i] = keys[i];
		p->idx[i] = idx[i];
		p->ents[i] = ents ? ents[i] : NULL;
		if (slots) {
			p->slots[i] = slots[i];
			p->gens[i] = gens[i];
		}
	}
	/* the window is an operation of its own until l2done_finish() */
	atomic_fetch_add_explicit(&kvt_shard(kvt)->active, 1, memory_order_relaxed);
	window_admit(kvt);
	window_submit(kvt, p, bufs, lens);
}

void l2_note_read(struct kvt *kvt, struct entry *e)
{
	uint32_t want = kvt->l2_admit_hits;
	const void *data;
	size_t len;
	struct l2_put *p;

	/* a plain load first: reads of a chunk already admitted (most of them)
	 * leave its hot cache line shared instead of bouncing it */
	if (!want || atomic_load_explicit(&e->reads, memory_order_relaxed) >= want ||
	    atomic_fetch_add_explicit(&e->reads, 1, memory_order_relaxed) != want - 1)
		return;
	data = entry_data(e);
	len = e->len;
	p = mem_zalloc(sizeof(*p));
	if (!p || !window_try_admit(kvt)) {
		mem_free(p);
		atomic_fetch_sub_explicit(&e->reads, 1, memory_order_relaxed);
		return;
	}
	/* the caller's borrow keeps @e alive while this one is taken;
	 * l2done_finish() drops it */
	atomic_fetch_add_explicit(&e->holds, HOLD_BORROW, memory_order_relaxed);
	atomic_fetch_add_explicit(&kvt_shard(kvt)->active, 1, memory_order_relaxed);
	p->kvt = kvt;
	p->n = 1;
	p->keys[0] = e->key;
	p->ents[0] = e;
	COUNT(kvt, l2_admissions, 1);
	window_submit(kvt, p, &data, &len);
}
