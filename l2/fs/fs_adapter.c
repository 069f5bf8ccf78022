/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/fs_adapter.c - the "fs" L2 adapter's ops (see fs_adapter.h): parses
 * the JSON members, copies each submitted task into a job for the disk
 * writer actor through l2/l2_glue.c.
 *
 * Threads: every op may run on any thread, concurrently, except destroy,
 * which runs once, last; the shared state is the glue's (l2/l2_glue.h).
 */
#define _GNU_SOURCE
#include "l2/fs/fs_adapter.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "l2/fs/diskwriter.h"
#include "l2/l2_glue.h"
#include "core/l2_params.h"
#include "core/mem.h"
#include "kvtier/l2.h"

struct kvt_l2_adapter {
	struct l2_glue glue;
	struct diskwriter *dw;
};

L2_GLUE_FIRST(struct kvt_l2_adapter);

/* The glue's jobs are dw_jobs (fs_glue.job_size), whose first member is
 * the l2_job. */
static int post(void *dw, struct l2_job *job)
{
	return diskwriter_submit(dw, (struct dw_job *)job);
}

static int post_delete(void *dw, struct l2_job *job)
{
	return diskwriter_delete(dw, (struct dw_job *)job);
}

static void unlock(void *dw, const struct kvt_key *key)
{
	diskwriter_unlock(dw, key);
}

static const struct l2_glue_actor fs_glue = {
	.type = "fs",
	.job_size = sizeof(struct dw_job),
	.submit = post,
	.delete = post_delete,
	.unlock = unlock,
};

static const char *const fs_keys[] = {
	"base_path", "relative_tmp_dir", "read_ahead_size", "use_odirect", "durable",
	"max_capacity_gb", "io_depth", "bounce_below_gbps", "fault_eio_ppm",
	"fault_odirect_einval", NULL,
};

/* A relative path with no ".." component (and not empty). */
static bool tmp_dir_ok(const char *p)
{
	if (!*p || *p == '/')
		return false;
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += len;
		p += *p == '/';
	}
	return true;
}

static int parse(const struct kvt_l2_config *cfg, struct dw_config *dc, char *err, size_t errlen)
{
	uint64_t depth, ppm;
	double gb;
	int ret;

	ret = l2_params_known(cfg, fs_keys, err, errlen);
	if (ret)
		return ret;
	dc->base_path = l2_param(cfg, "base_path");
	if (!dc->base_path || dc->base_path[0] != '/') {
		snprintf(err, errlen, "fs: base_path: \"%s\": required, an absolute path",
			 dc->base_path ? dc->base_path : "");
		return -EINVAL;
	}
	dc->tmp_dir = l2_param(cfg, "relative_tmp_dir");
	if (dc->tmp_dir && !tmp_dir_ok(dc->tmp_dir)) {
		snprintf(err, errlen,
			 "fs: relative_tmp_dir: \"%s\": must be relative, without \"..\"",
			 dc->tmp_dir);
		return -EINVAL;
	}
	if ((ret = l2_param_u64(cfg, "read_ahead_size", 0, 0, 1ull << 40, &dc->read_ahead, err,
				errlen)) ||
	    (ret = l2_param_bool(cfg, "use_odirect", false, &dc->odirect, err, errlen)) ||
	    (ret = l2_param_bool(cfg, "durable", false, &dc->durable, err, errlen)) ||
	    (ret = l2_param_double(cfg, "max_capacity_gb", 0, 0, 1e9, &gb, err, errlen)) ||
	    (ret = l2_param_u64(cfg, "io_depth", 64, 1, 4096, &depth, err, errlen)) ||
	    (ret = l2_param_double(cfg, "bounce_below_gbps", 2, 0, 1e6, &dc->bounce_below_gbps,
				   err, errlen)) ||
	    (ret = l2_param_u64(cfg, "fault_eio_ppm", 0, 0, 1000000, &ppm, err, errlen)) ||
	    (ret = l2_param_bool(cfg, "fault_odirect_einval", false, &dc->fault_odirect_einval,
				 err, errlen)))
		return ret;
	dc->capacity = (uint64_t)(gb * 1073741824.0);
	dc->io_depth = (unsigned int)depth;
	dc->fault_eio_ppm = (uint32_t)ppm;
	return 0;
}

int fs_conf_check(const struct kvt_l2_config *cfg, char *err, size_t errlen)
{
	struct dw_config dc = { 0 };

	return parse(cfg, &dc, err, errlen);
}

static int fs_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		     struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	struct dw_config dc = { 0 };
	struct kvt_l2_adapter *a;
	int ret;

	ret = parse(cfg, &dc, err, errlen);
	if (ret)
		return ret;
	a = mem_zalloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	ret = l2_glue_init(&a->glue, &fs_glue, err, errlen);
	if (ret)
		goto err_free;
	dc.glue = &a->glue;
	ret = diskwriter_create(&dc, &a->dw, err, errlen);
	if (ret)
		goto err_fini;
	a->glue.actor = a->dw;
	*out = a;
	return 0;
err_fini:
	l2_glue_fini(&a->glue);
err_free:
	mem_free(a);
	return ret;
}

static void fs_destroy(struct kvt_l2_adapter *a)
{
	l2_glue_close(&a->glue);
	diskwriter_destroy(a->dw);
	l2_glue_fini(&a->glue);
	mem_free(a);
}

static int fs_status(struct kvt_l2_adapter *a, struct kvt_l2_status *st)
{
	struct dw_stats s;

	diskwriter_stats(a->dw, &s);
	st->is_healthy = s.healthy;
	st->bytes_used = s.bytes_used;
	st->capacity_bytes = s.capacity;
	st->chunks = s.chunks;
	st->errors = s.errors;
	snprintf(st->detail, sizeof(st->detail),
		 "odirect=%s odirect_fallbacks=%llu bounced_pieces=%llu corrupt_removed=%llu "
		 "enospc_evictions=%llu evictions=%llu stores=%llu loads=%llu",
		 s.odirect ? "on" : "off", (unsigned long long)s.odirect_fallbacks,
		 (unsigned long long)s.bounced_pieces,
		 (unsigned long long)s.corrupt_removed, (unsigned long long)s.enospc_evictions,
		 (unsigned long long)s.evictions, (unsigned long long)s.stores,
		 (unsigned long long)s.loads);
	return 0;
}

const struct kvt_l2_ops fs_l2_ops = {
	.abi_version = KVT_L2_ABI_VERSION,
	.type = "fs",
	.help = "base_path: directory of the chunk files (required, absolute)\n"
		"relative_tmp_dir: temp-file directory below base_path (relative, no \"..\")\n"
		"read_ahead_size: bytes of read-ahead on buffered loads (default 0)\n"
		"use_odirect: O_DIRECT I/O where aligned (default false)\n"
		"durable: fsync file and directory on every store (default false)\n"
		"max_capacity_gb: GiB before oldest-first eviction; 0 = unbounded (default 0)\n"
		"io_depth: io_uring queue depth (default 64)\n"
		"bounce_below_gbps: a buffered load whose kernel copy into the caller's\n"
		"  buffer runs below this GB/s reads its next pieces through a cached\n"
		"  buffer instead; 0 = never (default 2)\n"
		"fault_eio_ppm: test only: store/load I/Os per million that fail (default 0)\n"
		"fault_odirect_einval: test only: the first O_DIRECT I/O fails (default false)\n",
	.create = fs_create,
	.destroy = fs_destroy,
	L2_GLUE_OPS,
	.status = fs_status,
};
