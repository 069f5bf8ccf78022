/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/payload.c - chunk contents any reader can verify.
 *
 * Version v of key id is: bytes 0..7 the version, bytes 8..15 the key id,
 * then an xorshift64* stream seeded by (id, v), cut to stress_len(id, v)
 * bytes (about one version in four is a partial chunk).  So a reader that
 * knows only which key it asked for can check every byte it got: the
 * header says which version it should be, the version fixes the length and
 * the stream.  A torn write, a slot reused under a reader, a chunk stored
 * under the wrong key or with the wrong length all fail the check.
 *
 * Threads: any; nothing here is shared but the per-key version counters,
 * read atomically.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tools/kvtier-stress/stress.h"

static uint64_t stream_seed(uint64_t id, uint64_t v)
{
	uint64_t x = prng_fmix64(id * 0x9E3779B97F4A7C15ull ^ prng_fmix64(v + 0x632be59bd9b4e019ull));

	return x ? x : 1; /* xorshift must not start at 0 */
}

struct kvt_key stress_key(uint64_t id)
{
	struct kvt_key k = { id * 0x9E3779B97F4A7C15ull, id };

	return k;
}

size_t stress_len(const struct stress *s, uint64_t id, uint64_t v)
{
	uint64_t h = prng_fmix64(prng_fmix64(id) ^ v);

	if (h & 3)
		return s->chunk;
	return PAYLOAD_HDR + (size_t)((h >> 2) % (s->chunk - PAYLOAD_HDR + 1));
}

void payload_fill(const struct stress *s, void *buf, uint64_t id, uint64_t v)
{
	size_t len = stress_len(s, id, v), off;
	unsigned char *p = buf;
	uint64_t x = stream_seed(id, v), word;

	memcpy(p, &v, 8);
	memcpy(p + 8, &id, 8);
	for (off = PAYLOAD_HDR; off + 8 <= len; off += 8) {
		word = prng_next(&x);
		memcpy(p + off, &word, 8);
	}
	if (off < len) {
		word = prng_next(&x);
		memcpy(p + off, &word, len - off);
	}
}

/* Offset of the first byte that differs from version @v, or @len. */
static size_t first_bad_byte(const unsigned char *p, size_t len, uint64_t id, uint64_t v,
			     uint64_t *got, uint64_t *want)
{
	uint64_t x = stream_seed(id, v), word;
	size_t off;

	for (off = PAYLOAD_HDR; off < len; off += 8) {
		size_t n = len - off < 8 ? len - off : 8;
		unsigned char wb[8] = { 0 }, hb[8] = { 0 };

		word = prng_next(&x);
		memcpy(wb, &word, n);	/* fill wrote the first n bytes of word */
		memcpy(hb, p + off, n);
		if (memcmp(wb, hb, 8)) {
			memcpy(got, hb, 8);
			memcpy(want, wb, 8);
			return off;
		}
	}
	return len;
}

static void dump_head(struct stress *s, const unsigned char *p, size_t len)
{
	char hex[3 * 32 + 1];
	size_t n = len < 32 ? len : 32;

	for (size_t i = 0; i < n; i++)
		snprintf(hex + 3 * i, 4, "%02x ", p[i]);
	hex[3 * n] = '\0';
	stress_report(s, "    first bytes: %s", hex);
}

bool payload_check(struct stress *s, const char *what, const void *buf, size_t len,
		   uint64_t id)
{
	const unsigned char *p = buf;
	uint64_t v = 0, hid = 0, max_v, got = 0, want = 0;
	size_t off;

	if (len < PAYLOAD_HDR) {
		atomic_fetch_add_explicit(&s->v->corruptions, 1, memory_order_relaxed);
		stress_report(s, "CORRUPTION %s: key %" PRIu64 ": %zu bytes, shorter than the header",
			      what, id, len);
		return false;
	}
	memcpy(&v, p, 8);
	memcpy(&hid, p + 8, 8);
	/* read after the bytes: the put that wrote version v took it from this
	 * counter before kvtier published the chunk we read */
	max_v = atomic_load_explicit(&s->next_version[id], memory_order_acquire);
	if (hid != id) {
		atomic_fetch_add_explicit(&s->v->corruptions, 1, memory_order_relaxed);
		stress_report(s, "CORRUPTION %s: key %" PRIu64 ": header names key %" PRIu64
			      " (version %" PRIu64 "), %zu bytes", what, id, hid, v, len);
		dump_head(s, p, len);
		return false;
	}
	if (v == 0 || v > max_v) {
		atomic_fetch_add_explicit(&s->v->corruptions, 1, memory_order_relaxed);
		stress_report(s, "CORRUPTION %s: key %" PRIu64 ": version %" PRIu64
			      " never written (last handed out %" PRIu64 ")", what, id, v, max_v);
		dump_head(s, p, len);
		return false;
	}
	if (len != stress_len(s, id, v)) {
		atomic_fetch_add_explicit(&s->v->corruptions, 1, memory_order_relaxed);
		stress_report(s, "CORRUPTION %s: key %" PRIu64 " version %" PRIu64
			      ": %zu bytes, that version has %zu", what, id, v, len,
			      stress_len(s, id, v));
		return false;
	}
	off = first_bad_byte(p, len, id, v, &got, &want);
	if (off < len) {
		atomic_fetch_add_explicit(&s->v->corruptions, 1, memory_order_relaxed);
		stress_report(s, "CORRUPTION %s: key %" PRIu64 " version %" PRIu64
			      " (%zu bytes): bytes at offset %zu are %016" PRIx64
			      ", expected %016" PRIx64, what, id, v, len, off, got, want);
		return false;
	}
	return true;
}
