/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/checks.c - what must hold once a run is quiet: the
 * sweep of every key, kvtier's counters against what the workers did, pins,
 * the L2 tiers' common accounting, leaks, and the reopen of an L2 tier
 * after kvt_close().  What is a tier's own (its adapter's counters, DAX's
 * slots and reopen) is in its file, behind struct tier_ops.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/stress.h"


/* ---- end-of-run checks ---- */

void check(struct checks *c, bool ok, const char *fmt, ...)
{
	va_list ap;

	c->run++;
	if (ok && !c->verbose)
		return;
	c->failed += !ok;
	printf("%scheck %-4s ", c->who, ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

struct worker_acct total_acct(struct stress *s)
{
	struct worker_acct t = { 0 };

	for (unsigned int i = 0; i < s->o.threads; i++) {
		const struct worker_acct *a = &s->w[i].acct;

		t.pins += a->pins;
		t.unpin_keys += a->unpin_keys;
		t.unpins += a->unpins;
		t.put_stored += a->put_stored;
		t.put_dups += a->put_dups;
		t.put_errors += a->put_errors;
		t.put_timeouts += a->put_timeouts;
		t.commits += a->commits;
		t.removes += a->removes;
		t.remove_refused += a->remove_refused;
		t.remove_l2_locked += a->remove_l2_locked;
		t.prefetch_posted += a->prefetch_posted;
		t.prefetch_failed += a->prefetch_failed;
		t.pins_lost += a->pins_lost;
		t.cross_removes += a->cross_removes;
		t.cb_fired += a->cb_fired;
		t.cb_missing += a->cb_missing;
		t.track_flushes += a->track_flushes;
		t.reads += a->reads;
		t.read_bytes += a->read_bytes;
		t.misses += a->misses;
		t.prefetch_misses += a->prefetch_misses;
		t.short_prefetches += a->short_prefetches;
	}
	return t;
}

/* Main, after the join and a kvt_flush(): no put callback can fire now. */
void settle_tracks(struct stress *s)
{
	for (unsigned int i = 0; i < s->o.threads; i++)
		for (unsigned int j = 0; j < PUT_TRACKS; j++)
			put_track_settle(&s->w[i], &s->w[i].tracks[j]);
}

static bool same_levels(const struct kvt_stats *a, const struct kvt_stats *b)
{
	return a->l1_entries == b->l1_entries && a->l1_free_slots == b->l1_free_slots &&
	       a->l1_evictions == b->l1_evictions && a->dax_entries == b->dax_entries &&
	       a->dax_free_slots == b->dax_free_slots && a->dax_evictions == b->dax_evictions;
}

/*
 * quiet_stats() - the counters once kvtier is idle.  A kvt_flush() drains
 * the mailboxes, but the index actor may still be evicting in the
 * background (it does when a tier is below its low watermark), and an
 * unlink and its slot's give-back are two steps a snapshot can fall
 * between; so flush and read until two snapshots agree.
 * Return: the last kvt_flush() result.
 */
int quiet_stats(struct stress *s, struct kvt_stats *st)
{
	struct kvt_stats prev;
	int ret = 0;

	for (int i = 0; i < 100; i++) {
		ret = kvt_flush(s->kvt);
		kvt_stats(s->kvt, st, sizeof(*st));
		if (i && same_levels(&prev, st))
			break;
		prev = *st;
		usleep(10000);
	}
	return ret;
}

/* Keys some tier holds, by kvt_contains(): no promotion, no copy. */
static uint64_t count_present(struct stress *s)
{
	uint64_t n = 0;

	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);

		n += kvt_contains(s->kvt, &key, 1, 0) == 1;
	}
	return n;
}

/*
 * sweep() - read back every key with kvt_get(): what is stored must
 * verify.  In tiered mode a DAX hit is promoted into L1, which may evict an
 * L1-only key the sweep has not reached yet.
 * Return: the keys read.
 */
