/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/rm.c - the resource-manager front end (see poold.h).
 *
 * Maru's RM protocol, version 1, on a Unix stream socket (mode 0600): one
 * request per connection, as Maru's MaruShmClient sends them.  The peer's
 * credentials come from SO_PEERCRED: only the daemon's own uid and root
 * are served.  ALLOC and FREE go to the index actor; GET_FD and STATS are
 * answered here.  GET_FD checks the region's token under RCU and passes the
 * pool's fd with SCM_RIGHTS; the client maps handle.length bytes at
 * handle.offset.  A request must arrive within RM_READ_MS; a short or
 * malformed one gets an ERROR_RESP when it can be framed, and is counted.
 * GET_INDEX (kvtier's own type) passes the shared index read-only.
 * With --rm-tcp this actor also serves the TCP transport (rm_tcp.c).
 */
#define _GNU_SOURCE
#include "poold/poold.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "poold/rm_tcp.h"

#define RM_READ_MS 500

struct rm_fe {
	struct actor actor;
	struct pool *p;
	int lfd;
	struct rm_tcp *tcp;    /* --rm-tcp, or NULL */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct actor *rm_fe_actor(struct rm_fe *fe)
{
	return &fe->actor;
}

static void bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

int rm_fe_create(struct pool *p, struct rm_fe **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rm_fe *fe;
	struct stat st;
	int ret;

	if (strlen(p->opts.rm_socket) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "rm socket \"%s\": path too long", p->opts.rm_socket);
		return -ENAMETOOLONG;
	}
	fe = mem_zalloc(sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->p = p;
	snprintf(fe->path, sizeof(fe->path), "%s", p->opts.rm_socket);
	memcpy(sa.sun_path, fe->path, strlen(fe->path));
	/* a stale socket from a crashed run; never remove anything else */
	if (!lstat(fe->path, &st) && S_ISSOCK(st.st_mode))
		unlink(fe->path);
	fe->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fe->lfd < 0) {
		ret = -errno;
		goto err_free;
	}
	if (bind(fe->lfd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(fe->path, 0600) ||
	    listen(fe->lfd, 64)) {
		ret = -errno;
		snprintf(err, errlen, "rm socket \"%s\": %s", fe->path, strerror(errno));
		goto err_close;
	}
	if (p->opts.rm_tcp) {
		ret = rm_tcp_open(p, &fe->tcp, err, errlen);
		if (ret)
			goto err_unlink;
	}
	*out = fe;
	return 0;

err_unlink:
	unlink(fe->path);
err_close:
	close(fe->lfd);
err_free:
	mem_free(fe);
	return ret;
}

void rm_fe_destroy(struct rm_fe *fe)
{
	if (!fe)
		return;
	rm_tcp_close(fe->tcp);
	close(fe->lfd);
	unlink(fe->path);
	mem_free(fe);
}

/* Reads exactly @len bytes within the deadline.  Return: 0 or -1. */
static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, RM_READ_MS) <= 0)
			return -1;
		n = recv(fd, p, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void send_reply(int fd, const void *buf, size_t len, int pass_fd)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (pass_fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
		log_debug("rm: reply not sent: %s", strerror(errno));
}

static void serve(struct rm_fe *fe, int fd)
{
	struct pool *p = fe->p;
	uint8_t in[MARU_RM_HDR_SIZE + MARU_RM_MAX_PAYLOAD];
	uint8_t out[MARU_RM_HDR_SIZE + MARU_RM_MAX_PAYLOAD];
	struct maru_pool_info pools[POOL_MAX_DEVS];
	struct maru_rm_req q = { 0 };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct actor_msg m;
	struct maru_handle h;
	struct pool_region *r;
	int ret, pass = -1, own = -1;
	size_t n;

	bump(&p->ctr.rm_requests);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    (cred.uid != p->uid && cred.uid != 0)) {
		bump(&p->ctr.rm_bad_peer);
		n = maru_rm_error_resp(out, -EACCES, "peer not allowed");
		send_reply(fd, out, n, -1);
		return;
	}
	if (read_full(fd, in, MARU_RM_HDR_SIZE)) {
		bump(&p->ctr.rm_bad);
		return; /* truncated header: close */
	}
	ret = maru_rm_hdr_decode(in, MARU_RM_HDR_SIZE, &q.hdr);
	if (ret) {
		bump(&p->ctr.rm_bad);
		n = maru_rm_error_resp(out, ret, ret == -EMSGSIZE ? "payload too large" :
				       "bad magic or version");
		send_reply(fd, out, n, -1);
		return;
	}
	if (q.hdr.len && read_full(fd, in + MARU_RM_HDR_SIZE, q.hdr.len)) {
		bump(&p->ctr.rm_bad);
		return;
	}
	ret = maru_rm_req_decode(in + MARU_RM_HDR_SIZE, q.hdr.len, &q);
	if (ret) {
		bump(&p->ctr.rm_bad);
		n = maru_rm_error_resp(out, ret, ret == -EPROTO ? "unknown message type" :
				       "payload of the wrong size");
		send_reply(fd, out, n, -1);
		return;
	}
	memset(&m, 0, sizeof(m));
	switch (q.hdr.type) {
	case MARU_RM_ALLOC_REQ:
		m.op = POOL_IDX_RM_ALLOC;
		m.ptr[0] = &q;
		m.ptr[1] = &h;
		m.u64[0] = (uint64_t)cred.pid;
		memset(&h, 0, sizeof(h));
		ret = actor_call(&p->index, &m);
		if (!ret) {
			kvt_rcu_read_lock();
			r = pool_region_find_rcu(p, h.region_id);
			pass = r ? p->devs[r->pool].fd : -1;
			kvt_rcu_read_unlock();
		}
		n = maru_rm_alloc_resp(out, ret, &h, q.size);
		break;
	case MARU_RM_FREE_REQ:
		m.op = POOL_IDX_RM_FREE;
		m.ptr[0] = &q;
		m.u64[0] = (uint64_t)cred.pid;
		m.u32 = cred.uid;
		ret = actor_call(&p->index, &m);
		if (ret == -EACCES)
			bump(&p->ctr.rm_bad_token);
		n = maru_rm_status_resp(out, MARU_RM_FREE_RESP, ret);
		break;
	case MARU_RM_GET_FD_REQ:
		ret = -EACCES;
		kvt_rcu_read_lock();
		r = pool_region_find_rcu(p, q.handle.region_id);
		if (r && maru_token_eq(r->token, q.handle.auth_token) &&
		    r->offset == q.handle.offset && r->length == q.handle.length) {
			pass = p->devs[r->pool].fd;
			ret = 0;
		}
		kvt_rcu_read_unlock();
		if (ret) {
			bump(&p->ctr.rm_bad_token);
			n = maru_rm_error_resp(out, ret, "unknown region or bad token");
		} else {
			n = maru_rm_status_resp(out, MARU_RM_GET_FD_RESP, 0);
		}
		break;
	case MARU_RM_GET_INDEX_REQ:
		/* a fresh read-only open per request, closed once passed */
		ret = p->shidx.hdr ? shidx_reader_fd(&p->shidx) : -EOPNOTSUPP;
		if (ret < 0) {
			n = maru_rm_error_resp(out, ret, "no shared index");
			break;
		}
		pass = own = ret;
		n = maru_rm_status_resp(out, MARU_RM_GET_INDEX_RESP, 0);
		break;
	default: /* STATS */
		for (uint32_t i = 0; i < p->ndevs; i++)
			pools[i] = (struct maru_pool_info){
				.pool_id = i, .dax_type = p->devs[i].dax_type,
				.total = p->devs[i].size,
				.free = atomic_load_explicit(&p->devs[i].free_bytes,
							     memory_order_relaxed),
				.align = p->devs[i].align,
			};
		n = maru_rm_stats_resp(out, pools, p->ndevs);
		break;
	}
	send_reply(fd, out, n, pass);
	if (own >= 0)
		close(own);
}

static void rm_handle(void *ctx, const struct actor_msg *m)
{
	struct rm_fe *fe = ctx;

	ACTOR_ASSERT_SELF(&fe->actor);
	if (m->done)
		completion_signal(m->done, 0);
}

static int rm_idle(void *ctx)
{
	struct rm_fe *fe = ctx;
	struct pollfd pfd[2 + RM_TCP_MAX_CONNS] = { { .fd = fe->lfd, .events = POLLIN } };
	int n = 1;

	if (fe->tcp)
		n += rm_tcp_pollfds(fe->tcp, pfd + 1);
	if (poll(pfd, (nfds_t)n, POOLD_POLL_MS) <= 0)
		return 0;
	if (fe->tcp)
		rm_tcp_service(fe->tcp, pfd + 1, n - 1);
	if (!pfd[0].revents)
		return 0;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(fe->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			break;
		serve(fe, fd);
		close(fd);
	}
	return 0;
}

const struct actor_ops rm_fe_ops = {
	.handle = rm_handle,
	.idle = rm_idle,
};
