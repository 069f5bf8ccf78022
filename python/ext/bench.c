// SPDX-License-Identifier: Apache-2.0
/*
 * python/ext/bench.c - the C side of `python3 -m kvtier.bench`: the same
 * batch calls the Store makes, on the same buffers, in a C loop, so the
 * Python package is measured against the C API in the same run.
 *
 * Threads: the calling Python thread, the GIL released for the loop.
 */
#include <errno.h>
#include <time.h>

#include "python/ext/ext.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * _c_loop(op, keys, bufs, reps) -> seconds: @reps kvt_get() ("get") of the
 * batch @keys into @bufs, or @reps kvt_put() ("put") of @bufs, rep i under
 * keys[i * len(bufs) ...]: fresh keys, so that every put copies.
 */
PyObject *bench_c_loop(struct store *s, PyObject *args)
{
	PyObject *keys, *bufs, *one = NULL;
	struct ext_batch b, k;
	Py_ssize_t reps, n;
	const char *op;
	double t0, t;
	ssize_t r = 0;
	bool put;

	if (!PyArg_ParseTuple(args, "sOOn:_c_loop", &op, &keys, &bufs, &reps))
		return NULL;
	put = op[0] == 'p';
	n = PyObject_Length(bufs);
	if (n < 0 || batch_keys(&k, keys))
		return NULL;
	if (k.n != (put ? n * reps : n)) {
		batch_free(&k);
		PyErr_SetString(PyExc_ValueError, "_c_loop: keys for each rep's buffers");
		return NULL;
	}
	/* the buffers' batch, under the first rep's keys */
	one = PyList_GetSlice(keys, 0, n);
	if (!one || batch_keys(&b, one)) {
		Py_XDECREF(one);
		batch_free(&k);
		return NULL;
	}
	Py_DECREF(one);
	if (batch_buffers(&b, bufs, NULL, !put, put ? s->chunk_bytes : 0) || store_enter(s)) {
		batch_free(&b);
		batch_free(&k);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	t0 = now_s();
	for (Py_ssize_t i = 0; i < reps && r >= 0; i++) {
		if (put)
			r = kvt_put(s->kvt, k.keys + i * n, (const void *const *)b.ptrs, b.lens,
				    (size_t)n, b.results, NULL, NULL);
		else
			r = kvt_get(s->kvt, k.keys, (size_t)n, b.ptrs, b.lens, b.out_lens);
	}
	t = now_s() - t0;
	Py_END_ALLOW_THREADS
	store_leave(s);
	batch_free(&b);
	batch_free(&k);
	if (r < 0)
		return ext_raise((int)r, "kvtier bench C loop");
	return PyFloat_FromDouble(t);
}
