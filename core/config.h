/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/config.h - the knobs of one kvtier instance.
 *
 * Every knob is one row of the table in core/config.c (key, type, range,
 * default, KVT_* name, one-line doc); YAML, the environment and
 * kvt_config_set() all go through that table, so validation lives in one
 * place.  The fields below are what the rest of the library reads after
 * kvt_open() copied the config.
 *
 * Threads: a config has one owner; kvt_open() copies it.
 */
#ifndef KVT_CORE_CONFIG_H
#define KVT_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_STR_MAX 256
#define CONFIG_IGNORED_MAX 64
#define CONFIG_PATH_MAX 1024
#define CONFIG_L2_MAX 4096

struct kvt_config {
	/* LMCache top-level keys */
	uint32_t chunk_size;            /* tokens per chunk */
	bool local_cpu;                 /* L1 DRAM tier serves reads */
	double max_local_cpu_size;      /* GB of L1 slots */
	bool use_only_staging_buffer;   /* L1 only stages lower-tier writes */

	/* the namespace of every key, and the chunk shape */
	char model_name[CONFIG_STR_MAX];
	uint32_t world_size;
	uint32_t worker_id;
	char kv_dtype[32];              /* bfloat16, float16, float32, fp8_e4m3, fp8_e5m2, int8 */
	char kv_layout[32];             /* opaque engine layout tag */
	char tenant_salt[CONFIG_STR_MAX];
	uint32_t kv_layers;
	uint32_t kv_heads;
	uint32_t head_dim;
	bool use_mla;                   /* one latent tensor instead of K and V */

	/* behaviour */
	uint32_t pin_ttl_ms;            /* 0: pins never expire */
	uint32_t put_wait_ms;           /* bounded wait for a free slot */
	uint32_t staging_wait_ms;       /* bounded wait for a staging buffer */
	double l1_evict_low;            /* free fraction that starts eviction */
	double l1_evict_high;           /* free fraction eviction stops at */
	int32_t l1_numa_node;           /* -1: local to the opener */
	bool l1_prefault;               /* touch every L1 page at open */
	uint64_t l1_prefault_ahead;     /* bytes faulted in ahead of the puts (l1.prefault false) */
	uint32_t l1_prefetch_workers;
	uint32_t mailbox_depth;         /* messages per actor mailbox, power of 2 */
	uint32_t mailbox_wait_ms;       /* bounded wait when a mailbox is full */

	/* Device-DAX tier (extra_config dax.*); off while device_path is empty */
	char dax_device_path[CONFIG_PATH_MAX];
	double dax_max_dax_size;        /* GiB on the device, all ranks together */
	bool dax_allow_file_backing;    /* a tmpfs/hugetlbfs file instead of /dev/daxN.M */
	char dax_mode[16];              /* auto | tiered | primary; see config_dax_mode() */
	bool dax_async_put;             /* L1 -> DAX copies by the DAX writer actor */
	bool dax_promote;               /* copy DAX hits into L1 */
	uint32_t dax_restore_workers;
	uint32_t dax_restore_max_regions;   /* 0: restore_workers */
	uint64_t dax_retrieve_staging_slab_bytes; /* 0: max(256 MiB, regions x slot) */
	char dax_eviction[16];          /* clock | none */
	bool dax_reinit;                /* reformat a device holding another namespace */
	char dax_partition[16];         /* auto | none */
	char dax_sysfs_root[CONFIG_PATH_MAX];

	/* the shared pool (kvtier-poold): an implicit "pool" L2 adapter, or
	 * settings for a configured one that omits them */
	char pool_server[CONFIG_STR_MAX];   /* metadata RPC endpoint */
	char maru_path[CONFIG_STR_MAX];     /* LMCache's maru://host:port */
	char pool_rm[CONFIG_PATH_MAX];      /* kvtier-poold's resource socket */
	double pool_size_gb;                /* 0: the adapter's default */
	bool pool_auto_expand;
	uint32_t pool_expand_size;          /* MiB; 0: pool.size_gb's */

	/* L2 adapters (LMCache's --l2-adapter JSON), in priority order */
	char l2_adapters[CONFIG_L2_MAX];
	char l2_plugin_dirs[CONFIG_PATH_MAX]; /* colon-separated */
	uint32_t l2_admit_after_hits;   /* 0: write through on put; N: on the Nth read */

	/* the Prometheus endpoint (api/metrics.c); "" keeps it off */
	char metrics_listen[64];

	/* LMCache keys accepted and ignored, for kvt_config_ignored() */
	char ignored[CONFIG_IGNORED_MAX][64];
	size_t nignored;
};

/* Bytes per dtype element for @kv_dtype, or 0 if unknown. */
size_t config_dtype_bytes(const char *kv_dtype);

/* Bytes of one full chunk: (mla ? 1 : 2) x layers x tokens x heads x dim x dtype. */
size_t config_chunk_bytes(const struct kvt_config *cfg);

/*
 * config_err_end() - a public call that takes an error buffer and fails
 * says why there.  Deep failures (out of memory inside a parser) have no
 * more to say than their code, so @what (the call) names them; @err must
 * have been emptied when the call began (config_err_begin()).
 * Return: @ret.
 */
int config_err_end(int ret, char *err, size_t errlen, const char *what);

static inline void config_err_begin(char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
}

/*
 * config_check() - cross-knob checks kvt_open() runs (watermarks ordered,
 * L1 big enough for one slot, staging mode needs local_cpu false, ...).
 * Return: 0, or -EINVAL with @err naming the knobs.
 */
int config_check(const struct kvt_config *cfg, char *err, size_t errlen);

/*
 * config_dax_mode() - "tiered" or "primary": dax.mode when given, else
 * derived from local_cpu as LMCache reads a DAX config: local_cpu true
 * keeps L1 as the hot cache in front of DAX (tiered); local_cpu false
 * leaves DAX holding the chunks, CPU memory no cache (primary).
 */
const char *config_dax_mode(const struct kvt_config *cfg);

/* Where a value given to config_set_one() came from in YAML. */
enum config_shape {
	CONFIG_SCALAR,
	CONFIG_SEQUENCE,
	CONFIG_MAP,
};

/*
 * config_set_one() - the one path every knob is set by (defaults, YAML,
 * KVT_*, kvt_config_set()); records ignored LMCache keys.  @value is the
 * text of a scalar, or for a sequence or map a rendering used in messages.
 * Return: 0, or -EINVAL with @err naming the key and value; @cfg unchanged.
 */
int config_set_one(struct kvt_config *cfg, const char *key, const char *value,
		   enum config_shape shape, char *err, size_t errlen);

/* Whether a YAML map under @prefix holds nested dotted keys ("l1"). */
bool config_is_section(const char *prefix);

#endif /* KVT_CORE_CONFIG_H */
