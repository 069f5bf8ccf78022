/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: core/daxfmt.c - the on-device format behind restart
 * recovery.  Layout math; formatting a fresh region; reopening recovers every
 * committed slot with its key, length and generation; another namespace,
 * slot size or version is refused unless reinit; a corrupt superblock
 * reformats; torn headers (every byte flipped, every 8-byte mix of two
 * headers, a header in the wrong slot), flipped payloads, WRITING leftovers,
 * oversized lengths and unknown states are discarded, counted and freed,
 * never served; inspect writes nothing.  Crash tests with a real SIGKILL:
 * at every persist step of a write sequence and of a reformat, mid-payload,
 * and at random moments of a child writing as fast as it can.
 *
 * Regions are files in /dev/shm mapped MAP_SHARED; "persist" is msync.
 * Forked children never return into the harness: they _exit() or die.
 */
#define _GNU_SOURCE
#include "core/daxfmt.h"
#include "core/daxfmt_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "kvtier.h"
#include "tests/common/harness.h"

#define SB_VERSION_OFF 16	/* superblock: u32 version; u64 XXH3 of [16, 4096) at 8 */

static const struct kvt_key NS_A = { 0x1111222233334444ull, 0x5555666677778888ull };
static const struct kvt_key NS_B = { 0x1111222233334444ull, 0x5555666677778889ull };

struct region {
	char path[256];
	int fd;
	void *base;
	size_t bytes;
};

struct child_ctx {
	int kill_at;		/* SIGKILL self on this persist call; 0 never */
	int calls;
};

/* The expected warnings (torn slots, reformats) only with KVT_LOG set. */
__attribute__((constructor)) static void quiet_expected_warnings(void)
{
	setenv("KVT_LOG", "error", 0);
}

/* msync for the parent (NULL @arg) or a crash-test child (struct child_ctx). */
static void persist_msync(void *arg, const void *addr, size_t len)
{
	struct child_ctx *c = arg;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)addr & ~(page - 1);
	int ret = msync((void *)start, (uintptr_t)addr + len - start, MS_SYNC);

	if (!c) {
		CHECK_EQ(ret, 0);
		return;
	}
	if (ret)
		_exit(2);
	if (++c->calls == c->kill_at)
		raise(SIGKILL);
}

static void region_map(struct region *r)
{
	r->base = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	CHECK(r->base != MAP_FAILED);
}

static void region_create(struct region *r, size_t bytes)
{
	static int seq;

	snprintf(r->path, sizeof(r->path), "%s/dax%d", harness_tmpdir(1), seq++);
	r->fd = open(r->path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(r->fd >= 0);
	CHECK_EQ(ftruncate(r->fd, (off_t)bytes), 0);
	r->bytes = bytes;
	region_map(r);
}

/* A fresh mapping of the same file, as a restarted process would see it. */
static void region_remap(struct region *r)
{
	CHECK_EQ(munmap(r->base, r->bytes), 0);
	region_map(r);
}

static void region_close(struct region *r)
{
	CHECK_EQ(munmap(r->base, r->bytes), 0);
	CHECK_EQ(close(r->fd), 0);
}

static uint64_t region_hash(const struct region *r)
{
	return XXH3_64bits(r->base, r->bytes);
}

static void geometry(struct daxfmt_geometry *g, size_t region, uint64_t slot)
{
	CHECK_EQ(daxfmt_layout(region, slot, 4096, g), 0);
}

static void attach_ok(struct daxfmt *f, struct region *r, const struct daxfmt_geometry *g,
		      const struct kvt_key *ns, bool expect_formatted)
{
	bool formatted = !expect_formatted;
	char err[256];

	CHECK_EQ(daxfmt_attach(f, r->base, g, ns, false, persist_msync, NULL, &formatted,
			       err, sizeof(err)), 0);
	CHECK_EQ(formatted, expect_formatted);
	CHECK_EQ(err[0], 0);
}

/* Forgets the format: the next attach formats the region afresh. */
static void region_wipe(struct region *r)
{
	memset(r->base, 0, DAXFMT_SUPERBLOCK_BYTES);
}

/* ---- payload pattern: key, length and bytes all follow from (slot, gen) */

#define KEY_HI_SALT 0xa5a5a5a55a5a5a5aull

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static struct kvt_key pattern_key(uint32_t slot, uint64_t gen)
{
	return (struct kvt_key){ .lo = slot, .hi = gen ^ KEY_HI_SALT };
}

static uint32_t pattern_len(const struct daxfmt *f, uint32_t slot, uint64_t gen)
{
	return 1 + (uint32_t)(mix64(((uint64_t)slot << 48) ^ gen) % f->g.slot_bytes);
}

static uint64_t pattern_word(uint32_t slot, uint64_t gen, size_t i)
{
	return mix64(((uint64_t)slot << 40) ^ gen) + i * 0x9e3779b97f4a7c15ull;
}

static void pattern_fill(void *p, size_t len, uint32_t slot, uint64_t gen)
{
	char *c = p;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(slot, gen, i / 8);

		memcpy(c + i, &w, 8);
	}
	if (i < len) {
		uint64_t w = pattern_word(slot, gen, i / 8);

		memcpy(c + i, &w, len - i);
	}
}

