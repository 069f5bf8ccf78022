/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/pool.c - the pool L2 tier of kvtier-stress
 * (tier_pool, run by procs.c): the kvtier-poold it runs against, the
 * adapter's config, the look at the daemon's registry and counters (Maru's
 * metadata RPC, reference maru.md section 2, as proto/maru/maru_rpc.h
 * encodes it), and the checks of the adapter's counters.
 *
 * Daemon.  Unless --pool-server names one, the harness starts kvtier-poold
 * from its own build folder with a /dev/shm pool (unlinked by the daemon
 * once open, so nothing stays in /dev/shm even when it is killed), its RPC
 * endpoint (ipc://) and resource-manager socket and its log in a fresh /tmp
 * directory, and a client lease of POOL_LEASE_MS, so a killed engine
 * process loses its pins within it even if its socket's close went unseen.
 * It is stopped with SIGTERM at the end (it must exit 0, its log free of
 * sanitizer reports), and killed on SIGINT/SIGTERM and from the watchdog
 * (pool_stop_signal); PR_SET_PDEATHSIG kills it if the harness dies.
 *
 * The look: a DEALER of its own (5 s timeouts).  The supervisor keeps one
 * open from start to end (pool_look_open), so that no connection of its
 * own opens or closes while engine processes start: kvtier-poold matches a
 * closed socket to its clients by fd, and may blame a client that just got
 * the fd of one that just closed (see procs.c).  pool_scan() makes its own.
 *
 * Threads: the supervisor's main thread, and an engine process's main
 * thread (pool_scan); pool_stop_signal() also from a signal handler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include "l2/fschunk.h"
#include "proto/maru/maru_mp.h"
#include "proto/maru/maru_rpc.h"
#include "tools/common/progress.h"
#include "tools/kvtier-stress/stress.h"

#define REGION_MB 8          /* the adapter's regions: about 120 pages of 64 KiB chunks */
#define CALL_TIMEOUT_MS 5000
#define SCAN_BATCH 512       /* keys per BATCH_EXISTS_KV */
#define READY_WAIT_MS 20000
#define STOP_WAIT_MS 20000

/* The daemon this process started; written before any signal handler may
 * read them (the handlers only read). */
static pid_t daemon_pid;
static pid_t owner;           /* the process that started it */
static char dir[64];          /* its sockets and log */
static char log_path[96];

bool pool_own_daemon(void)
{
	return daemon_pid > 0;
}

/* ---- the daemon ---- */

/* kvtier-poold beside this binary.  A TSan build uses the ASan daemon if
 * there is one: libzmq is not instrumented, and a TSan daemon reports its
 * own races (the tests do the same, tests/common/poold.c). */
static int daemon_exe(char *out, size_t len)
{
	char self[PATH_MAX], *d;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -errno;
	self[n] = '\0';
	d = dirname(self);
	n = (ssize_t)strlen(d);
	if (n >= 5 && !strcmp(d + n - 5, "/tsan")) {
		snprintf(out, len, "%.*s/asan/kvtier-poold", (int)(n - 5), d);
		if (access(out, X_OK) == 0)
			return 0;
	}
	snprintf(out, len, "%s/kvtier-poold", d);
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static bool log_has(const char *what)
{
	bool found = false;
	char line[1024];
	FILE *f = fopen(log_path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/* The daemon's log on stderr, its last 60 lines. */
static void print_log(void)
{
	char lines[60][256];
	unsigned int n = 0;
	FILE *f = fopen(log_path, "r");

	if (!f)
		return;
	while (fgets(lines[n % 60], sizeof(lines[0]), f))
		n++;
	fclose(f);
	for (unsigned int i = n > 60 ? n - 60 : 0; i < n; i++)
		fprintf(stderr, "  kvtier-poold: %s", lines[i % 60]);
}

static void nap_ms(unsigned int ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int start_daemon(struct stress *s)
{
	char exe[PATH_MAX], rpc[128], pool[32], lease[16];
	uint64_t deadline;
	int ret = daemon_exe(exe, sizeof(exe));

	if (ret) {
		fprintf(stderr, "kvtier-stress: --tier pool: kvtier-poold is not built beside this "
			"binary (or name a server with --pool-server)\n");
		return ret;
	}
	snprintf(dir, sizeof(dir), "/tmp/kvtier-stress-pool-XXXXXX");
	if (!mkdtemp(dir)) {
		ret = -errno;
		fprintf(stderr, "kvtier-stress: mkdtemp(%s): %s\n", dir, strerror(-ret));
		dir[0] = '\0';
		return ret;
	}
	owner = getpid();
	snprintf(log_path, sizeof(log_path), "%s/poold.log", dir);
	snprintf(rpc, sizeof(rpc), "ipc://%s/rpc.sock", dir);
	snprintf(s->pool_server, sizeof(s->pool_server), "%s", rpc);
	snprintf(s->pool_rm, sizeof(s->pool_rm), "%s/rm.sock", dir);
	snprintf(pool, sizeof(pool), "%uM", s->o.pool_mb);
	snprintf(lease, sizeof(lease), "%d", POOL_LEASE_MS);
	fflush(NULL);
	daemon_pid = fork();
	if (daemon_pid < 0) {
		ret = -errno;
		daemon_pid = 0;
		fprintf(stderr, "kvtier-stress: fork: %s\n", strerror(-ret));
		return ret;
	}
	if (daemon_pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != owner)
			_exit(127);
		/* stdout too: a --json reader sees only the harness's lines */
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		/* every refused delete is a warning; the log is read on failure */
		setenv("KVT_LOG", "error", 0);
		execl(exe, exe, "--rpc", rpc, "--rm-socket", s->pool_rm, "--shm-pool", pool,
		      "--client-lease-ms", lease, (char *)NULL);
		_exit(127);
	}
	deadline = tool_now_ns() + READY_WAIT_MS * 1000000ull;
	while (tool_now_ns() < deadline) {
		int st;

		if (log_has("kvtier-poold: ready"))
			return 0;
		if (waitpid(daemon_pid, &st, WNOHANG) == daemon_pid) {
			daemon_pid = 0;
			fprintf(stderr, "kvtier-stress: kvtier-poold (%s) exited before it was ready "
				"(status %#x):\n", exe, st);
			print_log();
			return -EIO;
		}
		nap_ms(10);
	}
	fprintf(stderr, "kvtier-stress: kvtier-poold not ready in %d s:\n", READY_WAIT_MS / 1000);
	print_log();
	return -ETIMEDOUT;
}

int pool_prepare(struct stress *s)
{
	struct l2_scan sc;
	int ret;

	if (!s->o.pool_server)
		return start_daemon(s);
	snprintf(s->pool_server, sizeof(s->pool_server), "%s", s->o.pool_server);
	snprintf(s->pool_rm, sizeof(s->pool_rm), "%s", s->o.pool_rm);
	ret = pool_scan(s, &sc);
	if (ret)
		fprintf(stderr, "kvtier-stress: --pool-server %s: no answer: %s\n",
			s->pool_server, strerror(-ret));
	else if (sc.files)
		fprintf(stderr, "kvtier-stress: --pool-server %s holds %llu keys of the keyspace "
			"(an earlier run's versions would read as never written): delete them or "
			"restart it\n", s->pool_server, (unsigned long long)sc.files);
	l2_scan_free(&sc);
	return ret ? ret : sc.files ? -EEXIST : 0;
}

int pool_stop(void)
{
	uint64_t deadline = tool_now_ns() + STOP_WAIT_MS * 1000000ull;
	int st = 0, ret = 0;

	pool_look_close();
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		while (waitpid(daemon_pid, &st, WNOHANG) != daemon_pid) {
			if (tool_now_ns() >= deadline) {
				kill(daemon_pid, SIGKILL);
				waitpid(daemon_pid, &st, 0);
				break;
			}
			nap_ms(10);
		}
		daemon_pid = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) || log_has("Sanitizer") ||
		    log_has("runtime error")) {
			fprintf(stderr, "kvtier-stress: kvtier-poold did not stop cleanly (status "
				"%#x):\n", st);
			print_log();
			ret = -1;
		}
	}
	if (dir[0])
		rm_tree(dir);
	dir[0] = '\0';
	return ret;
}

/* SIGKILL the engine processes and the daemon, and remove the daemon's
 * directory: async-signal-safe, for the handlers; the daemon only in the
 * process that started it. */
static void pool_stop_signal(void)
{
	procs_kill_signal();
	/* an engine process inherits the handlers: the daemon is not its own */
	if (getpid() != owner)
		return;
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	if (dir[0])
		rm_tree(dir);
}

static int pool_config(struct stress *s, uint32_t fault_ppm, struct knobs *k)
{
	/* heartbeats well inside the lease; regions small enough that the
	 * adapter expands, and frees pages, all through the run */
	if (knob_add(k, "l2_adapters", "{\"type\":\"pool\",\"server\":\"%s\",\"rm\":\"%s\","
		     "\"size_gb\":%.12f,\"heartbeat_ms\":%d}", s->pool_server, s->pool_rm,
		     REGION_MB / 1024.0, POOL_LEASE_MS / 8)) {
		fprintf(stderr, "kvtier-stress: --pool-server: too long for the adapter's config\n");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* ---- the look ---- */

/* A connection to the daemon, and the answer to its last request. */
struct conn {
	void *ctx, *sock;
	uint32_t seq;
	zmq_msg_t msg;
	bool has_msg;
	struct mp_cur c;   /* the answer's payload map */
};

/* The supervisor's, while pool_look_open() holds it. */
static struct conn look;

static int conn_open(const struct stress *s, struct conn *cn)
{
	int t = CALL_TIMEOUT_MS, zero = 0;

	memset(cn, 0, sizeof(*cn));
	cn->ctx = zmq_ctx_new();
	cn->sock = cn->ctx ? zmq_socket(cn->ctx, ZMQ_DEALER) : NULL;
	if (!cn->sock)
		return -ENOMEM;
	zmq_setsockopt(cn->sock, ZMQ_RCVTIMEO, &t, sizeof(t));
	zmq_setsockopt(cn->sock, ZMQ_SNDTIMEO, &t, sizeof(t));
	zmq_setsockopt(cn->sock, ZMQ_LINGER, &zero, sizeof(zero));
	return zmq_connect(cn->sock, s->pool_server) ? -EINVAL : 0;
}

static void conn_close(struct conn *cn)
{
	if (cn->has_msg)
		zmq_msg_close(&cn->msg);
	if (cn->sock)
		zmq_close(cn->sock);
	if (cn->ctx)
		zmq_ctx_term(cn->ctx);
	memset(cn, 0, sizeof(*cn));
}

/*
 * Send the request packed in @sb (after maru_resp_begin) as @type and wait
 * for its answer (an answer to an earlier request that timed out is
 * skipped); @cn->c is on its payload until the next call.  Return: 0, or
 * -errno.
 */
static int conn_call(struct conn *cn, uint8_t type, msgpack_sbuffer *sb)
{
	struct maru_hdr h = { .magic = MARU_MAGIC, .version = MARU_VERSION, .type = type,
			      .seq = ++cn->seq, .len = (uint32_t)(sb->size - MARU_HDR_SIZE) };
	struct maru_hdr got;

	maru_hdr_encode((uint8_t *)sb->data, &h);
	/* [empty delimiter, frame], as Maru's async client sends */
	if (zmq_send(cn->sock, "", 0, ZMQ_SNDMORE) < 0 ||
	    zmq_send(cn->sock, sb->data, sb->size, 0) < 0)
		return -ECONNREFUSED;
	for (;;) {
		if (cn->has_msg)
			zmq_msg_close(&cn->msg);
		zmq_msg_init(&cn->msg);
		cn->has_msg = true;
		if (zmq_msg_recv(&cn->msg, cn->sock, 0) < 0)
			return -ETIMEDOUT;
		if (zmq_msg_more(&cn->msg) ||
		    maru_hdr_decode(zmq_msg_data(&cn->msg), zmq_msg_size(&cn->msg), &got) ||
		    got.seq != h.seq)
			continue;
		if (got.type != maru_resp_type(type) ||
		    got.len != zmq_msg_size(&cn->msg) - MARU_HDR_SIZE)
			return -EPROTO;
		mp_init(&cn->c, (uint8_t *)zmq_msg_data(&cn->msg) + MARU_HDR_SIZE, got.len);
		return 0;
	}
}

int pool_look_open(const struct stress *s)
{
	return conn_open(s, &look);
}

void pool_look_close(void)
{
	conn_close(&look);
}

/* Member @name of section @sec of a GET_STATS answer, or 0 when absent. */
static uint64_t stat_of(const struct mp_cur *map, const char *sec, const char *name)
{
	struct mp_cur c = *map;
	uint64_t v = 0;

	if (mp_map_member(&c, sec) || mp_map_member(&c, name) || mp_read_u64(&c, &v))
		return 0;
	return v;
}

int pool_daemon_stats(const struct stress *s, struct pool_daemon_stats *out)
{
	struct conn own, *cn = look.sock ? &look : &own;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (cn == &own)
		ret = conn_open(s, &own);
	msgpack_sbuffer_init(&sb);
	maru_resp_begin(&sb, &pk);
	msgpack_pack_map(&pk, 0);
	if (!ret)
		ret = conn_call(cn, MARU_GET_STATS, &sb);
	if (!ret) {
		const struct mp_cur *m = &cn->c;

		out->entries = stat_of(m, "kv_manager", "total_entries");
		out->pinned_entries = stat_of(m, "kv_manager", "pinned_entries");
		out->total_pins = stat_of(m, "kv_manager", "total_pins");
		out->force_unpins = stat_of(m, "kv_manager", "force_unpins");
		out->unpin_underflows = stat_of(m, "kv_manager", "unpin_underflows");
		out->refused_deletes = stat_of(m, "kv_manager", "delete_refused_pinned");
		out->refused_registers = stat_of(m, "kv_manager", "refused_registers");
		out->allocations = stat_of(m, "allocation_manager", "num_allocations");
		out->pool_total = stat_of(m, "allocation_manager", "pool_total");
		out->pool_free = stat_of(m, "allocation_manager", "pool_free");
		out->regions_freed = stat_of(m, "allocation_manager", "regions_freed");
		out->deferred_frees = stat_of(m, "allocation_manager", "deferred_frees");
		out->clients = stat_of(m, "server", "clients");
		out->clients_gone = stat_of(m, "server", "clients_gone");
		out->leases_expired = stat_of(m, "server", "leases_expired");
		out->bad_requests = stat_of(m, "server", "bad_header") +
				    stat_of(m, "server", "bad_payload") +
				    stat_of(m, "server", "oversized") +
				    stat_of(m, "server", "unknown_type");
	}
	if (cn == &own)
		conn_close(&own);
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

/* BATCH_EXISTS_KV of keys @first..@first + @n into @sc. */
static int scan_batch(struct conn *cn, uint64_t first, uint32_t n, struct l2_scan *sc)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct mp_cur c;
	uint32_t cnt;
	int ret;

	msgpack_sbuffer_init(&sb);
	maru_resp_begin(&sb, &pk);
	msgpack_pack_map(&pk, 1);
	maru_pack_cstr(&pk, "keys");
	msgpack_pack_array(&pk, n);
	for (uint64_t id = first; id < first + n; id++) {
		struct kvt_key key = stress_key(id);
		char name[FSCHUNK_NAME_LEN + 1];

		/* the adapter's name of a key: its 32 hex digits */
		fschunk_name(&key, name);
		msgpack_pack_str(&pk, 32);
		msgpack_pack_str_body(&pk, name, 32);
	}
	ret = conn_call(cn, MARU_BATCH_EXISTS_KV, &sb);
	c = cn->c;
	if (!ret && (mp_map_member(&c, "results") || mp_read_array(&c, &cnt) || cnt != n))
		ret = -EPROTO;
	for (uint64_t id = first; !ret && id < first + n; id++) {
		bool found;

		if (mp_read_bool(&c, &found)) {
			ret = -EPROTO;
			break;
		}
		sc->state[id] = found ? L2_INTACT : L2_ABSENT;
		sc->files += found;
		sc->intact += found;
	}
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

int pool_scan(struct stress *s, struct l2_scan *sc)
{
	struct conn cn;
	int ret;

	memset(sc, 0, sizeof(*sc));
	sc->state = calloc(s->nkeys, sizeof(*sc->state));
	if (!sc->state)
		return -ENOMEM;
	ret = conn_open(s, &cn);
	for (uint64_t id = 0; !ret && id < s->nkeys; id += SCAN_BATCH)
		ret = scan_batch(&cn, id, (uint32_t)(s->nkeys - id < SCAN_BATCH ? s->nkeys - id :
						     SCAN_BATCH), sc);
	conn_close(&cn);
	return ret;
}

/* ---- the tier ---- */

/*
 * pool_accounting() - the pool adapter's own counters.  Nobody writes the
 * pool behind the adapter's back, and a load only follows a lookup that
 * pinned its keys (a pinned key is never deleted, so its page is never
 * reused under the copy): no load may find a bad value, and every load
 * served is an L2 hit.  The daemon is local: no request may fail or time
 * out, and with a pool larger than the keyspace no store may find no page.
 * The adapter sends its unpins when idle: they are waited for.
 */
static void pool_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
			    const struct worker_acct *a, struct l2_status *l2)
{
	uint64_t deadline = tool_now_ns() + 2000000000ull;

	while (l2->pins != l2->unpins && tool_now_ns() < deadline) {
		nap_ms(10);
		l2_status(s->kvt, l2);
	}
	check(c, l2->healthy, "pool: the adapter is healthy");
	check(c, l2->corrupt == 0, "pool: corrupt %" PRIu64 " == 0 (loads copy pinned keys only)",
	      l2->corrupt);
	check(c, l2->errors == 0 && l2->rpc_errors == 0 && l2->rm_errors == 0 && l2->unknown == 0 &&
	      l2->renewals == 0, "pool: errors %" PRIu64 ", rpc_errors %" PRIu64 ", rm_errors %"
	      PRIu64 ", unknown_outcome %" PRIu64 ", renewals %" PRIu64 " all 0", l2->errors,
	      l2->rpc_errors, l2->rm_errors, l2->unknown, l2->renewals);
	check(c, l2->pins == l2->unpins, "pool: every lookup pin unpinned (pins %" PRIu64
	      ", unpins %" PRIu64 ")", l2->pins, l2->unpins);
	check(c, l2->loads == st->l2_hits, "pool: loads %" PRIu64 " == l2_hits %" PRIu64,
	      l2->loads, st->l2_hits);
}

static uint32_t pool_keys(const struct stress_opts *o, const struct kvt_stats *st)
{
	/* most reads miss L1 and go to the pool */
	return (uint32_t)(8 * st->l1_slots);
}

static const char *pool_where(const struct stress *s)
{
	return s->pool_server;
}

/* The supervisor (procs_main) starts the daemon before any engine process
 * opens an instance, cleans up and reports; an engine process only opens
 * the adapter. */
const struct tier_ops tier_pool = {
	.name = "pool",
	.l2 = true,
	.unit = "entry",
	.keys = pool_keys,
	.run = procs_main,
	.config = pool_config,
	.where = pool_where,
	.accounting = pool_accounting,
	.scan = pool_scan,
	.stop_signal = pool_stop_signal,
};
