/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/main.c - kvtier-stress: the concurrency harness.
 *
 * Opens one instance smaller than the keyspace, runs --threads workers of
 * mixed operations (worker.c) for --seconds, then stops them and checks
 * what must hold once everything is quiet: no corruption, no unexpected
 * code, no borrow or pin left, no slot lost, kvtier's counters equal to what
 * the workers did, every chunk still stored verifies, and kvt_close() leaves
 * no thread or fd behind.  Prints progress every second on stderr, then a
 * table of ops/s on stdout (--json: one JSON object on the last line).
 *
 * --tier dax adds a Device-DAX tier on --dax-path or, by default, on a fresh
 * file in /dev/shm that emulates one (removed at exit).  Tiered mode puts an
 * L1 of a quarter of the arena in front of it and a keyspace of twice the
 * arena behind, so both tiers evict; primary mode has the DAX slots alone.
 * The run uses its own namespace (a tenant_salt from the seed, with
 * dax.reinit), so a device left by an earlier run is reformatted, not
 * recovered.  After kvt_close() the device is opened again with the same
 * config: it must recover exactly the chunks DAX held at close, none torn,
 * each byte-exact.
 *
 * --tier fs puts the fs L2 adapter (one file per chunk) behind L1, on
 * --fs-dir or, by default, a fresh directory in /var/tmp (removed at exit).
 * Cache mode: a small L1 (local_cpu true) in front, written through, with
 * a keyspace of 8 x its slots, so most reads come from disk and are
 * promoted.  Staging mode: local_cpu false + use_only_staging_buffer, so
 * L1 only holds puts until the adapter wrote them (a small staging area,
 * so puts wait for it and some time out) and every read comes from disk.
 * Either way the disk holds about half the keyspace.  The adapter fails
 * --fault-ppm of its I/Os with EIO, and a thread of the harness corrupts a
 * chunk file every --corrupt-ms (fs.c): nothing corrupt may ever be
 * served.  After kvt_close() the directory is opened again without EIO
 * faults: every file nobody corrupted since the adapter wrote it must read
 * back byte-exact, every corrupted one must miss and be removed.
 *
 * --tier resp puts the resp L2 adapter (one Redis key per chunk) behind the
 * same small L1 as fs cache mode, on a Redis Cluster of 3 masters that the
 * harness starts on free loopback ports (resp.c; stopped at exit) or on
 * --resp-url.  A thread of the harness corrupts a value every --corrupt-ms
 * (flips a byte with GETRANGE/SETRANGE, SETs a prefix of it, random bytes
 * or another key's value over it) and stops one master every few seconds
 * for --resp-pause-ms, longer than the adapter's --resp-timeout-ms, so its
 * I/O times out and it reconnects: nothing corrupt may ever be served, and
 * no operation may hang.  The end checks are those of fs (each value Redis
 * holds classified as intact or corrupt), then the same prefix is opened
 * again: every intact value must read back byte-exact, every corrupt one
 * must miss and be deleted.
 *
 * --tier pool puts the pool L2 adapter (chunks in a shared pool run by
 * kvtier-poold) behind the same small L1, in --procs engine processes at
 * once (procs.c), each with its own instance and workers over one shared
 * keyspace: a chunk one process stored is read by the others straight
 * from its region, mapped in place.  The harness starts its own daemon
 * (pool.c; a /dev/shm pool, sockets in a fresh /tmp directory, stopped at
 * exit) unless --pool-server names one.  Every --kill-ms one process is
 * SIGKILLed while it holds pins in the daemon and a fresh one takes its
 * place.  At the end every process checks its own instance as above (the
 * pool quiet meanwhile), then a last instance reads back and removes every
 * key, and the daemon must hold no key, pin or region: the dead processes'
 * pins went with them, their regions once their keys did.
 *
 * Exit: 0 pass, 1 fail, 2 usage.
 *
 * Threads: main parses, opens, reports and checks; workers run worker.c
 * (and the ops of worker_hold.c).
 * With --tier pool the first process only supervises (procs.c); each
 * engine process it starts is a main thread and its workers.
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
#include <time.h>
#include <unistd.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/stress.h"

#define EXIT_USAGE 2

/* The tier whose resources the signal handlers remove; set before they are
 * installed. */
static const struct tier_ops *sig_tier;

/* ---- process resources ---- */

long count_dir(const char *path)
{
	struct dirent *d;
	long n = 0;
	DIR *dir = opendir(path);

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STRESS_SANITIZED 1
#endif
#endif

#ifdef STRESS_SANITIZED
/* from <sanitizer/common_interface_defs.h>, which not every toolchain ships */
void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out_buf, size_t out_buf_size);
#endif

static void *noop_thread(void *arg)
{
	return arg;
}

/*
 * warm_runtime() - start what the runtime starts lazily, before the first
 * count of threads and fds: TSan spawns a background thread with the first
 * pthread_create(), and the sanitizers start llvm-symbolizer (two pipe fds)
 * with the first report, suppressed ones included.  Otherwise those would
 * read as threads and fds that kvt_close() leaked.
 */
void warm_runtime(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, noop_thread, NULL) == 0)
		pthread_join(t, NULL);
