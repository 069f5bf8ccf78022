/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/dax.c - the Device-DAX tier's lifetime: validate and map the device
 * (core/daxdev), attach the on-device format (core/daxfmt), rebuild the
 * index from the slot headers a previous run left (restart recovery), and
 * undo all of it at close.
 *
 * Recovery runs in kvt_open() before any actor starts: the scan of the
 * slot headers and payloads on dax.restore_workers threads over disjoint
 * ranges, then the map filled by this thread alone; torn slots are reset
 * to FREE by the scan and counted, never indexed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "actors/index.h"
#include "core/instance.h"
#include "core/log.h"
#include "core/mem.h"

/* One VALID slot found by the recovery scan. */
struct recovered {
	struct kvt_key key;
	uint64_t gen;
	uint32_t slot;
	uint32_t len;
};

struct recovery {
	struct recovered *found;
	uint64_t *live_gens;
	uint32_t n;
};

/* A range of slots one scan thread recovers into its own part of found[]. */
struct scan_part {
	struct daxfmt *fmt;
	uint32_t first, end;
	struct recovery r;              /* r.found: the range's own stretch */
	struct daxfmt_scan_stats st;
	pthread_t th;
	bool started;
};

/* a range smaller than this is not worth a thread's start */
#define SCAN_MIN_SLOTS 1024u
#define SCAN_MAX_THREADS 16u

static void persist(void *arg, const void *addr, size_t len)
{
	daxdev_persist(arg, addr, len);
}

static void on_found(void *arg, uint32_t slot, const struct kvt_key *key, uint32_t len,
		     uint64_t gen)
{
	struct recovery *r = arg;
	struct recovered *rec = &r->found[r->n++];

	rec->key = *key;
	rec->gen = gen ? gen : 1;
	rec->slot = slot;
	rec->len = len;
	r->live_gens[slot] = rec->gen;
}

static void *scan_part_main(void *arg)
{
	struct scan_part *sp = arg;

	daxfmt_scan_range(sp->fmt, sp->first, sp->end, on_found, &sp->r, &sp->st);
	return NULL;
}

/*
 * The recovery scan on dax.restore_workers threads (the caller one of
 * them), each over its own range of slots: the scan reads every payload
 * (an XXH3 of every byte held) and, in a VM, faults in every page of the
 * fresh mapping, so it takes as many CPUs as a restore may.  A thread
 * that does not start leaves its range to the caller.  found[] ends in
 * slot order, as one scan would leave it.
 */
static void scan_parallel(struct kvt *kvt, struct recovery *r)
{
	struct scan_part parts[SCAN_MAX_THREADS];
	uint32_t nslots = kvt->daxfmt.g.nslots, n = kvt->cfg.dax_restore_workers, per;

	n = n < SCAN_MAX_THREADS ? n : SCAN_MAX_THREADS;
	n = n < nslots / SCAN_MIN_SLOTS ? n : nslots / SCAN_MIN_SLOTS;
	n = n ? n : 1;
	per = nslots / n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t first = i * per;

		parts[i] = (struct scan_part){
			.fmt = &kvt->daxfmt, .first = first, .end = i == n - 1 ? nslots : first + per,
			.r = { .found = r->found + first, .live_gens = r->live_gens },
		};
		/* part 0 is the caller's; the others get threads while they start */
		if (i)
			parts[i].started = !pthread_create(&parts[i].th, NULL, scan_part_main,
							   &parts[i]);
	}
	scan_part_main(&parts[0]);
	memset(&kvt->dax_scan, 0, sizeof(kvt->dax_scan));
	r->n = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct scan_part *sp = &parts[i];

		if (sp->started)
			pthread_join(sp->th, NULL);
		else if (i)
			scan_part_main(sp);
		memmove(r->found + r->n, sp->r.found, sizeof(*r->found) * sp->r.n);
		r->n += sp->r.n;
		kvt->dax_scan.recovered += sp->st.recovered;
		kvt->dax_scan.torn += sp->st.torn;
		kvt->dax_scan.free += sp->st.free;
	}
}

/* Index the recovered slots; a second slot holding a key (impossible unless
 * the device was written by something else) is freed, not indexed. */
