/* SPDX-License-Identifier: Apache-2.0 */
/* core/l2_conf.c - see l2_conf.h. */
#include "core/l2_conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "core/mem.h"
#include "kvtier/l2.h"

static char *keep(struct l2_conf_list *l, const char *s, size_t len)
{
	char *copy = mem_alloc(len + 1);

	if (!copy)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	l->strings[l->nstrings++] = copy;
	return copy;
}

void l2_conf_free(struct l2_conf_list *l)
{
	while (l->nstrings)
		mem_free(l->strings[--l->nstrings]);
	l->n = 0;
}

static const char *scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/* One adapter object: flat members, "type" required.  @src is the whole
 * text, for the object's own JSON. */
static int parse_object(yaml_document_t *doc, yaml_node_t *obj, const char *src,
			struct l2_conf_list *l, char *err, size_t errlen)
{
	size_t i = l->n;
	struct kvt_l2_config *cfg = &l->cfg[i];
	size_t start = obj->start_mark.index, end = obj->end_mark.index;

	if (obj->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "l2_adapters #%zu: must be a JSON object with \"type\"", i);
		return -EINVAL;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->index = (uint32_t)i;
	cfg->params = l->params[i];
	cfg->json = keep(l, src + start, end > start ? end - start : 0);
	if (!cfg->json)
		return -ENOMEM;
	for (yaml_node_pair_t *p = obj->data.mapping.pairs.start;
	     p < obj->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		struct kvt_l2_param *par = &l->params[i][cfg->nparams];

		if (k->type != YAML_SCALAR_NODE) {
			snprintf(err, errlen, "l2_adapters #%zu: keys must be strings", i);
			return -EINVAL;
		}
		if (v->type != YAML_SCALAR_NODE) {
			snprintf(err, errlen, "l2_adapters #%zu: \"%s\": nested values are not supported",
				 i, scalar(k));
			return -EINVAL;
		}
		if (cfg->nparams == L2_CONF_MAX_PARAMS) {
			snprintf(err, errlen, "l2_adapters #%zu: more than %d members", i,
				 L2_CONF_MAX_PARAMS);
			return -EINVAL;
		}
		for (size_t j = 0; j < cfg->nparams; j++) {
			if (!strcmp(cfg->params[j].key, scalar(k))) {
				snprintf(err, errlen, "l2_adapters #%zu: \"%s\" given twice", i,
					 scalar(k));
				return -EINVAL;
			}
		}
		par->key = keep(l, scalar(k), k->data.scalar.length);
		par->value = keep(l, scalar(v), v->data.scalar.length);
		if (!par->key || !par->value)
			return -ENOMEM;
		if (strlen(par->value) != v->data.scalar.length) {
			snprintf(err, errlen, "l2_adapters #%zu: \"%s\": value contains a NUL byte", i,
				 par->key);
			return -EINVAL;
		}
		if (!strcmp(par->key, "type"))
			cfg->type = par->value;
		cfg->nparams++;
	}
	if (!cfg->type || !*cfg->type) {
		snprintf(err, errlen, "l2_adapters #%zu: %s: no \"type\"", i, cfg->json);
		return -EINVAL;
	}
	l->n++;
	return 0;
}

static int parse_root(yaml_document_t *doc, const char *text, struct l2_conf_list *out,
		      char *err, size_t errlen)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	int ret;

	if (!root)
		return 0;
	if (root->type == YAML_SCALAR_NODE && !*scalar(root))
		return 0;
	if (root->type != YAML_SEQUENCE_NODE)
		return parse_object(doc, root, text, out, err, errlen);
	for (yaml_node_item_t *it = root->data.sequence.items.start;
	     it < root->data.sequence.items.top; it++) {
		if (out->n == KVT_L2_MAX_ADAPTERS) {
			snprintf(err, errlen, "l2_adapters: more than %d adapters",
				 KVT_L2_MAX_ADAPTERS);
			return -E2BIG;
		}
		ret = parse_object(doc, yaml_document_get_node(doc, *it), text, out, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* libyaml's failure: out of memory is not the text's fault, so not -EINVAL. */
static int load_error(const yaml_parser_t *parser, char *err, size_t errlen)
{
	if (parser->error == YAML_MEMORY_ERROR) {
		snprintf(err, errlen, "l2_adapters: out of memory parsing JSON");
		return -ENOMEM;
	}
	snprintf(err, errlen, "l2_adapters: not valid JSON: %s at offset %zu",
		 parser->problem ? parser->problem : "parse error", parser->problem_mark.index);
	return -EINVAL;
}

int l2_conf_parse(const char *text, struct l2_conf_list *out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!*text)
		return 0;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "l2_adapters: out of memory parsing JSON");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &doc)) {
		ret = load_error(&parser, err, errlen);
		yaml_parser_delete(&parser);
		return ret;
	}
	ret = parse_root(&doc, text, out, err, errlen);
	yaml_document_delete(&doc);
	/* one JSON value and nothing after it: libyaml stops at the end of the
	 * first document, so '[{...}] junk' would load as '[{...}]' and an
	 * object l2_conf_append() joins after the junk would be dropped */
	if (!ret) {
		if (!yaml_parser_load(&parser, &doc)) {
			ret = load_error(&parser, err, errlen);
		} else {
			if (yaml_document_get_root_node(&doc)) {
				snprintf(err, errlen, "l2_adapters: text after the JSON value at offset %zu",
					 yaml_document_get_root_node(&doc)->start_mark.index);
				ret = -EINVAL;
			}
			yaml_document_delete(&doc);
		}
	}
	yaml_parser_delete(&parser);
	if (ret)
		l2_conf_free(out);
	return ret;
}