static bool pattern_check(const void *p, size_t len, uint32_t slot, uint64_t gen)
{
	const char *c = p;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = pattern_word(slot, gen, i / 8);

		if (memcmp(c + i, &w, 8))
			return false;
	}
	if (i < len) {
		uint64_t w = pattern_word(slot, gen, i / 8);

		if (memcmp(c + i, &w, len - i))
			return false;
	}
	return true;
}

/* The full write protocol for the pattern of (@slot, @gen). */
static void write_slot(struct daxfmt *f, uint32_t slot, uint64_t gen)
{
	struct kvt_key key = pattern_key(slot, gen);
	uint32_t len = pattern_len(f, slot, gen);

	daxfmt_begin_write(f, slot, gen);
	pattern_fill(daxfmt_slot(f, slot), len, slot, gen);
	daxfmt_commit(f, slot, &key, len, gen);
}

/* ---- what a scan or inspect reported, slot by slot */

#define MAX_SLOTS 4096

struct seen {
	const struct daxfmt *f;
	uint32_t n;			/* found() calls */
	uint32_t bad;			/* recovered slots whose key, len or bytes are wrong */
	uint64_t gen[MAX_SLOTS];	/* 0: not reported */
	uint32_t len[MAX_SLOTS];
	bool valid[MAX_SLOTS];
};

static void seen_found(void *arg, uint32_t slot, const struct kvt_key *key, uint32_t len,
		       uint64_t gen)
{
	struct seen *s = arg;
	struct kvt_key want = pattern_key(slot, gen);

	s->n++;
	if (slot >= MAX_SLOTS || s->gen[slot] || !gen) {
		s->bad++;
		return;
	}
	s->gen[slot] = gen;
	s->len[slot] = len;
	s->valid[slot] = true;
	if (key->lo != want.lo || key->hi != want.hi || len != pattern_len(s->f, slot, gen) ||
	    !pattern_check(daxfmt_slot(s->f, slot), len, slot, gen))
		s->bad++;
}

static void seen_inspected(void *arg, uint32_t slot, const struct kvt_key *key, uint32_t len,
			   uint64_t gen, bool valid)
{
	struct seen *s = arg;

	if (valid) {
		seen_found(arg, slot, key, len, gen);
		return;
	}
	s->n++;
	if (slot < MAX_SLOTS)
		s->valid[slot] = false;
}

static void scan(struct daxfmt *f, struct seen *s, struct daxfmt_scan_stats *st)
{
	memset(s, 0, sizeof(*s));
	s->f = f;
	daxfmt_scan(f, seen_found, s, st);
	CHECK_EQ(st->recovered + st->torn + st->free, f->g.nslots);
	CHECK_EQ(s->n, st->recovered);
	CHECK_EQ(s->bad, 0);
}

static struct daxfmt_hdr *raw_hdr(const struct daxfmt *f, uint32_t slot)
{
	return (struct daxfmt_hdr *)((char *)f->base + f->g.headers_off +
				  (uint64_t)slot * DAXFMT_HEADER_BYTES);
}

static void raw_reseal(struct daxfmt_hdr *h, uint32_t slot)
{
	h->hcsum = XXH3_64bits_withSeed(h, offsetof(struct daxfmt_hdr, hcsum), slot);
}

/* ---- layout */

