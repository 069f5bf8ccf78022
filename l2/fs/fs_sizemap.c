/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/fs_sizemap.c - see fs_sizemap.h.  Invariants: map[0..n) is sorted
 * by key with no duplicates; an entry is on the age list iff sized; used
 * and nsized sum the sized entries; an entry neither sized nor locked is
 * freed at once.  No threads: the caller serializes.
 */
#include "l2/fs/fs_sizemap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static int key_cmp(const struct kvt_key *a, const struct kvt_key *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

/* Index of @key in the map, or where it would go (*@found false). */
static size_t map_pos(const struct fs_sizemap *m, const struct kvt_key *key, bool *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(&m->map[mid]->key, key);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static bool map_reserve(struct fs_sizemap *m, size_t n)
{
	struct fs_sizemap_ent **v;
	size_t cap = m->cap ? m->cap : 64;

	if (n <= m->cap)
		return true;
	while (cap < n)
		cap *= 2;
	v = mem_alloc(cap * sizeof(*v));
	if (!v)
		return false;
	if (m->n)
		memcpy(v, m->map, m->n * sizeof(*v));
	mem_free(m->map);
	m->map = v;
	m->cap = cap;
	return true;
}

void fs_sizemap_init(struct fs_sizemap *m)
{
	memset(m, 0, sizeof(*m));
	CDS_INIT_LIST_HEAD(&m->age);
}

void fs_sizemap_fini(struct fs_sizemap *m)
{
	for (size_t i = 0; i < m->n; i++)
		mem_free(m->map[i]);
	mem_free(m->map);
	fs_sizemap_init(m);
}

struct fs_sizemap_ent *fs_sizemap_find(const struct fs_sizemap *m, const struct kvt_key *key)
{
	bool found;
	size_t pos = map_pos(m, key, &found);

	return found ? m->map[pos] : NULL;
}

struct fs_sizemap_ent *fs_sizemap_get(struct fs_sizemap *m, const struct kvt_key *key)
{
	bool found;
	size_t pos = map_pos(m, key, &found);
	struct fs_sizemap_ent *e;

	if (found)
		return m->map[pos];
	if (!map_reserve(m, m->n + 1))
		return NULL;
	e = mem_zalloc(sizeof(*e));
	if (!e)
		return NULL;
	e->key = *key;
	memmove(m->map + pos + 1, m->map + pos, (m->n - pos) * sizeof(*m->map));
	m->map[pos] = e;
	m->n++;
	return e;
}

void fs_sizemap_size(struct fs_sizemap *m, struct fs_sizemap_ent *e, uint64_t bytes)
{
	if (e->sized)
		return;
	e->sized = true;
	e->bytes = bytes;
	cds_list_add_tail(&e->age, &m->age);
	m->used += bytes;
	m->nsized++;
}

void fs_sizemap_unsize(struct fs_sizemap *m, struct fs_sizemap_ent *e)
{
	bool found;
	size_t pos;

	if (e->sized) {
		cds_list_del(&e->age);
		m->used -= e->bytes;
		m->nsized--;
		e->sized = false;
	}
	if (e->locks)
		return;
	pos = map_pos(m, &e->key, &found);
	memmove(m->map + pos, m->map + pos + 1, (m->n - pos - 1) * sizeof(*m->map));
	m->n--;
	mem_free(e);
}

void fs_sizemap_account(struct fs_sizemap *m, const struct kvt_key *key, uint64_t bytes)
{
	struct fs_sizemap_ent *e = fs_sizemap_get(m, key);

	if (e)
		fs_sizemap_size(m, e, bytes);
}

static int seed_cmp_age(const void *a, const void *b)
{
	const struct fs_sizemap_seed *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return key_cmp(&x->key, &y->key);
}

static int ent_cmp_key(const void *a, const void *b)
{
	return key_cmp(&(*(struct fs_sizemap_ent *const *)a)->key,
		       &(*(struct fs_sizemap_ent *const *)b)->key);
}

int fs_sizemap_load(struct fs_sizemap *m, struct fs_sizemap_seed *v, size_t n)
{
	int ret = 0;

	if (!n)
		return 0;
	if (!map_reserve(m, m->n + n))
		return -ENOMEM;
	qsort(v, n, sizeof(*v), seed_cmp_age);
	for (size_t i = 0; i < n; i++) {
		struct fs_sizemap_ent *e = mem_zalloc(sizeof(*e));

		if (!e) {
			ret = -ENOMEM;
			break;
		}
		e->key = v[i].key;
		m->map[m->n++] = e;
		fs_sizemap_size(m, e, v[i].bytes);
	}
	qsort(m->map, m->n, sizeof(*m->map), ent_cmp_key);
	return ret;
}
