/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the glue every actor-based L2 adapter shares (l2/l2_glue.c),
 * called directly with a stand-in actor: init opens one non-blocking event
 * fd per op and closes them all when it fails halfway or at fini; submit
 * checks its arguments, copies the call into one job laid after the actor's
 * own fields, resets the task and gives a refused job back; complete
 * publishes done before it wakes the op's fd and calls on_done; remove runs
 * a DELETE job; close refuses new work and waits for a submit in flight, so
 * no post reaches an actor after close returned, even under racing threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kvtier/l2.h"
#include "l2/l2_glue.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"

/* The actor's own job: the glue's first, then fields of its own. */
struct fake_job {
	struct l2_job l2;
	uint64_t own[3];
};

/* The stand-in actor: keeps or completes what it is given, or refuses. */
static struct fake {
	struct l2_glue g;
	int submit_ret, delete_ret;
	bool complete_inline;       /* complete in submit, as an adapter may */
	struct l2_job *last;        /* the last job kept (the test completes it) */
	_Atomic int submits, deletes;
	_Atomic int gate;           /* submit waits while set */
	_Atomic int in_submit;
	_Atomic int stopped;        /* the actor is gone: a post now is a bug */
	_Atomic int late;           /* posts seen after stopped */
} f;

static int fake_submit(void *actor, struct l2_job *job)
{
	struct fake *fk = actor;

	CHECK(fk == &f);
	atomic_fetch_add(&fk->in_submit, 1);
	while (atomic_load(&fk->gate))
		usleep(1000);
	if (atomic_load(&fk->stopped))
		atomic_fetch_add(&fk->late, 1);
	atomic_fetch_add(&fk->submits, 1);
	atomic_fetch_sub(&fk->in_submit, 1);
	if (fk->submit_ret)
		return fk->submit_ret;
	if (fk->complete_inline)
		l2_glue_complete(&fk->g, job);
	else
		fk->last = job;
	return 0;
}

static int fake_delete(void *actor, struct l2_job *job)
{
	struct fake *fk = actor;

	atomic_fetch_add(&fk->deletes, 1);
	if (fk->delete_ret)
		return fk->delete_ret;
	CHECK_EQ(job->op, KVT_L2_NOPS);
	CHECK(job->task == NULL && job->bufs == NULL);
	/* every odd key is there */
	job->deleted = 0;
	for (size_t i = 0; i < job->n; i++) {
		bool hit = job->keys[i].hi & 1;

		if (job->results)
			job->results[i] = hit ? 0 : -ENOENT;
		job->deleted += hit;
	}
	return 0;
}

static const struct l2_glue_actor fake_ops = {
	.type = "fake",
	.job_size = sizeof(struct fake_job),
	.submit = fake_submit,
	.delete = fake_delete,
};

static void fake_init(void)
{
	char err[128] = "";

	memset(&f, 0, sizeof(f));
	CHECK_EQ(l2_glue_init(&f.g, &fake_ops, err, sizeof(err)), 0);
	f.g.actor = &f;
}

/* The value of @fd's counter (reading resets it), or -EAGAIN when it is 0
 * (without blocking, whatever the fd's flags), or -errno. */
static long long efd_read(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&pfd, 1, 0) == 0)
		return -EAGAIN;
	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return -errno;
	return (long long)v;
}

TEST(init_opens_one_nonblocking_event_fd_per_op_and_fini_closes_them)
{
	struct l2_glue g;
	int before = harness_count_fds();
	char err[128];

	memset(&g, 0xa5, sizeof(g));
	CHECK_EQ(l2_glue_init(&g, &fake_ops, err, sizeof(err)), 0);
	CHECK(g.ops == &fake_ops && g.actor == NULL);
	CHECK_EQ(atomic_load(&g.users), 0);
	CHECK(!atomic_load(&g.closing));
	CHECK_EQ(harness_count_fds(), before + KVT_L2_NOPS);
	for (int op = 0; op < KVT_L2_NOPS; op++) {
		int fd = l2_glue_event_fd(&g, (enum kvt_l2_op)op);

		CHECK_ROW(op, fd >= 0);
		for (int other = 0; other < op; other++)
			CHECK_ROW(op, fd != l2_glue_event_fd(&g, (enum kvt_l2_op)other));
		CHECK_ROW(op, fcntl(fd, F_GETFL) & O_NONBLOCK);
		CHECK_ROW(op, fcntl(fd, F_GETFD) & FD_CLOEXEC);
		/* nothing completed yet: an engine polling it does not wake */
		CHECK_ROW(op, efd_read(fd) == -EAGAIN);
	}
	CHECK_EQ(l2_glue_event_fd(&g, KVT_L2_NOPS), -EINVAL);
	CHECK_EQ(l2_glue_event_fd(&g, (enum kvt_l2_op)-1), -EINVAL);
	l2_glue_fini(&g);
	CHECK_EQ(harness_count_fds(), before);
}

