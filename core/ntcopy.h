/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/ntcopy.h - copies into memory the CPU will not read back soon.
 *
 * A restore writes chunks into the engine's buffers (or the staging slab a
 * sink drains by DMA): nothing reads them through this CPU's caches next.
 * glibc's memcpy streams past its non_temporal_threshold only (3/4 of what
 * the CPU reports as shared cache: 192 MiB on this machine's VM), so a
 * restore region of 1-64 MiB went through the caches, paying a read for
 * ownership of every destination line and evicting the engine's working
 * set: 5.7 GB/s here against 10 GB/s streamed.
 *
 * Threads: any; no state.
 */
#ifndef KVT_CORE_NTCOPY_H
#define KVT_CORE_NTCOPY_H

#include <stddef.h>

/* Below this a copy goes through memcpy(): the destination may well stay
 * cached, and a stream's fence costs more than it saves. */
#define NTCOPY_MIN (64u * 1024)

/*
 * nt_copy() - memcpy() with streaming (non-temporal) stores for @len >=
 * NTCOPY_MIN.  @dst and @src must not overlap.  The stores are fenced
 * before it returns, so a release that follows (a completion signal)
 * publishes them like ordinary stores.
 */
void nt_copy(void *dst, const void *src, size_t len);

#endif
