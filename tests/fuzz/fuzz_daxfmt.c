/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_daxfmt.c - libFuzzer target for the DAX on-device format
 * (core/daxfmt.c): the input is a device image, in a heap buffer of the
 * image's size rounded up to 4 KiB (at least 16 KiB, at most 1 MiB, zero
 * padded), so ASan catches any read or write past the region.  No device.
 *
 * Input: 4 control bytes, then the image.
 *   [0] bit 0: seal the superblock (write its checksum), so the fuzzer gets
 *         past the checksum to the geometry fields
 *       bit 1: seal every slot header that has the magic (header checksum)
 *       bit 2: before that, give every VALID header with a length that fits
 *         its slot the checksum of its payload
 *       bit 3: dax.reinit
 *   [1] slot size for the open path: (byte + 1) x 64
 *   [2] alignment for the open path: 0, 4096, 8192 or 65536 (mod 4)
 *   [3] unused
 * Two paths, as kvtier runs them:
 *   - kvtier inspect and a reopen with the recorded geometry: daxfmt_probe(),
 *     daxfmt_inspect(), daxfmt_attach() with what probe found (must attach
 *     without formatting), daxfmt_scan() (its counts must be inspect's), a
 *     second scan (nothing torn left);
 *   - kvt_open's (api/dax.c): daxfmt_layout() for the whole buffer,
 *     daxfmt_attach() with the image's namespace, then daxfmt_scan() if it
 *     was not formatted (every slot free if it was).
 * Every persist must lie inside the region and every recovered slot
 * inside the table; a broken promise aborts.
 *
 * Built by configure.py (build/fuzz/fuzz_daxfmt); seeds in
 * tests/fuzz/corpus/daxfmt (tests/fuzz/gen_seeds.c writes them).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "core/daxfmt.h"
#include "core/daxfmt_layout.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMG_MIN (16u << 10)
#define IMG_MAX (1u << 20)

/* The library's logger, silent: nothing is printed per input, but every
 * message is still formatted, so a bad format argument shows. */
void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)level;
}

struct region {
	const uint8_t *base;
	size_t len;
};

static void persist(void *arg, const void *addr, size_t len)
{
	const struct region *r = arg;
	const uint8_t *p = addr;

	if (p < r->base || len > r->len || (size_t)(p - r->base) > r->len - len) {
		fprintf(stderr, "persist of %zu bytes at offset %td, outside the %zu-byte region\n",
			len, p - r->base, r->len);
		abort();
	}
}

struct seen {
	const struct daxfmt_geometry *g;
	uint32_t n;
};

static void found(void *arg, uint32_t slot, const struct kvt_key *key, uint32_t len,
		  uint64_t gen)
{
	struct seen *s = arg;

	if (slot >= s->g->nslots || len > s->g->slot_bytes) {
		fprintf(stderr, "recovered slot %u of %u, length %u of %llu\n", slot,
			s->g->nslots, len, (unsigned long long)s->g->slot_bytes);
		abort();
	}
	s->n++;
}

static void inspected(void *arg, uint32_t slot, const struct kvt_key *key, uint32_t len,
		      uint64_t gen, bool valid)
{
	struct seen *s = arg;

	if (slot >= s->g->nslots || (valid && len > s->g->slot_bytes))
		abort();
}

static void seal_super(uint8_t *img)
{
	struct daxfmt_super sb;

	memcpy(&sb, img, sizeof(sb));
	sb.csum = XXH3_64bits((const char *)&sb + offsetof(struct daxfmt_super, version),
			      sizeof(sb) - offsetof(struct daxfmt_super, version));
	memcpy(img, &sb, sizeof(sb));
}

static void seal_headers(uint8_t *img, const struct daxfmt_geometry *g, bool payloads)
{
	for (uint32_t i = 0; i < g->nslots; i++) {
		uint8_t *at = img + g->headers_off + (uint64_t)i * DAXFMT_HEADER_BYTES;
		struct daxfmt_hdr h;

		memcpy(&h, at, sizeof(h));
		if (h.magic != DAXFMT_HDR_MAGIC)
			continue;
		if (payloads && h.state == DAXFMT_VALID && h.len <= g->slot_bytes)
			h.csum = XXH3_64bits(img + g->data_off + (uint64_t)i * g->slot_bytes, h.len);
		h.hcsum = XXH3_64bits_withSeed(&h, offsetof(struct daxfmt_hdr, hcsum), i);
		memcpy(at, &h, sizeof(h));
	}
}

