/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/daxdev.c - open, validate and map a Device-DAX region (see daxdev.h).
 *
 * What it owns: one fd and one shared mapping per daxdev, nothing else (no
 * threads, no allocation).  A daxdev is open exactly when @base is non-NULL;
 * daxdev_close() keys on that, so a zeroed or refused daxdev (fd 0 or -1,
 * base NULL) is safe to close.
 *
 * Validation order, so that a refusal leaves nothing behind:
 *   1. knobs: path non-empty and absolute, total_bytes > 0, rank < world_size;
 *   2. realpath(): the object the path finally names (for a file still to be
 *      created, its parent directory is resolved and the name kept);
 *   3. type of that object: a character device must be /dev/daxN.M with a
 *      sysfs entry; a regular file needs allow_file_backing and tmpfs or
 *      hugetlbfs; anything else, and any symlink leading elsewhere, is
 *      refused;
 *   4. open with O_NOFOLLOW and re-check type (and, for a device, that its
 *      major:minor is the one sysfs names) on the fd, so a path swapped after
 *      step 2 is caught;
 *   5. partition geometry, sizing of a file, then mmap.
 * Every failure after the open unwinds through one label that closes the fd
 * (and unlinks a file this call created); mmap is the last step, so no
 * error path has a mapping to undo.
 *
 * Threads: daxdev_open() and daxdev_close() are called by the daxdev's one
 * owner; daxdev_persist() from any thread (it only reads @d).
 */
#define _GNU_SOURCE
#include "core/daxdev.h"

#include <assert.h>
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <immintrin.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/log.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

#define DAXDEV_DEFAULT_ALIGN (2ull << 20)	/* sysfs without an align file */
#define DAXDEV_CACHELINE 64

/* sizes and offsets go between uint64_t, size_t and off_t unchecked */
_Static_assert(sizeof(size_t) == 8 && sizeof(off_t) == 8, "64-bit size_t and off_t");

/* Where messages go and what they name. */
struct daxdev_ctx {
	const char *path;	/* dax.device_path as given: every message names it */
	const char *resolved;	/* where it led, when that differs from @path */
	bool via_link;		/* the last component of @path is a symlink */
	char *err;
	size_t errlen;
};

static void vreport(const struct daxdev_ctx *c, bool refusal, const char *fmt, va_list ap)
{
	size_t n;
	int k;

	if (!c->err || !c->errlen)
		return;
	k = snprintf(c->err, c->errlen, "dax.device_path: \"%s\": ", c->path);
	if (k < 0 || (size_t)k >= c->errlen)
		return;
	n = (size_t)k;
	if (refusal && c->resolved) {
		k = snprintf(c->err + n, c->errlen - n,
			     "%s resolves to \"%s\", which is not a DAX device: it ",
			     c->via_link ? "symlink" : "path", c->resolved);
		if (k < 0 || (size_t)k >= c->errlen - n)
			return;
		n += (size_t)k;
	}
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
}

/* Writes "dax.device_path: \"<path>\": <reason>" to the caller; returns @ret. */
static int __attribute__((format(printf, 3, 4)))
fail(const struct daxdev_ctx *c, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, false, fmt, ap);
	va_end(ap);
	return ret;
}

/*
 * Like fail(), for a refusal of the object itself: when the path resolved
 * somewhere else, the message says where, since that is what was refused.
 * @fmt reads after "it" or after the path ("is a directory").
 */
static int __attribute__((format(printf, 3, 4)))
refuse(const struct daxdev_ctx *c, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, true, fmt, ap);
	va_end(ap);
	return ret;
}

static uint64_t align_down(uint64_t v, uint64_t align)
{
	return v - v % align;
}

