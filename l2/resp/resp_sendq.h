/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/resp_sendq.h - the outgoing side of the RESP wire: commands built
 * as text (headers, key names, bulk lengths) between zero-copy segments
 * (chunk headers and payloads, pointed to, never copied), written with one
 * sendmsg() per RESP_SENDQ_IOV segments.  No threads: one owner (the resp
 * adapter's I/O actor) builds, flushes and resets it.
 */
#ifndef KVT_L2_RESP_RESP_SENDQ_H
#define KVT_L2_RESP_RESP_SENDQ_H

#include <stddef.h>

#define RESP_SENDQ_IOV 256

/* A segment: text at txt + off when p is NULL (txt may move as it grows),
 * else the caller's bytes at p. */
struct resp_sendq_seg {
	const void *p;
	size_t off, len;
};

struct resp_sendq {
	char *txt;
	size_t tlen, tcap;
	struct resp_sendq_seg *seg;
	size_t nseg, scap;
	size_t bytes;          /* queued since the last reset */
};

/* Append printf-formatted text.  Return: 0, -ENOMEM, -EINVAL. */
int resp_sendq_text(struct resp_sendq *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append @len bytes at @p without copying: they must stay valid and
 * unchanged until the queue is flushed.  Return: 0 or -ENOMEM. */
int resp_sendq_ptr(struct resp_sendq *q, const void *p, size_t len);

/* Write everything queued to @fd, in order.  Return: 0, -ETIMEDOUT (the
 * socket's send timeout expired), or -errno. */
int resp_sendq_flush(const struct resp_sendq *q, int fd);

/* Empty the queue, keeping its buffers. */
void resp_sendq_reset(struct resp_sendq *q);

/* Free the buffers; the queue is empty and reusable afterwards. */
void resp_sendq_free(struct resp_sendq *q);

#endif /* KVT_L2_RESP_RESP_SENDQ_H */
