/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/main.c - kvtier-stress: the concurrency harness.
 *
 * Opens one L1 instance smaller than the keyspace, runs --threads workers
 * of mixed operations (worker.c) for --seconds, then stops them and checks
 * what must hold once everything is quiet: no corruption, no unexpected
 * code, no borrow or pin left, no slot lost, kvtier's counters equal to what
 * the workers did, every chunk still stored verifies, and kvt_close() leaves
 * no thread or fd behind.  Prints progress every second on stderr, then a
 * table of ops/s on stdout (--json: one JSON object on the last line).
 *
 * Exit: 0 pass, 1 fail, 2 usage.
 *
 * Threads: main parses, opens, reports and checks; workers run worker.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
#define JOIN_GRACE_S 60  /* a worker not back this long after the deadline is stuck */
#define CLOSE_GRACE_S 120

static const char usage_text[] =
	"usage: kvtier-stress [options]\n"
	"Concurrency harness: mixed kvtier operations on T threads over a keyspace\n"
	"larger than L1, every read verified, then leak and accounting checks.\n"
	"\n"
	"  --threads T        worker threads (default 4)\n"
	"  --seconds S        run time (default 10; KVT_STRESS_SECONDS overrides)\n"
	"  --keys K           keyspace size (default 4 x the L1 slot count)\n"
	"  --capacity-mb M    L1 size in MiB (default 64)\n"
	"  --chunk-kb C       chunk size in KiB (default 64)\n"
	"  --pin-ttl-ms N     pin lease; 0 (default) disables the pin-monitor\n"
	"  --seed N           worker RNG seed (default: from the clock, printed)\n"
	"  --tier NAME        tier under test; only l1 exists so far\n"
	"  --json             one JSON object on the last stdout line\n"
	"  --verbose          print every check, not only failed ones\n"
	"  --help             this text\n"
	"\n"
	"Exit status: 0 no corruption, no unexpected error and every check held;\n"
	"1 otherwise; 2 bad usage.\n";

/* ---- options ---- */

static int parse_u64(const char *opt, const char *text, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-' || v < min || v > max) {
		fprintf(stderr, "kvtier-stress: --%s: \"%s\": must be a number from %" PRIu64
			" to %" PRIu64 "\n", opt, text, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_uint(const char *opt, const char *text, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	uint64_t v;
	int ret = parse_u64(opt, text, min, max, &v);

	if (!ret)
		*out = (unsigned int)v;
	return ret;
}

static int parse_opts(int argc, char **argv, struct stress_opts *o)
{
	enum { O_THREADS = 256, O_SECONDS, O_KEYS, O_CAP, O_CHUNK, O_TTL, O_SEED, O_TIER,
	       O_JSON, O_VERBOSE, O_HELP };
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, O_THREADS },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "capacity-mb", required_argument, NULL, O_CAP },
		{ "chunk-kb", required_argument, NULL, O_CHUNK },
		{ "pin-ttl-ms", required_argument, NULL, O_TTL },
		{ "seed", required_argument, NULL, O_SEED },
		{ "tier", required_argument, NULL, O_TIER },
		{ "json", no_argument, NULL, O_JSON },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *env;
	int c, ret = 0;

	*o = (struct stress_opts){ .threads = 4, .seconds = 10, .capacity_mb = 64,
				   .chunk_kb = 64 };
	o->seed = tool_now_ns() ^ ((uint64_t)getpid() << 32);
	while (!ret && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_THREADS:
			ret = parse_uint("threads", optarg, 1, STRESS_MAX_THREADS, &o->threads);
			break;
		case O_SECONDS:
			ret = parse_uint("seconds", optarg, 1, 86400, &o->seconds);
			break;
		case O_KEYS:
			ret = parse_u64("keys", optarg, 2, UINT32_MAX, &o->keys);
			break;
		case O_CAP:
			ret = parse_uint("capacity-mb", optarg, 1, 4096 * 1024, &o->capacity_mb);
			break;
		case O_CHUNK:
			ret = parse_uint("chunk-kb", optarg, 1, 256 * 1024, &o->chunk_kb);
			break;
		case O_TTL:
			ret = parse_uint("pin-ttl-ms", optarg, 0, 86400000, &o->pin_ttl_ms);
			break;
		case O_SEED:
			ret = parse_u64("seed", optarg, 0, UINT64_MAX, &o->seed);
			break;
		case O_TIER:
			if (strcmp(optarg, "l1")) {
				fprintf(stderr, "kvtier-stress: --tier %s: tier %s not built yet "
					"(only l1 is)\n", optarg, optarg);
				ret = -EINVAL;
			}
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_VERBOSE:
			o->verbose = true;
			break;
		case O_HELP:
			fputs(usage_text, stdout);
			exit(0);
		default:
			ret = -EINVAL;
		}
	}
	if (!ret && optind < argc) {
		fprintf(stderr, "kvtier-stress: unexpected argument \"%s\"\n", argv[optind]);
		ret = -EINVAL;
	}
	env = getenv("KVT_STRESS_SECONDS");
	if (!ret && env && *env)
		ret = parse_uint("seconds (KVT_STRESS_SECONDS)", env, 1, 86400, &o->seconds);
	if (ret)
		fputs("kvtier-stress: --help lists the options\n", stderr);
	return ret;
}

