/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_rpc.c - Maru RPC frame codec (see maru_rpc.h).
 *
 * Decoding is table-free but strict: the payload must be exactly one map;
 * fields this daemon needs must have the right type; unknown fields are
 * skipped (so newer clients that add fields still work).
 */
#include "proto/maru/maru_rpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/maru/maru_mp.h"
#include "core/mem.h"

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void maru_hdr_encode(uint8_t out[MARU_HDR_SIZE], const struct maru_hdr *h)
{
	out[0] = (uint8_t)(h->magic >> 8);
	out[1] = (uint8_t)h->magic;
	out[2] = h->version;
	out[3] = h->type;
	out[4] = h->flags;
	out[5] = out[6] = out[7] = 0;
	put_be32(out + 8, h->seq);
	put_be32(out + 12, h->len);
}

int maru_hdr_decode(const uint8_t *buf, size_t len, struct maru_hdr *h)
{
	if (len < MARU_HDR_SIZE)
		return -EBADMSG;
	h->magic = (uint16_t)(buf[0] << 8 | buf[1]);
	h->version = buf[2];
	h->type = buf[3];
	h->flags = buf[4];
	h->seq = get_be32(buf + 8);
	h->len = get_be32(buf + 12);
	if (h->magic != MARU_MAGIC || h->version != MARU_VERSION)
		return -EBADMSG;
	return 0;
}

bool maru_type_known(uint8_t type)
{
	switch (type) {
	case MARU_REQUEST_ALLOC: case MARU_RETURN_ALLOC: case MARU_LIST_ALLOCATIONS:
	case MARU_REGISTER_KV: case MARU_LOOKUP_KV: case MARU_EXISTS_KV:
	case MARU_DELETE_KV: case MARU_PIN_KV: case MARU_UNPIN_KV:
	case MARU_BATCH_REGISTER_KV: case MARU_BATCH_LOOKUP_KV: case MARU_BATCH_EXISTS_KV:
	case MARU_BATCH_PIN_KV: case MARU_BATCH_UNPIN_KV:
	case MARU_GET_STATS: case MARU_HEARTBEAT: case MARU_REPORT_STATS:
	case MARU_GET_USAGE: case MARU_HANDSHAKE: case MARU_SHUTDOWN:
		return true;
	default:
		return false;
	}
}

static bool name_is(const char *s, uint32_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int read_key(struct mp_cur *c, struct maru_key *k)
{
	const char *s;
	uint32_t n;
	uint64_t u;
	int64_t i;

	memset(k, 0, sizeof(*k));
	switch (mp_peek(c)) {
	case MP_STR:
		if (mp_read_str(c, &s, &n) || n > MARU_KEY_MAX)
			return -EINVAL;
		k->kind = 's';
		k->ptr = (const uint8_t *)s;
		k->len = n;
		return 0;
	case MP_UINT:
		if (mp_read_u64(c, &u))
			return -EINVAL;
		k->kind = u > INT64_MAX ? 'u' : 'i';
		break;
	case MP_INT:
		if (mp_read_i64(c, &i))
			return -EINVAL;
		u = (uint64_t)i;
		k->kind = 'i';
		break;
	default:
		return -EINVAL;
	}
	for (int b = 0; b < 8; b++)
		k->own[b] = (uint8_t)(u >> (56 - 8 * b));
	k->len = 8;
	return 0;
}

enum {
	F_INSTANCE = 1u << 0, F_SIZE = 1u << 1, F_REGION = 1u << 2, F_OFFSET = 1u << 3,
	F_LENGTH = 1u << 4, F_KEY = 1u << 5, F_KEYS = 1u << 6, F_ENTRIES = 1u << 7,
};

static int read_entry(struct mp_cur *c, struct maru_kv_entry *e)
{
	uint32_t n, have = 0, len;
	const char *name;

	if (mp_read_map(c, &n))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (mp_read_str(c, &name, &len))
			return -EINVAL;
		if (name_is(name, len, "key")) {
			if (read_key(c, &e->key))
				return -EINVAL;
			have |= F_KEY;
		} else if (name_is(name, len, "region_id")) {
			if (mp_read_u64(c, &e->region_id))
				return -EINVAL;
			have |= F_REGION;
		} else if (name_is(name, len, "kv_offset")) {
			if (mp_read_u64(c, &e->kv_offset))
				return -EINVAL;
			have |= F_OFFSET;
		} else if (name_is(name, len, "kv_length")) {
			if (mp_read_u64(c, &e->kv_length))
				return -EINVAL;
			have |= F_LENGTH;
		} else if (mp_skip(c)) {
			return -EINVAL;
		}
	}
	return have == (F_KEY | F_REGION | F_OFFSET | F_LENGTH) ? 0 : -EINVAL;
}

