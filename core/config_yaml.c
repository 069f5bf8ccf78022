/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/config_yaml.c - kvt_config_load_yaml(): an LMCache-style YAML file
 * onto a config.
 *
 * libyaml's document API loads the whole file; the walk below turns every
 * scalar into a (dotted key, text) pair and hands it to config_set_one(),
 * the same path kvt_config_set() takes.  Key forms accepted, all equal:
 *
 *	l1.evict_low: 0.1			(dotted, top level)
 *	l1: {evict_low: 0.1}			(nested, top level)
 *	extra_config: {l1.evict_low: 0.1}	(dotted, LMCache's extra_config)
 *	extra_config: {l1: {evict_low: 0.1}}	(nested under extra_config)
 *
 * A map is read as nested keys only under a known section
 * (config_is_section()); anywhere else a map or sequence is passed on as
 * such, so an ignored LMCache key may hold one and a knob may not.
 *
 * The walk writes a copy of the config, which replaces the caller's only
 * when the whole file applied: a failed load changes nothing.
 *
 * Threads: none of its own; the config's owner calls it.
 */
#include "core/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "kvtier.h"

/* Deepest nesting of maps followed; also stops alias cycles. */
#define YAML_DEPTH_MAX 8
/* Longest rendering of a sequence or map quoted in a message. */
#define RENDER_MAX 64

/* A knob or LMCache key already applied from this file, and its line. */
struct seen_key {
	char key[256];
	size_t line;
};

struct yaml_walk {
	yaml_document_t *doc;
	struct kvt_config *cfg;
	const char *path;
	char *err;
	size_t errlen;
	struct seen_key *seen;		/* every leaf key applied so far */
	size_t nseen, seen_cap;
};

static void walk_err(struct yaml_walk *w, const yaml_node_t *at,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "@path:@line: message" into w->err. */
static void walk_err(struct yaml_walk *w, const yaml_node_t *at,
		     const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!w->err || !w->errlen)
		return;
	n = snprintf(w->err, w->errlen, "%s:%zu: ", w->path,
		     at ? at->start_mark.line + 1 : 0);
	if (n < 0 || (size_t)n >= w->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

struct render {
	char buf[RENDER_MAX + 4];
	size_t n;
	bool full;
};

static void render_put(struct render *r, const char *s, size_t len)
{
	if (r->full)
		return;
	if (r->n + len > RENDER_MAX) {
		len = RENDER_MAX - r->n;
		r->full = true;
	}
	memcpy(r->buf + r->n, s, len);
	r->n += len;
	if (r->full) {
		memcpy(r->buf + r->n, "...", 3);
		r->n += 3;
	}
	r->buf[r->n] = '\0';
}

/* A short flow-style rendering of @node, for error messages only. */
static void render_node(yaml_document_t *doc, yaml_node_t *node,
			struct render *r, int depth)
{
	if (!node || depth > YAML_DEPTH_MAX) {
		render_put(r, "...", 3);
		return;
	}
	switch (node->type) {
	case YAML_SCALAR_NODE:
		render_put(r, (const char *)node->data.scalar.value,
			   strnlen((const char *)node->data.scalar.value,
				   node->data.scalar.length));
		break;
	case YAML_SEQUENCE_NODE:
		render_put(r, "[", 1);
		for (yaml_node_item_t *i = node->data.sequence.items.start;
		     i < node->data.sequence.items.top; i++) {
			if (i != node->data.sequence.items.start)
				render_put(r, ", ", 2);
			render_node(doc, yaml_document_get_node(doc, *i), r,
				    depth + 1);
		}
		render_put(r, "]", 1);
		break;
	case YAML_MAPPING_NODE:
		render_put(r, "{", 1);
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
		     p < node->data.mapping.pairs.top; p++) {
			if (p != node->data.mapping.pairs.start)
				render_put(r, ", ", 2);
			render_node(doc, yaml_document_get_node(doc, p->key), r,
				    depth + 1);
			render_put(r, ": ", 2);
			render_node(doc, yaml_document_get_node(doc, p->value),
				    r, depth + 1);
		}
		render_put(r, "}", 1);
		break;
	default:
		break;
	}
}

/* A plain empty, "~" or "null" scalar: YAML's null, read as "". */
static bool scalar_is_null(const yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value;

	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") ||
	       !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static int walk_map(struct yaml_walk *w, yaml_node_t *map, const char *prefix,
		    int depth);

/*
 * Record leaf @key, given at @at.  The same key twice in one file is an
 * error naming both lines, whatever form each took (l1.evict_low at the
 * top level and again under extra_config, or nested under l1:): YAML's
 * last-wins would silently drop one of them.
 */
static int seen_add(struct yaml_walk *w, const char *key, const yaml_node_t *at)
{
	size_t line = at->start_mark.line + 1;

	for (size_t i = 0; i < w->nseen; i++) {
		if (strcmp(w->seen[i].key, key) == 0) {
			walk_err(w, at, "%s: given twice, at lines %zu and %zu", key,
				 w->seen[i].line, line);
			return -EINVAL;
		}
	}
	if (w->nseen == w->seen_cap) {
		size_t cap = w->seen_cap ? 2 * w->seen_cap : 32;
		struct seen_key *s = realloc(w->seen, cap * sizeof(*s));

		if (!s) {
			walk_err(w, at, "out of memory");
			return -ENOMEM;
		}
		w->seen = s;
		w->seen_cap = cap;
	}
	snprintf(w->seen[w->nseen].key, sizeof(w->seen[0].key), "%s", key);
	w->seen[w->nseen++].line = line;
	return 0;
}

static int walk_value(struct yaml_walk *w, const char *key, yaml_node_t *keynode,
		      yaml_node_t *val, int depth)
{
	char msg[512];
	struct render r = { .n = 0 };
	enum config_shape shape;
	const char *text;
	int ret;

	switch (val->type) {
	case YAML_SCALAR_NODE:
		text = (const char *)val->data.scalar.value;
		if (strlen(text) != val->data.scalar.length) {
			walk_err(w, val, "%s: value contains a NUL byte", key);
			return -EINVAL;
		}
		if (scalar_is_null(val))
			text = "";
		shape = CONFIG_SCALAR;
		break;
	case YAML_MAPPING_NODE:
		if (config_is_section(key))
			return walk_map(w, val, key, depth + 1);
		render_node(w->doc, val, &r, 0);
		text = r.buf;
		shape = CONFIG_MAP;
		break;
	case YAML_SEQUENCE_NODE:
		render_node(w->doc, val, &r, 0);
		text = r.buf;
		shape = CONFIG_SEQUENCE;
		break;
	default:
		walk_err(w, val, "%s: empty node", key);
		return -EINVAL;
	}
	ret = seen_add(w, key, keynode);
	if (ret)
		return ret;
	ret = config_set_one(w->cfg, key, text, shape, msg, sizeof(msg));
	if (ret)
		walk_err(w, val, "%s", msg);
	return ret;
}

/* extra_config: a map of knobs, or null; anything else is an error. */
static int walk_extra(struct yaml_walk *w, yaml_node_t *val, int depth)
{
	if (val->type == YAML_MAPPING_NODE)
		return walk_map(w, val, "", depth + 1);
	if (val->type == YAML_SCALAR_NODE && scalar_is_null(val))
		return 0;
	walk_err(w, val, "extra_config: must be a map");
	return -EINVAL;
}

/* Apply every pair of @map, keys prefixed with "@prefix." unless empty. */
static int walk_map(struct yaml_walk *w, yaml_node_t *map, const char *prefix,
		    int depth)
{
	char key[256];
	int ret;

	if (depth > YAML_DEPTH_MAX) {
		walk_err(w, map, "%s: nested more than %d maps deep", prefix,
			 YAML_DEPTH_MAX);
		return -EINVAL;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		const char *name;
		int n;

		if (!k || !v || k->type != YAML_SCALAR_NODE) {
			walk_err(w, k, "%s%sa key must be a scalar", prefix,
				 *prefix ? ": " : "");
			return -EINVAL;
		}
		name = (const char *)k->data.scalar.value;
		if (strlen(name) != k->data.scalar.length || !*name) {
			walk_err(w, k, "%s%sempty key or a key with a NUL byte",
				 prefix, *prefix ? ": " : "");
			return -EINVAL;
		}
		n = snprintf(key, sizeof(key), "%s%s%s", prefix,
			     *prefix ? "." : "", name);
		if (n < 0 || (size_t)n >= sizeof(key)) {
			walk_err(w, k, "unknown key '%.64s...': too long", key);
			return -EINVAL;
		}
		/* a section or extra_config twice in one map: its leaves may
		 * differ, but YAML forbids the repeated key itself */
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *qk = yaml_document_get_node(w->doc, q->key);

			if (qk && qk->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)qk->data.scalar.value, name) == 0) {
				walk_err(w, k, "%s: given twice, at lines %zu and %zu", key,
					 qk->start_mark.line + 1, k->start_mark.line + 1);
				return -EINVAL;
			}
		}
		if (depth == 0 && strcmp(key, "extra_config") == 0)
			ret = walk_extra(w, v, depth);
		else
			ret = walk_value(w, key, k, v, depth);
		if (ret)
			return ret;
	}
	return 0;
}

