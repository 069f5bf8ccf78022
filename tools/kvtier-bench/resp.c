/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/resp.c - `kvtier-bench resp`: store and load GB/s and
 * ops/s of the resp L2 adapter against one local redis-server it starts
 * itself, beside redis-benchmark's SET and GET of values of the same size
 * on the same server in the same run (the limit: what Redis itself takes
 * from a hiredis client on this machine).
 *
 * Per chunk size (256 KiB and 4 MiB by default), N chunks (--total-mib in
 * all), each filled from its id.  First an untimed pass writes N values and
 * flushes them, so no timed phase meets an allocator that has never held
 * values of this size.  Each of --reps repetitions, the adapter: FLUSHALL;
 * "store" = submit_store() of --batch keys a task, one task at a time (one
 * pipeline each); "load" = submit_load() of the same batches, checked byte
 * by byte after the timed window.  Then redis-benchmark, one connection
 * and the same pipeline depth (-c 1 -P BATCH), N requests of -d SIZE:
 *  - SET after FLUSHALL, keys drawn from 2^31 names: nearly every SET makes
 *    a new key, as the adapter's distinct chunks do (drawn from N names,
 *    37% would overwrite one and reuse its memory: 25-35% faster here);
 *  - GET after FLUSHALL and writing the N names `-r N` draws from: every
 *    GET returns a whole value, as every load does (with only the SET run
 *    before it, 37% of them would be nil replies of 5 bytes).  Its
 *    GB/s counts the hits alone (INFO keyspace_hits and _misses), so a
 *    nil reply never counts as SIZE bytes.
 * The adapter's figures count payload bytes only (each value also carries
 * the 4096-byte header); the table shows medians.
 *
 * Threads: main; the adapter's actor runs the I/O and the callbacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "l2/resp/resp_adapter.h"
#include "kvtier/l2.h"
#include "tools/common/redis_srv.h"
#include "tools/kvtier-bench/bench.h"

#define MAX_REPS 15
#define MAX_SIZES 2
#define GOAL_RATIO 0.8
#define ALL_NAMES 2147483647ull   /* redis-benchmark -r takes an int */

struct opts {
	uint64_t total_mib, batch, reps;
	size_t sizes[MAX_SIZES];
	int nsizes;
	bool json;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fill(uint8_t *p, size_t len, uint64_t id)
{
	uint64_t x = prng_mix64(id + 1);

	for (size_t i = 0; i + 8 <= len; i += 8) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		memcpy(p + i, &x, 8);
	}
}

static int flushall(const struct redis_srv *srv)
{
	redisReply *r = redis_cmd(srv, "FLUSHALL");
	int ret = r && r->type == REDIS_REPLY_STATUS ? 0 : -1;

	if (r)
		freeReplyObject(r);
	if (ret)
		fprintf(stderr, "kvtier-bench: resp: FLUSHALL failed\n");
	return ret;
}

/* Write @val (@size bytes) under the @n names redis-benchmark -r @n draws
 * from, pipelined @batch at a time.  Return: 0 or -1. */
static int write_names(const struct redis_srv *srv, const void *val, size_t size, uint64_t n,
		       uint64_t batch)
{
	redisContext *c = redis_connect(srv);
	int ret = c ? 0 : -1;

	for (uint64_t i = 0; i < n && !ret; i += batch) {
		uint64_t k = n - i < batch ? n - i : batch;

		for (uint64_t j = 0; j < k; j++)
			redisAppendCommand(c, "SET key:%012" PRIu64 " %b", i + j, val, size);
		for (uint64_t j = 0; j < k && !ret; j++) {
			redisReply *r = NULL;

			if (redisGetReply(c, (void **)&r) != REDIS_OK || r->type != REDIS_REPLY_STATUS)
				ret = -1;
			if (r)
				freeReplyObject(r);
		}
	}
	if (c)
		redisFree(c);
	if (ret)
		fprintf(stderr, "kvtier-bench: resp: writing redis-benchmark's keys failed\n");
	return ret;
}

