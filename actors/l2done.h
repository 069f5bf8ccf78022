/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/l2done.h - the L2 completion actor: finishes a put window once
 * every L2 adapter has answered for it (fires the put callbacks of the
 * chunks every adapter stored, drops the L1 borrows or frees the staging
 * slots).  Adapter threads hand windows over here because the release may
 * wait on the index actor, and an adapter's completion must not wait.
 */
#ifndef KVT_ACTORS_L2DONE_H
#define KVT_ACTORS_L2DONE_H

#include "core/actor.h"

struct kvt;
struct l2_put;

enum l2done_op {
	L2DONE_FINISH = 1, /* ptr[0] struct l2_put *, freed by the handler */
};

extern const struct actor_ops l2done_actor_ops;

/* l2done_finish() - finish and free @p (api/l2.c).  Threads: the l2done
 * actor, or the putting thread when no adapter took the window. */
void l2done_finish(struct kvt *kvt, struct l2_put *p);

#endif /* KVT_ACTORS_L2DONE_H */
