/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/fs.c - the fs L2 tier of kvtier-stress (tier_fs):
 * its directory, the thread that corrupts its chunk files while the
 * workers run, the look at what is on disk at the end, and its lines of
 * the progress and the report.
 *
 * The corruption thread stands for a failing disk or a careless neighbour
 * sharing the directory: every --corrupt-ms it picks a key of the keyspace
 * and, if that key has a chunk file (the layout is l2/fschunk.h), flips a
 * payload or header byte in place, truncates it, or renames random bytes or
 * another key's chunk file over it.  The adapter must catch each (header
 * and payload checksums, the key in the header) and serve a miss: the
 * workers verify every byte they read, so a corruption that got through
 * shows up as a CORRUPTION.  The thread remembers what
 * it left in each file (XXH3-64 of the whole content, a mark); a valid
 * chunk file can never have those bytes, so at the end fs_scan() tells the
 * files still holding them (the adapter must refuse each on its next load)
 * from the ones the adapter wrote and nobody touched since (it must serve
 * each).
 *
 * Threads: fault_main() on the corruption thread; everything else on main
 * (fs_remove_dir also from a signal handler).  The thread shares only its
 * [atomic] counters until main joins it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "l2/fschunk.h"
#include "tools/kvtier-stress/stress.h"

#define GARBAGE_NAME "kvtier-stress-garbage.tmp" /* not a chunk name: never served */
#define HDR_USED 56 /* bytes of the header that carry fields (fschunk.h) */
#define RM_DEPTH 3  /* base, shard, files: one spare level for a stray dir */

/* The directory this run made, removed at exit (also from a signal). */
static char tmp_dir[PATH_MAX];

/* ---- directory ---- */

/*
 * Unlink everything in the directory @dfd, @depth levels of directories
 * down, then close it.  Only system calls, so a signal handler may call
 * it.  Entries unlinked while getdents64() walks may make it skip others,
 * so it walks again until a pass finds nothing.
 */
static void rm_under(int dfd, int depth)
{
	char buf[2048] __attribute__((aligned(8)));
	bool again = true;
	ssize_t n;

	while (again) {
		again = false;
		if (lseek(dfd, 0, SEEK_SET) < 0)
			break;
		while ((n = getdents64(dfd, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off < n;) {
				struct dirent64 *d = (struct dirent64 *)(buf + off);
				int sub;

				off += d->d_reclen;
				if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
					continue;
				if (unlinkat(dfd, d->d_name, 0) == 0) {
					again = true;
					continue;
				}
				if (errno != EISDIR || depth <= 0)
					continue;
				sub = openat(dfd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub >= 0)
					rm_under(sub, depth - 1);
				if (unlinkat(dfd, d->d_name, AT_REMOVEDIR) == 0)
					again = true;
			}
		}
	}
	close(dfd);
}

/* Remove the directory fs_prepare_dir() made, if it made one.  Threads:
 * main; async-signal-safe, so the signal handlers call it too. */
static void fs_remove_dir(void)
{
	int dfd;

	if (!tmp_dir[0])
		return;
	dfd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0)
		rm_under(dfd, RM_DEPTH);
	rmdir(tmp_dir);
	tmp_dir[0] = '\0';
}

void rm_tree(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dfd >= 0)
		rm_under(dfd, RM_DEPTH);
	rmdir(dir);
}

/* True if directory @path holds no entry; false (with a message) otherwise. */
static bool dir_empty(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	bool empty = true;

	if (!dir) {
		fprintf(stderr, "kvtier-stress: --fs-dir: %s: %s\n", path, strerror(errno));
		return false;
	}
	while (empty && (d = readdir(dir)))
		empty = !strcmp(d->d_name, ".") || !strcmp(d->d_name, "..");
	closedir(dir);
	if (!empty)
		fprintf(stderr, "kvtier-stress: --fs-dir: %s is not empty (chunks of an earlier run "
			"would read as versions this run never wrote): empty it or name another\n",
			path);
	return empty;
}

