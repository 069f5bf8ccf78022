/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/procs.c - --tier pool: several engine processes over
 * one keyspace, and the supervisor that runs them.
 *
 * The supervisor (the process the user started) maps struct pool_shm (a
 * memfd, MAP_SHARED), starts the daemon (pool.c) and --procs engine
 * processes: this binary again, with the same arguments and CHILD_ENV
 * naming the memfd and its slot.  Each is one stress_run() of main.c: its
 * own instance, an L1 cache in front of the pool adapter, and --threads
 * workers over the shared keyspace, so what one process stores the others
 * load straight from its region.  The versions of every key are handed out from shm, so
 * any process verifies any chunk it reads; its corruption and failure
 * counts go to its slot as they happen.
 *
 * Faults.  Every --kill-ms the supervisor picks a running process, waits
 * until it holds lookup pins in the daemon (as it publishes them), SIGKILLs
 * it, waits until the daemon has dropped its connection (with its pins;
 * within the client lease, or it is a failure) and starts a fresh one in a
 * new slot.  The run goes on: the dead process's chunks stay readable, and
 * its regions go once their keys are deleted (Maru's deferred free).  The
 * fresh process starts only once the daemon has let the dead one go, for
 * kvtier-poold matches a closed socket to its client by fd: a client that
 * connects right after another closed may get that fd, and be dropped in
 * its place when the daemon sees the close late.
 *
 * The end.  At the deadline every process stops its workers and checks its
 * own counters, then waits at a barrier until all are quiet: the pool no
 * longer changes, and the daemon must hold no pin within a lease of the
 * last kill.  Then each sweeps the keyspace against the daemon's registry,
 * closes (no thread or fd left) and writes its result.  Last, the
 * supervisor opens an instance of its own that reads back every key the
 * daemon holds (each must verify) and removes it, closes it, and checks
 * the daemon is empty: no key, pin or region, the pool all free.
 *
 * Threads: the supervisor's main thread; in an engine process, its main
 * thread (the procs_child_* calls).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/stress.h"

#define KILL_PINS_WAIT_MS 2000  /* a victim not seen holding pins by then dies all the same */
#define KILL_MIN_AGE_MS 1000    /* a victim has run this long: past its kvt_open */
#define KILL_LAST_MS 2000       /* no kill this close to the deadline */
#define QUIET_WAIT_S (JOIN_GRACE_S + 15)
#define NS_PER_MS 1000000ull

/* The supervisor's view of one slot (never shared). */
struct life {
	pid_t pid;
	bool reaped;
	bool killed;
	int status;              /* waitpid()'s, once reaped */
	uint64_t pins_at_kill;   /* as the victim last published them */
	int64_t gone_ms;         /* the daemon dropped it this long after the kill; -1 never */
	uint64_t start_ns, end_ns;
};

static struct pool_shm *shm;
static size_t shm_len;
static int shm_fd = -1;          /* the supervisor's: a memfd the children inherit */
static pid_t supervisor;
static char **self_argv;         /* the supervisor's arguments, for the children */
static struct life lives[POOL_MAX_LIVES];
static unsigned int nlives;

static void nap_ms(unsigned int ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- an engine process ---- */

static void publish_ops(struct stress *s)
{
	struct proc_slot *sl = &s->shm->slot[s->slot];
	uint64_t v[OP_N][OPC_N];

	worker_ops(s, v);
	for (int k = 0; k < OP_N; k++)
		for (int j = 0; j < OPC_N; j++)
			atomic_store_explicit(&sl->op[k][j], v[k][j], memory_order_relaxed);
}

bool procs_child_tick(struct stress *s)
{
	struct fs_status fs;

	publish_ops(s);
	/* pins taken and not yet sent back: what the daemon holds for us */
	fs_status(s->kvt, &fs);
	atomic_store_explicit(&s->shm->slot[s->slot].pins_held,
			      fs.pins > fs.unpins ? fs.pins - fs.unpins : 0, memory_order_relaxed);
	return atomic_load_explicit(&s->shm->stop, memory_order_relaxed) ||
	       getppid() != supervisor;
}

void procs_child_quiet(struct stress *s)
{
	atomic_store_explicit(&s->shm->slot[s->slot].state, PROC_QUIET, memory_order_release);
	/* the supervisor's death kills us (PR_SET_PDEATHSIG) */
	while (!atomic_load_explicit(&s->shm->sweep, memory_order_acquire))
		nap_ms(2);
}

void procs_child_done(struct stress *s, const struct checks *c, const struct kvt_stats *st,
		      const struct fs_status *l2, uint64_t run_ns, struct worker_acct acct,
		      bool pass)
{
	struct proc_slot *sl = &s->shm->slot[s->slot];

	publish_ops(s);
	sl->res = (struct proc_result){ .run_ns = run_ns, .checks_run = c->run,
					.checks_failed = c->failed, .pass = pass, .acct = acct,
					.st = *st, .l2 = *l2 };
	atomic_store_explicit(&sl->state, PROC_DONE, memory_order_release);
}

int procs_child_main(struct stress *s, const char *env)
{
	unsigned int slot;
	struct stat sb;
	int fd, n = -1;

	if (sscanf(env, "%d,%u%n", &fd, &slot, &n) != 2 || env[n] || slot >= POOL_MAX_LIVES ||
	    fstat(fd, &sb) || (size_t)sb.st_size < sizeof(*shm)) {
		fprintf(stderr, "kvtier-stress: %s=\"%s\": not from a supervisor\n", CHILD_ENV, env);
		return 1;
	}
	shm_len = (size_t)sb.st_size;
	shm = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	/* no watchdog or cleanup here: the supervisor's, and its death is ours
	 * (PR_SET_PDEATHSIG), checked once more now that we run */
	if (shm == MAP_FAILED || getppid() != shm->supervisor)
		return 1;
	supervisor = shm->supervisor;
	/* one write per line: the processes share stdout */
	setvbuf(stdout, NULL, _IOLBF, 0);
	s->shm = shm;
	s->slot = slot;
	s->v = &shm->slot[slot].v;
	s->nkeys = shm->nkeys;
	s->o.seed = shm->seed + 0x9E3779B97F4A7C15ull * (slot + 1) * 7919;
	snprintf(s->pool_server, sizeof(s->pool_server), "%s", shm->pool_server);
	snprintf(s->pool_rm, sizeof(s->pool_rm), "%s", shm->pool_rm);
	snprintf(s->who, sizeof(s->who), "proc %u: ", slot);
	return stress_run(s);
}

/* ---- the supervisor ---- */

/*
 * Start the engine process of the next slot: this binary again, with the
 * same arguments and CHILD_ENV naming the shared memory's fd and the slot.
 * A fresh image, not a bare fork: the sanitizers' runtime state (TSan's
 * symbolizer pipes, for one) must not be shared with the supervisor.
 */
static int spawn(void)
{
	unsigned int slot = nlives;
	char var[64], **envp;
	size_t n = 0, j = 0;
	pid_t pid;

	if (slot == POOL_MAX_LIVES)
		return -ENOSPC;
	/* built before the fork: the child only execs */
	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], CHILD_ENV "=", strlen(CHILD_ENV) + 1))
			envp[j++] = environ[i];
	snprintf(var, sizeof(var), "%s=%d,%u", CHILD_ENV, shm_fd, slot);
	envp[j] = var;
	atomic_store_explicit(&shm->slot[slot].state, PROC_RUNNING, memory_order_relaxed);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == supervisor && fcntl(shm_fd, F_SETFD, 0) == 0)
			execve("/proc/self/exe", self_argv, envp);
		_exit(127);
	}
	free(envp);
	if (pid < 0) {
		int err = errno;

		fprintf(stderr, "kvtier-stress: fork: %s\n", strerror(err));
		return -err;
	}
	atomic_store_explicit(&shm->slot[slot].pid, pid, memory_order_relaxed);
	lives[slot] = (struct life){ .pid = pid, .start_ns = tool_now_ns() };
	nlives++;
	return 0;
}

