/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/stress.h - what the files of kvtier-stress share.
 *
 * main.c parses options, opens the instance with the tier of --tier and
 * runs it: the workers until the deadline, then the accounting checks (and,
 * with DAX, fs or resp, opens the tier again and checks what it kept);
 * it drives the tier through struct tier_ops, which each tier implements in
 * its own file: tier_mem.c L1 alone and DAX (a device, or an emulating
 * tmpfs file); fs.c the fs tier's directory, the thread that corrupts its
 * files, and the checks of what is on disk; resp.c the resp tier's Redis
 * Cluster (started by the harness unless --resp-url), the thread that
 * corrupts its values and pauses a master, and the look at what Redis
 * holds; pool.c the pool tier's kvtier-poold (started by the harness unless
 * --pool-server) and the look at its registry and counters.  tier_l2.c is
 * what the three L2 tiers share, checks.c the checks once a run is quiet,
 * report.c the report.  worker.c is one thread's loop of mixed operations
 * and its ops that write and read chunks, worker_hold.c its ops that pin,
 * remove and borrow keys (worker.h what the two share); payload.c makes
 * and verifies chunk contents; procs.c runs --tier pool as several engine
 * processes (this binary again, each one run of main.c in procs_child.c,
 * one killed and replaced now and then) over one keyspace, and procs_end.c
 * checks and sums up what they found (procs.h what the supervisor's two
 * files share).
 *
 * Threads: struct stress is written by the main thread before the workers
 * start and read-only afterwards, except the fields tagged [atomic] and
 * struct l2_fault (the corruption thread's, fs or resp, until main joins
 * it).  Each struct worker belongs to its thread; main reads its [atomic]
 * counters for progress and everything else only after joining it.  With
 * --tier pool, struct pool_shm is shared by the processes (see there).
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
#include "tools/common/opts.h"
#include "tools/common/prng.h"

#define STRESS_MAX_BATCH 8
#define STRESS_MAX_THREADS 256
#define PAYLOAD_HDR 16 /* u64 version, u64 key id */
#define PUT_TRACKS 256 /* puts a worker may have with callbacks still owed */
#define JOIN_GRACE_S 60  /* a worker not back this long after the deadline is stuck */
#define CLOSE_GRACE_S 120 /* the end checks and kvt_close() take at most this long */

