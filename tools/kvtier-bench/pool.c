/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/pool.c - `kvtier-bench pool`: ops/s and latency of the
 * Maru metadata RPC (reference maru.md §2) as engine processes use it:
 * single lookups, batch-100 lookups, batch pin (prefix-stop) then unpin,
 * and batch-100 registers of fresh keys, from 1, 4 and 16 clients.
 *
 * By default it starts kvtier-poold from its own build folder on a free
 * loopback port (a /dev/shm pool, a temp resource-manager socket) and
 * stops it with SIGTERM at the end, checking it exits 0.  With --server it
 * drives any server that speaks the protocol, using only what Maru's own
 * server offers: each client REQUEST_ALLOCs a region, client 0 registers
 * --keys keys into its region, and the phases run against those.  Keys are
 * named after a per-run tag, so runs never collide; they stay registered
 * afterwards (the protocol has no batch delete), the regions are returned.
 *
 * A client is a thread with its own DEALER socket (Maru's async client
 * shape: an empty delimiter frame, replies matched by sequence number) and
 * one request in flight, so latency is request to reply.  Every reply is
 * checked: a lookup must hit with the handle, kv_offset and kv_length the
 * key was registered with, a pin must stop at the first miss, an unpin and
 * a register must succeed.  Any mismatch is counted, reported and makes
 * the exit status 1.
 *
 * The goal (issue #7) is ten times what Maru's Python server does on this
 * machine with its own clients: batch-100 lookups >= 1M keys/s and a single
 * lookup p99 <= 100 us, both with 4 clients.  The limit this machine sets
 * is measured in the same run: after each client count's phases, the same
 * clients send the same lookups to a transport floor (pool_floor.h), a
 * ROUTER in this process that answers each request at once with a reply as
 * long as the server's; the report gives the server's share of it.
 *
 * Threads: main (setup, phases, report); one worker per client in a phase.
 * A client's socket is used by one thread at a time; pthread_create() and
 * pthread_join() order the hand-overs, as ZeroMQ requires.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include "proto/maru/maru_mp.h"
#include "proto/maru/maru_rpc.h"
#include "tools/common/port.h"
#include "tools/common/progress.h"
#include "tools/kvtier-bench/bench.h"
#include "tools/kvtier-bench/pool_floor.h"

#include "tools/kvtier-bench/pool_bench.h"

static const int counts[NCOUNTS] = { 1, 4, 16 };
/* A phase's rows.  The pin phase alternates a batch pin and the unpin of
 * what it pinned, and times each apart: each row's ops/s counts its own
 * requests over the phase's whole time. */
static const char *const op_names[NPHASES][2] = {
	{ "lookup", NULL }, { "batch_lookup", NULL }, { "batch_pin", "batch_unpin" },
	{ "batch_register", NULL },
};
static const char *const maru_names[NPHASES][2] = {
	{ "maru_lookup", NULL }, { "maru_batch_lookup", NULL },
	{ "maru_batch_pin", "maru_batch_unpin" }, { "maru_batch_register", NULL },
};
static const char *const floor_names[NFLOOR] = { "floor_lookup", "floor_batch_lookup" };

/* ---- the workers --------------------------------------------------------- */

static void mismatch(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mismatch(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->errors++) {
		va_start(ap, fmt);
		vsnprintf(w->why, sizeof(w->why), fmt, ap);
		va_end(ap);
	}
}

/* Sends the request built in w->c and records its latency under row @k. */
static int timed(struct worker *w, int k, uint8_t type, uint32_t nkeys, struct mp_cur *m)
{
	uint64_t t0 = tool_now_ns();
	int ret = rpc(w->c, type, m);

	if (ret)
		return ret;
	lat_add(&w->lat[k], tool_now_ns() - t0);
	if (mp_left(m) > w->reply_len)
		w->reply_len = (uint32_t)mp_left(m);
	w->ops[k]++;
	w->keys[k] += nkeys;
	return 0;
}

static int op_lookup(struct worker *w)
{
	struct client *c = w->c;
	uint64_t i = prng_below(&w->rng, w->r->nkeys);
	struct mp_cur m;
	const char *why;
	int ret;

	req_begin(c);
	msgpack_pack_map(&c->pk, 1);
	maru_pack_cstr(&c->pk, "key");
	pack_populated(c, w->r, i);
	ret = timed(w, 0, MARU_LOOKUP_KV, 1, &m);
	if (ret || w->floor)
		return ret;
	ret = reply_fields(c, m, NULL, 0, NULL);
	if (ret < 0)
		return ret;
	why = check_entry(&m, w->r, i);
	if (why == entry_malformed)
		return fail(c, "lookup: malformed reply");
	if (why)
		mismatch(w, "lookup of populated key %llu: %s", (unsigned long long)i, why);
	return 0;
}

static int op_batch_lookup(struct worker *w)
{
	struct client *c = w->c;
	uint64_t idx[BATCH];
	struct mp_cur m, arr;
	const char *why;
	int ret;

	req_begin(c);
	msgpack_pack_map(&c->pk, 1);
	maru_pack_cstr(&c->pk, "keys");
	msgpack_pack_array(&c->pk, BATCH);
	for (int i = 0; i < BATCH; i++) {
		idx[i] = prng_below(&w->rng, w->r->nkeys);
		pack_populated(c, w->r, idx[i]);
	}
	ret = timed(w, 0, MARU_BATCH_LOOKUP_KV, BATCH, &m);
	if (ret || w->floor)
		return ret;
	ret = reply_array(c, m, "entries", BATCH, &arr);
	for (int i = 0; !ret && i < BATCH; i++) {
		why = check_entry(&arr, w->r, idx[i]);
		if (why == entry_malformed)
			ret = fail(c, "batch lookup: malformed entries");
		else if (why)
			mismatch(w, "batch lookup of populated key %llu: %s",
				 (unsigned long long)idx[i], why);
	}
	return ret;
}

/*
 * Pins @hit present keys, one never-registered key, then more present keys
 * (the prefix-stop rule must leave those unpinned), as an engine pins the
 * cached prefix of a request; then unpins the @hit it pinned.
 */
static int op_pin(struct worker *w)
{
	struct client *c = w->c;
	const struct run *r = w->r;
	uint64_t s = prng_below(&w->rng, r->nkeys);
	uint32_t hit = 1 + (uint32_t)prng_below(&w->rng, BATCH);
	char missing[KEY_MAX];
	struct mp_cur m, arr;
	int ret;

	key_name(missing, r->tag, 'm', w->idx, prng_next(&w->rng));
	req_begin(c);
	msgpack_pack_map(&c->pk, 1);
	maru_pack_cstr(&c->pk, "keys");
	msgpack_pack_array(&c->pk, BATCH);
	for (uint32_t i = 0; i < BATCH; i++)
		if (i == hit)
			pack_key(c, missing);
		else
			pack_populated(c, r, (s + i) % r->nkeys);
	ret = timed(w, 0, MARU_BATCH_PIN_KV, BATCH, &m);
	if (!ret)
		ret = reply_array(c, m, "results", BATCH, &arr);
	for (uint32_t i = 0; !ret && i < BATCH; i++) {
		if (read_true(arr) != (i < hit))
			mismatch(w, "batch pin: key %u (first miss at %u) %s", i, hit,
				 i < hit ? "not pinned" : "pinned past the miss");
		if (mp_skip(&arr))
			ret = fail(c, "batch pin: malformed results");
	}
	if (ret)
		return ret;
	req_begin(c);
	msgpack_pack_map(&c->pk, 1);
	maru_pack_cstr(&c->pk, "keys");
	msgpack_pack_array(&c->pk, hit);
	for (uint32_t i = 0; i < hit; i++)
		pack_populated(c, r, (s + i) % r->nkeys);
	ret = timed(w, 1, MARU_BATCH_UNPIN_KV, hit, &m);
	if (!ret)
		ret = reply_array(c, m, "results", hit, &arr);
	for (uint32_t i = 0; !ret && i < hit; i++) {
		if (!read_true(arr))
			mismatch(w, "batch unpin: key %u of %u not unpinned", i, hit);
		if (mp_skip(&arr))
			ret = fail(c, "batch unpin: malformed results");
	}
	return ret;
}

static int op_register(struct worker *w)
{
	uint64_t t0 = tool_now_ns();
	int ret = do_register(w->c, w->r, 'c', w->idx, w->c->fresh, BATCH);

	if (ret < 0)
		return ret;
	lat_add(&w->lat[0], tool_now_ns() - t0);
	w->ops[0]++;
	w->keys[0] += BATCH;
	w->c->fresh += BATCH;
	if (ret)
		mismatch(w, "batch register: a fresh key of client %u was not new", w->idx);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (bench_gate_pass(w->gate) < 0)
		return NULL;
	while (!w->ret && tool_now_ns() < w->r->deadline) {
		switch (w->ph) {
		case PH_LOOKUP: w->ret = op_lookup(w); break;
		case PH_BATCH_LOOKUP: w->ret = op_batch_lookup(w); break;
		case PH_PIN: w->ret = op_pin(w); break;
		default: w->ret = op_register(w); break;
		}
	}
	w->end_ns = tool_now_ns();
	return NULL;
}

/*
 * One phase: @n clients run @ph for @seconds; appends its rows.  @floor:
 * the clients @cl talk to the transport floor (a lookup phase only).
 * Mismatches are added to *@errors.  Return: 0, or a negative code when a
 * thread could not start or an RPC failed (the run stops: that socket is
 * out of step).
 */
static int run_phase(struct client *cl, struct run *r, enum phase ph, bool floor, int n,
		     double seconds, struct row *rows, int *nrows, uint64_t *errors)
{
	static const double q[2] = { 0.5, 0.99 };
	struct bench_gate gate = BENCH_GATE_INIT;
	struct lat_samples sets[MAX_CLIENTS];
	struct worker w[MAX_CLIENTS];
	pthread_t th[MAX_CLIENTS];
	int nk = op_names[ph][1] ? 2 : 1, started = 0, ret = 0;
	uint64_t t0, cpu0, cpu, end = 0, all_ops = 0;

	memset(w, 0, sizeof(w));
	for (int i = 0; i < n && !ret; i++) {
		w[i] = (struct worker){ .c = &cl[i], .r = r, .gate = &gate, .ph = ph,
					.floor = floor, .idx = (unsigned)i };
		w[i].rng = prng_mix64((uint64_t)ph << 40 | (uint64_t)n << 20 | (uint64_t)i) | 1;
		for (int k = 0; k < nk && !ret; k++)
			ret = lat_init(&w[i].lat[k], LAT_CAP, w[i].rng + (uint64_t)k);
	}
	for (; !ret && started < n; started++)
		if (pthread_create(&th[started], NULL, worker_main, &w[started]))
			ret = -EAGAIN;
	bench_gate_wait_ready(&gate, (unsigned)started);
	cpu0 = floor ? 0 : srv_cpu_ns(r->srv);
	t0 = tool_now_ns();
	r->deadline = t0 + (uint64_t)(seconds * 1e9);
	bench_gate_open(&gate, ret ? -1 : 1);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	cpu = cpu0 ? srv_cpu_ns(r->srv) - cpu0 : 0;
	if (ret)
		fprintf(stderr, "kvtier-bench: pool: %s\n",
			ret == -ENOMEM ? "out of memory" : "pthread_create failed");
	for (int i = 0; i < n && !ret; i++) {
		end = w[i].end_ns > end ? w[i].end_ns : end;
		*errors += w[i].errors;
		if (w[i].errors)
			fprintf(stderr, "kvtier-bench: pool: client %d: %llu wrong replies; first: %s\n",
				i, (unsigned long long)w[i].errors, w[i].why);
		if (w[i].ret)
			fprintf(stderr, "kvtier-bench: pool: client %d: %s\n", i, cl[i].why);
		if (!floor && w[i].reply_len > r->reply_len[ph])
			r->reply_len[ph] = w[i].reply_len;
	}
	for (int k = 0; k < nk && !ret; k++) {
		struct row *row = &rows[(*nrows)++];
		double us[2], secs = (double)(end - t0) / 1e9;

		*row = (struct row){ .op = floor ? floor_names[ph] : r->names[ph][k], .clients = n };
		for (int i = 0; i < n; i++) {
			sets[i] = w[i].lat[k];
			row->ops += w[i].ops[k];
			row->keys_s += (double)w[i].keys[k];
		}
		ret = lat_quantiles(sets, (size_t)n, q, us, 2);
		row->ops_s = (double)row->ops / secs;
		row->keys_s /= secs;
		row->p50 = us[0];
		row->p99 = us[1];
		all_ops += row->ops;
	}
	/* a pin phase's two rows share the daemon's time, so each gets it per
	 * request of either kind */
	for (int k = 0; k < nk && !ret; k++) {
		struct row *row = &rows[*nrows - nk + k];

		row->srv_cpu_us = cpu && all_ops ? (double)cpu / 1e3 / (double)all_ops : NAN;
		fprintf(stderr, "pool: %-19s x%-2d %9.0f ops/s %10.0f keys/s  p50 %7.1f  p99 %7.1f us"
			"  server %.1f us CPU/op\n", row->op, n, row->ops_s, row->keys_s, row->p50,
			row->p99, row->srv_cpu_us);
	}
	for (int i = 0; i < n && !ret; i++)
		if (w[i].ret)
			ret = w[i].ret;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 2; k++)
			lat_free(&w[i].lat[k]);
	return ret;
}

