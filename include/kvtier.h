/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvtier.h - the one public header of libkvtier.
 *
 * kvtier keeps the KV cache of an LLM inference engine in tiers (DRAM, DAX,
 * a shared pool, filesystem, Redis/Valkey) and restores chunks into the
 * engine's buffers.  An engine embeds it as a background thread pool.
 *
 * Conventions, everywhere in this header:
 *  - Commands return 0 or a count >= 0 on success and a negative errno-style
 *    code on failure; kvt_strerror() names every code.  Each code has one
 *    meaning: -EBUSY pinned (nothing changed), -EAGAIN partly done, call
 *    again (a per-key result only), -EMSGSIZE chunk larger than a slot,
 *    -ESHUTDOWN kvt_close() has begun, -ETIMEDOUT a bounded wait expired,
 *    -ENOSPC no slot can be freed, -ENOENT no such key, or an index past the
 *    last item of a list, -ESTALE a handle whose slot was reused, -EINVAL a
 *    bad argument or config value.
 *  - A NULL instance, config, array or out pointer where one is required is
 *    -EINVAL, never a crash; so is a NULL buffer with a non-zero length.
 *    Functions returning void treat NULL as a no-op.
 *  - Lengths and counts come back as ssize_t, codes alone as int.
 *  - Whatever can fail for a reason a person must read (a config, a device)
 *    takes @err/@errlen: a NUL-terminated message is written there on
 *    failure (@err may be NULL).
 *  - On error nothing changed, unless a per-key result array says otherwise.
 *  - A function that returns an error never fires its callback.
 *  - "Threads: any" means any thread, concurrently, with no registration:
 *    threads the library never saw before work as they are.
 */
#ifndef KVTIER_H
#define KVTIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libkvtier.so is built with -fvisibility=hidden and a version script: only
 * what kvtier's headers declare (kvt_*) leaves it. */
#pragma GCC visibility push(default)

#define KVT_VERSION_MAJOR 0
#define KVT_VERSION_MINOR 1

struct kvt;
struct kvt_config;

/* A 128-bit chunk key: XXH3-128 chained over the token ids of a prefix. */
struct kvt_key {
	uint64_t lo;
	uint64_t hi;
};

/**
 * kvt_strerror() - a message for a code returned by any kvt_ function.
 * @err: a negative (or positive) errno-style code.
 *
 * Threads: any.  Blocks: never.  Allocates: nothing.
 * Return: a static string; never NULL.
 */
const char *kvt_strerror(int err);

/* ---- configuration ---------------------------------------------------- */

/*
 * Every call below that takes @err, @errlen (when @err is not NULL and
 * @errlen not 0) empties it first and, when it fails, says why there;
 * running out of memory is -ENOMEM, never a verdict on the input.
 */

/**
 * kvt_config_new() - a config holding every knob's default.
 * @out: receives the config; the caller owns it and frees it with
 *       kvt_config_free().
 *
 * Threads: any.  Blocks: never.  Allocates: the config.
 * Return: 0, or -ENOMEM.
 */
int kvt_config_new(struct kvt_config **out);

/**
 * kvt_config_free() - free a config from kvt_config_new().  NULL is a no-op.
 * Threads: the config's owner.  Blocks: never.
 */
void kvt_config_free(struct kvt_config *cfg);

/**
 * kvt_config_load_yaml() - apply an LMCache-style YAML file.
 * @cfg:    config to update.
 * @path:   file to read; only read during the call.
 * @err:    receives a message naming the key and value on failure (may be
 *          NULL); @errlen its size.
 *
 * Top-level keys (chunk_size, local_cpu, max_local_cpu_size, ...) and the
 * dotted keys under extra_config: are kvtier knobs.  LMCache keys kvtier does
 * not use are accepted and listed by kvt_config_ignored().  Any other key, or
 * a malformed value, fails.
 *
 * Threads: the config's owner.  Blocks: file I/O.  Allocates: yes.
 * Return: 0; -EINVAL with @err filled; -errno when the file cannot be read.
 *         On error @cfg may hold the keys applied before the bad one.
 */
int kvt_config_load_yaml(struct kvt_config *cfg, const char *path, char *err,
			 size_t errlen);

