/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/resp.c - the resp L2 tier of kvtier-stress
 * (tier_resp): the Redis Cluster it runs against, the thread that corrupts
 * values and pauses a master while the workers run, the look at what Redis
 * holds at the end, the checks of the adapter's counters, and its lines of
 * the progress and the report.
 *
 * Servers.  Unless --resp-url names one, the harness starts its own
 * cluster of 3 masters without replicas (tools/common/redis_srv.h: free
 * loopback ports, one directory each under a fresh /tmp directory, no
 * persistence), and kills them at exit, on SIGINT/SIGTERM and from the
 * watchdog (resp_stop_signal).  Every run uses its own key prefix, so an
 * earlier run's values (versions this run never wrote) are never read.
 *
 * The fault thread stands for another client of a shared cache that
 * writes over the adapter's values (or a bad byte in a server): every
 * --corrupt-ms it picks a key and, if Redis holds a value for it, flips a
 * payload or header byte (GETRANGE, SETRANGE), SETs a prefix of it, random
 * bytes, or another key's whole value over it.  The adapter checks the
 * header, the key and the checksum of each value it loads and must serve a
 * miss (and delete the value); the workers verify every byte they read, so
 * one that got through shows up as a CORRUPTION.  Every few seconds it
 * also stops one master (SIGSTOP) for --resp-pause-ms, longer than the
 * adapter's timeout_ms, then resumes it (SIGCONT): the adapter must time
 * out, fail or miss that master's keys, reconnect, and never hang.
 *
 * Unlike the fs tier no marks are kept: a value can be judged by itself
 * (l2/resp/resp_value.h), and no corruption the thread makes passes those
 * checks.  A flip races the adapter's writes (GETRANGE then SETRANGE are
 * two commands): if the value was replaced between them the byte written
 * may equal the new value's, which leaves a value the adapter wrote, valid
 * and served; that is not a corruption, and the end check calls it intact.
 *
 * Threads: fault_main() on the fault thread; everything else on main
 * (resp_stop_signal also from a signal handler).  The thread shares only
 * its [atomic] counters until main joins it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "l2/fschunk.h"
#include "l2/resp/resp_conf.h"
#include "l2/resp/resp_slot.h"
#include "l2/resp/resp_value.h"
#include "tools/common/progress.h"
#include "tools/common/redis_srv.h"
#include "tools/kvtier-stress/stress.h"

#define MASTERS 3
#define HDR_USED 56           /* bytes of the header that carry fields (fschunk.h) */
#define PAUSE_EVERY_MS 2500   /* a master is stopped this often */
#define MAX_CONNS 16
#define EXTERNAL_TTL_S 3600   /* values left on a server we do not own expire */

static struct redis_srv srv[MASTERS];
static bool own_servers;
static char srv_dir[64];      /* the parent of the servers' directories */
/* the node every command goes to first (MOVED tells where a slot lives) */
static char seed_host[RESP_HOST_MAX];
static int seed_port;
static char auth_user[RESP_SECRET_MAX], auth_pass[RESP_SECRET_MAX];
/* the key head (this run's prefix; no hash tag) resp_key_name() reads;
 * written by resp_prepare() before any thread starts */
static struct resp_conf key_conf;

/* ---- servers ---- */

/*
 * resp_prepare() - where the resp tier lives: --resp-url, or a Redis
 * Cluster of 3 masters that it starts (free loopback ports, a fresh
 * directory under /tmp; resp_stop() stops them).  Sets s->resp_url,
 * s->resp_cluster and s->resp_prefix (this run's own key prefix, from the
 * seed).  Return: 0, or -errno with a message.
 */
