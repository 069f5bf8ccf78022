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

#define PC_MAILBOX 1024
#define PC_WAIT_MS 1000
#define PC_MAX_FOREIGN 4096u
#define PC_MAX_OWNED 4096u
#define PC_KEY_LEN 32         /* a key on the wire: 32 lower case hex digits */
#define PC_MAX_REPLY (64u << 20)
#define PC_RECLAIM_BATCH 4096u  /* keys per BATCH_LOOKUP of a reclaim */

enum pc_msg_op {
	PC_TASK = 1,  /* ptr[0] struct l2_job *, handed to l2_glue_complete() */
	PC_UNLOCK,    /* u64[0] key.lo, u64[1] key.hi */
	PC_DELETE,    /* ptr[0] struct l2_job *, the caller waits */
};

/* What an owned page holds, while it is used. */
struct pc_chunk {
	struct kvt_key key;
	uint64_t len;             /* payload bytes */
};

struct pc_region {
	struct maru_handle h;
	uint8_t *map;
	struct pool_pages pages;  /* owned regions only */
	struct pc_chunk *chunks;  /* owned regions only: one per page */
};

/* Where a key lives, from a LOOKUP_KV entry. */
struct pc_loc {
	bool found;
	struct maru_handle h;
	uint64_t off, len;
};

struct poolclient {
	struct actor actor;
	struct poolc_conf conf;
	struct l2_glue *glue;       /* tasks complete through it */
	void *zctx, *dealer;
	uint32_t seq;
	bool down;                 /* the last RPC failed: send without waiting */
	msgpack_sbuffer sb;
	struct pc_region *owned;
	size_t nowned;
	struct pc_region *foreign;
	size_t nforeign, capforeign;
	struct kvt_key *unpins;
	size_t nunpins, capunpins;
	uint64_t hb_next;
	/* kvtier-poold's HANDSHAKE answer: this connection's id and the
	 * daemon's client lease (0 from servers that say neither) */
	uint64_t conn_id, lease_ms;
	uint64_t last_ok_ms;       /* when the last RPC was answered */
	/* [atomic] written by the actor (or create/destroy), read by stats */
	_Atomic bool healthy;
	_Atomic uint64_t st_regions, st_foreign, st_pages_total, st_pages_used;
	_Atomic uint64_t st_round_trips, st_rpc_errors, st_rm_errors, st_errors;
	_Atomic uint64_t st_lost_races, st_unknown, st_corrupt, st_stores, st_loads;
	_Atomic uint64_t st_foreign_loads, st_reclaimed, st_renewals;
	_Atomic uint64_t st_expansions, st_pins, st_unpins, st_bytes_used, st_capacity;
};

