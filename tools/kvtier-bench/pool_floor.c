/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/pool_floor.c - the transport floor (pool_floor.h).
 *
 * Each request is answered as kvtier-poold frames its answers: every
 * envelope frame echoed, then a Maru header with the request's sequence
 * and the response type, then the payload (zeros).  The payload is built
 * once per size, so the server thread spends nothing but ZeroMQ calls.
 */
#define _GNU_SOURCE
#include "tools/kvtier-bench/pool_floor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <zmq.h>

#include "proto/maru/maru_rpc.h"

#define MAX_FRAMES 8
#define MAX_REPLY (1u << 20)

struct pool_floor {
	void *zctx, *router;
	pthread_t th;
	_Atomic uint32_t reply_len;
	uint8_t *reply;       /* MARU_HDR_SIZE + MAX_REPLY bytes; the server thread's */
};

static void answer(struct pool_floor *f, zmq_msg_t *req)
{
	uint32_t len = atomic_load_explicit(&f->reply_len, memory_order_relaxed);
	struct maru_hdr h;

	if (maru_hdr_decode(zmq_msg_data(req), zmq_msg_size(req), &h))
		len = 0;
	h.type = maru_resp_type(h.type);
	h.flags = 0;
	h.len = len;
	maru_hdr_encode(f->reply, &h);
	zmq_send(f->router, f->reply, MARU_HDR_SIZE + len, 0);
}

static void *floor_main(void *arg)
{
	struct pool_floor *f = arg;
	zmq_msg_t m[MAX_FRAMES];
	int n, more;

	for (;;) {
		n = 0;
		do {
			zmq_msg_init(&m[n]);
			if (zmq_msg_recv(&m[n], f->router, 0) < 0) {
				zmq_msg_close(&m[n]);
				while (n--)
					zmq_msg_close(&m[n]);
				/* ETERM: pool_floor_stop() */
				return NULL;
			}
			more = zmq_msg_more(&m[n]);
			n++;
		} while (more && n < MAX_FRAMES);
		for (int i = 0; i < n - 1; i++)
			zmq_msg_send(&m[i], f->router, ZMQ_SNDMORE);
		answer(f, &m[n - 1]);
		zmq_msg_close(&m[n - 1]);
	}
}

struct pool_floor *pool_floor_start(char *addr, size_t addrlen, bool ipc)
{
	struct pool_floor *f = calloc(1, sizeof(*f));
	int zero = 0;
	size_t len = addrlen;

	if (f)
		f->reply = calloc(1, MARU_HDR_SIZE + MAX_REPLY);
	if (!f || !f->reply) {
		fprintf(stderr, "kvtier-bench: pool: floor: out of memory\n");
		goto fail;
	}
	f->zctx = zmq_ctx_new();
	f->router = f->zctx ? zmq_socket(f->zctx, ZMQ_ROUTER) : NULL;
	if (!f->router) {
		fprintf(stderr, "kvtier-bench: pool: floor: %s\n", zmq_strerror(zmq_errno()));
		goto fail;
	}
	zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof(zero));
	/* "ipc://" and a star: libzmq makes a unique path, unlinked at close */
	if (zmq_bind(f->router, ipc ? "ipc://*" : "tcp://127.0.0.1:*") ||
	    zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, addr, &len)) {
		fprintf(stderr, "kvtier-bench: pool: floor: bind: %s\n", zmq_strerror(zmq_errno()));
		goto fail;
	}
	if (pthread_create(&f->th, NULL, floor_main, f)) {
		fprintf(stderr, "kvtier-bench: pool: floor: pthread_create failed\n");
		goto fail;
	}
	return f;
fail:
	if (f && f->router)
		zmq_close(f->router);
	if (f && f->zctx)
		zmq_ctx_term(f->zctx);
	if (f)
		free(f->reply);
	free(f);
	return NULL;
}

void pool_floor_set_reply_len(struct pool_floor *f, uint32_t len)
{
	atomic_store_explicit(&f->reply_len, len < MAX_REPLY ? len : MAX_REPLY,
			      memory_order_relaxed);
}

void pool_floor_stop(struct pool_floor *f)
{
	zmq_ctx_shutdown(f->zctx);
	pthread_join(f->th, NULL);
	zmq_close(f->router);
	zmq_ctx_term(f->zctx);
	free(f->reply);
	free(f);
}
