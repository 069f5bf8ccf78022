/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/stress.h - what the files of kvtier-stress share.
 *
 * main.c parses options, opens the instance (L1 only, or with a DAX tier on
 * a device or an emulating tmpfs file), runs the workers until the deadline
 * and checks the accounting (and, with DAX, reopens the device and checks
 * what it recovered); worker.c is one thread's loop of mixed operations;
 * payload.c makes and verifies chunk contents.
 *
 * Threads: struct stress is written by the main thread before the workers
 * start and read-only afterwards, except the fields tagged [atomic].  Each
 * struct worker belongs to its thread; main reads its [atomic] counters for
 * progress and everything else only after joining it.
 */
#ifndef KVT_TOOLS_STRESS_H
#define KVT_TOOLS_STRESS_H

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
};

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
	uint64_t commits;         /* kvt_commit() returned 0 */
	uint64_t removes;         /* sum of kvt_remove() returns */
	uint64_t remove_refused;  /* -EBUSY results of kvt_remove() */
	uint64_t prefetch_posted; /* kvt_prefetch() returned 0 */
	uint64_t prefetch_failed; /* kvt_prefetch() -ETIMEDOUT (counted by kvtier) */
	uint64_t pins_lost;       /* a pinned key was not refused: pin stolen or expired */
	uint64_t cross_removes;   /* removes of a key another thread held borrowed */
	uint64_t cb_fired;        /* put callbacks that fired */
	uint64_t cb_missing;      /* stored keys whose callback never fired (DAX write failed) */
	uint64_t track_flushes;   /* kvt_flush() calls made to settle put callbacks */
};

/*
 * One kvt_put() whose callbacks may still fire.  In tiered mode they fire
 * on the DAX writer after kvt_put() returned, so the state they write lives
 * here, not on the caller's stack, until a kvt_flush() made after the put
 * returned: then every callback has fired or never will (put_track_settle).
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
	bool json;
	bool verbose;
};

struct stress {
	struct stress_opts o;
	struct kvt *kvt;
	struct kvt_config *cfg;         /* kept to reopen the DAX device */
	size_t chunk;                   /* kvt_chunk_bytes() */
	unsigned int ntiers;            /* tiers a key may have a copy in */
	bool async_cb;                  /* put callbacks fire on the DAX writer */
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

#endif /* KVT_TOOLS_STRESS_H */
