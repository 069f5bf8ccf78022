/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fschunk.c - see fschunk.h.  The header is built with explicit little
 * endian stores so files move between hosts; no threads, no state.
 */
#include "l2/fschunk.h"
#include "core/hash.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 8,
	OFF_HDR_SIZE = 12,
	OFF_KEY_LO = 16,
	OFF_KEY_HI = 24,
	OFF_LEN = 32,
	OFF_SUM = 40,
	OFF_HDR_SUM = 48,
	HDR_USED = 56,
};

static const char hex[] = "0123456789abcdef";

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static void hex64(char *out, uint64_t v)
{
	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 15];
}

void fschunk_name(const struct kvt_key *key, char out[FSCHUNK_NAME_LEN + 1])
{
	hex64(out, key->lo);
	hex64(out + 16, key->hi);
	memcpy(out + 32, FSCHUNK_SUFFIX, sizeof(FSCHUNK_SUFFIX));
}

unsigned int fschunk_shard(const struct kvt_key *key)
{
	return (unsigned int)(key->lo >> 56);
}

void fschunk_shard_name(unsigned int shard, char out[3])
{
	out[0] = hex[(shard >> 4) & 15];
	out[1] = hex[shard & 15];
	out[2] = '\0';
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool fschunk_parse_name(const char *name, struct kvt_key *key)
{
	uint64_t w[2] = { 0, 0 };

	if (strlen(name) != FSCHUNK_NAME_LEN || strcmp(name + 32, FSCHUNK_SUFFIX))
		return false;
	for (int i = 0; i < 32; i++) {
		int d = unhex(name[i]);

		if (d < 0)
			return false;
		w[i / 16] = w[i / 16] << 4 | (uint64_t)d;
	}
	key->lo = w[0];
	key->hi = w[1];
	return true;
}

uint64_t fschunk_sum(const void *payload, size_t len)
{
	return hash64(payload, len);
}

void fschunk_hdr_encode(void *hdr, const struct kvt_key *key, uint64_t len, uint64_t sum)
{
	uint8_t *p = hdr;

	memset(p, 0, FSCHUNK_HDR);
	put64(p + OFF_MAGIC, FSCHUNK_MAGIC);
	put32(p + OFF_VERSION, FSCHUNK_VERSION);
	put32(p + OFF_HDR_SIZE, FSCHUNK_HDR);
	put64(p + OFF_KEY_LO, key->lo);
	put64(p + OFF_KEY_HI, key->hi);
	put64(p + OFF_LEN, len);
	put64(p + OFF_SUM, sum);
	put64(p + OFF_HDR_SUM, XXH3_64bits(p, FSCHUNK_HDR));
}

int fschunk_hdr_check(const void *hdr, size_t got, const struct kvt_key *key,
		      uint64_t max_len, struct fschunk_info *out)
{
	const uint8_t *p = hdr;
	XXH3_state_t st;
	uint8_t zero[8] = { 0 };

	if (got < FSCHUNK_HDR || get64(p + OFF_MAGIC) != FSCHUNK_MAGIC ||
	    get32(p + OFF_VERSION) != FSCHUNK_VERSION || get32(p + OFF_HDR_SIZE) != FSCHUNK_HDR)
		return -EBADMSG;
	/* hash the block as the writer did, with the hdr_sum field zero */
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, p, OFF_HDR_SUM);
	XXH3_64bits_update(&st, zero, sizeof(zero));
	XXH3_64bits_update(&st, p + HDR_USED, FSCHUNK_HDR - HDR_USED);
	if (XXH3_64bits_digest(&st) != get64(p + OFF_HDR_SUM))
		return -EBADMSG;
	if (get64(p + OFF_KEY_LO) != key->lo || get64(p + OFF_KEY_HI) != key->hi)
		return -EBADMSG;
	out->len = get64(p + OFF_LEN);
	out->sum = get64(p + OFF_SUM);
	return out->len > max_len ? -EMSGSIZE : 0;
}

bool fschunk_payload_ok(const struct fschunk_info *info, const void *payload, size_t got)
{
	return got == info->len && hash64(payload, got) == info->sum;
}
