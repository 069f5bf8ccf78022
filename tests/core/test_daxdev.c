/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: core/daxdev.c - opening dax.device_path.  Every refusal
 * (empty or relative path, directory, symlink leading elsewhere, non-DAX
 * character device, regular file without allow_file_backing or off tmpfs,
 * world-writable file, sizes that fit no partition) is checked for its
 * errno, its message and for leaving no fd, mapping or file behind, run
 * several times.  File backing: creation 0600 and sizing, existing larger
 * and smaller files, TP partitions written per rank and read back with
 * pread, persist on both the msync and the cache-flush paths.  The sysfs
 * geometry parser runs against a fake tree; the char-device path runs end to
 * end on a fake /dev/dax0.0 (a /dev/zero node) in a private mount namespace
 * when the test may create one.
 */
#define _GNU_SOURCE
#include "core/daxdev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/common/harness.h"

#define MIB (1ull << 20)
#define REPEAT 3

static uint64_t page(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* This case's directory in /dev/shm (tmpfs). */
static const char *shm_dir(void)
{
	static const char *dir;

	if (!dir)
		dir = harness_tmpdir(1);
	return dir;
}

static const char *join(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return buf;
}

static void make_file(const char *path, uint64_t size, mode_t mode)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)size), 0);
	CHECK_EQ(fchmod(fd, mode), 0);
	CHECK_EQ(close(fd), 0);
}

static bool is_mem_fs(const char *path)
{
	struct statfs sfs;

	CHECK_EQ(statfs(path, &sfs), 0);
	return sfs.f_type == TMPFS_MAGIC || sfs.f_type == HUGETLBFS_MAGIC;
}

static struct daxdev_opts file_opts(const char *path, uint64_t total)
{
	struct daxdev_opts o = {
		.path = path,
		.total_bytes = total,
		.allow_file_backing = true,
		.sysfs_root = "/sys",
		.rank = 0,
		.world_size = 1,
	};

	return o;
}

/*
 * Opens @o REPEAT times, expecting @want and a message that starts with
 * the path and contains @sub; each time the daxdev must hold nothing and
 * the fd and thread counts must be as before.
 */
static void check_refused(const char *what, const struct daxdev_opts *o, int want,
			  const char *sub)
{
	char err[1024], prefix[PATH_MAX + 32];
	struct daxdev d;

	snprintf(prefix, sizeof(prefix), "dax.device_path: \"%s\": ", o->path ? o->path : "");
	for (int i = 0; i < REPEAT; i++) {
		int fds = harness_count_fds(), threads = harness_count_threads();
		int ret = daxdev_open(&d, o, err, sizeof(err));

		if (ret != want)
			harness_fail(__FILE__, __LINE__, "%s: returned %d, want %d (%s)", what,
				     ret, want, err);
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			harness_fail(__FILE__, __LINE__, "%s: \"%s\" does not start with \"%s\"",
				     what, err, prefix);
		if (!strstr(err, sub))
			harness_fail(__FILE__, __LINE__, "%s: \"%s\" does not contain \"%s\"",
				     what, err, sub);
		if (d.base != NULL || d.fd != -1)
			harness_fail(__FILE__, __LINE__, "%s: daxdev holds base %p fd %d", what,
				     d.base, d.fd);
		daxdev_close(&d);	/* safe on a refused daxdev */
		if (harness_count_fds() != fds || harness_count_threads() != threads)
			harness_fail(__FILE__, __LINE__, "%s: fds %d -> %d, threads %d -> %d",
				     what, fds, harness_count_fds(), threads,
				     harness_count_threads());
	}
}