/* ---- setup, report ------------------------------------------------------- */

/* Waits up to 20 s for the server at @addr to answer a HEARTBEAT (a fresh
 * socket each try: one that timed out may still get the late reply). */
static int wait_ready(void *zctx, const char *addr, struct srv *s)
{
	for (int i = 0; i < 100; i++) {
		struct client probe;
		int ret = client_open(&probe, zctx, addr, 200);

		if (!ret)
			ret = do_heartbeat(&probe);
		client_close(&probe);
		if (!ret)
			return 0;
		if (s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			fprintf(stderr, "kvtier-bench: pool: %s exited at start\n", s->name);
			srv_print_log(s);
			return -1;
		}
	}
	fprintf(stderr, "kvtier-bench: pool: %s does not answer\n", addr);
	if (s->pid > 0)
		srv_print_log(s);
	return -1;
}

/* Client 0 registers every key of the run into its region. */
static int populate(struct client *c, const struct run *r)
{
	struct progress p;
	int ret = 0;

	progress_start(&p, "pool: registering keys", r->nkeys);
	for (uint64_t i = 0; !ret && i < r->nkeys; i += FILL_BATCH) {
		uint32_t n = r->nkeys - i < FILL_BATCH ? (uint32_t)(r->nkeys - i) : FILL_BATCH;

		ret = do_register(c, r, 'p', 0, i, n);
		progress_update(&p, i + n);
	}
	progress_end(&p);
	if (ret > 0)
		ret = fail(c, "a populated key was already registered");
	return ret;
}

