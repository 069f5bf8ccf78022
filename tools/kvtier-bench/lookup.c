/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/lookup.c - `kvtier-bench lookup`: how kvt_contains()
 * scales with reader threads while a writer churns the index, beside the
 * same table guarded by a pthread mutex and by a pthread rwlock, and the
 * same table with no lock at all (the limit).
 *
 * Targets, each run with 1 and then 2 reader threads (--rounds times,
 * interleaved; figures are medians), in one process, one after another:
 *   kvtier-rcu  a kvtier instance whose L1 holds exactly --keys chunks of
 *               128 bytes; readers call kvt_contains() (one RCU read section
 *               per call, no lock); the writer calls kvt_put() with batches
 *               of PUT_BATCH new keys, and because L1 is full the index
 *               actor inserts and evicts (CLOCK) behind it.
 *   mutex       a liburcu cds_lfht of the same fixed size (no resize), the
 *               same 128-bit keys hashed by key.lo and the same population
 *               as kvtier held after its fill; every key lookup takes and
 *               drops a pthread mutex; the writer takes it for each
 *               insert-new + delete-oldest pair, so the size stays constant.
 *   rwlock      the same with a pthread rwlock: a read lock per key lookup,
 *               the write lock per writer pair.
 *   lfht-rcu    the same table and writer with no lock: what kvtier's map
 *               (also a fixed-size cds_lfht) costs before kvtier's own work.
 * The baselines open one RCU read section per call, as kvtier does, because
 * cds_lfht requires one; a reader may sleep on the mutex inside it, which is
 * harmless here because no grace period is awaited while readers run.
 *
 * Keys: key id i maps to {mix64(2i), mix64(2i + 1)}; all ids are made up
 * front (struct kvt_key array), so a call passes keys + off with no copy.
 * The writer publishes the first id it has not inserted yet (hi, a release
 * store; readers load it acquire once per call); a reader's window is WINDOW
 * consecutive ids drawn uniformly from [hi - span, hi), span being the newest
 * SPAN_PCT% of the live keys, so windows hold keys known present.  kvtier
 * evicts by CLOCK rather than strictly oldest-first, so its hit rate is
 * counted and printed (a call stops at the first miss, as kvt_contains()
 * does, in every target).
 *
 * Measured per call on the reader's own thread: latency (tool_now_ns()
 * around the call, kept in a preallocated per-thread array) and hits.  The
 * readers keep their counters in locals and publish them once at the end,
 * so the loop shares no written cache line except what the target itself
 * writes.  lookups/s counts WINDOW keys per call.
 *
 * Per configuration it also reports where the CPUs went: the readers' CPU
 * time over their wall time, the CPUs the rest of the process used (writer,
 * kvtier's actors), and the CPUs other processes used (from /proc/stat), so
 * a figure skewed by a busy machine says so.
 *
 * Threads: main (setup, fill, report), 1-2 readers (pinned to distinct
 * CPUs unless --no-pin), one writer (paced with clock_nanosleep on absolute
 * deadlines), plus kvtier's own actors while the kvtier target runs.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/kvtier-bench/lookup_bench.h"

#define KEYS_MIN 1024
#define KEYS_MAX 100000000ull
#define CURVE_MAX_DEFAULT (16ull << 20)

/* Other processes using more CPUs than this during a configuration skew it. */
#define OTHER_CPU_QUIET 0.10

/* Goals, printed beside the results; never a failure. */
#define GOAL_SCALING_2T 1.7
#define GOAL_RATIO_VS_MUTEX_2T 1.5
#define GOAL_P99_RATIO_VS_MUTEX_2T 0.10 /* issue 18 */

/* JSON key prefixes; kvtier's figures carry none */
static const char *const target_json[TARGET_COUNT] = { "", "mutex_", "rwlock_", "lfht_" };

static const char zero_chunk[CHUNK_BYTES];

/* ---- the workload -------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier-bench lookup [options]\n\n"
		"Reader threads (1, then 2) call kvt_contains() on windows of %d consecutive\n"
		"present keys while a writer thread puts new keys at a steady rate into a full\n"
		"L1, so the index actor inserts and evicts; then the same with a cds_lfht\n"
		"guarded by a pthread mutex, and by a pthread rwlock, taken per key lookup,\n"
		"and with no lock at all (lfht-rcu, the limit).\n\n"
		"options:\n"
		"  --keys N         keys in the table, and L1 slots (default 1000000; %d..%llu)\n"
		"  --seconds S      seconds per configuration (default 3; up to 3600)\n"
		"  --write-rate R   writer keys per second (default 20000; 0: no writer)\n"
		"  --rounds N       run each target's 1t and 2t configurations N times,\n"
		"                   interleaved, and print medians (default 1; up to %d)\n"
		"  --no-pin         do not pin reader threads to distinct CPUs\n"
		"  --max-readers N  also 4, 8, ... and N reader threads (default 2; up to %d);\n"
		"                   the ratios stay those of 1 and 2\n"
		"  --set KEY=VALUE  a knob of kvtier's instance (repeatable; e.g.\n"
		"                   metrics.listen=127.0.0.1:9464)\n"
		"  --curve          how cost grows with the index: kvtier-rcu alone (1 and 2\n"
		"                   readers, the writer running) at 64K, 256K, 1M, 4M, 16M keys\n"
		"                   (--keys is ignored)\n"
		"  --curve-max N    the largest --curve size (default %llu; %d..%llu)\n"
		"  --plot FILE.svg  with --curve: draw lookups/s and p99 against keys (gnuplot)\n"
		"  --json           print one JSON object as the last line of stdout\n"
		"  --help           this text\n",
		WINDOW, KEYS_MIN, KEYS_MAX, ROUNDS_MAX, MAX_READERS, CURVE_MAX_DEFAULT, KEYS_MIN,
		KEYS_MAX);
}

static int parse_opts(int argc, char **argv, struct lookup_opts *o)
{
	unsigned int most;
	enum { OPT_KEYS = 256, OPT_SECONDS, OPT_WRITE_RATE, OPT_ROUNDS, OPT_JSON, OPT_NO_PIN,
	       OPT_SET, OPT_CURVE, OPT_CURVE_MAX, OPT_PLOT, OPT_MAX_READERS };
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, OPT_KEYS },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "write-rate", required_argument, NULL, OPT_WRITE_RATE },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-pin", no_argument, NULL, OPT_NO_PIN },
		{ "set", required_argument, NULL, OPT_SET },
		{ "curve", no_argument, NULL, OPT_CURVE },
		{ "curve-max", required_argument, NULL, OPT_CURVE_MAX },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "max-readers", required_argument, NULL, OPT_MAX_READERS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct lookup_opts){ .keys = 1000000, .seconds = 3, .write_rate = 20000, .rounds = 1,
				    .pin = true, .curve_max = CURVE_MAX_DEFAULT,
				    .counts = { 1, 2 }, .ncounts = 2 };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KEYS:
			if (opt_parse_u64("kvtier-bench", "keys", optarg, KEYS_MIN, KEYS_MAX,
					  &o->keys))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_SECONDS:
			if (opt_parse_double("kvtier-bench", "seconds", optarg, 0, 3600,
					     &o->seconds))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_WRITE_RATE:
			if (opt_parse_u64("kvtier-bench", "write-rate", optarg, 0, 10000000,
					  &o->write_rate))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_ROUNDS:
			if (opt_parse_u64("kvtier-bench", "rounds", optarg, 1, ROUNDS_MAX,
					  &o->rounds))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_NO_PIN:
			o->pin = false;
			break;
		case OPT_SET:
			if (!strchr(optarg, '=') || o->nset == LOOKUP_MAX_SETS) {
				fprintf(stderr, "kvtier-bench: --set '%s': want KEY=VALUE, at most %d\n",
					optarg, LOOKUP_MAX_SETS);
				return BENCH_EXIT_USAGE;
			}
			o->set[o->nset++] = optarg;
			break;
		case OPT_CURVE:
			o->curve = true;
			break;
		case OPT_CURVE_MAX:
			if (opt_parse_u64("kvtier-bench", "curve-max", optarg, KEYS_MIN, KEYS_MAX,
					  &o->curve_max))
				return BENCH_EXIT_USAGE;
			break;
		case OPT_MAX_READERS:
			if (opt_parse_uint("kvtier-bench", "max-readers", optarg, 2, MAX_READERS,
					   &most))
				return BENCH_EXIT_USAGE;
			o->ncounts = 2;
			for (unsigned int n = 4; n <= most; n *= 2)
				o->counts[o->ncounts++] = n;
			if (o->counts[o->ncounts - 1] != most)
				o->counts[o->ncounts++] = most;
			break;
		case OPT_PLOT:
			if (bench_plot_file("lookup", optarg))
				return BENCH_EXIT_USAGE;
			o->plot = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return bench_opt_refused("lookup", c, argv);
		}
	}
	if (o->plot && !o->curve) {
		fprintf(stderr, "kvtier-bench lookup: --plot needs --curve (see --help)\n");
		return BENCH_EXIT_USAGE;
	}
	return bench_opt_leftover("lookup", argc, argv);
}

static void print_inputs(const struct lookup_opts *o, uint64_t nkeys)
{
	int cpus[MAX_READERS], ncpus = o->pin ? bench_allowed_cpus(cpus, MAX_READERS) : 0;

	printf("kvtier-bench lookup\n");
	printf("  keys          %llu (L1 slots, chunk %d B: chunk_size 16, 1 layer, 1 head, "
	       "head_dim 2, bfloat16)\n",
	       (unsigned long long)o->keys, CHUNK_BYTES);
	printf("  seconds       %g per configuration, %llu round%s (medians)\n", o->seconds,
	       (unsigned long long)o->rounds, o->rounds > 1 ? "s" : "");
	printf("  write rate    %llu keys/s (kvtier: kvt_put of %d new keys into a full L1; "
	       "baselines: insert new + delete oldest per key)\n",
	       (unsigned long long)o->write_rate, PUT_BATCH);
	printf("  window        %d consecutive keys per call, from the newest %d%% of the "
	       "live keys\n", WINDOW, SPAN_PCT);
	printf("  key ids       %llu made up front (16 B each)\n", (unsigned long long)nkeys);
	printf("  readers      ");
	for (size_t c = 0; c < o->ncounts; c++)
		printf("%s%u", c ? ", " : " ", o->counts[c]);
	if (ncpus >= 2)
		printf(" threads, each on its own of %d allowed cpus (round robin past them)\n",
		       ncpus);
	else if (ncpus == 1)
		printf(" threads, pinned to cpu %d (only one allowed)\n", cpus[0]);
	else
		printf(" threads, not pinned\n");
	printf("  kvtier-rcu    kvt_contains(%d keys, no flags): one RCU read section, no lock\n",
	       WINDOW);
	printf("  mutex         cds_lfht, same size and keys; pthread_mutex lock+unlock around "
	       "each key lookup (%d per call)\n", WINDOW);
	printf("  rwlock        cds_lfht, same size and keys; pthread_rwlock rdlock+unlock around "
	       "each key lookup (%d per call)\n", WINDOW);
	printf("  lfht-rcu      cds_lfht, same size and keys, no lock: the limit kvtier's map can "
	       "reach\n");
	printf("  writer lock   baselines take the lock once per insert+delete pair\n");
	printf("  load average  %.2f (1 min, before the run)\n\n", o->loadavg);
	fflush(stdout);
}

/* The headline ratios, all at 2 reader threads unless named otherwise. */
struct ratios {
	double scaling[TARGET_COUNT];	/* 2t / 1t lookups/s of each target */
	double vs_mutex, vs_rwlock;	/* kvtier lookups/s over the baseline's */
	double p99_vs_mutex, p99_vs_rwlock; /* kvtier p99 over the baseline's */
	double of_limit_1t, of_limit_2t; /* kvtier lookups/s over lfht-rcu's */
	/* kvtier p99 over lfht-rcu's, and lfht-rcu's over the mutex table's:
	 * the least p99_vs_mutex this design can show in this run */
	double p99_of_limit, limit_p99_vs_mutex;
};

static void ratios_of(const struct phase_result r[TARGET_COUNT][MAX_COUNTS], struct ratios *x)
{
	const struct phase_result *ours = &r[TARGET_KVTIER][1];

	for (int k = 0; k < TARGET_COUNT; k++)
		x->scaling[k] = bench_ratio(r[k][1].lookups_per_s, r[k][0].lookups_per_s);
	x->vs_mutex = bench_ratio(ours->lookups_per_s, r[TARGET_MUTEX][1].lookups_per_s);
	x->vs_rwlock = bench_ratio(ours->lookups_per_s, r[TARGET_RWLOCK][1].lookups_per_s);
	x->p99_vs_mutex = bench_ratio(ours->p99_us, r[TARGET_MUTEX][1].p99_us);
	x->p99_vs_rwlock = bench_ratio(ours->p99_us, r[TARGET_RWLOCK][1].p99_us);
	x->of_limit_1t = bench_ratio(r[TARGET_KVTIER][0].lookups_per_s,
				     r[TARGET_LFHT][0].lookups_per_s);
	x->of_limit_2t = bench_ratio(ours->lookups_per_s, r[TARGET_LFHT][1].lookups_per_s);
	x->p99_of_limit = bench_ratio(ours->p99_us, r[TARGET_LFHT][1].p99_us);
	x->limit_p99_vs_mutex = bench_ratio(r[TARGET_LFHT][1].p99_us, r[TARGET_MUTEX][1].p99_us);
}

static bool goal_scaling(const struct ratios *x)
{
	return x->scaling[TARGET_KVTIER] >= GOAL_SCALING_2T;
}

static bool goal_vs_mutex(const struct ratios *x)
{
	return x->vs_mutex >= GOAL_RATIO_VS_MUTEX_2T;
}

static bool goal_p99_vs_mutex(const struct ratios *x)
{
	return x->p99_vs_mutex <= GOAL_P99_RATIO_VS_MUTEX_2T;
}

static const char *goal_mark(bool met)
{
	return met ? "met" : "MISSED";
}

static void print_table(const struct lookup_opts *o,
			const struct phase_result r[TARGET_COUNT][MAX_COUNTS])
{
	printf("%-10s %7s %12s %8s %8s %8s %9s %10s %7s %7s\n", "target", "threads", "lookups/s",
	       "p50 us", "p99 us", "hit rate", "writes/s", "reader cpu", "bg cpu", "others");
	for (int k = 0; k < TARGET_COUNT; k++) {
		for (size_t n = 0; n < o->ncounts; n++) {
			const struct phase_result *p = &r[k][n];

			printf("%-10s %7u %12.0f %8.2f %8.2f %7.2f%% %9.0f %9.0f%% %7.2f %7.2f\n",
			       target_names[k], o->counts[n], p->lookups_per_s, p->p50_us, p->p99_us,
			       100 * p->hit_rate, p->write_rate, 100 * p->reader_cpu, p->bg_cpu,
			       p->other_cpu);
		}
	}
	printf("reader cpu: the readers' CPU time over their wall time (below 100%%: preempted,\n"
	       "or asleep on a lock); bg cpu: CPUs the rest of this process used (writer,\n"
	       "kvtier's actors and call_rcu thread); others: CPUs other processes used or the\n"
	       "hypervisor stole meanwhile (0 on a quiet machine)\n");
}

static void print_notes(const struct lookup_opts *o, const struct target *kt,
			const struct phase_result r[TARGET_COUNT][MAX_COUNTS])
{
	for (int k = 0; k < TARGET_COUNT; k++) {
		for (size_t n = 0; n < o->ncounts; n++) {
			if (r[k][n].other_cpu < OTHER_CPU_QUIET)
				continue;
			printf("WARNING: other processes (or the hypervisor) used %.2f CPUs during "
			       "%s %ut:\nthe machine is not quiet, so these figures are skewed; "
			       "rerun when it is (or use --rounds).\n",
			       r[k][n].other_cpu, target_names[k], o->counts[n]);
		}
	}
	printf("\nkvtier: %llu L1 slots, %llu live keys after the fill, %llu + %llu evictions "
	       "during the 1t and 2t runs\n",
	       (unsigned long long)kt->l1_slots, (unsigned long long)kt->live,
	       (unsigned long long)r[TARGET_KVTIER][0].evictions,
	       (unsigned long long)r[TARGET_KVTIER][1].evictions);
	for (int k = 0; k < TARGET_COUNT; k++) {
		for (size_t n = 0; n < o->ncounts; n++) {
			if (r[k][n].write_failed)
				printf("note: %s %ut: %llu writer keys failed\n", target_names[k],
				       o->counts[n], (unsigned long long)r[k][n].write_failed);
			if (r[k][n].writer_short)
				printf("note: %s %ut: the writer ran out of key ids\n",
				       target_names[k], o->counts[n]);
		}
	}
}

static void print_ratios(const struct ratios *x)
{
	printf("\n%-36s %8s  %s\n", "ratio", "value", "goal (info only)");
	printf("%-36s %8.2f  >= %.2f %s\n", "scaling_2t (kvtier 2t / 1t)",
	       x->scaling[TARGET_KVTIER], GOAL_SCALING_2T, goal_mark(goal_scaling(x)));
	printf("%-36s %8.2f  >= %.2f %s\n", "ratio_vs_mutex_2t (lookups/s)", x->vs_mutex,
	       GOAL_RATIO_VS_MUTEX_2T, goal_mark(goal_vs_mutex(x)));
	printf("%-36s %8.2f  <= %.2f %s\n", "p99_ratio_vs_mutex_2t (p99)", x->p99_vs_mutex,
	       GOAL_P99_RATIO_VS_MUTEX_2T, goal_mark(goal_p99_vs_mutex(x)));
	printf("%-36s %8.2f\n", "rwlock_ratio_2t (lookups/s)", x->vs_rwlock);
	printf("%-36s %8.2f\n", "p99_ratio_vs_rwlock_2t (p99)", x->p99_vs_rwlock);
	printf("%-36s %8.2f\n", "mutex scaling_2t", x->scaling[TARGET_MUTEX]);
	printf("%-36s %8.2f\n", "rwlock scaling_2t", x->scaling[TARGET_RWLOCK]);
	printf("%-36s %8.2f\n", "lfht-rcu scaling_2t (the limit)", x->scaling[TARGET_LFHT]);
	printf("%-36s %8.2f / %.2f\n", "kvtier / lfht-rcu lookups/s, 1t / 2t", x->of_limit_1t,
	       x->of_limit_2t);
	printf("%-36s %8.2f\n", "kvtier / lfht-rcu p99, 2t", x->p99_of_limit);
	printf("%-36s %8.2f\n", "lfht-rcu p99 / mutex p99, 2t", x->limit_p99_vs_mutex);
	fflush(stdout);
}

/* Keys: "<prefix><name>_<n>t", prefix "" for kvtier, "mutex_", "rwlock_". */
static void json_phase(struct json_line *j, enum target_kind k, unsigned int readers,
		       const struct phase_result *p)
{
	static const struct {
		const char *name;
		size_t off;
		int decimals;
	} fields[] = {
		{ "lookups_per_s", offsetof(struct phase_result, lookups_per_s), 0 },
		{ "p50_us", offsetof(struct phase_result, p50_us), 3 },
		{ "p99_us", offsetof(struct phase_result, p99_us), 3 },
		{ "hit_rate", offsetof(struct phase_result, hit_rate), 4 },
		{ "writes_per_s", offsetof(struct phase_result, write_rate), 0 },
		{ "reader_cpu", offsetof(struct phase_result, reader_cpu), 3 },
		{ "bg_cpus", offsetof(struct phase_result, bg_cpu), 3 },
		{ "other_cpus", offsetof(struct phase_result, other_cpu), 3 },
	};
	char key[64];

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		double v;

		memcpy(&v, (const char *)p + fields[i].off, sizeof(v));
		snprintf(key, sizeof(key), "%s%s_%ut", target_json[k], fields[i].name, readers);
		json_num(j, key, v, fields[i].decimals);
	}
}

