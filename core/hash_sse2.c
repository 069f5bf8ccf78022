/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/hash_sse2.c - XXH3 for any x86-64 (SSE2), or plain C elsewhere;
 * see hash.h.
 */
#define HASH64_IMPL hash64_sse2
#define HASH64_NAME "sse2"
#include "core/hash_impl.h"
