/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_maru.c - libFuzzer target for kvtier-poold's decoders:
 * the Maru RPC frame decoder (and its MessagePack reader) and the RM
 * header/payload decoders, of the Unix socket (version 1) and TCP (version 2).  Thread-free code only; no daemon needed.
 *
 * Built by configure.py (build/fuzz/fuzz_maru, clang -fsanitize=fuzzer);
 * `ninja check` runs it for 20 s over tests/fuzz/corpus/maru, `ninja fuzz`
 * for 600 s (KVT_FUZZ_SECONDS changes both).
 */
#include <stddef.h>
#include <stdint.h>

#include "proto/maru/maru_rm.h"
#include "proto/maru/maru_rm_tcp.h"
#include "proto/maru/maru_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maru_req r;
	struct maru_rm_req q;
	struct maru_handle h;
	const char *why;

	(void)maru_req_decode(data, size, 1 << 20, &r, &why);
	maru_req_release(&r);
	if (maru_rm_hdr_decode(data, size, &q.hdr) == 0)
		(void)maru_rm_req_decode(data + MARU_RM_HDR_SIZE, size - MARU_RM_HDR_SIZE, &q);
	if (maru_rm_tcp_hdr_decode(data, size, &q.hdr) == 0 &&
	    q.hdr.len <= size - MARU_RM_HDR_SIZE)
		(void)maru_rm_tcp_handle_decode(data + MARU_RM_HDR_SIZE, q.hdr.len, &h);
	return 0;
}