static int resp_prepare(struct stress *s)
{
	struct resp_conf conf;
	char err[256];
	int ret;

	snprintf(s->resp_prefix, sizeof(s->resp_prefix), "kvtier-stress-%016" PRIx64 ":",
		 s->o.seed ^ tool_now_ns() ^ ((uint64_t)getpid() << 40));
	key_conf.keyhead_len = strlen(s->resp_prefix);
	memcpy(key_conf.keyhead, s->resp_prefix, key_conf.keyhead_len + 1);
	if (s->o.resp_url) {
		memset(&conf, 0, sizeof(conf));
		ret = resp_url_parse(s->o.resp_url, &conf, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "kvtier-stress: --resp-url: %s\n", err);
			return ret;
		}
		snprintf(seed_host, sizeof(seed_host), "%s", conf.host);
		seed_port = conf.port;
		snprintf(auth_user, sizeof(auth_user), "%s", conf.username);
		snprintf(auth_pass, sizeof(auth_pass), "%s", conf.password);
		if (!auth_pass[0] && getenv(RESP_PASSWORD_ENV))
			snprintf(auth_pass, sizeof(auth_pass), "%s", getenv(RESP_PASSWORD_ENV));
		explicit_bzero(&conf, sizeof(conf));
		snprintf(s->resp_url, sizeof(s->resp_url), "%s", s->o.resp_url);
		s->resp_cluster = s->o.resp_cluster;
		return 0;
	}
	if (!redis_available()) {
		fprintf(stderr, "kvtier-stress: --tier resp: redis-server is not installed (or "
			"name a server with --resp-url)\n");
		return -ENOENT;
	}
	snprintf(srv_dir, sizeof(srv_dir), "/tmp/kvtier-stress-redis-XXXXXX");
	if (!mkdtemp(srv_dir)) {
		ret = -errno;
		fprintf(stderr, "kvtier-stress: mkdtemp(%s): %s\n", srv_dir, strerror(-ret));
		srv_dir[0] = '\0';
		return ret;
	}
	own_servers = true;
	if (redis_cluster_create(srv, MASTERS, srv_dir, 20)) {
		fprintf(stderr, "kvtier-stress: could not start a Redis Cluster of %d masters "
			"(logs under %s)\n", MASTERS, srv_dir);
		return -EIO;
	}
	snprintf(seed_host, sizeof(seed_host), "127.0.0.1");
	seed_port = srv[0].port;
	snprintf(s->resp_url, sizeof(s->resp_url), "redis://127.0.0.1:%d", seed_port);
	s->resp_cluster = true;
	return 0;
}

/* Stop the servers resp_prepare() started and remove their directory.
 * resp_stop_signal(): the same, async-signal-safe, for the handlers. */
static void resp_stop_signal(void)
{
	redis_kill_all();
	if (srv_dir[0])
		rm_tree(srv_dir);
}

static void resp_stop(void)
{
	for (int i = 0; i < MASTERS; i++)
		redis_kill(&srv[i]);
	if (srv_dir[0])
		rm_tree(srv_dir);
	srv_dir[0] = '\0';
	own_servers = false;
}