static int index_recovered(struct kvt *kvt, struct recovery *r)
{
	struct tier *t = &kvt->dax;

	kvt_rcu_read_lock();
	for (uint32_t i = 0; i < r->n; i++) {
		struct recovered *rec = &r->found[i];
		struct entry *e;

		if (rec->len > kvt->chunk_bytes) {
			/* written with a larger chunk shape: not ours to serve */
			daxfmt_free(&kvt->daxfmt, rec->slot);
			slots_give_back(&t->slots, rec->slot);
			kvt->dax_scan.recovered--;
			kvt->dax_scan.torn++;
			continue;
		}
		e = kvt_new_entry(t, &rec->key, rec->slot, rec->gen, rec->len);
		if (!e) {
			kvt_rcu_read_unlock();
			return -ENOMEM;
		}
		atomic_store_explicit(&t->slots.owner[rec->slot], e, memory_order_relaxed);
		if (cds_lfht_add_unique(t->map, entry_hash(&e->key), tier_match, &e->key,
					&e->node) != &e->node) {
			atomic_store_explicit(&t->slots.owner[rec->slot], NULL, memory_order_relaxed);
			daxfmt_free(&kvt->daxfmt, rec->slot);
			slots_give_back(&t->slots, rec->slot);
			kvt_free_entry_unpublished(e);
			kvt->dax_scan.recovered--;
			kvt->dax_scan.torn++;
			continue;
		}
		TIER_COUNT(t, entries, 1);
	}
	kvt_rcu_read_unlock();
	return 0;
}

/*
 * The identity a device is formatted for: the key namespace and the chunk
 * shape, so two shapes of one byte size (kv_heads 2 x head_dim 32 and
 * 1 x 64) never read each other's chunks.
 */
static void device_identity(const struct kvt *kvt, struct kvt_key *id)
{
	const struct kvt_config *cfg = &kvt->cfg;
	uint32_t shape[] = {
		cfg->chunk_size, cfg->kv_layers, cfg->kv_heads, cfg->head_dim, cfg->use_mla,
	};

	kvt_key_chain(&kvt->ns_seed, shape, sizeof(shape) / sizeof(shape[0]), id);
}

/* Puts 'dax.device_path: "PATH": ' before the message in @err. */
static void prefix_path(const char *path, char *err, size_t errlen)
{
	char msg[512];

	if (!errlen || !err[0] || !strncmp(err, "dax.device_path", 15))
		return;
	snprintf(msg, sizeof(msg), "%s", err);
	snprintf(err, errlen, "dax.device_path: \"%s\": %s", path, msg);
}

static int attach_and_recover(struct kvt *kvt, const struct daxfmt_geometry *g, bool checked,
			      char *err, size_t errlen)
{
	struct recovery r = { 0 };
	struct tier *t = &kvt->dax;
	struct kvt_key identity;
	bool formatted;
	int ret;

	device_identity(kvt, &identity);
	/* check_contents() sampled the zeros already, through pread() */
	ret = (checked ? daxfmt_attach_checked : daxfmt_attach)(
		&kvt->daxfmt, kvt->daxdev.base, g, &identity, kvt->cfg.dax_reinit, persist,
		&kvt->daxdev, &formatted, err, errlen);
	if (ret)
		return ret;
	r.live_gens = mem_zalloc(sizeof(*r.live_gens) * g->nslots);
	r.found = mem_alloc(sizeof(*r.found) * g->nslots);
	if (!r.live_gens || !r.found) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (!formatted)
		scan_parallel(kvt, &r);
	ret = slots_init_on(&t->slots, daxfmt_slot(&kvt->daxfmt, 0), g->slot_bytes, g->nslots,
			    r.live_gens);
	if (ret)
		goto out_free;
	ret = tier_map_new(t);
	if (ret)
		goto err_slots;
	ret = index_recovered(kvt, &r);
	if (ret)
		goto err_map;
	/* a torn slot is a write a crash cut short: worth a warning */
	if (kvt->dax_scan.torn)
		log_warn("dax: %s: recovered %u chunks, discarded %u torn slots",
			 kvt->daxdev.path, kvt->dax_scan.recovered, kvt->dax_scan.torn);
	else if (kvt->dax_scan.recovered)
		log_info("dax: %s: recovered %u chunks", kvt->daxdev.path,
			 kvt->dax_scan.recovered);
	goto out_free;

err_map:
	index_destroy_tier(t);
	tier_map_destroy(t);
err_slots:
	slots_destroy(&t->slots);
out_free:
	mem_free(r.found);
	mem_free(r.live_gens);
	return ret;
}

