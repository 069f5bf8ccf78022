/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/stress.h - what the files of kvtier-stress share.
 *
 * main.c parses options, opens the instance (L1 only, with a DAX tier on
 * a device or an emulating tmpfs file, or with the fs L2 adapter on a
 * directory), runs the workers until the deadline and checks the
 * accounting (and, with DAX or fs, opens the tier again and checks what it
 * kept); worker.c is one thread's loop of mixed operations; payload.c makes
 * and verifies chunk contents; fs.c is the fs tier's directory, the thread
 * that corrupts its files, and the checks of what is on disk; resp.c is the
 * resp tier's Redis Cluster (started by the harness unless --resp-url), the
 * thread that corrupts its values and pauses a master, and the look at what
 * Redis holds.
 *
 * Threads: struct stress is written by the main thread before the workers
 * start and read-only afterwards, except the fields tagged [atomic] and
 * struct fs_fault (the corruption thread's, fs or resp, until main joins it).  Each
 * struct worker belongs to its thread; main reads its [atomic] counters for
 * progress and everything else only after joining it.
 */
#ifndef KVT_TOOLS_STRESS_H
#define KVT_TOOLS_STRESS_H

#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kvtier.h"

#define STRESS_MAX_BATCH 8
#define STRESS_MAX_THREADS 256
#define PAYLOAD_HDR 16 /* u64 version, u64 key id */
#define PUT_TRACKS 256 /* puts a worker may have with callbacks still owed */

enum stress_tier {
	TIER_L1,          /* L1 DRAM only */
	TIER_DAX_TIERED,  /* L1 in front of DAX, write-through on the DAX writer */
	TIER_DAX_PRIMARY, /* DAX slots only (local_cpu: false) */
	TIER_FS_CACHE,    /* L1 cache in front of the fs L2 adapter, write-through */
	TIER_FS_STAGING,  /* fs only; L1 just stages its writes (use_only_staging_buffer) */
	TIER_RESP,        /* L1 cache in front of the resp L2 adapter (Redis Cluster) */
};

static inline bool tier_is_fs(enum stress_tier t)
{
	return t == TIER_FS_CACHE || t == TIER_FS_STAGING;
}

enum stress_op {
	OP_PUT,
	OP_GET,
	OP_CONTAINS,
	OP_PIN,
	OP_REMOVE,
	OP_BORROW,
	OP_RESERVE,
	OP_PREFETCH,
	OP_FLUSH,
	OP_N,
};

extern const char *const stress_op_names[OP_N];

/* Per op type, bumped by the owning worker, read by main for progress. */
struct op_stats {
	_Atomic uint64_t ops;      /* calls made */
	_Atomic uint64_t keys;     /* keys those calls named */
	_Atomic uint64_t hits;     /* keys stored, found, pinned or removed */
	_Atomic uint64_t pressure; /* -ENOSPC / -ETIMEDOUT: expected under load */
	_Atomic uint64_t errors;   /* unexpected codes and broken contracts */
};

/*
 * Per-thread totals the end-of-run accounting compares with kvt_stats().
 * Owner-only while running; main reads them after the join.
 */
struct worker_acct {
	uint64_t pins;            /* sum of kvt_contains(KVT_PIN) returns */
	uint64_t unpin_keys;      /* keys passed to kvt_unpin() */
	uint64_t unpins;          /* sum of kvt_unpin() returns */
	uint64_t put_stored;      /* kvt_put() results 0 */
	uint64_t put_dups;        /* kvt_put() results 1 */
	uint64_t put_errors;      /* kvt_put() negative results */
	uint64_t put_timeouts;    /* of those, -ETIMEDOUT (a full fs staging area) */
	uint64_t commits;         /* kvt_commit() returned 0 */
	uint64_t removes;         /* sum of kvt_remove() returns */
	uint64_t remove_refused;  /* -EBUSY results of kvt_remove() */
	uint64_t prefetch_posted; /* kvt_prefetch() returned 0 */
	uint64_t prefetch_failed; /* kvt_prefetch() -ETIMEDOUT (counted by kvtier) */
	uint64_t pins_lost;       /* a pinned key was not refused: pin stolen or expired */
	uint64_t cross_removes;   /* removes of a key another thread held borrowed */
	uint64_t cb_fired;        /* put callbacks that fired */
	uint64_t cb_missing;      /* stored keys whose callback never fired (DAX/L2 write failed) */
	uint64_t track_flushes;   /* kvt_flush() calls made to settle put callbacks */
	uint64_t reads;           /* keys kvtier served: get and prefetch hits, borrows */
	uint64_t read_bytes;      /* bytes those gets and prefetches copied out */
	uint64_t misses;          /* keys gets and prefetches asked for and were not served */
	uint64_t prefetch_misses; /* of those, of prefetches */
	uint64_t short_prefetches; /* prefetches whose prefix ended before their last key */
};

/*
 * One kvt_put() whose callbacks may still fire.  In DAX tiered mode and
 * with fs they fire on the DAX writer or the L2 completion actor after
 * kvt_put() returned, so the state they write lives here, not on the
 * caller's stack, until a kvt_flush() made after the put returned: then
 * every callback has fired or never will (put_track_settle).
 * The fields the callback only reads are written before kvt_put() (ordered
 * by the mailbox post) and rewritten only after that flush.
 */
struct put_track {
	struct kvt_key keys[STRESS_MAX_BATCH];
	size_t n;
	pthread_t caller;
	uint32_t want;               /* results 0: a callback is owed for each */
	bool pending;                /* owner only: not settled yet */
	_Atomic uint32_t fired;      /* [atomic] bit per index */
	_Atomic uint32_t twice;      /* [atomic] bits that fired more than once */
	_Atomic uint32_t bad_key;    /* [atomic] a wrong key or index */
	_Atomic uint32_t on_caller;  /* [atomic] callbacks on the calling thread */
	_Atomic uint32_t off_caller; /* [atomic] callbacks on another thread */
};

/* Completion of this worker's one outstanding prefetch. */
struct prefetch_wait {
	_Atomic uint32_t done;  /* futex word: 0 waiting, 1 fired */
	_Atomic uint32_t fired; /* callbacks seen, to catch a second one */
	uint64_t ticket;        /* written by the callback before done */
	ssize_t hits;
};

/*
 * A key a borrower offers for removal while it holds the lease:
 * 0 none, id + 1 offered, BORROW_CLAIMED taken by a remover,
 * BORROW_DONE the remover's kvt_remove() returned.
 */
#define BORROW_CLAIMED (UINT64_MAX - 1)
#define BORROW_DONE UINT64_MAX

struct worker {
	struct stress *s;
	unsigned int idx;
	pthread_t thread;
	uint64_t rng;
	unsigned char *put_buf; /* STRESS_MAX_BATCH chunks each */
	unsigned char *get_buf;
	unsigned char *pf_buf;
	struct op_stats op[OP_N];  /* [atomic] */
	_Atomic int cur_op;        /* [atomic] op running now, -1 idle */
	alignas(64) _Atomic uint64_t offer; /* [atomic] see BORROW_* */
	struct prefetch_wait pf;   /* [atomic] done/fired; rest via done */
	struct put_track *tracks;  /* PUT_TRACKS, used round robin */
	unsigned int next_track;
	struct worker_acct acct;
};

struct stress_opts {
	unsigned int threads;
	unsigned int seconds;
	uint64_t keys;       /* 0: 4 x L1 slots */
	unsigned int capacity_mb;
	unsigned int chunk_kb;
	unsigned int pin_ttl_ms;
	uint64_t seed;
	enum stress_tier tier;
	bool capacity_set;   /* --capacity-mb given */
	unsigned int dax_mb; /* DAX arena in MiB */
	const char *dax_path; /* NULL: a fresh file in /dev/shm, removed at exit */
	const char *fs_dir;  /* NULL: a fresh directory in /var/tmp, removed at exit */
	const char *resp_url; /* NULL: a 3-master Redis Cluster of our own, stopped at exit */
	bool resp_cluster;   /* --resp-url names a Redis Cluster */
	unsigned int resp_timeout_ms; /* the adapter's timeout_ms */
	unsigned int pause_ms; /* resp: a master SIGSTOPped this long every few s; 0 never */
	unsigned int fs_mb;  /* fs capacity (max_capacity_gb) in MiB; 0 unbounded */
	bool fs_mb_set;      /* --fs-mb given */
	uint32_t fault_ppm;  /* fs: fault_eio_ppm, store and load I/Os failed per million */
	unsigned int corrupt_ms; /* fs, resp: a chunk corrupted every this many ms; 0 never */
	bool json;
	bool verbose;
};

/* What the corruption thread does to a chunk file (fs.c) or value (resp.c). */
enum corrupt_kind {
	CORRUPT_PAYLOAD,  /* one payload byte flipped in place (resp: GETRANGE, SETRANGE) */
	CORRUPT_HEADER,   /* one header byte flipped in place */
	CORRUPT_TRUNCATE, /* cut short (resp: SET of a prefix of the value) */
	CORRUPT_GARBAGE,  /* replaced (fs: rename; resp: SET) by random bytes, a chunk file
			   * long at most */
	CORRUPT_FOREIGN,  /* replaced by a copy of another key's chunk file or value */
	CORRUPT_N,
};

/* The content a corrupted chunk file was left with: XXH3-64 of its bytes. */
struct fs_mark {
	uint64_t id;
	uint64_t hash;
};

/*
 * The corruption thread.  marks, nmarks, cap and rng are the thread's
 * until main joins it, then main's; injected is [atomic] for progress.
 */
struct fs_fault {
	pthread_t thread;
	bool running;
	uint64_t rng;
	unsigned char *buf;             /* a whole chunk file: header + chunk */
	struct fs_mark *marks;
	size_t nmarks, cap;
	bool lost_mark;                 /* a mark could not be kept: no end check */
	_Atomic uint64_t injected[CORRUPT_N]; /* [atomic] */
	_Atomic uint64_t pauses;        /* [atomic] resp: masters SIGSTOPped and resumed */
};

struct stress {
	struct stress_opts o;
	struct kvt *kvt;
	struct kvt_config *cfg;         /* kept to reopen the DAX device or fs directory */
	size_t chunk;                   /* kvt_chunk_bytes() */
	unsigned int ntiers;            /* tiers a key may have a copy in */
	bool async_cb;                  /* put callbacks fire on the DAX writer or L2 actor */
	bool fs;                        /* the fs L2 tier: tier_is_fs(o.tier) */
	bool resp;                      /* the resp L2 tier: o.tier == TIER_RESP */
	bool l2;                        /* an L2 adapter, fs or resp */
	char resp_url[512];             /* resp: the adapter's url */
	bool resp_cluster;              /* resp: the adapter's cluster */
	char resp_prefix[64];           /* resp: this run's key prefix */
	char fs_dir[PATH_MAX];          /* fs: the adapter's base_path */
	uint32_t nkeys;
	_Atomic uint64_t *next_version; /* [atomic] per key: last version handed out */
	_Atomic uint64_t *pin_started;  /* [atomic] per key: pins a session may take */
	_Atomic uint64_t *pin_finished; /* [atomic] per key: the same, once unpinned */
	struct worker *w;
	_Atomic uint32_t stop;          /* [atomic] the deadline passed */
	_Atomic uint64_t corruptions;   /* [atomic] */
	_Atomic uint64_t failures;      /* [atomic] unexpected codes, broken contracts */
	_Atomic uint64_t reports;       /* [atomic] detailed messages printed */
	_Atomic uint64_t evfd_total;    /* [atomic] sum read from kvt_event_fd() */
	_Atomic uint64_t removed_pin_bound; /* [atomic] pins a forced remove may have dropped */
	struct fs_fault fault;          /* fs: the corruption thread */
};

/* ---- payload.c ---- */

struct kvt_key stress_key(uint64_t id);

/* Bytes of version @v of key @id: a function of both, in [PAYLOAD_HDR, chunk]. */
size_t stress_len(const struct stress *s, uint64_t id, uint64_t v);

/* Write version @v of key @id, stress_len() bytes, into @buf. */
void payload_fill(const struct stress *s, void *buf, uint64_t id, uint64_t v);

/*
 * payload_check() - verify @len bytes read for key @id.
 * @what: the operation, for the message.
 *
 * The header names the key id and version; every byte must match that
 * (key, version), the version must have been handed out, and @len must be
 * the length of that version.  A mismatch is counted as a corruption and
 * described on stderr.
 * Return: true if the bytes are valid.
 */
bool payload_check(struct stress *s, const char *what, const void *buf, size_t len,
		   uint64_t id);

/* ---- worker.c ---- */

void *worker_main(void *arg);

/*
 * put_track_settle() - check the callbacks @t saw, once none can still
 * fire (after a kvt_flush() made after its put returned), and count them in
 * @w->acct.  Threads: @w's owner, or main after the join.
 */
void put_track_settle(struct worker *w, struct put_track *t);

/*
 * stress_fail() - count an unexpected result and describe it on stderr
 * (the first few dozen only).  Threads: any.
 */
void stress_fail(struct stress *s, struct worker *w, enum stress_op op, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Print one detailed message unless the limit was reached.  Threads: any. */
void stress_report(struct stress *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add what a read of kvt_event_fd() returns to evfd_total.  Threads: any. */
void stress_drain_event_fd(struct stress *s);

/* ---- fs.c ---- */

/* What an end-of-run look at the fs directory found (fs_scan). */
struct fs_scan {
	uint8_t *state;         /* per key id: enum fs_file */
	uint64_t files;         /* chunk files of keys in the keyspace */
	uint64_t intact;        /* of those, not left as the corruption thread made them */
	uint64_t corrupt;       /* still holding bytes the corruption thread wrote */
	uint64_t corrupt_seen;  /* of those, long enough (a header) for a lookup to see */
	uint64_t stray;         /* anything else: temp, foreign or misnamed files */
};

/* What a key's chunk file holds. */
enum fs_file {
	FS_ABSENT,
	FS_INTACT,        /* what the adapter wrote (if it wrote it right) */
	FS_CORRUPT,       /* what the corruption thread left; a lookup sees it */
	FS_CORRUPT_SHORT, /* the same, shorter than a header: a lookup misses it */
};

/* Facts of the fs or resp adapter's status report (kvt_l2_report, detail). */
struct fs_status {
	bool found;             /* an fs (resp) adapter answered */
	bool healthy;
	uint64_t chunks, bytes_used, errors;
	uint64_t corrupt_removed, evictions;
	/* resp only */
	uint64_t nodes, nodes_up, round_trips, redirections, map_refreshes, refused;
	uint64_t reconnects, corrupt;
};

/*
 * fs_prepare_dir() - s->fs_dir: --fs-dir (created 0700 if absent; it must
 * hold nothing, as the keys of an earlier run would read as versions never
 * written), or a fresh mkdtemp() directory under /var/tmp that
 * fs_remove_dir() removes.  Return: 0, or -errno with a message.
 */
int fs_prepare_dir(struct stress *s);

/* Remove the directory fs_prepare_dir() made, if it made one.  Threads:
 * main; async-signal-safe, so the signal handlers call it too. */
void fs_remove_dir(void);

/* The adapter's JSON object, with fault_eio_ppm @ppm, into @out. */
int fs_adapter_json(const struct stress *s, uint32_t ppm, char *out, size_t len);

/* fs_status() - the fs adapter's report, or with --tier resp the resp
 * adapter's.  Threads: any (never blocks). */
void fs_status(struct kvt *kvt, struct fs_status *out);

/* Start and stop (join) the corruption thread; start does nothing when
 * --corrupt-ms is 0.  It stops once s->stop is set.  Return: 0, or -errno
 * with a message. */
int fs_fault_start(struct stress *s);
void fs_fault_stop(struct stress *s);

/* Files corrupted so far.  Threads: any. */
uint64_t fs_injected(struct stress *s);

/*
 * fs_scan() - classify every file of the directory, while no corruption
 * thread runs and kvtier is quiet (after kvt_flush) or closed.
 * Return: 0, or -errno (also when a mark was lost: a corrupted file could
 * pass for intact).  fs_scan_free() frees @sc->state either way.
 */
int fs_scan(struct stress *s, struct fs_scan *sc);
void fs_scan_free(struct fs_scan *sc);

/* Free what the corruption thread kept. */
void fs_fault_free(struct stress *s);

/* Remove the directory tree @dir (3 levels deep at most).  Only system
 * calls: async-signal-safe. */
void fs_rm_tree(const char *dir);

/* ---- resp.c ---- */

/*
 * resp_prepare() - where the resp tier lives: --resp-url, or a Redis
 * Cluster of 3 masters that it starts (free loopback ports, a fresh
 * directory under /tmp; resp_stop() stops them).  Sets s->resp_url,
 * s->resp_cluster and s->resp_prefix (this run's own key prefix, from the
 * seed).  Return: 0, or -errno with a message.
 */
int resp_prepare(struct stress *s);

/* Stop the servers resp_prepare() started and remove their directory.
 * resp_stop_signal(): the same, async-signal-safe, for the handlers. */
void resp_stop(void);
void resp_stop_signal(void);

/* The adapter's JSON object into @out. */
int resp_adapter_json(const struct stress *s, char *out, size_t len);

/* Start the thread that corrupts values every --corrupt-ms and pauses a
 * master every few seconds (--resp-pause-ms); it stops once s->stop is set
 * (every paused master resumed).  fs_fault_stop() joins it.
 * Return: 0, or -errno with a message. */
int resp_fault_start(struct stress *s);

/*
 * resp_wait_healthy() - after the run: wait (at most @wait_s seconds) until
 * the adapter reports every master up again (a pause may have left one in
 * its reconnect backoff).  Return: true if it did.
 */
bool resp_wait_healthy(struct stress *s, int wait_s);

/*
 * resp_scan() - classify the value of every key of the keyspace, as
 * fs_scan() does files: absent, intact (the header, the key and the
 * checksum hold: what the adapter wrote), or corrupt (seen by a lookup when
 * at least a header long).  While no corruption thread runs.
 * Return: 0, or -errno when Redis could not be read.
 */
int resp_scan(struct stress *s, struct fs_scan *sc);

#endif /* KVT_TOOLS_STRESS_H */
