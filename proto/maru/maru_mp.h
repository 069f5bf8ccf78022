/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/maru_mp.h - a bounded MessagePack reader for untrusted input.
 *
 * A cursor over a caller's buffer: every read checks the bytes left, no read
 * allocates, strings and binaries are returned as pointers into the buffer,
 * and skipping nests at most MP_MAX_DEPTH deep.  msgpack-c's unpacker is not
 * used for input because it allocates element arrays from the header's count
 * before it has seen the elements (a 5-byte message could ask for 64 GiB).
 *
 * Threads: any; a cursor has one user.
 */
#ifndef KVT_PROTO_MARU_MARU_MP_H
#define KVT_PROTO_MARU_MARU_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MP_MAX_DEPTH 16

enum mp_type {
	MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY, MP_MAP, MP_EXT,
	MP_BAD,
};

struct mp_cur {
	const uint8_t *p;
	const uint8_t *end;
};

static inline void mp_init(struct mp_cur *c, const void *buf, size_t len)
{
	c->p = buf;
	c->end = c->p + len;
}

static inline size_t mp_left(const struct mp_cur *c)
{
	return (size_t)(c->end - c->p);
}

/* Type of the next value without consuming it; MP_BAD at the end or on a
 * reserved byte (0xc1). */
enum mp_type mp_peek(const struct mp_cur *c);

/*
 * Readers: each consumes one value of its type and returns 0, or returns
 * -EINVAL (wrong type, truncated, out of range) and leaves the cursor alone.
 * mp_read_map()/mp_read_array() return the element count, which is at most
 * the bytes left (every element takes at least one byte).
 */
int mp_read_map(struct mp_cur *c, uint32_t *n);
int mp_read_array(struct mp_cur *c, uint32_t *n);
int mp_read_str(struct mp_cur *c, const char **s, uint32_t *len);
int mp_read_bool(struct mp_cur *c, bool *v);
/* Non-negative integers only (a uint, or an int that is >= 0). */
int mp_read_u64(struct mp_cur *c, uint64_t *v);
/* Any integer in int64_t range. */
int mp_read_i64(struct mp_cur *c, int64_t *v);
bool mp_read_nil(struct mp_cur *c);
/* Skips one whole value, nested at most MP_MAX_DEPTH deep. */
int mp_skip(struct mp_cur *c);
/* Moves @c, at a map, to the value of its member @name (a str key).
 * Return: 0, or -1 (no such member, not a map, malformed): @c unmoved. */
int mp_map_member(struct mp_cur *c, const char *name);

#endif /* KVT_PROTO_MARU_MARU_MP_H */
