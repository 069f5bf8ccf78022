/* SPDX-License-Identifier: Apache-2.0 */
/* tests/plugins/zz_dup_mem.c - a second plugin claiming type "mem" (sorted
 * after kvt_l2_mem.so, so it loads second): refused as a duplicate, and
 * the first "mem" stays. */
#include "tests/plugins/stub_ops.h"
#include "kvtier/l2.h"

static const struct kvt_l2_ops dup_ops = STUB_OPS("mem", "the duplicate");

int kvt_l2_plugin_register(struct kvt_l2_host *host);

int kvt_l2_plugin_register(struct kvt_l2_host *host)
{
	return host->add(host, &dup_ops);
}
