/* SPDX-License-Identifier: Apache-2.0 */
/* core/config_knobs.c - see config_knobs.h.  One row per knob. */
#include "core/config_knobs.h"

#include <stdint.h>

#include "core/config.h"

#define FIELD(f) (((struct kvt_config *)0)->f)

/*
 * The _Generic selections make a row whose field has the wrong C type fail
 * to compile: there is no default branch.
 */
#define KNOB_U32(k, f, lo, hi, fl, d, text)                                   \
	{ .key = k, .type = KNOB_UINT32,                                      \
	  .off = _Generic(FIELD(f), uint32_t: offsetof(struct kvt_config, f)), \
	  .size = sizeof(FIELD(f)), .min = lo, .max = hi, .flags = fl,        \
	  .def = d, .doc = text }
#define KNOB_U64(k, f, lo, hi, d, text)                                       \
	{ .key = k, .type = KNOB_UINT64,                                      \
	  .off = _Generic(FIELD(f), uint64_t: offsetof(struct kvt_config, f)), \
	  .size = sizeof(FIELD(f)), .min = lo, .max = hi, .def = d, .doc = text }
#define KNOB_I32(k, f, lo, hi, d, text)                                       \
	{ .key = k, .type = KNOB_INT32,                                       \
	  .off = _Generic(FIELD(f), int32_t: offsetof(struct kvt_config, f)), \
	  .size = sizeof(FIELD(f)), .min = lo, .max = hi, .def = d, .doc = text }
#define KNOB_DBL(k, f, lo, hi, fl, d, text)                                   \
	{ .key = k, .type = KNOB_DOUBLE,                                      \
	  .off = _Generic(FIELD(f), double: offsetof(struct kvt_config, f)),  \
	  .size = sizeof(FIELD(f)), .min = lo, .max = hi, .flags = fl,        \
	  .def = d, .doc = text }
#define KNOB_BOOL(k, f, d, text)                                              \
	{ .key = k, .type = KNOB_BOOL,                                        \
	  .off = _Generic(FIELD(f), bool: offsetof(struct kvt_config, f)),    \
	  .size = sizeof(FIELD(f)), .def = d, .doc = text }
#define KNOB_STR(k, f, d, text)                                               \
	{ .key = k, .type = KNOB_STRING,                                      \
	  .off = _Generic(FIELD(f), char *: offsetof(struct kvt_config, f)),  \
	  .size = sizeof(FIELD(f)), .def = d, .doc = text }
#define KNOB_L2(k, f, d, text)                                                \
	{ .key = k, .type = KNOB_L2_JSON,                                     \
	  .off = _Generic(FIELD(f), char *: offsetof(struct kvt_config, f)),  \
	  .size = sizeof(FIELD(f)), .def = d, .doc = text }
#define KNOB_ADDR(k, f, d, text)                                              \
	{ .key = k, .type = KNOB_LISTEN,                                      \
	  .off = _Generic(FIELD(f), char *: offsetof(struct kvt_config, f)),  \
	  .size = sizeof(FIELD(f)), .def = d, .doc = text }
#define KNOB_ENUM(k, f, ch, d, text)                                          \
	{ .key = k, .type = KNOB_ENUM,                                        \
	  .off = _Generic(FIELD(f), char *: offsetof(struct kvt_config, f)),  \
	  .size = sizeof(FIELD(f)), .choices = ch, .def = d, .doc = text }

static const char *const dtype_names[] = {
	"bfloat16", "float16", "float32", "fp8_e4m3", "fp8_e5m2", "int8", NULL,
};

static const char *const dax_modes[] = { "auto", "tiered", "primary", NULL };
static const char *const dax_evictions[] = { "clock", "none", NULL };
static const char *const dax_partitions[] = { "auto", "none", NULL };

