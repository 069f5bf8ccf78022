/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-stress/fs.c - the fs L2 tier of kvtier-stress: its
 * directory, the thread that corrupts its chunk files while the workers
 * run, and the look at what is on disk at the end; and what the L2 tiers
 * share: the adapter's report (l2_status), the end of the resp or fs
 * corruption thread (l2_fault_stop) and its counts.
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
 * Threads: fault_main() on the corruption thread; everything else on main.
 * The thread shares only its [atomic] counters until main joins it.
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
#include "kvtier/l2.h"

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

void fs_remove_dir(void)
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

int fs_prepare_dir(struct stress *s)
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

int fs_adapter_json(const struct stress *s, uint32_t ppm, char *out, size_t len)
{
	int n = snprintf(out, len, "{\"type\":\"fs\",\"base_path\":\"%s\",\"fault_eio_ppm\":%u,"
			 "\"max_capacity_gb\":%.12f}", s->fs_dir, ppm,
			 s->o.fs_mb ? (double)s->o.fs_mb / 1024.0 + 1e-12 : 0.0);

	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "kvtier-stress: --fs-dir: too long for the adapter's config\n");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* ---- the adapter's report ---- */

/* The value of "@key=N" in a status detail ("k=v k=v ..."), or 0. */
static uint64_t detail_u64(const char *detail, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = detail; (p = strstr(p, key)); p += klen) {
		if ((p == detail || p[-1] == ' ') && p[klen] == '=')
			return strtoull(p + klen + 1, NULL, 10);
	}
	return 0;
}

void l2_status(struct kvt *kvt, struct l2_status *out)
{
	struct kvt_l2_status st;
	const char *type;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; kvt_l2_report(kvt, i, &type, &st) == 0; i++) {
		if (strcmp(type, "fs") && strcmp(type, "resp") && strcmp(type, "pool"))
			continue;
		out->found = true;
		out->healthy = st.is_healthy;
		out->nodes = detail_u64(st.detail, "nodes");
		out->nodes_up = detail_u64(st.detail, "nodes_up");
		out->round_trips = detail_u64(st.detail, "round_trips");
		out->redirections = detail_u64(st.detail, "redirections");
		out->map_refreshes = detail_u64(st.detail, "map_refreshes");
		out->refused = detail_u64(st.detail, "refused");
		out->reconnects = detail_u64(st.detail, "reconnects");
		out->corrupt = detail_u64(st.detail, "corrupt");
		out->chunks = st.chunks;
		out->bytes_used = st.bytes_used;
		out->errors = st.errors;
		out->corrupt_removed = detail_u64(st.detail, "corrupt_removed");
		out->evictions = detail_u64(st.detail, "evictions");
		out->regions = detail_u64(st.detail, "regions");
		out->foreign_regions = detail_u64(st.detail, "foreign_regions");
		out->pages_used = detail_u64(st.detail, "pages_used");
		out->rpc_errors = detail_u64(st.detail, "rpc_errors");
		out->rm_errors = detail_u64(st.detail, "rm_errors");
		out->lost_races = detail_u64(st.detail, "lost_races");
		out->unknown = detail_u64(st.detail, "unknown_outcome");
		out->stores = detail_u64(st.detail, "stores");
		out->loads = detail_u64(st.detail, "loads");
		out->foreign_loads = detail_u64(st.detail, "foreign_loads");
		out->pins = detail_u64(st.detail, "pins");
		out->unpins = detail_u64(st.detail, "unpins");
		out->reclaimed = detail_u64(st.detail, "reclaimed");
		out->renewals = detail_u64(st.detail, "renewals");
		return;
	}
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

int fs_fault_start(struct stress *s)
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

void l2_fault_stop(struct stress *s)
{
	struct l2_fault *f = &s->fault;

	if (!f->running)
		return;
	pthread_join(f->thread, NULL);
	f->running = false;
	/* main's from here: sorted for fs_scan()'s lookups */
	if (f->nmarks)
		qsort(f->marks, f->nmarks, sizeof(*f->marks), mark_cmp);
}

uint64_t l2_injected(struct stress *s)
{
	uint64_t n = 0;

	for (int k = 0; k < CORRUPT_N; k++)
		n += atomic_load_explicit(&s->fault.injected[k], memory_order_relaxed);
	return n;
}

void l2_fault_free(struct stress *s)
{
	free(s->fault.marks);
	free(s->fault.buf);
	s->fault.marks = NULL;
	s->fault.buf = NULL;
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

int fs_scan(struct stress *s, struct l2_scan *sc)
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

void l2_scan_free(struct l2_scan *sc)
{
	free(sc->state);
	sc->state = NULL;
}
