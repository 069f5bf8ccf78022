/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/pool_floor.h - the transport floor of `kvtier-bench
 * pool`: a ZeroMQ ROUTER that answers every Maru request at once with a
 * reply of a set size and does nothing else.  Driven by the same clients
 * with the same messages, it measures what ZeroMQ and the kernel alone cost
 * on this machine, the limit any server speaking Maru's protocol here is
 * held to.
 *
 * Threads: start/stop/set_reply_len on the bench's main thread; the floor
 * server runs on a thread (and ZeroMQ context) of its own, like a daemon's
 * front end with its I/O thread.
 */
#ifndef KVT_TOOLS_BENCH_POOL_FLOOR_H
#define KVT_TOOLS_BENCH_POOL_FLOOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool_floor;

/* Binds to a free loopback TCP port (@ipc: a fresh ipc:// path, as the
 * server it bounds is reached) and starts answering.  Return: the server
 * with @addr set, or NULL after printing why. */
struct pool_floor *pool_floor_start(char *addr, size_t addrlen, bool ipc);

/* Payload bytes of the replies to come; called between phases, while no
 * client is sending (the gate that starts a phase orders it). */
void pool_floor_set_reply_len(struct pool_floor *f, uint32_t len);

/* Stops the thread and frees the server. */
void pool_floor_stop(struct pool_floor *f);

#endif