static void same(const struct daxfmt_scan_stats *a, const struct daxfmt_scan_stats *b,
		 const char *what)
{
	if (a->recovered != b->recovered || a->torn != b->torn || a->free != b->free) {
		fprintf(stderr, "%s: %u/%u/%u recovered/torn/free against %u/%u/%u\n", what,
			a->recovered, a->torn, a->free, b->recovered, b->torn, b->free);
		abort();
	}
}

/* probe, inspect, attach with the recorded geometry, scan twice. */
static void reopen_path(uint8_t *img, size_t len, uint8_t flags)
{
	struct region r = { img, len };
	struct daxfmt_geometry g;
	struct daxfmt_scan_stats si, s1, s2;
	struct daxfmt f;
	struct kvt_key ns;
	struct seen seen = { .g = &g };
	uint32_t version;
	char err[256];
	bool formatted;
	int ret;

	if (daxfmt_probe(img, len, &g, &ns, &version, err, sizeof(err)))
		return;
	if (!g.nslots || g.data_off + (uint64_t)g.nslots * g.slot_bytes > len)
		abort();
	if (flags & 6)
		seal_headers(img, &g, flags & 4);
	f.base = img;
	f.g = g;
	f.persist = NULL;
	daxfmt_inspect(&f, inspected, &seen, &si);
	if (si.recovered + si.torn + si.free != g.nslots)
		abort();
	ret = daxfmt_attach(&f, img, &g, &ns, false, persist, &r, &formatted, err, sizeof(err));
	if (ret || formatted) {
		fprintf(stderr, "a superblock probe accepts does not attach: %d %s\n", ret, err);
		abort();
	}
	daxfmt_scan(&f, found, &seen, &s1);
	same(&s1, &si, "scan after inspect");
	if (seen.n != s1.recovered)
		abort();
	daxfmt_scan(&f, NULL, NULL, &s2);
	if (s2.torn || s2.recovered != s1.recovered || s2.free != s1.free + s1.torn)
		same(&s2, &s1, "second scan");
}

/* kvt_open's: layout for the region, attach with the image's namespace. */
static void open_path(uint8_t *img, size_t len, const uint8_t *ctl)
{
	static const uint64_t aligns[] = { 0, 4096, 8192, 65536 };
	struct region r = { img, len };
	struct daxfmt_geometry g;
	struct daxfmt_scan_stats st;
	struct daxfmt f;
	struct kvt_key ns;
	struct seen seen = { .g = &g };
	char err[256];
	bool formatted;

	if (daxfmt_layout(len, ((uint64_t)ctl[1] + 1) * 64, aligns[ctl[2] % 4], &g))
		return;
	if (!g.nslots || g.data_off % 4096 || g.data_off + (uint64_t)g.nslots * g.slot_bytes > len)
		abort();
	memcpy(&ns.lo, img + offsetof(struct daxfmt_super, ns_lo), 8);
	memcpy(&ns.hi, img + offsetof(struct daxfmt_super, ns_hi), 8);
	if (daxfmt_attach(&f, img, &g, &ns, ctl[0] & 8, persist, &r, &formatted, err,
			  sizeof(err)))
		return;
	daxfmt_scan(&f, found, &seen, &st);
	if (st.recovered + st.torn + st.free != g.nslots || (formatted && st.free != g.nslots))
		same(&st, &(struct daxfmt_scan_stats){ .free = g.nslots }, "scan after attach");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t ctl[4];
	size_t n, len;
	uint8_t *img;

	if (size < sizeof(ctl))
		return 0;
	memcpy(ctl, data, sizeof(ctl));
	data += sizeof(ctl);
	size -= sizeof(ctl);
	n = size < IMG_MAX ? size : IMG_MAX;
	len = (n + 4095) & ~(size_t)4095;
	if (len < IMG_MIN)
		len = IMG_MIN;
	img = malloc(len);
	if (!img)
		abort();
	memcpy(img, data, n);
	memset(img + n, 0, len - n);
	if (ctl[0] & 1)
		seal_super(img);
	reopen_path(img, len, ctl[0]);

	memcpy(img, data, n);
	memset(img + n, 0, len - n);
	if (ctl[0] & 1)
		seal_super(img);
	open_path(img, len, ctl);
	free(img);
	return 0;
}
