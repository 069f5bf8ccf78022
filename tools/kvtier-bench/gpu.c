/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/gpu.c - `kvtier-bench gpu`: restores from a DAX tier
 * into GPU memory through the CUDA sink (kvtier/cuda.h: the restore workers
 * copy DAX -> staging slab, registered with cudaHostRegister; the sink
 * copies slab -> device with cudaMemcpyAsync), beside the same bytes copied
 * host -> device from pinned host memory (cudaMallocHost: the fastest H2D
 * copy this machine does, the bound) and from pageable memory (malloc, for
 * reference), with one cudaMemcpyAsync per chunk on the default stream, as
 * the sink does, and one synchronize at the end.
 *
 * Per chunk size (--chunk-kib, default 256 KiB .. 64 MiB; chunk_size 256,
 * kv_heads 1, bf16, kv_layers x head_dim chosen for the size) it stores
 * --total-mib of chunks in an emulated DAX device (a file in /dev/shm,
 * removed at exit) in PRIMARY mode, so every chunk is a DAX restore, then
 * for each restore worker count (--workers, default 1,2,4; a reopen of the
 * same device each) runs one untimed kvt_get_sink() of every chunk, copies
 * the device memory back and checks a stamp at both ends of every chunk,
 * then --reps rounds of: pinned H2D, the kvtier restore, pageable H2D.
 * The machine's bandwidth drifts within seconds, so the ratio is the
 * median over rounds of kvtier's round time over the pinned copy's next to
 * it.  gpu_restore_ratio_to_pinned_h2d_<size> is the best worker count's.
 *
 * The CUDA runtime is loaded at run time (dlopen), as the sink does: no
 * build dependency.  Without it or without a GPU the run says so and
 * exits 77.
 *
 * Threads: main (the copies, the sink), plus kvtier's own actors.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvtier.h"
#include "kvtier/cuda.h"
#include "tools/common/opts.h"
#include "tools/common/prng.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"

#define GPU_EXIT_SKIP 77
#define MAX_SIZES 8
#define MAX_WORKER_COUNTS 4
#define MAX_REPS 15
#define MIB (1024ull * 1024ull)
#define H2D 1
#define D2H 2
/* the goal (issue 21): this ratio for chunks of at least GOAL_MIN_CHUNK */
#define GOAL_RATIO 0.8
#define GOAL_MIN_CHUNK MIB

/* The runtime's C ABI: cudaError_t is an int, cudaStream_t a pointer. */
struct cuda {
	void *lib;
	int (*device_count)(int *n);
	int (*set_device)(int dev);
	int (*malloc_dev)(void **p, size_t n);
	int (*free_dev)(void *p);
	int (*malloc_host)(void **p, size_t n);
	int (*free_host)(void *p);
	int (*memcpy_sync)(void *dst, const void *src, size_t n, int kind);
	int (*memcpy_async)(void *dst, const void *src, size_t n, int kind, void *stream);
	int (*stream_sync)(void *stream);
};

struct gpu_opts {
	uint64_t total_mib, reps, device;
	uint64_t chunk_kib[MAX_SIZES], workers[MAX_WORKER_COUNTS];
	size_t nsizes, nworkers;
	bool json;
};

struct gpu_row {
	size_t chunk_bytes, chunks;
	unsigned int workers;
	double kvtier_gbps, pinned_gbps, pageable_gbps, ratio; /* medians */
};

/* What one chunk size needs, host and device. */
struct gpu_rig {
	struct cuda *cu;
	char path[64];
	size_t chunk_bytes, n;
	struct kvt *kvt;
	struct kvt_key *keys;
	size_t *out_lens;
	void **dsts;
	char *dev, *pinned, *pageable, *back;
};

