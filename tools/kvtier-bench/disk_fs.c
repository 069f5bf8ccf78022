/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/disk_fs.c - the fs adapter side of `kvtier-bench disk`:
 * the adapter opened on one chunk size's fs/ directory, its store and load
 * phases (--batch keys a task, a fixed set of task slots in flight; a load
 * is a lookup, then a load, then an unlock), and the removal of what it
 * stored.
 *
 * Threads: the main thread submits and finishes tasks; the adapter's
 * threads only hand a completed slot over through struct waiter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "l2/fs/fs_adapter.h"
#include "kvtier/l2.h"
#include "tools/kvtier-bench/disk_bench.h"

/* Runs on an adapter thread: the lock is held for a few instructions, never
 * across anything that waits. */
static void slot_done(struct kvt_l2_task *t)
{
	struct slot *s = t->arg;
	struct waiter *w = s->w;

	pthread_mutex_lock(&w->mu);
	w->fin[w->nfin++] = s->idx;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int slot_submit(struct rig *r, struct slot *s, enum stage stage)
{
	const struct kvt_key *keys = &r->keys[s->first];
	int ret;

	memset(&s->task, 0, sizeof(s->task));
	s->task.on_done = slot_done;
	s->task.arg = s;
	s->task.bitmap = s->bitmap;
	s->task.lens = s->lens;
	s->stage = stage;
	switch (stage) {
	case ST_STORE:
		ret = fs_l2_ops.submit_store(r->fs, keys, (const void *const *)&r->bufs[s->first],
					     &r->lens[s->first], s->count, &s->task);
		break;
	case ST_LOOKUP:
		ret = fs_l2_ops.submit_lookup(r->fs, keys, s->count, &s->task);
		break;
	default:
		ret = fs_l2_ops.submit_load(r->fs, keys, &r->bufs[s->first], &r->lens[s->first],
					    s->count, &s->task);
		break;
	}
	if (ret) {
		fprintf(stderr, "kvtier-bench: fs: submit of %zu keys at %zu: %s\n", s->count,
			s->first, kvt_strerror(ret));
		s->stage = ST_IDLE;
	}
	return ret;
}

/* The first key of @s whose bit is clear or whose length is not a whole
 * chunk (@lens), or s->count when there is none. */
static size_t first_bad(const struct rig *r, const struct slot *s, bool lens)
{
	for (size_t i = 0; i < s->count; i++)
		if (!kvt_l2_bit(s->bitmap, i) || (lens && s->lens[i] != r->chunk_bytes))
			return i;
	return s->count;
}

/*
 * slot_finish() - act on a completed task: check it, then start a
 * lookup's load, or unlock a load's keys.
 * Return: 1 when @s is busy again (its load was submitted), 0 when it is
 * idle, or a negative code (idle, and the phase has failed).
 */
static int slot_finish(struct rig *r, struct slot *s, bool failing, size_t *moved)
{
	static const char *const what[] = { "", "store", "lookup", "load" };
	enum stage st = s->stage;
	size_t bad;

	s->stage = ST_IDLE;
	if (s->task.bytes < 0) {
		fprintf(stderr, "kvtier-bench: fs: %s task of %zu keys at %zu failed: %s\n",
			what[st], s->count, s->first, kvt_strerror((int)s->task.bytes));
		if (st == ST_LOOKUP)
			fs_l2_ops.unlock(r->fs, &r->keys[s->first], s->count);
		return (int)s->task.bytes;
	}
	bad = first_bad(r, s, st != ST_STORE);
	if (bad < s->count && st == ST_STORE) {
		fprintf(stderr, "kvtier-bench: fs: chunk %zu not stored\n", s->first + bad);
		return -EIO;
	}
	if (bad < s->count) {
		fprintf(stderr, "kvtier-bench: fs: %s of chunk %zu: %s (length %zu of %zu)\n",
			what[st], s->first + bad,
			kvt_l2_bit(s->bitmap, bad) ? "wrong length" : "missed", s->lens[bad],
			r->chunk_bytes);
		fs_l2_ops.unlock(r->fs, &r->keys[s->first], s->count);
		return -EIO;
	}
	if (st == ST_LOOKUP) {
		int ret = failing ? -ECANCELED : slot_submit(r, s, ST_LOAD);

		if (ret)
			fs_l2_ops.unlock(r->fs, &r->keys[s->first], s->count);
		return ret ? ret : 1;
	}
	if (st == ST_LOAD)
		fs_l2_ops.unlock(r->fs, &r->keys[s->first], s->count);
	*moved += s->count;
	return 0;
}

/* Every chunk through the adapter, --batch keys a task, up to r->nslots
 * tasks in flight; a failure stops new tasks and waits out the rest. */
int fs_phase(struct rig *r, bool load)
{
	uint32_t busy = 0, *fin = r->taken;
	size_t next = 0, moved = 0;
	int ret = 0;

	for (;;) {
		uint32_t nfin;

		while (!ret && r->nfree && next < r->n) {
			struct slot *s = &r->slots[r->free_slots[r->nfree - 1]];

			s->first = next;
			s->count = r->n - next < r->o->batch ? r->n - next : r->o->batch;
			ret = slot_submit(r, s, load ? ST_LOOKUP : ST_STORE);
			if (ret)
				break;
			r->nfree--;
			next += s->count;
			busy++;
		}
		if (!busy)
			break;
		pthread_mutex_lock(&r->w.mu);
		while (!r->w.nfin)
			pthread_cond_wait(&r->w.cv, &r->w.mu);
		nfin = r->w.nfin;
		memcpy(fin, r->w.fin, nfin * sizeof(*fin));
		r->w.nfin = 0;
		pthread_mutex_unlock(&r->w.mu);
		for (uint32_t k = 0; k < nfin; k++) {
			struct slot *s = &r->slots[fin[k]];
			int res = slot_finish(r, s, ret != 0, &moved);

			if (res == 1)
				continue;
			if (res < 0 && !ret)
				ret = res;
			r->free_slots[r->nfree++] = s->idx;
			busy--;
		}
		progress_update(r->prog, r->prog_base + moved);
	}
	if (!ret && !load && syncfs(r->fs_dirfd)) {
		ret = -errno;
		fprintf(stderr, "kvtier-bench: fs: syncfs: %s\n", strerror(errno));
	}
	return ret;
}

int fs_remove_all(struct rig *r)
{
	ssize_t n = fs_l2_ops.remove(r->fs, r->keys, r->n, NULL);

	if (n != (ssize_t)r->n) {
		fprintf(stderr, "kvtier-bench: fs: remove of %zu keys: %s\n", r->n,
			n < 0 ? kvt_strerror((int)n) : "some were not deleted");
		return n < 0 ? (int)n : -EIO;
	}
	return 0;
}

int fs_adapter_open(struct rig *r, bool odirect, struct kvt_l2_adapter **out)
{
	char depth[24], json[4400], err[512];
	static const struct kvt_key ns_seed = { 0x6b767469657221ull, 0x6469736bull };
	const struct kvt_l2_param params[] = {
		{ "type", "fs" },
		{ "base_path", r->fs_path },
		{ "use_odirect", odirect ? "true" : "false" },
		{ "durable", "false" },
		{ "io_depth", depth },
	};
	const struct kvt_l1_desc l1 = { .align_bytes = 4096, .chunk_bytes = r->chunk_bytes,
					.numa_node = -1 };
	struct kvt_l2_config cfg = { .type = "fs", .params = params,
				     .nparams = sizeof(params) / sizeof(params[0]), .json = json,
				     .ns_seed = &ns_seed };
	int ret;

	snprintf(depth, sizeof(depth), "%llu", (unsigned long long)r->o->depth);
	snprintf(json, sizeof(json),
		 "{\"type\":\"fs\",\"base_path\":\"%s\",\"use_odirect\":%s,\"durable\":false,"
		 "\"io_depth\":%s}", r->fs_path, odirect ? "true" : "false", depth);
	ret = fs_l2_ops.create(&cfg, &l1, out, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kvtier-bench: fs adapter %s: %s (%s)\n", json, err,
			kvt_strerror(ret));
		*out = NULL;
	}
	return ret;
}

int fs_open(struct rig *r)
{
	int ret = fs_adapter_open(r, true, &r->fs);

	if (ret)
		return ret;
	r->fs_dirfd = open(r->fs_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->fs_dirfd < 0) {
		fprintf(stderr, "kvtier-bench: open %s: %s\n", r->fs_path, strerror(errno));
		return -errno;
	}
	return 0;
}
