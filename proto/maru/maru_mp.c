/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_mp.c - bounded MessagePack reader (see maru_mp.h).
 *
 * Every function reads through a local copy of the cursor and commits it
 * only on success, so a failed read leaves the cursor where it was.
 */
#include "proto/maru/maru_mp.h"

#include <errno.h>
#include <string.h>

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

enum mp_type mp_peek(const struct mp_cur *c)
{
	uint8_t b;

	if (c->p >= c->end)
		return MP_BAD;
	b = *c->p;
	if (b <= 0x7f || b == 0xcc || b == 0xcd || b == 0xce || b == 0xcf)
		return MP_UINT;
	if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3))
		return MP_INT;
	if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf)
		return MP_MAP;
	if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd)
		return MP_ARRAY;
	if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb)
		return MP_STR;
	switch (b) {
	case 0xc0: return MP_NIL;
	case 0xc2: case 0xc3: return MP_BOOL;
	case 0xc4: case 0xc5: case 0xc6: return MP_BIN;
	case 0xca: case 0xcb: return MP_FLOAT;
	case 0xc7: case 0xc8: case 0xc9:
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return MP_EXT;
	default: return MP_BAD;
	}
}

/* Reads a container header: fix form in @fixmask/@fixtag, 16- and 32-bit forms. */
static int read_count(struct mp_cur *c, uint8_t fixmask, uint8_t fixtag, uint8_t t16,
		      uint8_t t32, uint32_t *n)
{
	const uint8_t *p = c->p;
	uint64_t v;

	if (p >= c->end)
		return -EINVAL;
	if ((*p & fixmask) == fixtag) {
		v = *p & (uint8_t)~fixmask;
		p++;
	} else if (*p == t16 && c->end - p >= 3) {
		v = be(p + 1, 2);
		p += 3;
	} else if (*p == t32 && c->end - p >= 5) {
		v = be(p + 1, 4);
		p += 5;
	} else {
		return -EINVAL;
	}
	if (v > (uint64_t)(c->end - p))
		return -EINVAL;
	*n = (uint32_t)v;
	c->p = p;
	return 0;
}

int mp_read_map(struct mp_cur *c, uint32_t *n)
{
	return read_count(c, 0xf0, 0x80, 0xde, 0xdf, n);
}

int mp_read_array(struct mp_cur *c, uint32_t *n)
{
	return read_count(c, 0xf0, 0x90, 0xdc, 0xdd, n);
}

int mp_read_str(struct mp_cur *c, const char **s, uint32_t *len)
{
	const uint8_t *p = c->p;
	uint64_t v;

	if (p >= c->end)
		return -EINVAL;
	if ((*p & 0xe0) == 0xa0) {
		v = *p & 0x1f;
		p++;
	} else if (*p == 0xd9 && c->end - p >= 2) {
		v = p[1];
		p += 2;
	} else if (*p == 0xda && c->end - p >= 3) {
		v = be(p + 1, 2);
		p += 3;
	} else if (*p == 0xdb && c->end - p >= 5) {
		v = be(p + 1, 4);
		p += 5;
	} else {
		return -EINVAL;
	}
	if (v > (uint64_t)(c->end - p))
		return -EINVAL;
	*s = (const char *)p;
	*len = (uint32_t)v;
	c->p = p + v;
	return 0;
}

int mp_read_bool(struct mp_cur *c, bool *v)
{
	if (c->p >= c->end || (*c->p != 0xc2 && *c->p != 0xc3))
		return -EINVAL;
	*v = *c->p == 0xc3;
	c->p++;
	return 0;
}

bool mp_read_nil(struct mp_cur *c)
{
	if (c->p >= c->end || *c->p != 0xc0)
		return false;
	c->p++;
	return true;
}