void procs_kill_signal(void)
{
	if (getpid() != supervisor)
		return;
	for (unsigned int i = 0; i < nlives; i++)
		if (!lives[i].reaped)
			kill(lives[i].pid, SIGKILL);
}

static bool alive(unsigned int i)
{
	return !lives[i].reaped;
}

/* Reap what exited.  Return: processes still alive. */
static unsigned int reap(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < nlives; i++) {
		if (alive(i) && waitpid(lives[i].pid, &lives[i].status, WNOHANG) == lives[i].pid) {
			lives[i].reaped = true;
			lives[i].end_ns = tool_now_ns();
		}
		n += alive(i);
	}
	return n;
}

static uint32_t state_of(unsigned int i)
{
	return atomic_load_explicit(&shm->slot[i].state, memory_order_acquire);
}

static uint64_t slot_ops(unsigned int i)
{
	uint64_t n = 0;

	for (int k = 0; k < OP_N; k++)
		n += atomic_load_explicit(&shm->slot[i].op[k][OPC_CALLS], memory_order_relaxed);
	return n;
}

static uint64_t verdict(bool failures)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < nlives; i++)
		n += atomic_load_explicit(failures ? &shm->slot[i].v.failures :
					  &shm->slot[i].v.corruptions, memory_order_relaxed);
	return n;
}

