/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/plugins/gate.c - type "gate": an adapter whose stores complete
 * only once the file named by "release_file" exists, so tests can hold L2
 * writes in flight (staging area full, close waiting for writes).  Stores
 * succeed when released; it holds nothing, so lookups and loads miss.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kvtier/l2.h"

#define GATE_MAX 1024

struct kvt_l2_adapter {
	pthread_mutex_t lock;
	pthread_t thread;
	char release_file[512];
	struct kvt_l2_task *held[GATE_MAX];
	size_t held_n[GATE_MAX];
	size_t nheld;
	int stop;
	int efd[KVT_L2_NOPS];
};

static void finish(struct kvt_l2_adapter *a, enum kvt_l2_op op, struct kvt_l2_task *t,
		   size_t n, int ok)
{
	uint64_t one = 1;

	memset(t->bitmap, ok ? 0xff : 0, (n + 63) / 64 * sizeof(uint64_t));
	if (ok && n % 64)
		t->bitmap[n / 64] &= (1ull << (n % 64)) - 1;
	t->bytes = 0;
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	if (write(a->efd[op], &one, sizeof(one)) != sizeof(one))
		perror("gate: eventfd");
	if (t->on_done)
		t->on_done(t);
}

/* Releases held stores once the file exists; at stop, releases them all. */
static void *gate_thread(void *arg)
{
	struct kvt_l2_adapter *a = arg;
	struct timespec nap = { 0, 5 * 1000 * 1000 };

	for (;;) {
		int open_now = access(a->release_file, F_OK) == 0;

		pthread_mutex_lock(&a->lock);
		if (open_now || a->stop) {
			while (a->nheld) {
				a->nheld--;
				finish(a, KVT_L2_STORE, a->held[a->nheld], a->held_n[a->nheld], 1);
			}
		}
		if (a->stop) {
			pthread_mutex_unlock(&a->lock);
			return NULL;
		}
		pthread_mutex_unlock(&a->lock);
		nanosleep(&nap, NULL);
	}
}

static int gate_store(struct kvt_l2_adapter *a, const struct kvt_key *keys,
		      const void *const *bufs, const size_t *lens, size_t n,
		      struct kvt_l2_task *t)
{
	int ret = 0;

	pthread_mutex_lock(&a->lock);
	if (a->stop) {
		ret = -ESHUTDOWN;
	} else if (a->nheld == GATE_MAX) {
		ret = -ETIMEDOUT;
	} else {
		a->held[a->nheld] = t;
		a->held_n[a->nheld++] = n;
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

static int gate_lookup(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
		       struct kvt_l2_task *t)
{
	finish(a, KVT_L2_LOOKUP, t, n, 0);
	return 0;
}

static int gate_load(struct kvt_l2_adapter *a, const struct kvt_key *keys, void *const *bufs,
		     const size_t *buf_lens, size_t n, struct kvt_l2_task *t)
{
	for (size_t i = 0; i < n; i++)
		t->lens[i] = 0;
	finish(a, KVT_L2_LOAD, t, n, 0);
	return 0;
}

static void gate_unlock(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n)
{
}

static ssize_t gate_remove(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			   int *results)
{
	for (size_t i = 0; results && i < n; i++)
		results[i] = -ENOENT;
	return 0;
}

static int gate_status(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	pthread_mutex_lock(&a->lock);
	st->is_healthy = true;
	snprintf(st->detail, sizeof(st->detail), "held=%zu", a->nheld);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int gate_event_fd(struct kvt_l2_adapter *a, enum kvt_l2_op op)
{
	return a->efd[op];
}

static void gate_destroy(struct kvt_l2_adapter *a)
{
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	for (int i = 0; i < KVT_L2_NOPS; i++)
		close(a->efd[i]);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static int gate_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		       struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	struct kvt_l2_adapter *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nparams; i++)
		if (!strcmp(cfg->params[i].key, "release_file"))
			snprintf(a->release_file, sizeof(a->release_file), "%s",
				 cfg->params[i].value);
	if (!a->release_file[0]) {
		snprintf(err, errlen, "gate: release_file is required");
		free(a);
		return -EINVAL;
	}
	pthread_mutex_init(&a->lock, NULL);
	for (int i = 0; i < KVT_L2_NOPS; i++)
		a->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pthread_create(&a->thread, NULL, gate_thread, a)) {
		for (int i = 0; i < KVT_L2_NOPS; i++)
			close(a->efd[i]);
		free(a);
		return -EAGAIN;
	}
	*out = a;
	return 0;
}

static const struct kvt_l2_ops gate_ops = {
	.abi_version = KVT_L2_ABI_VERSION,
	.type = "gate",
	.help = "release_file: stores complete once this file exists",
	.create = gate_create,
	.destroy = gate_destroy,
	.event_fd = gate_event_fd,
	.submit_store = gate_store,
	.submit_lookup = gate_lookup,
	.submit_load = gate_load,
	.unlock = gate_unlock,
	.remove = gate_remove,
	.status = gate_status,
};

int kvt_l2_plugin_register(struct kvt_l2_host *host);

int kvt_l2_plugin_register(struct kvt_l2_host *host)
{
	return host->add(host, &gate_ops);
}
