/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/waitword.h - sleep on a 32-bit word until it changes (futex), and a
 * one-shot completion built on it.  These are the only blocking waits in
 * kvtier: actors sleep on their mailbox word, callers on a completion.
 *
 * Threads: any.
 */
#ifndef KVT_CORE_WAITWORD_H
#define KVT_CORE_WAITWORD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * waitword_wait() - sleep while *@word == @expected, at most @timeout_ms
 * (negative: no limit).  Spurious wake-ups happen: callers re-check.
 * Return: 0 woken or value changed, -ETIMEDOUT.
 */
int waitword_wait(_Atomic uint32_t *word, uint32_t expected, int timeout_ms);

/* waitword_wake() - wake every sleeper on @word. */
void waitword_wake(_Atomic uint32_t *word);

/* Monotonic milliseconds, for deadlines and pin leases. */
uint64_t clock_now_ms(void);
uint64_t clock_now_ns(void);

/*
 * A completion lives on the waiter's stack.  The signaller stores the
 * result, then releases @done; the waiter may return (and free the stack) as
 * soon as it sees @done, so the signaller touches nothing after the wake.
 */
struct completion {
	_Atomic uint32_t done;
	int result;
};

static inline void completion_init(struct completion *c)
{
	atomic_init(&c->done, 0);
	c->result = 0;
}

void completion_signal(struct completion *c, int result);
/* Blocks until signalled.  Return: the signalled result. */
int completion_wait(struct completion *c);

#endif /* KVT_CORE_WAITWORD_H */