static uint64_t sweep(struct stress *s, struct checks *c)
{
	unsigned char *buf = s->w[0].get_buf;
	uint64_t found = 0;

	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		void *b = buf;
		size_t cap = s->chunk, len = 0;
		ssize_t ret = kvt_get(s->kvt, &key, 1, &b, &cap, &len);

		if (ret < 0 || ret > 1 || (ret == 1) != (len != 0)) {
			check(c, false, "final sweep: kvt_get(key %" PRIu64 ") = %zd, len %zu", id,
			      ret, len);
			continue;
		}
		if (ret == 1) {
			found++;
			payload_check(s, "final sweep", buf, len, id);
		}
	}
	return found;
}

/*
 * l2_present() - kvt_contains() of each key against what holds it: an L1
 * copy (kvt_borrow() finds it; never in staging mode) or a chunk file a
 * lookup sees (fs_scan(): one the adapter wrote, or a corrupted one still
 * as long as a header; a lookup only looks at names and sizes).
 * @fragile: receives how many present keys have no intact file: a corrupted
 *           file is a miss, and an L1 copy may be evicted before the sweep
 *           reads it.
 * With resp, "file" reads "value": a lookup (STRLEN) sees any value at
 * least a header long; with pool, "entry" (the daemon's registry: nobody
 * writes the pool behind the adapter's back, so each is intact).
 * Return: keys present.
 */
static uint64_t l2_present(struct stress *s, struct checks *c, const struct kvt_stats *st,
			   uint64_t *fragile)
{
	uint64_t present = 0, in_l1 = 0, files = 0, wrong = 0;
	struct l2_scan sc;
	int ret = s->tier->scan(s, &sc);

	*fragile = 0;
	if (ret) {
		check(c, false, "%s: scan of %s: %s", stress_tier_names[s->o.tier],
		      s->tier->where(s), strerror(-ret));
		l2_scan_free(&sc);
		*fragile = s->nkeys;
		return count_present(s);
	}
	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		struct kvt_lease lease;
		bool l1 = kvt_borrow(s->kvt, &key, &lease) == 0;
		bool file = sc.state[id] == L2_INTACT || sc.state[id] == L2_CORRUPT;
		bool got = kvt_contains(s->kvt, &key, 1, 0) == 1;

		if (l1 && kvt_release(s->kvt, &lease))
			check(c, false, "kvt_release(key %" PRIu64 ") after the run failed", id);
		in_l1 += l1;
		files += file;
		present += got;
		*fragile += got && sc.state[id] != L2_INTACT;
		if (got != (l1 || file)) {
			wrong++;
			stress_report(s, "fs: key %" PRIu64 ": kvt_contains = %d, in L1 %d, file %d",
				      id, got, l1, sc.state[id]);
		}
	}
	check(c, wrong == 0, "kvt_contains finds %" PRIu64 " keys: those in L1 (%" PRIu64 ") or "
	      "with a %s a lookup sees (%" PRIu64 "); %" PRIu64 " keys disagree", present, in_l1,
	      s->tier->unit, files, wrong);
	check(c, in_l1 == st->l1_entries, "kvt_borrow finds %" PRIu64 " keys in L1 == l1_entries %"
	      PRIu64, in_l1, st->l1_entries);
	l2_scan_free(&sc);
	return present;
}

