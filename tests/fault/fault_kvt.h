/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fault/fault_kvt.h - the instances the fault areas run on and the
 * data that must survive them: chunks whose bytes derive from their id, so
 * any chunk read back can be checked byte for byte.
 */
#ifndef KVT_TESTS_FAULT_KVT_H
#define KVT_TESTS_FAULT_KVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvtier.h"

#define FK_CHUNK 4096 /* chunk_size 16 x 1 layer x 2 x 1 head x 64 dim x bf16 */

struct fk_setup {
	bool dax;                 /* a file-backed DAX tier under the case's /dev/shm dir */
	bool big_dax;             /* with dax: slots enough for a 2-thread recovery scan */
	bool local_cpu;           /* L1 holds chunks (false: L2 or DAX alone reads them) */
	const char *l2_json;      /* l2_adapters, or NULL */
	bool metrics;             /* metrics.listen on a free loopback port */
	char dax_path[256];       /* set by fk_paths() when dax */
};

/* Name this child's DAX file (per pid) under @dir. */
void fk_paths(struct fk_setup *s, const char *dir);

/* A config for @s; NULL (errno-style code in *@ret) when an allocation failed. */
struct kvt_config *fk_config(const struct fk_setup *s, int *ret);

/* kvt_open() of @s: 0 or its error; fails the case only when @must. */
int fk_open(const struct fk_setup *s, struct kvt **out, bool must);

/* Fill @buf with chunk @id's bytes, its length FK_CHUNK. */
void fk_fill(uint64_t id, void *buf);

/* kvt_put() of ids [first, first + n): the number stored, or its error or
 * the first key's error. */
long fk_put(struct kvt *kvt, uint64_t first, size_t n);

/* Every id of [first, first + n) reads back byte for byte (fails the case
 * naming the first that does not). */
void fk_check_all(struct kvt *kvt, uint64_t first, size_t n);

/* Each id of [first, first + n) is a hole or reads back byte for byte;
 * return how many hit, or kvt_get()'s error. */
long fk_check_some(struct kvt *kvt, uint64_t first, size_t n);

#endif /* KVT_TESTS_FAULT_KVT_H */
