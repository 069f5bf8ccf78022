/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/tier_mem.c - the tiers of kvtier-stress in memory:
 * l1 (L1 DRAM alone) and dax (a Device-DAX tier, behind L1 or alone): the
 * DAX device or the tmpfs file that emulates one, its config, its checks,
 * the reopen after kvt_close() and its lines of the report.
 *
 * Threads: main (dax_stop_signal also from a signal handler).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "tools/kvtier-stress/stress.h"

/* ---- l1 ---- */

static uint32_t l1_keys(const struct stress_opts *o, const struct kvt_stats *st)
{
	return (uint32_t)(4 * st->l1_slots);
}

const struct tier_ops tier_l1 = {
	.name = "l1",
	.keys = l1_keys,
};

/* ---- dax: the device ---- */

/* The DAX file this run created, removed at exit (also from a signal). */
static char dax_tmp_path[64];

/*
 * dax_prepare() - where the DAX tier lives: --dax-path, or a fresh file in
 * /dev/shm (mkstemp, mode 0600) that dax_cleanup() removes.  The file is
 * sized by kvtier; tmpfs does not reserve it, and a full tmpfs would
 * SIGBUS on first touch, so the free space is checked here.
 * Return: 0, or -EINVAL with a message on stderr.
 */
static int dax_prepare(struct stress *s)
{
	const struct stress_opts *o = &s->o;
	struct statvfs vfs;
	int fd;

	if (o->dax_path) {
		s->dax_path = o->dax_path;
		return 0;
	}
	if (statvfs("/dev/shm", &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < ((uint64_t)o->dax_mb << 20)) {
		fprintf(stderr, "kvtier-stress: /dev/shm has %llu MiB free, --dax-mb is %u\n",
			(unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize >> 20),
			o->dax_mb);
		return -EINVAL;
	}
	snprintf(dax_tmp_path, sizeof(dax_tmp_path), "/dev/shm/kvtier-stress-XXXXXX");
	fd = mkstemp(dax_tmp_path);
	if (fd < 0) {
		fprintf(stderr, "kvtier-stress: mkstemp(%s): %s\n", dax_tmp_path, strerror(errno));
		dax_tmp_path[0] = '\0';
		return -EINVAL;
	}
	close(fd);
	s->dax_path = dax_tmp_path;
	return 0;
}

static void dax_cleanup(void)
{
	if (dax_tmp_path[0] && unlink(dax_tmp_path) < 0 && errno != ENOENT)
		fprintf(stderr, "kvtier-stress: unlink(%s): %s\n", dax_tmp_path, strerror(errno));
	dax_tmp_path[0] = '\0';
}

static void dax_stop_signal(void)
{
	/* unlink() is async-signal-safe; the file is ours (dax_prepare) */
	if (dax_tmp_path[0])
		unlink(dax_tmp_path);
}

static const char *dax_mode(const struct stress *s)
{
	return s->o.tier == TIER_DAX_PRIMARY ? "primary" : "tiered";
}

static int dax_config(struct stress *s, uint32_t fault_ppm, struct knobs *k)
{
	const struct stress_opts *o = &s->o;

	if (o->tier == TIER_DAX_PRIMARY)
		knob_add(k, "local_cpu", "false");
	if (knob_add(k, "dax.device_path", "%s", s->dax_path)) {
		fprintf(stderr, "kvtier-stress: --dax-path: longer than %zu bytes\n",
			sizeof(k->k[0].value) - 1);
		return -EINVAL;
	}
	knob_add(k, "dax.allow_file_backing", "true");
	knob_add(k, "dax.max_dax_size", "%.12f", (double)o->dax_mb / 1024.0 + 1e-12);
	knob_add(k, "dax.mode", "%s", dax_mode(s));
	/* this run's own namespace: a device left by an earlier run (same
	 * key ids, other versions) is reformatted, never recovered */
	knob_add(k, "dax.reinit", "true");
	knob_add(k, "tenant_salt", "kvtier-stress-%016llx", (unsigned long long)o->seed);
	return 0;
}

static uint32_t dax_keys(const struct stress_opts *o, const struct kvt_stats *st)
{
	return (uint32_t)((o->tier == TIER_DAX_TIERED ? 2 : 4) * st->dax_slots);
}

/* ---- dax: checks ---- */

static void dax_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
			   const struct worker_acct *a, struct l2_status *l2)
{
	check(c, st->dax_entries + st->dax_free_slots == st->dax_slots,
	      "dax_entries %" PRIu64 " + dax_free_slots %" PRIu64 " == dax_slots %" PRIu64
	      " (no lost slot)", st->dax_entries, st->dax_free_slots, st->dax_slots);
	check(c, st->dax_recovered == 0 && st->dax_torn == 0,
	      "fresh device: dax_recovered %" PRIu64 " == 0, dax_torn %" PRIu64 " == 0",
	      st->dax_recovered, st->dax_torn);
	if (s->async_cb) {
		/* a write-through that failed, or was dropped because its key
		 * was removed while it was queued, fires no callback and is
		 * counted; so is one of a commit, which has no callback */
		uint64_t unwritten = st->dax_write_errors + st->dax_write_dropped;

		check(c, unwritten >= a->cb_missing && unwritten <= a->cb_missing + a->commits,
		      "dax_write_errors %" PRIu64 " + dax_write_dropped %" PRIu64
		      " in [stored keys whose callback never fired %" PRIu64
		      ", that + commits %" PRIu64 "]", st->dax_write_errors,
		      st->dax_write_dropped, a->cb_missing, a->commits);
		check(c, a->cb_fired + a->cb_missing == a->put_stored,
		      "put callbacks %" PRIu64 " + missing %" PRIu64 " == keys stored by put %"
		      PRIu64, a->cb_fired, a->cb_missing, a->put_stored);
		check(c, st->dax_promotions <= st->dax_hits,
		      "dax_promotions %" PRIu64 " <= dax_hits %" PRIu64, st->dax_promotions,
		      st->dax_hits);
	} else {
		check(c, st->dax_write_errors == 0 && st->dax_promotions == 0,
		      "primary: dax_write_errors %" PRIu64 " == 0, dax_promotions %" PRIu64 " == 0",
		      st->dax_write_errors, st->dax_promotions);
		check(c, st->l1_slots == 0 && st->l1_hits == 0,
		      "primary: l1_slots %" PRIu64 " == 0, l1_hits %" PRIu64 " == 0",
		      st->l1_slots, st->l1_hits);
	}
	/* coverage, with the default keyspace: every tier evicted */
	if (!s->o.keys)
		check(c, st->dax_evictions > 0 && (s->o.tier != TIER_DAX_TIERED ||
						   st->l1_evictions > 0),
		      "both tiers evicted (l1_evictions %" PRIu64 ", dax_evictions %" PRIu64 ")",
		      st->l1_evictions, st->dax_evictions);
}

