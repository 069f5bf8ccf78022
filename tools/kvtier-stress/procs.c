/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/procs.c - --tier pool: several engine processes over
 * one keyspace, and the supervisor that runs them; here its run until the
 * deadline, in which it starts, watches, kills and replaces them.
 *
 * The supervisor (the process the user started) maps struct pool_shm (a
 * memfd, MAP_SHARED), starts the daemon (pool.c) and --procs engine
 * processes: this binary again, with the same arguments and CHILD_ENV
 * naming the memfd and its slot.  Each is one stress_run() of main.c
 * (procs_child.c): its own instance, an L1 cache in front of the pool
 * adapter, and --threads workers over the shared keyspace, so what one
 * process stores the others load straight from its region.  The versions
 * of every key are handed out from shm, so any process verifies any chunk
 * it reads; its corruption and failure counts go to its slot as they
 * happen.
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
 * The end, from the deadline on (the barrier, the last instance, the
 * checks and the report), is procs_end.c's; procs.h what the two share.
 *
 * Threads: the supervisor's main thread; procs_kill_signal() also from a
 * signal handler.
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
#include <sys/wait.h>
#include <unistd.h>

#include "tools/common/progress.h"
#include "tools/kvtier-stress/procs.h"

#define KILL_PINS_WAIT_MS 2000  /* a victim not seen holding pins by then dies all the same */
#define KILL_MIN_AGE_MS 1000    /* a victim has run this long: past its kvt_open */
#define KILL_LAST_MS 2000       /* no kill this close to the deadline */

struct pool_shm *shm;
static size_t shm_len;
static int shm_fd = -1;          /* the supervisor's: a memfd the children inherit */
static pid_t supervisor;
static char **self_argv;         /* the supervisor's arguments, for the children */
struct life lives[POOL_MAX_LIVES];
unsigned int nlives;

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

unsigned int reap(void)
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

uint64_t slot_ops(unsigned int i)
{
	uint64_t n = 0;

	for (int k = 0; k < OP_N; k++)
		n += atomic_load_explicit(&shm->slot[i].op[k][OPC_CALLS], memory_order_relaxed);
	return n;
}

uint64_t verdict(bool failures)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < nlives; i++)
		n += atomic_load_explicit(failures ? &shm->slot[i].v.failures :
					  &shm->slot[i].v.corruptions, memory_order_relaxed);
	return n;
}

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
		snprintf(pool, sizeof(pool), " daemon: %" PRIu64 " keys, %" PRIu64 " pinned (%"
			 PRIu64 " pins), %" PRIu64 " regions, %" PRIu64 " MiB free", d.entries,
			 d.pinned_entries, d.total_pins, d.allocations, d.pool_free >> 20);
	fprintf(stderr, "kvtier-stress: %5.1fs ops %" PRIu64 " (%.0f/s) procs %u, %u killed;%s "
		"corrupt %" PRIu64 " failed %" PRIu64 "\n", (double)(now - r->start_ns) / 1e9, ops,
		(double)(ops - r->last_ops) * 1e9 / (double)(now - r->last_ns), live, r->kills,
		pool, verdict(false), verdict(true));
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
	v = cand[prng_below(rng, n)];
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
	s->nkeys = stress_pool_keys(s);
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
	if (finished)
		end_checks(s, &c, &l, &d);
	alarm(0);
	pass = c.failed == 0 && verdict(false) == 0 && verdict(true) == 0 &&
	       atomic_load_explicit(&s->own.corruptions, memory_order_relaxed) == 0 &&
	       atomic_load_explicit(&s->own.failures, memory_order_relaxed) == 0;
	ret = pool_stop();
	check(&c, ret == 0, "kvtier-poold stopped cleanly");
	pass &= ret == 0;
	procs_report(s, &r, &l, &d, &c, pass);
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
