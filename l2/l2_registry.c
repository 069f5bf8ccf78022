/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/l2_registry.c - see l2_registry.h.
 *
 * A plugin's types point into its mapping, so a plugin whose init fails
 * has the types it did register taken back out before it is unloaded, and
 * a loaded plugin stays mapped until l2_registry_fini().
 */
#include "l2/l2_registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "kvtier/l2.h"

static void record(struct l2_registry *r, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void record(struct l2_registry *r, const char *path, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warn("l2 plugin %s skipped: %s", path, reason);
	if (r->nerrors < L2_MAX_LOAD_ERRORS) {
		struct l2_load_error *e = &r->errors[r->nerrors];

		snprintf(e->path, sizeof(e->path), "%s", path);
		snprintf(e->reason, sizeof(e->reason), "%s", reason);
	}
	r->nerrors++;
}

const struct kvt_l2_ops *l2_registry_find(const struct l2_registry *r, const char *type)
{
	for (size_t i = 0; i < r->ntypes; i++)
		if (!strcmp(r->ops[i]->type, type))
			return r->ops[i];
	return NULL;
}

int l2_registry_add(struct l2_registry *r, const struct kvt_l2_ops *ops, const char *origin,
		    char *err, size_t errlen)
{
	const char *type = ops && ops->type && *ops->type ? ops->type : "(unnamed)";

	if (!ops || !ops->type || !*ops->type) {
		snprintf(err, errlen, "an adapter type without a name");
		return -EINVAL;
	}
	/* the version first: a table of another ABI may not even have the
	 * layout the checks below read */
	if (ops->abi_version != KVT_L2_ABI_VERSION) {
		snprintf(err, errlen, "type \"%s\": built for L2 ABI version %u, this library speaks %u",
			 type, ops->abi_version, KVT_L2_ABI_VERSION);
		return -EPROTO;
	}
	if (!ops->create || !ops->destroy || !ops->event_fd || !ops->submit_store ||
	    !ops->submit_lookup || !ops->submit_load || !ops->unlock || !ops->remove ||
	    !ops->status) {
		snprintf(err, errlen, "type \"%s\": the ops table lacks a function", type);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->ntypes; i++) {
		if (!strcmp(r->ops[i]->type, type)) {
			snprintf(err, errlen, "type \"%s\" already registered (by %s)", type,
				 r->origin[i]);
			return -EEXIST;
		}
	}
	if (r->ntypes == L2_MAX_TYPES) {
		snprintf(err, errlen, "type \"%s\": registry full (%d types)", type,
			 L2_MAX_TYPES);
		return -E2BIG;
	}
	r->ops[r->ntypes] = ops;
	r->origin[r->ntypes++] = origin;
	return 0;
}

void l2_registry_init(struct l2_registry *r, const struct kvt_l2_ops *const *builtins)
{
	char err[256];

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; builtins[i]; i++)
		if (l2_registry_add(r, builtins[i], "built-in", err, sizeof(err)))
			log_error("l2 registry: %s", err);
}

/* What a plugin's register function sees: it adds through the host. */
struct plugin_load {
	struct l2_registry *r;
	const char *path;
	size_t added;
	size_t refused;
	char first_refusal[224];
};

static int host_add(struct kvt_l2_host *host, const struct kvt_l2_ops *ops)
{
	struct plugin_load *pl = host->priv;
	char err[224];
	int ret = l2_registry_add(pl->r, ops, pl->path, err, sizeof(err));

	if (ret) {
		/* reported once per plugin, after its init returns */
		if (!pl->refused++)
			snprintf(pl->first_refusal, sizeof(pl->first_refusal), "%s", err);
	} else {
		pl->added++;
	}
	return ret;
}

int l2_registry_load_file(struct l2_registry *r, const char *path)
{
	struct plugin_load pl = { .r = r };
	struct kvt_l2_host host = {
		.abi_version = KVT_L2_ABI_VERSION, .add = host_add, .priv = &pl,
	};
	kvt_l2_plugin_register_fn fn;
	size_t before = r->ntypes;
	char *owned;
	void *h;
	int ret;

	if (r->nplugins == L2_MAX_PLUGINS) {
		record(r, path, "more than %d plugins", L2_MAX_PLUGINS);
		return -E2BIG;
	}
	owned = strdup(path);
	if (!owned) {
		record(r, path, "out of memory");
		return -ENOMEM;
	}
	pl.path = owned;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		record(r, path, "dlopen: %s", dlerror());
		free(owned);
		return -ENOEXEC;
	}
	*(void **)&fn = dlsym(h, KVT_L2_PLUGIN_SYMBOL);
	if (!fn) {
		record(r, path, "no %s symbol", KVT_L2_PLUGIN_SYMBOL);
		ret = -ENOEXEC;
		goto unload;
	}
	ret = fn(&host);
	if (pl.refused)
		record(r, path, "%s", pl.first_refusal);
	else if (ret < 0)
		record(r, path, "its init failed: %s", strerror(-ret));
	else if (!pl.added)
		record(r, path, "registered no adapter type");
	if (ret < 0 || !pl.added) {
		r->ntypes = before;
		ret = ret < 0 ? ret : -ENOENT;
		goto unload;
	}
	r->handles[r->nplugins] = h;
	r->paths[r->nplugins++] = owned;
	log_info("l2 plugin %s: %zu adapter type(s)", path, pl.added);
	return 0;

unload:
	dlclose(h);
	free(owned);
	return ret;
}

static int so_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 3 && !strcmp(d->d_name + len - 3, ".so");
}

static size_t load_dir(struct l2_registry *r, const char *dir)
{
	struct dirent **names;
	size_t loaded = 0;
	int n = scandir(dir, &names, so_filter, alphasort);

	if (n < 0) {
		record(r, dir, "cannot read the plugin directory: %s", strerror(errno));
		return 0;
	}
	for (int i = 0; i < n; i++) {
		char path[4096 + 256];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		loaded += l2_registry_load_file(r, path) == 0;
		free(names[i]);
	}
	free(names);
	return loaded;
}

size_t l2_registry_load_dirs(struct l2_registry *r, const char *dirs)
{
	size_t loaded = 0;
	const char *p = dirs;

	while (p && *p) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		char dir[4096];

		if (len && len < sizeof(dir)) {
			memcpy(dir, p, len);
			dir[len] = '\0';
			loaded += load_dir(r, dir);
		}
		p = colon ? colon + 1 : NULL;
	}
	return loaded;
}

void l2_registry_names(const struct l2_registry *r, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < r->ntypes && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					r->ops[i]->type);
}

void l2_registry_fini(struct l2_registry *r)
{
	while (r->nplugins) {
		r->nplugins--;
		dlclose(r->handles[r->nplugins]);
		free(r->paths[r->nplugins]);
	}
	r->ntypes = 0;
}
