/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/pool_shidx.h - kvtier-poold's shared index: its key registry
 * published in shared memory, written by the daemon's index actor only and
 * read lock-free by engine processes, so a lookup needs no RPC.  A kvtier
 * extension beside Maru's protocol: Maru's clients never see it.
 *
 * Layout (one memfd, native byte order, same-architecture readers only):
 *	[0, 4096)   struct shidx_hdr
 *	[4096, ..)  nslots struct shidx_entry, 64 bytes each (one cache line)
 * An entry is an open-addressing slot (linear probing from XXH3 of the
 * 128-bit key) with its own sequence counter: a seqlock.  The writer makes
 * seq odd, writes the words, makes it even (release); a reader loads seq
 * (acquire), copies the words, loads seq again after an acquire fence and
 * retries when it was odd or moved, so it never returns a torn entry and
 * never blocks the writer.  Every word is an atomic accessed relaxed, so
 * the copy is no data race in C11 terms.  This is not a version of a
 * library's hash table or RCU: it is a cross-process layout in shared
 * memory, which neither liburcu nor Concurrency Kit provides.
 *
 * Only keys that are 32 lower-case hex digits (the pool adapter's names,
 * lo then hi, see l2/fschunk.h) have a 128-bit form and are published;
 * no other key can be asked for by 128-bit key, so the table is complete
 * without them.  Deletes leave tombstones, which count toward the fill
 * bound (3/4 of the slots): when a key finds the bound reached and at
 * least SHIDX_REBUILD_TOMBS of the slots are tombstones, the writer
 * rebuilds the table in place (every live key inserted again, no
 * tombstone left) with the header's epoch odd; a reader that probed while
 * the epoch was odd or moved answers a miss as UNKNOWN, since keys were
 * moving under it (a hit is still a whole entry of a live key: only the
 * writer deletes, and it is busy rebuilding).  A table that still cannot
 * take a key sets SHIDX_INCOMPLETE: from then on a miss proves nothing
 * and readers ask the RPC, until every key it could not take is deleted.
 * SHIDX_CLOSED: the daemon stopped; the table answers nothing.
 *
 * Hosts without hardware coherence: a reader created with @flush evicts
 * an entry's line (clflush, then mfence) before each read attempt, so it
 * reads memory rather than a stale copy; a writer with @flush writes the
 * line back after each change.  An entry is one aligned line, so a reader
 * gets it from one line fill and the seq check still catches a write-back
 * of a half-written line (seq odd).
 *
 * Threads: readers any, concurrently, in any process; one writer.
 */
#ifndef KVT_PROTO_MARU_POOL_SHIDX_H
#define KVT_PROTO_MARU_POOL_SHIDX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHIDX_MAGIC 0x584449485354564bull   /* "KVTSHIDX" little-endian */
#define SHIDX_VERSION 2u   /* 2: the rebuild epoch */
#define SHIDX_HDR_BYTES 4096u
#define SHIDX_MIN_SLOTS 64u
#define SHIDX_MAX_SLOTS (1ull << 30)
#define SHIDX_DEFAULT_SLOTS (1ull << 20)
/* a reader gives up on an entry whose seq stays odd this many tries: its
 * writer died mid-write, so the answer is "ask the RPC", never a hang */
#define SHIDX_READ_TRIES 4096u
/* tombstones worth a rebuild, as a fraction of the slots: a rebuild reads
 * and rewrites the whole table, so it must free a good share of it */
#define SHIDX_REBUILD_TOMBS(nslots) ((nslots) / 16)

enum {
	SHIDX_INCOMPLETE = 1u << 0,
	SHIDX_CLOSED = 1u << 1,
};

/* flags sits in the line readers load; the counters the writer bumps on
 * every change sit in the next, so readers do not miss on them. */
struct shidx_hdr {
	uint64_t magic, version, nslots, entry_bytes;  /* [immutable] */
	_Atomic uint64_t flags;                        /* SHIDX_* */
	_Atomic uint64_t epoch;                        /* odd: a rebuild is moving keys */
	_Atomic uint64_t live __attribute__((aligned(64))); /* writer only, below too */
	_Atomic uint64_t tombs;
	_Atomic uint64_t refused;                      /* keys it could not take */
	_Atomic uint64_t writes;                       /* entry writes, all kinds */
	_Atomic uint64_t rebuilds;                     /* tombstones cleared */
};

enum { SHIDX_EMPTY = 0, SHIDX_LIVE = 1, SHIDX_TOMB = 2 };