/**
 * kvt_config_set() - set one knob from a string, as YAML and KVT_* do.
 * @key:   knob name, e.g. "chunk_size" or "dax.restore_workers".
 * @value: its value as text ("12", "true", "2.5", "clock").
 *
 * Threads: the config's owner.  Blocks: never.
 * Return: 0, or -EINVAL with @err naming the key and the value.  On error
 *         @cfg is unchanged.
 */
int kvt_config_set(struct kvt_config *cfg, const char *key, const char *value,
		   char *err, size_t errlen);

/**
 * kvt_config_apply_env() - apply every KVT_* environment variable.
 *
 * KVT_CHUNK_SIZE sets chunk_size, KVT_DAX_RESTORE_WORKERS sets
 * dax.restore_workers: upper case, '.' becomes '_'.  An unknown KVT_
 * variable is an error naming it.
 *
 * Threads: the config's owner; reads the environment.  Blocks: never.
 * Return: 0, or -EINVAL with @err filled.
 */
int kvt_config_apply_env(struct kvt_config *cfg, char *err, size_t errlen);

/**
 * kvt_config_get() - the current value of a knob as text.
 * @buf: receives the value, NUL-terminated; @len its size.
 *
 * Threads: the config's owner.  Blocks: never.
 * Return: length of the value, -ENOENT for an unknown key, -ENOSPC if @len
 *         is too small.
 */
ssize_t kvt_config_get(const struct kvt_config *cfg, const char *key, char *buf,
		       size_t len);

/**
 * kvt_config_ignored() - LMCache keys the last loads accepted but ignore.
 * @i: index from 0.
 * @key: receives the i-th ignored key (owned by @cfg).
 *
 * Threads: the config's owner.  Blocks: never.
 * Return: 0, -ENOENT past the last one, -EINVAL.
 */
int kvt_config_ignored(const struct kvt_config *cfg, size_t i, const char **key);

/**
 * kvt_config_check() - every check kvt_open() runs that needs no device,
 * server or plugin, without opening anything: the cross-knob checks
 * (watermarks in order, L1 holds at least two chunks, modes that need a
 * lower tier, dax.mode against local_cpu, ...), dax.device_path absolute,
 * and the L2 adapters as kvt_open() builds them (l2_adapters, then the
 * pool.* knobs): each built-in adapter's keys and values, by the parse
 * its create runs (an fs base_path must be absolute; nothing is made).
 * kvt_open() runs this same function first, so the two never disagree.
 *
 * Not checked here: whether the DAX device exists and is one, and
 * plugins.  A type that is not built in is an error when l2_plugin_dirs
 * is empty; with l2_plugin_dirs set no plugin is loaded, so such a type
 * and its keys are left to kvt_open().
 *
 * Threads: the config's owner.  Blocks: never.
 * Return: 0, -EINVAL with @err naming the knobs and values, or -ENOMEM.
 */
int kvt_config_check(const struct kvt_config *cfg, char *err, size_t errlen);

/**
 * kvt_config_dump() - write "key: value" lines of every knob to @fd.
 * Threads: the config's owner.  Blocks: writes to @fd.
 * Return: 0, or -errno from write.
 */
int kvt_config_dump(const struct kvt_config *cfg, int fd);

/* ---- open and close --------------------------------------------------- */

/**
 * kvt_open() - start a kvtier instance.
 * @cfg: only read during the call; the caller may free it afterwards.
 * @out: receives the handle, owned by the caller until kvt_close().
 * @err: receives why it failed (may be NULL); @errlen its size.
 *
 * Starts the actor threads (index, pin-monitor, restore workers) and maps the
 * L1 slot arena.  On failure no thread, fd or mapping is left behind.
 *
 * With a DAX tier it validates and maps the device and rebuilds the index
 * from the slot headers a previous run left (torn slots are discarded).
 *
 * Threads: any.  Blocks: yes (thread start, memory mapping, recovery scan).
 * Allocates: the instance.
 * A DAX device is formatted only when it holds kvtier's superblock or reads
 * as zeros (sampled: first and last 4 KiB, one word per MiB); anything else
 * is left untouched and refused unless dax.reinit.
 *
 * Return: 0; -EINVAL for an inconsistent config or a refused device path;
 *         -ENOENT no such device; -ENOSPC device smaller than
 *         dax.max_dax_size, a file shorter than the region its superblock
 *         records (truncated), or holding no slot; -EEXIST device holding
 *         data kvtier will not overwrite: formatted for another namespace or
 *         chunk shape, or not kvtier's and not zeros (set dax.reinit);
 *         -EPROTO unknown device format version; -ENOMEM.  The reason is in
 *         @err (and the log).
 */
