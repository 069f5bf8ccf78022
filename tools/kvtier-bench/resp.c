/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/resp.c - `kvtier-bench resp`: store and load GB/s and
 * ops/s of the resp L2 adapter against one local redis-server it starts
 * itself, beside redis-benchmark's SET and GET of values of the same size
 * on the same server in the same run (the limit: what Redis itself takes
 * from a hiredis client on this machine).
 *
 * Per chunk size (256 KiB and 4 MiB by default), N chunks (--total-mib in
 * all), each filled from its id.  Each of --reps repetitions: FLUSHALL;
 * "store" = submit_store() of --batch keys a task, one task at a time (one
 * pipeline each); "load" = submit_load() of the same batches, checked byte
 * by byte after the timed window; then `redis-benchmark -t set,get -d SIZE
 * -n N -r N -P BATCH -c 1 --csv` (one connection, the same pipeline depth,
 * keys drawn from N names, so the server allocates new values as it does
 * for the adapter's distinct chunks: the shapes match).  The adapter's figures count payload bytes only (each
 * value also carries the 4096-byte header); the table shows medians.
 *
 * Threads: main; the adapter's actor runs the I/O and the callbacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/resp_adapter.h"
#include "kvtier.h"
#include "tools/kvtier-bench/bench.h"

#define MAX_REPS 15
#define NSIZES 2
#define GOAL_RATIO 0.8

static const size_t sizes[NSIZES] = { 256 * 1024, 4 * 1024 * 1024 };

struct opts {
	uint64_t total_mib, batch, reps;
	bool json;
};

static pid_t srv_pid;
static char srv_dir[64];

static void srv_cleanup(void)
{
	char cmd[128];

	if (srv_pid > 0) {
		kill(srv_pid, SIGKILL);
		waitpid(srv_pid, NULL, 0);
		srv_pid = 0;
	}
	if (srv_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srv_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "kvtier-bench: could not remove %s\n", srv_dir);
		srv_dir[0] = 0;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static redisReply *cmd(int port, const char *c)
{
	struct timeval tv = { 30, 0 };
	redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *r = NULL;

	if (ctx && !ctx->err) {
		redisSetTimeout(ctx, tv);
		r = redisCommand(ctx, c);
	}
	if (ctx)
		redisFree(ctx);
	return r;
}

/* Start redis-server on a free port in a temp dir.  Return: port or -1. */
static int srv_start(void)
{
	char line[512];
	int port = free_port();

	snprintf(srv_dir, sizeof(srv_dir), "/tmp/kvt-bench-resp-XXXXXX");
	if (port < 0 || !mkdtemp(srv_dir)) {
		srv_dir[0] = 0;
		return -1;
	}
	atexit(srv_cleanup);
	snprintf(line, sizeof(line),
		 "exec redis-server --port %d --bind 127.0.0.1 --dir '%s' --save '' "
		 "--appendonly no --protected-mode no --logfile redis.log", port, srv_dir);
	fflush(NULL);
	srv_pid = fork();
	if (srv_pid < 0)
		return -1;
	if (srv_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		redisReply *r = cmd(port, "PING");
		bool up = r && r->type == REDIS_REPLY_STATUS;

		if (r)
			freeReplyObject(r);
		if (up)
			return port;
		if (waitpid(srv_pid, NULL, WNOHANG) == srv_pid) {
			srv_pid = 0;
			return -1;
		}
		usleep(20000);
	}
	return -1;
}

static void fill(uint8_t *p, size_t len, uint64_t id)
{
	uint64_t x = bench_mix64(id + 1);

	for (size_t i = 0; i + 8 <= len; i += 8) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		memcpy(p + i, &x, 8);
	}
}

/* Submit one task and wait for it on its event fd.  Return: task bytes. */
static int64_t run_task(struct kvt_l2_adapter *a, enum kvt_l2_op op, const struct kvt_key *keys,
			void **bufs, size_t *lens, size_t n, uint64_t *bm, size_t *got)
{
	struct kvt_l2_task t = { .bitmap = bm, .lens = got };
	struct pollfd pfd = { .fd = resp_l2_ops.event_fd(a, op), .events = POLLIN };
	int ret;

	if (op == KVT_L2_STORE)
		ret = resp_l2_ops.submit_store(a, keys, (const void *const *)bufs, lens, n, &t);
	else
		ret = resp_l2_ops.submit_load(a, keys, bufs, lens, n, &t);
	if (ret)
		return ret;
	while (!kvt_l2_task_done(&t)) {
		uint64_t v;

		if (poll(&pfd, 1, 1000) == 1 && read(pfd.fd, &v, sizeof(v)) < 0)
			(void)0;
	}
	return t.bytes;
}

/* redis-benchmark's SET and GET requests per second.  Return: 0 or -1. */
static int peer(int port, size_t size, uint64_t n, uint64_t batch, double *set_rps,
		double *get_rps)
{
	char line[512];
	FILE *f;

	*set_rps = *get_rps = 0;
	snprintf(line, sizeof(line),
		 "redis-benchmark -h 127.0.0.1 -p %d -t set,get -d %zu -n %llu -r %llu -P %llu -c 1 "
		 "--csv 2>/dev/null", port, size, (unsigned long long)n, (unsigned long long)n,
		 (unsigned long long)batch);
	f = popen(line, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		double rps;
		char test[16];

		if (sscanf(line, "\"%15[^\"]\",\"%lf\"", test, &rps) != 2)
			continue;
		if (!strcmp(test, "SET"))
			*set_rps = rps;
		else if (!strcmp(test, "GET"))
			*get_rps = rps;
	}
	return pclose(f) == 0 && *set_rps > 0 && *get_rps > 0 ? 0 : -1;
}

struct row {
	size_t size;
	uint64_t n;
	double store_gbps, load_gbps, set_gbps, get_gbps;
	double store_ops, load_ops, set_ops, get_ops;
};

static int measure(struct kvt_l2_adapter *a, int port, const struct opts *o, size_t size,
		   struct row *row)
{
	uint64_t n = o->total_mib * 1048576ull / size;
	double st[MAX_REPS], ld[MAX_REPS], sr[MAX_REPS], gr[MAX_REPS];
	struct kvt_key *keys;
	void **bufs, **out;
	size_t *lens, *got;
	uint64_t bm[(4096 + 63) / 64];
	int ret = -1;

	if (n < o->batch)
		n = o->batch;
	keys = calloc(n, sizeof(*keys));
	bufs = calloc(n, sizeof(*bufs));
	out = calloc(n, sizeof(*out));
	lens = calloc(n, sizeof(*lens));
	got = calloc(n, sizeof(*got));
	if (!keys || !bufs || !out || !lens || !got)
		goto out_free;
	for (uint64_t i = 0; i < n; i++) {
		bufs[i] = malloc(size);
		out[i] = malloc(size);
		if (!bufs[i] || !out[i])
			goto out_free;
		fill(bufs[i], size, i);
		memset(out[i], 0, size);
		lens[i] = size;
		keys[i].lo = bench_mix64(i * 2 + size);
		keys[i].hi = bench_mix64(i * 2 + 1 + size);
	}
	for (uint64_t r = 0; r < o->reps; r++) {
		redisReply *fl = cmd(port, "FLUSHALL");
		uint64_t t0, stored = 0, loaded = 0;

		if (fl)
			freeReplyObject(fl);
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i += o->batch) {
			size_t k = n - i < o->batch ? n - i : o->batch;
			int64_t b = run_task(a, KVT_L2_STORE, keys + i, bufs + i, lens + i, k, bm,
					     NULL);

			stored += b > 0 ? (uint64_t)b : 0;
		}
		st[r] = (double)stored / (double)(now_ns() - t0);
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i += o->batch) {
			size_t k = n - i < o->batch ? n - i : o->batch;
			int64_t b = run_task(a, KVT_L2_LOAD, keys + i, out + i, lens + i, k, bm,
					     got + i);

			loaded += b > 0 ? (uint64_t)b : 0;
		}
		ld[r] = (double)loaded / (double)(now_ns() - t0);
		if (stored != n * size || loaded != n * size) {
			fprintf(stderr, "kvtier-bench: resp: stored %llu, loaded %llu of %llu bytes\n",
				(unsigned long long)stored, (unsigned long long)loaded,
				(unsigned long long)(n * size));
			goto out_free;
		}
		for (uint64_t i = 0; i < n; i++)
			if (memcmp(bufs[i], out[i], size)) {
				fprintf(stderr, "kvtier-bench: resp: chunk %llu loaded wrong\n",
					(unsigned long long)i);
				goto out_free;
			}
		fl = cmd(port, "FLUSHALL");
		if (fl)
			freeReplyObject(fl);
		if (peer(port, size, n, o->batch, &sr[r], &gr[r])) {
			sr[r] = gr[r] = 0;
			fprintf(stderr, "kvtier-bench: resp: redis-benchmark failed (is redis-tools "
					"installed?)\n");
		}
		fprintf(stderr, "  %zu KiB rep %llu: store %.2f load %.2f GB/s; redis-benchmark "
				"SET %.0f GET %.0f req/s\n", size / 1024, (unsigned long long)r + 1,
			st[r], ld[r], sr[r], gr[r]);
	}
	row->size = size;
	row->n = n;
	row->store_gbps = bench_median(st, o->reps);
	row->load_gbps = bench_median(ld, o->reps);
	row->set_ops = bench_median(sr, o->reps);
	row->get_ops = bench_median(gr, o->reps);
	row->store_ops = row->store_gbps * 1e9 / (double)size;
	row->load_ops = row->load_gbps * 1e9 / (double)size;
	row->set_gbps = row->set_ops * (double)size / 1e9;
	row->get_gbps = row->get_ops * (double)size / 1e9;
	ret = 0;