static int resp_config(struct stress *s, uint32_t fault_ppm, struct knobs *k)
{
	char ttl[48] = "";

	/* on a server we do not own, what the run leaves expires */
	if (s->o.resp_url)
		snprintf(ttl, sizeof(ttl), ",\"ttl_s\":%d", EXTERNAL_TTL_S);
	if (knob_add(k, "l2_adapters", "{\"type\":\"resp\",\"url\":\"%s\",\"cluster\":%s,"
		     "\"timeout_ms\":%u,\"prefix\":\"%s\"%s}", s->resp_url,
		     s->resp_cluster ? "true" : "false", s->o.resp_timeout_ms, s->resp_prefix,
		     ttl)) {
		fprintf(stderr, "kvtier-stress: --resp-url: too long for the adapter's config\n");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* ---- the harness's own connections (owned by one thread) ---- */

struct rconns {
	redisContext *c[MAX_CONNS];
	char host[MAX_CONNS][RESP_HOST_MAX];
	int port[MAX_CONNS];
	size_t n;
	int8_t slot_node[16384];  /* slot -> index in c[], learned from MOVED; -1 unknown */
};

static void rc_init(struct rconns *rc)
{
	memset(rc, 0, sizeof(*rc));
	memset(rc->slot_node, -1, sizeof(rc->slot_node));
}

static void rc_free(struct rconns *rc)
{
	for (size_t i = 0; i < rc->n; i++)
		if (rc->c[i])
			redisFree(rc->c[i]);
	rc->n = 0;
}

/* The connection to @host:@port (made on first use), or NULL. */
static redisContext *rc_node(struct rconns *rc, const char *host, int port, int *idx)
{
	struct timeval tv = { 2, 0 };
	redisContext *c;
	size_t i;

	for (i = 0; i < rc->n; i++)
		if (rc->port[i] == port && !strcmp(rc->host[i], host))
			break;
	if (i == MAX_CONNS)
		return NULL;
	*idx = (int)i;
	if (i < rc->n && rc->c[i])
		return rc->c[i];
	c = redisConnectWithTimeout(host, port, tv);
	if (!c || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (auth_pass[0]) {
		redisReply *r = auth_user[0] ? redisCommand(c, "AUTH %s %s", auth_user, auth_pass) :
					       redisCommand(c, "AUTH %s", auth_pass);
		bool ok = r && r->type == REDIS_REPLY_STATUS;

		if (r)
			freeReplyObject(r);
		if (!ok) {
			redisFree(c);
			return NULL;
		}
	}
	if (i == rc->n) {
		snprintf(rc->host[i], sizeof(rc->host[i]), "%s", host);
		rc->port[i] = port;
		rc->n++;
	}
	rc->c[i] = c;
	return c;
}

/*
 * One command on key @argv[1], sent where its slot lives: first where a
 * MOVED said, else the seed node; MOVED and ASK are followed.
 * Return: the reply (freeReplyObject it), or NULL (the connection failed
 * and was dropped, or the redirections did not end).
 */
static redisReply *rc_cmd(struct rconns *rc, int argc, const char **argv, const size_t *lens)
{
	unsigned int slot = resp_key_slot(argv[1], lens[1]);
	int idx = rc->slot_node[slot];
	const char *host = idx >= 0 ? rc->host[idx] : seed_host;
	int port = idx >= 0 ? rc->port[idx] : seed_port;
	char hbuf[RESP_HOST_MAX];
	bool ask = false;

	for (int hop = 0; hop < 5; hop++) {
		struct resp_redirect rd;
		redisContext *c = rc_node(rc, host, port, &idx);
		redisReply *r;

		if (!c)
			return NULL;
		if (ask) {
			r = redisCommand(c, "ASKING");
			if (r)
				freeReplyObject(r);
		}
		r = redisCommandArgv(c, argc, argv, lens);
		if (!r) {
			redisFree(c);
			rc->c[idx] = NULL;
			return NULL;
		}
		if (r->type != REDIS_REPLY_ERROR || !resp_redirect_parse(r->str, r->len, &rd))
			return r;
		freeReplyObject(r);
		ask = rd.ask;
		/* "" names the node that answered */
		if (rd.host[0]) {
			snprintf(hbuf, sizeof(hbuf), "%s", rd.host);
			host = hbuf;
		}
		port = rd.port;
		if (!ask && rc_node(rc, host, port, &idx))
			rc->slot_node[slot] = (int8_t)idx;
	}
	return NULL;
}

/* Key @id's name in Redis, as the adapter names it (resp_value.h). */
static size_t key_name(const struct stress *s, uint64_t id, char out[RESP_KEY_MAX])
{
	struct kvt_key key = stress_key(id);

	(void)s;
	return resp_key_name(&key_conf, &key, out);
}

/* ---- the fault thread ---- */

struct resp_fault {
	struct stress *s;
	struct rconns rc;
};

static bool stopping(const struct stress *s)
{
	return atomic_load_explicit(&s->stop, memory_order_relaxed) != 0;
}

static size_t value_cap(const struct stress *s)
{
	return FSCHUNK_HDR + s->chunk;
}

/* GET @name into f->buf.  Return: its length, or -1 (absent, too long, error). */
static ssize_t get_value(struct resp_fault *rf, const char *name, size_t nlen)
{
	struct l2_fault *f = &rf->s->fault;
	const char *argv[2] = { "GET", name };
	size_t lens[2] = { 3, nlen };
	redisReply *r = rc_cmd(&rf->rc, 2, argv, lens);
	ssize_t got = -1;

	if (r && r->type == REDIS_REPLY_STRING && r->len <= value_cap(rf->s)) {
		memcpy(f->buf, r->str, r->len);
		got = (ssize_t)r->len;
	}
	if (r)
		freeReplyObject(r);
	return got;
}

/* SET @name to the first @len bytes of f->buf (EX on a server not ours). */
static bool set_value(struct resp_fault *rf, const char *name, size_t nlen, size_t len)
{
	const char *argv[5] = { "SET", name, (const char *)rf->s->fault.buf, "EX", "3600" };
	size_t lens[5] = { 3, nlen, len, 2, 4 };
	redisReply *r = rc_cmd(&rf->rc, rf->s->o.resp_url ? 5 : 3, argv, lens);
	bool ok = r && r->type == REDIS_REPLY_STATUS;

	if (r)
		freeReplyObject(r);
	return ok;
}

/* STRLEN of @name, or -1. */
static long long value_len(struct resp_fault *rf, const char *name, size_t nlen)
{
	const char *argv[2] = { "STRLEN", name };
	size_t lens[2] = { 6, nlen };
	redisReply *r = rc_cmd(&rf->rc, 2, argv, lens);
	long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

	if (r)
		freeReplyObject(r);
	return n;
}

/* Flip the byte at @off of @name's value: GETRANGE, then SETRANGE. */
static bool flip_byte(struct resp_fault *rf, const char *name, size_t nlen, size_t off)
{
	char offs[24], b;
	const char *get[4] = { "GETRANGE", name, offs, offs };
	const char *set[4] = { "SETRANGE", name, offs, &b };
	size_t glens[4], slens[4];
	redisReply *r;
	bool ok;

	glens[0] = 8;
	glens[1] = slens[1] = nlen;
	glens[2] = glens[3] = slens[2] = (size_t)sprintf(offs, "%zu", off);
	slens[0] = 8;
	slens[3] = 1;
	r = rc_cmd(&rf->rc, 4, get, glens);
	ok = r && r->type == REDIS_REPLY_STRING && r->len == 1;
	if (ok)
		b = (char)(r->str[0] ^ (char)(1 + prng_next(&rf->s->fault.rng) % 255));
	if (r)
		freeReplyObject(r);
	if (!ok)
		return false;
	r = rc_cmd(&rf->rc, 4, set, slens);
	ok = r && r->type == REDIS_REPLY_INTEGER;
	if (r)
		freeReplyObject(r);
	return ok;
}

/*
 * Corrupt the value of one random key, if Redis holds one.  A value
 * shorter than a header is one of ours already (the adapter writes none),
 * so it is left alone; every replacement is a header and a chunk long at
 * most, as the adapter's values are.  Return: true if a value was
 * corrupted.
 */
static bool corrupt_one(struct resp_fault *rf)
{
	struct stress *s = rf->s;
	struct l2_fault *f = &s->fault;
	uint64_t id = prng_next(&f->rng) % s->nkeys, other;
	enum corrupt_kind kind = (enum corrupt_kind)(prng_next(&f->rng) % CORRUPT_N);
	char name[RESP_KEY_MAX], oname[RESP_KEY_MAX];
	size_t nlen = key_name(s, id, name), span, len;
	long long vlen = value_len(rf, name, nlen);
	bool done = false;
	ssize_t got;

	if (vlen < (long long)FSCHUNK_HDR || (size_t)vlen > value_cap(s))
		return false;
	switch (kind) {
	case CORRUPT_PAYLOAD:
		if ((size_t)vlen > FSCHUNK_HDR) {
			done = flip_byte(rf, name, nlen, FSCHUNK_HDR +
					 prng_next(&f->rng) % ((size_t)vlen - FSCHUNK_HDR));
			break;
		}
		kind = CORRUPT_HEADER;
		/* fall through */
	case CORRUPT_HEADER:
		span = prng_next(&f->rng) & 1 ? HDR_USED : FSCHUNK_HDR;
		done = flip_byte(rf, name, nlen, prng_next(&f->rng) % span);
		break;
	case CORRUPT_TRUNCATE:
		got = get_value(rf, name, nlen);
		done = got > 0 && set_value(rf, name, nlen, prng_next(&f->rng) % (size_t)got);
		break;
	case CORRUPT_GARBAGE:
		len = prng_next(&f->rng) % (value_cap(s) + 1);
		for (size_t i = 0; i < len; i++)
			f->buf[i] = (unsigned char)prng_next(&f->rng);
		done = set_value(rf, name, nlen, len);
		break;
	case CORRUPT_FOREIGN:
		/* a whole, valid value, of the wrong key */
		other = (id + 1 + prng_next(&f->rng) % (s->nkeys - 1)) % s->nkeys;
		key_name(s, other, oname);
		got = get_value(rf, oname, strlen(oname));
		done = got > 0 && set_value(rf, name, nlen, (size_t)got);
		break;
	case CORRUPT_N:
		break;
	}
	if (done)
		atomic_fetch_add_explicit(&f->injected[kind], 1, memory_order_relaxed);
	return done;
}

static void nap_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Stop one master for --resp-pause-ms, then resume it, whatever happens. */
static void pause_one(struct stress *s)
{
	struct redis_srv *m = &srv[prng_next(&s->fault.rng) % MASTERS];

	redis_signal(m, SIGSTOP);
	nap_ms(s->o.pause_ms);
	redis_signal(m, SIGCONT);
	atomic_fetch_add_explicit(&s->fault.pauses, 1, memory_order_relaxed);
}

static void *fault_main(void *arg)
{
	struct resp_fault *rf = arg;
	struct stress *s = rf->s;
	uint64_t next_pause = tool_now_ns() + PAUSE_EVERY_MS * 1000000ull;
	uint64_t step = s->o.corrupt_ms ? s->o.corrupt_ms : 10;

	while (!stopping(s)) {
		uint64_t left_ms = step;

		/* short naps, so the thread stops soon after the deadline */
		while (left_ms && !stopping(s)) {
			uint64_t nap = left_ms < 10 ? left_ms : 10;

			nap_ms(nap);
			left_ms -= nap;
		}
		if (stopping(s))
			break;
		if (own_servers && s->o.pause_ms && tool_now_ns() >= next_pause) {
			pause_one(s);
			next_pause = tool_now_ns() + PAUSE_EVERY_MS * 1000000ull;
		}
		/* most keys of a cycling keyspace have a value; try a few */
		for (int tries = 0; s->o.corrupt_ms && tries < 8 && !stopping(s) &&
				    !corrupt_one(rf); tries++)
			;
	}
	rc_free(&rf->rc);
	free(rf);
	return NULL;
}

/* Start the thread that corrupts values every --corrupt-ms and pauses a
 * master every few seconds (--resp-pause-ms); it stops once s->stop is set
 * (every paused master resumed). */
static int resp_fault_start(struct stress *s)
{
	struct l2_fault *f = &s->fault;
	struct resp_fault *rf;
	int ret;

	if (!s->o.corrupt_ms && !(own_servers && s->o.pause_ms))
		return 0;
	f->rng = (s->o.seed ^ 0x5bd1e9955bd1e995ull) | 1;
	f->buf = malloc(value_cap(s));
	rf = malloc(sizeof(*rf));
	if (!f->buf || !rf) {
		free(rf);
		fprintf(stderr, "kvtier-stress: out of memory\n");
		return -ENOMEM;
	}
	rf->s = s;
	rc_init(&rf->rc);
	ret = pthread_create(&f->thread, NULL, fault_main, rf);
	if (ret) {
		free(rf);
		fprintf(stderr, "kvtier-stress: pthread_create (fault thread): %s\n",
			strerror(ret));
		return -ret;
	}
	f->running = true;
	return 0;
}

/* ---- after the run ---- */

/* Wait (at most @wait_s seconds) until the adapter reports every master up
 * again.  Return: true if it did. */
static bool resp_wait_healthy(struct stress *s, int wait_s)
{
	uint64_t deadline = tool_now_ns() + (uint64_t)wait_s * 1000000000ull;
	struct l2_status st;

	for (;;) {
		l2_status(s->kvt, &st);
		if (st.healthy && st.nodes_up == st.nodes)
			return true;
		if (tool_now_ns() >= deadline)
			return false;
		nap_ms(20);
	}
}

/* A pause near the end may leave the adapter in its reconnect backoff (at
 * most 5 s): the checks after the run need every master. */
static void resp_recover(struct stress *s, struct checks *c)
{
	check(c, resp_wait_healthy(s, 15), "resp: every master up again after the run");
}

/*
 * resp_scan() - classify the value of every key of the keyspace, as
 * fs_scan() does files: absent, intact (the header, the key and the
 * checksum hold: what the adapter wrote), or corrupt (seen by a lookup when
 * at least a header long).  While no corruption thread runs.
 * Return: 0, or -errno when Redis could not be read.
 */
static int resp_scan(struct stress *s, struct l2_scan *sc)
{
	struct rconns *rc = malloc(sizeof(*rc));
	int ret = 0;

	memset(sc, 0, sizeof(*sc));
	sc->state = calloc(s->nkeys, sizeof(*sc->state));
	if (!sc->state || !rc) {
		free(rc);
		return -ENOMEM;
	}
	rc_init(rc);
	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		char name[RESP_KEY_MAX];
		const char *argv[2] = { "GET", name };
		size_t lens[2] = { 3, key_name(s, id, name) };
		redisReply *r = rc_cmd(rc, 2, argv, lens);
		struct fschunk_info info;

		if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
			stress_report(s, "resp: GET %s: %s", name,
				      !r ? "no answer" : r->type == REDIS_REPLY_ERROR ? r->str :
				      "not a string");
			if (r)
				freeReplyObject(r);
			ret = -EIO;
			break;
		}
		if (r->type == REDIS_REPLY_STRING) {
			sc->files++;
			if (resp_value_check(r->str, r->len, &key, s->chunk, &info) == 0) {
				sc->state[id] = L2_INTACT;
				sc->intact++;
			} else {
				bool seen = r->len >= FSCHUNK_HDR;

				sc->state[id] = seen ? L2_CORRUPT : L2_CORRUPT_SHORT;
				sc->corrupt++;
				sc->corrupt_seen += seen;
			}
		}
		freeReplyObject(r);
	}
	rc_free(rc);
	free(rc);
	return ret;
}

/* ---- the tier ---- */

static uint64_t pauses(const struct stress *s)
{
	return atomic_load_explicit(&s->fault.pauses, memory_order_relaxed);
}

/*
 * resp_accounting() - the resp adapter's own counters.  Redis holds what
 * this instance never counts (no chunks or bytes in its report: the server
 * is shared), and a value the fault thread corrupted is detected only when
 * a load reads it, so these are bounds, not equalities.
 */
static void resp_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
			    const struct worker_acct *a, struct l2_status *l2)
{
	check(c, l2->corrupt <= l2_injected(s) && l2->corrupt_removed <= l2->corrupt,
	      "resp: values found corrupt %" PRIu64 " <= %" PRIu64 " corrupted, deleted %" PRIu64
	      " <= found (more would be values the adapter itself wrote bad)", l2->corrupt,
	      l2_injected(s), l2->corrupt_removed);
	check(c, l2->refused == 0, "resp: refused %" PRIu64 " == 0 (no maxmemory, no ACL)",
	      l2->refused);
	if (s->resp_cluster)
		check(c, l2->nodes >= 3 && l2->round_trips > 0,
		      "resp: %" PRIu64 " cluster nodes known, %" PRIu64 " round trips", l2->nodes,
		      l2->round_trips);
	/* a master stopped longer than timeout_ms drops the adapter's
	 * connection, which comes back by a reconnect (unless nothing was
	 * sent to it while it was stopped: then the pause went unseen) */
	if (pauses(s) && s->o.pause_ms > s->o.resp_timeout_ms)
		check(c, l2->reconnects > 0, "resp: %" PRIu64 " reconnects after %" PRIu64
		      " pauses of a master", l2->reconnects, pauses(s));
}

