/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/poold.h - the daemon's two front-end actors.
 *
 *	rpc.c  Maru's metadata RPC on a ZeroMQ ROUTER socket (tcp:// and ipc://)
 *	rm.c   Maru's resource-manager protocol on a Unix socket (fd passing),
 *	       and with --rm-tcp over TCP too (rm_tcp.c: path-based access)
 *
 * Each front end is an actor whose idle callback polls its sockets for at
 * most POLL_MS, so a STOP message is seen within that time.
 */
#ifndef KVT_POOLD_POOLD_H
#define KVT_POOLD_POOLD_H

#include "poold/pool.h"

#define POOLD_POLL_MS 50

struct rpc_fe;
struct rm_fe;

/* Bind every opts.rpc_addr; @err names the endpoint on failure. */
int rpc_fe_create(struct pool *p, struct rpc_fe **out, char *err, size_t errlen);
void rpc_fe_destroy(struct rpc_fe *fe);
extern const struct actor_ops rpc_fe_ops;

int rm_fe_create(struct pool *p, struct rm_fe **out, char *err, size_t errlen);
void rm_fe_destroy(struct rm_fe *fe);
extern const struct actor_ops rm_fe_ops;

/* The actor each front end runs on (for ACTOR_ASSERT_SELF and stop). */
struct actor *rpc_fe_actor(struct rpc_fe *fe);
struct actor *rm_fe_actor(struct rm_fe *fe);

#endif /* KVT_POOLD_POOLD_H */
