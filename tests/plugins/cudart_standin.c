/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/plugins/cudart_standin.c - a stand-in for the CUDA runtime's few
 * entry points kvtier's GPU sink and `kvtier-bench gpu` load with dlopen,
 * over host memory, so their control flow (setup, every copy, the device
 * check, the report, the exit status) runs on machines without a GPU.
 * Linked as libcudart.so into a test's own folder, found through
 * LD_LIBRARY_PATH by a child process; it measures nothing about a GPU.
 * KVT_STANDIN_DEVICES sets the device count (default 1).
 */
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT int cudaGetDeviceCount(int *count);
EXPORT int cudaSetDevice(int device);
EXPORT int cudaMalloc(void **p, size_t n);
EXPORT int cudaFree(void *p);
EXPORT int cudaMallocHost(void **p, size_t n);
EXPORT int cudaFreeHost(void *p);
EXPORT int cudaHostRegister(void *p, size_t n, unsigned int flags);
EXPORT int cudaHostUnregister(void *p);
EXPORT int cudaMemcpy(void *dst, const void *src, size_t n, int kind);
EXPORT int cudaMemcpyAsync(void *dst, const void *src, size_t n, int kind, void *stream);
EXPORT int cudaStreamSynchronize(void *stream);

#define ERR_INVALID 1 /* cudaErrorInvalidValue */
#define ERR_MEMORY 2  /* cudaErrorMemoryAllocation */

int cudaGetDeviceCount(int *count)
{
	const char *env = getenv("KVT_STANDIN_DEVICES");

	*count = env ? atoi(env) : 1;
	return 0;
}

int cudaSetDevice(int device)
{
	int count;

	cudaGetDeviceCount(&count);
	return device >= 0 && device < count ? 0 : ERR_INVALID;
}

int cudaMalloc(void **p, size_t n)
{
	*p = malloc(n);
	return *p ? 0 : ERR_MEMORY;
}

int cudaFree(void *p)
{
	free(p);
	return 0;
}

int cudaMallocHost(void **p, size_t n)
{
	return cudaMalloc(p, n);
}

int cudaFreeHost(void *p)
{
	return cudaFree(p);
}

int cudaHostRegister(void *p, size_t n, unsigned int flags)
{
	return p && n ? 0 : ERR_INVALID;
}

int cudaHostUnregister(void *p)
{
	return p ? 0 : ERR_INVALID;
}

int cudaMemcpy(void *dst, const void *src, size_t n, int kind)
{
	if (!dst || !src || kind < 1 || kind > 2)
		return ERR_INVALID;
	memcpy(dst, src, n);
	return 0;
}

int cudaMemcpyAsync(void *dst, const void *src, size_t n, int kind, void *stream)
{
	return cudaMemcpy(dst, src, n, kind);
}

int cudaStreamSynchronize(void *stream)
{
	return 0;
}
