/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_l2_adapters.c - libFuzzer target for the l2_adapters
 * knob: LMCache's adapter JSON (core/l2_conf.c), as kvt_config_set() and
 * kvt_config_add_l2_adapter() take it, then kvt_config_check(), and the
 * resp adapter's member parser (URL, numbers, hash tag) for every adapter
 * of type "resp" in the list.
 *
 * Input: NUL-separated texts.  The first is set as l2_adapters, each next
 * one (up to 16) is appended with kvt_config_add_l2_adapter().  Checked
 * besides "no crash, no leak": a refused set or add leaves the knob as it
 * was, an accepted add grows the list by exactly one, and the knob always
 * holds a list that parses.
 *
 * Built by configure.py (build/fuzz/fuzz_l2_adapters); seeds in
 * tests/fuzz/corpus/l2_adapters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/l2_conf.h"
#include "kvtier.h"
#include "l2/resp/resp_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TEXTS 17

/* The knob's list, parsed; aborts when it does not parse. */
static size_t knob_list(const struct kvt_config *cfg, struct l2_conf_list *l)
{
	char why[256];

	if (l2_conf_parse(cfg->l2_adapters, l, why, sizeof(why))) {
		fprintf(stderr, "l2_adapters holds a list that does not parse: %s\n", why);
		abort();
	}
	return l->n;
}

static void resp_members(const struct l2_conf_list *l)
{
	static const struct kvt_key seed = { .lo = 0x0123456789abcdefull, .hi = 42 };
	struct resp_conf rc;
	char err[512];

	for (size_t i = 0; i < l->n; i++) {
		struct kvt_l2_config c = l->cfg[i];

		if (!c.type || strcmp(c.type, "resp"))
			continue;
		c.ns_seed = &seed;
		c.index = (uint32_t)i;
		memset(&rc, 0, sizeof(rc));
		(void)resp_conf_parse(&c, &rc, err, sizeof(err));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l2_conf_list *l = malloc(sizeof(*l));
	char *text = malloc(size + 1);
	struct kvt_config *cfg;
	char before[CONFIG_L2_MAX];
	char err[512];
	size_t n, off = 0;

	if (!l || !text || kvt_config_new(&cfg))
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (int t = 0; t < MAX_TEXTS && off <= size; t++) {
		const char *s = text + off;
		int ret;

		off += strlen(s) + 1;
		/* a direct parse, as l2_json_check() does */
		if (!l2_conf_parse(s, l, err, sizeof(err))) {
			resp_members(l);
			l2_conf_free(l);
		}
		memcpy(before, cfg->l2_adapters, sizeof(before));
		n = knob_list(cfg, l);
		l2_conf_free(l);
		if (t == 0)
			ret = kvt_config_set(cfg, "l2_adapters", s, err, sizeof(err));
		else
			ret = kvt_config_add_l2_adapter(cfg, s, err, sizeof(err));
		if (ret && memcmp(before, cfg->l2_adapters, sizeof(before))) {
			fprintf(stderr, "a refused l2_adapters text changed the knob: %s\n", err);
			abort();
		}
		if (!ret && t > 0 && knob_list(cfg, l) != n + 1) {
			fprintf(stderr, "an add made %zu adapters of %zu\n", l->n, n);
			abort();
		}
		if (!ret && t > 0)
			l2_conf_free(l);
	}
	(void)kvt_config_check(cfg, err, sizeof(err));
	knob_list(cfg, l);
	resp_members(l);
	l2_conf_free(l);
	kvt_config_free(cfg);
	free(text);
	free(l);
	return 0;
}
