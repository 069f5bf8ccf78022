/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/open.c - kvt_open() and kvt_close(): the instance's lifetime.
 *
 * Open order: config check, L1 slots, map, call_rcu thread, event fd,
 * actors.  Close undoes it in reverse after draining every operation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "actors/daxwriter.h"
#include "actors/index.h"
#include "actors/pinmon.h"
#include "actors/prefault.h"
#include "actors/prefetch.h"
#include "actors/restore.h"
#include "core/instance.h"
#include "core/key.h"
#include "core/log.h"
#include "core/mem.h"
#include "api/l2_builtins.h"
#include "core/l2_conf.h"
#include "l2/fs/fs_adapter.h"
#include "l2/pool/pool_adapter.h"
#include "l2/pool/pool_knobs.h"
#include "l2/resp/resp_conf.h"

#define CLOSE_LOG_EVERY_MS 5000

struct kvt_shard *kvt_shard(struct kvt *kvt)
{
	static _Atomic unsigned int next_shard;
	static _Thread_local unsigned int shard = UINT_MAX;

	if (shard == UINT_MAX)
		shard = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) %
			KVT_SHARDS;
	return &kvt->shards[shard];
}

void kvt_exit(struct kvt *kvt)
{
	/* seq_cst pairs with kvt_close(): it sees the decrement, or we see it
	 * closing and wake it to sum the shards again */
	atomic_fetch_sub_explicit(&kvt_shard(kvt)->active, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&kvt->closing, memory_order_seq_cst)) {
		atomic_fetch_add_explicit(&kvt->drained_seq, 1, memory_order_seq_cst);
		waitword_wake(&kvt->drained_seq);
	}
}

uint64_t kvt_active(struct kvt *kvt)
{
	uint64_t sum = 0;

	for (int i = 0; i < KVT_SHARDS; i++)
		sum += atomic_load_explicit(&kvt->shards[i].active, memory_order_seq_cst);
	return sum;
}

void kvt_kick_eviction(void *arg)
{
	struct tier *t = arg;
	struct kvt *kvt = t->owner;
	struct actor_msg m = { .op = INDEX_EVICT, .ptr = { t } };

	if (!t->evict_low)
		return;
	/* one kick in flight is enough; the actor clears the flag when it runs */
	if (atomic_exchange_explicit(&t->evict_kicked, 1, memory_order_relaxed))
		return;
	if (actor_post(&kvt->index, &m))
		atomic_store_explicit(&t->evict_kicked, 0, memory_order_relaxed);
}

/* liburcu 0.13's call_rcu_data_free() stops its thread but never joins it;
 * join it so close leaves no thread (or its stack) behind. */
static void free_call_rcu(struct call_rcu_data *crdp)
{
	pthread_t thread = get_call_rcu_thread(crdp);

	call_rcu_data_free(crdp);
	pthread_join(thread, NULL);
}

static uint32_t l1_slot_count(const struct kvt_config *cfg, size_t chunk_bytes)
{
	double slots = floor(cfg->max_local_cpu_size * 1073741824.0 / (double)chunk_bytes);

	return slots > (double)(1u << 30) ? (1u << 30) : (uint32_t)slots;
}

static uint32_t watermark(double fraction, uint32_t nslots)
{
	uint32_t w = (uint32_t)(fraction * nslots);

	return w ? w : 1;
}

/* The L1 DRAM tier: anonymous slots, CLOCK between the l1.evict_* marks. */
static int l1_open(struct kvt *kvt)
{
	const struct kvt_config *cfg = &kvt->cfg;
	struct tier *t = &kvt->l1;
	uint32_t nslots = l1_slot_count(cfg, kvt->chunk_bytes);
	int ret;

	t->name = "l1";
	t->owner = kvt;
	ret = slots_init(&t->slots, kvt->chunk_bytes, nslots, cfg->l1_numa_node,
			 cfg->l1_prefault);
	if (ret)
		return ret;
	ret = tier_map_new(t);
	if (ret) {
		slots_destroy(&t->slots);
		return ret;
	}
	if (kvt->staging) {
		/* staging slots are never linked: nothing to read or evict */
		kvt->primary = t;
		log_info("open: %u L1 staging buffers of %zu bytes", nslots, kvt->chunk_bytes);
		return 0;
	}
	t->evict_low = watermark(cfg->l1_evict_low, nslots);
	t->evict_high = watermark(cfg->l1_evict_high, nslots);
	kvt->tiers[kvt->ntiers++] = t;
	kvt->primary = t;
	log_info("open: %u L1 slots of %zu bytes", nslots, kvt->chunk_bytes);
	return 0;
}

