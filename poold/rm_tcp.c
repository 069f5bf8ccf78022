/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/rm_tcp.c - Maru's resource manager over TCP (--rm-tcp HOST:PORT),
 * version 2 (proto/maru/maru_rm_tcp.h), next to the Unix socket of rm.c and
 * polled by the same actor.
 *
 * A client keeps its connection and sends requests one at a time; each
 * connection buffers one message until it is whole.  GET_ACCESS checks the
 * region's token, offset and length under RCU, exactly as GET_FD does, and
 * answers a path the client opens and maps itself: a Device-DAX pool's
 * device, or for a file pool /proc/<daemon pid>/fd/<fd> (file pools are
 * unlinked once open), which only processes allowed to read the daemon's
 * fds (its uid, or root) can open.  STATS lists the pools.  Regions are
 * allocated through the metadata RPC (REQUEST_ALLOC), whose ownership and
 * lease rules apply to them; ALLOC and FREE here get an ERROR_RESP that
 * says so.  A malformed message gets an ERROR_RESP when it can be framed,
 * is counted, and closes its connection.
 */
#define _GNU_SOURCE
#include "poold/rm_tcp.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "proto/maru/maru_rm_tcp.h"

struct rm_conn {
	int fd;
	uint32_t have;
	uint8_t in[MARU_RM_TCP_MAX_MSG];
};

struct rm_tcp {
	struct pool *p;
	int lfd;
	uint32_t nconns;
	struct rm_conn *conns[RM_TCP_MAX_CONNS];
	char fdpath[POOL_MAX_DEVS][64];
};

static void bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

int rm_tcp_open(struct pool *p, struct rm_tcp **out, char *err, size_t errlen)
{
	const char *addr = p->opts.rm_tcp, *colon = strrchr(addr, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	char host[256];
	struct rm_tcp *t;
	int one = 1, ret;

	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host) || !colon[1]) {
		snprintf(err, errlen, "--rm-tcp \"%s\": not HOST:PORT", addr);
		return -EINVAL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	ret = getaddrinfo(host, colon + 1, &hints, &ai);
	if (ret) {
		snprintf(err, errlen, "--rm-tcp \"%s\": %s", addr, gai_strerror(ret));
		return -EINVAL;
	}
	t = mem_zalloc(sizeof(*t));
	if (!t) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	t->p = p;
	for (uint32_t i = 0; i < p->ndevs; i++)
		snprintf(t->fdpath[i], sizeof(t->fdpath[i]), "/proc/%d/fd/%d", (int)getpid(),
			 p->devs[i].fd);
	t->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (t->lfd < 0 || setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(t->lfd, ai->ai_addr, ai->ai_addrlen) || listen(t->lfd, 64)) {
		ret = -errno;
		snprintf(err, errlen, "--rm-tcp \"%s\": %s", addr, strerror(errno));
		freeaddrinfo(ai);
		if (t->lfd >= 0)
			close(t->lfd);
		mem_free(t);
		return ret;
	}
	freeaddrinfo(ai);
	*out = t;
	return 0;
}

static void conn_close(struct rm_tcp *t, uint32_t i)
{
	close(t->conns[i]->fd);
	mem_free(t->conns[i]);
	t->conns[i] = t->conns[--t->nconns];
}

void rm_tcp_close(struct rm_tcp *t)
{
	if (!t)
		return;
	while (t->nconns)
		conn_close(t, 0);
	close(t->lfd);
	mem_free(t);
}

int rm_tcp_pollfds(struct rm_tcp *t, struct pollfd *pfd)
{
	pfd[0] = (struct pollfd){ .fd = t->lfd, .events = POLLIN };
	for (uint32_t i = 0; i < t->nconns; i++)
		pfd[1 + i] = (struct pollfd){ .fd = t->conns[i]->fd, .events = POLLIN };
	return 1 + (int)t->nconns;
}

/* Replies are at most MARU_RM_TCP_MAX_MSG bytes, far below a fresh
 * socket's send buffer, and the client reads each before its next request:
 * a send that does not complete means a peer that is gone or misbehaves. */
static int reply(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	return n == (ssize_t)len ? 0 : -1;
}