/*
 * fs_prepare_dir() - s->fs_dir: --fs-dir (created 0700 if absent; it must
 * hold nothing, as the keys of an earlier run would read as versions never
 * written), or a fresh mkdtemp() directory under /var/tmp that
 * fs_remove_dir() removes.  Return: 0, or -errno with a message.
 */
static int fs_prepare_dir(struct stress *s)
{
	const char *dir = s->o.fs_dir;

	if (dir) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			int err = errno;

			fprintf(stderr, "kvtier-stress: --fs-dir: mkdir(%s): %s\n", dir,
				strerror(err));
			return -err;
		}
		if (!dir_empty(dir))
			return -EEXIST;
		snprintf(s->fs_dir, sizeof(s->fs_dir), "%s", dir);
		return 0;
	}
	snprintf(tmp_dir, sizeof(tmp_dir), "/var/tmp/kvtier-stress-XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		int err = errno;

		fprintf(stderr, "kvtier-stress: mkdtemp(%s): %s\n", tmp_dir, strerror(err));
		tmp_dir[0] = '\0';
		return -err;
	}
	snprintf(s->fs_dir, sizeof(s->fs_dir), "%s", tmp_dir);
	return 0;
}

/*
 * The adapter on s->fs_dir, failing @ppm of its I/Os with EIO; in staging
 * mode L1 only stages its writes, in a staging area a put may find full.
 */