/* ---- process resources ---- */

/* Entries of a /proc directory, or -1. */
static long count_dir(const char *path)
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
static void warm_runtime(void)
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

/*
 * open_instance() - an L1-only instance whose slot is --chunk-kb KiB.
 *
 * kvt_chunk_bytes() = 2 (K, V) x kv_layers x chunk_size 16 x kv_heads 1 x
 * head_dim x 2 (bfloat16) = 64 x kv_layers x head_dim, so kv_layers x
 * head_dim = C x 16; head_dim is at most 4096, so large chunks add layers.
 */
static int open_instance(struct stress *s)
{
	const struct stress_opts *o = &s->o;
	uint32_t units = o->chunk_kb * 16, layers = 1;
	struct {
		const char *key;
		unsigned long long v;
	} knobs[] = {
		{ "chunk_size", 16 },
		{ "kv_layers", 1 },	/* set below */
		{ "kv_heads", 1 },
		{ "head_dim", 1 },	/* set below */
		{ "pin_ttl_ms", o->pin_ttl_ms },
		{ "l1.prefetch_workers", 2 },
	};
	struct kvt_config *cfg;
	char err[256], val[64];
	int ret;

	while (layers <= 1024 && (units % layers || units / layers > 4096))
		layers++;
	if (layers > 1024) {
		fprintf(stderr, "kvtier-stress: --chunk-kb %u: no chunk shape gives that size\n",
			o->chunk_kb);
		return -EINVAL;
	}
	knobs[1].v = layers;
	knobs[3].v = units / layers;
	ret = kvt_config_new(&cfg);
	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(val, sizeof(val), "%llu", knobs[i].v);
		ret = kvt_config_set(cfg, knobs[i].key, val, err, sizeof(err));
	}
	if (!ret)
		ret = kvt_config_set(cfg, "kv_dtype", "bfloat16", err, sizeof(err));
	if (!ret) {
		/* a hair over M MiB so floor() in kvtier does not lose a slot */
		snprintf(val, sizeof(val), "%.12f", (double)o->capacity_mb / 1024.0 + 1e-12);
		ret = kvt_config_set(cfg, "max_local_cpu_size", val, err, sizeof(err));
	}
	if (ret) {
		fprintf(stderr, "kvtier-stress: config: %s\n", err);
		goto out_free;
	}
	ret = kvt_open(cfg, &s->kvt);
	if (ret) {
		fprintf(stderr, "kvtier-stress: kvt_open: %d (%s)\n", ret, kvt_strerror(ret));
		goto out_free;
	}
	s->chunk = kvt_chunk_bytes(s->kvt);
	if (s->chunk != (size_t)o->chunk_kb * 1024) {
		fprintf(stderr, "kvtier-stress: kvt_chunk_bytes() = %zu, wanted %u KiB\n", s->chunk,
			o->chunk_kb);
		kvt_close(s->kvt);
		s->kvt = NULL;
		ret = -EINVAL;
	}
out_free:
	kvt_config_free(cfg);
	return ret;
}