TEST(layout_aligns_data_and_maximises_slots)
{
	static const struct {
		uint64_t region, slot, align;
		int ret;
		uint32_t nslots;	/* 0: only the properties are checked */
		uint64_t data_off;
	} rows[] = {
		{ 1ull << 30, 2ull << 20, 2ull << 20, 0, 511, 2ull << 20 },
		{ 1ull << 30, 1ull << 20, 2ull << 20, 0, 1022, 2ull << 20 },
		{ 1ull << 30, 4096, 2ull << 20, 0, 0, 0 },
		{ 1ull << 30, 100, 4096, 0, 0, 0 },
		{ 1ull << 30, 64, 1ull << 30, -ENOSPC, 0, 0 },
		{ 3ull << 30, 64, 1ull << 30, 0, 16777216, 2ull << 30 },
		{ 262144, 4096, 4096, 0, 62, 8192 },
		{ 262144, 4096, 0, 0, 62, 8192 },
		{ 12288, 4096, 4096, 0, 1, 8192 },
		{ 12287, 4096, 4096, -ENOSPC, 0, 0 },
		{ 8192, 4096, 4096, -ENOSPC, 0, 0 },
		{ 4096, 64, 4096, -ENOSPC, 0, 0 },
		{ 0, 64, 4096, -ENOSPC, 0, 0 },
		{ (4ull << 20) - 1, 2ull << 20, 2ull << 20, -ENOSPC, 0, 0 },
		{ 4ull << 20, 2ull << 20, 2ull << 20, 0, 1, 2ull << 20 },
		{ 6ull << 20, 2ull << 20, 2ull << 20, 0, 2, 2ull << 20 },
		{ 1ull << 40, 64, 4096, 0, UINT32_MAX, 0 },
		{ 1ull << 30, 0, 4096, -EINVAL, 0, 0 },
		{ 1ull << 30, 1ull << 33, 4096, -EINVAL, 0, 0 },
		{ 1ull << 30, 4096, 3 << 12, -EINVAL, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct daxfmt_geometry g;
		uint64_t align = rows[i].align < 4096 ? 4096 : rows[i].align;
		uint64_t next_off;
		int ret = daxfmt_layout(rows[i].region, rows[i].slot, rows[i].align, &g);

		CHECK_ROW(i, ret == rows[i].ret);
		if (ret)
			continue;
		CHECK_ROW(i, g.region_bytes == rows[i].region);
		CHECK_ROW(i, g.slot_bytes % 64 == 0);
		CHECK_ROW(i, g.slot_bytes >= rows[i].slot && g.slot_bytes < rows[i].slot + 64);
		CHECK_ROW(i, g.headers_off == DAXFMT_SUPERBLOCK_BYTES);
		CHECK_ROW(i, g.data_off % align == 0);
		CHECK_ROW(i, g.data_off >= g.headers_off +
				     g.nslots * (uint64_t)DAXFMT_HEADER_BYTES);
		CHECK_ROW(i, g.data_off + (uint64_t)g.nslots * g.slot_bytes <= g.region_bytes);
		CHECK_ROW(i, !rows[i].nslots || g.nslots == rows[i].nslots);
		CHECK_ROW(i, !rows[i].data_off || g.data_off == rows[i].data_off);
		if (g.nslots == UINT32_MAX)
			continue;
		/* one more slot does not fit */
		next_off = (4096 + (g.nslots + 1ull) * 64 + align - 1) / align * align;
		CHECK_ROW(i, next_off + (g.nslots + 1ull) * g.slot_bytes > g.region_bytes);
	}
}

/* ---- attach */

TEST(fresh_region_formats_all_free)
{
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	attach_ok(&f, &r, &g, &NS_A, true);
	CHECK(f.base == r.base);
	daxfmt_inspect(&f, NULL, NULL, &st);
	CHECK_EQ(st.free, g.nslots);
	CHECK_EQ(st.recovered + st.torn, 0);
	/* the same namespace and geometry again: nothing to format */
	region_remap(&r);
	attach_ok(&f, &r, &g, &NS_A, false);
	/* persist and formatted may be NULL */
	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, false, NULL, NULL, NULL, NULL, 0), 0);
	region_close(&r);
}

/* Someone else's data is never formatted over, unless reinit. */
TEST(foreign_data_refused_unless_reinit)
{
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	bool formatted = true;
	char err[512];
	uint64_t before;

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	memset(r.base, 0x5a, r.bytes);
	before = region_hash(&r);
	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, false, persist_msync, NULL, &formatted,
			       err, sizeof(err)), -EEXIST);
	CHECK(!formatted);
	CHECK_HAS(err, "holds data that is not kvtier's (first bytes 5a 5a 5a");
	CHECK_HAS(err, "dax.reinit: true");
	CHECK_EQ(region_hash(&r), before);
	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, true, persist_msync, NULL, &formatted,
			       err, sizeof(err)), 0);
	CHECK(formatted);
	daxfmt_inspect(&f, NULL, NULL, &st);
	CHECK_EQ(st.free, g.nslots);
	region_close(&r);
}

/* The sampling: first and last 4 KiB whole, one word per MiB between. */
TEST(zero_sampling_finds_data_where_it_looks)
{
	static const struct {
		uint64_t len, off;	/* a nonzero byte at @off (len: none) */
		bool zero;
		uint64_t found;
	} rows[] = {
		{ 0, 0, true, 0 },
		{ 5, 5, true, 0 },
		{ 5, 4, false, 4 },
		{ 8 << 20, 8 << 20, true, 0 },
		{ 8 << 20, 0, false, 0 },
		{ 8 << 20, 4095, false, 4095 },
		{ 8 << 20, 4096, true, 0 },		/* not sampled */
		{ 8 << 20, 3 << 20, false, 3 << 20 },
		{ 8 << 20, (3 << 20) + 7, false, (3 << 20) + 7 },
		{ 8 << 20, (3 << 20) + 8, true, 0 },	/* not sampled */
		{ 8 << 20, (8 << 20) - 4096, false, (8 << 20) - 4096 },
		{ 8 << 20, (8 << 20) - 1, false, (8 << 20) - 1 },
		{ 6000, 5000, false, 5000 },
	};
	size_t cap = 8 << 20;
	unsigned char *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);

	CHECK(p != MAP_FAILED);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t at = 12345;

		memset(p, 0, cap);
		if (rows[i].off < rows[i].len)
			p[rows[i].off] = 1;
		CHECK_ROW(i, daxfmt_zero_sampled(p, rows[i].len, &at) == rows[i].zero);
		CHECK_ROW(i, rows[i].zero ? at == 12345 : at == rows[i].found);
	}
	munmap(p, cap);
}

