/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/pool_adapter.h - the "pool" L2 adapter: chunks in a shared CXL pool
 * run by kvtier-poold (or any daemon speaking Maru's protocol, reference
 * maru.md section 2), through its client actor (l2/pool/poolclient.h).
 * Each chunk takes one page of a region this instance owns: the fschunk
 * header (l2/fschunk.h) then the payload, so a torn, foreign or
 * corrupted value is a miss.  Other instances read the same bytes in place
 * (zero copy: they map the owner's region, read-only).
 *
 * JSON members:
 *   server          ZeroMQ endpoint of the metadata RPC (default tcp://127.0.0.1:5555)
 *   rm              the resource manager's Unix socket (default /run/kvtier-poold.sock)
 *   size_gb         size of the first region (default 0.1)
 *   auto_expand     take another region when every page is used (default true)
 *   expand_size_mb  size of each further region (default: size_gb's)
 *   timeout_ms      bound of each RPC and resource-manager request (default 2000)
 *   heartbeat_ms    idle HEARTBEAT period, below the daemon's client lease (default 1000)
 *   max_chunk_bytes largest payload (default: the instance's chunk size)
 *   instance_id     Maru's instance id (default kvtier-<host>-<pid>-<n>)
 *
 * Semantics against the kvt_l2_ops contract:
 * - store: BATCH_EXISTS, a page per new key, header and payload copied in,
 *   one BATCH_REGISTER.  First writer wins: a key registered by another
 *   instance counts as stored and its page is freed.  A register whose
 *   answer never came is settled by a lookup; no page the daemon may point
 *   to is ever reused.  When too few pages are free, those whose key is no
 *   longer registered there (another instance deleted it) are reclaimed
 *   first.  A register refused in our own region means the daemon dropped
 *   this client (its lease ran out): the regions are given up (their keys
 *   stay readable) and a fresh one replaces them for the next store.
 * - lookup: BATCH_LOOKUP then BATCH_PIN of the hits; the daemon's pins are
 *   the locks (owned by this connection, TTL'd by the daemon, released
 *   when this process dies); lens[i] is the value's length less the header.
 * - load: BATCH_LOOKUP, the owner's region mapped on first use (GET_FD),
 *   header and checksum verified on the copied bytes.
 * - remove: DELETE_KV per key: 0 DELETED, -EBUSY PINNED, -ENOENT NOT_FOUND;
 *   a deleted key in one of our pages frees the page (one of another
 *   instance's is reclaimed by it).
 * - is_healthy is false while the daemon does not answer; requests then
 *   fail at once (no connection) or after timeout_ms (a stalled daemon).
 */
#ifndef KVT_L2_POOL_POOL_ADAPTER_H
#define KVT_L2_POOL_POOL_ADAPTER_H

#include "kvtier/l2.h"

/* The ops of type "pool", ABI KVT_L2_ABI_VERSION; see struct kvt_l2_ops for
 * the contract of each.  on_done runs on the adapter's client actor thread;
 * it may submit more tasks (never destroy the adapter). */
extern const struct kvt_l2_ops pool_l2_ops;

/* pool_conf_check() - every member of @cfg checked as create parses it, for
 * chunks of @chunk_bytes, reaching no daemon.  Return: 0, or -EINVAL with
 * @err naming the key and value. */
int pool_conf_check(const struct kvt_l2_config *cfg, size_t chunk_bytes, char *err,
		    size_t errlen);

#endif /* KVT_L2_POOL_POOL_ADAPTER_H */
