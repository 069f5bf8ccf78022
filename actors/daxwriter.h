/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/daxwriter.h - the DAX writer actor: in tiered mode with
 * dax.async_put, copies each chunk kvt_put() stored in L1 into the DAX tier
 * (crash-safe slot protocol, then INDEX_INSERT), then fires the put's
 * completion callback: the key is now readable in every tier it is written
 * to.  It also fills L1 with chunks reads found in DAX (dax.promote), off
 * the reader's path.  It runs on the device's NUMA node.
 */
#ifndef KVT_ACTORS_DAXWRITER_H
#define KVT_ACTORS_DAXWRITER_H

#include "core/actor.h"

enum daxwriter_op {
	DAXW_WRITE = 1, /* ptr[0] borrowed L1 entry (the worker releases it),
			 * ptr[1] cb_arg, ptr[2] kvt_put_cb, u64[0] batch index */
	DAXW_PROMOTE,   /* ptr[0] borrowed DAX entry to copy into L1 (the worker
			 * releases it and the kvt_enter() that came with it) */
	DAXW_BARRIER,   /* done */
};

extern const struct actor_ops daxwriter_actor_ops;

#endif /* KVT_ACTORS_DAXWRITER_H */