int mp_read_i64(struct mp_cur *c, int64_t *v)
{
	const uint8_t *p = c->p;
	size_t left = mp_left(c);
	uint64_t u;
	int n;

	if (!left)
		return -EINVAL;
	if (*p <= 0x7f || *p >= 0xe0) {
		*v = (int8_t)*p;
		c->p++;
		return 0;
	}
	switch (*p) {
	case 0xcc: case 0xd0: n = 1; break;
	case 0xcd: case 0xd1: n = 2; break;
	case 0xce: case 0xd2: n = 4; break;
	case 0xcf: case 0xd3: n = 8; break;
	default: return -EINVAL;
	}
	if (left < (size_t)n + 1)
		return -EINVAL;
	u = be(p + 1, n);
	if (*p >= 0xd0) {
		/* sign-extend the n-byte two's complement value */
		if (n < 8 && (u >> (8 * n - 1)) & 1)
			u |= ~0ull << (8 * n);
		*v = (int64_t)u;
	} else {
		if (u > INT64_MAX)
			return -EINVAL;
		*v = (int64_t)u;
	}
	c->p = p + 1 + n;
	return 0;
}

int mp_read_u64(struct mp_cur *c, uint64_t *v)
{
	struct mp_cur t = *c;
	int64_t s;

	if (t.p < t.end && *t.p == 0xcf) {
		if (mp_left(&t) < 9)
			return -EINVAL;
		*v = be(t.p + 1, 8);
		c->p += 9;
		return 0;
	}
	if (mp_read_i64(&t, &s) || s < 0)
		return -EINVAL;
	*v = (uint64_t)s;
	*c = t;
	return 0;
}

static int skip_bytes(struct mp_cur *c, const uint8_t *p, uint64_t n)
{
	if (n > (uint64_t)(c->end - p))
		return -EINVAL;
	c->p = p + n;
	return 0;
}

static int skip_depth(struct mp_cur *c, int depth)
{
	struct mp_cur t = *c;
	const uint8_t *p = t.p;
	uint32_t n;
	int64_t i;
	const char *s;
	uint8_t b;

	if (depth > MP_MAX_DEPTH)
		return -EINVAL;
	switch (mp_peek(&t)) {
	case MP_NIL:
	case MP_BOOL:
		t.p++;
		break;
	case MP_UINT:
	case MP_INT:
		if (*p == 0xcf) {
			if (skip_bytes(&t, p + 1, 8))
				return -EINVAL;
		} else if (mp_read_i64(&t, &i)) {
			return -EINVAL;
		}
		break;
	case MP_FLOAT:
		if (skip_bytes(&t, p + 1, *p == 0xca ? 4 : 8))
			return -EINVAL;
		break;
	case MP_STR:
		if (mp_read_str(&t, &s, &n))
			return -EINVAL;
		break;
	case MP_BIN:
		b = *p;
		if (mp_left(&t) < (size_t)(b == 0xc4 ? 2 : b == 0xc5 ? 3 : 5))
			return -EINVAL;
		if (skip_bytes(&t, p + (b == 0xc4 ? 2 : b == 0xc5 ? 3 : 5),
			       be(p + 1, b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4)))
			return -EINVAL;
		break;
	case MP_EXT:
		b = *p;
		if (b >= 0xd4 && b <= 0xd8) {
			if (skip_bytes(&t, p + 2, 1u << (b - 0xd4)))
				return -EINVAL;
		} else {
			int w = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;

			if (mp_left(&t) < (size_t)w + 2 ||
			    skip_bytes(&t, p + 2 + w, be(p + 1, w)))
				return -EINVAL;
		}
		break;
	case MP_ARRAY:
		if (mp_read_array(&t, &n))
			return -EINVAL;
		for (uint32_t k = 0; k < n; k++)
			if (skip_depth(&t, depth + 1))
				return -EINVAL;
		break;
	case MP_MAP:
		if (mp_read_map(&t, &n))
			return -EINVAL;
		for (uint64_t k = 0; k < 2ull * n; k++)
			if (skip_depth(&t, depth + 1))
				return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	*c = t;
	return 0;
}

int mp_skip(struct mp_cur *c)
{
	return skip_depth(c, 0);
}

int mp_map_member(struct mp_cur *c, const char *name)
{
	size_t want = strlen(name);
	struct mp_cur t = *c;
	uint32_t n;

	if (mp_read_map(&t, &n))
		return -1;
	while (n--) {
		const char *s = NULL;
		uint32_t len = 0;

		/* a key that is no str names no member */
		if (mp_read_str(&t, &s, &len) && mp_skip(&t))
			return -1;
		if (s && len == want && !memcmp(s, name, len)) {
			*c = t;
			return 0;
		}
		if (mp_skip(&t))
			return -1;
	}
	return -1;
}