TEST(refusals_name_path_and_leak_nothing)
{
	char dir[PATH_MAX], file[PATH_MAX], ww[PATH_MAX], fifo[PATH_MAX], to_null[PATH_MAX];
	char to_dir[PATH_MAX], dangling[PATH_MAX], nowhere[PATH_MAX], missing[PATH_MAX];
	char orphan[PATH_MAX], via_dotdot[PATH_MAX];
	const char *shm = shm_dir();
	struct stat st;

	CHECK_EQ(mkdir(join(dir, shm, "adir"), 0700), 0);
	make_file(join(file, shm, "file"), MIB, 0600);
	make_file(join(ww, shm, "world-writable"), MIB, 0666);
	CHECK_EQ(mkfifo(join(fifo, shm, "fifo"), 0600), 0);
	CHECK_EQ(symlink("/dev/null", join(to_null, shm, "to-null")), 0);
	CHECK_EQ(symlink(dir, join(to_dir, shm, "to-dir")), 0);
	join(nowhere, shm, "nowhere");
	CHECK_EQ(symlink(nowhere, join(dangling, shm, "dangling")), 0);
	join(missing, shm, "missing");
	join(orphan, shm, "no-such-dir/file");
	snprintf(via_dotdot, sizeof(via_dotdot), "%s/../../null", shm);

	const struct {
		const char *what;
		const char *path;
		uint64_t total;
		bool allow;
		uint32_t rank, world;
		int want;
		const char *sub;
	} rows[] = {
		{ "empty", "", MIB, true, 0, 1, -EINVAL, "\"\": empty path" },
		{ "NULL", NULL, MIB, true, 0, 1, -EINVAL, "empty path" },
		{ "relative", "dev/shm/x", MIB, true, 0, 1, -EINVAL, "not an absolute path" },
		{ "directory", dir, MIB, true, 0, 1, -EINVAL, "is a directory" },
		{ "file without allow", file, MIB, false, 0, 1, -EINVAL,
		  "allowed only with dax.allow_file_backing: true" },
		{ "missing without allow", missing, MIB, false, 0, 1, -ENOENT, "no such device" },
		{ "missing dax", "/dev/dax97.3", MIB, false, 0, 1, -ENOENT, "no such device" },
		{ "missing parent", orphan, MIB, true, 0, 1, -ENOENT, "no-such-dir" },
		{ "/dev/null", "/dev/null", MIB, true, 0, 1, -EINVAL,
		  "is character device \"/dev/null\", not a Device-DAX device" },
		{ "symlink to /dev/null", to_null, MIB, true, 0, 1, -EINVAL,
		  "symlink resolves to \"/dev/null\", which is not a DAX device" },
		{ "path through .. to /dev/null", via_dotdot, MIB, true, 0, 1, -EINVAL,
		  "path resolves to \"/dev/null\", which is not a DAX device" },
		{ "symlink to directory", to_dir, MIB, true, 0, 1, -EINVAL,
		  "which is not a DAX device: it is a directory" },
		{ "dangling symlink", dangling, MIB, true, 0, 1, -ENOENT,
		  "symlink target does not exist" },
		{ "fifo", fifo, MIB, true, 0, 1, -EINVAL,
		  "is neither a character device nor a regular file" },
		{ "world-writable", ww, MIB, true, 0, 1, -EINVAL, "is world-writable (mode 0666)" },
		{ "total 0", file, 0, true, 0, 1, -EINVAL, "dax.max_dax_size is 0 bytes" },
		{ "below a page", file, 100, true, 0, 1, -ENOSPC,
		  "100 bytes is smaller than one alignment unit" },
		{ "4 ranks in 3 pages", file, 3 * page(), true, 0, 4, -ENOSPC,
		  "over world_size 4 leaves partitions smaller than one alignment unit" },
		{ "new file below a page", missing, 100, true, 0, 1, -ENOSPC,
		  "smaller than one alignment unit" },
		{ "rank past world", file, MIB, true, 4, 4, -EINVAL,
		  "rank 4 is not below world_size 4" },
		{ "world 0", file, MIB, true, 0, 0, -EINVAL, "rank 0 is not below world_size 0" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct daxdev_opts o = file_opts(rows[i].path, rows[i].total);

		o.allow_file_backing = rows[i].allow;
		o.rank = rows[i].rank;
		o.world_size = rows[i].world;
		check_refused(rows[i].what, &o, rows[i].want, rows[i].sub);
	}
	/* refusals created nothing and resized nothing */
	CHECK(access(missing, F_OK) < 0 && errno == ENOENT);
	CHECK(access(nowhere, F_OK) < 0 && errno == ENOENT);
	CHECK_EQ(stat(file, &st), 0);
	CHECK_EQ(st.st_size, MIB);
}

TEST(regular_file_off_tmpfs_refused)
{
	char file[PATH_MAX], fresh[PATH_MAX], link[PATH_MAX], want[PATH_MAX + 128];
	const char *disk = harness_tmpdir(0);
	struct daxdev_opts o;

	if (is_mem_fs(disk))
		SKIP("%s is on tmpfs here: no disk filesystem to refuse", disk);
	make_file(join(file, disk, "file"), MIB, 0600);
	o = file_opts(file, MIB);
	check_refused("file on disk", &o, -EINVAL, "is not on tmpfs or hugetlbfs");

	o = file_opts(join(fresh, disk, "fresh"), MIB);
	check_refused("new file on disk", &o, -EINVAL, "is not on tmpfs or hugetlbfs (directory");
	CHECK(access(fresh, F_OK) < 0 && errno == ENOENT);

	CHECK_EQ(symlink(file, join(link, shm_dir(), "to-disk")), 0);
	o = file_opts(link, MIB);
	snprintf(want, sizeof(want),
		 "symlink resolves to \"%s\", which is not a DAX device: it is not on tmpfs", file);
	check_refused("symlink from shm to disk", &o, -EINVAL, want);
}

TEST(new_file_created_0600_and_sized)
{
	char path[PATH_MAX], err[512];
	struct daxdev_opts o;
	struct daxdev d;
	struct stat st;
	int fds = harness_count_fds();

	/* not a page multiple: the region is rounded down to one */
	o = file_opts(join(path, shm_dir(), "new"), 8 * MIB + 100);
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK_EQ(err[0], '\0');
	CHECK_EQ(fstat(d.fd, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_size, 8 * MIB);
	CHECK_EQ(d.device_bytes, 8 * MIB);
	CHECK_EQ(d.map_bytes, 8 * MIB);
	CHECK_EQ(d.map_offset, 0);
	CHECK_EQ(d.align, page());
	CHECK_EQ(d.numa_node, -1);
	CHECK(!d.is_char && !d.map_sync);
	CHECK(strcmp(d.path, path) == 0);
	CHECK(fcntl(d.fd, F_GETFD) & FD_CLOEXEC);
	memset(d.base, 0x5a, d.map_bytes);
	daxdev_close(&d);
	CHECK(d.base == NULL && d.fd == -1);
	daxdev_close(&d);	/* twice is fine */
	CHECK_EQ(harness_count_fds(), fds);
	CHECK_EQ(stat(path, &st), 0);	/* the file outlives the mapping */
	CHECK_EQ(st.st_size, 8 * MIB);
}

TEST(existing_files_kept_or_grown)
{
	char big[PATH_MAX], small[PATH_MAX], err[512], buf[8];
	struct daxdev_opts o;
	struct daxdev d;
	struct stat st;
	int fd, fds = harness_count_fds();

	/* larger than asked: the file keeps its size, the mapping is the ask */
	make_file(join(big, shm_dir(), "big"), 16 * MIB, 0600);
	o = file_opts(big, 4 * MIB);
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK_EQ(d.device_bytes, 16 * MIB);
	CHECK_EQ(d.map_bytes, 4 * MIB);
	memcpy(d.base, "kept", 4);
	daxdev_close(&d);
	CHECK_EQ(stat(big, &st), 0);
	CHECK_EQ(st.st_size, 16 * MIB);

	/* reopened: what the last open wrote is still there (restart recovery) */
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK(memcmp(d.base, "kept", 4) == 0);
	daxdev_close(&d);

	/* smaller than asked: kept as it is until daxdev_grow(), then grown,
	 * its bytes kept */
	make_file(join(small, shm_dir(), "small"), page(), 0640);
	fd = open(small, O_WRONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, "hello", 5, 0), 5);
	CHECK_EQ(close(fd), 0);
	o = file_opts(small, 2 * MIB);
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK_EQ(d.device_bytes, page());
	CHECK_EQ(daxdev_backed_bytes(&d), page());
	CHECK(memcmp(d.base, "hello", 5) == 0);
	CHECK_EQ(stat(small, &st), 0);
	CHECK_EQ(st.st_size, page());
	/* discarded before growing or after: the file keeps its size */
	daxdev_discard(&d);
	CHECK_EQ(stat(small, &st), 0);
	CHECK_EQ(st.st_size, page());
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK_EQ(daxdev_grow(&d, err, sizeof(err)), 0);
	CHECK_EQ(d.device_bytes, 2 * MIB);
	CHECK_EQ(daxdev_backed_bytes(&d), 2 * MIB);
	daxdev_discard(&d);
	CHECK_EQ(stat(small, &st), 0);
	CHECK_EQ(st.st_size, page());
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK_EQ(daxdev_grow(&d, err, sizeof(err)), 0);
	CHECK_EQ(d.device_bytes, 2 * MIB);
	CHECK(memcmp(d.base, "hello", 5) == 0);
	daxdev_close(&d);
	CHECK_EQ(stat(small, &st), 0);
	CHECK_EQ(st.st_size, 2 * MIB);
	CHECK_EQ(st.st_mode & 07777, 0640);	/* an existing file's mode is its owner's */
	fd = open(small, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, buf, 5, 0), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(close(fd), 0);
	CHECK_EQ(harness_count_fds(), fds);
}

TEST(symlink_to_shm_file_accepted_with_file_backing)
{
	char target[PATH_MAX], link[PATH_MAX], err[512];
	struct daxdev_opts o;
	struct daxdev d;

	make_file(join(target, shm_dir(), "target"), 2 * MIB, 0600);
	/* the link lives off tmpfs; what counts is where it leads */
	CHECK_EQ(symlink(target, join(link, harness_tmpdir(0), "dax-link")), 0);
	o = file_opts(link, 2 * MIB);
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK(strcmp(d.path, target) == 0);
	CHECK_EQ(d.map_bytes, 2 * MIB);
	daxdev_close(&d);

	o.allow_file_backing = false;
	check_refused("symlink to shm file without allow", &o, -EINVAL,
		      "which is not a DAX device: it is a regular file, allowed only with");
}

TEST(tp_ranks_map_disjoint_aligned_partitions)
{
	enum { WORLD = 4 };
	/* region 4 MiB + 3 pages; part = align_down(region / 4, page) = 1 MiB */
	const uint64_t total = 4 * MIB + 3 * page() + 17, part = MIB;
	struct daxdev d[WORLD];
	char path[PATH_MAX], err[512];
	unsigned char *buf;
	struct daxdev_opts o;
	int fd, fds = harness_count_fds();

	o = file_opts(join(path, shm_dir(), "tp"), total);
	o.world_size = WORLD;
	for (uint32_t r = 0; r < WORLD; r++) {
		o.rank = r;
		CHECK_EQ(daxdev_open(&d[r], &o, err, sizeof(err)), 0);
		CHECK_EQ(d[r].map_offset, r * part);
		CHECK_EQ(d[r].map_bytes, part);
		CHECK_EQ(d[r].map_offset % d[r].align, 0);
		CHECK_EQ(d[r].device_bytes, 4 * MIB + 3 * page());
	}
	for (uint32_t r = 0; r < WORLD; r++) {
		memset(d[r].base, 0xa0 + (int)r, d[r].map_bytes);
		daxdev_persist(&d[r], d[r].base, d[r].map_bytes);
	}
	for (uint32_t r = 0; r < WORLD; r++)
		daxdev_close(&d[r]);
	CHECK_EQ(harness_count_fds(), fds);

	buf = malloc(4 * MIB + 3 * page());
	CHECK(buf != NULL);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, buf, 4 * MIB + 3 * page(), 0), (ssize_t)(4 * MIB + 3 * page()));
	CHECK_EQ(close(fd), 0);
	for (uint64_t i = 0; i < 4 * MIB; i++)
		if (buf[i] != 0xa0 + i / part)
			harness_fail(__FILE__, __LINE__, "byte %llu is 0x%02x, want 0x%02x",
				     (unsigned long long)i, buf[i],
				     (unsigned int)(0xa0 + i / part));
	/* the unpartitioned tail is nobody's */
	for (uint64_t i = 4 * MIB; i < 4 * MIB + 3 * page(); i++)
		CHECK_EQ(buf[i], 0);
	free(buf);
}