int kvt_open(const struct kvt_config *cfg, struct kvt **out, char *err, size_t errlen);

/**
 * kvt_close() - stop the instance and free everything.
 *
 * From the moment close begins, puts, contains, unpins, removes and flushes
 * fail with -ESHUTDOWN, and gets and prefetches miss.  Close then waits for every operation in flight
 * (puts, gets, prefetches, borrows are released by their holders: close
 * waits for those too), drains the actors' mailboxes, joins every thread and
 * frees all memory.  Idempotence: call it exactly once per handle.
 *
 * Threads: any thread but a kvtier callback.  Blocks: until drained.
 * Return: 0, or -EINVAL for NULL.
 */
int kvt_close(struct kvt *kvt);

/* ---- keys ------------------------------------------------------------- */

/**
 * kvt_key_chain() - the key of one chunk from its predecessor's key.
 * @prev:   key of the previous chunk, or the namespace seed for chunk 0.
 * @tokens: token ids of this chunk; @ntokens of them.
 * @out:    receives XXH3-128(prev || tokens).
 *
 * Threads: any.  Blocks: never.  Allocates: nothing.
 * Return: 0, or -EINVAL for a NULL @prev or @out, or NULL @tokens with
 *         @ntokens > 0.
 */
int kvt_key_chain(const struct kvt_key *prev, const uint32_t *tokens,
		  size_t ntokens, struct kvt_key *out);

/* What a namespace is made of; NULL strings read as "". */
struct kvt_namespace {
	const char *model;       /* model_name */
	uint32_t world_size;     /* tensor-parallel ranks */
	uint32_t worker_id;      /* this rank */
	const char *kv_dtype;    /* e.g. "bfloat16" */
	const char *layout;      /* kv_layout */
	const char *tenant_salt; /* tenants never share a key */
};

/**
 * kvt_namespace_seed() - the seed key of a namespace.
 *
 * Two namespaces that differ in any field never share a key, so two tenants
 * (different tenant_salt) or a bf16 and an fp8 cache of one model never hit
 * each other's chunks.
 *
 * Threads: any.  Blocks: never.
 * Return: 0, or -EINVAL for a NULL @ns or @out.
 */
int kvt_namespace_seed(const struct kvt_namespace *ns, struct kvt_key *out);

/**
 * kvt_chunk_keys() - keys of every chunk of a token sequence in @kvt's
 * namespace (model_name, world_size, worker_id, kv_dtype, kv_layout,
 * tenant_salt from the config) with its chunk_size.
 * @keys: receives ceil(@ntokens / chunk_size) keys; the last chunk may be
 *        partial.  @nkeys is the room in @keys.
 *
 * Threads: any.  Blocks: never.
 * Return: the number of keys written, or -ENOSPC if @nkeys is too small.
 */
ssize_t kvt_chunk_keys(const struct kvt *kvt, const uint32_t *tokens,
		       size_t ntokens, struct kvt_key *keys, size_t nkeys);

/**
 * kvt_key_of() - the key of an engine's own opaque id (LMCache's
 * "model@rank@group@hash" string, SGLang's page hash) in @kvt's namespace:
 * XXH3-128 over @id under a seed derived from the namespace, so every
 * process with the same namespace maps an id to the same key, and no id's
 * key is a chunk key of kvt_chunk_keys().
 * @id: @len bytes; NULL only with @len 0.
 *
 * Threads: any.  Blocks: never.
 * Return: 0, or -EINVAL for a NULL @kvt or @out, or a NULL @id with @len.
 */
int kvt_key_of(const struct kvt *kvt, const void *id, size_t len, struct kvt_key *out);

/** kvt_chunk_bytes() - bytes of one full chunk (the slot size); 0 for NULL. */
size_t kvt_chunk_bytes(const struct kvt *kvt);

/* ---- put -------------------------------------------------------------- */

