// SPDX-License-Identifier: Apache-2.0
/*
 * python/ext/convert.c - Python arguments into kvtier's: keys (16-byte
 * bytes), buffers (anything exporting a C-contiguous buffer, torch tensors
 * through the package's adapter), addresses and sizes.  Every check raises
 * TypeError or ValueError before kvtier is called.  GIL held throughout.
 */
#include <stdint.h>
#include <string.h>

#include "python/ext/ext.h"

/* kvtier.Store's fallback for objects without the buffer protocol (torch
 * tensors): returns an object that has it, over the same memory. */
static PyObject *buffer_adapter;

PyObject *ext_set_buffer_adapter(PyObject *module, PyObject *fn)
{
	if (fn != Py_None && !PyCallable_Check(fn)) {
		PyErr_SetString(PyExc_TypeError, "the buffer adapter must be callable or None");
		return NULL;
	}
	Py_XDECREF(buffer_adapter);
	buffer_adapter = fn == Py_None ? NULL : fn;
	Py_XINCREF(buffer_adapter);
	Py_RETURN_NONE;
}

/* A list or tuple as one, or a new tuple of any other iterable. */
static PyObject *as_sequence(PyObject *seq, const char *what)
{
	if (PyList_Check(seq) || PyTuple_Check(seq)) {
		Py_INCREF(seq);
		return seq;
	}
	if (PyBytes_Check(seq) || PyUnicode_Check(seq)) {
		PyErr_Format(PyExc_TypeError, "%s: a list of them, not one", what);
		return NULL;
	}
	return PySequence_Tuple(seq);
}

static PyObject *item(PyObject *seq, Py_ssize_t i)
{
	return PyList_Check(seq) ? PyList_GetItem(seq, i) : PyTuple_GetItem(seq, i);
}

Py_ssize_t ext_keys(PyObject *keys, struct kvt_key **out)
{
	PyObject *seq = as_sequence(keys, "keys");
	struct kvt_key *k;
	Py_ssize_t n;

	if (!seq)
		return -1;
	n = PyObject_Length(seq);
	k = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(*k));
	if (!k) {
		Py_DECREF(seq);
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *b = item(seq, i);
		char *data;
		Py_ssize_t len;

		if (!PyBytes_Check(b) || PyBytes_AsStringAndSize(b, &data, &len) || len != 16) {
			PyErr_Clear();
			PyErr_Format(PyExc_TypeError,
				     "keys[%zd]: a 16-byte key (bytes) from key(), keys() or chunk_keys()",
				     i);
			PyMem_Free(k);
			Py_DECREF(seq);
			return -1;
		}
		memcpy(&k[i].lo, data, 8);
		memcpy(&k[i].hi, data + 8, 8);
	}
	Py_DECREF(seq);
	*out = k;
	return n;
}

PyObject *ext_key_bytes(const struct kvt_key *key)
{
	char b[16];

	memcpy(b, &key->lo, 8);
	memcpy(b + 8, &key->hi, 8);
	return PyBytes_FromStringAndSize(b, 16);
}

/* Export one buffer of @obj, through the adapter when it has no buffer
 * protocol of its own.  Return: 0, or -1 with an error naming bufs[@i]. */
static int export(PyObject *obj, Py_ssize_t i, bool writable, Py_buffer *view)
{
	int flags = writable ? PyBUF_WRITABLE : PyBUF_SIMPLE;
	PyObject *adapted;

	if (PyObject_GetBuffer(obj, view, flags) == 0)
		return 0;
	if (PyErr_ExceptionMatches(PyExc_TypeError) && buffer_adapter &&
	    !PyObject_CheckBuffer(obj)) {
		PyErr_Clear();
		adapted = PyObject_CallFunctionObjArgs(buffer_adapter, obj, NULL);
		if (!adapted)
			return -1;
		if (PyObject_GetBuffer(adapted, view, flags) == 0) {
			Py_DECREF(adapted);
			return 0;
		}
		Py_DECREF(adapted);
	}
	if (PyErr_ExceptionMatches(PyExc_BufferError)) {
		PyErr_Clear();
		PyErr_Format(PyExc_ValueError, "bufs[%zd]: %s", i,
			     writable ? "not a writable C-contiguous buffer"
				      : "not a C-contiguous buffer");
	} else if (PyErr_ExceptionMatches(PyExc_TypeError)) {
		PyObject *name = PyType_GetName(Py_TYPE(obj));

		PyErr_Clear();
		PyErr_Format(PyExc_TypeError, "bufs[%zd]: %S has no buffer (bytes, bytearray, "
			     "memoryview, numpy array or CPU torch tensor)", i, name);
		Py_XDECREF(name);
	}
	return -1;
}

