/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/l2_conf.h - the l2_adapters knob: LMCache's adapter JSON, one object
 * or an array of them, order = priority.  JSON is read with libyaml (a JSON
 * document is a YAML flow collection), so the config files and this knob
 * share one parser.  Every object needs "type"; values must be scalars.
 *
 * Threads: one owner per list.
 */
#ifndef KVT_CORE_L2_CONF_H
#define KVT_CORE_L2_CONF_H

#include <stddef.h>

#include "kvtier/l2.h"

#define L2_CONF_MAX_PARAMS 32

struct l2_conf_list {
	size_t n;
	struct kvt_l2_config cfg[KVT_L2_MAX_ADAPTERS];
	struct kvt_l2_param params[KVT_L2_MAX_ADAPTERS][L2_CONF_MAX_PARAMS];
	char *strings[KVT_L2_MAX_ADAPTERS * (2 * L2_CONF_MAX_PARAMS + 1)];
	size_t nstrings;
};

/*
 * l2_conf_parse() - parse @text ("" is an empty list) into @out.
 * Return: 0; -EINVAL with @err naming the adapter (#i) and what is wrong;
 * -E2BIG more than KVT_L2_MAX_ADAPTERS; -ENOMEM.  On error @out holds
 * nothing to free.
 */
int l2_conf_parse(const char *text, struct l2_conf_list *out, char *err, size_t errlen);

void l2_conf_free(struct l2_conf_list *l);

/* l2_conf_add() - append an adapter of @type with no other member.
 * Return: its index, -E2BIG (list full) or -ENOMEM. */
int l2_conf_add(struct l2_conf_list *l, const char *type);

/* l2_conf_default() - give adapter @i the member @key = @value unless it
 * has one.  Return: 0, -E2BIG (no room for a member) or -ENOMEM. */
int l2_conf_default(struct l2_conf_list *l, size_t i, const char *key, const char *value);

/*
 * l2_conf_append() - @text with the object @json appended, into @buf
 * (LMCache's repeatable --l2-adapter), after checking both parse.
 * Return: 0, -EINVAL/-E2BIG as parse, -ENAMETOOLONG when @buf is too small.
 */
int l2_conf_append(const char *text, const char *json, char *buf, size_t len, char *err,
		   size_t errlen);

#endif /* KVT_CORE_L2_CONF_H */
