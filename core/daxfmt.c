/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/daxfmt.c - the on-device format of a DAX partition (see daxfmt.h).
 *
 * Layout, host byte order (little-endian hosts only, asserted below):
 *
 *   0                4096               data_off (aligned)
 *   [superblock 4 KiB][nslots x 64 B headers][slot 0][slot 1]...
 *
 * Superblock: magic "KVTDAX01" at 0, then at 8 an XXH3-64 of bytes
 * [16, 4096), so the checksum sits where every future version will look for
 * it and covers the version field; then version, namespace key, slot size,
 * slot count, offsets, region size and creation time.  A region without
 * the magic is formatted only when it reads as zeros (sampled: first and
 * last 4 KiB, one word per MiB between), never over someone else's data
 * unless dax.reinit says so; one with the magic but a checksum that fails
 * is a format a crash interrupted, and is formatted again.
 *
 * Slot header, 64 bytes: magic, version, state, generation, key, payload
 * length, XXH3-64 of the payload, reserved, and last an XXH3-64 of the 56
 * bytes before it seeded with the slot number, so every byte is covered and
 * a header copied to the wrong slot does not validate either.  An all-zero
 * header is FREE, which lets formatting clear the table with one memset.
 *
 * Invariants, each step persisted before the next starts:
 *   - formatting first writes a superblock that holds the magic and
 *     nothing else (its checksum fails), then clears the header table, and
 *     writes the whole superblock last: a crash in between leaves a region
 *     that is recognised as kvtier's and formatted again on the next
 *     attach, even though its slots still hold old payloads;
 *   - a write is header WRITING (new generation) -> payload -> header VALID
 *     with the payload checksum.  Once WRITING is written the slot's old
 *     content is gone for good, so a crash before VALID is complete leaves
 *     a slot that is torn, never an old or half-new payload that is served;
 *   - a header store may tear at any granularity (8 bytes on x86); a mix of
 *     two headers fails the header checksum (barring a 2^-64 collision), so
 *     the reader sees the old header, the new one, or a torn slot.
 *
 * Threads: daxfmt_attach() and daxfmt_scan() run on the owner before any
 * writer; daxfmt_probe() and daxfmt_inspect() are read-only; the per-slot
 * writers may run on any thread, one writer per slot at a time.  Nothing
 * here allocates.
 */
#define _GNU_SOURCE
#include "core/daxfmt.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "core/daxfmt_layout.h"
#include "core/hash.h"
#include "core/log.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the DAX format is stored in host order; big-endian hosts need byte swaps");

enum daxfmt_class { CLASS_FREE, CLASS_VALID, CLASS_TORN };

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t data_off_for(uint64_t nslots, uint64_t align)
{
	return align_up(DAXFMT_SUPERBLOCK_BYTES + nslots * DAXFMT_HEADER_BYTES, align);
}

static bool layout_fits(uint64_t n, uint64_t region_bytes, uint64_t slot_bytes, uint64_t align)
{
	uint64_t off = data_off_for(n, align);

	return off <= region_bytes && n <= (region_bytes - off) / slot_bytes;
}

/*
 * daxfmt_layout() - see daxfmt.h.  Also -EINVAL when @slot_bytes is 0 or
 * above 4 GiB (a header's length field is 32 bits), @align is not a power
 * of two, or @region_bytes is above 2^62; @align 0 means 4096.
 */
int daxfmt_layout(uint64_t region_bytes, uint64_t slot_bytes, uint64_t align,
		  struct daxfmt_geometry *g)
{
	uint64_t lo = 0, hi;

