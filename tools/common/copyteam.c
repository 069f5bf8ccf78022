/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/copyteam.c - a copy split over threads that stay (see
 * copyteam.h).
 */
#include "tools/common/copyteam.h"

#include <errno.h>

/* Share @idx of @t's current copy: whole lines (streaming stores), the
 * remainder to the last.  The job fields are read after the member saw its
 * generation under @t->lock, so they are the ones copy_team_run() set. */
static void copy_share(struct copy_team *t, unsigned int idx)
{
	size_t per = t->bytes / t->threads / 64 * 64;
	size_t off = (size_t)idx * per;
	size_t len = idx == t->threads - 1 ? t->bytes - off : per;

	if (len)
		t->way->copy(t->dst + off, t->src + off, len);
}

static void *member_main(void *arg)
{
	const struct copy_member *m = arg;
	struct copy_team *t = m->team;
	unsigned long seen = 0;

	for (;;) {
		pthread_mutex_lock(&t->lock);
		while (t->gen == seen && !t->stop)
			pthread_cond_wait(&t->go, &t->lock);
		if (t->stop) {
			pthread_mutex_unlock(&t->lock);
			return NULL;
		}
		seen = t->gen;
		pthread_mutex_unlock(&t->lock);
		copy_share(t, m->idx);
		pthread_mutex_lock(&t->lock);
		if (--t->pending == 0)
			pthread_cond_signal(&t->done);
		pthread_mutex_unlock(&t->lock);
	}
}

int copy_team_start(struct copy_team *t, unsigned int threads)
{
	threads = threads < 1 ? 1 : threads > COPY_TEAM_MAX ? COPY_TEAM_MAX : threads;
	*t = (struct copy_team){ .threads = threads };
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->go, NULL);
	pthread_cond_init(&t->done, NULL);
	for (unsigned int i = 0; i + 1 < threads; i++) {
		t->members[i] = (struct copy_member){ .team = t, .idx = i };
		if (pthread_create(&t->members[i].th, NULL, member_main, &t->members[i])) {
			copy_team_stop(t);
			return -EAGAIN;
		}
		t->started++;
	}
	return 0;
}

void copy_team_run(struct copy_team *t, const struct copy_way *way, void *dst, const void *src,
		   size_t bytes)
{
	pthread_mutex_lock(&t->lock);
	t->way = way;
	t->dst = dst;
	t->src = src;
	t->bytes = bytes;
	t->pending = t->started;
	t->gen++;
	pthread_cond_broadcast(&t->go);
	pthread_mutex_unlock(&t->lock);
	copy_share(t, t->threads - 1);
	pthread_mutex_lock(&t->lock);
	while (t->pending)
		pthread_cond_wait(&t->done, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

void copy_team_stop(struct copy_team *t)
{
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->go);
	pthread_mutex_unlock(&t->lock);
	for (unsigned int i = 0; i < t->started; i++)
		pthread_join(t->members[i].th, NULL);
	t->started = 0;
	pthread_cond_destroy(&t->done);
	pthread_cond_destroy(&t->go);
	pthread_mutex_destroy(&t->lock);
}