static int print_json(const struct lookup_opts *o, const struct target *kt,
		      const struct phase_result r[TARGET_COUNT][MAX_COUNTS],
		      const struct ratios *x)
{
	struct json_line j;
	char key[64];

	json_begin(&j);
	json_str(&j, "workload", "lookup");
	json_u64(&j, "keys", o->keys);
	json_num(&j, "seconds", o->seconds, 3);
	json_u64(&j, "rounds", o->rounds);
	json_u64(&j, "write_rate", o->write_rate);
	json_u64(&j, "window", WINDOW);
	json_bool(&j, "pinned", o->pin);
	json_num(&j, "loadavg_1m", o->loadavg, 2);
	json_u64(&j, "l1_slots", kt->l1_slots);
	json_u64(&j, "live_keys", kt->live);
	for (int k = 0; k < TARGET_COUNT; k++) {
		for (size_t n = 0; n < o->ncounts; n++)
			json_phase(&j, (enum target_kind)k, o->counts[n], &r[k][n]);
		snprintf(key, sizeof(key), "%sscaling_2t", target_json[k]);
		json_num(&j, key, x->scaling[k], 3);
	}
	json_u64(&j, "evictions_1t", r[TARGET_KVTIER][0].evictions);
	json_u64(&j, "evictions_2t", r[TARGET_KVTIER][1].evictions);
	json_num(&j, "ratio_vs_mutex_2t", x->vs_mutex, 3);
	json_num(&j, "p99_ratio_vs_mutex_2t", x->p99_vs_mutex, 3);
	json_num(&j, "rwlock_ratio_2t", x->vs_rwlock, 3);
	json_num(&j, "p99_ratio_vs_rwlock_2t", x->p99_vs_rwlock, 3);
	json_num(&j, "lfht_ratio_1t", x->of_limit_1t, 3);
	json_num(&j, "lfht_ratio_2t", x->of_limit_2t, 3);
	json_num(&j, "p99_ratio_vs_lfht_2t", x->p99_of_limit, 3);
	json_num(&j, "lfht_p99_ratio_vs_mutex_2t", x->limit_p99_vs_mutex, 3);
	json_bool(&j, "goal_scaling_2t_met", goal_scaling(x));
	json_bool(&j, "goal_ratio_vs_mutex_2t_met", goal_vs_mutex(x));
	json_bool(&j, "goal_p99_ratio_vs_mutex_2t_met", goal_p99_vs_mutex(x));
	return json_end(&j);
}

