/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/pool/pc_regions.c - the pool client's memory: region fds from the
 * daemon's resource manager, owned regions and their pages, other
 * instances' regions mapped read-only, the session and its lease, and the
 * reclaim of pages whose keys are gone.  Pool client actor only.
 */
#define _GNU_SOURCE
#include "l2/pool/pc_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- resource manager ------------------------------------------------- */

/* GET_FD for @h over a fresh connection to the RM socket.
 * Return: an fd (O_CLOEXEC), or a negative errno. */
static int rm_get_fd(const struct poolclient *pc, const struct maru_handle *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { pc->conf.timeout_ms / 1000, (pc->conf.timeout_ms % 1000) * 1000 };
	uint8_t req[MARU_RM_HDR_SIZE + 32], resp[MARU_RM_HDR_SIZE + MARU_RM_MAX_PAYLOAD];
	struct maru_rm_hdr rh;
	size_t len;
	int fd = -1, s, ret;
	int32_t status;

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memcpy(sa.sun_path, pc->conf.rm, strlen(pc->conf.rm));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto out_close;
	}
	len = maru_rm_handle_req(req, MARU_RM_GET_FD_REQ, h);
	if (send(s, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		ret = -EIO;
		goto out_close;
	}
	ret = maru_rm_recv(s, resp, sizeof(resp), &rh, &fd);
	if (ret)
		goto out_close;
	ret = -EACCES;
	if (rh.type != MARU_RM_GET_FD_RESP || rh.len < 4)
		goto out_fd;
	memcpy(&status, resp + MARU_RM_HDR_SIZE, 4);
	if (status != 0 || fd < 0)
		goto out_fd;
	close(s);
	return fd;
out_fd:
	if (fd >= 0)
		close(fd);
out_close:
	close(s);
	return ret;
}

/* Maps region @h: GET_FD, then mmap MAP_SHARED, writable only when
 * @owned (another instance's bytes are never ours to write).
 * Return: the map or NULL. */
static uint8_t *region_map(struct poolclient *pc, const struct maru_handle *h, bool owned,
			   int *err)
{
	void *map;
	int fd = rm_get_fd(pc, h);

	if (fd < 0) {
		bump(&pc->st_rm_errors, 1);
		*err = fd;
		return NULL;
	}
	map = mmap(NULL, h->length, owned ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd,
		   (off_t)h->offset);
	*err = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (map == MAP_FAILED) {
		bump(&pc->st_rm_errors, 1);
		return NULL;
	}
	return map;
}

/* ---- owned regions and pages ------------------------------------------ */

/*
 * REQUEST_ALLOC @size bytes and map the region.  Return: 0 or a negative
 * errno (-ENOSPC: the daemon has no room; -ENOBUFS: too many regions);
 * @why names the step that failed.
 */
int pc_region_add(struct poolclient *pc, uint64_t size, const char **why)
{
	struct pc_region *rg;
	struct pc_reply r;
	msgpack_packer pk;
	struct maru_handle h;
	uint64_t npages;
	int ret;

	*why = "REQUEST_ALLOC";
	if (pc->nowned == PC_MAX_OWNED)
		return -ENOBUFS;
	pc_req_begin(pc, &pk);
	msgpack_pack_map(&pk, 2);
	maru_pack_cstr(&pk, "instance_id");
	maru_pack_cstr(&pk, pc->conf.instance_id);
	maru_pack_cstr(&pk, "size");
	msgpack_pack_uint64(&pk, size);
	ret = pc_rpc(pc, MARU_REQUEST_ALLOC, &r, false);
	if (ret)
		return ret;
	ret = pc_member_bool(&r.c, "success") ? pc_read_handle(&r.c, &h) : -ENOSPC;
	pc_reply_close(&r);
	if (ret)
		return ret;
	rg = &pc->owned[pc->nowned];
	memset(rg, 0, sizeof(*rg));
	rg->h = h;
	npages = h.length / pc->conf.page_bytes;
	*why = "GET_FD and mmap";
	rg->map = region_map(pc, &h, true, &ret);
	if (!rg->map)
		goto err_return;
	*why = "page bitmap";
	ret = pool_pages_init(&rg->pages, (uint32_t)(npages > UINT32_MAX ? UINT32_MAX : npages));
	if (ret)
		goto err_unmap;
	rg->chunks = mem_alloc((rg->pages.npages ? rg->pages.npages : 1) * sizeof(*rg->chunks));
	if (!rg->chunks) {
		ret = -ENOMEM;
		pool_pages_fini(&rg->pages);
		goto err_unmap;
	}
	pc->nowned++;
	bump(&pc->st_regions, 1);
	bump(&pc->st_pages_total, rg->pages.npages);
	bump(&pc->st_capacity, (uint64_t)rg->pages.npages * pc->conf.max_chunk);
	log_info("pool: region %llu: %llu bytes, %u pages",
		 (unsigned long long)h.region_id, (unsigned long long)h.length, rg->pages.npages);
	return 0;
err_unmap:
	munmap(rg->map, h.length);
err_return:
	/* the daemon made it for us: hand it back (best effort) */
	pc_req_begin(pc, &pk);
	msgpack_pack_map(&pk, 2);
	maru_pack_cstr(&pk, "instance_id");
	maru_pack_cstr(&pk, pc->conf.instance_id);
	maru_pack_cstr(&pk, "region_id");
	msgpack_pack_uint64(&pk, h.region_id);
	if (pc_rpc(pc, MARU_RETURN_ALLOC, &r, false) == 0)
		pc_reply_close(&r);
	return ret;
}


