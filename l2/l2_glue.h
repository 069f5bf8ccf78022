/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/l2_glue.h - what every L2 adapter built on an actor shares: its
 * three event fds, the destroy/submit handshake, a task's job block and
 * completing a task (results, done flag, event fd bump, on_done).  An
 * adapter keeps only its parsing, its actor and its status.
 *
 * Threads: every call may run on any thread, concurrently, except
 * l2_glue_init(), l2_glue_close() and l2_glue_fini(), which run once each.
 * The only shared state is [atomic]: closing and users, a Dekker pair so
 * that no post starts after destroy began stopping the actor (submit:
 * users++, then read closing; destroy: set closing, then wait for
 * users == 0; both seq_cst).
 */
#ifndef KVT_L2_L2_GLUE_H
#define KVT_L2_L2_GLUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvtier/l2.h"

/*
 * One STORE, LOOKUP or LOAD task, or one DELETE call.  The submitter
 * allocates it (with its arrays in the same block) and posts it; the actor
 * fills the results and hands it to l2_glue_complete() (tasks) or signals
 * the DELETE caller, who frees it.  An actor with bookkeeping of its own
 * puts this first in a larger job (l2_glue_actor.job_size).
 */
struct l2_job {
	enum kvt_l2_op op;         /* KVT_L2_NOPS for DELETE */
	size_t n;
	struct kvt_key *keys;
	void **bufs;               /* STORE, LOAD */
	size_t *lens;              /* STORE: payload lengths; LOAD: buffer sizes */
	struct kvt_l2_task *task;  /* NULL for DELETE */
	int *results;              /* DELETE: per key, 0, -ENOENT, -EBUSY or -errno */
	ssize_t deleted;           /* DELETE: keys deleted */
};

/* How the glue reaches an adapter's actor. */
struct l2_glue_actor {
	const char *type;          /* the adapter's type, for messages */
	size_t job_size;           /* the actor's job, a struct l2_job first */
	/* queue a task's @job; 0, or -ETIMEDOUT (not queued; the caller owns @job) */
	int (*submit)(void *actor, struct l2_job *job);
	/* run a DELETE @job and wait; 0 (results in @job), or -ETIMEDOUT */
	int (*delete)(void *actor, struct l2_job *job);
	/* drop the lock a LOOKUP took on @key; any thread */
	void (*unlock)(void *actor, const struct kvt_key *key);
};

struct l2_glue {
	const struct l2_glue_actor *ops;
	void *actor;               /* set once the actor runs, before any submit */
	int efd[KVT_L2_NOPS];
	_Atomic uint32_t users;    /* [atomic] submitters past the closing check */
	_Atomic bool closing;      /* [atomic] destroy has begun */
};

/* l2_glue_init() - zero @g and open its event fds.
 * Return: 0, or a negative errno with @err ("<type>: eventfd: ...") and
 * nothing left open. */
int l2_glue_init(struct l2_glue *g, const struct l2_glue_actor *ops, char *err, size_t errlen);

/* l2_glue_close() - refuse new submits and wait until none is posting, so
 * that the actor can be stopped.  Blocks: yields while a submit runs. */
void l2_glue_close(struct l2_glue *g);

/* l2_glue_fini() - close the event fds; after the actor stopped. */
void l2_glue_fini(struct l2_glue *g);

/* The ops' event_fd(). */
int l2_glue_event_fd(const struct l2_glue *g, enum kvt_l2_op op);

/* l2_glue_enter() - count a caller that will post to the actor; pairs with
 * l2_glue_close(): either it sees us in users, or we see closing.
 * Return: 0 (call l2_glue_leave() after posting), or -ESHUTDOWN. */
int l2_glue_enter(struct l2_glue *g);
void l2_glue_leave(struct l2_glue *g);

/* l2_glue_submit() - the ops' submit_store/lookup/load(): check the
 * arguments, copy them into a job, reset the task's results and post it.
 * @bufs, @lens: NULL for LOOKUP.  Return: 0, -EINVAL, -ESHUTDOWN, -ENOMEM
 * or the actor's error. */
int l2_glue_submit(struct l2_glue *g, enum kvt_l2_op op, const struct kvt_key *keys,
		   const void *const *bufs, const size_t *lens, size_t n,
		   struct kvt_l2_task *task);

/* l2_glue_remove() - the ops' remove(): run a DELETE through the actor.
 * Return: keys deleted, or a negative errno. */
ssize_t l2_glue_remove(struct l2_glue *g, const struct kvt_key *keys, size_t n, int *results);

/*
 * The kvt_l2_ops every adapter built on the glue implements alike, for its
 * ops table.  They take the adapter as its glue, so struct l2_glue must be
 * the first member of the adapter's struct kvt_l2_adapter (L2_GLUE_FIRST).
 */
#define L2_GLUE_FIRST(adapter)                                                               \
	_Static_assert(offsetof(adapter, glue) == 0, "l2_glue_op_* take the adapter as its glue")
/* The ops table entries of those, for an adapter's struct kvt_l2_ops. */
#define L2_GLUE_OPS                                                                          \
	.event_fd = l2_glue_op_event_fd, .submit_store = l2_glue_op_submit_store,            \
	.submit_lookup = l2_glue_op_submit_lookup, .submit_load = l2_glue_op_submit_load,    \
	.unlock = l2_glue_op_unlock, .remove = l2_glue_op_remove
int l2_glue_op_event_fd(struct kvt_l2_adapter *a, enum kvt_l2_op op);
int l2_glue_op_submit_store(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			    const void *const *bufs, const size_t *lens, size_t n,
			    struct kvt_l2_task *task);
int l2_glue_op_submit_lookup(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			     struct kvt_l2_task *task);
int l2_glue_op_submit_load(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			   void *const *bufs, const size_t *buf_lens, size_t n,
			   struct kvt_l2_task *task);
/* unlock() once destroy began is a no-op: the locks die with the adapter */
void l2_glue_op_unlock(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n);
ssize_t l2_glue_op_remove(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			  int *results);

/* l2_glue_complete() - publish a finished task's @job (its results already
 * in the task) and free it.  Threads: the actor's. */
void l2_glue_complete(struct l2_glue *g, struct l2_job *job);

#endif /* KVT_L2_L2_GLUE_H */
