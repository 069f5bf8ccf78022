// SPDX-License-Identifier: Apache-2.0
/*
 * python/ext/executor.c - the Store's asynchronous batches: submit_get/set/
 * exists/delete run on EXT_WORKERS threads of the extension, prefetch on
 * kvtier's restore workers; every finished batch goes to the done ring and
 * bumps the event fd, and drain() turns them into Python tuples.
 *
 * Threads: submit, drain and close run with the GIL held and own every
 * Python object; a job's kvtier call and its completion run on a worker or a
 * kvtier thread and touch only C memory.  A job is referenced from exactly
 * one place at a time: the todo ring, one worker (or kvtier's prefetch), the
 * done ring, then drain, which frees it.  The rings are never full: at most
 * EXT_RING - 1 jobs are in flight (inflight, GIL).
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "python/ext/ext.h"

struct ext_job {
	struct store *s;	/* outlives the job: close() waits for every job */
	uint64_t id;
	enum ext_op op;
	bool lengths;		/* get: report lengths, not bools */
	struct ext_batch b;
	ssize_t ret;		/* the kvtier call's return */
};

static void complete(struct ext_job *j)
{
	struct store *s = j->s;
	uint64_t one = 1;
	ssize_t w;

	ck_ring_enqueue_mpmc(&s->done, s->done_buf, j);
	/* after the enqueue: drain() resets the fd before it dequeues */
	do
		w = write(s->efd, &one, sizeof(one));
	while (w < 0 && errno == EINTR);
}

static void run(struct ext_job *j)
{
	struct kvt *kvt = j->s->kvt;
	struct ext_batch *b = &j->b;
	size_t n = (size_t)b->n;
	ssize_t r;

	switch (j->op) {
	case EXT_GET:
		j->ret = kvt_get(kvt, b->keys, n, b->ptrs, b->lens, b->out_lens);
		break;
	case EXT_SET:
		j->ret = kvt_put(kvt, b->keys, (const void *const *)b->ptrs, b->lens, n, b->results,
				 NULL, NULL);
		break;
	case EXT_EXISTS:
		/* per key, not a prefix: LMCache asks of keys that need not chain */
		j->ret = 0;
		for (size_t i = 0; i < n && j->ret >= 0; i++) {
			r = kvt_contains(kvt, &b->keys[i], 1, 0);
			b->results[i] = r > 0;
			j->ret = r < 0 ? r : j->ret + r;
		}
		break;
	case EXT_DELETE:
		j->ret = kvt_remove(kvt, b->keys, n, 0, b->results);
		break;
	case EXT_PREFETCH:
		break;
	}
}

static void *worker(void *arg)
{
	struct store *s = arg;
	struct ext_job *j;

	for (;;) {
		while (sem_wait(&s->todo_sem) && errno == EINTR)
			;
		/* a post with nothing queued is close()'s: stop */
		if (!ck_ring_dequeue_mpmc(&s->todo, s->todo_buf, &j))
			return NULL;
		run(j);
		complete(j);
	}
}

static void prefetch_done(void *arg, uint64_t ticket, ssize_t hits)
{
	struct ext_job *j = arg;

	j->ret = hits;
	complete(j);
}

/* Start the workers on first use.  Return: 0, or -1 with an error set. */
static int start(struct store *s)
{
	int i;

	if (s->executor)
		return 0;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->todo_buf = PyMem_Calloc(EXT_RING + 1, sizeof(*s->todo_buf));
	s->done_buf = PyMem_Calloc(EXT_RING + 1, sizeof(*s->done_buf));
	if (s->efd < 0 || !s->todo_buf || !s->done_buf || sem_init(&s->todo_sem, 0, 0))
		goto err;
	ck_ring_init(&s->todo, EXT_RING);
	ck_ring_init(&s->done, EXT_RING);
	for (i = 0; i < EXT_WORKERS; i++) {
		if (pthread_create(&s->workers[i], NULL, worker, s)) {
			/* stop the ones that started: a post each with nothing queued */
			for (int k = 0; k < i; k++)
				sem_post(&s->todo_sem);
			for (int k = 0; k < i; k++)
				pthread_join(s->workers[k], NULL);
			sem_destroy(&s->todo_sem);
			goto err;
		}
	}
	s->executor = true;
	return 0;
err:
	if (s->efd >= 0)
		close(s->efd);
	s->efd = -1;
	PyMem_Free(s->todo_buf);
	PyMem_Free(s->done_buf);
	s->todo_buf = s->done_buf = NULL;
	ext_raise(-ENOMEM, "kvtier.Store executor");
	return -1;
}

/* A job for @keys (and @bufs) of @op, counted in flight.  Return: the job,
 * or NULL with an error set. */
static struct ext_job *job_new(struct store *s, enum ext_op op, PyObject *keys, PyObject *bufs)
{
	struct ext_job *j;

	if (start(s))
		return NULL;
	if (s->inflight >= EXT_RING - 1) {
		ext_raise(-EAGAIN, "kvtier.Store: too many batches in flight; drain() first");
		return NULL;
	}
	j = PyMem_Calloc(1, sizeof(*j));
	if (!j) {
		PyErr_NoMemory();
		return NULL;
	}
	if (batch_keys(&j->b, keys) ||
	    (bufs && batch_buffers(&j->b, bufs, NULL, op != EXT_SET,
				   op == EXT_SET ? s->chunk_bytes : 0))) {
		batch_free(&j->b);
		PyMem_Free(j);
		return NULL;
	}
	j->s = s;
	j->op = op;
	j->id = ++s->next_id;
	s->inflight++;
	return j;
}

