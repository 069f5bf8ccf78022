/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/maru/pool_shidx.c - kvtier-poold's shared index (see pool_shidx.h):
 * the seqlocked open-addressing table, its writer, its readers and the
 * GET_INDEX request that hands a reader the table.
 *
 * Probing invariant the readers rely on: a key stays reachable from its
 * home slot while it is live.  An insert never moves a key; a delete leaves
 * a tombstone, except that a slot whose successor is empty may become empty
 * (and so may the tombstones right before it): no probe sequence passes
 * through that slot to a live key, since it would meet the empty successor
 * first.  So a reader never misses a key that was live for its whole call.
 */
#define _GNU_SOURCE
#include "proto/maru/pool_shidx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
/* inlined: the hash is a tenth of a lookup that costs ~100 ns */
#define XXH_INLINE_ALL
#include <xxhash.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SHIDX_CAN_FLUSH 1
#else
#define SHIDX_CAN_FLUSH 0
#endif

#include "proto/maru/maru_rm.h"

_Static_assert(sizeof(struct shidx_entry) == 64, "an entry is one cache line");
_Static_assert(sizeof(struct shidx_hdr) <= SHIDX_HDR_BYTES, "header fits its page");

/* Evict (reader) or write back (writer) the line of @p, and wait for it. */
static inline void line_flush(volatile void *p)
{
#if SHIDX_CAN_FLUSH
	_mm_clflush((const void *)p);
	_mm_mfence();
#else
	(void)p;
#endif
}

static inline void cpu_relax(void)
{
#if SHIDX_CAN_FLUSH
	_mm_pause();
#endif
}

static inline uint64_t ld(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static inline void st(_Atomic uint64_t *v, uint64_t x)
{
	atomic_store_explicit(v, x, memory_order_relaxed);
}

static inline uint64_t home(const struct shidx *x, uint64_t lo, uint64_t hi)
{
	uint64_t k[2] = { lo, hi };

	return XXH3_64bits(k, sizeof(k)) & x->mask;
}

/* ---- readers ---------------------------------------------------------- */

struct slot {
	uint64_t state, lo, hi;
	struct shidx_loc loc;
};

/* A whole copy of @e.  Return: false when its seq stayed odd (a writer
 * died mid-write) or kept moving for SHIDX_READ_TRIES tries. */
static bool slot_read(const struct shidx *x, struct shidx_entry *e, struct slot *s)
{
	for (unsigned int i = 0; i < SHIDX_READ_TRIES; i++) {
		uint64_t s1, s2;

		if (x->flush)
			line_flush(e);
		s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1) {
			cpu_relax();
			continue;
		}
		s->state = ld(&e->state);
		s->lo = ld(&e->lo);
		s->hi = ld(&e->hi);
		s->loc.region_id = ld(&e->region_id);
		s->loc.kv_offset = ld(&e->kv_offset);
		s->loc.kv_length = ld(&e->kv_length);
		/* the copy's loads happen before the second seq load */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&e->seq, memory_order_relaxed);
		if (s1 == s2)
			return true;
	}
	return false;
}

static uint64_t flags_load(const struct shidx *x)
{
	if (x->flush)
		line_flush(&x->hdr->flags);
	return atomic_load_explicit(&x->hdr->flags, memory_order_acquire);
}

/* The rebuild epoch; it shares the line flags_load() flushes. */
static uint64_t epoch_load(const struct shidx *x)
{
	if (x->flush)
		line_flush(&x->hdr->epoch);
	return atomic_load_explicit(&x->hdr->epoch, memory_order_acquire);
}

void shidx_prefetch(const struct shidx *x, uint64_t lo, uint64_t hi)
{
	if (!x->flush)
		__builtin_prefetch(&x->e[home(x, lo, hi)]);
}

enum shidx_answer shidx_lookup(const struct shidx *x, uint64_t lo, uint64_t hi,
			       struct shidx_loc *out)
{
	uint64_t i = home(x, lo, hi), flags, epoch = epoch_load(x);

