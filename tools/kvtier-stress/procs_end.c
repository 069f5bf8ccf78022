/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/procs_end.c - the end of a --tier pool run, on the
 * supervisor: the barrier, the last instance, the checks and the report.
 *
 * At the deadline every process stops its workers and checks its own
 * counters, then waits at a barrier until all are quiet: the pool no
 * longer changes, and the daemon must hold no pin within a lease of the
 * last kill.  Then each sweeps the keyspace against the daemon's registry,
 * closes (no thread or fd left) and writes its result.  Last, the
 * supervisor opens an instance of its own that reads back every key the
 * daemon holds (each must verify) and removes it, closes it, and checks
 * the daemon is empty: no key, pin or region, the pool all free.
 *
 * Threads: the supervisor's main thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/procs.h"

/* ---- the barrier ---- */

/* Wait until every live process is in @state or gone, at most @wait_s;
 * name those that are not. */
static bool wait_all(enum proc_state state, unsigned int wait_s)
{
	static const char *const names[] = { "free", "running", "quiet", "done" };
	uint64_t deadline = tool_now_ns() + wait_s * 1000000000ull;

	for (;;) {
		bool all = true;

		reap();
		for (unsigned int i = 0; i < nlives; i++)
			all &= !alive(i) || state_of(i) >= state;
		if (all)
			return true;
		if (tool_now_ns() >= deadline)
			break;
		nap_ms(5);
	}
	for (unsigned int i = 0; i < nlives; i++)
		if (alive(i) && state_of(i) < state)
			fprintf(stderr, "kvtier-stress: proc %u (pid %d) still %s after %u s\n", i,
				(int)lives[i].pid, names[state_of(i)], wait_s);
	return false;
}

/* The daemon's counters once @ok holds of them, or after @wait_ms. */
static int daemon_settled(const struct stress *s, struct pool_daemon_stats *d,
			  unsigned int wait_ms, bool (*ok)(const struct pool_daemon_stats *d))
{
	uint64_t deadline = tool_now_ns() + wait_ms * NS_PER_MS;
	int ret;

	while ((ret = pool_daemon_stats(s, d)) == 0 && !ok(d) && tool_now_ns() < deadline)
		nap_ms(20);
	return ret;
}

static bool no_pins(const struct pool_daemon_stats *d)
{
	return d->total_pins == 0 && d->pinned_entries == 0;
}

static bool only_look(const struct pool_daemon_stats *d)
{
	return d->clients <= 1;
}

static bool all_free(const struct pool_daemon_stats *d)
{
	return no_pins(d) && d->allocations == 0 && d->pool_free == d->pool_total;
}

bool finish(struct stress *s, struct checks *c, struct run *r)
{
	struct pool_daemon_stats d;
	uint64_t since_kill = r->last_kill_ns ? (tool_now_ns() - r->last_kill_ns) / NS_PER_MS : 0;
	unsigned int wait_ms = 1000;
	bool ok;
	int ret;

	atomic_store_explicit(&shm->stop, 1, memory_order_relaxed);
	/* before this connection of ours idles through the barrier */
	ret = pool_daemon_stats(s, &d);
	check(c, ret == 0 && d.leases_expired == 0, "daemon: no connection's lease ran out in "
	      "the run (%" PRIu64 "): no process went silent for %d ms", d.leases_expired,
	      POOL_LEASE_MS);
	ok = wait_all(PROC_QUIET, QUIET_WAIT_S);
	check(c, ok, "every process quiet within %d s of the deadline", QUIET_WAIT_S);
	if (!ok)
		return false;
	/* a dead process's pins go when its socket closes, at the latest when
	 * its lease runs out */
	if (r->last_kill_ns && since_kill < POOL_LEASE_MS + 1000)
		wait_ms += (unsigned int)(POOL_LEASE_MS + 1000 - since_kill);
	ret = daemon_settled(s, &d, wait_ms, no_pins);
	check(c, ret == 0 && no_pins(&d), "daemon: no pin left once every process was quiet, "
	      "within a lease (%d ms) of the last kill: total_pins %" PRIu64 ", pinned_entries %"
	      PRIu64, POOL_LEASE_MS, d.total_pins, d.pinned_entries);
	atomic_store_explicit(&shm->sweep, 1, memory_order_release);
	ok = wait_all(PROC_DONE, CLOSE_GRACE_S);
	check(c, ok, "every process swept and closed within %d s", CLOSE_GRACE_S);
	if (!ok)
		return false;
	/* they exit right after their result */
	for (int i = 0; i < 1000 && reap(); i++)
		nap_ms(10);
	return reap() == 0;
}

