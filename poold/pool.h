/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/pool.h - kvtier-poold's shared state and its three actors.
 *
 *	pool_alloc   the allocation manager: owns the pool devices (Device-DAX
 *	             or /dev/shm files) and their free extents, carves aligned
 *	             extents first-fit (poold/pool_alloc.c)
 *	pool_index   the single writer of the key registry and the region table
 *	             (rculfhash maps read lock-free by the front ends), of pins,
 *	             client bindings and region ref counts (poold/pool_index.c)
 *	pool_pinmon  the pin-monitor: asks the index actor to sweep leased pins
 *	             every pin_ttl_ms / 4 (poold/pool_pinmon.c)
 *
 * The front ends (tools/kvtier-poold/) decode requests, serve lookups and
 * existence checks themselves under RCU, and send every mutation to the
 * index actor with actor_call(), which packs the response.
 */
#ifndef KVT_POOLD_POOL_H
#define KVT_POOLD_POOL_H

#include <limits.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/actor.h"
#include "proto/maru/maru_rm.h"
#include "proto/maru/maru_rpc.h"
#include "proto/maru/maru_token.h"
#include "proto/maru/pool_shidx.h"
#include "core/rcu.h"

#define POOL_MAX_DEVS 16
#define POOL_ALIGN_MIN (2u << 20)
#define POOL_FOUND_HEAD_MAX 96 /* maru_pack_found_head() of any handle fits */

struct pool_extent {
	uint64_t off;
	uint64_t len;
};

/* One pool: a Device-DAX char device or a file.  [immutable] after open
 * except the free list (alloc actor only) and free_bytes ([atomic]). */
struct pool_dev {
	int fd;
	char path[PATH_MAX];
	uint64_t size;
	uint64_t align;
	uint32_t dax_type;        /* 0 DEV_DAX, 1 file */
	bool created;             /* we created the file and it still has its name */
	struct pool_extent *free; /* sorted by offset, coalesced */
	uint32_t nfree, capfree;
	_Atomic uint64_t free_bytes;
};

/* A region: one extent handed to an instance.  Published in regions map. */
struct pool_region {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	uint64_t id, offset, length, token; /* [immutable] the handle */
	uint32_t pool;                      /* [immutable] index in devs[] */
	/* [immutable] maru_pack_found_head() of the handle, packed once: a
	 * batch lookup copies it into every entry that hits this region */
	uint8_t found_head[POOL_FOUND_HEAD_MAX];
	uint8_t found_head_len;
	uint64_t requested;
	struct pool_instance *owner;        /* index actor only, below too */
	uint64_t kv_ref;
	uint64_t used;                      /* sum of kv_length registered in it */
	bool owner_connected;
	struct pool_region *owner_next;
};

/* A registered key.  Published in the keys map; fields [immutable] except
 * the index-only pin state. */
struct pool_entry {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	struct pool_region *region;
	uint64_t kv_offset, kv_length;
	uint32_t pin_count;              /* index actor only */
	/* index actor only: the key has a 128-bit form (shidx_key_parse), and
	 * whether the shared index holds it */
	bool shidx_key, shidx_published;
	struct pool_pin *pins;           /* index actor only */
	struct pool_entry *pinned_prev, *pinned_next; /* index actor only */
	uint8_t kind;
	uint32_t klen;
	uint8_t key[];
};

struct pool_opts {
	const char *rpc_addr[4];     /* ZeroMQ endpoints */
	int nrpc;
	const char *rm_socket;       /* Unix socket path for the RM protocol */
	const char *rm_tcp;          /* HOST:PORT for the RM protocol over TCP, or NULL */
	uint32_t max_pins_per_key;
	uint32_t pin_ttl_ms;         /* 0: pins never expire */
	uint32_t client_lease_ms;    /* 0: no lease, only disconnects count */
	uint32_t max_payload;        /* bytes */
	bool register_any_region;    /* Maru's rule: any caller registers into any live region */
	uint64_t shidx_slots;        /* the shared index's slots; 0: none */
	bool shidx_flush;            /* write its lines back (non-coherent readers) */
};