struct run {
	uint64_t start_ns, run_ns;
	unsigned int kills, kills_pinned, kills_missed, kills_unseen;
	int64_t max_gone_ms;
	uint64_t last_kill_ns;
	uint64_t last_ops, last_ns;
};

static void progress(const struct stress *s, struct run *r, uint64_t now)
{
	struct pool_daemon_stats d;
	uint64_t ops = 0;
	unsigned int live = 0;
	char pool[160] = " daemon: no answer";

	for (unsigned int i = 0; i < nlives; i++) {
		ops += slot_ops(i);
		live += alive(i);
	}
	if (pool_daemon_stats(s, &d) == 0)
		snprintf(pool, sizeof(pool), " daemon: %" PRIu64 " keys, %" PRIu64 " pinned (%" PRIu64
			 " pins), %" PRIu64 " regions, %" PRIu64 " MiB free", d.entries,
			 d.pinned_entries, d.total_pins, d.allocations, d.pool_free >> 20);
	fprintf(stderr, "kvtier-stress: %5.1fs ops %" PRIu64 " (%.0f/s) procs %u, %u killed;%s "
		"corrupt %" PRIu64 " failed %" PRIu64 "\n", (double)(now - r->start_ns) / 1e9, ops,
		(double)(ops - r->last_ops) * 1e9 / (double)(now - r->last_ns), live, r->kills, pool,
		verdict(false), verdict(true));
	r->last_ops = ops;
	r->last_ns = now;
}

/*
 * Wait until the daemon has dropped one more connection than @gone_before
 * (a killed process's), a lease and a second at most after @killed_ns.
 * Return: ms from @killed_ns, or -1 if it did not.
 */
static int64_t gone_wait(const struct stress *s, uint64_t gone_before, uint64_t killed_ns)
{
	uint64_t deadline = killed_ns + (POOL_LEASE_MS + 1000) * NS_PER_MS;
	struct pool_daemon_stats d;

	while (pool_daemon_stats(s, &d) || d.clients_gone <= gone_before) {
		if (tool_now_ns() >= deadline)
			return -1;
		nap_ms(5);
	}
	return (int64_t)((tool_now_ns() - killed_ns) / NS_PER_MS);
}

/*
 * Kill a running process that has been up a while, once it holds pins in
 * the daemon (or after KILL_PINS_WAIT_MS), and start a fresh one once the
 * daemon has dropped it.
 */
