// SPDX-License-Identifier: Apache-2.0
/*
 * python/ext/store.c - kvtier._kvtier.Store: one kvtier instance and its
 * blocking calls (the asynchronous ones are executor.c's).
 *
 * Threads: any Python thread, concurrently; each call releases the GIL
 * while it is inside kvtier.  close() waits for the calls inside kvtier
 * (users), then for the executor, then closes the instance.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "python/ext/ext.h"

int store_enter(struct store *s)
{
	/* seq_cst pairs with close(): either it sees us in users, or we see closing */
	atomic_fetch_add_explicit(&s->users, 1, memory_order_seq_cst);
	if (!s->kvt || atomic_load_explicit(&s->closing, memory_order_seq_cst)) {
		atomic_fetch_sub_explicit(&s->users, 1, memory_order_seq_cst);
		ext_raise(-ESHUTDOWN, "kvtier.Store");
		return -1;
	}
	return 0;
}

void store_leave(struct store *s)
{
	atomic_fetch_sub_explicit(&s->users, 1, memory_order_seq_cst);
}

/* @value as kvtier reads a knob: bools lower case, everything else str(). */
static int set_knob(struct kvt_config *cfg, PyObject *key, PyObject *value)
{
	const char *k, *v;
	PyObject *text;
	char err[512];
	int ret;

	if (!PyUnicode_Check(key)) {
		PyErr_SetString(PyExc_TypeError, "knob names are str");
		return -1;
	}
	k = PyUnicode_AsUTF8AndSize(key, NULL);
	if (value == Py_True || value == Py_False)
		text = PyUnicode_FromString(value == Py_True ? "true" : "false");
	else
		text = PyObject_Str(value);
	if (!k || !text) {
		Py_XDECREF(text);
		return -1;
	}
	v = PyUnicode_AsUTF8AndSize(text, NULL);
	if (!v) {
		Py_DECREF(text);
		return -1;
	}
	ret = kvt_config_set(cfg, k, v, err, sizeof(err));
	Py_DECREF(text);
	if (ret) {
		ext_raise(ret, err);
		return -1;
	}
	return 0;
}

/* Store(config=None, knobs=None): the defaults, then the YAML file @config,
 * then the KVT_* environment, then @knobs (what the code says wins). */
static int store_init(struct store *s, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "config", "knobs", NULL };
	PyObject *config = Py_None, *knobs = Py_None, *key, *value;
	struct kvt_config *cfg;
	Py_ssize_t pos = 0;
	char err[512] = "", num[32];
	int ret;

	if (s->kvt) {
		PyErr_SetString(PyExc_RuntimeError, "kvtier.Store is open already");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:Store", kwlist, &config, &knobs))
		return -1;
	if ((config != Py_None && !PyUnicode_Check(config)) ||
	    (knobs != Py_None && !PyDict_Check(knobs))) {
		PyErr_SetString(PyExc_TypeError, "Store(config: str | None, knobs: dict | None)");
		return -1;
	}
	ret = kvt_config_new(&cfg);
	if (ret) {
		ext_raise(ret, "kvt_config_new");
		return -1;
	}
	if (config != Py_None) {
		ret = kvt_config_load_yaml(cfg, PyUnicode_AsUTF8AndSize(config, NULL), err,
					   sizeof(err));
		if (ret)
			goto err_raise;
	}
	ret = kvt_config_apply_env(cfg, err, sizeof(err));
	if (ret)
		goto err_raise;
	while (knobs != Py_None && PyDict_Next(knobs, &pos, &key, &value))
		if (set_knob(cfg, key, value))
			goto err_free;
	if (kvt_config_get(cfg, "chunk_size", num, sizeof(num)) > 0)
		s->chunk_tokens = strtoull(num, NULL, 10);
	Py_BEGIN_ALLOW_THREADS
	ret = kvt_open(cfg, &s->kvt, err, sizeof(err));
	Py_END_ALLOW_THREADS
	if (ret) {
		s->kvt = NULL;
		goto err_raise;
	}
	kvt_config_free(cfg);
	s->chunk_bytes = kvt_chunk_bytes(s->kvt);
	s->efd = -1;
	return 0;
err_raise:
	ext_raise(ret, err);
err_free:
	kvt_config_free(cfg);
	return -1;
}

