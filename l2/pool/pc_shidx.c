/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/pc_shidx.c - the pool client's reads of kvtier-poold's shared
 * index (proto/maru/pool_shidx.h): where keys live, without an RPC.
 * Pool client actor only (and poolclient_create() before it starts).
 *
 * What the index may answer, and why that keeps pins exact:
 *	exists (store)  a hit or a miss is what BATCH_EXISTS would have said at
 *	                some instant of the call; nothing is pinned either way.
 *	lookup          where the hits are; the hits are then pinned by
 *	                BATCH_PIN as before, and the daemon's pin fails for a
 *	                key deleted meanwhile, so a hit is only reported pinned.
 *	load            where the bytes are, in a region already mapped here;
 *	                the bytes are copied and their header (key, length) and
 *	                checksum checked as for an RPC answer, so an entry that
 *	                went stale between the read and the copy is a miss, never
 *	                another key's bytes.  A region not mapped yet needs its
 *	                handle and token: the RPC answers that job.
 * The index is trusted only while the daemon answers RPCs (healthy).
 * Registers, pins, unpins, deletes, reclaims and unknown register outcomes
 * stay RPCs: they change state or need this connection's order.  A job
 * goes to the RPC whole when the index cannot answer one of its keys
 * (UNKNOWN: incomplete, closed, a writer stuck mid-write).
 */
#define _GNU_SOURCE
#include "l2/pool/pc_internal.h"

void pc_shidx_open(struct poolclient *pc)
{
	int ret;

	if (!pc->conf.shared_index || pc->shidx.hdr)
		return;
	ret = shidx_fetch(&pc->shidx, pc->conf.rm, pc->conf.timeout_ms, !pc->conf.coherent);
	/* a server without one (Maru's, or --shared-index 0) never gets one */
	pc->shidx_retry = ret && ret != -EPROTO && ret != -EOPNOTSUPP && ret != -EBADMSG;
	if (ret)
		log_info("pool: rm \"%s\": no shared index (%s): lookups use the RPC",
			 pc->conf.rm, strerror(-ret));
	else
		log_info("pool: rm \"%s\": shared index of %llu slots mapped%s", pc->conf.rm,
			 (unsigned long long)pc->shidx.hdr->nslots,
			 pc->conf.coherent ? "" : ", lines flushed before each read");
	atomic_store_explicit(&pc->st_shidx, !ret, memory_order_relaxed);
}

void pc_shidx_close(struct poolclient *pc)
{
	shidx_detach(&pc->shidx);
	atomic_store_explicit(&pc->st_shidx, false, memory_order_relaxed);
}

/* A new daemon (the session renewed) has a new index; a closed one is the
 * old daemon's. */
void pc_shidx_reopen(struct poolclient *pc)
{
	pc_shidx_close(pc);
	pc->shidx_retry = true;
	pc_shidx_open(pc);
}

static const struct maru_handle *region_known(const struct poolclient *pc, uint64_t rid)
{
	for (size_t i = 0; i < pc->nowned; i++)
		if (pc->owned[i].h.region_id == rid)
			return &pc->owned[i].h;
	for (size_t i = 0; i < pc->nforeign; i++)
		if (pc->foreign[i].h.region_id == rid)
			return &pc->foreign[i].h;
	return NULL;
}

/*
 * Where the keys @sel selects (NULL: all) live, from the index.  @need_map:
 * a hit counts only in a region mapped here (its handle is filled).
 * Return: 0 every selected key answered, or -EAGAIN: ask the RPC.
 */
static int index_locs(struct poolclient *pc, const struct kvt_key *keys, size_t n,
		      const bool *sel, struct pc_loc *loc, bool need_map)
{
	size_t answered = 0;

	/* a daemon killed outright never marks its index closed: trust the
	 * index only while the daemon answers (healthy: the last RPC did) */
	if (!pc->shidx.hdr || !atomic_load_explicit(&pc->healthy, memory_order_relaxed))
		return -EAGAIN;
	memset(loc, 0, n * sizeof(*loc));
	for (size_t i = 0; i < n; i++) {
		const struct maru_handle *h;
		struct shidx_loc l;
		enum shidx_answer a;

		if (i + SHIDX_AHEAD < n && (!sel || sel[i + SHIDX_AHEAD]))
			shidx_prefetch(&pc->shidx, keys[i + SHIDX_AHEAD].lo,
				       keys[i + SHIDX_AHEAD].hi);
		if (sel && !sel[i])
			continue;
		a = shidx_lookup(&pc->shidx, keys[i].lo, keys[i].hi, &l);
		if (a == SHIDX_UNKNOWN) {
			if (atomic_load_explicit(&pc->shidx.hdr->flags, memory_order_relaxed) &
			    SHIDX_CLOSED)
				pc_shidx_close(pc);  /* its daemon stopped */
			goto fallback;
		}
		answered++;
		if (a == SHIDX_MISS)
			continue;
		h = region_known(pc, l.region_id);
		if (h)
			loc[i].h = *h;
		else if (need_map)
			goto fallback;
		else
			loc[i].h.region_id = l.region_id;
		loc[i].found = true;
		loc[i].off = l.kv_offset;
		loc[i].len = l.kv_length;
	}
	bump(&pc->st_index_answers, answered);
	return 0;
fallback:
	bump(&pc->st_index_fallbacks, 1);
	return -EAGAIN;
}

int pc_locs(struct poolclient *pc, const struct kvt_key *keys, size_t n, struct pc_loc *loc,
	    bool need_map)
{
	if (index_locs(pc, keys, n, NULL, loc, need_map) == 0)
		return 0;
	return pc_lookup_locs(pc, keys, n, loc);
}

int pc_index_exists(struct poolclient *pc, const struct kvt_key *keys, size_t n,
		    const bool *sel, struct pc_loc *loc)
{
	return index_locs(pc, keys, n, sel, loc, false);
}
