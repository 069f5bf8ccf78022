/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/tier.c - tier maps (see tier.h).
 */
#include "core/tier.h"

#include <errno.h>

static unsigned long next_pow2(uint64_t v)
{
	unsigned long p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

int tier_map_new(struct tier *t)
{
	unsigned long size = next_pow2(t->slots.nslots);

	t->map = cds_lfht_new(size, size, size, 0, NULL);
	return t->map ? 0 : -ENOMEM;
}

void tier_map_destroy(struct tier *t)
{
	if (t->map)
		cds_lfht_destroy(t->map, NULL);
	t->map = NULL;
}

int tier_match(struct cds_lfht_node *node, const void *key)
{
	const struct entry *e = caa_container_of(node, struct entry, node);
	const struct kvt_key *k = key;

	/* TSan only: pairs with the release the index actor makes before linking */
	tsan_acquire(e);
	return e->key.lo == k->lo && e->key.hi == k->hi;
}

struct entry *tier_lookup_rcu(struct tier *t, const struct kvt_key *key)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(t->map, entry_hash(key), tier_match, key, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct entry, node) : NULL;
}