enum stress_tier {
	TIER_L1,          /* L1 DRAM only */
	TIER_DAX_TIERED,  /* L1 in front of DAX, write-through on the DAX writer */
	TIER_DAX_PRIMARY, /* DAX slots only (local_cpu: false) */
	TIER_FS_CACHE,    /* L1 cache in front of the fs L2 adapter, write-through */
	TIER_FS_STAGING,  /* fs only; L1 just stages its writes (use_only_staging_buffer) */
	TIER_RESP,        /* L1 cache in front of the resp L2 adapter (Redis Cluster) */
	TIER_POOL,        /* processes, each an L1 cache in front of the pool L2 adapter */
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

/* The columns of the table of ops (report_ops). */
enum op_col {
	OPC_CALLS,
	OPC_KEYS,
	OPC_HITS,
	OPC_PRESSURE,
	OPC_ERRORS,
	OPC_N,
};

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
	uint64_t remove_refused;  /* -EBUSY results of kvt_remove(): pinned */
	uint64_t remove_l2_locked; /* -EAGAIN results: an L2 copy locked by a load */
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
	unsigned int procs;  /* pool: engine processes running at once */
	unsigned int kill_ms; /* pool: one SIGKILLed (and restarted) every this many ms; 0 never */
	unsigned int pool_mb; /* pool: the daemon's shm pool in MiB */
	const char *pool_server; /* NULL: a kvtier-poold of our own, stopped at exit */
	const char *pool_rm;  /* with --pool-server: its resource-manager socket */
	const char *metrics;  /* metrics.listen, or NULL */
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
 * The corruption thread of an L2 tier (fs.c, resp.c).  rng, buf and the
 * marks are the thread's until main joins it, then main's; injected and
 * pauses are [atomic] for progress.
 */
struct l2_fault {
	pthread_t thread;
	bool running;
	uint64_t rng;
	unsigned char *buf;             /* a whole chunk file or value: header + chunk */
	struct fs_mark *marks;          /* fs: what it left in each file it corrupted */
	size_t nmarks, cap;
	bool lost_mark;                 /* fs: a mark could not be kept: no end check */
	_Atomic uint64_t injected[CORRUPT_N]; /* [atomic] */
	_Atomic uint64_t pauses;        /* [atomic] resp: masters SIGSTOPped and resumed */
};

/*
 * What fails a run, counted where it is seen.  A process's own, or with
 * --tier pool its slot of the shared memory, so that the counts of a
 * process killed mid-run are not lost.
 */
struct stress_verdict {
	_Atomic uint64_t corruptions;   /* [atomic] */
	_Atomic uint64_t failures;      /* [atomic] unexpected codes, broken contracts */
};

struct pool_shm;
struct tier_ops;

struct stress {
	struct stress_opts o;
	struct kvt *kvt;
	const struct tier_ops *tier;    /* what --tier names (stress_tier_ops) */
	struct kvt_config *cfg;         /* kept to reopen the DAX device or fs directory */
	size_t chunk;                   /* kvt_chunk_bytes() */
	unsigned int ntiers;            /* tiers a key may have a copy in */
	bool async_cb;                  /* put callbacks fire on the DAX writer or L2 actor */
	const char *dax_path;           /* dax: the device or file it lives on */
	char resp_url[512];             /* resp: the adapter's url */
	bool resp_cluster;              /* resp: the adapter's cluster */
	char resp_prefix[64];           /* resp: this run's key prefix */
	char fs_dir[PATH_MAX];          /* fs: the adapter's base_path */
	char pool_server[256];          /* pool: the adapter's server */
	char pool_rm[108];              /* pool: the adapter's rm */
	struct pool_shm *shm;           /* pool: shared by the processes (procs.c) */
	unsigned int slot;              /* pool engine process: its slot in shm */
	char who[32];                   /* pool engine process: "proc N: ", else "" */
	uint32_t nkeys;
	_Atomic uint64_t *next_version; /* [atomic] per key: last version handed out */
	_Atomic uint64_t *pin_started;  /* [atomic] per key: pins a session may take */
	_Atomic uint64_t *pin_finished; /* [atomic] per key: the same, once unpinned */
	struct worker *w;
	_Atomic uint32_t stop;          /* [atomic] the deadline passed */
	struct stress_verdict *v;       /* own, or the process's slot of shm */
	struct stress_verdict own;
	_Atomic uint64_t reports;       /* [atomic] detailed messages printed */
	_Atomic uint64_t evfd_total;    /* [atomic] sum read from kvt_event_fd() */
	_Atomic uint64_t removed_pin_bound; /* [atomic] pins a forced remove may have dropped */
	struct l2_fault fault;          /* fs, resp: the corruption thread */
};

struct checks;
struct knobs;
struct l2_scan;
struct l2_status;
struct reopen;

/*
 * struct tier_ops - what a tier does in a run.  One const instance per
 * --tier, in the tier's own file (tier_l1 and tier_dax in tier_mem.c,
 * tier_fs in fs.c, tier_resp in resp.c, tier_pool in pool.c); main() points
 * s->tier at the one --tier chose (stress_tier_ops[]), and everyone calls
 * through it.  The mode of a tier (dax tiered or primary, fs cache or
 * staging), which also decides what L1 does, stays in s->o.tier.
 * Every tier sets name and keys; any other member a tier has no use for is
 * NULL (false), and its callers skip it.
 */
struct tier_ops {
	const char *name;       /* --tier's word, for messages */
	bool l2;                /* an L2 adapter behind L1 */
	const char *unit;       /* L2: what holds a chunk ("file", "value", "entry") */
	const char *reopens;    /* L2 with a reopen: what it opens ("directory", "keys") */