/* Another region, when auto_expand allows.  Return: 0 or -ENOSPC. */
static int expand(struct poolclient *pc)
{
	const char *why;

	if (!pc->conf.auto_expand)
		return -ENOSPC;
	if (pc_region_add(pc, pc->conf.expand_bytes, &why)) {
		log_warn("pool: expansion by %llu bytes failed at %s",
			 (unsigned long long)pc->conf.expand_bytes, why);
		return -ENOSPC;
	}
	bump(&pc->st_expansions, 1);
	return 0;
}

/* A free page, expanding with a new region when allowed.  Return: 0 or
 * -ENOSPC. */
int pc_page_alloc(struct poolclient *pc, struct pc_page *out)
{
	for (int round = 0; round < 2; round++) {
		for (size_t i = pc->nowned; i-- > 0;) {
			int64_t pg = pool_pages_alloc(&pc->owned[i].pages);

			if (pg >= 0) {
				out->region = (uint32_t)i;
				out->page = (uint32_t)pg;
				bump(&pc->st_pages_used, 1);
				return 0;
			}
		}
		if (round || expand(pc))
			break;
	}
	return -ENOSPC;
}

void pc_page_free(struct poolclient *pc, const struct pc_page *pg)
{
	if (pool_pages_free(&pc->owned[pg->region].pages, pg->page) == 0)
		drop(&pc->st_pages_used, 1);
}

uint8_t *pc_page_ptr(struct poolclient *pc, const struct pc_page *pg)
{
	return pc->owned[pg->region].map + (uint64_t)pg->page * pc->conf.page_bytes;
}

/* The owned page a location points at, if any. */
bool pc_page_of(struct poolclient *pc, const struct pc_loc *l, struct pc_page *out)
{
	for (size_t i = 0; i < pc->nowned; i++) {
		if (pc->owned[i].h.region_id != l->h.region_id)
			continue;
		if (l->off % pc->conf.page_bytes)
			return false;
		out->region = (uint32_t)i;
		out->page = (uint32_t)(l->off / pc->conf.page_bytes);
		return pool_pages_used(&pc->owned[i].pages, out->page);
	}
	return false;
}

/* Room for one more mapping of another instance's region.  Return: false
 * at PC_MAX_FOREIGN or without memory. */
static bool foreign_room(struct poolclient *pc)
{
	size_t cap = pc->capforeign ? pc->capforeign * 2 : 16;
	struct pc_region *f;

	if (pc->nforeign < pc->capforeign)
		return true;
	if (pc->nforeign == PC_MAX_FOREIGN)
		return false;
	f = mem_alloc(cap * sizeof(*f));
	if (!f)
		return false;
	if (pc->nforeign)
		memcpy(f, pc->foreign, pc->nforeign * sizeof(*f));
	mem_free(pc->foreign);
	pc->foreign = f;
	pc->capforeign = cap;
	return true;
}

