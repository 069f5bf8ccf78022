/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/inspect_fs.c - `kvtier inspect DIR`: what an fs L2 adapter's
 * directory holds, read-only: chunk files per shard, bytes, and every file
 * that would not be served (torn, foreign, bit-flipped: the adapter would
 * remove it on its next load), plus stray temp and foreign files.  With
 * --verify it reads every payload and checks its XXH3 sum too.
 *
 * Like inspect.c this reads the on-disk format (l2/fschunk.h) directly,
 * not through a kvt instance, so it never changes what it looks at.
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

#include "l2/fschunk.h"
#include "tools/kvtier/cli.h"

struct fs_inspect {
	bool verify;
	bool json;
	uint64_t chunks, bytes, bad, foreign, shards_used;
	uint64_t min_len, max_len;
	time_t oldest, newest;
	unsigned char *hdr;             /* FSCHUNK_HDR bytes */
	unsigned char *payload;         /* grown to the largest payload, --verify */
	size_t payload_cap;
};

static void report_bad(const char *shard, const char *name, const char *why)
{
	fprintf(stderr, "kvtier inspect: %s/%s: %s (not served)\n", shard, name, why);
}

/* Check one chunk file; counts it as good or bad. */
static void check_file(struct fs_inspect *in, int dirfd, const char *shard, const char *name,
		       const struct kvt_key *key)
{
	struct fschunk_info info;
	struct stat st;
	ssize_t got;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		report_bad(shard, name, fd < 0 ? strerror(errno) : "not a regular file");
		in->bad++;
		if (fd >= 0)
			close(fd);
		return;
	}
	got = pread(fd, in->hdr, FSCHUNK_HDR, 0);
	if (fschunk_hdr_check(in->hdr, got > 0 ? (size_t)got : 0, key, UINT64_MAX, &info)) {
		report_bad(shard, name, "bad header (torn, foreign or bit-flipped)");
		in->bad++;
		goto out;
	}
	if ((uint64_t)st.st_size != FSCHUNK_HDR + info.len) {
		report_bad(shard, name, "size does not match the header's length");
		in->bad++;
		goto out;
	}
	if (in->verify) {
		if (info.len > in->payload_cap) {
			free(in->payload);
			in->payload = malloc(info.len);
			in->payload_cap = in->payload ? info.len : 0;
		}
		got = in->payload ? pread(fd, in->payload, info.len, FSCHUNK_HDR) : -1;
		if (got < 0 || !fschunk_payload_ok(&info, in->payload, (size_t)got)) {
			report_bad(shard, name, "payload checksum mismatch");
			in->bad++;
			goto out;
		}
	}
	in->chunks++;
	in->bytes += info.len;
	if (!in->min_len || info.len < in->min_len)
		in->min_len = info.len;
	if (info.len > in->max_len)
		in->max_len = info.len;
	if (!in->oldest || st.st_mtime < in->oldest)
		in->oldest = st.st_mtime;
	if (st.st_mtime > in->newest)
		in->newest = st.st_mtime;
out:
	close(fd);
}

static int scan_shard(struct fs_inspect *in, int base, const char *shard)
{
	int fd = openat(base, shard, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	uint64_t before = in->chunks + in->bad;
	struct dirent *d;
	DIR *dir;

	if (fd < 0) {
		fprintf(stderr, "kvtier inspect: %s: %s\n", shard, strerror(errno));
		return -1;
	}
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -1;
	}
	while ((d = readdir(dir))) {
		struct kvt_key key;

		if (d->d_name[0] == '.')
			continue;
		if (!fschunk_parse_name(d->d_name, &key)) {
			in->foreign++;
			continue;
		}
		check_file(in, dirfd(dir), shard, d->d_name, &key);
	}
	closedir(dir);
	in->shards_used += in->chunks + in->bad > before;
	return 0;
}

static void print_time(const char *label, time_t t)
{
	char buf[64];
	struct tm tm;

	if (!t || !localtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%F %T", &tm))
		snprintf(buf, sizeof(buf), "-");
	printf("%-14s %s\n", label, buf);
}

int inspect_fs_main(const char *path, bool json, bool verify)
{
	struct fs_inspect in = { .verify = verify, .json = json };
	int base, code = CLI_EXIT_OK;
	struct dirent *d;
	DIR *dir;

	base = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base < 0) {
		fprintf(stderr, "kvtier inspect: %s: %s\n", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	dir = fdopendir(dup(base));
	in.hdr = malloc(FSCHUNK_HDR);
	if (!dir || !in.hdr) {
		fprintf(stderr, "kvtier inspect: %s: %s\n", path, strerror(errno ? errno : ENOMEM));
		code = CLI_EXIT_FAIL;
		goto out;
	}
	while ((d = readdir(dir))) {
		const char *n = d->d_name;
		bool shard = strlen(n) == 2 && strchr("0123456789abcdef", n[0]) &&
			     strchr("0123456789abcdef", n[1]);

		if (n[0] == '.')
			continue;
		if (!shard || d->d_type != DT_DIR) {
			in.foreign++;
			continue;
		}
		if (scan_shard(&in, base, n))
			code = CLI_EXIT_FAIL;
	}
	printf("fs tier        %s\n", path);
	printf("chunks         %" PRIu64 " (%" PRIu64 " bytes, %" PRIu64 "..%" PRIu64
	       " per chunk)\n", in.chunks, in.bytes, in.min_len, in.max_len);
	printf("shards used    %" PRIu64 " of %u\n", in.shards_used, FSCHUNK_SHARDS);
	printf("not servable   %" PRIu64 "%s\n", in.bad, verify ? "" : " (headers only; --verify reads payloads)");
	printf("other entries  %" PRIu64 " (temp or foreign files, ignored by the adapter)\n",
	       in.foreign);
	print_time("oldest", in.oldest);
	print_time("newest", in.newest);
	if (json) {
		printf("{\"path\":\"");
		for (const char *p = path; *p; p++)
			printf(*p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 0x20 ? "?" : "%c",
			       *p);
		printf("\",\"chunks\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"bad\":%" PRIu64 ",\"other\":%" PRIu64 ",\"shards_used\":%" PRIu64
		       ",\"verified\":%s}\n", in.chunks, in.bytes, in.bad, in.foreign,
		       in.shards_used, verify ? "true" : "false");
	}
	if (in.bad)
		code = CLI_EXIT_FAIL;
out:
	if (dir)
		closedir(dir);
	close(base);
	free(in.hdr);
	free(in.payload);
	return code;
}
