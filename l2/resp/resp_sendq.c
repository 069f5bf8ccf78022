/* SPDX-License-Identifier: Apache-2.0 */
/* l2/resp/resp_sendq.c - see resp_sendq.h. */
#include "l2/resp/resp_sendq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static int seg_push(struct resp_sendq *q, struct resp_sendq_seg seg)
{
	if (q->nseg == q->scap) {
		size_t cap = q->scap ? q->scap * 2 : 1024;
		struct resp_sendq_seg *s = realloc(q->seg, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		q->seg = s;
		q->scap = cap;
	}
	q->seg[q->nseg++] = seg;
	q->bytes += seg.len;
	return 0;
}

static int grow_text(struct resp_sendq *q, size_t need)
{
	size_t cap = q->tcap ? q->tcap * 2 : 65536;
	char *t;

	while (cap <= need)
		cap *= 2;
	t = realloc(q->txt, cap);
	if (!t)
		return -ENOMEM;
	q->txt = t;
	q->tcap = cap;
	return 0;
}

int resp_sendq_text(struct resp_sendq *q, const char *fmt, ...)
{
	struct resp_sendq_seg *last;
	va_list ap;
	int len, ret;

	for (;;) {
		va_start(ap, fmt);
		len = vsnprintf(q->txt ? q->txt + q->tlen : NULL, q->tcap - q->tlen, fmt, ap);
		va_end(ap);
		if (len < 0)
			return -EINVAL;
		if (q->tlen + (size_t)len < q->tcap)
			break;
		ret = grow_text(q, q->tlen + (size_t)len);
		if (ret)
			return ret;
	}
	/* text right after the previous text segment extends it */
	last = q->nseg ? &q->seg[q->nseg - 1] : NULL;
	if (last && !last->p && last->off + last->len == q->tlen) {
		last->len += (size_t)len;
		q->bytes += (size_t)len;
	} else {
		ret = seg_push(q, (struct resp_sendq_seg){ NULL, q->tlen, (size_t)len });
		if (ret)
			return ret;
	}
	q->tlen += (size_t)len;
	return 0;
}

int resp_sendq_ptr(struct resp_sendq *q, const void *p, size_t len)
{
	if (!len)
		return 0;
	return seg_push(q, (struct resp_sendq_seg){ p, 0, len });
}

void resp_sendq_reset(struct resp_sendq *q)
{
	q->tlen = q->nseg = q->bytes = 0;
}

void resp_sendq_free(struct resp_sendq *q)
{
	free(q->txt);
	free(q->seg);
	memset(q, 0, sizeof(*q));
}

int resp_sendq_flush(const struct resp_sendq *q, int fd)
{
	struct iovec iov[RESP_SENDQ_IOV];
	size_t si = 0, soff = 0;

	while (si < q->nseg) {
		struct msghdr mh = { .msg_iov = iov };
		size_t k = si, koff = soff, left;
		ssize_t w;

		while (k < q->nseg && mh.msg_iovlen < RESP_SENDQ_IOV) {
			const struct resp_sendq_seg *s = &q->seg[k];
			const char *base = s->p ? s->p : q->txt + s->off;

			iov[mh.msg_iovlen].iov_base = (void *)(base + koff);
			iov[mh.msg_iovlen].iov_len = s->len - koff;
			mh.msg_iovlen++;
			k++;
			koff = 0;
		}
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		/* a short write resumes inside the segment it stopped in */
		for (left = (size_t)w; left;) {
			size_t avail = q->seg[si].len - soff;

			if (left >= avail) {
				left -= avail;
				si++;
				soff = 0;
			} else {
				soff += left;
				left = 0;
			}
		}
	}
	return 0;
}