struct shidx_entry {
	_Atomic uint64_t seq;
	_Atomic uint64_t state;
	_Atomic uint64_t lo, hi;
	_Atomic uint64_t region_id, kv_offset, kv_length;
	_Atomic uint64_t spare;
} __attribute__((aligned(64)));

/* Where a key lives, as the table says. */
struct shidx_loc {
	uint64_t region_id, kv_offset, kv_length;
};

struct shidx {
	struct shidx_hdr *hdr;
	struct shidx_entry *e;
	uint64_t mask;          /* nslots - 1 */
	uint64_t max_fill;      /* writer: live + tombs bound (3/4 of nslots) */
	uint64_t unpublished;   /* writer: live keys it could not take */
	size_t maplen;
	int fd;                 /* writer: the memfd; reader: -1 */
	bool flush;
};

enum shidx_answer { SHIDX_MISS = 0, SHIDX_HIT = 1, SHIDX_UNKNOWN = 2 };

/*
 * shidx_create() - the writer's table: a memfd of @nslots (a power of two,
 * SHIDX_MIN_SLOTS..SHIDX_MAX_SLOTS) entries, sealed against resizing, mapped
 * read-write.  @flush: write lines back after each change (non-coherent
 * readers).  Return: 0, -EINVAL (@nslots), -EOPNOTSUPP (@flush off x86), or
 * -errno.  Threads: any, once.
 */
int shidx_create(struct shidx *x, uint64_t nslots, bool flush);

/* Mark the table closed and unmap it.  Readers' mappings stay valid. */
void shidx_destroy(struct shidx *x);

/* An fd for a reader: the memfd opened again read-only (O_CLOEXEC), so a
 * reader can map it only read-only.  Return: the fd or -errno. */
int shidx_reader_fd(const struct shidx *x);

/*
 * shidx_attach() - map the table behind @fd read-only and check its header.
 * @flush: evict each entry's line before reading it (coherent=false).
 * @fd stays the caller's.  Return: 0, -EBADMSG (not a table of this
 * version or size), -EOPNOTSUPP (@flush off x86), -errno.
 */
int shidx_attach(struct shidx *x, int fd, bool flush);
void shidx_detach(struct shidx *x);

/*
 * shidx_fetch() - GET_INDEX over the RM Unix socket @rm_path, bounded by
 * @timeout_ms per step, and shidx_attach() of the fd it passes.
 * Return: 0, -EPROTO (the server does not publish one: Maru's), -errno.
 */
int shidx_fetch(struct shidx *x, const char *rm_path, uint32_t timeout_ms, bool flush);

/*
 * shidx_prefetch() - start loading the line where a lookup of @lo:@hi
 * begins, so lookups of a batch overlap their memory misses (each is one
 * line of a table far larger than the caches): prefetch a few keys ahead
 * of the one looked up.  Nothing with @flush (the lookup evicts the line
 * first anyway).  Threads: any.  Blocks: never.
 */
void shidx_prefetch(const struct shidx *x, uint64_t lo, uint64_t hi);

/* How far ahead a batch prefetches: enough lines in flight to cover a
 * memory miss with the lookups in between. */
#define SHIDX_AHEAD 8

/*
 * shidx_lookup() - read @lo:@hi.  HIT fills @out with an entry that was
 * the key's, whole, at one instant during the call; MISS: the key was
 * absent at one instant during the call; UNKNOWN: the table cannot say
 * (incomplete, closed, or an entry stuck mid-write): ask the RPC.
 * Threads: any.  Blocks: never (bounded retries).
 */
enum shidx_answer shidx_lookup(const struct shidx *x, uint64_t lo, uint64_t hi,
			       struct shidx_loc *out);

/* Writer side.  shidx_publish(): add or replace @lo:@hi.  Return: 0, or
 * -ENOSPC: not taken, the table is now SHIDX_INCOMPLETE. */
int shidx_publish(struct shidx *x, uint64_t lo, uint64_t hi, const struct shidx_loc *loc);
/* Remove @lo:@hi.  Return: true if it was there. */
bool shidx_unpublish(struct shidx *x, uint64_t lo, uint64_t hi);
/* A key shidx_publish() refused was deleted: the table is complete again
 * once none is left. */
void shidx_refused_gone(struct shidx *x);

/* @s (exactly 32 lower-case hex digits, lo then hi) to a 128-bit key.
 * Return: true if it has that form. */
bool shidx_key_parse(const uint8_t *s, uint32_t len, uint64_t *lo, uint64_t *hi);

#endif /* KVT_PROTO_MARU_POOL_SHIDX_H */