static int cuda_load(struct cuda *cu, int device, char *why, size_t whylen)
{
	static const char *const names[] = {
		"libcudart.so", "libcudart.so.13", "libcudart.so.12",
		"/usr/local/cuda/lib64/libcudart.so",
	};
	int count = 0;

	memset(cu, 0, sizeof(*cu));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !cu->lib; i++)
		cu->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!cu->lib) {
		snprintf(why, whylen, "no CUDA runtime (libcudart.so) found");
		return -ENODEV;
	}
	*(void **)&cu->device_count = dlsym(cu->lib, "cudaGetDeviceCount");
	*(void **)&cu->set_device = dlsym(cu->lib, "cudaSetDevice");
	*(void **)&cu->malloc_dev = dlsym(cu->lib, "cudaMalloc");
	*(void **)&cu->free_dev = dlsym(cu->lib, "cudaFree");
	*(void **)&cu->malloc_host = dlsym(cu->lib, "cudaMallocHost");
	*(void **)&cu->free_host = dlsym(cu->lib, "cudaFreeHost");
	*(void **)&cu->memcpy_sync = dlsym(cu->lib, "cudaMemcpy");
	*(void **)&cu->memcpy_async = dlsym(cu->lib, "cudaMemcpyAsync");
	*(void **)&cu->stream_sync = dlsym(cu->lib, "cudaStreamSynchronize");
	if (!cu->device_count || !cu->set_device || !cu->malloc_dev || !cu->free_dev ||
	    !cu->malloc_host || !cu->free_host || !cu->memcpy_sync || !cu->memcpy_async ||
	    !cu->stream_sync) {
		snprintf(why, whylen, "the CUDA runtime lacks an entry point this bench uses");
		goto err;
	}
	if (cu->device_count(&count) || device >= count) {
		snprintf(why, whylen, "no CUDA device %d (%d found)", device, count);
		goto err;
	}
	if (cu->set_device(device)) {
		snprintf(why, whylen, "cudaSetDevice(%d) failed", device);
		goto err;
	}
	return 0;
err:
	dlclose(cu->lib);
	cu->lib = NULL;
	return -ENODEV;
}

static uint64_t stamp_of(size_t i)
{
	return prng_mix64(0x69b0 + i);
}

/* @r->n chunks of @r->chunk_bytes in a fresh device (@workers: first count). */
static int rig_open(struct gpu_rig *r, unsigned int workers, bool reinit)
{
	size_t units = r->chunk_bytes / 1024, dim = units < 4096 ? units : 4096;
	struct kvt_config *cfg;
	char v[64];
	int ret = kvt_config_new(&cfg);

	if (ret)
		return ret;
	/* chunk = 2 (K, V) x 256 tokens x kv_layers x head_dim x 2 bytes */
	snprintf(v, sizeof(v), "%zu", units / dim);
	ret = bench_config_set(cfg, "kv_layers", v);
	snprintf(v, sizeof(v), "%zu", dim);
	ret = ret ? ret : bench_config_set(cfg, "head_dim", v);
	ret = ret ? ret : bench_config_set(cfg, "kv_heads", "1");
	ret = ret ? ret : bench_config_set(cfg, "chunk_size", "256");
	ret = ret ? ret : bench_config_set(cfg, "kv_dtype", "bfloat16");
	ret = ret ? ret : bench_config_set(cfg, "local_cpu", "false");
	ret = ret ? ret : bench_config_set(cfg, "dax.mode", "primary");
	ret = ret ? ret : bench_config_set(cfg, "dax.allow_file_backing", "true");
	ret = ret ? ret : bench_config_set(cfg, "dax.device_path", r->path);
	ret = ret ? ret : bench_config_set(cfg, "dax.eviction", "none");
	ret = ret ? ret : bench_config_set(cfg, "dax.reinit", reinit ? "true" : "false");
	snprintf(v, sizeof(v), "%.6f",
		 ((double)r->n * (double)r->chunk_bytes * 1.05 + 64.0 * MIB) / (1024.0 * MIB));
	ret = ret ? ret : bench_config_set(cfg, "dax.max_dax_size", v);
	snprintf(v, sizeof(v), "%u", workers);
	ret = ret ? ret : bench_config_set(cfg, "dax.restore_workers", v);
	if (!ret && (ret = kvt_open(cfg, &r->kvt, NULL, 0)))
		fprintf(stderr, "kvtier-bench gpu: kvt_open %s: %s\n", r->path, kvt_strerror(ret));
	kvt_config_free(cfg);
	if (!ret && kvt_chunk_bytes(r->kvt) != r->chunk_bytes) {
		fprintf(stderr, "kvtier-bench gpu: chunk is %zu bytes, wanted %zu\n",
			kvt_chunk_bytes(r->kvt), r->chunk_bytes);
		kvt_close(r->kvt);
		r->kvt = NULL;
		ret = -EINVAL;
	}
	return ret;
}