static int alloc_state(struct stress *s)
{
	size_t per = STRESS_MAX_BATCH * s->chunk;

	s->next_version = calloc(s->nkeys, sizeof(*s->next_version));
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
		if (!w->put_buf || !w->get_buf || !w->pf_buf)
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
	}
	free(s->w);
	free((void *)s->pin_finished);
	free((void *)s->pin_started);
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

	kvt_stats(s->kvt, &st);
	fprintf(stderr, "kvtier-stress: %5.1fs ops %" PRIu64 " (%.0f/s) entries %" PRIu64
		"/%" PRIu64 " pinned %" PRIu64 " borrows %" PRIu64 " corrupt %" PRIu64
		" failed %" PRIu64 "\n", (double)(now - start_ns) / 1e9, ops,
		(double)(ops - *last_ops) * 1e9 / (double)(now - *last_ns), st.l1_entries,
		st.l1_slots, st.pinned_entries, st.borrows_active,
		atomic_load_explicit(&s->corruptions, memory_order_relaxed),
		atomic_load_explicit(&s->failures, memory_order_relaxed));
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
 * at the deadline and join.  Return: the run time in ns, or 0 if a worker
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
	while (!ret && tool_now_ns() < deadline) {
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
				fprintf(stderr, "kvtier-stress: FAIL thread %u stuck in %s for %d s\n",
					i, stress_op_names[op], JOIN_GRACE_S);
		}
		fflush(NULL);
		_exit(1);
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(s->w[i].thread, NULL);
	return ret ? 0 : end - start;
}

/* ---- end-of-run checks ---- */

struct checks {
	unsigned int run, failed;
	bool verbose;
};