/* What is stored, counted and read back, against the tiers' gauges. */
void sweep_checks(struct stress *s, struct checks *c, const struct kvt_stats *st)
{
	uint64_t fragile = 0;
	uint64_t present = s->tier->l2 ? l2_present(s, c, st, &fragile) : count_present(s);
	struct l2_status before, after;
	uint64_t found;

	switch (s->o.tier) {
	case TIER_L1:
		check(c, present == st->l1_entries,
		      "kvt_contains finds %" PRIu64 " keys == l1_entries %" PRIu64, present,
		      st->l1_entries);
		break;
	case TIER_DAX_PRIMARY:
		check(c, present == st->dax_entries,
		      "kvt_contains finds %" PRIu64 " keys == dax_entries %" PRIu64, present,
		      st->dax_entries);
		break;
	case TIER_DAX_TIERED:
		/* a key may have a copy in each tier */
		check(c, present >= st->l1_entries && present >= st->dax_entries &&
			 present <= st->l1_entries + st->dax_entries,
		      "kvt_contains finds %" PRIu64 " keys, in [max, sum] of l1_entries %" PRIu64
		      " and dax_entries %" PRIu64, present, st->l1_entries, st->dax_entries);
		break;
	case TIER_FS_CACHE:
	case TIER_FS_STAGING:
	case TIER_RESP:
	case TIER_POOL:
		break;
	}
	if (s->tier->l2)
		l2_status(s->kvt, &before);
	found = sweep(s, c);
	if (s->o.tier == TIER_DAX_TIERED) {
		check(c, found <= present,
		      "final sweep read %" PRIu64 " keys <= %" PRIu64 " present (promotions may "
		      "evict L1-only keys)", found, present);
	} else if (s->tier->l2) {
		/* each key missed had no intact file (value), or its load failed
		 * with an injected EIO or a timeout (counted in the adapter's
		 * errors) */
		l2_status(s->kvt, &after);
		check(c, found <= present && present - found <= fragile + after.errors - before.errors,
		      "final sweep read %" PRIu64 " keys of %" PRIu64 " present, missing at most the %"
		      PRIu64 " without an intact file + %" PRIu64 " failed I/Os", found, present,
		      fragile, after.errors - before.errors);
	} else {
		check(c, found == present, "final sweep read %" PRIu64 " keys == %" PRIu64
		      " present", found, present);
	}
}

/*
 * Pins: kvtier counts a pin per copy (kvt_contains pins every tier's copy of
 * a key, kvt_unpin drops one from each), while the calls return keys.  With
 * one tier the two agree.  A pin vanishes only when the pin-monitor drops
 * it or a forced remove kills its entry (at most ntiers copies for each pin
 * a forced remove may have dropped).
 */
