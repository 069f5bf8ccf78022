/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: daxfmt_probe() in core/daxfmt.c - reading a superblock
 * without knowing the geometry, as `kvtier inspect` does.  A region that
 * daxfmt_attach() formatted reports its geometry, namespace and version, and
 * the geometry is good enough for daxfmt_inspect(); probing writes nothing.
 * A zeroed region, any single flipped bit of the superblock, and a length
 * below one superblock are "not formatted" (-ENODATA); an unknown version
 * with a valid checksum is -EPROTO; a length that cuts the recorded region
 * short, and every inconsistent field behind a valid checksum, are -EINVAL.
 * On error the outputs are untouched.  Partitions side by side probe one by
 * one, each with its own namespace.
 *
 * Regions are files in /dev/shm mapped MAP_SHARED.
 */
#define _GNU_SOURCE
#include "core/daxfmt.h"
#include "core/daxfmt_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xxhash.h>

#include "kvtier.h"
#include "tests/common/harness.h"

#define REGION_BYTES (1u << 20)
#define SLOT_BYTES 8192u

static const struct kvt_key NS_A = { 0x1111222233334444ull, 0x5555666677778888ull };
static const struct kvt_key NS_B = { 0x99990000aaaabbbbull, 0xccccddddeeeeffffull };

struct region {
	char path[256];
	int fd;
	void *base;
	size_t bytes;
};

/* Formatting logs at info level; only with KVT_LOG set. */
__attribute__((constructor)) static void quiet_expected_logs(void)
{
	setenv("KVT_LOG", "error", 0);
}

