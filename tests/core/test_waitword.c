/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: a completion (core/waitword.c) hands its result over whether
 * the signal comes before the wait, during the waiter's spin, or after it
 * went to sleep; a signal that finds no sleeper skips the wake (the word
 * never holds the sleeper mark then), and one that finds a sleeper wakes
 * it; and a long ping-pong of completions between two threads, with the
 * signaller's delay swept across the spin, loses no wake-up (a lost one
 * hangs the test).
 */
#include "core/waitword.c"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "tests/common/harness.h"

TEST(signal_before_wait_returns_the_result_and_never_marks_a_sleeper)
{
	struct completion c;

	completion_init(&c);
	completion_signal(&c, -42);
	CHECK_EQ(atomic_load(&c.done), 1u);
	CHECK_EQ(completion_wait(&c), -42);
}

struct late {
	struct completion *c;
	long delay_us;
	int result;
	uint32_t seen; /* @c->done just before the signal */
};

static void *late_main(void *arg)
{
	struct late *l = arg;
	struct timespec ts = { l->delay_us / 1000000, (l->delay_us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
	l->seen = atomic_load(&l->c->done);
	completion_signal(l->c, l->result);
	return NULL;
}

TEST(a_waiter_asleep_is_woken_with_the_result)
{
	struct completion c;
	struct late l = { .c = &c, .delay_us = 200000, .result = 7 };
	pthread_t th;

	completion_init(&c);
	CHECK(pthread_create(&th, NULL, late_main, &l) == 0);
	CHECK_EQ(completion_wait(&c), 7);
	pthread_join(th, NULL);
	/* 200 ms is far past the spin: the waiter had marked itself asleep */
	CHECK_EQ(l.seen, COMPLETION_SLEEPER);
}

struct pingpong {
	struct completion *ping, *pong; /* arrays of ROUNDS */
	unsigned int rounds;
};

#define ROUNDS 20000

/* Answers each ping with a pong after a delay that sweeps from none to
 * past the spin, so every path of completion_wait() is crossed. */
static void *ponger_main(void *arg)
{
	struct pingpong *p = arg;

	for (unsigned int i = 0; i < p->rounds; i++) {
		unsigned int busy = (i * 37u) % 4096u;

		CHECK_EQ(completion_wait(&p->ping[i]), (int)i);
		for (unsigned int k = 0; k < busy; k++)
			ck_pr_stall();
		completion_signal(&p->pong[i], -(int)i);
	}
	return NULL;
}

TEST(ping_pong_loses_no_wakeup)
{
	struct pingpong p = { .rounds = ROUNDS };
	pthread_t th;

	p.ping = calloc(ROUNDS, sizeof(*p.ping));
	p.pong = calloc(ROUNDS, sizeof(*p.pong));
	CHECK(p.ping && p.pong);
	for (unsigned int i = 0; i < ROUNDS; i++) {
		completion_init(&p.ping[i]);
		completion_init(&p.pong[i]);
	}
	CHECK(pthread_create(&th, NULL, ponger_main, &p) == 0);
	for (unsigned int i = 0; i < ROUNDS; i++) {
		completion_signal(&p.ping[i], (int)i);
		CHECK_EQ(completion_wait(&p.pong[i]), -(int)i);
	}
	pthread_join(th, NULL);
	free(p.ping);
	free(p.pong);
}