static int fs_config(struct stress *s, uint32_t ppm, struct knobs *k)
{
	if (s->o.tier == TIER_FS_STAGING) {
		knob_add(k, "local_cpu", "false");
		knob_add(k, "use_only_staging_buffer", "true");
		/* a put that finds the staging area full fails after 100 ms, not
		 * 1 s: more of those in a short run, and shorter stalls */
		knob_add(k, "staging_wait_ms", "100");
	}
	if (knob_add(k, "l2_adapters", "{\"type\":\"fs\",\"base_path\":\"%s\",\"fault_eio_ppm\":%u,"
		     "\"max_capacity_gb\":%.12f}", s->fs_dir, ppm,
		     s->o.fs_mb ? (double)s->o.fs_mb / 1024.0 + 1e-12 : 0.0)) {
		fprintf(stderr, "kvtier-stress: --fs-dir: too long for the adapter's config\n");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* ---- the corruption thread ---- */

static size_t file_cap(const struct stress *s)
{
	return FSCHUNK_HDR + s->chunk;
}

/* Open the shard directory of key @id and fill @name with its file name. */
static int open_shard(const struct stress *s, uint64_t id, char name[FSCHUNK_NAME_LEN + 1])
{
	struct kvt_key key = stress_key(id);
	char shard[3], path[PATH_MAX + 4];

	fschunk_name(&key, name);
	fschunk_shard_name(fschunk_shard(&key), shard);
	snprintf(path, sizeof(path), "%s/%s", s->fs_dir, shard);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void mark(struct l2_fault *f, uint64_t id, const void *bytes, size_t len)
{
	if (f->nmarks == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 1024;
		struct fs_mark *m = realloc(f->marks, cap * sizeof(*m));

		if (!m) {
			f->lost_mark = true;
			return;
		}
		f->marks = m;
		f->cap = cap;
	}
	f->marks[f->nmarks++] = (struct fs_mark){ id, XXH3_64bits(bytes, len) };
}

/* Flip one byte at @off of @fd.  Return: true if it was written. */
static bool flip_byte(struct l2_fault *f, int fd, off_t off)
{
	unsigned char b;

	if (pread(fd, &b, 1, off) != 1)
		return false;
	b ^= (unsigned char)(1 + prng_next(&f->rng) % 255);
	return pwrite(fd, &b, 1, off) == 1;
}

/* Rename the first @len bytes of f->buf over @name in the shard @sfd.
 * Return: true if the name now holds them. */
static bool replace_file(struct l2_fault *f, int sfd, const char *name, size_t len)
{
	bool ok;
	int fd;

	fd = openat(sfd, GARBAGE_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	ok = write(fd, f->buf, len) == (ssize_t)len;
	close(fd);
	if (ok && renameat(sfd, GARBAGE_NAME, sfd, name) == 0)
		return true;
	unlinkat(sfd, GARBAGE_NAME, 0);
	return false;
}

/* Read key @id's chunk file into f->buf.  Return: its length, or -1. */
static ssize_t read_chunk_file(struct stress *s, uint64_t id)
{
	char name[FSCHUNK_NAME_LEN + 1];
	ssize_t got = -1;
	int sfd, fd;

	sfd = open_shard(s, id, name);
	if (sfd < 0)
		return -1;
	fd = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		got = pread(fd, s->fault.buf, file_cap(s), 0);
		close(fd);
	}
	close(sfd);
	return got;
}

/*
 * Corrupt the chunk file of one random key, if it has one.  A file shorter
 * than a header is one of ours already (nothing the adapter writes is), so
 * it is left alone.  Every replacement is at most a header and a chunk
 * long, as the adapter's files are: a lookup would call a longer one too
 * large for a chunk buffer and skip it, never read it.
 * Return: true if a file was corrupted.
 */
static bool corrupt_one(struct stress *s)
{
	struct l2_fault *f = &s->fault;
	uint64_t id = prng_next(&f->rng) % s->nkeys, other;
	enum corrupt_kind kind = (enum corrupt_kind)(prng_next(&f->rng) % CORRUPT_N);
	char name[FSCHUNK_NAME_LEN + 1];
	bool done = false, in_place = true;
	size_t size, span, len = 0;
	struct stat st;
	ssize_t got;
	int sfd, fd;

	sfd = open_shard(s, id, name);
	if (sfd < 0)
		return false;
	fd = openat(sfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size < FSCHUNK_HDR || (size_t)st.st_size > file_cap(s))
		goto out;
	size = (size_t)st.st_size;
	switch (kind) {
	case CORRUPT_PAYLOAD:
		/* a file cut to its header has no payload byte: flip the header */
		if (size > FSCHUNK_HDR) {
			done = flip_byte(f, fd, (off_t)(FSCHUNK_HDR + prng_next(&f->rng) % (size - FSCHUNK_HDR)));
			break;
		}
		kind = CORRUPT_HEADER;
		/* fall through */
	case CORRUPT_HEADER:
		/* half the flips in the fields, half anywhere in the block */
		span = prng_next(&f->rng) & 1 ? HDR_USED : FSCHUNK_HDR;
		done = flip_byte(f, fd, (off_t)(prng_next(&f->rng) % span));
		break;
	case CORRUPT_TRUNCATE:
		done = ftruncate(fd, (off_t)(prng_next(&f->rng) % size)) == 0;
		break;
	case CORRUPT_GARBAGE:
		in_place = false;
		len = prng_next(&f->rng) % (file_cap(s) + 1);
		for (size_t i = 0; i < len; i++)
			f->buf[i] = (unsigned char)prng_next(&f->rng);
		done = replace_file(f, sfd, name, len);
		break;
	case CORRUPT_FOREIGN:
		/* a whole, valid chunk file, of the wrong key */
		in_place = false;
		other = (id + 1 + prng_next(&f->rng) % (s->nkeys - 1)) % s->nkeys;
		got = read_chunk_file(s, other);
		len = got > 0 ? (size_t)got : 0;
		done = got > 0 && replace_file(f, sfd, name, len);
		break;
	case CORRUPT_N:
		break;
	}
	if (done && in_place) {
		/* what the file holds now is the mark */
		got = pread(fd, f->buf, file_cap(s), 0);
		len = got > 0 ? (size_t)got : 0;
		f->lost_mark |= got < 0;
	}
	if (done) {
		mark(f, id, f->buf, len);
		atomic_fetch_add_explicit(&f->injected[kind], 1, memory_order_relaxed);
	}
out:
	if (fd >= 0)
		close(fd);
	close(sfd);
	return done;
}

static bool stopping(const struct stress *s)
{
	return atomic_load_explicit(&s->stop, memory_order_relaxed) != 0;
}

static void *fault_main(void *arg)
{
	struct stress *s = arg;

	while (!stopping(s)) {
		uint64_t left_ms = s->o.corrupt_ms;

		/* short naps, so the thread stops soon after the deadline */
		while (left_ms && !stopping(s)) {
			uint64_t nap = left_ms < 10 ? left_ms : 10;
			struct timespec ts = { 0, (long)nap * 1000000 };

			nanosleep(&ts, NULL);
			left_ms -= nap;
		}
		/* most keys of a cycling keyspace have a file; try a few */
		for (int tries = 0; tries < 8 && !stopping(s) && !corrupt_one(s); tries++)
			;
	}
	return NULL;
}

static int fs_fault_start(struct stress *s)
{
	struct l2_fault *f = &s->fault;
	int ret;

	if (!s->o.corrupt_ms)
		return 0;
	f->rng = (s->o.seed ^ 0x5bd1e9955bd1e995ull) | 1;
	f->buf = malloc(file_cap(s));
	if (!f->buf) {
		fprintf(stderr, "kvtier-stress: out of memory\n");
		return -ENOMEM;
	}
	ret = pthread_create(&f->thread, NULL, fault_main, s);
	if (ret) {
		fprintf(stderr, "kvtier-stress: pthread_create (corruption thread): %s\n",
			strerror(ret));
		return -ret;
	}
	f->running = true;
	return 0;
}

static int mark_cmp(const void *a, const void *b)
{
	const struct fs_mark *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static void fs_fault_stop(struct stress *s)
{
	struct l2_fault *f = &s->fault;

	l2_fault_join(s);
	/* main's from here: sorted for fs_scan()'s lookups */
	if (f->nmarks)
		qsort(f->marks, f->nmarks, sizeof(*f->marks), mark_cmp);
}

/* ---- the end-of-run look at the directory ---- */

/* The key id a chunk file name stands for, or UINT64_MAX if none of ours. */
static uint64_t name_to_id(const struct stress *s, const char *name)
{
	struct kvt_key key;

	if (!fschunk_parse_name(name, &key) || key.hi >= s->nkeys ||
	    stress_key(key.hi).lo != key.lo)
		return UINT64_MAX;
	return key.hi;
}

/* True if @fd (key @id) holds bytes the corruption thread left. */
static bool still_corrupt(struct stress *s, int fd, uint64_t id, size_t size)
{
	struct l2_fault *f = &s->fault;
	struct fs_mark want;
	ssize_t got;

	if (!f->nmarks || size > file_cap(s))
		return false;
	got = pread(fd, f->buf, size, 0);
	if (got != (ssize_t)size)
		return false;
	want = (struct fs_mark){ id, XXH3_64bits(f->buf, size) };
	return bsearch(&want, f->marks, f->nmarks, sizeof(want), mark_cmp) != NULL;
}

static void scan_shard(struct stress *s, struct l2_scan *sc, int sfd, const char *shard)
{
	DIR *dir = fdopendir(sfd);
	struct dirent *d;

	if (!dir) {
		close(sfd);
		return;
	}
	while ((d = readdir(dir))) {
		uint64_t id = name_to_id(s, d->d_name);
		struct kvt_key key = stress_key(id);
		char want[3];
		struct stat st;
		int fd;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		fschunk_shard_name(fschunk_shard(&key), want);
		fd = id == UINT64_MAX || strcmp(want, shard) ? -1 :
			openat(dirfd(dir), d->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			stress_report(s, "fs: stray file %s/%s/%s", s->fs_dir, shard, d->d_name);
			sc->stray++;
			if (fd >= 0)
				close(fd);
			continue;
		}
		sc->files++;
		if (still_corrupt(s, fd, id, (size_t)st.st_size)) {
			bool seen = (size_t)st.st_size >= FSCHUNK_HDR;

			sc->state[id] = seen ? L2_CORRUPT : L2_CORRUPT_SHORT;
			sc->corrupt++;
			sc->corrupt_seen += seen;
		} else {
			sc->state[id] = L2_INTACT;
			sc->intact++;
		}
		close(fd);
	}
	closedir(dir);
}

/*
 * fs_scan() - classify every file of the directory, while no corruption
 * thread runs and kvtier is quiet (after kvt_flush) or closed.
 * Return: 0, or -errno (also when a mark was lost: a corrupted file could
 * pass for intact).
 */
static int fs_scan(struct stress *s, struct l2_scan *sc)
{
	DIR *base;
	struct dirent *d;

	memset(sc, 0, sizeof(*sc));
	sc->state = calloc(s->nkeys, sizeof(*sc->state));
	/* without every mark a corrupted file would pass for intact */
	if (!sc->state || s->fault.lost_mark)
		return -ENOMEM;
	base = opendir(s->fs_dir);
	if (!base)
		return -errno;
	while ((d = readdir(base))) {
		unsigned int shard;
		char name[3];
		int sfd;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		sfd = -1;
		if (strlen(d->d_name) == 2 && sscanf(d->d_name, "%2x", &shard) == 1) {
			fschunk_shard_name(shard, name);
			if (!strcmp(name, d->d_name))
				sfd = openat(dirfd(base), d->d_name,
					     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (sfd < 0) {
			stress_report(s, "fs: stray entry %s/%s", s->fs_dir, d->d_name);
			sc->stray++;
			continue;
		}
		scan_shard(s, sc, sfd, d->d_name);
	}
	closedir(base);
	return 0;
}

/* Redis is shared, the directory is not: only chunk files may be left in it. */
static void fs_closed_scan(struct stress *s, struct checks *c, const struct l2_scan *sc)
{
	check(c, sc->stray == 0, "fs: %" PRIu64 " stray files in %s after kvt_close "
	      "(temp files, misnamed chunks)", sc->stray, s->fs_dir);
}

/* ---- the tier ---- */

static uint32_t fs_keys(const struct stress_opts *o, const struct kvt_stats *st)
{
	/* most reads miss L1 and go to disk; the staging area is small, and
	 * the keyspace as large as in cache mode */
	return (uint32_t)((o->tier == TIER_FS_STAGING ? 64 : 8) * st->l1_slots);
}

static const char *fs_where(const struct stress *s)
{
	return s->fs_dir;
}

static const char *fs_mode(const struct stress *s)
{
	return s->o.tier == TIER_FS_CACHE ? "cache" : "staging";
}

static void fs_print_inputs(const struct stress *s, const struct kvt_stats *st)
{
	printf("  fs  %s%s, %s mode, capacity %u MiB%s, EIO on %u I/Os per million, a file "
	       "corrupted every %u ms%s\n", s->fs_dir, s->o.fs_dir ? "" : " (removed at exit)",
	       fs_mode(s), s->o.fs_mb, s->o.fs_mb ? "" : " (unbounded)", s->o.fault_ppm,
	       s->o.corrupt_ms, s->o.corrupt_ms ? "" : " (never)");
}

static void fs_progress(struct stress *s, const struct kvt_stats *st, char *out, size_t len)
{
	struct l2_status fs;

	l2_status(s->kvt, &fs);
	snprintf(out, len, " fs %" PRIu64 " files, hits %" PRIu64 " misses %" PRIu64
		 " write errors %" PRIu64 " staging %" PRIu64 ", files corrupted %" PRIu64
		 " detected %" PRIu64, fs.chunks, st->l2_hits, st->l2_misses, st->l2_write_errors,
		 st->staging_inflight, l2_injected(s), fs.corrupt_removed);
}

static void fs_report(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
		      const struct worker_acct *a)
{
	const struct l2_status *f = &r->l2_close;

	printf("fs (%s): %" PRIu64 " chunks (%" PRIu64 " MiB) at close in %s; %" PRIu64
	       " hits, %" PRIu64 " misses, %" PRIu64 " promotions, %" PRIu64 " write errors, %"
	       PRIu64 " staging timeouts, %" PRIu64 " I/O errors, %" PRIu64 " evictions; %" PRIu64
	       " put callbacks (%" PRIu64 " flushes to settle)\n", fs_mode(s), f->chunks,
	       f->bytes_used >> 20, s->fs_dir, st->l2_hits, st->l2_misses, st->l2_promotions,
	       st->l2_write_errors, st->staging_timeouts, f->errors, f->evictions, a->cb_fired,
	       a->track_flushes);
	printf("fs faults: %u EIO per million I/Os; ", s->o.fault_ppm);
	l2_report_corrupted(s, s->tier->unit);
	printf("; removed as corrupt: %" PRIu64 " in the run, %" PRIu64 " at reopen\n",
	       f->corrupt_removed, r->removed);
	l2_report_reopen(r, s->tier->unit);
}

static void fs_json(struct stress *s, const struct kvt_stats *st, const struct reopen *r)
{
	const struct l2_status *f = &r->l2_close;

	printf(",\"fs\":{\"mode\":\"%s\",\"dir\":\"%s\",\"mb\":%u,\"fault_ppm\":%u,"
	       "\"corrupt_ms\":%u,\"l2_hits\":%" PRIu64 ",\"l2_misses\":%" PRIu64
	       ",\"l2_bytes_in\":%" PRIu64 ",\"l2_bytes_out\":%" PRIu64 ",\"l2_promotions\":%"
	       PRIu64 ",\"l2_write_errors\":%" PRIu64 ",\"staging_timeouts\":%" PRIu64
	       ",\"chunks\":%" PRIu64 ",\"io_errors\":%" PRIu64 ",\"evictions\":%" PRIu64 ",",
	       fs_mode(s), s->fs_dir, s->o.fs_mb, s->o.fault_ppm, s->o.corrupt_ms, st->l2_hits,
	       st->l2_misses, st->l2_bytes_in, st->l2_bytes_out, st->l2_promotions,
	       st->l2_write_errors, st->staging_timeouts, f->chunks, f->errors, f->evictions);
	l2_json_corrupted(s);
	printf(",\"corrupt_removed\":{\"run\":%" PRIu64 ",\"reopen\":%" PRIu64 "},",
	       f->corrupt_removed, r->removed);
	l2_json_reopen(r, s->tier->unit);
	putchar('}');
}

static void fs_summary(struct stress *s, const struct kvt_stats *st, const struct reopen *r,
		       char *out, size_t len)
{
	snprintf(out, len, ", fs hits %" PRIu64 " misses %" PRIu64 " write errors %" PRIu64
		 ", files corrupted %" PRIu64 " detected %" PRIu64, st->l2_hits, st->l2_misses,
		 st->l2_write_errors, l2_injected(s), r->l2_close.corrupt_removed + r->removed);
}

const struct tier_ops tier_fs = {
	.name = "fs",
	.l2 = true,
	.unit = "file",
	.reopens = "directory",
	.keys = fs_keys,
	.prepare = fs_prepare_dir,
	.config = fs_config,
	.where = fs_where,
	.print_inputs = fs_print_inputs,
	.progress = fs_progress,
	.fault_start = fs_fault_start,
	.fault_stop = fs_fault_stop,
	.scan = fs_scan,
	.at_close = l2_at_close,
	.reopen = l2_reopen_check,
	.closed_scan = fs_closed_scan,
	.report = fs_report,
	.json = fs_json,
	.summary = fs_summary,
	.cleanup = fs_remove_dir,
	.stop_signal = fs_remove_dir,
};
