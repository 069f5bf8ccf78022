/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/worker.c - one stress thread: mixed operations over
 * the keyspace until the deadline.
 *
 * Every read is verified (payload.c).  Every return code is checked
 * against the contract in kvtier.h: codes the header allows under load
 * (-ENOSPC, -ETIMEDOUT) are counted as pressure, anything else is a
 * failure, and so is a broken contract (a put callback that fires for a
 * duplicate, a per-key result left unwritten, a pinned key that a
 * non-forced remove did not refuse).
 *
 * Pins and forced removes.  Pins are counted per entry but kvt_unpin()
 * names a key, so once a pinned entry is force-removed (or its pins expire
 * under pin_ttl_ms) the pinner's later unpin may land on a newer entry of
 * that key and take someone else's pin.  So forced removes only ever name
 * odd key ids, and the strict pin checks (a key I pin stays present and a
 * non-forced remove of it is refused) apply to even ids when pin_ttl_ms is
 * 0.  For the end-of-run accounting each pin session brackets its keys with
 * pin_started / pin_finished, and a forced remove adds to
 * removed_pin_bound how many pins it may have dropped.
 *
 * Borrow across a remove.  A borrower may offer its key in w->offer; a
 * remover claims it with a CAS, removes the key and marks it done, and the
 * borrower re-verifies its bytes after that remove returned.
 *
 * Tiers.  With DAX in tiered mode a key may have a copy in L1 and in DAX,
 * and a pin pins every copy, so kvtier counts pins and unpins per copy
 * while kvt_contains() and kvt_unpin() return keys; main's accounting
 * allows for that.  Put callbacks then fire on the DAX writer after
 * kvt_put() returned: see struct put_track.
 *
 * With the fs L2 tier, puts are written through to disk and the callbacks
 * fire once the file is written (on the L2 completion actor), or never if
 * the write failed; reads that miss L1 come from disk; kvt_contains()
 * continues the prefix on disk without pinning what it finds there, so a
 * pinner cannot tell which of its keys it pinned, and the strict pin checks
 * are off; a remove may leave a key's file (-EAGAIN), forced or not, when
 * a concurrent lookup or load holds it locked.  The resp tier
 * (Redis) behaves the same for the workers: its lookups lock values
 * locally, so a remove of a key a load holds is refused too.  So does the
 * pool tier, whose lookups pin keys in the daemon, for every process: with
 * several processes on one keyspace a remove may find a key another
 * process's load pinned, and an L1 copy may be an older version than the
 * pool holds (another process removed and stored the key again); any
 * version handed out, by any process, verifies.
 *
 * Threads: worker_main() runs on its own thread and owns its struct
 * worker; other threads touch only the [atomic] fields.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/stress.h"

#define REPORT_LIMIT 40
#define RESULT_UNSET 0x5a5a5a5a
#define LEN_UNSET ((size_t)0xdeadbeefull)

const char *const stress_op_names[OP_N] = {
	[OP_PUT] = "put",         [OP_GET] = "get",
	[OP_CONTAINS] = "contains", [OP_PIN] = "pin/unpin",
	[OP_REMOVE] = "remove",   [OP_BORROW] = "borrow",
	[OP_RESERVE] = "reserve", [OP_PREFETCH] = "prefetch",
	[OP_FLUSH] = "flush",
};