static void pin_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
			   const struct worker_acct *a)
{
	uint64_t bound = atomic_load_explicit(&s->removed_pin_bound, memory_order_relaxed);
	uint64_t vanished;

	check(c, a->unpins + st->unpin_underflows == a->unpin_keys,
	      "kvt_unpin() total %" PRIu64 " + unpin_underflows %" PRIu64 " == keys unpinned %"
	      PRIu64, a->unpins, st->unpin_underflows, a->unpin_keys);
	if (s->tier->l2) {
		/* kvt_contains(KVT_PIN) stops its prefix where L1 ends (L2 copies
		 * cannot be pinned), so each key it returns holds a pin; the
		 * bounds stay loose (a forced remove, a promotion or eviction
		 * between two threads' pins moves copies under them), but every
		 * pin kvtier took is still unpinned, released by the monitor or
		 * dropped by a forced remove */
		vanished = st->pins - st->unpins - st->pin_force_releases;
		check(c, st->pins <= a->pins && st->unpins == a->unpins,
		      "stats.pins %" PRIu64 " <= keys pinned %" PRIu64 " (L2 hits are not pinned), "
		      "stats.unpins %" PRIu64 " == kvt_unpin() total %" PRIu64, st->pins, a->pins,
		      st->unpins, a->unpins);
		check(c, st->pins >= st->unpins + st->pin_force_releases && vanished <= bound,
		      "pins vanished (pins %" PRIu64 " - unpins %" PRIu64 " - pin_force_releases %"
		      PRIu64 ") in [0, %" PRIu64 "] (pins forced removes may drop)", st->pins,
		      st->unpins, st->pin_force_releases, bound);
		if (s->o.tier == TIER_FS_STAGING)
			check(c, st->pins == 0, "staging: stats.pins %" PRIu64 " == 0 (L1 holds "
			      "nothing to pin)", st->pins);
		return;
	}
	if (s->ntiers == 1) {
		check(c, st->pins == a->pins, "stats.pins %" PRIu64 " == pins taken %" PRIu64,
		      st->pins, a->pins);
		check(c, st->unpins == a->unpins,
		      "stats.unpins %" PRIu64 " == kvt_unpin() total %" PRIu64, st->unpins,
		      a->unpins);
		/* each vanished pin makes exactly one unpin underflow */
		check(c, st->unpin_underflows >= st->pin_force_releases &&
			 st->unpin_underflows - st->pin_force_releases <= bound,
		      "unpin_underflows %" PRIu64 " - pin_force_releases %" PRIu64
		      " in [0, %" PRIu64 "] (pins forced removes may drop)", st->unpin_underflows,
		      st->pin_force_releases, bound);
		return;
	}
	check(c, st->pins >= a->pins && st->pins <= s->ntiers * a->pins,
	      "stats.pins %" PRIu64 " (copies) in [1, %u] x keys pinned %" PRIu64, st->pins,
	      s->ntiers, a->pins);
	check(c, st->unpins >= a->unpins && st->unpins <= s->ntiers * a->unpins,
	      "stats.unpins %" PRIu64 " (copies) in [1, %u] x keys unpinned %" PRIu64,
	      st->unpins, s->ntiers, a->unpins);
	vanished = st->pins - st->unpins - st->pin_force_releases;
	check(c, st->pins >= st->unpins + st->pin_force_releases && vanished <= s->ntiers * bound,
	      "copy pins vanished (pins %" PRIu64 " - unpins %" PRIu64 " - pin_force_releases %"
	      PRIu64 ") in [0, %u x %" PRIu64 "] (pins forced removes may drop)", st->pins,
	      st->unpins, st->pin_force_releases, s->ntiers, bound);
	check(c, st->unpin_underflows <= bound + st->pin_force_releases,
	      "unpin_underflows %" PRIu64 " <= %" PRIu64 " + pin_force_releases %" PRIu64,
	      st->unpin_underflows, bound, st->pin_force_releases);
}

