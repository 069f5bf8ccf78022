// SPDX-License-Identifier: Apache-2.0
/*
 * python/ext/lease.c - kvtier._kvtier.Lease: a chunk read in place
 * (kvt_borrow), released when the Lease is collected.
 *
 * The limited API of Python 3.11 gives a heap type no buffer protocol, and a
 * memoryview over raw memory owns nothing: a view derived from it would
 * outlive a release.  So kvtier.Store.borrow() builds the view in Python
 * over a ctypes array that holds this Lease: whatever still reads the bytes
 * (a numpy array over the view) keeps the Lease, and with it the chunk,
 * alive, and the last reference releases it.
 *
 * Threads: GIL held throughout; kvt_borrow and kvt_release never block.
 */
#include <errno.h>

#include "python/ext/ext.h"

PyObject *lease_type;

struct lease {
	PyObject_HEAD
	struct store *s;	/* a reference: the store outlives its leases */
	struct kvt_lease l;
	bool held;
};

PyObject *lease_new(struct store *s, const struct kvt_key *key)
{
	struct lease *le;
	int ret;

	if (store_enter(s))
		return NULL;
	le = PyObject_New(struct lease, (PyTypeObject *)lease_type);
	if (!le) {
		store_leave(s);
		return NULL;
	}
	le->held = false;
	Py_INCREF((PyObject *)s);
	le->s = s;
	ret = kvt_borrow(s->kvt, key, &le->l);
	store_leave(s);
	if (ret) {
		Py_DECREF((PyObject *)le);
		return ext_raise(ret, "kvt_borrow");
	}
	le->held = true;
	s->leases++;
	return (PyObject *)le;
}

static PyObject *lease_address(struct lease *le, void *unused)
{
	return PyLong_FromVoidPtr(le->l.data);
}

static PyObject *lease_length(struct lease *le, void *unused)
{
	return PyLong_FromSize_t(le->l.len);
}

static void lease_dealloc(struct lease *le)
{
	PyTypeObject *type = Py_TYPE((PyObject *)le);

	if (le->held) {
		kvt_release(le->s->kvt, &le->l);
		le->s->leases--;
	}
	Py_DECREF((PyObject *)le->s);
	PyObject_Free(le);
	Py_DECREF(type);
}

static PyGetSetDef lease_getset[] = {
	{ "address", (getter)lease_address, NULL, "where the chunk's bytes are", NULL },
	{ "length", (getter)lease_length, NULL, "the chunk's length", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyType_Slot lease_slots[] = {
	{ Py_tp_doc, "A borrowed chunk (use kvtier.Store.borrow)." },
	{ Py_tp_dealloc, lease_dealloc },
	{ Py_tp_getset, lease_getset },
	{ 0, NULL },
};

PyType_Spec lease_spec = {
	.name = "kvtier._kvtier.Lease",
	.basicsize = sizeof(struct lease),
	.flags = Py_TPFLAGS_DEFAULT,
	.slots = lease_slots,
};
