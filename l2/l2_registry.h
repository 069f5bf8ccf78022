/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/l2_registry.h - L2 adapter types by name: the built-ins, then the
 * plugins found in plugin directories.  A plugin that cannot be loaded (no
 * such file, missing symbol, wrong ABI, a type already taken, its own init
 * failing) is reported with its path and reason and skipped; the others
 * still load.  One registry per kvt instance, so instances never share
 * plugin state.
 *
 * Threads: one owner (kvt_open()/kvt_close()); find() may be called from
 * any thread once loading is over.
 */
#ifndef KVT_L2_L2_REGISTRY_H
#define KVT_L2_L2_REGISTRY_H

#include <stddef.h>

#include "kvtier/l2.h"

#define L2_MAX_TYPES 32
#define L2_MAX_PLUGINS 16
#define L2_MAX_LOAD_ERRORS 16

struct l2_load_error {
	char path[256];        /* the plugin file */
	char reason[256];      /* names the type where one is involved */
};

struct l2_registry {
	const struct kvt_l2_ops *ops[L2_MAX_TYPES];
	const char *origin[L2_MAX_TYPES];   /* "built-in" or the plugin's path */
	size_t ntypes;
	void *handles[L2_MAX_PLUGINS];      /* dlopen handles of loaded plugins */
	char *paths[L2_MAX_PLUGINS];
	size_t nplugins;
	struct l2_load_error errors[L2_MAX_LOAD_ERRORS];
	size_t nerrors;                     /* may exceed L2_MAX_LOAD_ERRORS: count only */
};

/* l2_registry_init() - a registry holding @builtins (NULL-terminated), the
 * types compiled into the library. */
void l2_registry_init(struct l2_registry *r, const struct kvt_l2_ops *const *builtins);

/*
 * l2_registry_add() - register @ops as coming from @origin.
 * Return: 0; -EEXIST a type of that name exists; -EPROTO another ABI
 * version; -EINVAL a missing name or function; -E2BIG registry full.
 * @err says which, naming the type.
 */
int l2_registry_add(struct l2_registry *r, const struct kvt_l2_ops *ops, const char *origin,
		    char *err, size_t errlen);

/*
 * l2_registry_load_dirs() - load every *.so (sorted by name) in each
 * directory of the colon-separated @dirs.  Each failure is logged and
 * recorded in r->errors.  Blocks: dlopen.
 * Return: plugins loaded.
 */
size_t l2_registry_load_dirs(struct l2_registry *r, const char *dirs);

/* l2_registry_load_file() - load one plugin file (see load_dirs).
 * Return: 0, or a negative code (recorded and logged). */
int l2_registry_load_file(struct l2_registry *r, const char *path);

/* The ops of @type, or NULL. */
const struct kvt_l2_ops *l2_registry_find(const struct l2_registry *r, const char *type);

/* "fs, resp, ..." into @buf: for messages about an unknown type. */
void l2_registry_names(const struct l2_registry *r, char *buf, size_t len);

/* l2_registry_fini() - unload plugins; every adapter must be destroyed. */
void l2_registry_fini(struct l2_registry *r);

#endif /* KVT_L2_L2_REGISTRY_H */