void l2_accounting(struct stress *s, struct checks *c, const struct kvt_stats *st,
		   const struct worker_acct *a, struct l2_status *l2)
{
	bool staging = s->o.tier == TIER_FS_STAGING;

	l2_status(s->kvt, l2);
	check(c, st->l2_adapters == 1 && l2->found && st->l2_plugin_errors == 0,
	      "l2_adapters %" PRIu64 " == 1 (%s), l2_plugin_errors %" PRIu64 " == 0",
	      st->l2_adapters, stress_tier_names[s->o.tier], st->l2_plugin_errors);
	check(c, st->staging_inflight == 0, "staging_inflight %" PRIu64 " == 0 after kvt_flush",
	      st->staging_inflight);
	/* an L2 store that failed (an injected EIO, a full queue; with resp a
	 * timeout, a paused master, a server's refusal) fires no callback and
	 * is counted; so is one of a commit, which has no callback.  With resp
	 * a SET that timed out may still have been applied: counted as failed,
	 * stored all the same, which no check here can see */
	check(c, st->l2_write_errors >= a->cb_missing &&
		 st->l2_write_errors <= a->cb_missing + a->commits,
	      "l2_write_errors %" PRIu64 " in [stored keys whose callback never fired %" PRIu64
	      ", that + commits %" PRIu64 "]", st->l2_write_errors, a->cb_missing, a->commits);
	check(c, a->cb_fired + a->cb_missing == a->put_stored,
	      "put callbacks %" PRIu64 " + missing %" PRIu64 " == keys stored by put %" PRIu64,
	      a->cb_fired, a->cb_missing, a->put_stored);
	/* every key a get, prefetch or borrow was served came from L1 or L2 */
	check(c, st->l1_hits + st->l2_hits == a->reads,
	      "l1_hits %" PRIu64 " + l2_hits %" PRIu64 " == keys read %" PRIu64, st->l1_hits,
	      st->l2_hits, a->reads);
	check(c, st->l1_bytes_out + st->l2_bytes_out == a->read_bytes,
	      "l1_bytes_out %" PRIu64 " + l2_bytes_out %" PRIu64 " == bytes read %" PRIu64,
	      st->l1_bytes_out, st->l2_bytes_out, a->read_bytes);
	/* a get asks L2 for each of its holes; a prefetch for the rest of its
	 * prefix past L1, and a prefix that ends short is one miss or one per
	 * key past its end, as kvtier counts it */
	check(c, st->l2_misses >= a->misses - a->prefetch_misses + a->short_prefetches &&
		 st->l2_misses <= a->misses,
	      "l2_misses %" PRIu64 " in [get misses %" PRIu64 " + short prefetches %" PRIu64
	      ", get and prefetch misses %" PRIu64 "]", st->l2_misses,
	      a->misses - a->prefetch_misses, a->short_prefetches, a->misses);
	check(c, st->l2_promotions <= st->l2_hits, "l2_promotions %" PRIu64 " <= l2_hits %" PRIu64,
	      st->l2_promotions, st->l2_hits);
	if (staging) {
		check(c, st->l1_entries == 0 && st->l1_hits == 0 && st->l2_promotions == 0,
		      "staging: nothing readable in L1 (l1_entries %" PRIu64 ", l1_hits %" PRIu64
		      ", l2_promotions %" PRIu64 ")", st->l1_entries, st->l1_hits,
		      st->l2_promotions);
		check(c, st->staging_timeouts == a->put_timeouts,
		      "staging_timeouts %" PRIu64 " == put results -ETIMEDOUT %" PRIu64,
		      st->staging_timeouts, a->put_timeouts);
	} else {
		check(c, st->staging_timeouts == 0 && a->put_timeouts == 0,
		      "cache: staging_timeouts %" PRIu64 " == 0, put results -ETIMEDOUT %" PRIu64
		      " == 0", st->staging_timeouts, a->put_timeouts);
	}
	/* coverage: L1 evicted once more keys went in than it holds and removes
	 * took out (whether the disk filled depends on how fast it was written
	 * and emptied: reported only) */
	if (!staging && a->put_stored + a->commits > st->l1_slots + st->removes)
		check(c, st->l1_evictions > 0, "L1 evicted (l1_evictions %" PRIu64 ")",
		      st->l1_evictions);
	if (s->o.corrupt_ms && (uint64_t)s->o.seconds * 1000 >= 10ull * s->o.corrupt_ms)
		check(c, l2_injected(s) > 0, "the corruption thread corrupted %ss (%" PRIu64 ")",
		      s->tier->unit, l2_injected(s));
}