static uint64_t page_size(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Decimal digits only, no sign, no spaces, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned int digit = (unsigned int)(*s - '0');

		if (digit > 9 || v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

/* Advances *@p over 1 to 9 decimal digits; false if there are none or more. */
static bool skip_digits(const char **p)
{
	const char *s = *p;

	while (*s >= '0' && *s <= '9')
		s++;
	if (s == *p || s - *p > 9)
		return false;
	*p = s;
	return true;
}

/* True when @name is "daxN.M", the only names Device-DAX gives its devices. */
static bool dax_name_valid(const char *name)
{
	const char *p = name;

	if (strncmp(p, "dax", 3) != 0)
		return false;
	p += 3;
	if (!skip_digits(&p) || *p++ != '.' || !skip_digits(&p))
		return false;
	return *p == '\0';
}

/*
 * Reads the sysfs attribute @dir/@attr into @buf, less its trailing newline.
 * Return: 0; -ENOENT absent; -EFBIG longer than @len - 1; -errno otherwise.
 */
static int sysfs_read(const char *dir, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, ret = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, attr) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* sysfs returns a whole attribute in one read */
	n = read(fd, buf, len);
	if (n < 0) {
		ret = -errno;
	} else if ((size_t)n == len) {
		ret = -EFBIG;
	} else {
		buf[n] = '\0';
		if (n > 0 && buf[n - 1] == '\n')
			buf[n - 1] = '\0';
	}
	close(fd);
	return ret;
}

/*
 * NUMA node of the device: its own numa_node, else its parent's through the
 * device/ link.  -1 (what the kernel writes for "none") when neither exists.
 */
static int sysfs_numa_node(const struct daxdev_ctx *c, const char *dir, int *node)
{
	static const char *const attrs[] = { "numa_node", "device/numa_node" };
	uint64_t v;
	char buf[32];
	int ret;

	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		ret = sysfs_read(dir, attrs[i], buf, sizeof(buf));
		if (ret == -ENOENT)
			continue;
		if (ret)
			return fail(c, ret, "%s/%s: cannot read: %s", dir, attrs[i],
				    strerror(-ret));
		if (strcmp(buf, "-1") == 0) {
			*node = -1;
			return 0;
		}
		if (!parse_u64(buf, &v) || v > INT_MAX)
			return fail(c, -EINVAL, "%s/%s: \"%s\": not a NUMA node number",
				    dir, attrs[i], buf);
		*node = (int)v;
		return 0;
	}
	*node = -1;
	return 0;
}

static int sysfs_geometry(const struct daxdev_ctx *c, const char *root, const char *name,
			  uint64_t *size_out, uint64_t *align_out, int *node_out)
{
	uint64_t size, align;
	char dir[PATH_MAX];
	struct stat st;
	char buf[32];
	int node = -1, ret;

	if (!dax_name_valid(name))
		return fail(c, -EINVAL, "\"%s\" is not a Device-DAX name (daxN.M)", name);
	if (snprintf(dir, sizeof(dir), "%s/bus/dax/devices/%s", root, name) >= (int)sizeof(dir))
		return fail(c, -ENAMETOOLONG, "sysfs root \"%s\" is too long", root);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return fail(c, -ENOENT, "%s: no such Device-DAX device in sysfs", dir);

	ret = sysfs_read(dir, "size", buf, sizeof(buf));
	if (ret)
		return fail(c, ret, "%s/size: cannot read: %s", dir, strerror(-ret));
	if (!parse_u64(buf, &size))
		return fail(c, -EINVAL, "%s/size: \"%s\": not a decimal byte count", dir, buf);
	if (size == 0)
		return fail(c, -ENOSPC, "%s/size: device has 0 bytes", dir);

	ret = sysfs_read(dir, "align", buf, sizeof(buf));
	if (ret == -ENOENT) {
		align = DAXDEV_DEFAULT_ALIGN;
	} else if (ret) {
		return fail(c, ret, "%s/align: cannot read: %s", dir, strerror(-ret));
	} else if (!parse_u64(buf, &align)) {
		return fail(c, -EINVAL, "%s/align: \"%s\": not a decimal byte count", dir, buf);
	} else if (align < page_size() || (align & (align - 1))) {
		return fail(c, -EINVAL,
			    "%s/align: \"%s\": not a power of two of at least the page size (%" PRIu64
			    ")", dir, buf, page_size());
	}

	ret = sysfs_numa_node(c, dir, &node);
	if (ret)
		return ret;
	*size_out = size;
	*align_out = align;
	*node_out = node;
	return 0;
}

int daxdev_sysfs_geometry(const char *sysfs_root, const char *name, uint64_t *size,
			  uint64_t *align, int *numa_node, char *err, size_t errlen)
{
	char label[PATH_MAX];
	struct daxdev_ctx c = { .path = label, .err = err, .errlen = errlen };

	snprintf(label, sizeof(label), "/dev/%s", name);
	return sysfs_geometry(&c, sysfs_root ? sysfs_root : "/sys", name, size, align, numa_node);
}

/*
 * The device node must be the one sysfs describes: <dir>/dev holds
 * "major:minor".  Kernels (and fake trees) without the file skip the check.
 */