static const struct row *find_row(const struct row *rows, int n, const char *op, int clients)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(rows[i].op, op) && rows[i].clients == clients)
			return &rows[i];
	return NULL;
}

/*
 * With Maru's server in the run: its figures next to kvtier-poold's for
 * every op and client count, as x = how many times better kvtier-poold is
 * (keys/s ours over theirs, p99 and server CPU per request theirs over
 * ours; the CPU figure is the one other processes on the machine move least).
 */
static void report_maru(const struct row *rows, int nrows, struct json_line *j, bool json)
{
	const struct row *bl = find_row(rows, nrows, "batch_lookup", 4);
	const struct row *mbl = find_row(rows, nrows, "maru_batch_lookup", 4);
	const struct row *sl = find_row(rows, nrows, "lookup", 4);
	const struct row *msl = find_row(rows, nrows, "maru_lookup", 4);
	double bx = bl && mbl ? bench_ratio(bl->keys_s, mbl->keys_s) : NAN;
	double px = sl && msl ? bench_ratio(msl->p99, sl->p99) : NAN;
	double cx = bl && mbl ? bench_ratio(mbl->srv_cpu_us, bl->srv_cpu_us) : NAN;
	char obj[192];
	bool first = true;

	printf("Maru's own server in the same run, 4 clients:\n"
	       "  batch-100 lookup %.0f keys/s: kvtier-poold does %.2fx (goal >= %.0fx: %s)\n"
	       "  batch-100 lookup server CPU per request: Maru's over kvtier-poold's %.2fx\n"
	       "  single lookup p99 %.1f us: Maru's over kvtier-poold's %.2fx\n",
	       mbl ? mbl->keys_s : NAN, bx, GOAL_OVER_MARU, bx >= GOAL_OVER_MARU ? "met" : "NOT met",
	       cx, msl ? msl->p99 : NAN, px);
	printf("%-19s %7s %12s %10s %10s\n", "kvtier-poold x maru", "clients", "keys/s x", "p99 x",
	       "CPU/op x");
	if (json) {
		json_num(j, "maru_batch_lookup_keys_per_s_4", mbl ? mbl->keys_s : NAN, 0);
		json_num(j, "maru_single_lookup_p99_us_4", msl ? msl->p99 : NAN, 1);
		json_num(j, "batch_lookup_x_maru_4", bx, 3);
		json_num(j, "single_lookup_p99_x_maru_4", px, 3);
		json_num(j, "batch_lookup_srv_cpu_x_maru_4", cx, 3);
		json_num(j, "goal_batch_lookup_x_maru", GOAL_OVER_MARU, 0);
		json_bool(j, "goal_x_maru_met", bx >= GOAL_OVER_MARU);
		json_raw(j, "\"x_maru\":[", true);
	}
	for (int i = 0; i < nrows; i++) {
		char name[48];
		const struct row *o = &rows[i], *t;

		snprintf(name, sizeof(name), "maru_%s", o->op);
		t = strncmp(o->op, "maru_", 5) && strncmp(o->op, "floor_", 6) ?
		    find_row(rows, nrows, name, o->clients) : NULL;
		if (!t)
			continue;
		printf("%-19s %7d %12.2f %10.2f %10.2f\n", o->op, o->clients,
		       bench_ratio(o->keys_s, t->keys_s), bench_ratio(t->p99, o->p99),
		       bench_ratio(t->srv_cpu_us, o->srv_cpu_us));
		if (!json)
			continue;
		snprintf(obj, sizeof(obj), "%s{\"op\":\"%s\",\"clients\":%d,\"keys_per_s_x\":%.3f,"
			 "\"p99_x\":%.3f,\"srv_cpu_x\":%.3f}", first ? "" : ",", o->op, o->clients,
			 bench_ratio(o->keys_s, t->keys_s), bench_ratio(t->p99, o->p99),
			 bench_ratio(t->srv_cpu_us, o->srv_cpu_us));
		json_raw(j, obj, false);
		first = false;
	}
	if (json)
		json_raw(j, "]", false);
}

