/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/report.c - the end of a run on stdout: the table of
 * ops/s, the per-tier lines, and the --json object.
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


/* ---- report ---- */

static void report_fs(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
		      const struct worker_acct *a)
{
	const struct l2_status *f = &r->l2_close;
	const _Atomic uint64_t *inj = s->fault.injected;

	printf("fs (%s): %" PRIu64 " chunks (%" PRIu64 " MiB) at close in %s; %" PRIu64
	       " hits, %" PRIu64 " misses, %" PRIu64 " promotions, %" PRIu64 " write errors, %"
	       PRIu64 " staging timeouts, %" PRIu64 " I/O errors, %" PRIu64 " evictions; %" PRIu64
	       " put callbacks (%" PRIu64 " flushes to settle)\n",
	       s->o.tier == TIER_FS_CACHE ? "cache" : "staging", f->chunks, f->bytes_used >> 20,
	       s->fs_dir, st->l2_hits, st->l2_misses, st->l2_promotions, st->l2_write_errors,
	       st->staging_timeouts, f->errors, f->evictions, a->cb_fired, a->track_flushes);
	printf("fs faults: %u EIO per million I/Os; %" PRIu64 " files corrupted (%" PRIu64
	       " payload flips, %" PRIu64 " header flips, %" PRIu64 " truncated, %" PRIu64
	       " replaced by garbage, %" PRIu64 " by another key's file); removed as corrupt: %"
	       PRIu64 " in the run, %" PRIu64 " at reopen\n", s->o.fault_ppm, l2_injected(s),
	       atomic_load_explicit(&inj[CORRUPT_PAYLOAD], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_HEADER], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_TRUNCATE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_GARBAGE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_FOREIGN], memory_order_relaxed),
	       f->corrupt_removed, r->removed);
	if (r->done)
		printf("reopen: %" PRIu64 " files (%" PRIu64 " intact, %" PRIu64 " corrupted, %"
		       PRIu64 " of them shorter than a header), %" PRIu64 " read back, %" PRIu64
		       " intact not served, %" PRIu64 " corrupted served, %" PRIu64 " corrupt\n",
		       r->scan.files, r->scan.intact, r->scan.corrupt,
		       r->scan.corrupt - r->scan.corrupt_seen, r->read, r->missed, r->served_bad,
		       r->corrupt);
}

static void json_fs(struct stress *s, const struct kvt_stats *st, const struct reopen *r)
{
	const struct l2_status *f = &r->l2_close;
	const _Atomic uint64_t *inj = s->fault.injected;

	printf(",\"fs\":{\"mode\":\"%s\",\"dir\":\"%s\",\"mb\":%u,\"fault_ppm\":%u,"
	       "\"corrupt_ms\":%u,\"l2_hits\":%" PRIu64 ",\"l2_misses\":%" PRIu64
	       ",\"l2_bytes_in\":%" PRIu64 ",\"l2_bytes_out\":%" PRIu64 ",\"l2_promotions\":%"
	       PRIu64 ",\"l2_write_errors\":%" PRIu64 ",\"staging_timeouts\":%" PRIu64
	       ",\"chunks\":%" PRIu64 ",\"io_errors\":%" PRIu64 ",\"evictions\":%" PRIu64
	       ",\"corrupted\":{\"payload\":%" PRIu64 ",\"header\":%" PRIu64 ",\"truncate\":%"
	       PRIu64 ",\"garbage\":%" PRIu64 ",\"foreign\":%" PRIu64 "},\"corrupt_removed\":"
	       "{\"run\":%" PRIu64 ",\"reopen\":%" PRIu64 "},\"reopen\":{\"files\":%" PRIu64
	       ",\"intact\":%" PRIu64 ",\"corrupted\":%" PRIu64 ",\"read\":%" PRIu64
	       ",\"missed\":%" PRIu64
	       ",\"served_corrupted\":%" PRIu64 ",\"corrupt\":%" PRIu64 "}}",
	       s->o.tier == TIER_FS_CACHE ? "cache" : "staging", s->fs_dir, s->o.fs_mb,
	       s->o.fault_ppm, s->o.corrupt_ms, st->l2_hits, st->l2_misses, st->l2_bytes_in,
	       st->l2_bytes_out, st->l2_promotions, st->l2_write_errors, st->staging_timeouts,
	       f->chunks, f->errors, f->evictions,
	       atomic_load_explicit(&inj[CORRUPT_PAYLOAD], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_HEADER], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_TRUNCATE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_GARBAGE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_FOREIGN], memory_order_relaxed),
	       f->corrupt_removed, r->removed, r->scan.files, r->scan.intact, r->scan.corrupt,
	       r->read, r->missed, r->served_bad, r->corrupt);
}