static void region_create(struct region *r, size_t bytes)
{
	static int seq;

	snprintf(r->path, sizeof(r->path), "%s/probe%d", harness_tmpdir(1), seq++);
	r->fd = open(r->path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(r->fd >= 0);
	CHECK_EQ(ftruncate(r->fd, (off_t)bytes), 0);
	r->bytes = bytes;
	r->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	CHECK(r->base != MAP_FAILED);
}

static void region_close(struct region *r)
{
	CHECK_EQ(munmap(r->base, r->bytes), 0);
	CHECK_EQ(close(r->fd), 0);
}

/* Formats @bytes at @base for @ns; returns the geometry used. */
static struct daxfmt format_at(void *base, uint64_t bytes, const struct kvt_key *ns)
{
	struct daxfmt_geometry g;
	struct daxfmt f;
	bool formatted = false;
	char err[256];

	CHECK_EQ(daxfmt_layout(bytes, SLOT_BYTES, 4096, &g), 0);
	CHECK_EQ(daxfmt_attach(&f, base, &g, ns, false, NULL, NULL, &formatted, err,
			       sizeof(err)), 0);
	CHECK(formatted);
	return f;
}

static struct daxfmt_super *super_of(struct region *r)
{
	return r->base;
}

/* Recomputes the checksum, so that only the field a test changed is wrong. */
static void super_reseal(struct daxfmt_super *sb)
{
	sb->csum = XXH3_64bits((const char *)sb + 16, sizeof(*sb) - 16);
}

/* Outputs that a failed probe must leave as they are. */
struct probe_out {
	struct daxfmt_geometry g;
	struct kvt_key ns;
	uint32_t version;
	char err[512];
};

static void out_poison(struct probe_out *o)
{
	memset(o, 0xa5, sizeof(*o));
}

static bool out_untouched(const struct probe_out *o)
{
	struct probe_out ref;

	out_poison(&ref);
	return !memcmp(&o->g, &ref.g, sizeof(o->g)) && !memcmp(&o->ns, &ref.ns, sizeof(o->ns));
}

static int probe(const void *base, uint64_t len, struct probe_out *o)
{
	return daxfmt_probe(base, len, &o->g, &o->ns, &o->version, o->err, sizeof(o->err));
}

TEST(formatted_region_reports_its_geometry)
{
	struct region r;
	struct probe_out o;
	struct daxfmt f;

	region_create(&r, REGION_BYTES);
	f = format_at(r.base, REGION_BYTES, &NS_A);
	out_poison(&o);
	CHECK_EQ(probe(r.base, REGION_BYTES, &o), 0);
	CHECK_EQ(o.err[0], 0);
	CHECK_EQ(o.version, 1);
	CHECK(o.ns.lo == NS_A.lo && o.ns.hi == NS_A.hi);
	CHECK(o.g.region_bytes == f.g.region_bytes);
	CHECK(o.g.slot_bytes == f.g.slot_bytes);
	CHECK_EQ(o.g.nslots, f.g.nslots);
	CHECK(o.g.headers_off == f.g.headers_off);
	CHECK(o.g.data_off == f.g.data_off);
	/* a larger len is fine: the region need only fit */
	CHECK_EQ(probe(r.base, (uint64_t)REGION_BYTES * 4, &o), 0);
	region_close(&r);
}

TEST(probe_writes_nothing)
{
	struct region r;
	struct probe_out o;
	uint64_t before;

	region_create(&r, REGION_BYTES);
	format_at(r.base, REGION_BYTES, &NS_A);
	before = XXH3_64bits(r.base, r.bytes);
	CHECK_EQ(mprotect(r.base, r.bytes, PROT_READ), 0);	/* a write would fault */
	CHECK_EQ(probe(r.base, REGION_BYTES, &o), 0);
	CHECK(XXH3_64bits(r.base, r.bytes) == before);
	region_close(&r);
}

/* The geometry probed is what daxfmt_inspect() needs: counts match the writes. */
TEST(probed_geometry_drives_inspect)
{
	struct kvt_key key = { 7, 8 };
	struct daxfmt_scan_stats st;
	struct region r;
	struct probe_out o;
	struct daxfmt f, ro;

	region_create(&r, REGION_BYTES);
	f = format_at(r.base, REGION_BYTES, &NS_A);
	for (uint32_t slot = 0; slot < 3; slot++) {
		daxfmt_begin_write(&f, slot, slot + 1);
		memset(daxfmt_slot(&f, slot), (int)slot + 1, 100 * (slot + 1));
		daxfmt_commit(&f, slot, &key, 100 * (slot + 1), slot + 1);
	}
	daxfmt_begin_write(&f, 5, 9);		/* never committed: torn */
	CHECK_EQ(probe(r.base, REGION_BYTES, &o), 0);
	memset(&ro, 0, sizeof(ro));
	ro.base = r.base;
	ro.g = o.g;
	daxfmt_inspect(&ro, NULL, NULL, &st);
	CHECK_EQ(st.recovered, 3);
	CHECK_EQ(st.torn, 1);
	CHECK_EQ(st.free, f.g.nslots - 4);
	region_close(&r);
}

TEST(zeroed_region_is_not_formatted)
{
	struct region r;
	struct probe_out o;

	region_create(&r, REGION_BYTES);
	out_poison(&o);
	CHECK_EQ(probe(r.base, REGION_BYTES, &o), -ENODATA);
	CHECK_HAS(o.err, "not formatted by kvtier");
	CHECK_HAS(o.err, "magic 0x0000000000000000");
	CHECK(out_untouched(&o));
	region_close(&r);
}

/* Every single-bit flip anywhere in the superblock fails magic or checksum. */
TEST(corrupted_superblock_is_not_formatted)
{
	struct region r;
	struct probe_out o;
	unsigned char *p;

	region_create(&r, REGION_BYTES);
	format_at(r.base, REGION_BYTES, &NS_A);
	p = r.base;
	for (size_t i = 0; i < DAXFMT_SUPERBLOCK_BYTES; i++) {
		unsigned char bit = (unsigned char)(1u << (i % 8));

		p[i] ^= bit;
		out_poison(&o);
		CHECK_ROW(i, probe(r.base, REGION_BYTES, &o) == -ENODATA);
		CHECK_ROW(i, strstr(o.err, "not formatted by kvtier") != NULL);
		CHECK_ROW(i, strstr(o.err, i < 8 ? "magic" : "checksum") != NULL);
		CHECK_ROW(i, out_untouched(&o));
		p[i] ^= bit;
	}
	CHECK_EQ(probe(r.base, REGION_BYTES, &o), 0);
	region_close(&r);
}

TEST(unknown_version_is_eproto)
{
	struct region r;
	struct probe_out o;

	region_create(&r, REGION_BYTES);
	format_at(r.base, REGION_BYTES, &NS_A);
	super_of(&r)->version = 2;
	super_reseal(super_of(&r));
	out_poison(&o);
	CHECK_EQ(probe(r.base, REGION_BYTES, &o), -EPROTO);
	CHECK_EQ(o.version, 2);
	CHECK_HAS(o.err, "format version 2 on device, 1 supported");
	CHECK(out_untouched(&o));
	region_close(&r);
}

/* A len that cuts the region short is -EINVAL; below one superblock, -ENODATA. */
TEST(truncated_len)
{
	static const struct {
		uint64_t len;
		int ret;
		const char *msg;
	} rows[] = {
		{ REGION_BYTES - 1, -EINVAL, "region of 1048576 bytes, only 1048575 available" },
		{ REGION_BYTES / 2, -EINVAL, "only 524288 available" },
		{ DAXFMT_SUPERBLOCK_BYTES, -EINVAL, "only 4096 available" },
		{ DAXFMT_SUPERBLOCK_BYTES - 1, -ENODATA, "smaller than a 4096-byte superblock" },
		{ 0, -ENODATA, "(0 bytes, smaller than" },
	};
	struct region r;
	struct probe_out o;

	region_create(&r, REGION_BYTES);
	format_at(r.base, REGION_BYTES, &NS_A);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		out_poison(&o);
		CHECK_ROW(i, probe(r.base, rows[i].len, &o) == rows[i].ret);
		CHECK_ROW(i, strstr(o.err, rows[i].msg) != NULL);
		CHECK_ROW(i, out_untouched(&o));
	}
	CHECK_EQ(probe(r.base, REGION_BYTES, &o), 0);
	region_close(&r);
}

