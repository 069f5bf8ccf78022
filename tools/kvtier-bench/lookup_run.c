/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/lookup_run.c - how `kvtier-bench lookup` measures one
 * target: the reader threads (timed windows) and the paced writer thread,
 * one configuration of them with its CPU accounting, and the rounds of 1
 * then 2 readers whose medians make the target's figures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "kvtier.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/lookup_bench.h"

#define LAT_PER_SECOND 1000000	/* latency samples kept per reader-second... */
#define LAT_CAP_MAX (1u << 24)	/* ...up to this; a uniform reservoir past it */

struct reader {
	alignas(64) struct target *t;
	struct bench_gate *gate;
	uint64_t dur_ns;
	uint64_t seed;
	int cpu;		/* -1: not pinned */
	struct lat_samples lat;	/* owned by the reader while it runs */
	uint64_t calls, hits, elapsed_ns;
	uint64_t cpu_ns;	/* CPU time the reader got while timed */
};

struct writer {
	alignas(64) struct target *t;
	struct bench_gate *gate;
	uint64_t dur_ns;
	uint64_t rate;
	uint64_t written, failed, elapsed_ns;
	int err;
	bool exhausted;
};

/* ---- threads ------------------------------------------------------------- */

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct target *t = r->t;
	size_t (*contains)(struct target *, const struct kvt_key *) = contains_of[t->kind];
	const struct kvt_key *keys = t->keys;
	const uint64_t span = t->span, choices = t->span - WINDOW + 1;
	uint64_t rng = r->seed, calls = 0, hits = 0, start, end, t0, cpu0;

	if (r->cpu >= 0)
		bench_pin_self(r->cpu);
	/* warm-up: urcu-bp registers this thread on its first read section */
	contains(t, keys + atomic_load_explicit(&t->hi, memory_order_acquire) - WINDOW);
	if (bench_gate_pass(r->gate) < 0)
		return NULL;
	cpu0 = bench_thread_cpu_ns();
	start = tool_now_ns();
	end = start + r->dur_ns;
	for (t0 = start; t0 < end;) {
		uint64_t hi = atomic_load_explicit(&t->hi, memory_order_acquire);
		uint64_t off = hi - span + prng_below(&rng, choices);
		uint64_t t1;

		hits += contains(t, keys + off);
		t1 = tool_now_ns();
		lat_add(&r->lat, t1 - t0);
		calls++;
		t0 = t1;
	}
	r->cpu_ns = bench_thread_cpu_ns() - cpu0;
	r->calls = calls;
	r->hits = hits;
	r->elapsed_ns = t0 - start;
	return NULL;
}

/* Paced on absolute deadlines, so a late batch does not lower the rate. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct target *t = w->t;
	uint64_t id = atomic_load_explicit(&t->hi, memory_order_relaxed);
	uint64_t batches = 0, start, end, now;
	double batch_ns = PUT_BATCH * 1e9 / (double)w->rate;

	if (bench_gate_pass(w->gate) < 0)
		return NULL;
	start = tool_now_ns();
	end = start + w->dur_ns;
	for (;;) {
		uint64_t due = start + (uint64_t)((double)batches * batch_ns);
		int ret;

		if (due >= end)
			break;
		if (due > tool_now_ns())
			bench_sleep_until(due);
		if (id + PUT_BATCH > t->nkeys) {
			w->exhausted = true;
			break;
		}
		ret = churn(t, id, PUT_BATCH, &w->failed);
		if (ret) {
			w->err = ret;
			break;
		}
		id += PUT_BATCH;
		batches++;
		atomic_store_explicit(&t->hi, id, memory_order_release);
	}
	now = tool_now_ns();
	w->written = batches * PUT_BATCH;
	w->elapsed_ns = (now > end ? now : end) - start;
	return NULL;
}

/* ---- one configuration --------------------------------------------------- */

/*
 * run_phase() - @nreaders readers and (with a write rate) one writer on
 * @t for o->seconds.  Return: 0, or a negative code (kvtier's, or -errno).
 */