static void kill_one(struct stress *s, struct run *r, uint64_t *rng)
{
	unsigned int cand[POOL_MAX_LIVES], n = 0, v;
	uint64_t now = tool_now_ns(), deadline, held = 0;
	struct pool_daemon_stats d;

	for (unsigned int i = 0; i < nlives; i++)
		if (alive(i) && state_of(i) == PROC_RUNNING &&
		    now - lives[i].start_ns >= KILL_MIN_AGE_MS * NS_PER_MS)
			cand[n++] = i;
	if (!n || nlives == POOL_MAX_LIVES)
		return;
	*rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
	v = cand[(*rng >> 33) % n];
	deadline = now + KILL_PINS_WAIT_MS * NS_PER_MS;
	while (!(held = atomic_load_explicit(&shm->slot[v].pins_held, memory_order_relaxed)) &&
	       tool_now_ns() < deadline)
		nap_ms(1);
	/* no other connection comes or goes meanwhile: the next one gone is it */
	if (pool_daemon_stats(s, &d))
		d.clients_gone = UINT64_MAX;
	kill(lives[v].pid, SIGKILL);
	waitpid(lives[v].pid, &lives[v].status, 0);
	lives[v].reaped = lives[v].killed = true;
	lives[v].pins_at_kill = held;
	lives[v].end_ns = r->last_kill_ns = tool_now_ns();
	r->kills++;
	r->kills_pinned += held > 0;
	lives[v].gone_ms = gone_wait(s, d.clients_gone, lives[v].end_ns);
	if (lives[v].gone_ms < 0)
		r->kills_unseen++;
	else if (lives[v].gone_ms > r->max_gone_ms)
		r->max_gone_ms = lives[v].gone_ms;
	fprintf(stderr, "kvtier-stress: killed proc %u (pid %d) holding %" PRIu64 " pins; the "
		"daemon dropped it after %" PRId64 " ms; starting proc %u\n", v, (int)lives[v].pid,
		held, lives[v].gone_ms, nlives);
	if (spawn())
		r->kills_missed++;
}

/* The workers, until the deadline: progress, kills, early exits. */
static void supervise(struct stress *s, struct run *r)
{
	uint64_t deadline = r->start_ns + s->o.seconds * 1000000000ull;
	uint64_t next_tick = r->start_ns + 1000000000ull;
	uint64_t next_kill = s->o.kill_ms ? r->start_ns + s->o.kill_ms * NS_PER_MS : UINT64_MAX;
	uint64_t rng = s->o.seed | 1, now;

	r->last_ns = r->start_ns;
	while ((now = tool_now_ns()) < deadline) {
		nap_ms(1);
		reap();
		if (now >= next_tick) {
			progress(s, r, now);
			next_tick += 1000000000ull;
		}
		if (now >= next_kill && now + KILL_LAST_MS * NS_PER_MS < deadline) {
			kill_one(s, r, &rng);
			next_kill += s->o.kill_ms * NS_PER_MS;
		}
	}
	r->run_ns = tool_now_ns() - r->start_ns;
}

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
static int daemon_settled(const struct stress *s, struct pool_daemon_stats *d, unsigned int wait_ms,
			  bool (*ok)(const struct pool_daemon_stats *d))
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

/* What the supervisor's own instance found at the end. */
struct last {
	uint64_t entries;       /* keys of the keyspace the daemon held before */
	uint64_t read, removed, busy;
	struct fs_status l2;
};

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
	struct fs_scan sc;
	int ret;

	warm_runtime();
	fds_before = count_dir("/proc/self/fd");
	tasks_before = count_dir("/proc/self/task");
	ret = pool_scan(s, &sc);
	check(c, ret == 0, "daemon: scan of the keyspace before the last instance = %d", ret);
	l->entries = sc.files;
	fs_scan_free(&sc);
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
			check(c, false, "last instance: kvt_get(keys %" PRIu64 "..) = %zd", id, got);
		for (size_t i = 0; got > 0 && i < n; i++) {
			if (!lens[i])
				continue;
			l->read++;
			payload_check(s, "last instance", bufs[i], lens[i], id + i);
		}
		got = kvt_remove(s->kvt, keys, n, 0, res);
		if (got < 0)
			check(c, false, "last instance: kvt_remove(keys %" PRIu64 "..) = %zd", id, got);
		for (size_t i = 0; got >= 0 && i < n; i++) {
			l->removed += res[i] == 0;
			l->busy += res[i] == -EBUSY || res[i] == -EAGAIN;
		}
	}
	check(c, buf != NULL, "last instance: a buffer of %zu bytes", STRESS_MAX_BATCH * s->chunk);
	free(buf);
	fs_status(s->kvt, &l->l2);
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