static int read_keys(struct mp_cur *c, struct maru_req *r)
{
	uint32_t n;

	if (r->keys || r->entries || mp_read_array(c, &n))
		return -EINVAL;
	r->keys = mem_alloc(sizeof(*r->keys) * (n ? n : 1));
	if (!r->keys)
		return -ENOMEM;
	r->n = n;
	for (uint32_t i = 0; i < n; i++)
		if (read_key(c, &r->keys[i]))
			return -EINVAL;
	return 0;
}

static int read_entries(struct mp_cur *c, struct maru_req *r)
{
	uint32_t n;

	if (r->keys || r->entries || mp_read_array(c, &n))
		return -EINVAL;
	r->entries = mem_zalloc(sizeof(*r->entries) * (n ? n : 1));
	if (!r->entries)
		return -ENOMEM;
	r->n = n;
	for (uint32_t i = 0; i < n; i++)
		if (read_entry(c, &r->entries[i]))
			return -EINVAL;
	return 0;
}

/* Reads an optional string field: a str, or nil (absent). */
static int read_id(struct mp_cur *c, struct maru_req *r)
{
	if (mp_read_nil(c)) {
		r->has_instance = false;
		return 0;
	}
	if (mp_read_str(c, &r->instance_id, &r->instance_len) || r->instance_len > MARU_ID_MAX)
		return -EINVAL;
	r->has_instance = true;
	return 0;
}

/* Which fields each type needs. */
static uint32_t required(uint8_t type)
{
	switch (type) {
	case MARU_REQUEST_ALLOC: return F_INSTANCE | F_SIZE;
	case MARU_RETURN_ALLOC: return F_INSTANCE | F_REGION;
	case MARU_REGISTER_KV: return F_KEY | F_REGION | F_OFFSET | F_LENGTH;
	case MARU_LOOKUP_KV: case MARU_EXISTS_KV: case MARU_DELETE_KV:
	case MARU_PIN_KV: case MARU_UNPIN_KV:
		return F_KEY;
	case MARU_BATCH_REGISTER_KV: return F_ENTRIES;
	case MARU_BATCH_LOOKUP_KV: case MARU_BATCH_EXISTS_KV:
	case MARU_BATCH_PIN_KV: case MARU_BATCH_UNPIN_KV:
		return F_KEYS;
	default:
		return 0;
	}
}

static int decode_payload(struct mp_cur *c, struct maru_req *r, const char **why)
{
	uint32_t n, len, have = 0, need = required(r->hdr.type);
	const char *name;
	int ret;

	if (mp_read_map(c, &n)) {
		*why = "payload is not a map";
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (mp_read_str(c, &name, &len)) {
			*why = "map key is not a string";
			return -EINVAL;
		}
		ret = 0;
		if (name_is(name, len, "instance_id") || name_is(name, len, "exclude_instance_id")) {
			ret = read_id(c, r);
			if (r->has_instance)
				have |= F_INSTANCE;
		} else if (name_is(name, len, "size")) {
			ret = mp_read_u64(c, &r->size);
			have |= F_SIZE;
		} else if (name_is(name, len, "pool_id")) {
			if (!mp_read_nil(c))
				ret = mp_read_u64(c, &r->pool_id);
		} else if (name_is(name, len, "region_id")) {
			ret = mp_read_u64(c, &r->region_id);
			r->kv.region_id = r->region_id;
			have |= F_REGION;
		} else if (name_is(name, len, "kv_offset") && (need & F_OFFSET)) {
			ret = mp_read_u64(c, &r->kv.kv_offset);
			have |= F_OFFSET;
		} else if (name_is(name, len, "kv_length") && (need & F_LENGTH)) {
			ret = mp_read_u64(c, &r->kv.kv_length);
			have |= F_LENGTH;
		} else if (name_is(name, len, "key") && (need & F_KEY)) {
			ret = read_key(c, &r->kv.key);
			have |= F_KEY;
		} else if (name_is(name, len, "keys") && (need & F_KEYS)) {
			ret = read_keys(c, r);
			have |= F_KEYS;
		} else if (name_is(name, len, "entries") && (need & F_ENTRIES)) {
			ret = read_entries(c, r);
			have |= F_ENTRIES;
		} else {
			ret = mp_skip(c);
		}
		if (ret) {
			*why = ret == -ENOMEM ? "out of memory" : "field of the wrong type";
			return ret;
		}
	}
	if ((have & need) != need) {
		*why = "required field missing";
		return -EINVAL;
	}
	if (mp_left(c)) {
		*why = "trailing bytes after the payload map";
		return -EINVAL;
	}
	return 0;
}

