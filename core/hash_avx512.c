/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/hash_avx512.c - XXH3 with AVX-512 (F); see hash.h.  Compiled alone
 * with -mavx512f (configure.py FILE_CFLAGS): the compiler may use AVX-512
 * anywhere in it, so nothing here runs unless hash64_avx512_usable().
 * Elsewhere than x86-64 it is the baseline code under another name.
 */
#if defined(__x86_64__) && !defined(__AVX512F__)
#error "core/hash_avx512.c must be compiled with -mavx512f (configure.py FILE_CFLAGS)"
#endif
#define HASH64_IMPL hash64_avx512
#define HASH64_NAME "avx512"
#include "core/hash_impl.h"