struct kvt_key *keys_make(const struct lookup_opts *o, uint64_t *nkeys)
{
	/* every id a writer could insert in all phases, plus one batch of slack */
	uint64_t per_phase = ((uint64_t)ceil((double)o->write_rate * o->seconds / PUT_BATCH) + 1) *
			     PUT_BATCH;
	struct kvt_key *keys;

	*nkeys = o->keys + o->ncounts * o->rounds * per_phase + PUT_BATCH;
	keys = malloc(sizeof(*keys) * *nkeys);
	if (!keys) {
		fprintf(stderr, "kvtier-bench: out of memory for %llu keys\n",
			(unsigned long long)*nkeys);
		return NULL;
	}
	for (uint64_t id = 0; id < *nkeys; id++) {
		keys[id].lo = prng_mix64(2 * id);
		keys[id].hi = prng_mix64(2 * id + 1);
	}
	return keys;
}

void target_init(struct target *t, enum target_kind kind, const struct kvt_key *keys,
		 uint64_t nkeys, uint64_t live)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->keys = keys;
	t->nkeys = nkeys;
	t->live = live;
	for (size_t i = 0; i < FILL_BATCH; i++) {
		t->bufs[i] = zero_chunk;
		t->lens[i] = CHUNK_BYTES;
	}
}

