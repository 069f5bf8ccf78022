/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/actor.h - the actor runtime every kvtier thread runs on.
 *
 * An actor is one thread that owns its state and a mailbox: a Concurrency
 * Kit MPSC ring of fixed 64-byte messages copied by value.  Any thread posts;
 * only the actor dequeues.  The actor drains in bounded batches and sleeps on
 * a futex word when the ring is empty, so an idle actor costs nothing and a
 * post wakes it with one syscall only when it sleeps.  A full ring makes the
 * poster wait at most the mailbox's wait_ms, then fail with -ETIMEDOUT
 * (counted), never drop.  Stop is a message: everything posted before it is
 * handled, then the thread exits and is joined.
 */
#ifndef KVT_CORE_ACTOR_H
#define KVT_CORE_ACTOR_H

#include <ck_ring.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/waitword.h"

#define ACTOR_OP_STOP 0xffffu
#define ACTOR_BATCH 64

/* One mailbox message.  Larger data goes by pointer; each op says who frees it. */
struct actor_msg {
	uint32_t op;
	uint32_t u32;
	uint64_t u64[2];
	void *ptr[3];
	struct completion *done; /* signalled by the handler when not NULL */
};
_Static_assert(sizeof(struct actor_msg) <= 64, "a message must fit one cache line");

struct actor;

struct actor_ops {
	/* Runs on the actor thread before the first message (may be NULL). */
	void (*on_start)(void *ctx);
	/* Handles one message; runs on the actor thread only, never blocks. */
	void (*handle)(void *ctx, const struct actor_msg *m);
	/*
	 * Called when the mailbox is empty, before sleeping (may be NULL).
	 * Return: milliseconds until the actor wants to run idle() again, or
	 * -1 to sleep until the next message.
	 */
	int (*idle)(void *ctx);
	/* Runs on the actor thread after the last message (may be NULL). */
	void (*on_stop)(void *ctx);
};

struct actor_stats {
	uint64_t handled;
	uint64_t full_waits; /* posts that found the ring full */
	uint64_t timeouts;   /* posts that gave up after wait_ms */
	uint64_t depth;      /* messages queued now */
};

struct actor {
	const char *name;
	const struct actor_ops *ops;
	void *ctx;
	pthread_t thread;
	pid_t tid;                 /* [atomic] set by the thread at start */
	int numa_node;
	uint32_t wait_ms;
	bool started;
	struct ck_ring ring;       /* [any producer, actor consumer] */
	struct actor_msg *buf;
	alignas(64) _Atomic uint32_t wake_seq;  /* bumped to wake the actor */
	_Atomic uint32_t sleeping;              /* the actor is (about to be) asleep */
	alignas(64) _Atomic uint32_t space_seq; /* bumped when the actor frees ring space */
	_Atomic uint32_t space_waiters;
	alignas(64) _Atomic uint64_t handled;
	_Atomic uint64_t full_waits;
	_Atomic uint64_t timeouts;
};

/*
 * actor_start() - start @a's thread.
 * @depth:     ring size, a power of two >= 4.
 * @wait_ms:   longest a poster waits on a full ring.
 * @numa_node: node to run on, or -1 for anywhere.
 *
 * Threads: any, once per actor.  Blocks: thread creation.
 * Return: 0, -ENOMEM or -errno from pthread_create; on error nothing is left.
 */
int actor_start(struct actor *a, const char *name, const struct actor_ops *ops,
		void *ctx, unsigned int depth, unsigned int wait_ms, int numa_node);

/*
 * actor_post() - copy @m into @a's mailbox and wake it if it sleeps.
 * Threads: any.  Blocks: at most wait_ms when the ring is full.
 * Return: 0, or -ETIMEDOUT (nothing was posted).
 */
int actor_post(struct actor *a, const struct actor_msg *m);

/*
 * actor_call() - post @m with a completion and wait for the handler's
 * completion_signal().  The caller must not be @a's own thread.
 * Return: the handler's result, or -ETIMEDOUT from the post.
 */
int actor_call(struct actor *a, struct actor_msg *m);

/*
 * actor_stop() - post STOP, wait for the thread to handle everything before
 * it, join it and free the ring.  No post may start after actor_stop began;
 * the owner of the actor guarantees that.
 * Threads: any but @a's.  Blocks: until joined.
 */
void actor_stop(struct actor *a);

/* True on @a's own thread; used by ACTOR_ASSERT_SELF(). */
bool actor_is_self(const struct actor *a);

#ifdef NDEBUG
#define ACTOR_ASSERT_SELF(a) ((void)(a))
#else
#include <assert.h>
#define ACTOR_ASSERT_SELF(a) assert(actor_is_self(a))
#endif

void actor_stats(struct actor *a, struct actor_stats *out);

#endif /* KVT_CORE_ACTOR_H */
