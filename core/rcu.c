/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/rcu.c - the TSan sync object of core/rcu.h (TSan builds only).
 */
#include "core/rcu.h"

#ifdef KVT_TSAN
char rcu_tsan_grace;
#else
/* ISO C forbids an empty translation unit */
typedef int rcu_tsan_unused;
#endif