#ifdef STRESS_SANITIZED
	{
		char where[256];

		__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", where,
					 sizeof(where));
	}
#endif
}

/* ---- setup ---- */

int knob_add(struct knobs *k, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	assert(k->n < sizeof(k->k) / sizeof(k->k[0]));
	va_start(ap, fmt);
	n = vsnprintf(k->k[k->n].value, sizeof(k->k[k->n].value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(k->k[k->n].value))
		return -ENAMETOOLONG;
	k->k[k->n++].key = key;
	return 0;
}

/*
 * stress_make_config() - the instance's config: a slot of --chunk-kb KiB, and the
 * knobs of the tier (tier_ops.config); an fs adapter fails @fault_ppm of its I/Os.
 *
 * kvt_chunk_bytes() = 2 (K, V) x kv_layers x chunk_size 16 x kv_heads 1 x
 * head_dim x 2 (bfloat16) = 64 x kv_layers x head_dim, so kv_layers x
 * head_dim = C x 16; head_dim is at most 4096, so large chunks add layers.
 * Sizes in MiB go in as GiB a hair over, so floor() in kvtier does not lose
 * a slot.
 */
int stress_make_config(struct stress *s, uint32_t fault_ppm, struct kvt_config **out)
{
	const struct stress_opts *o = &s->o;
	uint32_t units = o->chunk_kb * 16, layers = 1;
	struct knobs k = { 0 };
	struct kvt_config *cfg;
	char err[256];
	int ret;

	while (layers <= 1024 && (units % layers || units / layers > 4096))
		layers++;
	if (layers > 1024) {
		fprintf(stderr, "kvtier-stress: --chunk-kb %u: no chunk shape gives that size\n",
			o->chunk_kb);
		return -EINVAL;
	}
	knob_add(&k, "chunk_size", "16");
	knob_add(&k, "kv_layers", "%u", layers);
	knob_add(&k, "kv_heads", "1");
	knob_add(&k, "head_dim", "%u", units / layers);
	knob_add(&k, "kv_dtype", "bfloat16");
	knob_add(&k, "pin_ttl_ms", "%u", o->pin_ttl_ms);
	knob_add(&k, "l1.prefetch_workers", "2");
	if (o->metrics)
		knob_add(&k, "metrics.listen", "%s", o->metrics);
	/* primary mode has no L1 (local_cpu: false) */
	if (o->tier != TIER_DAX_PRIMARY)
		knob_add(&k, "max_local_cpu_size", "%.12f",
			 (double)o->capacity_mb / 1024.0 + 1e-12);
	if (s->tier->config) {
		ret = s->tier->config(s, fault_ppm, &k);
		if (ret)
			return ret;
	}
	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < k.n; i++)
		ret = kvt_config_set(cfg, k.k[i].key, k.k[i].value, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier-stress: config: %s\n", err);
		kvt_config_free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

int stress_open(struct stress *s)
{
	const struct stress_opts *o = &s->o;
	int ret;

	if (s->tier->prepare) {
		ret = s->tier->prepare(s);
		if (ret)
			return ret;
	}
	ret = stress_make_config(s, o->fault_ppm, &s->cfg);
	if (ret)
		return ret;
	ret = kvt_open(s->cfg, &s->kvt, NULL, 0);
	if (ret) {
		fprintf(stderr, "kvtier-stress: kvt_open: %d (%s)\n", ret, kvt_strerror(ret));
		return ret;
	}
	s->chunk = kvt_chunk_bytes(s->kvt);
	if (s->chunk != (size_t)o->chunk_kb * 1024) {
		fprintf(stderr, "kvtier-stress: kvt_chunk_bytes() = %zu, wanted %u KiB\n", s->chunk,
			o->chunk_kb);
		kvt_close(s->kvt);
		s->kvt = NULL;
		return -EINVAL;
	}
	/* tiers a pin holds a copy in: L2 copies are never pinned */
	s->ntiers = o->tier == TIER_DAX_TIERED ? 2 : 1;
	/* the DAX writer, or the L2 completion actor, fires them */
	s->async_cb = o->tier == TIER_DAX_TIERED || s->tier->l2;
	return 0;
}

static int alloc_state(struct stress *s)
{
	size_t per = STRESS_MAX_BATCH * s->chunk;

	/* pool: every process hands out versions of the same keys */
	s->next_version = s->shm ? s->shm->next_version :
				   calloc(s->nkeys, sizeof(*s->next_version));
	s->pin_started = calloc(s->nkeys, sizeof(*s->pin_started));
	s->pin_finished = calloc(s->nkeys, sizeof(*s->pin_finished));
	s->w = calloc(s->o.threads, sizeof(*s->w));
	if (!s->next_version || !s->pin_started || !s->pin_finished || !s->w)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->o.threads; i++) {
		struct worker *w = &s->w[i];

		w->s = s;
		w->idx = i;
		w->rng = s->o.seed + 0x9E3779B97F4A7C15ull * (i + 1);
		w->rng = w->rng ? w->rng : 1;
		atomic_init(&w->cur_op, -1);
		w->put_buf = malloc(per);
		w->get_buf = malloc(per);
		w->pf_buf = malloc(per);
		w->tracks = calloc(PUT_TRACKS, sizeof(*w->tracks));
		if (!w->put_buf || !w->get_buf || !w->pf_buf || !w->tracks)
			return -ENOMEM;
	}
	return 0;
}

static void free_state(struct stress *s)
{
	for (unsigned int i = 0; s->w && i < s->o.threads; i++) {
		free(s->w[i].put_buf);
		free(s->w[i].get_buf);
		free(s->w[i].pf_buf);
		free(s->w[i].tracks);
	}
	free(s->w);
	l2_fault_free(s);
	free((void *)s->pin_finished);
	free((void *)s->pin_started);
	if (!s->shm)
		free((void *)s->next_version);
}

/* ---- the run ---- */

static uint64_t sum_ops(struct stress *s, int op)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < s->o.threads; i++)
		for (int k = 0; k < OP_N; k++)
			if (op < 0 || op == k)
				n += atomic_load_explicit(&s->w[i].op[k].ops, memory_order_relaxed);
	return n;
}

