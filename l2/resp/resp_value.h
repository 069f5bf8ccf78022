/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/resp_value.h - what the "resp" L2 adapter keeps in Redis.
 *
 * Key name: the configured head (prefix, then "{tag}" when hash_tag is set)
 * then the 32 lower case hex digits of the chunk key (key.lo then key.hi,
 * as in fs file names), e.g. "kvt:0123...ef".  The chunk key already mixes
 * in the namespace, so two namespaces never share a name.
 *
 * Value: exactly the fs chunk file (l2/fschunk.h): one FSCHUNK_HDR-byte
 * header (magic, version, key, length, XXH3 of the payload, XXH3 of the
 * header) then the payload.  A value that is short, foreign, of another
 * key, or flipped anywhere is a miss, never data.
 *
 * Threads: any; no state.
 */
#ifndef KVT_L2_RESP_RESP_VALUE_H
#define KVT_L2_RESP_RESP_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "l2/fschunk.h"
#include "l2/resp/resp_conf.h"
#include "kvtier/l2.h"

/*
 * resp_key_name() - write @key's name under @conf into @out (NUL ended).
 * Return: its length (< RESP_KEY_MAX).
 */
size_t resp_key_name(const struct resp_conf *conf, const struct kvt_key *key,
		     char out[RESP_KEY_MAX]);

/* resp_value_header() - fill the FSCHUNK_HDR-byte @hdr of a value holding
 * @len bytes at @payload under @key (hashes the payload). */
void resp_value_header(void *hdr, const struct kvt_key *key, const void *payload, size_t len);

/*
 * resp_value_check() - validate a whole value read back.
 * @val, @len: the value as Redis returned it.
 * @max_len:   room in the caller's buffer.
 * @info:      receives the payload's length (payload at @val + FSCHUNK_HDR).
 * Return: 0; -EBADMSG when the value is short, long, foreign, of another
 * key or corrupt; -EMSGSIZE when it is valid but its payload exceeds
 * @max_len.
 */
int resp_value_check(const void *val, size_t len, const struct kvt_key *key, uint64_t max_len,
		     struct fschunk_info *info);

#endif /* KVT_L2_RESP_RESP_VALUE_H */
