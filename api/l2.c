/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/l2.c - the L2 tiers of an instance: the adapters of l2_adapters (in
 * priority order), the write-through of puts to every adapter, and the
 * fetch that serves gets and prefetches from them.
 *
 * Write-through: one task per adapter per put window, with the chunk's
 * memory held (an L1 borrow, or a staging slot) until every adapter has
 * answered; the last answer hands the window to the l2done actor, which
 * fires the callbacks and lets the memory go.  Each window is one
 * kvt_enter() operation, so kvt_close() waits for every queued write.
 *
 * Fetch: look every key up in every adapter at once (lookup locks hits),
 * give each key to the first adapter that has it, load all those at once
 * straight into the caller's buffers, then unlock.  Hits are promoted into
 * L1 only when L1 is a cache (local_cpu true): in staging-buffer mode L1
 * holds nothing readable.
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
/* A promotion is a cache fill on the reader's thread: it waits this long at
 * most for eviction to free an L1 slot, then gives up on the fill. */
#define PROMOTE_WAIT_MS 10

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

/* Waiting for a set of tasks on the calling thread. */
struct l2_join {
	_Atomic uint32_t pending;
	struct completion done;
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

/* ---- fetch ------------------------------------------------------------- */

static void join_task_done(struct kvt_l2_task *task)
{
	struct l2_join *j = task->arg;

	if (atomic_fetch_sub_explicit(&j->pending, 1, memory_order_acq_rel) == 1)
		completion_signal(&j->done, 0);
}

/* Wait for the tasks a join counted; @submitted more were never queued. */
static void join_wait(struct l2_join *j, uint32_t unsubmitted)
{
	if (atomic_fetch_sub_explicit(&j->pending, unsubmitted + 1, memory_order_acq_rel) !=
	    unsubmitted + 1)
		completion_wait(&j->done);
}

static void join_init(struct l2_join *j, uint32_t tasks)
{
	/* +1: the submitter's own hold, so no task can finish the join early */
	atomic_init(&j->pending, tasks + 1);
	completion_init(&j->done);
}

/* Per-fetch scratch, one allocation. */
struct fetch {
	size_t words;
	uint64_t *found;        /* nl2 x words: lookup hits (locked) */
	size_t *found_len;      /* nl2 x n */
	uint64_t *loaded;       /* nl2 x words */
	size_t *loaded_len;     /* nl2 x n */
	int8_t *src;            /* n: the adapter serving key i, or -1 */
	struct kvt_key *sub_keys;       /* nl2 x n: each adapter's keys to load */
	void **sub_bufs;
	size_t *sub_buf_lens;
	size_t *sub_idx;
	size_t *sub_n;          /* nl2 */
	struct kvt_l2_task *tasks;      /* nl2 */
	struct kvt *kvt;
	struct l2_join *load_join;      /* fetch_load()'s, while it waits */
	uint64_t load_t0;               /* kvt_op_start() at the load submits */
};

static struct fetch *fetch_new(uint32_t nl2, size_t n)
{
	size_t words = (n + 63) / 64;
	size_t bytes = sizeof(struct fetch) + nl2 * words * 2 * sizeof(uint64_t) +
		       nl2 * n * (2 * sizeof(size_t) + sizeof(struct kvt_key) + sizeof(void *) +
				  2 * sizeof(size_t)) +
		       nl2 * (sizeof(size_t) + sizeof(struct kvt_l2_task)) + n;
	struct fetch *f = mem_zalloc(bytes);
	char *p;

