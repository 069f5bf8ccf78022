/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/config_knobs.h - the table of every config knob (key, type, field,
 * range, default, doc) and the other names the config accepts; the parsing,
 * checks and dump that read them are core/config.c.
 */
#ifndef KVT_CORE_CONFIG_KNOBS_H
#define KVT_CORE_CONFIG_KNOBS_H

#include <stddef.h>

enum knob_type {
	KNOB_UINT32,
	KNOB_UINT64,
	KNOB_INT32,
	KNOB_DOUBLE,
	KNOB_BOOL,
	KNOB_STRING,
	KNOB_ENUM,
	KNOB_L2_JSON,	/* a string that must parse as l2_conf_parse() wants */
	KNOB_LISTEN,	/* "" or a HOST:PORT metrics_addr_parse() accepts */
};

#define KNOB_MIN_OPEN	0x1u	/* value must be > min rather than >= min */
#define KNOB_POW2	0x2u	/* value must be a power of two */

struct knob {
	const char *key;
	enum knob_type type;
	size_t off;			/* offsetof(struct kvt_config, field) */
	size_t size;			/* sizeof the field */
	double min, max;		/* numeric knobs only, inclusive */
	unsigned int flags;		/* KNOB_* */
	const char *def;		/* default, parsed like any other value */
	const char *const *choices;	/* KNOB_ENUM: NULL-terminated */
	const char *doc;
};

extern const struct knob config_knobs[];
extern const size_t config_nknobs;

/* LMCache keys kvtier accepts and ignores (a trailing '*' is a prefix). */
extern const char *const config_lmcache_keys[];
extern const size_t config_nlmcache_keys;

/* KVT_* environment variables that are not knobs and not errors. */
extern const char *const config_env_allowed[];
extern const size_t config_nenv_allowed;

#endif /* KVT_CORE_CONFIG_KNOBS_H */