/* The counter @name of INFO stats, or -1. */
static double info_stat(const struct redis_srv *srv, const char *name)
{
	redisReply *r = redis_cmd(srv, "INFO stats");
	double v = -1;
	const char *at;

	if (r && r->type == REDIS_REPLY_STRING && (at = strstr(r->str, name)) &&
	    at[strlen(name)] == ':')
		v = strtod(at + strlen(name) + 1, NULL);
	if (r)
		freeReplyObject(r);
	return v;
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

/* One redis-benchmark run of @test (set or get).  Return: requests/s or -1. */
static double redis_benchmark(const struct redis_srv *srv, const char *test, size_t size,
			      uint64_t n, uint64_t names, uint64_t batch)
{
	char line[512];
	double rps = -1;
	FILE *f;

	snprintf(line, sizeof(line),
		 "redis-benchmark -h 127.0.0.1 -p %d -t %s -d %zu -n %" PRIu64 " -r %" PRIu64
		 " -P %" PRIu64 " -c 1 --csv 2>/dev/null", srv->port, test, size, n, names, batch);
	f = popen(line, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		double v;
		char name[16];

		if (sscanf(line, "\"%15[^\"]\",\"%lf\"", name, &v) == 2 && !strcasecmp(name, test))
			rps = v;
	}
	return pclose(f) == 0 ? rps : -1;
}

/* redis-benchmark's SET and GET of @size-byte values (see the top): SET
 * requests/s, GET hits/s and the share of GETs that hit.  Return: 0 or -1. */
static int peer(const struct redis_srv *srv, const void *val, size_t size, uint64_t n,
		uint64_t batch, double *set_rps, double *get_hps, double *hit_share)
{
	redisReply *r;
	double hits, misses;

	*set_rps = *get_hps = 0;
	if (flushall(srv))
		return -1;
	*set_rps = redis_benchmark(srv, "set", size, n, ALL_NAMES, batch);
	if (flushall(srv) || write_names(srv, val, size, n, batch))
		return -1;
	r = redis_cmd(srv, "CONFIG RESETSTAT");
	if (r)
		freeReplyObject(r);
	*get_hps = redis_benchmark(srv, "get", size, n, n, batch);
	hits = info_stat(srv, "keyspace_hits");
	misses = info_stat(srv, "keyspace_misses");
	if (*set_rps <= 0 || *get_hps <= 0 || hits <= 0 || misses < 0) {
		fprintf(stderr, "kvtier-bench: resp: redis-benchmark failed (is redis-tools "
				"installed?)\n");
		*set_rps = *get_hps = 0;
		return -1;
	}
	*hit_share = hits / (hits + misses);
	*get_hps *= *hit_share;
	return 0;
}

struct row {
	size_t size;
	uint64_t n;
	double store_gbps, load_gbps, set_gbps, get_gbps;
	double store_ops, load_ops, set_ops, get_ops;
};

/* The adapter's store then load of every chunk, timed apart.  Return: 0 or -1. */
static int adapter(struct kvt_l2_adapter *a, const struct opts *o, const struct kvt_key *keys,
		   void **bufs, void **out, size_t *lens, size_t *got, uint64_t n, size_t size,
		   double *st, double *ld)
{
	uint64_t bm[(4096 + 63) / 64];
	uint64_t t0, stored = 0, loaded = 0;

	t0 = now_ns();
	for (uint64_t i = 0; i < n; i += o->batch) {
		size_t k = n - i < o->batch ? n - i : o->batch;
		int64_t b = run_task(a, KVT_L2_STORE, keys + i, bufs + i, lens + i, k, bm, NULL);

		stored += b > 0 ? (uint64_t)b : 0;
	}
	*st = (double)stored / (double)(now_ns() - t0);
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i += o->batch) {
		size_t k = n - i < o->batch ? n - i : o->batch;
		int64_t b = run_task(a, KVT_L2_LOAD, keys + i, out + i, lens + i, k, bm, got + i);

		loaded += b > 0 ? (uint64_t)b : 0;
	}
	*ld = (double)loaded / (double)(now_ns() - t0);
	if (stored != n * size || loaded != n * size) {
		fprintf(stderr, "kvtier-bench: resp: stored %" PRIu64 ", loaded %" PRIu64
				" of %" PRIu64 " bytes\n", stored, loaded, n * size);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++)
		if (memcmp(bufs[i], out[i], size)) {
			fprintf(stderr, "kvtier-bench: resp: chunk %" PRIu64 " loaded wrong\n", i);
			return -1;
		}
	return 0;
}