TEST(init_failing_halfway_says_why_and_leaves_nothing_open)
{
	struct rlimit lim;
	struct l2_glue g;
	char err[128] = "";
	int fds[64], nfds = 0, null_fd = open("/dev/null", O_RDONLY);

	CHECK(null_fd >= 0);
	/* new fds must be below 64; those open above it do not matter */
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
	lim.rlim_cur = 64;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
	/* take every fd but one: the first eventfd gets it, the second fails */
	while (nfds < 64 && (fds[nfds] = dup(null_fd)) >= 0)
		nfds++;
	CHECK_EQ(errno, EMFILE);
	CHECK(nfds > 0);
	close(fds[--nfds]);
	CHECK_EQ(l2_glue_init(&g, &fake_ops, err, sizeof(err)), -EMFILE);
	CHECK_HAS(err, "fake: eventfd: ");
	/* the one it opened is closed again */
	fds[nfds] = dup(null_fd);
	CHECK(fds[nfds] >= 0);
	nfds++;
	while (nfds)
		close(fds[--nfds]);
	close(null_fd);
}

TEST(submit_copies_the_call_into_one_job_and_resets_the_task)
{
	enum { N = 65 };
	struct kvt_key keys[N];
	static uint8_t data[N][8];
	const void *bufs[N];
	size_t lens[N];
	/* exactly (N + 63) / 64 words, so ASan sees a reset that overruns */
	uint64_t *bitmap = malloc(2 * sizeof(*bitmap));
	struct kvt_l2_task task = { .bitmap = bitmap, .bytes = 123, .done = 1 };
	struct fake_job *job;

	fake_init();
	memset(bitmap, 0xff, 2 * sizeof(*bitmap));
	for (size_t i = 0; i < N; i++) {
		keys[i] = key_of(i);
		bufs[i] = data[i];
		lens[i] = i % 8 + 1;
	}
	CHECK_EQ(l2_glue_submit(&f.g, KVT_L2_STORE, keys, bufs, lens, N, &task), 0);
	CHECK_EQ(atomic_load(&f.submits), 1);
	CHECK_EQ(atomic_load(&f.g.users), 0);
	CHECK(bitmap[0] == 0 && bitmap[1] == 0);
	CHECK_EQ(task.bytes, 0);
	CHECK(!kvt_l2_task_done(&task));
	job = (struct fake_job *)f.last;
	CHECK(job != NULL);
	CHECK_EQ(job->l2.op, KVT_L2_STORE);
	CHECK_EQ(job->l2.n, N);
	CHECK(job->l2.task == &task);
	/* the actor's own fields come zeroed, the arrays after them */
	CHECK(job->own[0] == 0 && job->own[1] == 0 && job->own[2] == 0);
	CHECK((uint8_t *)job->l2.keys >= (uint8_t *)(job + 1));
	/* copies: the caller's arrays may go once submit returns */
	memset(keys, 0, sizeof(keys));
	memset(bufs, 0, sizeof(bufs));
	memset(lens, 0, sizeof(lens));
	for (size_t i = 0; i < N; i++) {
		struct kvt_key k = key_of(i);

		CHECK_ROW(i, job->l2.keys[i].lo == k.lo && job->l2.keys[i].hi == k.hi);
		CHECK_ROW(i, job->l2.bufs[i] == data[i]);
		CHECK_ROW(i, job->l2.lens[i] == i % 8 + 1);
	}
	l2_glue_complete(&f.g, &job->l2);
	CHECK(kvt_l2_task_done(&task));
	l2_glue_fini(&f.g);
	free(bitmap);
}

