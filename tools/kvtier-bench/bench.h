/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/bench.h - what the kvtier-bench workloads share:
 * the workload table, latency samples, the one JSON line, the messages for
 * a bad command line, gnuplot and kvt_config_set() (number options and the
 * PRNG come from tools/common).
 *
 * Every workload has one entry point, `int <name>_main(int argc, char **argv)`,
 * in <name>.c and listed in main.c (a workload split over several files
 * declares what they share in <name>_bench.h).  It prints its inputs, a
 * human table and, with --json, one JSON object as the last line of stdout;
 * progress goes to stderr.  It returns one of the BENCH_EXIT_* codes.
 *
 * Threads: the JSON helpers run on the main thread; a struct
 * lat_samples belongs to the one thread that fills it.
 */
#ifndef KVT_TOOLS_BENCH_H
#define KVT_TOOLS_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/common/opts.h"
#include "tools/common/prng.h"

#define BENCH_EXIT_OK 0
#define BENCH_EXIT_FAIL 1  /* a kvt_ call or a system call failed */
#define BENCH_EXIT_USAGE 2 /* bad command line */

struct bench_workload {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
};

int lookup_main(int argc, char **argv);
int restore_main(int argc, char **argv);
int docqa_main(int argc, char **argv);
int disk_main(int argc, char **argv);
int resp_main(int argc, char **argv);
int pool_main(int argc, char **argv);
int cold_main(int argc, char **argv);
int recovery_main(int argc, char **argv);
int restart_main(int argc, char **argv);
int gpu_main(int argc, char **argv);

/* restore.c: the chunk sizes `restore` sweeps, and one batched kvt_get()
 * measurement of shape @shape_idx (< restore_sweep_shapes()) with 1 and 2
 * restore workers over @gib of chunks for @seconds each, for plots.
 * Return: 0 with *@chunk_bytes and @gbps[0..1] set, or a negative code. */
size_t restore_sweep_shapes(void);
/* restore_curve.c: `restore --curve` (restore GB/s and its bound against
 * workers 1..@max_workers and chunk sizes 256 KiB-64 MiB).  Return: 0 or a
 * negative code. */
#define RESTORE_CURVE_WORKERS_MAX 16
int restore_curve(double gib, double seconds, unsigned int max_workers, bool json,
		  const char *plot);
int restore_sweep_point(size_t shape_idx, double gib, double seconds, size_t *chunk_bytes,
			double gbps[2]);

/*
 * Latency samples of one thread, in nanoseconds.  The array is allocated and
 * touched by lat_init(), so lat_add() never allocates or faults a page in;
 * past @cap samples it keeps a uniform reservoir (algorithm R) of them.
 */
struct lat_samples {
	uint32_t *ns;
	uint64_t cap;
	uint64_t n;    /* samples held, <= cap */
	uint64_t seen; /* samples offered */
	uint64_t rng;
};

/* lat_init() - room for @cap samples.  Allocates.  Return: 0 or -ENOMEM. */
int lat_init(struct lat_samples *s, uint64_t cap, uint64_t seed);
void lat_free(struct lat_samples *s);

/* lat_add() - record one sample.  Never allocates. */
static inline void lat_add(struct lat_samples *s, uint64_t ns)
{
	uint32_t v = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;

	if (s->n < s->cap) {
		s->ns[s->n++] = v;
	} else {
		uint64_t j = prng_below(&s->rng, s->seen + 1);

		if (j < s->cap)
			s->ns[j] = v;
	}
	s->seen++;
}

/**
 * lat_quantiles() - quantiles of the union of @nsets sample sets.
 * @q:      @nq quantiles in [0, 1].
 * @out_us: receives @nq values in microseconds (0 when there is no sample).
 *
 * Allocates a merged copy.  Return: 0 or -ENOMEM.
 */
int lat_quantiles(const struct lat_samples *sets, size_t nsets, const double *q,
		  double *out_us, size_t nq);

/*
 * One JSON object, built in a fixed buffer and printed as one line.  Keys are
 * the caller's literals (never escaped); string values are escaped.  A value
 * that is not finite is written as null.
 */
struct json_line {
	char buf[16384];
	size_t len;
	bool overflow;
};