static int sysfs_check_devnum(const struct daxdev_ctx *c, const char *root, const char *name,
			      dev_t rdev)
{
	char dir[PATH_MAX], buf[32], *colon;
	uint64_t maj, min;
	int ret;

	snprintf(dir, sizeof(dir), "%s/bus/dax/devices/%s", root, name);
	ret = sysfs_read(dir, "dev", buf, sizeof(buf));
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return fail(c, ret, "%s/dev: cannot read: %s", dir, strerror(-ret));
	colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	if (!colon || !parse_u64(buf, &maj) || !parse_u64(colon + 1, &min)) {
		if (colon)
			*colon = ':';
		return fail(c, -EINVAL, "%s/dev: \"%s\": not major:minor", dir, buf);
	}
	if (maj != major(rdev) || min != minor(rdev))
		return fail(c, -EINVAL,
			    "character device %u:%u is not %s, which sysfs says is %" PRIu64 ":%" PRIu64,
			    major(rdev), minor(rdev), name, maj, min);
	return 0;
}

static bool fs_allowed(const struct statfs *sfs)
{
	return sfs->f_type == TMPFS_MAGIC || sfs->f_type == HUGETLBFS_MAGIC;
}

/*
 * Resolves @c->path into @out.  A missing last component is allowed (a file
 * to create): its parent is resolved and the name appended, and *@exists is
 * false.  A symlink whose target is missing is refused: nothing is ever
 * created through a link.
 */
static int resolve(struct daxdev_ctx *c, char *out, bool *exists)
{
	char parent[PATH_MAX];
	const char *base;
	struct stat lst;
	char *slash;
	size_t n;

	if (lstat(c->path, &lst) == 0) {
		c->via_link = S_ISLNK(lst.st_mode);
		if (realpath(c->path, out)) {
			*exists = true;
			return 0;
		}
		if (c->via_link && errno == ENOENT)
			return fail(c, -ENOENT, "symlink target does not exist");
		return fail(c, -errno, "cannot resolve: %s", strerror(errno));
	}
	if (errno != ENOENT)
		return fail(c, -errno, "%s", strerror(errno));

	snprintf(parent, sizeof(parent), "%s", c->path);
	slash = strrchr(parent, '/');
	base = slash + 1;
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return fail(c, -ENOENT, "no such file or device");
	*slash = '\0';
	if (!realpath(slash == parent ? "/" : parent, out))
		return fail(c, -errno, "directory \"%s\": %s", slash == parent ? "/" : parent,
			    strerror(errno));
	n = strlen(out);
	if (snprintf(out + n, PATH_MAX - n, "%s%s", n > 1 ? "/" : "", base) >= (int)(PATH_MAX - n))
		return fail(c, -ENAMETOOLONG, "resolved path too long");
	*exists = false;
	return 0;
}

/*
 * Splits align_down(total_bytes, align) into world_size aligned partitions
 * and picks this rank's.  Needs @d->align.
 */
static int pick_partition(struct daxdev *d, const struct daxdev_opts *o,
			  const struct daxdev_ctx *c)
{
	uint64_t region = align_down(o->total_bytes, d->align);
	uint64_t part = align_down(region / o->world_size, d->align);

	if (part == 0 && o->world_size == 1)
		return fail(c, -ENOSPC,
			    "dax.max_dax_size of %" PRIu64
			    " bytes is smaller than one alignment unit (%zu bytes)",
			    o->total_bytes, d->align);
	if (part == 0)
		return fail(c, -ENOSPC,
			    "dax.max_dax_size of %" PRIu64 " bytes over world_size %" PRIu32
			    " leaves partitions smaller than one alignment unit (%zu bytes)",
			    o->total_bytes, o->world_size, d->align);
	d->map_offset = part * o->rank;
	d->map_bytes = (size_t)part;
	return 0;
}

/*
 * Maps the partition shared.  A character device is tried with MAP_SYNC
 * first, so that flushed cache lines are durable without msync; a kernel or
 * device that lacks it answers EOPNOTSUPP (or EINVAL on old kernels) and gets
 * a plain MAP_SHARED mapping, with map_sync false.
 */
