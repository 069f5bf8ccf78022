/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/pool_knobs.h - the pool tier's top-level config keys.
 */
#ifndef KVT_L2_POOL_POOL_KNOBS_H
#define KVT_L2_POOL_POOL_KNOBS_H

#include <stddef.h>

#include "core/config.h"
#include "core/l2_conf.h"
#include "kvtier/l2.h"

/*
 * pool_conf_from_knobs() - the pool knobs (pool.*, LMCache's maru_path and
 * maru_pool_size) fill in what the first "pool" adapter of l2_adapters
 * leaves out, or, with a server given and no pool adapter, add one after
 * the others: so an LMCache config with maru_path gets its pool tier
 * unchanged.  Return: 0, or a negative errno with @err set.
 */
int pool_conf_from_knobs(const struct kvt_config *cfg, struct l2_conf_list *l, char *err,
			 size_t errlen);

#endif /* KVT_L2_POOL_POOL_KNOBS_H */
