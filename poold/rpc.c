/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/rpc.c - the metadata RPC front end (see poold.h).
 *
 * One ROUTER socket bound to every endpoint.  A peer is its routing
 * identity: Maru's async client (DEALER, random 8-byte identity, an empty
 * delimiter frame) and its sync client (REQ) both work; every envelope
 * frame is echoed back.  Each identity gets a connection id (cid) that owns
 * its pins.  A connection goes when its socket closes (a DISCONNECTED
 * monitor event for the fd its messages came from, ZMQ_SRCFD), when it sends
 * nothing for client_lease_ms, or when it sends SHUTDOWN; the index actor
 * then releases what it held.
 *
 * Lookups and existence checks are served here, lock-free under RCU; all
 * else goes to the index actor with actor_call().  Nothing here allocates
 * inside a read section: the reply's room is reserved first, then answers
 * are written straight into it (put_reads()).
 */
#define _GNU_SOURCE
#include "poold/metrics.h"
#include "poold/poold.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#include <zmq.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/waitword.h"

#define CONN_BUCKETS 256
#define MAX_FRAMES 8

struct fe_conn {
	struct fe_conn *next;
	uint64_t cid;
	uint64_t last_ms;
	int fd;
	uint32_t idlen;
	uint8_t id[256];
};

struct rpc_fe {
	struct actor actor;
	struct pool *p;
	void *zctx, *router, *mon;
	/* their ZMQ_FDs: readable when a socket's command mailbox was signalled,
	 * an edge that comes again only once a recv on it returned EAGAIN */
	int router_fd, mon_fd;
	bool backlog;               /* the last serve loop stopped before EAGAIN */
	struct fe_conn *conns[CONN_BUCKETS];
	uint64_t next_cid;
	uint64_t last_check_ms;
	msgpack_sbuffer sb;
	struct pool_entry **found;  /* a batch's lookups; grows, never shrinks */
	uint32_t found_cap;
};

struct actor *rpc_fe_actor(struct rpc_fe *fe)
{
	return &fe->actor;
}

static void bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