/**
 * typedef kvt_put_cb - a key is stored in every tier it is written to.
 * @arg:   the caller's cookie from kvt_put().
 * @key:   the stored key (valid during the call only).
 * @index: its position in the kvt_put() batch.
 *
 * Fires once per key that this put stored, on success only, after the key is
 * readable in every tier it is written to; never for duplicates or failures.
 * With l2.admit_after_hits the L2 tiers are written on a later read, not by
 * the put, so they are not waited for.
 * Runs on the calling thread (always in L1-only configs; with lower tiers
 * when their writes finish before kvt_put() returns) or on a kvtier actor
 * thread; it must not block and must not call kvt_close().
 */
typedef void (*kvt_put_cb)(void *arg, const struct kvt_key *key, size_t index);

/**
 * kvt_put() - copy a batch of chunks in.
 * @keys:    @n keys; only read during the call.
 * @bufs:    @n source buffers; only read during the call.
 * @lens:    their lengths; each in [1, kvt_chunk_bytes()] (a last chunk may
 *           be shorter, and keeps its real length).  A length of 0 is that
 *           key's -EINVAL in @results (0 is how kvt_get() marks a hole, so
 *           an empty chunk could never be told from a miss); a NULL buffer
 *           is allowed only with it.
 * @results: optional; receives per key 0 (stored), 1 (already present or
 *           in flight: a no-op success, no callback) or a negative code.
 * @cb, @cb_arg: optional completion callback, see kvt_put_cb.
 *
 * Threads: any.  Blocks: copies, then waits for the index actor; when L1 is
 * full it waits at most put_wait_ms for eviction to free a slot.
 * Allocates: one entry per stored key.
 * Return: the number of keys newly stored; -ESHUTDOWN after close began;
 *         -EINVAL for bad arguments.  Per-key failures (-EINVAL for a
 *         length of 0, -EMSGSIZE, -ENOSPC) are in @results and do not stop
 *         the batch.
 */
ssize_t kvt_put(struct kvt *kvt, const struct kvt_key *keys,
		const void *const *bufs, const size_t *lens, size_t n,
		int *results, kvt_put_cb cb, void *cb_arg);

/* ---- lookup and pins -------------------------------------------------- */

/* Each call takes only its own flag: any other bit is -EINVAL. */
#define KVT_PIN 0x1u   /* kvt_contains(): pin the L1/DAX prefix */
#define KVT_FORCE 0x2u /* kvt_remove(): remove even when pinned */

/**
 * kvt_contains() - length of the cached prefix of a key chain.
 * @keys:  @n chained keys, first chunk first; only read during the call.
 * @flags: KVT_PIN pins each hit of the prefix; the caller owns those pins
 *         until kvt_unpin(), or until the pin-monitor drops them after
 *         pin_ttl_ms.  Pins are counted: pin twice, unpin once, still pinned.
 *         Any other bit (KVT_FORCE included) is -EINVAL, nothing pinned.
 *
 * Where the L1/DAX prefix ends, the L2 tiers continue it (looked up, then
 * unlocked), and where they miss, L1/DAX again.  With KVT_PIN they do not:
 * L2 copies cannot be pinned, so the pinned prefix is the L1/DAX one alone
 * and ends at the first key no L1/DAX copy of which could be pinned.  The
 * return is then exactly the keys pinned: kvt_unpin(@keys, return) drops
 * every pin this call took and never underflows (unless the pin-monitor or
 * a KVT_FORCE remove dropped them first).  To learn how far L2 continues
 * the prefix, call again without KVT_PIN.
 *
 * What a hit promises, per tier: in L1 and DAX the chunk is present and
 * readable now (a kvt_get() right after serves it unless it is evicted or
 * removed meanwhile; a pin stops both).  In an L2 tier a copy exists and
 * was not known to be damaged: contains does not read it (the fs tier only
 * stats the file, removing one too short to hold a chunk), so a copy found
 * damaged when it is loaded (or gone by then) is a hole in kvt_get(), which
 * is the authority on what is served.
 *
 * Threads: any.  Blocks: never with KVT_PIN or without L2 tiers (one RCU
 * read section, no lock); else until the adapters answer the lookup.
 * Allocates: nothing with KVT_PIN or without L2 tiers.
 * Return: hits in [0, @n]; -ESHUTDOWN once close has begun; -EINVAL for
 *         a flag bit other than KVT_PIN (even with @n 0).
 */
ssize_t kvt_contains(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		     unsigned int flags);