	if (epoch & 1)
		return SHIDX_UNKNOWN;
	for (uint64_t n = 0; n <= x->mask; n++, i = (i + 1) & x->mask) {
		struct slot s;

		if (!slot_read(x, &x->e[i], &s))
			return SHIDX_UNKNOWN;
		if (s.state == SHIDX_EMPTY)
			break;
		if (s.state == SHIDX_LIVE && s.lo == lo && s.hi == hi) {
			if (flags_load(x) & SHIDX_CLOSED)
				return SHIDX_UNKNOWN;
			*out = s.loc;
			return SHIDX_HIT;
		}
	}
	/* after the probe: a key the writer refused before this call began
	 * set INCOMPLETE before its register was answered; a rebuild that
	 * began before the probe ended moved keys it may have passed */
	flags = flags_load(x);
	if (epoch_load(x) != epoch)
		return SHIDX_UNKNOWN;
	return flags & (SHIDX_INCOMPLETE | SHIDX_CLOSED) ? SHIDX_UNKNOWN : SHIDX_MISS;
}

static int header_check(const struct shidx_hdr *h, size_t len)
{
	if (h->magic != SHIDX_MAGIC || h->version != SHIDX_VERSION ||
	    h->entry_bytes != sizeof(struct shidx_entry) || h->nslots < SHIDX_MIN_SLOTS ||
	    h->nslots > SHIDX_MAX_SLOTS || (h->nslots & (h->nslots - 1)) ||
	    SHIDX_HDR_BYTES + h->nslots * sizeof(struct shidx_entry) != len)
		return -EBADMSG;
	return 0;
}

int shidx_attach(struct shidx *x, int fd, bool flush)
{
	struct stat sb;
	void *map;
	int ret;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	if (flush && !SHIDX_CAN_FLUSH)
		return -EOPNOTSUPP;
	if (fstat(fd, &sb))
		return -errno;
	if ((uint64_t)sb.st_size < SHIDX_HDR_BYTES + SHIDX_MIN_SLOTS * sizeof(struct shidx_entry))
		return -EBADMSG;
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	ret = header_check(map, (size_t)sb.st_size);
	if (ret) {
		munmap(map, (size_t)sb.st_size);
		return ret;
	}
	x->hdr = map;
	x->e = (struct shidx_entry *)((uint8_t *)map + SHIDX_HDR_BYTES);
	x->mask = x->hdr->nslots - 1;
	x->maplen = (size_t)sb.st_size;
	x->flush = flush;
	return 0;
}

void shidx_detach(struct shidx *x)
{
	if (x->hdr)
		munmap(x->hdr, x->maplen);
	x->hdr = NULL;
}

/* ---- GET_INDEX -------------------------------------------------------- */

/* Reads the answer to GET_INDEX and the fd riding on it.
 * Return: the fd, or a negative errno. */
static int get_index_reply(int s)
{
	uint8_t resp[MARU_RM_HDR_SIZE + MARU_RM_MAX_PAYLOAD];
	struct maru_rm_hdr rh;
	int32_t status;
	int fd, ret;

	ret = maru_rm_recv(s, resp, sizeof(resp), &rh, &fd);
	/* a server that hangs up on GET_INDEX does not know it */
	if (ret)
		return ret == -ECONNRESET ? -EPROTO : ret;
	/* Maru's own resource manager answers an unknown type with an error */
	ret = -EPROTO;
	if (rh.type != MARU_RM_GET_INDEX_RESP || rh.len < 4)
		goto err;
	memcpy(&status, resp + MARU_RM_HDR_SIZE, 4);
	ret = status < 0 ? status : -EPROTO;
	if (status != 0 || fd < 0)
		goto err;
	return fd;
err:
	if (fd >= 0)
		close(fd);
	return ret;
}

int shidx_fetch(struct shidx *x, const char *rm_path, uint32_t timeout_ms, bool flush)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	uint8_t req[MARU_RM_HDR_SIZE];
	int s, fd, ret;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	if (strlen(rm_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, rm_path, strlen(rm_path));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		close(s);
		return ret;
	}
	maru_rm_hdr_encode(req, MARU_RM_GET_INDEX_REQ, 0);
	if (send(s, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		close(s);
		return -EIO;
	}
	fd = get_index_reply(s);
	close(s);
	if (fd < 0)
		return fd;
	ret = shidx_attach(x, fd, flush);
	close(fd);
	return ret;
}

/* ---- the writer ------------------------------------------------------- */

