/* SPDX-License-Identifier: Apache-2.0 */
/*
 * python/ext/ext.h - what the files of kvtier's CPython extension
 * (kvtier._kvtier) share.
 *
 * Built against the limited API of Python 3.11 (one .so for every Python
 * >= 3.11) and kvtier's public header only.  Rules every file keeps:
 *  - every call into kvtier that can block runs with the GIL released, between
 *    store_enter() and store_leave(), so close() waits for it;
 *  - C threads (the executor's, kvtier's callbacks) never touch a Python
 *    object: buffers exported to a job are released by drain() or close(),
 *    which hold the GIL;
 *  - arguments are checked, and Python errors raised, before kvtier is called.
 */
#ifndef KVT_PYTHON_EXT_H
#define KVT_PYTHON_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ck_ring.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kvtier.h"

/* Executor threads per store: they run the submitted batches, each blocking
 * in kvtier at most as long as one kvt_ call does. */
#define EXT_WORKERS 2
/* Batches submitted and not yet drained, at most (a power of two minus one
 * fits the rings). */
#define EXT_RING 4096

struct ext_job;

/* One batch's arrays, in one allocation: keys, and for calls with buffers
 * the exported views, addresses, lengths, per-key out lengths and results. */
struct ext_batch {
	Py_ssize_t n;
	Py_ssize_t nviews;	/* views exported, to release */
	struct kvt_key *keys;
	Py_buffer *views;
	void **ptrs;
	size_t *lens;
	size_t *out_lens;
	int *results;
};

struct store {
	PyObject_HEAD
	struct kvt *kvt;
	size_t chunk_bytes;
	size_t chunk_tokens;
	_Atomic uint32_t users;	/* [atomic] calls inside kvtier; close waits for 0 */
	_Atomic bool closing;	/* [atomic] close() began */
	uint32_t leases;	/* borrows not released (GIL); close() refuses while any */
	/* the executor: started by the first submit; its fields below are
	 * touched with the GIL held, except the rings and the semaphore */
	bool executor;
	int efd;		/* completions waiting (eventfd, non-blocking) */
	uint64_t next_id;
	uint32_t inflight;	/* jobs submitted and not drained */
	struct ck_ring todo;	/* MPMC: submitters -> workers */
	struct ck_ring done;	/* MPMC: workers, kvtier callbacks -> drain */
	ck_ring_buffer_t *todo_buf, *done_buf;
	sem_t todo_sem;		/* one post per queued job, one per worker at close */
	pthread_t workers[EXT_WORKERS];
};

/* module.c */
extern PyObject *ext_error;	/* kvtier.Error, an OSError */
/* Raise the kvtier.Error subclass of @err (negative errno) with kvt_strerror()'s
 * text, prefixed by @what.  Return: NULL, for `return ext_raise(...)`. */
PyObject *ext_raise(int err, const char *what);

/* convert.c: Python arguments to kvtier's, checked. */
/* batch_keys() - @b's keys from @keys and room for @n of everything else.
 * Return: 0, or -1 with a Python error set and nothing to free. */
int batch_keys(struct ext_batch *b, PyObject *keys);
/* batch_buffers() - export @bufs (or, with @sizes, take @bufs as addresses
 * and @sizes as their lengths) for @b's keys.  Return: 0, or -1. */
int batch_buffers(struct ext_batch *b, PyObject *bufs, PyObject *sizes, bool writable,
		  size_t max_len);
/* batch_free() - release the views and free the arrays; GIL held. */
void batch_free(struct ext_batch *b);
/* @seq (list or tuple of 16-byte bytes) into a new array of keys in *@out.
 * Return: the count, or -1 with a Python error set. */
Py_ssize_t ext_keys(PyObject *seq, struct kvt_key **out);
PyObject *ext_key_bytes(const struct kvt_key *key);
/* Export @n buffers of @seq (C-contiguous, writable when @writable; no
 * longer than @max_len for a put, not empty) into @views, their addresses
 * and lengths into @ptrs and @lens.  Return: 0, or -1 with a Python error
 * set and nothing exported. */
int ext_buffers(PyObject *seq, Py_ssize_t n, bool writable, size_t max_len, Py_buffer *views,
		void **ptrs, size_t *lens);
void ext_release(Py_buffer *views, Py_ssize_t n);
/* kvtier._kvtier._set_buffer_adapter(fn): see convert.c. */
PyObject *ext_set_buffer_adapter(PyObject *module, PyObject *fn);
/* @seq of @n ints (addresses or sizes) into @out.  Return: 0, or -1. */
int ext_sizes(PyObject *seq, Py_ssize_t n, const char *what, size_t *out);

/* store.c */
extern PyType_Spec store_spec;
/* store_enter() - count a call about to enter kvtier.  Return: 0, or -1
 * with kvtier.Error (ESHUTDOWN) set once close() began. */
int store_enter(struct store *s);
void store_leave(struct store *s);

/* executor.c */
PyObject *executor_submit(struct store *s, PyObject *args, int op);
PyObject *executor_prefetch(struct store *s, PyObject *args);
PyObject *executor_drain(struct store *s, PyObject *unused);
PyObject *executor_event_fd(struct store *s, PyObject *unused);
/* Stop the workers after the queued jobs ran and free what was not
 * drained.  GIL held; blocks (with the GIL released) for the jobs. */
void executor_close(struct store *s);

enum ext_op { EXT_GET, EXT_SET, EXT_EXISTS, EXT_DELETE, EXT_PREFETCH };

/* bench.c */
PyObject *bench_c_loop(struct store *s, PyObject *args);

/* lease.c */
extern PyType_Spec lease_spec;
extern PyObject *lease_type;
PyObject *lease_new(struct store *s, const struct kvt_key *key);

#endif
