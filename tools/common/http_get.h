/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/http_get.h - one blocking HTTP/1.0 GET, enough to read a
 * Prometheus endpoint (kvtier's /metrics) from the tools and tests.
 *
 * Threads: any.
 */
#ifndef KVT_TOOLS_COMMON_HTTP_GET_H
#define KVT_TOOLS_COMMON_HTTP_GET_H

#include <stddef.h>

/*
 * http_get() - GET @url ("http://HOST:PORT[/PATH]", PATH default /metrics;
 * "HOST:PORT" alone is taken as http://), waiting at most @timeout_ms per
 * connect and read.
 * @body: receives the NUL-terminated body (free() it), @len its length.
 * Return: 0 on a 200 reply; -EINVAL for a bad URL, -EPROTO for a reply
 * that is not HTTP or not 200, -errno for a socket error; @err says which.
 */
int http_get(const char *url, int timeout_ms, char **body, size_t *len, char *err,
	     size_t errlen);

#endif