	if (!slot_bytes || slot_bytes > UINT32_MAX || (align & (align - 1)))
		return -EINVAL;
	slot_bytes = align_up(slot_bytes, 64);
	if (align < DAXFMT_SUPERBLOCK_BYTES)
		align = DAXFMT_SUPERBLOCK_BYTES;
	if (region_bytes > (UINT64_MAX >> 2))
		return -EINVAL;		/* keeps the offset arithmetic below exact */
	if (region_bytes <= DAXFMT_SUPERBLOCK_BYTES)
		return -ENOSPC;
	/* an upper bound that ignores alignment, then the largest n that fits */
	hi = (region_bytes - DAXFMT_SUPERBLOCK_BYTES) / (slot_bytes + DAXFMT_HEADER_BYTES);
	if (hi > UINT32_MAX)
		hi = UINT32_MAX;
	while (lo < hi) {
		uint64_t mid = hi - (hi - lo) / 2;	/* fits() is monotone in n */

		if (layout_fits(mid, region_bytes, slot_bytes, align))
			lo = mid;
		else
			hi = mid - 1;
	}
	if (!lo)
		return -ENOSPC;
	g->region_bytes = region_bytes;
	g->slot_bytes = slot_bytes;
	g->nslots = (uint32_t)lo;
	g->headers_off = DAXFMT_SUPERBLOCK_BYTES;
	g->data_off = data_off_for(lo, align);
	return 0;
}

/*
 * Makes [addr, addr + len) durable, then fences so that no store of the next
 * protocol step is made before the stores above it, also when @persist is
 * NULL (a kill -9 keeps every store the process made, in program order only
 * if the compiler and CPU kept them in order).  Pairs with the reader in a
 * later daxfmt_scan() or daxfmt_inspect(), in this or another process.
 */
static void fmt_persist(const struct daxfmt *f, const void *addr, size_t len)
{
	if (f->persist && len)
		f->persist(f->persist_arg, addr, len);
	atomic_thread_fence(memory_order_release);
}

static void *hdr_addr(const struct daxfmt *f, uint32_t slot)
{
	return (char *)f->base + f->g.headers_off + (uint64_t)slot * DAXFMT_HEADER_BYTES;
}

static uint64_t hdr_csum(const struct daxfmt_hdr *h, uint32_t slot)
{
	return XXH3_64bits_withSeed(h, offsetof(struct daxfmt_hdr, hcsum), slot);
}

/* Builds the header in a local copy and stores it with one memcpy. */
static void hdr_write(struct daxfmt *f, uint32_t slot, enum daxfmt_state state, uint64_t gen,
		      const struct kvt_key *key, uint32_t len, uint64_t csum)
{
	struct daxfmt_hdr h = {
		.magic = DAXFMT_HDR_MAGIC,
		.version = DAXFMT_VERSION,
		.state = (uint16_t)state,
		.gen = gen,
		.key_lo = key ? key->lo : 0,
		.key_hi = key ? key->hi : 0,
		.len = len,
		.csum = csum,
	};
	void *dst = hdr_addr(f, slot);

	h.hcsum = hdr_csum(&h, slot);
	memcpy(dst, &h, sizeof(h));
	fmt_persist(f, dst, sizeof(h));
}

/* Reads slot @slot's header into @h and says what it holds. */
static enum daxfmt_class hdr_classify(const struct daxfmt *f, uint32_t slot, struct daxfmt_hdr *h)
{
	static const struct daxfmt_hdr zero;

	memcpy(h, hdr_addr(f, slot), sizeof(*h));
	if (!memcmp(h, &zero, sizeof(*h)))
		return CLASS_FREE;
	if (h->magic != DAXFMT_HDR_MAGIC || h->version != DAXFMT_VERSION ||
	    h->hcsum != hdr_csum(h, slot))
		return CLASS_TORN;
	switch (h->state) {
	case DAXFMT_FREE:
		return CLASS_FREE;
	case DAXFMT_VALID:
		/* the length is checked before it is used to read the slot */
		if (h->len > f->g.slot_bytes)
			return CLASS_TORN;
		if (hash64(daxfmt_slot(f, slot), h->len) != h->csum)
			return CLASS_TORN;
		return CLASS_VALID;
	default:	/* WRITING: the crash came before the commit */
		return CLASS_TORN;
	}
}

static uint64_t super_csum(const struct daxfmt_super *sb)
{
	return XXH3_64bits((const char *)sb + offsetof(struct daxfmt_super, version),
			   sizeof(*sb) - offsetof(struct daxfmt_super, version));
}

/*
 * Formats the region: superblock cleared, header table cleared (all FREE),
 * superblock written last.  Slot payloads are left as they are.
 */
