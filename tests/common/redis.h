/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/redis.h - real redis-server processes for the resp adapter
 * tests: the shared code of tools/common/redis_srv.h (also used by
 * kvtier-stress --tier resp).
 */
#ifndef KVT_TESTS_REDIS_H
#define KVT_TESTS_REDIS_H

#include "tools/common/redis_srv.h"

#endif /* KVT_TESTS_REDIS_H */