static void progress_line(struct stress *s, uint64_t start_ns, uint64_t *last_ops,
			  uint64_t *last_ns)
{
	uint64_t now = tool_now_ns(), ops = sum_ops(s, -1);
	struct kvt_stats st;
	char lower[192] = "";

	kvt_stats(s->kvt, &st, sizeof(st));
	if (s->tier->progress)
		s->tier->progress(s, &st, lower, sizeof(lower));
	fprintf(stderr, "kvtier-stress: %5.1fs ops %" PRIu64 " (%.0f/s) l1 %" PRIu64
		"/%" PRIu64 "%s pinned %" PRIu64 " borrows %" PRIu64 " corrupt %" PRIu64
		" failed %" PRIu64 "\n", (double)(now - start_ns) / 1e9, ops,
		(double)(ops - *last_ops) * 1e9 / (double)(now - *last_ns), st.l1_entries,
		st.l1_slots, lower, st.pinned_entries, st.borrows_active,
		atomic_load_explicit(&s->v->corruptions, memory_order_relaxed),
		atomic_load_explicit(&s->v->failures, memory_order_relaxed));
	*last_ops = ops;
	*last_ns = now;
}

static bool workers_idle(struct stress *s)
{
	for (unsigned int i = 0; i < s->o.threads; i++)
		if (atomic_load_explicit(&s->w[i].cur_op, memory_order_relaxed) >= 0)
			return false;
	return true;
}

/*
 * run_workers() - start the workers, print progress each second, stop them
 * at the deadline (a pool engine process: when its supervisor says, and it
 * prints nothing) and join.  Return: the run time in ns, or 0 if a worker
 * is stuck (then the process exits: joining would hang).
 */
