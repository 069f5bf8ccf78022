/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/mem.h - the one allocation wrapper.
 *
 * Release builds serve kvtier's own allocations from jemalloc's explicit API
 * (mallocx/dallocx), so the engine's malloc is neither replaced nor shared.
 * Sanitizer builds define KVT_NO_JEMALLOC and use libc, because ASan and
 * TSan must see every allocation.
 *
 * Threads: any.
 */
#ifndef KVT_CORE_MEM_H
#define KVT_CORE_MEM_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef KVT_NO_JEMALLOC
#include <jemalloc/jemalloc.h>

static inline void *mem_alloc(size_t size)
{
	return mallocx(size ? size : 1, 0);
}

static inline void *mem_zalloc(size_t size)
{
	return mallocx(size ? size : 1, MALLOCX_ZERO);
}

static inline void *mem_aligned_zalloc(size_t align, size_t size)
{
	return mallocx(size ? size : 1, MALLOCX_ALIGN(align) | MALLOCX_ZERO);
}

static inline void *mem_aligned_alloc(size_t align, size_t size)
{
	return mallocx(size ? size : 1, MALLOCX_ALIGN(align));
}

/* Like realloc(): NULL @p allocates; on failure @p is left as it was. */
static inline void *mem_realloc(void *p, size_t size)
{
	return p ? rallocx(p, size ? size : 1, 0) : mallocx(size ? size : 1, 0);
}

static inline void mem_free(void *p)
{
	if (p)
		dallocx(p, 0);
}
#else
static inline void *mem_alloc(size_t size)
{
	return malloc(size ? size : 1);
}

static inline void *mem_zalloc(size_t size)
{
	return calloc(1, size ? size : 1);
}

static inline void *mem_aligned_alloc(size_t align, size_t size)
{
	void *p = NULL;

	if (posix_memalign(&p, align, size ? size : 1))
		return NULL;
	return p;
}

static inline void *mem_aligned_zalloc(size_t align, size_t size)
{
	void *p = mem_aligned_alloc(align, size);

	if (p)
		memset(p, 0, size);
	return p;
}

static inline void *mem_realloc(void *p, size_t size)
{
	return realloc(p, size ? size : 1);
}

static inline void mem_free(void *p)
{
	free(p);
}
#endif

#endif /* KVT_CORE_MEM_H */