TEST(reopen_recovers_committed_slots)
{
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	static struct seen s;

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	attach_ok(&f, &r, &g, &NS_A, true);
	for (uint32_t slot = 0; slot < g.nslots; slot += 3)
		write_slot(&f, slot, 100 + slot);
	write_slot(&f, 3, 7);			/* rewritten: the newest generation wins */
	daxfmt_free(&f, 6);			/* freed: not recovered */
	/* a zero-length payload is a payload too */
	daxfmt_begin_write(&f, 1, 9);
	daxfmt_commit(&f, 1, &(struct kvt_key){ 1, 9 ^ KEY_HI_SALT }, 0, 9);

	region_remap(&r);
	attach_ok(&f, &r, &g, &NS_A, false);
	memset(&s, 0, sizeof(s));
	s.f = &f;
	daxfmt_scan(&f, seen_found, &s, &st);
	CHECK_EQ(st.torn, 0);
	CHECK_EQ(st.recovered + st.free, g.nslots);
	/* slot 1: len 0 is not pattern_len(), so seen_found counts it bad */
	CHECK_EQ(s.bad, 1);
	CHECK(s.valid[1] && s.len[1] == 0 && s.gen[1] == 9);
	for (uint32_t slot = 0; slot < g.nslots; slot++) {
		if (slot == 1)
			continue;
		if (slot % 3 || slot == 6) {
			CHECK(!s.valid[slot]);
			continue;
		}
		CHECK(s.valid[slot]);
		CHECK_EQ(s.gen[slot], slot == 3 ? 7 : 100 + slot);
		CHECK_EQ(s.len[slot], pattern_len(&f, slot, s.gen[slot]));
	}
	CHECK_EQ(st.recovered, (g.nslots + 2) / 3 - 1 + 1);
	region_close(&r);
}

TEST(other_namespace_refused_unless_reinit)
{
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	static struct seen s;
	bool formatted = true;
	char err[256];
	uint64_t before;

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	attach_ok(&f, &r, &g, &NS_A, true);
	write_slot(&f, 0, 1);
	write_slot(&f, 5, 2);
	before = region_hash(&r);

	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_B, false, persist_msync, NULL, &formatted,
			       err, sizeof(err)), -EEXIST);
	CHECK(!formatted);
	CHECK_HAS(err, "namespace 0x5555666677778888111122223333444");
	CHECK_HAS(err, "this instance 0x5555666677778889");
	CHECK_HAS(err, "dax.reinit: true");
	CHECK_EQ(region_hash(&r), before);
	/* a short error buffer is truncated, not overrun */
	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_B, false, NULL, NULL, NULL, err, 8),
		 -EEXIST);
	CHECK_EQ(strlen(err), 7);

	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_B, true, persist_msync, NULL, &formatted,
			       err, sizeof(err)), 0);
	CHECK(formatted);
	CHECK_EQ(err[0], 0);
	scan(&f, &s, &st);
	CHECK_EQ(st.free, g.nslots);
	/* the old namespace is now the foreign one */
	region_remap(&r);
	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, false, NULL, NULL, NULL, err,
			       sizeof(err)), -EEXIST);
	attach_ok(&f, &r, &g, &NS_B, false);
	region_close(&r);
}

TEST(other_geometry_refused_unless_reinit)
{
	struct region r;
	struct daxfmt_geometry g, g_slot, g_count;
	struct daxfmt f;
	bool formatted;
	char err[256];
	uint64_t before;

	region_create(&r, 1 << 20);
	geometry(&g, r.bytes, 8192);
	geometry(&g_slot, r.bytes, 4096);
	geometry(&g_count, r.bytes / 2, 8192);	/* same slot size, fewer slots */
	attach_ok(&f, &r, &g, &NS_A, true);
	write_slot(&f, 2, 1);
	before = region_hash(&r);

	CHECK_EQ(daxfmt_attach(&f, r.base, &g_slot, &NS_A, false, NULL, NULL, &formatted, err,
			       sizeof(err)), -EEXIST);
	CHECK_HAS(err, "slot size 8192 on device, 4096 configured");
	CHECK_EQ(daxfmt_attach(&f, r.base, &g_count, &NS_A, false, NULL, NULL, &formatted, err,
			       sizeof(err)), -EEXIST);
	CHECK_HAS(err, "slot count");
	CHECK_HAS(err, "dax.reinit: true");
	CHECK_EQ(region_hash(&r), before);

	CHECK_EQ(daxfmt_attach(&f, r.base, &g_slot, &NS_A, true, persist_msync, NULL,
			       &formatted, err, sizeof(err)), 0);
	CHECK(formatted);
	region_remap(&r);
	attach_ok(&f, &r, &g_slot, &NS_A, false);
	region_close(&r);
}

