/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/report.c - the end of a run on stdout: the table of
 * ops/s, the L1 line and the tier's (tier_ops.report), and the --json
 * object.
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
	char tail[320] = "";

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
	if (s->tier->report)
		s->tier->report(s, st, r, &a);
	printf("mailboxes: %" PRIu64 " full waits, %" PRIu64 " timeouts\n",
	       st->mailbox_full_waits, st->mailbox_timeouts);
	printf("checks: %u run, %u failed\n", c->run, c->failed);
	if (s->tier->summary)
		s->tier->summary(s, st, r, tail, sizeof(tail));
	printf("kvtier-stress: %s: tier %s, %u threads, %.1f s, %.0f ops/s, corruptions %" PRIu64
	       ", errors %" PRIu64 ", expected pressure %" PRIu64 "%s\n", pass ? "PASS" : "FAIL",
	       stress_tier_names[s->o.tier], s->o.threads, secs, (double)tot[OPC_CALLS] / secs,
	       atomic_load_explicit(&s->v->corruptions, memory_order_relaxed),
	       atomic_load_explicit(&s->v->failures, memory_order_relaxed), pressure, tail);
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
	if (s->tier->json)
		s->tier->json(s, st, r);
	printf(",\"result\":\"%s\"}\n", pass ? "PASS" : "FAIL");
}
