/* SPDX-License-Identifier: Apache-2.0 */
/* core/histo.c - see histo.h. */
#include "core/histo.h"

#include <math.h>
#include <string.h>

void histo_read(const struct histo *h, struct histo_snap *out)
{
	memset(out, 0, sizeof(*out));
	for (int s = 0; s < HISTO_SHARDS; s++) {
		const struct histo_cell *c = &h->cell[s];

		for (int i = 0; i < HISTO_BUCKETS; i++) {
			uint64_t v = atomic_load_explicit(&c->bucket[i], memory_order_relaxed);

			out->bucket[i] += v;
			out->count += v;
		}
		out->sum_ns += atomic_load_explicit(&c->sum_ns, memory_order_relaxed);
	}
}

double histo_bound_s(unsigned int i)
{
	return ldexp(1e-6, (int)i);
}

double histo_quantile(const struct histo_snap *s, double q)
{
	double rank = q * (double)s->count, seen = 0;

	if (!s->count)
		return 0;
	for (unsigned int i = 0; i < HISTO_BUCKETS; i++) {
		double lo = i ? histo_bound_s(i - 1) : 0;

		if (seen + (double)s->bucket[i] < rank || !s->bucket[i]) {
			seen += (double)s->bucket[i];
			continue;
		}
		/* the +Inf bucket has no upper bound: report its lower one */
		if (i == HISTO_BUCKETS - 1)
			return lo;
		return lo + (histo_bound_s(i) - lo) * (rank - seen) / (double)s->bucket[i];
	}
	return histo_bound_s(HISTO_BUCKETS - 2);
}
