/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/l2done.c - the L2 completion actor (see l2done.h).  Its one wait
 * is a slot release on the index actor, which never waits on it or on an
 * adapter, so nothing here can deadlock.
 */
#include "actors/l2done.h"

#include "core/instance.h"

static void l2done_handle(void *ctx, const struct actor_msg *m)
{
	struct kvt *kvt = ctx;

	ACTOR_ASSERT_SELF(&kvt->l2done);
	if (m->op == L2DONE_FINISH)
		l2done_finish(kvt, m->ptr[0]);
	if (m->done)
		completion_signal(m->done, 0);
}

const struct actor_ops l2done_actor_ops = {
	.handle = l2done_handle,
};