static void l1_close(struct kvt *kvt)
{
	if (!kvt->l1.map)
		return;
	tier_map_destroy(&kvt->l1);
	slots_destroy(&kvt->l1.slots);
}

static int start_actors(struct kvt *kvt)
{
	const struct kvt_config *cfg = &kvt->cfg;
	int ret;

	ret = actor_start(&kvt->index, "index", &index_actor_ops, kvt, cfg->mailbox_depth,
			  cfg->mailbox_wait_ms, cfg->l1_numa_node);
	if (ret)
		return ret;
	ret = actor_start(&kvt->pinmon, "pinmon", &pinmon_actor_ops, kvt, 64,
			  cfg->mailbox_wait_ms, cfg->l1_numa_node);
	if (ret)
		goto err_stop_index;
	ret = prefault_start(kvt);
	if (ret)
		goto err_stop_pinmon;
	if (kvt->has_dax && kvt->primary == &kvt->l1) {
		ret = actor_start(&kvt->daxwriter, "daxwriter", &daxwriter_actor_ops, kvt,
				  cfg->mailbox_depth, cfg->mailbox_wait_ms,
				  kvt->daxdev.numa_node);
		if (ret)
			goto err_stop_pinmon;
	}
	for (kvt->nrestorers = 0; kvt->has_dax && kvt->nrestorers < cfg->dax_restore_workers;
	     kvt->nrestorers++) {
		ret = actor_start(&kvt->restorers[kvt->nrestorers], "restore", &restore_actor_ops,
				  kvt, cfg->mailbox_depth, cfg->mailbox_wait_ms,
				  kvt->daxdev.numa_node);
		if (ret)
			goto err_stop_restorers;
	}
	ret = l2_start(kvt);
	if (ret)
		goto err_stop_restorers;
	for (kvt->nprefetchers = 0; kvt->nprefetchers < cfg->l1_prefetch_workers;
	     kvt->nprefetchers++) {
		ret = actor_start(&kvt->prefetchers[kvt->nprefetchers], "prefetch",
				  &prefetch_actor_ops, kvt, cfg->mailbox_depth,
				  cfg->mailbox_wait_ms, cfg->l1_numa_node);
		if (ret)
			goto err_stop_prefetchers;
	}
	return 0;

err_stop_prefetchers:
	while (kvt->nprefetchers)
		actor_stop(&kvt->prefetchers[--kvt->nprefetchers]);
	l2_stop(kvt);
err_stop_restorers:
	while (kvt->nrestorers)
		actor_stop(&kvt->restorers[--kvt->nrestorers]);
	actor_stop(&kvt->daxwriter);
err_stop_pinmon:
	prefault_stop(kvt);
	actor_stop(&kvt->pinmon);
err_stop_index:
	actor_stop(&kvt->index);
	return ret;
}

static void stop_actors(struct kvt *kvt)
{
	/* prefetch workers first: a prefetch may still wait on restore workers */
	while (kvt->nprefetchers)
		actor_stop(&kvt->prefetchers[--kvt->nprefetchers]);
	while (kvt->nrestorers)
		actor_stop(&kvt->restorers[--kvt->nrestorers]);
	/* every put window finished before close drained; before the index:
	 * a finish may still free a slot */
	l2_stop(kvt);
	/* before the index: queued DAX writes still insert */
	actor_stop(&kvt->daxwriter);
	/* after every thread that takes L1 slots (prefetch, restore, L2) */
	prefault_stop(kvt);
	actor_stop(&kvt->pinmon);
	actor_stop(&kvt->index);
}

