/* SPDX-License-Identifier: Apache-2.0 */
/* core/l2_builtins.c - see l2_builtins.h. */
#include "core/l2_builtins.h"

#include "core/fs_adapter.h"
#include "core/pool_adapter.h"
#include "core/resp_adapter.h"

const struct kvt_l2_ops *const l2_builtin_ops[] = {
	&fs_l2_ops,
	&resp_l2_ops,
	&pool_l2_ops,
	NULL,
};
