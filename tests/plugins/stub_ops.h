/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/plugins/stub_ops.h - an ops table whose every function refuses:
 * for test plugins that must register a complete table and then fail or
 * collide.
 */
#ifndef KVT_TESTS_PLUGINS_STUB_OPS_H
#define KVT_TESTS_PLUGINS_STUB_OPS_H

#include <stddef.h>

#include "kvtier/l2.h"

static inline int stub_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		      struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	return -1;
}

static inline void stub_destroy(struct kvt_l2_adapter *a)
{
}

static inline int stub_event_fd(struct kvt_l2_adapter *a, enum kvt_l2_op op)
{
	return -1;
}

static inline int stub_store(struct kvt_l2_adapter *a, const struct kvt_key *keys,
		     const void *const *bufs, const size_t *lens, size_t n,
		     struct kvt_l2_task *task)
{
	return -1;
}

static inline int stub_lookup(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
		      struct kvt_l2_task *task)
{
	return -1;
}

static inline int stub_load(struct kvt_l2_adapter *a, const struct kvt_key *keys, void *const *bufs,
		    const size_t *buf_lens, size_t n, struct kvt_l2_task *task)
{
	return -1;
}

static inline void stub_unlock(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n)
{
}

static inline ssize_t stub_remove(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			  int *results)
{
	return -1;
}

static inline int stub_status(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	return 0;
}

#define STUB_OPS(name, helptext)                      \
	{                                              \
		.abi_version = KVT_L2_ABI_VERSION,     \
		.type = name,                          \
		.help = helptext,                      \
		.create = stub_create,                 \
		.destroy = stub_destroy,               \
		.event_fd = stub_event_fd,             \
		.submit_store = stub_store,            \
		.submit_lookup = stub_lookup,          \
		.submit_load = stub_load,              \
		.unlock = stub_unlock,                 \
		.remove = stub_remove,                 \
		.status = stub_status,                 \
	}

#endif /* KVT_TESTS_PLUGINS_STUB_OPS_H */
