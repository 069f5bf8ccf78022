/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/docqa.c - `kvtier-bench docqa`: a long_doc_qa-shaped
 * run.  Documents of fixed length are stored, then queried again and again;
 * each query restores the document's whole KV prefix from a DAX tier.
 *
 * Per model shape (Qwen2.5-0.5B: 24 layers, 2 KV heads, dim 64, 3 MiB a
 * chunk; a Qwen3-14B shape, 40 layers, 8 KV heads, dim 128, 40 MiB a chunk,
 * with fewer and shorter documents so the run fits about 2 GiB), chunk_size
 * 256, bfloat16: a tiered instance with an L1 of L1_CHUNKS chunks, DAX in a
 * /dev/shm file (removed at exit) holding every chunk, dax.promote off so
 * every query is served from DAX rather than from promoted copies.  The
 * documents are put, kvt_flush() waits for the DAX writes, then QUERIES
 * queries a model, the documents in turn, per query: kvt_contains() of the
 * document's keys, then kvt_get() of the hit prefix into prefaulted buffers,
 * timed together on the calling thread.  256 queries make the p99 the third
 * slowest rather than the slowest.
 *
 * The lower bound beside each latency: the query's bytes over the fastest
 * copy GB/s (tools/common/copybound.h: the best of memcpy() and the
 * restore's own streaming nt_copy()), measured in the same run by as many
 * threads as restore workers (2) copying one document's bytes from a
 * read-only mapping of the same device file into the same destination
 * buffers, and lowered to the fastest of the peers' copies below when one
 * beat it (the host's bandwidth drifts within a run: a bound taken once
 * before the queries let a p50 come in under it, 0.994).  So p50_to_bound
 * and p99_to_bound cannot honestly fall below 1.
 *
 * A bandwidth says nothing of the machine's tail, so each query has a peer:
 * the same number of bytes of the same file, in the same order, copied by
 * a team of as many threads (tools/common/copyteam.h) with the bound's way,
 * right before or right after the query (alternately).  The peer reads
 * through a writable mapping of its own through which every page was
 * written (a locked OR of 0, core/pagetouch.h) when the DAX writes ended,
 * and read by nothing until then, as the DAX writer's mapping was: in a VM
 * with shadow page tables (this one is a PVM guest) a page's first access
 * through a mapping costs the hypervisor's fault, far more for a read
 * through a mapping never written than through one written, so a peer with
 * another history would be slower or faster for that alone (a read-only
 * populated one took 24-40 ms for the first read of each 96 MiB document,
 * kvtier 3-7 ms).  p99_to_peer_p99 is then what kvtier adds to the tail the
 * machine gives a plain copy in the same moments.
 *
 * --plot FILE.svg runs a quick batched restore sweep (restore.c) and draws
 * restore GB/s against chunk size for 1 and 2 workers with gnuplot.
 *
 * Threads: main and 1 copy thread while the bound is measured, then 1 team
 * member for the peer; kvtier's own actors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvtier.h"
#include "core/ntcopy.h"
#include "core/pagetouch.h"
#include "tools/common/copybound.h"
#include "tools/common/copyteam.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define CHUNK_TOKENS 256
#define L1_CHUNKS 4		/* a small L1: every query misses it */
#define QUERIES 256		/* per model: p99 is the 3rd slowest, not the max */
#define RESTORE_WORKERS 2	/* dax.restore_workers; also the memcpy threads */
#define MEMCPY_PASSES 3
#define PLOT_GIB 0.25		/* per chunk size in the --plot sweep */
#define PLOT_SECONDS 0.3

static const struct model {
	const char *name;
	const char *json; /* JSON key prefix */
	unsigned int layers, heads, dim;
	unsigned int docs, tokens;
} models[] = {
	{ "Qwen2.5-0.5B", "qwen25_05b", 24, 2, 64, 16, 8192 },
	{ "Qwen3-14B-scaled", "qwen3_14b", 40, 8, 128, 4, 2048 },
};

#define NMODELS (sizeof(models) / sizeof(models[0]))

struct docqa_opts {
	bool json;
	const char *plot;
	double loadavg;
};

struct result {
	size_t chunk_bytes;
	size_t query_bytes;
	uint64_t queries;
	double p50_ms, p99_ms;
	double peer_p50_ms, peer_p99_ms; /* the same reads as plain copies */
	struct copy_bound bound; /* the fastest copy at RESTORE_WORKERS threads */
	double bound_ms;
	bool bound_by_peer;      /* a peer's copy beat the bound measured before */
	uint64_t dax_hits, l1_hits; /* keys served during the queries */
};

static void plain_copy(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

/* the ways a copy can go: the restore workers stream (nt_copy) */
static const struct copy_way copy_ways[] = {
	{ "memcpy", plain_copy },
	{ "nt_copy", nt_copy },
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double quantile_ms(const uint64_t *sorted, size_t n, double q)
{
	size_t i = (size_t)ceil(q * (double)n);

	i = i ? i - 1 : 0;
	return n ? (double)sorted[i < n ? i : n - 1] / 1e6 : NAN;
}

static int open_model(const struct model *m, const char *path, size_t total_bytes, struct kvt **out)
{
	struct kvt_config *cfg;
	size_t chunk = (size_t)4 * m->layers * CHUNK_TOKENS * m->heads * m->dim;
	char v[64];
	int ret;

	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	snprintf(v, sizeof(v), "%u", m->layers);
	ret = bench_config_set(cfg, "kv_layers", v);
	snprintf(v, sizeof(v), "%u", m->heads);
	ret = ret ? ret : bench_config_set(cfg, "kv_heads", v);
	snprintf(v, sizeof(v), "%u", m->dim);
	ret = ret ? ret : bench_config_set(cfg, "head_dim", v);
	ret = ret ? ret : bench_config_set(cfg, "chunk_size", "256");
	ret = ret ? ret : bench_config_set(cfg, "kv_dtype", "bfloat16");
	ret = ret ? ret : bench_config_set(cfg, "model_name", m->name);
	ret = ret ? ret : bench_config_set(cfg, "local_cpu", "true");
	snprintf(v, sizeof(v), "%.6f", ((double)L1_CHUNKS + 0.5) * (double)chunk / 1073741824.0);
	ret = ret ? ret : bench_config_set(cfg, "max_local_cpu_size", v);
	ret = ret ? ret : bench_config_set(cfg, "dax.mode", "tiered");
	ret = ret ? ret : bench_config_set(cfg, "dax.allow_file_backing", "true");
	ret = ret ? ret : bench_config_set(cfg, "dax.device_path", path);
	ret = ret ? ret : bench_config_set(cfg, "dax.promote", "false");
	ret = ret ? ret : bench_config_set(cfg, "dax.eviction", "none");
	ret = ret ? ret : bench_config_set(cfg, "dax.reinit", "true");
	snprintf(v, sizeof(v), "%u", RESTORE_WORKERS);
	ret = ret ? ret : bench_config_set(cfg, "dax.restore_workers", v);
	snprintf(v, sizeof(v), "%.6f",
		 ((double)total_bytes * 1.05 + 64.0 * 1048576.0) / 1073741824.0);
	ret = ret ? ret : bench_config_set(cfg, "dax.max_dax_size", v);
	if (!ret) {
		ret = kvt_open(cfg, out, NULL, 0);
		if (ret)
			fprintf(stderr, "kvtier-bench: kvt_open %s: %s\n", path, kvt_strerror(ret));
	}
	kvt_config_free(cfg);
	return ret;
}

/* run_model() - store, measure the memcpy bound, query. */
static int run_model(const struct model *m, struct result *res)
{
	size_t nchunks = (m->tokens + CHUNK_TOKENS - 1) / CHUNK_TOKENS;
	size_t chunk = (size_t)4 * m->layers * CHUNK_TOKENS * m->heads * m->dim;
	size_t total = chunk * nchunks * m->docs, doc_bytes = chunk * nchunks;
	size_t nq = QUERIES;
	char path[128], label[96];
	struct kvt_key *keys = NULL;
	uint32_t *tokens = NULL;
	uint64_t *lat = NULL, *peer_lat = NULL;
	void **dsts = NULL;
	size_t *lens = NULL, *out_lens = NULL;
	char *dst = MAP_FAILED, *src = NULL;
	const char *dev = MAP_FAILED;
	char *peer_dev = MAP_FAILED;
	const struct copy_way *peer_way = &copy_ways[0];
	struct copy_team team;
	bool team_up = false;
	struct kvt_stats a, b;
	struct progress p;
	struct kvt *kvt = NULL;
	struct stat sb;
	int fd = -1, ret;

	memset(res, 0, sizeof(*res));
	snprintf(path, sizeof(path), "/dev/shm/kvtier-bench-docqa-%d", (int)getpid());
	unlink(path);
	ret = open_model(m, path, total, &kvt);
	if (ret)
		return ret;
	ret = -ENOMEM;
	keys = malloc(sizeof(*keys) * nchunks * m->docs);
	tokens = malloc(sizeof(*tokens) * m->tokens);
	lat = malloc(sizeof(*lat) * nq);
	peer_lat = malloc(sizeof(*peer_lat) * nq);
	dsts = malloc(sizeof(*dsts) * nchunks);
	lens = malloc(sizeof(*lens) * nchunks);
	out_lens = malloc(sizeof(*out_lens) * nchunks);
	src = malloc(chunk);
	dst = mmap(NULL, doc_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!keys || !tokens || !lat || !peer_lat || !dsts || !lens || !out_lens || !src || dst == MAP_FAILED)
		goto out;
	memset(dst, 1, doc_bytes); /* prefault */
	memset(src, 0x5a, chunk);
	for (size_t i = 0; i < nchunks; i++) {
		dsts[i] = dst + i * chunk;
		lens[i] = chunk;
	}
	snprintf(label, sizeof(label), "store %s: %u docs x %u tokens", m->name, m->docs, m->tokens);
	progress_start(&p, label, m->docs);
	for (unsigned int d = 0; d < m->docs; d++) {
		struct kvt_key *dk = keys + (size_t)d * nchunks;
		ssize_t nk;

		for (unsigned int t = 0; t < m->tokens; t++)
			tokens[t] = (uint32_t)prng_mix64(((uint64_t)d << 32) | t) % 151936;
		nk = kvt_chunk_keys(kvt, tokens, m->tokens, dk, nchunks);
		if (nk != (ssize_t)nchunks) {
			ret = nk < 0 ? (int)nk : -EINVAL;
			goto out_progress;
		}
		for (size_t c = 0; c < nchunks; c++) {
			const void *bp = src;
			size_t len = chunk;
			int r1 = 0;
			ssize_t n;

			memcpy(src, &dk[c], sizeof(dk[c]));
			n = kvt_put(kvt, &dk[c], &bp, &len, 1, &r1, NULL, NULL);
			if (n != 1) {
				ret = n < 0 ? (int)n : r1 ? r1 : -EEXIST;
				fprintf(stderr, "kvtier-bench: kvt_put: %s\n", kvt_strerror(ret));
				goto out_progress;
			}
		}
		progress_update(&p, d + 1);
	}
	progress_end(&p);
	ret = kvt_flush(kvt);
	if (ret)
		goto out;

	/* the bound: the same device bytes, read through their own mapping */
	fd = open(path, O_RDWR);
	if (fd < 0 || fstat(fd, &sb) < 0 || (size_t)sb.st_size < total) {
		ret = fd < 0 || fstat(fd, &sb) < 0 ? -errno : -EINVAL;
		fprintf(stderr, "kvtier-bench: %s: %s\n", path, kvt_strerror(ret));
		goto out;
	}
	peer_dev = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	dev = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (dev == MAP_FAILED || peer_dev == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	/* the peer's pages get the history of the DAX writer's: written
	 * through a writable mapping (no byte changed), not read since */
	page_touch_for_write(peer_dev, total);
	ret = copy_bound_measure(dst, dev, total < (size_t)sb.st_size ? total : (size_t)sb.st_size,
				 doc_bytes, RESTORE_WORKERS, copy_ways,
				 sizeof(copy_ways) / sizeof(copy_ways[0]), MEMCPY_PASSES, &res->bound);
	if (ret)
		goto out;
	for (size_t w = 0; w < sizeof(copy_ways) / sizeof(copy_ways[0]); w++)
		if (!strcmp(copy_ways[w].name, res->bound.name))
			peer_way = &copy_ways[w];
	ret = copy_team_start(&team, RESTORE_WORKERS);
	if (ret)
		goto out;
	team_up = true;

	kvt_stats(kvt, &a, sizeof(a));
	snprintf(label, sizeof(label), "query %s", m->name);
	progress_start(&p, label, nq);
	for (size_t q = 0; q < nq; q++) {
		const struct kvt_key *dk = keys + (q % m->docs) * nchunks;
		/* the peer reads as many bytes of the same file in the same
		 * order; who goes first alternates, so neither always finds
		 * the other's reads just done */
		const char *peer_src = peer_dev + (q % m->docs) * doc_bytes;
		uint64_t t0;
		ssize_t hits, got;

		if (q & 1) {
			t0 = tool_now_ns();
			copy_team_run(&team, peer_way, dst, peer_src, doc_bytes);
			peer_lat[q] = tool_now_ns() - t0;
		}
		t0 = tool_now_ns();
		hits = kvt_contains(kvt, dk, nchunks, 0);
		got = hits > 0 ? kvt_get(kvt, dk, (size_t)hits, dsts, lens, out_lens) : 0;
		lat[q] = tool_now_ns() - t0;
		if (hits != (ssize_t)nchunks || got != hits ||
		    memcmp(dsts[nchunks - 1], &dk[nchunks - 1], sizeof(dk[0]))) {
			fprintf(stderr, "kvtier-bench: query %zu: %zd of %zu cached, %zd restored%s\n",
				q, hits, nchunks, got, got == hits ? " (wrong bytes)" : "");
			ret = got < 0 ? (int)got : -EIO;
			goto out_progress;
		}
		if (!(q & 1)) {
			t0 = tool_now_ns();
			copy_team_run(&team, peer_way, dst, peer_src, doc_bytes);
			peer_lat[q] = tool_now_ns() - t0;
		}
		progress_update(&p, q + 1);
	}
	progress_end(&p);
	kvt_stats(kvt, &b, sizeof(b));
	qsort(lat, nq, sizeof(*lat), cmp_u64);
	qsort(peer_lat, nq, sizeof(*peer_lat), cmp_u64);
	res->chunk_bytes = chunk;
	res->query_bytes = doc_bytes;
	res->queries = nq;
	res->p50_ms = quantile_ms(lat, nq, 0.5);
	res->p99_ms = quantile_ms(lat, nq, 0.99);
	res->peer_p50_ms = quantile_ms(peer_lat, nq, 0.5);
	res->peer_p99_ms = quantile_ms(peer_lat, nq, 0.99);
	res->bound_ms = (double)doc_bytes / (res->bound.gbps * 1e6);
	/* the peers copy the same bytes the bound's way: the fastest is a bound too */
	if (peer_lat[0] && (double)peer_lat[0] / 1e6 < res->bound_ms) {
		res->bound_ms = (double)peer_lat[0] / 1e6;
		res->bound.gbps = (double)doc_bytes / (double)peer_lat[0];
		res->bound_by_peer = true;
	}
	res->dax_hits = b.dax_hits - a.dax_hits;
	res->l1_hits = b.l1_hits - a.l1_hits;
	ret = 0;
	goto out;

out_progress:
	progress_end(&p);
out:
	if (team_up)
		copy_team_stop(&team);
	if (peer_dev != MAP_FAILED)
		munmap(peer_dev, total);
	if (dev != MAP_FAILED)
		munmap((void *)dev, (size_t)sb.st_size);
	if (fd >= 0)
		close(fd);
	if (kvt)
		kvt_close(kvt);
	unlink(path);
	if (dst != MAP_FAILED)
		munmap(dst, doc_bytes);
	free(src);
	free(out_lens);
	free(lens);
	free(dsts);
	free(peer_lat);
	free(lat);
	free(tokens);
	free(keys);
	if (ret == -ENOMEM)
		fprintf(stderr, "kvtier-bench: out of memory for %s\n", m->name);
	return ret;
}

/* plot() - the restore sweep drawn by gnuplot into @file. */
static int plot(const char *file)
{
	size_t n = restore_sweep_shapes();
	double gbps[8][2];
	size_t bytes[8];
	FILE *g;

	n = n > 8 ? 8 : n;
	fprintf(stderr, "kvtier-bench: restore sweep for the plot (%.2g GiB, %.2g s a point)\n",
		PLOT_GIB, PLOT_SECONDS);
	for (size_t i = 0; i < n; i++) {
		int ret = restore_sweep_point(i, PLOT_GIB, PLOT_SECONDS, &bytes[i], gbps[i]);

		if (ret) {
			fprintf(stderr, "kvtier-bench: restore sweep: %s\n", kvt_strerror(ret));
			return ret;
		}
	}
	printf("\nrestore sweep for %s (batched kvt_get, DAX primary, %.2g GiB a size)\n", file,
	       PLOT_GIB);
	printf("%-10s %12s %12s\n", "chunk KiB", "1 worker", "2 workers");
	for (size_t i = 0; i < n; i++)
		printf("%-10zu %12.2f %12.2f\n", bytes[i] / 1024, gbps[i][0], gbps[i][1]);
	g = bench_plot_open(file);
	if (!g)
		return -errno;
	fprintf(g, "set title 'kvtier batched DAX restore (kvt_get)'\n"
		   "set xlabel 'chunk size (KiB)'\nset ylabel 'GB/s'\nset logscale x 2\n"
		   "set key left top\nset grid\n$d << EOD\n");
	for (size_t i = 0; i < n; i++)
		fprintf(g, "%zu %.3f %.3f\n", bytes[i] / 1024, gbps[i][0], gbps[i][1]);
	fprintf(g, "EOD\nplot $d using 1:2 with linespoints title '1 worker', "
		   "$d using 1:3 with linespoints title '2 workers'\n");
	return bench_plot_close(g, file);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench docqa [options]\n\n"
		"long_doc_qa-shaped: documents are stored in a tiered instance (small L1, DAX\n"
		"in /dev/shm), then each query runs kvt_contains() and kvt_get() of its hit\n"
		"prefix, restored from DAX; per-query latency beside bytes / fastest copy GB/s.\n\n"
		"options:\n"
		"  --plot FILE   also sweep batched restores (1, 2 workers) and write an SVG\n"
		"                of GB/s against chunk size with gnuplot\n"
		"  --json        print one JSON object as the last line of stdout\n"
		"  --help        this text\n");
}

static int parse_opts(int argc, char **argv, struct docqa_opts *o)
{
	enum { OPT_JSON = 256, OPT_PLOT };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct docqa_opts){ 0 };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_PLOT:
			if (bench_plot_file("docqa", optarg))
				return BENCH_EXIT_USAGE;
			o->plot = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return bench_opt_refused("docqa", c, argv);
		}
	}
	return bench_opt_leftover("docqa", argc, argv);
}

