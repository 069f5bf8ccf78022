/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the GPU sink of kvt_get_sink() — restored DAX chunks land in
 * device memory byte for byte (copied back with cudaMemcpy to check).  It
 * needs a CUDA runtime and a GPU: without them the round trip is a SKIP
 * with the reason, never a pass; the refusals run everywhere.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvtier.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "kvtier/cuda.h"

#define CHUNK 65536
#define NKEYS 24

static struct kvt *open_instance(bool dax)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	char path[512];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "1024");
	if (dax) {
		snprintf(path, sizeof(path), "%s/cuda.img", harness_tmpdir(1));
		cfg_set(cfg, "local_cpu", "false");
		cfg_set(cfg, "dax.mode", "primary");
		cfg_set(cfg, "dax.device_path", path);
		cfg_set(cfg, "dax.allow_file_backing", "true");
		cfg_set(cfg, "dax.max_dax_size", "0.01");
	} else {
		cfg_set(cfg, "max_local_cpu_size", "0.01");
	}
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	return kvt;
}

static uint8_t byte_of(uint64_t id, size_t i)
{
	return (uint8_t)(id * 29 + i * 3 + (i >> 10));
}

TEST(no_dax_tier_has_no_gpu_sink)
{
	struct kvt *kvt = open_instance(false);
	struct kvt_cuda_sink *s = NULL;

	CHECK_EQ(kvt_cuda_sink_new(kvt, 0, NULL, &s), -ENODEV);
	CHECK(s == NULL);
	kvt_close(kvt);
}

TEST(restored_chunks_land_in_gpu_memory)
{
	int (*cuda_malloc)(void **p, size_t n);
	int (*cuda_free)(void *p);
	int (*cuda_memcpy)(void *dst, const void *src, size_t n, int kind);
	struct kvt *kvt = open_instance(true);
	struct kvt_cuda_sink *s = NULL;
	struct kvt_key keys[NKEYS];
	void *dev[NKEYS];
	size_t out[NKEYS];
	static uint8_t buf[CHUNK];
	void *lib;
	int ret = kvt_cuda_sink_new(kvt, 0, NULL, &s);

	if (ret == -ENODEV) {
		kvt_close(kvt);
		SKIP("no CUDA runtime or no GPU on this machine");
	}
	CHECK_EQ(ret, 0);
	lib = dlopen("libcudart.so", RTLD_NOW | RTLD_LOCAL);
	CHECK(lib != NULL);
	*(void **)&cuda_malloc = dlsym(lib, "cudaMalloc");
	*(void **)&cuda_free = dlsym(lib, "cudaFree");
	*(void **)&cuda_memcpy = dlsym(lib, "cudaMemcpy");
	CHECK(cuda_malloc && cuda_free && cuda_memcpy);
	for (uint64_t id = 0; id < NKEYS; id++) {
		const void *b = buf;
		size_t len = CHUNK;
		int res;

		keys[id].lo = id * 0x9E3779B97F4A7C15ull + 3;
		keys[id].hi = id;
		for (size_t i = 0; i < CHUNK; i++)
			buf[i] = byte_of(id, i);
		CHECK_EQ(kvt_put(kvt, &keys[id], &b, &len, 1, &res, NULL, NULL), 1);
		CHECK_EQ(cuda_malloc(&dev[id], CHUNK), 0);
	}
	kvt_cuda_sink_set_dsts(s, dev, NKEYS);
	CHECK_EQ(kvt_get_sink(kvt, keys, NKEYS, kvt_cuda_sink, s, out), NKEYS);
	for (uint64_t id = 0; id < NKEYS; id++) {
		CHECK_EQ(out[id], CHUNK);
		CHECK_EQ(cuda_memcpy(buf, dev[id], CHUNK, 2 /* device to host */), 0);
		for (size_t i = 0; i < CHUNK; i++)
			CHECK_EQ(buf[i], byte_of(id, i));
		cuda_free(dev[id]);
	}
	kvt_cuda_sink_free(s);
	kvt_close(kvt);
	dlclose(lib);
}