/* Put every chunk, stamped with its id at both ends; the same bytes into
 * the peers' host buffers. */
static int rig_fill(struct gpu_rig *r)
{
	struct progress p;
	char label[48];
	int ret = 0;

	snprintf(label, sizeof(label), "gpu %zu KiB store", r->chunk_bytes / 1024);
	progress_start(&p, label, r->n);
	memset(r->pageable, 0xa5, r->n * r->chunk_bytes);
	for (size_t i = 0; i < r->n && !ret; i++) {
		char *c = r->pageable + i * r->chunk_bytes;
		uint64_t st = stamp_of(i);
		const void *b = c;
		size_t len = r->chunk_bytes;
		int res = 0;

		memcpy(c, &st, sizeof(st));
		memcpy(c + r->chunk_bytes - sizeof(st), &st, sizeof(st));
		r->keys[i] = (struct kvt_key){ .lo = prng_mix64(2 * i + 0x69b1), .hi = i };
		if (kvt_put(r->kvt, &r->keys[i], &b, &len, 1, &res, NULL, NULL) != 1) {
			ret = res ? res : -EIO;
			fprintf(stderr, "kvtier-bench gpu: kvt_put chunk %zu: %s\n", i,
				kvt_strerror(ret));
		}
		progress_update(&p, i + 1);
	}
	progress_end(&p);
	memcpy(r->pinned, r->pageable, r->n * r->chunk_bytes);
	return ret;
}

/* Every chunk into device memory through the sink.  Return: ns, or 0 on
 * failure (printed). */
static uint64_t restore_round(struct gpu_rig *r, struct kvt_cuda_sink *s)
{
	uint64_t t0 = tool_now_ns();
	ssize_t got;

	kvt_cuda_sink_set_dsts(s, r->dsts, r->n);
	got = kvt_get_sink(r->kvt, r->keys, r->n, kvt_cuda_sink, s, r->out_lens);
	if (got != (ssize_t)r->n) {
		fprintf(stderr, "kvtier-bench gpu: kvt_get_sink of %zu chunks: %s\n", r->n,
			got < 0 ? kvt_strerror((int)got) : "holes");
		return 0;
	}
	return tool_now_ns() - t0;
}

/* The peers: one cudaMemcpyAsync a chunk from @src, one synchronize. */
static uint64_t h2d_round(struct gpu_rig *r, const char *src)
{
	uint64_t t0 = tool_now_ns();

	for (size_t i = 0; i < r->n; i++)
		if (r->cu->memcpy_async(r->dsts[i], src + i * r->chunk_bytes, r->chunk_bytes, H2D,
					NULL))
			return 0;
	return r->cu->stream_sync(NULL) ? 0 : tool_now_ns() - t0;
}

/* The device memory back to the host: both stamps of every chunk. */
static int check_device(struct gpu_rig *r)
{
	if (r->cu->memcpy_sync(r->back, r->dev, r->n * r->chunk_bytes, D2H)) {
		fprintf(stderr, "kvtier-bench gpu: cudaMemcpy device to host failed\n");
		return -EIO;
	}
	for (size_t i = 0; i < r->n; i++) {
		const char *c = r->back + i * r->chunk_bytes;
		uint64_t st = stamp_of(i), a, b;

		memcpy(&a, c, sizeof(a));
		memcpy(&b, c + r->chunk_bytes - sizeof(b), sizeof(b));
		if (r->out_lens[i] != r->chunk_bytes || a != st || b != st) {
			fprintf(stderr, "kvtier-bench gpu: chunk %zu reached the GPU wrong\n", i);
			return -EIO;
		}
	}
	return 0;
}

