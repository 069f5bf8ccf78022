/* SPDX-License-Identifier: Apache-2.0 */
/* tests/common/l2_task.c - see l2_task.h. */
#include "tests/common/l2_task.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/harness.h"
#include "kvtier/l2.h"

struct kvt_l2_adapter *l2t_create(const struct kvt_l2_ops *ops, const struct kvt_l2_param *params,
				  size_t n)
{
	struct kvt_l2_config cfg = { .type = ops->type, .params = params, .nparams = n,
				     .json = "{}" };
	struct kvt_l2_adapter *a = NULL;
	char err[512] = "";
	int ret = ops->create(&cfg, NULL, &a, err, sizeof(err));

	if (ret)
		harness_fail(__FILE__, __LINE__, "create %s: %d %s", ops->type, ret, err);
	return a;
}

void l2t_fill(void *buf, size_t len, uint64_t id, unsigned int salt)
{
	uint8_t *p = buf;
	uint64_t x = id * 0x9E3779B97F4A7C15ull + salt * 0xBF58476D1CE4E5B9ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

bool l2t_same(const void *buf, size_t len, uint64_t id, unsigned int salt)
{
	uint8_t *want = malloc(len ? len : 1);
	bool ok;

	l2t_fill(want, len, id, salt);
	ok = !memcmp(want, buf, len);
	free(want);
	return ok;
}

void l2t_count_done(struct kvt_l2_task *t)
{
	atomic_fetch_add((_Atomic int *)t->arg, 1);
}

void l2t_wait(const struct kvt_l2_ops *ops, struct kvt_l2_adapter *a, enum kvt_l2_op op,
	      struct kvt_l2_task *t, _Atomic int *calls)
{
	struct pollfd pfd = { .fd = ops->event_fd(a, op), .events = POLLIN };
	bool signalled = false;

	for (int i = 0; i < 1200 && !kvt_l2_task_done(t); i++) {
		uint64_t v;

		if (poll(&pfd, 1, 100) == 1 && read(pfd.fd, &v, sizeof(v)) == sizeof(v))
			signalled = true;
	}
	CHECK(kvt_l2_task_done(t));
	for (int i = 0; i < 100 && !signalled; i++) {
		uint64_t v;

		if (poll(&pfd, 1, 100) == 1 && read(pfd.fd, &v, sizeof(v)) == sizeof(v))
			signalled = true;
	}
	CHECK(signalled);
	for (int i = 0; i < 3000 && atomic_load(calls) == 0; i++)
		usleep(1000);
	CHECK_EQ(atomic_load(calls), 1);
}

int64_t l2t_run(const struct kvt_l2_ops *ops, struct kvt_l2_adapter *a, enum kvt_l2_op op,
		const struct kvt_key *keys, void *const *bufs, const size_t *lens, size_t n,
		uint64_t *bm, size_t *out_lens)
{
	_Atomic int calls = 0;
	struct kvt_l2_task t = { .on_done = l2t_count_done, .arg = &calls, .bitmap = bm,
				 .lens = out_lens };
	int ret;

	memset(bm, 0xff, (n + 63) / 64 * 8);
	if (out_lens)
		memset(out_lens, 0xff, n * sizeof(*out_lens));
	if (op == KVT_L2_STORE)
		ret = ops->submit_store(a, keys, (const void *const *)bufs, lens, n, &t);
	else if (op == KVT_L2_LOOKUP)
		ret = ops->submit_lookup(a, keys, n, &t);
	else
		ret = ops->submit_load(a, keys, bufs, lens, n, &t);
	CHECK_EQ(ret, 0);
	l2t_wait(ops, a, op, &t, &calls);
	return t.bytes;
}

size_t l2t_popcount(const uint64_t *bm, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += kvt_l2_bit(bm, i);
	return c;
}

uint64_t l2t_detail_num(const struct kvt_l2_status *st, const char *key)
{
	size_t klen = strlen(key);
	const char *p = st->detail;

	/* whole words only: "evictions" must not match "enospc_evictions" */
	while (p && (strncmp(p, key, klen) || p[klen] != '=')) {
		p = strchr(p, ' ');
		p = p ? p + 1 : NULL;
	}
	if (!p)
		harness_fail(__FILE__, __LINE__, "no %s in \"%s\"", key, st->detail);
	return strtoull(p + klen + 1, NULL, 10);
}
