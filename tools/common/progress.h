/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/progress.h - what every kvtier tool prints the same way:
 * a progress bar on stderr for long runs, and timing helpers.
 * Threads: the tool's main thread.
 */
#ifndef KVT_TOOLS_PROGRESS_H
#define KVT_TOOLS_PROGRESS_H

#include <stdint.h>

struct progress {
	const char *label;
	uint64_t total;
	uint64_t start_ns;
	uint64_t last_draw_ns;
	int last_pct;
	int tty;
};

/* Starts a bar for @total units.  Draws only when stderr is a terminal,
 * else prints a line every 10% so CI logs show progress too. */
void progress_start(struct progress *p, const char *label, uint64_t total);
/* Shows @done of total (redraws at most 10 times a second). */
void progress_update(struct progress *p, uint64_t done);
/* Ends the bar with the elapsed time. */
void progress_end(struct progress *p);

/* Monotonic nanoseconds. */
uint64_t tool_now_ns(void);

/* Sorts @v (n values) and returns the @q quantile (0..1). */
double tool_quantile(double *v, uint64_t n, double q);

#endif /* KVT_TOOLS_PROGRESS_H */
