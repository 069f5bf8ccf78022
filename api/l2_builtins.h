/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/l2_builtins.h - the adapter types compiled into libkvtier; every
 * registry starts with them.
 */
#ifndef KVT_API_L2_BUILTINS_H
#define KVT_API_L2_BUILTINS_H

#include "kvtier/l2.h"

/* NULL-terminated. */
extern const struct kvt_l2_ops *const l2_builtin_ops[];

#endif /* KVT_API_L2_BUILTINS_H */
