/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: kvtier-poold's wire decoders (proto/maru/maru_rpc.c, maru_rm.c,
 * maru_mp.c) on good frames, a table of malformed ones, and a deterministic
 * mutation run (truncations, bit flips, random bytes) that must never crash,
 * read out of bounds (ASan) or leak.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "proto/maru/maru_mp.h"
#include "proto/maru/maru_rm.h"
#include "proto/maru/maru_rpc.h"
#include "proto/maru/maru_token.h"
#include "tests/common/harness.h"

/* Builds a frame around @payload into @out.  Return: its length. */
static size_t frame(uint8_t *out, uint8_t type, uint32_t seq, const void *payload, size_t n)
{
	struct maru_hdr h = { MARU_MAGIC, MARU_VERSION, type, 0x05, seq, (uint32_t)n };

	maru_hdr_encode(out, &h);
	memcpy(out + MARU_HDR_SIZE, payload, n);
	return MARU_HDR_SIZE + n;
}

static size_t pack_register(uint8_t *out, const char *key, uint64_t rid)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	maru_pack_cstr(&pk, "key");
	maru_pack_cstr(&pk, key);
	maru_pack_cstr(&pk, "region_id");
	msgpack_pack_uint64(&pk, rid);
	maru_pack_cstr(&pk, "kv_offset");
	msgpack_pack_uint64(&pk, 4096);
	maru_pack_cstr(&pk, "kv_length");
	msgpack_pack_uint64(&pk, 100);
	n = frame(out, MARU_REGISTER_KV, 42, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return n;
}

TEST(register_decodes)
{
	uint8_t buf[256];
	struct maru_req r;
	const char *why;
	size_t n = pack_register(buf, "chunk-1", 7);

	CHECK_EQ(maru_req_decode(buf, n, 1 << 20, &r, &why), 0);
	CHECK_EQ(r.hdr.seq, 42);
	CHECK_EQ(r.hdr.flags, 0x05);
	CHECK_EQ(r.kv.region_id, 7);
	CHECK_EQ(r.kv.kv_offset, 4096);
	CHECK_EQ(r.kv.kv_length, 100);
	CHECK_EQ(r.kv.key.kind, 's');
	CHECK_EQ(r.kv.key.len, 7);
	CHECK(!memcmp(maru_key_bytes(&r.kv.key), "chunk-1", 7));
	maru_req_release(&r);
}

