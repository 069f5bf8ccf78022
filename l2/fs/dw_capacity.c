/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/dw_capacity.c - the disk writer's capacity upkeep (see
 * dw_internal.h): the scan that rebuilds the size map at create, and
 * oldest-first eviction of unlocked chunks.  Actor thread only, or the
 * creating thread before the actor starts.  The map only drives capacity
 * and holds the lock counts; chunks other processes write are counted once
 * a lookup or store of this process sees them.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "l2/fs/dw_internal.h"
#include "core/log.h"
#include "core/mem.h"

/* Evict the oldest unlocked chunks until at most @target bytes are used.
 * Return: chunks evicted. */
uint64_t dw_evict_until(struct diskwriter *dw, uint64_t target)
{
	struct fs_sizemap_ent *e, *tmp;
	uint64_t n = 0;

	cds_list_for_each_entry_safe(e, tmp, &dw->sizes.age, age) {
		char name[FSCHUNK_NAME_LEN + 1];
		int sfd;

		if (dw->sizes.used <= target)
			break;
		if (e->locks)
			continue;
		fschunk_name(&e->key, name);
		sfd = dw_shard_open(dw, fschunk_shard(&e->key), false);
		if (sfd >= 0 && unlinkat(sfd, name, 0) < 0 && errno != ENOENT) {
			log_warn("fs: %s: evict %s: %s", dw->base_path, name, strerror(errno));
			dw_bump(&dw->st_errors, 1);
			continue;
		}
		fs_sizemap_unsize(&dw->sizes, e);
		n++;
	}
	dw_bump(&dw->st_evictions, n);
	return n;
}

/* Append the chunk files of shard @s to @v (growing it).  Temp files,
 * symlinks, foreign names and files too short for a header are skipped. */
static int scan_shard(struct diskwriter *dw, unsigned int s, struct fs_sizemap_seed **v, size_t *n,
		      size_t *cap)
{
	int sfd = dw_shard_open(dw, s, false);
	struct dirent *de;
	DIR *d;
	int fd;

	if (sfd == -ENOENT)
		return 0;
	if (sfd < 0)
		return sfd;
	fd = dup(sfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct fs_sizemap_seed se;
		struct stat st;

		if (!fschunk_parse_name(de->d_name, &se.key) || fschunk_shard(&se.key) != s ||
		    fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size < FSCHUNK_HDR)
			continue;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 256;
			struct fs_sizemap_seed *nv = mem_alloc(ncap * sizeof(*nv));

			if (!nv) {
				closedir(d);
				return -ENOMEM;
			}
			if (*n)
				memcpy(nv, *v, *n * sizeof(*nv));
			mem_free(*v);
			*v = nv;
			*cap = ncap;
		}
		se.bytes = (uint64_t)st.st_size;
		se.mtime = st.st_mtim;
		(*v)[(*n)++] = se;
	}
	closedir(d);
	return 0;
}

/* Rebuild the size map from the files on disk, oldest first. */
int dw_scan(struct diskwriter *dw)
{
	struct fs_sizemap_seed *v = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	for (unsigned int s = 0; s < FSCHUNK_SHARDS && !ret; s++)
		ret = scan_shard(dw, s, &v, &n, &cap);
	if (!ret)
		ret = fs_sizemap_load(&dw->sizes, v, n);
	mem_free(v);
	return ret;
}
