/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/pc_internal.h - what the pool client's files share (poolclient.c:
 * the actor and its tasks; pc_rpc.c: RPCs; pc_regions.c: regions, pages,
 * session, reclaim; pc_shidx.c: the daemon's shared index).  Everything here runs on the pool client actor only,
 * except the [atomic] counters, which stats read anywhere.
 */
#ifndef KVT_L2_POOL_PC_INTERNAL_H
#define KVT_L2_POOL_PC_INTERNAL_H

#include "l2/pool/poolclient.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include "core/actor.h"
#include "l2/fschunk.h"
#include "core/log.h"
#include "proto/maru/maru_mp.h"
#include "proto/maru/maru_rm.h"
#include "proto/maru/maru_rpc.h"
#include "proto/maru/pool_shidx.h"
#include "core/mem.h"
#include "l2/pool/pool_pages.h"
#include "core/waitword.h"
#include "kvtier/l2.h"

#define PC_MAILBOX 1024
#define PC_WAIT_MS 1000
#define PC_MAX_FOREIGN 4096u
#define PC_MAX_OWNED 4096u
#define PC_KEY_LEN 32         /* a key on the wire: 32 lower case hex digits */
#define PC_MAX_REPLY (64u << 20)
#define PC_RECLAIM_BATCH 4096u  /* keys per BATCH_LOOKUP of a reclaim */

enum pc_msg_op {
	PC_TASK = 1,  /* ptr[0] struct l2_job *, handed to l2_glue_complete() */
	PC_UNLOCK,    /* u64[0] key.lo, u64[1] key.hi */
	PC_DELETE,    /* ptr[0] struct l2_job *, the caller waits */
};

/* What an owned page holds, while it is used. */
struct pc_chunk {
	struct kvt_key key;
	uint64_t len;             /* payload bytes */
};

struct pc_region {
	struct maru_handle h;
	uint8_t *map;
	struct pool_pages pages;  /* owned regions only */
	struct pc_chunk *chunks;  /* owned regions only: one per page */
};

/* Where a key lives, from a LOOKUP_KV entry. */
struct pc_loc {
	bool found;
	struct maru_handle h;
	uint64_t off, len;
};

struct poolclient {
	struct actor actor;
	struct poolc_conf conf;
	struct l2_glue *glue;       /* tasks complete through it */
	void *zctx, *dealer;
	uint32_t seq;
	bool down;                 /* the last RPC failed: send without waiting */
	msgpack_sbuffer sb;
	struct pc_region *owned;
	size_t nowned;
	struct pc_region *foreign;
	size_t nforeign, capforeign;
	struct kvt_key *unpins;
	size_t nunpins, capunpins;
	uint64_t hb_next;
	/* kvtier-poold's HANDSHAKE answer: this connection's id and the
	 * daemon's client lease (0 from servers that say neither) */
	uint64_t conn_id, lease_ms;
	uint64_t last_ok_ms;       /* when the last RPC was answered */
	struct shidx shidx;        /* the daemon's shared index; hdr NULL: none mapped */
	bool shidx_retry;          /* none mapped, but the daemon may have one: ask again */
	/* [atomic] written by the actor (or create/destroy), read by stats */
	_Atomic bool healthy;
	_Atomic bool st_shidx;
	_Atomic uint64_t st_regions, st_foreign, st_pages_total, st_pages_used;
	_Atomic uint64_t st_round_trips, st_rpc_errors, st_rm_errors, st_errors;
	_Atomic uint64_t st_lost_races, st_unknown, st_corrupt, st_stores, st_loads;
	_Atomic uint64_t st_foreign_loads, st_reclaimed, st_renewals;
	_Atomic uint64_t st_expansions, st_pins, st_unpins, st_bytes_used, st_capacity;
	_Atomic uint64_t st_index_answers, st_index_fallbacks;
};

static inline void bump(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline void drop(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}

static inline void key_text(const struct kvt_key *k, char out[FSCHUNK_NAME_LEN + 1])
{
	fschunk_name(k, out);  /* the first PC_KEY_LEN characters are the hex */
}

static inline void pack_key(msgpack_packer *pk, const struct kvt_key *k)
{
	char name[FSCHUNK_NAME_LEN + 1];

	key_text(k, name);
	msgpack_pack_str(pk, PC_KEY_LEN);
	msgpack_pack_str_body(pk, name, PC_KEY_LEN);
}

/* A reply: the message (closed by reply_close) and a cursor on its map. */
struct pc_reply {
	zmq_msg_t msg;
	struct mp_cur c;
};

struct pc_page {
	uint32_t region;  /* index in owned */
	uint32_t page;
};

/* ---- pc_rpc.c ---- */
int pc_lookup_locs(struct poolclient *pc, const struct kvt_key *keys, size_t n, struct pc_loc *loc);
bool pc_member_bool(const struct mp_cur *map, const char *name);
int pc_member_bools(const struct mp_cur *map, const char *name, bool *out, size_t n);
int pc_member_u64(const struct mp_cur *map, const char *name, uint64_t *v);
uint64_t pc_now_ms(void);
int pc_read_handle(const struct mp_cur *map, struct maru_handle *h);
void pc_reply_close(struct pc_reply *r);
void pc_req_begin(struct poolclient *pc, msgpack_packer *pk);
int pc_rpc(struct poolclient *pc, uint8_t type, struct pc_reply *r, bool probe);
int pc_rpc_keys(struct poolclient *pc, uint8_t type, const struct kvt_key *keys, size_t n,
	const bool *sel, struct pc_reply *r);

/* ---- pc_regions.c ---- */
int pc_connection_check(struct poolclient *pc);
void pc_handshake_read(struct poolclient *pc, const struct pc_reply *r);
int pc_lease_fence(struct poolclient *pc);
void pc_make_room(struct poolclient *pc, size_t need);
int pc_page_alloc(struct poolclient *pc, struct pc_page *out);
void pc_page_free(struct poolclient *pc, const struct pc_page *pg);
bool pc_page_of(struct poolclient *pc, const struct pc_loc *l, struct pc_page *out);
uint8_t *pc_page_ptr(struct poolclient *pc, const struct pc_page *pg);
int pc_region_add(struct poolclient *pc, uint64_t size, const char **why);
uint8_t *pc_region_view(struct poolclient *pc, const struct maru_handle *h, bool *owned);
void pc_session_renew(struct poolclient *pc);

/* ---- pc_shidx.c ---- */
int pc_index_exists(struct poolclient *pc, const struct kvt_key *keys, size_t n,
	const bool *sel, struct pc_loc *loc);
int pc_locs(struct poolclient *pc, const struct kvt_key *keys, size_t n, struct pc_loc *loc,
	bool need_map);
void pc_shidx_close(struct poolclient *pc);
void pc_shidx_open(struct poolclient *pc);
void pc_shidx_reopen(struct poolclient *pc);

#endif /* KVT_L2_POOL_PC_INTERNAL_H */
