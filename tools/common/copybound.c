/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/copybound.c - the fastest copy at a thread count (see
 * copybound.h).
 */
#include "tools/common/copybound.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "tools/common/progress.h"

#define COPY_THREADS_MAX 16

struct share {
	const struct copy_way *way;
	char *dst;
	const char *src;
	size_t bytes;
};

static void *share_main(void *arg)
{
	struct share *s = arg;

	s->way->copy(s->dst, s->src, s->bytes);
	return NULL;
}

/* One window copied by @threads threads, the caller among them.
 * Return: 0 or -EAGAIN. */
static int copy_window(const struct copy_way *way, char *dst, const char *src, size_t bytes,
		       unsigned int threads)
{
	struct share sh[COPY_THREADS_MAX];
	pthread_t th[COPY_THREADS_MAX];
	size_t per = bytes / threads / 64 * 64; /* whole lines: streaming stores */
	unsigned int nth = 0, last = threads - 1;
	int ret = 0;

	for (unsigned int t = 0; t <= last; t++)
		sh[t] = (struct share){ .way = way, .dst = dst + t * per, .src = src + t * per,
					.bytes = t == last ? bytes - t * per : per };
	for (; nth < last; nth++)
		if (pthread_create(&th[nth], NULL, share_main, &sh[nth])) {
			ret = -EAGAIN;
			break;
		}
	if (!ret)
		share_main(&sh[last]);
	for (unsigned int t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	return ret;
}

int copy_bound_measure(void *dst, const void *src, size_t src_span, size_t bytes,
		       unsigned int threads, const struct copy_way *ways, size_t nways,
		       unsigned int passes, struct copy_bound *out)
{
	size_t windows = bytes ? src_span / bytes : 0;

	windows = windows ? windows : 1;
	threads = threads < 1 ? 1 : threads > COPY_THREADS_MAX ? COPY_THREADS_MAX : threads;
	*out = (struct copy_bound){ .gbps = 0, .name = nways ? ways[0].name : "", .threads = threads };
	/* the ways take passes in turn, so a machine whose bandwidth drifts
	 * gives each its moments */
	for (unsigned int p = 0; p <= passes; p++) {
		for (size_t w = 0; w < nways; w++) {
			uint64_t t0 = tool_now_ns(), ns;

			for (size_t k = 0; k < windows; k++)
				if (copy_window(&ways[w], dst, (const char *)src + k * bytes, bytes,
						threads))
					return -EAGAIN;
			ns = tool_now_ns() - t0;
			/* pass 0 warms the destination's TLB and the threads up */
			if (p && ns && (double)(windows * bytes) / (double)ns > out->gbps) {
				out->gbps = (double)(windows * bytes) / (double)ns;
				out->name = ways[w].name;
			}
		}
	}
	return 0;
}