TEST(persist_file_mapping_visible_by_pread)
{
	char path[PATH_MAX], err[512], got[5000];
	struct daxdev_opts o;
	struct daxdev d;
	int fd;

	o = file_opts(join(path, shm_dir(), "persist"), 4 * MIB);
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	/* unaligned start and length: msync covers the enclosing pages */
	for (int i = 0; i < 5000; i++)
		((char *)d.base)[page() + 100 + i] = (char)(i * 7);
	daxdev_persist(&d, (char *)d.base + page() + 100, 5000);
	daxdev_persist(&d, d.base, 0);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, got, sizeof(got), (off_t)page() + 100), (ssize_t)sizeof(got));
	CHECK(memcmp(got, (char *)d.base + page() + 100, sizeof(got)) == 0);
	CHECK_EQ(close(fd), 0);
	daxdev_close(&d);
}

TEST(persist_cache_flush_path)
{
	const size_t len = 3 * page();
	struct daxdev d = { .fd = -1, .map_sync = true };
	unsigned char *p;

	/* what a MAP_SYNC mapping sees, on ordinary memory: clflush(opt) + sfence */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	d.base = p;
	d.map_bytes = len;
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 13);
	daxdev_persist(&d, p + 3, len - 70);
	daxdev_persist(&d, p + len - 1, 1);
	daxdev_persist(&d, p, len);
	for (size_t i = 0; i < len; i++)
		CHECK_EQ(p[i], (unsigned char)(i * 13));
	CHECK_EQ(munmap(p, len), 0);
}

