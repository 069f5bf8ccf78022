/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/respio.c - the I/O actor of the "resp" L2 adapter (see respio.h;
 * key names and values are l2/resp/resp_value.h, cluster slots
 * l2/resp/resp_slot.h, the outgoing wire l2/resp/resp_sendq.h).
 *
 * Owns (actor thread only, untagged): the nodes and their hiredis contexts
 * (blocking sockets, SO_RCVTIMEO/SO_SNDTIMEO = timeout_ms, keepalive), the
 * slot map, the send queue and the lock table.  The counters at the end of
 * struct respio are [atomic]: written by the actor, read anywhere.  Before
 * the actor starts, respio_create() connects the seed on the creating
 * thread; pthread_create orders that before the actor's first access.
 *
 * A task is one "run": each key gets its node (the slot map in cluster
 * mode, else the one server), the keys of each node go out as pipelines of
 * at most max_inflight commands (and about RIO_WINDOW_BYTES), written with
 * a sendmsg of an iovec per RIO_WRITE_BYTES or so, so a SET's header and the
 * caller's payload go from where they are, never copied into hiredis's
 * buffer, and its value is hashed just before it goes out; every
 * node's window is written before any is read, so the nodes work in
 * parallel and a batch costs one round trip per node.  Replies are read
 * by the small reader below (a GET's payload straight into the caller's
 * buffer); hiredis makes the connections and runs AUTH, SELECT, PING and
 * CLUSTER SLOTS.  A MOVED reply re-routes the key (and the slot;
 * the map is reloaded from CLUSTER SLOTS after the round), an ASK reply
 * sends it once more to the named node after ASKING; a key still
 * redirected after RIO_MAX_ROUNDS fails.
 *
 * Failures: a node whose connect, write or read fails (or times out) is
 * dropped and every key still queued on it fails (a miss for lookup and
 * load, a cleared bit for store), never a hang: each socket call is bounded
 * by timeout_ms.  It is reconnected with exponential backoff
 * (RIO_BACKOFF_MIN_MS .. RIO_BACKOFF_MAX_MS), on demand or from idle(),
 * which also PINGs the nodes every RIO_PING_MS to keep is_healthy true to
 * what answers.  A server error reply (OOM, READONLY, NOAUTH, ...) fails
 * that key alone, counted.  SIGPIPE is blocked on the actor thread (and
 * around the create-time I/O), so a peer that vanished is an EPIPE.
 *
 * Locks: Redis has none; a lookup hit takes a local count (as fs does) so
 * that this adapter's remove() refuses the key with -EBUSY.  Another client,
 * a TTL or maxmemory eviction may still delete it: that is a load miss.
 */
#define _GNU_SOURCE
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

