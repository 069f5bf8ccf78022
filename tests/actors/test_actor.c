/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the actor runtime — messages from many producers all arrive,
 * in per-producer order; a full mailbox makes a poster wait a bounded time
 * and then fail with -ETIMEDOUT (counted), never drop; stop handles
 * everything posted before it; an idle actor sleeps (no busy loop).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/actor.h"
#include "tests/common/harness.h"

#define PRODUCERS 4
#define PER_PRODUCER 20000

struct counter_ctx {
	uint64_t seen[PRODUCERS];   /* actor thread only */
	uint64_t out_of_order;      /* actor thread only */
	_Atomic int gate;           /* handler blocks while 1 (test only) */
	_Atomic uint64_t handled;
	_Atomic int idle_calls;
};

static void counter_handle(void *arg, const struct actor_msg *m)
{
	struct counter_ctx *c = arg;

	while (atomic_load(&c->gate))
		usleep(1000);
	if (m->u32 < PRODUCERS) {
		if (m->u64[0] != c->seen[m->u32])
			c->out_of_order++;
		c->seen[m->u32] = m->u64[0] + 1;
	}
	atomic_fetch_add(&c->handled, 1);
	if (m->done)
		completion_signal(m->done, (int)m->u64[1]);
}

static int counter_idle(void *arg)
{
	struct counter_ctx *c = arg;

	atomic_fetch_add(&c->idle_calls, 1);
	return -1;
}

static const struct actor_ops counter_ops = {
	.handle = counter_handle,
	.idle = counter_idle,
};

struct producer {
	struct actor *a;
	uint32_t id;
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		struct actor_msg m = { .op = 1, .u32 = p->id, .u64 = { i } };

		CHECK_EQ(actor_post(p->a, &m), 0);
	}
	return NULL;
}

TEST(many_producers_all_delivered_in_order)
{
	static struct counter_ctx ctx;
	struct actor a;
	struct producer p[PRODUCERS];
	pthread_t t[PRODUCERS];

	CHECK_EQ(actor_start(&a, "test", &counter_ops, &ctx, 64, 5000, -1), 0);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		p[i].a = &a;
		p[i].id = i;
		CHECK_EQ(pthread_create(&t[i], NULL, produce, &p[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	actor_stop(&a);
	CHECK_EQ(atomic_load(&ctx.handled), PRODUCERS * PER_PRODUCER);
	CHECK_EQ(ctx.out_of_order, 0);
	for (int i = 0; i < PRODUCERS; i++)
		CHECK_EQ(ctx.seen[i], PER_PRODUCER);
}

TEST(full_mailbox_times_out_without_dropping)
{
	static struct counter_ctx ctx;
	struct actor a;
	struct actor_stats st;
	struct actor_msg m = { .op = 1, .u32 = PRODUCERS };
	int posted = 0, ret = 0;

	atomic_store(&ctx.gate, 1);
	CHECK_EQ(actor_start(&a, "test", &counter_ops, &ctx, 8, 50, -1), 0);
	while (posted < 100 && (ret = actor_post(&a, &m)) == 0)
		posted++;
	CHECK_EQ(ret, -ETIMEDOUT);
	/* 7 fit the ring, one more may be in the blocked handler */
	CHECK(posted >= 7 && posted <= 8);
	actor_stats(&a, &st);
	CHECK_EQ(st.timeouts, 1);
	CHECK(st.full_waits >= 1);
	atomic_store(&ctx.gate, 0);
	actor_stop(&a);
	CHECK_EQ(atomic_load(&ctx.handled), posted);
}

TEST(call_returns_handler_result)
{
	static struct counter_ctx ctx;
	struct actor a;
	struct actor_msg m = { .op = 1, .u32 = PRODUCERS, .u64 = { 0, 42 } };

	CHECK_EQ(actor_start(&a, "test", &counter_ops, &ctx, 64, 1000, -1), 0);
	CHECK_EQ(actor_call(&a, &m), 42);
	actor_stop(&a);
}

TEST(idle_actor_sleeps)
{
	static struct counter_ctx ctx;
	struct actor a;
	struct rusage before, after;
	struct actor_msg m = { .op = 1, .u32 = PRODUCERS };
	int idle_before;

	CHECK_EQ(actor_start(&a, "test", &counter_ops, &ctx, 64, 1000, -1), 0);
	CHECK_EQ(actor_call(&a, &m), 0);
	idle_before = atomic_load(&ctx.idle_calls);
	getrusage(RUSAGE_SELF, &before);
	usleep(300000);
	getrusage(RUSAGE_SELF, &after);
	/* asleep on its futex: idle() ran once, no spinning */
	CHECK(atomic_load(&ctx.idle_calls) - idle_before <= 1);
	CHECK(after.ru_utime.tv_sec * 1000000 + after.ru_utime.tv_usec -
		      (before.ru_utime.tv_sec * 1000000 + before.ru_utime.tv_usec) < 100000);
	actor_stop(&a);
}

TEST(bad_depth_refused)
{
	static struct counter_ctx ctx;
	struct actor a;

	CHECK_EQ(actor_start(&a, "test", &counter_ops, &ctx, 100, 1000, -1), -EINVAL);
	CHECK_EQ(actor_start(&a, "test", &counter_ops, &ctx, 2, 1000, -1), -EINVAL);
}