/* <root>/bus/dax/devices/<name>/<attr> = @text; NULL @text removes it. */
static void put_attr(const char *root, const char *name, const char *attr, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bus", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/dax", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/dax/devices", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/dax/devices/%s", root, name);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/dax/devices/%s/%s", root, name, attr);
	if (!text) {
		CHECK(unlink(path) == 0 || errno == ENOENT);
		return;
	}
	f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK_EQ(fclose(f), 0);
}

/* A well-formed device: 1 GiB, 2 MiB aligned, on node 1. */
static void put_good_device(const char *root, const char *name)
{
	put_attr(root, name, "size", "1073741824\n");
	put_attr(root, name, "align", "2097152\n");
	put_attr(root, name, "numa_node", "1\n");
}

TEST(sysfs_geometry_reads_good_tree)
{
	const char *root = harness_tmpdir(0);
	char err[512], region[512], link[PATH_MAX];
	uint64_t size = 0, align = 0;
	int node = -7, fds = harness_count_fds();

	put_good_device(root, "dax0.0");
	CHECK_EQ(daxdev_sysfs_geometry(root, "dax0.0", &size, &align, &node, err, sizeof(err)), 0);
	CHECK_EQ(size, 1073741824ull);
	CHECK_EQ(align, 2 * MIB);
	CHECK_EQ(node, 1);

	/* no newline, 1 GiB alignment, node -1 ("none") */
	put_attr(root, "dax1.0", "size", "4294967296");
	put_attr(root, "dax1.0", "align", "1073741824");
	put_attr(root, "dax1.0", "numa_node", "-1\n");
	CHECK_EQ(daxdev_sysfs_geometry(root, "dax1.0", &size, &align, &node, err, sizeof(err)), 0);
	CHECK_EQ(size, 4294967296ull);
	CHECK_EQ(align, 1024 * MIB);
	CHECK_EQ(node, -1);

	/* no align file: 2 MiB; no numa_node anywhere: -1 */
	put_attr(root, "dax2.0", "size", "8388608\n");
	node = 5;
	CHECK_EQ(daxdev_sysfs_geometry(root, "dax2.0", &size, &align, &node, err, sizeof(err)), 0);
	CHECK_EQ(size, 8 * MIB);
	CHECK_EQ(align, 2 * MIB);
	CHECK_EQ(node, -1);

	/* numa_node only on the parent, through the device/ link */
	snprintf(region, sizeof(region), "%s/region0", root);
	CHECK_EQ(mkdir(region, 0755), 0);
	put_attr(root, "dax3.1", "size", "8388608\n");
	snprintf(link, sizeof(link), "%s/bus/dax/devices/dax3.1/device", root);
	CHECK_EQ(symlink(region, link), 0);
	snprintf(link, sizeof(link), "%s/numa_node", region);
	{
		FILE *f = fopen(link, "w");

		CHECK(f != NULL);
		CHECK(fputs("3\n", f) >= 0);
		CHECK_EQ(fclose(f), 0);
	}
	CHECK_EQ(daxdev_sysfs_geometry(root, "dax3.1", &size, &align, &node, err, sizeof(err)), 0);
	CHECK_EQ(node, 3);
	CHECK_EQ(harness_count_fds(), fds);
}