static void check(struct checks *c, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(struct checks *c, bool ok, const char *fmt, ...)
{
	va_list ap;

	c->run++;
	if (ok && !c->verbose)
		return;
	c->failed += !ok;
	printf("check %-4s ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static struct worker_acct total_acct(struct stress *s)
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
		t.commits += a->commits;
		t.removes += a->removes;
		t.remove_refused += a->remove_refused;
		t.prefetch_posted += a->prefetch_posted;
		t.prefetch_failed += a->prefetch_failed;
		t.pins_lost += a->pins_lost;
		t.cross_removes += a->cross_removes;
	}
	return t;
}

/* Read back every key: what is stored must verify, and match l1_entries. */
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

static void accounting(struct stress *s, struct checks *c, const struct kvt_stats *st)
{
	struct worker_acct a = total_acct(s);
	uint64_t bound = atomic_load_explicit(&s->removed_pin_bound, memory_order_relaxed);

	check(c, st->borrows_active == 0, "borrows_active %" PRIu64 " == 0", st->borrows_active);
	check(c, st->pinned_entries == 0, "pinned_entries %" PRIu64 " == 0 (every pin unpinned)",
	      st->pinned_entries);
	check(c, st->l1_entries + st->l1_free_slots == st->l1_slots,
	      "l1_entries %" PRIu64 " + l1_free_slots %" PRIu64 " == l1_slots %" PRIu64
	      " (no lost slot)", st->l1_entries, st->l1_free_slots, st->l1_slots);
	check(c, st->pins == a.pins, "stats.pins %" PRIu64 " == pins taken %" PRIu64, st->pins,
	      a.pins);
	check(c, st->unpins == a.unpins, "stats.unpins %" PRIu64 " == kvt_unpin() total %" PRIu64,
	      st->unpins, a.unpins);
	check(c, st->unpins + st->unpin_underflows == a.unpin_keys,
	      "unpins %" PRIu64 " + unpin_underflows %" PRIu64 " == keys unpinned %" PRIu64,
	      st->unpins, st->unpin_underflows, a.unpin_keys);
	/* a pin vanishes only when the pin-monitor drops it or a forced remove
	 * kills its entry; each vanished pin makes exactly one unpin underflow */
	check(c, st->unpin_underflows >= st->pin_force_releases &&
		 st->unpin_underflows - st->pin_force_releases <= bound,
	      "unpin_underflows %" PRIu64 " - pin_force_releases %" PRIu64
	      " in [0, %" PRIu64 "] (pins forced removes may drop)", st->unpin_underflows,
	      st->pin_force_releases, bound);
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
	check(c, st->removes == a.removes, "stats.removes %" PRIu64 " == removed %" PRIu64,
	      st->removes, a.removes);
	check(c, st->remove_refused == a.remove_refused,
	      "remove_refused %" PRIu64 " == -EBUSY results %" PRIu64, st->remove_refused,
	      a.remove_refused);
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
}

/* ---- report ---- */

static void report(struct stress *s, uint64_t run_ns, const struct kvt_stats *st,
		   const struct checks *c, bool pass)
{
	double secs = (double)run_ns / 1e9;
	uint64_t tot[5] = { 0 };
	struct worker_acct a = total_acct(s);

	printf("\n%-10s %12s %12s %12s %12s %10s %8s\n", "op", "calls", "calls/s", "keys",
	       "hits", "pressure", "errors");
	for (int k = 0; k < OP_N; k++) {
		uint64_t v[5] = { 0 };

		for (unsigned int i = 0; i < s->o.threads; i++) {
			struct op_stats *o = &s->w[i].op[k];

			v[0] += atomic_load_explicit(&o->ops, memory_order_relaxed);
			v[1] += atomic_load_explicit(&o->keys, memory_order_relaxed);
			v[2] += atomic_load_explicit(&o->hits, memory_order_relaxed);
			v[3] += atomic_load_explicit(&o->pressure, memory_order_relaxed);
			v[4] += atomic_load_explicit(&o->errors, memory_order_relaxed);
		}
		for (int j = 0; j < 5; j++)
			tot[j] += v[j];
		printf("%-10s %12" PRIu64 " %12.0f %12" PRIu64 " %12" PRIu64 " %10" PRIu64
		       " %8" PRIu64 "\n", stress_op_names[k], v[0], (double)v[0] / secs, v[1], v[2],
		       v[3], v[4]);
	}
	printf("%-10s %12" PRIu64 " %12.0f %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %8" PRIu64
	       "\n", "total", tot[0], (double)tot[0] / secs, tot[1], tot[2], tot[3], tot[4]);
	printf("\nl1: %" PRIu64 " slots, %" PRIu64 " evictions, %" PRIu64 " removes (%" PRIu64
	       " of borrowed keys), %" PRIu64 " pins, %" PRIu64 " unpin underflows, %" PRIu64
	       " pins released by the monitor, %" PRIu64 " pins lost to forced removes or the ttl\n",
	       st->l1_slots, st->l1_evictions, st->removes, a.cross_removes, st->pins,
	       st->unpin_underflows, st->pin_force_releases, a.pins_lost);
	printf("mailboxes: %" PRIu64 " full waits, %" PRIu64 " timeouts\n",
	       st->mailbox_full_waits, st->mailbox_timeouts);
	printf("checks: %u run, %u failed\n", c->run, c->failed);
	printf("kvtier-stress: %s: %u threads, %.1f s, %.0f ops/s, corruptions %" PRIu64
	       ", errors %" PRIu64 ", expected pressure %" PRIu64 "\n", pass ? "PASS" : "FAIL",
	       s->o.threads, secs, (double)tot[0] / secs,
	       atomic_load_explicit(&s->corruptions, memory_order_relaxed),
	       atomic_load_explicit(&s->failures, memory_order_relaxed), tot[3]);
	if (!s->o.json)
		return;
	printf("{\"tool\":\"kvtier-stress\",\"tier\":\"l1\",\"threads\":%u,\"seconds\":%.3f,"
	       "\"keys\":%u,\"capacity_mb\":%u,\"chunk_bytes\":%zu,\"l1_slots\":%" PRIu64
	       ",\"pin_ttl_ms\":%u,\"seed\":%" PRIu64 ",\"ops\":%" PRIu64 ",\"ops_per_s\":%.1f,"
	       "\"per_op\":{", s->o.threads, secs, s->nkeys, s->o.capacity_mb, s->chunk,
	       st->l1_slots, s->o.pin_ttl_ms, s->o.seed, tot[0], (double)tot[0] / secs);
	for (int k = 0; k < OP_N; k++) {
		uint64_t n = 0, p = 0;

		for (unsigned int i = 0; i < s->o.threads; i++) {
			n += atomic_load_explicit(&s->w[i].op[k].ops, memory_order_relaxed);
			p += atomic_load_explicit(&s->w[i].op[k].pressure, memory_order_relaxed);
		}
		printf("%s\"%s\":{\"calls\":%" PRIu64 ",\"per_s\":%.1f,\"pressure\":%" PRIu64 "}",
		       k ? "," : "", stress_op_names[k], n, (double)n / secs, p);
	}
	printf("},\"corruptions\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"pressure\":%" PRIu64
	       ",\"checks\":%u,\"checks_failed\":%u,\"evictions\":%" PRIu64
	       ",\"unpin_underflows\":%" PRIu64 ",\"pin_force_releases\":%" PRIu64
	       ",\"result\":\"%s\"}\n",
	       atomic_load_explicit(&s->corruptions, memory_order_relaxed),
	       atomic_load_explicit(&s->failures, memory_order_relaxed), tot[3], c->run,
	       c->failed, st->l1_evictions, st->unpin_underflows, st->pin_force_releases,
	       pass ? "PASS" : "FAIL");
}

static void on_alarm(int sig)
{
	static const char msg[] = "kvtier-stress: FAIL: the run did not finish in time "
				  "(hang in kvt_flush or kvt_close?)\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

int main(int argc, char **argv)
{
	struct stress s = { 0 };
	struct checks c = { 0 };
	struct kvt_stats st;
	long fds_before, tasks_before, fds_after, tasks_after;
	uint64_t run_ns, found, deadline;
	bool pass;
	int ret;

	if (parse_opts(argc, argv, &s.o))
		return EXIT_USAGE;
	c.verbose = s.o.verbose;
	signal(SIGALRM, on_alarm);
	alarm(s.o.seconds + JOIN_GRACE_S + CLOSE_GRACE_S);
	warm_runtime();
	fds_before = count_dir("/proc/self/fd");
	tasks_before = count_dir("/proc/self/task");
	ret = open_instance(&s);
	if (ret)
		return 1;
	kvt_stats(s.kvt, &st);
	s.nkeys = (uint32_t)(s.o.keys ? s.o.keys : 4 * st.l1_slots);
	if (s.nkeys < 2)
		s.nkeys = 2;
	if (alloc_state(&s)) {
		fprintf(stderr, "kvtier-stress: out of memory\n");
		return 1;
	}
	printf("kvtier-stress: tier l1, %u threads, %u s, %u keys, %" PRIu64 " slots of %zu bytes"
	       " (%u MiB), pin_ttl_ms %u, seed %" PRIu64 "\n", s.o.threads, s.o.seconds, s.nkeys,
	       st.l1_slots, s.chunk, s.o.capacity_mb, s.o.pin_ttl_ms, s.o.seed);
	fflush(stdout);

	run_ns = run_workers(&s);
	check(&c, run_ns != 0, "all %u workers started", s.o.threads);
	if (!run_ns)
		run_ns = 1;

	/* quiet now: every op has returned, every lease and pin was given back */
	ret = kvt_flush(s.kvt);
	check(&c, ret == 0, "kvt_flush() = %d after the run", ret);
	stress_drain_event_fd(&s);
	kvt_stats(s.kvt, &st);
	accounting(&s, &c, &st);
	found = sweep(&s, &c);
	check(&c, found == st.l1_entries, "final sweep found %" PRIu64 " keys == l1_entries %"
	      PRIu64, found, st.l1_entries);
	fflush(stdout);
	if (st.borrows_active) {
		/* kvt_close() waits for every lease: it would never return */
		check(&c, false, "kvt_close() skipped: kvtier still counts %" PRIu64
		      " leases that every worker released", st.borrows_active);
		goto report;
	}
	ret = kvt_close(s.kvt);
	check(&c, ret == 0, "kvt_close() = %d", ret);

	/* exiting threads may take a moment to leave /proc/self/task */
	deadline = tool_now_ns() + 1000000000ull;
	for (;;) {
		fds_after = count_dir("/proc/self/fd");
		tasks_after = count_dir("/proc/self/task");
		if ((fds_after == fds_before && tasks_after == tasks_before) ||
		    tool_now_ns() >= deadline)
			break;
		usleep(10000);
	}
	check(&c, fds_after == fds_before, "open fds %ld after kvt_close == %ld before kvt_open",
	      fds_after, fds_before);
	check(&c, tasks_after == tasks_before, "threads %ld after kvt_close == %ld before kvt_open",
	      tasks_after, tasks_before);
report:
	alarm(0);

	pass = c.failed == 0 && atomic_load_explicit(&s.corruptions, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&s.failures, memory_order_relaxed) == 0;
	report(&s, run_ns, &st, &c, pass);
	free_state(&s);
	/* before the sanitizers' exit-time reports, which end with _exit() */
	fflush(stdout);
	return pass ? 0 : 1;
}
