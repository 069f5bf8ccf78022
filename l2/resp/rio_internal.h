/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/rio_internal.h - what the resp I/O actor's files share (respio.c:
 * the actor, locks, tasks; rio_nodes.c: nodes, connections, slot map;
 * rio_runs.c: runs of commands; rio_reader.c: reply parsing).  Everything
 * runs on the I/O actor only, except what struct respio marks [atomic] and
 * last_error (under err_mu).
 */
#ifndef KVT_L2_RESP_RIO_INTERNAL_H
#define KVT_L2_RESP_RIO_INTERNAL_H

#include "l2/resp/respio.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "core/actor.h"
#include "core/log.h"
#include "core/mem.h"
#include "l2/resp/resp_sendq.h"
#include "l2/resp/resp_slot.h"
#include "l2/resp/resp_value.h"
#include "kvtier/l2.h"

#define RIO_MAILBOX 1024
#define RIO_WAIT_MS 1000
#define RIO_MAX_ROUNDS 5
#define RIO_WINDOW_BYTES (256u << 20)
/* a window goes out in writes of about this much, so the server parses one
 * value while the next is hashed (see send_window()) */
#define RIO_WRITE_BYTES (256u << 10)
#define RIO_BACKOFF_MIN_MS 100u
#define RIO_BACKOFF_MAX_MS 5000u
#define RIO_PING_MS 1000u
#define RIO_MAP_RETRY_MS 1000u
#define RIO_MAX_NODES 1024u
#define RIO_NO_NODE UINT16_MAX
#define RIO_LOCK_BUCKETS 4096u

enum rio_msg_op {
	RIO_TASK = 1,  /* ptr[0] struct l2_job *, handed to l2_glue_complete() */
	RIO_UNLOCK,    /* u64[0] key.lo, u64[1] key.hi */
	RIO_DELETE,    /* ptr[0] struct l2_job *, the caller's; done signalled */
};

enum rio_cmd { CMD_SET, CMD_STRLEN, CMD_GET, CMD_DEL };

enum key_state {
	K_NEW,       /* to be routed by its slot */
	K_REDIRECT,  /* to be sent to node[i] (after ASKING when ask[i]) */
	K_QUEUED,
	K_DONE,
	K_FAILED,
};

struct rio_node {
	char host[RESP_HOST_MAX];
	int port;
	redisContext *c;
	uint64_t retry_at;     /* clock ms: no connect attempt before */
	uint32_t backoff_ms;
	bool ever_up;
	bool down;             /* the last connect or I/O failed */
	bool owns;             /* serves slots in the current map */
	/* the current round: indices of the keys queued here, the window sent */
	uint32_t *q;
	size_t nq, qcap, qpos, win_from;
	bool win_sent;
	/* replies read but not yet parsed: rbuf[rpos, rlen); reads into it
	 * take at most rd_cap bytes, set by read_window() per reply */
	uint8_t *rbuf;
	size_t rpos, rlen, rd_cap;
};

struct rio_lock {
	struct kvt_key key;
	uint32_t count;
	struct rio_lock *next;
};

/* One task being run: per-key routing state, in one allocation. */
struct rio_run {
	struct l2_job *job;
	enum rio_cmd cmd;
	char (*names)[RESP_KEY_MAX];
	uint16_t *namelen;
	uint16_t *node;
	uint8_t *ask;
	uint8_t *state;
	int *res;
	uint8_t *hdrs;         /* CMD_SET: FSCHUNK_HDR bytes per key */
	uint8_t *sealed;       /* CMD_SET: hdrs[i] holds key i's header */
	uint32_t *corrupt;     /* CMD_GET: keys whose value failed its checks */
	size_t ncorrupt;
	uint64_t bytes;
	size_t ok;
	int first_err;
	bool moved;
};

struct respio {
	struct actor actor;
	struct resp_conf conf;
	struct l2_glue *glue;       /* tasks complete through it */
	struct rio_node **nodes;   /* [0] is the seed; entries never move */
	size_t nnodes;
	uint16_t *slot_node;       /* cluster: RESP_SLOTS node indices */
	bool map_loaded;
	bool map_stale;
	uint64_t map_next;         /* clock ms: no failure-driven reload before */
	uint64_t ping_next;
	struct rio_lock *locks[RIO_LOCK_BUCKETS];
	struct resp_sendq sq;
	uint8_t hdr[FSCHUNK_HDR];  /* the header of the value being read */
	pthread_mutex_t err_mu;    /* guards last_error: set by the actor, read anywhere */
	char last_error[160];
	/* [atomic] written by the actor, read by respio_stats() */
	_Atomic bool healthy;
	_Atomic uint64_t st_nodes, st_nodes_up, st_round_trips, st_bytes_out, st_bytes_in,
		st_redirections, st_map_refreshes, st_errors, st_refused, st_reconnects,
		st_corrupt, st_corrupt_removed, st_stores, st_loads, st_locked;
};

static inline void bump(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}


/* A SIGPIPE raised by a write on this thread while it was blocked stays
 * pending; take it, so it never fires once the mask is restored. */
static inline void sigpipe_drain(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
		;
}

static inline void sigpipe_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static inline void sigpipe_restore(const sigset_t *old)
{
	sigpipe_drain();
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

#define RD_BUF (256u << 10)
#define RD_LINE_MAX (64u << 10)
#define RD_DIRECT_MIN (64u << 10)
#define RD_HEAD_READ (FSCHUNK_HDR + 64u)

struct rd_reply {
	char type;           /* '+', '-', ':', '$' */
	long long integer;   /* ':' value, '$' length (-1: nil) */
	const char *str;     /* '+', '-': the line, valid until the next read */
	size_t len;
};

/* last_error, for respio_stats(); any thread may read it. */
void rio_set_error(struct respio *rio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- rio_nodes.c ---- */
int rio_io_code(const redisContext *c);
int rio_map_refresh(struct respio *rio, char *refusal, size_t rlen);
int rio_node_connect(struct respio *rio, struct rio_node *nd);
void rio_node_fail(struct respio *rio, struct rio_node *nd, const char *what, int code);
int rio_node_get(struct respio *rio, const char *host, int port);
int rio_node_ready(struct respio *rio, struct rio_node *nd);
void rio_publish_health(struct respio *rio);
int rio_refusal_code(const char *err);

/* ---- rio_runs.c ---- */
void rio_key_fail(struct respio *rio, struct rio_run *run, size_t i, int code);
void rio_run_exec(struct respio *rio, struct rio_run *run);
void rio_run_free(struct rio_run *run);
int rio_run_init(struct respio *rio, struct rio_run *run, struct l2_job *job, enum rio_cmd cmd);

/* ---- rio_reader.c ---- */
int rio_rd_bytes(struct rio_node *nd, void *dst, size_t len);
int rio_rd_head(struct rio_node *nd, struct rd_reply *rr);
int rio_rd_value(struct respio *rio, struct rio_run *run, size_t i, struct rio_node *nd, size_t vlen,
	int *res, struct fschunk_info *info);

/* ---- respio.c ---- */
bool rio_lock_take(struct respio *rio, const struct kvt_key *key);

#endif /* KVT_L2_RESP_RIO_INTERNAL_H */
