/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/respio.h - the I/O actor of the "resp" L2 adapter.
 *
 * One actor per adapter instance owns every hiredis connection (one per
 * node: the server, or each cluster master), the cluster slot map, the
 * reconnect backoff and the lookup lock counts.  Everything else posts
 * messages.  Its handlers block on its own sockets, each read and write
 * bounded by timeout_ms (that is the actor's job: engine threads never do),
 * never on another actor.
 */
#ifndef KVT_L2_RESP_RESPIO_H
#define KVT_L2_RESP_RESPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "l2/l2_glue.h"
#include "l2/resp/resp_conf.h"
#include "kvtier/l2.h"

struct respio;

/* What status() reports: snapshots, read without blocking. */
struct rio_stats {
	bool healthy;
	uint64_t nodes, nodes_up;
	uint64_t round_trips;      /* pipelines sent and answered (one per node per window) */
	uint64_t bytes_out, bytes_in;
	uint64_t redirections;     /* MOVED and ASK replies followed */
	uint64_t map_refreshes;    /* CLUSTER SLOTS reloads */
	uint64_t errors;           /* keys failed on I/O, timeouts or server errors */
	uint64_t refused;          /* stores the server refused (OOM, READONLY, NOAUTH, ...) */
	uint64_t reconnects;       /* connections made again after one was lost */
	uint64_t corrupt;          /* values that failed their checks on load */
	uint64_t corrupt_removed;  /* of those, deleted */
	uint64_t stores, loads;    /* chunks written, chunks loaded */
	uint64_t locked;           /* keys holding lookup locks */
	char last_error[160];
};

/*
 * respio_create() - connect to the server (the seed node and, with
 * cluster, read its slot map) and start the actor.  A server that does not
 * answer is no error (the actor keeps reconnecting with backoff; status is
 * unhealthy meanwhile); one that answers and refuses is: a failed AUTH or
 * SELECT, cluster mode against a server without it.
 * @glue: the adapter's; each finished task goes to l2_glue_complete().
 * @err: receives a message naming the server and its answer.
 * Threads: any.  Blocks: up to timeout_ms per connection.  Allocates.
 * Return: 0, or a negative errno (-EACCES for AUTH) with nothing left.
 */
int respio_create(const struct resp_conf *conf, struct l2_glue *glue, struct respio **out,
		  char *err, size_t errlen);

/*
 * respio_destroy() - handle every job posted so far, stop the actor, close
 * the connections and free.  No post may start once this has begun.
 * Threads: any but the actor's.  Blocks: until the last job is done.
 */
void respio_destroy(struct respio *rio);

/* respio_submit() - queue a STORE, LOOKUP or LOAD @job; it completes through
 * l2_glue_complete() exactly once.  Threads: any.  Blocks: at most the mailbox wait.
 * Return: 0, or -ETIMEDOUT (not queued; the caller still owns @job). */
int respio_submit(struct respio *rio, struct l2_job *job);

/* respio_delete() - run a DELETE @job and wait for it.
 * Threads: any but the actor's.  Return: 0 (results in @job) or -ETIMEDOUT. */
int respio_delete(struct respio *rio, struct l2_job *job);

/* respio_unlock() - drop one lookup lock of @key.  Allocates nothing.
 * Threads: any.  Blocks: while the mailbox stays full (it never fails). */
void respio_unlock(struct respio *rio, const struct kvt_key *key);

/* Threads: any.  Blocks: never. */
void respio_stats(struct respio *rio, struct rio_stats *out);

#endif /* KVT_L2_RESP_RESPIO_H */
