/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/port.h - a free loopback TCP port for a server the tools and
 * tests start (kvtier-poold's metadata RPC).
 *
 * Threads: any.
 */
#ifndef KVT_TOOLS_COMMON_PORT_H
#define KVT_TOOLS_COMMON_PORT_H

/* A port the kernel just handed out on 127.0.0.1 and that is free again
 * (the server may lose it to another bind in between).  Return: the port,
 * or -1. */
int loopback_free_port(void);

#endif
