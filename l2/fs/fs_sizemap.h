/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/fs_sizemap.h - the fs adapter's size map: key -> bytes on disk,
 * oldest first, and the lookup lock counts of each key.
 *
 * An entry exists while its key is sized (a file is counted) or locked
 * (a lookup hit not yet unlocked); it is on the age list while sized.
 * Nothing needs the map for correctness (lookups look at the real files);
 * it drives capacity eviction and holds the lock counts.  The map is a
 * sorted array of entry pointers, binary searched: inserts move pointers,
 * which at a few million entries is still a fraction of one chunk's I/O.
 *
 * Threads: none; the caller serializes (the disk writer actor owns one).
 */
#ifndef KVT_L2_FS_FS_SIZEMAP_H
#define KVT_L2_FS_FS_SIZEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <urcu/list.h>

#include "kvtier/l2.h"

struct fs_sizemap_ent {
	struct kvt_key key;
	uint64_t bytes;
	uint32_t locks;
	bool sized;
	struct cds_list_head age;   /* on fs_sizemap.age while sized */
};

struct fs_sizemap {
	struct fs_sizemap_ent **map; /* sorted by key */
	size_t n;
	size_t cap;
	struct cds_list_head age;    /* sized entries, oldest first */
	uint64_t used;               /* bytes of the sized entries */
	uint64_t nsized;
};

/* A file found on disk, for fs_sizemap_load(). */
struct fs_sizemap_seed {
	struct kvt_key key;
	uint64_t bytes;
	struct timespec mtime;
};

void fs_sizemap_init(struct fs_sizemap *m);

/* Free every entry and the array. */
void fs_sizemap_fini(struct fs_sizemap *m);

/* The entry of @key, or NULL. */
struct fs_sizemap_ent *fs_sizemap_find(const struct fs_sizemap *m, const struct kvt_key *key);

/*
 * fs_sizemap_get() - the entry of @key, added unsized and unlocked if
 * absent.  Allocates.
 * Return: the entry, or NULL when out of memory (nothing changed).
 */
struct fs_sizemap_ent *fs_sizemap_get(struct fs_sizemap *m, const struct kvt_key *key);

/* Count @bytes for @e, as the newest, unless it is counted already. */
void fs_sizemap_size(struct fs_sizemap *m, struct fs_sizemap_ent *e, uint64_t bytes);

/* Forget @e's file; free @e unless a lock still holds it. */
void fs_sizemap_unsize(struct fs_sizemap *m, struct fs_sizemap_ent *e);

/* Count a file of @bytes for @key unless counted already.  Allocates; out
 * of memory leaves the file uncounted. */
void fs_sizemap_account(struct fs_sizemap *m, const struct kvt_key *key, uint64_t bytes);

/*
 * fs_sizemap_load() - fill an empty map with the files @v[0..@n) found by
 * a scan, aged by mtime (sorts @v).  Allocates.
 * Return: 0, or -ENOMEM (the map then holds a prefix of the files).
 */
int fs_sizemap_load(struct fs_sizemap *m, struct fs_sizemap_seed *v, size_t n);

#endif /* KVT_L2_FS_FS_SIZEMAP_H */
