/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/l2_task.h - driving an L2 adapter's ops directly, as the
 * adapter tests do: deterministic chunk bytes, one task run to completion
 * with both completion paths (event fd and on_done) checked, bitmaps.
 */
#ifndef KVT_TESTS_L2_TASK_H
#define KVT_TESTS_L2_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvtier/l2.h"

/* An adapter of @ops made from @params[0..@n) (no namespace seed, no
 * host); a refusal fails the case with the adapter's message. */
struct kvt_l2_adapter *l2t_create(const struct kvt_l2_ops *ops, const struct kvt_l2_param *params,
				  size_t n);

/* @len bytes of chunk @id under @salt, and whether @buf holds exactly them. */
void l2t_fill(void *buf, size_t len, uint64_t id, unsigned int salt);
bool l2t_same(const void *buf, size_t len, uint64_t id, unsigned int salt);

/* An on_done that counts into the _Atomic int at t->arg. */
void l2t_count_done(struct kvt_l2_task *t);

/* Wait for @t on @op's event fd (bounded), then for its on_done (@calls
 * must reach exactly 1); fails the case otherwise. */
void l2t_wait(const struct kvt_l2_ops *ops, struct kvt_l2_adapter *a, enum kvt_l2_op op,
	      struct kvt_l2_task *t, _Atomic int *calls);

/* Run one task to completion; fills @bm (poisoned first: the adapter must
 * zero it) and @out_lens (may be NULL for LOOKUP).  Return: its bytes. */
int64_t l2t_run(const struct kvt_l2_ops *ops, struct kvt_l2_adapter *a, enum kvt_l2_op op,
		const struct kvt_key *keys, void *const *bufs, const size_t *lens, size_t n,
		uint64_t *bm, size_t *out_lens);

/* The number N of the word "@key=N" in @st's detail; a detail without it
 * fails the case. */
uint64_t l2t_detail_num(const struct kvt_l2_status *st, const char *key);

/* Set bits among the first @n of @bm. */
size_t l2t_popcount(const uint64_t *bm, size_t n);

#endif /* KVT_TESTS_L2_TASK_H */