void accounting(struct stress *s, struct checks *c, const struct kvt_stats *st)
{
	struct worker_acct a = total_acct(s);
	struct l2_status l2 = { 0 };

	check(c, st->borrows_active == 0, "borrows_active %" PRIu64 " == 0", st->borrows_active);
	check(c, st->pinned_entries == 0, "pinned_entries %" PRIu64 " == 0 (every pin unpinned)",
	      st->pinned_entries);
	check(c, st->l1_entries + st->l1_free_slots == st->l1_slots,
	      "l1_entries %" PRIu64 " + l1_free_slots %" PRIu64 " == l1_slots %" PRIu64
	      " (no lost slot)", st->l1_entries, st->l1_free_slots, st->l1_slots);
	pin_accounting(s, c, st, &a);
	if (!s->o.pin_ttl_ms)
		check(c, st->pin_force_releases == 0,
		      "pin_force_releases %" PRIu64 " == 0 without pin_ttl_ms",
		      st->pin_force_releases);
	check(c, st->puts == a.put_stored + a.commits,
	      "stats.puts %" PRIu64 " == stored by put %" PRIu64 " + commits %" PRIu64, st->puts,
	      a.put_stored, a.commits);
	check(c, st->put_duplicates == a.put_dups, "put_duplicates %" PRIu64 " == %" PRIu64,
	      st->put_duplicates, a.put_dups);
	check(c, st->put_errors == a.put_errors, "put_errors %" PRIu64 " == %" PRIu64,
	      st->put_errors, a.put_errors);
	/* kvt_remove() answers -EAGAIN for a key whose L2 copy a lookup or load
	 * holds locked, even when it removed the L1 copy (counted in
	 * stats.removes: "every other copy is gone"), and -EBUSY only for keys
	 * the index refused as pinned.  So stats.removes is the keys removed
	 * plus at most the -EAGAIN results.  (Lookups hold resp locks across a
	 * network round trip: with resp the second term is seen.) */
	check(c, st->removes >= a.removes && st->removes <= a.removes + a.remove_l2_locked,
	      "stats.removes %" PRIu64 " in [removed %" PRIu64 ", that + %" PRIu64
	      " -EAGAIN results]", st->removes, a.removes, a.remove_l2_locked);
	check(c, st->remove_refused == a.remove_refused,
	      "remove_refused %" PRIu64 " == -EBUSY results %" PRIu64, st->remove_refused,
	      a.remove_refused);
	check(c, s->tier->l2 || a.remove_l2_locked == 0,
	      "no -EAGAIN results without L2 tiers (%" PRIu64 ")", a.remove_l2_locked);
	check(c, st->prefetches == a.prefetch_posted + a.prefetch_failed,
	      "stats.prefetches %" PRIu64 " == posted %" PRIu64 " + timed out %" PRIu64,
	      st->prefetches, a.prefetch_posted, a.prefetch_failed);
	check(c, atomic_load_explicit(&s->evfd_total, memory_order_relaxed) == a.prefetch_posted,
	      "event fd counted %" PRIu64 " == prefetches posted %" PRIu64,
	      atomic_load_explicit(&s->evfd_total, memory_order_relaxed), a.prefetch_posted);
	check(c, st->index_queue_depth == 0 && st->restore_queue_depth == 0,
	      "mailboxes empty after kvt_flush (index %" PRIu64 ", restore %" PRIu64 ")",
	      st->index_queue_depth, st->restore_queue_depth);
	check(c, st->errors == 0, "stats.errors %" PRIu64 " == 0", st->errors);
	if (s->tier->l2)
		l2_accounting(s, c, st, &a, &l2);
	if (s->tier->accounting)
		s->tier->accounting(s, c, st, &a, &l2);
}

void leak_checks(struct checks *c, long fds_before, long tasks_before, const char *when)
{
	uint64_t deadline = tool_now_ns() + 1000000000ull;
	long fds_after, tasks_after;

	/* exiting threads may take a moment to leave /proc/self/task */
	for (;;) {
		fds_after = count_dir("/proc/self/fd");
		tasks_after = count_dir("/proc/self/task");
		if ((fds_after == fds_before && tasks_after == tasks_before) ||
		    tool_now_ns() >= deadline)
			break;
		usleep(10000);
	}
	check(c, fds_after == fds_before, "open fds %ld after %s == %ld before kvt_open",
	      fds_after, when, fds_before);
	check(c, tasks_after == tasks_before, "threads %ld after %s == %ld before kvt_open",
	      tasks_after, when, tasks_before);
}

/*
 * l2_reopen_check() - open the directory (resp: the same key prefix on the
 * same servers, with every master up) again, without injected EIO, and
 * kvt_get() every key: L1 starts empty (and never serves in staging mode),
 * so every byte comes from disk.  Each file the adapter wrote and nobody
 * touched since must read back byte-exact; each still holding what the
 * corruption thread left must miss, and be removed if a lookup sees it.
 * Only chunk files may be left in the directory after kvt_close().
 */
