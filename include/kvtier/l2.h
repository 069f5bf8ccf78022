/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvtier/l2.h - the L2 adapter ABI: what a lower tier implements, built in
 * or loaded as a plugin (a .so exporting kvt_l2_plugin_register()).  The
 * engine's API is kvtier.h; a plugin needs only this header.
 */
#ifndef KVTIER_L2_H
#define KVTIER_L2_H

#include <kvtier.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * An L2 adapter is a lower tier (a filesystem, Redis, a plugin's store)
 * driven asynchronously: submit a task, learn of its completion through the
 * adapter's event fd for that kind of task and/or the task's done callback,
 * then read the results the adapter wrote into the caller's task struct.
 * Buffers are the caller's: the adapter never allocates chunk memory, and
 * it holds a task's buffers from submit until the task completes.
 *
 * Adapters are configured with LMCache's JSON form, several allowed, in
 * priority order (knob l2_adapters, or kvt_config_add_l2_adapter()):
 *     [{"type":"fs","base_path":"/data/kv"}, {"type":"resp","url":"..."}]
 * Built-in types register at kvt_open(); plugins are .so files in the
 * directories of l2_plugin_dirs, each exporting kvt_l2_plugin_register().
 */

#define KVT_L2_ABI_VERSION 1
#define KVT_L2_MAX_ADAPTERS 8

/* The kinds of tasks, each with its own event fd per adapter. */
enum kvt_l2_op {
	KVT_L2_STORE,
	KVT_L2_LOOKUP,
	KVT_L2_LOAD,
	KVT_L2_NOPS,
};

/* The L1 arena (LMCache's L1MemoryDesc): for adapters that register memory
 * with a NIC or a device.  base is NULL when there is no L1. */
struct kvt_l1_desc {
	void *base;
	size_t bytes;
	size_t align_bytes;
	size_t chunk_bytes;     /* the largest chunk any task carries */
	int numa_node;          /* -1: unknown */
};

/* One member of an adapter's JSON object; values are the scalar's text
 * ("true", "1.5", "/data/kv").  Nested objects and arrays are refused at
 * config time. */
struct kvt_l2_param {
	const char *key;
	const char *value;
};

struct kvt_l2_config {
	const char *type;
	const struct kvt_l2_param *params;  /* every member, "type" included */
	size_t nparams;
	const char *json;                   /* the object as configured, for messages */
	uint32_t index;                     /* position in l2_adapters: 0 = highest priority */
	const struct kvt_key *ns_seed;      /* the instance's namespace seed */
};

struct kvt_l2_task;
typedef void (*kvt_l2_done_fn)(struct kvt_l2_task *task);

/*
 * One submitted task.  The caller fills the "in" fields and keeps the
 * struct alive until it completes; the adapter fills the "out" fields, then
 * sets done (release), then bumps the op's event fd, then calls @on_done.
 * Bit i of @bitmap is key i: stored (STORE), found and locked (LOOKUP),
 * loaded whole and verified (LOAD).
 */
struct kvt_l2_task {
	/* in */
	kvt_l2_done_fn on_done;   /* may be NULL; runs on an adapter thread (or on the
				   * submitting thread before submit returns); must not block */
	void *arg;                /* for the caller */
	uint64_t *bitmap;         /* (n + 63) / 64 words; the adapter zeroes them at submit */
	size_t *lens;             /* LOOKUP: each hit's chunk length; LOAD: bytes loaded (0: miss); may be NULL for LOOKUP */
	/* out */
	int64_t bytes;            /* bytes moved, or a negative code if the whole task failed */
	uint32_t done;            /* read with kvt_l2_task_done() */
};

static inline bool kvt_l2_task_done(const struct kvt_l2_task *t)
{
	return __atomic_load_n(&t->done, __ATOMIC_ACQUIRE) != 0;
}

static inline bool kvt_l2_bit(const uint64_t *bitmap, size_t i)
{
	return (bitmap[i / 64] >> (i % 64)) & 1;
}

