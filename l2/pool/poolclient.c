/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/poolclient.c - the actor of the "pool" L2 adapter (see
 * poolclient.h; the daemon is tools/kvtier-poold, the wire formats
 * proto/maru/maru_rpc.h and proto/maru/maru_rm.h, the chunk format l2/fschunk.h).
 *
 * Owns (actor thread only, untagged): the DEALER socket and its sequence
 * counter, the owned regions with their page bitmaps and the key each used
 * page holds, the mappings of other instances' regions and the pending
 * unpins.  The counters at the end of
 * struct poolclient are [atomic]: written by the actor, read anywhere.
 * Before the actor starts, poolclient_create() does the first RPCs on the
 * creating thread; pthread_create orders that before the actor's first
 * access, and actor_stop()'s join orders the actor's last access before
 * poolclient_destroy() uses the socket again.
 *
 * One RPC at a time: a request goes out as [empty, frame] (Maru's async
 * client shape), and replies whose sequence is not the one awaited (late
 * answers to requests that timed out) are dropped.  The daemon serves one
 * connection in order, so an answer to a later request proves every
 * earlier one was handled.  ZMQ_IMMEDIATE keeps requests from queueing
 * while no connection exists, so a dead daemon fails a request at once
 * instead of replaying it when it comes back.
 *
 * Store: BATCH_EXISTS (present keys count as stored), then a page per new
 * key (stale pages reclaimed first, then a new region, when too few are
 * free and auto_expand allows), the fschunk header and payload copied in,
 * then one BATCH_REGISTER.  is_new false is a lost race: the page is freed
 * and the key counts as stored; a "refused" index frees the page and fails
 * the key.  When the register's answer never comes its outcome is
 * unknown: a BATCH_LOOKUP decides (ours: kept; someone else's or absent:
 * freed); if that fails too the pages stay used (counted in unknown),
 * since the server may point at them, until a reclaim finds it does not.
 *
 * Where keys live (store's existence check, lookup, load) comes from the
 * daemon's shared index when it can answer, without an RPC; else from
 * BATCH_EXISTS or BATCH_LOOKUP (l2/pool/pc_shidx.c says what it may answer).
 *
 * Lookup: BATCH_LOOKUP, then BATCH_PIN of the hits in order (the daemon's
 * pin is prefix-stop, so a key deleted in between leaves the rest unpinned:
 * misses).  A pin RPC without an answer queues unpins of every key it
 * asked for (an unpin of an unpinned key does nothing).
 *
 * Load: BATCH_LOOKUP; another instance's region is mapped on first use
 * (GET_FD with the handle and token the lookup returned), read-only, and
 * kept until destroy.  The header is copied out and checked, the payload
 * copied into the caller's buffer and its checksum verified on that copy,
 * so a torn, foreign or corrupt value (or one rewritten during the copy)
 * is a miss.
 *
 * Remove: BATCH_LOOKUP (to know which pages are ours), then DELETE_KV per
 * key; a deleted key in one of our pages frees the page.
 *
 * Reclaim: a key of ours that another instance deletes leaves its page
 * used here (DELETE_KV answers only the caller), and so does a register
 * whose outcome stayed unknown.  Each owned page remembers the key it
 * holds; when a store finds too few free pages, one BATCH_LOOKUP of those
 * keys finds the pages no entry points to any more, and frees them.  Only
 * this actor registers into our pages, so none can become referenced
 * again behind its back; the lookup's answer proves every earlier
 * register was handled; and a reader that pinned a key keeps it from
 * being deleted, so no page is reused under a pinned reader.
 *
 * Renewal: the daemon drops a connection whose client went silent for its
 * lease (a stalled process) and releases the instance's regions with it;
 * the next message opens a new connection bound to no instance, and every
 * register is refused.  A refused register into our own page is that sign:
 * the owned regions are no longer ours (their keys stay readable, so their
 * mappings stay, read-only, with the other instances'), HANDSHAKE binds
 * the connection again, and a fresh first region replaces them.  By then
 * the pages were written, maybe into an extent the daemon gave another
 * instance, so kvtier-poold's answers also carry the connection's id
 * (HANDSHAKE, HEARTBEAT) and its lease (HANDSHAKE): a store whose last
 * answer is older than half the lease asks first (lease_fence), and so
 * does every idle HEARTBEAT; a new id means renew before any page is
 * written.  Maru's own server says neither, and has no lease to outlive.
 */
#define _GNU_SOURCE
#include "l2/pool/poolclient.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include "core/actor.h"
#include "l2/fschunk.h"
#include "core/log.h"
#include "proto/maru/maru_mp.h"
#include "proto/maru/maru_rm.h"
#include "proto/maru/maru_rpc.h"
#include "core/mem.h"
#include "l2/pool/pool_pages.h"
#include "core/waitword.h"
#include "kvtier/l2.h"

#include "l2/pool/pc_internal.h"

/* ---- unpins ----------------------------------------------------------- */

static void unpin_queue(struct poolclient *pc, const struct kvt_key *k)
{
	if (pc->nunpins == pc->capunpins) {
		size_t cap = pc->capunpins ? pc->capunpins * 2 : 64;
		struct kvt_key *u = mem_alloc(cap * sizeof(*u));

		if (!u) {
			bump(&pc->st_errors, 1);  /* the daemon's pin TTL releases it */
			return;
		}
		if (pc->nunpins)
			memcpy(u, pc->unpins, pc->nunpins * sizeof(*u));
		mem_free(pc->unpins);
		pc->unpins = u;
		pc->capunpins = cap;
	}
	pc->unpins[pc->nunpins++] = *k;
}

/* One BATCH_UNPIN of every queued key; a failure leaves them to the
 * daemon's pin TTL or client lease. */
static void unpin_flush(struct poolclient *pc)
{
	struct pc_reply r;

	if (!pc->nunpins)
		return;
	if (pc_rpc_keys(pc, MARU_BATCH_UNPIN_KV, pc->unpins, pc->nunpins, NULL, &r) == 0) {
		bump(&pc->st_unpins, pc->nunpins);
		pc_reply_close(&r);
	} else {
		bump(&pc->st_errors, pc->nunpins);
	}
	pc->nunpins = 0;
}

/* ---- tasks ------------------------------------------------------------ */

static void set_bit(struct kvt_l2_task *task, size_t i)
{
	task->bitmap[i / 64] |= 1ull << (i % 64);
}

/* Scratch of one job: every array the handlers need, in one block. */
struct pc_scratch {
	struct pc_loc *loc;
	struct pc_page *pg;
	bool *sel, *res, *refused;
	bool renew;       /* the daemon refused a register: see pc_session_renew() */
};

static int scratch_new(struct pc_scratch *s, size_t n)
{
	size_t m = n ? n : 1;
	uint8_t *p = mem_zalloc(m * (sizeof(*s->loc) + sizeof(*s->pg) + 3 * sizeof(bool)));

	if (!p)
		return -ENOMEM;
	s->loc = (struct pc_loc *)p;
	s->pg = (struct pc_page *)(p + m * sizeof(*s->loc));
	s->sel = (bool *)(p + m * (sizeof(*s->loc) + sizeof(*s->pg)));
	s->res = s->sel + m;
	s->refused = s->res + m;
	s->renew = false;
	return 0;
}

static void scratch_free(struct pc_scratch *s)
{
	mem_free(s->loc);
}

/* BATCH_REGISTER the selected keys at their pages; fills @res (is_new)
 * and @refused.  Return: 0, or a negative errno when the outcome is
 * unknown. */
static int register_pages(struct poolclient *pc, struct l2_job *job, struct pc_scratch *s)
{
	struct pc_reply r;
	msgpack_packer pk;
	struct mp_cur c;
	size_t m = 0, j = 0;
	uint32_t cnt;
	int ret;

	for (size_t i = 0; i < job->n; i++)
		m += s->sel[i];
	pc_req_begin(pc, &pk);
	msgpack_pack_map(&pk, 1);
	maru_pack_cstr(&pk, "entries");
	msgpack_pack_array(&pk, m);
	for (size_t i = 0; i < job->n; i++) {
		if (!s->sel[i])
			continue;
		msgpack_pack_map(&pk, 4);
		maru_pack_cstr(&pk, "key");
		pack_key(&pk, &job->keys[i]);
		maru_pack_cstr(&pk, "region_id");
		msgpack_pack_uint64(&pk, pc->owned[s->pg[i].region].h.region_id);
		maru_pack_cstr(&pk, "kv_offset");
		msgpack_pack_uint64(&pk, (uint64_t)s->pg[i].page * pc->conf.page_bytes);
		maru_pack_cstr(&pk, "kv_length");
		msgpack_pack_uint64(&pk, FSCHUNK_HDR + job->lens[i]);
	}
	/* release: the page bytes are written before the daemon can publish
	 * them (the send is a syscall; this documents the order) */
	atomic_thread_fence(memory_order_release);
	ret = pc_rpc(pc, MARU_BATCH_REGISTER_KV, &r, false);
	if (ret)
		return ret;
	ret = -EPROTO;
	if (!pc_member_bool(&r.c, "success"))
		goto out;
	{
		bool *tmp = mem_alloc((m ? m : 1) * sizeof(bool));

		if (!tmp || pc_member_bools(&r.c, "results", tmp, m)) {
			mem_free(tmp);
			goto out;
		}
		for (size_t i = 0; i < job->n; i++)
			if (s->sel[i])
				s->res[i] = tmp[j++];
		mem_free(tmp);
	}
	c = r.c;
	if (mp_map_member(&c, "refused") == 0 && mp_read_array(&c, &cnt) == 0) {
		while (cnt--) {
			uint64_t idx;

			if (mp_read_u64(&c, &idx))
				break;
			/* idx counts selected keys */
			for (size_t i = 0, k = 0; i < job->n; i++) {
				if (!s->sel[i])
					continue;
				if (k++ == idx) {
					s->refused[i] = true;
					s->renew = true;
					break;
				}
			}
		}
	}
	ret = 0;
out:
	pc_reply_close(&r);
	return ret;
}

static void on_store(struct poolclient *pc, struct l2_job *job, struct pc_scratch *s)
{
	struct kvt_l2_task *task = job->task;
	size_t m = 0, failed = 0;
	struct pc_reply r;
	int ret;

	for (size_t i = 0; i < job->n; i++) {
		s->sel[i] = job->lens[i] <= pc->conf.max_chunk;
		failed += !s->sel[i];
	}
	if (pc_lease_fence(pc))
		goto fail_all;
	/* keys already there count as stored and are not rewritten */
	if (pc_index_exists(pc, job->keys, job->n, s->sel, s->loc) == 0) {
		for (size_t i = 0; i < job->n; i++) {
			if (s->sel[i] && s->loc[i].found) {
				s->sel[i] = false;
				set_bit(task, i);
			}
		}
	} else {
		size_t cand = 0, j = 0;
		bool *ex;

		ret = pc_rpc_keys(pc, MARU_BATCH_EXISTS_KV, job->keys, job->n, s->sel, &r);
		if (ret)
			goto fail_all;
		for (size_t i = 0; i < job->n; i++)
			cand += s->sel[i];
		ex = mem_alloc((cand ? cand : 1) * sizeof(bool));
		ret = !ex ? -ENOMEM : pc_member_bools(&r.c, "results", ex, cand);
		pc_reply_close(&r);
		if (ret) {
			mem_free(ex);
			goto fail_all;
		}
		for (size_t i = 0; i < job->n; i++) {
			if (!s->sel[i])
				continue;
			if (ex[j++]) {
				s->sel[i] = false;
				set_bit(task, i);
			}
		}
		mem_free(ex);
	}
	{
		size_t need = 0;

		for (size_t i = 0; i < job->n; i++)
			need += s->sel[i];
		pc_make_room(pc, need);
	}
	for (size_t i = 0; i < job->n; i++) {
		uint8_t *p;

		if (!s->sel[i])
			continue;
		if (pc_page_alloc(pc, &s->pg[i])) {
			s->sel[i] = false;
			failed++;
			continue;
		}
		pc->owned[s->pg[i].region].chunks[s->pg[i].page] =
			(struct pc_chunk){ .key = job->keys[i], .len = job->lens[i] };
		p = pc_page_ptr(pc, &s->pg[i]);
		memcpy(p + FSCHUNK_HDR, job->bufs[i], job->lens[i]);
		fschunk_hdr_encode(p, &job->keys[i], job->lens[i],
				   fschunk_sum(job->bufs[i], job->lens[i]));
		m++;
	}
	if (!m)
		goto out;
	ret = register_pages(pc, job, s);
	if (ret) {
		/* unknown outcome: only a lookup may free a page the server may
		 * point to (this connection's requests are served in order) */
		if (pc_lookup_locs(pc, job->keys, job->n, s->loc)) {
			for (size_t i = 0; i < job->n; i++)
				if (s->sel[i]) {
					bump(&pc->st_unknown, 1);
					failed++;
				}
			goto out;
		}
		for (size_t i = 0; i < job->n; i++) {
			struct pc_page mine;

			if (!s->sel[i])
				continue;
			s->res[i] = s->loc[i].found && pc_page_of(pc, &s->loc[i], &mine) &&
				    mine.region == s->pg[i].region && mine.page == s->pg[i].page;
			s->refused[i] = !s->loc[i].found;
		}
	}
	for (size_t i = 0; i < job->n; i++) {
		if (!s->sel[i])
			continue;
		if (s->res[i]) {
			set_bit(task, i);
			task->bytes += (int64_t)job->lens[i];
			bump(&pc->st_stores, 1);
			bump(&pc->st_bytes_used, job->lens[i]);
			continue;
		}
		pc_page_free(pc, &s->pg[i]);
		if (s->refused[i]) {
			failed++;
		} else {
			set_bit(task, i);  /* first writer won: same key, same bytes */
			bump(&pc->st_lost_races, 1);
		}
	}
	if (s->renew)
		pc_session_renew(pc);
out:
	bump(&pc->st_errors, failed);
	return;
fail_all:
	bump(&pc->st_errors, job->n);
}

static void on_lookup(struct poolclient *pc, struct l2_job *job, struct pc_scratch *s)
{
	struct kvt_l2_task *task = job->task;
	struct pc_reply r;
	size_t m = 0, j = 0;
	bool *pinned;
	int ret;

	if (pc_locs(pc, job->keys, job->n, s->loc, false)) {
		bump(&pc->st_errors, job->n);
		return;
	}
	for (size_t i = 0; i < job->n; i++) {
		/* a value without our header (another client's) is a miss */
		s->sel[i] = s->loc[i].found && s->loc[i].len >= FSCHUNK_HDR;
		m += s->sel[i];
	}
	if (!m)
		return;
	ret = pc_rpc_keys(pc, MARU_BATCH_PIN_KV, job->keys, job->n, s->sel, &r);
	if (ret) {
		/* maybe pinned, maybe not: unpin what was asked */
		for (size_t i = 0; i < job->n; i++)
			if (s->sel[i])
				unpin_queue(pc, &job->keys[i]);
		bump(&pc->st_errors, m);
		return;
	}
	pinned = mem_alloc(m * sizeof(bool));
	ret = !pinned ? -ENOMEM : pc_member_bools(&r.c, "results", pinned, m);
	pc_reply_close(&r);
	for (size_t i = 0; i < job->n; i++) {
		if (!s->sel[i])
			continue;
		if (ret) {
			unpin_queue(pc, &job->keys[i]);
			continue;
		}
		if (!pinned[j++])
			continue;
		set_bit(task, i);
		if (task->lens)
			task->lens[i] = s->loc[i].len - FSCHUNK_HDR;
		bump(&pc->st_pins, 1);
	}
	mem_free(pinned);
}

static void on_load(struct poolclient *pc, struct l2_job *job, struct pc_scratch *s)
{
	struct kvt_l2_task *task = job->task;
	uint8_t *hdr;

	if (pc_locs(pc, job->keys, job->n, s->loc, true)) {
		bump(&pc->st_errors, job->n);
		return;
	}
	hdr = mem_alloc(FSCHUNK_HDR);
	if (!hdr) {
		bump(&pc->st_errors, job->n);
		return;
	}
	for (size_t i = 0; i < job->n; i++) {
		const struct pc_loc *l = &s->loc[i];
		struct fschunk_info info;
		const uint8_t *map;
		bool owned;
		int ret;

		if (!l->found || l->len < FSCHUNK_HDR || l->off > l->h.length ||
		    l->len > l->h.length - l->off)
			continue;
		map = pc_region_view(pc, &l->h, &owned);
		if (!map) {
			bump(&pc->st_errors, 1);
			continue;
		}
		/* copy, then check: the bytes are shared with other processes */
		memcpy(hdr, map + l->off, FSCHUNK_HDR);
		ret = fschunk_hdr_check(hdr, FSCHUNK_HDR, &job->keys[i], job->lens[i], &info);
		if (ret == -EMSGSIZE)
			continue;  /* fine, but larger than the caller's buffer */
		if (ret || info.len != l->len - FSCHUNK_HDR) {
			bump(&pc->st_corrupt, 1);
			continue;
		}
		memcpy(job->bufs[i], map + l->off + FSCHUNK_HDR, info.len);
		if (!fschunk_payload_ok(&info, job->bufs[i], info.len)) {
			bump(&pc->st_corrupt, 1);
			continue;
		}
		set_bit(task, i);
		if (task->lens)
			task->lens[i] = info.len;
		task->bytes += (int64_t)info.len;
		bump(&pc->st_loads, 1);
		if (!owned)
			bump(&pc->st_foreign_loads, 1);
	}
	mem_free(hdr);
}

static void pc_on_task(struct poolclient *pc, struct l2_job *job)
{
	struct pc_scratch s;

	ACTOR_ASSERT_SELF(&pc->actor);
	unpin_flush(pc);
	if (scratch_new(&s, job->n)) {
		job->task->bytes = -ENOMEM;
	} else {
		if (job->n) {
			if (job->op == KVT_L2_STORE)
				on_store(pc, job, &s);
			else if (job->op == KVT_L2_LOOKUP)
				on_lookup(pc, job, &s);
			else
				on_load(pc, job, &s);
		}
		scratch_free(&s);
	}
	l2_glue_complete(pc->glue, job);
}

static int delete_code(const struct mp_cur *map)
{
	struct mp_cur c = *map;
	const char *s;
	uint32_t len;

	if (pc_member_bool(map, "success"))
		return 0;
	if (mp_map_member(&c, "result") || mp_read_str(&c, &s, &len))
		return -ENOENT;  /* Maru's daemon tells no reason: take it as absent */
	if (len == 6 && !memcmp(s, "PINNED", 6))
		return -EBUSY;
	return -ENOENT;
}

static void pc_on_delete(struct poolclient *pc, struct l2_job *job)
{
	struct pc_loc *loc;

	ACTOR_ASSERT_SELF(&pc->actor);
	unpin_flush(pc);
	job->deleted = 0;
	loc = mem_zalloc((job->n ? job->n : 1) * sizeof(*loc));
	/* without the lookup nothing is freed here: pages leak, never dangle */
	if (loc && pc_lookup_locs(pc, job->keys, job->n, loc))
		memset(loc, 0, (job->n ? job->n : 1) * sizeof(*loc));
	for (size_t i = 0; i < job->n; i++) {
		struct pc_reply r;
		msgpack_packer pk;
		struct pc_page pg;
		int ret;

		pc_req_begin(pc, &pk);
		msgpack_pack_map(&pk, 1);
		maru_pack_cstr(&pk, "key");
		pack_key(&pk, &job->keys[i]);
		ret = pc_rpc(pc, MARU_DELETE_KV, &r, false);
		if (ret == 0) {
			ret = delete_code(&r.c);
			pc_reply_close(&r);
		}
		if (ret == 0) {
			job->deleted++;
			if (loc && loc[i].found && pc_page_of(pc, &loc[i], &pg)) {
				pc_page_free(pc, &pg);
				drop(&pc->st_bytes_used, loc[i].len - FSCHUNK_HDR);
			}
		}
		if (job->results)
			job->results[i] = ret;
	}
	mem_free(loc);
}

/* The idle HEARTBEAT; a connection the daemon dropped is renewed now, not
 * at the next store. */
static void heartbeat(struct poolclient *pc)
{
	if (pc_connection_check(pc) == 1)
		pc_session_renew(pc);
	if (!pc->shidx.hdr && pc->shidx_retry)
		pc_shidx_open(pc);
}

static void pc_handle(void *ctx, const struct actor_msg *m)
{
	struct poolclient *pc = ctx;
	struct kvt_key key;

	ACTOR_ASSERT_SELF(&pc->actor);
	switch (m->op) {
	case PC_TASK:
		pc_on_task(pc, m->ptr[0]);
		break;
	case PC_UNLOCK:
		key.lo = m->u64[0];
		key.hi = m->u64[1];
		unpin_queue(pc, &key);
		break;
	case PC_DELETE:
		pc_on_delete(pc, m->ptr[0]);
		completion_signal(m->done, 0);
		break;
	}
	pc->hb_next = pc_now_ms() + pc->conf.heartbeat_ms;  /* any RPC renews the lease */
}

/* Between messages: send the pending unpins, and a HEARTBEAT every
 * heartbeat_ms so that the daemon's lease holds and is_healthy stays true
 * to what answers. */
static int pc_idle(void *ctx)
{
	struct poolclient *pc = ctx;
	uint64_t now = pc_now_ms();

	unpin_flush(pc);
	if (now < pc->hb_next)
		return (int)(pc->hb_next - now);
	heartbeat(pc);
	pc->hb_next = pc_now_ms() + pc->conf.heartbeat_ms;
	return (int)pc->conf.heartbeat_ms;
}

static void pc_start(void *ctx)
{
	sigset_t set;

	(void)ctx;
	/* a peer that vanished is an EPIPE, never a signal */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static const struct actor_ops pc_ops = {
	.on_start = pc_start,
	.handle = pc_handle,
	.idle = pc_idle,
};

/* ---- create / destroy ------------------------------------------------- */

static void pc_free(struct poolclient *pc)
{
	pc_shidx_close(pc);
	for (size_t i = 0; i < pc->nowned; i++) {
		munmap(pc->owned[i].map, pc->owned[i].h.length);
		pool_pages_fini(&pc->owned[i].pages);
		mem_free(pc->owned[i].chunks);
	}
	for (size_t i = 0; i < pc->nforeign; i++)
		munmap(pc->foreign[i].map, pc->foreign[i].h.length);
	if (pc->dealer)
		zmq_close(pc->dealer);
	if (pc->zctx)
		zmq_ctx_term(pc->zctx);
	msgpack_sbuffer_destroy(&pc->sb);
	mem_free(pc->owned);
	mem_free(pc->foreign);
	mem_free(pc->unpins);
	mem_free(pc);
}

int poolclient_create(const struct poolc_conf *conf, struct l2_glue *glue,
		      struct poolclient **out, char *err, size_t errlen)
{
	struct poolclient *pc;
	struct pc_reply r;
	msgpack_packer pk;
	const char *why;
	int one = 1, zero = 0, ret;
	int64_t maxmsg = PC_MAX_REPLY;

	pc = mem_zalloc(sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->conf = *conf;
	pc->glue = glue;
	msgpack_sbuffer_init(&pc->sb);
	pc->owned = mem_zalloc(PC_MAX_OWNED * sizeof(*pc->owned));
	ret = -ENOMEM;
	if (!pc->owned)
		goto err_free;
	pc->zctx = zmq_ctx_new();
	if (!pc->zctx)
		goto err_free;
	pc->dealer = zmq_socket(pc->zctx, ZMQ_DEALER);
	if (!pc->dealer)
		goto err_free;
	zmq_setsockopt(pc->dealer, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(pc->dealer, ZMQ_IMMEDIATE, &one, sizeof(one));
	zmq_setsockopt(pc->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	if (zmq_connect(pc->dealer, conf->server)) {
		snprintf(err, errlen, "pool: server \"%s\": %s", conf->server,
			 zmq_strerror(zmq_errno()));
		ret = -EINVAL;
		goto err_free;
	}
	/* HANDSHAKE binds this connection to the instance (HEAD's message) */
	pc_req_begin(pc, &pk);
	msgpack_pack_map(&pk, 2);
	maru_pack_cstr(&pk, "client_version");
	msgpack_pack_uint32(&pk, MARU_VERSION);
	maru_pack_cstr(&pk, "instance_id");
	maru_pack_cstr(&pk, conf->instance_id);
	ret = pc_rpc(pc, MARU_HANDSHAKE, &r, true);
	if (ret) {
		snprintf(err, errlen, "pool: server \"%s\": no answer to HANDSHAKE in %u ms",
			 conf->server, conf->timeout_ms);
		goto err_free;
	}
	pc_handshake_read(pc, &r);
	pc_reply_close(&r);
	ret = pc_region_add(pc, conf->size_bytes, &why);
	if (ret) {
		snprintf(err, errlen, "pool: server \"%s\" rm \"%s\": first region of %llu bytes: "
			 "%s failed: %s", conf->server, conf->rm,
			 (unsigned long long)conf->size_bytes, why, strerror(-ret));
		goto err_free;
	}
	if (!pc->owned[0].pages.npages) {
		snprintf(err, errlen, "pool: region of %llu bytes holds no %llu-byte page",
			 (unsigned long long)pc->owned[0].h.length,
			 (unsigned long long)conf->page_bytes);
		ret = -EINVAL;
		goto err_free;
	}
	pc_shidx_open(pc);
	pc->hb_next = pc_now_ms() + conf->heartbeat_ms;
	ret = actor_start(&pc->actor, "poolclient", &pc_ops, pc, PC_MAILBOX, PC_WAIT_MS, -1);
	if (ret) {
		snprintf(err, errlen, "pool: cannot start the client actor: %s", strerror(-ret));
		goto err_free;
	}
	*out = pc;
	return 0;
err_free:
	if (pc->nowned) {
		/* give back what we took; SHUTDOWN drops the connection's state */
		pc_req_begin(pc, &pk);
		msgpack_pack_map(&pk, 0);
		if (pc_rpc(pc, MARU_SHUTDOWN, &r, false) == 0)
			pc_reply_close(&r);
	}
	pc_free(pc);
	return ret;
}

void poolclient_destroy(struct poolclient *pc)
{
	struct pc_reply r;
	msgpack_packer pk;

	actor_stop(&pc->actor);
	/* the join ordered the actor's last access before ours */
	unpin_flush(pc);
	for (size_t i = 0; i < pc->nowned; i++) {
		pc_req_begin(pc, &pk);
		msgpack_pack_map(&pk, 2);
		maru_pack_cstr(&pk, "instance_id");
		maru_pack_cstr(&pk, pc->conf.instance_id);
		maru_pack_cstr(&pk, "region_id");
		msgpack_pack_uint64(&pk, pc->owned[i].h.region_id);
		if (pc_rpc(pc, MARU_RETURN_ALLOC, &r, false) == 0)
			pc_reply_close(&r);
	}
	/* releases whatever this connection still holds (pins) at once */
	pc_req_begin(pc, &pk);
	msgpack_pack_map(&pk, 0);
	if (pc_rpc(pc, MARU_SHUTDOWN, &r, false) == 0)
		pc_reply_close(&r);
	pc_free(pc);
}

int poolclient_submit(struct poolclient *pc, struct l2_job *job)
{
	struct actor_msg m = { .op = PC_TASK, .ptr = { job } };

	return actor_post(&pc->actor, &m);
}

int poolclient_delete(struct poolclient *pc, struct l2_job *job)
{
	struct actor_msg m = { .op = PC_DELETE, .ptr = { job } };

	return actor_call(&pc->actor, &m);
}

void poolclient_unlock(struct poolclient *pc, const struct kvt_key *key)
{
	struct actor_msg m = { .op = PC_UNLOCK, .u64 = { key->lo, key->hi } };

	while (actor_post(&pc->actor, &m) == -ETIMEDOUT)
		log_warn("pool: mailbox full, still posting an unlock");
}

void poolclient_stats(struct poolclient *pc, struct pc_stats *out)
{
#define LD(f) atomic_load_explicit(&pc->st_##f, memory_order_relaxed)
	out->healthy = atomic_load_explicit(&pc->healthy, memory_order_relaxed);
	out->regions = LD(regions);
	out->foreign_maps = LD(foreign);
	out->pages_total = LD(pages_total);
	out->pages_used = LD(pages_used);
	out->round_trips = LD(round_trips);
	out->rpc_errors = LD(rpc_errors);
	out->rm_errors = LD(rm_errors);
	out->errors = LD(errors);
	out->lost_races = LD(lost_races);
	out->unknown = LD(unknown);
	out->corrupt = LD(corrupt);
	out->stores = LD(stores);
	out->loads = LD(loads);
	out->foreign_loads = LD(foreign_loads);
	out->reclaimed = LD(reclaimed);
	out->renewals = LD(renewals);
	out->expansions = LD(expansions);
	out->pins = LD(pins);
	out->unpins = LD(unpins);
	out->bytes_used = LD(bytes_used);
	out->capacity_bytes = LD(capacity);
	out->shared_index = LD(shidx);
	out->index_answers = LD(index_answers);
	out->index_fallbacks = LD(index_fallbacks);
#undef LD
}
