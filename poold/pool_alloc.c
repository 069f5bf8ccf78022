/* SPDX-License-Identifier: Apache-2.0 */
/*
 * poold/pool_alloc.c - the allocation manager (see pool.h).
 *
 * Owns each pool's free list: a sorted, coalesced array of extents, carved
 * first-fit at the pool's alignment (2 MiB at least).  Only this actor
 * touches a free list; free_bytes is published for the stats readers.
 * The daemon never maps pool memory: it hands the pool fd to clients, who
 * map their region at the handle's offset.
 */
#define _GNU_SOURCE
#include "poold/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/daxdev.h"
#include "core/log.h"
#include "core/mem.h"

int pool_dev_open(struct pool_dev *d, const char *path, uint64_t size, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	snprintf(d->path, sizeof(d->path), "%s", path);
	if (!strncmp(path, "/dev/dax", 8)) {
		uint64_t dsize, align;
		int node;

		ret = daxdev_sysfs_geometry("/sys", path + 5, &dsize, &align, &node, err, errlen);
		if (ret)
			return ret;
		d->fd = open(path, O_RDWR | O_CLOEXEC);
		if (d->fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "pool \"%s\": %s", path, strerror(errno));
			return ret;
		}
		d->size = size && size < dsize ? size : dsize;
		d->align = align > POOL_ALIGN_MIN ? align : POOL_ALIGN_MIN;
		d->dax_type = 0;
	} else {
		if (!size) {
			snprintf(err, errlen, "pool \"%s\": a file pool needs a size", path);
			return -EINVAL;
		}
		d->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (d->fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "pool \"%s\": %s", path, strerror(errno));
			return ret;
		}
		d->created = true;
		if (fstat(d->fd, &st) || !S_ISREG(st.st_mode) || ftruncate(d->fd, (off_t)size)) {
			ret = errno ? -errno : -EINVAL;
			snprintf(err, errlen, "pool \"%s\": cannot size to %llu bytes: %s", path,
				 (unsigned long long)size, strerror(-ret));
			goto err_close;
		}
		/* the fd keeps the memory; with the name gone now, a daemon
		 * killed with SIGKILL leaves no file behind (regions are handed
		 * out as fds, never by path) */
		unlink(path);
		d->created = false;
		d->size = size;
		d->align = POOL_ALIGN_MIN;
		d->dax_type = 1;
	}
	d->size -= d->size % d->align;
	if (!d->size) {
		snprintf(err, errlen, "pool \"%s\": smaller than one %llu-byte extent", path,
			 (unsigned long long)d->align);
		ret = -ENOSPC;
		goto err_close;
	}
	d->capfree = 16;
	d->free = mem_alloc(sizeof(*d->free) * d->capfree);
	if (!d->free) {
		ret = -ENOMEM;
		goto err_close;
	}
	d->free[0] = (struct pool_extent){ 0, d->size };
	d->nfree = 1;
	atomic_store(&d->free_bytes, d->size);
	return 0;

err_close:
	close(d->fd);
	if (d->created)
		unlink(d->path);
	d->fd = -1;
	return ret;
}

void pool_dev_close(struct pool_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->created)
		unlink(d->path);
	mem_free(d->free);
	d->free = NULL;
	d->fd = -1;
}

/* First fit in one pool.  Return: 0 with *off set, or -ENOSPC. */
static int carve_one(struct pool_dev *d, uint64_t len, uint64_t *off)
{
	for (uint32_t i = 0; i < d->nfree; i++) {
		struct pool_extent *e = &d->free[i];

		if (e->len < len)
			continue;
		*off = e->off;
		e->off += len;
		e->len -= len;
		if (!e->len) {
			memmove(e, e + 1, sizeof(*e) * (d->nfree - i - 1));
			d->nfree--;
		}
		atomic_fetch_sub_explicit(&d->free_bytes, len, memory_order_relaxed);
		return 0;
	}
	return -ENOSPC;
}

static int carve(struct pool *p, uint64_t size, uint32_t pool_id, struct pool_carve *out)
{
	for (uint32_t i = 0; i < p->ndevs; i++) {
		struct pool_dev *d = &p->devs[i];
		uint64_t len;

		if (pool_id != MARU_RM_ANY_POOL && pool_id != i)
			continue;
		if (size > d->size)
			continue;
		len = (size + d->align - 1) / d->align * d->align;
		if (!carve_one(d, len, &out->off)) {
			out->pool = i;
			out->len = len;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Gives [off, off + len) back, coalescing with its neighbours. */
static void release(struct pool_dev *d, uint64_t off, uint64_t len)
{
	uint32_t i = 0;

	while (i < d->nfree && d->free[i].off < off)
		i++;
	if (i > 0 && d->free[i - 1].off + d->free[i - 1].len == off) {
		d->free[i - 1].len += len;
		if (i < d->nfree && off + len == d->free[i].off) {
			d->free[i - 1].len += d->free[i].len;
			memmove(&d->free[i], &d->free[i + 1], sizeof(*d->free) * (d->nfree - i - 1));
			d->nfree--;
		}
	} else if (i < d->nfree && off + len == d->free[i].off) {
		d->free[i].off = off;
		d->free[i].len += len;
	} else {
		if (d->nfree == d->capfree) {
			struct pool_extent *n = mem_alloc(sizeof(*n) * d->capfree * 2);

			if (!n) {
				/* keep running: the extent is lost until restart, and said so */
				log_error("pool \"%s\": out of memory; %llu bytes leak", d->path,
					  (unsigned long long)len);
				return;
			}
			memcpy(n, d->free, sizeof(*n) * d->nfree);
			mem_free(d->free);
			d->free = n;
			d->capfree *= 2;
		}
		memmove(&d->free[i + 1], &d->free[i], sizeof(*d->free) * (d->nfree - i));
		d->free[i] = (struct pool_extent){ off, len };
		d->nfree++;
	}
	atomic_fetch_add_explicit(&d->free_bytes, len, memory_order_relaxed);
}

static void alloc_handle(void *ctx, const struct actor_msg *m)
{
	struct pool *p = ctx;
	int ret = 0;

	ACTOR_ASSERT_SELF(&p->alloc);
	switch (m->op) {
	case POOL_ALLOC_CARVE:
		ret = m->u64[0] ? carve(p, m->u64[0], m->u32, m->ptr[0]) : -EINVAL;
		break;
	case POOL_ALLOC_RELEASE:
		if (m->u32 < p->ndevs)
			release(&p->devs[m->u32], m->u64[0], m->u64[1]);
		break;
	default:
		ret = -EINVAL;
	}
	if (m->done)
		completion_signal(m->done, ret);
}

const struct actor_ops pool_alloc_ops = {
	.handle = alloc_handle,
};
