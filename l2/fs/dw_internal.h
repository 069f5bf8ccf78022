/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/dw_internal.h - the disk writer actor's state, shared by its
 * files and by no one else:
 *
 *   diskwriter.c   the actor: create/destroy, mailbox handlers, directories,
 *                  stats
 *   dw_engine.c    the ring engine: slots, admission of jobs' keys, SQEs,
 *                  CQEs, the CPU queue, job completion
 *   dw_store.c     a key's store: statx, hash, temp file, one write, publish
 *   dw_load.c      a key's load (O_DIRECT: one read, then verify; buffered:
 *                  piece by piece, each hashed as it comes in) and lookup
 *   dw_capacity.c  the size map's upkeep: scan at create, eviction
 *
 * Everything here is owned by the actor thread (untagged) except the
 * counters marked [atomic].
 */
#ifndef KVT_L2_FS_DW_INTERNAL_H
#define KVT_L2_FS_DW_INTERNAL_H

#include <fcntl.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <urcu/list.h>

#include "core/actor.h"
#include "core/hash.h"
#include "l2/fs/diskwriter.h"
#include "l2/fs/fs_sizemap.h"
#include "l2/fschunk.h"
#include "kvtier/l2.h"

#define DW_BLK FSCHUNK_ALIGN
/* A buffered load reads its payload in pieces of DW_PIECE bytes, each
 * hashed while the kernel's copy has left it in cache, so a piece must fit
 * in a core's L2 (1 MiB here) with room to spare: see dw_load.c. */
#define DW_PIECE (256u * 1024)
/* Pieces read through the bounce buffer after a slow direct one, before a
 * direct piece probes the caller's buffers again (see dw_load.c); each
 * probe that is slow again doubles the next run, up to the MAX. */
#define DW_BOUNCE_RUN 128u
#define DW_BOUNCE_RUN_MAX 8192u
/* Tasks of at most this many keys statx their names on the actor's thread
 * when the kernel holds the paths; larger ones go through the ring, whose
 * io-wq workers run them on every core (see dw_statx()). */
#define DW_STATX_INLINE_MAX 128u

/* What a slot's one outstanding ring operation is. */
enum dw_io_kind { DW_IO_NONE, DW_IO_STATX, DW_IO_READ, DW_IO_WRITE, DW_IO_FSYNC };

/*
 * One key being worked on (64-byte aligned, for its hash state).  A slot
 * has at most one ring operation in
 * flight (so the ring, sized to the slots, never runs out of entries) or
 * sits on the CPU queue, or is being stepped by the actor.  Its path
 * (dw_store_step(), dw_load_step(), dw_lookup_step()) moves it from stage
 * to stage and ends with dw_slot_finish().
 */
struct dw_slot {
	struct dw_job *job;
	size_t i;                   /* the key's index in job */
	int stage;                  /* the path's own stage enum */
	enum dw_io_kind io;         /* in flight, or DW_IO_NONE */
	char name[FSCHUNK_NAME_LEN + 1];
	char tmpname[64];           /* a named temp, when O_TMPFILE is unsupported */
	int sfd;                    /* shard dir, borrowed from the cache */
	int fd;
	int sync_fd;                /* the fd of an fsync in flight */
	bool direct;                /* fd is O_DIRECT */
	bool named;                 /* fd is a named temp */
	bool published;
	bool retried;               /* store: already retried after ENOSPC */
	bool lost_race;             /* store: publish found the name taken */
	bool hdr_ok;                /* load: info holds a checked header */
	uint8_t *hdr;               /* DW_BLK-aligned bounce blocks of this slot */
	uint8_t *tail;
	struct iovec iov[3];        /* the read or write: header, payload, tail */
	unsigned int iov_first;     /* iov[iov_first..niov) still to move */
	unsigned int niov;
	size_t want;                /* bytes the iovecs held at the start */
	size_t done;                /* bytes moved so far, from offset 0 */
	size_t aligned;             /* payload bytes moved direct from/to the caller */
	/* a buffered load: the piece being read goes to the caller's buffer
	 * at @off */
	size_t off;                 /* payload bytes read and hashed */
	size_t piece;               /* bytes of the piece being read */
	uint8_t *bounce;            /* the piece goes here, not to the caller's buffer */
	uint64_t piece_t0;          /* a direct piece: when its read was submitted */
	struct hash64_state hs;     /* of the payload's first @off bytes */
	struct fschunk_info info;
	struct statx stx;
	struct cds_list_head node;  /* the free list or the CPU queue */
};