/**
 * kvt_unpin() - drop one pin from each key.
 *
 * A key that is absent or not pinned is skipped (counted as an unpin
 * underflow in stats).  The keys of a kvt_contains(KVT_PIN) prefix, as many
 * as it returned, are all pinned: unpinning them is never an underflow.
 *
 * Threads: any.  Blocks: never.
 * Return: the number of keys unpinned; -ESHUTDOWN once close has begun.
 */
ssize_t kvt_unpin(struct kvt *kvt, const struct kvt_key *keys, size_t n);

/**
 * kvt_remove() - remove keys from every tier.
 * @flags:   KVT_FORCE removes pinned keys too; without it a pinned key is
 *           refused with -EBUSY.  Any other bit (KVT_PIN included) is
 *           -EINVAL: nothing removed, @results untouched.
 * @results: optional per-key 0 (no copy left anywhere), -EBUSY (pinned:
 *           nothing of it removed), -EAGAIN (an L2 copy is locked by a
 *           running load and stays; every other copy is gone: call again)
 *           or -ENOENT (none found).
 *
 * A key removed while borrowed or being read stays readable by that reader
 * until it releases; its slot is reused only afterwards.  L2 tiers delete
 * their copies too, except of keys refused with -EBUSY above.  A key
 * removed while its L2 write still runs is deleted from L2 again once the
 * write ends (counted in l2_write_dropped).
 *
 * Threads: any.  Blocks: waits for the index actor and the L2 deletes.
 * Return: the number of keys removed, -ESHUTDOWN, or -EINVAL (a NULL
 *         argument, a flag bit other than KVT_FORCE; even with @n 0).
 */
ssize_t kvt_remove(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		   unsigned int flags, int *results);

/* ---- get and prefetch ------------------------------------------------- */

/**
 * kvt_get() - blocking batched get into caller buffers, positional.
 * @bufs:     @n destination buffers, written during the call only.
 * @buf_lens: their sizes.
 * @out_lens: receives each chunk's real length; 0 marks a hole (a miss, or
 *            a buffer too small for the chunk).
 *
 * L1 chunks are copied on the calling thread; DAX chunks are restored as
 * one batch by the restore workers (sorted by device offset, adjacent
 * chunks coalesced into one copy, regions spread over the workers), and the
 * call returns once every copy has finished.
 *
 * Threads: any.  Blocks: for the copies.  Allocates: a restore plan when
 * DAX chunks are read (and a key array above 128 keys).
 * Return: the number of hits (holes do not stop the batch), or the first
 * error of a failed DAX restore (-EIO, -ETIMEDOUT): its DAX chunks are
 * holes, and every chunk stays readable afterwards.
 */
ssize_t kvt_get(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		void *const *bufs, const size_t *buf_lens, size_t *out_lens);

/**
 * typedef kvt_sink_fn - drain one restored chunk to its destination.
 * @arg:   the caller's cookie.
 * @index: the chunk's position in the kvt_get_sink() batch.
 * @src:   host memory holding the chunk (a staging-slab region or an L1
 *         slot), readable until the sink returns.
 * @len:   the chunk's real length.
 *
 * Runs on the thread that called kvt_get_sink(), while the restore workers
 * fill the next wave, so an engine can issue cudaMemcpyAsync from the
 * (mlocked) slab here; it must have finished reading @src when it returns
 * (e.g. synchronize its stream at the end of each call).
 * Return: 0, or a negative code that stops the batch.
 */
typedef int (*kvt_sink_fn)(void *arg, size_t index, const void *src, size_t len);

/**
 * kvt_get_sink() - blocking batched get into destinations the restore
 * workers cannot write (GPU memory): DAX chunks are copied into staging-slab
 * regions by the workers and drained by @sink, double-buffered (the sink
 * drains one wave while the workers fill the next); L1 chunks go to the sink
 * straight from L1.  Positional: @out_lens gets each drained chunk's length,
 * 0 for a miss.  L2 tiers are not consulted (their loads need host
 * buffers: use kvt_get() into pinned host memory for those).
 *
 * Threads: any; concurrent batches use separate slab regions.
 * Blocks: for the copies and the sink.  Allocates: a restore plan.
 * Return: the number of chunks drained; -ENODEV without a DAX tier;
 *         -ETIMEDOUT when no slab set freed up in time; the first error of
 *         a failed restore region or of the sink (every wave in flight is
 *         finished first, and every chunk stays readable).
 */
ssize_t kvt_get_sink(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		     kvt_sink_fn sink, void *sink_arg, size_t *out_lens);

