/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/copybound.h - the bound a restore is measured against: the
 * fastest copy this machine does, with as many threads as the restore
 * uses, of the same bytes into the same buffers, in the same run.
 *
 * A bound from one thread's memcpy() flatters a restore that runs on two
 * workers with streaming stores (a ratio below 1 looked possible); taking
 * the best of every way the caller knows (memcpy(), the library's
 * nt_copy()) at the restore's thread count makes the gap an honest one.
 *
 * Threads: called from one thread; it starts and joins its own.
 */
#ifndef KVT_TOOLS_COPYBOUND_H
#define KVT_TOOLS_COPYBOUND_H

#include <stddef.h>

struct copy_way {
	const char *name;
	void (*copy)(void *dst, const void *src, size_t len);
};

struct copy_bound {
	double gbps;	  /* the best pass of the best way, 1e9 bytes/s */
	const char *name; /* the way that gave it */
	unsigned int threads;
};

/**
 * copy_bound_measure() - time every way in @ways.
 * @dst:      @bytes of destination, written by every pass.
 * @src:      @src_span readable bytes; each pass copies every whole
 *            @bytes window of it in turn (one window when it is shorter),
 *            so a source larger than the caches is read from memory.
 * @threads:  copying threads, each taking its share of every window.
 * @passes:   timed passes per way, after one untimed one.
 *
 * Return: 0 with @out set, or -EAGAIN when a thread could not start.
 */
int copy_bound_measure(void *dst, const void *src, size_t src_span, size_t bytes,
		       unsigned int threads, const struct copy_way *ways, size_t nways,
		       unsigned int passes, struct copy_bound *out);

#endif