TEST(unknown_version_refused_unless_reinit)
{
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	bool formatted;
	char err[256];
	uint32_t version = 2;
	uint64_t csum;

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	attach_ok(&f, &r, &g, &NS_A, true);
	/* a well-formed superblock of a later version */
	memcpy((char *)r.base + SB_VERSION_OFF, &version, sizeof(version));
	csum = XXH3_64bits((char *)r.base + SB_VERSION_OFF,
			   DAXFMT_SUPERBLOCK_BYTES - SB_VERSION_OFF);
	memcpy((char *)r.base + 8, &csum, sizeof(csum));

	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, false, NULL, NULL, &formatted, err,
			       sizeof(err)), -EPROTO);
	CHECK_HAS(err, "format version 2 on device, 1 supported");
	CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, true, NULL, NULL, &formatted, err,
			       sizeof(err)), 0);
	CHECK(formatted);
	region_close(&r);
}

TEST(corrupt_superblock_reformats)
{
	static const size_t offs[] = { 0, 7, 8, 16, 24, 40, 48, 64, 100, 4095 };
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		char err[512];
		bool formatted;

		attach_ok(&f, &r, &g, &NS_A, i == 0);
		write_slot(&f, 4, 1);
		((unsigned char *)r.base)[offs[i]] ^= 0x10;
		region_remap(&r);
		if (offs[i] < 8) {
			/* the magic gone, the slot's payload left: not kvtier's any more */
			CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, false, persist_msync, NULL,
					       &formatted, err, sizeof(err)), -EEXIST);
			CHECK_HAS(err, "not kvtier's");
			CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, true, persist_msync, NULL,
					       &formatted, err, sizeof(err)), 0);
			CHECK(formatted);
		} else {
			/* the magic kept, the checksum failing: kvtier's, formatted again */
			attach_ok(&f, &r, &g, &NS_A, true);
		}
		daxfmt_inspect(&f, NULL, NULL, &st);
		CHECK_EQ(st.free, g.nslots);
	}
	region_close(&r);
}

/* ---- torn and corrupt slots */

/* Writes slots 0..3, corrupts slot 2 with @corrupt, then scans twice. */
static void expect_torn(void (*corrupt)(struct daxfmt *f, uint32_t slot, int arg), int arg)
{
	static struct region r;
	static struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	static struct seen s;

	if (!r.base) {
		region_create(&r, 256 << 10);
		geometry(&g, r.bytes, 4096);
	}
	region_wipe(&r);
	attach_ok(&f, &r, &g, &NS_A, true);
	for (uint32_t slot = 0; slot < 4; slot++)
		write_slot(&f, slot, 10 + slot);
	corrupt(&f, 2, arg);
	region_remap(&r);
	attach_ok(&f, &r, &g, &NS_A, false);
	scan(&f, &s, &st);
	CHECK_EQ(st.torn, 1);
	CHECK_EQ(st.recovered, 3);
	CHECK(!s.valid[2]);
	/* repaired: the slot is FREE now, and stays so */
	region_remap(&r);
	attach_ok(&f, &r, &g, &NS_A, false);
	scan(&f, &s, &st);
	CHECK_EQ(st.torn, 0);
	CHECK_EQ(st.recovered, 3);
	CHECK_EQ(st.free, g.nslots - 3);
}

static void flip_header_byte(struct daxfmt *f, uint32_t slot, int byte)
{
	((unsigned char *)raw_hdr(f, slot))[byte] ^= 0x01;
}

TEST(flipped_header_byte_discarded)
{
	for (int byte = 0; byte < (int)DAXFMT_HEADER_BYTES; byte++)
		expect_torn(flip_header_byte, byte);
}

static void flip_payload_bit(struct daxfmt *f, uint32_t slot, int where)
{
	uint32_t len = pattern_len(f, slot, 10 + slot);
	unsigned char *p = daxfmt_slot(f, slot);

	p[where == 0 ? 0 : where == 1 ? len / 2 : len - 1] ^= 0x80;
}

TEST(flipped_payload_bit_discarded)
{
	for (int where = 0; where < 3; where++)
		expect_torn(flip_payload_bit, where);
}

static void leave_writing(struct daxfmt *f, uint32_t slot, int arg)
{
	daxfmt_begin_write(f, slot, 99);
	if (arg)	/* the whole new payload, but no commit */
		pattern_fill(daxfmt_slot(f, slot), pattern_len(f, slot, 99), slot, 99);
}

TEST(writing_left_behind_discarded)
{
	expect_torn(leave_writing, 0);
	expect_torn(leave_writing, 1);
}

