/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_rm_tcp.c - Maru resource-manager IPC over TCP, version 2
 * (see maru_rm_tcp.h).  Little-endian on the wire, as ipc.py packs "<".
 */
#include "proto/maru/maru_rm_tcp.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static size_t finish(uint8_t *out, uint16_t type, size_t payload)
{
	put32(out, MARU_RM_MAGIC);
	put16(out + 4, MARU_RM_TCP_VERSION);
	put16(out + 6, type);
	put32(out + 8, (uint32_t)payload);
	return MARU_RM_HDR_SIZE + payload;
}

int maru_rm_tcp_hdr_decode(const uint8_t *buf, size_t len, struct maru_rm_hdr *h)
{
	uint32_t v32;
	uint16_t v16;

	if (len < MARU_RM_HDR_SIZE)
		return -EBADMSG;
	memcpy(&v32, buf, 4);
	h->magic = le32toh(v32);
	memcpy(&v16, buf + 4, 2);
	h->version = le16toh(v16);
	memcpy(&v16, buf + 6, 2);
	h->type = le16toh(v16);
	memcpy(&v32, buf + 8, 4);
	h->len = le32toh(v32);
	if (h->magic != MARU_RM_MAGIC || h->version != MARU_RM_TCP_VERSION)
		return -EBADMSG;
	if (h->len > MARU_RM_TCP_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

int maru_rm_tcp_handle_decode(const uint8_t *payload, size_t len, struct maru_handle *h)
{
	if (len < 32)
		return -EINVAL;
	h->region_id = get64(payload);
	h->offset = get64(payload + 8);
	h->length = get64(payload + 16);
	h->auth_token = get64(payload + 24);
	return 0;
}

/* GetAccessResp: i32 status, u32 path length, path, u64 offset, u64 length,
 * u16 device-uuid length (0: none), uuid. */
size_t maru_rm_tcp_access_resp(uint8_t *out, int32_t status, const char *path, uint64_t offset,
			       uint64_t length)
{
	size_t plen = strlen(path);
	uint8_t *p = out + MARU_RM_HDR_SIZE;

	if (8 + plen + 18 > MARU_RM_TCP_MAX_PAYLOAD)
		return 0;
	put32(p, (uint32_t)status);
	put32(p + 4, (uint32_t)plen);
	memcpy(p + 8, path, plen);
	put64(p + 8 + plen, offset);
	put64(p + 16 + plen, length);
	put16(p + 24 + plen, 0);
	return finish(out, MARU_RM_GET_ACCESS_RESP, 26 + plen);
}

/* StatsResp: u32 count, then per pool u32 path length, u32 dax type, u64
 * total, u64 free, u64 align, path. */
size_t maru_rm_tcp_stats_resp(uint8_t *out, const struct maru_pool_info *pools,
			      const char *const *paths, uint32_t n)
{
	uint8_t *p = out + MARU_RM_HDR_SIZE;
	size_t off = 4;

	put32(p, n);
	for (uint32_t i = 0; i < n; i++) {
		size_t plen = strlen(paths[i]);

		if (off + 32 + plen > MARU_RM_TCP_MAX_PAYLOAD)
			return 0;
		put32(p + off, (uint32_t)plen);
		put32(p + off + 4, pools[i].dax_type);
		put64(p + off + 8, pools[i].total);
		put64(p + off + 16, pools[i].free);
		put64(p + off + 24, pools[i].align);
		memcpy(p + off + 32, paths[i], plen);
		off += 32 + plen;
	}
	return finish(out, MARU_RM_STATS_RESP, off);
}

/* ErrorResp: i32 status, u32 message length, message. */
size_t maru_rm_tcp_error_resp(uint8_t *out, int32_t status, const char *msg)
{
	size_t mlen = strlen(msg);
	uint8_t *p = out + MARU_RM_HDR_SIZE;

	if (mlen > MARU_RM_TCP_MAX_PAYLOAD - 8)
		mlen = MARU_RM_TCP_MAX_PAYLOAD - 8;
	put32(p, (uint32_t)status);
	put32(p + 4, (uint32_t)mlen);
	memcpy(p + 8, msg, mlen);
	return finish(out, MARU_RM_ERROR_RESP, 8 + mlen);
}