static uint64_t run_workers(struct stress *s)
{
	uint64_t start = tool_now_ns(), deadline = start + s->o.seconds * 1000000000ull;
	uint64_t last_ops = 0, last_ns = start, next = start + 1000000000ull, end;
	unsigned int started;
	int ret = 0;

	for (started = 0; started < s->o.threads; started++) {
		ret = pthread_create(&s->w[started].thread, NULL, worker_main, &s->w[started]);
		if (ret) {
			fprintf(stderr, "kvtier-stress: pthread_create: %s\n", strerror(ret));
			atomic_store_explicit(&s->stop, 1, memory_order_relaxed);
			break;
		}
	}
	/* a pool engine process runs until the supervisor says stop */
	while (!ret && s->shm && !procs_child_tick(s)) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	while (!ret && !s->shm && tool_now_ns() < deadline) {
		uint64_t now = tool_now_ns(), until = next < deadline ? next : deadline;
		struct timespec ts = { 0, 0 };

		if (until > now) {
			ts.tv_sec = (time_t)((until - now) / 1000000000ull);
			ts.tv_nsec = (long)((until - now) % 1000000000ull);
			nanosleep(&ts, NULL);
		}
		if (tool_now_ns() >= next) {
			progress_line(s, start, &last_ops, &last_ns);
			next += 1000000000ull;
		}
	}
	atomic_store_explicit(&s->stop, 1, memory_order_relaxed);
	end = tool_now_ns();
	/* watchdog: a worker that never comes back is a hang in kvtier */
	while (!workers_idle(s) && tool_now_ns() - end < JOIN_GRACE_S * 1000000000ull) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	if (!workers_idle(s)) {
		for (unsigned int i = 0; i < started; i++) {
			int op = atomic_load_explicit(&s->w[i].cur_op, memory_order_relaxed);

			if (op >= 0)
				fprintf(stderr, "kvtier-stress: %sFAIL thread %u stuck in %s for %d s\n",
					s->who, i, stress_op_names[op], JOIN_GRACE_S);
		}
		fflush(NULL);
		_exit(1);
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(s->w[i].thread, NULL);
	return ret ? 0 : end - start;
}

static void on_alarm(int sig)
{
	static const char msg[] = "kvtier-stress: FAIL: the run did not finish in time "
				  "(hang in kvt_flush or kvt_close?)\n";

	(void)sig;
	if (sig_tier->stop_signal)
		sig_tier->stop_signal();
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

/* Ctrl-C or kill: the DAX file, fs directory, Redis servers or the pool's
 * daemon and engine processes go too, then the default action. */
static void on_signal(int sig)
{
	if (sig_tier->stop_signal)
		sig_tier->stop_signal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The keyspace: --keys, or the tier's for the slots of @st; 2 at least. */
static uint32_t keyspace(const struct stress *s, const struct kvt_stats *st)
{
	uint64_t n = s->o.keys ? s->o.keys : s->tier->keys(&s->o, st);

	return n < 2 ? 2 : (uint32_t)n;
}

static void print_inputs(const struct stress *s, const struct kvt_stats *st)
{
	printf("kvtier-stress: tier %s, %u threads, %u s, %u keys, chunk %zu bytes, pin_ttl_ms %u,"
	       " seed %" PRIu64 "\n", stress_tier_names[s->o.tier], s->o.threads, s->o.seconds, s->nkeys,
	       s->chunk, s->o.pin_ttl_ms, s->o.seed);
	if (s->o.tier != TIER_DAX_PRIMARY)
		printf("  l1  %" PRIu64 " slots (%u MiB)%s\n", st->l1_slots, s->o.capacity_mb,
		       s->o.tier == TIER_FS_STAGING ? ", staging only" : "");
	if (s->tier->print_inputs)
		s->tier->print_inputs(s, st);
	fflush(stdout);
}

/* The keyspace of --tier pool, before any instance is open: L1 slots are
 * whole chunks of --capacity-mb (make_config sizes it so). */
uint32_t stress_pool_keys(const struct stress *s)
{
	struct kvt_stats st = { .l1_slots = (uint64_t)s->o.capacity_mb * 1024 / s->o.chunk_kb };

	return keyspace(s, &st);
}

int stress_run(struct stress *s)
{
	struct checks c = { .verbose = s->o.verbose, .who = s->who };
	struct reopen r = { 0 };
	struct l2_status quiet_l2 = { 0 };
	struct kvt_stats st;
	long fds_before, tasks_before;
	uint64_t run_ns = 1;
	bool pass;
	int ret;

	warm_runtime();
	fds_before = count_dir("/proc/self/fd");
	tasks_before = count_dir("/proc/self/task");
	ret = stress_open(s);
	if (ret)
		goto out_cfg;
	kvt_stats(s->kvt, &st, sizeof(st));
	/* a pool engine process: the supervisor chose it */
	if (!s->shm)
		s->nkeys = keyspace(s, &st);
	if (alloc_state(s)) {
		fprintf(stderr, "kvtier-stress: out of memory\n");
		kvt_close(s->kvt);
		ret = -ENOMEM;
		goto out_free;
	}
	if (!s->shm)
		print_inputs(s, &st);
	ret = s->tier->fault_start ? s->tier->fault_start(s) : 0;
	if (ret) {
		kvt_close(s->kvt);
		goto out_free;
	}

	run_ns = run_workers(s);
	/* it stops with the workers, at the deadline */
	if (s->tier->fault_stop)
		s->tier->fault_stop(s);
	check(&c, run_ns != 0, "all %u workers started", s->o.threads);
	if (!run_ns)
		run_ns = 1;

	/* quiet now: every op has returned, every lease and pin was given back,
	 * and after the flush no put callback can fire */
	ret = kvt_flush(s->kvt);
	check(&c, ret == 0, "kvt_flush() = %d after the run", ret);
	settle_tracks(s);
	stress_drain_event_fd(s);
	if (s->tier->recover)
		s->tier->recover(s, &c);
	quiet_stats(s, &st);
	accounting(s, &c, &st);
	/* what the pool holds changes until every process is quiet; the
	 * adapter's counters as they match st, before the sweep adds to them */
	if (s->shm) {
		l2_status(s->kvt, &quiet_l2);
		procs_child_quiet(s);
	}
	sweep_checks(s, &c, &st);
	fflush(stdout);
	if (st.borrows_active) {
		/* kvt_close() waits for every lease: it would never return */
		check(&c, false, "kvt_close() skipped: kvtier still counts %" PRIu64
		      " leases that every worker released", st.borrows_active);
		goto report;
	}
	if (s->tier->at_close)
		s->tier->at_close(s, &r);
	ret = kvt_close(s->kvt);
	s->kvt = NULL;
	check(&c, ret == 0, "kvt_close() = %d", ret);
	leak_checks(&c, fds_before, tasks_before, "kvt_close");
	/* the pool is reread by the supervisor's last instance (procs_end.c) */
	if (s->tier->reopen) {
		s->tier->reopen(s, &c, &r);
		leak_checks(&c, fds_before, tasks_before, "the reopened kvt_close");
	}
report:
	alarm(0);
	pass = c.failed == 0 &&
	       atomic_load_explicit(&s->v->corruptions, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&s->v->failures, memory_order_relaxed) == 0;
	if (s->shm)
		procs_child_done(s, &c, &st, &quiet_l2, run_ns, total_acct(s), pass);
	else
		report_run(s, run_ns, &st, &c, &r, pass);
	ret = pass ? 0 : 1;
out_free:
	free_state(s);
out_cfg:
	kvt_config_free(s->cfg);
	s->cfg = NULL;
	if (s->tier->cleanup)
		s->tier->cleanup();
	/* before the sanitizers' exit-time reports, which end with _exit() */
	fflush(stdout);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct stress s = { 0 };
	const char *child = getenv(CHILD_ENV);

	if (stress_parse_opts(argc, argv, &s.o))
		return EXIT_USAGE;
	s.v = &s.own;
	s.tier = stress_tier_ops[s.o.tier];
	/* an engine process of a tier run in several (pool): its supervisor
	 * watches the time, and cleans up */
	if (child && s.tier->run)
		return procs_child_main(&s, child);
	sig_tier = s.tier;
	signal(SIGALRM, on_alarm);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (s.tier->run)
		return s.tier->run(&s, argv);
	alarm(s.o.seconds + JOIN_GRACE_S + CLOSE_GRACE_S);
	return stress_run(&s);
}
