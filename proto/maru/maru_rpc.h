/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_rpc.h - Maru's metadata RPC: the 16-byte frame header and the
 * MessagePack request decoder, plus helpers that pack responses.
 *
 * Frame (network byte order): u16 magic 0xCF00, u8 version 1, u8 type,
 * u8 flags, 3 reserved bytes, u32 sequence, u32 payload length; then a
 * MessagePack map.  A response carries type | 0x80 (admin codes 0xF0-0xFF
 * already have that bit) with the request's sequence and flags.
 *
 * Keys travel as msgpack strings or integers.  Both are normalised to bytes
 * tagged with their kind ('s' + UTF-8, or 'i' + 8 big-endian bytes), so the
 * string "5" and the integer 5 are different keys, as in Maru's dict.
 *
 * The decoder is thread-free and never trusts a length: a malformed message
 * yields a negative errno and a reason, with nothing allocated.
 * Threads: any; a maru_req has one user.
 */
#ifndef KVT_PROTO_MARU_MARU_RPC_H
#define KVT_PROTO_MARU_MARU_RPC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MARU_MAGIC 0xCF00u
#define MARU_VERSION 1u
#define MARU_HDR_SIZE 16u
#define MARU_RESPONSE 0x80u
#define MARU_KEY_MAX 4096u   /* longest key, in bytes */
#define MARU_ID_MAX 256u     /* longest instance_id */

enum maru_type {
	MARU_REQUEST_ALLOC = 0x01,
	MARU_RETURN_ALLOC = 0x03,
	MARU_LIST_ALLOCATIONS = 0x04,
	MARU_REGISTER_KV = 0x10,
	MARU_LOOKUP_KV = 0x11,
	MARU_EXISTS_KV = 0x12,
	MARU_DELETE_KV = 0x13,
	MARU_PIN_KV = 0x14,
	MARU_UNPIN_KV = 0x15,
	MARU_BATCH_REGISTER_KV = 0x20,
	MARU_BATCH_LOOKUP_KV = 0x21,
	MARU_BATCH_EXISTS_KV = 0x22,
	MARU_BATCH_PIN_KV = 0x23,
	MARU_BATCH_UNPIN_KV = 0x24,
	MARU_GET_STATS = 0xF0,
	MARU_HEARTBEAT = 0xF1,
	MARU_REPORT_STATS = 0xF2,
	MARU_GET_USAGE = 0xF3,
	MARU_HANDSHAKE = 0xFE,
	MARU_SHUTDOWN = 0xFF,
};

struct maru_hdr {
	uint16_t magic;
	uint8_t version;
	uint8_t type;
	uint8_t flags;
	uint32_t seq;
	uint32_t len;
};

/*
 * A key: @kind 's' (msgpack str; @ptr points into the request) or 'i'/'u'
 * (integer; its 8 big-endian bytes are in @own, 'u' for values above
 * INT64_MAX).  Read the bytes with maru_key_bytes(): the struct may be copied.
 */
struct maru_key {
	const uint8_t *ptr;
	uint32_t len;
	uint8_t kind;
	uint8_t own[8];
};

static inline const uint8_t *maru_key_bytes(const struct maru_key *k)
{
	return k->kind == 's' ? k->ptr : k->own;
}

struct maru_kv_entry {
	struct maru_key key;
	uint64_t region_id;
	uint64_t kv_offset;
	uint64_t kv_length;
};

struct maru_req {
	struct maru_hdr hdr;
	const char *instance_id;     /* into the payload, not NUL-terminated */
	uint32_t instance_len;
	bool has_instance;
	uint64_t size;
	uint64_t pool_id;            /* 0xFFFFFFFF: any pool */
	uint64_t region_id;
	struct maru_kv_entry kv;     /* REGISTER_KV, and .key for single-key ops */
	struct maru_kv_entry *entries; /* BATCH_REGISTER_KV: n entries */
	struct maru_key *keys;       /* other batches: n keys */
	uint32_t n;
};

