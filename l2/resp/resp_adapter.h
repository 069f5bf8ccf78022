/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/resp_adapter.h - the "resp" L2 adapter: chunks in Redis, Valkey or a
 * Redis Cluster, through hiredis, driven by its I/O actor
 * (l2/resp/respio.h).  One key per chunk, its value the fs chunk format
 * (l2/resp/resp_value.h), so a truncated, foreign or corrupted value is a
 * miss.  JSON members: see l2/resp/resp_conf.h (url, cluster, username,
 * password, timeout_ms, max_inflight, ttl_s, max_value_bytes, prefix,
 * hash_tag, delete_corrupt).
 *
 * Semantics against the kvt_l2_ops contract:
 * - store is SET key value NX [EX ttl_s]: a key already stored counts as
 *   stored and is not rewritten (NX), so concurrent writers of one key
 *   leave the first complete value, and Redis makes each SET atomic (no
 *   reader ever sees half a value).  A SET the server refuses (OOM under
 *   maxmemory noeviction, READONLY replica, NOAUTH) is a cleared bit,
 *   counted in errors and in the detail's refused.
 * - lookup is STRLEN per key: lens[i] is the value's length less the
 *   header.  Redis has no locks: a hit takes a local lock count that only
 *   makes this adapter's remove() answer -EBUSY.  Another client, ttl_s or
 *   maxmemory eviction may still delete the key; the load is then a miss.
 * - load is GET per key, the header and XXH3 checked before the payload is
 *   copied into the caller's buffer; a corrupt value is deleted
 *   (delete_corrupt) so a later store can rewrite it.
 * - a batch is pipelined: one round trip per node per max_inflight keys.
 * - is_healthy is false while the server (in cluster mode: any master that
 *   serves slots) does not answer; keys routed to it fail at once while it
 *   backs off (100 ms doubling to 5 s), then it is reconnected.
 */
#ifndef KVT_L2_RESP_RESP_ADAPTER_H
#define KVT_L2_RESP_RESP_ADAPTER_H

#include "kvtier/l2.h"

/* The ops of type "resp", ABI KVT_L2_ABI_VERSION; see struct kvt_l2_ops for
 * the contract of each.  on_done runs on the adapter's I/O actor thread; it
 * may submit more tasks (never destroy the adapter). */
extern const struct kvt_l2_ops resp_l2_ops;

#endif /* KVT_L2_RESP_RESP_ADAPTER_H */
