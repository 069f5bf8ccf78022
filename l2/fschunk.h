/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fschunk.h - the on-disk format of one chunk of the fs L2 adapter.
 *
 * A chunk of key K lives in <base>/<SS>/<NAME>, where NAME is the 32 lower
 * case hex digits of K.lo then K.hi (each most significant digit first)
 * followed by ".kvc", and SS is NAME's first two digits (256 shards, so no
 * directory grows past a few thousand entries per million chunks).
 *
 * The file is one FSCHUNK_HDR-byte header block, then the payload, and is
 * exactly FSCHUNK_HDR + payload length bytes long (a writer that pads the
 * tail for O_DIRECT truncates it back).  The header is little endian:
 *
 *   0  u64 magic     FSCHUNK_MAGIC, "KVTFSCH1"
 *   8  u32 version   FSCHUNK_VERSION
 *  12  u32 hdr_size  FSCHUNK_HDR
 *  16  u64 key.lo
 *  24  u64 key.hi
 *  32  u64 length    payload bytes
 *  40  u64 sum       XXH3-64 of the payload
 *  48  u64 hdr_sum   XXH3-64 of the whole block with this field zero
 *  56  zero up to FSCHUNK_HDR
 *
 * The header block keeps the payload at an O_DIRECT-aligned offset, and
 * hdr_sum covers all of it, so any bit flip in the block is caught.  A
 * file that fails fschunk_hdr_check() or fschunk_payload_ok() is never
 * served.
 *
 * Threads: any; no state, no threads.
 */
#ifndef KVT_L2_FSCHUNK_H
#define KVT_L2_FSCHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvtier/l2.h"

#define FSCHUNK_HDR 4096u
#define FSCHUNK_ALIGN 4096u     /* O_DIRECT offset, length and address alignment */
#define FSCHUNK_MAGIC 0x314843534654564bull /* "KVTFSCH1" little endian */
#define FSCHUNK_VERSION 1u
#define FSCHUNK_SHARDS 256u
#define FSCHUNK_NAME_LEN 36u    /* 32 hex + ".kvc" */
#define FSCHUNK_SUFFIX ".kvc"

/* What a valid header says. */
struct fschunk_info {
	uint64_t len;
	uint64_t sum;
};

/* Write key's file name (FSCHUNK_NAME_LEN chars and a NUL) into @out. */
void fschunk_name(const struct kvt_key *key, char out[FSCHUNK_NAME_LEN + 1]);

/* The shard of @key, 0..255: the value of its name's first two digits. */
unsigned int fschunk_shard(const struct kvt_key *key);

/* Write shard @shard's directory name ("00".."ff") into @out. */
void fschunk_shard_name(unsigned int shard, char out[3]);

/*
 * fschunk_parse_name() - the key of a chunk file name.
 * Return: true and *@key set when @name is exactly 32 lower case hex digits
 * then ".kvc"; false for anything else (temp files, foreign files).
 */
bool fschunk_parse_name(const char *name, struct kvt_key *key);

/* XXH3-64 of a payload, the sum the header carries (core/hash.h: a
 * hash64_state fed the payload in pieces gives the same). */
uint64_t fschunk_sum(const void *payload, size_t len);

/*
 * fschunk_hdr_encode() - fill the FSCHUNK_HDR-byte block @hdr for a chunk
 * of @key with @len payload bytes whose fschunk_sum() is @sum.
 */
void fschunk_hdr_encode(void *hdr, const struct kvt_key *key, uint64_t len, uint64_t sum);

/*
 * fschunk_hdr_check() - validate a header read from a file.
 * @hdr:     the bytes read from offset 0.
 * @got:     how many were read; fewer than FSCHUNK_HDR is a torn file.
 * @key:     the key the file was opened for.
 * @max_len: the largest payload the caller can take.
 * @out:     receives length and payload sum on success.
 *
 * Return: 0; -EBADMSG for a short, foreign, other-version, other-key or
 * bit-flipped header (the file is bad); -EMSGSIZE for a valid header whose
 * payload exceeds @max_len (the file is fine, the buffer is small).
 */
int fschunk_hdr_check(const void *hdr, size_t got, const struct kvt_key *key,
		      uint64_t max_len, struct fschunk_info *out);

/*
 * fschunk_payload_ok() - true when @got payload bytes at @payload are what
 * the header @info promised: the whole length, with the right sum.
 */
bool fschunk_payload_ok(const struct fschunk_info *info, const void *payload, size_t got);

#endif /* KVT_L2_FSCHUNK_H */
