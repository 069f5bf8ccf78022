/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/lookup_target.c - the four tables `kvtier-bench lookup`
 * compares: kvtier itself, and one cds_lfht guarded by a pthread mutex, by a
 * pthread rwlock, or by nothing.  Per target: its lookup of a window, the
 * writer's churn, the fill (the baselines copy the population kvtier held)
 * and the close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rcu.h"
#include "kvtier.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/lookup_bench.h"

const char *const target_names[TARGET_COUNT] = {
	"kvtier-rcu", "mutex", "rwlock", "lfht-rcu",
};

/*
 * A baseline entry: intrusive node and key, one per key id, never reused
 * while the table lives, so a delete needs no grace period before reuse.
 * 32 bytes in an array by key id, so a window's nodes are adjacent: smaller
 * and denser than kvtier's entries (about 96 bytes each, from jemalloc),
 * which favours every baseline, the lfht-rcu limit included.
 */
struct bnode {
	struct cds_lfht_node node;
	struct kvt_key key;
};

static int bnode_match(struct cds_lfht_node *node, const void *key)
{
	const struct bnode *b = caa_container_of(node, struct bnode, node);
	const struct kvt_key *k = key;

	return b->key.lo == k->lo && b->key.hi == k->hi;
}

/* Call with rcu_read_lock held, and the target's lock if it has one. */
static bool table_has_rcu(struct target *t, const struct kvt_key *key)
{
	struct cds_lfht_iter it;

	cds_lfht_lookup(t->ht, (unsigned long)key->lo, bnode_match, key, &it);
	return cds_lfht_iter_get_node(&it) != NULL;
}

static size_t kvtier_contains(struct target *t, const struct kvt_key *keys)
{
	/* never negative: 0 once close began, which never happens here */
	return (size_t)kvt_contains(t->kvt, keys, WINDOW, 0);
}

static size_t mutex_contains(struct target *t, const struct kvt_key *keys)
{
	size_t hits;

	rcu_read_lock();
	for (hits = 0; hits < WINDOW; hits++) {
		bool hit;

		pthread_mutex_lock(&t->mutex);
		hit = table_has_rcu(t, &keys[hits]);
		pthread_mutex_unlock(&t->mutex);
		if (!hit)
			break;
	}
	rcu_read_unlock();
	return hits;
}

static size_t rwlock_contains(struct target *t, const struct kvt_key *keys)
{
	size_t hits;

	rcu_read_lock();
	for (hits = 0; hits < WINDOW; hits++) {
		bool hit;

		pthread_rwlock_rdlock(&t->rwlock);
		hit = table_has_rcu(t, &keys[hits]);
		pthread_rwlock_unlock(&t->rwlock);
		if (!hit)
			break;
	}
	rcu_read_unlock();
	return hits;
}

/* The limit: the same table with no lock at all, as kvtier's map is read. */
static size_t lfht_contains(struct target *t, const struct kvt_key *keys)
{
	size_t hits;

	rcu_read_lock();
	for (hits = 0; hits < WINDOW; hits++)
		if (!table_has_rcu(t, &keys[hits]))
			break;
	rcu_read_unlock();
	return hits;
}

size_t (*const contains_of[TARGET_COUNT])(struct target *, const struct kvt_key *) = {
	kvtier_contains, mutex_contains, rwlock_contains, lfht_contains,
};

/* Insert ids [id, id + n).  Return: 0 or a negative kvtier code. */
static int kvtier_churn(struct target *t, uint64_t id, size_t n, uint64_t *failed)
{
	int results[FILL_BATCH];
	ssize_t ret;

	ret = kvt_put(t->kvt, t->keys + id, t->bufs, t->lens, n, results, NULL, NULL);
	if (ret < 0)
		return (int)ret;
	for (size_t i = 0; i < n; i++)
		*failed += results[i] != 0;
	return 0;
}

static void table_write_lock(struct target *t)
{
	if (t->kind == TARGET_MUTEX)
		pthread_mutex_lock(&t->mutex);
	else if (t->kind == TARGET_RWLOCK)
		pthread_rwlock_wrlock(&t->rwlock);
	/* lfht-rcu: the writer is the only writer, as kvtier's index actor is */
}

static void table_write_unlock(struct target *t)
{
	if (t->kind == TARGET_MUTEX)
		pthread_mutex_unlock(&t->mutex);
	else if (t->kind == TARGET_RWLOCK)
		pthread_rwlock_unlock(&t->rwlock);
}

/*
 * table_churn() - insert ids [id, id + n), deleting the oldest id for each,
 * one write-lock hold per pair.  A deleted node is never reused while the
 * table lives, so lock-free readers may still walk it.  Return: 0.
 */
static int table_churn(struct target *t, uint64_t id, size_t n, uint64_t *failed)
{
	rcu_read_lock();
	for (size_t i = 0; i < n; i++) {
		struct bnode *add = &t->nodes[id + i], *del = &t->nodes[id + i - t->live];

		table_write_lock(t);
		cds_lfht_add(t->ht, (unsigned long)add->key.lo, &add->node);
		*failed += cds_lfht_del(t->ht, &del->node) != 0;
		table_write_unlock(t);
	}
	rcu_read_unlock();
	return 0;
}

int churn(struct target *t, uint64_t id, size_t n, uint64_t *failed)
{
	if (t->kind == TARGET_KVTIER)
		return kvtier_churn(t, id, n, failed);
	return table_churn(t, id, n, failed);
}

static uint64_t next_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * kvtier_open() - an instance whose L1 has exactly @o->keys slots of
 * CHUNK_BYTES, filled with ids [0, keys).  Sets t->live to the entries it
 * holds afterwards (eviction keeps l1.evict_low..high of L1 free).
 */
