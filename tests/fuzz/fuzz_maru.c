/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_maru.c - libFuzzer target for kvtier-poold's decoders:
 * the Maru RPC frame decoder (and its MessagePack reader) and the RM
 * header/payload decoder.  Thread-free code only; no daemon needed.
 *
 * Build and run (clang 14 with libclang-rt-14-dev), from the repo root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DKVT_NO_JEMALLOC \
 *       -Iinclude -I. $(pkg-config --cflags msgpack) \
 *       tests/fuzz/fuzz_maru.c core/maru_rpc.c core/maru_mp.c core/maru_rm.c \
 *       $(pkg-config --libs msgpack) -o build/fuzz_maru
 *   mkdir -p build/fuzz-corpus && build/fuzz_maru -max_total_time=60 build/fuzz-corpus
 */
#include <stddef.h>
#include <stdint.h>

#include "core/maru_rm.h"
#include "core/maru_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maru_req r;
	struct maru_rm_req q;
	const char *why;

	(void)maru_req_decode(data, size, 1 << 20, &r, &why);
	maru_req_release(&r);
	if (maru_rm_hdr_decode(data, size, &q.hdr) == 0)
		(void)maru_rm_req_decode(data + MARU_RM_HDR_SIZE, size - MARU_RM_HDR_SIZE, &q);
	return 0;
}