/* The shared-index rows beside the RPC's single lookup of the same run. */
static void report_shidx(const struct row *rows, int nrows, struct json_line *j, bool json)
{
	const struct row *s1 = find_row(rows, nrows, "shidx_lookup", 1);
	const struct row *s4 = find_row(rows, nrows, "shidx_lookup", 4);
	const struct row *l1 = find_row(rows, nrows, "lookup", 1);
	const struct row *l4 = find_row(rows, nrows, "lookup", 4);
	double k1 = s1 ? s1->keys_s : NAN, k4 = s4 ? s4->keys_s / 4 : NAN;
	double p1 = s1 ? s1->p99 : NAN, p4 = s4 ? s4->p99 : NAN;
	double rk1 = l1 ? l1->keys_s : NAN, rp1 = l1 ? l1->p99 : NAN, rp4 = l4 ? l4->p99 : NAN;
	bool met = s1 && k1 >= GOAL_SHIDX_KEYS && p1 <= GOAL_SHIDX_P99_US;

	if (!json) {
		if (!s1)
			return;
		printf("shared index (lookups without an RPC, threads of this process; goal >= %.0f\n"
		       "keys/s per thread, p99 <= %.0f us):\n"
		       "  1 thread  %.0f keys/s (%.0f per CPU-second), p99 %.3f us: %.0fx the RPC's "
		       "single lookup keys/s, p99 %.0fx lower; %s\n"
		       "  4 threads %.0f keys/s per thread, p99 %.3f us (RPC single lookup p99 %.1f us)\n",
		       GOAL_SHIDX_KEYS, GOAL_SHIDX_P99_US, k1, s1->keys_cpu_s, p1, bench_ratio(k1, rk1),
		       bench_ratio(rp1, p1), met ? "met" : "NOT met", k4, p4, rp4);
		return;
	}
	json_num(j, "goal_shidx_keys_per_s_per_thread", GOAL_SHIDX_KEYS, 0);
	json_num(j, "goal_shidx_p99_us", GOAL_SHIDX_P99_US, 0);
	json_num(j, "shidx_keys_per_s_per_thread_1", k1, 0);
	json_num(j, "shidx_p99_us_1", p1, 3);
	json_num(j, "shidx_keys_per_cpu_s_per_thread_1", s1 ? s1->keys_cpu_s : NAN, 0);
	json_num(j, "shidx_keys_per_cpu_s_per_thread_4", s4 ? s4->keys_cpu_s / 4 : NAN, 0);
	json_num(j, "shidx_keys_per_s_per_thread_4", k4, 0);
	json_num(j, "shidx_p99_us_4", p4, 3);
	json_num(j, "shidx_keys_per_s_x_rpc_lookup_1", bench_ratio(k1, rk1), 1);
	json_num(j, "rpc_lookup_p99_x_shidx_1", bench_ratio(rp1, p1), 1);
	json_bool(j, "shidx_goal_met", met);
}

