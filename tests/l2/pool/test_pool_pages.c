/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the pool tier's page allocator (l2/pool/pool_pages.c): every
 * page is handed out once before -ENOSPC, pages past npages in the last
 * bitmap word never are, a freed page is found again from any hint, and a
 * free out of range or of a free page changes nothing.
 */
#include <errno.h>
#include <stdint.h>

#include "l2/pool/pool_pages.h"
#include "tests/common/harness.h"

/* 130 pages: two full bitmap words and a partial third */
#define NPAGES 130u

TEST(every_page_once_then_enospc)
{
	struct pool_pages pp;
	uint8_t seen[NPAGES] = { 0 };

	CHECK_EQ(pool_pages_init(&pp, NPAGES), 0);
	for (uint32_t i = 0; i < NPAGES; i++) {
		int64_t pg = pool_pages_alloc(&pp);

		CHECK_ROW(i, pg >= 0 && pg < NPAGES);
		CHECK_ROW(i, !seen[pg]);
		seen[pg] = 1;
		CHECK(pool_pages_used(&pp, (uint32_t)pg));
	}
	CHECK_EQ(pp.used, NPAGES);
	CHECK_EQ(pool_pages_alloc(&pp), -ENOSPC);
	CHECK(!pool_pages_used(&pp, NPAGES)); /* past the end reads as free */
	pool_pages_fini(&pp);
}

TEST(a_freed_page_is_found_again_from_any_hint)
{
	struct pool_pages pp;

	CHECK_EQ(pool_pages_init(&pp, NPAGES), 0);
	for (uint32_t i = 0; i < NPAGES; i++)
		CHECK_ROW(i, pool_pages_alloc(&pp) >= 0);
	for (uint32_t victim = 0; victim < NPAGES; victim += 13) {
		CHECK_ROW(victim, pool_pages_free(&pp, victim) == 0);
		CHECK_ROW(victim, !pool_pages_used(&pp, victim));
		CHECK_ROW(victim, pool_pages_alloc(&pp) == (int64_t)victim);
		CHECK_ROW(victim, pool_pages_alloc(&pp) == -ENOSPC);
	}
	pool_pages_fini(&pp);
}

TEST(bad_frees_change_nothing)
{
	struct pool_pages pp;
	int64_t a, b;

	CHECK_EQ(pool_pages_init(&pp, NPAGES), 0);
	a = pool_pages_alloc(&pp);
	b = pool_pages_alloc(&pp);
	CHECK(a >= 0 && b >= 0 && a != b);
	CHECK_EQ(pool_pages_free(&pp, NPAGES), -EINVAL);
	CHECK_EQ(pool_pages_free(&pp, (uint32_t)a), 0);
	CHECK_EQ(pool_pages_free(&pp, (uint32_t)a), -EINVAL); /* double free */
	CHECK_EQ(pp.used, 1);
	CHECK(pool_pages_used(&pp, (uint32_t)b));
	pool_pages_fini(&pp);
}
