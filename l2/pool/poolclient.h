/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/poolclient.h - the actor of the "pool" L2 adapter: the client side
 * of kvtier-poold (Maru's metadata RPC and resource manager, reference
 * maru.md section 2).
 *
 * One actor per adapter instance owns the ZeroMQ DEALER socket to the
 * daemon, the regions this instance owns (mapped MAP_SHARED, carved into
 * pages by l2/pool/pool_pages.h), the mappings of other instances' regions,
 * and the pending unpins.  Everything else posts messages.  Its handlers
 * block on its own sockets only, each RPC bounded by timeout_ms (engine
 * threads never do), never on another actor.
 */
#ifndef KVT_L2_POOL_POOLCLIENT_H
#define KVT_L2_POOL_POOLCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "l2/l2_glue.h"
#include "kvtier/l2.h"

/* The adapter's JSON members, parsed by l2/pool/pool_adapter.c. */
struct poolc_conf {
	char server[256];        /* ZeroMQ endpoint of the metadata RPC */
	char rm[108];            /* the resource manager's Unix socket */
	char instance_id[128];   /* unique per adapter instance */
	uint64_t size_bytes;     /* first region */
	uint64_t expand_bytes;   /* each further region */
	bool auto_expand;
	uint32_t timeout_ms;     /* per RPC and per RM request */
	uint32_t heartbeat_ms;   /* keeps the daemon's client lease alive */
	uint64_t max_chunk;      /* largest payload stored */
	uint64_t page_bytes;     /* FSCHUNK_HDR + max_chunk, rounded up to 4 KiB */
	bool shared_index;       /* read the daemon's shared index (no RPC per lookup) */
	bool coherent;           /* false: flush each index line before reading it */
};

struct poolclient;

/* What status() reports: snapshots, read without blocking. */
struct pc_stats {
	bool healthy;
	uint64_t regions, foreign_maps;
	uint64_t pages_total, pages_used;
	uint64_t round_trips, rpc_errors, rm_errors;
	uint64_t errors;           /* keys failed (I/O, timeouts, refusals, no page) */
	uint64_t lost_races;       /* registers another instance won first */
	uint64_t unknown;          /* pages kept because a register's outcome stayed unknown */
	uint64_t corrupt;          /* loads whose header or checksum failed */
	uint64_t stores, loads, expansions, pins, unpins;
	uint64_t foreign_loads;    /* of the loads, from other instances' regions */
	uint64_t reclaimed;        /* pages freed that no entry pointed to any more (another
				    * instance deleted the key) */
	uint64_t renewals;         /* connections and regions the daemon dropped, renewed */
	uint64_t bytes_used;
	uint64_t capacity_bytes;
	bool shared_index;         /* the daemon's shared index is mapped */
	uint64_t index_answers;    /* keys the shared index answered without an RPC */
	uint64_t index_fallbacks;  /* jobs it could not answer whole: they used the RPC */
};

/*
 * poolclient_create() - connect to the daemon, HANDSHAKE, allocate the
 * first region (REQUEST_ALLOC over the RPC, its fd with GET_FD over the
 * resource manager, mmap MAP_SHARED) and start the actor.
 * @glue: the adapter's; each finished task goes to l2_glue_complete().
 * @err: receives a message naming the server or socket and what failed.
 * Threads: any.  Blocks: a few RPCs, each at most timeout_ms.  Allocates.
 * Return: 0, or a negative errno with nothing left (-ETIMEDOUT: no answer).
 */
int poolclient_create(const struct poolc_conf *conf, struct l2_glue *glue,
		      struct poolclient **out, char *err, size_t errlen);

/*
 * poolclient_destroy() - handle every job posted so far, stop the actor,
 * drop the pins still held, return the owned regions (the daemon frees
 * them once no key points into them), unmap everything and close.  No
 * post may start once this has begun.
 * Threads: any but the actor's.  Blocks: a few RPCs, each bounded.
 */
void poolclient_destroy(struct poolclient *pc);

/* Queue a STORE, LOOKUP or LOAD @job; it completes through
 * l2_glue_complete() exactly once.  Threads: any.  Blocks: at most the mailbox wait.
 * Return: 0, or -ETIMEDOUT (not queued; the caller still owns @job). */
int poolclient_submit(struct poolclient *pc, struct l2_job *job);

/* Run a DELETE @job and wait for it.  Threads: any but the actor's.
 * Return: 0 (results in @job) or -ETIMEDOUT. */
int poolclient_delete(struct poolclient *pc, struct l2_job *job);

/* Drop one lookup pin of @key (batched with the next RPC or in idle).
 * Threads: any.  Blocks: while the mailbox stays full (it never fails). */
void poolclient_unlock(struct poolclient *pc, const struct kvt_key *key);

/* Threads: any.  Blocks: never. */
void poolclient_stats(struct poolclient *pc, struct pc_stats *out);

#endif /* KVT_L2_POOL_POOLCLIENT_H */
