/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/progress.c - see progress.h.
 */
#include "tools/common/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void progress_start(struct progress *p, const char *label, uint64_t total)
{
	p->label = label;
	p->total = total ? total : 1;
	p->start_ns = tool_now_ns();
	p->last_draw_ns = 0;
	p->last_pct = -1;
	p->tty = isatty(STDERR_FILENO);
}

void progress_update(struct progress *p, uint64_t done)
{
	uint64_t now = tool_now_ns();
	int pct = (int)(done * 100 / p->total);

	if (p->tty) {
		char bar[41];
		int fill = pct * 40 / 100;

		if (now - p->last_draw_ns < 100000000ull && done < p->total)
			return;
		p->last_draw_ns = now;
		for (int i = 0; i < 40; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[40] = '\0';
		fprintf(stderr, "\r%-12s [%s] %3d%% %6.1fs", p->label, bar, pct,
			(double)(now - p->start_ns) / 1e9);
		return;
	}
	if (pct / 10 == p->last_pct / 10 && done < p->total)
		return;
	p->last_pct = pct;
	fprintf(stderr, "%s: %d%% (%.1fs)\n", p->label, pct, (double)(now - p->start_ns) / 1e9);
}

void progress_end(struct progress *p)
{
	if (p->tty)
		fprintf(stderr, "\r%-12s done in %.1fs%40s\n", p->label,
			(double)(tool_now_ns() - p->start_ns) / 1e9, "");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double tool_quantile(double *v, uint64_t n, double q)
{
	uint64_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (uint64_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}