static PyObject *store_close(struct store *s, PyObject *unused)
{
	struct timespec nap = { 0, 1000000 };
	struct kvt *kvt = s->kvt;

	if (!kvt)
		Py_RETURN_NONE;
	/* kvt_close() would wait for them for ever */
	if (s->leases)
		return ext_raise(-EBUSY, "kvtier.Store.close: a borrowed chunk is not released");
	atomic_store_explicit(&s->closing, true, memory_order_seq_cst);
	Py_BEGIN_ALLOW_THREADS
	while (atomic_load_explicit(&s->users, memory_order_seq_cst))
		nanosleep(&nap, NULL);
	Py_END_ALLOW_THREADS
	executor_close(s);
	s->kvt = NULL;
	Py_BEGIN_ALLOW_THREADS
	kvt_close(kvt);
	Py_END_ALLOW_THREADS
	Py_RETURN_NONE;
}

static void store_dealloc(struct store *s)
{
	PyTypeObject *type = Py_TYPE((PyObject *)s);
	freefunc free_fn = (freefunc)PyType_GetSlot(type, Py_tp_free);

	PyObject *r = store_close(s, NULL);

	if (!r)
		PyErr_WriteUnraisable((PyObject *)s);
	Py_XDECREF(r);
	free_fn(s);
	Py_DECREF(type);
}

/* Tokens as uint32: a buffer of 4- or 8-byte integers, or any iterable of ints. */
static uint32_t *tokens_of(PyObject *obj, Py_ssize_t *n)
{
	uint32_t *t = NULL;
	Py_buffer v;
	PyObject *seq;

	if (PyObject_CheckBuffer(obj) && !PyBytes_Check(obj) &&
	    PyObject_GetBuffer(obj, &v, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) == 0) {
		*n = v.itemsize ? v.len / v.itemsize : 0;
		t = (v.itemsize == 4 || v.itemsize == 8) ? PyMem_Malloc(((size_t)*n + 1) * 4) : NULL;
		for (Py_ssize_t i = 0; t && i < *n; i++) {
			uint64_t x = v.itemsize == 4 ? ((uint32_t *)v.buf)[i] : ((uint64_t *)v.buf)[i];

			if (x > UINT32_MAX) {
				PyMem_Free(t);
				t = NULL;
			} else {
				t[i] = (uint32_t)x;
			}
		}
		PyBuffer_Release(&v);
		if (!t)
			PyErr_SetString(PyExc_ValueError,
					"tokens: 4- or 8-byte integers in [0, 2**32) expected");
		return t;
	}
	PyErr_Clear();
	seq = PySequence_Tuple(obj);
	if (!seq)
		return NULL;
	*n = PyTuple_Size(seq);
	t = PyMem_Malloc(((size_t)*n + 1) * 4);
	for (Py_ssize_t i = 0; t && i < *n; i++) {
		unsigned long x = PyLong_AsUnsignedLong(PyTuple_GetItem(seq, i));

		if ((x == (unsigned long)-1 && PyErr_Occurred()) || x > UINT32_MAX) {
			PyErr_Clear();
			PyErr_Format(PyExc_ValueError, "tokens[%zd]: an int in [0, 2**32)", i);
			PyMem_Free(t);
			t = NULL;
		} else {
			t[i] = (uint32_t)x;
		}
	}
	if (!t && !PyErr_Occurred())
		PyErr_NoMemory();
	Py_DECREF(seq);
	return t;
}

static PyObject *key_list(const struct kvt_key *keys, Py_ssize_t n)
{
	PyObject *list = PyList_New(n);

	for (Py_ssize_t i = 0; list && i < n; i++) {
		PyObject *b = ext_key_bytes(&keys[i]);

		if (!b) {
			Py_CLEAR(list);
			break;
		}
		PyList_SetItem(list, i, b);
	}
	return list;
}

static PyObject *store_chunk_keys(struct store *s, PyObject *tokens)
{
	struct kvt_key *keys;
	PyObject *list = NULL;
	Py_ssize_t n, nkeys;
	uint32_t *t;
	ssize_t r;

	if (store_enter(s))
		return NULL;
	t = tokens_of(tokens, &n);
	nkeys = t ? (n + (Py_ssize_t)s->chunk_tokens - 1) / (Py_ssize_t)s->chunk_tokens : 0;
	keys = t ? PyMem_Malloc((size_t)(nkeys + 1) * sizeof(*keys)) : NULL;
	if (keys) {
		r = kvt_chunk_keys(s->kvt, t, (size_t)n, keys, (size_t)nkeys);
		list = r < 0 ? ext_raise((int)r, "kvt_chunk_keys") : key_list(keys, r);
	} else if (t) {
		PyErr_NoMemory();
	}
	PyMem_Free(keys);
	PyMem_Free(t);
	store_leave(s);
	return list;
}