static size_t get_access(struct rm_tcp *t, const uint8_t *payload, uint32_t len, uint8_t *out)
{
	struct pool *p = t->p;
	struct maru_handle h;
	struct pool_region *r;
	const char *path = NULL;

	if (maru_rm_tcp_handle_decode(payload, len, &h)) {
		bump(&p->ctr.rm_bad);
		return maru_rm_tcp_error_resp(out, -EINVAL, "GET_ACCESS: payload shorter than a handle");
	}
	kvt_rcu_read_lock();
	r = pool_region_find_rcu(p, h.region_id);
	if (r && maru_token_eq(r->token, h.auth_token) && r->offset == h.offset &&
	    r->length == h.length)
		path = p->devs[r->pool].dax_type == 0 ? p->devs[r->pool].path : t->fdpath[r->pool];
	kvt_rcu_read_unlock();
	if (!path) {
		bump(&p->ctr.rm_bad_token);
		return maru_rm_tcp_error_resp(out, -EACCES, "unknown region or bad token");
	}
	return maru_rm_tcp_access_resp(out, 0, path, h.offset, h.length);
}

static size_t stats(struct rm_tcp *t, uint8_t *out)
{
	struct pool *p = t->p;
	struct maru_pool_info pools[POOL_MAX_DEVS];
	const char *paths[POOL_MAX_DEVS];

	for (uint32_t i = 0; i < p->ndevs; i++) {
		pools[i] = (struct maru_pool_info){
			.pool_id = i, .dax_type = p->devs[i].dax_type, .total = p->devs[i].size,
			.free = atomic_load_explicit(&p->devs[i].free_bytes, memory_order_relaxed),
			.align = p->devs[i].align,
		};
		paths[i] = p->devs[i].dax_type == 0 ? p->devs[i].path : t->fdpath[i];
	}
	return maru_rm_tcp_stats_resp(out, pools, paths, p->ndevs);
}

/* Answers every whole message in @c's buffer.  Return: 0, or -1 to close. */
static int serve(struct rm_tcp *t, struct rm_conn *c)
{
	uint8_t out[MARU_RM_TCP_MAX_MSG];
	struct maru_rm_hdr h;
	size_t n;
	int ret;

	while (c->have >= MARU_RM_HDR_SIZE) {
		ret = maru_rm_tcp_hdr_decode(c->in, c->have, &h);
		if (ret) {
			bump(&t->p->ctr.rm_bad);
			n = maru_rm_tcp_error_resp(out, ret, ret == -EMSGSIZE ? "payload too large" :
						   "bad magic or version");
			reply(c->fd, out, n);
			return -1;
		}
		if (c->have < MARU_RM_HDR_SIZE + h.len)
			return 0;
		bump(&t->p->ctr.rm_requests);
		switch (h.type) {
		case MARU_RM_GET_ACCESS_REQ:
			n = get_access(t, c->in + MARU_RM_HDR_SIZE, h.len, out);
			break;
		case MARU_RM_STATS_REQ:
			n = stats(t, out);
			break;
		case MARU_RM_ALLOC_REQ:
		case MARU_RM_FREE_REQ:
			n = maru_rm_tcp_error_resp(out, -EOPNOTSUPP, "kvtier-poold allocates and "
						   "frees regions through its metadata RPC "
						   "(REQUEST_ALLOC, RETURN_ALLOC)");
			break;
		default:
			bump(&t->p->ctr.rm_bad);
			n = maru_rm_tcp_error_resp(out, -EPROTO, "unknown message type");
			reply(c->fd, out, n);
			return -1;
		}
		if (!n || reply(c->fd, out, n))
			return -1;
		c->have -= MARU_RM_HDR_SIZE + h.len;
		memmove(c->in, c->in + MARU_RM_HDR_SIZE + h.len, c->have);
	}
	return 0;
}

static void accept_all(struct rm_tcp *t)
{
	int one = 1;

	for (;;) {
		int fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct rm_conn *c;

		if (fd < 0)
			return;
		if (t->nconns == RM_TCP_MAX_CONNS || !(c = mem_zalloc(sizeof(*c)))) {
			log_warn("rm-tcp: %s: connection refused", t->nconns == RM_TCP_MAX_CONNS ?
				 "too many connections" : "out of memory");
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		t->conns[t->nconns++] = c;
	}
}

void rm_tcp_service(struct rm_tcp *t, const struct pollfd *pfd, int n)
{
	/* from the end: conn_close() moves the last connection into the gap */
	for (int i = n - 1; i >= 1; i--) {
		struct rm_conn *c = t->conns[i - 1];
		ssize_t got;

		if (!pfd[i].revents)
			continue;
		got = recv(c->fd, c->in + c->have, sizeof(c->in) - c->have, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got > 0) {
			c->have += (uint32_t)got;
			if (!serve(t, c))
				continue;
		}
		conn_close(t, (uint32_t)(i - 1));
	}
	if (pfd[0].revents)
		accept_all(t);
}