int maru_req_decode(const uint8_t *buf, size_t len, size_t max_payload, struct maru_req *r,
		    const char **why)
{
	struct mp_cur c;

	memset(r, 0, sizeof(*r));
	r->pool_id = 0xFFFFFFFFu;
	*why = "";
	if (maru_hdr_decode(buf, len, &r->hdr)) {
		*why = len < MARU_HDR_SIZE ? "truncated header" : "bad magic or version";
		return -EBADMSG;
	}
	if (r->hdr.len > max_payload) {
		*why = "payload too large";
		return -EMSGSIZE;
	}
	if (len - MARU_HDR_SIZE < r->hdr.len) {
		*why = "payload truncated";
		return -EBADMSG;
	}
	if (!maru_type_known(r->hdr.type)) {
		*why = "unknown message type";
		return -EPROTO;
	}
	mp_init(&c, buf + MARU_HDR_SIZE, r->hdr.len);
	return decode_payload(&c, r, why);
}

void maru_req_release(struct maru_req *r)
{
	mem_free(r->keys);
	mem_free(r->entries);
	r->keys = NULL;
	r->entries = NULL;
	r->n = 0;
}

void maru_resp_begin(msgpack_sbuffer *sb, msgpack_packer *pk)
{
	static const char zero[MARU_HDR_SIZE];

	msgpack_sbuffer_clear(sb);
	msgpack_sbuffer_write(sb, zero, sizeof(zero));
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
}

int maru_sbuffer_reserve(msgpack_sbuffer *sb, size_t more)
{
	size_t need = sb->size + more, nsize;
	char *d;

	if (need <= sb->alloc)
		return 0;
	nsize = sb->alloc ? sb->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
	while (nsize < need)
		nsize *= 2;
	/* msgpack_sbuffer_destroy() frees with free(): realloc(), not mem_* */
	d = realloc(sb->data, nsize);
	if (!d)
		return -ENOMEM;
	sb->data = d;
	sb->alloc = nsize;
	return 0;
}

void maru_resp_end(msgpack_sbuffer *sb, const struct maru_hdr *req)
{
	struct maru_hdr h = {
		.magic = MARU_MAGIC,
		.version = MARU_VERSION,
		.type = maru_resp_type(req->type),
		.flags = req->flags,
		.seq = req->seq,
		.len = (uint32_t)(sb->size - MARU_HDR_SIZE),
	};

	maru_hdr_encode((uint8_t *)sb->data, &h);
}

void maru_pack_error(msgpack_packer *pk, const char *msg)
{
	msgpack_pack_map(pk, 2);
	maru_pack_cstr(pk, "error");
	maru_pack_cstr(pk, msg);
	maru_pack_cstr(pk, "success");
	msgpack_pack_false(pk);
}

void maru_pack_handle(msgpack_packer *pk, uint64_t region_id, uint64_t offset,
		      uint64_t length, uint64_t token)
{
	msgpack_pack_map(pk, 4);
	maru_pack_cstr(pk, "region_id");
	msgpack_pack_uint64(pk, region_id);
	maru_pack_cstr(pk, "offset");
	msgpack_pack_uint64(pk, offset);
	maru_pack_cstr(pk, "length");
	msgpack_pack_uint64(pk, length);
	maru_pack_cstr(pk, "auth_token");
	msgpack_pack_uint64(pk, token);
}

void maru_pack_found_head(msgpack_packer *pk, uint64_t region_id, uint64_t offset,
			  uint64_t length, uint64_t token)
{
	msgpack_pack_map(pk, 4);
	maru_pack_cstr(pk, "found");
	msgpack_pack_true(pk);
	maru_pack_cstr(pk, "handle");
	maru_pack_handle(pk, region_id, offset, length, token);
}
