/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/rm_tcp.h - Maru's resource manager over TCP (see rm_tcp.c), run by
 * the resource-manager actor of rm.c: every function below runs on it.
 */
#ifndef KVT_POOLD_RM_TCP_H
#define KVT_POOLD_RM_TCP_H

#include <poll.h>

#include "poold/pool.h"

#define RM_TCP_MAX_CONNS 256

struct rm_tcp;

/* Listens on opts.rm_tcp (HOST:PORT); @err says why not. */
int rm_tcp_open(struct pool *p, struct rm_tcp **out, char *err, size_t errlen);
void rm_tcp_close(struct rm_tcp *t);
/* Fills @pfd (room for 1 + RM_TCP_MAX_CONNS) with the listener and every
 * connection; returns how many. */
int rm_tcp_pollfds(struct rm_tcp *t, struct pollfd *pfd);
/* After poll(): reads, answers and accepts what @pfd (from rm_tcp_pollfds,
 * @n entries) reports ready. */
void rm_tcp_service(struct rm_tcp *t, const struct pollfd *pfd, int n);

#endif /* KVT_POOLD_RM_TCP_H */