static int report(const struct row *rows, int nrows, const char *server, const char *maru_dir,
		  const struct run *r, double seconds, uint64_t errors, bool ipc, bool json)
{
	const struct row *bl = find_row(rows, nrows, "batch_lookup", 4);
	const struct row *sl = find_row(rows, nrows, "lookup", 4);
	const struct row *fbl = find_row(rows, nrows, "floor_batch_lookup", 4);
	const struct row *fsl = find_row(rows, nrows, "floor_lookup", 4);
	double bl_keys = bl ? bl->keys_s : NAN, sl_p99 = sl ? sl->p99 : NAN;
	const struct row *br = find_row(rows, nrows, "batch_register", 4);
	double fbl_keys = fbl ? fbl->keys_s : NAN, fsl_p99 = fsl ? fsl->p99 : NAN;
	double fl_keys = bench_ratio(bl_keys, fbl_keys), fl_p99 = bench_ratio(sl_p99, fsl_p99);
	double fl_reg = bench_ratio(br ? br->p99 : NAN, fbl ? fbl->p99 : NAN);
	bool fl_met = fl_keys >= GOAL_FLOOR_BATCH && fl_p99 <= GOAL_FLOOR_P99 &&
		      fl_reg <= GOAL_FLOOR_REGISTER_P99 && !errors;
	bool met = bl && sl && bl_keys >= GOAL_BATCH_KEYS && sl_p99 <= GOAL_P99_US && !errors;
	bool floor_met = fbl_keys >= GOAL_BATCH_KEYS && fsl_p99 <= GOAL_P99_US;
	struct json_line j;
	char obj[256];

	printf("\n%-19s %7s %10s %11s %9s %9s %10s\n", "op", "clients", "ops/s", "keys/s", "p50 us",
	       "p99 us", "srv CPU us");
	for (int i = 0; i < nrows; i++) {
		char cpu[16] = "-";

		if (!isnan(rows[i].srv_cpu_us))
			snprintf(cpu, sizeof(cpu), "%.1f", rows[i].srv_cpu_us);
		printf("%-19s %7d %10.0f %11.0f %9.1f %9.1f %10s\n", rows[i].op, rows[i].clients,
		       rows[i].ops_s, rows[i].keys_s, rows[i].p50, rows[i].p99, cpu);
	}
	printf("srv CPU us: CPU time of all the server's threads per request (servers this run "
	       "started only)\n");
	printf("\ngoal (issue #7, 10x Maru's Python server with its own clients, ~ figures from\n"
	       "issue #7's run; --peer-maru measures it in this run), 4 clients:\n"
	       "  batch-100 lookup %.0f keys/s (goal >= %.0f; Maru ~%.0f: %.1fx)\n"
	       "  single lookup p99 %.1f us (goal <= %.0f; Maru ~%.0f: %.1fx)\n"
	       "  %s; %llu wrong replies\n", bl_keys, GOAL_BATCH_KEYS, MARU_BATCH_KEYS,
	       bench_ratio(bl_keys, MARU_BATCH_KEYS), sl_p99, GOAL_P99_US, MARU_P99_US,
	       bench_ratio(MARU_P99_US, sl_p99), met ? "met" : "NOT met",
	       (unsigned long long)errors);
	printf("transport floor (a ROUTER that only answers, same messages, same clients), 4 clients:\n"
	       "  batch-100 lookup %.0f keys/s: this server reaches %.2f of it\n"
	       "  single lookup p99 %.1f us: this server's p99 is %.2fx it\n"
	       "  batch-100 register p99 %.1f us: %.2fx the floor's batch-100 p99 %.1f us\n"
	       "  the floor itself %s the goal on this machine\n"
	       "  issue #19 (>= %.2f of its batch keys/s, <= %.2fx its p99, register <= %.1fx): %s\n",
	       fbl_keys, fl_keys, fsl_p99, fl_p99, br ? br->p99 : NAN, fl_reg,
	       fbl ? fbl->p99 : NAN, floor_met ? "meets" : "misses", GOAL_FLOOR_BATCH,
	       GOAL_FLOOR_P99, GOAL_FLOOR_REGISTER_P99, fl_met ? "met" : "NOT met");
	if (!json) {
		report_shidx(rows, nrows, &j, false);
		if (maru_dir)
			report_maru(rows, nrows, &j, false);
		return 0;
	}
	json_begin(&j);
	json_str(&j, "workload", "pool");
	json_str(&j, "server", server);
	json_str(&j, "transport", ipc ? "ipc" : "tcp");
	json_u64(&j, "keys", r->nkeys);
	json_u64(&j, "batch", BATCH);
	json_num(&j, "seconds", seconds, 2);
	json_num(&j, "loadavg_1m", bench_loadavg(), 2);
	json_u64(&j, "errors", errors);
	json_num(&j, "goal_batch_lookup_keys_per_s", GOAL_BATCH_KEYS, 0);
	json_num(&j, "goal_single_lookup_p99_us", GOAL_P99_US, 0);
	json_num(&j, "maru_batch_lookup_keys_per_s", MARU_BATCH_KEYS, 0);
	json_num(&j, "maru_single_p99_us", MARU_P99_US, 0);
	json_num(&j, "batch_lookup_keys_per_s_4", bl_keys, 0);
	json_num(&j, "single_lookup_p99_us_4", sl_p99, 1);
	json_bool(&j, "goal_met", met);
	json_num(&j, "floor_batch_lookup_keys_per_s_4", fbl_keys, 0);
	json_num(&j, "floor_single_lookup_p99_us_4", fsl_p99, 1);
	json_num(&j, "batch_lookup_ratio_to_floor_4", fl_keys, 3);
	json_num(&j, "single_lookup_p99_over_floor_4", fl_p99, 3);
	json_num(&j, "floor_batch_lookup_p99_us_4", fbl ? fbl->p99 : NAN, 1);
	json_num(&j, "batch_register_p99_us_4", br ? br->p99 : NAN, 1);
	json_num(&j, "batch_register_p99_over_floor_batch_p99_4", fl_reg, 3);
	json_bool(&j, "floor_goals_met", fl_met);
	json_bool(&j, "floor_meets_goal", floor_met);
	report_shidx(rows, nrows, &j, true);
	if (maru_dir) {
		json_str(&j, "peer_maru", maru_dir);
		report_maru(rows, nrows, &j, true);
	}
	json_raw(&j, "\"rows\":[", true);
	for (int i = 0; i < nrows; i++) {
		snprintf(obj, sizeof(obj),
			 "%s{\"op\":\"%s\",\"clients\":%d,\"ops\":%llu,\"ops_per_s\":%.0f,"
			 "\"keys_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f", i ? "," : "",
			 rows[i].op, rows[i].clients, (unsigned long long)rows[i].ops, rows[i].ops_s,
			 rows[i].keys_s, rows[i].p50, rows[i].p99);
		json_raw(&j, obj, false);
		if (isnan(rows[i].srv_cpu_us))
			snprintf(obj, sizeof(obj), "}");
		else
			snprintf(obj, sizeof(obj), ",\"srv_cpu_us_per_op\":%.1f}", rows[i].srv_cpu_us);
		json_raw(&j, obj, false);
	}
	json_raw(&j, "]", false);
	return json_end(&j);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kvtier-bench pool [--server ADDR] [--peer-maru MARU_DIR] [--seconds S]\n"
		   "                         [--keys N] [--ipc] [--json]\n"
		   "  single and batch-%d lookups, batch pin+unpin (prefix-stop) and batch register\n"
		   "  over Maru's metadata RPC from 1, 4 and 16 clients (threads, one DEALER each,\n"
		   "  one request in flight); every reply is checked; then the lookups again\n"
		   "  against a ZeroMQ ROUTER that only answers (the transport floor)\n"
		   "  --server   drive this ZeroMQ endpoint (e.g. tcp://127.0.0.1:5555) instead of\n"
		   "             starting kvtier-poold from this binary's folder; each client\n"
		   "             allocates a %u MiB region there; the keys stay registered\n"
		   "  --peer-maru  also start Maru's own server from the Maru checkout MARU_DIR\n"
		   "             (tools/maru-peer, %s) and run each phase against it right\n"
		   "             after kvtier-poold's: rows maru_*, and x_maru (keys/s ours over\n"
		   "             Maru's, p99 Maru's over ours) in the same report\n"
		   "  --ipc      kvtier-poold's RPC and the floor on ipc:// sockets, not loopback\n"
		   "             TCP (an ipc:// --server puts the floor on ipc:// too)\n"
		   "  --seconds  length of each of the %d phases, at most 30 (default 1)\n"
		   "  --keys     keys registered first, which the phases look up and pin\n"
		   "             (default 100000)\n"
		   "Exit status: 0 success, 1 a failure or a wrong reply, 2 bad command line.\n",
		BATCH, REGION_BYTES >> 20, PEER_PYTHON, NCOUNTS * (NPHASES + NFLOOR));
}

