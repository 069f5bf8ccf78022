/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/copyteam.h - a plain copy split over a team of threads that
 * stay up between copies, as a restore's workers do: copy_bound_measure()
 * times its passes with one, and a latency bench (docqa's peer, restore
 * --curve's bound) runs one copy per query or round, so no timed copy pays
 * a thread start.
 *
 * Threads: copy_team_start(), copy_team_run() and copy_team_stop() are
 * called from one thread, which copies the last share itself; the team's
 * own threads only ever wait on the team's lock and condition variables.
 */
#ifndef KVT_TOOLS_COPYTEAM_H
#define KVT_TOOLS_COPYTEAM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "tools/common/copybound.h"

#define COPY_TEAM_MAX 16

struct copy_team;

struct copy_member {
	struct copy_team *team;
	unsigned int idx;
	pthread_t th;
};

struct copy_team {
	unsigned int threads; /* the caller included */
	unsigned int started; /* members running */
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	/* under @lock: the job of generation @gen, the shares not yet done */
	unsigned long gen;
	unsigned int pending;
	bool stop;
	const struct copy_way *way;
	char *dst;
	const char *src;
	size_t bytes;
	struct copy_member members[COPY_TEAM_MAX];
};

/* Return: 0, or -EAGAIN (a thread would not start; nothing is left running). */
int copy_team_start(struct copy_team *t, unsigned int threads);

/* Copy @bytes from @src to @dst with @way, each thread its share of whole
 * 64-byte lines, the caller the last; returns when every share is done. */
void copy_team_run(struct copy_team *t, const struct copy_way *way, void *dst, const void *src,
		   size_t bytes);

void copy_team_stop(struct copy_team *t);

#endif