TEST(lookup_carries_no_buffers_and_lookup_and_load_zero_the_lengths)
{
	struct kvt_key keys[3] = { key_of(1), key_of(2), key_of(3) };
	static uint8_t data[3][16];
	void *bufs[3] = { data[0], data[1], data[2] };
	size_t sizes[3] = { 16, 16, 16 }, lens[3];
	uint64_t bitmap[1];
	struct kvt_l2_task task = { .bitmap = bitmap, .lens = lens };

	fake_init();
	for (int op = KVT_L2_LOOKUP; op <= KVT_L2_LOAD; op++) {
		bool load = op == KVT_L2_LOAD;

		memset(lens, 0x5a, sizeof(lens));
		CHECK_ROW(op, l2_glue_submit(&f.g, (enum kvt_l2_op)op, keys,
					     load ? (const void *const *)bufs : NULL,
					     load ? sizes : NULL, 3, &task) == 0);
		/* a miss reads 0: the actor writes only the hits */
		CHECK_ROW(op, lens[0] == 0 && lens[1] == 0 && lens[2] == 0);
		CHECK_ROW(op, (int)f.last->op == op);
		CHECK_ROW(op, load ? f.last->bufs[2] == data[2] && f.last->lens[2] == 16 :
				     f.last->bufs == NULL && f.last->lens == NULL);
		l2_glue_complete(&f.g, f.last);
	}
	/* a LOOKUP may leave lengths out */
	task.lens = NULL;
	CHECK_EQ(l2_glue_submit(&f.g, KVT_L2_LOOKUP, keys, NULL, NULL, 3, &task), 0);
	l2_glue_complete(&f.g, f.last);
	l2_glue_fini(&f.g);
}

TEST(bad_arguments_are_einval_and_never_reach_the_actor)
{
	struct kvt_key keys[1] = { key_of(1) };
	static uint8_t data[8];
	const void *bufs[1] = { data };
	size_t lens[1] = { 8 };
	uint64_t bitmap[1];
	struct kvt_l2_task task = { .bitmap = bitmap }, nomap = { 0 };
	static const struct {
		enum kvt_l2_op op;
		bool keys, bufs, lens, task, bitmap;
	} rows[] = {
		{ KVT_L2_STORE, true, true, true, false, true },
		{ KVT_L2_STORE, false, true, true, true, true },
		{ KVT_L2_STORE, true, true, true, true, false },
		{ KVT_L2_STORE, true, false, true, true, true },
		{ KVT_L2_STORE, true, true, false, true, true },
		{ KVT_L2_LOAD, true, false, true, true, true },
		{ KVT_L2_LOAD, true, true, false, true, true },
		{ KVT_L2_LOOKUP, false, false, false, true, true },
		{ KVT_L2_LOOKUP, true, false, false, true, false },
	};

	fake_init();
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct kvt_l2_task *t = !rows[r].task ? NULL : rows[r].bitmap ? &task : &nomap;

		CHECK_ROW(r, l2_glue_submit(&f.g, rows[r].op, rows[r].keys ? keys : NULL,
					    rows[r].bufs ? bufs : NULL, rows[r].lens ? lens : NULL,
					    1, t) == -EINVAL);
	}
	CHECK_EQ(l2_glue_remove(&f.g, NULL, 1, NULL), -EINVAL);
	CHECK_EQ(atomic_load(&f.submits), 0);
	CHECK_EQ(atomic_load(&f.deletes), 0);
	CHECK_EQ(atomic_load(&f.g.users), 0);
	/* no keys: no key, buffer or length array nor bitmap needed */
	CHECK_EQ(l2_glue_submit(&f.g, KVT_L2_STORE, NULL, bufs, lens, 0, &nomap), 0);
	CHECK_EQ(f.last->n, 0);
	l2_glue_complete(&f.g, f.last);
	CHECK_EQ(l2_glue_submit(&f.g, KVT_L2_STORE, NULL, NULL, NULL, 0, &nomap), 0);
	CHECK_EQ(f.last->n, 0);
	l2_glue_complete(&f.g, f.last);
	l2_glue_fini(&f.g);
}