TEST(batch_keys_int_and_str)
{
	/* {"keys": [5, "5", -1, 2^64-1]} */
	static const uint8_t p[] = { 0x81, 0xa4, 'k', 'e', 'y', 's', 0x94, 0x05, 0xa1, '5', 0xff,
				     0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t buf[64];
	struct maru_req r;
	const char *why;
	size_t n = frame(buf, MARU_BATCH_PIN_KV, 1, p, sizeof(p));

	CHECK_EQ(maru_req_decode(buf, n, 1 << 20, &r, &why), 0);
	CHECK_EQ(r.n, 4);
	CHECK_EQ(r.keys[0].kind, 'i');
	CHECK_EQ(r.keys[1].kind, 's');
	CHECK_EQ(r.keys[2].kind, 'i');
	CHECK_EQ(r.keys[3].kind, 'u');
	CHECK_EQ(maru_key_bytes(&r.keys[0])[7], 5);
	CHECK_EQ(maru_key_bytes(&r.keys[2])[0], 0xff);
	maru_req_release(&r);
}

TEST(malformed_frames_table)
{
	static const struct {
		uint8_t type;
		const char *payload;
		size_t n;
		int expect;
	} rows[] = {
		{ MARU_LOOKUP_KV, "\x01", 1, -EINVAL },                 /* not a map */
		{ MARU_LOOKUP_KV, "\x80", 1, -EINVAL },                 /* key missing */
		{ MARU_LOOKUP_KV, "\x81\xa3key\xc0", 6, -EINVAL },      /* nil key */
		{ MARU_LOOKUP_KV, "\x81\xa3key\x01\x00", 7, -EINVAL },  /* trailing byte */
		{ MARU_LOOKUP_KV, "\x81\x01\x01", 3, -EINVAL },         /* int map key */
		{ MARU_LOOKUP_KV, "\x81\xa3ke", 4, -EINVAL },           /* short str */
		{ MARU_BATCH_EXISTS_KV, "\x81\xa4keys\xdd\xff\xff\xff\xff", 10, -EINVAL },
		{ MARU_BATCH_EXISTS_KV, "\x81\xa4keys\x91\x91\x01", 9, -EINVAL }, /* nested */
		{ MARU_REGISTER_KV, "\x81\xa3key\x01", 6, -EINVAL },    /* fields missing */
		{ MARU_REQUEST_ALLOC, "\x82\xabinstance_id\xa1x\xa4size\xff", 20, -EINVAL },
		{ 0x77, "\x80", 1, -EPROTO },                           /* unknown type */
		{ MARU_HEARTBEAT, "", 0, -EINVAL },                     /* empty payload */
		{ MARU_HEARTBEAT, "\x80", 1, 0 },
		{ MARU_GET_STATS, "\x81\xa1x\x91\x92\x93\x80\x80\x80", 9, -EINVAL }, /* short */
	};
	uint8_t buf[128];
	struct maru_req r;
	const char *why;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = frame(buf, rows[i].type, 3, rows[i].payload, rows[i].n);

		CHECK_ROW(i, maru_req_decode(buf, n, 1 << 20, &r, &why) == rows[i].expect);
		maru_req_release(&r);
	}
	/* header-level: short, magic, truncated payload, oversized */
	CHECK_EQ(maru_req_decode(buf, 10, 1 << 20, &r, &why), -EBADMSG);
	frame(buf, MARU_HEARTBEAT, 1, "\x80", 1);
	buf[0] = 0xbe;
	CHECK_EQ(maru_req_decode(buf, 17, 1 << 20, &r, &why), -EBADMSG);
	frame(buf, MARU_HEARTBEAT, 1, "\x80", 1);
	CHECK_EQ(maru_req_decode(buf, 16, 1 << 20, &r, &why), -EBADMSG);
	CHECK_EQ(maru_req_decode(buf, 17, 0, &r, &why), -EMSGSIZE);
}

TEST(mp_deep_nesting_refused)
{
	uint8_t buf[64];
	struct mp_cur c;

	memset(buf, 0x91, sizeof(buf) - 1); /* 63 nested one-element arrays */
	buf[sizeof(buf) - 1] = 0x00;
	mp_init(&c, buf, sizeof(buf));
	CHECK_EQ(mp_skip(&c), -EINVAL);
	mp_init(&c, buf + sizeof(buf) - 5, 5);
	CHECK_EQ(mp_skip(&c), 0);
}

TEST(mp_map_member_finds_str_keys_only)
{
	/* {1: 7, "ab": [1, 2], "k": 5} */
	static const uint8_t map[] = { 0x83, 0x01, 0x07, 0xa2, 'a', 'b', 0x92, 0x01, 0x02,
				       0xa1, 'k', 0x05 };
	struct mp_cur c;
	uint64_t v;

	mp_init(&c, map, sizeof(map));
	CHECK_EQ(mp_map_member(&c, "k"), 0);
	CHECK_EQ(mp_read_u64(&c, &v), 0);
	CHECK_EQ(v, 5);
	mp_init(&c, map, sizeof(map));
	CHECK_EQ(mp_map_member(&c, "ab"), 0);
	CHECK_EQ(mp_peek(&c), MP_ARRAY);
	mp_init(&c, map, sizeof(map));
	CHECK_EQ(mp_map_member(&c, "a"), -1);
	CHECK(c.p == map);
	mp_init(&c, map, sizeof(map) - 1); /* the last value cut off: "k" is still found */
	CHECK_EQ(mp_map_member(&c, "k"), 0);
	CHECK_EQ(mp_read_u64(&c, &v), -EINVAL);
	mp_init(&c, map + 6, 3);           /* an array is no map */
	CHECK_EQ(mp_map_member(&c, "k"), -1);
}