static void bump(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static void drop(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}

static void key_text(const struct kvt_key *k, char out[FSCHUNK_NAME_LEN + 1])
{
	fschunk_name(k, out);  /* the first PC_KEY_LEN characters are the hex */
}

static void pack_key(msgpack_packer *pk, const struct kvt_key *k)
{
	char name[FSCHUNK_NAME_LEN + 1];

	key_text(k, name);
	msgpack_pack_str(pk, PC_KEY_LEN);
	msgpack_pack_str_body(pk, name, PC_KEY_LEN);
}

/* ---- RPC -------------------------------------------------------------- */

/* Starts a request in pc->sb: header space, then the caller packs a map. */
static void req_begin(struct poolclient *pc, msgpack_packer *pk)
{
	maru_resp_begin(&pc->sb, pk);
}

/* A reply: the message (closed by reply_close) and a cursor on its map. */
struct pc_reply {
	zmq_msg_t msg;
	struct mp_cur c;
};

static void reply_close(struct pc_reply *r)
{
	zmq_msg_close(&r->msg);
}

static uint64_t now_ms(void)
{
	return clock_now_ms();
}

/* Fail: count it and mark the daemon down until an RPC succeeds again. */
static int rpc_failed(struct poolclient *pc, int ret)
{
	pc->down = true;
	atomic_store_explicit(&pc->healthy, false, memory_order_relaxed);
	bump(&pc->st_rpc_errors, 1);
	return ret;
}

/*
 * rpc() - send the request built in pc->sb as message @type and wait for
 * its answer, at most timeout_ms in all.  While the daemon is down the send
 * does not wait (a request queues only on a live connection), unless
 * @probe.  Return: 0 with @r open (its cursor on the payload map), or
 * -ETIMEDOUT, -ECONNREFUSED (nothing to send to), -EPROTO (a malformed
 * answer); @r is closed then.
 */
static int rpc(struct poolclient *pc, uint8_t type, struct pc_reply *r, bool probe)
{
	uint64_t deadline = now_ms() + pc->conf.timeout_ms;
	struct maru_hdr h = { .magic = MARU_MAGIC, .version = MARU_VERSION, .type = type };
	int timeout = (int)pc->conf.timeout_ms;

	h.seq = ++pc->seq;
	h.len = (uint32_t)(pc->sb.size - MARU_HDR_SIZE);
	maru_hdr_encode((uint8_t *)pc->sb.data, &h);
	if (pc->down && !probe)
		timeout = 0;
	zmq_setsockopt(pc->dealer, ZMQ_SNDTIMEO, &timeout, sizeof(timeout));
	if (zmq_send(pc->dealer, "", 0, ZMQ_SNDMORE) < 0)
		return rpc_failed(pc, -ECONNREFUSED);
	/* the second frame of a started message always goes */
	if (zmq_send(pc->dealer, pc->sb.data, pc->sb.size, 0) < 0)
		return rpc_failed(pc, -ECONNREFUSED);
	for (;;) {
		zmq_pollitem_t it = { .socket = pc->dealer, .events = ZMQ_POLLIN };
		uint64_t now = now_ms();
		struct maru_hdr got;
		int more, rc;
		size_t sz;

		if (now >= deadline)
			return rpc_failed(pc, -ETIMEDOUT);
		rc = zmq_poll(&it, 1, (long)(deadline - now));
		if (rc < 0 && zmq_errno() != EINTR)
			return rpc_failed(pc, -EIO);
		if (rc <= 0)
			continue;
		/* [empty delimiter] then the frame; anything else is skipped */
		zmq_msg_init(&r->msg);
		if (zmq_msg_recv(&r->msg, pc->dealer, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&r->msg);
			continue;
		}
		more = zmq_msg_more(&r->msg);
		while (more) {
			zmq_msg_close(&r->msg);
			zmq_msg_init(&r->msg);
			if (zmq_msg_recv(&r->msg, pc->dealer, 0) < 0)
				break;
			more = zmq_msg_more(&r->msg);
		}
		sz = zmq_msg_size(&r->msg);
		if (maru_hdr_decode(zmq_msg_data(&r->msg), sz, &got) || got.seq != h.seq) {
			zmq_msg_close(&r->msg);  /* a late answer to an earlier request */
			continue;
		}
		if (got.type != maru_resp_type(type) || got.len != sz - MARU_HDR_SIZE) {
			zmq_msg_close(&r->msg);
			return rpc_failed(pc, -EPROTO);
		}
		mp_init(&r->c, (uint8_t *)zmq_msg_data(&r->msg) + MARU_HDR_SIZE, got.len);
		break;
	}
	pc->down = false;
	pc->last_ok_ms = now_ms();
	atomic_store_explicit(&pc->healthy, true, memory_order_relaxed);
	bump(&pc->st_round_trips, 1);
	return 0;
}

static bool member_bool(const struct mp_cur *map, const char *name)
{
	struct mp_cur c = *map;
	bool v = false;

	return !mp_map_member(&c, name) && !mp_read_bool(&c, &v) && v;
}

static int member_u64(const struct mp_cur *map, const char *name, uint64_t *v)
{
	struct mp_cur c = *map;

	return mp_map_member(&c, name) || mp_read_u64(&c, v) ? -EPROTO : 0;
}

static int read_handle(const struct mp_cur *map, struct maru_handle *h)
{
	struct mp_cur c = *map;

	if (mp_map_member(&c, "handle") || member_u64(&c, "region_id", &h->region_id) ||
	    member_u64(&c, "offset", &h->offset) || member_u64(&c, "length", &h->length) ||
	    member_u64(&c, "auth_token", &h->auth_token))
		return -EPROTO;
	return 0;
}

/* Reads member @name, an array of exactly @n booleans, into @out. */
static int member_bools(const struct mp_cur *map, const char *name, bool *out, size_t n)
{
	struct mp_cur c = *map;
	uint32_t cnt;

	if (mp_map_member(&c, name) || mp_read_array(&c, &cnt) || cnt != n)
		return -EPROTO;
	for (size_t i = 0; i < n; i++)
		if (mp_read_bool(&c, &out[i]))
			return -EPROTO;
	return 0;
}

/* Sends a batch of @n keys (those of @keys whose @sel is true, or all when
 * @sel is NULL) as message @type with member "keys". */
static int rpc_keys(struct poolclient *pc, uint8_t type, const struct kvt_key *keys, size_t n,
		    const bool *sel, struct pc_reply *r)
{
	msgpack_packer pk;
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		m += !sel || sel[i];
	req_begin(pc, &pk);
	msgpack_pack_map(&pk, 1);
	maru_pack_cstr(&pk, "keys");
	msgpack_pack_array(&pk, m);
	for (size_t i = 0; i < n; i++)
		if (!sel || sel[i])
			pack_key(&pk, &keys[i]);
	return rpc(pc, type, r, false);
}

/* BATCH_LOOKUP_KV of @keys into @loc.  Return: 0 or a negative errno. */
static int lookup_locs(struct poolclient *pc, const struct kvt_key *keys, size_t n,
		       struct pc_loc *loc)
{
	struct pc_reply r;
	struct mp_cur c;
	uint32_t cnt;
	int ret;

	memset(loc, 0, n * sizeof(*loc));
	if (!n)
		return 0;
	ret = rpc_keys(pc, MARU_BATCH_LOOKUP_KV, keys, n, NULL, &r);
	if (ret)
		return ret;
	c = r.c;
	ret = -EPROTO;
	if (mp_map_member(&c, "entries") || mp_read_array(&c, &cnt) || cnt != n)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct mp_cur e = c;

		if (mp_skip(&c))
			goto out;
		if (!member_bool(&e, "found"))
			continue;
		if (read_handle(&e, &loc[i].h) || member_u64(&e, "kv_offset", &loc[i].off) ||
		    member_u64(&e, "kv_length", &loc[i].len))
			goto out;
		loc[i].found = true;
	}
	ret = 0;
out:
	if (ret)
		bump(&pc->st_rpc_errors, 1);
	reply_close(&r);
	return ret;
}

