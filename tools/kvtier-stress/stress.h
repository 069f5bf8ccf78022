/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/stress.h - what the files of kvtier-stress share.
 *
 * main.c parses options, opens the instance, runs the workers until the
 * deadline and checks the accounting; worker.c is one thread's loop of
 * mixed operations; payload.c makes and verifies chunk contents.
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
	bool json;
	bool verbose;
};

struct stress {
	struct stress_opts o;
	struct kvt *kvt;
	size_t chunk;                   /* kvt_chunk_bytes() */
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