static double gbps(size_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0;
}

/* One worker count: a check round, then the paired rounds. */
static int measure(struct gpu_rig *r, unsigned int workers, bool reinit, uint64_t reps,
		   struct gpu_row *row)
{
	uint64_t t_kv[MAX_REPS], t_pin[MAX_REPS], t_page[MAX_REPS];
	double kv[MAX_REPS], pin[MAX_REPS], page[MAX_REPS], ratio[MAX_REPS];
	size_t bytes = r->n * r->chunk_bytes;
	struct kvt_cuda_sink *s = NULL;
	int ret = rig_open(r, workers, reinit);

	if (!ret && reinit)
		ret = rig_fill(r);
	if (!ret && (ret = kvt_cuda_sink_new(r->kvt, 0, NULL, &s)))
		fprintf(stderr, "kvtier-bench gpu: kvt_cuda_sink_new: %s\n", kvt_strerror(ret));
	if (!ret) {
		/* zeros first: the check sees what the sink wrote, not a peer's copy */
		memset(r->back, 0, bytes);
		ret = r->cu->memcpy_sync(r->dev, r->back, bytes, H2D) ? -EIO : 0;
		ret = ret ? ret : restore_round(r, s) ? check_device(r) : -EIO;
	}
	for (uint64_t k = 0; k < reps && !ret; k++) {
		t_pin[k] = h2d_round(r, r->pinned);
		t_kv[k] = restore_round(r, s);
		t_page[k] = h2d_round(r, r->pageable);
		if (!t_pin[k] || !t_kv[k] || !t_page[k]) {
			ret = -EIO;
			break;
		}
		kv[k] = gbps(bytes, t_kv[k]);
		pin[k] = gbps(bytes, t_pin[k]);
		page[k] = gbps(bytes, t_page[k]);
		ratio[k] = (double)t_pin[k] / (double)t_kv[k];
	}
	kvt_cuda_sink_free(s);
	if (r->kvt)
		kvt_close(r->kvt);
	r->kvt = NULL;
	if (ret)
		return ret;
	*row = (struct gpu_row){
		.chunk_bytes = r->chunk_bytes, .chunks = r->n, .workers = workers,
		.kvtier_gbps = bench_median(kv, reps), .pinned_gbps = bench_median(pin, reps),
		.pageable_gbps = bench_median(page, reps), .ratio = bench_median(ratio, reps),
	};
	return 0;
}

static void rig_free(struct gpu_rig *r)
{
	if (r->dev)
		r->cu->free_dev(r->dev);
	if (r->pinned)
		r->cu->free_host(r->pinned);
	free(r->pageable);
	free(r->back);
	free(r->keys);
	free(r->out_lens);
	free(r->dsts);
	if (r->path[0])
		unlink(r->path);
}