/* An engine's id (bytes or str) into its key. */
static int id_key(struct store *s, PyObject *id, Py_ssize_t i, struct kvt_key *out)
{
	const char *data;
	Py_ssize_t len;
	char *b;

	if (PyUnicode_Check(id)) {
		data = PyUnicode_AsUTF8AndSize(id, &len);
		if (!data)
			return -1;
	} else if (PyBytes_Check(id) && !PyBytes_AsStringAndSize(id, &b, &len)) {
		data = b;
	} else {
		PyErr_Format(PyExc_TypeError, "ids[%zd]: bytes or str", i);
		return -1;
	}
	kvt_key_of(s->kvt, data, (size_t)len, out);
	return 0;
}

static PyObject *store_key(struct store *s, PyObject *id)
{
	struct kvt_key k;
	PyObject *r;

	if (store_enter(s))
		return NULL;
	r = id_key(s, id, 0, &k) ? NULL : ext_key_bytes(&k);
	store_leave(s);
	return r;
}

static PyObject *store_keys(struct store *s, PyObject *ids)
{
	PyObject *seq, *list = NULL;
	struct kvt_key k;
	Py_ssize_t n;

	if (store_enter(s))
		return NULL;
	seq = PySequence_Tuple(ids);
	n = seq ? PyTuple_Size(seq) : 0;
	list = seq ? PyList_New(n) : NULL;
	for (Py_ssize_t i = 0; list && i < n; i++) {
		PyObject *b = id_key(s, PyTuple_GetItem(seq, i), i, &k) ? NULL : ext_key_bytes(&k);

		if (!b)
			Py_CLEAR(list);
		else
			PyList_SetItem(list, i, b);
	}
	Py_XDECREF(seq);
	store_leave(s);
	return list;
}

/*
 * put(keys, bufs) and put_ptrs(keys, ptrs, sizes) -> per-key results;
 * get(keys, bufs) and get_ptrs(keys, ptrs, sizes) -> lengths, None for holes.
 */
static PyObject *buffers_call(struct store *s, PyObject *keys, PyObject *bufs, PyObject *sizes,
			      bool put)
{
	struct ext_batch b;
	PyObject *list = NULL;
	ssize_t r;

	if (batch_keys(&b, keys))
		return NULL;
	if (batch_buffers(&b, bufs, sizes, !put, put ? s->chunk_bytes : 0) || store_enter(s))
		goto out;
	Py_BEGIN_ALLOW_THREADS
	if (put)
		r = kvt_put(s->kvt, b.keys, (const void *const *)b.ptrs, b.lens, (size_t)b.n,
			    b.results, NULL, NULL);
	else
		r = kvt_get(s->kvt, b.keys, (size_t)b.n, b.ptrs, b.lens, b.out_lens);
	Py_END_ALLOW_THREADS
	store_leave(s);
	if (r < 0) {
		ext_raise((int)r, put ? "kvt_put" : "kvt_get");
		goto out;
	}
	list = PyList_New(b.n);
	for (Py_ssize_t i = 0; list && i < b.n; i++) {
		PyObject *v = put ? PyLong_FromLong(b.results[i])
			      : b.out_lens[i] ? PyLong_FromSize_t(b.out_lens[i]) : Py_NewRef(Py_None);

		if (!v)
			Py_CLEAR(list);
		else
			PyList_SetItem(list, i, v);
	}
out:
	batch_free(&b);
	return list;
}

static PyObject *store_put(struct store *s, PyObject *args)
{
	PyObject *keys, *bufs;

	return PyArg_ParseTuple(args, "OO:put", &keys, &bufs)
		       ? buffers_call(s, keys, bufs, NULL, true) : NULL;
}

static PyObject *store_put_ptrs(struct store *s, PyObject *args)
{
	PyObject *keys, *ptrs, *sizes;

	return PyArg_ParseTuple(args, "OOO:put_ptrs", &keys, &ptrs, &sizes)
		       ? buffers_call(s, keys, ptrs, sizes, true) : NULL;
}

static PyObject *store_get(struct store *s, PyObject *args)
{
	PyObject *keys, *bufs;

	return PyArg_ParseTuple(args, "OO:get", &keys, &bufs)
		       ? buffers_call(s, keys, bufs, NULL, false) : NULL;
}