/**
 * typedef kvt_prefetch_cb - a prefetch finished.
 * @ticket: the ticket kvt_prefetch() returned.
 * @hits:   the length of the restored prefix (buffers 0..hits-1 are
 *          filled, out_lens set), or a negative code.
 * Runs on a restore worker thread; must not block or call kvt_close().
 */
typedef void (*kvt_prefetch_cb)(void *arg, uint64_t ticket, ssize_t hits);

/**
 * kvt_prefetch() - asynchronous restore of the cached prefix.
 * @bufs, @buf_lens, @out_lens: as kvt_get(); the caller keeps them valid
 *            and untouched until the callback fires (or the event fd says
 *            so).  Only the consecutive prefix of hits is restored.
 * @cb:       optional; fires exactly once when 0 is returned.
 * @ticket:   receives the request's ticket (may be NULL).
 *
 * At submit the prefix is looked up and borrowed, so nothing in it can be
 * evicted before it is copied.  Where it ends, the L2 tiers continue it on
 * the prefetch worker (each key from the first adapter holding it, loaded
 * straight into @bufs, promoted into L1 only when local_cpu is true).  On
 * completion the callback runs, then the
 * instance's event fd (kvt_event_fd()) is incremented, so an event loop can
 * poll it.
 *
 * Threads: any.  Blocks: only while a restore worker's mailbox is full
 * (bounded).  Allocates: one request.
 * Return: 0; -ESHUTDOWN; -ETIMEDOUT if the worker mailbox stayed full.
 */
int kvt_prefetch(struct kvt *kvt, const struct kvt_key *keys, size_t n,
		 void *const *bufs, const size_t *buf_lens, size_t *out_lens,
		 kvt_prefetch_cb cb, void *cb_arg, uint64_t *ticket);

/**
 * kvt_event_fd() - an eventfd counting finished prefetches.
 *
 * Readable after any prefetch completes; read() returns how many completed
 * since the last read.  Owned by @kvt: do not close it.
 * Threads: any.  Return: the fd, or -EINVAL for NULL.
 */
int kvt_event_fd(const struct kvt *kvt);

/**
 * kvt_flush() - wait until every queued lower-tier write and prefetch
 * submitted before the call has finished.
 * Threads: any.  Blocks: yes.
 * Return: 0, or -ESHUTDOWN.
 */
int kvt_flush(struct kvt *kvt);

/* ---- zero copy -------------------------------------------------------- */

/*
 * A lease on one slot.  Fields other than @data and @len are private to
 * kvtier; the caller hands the struct back unchanged.
 */
struct kvt_lease {
	void *data;    /* slot memory: writable after reserve, read-only after borrow */
	size_t len;    /* slot size after reserve; chunk length after borrow */
	uint64_t gen;  /* private: slot generation */
	uint32_t slot; /* private */
	uint32_t kind; /* private */
};

/**
 * kvt_reserve() - take a free slot to write a chunk into, with no copy.
 * @lease: receives the slot; the caller writes up to lease->len bytes, then
 *         calls kvt_commit() or kvt_release().
 *
 * Threads: any.  Blocks: up to put_wait_ms when no slot is free.
 * Return: 0; -ENOSPC; -ESHUTDOWN.
 */
int kvt_reserve(struct kvt *kvt, struct kvt_lease *lease);

/**
 * kvt_commit() - publish a reserved slot under @key with @len bytes.
 *
 * On success the slot belongs to the store and @lease is spent.  When @key
 * is already present the slot stays reserved and 1 is returned: release it.
 * @len must be in [1, kvt_chunk_bytes()]: 0 would read back as a hole.
 *
 * Threads: any.  Blocks: waits for the index actor.
 * Return: 0 (stored), 1 (duplicate; lease still held), -EMSGSIZE (@len
 *         above the slot; lease still held), -EINVAL (@len 0, or a NULL
 *         argument; a live lease is still held: commit it again or release
 *         it), -ESTALE (not a live reservation), -ESHUTDOWN (lease still
 *         held).
 */
int kvt_commit(struct kvt *kvt, struct kvt_lease *lease,
	       const struct kvt_key *key, size_t len);