const struct knob config_knobs[] = {
	KNOB_U32("chunk_size", chunk_size, 1, 1 << 20, 0, "256",
		 "tokens per chunk"),
	KNOB_BOOL("local_cpu", local_cpu, "true",
		  "L1 DRAM tier serves reads"),
	/* 0 is LMCache's DAX primary config (local_cpu false): no L1 at all;
	 * config_check() refuses it wherever L1 holds or stages chunks */
	KNOB_DBL("max_local_cpu_size", max_local_cpu_size, 0, 4096,
		 0, "5.0", "GB of L1 DRAM slots"),
	KNOB_BOOL("use_only_staging_buffer", use_only_staging_buffer, "false",
		  "L1 only stages writes to lower tiers (needs local_cpu false)"),
	KNOB_STR("model_name", model_name, "",
		 "model name, part of every key's namespace"),
	KNOB_U32("world_size", world_size, 1, 4096, 0, "1",
		 "tensor-parallel world size, part of the namespace"),
	KNOB_U32("worker_id", worker_id, 0, 4095, 0, "0",
		 "this worker's rank, below world_size"),
	KNOB_ENUM("kv_dtype", kv_dtype, dtype_names, "bfloat16",
		  "KV element type"),
	KNOB_STR("kv_layout", kv_layout, "",
		 "opaque engine layout tag, part of the namespace"),
	KNOB_STR("tenant_salt", tenant_salt, "",
		 "per-tenant salt mixed into every key"),
	KNOB_U32("kv_layers", kv_layers, 1, 1024, 0, "24",
		 "layers per chunk"),
	KNOB_U32("kv_heads", kv_heads, 1, 1024, 0, "2",
		 "KV heads per layer"),
	KNOB_U32("head_dim", head_dim, 1, 4096, 0, "64",
		 "elements per head"),
	KNOB_BOOL("use_mla", use_mla, "false",
		  "one latent tensor per layer instead of K and V"),
	KNOB_U32("pin_ttl_ms", pin_ttl_ms, 0, 86400000, 0, "0",
		 "pins expire after this long; 0: never"),
	KNOB_U32("put_wait_ms", put_wait_ms, 0, 600000, 0, "1000",
		 "bounded wait for a free slot"),
	KNOB_U32("staging_wait_ms", staging_wait_ms, 0, 600000, 0, "1000",
		 "bounded wait for a staging buffer"),
	KNOB_DBL("l1.evict_low", l1_evict_low, 0, 1, 0, "0.05",
		 "free fraction of L1 that starts eviction"),
	KNOB_DBL("l1.evict_high", l1_evict_high, 0, 1, 0, "0.10",
		 "free fraction of L1 eviction stops at"),
	KNOB_I32("l1.numa_node", l1_numa_node, -1, 1023, "-1",
		 "NUMA node of L1 memory; -1: local to the opener"),
	KNOB_BOOL("l1.prefault", l1_prefault, "false",
		  "fault in all L1 memory at open: steady put latency, slower open"),
	KNOB_U64("l1.prefault_ahead", l1_prefault_ahead, 0, 1099511627776.0, "268435456",
		 "without l1.prefault: bytes of L1 a background actor faults in ahead of the puts (0: none)"),
	KNOB_U32("l1.prefetch_workers", l1_prefetch_workers, 1, 64, 0, "1",
		 "threads that prefetch into L1"),
	KNOB_STR("dax.device_path", dax_device_path, "",
		 "Device-DAX tier: /dev/daxN.M, or a tmpfs/hugetlbfs file with dax.allow_file_backing (empty: no DAX tier)"),
	KNOB_DBL("dax.max_dax_size", dax_max_dax_size, 0, 1 << 20, 0, "0",
		 "GiB of the device used, all ranks together (rounded down to the alignment and whole slots)"),
	KNOB_BOOL("dax.allow_file_backing", dax_allow_file_backing, "false",
		  "accept a regular file on tmpfs/hugetlbfs as the device (development, tests)"),
	KNOB_ENUM("dax.mode", dax_mode, dax_modes, "auto",
		  "auto: from local_cpu, as LMCache (true: tiered, false: primary); tiered: DAX behind L1 (needs local_cpu true); primary: DAX slots are the allocator, L1 not a cache (needs local_cpu false)"),
	KNOB_BOOL("dax.async_put", dax_async_put, "true",
		  "copy L1 -> DAX on the DAX writer actor (false: before kvt_put returns)"),
	KNOB_BOOL("dax.promote", dax_promote, "true",
		  "copy a chunk read from DAX into L1 (tiered mode)"),
	KNOB_U32("dax.restore_workers", dax_restore_workers, 1, 64, 0, "2",
		 "threads that copy restores out of DAX"),
	KNOB_U32("dax.restore_max_regions", dax_restore_max_regions, 0, 4096, 0, "0",
		 "regions per restore wave (0: restore_workers)"),
	KNOB_U64("dax.retrieve_staging_slab_bytes", dax_retrieve_staging_slab_bytes, 0,
		 1099511627776.0, "0",
		 "staging slab for sink restores (0: max(256 MiB, regions x slot))"),
	KNOB_ENUM("dax.eviction", dax_eviction, dax_evictions, "clock",
		  "clock: evict idle chunks when full; none: a put into a full arena fails"),
	KNOB_BOOL("dax.reinit", dax_reinit, "false",
		  "reformat a device formatted for another namespace or slot size"),
	KNOB_ENUM("dax.partition", dax_partition, dax_partitions, "auto",
		  "auto: rank worker_id takes its aligned 1/world_size of the device"),
	KNOB_STR("dax.sysfs_root", dax_sysfs_root, "/sys",
		 "where Device-DAX sysfs attributes are read (tests point it at a fake tree)"),
	KNOB_STR("pool.server", pool_server, "",
		 "kvtier-poold metadata endpoint (tcp:// or ipc://): adds a pool L2 tier"),
	KNOB_STR("maru_path", maru_path, "",
		 "LMCache's maru://host:port: the pool server, as pool.server"),
	KNOB_STR("pool.rm", pool_rm, "",
		 "kvtier-poold's resource socket (default /run/kvtier-poold.sock)"),
	KNOB_DBL("pool.size_gb", pool_size_gb, 0, 1e6, 0, "0",
		 "first pool region in GB (0: the adapter's default, 0.1)"),
	KNOB_DBL("maru_pool_size", pool_size_gb, 0, 1e6, 0, "0",
		 "LMCache's name for pool.size_gb"),
	KNOB_BOOL("pool.auto_expand", pool_auto_expand, "true",
		  "take another pool region when every page is used"),
	KNOB_U32("pool.expand_size", pool_expand_size, 0, 1u << 30, 0, "0",
		 "MiB of each further pool region (0: pool.size_gb's)"),
	KNOB_L2("l2_adapters", l2_adapters, "",
		"L2 adapters as LMCache JSON, one object or an array, in priority order"),
	KNOB_STR("l2_plugin_dirs", l2_plugin_dirs, "",
		 "colon-separated directories of L2 adapter plugins (*.so)"),
	KNOB_U32("l2.admit_after_hits", l2_admit_after_hits, 0, 1u << 30, 0, "0",
		 "write a chunk to the L2 tiers once it has been read this often; 0: on put"),
	KNOB_ADDR("metrics.listen", metrics_listen, "",
		  "HOST:PORT of an HTTP endpoint serving /metrics (Prometheus text); empty: off"),
	KNOB_U32("actors.mailbox_depth", mailbox_depth, 64, 1 << 20, KNOB_POW2,
		 "4096", "messages per actor mailbox, a power of two"),
	KNOB_U32("actors.mailbox_wait_ms", mailbox_wait_ms, 1, 600000, 0,
		 "1000", "bounded wait when a mailbox is full"),
};

