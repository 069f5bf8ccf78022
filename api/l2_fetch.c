/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/l2_fetch.c - the fetch that serves gets and prefetches from the L2
 * tiers: look every key up in every adapter at once (lookup locks hits),
 * give each key to the first adapter that has it, load those straight into
 * the caller's buffers, then unlock.
 *
 * Hits are promoted into L1 when L1 is a cache (local_cpu true; in
 * staging-buffer mode L1 holds nothing readable).  A promotion copies every
 * loaded byte again, on the calling thread, which has nothing else to do
 * while the adapters load.  So a fetch that promotes loads in waves of
 * consecutive keys (WAVE_BYTES of buffers each), a task per adapter per
 * wave, every task queued at once, and promotes each wave as soon as its
 * tasks answer, while the adapters load the waves after it.  A warm restart
 * from the fs tier (32 chunks of 3 MiB, files in the page cache) loaded for
 * 12.5 ms, then promoted for 6-8 ms; in 16 waves, the last promotion ends
 * about 0.5 ms after the last load.  Adapters run their tasks in
 * the order queued (the fs adapter takes a load's keys one after the
 * other when the kernel reads them inline, l2/fs/dw_load.c), so the waves
 * answer in order too.
 *
 * Threads: the calling thread, inside kvt_enter(); a task's completion runs
 * on an adapter thread and touches only its wave's join and the metrics.
 */
#include <errno.h>
#include <string.h>

#include "core/instance.h"
#include "core/mem.h"
#include "kvtier/l2.h"

#define PROMOTE_WINDOW 64
/* A promotion is a cache fill on the reader's thread: it waits this long at
 * most for eviction to free an L1 slot, then gives up on the fill. */
#define PROMOTE_WAIT_MS 10
/* Buffers a wave covers: large enough that a task's fixed costs (a job, an
 * event fd write) stay small next to its copies, small enough that the
 * first wave's load and the last wave's promotion, which nothing overlaps,
 * are a small part of a query's. */
#define WAVE_BYTES (4ul << 20)

/* Waiting for a set of tasks on the calling thread. */
struct l2_join {
	_Atomic uint32_t pending;
	struct completion done;
};

/* Per-fetch scratch, one allocation.  A task is (wave, adapter): index
 * w * nl2 + a; it loads positions task_first .. + task_n of adapter a's
 * list, which holds the adapter's keys in key order. */
struct fetch {
	struct kvt *kvt;
	uint32_t nl2;
	size_t n, words, nwaves;
	uint64_t *found;                /* nl2 x words: lookup hits (locked) */
	uint64_t *loaded;               /* every task's bitmap, at task_word */
	size_t *found_len;              /* nl2 x n */
	size_t *loaded_len;             /* nl2 x n, by list position */
	struct kvt_key *sub_keys;       /* nl2 x n: each adapter's list */
	void **sub_bufs;
	size_t *sub_buf_lens;
	size_t *sub_n;                  /* nl2: list lengths */
	size_t *sub_pos;                /* n: key i's position in its adapter's list */
	size_t *wave_start;             /* nwaves + 1: each wave's first key */
	size_t *task_first, *task_n, *task_word;        /* nwaves x nl2 */
	size_t *last_task;              /* nl2: the adapter's last task, for its metric */
	struct kvt_l2_task *tasks;      /* nwaves x nl2; [0, nl2) serve the lookup first */
	struct l2_join *joins;          /* nwaves */
	uint32_t *unsubmitted;          /* nwaves: tasks the adapters refused */
	int8_t *src;                    /* n: the adapter serving key i, or -1 */
	uint64_t load_t0;               /* kvt_op_start() at the load submits */
};

static void join_task_done(struct kvt_l2_task *task)
{
	struct l2_join *j = task->arg;

	if (atomic_fetch_sub_explicit(&j->pending, 1, memory_order_acq_rel) == 1)
		completion_signal(&j->done, 0);
}

/* Wait for the tasks a join counted; @unsubmitted of them were never queued. */
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

/* Waves over @buf_lens (NULL: one wave), each closed once it holds
 * WAVE_BYTES; @starts (NULL: only count) receives each wave's first key
 * and, last, @n (> 0).  Return: the number of waves. */
static size_t waves_of(const size_t *buf_lens, size_t n, size_t *starts)
{
	size_t waves = 0, bytes = 0;

	if (starts)
		starts[0] = 0;
	for (size_t i = 0; i < n; i++) {
		bytes += buf_lens ? buf_lens[i] : 0;
		if (bytes >= WAVE_BYTES || i == n - 1) {
			bytes = 0;
			if (starts)
				starts[waves + 1] = i + 1;
			waves++;
		}
	}
	return waves;
}