void l2_reopen_check(struct stress *s, struct checks *c, struct reopen *r)
{
	unsigned char *buf = s->w[0].get_buf;
	struct kvt_config *cfg = NULL;
	struct l2_status l2;
	struct kvt_stats st;
	int ret;

	ret = s->tier->scan(s, &r->scan);
	check(c, ret == 0, "%s: scan of %s after kvt_close: %s", s->tier->name,
	      s->tier->where(s), strerror(-ret));
	if (ret)
		goto out;
	if (s->tier->closed_scan)
		s->tier->closed_scan(s, c, &r->scan);
	ret = stress_make_config(s, 0, &cfg);
	if (!ret)
		ret = kvt_open(cfg, &s->kvt, NULL, 0);
	check(c, ret == 0, "reopen: kvt_open() on the same %s = %d (%s)", s->tier->reopens, ret,
	      kvt_strerror(ret));
	if (ret) {
		s->kvt = NULL;
		goto out;
	}
	r->done = true;
	for (uint64_t id = 0; id < s->nkeys; id++) {
		struct kvt_key key = stress_key(id);
		void *b = buf;
		size_t cap = s->chunk, len = 0;
		ssize_t got = kvt_get(s->kvt, &key, 1, &b, &cap, &len);
		int state = r->scan.state[id];

		if (got < 0 || got > 1 || (got == 1) != (len != 0)) {
			check(c, false, "reopen: kvt_get(key %" PRIu64 ") = %zd, len %zu", id, got,
			      len);
			continue;
		}
		if (got == 1) {
			bool ok = payload_check(s, "reopen", buf, len, id);

			r->read++;
			r->corrupt += !ok;
			if (state != L2_INTACT) {
				/* a corrupted file got through: a corruption even where
				 * its payload happens to be right (a flip in the header) */
				r->served_bad++;
				if (ok)
					atomic_fetch_add_explicit(&s->v->corruptions, 1,
								  memory_order_relaxed);
				stress_report(s, "CORRUPTION reopen: key %" PRIu64 ": served a %s "
					      "the corruption thread left (%s)", id, s->tier->unit,
					      state == L2_ABSENT ? "gone at the scan" :
								   "still there");
			}
		} else if (state == L2_INTACT) {
			r->missed++;
			stress_report(s, "FAIL reopen: key %" PRIu64 ": its %s is intact but was "
				      "not served", id, s->tier->unit);
		}
	}
	kvt_stats(s->kvt, &st, sizeof(st));
	l2_status(s->kvt, &l2);
	r->removed = l2.corrupt_removed;
	check(c, r->read == r->scan.intact && r->missed == 0 && r->served_bad == 0 &&
		 r->corrupt == 0,
	      "reopen: read back %" PRIu64 " == %" PRIu64 " files the adapter wrote and nobody "
	      "touched since (%" PRIu64 " not served), %" PRIu64 " corrupt, %" PRIu64
	      " corrupted files served", r->read, r->scan.intact, r->missed, r->corrupt,
	      r->served_bad);
	check(c, r->removed == r->scan.corrupt_seen,
	      "reopen: corrupt_removed %" PRIu64 " == %" PRIu64 " corrupted files a lookup sees "
	      "(%" PRIu64 " shorter than a header only miss)", r->removed, r->scan.corrupt_seen,
	      r->scan.corrupt - r->scan.corrupt_seen);
	check(c, st.l2_hits == r->read && st.l1_hits == 0,
	      "reopen: l2_hits %" PRIu64 " == %" PRIu64 " read, l1_hits %" PRIu64 " == 0",
	      st.l2_hits, r->read, st.l1_hits);
	/* one corrupted file is removed once at most: more removals would be
	 * files the adapter itself published bad */
	check(c, r->l2_close.corrupt_removed + r->removed <= l2_injected(s),
	      "files removed as corrupt (%" PRIu64 " in the run, %" PRIu64 " at reopen) <= %"
	      PRIu64 " corrupted", r->l2_close.corrupt_removed, r->removed, l2_injected(s));
	ret = kvt_close(s->kvt);
	s->kvt = NULL;
	check(c, ret == 0, "reopen: kvt_close() = %d", ret);
out:
	kvt_config_free(cfg);
	l2_scan_free(&r->scan);
}