static void report_resp(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
			const struct worker_acct *a)
{
	const struct l2_status *f = &r->l2_close;
	const _Atomic uint64_t *inj = s->fault.injected;

	printf("resp (%s%s): %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " promotions, %"
	       PRIu64 " write errors; adapter at close: %" PRIu64 "/%" PRIu64 " nodes up, %" PRIu64
	       " round_trips, %" PRIu64 " redirections, %" PRIu64 " map refreshes, %" PRIu64
	       " reconnects, %" PRIu64 " errors, %" PRIu64 " refused, %" PRIu64 " corrupt (%" PRIu64
	       " deleted); %" PRIu64 " put callbacks (%" PRIu64 " flushes to settle)\n",
	       s->resp_url, s->resp_cluster ? ", cluster" : "", st->l2_hits, st->l2_misses,
	       st->l2_promotions, st->l2_write_errors, f->nodes_up, f->nodes, f->round_trips,
	       f->redirections, f->map_refreshes, f->reconnects, f->errors, f->refused, f->corrupt,
	       f->corrupt_removed, a->cb_fired, a->track_flushes);
	printf("resp faults: %" PRIu64 " values corrupted (%" PRIu64 " payload flips, %" PRIu64
	       " header flips, %" PRIu64 " truncated, %" PRIu64 " replaced by garbage, %" PRIu64
	       " by another key's value), %" PRIu64 " pauses of %u ms; found corrupt: %" PRIu64
	       " in the run, %" PRIu64 " deleted at reopen\n", l2_injected(s),
	       atomic_load_explicit(&inj[CORRUPT_PAYLOAD], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_HEADER], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_TRUNCATE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_GARBAGE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_FOREIGN], memory_order_relaxed),
	       atomic_load_explicit(&s->fault.pauses, memory_order_relaxed), s->o.pause_ms,
	       f->corrupt, r->removed);
	if (r->done)
		printf("reopen: %" PRIu64 " values (%" PRIu64 " intact, %" PRIu64 " corrupted, %"
		       PRIu64 " of them shorter than a header), %" PRIu64 " read back, %" PRIu64
		       " intact not served, %" PRIu64 " corrupted served, %" PRIu64 " corrupt\n",
		       r->scan.files, r->scan.intact, r->scan.corrupt,
		       r->scan.corrupt - r->scan.corrupt_seen, r->read, r->missed, r->served_bad,
		       r->corrupt);
}