int ext_buffers(PyObject *bufs, Py_ssize_t n, bool writable, size_t max_len, Py_buffer *views,
		void **ptrs, size_t *lens)
{
	PyObject *seq = as_sequence(bufs, "bufs");
	Py_ssize_t i;

	if (!seq)
		return -1;
	if (PyObject_Length(seq) != n) {
		PyErr_Format(PyExc_ValueError, "%zd keys but %zd buffers", n,
			     PyObject_Length(seq));
		Py_DECREF(seq);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (export(item(seq, i), i, writable, &views[i]))
			goto err;
		ptrs[i] = views[i].buf;
		lens[i] = (size_t)views[i].len;
		if (!lens[i] || (max_len && lens[i] > max_len)) {
			PyErr_Format(PyExc_ValueError, "bufs[%zd]: %zu bytes; a chunk is 1 to %zu",
				     i, lens[i], max_len);
			PyBuffer_Release(&views[i]);
			goto err;
		}
	}
	Py_DECREF(seq);
	return 0;
err:
	ext_release(views, i);
	Py_DECREF(seq);
	return -1;
}

void ext_release(Py_buffer *views, Py_ssize_t n)
{
	for (Py_ssize_t i = 0; i < n; i++)
		PyBuffer_Release(&views[i]);
}

int ext_sizes(PyObject *values, Py_ssize_t n, const char *what, size_t *out)
{
	PyObject *seq = as_sequence(values, what);

	if (!seq)
		return -1;
	if (PyObject_Length(seq) != n) {
		PyErr_Format(PyExc_ValueError, "%zd keys but %zd %s", n, PyObject_Length(seq), what);
		Py_DECREF(seq);
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		size_t v = PyLong_AsSize_t(item(seq, i));

		if (v == (size_t)-1 && PyErr_Occurred()) {
			PyErr_Clear();
			PyErr_Format(PyExc_TypeError, "%s[%zd]: a non-negative int", what, i);
			Py_DECREF(seq);
			return -1;
		}
		out[i] = v;
	}
	Py_DECREF(seq);
	return 0;
}

int batch_keys(struct ext_batch *b, PyObject *keys)
{
	struct kvt_key *k;
	Py_ssize_t n = ext_keys(keys, &k);
	size_t m;
	char *p;

	*b = (struct ext_batch){ .n = n };
	if (n < 0)
		return -1;
	m = (size_t)(n ? n : 1);
	p = PyMem_Calloc(m, sizeof(Py_buffer) + sizeof(void *) + 2 * sizeof(size_t) + sizeof(int));
	if (!p) {
		PyMem_Free(k);
		PyErr_NoMemory();
		return -1;
	}
	b->keys = k;
	b->views = (Py_buffer *)p;
	b->ptrs = (void **)(p + m * sizeof(Py_buffer));
	b->lens = (size_t *)(p + m * (sizeof(Py_buffer) + sizeof(void *)));
	b->out_lens = b->lens + m;
	b->results = (int *)(b->out_lens + m);
	return 0;
}

int batch_buffers(struct ext_batch *b, PyObject *bufs, PyObject *sizes, bool writable,
		  size_t max_len)
{
	if (!sizes) {
		if (ext_buffers(bufs, b->n, writable, max_len, b->views, b->ptrs, b->lens))
			return -1;
		b->nviews = b->n;
		return 0;
	}
	_Static_assert(sizeof(void *) == sizeof(size_t), "addresses read as size_t");
	if (ext_sizes(bufs, b->n, "ptrs", (size_t *)b->ptrs) ||
	    ext_sizes(sizes, b->n, "sizes", b->lens))
		return -1;
	for (Py_ssize_t i = 0; i < b->n; i++) {
		if (!b->ptrs[i] || !b->lens[i] || (max_len && b->lens[i] > max_len)) {
			PyErr_Format(PyExc_ValueError, "ptrs[%zd], sizes[%zd]: a null address, or "
				     "%zu bytes where a chunk is 1 to %zu", i, i, b->lens[i], max_len);
			return -1;
		}
	}
	return 0;
}

void batch_free(struct ext_batch *b)
{
	ext_release(b->views, b->nviews);
	b->nviews = 0;
	PyMem_Free(b->keys);
	PyMem_Free(b->views);
	b->keys = NULL;
	b->views = NULL;
}