/*
 * Fields that no daxfmt_layout() produces, behind a valid checksum: each is
 * -EINVAL naming the field, never a geometry that reaches past the region.
 */
TEST(inconsistent_geometry_is_einval)
{
	enum field { HEADER_BYTES, HEADERS_OFF, SLOT_BYTES_F, NSLOTS, DATA_OFF, REGION };
	static const struct {
		enum field field;
		uint64_t value;
		const char *msg;
	} rows[] = {
		{ HEADER_BYTES, 32, "32-byte slot headers" },
		{ HEADERS_OFF, 0, "header table at offset 0" },
		{ HEADERS_OFF, 8192, "header table at offset 8192" },
		{ SLOT_BYTES_F, 0, "slot size of 0 bytes" },
		{ SLOT_BYTES_F, 100, "slot size of 100 bytes" },
		{ SLOT_BYTES_F, 1ull << 33, "slot size of 8589934592 bytes" },
		{ SLOT_BYTES_F, 1ull << 20, "beyond its 1048576-byte region" },
		{ NSLOTS, 0, "records 0 slots" },
		/* headers fit before data_off, slots overrun the region */
		{ NSLOTS, 128, "128 slots of 8192 bytes from offset 12288, beyond" },
		/* the header table would run past data_off */
		{ NSLOTS, 129, "does not follow 129 slot headers" },
		/* a header table larger than any region */
		{ NSLOTS, UINT32_MAX, "does not follow 4294967295 slot headers" },
		{ DATA_OFF, 4095, "data at offset 4095" },
		{ DATA_OFF, 4096, "data at offset 4096" },
		{ DATA_OFF, 2u << 20, "data at offset 2097152" },
		{ REGION, 4096, "inside a 4096-byte region" },
	};
	struct region r;
	struct probe_out o;
	struct daxfmt_super good, *sb;

	region_create(&r, REGION_BYTES);
	format_at(r.base, REGION_BYTES, &NS_A);
	sb = super_of(&r);
	good = *sb;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		switch (rows[i].field) {
		case HEADER_BYTES:
			sb->header_bytes = (uint32_t)rows[i].value;
			break;
		case HEADERS_OFF:
			sb->headers_off = rows[i].value;
			break;
		case SLOT_BYTES_F:
			sb->slot_bytes = rows[i].value;
			break;
		case NSLOTS:
			sb->nslots = (uint32_t)rows[i].value;
			break;
		case DATA_OFF:
			sb->data_off = rows[i].value;
			break;
		case REGION:
			sb->region_bytes = rows[i].value;
			break;
		}
		super_reseal(sb);
		out_poison(&o);
		CHECK_ROW(i, probe(r.base, REGION_BYTES, &o) == -EINVAL);
		if (!strstr(o.err, rows[i].msg))
			harness_fail(__FILE__, __LINE__, "row %zu: \"%s\" does not contain \"%s\"",
				     i, o.err, rows[i].msg);
		CHECK_ROW(i, out_untouched(&o));
		*sb = good;
	}
	CHECK_EQ(probe(r.base, REGION_BYTES, &o), 0);
	region_close(&r);
}

/*
 * world_size partitions side by side, as daxdev lays them out: each probes
 * at its own start with its own namespace; a partition never formatted
 * (a rank that has not run) is -ENODATA.
 */
TEST(partitions_probe_one_by_one)
{
	const uint64_t part = REGION_BYTES;
	struct region r;
	struct probe_out o;
	char *base;

	region_create(&r, 3 * part);
	base = r.base;
	format_at(base, part, &NS_A);
	format_at(base + 2 * part, part, &NS_B);

	CHECK_EQ(probe(base, 3 * part, &o), 0);
	CHECK(o.g.region_bytes == part);
	CHECK(o.ns.lo == NS_A.lo && o.ns.hi == NS_A.hi);
	CHECK_EQ(probe(base + part, part, &o), -ENODATA);
	CHECK_EQ(probe(base + 2 * part, part, &o), 0);
	CHECK(o.g.region_bytes == part);
	CHECK(o.ns.lo == NS_B.lo && o.ns.hi == NS_B.hi);
	region_close(&r);
}