static int measure(struct kvt_l2_adapter *a, const struct redis_srv *srv, const struct opts *o,
		   size_t size, struct row *row)
{
	uint64_t n = o->total_mib * 1048576ull / size;
	double st[MAX_REPS], ld[MAX_REPS], sr[MAX_REPS], gr[MAX_REPS];
	struct kvt_key *keys;
	void **bufs, **out;
	size_t *lens, *got;
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
		/* not 0: a zeroing memset may become calloc, which leaves the pages
		 * untouched, and the first load would pay their faults */
		memset(out[i], 0xa5, size);
		lens[i] = size;
		keys[i].lo = prng_mix64(i * 2 + size);
		keys[i].hi = prng_mix64(i * 2 + 1 + size);
	}
	if (write_names(srv, bufs[0], size, n, o->batch) || flushall(srv))
		goto out_free;
	for (uint64_t r = 0; r < o->reps; r++) {
		double hit_share;

		if (flushall(srv) ||
		    adapter(a, o, keys, bufs, out, lens, got, n, size, &st[r], &ld[r]) ||
		    peer(srv, bufs[0], size, n, o->batch, &sr[r], &gr[r], &hit_share))
			goto out_free;
		fprintf(stderr, "  %zu KiB rep %" PRIu64 ": store %.2f load %.2f GB/s; "
				"redis-benchmark SET %.0f req/s, GET %.0f hits/s (%.1f%% hits)\n",
			size / 1024, r + 1, st[r], ld[r], sr[r], gr[r], hit_share * 100);
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
	ret = flushall(srv);
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
	fprintf(f, "usage: kvtier-bench resp [--total-mib N] [--batch N] [--reps N] "
		   "[--chunk-kib N] [--json]\n"
		   "  starts its own redis-server on a free loopback port; needs redis-server\n"
		   "  and redis-benchmark (redis-tools)\n"
		   "  --total-mib  bytes of chunks per size (default 512)\n"
		   "  --batch      keys per task and redis-benchmark pipeline (default 16)\n"
		   "  --reps       repetitions; medians are shown (default 3)\n"
		   "  --chunk-kib  one chunk size instead of 256 and 4096\n");
}

