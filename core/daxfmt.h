/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/daxfmt.h - the on-device format of a DAX partition: a superblock, a
 * table of slot headers, then the slots.  It is what makes restart recovery
 * possible: reopening the same partition with the same namespace and slot
 * size rebuilds the index from the headers, and a slot torn by a crash at any
 * point is recognised and discarded, never served.
 *
 *   [superblock, 4 KiB][slot headers, nslots x 64 B, padded][slots, aligned]
 *
 * A slot header: magic, version, state (FREE, WRITING, VALID), generation,
 * key, length, XXH3-64 of the payload, and an XXH3-64 of the header itself,
 * so a header torn mid-write is detected too.  Write protocol, each step
 * persisted before the next: header WRITING (new generation) -> payload ->
 * header VALID with the payload checksum.  Freeing writes FREE.
 *
 * Threads: daxfmt_attach() and daxfmt_scan() the owner, before any writer
 * runs; the per-slot writers may run on any thread, one writer per slot at
 * a time (the slot allocator guarantees it).
 */
#ifndef KVT_CORE_DAXFMT_H
#define KVT_CORE_DAXFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvtier.h"

#define DAXFMT_SUPERBLOCK_BYTES 4096u
#define DAXFMT_HEADER_BYTES 64u

struct daxfmt_geometry {
	uint64_t region_bytes;  /* the partition */
	uint64_t slot_bytes;    /* one full chunk, rounded up to 64 */
	uint32_t nslots;
	uint64_t headers_off;   /* = DAXFMT_SUPERBLOCK_BYTES */
	uint64_t data_off;      /* first slot; a multiple of @align and of 4096 */
};

/* persist(arg, addr, len): make the bytes durable (daxdev_persist). */
typedef void (*daxfmt_persist_fn)(void *arg, const void *addr, size_t len);

struct daxfmt {
	void *base;                 /* the mapped partition */
	struct daxfmt_geometry g;
	daxfmt_persist_fn persist;
	void *persist_arg;
};

struct daxfmt_scan_stats {
	uint32_t recovered;         /* VALID slots whose checksums hold */
	uint32_t torn;              /* WRITING, bad header or payload checksum: discarded */
	uint32_t free;
};

/*
 * daxfmt_layout() - how many slots of @slot_bytes fit @region_bytes after
 * the superblock and header table, with the data start aligned to @align.
 * Return: 0, or -ENOSPC when not even one slot fits; -EINVAL for a slot
 * size of 0 or above 4 GiB, or an @align that is not a power of two.
 */
int daxfmt_layout(uint64_t region_bytes, uint64_t slot_bytes, uint64_t align,
		  struct daxfmt_geometry *g);

/* What a region holds, as daxfmt_look() sees it. */
enum daxfmt_found {
	DAXFMT_FOUND_KVTIER,		/* a superblock whose checksum holds, that fits */
	DAXFMT_FOUND_INTERRUPTED,	/* kvtier's magic, checksum fails: a format cut short */
	DAXFMT_FOUND_ZERO,		/* no superblock; all zeros where sampled */
	DAXFMT_FOUND_FOREIGN,		/* no superblock, and not all zeros: someone's data */
	DAXFMT_FOUND_TRUNCATED,		/* a superblock recording more bytes than there are */
};

#define DAXFMT_FIRST_BYTES 16u
#define DAXFMT_SAMPLE_STRIDE (1ull << 20)

struct daxfmt_look {
	enum daxfmt_found found;
	uint64_t avail;			/* the bytes looked at */
	uint64_t extent;		/* the bytes there are (at least @avail) */
	uint64_t recorded_bytes;	/* KVTIER, TRUNCATED: the region the superblock records */
	uint64_t nonzero_off;		/* FOREIGN: the first nonzero byte the sampling met */
	uint32_t nfirst;		/* bytes in @first: min(@avail, DAXFMT_FIRST_BYTES) */
	uint8_t first[DAXFMT_FIRST_BYTES];	/* the region's first bytes */
};

/*
 * daxfmt_zero_sampled() - whether @len bytes at @base read as zero where
 * sampled: the first and the last 4 KiB entirely, and one 8-byte word at
 * every multiple of DAXFMT_SAMPLE_STRIDE between (4096 words for 4 GiB).
 * @nonzero_off: receives the offset of the first nonzero byte met; may be NULL.
 * Reads only [@base, @base + @len).  Threads: any.  Blocks: page faults.
 */
bool daxfmt_zero_sampled(const void *base, uint64_t len, uint64_t *nonzero_off);

/*
 * daxfmt_look() - what the first @avail bytes of a region hold (the region
 * may be longer: a file shorter than the region is looked at up to its
 * end), reading nothing past them and writing nothing.  @extent: how many
 * bytes the device has from @base on, perhaps more than @avail were mapped
 * (at least @avail is assumed); a superblock recording more is TRUNCATED.  kvtier formats a
 * region only when it is KVTIER, INTERRUPTED or ZERO, unless told to
 * (dax.reinit).
 * Threads: any.  Blocks: page faults.  Allocates: nothing.
 */
void daxfmt_look(const void *base, uint64_t avail, uint64_t extent, struct daxfmt_look *l);

/*
 * daxfmt_describe() - a sentence for what daxfmt_look() found, to follow
 * the region's name: "holds data that is not kvtier's (first bytes 49 4d
 * ...; not all zeros: a nonzero byte at offset 0)", "is 5242880 bytes,
 * shorter than the 10485760-byte region its kvtier superblock records
 * (truncated?)", "is all zeros where sampled", ...
 */
void daxfmt_describe(const struct daxfmt_look *l, char *buf, size_t len);

