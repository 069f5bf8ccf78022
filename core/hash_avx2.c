/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/hash_avx2.c - XXH3 with AVX2; see hash.h.  The only file compiled
 * with -mavx2 (configure.py FILE_CFLAGS): the compiler may use AVX2
 * anywhere in it, so nothing here runs unless hash64_avx2_usable().
 * Elsewhere than x86-64 it is the baseline code under another name.
 */
#if defined(__x86_64__) && !defined(__AVX2__)
#error "core/hash_avx2.c must be compiled with -mavx2 (configure.py FILE_CFLAGS)"
#endif
#define HASH64_IMPL hash64_avx2
#define HASH64_NAME "avx2"
#include "core/hash_impl.h"
