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

#include "core/instance.h"
#include "core/log.h"
#include "core/mem.h"

/*
 * With L2 tiers the prefix goes on past the L1/DAX prefix borrowed at
 * submit: from L2 where L1/DAX miss, then from L1/DAX again where L2
 * misses (a key whose L2 write failed or was evicted there), until no tier
 * has the next key.  @pos keys are already in the caller's buffers.
 * Return: the prefix length.
 */
static size_t continue_prefix(struct kvt *kvt, struct prefetch_req *req, size_t pos)
{
	while (pos < req->n) {
		ssize_t more = l2_fetch(kvt, req->keys + pos, req->n - pos, req->bufs + pos,
					req->buf_lens + pos, req->out_lens + pos, true);
		size_t m = 0;
		ssize_t copied;

		if (more < 0)
			break;
		COUNT(kvt, prefetch_hits, more);
		pos += (size_t)more;
		/* req->entries[pos..] are free: the submit borrowed fewer */
		while (pos + m < req->n) {
			struct entry *e = kvt_borrow_key(kvt, &req->keys[pos + m]);

			if (!e)
				break;
			if (e->len > req->buf_lens[pos + m]) {
				kvt_put_entry(kvt, e);
				break;
			}
			req->entries[pos + m++] = e;
		}
		if (!m)
			break;
		copied = kvt_copy_out(kvt, req->entries + pos, req->bufs + pos, m,
				      req->out_lens + pos);
		if (copied < 0)
			break;
		COUNT(kvt, prefetch_hits, copied);
		pos += (size_t)copied;
		if ((size_t)copied < m)
			break;
	}
	for (size_t i = pos; i < req->n; i++)
		req->out_lens[i] = 0;
	return pos;
}

static void prefetch_run(struct kvt *kvt, struct prefetch_req *req)
{
	uint64_t one = 1;
	ssize_t hits = kvt_copy_out(kvt, req->entries, req->bufs, req->hits, req->out_lens);

	if (req->keys && hits >= 0 && (size_t)hits == req->hits)
		hits = (ssize_t)continue_prefix(kvt, req, req->hits);

	if (req->cb)
		req->cb(req->cb_arg, req->ticket, hits);
	KVT_OP_DONE(kvt, KVT_OP_PREFETCH, req->t0);
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
