/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/waitword.c - futex waits.  A private futex: every word lives in one
 * process.
 */
#define _GNU_SOURCE
#include "core/waitword.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


int waitword_wait(_Atomic uint32_t *word, uint32_t expected, int timeout_ms)
{
	struct timespec ts, *tsp = NULL;
	long r;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
	if (r < 0 && errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;
}

void waitword_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t clock_now_ms(void)
{
	return clock_now_ns() / 1000000ull;
}

void completion_signal(struct completion *c, int result)
{
	c->result = result;
	/* release: publishes result; pairs with the acquire in completion_wait */
	atomic_store_explicit(&c->done, 1, memory_order_release);
	/* the waiter may already have returned: a wake on a dead stack word is
	 * harmless for a private futex, and we touch nothing else */
	waitword_wake(&c->done);
}

int completion_wait(struct completion *c)
{
	while (!atomic_load_explicit(&c->done, memory_order_acquire))
		waitword_wait(&c->done, 0, -1);
	return c->result;
}