static void json_resp(struct stress *s, const struct kvt_stats *st, const struct reopen *r)
{
	const struct l2_status *f = &r->l2_close;
	const _Atomic uint64_t *inj = s->fault.injected;

	printf(",\"resp\":{\"url\":\"%s\",\"cluster\":%s,\"own_servers\":%s,\"timeout_ms\":%u,"
	       "\"corrupt_ms\":%u,\"pause_ms\":%u,\"pauses\":%" PRIu64 ",\"l2_hits\":%" PRIu64
	       ",\"l2_misses\":%" PRIu64 ",\"l2_bytes_in\":%" PRIu64 ",\"l2_bytes_out\":%" PRIu64
	       ",\"l2_promotions\":%" PRIu64 ",\"l2_write_errors\":%" PRIu64 ",\"nodes\":%" PRIu64
	       ",\"nodes_up\":%" PRIu64 ",\"round_trips\":%" PRIu64 ",\"redirections\":%" PRIu64
	       ",\"map_refreshes\":%" PRIu64 ",\"reconnects\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"refused\":%" PRIu64 ",\"corrupt\":%" PRIu64 ",\"corrupt_removed\":{\"run\":%"
	       PRIu64 ",\"reopen\":%" PRIu64 "},\"corrupted\":{\"payload\":%" PRIu64 ",\"header\":%"
	       PRIu64 ",\"truncate\":%" PRIu64 ",\"garbage\":%" PRIu64 ",\"foreign\":%" PRIu64
	       "},\"reopen\":{\"values\":%" PRIu64 ",\"intact\":%" PRIu64 ",\"corrupted\":%" PRIu64
	       ",\"read\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"served_corrupted\":%" PRIu64
	       ",\"corrupt\":%" PRIu64 "}}",
	       s->resp_url, s->resp_cluster ? "true" : "false", s->o.resp_url ? "false" : "true",
	       s->o.resp_timeout_ms, s->o.corrupt_ms, s->o.pause_ms,
	       atomic_load_explicit(&s->fault.pauses, memory_order_relaxed), st->l2_hits,
	       st->l2_misses, st->l2_bytes_in, st->l2_bytes_out, st->l2_promotions,
	       st->l2_write_errors, f->nodes, f->nodes_up, f->round_trips, f->redirections,
	       f->map_refreshes, f->reconnects, f->errors, f->refused, f->corrupt,
	       f->corrupt_removed, r->removed,
	       atomic_load_explicit(&inj[CORRUPT_PAYLOAD], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_HEADER], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_TRUNCATE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_GARBAGE], memory_order_relaxed),
	       atomic_load_explicit(&inj[CORRUPT_FOREIGN], memory_order_relaxed),
	       r->scan.files, r->scan.intact, r->scan.corrupt, r->read, r->missed, r->served_bad,
	       r->corrupt);
}

void worker_ops(const struct stress *s, uint64_t v[OP_N][OPC_N])
{
	memset(v, 0, sizeof(uint64_t[OP_N][OPC_N]));
	for (unsigned int i = 0; s->w && i < s->o.threads; i++) {
		for (int k = 0; k < OP_N; k++) {
			const struct op_stats *o = &s->w[i].op[k];

			v[k][OPC_CALLS] += atomic_load_explicit(&o->ops, memory_order_relaxed);
			v[k][OPC_KEYS] += atomic_load_explicit(&o->keys, memory_order_relaxed);
			v[k][OPC_HITS] += atomic_load_explicit(&o->hits, memory_order_relaxed);
			v[k][OPC_PRESSURE] += atomic_load_explicit(&o->pressure,
								   memory_order_relaxed);
			v[k][OPC_ERRORS] += atomic_load_explicit(&o->errors, memory_order_relaxed);
		}
	}
}

void report_ops(const uint64_t v[OP_N][OPC_N], double secs, uint64_t tot[OPC_N])
{
	memset(tot, 0, OPC_N * sizeof(*tot));
	printf("\n%-10s %12s %12s %12s %12s %10s %8s\n", "op", "calls", "calls/s", "keys",
	       "hits", "pressure", "errors");
	for (int k = 0; k < OP_N; k++) {
		for (int j = 0; j < OPC_N; j++)
			tot[j] += v[k][j];
		printf("%-10s %12" PRIu64 " %12.0f %12" PRIu64 " %12" PRIu64 " %10" PRIu64
		       " %8" PRIu64 "\n", stress_op_names[k], v[k][OPC_CALLS],
		       (double)v[k][OPC_CALLS] / secs, v[k][OPC_KEYS], v[k][OPC_HITS],
		       v[k][OPC_PRESSURE], v[k][OPC_ERRORS]);
	}
	printf("%-10s %12" PRIu64 " %12.0f %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %8" PRIu64
	       "\n", "total", tot[OPC_CALLS], (double)tot[OPC_CALLS] / secs, tot[OPC_KEYS],
	       tot[OPC_HITS], tot[OPC_PRESSURE], tot[OPC_ERRORS]);
}