/* Return: 0, or -ENOSPC when the line did not fit. */
static int print_json(const struct opts *o, const struct row *rows, double store_ratio,
		      double load_ratio)
{
	struct json_line j;

	json_begin(&j);
	json_str(&j, "workload", "resp");
	json_u64(&j, "total_mib", o->total_mib);
	json_u64(&j, "batch", o->batch);
	json_u64(&j, "reps", o->reps);
	json_str(&j, "stat", "median");
	json_num(&j, "loadavg_1m", bench_loadavg(), 2);
	json_num(&j, "store_ratio", store_ratio, 3);
	json_num(&j, "load_ratio", load_ratio, 3);
	json_bool(&j, "goal_store_met", store_ratio >= GOAL_RATIO);
	json_bool(&j, "goal_load_met", load_ratio >= GOAL_RATIO);
	for (int s = 0; s < o->nsizes; s++) {
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
	return json_end(&j);
}

static int run(const struct opts *o, const struct redis_srv *srv)
{
	struct kvt_l2_param p[2];
	struct kvt_l2_config cfg = { .type = "resp", .params = p, .nparams = 2, .json = "{}" };
	struct kvt_l2_adapter *a = NULL;
	struct row rows[MAX_SIZES];
	char url[64], err[512];
	double store_ratio = 1e9, load_ratio = 1e9;

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d", srv->port);
	p[0] = (struct kvt_l2_param){ "type", "resp" };
	p[1] = (struct kvt_l2_param){ "url", url };
	if (resp_l2_ops.create(&cfg, NULL, &a, err, sizeof(err))) {
		fprintf(stderr, "kvtier-bench: resp: %s\n", err);
		return BENCH_EXIT_FAIL;
	}
	printf("resp: redis-server 127.0.0.1:%d (no persistence), %" PRIu64 " MiB per size, "
	       "batch %" PRIu64 ", %" PRIu64 " reps, loadavg %.2f\n", srv->port, o->total_mib,
	       o->batch, o->reps, bench_loadavg());
	for (int s = 0; s < o->nsizes; s++)
		if (measure(a, srv, o, o->sizes[s], &rows[s])) {
			resp_l2_ops.destroy(a);
			return BENCH_EXIT_FAIL;
		}
	resp_l2_ops.destroy(a);
	printf("\n%-6s %6s | %10s %10s %10s | %10s %10s %10s | %6s %6s\n", "chunk", "n",
	       "store GB/s", "store op/s", "SET GB/s", "load GB/s", "load op/s", "GET GB/s",
	       "st/SET", "ld/GET");
	for (int s = 0; s < o->nsizes; s++) {
		const struct row *r = &rows[s];
		double sr = bench_ratio(r->store_gbps, r->set_gbps);
		double lr = bench_ratio(r->load_gbps, r->get_gbps);

		printf("%4zuKiB %6" PRIu64 " | %10.3f %10.0f %10.3f | %10.3f %10.0f %10.3f | "
		       "%6.2f %6.2f\n", r->size / 1024, r->n, r->store_gbps, r->store_ops,
		       r->set_gbps, r->load_gbps, r->load_ops, r->get_gbps, sr, lr);
		store_ratio = sr < store_ratio ? sr : store_ratio;
		load_ratio = lr < load_ratio ? lr : load_ratio;
		if (sr != sr)
			store_ratio = sr;
		if (lr != lr)
			load_ratio = lr;
	}
	printf("\nratios: the adapter (payload bytes) / redis-benchmark -c 1 -P %" PRIu64
	       " (value bytes; GET: hits), worst size; goal >= %.1f\n", o->batch, GOAL_RATIO);
	if (o->json && print_json(o, rows, store_ratio, load_ratio))
		return BENCH_EXIT_FAIL;
	return BENCH_EXIT_OK;
}

int resp_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "total-mib", required_argument, NULL, 't' }, { "batch", required_argument, NULL, 'b' },
		{ "reps", required_argument, NULL, 'r' },      { "chunk-kib", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },            { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 512, 16, 3, { 256 * 1024, 4096 * 1024 }, 2, false };
	struct redis_srv srv;
	char parent[] = "/tmp/kvt-bench-resp-XXXXXX", rm[64];
	uint64_t kib;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (opt_parse_u64("kvtier-bench", "--total-mib", optarg, 8, 1 << 20, &o.total_mib))
				return BENCH_EXIT_USAGE;
			break;
		case 'b':
			if (opt_parse_u64("kvtier-bench", "--batch", optarg, 1, 4096, &o.batch))
				return BENCH_EXIT_USAGE;
			break;
		case 'r':
			if (opt_parse_u64("kvtier-bench", "--reps", optarg, 1, MAX_REPS, &o.reps))
				return BENCH_EXIT_USAGE;
			break;
		case 'k':
			if (opt_parse_u64("kvtier-bench", "--chunk-kib", optarg, 4, 256 * 1024, &kib))
				return BENCH_EXIT_USAGE;
			o.sizes[0] = kib * 1024;
			o.nsizes = 1;
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
	if (!mkdtemp(parent)) {
		perror("kvtier-bench: resp: mkdtemp");
		return BENCH_EXIT_FAIL;
	}
	if (redis_start(&srv, parent, NULL, 20)) {
		fprintf(stderr, "kvtier-bench: resp: could not start redis-server (is it "
				"installed?)\n");
		ret = BENCH_EXIT_FAIL;
	} else {
		ret = run(&o, &srv);
		redis_kill(&srv);
	}
	snprintf(rm, sizeof(rm), "rm -rf '%s'", parent);
	if (system(rm) != 0)
		fprintf(stderr, "kvtier-bench: could not remove %s\n", parent);
	return ret;
}
