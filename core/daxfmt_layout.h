/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/daxfmt_layout.h - the bytes on a DAX device, as core/daxfmt.c writes
 * them: the superblock and the 64-byte slot header.  Shared with the tests
 * that craft damaged devices, so both always agree on the layout.
 */
#ifndef KVT_CORE_DAXFMT_LAYOUT_H
#define KVT_CORE_DAXFMT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/daxfmt.h"

#define DAXFMT_SB_MAGIC 0x313058414454564bULL	/* "KVTDAX01" read as a LE u64 */
#define DAXFMT_HDR_MAGIC 0x5354564bu		/* "KVTS" read as a LE u32 */
#define DAXFMT_VERSION 1u

enum daxfmt_state {
	DAXFMT_FREE = 1,
	DAXFMT_WRITING = 2,
	DAXFMT_VALID = 3,
};

struct daxfmt_super {
	uint64_t magic;
	uint64_t csum;		/* XXH3-64 of bytes [16, 4096) */
	uint32_t version;
	uint32_t header_bytes;
	uint64_t ns_lo;
	uint64_t ns_hi;
	uint64_t slot_bytes;
	uint32_t nslots;
	uint32_t pad0;
	uint64_t headers_off;
	uint64_t data_off;
	uint64_t region_bytes;
	uint64_t created_ns;	/* CLOCK_REALTIME at format, for tools */
	uint8_t reserved[DAXFMT_SUPERBLOCK_BYTES - 88];
};

_Static_assert(sizeof(struct daxfmt_super) == DAXFMT_SUPERBLOCK_BYTES,
	       "superblock is one 4 KiB block");
_Static_assert(offsetof(struct daxfmt_super, version) == 16,
	       "the superblock checksum covers everything from the version on");

struct daxfmt_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t state;
	uint64_t gen;
	uint64_t key_lo;
	uint64_t key_hi;
	uint32_t len;
	uint32_t pad0;
	uint64_t csum;		/* XXH3-64 of the @len payload bytes */
	uint64_t reserved;
	uint64_t hcsum;		/* XXH3-64 of bytes [0, 56), seeded with the slot */
};

_Static_assert(sizeof(struct daxfmt_hdr) == DAXFMT_HEADER_BYTES, "slot header is 64 bytes");
_Static_assert(offsetof(struct daxfmt_hdr, hcsum) == DAXFMT_HEADER_BYTES - 8,
	       "the header checksum is last and covers every byte before it");

#endif /* KVT_CORE_DAXFMT_LAYOUT_H */
