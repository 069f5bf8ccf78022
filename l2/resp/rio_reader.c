/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/rio_reader.c - the incoming side of the RESP wire for the resp
 * I/O actor: replies parsed from each node's buffer, values read straight
 * into the caller's buffers.  I/O actor only.
 */
#define _GNU_SOURCE
#include "l2/resp/rio_internal.h"

/* ---- the reply reader ------------------------------------------------------ */

/*
 * The replies of a window are read here, not by hiredis's reader: a GET's
 * value goes from the socket straight into the caller's buffer (its header
 * into a scratch block first, checked before the payload is read), so a
 * load costs one copy, the kernel's.  That holds only if the reads into
 * rbuf stop before the payloads: while a GET of a chunk of RD_DIRECT_MIN
 * bytes or more is read they take at most RD_HEAD_READ bytes (the previous
 * value's CRLF, the "$<len>" line and about the value's header), else a
 * read into rbuf would take most of the next payload and cost a memcpy
 * of it (73% of the payload bytes of 256 KiB chunks went so); smaller
 * chunks are cheaper to copy than to read apart.  Only RESP2 replies of
 * one line (+ - :) and bulk strings ($) are expected.  Between windows the
 * buffer is empty, so hiredis's own calls (AUTH, PING, CLUSTER SLOTS)
 * never miss a byte.
 */

static int rd_recv(struct rio_node *nd, void *dst, size_t cap, int flags)
{
	for (;;) {
		ssize_t r = recv(nd->c->fd, dst, cap, flags);

		if (r > 0)
			return (int)r;
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	}
}

/* Make at least one more byte available in nd->rbuf, reading at most
 * rd_cap bytes or @want when more.  Return: 0 or -errno. */
static int rd_more(struct rio_node *nd, size_t want)
{
	size_t cap = want > nd->rd_cap ? want : nd->rd_cap;
	int r;

	if (!nd->rbuf) {
		nd->rbuf = mem_alloc(RD_BUF);
		if (!nd->rbuf)
			return -ENOMEM;
	}
	if (nd->rpos == nd->rlen) {
		nd->rpos = nd->rlen = 0;
	} else if (nd->rlen == RD_BUF) {
		if (nd->rpos == 0)
			return -EPROTO;  /* a line longer than the buffer */
		memmove(nd->rbuf, nd->rbuf + nd->rpos, nd->rlen - nd->rpos);
		nd->rlen -= nd->rpos;
		nd->rpos = 0;
	}
	r = rd_recv(nd, nd->rbuf + nd->rlen, RD_BUF - nd->rlen < cap ? RD_BUF - nd->rlen : cap, 0);
	if (r < 0)
		return r;
	nd->rlen += (size_t)r;
	return 0;
}

/* Read @len bytes into @dst (NULL: drop them); what rbuf lacks goes from
 * the socket straight to @dst, never further. */
int rio_rd_bytes(struct rio_node *nd, void *dst, size_t len)
{
	uint8_t *d = dst;

	while (len) {
		size_t have = nd->rlen - nd->rpos;
		int r;

		if (have) {
			size_t k = have < len ? have : len;

			if (d) {
				memcpy(d, nd->rbuf + nd->rpos, k);
				d += k;
			}
			nd->rpos += k;
			len -= k;
			continue;
		}
		if (d) {
			/* one call per payload, not one per segment that arrives */
			r = rd_recv(nd, d, len, MSG_WAITALL);
			if (r < 0)
				return r;
			d += r;
			len -= (size_t)r;
			continue;
		}
		r = rd_more(nd, len);
		if (r)
			return r;
	}
	return 0;
}

/* Read one reply's first line.  Return: 0 or -errno (-EPROTO: garbage). */
int rio_rd_head(struct rio_node *nd, struct rd_reply *rr)
{
	for (;;) {
		/* a fresh node has no buffer yet, and NULL + 0 is undefined */
		char *start = nd->rbuf ? (char *)nd->rbuf + nd->rpos : NULL;
		size_t have = nd->rlen - nd->rpos;
		char *nl = have ? memchr(start, '\n', have) : NULL;
		char *end;
		int r;

		if (!nl || nl == start || nl[-1] != '\r') {
			if (nl)
				return -EPROTO;
			if (have >= RD_LINE_MAX)
				return -EPROTO;
			r = rd_more(nd, 0);
			if (r)
				return r;
			continue;
		}
		nl[-1] = 0;
		nd->rpos += (size_t)(nl + 1 - start);
		rr->type = start[0];
		rr->str = start + 1;
		rr->len = (size_t)(nl - 1 - (start + 1));
		if (rr->type == '+' || rr->type == '-')
			return 0;
		if (rr->type != ':' && rr->type != '$')
			return -EPROTO;
		errno = 0;
		rr->integer = strtoll(start + 1, &end, 10);
		if (errno || end != nl - 1 || (rr->type == '$' && rr->integer < -1))
			return -EPROTO;
		return 0;
	}
}

/* A GET's value of @vlen bytes for key @i: header into scratch, checked,
 * then the payload into the caller's buffer and checked there.  Return:
 * 0 (res in *@res: 0 loaded, else why it is a miss) or an I/O code. */
int rio_rd_value(struct respio *rio, struct rio_run *run, size_t i, struct rio_node *nd,
		    size_t vlen, int *res, struct fschunk_info *info)
{
	struct l2_job *job = run->job;
	size_t hl = vlen < FSCHUNK_HDR ? vlen : FSCHUNK_HDR;
	int ret;

	ret = rio_rd_bytes(nd, rio->hdr, hl);
	if (ret)
		return ret;
	*res = fschunk_hdr_check(rio->hdr, hl, &job->keys[i], job->lens[i], info);
	if (*res == 0 && vlen - FSCHUNK_HDR != info->len)
		*res = -EBADMSG;
	if (*res)
		return rio_rd_bytes(nd, NULL, vlen - hl + 2);
	ret = rio_rd_bytes(nd, job->bufs[i], info->len);
	if (!ret)
		ret = rio_rd_bytes(nd, NULL, 2);
	if (ret)
		return ret;
	if (!fschunk_payload_ok(info, job->bufs[i], info->len))
		*res = -EBADMSG;
	return 0;
}
