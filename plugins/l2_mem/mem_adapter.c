/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugins/l2_mem/mem_adapter.c - an example L2 adapter plugin, type "mem":
 * chunks in process memory, oldest first out when over capacity, locked
 * keys never evicted or deleted.  It shows the whole plugin ABI of
 * kvtier/l2.h (registration, config, tasks, event fds, locks, status) and is
 * small enough to copy from; the registry tests load it beside broken
 * plugins.
 *
 * Config: {"type":"mem","max_size_mb":64}
 *
 * Every task completes on the submitting thread before submit returns (a
 * memcpy has nothing to wait for).  One mutex guards the store: a plugin
 * is built apart from libkvtier and takes its tree from libc (tsearch).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvtier/l2.h"

struct mem_chunk {
	struct kvt_key key;
	size_t len;
	uint32_t locks;
	struct mem_chunk *older, *newer;        /* age order, oldest at head */
	unsigned char data[];
};

struct kvt_l2_adapter {
	pthread_mutex_t lock;
	void *tree;                             /* tsearch root of struct mem_chunk */
	struct mem_chunk *oldest, *newest;
	size_t bytes, capacity, chunks;
	uint64_t evictions;
	int efd[KVT_L2_NOPS];
	int closed;
};

static int key_cmp(const void *a, const void *b)
{
	const struct kvt_key *x = a, *y = b;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

static struct mem_chunk *find(struct kvt_l2_adapter *a, const struct kvt_key *key)
{
	void *hit = tfind(key, &a->tree, key_cmp);

	return hit ? *(struct mem_chunk **)hit : NULL;
}

static void unlink_chunk(struct kvt_l2_adapter *a, struct mem_chunk *c)
{
	tdelete(&c->key, &a->tree, key_cmp);
	if (c->older)
		c->older->newer = c->newer;
	else
		a->oldest = c->newer;
	if (c->newer)
		c->newer->older = c->older;
	else
		a->newest = c->older;
	a->bytes -= c->len;
	a->chunks--;
	free(c);
}

/* Make room for @len bytes, oldest unlocked first.  Caller holds lock. */
static int make_room(struct kvt_l2_adapter *a, size_t len)
{
	struct mem_chunk *c = a->oldest;

	if (len > a->capacity)
		return -EMSGSIZE;
	while (a->bytes + len > a->capacity && c) {
		struct mem_chunk *next = c->newer;

		if (!c->locks) {
			unlink_chunk(a, c);
			a->evictions++;
		}
		c = next;
	}
	return a->bytes + len > a->capacity ? -ENOSPC : 0;
}

static void complete(struct kvt_l2_adapter *a, enum kvt_l2_op op, struct kvt_l2_task *t,
		     int64_t bytes)
{
	uint64_t one = 1;

	t->bytes = bytes;
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	if (write(a->efd[op], &one, sizeof(one)) != sizeof(one))
		perror("mem adapter: eventfd");
	if (t->on_done)
		t->on_done(t);
}

static void start(struct kvt_l2_task *t, size_t n)
{
	memset(t->bitmap, 0, (n + 63) / 64 * sizeof(uint64_t));
	t->bytes = 0;
	__atomic_store_n(&t->done, 0, __ATOMIC_RELAXED);
}

static void set_bit(uint64_t *bitmap, size_t i)
{
	bitmap[i / 64] |= 1ull << (i % 64);
}

static int mem_submit_store(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			    const void *const *bufs, const size_t *lens, size_t n,
			    struct kvt_l2_task *t)
{
	int64_t bytes = 0;

	if (a->closed)
		return -ESHUTDOWN;
	start(t, n);
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < n; i++) {
		struct mem_chunk *c;

		if (find(a, &keys[i])) {
			set_bit(t->bitmap, i);
			continue;
		}
		if (make_room(a, lens[i]))
			continue;
		c = malloc(sizeof(*c) + lens[i]);
		if (!c)
			continue;
		c->key = keys[i];
		c->len = lens[i];
		c->locks = 0;
		memcpy(c->data, bufs[i], lens[i]);
		if (!tsearch(&c->key, &a->tree, key_cmp)) {
			free(c);
			continue;
		}
		c->older = a->newest;
		c->newer = NULL;
		if (a->newest)
			a->newest->newer = c;
		else
			a->oldest = c;
		a->newest = c;
		a->bytes += c->len;
		a->chunks++;
		bytes += (int64_t)c->len;
		set_bit(t->bitmap, i);
	}
	pthread_mutex_unlock(&a->lock);
	complete(a, KVT_L2_STORE, t, bytes);
	return 0;
}