static void fmt_format(struct daxfmt *f, const struct kvt_key *ns)
{
	struct daxfmt_super sb;
	struct timespec ts;
	size_t table = (size_t)f->g.nslots * DAXFMT_HEADER_BYTES;

	/* magic, checksum 0, rest 0: "a format in progress", never valid */
	memset(&sb, 0, sizeof(sb));
	sb.magic = DAXFMT_SB_MAGIC;
	assert(super_csum(&sb) != 0);
	memcpy(f->base, &sb, sizeof(sb));
	fmt_persist(f, f->base, DAXFMT_SUPERBLOCK_BYTES);
	memset(hdr_addr(f, 0), 0, table);
	fmt_persist(f, hdr_addr(f, 0), table);

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(&sb, 0, sizeof(sb));
	sb.magic = DAXFMT_SB_MAGIC;
	sb.version = DAXFMT_VERSION;
	sb.header_bytes = DAXFMT_HEADER_BYTES;
	sb.ns_lo = ns->lo;
	sb.ns_hi = ns->hi;
	sb.slot_bytes = f->g.slot_bytes;
	sb.nslots = f->g.nslots;
	sb.headers_off = f->g.headers_off;
	sb.data_off = f->g.data_off;
	sb.region_bytes = f->g.region_bytes;
	sb.created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	sb.csum = super_csum(&sb);
	memcpy(f->base, &sb, sizeof(sb));
	fmt_persist(f, f->base, sizeof(sb));
}

/* Where daxfmt_look() reads: a mapping, or a file through pread() (holes
 * read as zeros without allocating a page, as a fault on a mapping would). */
struct look_src {
	const unsigned char *base;
	int fd;			/* >= 0: read the file from @fd_off instead */
	uint64_t fd_off;
};

