/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/prefetch.h - prefetch workers: copy a borrowed prefix into the
 * caller's buffers, release the borrows, fire the callback, bump the event
 * fd.  kvt_prefetch() posts one request to one worker, chosen by ticket.
 */
#ifndef KVT_ACTORS_PREFETCH_H
#define KVT_ACTORS_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/actor.h"
#include "kvtier.h"

struct entry;

enum prefetch_op {
	PREFETCH_RUN = 1, /* ptr[0] struct prefetch_req *, freed by the worker */
	PREFETCH_BARRIER, /* done */
};

struct prefetch_req {
	uint64_t ticket;
	uint64_t t0;              /* kvt_op_start() at submit */
	size_t hits;              /* borrowed prefix length */
	size_t n;                 /* keys asked for */
	struct kvt_key *keys;     /* with L2 tiers: all n, to continue the prefix there */
	const size_t *buf_lens;
	void *const *bufs;
	size_t *out_lens;
	kvt_prefetch_cb cb;
	void *cb_arg;
	struct entry *entries[];  /* hits borrowed entries */
};

extern const struct actor_ops prefetch_actor_ops;

#endif /* KVT_ACTORS_PREFETCH_H */