static int map_partition(struct daxdev *d, const struct daxdev_ctx *c)
{
	void *p = MAP_FAILED;

	if (d->is_char) {
		p = mmap(NULL, d->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC,
			 d->fd, (off_t)d->map_offset);
		if (p == MAP_FAILED && errno != EOPNOTSUPP && errno != EINVAL)
			return fail(c, -errno, "cannot map %zu bytes at offset %" PRIu64 ": %s",
				    d->map_bytes, d->map_offset, strerror(errno));
		d->map_sync = p != MAP_FAILED;
	}
	if (p == MAP_FAILED)
		p = mmap(NULL, d->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
			 (off_t)d->map_offset);
	if (p == MAP_FAILED)
		return fail(c, -errno, "cannot map %zu bytes at offset %" PRIu64 ": %s",
			    d->map_bytes, d->map_offset, strerror(errno));
	d->base = p;
	return 0;
}

static int open_char(struct daxdev *d, const struct daxdev_opts *o, const struct daxdev_ctx *c)
{
	const char *root = o->sysfs_root ? o->sysfs_root : "/sys";
	const char *name = strrchr(d->path, '/') + 1;
	uint64_t size, align;
	struct stat st;
	int node, ret;

	if (name - d->path != 5 || strncmp(d->path, "/dev/", 5) != 0 || !dax_name_valid(name))
		return refuse(c, -EINVAL,
			      "is character device \"%s\", not a Device-DAX device (/dev/daxN.M)",
			      d->path);
	ret = sysfs_geometry(c, root, name, &size, &align, &node);
	if (ret)
		return ret;
	if (size < o->total_bytes)
		return fail(c, -ENOSPC,
			    "device has %" PRIu64 " bytes, less than dax.max_dax_size (%" PRIu64
			    " bytes)", size, o->total_bytes);
	d->device_bytes = size;
	d->file_bytes = size;
	d->want_bytes = size;
	d->align = (size_t)align;
	d->numa_node = node;
	d->is_char = true;
	ret = pick_partition(d, o, c);
	if (ret)
		return ret;

	d->fd = open(d->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (d->fd < 0) {
		d->fd = -1;
		return fail(c, -errno, "cannot open: %s", strerror(errno));
	}
	if (fstat(d->fd, &st) < 0) {
		ret = fail(c, -errno, "cannot stat: %s", strerror(errno));
		goto err_close;
	}
	if (!S_ISCHR(st.st_mode)) {
		ret = refuse(c, -EINVAL, "is no longer a character device");
		goto err_close;
	}
	ret = sysfs_check_devnum(c, root, name, st.st_rdev);
	if (ret)
		goto err_close;
	ret = map_partition(d, c);
	if (ret)
		goto err_close;
	return 0;

err_close:
	close(d->fd);
	d->fd = -1;
	return ret;
}

/*
 * File backing, for development and tests.  Only tmpfs and hugetlbfs: they
 * hold the bytes in memory as a DAX device would, and a file on a disk
 * filesystem would turn every persist into writeback.  A world-writable
 * file is refused since any local user could then rewrite cached KV; files
 * owned by another user are accepted (a shared pool may be set up by an
 * admin), their mode being the guard.  The size is not reserved: a full
 * tmpfs raises SIGBUS on first touch, as for any shared-memory file.
 */
static int open_file(struct daxdev *d, const struct daxdev_opts *o, const struct daxdev_ctx *c,
		     bool exists)
{
	int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
	char parent[PATH_MAX];
	const char *dir;
	struct statfs sfs;
	struct stat st;
	int ret;

	if (!o->allow_file_backing)
		return refuse(c, -EINVAL,
			      "is a regular file, allowed only with dax.allow_file_backing: true");
	if (!exists) {
		/* check the directory before creating anything in it */
		snprintf(parent, sizeof(parent), "%s", d->path);
		*strrchr(parent, '/') = '\0';
		dir = parent[0] ? parent : "/";
		if (statfs(dir, &sfs) < 0)
			return fail(c, -errno, "directory \"%s\": %s", dir, strerror(errno));
		if (!fs_allowed(&sfs))
			return refuse(c, -EINVAL,
				      "is not on tmpfs or hugetlbfs (directory \"%s\" has filesystem magic 0x%lx)",
				      dir, (unsigned long)sfs.f_type);
		/* O_EXCL: the file is ours to unlink if a later step fails */
		flags |= O_CREAT | O_EXCL;
	}
	d->fd = open(d->path, flags, 0600);
	if (d->fd < 0 && errno == EEXIST && !exists) {
		/* another rank created it between our check and our open: it is
		 * theirs, so open it as an existing file (and never unlink it) */
		exists = true;
		flags &= ~(O_CREAT | O_EXCL);
		d->fd = open(d->path, flags, 0600);
	}
	d->created = !exists;
	if (d->fd < 0) {
		d->fd = -1;
		d->created = false;
		return fail(c, -errno, "cannot %s \"%s\": %s", exists ? "open" : "create", d->path,
			    strerror(errno));
	}
	if (fstat(d->fd, &st) < 0 || fstatfs(d->fd, &sfs) < 0) {
		ret = fail(c, -errno, "cannot stat: %s", strerror(errno));
		goto err_close;
	}
	ret = -EINVAL;
	if (!S_ISREG(st.st_mode)) {
		refuse(c, ret, "is no longer a regular file");
		goto err_close;
	}
	if (!fs_allowed(&sfs)) {
		refuse(c, ret, "is not on tmpfs or hugetlbfs (filesystem magic 0x%lx)",
		       (unsigned long)sfs.f_type);
		goto err_close;
	}
	if (st.st_mode & S_IWOTH) {
		fail(c, ret, "is world-writable (mode %04o); chmod o-w it", st.st_mode & 07777);
		goto err_close;
	}
	/* hugetlbfs maps whole huge pages: f_bsize is its page size */
	d->align = sfs.f_type == HUGETLBFS_MAGIC ? (size_t)sfs.f_bsize : (size_t)page_size();
	ret = pick_partition(d, o, c);
	if (ret)
		goto err_close;
	d->device_bytes = (uint64_t)st.st_size;
	d->file_bytes = d->device_bytes;
	d->want_bytes = align_down(o->total_bytes, d->align);
	/*
	 * A file this call created is sized now; an existing one that is
	 * shorter keeps its size until the caller has looked at what it holds
	 * (daxdev_backed_bytes()) and calls daxdev_grow().  The mapping may
	 * reach past its end meanwhile: nothing touches those pages.
	 */
	if (!exists && d->device_bytes < d->want_bytes) {
		if (ftruncate(d->fd, (off_t)d->want_bytes) < 0) {
			ret = fail(c, -errno, "cannot size to %" PRIu64 " bytes: %s",
				   d->want_bytes, strerror(errno));
			goto err_close;
		}
		d->device_bytes = d->want_bytes;
	}
	ret = map_partition(d, c);
	if (ret)
		goto err_close;
	return 0;

err_close:
	close(d->fd);
	d->fd = -1;
	d->created = false;
	if (!exists)
		unlink(d->path);
	return ret;
}

int daxdev_open(struct daxdev *d, const struct daxdev_opts *o, char *err, size_t errlen)
{
	struct daxdev_ctx c = {
		.path = o->path ? o->path : "",
		.err = err,
		.errlen = errlen,
	};
	bool exists;
	struct stat st;
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->numa_node = -1;
	if (err && errlen)
		err[0] = '\0';
	if (!c.path[0])
		return fail(&c, -EINVAL, "empty path");
	if (c.path[0] != '/')
		return fail(&c, -EINVAL, "not an absolute path");
	if (strlen(c.path) >= PATH_MAX)
		return fail(&c, -ENAMETOOLONG, "path longer than %d bytes", PATH_MAX - 1);
	if (o->total_bytes == 0)
		return fail(&c, -EINVAL, "dax.max_dax_size is 0 bytes");
	if (o->total_bytes > (uint64_t)INT64_MAX)
		return fail(&c, -EINVAL, "dax.max_dax_size of %" PRIu64 " bytes is too large",
			    o->total_bytes);
	if (o->world_size == 0 || o->rank >= o->world_size)
		return fail(&c, -EINVAL, "rank %" PRIu32 " is not below world_size %" PRIu32,
			    o->rank, o->world_size);

	ret = resolve(&c, d->path, &exists);
	if (ret)
		return ret;
	if (strcmp(d->path, c.path) != 0)
		c.resolved = d->path;
	if (!exists) {
		if (!o->allow_file_backing)
			return fail(&c, -ENOENT, "no such device");
		return open_file(d, o, &c, false);
	}
	if (stat(d->path, &st) < 0)
		return fail(&c, -errno, "cannot stat \"%s\": %s", d->path, strerror(errno));
	if (S_ISCHR(st.st_mode))
		return open_char(d, o, &c);
	if (S_ISREG(st.st_mode))
		return open_file(d, o, &c, true);
	if (S_ISDIR(st.st_mode))
		return refuse(&c, -EINVAL, "is a directory");
	return refuse(&c, -EINVAL, "is neither a character device nor a regular file");
}

void daxdev_close(struct daxdev *d)
{
	if (!d->base)
		return;
	munmap(d->base, d->map_bytes);
	close(d->fd);
	d->base = NULL;
	d->fd = -1;
}

void daxdev_discard(struct daxdev *d)
{
	bool unlink_it = d->base && d->created;
	struct stat st;

	/* a file daxdev_grow() extended goes back to the size it had, if no
	 * one changed it since */
	if (d->base && d->grown && !d->created && !fstat(d->fd, &st) &&
	    (uint64_t)st.st_size == d->device_bytes && ftruncate(d->fd, (off_t)d->file_bytes))
		log_warn("dax.device_path: \"%s\": cannot restore its size of %" PRIu64
			 " bytes: %s", d->path, d->file_bytes, strerror(errno));
	daxdev_close(d);
	if (unlink_it)
		unlink(d->path);
	d->created = false;
	d->grown = false;
}

uint64_t daxdev_backed_bytes(const struct daxdev *d)
{
	if (d->is_char || d->device_bytes >= d->map_offset + d->map_bytes)
		return d->map_bytes;
	if (d->device_bytes <= d->map_offset)
		return 0;
	return d->device_bytes - d->map_offset;
}

int daxdev_grow(struct daxdev *d, char *err, size_t errlen)
{
	struct stat st;
	int e;

	if (d->is_char || d->device_bytes >= d->want_bytes)
		return 0;
	if (fstat(d->fd, &st) < 0)
		goto fail;
	/* another rank may have grown it meanwhile: never shrink */
	if ((uint64_t)st.st_size < d->want_bytes && ftruncate(d->fd, (off_t)d->want_bytes) < 0)
		goto fail;
	d->device_bytes = (uint64_t)st.st_size < d->want_bytes ? d->want_bytes
							       : (uint64_t)st.st_size;
	d->grown = true;
	return 0;
fail:
	e = errno;
	if (err && errlen)
		snprintf(err, errlen, "dax.device_path: \"%s\": cannot size to %" PRIu64
			 " bytes: %s", d->path, d->want_bytes, strerror(e));
	return -e;
}

static bool cpu_has_clflushopt(void)
{
	static _Atomic int cached = -1;
	int v = atomic_load_explicit(&cached, memory_order_relaxed);
	unsigned int eax, ebx, ecx, edx;

	if (v < 0) {
		v = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & bit_CLFLUSHOPT);
		/* relaxed: racing first callers compute and store the same value */
		atomic_store_explicit(&cached, v, memory_order_relaxed);
	}
	return v;
}