static int rig_init(struct gpu_rig *r, struct cuda *cu, size_t chunk_bytes, uint64_t total_mib)
{
	size_t bytes;

	memset(r, 0, sizeof(*r));
	r->cu = cu;
	r->chunk_bytes = chunk_bytes;
	r->n = total_mib * MIB / chunk_bytes;
	r->n = r->n < 4 ? 4 : r->n;
	bytes = r->n * chunk_bytes;
	snprintf(r->path, sizeof(r->path), "/dev/shm/kvtier-bench-gpu-%d.img", (int)getpid());
	r->keys = calloc(r->n, sizeof(*r->keys));
	r->out_lens = calloc(r->n, sizeof(*r->out_lens));
	r->dsts = calloc(r->n, sizeof(*r->dsts));
	r->pageable = malloc(bytes);
	r->back = malloc(bytes);
	if (!r->keys || !r->out_lens || !r->dsts || !r->pageable || !r->back ||
	    cu->malloc_dev((void **)&r->dev, bytes) || cu->malloc_host((void **)&r->pinned, bytes)) {
		fprintf(stderr, "kvtier-bench gpu: %zu MiB of host and device memory: not available\n",
			(size_t)(bytes / MIB));
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->n; i++)
		r->dsts[i] = r->dev + i * chunk_bytes;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench gpu [options]\n\n"
		"Restores from an emulated DAX tier (/dev/shm) into GPU memory through the CUDA\n"
		"sink (kvt_get_sink + kvt_cuda_sink), beside cudaMemcpyAsync host-to-device of\n"
		"the same bytes from pinned (the bound) and pageable host memory, in the same\n"
		"run; the ratio is the median over rounds of kvtier's time over the pinned\n"
		"copy's next to it.  Without a CUDA runtime or a GPU: exit status 77.\n\n"
		"options:\n"
		"  --total-mib M     bytes per chunk size, in MiB (default 1024)\n"
		"  --chunk-kib LIST  chunk sizes in KiB, multiples of 256 (default\n"
		"                    256,1024,4096,16384,65536)\n"
		"  --workers LIST    dax.restore_workers counts (default 1,2,4)\n"
		"  --reps R          timed rounds per configuration (default 3; up to %d)\n"
		"  --device N        CUDA device ordinal (default 0)\n"
		"  --json            print one JSON object as the last line of stdout\n"
		"  --help            this text\n", MAX_REPS);
}

static int parse_opts(int argc, char **argv, struct gpu_opts *o)
{
	enum { OPT_TOTAL = 256, OPT_CHUNK, OPT_WORKERS, OPT_REPS, OPT_DEVICE, OPT_JSON };
	static const struct option longopts[] = {
		{ "total-mib", required_argument, NULL, OPT_TOTAL },
		{ "chunk-kib", required_argument, NULL, OPT_CHUNK },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "reps", required_argument, NULL, OPT_REPS },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, bad = 0;

	*o = (struct gpu_opts){ .total_mib = 1024, .reps = 3,
				.chunk_kib = { 256, 1024, 4096, 16384, 65536 }, .nsizes = 5,
				.workers = { 1, 2, 4 }, .nworkers = 3 };
	opterr = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_TOTAL:
			bad = opt_parse_u64("kvtier-bench gpu", "total-mib", optarg, 1, 1048576,
					    &o->total_mib);
			break;
		case OPT_CHUNK:
			bad = opt_parse_u64_list("kvtier-bench gpu", "chunk-kib", optarg, 256,
						 1048576, o->chunk_kib, MAX_SIZES, &o->nsizes);
			for (size_t i = 0; !bad && i < o->nsizes; i++)
				if (o->chunk_kib[i] % 256) {
					fprintf(stderr, "kvtier-bench gpu: --chunk-kib %llu: not a "
							"multiple of 256 (the chunk shape's unit)\n",
						(unsigned long long)o->chunk_kib[i]);
					bad = 1;
				}
			break;
		case OPT_WORKERS:
			bad = opt_parse_u64_list("kvtier-bench gpu", "workers", optarg, 1, 64,
						 o->workers, MAX_WORKER_COUNTS, &o->nworkers);
			break;
		case OPT_REPS:
			bad = opt_parse_u64("kvtier-bench gpu", "reps", optarg, 1, MAX_REPS, &o->reps);
			break;
		case OPT_DEVICE:
			bad = opt_parse_u64("kvtier-bench gpu", "device", optarg, 0, 1023, &o->device);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return bench_opt_refused("gpu", c, argv);
		}
	}
	if (bad || bench_opt_leftover("gpu", argc, argv))
		return BENCH_EXIT_USAGE;
	return 0;
}