/**
 * kvt_borrow() - read a committed chunk in place (L1 or DAX; L2 chunks
 * have no place to be read in).
 * @lease: receives a read-only view (data, len).  The bytes stay valid, even
 *         if the key is removed or evicted meanwhile, until kvt_release().
 *
 * Threads: any.  Blocks: never.  Allocates: nothing.
 * Return: 0, -ENOENT, or -ESHUTDOWN.
 */
int kvt_borrow(struct kvt *kvt, const struct kvt_key *key,
	       struct kvt_lease *lease);

/**
 * kvt_release() - end a lease from kvt_borrow() or an uncommitted
 * kvt_reserve().  Call exactly once per lease.
 *
 * Threads: any.  Blocks: never.
 * Return: 0, or -ESTALE for a lease whose slot was already reused.
 */
int kvt_release(struct kvt *kvt, struct kvt_lease *lease);

/* ---- L2 adapters (their interface and plugins: kvtier/l2.h) ------------ */

struct kvt_l2_status;

/**
 * kvt_config_add_l2_adapter() - append one adapter (a JSON object with
 * "type") to l2_adapters: LMCache's repeatable --l2-adapter.
 * @err: receives a message naming what is wrong.
 * Threads: the config's owner.  Return: 0, -EINVAL (bad JSON, not an object,
 * no "type", nested value) or -E2BIG (more than KVT_L2_MAX_ADAPTERS).
 */
int kvt_config_add_l2_adapter(struct kvt_config *cfg, const char *json, char *err,
			      size_t errlen);

/**
 * kvt_l2_report() - the status report of adapter @i (l2_adapters order).
 * Threads: any.  Blocks: never.
 * Return: 0, or -ENOENT past the last adapter.
 */
int kvt_l2_report(struct kvt *kvt, size_t i, const char **type, struct kvt_l2_status *st);

/* ---- stats ------------------------------------------------------------ */

/*
 * KVT_STATS_FIELDS(X) - every counter, X(name, kind, help) in struct order:
 * kind is counter (only grows) or gauge (a level).  The one list of them:
 * struct kvt_stats, kvt_stats_field() and kvt_stats_prometheus() are made
 * from it, and a counter is only ever appended.
 */
#define KVT_STATS_FIELDS(X) \
	X(lookups, counter, "keys asked of contains") \
	X(lookup_hits, counter, "keys in the cached prefixes contains returned") \
	X(l1_hits, counter, "keys served from L1 by get, prefetch and borrow") \
	X(l1_misses, counter, "keys get, prefetch and borrow did not find in L1") \
	X(l1_bytes_in, counter, "bytes stored into L1") \
	X(l1_bytes_out, counter, "bytes restored from L1") \
	X(l1_entries, gauge, "chunks held in L1") \
	X(l1_slots, gauge, "L1 slots") \
	X(l1_free_slots, gauge, "L1 slots free") \
	X(l1_evictions, counter, "L1 entries evicted by CLOCK") \
	X(puts, counter, "chunks stored") \
	X(put_duplicates, counter, "puts of keys already present or in flight") \
	X(put_errors, counter, "puts refused (oversized, no slot, shutdown)") \
	X(removes, counter, "keys removed") \
	X(remove_refused, counter, "non-forced removes refused because pinned") \
	X(pinned_entries, gauge, "entries with at least one pin") \
	X(pins, counter, "pins taken") \
	X(unpins, counter, "pins dropped by unpin") \
	X(unpin_underflows, counter, "unpins of keys not pinned or absent") \
	X(pin_force_releases, counter, "pins dropped by the pin-monitor after pin_ttl_ms") \
	X(borrows_active, gauge, "zero-copy borrow leases held") \
	X(prefetches, counter, "prefetch requests") \
	X(prefetch_hits, counter, "chunks restored by prefetch") \
	X(dax_hits, counter, "keys served from DAX by get, prefetch and borrow") \
	X(dax_misses, counter, "keys get, prefetch and borrow did not find in DAX") \
	X(dax_bytes_in, counter, "bytes written into DAX") \
	X(dax_bytes_out, counter, "bytes restored from DAX") \
	X(dax_entries, gauge, "chunks held in DAX") \
	X(dax_slots, gauge, "DAX slots") \
	X(dax_free_slots, gauge, "DAX slots free") \
	X(dax_evictions, counter, "DAX entries evicted by CLOCK") \
	X(dax_recovered, gauge, "chunks rebuilt from the device's slot headers at open") \
	X(dax_torn, gauge, "torn or checksum-failing slots discarded at open") \
	X(dax_write_errors, counter, "write-throughs to DAX that failed (chunk kept in L1 only)") \
	X(dax_write_dropped, counter, \
	  "write-throughs skipped because the key was removed while queued") \
	X(dax_promotions, counter, "DAX hits copied into L1") \
	X(dax_numa_node, gauge, "NUMA node of the DAX device plus one (0: unknown or no DAX)") \
	X(restore_waves, counter, "batched DAX restore waves run") \
	X(restore_regions, counter, "batched DAX restore regions copied by the restore workers") \
	X(restore_spans_merged, counter, \
	  "chunks restored in a neighbour's copy (coalesced spans)") \
	X(restore_errors, counter, "batched DAX restores that failed") \
	X(mailbox_full_waits, counter, "posts that found an actor mailbox full") \
	X(mailbox_timeouts, counter, "posts that gave up on a full mailbox") \
	X(index_queue_depth, gauge, "messages queued for the index actor") \
	X(restore_queue_depth, gauge, "messages queued for restore workers") \
	X(errors, counter, "internal errors") \
	X(l2_adapters, gauge, "L2 adapters open") \
	X(l2_unhealthy, gauge, "L2 adapters reporting is_healthy false") \
	X(l2_plugin_errors, gauge, "L2 plugins skipped at open") \
	X(l2_hits, counter, "keys get and prefetch loaded from L2 tiers") \
	X(l2_misses, counter, "keys get and prefetch did not find in any L2 tier") \
	X(l2_bytes_in, counter, "bytes written to L2 tiers") \
	X(l2_bytes_out, counter, "bytes loaded from L2 tiers") \
	X(l2_write_errors, counter, "chunks some L2 adapter failed to store") \
	X(l2_write_dropped, counter, \
	  "L2 copies deleted again: the key was removed while its write ran") \
	X(l2_admissions, counter, \
	  "chunks written to the L2 tiers on their l2.admit_after_hits-th read") \
	X(l2_promotions, counter, "L2 hits copied into L1") \
	X(staging_inflight, gauge, "L1 staging buffers waiting on L2 writes") \
	X(staging_timeouts, counter, "puts that found no staging buffer within staging_wait_ms")

