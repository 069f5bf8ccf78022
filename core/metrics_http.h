/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/metrics_http.h - the Prometheus /metrics endpoint (libmicrohttpd)
 * the engine (metrics.listen) and kvtier-poold (--metrics) serve.
 *
 * The server runs on one thread of its own, libmicrohttpd's polling thread
 * (an actor of core/actor.c sleeps on a futex, this one on its sockets),
 * and serves one request at a time: a scrape renders the text through the
 * owner's callback on that thread, so the callback must be safe to run
 * concurrently with every other thread of the owner.
 */
#ifndef KVT_CORE_METRICS_HTTP_H
#define KVT_CORE_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/prom_text.h"

struct metrics_http;

/* Appends the whole exposition to @t.  Runs on the server's thread. */
typedef void (*metrics_render_fn)(void *arg, struct prom_text *t);

/*
 * metrics_addr_parse() - "HOST:PORT": HOST an IPv4 literal, "[IPv6]",
 * "localhost" or "*" (every IPv4 address); PORT 0..65535 (0: any free one).
 * @ss, @len receive the address (may be NULL: only check).
 * Return: 0, or -EINVAL with @err saying what is wrong (not naming @addr).
 */
int metrics_addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len,
		       char *err, size_t errlen);

/*
 * metrics_http_start() - bind @addr, listen, and serve GET /metrics from a
 * new thread, rendering with @fn(@arg).
 * Threads: any.  Blocks: binding.  Allocates: the server.
 * Return: 0 and *@out, or a negative code with @err naming @addr.
 */
int metrics_http_start(const char *addr, metrics_render_fn fn, void *arg,
		       struct metrics_http **out, char *err, size_t errlen);

/* metrics_http_port() - the TCP port it listens on (resolves port 0). */
int metrics_http_port(const struct metrics_http *m);

/* metrics_http_stop() - stop serving, join the thread, close the socket
 * and free @m (NULL: nothing).  No render runs once it returns. */
void metrics_http_stop(struct metrics_http *m);

#endif /* KVT_CORE_METRICS_HTTP_H */