static void reseal_with(struct daxfmt *f, uint32_t slot, int what)
{
	struct daxfmt_hdr *h = raw_hdr(f, slot);

	switch (what) {
	case 0:
		h->len = (uint32_t)f->g.slot_bytes + 1;
		break;
	case 1:
		h->len = UINT32_MAX;
		break;
	case 2:
		h->state = 0;
		break;
	case 3:
		h->state = 9;
		break;
	case 4:
		h->version = 2;
		break;
	}
	raw_reseal(h, slot);
}

TEST(sealed_header_with_bad_field_discarded)
{
	for (int what = 0; what < 5; what++)
		expect_torn(reseal_with, what);
}

static void copy_header_from_slot_1(struct daxfmt *f, uint32_t slot, int arg)
{
	/* the payload matches too: only the slot seed tells them apart */
	memcpy(raw_hdr(f, slot), raw_hdr(f, 1), DAXFMT_HEADER_BYTES);
	memcpy(daxfmt_slot(f, slot), daxfmt_slot(f, 1), pattern_len(f, 1, 11));
}

TEST(header_in_wrong_slot_discarded)
{
	expect_torn(copy_header_from_slot_1, 0);
}

/*
 * Every mix, at 8-byte granularity, of a header and the one that replaces
 * it is either exactly one of them or fails the checks.
 */
TEST(torn_header_store_never_validates)
{
	enum { C_FREE, C_VALID, C_TORN };
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	static struct seen s;
	const uint32_t slot = 3;
	unsigned char before[64], after[64], mix[64];

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	attach_ok(&f, &r, &g, &NS_A, true);
	for (int step = 0; step < 6; step++) {
		int cls_before, cls_after;

		memcpy(before, raw_hdr(&f, slot), 64);
		switch (step) {
		case 0:		/* zero (formatted) -> WRITING */
			daxfmt_begin_write(&f, slot, 1);
			pattern_fill(daxfmt_slot(&f, slot), pattern_len(&f, slot, 1), slot, 1);
			break;
		case 1:		/* WRITING -> VALID */
			daxfmt_commit(&f, slot, &(struct kvt_key){ slot, 1 ^ KEY_HI_SALT },
				      pattern_len(&f, slot, 1), 1);
			break;
		case 2:		/* VALID -> WRITING of the next generation */
			daxfmt_begin_write(&f, slot, 2);
			break;
		case 3:		/* WRITING -> VALID */
			pattern_fill(daxfmt_slot(&f, slot), pattern_len(&f, slot, 2), slot, 2);
			daxfmt_commit(&f, slot, &(struct kvt_key){ slot, 2 ^ KEY_HI_SALT },
				      pattern_len(&f, slot, 2), 2);
			break;
		case 4:		/* VALID -> FREE */
			daxfmt_free(&f, slot);
			break;
		case 5:		/* FREE -> WRITING */
			daxfmt_begin_write(&f, slot, 3);
			break;
		}
		memcpy(after, raw_hdr(&f, slot), 64);
		cls_before = step == 0 || step == 5 ? C_FREE : step == 2 || step == 4 ? C_VALID
										   : C_TORN;
		cls_after = step == 1 || step == 3 ? C_VALID : step == 4 ? C_FREE : C_TORN;
		for (unsigned int mask = 0; mask < 256; mask++) {
			int want, got;

			for (int w = 0; w < 8; w++)
				memcpy(mix + 8 * w, (mask >> w & 1 ? after : before) + 8 * w, 8);
			memcpy(raw_hdr(&f, slot), mix, 64);
			memset(&s, 0, sizeof(s));
			s.f = &f;
			daxfmt_inspect(&f, seen_inspected, &s, &st);
			CHECK_EQ(s.bad, 0);
			got = st.recovered ? C_VALID : st.torn ? C_TORN : C_FREE;
			CHECK_EQ(st.recovered + st.torn + st.free, g.nslots);
			CHECK(st.recovered + st.torn <= 1);
			if (!memcmp(mix, before, 64))
				want = cls_before;
			else if (!memcmp(mix, after, 64))
				want = cls_after;
			else
				want = C_TORN;
			if (got != want)
				fprintf(stderr, "    step %d mask 0x%02x\n", step, mask);
			CHECK_EQ(got, want);
		}
		memcpy(raw_hdr(&f, slot), after, 64);
	}
	region_close(&r);
}

