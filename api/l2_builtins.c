/* SPDX-License-Identifier: Apache-2.0 */
/* api/l2_builtins.c - see l2_builtins.h. */
#include "api/l2_builtins.h"

#include "l2/fs/fs_adapter.h"
#include "l2/pool/pool_adapter.h"
#include "l2/resp/resp_adapter.h"
#include "kvtier/l2.h"

const struct kvt_l2_ops *const l2_builtin_ops[] = {
	&fs_l2_ops,
	&resp_l2_ops,
	&pool_l2_ops,
	NULL,
};