static void dax_at_close(struct stress *s, struct reopen *r)
{
	struct kvt_stats at_close;

	/* the sweep's promotions changed L1 only, but let eviction settle */
	quiet_stats(s, &at_close);
	r->at_close = at_close.dax_entries;
}

/*
 * dax_reopen() - open the DAX device again with the same config: it must
 * recover exactly the chunks DAX held at close, none torn, and each must
 * read back byte-exact.  kvt_borrow() reads in place and never promotes,
 * and L1 starts empty, so every byte checked comes from the device.
 */
static void dax_reopen(struct stress *s, struct checks *c, struct reopen *r)
{
	uint64_t corrupt_before = atomic_load_explicit(&s->v->corruptions, memory_order_relaxed);
	struct kvt_stats st, after;
	int ret;

	ret = kvt_open(s->cfg, &s->kvt, NULL, 0);
	check(c, ret == 0, "reopen: kvt_open() on the same device = %d (%s)", ret,
	      kvt_strerror(ret));
	if (ret) {
		s->kvt = NULL;
		return;
	}
	r->done = true;
	kvt_stats(s->kvt, &st, sizeof(st));
	r->recovered = st.dax_recovered;
	r->torn = st.dax_torn;
	check(c, st.dax_recovered == r->at_close,
	      "reopen: dax_recovered %" PRIu64 " == dax_entries %" PRIu64 " at close",
	      st.dax_recovered, r->at_close);
	check(c, st.dax_torn == 0, "reopen: dax_torn %" PRIu64 " == 0", st.dax_torn);
	check(c, st.dax_entries == st.dax_recovered,
	      "reopen: dax_entries %" PRIu64 " == dax_recovered %" PRIu64, st.dax_entries,
	      st.dax_recovered);
	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		struct kvt_lease lease;

		ret = kvt_borrow(s->kvt, &key, &lease);
		if (ret == -ENOENT)
			continue;
		if (ret) {
			check(c, false, "reopen: kvt_borrow(key %" PRIu64 ") = %d (%s)", id, ret,
			      kvt_strerror(ret));
			continue;
		}
		r->read++;
		payload_check(s, "reopen", lease.data, lease.len, id);
		ret = kvt_release(s->kvt, &lease);
		if (ret)
			check(c, false, "reopen: kvt_release(key %" PRIu64 ") = %d", id, ret);
	}
	r->corrupt = atomic_load_explicit(&s->v->corruptions, memory_order_relaxed) -
		     corrupt_before;
	kvt_stats(s->kvt, &after, sizeof(after));
	check(c, r->read == st.dax_recovered && r->corrupt == 0,
	      "reopen: read back %" PRIu64 " recovered chunks == %" PRIu64 ", %" PRIu64
	      " corrupt", r->read, st.dax_recovered, r->corrupt);
	check(c, after.dax_hits == r->read && after.l1_hits == 0 && after.dax_evictions == 0,
	      "reopen: dax_hits %" PRIu64 " == %" PRIu64 " read, l1_hits %" PRIu64
	      " == 0, dax_evictions %" PRIu64 " == 0", after.dax_hits, r->read, after.l1_hits,
	      after.dax_evictions);
	ret = kvt_close(s->kvt);
	s->kvt = NULL;
	check(c, ret == 0, "reopen: kvt_close() = %d", ret);
}