struct kvt_stats {
#define KVT_STATS_MEMBER_(name, kind, help) uint64_t name;
	KVT_STATS_FIELDS(KVT_STATS_MEMBER_)
#undef KVT_STATS_MEMBER_
};

/**
 * kvt_stats() - a snapshot of the counters (each read atomically; the set
 * is not one atomic snapshot).
 * @size: sizeof(*@out) as the caller was built: counters are only ever
 *        appended, so a caller built against an older kvtier.h gets the
 *        ones it knows and a newer library never writes past them.
 * Threads: any.  Blocks: never.
 * Return: the bytes written (min(@size, the library's struct)), or -EINVAL.
 */
ssize_t kvt_stats(struct kvt *kvt, struct kvt_stats *out, size_t size);

/**
 * kvt_stats_field() - describe the @i-th counter of struct kvt_stats.  Every
 * field is a uint64_t, in struct order, so tools can list them all.
 * @name, @help: receive static strings; @gauge: true for a level, false for
 *               a counter.  Any of them may be NULL.
 * @value:       receives the field's value in @st (may be NULL, as may @st).
 *
 * Threads: any.  Blocks: never.
 * Return: 0, or -ENOENT past the last field.
 */
int kvt_stats_field(const struct kvt_stats *st, size_t i, const char **name,
		    const char **help, bool *gauge, uint64_t *value);

/**
 * kvt_stats_prometheus() - the counters as Prometheus text exposition,
 * the text the metrics.listen endpoint serves: counters kvtier_<name>_total,
 * gauges kvtier_<name>, the per-tier fields (l1_hits, dax_hits, l2_hits, ...)
 * one family each with a tier label, each L2 adapter's status, and with
 * metrics.listen set the latency histograms.
 * @buf: receives NUL-terminated text; @len its size.
 * Threads: any.  Blocks: never.  Allocates: a scratch copy of the text.
 * Return: the text length, -ENOSPC when @len is too small, or -ENOMEM.
 */
ssize_t kvt_stats_prometheus(struct kvt *kvt, char *buf, size_t len);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* KVTIER_H */