/* Totals over every process: ops as published (the killed included), the
 * rest from the results of those that finished. */
struct totals {
	uint64_t v[OP_N][OPC_N];
	uint64_t reads, l2_hits, foreign_loads, lost_races, stores, reclaimed;
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
		t->checks_run += res->checks_run;
		t->checks_failed += res->checks_failed;
	}
}

/* One check per process: it finished and passed, or it was killed. */
static void life_checks(struct checks *c)
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

static void print_inputs(const struct stress *s)
{
	printf("kvtier-stress: tier pool, %u processes x %u threads, %u s, %u keys, chunk %u KiB, "
	       "pin_ttl_ms %u, seed %" PRIu64 "\n", s->o.procs, s->o.threads, s->o.seconds,
	       s->nkeys, s->o.chunk_kb, s->o.pin_ttl_ms, s->o.seed);
	printf("  l1  %u MiB per process\n", s->o.capacity_mb);
	printf("  pool %s%s, rm %s; a process killed every %u ms%s\n", s->pool_server,
	       pool_own_daemon() ? " (kvtier-poold of our own, stopped at exit)" : "", s->pool_rm,
	       s->o.kill_ms, s->o.kill_ms ? "" : " (never)");
	fflush(stdout);
}

static void report(const struct stress *s, const struct run *r, const struct last *l,
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
			printf("proc %-2u pid %-7d %5.1f s, %9" PRIu64 " ops: killed holding %" PRIu64
			       " pins, dropped by the daemon after %" PRId64 " ms\n", i, (int)lf->pid,
			       (double)(lf->end_ns - lf->start_ns) / 1e9, slot_ops(i),
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
	       " regions freed (%" PRIu64 " deferred), %" PRIu64 " leases expired\n", nlives,
	       r->kills, r->kills_pinned, t.foreign_loads, t.l2_hits, t.reclaimed, l->read, l->entries,
	       l->removed, d->entries, d->total_pins, d->allocations, d->pool_free >> 20,
	       d->pool_total >> 20, d->regions_freed, d->deferred_frees, d->leases_expired);
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
	       PRIu64 ",\"last_removed\":%"
	       PRIu64 ",\"daemon\":{\"keys\":%" PRIu64 ",\"pins\":%" PRIu64 ",\"regions\":%"
	       PRIu64 ",\"pool_free\":%" PRIu64 ",\"pool_total\":%" PRIu64 ",\"regions_freed\":%"
	       PRIu64 ",\"deferred_frees\":%" PRIu64 ",\"leases_expired\":%" PRIu64
	       ",\"unpin_underflows\":%" PRIu64 "}},\"result\":\"%s\"}\n",
	       verdict(false) + atomic_load_explicit(&s->own.corruptions, memory_order_relaxed),
	       verdict(true) + atomic_load_explicit(&s->own.failures, memory_order_relaxed),
	       pressure, c->run + t.checks_run, c->failed + t.checks_failed,
	       s->o.pool_server ? "false" : "true", nlives, r->kills, r->kills_pinned, t.reads,
	       t.l2_hits, t.foreign_loads, t.stores, t.lost_races, t.reclaimed, l->read, l->removed, d->entries, d->total_pins, d->allocations, d->pool_free,
	       d->pool_total, d->regions_freed, d->deferred_frees, d->leases_expired,
	       d->unpin_underflows, pass ? "PASS" : "FAIL");
}

/* The end of the run: the barrier, the sweeps, the exits.  Return: true
 * when every process got through (else the rest were killed). */
static bool finish(struct stress *s, struct checks *c, struct run *r)
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