int lookup_main(int argc, char **argv)
{
	struct phase_result res[TARGET_COUNT][MAX_COUNTS];
	struct ratios x;
	struct target *t;
	struct kvt_key *keys = NULL;
	uint64_t nkeys = 0, live = 0, l1_slots = 0;
	struct lookup_opts o;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret < 0 ? BENCH_EXIT_OK : ret;
	o.loadavg = bench_loadavg();
	if (o.curve)
		return lookup_curve(&o) ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
	keys = keys_make(&o, &nkeys);
	if (!keys)
		return BENCH_EXIT_FAIL;
	print_inputs(&o, nkeys);
	t = aligned_alloc(64, sizeof(*t));
	if (!t) {
		fprintf(stderr, "kvtier-bench: out of memory\n");
		ret = BENCH_EXIT_FAIL;
		goto out_free;
	}
	memset(res, 0, sizeof(res));
	for (int k = 0; k < TARGET_COUNT; k++) {
		target_init(t, (enum target_kind)k, keys, nkeys, live);
		if (run_target(t, &o, res[k])) {
			ret = BENCH_EXIT_FAIL;
			goto out_free;
		}
		if (k == TARGET_KVTIER) {
			live = t->live;
			l1_slots = t->l1_slots;
		}
	}
	t->live = live;
	t->l1_slots = l1_slots;
	ratios_of(res, &x);
	print_table(&o, res);
	print_notes(&o, t, res);
	print_ratios(&x);
	ret = BENCH_EXIT_OK;
	if (o.json && print_json(&o, t, res, &x))
		ret = BENCH_EXIT_FAIL;

out_free:
	free(t);
	free(keys);
	return ret;
}