static PyObject *store_get_ptrs(struct store *s, PyObject *args)
{
	PyObject *keys, *ptrs, *sizes;

	return PyArg_ParseTuple(args, "OOO:get_ptrs", &keys, &ptrs, &sizes)
		       ? buffers_call(s, keys, ptrs, sizes, false) : NULL;
}

/* contains(keys, pin=False) -> prefix length; unpin(keys) -> keys unpinned;
 * remove(keys, force=False) -> per-key results. */
enum keys_op { OP_CONTAINS, OP_UNPIN, OP_REMOVE };

static PyObject *keys_call(struct store *s, PyObject *args, PyObject *kw, enum keys_op op)
{
	static const char *const fmt[] = { "O|p:contains", "O:unpin", "O|p:remove" };
	static char *kw_pin[] = { "keys", "pin", NULL }, *kw_force[] = { "keys", "force", NULL },
		    *kw_keys[] = { "keys", NULL };
	PyObject *keys, *list = NULL;
	struct ext_batch b;
	int flag = 0;
	ssize_t r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, fmt[op],
					 op == OP_REMOVE ? kw_force : op == OP_UNPIN ? kw_keys : kw_pin,
					 &keys, &flag) ||
	    batch_keys(&b, keys))
		return NULL;
	if (store_enter(s))
		goto out;
	Py_BEGIN_ALLOW_THREADS
	if (op == OP_CONTAINS)
		r = kvt_contains(s->kvt, b.keys, (size_t)b.n, flag ? KVT_PIN : 0);
	else if (op == OP_UNPIN)
		r = kvt_unpin(s->kvt, b.keys, (size_t)b.n);
	else
		r = kvt_remove(s->kvt, b.keys, (size_t)b.n, flag ? KVT_FORCE : 0, b.results);
	Py_END_ALLOW_THREADS
	store_leave(s);
	if (r < 0) {
		ext_raise((int)r, op == OP_CONTAINS ? "kvt_contains" :
				  op == OP_UNPIN ? "kvt_unpin" : "kvt_remove");
	} else if (op != OP_REMOVE) {
		list = PyLong_FromSsize_t(r);
	} else {
		list = PyList_New(b.n);
		for (Py_ssize_t i = 0; list && i < b.n; i++)
			PyList_SetItem(list, i, PyLong_FromLong(b.results[i]));
	}
out:
	batch_free(&b);
	return list;
}

static PyObject *store_contains(struct store *s, PyObject *args, PyObject *kw)
{
	return keys_call(s, args, kw, OP_CONTAINS);
}

static PyObject *store_unpin(struct store *s, PyObject *args, PyObject *kw)
{
	return keys_call(s, args, kw, OP_UNPIN);
}

static PyObject *store_remove(struct store *s, PyObject *args, PyObject *kw)
{
	return keys_call(s, args, kw, OP_REMOVE);
}

static PyObject *store_flush(struct store *s, PyObject *unused)
{
	int ret;

	if (store_enter(s))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	ret = kvt_flush(s->kvt);
	Py_END_ALLOW_THREADS
	store_leave(s);
	if (ret)
		return ext_raise(ret, "kvt_flush");
	Py_RETURN_NONE;
}

static PyObject *store_stats(struct store *s, PyObject *unused)
{
	struct kvt_stats st;
	const char *name;
	PyObject *dict;
	uint64_t v;

	if (store_enter(s))
		return NULL;
	kvt_stats(s->kvt, &st, sizeof(st));
	store_leave(s);
	dict = PyDict_New();
	for (size_t i = 0; dict && kvt_stats_field(&st, i, &name, NULL, NULL, &v) == 0; i++) {
		PyObject *value = PyLong_FromUnsignedLongLong(v);

		if (!value || PyDict_SetItemString(dict, name, value))
			Py_CLEAR(dict);
		Py_XDECREF(value);
	}
	return dict;
}

static PyObject *store_prometheus(struct store *s, PyObject *unused)
{
	PyObject *text = NULL;
	size_t len = 16384;
	ssize_t r = -ENOSPC;
	char *buf = NULL;

	if (store_enter(s))
		return NULL;
	while (r == -ENOSPC && len <= (64u << 20)) {
		len *= 2;
		PyMem_Free(buf);
		buf = PyMem_Malloc(len);
		r = buf ? kvt_stats_prometheus(s->kvt, buf, len) : -ENOMEM;
	}
	store_leave(s);
	text = r < 0 ? ext_raise((int)r, "kvt_stats_prometheus")
		     : PyUnicode_FromStringAndSize(buf, r);
	PyMem_Free(buf);
	return text;
}

