/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the fs adapter's size map (l2/fs/fs_sizemap.c): entries are
 * found by key whatever the insert order, sizing counts a file once and
 * ages it newest, unsizing frees an unlocked entry but keeps a locked one,
 * and a load from a scan ages files by mtime.
 */
#include <stdint.h>

#include "l2/fs/fs_sizemap.h"
#include "tests/common/harness.h"

static struct kvt_key k(uint64_t i)
{
	return (struct kvt_key){ i * 0x9e3779b97f4a7c15ull, i };
}

static struct fs_sizemap_ent *oldest(struct fs_sizemap *m)
{
	return cds_list_first_entry(&m->age, struct fs_sizemap_ent, age);
}

TEST(found_by_key_whatever_the_insert_order)
{
	struct fs_sizemap m;

	fs_sizemap_init(&m);
	for (uint64_t i = 0; i < 500; i++)
		fs_sizemap_account(&m, (struct kvt_key[]){ k((i * 7919) % 500) }, 100 + i);
	CHECK_EQ(m.n, 500);
	CHECK_EQ(m.nsized, 500);
	for (uint64_t i = 0; i < 500; i++)
		CHECK_ROW(i, fs_sizemap_find(&m, (struct kvt_key[]){ k(i) }) != NULL);
	CHECK(fs_sizemap_find(&m, (struct kvt_key[]){ k(500) }) == NULL);
	fs_sizemap_fini(&m);
	CHECK_EQ(m.n, 0);
}

TEST(sized_once_and_unsize_keeps_locked_entries)
{
	struct fs_sizemap m;
	struct fs_sizemap_ent *a, *b;

	fs_sizemap_init(&m);
	a = fs_sizemap_get(&m, (struct kvt_key[]){ k(1) });
	b = fs_sizemap_get(&m, (struct kvt_key[]){ k(2) });
	CHECK(a && b && a != b);
	fs_sizemap_size(&m, a, 10);
	fs_sizemap_size(&m, a, 99);      /* counted already */
	fs_sizemap_size(&m, b, 20);
	CHECK_EQ(m.used, 30);
	CHECK(oldest(&m) == a);
	b->locks = 1;
	fs_sizemap_unsize(&m, b);
	CHECK_EQ(m.used, 10);
	CHECK(fs_sizemap_find(&m, (struct kvt_key[]){ k(2) }) == b); /* held by its lock */
	b->locks = 0;
	fs_sizemap_unsize(&m, b);
	CHECK(fs_sizemap_find(&m, (struct kvt_key[]){ k(2) }) == NULL);
	fs_sizemap_unsize(&m, a);
	CHECK_EQ(m.n, 0);
	CHECK_EQ(m.used, 0);
	CHECK_EQ(m.nsized, 0);
	fs_sizemap_fini(&m);
}

TEST(load_ages_files_by_mtime)
{
	struct fs_sizemap_seed v[3] = {
		{ k(1), 100, { 30, 0 } },
		{ k(2), 200, { 10, 5 } },
		{ k(3), 300, { 10, 1 } },
	};
	struct fs_sizemap m;

	fs_sizemap_init(&m);
	CHECK_EQ(fs_sizemap_load(&m, v, 3), 0);
	CHECK_EQ(m.used, 600);
	CHECK(oldest(&m)->key.hi == 3);
	for (uint64_t i = 1; i <= 3; i++)
		CHECK_ROW(i, fs_sizemap_find(&m, (struct kvt_key[]){ k(i) })->bytes == 100 * i);
	fs_sizemap_fini(&m);
}