/* The seqlock's write side: odd, the words, even with release. */
static void slot_write(struct shidx *x, struct shidx_entry *e, uint64_t state, uint64_t lo,
		       uint64_t hi, const struct shidx_loc *l)
{
	uint64_t s = ld(&e->seq);

	st(&e->seq, s + 1);
	/* orders the odd seq before every word below */
	atomic_thread_fence(memory_order_release);
	st(&e->state, state);
	st(&e->lo, lo);
	st(&e->hi, hi);
	st(&e->region_id, l ? l->region_id : 0);
	st(&e->kv_offset, l ? l->kv_offset : 0);
	st(&e->kv_length, l ? l->kv_length : 0);
	atomic_store_explicit(&e->seq, s + 2, memory_order_release);
	if (x->flush)
		line_flush(e);
	st(&x->hdr->writes, ld(&x->hdr->writes) + 1);
}

static void flags_set(struct shidx *x, uint64_t set, uint64_t clear)
{
	uint64_t f = ld(&x->hdr->flags);

	atomic_store_explicit(&x->hdr->flags, (f | set) & ~clear, memory_order_release);
	if (x->flush)
		line_flush(&x->hdr->flags);
}

int shidx_create(struct shidx *x, uint64_t nslots, bool flush)
{
	size_t len = SHIDX_HDR_BYTES + nslots * sizeof(struct shidx_entry);
	void *map;
	int ret;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	if (nslots < SHIDX_MIN_SLOTS || nslots > SHIDX_MAX_SLOTS || (nslots & (nslots - 1)))
		return -EINVAL;
	if (flush && !SHIDX_CAN_FLUSH)
		return -EOPNOTSUPP;
	x->fd = memfd_create("kvtier-poold-index", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (x->fd < 0)
		return -errno;
	/* sealed size: a reader's mapping can never reach past the file */
	if (ftruncate(x->fd, (off_t)len) ||
	    fcntl(x->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		ret = -errno;
		goto err_close;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	/* the file is zeros: every slot empty, every seq even */
	x->hdr = map;
	x->hdr->magic = SHIDX_MAGIC;
	x->hdr->version = SHIDX_VERSION;
	x->hdr->nslots = nslots;
	x->hdr->entry_bytes = sizeof(struct shidx_entry);
	x->e = (struct shidx_entry *)((uint8_t *)map + SHIDX_HDR_BYTES);
	x->mask = nslots - 1;
	x->max_fill = nslots / 4 * 3;
	x->maplen = len;
	x->flush = flush;
	return 0;
err_close:
	close(x->fd);
	x->fd = -1;
	return ret;
}

void shidx_destroy(struct shidx *x)
{
	if (!x->hdr)
		return;
	flags_set(x, SHIDX_CLOSED, 0);
	munmap(x->hdr, x->maplen);
	close(x->fd);
	x->hdr = NULL;
	x->fd = -1;
}

int shidx_reader_fd(const struct shidx *x)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", x->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void epoch_bump(struct shidx *x)
{
	atomic_store_explicit(&x->hdr->epoch, ld(&x->hdr->epoch) + 1, memory_order_release);
	if (x->flush)
		line_flush(&x->hdr->epoch);
}

/* An empty slot on @lo:@hi's probe path, in a table without tombstones
 * (a rebuild's). */
static uint64_t empty_on_path(const struct shidx *x, uint64_t lo, uint64_t hi)
{
	uint64_t i = home(x, lo, hi);

	while (ld(&x->e[i].state) != SHIDX_EMPTY)
		i = (i + 1) & x->mask;
	return i;
}

/*
 * Clear every tombstone: copy the live entries out, empty the table, put
 * them back, all with the epoch odd (see shidx_lookup()).  The seq of every
 * entry keeps counting up, so a reader's copy of a slot is still whole.
 * Return: 0, or -ENOMEM (the table is left as it was).
 */
static int rebuild(struct shidx *x)
{
	uint64_t nlive = ld(&x->hdr->live), k = 0;
	struct slot *live = malloc(sizeof(*live) * (nlive ? nlive : 1));

	if (!live)
		return -ENOMEM;
	epoch_bump(x);
	for (uint64_t i = 0; i <= x->mask; i++) {
		struct shidx_entry *e = &x->e[i];
		uint64_t state = ld(&e->state);

		if (state == SHIDX_LIVE && k < nlive)
			live[k++] = (struct slot){ state, ld(&e->lo), ld(&e->hi),
						   { ld(&e->region_id), ld(&e->kv_offset),
						     ld(&e->kv_length) } };
		if (state != SHIDX_EMPTY)
			slot_write(x, e, SHIDX_EMPTY, 0, 0, NULL);
	}
	for (uint64_t j = 0; j < k; j++)
		slot_write(x, &x->e[empty_on_path(x, live[j].lo, live[j].hi)], SHIDX_LIVE,
			   live[j].lo, live[j].hi, &live[j].loc);
	st(&x->hdr->tombs, 0);
	st(&x->hdr->rebuilds, ld(&x->hdr->rebuilds) + 1);
	epoch_bump(x);
	free(live);
	return 0;
}

int shidx_publish(struct shidx *x, uint64_t lo, uint64_t hi, const struct shidx_loc *loc)
{
	uint64_t i = home(x, lo, hi), tomb = UINT64_MAX, n;

	for (n = 0; n <= x->mask; n++, i = (i + 1) & x->mask) {
		struct shidx_entry *e = &x->e[i];
		uint64_t state = ld(&e->state);

		if (state == SHIDX_EMPTY)
			break;
		if (state == SHIDX_TOMB) {
			if (tomb == UINT64_MAX)
				tomb = i;
			continue;
		}
		if (ld(&e->lo) == lo && ld(&e->hi) == hi) {
			slot_write(x, e, SHIDX_LIVE, lo, hi, loc);
			return 0;
		}
	}
	/* absent: the first tombstone on the way is as good as the empty slot */
	if (tomb != UINT64_MAX) {
		slot_write(x, &x->e[tomb], SHIDX_LIVE, lo, hi, loc);
		st(&x->hdr->tombs, ld(&x->hdr->tombs) - 1);
		st(&x->hdr->live, ld(&x->hdr->live) + 1);
		return 0;
	}
	if (n > x->mask || ld(&x->hdr->live) + ld(&x->hdr->tombs) + 1 > x->max_fill) {
		/* tombstones are what fills it: clear them, then look again */
		if (ld(&x->hdr->tombs) >= SHIDX_REBUILD_TOMBS(x->mask + 1) &&
		    ld(&x->hdr->live) + 1 <= x->max_fill && rebuild(x) == 0)
			return shidx_publish(x, lo, hi, loc);
		/* before the caller answers the register: see shidx_lookup() */
		flags_set(x, SHIDX_INCOMPLETE, 0);
		st(&x->hdr->refused, ld(&x->hdr->refused) + 1);
		x->unpublished++;
		return -ENOSPC;
	}
	slot_write(x, &x->e[i], SHIDX_LIVE, lo, hi, loc);
	st(&x->hdr->live, ld(&x->hdr->live) + 1);
	return 0;
}

bool shidx_unpublish(struct shidx *x, uint64_t lo, uint64_t hi)
{
	uint64_t i = home(x, lo, hi), n;

	for (n = 0; n <= x->mask; n++, i = (i + 1) & x->mask) {
		struct shidx_entry *e = &x->e[i];
		uint64_t state = ld(&e->state);

		if (state == SHIDX_EMPTY)
			return false;
		if (state == SHIDX_LIVE && ld(&e->lo) == lo && ld(&e->hi) == hi)
			break;
	}
	if (n > x->mask)
		return false;
	st(&x->hdr->live, ld(&x->hdr->live) - 1);
	if (ld(&x->e[(i + 1) & x->mask].state) != SHIDX_EMPTY) {
		slot_write(x, &x->e[i], SHIDX_TOMB, 0, 0, NULL);
		st(&x->hdr->tombs, ld(&x->hdr->tombs) + 1);
		return true;
	}
	/* see the probing invariant at the top */
	slot_write(x, &x->e[i], SHIDX_EMPTY, 0, 0, NULL);
	for (i = (i - 1) & x->mask; ld(&x->e[i].state) == SHIDX_TOMB; i = (i - 1) & x->mask) {
		slot_write(x, &x->e[i], SHIDX_EMPTY, 0, 0, NULL);
		st(&x->hdr->tombs, ld(&x->hdr->tombs) - 1);
	}
	return true;
}

void shidx_refused_gone(struct shidx *x)
{
	if (x->unpublished && !--x->unpublished)
		flags_set(x, 0, SHIDX_INCOMPLETE);
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool shidx_key_parse(const uint8_t *s, uint32_t len, uint64_t *lo, uint64_t *hi)
{
	uint64_t v[2] = { 0, 0 };

	if (len != 32)
		return false;
	for (uint32_t i = 0; i < 32; i++) {
		int d = hexval(s[i]);

		if (d < 0)
			return false;
		v[i / 16] = v[i / 16] << 4 | (uint64_t)d;
	}
	*lo = v[0];
	*hi = v[1];
	return true;
}