int kvtier_open(struct target *t, const struct lookup_opts *o)
{
	static const char *const shape[][2] = {
		{ "chunk_size", "16" }, { "kv_layers", "1" }, { "kv_heads", "1" },
		{ "head_dim", "2" },	{ "kv_dtype", "bfloat16" },
	};
	struct kvt_config *cfg;
	struct kvt_stats st;
	struct progress p;
	uint64_t failed = 0;
	char gb[64];
	int ret;

	ret = kvt_config_new(&cfg);
	if (ret) {
		fprintf(stderr, "kvtier-bench: kvt_config_new: %s\n", kvt_strerror(ret));
		return ret;
	}
	for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
		ret = bench_config_set(cfg, shape[i][0], shape[i][1]);
		if (ret)
			goto out_free_cfg;
	}
	/* half a slot more than keys, so floor(GB * 2^30 / chunk) == keys */
	snprintf(gb, sizeof(gb), "%.17g", ((double)o->keys + 0.5) * CHUNK_BYTES / 1073741824.0);
	ret = bench_config_set(cfg, "max_local_cpu_size", gb);
	for (size_t i = 0; !ret && i < o->nset; i++) {
		char key[128];
		const char *eq = strchr(o->set[i], '=');

		snprintf(key, sizeof(key), "%.*s", (int)(eq - o->set[i]), o->set[i]);
		ret = bench_config_set(cfg, key, eq + 1);
	}
	if (ret)
		goto out_free_cfg;
	ret = kvt_open(cfg, &t->kvt, NULL, 0);
	if (ret) {
		fprintf(stderr, "kvtier-bench: kvt_open: %s\n", kvt_strerror(ret));
		goto out_free_cfg;
	}
	kvt_stats(t->kvt, &st, sizeof(st));
	t->l1_slots = st.l1_slots;
	if (kvt_chunk_bytes(t->kvt) != CHUNK_BYTES || st.l1_slots != o->keys) {
		fprintf(stderr, "kvtier-bench: L1 has %llu slots of %zu bytes, wanted %llu of %d\n",
			(unsigned long long)st.l1_slots, kvt_chunk_bytes(t->kvt),
			(unsigned long long)o->keys, CHUNK_BYTES);
		ret = -EINVAL;
		goto out_close;
	}
	progress_start(&p, "fill kvtier", o->keys);
	for (uint64_t id = 0; id < o->keys; id += FILL_BATCH) {
		size_t n = o->keys - id < FILL_BATCH ? o->keys - id : FILL_BATCH;

		ret = kvtier_churn(t, id, n, &failed);
		if (ret) {
			fprintf(stderr, "kvtier-bench: kvt_put: %s\n", kvt_strerror(ret));
			goto out_close;
		}
		progress_update(&p, id + n);
	}
	progress_end(&p);
	kvt_stats(t->kvt, &st, sizeof(st));
	t->live = st.l1_entries;
	if (failed)
		fprintf(stderr, "kvtier-bench: %llu keys of the fill were not stored\n",
			(unsigned long long)failed);
	kvt_config_free(cfg);
	return 0;

out_close:
	kvt_close(t->kvt);
	t->kvt = NULL;
out_free_cfg:
	kvt_config_free(cfg);
	return ret;
}

/* table_open() - the baseline table with ids [keys - live, keys) in it. */
int table_open(struct target *t, const struct lookup_opts *o)
{
	uint64_t first = o->keys - t->live;
	struct progress p;
	char label[32];
	int ret;

	t->nodes = malloc(sizeof(*t->nodes) * t->nkeys);
	if (!t->nodes)
		return -ENOMEM;
	for (uint64_t id = 0; id < t->nkeys; id++)
		t->nodes[id].key = t->keys[id];
	/* kvtier's map: fixed size, next_pow2(slots) buckets, no auto-resize */
	t->ht = cds_lfht_new(next_pow2(o->keys), next_pow2(o->keys), next_pow2(o->keys), 0, NULL);
	if (!t->ht) {
		ret = -ENOMEM;
		goto err_free_nodes;
	}
	ret = pthread_mutex_init(&t->mutex, NULL);
	if (ret) {
		ret = -ret;
		goto err_destroy_ht;
	}
	ret = pthread_rwlock_init(&t->rwlock, NULL);
	if (ret) {
		ret = -ret;
		goto err_destroy_mutex;
	}
	snprintf(label, sizeof(label), "fill %s", target_names[t->kind]);
	progress_start(&p, label, t->live);
	rcu_read_lock();
	for (uint64_t id = first; id < o->keys; id++) {
		cds_lfht_add(t->ht, (unsigned long)t->nodes[id].key.lo, &t->nodes[id].node);
		if (!((id - first) % 65536))
			progress_update(&p, id - first);
	}
	rcu_read_unlock();
	progress_update(&p, t->live);
	progress_end(&p);
	return 0;

err_destroy_mutex:
	pthread_mutex_destroy(&t->mutex);
err_destroy_ht:
	cds_lfht_destroy(t->ht, NULL);
err_free_nodes:
	free(t->nodes);
	return ret;
}

void table_close(struct target *t)
{
	uint64_t hi = atomic_load_explicit(&t->hi, memory_order_relaxed);

	/* cds_lfht_destroy() wants an empty table */
	rcu_read_lock();
	for (uint64_t id = hi - t->live; id < hi; id++)
		cds_lfht_del(t->ht, &t->nodes[id].node);
	rcu_read_unlock();
	/* every reader has been joined; a grace period is cheap insurance */
	synchronize_rcu();
	cds_lfht_destroy(t->ht, NULL);
	pthread_rwlock_destroy(&t->rwlock);
	pthread_mutex_destroy(&t->mutex);
	free(t->nodes);
}