/* The tier combinations this build can run. */
static int check_tiers(const struct kvt_config *cfg, char *err, size_t errlen)
{
	bool dax = cfg->dax_device_path[0];
	bool l2 = cfg->l2_adapters[0] || cfg->pool_server[0] || cfg->maru_path[0];
	bool primary = strcmp(config_dax_mode(cfg), "primary") == 0;
	bool explicit_mode = strcmp(cfg->dax_mode, "auto") != 0;

	if (cfg->use_only_staging_buffer && !l2) {
		snprintf(err, errlen, "use_only_staging_buffer: \"true\": stages writes to L2 adapters, and l2_adapters is empty");
		return -EINVAL;
	}
	if (!cfg->local_cpu && !dax && !l2) {
		snprintf(err, errlen, "local_cpu: \"false\": needs a lower tier (dax.device_path or l2_adapters) and none is configured");
		return -EINVAL;
	}
	if (!cfg->local_cpu && !dax &&
	    cfg->max_local_cpu_size * (double)(1u << 30) < (double)config_chunk_bytes(cfg)) {
		snprintf(err, errlen, "max_local_cpu_size: \"%g\": the L1 staging area holds no chunk of %zu bytes",
			 cfg->max_local_cpu_size, config_chunk_bytes(cfg));
		return -EINVAL;
	}
	if (cfg->l2_admit_after_hits && !cfg->local_cpu && !dax) {
		snprintf(err, errlen, "l2.admit_after_hits: \"%u\": staging mode (local_cpu false, no DAX) keeps no chunk to read; every put goes to the L2 tiers",
			 cfg->l2_admit_after_hits);
		return -EINVAL;
	}
	if (cfg->use_only_staging_buffer && dax) {
		snprintf(err, errlen, "use_only_staging_buffer: \"true\": not with a DAX tier (dax.device_path); DAX primary mode already keeps L1 out");
		return -EINVAL;
	}
	if (!dax)
		return 0;
	/* the path's own checks (exists, a DAX device or an allowed file)
	 * need the device: kvt_open() runs them */
	if (cfg->dax_device_path[0] != '/') {
		snprintf(err, errlen, "dax.device_path: \"%s\": not an absolute path",
			 cfg->dax_device_path);
		return -EINVAL;
	}
	if (!(cfg->dax_max_dax_size > 0)) {
		snprintf(err, errlen, "dax.max_dax_size: \"%g\": must be > 0 when dax.device_path is set",
			 cfg->dax_max_dax_size);
		return -EINVAL;
	}
	/* without dax.mode the mode follows local_cpu; only an explicit
	 * mode can contradict it */
	if (explicit_mode && primary && cfg->local_cpu) {
		snprintf(err, errlen, "dax.mode: \"primary\" contradicts local_cpu: true: the DAX arena is the allocator and L1 no cache; set local_cpu: false, or drop dax.mode (local_cpu: true then means tiered)");
		return -EINVAL;
	}
	if (explicit_mode && !primary && !cfg->local_cpu) {
		snprintf(err, errlen, "dax.mode: \"tiered\" contradicts local_cpu: false: DAX sits behind the L1 cache; set local_cpu: true, or drop dax.mode (local_cpu: false then means primary)");
		return -EINVAL;
	}
	if (cfg->world_size > 1 && strcmp(cfg->dax_partition, "auto") != 0) {
		snprintf(err, errlen, "dax.partition: \"%s\": world_size %u ranks would share one arena; use auto",
			 cfg->dax_partition, cfg->world_size);
		return -EINVAL;
	}
	return 0;
}

/*
 * The config check of each built-in adapter type: the very parse its
 * create runs, with nothing opened or reached.  A type not here is a
 * plugin's, known only once l2_plugin_dirs is loaded at kvt_open().
 */
static int check_fs(const struct kvt_l2_config *c, size_t chunk, char *err, size_t errlen)
{
	(void)chunk;
	return fs_conf_check(c, err, errlen);
}

static int check_resp(const struct kvt_l2_config *c, size_t chunk, char *err, size_t errlen)
{
	(void)chunk;
	return resp_conf_check(c, err, errlen);
}

static const struct {
	const char *type;
	int (*check)(const struct kvt_l2_config *c, size_t chunk, char *err, size_t errlen);
} l2_checks[] = {
	{ "fs", check_fs },
	{ "resp", check_resp },
	{ "pool", pool_conf_check },
};

/*
 * The L2 adapters as kvt_open() will build them (l2_adapters, then the
 * pool knobs), each built-in one's members checked.  An unknown type is
 * refused unless l2_plugin_dirs may supply it: a plugin is not loaded
 * here, so its type and keys are checked by kvt_open() alone.
 */