void stress_report(struct stress *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n, m;

	if (atomic_fetch_add_explicit(&s->reports, 1, memory_order_relaxed) >= REPORT_LIMIT)
		return;
	/* who says it: a pool engine process's "proc N: " */
	m = snprintf(line, sizeof(line) - 1, "%s", s->who);
	va_start(ap, fmt);
	n = vsnprintf(line + m, sizeof(line) - 1 - (size_t)m, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* one write per message, so threads do not interleave */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void stress_fail(struct stress *s, struct worker *w, enum stress_op op, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	atomic_fetch_add_explicit(&s->v->failures, 1, memory_order_relaxed);
	if (w)
		atomic_fetch_add_explicit(&w->op[op].errors, 1, memory_order_relaxed);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	stress_report(s, "FAIL %s (thread %d): %s", stress_op_names[op], w ? (int)w->idx : -1,
		      msg);
}

void stress_drain_event_fd(struct stress *s)
{
	uint64_t n;

	/* nonblocking: -EAGAIN when another thread read the count first */
	if (read(kvt_event_fd(s->kvt), &n, sizeof(n)) == sizeof(n))
		atomic_fetch_add_explicit(&s->evfd_total, n, memory_order_relaxed);
}

/* ---- helpers ---- */

static uint32_t rnd_below(struct worker *w, uint32_t n)
{
	return (uint32_t)(((prng_next(&w->rng) >> 32) * (uint64_t)n) >> 32);
}

static bool stopping(const struct stress *s)
{
	return atomic_load_explicit(&s->stop, memory_order_relaxed) != 0;
}

/*
 * Keys for contention: one pick in eight from the first 8 ids (every thread
 * races on them), three in eight from a hot eighth of the keyspace, the
 * rest uniform, so most of the keyspace still cycles through eviction.
 */
static uint64_t pick_key(struct worker *w)
{
	uint32_t n = w->s->nkeys, hot = n / 8 ? n / 8 : 1, r = rnd_below(w, 8);

	if (r == 0)
		return rnd_below(w, n < 8 ? n : 8);
	return r < 4 ? rnd_below(w, hot) : rnd_below(w, n);
}

/* An odd key id: the only ones forced removes name. */
static uint64_t pick_odd_key(struct worker *w)
{
	uint64_t id = pick_key(w) | 1;

	return id < w->s->nkeys ? id : 1;
}

/* @n ids: consecutive from a random base (a chained prefix) or random. */
static void pick_keys(struct worker *w, uint64_t *ids, struct kvt_key *keys, size_t n,
		      bool chain)
{
	uint64_t base = pick_key(w);

	for (size_t i = 0; i < n; i++) {
		ids[i] = chain ? (base + i) % w->s->nkeys : pick_key(w);
		keys[i] = stress_key(ids[i]);
	}
}

static size_t batch_len(struct worker *w)
{
	return 1 + rnd_below(w, STRESS_MAX_BATCH);
}

static bool pressure_code(int err)
{
	return err == -ENOSPC || err == -ETIMEDOUT;
}

static void count_op(struct worker *w, enum stress_op op, size_t keys, size_t hits)
{
	atomic_fetch_add_explicit(&w->op[op].ops, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->op[op].keys, keys, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->op[op].hits, hits, memory_order_relaxed);
}

static void count_pressure(struct worker *w, enum stress_op op)
{
	atomic_fetch_add_explicit(&w->op[op].pressure, 1, memory_order_relaxed);
}

static void hold_a_while(struct worker *w)
{
	struct timespec ts = { 0, 0 };

	switch (rnd_below(w, 4)) {
	case 0:
		break;
	case 1:
		sched_yield();
		break;
	default:
		ts.tv_nsec = (long)rnd_below(w, 200) * 1000;
		nanosleep(&ts, NULL);
	}
}

/* With L2 a pinned prefix may hold unpinned L2 hits (see the file comment). */
static bool strict_pins(const struct stress *s)
{
	return s->o.pin_ttl_ms == 0 && !s->l2;
}

/* ---- put ---- */

static void put_cb(void *arg, const struct kvt_key *key, size_t index)
{
	struct put_track *t = arg;
	uint32_t bit, was;

	if (pthread_equal(pthread_self(), t->caller))
		atomic_fetch_add_explicit(&t->on_caller, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&t->off_caller, 1, memory_order_relaxed);
	if (index >= t->n || key->lo != t->keys[index].lo || key->hi != t->keys[index].hi) {
		atomic_store_explicit(&t->bad_key, 1, memory_order_relaxed);
		return;
	}
	bit = 1u << index;
	was = atomic_fetch_or_explicit(&t->fired, bit, memory_order_relaxed);
	if (was & bit)
		atomic_fetch_or_explicit(&t->twice, bit, memory_order_relaxed);
}

void put_track_settle(struct worker *w, struct put_track *t)
{
	struct stress *s = w->s;
	uint32_t fired = atomic_load_explicit(&t->fired, memory_order_relaxed);
	uint32_t twice = atomic_load_explicit(&t->twice, memory_order_relaxed);
	uint32_t on = atomic_load_explicit(&t->on_caller, memory_order_relaxed);
	uint32_t off = atomic_load_explicit(&t->off_caller, memory_order_relaxed);
	bool bad = atomic_load_explicit(&t->bad_key, memory_order_relaxed);

	if (!t->pending)
		return;
	t->pending = false;
	w->acct.cb_fired += (uint64_t)__builtin_popcount(fired);
	if ((fired & ~t->want) || twice || bad)
		stress_fail(s, w, OP_PUT, "callbacks fired for mask %#x (twice %#x%s), stored mask %#x",
			    fired, twice, bad ? ", wrong key or index" : "", t->want);
	if (s->async_cb) {
		/* a stored key whose DAX or L2 write failed gets no callback, and
		 * is counted in dax_write_errors or l2_write_errors: main compares
		 * the totals */
		w->acct.cb_missing += (uint64_t)__builtin_popcount(t->want & ~fired);
		/* an L2 write may finish before kvt_put() returns: the calling
		 * thread then finishes the window and fires its callbacks */
		if (on && !s->l2)
			stress_fail(s, w, OP_PUT, "%u tiered put callbacks ran on the calling thread, "
				    "not the DAX writer", on);
	} else {
		if (fired != t->want)
			stress_fail(s, w, OP_PUT, "callbacks fired for mask %#x, stored mask %#x",
				    fired, t->want);
		if (off)
			stress_fail(s, w, OP_PUT, "%u put callbacks ran on another thread, not the "
				    "calling one", off);
	}
}

/*
 * A free track for the next put.  In tiered mode the oldest may still be
 * owed callbacks: one kvt_flush() then settles every pending track.
 */
static struct put_track *put_track_next(struct worker *w)
{
	struct put_track *t = &w->tracks[w->next_track];
	int ret;

	if (t->pending) {
		/* -ETIMEDOUT: the DAX writer's mailbox stayed full; callbacks may
		 * still fire into the tracks, so none can be reused until a flush */
		while ((ret = kvt_flush(w->s->kvt)) == -ETIMEDOUT)
			count_pressure(w, OP_FLUSH);
		if (ret)
			stress_fail(w->s, w, OP_FLUSH, "kvt_flush (to settle put callbacks) = %d (%s)",
				    ret, kvt_strerror(ret));
		w->acct.track_flushes++;
		for (unsigned int i = 0; i < PUT_TRACKS; i++)
			put_track_settle(w, &w->tracks[i]);
	}
	w->next_track = (w->next_track + 1) % PUT_TRACKS;
	return t;
}

static void op_put(struct worker *w)
{
	struct stress *s = w->s;
	struct put_track *t = put_track_next(w);
	uint64_t ids[STRESS_MAX_BATCH];
	const void *bufs[STRESS_MAX_BATCH];
	size_t lens[STRESS_MAX_BATCH], n = batch_len(w), stored = 0;
	int results[STRESS_MAX_BATCH];
	ssize_t ret;

	pick_keys(w, ids, t->keys, n, prng_next(&w->rng) & 1);
	t->n = n;
	t->caller = pthread_self();
	t->want = 0;
	atomic_store_explicit(&t->fired, 0, memory_order_relaxed);
	atomic_store_explicit(&t->twice, 0, memory_order_relaxed);
	atomic_store_explicit(&t->bad_key, 0, memory_order_relaxed);
	atomic_store_explicit(&t->on_caller, 0, memory_order_relaxed);
	atomic_store_explicit(&t->off_caller, 0, memory_order_relaxed);
	for (size_t i = 0; i < n; i++) {
		uint64_t v = atomic_fetch_add_explicit(&s->next_version[ids[i]], 1,
						       memory_order_acq_rel) + 1;

		bufs[i] = w->put_buf + i * s->chunk;
		payload_fill(s, w->put_buf + i * s->chunk, ids[i], v);
		lens[i] = stress_len(s, ids[i], v);
		results[i] = RESULT_UNSET;
	}
	ret = kvt_put(s->kvt, t->keys, bufs, lens, n, results, put_cb, t);
	if (ret < 0) {
		stress_fail(s, w, OP_PUT, "kvt_put(%zu keys) = %zd (%s)", n, ret,
			    kvt_strerror((int)ret));
		count_op(w, OP_PUT, n, 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int r = results[i];

		if (r == 0) {
			stored++;
			t->want |= 1u << i;
			w->acct.put_stored++;
		} else if (r == 1) {
			w->acct.put_dups++;
		} else if (r < 0) {
			w->acct.put_errors++;
			w->acct.put_timeouts += r == -ETIMEDOUT;
			if (pressure_code(r))
				count_pressure(w, OP_PUT);
			else
				stress_fail(s, w, OP_PUT, "key %" PRIu64 " (%zu bytes): result %d (%s)",
					    ids[i], lens[i], r, kvt_strerror(r));
		} else {
			stress_fail(s, w, OP_PUT, "key %" PRIu64 ": result %d %s", ids[i], r,
				    r == RESULT_UNSET ? "(never written)" : "(not 0, 1 or -errno)");
		}
	}
	if ((size_t)ret != stored)
		stress_fail(s, w, OP_PUT, "returned %zd but %zu results are 0", ret, stored);
	/* L1 only and DAX primary: every callback fired before kvt_put returned */
	t->pending = true;
	if (!s->async_cb)
		put_track_settle(w, t);
	count_op(w, OP_PUT, n, stored);
}

/* ---- get ---- */

static void op_get(struct worker *w)
{
	struct stress *s = w->s;
	struct kvt_key keys[STRESS_MAX_BATCH];
	uint64_t ids[STRESS_MAX_BATCH];
	void *bufs[STRESS_MAX_BATCH];
	size_t buf_lens[STRESS_MAX_BATCH], out_lens[STRESS_MAX_BATCH], n = batch_len(w);
	size_t hits = 0;
	ssize_t ret;

	pick_keys(w, ids, keys, n, prng_next(&w->rng) & 1);
	for (size_t i = 0; i < n; i++) {
		bufs[i] = w->get_buf + i * s->chunk;
		/* now and then a buffer too small for a full chunk: a hole */
		buf_lens[i] = rnd_below(w, 8) ? s->chunk : s->chunk / 2;
		out_lens[i] = LEN_UNSET;
	}
	ret = kvt_get(s->kvt, keys, n, bufs, buf_lens, out_lens);
	if (ret == -ETIMEDOUT) {
		/* a DAX batch restore timed out: its chunks are holes, the rest
		 * was copied and must still verify */
		count_pressure(w, OP_GET);
	} else if (ret < 0) {
		stress_fail(s, w, OP_GET, "kvt_get(%zu keys) = %zd (%s)", n, ret,
			    kvt_strerror((int)ret));
		count_op(w, OP_GET, n, 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (out_lens[i] == LEN_UNSET) {
			stress_fail(s, w, OP_GET, "key %" PRIu64 ": out_lens[%zu] never written",
				    ids[i], i);
			continue;
		}
		if (!out_lens[i])
			continue;
		hits++;
		if (out_lens[i] > buf_lens[i]) {
			stress_fail(s, w, OP_GET, "key %" PRIu64 ": %zu bytes into a %zu-byte buffer",
				    ids[i], out_lens[i], buf_lens[i]);
			continue;
		}
		w->acct.reads++;
		w->acct.read_bytes += out_lens[i];
		payload_check(s, "get", bufs[i], out_lens[i], ids[i]);
	}
	if (ret >= 0 && (size_t)ret != hits)
		stress_fail(s, w, OP_GET, "returned %zd but %zu out_lens are set", ret, hits);
	if (ret >= 0)
		w->acct.misses += n - hits;
	count_op(w, OP_GET, n, hits);
}

/* ---- contains, pins ---- */

static void op_contains(struct worker *w)
{
	struct stress *s = w->s;
	struct kvt_key keys[STRESS_MAX_BATCH];
	uint64_t ids[STRESS_MAX_BATCH];
	size_t n = batch_len(w);
	ssize_t ret;

	pick_keys(w, ids, keys, n, true);
	ret = kvt_contains(s->kvt, keys, n, 0);
	if (ret < 0 || (size_t)ret > n) {
		stress_fail(s, w, OP_CONTAINS, "kvt_contains(%zu keys) = %zd", n, ret);
		ret = 0;
	}
	count_op(w, OP_CONTAINS, n, (size_t)ret);
}

/*
 * The pinned key @id must be refused by a non-forced remove.  Strict for
 * even ids without pin_ttl_ms (see the file comment); elsewhere a pin may be
 * gone, and that is counted, not failed.
 */
static void check_pinned_remove(struct worker *w, uint64_t id, const char *when)
{
	struct stress *s = w->s;
	struct kvt_key key = stress_key(id);
	int res = RESULT_UNSET;
	ssize_t ret;

	ret = kvt_remove(s->kvt, &key, 1, 0, &res);
	if (ret == -ETIMEDOUT) {
		count_pressure(w, OP_PIN);
		return;
	}
	if (ret < 0 || ret > 1 || (ret == 1) != (res == 0)) {
		stress_fail(s, w, OP_PIN, "kvt_remove(pinned key %" PRIu64 ") = %zd, result %d",
			    id, ret, res);
		return;
	}
	w->acct.removes += (uint64_t)ret;
	if (res == -EBUSY) {
		w->acct.remove_refused++;
		return;
	}
	if (res == -EAGAIN && s->l2) {
		w->acct.remove_l2_locked++;
		return;
	}
	if (res != 0 && res != -ENOENT) {
		stress_fail(s, w, OP_PIN, "remove of pinned key %" PRIu64 ": result %d (%s)", id,
			    res, kvt_strerror(res));
		return;
	}
	if (strict_pins(s) && !(id & 1))
		stress_fail(s, w, OP_PIN, "non-forced remove of key %" PRIu64
			    " I hold pinned (%s) gave %d (%s), not -EBUSY", id, when, res,
			    kvt_strerror(res));
	else
		w->acct.pins_lost++;
}

/* An even key I pinned must still be found (pinned entries are not evicted). */
static void check_pinned_present(struct worker *w, uint64_t id)
{
	struct stress *s = w->s;
	struct kvt_key key = stress_key(id);
	ssize_t ret;

	if (!strict_pins(s) || (id & 1))
		return;
	ret = kvt_contains(s->kvt, &key, 1, 0);
	if (ret != 1)
		stress_fail(s, w, OP_PIN, "key %" PRIu64 " is pinned by me but kvt_contains = %zd",
			    id, ret);
}

static void unpin_prefix(struct worker *w, const struct kvt_key *keys, const uint64_t *ids,
			 size_t h)
{
	struct stress *s = w->s;
	size_t even = 0;
	ssize_t ret;

	if (!h)
		return;
	for (size_t i = 0; i < h; i++)
		even += !(ids[i] & 1);
	ret = kvt_unpin(s->kvt, keys, h);
	w->acct.unpin_keys += h;
	if (ret < 0 || (size_t)ret > h) {
		stress_fail(s, w, OP_PIN, "kvt_unpin(%zu keys) = %zd", h, ret);
		return;
	}
	w->acct.unpins += (uint64_t)ret;
	/* every even key of the prefix still holds my pin */
	if (strict_pins(s) && (size_t)ret < even)
		stress_fail(s, w, OP_PIN, "kvt_unpin(%zu keys, %zu of them even) = %zd", h, even,
			    ret);
}

static void op_pin(struct worker *w)
{
	struct stress *s = w->s;
	struct kvt_key keys[STRESS_MAX_BATCH];
	uint64_t ids[STRESS_MAX_BATCH];
	size_t n = batch_len(w), h1, h2 = 0;
	bool twice = rnd_below(w, 4) == 0;
	uint64_t npins = twice ? 2 : 1;
	ssize_t ret;

	pick_keys(w, ids, keys, n, true);
	for (size_t i = 0; i < n; i++)
		atomic_fetch_add_explicit(&s->pin_started[ids[i]], npins, memory_order_seq_cst);
	ret = kvt_contains(s->kvt, keys, n, KVT_PIN);
	if (ret < 0 || (size_t)ret > n) {
		stress_fail(s, w, OP_PIN, "kvt_contains(%zu keys, KVT_PIN) = %zd", n, ret);
		ret = 0;
	}
	h1 = (size_t)ret;
	w->acct.pins += h1;
	if (twice) {
		ret = kvt_contains(s->kvt, keys, n, KVT_PIN);
		if (ret < 0 || (size_t)ret > n) {
			stress_fail(s, w, OP_PIN, "second kvt_contains(KVT_PIN) = %zd", ret);
			ret = 0;
		}
		h2 = (size_t)ret;
		w->acct.pins += h2;
	}
	if (h1) {
		size_t j = rnd_below(w, (uint32_t)h1);

		check_pinned_present(w, ids[j]);
		if (prng_next(&w->rng) & 1)
			check_pinned_remove(w, ids[j], "pinned once or twice");
		hold_a_while(w);
	}
	unpin_prefix(w, keys, ids, h1);
	if (h2) {
		/* pins are counted: one unpin left the second pin in place */
		size_t j = rnd_below(w, (uint32_t)h2);

		check_pinned_present(w, ids[j]);
		check_pinned_remove(w, ids[j], "pinned twice, unpinned once");
		unpin_prefix(w, keys, ids, h2);
	}
	for (size_t i = 0; i < n; i++)
		atomic_fetch_add_explicit(&s->pin_finished[ids[i]], npins, memory_order_seq_cst);
	count_op(w, OP_PIN, n, h1 + h2);
}

/* ---- remove ---- */

/*
 * remove_keys() - kvt_remove() and check every result.
 * Return: keys removed, or -1 if the call failed.
 */
static ssize_t remove_keys(struct worker *w, const uint64_t *ids, size_t n, bool force)
{
	struct stress *s = w->s;
	struct kvt_key keys[STRESS_MAX_BATCH] = { { 0, 0 } };
	int results[STRESS_MAX_BATCH];
	uint64_t finished_before[STRESS_MAX_BATCH];
	size_t removed = 0;
	ssize_t ret;

	for (size_t i = 0; i < n; i++) {
		keys[i] = stress_key(ids[i]);
		results[i] = RESULT_UNSET;
		finished_before[i] = atomic_load_explicit(&s->pin_finished[ids[i]],
							  memory_order_seq_cst);
	}
	ret = kvt_remove(s->kvt, keys, n, force ? KVT_FORCE : 0, results);
	if (ret < 0) {
		if (ret == -ETIMEDOUT)
			count_pressure(w, OP_REMOVE);
		else
			stress_fail(s, w, OP_REMOVE, "kvt_remove(%zu keys%s) = %zd (%s)", n,
				    force ? ", KVT_FORCE" : "", ret, kvt_strerror((int)ret));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int r = results[i];

		if (r == 0) {
			removed++;
			/* pins present at the kill belong to sessions that started
			 * before it and had not finished when we called */
			if (force)
				atomic_fetch_add_explicit(&s->removed_pin_bound,
					atomic_load_explicit(&s->pin_started[ids[i]],
							     memory_order_seq_cst) -
					finished_before[i], memory_order_relaxed);
		} else if (r == -EBUSY && !force) {
			w->acct.remove_refused++;
		} else if (r == -EAGAIN && s->l2) {
			/* a lookup or load holds the key's L2 copy locked there */
			w->acct.remove_l2_locked++;
		} else if (r != -ENOENT) {
			stress_fail(s, w, OP_REMOVE, "key %" PRIu64 "%s: result %d (%s)", ids[i],
				    force ? " (KVT_FORCE)" : "", r,
				    r == RESULT_UNSET ? "never written" : kvt_strerror(r));
		}
	}
	if ((size_t)ret != removed)
		stress_fail(s, w, OP_REMOVE, "returned %zd but %zu results are 0", ret, removed);
	w->acct.removes += (uint64_t)ret;
	return ret;
}

/* Remove a key some borrower holds, if one is offered. */
static bool remove_borrowed(struct worker *w)
{
	struct stress *s = w->s;
	struct worker *o = &s->w[rnd_below(w, s->o.threads)];
	uint64_t v = atomic_load_explicit(&o->offer, memory_order_acquire), id;
	bool force;

	if (o == w || v == 0 || v >= BORROW_CLAIMED)
		return false;
	if (!atomic_compare_exchange_strong_explicit(&o->offer, &v, BORROW_CLAIMED,
						     memory_order_acq_rel, memory_order_relaxed))
		return false;
	id = v - 1;
	force = (id & 1) && (prng_next(&w->rng) & 1);
	remove_keys(w, &id, 1, force);
	w->acct.cross_removes++;
	/* release: the borrower re-reads its lease after our remove returned */
	atomic_store_explicit(&o->offer, BORROW_DONE, memory_order_release);
	count_op(w, OP_REMOVE, 1, 0);
	return true;
}

static void op_remove(struct worker *w)
{
	uint64_t ids[STRESS_MAX_BATCH];
	size_t n = 1 + rnd_below(w, 4);
	bool force = prng_next(&w->rng) & 1;
	ssize_t ret;

	if (rnd_below(w, 3) == 0 && remove_borrowed(w))
		return;
	for (size_t i = 0; i < n; i++)
		ids[i] = force ? pick_odd_key(w) : pick_key(w);
	ret = remove_keys(w, ids, n, force);
	count_op(w, OP_REMOVE, n, ret > 0 ? (size_t)ret : 0);
}

/* ---- borrow ---- */

static void offer_for_removal(struct worker *w, uint64_t id)
{
	uint64_t deadline = tool_now_ns() + 2000000, v;

	atomic_store_explicit(&w->offer, id + 1, memory_order_release);
	while (tool_now_ns() < deadline && !stopping(w->s)) {
		if (atomic_load_explicit(&w->offer, memory_order_acquire) != id + 1)
			break;
		sched_yield();
	}
	v = id + 1;
	if (atomic_compare_exchange_strong_explicit(&w->offer, &v, 0, memory_order_acq_rel,
						    memory_order_acquire))
		return; /* nobody took it */
	/* a remover claimed it: its kvt_remove() returns promptly */
	while (atomic_load_explicit(&w->offer, memory_order_acquire) != BORROW_DONE)
		sched_yield();
	atomic_store_explicit(&w->offer, 0, memory_order_relaxed);
}

static void op_borrow(struct worker *w)
{
	struct stress *s = w->s;
	uint64_t id = pick_key(w);
	struct kvt_key key = stress_key(id);
	struct kvt_lease lease, second;
	bool two = rnd_below(w, 4) == 0, got_second = false;
	int ret;

	memset(&lease, 0, sizeof(lease));
	ret = kvt_borrow(s->kvt, &key, &lease);
	if (ret == -ENOENT) {
		count_op(w, OP_BORROW, 1, 0);
		return;
	}
	if (ret) {
		stress_fail(s, w, OP_BORROW, "kvt_borrow(key %" PRIu64 ") = %d (%s)", id, ret,
			    kvt_strerror(ret));
		count_op(w, OP_BORROW, 1, 0);
		return;
	}
	w->acct.reads++;
	if (!lease.data || lease.len > s->chunk) {
		stress_fail(s, w, OP_BORROW, "key %" PRIu64 ": lease data %p len %zu", id,
			    lease.data, lease.len);
		goto release;
	}
	payload_check(s, "borrow", lease.data, lease.len, id);
	if (two && kvt_borrow(s->kvt, &key, &second) == 0) {
		got_second = true;
		w->acct.reads++;
		payload_check(s, "second borrow", second.data, second.len, id);
	}
	if (rnd_below(w, 3) == 0)
		offer_for_removal(w, id);
	else
		hold_a_while(w);
	/* still the same bytes, whatever happened to the key meanwhile */
	payload_check(s, "borrow, after holding", lease.data, lease.len, id);
release:
	ret = kvt_release(s->kvt, &lease);
	if (ret)
		stress_fail(s, w, OP_BORROW, "kvt_release(key %" PRIu64 ") = %d (%s)", id, ret,
			    kvt_strerror(ret));
	if (got_second) {
		payload_check(s, "second borrow, after release", second.data, second.len, id);
		ret = kvt_release(s->kvt, &second);
		if (ret)
			stress_fail(s, w, OP_BORROW, "second kvt_release(key %" PRIu64 ") = %d (%s)",
				    id, ret, kvt_strerror(ret));
	}
	count_op(w, OP_BORROW, 1, 1);
}

/* ---- reserve / commit ---- */

static void release_reserved(struct worker *w, struct kvt_lease *lease, const char *why)
{
	int ret = kvt_release(w->s->kvt, lease);

	if (ret)
		stress_fail(w->s, w, OP_RESERVE, "kvt_release(reserved, %s) = %d (%s)", why, ret,
			    kvt_strerror(ret));
}

static void op_reserve(struct worker *w)
{
	struct stress *s = w->s;
	struct kvt_lease lease;
	uint64_t id, v;
	struct kvt_key key;
	size_t len;
	int ret;

	memset(&lease, 0, sizeof(lease));
	ret = kvt_reserve(s->kvt, &lease);
	if (ret) {
		if (pressure_code(ret))
			count_pressure(w, OP_RESERVE);
		else
			stress_fail(s, w, OP_RESERVE, "kvt_reserve = %d (%s)", ret,
				    kvt_strerror(ret));
		count_op(w, OP_RESERVE, 1, 0);
		return;
	}
	if (!lease.data || lease.len != s->chunk) {
		stress_fail(s, w, OP_RESERVE, "lease data %p len %zu, slot is %zu", lease.data,
			    lease.len, s->chunk);
		release_reserved(w, &lease, "bad lease");
		count_op(w, OP_RESERVE, 1, 0);
		return;
	}
	id = pick_key(w);
	key = stress_key(id);
	v = atomic_fetch_add_explicit(&s->next_version[id], 1, memory_order_acq_rel) + 1;
	len = stress_len(s, id, v);
	payload_fill(s, lease.data, id, v);
	if (rnd_below(w, 8) == 0) {
		release_reserved(w, &lease, "abandoned");
		count_op(w, OP_RESERVE, 1, 0);
		return;
	}
	if (rnd_below(w, 16) == 0) {
		ret = kvt_commit(s->kvt, &lease, &key, s->chunk + 1);
		if (ret != -EMSGSIZE)
			stress_fail(s, w, OP_RESERVE, "kvt_commit(%zu bytes > slot) = %d, not -EMSGSIZE",
				    s->chunk + 1, ret);
		if (ret == 0) {
			count_op(w, OP_RESERVE, 1, 0);
			return;
		}
	}
	ret = kvt_commit(s->kvt, &lease, &key, len);
	if (ret == 0) {
		w->acct.commits++;
		/* the lease is spent: releasing it again is refused */
		if (rnd_below(w, 8) == 0 && (ret = kvt_release(s->kvt, &lease)) != -ESTALE)
			stress_fail(s, w, OP_RESERVE, "kvt_release(committed lease) = %d, not -ESTALE",
				    ret);
		count_op(w, OP_RESERVE, 1, 1);
		return;
	}
	if (ret == 1) {
		release_reserved(w, &lease, "duplicate");
	} else if (ret == -ETIMEDOUT) {
		count_pressure(w, OP_RESERVE);
		release_reserved(w, &lease, "commit timed out");
	} else {
		stress_fail(s, w, OP_RESERVE, "kvt_commit(key %" PRIu64 ", %zu bytes) = %d (%s)", id,
			    len, ret, kvt_strerror(ret));
		release_reserved(w, &lease, "commit failed");
	}
	count_op(w, OP_RESERVE, 1, 0);
}

/* ---- prefetch ---- */

static void prefetch_cb(void *arg, uint64_t ticket, ssize_t hits)
{
	struct worker *w = arg;

	atomic_fetch_add_explicit(&w->pf.fired, 1, memory_order_relaxed);
	w->pf.ticket = ticket;
	w->pf.hits = hits;
	/* release: ticket, hits and the restored buffers; pairs with the
	 * acquire in prefetch_wait() */
	atomic_store_explicit(&w->pf.done, 1, memory_order_release);
	/* a wake never blocks; w outlives every prefetch */
	syscall(SYS_futex, (uint32_t *)&w->pf.done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static bool pf_done(struct worker *w)
{
	return atomic_load_explicit(&w->pf.done, memory_order_acquire) != 0;
}

/*
 * Wait for this worker's prefetch callback: on the futex it signals, or by
 * polling kvt_event_fd() as an event loop would.  The fd counts every
 * thread's prefetches, so a poll wake-up only means "look again".
 */
static void prefetch_wait(struct worker *w, bool use_event_fd)
{
	struct stress *s = w->s;
	uint64_t start = tool_now_ns();
	bool warned = false;

	while (!pf_done(w)) {
		if (use_event_fd) {
			struct pollfd p = { .fd = kvt_event_fd(s->kvt), .events = POLLIN };

			if (poll(&p, 1, 10) > 0 && (p.revents & POLLIN))
				stress_drain_event_fd(s);
		} else {
			struct timespec ts = { 0, 10000000 };

			syscall(SYS_futex, (uint32_t *)&w->pf.done, FUTEX_WAIT_PRIVATE, 0, &ts,
				NULL, 0);
		}
		if (!warned && tool_now_ns() - start > 30000000000ull) {
			stress_fail(s, w, OP_PREFETCH, "callback not fired after 30 s; still waiting");
			warned = true;
		}
	}
}

static void op_prefetch(struct worker *w)
{
	struct stress *s = w->s;
	struct kvt_key keys[STRESS_MAX_BATCH];
	uint64_t ids[STRESS_MAX_BATCH], ticket = UINT64_MAX;
	void *bufs[STRESS_MAX_BATCH];
	size_t buf_lens[STRESS_MAX_BATCH], out_lens[STRESS_MAX_BATCH], n = batch_len(w);
	uint32_t fired_before = atomic_load_explicit(&w->pf.fired, memory_order_relaxed);
	ssize_t hits;
	int ret;

	pick_keys(w, ids, keys, n, true);
	for (size_t i = 0; i < n; i++) {
		bufs[i] = w->pf_buf + i * s->chunk;
		buf_lens[i] = s->chunk;
		out_lens[i] = LEN_UNSET;
	}
	atomic_store_explicit(&w->pf.done, 0, memory_order_relaxed);
	ret = kvt_prefetch(s->kvt, keys, n, bufs, buf_lens, out_lens, prefetch_cb, w, &ticket);
	if (ret) {
		if (ret == -ETIMEDOUT) {
			w->acct.prefetch_failed++;
			count_pressure(w, OP_PREFETCH);
		} else {
			stress_fail(s, w, OP_PREFETCH, "kvt_prefetch(%zu keys) = %d (%s)", n, ret,
				    kvt_strerror(ret));
		}
		count_op(w, OP_PREFETCH, n, 0);
		return;
	}
	w->acct.prefetch_posted++;
	prefetch_wait(w, prng_next(&w->rng) & 1);
	if (atomic_load_explicit(&w->pf.fired, memory_order_relaxed) != fired_before + 1)
		stress_fail(s, w, OP_PREFETCH, "callback fired %u times for one prefetch",
			    atomic_load_explicit(&w->pf.fired, memory_order_relaxed) - fired_before);
	hits = w->pf.hits;
	if (w->pf.ticket != ticket)
		stress_fail(s, w, OP_PREFETCH, "callback ticket %" PRIu64 ", kvt_prefetch gave %" PRIu64,
			    w->pf.ticket, ticket);
	if (hits == -ETIMEDOUT) {
		/* a DAX batch restore timed out: its chunks are holes (out_len
		 * 0), the L1 ones were copied and must still verify */
		count_pressure(w, OP_PREFETCH);
		for (size_t i = 0; i < n; i++) {
			if (out_lens[i] == LEN_UNSET || out_lens[i] > buf_lens[i]) {
				stress_fail(s, w, OP_PREFETCH, "key %" PRIu64 " (failed prefetch): "
					    "out_len %zu", ids[i], out_lens[i]);
			} else if (out_lens[i]) {
				w->acct.reads++;
				w->acct.read_bytes += out_lens[i];
				payload_check(s, "prefetch", bufs[i], out_lens[i], ids[i]);
			}
		}
		count_op(w, OP_PREFETCH, n, 0);
		return;
	}
	if (hits < 0 || (size_t)hits > n) {
		stress_fail(s, w, OP_PREFETCH, "callback hits %zd for %zu keys", hits, n);
		count_op(w, OP_PREFETCH, n, 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (i >= (size_t)hits) {
			if (out_lens[i] != 0)
				stress_fail(s, w, OP_PREFETCH, "out_lens[%zu] = %zu past the %zd hits",
					    i, out_lens[i], hits);
			continue;
		}
		if (out_lens[i] == 0 || out_lens[i] > buf_lens[i]) {
			stress_fail(s, w, OP_PREFETCH, "key %" PRIu64 " (hit %zu of %zd): out_len %zu",
				    ids[i], i, hits, out_lens[i]);
			continue;
		}
		w->acct.reads++;
		w->acct.read_bytes += out_lens[i];
		payload_check(s, "prefetch", bufs[i], out_lens[i], ids[i]);
	}
	w->acct.misses += n - (size_t)hits;
	w->acct.prefetch_misses += n - (size_t)hits;
	w->acct.short_prefetches += (size_t)hits < n;
	count_op(w, OP_PREFETCH, n, (size_t)hits);
}

/* ---- flush ---- */

static void op_flush(struct worker *w)
{
	int ret = kvt_flush(w->s->kvt);

	if (ret == -ETIMEDOUT)
		count_pressure(w, OP_FLUSH);
	else if (ret)
		stress_fail(w->s, w, OP_FLUSH, "kvt_flush = %d (%s)", ret, kvt_strerror(ret));
	count_op(w, OP_FLUSH, 0, 0);
}

/* ---- the loop ---- */

/* Out of 1000: the mix of operations. */
static const struct {
	enum stress_op op;
	unsigned int weight;
	void (*fn)(struct worker *w);
} mix[] = {
	{ OP_PUT, 230, op_put },       { OP_GET, 200, op_get },
	{ OP_CONTAINS, 80, op_contains }, { OP_PIN, 100, op_pin },
	{ OP_REMOVE, 80, op_remove },  { OP_BORROW, 110, op_borrow },
	{ OP_RESERVE, 90, op_reserve }, { OP_PREFETCH, 105, op_prefetch },
	{ OP_FLUSH, 5, op_flush },
};

void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int total = 0;

	for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++)
		total += mix[i].weight;
	while (!stopping(w->s)) {
		unsigned int r = rnd_below(w, total);
		size_t i = 0;

		while (r >= mix[i].weight)
			r -= mix[i++].weight;
		atomic_store_explicit(&w->cur_op, (int)mix[i].op, memory_order_relaxed);
		mix[i].fn(w);
		atomic_store_explicit(&w->cur_op, -1, memory_order_relaxed);
	}
	return NULL;
}