/*
 * Opens MAX_CLIENTS clients on the server at @addr, each with a region of
 * its own, and registers the run's keys through client 0.  *@nopen counts
 * the clients to close.  Return: 0 or -1 after printing why.
 */
static int server_open(void *zctx, const char *addr, struct srv *s, struct run *r,
		       struct client *cl, int *nopen)
{
	char inst[64];
	int ret = 0;

	if (wait_ready(zctx, addr, s))
		return -1;
	for (; *nopen < MAX_CLIENTS && !ret; (*nopen)++) {
		snprintf(inst, sizeof(inst), "kvtier-bench-%s-%d", r->tag, *nopen);
		ret = client_open(&cl[*nopen], zctx, addr, RPC_TIMEOUT_MS);
		if (!ret)
			ret = do_alloc(&cl[*nopen], inst, true);
		if (ret)
			fprintf(stderr, "kvtier-bench: pool: %s client %d: %s\n", s->name, *nopen,
				cl[*nopen].why);
	}
	if (ret)
		return -1;
	r->h = cl[0].h;
	if (populate(&cl[0], r)) {
		fprintf(stderr, "kvtier-bench: pool: registering keys on %s: %s\n", s->name,
			cl[0].why);
		return -1;
	}
	return 0;
}

/* Idle clients keep their lease (a server may drop silent ones and their
 * regions): every open client heartbeats after each phase. */