TEST(a_refused_submit_gives_the_job_back_and_the_task_stays_usable)
{
	struct kvt_key keys[2] = { key_of(1), key_of(2) };
	uint64_t bitmap[1];
	struct kvt_l2_task task = { .bitmap = bitmap };

	fake_init();
	f.submit_ret = -ETIMEDOUT;
	/* the job is freed here (LeakSanitizer fails the case otherwise) */
	CHECK_EQ(l2_glue_submit(&f.g, KVT_L2_LOOKUP, keys, NULL, NULL, 2, &task), -ETIMEDOUT);
	CHECK_EQ(atomic_load(&f.g.users), 0);
	CHECK(f.last == NULL);
	f.submit_ret = 0;
	CHECK_EQ(l2_glue_submit(&f.g, KVT_L2_LOOKUP, keys, NULL, NULL, 2, &task), 0);
	CHECK_EQ(atomic_load(&f.submits), 2);
	l2_glue_complete(&f.g, f.last);
	CHECK(kvt_l2_task_done(&task));
	l2_glue_fini(&f.g);
}

static _Atomic int on_done_calls, done_seen_in_on_done;

static void on_done(struct kvt_l2_task *task)
{
	atomic_fetch_add(&on_done_calls, 1);
	atomic_store(&done_seen_in_on_done, kvt_l2_task_done(task) && task->bytes == 42);
}

/* The actor's side on a thread of its own: results, then complete. */
static void *complete_later(void *arg)
{
	struct l2_job *job = arg;

	usleep(20000);
	job->task->bitmap[0] = 1;
	job->task->bytes = 42;
	l2_glue_complete(&f.g, job);
	return NULL;
}

TEST(complete_publishes_done_then_wakes_the_op_fd_and_calls_on_done)
{
	struct kvt_key keys[1] = { key_of(9) };
	static uint8_t data[8];
	void *bufs[1] = { data };
	size_t lens[1] = { 8 };

	fake_init();
	for (int op = 0; op < KVT_L2_NOPS; op++) {
		uint64_t bitmap[1];
		struct kvt_l2_task task = { .bitmap = bitmap, .on_done = op ? on_done : NULL };
		struct pollfd pfd = { .fd = l2_glue_event_fd(&f.g, (enum kvt_l2_op)op),
				      .events = POLLIN };
		pthread_t th;

		atomic_store(&on_done_calls, 0);
		atomic_store(&done_seen_in_on_done, 0);
		CHECK_ROW(op, l2_glue_submit(&f.g, (enum kvt_l2_op)op, keys,
					     (const void *const *)bufs, lens, 1, &task) == 0);
		CHECK_EQ(pthread_create(&th, NULL, complete_later, f.last), 0);
		/* the engine's wait: poll the op's fd, then read the task */
		CHECK_ROW(op, poll(&pfd, 1, 5000) == 1);
		CHECK_ROW(op, efd_read(pfd.fd) == 1);
		CHECK_ROW(op, kvt_l2_task_done(&task) && task.bytes == 42 && bitmap[0] == 1);
		pthread_join(th, NULL);
		/* only this op's fd woke */
		for (int other = 0; other < KVT_L2_NOPS; other++)
			CHECK_ROW(other, efd_read(l2_glue_event_fd(&f.g, (enum kvt_l2_op)other)) ==
						 -EAGAIN);
		CHECK_ROW(op, atomic_load(&on_done_calls) == (op ? 1 : 0));
		CHECK_ROW(op, atomic_load(&done_seen_in_on_done) == (op ? 1 : 0));
	}
	l2_glue_fini(&f.g);
}

TEST(remove_runs_one_delete_job_and_returns_what_it_deleted)
{
	struct kvt_key keys[5] = { key_of(1), key_of(2), key_of(3), key_of(4), key_of(5) };
	int results[5] = { 9, 9, 9, 9, 9 };

	fake_init();
	CHECK_EQ(l2_glue_remove(&f.g, keys, 5, results), 3);
	CHECK(results[0] == 0 && results[1] == -ENOENT && results[2] == 0 &&
	      results[3] == -ENOENT && results[4] == 0);
	/* results are optional */
	CHECK_EQ(l2_glue_remove(&f.g, keys, 2, NULL), 1);
	f.delete_ret = -ETIMEDOUT;
	CHECK_EQ(l2_glue_remove(&f.g, keys, 5, results), -ETIMEDOUT);
	CHECK_EQ(atomic_load(&f.deletes), 3);
	CHECK_EQ(atomic_load(&f.submits), 0);
	CHECK_EQ(atomic_load(&f.g.users), 0);
	l2_glue_fini(&f.g);
}

