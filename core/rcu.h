/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/rcu.h - the one place that picks the liburcu flavor.
 *
 * kvtier uses the bulletproof flavor (urcu-bp): engine threads the library
 * never saw take read sections without registering.  No other file includes
 * a flavor header.
 *
 * ThreadSanitizer cannot see the ordering liburcu and Concurrency Kit build
 * from inline-assembly fences, so TSan builds annotate it: publishing a node
 * is a release on the node, a lookup that returns it an acquire; every read
 * unlock releases and every grace-period callback acquires one sync object.
 * In other builds the annotations compile to nothing.
 */
#ifndef KVT_CORE_RCU_H
#define KVT_CORE_RCU_H

#include <urcu-bp.h>
#include <urcu/rculfhash.h>

#include "core/tsan.h"

#ifdef KVT_TSAN
extern char rcu_tsan_grace;
#endif

static inline void kvt_rcu_read_lock(void)
{
	rcu_read_lock();
}

static inline void kvt_rcu_read_unlock(void)
{
#ifdef KVT_TSAN
	tsan_release(&rcu_tsan_grace);
#endif
	rcu_read_unlock();
}

/* call_rcu() that TSan can follow: the callback happens after this call. */
static inline void kvt_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *head))
{
#ifdef KVT_TSAN
	tsan_release(&rcu_tsan_grace);
#endif
	call_rcu(head, fn);
}

/* Start of a call_rcu() callback: every read section before it has ended. */
static inline void kvt_rcu_grace_begin(void)
{
#ifdef KVT_TSAN
	tsan_acquire(&rcu_tsan_grace);
#endif
}

#endif /* KVT_CORE_RCU_H */
