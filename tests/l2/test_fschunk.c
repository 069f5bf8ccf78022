/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the fs adapter's chunk format (l2/fschunk.c): file names
 * round-trip to keys and foreign names are refused; a header round-trips,
 * and a foreign, other-key, truncated or bit-flipped header, or a payload
 * that is short or has a flipped bit, is reported bad.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "l2/fschunk.h"
#include "tests/common/harness.h"

static const struct kvt_key key = { 0x0123456789abcdefull, 0xfedcba9876543210ull };

TEST(name_round_trip_and_shard)
{
	char name[FSCHUNK_NAME_LEN + 1], shard[3];
	struct kvt_key back;

	fschunk_name(&key, name);
	CHECK(!strcmp(name, "0123456789abcdeffedcba9876543210.kvc"));
	CHECK(fschunk_parse_name(name, &back));
	CHECK(back.lo == key.lo && back.hi == key.hi);
	CHECK_EQ(fschunk_shard(&key), 0x01);
	fschunk_shard_name(fschunk_shard(&key), shard);
	CHECK(!strncmp(shard, name, 2));
	fschunk_shard_name(0xab, shard);
	CHECK(!strcmp(shard, "ab"));
}

TEST(foreign_names_refused)
{
	static const char *const bad[] = {
		"0123456789abcdeffedcba9876543210.tmp",
		"0123456789abcdeffedcba987654321.kvc",
		"0123456789abcdeffedcba98765432100.kvc",
		"0123456789ABCDEFfedcba9876543210.kvc",
		"0123456789abcdeffedcba987654321g.kvc",
		".tmp-1-2-3",
		"",
		"0123456789abcdeffedcba9876543210.kvc.tmp",
	};
	struct kvt_key k;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_ROW(i, !fschunk_parse_name(bad[i], &k));
}

TEST(header_round_trip)
{
	static uint8_t hdr[FSCHUNK_HDR];
	uint8_t payload[1000];
	struct fschunk_info info;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	fschunk_hdr_encode(hdr, &key, sizeof(payload), fschunk_sum(payload, sizeof(payload)));
	CHECK_EQ(fschunk_hdr_check(hdr, FSCHUNK_HDR, &key, 4096, &info), 0);
	CHECK_EQ(info.len, sizeof(payload));
	CHECK(fschunk_payload_ok(&info, payload, sizeof(payload)));
	/* a valid header of a chunk too large for the buffer is not "bad" */
	CHECK_EQ(fschunk_hdr_check(hdr, FSCHUNK_HDR, &key, 999, &info), -EMSGSIZE);
	CHECK_EQ(fschunk_hdr_check(hdr, FSCHUNK_HDR, &key, 1000, &info), 0);
}

TEST(bad_headers_rejected)
{
	static uint8_t hdr[FSCHUNK_HDR], bad[FSCHUNK_HDR];
	struct kvt_key other = { key.lo, key.hi ^ 1 };
	struct fschunk_info info;

	fschunk_hdr_encode(hdr, &key, 10, 42);
	/* wrong key */
	CHECK_EQ(fschunk_hdr_check(hdr, FSCHUNK_HDR, &other, 4096, &info), -EBADMSG);
	/* truncated */
	CHECK_EQ(fschunk_hdr_check(hdr, FSCHUNK_HDR - 1, &key, 4096, &info), -EBADMSG);
	CHECK_EQ(fschunk_hdr_check(hdr, 0, &key, 4096, &info), -EBADMSG);
	/* foreign: zeros, random bytes */
	memset(bad, 0, sizeof(bad));
	CHECK_EQ(fschunk_hdr_check(bad, FSCHUNK_HDR, &key, 4096, &info), -EBADMSG);
	srand(1);
	for (size_t i = 0; i < sizeof(bad); i++)
		bad[i] = (uint8_t)rand();
	CHECK_EQ(fschunk_hdr_check(bad, FSCHUNK_HDR, &key, 4096, &info), -EBADMSG);
	/* every bit flip in the fields, and some in the zero padding */
	for (size_t bit = 0; bit < 8 * 64; bit++) {
		memcpy(bad, hdr, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_ROW(bit, fschunk_hdr_check(bad, FSCHUNK_HDR, &key, 4096, &info) == -EBADMSG);
	}
	for (size_t off = 64; off < FSCHUNK_HDR; off += 331) {
		memcpy(bad, hdr, sizeof(bad));
		bad[off] ^= 0x10;
		CHECK_ROW(off, fschunk_hdr_check(bad, FSCHUNK_HDR, &key, 4096, &info) == -EBADMSG);
	}
}

TEST(bad_payloads_rejected)
{
	uint8_t payload[5000];
	struct fschunk_info info;

	memset(payload, 0x5a, sizeof(payload));
	info.len = sizeof(payload);
	info.sum = fschunk_sum(payload, sizeof(payload));
	CHECK(fschunk_payload_ok(&info, payload, sizeof(payload)));
	CHECK(!fschunk_payload_ok(&info, payload, sizeof(payload) - 1));
	payload[4321] ^= 4;
	CHECK(!fschunk_payload_ok(&info, payload, sizeof(payload)));
}
