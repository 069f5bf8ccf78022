/* SPDX-License-Identifier: Apache-2.0 */
/* l2/pool/pool_pages.c - see pool_pages.h. */
#include "l2/pool/pool_pages.h"

#include <errno.h>

#include "core/mem.h"

int pool_pages_init(struct pool_pages *pp, uint32_t npages)
{
	uint32_t words = (npages + 63) / 64;

	pp->bits = mem_zalloc((words ? words : 1) * sizeof(*pp->bits));
	if (!pp->bits)
		return -ENOMEM;
	pp->npages = npages;
	pp->used = 0;
	pp->hint = 0;
	/* the tail bits of the last word stay set: never handed out */
	if (npages % 64)
		pp->bits[words - 1] = ~0ull << (npages % 64);
	return 0;
}

void pool_pages_fini(struct pool_pages *pp)
{
	mem_free(pp->bits);
	pp->bits = NULL;
	pp->npages = pp->used = 0;
}

int64_t pool_pages_alloc(struct pool_pages *pp)
{
	uint32_t words = (pp->npages + 63) / 64;

	if (pp->used >= pp->npages)
		return -ENOSPC;
	for (uint32_t n = 0; n < words; n++) {
		uint32_t w = (pp->hint + n) % words;
		uint64_t free = ~pp->bits[w];

		if (!free)
			continue;
		pp->bits[w] |= free & -free;
		pp->hint = w;
		pp->used++;
		return (int64_t)w * 64 + __builtin_ctzll(free);
	}
	return -ENOSPC;
}

int pool_pages_free(struct pool_pages *pp, uint32_t page)
{
	if (!pool_pages_used(pp, page))
		return -EINVAL;
	pp->bits[page / 64] &= ~(1ull << (page % 64));
	pp->used--;
	return 0;
}
