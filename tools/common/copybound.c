/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/copybound.c - the fastest copy at a thread count (see
 * copybound.h).
 */
#include "tools/common/copybound.h"

#include <errno.h>
#include <stdint.h>

#include "tools/common/copyteam.h"
#include "tools/common/progress.h"

int copy_bound_measure(void *dst, const void *src, size_t src_span, size_t bytes,
		       unsigned int threads, const struct copy_way *ways, size_t nways,
		       unsigned int passes, struct copy_bound *out)
{
	size_t windows = bytes ? src_span / bytes : 0;
	struct copy_team team;

	windows = windows ? windows : 1;
	if (copy_team_start(&team, threads))
		return -EAGAIN;
	*out = (struct copy_bound){ .gbps = 0, .name = nways ? ways[0].name : "",
				    .threads = team.threads };
	/* the ways take passes in turn, so a machine whose bandwidth drifts
	 * gives each its moments */
	for (unsigned int p = 0; p <= passes; p++) {
		for (size_t w = 0; w < nways; w++) {
			uint64_t t0 = tool_now_ns(), ns;

			for (size_t k = 0; k < windows; k++)
				copy_team_run(&team, &ways[w], dst, (const char *)src + k * bytes,
					      bytes);
			ns = tool_now_ns() - t0;
			/* pass 0 warms the destination's TLB and the threads up */
			if (p && ns && (double)(windows * bytes) / (double)ns > out->gbps) {
				out->gbps = (double)(windows * bytes) / (double)ns;
				out->name = ways[w].name;
			}
		}
	}
	copy_team_stop(&team);
	return 0;
}