TEST(inspect_writes_nothing)
{
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st, st2;
	static struct seen s;
	uint64_t before;

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	attach_ok(&f, &r, &g, &NS_A, true);
	for (uint32_t slot = 0; slot < 8; slot++)
		write_slot(&f, slot, 1 + slot);
	daxfmt_begin_write(&f, 3, 50);				/* torn: WRITING */
	((unsigned char *)daxfmt_slot(&f, 5))[0] ^= 1;		/* torn: payload */
	flip_header_byte(&f, 6, 20);				/* torn: header */
	before = region_hash(&r);

	memset(&s, 0, sizeof(s));
	s.f = &f;
	daxfmt_inspect(&f, seen_inspected, &s, &st);
	CHECK_EQ(region_hash(&r), before);
	CHECK_EQ(st.recovered, 5);
	CHECK_EQ(st.torn, 3);
	CHECK_EQ(st.free, g.nslots - 8);
	CHECK_EQ(s.n, 8);
	CHECK_EQ(s.bad, 0);
	CHECK(!s.valid[3] && !s.valid[5] && !s.valid[6] && s.valid[7]);
	daxfmt_inspect(&f, NULL, NULL, &st2);
	CHECK_EQ(region_hash(&r), before);

	/* scan reports the same, then repairs */
	scan(&f, &s, &st2);
	CHECK_EQ(st2.recovered, st.recovered);
	CHECK_EQ(st2.torn, st.torn);
	CHECK(region_hash(&r) != before);
	region_close(&r);
}

/* ---- crashes with a real SIGKILL */

static pid_t fork_child(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	return pid;
}

static void wait_killed(pid_t pid)
{
	int status;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fprintf(stderr, "    child exited %d\n", WEXITSTATUS(status));
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGKILL);
}

/* In a child: map @r afresh and attach with persist killing at @kill_at. */
static void child_attach(struct daxfmt *f, struct region *r, const struct daxfmt_geometry *g,
			 const struct kvt_key *ns, bool reinit, struct child_ctx *c)
{
	r->base = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->base == MAP_FAILED)
		_exit(3);
	if (daxfmt_attach(f, r->base, g, ns, reinit, persist_msync, c, NULL, NULL, 0))
		_exit(4);
}

TEST(kill_mid_payload_is_torn)
{
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	static struct seen s;
	pid_t pid;

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	attach_ok(&f, &r, &g, &NS_A, true);
	pid = fork_child();
	if (pid == 0) {
		struct child_ctx c = { 0 };

		child_attach(&f, &r, &g, &NS_A, false, &c);
		write_slot(&f, 2, 1);
		write_slot(&f, 5, 1);
		daxfmt_begin_write(&f, 2, 2);
		pattern_fill(daxfmt_slot(&f, 2), pattern_len(&f, 2, 2) / 2, 2, 2);
		raise(SIGKILL);
		_exit(5);
	}
	wait_killed(pid);
	region_remap(&r);
	attach_ok(&f, &r, &g, &NS_A, false);
	scan(&f, &s, &st);
	CHECK_EQ(st.torn, 1);
	CHECK_EQ(st.recovered, 1);
	CHECK(!s.valid[2]);
	CHECK(s.valid[5] && s.gen[5] == 1);
	scan(&f, &s, &st);
	CHECK_EQ(st.torn, 0);
	CHECK_EQ(st.free, g.nslots - 1);
	region_close(&r);
}

/*
 * A write sequence killed right after each of its stores in turn: the scan
 * finds exactly the state those stores leave, with each slot old, new or
 * torn, and a torn slot never served.
 */
TEST(kill_at_every_persist_step)
{
	static const struct { bool write; uint32_t slot; uint64_t gen; } ops[] = {
		{ true, 0, 1 }, { true, 1, 1 }, { true, 0, 2 }, { false, 1, 0 },
		{ true, 1, 3 }, { true, 0, 4 }, { false, 0, 0 },
	};
	enum { S_FREE, S_VALID, S_TORN };
	const size_t nops = sizeof(ops) / sizeof(ops[0]);
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	static struct seen s;
	int ncalls = 0;

	for (size_t i = 0; i < nops; i++)
		ncalls += ops[i].write ? 3 : 1;
	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	for (int kill_at = 1; kill_at <= ncalls + 1; kill_at++) {
		int state[2] = { S_FREE, S_FREE }, call = 0;
		uint64_t gen[2] = { 0, 0 };
		pid_t pid;

		region_wipe(&r);
		attach_ok(&f, &r, &g, &NS_A, true);
		pid = fork_child();
		if (pid == 0) {
			struct child_ctx c = { .kill_at = kill_at };

			child_attach(&f, &r, &g, &NS_A, false, &c);
			for (size_t i = 0; i < nops; i++) {
				if (ops[i].write)
					write_slot(&f, ops[i].slot, ops[i].gen);
				else
					daxfmt_free(&f, ops[i].slot);
			}
			raise(SIGKILL);		/* kill_at == ncalls + 1: after the last */
			_exit(5);
		}
		wait_killed(pid);
		/* what the stores up to and including call kill_at leave */
		for (size_t i = 0; i < nops && call < kill_at; i++) {
			uint32_t sl = ops[i].slot;

			if (!ops[i].write) {
				call++;
				state[sl] = S_FREE;
				continue;
			}
			state[sl] = S_TORN;	/* WRITING stored, then the payload */
			call += 2;
			if (call < kill_at) {
				call++;
				state[sl] = S_VALID;
				gen[sl] = ops[i].gen;
			}
		}
		region_remap(&r);
		attach_ok(&f, &r, &g, &NS_A, false);
		scan(&f, &s, &st);
		for (uint32_t sl = 0; sl < 2; sl++) {
			if (state[sl] == S_VALID)
				CHECK(s.valid[sl] && s.gen[sl] == gen[sl]);
			else
				CHECK(!s.valid[sl]);
		}
		CHECK_EQ(st.torn, (state[0] == S_TORN) + (state[1] == S_TORN));
		CHECK_EQ(st.recovered, (state[0] == S_VALID) + (state[1] == S_VALID));
	}
	region_close(&r);
}