int docqa_main(int argc, char **argv)
{
	struct result res[NMODELS];
	struct docqa_opts o;
	struct json_line j;
	char key[96];
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	o.loadavg = bench_loadavg();
	printf("kvtier-bench docqa\n");
	for (size_t i = 0; i < NMODELS; i++)
		printf("  %-16s %u docs x %u tokens, kv_layers %u, kv_heads %u, head_dim %u, "
		       "bf16: %.0f MiB a chunk\n", models[i].name, models[i].docs, models[i].tokens,
		       models[i].layers, models[i].heads, models[i].dim,
		       4.0 * models[i].layers * CHUNK_TOKENS * models[i].heads * models[i].dim /
			       1048576.0);
	printf("  tier             tiered: L1 of %d chunks, DAX file in /dev/shm, dax.promote "
	       "false, %d restore workers\n", L1_CHUNKS, RESTORE_WORKERS);
	printf("  queries          %d a model, the documents in turn; each: kvt_contains + "
	       "kvt_get of the hit prefix\n", QUERIES);
	printf("  peer             each query's bytes copied again by %d threads from a mapping "
	       "of the same file made before the\n                   queries (the way the bound "
	       "chose), alternately before and after it\n", RESTORE_WORKERS);
	printf("  bound            query bytes / the fastest of memcpy and nt_copy GB/s (%d "
	       "threads, same device file -> same buffers)\n", RESTORE_WORKERS);
	printf("  load average     %.2f (1 min, before the run)\n\n", o.loadavg);
	fflush(stdout);
	for (size_t i = 0; i < NMODELS; i++) {
		ret = run_model(&models[i], &res[i]);
		if (ret)
			return BENCH_EXIT_FAIL;
	}
	printf("%-17s %6s %8s %8s %9s %9s %8s %-16s %9s %8s %8s %8s\n", "model", "chunk",
	       "queries", "MiB/q", "p50 ms", "p99 ms", "p99/p50", "bound GB/s", "bound ms",
	       "p50/bnd", "p99/bnd", "dax hits");
	for (size_t i = 0; i < NMODELS; i++) {
		const struct result *r = &res[i];

		printf("%-17s %4zuMi %8llu %8.0f %9.2f %9.2f %8.2f %6.2f %-9s %9.2f %8.2f %8.2f "
		       "%8llu\n", models[i].name, r->chunk_bytes >> 20,
		       (unsigned long long)r->queries, (double)r->query_bytes / 1048576.0,
		       r->p50_ms, r->p99_ms, bench_ratio(r->p99_ms, r->p50_ms), r->bound.gbps,
		       r->bound.name, r->bound_ms, bench_ratio(r->p50_ms, r->bound_ms),
		       bench_ratio(r->p99_ms, r->bound_ms), (unsigned long long)r->dax_hits);
		if (r->l1_hits)
			printf("note: %s: %llu keys came from L1\n", models[i].name,
			       (unsigned long long)r->l1_hits);
	}
	printf("\n%-17s %12s %12s %12s %14s %14s\n", "model", "peer p50 ms", "peer p99 ms",
	       "peer p99/p50", "p50/peer p50", "p99/peer p99");
	for (size_t i = 0; i < NMODELS; i++) {
		const struct result *r = &res[i];

		printf("%-17s %12.2f %12.2f %12.2f %14.2f %14.2f\n", models[i].name, r->peer_p50_ms,
		       r->peer_p99_ms, bench_ratio(r->peer_p99_ms, r->peer_p50_ms),
		       bench_ratio(r->p50_ms, r->peer_p50_ms), bench_ratio(r->p99_ms, r->peer_p99_ms));
	}
	if (o.plot && plot(o.plot))
		return BENCH_EXIT_FAIL;
	if (!o.json)
		return BENCH_EXIT_OK;
	json_begin(&j);
	json_str(&j, "workload", "docqa");
	json_num(&j, "loadavg_1m", o.loadavg, 2);
	json_u64(&j, "restore_workers", RESTORE_WORKERS);
	for (size_t i = 0; i < NMODELS; i++) {
		const struct result *r = &res[i];
		const char *px = models[i].json;

#define JKEY(name) (snprintf(key, sizeof(key), "%s_%s", px, name), key)
		json_u64(&j, JKEY("docs"), models[i].docs);
		json_u64(&j, JKEY("tokens"), models[i].tokens);
		json_u64(&j, JKEY("chunk_bytes"), r->chunk_bytes);
		json_u64(&j, JKEY("query_bytes"), r->query_bytes);
		json_u64(&j, JKEY("queries"), r->queries);
		json_num(&j, JKEY("p50_ms"), r->p50_ms, 3);
		json_num(&j, JKEY("p99_ms"), r->p99_ms, 3);
		json_num(&j, JKEY("bound_gbps"), r->bound.gbps, 3);
		json_str(&j, JKEY("bound_copy"), r->bound.name);
		json_num(&j, JKEY("bound_ms"), r->bound_ms, 3);
		json_str(&j, JKEY("bound_from"), r->bound_by_peer ? "peer" : "before");
		json_num(&j, JKEY("p50_to_bound"), bench_ratio(r->p50_ms, r->bound_ms), 3);
		json_num(&j, JKEY("p99_to_bound"), bench_ratio(r->p99_ms, r->bound_ms), 3);
		json_num(&j, JKEY("p99_to_p50"), bench_ratio(r->p99_ms, r->p50_ms), 3);
		json_num(&j, JKEY("peer_p50_ms"), r->peer_p50_ms, 3);
		json_num(&j, JKEY("peer_p99_ms"), r->peer_p99_ms, 3);
		json_num(&j, JKEY("peer_p99_to_p50"), bench_ratio(r->peer_p99_ms, r->peer_p50_ms), 3);
		json_num(&j, JKEY("p50_to_peer_p50"), bench_ratio(r->p50_ms, r->peer_p50_ms), 3);
		json_num(&j, JKEY("p99_to_peer_p99"), bench_ratio(r->p99_ms, r->peer_p99_ms), 3);
		json_u64(&j, JKEY("dax_hits"), r->dax_hits);
		json_u64(&j, JKEY("l1_hits"), r->l1_hits);
#undef JKEY
	}
	if (o.plot)
		json_str(&j, "plot", o.plot);
	return json_end(&j) ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
