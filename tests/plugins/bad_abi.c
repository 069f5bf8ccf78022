/* SPDX-License-Identifier: Apache-2.0 */
/* tests/plugins/bad_abi.c - a plugin built against another L2 ABI version:
 * the registry must refuse its type and name the versions. */
#include <stddef.h>

#include "kvtier/l2.h"

static const struct kvt_l2_ops future_ops = {
	.abi_version = KVT_L2_ABI_VERSION + 41,
	.type = "future",
};

int kvt_l2_plugin_register(struct kvt_l2_host *host);

int kvt_l2_plugin_register(struct kvt_l2_host *host)
{
	return host->add(host, &future_ops);
}