/* @buf_lens: the caller's buffers, to load in waves; NULL: in one. */
static struct fetch *fetch_new(struct kvt *kvt, size_t n, const size_t *buf_lens)
{
	uint32_t nl2 = kvt->nl2;
	size_t words = (n + 63) / 64, nwaves = waves_of(buf_lens, n, NULL);
	size_t ntasks = nwaves * nl2;
	size_t bytes = sizeof(struct fetch) +
		       (2 * nl2 * words + ntasks) * sizeof(uint64_t) +
		       nl2 * n * (3 * sizeof(size_t) + sizeof(struct kvt_key) + sizeof(void *)) +
		       (nl2 + n + nwaves + 1 + 3 * ntasks + nl2) * sizeof(size_t) +
		       ntasks * sizeof(struct kvt_l2_task) +
		       nwaves * (sizeof(struct l2_join) + sizeof(uint32_t)) + n;
	struct fetch *f = mem_zalloc(bytes);
	char *p;

	if (!f)
		return NULL;
	f->kvt = kvt;
	f->nl2 = nl2;
	f->n = n;
	f->words = words;
	f->nwaves = nwaves;
	p = (char *)(f + 1);
	/* by alignment, widest first */
#define TAKE(field, count) \
	do { f->field = (void *)p; p += (count) * sizeof(*f->field); } while (0)
	TAKE(found, nl2 * words);
	TAKE(loaded, nl2 * words + ntasks);
	TAKE(found_len, nl2 * n);
	TAKE(loaded_len, nl2 * n);
	TAKE(sub_keys, nl2 * n);
	TAKE(sub_bufs, nl2 * n);
	TAKE(sub_buf_lens, nl2 * n);
	TAKE(sub_n, nl2);
	TAKE(sub_pos, n);
	TAKE(wave_start, nwaves + 1);
	TAKE(task_first, ntasks);
	TAKE(task_n, ntasks);
	TAKE(task_word, ntasks);
	TAKE(last_task, nl2);
	TAKE(tasks, ntasks);
	TAKE(joins, nwaves);
	TAKE(unsubmitted, nwaves);
	TAKE(src, n);
#undef TAKE
	waves_of(buf_lens, n, f->wave_start);
	return f;
}

/* Look @keys up in every adapter at once; hits stay locked. */
static void fetch_lookup(struct fetch *f, const struct kvt_key *keys)
{
	struct kvt *kvt = f->kvt;
	struct l2_join j;
	uint32_t unsubmitted = 0;

	join_init(&j, f->nl2);
	for (uint32_t a = 0; a < f->nl2; a++) {
		struct kvt_l2_task *t = &f->tasks[a];

		memset(t, 0, sizeof(*t));
		t->on_done = join_task_done;
		t->arg = &j;
		t->bitmap = &f->found[a * f->words];
		t->lens = &f->found_len[a * f->n];
		if (kvt->l2[a].ops->submit_lookup(kvt->l2[a].a, keys, f->n, t)) {
			memset(t->bitmap, 0, f->words * sizeof(uint64_t));
			unsubmitted++;
		}
	}
	join_wait(&j, unsubmitted);
}

/* Give each key to the first adapter that found it whole in its buffer,
 * appending it to that adapter's list and to its wave's task; with
 * @prefix, none past the first key no adapter has. */
static void fetch_assign(struct fetch *f, const struct kvt_key *keys, void *const *bufs,
			 const size_t *buf_lens, bool prefix)
{
	size_t n = f->n, w = 0;

	for (size_t i = 0; i < n; i++) {
		f->src[i] = -1;
		if (i == f->wave_start[w + 1])
			w++;
		if (prefix && i && f->src[i - 1] < 0)
			continue;
		for (uint32_t a = 0; a < f->nl2 && f->src[i] < 0; a++) {
			size_t at = a * n, k, ti = w * f->nl2 + a;

			if (!kvt_l2_bit(&f->found[a * f->words], i) || f->found_len[at + i] > buf_lens[i])
				continue;
			f->src[i] = (int8_t)a;
			k = f->sub_n[a]++;
			f->sub_keys[at + k] = keys[i];
			f->sub_bufs[at + k] = bufs[i];
			f->sub_buf_lens[at + k] = buf_lens[i];
			f->sub_pos[i] = k;
			if (!f->task_n[ti]++)
				f->task_first[ti] = k;
			f->last_task[a] = ti;
		}
	}
}

/* A load task finished: the adapter's load time once its last is in, then
 * the wave's join (after which @task's fetch may be gone). */
static void load_task_done(struct kvt_l2_task *task)
{
	struct fetch *f = task->arg;
	size_t ti = (size_t)(task - f->tasks);
	uint32_t a = (uint32_t)(ti % f->nl2);

	if (f->kvt->metrics && ti == f->last_task[a])
		kvt_op_done(f->kvt, &f->kvt->metrics->l2_load[a], f->load_t0);
	task->arg = &f->joins[ti / f->nl2];
	join_task_done(task);
}