TEST(sysfs_geometry_refuses_bad_values)
{
	const struct {
		const char *attr;
		const char *text;	/* NULL: the file is missing */
		int want;
		const char *sub;
	} rows[] = {
		{ "size", "12abc\n", -EINVAL, "/size: \"12abc\": not a decimal byte count" },
		{ "size", "", -EINVAL, "/size: \"\": not a decimal byte count" },
		{ "size", "-4096\n", -EINVAL, "not a decimal byte count" },
		{ "size", " 4096\n", -EINVAL, "not a decimal byte count" },
		{ "size", "4096 \n", -EINVAL, "not a decimal byte count" },
		{ "size", "0x1000\n", -EINVAL, "not a decimal byte count" },
		{ "size", "18446744073709551616\n", -EINVAL, "not a decimal byte count" },
		{ "size", "1\n2\n", -EINVAL, "not a decimal byte count" },
		{ "size", "0\n", -ENOSPC, "/size: device has 0 bytes" },
		{ "size", NULL, -ENOENT, "/size: cannot read: No such file or directory" },
		{ "align", "3000000\n", -EINVAL, "/align: \"3000000\": not a power of two" },
		{ "align", "0\n", -EINVAL, "not a power of two" },
		{ "align", "1024\n", -EINVAL, "of at least the page size" },
		{ "align", "2M\n", -EINVAL, "/align: \"2M\": not a decimal byte count" },
		{ "numa_node", "x1\n", -EINVAL, "/numa_node: \"x1\": not a NUMA node number" },
		{ "numa_node", "-2\n", -EINVAL, "not a NUMA node number" },
		{ "numa_node", "99999999999\n", -EINVAL, "not a NUMA node number" },
	};
	const char *root = harness_tmpdir(0);
	char name[32], err[512], prefix[64];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t size = 11, align = 22;
		int node = 33, ret, fds;

		snprintf(name, sizeof(name), "dax%zu.0", i);
		put_good_device(root, name);
		put_attr(root, name, rows[i].attr, rows[i].text);
		fds = harness_count_fds();
		ret = daxdev_sysfs_geometry(root, name, &size, &align, &node, err, sizeof(err));
		if (ret != rows[i].want || !strstr(err, rows[i].sub))
			harness_fail(__FILE__, __LINE__,
				     "row %zu (%s=%s): %d \"%s\", want %d \"%s\"", i,
				     rows[i].attr, rows[i].text ? rows[i].text : "(missing)",
				     ret, err, rows[i].want, rows[i].sub);
		snprintf(prefix, sizeof(prefix), "dax.device_path: \"/dev/%s\": ", name);
		CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
		/* outputs are written on success only */
		CHECK(size == 11 && align == 22 && node == 33);
		CHECK_EQ(harness_count_fds(), fds);
	}
}