TEST(response_header_echoes)
{
	struct maru_hdr req = { MARU_MAGIC, 1, MARU_PIN_KV, 0x04, 99, 0 }, got;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	maru_resp_begin(&sb, &pk);
	maru_pack_error(&pk, "x");
	maru_resp_end(&sb, &req);
	CHECK_EQ(maru_hdr_decode((uint8_t *)sb.data, sb.size, &got), 0);
	CHECK_EQ(got.type, 0x94);
	CHECK_EQ(got.seq, 99);
	CHECK_EQ(got.flags, 0x04);
	CHECK_EQ(got.len, sb.size - MARU_HDR_SIZE);
	req.type = MARU_GET_STATS; /* admin codes keep their value */
	maru_resp_end(&sb, &req);
	CHECK_EQ(maru_hdr_decode((uint8_t *)sb.data, sb.size, &got), 0);
	CHECK_EQ(got.type, 0xF0);
	msgpack_sbuffer_destroy(&sb);
}

/* The direct writers give msgpack-c's own bytes: at every width boundary, an
 * answer written into reserved room is the one msgpack_pack_uint64() packs. */
TEST(direct_writers_match_msgpack)
{
	static const uint64_t vals[] = {
		0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffffull,
		0x100000000ull, 0x123456789abcull, UINT64_MAX,
	};
	msgpack_sbuffer sb, want;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_init(&want);
	msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
	msgpack_sbuffer_write(&sb, "h", 1);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t *o;

		msgpack_pack_uint64(&pk, vals[i]);
		CHECK_EQ(maru_sbuffer_reserve(&sb, MARU_UINT_MAX_BYTES), 0);
		CHECK(sb.alloc - sb.size >= MARU_UINT_MAX_BYTES);
		o = (uint8_t *)sb.data + sb.size;
		sb.size = (size_t)(maru_put_uint(o, vals[i]) - (uint8_t *)sb.data);
	}
	CHECK_EQ(sb.size, want.size + 1);
	CHECK(!memcmp(sb.data + 1, want.data, want.size));
	/* a reservation past the first doubling keeps what was written */
	CHECK_EQ(maru_sbuffer_reserve(&sb, 3 * MSGPACK_SBUFFER_INIT_SIZE), 0);
	CHECK(sb.alloc - sb.size >= 3 * MSGPACK_SBUFFER_INIT_SIZE);
	CHECK(sb.data[0] == 'h' && !memcmp(sb.data + 1, want.data, want.size));
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&want);
}

TEST(rm_codec)
{
	uint8_t buf[MARU_RM_HDR_SIZE + MARU_RM_MAX_PAYLOAD];
	struct maru_handle h = { 3, 4 << 20, 2 << 20, 0xabcdef }, z = { 0 };
	struct maru_rm_req r;
	size_t n;

	n = maru_rm_alloc_req(buf, 5 << 20, MARU_RM_ANY_POOL);
	CHECK_EQ(maru_rm_hdr_decode(buf, n, &r.hdr), 0);
	CHECK_EQ(maru_rm_req_decode(buf + MARU_RM_HDR_SIZE, r.hdr.len, &r), 0);
	CHECK_EQ(r.size, 5 << 20);
	CHECK_EQ(r.pool_id, MARU_RM_ANY_POOL);
	n = maru_rm_handle_req(buf, MARU_RM_GET_FD_REQ, &h);
	CHECK_EQ(maru_rm_hdr_decode(buf, n, &r.hdr), 0);
	CHECK_EQ(maru_rm_req_decode(buf + MARU_RM_HDR_SIZE, r.hdr.len, &r), 0);
	CHECK(!memcmp(&r.handle, &h, sizeof(h)));
	CHECK_EQ(maru_rm_req_decode(buf + MARU_RM_HDR_SIZE, 31, &r), -EINVAL);
	r.hdr.type = MARU_RM_ALLOC_RESP;
	CHECK_EQ(maru_rm_req_decode(buf, 0, &r), -EPROTO);
	/* kvtier's GET_INDEX: a header alone */
	maru_rm_hdr_encode(buf, MARU_RM_GET_INDEX_REQ, 0);
	CHECK_EQ(maru_rm_hdr_decode(buf, MARU_RM_HDR_SIZE, &r.hdr), 0);
	CHECK_EQ(maru_rm_req_decode(buf + MARU_RM_HDR_SIZE, 0, &r), 0);
	maru_rm_hdr_encode(buf, MARU_RM_STATS_REQ, 5000);
	CHECK_EQ(maru_rm_hdr_decode(buf, 12, &r.hdr), -EMSGSIZE);
	CHECK_EQ(maru_rm_hdr_decode(buf, 11, &r.hdr), -EBADMSG);
	n = maru_rm_alloc_resp(buf, 0, &z, 1);
	CHECK_EQ(n, 60);
	n = maru_rm_error_resp(buf, -EACCES, "no");
	CHECK_EQ(n, 22);
}

