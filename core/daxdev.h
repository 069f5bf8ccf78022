/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/daxdev.h - open, validate and map a Device-DAX region.
 *
 * dax.device_path names either a character device /dev/daxN.M (size and
 * alignment from <sysfs_root>/bus/dax/devices/daxN.M/{size,align}, NUMA node
 * from .../numa_node or the device's parent) or, only with
 * allow_file_backing, a regular file on tmpfs or hugetlbfs (created 0600,
 * sized to the region).  Anything else is refused with a message naming the
 * path and the reason, and leaves no fd or mapping behind.
 *
 * A file the open creates is sized to the region at once; an existing file
 * that is shorter is mapped as it is and extended only by daxdev_grow(),
 * once the caller has checked what its bytes hold (daxdev_backed_bytes():
 * only those may be read before), so a file that is refused keeps its size.
 *
 * The region of @total_bytes (rounded down to the alignment) is split into
 * @world_size aligned partitions; rank @rank maps only its own, so ranks in
 * separate processes never touch each other's bytes.
 *
 * Threads: a daxdev has one owner; daxdev_persist() any thread.
 */
#ifndef KVT_CORE_DAXDEV_H
#define KVT_CORE_DAXDEV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daxdev_opts {
	const char *path;          /* dax.device_path */
	uint64_t total_bytes;      /* dax.max_dax_size in bytes, all ranks together */
	bool allow_file_backing;   /* dax.allow_file_backing */
	const char *sysfs_root;    /* "/sys" unless a test injects a fake tree */
	uint32_t rank;             /* this process's partition: worker_id */
	uint32_t world_size;       /* partitions (1: the whole region) */
};

struct daxdev {
	int fd;
	void *base;                /* this rank's partition */
	size_t map_bytes;          /* its length, a multiple of align */
	uint64_t map_offset;       /* its offset in the device, a multiple of align */
	uint64_t device_bytes;     /* device (or file) size */
	uint64_t file_bytes;       /* the file's size when opened (a device: its size) */
	uint64_t want_bytes;       /* the size daxdev_grow() gives a shorter file */
	size_t align;              /* mapping alignment: sysfs align, or the page size */
	int numa_node;             /* -1 when unknown */
	bool is_char;              /* a real Device-DAX character device */
	bool created;              /* this open created the backing file */
	bool grown;                /* daxdev_grow() extended an existing file */
	bool map_sync;             /* mapped with MAP_SYNC: CPU cache flushes persist */
	char path[PATH_MAX];       /* the resolved path */
};

/*
 * daxdev_open() - validate @o, open and map this rank's partition.
 * @err: receives "dax.device_path: \"...\": reason" on failure.
 * Return: 0; -EINVAL bad path/type/knob; -ENOENT missing; -ENOSPC device
 *         smaller than total_bytes or too small for one aligned partition;
 *         -errno from open/mmap.  On error @d holds nothing to release.
 */
int daxdev_open(struct daxdev *d, const struct daxdev_opts *o, char *err, size_t errlen);

/*
 * daxdev_backed_bytes() - how many bytes from the start of this rank's
 * partition the device backs now: all of them for a character device or a
 * file long enough, fewer (perhaps 0) for an existing file shorter than the
 * region until daxdev_grow().  Only these may be touched before it.
 */
uint64_t daxdev_backed_bytes(const struct daxdev *d);

/*
 * daxdev_grow() - extend a file shorter than the region to its size (never
 * shrinks; a no-op for a device or a file long enough).  daxdev_discard()
 * gives the file its old size back.
 * Return: 0, or -errno from ftruncate with @err naming the path.
 */
int daxdev_grow(struct daxdev *d, char *err, size_t errlen);

/* daxdev_close() - unmap and close; safe on a zeroed or closed daxdev. */
void daxdev_close(struct daxdev *d);

/* daxdev_discard() - daxdev_close(), and unlink the backing file if this
 * open created it, or give a file daxdev_grow() extended its old size back:
 * the caller refused the device after all, so a refused open leaves nothing
 * behind. */
void daxdev_discard(struct daxdev *d);

/*
 * daxdev_persist() - make [addr, addr + len) durable: cache-line flushes and
 * a fence on MAP_SYNC and character-device mappings (Device-DAX has no page
 * cache for msync to write back), msync otherwise.  Threads: any.
 */
void daxdev_persist(const struct daxdev *d, const void *addr, size_t len);

/*
 * daxdev_sysfs_geometry() - read <@sysfs_root>/bus/dax/devices/@name/{size,
 * align,numa_node}, strictly: decimal only, align a power of two of at least
 * the page size (2 MiB when the file is absent), size not 0, numa_node from
 * the device or its device/ link (-1 when neither has one).  Internal to
 * daxdev_open(); exported for tests against a fake sysfs tree.
 * @err: receives "dax.device_path: \"/dev/@name\": reason" on failure.
 * Return: 0; -EINVAL bad name or value; -ENOENT device or size missing;
 *         -ENOSPC size 0; -errno reading.  Outputs are set on success only.
 */
int daxdev_sysfs_geometry(const char *sysfs_root, const char *name, uint64_t *size,
			  uint64_t *align, int *numa_node, char *err, size_t errlen);

#endif /* KVT_CORE_DAXDEV_H */