/* ---- resource manager ------------------------------------------------- */

/* GET_FD for @h over a fresh connection to the RM socket.
 * Return: an fd (O_CLOEXEC), or a negative errno. */
static int rm_get_fd(const struct poolclient *pc, const struct maru_handle *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { pc->conf.timeout_ms / 1000, (pc->conf.timeout_ms % 1000) * 1000 };
	uint8_t req[MARU_RM_HDR_SIZE + 32], resp[MARU_RM_HDR_SIZE + MARU_RM_MAX_PAYLOAD];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { resp, sizeof(resp) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	struct maru_rm_hdr rh;
	size_t len, got = 0;
	int fd = -1, s, ret;
	int32_t status;

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memcpy(sa.sun_path, pc->conf.rm, strlen(pc->conf.rm));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto out_close;
	}
	len = maru_rm_handle_req(req, MARU_RM_GET_FD_REQ, h);
	if (send(s, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		ret = -EIO;
		goto out_close;
	}
	/* the fd rides on the first bytes; read until the whole answer is in */
	for (;;) {
		ssize_t n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
		struct cmsghdr *c;

		if (n <= 0) {
			ret = n == 0 ? -ECONNRESET : -errno;
			goto out_fd;
		}
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fd < 0)
				memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		got += (size_t)n;
		if (got >= MARU_RM_HDR_SIZE) {
			ret = maru_rm_hdr_decode(resp, got, &rh);
			if (ret)
				goto out_fd;
			if (got >= MARU_RM_HDR_SIZE + rh.len)
				break;
		}
		iov.iov_base = resp + got;
		iov.iov_len = sizeof(resp) - got;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	ret = -EACCES;
	if (rh.type != MARU_RM_GET_FD_RESP || rh.len < 4)
		goto out_fd;
	memcpy(&status, resp + MARU_RM_HDR_SIZE, 4);
	if (status != 0 || fd < 0)
		goto out_fd;
	close(s);
	return fd;
out_fd:
	if (fd >= 0)
		close(fd);
out_close:
	close(s);
	return ret;
}

/* Maps region @h: GET_FD, then mmap MAP_SHARED, writable only when
 * @owned (another instance's bytes are never ours to write).
 * Return: the map or NULL. */
static uint8_t *region_map(struct poolclient *pc, const struct maru_handle *h, bool owned,
			   int *err)
{
	void *map;
	int fd = rm_get_fd(pc, h);

	if (fd < 0) {
		bump(&pc->st_rm_errors, 1);
		*err = fd;
		return NULL;
	}
	map = mmap(NULL, h->length, owned ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd,
		   (off_t)h->offset);
	*err = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (map == MAP_FAILED) {
		bump(&pc->st_rm_errors, 1);
		return NULL;
	}
	return map;
}

/* ---- owned regions and pages ------------------------------------------ */

/*
 * REQUEST_ALLOC @size bytes and map the region.  Return: 0 or a negative
 * errno (-ENOSPC: the daemon has no room; -ENOBUFS: too many regions);
 * @why names the step that failed.
 */
static int region_add(struct poolclient *pc, uint64_t size, const char **why)
{
	struct pc_region *rg;
	struct pc_reply r;
	msgpack_packer pk;
	struct maru_handle h;
	uint64_t npages;
	int ret;

	*why = "REQUEST_ALLOC";
	if (pc->nowned == PC_MAX_OWNED)
		return -ENOBUFS;
	req_begin(pc, &pk);
	msgpack_pack_map(&pk, 2);
	maru_pack_cstr(&pk, "instance_id");
	maru_pack_cstr(&pk, pc->conf.instance_id);
	maru_pack_cstr(&pk, "size");
	msgpack_pack_uint64(&pk, size);
	ret = rpc(pc, MARU_REQUEST_ALLOC, &r, false);
	if (ret)
		return ret;
	ret = member_bool(&r.c, "success") ? read_handle(&r.c, &h) : -ENOSPC;
	reply_close(&r);
	if (ret)
		return ret;
	rg = &pc->owned[pc->nowned];
	memset(rg, 0, sizeof(*rg));
	rg->h = h;
	npages = h.length / pc->conf.page_bytes;
	*why = "GET_FD and mmap";
	rg->map = region_map(pc, &h, true, &ret);
	if (!rg->map)
		goto err_return;
	*why = "page bitmap";
	ret = pool_pages_init(&rg->pages, (uint32_t)(npages > UINT32_MAX ? UINT32_MAX : npages));
	if (ret)
		goto err_unmap;
	rg->chunks = mem_alloc((rg->pages.npages ? rg->pages.npages : 1) * sizeof(*rg->chunks));
	if (!rg->chunks) {
		ret = -ENOMEM;
		pool_pages_fini(&rg->pages);
		goto err_unmap;
	}
	pc->nowned++;
	bump(&pc->st_regions, 1);
	bump(&pc->st_pages_total, rg->pages.npages);
	bump(&pc->st_capacity, (uint64_t)rg->pages.npages * pc->conf.max_chunk);
	log_info("pool: region %llu: %llu bytes, %u pages",
		 (unsigned long long)h.region_id, (unsigned long long)h.length, rg->pages.npages);
	return 0;
err_unmap:
	munmap(rg->map, h.length);
err_return:
	/* the daemon made it for us: hand it back (best effort) */
	req_begin(pc, &pk);
	msgpack_pack_map(&pk, 2);
	maru_pack_cstr(&pk, "instance_id");
	maru_pack_cstr(&pk, pc->conf.instance_id);
	maru_pack_cstr(&pk, "region_id");
	msgpack_pack_uint64(&pk, h.region_id);
	if (rpc(pc, MARU_RETURN_ALLOC, &r, false) == 0)
		reply_close(&r);
	return ret;
}

struct pc_page {
	uint32_t region;  /* index in owned */
	uint32_t page;
};

/* Another region, when auto_expand allows.  Return: 0 or -ENOSPC. */
static int expand(struct poolclient *pc)
{
	const char *why;

	if (!pc->conf.auto_expand)
		return -ENOSPC;
	if (region_add(pc, pc->conf.expand_bytes, &why)) {
		log_warn("pool: expansion by %llu bytes failed at %s",
			 (unsigned long long)pc->conf.expand_bytes, why);
		return -ENOSPC;
	}
	bump(&pc->st_expansions, 1);
	return 0;
}

/* A free page, expanding with a new region when allowed.  Return: 0 or
 * -ENOSPC. */
static int page_alloc(struct poolclient *pc, struct pc_page *out)
{
	for (int round = 0; round < 2; round++) {
		for (size_t i = pc->nowned; i-- > 0;) {
			int64_t pg = pool_pages_alloc(&pc->owned[i].pages);

			if (pg >= 0) {
				out->region = (uint32_t)i;
				out->page = (uint32_t)pg;
				bump(&pc->st_pages_used, 1);
				return 0;
			}
		}
		if (round || expand(pc))
			break;
	}
	return -ENOSPC;
}

static void page_free(struct poolclient *pc, const struct pc_page *pg)
{
	if (pool_pages_free(&pc->owned[pg->region].pages, pg->page) == 0)
		drop(&pc->st_pages_used, 1);
}

static uint8_t *page_ptr(struct poolclient *pc, const struct pc_page *pg)
{
	return pc->owned[pg->region].map + (uint64_t)pg->page * pc->conf.page_bytes;
}

/* The owned page a location points at, if any. */
static bool page_of(struct poolclient *pc, const struct pc_loc *l, struct pc_page *out)
{
	for (size_t i = 0; i < pc->nowned; i++) {
		if (pc->owned[i].h.region_id != l->h.region_id)
			continue;
		if (l->off % pc->conf.page_bytes)
			return false;
		out->region = (uint32_t)i;
		out->page = (uint32_t)(l->off / pc->conf.page_bytes);
		return pool_pages_used(&pc->owned[i].pages, out->page);
	}
	return false;
}

/* Room for one more mapping of another instance's region.  Return: false
 * at PC_MAX_FOREIGN or without memory. */
static bool foreign_room(struct poolclient *pc)
{
	size_t cap = pc->capforeign ? pc->capforeign * 2 : 16;
	struct pc_region *f;

	if (pc->nforeign < pc->capforeign)
		return true;
	if (pc->nforeign == PC_MAX_FOREIGN)
		return false;
	f = mem_alloc(cap * sizeof(*f));
	if (!f)
		return false;
	if (pc->nforeign)
		memcpy(f, pc->foreign, pc->nforeign * sizeof(*f));
	mem_free(pc->foreign);
	pc->foreign = f;
	pc->capforeign = cap;
	return true;
}

static void foreign_add(struct poolclient *pc, const struct maru_handle *h, uint8_t *map)
{
	struct pc_region *rg = &pc->foreign[pc->nforeign++];

	memset(rg, 0, sizeof(*rg));
	rg->h = *h;
	rg->map = map;
	bump(&pc->st_foreign, 1);
}

/* The mapping of region @h: owned (@owned set), mapped before, or mapped now. */
static uint8_t *region_view(struct poolclient *pc, const struct maru_handle *h, bool *owned)
{
	uint8_t *map;
	int err;

	*owned = false;
	for (size_t i = 0; i < pc->nowned; i++)
		if (pc->owned[i].h.region_id == h->region_id) {
			*owned = true;
			return pc->owned[i].map;
		}
	for (size_t i = 0; i < pc->nforeign; i++)
		if (pc->foreign[i].h.region_id == h->region_id)
			return pc->foreign[i].h.length == h->length ? pc->foreign[i].map : NULL;
	if (!foreign_room(pc))
		return NULL;
	map = region_map(pc, h, false, &err);
	if (!map) {
		log_warn("pool: cannot map region %llu: %s", (unsigned long long)h->region_id,
			 strerror(-err));
		return NULL;
	}
	foreign_add(pc, h, map);
	return map;
}

/*
 * session_renew() - the daemon refused a register into our own page: it
 * dropped this connection and released our regions (see Renewal above).
 * Keep each region's mapping, read-only, with the other instances' (its
 * keys stay readable until deleted; without room, unmap it), forget its
 * pages, bind the connection to the instance again and take a first
 * region again.
 */
static void handshake_read(struct poolclient *pc, const struct pc_reply *r)
{
	if (member_u64(&r->c, "connection", &pc->conn_id))
		pc->conn_id = 0;
	if (member_u64(&r->c, "client_lease_ms", &pc->lease_ms))
		pc->lease_ms = 0;
}

/*
 * A HEARTBEAT, and whether the daemon still knows this connection: one
 * that went silent for its lease (a stalled process) was dropped with its
 * regions, which may be another instance's by now.  Return: 0 still
 * ours (or a server that does not say), 1 dropped, or a failed RPC's code.
 */
static int connection_check(struct poolclient *pc)
{
	struct pc_reply r;
	msgpack_packer pk;
	uint64_t cid;
	int ret;

	req_begin(pc, &pk);
	msgpack_pack_map(&pk, 0);
	ret = rpc(pc, MARU_HEARTBEAT, &r, true);
	if (ret)
		return ret;
	ret = pc->conn_id && !member_u64(&r.c, "connection", &cid) && cid != pc->conn_id;
	reply_close(&r);
	return ret;
}

static void session_renew(struct poolclient *pc);

/* Before pages are written: an answer older than half the lease may mean
 * this process stalled past it; then the daemon is asked, and a dropped
 * connection is renewed (fresh regions) so no byte lands in an extent the
 * daemon gave away.  Return: 0 (write), or a failed RPC's code (do not). */
static int lease_fence(struct poolclient *pc)
{
	int ret;

	if (!pc->lease_ms || !pc->conn_id || now_ms() - pc->last_ok_ms < pc->lease_ms / 2)
		return 0;
	ret = connection_check(pc);
	if (ret == 1) {
		session_renew(pc);
		ret = 0;
	}
	return ret;
}

static void session_renew(struct poolclient *pc)
{
	struct pc_reply r;
	msgpack_packer pk;
	const char *why;

	log_warn("pool: the daemon dropped this client's connection and regions (its lease "
		 "ran out?): taking new ones");
	for (size_t i = 0; i < pc->nowned; i++) {
		struct pc_region *rg = &pc->owned[i];

		drop(&pc->st_pages_total, rg->pages.npages);
		drop(&pc->st_pages_used, rg->pages.used);
		drop(&pc->st_capacity, (uint64_t)rg->pages.npages * pc->conf.max_chunk);
		drop(&pc->st_regions, 1);
		pool_pages_fini(&rg->pages);
		mem_free(rg->chunks);
		/* never written again: a freed region's extent may be another's now */
		if (!mprotect(rg->map, rg->h.length, PROT_READ) && foreign_room(pc))
			foreign_add(pc, &rg->h, rg->map);
		else
			munmap(rg->map, rg->h.length);
	}
	pc->nowned = 0;
	atomic_store_explicit(&pc->st_bytes_used, 0, memory_order_relaxed);
	bump(&pc->st_renewals, 1);
	req_begin(pc, &pk);
	msgpack_pack_map(&pk, 2);
	maru_pack_cstr(&pk, "client_version");
	msgpack_pack_uint32(&pk, MARU_VERSION);
	maru_pack_cstr(&pk, "instance_id");
	maru_pack_cstr(&pk, pc->conf.instance_id);
	pc->conn_id = 0;
	if (rpc(pc, MARU_HANDSHAKE, &r, false) == 0) {
		handshake_read(pc, &r);
		reply_close(&r);
	}
	/* else the next store expands, if auto_expand allows */
	if (region_add(pc, pc->conf.size_bytes, &why))
		log_warn("pool: a new first region failed at %s", why);
}

/* ---- reclaim ---------------------------------------------------------- */

/* Pages of the owned regions: free ones into @nfree, all into @total. */
static void pages_count(const struct poolclient *pc, uint64_t *nfree, uint64_t *total)
{
	*nfree = *total = 0;
	for (size_t i = 0; i < pc->nowned; i++) {
		*total += pc->owned[i].pages.npages;
		*nfree += pc->owned[i].pages.npages - pc->owned[i].pages.used;
	}
}

/*
 * Look up the keys of @n used pages @pg (their chunks) and free each page
 * no entry points to: its key is gone, or registered elsewhere.  A failed
 * lookup frees nothing (a page may leak, never dangle).
 */
static void reclaim_batch(struct poolclient *pc, const struct pc_page *pg, size_t n,
			  struct kvt_key *keys, struct pc_loc *loc)
{
	for (size_t i = 0; i < n; i++)
		keys[i] = pc->owned[pg[i].region].chunks[pg[i].page].key;
	if (lookup_locs(pc, keys, n, loc))
		return;
	for (size_t i = 0; i < n; i++) {
		struct pc_page at;

		if (loc[i].found && page_of(pc, &loc[i], &at) && at.region == pg[i].region &&
		    at.page == pg[i].page)
			continue;
		drop(&pc->st_bytes_used, pc->owned[pg[i].region].chunks[pg[i].page].len);
		page_free(pc, &pg[i]);
		bump(&pc->st_reclaimed, 1);
	}
}

/* Free the used pages no entry points to any more (see Reclaim above).
 * Between stores only: a page of a store in flight is not registered yet. */
static void pages_reclaim(struct poolclient *pc)
{
	struct pc_page *pg = mem_alloc(PC_RECLAIM_BATCH * sizeof(*pg));
	struct kvt_key *keys = mem_alloc(PC_RECLAIM_BATCH * sizeof(*keys));
	struct pc_loc *loc = mem_alloc(PC_RECLAIM_BATCH * sizeof(*loc));
	size_t n = 0;

	for (size_t r = 0; pg && keys && loc && r < pc->nowned; r++) {
		for (uint32_t p = 0; p < pc->owned[r].pages.npages; p++) {
			if (!pool_pages_used(&pc->owned[r].pages, p))
				continue;
			pg[n++] = (struct pc_page){ .region = (uint32_t)r, .page = p };
			if (n == PC_RECLAIM_BATCH) {
				reclaim_batch(pc, pg, n, keys, loc);
				n = 0;
			}
		}
	}
	if (n)
		reclaim_batch(pc, pg, n, keys, loc);
	mem_free(loc);
	mem_free(keys);
	mem_free(pg);
}

/*
 * Room for @need more pages before a store takes them: when too few are
 * free, reclaim, and when most pages still hold live chunks take another
 * region at once, so that the next reclaim is an eighth of the pages away
 * (each looks up every used page).
 */
static void make_room(struct poolclient *pc, size_t need)
{
	uint64_t nfree, total;

	pages_count(pc, &nfree, &total);
	if (nfree >= need)
		return;
	pages_reclaim(pc);
	pages_count(pc, &nfree, &total);
	if (nfree < need + total / 8)
		expand(pc);
}

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
	if (rpc_keys(pc, MARU_BATCH_UNPIN_KV, pc->unpins, pc->nunpins, NULL, &r) == 0) {
		bump(&pc->st_unpins, pc->nunpins);
		reply_close(&r);
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
	bool renew;       /* the daemon refused a register: see session_renew() */
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
	req_begin(pc, &pk);
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
	ret = rpc(pc, MARU_BATCH_REGISTER_KV, &r, false);
	if (ret)
		return ret;
	ret = -EPROTO;
	if (!member_bool(&r.c, "success"))
		goto out;
	{
		bool *tmp = mem_alloc((m ? m : 1) * sizeof(bool));

		if (!tmp || member_bools(&r.c, "results", tmp, m)) {
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
	reply_close(&r);
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
	if (lease_fence(pc))
		goto fail_all;
	/* keys already there count as stored and are not rewritten */
	ret = rpc_keys(pc, MARU_BATCH_EXISTS_KV, job->keys, job->n, s->sel, &r);
	if (ret)
		goto fail_all;
	{
		size_t cand = 0, j = 0;
		bool *ex;

		for (size_t i = 0; i < job->n; i++)
			cand += s->sel[i];
		ex = mem_alloc((cand ? cand : 1) * sizeof(bool));
		ret = !ex ? -ENOMEM : member_bools(&r.c, "results", ex, cand);
		reply_close(&r);
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
		make_room(pc, need);
	}
	for (size_t i = 0; i < job->n; i++) {
		uint8_t *p;

		if (!s->sel[i])
			continue;
		if (page_alloc(pc, &s->pg[i])) {
			s->sel[i] = false;
			failed++;
			continue;
		}
		pc->owned[s->pg[i].region].chunks[s->pg[i].page] =
			(struct pc_chunk){ .key = job->keys[i], .len = job->lens[i] };
		p = page_ptr(pc, &s->pg[i]);
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
		if (lookup_locs(pc, job->keys, job->n, s->loc)) {
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
			s->res[i] = s->loc[i].found && page_of(pc, &s->loc[i], &mine) &&
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
		page_free(pc, &s->pg[i]);
		if (s->refused[i]) {
			failed++;
		} else {
			set_bit(task, i);  /* first writer won: same key, same bytes */
			bump(&pc->st_lost_races, 1);
		}
	}
	if (s->renew)
		session_renew(pc);
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

	if (lookup_locs(pc, job->keys, job->n, s->loc)) {
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
	ret = rpc_keys(pc, MARU_BATCH_PIN_KV, job->keys, job->n, s->sel, &r);
	if (ret) {
		/* maybe pinned, maybe not: unpin what was asked */
		for (size_t i = 0; i < job->n; i++)
			if (s->sel[i])
				unpin_queue(pc, &job->keys[i]);
		bump(&pc->st_errors, m);
		return;
	}
	pinned = mem_alloc(m * sizeof(bool));
	ret = !pinned ? -ENOMEM : member_bools(&r.c, "results", pinned, m);
	reply_close(&r);
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

	if (lookup_locs(pc, job->keys, job->n, s->loc)) {
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
		map = region_view(pc, &l->h, &owned);
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

	if (member_bool(map, "success"))
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
	if (loc && lookup_locs(pc, job->keys, job->n, loc))
		memset(loc, 0, (job->n ? job->n : 1) * sizeof(*loc));
	for (size_t i = 0; i < job->n; i++) {
		struct pc_reply r;
		msgpack_packer pk;
		struct pc_page pg;
		int ret;

		req_begin(pc, &pk);
		msgpack_pack_map(&pk, 1);
		maru_pack_cstr(&pk, "key");
		pack_key(&pk, &job->keys[i]);
		ret = rpc(pc, MARU_DELETE_KV, &r, false);
		if (ret == 0) {
			ret = delete_code(&r.c);
			reply_close(&r);
		}
		if (ret == 0) {
			job->deleted++;
			if (loc && loc[i].found && page_of(pc, &loc[i], &pg)) {
				page_free(pc, &pg);
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
	if (connection_check(pc) == 1)
		session_renew(pc);
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
	pc->hb_next = now_ms() + pc->conf.heartbeat_ms;  /* any RPC renews the lease */
}

/* Between messages: send the pending unpins, and a HEARTBEAT every
 * heartbeat_ms so that the daemon's lease holds and is_healthy stays true
 * to what answers. */
static int pc_idle(void *ctx)
{
	struct poolclient *pc = ctx;
	uint64_t now = now_ms();

	unpin_flush(pc);
	if (now < pc->hb_next)
		return (int)(pc->hb_next - now);
	heartbeat(pc);
	pc->hb_next = now_ms() + pc->conf.heartbeat_ms;
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
	req_begin(pc, &pk);
	msgpack_pack_map(&pk, 2);
	maru_pack_cstr(&pk, "client_version");
	msgpack_pack_uint32(&pk, MARU_VERSION);
	maru_pack_cstr(&pk, "instance_id");
	maru_pack_cstr(&pk, conf->instance_id);
	ret = rpc(pc, MARU_HANDSHAKE, &r, true);
	if (ret) {
		snprintf(err, errlen, "pool: server \"%s\": no answer to HANDSHAKE in %u ms",
			 conf->server, conf->timeout_ms);
		goto err_free;
	}
	handshake_read(pc, &r);
	reply_close(&r);
	ret = region_add(pc, conf->size_bytes, &why);
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
	pc->hb_next = now_ms() + conf->heartbeat_ms;
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
		req_begin(pc, &pk);
		msgpack_pack_map(&pk, 0);
		if (rpc(pc, MARU_SHUTDOWN, &r, false) == 0)
			reply_close(&r);
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
		req_begin(pc, &pk);
		msgpack_pack_map(&pk, 2);
		maru_pack_cstr(&pk, "instance_id");
		maru_pack_cstr(&pk, pc->conf.instance_id);
		maru_pack_cstr(&pk, "region_id");
		msgpack_pack_uint64(&pk, pc->owned[i].h.region_id);
		if (rpc(pc, MARU_RETURN_ALLOC, &r, false) == 0)
			reply_close(&r);
	}
	/* releases whatever this connection still holds (pins) at once */
	req_begin(pc, &pk);
	msgpack_pack_map(&pk, 0);
	if (rpc(pc, MARU_SHUTDOWN, &r, false) == 0)
		reply_close(&r);
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
#undef LD
}
