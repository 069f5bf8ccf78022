/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/l2_params.h - reading an adapter's JSON members (struct
 * kvt_l2_config) with the same rules everywhere: every member must be one
 * the adapter knows, and a bad value names the adapter, the key and the
 * value.  Threads: any; no state.
 */
#ifndef KVT_CORE_L2_PARAMS_H
#define KVT_CORE_L2_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvtier/l2.h"

/* The value of @key, or NULL when absent. */
const char *l2_param(const struct kvt_l2_config *cfg, const char *key);

/*
 * l2_params_known() - refuse members outside @known (NULL-terminated;
 * "type" is always allowed).
 * Return: 0, or -EINVAL with @err: `fs: unknown key "x" (known: a, b)`.
 */
int l2_params_known(const struct kvt_l2_config *cfg, const char *const *known, char *err,
		    size_t errlen);

/* Typed getters: absent -> *out = @def and 0; malformed or out of
 * [lo, hi] -> -EINVAL with @err naming type, key and value. */
int l2_param_bool(const struct kvt_l2_config *cfg, const char *key, bool def, bool *out,
		  char *err, size_t errlen);
int l2_param_u64(const struct kvt_l2_config *cfg, const char *key, uint64_t def,
		 uint64_t lo, uint64_t hi, uint64_t *out, char *err, size_t errlen);
int l2_param_double(const struct kvt_l2_config *cfg, const char *key, double def,
		    double lo, double hi, double *out, char *err, size_t errlen);

#endif /* KVT_CORE_L2_PARAMS_H */