/*
 * daxfmt_precheck() - may a region of which @avail bytes are mapped, and
 * @extent exist, be attached (see daxfmt_look())?  Reads @base, or with
 * @fd >= 0 the file @fd from offset @fd_off through pread() (a hole reads
 * as zeros without a page being allocated for it).
 * Return: 0 when daxfmt_look() finds KVTIER, INTERRUPTED or ZERO; -EEXIST
 *         FOREIGN; -ENOSPC TRUNCATED; @err then says what was found.
 *         @l (may be NULL) receives what daxfmt_look() found either way.
 */
int daxfmt_precheck(const void *base, int fd, uint64_t fd_off, uint64_t avail, uint64_t extent,
		    struct daxfmt_look *l, char *err, size_t errlen);

/*
 * daxfmt_attach() - check or write the superblock.
 * A region that is all zeros where sampled (daxfmt_zero_sampled()), or
 * whose superblock has kvtier's magic but fails its checksum (a format cut
 * short), is formatted: superblock written, every header FREE.  A region
 * holding anything else without kvtier's magic is refused (-EEXIST, @err
 * shows its first bytes) unless @reinit.  A region formatted with another
 * namespace, slot size or slot count is refused (-EEXIST, @err says which
 * field) unless @reinit, which reformats it.  An unknown version is -EPROTO
 * (or reformat with @reinit).
 * @formatted: set true when the region was (re)formatted (nothing to recover).
 */
int daxfmt_attach(struct daxfmt *f, void *base, const struct daxfmt_geometry *g,
		  const struct kvt_key *ns, bool reinit, daxfmt_persist_fn persist,
		  void *persist_arg, bool *formatted, char *err, size_t errlen);

/*
 * daxfmt_attach_checked() - daxfmt_attach() of a region daxfmt_precheck()
 * has just passed (0): the zeros are not sampled again through the mapping
 * (on a tmpfs file that allocates a page per word read).
 */
int daxfmt_attach_checked(struct daxfmt *f, void *base, const struct daxfmt_geometry *g,
			  const struct kvt_key *ns, bool reinit, daxfmt_persist_fn persist,
			  void *persist_arg, bool *formatted, char *err, size_t errlen);

/*
 * daxfmt_probe() - read the superblock of a region without knowing its
 * geometry, as a tool does: for `kvtier inspect`, or to find where the next
 * rank's partition starts.  Reads only the first DAXFMT_SUPERBLOCK_BYTES of
 * @base (nothing when @len is smaller) and writes nothing to it.
 * @base:    the mapped region, at least @len bytes readable; borrowed for
 *           the call.
 * @len:     bytes available at @base; the recorded region must fit in them.
 * @g:       receives the recorded geometry on success; then every header and
 *           slot lies inside [@base, @base + @len), so a struct daxfmt built
 *           from @base and @g may be passed to daxfmt_inspect().
 * @ns:      receives the namespace key on success.
 * @version: receives the format version on success and on -EPROTO.
 * @err:     receives the reason on error, naming the field and its value,
 *           written to follow the region's name ("not formatted by kvtier
 *           (magic 0x...)"); "" on success.
 * @errlen:  size of @err; 0 for no message.
 *
 * Threads: any, also while an owner formats or writes the region: a
 * superblock caught mid-format fails its checksum (-ENODATA).
 * Blocks: never.  Allocates: nothing.
 * Return: 0; -ENODATA not formatted by kvtier (no magic, a superblock
 *         checksum that fails, or @len below one superblock); -EPROTO an
 *         unknown format version; -EINVAL the recorded geometry does not
 *         fit @len or is inconsistent.  On error @g and @ns are untouched.
 */
int daxfmt_probe(const void *base, uint64_t len, struct daxfmt_geometry *g,
		 struct kvt_key *ns, uint32_t *version, char *err, size_t errlen);

/*
 * daxfmt_scan() - walk every header; call @found for each VALID slot whose
 * header and payload checksums hold; reset torn slots to FREE (persisted)
 * and count them.  @found may be NULL (inspection without changes is
 * daxfmt_inspect()).
 */
void daxfmt_scan(struct daxfmt *f,
		 void (*found)(void *arg, uint32_t slot, const struct kvt_key *key,
			       uint32_t len, uint64_t gen),
		 void *arg, struct daxfmt_scan_stats *st);

/*
 * daxfmt_scan_range() - daxfmt_scan() of slots [@first, @end) alone, with
 * no closing log line.  Threads: several may scan disjoint ranges of one
 * format at once (a slot's header is written only by the range that holds
 * it), before any writer runs.
 */
void daxfmt_scan_range(struct daxfmt *f, uint32_t first, uint32_t end,
		       void (*found)(void *arg, uint32_t slot, const struct kvt_key *key,
				     uint32_t len, uint64_t gen),
		       void *arg, struct daxfmt_scan_stats *st);

/* daxfmt_inspect() - like scan, read-only: counts without repairing. */
void daxfmt_inspect(const struct daxfmt *f,
		    void (*found)(void *arg, uint32_t slot, const struct kvt_key *key,
				  uint32_t len, uint64_t gen, bool valid),
		    void *arg, struct daxfmt_scan_stats *st);

static inline void *daxfmt_slot(const struct daxfmt *f, uint32_t slot)
{
	return (char *)f->base + f->g.data_off + (uint64_t)slot * f->g.slot_bytes;
}

/* Write protocol, one writer per slot at a time: */
void daxfmt_begin_write(struct daxfmt *f, uint32_t slot, uint64_t gen);
/* Checksums the payload already in the slot, then marks it VALID. */
void daxfmt_commit(struct daxfmt *f, uint32_t slot, const struct kvt_key *key, uint32_t len,
		   uint64_t gen);
void daxfmt_free(struct daxfmt *f, uint32_t slot);

#endif /* KVT_CORE_DAXFMT_H */
