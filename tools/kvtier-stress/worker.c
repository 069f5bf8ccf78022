/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/worker.c - one stress thread: mixed operations over
 * the keyspace until the deadline.  Here the loop, and the ops that write
 * and read chunks: put, reserve/commit, get, prefetch and flush; the ops
 * that hold keys or take them away (contains, pins, removes, borrows) are
 * in worker_hold.c.
 *
 * Every read is verified (payload.c).  Every return code is checked
 * against the contract in kvtier.h: codes the header allows under load
 * (-ENOSPC, -ETIMEDOUT) are counted as pressure, anything else is a
 * failure, and so is a broken contract (a put callback that fires for a
 * duplicate, a per-key result left unwritten, a pinned key that a
 * non-forced remove did not refuse).
 *
 * Tiers.  With DAX in tiered mode put callbacks fire on the DAX writer
 * after kvt_put() returned: see struct put_track.
 *
 * With the fs L2 tier, puts are written through to disk and the callbacks
 * fire once the file is written (on the L2 completion actor), or never if
 * the write failed; reads that miss L1 come from disk.  The resp tier
 * (Redis) and the pool tier behave the same for the workers.  With several
 * processes on one keyspace (pool) an L1 copy may be an older version than
 * the pool holds (another process removed and stored the key again); any
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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/worker.h"

#define REPORT_LIMIT 40
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

static bool pressure_code(int err)
{
	return err == -ENOSPC || err == -ETIMEDOUT;
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
		stress_fail(s, w, OP_PUT,
			    "callbacks fired for mask %#x (twice %#x%s), stored mask %#x",
			    fired, twice, bad ? ", wrong key or index" : "", t->want);
	if (s->async_cb) {
		/* a stored key whose DAX or L2 write failed gets no callback, and
		 * is counted in dax_write_errors or l2_write_errors: main compares
		 * the totals */
		w->acct.cb_missing += (uint64_t)__builtin_popcount(t->want & ~fired);
		/* an L2 write may finish before kvt_put() returns: the calling
		 * thread then finishes the window and fires its callbacks */
		if (on && !s->tier->l2)
			stress_fail(s, w, OP_PUT,
				    "%u tiered put callbacks ran on the calling thread, "
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
			stress_fail(w->s, w, OP_FLUSH,
				    "kvt_flush (to settle put callbacks) = %d (%s)",
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
				stress_fail(s, w, OP_PUT,
					    "key %" PRIu64 " (%zu bytes): result %d (%s)",
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
			stress_fail(s, w, OP_GET,
				    "key %" PRIu64 ": %zu bytes into a %zu-byte buffer",
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
			stress_fail(s, w, OP_RESERVE,
				    "kvt_commit(%zu bytes > slot) = %d, not -EMSGSIZE",
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
			stress_fail(s, w, OP_RESERVE,
				    "kvt_release(committed lease) = %d, not -ESTALE", ret);
		count_op(w, OP_RESERVE, 1, 1);
		return;
	}
	if (ret == 1) {
		release_reserved(w, &lease, "duplicate");
	} else if (ret == -ETIMEDOUT) {
		count_pressure(w, OP_RESERVE);
		release_reserved(w, &lease, "commit timed out");
	} else {
		stress_fail(s, w, OP_RESERVE,
			    "kvt_commit(key %" PRIu64 ", %zu bytes) = %d (%s)",
			    id, len, ret, kvt_strerror(ret));
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
			stress_fail(s, w, OP_PREFETCH,
				    "callback not fired after 30 s; still waiting");
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
			    atomic_load_explicit(&w->pf.fired, memory_order_relaxed) -
			    fired_before);
	hits = w->pf.hits;
	if (w->pf.ticket != ticket)
		stress_fail(s, w, OP_PREFETCH,
			    "callback ticket %" PRIu64 ", kvt_prefetch gave %" PRIu64,
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
				stress_fail(s, w, OP_PREFETCH,
					    "out_lens[%zu] = %zu past the %zd hits",
					    i, out_lens[i], hits);
			continue;
		}
		if (out_lens[i] == 0 || out_lens[i] > buf_lens[i]) {
			stress_fail(s, w, OP_PREFETCH,
				    "key %" PRIu64 " (hit %zu of %zd): out_len %zu",
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