static void report(const struct gpu_opts *o, const struct gpu_row *rows, size_t nrows)
{
	bool met = true;
	struct json_line j;

	printf("\n%10s %7s %7s %12s %12s %12s %14s\n", "chunk KiB", "chunks", "workers",
	       "kvtier GB/s", "pinned GB/s", "pageable GB/s", "kvtier/pinned");
	for (size_t i = 0; i < nrows; i++)
		printf("%10zu %7zu %7u %12.2f %12.2f %12.2f %14.3f\n", rows[i].chunk_bytes / 1024,
		       rows[i].chunks, rows[i].workers, rows[i].kvtier_gbps, rows[i].pinned_gbps,
		       rows[i].pageable_gbps, rows[i].ratio);
	if (!o->json)
		return;
	json_begin(&j);
	json_str(&j, "workload", "gpu");
	json_u64(&j, "device", o->device);
	json_u64(&j, "total_mib", o->total_mib);
	json_raw(&j, "\"rows\":[", true);
	for (size_t i = 0; i < nrows; i++) {
		char row[320];

		snprintf(row, sizeof(row),
			 "%s{\"chunk_bytes\":%zu,\"chunks\":%zu,\"workers\":%u,\"kvtier_gbps\":%.3f,"
			 "\"pinned_h2d_gbps\":%.3f,\"pageable_h2d_gbps\":%.3f,"
			 "\"ratio_to_pinned_h2d\":%.3f}",
			 i ? "," : "", rows[i].chunk_bytes, rows[i].chunks, rows[i].workers,
			 rows[i].kvtier_gbps, rows[i].pinned_gbps, rows[i].pageable_gbps,
			 rows[i].ratio);
		json_raw(&j, row, false);
	}
	json_raw(&j, "]", false);
	for (size_t s = 0; s < o->nsizes; s++) {
		size_t bytes = o->chunk_kib[s] * 1024;
		double best = 0;
		char key[80];

		for (size_t i = 0; i < nrows; i++)
			if (rows[i].chunk_bytes == bytes && rows[i].ratio > best)
				best = rows[i].ratio;
		snprintf(key, sizeof(key), "gpu_restore_ratio_to_pinned_h2d_%llukib",
			 (unsigned long long)o->chunk_kib[s]);
		json_num(&j, key, best, 3);
		if (bytes >= GOAL_MIN_CHUNK && best < GOAL_RATIO)
			met = false;
	}
	json_bool(&j, "gpu_goal_met", met);
	json_end(&j);
}

int gpu_main(int argc, char **argv)
{
	struct gpu_row rows[MAX_SIZES * MAX_WORKER_COUNTS];
	size_t nrows = 0;
	struct gpu_opts o;
	struct cuda cu;
	char why[128];
	int ret = parse_opts(argc, argv, &o);

	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	if (cuda_load(&cu, (int)o.device, why, sizeof(why))) {
		fprintf(stderr, "kvtier-bench gpu: %s: nothing to measure (exit 77)\n", why);
		return GPU_EXIT_SKIP;
	}
	printf("gpu: device %llu, %llu MiB per chunk size, %llu timed rounds each, "
	       "one cudaMemcpyAsync per chunk\n", (unsigned long long)o.device,
	       (unsigned long long)o.total_mib, (unsigned long long)o.reps);
	for (size_t s = 0; s < o.nsizes && !ret; s++) {
		struct gpu_rig r;

		ret = rig_init(&r, &cu, o.chunk_kib[s] * 1024, o.total_mib);
		for (size_t w = 0; w < o.nworkers && !ret; w++) {
			ret = measure(&r, (unsigned int)o.workers[w], w == 0, o.reps, &rows[nrows]);
			if (!ret)
				printf("gpu: %zu KiB x %zu, %u workers: kvtier %.2f GB/s, pinned "
				       "H2D %.2f, ratio %.3f\n", r.chunk_bytes / 1024, r.n,
				       rows[nrows].workers, rows[nrows].kvtier_gbps,
				       rows[nrows].pinned_gbps, rows[nrows].ratio);
			nrows += !ret;
		}
		rig_free(&r);
	}
	if (!ret)
		report(&o, rows, nrows);
	dlclose(cu.lib);
	return ret ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