static int mem_submit_lookup(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			     struct kvt_l2_task *t)
{
	if (a->closed)
		return -ESHUTDOWN;
	start(t, n);
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < n; i++) {
		struct mem_chunk *c = find(a, &keys[i]);

		if (!c)
			continue;
		c->locks++;
		if (t->lens)
			t->lens[i] = c->len;
		set_bit(t->bitmap, i);
	}
	pthread_mutex_unlock(&a->lock);
	complete(a, KVT_L2_LOOKUP, t, 0);
	return 0;
}

static int mem_submit_load(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			   void *const *bufs, const size_t *buf_lens, size_t n,
			   struct kvt_l2_task *t)
{
	int64_t bytes = 0;

	if (a->closed)
		return -ESHUTDOWN;
	start(t, n);
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < n; i++) {
		struct mem_chunk *c = find(a, &keys[i]);

		t->lens[i] = 0;
		if (!c || c->len > buf_lens[i])
			continue;
		memcpy(bufs[i], c->data, c->len);
		t->lens[i] = c->len;
		bytes += (int64_t)c->len;
		set_bit(t->bitmap, i);
	}
	pthread_mutex_unlock(&a->lock);
	complete(a, KVT_L2_LOAD, t, bytes);
	return 0;
}

static void mem_unlock(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n)
{
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < n; i++) {
		struct mem_chunk *c = find(a, &keys[i]);

		if (c && c->locks)
			c->locks--;
	}
	pthread_mutex_unlock(&a->lock);
}

static ssize_t mem_remove(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			  int *results)
{
	ssize_t removed = 0;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < n; i++) {
		struct mem_chunk *c = find(a, &keys[i]);
		int r = !c ? -ENOENT : c->locks ? -EBUSY : 0;

		if (!r) {
			unlink_chunk(a, c);
			removed++;
		}
		if (results)
			results[i] = r;
	}
	pthread_mutex_unlock(&a->lock);
	return removed;
}

static int mem_status(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	pthread_mutex_lock(&a->lock);
	st->is_healthy = true;
	st->bytes_used = a->bytes;
	st->capacity_bytes = a->capacity;
	st->chunks = a->chunks;
	st->errors = 0;
	snprintf(st->detail, sizeof(st->detail), "evictions=%llu",
		 (unsigned long long)a->evictions);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int mem_event_fd(struct kvt_l2_adapter *a, enum kvt_l2_op op)
{
	return op < KVT_L2_NOPS ? a->efd[op] : -EINVAL;
}

static void mem_destroy(struct kvt_l2_adapter *a)
{
	a->closed = 1;
	while (a->oldest)
		unlink_chunk(a, a->oldest);
	for (int i = 0; i < KVT_L2_NOPS; i++)
		if (a->efd[i] >= 0)
			close(a->efd[i]);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static int mem_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		      struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	struct kvt_l2_adapter *a;
	const char *mb = NULL;
	char *end;
	double v;

	for (size_t i = 0; i < cfg->nparams; i++) {
		if (!strcmp(cfg->params[i].key, "max_size_mb")) {
			mb = cfg->params[i].value;
		} else if (strcmp(cfg->params[i].key, "type")) {
			snprintf(err, errlen, "mem: unknown key \"%s\" (known: max_size_mb)",
				 cfg->params[i].key);
			return -EINVAL;
		}
	}
	if (!mb) {
		snprintf(err, errlen, "mem: max_size_mb is required");
		return -EINVAL;
	}
	v = strtod(mb, &end);
	if (*end || !(v > 0) || v > 1 << 20) {
		snprintf(err, errlen, "mem: max_size_mb: \"%s\": must be a number in (0, 1048576]",
			 mb);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	a->capacity = (size_t)(v * 1048576.0);
	for (int i = 0; i < KVT_L2_NOPS; i++)
		a->efd[i] = -1;
	for (int i = 0; i < KVT_L2_NOPS; i++) {
		a->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (a->efd[i] < 0) {
			int ret = -errno;

			mem_destroy(a);
			return ret;
		}
	}
	*out = a;
	return 0;
}

static const struct kvt_l2_ops mem_ops = {
	.abi_version = KVT_L2_ABI_VERSION,
	.type = "mem",
	.help = "max_size_mb: capacity in MiB (required)",
	.create = mem_create,
	.destroy = mem_destroy,
	.event_fd = mem_event_fd,
	.submit_store = mem_submit_store,
	.submit_lookup = mem_submit_lookup,
	.submit_load = mem_submit_load,
	.unlock = mem_unlock,
	.remove = mem_remove,
	.status = mem_status,
};

int kvt_l2_plugin_register(struct kvt_l2_host *host);

int kvt_l2_plugin_register(struct kvt_l2_host *host)
{
	if (host->abi_version != KVT_L2_ABI_VERSION)
		return -EPROTO;
	return host->add(host, &mem_ops);
}