void json_ops(const uint64_t v[OP_N][OPC_N], double secs)
{
	for (int k = 0; k < OP_N; k++)
		printf("%s\"%s\":{\"calls\":%" PRIu64 ",\"per_s\":%.1f,\"pressure\":%" PRIu64 "}",
		       k ? "," : "{", stress_op_names[k], v[k][OPC_CALLS],
		       (double)v[k][OPC_CALLS] / secs, v[k][OPC_PRESSURE]);
	putchar('}');
}

void report_run(struct stress *s, uint64_t run_ns, const struct kvt_stats *st,
		   const struct checks *c, const struct reopen *r, bool pass)
{
	double secs = (double)run_ns / 1e9;
	uint64_t v[OP_N][OPC_N], tot[OPC_N], pressure;
	struct worker_acct a = total_acct(s);
	char fs[320] = "";

	worker_ops(s, v);
	report_ops(v, secs, tot);
	/* a failed DAX or L2 write-through is pressure too: the chunk stays in
	 * L1 (or, staged, is dropped), as an injected EIO wants */
	pressure = tot[OPC_PRESSURE] + st->dax_write_errors + st->l2_write_errors;
	printf("\nl1: %" PRIu64 " slots, %" PRIu64 " evictions, %" PRIu64 " hits; %" PRIu64
	       " removes (%" PRIu64 " of borrowed keys), %" PRIu64 " pins, %" PRIu64
	       " unpin underflows, %" PRIu64 " pins released by the monitor, %" PRIu64
	       " pins lost to forced removes or the ttl\n", st->l1_slots, st->l1_evictions,
	       st->l1_hits, st->removes, a.cross_removes, st->pins, st->unpin_underflows,
	       st->pin_force_releases, a.pins_lost);
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY)
		printf("dax (%s): %" PRIu64 " slots, %" PRIu64 " entries at the end, %" PRIu64
		       " evictions, %" PRIu64 " hits, %" PRIu64 " promotions, %" PRIu64
		       " write errors, %" PRIu64 " put callbacks (%" PRIu64 " flushes to settle)\n",
		       s->o.tier == TIER_DAX_TIERED ? "tiered" : "primary", st->dax_slots,
		       st->dax_entries, st->dax_evictions, st->dax_hits, st->dax_promotions,
		       st->dax_write_errors, a.cb_fired, a.track_flushes);
	if (s->fs)
		report_fs(s, st, r, &a);
	else if (s->resp)
		report_resp(s, st, r, &a);
	else if (r->done)
		printf("reopen: %" PRIu64 " chunks at close, %" PRIu64 " recovered, %" PRIu64
		       " torn, %" PRIu64 " read back, %" PRIu64 " corrupt\n", r->at_close,
		       r->recovered, r->torn, r->read, r->corrupt);
	printf("mailboxes: %" PRIu64 " full waits, %" PRIu64 " timeouts\n",
	       st->mailbox_full_waits, st->mailbox_timeouts);
	printf("checks: %u run, %u failed\n", c->run, c->failed);
	if (s->fs)
		snprintf(fs, sizeof(fs), ", fs hits %" PRIu64 " misses %" PRIu64 " write errors %"
			 PRIu64 ", files corrupted %" PRIu64 " detected %" PRIu64, st->l2_hits,
			 st->l2_misses, st->l2_write_errors, l2_injected(s),
			 r->l2_close.corrupt_removed + r->removed);
	if (s->resp)
		snprintf(fs, sizeof(fs), ", resp hits %" PRIu64 " misses %" PRIu64 " write errors %"
			 PRIu64 ", values corrupted %" PRIu64 " detected %" PRIu64 ", pauses %" PRIu64
			 ", round_trips %" PRIu64 " redirections %" PRIu64 " reconnects %" PRIu64
			 " corrupt %" PRIu64, st->l2_hits, st->l2_misses, st->l2_write_errors,
			 l2_injected(s), r->l2_close.corrupt + r->removed,
			 atomic_load_explicit(&s->fault.pauses, memory_order_relaxed),
			 r->l2_close.round_trips, r->l2_close.redirections, r->l2_close.reconnects,
			 r->l2_close.corrupt);
	printf("kvtier-stress: %s: tier %s, %u threads, %.1f s, %.0f ops/s, corruptions %" PRIu64
	       ", errors %" PRIu64 ", expected pressure %" PRIu64 "%s\n", pass ? "PASS" : "FAIL",
	       stress_tier_names[s->o.tier], s->o.threads, secs, (double)tot[OPC_CALLS] / secs,
	       atomic_load_explicit(&s->v->corruptions, memory_order_relaxed),
	       atomic_load_explicit(&s->v->failures, memory_order_relaxed), pressure, fs);
	if (!s->o.json)
		return;
	printf("{\"tool\":\"kvtier-stress\",\"tier\":\"%s\",\"threads\":%u,\"seconds\":%.3f,"
	       "\"keys\":%u,\"capacity_mb\":%u,\"chunk_bytes\":%zu,\"l1_slots\":%" PRIu64
	       ",\"pin_ttl_ms\":%u,\"seed\":%" PRIu64 ",\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f,"
	       "\"per_op\":", stress_tier_names[s->o.tier], s->o.threads, secs, s->nkeys,
	       s->o.tier == TIER_DAX_PRIMARY ? 0 : s->o.capacity_mb, s->chunk, st->l1_slots,
	       s->o.pin_ttl_ms, s->o.seed, tot[OPC_CALLS], (double)tot[OPC_CALLS] / secs);
	json_ops(v, secs);
	printf(",\"corruptions\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"pressure\":%" PRIu64
	       ",\"checks\":%u,\"checks_failed\":%u,\"evictions\":%" PRIu64
	       ",\"unpin_underflows\":%" PRIu64 ",\"pin_force_releases\":%" PRIu64,
	       atomic_load_explicit(&s->v->corruptions, memory_order_relaxed),
	       atomic_load_explicit(&s->v->failures, memory_order_relaxed), pressure, c->run,
	       c->failed, st->l1_evictions, st->unpin_underflows, st->pin_force_releases);
	if (s->o.tier == TIER_DAX_TIERED || s->o.tier == TIER_DAX_PRIMARY)
		printf(",\"dax\":{\"mode\":\"%s\",\"mb\":%u,\"slots\":%" PRIu64 ",\"entries\":%"
		       PRIu64 ",\"evictions\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"promotions\":%"
		       PRIu64 ",\"write_errors\":%" PRIu64 ",\"reopen\":{\"at_close\":%" PRIu64
		       ",\"recovered\":%" PRIu64 ",\"torn\":%" PRIu64 ",\"read\":%" PRIu64
		       ",\"corrupt\":%" PRIu64 "}}",
		       s->o.tier == TIER_DAX_TIERED ? "tiered" : "primary", s->o.dax_mb,
		       st->dax_slots, st->dax_entries, st->dax_evictions, st->dax_hits,
		       st->dax_promotions, st->dax_write_errors, r->at_close, r->recovered, r->torn,
		       r->read, r->corrupt);
	if (s->fs)
		json_fs(s, st, r);
	if (s->resp)
		json_resp(s, st, r);
	printf(",\"result\":\"%s\"}\n", pass ? "PASS" : "FAIL");
}