/* ---- the last instance ---- */

/*
 * last_instance() - an instance of the supervisor's own (a process that
 * never stored anything) reads back every key of the keyspace, in batches:
 * every key the daemon holds must be served (from its owner's region,
 * mapped here, or from a dead process's) and verify.  Then it removes
 * them all: none may be refused, nobody pins any more.
 */
static void last_instance(struct stress *s, struct checks *c, struct last *l)
{
	long fds_before, tasks_before;
	unsigned char *buf;
	struct l2_scan sc;
	int ret;

	warm_runtime();
	fds_before = count_dir("/proc/self/fd");
	tasks_before = count_dir("/proc/self/task");
	ret = pool_scan(s, &sc);
	check(c, ret == 0, "daemon: scan of the keyspace before the last instance = %d", ret);
	l->entries = sc.files;
	l2_scan_free(&sc);
	ret = stress_open(s);
	check(c, ret == 0, "last instance: kvt_open = %d (%s)", ret, kvt_strerror(ret));
	if (ret)
		return;
	buf = malloc(STRESS_MAX_BATCH * s->chunk);
	for (uint64_t id = 0; buf && id < s->nkeys; id += STRESS_MAX_BATCH) {
		size_t n = s->nkeys - id < STRESS_MAX_BATCH ? s->nkeys - id : STRESS_MAX_BATCH;
		struct kvt_key keys[STRESS_MAX_BATCH];
		void *bufs[STRESS_MAX_BATCH];
		size_t caps[STRESS_MAX_BATCH], lens[STRESS_MAX_BATCH];
		int res[STRESS_MAX_BATCH];
		ssize_t got;

		for (size_t i = 0; i < n; i++) {
			keys[i] = stress_key(id + i);
			bufs[i] = buf + i * s->chunk;
			caps[i] = s->chunk;
		}
		got = kvt_get(s->kvt, keys, n, bufs, caps, lens);
		if (got < 0)
			check(c, false, "last instance: kvt_get(keys %" PRIu64 "..) = %zd", id,
			      got);
		for (size_t i = 0; got > 0 && i < n; i++) {
			if (!lens[i])
				continue;
			l->read++;
			payload_check(s, "last instance", bufs[i], lens[i], id + i);
		}
		got = kvt_remove(s->kvt, keys, n, 0, res);
		if (got < 0)
			check(c, false, "last instance: kvt_remove(keys %" PRIu64 "..) = %zd", id,
			      got);
		for (size_t i = 0; got >= 0 && i < n; i++) {
			l->removed += res[i] == 0;
			l->busy += res[i] == -EBUSY || res[i] == -EAGAIN;
		}
	}
	check(c, buf != NULL, "last instance: a buffer of %zu bytes", STRESS_MAX_BATCH * s->chunk);
	free(buf);
	l2_status(s->kvt, &l->l2);
	ret = kvt_close(s->kvt);
	s->kvt = NULL;
	check(c, ret == 0, "last instance: kvt_close = %d", ret);
	check(c, l->read == l->entries, "last instance: read back %" PRIu64 " keys == %" PRIu64
	      " the daemon held (each verified)", l->read, l->entries);
	check(c, l->removed == l->entries && l->busy == 0, "last instance: removed %" PRIu64
	      " keys == %" PRIu64 ", %" PRIu64 " refused (pinned, or locked in L2)", l->removed,
	      l->entries, l->busy);
	/* it stored nothing: each key came from another instance's region */
	check(c, l->l2.foreign_loads == l->read, "last instance: %" PRIu64 " of the %" PRIu64
	      " keys read in place from other instances' regions (%" PRIu64 " mapped)",
	      l->l2.foreign_loads, l->read, l->l2.foreign_regions);
	check(c, l->l2.corrupt == 0, "last instance: pool corrupt %" PRIu64 " == 0", l->l2.corrupt);
	leak_checks(c, fds_before, tasks_before, "the last instance's kvt_close");
}

