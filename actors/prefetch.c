/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/prefetch.c - the prefetch worker (see prefetch.h).
 *
 * A request arrives with its prefix already borrowed by kvt_prefetch(), so
 * nothing in it can be evicted or reused while it waits here; the worker
 * owns the request and those borrows, and gives both up when done.  Each
 * request counts as one kvt_enter() operation until then, so close waits.
 * Promoting a DAX hit into L1 waits for the index actor's INSERT; the index
 * never waits on a prefetch worker, so they cannot deadlock.
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

	for (size_t i = 0; i < req->hits; i++) {
		struct entry *e = req->entries[i];

		memcpy(req->bufs[i], entry_data(e), e->len);
		req->out_lens[i] = e->len;
		TIER_COUNT(e->tier, bytes_out, e->len);
		kvt_promote(kvt, e, req->bufs[i]);
		kvt_put_entry(kvt, e);
	}
	if (req->cb)
		req->cb(req->cb_arg, req->ticket, (ssize_t)req->hits);
	if (write(kvt->event_fd, &one, sizeof(one)) != sizeof(one))
		log_error("prefetch: event fd write failed");
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
