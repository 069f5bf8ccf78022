/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/pool_pages.h - the page allocator of one pool region the pool tier
 * owns: @npages fixed pages, one bit each (set = allocated), found by a
 * word scan from a rotating hint.  Thread-free: the caller serializes (the
 * pool client actor owns every instance).
 */
#ifndef KVT_L2_POOL_POOL_PAGES_H
#define KVT_L2_POOL_POOL_PAGES_H

#include <stdbool.h>
#include <stdint.h>

struct pool_pages {
	uint64_t *bits;     /* (npages + 63) / 64 words */
	uint32_t npages;
	uint32_t used;
	uint32_t hint;      /* word to scan from */
};

/* Allocates the bitmap.  Return: 0 or -ENOMEM. */
int pool_pages_init(struct pool_pages *pp, uint32_t npages);
void pool_pages_fini(struct pool_pages *pp);

/* A free page, now allocated, or -ENOSPC when every page is. */
int64_t pool_pages_alloc(struct pool_pages *pp);

/* Free @page.  Return: 0, or -EINVAL when it is out of range or not
 * allocated (a double free changes nothing). */
int pool_pages_free(struct pool_pages *pp, uint32_t page);

static inline bool pool_pages_used(const struct pool_pages *pp, uint32_t page)
{
	return page < pp->npages && ((pp->bits[page / 64] >> (page % 64)) & 1);
}

#endif /* KVT_L2_POOL_POOL_PAGES_H */