/* Counters the front ends bump ([atomic], any thread). */
struct pool_counters {
	_Atomic uint64_t requests;
	_Atomic uint64_t bad_header;
	_Atomic uint64_t bad_payload;
	_Atomic uint64_t oversized;
	_Atomic uint64_t unknown_type;
	_Atomic uint64_t rm_requests;
	_Atomic uint64_t rm_bad;
	_Atomic uint64_t rm_bad_token;
	_Atomic uint64_t rm_bad_peer;
	_Atomic uint64_t clients;        /* live RPC connections */
	_Atomic uint64_t clients_gone;
	_Atomic uint64_t leases_expired;
};

struct pool_index;
struct poold_metrics;

struct pool {
	struct pool_opts opts;
	struct pool_dev devs[POOL_MAX_DEVS];
	uint32_t ndevs;
	struct maru_token_key tkey;
	struct cds_lfht *keys;      /* [rcu] pool_entry by key; index actor writes */
	struct cds_lfht *regions;   /* [rcu] pool_region by id; index actor writes */
	struct actor alloc;
	struct actor index;
	struct actor pinmon;
	struct pool_index *idx;     /* index actor state */
	/* the shared index (proto/maru/pool_shidx.h): created before the actors
	 * start, written by the index actor only; shidx.hdr NULL: none */
	struct shidx shidx;
	struct pool_counters ctr;
	struct poold_metrics *metrics; /* --metrics only; set before the front ends start */
	uid_t uid;
};

/* ---- allocation manager (poold/pool_alloc.c) ---- */
enum pool_alloc_op {
	POOL_ALLOC_CARVE = 1,  /* u64[0] size, u32 pool id; ptr[0] struct pool_carve * */
	POOL_ALLOC_RELEASE,    /* u32 pool, u64[0] off, u64[1] len */
};

struct pool_carve {
	uint32_t pool;
	uint64_t off, len;
};

extern const struct actor_ops pool_alloc_ops;

/*
 * pool_dev_open() - open @path as a pool: /dev/daxN.M (size and align from
 * sysfs) or a regular file of @size bytes created 0600 with O_EXCL (for
 * /dev/shm).  @err gets "pool \"path\": reason".  Return: 0 or -errno.
 */
int pool_dev_open(struct pool_dev *d, const char *path, uint64_t size, char *err, size_t errlen);
void pool_dev_close(struct pool_dev *d);

/* ---- index actor (poold/pool_index.c) ---- */
enum pool_index_op {
	POOL_IDX_RPC = 1,  /* ptr[0] const struct maru_req *, ptr[1] msgpack_packer *, u64[0] cid */
	POOL_IDX_GONE,     /* u64[0] cid: the connection closed, its lease ran out, or SHUTDOWN */
	POOL_IDX_SWEEP,    /* from the pin-monitor: force-release pins older than pin_ttl_ms */
	POOL_IDX_RM_ALLOC, /* ptr[0] struct maru_rm_req *, ptr[1] struct maru_handle * out, u64[0] pid */
	POOL_IDX_RM_FREE,  /* ptr[0] struct maru_rm_req *, u64[0] pid, u32 uid */
};

extern const struct actor_ops pool_index_ops;

int pool_index_create(struct pool *p);
/* After every actor stopped: free every entry and region, rcu_barrier(). */
void pool_index_destroy(struct pool *p);

/* Lock-free reads for the front ends.  Call with rcu_read_lock held. */
struct pool_entry *pool_entry_find_rcu(struct pool *p, const struct maru_key *k);
/* pool_entry_find_rcu() of @n keys, @stride bytes apart from @keys (keys
 * inside larger records), into @out[0..@n): NULL where absent.  @out NULL:
 * only brings their lines into the cache (a batch about to be added).
 * Hashes POOL_FIND_CHUNK keys ahead of their lookups. */
#define POOL_FIND_CHUNK 32
void pool_entries_find_rcu(struct pool *p, const struct maru_key *keys, size_t stride,
			   uint32_t n, struct pool_entry **out);
struct pool_region *pool_region_find_rcu(struct pool *p, uint64_t id);

/* ---- pin-monitor (poold/pool_pinmon.c) ---- */
extern const struct actor_ops pool_pinmon_ops;

#endif /* KVT_POOLD_POOL_H */