int l2_conf_append(const char *text, const char *json, char *buf, size_t len, char *err,
		   size_t errlen)
{
	struct l2_conf_list *l = mem_alloc(sizeof(*l));
	const char *body = text;
	size_t blen = strlen(text), had;
	int ret, w;

	if (!l)
		return -ENOMEM;
	ret = l2_conf_parse(text, l, err, errlen);
	had = l->n;
	l2_conf_free(l);
	if (ret)
		goto out;
	ret = l2_conf_parse(json, l, err, errlen);
	if (!ret && l->n != 1) {
		snprintf(err, errlen, "l2 adapter: expected one JSON object, got %zu", l->n);
		ret = -EINVAL;
	}
	l2_conf_free(l);
	if (ret)
		goto out;
	/* an array's items, or the one object, become the new array's head */
	while (blen && (body[blen - 1] == ' ' || body[blen - 1] == '\n'))
		blen--;
	while (blen && (*body == ' ' || *body == '\n')) {
		body++;
		blen--;
	}
	if (blen && *body == '[') {
		body++;
		blen -= 2;
	}
	w = snprintf(buf, len, "[%.*s%s%s]", (int)blen, body, blen ? ", " : "", json);
	if (w < 0 || (size_t)w >= len) {
		snprintf(err, errlen, "l2_adapters: longer than %zu bytes", len - 1);
		ret = -ENAMETOOLONG;
		goto out;
	}
	ret = l2_conf_parse(buf, l, err, errlen);
	/* the join is textual: a comment or other text around the list could
	 * hide the new object, which must then be refused, not dropped */
	if (!ret && l->n != had + 1) {
		snprintf(err, errlen, "l2_adapters: cannot append to \"%.64s\"", text);
		ret = -EINVAL;
	}
	l2_conf_free(l);
out:
	mem_free(l);
	return ret;
}

int l2_conf_add(struct l2_conf_list *l, const char *type)
{
	size_t i = l->n;
	struct kvt_l2_config *cfg = &l->cfg[i];
	char json[128];

	if (i == KVT_L2_MAX_ADAPTERS)
		return -E2BIG;
	memset(cfg, 0, sizeof(*cfg));
	snprintf(json, sizeof(json), "{\"type\":\"%s\"}", type);
	cfg->index = (uint32_t)i;
	cfg->params = l->params[i];
	cfg->json = keep(l, json, strlen(json));
	l->params[i][0].key = keep(l, "type", 4);
	l->params[i][0].value = cfg->type = keep(l, type, strlen(type));
	if (!cfg->json || !l->params[i][0].key || !cfg->type)
		return -ENOMEM;
	cfg->nparams = 1;
	l->n++;
	return (int)i;
}

int l2_conf_default(struct l2_conf_list *l, size_t i, const char *key, const char *value)
{
	struct kvt_l2_config *cfg = &l->cfg[i];
	struct kvt_l2_param *par = &l->params[i][cfg->nparams];

	for (size_t j = 0; j < cfg->nparams; j++)
		if (!strcmp(cfg->params[j].key, key))
			return 0;
	if (cfg->nparams == L2_CONF_MAX_PARAMS)
		return -E2BIG;
	par->key = keep(l, key, strlen(key));
	par->value = keep(l, value, strlen(value));
	if (!par->key || !par->value)
		return -ENOMEM;
	cfg->nparams++;
	return 0;
}