/*
 * A reformat for another namespace killed after each of its stores: the
 * old slots are never served, under either namespace.
 */
TEST(kill_during_reformat)
{
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	static struct seen s;
	char err[256];

	region_create(&r, 256 << 10);
	geometry(&g, r.bytes, 4096);
	for (int kill_at = 1; kill_at <= 3; kill_at++) {
		bool formatted;
		pid_t pid;

		region_wipe(&r);
		attach_ok(&f, &r, &g, &NS_A, true);
		for (uint32_t slot = 0; slot < 6; slot++)
			write_slot(&f, slot, 1);
		pid = fork_child();
		if (pid == 0) {
			struct child_ctx c = { .kill_at = kill_at };

			child_attach(&f, &r, &g, &NS_B, true, &c);
			_exit(5);
		}
		wait_killed(pid);
		region_remap(&r);
		/* the superblock is written last: before it, the region is not ours */
		CHECK_EQ(daxfmt_attach(&f, r.base, &g, &NS_A, false, persist_msync, NULL,
				       &formatted, err, sizeof(err)), kill_at < 3 ? 0 : -EEXIST);
		if (kill_at < 3) {
			CHECK(formatted);
		} else {
			attach_ok(&f, &r, &g, &NS_B, false);
		}
		scan(&f, &s, &st);
		CHECK_EQ(st.free, g.nslots);
	}
	region_close(&r);
}

/* In a child: write random slots with the full protocol until killed. */
static void __attribute__((noreturn))
crash_child(struct region *r, const struct daxfmt_geometry *g, int round, int ready_fd)
{
	struct child_ctx c = { 0 };
	struct daxfmt f;
	uint64_t rng = mix64((uint64_t)round * 7919 + (uint64_t)getpid());
	uint64_t gen = ((uint64_t)round + 1) << 32;
	char one = 1;

	child_attach(&f, r, g, &NS_A, false, &c);
	/* odd rounds persist with msync, even rounds with nothing but fences */
	if (round % 2 == 0)
		f.persist = NULL;
	if (write(ready_fd, &one, 1) != 1)
		_exit(6);
	for (;;) {
		uint32_t slot;

		rng = mix64(rng);
		slot = (uint32_t)(rng % g->nslots);
		if ((rng >> 40) % 16 == 0)
			daxfmt_free(&f, slot);
		else
			write_slot(&f, slot, ++gen);
	}
}

TEST(kill9_random_moments_never_serves_torn)
{
	enum { ROUNDS = 50 };
	struct region r;
	struct daxfmt_geometry g;
	struct daxfmt f;
	struct daxfmt_scan_stats st;
	static struct seen s;
	static uint64_t last_gen[MAX_SLOTS];
	unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	int torn_rounds = 0, fds[2];

	fprintf(stderr, "    seed %u\n", seed);
	srand(seed);
	region_create(&r, 2 << 20);
	geometry(&g, r.bytes, 64 << 10);
	CHECK(g.nslots <= MAX_SLOTS);
	attach_ok(&f, &r, &g, &NS_A, true);
	CHECK_EQ(pipe(fds), 0);
	for (int round = 0; round < ROUNDS; round++) {
		char ready;
		pid_t pid = fork_child();

		if (pid == 0) {
			close(fds[0]);
			crash_child(&r, &g, round, fds[1]);
		}
		CHECK_EQ(read(fds[0], &ready, 1), 1);
		usleep((useconds_t)(rand() % 5000));
		CHECK_EQ(kill(pid, SIGKILL), 0);
		wait_killed(pid);

		region_remap(&r);
		attach_ok(&f, &r, &g, &NS_A, false);
		scan(&f, &s, &st);
		/* one writer: at most the one slot it was writing is torn */
		CHECK(st.torn <= 1);
		torn_rounds += st.torn;
		for (uint32_t slot = 0; slot < g.nslots; slot++) {
			if (!s.valid[slot])
				continue;
			/* never an older generation than one already recovered */
			CHECK(s.gen[slot] >= last_gen[slot]);
			last_gen[slot] = s.gen[slot];
		}
	}
	fprintf(stderr, "    %d rounds, %d left a torn slot\n", ROUNDS, torn_rounds);
	close(fds[0]);
	close(fds[1]);
	region_close(&r);
}