	/* The keyspace unless --keys: larger than the tier that evicts last,
	 * so everything cycles. */
	uint32_t (*keys)(const struct stress_opts *o, const struct kvt_stats *st);
	/* A run of several processes instead of stress_run() here (pool:
	 * procs_main(), which starts the daemon, cleans up and reports itself).
	 * Return: the exit status. */
	int (*run)(struct stress *s, char **argv);
	/* Where the tier lives, made before its first instance opens (the DAX
	 * file, the fs directory, the Redis servers); cleanup() removes it.
	 * Return: 0, or -errno with a message. */
	int (*prepare)(struct stress *s);
	/* Add its knobs to an instance's config: L1's role in its mode, the
	 * DAX device, an L2 tier's adapter (fs: failing @fault_ppm of its
	 * I/Os).  Return: 0, or a negative code with a message. */
	int (*config)(struct stress *s, uint32_t fault_ppm, struct knobs *k);
	/* L2: where its chunks live, for messages. */
	const char *(*where)(const struct stress *s);
	/* Its lines of the inputs printed at the start, after L1's. */
	void (*print_inputs)(const struct stress *s, const struct kvt_stats *st);
	/* Its part of a progress line, into @out. */
	void (*progress)(struct stress *s, const struct kvt_stats *st, char *out, size_t len);
	/* Start the thread that corrupts its chunks (resp: and pauses a master)
	 * until s->stop; fault_stop() joins it, if it runs.  Return: 0, or
	 * -errno with a message. */
	int (*fault_start)(struct stress *s);
	void (*fault_stop)(struct stress *s);
	/* After the run's kvt_flush(): wait, with a check, until the faults are
	 * undone (resp: every master up again). */
	void (*recover)(struct stress *s, struct checks *c);
	/* Its checks of the quiet instance's counters, after the common ones
	 * (L2: after l2_accounting(), whose report of the adapter is @l2). */
	void (*accounting)(struct stress *s, struct checks *c, const struct kvt_stats *st,
			   const struct worker_acct *a, struct l2_status *l2);
	/* L2: what it holds per key, while no fault thread runs.  Return: 0, or
	 * -errno.  l2_scan_free() frees @sc->state either way. */
	int (*scan)(struct stress *s, struct l2_scan *sc);
	/* Just before kvt_close(): what the reopen and the report compare with. */
	void (*at_close)(struct stress *s, struct reopen *r);
	/* After kvt_close(): open the tier again and check what it kept. */
	void (*reopen)(struct stress *s, struct checks *c, struct reopen *r);
	/* L2: what the scan after kvt_close() found, checked before the reopen. */
	void (*closed_scan)(struct stress *s, struct checks *c, const struct l2_scan *sc);
	/* Its lines of the report, its member of the --json object, and its
	 * part of the PASS line (into @out). */
	void (*report)(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
		       const struct worker_acct *a);
	void (*json)(struct stress *s, const struct kvt_stats *st, const struct reopen *r);
	void (*summary)(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
			char *out, size_t len);
	/* Stop and remove what prepare() made, if it made anything.
	 * stop_signal(): the same, async-signal-safe, for the handlers of
	 * SIGINT, SIGTERM and the watchdog (pool: its processes and daemon). */
	void (*cleanup)(void);
	void (*stop_signal)(void);
};

extern const struct tier_ops tier_l1, tier_dax, tier_fs, tier_resp, tier_pool;

/* ---- main.c ---- */

/* End-of-run checks: counted; printed when they fail (all with --verbose),
 * each line after @who (a pool engine process's "proc N: ", else ""). */
struct checks {
	unsigned int run, failed;
	bool verbose;
	const char *who;
};

void check(struct checks *c, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Open s->kvt with the tiers of --tier (the config kept in s->cfg).
 * Return: 0, or -errno with a message. */
int stress_open(struct stress *s);

/*
 * stress_run() - one instance's whole run: open it, run the workers, check
 * everything once quiet, close it and report (a pool engine process: into
 * its slot of shm, for the supervisor).  Return: 0 pass, 1 fail.
 */
int stress_run(struct stress *s);

/* The keyspace of --tier pool, known before any instance is open. */
uint32_t stress_pool_keys(const struct stress *s);

/* The knobs of an instance's config, collected before it is made. */
struct knobs {
	size_t n;
	struct {
		const char *key;
		char value[PATH_MAX + 128]; /* the fs adapter's JSON holds a path */
	} k[16];
};

/* Add @key with the value @fmt makes.  Return: 0, or -ENAMETOOLONG (and
 * nothing added) when the value does not fit. */
int knob_add(struct knobs *k, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Start what the runtime starts lazily (threads, the symbolizer) before
 * counting threads and fds. */
void warm_runtime(void);

/* Entries of a /proc directory, or -1. */
long count_dir(const char *path);

/* Threads and fds now == before the first kvt_open(): nothing leaked
 * (checked after @when). */
void leak_checks(struct checks *c, long fds_before, long tasks_before, const char *when);

/* The workers' op counts, and the table of them (and its totals) on stdout;
 * json_ops() prints them as the "per_op" JSON object. */
void worker_ops(const struct stress *s, uint64_t v[OP_N][OPC_N]);
void report_ops(const uint64_t v[OP_N][OPC_N], double secs, uint64_t tot[OPC_N]);
void json_ops(const uint64_t v[OP_N][OPC_N], double secs);

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

/* ---- tier_l2.c: what the fs, resp and pool tiers share ---- */

/* What a key's chunk file (resp: value; pool: entry) holds. */
enum l2_copy {
	L2_ABSENT,
	L2_INTACT,        /* what the adapter wrote (if it wrote it right) */
	L2_CORRUPT,       /* what the corruption thread left; a lookup sees it */
	L2_CORRUPT_SHORT, /* the same, shorter than a header: a lookup misses it */
};

/* What an end-of-run look at the L2 tier found (tier_ops.scan). */
struct l2_scan {
	uint8_t *state;         /* per key id: enum l2_copy */
	uint64_t files;         /* chunk files (values, entries) of keys in the keyspace */
	uint64_t intact;        /* of those, not left as the corruption thread made them */
	uint64_t corrupt;       /* still holding bytes the corruption thread wrote */
	uint64_t corrupt_seen;  /* of those, long enough (a header) for a lookup to see */
	uint64_t stray;         /* fs: anything else: temp, foreign or misnamed files */
};

void l2_scan_free(struct l2_scan *sc);

/* Facts of the fs, resp or pool adapter's status report (kvt_l2_report, detail). */
struct l2_status {
	bool found;             /* an L2 adapter answered */
	bool healthy;
	uint64_t chunks, bytes_used, errors;
	uint64_t corrupt_removed, evictions;
	/* resp only */
	uint64_t nodes, nodes_up, redirections, map_refreshes, refused, reconnects;
	/* resp and pool */
	uint64_t round_trips, corrupt;
	/* pool only */
	uint64_t regions, foreign_regions, pages_used, rpc_errors, rm_errors, lost_races;
	uint64_t unknown, stores, loads, foreign_loads, pins, unpins, reclaimed, renewals;
	uint64_t index_answers, index_fallbacks; /* pool: keys kvtier-poold's shared index answered */
};

/* The fs, resp or pool adapter's report.  Threads: any (never blocks). */
void l2_status(struct kvt *kvt, struct l2_status *out);

/* Just before kvt_close(): the adapter's report (tier_ops.at_close). */
void l2_at_close(struct stress *s, struct reopen *r);

/* Join the fault thread, if it runs. */
void l2_fault_join(struct stress *s);

/* Chunks corrupted so far.  Threads: any. */
uint64_t l2_injected(struct stress *s);

/* Free what the fault thread kept. */
void l2_fault_free(struct stress *s);

/* The chunks the fault thread corrupted, by kind: for the report ("N files
 * corrupted (N payload flips, ...)"; @unit is tier_ops.unit) and --json
 * ("corrupted":{...}). */
void l2_report_corrupted(struct stress *s, const char *unit);
void l2_json_corrupted(struct stress *s);

/* The reopen's line of the report (when it ran), and its --json member. */
void l2_report_reopen(const struct reopen *r, const char *unit);
void l2_json_reopen(const struct reopen *r, const char *unit);

/* ---- fs.c ---- */

/* Remove the directory tree @dir (3 levels deep at most): the fs tier's,
 * and resp's and pool's of their servers.  Only system calls:
 * async-signal-safe. */
void rm_tree(const char *dir);

/* ---- pool.c ---- */

/* Members of kvtier-poold's GET_STATS the checks read. */
struct pool_daemon_stats {
	uint64_t entries, pinned_entries, total_pins, force_unpins, unpin_underflows;
	uint64_t refused_deletes, refused_registers;
	uint64_t allocations, pool_total, pool_free, regions_freed, deferred_frees;
	uint64_t clients, clients_gone, leases_expired, bad_requests;
};

/*
 * pool_prepare() - where the pool tier lives: --pool-server and --pool-rm
 * (it must hold no key of the keyspace: an earlier run's versions would
 * read as never written), or a kvtier-poold started from this binary's
 * folder (its ASan twin for a TSan build, as the tests do) with a
 * --pool-mb /dev/shm pool and its sockets and log in a fresh /tmp
 * directory; pool_stop() stops it.  Sets s->pool_server and s->pool_rm.
 * Return: 0, or -errno with a message.
 */
int pool_prepare(struct stress *s);

/* True when pool_prepare() started the daemon (its counters are ours). */
bool pool_own_daemon(void);

/* Client lease of our daemon: a process silent this long has lost its pins
 * (and its regions).  A killed process's socket close drops it long before;
 * TSan can stall a process for seconds on a small machine. */
#define POOL_LEASE_MS 10000

/*
 * pool_stop() - SIGTERM the daemon pool_prepare() started, wait for it and
 * remove its directory.  Return: 0 if it exited 0 with no sanitizer report
 * in its log (else the log is printed), or -1.
 */
int pool_stop(void);

/* The supervisor's connection to the daemon, held from start to end so
 * that it neither opens nor closes one while engines start (pool.c).
 * Return: 0, or -errno.  pool_stop() closes it too. */
int pool_look_open(const struct stress *s);
void pool_look_close(void);

/* GET_STATS of the daemon (on that connection, else on a fresh one; 5 s
 * timeouts).  Return: 0, or -errno. */
int pool_daemon_stats(const struct stress *s, struct pool_daemon_stats *out);

/*
 * pool_scan() - which keys of the keyspace the daemon holds (BATCH_EXISTS):
 * L2_INTACT each (nobody writes the pool behind the adapter's back), or
 * L2_ABSENT.  Return: 0, or -errno.  l2_scan_free() frees @sc->state.
 */
int pool_scan(struct stress *s, struct l2_scan *sc);

/* ---- procs.c: the supervisor of --tier pool, and what its processes share ---- */

#define POOL_MAX_PROCS 16  /* engine processes at once */
#define POOL_MAX_LIVES 64  /* engine processes in a run, the restarted included */

enum proc_state {
	PROC_FREE,      /* never started */
	PROC_RUNNING,   /* started: opening, running its workers */
	PROC_QUIET,     /* its workers stopped, its counters checked: at the barrier */
	PROC_DONE,      /* its result written: exiting */
};

/* What an engine process found, written before its state goes DONE. */
struct proc_result {
	uint64_t run_ns;
	unsigned int checks_run, checks_failed;
	bool pass;
	struct worker_acct acct;
	struct kvt_stats st;       /* once quiet, before the sweep */
	struct l2_status l2;       /* the adapter's report then */
};

/*
 * One engine process.  The supervisor fills pid before the process runs;
 * the process writes the rest: its verdict counts as it goes, its op counts
 * and pins every millisecond, res before state DONE (release; the
 * supervisor acquires state, or reads after reaping it).
 */
struct proc_slot {
	_Atomic int32_t pid;            /* [atomic] */
	_Atomic uint32_t state;         /* [atomic] enum proc_state */
	struct stress_verdict v;        /* [atomic] */
	_Atomic uint64_t op[OP_N][OPC_N]; /* [atomic] the workers' counts, as published */
	_Atomic uint64_t pins_held;     /* [atomic] the adapter's pins not yet unpinned */
	struct proc_result res;
};

/*
 * What the processes of --tier pool share: a memfd the supervisor maps
 * MAP_SHARED and fills in before it starts the first engine process (each
 * maps the fd it inherits).  next_version is shared so that any process
 * can verify any version of any key (payload.c).
 */
struct pool_shm {
	pid_t supervisor;
	uint64_t seed;                  /* --seed; each process derives its own */
	uint32_t nkeys;
	char pool_server[256];
	char pool_rm[108];
	_Atomic uint32_t stop;          /* [atomic] the deadline passed: workers stop */
	_Atomic uint32_t sweep;         /* [atomic] every process is quiet: sweep, close */
	struct proc_slot slot[POOL_MAX_LIVES];
	_Atomic uint64_t next_version[]; /* [atomic] */
};

/* The environment variable that makes a process an engine process:
 * "<fd of the shared memory>,<slot>". */
#define CHILD_ENV "KVT_STRESS_POOL_CHILD"

/*
 * procs_main() - the supervisor of --tier pool: starts the daemon and
 * --procs engine processes (this binary run again with @argv and
 * CHILD_ENV), prints progress, kills and replaces one every --kill-ms,
 * stops them at the deadline, runs the last instance and the daemon's
 * checks and reports.  Return: the exit status.
 */
int procs_main(struct stress *s, char **argv);

/* SIGKILL every engine process, async-signal-safe; in the supervisor only. */
void procs_kill_signal(void);

/* ---- procs_child.c ---- */

/* An engine process (CHILD_ENV is @env): stress_run() on its slot.
 * Return: the exit status. */
int procs_child_main(struct stress *s, const char *env);

/* An engine process, between naps of its main thread: publish its counts
 * and pins.  Return: true once it must stop (or the supervisor is gone). */
bool procs_child_tick(struct stress *s);

/* An engine process, quiet: wait until every other one is (or exit). */
void procs_child_quiet(struct stress *s);

/* An engine process's result, into its slot. */
void procs_child_done(struct stress *s, const struct checks *c, const struct kvt_stats *st,
		      const struct l2_status *l2, uint64_t run_ns, struct worker_acct acct,
		      bool pass);

/* ---- options.c ---- */

extern const char *const stress_tier_names[];

/* The tier of each enum stress_tier (its modes share one). */
extern const struct tier_ops *const stress_tier_ops[];

/* Parse the command line into @o (--help prints the usage and exits 0).
 * Return: 0, or -EINVAL with the reason printed. */
int stress_parse_opts(int argc, char **argv, struct stress_opts *o);

/* The config of an instance of this run, with @fault_ppm EIO faults on the
 * fs tier.  Return: 0, or a negative code with the reason printed. */
int stress_make_config(struct stress *s, uint32_t fault_ppm, struct kvt_config **out);

/* ---- checks.c: what must hold once the run is quiet ---- */

/* What the reopen of the tier after kvt_close() found. */
struct reopen {
	bool done;
	uint64_t at_close;  /* dax_entries when the first instance closed */
	uint64_t recovered, torn, read, corrupt;
	struct l2_status l2_close;  /* L2: the first instance's report at close */
	struct l2_scan scan;        /* L2: what it held after close (counts only) */
	uint64_t missed;            /* L2: intact files (values) not served */
	uint64_t served_bad;        /* L2: corrupted files (values) served */
	uint64_t removed;           /* L2: corrupt_removed by the reopened instance */
};

/* The workers' counts, summed. */
struct worker_acct total_acct(struct stress *s);

/* Wait until every put callback the workers wait for has fired. */
void settle_tracks(struct stress *s);

/* Stats once two reads in a row agree on every level.  Return: 0 or a code. */
int quiet_stats(struct stress *s, struct kvt_stats *st);

/* Every key read back and verified, against what the tiers say they hold. */
void sweep_checks(struct stress *s, struct checks *c, const struct kvt_stats *st);

/* kvtier's counters against what the workers did. */
void accounting(struct stress *s, struct checks *c, const struct kvt_stats *st);

/* An L2 tier's share of those, with the adapter's report (into @l2). */
void l2_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
		   const struct worker_acct *a, struct l2_status *l2);

/* The fs directory or the Redis prefix opened again (tier_ops.reopen). */
void l2_reopen_check(struct stress *s, struct checks *c, struct reopen *r);

/* ---- report.c ---- */

/* The table of ops/s and the tier lines on stdout (--json: one object). */
void report_run(struct stress *s, uint64_t run_ns, const struct kvt_stats *st,
		const struct checks *c, const struct reopen *r, bool pass);

#endif /* KVT_TOOLS_STRESS_H */
