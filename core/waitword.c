/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/waitword.c - futex waits.  A private futex: every word lives in one
 * process.
 */
#define _GNU_SOURCE
#include "core/waitword.h"

#include <ck_pr.h>
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

/*
 * @done: 0 pending, COMPLETION_SLEEPER pending with the waiter in (or on its
 * way into) a futex wait, 1 signalled.  The waiter announces itself before
 * it sleeps, so a signal that finds no sleeper skips the wake: a system
 * call, and in a VM an exit, on every actor_call() answered while its
 * caller still spins.
 */
#define COMPLETION_SLEEPER 2u
/* Pauses a waiter spins before it sleeps: an index actor's answer to a
 * put window (tens of microseconds) often comes within it, and a waiter
 * that never slept needs no wake-up (on 2 cores, each wake-up preempts
 * whatever ran there).  1024 pauses took 34 us on this machine. */
#define COMPLETION_SPINS 1024

void completion_signal(struct completion *c, int result)
{
	c->result = result;
	/* release: publishes result; pairs with the acquire in completion_wait.
	 * The waiter may return as soon as it sees 1 (and its stack word die):
	 * a wake on a dead private futex word is harmless, and we touch nothing
	 * else */
	if (atomic_exchange_explicit(&c->done, 1, memory_order_release) == COMPLETION_SLEEPER)
		waitword_wake(&c->done);
}

int completion_wait(struct completion *c)
{
	uint32_t v;

	for (unsigned int i = 0; i < COMPLETION_SPINS; i++) {
		if (atomic_load_explicit(&c->done, memory_order_acquire) == 1)
			return c->result;
		ck_pr_stall();
	}
	for (;;) {
		v = 0;
		/* acquire on failure too: a 1 seen here publishes the result */
		if (!atomic_compare_exchange_strong_explicit(&c->done, &v, COMPLETION_SLEEPER,
							     memory_order_acquire,
							     memory_order_acquire) &&
		    v == 1)
			return c->result;
		waitword_wait(&c->done, COMPLETION_SLEEPER, -1);
	}
}