struct kvt_l2_status {
	bool is_healthy;
	uint64_t bytes_used;
	uint64_t capacity_bytes;  /* 0: unbounded */
	uint64_t chunks;          /* chunks it holds, where it knows */
	uint64_t errors;          /* I/O errors since create */
	char detail[512];         /* "key=value ..." of adapter-specific facts */
};

struct kvt_l2_adapter;        /* an adapter instance; each type defines it */

/*
 * The operations of one adapter type.  Unless said otherwise every function
 * may be called from any thread, concurrently, and never blocks on I/O.
 * Submit functions return 0 once the task is queued (its completion will be
 * signalled exactly once), or a negative code and then never complete it:
 * -ESHUTDOWN after destroy began, -ETIMEDOUT when the adapter's queue stayed
 * full (backpressure), -EINVAL for bad arguments.
 */
struct kvt_l2_ops {
	uint32_t abi_version;   /* KVT_L2_ABI_VERSION the adapter was built against */
	const char *type;       /* the JSON "type" */
	const char *help;       /* one line per config key it takes */
	/* Build an instance; @err names the bad key and value.  Blocks: may. */
	int (*create)(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		      struct kvt_l2_adapter **out, char *err, size_t errlen);
	/* Finish or cancel every task (each still completes), wait until no I/O
	 * touches a caller's buffer, free.  Blocks: yes.  Once, last. */
	void (*destroy)(struct kvt_l2_adapter *a);
	/* The eventfd bumped when a task of @op completes; unique across ops and
	 * adapters; closed by destroy. */
	int (*event_fd)(struct kvt_l2_adapter *a, enum kvt_l2_op op);
	/* Store chunk i (@bufs[i], @lens[i] bytes) under @keys[i]; a key already
	 * stored whole with that length counts as stored and is not rewritten
	 * (an adapter may replace what cannot be that chunk).  @task->bytes:
	 * bytes written. */
	int (*submit_store)(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			    const void *const *bufs, const size_t *lens, size_t n,
			    struct kvt_l2_task *task);
	/* Find keys and lock the hits so nothing evicts or deletes them until
	 * unlock(). */
	int (*submit_lookup)(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			     struct kvt_l2_task *task);
	/* Fill @bufs[i] (@buf_lens[i] bytes) with key i's chunk; a missing,
	 * short, corrupt or too-large chunk is a miss, never partial data in
	 * a set bit. */
	int (*submit_load)(struct kvt_l2_adapter *a, const struct kvt_key *keys,
			   void *const *bufs, const size_t *buf_lens, size_t n,
			   struct kvt_l2_task *task);
	/* Drop one lock per key taken by a lookup.  Never fails: a full queue
	 * waits.  Unlocking a key that is not locked does nothing. */
	void (*unlock)(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n);
	/* Delete keys.  @results (may be NULL): 0 deleted, -ENOENT absent,
	 * -EBUSY locked.  Blocks: until done.  Return: keys deleted. */
	ssize_t (*remove)(struct kvt_l2_adapter *a, const struct kvt_key *keys, size_t n,
			  int *results);
	/* Fill @st.  Blocks: never.  Return: 0. */
	int (*status)(struct kvt_l2_adapter *a, struct kvt_l2_status *st);
};

/*
 * A plugin's view of the registry while kvt_l2_plugin_register() runs.
 * add() returns 0, -EEXIST for a type already registered, -EPROTO for an
 * ops table of another ABI version, or -EINVAL for a malformed table.
 */
struct kvt_l2_host {
	uint32_t abi_version;   /* KVT_L2_ABI_VERSION of the loading library */
	int (*add)(struct kvt_l2_host *host, const struct kvt_l2_ops *ops);
	void *priv;
};

#define KVT_L2_PLUGIN_SYMBOL "kvt_l2_plugin_register"

/* What a plugin .so exports: register its types through @host.
 * Return: 0, or a negative code (its init failed: the plugin is skipped). */
typedef int (*kvt_l2_plugin_register_fn)(struct kvt_l2_host *host);
int kvt_l2_plugin_register(struct kvt_l2_host *host);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* KVTIER_L2_H */
