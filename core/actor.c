/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/actor.c - the shared actor runtime (see actor.h).
 *
 * Sleep/wake protocol (a Dekker pair, so a post is never missed):
 *   actor:  seq = wake_seq; sleeping = 1; fence(seq_cst); if ring empty:
 *           futex_wait(wake_seq, seq)
 *   poster: enqueue (release of p_tail); fence(seq_cst); if sleeping:
 *           wake_seq++, futex_wake
 * Either the actor sees the new message, or the poster sees sleeping == 1
 * and bumps wake_seq, which fails or ends the futex wait.  The same shape,
 * with space_seq and space_waiters, wakes posters waiting for room.
 */
#define _GNU_SOURCE
#include "core/actor.h"

#include <errno.h>
#include <sched.h>
#include <numa.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/rcu.h"

CK_RING_PROTOTYPE(actor_msg, actor_msg)

static bool ring_empty(struct actor *a)
{
	return ck_ring_size(&a->ring) == 0;
}

static void wake_space_waiters(struct actor *a)
{
	atomic_fetch_add_explicit(&a->space_seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&a->space_waiters, memory_order_seq_cst))
		waitword_wake(&a->space_seq);
}

static int drain(struct actor *a, bool *stop)
{
	struct actor_msg m;
	int n = 0;

	while (n < ACTOR_BATCH && !ring_empty(a)) {
		bool got;

		tsan_ring_copy_begin();
		got = ck_ring_dequeue_mpsc_actor_msg(&a->ring, a->buf, &m);
		tsan_ring_copy_end();
		if (!got)
			break;
		/* TSan only: pairs with the release in try_enqueue() */
		tsan_acquire(&a->ring);
		n++;
		if (m.op == ACTOR_OP_STOP) {
			*stop = true;
			continue;
		}
		a->ops->handle(a->ctx, &m);
	}
	if (n) {
		atomic_fetch_add_explicit(&a->handled, (uint64_t)n, memory_order_relaxed);
		wake_space_waiters(a);
	}
	return n;
}

static void *actor_main(void *arg)
{
	struct actor *a = arg;
	bool stop = false;

	atomic_store_explicit((_Atomic pid_t *)&a->tid, (pid_t)syscall(SYS_gettid),
			      memory_order_relaxed);
	if (a->numa_node >= 0 && numa_available() >= 0 && numa_run_on_node(a->numa_node) < 0)
		log_warn("actor %s: cannot run on NUMA node %d: %s", a->name, a->numa_node,
			 strerror(errno));
	if (a->ops->on_start)
		a->ops->on_start(a->ctx);
	for (;;) {
		uint32_t seq;
		int timeout_ms;

		if (drain(a, &stop))
			continue;
		if (stop)
			break;
		timeout_ms = a->ops->idle ? a->ops->idle(a->ctx) : -1;
		seq = atomic_load_explicit(&a->wake_seq, memory_order_acquire);
		atomic_store_explicit(&a->sleeping, 1, memory_order_seq_cst);
		atomic_thread_fence(memory_order_seq_cst);
		if (ring_empty(a) && timeout_ms != 0)
			waitword_wait(&a->wake_seq, seq, timeout_ms);
		atomic_store_explicit(&a->sleeping, 0, memory_order_relaxed);
	}
	if (a->ops->on_stop)
		a->ops->on_stop(a->ctx);
	return NULL;
}

int actor_start(struct actor *a, const char *name, const struct actor_ops *ops,
		void *ctx, unsigned int depth, unsigned int wait_ms, int numa_node)
{
	char tname[16];
	int ret;

	if (depth < 4 || (depth & (depth - 1)))
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->name = name;
	a->ops = ops;
	a->ctx = ctx;
	a->wait_ms = wait_ms;
	a->numa_node = numa_node;
	a->buf = mem_aligned_zalloc(64, sizeof(*a->buf) * depth);
	if (!a->buf)
		return -ENOMEM;
	ck_ring_init(&a->ring, depth);
	ret = pthread_create(&a->thread, NULL, actor_main, a);
	if (ret) {
		mem_free(a->buf);
		a->buf = NULL;
		return -ret;
	}
	snprintf(tname, sizeof(tname), "kvt-%s", name);
	pthread_setname_np(a->thread, tname);
	a->started = true;
	return 0;
}