int rpc_fe_create(struct pool *p, struct rpc_fe **out, char *err, size_t errlen)
{
	struct rpc_fe *fe = mem_zalloc(sizeof(*fe));
	int64_t maxmsg;
	size_t fdlen;
	int zero = 0, ret = -ENOMEM;

	if (!fe)
		return -ENOMEM;
	fe->p = p;
	fe->next_cid = 1;
	msgpack_sbuffer_init(&fe->sb);
	fe->zctx = zmq_ctx_new();
	if (!fe->zctx)
		goto err_free;
	fe->router = zmq_socket(fe->zctx, ZMQ_ROUTER);
	if (!fe->router)
		goto err_ctx;
	maxmsg = (int64_t)p->opts.max_payload + MARU_HDR_SIZE;
	zmq_setsockopt(fe->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	zmq_setsockopt(fe->router, ZMQ_LINGER, &zero, sizeof(zero));
	for (int i = 0; i < p->opts.nrpc; i++) {
		if (zmq_bind(fe->router, p->opts.rpc_addr[i])) {
			snprintf(err, errlen, "rpc endpoint \"%s\": %s", p->opts.rpc_addr[i],
				 zmq_strerror(zmq_errno()));
			ret = -EADDRINUSE;
			goto err_sock;
		}
	}
	if (zmq_socket_monitor(fe->router, "inproc://kvtier-poold-monitor",
			       ZMQ_EVENT_DISCONNECTED) == 0) {
		fe->mon = zmq_socket(fe->zctx, ZMQ_PAIR);
		if (fe->mon && zmq_connect(fe->mon, "inproc://kvtier-poold-monitor")) {
			zmq_close(fe->mon);
			fe->mon = NULL;
		}
		/* a monitor nobody reads stalls the router on its first event */
		if (!fe->mon)
			zmq_socket_monitor(fe->router, NULL, 0);
	}
	if (!fe->mon)
		log_warn("rpc: no socket monitor; only leases detect departed clients");
	fdlen = sizeof(fe->router_fd);
	if (zmq_getsockopt(fe->router, ZMQ_FD, &fe->router_fd, &fdlen)) {
		snprintf(err, errlen, "rpc: ZMQ_FD: %s", zmq_strerror(zmq_errno()));
		ret = -EIO;
		goto err_mon;
	}
	fe->mon_fd = -1;
	fdlen = sizeof(fe->mon_fd);
	if (fe->mon && zmq_getsockopt(fe->mon, ZMQ_FD, &fe->mon_fd, &fdlen)) {
		snprintf(err, errlen, "rpc: monitor ZMQ_FD: %s", zmq_strerror(zmq_errno()));
		ret = -EIO;
		goto err_mon;
	}
	*out = fe;
	return 0;

err_mon:
	if (fe->mon) {
		zmq_socket_monitor(fe->router, NULL, 0);
		zmq_close(fe->mon);
	}
err_sock:
	zmq_close(fe->router);
err_ctx:
	zmq_ctx_term(fe->zctx);
err_free:
	msgpack_sbuffer_destroy(&fe->sb);
	mem_free(fe);
	return ret ? ret : -ENOMEM;
}

void rpc_fe_destroy(struct rpc_fe *fe)
{
	if (!fe)
		return;
	for (int b = 0; b < CONN_BUCKETS; b++)
		while (fe->conns[b]) {
			struct fe_conn *c = fe->conns[b];

			fe->conns[b] = c->next;
			mem_free(c);
		}
	if (fe->mon) {
		zmq_socket_monitor(fe->router, NULL, 0);
		zmq_close(fe->mon);
	}
	zmq_close(fe->router);
	zmq_ctx_term(fe->zctx);
	msgpack_sbuffer_destroy(&fe->sb);
	mem_free(fe->found);
	mem_free(fe);
}

static struct fe_conn *conn_find(struct rpc_fe *fe, const uint8_t *id, uint32_t len, bool create)
{
	uint32_t b = (uint32_t)(XXH3_64bits(id, len) % CONN_BUCKETS);
	struct fe_conn *c;

	for (c = fe->conns[b]; c; c = c->next)
		if (c->idlen == len && !memcmp(c->id, id, len))
			return c;
	if (!create || len > sizeof(c->id))
		return NULL;
	c = mem_zalloc(sizeof(*c));
	if (!c)
		return NULL;
	memcpy(c->id, id, len);
	c->idlen = len;
	c->cid = fe->next_cid++;
	c->fd = -1;
	c->next = fe->conns[b];
	fe->conns[b] = c;
	bump(&fe->p->ctr.clients);
	return c;
}

/* Forgets @c and tells the index actor its pins and regions go. */
static void conn_gone(struct rpc_fe *fe, struct fe_conn *c, const char *why)
{
	uint32_t b = (uint32_t)(XXH3_64bits(c->id, c->idlen) % CONN_BUCKETS);
	struct actor_msg m = { .op = POOL_IDX_GONE, .u64 = { c->cid } };
	struct fe_conn **pp;

	for (pp = &fe->conns[b]; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	log_info("rpc: connection %llu gone (%s)", (unsigned long long)c->cid, why);
	while (actor_post(&fe->p->index, &m) == -ETIMEDOUT)
		log_warn("rpc: index mailbox full, retrying a disconnect");
	atomic_fetch_sub_explicit(&fe->p->ctr.clients, 1, memory_order_relaxed);
	bump(&fe->p->ctr.clients_gone);
	mem_free(c);
}

static void check_leases(struct rpc_fe *fe, uint64_t now)
{
	uint32_t lease = fe->p->opts.client_lease_ms;

	if (!lease || now - fe->last_check_ms < 100)
		return;
	fe->last_check_ms = now;
	for (int b = 0; b < CONN_BUCKETS; b++) {
		struct fe_conn *c = fe->conns[b], *next;

		for (; c; c = next) {
			next = c->next;
			if (now - c->last_ms >= lease) {
				bump(&fe->p->ctr.leases_expired);
				conn_gone(fe, c, "lease expired");
			}
		}
	}
}

static void drain_monitor(struct rpc_fe *fe)
{
	for (;;) {
		zmq_msg_t ev, addr;
		uint16_t event;
		int32_t value;

		zmq_msg_init(&ev);
		if (zmq_msg_recv(&ev, fe->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			return;
		}
		if (zmq_msg_size(&ev) >= 6) {
			memcpy(&event, zmq_msg_data(&ev), 2);
			memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
		} else {
			event = 0;
			value = -1;
		}
		zmq_msg_close(&ev);
		zmq_msg_init(&addr);
		zmq_msg_recv(&addr, fe->mon, 0);
		zmq_msg_close(&addr);
		if (event != ZMQ_EVENT_DISCONNECTED)
			continue;
		for (int b = 0; b < CONN_BUCKETS; b++) {
			struct fe_conn *c = fe->conns[b], *next;

			for (; c; c = next) {
				next = c->next;
				if (c->fd == value)
					conn_gone(fe, c, "socket closed");
			}
		}
	}
}

/* "kv_offset" and "kv_length" as maru_pack_cstr() packs them */
static const uint8_t KV_OFFSET[] = "\xa9kv_offset", KV_LENGTH[] = "\xa9kv_length";
static const uint8_t NOT_FOUND[] = "\x81\xa5" "found" "\xc2";
#define LOOK_MAX_BYTES (POOL_FOUND_HEAD_MAX + 2 * (sizeof(KV_OFFSET) - 1 + MARU_UINT_MAX_BYTES))

/* pack_look()'s bytes for @e (NULL: absent), at @o.  Return: the byte after. */
static uint8_t *put_look(uint8_t *o, const struct pool_entry *e)
{
	if (!e) {
		memcpy(o, NOT_FOUND, sizeof(NOT_FOUND) - 1);
		return o + sizeof(NOT_FOUND) - 1;
	}
	memcpy(o, e->region->found_head, e->region->found_head_len);
	o += e->region->found_head_len;
	memcpy(o, KV_OFFSET, sizeof(KV_OFFSET) - 1);
	o = maru_put_uint(o + sizeof(KV_OFFSET) - 1, e->kv_offset);
	memcpy(o, KV_LENGTH, sizeof(KV_LENGTH) - 1);
	return maru_put_uint(o + sizeof(KV_LENGTH) - 1, e->kv_length);
}

/*
 * Looks up @keys[0..@n) and writes each answer straight into the reply: a
 * lookup's entry map (@lookup) or an existence bool.  All in one read
 * section, with the room reserved before, so nothing allocates inside and
 * no entry is copied out twice.  Return: 0, or -ENOMEM (nothing written).
 */
static int put_reads(struct rpc_fe *fe, const struct maru_key *keys, uint32_t n, bool lookup)
{
	msgpack_sbuffer *sb = &fe->sb;
	uint8_t *o;

	if (n > fe->found_cap) {
		struct pool_entry **es = mem_realloc(fe->found, sizeof(*es) * n);

		if (!es)
			return -ENOMEM;
		fe->found = es;
		fe->found_cap = n;
	}
	if (maru_sbuffer_reserve(sb, (size_t)n * (lookup ? LOOK_MAX_BYTES : 1)))
		return -ENOMEM;
	o = (uint8_t *)sb->data + sb->size;
	kvt_rcu_read_lock();
	pool_entries_find_rcu(fe->p, keys, sizeof(*keys), n, fe->found);
	for (uint32_t i = 0; i < n; i++) {
		if (lookup)
			o = put_look(o, fe->found[i]);
		else
			*o++ = fe->found[i] ? 0xc3 : 0xc2;
	}
	kvt_rcu_read_unlock();
	sb->size = (size_t)(o - (uint8_t *)sb->data);
	return 0;
}

static void on_read(struct rpc_fe *fe, const struct maru_req *q, msgpack_packer *pk)
{
	bool lookup = q->hdr.type == MARU_LOOKUP_KV || q->hdr.type == MARU_BATCH_LOOKUP_KV;
	int ret;

	switch (q->hdr.type) {
	case MARU_LOOKUP_KV:
		ret = put_reads(fe, &q->kv.key, 1, true);
		break;
	case MARU_EXISTS_KV:
		msgpack_pack_map(pk, 1);
		maru_pack_cstr(pk, "exists");
		ret = put_reads(fe, &q->kv.key, 1, false);
		break;
	default:
		msgpack_pack_map(pk, 1);
		maru_pack_cstr(pk, lookup ? "entries" : "results");
		msgpack_pack_array(pk, q->n);
		ret = put_reads(fe, q->keys, q->n, lookup);
		break;
	}
	if (ret) {
		maru_resp_begin(&fe->sb, pk);
		maru_pack_error(pk, "out of memory");
	}
}

/* Builds the response to one decoded request into fe->sb. */
static void dispatch(struct rpc_fe *fe, struct fe_conn *c, const struct maru_req *q,
		     msgpack_packer *pk)
{
	struct actor_msg m;

	switch (q->hdr.type) {
	case MARU_LOOKUP_KV:
	case MARU_EXISTS_KV:
	case MARU_BATCH_LOOKUP_KV:
	case MARU_BATCH_EXISTS_KV:
		on_read(fe, q, pk);
		return;
	case MARU_HEARTBEAT:
		/* the connection id HANDSHAKE gave: a client sees whether the
		 * daemon dropped it (its lease ran out) and its regions with it */
		msgpack_pack_map(pk, c ? 1 : 0);
		if (c) {
			maru_pack_cstr(pk, "connection");
			msgpack_pack_uint64(pk, c->cid);
		}
		return;
	case MARU_REPORT_STATS:
	case MARU_SHUTDOWN:
		msgpack_pack_map(pk, 1);
		maru_pack_cstr(pk, "success");
		msgpack_pack_true(pk);
		return;
	default:
		break;
	}
	memset(&m, 0, sizeof(m));
	m.op = POOL_IDX_RPC;
	m.ptr[0] = (void *)q;
	m.ptr[1] = pk;
	m.u64[0] = c ? c->cid : 0;
	if (actor_call(&fe->p->index, &m)) {
		/* nothing was posted: the index never saw the request */
		maru_resp_begin(&fe->sb, pk);
		maru_pack_error(pk, "server busy");
	}
}

static void bad_request(struct rpc_fe *fe, int ret, const struct maru_req *q, const char *why,
			msgpack_packer *pk)
{
	char msg[96];

	switch (ret) {
	case -EBADMSG: bump(&fe->p->ctr.bad_header); break;
	case -EMSGSIZE: bump(&fe->p->ctr.oversized); break;
	case -EPROTO: bump(&fe->p->ctr.unknown_type); break;
	default: bump(&fe->p->ctr.bad_payload); break;
	}
	if (ret == -EPROTO)
		snprintf(msg, sizeof(msg), "Unknown message type: %u", q->hdr.type);
	else
		snprintf(msg, sizeof(msg), "malformed message: %s", why);
	log_debug("rpc: %s", msg);
	maru_pack_error(pk, msg);
}

/* Receives one multipart message and answers it.  Return: false if none. */
static bool serve_one(struct rpc_fe *fe, uint64_t now)
{
	zmq_msg_t f[MAX_FRAMES];
	int n = 0, more = 1, fd;
	struct maru_req q;
	msgpack_packer pk;
	struct fe_conn *c;
	const char *why;
	bool drop = false;
	uint64_t t0;
	int ret;

	while (more) {
		zmq_msg_t *m = &f[n < MAX_FRAMES ? n : MAX_FRAMES - 1];

		if (n >= MAX_FRAMES) {
			zmq_msg_close(m); /* too many frames: keep reading, answer nothing */
			drop = true;
		}
		zmq_msg_init(m);
		if (zmq_msg_recv(m, fe->router, n ? 0 : ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(m);
			if (!n)
				return false;
			drop = true;
			break;
		}
		more = zmq_msg_more(m);
		if (n < MAX_FRAMES)
			n++;
	}
	if (n < 2 || drop) {
		bump(&fe->p->ctr.bad_header);
		goto out;
	}
	bump(&fe->p->ctr.requests);
	t0 = fe->p->metrics ? histo_now_ns() : 0;
	/* the identity frame is made by the ROUTER; wire frames carry the fd */
	fd = zmq_msg_get(&f[n - 1], ZMQ_SRCFD);
	c = conn_find(fe, zmq_msg_data(&f[0]), (uint32_t)zmq_msg_size(&f[0]), false);
	/* A peer new on this fd may have it from a peer that just closed: the
	 * I/O thread queued that DISCONNECTED before it accepted this peer, so
	 * handled now it takes the old peer only, not this one too */
	if (fe->mon && (!c || (fd >= 0 && c->fd != fd))) {
		drain_monitor(fe);
		c = conn_find(fe, zmq_msg_data(&f[0]), (uint32_t)zmq_msg_size(&f[0]), false);
	}
	if (!c)
		c = conn_find(fe, zmq_msg_data(&f[0]), (uint32_t)zmq_msg_size(&f[0]), true);
	if (c) {
		c->last_ms = now;
		if (fd >= 0)
			c->fd = fd;
	}
	maru_resp_begin(&fe->sb, &pk);
	ret = maru_req_decode(zmq_msg_data(&f[n - 1]), zmq_msg_size(&f[n - 1]),
			      fe->p->opts.max_payload, &q, &why);
	if (ret)
		bad_request(fe, ret, &q, why, &pk);
	else
		dispatch(fe, c, &q, &pk);
	if (ret == -EBADMSG && zmq_msg_size(&f[n - 1]) < MARU_HDR_SIZE)
		memset(&q.hdr, 0, sizeof(q.hdr));
	maru_resp_end(&fe->sb, &q.hdr);
	/* counted before the reply leaves: a client that saw it sees it counted */
	if (fe->p->metrics)
		poold_metrics_rpc(fe->p, q.hdr.type, t0);
	maru_req_release(&q);
	for (int i = 0; i < n - 1; i++)
		zmq_send(fe->router, zmq_msg_data(&f[i]), zmq_msg_size(&f[i]), ZMQ_SNDMORE);
	zmq_send(fe->router, fe->sb.data, fe->sb.size, 0);
	if (!ret && q.hdr.type == MARU_SHUTDOWN && c)
		conn_gone(fe, c, "SHUTDOWN");
out:
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
	return true;
}

static void rpc_handle(void *ctx, const struct actor_msg *m)
{
	struct rpc_fe *fe = ctx;

	ACTOR_ASSERT_SELF(&fe->actor);
	if (m->done)
		completion_signal(m->done, 0);
}

/*
 * Waits on the sockets' ZMQ_FDs with poll() itself rather than zmq_poll():
 * zmq_poll() polls once without waiting and asks each socket for ZMQ_EVENTS
 * before and after it sleeps, each a getpid() and a poll() inside libzmq,
 * several system calls a request that a loop reading until EAGAIN does not
 * need.  The fds only signal edges: the loop reads until EAGAIN before it
 * sleeps again, and does not sleep when it stopped short of EAGAIN.
 */
static int rpc_idle(void *ctx)
{
	struct rpc_fe *fe = ctx;
	struct pollfd pfd[2] = {
		{ .fd = fe->router_fd, .events = POLLIN },
		{ .fd = fe->mon_fd, .events = POLLIN },
	};
	uint64_t now;
	int i;

	if (poll(pfd, fe->mon ? 2 : 1, fe->backlog ? 0 : POOLD_POLL_MS) < 0 && errno != EINTR)
		log_warn("rpc: poll: %s", strerror(errno));
	now = clock_now_ms();
	/* disconnects first, so a reused fd is not blamed on its new peer */
	if (fe->mon && (pfd[1].revents & POLLIN))
		drain_monitor(fe);
	for (i = 0; i < 256 && serve_one(fe, now); i++)
		;
	fe->backlog = i == 256;
	check_leases(fe, now);
	return 0;
}

const struct actor_ops rpc_fe_ops = {
	.handle = rpc_handle,
	.idle = rpc_idle,
};