static uint32_t resp_keys(const struct stress_opts *o, const struct kvt_stats *st)
{
	/* most reads miss L1 and go to Redis */
	return (uint32_t)(8 * st->l1_slots);
}

static const char *resp_where(const struct stress *s)
{
	return s->resp_url;
}

static void resp_print_inputs(const struct stress *s, const struct kvt_stats *st)
{
	printf("  resp %s%s%s, prefix %s, timeout_ms %u, a value corrupted every %u ms%s, "
	       "a master stopped for %u ms every %.1f s%s\n", s->resp_url,
	       s->resp_cluster ? " (cluster)" : "",
	       s->o.resp_url ? "" : ": 3 masters of our own, stopped at exit", s->resp_prefix,
	       s->o.resp_timeout_ms, s->o.corrupt_ms, s->o.corrupt_ms ? "" : " (never)",
	       s->o.pause_ms, PAUSE_EVERY_MS / 1000.0,
	       s->o.pause_ms && !s->o.resp_url ? "" : " (never)");
}

static void resp_progress(struct stress *s, const struct kvt_stats *st, char *out, size_t len)
{
	struct l2_status l2;

	l2_status(s->kvt, &l2);
	snprintf(out, len, " resp %" PRIu64 "/%" PRIu64 " up, hits %" PRIu64 " misses %" PRIu64
		 " write errors %" PRIu64 " reconnects %" PRIu64 ", values corrupted %" PRIu64
		 " detected %" PRIu64 ", pauses %" PRIu64, l2.nodes_up, l2.nodes, st->l2_hits,
		 st->l2_misses, st->l2_write_errors, l2.reconnects, l2_injected(s), l2.corrupt,
		 pauses(s));
}

