/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_rm.c - Maru resource-manager IPC codec (see maru_rm.h).
 * Native byte order, as Maru's C++ daemon writes its structs with memcpy.
 */
#include "proto/maru/maru_rm.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void maru_rm_hdr_encode(uint8_t out[MARU_RM_HDR_SIZE], uint16_t type, uint32_t len)
{
	uint32_t magic = MARU_RM_MAGIC;
	uint16_t version = MARU_RM_VERSION;

	memcpy(out, &magic, 4);
	memcpy(out + 4, &version, 2);
	memcpy(out + 6, &type, 2);
	memcpy(out + 8, &len, 4);
}

int maru_rm_hdr_decode(const uint8_t *buf, size_t len, struct maru_rm_hdr *h)
{
	if (len < MARU_RM_HDR_SIZE)
		return -EBADMSG;
	memcpy(&h->magic, buf, 4);
	memcpy(&h->version, buf + 4, 2);
	memcpy(&h->type, buf + 6, 2);
	memcpy(&h->len, buf + 8, 4);
	if (h->magic != MARU_RM_MAGIC || h->version != MARU_RM_VERSION)
		return -EBADMSG;
	if (h->len > MARU_RM_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

static void get_handle(const uint8_t *p, struct maru_handle *h)
{
	memcpy(&h->region_id, p, 8);
	memcpy(&h->offset, p + 8, 8);
	memcpy(&h->length, p + 16, 8);
	memcpy(&h->auth_token, p + 24, 8);
}

static void put_handle(uint8_t *p, const struct maru_handle *h)
{
	memcpy(p, &h->region_id, 8);
	memcpy(p + 8, &h->offset, 8);
	memcpy(p + 16, &h->length, 8);
	memcpy(p + 24, &h->auth_token, 8);
}

int maru_rm_req_decode(const uint8_t *payload, size_t len, struct maru_rm_req *r)
{
	switch (r->hdr.type) {
	case MARU_RM_ALLOC_REQ:
		if (len < 16)
			return -EINVAL;
		memcpy(&r->size, payload, 8);
		memcpy(&r->pool_id, payload + 8, 4);
		return 0;
	case MARU_RM_FREE_REQ:
	case MARU_RM_GET_FD_REQ:
		if (len < 32)
			return -EINVAL;
		get_handle(payload, &r->handle);
		return 0;
	case MARU_RM_STATS_REQ:
	case MARU_RM_GET_INDEX_REQ:
		return 0;
	default:
		return -EPROTO;
	}
}

size_t maru_rm_alloc_resp(uint8_t *out, int32_t status, const struct maru_handle *h,
			  uint64_t requested)
{
	uint8_t *p = out + MARU_RM_HDR_SIZE;
	uint32_t pad = 0;

	memcpy(p, &status, 4);
	memcpy(p + 4, &pad, 4);
	put_handle(p + 8, h);
	memcpy(p + 40, &requested, 8);
	maru_rm_hdr_encode(out, MARU_RM_ALLOC_RESP, 48);
	return MARU_RM_HDR_SIZE + 48;
}

size_t maru_rm_status_resp(uint8_t *out, uint16_t type, int32_t status)
{
	memcpy(out + MARU_RM_HDR_SIZE, &status, 4);
	maru_rm_hdr_encode(out, type, 4);
	return MARU_RM_HDR_SIZE + 4;
}

size_t maru_rm_stats_resp(uint8_t *out, const struct maru_pool_info *pools, uint32_t n)
{
	uint8_t *p = out + MARU_RM_HDR_SIZE;
	uint32_t max = (MARU_RM_MAX_PAYLOAD - 4) / 32;

	if (n > max)
		n = max;
	memcpy(p, &n, 4);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *q = p + 4 + 32 * i;

		memcpy(q, &pools[i].pool_id, 4);
		memcpy(q + 4, &pools[i].dax_type, 4);
		memcpy(q + 8, &pools[i].total, 8);
		memcpy(q + 16, &pools[i].free, 8);
		memcpy(q + 24, &pools[i].align, 8);
	}
	maru_rm_hdr_encode(out, MARU_RM_STATS_RESP, 4 + 32 * n);
	return MARU_RM_HDR_SIZE + 4 + 32 * n;
}

size_t maru_rm_error_resp(uint8_t *out, int32_t status, const char *msg)
{
	uint8_t *p = out + MARU_RM_HDR_SIZE;
	uint32_t n = (uint32_t)strnlen(msg, MARU_RM_MAX_PAYLOAD - 8);

	memcpy(p, &status, 4);
	memcpy(p + 4, &n, 4);
	memcpy(p + 8, msg, n);
	maru_rm_hdr_encode(out, MARU_RM_ERROR_RESP, 8 + n);
	return MARU_RM_HDR_SIZE + 8 + n;
}

size_t maru_rm_alloc_req(uint8_t *out, uint64_t size, uint32_t pool_id)
{
	uint32_t reserved = 0;

	memcpy(out + MARU_RM_HDR_SIZE, &size, 8);
	memcpy(out + MARU_RM_HDR_SIZE + 8, &pool_id, 4);
	memcpy(out + MARU_RM_HDR_SIZE + 12, &reserved, 4);
	maru_rm_hdr_encode(out, MARU_RM_ALLOC_REQ, 16);
	return MARU_RM_HDR_SIZE + 16;
}

size_t maru_rm_handle_req(uint8_t *out, uint16_t type, const struct maru_handle *h)
{
	put_handle(out + MARU_RM_HDR_SIZE, h);
	maru_rm_hdr_encode(out, type, 32);
	return MARU_RM_HDR_SIZE + 32;
}

int maru_rm_recv(int s, uint8_t *resp, size_t cap, struct maru_rm_hdr *rh, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { resp, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	size_t got = 0;
	int ret;

	*fd = -1;
	/* the fd rides on the first bytes; read until the whole answer is in */
	for (;;) {
		ssize_t n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);

		if (n <= 0) {
			ret = n == 0 ? -ECONNRESET : -errno;
			goto err;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && *fd < 0)
				memcpy(fd, CMSG_DATA(c), sizeof(*fd));
		got += (size_t)n;
		if (got >= MARU_RM_HDR_SIZE) {
			ret = maru_rm_hdr_decode(resp, got, rh);
			if (ret)
				goto err;
			if (got >= MARU_RM_HDR_SIZE + rh->len)
				return 0;
		}
		iov.iov_base = resp + got;
		iov.iov_len = cap - got;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
err:
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return ret;
}