/* Queue every wave's tasks, in order; each wave is waited for on its own. */
static void fetch_load(struct fetch *f)
{
	struct kvt *kvt = f->kvt;
	size_t words_at = 0;

	f->load_t0 = kvt_op_start(kvt);
	for (size_t w = 0; w < f->nwaves; w++) {
		uint32_t tasks = 0;

		for (uint32_t a = 0; a < f->nl2; a++)
			tasks += f->task_n[w * f->nl2 + a] > 0;
		join_init(&f->joins[w], tasks);
		for (uint32_t a = 0; a < f->nl2; a++) {
			size_t ti = w * f->nl2 + a, at = a * f->n + f->task_first[ti];
			struct kvt_l2_task *t = &f->tasks[ti];

			if (!f->task_n[ti])
				continue;
			memset(t, 0, sizeof(*t));
			t->on_done = load_task_done;
			t->arg = f;
			t->bitmap = &f->loaded[words_at];
			t->lens = &f->loaded_len[at];
			f->task_word[ti] = words_at;
			words_at += (f->task_n[ti] + 63) / 64;
			if (kvt->l2[a].ops->submit_load(kvt->l2[a].a, &f->sub_keys[at],
							&f->sub_bufs[at], &f->sub_buf_lens[at],
							f->task_n[ti], t)) {
				memset(t->bitmap, 0, (f->task_n[ti] + 63) / 64 * sizeof(uint64_t));
				f->unsubmitted[w]++;
			}
		}
	}
}

/* Bytes key @i (of wave @w) loaded; 0: a miss.  Its task has answered. */
static size_t loaded_len_of(const struct fetch *f, size_t i, size_t w)
{
	int a = f->src[i];
	size_t ti, k;

	if (a < 0)
		return 0;
	ti = w * f->nl2 + (size_t)a;
	k = f->sub_pos[i];
	return kvt_l2_bit(&f->loaded[f->task_word[ti]], k - f->task_first[ti]) ?
		       f->loaded_len[(size_t)a * f->n + k] : 0;
}

static void fetch_unlock(struct fetch *f, const struct kvt_key *keys)
{
	struct kvt *kvt = f->kvt;

	/* the lists' keys are no longer needed: reuse them */
	for (uint32_t a = 0; a < f->nl2; a++) {
		size_t at = a * f->n, k = 0;

		for (size_t i = 0; i < f->n; i++)
			if (kvt_l2_bit(&f->found[a * f->words], i))
				f->sub_keys[at + k++] = keys[i];
		if (k)
			kvt->l2[a].ops->unlock(kvt->l2[a].a, &f->sub_keys[at], k);
	}
}

static void promote(struct kvt *kvt, const struct kvt_key *keys, void *const *bufs,
		    const size_t *out_lens, size_t n)
{
	const void *srcs[PROMOTE_WINDOW];
	struct kvt_key ks[PROMOTE_WINDOW];
	size_t lens[PROMOTE_WINDOW], k = 0;
	int res[PROMOTE_WINDOW];

	for (size_t i = 0; i <= n; i++) {
		if (k == PROMOTE_WINDOW || (i == n && k)) {
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
	size_t loaded = 0, bytes = 0;
	bool cut = false;
	struct fetch *f;

	for (size_t i = 0; i < n; i++)
		out_lens[i] = 0;
	if (!kvt->nl2 || !n)
		return 0;
	f = fetch_new(kvt, n, kvt->cfg.local_cpu ? buf_lens : NULL);
	if (!f)
		return -ENOMEM;
	fetch_lookup(f, keys);
	fetch_assign(f, keys, bufs, buf_lens, prefix);
	fetch_load(f);
	for (size_t w = 0; w < f->nwaves; w++) {
		size_t from = f->wave_start[w], to = f->wave_start[w + 1];

		join_wait(&f->joins[w], f->unsubmitted[w]);
		for (size_t i = from; i < to; i++) {
			/* with @prefix, a key loaded past the first miss is not part of it */
			out_lens[i] = cut ? 0 : loaded_len_of(f, i, w);
			cut |= prefix && !out_lens[i];
			loaded += out_lens[i] > 0;
			bytes += out_lens[i];
		}
		if (w == f->nwaves - 1)
			fetch_unlock(f, keys);
		if (kvt->cfg.local_cpu)
			promote(kvt, keys + from, bufs + from, out_lens + from, to - from);
	}
	COUNT(kvt, l2_hits, loaded);
	COUNT(kvt, l2_misses, (prefix ? (loaded < n) : n - loaded));
	COUNT(kvt, l2_bytes_out, bytes);
	mem_free(f);
	return (ssize_t)loaded;
}

size_t l2_contains_prefix(struct kvt *kvt, const struct kvt_key *keys, size_t n)
{
	struct fetch *f;
	size_t hits = 0;

	if (!kvt->nl2 || !n)
		return 0;
	f = fetch_new(kvt, n, NULL);
	if (!f)
		return 0;
	fetch_lookup(f, keys);
	for (; hits < n; hits++) {
		bool found = false;

		for (uint32_t a = 0; a < kvt->nl2 && !found; a++)
			found = kvt_l2_bit(&f->found[a * f->words], hits);
		if (!found)
			break;
	}
	fetch_unlock(f, keys);
	mem_free(f);
	return hits;
}