static void foreign_add(struct poolclient *pc, const struct maru_handle *h, uint8_t *map)
{
	struct pc_region *rg = &pc->foreign[pc->nforeign++];

	memset(rg, 0, sizeof(*rg));
	rg->h = *h;
	rg->map = map;
	bump(&pc->st_foreign, 1);
}

/* The mapping of region @h: owned (@owned set), mapped before, or mapped now. */
uint8_t *pc_region_view(struct poolclient *pc, const struct maru_handle *h, bool *owned)
{
	uint8_t *map;
	int err;

	*owned = false;
	for (size_t i = 0; i < pc->nowned; i++)
		if (pc->owned[i].h.region_id == h->region_id) {
			*owned = true;
			return pc->owned[i].map;
		}
	for (size_t i = 0; i < pc->nforeign; i++)
		if (pc->foreign[i].h.region_id == h->region_id)
			return pc->foreign[i].h.length == h->length ? pc->foreign[i].map : NULL;
	if (!foreign_room(pc))
		return NULL;
	map = region_map(pc, h, false, &err);
	if (!map) {
		log_warn("pool: cannot map region %llu: %s", (unsigned long long)h->region_id,
			 strerror(-err));
		return NULL;
	}
	foreign_add(pc, h, map);
	return map;
}

/*
 * pc_session_renew() - the daemon refused a register into our own page: it
 * dropped this connection and released our regions (see Renewal above).
 * Keep each region's mapping, read-only, with the other instances' (its
 * keys stay readable until deleted; without room, unmap it), forget its
 * pages, bind the connection to the instance again and take a first
 * region again.
 */
void pc_handshake_read(struct poolclient *pc, const struct pc_reply *r)
{
	if (pc_member_u64(&r->c, "connection", &pc->conn_id))
		pc->conn_id = 0;
	if (pc_member_u64(&r->c, "client_lease_ms", &pc->lease_ms))
		pc->lease_ms = 0;
}

/*
 * A HEARTBEAT, and whether the daemon still knows this connection: one
 * that went silent for its lease (a stalled process) was dropped with its
 * regions, which may be another instance's by now.  Return: 0 still
 * ours (or a server that does not say), 1 dropped, or a failed RPC's code.
 */
int pc_connection_check(struct poolclient *pc)
{
	struct pc_reply r;
	msgpack_packer pk;
	uint64_t cid;
	int ret;

	pc_req_begin(pc, &pk);
	msgpack_pack_map(&pk, 0);
	ret = pc_rpc(pc, MARU_HEARTBEAT, &r, true);
	if (ret)
		return ret;
	ret = pc->conn_id && !pc_member_u64(&r.c, "connection", &cid) && cid != pc->conn_id;
	pc_reply_close(&r);
	return ret;
}

/* Before pages are written: an answer older than half the lease may mean
 * this process stalled past it; then the daemon is asked, and a dropped
 * connection is renewed (fresh regions) so no byte lands in an extent the
 * daemon gave away.  Return: 0 (write), or a failed RPC's code (do not). */
int pc_lease_fence(struct poolclient *pc)
{
	int ret;

	if (!pc->lease_ms || !pc->conn_id || pc_now_ms() - pc->last_ok_ms < pc->lease_ms / 2)
		return 0;
	ret = pc_connection_check(pc);
	if (ret == 1) {
		pc_session_renew(pc);
		ret = 0;
	}
	return ret;
}