/*
 * What the device holds decides whether it may be formatted, before any
 * byte of it (or a file's size) changes: kvtier's own superblock, or zeros
 * where sampled, and nothing else unless dax.reinit; never a file shorter
 * than the region its superblock records.  Only the bytes that exist are
 * read (an existing file shorter than the region is extended after this,
 * by daxdev_grow()).  daxfmt_attach() makes the same check of the whole
 * region again.  Return: 0, -EEXIST data that is not kvtier's, -ENOSPC a
 * truncated file, or -errno growing the file; @err says which.  @checked:
 * set when the bytes passed (not only let through by dax.reinit).
 */
static int check_contents(struct kvt *kvt, bool *checked, char *err, size_t errlen)
{
	struct daxdev *d = &kvt->daxdev;
	uint64_t extent = d->device_bytes > d->map_offset ? d->device_bytes - d->map_offset : 0;
	struct daxfmt_look l;
	char what[320];
	int ret;

	/* a file is read with pread(): a fault on a hole of the mapping would
	 * allocate a page of tmpfs for every word sampled */
	ret = daxfmt_precheck(d->base, d->is_char ? -1 : d->fd, d->map_offset,
			      daxdev_backed_bytes(d), extent, &l, what, sizeof(what));
	if (ret && !kvt->cfg.dax_reinit) {
		if (ret == -EEXIST)
			snprintf(err, errlen, "dax.device_path: \"%s\": %s; refusing to format it"
				 " without dax.reinit: true", d->path, what);
		else
			snprintf(err, errlen, "dax.device_path: \"%s\": %s; refusing to use it"
				 " (dax.reinit: true formats it)", d->path, what);
		return ret;
	}
	if (ret)
		log_warn("dax.device_path: \"%s\": %s; dax.reinit: true, using it", d->path,
			 what);
	*checked = !ret;
	return daxdev_grow(d, err, errlen);
}

int dax_open(struct kvt *kvt, char *err, size_t errlen)
{
	const struct kvt_config *cfg = &kvt->cfg;
	bool partition = strcmp(cfg->dax_partition, "auto") == 0;
	struct daxdev_opts o = {
		.path = cfg->dax_device_path,
		.total_bytes = (uint64_t)(cfg->dax_max_dax_size * 1073741824.0),
		.allow_file_backing = cfg->dax_allow_file_backing,
		.sysfs_root = cfg->dax_sysfs_root,
		.rank = partition ? cfg->worker_id : 0,
		.world_size = partition ? cfg->world_size : 1,
	};
	struct daxfmt_geometry g;
	struct tier *t = &kvt->dax;
	bool checked = false;
	int ret;

	ret = daxdev_open(&kvt->daxdev, &o, err, errlen);
	if (ret)
		return ret;
	ret = daxfmt_layout(kvt->daxdev.map_bytes, kvt->chunk_bytes, kvt->daxdev.align, &g);
	if (ret) {
		snprintf(err, errlen,
			 "dax.max_dax_size: \"%g\": a partition of %zu bytes holds no %zu-byte slot",
			 cfg->dax_max_dax_size, kvt->daxdev.map_bytes, kvt->chunk_bytes);
		goto err_close;
	}
	ret = check_contents(kvt, &checked, err, errlen);
	if (ret)
		goto err_close;
	t->name = "dax";
	t->owner = kvt;
	t->fmt = &kvt->daxfmt;
	ret = attach_and_recover(kvt, &g, checked, err, errlen);
	if (ret) {
		prefix_path(kvt->daxdev.path, err, errlen);
		goto err_close;
	}
	if (strcmp(cfg->dax_eviction, "clock") == 0) {
		/* evict on demand: keep 1% (at least one slot) free */
		t->evict_low = g.nslots / 100 ? g.nslots / 100 : 1;
		t->evict_high = 2 * t->evict_low;
	}
	kvt->has_dax = true;
	kvt->tiers[kvt->ntiers++] = t;
	if (strcmp(cfg->dax_mode, "primary") == 0)
		kvt->primary = t;
	log_info("dax: %s: %u slots of %llu bytes, NUMA node %d%s", kvt->daxdev.path, g.nslots,
		 (unsigned long long)g.slot_bytes, kvt->daxdev.numa_node,
		 kvt->daxdev.map_sync ? ", MAP_SYNC" : "");
	return 0;

err_close:
	daxdev_discard(&kvt->daxdev);
	return ret;
}

void dax_close(struct kvt *kvt)
{
	if (!kvt->has_dax)
		return;
	tier_map_destroy(&kvt->dax);
	slots_destroy(&kvt->dax.slots);
	daxdev_close(&kvt->daxdev);
	kvt->has_dax = false;
}