static _Atomic int closed;

static void *close_glue(void *arg)
{
	(void)arg;
	l2_glue_close(&f.g);
	atomic_store(&closed, 1);
	return NULL;
}

static void *submit_one(void *arg)
{
	struct kvt_l2_task *task = arg;
	struct kvt_key keys[1] = { key_of(1) };

	CHECK_EQ(l2_glue_submit(&f.g, KVT_L2_LOOKUP, keys, NULL, NULL, 1, task), 0);
	return NULL;
}

TEST(close_refuses_new_work_and_waits_for_a_submit_in_flight)
{
	struct kvt_key keys[1] = { key_of(1) };
	uint64_t bitmap[1], bitmap2[1];
	struct kvt_l2_task task = { .bitmap = bitmap }, late = { .bitmap = bitmap2 };
	pthread_t sub, closer;

	fake_init();
	f.complete_inline = true;
	atomic_store(&f.gate, 1);
	CHECK_EQ(pthread_create(&sub, NULL, submit_one, &task), 0);
	while (!atomic_load(&f.in_submit))
		usleep(1000);
	CHECK_EQ(pthread_create(&closer, NULL, close_glue, NULL), 0);
	while (!atomic_load(&f.g.closing))
		usleep(1000);
	usleep(100000);
	/* the submit in flight holds close back */
	CHECK(!atomic_load(&closed));
	CHECK_EQ(atomic_load(&f.g.users), 1);
	/* and nothing new gets in */
	CHECK_EQ(l2_glue_submit(&f.g, KVT_L2_LOOKUP, keys, NULL, NULL, 1, &late), -ESHUTDOWN);
	CHECK_EQ(l2_glue_remove(&f.g, keys, 1, NULL), -ESHUTDOWN);
	CHECK_EQ(l2_glue_enter(&f.g), -ESHUTDOWN);
	CHECK_EQ(atomic_load(&f.g.users), 1);
	atomic_store(&f.gate, 0);
	pthread_join(sub, NULL);
	pthread_join(closer, NULL);
	CHECK(atomic_load(&closed));
	CHECK(kvt_l2_task_done(&task));
	CHECK_EQ(atomic_load(&f.submits), 1);
	CHECK_EQ(atomic_load(&f.deletes), 0);
	l2_glue_fini(&f.g);
}

#define RACERS 4

struct racer {
	int ok, refused;
};

static void *submit_until_refused(void *arg)
{
	struct racer *r = arg;
	struct kvt_key keys[2] = { key_of(1), key_of(2) };
	uint64_t bitmap[1];
	struct kvt_l2_task task = { .bitmap = bitmap };

	for (;;) {
		int ret = l2_glue_submit(&f.g, KVT_L2_LOOKUP, keys, NULL, NULL, 2, &task);

		if (ret == -ESHUTDOWN) {
			r->refused++;
			return NULL;
		}
		CHECK_EQ(ret, 0);
		CHECK(kvt_l2_task_done(&task));
		r->ok++;
	}
}

TEST(racing_submitters_never_post_after_close_returned)
{
	for (int round = 0; round < 20; round++) {
		struct racer r[RACERS] = { { 0 } };
		pthread_t th[RACERS];
		int ok = 0;

		fake_init();
		f.complete_inline = true;
		for (int i = 0; i < RACERS; i++)
			CHECK_EQ(pthread_create(&th[i], NULL, submit_until_refused, &r[i]), 0);
		usleep(2000);
		l2_glue_close(&f.g);
		/* the actor stops here: from now on a post is a use after stop */
		atomic_store(&f.stopped, 1);
		for (int i = 0; i < RACERS; i++) {
			pthread_join(th[i], NULL);
			CHECK_ROW(i, r[i].refused == 1);
			ok += r[i].ok;
		}
		CHECK_ROW(round, atomic_load(&f.late) == 0);
		CHECK_EQ(atomic_load(&f.submits), ok);
		CHECK_EQ(atomic_load(&f.g.users), 0);
		/* every completion woke the LOOKUP fd once */
		CHECK_EQ(efd_read(l2_glue_event_fd(&f.g, KVT_L2_LOOKUP)), ok ? ok : -EAGAIN);
		l2_glue_fini(&f.g);
	}
}