const size_t config_nknobs = sizeof(config_knobs) / sizeof(config_knobs[0]);

/*
 * LMCache keys kvtier accepts and ignores, top level or under extra_config.
 * A trailing '*' matches any key with that prefix.
 */
const char *const config_lmcache_keys[] = {
	"app_id",
	"audit_actual_remote_url",
	"blend_check_layers",
	"blend_min_tokens",
	"blend_recompute_ratios",
	"blend_special_str",
	"blend_thresholds",
	"blocking_timeout_secs",
	"cache_policy",
	"chunk_statistics_*",
	"controller_pull_url",
	"controller_reply_url",
	"controller_url",
	"cost_aware_ewma_alpha",
	"cost_aware_half_life_seconds",
	"cufile_buffer_size",
	"distributed_url",
	"enable_async_loading",
	"enable_blending",
	"enable_chunk_statistics",
	"enable_controller",
	"enable_kv_events",
	"enable_lazy_memory_allocator",
	"enable_nixl",
	"enable_nixl_storage",
	"enable_p2p",
	"enable_pd",
	"enable_scheduler_bypass_lookup",
	"enable_xpyd",
	"error_handling",
	"external_backends",
	"external_lookup_client",
	"gds_backend",
	"gds_buffer_size",
	"gds_path",
	"gds_path_sharding",
	"hit_miss_ratio",
	"internal_api_server_enabled",
	"internal_api_server_host",
	"internal_api_server_include_index_list",
	"internal_api_server_port_start",
	"internal_api_server_socket_path_prefix",
	"lazy_memory_*",
	"lmcache_instance_id",
	"lmcache_worker_heartbeat_delay_time",
	"lmcache_worker_heartbeat_time",
	"lmcache_worker_ids",
	"lmcache_worker_port",
	"lmcache_worker_ports",
	"local_cpu_backend",
	"local_cpu_use_hugepages",
	"local_disk",
	"local_disk_path_sharding",
	"lookup_server_worker_ids",
	"lookup_timeout_ms",
	"lookup_url",
	"max_local_disk_size",
	"min_retrieve_tokens",
	"mp_host",
	"mp_port",
	"nixl_*",
	"numa_mode",
	"p2p_host",
	"p2p_init_ports",
	"p2p_lookup_ports",
	"pd_*",
	"pin_check_interval_sec",
	"pin_timeout_sec",
	"plugin_locations",
	"pre_caching_hash_algorithm",
	"priority_limit",
	"py_enable_gc",
	"remote_config_url",
	"remote_enable_mla_worker_id_as0",
	"remote_serde",
	"remote_storage_plugins",
	"remote_url",
	"reserve_local_cpu_size",
	"retrieve_locations",
	"runtime_plugin_locations",
	"save_chunk_meta",
	"save_decode_cache",
	"save_unfull_chunk",
	"script_allowed_imports",
	"storage_plugin.*",
	"storage_plugins",
	"store_location",
	"transfer_channel",
	"use_gds",
	"use_gpu_connector_v3",
	"use_layerwise",
	"weka_path",
};
const size_t config_nlmcache_keys = sizeof(config_lmcache_keys) / sizeof(config_lmcache_keys[0]);

/* KVT_* variables that other subsystems read; not knobs, not errors. */
const char *const config_env_allowed[] = {
	"KVT_TEST_TIMEOUT",
	"KVT_REDIS_PASSWORD",
	"KVT_LOG",
	"KVT_STRESS_SECONDS",
};
const size_t config_nenv_allowed = sizeof(config_env_allowed) / sizeof(config_env_allowed[0]);