TEST(sysfs_geometry_refuses_bad_names)
{
	static const char *const names[] = {
		"", "null", "dax", "dax0", "dax0.", "dax.0", "daxa.b", "dax0.0x", "dax-1.0",
		"dax0.0/../dax1.0", "../dax0.0", "dax1234567890.0", "DAX0.0", " dax0.0",
	};
	const char *root = harness_tmpdir(0);
	char err[512];
	uint64_t size, align;
	int node;

	put_good_device(root, "dax0.0");
	put_good_device(root, "dax1.0");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int ret = daxdev_sysfs_geometry(root, names[i], &size, &align, &node, err,
						sizeof(err));

		if (ret != -EINVAL || !strstr(err, "is not a Device-DAX name (daxN.M)"))
			harness_fail(__FILE__, __LINE__, "name \"%s\": %d \"%s\"", names[i], ret,
				     err);
	}
	CHECK_EQ(daxdev_sysfs_geometry(root, "dax9.9", &size, &align, &node, err, sizeof(err)),
		 -ENOENT);
	CHECK_HAS(err, "dax.device_path: \"/dev/dax9.9\": ");
	CHECK_HAS(err, "/bus/dax/devices/dax9.9: no such Device-DAX device in sysfs");
}

/*
 * A private mount namespace with a tmpfs on /dev holding dax0.0 as a node
 * of /dev/zero (1:5): the whole char-device path runs, with the geometry
 * from a fake sysfs.  /dev/zero has no MAP_SYNC, so the fallback runs too.
 */
