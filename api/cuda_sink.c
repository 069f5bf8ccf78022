/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/cuda_sink.c - the GPU sink for kvt_get_sink(): cudaMemcpyAsync from
 * the staging slab (registered with cudaHostRegister) to device memory.
 *
 * The CUDA runtime is loaded with dlopen, so libkvtier builds and runs on
 * machines without CUDA; only the few entry points below are used, through
 * their stable C ABI (cudaError_t is an int, cudaStream_t a pointer).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>

#include "core/instance.h"
#include "core/log.h"
#include "core/mem.h"
#include "kvtier/cuda.h"

#define CUDA_MEMCPY_HOST_TO_DEVICE 1

struct cuda_api {
	int (*get_device_count)(int *count);
	int (*set_device)(int device);
	int (*host_register)(void *ptr, size_t size, unsigned int flags);
	int (*host_unregister)(void *ptr);
	int (*memcpy_async)(void *dst, const void *src, size_t len, int kind, void *stream);
	int (*stream_synchronize)(void *stream);
};

struct kvt_cuda_sink {
	struct kvt *kvt;
	void *lib;
	struct cuda_api api;
	void *stream;
	bool registered;
	void *const *dsts;
	size_t ndsts;
};

static void *open_runtime(void)
{
	static const char *const names[] = {
		"libcudart.so", "libcudart.so.13", "libcudart.so.12",
		"/usr/local/cuda/lib64/libcudart.so",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);

		if (lib)
			return lib;
	}
	return NULL;
}

static int load_api(void *lib, struct cuda_api *api)
{
	*(void **)&api->get_device_count = dlsym(lib, "cudaGetDeviceCount");
	*(void **)&api->set_device = dlsym(lib, "cudaSetDevice");
	*(void **)&api->host_register = dlsym(lib, "cudaHostRegister");
	*(void **)&api->host_unregister = dlsym(lib, "cudaHostUnregister");
	*(void **)&api->memcpy_async = dlsym(lib, "cudaMemcpyAsync");
	*(void **)&api->stream_synchronize = dlsym(lib, "cudaStreamSynchronize");
	return api->get_device_count && api->set_device && api->host_register &&
		       api->host_unregister && api->memcpy_async && api->stream_synchronize ?
	       0 : -ENODEV;
}

int kvt_cuda_sink_new(struct kvt *kvt, int device, void *stream, struct kvt_cuda_sink **out)
{
	struct kvt_cuda_sink *s;
	int count = 0, ret = -ENODEV;

	if (!kvt || !out)
		return -EINVAL;
	if (!kvt->has_dax || !kvt->slab.base)
		return -ENODEV;
	s = mem_zalloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->kvt = kvt;
	s->stream = stream;
	s->lib = open_runtime();
	if (!s->lib) {
		log_info("cuda sink: no CUDA runtime: %s", dlerror());
		goto err_free;
	}
	if (load_api(s->lib, &s->api))
		goto err_close;
	if (s->api.get_device_count(&count) || device < 0 || device >= count) {
		log_info("cuda sink: no CUDA device %d (%d found)", device, count);
		goto err_close;
	}
	if (s->api.set_device(device))
		goto err_close;
	/* pinned slab: DMA instead of a driver bounce buffer; work without */
	s->registered = s->api.host_register(kvt->slab.base, kvt->slab.bytes, 0) == 0;
	if (!s->registered)
		log_warn("cuda sink: cudaHostRegister of the %zu-byte slab failed; copies are pageable",
			 kvt->slab.bytes);
	*out = s;
	return 0;

err_close:
	dlclose(s->lib);
err_free:
	mem_free(s);
	return ret;
}

int kvt_cuda_sink_set_dsts(struct kvt_cuda_sink *s, void *const *dsts, size_t n)
{
	if (!s || (n && !dsts))
		return -EINVAL;
	s->dsts = dsts;
	s->ndsts = n;
	return 0;
}

int kvt_cuda_sink(void *arg, size_t index, const void *src, size_t len)
{
	struct kvt_cuda_sink *s = arg;

	if (!s || !src || index >= s->ndsts || !s->dsts[index])
		return -EINVAL;
	if (s->api.memcpy_async(s->dsts[index], src, len, CUDA_MEMCPY_HOST_TO_DEVICE, s->stream))
		return -EIO;
	/* the slab region is refilled once we return */
	return s->api.stream_synchronize(s->stream) ? -EIO : 0;
}

void kvt_cuda_sink_free(struct kvt_cuda_sink *s)
{
	if (!s)
		return;
	if (s->registered)
		s->api.host_unregister(s->kvt->slab.base);
	dlclose(s->lib);
	mem_free(s);
}
