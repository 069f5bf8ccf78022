/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/prefetch.c - the prefetch worker (see prefetch.h).
 *
 * A request arrives with its prefix already borrowed by kvt_prefetch(), so
 * nothing in it can be evicted or reused while it waits here; the worker
 * owns the request and those borrows, and gives both up when done.  Each
 * request counts as one kvt_enter() operation until then, so close waits.
 * DAX chunks go through a batched restore, and promoting a DAX hit into L1
 * waits for the index actor's INSERT; neither the restore workers nor the
 * index ever wait on a prefetch worker, so they cannot deadlock.
 */
#include "actors/prefetch.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "core/log.h"
#include "core/mem.h"

static void prefetch_run(struct kvt *kvt, struct prefetch_req *req)
{
	uint64_t one = 1;
	ssize_t hits = kvt_copy_out(kvt, req->entries, req->bufs, req->hits, req->out_lens);

	/* the prefix goes on in the L2 tiers only if nothing above broke it */
	if (req->keys && hits >= 0 && (size_t)hits == req->hits && req->hits < req->n) {
		size_t h = req->hits;
		ssize_t more = l2_fetch(kvt, req->keys + h, req->n - h, req->bufs + h,
					req->buf_lens + h, req->out_lens + h, true);

		if (more > 0) {
			hits += more;
			COUNT(kvt, prefetch_hits, more);
		}
	}

	if (req->cb)
		req->cb(req->cb_arg, req->ticket, hits);
	if (write(kvt->event_fd, &one, sizeof(one)) != sizeof(one)) {
		log_error("prefetch: event fd write failed");
		COUNT(kvt, errors, 1);
	}
	mem_free(req);
	kvt_exit(kvt);
}

static void prefetch_handle(void *ctx, const struct actor_msg *m)
{
	struct kvt *kvt = ctx;

	if (m->op == PREFETCH_RUN)
		prefetch_run(kvt, m->ptr[0]);
	if (m->done)
		completion_signal(m->done, 0);
}

const struct actor_ops prefetch_actor_ops = {
	.handle = prefetch_handle,
};
