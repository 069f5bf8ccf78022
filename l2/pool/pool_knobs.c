/* SPDX-License-Identifier: Apache-2.0 */
/* l2/pool/pool_knobs.c - see pool_knobs.h. */
#include "l2/pool/pool_knobs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int pool_conf_from_knobs(const struct kvt_config *cfg, struct l2_conf_list *l, char *err,
			 size_t errlen)
{
	char server[CONFIG_STR_MAX + 8], num[32];
	int i = -1, ret = 0;

	server[0] = '\0';
	if (cfg->pool_server[0]) {
		snprintf(server, sizeof(server), "%s", cfg->pool_server);
	} else if (cfg->maru_path[0]) {
		if (strncmp(cfg->maru_path, "maru://", 7)) {
			snprintf(err, errlen, "maru_path: \"%s\": must be maru://host:port",
				 cfg->maru_path);
			return -EINVAL;
		}
		snprintf(server, sizeof(server), "tcp://%s", cfg->maru_path + 7);
	}
	for (size_t a = 0; a < l->n && i < 0; a++)
		if (!strcmp(l->cfg[a].type, "pool"))
			i = (int)a;
	if (i < 0 && !server[0])
		return 0;
	if (i < 0)
		i = l2_conf_add(l, "pool");
	if (i < 0) {
		snprintf(err, errlen, "pool.server: no room for a pool adapter beside %zu others",
			 l->n);
		return i;
	}
	if (server[0])
		ret = l2_conf_default(l, (size_t)i, "server", server);
	if (!ret && cfg->pool_rm[0])
		ret = l2_conf_default(l, (size_t)i, "rm", cfg->pool_rm);
	if (!ret && cfg->pool_size_gb > 0) {
		snprintf(num, sizeof(num), "%.17g", cfg->pool_size_gb);
		ret = l2_conf_default(l, (size_t)i, "size_gb", num);
	}
	if (!ret && !cfg->pool_auto_expand)
		ret = l2_conf_default(l, (size_t)i, "auto_expand", "false");
	if (!ret && cfg->pool_expand_size) {
		snprintf(num, sizeof(num), "%u", cfg->pool_expand_size);
		ret = l2_conf_default(l, (size_t)i, "expand_size_mb", num);
	}
	if (ret)
		snprintf(err, errlen, "pool: cannot add the pool.* settings: %s", kvt_strerror(ret));
	return ret;
}

