/* SPDX-License-Identifier: Apache-2.0 */
/* tests/plugins/init_fails.c - a plugin that registers a type, then fails
 * its own init: the registry must take the type back out and unload it. */
#include <errno.h>

#include "tests/plugins/stub_ops.h"
#include "kvtier/l2.h"

static const struct kvt_l2_ops half_ops = STUB_OPS("half_initialised", "never usable");

int kvt_l2_plugin_register(struct kvt_l2_host *host);

int kvt_l2_plugin_register(struct kvt_l2_host *host)
{
	int ret = host->add(host, &half_ops);

	return ret ? ret : -EIO;
}
