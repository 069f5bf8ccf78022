// SPDX-License-Identifier: Apache-2.0
/*
 * python/ext/module.c - the kvtier._kvtier module: its types and its
 * exceptions, one per meaning of kvtier's codes (kvtier.h).
 */
#include <errno.h>
#include <stdio.h>

#include "python/ext/ext.h"

PyObject *ext_error;
static PyObject *closed_error, *busy_error, *nospace_error, *timeout_error, *notfound_error,
	*config_error;

static PyObject *type_of(int err)
{
	switch (-err) {
	case ESHUTDOWN:
		return closed_error;
	case EBUSY:
	case EAGAIN:
		return busy_error;
	case ENOSPC:
	case EMSGSIZE:
	case ENOMEM:
		return nospace_error;
	case ETIMEDOUT:
		return timeout_error;
	case ENOENT:
		return notfound_error;
	case EINVAL:
		return config_error;
	default:
		return ext_error;
	}
}

PyObject *ext_raise(int err, const char *what)
{
	char msg[512];
	PyObject *exc;

	if (err > 0)
		err = -err;
	snprintf(msg, sizeof(msg), "%s%s%s", what ? what : "", what && *what ? ": " : "",
		 kvt_strerror(err));
	exc = PyObject_CallFunction(type_of(err), "is", -err, msg);
	if (exc) {
		PyErr_SetObject(type_of(err), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

static int add_error(PyObject *m, PyObject **slot, const char *name, PyObject *base,
		     const char *doc)
{
	char qualified[64];

	snprintf(qualified, sizeof(qualified), "kvtier.%s", name);
	*slot = PyErr_NewExceptionWithDoc(qualified, doc, base, NULL);
	if (!*slot)
		return -1;
	Py_INCREF(*slot);
	return PyModule_AddObject(m, name, *slot) ? -1 : 0;
}

static PyMethodDef module_methods[] = {
	{ "_set_buffer_adapter", ext_set_buffer_adapter, METH_O,
	  "_set_buffer_adapter(fn): fn(obj) -> an object with the buffer protocol over obj's "
	  "memory, for objects without one (torch tensors); None removes it" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module_def = {
	PyModuleDef_HEAD_INIT,
	.m_name = "kvtier._kvtier",
	.m_doc = "kvtier's C extension; use the kvtier package.",
	.m_size = -1,
	.m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__kvtier(void)
{
	PyObject *m = PyModule_Create(&module_def), *store;

	if (!m)
		return NULL;
	if (add_error(m, &ext_error, "Error", PyExc_OSError,
		      "A kvtier call failed: .errno and .strerror say why.") ||
	    add_error(m, &closed_error, "ClosedError", ext_error,
		      "The store is closed, or closing (ESHUTDOWN).") ||
	    add_error(m, &busy_error, "BusyError", ext_error,
		      "Pinned or locked: nothing changed (EBUSY), or call again (EAGAIN).") ||
	    add_error(m, &nospace_error, "NoSpaceError", ext_error,
		      "No slot could be freed, or a chunk larger than a slot.") ||
	    add_error(m, &timeout_error, "TimeoutError", ext_error,
		      "A bounded wait inside kvtier expired (ETIMEDOUT).") ||
	    add_error(m, &notfound_error, "NotFoundError", ext_error, "No such key (ENOENT).") ||
	    add_error(m, &config_error, "ConfigError", ext_error,
		      "A bad config key or value, or a config kvtier cannot open (EINVAL)."))
		goto err;
	store = PyType_FromSpec(&store_spec);
	if (!store || PyModule_AddObject(m, "Store", store))
		goto err;
	lease_type = PyType_FromSpec(&lease_spec);
	if (!lease_type)
		goto err;
	Py_INCREF(lease_type);
	if (PyModule_AddObject(m, "Lease", lease_type))
		goto err;
	return m;
err:
	Py_DECREF(m);
	return NULL;
}