TEST(tokens_keyed_and_distinct)
{
	struct maru_token_key a, b;

	CHECK_EQ(maru_token_init(&a), 0);
	CHECK_EQ(maru_token_init(&b), 0);
	CHECK(maru_token(&a, 1, 0, 2 << 20, 9) == maru_token(&a, 1, 0, 2 << 20, 9));
	CHECK(maru_token(&a, 1, 0, 2 << 20, 9) != maru_token(&b, 1, 0, 2 << 20, 9));
	CHECK(maru_token(&a, 1, 0, 2 << 20, 9) != maru_token(&a, 2, 0, 2 << 20, 9));
	CHECK(maru_token(&a, 1, 0, 2 << 20, 9) != maru_token(&a, 1, 0, 2 << 20, 10));
	CHECK(maru_token_eq(5, 5) && !maru_token_eq(5, 4));
}

/* xorshift64: deterministic across runs */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

TEST(mutation_run_never_crashes)
{
	static const uint8_t batch[] = { 0x81, 0xa7, 'e', 'n', 't', 'r', 'i', 'e', 's', 0x92,
		0x84, 0xa3, 'k', 'e', 'y', 0xa1, 'a', 0xa9, 'r', 'e', 'g', 'i', 'o', 'n', '_', 'i',
		'd', 0x01, 0xa9, 'k', 'v', '_', 'o', 'f', 'f', 's', 'e', 't', 0x00, 0xa9, 'k', 'v',
		'_', 'l', 'e', 'n', 'g', 't', 'h', 0x10,
		0x84, 0xa3, 'k', 'e', 'y', 0x07, 0xa9, 'r', 'e', 'g', 'i', 'o', 'n', '_', 'i',
		'd', 0x01, 0xa9, 'k', 'v', '_', 'o', 'f', 'f', 's', 'e', 't', 0x00, 0xa9, 'k', 'v',
		'_', 'l', 'e', 'n', 'g', 't', 'h', 0x10 };
	uint8_t seeds[3][256], m[256];
	size_t lens[3];
	uint64_t s = 0x9e3779b97f4a7c15ull;
	int ok = 0;

	lens[0] = frame(seeds[0], MARU_BATCH_REGISTER_KV, 1, batch, sizeof(batch));
	lens[1] = pack_register(seeds[1], "key-under-test", 3);
	lens[2] = frame(seeds[2], MARU_BATCH_LOOKUP_KV, 1, "\x81\xa4keys\x93\xa1x\x05\xcd\x01\x00",
			14);
	for (int i = 0; i < 30000; i++) {
		int seed = i % 3;
		size_t n = lens[seed];
		struct maru_req r;
		struct maru_rm_req rq;
		const char *why;

		memcpy(m, seeds[seed], n);
		switch (rnd(&s) % 4) {
		case 0:
			n = rnd(&s) % (n + 1);
			break;
		case 1:
			for (int k = (int)(rnd(&s) % 4); k >= 0; k--)
				m[rnd(&s) % n] ^= (uint8_t)(1u << (rnd(&s) % 8));
			break;
		case 2:
			n = rnd(&s) % sizeof(m);
			for (size_t k = 0; k < n; k++)
				m[k] = (uint8_t)rnd(&s);
			break;
		default:
			for (int k = (int)(rnd(&s) % 3); k >= 0; k--)
				m[MARU_HDR_SIZE + rnd(&s) % (n - MARU_HDR_SIZE)] = (uint8_t)rnd(&s);
			break;
		}
		ok += maru_req_decode(m, n, 1 << 20, &r, &why) == 0;
		maru_req_release(&r);
		if (maru_rm_hdr_decode(m, n, &rq.hdr) == 0 && n >= MARU_RM_HDR_SIZE)
			(void)maru_rm_req_decode(m + MARU_RM_HDR_SIZE, n - MARU_RM_HDR_SIZE, &rq);
	}
	CHECK(ok > 0); /* some mutations stay valid: the decoder is not refusing everything */
}