static int heartbeat_all(struct client *cl, int n)
{
	int ret = 0;

	for (int i = 0; i < n && !ret; i++)
		if ((ret = do_heartbeat(&cl[i])))
			fprintf(stderr, "kvtier-bench: pool: client %d: %s\n", i, cl[i].why);
	return ret;
}

/* Returns each client's region (REQUEST_ALLOC's instance, alloc false). */
static int server_close(struct client *cl, int n, const struct run *r)
{
	char inst[64];
	int ret = 0;

	for (int i = 0; i < n && !ret; i++) {
		snprintf(inst, sizeof(inst), "kvtier-bench-%s-%d", r->tag, i);
		if ((ret = do_alloc(&cl[i], inst, false)))
			fprintf(stderr, "kvtier-bench: pool: client %d: %s\n", i, cl[i].why);
	}
	return ret;
}

int pool_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 'S' }, { "seconds", required_argument, NULL, 's' },
		{ "keys", required_argument, NULL, 'k' },   { "json", no_argument, NULL, 'j' },
		{ "peer-maru", required_argument, NULL, 'M' }, { "ipc", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	struct client cl[MAX_CLIENTS], pm[MAX_CLIENTS], fl[MAX_CLIENTS];
	struct row rows[NCOUNTS * (2 * (NPHASES + 1) + NFLOOR + 1)];
	struct pool_floor *floor = NULL;
	char floor_addr[256];
	struct run r = { .nkeys = 100000, .names = op_names, .srv = &srv_poold }, m;
	char addr[256], maru_addr[64], exe[PATH_MAX + 16];
	const char *server = NULL, *maru_dir = NULL;
	double seconds = 1.0;
	uint64_t errors = 0;
	int c, nrows = 0, nopen = 0, npm = 0, nfl = 0, ret = 0, status = BENCH_EXIT_FAIL;
	bool json = false, ipc = false;
	void *zctx;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'S':
			server = optarg;
			break;
		case 'M':
			maru_dir = optarg;
			break;
		case 's':
			/* at most 30: clients idle in a phase must not outlive a
			 * server's client lease (kvtier-poold's default is 60 s) */
			if (opt_parse_double("kvtier-bench", "seconds", optarg, 0, 30, &seconds))
				return BENCH_EXIT_USAGE;
			break;
		case 'k':
			if (opt_parse_u64("kvtier-bench", "keys", optarg, 1000, 10000000, &r.nkeys))
				return BENCH_EXIT_USAGE;
			break;
		case 'j':
			json = true;
			break;
		case 'i':
			ipc = true;
			break;
		case 'h':
			usage(stdout);
			return BENCH_EXIT_OK;
		default:
			usage(stderr);
			return BENCH_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return BENCH_EXIT_USAGE;
	}
	/* a per-run tag in every key and instance id: runs against one
	 * --server never see each other's keys */
	snprintf(r.tag, sizeof(r.tag), "%08x",
		 (unsigned)prng_mix64((uint64_t)getpid() << 32 ^ tool_now_ns()));
	key_name(r.pfx, r.tag, 'p', 0, 0);
	r.pfx_len = (uint32_t)strlen(r.pfx) - 16;
	m = r;
	m.names = maru_names;
	m.srv = &srv_maru;
	if (server && ipc) {
		fprintf(stderr, "kvtier-bench: pool: --ipc starts kvtier-poold itself: not with "
			"--server (an ipc:// --server makes the floor ipc:// too)\n");
		return BENCH_EXIT_USAGE;
	}
	if (server) {
		snprintf(addr, sizeof(addr), "%s", server);
		ipc = !strncmp(server, "ipc://", 6);
	} else if (srv_start(addr, sizeof(addr), exe, sizeof(exe), ipc)) {
		goto out;
	}
	if (maru_dir && srv_start_maru(maru_dir, maru_addr, sizeof(maru_addr)))
		goto out;
	zctx = zmq_ctx_new();
	if (!zctx) {
		fprintf(stderr, "kvtier-bench: pool: zmq_ctx_new: %s\n", zmq_strerror(zmq_errno()));
		goto out;
	}
	ret = server_open(zctx, addr, &srv_poold, &r, cl, &nopen);
	if (!ret && maru_dir)
		ret = server_open(zctx, maru_addr, &srv_maru, &m, pm, &npm);
	if (!ret && !(floor = pool_floor_start(floor_addr, sizeof(floor_addr), ipc)))
		ret = -1;
	for (; nfl < MAX_CLIENTS && !ret; nfl++)
		if ((ret = client_open(&fl[nfl], zctx, floor_addr, RPC_TIMEOUT_MS)))
			fprintf(stderr, "kvtier-bench: pool: floor client %d: %s\n", nfl, fl[nfl].why);
	if (ret)
		goto out_clients;
	printf("pool: %s %s, %llu keys, batch %d, %.2f s per phase, clients 1/4/16, loadavg %.2f\n",
	       server ? "server" : exe, addr, (unsigned long long)r.nkeys, BATCH, seconds,
	       bench_loadavg());
	if (maru_dir)
		printf("pool: and Maru's own server (%s) %s, phase by phase after kvtier-poold's\n",
		       maru_dir, maru_addr);
	fflush(stdout);
	for (int ci = 0; ci < NCOUNTS && !ret; ci++) {
		/* Maru's phases right after kvtier-poold's of the same kind and
		 * client count, so both see the same machine */
		for (int ph = 0; ph < NPHASES && !ret; ph++) {
			ret = run_phase(cl, &r, (enum phase)ph, false, counts[ci], seconds, rows,
					&nrows, &errors);
			if (!ret)
				ret = heartbeat_all(cl, nopen);
			if (!ret)
				ret = heartbeat_all(pm, npm);
			if (!ret && maru_dir)
				ret = run_phase(pm, &m, (enum phase)ph, false, counts[ci], seconds,
						rows, &nrows, &errors);
			if (!ret)
				ret = heartbeat_all(cl, nopen);
			if (!ret)
				ret = heartbeat_all(pm, npm);
		}
		/* right after the server's phases of the same client count, with
		 * the reply sizes kvtier-poold sent */
		for (int ph = 0; ph < NFLOOR && !ret; ph++) {
			pool_floor_set_reply_len(floor, r.reply_len[ph]);
			ret = run_phase(fl, &r, (enum phase)ph, true, counts[ci], seconds, rows,
					&nrows, &errors);
		}
	}
	/* the daemon this run started publishes its index on its RM socket */
	if (!ret && !server)
		ret = shidx_rows(&cl[0], srv_rm_socket(), &r, seconds, counts, NCOUNTS, rows,
				 &nrows, &errors);
	if (!ret)
		ret = server_close(cl, nopen, &r);
	if (!ret)
		ret = server_close(pm, npm, &m);
	if (!ret)
		status = BENCH_EXIT_OK;
out_clients:
	for (int i = 0; i < nopen; i++)
		client_close(&cl[i]);
	for (int i = 0; i < npm; i++)
		client_close(&pm[i]);
	for (int i = 0; i < nfl; i++)
		client_close(&fl[i]);
	if (floor)
		pool_floor_stop(floor);
	zmq_ctx_term(zctx);
	if (!server && srv_poold.pid > 0 && srv_stop())
		status = BENCH_EXIT_FAIL;
	if (maru_dir)
		srv_stop_maru();
	if (status == BENCH_EXIT_OK && report(rows, nrows, server ? server : "kvtier-poold", maru_dir,
					      &r, seconds, errors, ipc, json))
		status = BENCH_EXIT_FAIL;
	if (errors)
		status = BENCH_EXIT_FAIL;
out:
	return status;
}
