/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_fschunk.c - libFuzzer target for the chunk file format
 * of the fs L2 adapter (l2/fschunk.c), also the value format of the resp
 * and pool adapters: the input is a chunk file (header block + payload),
 * in a heap buffer of exactly its size, checked as dw_load.c and
 * `kvtier inspect DIR --verify` do, and as resp_value_check() does.
 *
 * Input: 2 control bytes, then the file.
 *   [0] bit 0: seal the header (write its hdr_sum), so the fuzzer gets
 *         past the checksum to the length and key fields
 *       bit 1: before that, write the payload's sum into the header
 *       bit 2: open it for the key the header names (else key { 1, 2 })
 *   [1] the caller's buffer: 0 -> unbounded, else 2^(byte % 40) bytes
 * Also: the file's first bytes as a file name (fschunk_parse_name()), which
 * must give back the same name; an encode of what a valid header says must
 * check back the same.  A broken promise aborts.
 *
 * Built by configure.py (build/fuzz/fuzz_fschunk); seeds in
 * tests/fuzz/corpus/fschunk (tests/fuzz/gen_seeds.c writes them).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "l2/fschunk.h"
#include "l2/resp/resp_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void name_side(const uint8_t *data, size_t size)
{
	char name[FSCHUNK_NAME_LEN + 8], back[FSCHUNK_NAME_LEN + 1];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	struct kvt_key key;

	memcpy(name, data, n);
	name[n] = '\0';
	if (!fschunk_parse_name(name, &key))
		return;
	fschunk_name(&key, back);
	if (strcmp(name, back) || fschunk_shard(&key) > 255) {
		fprintf(stderr, "name %s parses to a key named %s\n", name, back);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvt_key key = { .lo = 1, .hi = 2 };
	struct fschunk_info info, info2;
	uint8_t hdr[FSCHUNK_HDR];
	uint64_t max_len;
	uint8_t flags;
	uint8_t *file;
	int ret, ret2;

	if (size < 2)
		return 0;
	flags = data[0];
	max_len = data[1] ? 1ull << (data[1] % 40) : UINT64_MAX;
	data += 2;
	size -= 2;
	name_side(data, size);
	file = malloc(size ? size : 1);
	if (!file)
		abort();
	memcpy(file, data, size);
	if (size >= FSCHUNK_HDR) {
		if (flags & 2)
			memcpy(file + 40, &(uint64_t){ fschunk_sum(file + FSCHUNK_HDR,
								   size - FSCHUNK_HDR) }, 8);
		if (flags & 1) {
			memset(file + 48, 0, 8);
			memcpy(file + 48, &(uint64_t){ XXH3_64bits(file, FSCHUNK_HDR) }, 8);
		}
		if (flags & 4) {
			key.lo = get64(file + 16);
			key.hi = get64(file + 24);
		}
	}
	/* as dw_load.c: the header block, then the payload it promises */
	ret = fschunk_hdr_check(file, size < FSCHUNK_HDR ? size : FSCHUNK_HDR, &key, max_len, &info);
	if (ret && ret != -EBADMSG && ret != -EMSGSIZE)
		abort();
	if (!ret) {
		size_t got = size - FSCHUNK_HDR;

		if (info.len > max_len)
			abort();
		(void)fschunk_payload_ok(&info, file + FSCHUNK_HDR,
					 got < info.len ? got : (size_t)info.len);
		/* what the header says encodes back to a header that says it */
		fschunk_hdr_encode(hdr, &key, info.len, info.sum);
		if (fschunk_hdr_check(hdr, sizeof(hdr), &key, info.len, &info2) ||
		    info2.len != info.len || info2.sum != info.sum)
			abort();
	}
	/* as the resp adapter: the whole value at once */
	ret2 = resp_value_check(file, size, &key, max_len, &info2);
	if (!ret2 && (ret || info2.len != size - FSCHUNK_HDR ||
		      !fschunk_payload_ok(&info2, file + FSCHUNK_HDR, size - FSCHUNK_HDR))) {
		fprintf(stderr, "resp_value_check() accepts what fschunk_hdr_check() refuses\n");
		abort();
	}
	free(file);
	return 0;
}
