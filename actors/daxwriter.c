/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/daxwriter.c - the DAX writer (see daxwriter.h).
 *
 * Each message holds a borrow on the L1 copy, so L1 cannot evict or reuse
 * its slot before the bytes are in DAX, and one kvt_enter() operation, so
 * kvt_close() waits for queued writes.  A write that fails (DAX full with
 * dax.eviction: none, no slot freed in time) leaves the chunk in L1 only,
 * is counted in dax_write_errors, and fires no callback.  A key removed
 * while its write was queued is not written: the index actor drops the copy
 * of a dead source.
 *
 * Its one wait is the INDEX_INSERT call to the index actor, which never
 * waits on this actor, so the two cannot deadlock.
 */
#include "actors/daxwriter.h"

#include <errno.h>

#include "core/instance.h"
#include "core/log.h"

static void daxwriter_write(struct kvt *kvt, const struct actor_msg *m)
{
	struct entry *e = m->ptr[0];
	kvt_put_cb cb = (kvt_put_cb)m->ptr[2];
	int res = kvt_copy_entry(kvt, &kvt->dax, e, entry_data(e), kvt->cfg.put_wait_ms);

	/* 1: already in DAX, which is as readable as a fresh copy */
	if (res >= 0 && cb)
		cb(m->ptr[1], &e->key, (size_t)m->u64[0]);
	/* -ENOENT: removed while queued, nothing to write, not a failure */
	if (res == -ENOENT) {
		COUNT(kvt, dax_write_dropped, 1);
	} else if (res < 0) {
		COUNT(kvt, dax_write_errors, 1);
		log_debug("dax writer: %s", kvt_strerror(res));
	}
	kvt_put_entry(kvt, e);
	kvt_exit(kvt);
}

/* A cache fill: never wait for L1 space; a key removed meanwhile is dropped. */
static void daxwriter_promote(struct kvt *kvt, struct entry *e)
{
	if (kvt_copy_entry(kvt, &kvt->l1, e, entry_data(e), 0) == 0)
		COUNT(kvt, dax_promotions, 1);
	kvt_put_entry(kvt, e);
	kvt_exit(kvt);
}

static void daxwriter_handle(void *ctx, const struct actor_msg *m)
{
	struct kvt *kvt = ctx;

	ACTOR_ASSERT_SELF(&kvt->daxwriter);
	if (m->op == DAXW_WRITE)
		daxwriter_write(kvt, m);
	else if (m->op == DAXW_PROMOTE)
		daxwriter_promote(kvt, m->ptr[0]);
	if (m->done)
		completion_signal(m->done, 0);
}

const struct actor_ops daxwriter_actor_ops = {
	.handle = daxwriter_handle,
};