static void resp_report(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
			const struct worker_acct *a)
{
	const struct l2_status *f = &r->l2_close;

	printf("resp (%s%s): %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " promotions, %"
	       PRIu64 " write errors; adapter at close: %" PRIu64 "/%" PRIu64 " nodes up, %" PRIu64
	       " round_trips, %" PRIu64 " redirections, %" PRIu64 " map refreshes, %" PRIu64
	       " reconnects, %" PRIu64 " errors, %" PRIu64 " refused, %" PRIu64 " corrupt (%" PRIu64
	       " deleted); %" PRIu64 " put callbacks (%" PRIu64 " flushes to settle)\n",
	       s->resp_url, s->resp_cluster ? ", cluster" : "", st->l2_hits, st->l2_misses,
	       st->l2_promotions, st->l2_write_errors, f->nodes_up, f->nodes, f->round_trips,
	       f->redirections, f->map_refreshes, f->reconnects, f->errors, f->refused, f->corrupt,
	       f->corrupt_removed, a->cb_fired, a->track_flushes);
	printf("resp faults: ");
	l2_report_corrupted(s, s->tier->unit);
	printf(", %" PRIu64 " pauses of %u ms; found corrupt: %" PRIu64 " in the run, %" PRIu64
	       " deleted at reopen\n", pauses(s), s->o.pause_ms, f->corrupt, r->removed);
	l2_report_reopen(r, s->tier->unit);
}