/*
 * ck_ring_enqueue_commit_mpsc() with a yield: a producer publishes only after
 * every earlier ticket has, and ck spins for that.  With more producers than
 * cores the holder of the earlier ticket may be preempted, and the others
 * would spin away whole timeslices (measured: 99% of CPU in the commit on
 * 2 cores, 4 producers), so after a short spin we yield to it.  The stores
 * and fences are ck's own (_ck_ring_enqueue_commit_mp).
 */
static void commit_mpsc(struct ck_ring *ring, unsigned int ticket)
{
	unsigned int spins = 0;

	while (ck_pr_load_uint(&ring->p_tail) != ticket) {
		if (++spins < 128)
			ck_pr_stall();
		else
			sched_yield();
	}
	/* the slot's contents before the ticket is visible to the consumer */
	ck_pr_fence_store();
	ck_pr_store_uint(&ring->p_tail, ticket + 1);
}

static bool try_enqueue(struct actor *a, const struct actor_msg *m)
{
	unsigned int ticket;
	struct actor_msg *slot;

	slot = ck_ring_enqueue_reserve_mpsc_actor_msg(&a->ring, a->buf, &ticket);
	if (!slot)
		return false;
	tsan_ring_copy_begin();
	*slot = *m;
	tsan_ring_copy_end();
	/* TSan only: what the message points to; pairs with the acquire in
	 * drain() */
	tsan_release(&a->ring);
	commit_mpsc(&a->ring, ticket);
	return true;
}

static void wake_actor(struct actor *a)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&a->sleeping, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&a->wake_seq, 1, memory_order_release);
		waitword_wake(&a->wake_seq);
	}
}

static int wait_for_space(struct actor *a, const struct actor_msg *m)
{
	uint64_t deadline = clock_now_ms() + a->wait_ms;

	atomic_fetch_add_explicit(&a->full_waits, 1, memory_order_relaxed);
	for (;;) {
		uint32_t seq = atomic_load_explicit(&a->space_seq, memory_order_seq_cst);
		uint64_t now;

		atomic_fetch_add_explicit(&a->space_waiters, 1, memory_order_seq_cst);
		if (try_enqueue(a, m)) {
			atomic_fetch_sub_explicit(&a->space_waiters, 1, memory_order_relaxed);
			return 0;
		}
		wake_actor(a);
		now = clock_now_ms();
		if (now >= deadline) {
			atomic_fetch_sub_explicit(&a->space_waiters, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&a->timeouts, 1, memory_order_relaxed);
			return -ETIMEDOUT;
		}
		waitword_wait(&a->space_seq, seq, (int)(deadline - now));
		atomic_fetch_sub_explicit(&a->space_waiters, 1, memory_order_relaxed);
	}
}

int actor_post(struct actor *a, const struct actor_msg *m)
{
	int ret = 0;

	if (!try_enqueue(a, m))
		ret = wait_for_space(a, m);
	if (ret == 0)
		wake_actor(a);
	return ret;
}

int actor_call(struct actor *a, struct actor_msg *m)
{
	struct completion done;
	int ret;

	completion_init(&done);
	m->done = &done;
	ret = actor_post(a, m);
	if (ret)
		return ret;
	return completion_wait(&done);
}

void actor_stop(struct actor *a)
{
	struct actor_msg m = { .op = ACTOR_OP_STOP };

	if (!a->started)
		return;
	/* a stop must get through: keep waiting past wait_ms */
	while (actor_post(a, &m) == -ETIMEDOUT)
		log_warn("actor %s: mailbox full, still posting stop", a->name);
	pthread_join(a->thread, NULL);
	mem_free(a->buf);
	a->buf = NULL;
	a->started = false;
}

bool actor_is_self(const struct actor *a)
{
	return pthread_equal(pthread_self(), a->thread);
}

void actor_stats(struct actor *a, struct actor_stats *out)
{
	out->handled = atomic_load_explicit(&a->handled, memory_order_relaxed);
	out->full_waits = atomic_load_explicit(&a->full_waits, memory_order_relaxed);
	out->timeouts = atomic_load_explicit(&a->timeouts, memory_order_relaxed);
	out->depth = a->buf ? ck_ring_size(&a->ring) : 0;
}