out_free:
	for (uint64_t i = 0; i < n && bufs && out; i++) {
		free(bufs[i]);
		free(out[i]);
	}
	free(keys);
	free(bufs);
	free(out);
	free(lens);
	free(got);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kvtier-bench resp [--total-mib N] [--batch N] [--reps N] [--json]\n"
		   "  starts its own redis-server on a free loopback port; needs redis-server\n"
		   "  and redis-benchmark (redis-tools)\n"
		   "  --total-mib  bytes of chunks per size (default 512)\n"
		   "  --batch      keys per task and redis-benchmark pipeline (default 16)\n"
		   "  --reps       repetitions; medians are shown (default 3)\n");
}

int resp_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "total-mib", required_argument, NULL, 't' }, { "batch", required_argument, NULL, 'b' },
		{ "reps", required_argument, NULL, 'r' },      { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },            { NULL, 0, NULL, 0 },
	};
	struct opts o = { 512, 16, 3, false };
	struct kvt_l2_param p[3];
	struct kvt_l2_config cfg = { .type = "resp", .params = p, .nparams = 2, .json = "{}" };
	struct kvt_l2_adapter *a = NULL;
	struct row rows[NSIZES];
	struct json_line j;
	char url[64], err[512];
	double store_ratio = 1e9, load_ratio = 1e9;
	int c, port;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (bench_parse_u64("--total-mib", optarg, 8, 1 << 20, &o.total_mib))
				return BENCH_EXIT_USAGE;
			break;
		case 'b':
			if (bench_parse_u64("--batch", optarg, 1, 4096, &o.batch))
				return BENCH_EXIT_USAGE;
			break;
		case 'r':
			if (bench_parse_u64("--reps", optarg, 1, MAX_REPS, &o.reps))
				return BENCH_EXIT_USAGE;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return BENCH_EXIT_OK;
		default:
			usage(stderr);
			return BENCH_EXIT_USAGE;
		}
	}
	port = srv_start();
	if (port < 0) {
		fprintf(stderr, "kvtier-bench: resp: could not start redis-server (is it "
				"installed?)\n");
		return BENCH_EXIT_FAIL;
	}
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
	p[0] = (struct kvt_l2_param){ "type", "resp" };
	p[1] = (struct kvt_l2_param){ "url", url };
	if (resp_l2_ops.create(&cfg, NULL, &a, err, sizeof(err))) {
		fprintf(stderr, "kvtier-bench: resp: %s\n", err);
		return BENCH_EXIT_FAIL;
	}
	printf("resp: redis-server 127.0.0.1:%d (no persistence), %llu MiB per size, batch %llu, "
	       "%llu reps, loadavg %.2f\n", port, (unsigned long long)o.total_mib,
	       (unsigned long long)o.batch, (unsigned long long)o.reps, bench_loadavg());
	for (int s = 0; s < NSIZES; s++)
		if (measure(a, port, &o, sizes[s], &rows[s])) {
			resp_l2_ops.destroy(a);
			return BENCH_EXIT_FAIL;
		}
	resp_l2_ops.destroy(a);
	printf("\n%-6s %6s | %10s %10s %10s | %10s %10s %10s | %6s %6s\n", "chunk", "n",
	       "store GB/s", "store op/s", "SET GB/s", "load GB/s", "load op/s", "GET GB/s",
	       "st/SET", "ld/GET");
	for (int s = 0; s < NSIZES; s++) {
		const struct row *r = &rows[s];
		double sr = bench_ratio(r->store_gbps, r->set_gbps);
		double lr = bench_ratio(r->load_gbps, r->get_gbps);

		printf("%4zuKiB %6llu | %10.3f %10.0f %10.3f | %10.3f %10.0f %10.3f | %6.2f %6.2f\n",
		       r->size / 1024, (unsigned long long)r->n, r->store_gbps, r->store_ops,
		       r->set_gbps, r->load_gbps, r->load_ops, r->get_gbps, sr, lr);
		store_ratio = sr < store_ratio ? sr : store_ratio;
		load_ratio = lr < load_ratio ? lr : load_ratio;
		if (sr != sr)
			store_ratio = sr;
		if (lr != lr)
			load_ratio = lr;
	}
	printf("\nratios: the adapter (payload bytes) / redis-benchmark -c 1 -P %llu (value "
	       "bytes), worst size; goal >= %.1f\n", (unsigned long long)o.batch, GOAL_RATIO);
	if (!o.json)
		return BENCH_EXIT_OK;
	json_begin(&j);
	json_str(&j, "workload", "resp");
	json_u64(&j, "total_mib", o.total_mib);
	json_u64(&j, "batch", o.batch);
	json_u64(&j, "reps", o.reps);
	json_str(&j, "stat", "median");
	json_num(&j, "loadavg_1m", bench_loadavg(), 2);
	json_num(&j, "store_ratio", store_ratio, 3);
	json_num(&j, "load_ratio", load_ratio, 3);
	json_bool(&j, "goal_store_met", store_ratio >= GOAL_RATIO);
	json_bool(&j, "goal_load_met", load_ratio >= GOAL_RATIO);
	for (int s = 0; s < NSIZES; s++) {
		const struct row *r = &rows[s];
		char k[8][40];

		snprintf(k[0], 40, "store_gbps_%zuk", r->size / 1024);
		snprintf(k[1], 40, "load_gbps_%zuk", r->size / 1024);
		snprintf(k[2], 40, "set_gbps_%zuk", r->size / 1024);
		snprintf(k[3], 40, "get_gbps_%zuk", r->size / 1024);
		snprintf(k[4], 40, "store_ops_%zuk", r->size / 1024);
		snprintf(k[5], 40, "load_ops_%zuk", r->size / 1024);
		snprintf(k[6], 40, "store_ratio_%zuk", r->size / 1024);
		snprintf(k[7], 40, "load_ratio_%zuk", r->size / 1024);
		json_num(&j, k[0], r->store_gbps, 3);
		json_num(&j, k[1], r->load_gbps, 3);
		json_num(&j, k[2], r->set_gbps, 3);
		json_num(&j, k[3], r->get_gbps, 3);
		json_num(&j, k[4], r->store_ops, 0);
		json_num(&j, k[5], r->load_ops, 0);
		json_num(&j, k[6], bench_ratio(r->store_gbps, r->set_gbps), 3);
		json_num(&j, k[7], bench_ratio(r->load_gbps, r->get_gbps), 3);
	}
	return json_end(&j) ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