/* ---- dax: what it prints ---- */

static void dax_print_inputs(const struct stress *s, const struct kvt_stats *st)
{
	printf("  dax %" PRIu64 " slots (%u MiB) on %s%s, %s mode\n", st->dax_slots, s->o.dax_mb,
	       s->dax_path, s->o.dax_path ? "" : " (emulated; removed at exit)", dax_mode(s));
}

static void dax_progress(struct stress *s, const struct kvt_stats *st, char *out, size_t len)
{
	snprintf(out, len, " dax %" PRIu64 "/%" PRIu64, st->dax_entries, st->dax_slots);
}

static void dax_report(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
		       const struct worker_acct *a)
{
	printf("dax (%s): %" PRIu64 " slots, %" PRIu64 " entries at the end, %" PRIu64
	       " evictions, %" PRIu64 " hits, %" PRIu64 " promotions, %" PRIu64
	       " write errors, %" PRIu64 " put callbacks (%" PRIu64 " flushes to settle)\n",
	       dax_mode(s), st->dax_slots, st->dax_entries, st->dax_evictions, st->dax_hits,
	       st->dax_promotions, st->dax_write_errors, a->cb_fired, a->track_flushes);
	if (r->done)
		printf("reopen: %" PRIu64 " chunks at close, %" PRIu64 " recovered, %" PRIu64
		       " torn, %" PRIu64 " read back, %" PRIu64 " corrupt\n", r->at_close,
		       r->recovered, r->torn, r->read, r->corrupt);
}

static void dax_json(struct stress *s, const struct kvt_stats *st, const struct reopen *r)
{
	printf(",\"dax\":{\"mode\":\"%s\",\"mb\":%u,\"slots\":%" PRIu64 ",\"entries\":%" PRIu64
	       ",\"evictions\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"promotions\":%" PRIu64
	       ",\"write_errors\":%" PRIu64 ",\"reopen\":{\"at_close\":%" PRIu64 ",\"recovered\":%"
	       PRIu64 ",\"torn\":%" PRIu64 ",\"read\":%" PRIu64 ",\"corrupt\":%" PRIu64 "}}",
	       dax_mode(s), s->o.dax_mb, st->dax_slots, st->dax_entries, st->dax_evictions,
	       st->dax_hits, st->dax_promotions, st->dax_write_errors, r->at_close, r->recovered,
	       r->torn, r->read, r->corrupt);
}

const struct tier_ops tier_dax = {
	.name = "dax",
	.keys = dax_keys,
	.prepare = dax_prepare,
	.config = dax_config,
	.print_inputs = dax_print_inputs,
	.progress = dax_progress,
	.accounting = dax_accounting,
	.at_close = dax_at_close,
	.reopen = dax_reopen,
	.report = dax_report,
	.json = dax_json,
	.cleanup = dax_cleanup,
	.stop_signal = dax_stop_signal,
};
