/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/worker_hold.c - the ops of a stress thread that hold
 * keys or take them away: contains and pins, removes (forced ones too) and
 * borrows, with a remove of a key that another thread holds borrowed.
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
 * allows for that.
 *
 * With the fs L2 tier, kvt_contains() continues the prefix on disk without
 * pinning what it finds there, so a pinner cannot tell which of its keys it
 * pinned, and the strict pin checks are off; a remove may leave a key's
 * file (-EAGAIN), forced or not, when a concurrent lookup or load holds it
 * locked.  The resp tier (Redis) behaves the same for the workers: its
 * lookups lock values locally, so a remove of a key a load holds is refused
 * too.  So does the pool tier, whose lookups pin keys in the daemon, for
 * every process: with several processes on one keyspace a remove may find
 * a key another process's load pinned.
 *
 * Threads: each op runs on its worker's thread, on its own struct worker;
 * a remover touches another worker's only through its [atomic] offer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/worker.h"

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
	return s->o.pin_ttl_ms == 0 && !s->tier->l2;
}

/* An odd key id: the only ones forced removes name. */
static uint64_t pick_odd_key(struct worker *w)
{
	uint64_t id = pick_key(w) | 1;

	return id < w->s->nkeys ? id : 1;
}

/* ---- contains, pins ---- */

void op_contains(struct worker *w)
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
	if (res == -EAGAIN && s->tier->l2) {
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

void op_pin(struct worker *w)
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
		} else if (r == -EAGAIN && s->tier->l2) {
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

void op_remove(struct worker *w)
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

void op_borrow(struct worker *w)
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
			stress_fail(s, w, OP_BORROW,
				    "second kvt_release(key %" PRIu64 ") = %d (%s)",
				    id, ret, kvt_strerror(ret));
	}
	count_op(w, OP_BORROW, 1, 1);
}