	if (!f)
		return NULL;
	f->words = words;
	p = (char *)(f + 1);
#define TAKE(field, count) \
	do { f->field = (void *)p; p += (count) * sizeof(*f->field); } while (0)
	TAKE(found, nl2 * words);
	TAKE(loaded, nl2 * words);
	TAKE(found_len, nl2 * n);
	TAKE(loaded_len, nl2 * n);
	TAKE(sub_keys, nl2 * n);
	TAKE(sub_bufs, nl2 * n);
	TAKE(sub_buf_lens, nl2 * n);
	TAKE(sub_idx, nl2 * n);
	TAKE(sub_n, nl2);
	TAKE(tasks, nl2);
	TAKE(src, n);
#undef TAKE
	return f;
}

/* Look @keys up in every adapter at once; hits stay locked. */
static void fetch_lookup(struct kvt *kvt, struct fetch *f, const struct kvt_key *keys,
			 size_t n)
{
	struct l2_join j;
	uint32_t unsubmitted = 0;

	join_init(&j, kvt->nl2);
	for (uint32_t a = 0; a < kvt->nl2; a++) {
		struct kvt_l2_task *t = &f->tasks[a];

		memset(t, 0, sizeof(*t));
		t->on_done = join_task_done;
		t->arg = &j;
		t->bitmap = &f->found[a * f->words];
		t->lens = &f->found_len[a * n];
		if (kvt->l2[a].ops->submit_lookup(kvt->l2[a].a, keys, n, t)) {
			memset(t->bitmap, 0, f->words * sizeof(uint64_t));
			unsubmitted++;
		}
	}
	join_wait(&j, unsubmitted);
}

/* A load task finished: time it per adapter, then the join. */
static void load_task_done(struct kvt_l2_task *task)
{
	struct fetch *f = task->arg;

	if (f->kvt->metrics)
		kvt_op_done(f->kvt, &f->kvt->metrics->l2_load[task - f->tasks], f->load_t0);
	task->arg = f->load_join;
	join_task_done(task);
}

/* Load each adapter's share straight into the caller's buffers. */
static void fetch_load(struct kvt *kvt, struct fetch *f, size_t n)
{
	struct l2_join j;
	uint32_t unsubmitted = 0, tasks = 0;

	for (uint32_t a = 0; a < kvt->nl2; a++)
		tasks += f->sub_n[a] > 0;
	join_init(&j, tasks);
	f->kvt = kvt;
	f->load_join = &j;
	f->load_t0 = kvt_op_start(kvt);
	for (uint32_t a = 0; a < kvt->nl2; a++) {
		struct kvt_l2_task *t = &f->tasks[a];
		size_t at = a * n;

		if (!f->sub_n[a])
			continue;
		memset(t, 0, sizeof(*t));
		t->on_done = load_task_done;
		t->arg = f;
		t->bitmap = &f->loaded[a * f->words];
		t->lens = &f->loaded_len[at];
		if (kvt->l2[a].ops->submit_load(kvt->l2[a].a, &f->sub_keys[at], &f->sub_bufs[at],
						&f->sub_buf_lens[at], f->sub_n[a], t)) {
			memset(t->bitmap, 0, f->words * sizeof(uint64_t));
			unsubmitted++;
		}
	}
	join_wait(&j, unsubmitted);
}

static void fetch_unlock(struct kvt *kvt, struct fetch *f, const struct kvt_key *keys,
			 size_t n)
{
	for (uint32_t a = 0; a < kvt->nl2; a++) {
		size_t at = a * n, k = 0;

		for (size_t i = 0; i < n; i++)
			if (kvt_l2_bit(&f->found[a * f->words], i))
				f->sub_keys[at + k++] = keys[i];
		if (k)
			kvt->l2[a].ops->unlock(kvt->l2[a].a, &f->sub_keys[at], k);
	}
}

static void promote(struct kvt *kvt, const struct kvt_key *keys, void *const *bufs,
		    const size_t *out_lens, size_t n)
{
	const void *srcs[L2_WINDOW];
	struct kvt_key ks[L2_WINDOW];
	size_t lens[L2_WINDOW], k = 0;
	int res[L2_WINDOW];

	for (size_t i = 0; i <= n; i++) {
		if (k == L2_WINDOW || (i == n && k)) {
			kvt_fill_tier(kvt, &kvt->l1, ks, srcs, lens, k, res,
				      PROMOTE_WAIT_MS < kvt->cfg.put_wait_ms ? PROMOTE_WAIT_MS :
									       kvt->cfg.put_wait_ms);
			for (size_t j = 0; j < k; j++)
				if (res[j] == 0)
					COUNT(kvt, l2_promotions, 1);
			k = 0;
		}
		if (i < n && out_lens[i]) {
			ks[k] = keys[i];
			srcs[k] = bufs[i];
			lens[k++] = out_lens[i];
		}
	}
}

ssize_t l2_fetch(struct kvt *kvt, const struct kvt_key *keys, size_t n, void *const *bufs,
		 const size_t *buf_lens, size_t *out_lens, bool prefix)
{
	struct fetch *f;
	size_t loaded = 0, bytes = 0;

	for (size_t i = 0; i < n; i++)
		out_lens[i] = 0;
	if (!kvt->nl2 || !n)
		return 0;
	f = fetch_new(kvt->nl2, n);
	if (!f)
		return -ENOMEM;
	fetch_lookup(kvt, f, keys, n);
	for (size_t i = 0; i < n; i++) {
		f->src[i] = -1;
		if (prefix && i && f->src[i - 1] < 0)
			continue;
		for (uint32_t a = 0; a < kvt->nl2 && f->src[i] < 0; a++) {
			size_t at = a * n, k;

			if (!kvt_l2_bit(&f->found[a * f->words], i) ||
			    f->found_len[at + i] > buf_lens[i])
				continue;
			f->src[i] = (int8_t)a;
			k = f->sub_n[a]++;
			f->sub_keys[at + k] = keys[i];
			f->sub_bufs[at + k] = bufs[i];
			f->sub_buf_lens[at + k] = buf_lens[i];
			f->sub_idx[at + k] = i;
		}
	}
	fetch_load(kvt, f, n);
	fetch_unlock(kvt, f, keys, n);
	for (uint32_t a = 0; a < kvt->nl2; a++) {
		for (size_t k = 0; k < f->sub_n[a]; k++) {
			size_t i = f->sub_idx[a * n + k];

			if (kvt_l2_bit(&f->loaded[a * f->words], k))
				out_lens[i] = f->loaded_len[a * n + k];
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!out_lens[i]) {
			if (prefix) {
				/* a key loaded past the first miss is not part of the prefix */
				for (size_t j = i; j < n; j++)
					out_lens[j] = 0;
				break;
			}
			continue;
		}
		loaded++;
		bytes += out_lens[i];
	}
	COUNT(kvt, l2_hits, loaded);
	COUNT(kvt, l2_misses, (prefix ? (loaded < n) : n - loaded));
	COUNT(kvt, l2_bytes_out, bytes);
	mem_free(f);
	if (loaded && kvt->cfg.local_cpu)
		promote(kvt, keys, bufs, out_lens, n);
	return (ssize_t)loaded;
}

size_t l2_contains_prefix(struct kvt *kvt, const struct kvt_key *keys, size_t n)
{
	struct fetch *f;
	size_t hits = 0;

	if (!kvt->nl2 || !n)
		return 0;
	f = fetch_new(kvt->nl2, n);
	if (!f)
		return 0;
	fetch_lookup(kvt, f, keys, n);
	for (; hits < n; hits++) {
		bool found = false;

		for (uint32_t a = 0; a < kvt->nl2 && !found; a++)
			found = kvt_l2_bit(&f->found[a * f->words], hits);
		if (!found)
			break;
	}
	fetch_unlock(kvt, f, keys, n);
	mem_free(f);
	return hits;
}