static void bump(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static void set_error(struct respio *rio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct respio *rio, const char *fmt, ...)
{
	char buf[sizeof(rio->last_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&rio->err_mu);
	memcpy(rio->last_error, buf, sizeof(buf));
	pthread_mutex_unlock(&rio->err_mu);
}

/* A SIGPIPE raised by a write on this thread while it was blocked stays
 * pending; take it, so it never fires once the mask is restored. */
static void sigpipe_drain(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
		;
}

static void sigpipe_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static void sigpipe_restore(const sigset_t *old)
{
	sigpipe_drain();
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- nodes and connections ----------------------------------------------- */

/* The index of node host:port, added when new.  Return: index or -errno. */
static int node_get(struct respio *rio, const char *host, int port)
{
	struct rio_node **nodes, *nd;

	for (size_t i = 0; i < rio->nnodes; i++)
		if (rio->nodes[i]->port == port && !strcmp(rio->nodes[i]->host, host))
			return (int)i;
	if (rio->nnodes == RIO_MAX_NODES || strlen(host) >= RESP_HOST_MAX)
		return -E2BIG;
	nodes = realloc(rio->nodes, (rio->nnodes + 1) * sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	rio->nodes = nodes;
	nd = mem_zalloc(sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	strcpy(nd->host, host);
	nd->port = port;
	nodes[rio->nnodes] = nd;
	bump(&rio->st_nodes, 1);
	return (int)rio->nnodes++;
}

static void node_backoff(struct rio_node *nd)
{
	uint32_t b = nd->backoff_ms ? nd->backoff_ms * 2 : RIO_BACKOFF_MIN_MS;

	nd->backoff_ms = b > RIO_BACKOFF_MAX_MS ? RIO_BACKOFF_MAX_MS : b;
	nd->retry_at = clock_now_ms() + nd->backoff_ms;
	nd->down = true;
}

/* The code of a failed hiredis call on @c. */
static int io_code(const redisContext *c)
{
	if (!c)
		return -ENOMEM;
	if (c->err == REDIS_ERR_EOF)
		return -ECONNRESET;
	if (c->err == REDIS_ERR_IO && strstr(c->errstr, "temporarily unavailable"))
		return -ETIMEDOUT;
	if (c->err == REDIS_ERR_PROTOCOL)
		return -EPROTO;
	if (c->err == REDIS_ERR_OOM)
		return -ENOMEM;
	return -EIO;
}

/* Drop @nd's connection after an I/O failure (@what names the step). */
static void node_fail(struct respio *rio, struct rio_node *nd, const char *what, int code)
{
	set_error(rio, "%s:%d: %s: %s", nd->host, nd->port, what,
		  nd->c && nd->c->errstr[0] ? nd->c->errstr : strerror(-code));
	log_warn("resp: %s", rio->last_error);
	nd->rpos = nd->rlen = 0;
	if (nd->c) {
		redisFree(nd->c);
		nd->c = NULL;
		atomic_fetch_sub_explicit(&rio->st_nodes_up, 1, memory_order_relaxed);
	}
	node_backoff(nd);
	sigpipe_drain();
	if (rio->conf.cluster)
		rio->map_stale = true;
}

/* The code of a server error reply that refuses a command. */
static int refusal_code(const char *err)
{
	if (!strncmp(err, "OOM", 3))
		return -ENOSPC;
	if (!strncmp(err, "READONLY", 8))
		return -EROFS;
	if (!strncmp(err, "NOAUTH", 6) || !strncmp(err, "NOPERM", 6) ||
	    !strncmp(err, "WRONGPASS", 9))
		return -EACCES;
	if (!strncmp(err, "CLUSTERDOWN", 11) || !strncmp(err, "TRYAGAIN", 8) ||
	    !strncmp(err, "LOADING", 7) || !strncmp(err, "MASTERDOWN", 10) ||
	    !strncmp(err, "BUSY", 4))
		return -EAGAIN;
	return -EIO;
}

/* Run one command on a fresh connection; a server error fails with @code. */
static int setup_cmd(struct respio *rio, struct rio_node *nd, int code, const char *what,
		     int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(nd->c, argc, argv, NULL);
	int ret = 0;

	if (!r) {
		ret = io_code(nd->c);
		set_error(rio, "%s:%d: %s: %s", nd->host, nd->port, what, nd->c->errstr);
		return ret;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		set_error(rio, "%s:%d: %s: %s", nd->host, nd->port, what, r->str);
		ret = code ? code : refusal_code(r->str);
	}
	freeReplyObject(r);
	return ret;
}

/*
 * Connect @nd: TCP with timeout_ms, AUTH, SELECT, then PING (which also
 * tells a server that wants AUTH we lack).  Return: 0; -EACCES refused
 * AUTH; -EINVAL refused SELECT; else an I/O code (the node backs off).
 */
static int node_connect(struct respio *rio, struct rio_node *nd)
{
	const struct resp_conf *cf = &rio->conf;
	struct timeval tv = { cf->timeout_ms / 1000, (cf->timeout_ms % 1000) * 1000 };
	char db[16];
	int ret;

	nd->c = redisConnectWithTimeout(nd->host, nd->port, tv);
	if (!nd->c || nd->c->err) {
		set_error(rio, "%s:%d: connect: %s", nd->host, nd->port,
			  nd->c ? nd->c->errstr : "out of memory");
		ret = nd->c && strstr(nd->c->errstr, "refused") ? -ECONNREFUSED : -EHOSTUNREACH;
		goto err_free;
	}
	if (redisSetTimeout(nd->c, tv) != REDIS_OK || redisEnableKeepAlive(nd->c) != REDIS_OK) {
		set_error(rio, "%s:%d: socket options: %s", nd->host, nd->port, nd->c->errstr);
		ret = -EIO;
		goto err_free;
	}
	/* keep the reader's buffer between replies: values are large */
	nd->c->reader->maxbuf = 0;
	if (cf->password[0]) {
		const char *argv[3] = { "AUTH", cf->username[0] ? cf->username : cf->password,
					cf->password };

		ret = setup_cmd(rio, nd, -EACCES, "AUTH", cf->username[0] ? 3 : 2, argv);
		if (ret)
			goto err_free;
	}
	if (!cf->cluster && cf->db) {
		const char *argv[2] = { "SELECT", db };

		snprintf(db, sizeof(db), "%d", cf->db);
		ret = setup_cmd(rio, nd, -EINVAL, "SELECT", 2, argv);
		if (ret)
			goto err_free;
	}
	{
		const char *argv[1] = { "PING" };

		ret = setup_cmd(rio, nd, 0, "PING", 1, argv);
		if (ret == -EIO)
			ret = -EPROTO;
		if (ret)
			goto err_free;
	}
	if (nd->ever_up)
		bump(&rio->st_reconnects, 1);
	nd->ever_up = true;
	nd->down = false;
	nd->backoff_ms = 0;
	bump(&rio->st_nodes_up, 1);
	return 0;
err_free:
	if (nd->c)
		redisFree(nd->c);
	nd->c = NULL;
	node_backoff(nd);
	return ret;
}

/* Connected, or connected now if its backoff allows.  Return: 0 or -errno. */
static int node_ready(struct respio *rio, struct rio_node *nd)
{
	if (nd->c)
		return 0;
	if (clock_now_ms() < nd->retry_at)
		return -EHOSTDOWN;
	return node_connect(rio, nd);
}

/* ---- the slot map -------------------------------------------------------- */

struct map_fill {
	struct respio *rio;
	uint16_t *slots;
};

static int map_range(void *arg, unsigned int start, unsigned int end, const char *host,
		     int port)
{
	struct map_fill *f = arg;
	int idx = node_get(f->rio, host, port);

	if (idx < 0)
		return idx;
	for (unsigned int s = start; s <= end; s++)
		f->slots[s] = (uint16_t)idx;
	return 0;
}

/* Reload the slot map from CLUSTER SLOTS of the first node that answers.
 * @refusal: receives the error reply of a node that refused (may be NULL).
 * Return: 0, -EPROTO when a node refused or answered garbage, else -EIO. */
static int map_refresh(struct respio *rio, char *refusal, size_t rlen)
{
	struct map_fill f = { rio, NULL };
	int ret = -EHOSTUNREACH;

	rio->map_next = clock_now_ms() + RIO_MAP_RETRY_MS;
	f.slots = mem_alloc(RESP_SLOTS * sizeof(*f.slots));
	if (!f.slots)
		return -ENOMEM;
	/* the nodes that serve slots first, then the seed and the rest */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < rio->nnodes; i++) {
			struct rio_node *nd = rio->nodes[i];
			redisReply *r;
			int n;

			if ((pass == 0) != nd->owns || node_ready(rio, nd))
				continue;
			r = redisCommand(nd->c, "CLUSTER SLOTS");
			if (!r) {
				node_fail(rio, nd, "CLUSTER SLOTS", io_code(nd->c));
				continue;
			}
			if (r->type == REDIS_REPLY_ERROR) {
				set_error(rio, "%s:%d: CLUSTER SLOTS: %s", nd->host, nd->port,
					  r->str);
				if (refusal)
					snprintf(refusal, rlen, "%s", r->str);
				freeReplyObject(r);
				ret = -EPROTO;
				continue;
			}
			for (unsigned int s = 0; s < RESP_SLOTS; s++)
				f.slots[s] = RIO_NO_NODE;
			n = resp_slots_parse(r, nd->host, map_range, &f);
			freeReplyObject(r);
			if (n < 0) {
				set_error(rio, "%s:%d: CLUSTER SLOTS: malformed reply", nd->host,
					  nd->port);
				ret = -EPROTO;
				continue;
			}
			memcpy(rio->slot_node, f.slots, RESP_SLOTS * sizeof(*f.slots));
			for (size_t k = 0; k < rio->nnodes; k++)
				rio->nodes[k]->owns = false;
			for (unsigned int s = 0; s < RESP_SLOTS; s++)
				if (f.slots[s] != RIO_NO_NODE)
					rio->nodes[f.slots[s]]->owns = true;
			rio->map_loaded = true;
			rio->map_stale = false;
			bump(&rio->st_map_refreshes, 1);
			mem_free(f.slots);
			return 0;
		}
	}
	mem_free(f.slots);
	return ret;
}

static void publish_health(struct respio *rio)
{
	bool ok;

	if (!rio->conf.cluster) {
		ok = rio->nodes[0]->c && !rio->nodes[0]->down;
	} else {
		ok = rio->map_loaded;
		for (size_t i = 0; i < rio->nnodes && ok; i++)
			if (rio->nodes[i]->owns && rio->nodes[i]->down)
				ok = false;
	}
	atomic_store_explicit(&rio->healthy, ok, memory_order_relaxed);
}

/* ---- locks ----------------------------------------------------------------- */

static struct rio_lock **lock_slot(struct respio *rio, const struct kvt_key *key)
{
	uint64_t h = (key->lo ^ (key->hi * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
	struct rio_lock **pp = &rio->locks[(h >> 40) & (RIO_LOCK_BUCKETS - 1)];

	while (*pp && ((*pp)->key.lo != key->lo || (*pp)->key.hi != key->hi))
		pp = &(*pp)->next;
	return pp;
}

static bool lock_take(struct respio *rio, const struct kvt_key *key)
{
	struct rio_lock **pp = lock_slot(rio, key);

	if (!*pp) {
		*pp = mem_zalloc(sizeof(**pp));
		if (!*pp)
			return false;
		(*pp)->key = *key;
		bump(&rio->st_locked, 1);
	}
	(*pp)->count++;
	return true;
}

static void lock_drop(struct respio *rio, const struct kvt_key *key)
{
	struct rio_lock **pp = lock_slot(rio, key), *l = *pp;

	if (!l || --l->count)
		return;
	*pp = l->next;
	mem_free(l);
	atomic_fetch_sub_explicit(&rio->st_locked, 1, memory_order_relaxed);
}

static bool locked(struct respio *rio, const struct kvt_key *key)
{
	return *lock_slot(rio, key) != NULL;
}

/* ---- runs ------------------------------------------------------------------ */

static void run_free(struct rio_run *run)
{
	mem_free(run->res);
	mem_free(run->hdrs);
}

/* Allocates the per-key state.  Return: 0 or -ENOMEM. */
static int run_init(struct respio *rio, struct rio_run *run, struct l2_job *job,
		    enum rio_cmd cmd)
{
	size_t n = job->n;
	size_t per = RESP_KEY_MAX + sizeof(uint16_t) * 2 + 2 + sizeof(int) + sizeof(uint32_t);
	uint8_t *p;

	memset(run, 0, sizeof(*run));
	run->job = job;
	run->cmd = cmd;
	p = mem_alloc(n * per);
	if (!p)
		return -ENOMEM;
	/* widest first, so every array is aligned */
	run->res = (int *)p;
	p += n * sizeof(int);
	run->corrupt = (uint32_t *)p;
	p += n * sizeof(uint32_t);
	run->namelen = (uint16_t *)p;
	p += n * sizeof(uint16_t);
	run->node = (uint16_t *)p;
	p += n * sizeof(uint16_t);
	run->names = (char (*)[RESP_KEY_MAX])p;
	p += n * RESP_KEY_MAX;
	run->ask = p;
	p += n;
	run->state = p;
	if (cmd == CMD_SET && n) {
		run->hdrs = mem_alloc(n * (FSCHUNK_HDR + 1));
		if (!run->hdrs) {
			mem_free(run->res);
			return -ENOMEM;
		}
		run->sealed = run->hdrs + n * FSCHUNK_HDR;
		memset(run->sealed, 0, n);
	}
	for (size_t i = 0; i < n; i++) {
		run->namelen[i] = (uint16_t)resp_key_name(&rio->conf, &job->keys[i], run->names[i]);
		run->node[i] = RIO_NO_NODE;
		run->ask[i] = 0;
		run->state[i] = K_NEW;
		run->res[i] = 0;
	}
	return 0;
}

static void key_fail(struct respio *rio, struct rio_run *run, size_t i, int code)
{
	run->state[i] = K_FAILED;
	run->res[i] = code;
	if (!run->first_err)
		run->first_err = code;
	bump(&rio->st_errors, 1);
}

static void set_bit(struct kvt_l2_task *task, size_t i)
{
	task->bitmap[i / 64] |= 1ull << (i % 64);
}

/* The node of key @i by its slot.  Return: index or -errno. */
static int route(struct respio *rio, struct rio_run *run, size_t i)
{
	unsigned int slot;

	if (!rio->conf.cluster)
		return 0;
	if ((!rio->map_loaded || rio->map_stale) && clock_now_ms() >= rio->map_next)
		map_refresh(rio, NULL, 0);
	if (!rio->map_loaded)
		return -ENXIO;
	slot = resp_key_slot(run->names[i], run->namelen[i]);
	return rio->slot_node[slot] == RIO_NO_NODE ? -ENXIO : rio->slot_node[slot];
}

static int enqueue(struct rio_node *nd, uint32_t i)
{
	if (nd->nq == nd->qcap) {
		size_t cap = nd->qcap ? nd->qcap * 2 : 256;
		uint32_t *q = realloc(nd->q, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		nd->q = q;
		nd->qcap = cap;
	}
	nd->q[nd->nq++] = i;
	return 0;
}

/* Queue the text (and segments) of key @i's command. */
static int add_cmd(struct respio *rio, struct rio_run *run, size_t i)
{
	struct resp_sendq *q = &rio->sq;
	const char *name = run->names[i];
	unsigned int nlen = run->namelen[i];
	int ret = 0;

	if (run->ask[i])
		ret = resp_sendq_text(q, "*1\r\n$6\r\nASKING\r\n");
	if (ret)
		return ret;
	switch (run->cmd) {
	case CMD_SET: {
		size_t len = run->job->lens[i];

		/* hashed here, not when the task came: the server parses the
		 * value written before this one meanwhile (a redirect resends it) */
		if (!run->sealed[i]) {
			resp_value_header(run->hdrs + i * FSCHUNK_HDR, &run->job->keys[i],
					  run->job->bufs[i], len);
			run->sealed[i] = 1;
		}
		ret = resp_sendq_text(q, "*%d\r\n$3\r\nSET\r\n$%u\r\n%s\r\n$%zu\r\n",
			      rio->conf.ttl_s ? 6 : 4, nlen, name, (size_t)FSCHUNK_HDR + len);
		if (!ret)
			ret = resp_sendq_ptr(q, run->hdrs + i * FSCHUNK_HDR, FSCHUNK_HDR);
		if (!ret)
			ret = resp_sendq_ptr(q, run->job->bufs[i], len);
		if (!ret)
			ret = resp_sendq_text(q, "\r\n$2\r\nNX\r\n");
		if (!ret && rio->conf.ttl_s) {
			char ttl[24];
			int tl = snprintf(ttl, sizeof(ttl), "%llu",
					  (unsigned long long)rio->conf.ttl_s);

			ret = resp_sendq_text(q, "$2\r\nEX\r\n$%d\r\n%s\r\n", tl, ttl);
		}
		return ret;
	}
	case CMD_STRLEN:
		return resp_sendq_text(q, "*2\r\n$6\r\nSTRLEN\r\n$%u\r\n%s\r\n", nlen, name);
	case CMD_GET:
		return resp_sendq_text(q, "*2\r\n$3\r\nGET\r\n$%u\r\n%s\r\n", nlen, name);
	case CMD_DEL:
		return resp_sendq_text(q, "*2\r\n$3\r\nDEL\r\n$%u\r\n%s\r\n", nlen, name);
	}
	return -EINVAL;
}

/* Fail every key queued on @nd from position @from. */
static void fail_rest(struct respio *rio, struct rio_run *run, struct rio_node *nd, size_t from,
		      int code)
{
	for (size_t k = from; k < nd->nq; k++)
		key_fail(rio, run, nd->q[k], code);
	nd->qpos = nd->nq;
	nd->win_sent = false;
}

/* Write the send queue to @nd and empty it.  Return: 0 or -errno. */
static int sq_write(struct respio *rio, struct rio_node *nd)
{
	int ret = resp_sendq_flush(&rio->sq, nd->c->fd);

	if (!ret)
		bump(&rio->st_bytes_out, rio->sq.bytes);
	resp_sendq_reset(&rio->sq);
	return ret;
}

/*
 * Write @nd's next window of commands, in writes of about RIO_WRITE_BYTES:
 * a SET's value is hashed as it is queued, and while the actor hashes the
 * next one the server is already parsing those written (hashing a whole
 * window first would leave the server idle meanwhile).
 */
static void send_window(struct respio *rio, struct rio_run *run, struct rio_node *nd)
{
	size_t bytes = 0;
	int ret;

	ret = node_ready(rio, nd);
	if (ret) {
		fail_rest(rio, run, nd, nd->qpos, ret);
		return;
	}
	resp_sendq_reset(&rio->sq);
	nd->win_from = nd->qpos;
	while (nd->qpos < nd->nq && nd->qpos - nd->win_from < rio->conf.max_inflight &&
	       bytes < RIO_WINDOW_BYTES) {
		size_t i = nd->q[nd->qpos];

		ret = add_cmd(rio, run, i);
		if (ret) {
			fail_rest(rio, run, nd, nd->win_from, ret);
			return;
		}
		if (run->cmd == CMD_SET || run->cmd == CMD_GET)
			bytes += run->job->lens[i];
		nd->qpos++;
		if (rio->sq.bytes >= RIO_WRITE_BYTES) {
			ret = sq_write(rio, nd);
			if (ret)
				goto err_write;
		}
	}
	ret = sq_write(rio, nd);
	if (ret)
		goto err_write;
	nd->win_sent = true;
	return;
err_write:
	node_fail(rio, nd, "write", ret);
	fail_rest(rio, run, nd, nd->win_from, ret);
}

/* ---- the reply reader ------------------------------------------------------ */

/*
 * The replies of a window are read here, not by hiredis's reader: a GET's
 * value goes from the socket straight into the caller's buffer (its header
 * into a scratch block first, checked before the payload is read), so a
 * load costs one copy, the kernel's.  That holds only if the reads into
 * rbuf stop before the payloads: while a GET of a chunk of RD_DIRECT_MIN
 * bytes or more is read they take at most RD_HEAD_READ bytes (the previous
 * value's CRLF, the "$<len>" line and about the value's header), else a
 * read into rbuf would take most of the next payload and cost a memcpy
 * of it (73% of the payload bytes of 256 KiB chunks went so); smaller
 * chunks are cheaper to copy than to read apart.  Only RESP2 replies of
 * one line (+ - :) and bulk strings ($) are expected.  Between windows the
 * buffer is empty, so hiredis's own calls (AUTH, PING, CLUSTER SLOTS)
 * never miss a byte.
 */
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

static int rd_recv(struct rio_node *nd, void *dst, size_t cap, int flags)
{
	for (;;) {
		ssize_t r = recv(nd->c->fd, dst, cap, flags);

		if (r > 0)
			return (int)r;
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	}
}

/* Make at least one more byte available in nd->rbuf, reading at most
 * rd_cap bytes or @want when more.  Return: 0 or -errno. */
static int rd_more(struct rio_node *nd, size_t want)
{
	size_t cap = want > nd->rd_cap ? want : nd->rd_cap;
	int r;

	if (!nd->rbuf) {
		nd->rbuf = mem_alloc(RD_BUF);
		if (!nd->rbuf)
			return -ENOMEM;
	}
	if (nd->rpos == nd->rlen) {
		nd->rpos = nd->rlen = 0;
	} else if (nd->rlen == RD_BUF) {
		if (nd->rpos == 0)
			return -EPROTO;  /* a line longer than the buffer */
		memmove(nd->rbuf, nd->rbuf + nd->rpos, nd->rlen - nd->rpos);
		nd->rlen -= nd->rpos;
		nd->rpos = 0;
	}
	r = rd_recv(nd, nd->rbuf + nd->rlen, RD_BUF - nd->rlen < cap ? RD_BUF - nd->rlen : cap, 0);
	if (r < 0)
		return r;
	nd->rlen += (size_t)r;
	return 0;
}

/* Read @len bytes into @dst (NULL: drop them); what rbuf lacks goes from
 * the socket straight to @dst, never further. */
static int rd_bytes(struct rio_node *nd, void *dst, size_t len)
{
	uint8_t *d = dst;

	while (len) {
		size_t have = nd->rlen - nd->rpos;
		int r;

		if (have) {
			size_t k = have < len ? have : len;

			if (d) {
				memcpy(d, nd->rbuf + nd->rpos, k);
				d += k;
			}
			nd->rpos += k;
			len -= k;
			continue;
		}
		if (d) {
			/* one call per payload, not one per segment that arrives */
			r = rd_recv(nd, d, len, MSG_WAITALL);
			if (r < 0)
				return r;
			d += r;
			len -= (size_t)r;
			continue;
		}
		r = rd_more(nd, len);
		if (r)
			return r;
	}
	return 0;
}

/* Read one reply's first line.  Return: 0 or -errno (-EPROTO: garbage). */
static int rd_head(struct rio_node *nd, struct rd_reply *rr)
{
	for (;;) {
		char *start = (char *)nd->rbuf + nd->rpos;
		size_t have = nd->rlen - nd->rpos;
		char *nl = have ? memchr(start, '\n', have) : NULL;
		char *end;
		int r;

		if (!nl || nl == start || nl[-1] != '\r') {
			if (nl)
				return -EPROTO;
			if (have >= RD_LINE_MAX)
				return -EPROTO;
			r = rd_more(nd, 0);
			if (r)
				return r;
			continue;
		}
		nl[-1] = 0;
		nd->rpos += (size_t)(nl + 1 - start);
		rr->type = start[0];
		rr->str = start + 1;
		rr->len = (size_t)(nl - 1 - (start + 1));
		if (rr->type == '+' || rr->type == '-')
			return 0;
		if (rr->type != ':' && rr->type != '$')
			return -EPROTO;
		errno = 0;
		rr->integer = strtoll(start + 1, &end, 10);
		if (errno || end != nl - 1 || (rr->type == '$' && rr->integer < -1))
			return -EPROTO;
		return 0;
	}
}

/* A GET's value of @vlen bytes for key @i: header into scratch, checked,
 * then the payload into the caller's buffer and checked there.  Return:
 * 0 (res in *@res: 0 loaded, else why it is a miss) or an I/O code. */
static int rd_value(struct respio *rio, struct rio_run *run, size_t i, struct rio_node *nd,
		    size_t vlen, int *res, struct fschunk_info *info)
{
	struct l2_job *job = run->job;
	size_t hl = vlen < FSCHUNK_HDR ? vlen : FSCHUNK_HDR;
	int ret;

	ret = rd_bytes(nd, rio->hdr, hl);
	if (ret)
		return ret;
	*res = fschunk_hdr_check(rio->hdr, hl, &job->keys[i], job->lens[i], info);
	if (*res == 0 && vlen - FSCHUNK_HDR != info->len)
		*res = -EBADMSG;
	if (*res)
		return rd_bytes(nd, NULL, vlen - hl + 2);
	ret = rd_bytes(nd, job->bufs[i], info->len);
	if (!ret)
		ret = rd_bytes(nd, NULL, 2);
	if (ret)
		return ret;
	if (!fschunk_payload_ok(info, job->bufs[i], info->len))
		*res = -EBADMSG;
	return 0;
}

/* Handle key @i's reply @rr from node @from (a bulk body is read here).
 * Return: 0, or an I/O code (the connection is then unusable). */
static int on_reply(struct respio *rio, struct rio_run *run, size_t i, struct rio_node *from,
		    const struct rd_reply *rr)
{
	struct l2_job *job = run->job;
	struct resp_redirect rd;

	if (rr->type == '-' && resp_redirect_parse(rr->str, rr->len, &rd)) {
		int idx = node_get(rio, rd.host[0] ? rd.host : from->host, rd.port);

		bump(&rio->st_redirections, 1);
		if (idx < 0) {
			key_fail(rio, run, i, idx);
			return 0;
		}
		run->node[i] = (uint16_t)idx;
		run->ask[i] = rd.ask;
		run->state[i] = K_REDIRECT;
		if (!rd.ask && rio->conf.cluster) {
			rio->slot_node[rd.slot] = (uint16_t)idx;
			rio->nodes[idx]->owns = true;
			run->moved = true;
		}
		return 0;
	}
	if (rr->type == '-') {
		set_error(rio, "%s:%d: %s: %s", from->host, from->port, run->names[i], rr->str);
		if (run->cmd == CMD_SET)
			bump(&rio->st_refused, 1);
		key_fail(rio, run, i, refusal_code(rr->str));
		return 0;
	}
	if (rr->type == '$' && rr->integer >= 0 && run->cmd != CMD_GET) {
		int ret = rd_bytes(from, NULL, (size_t)rr->integer + 2);

		if (ret)
			return ret;
		key_fail(rio, run, i, -EPROTO);
		return 0;
	}
	run->state[i] = K_DONE;
	switch (run->cmd) {
	case CMD_SET:
		if (rr->type == '+') {
			run->bytes += job->lens[i];
			bump(&rio->st_stores, 1);
		} else if (rr->type != '$') {   /* $-1: NX found it stored */
			key_fail(rio, run, i, -EPROTO);
			return 0;
		}
		set_bit(job->task, i);
		run->ok++;
		return 0;
	case CMD_STRLEN:
		if (rr->type != ':' || rr->integer < (long long)FSCHUNK_HDR)
			return 0;
		/* a hit we could not lock would be a lie: call it a miss */
		if (!lock_take(rio, &job->keys[i]))
			return 0;
		set_bit(job->task, i);
		if (job->task->lens)
			job->task->lens[i] = (size_t)rr->integer - FSCHUNK_HDR;
		run->ok++;
		return 0;
	case CMD_GET: {
		struct fschunk_info info;
		int res, ret;

		if (rr->type != '$' || rr->integer < 0)
			return 0;
		bump(&rio->st_bytes_in, (uint64_t)rr->integer);
		ret = rd_value(rio, run, i, from, (size_t)rr->integer, &res, &info);
		if (ret)
			return ret;
		if (res == -EBADMSG) {
			bump(&rio->st_corrupt, 1);
			run->corrupt[run->ncorrupt++] = (uint32_t)i;
		}
		if (res)
			return 0;
		if (job->task->lens)
			job->task->lens[i] = info.len;
		set_bit(job->task, i);
		run->bytes += info.len;
		run->ok++;
		bump(&rio->st_loads, 1);
		return 0;
	}
	case CMD_DEL:
		if (rr->type != ':') {
			key_fail(rio, run, i, -EPROTO);
			return 0;
		}
		run->res[i] = rr->integer > 0 ? 0 : -ENOENT;
		if (rr->integer > 0) {
			job->deleted++;
			run->ok++;
		}
		return 0;
	}
	return 0;
}

/* Read the replies of @nd's window. */
static void read_window(struct respio *rio, struct rio_run *run, struct rio_node *nd)
{
	for (size_t k = nd->win_from; k < nd->qpos; k++) {
		size_t i = nd->q[k];
		struct rd_reply rr;
		int ret;

		nd->rd_cap = run->cmd == CMD_GET && run->job->lens[i] >= RD_DIRECT_MIN ?
				     RD_HEAD_READ : RD_BUF;
		/* ASKING's +OK first: it only arms the next command */
		if (run->ask[i]) {
			ret = rd_head(nd, &rr);
			if (ret)
				goto err_io;
		}
		ret = rd_head(nd, &rr);
		if (!ret)
			ret = on_reply(rio, run, i, nd, &rr);
		if (!ret)
			continue;
err_io:
		node_fail(rio, nd, "read", ret);
		fail_rest(rio, run, nd, k, ret);
		return;
	}
	bump(&rio->st_round_trips, 1);
	nd->win_sent = false;
}

/* One round: every queued key's command is sent and answered. */
static void run_round(struct respio *rio, struct rio_run *run)
{
	bool more = true;

	while (more) {
		more = false;
		/* write every node's window before reading any: they work in parallel */
		for (size_t n = 0; n < rio->nnodes; n++)
			if (rio->nodes[n]->qpos < rio->nodes[n]->nq)
				send_window(rio, run, rio->nodes[n]);
		for (size_t n = 0; n < rio->nnodes; n++)
			if (rio->nodes[n]->win_sent)
				read_window(rio, run, rio->nodes[n]);
		for (size_t n = 0; n < rio->nnodes; n++)
			if (rio->nodes[n]->qpos < rio->nodes[n]->nq)
				more = true;
	}
}

static void run_exec(struct respio *rio, struct rio_run *run)
{
	for (int round = 0;; round++) {
		size_t queued = 0;

		for (size_t n = 0; n < rio->nnodes; n++)
			rio->nodes[n]->nq = rio->nodes[n]->qpos = 0;
		for (size_t i = 0; i < run->job->n; i++) {
			int idx;

			if (run->state[i] != K_NEW && run->state[i] != K_REDIRECT)
				continue;
			if (round == RIO_MAX_ROUNDS) {
				key_fail(rio, run, i, -ELOOP);
				continue;
			}
			idx = run->state[i] == K_NEW ? route(rio, run, i) : run->node[i];
			if (idx < 0 || enqueue(rio->nodes[idx], (uint32_t)i)) {
				key_fail(rio, run, i, idx < 0 ? idx : -ENOMEM);
				continue;
			}
			run->state[i] = K_QUEUED;
			queued++;
		}
		if (!queued)
			break;
		run_round(rio, run);
		if (run->moved) {
			map_refresh(rio, NULL, 0);
			run->moved = false;
		}
	}
}

/* Delete the values a load found corrupt, so a later store rewrites them. */
static void delete_corrupt(struct respio *rio, struct rio_run *load)
{
	struct l2_job *job;
	struct rio_run run;
	size_t n = load->ncorrupt;

	job = mem_zalloc(sizeof(*job) + n * sizeof(*job->keys));
	if (!job)
		return;
	job->op = KVT_L2_NOPS;
	job->n = n;
	job->keys = (struct kvt_key *)(job + 1);
	for (size_t k = 0; k < n; k++)
		job->keys[k] = load->job->keys[load->corrupt[k]];
	if (run_init(rio, &run, job, CMD_DEL) == 0) {
		run_exec(rio, &run);
		bump(&rio->st_corrupt_removed, (uint64_t)job->deleted);
		run_free(&run);
	}
	mem_free(job);
}

static void rio_on_task(struct respio *rio, struct l2_job *job)
{
	static const enum rio_cmd cmds[] = {
		[KVT_L2_STORE] = CMD_SET, [KVT_L2_LOOKUP] = CMD_STRLEN, [KVT_L2_LOAD] = CMD_GET,
	};
	struct rio_run run;
	int ret;

	ACTOR_ASSERT_SELF(&rio->actor);
	if (!job->n) {
		job->task->bytes = 0;
		l2_glue_complete(rio->glue, job);
		return;
	}
	ret = run_init(rio, &run, job, cmds[job->op]);
	if (ret) {
		job->task->bytes = ret;
		l2_glue_complete(rio->glue, job);
		return;
	}
	if (job->op == KVT_L2_STORE)
		for (size_t i = 0; i < job->n; i++)
			if (FSCHUNK_HDR + (uint64_t)job->lens[i] > rio->conf.max_value_bytes)
				key_fail(rio, &run, i, -EMSGSIZE);
	run_exec(rio, &run);
	if (run.ncorrupt && rio->conf.delete_corrupt)
		delete_corrupt(rio, &run);
	job->task->bytes = run.ok == 0 && run.first_err ? run.first_err : (int64_t)run.bytes;
	run_free(&run);
	publish_health(rio);
	l2_glue_complete(rio->glue, job);
}

static void rio_on_delete(struct respio *rio, struct l2_job *job)
{
	struct rio_run run;
	int ret;

	ACTOR_ASSERT_SELF(&rio->actor);
	job->deleted = 0;
	if (!job->n)
		return;
	ret = run_init(rio, &run, job, CMD_DEL);
	if (ret) {
		for (size_t i = 0; job->results && i < job->n; i++)
			job->results[i] = ret;
		return;
	}
	for (size_t i = 0; i < job->n; i++)
		if (locked(rio, &job->keys[i])) {
			run.state[i] = K_DONE;
			run.res[i] = -EBUSY;
		}
	run_exec(rio, &run);
	for (size_t i = 0; job->results && i < job->n; i++)
		job->results[i] = run.res[i];
	run_free(&run);
	publish_health(rio);
}

/* ---- the actor --------------------------------------------------------------- */

static void rio_start(void *ctx)
{
	sigset_t old;

	(void)ctx;
	sigpipe_block(&old);
}

static void rio_handle(void *ctx, const struct actor_msg *m)
{
	struct respio *rio = ctx;
	struct kvt_key key;

	switch (m->op) {
	case RIO_TASK:
		rio_on_task(rio, m->ptr[0]);
		break;
	case RIO_UNLOCK:
		key.lo = m->u64[0];
		key.hi = m->u64[1];
		lock_drop(rio, &key);
		break;
	case RIO_DELETE:
		rio_on_delete(rio, m->ptr[0]);
		completion_signal(m->done, 0);
		break;
	}
}

/* Between messages: PING the connected nodes, reconnect the dropped ones
 * once their backoff passed, reload a stale slot map; at most every
 * RIO_PING_MS. */
static int rio_idle(void *ctx)
{
	struct respio *rio = ctx;
	uint64_t now = clock_now_ms();

	if (now < rio->ping_next)
		return (int)(rio->ping_next - now);
	for (size_t i = 0; i < rio->nnodes; i++) {
		struct rio_node *nd = rio->nodes[i];
		redisReply *r;

		if (rio->conf.cluster && !nd->owns && i != 0)
			continue;
		if (!nd->c) {
			if (clock_now_ms() >= nd->retry_at)
				node_connect(rio, nd);
			continue;
		}
		r = redisCommand(nd->c, "PING");
		if (!r)
			node_fail(rio, nd, "PING", io_code(nd->c));
		freeReplyObject(r);
	}
	if (rio->conf.cluster && (rio->map_stale || !rio->map_loaded) &&
	    clock_now_ms() >= rio->map_next)
		map_refresh(rio, NULL, 0);
	publish_health(rio);
	rio->ping_next = clock_now_ms() + RIO_PING_MS;
	return RIO_PING_MS;
}

static const struct actor_ops rio_ops = {
	.on_start = rio_start,
	.handle = rio_handle,
	.idle = rio_idle,
};

static void rio_free(struct respio *rio)
{
	for (size_t i = 0; i < rio->nnodes; i++) {
		if (rio->nodes[i]->c)
			redisFree(rio->nodes[i]->c);
		free(rio->nodes[i]->q);
		mem_free(rio->nodes[i]->rbuf);
		mem_free(rio->nodes[i]);
	}
	free(rio->nodes);
	for (size_t b = 0; b < RIO_LOCK_BUCKETS; b++)
		while (rio->locks[b]) {
			struct rio_lock *l = rio->locks[b];

			rio->locks[b] = l->next;
			mem_free(l);
		}
	resp_sendq_free(&rio->sq);
	mem_free(rio->slot_node);
	pthread_mutex_destroy(&rio->err_mu);
	mem_free(rio);
}

int respio_create(const struct resp_conf *conf, struct l2_glue *glue, struct respio **out,
		  char *err, size_t errlen)
{
	struct respio *rio;
	sigset_t old;
	int ret;

	rio = mem_zalloc(sizeof(*rio));
	if (!rio)
		return -ENOMEM;
	pthread_mutex_init(&rio->err_mu, NULL);
	rio->conf = *conf;
	rio->glue = glue;
	ret = node_get(rio, conf->host, conf->port);
	if (ret < 0)
		goto err_free;
	if (conf->cluster) {
		rio->slot_node = mem_alloc(RESP_SLOTS * sizeof(*rio->slot_node));
		ret = -ENOMEM;
		if (!rio->slot_node)
			goto err_free;
		for (unsigned int s = 0; s < RESP_SLOTS; s++)
			rio->slot_node[s] = RIO_NO_NODE;
	}
	sigpipe_block(&old);
	ret = node_connect(rio, rio->nodes[0]);
	if (ret == 0 && conf->cluster) {
		char refusal[128] = "";

		ret = map_refresh(rio, refusal, sizeof(refusal));
		if (ret == -EPROTO) {
			snprintf(err, errlen, "resp: %s: cluster is true but CLUSTER SLOTS failed: %s",
				 conf->url_redacted, refusal[0] ? refusal : "malformed reply");
			ret = -EINVAL;
		}
	}
	sigpipe_restore(&old);
	if (ret == -EACCES || ret == -EINVAL || ret == -EPROTO) {
		if (ret != -EINVAL || !conf->cluster)
			snprintf(err, errlen, "resp: %s: %s", conf->url_redacted, rio->last_error);
		if (ret == -EPROTO)
			ret = -EACCES;  /* a server that answers PING with an error: NOAUTH */
		goto err_free;
	}
	if (ret)
		log_warn("resp: %s: not reachable now, will retry: %s", conf->url_redacted,
			 rio->last_error);
	publish_health(rio);
	rio->ping_next = clock_now_ms() + RIO_PING_MS;
	ret = actor_start(&rio->actor, "respio", &rio_ops, rio, RIO_MAILBOX, RIO_WAIT_MS, -1);
	if (ret) {
		snprintf(err, errlen, "resp: cannot start the I/O actor: %s", strerror(-ret));
		goto err_free;
	}
	*out = rio;
	return 0;
err_free:
	rio_free(rio);
	return ret;
}

void respio_destroy(struct respio *rio)
{
	actor_stop(&rio->actor);
	rio_free(rio);
}

int respio_submit(struct respio *rio, struct l2_job *job)
{
	struct actor_msg m = { .op = RIO_TASK, .ptr = { job } };

	return actor_post(&rio->actor, &m);
}

int respio_delete(struct respio *rio, struct l2_job *job)
{
	struct actor_msg m = { .op = RIO_DELETE, .ptr = { job } };

	return actor_call(&rio->actor, &m);
}

void respio_unlock(struct respio *rio, const struct kvt_key *key)
{
	struct actor_msg m = { .op = RIO_UNLOCK, .u64 = { key->lo, key->hi } };

	while (actor_post(&rio->actor, &m) == -ETIMEDOUT)
		log_warn("resp: mailbox full, still posting an unlock");
}

void respio_stats(struct respio *rio, struct rio_stats *out)
{
#define LD(f) atomic_load_explicit(&rio->st_##f, memory_order_relaxed)
	out->healthy = atomic_load_explicit(&rio->healthy, memory_order_relaxed);
	out->nodes = LD(nodes);
	out->nodes_up = LD(nodes_up);
	out->round_trips = LD(round_trips);
	out->bytes_out = LD(bytes_out);
	out->bytes_in = LD(bytes_in);
	out->redirections = LD(redirections);
	out->map_refreshes = LD(map_refreshes);
	out->errors = LD(errors);
	out->refused = LD(refused);
	out->reconnects = LD(reconnects);
	out->corrupt = LD(corrupt);
	out->corrupt_removed = LD(corrupt_removed);
	out->stores = LD(stores);
	out->loads = LD(loads);
	out->locked = LD(locked);
#undef LD
	pthread_mutex_lock(&rio->err_mu);
	memcpy(out->last_error, rio->last_error, sizeof(out->last_error));
	pthread_mutex_unlock(&rio->err_mu);
}