static int run_phase(struct target *t, unsigned int nreaders, const struct lookup_opts *o,
		     struct phase_result *res)
{
	static const double q[2] = { 0.50, 0.99 };
	struct bench_gate gate = BENCH_GATE_INIT;
	struct reader rd[MAX_READERS];
	struct lat_samples sets[MAX_READERS];
	struct writer w;
	const char *what = NULL;
	pthread_t rth[MAX_READERS], wth;
	unsigned int started = 0;
	bool writer_started = false;
	uint64_t dur_ns = (uint64_t)(o->seconds * 1e9), lat_cap, total_keys = 0, total_hits = 0;
	uint64_t ev_before = 0, cpu_ns = 0, wall_ns = 0, proc_ns = 0, sys_ns = 0;
	uint64_t span_ns = 0;
	double quant[2];
	int cpus[MAX_READERS], ncpus = o->pin ? bench_allowed_cpus(cpus, MAX_READERS) : 0;
	struct kvt_stats st;
	int ret = 0;

	memset(rd, 0, sizeof(rd));
	memset(&w, 0, sizeof(w));
	memset(res, 0, sizeof(*res));
	lat_cap = (uint64_t)ceil(o->seconds * LAT_PER_SECOND);
	lat_cap = lat_cap > LAT_CAP_MAX ? LAT_CAP_MAX : lat_cap;
	for (unsigned int i = 0; i < nreaders; i++) {
		rd[i].t = t;
		rd[i].gate = &gate;
		rd[i].dur_ns = dur_ns;
		rd[i].seed = prng_mix64(((uint64_t)t->kind << 8 | nreaders << 4 | i) + 1);
		rd[i].cpu = ncpus ? cpus[i % (unsigned int)ncpus] : -1;
		ret = lat_init(&rd[i].lat, lat_cap, rd[i].seed);
		if (ret) {
			what = "latency samples";
			goto out_free;
		}
	}
	if (t->kind == TARGET_KVTIER) {
		kvt_stats(t->kvt, &st, sizeof(st));
		ev_before = st.l1_evictions;
	}
	for (; started < nreaders; started++) {
		ret = -pthread_create(&rth[started], NULL, reader_main, &rd[started]);
		if (ret) {
			what = "pthread_create";
			goto out_join;
		}
	}
	if (o->write_rate) {
		w.t = t;
		w.gate = &gate;
		w.dur_ns = dur_ns;
		w.rate = o->write_rate;
		ret = -pthread_create(&wth, NULL, writer_main, &w);
		if (ret) {
			what = "pthread_create";
			goto out_join;
		}
		writer_started = true;
	}
	/* the readers' warm-up is done once they all passed the gate */
	bench_gate_wait_ready(&gate, started + writer_started);
	sys_ns = bench_system_busy_ns();
	proc_ns = bench_process_cpu_ns();
	span_ns = tool_now_ns();
	bench_gate_open(&gate, 1);

out_join:
	if (ret)
		bench_gate_open(&gate, -1);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(rth[i], NULL);
	if (writer_started)
		pthread_join(wth, NULL);
	if (ret)
		goto out_free;
	span_ns = tool_now_ns() - span_ns;
	proc_ns = bench_process_cpu_ns() - proc_ns;
	sys_ns = sys_ns ? bench_system_busy_ns() - sys_ns : 0;
	if (w.err) {
		what = "writer";
		ret = w.err;
		goto out_free;
	}
	for (unsigned int i = 0; i < nreaders; i++) {
		if (rd[i].elapsed_ns)
			res->lookups_per_s += (double)rd[i].calls * WINDOW * 1e9 /
					      (double)rd[i].elapsed_ns;
		res->calls += rd[i].calls;
		total_keys += rd[i].calls * WINDOW;
		total_hits += rd[i].hits;
		cpu_ns += rd[i].cpu_ns;
		wall_ns += rd[i].elapsed_ns;
	}
	res->reader_cpu = wall_ns ? (double)cpu_ns / (double)wall_ns : 0;
	/* over the whole phase, gate to join, which ends a little after dur_ns */
	res->bg_cpu = proc_ns > cpu_ns ? (double)(proc_ns - cpu_ns) / (double)span_ns : 0;
	res->other_cpu = sys_ns > proc_ns ? (double)(sys_ns - proc_ns) / (double)span_ns : 0;
	res->hit_rate = total_keys ? (double)total_hits / (double)total_keys : 0;
	for (unsigned int i = 0; i < nreaders; i++)
		sets[i] = rd[i].lat;
	ret = lat_quantiles(sets, nreaders, q, quant, 2);
	if (ret) {
		what = "latency quantiles";
		goto out_free;
	}
	res->p50_us = quant[0];
	res->p99_us = quant[1];
	if (w.elapsed_ns)
		res->write_rate = (double)w.written * 1e9 / (double)w.elapsed_ns;
	res->write_failed = w.failed;
	res->writer_short = w.exhausted;
	if (t->kind == TARGET_KVTIER) {
		kvt_stats(t->kvt, &st, sizeof(st));
		res->evictions = st.l1_evictions - ev_before;
	}

out_free:
	for (unsigned int i = 0; i < nreaders; i++)
		lat_free(&rd[i].lat);
	if (ret)
		fprintf(stderr, "kvtier-bench: %s, %u reader%s: %s: %s\n", target_names[t->kind],
			nreaders, nreaders > 1 ? "s" : "", what, kvt_strerror(ret));
	return ret;
}