static int check_l2(const struct kvt_config *cfg, char *err, size_t errlen)
{
	struct l2_conf_list *l = mem_alloc(sizeof(*l));
	char why[256];
	int ret;

	if (!l)
		return -ENOMEM;
	ret = l2_conf_parse(cfg->l2_adapters, l, err, errlen);
	if (!ret)
		ret = pool_conf_from_knobs(cfg, l, err, errlen);
	for (size_t i = 0; !ret && i < l->n; i++) {
		const struct kvt_l2_config *c = &l->cfg[i];
		size_t k = 0;

		while (k < sizeof(l2_checks) / sizeof(l2_checks[0]) &&
		       strcmp(l2_checks[k].type, c->type))
			k++;
		if (k == sizeof(l2_checks) / sizeof(l2_checks[0])) {
			char known[128];
			size_t off = 0;

			if (cfg->l2_plugin_dirs[0])
				continue;	/* perhaps a plugin's: kvt_open() decides */
			known[0] = '\0';
			for (size_t b = 0; l2_builtin_ops[b] && off < sizeof(known); b++)
				off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s",
							b ? ", " : "", l2_builtin_ops[b]->type);
			snprintf(err, errlen,
				 "l2_adapters #%zu: unknown type \"%s\" (built in: %s; l2_plugin_dirs is empty, so no plugin can add it)",
				 i, c->type, known);
			ret = -EINVAL;
			break;
		}
		why[0] = '\0';
		ret = l2_checks[k].check(c, config_chunk_bytes(cfg), why, sizeof(why));
		if (ret)
			snprintf(err, errlen, "l2_adapters #%zu (%s): %s", i, c->type,
				 why[0] ? why : kvt_strerror(ret));
	}
	l2_conf_free(l);
	mem_free(l);
	/* a config's fault, whatever the parser called it (-EPROTONOSUPPORT
	 * for rediss://, -E2BIG for too many adapters) */
	return ret && ret != -ENOMEM ? -EINVAL : ret;
}

int kvt_config_check(const struct kvt_config *cfg, char *err, size_t errlen)
{
	int ret;

	config_err_begin(err, errlen);
	if (!cfg) {
		if (err && errlen)
			snprintf(err, errlen, "NULL config");
		return -EINVAL;
	}
	ret = config_check(cfg, err, errlen);
	if (!ret)
		ret = check_tiers(cfg, err, errlen);
	if (!ret)
		ret = check_l2(cfg, err, errlen);
	return config_err_end(ret, err, errlen, "kvt_config_check");
}

int kvt_open(const struct kvt_config *cfg, struct kvt **out, char *err, size_t errlen)
{
	/* the step that failed, for failures that carry no message of their own */
	const char *step = "";
	char msg[256] = "";
	struct kvt *kvt;
	int ret;

	if (!cfg || !out) {
		ret = -EINVAL;
		snprintf(msg, sizeof(msg), "kvt_open: NULL %s", cfg ? "out" : "config");
		goto fail;
	}
	ret = kvt_config_check(cfg, msg, sizeof(msg));
	if (ret)
		goto fail;
	kvt = mem_aligned_zalloc(64, sizeof(*kvt));
	if (!kvt) {
		ret = -ENOMEM;
		step = "the instance";
		goto fail;
	}
	kvt->cfg = *cfg;
	/* the instance reads the resolved mode only */
	snprintf(kvt->cfg.dax_mode, sizeof(kvt->cfg.dax_mode), "%s", config_dax_mode(cfg));
	kvt->chunk_bytes = config_chunk_bytes(cfg);
	kvt_namespace_seed(&(struct kvt_namespace){ .model = cfg->model_name,
						    .world_size = cfg->world_size,
						    .worker_id = cfg->worker_id,
						    .kv_dtype = cfg->kv_dtype,
						    .layout = cfg->kv_layout,
						    .tenant_salt = cfg->tenant_salt },
			   &kvt->ns_seed);
	/* without DAX, local_cpu false leaves L1 a staging area for L2 writes:
	 * with or without use_only_staging_buffer, nothing in it is readable */
	kvt->staging = !cfg->local_cpu && !cfg->dax_device_path[0];
	if (cfg->local_cpu || kvt->staging) {
		step = "the L1 slot arena";
		ret = l1_open(kvt);
		if (ret)
			goto err_free;
	}
	if (cfg->dax_device_path[0]) {
		ret = dax_open(kvt, msg, sizeof(msg));
		if (ret)
			goto err_l1;
		kvt->restore_max_regions = cfg->dax_restore_max_regions ?
						   cfg->dax_restore_max_regions :
						   cfg->dax_restore_workers;
		ret = slab_open(kvt, msg, sizeof(msg));
		if (ret)
			goto err_dax;
	}
	ret = l2_open(kvt, msg, sizeof(msg));
	if (ret)
		goto err_dax;
	step = "the call_rcu thread";
	kvt->crdp = create_call_rcu_data(0, -1);
	if (!kvt->crdp) {
		ret = -ENOMEM;
		goto err_l2;
	}
	step = "the event fd";
	kvt->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (kvt->event_fd < 0) {
		ret = -errno;
		goto err_crdp;
	}
	step = "the actor threads";
	ret = start_actors(kvt);
	if (ret)
		goto err_eventfd;
	ret = metrics_open(kvt, msg, sizeof(msg));
	if (ret)
		goto err_actors;
	*out = kvt;
	return 0;

err_actors:
	/* no call ran yet: the maps hold only what open itself put there */
	stop_actors(kvt);
err_eventfd:
	close(kvt->event_fd);
err_crdp:
	free_call_rcu(kvt->crdp);
err_l2:
	l2_close(kvt);
err_dax:
	slab_close(kvt);
	if (kvt->has_dax)
		index_destroy_tier(&kvt->dax);
	dax_close(kvt);
err_l1:
	l1_close(kvt);
err_free:
	mem_free(kvt);
fail:
	if (!msg[0])
		snprintf(msg, sizeof(msg), "kvt_open: %s: %s", step, kvt_strerror(ret));
	log_error("%s", msg);
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return ret;
}

