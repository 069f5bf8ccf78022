/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/pool_bench.h - what `kvtier-bench pool`'s files share
 * (pool.c: phases, workers, report; pool_rpc.c: a client's requests and
 * replies; pool_srv.c: the daemon the run starts).
 */
#ifndef KVT_TOOLS_KVTIER_BENCH_POOL_BENCH_H
#define KVT_TOOLS_KVTIER_BENCH_POOL_BENCH_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include "proto/maru/maru_mp.h"
#include "proto/maru/maru_rpc.h"
#include "tools/common/port.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"
#include "tools/kvtier-bench/pool_floor.h"

#define BATCH 100
#define MAX_CLIENTS 16
#define NCOUNTS 3
#define FILL_BATCH 1000               /* keys per register while populating */
#define PAGE 4096u                    /* a key's slot in its region */
#define REGION_BYTES (4u << 20)       /* each client's region */
#define PAGES (REGION_BYTES / PAGE)
#define KEY_MAX 64
#define RPC_TIMEOUT_MS 10000
#define LAT_CAP (1u << 16)            /* latency samples per thread and op */
#define SHM_POOL "128M"               /* one 4 MiB region per client, with room */
#define GOAL_BATCH_KEYS 1000000.0
#define GOAL_P99_US 100.0
#define MARU_BATCH_KEYS 87000.0      /* issue #7: Maru's server, its own clients */
#define MARU_P99_US 1000.0
#define GOAL_OVER_MARU 8.0           /* issue #19: batch-100 lookups, Maru's server in the run */
#define GOAL_SHIDX_KEYS 10e6         /* issue #19: shared-index lookups per client thread */
#define GOAL_SHIDX_P99_US 5.0
/* issue #19 part 2, 4 clients, against the transport floor of the same run */
#define GOAL_FLOOR_BATCH 0.8         /* batch-100 lookups: at least this share of the floor's */
#define GOAL_FLOOR_P99 1.15          /* single lookup p99: at most this times the floor's */
#define GOAL_FLOOR_REGISTER_P99 2.0  /* batch-100 register p99 over the floor's batch p99 */


enum phase { PH_LOOKUP, PH_BATCH_LOOKUP, PH_PIN, PH_REGISTER, NPHASES };

/* The lookup phases again against the transport floor (pool_floor.h). */
#define NFLOOR 2

struct handle {
	uint64_t rid, off, len, tok;
};

struct client {
	void *sock;
	uint32_t seq;
	uint8_t type;        /* of the request in flight, for messages */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	zmq_msg_t reply;
	struct handle h;     /* its region */
	uint64_t fresh;      /* fresh keys it has registered */
	char why[192];       /* the first RPC failure */
};

struct srv;

/* What every worker of a run reads; set up before any thread starts.  One
 * per server: each holds its own client 0's region. */
struct run {
	const char *const (*names)[2]; /* its rows' op names per phase */
	const struct srv *srv;         /* whose CPU time a phase reports */
	char tag[16];
	char pfx[KEY_MAX];   /* populated keys' common head: key_name(.., 'p', 0, ..) */
	uint32_t pfx_len;
	uint64_t nkeys;
	struct handle h;     /* client 0's region, which holds every key */
	uint64_t deadline;
	uint32_t reply_len[NPHASES]; /* the server's longest reply payload per phase */
};

struct worker {
	struct client *c;
	const struct run *r;
	struct bench_gate *gate;
	enum phase ph;
	bool floor;          /* its client talks to the floor: replies are not read */
	unsigned idx;        /* its client's index */
	uint64_t rng;
	uint64_t ops[2], keys[2];
	struct lat_samples lat[2];
	uint64_t errors, end_ns;
	uint32_t reply_len;  /* the longest reply payload it got */
	int ret;             /* an RPC failure: the socket is out of step */
	char why[192];       /* the first mismatch */
};

struct row {
	const char *op;
	int clients;
	uint64_t ops;
	double ops_s, keys_s, p50, p99;
	double srv_cpu_us;   /* the daemon's CPU time per request; NaN: not ours */
	double keys_cpu_s;   /* shidx rows: keys per second of the threads' own CPU time */
};

#define MAX_FIELDS 4

/* A field name with its length: a batch reply compares thousands. */
struct field {
	const char *s;
	uint32_t len;
};

#define FIELD(lit) { lit, sizeof(lit) - 1 }

/* ---- pool_srv.c ---- */

#define PEER_PYTHON "/usr/bin/python3" /* Debian's: it has zmq, msgpack, dacite */

/* A server this run started: pid 0 when none runs. */
struct srv {
	pid_t pid;
	const char *name;
	char log[96];
};

extern struct srv srv_poold, srv_maru;

uint64_t srv_cpu_ns(const struct srv *s);
void srv_print_log(const struct srv *s);
int srv_start(char *addr, size_t addrlen, char *exe, size_t exelen, bool ipc);
/* The RM socket of the kvtier-poold srv_start() started. */
const char *srv_rm_socket(void);
int srv_start_maru(const char *maru_dir, char *addr, size_t addrlen);
int srv_stop(void);
void srv_stop_maru(void);

/* ---- pool_shidx.c ---- */

/*
 * shidx_rows() - register min(keys, 500000) keys of the pool adapter's kind
 * through @c, map the daemon's shared index from @rm and add a
 * "shidx_lookup" row per client count: lookups per second and latency from
 * threads of this process, no RPC.  Return: 0 or -1 after printing why.
 */
int shidx_rows(struct client *c, const char *rm, const struct run *r, double seconds,
	const int *counts, int ncounts, struct row *rows, int *nrows, uint64_t *errors);

/* ---- pool_rpc.c ---- */

/* check_entry()'s answer for an entry it cannot read at all. */
extern const char entry_malformed[];

const char *check_entry(struct mp_cur *cur, const struct run *r, uint64_t i);
void client_close(struct client *c);
int client_open(struct client *c, void *zctx, const char *addr, int timeout_ms);
int do_alloc(struct client *c, const char *inst, bool alloc);
int do_heartbeat(struct client *c);
int do_register(struct client *c, const struct run *r, char kind, unsigned idx, uint64_t from,
	uint32_t n);
int fail(struct client *c, const char *fmt, ...);
void key_name(char *out, const char *tag, char kind, unsigned client, uint64_t i);
void pack_key(struct client *c, const char *key);
void pack_populated(struct client *c, const struct run *r, uint64_t i);
bool read_true(struct mp_cur v);
int reply_array(struct client *c, struct mp_cur m, const char *name, uint32_t n,
	struct mp_cur *arr);
int reply_fields(struct client *c, struct mp_cur m, const struct field *names, int n,
	struct mp_cur *vals);
void req_begin(struct client *c);
int rpc(struct client *c, uint8_t type, struct mp_cur *payload);

#endif /* KVT_TOOLS_KVTIER_BENCH_POOL_BENCH_H */