/* ---- totals ---- */

/* Totals over every process: ops as published (the killed included), the
 * rest from the results of those that finished. */
struct totals {
	uint64_t v[OP_N][OPC_N];
	uint64_t reads, l2_hits, foreign_loads, lost_races, stores, reclaimed;
	uint64_t index_answers, index_fallbacks;
	uint64_t l2_write_errors, checks_run, checks_failed;
};

static void sum_up(struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned int i = 0; i < nlives; i++) {
		const struct proc_result *res = &shm->slot[i].res;

		for (int k = 0; k < OP_N; k++)
			for (int j = 0; j < OPC_N; j++)
				t->v[k][j] += atomic_load_explicit(&shm->slot[i].op[k][j],
								   memory_order_relaxed);
		if (lives[i].killed || state_of(i) != PROC_DONE)
			continue;
		t->reads += res->acct.reads;
		t->l2_hits += res->st.l2_hits;
		t->l2_write_errors += res->st.l2_write_errors;
		t->foreign_loads += res->l2.foreign_loads;
		t->lost_races += res->l2.lost_races;
		t->stores += res->l2.stores;
		t->reclaimed += res->l2.reclaimed;
		t->index_answers += res->l2.index_answers;
		t->index_fallbacks += res->l2.index_fallbacks;
		t->checks_run += res->checks_run;
		t->checks_failed += res->checks_failed;
	}
}

/* ---- the checks ---- */

void life_checks(struct checks *c)
{
	for (unsigned int i = 0; i < nlives; i++) {
		const struct life *lf = &lives[i];
		const struct proc_result *res = &shm->slot[i].res;
		bool done = state_of(i) == PROC_DONE;

		if (lf->killed)
			continue;
		check(c, lf->reaped && WIFEXITED(lf->status) && !WEXITSTATUS(lf->status) && done &&
		      res->pass, "proc %u (pid %d) finished and passed: %s %d, %s, %u checks, %u "
		      "failed", i, (int)lf->pid, !lf->reaped ? "still running" :
		      WIFEXITED(lf->status) ? "exit status" : "killed by signal",
		      !lf->reaped ? 0 : WIFEXITED(lf->status) ? WEXITSTATUS(lf->status) :
		      WTERMSIG(lf->status), done ? "done" : "no result", res->checks_run,
		      res->checks_failed);
	}
}

/* The daemon once the last instance closed: nothing left of the run. */
static void daemon_end_checks(const struct stress *s, struct checks *c,
			      struct pool_daemon_stats *d)
{
	/* the last kvt_close() returned its region; the daemon frees it and
	 * the deferred ones in order, but is asked on another connection */
	int ret = daemon_settled(s, d, 2000, all_free);

	check(c, ret == 0, "daemon: GET_STATS at the end = %d", ret);
	check(c, d->entries == 0, "daemon: %" PRIu64 " keys at the end == 0", d->entries);
	check(c, no_pins(d), "daemon: pins at the end: total_pins %" PRIu64 ", pinned_entries %"
	      PRIu64 " == 0", d->total_pins, d->pinned_entries);
	check(c, d->allocations == 0 && d->pool_free == d->pool_total,
	      "daemon: every region freed (%" PRIu64 " left; pool %" PRIu64 " of %" PRIu64
	      " bytes free): the dead processes' once their keys went", d->allocations,
	      d->pool_free, d->pool_total);
	check(c, d->unpin_underflows == 0 && d->force_unpins == 0,
	      "daemon: unpin_underflows %" PRIu64 " == 0, force_unpins %" PRIu64
	      " == 0 (every pin unpinned by its owner or dropped with it)", d->unpin_underflows,
	      d->force_unpins);
	check(c, d->bad_requests == 0, "daemon: %" PRIu64 " malformed requests == 0",
	      d->bad_requests);
}