static PyObject *store_borrow(struct store *s, PyObject *key)
{
	struct ext_batch b;
	PyObject *lease = NULL, *one = PyTuple_Pack(1, key);

	if (!one || batch_keys(&b, one)) {
		Py_XDECREF(one);
		return NULL;
	}
	lease = lease_new(s, &b.keys[0]);
	batch_free(&b);
	Py_DECREF(one);
	return lease;
}

static PyObject *submit_get(struct store *s, PyObject *a) { return executor_submit(s, a, EXT_GET); }
static PyObject *submit_set(struct store *s, PyObject *a) { return executor_submit(s, a, EXT_SET); }
static PyObject *submit_exists(struct store *s, PyObject *a)
{
	return executor_submit(s, a, EXT_EXISTS);
}
static PyObject *submit_delete(struct store *s, PyObject *a)
{
	return executor_submit(s, a, EXT_DELETE);
}

static PyObject *get_chunk_bytes(struct store *s, void *unused)
{
	return PyLong_FromSize_t(s->chunk_bytes);
}

static PyObject *get_closed(struct store *s, void *unused)
{
	return PyBool_FromLong(!s->kvt);
}

#define M(name, fn, flags, doc) { name, (PyCFunction)(void (*)(void))fn, flags, doc }
static PyMethodDef store_methods[] = {
	M("close", store_close, METH_NOARGS, "close(): idempotent; waits for calls in flight"),
	M("chunk_keys", store_chunk_keys, METH_O, "chunk_keys(tokens) -> list of keys"),
	M("key", store_key, METH_O, "key(id: bytes | str) -> key"),
	M("keys", store_keys, METH_O, "keys(ids) -> list of keys"),
	M("put", store_put, METH_VARARGS, "put(keys, bufs) -> per-key results"),
	M("put_ptrs", store_put_ptrs, METH_VARARGS, "put_ptrs(keys, ptrs, sizes)"),
	M("get", store_get, METH_VARARGS, "get(keys, bufs) -> lengths, None for holes"),
	M("get_ptrs", store_get_ptrs, METH_VARARGS, "get_ptrs(keys, ptrs, sizes)"),
	M("contains", store_contains, METH_VARARGS | METH_KEYWORDS, "contains(keys, pin=False) -> prefix"),
	M("unpin", store_unpin, METH_VARARGS | METH_KEYWORDS, "unpin(keys) -> keys unpinned"),
	M("remove", store_remove, METH_VARARGS | METH_KEYWORDS, "remove(keys, force=False) -> results"),
	M("flush", store_flush, METH_NOARGS, "flush(): wait for lower-tier writes"),
	M("stats", store_stats, METH_NOARGS, "stats() -> dict of counters"),
	M("prometheus", store_prometheus, METH_NOARGS, "prometheus() -> text"),
	M("borrow", store_borrow, METH_O, "borrow(key) -> Lease"),
	M("event_fd", executor_event_fd, METH_NOARGS, "event_fd() -> fd of completions"),
	M("submit_get", submit_get, METH_VARARGS, "submit_get(keys, bufs) -> id"),
	M("submit_set", submit_set, METH_VARARGS, "submit_set(keys, bufs) -> id"),
	M("submit_exists", submit_exists, METH_VARARGS, "submit_exists(keys) -> id"),
	M("submit_delete", submit_delete, METH_VARARGS, "submit_delete(keys) -> id"),
	M("prefetch", executor_prefetch, METH_VARARGS, "prefetch(keys, bufs) -> id"),
	M("drain", executor_drain, METH_NOARGS, "drain() -> completions"),
	M("_c_loop", bench_c_loop, METH_VARARGS, "_c_loop(op, keys, bufs, reps) -> seconds"),
	{ NULL, NULL, 0, NULL },
};
#undef M

static PyGetSetDef store_getset[] = {
	{ "chunk_bytes", (getter)get_chunk_bytes, NULL, "bytes of one full chunk", NULL },
	{ "closed", (getter)get_closed, NULL, "True once close() ran", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyType_Slot store_slots[] = {
	{ Py_tp_doc, "One kvtier instance (use kvtier.Store)." },
	{ Py_tp_new, PyType_GenericNew },
	{ Py_tp_init, store_init },
	{ Py_tp_dealloc, store_dealloc },
	{ Py_tp_methods, store_methods },
	{ Py_tp_getset, store_getset },
	{ 0, NULL },
};

PyType_Spec store_spec = {
	.name = "kvtier._kvtier.Store",
	.basicsize = sizeof(struct store),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.slots = store_slots,
};