struct diskwriter {
	struct actor actor;
	struct dw_config cfg;
	char *base_path;
	int base_fd;
	int tmp_fd;                 /* -1: temps go in the shard */
	int shard_fd[FSCHUNK_SHARDS];
	struct io_uring ring;
	unsigned int depth;         /* slots, and ring entries */
	bool odirect;
	bool fault_einval;
	bool no_tmpfile;
	bool statx_ring_only;       /* the kernel knows no RESOLVE_CACHED */
	uint64_t rng;
	uint64_t tmp_seq;
	struct fs_sizemap sizes;
	/* the engine; see dw_engine.c */
	struct dw_slot *slots;
	uint8_t *blocks;            /* 2 * depth bounce blocks */
	/* DW_PIECE bytes for buffered loads (dw_load.c), held by one slot at
	 * a time (bounce_busy); bounce_run: pieces left to read through it;
	 * bounce_next: the run a slow probe starts */
	uint8_t *bounce;
	bool bounce_busy;
	uint32_t bounce_run;
	uint32_t bounce_next;
	struct cds_list_head free_slots;
	struct cds_list_head cpu;   /* slots waiting for the actor's CPU */
	struct cds_list_head jobs;  /* posted order; each with keys unfinished */
	struct cds_list_head done;  /* finished jobs, completed by dw_engine_flush() */
	unsigned int inflight;      /* ring operations not yet reaped */
	/* [atomic] written by the actor, read by diskwriter_stats() */
	_Atomic bool st_healthy;
	_Atomic bool st_odirect;
	_Atomic uint64_t st_used;
	_Atomic uint64_t st_chunks;
	_Atomic uint64_t st_errors;
	_Atomic uint64_t st_fallbacks;
	_Atomic uint64_t st_bounced;
	_Atomic uint64_t st_corrupt;
	_Atomic uint64_t st_enospc_evictions;
	_Atomic uint64_t st_evictions;
	_Atomic uint64_t st_stores;
	_Atomic uint64_t st_loads;
};

static inline void dw_bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline bool dw_aligned(const void *p)
{
	return ((uintptr_t)p & (DW_BLK - 1)) == 0;
}

/* ---- diskwriter.c --------------------------------------------------- */

/* openat2() of @path below @dfd, refusing symlinks and "..".  Return: fd
 * or -errno. */
int dw_open_beneath(int dfd, const char *path, int flags, mode_t mode);

/* The fd of shard @s, opened (and made, when @create) on first use.
 * Return: fd, or -errno (-ENOENT: no such shard yet; -ELOOP: a symlink). */
int dw_shard_open(struct diskwriter *dw, unsigned int s, bool create);

/* The kernel refused O_DIRECT: go buffered for good, and say so once. */
void dw_odirect_refused(struct diskwriter *dw, int err, const char *what);

/* Publish the size map's figures to the [atomic] counters. */
void dw_publish_stats(struct diskwriter *dw);

/* ---- dw_engine.c ---------------------------------------------------- */

enum dw_pump {
	DW_PUMP_NOWAIT, /* reap and refill; never block */
	DW_PUMP_ONE,    /* as NOWAIT, but first wait for one completion if any is due */
	DW_PUMP_DRAIN,  /* until every posted job is complete */
};

/* Allocate the slots and set up the ring.  Return: 0 or -errno. */
int dw_engine_init(struct diskwriter *dw);
void dw_engine_fini(struct diskwriter *dw);

/* Queue @job (posted order) and start what fits.  Never blocks. */
void dw_engine_add(struct diskwriter *dw, struct dw_job *job);

/* Move the work along; see enum dw_pump.  Return: true while jobs remain. */
bool dw_engine_pump(struct diskwriter *dw, enum dw_pump how);

/* Issue @s's read or write of iov[iov_first..niov) at offset @s->done. */
void dw_io_rw(struct diskwriter *dw, struct dw_slot *s, bool write);
/* statx @s->name in @s->sfd into @s->stx, then step @s with the result:
 * at once when the path is cached, else through the ring.  The step may
 * finish @s before this returns. */
void dw_statx(struct diskwriter *dw, struct dw_slot *s);
/* Issue an fsync of @fd for @s. */
void dw_io_fsync(struct diskwriter *dw, struct dw_slot *s, int fd);
/* Issue @s's read of iov[iov_first..niov) at offset @s->done, and submit
 * it at once: a read of cached pages runs inline in the submit, so its
 * bytes are still in this CPU's cache when the next reap steps @s. */
void dw_io_read_now(struct diskwriter *dw, struct dw_slot *s);
/* Step @s again from the CPU queue, once no completion is waiting. */
void dw_cpu_defer(struct diskwriter *dw, struct dw_slot *s);
/* As dw_cpu_defer(), but before everything queued: @s's data is hot in
 * this CPU's cache now and would not be after the others' work. */
void dw_cpu_defer_first(struct diskwriter *dw, struct dw_slot *s);

/* Count @n bytes moved by @s's read or write; true when iovecs remain. */
bool dw_iov_advance(struct dw_slot *s, size_t n);

/* @s's key is done (its outcome recorded by its path): free the slot and
 * complete its job once it was the job's last key. */
void dw_slot_finish(struct diskwriter *dw, struct dw_slot *s);

/* Set bit @i of the job's task. */
void dw_set_bit(struct dw_job *job, size_t i);

/* ---- dw_store.c / dw_load.c ---------------------------------------- */

void dw_store_start(struct diskwriter *dw, struct dw_slot *s);
void dw_store_step(struct diskwriter *dw, struct dw_slot *s, int res);
void dw_load_start(struct diskwriter *dw, struct dw_slot *s);
void dw_load_step(struct diskwriter *dw, struct dw_slot *s, int res);
void dw_lookup_start(struct diskwriter *dw, struct dw_slot *s);
void dw_lookup_step(struct diskwriter *dw, struct dw_slot *s, int res);

/* Close @s's fd, unlinking its named temp unless published. */
void dw_slot_close(struct diskwriter *dw, struct dw_slot *s);

/* ---- dw_capacity.c --------------------------------------------------- */

/* Evict the oldest unlocked chunks until at most @target bytes are used.
 * Return: chunks evicted. */
uint64_t dw_evict_until(struct diskwriter *dw, uint64_t target);

/* Rebuild the size map from the files on disk.  Return: 0 or -errno. */
int dw_scan(struct diskwriter *dw);

#endif /* KVT_L2_FS_DW_INTERNAL_H */