void pc_session_renew(struct poolclient *pc)
{
	struct pc_reply r;
	msgpack_packer pk;
	const char *why;

	log_warn("pool: the daemon dropped this client's connection and regions (its lease "
		 "ran out?): taking new ones");
	for (size_t i = 0; i < pc->nowned; i++) {
		struct pc_region *rg = &pc->owned[i];

		drop(&pc->st_pages_total, rg->pages.npages);
		drop(&pc->st_pages_used, rg->pages.used);
		drop(&pc->st_capacity, (uint64_t)rg->pages.npages * pc->conf.max_chunk);
		drop(&pc->st_regions, 1);
		pool_pages_fini(&rg->pages);
		mem_free(rg->chunks);
		/* never written again: a freed region's extent may be another's now */
		if (!mprotect(rg->map, rg->h.length, PROT_READ) && foreign_room(pc))
			foreign_add(pc, &rg->h, rg->map);
		else
			munmap(rg->map, rg->h.length);
	}
	pc->nowned = 0;
	atomic_store_explicit(&pc->st_bytes_used, 0, memory_order_relaxed);
	bump(&pc->st_renewals, 1);
	pc_req_begin(pc, &pk);
	msgpack_pack_map(&pk, 2);
	maru_pack_cstr(&pk, "client_version");
	msgpack_pack_uint32(&pk, MARU_VERSION);
	maru_pack_cstr(&pk, "instance_id");
	maru_pack_cstr(&pk, pc->conf.instance_id);
	pc->conn_id = 0;
	if (pc_rpc(pc, MARU_HANDSHAKE, &r, false) == 0) {
		pc_handshake_read(pc, &r);
		pc_reply_close(&r);
	}
	/* else the next store expands, if auto_expand allows */
	if (pc_region_add(pc, pc->conf.size_bytes, &why))
		log_warn("pool: a new first region failed at %s", why);
	/* a restarted daemon has a new index; the old one's entries are stale */
	pc_shidx_reopen(pc);
}

/* ---- reclaim ---------------------------------------------------------- */

/* Pages of the owned regions: free ones into @nfree, all into @total. */
static void pages_count(const struct poolclient *pc, uint64_t *nfree, uint64_t *total)
{
	*nfree = *total = 0;
	for (size_t i = 0; i < pc->nowned; i++) {
		*total += pc->owned[i].pages.npages;
		*nfree += pc->owned[i].pages.npages - pc->owned[i].pages.used;
	}
}

/*
 * Look up the keys of @n used pages @pg (their chunks) and free each page
 * no entry points to: its key is gone, or registered elsewhere.  A failed
 * lookup frees nothing (a page may leak, never dangle).
 */
static void reclaim_batch(struct poolclient *pc, const struct pc_page *pg, size_t n,
			  struct kvt_key *keys, struct pc_loc *loc)
{
	for (size_t i = 0; i < n; i++)
		keys[i] = pc->owned[pg[i].region].chunks[pg[i].page].key;
	if (pc_lookup_locs(pc, keys, n, loc))
		return;
	for (size_t i = 0; i < n; i++) {
		struct pc_page at;

		if (loc[i].found && pc_page_of(pc, &loc[i], &at) && at.region == pg[i].region &&
		    at.page == pg[i].page)
			continue;
		drop(&pc->st_bytes_used, pc->owned[pg[i].region].chunks[pg[i].page].len);
		pc_page_free(pc, &pg[i]);
		bump(&pc->st_reclaimed, 1);
	}
}

/* Free the used pages no entry points to any more (see Reclaim above).
 * Between stores only: a page of a store in flight is not registered yet. */
static void pages_reclaim(struct poolclient *pc)
{
	struct pc_page *pg = mem_alloc(PC_RECLAIM_BATCH * sizeof(*pg));
	struct kvt_key *keys = mem_alloc(PC_RECLAIM_BATCH * sizeof(*keys));
	struct pc_loc *loc = mem_alloc(PC_RECLAIM_BATCH * sizeof(*loc));
	size_t n = 0;

	for (size_t r = 0; pg && keys && loc && r < pc->nowned; r++) {
		for (uint32_t p = 0; p < pc->owned[r].pages.npages; p++) {
			if (!pool_pages_used(&pc->owned[r].pages, p))
				continue;
			pg[n++] = (struct pc_page){ .region = (uint32_t)r, .page = p };
			if (n == PC_RECLAIM_BATCH) {
				reclaim_batch(pc, pg, n, keys, loc);
				n = 0;
			}
		}
	}
	if (n)
		reclaim_batch(pc, pg, n, keys, loc);
	mem_free(loc);
	mem_free(keys);
	mem_free(pg);
}

/*
 * Room for @need more pages before a store takes them: when too few are
 * free, reclaim, and when most pages still hold live chunks take another
 * region at once, so that the next reclaim is an eighth of the pages away
 * (each looks up every used page).
 */
void pc_make_room(struct poolclient *pc, size_t need)
{
	uint64_t nfree, total;

	pages_count(pc, &nfree, &total);
	if (nfree >= need)
		return;
	pages_reclaim(pc);
	pages_count(pc, &nfree, &total);
	if (nfree < need + total / 8)
		expand(pc);
}