/* Copies [off, off + len) of @s to @buf; a short read leaves zeros. */
static void src_read(const struct look_src *s, uint64_t off, void *buf, size_t len)
{
	ssize_t n;
	size_t got = 0;

	if (s->fd < 0) {
		memcpy(buf, s->base + off, len);
		return;
	}
	while (got < len) {
		n = pread(s->fd, (char *)buf + got, len - got, (off_t)(s->fd_off + off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	memset((char *)buf + got, 0, len - got);
}

static bool bytes_zero(const unsigned char *p, uint64_t len, uint64_t *at)
{
	for (uint64_t i = 0; i < len; i++) {
		if (p[i]) {
			*at = i;
			return false;
		}
	}
	return true;
}

static bool src_zero_sampled(const struct look_src *s, uint64_t len, uint64_t *nonzero_off)
{
	unsigned char page[DAXFMT_SUPERBLOCK_BYTES];
	uint64_t head = len < DAXFMT_SUPERBLOCK_BYTES ? len : DAXFMT_SUPERBLOCK_BYTES;
	uint64_t tail = len - head < DAXFMT_SUPERBLOCK_BYTES ? len - head : DAXFMT_SUPERBLOCK_BYTES;
	uint64_t at = 0, w;

	src_read(s, 0, page, head);
	if (!bytes_zero(page, head, &at))
		goto found;
	for (uint64_t off = DAXFMT_SAMPLE_STRIDE; off + 8 <= len - tail;
	     off += DAXFMT_SAMPLE_STRIDE) {
		src_read(s, off, &w, 8);
		if (w && !bytes_zero((const unsigned char *)&w, 8, &at)) {
			at += off;
			goto found;
		}
	}
	src_read(s, len - tail, page, tail);
	if (bytes_zero(page, tail, &at))
		return true;
	at += len - tail;
found:
	if (nonzero_off)
		*nonzero_off = at;
	return false;
}

/* daxfmt_zero_sampled() - see daxfmt.h. */
bool daxfmt_zero_sampled(const void *base, uint64_t len, uint64_t *nonzero_off)
{
	const struct look_src s = { .base = base, .fd = -1 };

	return src_zero_sampled(&s, len, nonzero_off);
}

static void src_look(const struct look_src *s, uint64_t avail, uint64_t extent,
		     struct daxfmt_look *l)
{
	const uint64_t magic = DAXFMT_SB_MAGIC;
	struct daxfmt_super sb;

	memset(l, 0, sizeof(*l));
	l->avail = avail;
	l->extent = extent > avail ? extent : avail;
	l->nfirst = avail < DAXFMT_FIRST_BYTES ? (uint32_t)avail : DAXFMT_FIRST_BYTES;
	src_read(s, 0, l->first, l->nfirst);
	if (avail >= sizeof(magic) && !memcmp(l->first, &magic, sizeof(magic))) {
		if (avail < sizeof(sb)) {
			/* not even the superblock is there */
			l->found = DAXFMT_FOUND_TRUNCATED;
			return;
		}
		src_read(s, 0, &sb, sizeof(sb));
		if (super_csum(&sb) != sb.csum) {
			l->found = DAXFMT_FOUND_INTERRUPTED;
			return;
		}
		l->recorded_bytes = sb.region_bytes;
		l->found = sb.region_bytes > l->extent ? DAXFMT_FOUND_TRUNCATED
						       : DAXFMT_FOUND_KVTIER;
		return;
	}
	l->found = src_zero_sampled(s, avail, &l->nonzero_off) ? DAXFMT_FOUND_ZERO
							       : DAXFMT_FOUND_FOREIGN;
}

/* daxfmt_look() - see daxfmt.h. */
void daxfmt_look(const void *base, uint64_t avail, uint64_t extent, struct daxfmt_look *l)
{
	const struct look_src s = { .base = base, .fd = -1 };

	src_look(&s, avail, extent, l);
}

/* daxfmt_describe() - see daxfmt.h. */
void daxfmt_describe(const struct daxfmt_look *l, char *buf, size_t len)
{
	char hex[3 * DAXFMT_FIRST_BYTES + 8] = "";
	size_t n = 0;

	for (uint32_t i = 0; i < l->nfirst; i++)
		n += (size_t)snprintf(hex + n, sizeof(hex) - n, "%s%02x", i ? " " : "", l->first[i]);
	if (l->avail > l->nfirst)
		snprintf(hex + n, sizeof(hex) - n, " ...");
	switch (l->found) {
	case DAXFMT_FOUND_KVTIER:
		snprintf(buf, len, "holds a kvtier superblock recording a %" PRIu64 "-byte region",
			 l->recorded_bytes);
		break;
	case DAXFMT_FOUND_INTERRUPTED:
		snprintf(buf, len, "holds kvtier's magic but a superblock whose checksum fails"
			 " (a format was interrupted, or the block was overwritten)");
		break;
	case DAXFMT_FOUND_ZERO:
		snprintf(buf, len, "is all zeros where sampled (%" PRIu64 " bytes)", l->avail);
		break;
	case DAXFMT_FOUND_FOREIGN:
		snprintf(buf, len, "holds data that is not kvtier's (first bytes %s; not all zeros:"
			 " a nonzero byte at offset %" PRIu64 ")", hex, l->nonzero_off);
		break;
	case DAXFMT_FOUND_TRUNCATED:
		if (l->recorded_bytes)
			snprintf(buf, len, "is %" PRIu64 " bytes, shorter than the %" PRIu64
				 "-byte region its kvtier superblock records (truncated?)",
				 l->extent, l->recorded_bytes);
		else
			snprintf(buf, len, "is %" PRIu64 " bytes, shorter than the %u-byte kvtier"
				 " superblock its first bytes begin (truncated?)", l->extent,
				 DAXFMT_SUPERBLOCK_BYTES);
		break;
	}
}

/* daxfmt_precheck() - see daxfmt.h. */
int daxfmt_precheck(const void *base, int fd, uint64_t fd_off, uint64_t avail, uint64_t extent,
		    struct daxfmt_look *l, char *err, size_t errlen)
{
	const struct look_src s = { .base = base, .fd = fd, .fd_off = fd_off };
	struct daxfmt_look mine;
	int ret = 0;

	if (!l)
		l = &mine;
	src_look(&s, avail, extent, l);
	if (l->found == DAXFMT_FOUND_FOREIGN)
		ret = -EEXIST;
	else if (l->found == DAXFMT_FOUND_TRUNCATED)
		ret = -ENOSPC;
	if (errlen)
		err[0] = '\0';
	if (ret && errlen)
		daxfmt_describe(l, err, errlen);
	return ret;
}

/*
 * Compares the superblock @sb with this instance.  Return: 0 on a match,
 * else -EEXIST (or -EPROTO for a version) with @why naming the field and
 * both values.
 */
static int super_match(const struct daxfmt_super *sb, const struct daxfmt_geometry *g,
		       const struct kvt_key *ns, char *why, size_t whylen)
{
	if (sb->version != DAXFMT_VERSION) {
		snprintf(why, whylen, "dax device: format version %" PRIu32
			 " on device, %u supported", sb->version, DAXFMT_VERSION);
		return -EPROTO;
	}
	if (sb->slot_bytes != g->slot_bytes) {
		snprintf(why, whylen, "dax device: slot size %" PRIu64 " on device, %" PRIu64
			 " configured", sb->slot_bytes, g->slot_bytes);
		return -EEXIST;
	}
	if (sb->ns_lo != ns->lo || sb->ns_hi != ns->hi) {
		snprintf(why, whylen, "dax device holds namespace 0x%016" PRIx64 "%016" PRIx64
			 " (this instance 0x%016" PRIx64 "%016" PRIx64 ")",
			 sb->ns_hi, sb->ns_lo, ns->hi, ns->lo);
		return -EEXIST;
	}
	if (sb->nslots != g->nslots) {
		snprintf(why, whylen, "dax device: slot count %" PRIu32 " on device, %" PRIu32
			 " configured", sb->nslots, g->nslots);
		return -EEXIST;
	}
	if (sb->headers_off != g->headers_off || sb->data_off != g->data_off) {
		snprintf(why, whylen, "dax device: data offset %" PRIu64 " on device, %" PRIu64
			 " configured", sb->data_off, g->data_off);
		return -EEXIST;
	}
	return 0;
}

/**
 * daxfmt_attach() - check or write the superblock (see daxfmt.h).
 * @f:           filled in on success; zeroed on error.
 * @base:        the mapped partition, at least @g->region_bytes; borrowed
 *               for as long as @f is used.
 * @g:           geometry from daxfmt_layout().
 * @ns:          this instance's namespace key; read during the call.
 * @reinit:      reformat a region that holds another namespace, geometry or
 *               version instead of refusing it.
 * @persist:     makes bytes durable; NULL for none.
 * @persist_arg: passed to @persist.
 * @formatted:   may be NULL; set true when the region was (re)formatted.
 * @err:         receives a message naming the field and both values on
 *               -EEXIST or -EPROTO; "" on success.
 *
 * Threads: the owner, before any writer.  Blocks: on @persist only.
 * Allocates: nothing.
 * Return: 0; -EEXIST another namespace, slot size or slot count on the
 *         device; -EPROTO an unknown format version.  On error the device
 *         is unchanged.
 */
static int attach(struct daxfmt *f, void *base, const struct daxfmt_geometry *g,
		  const struct kvt_key *ns, bool reinit, daxfmt_persist_fn persist,
		  void *persist_arg, bool *formatted, char *err, size_t errlen, bool checked)
{
	struct daxfmt_super sb;
	char why[320];
	uint64_t csum;
	int ret;

	assert(g->nslots && g->headers_off == DAXFMT_SUPERBLOCK_BYTES);
	assert(g->data_off >= g->headers_off + (uint64_t)g->nslots * DAXFMT_HEADER_BYTES);
	assert(g->data_off + (uint64_t)g->nslots * g->slot_bytes <= g->region_bytes);
	if (errlen)
		err[0] = '\0';
	if (formatted)
		*formatted = false;
	f->base = base;
	f->g = *g;
	f->persist = persist;
	f->persist_arg = persist_arg;

	memcpy(&sb, base, sizeof(sb));
	if (sb.magic != DAXFMT_SB_MAGIC) {
		struct daxfmt_look l;

		if (checked)
			l.found = DAXFMT_FOUND_ZERO;	/* daxfmt_precheck() looked */
		else
			daxfmt_look(base, g->region_bytes, g->region_bytes, &l);
		if (l.found == DAXFMT_FOUND_FOREIGN) {
			daxfmt_describe(&l, why, sizeof(why));
			if (!reinit) {
				if (errlen)
					snprintf(err, errlen, "%s; refusing to format it without"
						 " dax.reinit: true", why);
				memset(f, 0, sizeof(*f));
				return -EEXIST;
			}
			log_warn("dax device %s; dax.reinit: true, formatting", why);
			goto format;
		}
		log_info("dax device: no kvtier superblock, all zeros; formatting %" PRIu32
			 " slots of %" PRIu64 " bytes", g->nslots, g->slot_bytes);
		goto format;
	}
	csum = super_csum(&sb);
	if (csum != sb.csum) {
		log_warn("dax device: superblock checksum 0x%016" PRIx64 " does not match"
			 " its contents (0x%016" PRIx64 "); formatting", sb.csum, csum);
		goto format;
	}
	ret = super_match(&sb, g, ns, why, sizeof(why));
	if (!ret)
		return 0;
	if (!reinit) {
		if (errlen)
			snprintf(err, errlen, "%s; set dax.reinit: true to reformat", why);
		memset(f, 0, sizeof(*f));
		return ret;
	}
	log_warn("%s; dax.reinit: true, reformatting", why);
format:
	fmt_format(f, ns);
	if (formatted)
		*formatted = true;
	return 0;
}

int daxfmt_attach(struct daxfmt *f, void *base, const struct daxfmt_geometry *g,
		  const struct kvt_key *ns, bool reinit, daxfmt_persist_fn persist,
		  void *persist_arg, bool *formatted, char *err, size_t errlen)
{
	return attach(f, base, g, ns, reinit, persist, persist_arg, formatted, err, errlen, false);
}

/* daxfmt_attach_checked() - see daxfmt.h. */
int daxfmt_attach_checked(struct daxfmt *f, void *base, const struct daxfmt_geometry *g,
			  const struct kvt_key *ns, bool reinit, daxfmt_persist_fn persist,
			  void *persist_arg, bool *formatted, char *err, size_t errlen)
{
	return attach(f, base, g, ns, reinit, persist, persist_arg, formatted, err, errlen, true);
}

/* Writes the reason to @err, if any; returns @ret. */
static int __attribute__((format(printf, 4, 5)))
probe_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/*
 * Checks that the geometry a valid superblock records is one daxfmt_layout()
 * could have produced for a region that fits @len, so that every header and
 * slot the caller goes on to read lies inside the region.  Products are
 * avoided: a checksummed but hostile superblock must not overflow them.
 */
static int super_geometry(const struct daxfmt_super *sb, uint64_t len, char *err,
			  size_t errlen)
{
	if (sb->region_bytes > len)
		return probe_fail(err, errlen, -EINVAL,
				  "superblock records a region of %" PRIu64 " bytes, only %" PRIu64
				  " available", sb->region_bytes, len);
	if (sb->header_bytes != DAXFMT_HEADER_BYTES)
		return probe_fail(err, errlen, -EINVAL,
				  "superblock records %" PRIu32 "-byte slot headers, expected %u",
				  sb->header_bytes, DAXFMT_HEADER_BYTES);
	if (sb->headers_off != DAXFMT_SUPERBLOCK_BYTES)
		return probe_fail(err, errlen, -EINVAL,
				  "superblock records the header table at offset %" PRIu64
				  ", expected %u", sb->headers_off, DAXFMT_SUPERBLOCK_BYTES);
	if (!sb->slot_bytes || sb->slot_bytes % 64 || sb->slot_bytes > (uint64_t)UINT32_MAX + 1)
		return probe_fail(err, errlen, -EINVAL,
				  "superblock records a slot size of %" PRIu64
				  " bytes, not a multiple of 64 in [64, 4 GiB]", sb->slot_bytes);
	if (!sb->nslots)
		return probe_fail(err, errlen, -EINVAL, "superblock records 0 slots");
	if (sb->data_off % DAXFMT_SUPERBLOCK_BYTES ||
	    sb->data_off < sb->headers_off + (uint64_t)sb->nslots * DAXFMT_HEADER_BYTES ||
	    sb->data_off > sb->region_bytes)
		return probe_fail(err, errlen, -EINVAL,
				  "superblock records data at offset %" PRIu64 ", which does not"
				  " follow %" PRIu32 " slot headers inside a %" PRIu64 "-byte region",
				  sb->data_off, sb->nslots, sb->region_bytes);
	if (sb->nslots > (sb->region_bytes - sb->data_off) / sb->slot_bytes)
		return probe_fail(err, errlen, -EINVAL,
				  "superblock records %" PRIu32 " slots of %" PRIu64 " bytes from"
				  " offset %" PRIu64 ", beyond its %" PRIu64 "-byte region",
				  sb->nslots, sb->slot_bytes, sb->data_off, sb->region_bytes);
	return 0;
}

/*
 * daxfmt_probe() - see daxfmt.h.  Checks in the order a reader of any
 * version can make them: magic, then the checksum (which sits at 8 in every
 * version and covers the version field), then the version, then the
 * geometry, which only this version knows how to read.
 */
int daxfmt_probe(const void *base, uint64_t len, struct daxfmt_geometry *g,
		 struct kvt_key *ns, uint32_t *version, char *err, size_t errlen)
{
	struct daxfmt_super sb;
	uint64_t csum;
	int ret;

	if (errlen)
		err[0] = '\0';
	if (len < sizeof(sb))
		return probe_fail(err, errlen, -ENODATA,
				  "not formatted by kvtier (%" PRIu64 " bytes, smaller than a"
				  " %u-byte superblock)", len, DAXFMT_SUPERBLOCK_BYTES);
	memcpy(&sb, base, sizeof(sb));
	if (sb.magic != DAXFMT_SB_MAGIC)
		return probe_fail(err, errlen, -ENODATA,
				  "not formatted by kvtier (magic 0x%016" PRIx64 ", expected 0x%016"
				  PRIx64 ")", sb.magic, (uint64_t)DAXFMT_SB_MAGIC);
	csum = super_csum(&sb);
	if (csum != sb.csum)
		return probe_fail(err, errlen, -ENODATA,
				  "not formatted by kvtier (superblock checksum 0x%016" PRIx64
				  " does not match its contents, 0x%016" PRIx64 ": a format was"
				  " interrupted, or the block was overwritten)", sb.csum, csum);
	*version = sb.version;
	if (sb.version != DAXFMT_VERSION)
		return probe_fail(err, errlen, -EPROTO,
				  "format version %" PRIu32 " on device, %u supported", sb.version,
				  DAXFMT_VERSION);
	ret = super_geometry(&sb, len, err, errlen);
	if (ret)
		return ret;
	g->region_bytes = sb.region_bytes;
	g->slot_bytes = sb.slot_bytes;
	g->nslots = sb.nslots;
	g->headers_off = sb.headers_off;
	g->data_off = sb.data_off;
	ns->lo = sb.ns_lo;
	ns->hi = sb.ns_hi;
	return 0;
}

/* daxfmt_scan_range() - see daxfmt.h; daxfmt_scan() is one range. */
void daxfmt_scan_range(struct daxfmt *f, uint32_t first, uint32_t end,
		       void (*found)(void *arg, uint32_t slot, const struct kvt_key *key,
				     uint32_t len, uint64_t gen),
		       void *arg, struct daxfmt_scan_stats *st)
{
	struct daxfmt_hdr h;
	struct kvt_key key;

	memset(st, 0, sizeof(*st));
	for (uint32_t slot = first; slot < end && slot < f->g.nslots; slot++) {
		switch (hdr_classify(f, slot, &h)) {
		case CLASS_FREE:
			st->free++;
			break;
		case CLASS_VALID:
			st->recovered++;
			key.lo = h.key_lo;
			key.hi = h.key_hi;
			if (found)
				found(arg, slot, &key, h.len, h.gen);
			break;
		case CLASS_TORN:
			st->torn++;
			log_debug("dax slot %" PRIu32 ": torn (state %u, gen %" PRIu64
				  ", len %" PRIu32 "); discarded", slot, h.state, h.gen, h.len);
			hdr_write(f, slot, DAXFMT_FREE, 0, NULL, 0, 0);
			break;
		}
	}
}

/**
 * daxfmt_scan() - rebuild from the headers (see daxfmt.h).
 * @f:     attached format.
 * @found: called for each VALID slot whose header and payload checksums
 *         hold, in slot order, on this thread; @key is valid for the call
 *         only.  May be NULL.
 * @arg:   passed to @found.
 * @st:    receives the counts; recovered + torn + free == nslots.
 *
 * Torn slots (WRITING, a header that fails its checks, a payload that fails
 * its checksum, a length beyond the slot) are written FREE and persisted.
 * Threads: the owner, before any writer.  Blocks: on @f->persist only.
 * Allocates: nothing.  Reads every VALID payload once.
 */
void daxfmt_scan(struct daxfmt *f,
		 void (*found)(void *arg, uint32_t slot, const struct kvt_key *key,
			       uint32_t len, uint64_t gen),
		 void *arg, struct daxfmt_scan_stats *st)
{
	daxfmt_scan_range(f, 0, f->g.nslots, found, arg, st);
	if (st->torn)
		log_warn("dax device: %" PRIu32 " torn slots discarded, %" PRIu32 " recovered",
			 st->torn, st->recovered);
}

/**
 * daxfmt_inspect() - classify every slot like daxfmt_scan(), writing nothing.
 * @f:     attached format.
 * @found: may be NULL; called for every slot that is not free: @valid true
 *         for one daxfmt_scan() would recover, false for a torn one (whose
 *         @key, @len and @gen are what its header holds, perhaps garbage).
 * @arg:   passed to @found.
 * @st:    receives the counts daxfmt_scan() would report.
 *
 * Threads: any, while no writer runs.  Blocks: never.  Allocates: nothing.
 */
void daxfmt_inspect(const struct daxfmt *f,
		    void (*found)(void *arg, uint32_t slot, const struct kvt_key *key,
				  uint32_t len, uint64_t gen, bool valid),
		    void *arg, struct daxfmt_scan_stats *st)
{
	struct daxfmt_hdr h;
	struct kvt_key key;

	memset(st, 0, sizeof(*st));
	for (uint32_t slot = 0; slot < f->g.nslots; slot++) {
		enum daxfmt_class c = hdr_classify(f, slot, &h);

		if (c == CLASS_FREE) {
			st->free++;
			continue;
		}
		if (c == CLASS_VALID)
			st->recovered++;
		else
			st->torn++;
		key.lo = h.key_lo;
		key.hi = h.key_hi;
		if (found)
			found(arg, slot, &key, h.len, h.gen, c == CLASS_VALID);
	}
}

/*
 * daxfmt_begin_write() - mark @slot WRITING with generation @gen, persisted.
 * From here on the slot's previous content is discarded by a scan until
 * daxfmt_commit() completes.  Threads: the slot's one writer.
 */
void daxfmt_begin_write(struct daxfmt *f, uint32_t slot, uint64_t gen)
{
	assert(slot < f->g.nslots);
	hdr_write(f, slot, DAXFMT_WRITING, gen, NULL, 0, 0);
}

/*
 * daxfmt_commit() - checksum and persist the @len payload bytes already in
 * @slot, then mark it VALID with @key and @gen, persisted.  Call after
 * daxfmt_begin_write() with the same @gen.  Threads: the slot's one writer.
 */
void daxfmt_commit(struct daxfmt *f, uint32_t slot, const struct kvt_key *key, uint32_t len,
		   uint64_t gen)
{
	const void *p = daxfmt_slot(f, slot);
	uint64_t csum;

	assert(slot < f->g.nslots && len <= f->g.slot_bytes);
	csum = hash64(p, len);
	fmt_persist(f, p, len);
	hdr_write(f, slot, DAXFMT_VALID, gen, key, len, csum);
}

/* daxfmt_free() - mark @slot FREE, persisted.  Threads: the slot's one writer. */
void daxfmt_free(struct daxfmt *f, uint32_t slot)
{
	assert(slot < f->g.nslots);
	hdr_write(f, slot, DAXFMT_FREE, 0, NULL, 0, 0);
}