static void resp_json(struct stress *s, const struct kvt_stats *st, const struct reopen *r)
{
	const struct l2_status *f = &r->l2_close;

	printf(",\"resp\":{\"url\":\"%s\",\"cluster\":%s,\"own_servers\":%s,\"timeout_ms\":%u,"
	       "\"corrupt_ms\":%u,\"pause_ms\":%u,\"pauses\":%" PRIu64 ",\"l2_hits\":%" PRIu64
	       ",\"l2_misses\":%" PRIu64 ",\"l2_bytes_in\":%" PRIu64 ",\"l2_bytes_out\":%" PRIu64
	       ",\"l2_promotions\":%" PRIu64 ",\"l2_write_errors\":%" PRIu64 ",\"nodes\":%" PRIu64
	       ",\"nodes_up\":%" PRIu64 ",\"round_trips\":%" PRIu64 ",\"redirections\":%" PRIu64
	       ",\"map_refreshes\":%" PRIu64 ",\"reconnects\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"refused\":%" PRIu64 ",\"corrupt\":%" PRIu64 ",\"corrupt_removed\":{\"run\":%"
	       PRIu64 ",\"reopen\":%" PRIu64 "},", s->resp_url, s->resp_cluster ? "true" : "false",
	       s->o.resp_url ? "false" : "true", s->o.resp_timeout_ms, s->o.corrupt_ms,
	       s->o.pause_ms, pauses(s), st->l2_hits, st->l2_misses, st->l2_bytes_in,
	       st->l2_bytes_out, st->l2_promotions, st->l2_write_errors, f->nodes, f->nodes_up,
	       f->round_trips, f->redirections, f->map_refreshes, f->reconnects, f->errors,
	       f->refused, f->corrupt, f->corrupt_removed, r->removed);
	l2_json_corrupted(s);
	putchar(',');
	l2_json_reopen(r, s->tier->unit);
	putchar('}');
}