static void wait_drained(struct kvt *kvt)
{
	uint64_t next_log = clock_now_ms() + CLOSE_LOG_EVERY_MS;

	for (;;) {
		uint32_t seq = atomic_load_explicit(&kvt->drained_seq, memory_order_seq_cst);
		uint64_t active = kvt_active(kvt);

		if (!active)
			return;
		if (clock_now_ms() >= next_log) {
			log_warn("close: still waiting for %llu operations or leases",
				 (unsigned long long)active);
			next_log += CLOSE_LOG_EVERY_MS;
		}
		waitword_wait(&kvt->drained_seq, seq, CLOSE_LOG_EVERY_MS);
	}
}

int kvt_close(struct kvt *kvt)
{
	if (!kvt)
		return -EINVAL;
	metrics_close(kvt);
	atomic_store_explicit(&kvt->closing, 1, memory_order_seq_cst);
	wait_drained(kvt);
	stop_actors(kvt);
	metrics_free(kvt);
	index_destroy_all(kvt);
	rcu_barrier();
	free_call_rcu(kvt->crdp);
	l2_close(kvt);
	close(kvt->event_fd);
	slab_close(kvt);
	dax_close(kvt);
	l1_close(kvt);
	mem_free(kvt);
	return 0;
}

size_t kvt_chunk_bytes(const struct kvt *kvt)
{
	return kvt ? kvt->chunk_bytes : 0;
}

int kvt_event_fd(const struct kvt *kvt)
{
	return kvt ? kvt->event_fd : -EINVAL;
}

int kvt_key_of(const struct kvt *kvt, const void *id, size_t len, struct kvt_key *out)
{
	if (!kvt || !out || (!id && len))
		return -EINVAL;
	key_of_id(&kvt->ns_seed, id, len, out);
	return 0;
}

ssize_t kvt_chunk_keys(const struct kvt *kvt, const uint32_t *tokens, size_t ntokens,
		       struct kvt_key *keys, size_t nkeys)
{
	size_t chunk, need;
	const struct kvt_key *prev;

	if (!kvt || (!tokens && ntokens) || (!keys && nkeys))
		return -EINVAL;
	chunk = kvt->cfg.chunk_size;
	need = (ntokens + chunk - 1) / chunk;
	prev = &kvt->ns_seed;
	if (need > nkeys)
		return -ENOSPC;
	for (size_t i = 0; i < need; i++) {
		size_t n = ntokens - i * chunk < chunk ? ntokens - i * chunk : chunk;

		kvt_key_chain(prev, tokens + i * chunk, n, &keys[i]);
		prev = &keys[i];
	}
	return (ssize_t)need;
}