TEST(char_device_end_to_end_on_fake_dev)
{
	const uint64_t size = 64 * MIB, align = 2 * MIB;
	const char *root = harness_tmpdir(0);
	char err[1024], outside[PATH_MAX];
	struct daxdev_opts o = {
		.path = "/dev/dax0.0",
		.total_bytes = size,
		.sysfs_root = root,
		.world_size = 1,
	};
	struct daxdev d;
	int fds;

	if (unshare(CLONE_NEWNS) < 0)
		SKIP("unshare(CLONE_NEWNS): %s: a fake /dev/dax0.0 needs CAP_SYS_ADMIN",
		     strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("kvt-test-dev", "/dev", "tmpfs", 0, "mode=0755") < 0)
		SKIP("cannot mount a private /dev: %s", strerror(errno));
	if (mknod("/dev/dax0.0", S_IFCHR | 0600, makedev(1, 5)) < 0)
		SKIP("mknod /dev/dax0.0: %s", strerror(errno));
	CHECK_EQ(mknod("/dev/dax0.1", S_IFCHR | 0600, makedev(1, 5)), 0);
	CHECK_EQ(mkdir("/dev/sub", 0755), 0);
	CHECK_EQ(mknod("/dev/sub/dax0.0", S_IFCHR | 0600, makedev(1, 5)), 0);
	CHECK_EQ(symlink("/dev/dax0.0", "/dev/pmem-link"), 0);
	CHECK_EQ(symlink("/dev/dax0.0", join(outside, root, "dax-link")), 0);
	put_attr(root, "dax0.0", "size", "67108864\n");
	put_attr(root, "dax0.0", "align", "2097152\n");
	put_attr(root, "dax0.0", "numa_node", "0\n");
	put_attr(root, "dax0.0", "dev", "1:5\n");
	fds = harness_count_fds();

	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK(d.is_char && !d.map_sync);
	CHECK(strcmp(d.path, "/dev/dax0.0") == 0);
	CHECK_EQ(d.device_bytes, size);
	CHECK_EQ(d.align, align);
	CHECK_EQ(d.map_bytes, size);
	CHECK_EQ(d.map_offset, 0);
	CHECK_EQ(d.numa_node, 0);
	memset(d.base, 0x3c, 3 * align);
	daxdev_persist(&d, (char *)d.base + 5, 3 * align - 10);	/* cache-flush path */
	daxdev_close(&d);

	/* rank 3 of 4 over 62 MiB: parts of align_down(15.5 MiB, 2 MiB) = 14 MiB */
	o.total_bytes = size - 1;
	o.world_size = 4;
	o.rank = 3;
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK_EQ(d.map_bytes, 14 * MIB);
	CHECK_EQ(d.map_offset, 42 * MIB);
	daxdev_close(&d);

	/* symlinks that lead to the device are fine, from /dev or elsewhere */
	o = (struct daxdev_opts){ .path = "/dev/pmem-link", .total_bytes = size,
				  .sysfs_root = root, .world_size = 1 };
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	CHECK(strcmp(d.path, "/dev/dax0.0") == 0);
	daxdev_close(&d);
	o.path = outside;
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);
	daxdev_close(&d);
	CHECK_EQ(harness_count_fds(), fds);

	o.path = "/dev/dax0.0";
	o.total_bytes = 2 * size;
	check_refused("device too small", &o, -ENOSPC,
		      "device has 67108864 bytes, less than dax.max_dax_size (134217728 bytes)");
	o.total_bytes = MIB;
	check_refused("below one alignment unit", &o, -ENOSPC,
		      "1048576 bytes is smaller than one alignment unit (2097152 bytes)");
	o.total_bytes = size;
	o.path = "/dev/dax0.1";
	check_refused("no sysfs entry", &o, -ENOENT, "no such Device-DAX device in sysfs");
	o.path = "/dev/sub/dax0.0";
	check_refused("not directly in /dev", &o, -EINVAL,
		      "is character device \"/dev/sub/dax0.0\", not a Device-DAX device");

	o.path = "/dev/pmem-link";
	put_attr(root, "dax0.0", "dev", "1:3\n");
	check_refused("node is not the sysfs device", &o, -EINVAL,
		      "character device 1:5 is not dax0.0, which sysfs says is 1:3");
	put_attr(root, "dax0.0", "dev", "15\n");
	check_refused("garbage dev file", &o, -EINVAL, "/dev: \"15\": not major:minor");
	put_attr(root, "dax0.0", "dev", NULL);
	put_attr(root, "dax0.0", "size", "64M\n");
	check_refused("garbage size via symlink", &o, -EINVAL, "\"64M\": not a decimal byte count");
	put_attr(root, "dax0.0", "size", "67108864\n");
	CHECK_EQ(daxdev_open(&d, &o, err, sizeof(err)), 0);	/* no dev file: check skipped */
	daxdev_close(&d);
	CHECK_EQ(harness_count_fds(), fds);
}
