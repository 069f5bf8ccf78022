/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/diskwriter.h - the disk writer actor of the fs L2 adapter.
 *
 * One actor per adapter instance owns the adapter's io_uring, its open
 * directories, the size map (key -> bytes, oldest first, for capacity) and
 * the lookup lock counts.  Everything else posts messages.  Its handlers
 * block on its own io_uring and on file system calls (that is the actor's
 * job: engine threads never do) but never on another actor.
 */
#ifndef KVT_L2_FS_DISKWRITER_H
#define KVT_L2_FS_DISKWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <urcu/list.h>

#include "l2/l2_glue.h"
#include "kvtier/l2.h"

struct diskwriter;

struct dw_config {
	const char *base_path;     /* absolute */
	const char *tmp_dir;       /* relative to base_path, or NULL */
	uint64_t read_ahead;       /* bytes of read-ahead on buffered loads; 0: none */
	bool odirect;
	bool durable;              /* fsync file before publish, directory after */
	uint64_t capacity;         /* bytes; 0: unbounded, no eviction */
	unsigned int io_depth;     /* io_uring entries, a power of two */
	uint32_t fault_eio_ppm;    /* store/load I/Os per million failed with EIO */
	bool fault_odirect_einval; /* the first O_DIRECT I/O fails with EINVAL */
	/* a buffered piece the kernel copied into the caller's buffer slower
	 * than this sends the next pieces through a bounce buffer (dw_load.c);
	 * 0: never */
	double bounce_below_gbps;
	struct l2_glue *glue;      /* each finished task goes to l2_glue_complete() */
};

/* One STORE, LOOKUP or LOAD task, or one DELETE call (deleted: keys
 * unlinked), allocated by l2_glue with its arrays after this struct. */
struct dw_job {
	struct l2_job l2;          /* first: the glue allocates and frees it */
	/* the actor's bookkeeping of a task; the submitter leaves it zero */
	struct cds_list_head node; /* on the engine's job list */
	size_t next;               /* keys started */
	size_t left;               /* keys not finished */
	uint64_t moved;            /* payload bytes stored or loaded */
	size_t ok, failed;
	int first_err;             /* STORE: the first key's error */
};

/* What status() reports; each a snapshot, taken without blocking. */
struct dw_stats {
	bool healthy;
	bool odirect;
	uint64_t bytes_used;
	uint64_t capacity;
	uint64_t chunks;
	uint64_t errors;
	uint64_t odirect_fallbacks;
	uint64_t bounced_pieces;
	uint64_t corrupt_removed;
	uint64_t enospc_evictions;
	uint64_t evictions;
	uint64_t stores;
	uint64_t loads;
};

/*
 * diskwriter_create() - open (creating 0700 where missing) base_path and
 * tmp_dir, set up the io_uring, scan the shards when a capacity is set, and
 * start the actor.
 * @err: receives a message naming the path and the reason.
 * Threads: any.  Blocks: yes (mkdir, the scan).  Allocates: the state.
 * Return: 0, or a negative errno with nothing left behind.
 */
int diskwriter_create(const struct dw_config *cfg, struct diskwriter **out, char *err,
		      size_t errlen);

/*
 * diskwriter_destroy() - handle every job posted so far, stop the actor,
 * close everything and free.  No post may start once this has begun.
 * Threads: any but the actor's.  Blocks: until the last job is done.
 */
void diskwriter_destroy(struct diskwriter *dw);

/*
 * diskwriter_submit() - queue a STORE, LOOKUP or LOAD @job; it completes
 * through l2_glue_complete() exactly once.
 * Threads: any.  Blocks: at most the mailbox wait when it is full.
 * Return: 0, or -ETIMEDOUT (not queued; the caller still owns @job).
 */
int diskwriter_submit(struct diskwriter *dw, struct dw_job *job);

/*
 * diskwriter_delete() - run a DELETE @job and wait for it.
 * Threads: any but the actor's.  Blocks: until done.
 * Return: 0 (results in @job), or -ETIMEDOUT (not queued).
 */
int diskwriter_delete(struct diskwriter *dw, struct dw_job *job);

/*
 * diskwriter_unlock() - drop one lookup lock of @key.  Allocates nothing.
 * Threads: any.  Blocks: while the mailbox stays full (it never fails).
 */
void diskwriter_unlock(struct diskwriter *dw, const struct kvt_key *key);

/* Threads: any.  Blocks: never. */
void diskwriter_stats(struct diskwriter *dw, struct dw_stats *out);

#endif /* KVT_L2_FS_DISKWRITER_H */
