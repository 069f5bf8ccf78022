/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fault/fault_kvt.c - see fault_kvt.h.
 */
#define _GNU_SOURCE
#include "tests/fault/fault_kvt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tools/common/port.h"

#define FK_MAX 64

void fk_paths(struct fk_setup *s, const char *dir)
{
	snprintf(s->dax_path, sizeof(s->dax_path), "%s/dax.%d", dir, (int)getpid());
}

/* Each set may fail only for want of memory: anything else is a bug here. */
static int set(struct kvt_config *cfg, const char *key, const char *val)
{
	char err[256];
	int ret = kvt_config_set(cfg, key, val, err, sizeof(err));

	if (ret && ret != -ENOMEM)
		harness_fail(__FILE__, __LINE__, "%s=%s: %s", key, val, err);
	return ret;
}

struct kvt_config *fk_config(const struct fk_setup *s, int *ret)
{
	struct kvt_config *cfg;

	*ret = kvt_config_new(&cfg);
	if (*ret)
		return NULL;
	if ((*ret = set(cfg, "chunk_size", "16")) || (*ret = set(cfg, "kv_layers", "1")) ||
	    (*ret = set(cfg, "kv_heads", "1")) || (*ret = set(cfg, "head_dim", "64")) ||
	    (*ret = set(cfg, "max_local_cpu_size", "0.001")) ||
	    (*ret = set(cfg, "put_wait_ms", "200")) ||
	    (*ret = set(cfg, "local_cpu", s->local_cpu ? "true" : "false")))
		goto fail;
	if (s->dax && ((*ret = set(cfg, "dax.device_path", s->dax_path)) ||
		       (*ret = set(cfg, "dax.allow_file_backing", "true")) ||
		       /* 4 MiB: 1,000 slots; 9 MiB: 2,300, two recovery ranges */
		       (*ret = set(cfg, "dax.max_dax_size", s->big_dax ? "0.009" : "0.004")) ||
		       (*ret = set(cfg, "dax.restore_workers", "2"))))
		goto fail;
	if (s->l2_json && (*ret = set(cfg, "l2_adapters", s->l2_json)))
		goto fail;
	if (s->metrics) {
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.1:%d", loopback_free_port());
		if ((*ret = set(cfg, "metrics.listen", addr)))
			goto fail;
	}
	return cfg;
fail:
	kvt_config_free(cfg);
	return NULL;
}

int fk_open(const struct fk_setup *s, struct kvt **out, bool must)
{
	struct kvt_config *cfg;
	char err[512] = "";
	int ret;

	*out = NULL;
	cfg = fk_config(s, &ret);
	if (cfg) {
		ret = kvt_open(cfg, out, err, sizeof(err));
		kvt_config_free(cfg);
	}
	if (ret && must)
		harness_fail(__FILE__, __LINE__, "kvt_open: %s", err);
	if (ret && !err[0] && cfg)
		harness_fail(__FILE__, __LINE__, "kvt_open failed (%d) with no message", ret);
	if (ret && *out)
		harness_fail(__FILE__, __LINE__, "kvt_open failed (%d) but set its instance", ret);
	return ret;
}

void fk_fill(uint64_t id, void *buf)
{
	uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
	unsigned char *p = buf;

	for (size_t i = 0; i < FK_CHUNK; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

long fk_put(struct kvt *kvt, uint64_t first, size_t n)
{
	static unsigned char data[FK_MAX][FK_CHUNK];
	const void *bufs[FK_MAX] = { 0 };
	struct kvt_key keys[FK_MAX] = { 0 };
	size_t lens[FK_MAX] = { 0 };
	int results[FK_MAX];
	ssize_t stored;

	CHECK(n <= FK_MAX);
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(first + i);
		fk_fill(first + i, data[i]);
		bufs[i] = data[i];
		lens[i] = FK_CHUNK;
	}
	stored = kvt_put(kvt, keys, bufs, lens, n, results, NULL, NULL);
	for (size_t i = 0; stored >= 0 && i < n; i++) {
		CHECK(results[i] <= 1);
		if (results[i] < 0)
			return results[i];
	}
	return stored;
}

static long check(struct kvt *kvt, uint64_t first, size_t n, bool all)
{
	static unsigned char out[FK_MAX][FK_CHUNK], want[FK_CHUNK];
	void *bufs[FK_MAX] = { 0 };
	struct kvt_key keys[FK_MAX] = { 0 };
	size_t lens[FK_MAX] = { 0 }, out_lens[FK_MAX] = { 0 }, hits = 0;
	ssize_t got;

	CHECK(n <= FK_MAX);
	for (size_t i = 0; i < n; i++) {
		keys[i] = key_of(first + i);
		bufs[i] = out[i];
		lens[i] = FK_CHUNK;
	}
	got = kvt_get(kvt, keys, n, bufs, lens, out_lens);
	if (got < 0 && all)
		harness_fail(__FILE__, __LINE__, "kvt_get: %s", kvt_strerror((int)got));
	if (got < 0)
		return got;
	for (size_t i = 0; i < n; i++) {
		if (!out_lens[i]) {
			if (all)
				harness_fail(__FILE__, __LINE__, "chunk %llu lost",
					     (unsigned long long)(first + i));
			continue;
		}
		fk_fill(first + i, want);
		if (out_lens[i] != FK_CHUNK || memcmp(out[i], want, FK_CHUNK))
			harness_fail(__FILE__, __LINE__, "chunk %llu reads back wrong",
				     (unsigned long long)(first + i));
		hits++;
	}
	return (long)hits;
}

void fk_check_all(struct kvt *kvt, uint64_t first, size_t n)
{
	check(kvt, first, n, true);
}

long fk_check_some(struct kvt *kvt, uint64_t first, size_t n)
{
	return check(kvt, first, n, false);
}