static void resp_summary(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
			 char *out, size_t len)
{
	const struct l2_status *f = &r->l2_close;

	snprintf(out, len, ", resp hits %" PRIu64 " misses %" PRIu64 " write errors %" PRIu64
		 ", values corrupted %" PRIu64 " detected %" PRIu64 ", pauses %" PRIu64
		 ", round_trips %" PRIu64 " redirections %" PRIu64 " reconnects %" PRIu64
		 " corrupt %" PRIu64, st->l2_hits, st->l2_misses, st->l2_write_errors,
		 l2_injected(s), f->corrupt + r->removed, pauses(s), f->round_trips,
		 f->redirections, f->reconnects, f->corrupt);
}

const struct tier_ops tier_resp = {
	.name = "resp",
	.l2 = true,
	.unit = "value",
	.reopens = "keys",
	.keys = resp_keys,
	.prepare = resp_prepare,
	.config = resp_config,
	.where = resp_where,
	.print_inputs = resp_print_inputs,
	.progress = resp_progress,
	.fault_start = resp_fault_start,
	.fault_stop = l2_fault_join,
	.recover = resp_recover,
	.accounting = resp_accounting,
	.scan = resp_scan,
	.at_close = l2_at_close,
	.reopen = l2_reopen_check,
	.report = resp_report,
	.json = resp_json,
	.summary = resp_summary,
	.cleanup = resp_stop,
	.stop_signal = resp_stop_signal,
};
