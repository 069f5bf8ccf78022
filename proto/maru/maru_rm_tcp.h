/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_rm_tcp.h - Maru's resource-manager IPC over TCP (Maru PR
 * #33, version 2, maru_shm/ipc.py): the 12-byte header of version 1 (u32
 * magic, u16 version 2, u16 type, u32 payload length, payload <= 8 KiB),
 * little-endian, on a persistent connection with any number of requests.
 * The client maps memory itself: GET_ACCESS answers a region's device path,
 * offset and length instead of passing an fd.  Only what a client of a
 * kvtier-poold needs is decoded: GET_ACCESS and STATS (regions are
 * allocated through the metadata RPC).  Thread-free; the socket work lives
 * in poold/rm_tcp.c.  Threads: any.
 */
#ifndef KVT_PROTO_MARU_MARU_RM_TCP_H
#define KVT_PROTO_MARU_MARU_RM_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/maru/maru_rm.h"

#define MARU_RM_TCP_VERSION 2u
#define MARU_RM_TCP_MAX_PAYLOAD 8192u
#define MARU_RM_TCP_MAX_MSG (MARU_RM_HDR_SIZE + MARU_RM_TCP_MAX_PAYLOAD)

/* GET_ACCESS shares its numbers with version 1's GET_FD. */
enum {
	MARU_RM_GET_ACCESS_REQ = 9,
	MARU_RM_GET_ACCESS_RESP = 10,
};

/*
 * maru_rm_tcp_hdr_decode() - decode and check a version-2 header.
 * Return: 0, -EBADMSG (short, magic, version) or -EMSGSIZE.
 */
int maru_rm_tcp_hdr_decode(const uint8_t *buf, size_t len, struct maru_rm_hdr *h);

/*
 * maru_rm_tcp_handle_decode() - the handle a GET_ACCESS (or FREE) payload
 * starts with; a client id may follow and is not needed.
 * Return: 0 or -EINVAL (shorter than a handle).
 */
int maru_rm_tcp_handle_decode(const uint8_t *payload, size_t len, struct maru_handle *h);

/* Encoders write header + payload into @out (MARU_RM_TCP_MAX_MSG bytes)
 * and return the total length, or 0 when it would not fit. */
size_t maru_rm_tcp_access_resp(uint8_t *out, int32_t status, const char *path, uint64_t offset,
			       uint64_t length);
/* @paths[i] names pool i (a device or file path). */
size_t maru_rm_tcp_stats_resp(uint8_t *out, const struct maru_pool_info *pools,
			      const char *const *paths, uint32_t n);
size_t maru_rm_tcp_error_resp(uint8_t *out, int32_t status, const char *msg);

#endif /* KVT_PROTO_MARU_MARU_RM_TCP_H */