static void parser_err(struct yaml_walk *w, const yaml_parser_t *parser)
{
	if (!w->err || !w->errlen)
		return;
	if (parser->error == YAML_MEMORY_ERROR) {
		snprintf(w->err, w->errlen, "%s: out of memory parsing YAML",
			 w->path);
		return;
	}
	if (parser->context)
		snprintf(w->err, w->errlen,
			 "%s:%zu:%zu: malformed YAML: %s %s started at line %zu",
			 w->path, parser->problem_mark.line + 1,
			 parser->problem_mark.column + 1,
			 parser->problem ? parser->problem : "parse error",
			 parser->context, parser->context_mark.line + 1);
	else
		snprintf(w->err, w->errlen, "%s:%zu:%zu: malformed YAML: %s",
			 w->path, parser->problem_mark.line + 1,
			 parser->problem_mark.column + 1,
			 parser->problem ? parser->problem : "parse error");
}

static int load_yaml(struct kvt_config *cfg, const char *path, char *err, size_t errlen)
{
	struct yaml_walk w = { .path = path, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc, next;
	yaml_node_t *root;
	FILE *f;
	int ret;

	if (!cfg || !path) {
		if (err && errlen)
			snprintf(err, errlen, "kvt_config_load_yaml: NULL argument");
		return -EINVAL;
	}
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (!yaml_parser_initialize(&parser)) {
		ret = -ENOMEM;
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory parsing YAML", path);
		goto out_close;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		parser_err(&w, &parser);
		ret = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		goto out_parser;
	}
	if (ferror(f)) {
		ret = -EIO;
		if (err && errlen)
			snprintf(err, errlen, "%s: read error", path);
		goto out_doc;
	}
	root = yaml_document_get_root_node(&doc);
	ret = 0;
	if (!root)			/* an empty file sets nothing */
		goto out_doc;
	if (root->type != YAML_MAPPING_NODE) {
		walk_err(&w, root, "the top level must be a map of keys");
		ret = -EINVAL;
		goto out_doc;
	}
	w.doc = &doc;
	w.cfg = malloc(sizeof(*w.cfg));
	if (!w.cfg) {
		ret = -ENOMEM;
		goto out_doc;
	}
	*w.cfg = *cfg;
	ret = walk_map(&w, root, "", 0);
	if (ret)
		goto out_free;
	/* one document only: a second one would be silently dropped */
	if (!yaml_parser_load(&parser, &next)) {
		parser_err(&w, &parser);
		ret = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		goto out_free;
	}
	if (yaml_document_get_root_node(&next)) {
		walk_err(&w, yaml_document_get_root_node(&next),
			 "more than one YAML document");
		ret = -EINVAL;
	}
	yaml_document_delete(&next);
	if (!ret)
		*cfg = *w.cfg;
out_free:
	free(w.seen);
	free(w.cfg);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
out_close:
	fclose(f);
	return ret;
}

int kvt_config_load_yaml(struct kvt_config *cfg, const char *path, char *err,
			 size_t errlen)
{
	config_err_begin(err, errlen);
	return config_err_end(load_yaml(cfg, path, err, errlen), err, errlen, path ? path : "");
}
