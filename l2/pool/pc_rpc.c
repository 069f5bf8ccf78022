/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/pc_rpc.c - the pool client's RPCs to the daemon (Maru's protocol over
 * a ZeroMQ DEALER) and the readers of their answers.  Pool client actor only.
 */
#define _GNU_SOURCE
#include "l2/pool/pc_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* ---- RPC -------------------------------------------------------------- */

/* Starts a request in pc->sb: header space, then the caller packs a map. */
void pc_req_begin(struct poolclient *pc, msgpack_packer *pk)
{
	maru_resp_begin(&pc->sb, pk);
}


void pc_reply_close(struct pc_reply *r)
{
	zmq_msg_close(&r->msg);
}

uint64_t pc_now_ms(void)
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
 * pc_rpc() - send the request built in pc->sb as message @type and wait for
 * its answer, at most timeout_ms in all.  While the daemon is down the send
 * does not wait (a request queues only on a live connection), unless
 * @probe.  Return: 0 with @r open (its cursor on the payload map), or
 * -ETIMEDOUT, -ECONNREFUSED (nothing to send to), -EPROTO (a malformed
 * answer); @r is closed then.
 */
int pc_rpc(struct poolclient *pc, uint8_t type, struct pc_reply *r, bool probe)
{
	uint64_t deadline = pc_now_ms() + pc->conf.timeout_ms;
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
		uint64_t now = pc_now_ms();
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
	pc->last_ok_ms = pc_now_ms();
	atomic_store_explicit(&pc->healthy, true, memory_order_relaxed);
	bump(&pc->st_round_trips, 1);
	return 0;
}

bool pc_member_bool(const struct mp_cur *map, const char *name)
{
	struct mp_cur c = *map;
	bool v = false;

	return !mp_map_member(&c, name) && !mp_read_bool(&c, &v) && v;
}

int pc_member_u64(const struct mp_cur *map, const char *name, uint64_t *v)
{
	struct mp_cur c = *map;

	return mp_map_member(&c, name) || mp_read_u64(&c, v) ? -EPROTO : 0;
}

int pc_read_handle(const struct mp_cur *map, struct maru_handle *h)
{
	struct mp_cur c = *map;

	if (mp_map_member(&c, "handle") || pc_member_u64(&c, "region_id", &h->region_id) ||
	    pc_member_u64(&c, "offset", &h->offset) || pc_member_u64(&c, "length", &h->length) ||
	    pc_member_u64(&c, "auth_token", &h->auth_token))
		return -EPROTO;
	return 0;
}

/* Reads member @name, an array of exactly @n booleans, into @out. */
int pc_member_bools(const struct mp_cur *map, const char *name, bool *out, size_t n)
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
int pc_rpc_keys(struct poolclient *pc, uint8_t type, const struct kvt_key *keys, size_t n,
		    const bool *sel, struct pc_reply *r)
{
	msgpack_packer pk;
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		m += !sel || sel[i];
	pc_req_begin(pc, &pk);
	msgpack_pack_map(&pk, 1);
	maru_pack_cstr(&pk, "keys");
	msgpack_pack_array(&pk, m);
	for (size_t i = 0; i < n; i++)
		if (!sel || sel[i])
			pack_key(&pk, &keys[i]);
	return pc_rpc(pc, type, r, false);
}

/* BATCH_LOOKUP_KV of @keys into @loc.  Return: 0 or a negative errno. */
int pc_lookup_locs(struct poolclient *pc, const struct kvt_key *keys, size_t n,
		       struct pc_loc *loc)
{
	struct pc_reply r;
	struct mp_cur c;
	uint32_t cnt;
	int ret;

	memset(loc, 0, n * sizeof(*loc));
	if (!n)
		return 0;
	ret = pc_rpc_keys(pc, MARU_BATCH_LOOKUP_KV, keys, n, NULL, &r);
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
		if (!pc_member_bool(&e, "found"))
			continue;
		if (pc_read_handle(&e, &loc[i].h) || pc_member_u64(&e, "kv_offset", &loc[i].off) ||
		    pc_member_u64(&e, "kv_length", &loc[i].len))
			goto out;
		loc[i].found = true;
	}
	ret = 0;
out:
	if (ret)
		bump(&pc->st_rpc_errors, 1);
	pc_reply_close(&r);
	return ret;
}