/* Header codec.  maru_hdr_decode() checks magic and version only. */
void maru_hdr_encode(uint8_t out[MARU_HDR_SIZE], const struct maru_hdr *h);
int maru_hdr_decode(const uint8_t *buf, size_t len, struct maru_hdr *h);

/* The response code for request @type. */
static inline uint8_t maru_resp_type(uint8_t type)
{
	return (uint8_t)(type | MARU_RESPONSE);
}

/* True for the codes this daemon answers (§2.2 plus HEAD's admin codes). */
bool maru_type_known(uint8_t type);

/*
 * maru_req_decode() - decode one frame into @r.
 * @buf/@len: the whole ZeroMQ message; @r points into it afterwards.
 * @max_payload: larger payload_length values are refused.
 * @why: receives a short reason on failure (static string).
 *
 * Allocates: the batch arrays (r->entries or r->keys) with mem_alloc; free
 * them with maru_req_release(), also after a failure.
 * Return: 0; -EBADMSG bad header (r->hdr is valid only when the magic was
 * right: callers echo its seq); -EMSGSIZE payload too long; -EPROTO unknown
 * type (hdr valid); -EINVAL payload of the wrong shape (hdr valid);
 * -ENOMEM.
 */
int maru_req_decode(const uint8_t *buf, size_t len, size_t max_payload, struct maru_req *r,
		    const char **why);
void maru_req_release(struct maru_req *r);

/*
 * Response writer: maru_resp_begin() reserves the header in @sb and sets up
 * @pk; the caller packs one map; maru_resp_end() fills the header in.
 */
void maru_resp_begin(msgpack_sbuffer *sb, msgpack_packer *pk);
void maru_resp_end(msgpack_sbuffer *sb, const struct maru_hdr *req);
/* Packs a C string as a msgpack str; inline, so a literal's length is
 * known at compile time (replies pack thousands of field names). */
static inline void maru_pack_cstr(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}
/* Packs {"error": msg} as the whole payload. */
void maru_pack_error(msgpack_packer *pk, const char *msg);
/* Packs a handle map {region_id, offset, length, auth_token}. */
void maru_pack_handle(msgpack_packer *pk, uint64_t region_id, uint64_t offset,
		      uint64_t length, uint64_t token);
/*
 * Packs the head of a lookup entry that hit: a map header of 4 fields,
 * "found": true and "handle": {...}.  The caller packs the other two,
 * "kv_offset" and "kv_length", right after it.
 */
void maru_pack_found_head(msgpack_packer *pk, uint64_t region_id, uint64_t offset,
			  uint64_t length, uint64_t token);

/*
 * Direct writers for replies built where nothing may allocate (inside an RCU
 * read section): maru_sbuffer_reserve() first makes room for @more bytes past
 * @sb->size (msgpack_sbuffer grows with realloc(), and so does this); the
 * caller then writes at @sb->data + @sb->size and moves @sb->size itself.
 * Return: 0, or -ENOMEM (@sb unchanged).
 */
int maru_sbuffer_reserve(msgpack_sbuffer *sb, size_t more);

/* The bytes msgpack_pack_uint64() writes for @v (its smallest form), at @o.
 * Return: the byte after them; at most MARU_UINT_MAX_BYTES written. */
#define MARU_UINT_MAX_BYTES 9
static inline uint8_t *maru_put_uint(uint8_t *o, uint64_t v)
{
	int n;

	if (v < 0x80) {
		*o = (uint8_t)v;
		return o + 1;
	}
	if (v < 0x100) {
		*o = 0xcc;
		n = 1;
	} else if (v < 0x10000) {
		*o = 0xcd;
		n = 2;
	} else if (v < 0x100000000ull) {
		*o = 0xce;
		n = 4;
	} else {
		*o = 0xcf;
		n = 8;
	}
	for (int i = n; i > 0; i--, v >>= 8)
		o[i] = (uint8_t)v;
	return o + 1 + n;
}

#endif /* KVT_PROTO_MARU_MARU_RPC_H */