void end_checks(struct stress *s, struct checks *c, struct last *l, struct pool_daemon_stats *d)
{
	struct totals t;
	int ret;

	sum_up(&t);
	check(c, s->o.procs < 2 || t.foreign_loads > 0, "chunks read across processes: %"
	      PRIu64 " loads from other processes' regions", t.foreign_loads);
	/* our daemon publishes its index: lookups must have used it */
	check(c, !pool_own_daemon() || t.index_answers > 0, "shared index: %" PRIu64
	      " keys answered without an RPC, %" PRIu64 " jobs sent to the RPC", t.index_answers,
	      t.index_fallbacks);
	/* every engine's connection gone, and the daemon idle long enough to
	 * have seen every socket close, before a new one comes */
	if (pool_own_daemon()) {
		ret = daemon_settled(s, d, 5000, only_look);
		check(c, ret == 0 && d->clients == 1, "daemon: every engine's connection gone (%"
		      PRIu64 " clients left, this one included)", d->clients);
		nap_ms(100);
	}
	last_instance(s, c, l);
	if (pool_own_daemon())
		daemon_end_checks(s, c, d);
}

/* ---- the report ---- */

void procs_report(const struct stress *s, const struct run *r, const struct last *l,
		  const struct pool_daemon_stats *d, const struct checks *c, bool pass)
{
	double secs = (double)(r->run_ns ? r->run_ns : 1) / 1e9;
	uint64_t tot[OPC_N], pressure;
	struct totals t;

	sum_up(&t);
	report_ops(t.v, secs, tot);
	pressure = tot[OPC_PRESSURE] + t.l2_write_errors;
	printf("\n");
	for (unsigned int i = 0; i < nlives; i++) {
		const struct life *lf = &lives[i];
		const struct proc_result *res = &shm->slot[i].res;

		if (lf->killed) {
			printf("proc %-2u pid %-7d %5.1f s, %9" PRIu64 " ops: killed holding %"
			       PRIu64 " pins, dropped by the daemon after %" PRId64 " ms\n", i,
			       (int)lf->pid, (double)(lf->end_ns - lf->start_ns) / 1e9, slot_ops(i),
			       lf->pins_at_kill, lf->gone_ms);
			continue;
		}
		printf("proc %-2u pid %-7d %5.1f s, %9" PRIu64 " ops: %" PRIu64 " reads (%" PRIu64
		       " from L1, %" PRIu64 " from the pool, %" PRIu64 " of them from %" PRIu64
		       " other instances' regions), %" PRIu64 " stored (%" PRIu64 " lost races), %"
		       PRIu64 " regions, %" PRIu64 " pages reclaimed; checks %u/%u failed\n", i,
		       (int)lf->pid, (double)res->run_ns / 1e9, slot_ops(i), res->acct.reads,
		       res->st.l1_hits, res->st.l2_hits, res->l2.foreign_loads,
		       res->l2.foreign_regions, res->l2.stores, res->l2.lost_races, res->l2.regions,
		       res->l2.reclaimed, res->checks_failed, res->checks_run);
	}
	printf("pool: %u processes, %u killed (%u holding pins); reads across processes %" PRIu64
	       " of %" PRIu64 " pool reads; %" PRIu64 " pages reclaimed whose keys another "
	       "process deleted; last instance read back %" PRIu64 " of %" PRIu64
	       " keys, removed %" PRIu64 "; daemon at the end: %" PRIu64 " keys, %" PRIu64
	       " pins, %" PRIu64 " regions, %" PRIu64 " of %" PRIu64 " MiB free, %" PRIu64
	       " regions freed (%" PRIu64 " deferred), %" PRIu64 " leases expired; shared index: %"
	       PRIu64 " keys answered without an RPC, %" PRIu64 " jobs to the RPC\n", nlives,
	       r->kills, r->kills_pinned, t.foreign_loads, t.l2_hits, t.reclaimed, l->read,
	       l->entries, l->removed, d->entries, d->total_pins, d->allocations,
	       d->pool_free >> 20, d->pool_total >> 20, d->regions_freed, d->deferred_frees,
	       d->leases_expired, t.index_answers, t.index_fallbacks);
	printf("checks: %u run, %u failed (supervisor); %" PRIu64 " run, %" PRIu64
	       " failed (processes)\n", c->run, c->failed, t.checks_run, t.checks_failed);
	printf("kvtier-stress: %s: tier pool, %u processes x %u threads, %.1f s, %.0f ops/s, "
	       "corruptions %" PRIu64 ", errors %" PRIu64 ", expected pressure %" PRIu64
	       ", reads across processes %" PRIu64 ", kills %u\n", pass ? "PASS" : "FAIL",
	       s->o.procs, s->o.threads, secs, (double)tot[OPC_CALLS] / secs,
	       verdict(false) + atomic_load_explicit(&s->own.corruptions, memory_order_relaxed),
	       verdict(true) + atomic_load_explicit(&s->own.failures, memory_order_relaxed),
	       pressure, t.foreign_loads, r->kills);
	if (!s->o.json)
		return;
	printf("{\"tool\":\"kvtier-stress\",\"tier\":\"pool\",\"procs\":%u,\"threads\":%u,"
	       "\"seconds\":%.3f,\"keys\":%u,\"capacity_mb\":%u,\"chunk_bytes\":%u,"
	       "\"seed\":%" PRIu64 ",\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f,\"per_op\":",
	       s->o.procs, s->o.threads, secs, s->nkeys, s->o.capacity_mb, s->o.chunk_kb * 1024,
	       s->o.seed, tot[OPC_CALLS], (double)tot[OPC_CALLS] / secs);
	json_ops(t.v, secs);
	printf(",\"corruptions\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"pressure\":%" PRIu64
	       ",\"checks\":%" PRIu64 ",\"checks_failed\":%" PRIu64 ",\"pool\":{\"own_daemon\":%s,"
	       "\"processes\":%u,\"kills\":%u,\"kills_holding_pins\":%u,\"reads\":%" PRIu64
	       ",\"pool_reads\":%" PRIu64 ",\"reads_across_processes\":%" PRIu64 ",\"stores\":%"
	       PRIu64 ",\"lost_races\":%" PRIu64 ",\"reclaimed\":%" PRIu64 ",\"last_read\":%"
	       PRIu64 ",\"last_removed\":%" PRIu64 ",\"daemon\":{\"keys\":%" PRIu64
	       ",\"pins\":%" PRIu64 ",\"regions\":%"
	       PRIu64 ",\"pool_free\":%" PRIu64 ",\"pool_total\":%" PRIu64 ",\"regions_freed\":%"
	       PRIu64 ",\"deferred_frees\":%" PRIu64 ",\"leases_expired\":%" PRIu64
	       ",\"unpin_underflows\":%" PRIu64 "}},\"result\":\"%s\"}\n",
	       verdict(false) + atomic_load_explicit(&s->own.corruptions, memory_order_relaxed),
	       verdict(true) + atomic_load_explicit(&s->own.failures, memory_order_relaxed),
	       pressure, c->run + t.checks_run, c->failed + t.checks_failed,
	       s->o.pool_server ? "false" : "true", nlives, r->kills, r->kills_pinned, t.reads,
	       t.l2_hits, t.foreign_loads, t.stores, t.lost_races, t.reclaimed, l->read,
	       l->removed, d->entries, d->total_pins, d->allocations, d->pool_free,
	       d->pool_total, d->regions_freed, d->deferred_frees, d->leases_expired,
	       d->unpin_underflows, pass ? "PASS" : "FAIL");
}
