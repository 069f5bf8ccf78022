/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_rm.h - Maru's resource-manager IPC (PR #29, version 1): a
 * 12-byte header in native byte order (u32 magic "MARU" 0x4D415255, u16
 * version 1, u16 type, u32 payload length, payload <= 1 KiB), fixed
 * payloads, region fds passed with SCM_RIGHTS beside ALLOC_RESP and
 * GET_FD_RESP.  Thread-free encoders and decoders; the socket work lives in
 * poold/rm.c.  Threads: any.
 */
#ifndef KVT_PROTO_MARU_MARU_RM_H
#define KVT_PROTO_MARU_MARU_RM_H

#include <stddef.h>
#include <stdint.h>

#define MARU_RM_MAGIC 0x4D415255u
#define MARU_RM_VERSION 1u
#define MARU_RM_HDR_SIZE 12u
#define MARU_RM_MAX_PAYLOAD 1024u
#define MARU_RM_ANY_POOL 0xFFFFFFFFu

enum maru_rm_type {
	MARU_RM_ALLOC_REQ = 1,
	MARU_RM_ALLOC_RESP = 2,
	MARU_RM_FREE_REQ = 3,
	MARU_RM_FREE_RESP = 4,
	MARU_RM_STATS_REQ = 5,
	MARU_RM_STATS_RESP = 6,
	MARU_RM_GET_FD_REQ = 9,
	MARU_RM_GET_FD_RESP = 10,
	/* kvtier-poold's own (Maru's clients never send it): no payload; the
	 * answer is a status with the shared index's fd (proto/maru/pool_shidx.h) */
	MARU_RM_GET_INDEX_REQ = 0x4b01,
	MARU_RM_GET_INDEX_RESP = 0x4b02,
	MARU_RM_ERROR_RESP = 255,
};

struct maru_rm_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;
};

struct maru_handle {
	uint64_t region_id;
	uint64_t offset;
	uint64_t length;
	uint64_t auth_token;
};

struct maru_pool_info {
	uint32_t pool_id;
	uint32_t dax_type;  /* 0 DEV_DAX, 1 FS_DAX (our shm files report 1) */
	uint64_t total;
	uint64_t free;
	uint64_t align;
};

/* A decoded request: ALLOC carries size/pool_id, FREE and GET_FD a handle. */
struct maru_rm_req {
	struct maru_rm_hdr hdr;
	uint64_t size;
	uint32_t pool_id;
	struct maru_handle handle;
};

/* Header codec: decode checks magic, version and the payload bound.
 * Return: 0, -EBADMSG (short, magic, version) or -EMSGSIZE. */
void maru_rm_hdr_encode(uint8_t out[MARU_RM_HDR_SIZE], uint16_t type, uint32_t len);
int maru_rm_hdr_decode(const uint8_t *buf, size_t len, struct maru_rm_hdr *h);

/*
 * maru_rm_recv() - read one whole reply from stream socket @s into @resp
 * (@cap bytes: MARU_RM_HDR_SIZE + MARU_RM_MAX_PAYLOAD), and the fd that
 * rides on it (SCM_RIGHTS, O_CLOEXEC) into *@fd, -1 when none came.
 * On error *@fd is closed and -1.
 * Return: 0 with @rh decoded; -ECONNRESET when the peer closed first,
 * -errno of recvmsg (-EAGAIN past SO_RCVTIMEO), or the header's error.
 */
int maru_rm_recv(int s, uint8_t *resp, size_t cap, struct maru_rm_hdr *rh, int *fd);

/*
 * maru_rm_req_decode() - decode a request payload for @r->hdr (already
 * decoded).  Return: 0; -EPROTO unknown or response type; -EINVAL payload
 * of the wrong size.
 */
int maru_rm_req_decode(const uint8_t *payload, size_t len, struct maru_rm_req *r);

/* Encoders write header + payload into @out (at least 12 + 1024 bytes)
 * and return the total length. */
size_t maru_rm_alloc_resp(uint8_t *out, int32_t status, const struct maru_handle *h,
			  uint64_t requested);
size_t maru_rm_status_resp(uint8_t *out, uint16_t type, int32_t status);
size_t maru_rm_stats_resp(uint8_t *out, const struct maru_pool_info *pools, uint32_t n);
size_t maru_rm_error_resp(uint8_t *out, int32_t status, const char *msg);
/* Request encoders, for tests and clients. */
size_t maru_rm_alloc_req(uint8_t *out, uint64_t size, uint32_t pool_id);
size_t maru_rm_handle_req(uint8_t *out, uint16_t type, const struct maru_handle *h);

#endif /* KVT_PROTO_MARU_MARU_RM_H */