int procs_main(struct stress *s, char **argv)
{
	struct checks c = { .verbose = s->o.verbose, .who = "" };
	struct pool_daemon_stats d = { 0 };
	struct last l = { 0 };
	struct run r = { 0 };
	bool pass, finished = false;
	int ret;

	supervisor = getpid();
	self_argv = argv;
	s->nkeys = stress_pool_keys(&s->o);
	shm_len = sizeof(*shm) + s->nkeys * sizeof(shm->next_version[0]);
	/* a memfd, not a file in /dev/shm: nothing to remove, whatever happens */
	shm_fd = memfd_create("kvtier-stress", MFD_CLOEXEC);
	if (shm_fd < 0 || ftruncate(shm_fd, (off_t)shm_len) ||
	    (shm = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0)) ==
	    MAP_FAILED) {
		fprintf(stderr, "kvtier-stress: %zu bytes of shared memory: %s\n", shm_len,
			strerror(errno));
		if (shm_fd >= 0)
			close(shm_fd);
		return 1;
	}
	s->next_version = shm->next_version;
	alarm(s->o.seconds + QUIET_WAIT_S + CLOSE_GRACE_S + 120);
	ret = pool_prepare(s);
	if (!ret)
		ret = pool_look_open(s);
	if (ret)
		goto out;
	shm->supervisor = supervisor;
	shm->seed = s->o.seed;
	shm->nkeys = s->nkeys;
	snprintf(shm->pool_server, sizeof(shm->pool_server), "%s", s->pool_server);
	snprintf(shm->pool_rm, sizeof(shm->pool_rm), "%s", s->pool_rm);
	print_inputs(s);
	r.start_ns = tool_now_ns();
	for (unsigned int i = 0; i < s->o.procs; i++) {
		ret = spawn();
		check(&c, ret == 0, "engine process %u started: %d", i, ret);
		if (ret)
			break;
	}
	if (!ret) {
		supervise(s, &r);
		finished = finish(s, &c, &r);
	}
	/* the first kill comes after kill_ms, none in the last KILL_LAST_MS */
	check(&c, !s->o.kill_ms || r.kills > 0 ||
	      s->o.seconds * 1000ull < s->o.kill_ms + KILL_LAST_MS + 1000,
	      "%u processes killed (one every %u ms)", r.kills, s->o.kill_ms);
	check(&c, r.kills_pinned == r.kills && r.kills_missed == 0, "every killed process held "
	      "pins (%u of %u) and was replaced (%u not)", r.kills_pinned, r.kills,
	      r.kills_missed);
	check(&c, r.kills_unseen == 0, "the daemon dropped every killed process within its lease "
	      "(%d ms) and a second: %u not, the slowest after %" PRId64 " ms", POOL_LEASE_MS,
	      r.kills_unseen, r.max_gone_ms);
	procs_kill_signal();
	reap();
	life_checks(&c);
	if (finished) {
		struct totals t;

		sum_up(&t);
		check(&c, s->o.procs < 2 || t.foreign_loads > 0, "chunks read across processes: %"
		      PRIu64 " loads from other processes' regions", t.foreign_loads);
		/* every engine's connection gone, and the daemon idle long enough
		 * to have seen every socket close, before a new one comes */
		if (pool_own_daemon()) {
			ret = daemon_settled(s, &d, 5000, only_look);
			check(&c, ret == 0 && d.clients == 1, "daemon: every engine's connection "
			      "gone (%" PRIu64 " clients left, this one included)", d.clients);
			nap_ms(100);
		}
		last_instance(s, &c, &l);
		if (pool_own_daemon())
			daemon_end_checks(s, &c, &d);
	}
	alarm(0);
	pass = c.failed == 0 && verdict(false) == 0 && verdict(true) == 0 &&
	       atomic_load_explicit(&s->own.corruptions, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&s->own.failures, memory_order_relaxed) == 0;
	ret = pool_stop();
	check(&c, ret == 0, "kvtier-poold stopped cleanly");
	pass &= ret == 0;
	report(s, &r, &l, &d, &c, pass);
	ret = pass ? 0 : 1;
out:
	procs_kill_signal();
	reap();
	pool_stop();
	kvt_config_free(s->cfg);
	s->cfg = NULL;
	munmap(shm, shm_len);
	close(shm_fd);
	fflush(stdout);
	return ret ? 1 : 0;
}