PyObject *executor_submit(struct store *s, PyObject *args, int op)
{
	PyObject *keys, *bufs = NULL;
	int lengths = 0;
	struct ext_job *j;
	bool ok;

	if (op == EXT_GET || op == EXT_SET)
		ok = PyArg_ParseTuple(args, op == EXT_GET ? "OO|p:submit_get" : "OO:submit_set",
				      &keys, &bufs, &lengths);
	else
		ok = PyArg_ParseTuple(args, op == EXT_EXISTS ? "O:submit_exists" : "O:submit_delete",
				      &keys);
	if (!ok || store_enter(s))
		return NULL;
	j = job_new(s, op, keys, bufs);
	store_leave(s);
	if (!j)
		return NULL;
	j->lengths = lengths;
	ck_ring_enqueue_mpmc(&s->todo, s->todo_buf, j);
	sem_post(&s->todo_sem);
	return PyLong_FromUnsignedLongLong(j->id);
}

PyObject *executor_prefetch(struct store *s, PyObject *args)
{
	PyObject *keys, *bufs;
	struct ext_job *j;
	uint64_t id;
	int ret;

	if (!PyArg_ParseTuple(args, "OO:prefetch", &keys, &bufs) || store_enter(s))
		return NULL;
	j = job_new(s, EXT_PREFETCH, keys, bufs);
	if (!j) {
		store_leave(s);
		return NULL;
	}
	j->lengths = true;
	id = j->id;
	Py_BEGIN_ALLOW_THREADS
	ret = kvt_prefetch(s->kvt, j->b.keys, (size_t)j->b.n, j->b.ptrs, j->b.lens, j->b.out_lens,
			   prefetch_done, j, NULL);
	Py_END_ALLOW_THREADS
	store_leave(s);
	if (ret) {
		/* refused: the callback will not fire, the job is still ours */
		s->inflight--;
		batch_free(&j->b);
		PyMem_Free(j);
		return ext_raise(ret, "kvt_prefetch");
	}
	return PyLong_FromUnsignedLongLong(id);
}

/* The per-key results of a finished job: bools, or lengths (None for a hole). */
static PyObject *results_of(const struct ext_job *j)
{
	const struct ext_batch *b = &j->b;
	PyObject *list = PyList_New(b->n);

	for (Py_ssize_t i = 0; list && i < b->n; i++) {
		PyObject *v;

		if (j->lengths) {
			v = b->out_lens[i] && (j->op != EXT_PREFETCH || i < j->ret)
				    ? PyLong_FromSize_t(b->out_lens[i]) : Py_NewRef(Py_None);
		} else if (j->op == EXT_GET) {
			v = PyBool_FromLong(b->out_lens[i] > 0);
		} else if (j->op == EXT_DELETE) {
			v = PyBool_FromLong(b->results[i] == 0);
		} else {
			/* set: stored or already there; exists: present */
			v = PyBool_FromLong(j->op == EXT_SET ? b->results[i] >= 0 : b->results[i]);
		}
		if (!v)
			Py_CLEAR(list);
		else
			PyList_SetItem(list, i, v);
	}
	return list;
}

static void job_free(struct store *s, struct ext_job *j)
{
	batch_free(&j->b);
	PyMem_Free(j);
	s->inflight--;
}

PyObject *executor_drain(struct store *s, PyObject *unused)
{
	PyObject *out = PyList_New(0);
	struct ext_job *j;
	uint64_t count;

	if (!out || !s->executor)
		return out;
	/* reset first: a completion that lands after this read bumps it again */
	if (read(s->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return ext_raise(-errno, "kvtier.Store event fd");
	while (ck_ring_dequeue_mpmc(&s->done, s->done_buf, &j)) {
		bool ok = j->ret >= 0;
		PyObject *results = ok ? results_of(j) : Py_NewRef(Py_None);
		PyObject *t = results ? Py_BuildValue("(KOsN)", (unsigned long long)j->id,
						      ok ? Py_True : Py_False,
						      ok ? "" : kvt_strerror((int)j->ret), results)
				      : NULL;

		job_free(s, j);
		if (!t || PyList_Append(out, t)) {
			Py_XDECREF(t);
			Py_DECREF(out);
			return NULL;
		}
		Py_DECREF(t);
	}
	return out;
}

PyObject *executor_event_fd(struct store *s, PyObject *unused)
{
	if (store_enter(s))
		return NULL;
	store_leave(s);
	if (start(s))
		return NULL;
	return PyLong_FromLong(s->efd);
}

void executor_close(struct store *s)
{
	struct ext_job *j;

	if (!s->executor)
		return;
	for (int i = 0; i < EXT_WORKERS; i++)
		sem_post(&s->todo_sem);
	Py_BEGIN_ALLOW_THREADS
	for (int i = 0; i < EXT_WORKERS; i++)
		pthread_join(s->workers[i], NULL);
	/* the prefetches still on kvtier's workers */
	kvt_flush(s->kvt);
	Py_END_ALLOW_THREADS
	while (ck_ring_dequeue_mpmc(&s->done, s->done_buf, &j))
		job_free(s, j);
	sem_destroy(&s->todo_sem);
	close(s->efd);
	s->efd = -1;
	PyMem_Free(s->todo_buf);
	PyMem_Free(s->done_buf);
	s->todo_buf = s->done_buf = NULL;
	s->executor = false;
}
