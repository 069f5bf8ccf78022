/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/opts.h - the tools' checked number options.  A bad value is
 * reported on stderr as `PROG: --OPT: "VALUE": why` and returns -EINVAL,
 * which the caller turns into exit status 2 (usage error).
 *
 * Threads: any (stderr is the only shared state).
 */
#ifndef KVT_TOOLS_COMMON_OPTS_H
#define KVT_TOOLS_COMMON_OPTS_H

#include <stddef.h>
#include <stdint.h>

/* opt_parse_u64() - @s as an integer (decimal, or hex after "0x") in
 * [@min, @max] into *@out.  @opt may be written with or without its leading
 * dashes.  Return: 0, or -EINVAL with *@out unchanged. */
int opt_parse_u64(const char *prog, const char *opt, const char *s, uint64_t min,
		  uint64_t max, uint64_t *out);

/* opt_parse_u64_list() - @s as comma-separated integers, each as
 * opt_parse_u64() takes it, at most @cap of them, into @out; *@n receives
 * how many.  Return: 0, or -EINVAL (an empty list, too many values, or a
 * bad one). */
int opt_parse_u64_list(const char *prog, const char *opt, const char *s, uint64_t min,
		       uint64_t max, uint64_t *out, size_t cap, size_t *n);

/* opt_parse_uint() - opt_parse_u64() into an unsigned int. */
int opt_parse_uint(const char *prog, const char *opt, const char *s, unsigned int min,
		   unsigned int max, unsigned int *out);

/* opt_parse_double() - @s as a finite decimal number in (@min, @max] into
 * *@out.  Return: 0, or -EINVAL with *@out unchanged. */
int opt_parse_double(const char *prog, const char *opt, const char *s, double min,
		     double max, double *out);

#endif