void json_begin(struct json_line *j);
void json_str(struct json_line *j, const char *key, const char *val);
void json_u64(struct json_line *j, const char *key, uint64_t val);
void json_num(struct json_line *j, const char *key, double val, int decimals);
void json_bool(struct json_line *j, const char *key, bool val);
/* json_raw() - append @text as is (a "key":[ opening, an object, a closing
 * bracket); with @key, a "," first unless the object is still empty. */
void json_raw(struct json_line *j, const char *text, bool key);
/* json_end() - close the object and print it with a newline to stdout.
 * Return: 0, or -ENOSPC when the object did not fit (nothing printed). */
int json_end(struct json_line *j);

/* bench_median() - the median of @n values (sorts @v); 0 when @n is 0. */
double bench_median(double *v, size_t n);

/* bench_loadavg() - the 1-minute load average (other work on the machine
 * skews every figure), or -1 when /proc/loadavg cannot be read. */
double bench_loadavg(void);

/* bench_ratio() - @a / @b, or NaN when @b is not positive (JSON null). */
double bench_ratio(double a, double b);

/* ---- command line, plots, configuration (report.c) ---------------------- */

/*
 * What a workload's option parser prints for a bad command line, on stderr
 * as `kvtier-bench WORKLOAD: ... (see --help)`: each returns BENCH_EXIT_USAGE
 * when the command line is bad.
 */

/* bench_opt_refused() - getopt_long() (with an optstring that starts with
 * ':') returned @c for argv[optind - 1]: ':' a missing value, else unknown. */
int bench_opt_refused(const char *workload, int c, char **argv);
/* bench_opt_leftover() - after the options: 0 when no argument is left. */
int bench_opt_leftover(const char *workload, int argc, char **argv);
/* bench_plot_file() - 0 when @file can be --plot's (gnuplot gets it in
 * single quotes, so it holds none), else BENCH_EXIT_USAGE. */
int bench_plot_file(const char *workload, const char *file);

/* bench_plot_open() - a gnuplot set to draw an SVG into @file; the caller
 * writes the rest of the script.  Return: its stdin, or NULL (printed, errno
 * set). */
FILE *bench_plot_open(const char *file);
/* bench_plot_close() - run the script.  Return: 0 (the file is named on
 * stdout), or -EIO (printed). */
int bench_plot_close(FILE *g, const char *file);

struct kvt_config;

/* bench_config_set() - kvt_config_set() with its error message printed.
 * Return: 0 or a negative kvtier code. */
int bench_config_set(struct kvt_config *cfg, const char *key, const char *val);

/* ---- threads (threads.c) ------------------------------------------------ */

/*
 * A start gate: each worker thread reports ready and waits; the main thread
 * waits until all are ready (so per-thread setup stays out of the timed
 * window), then opens the gate for all at once, or aborts them when a later
 * thread could not be created.
 */
struct bench_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned int ready;
	int state; /* 0 closed, 1 go, -1 abort */
};

#define BENCH_GATE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 }

/* bench_gate_pass() - worker: report ready, wait.  Return: 1 go, -1 abort. */
int bench_gate_pass(struct bench_gate *g);
/* bench_gate_wait_ready() - main: wait until @n workers are ready. */
void bench_gate_wait_ready(struct bench_gate *g, unsigned int n);
/* bench_gate_open() - main: release every worker with @state (1 or -1). */
void bench_gate_open(struct bench_gate *g, int state);

/* bench_allowed_cpus() - up to @max CPUs this process may run on, in order.
 * Return: how many were written to @cpus (0 when unknown). */
int bench_allowed_cpus(int *cpus, int max);
/* bench_pin_self() - pin the calling thread to @cpu; a failure is printed
 * and otherwise ignored (the figures are then unpinned ones). */
void bench_pin_self(int cpu);

/* CPU time of the calling thread, and of the whole process, in ns. */
uint64_t bench_thread_cpu_ns(void);
uint64_t bench_process_cpu_ns(void);
/* bench_system_busy_ns() - CPU time every process on the machine used, plus
 * time the hypervisor stole, from /proc/stat (10 ms ticks); 0 if unknown.
 * Less this process's time over a run, it is the interference. */
uint64_t bench_system_busy_ns(void);

/* bench_sleep_until() - sleep to an absolute tool_now_ns() time. */
void bench_sleep_until(uint64_t ns);

#endif /* KVT_TOOLS_BENCH_H */