/* No -mclflushopt in the build flags: only this helper is compiled for it. */
__attribute__((target("clflushopt"))) static void flush_opt(uintptr_t p, uintptr_t end)
{
	for (; p < end; p += DAXDEV_CACHELINE)
		_mm_clflushopt((void *)p);
}

static void flush_legacy(uintptr_t p, uintptr_t end)
{
	for (; p < end; p += DAXDEV_CACHELINE)
		_mm_clflush((const void *)p);
}

void daxdev_persist(const struct daxdev *d, const void *addr, size_t len)
{
	uintptr_t start, end = (uintptr_t)addr + len;

	if (len == 0)
		return;
	assert((const char *)addr >= (const char *)d->base &&
	       (const char *)addr + len <= (const char *)d->base + d->map_bytes);
	if (d->map_sync || d->is_char) {
		start = (uintptr_t)addr & ~(uintptr_t)(DAXDEV_CACHELINE - 1);
		if (cpu_has_clflushopt())
			flush_opt(start, end);
		else
			flush_legacy(start, end);
		/*
		 * clflushopt is ordered only by a fence: the sfence makes every
		 * flush above complete before any later store (say, a slot
		 * header marked VALID) can become visible or durable.
		 */
		_mm_sfence();
		return;
	}
	start = (uintptr_t)addr & ~(uintptr_t)(page_size() - 1);
	if (msync((void *)start, end - start, MS_SYNC) < 0)
		log_error("dax.device_path: \"%s\": msync of %zu bytes at offset %" PRIu64
			  ": %s", d->path, len,
			  d->map_offset + (uint64_t)((const char *)addr - (const char *)d->base),
			  strerror(errno));
}