/* ---- a target's rounds --------------------------------------------------- */

/* phase_median() - each figure's median over @n rounds; counts are summed. */
static void phase_median(const struct phase_result *runs, unsigned int n,
			 struct phase_result *out)
{
	double v[ROUNDS_MAX];

	memset(out, 0, sizeof(*out));
#define MEDIAN(field)                                  \
	do {                                           \
		for (unsigned int i = 0; i < n; i++)   \
			v[i] = runs[i].field;          \
		out->field = bench_median(v, n);       \
	} while (0)
	MEDIAN(lookups_per_s);
	MEDIAN(p50_us);
	MEDIAN(p99_us);
	MEDIAN(hit_rate);
	MEDIAN(write_rate);
	MEDIAN(reader_cpu);
	MEDIAN(bg_cpu);
	MEDIAN(other_cpu);
#undef MEDIAN
	for (unsigned int i = 0; i < n; i++) {
		out->calls += runs[i].calls;
		out->write_failed += runs[i].write_failed;
		out->evictions += runs[i].evictions;
		out->writer_short |= runs[i].writer_short;
	}
}

/*
 * run_target() - open and fill one target, run each reader count, close it.
 * For the kvtier target this also sets @t->live, the population the
 * baselines copy.
 */
int run_target(struct target *t, const struct lookup_opts *o,
	       struct phase_result res[MAX_COUNTS])
{
	struct phase_result runs[MAX_COUNTS][ROUNDS_MAX];
	int ret;

	atomic_store_explicit(&t->hi, o->keys, memory_order_relaxed);
	ret = t->kind == TARGET_KVTIER ? kvtier_open(t, o) : table_open(t, o);
	if (ret) {
		if (t->kind != TARGET_KVTIER)
			fprintf(stderr, "kvtier-bench: %s table: %s\n", target_names[t->kind],
				strerror(-ret));
		return ret;
	}
	t->span = t->live * SPAN_PCT / 100;
	if (t->span < 2 * WINDOW) {
		fprintf(stderr, "kvtier-bench: only %llu live keys after the fill\n",
			(unsigned long long)t->live);
		ret = -ENOSPC;
		goto out_close;
	}
	for (unsigned int r = 0; r < o->rounds && !ret; r++) {
		for (size_t c = 0; c < o->ncounts && !ret; c++) {
			struct phase_result *p = &runs[c][r];
			unsigned int n = o->counts[c];

			fprintf(stderr, "run %s, %u reader%s, %gs, round %u of %llu\n",
				target_names[t->kind], n, n > 1 ? "s" : "", o->seconds, r + 1,
				(unsigned long long)o->rounds);
			ret = run_phase(t, n, o, p);
			if (!ret)
				fprintf(stderr, "  %.0f lookups/s, p99 %.1f us, reader cpu %.0f%%, "
					"others %.2f\n", p->lookups_per_s, p->p99_us,
					100 * p->reader_cpu, p->other_cpu);
		}
	}
	for (size_t c = 0; c < o->ncounts && !ret; c++)
		phase_median(runs[c], (unsigned int)o->rounds, &res[c]);
out_close:
	if (t->kind == TARGET_KVTIER)
		kvt_close(t->kvt);
	else
		table_close(t);
	return ret;
}
