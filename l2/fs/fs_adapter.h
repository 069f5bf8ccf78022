/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/fs/fs_adapter.h - the "fs" L2 adapter: one file per chunk under a
 * directory (format in l2/fschunk.h), written and read by its disk
 * writer actor (l2/fs/diskwriter.h) through io_uring.  Several processes
 * may share one directory; a restart is warm.  JSON members (all scalars):
 *
 *   base_path            required, absolute; made 0700 if missing; not a symlink
 *   relative_tmp_dir     temp files go here (relative to base_path, no "..")
 *   read_ahead_size      bytes of read-ahead hinted on buffered loads
 *   use_odirect          true: O_DIRECT where aligned (falls back once refused)
 *   durable              true: fsync each file before it is published, and its dir
 *   max_capacity_gb      GiB; 0 (default) = unbounded; else oldest-first eviction
 *   io_depth             io_uring entries and keys per I/O window (default 64)
 *   fault_eio_ppm        test only: store/load I/Os per million failed with EIO
 *   fault_odirect_einval test only: the first O_DIRECT I/O fails with EINVAL
 */
#ifndef KVT_L2_FS_FS_ADAPTER_H
#define KVT_L2_FS_FS_ADAPTER_H

#include "kvtier/l2.h"

/* The ops of type "fs", ABI KVT_L2_ABI_VERSION; see struct kvt_l2_ops for
 * the contract of each.  on_done runs on the adapter's disk writer thread;
 * it may submit more tasks (never destroy the adapter). */
extern const struct kvt_l2_ops fs_l2_ops;

/* fs_conf_check() - every member of @cfg checked as create parses it
 * (known keys, values, base_path absolute), touching no file.
 * Return: 0, or -EINVAL with @err naming the key and value. */
int fs_conf_check(const struct kvt_l2_config *cfg, char *err, size_t errlen);

#endif /* KVT_L2_FS_FS_ADAPTER_H */
