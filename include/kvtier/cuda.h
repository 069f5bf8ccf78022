/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvtier/cuda.h - a GPU sink for kvt_get_sink() (kvtier.h): restored chunks
 * go straight to device memory.
 */
#ifndef KVTIER_CUDA_H
#define KVTIER_CUDA_H

#include <kvtier.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

struct kvt_cuda_sink;

/**
 * kvt_cuda_sink_new() - a GPU sink for kvt_get_sink(): each restored chunk
 * is copied to device memory with cudaMemcpyAsync on @stream, out of the
 * staging slab, which is registered with cudaHostRegister so the copies
 * are DMA from pinned memory.  The CUDA runtime (libcudart.so) is loaded at
 * run time: kvtier has no build dependency on CUDA.
 * @kvt:    an instance with a DAX tier (the slab is its).
 * @device: CUDA device ordinal.
 * @stream: a cudaStream_t, or NULL for the default stream.
 * @out:    receives the sink; pass it as kvt_get_sink()'s @sink_arg with
 *          kvt_cuda_sink as @sink, after kvt_cuda_sink_set_dsts().
 *
 * Threads: one batch at a time per sink.  Blocks: CUDA initialisation.
 * Return: 0; -ENODEV no DAX tier, no CUDA runtime or no such device;
 *         -ENOMEM.
 */
int kvt_cuda_sink_new(struct kvt *kvt, int device, void *stream, struct kvt_cuda_sink **out);

/* kvt_cuda_sink_set_dsts() - the @n device pointers of the next batch, by
 * batch position; borrowed until the batch returns.  Return: 0, -EINVAL. */
int kvt_cuda_sink_set_dsts(struct kvt_cuda_sink *s, void *const *dsts, size_t n);

/* kvt_cuda_sink() - the kvt_sink_fn (@arg is the kvt_cuda_sink): copies
 * and synchronizes @stream before returning, so the slab region may be
 * refilled.  Return: 0, -EINVAL (index without a destination), -EIO. */
int kvt_cuda_sink(void *arg, size_t index, const void *src, size_t len);

/* kvt_cuda_sink_free() - unregister the slab, unload the runtime.  NULL is
 * a no-op.  Call before kvt_close(). */
void kvt_cuda_sink_free(struct kvt_cuda_sink *s);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* KVTIER_CUDA_H */
