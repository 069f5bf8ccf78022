/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/log.c - see log.h.  The level is read once, on the first message.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int log_threshold = -1;

static int threshold(void)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	int t = atomic_load_explicit(&log_threshold, memory_order_relaxed);
	const char *env;

	if (t >= 0)
		return t;
	t = LOG_WARN;
	env = getenv("KVT_LOG");
	for (int i = 0; env && i < 4; i++)
		if (strcmp(env, names[i]) == 0)
			t = i;
	atomic_store_explicit(&log_threshold, t, memory_order_relaxed);
	return t;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "error", "warn", "info", "debug" };
	char line[1024];
	va_list ap;
	int n;

	if ((int)level > threshold())
		return;
	n = snprintf(line, sizeof(line), "kvtier %s: ", tags[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
