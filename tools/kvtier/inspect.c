/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier/inspect.c - `kvtier inspect DEVICE [--json] [--entries]`:
 * what a DAX device, or a file on tmpfs or hugetlbfs that emulates one,
 * holds.  Read-only: the device is opened O_RDONLY and mapped PROT_READ, so
 * a stray write would fault rather than reach the device.
 *
 * Size: a regular file's is its length; a character device /dev/daxN.M's
 * is sysfs's (daxdev_sysfs_geometry()).  The whole device is mapped.
 *
 * Partitions: daxdev gives each of world_size ranks align_down(align_down(
 * total, align) / world_size, align) bytes, side by side from offset 0, and
 * each rank formats its own with a superblock at its start.  The superblock
 * at 0 therefore says how large every partition is (its region_bytes), and
 * the others are probed at its multiples, each with that many bytes.  A run
 * of partitions without a superblock (ranks that never ran, or the rest of
 * a device larger than dax.max_dax_size) is reported as one line.  Nothing
 * at offset 0 means the device is not kvtier's: exit 1, saying whether it
 * is all zeros (kvt_open() formats it) or holds someone else's data
 * (refused without dax.reinit); a file shorter than the region its
 * superblock records is named with both sizes, exit 1 too.
 *
 * Each formatted partition is classified by daxfmt_inspect(), which reads
 * every header and every valid payload once (to check its checksum).  A
 * live instance may be writing meanwhile: its slots in flight show as torn,
 * as they would if it crashed then.
 *
 * Threads: the tool's main thread only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/daxdev.h"
#include "core/daxfmt.h"
#include "tools/kvtier/cli.h"

#define INSPECT_MAX_ENTRIES 10000u	/* --entries lines, all partitions together */

_Static_assert(sizeof(size_t) == 8, "device sizes go to mmap() as size_t unchecked");

struct inspect_opts {
	const char *path;
	bool json;
	bool verify;            /* fs directory: read and check every payload */
	bool entries;
};

/* The device, mapped read-only as a whole. */
struct inspect_dev {
	int fd;
	const void *base;
	uint64_t bytes;
	uint64_t align;		/* Device-DAX only; 0 for a file */
	bool is_char;
};

/* What one run of inspect produces; JSON is built aside and printed last. */
struct inspect {
	const struct inspect_opts *o;
	struct inspect_dev dev;
	FILE *js;		/* the JSON object, in memory; NULL without --json */
	char *js_buf;
	size_t js_len;
	bool js_done;		/* the object is complete: print it */
	uint32_t listed;	/* entries listed so far, capped at INSPECT_MAX_ENTRIES */
	uint64_t unlisted;	/* entries past the cap */
	uint32_t errors;	/* partitions with a superblock that cannot be read */
	char first_error[640];
};

/* One partition's pass through daxfmt_inspect(). */
struct part_walk {
	struct inspect *in;
	FILE *lines;		/* entry lines, printed after the counts */
	char *lines_buf;
	size_t lines_len;
	uint64_t held;		/* payload bytes in valid slots */
	uint64_t unlisted;
	uint32_t json_entries;
};

static void inspect_usage(FILE *f)
{
	fprintf(f,
		"usage: kvtier inspect DEVICE [--json] [--entries]\n"
		"       kvtier inspect DIR [--json] [--verify]\n"
		"\n"
		"Print what a DAX device holds, without changing it: each partition's\n"
		"namespace, format version, slot size and count, and how many slots\n"
		"are valid (recovered on restart), torn (discarded on restart) or free.\n"
		"DEVICE is /dev/daxN.M or a file emulating one (dax.allow_file_backing).\n"
		"\n"
		"  --entries  also list every slot that is not free: slot, key, length,\n"
		"             generation, state (at most %u lines)\n"
		"  --json     also print one JSON object as the last line\n"
		"\n"
		"Every valid payload is read once to check its checksum.  Slots an\n"
		"instance is writing meanwhile show as torn.  Exit status 1 when\n"
		"DEVICE is not formatted by kvtier (all zeros, or someone else's data,\n"
		"status \"zero\" or \"foreign\" with --json), is a file shorter than\n"
		"the region its superblock records (\"truncated\"), or a partition's\n"
		"superblock has an unknown version or a geometry that does not fit.\n"
		"\n"
		"DIR is an fs L2 tier's base_path: chunk files per shard, their bytes,\n"
		"and every file the adapter would refuse to serve (exit status 1 if\n"
		"any); --verify also reads every payload and checks its checksum.\n",
		INSPECT_MAX_ENTRIES);
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/*
 * Size and alignment of /dev/daxN.M from sysfs, by the name the path
 * finally resolves to.  Prints the reason on error.
 */
static int dev_char_size(struct inspect_dev *d, const char *path)
{
	char real[PATH_MAX], err[PATH_MAX + 256];
	const char *name, *msg, *cut;
	int node, ret;

	if (!realpath(path, real)) {
		ret = -errno;
		fprintf(stderr, "kvtier inspect: %s: %s\n", path, strerror(errno));
		return ret;
	}
	name = strrchr(real, '/');
	name = name ? name + 1 : real;
	ret = daxdev_sysfs_geometry(NULL, name, &d->bytes, &d->align, &node, err, sizeof(err));
	if (ret) {
		/* drop the 'dax.device_path: "/dev/NAME": ' the message opens with for the knob */
		cut = strstr(err, "\": ");
		msg = strncmp(err, "dax.device_path: \"", 18) || !cut ? err : cut + 3;
		fprintf(stderr, "kvtier inspect: %s: %s\n", path,
			err[0] ? msg : strerror(-ret));
		return ret;
	}
	d->is_char = true;
	return 0;
}

/* Opens and maps @path read-only.  Prints the reason on error. */
static int dev_open(struct inspect_dev *d, const char *path)
{
	struct stat st;
	void *p;
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d->fd < 0) {
		ret = -errno;
		fprintf(stderr, "kvtier inspect: %s: cannot open: %s\n", path, strerror(errno));
		return ret;
	}
	if (fstat(d->fd, &st) < 0) {
		ret = -errno;
		fprintf(stderr, "kvtier inspect: %s: cannot stat: %s\n", path, strerror(errno));
		goto err_close;
	}
	if (S_ISREG(st.st_mode)) {
		d->bytes = (uint64_t)st.st_size;
	} else if (S_ISCHR(st.st_mode)) {
		ret = dev_char_size(d, path);
		if (ret)
			goto err_close;
	} else {
		ret = -EINVAL;
		fprintf(stderr, "kvtier inspect: %s: not a regular file or a Device-DAX"
			" character device\n", path);
		goto err_close;
	}
	ret = -ENODATA;
	if (!d->bytes) {
		fprintf(stderr, "kvtier inspect: %s: not formatted by kvtier (empty)\n", path);
		goto err_close;
	}
	p = mmap(NULL, (size_t)d->bytes, PROT_READ, MAP_SHARED, d->fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		fprintf(stderr, "kvtier inspect: %s: cannot map %" PRIu64 " bytes: %s\n", path,
			d->bytes, strerror(errno));
		goto err_close;
	}
	d->base = p;
	return 0;

err_close:
	close(d->fd);
	d->fd = -1;
	return ret;
}

static void dev_close(struct inspect_dev *d)
{
	if (d->base)
		munmap((void *)d->base, (size_t)d->bytes);
	if (d->fd >= 0)
		close(d->fd);
}

/* daxfmt_inspect() callback: one slot that is not free. */
static void walk_slot(void *arg, uint32_t slot, const struct kvt_key *key, uint32_t len,
		      uint64_t gen, bool valid)
{
	struct part_walk *w = arg;
	struct inspect *in = w->in;

	if (valid)
		w->held += len;
	if (!in->o->entries)
		return;
	if (in->listed >= INSPECT_MAX_ENTRIES) {
		w->unlisted++;
		return;
	}
	in->listed++;
	fprintf(w->lines, "  %10" PRIu32 "  0x%016" PRIx64 "  0x%016" PRIx64 "  %10" PRIu32
		"  %12" PRIu64 "  %s\n", slot, key->lo, key->hi, len, gen,
		valid ? "valid" : "torn");
	if (in->js)
		fprintf(in->js, "%s{\"slot\":%" PRIu32 ",\"key_lo\":\"0x%016" PRIx64
			"\",\"key_hi\":\"0x%016" PRIx64 "\",\"len\":%" PRIu32 ",\"gen\":%" PRIu64
			",\"valid\":%s}", w->json_entries++ ? "," : "", slot, key->lo, key->hi,
			len, gen, valid ? "true" : "false");
}

/*
 * Prints formatted partition @index at @off with geometry @g: its
 * superblock, the counts daxfmt_inspect() gives, and with --entries its
 * slots.  Return: 0, or -ENOMEM.
 */
static int show_partition(struct inspect *in, uint64_t index, uint64_t off,
			  const struct daxfmt_geometry *g, const struct kvt_key *ns,
			  uint32_t version)
{
	struct part_walk w = { .in = in };
	struct daxfmt_scan_stats st;
	struct daxfmt f = {
		/* daxfmt_inspect() only reads; the mapping is PROT_READ besides */
		.base = (char *)in->dev.base + off,
		.g = *g,
	};
	uint64_t capacity = (uint64_t)g->nslots * g->slot_bytes;

	if (in->o->entries) {
		w.lines = open_memstream(&w.lines_buf, &w.lines_len);
		if (!w.lines)
			return -ENOMEM;
	}
	if (in->js)
		fprintf(in->js, "{\"index\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"status\":\"ok\","
			"\"namespace\":\"0x%016" PRIx64 "%016" PRIx64 "\",\"version\":%" PRIu32
			",\"region_bytes\":%" PRIu64 ",\"slot_bytes\":%" PRIu64 ",\"nslots\":%"
			PRIu32 ",\"headers_off\":%" PRIu64 ",\"data_off\":%" PRIu64 "%s",
			index, off, ns->hi, ns->lo, version, g->region_bytes, g->slot_bytes,
			g->nslots, g->headers_off, g->data_off,
			in->o->entries ? ",\"entries\":[" : "");
	daxfmt_inspect(&f, walk_slot, &w, &st);

	printf("\npartition %" PRIu64 " at offset %" PRIu64 "\n", index, off);
	printf("  namespace    0x%016" PRIx64 "%016" PRIx64 "\n", ns->hi, ns->lo);
	printf("  version      %" PRIu32 "\n", version);
	printf("  region       %" PRIu64 " bytes\n", g->region_bytes);
	printf("  slot size    %" PRIu64 " bytes\n", g->slot_bytes);
	printf("  slot count   %" PRIu32 "\n", g->nslots);
	printf("  data offset  %" PRIu64 " (headers at %" PRIu64 ")\n", g->data_off,
	       g->headers_off);
	printf("  slots:       %" PRIu32 " valid (recoverable), %" PRIu32 " torn, %" PRIu32
	       " free\n", st.recovered, st.torn, st.free);
	printf("  bytes held:  %" PRIu64 " in valid slots, of %" PRIu64 " slot bytes (%.2f%%)\n",
	       w.held, capacity, capacity ? 100.0 * (double)w.held / (double)capacity : 0.0);
	if (w.lines) {
		if (fclose(w.lines)) {
			free(w.lines_buf);
			return -ENOMEM;
		}
		if (st.recovered + st.torn) {
			printf("  %10s  %-18s  %-18s  %10s  %12s  %s\n", "slot", "key.lo", "key.hi",
			       "length", "generation", "state");
			fwrite(w.lines_buf, 1, w.lines_len, stdout);
		}
		if (w.unlisted)
			printf("  ... %" PRIu64 " more not listed (--entries lists at most %u)\n",
			       w.unlisted, INSPECT_MAX_ENTRIES);
		free(w.lines_buf);
	}
	in->unlisted += w.unlisted;
	if (in->js)
		fprintf(in->js, "%s,\"valid\":%" PRIu32 ",\"torn\":%" PRIu32 ",\"free\":%" PRIu32
			",\"bytes_held\":%" PRIu64 "}", in->o->entries ? "]" : "", st.recovered,
			st.torn, st.free, w.held);
	return 0;
}

/* A run of @count partitions from @first with no superblock; @why is the first's. */
static void show_unformatted(struct inspect *in, uint64_t first, uint64_t count, uint64_t psize,
			     const char *why)
{
	uint64_t off = first * psize;

	if (count == 1)
		printf("\npartition %" PRIu64 " at offset %" PRIu64 ": %s\n", first, off, why);
	else
		printf("\npartitions %" PRIu64 "-%" PRIu64 " at offsets %" PRIu64 "-%" PRIu64
		       ": not formatted by kvtier (%" PRIu64 " bytes)\n", first, first + count - 1,
		       off, off + (count - 1) * psize, count * psize);
	if (in->js) {
		fprintf(in->js, "{\"index\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"count\":%" PRIu64
			",\"status\":\"unformatted\",\"reason\":", first, off, count);
		json_str(in->js, why);
		fputc('}', in->js);
	}
}

/* Partition @index has a superblock that cannot be read: another version, a bad geometry. */
static void show_error(struct inspect *in, uint64_t index, uint64_t off, const char *why)
{
	printf("\npartition %" PRIu64 " at offset %" PRIu64 ": %s\n", index, off, why);
	if (!in->errors++)
		snprintf(in->first_error, sizeof(in->first_error),
			 "partition %" PRIu64 " at offset %" PRIu64 ": %s", index, off, why);
	if (in->js) {
		fprintf(in->js, "{\"index\":%" PRIu64 ",\"offset\":%" PRIu64
			",\"status\":\"error\",\"error\":", index, off);
		json_str(in->js, why);
		fputc('}', in->js);
	}
}

/*
 * Probes every partition, @psize bytes each from offset 0, and prints each.
 * Return: 0, or -ENOMEM.
 */
static int walk_partitions(struct inspect *in, uint64_t psize)
{
	uint64_t nparts = in->dev.bytes / psize;
	uint64_t run_first = 0, run_len = 0;
	char run_why[512] = "", why[512];
	struct daxfmt_geometry g;
	struct kvt_key ns;
	uint32_t version;
	int ret;

	for (uint64_t k = 0; k < nparts; k++) {
		uint64_t off = k * psize;

		ret = daxfmt_probe((const char *)in->dev.base + off, psize, &g, &ns, &version,
				   why, sizeof(why));
		if (ret == -ENODATA) {
			if (!run_len++) {
				run_first = k;
				snprintf(run_why, sizeof(run_why), "%s", why);
			}
			continue;
		}
		if (run_len) {
			if (in->js)
				fputc(',', in->js);
			show_unformatted(in, run_first, run_len, psize, run_why);
			run_len = 0;
		}
		if (in->js && k)
			fputc(',', in->js);
		if (ret) {
			show_error(in, k, off, why);
			continue;
		}
		ret = show_partition(in, k, off, &g, &ns, version);
		if (ret)
			return ret;
	}
	if (run_len) {
		if (in->js)
			fputc(',', in->js);
		show_unformatted(in, run_first, run_len, psize, run_why);
	}
	return 0;
}

/* The first bytes @l saw, as "49 4d 50 4f ...". */
static void first_bytes_hex(const struct daxfmt_look *l, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < l->nfirst && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%02x", i ? " " : "", l->first[i]);
	if (l->avail > l->nfirst && n < len)
		snprintf(buf + n, len - n, " ...");
}

/*
 * A device that kvt_open() would refuse or format rather than attach, by
 * what is at offset 0: someone else's data, zeros, a file shorter than the
 * region its superblock records.  Prints why (and the JSON object) and
 * returns CLI_EXIT_FAIL; -1 when the device is for daxfmt_probe() to judge.
 */
static int inspect_refusal(struct inspect *in)
{
	const char *path = in->o->path;
	struct daxfmt_look l;
	char hex[3 * DAXFMT_FIRST_BYTES + 8], why[512];
	const char *status;

	/* a file through pread(): sampling its holes through the mapping
	 * would allocate a page of tmpfs per word */
	daxfmt_precheck(in->dev.base, in->dev.is_char ? -1 : in->dev.fd, 0, in->dev.bytes,
			in->dev.bytes, &l, NULL, 0);
	switch (l.found) {
	case DAXFMT_FOUND_FOREIGN:
		first_bytes_hex(&l, hex, sizeof(hex));
		snprintf(why, sizeof(why), "not a kvtier device: holds data that is not kvtier's,"
			 " first bytes %s, a nonzero byte at offset %" PRIu64 " (not all zeros);"
			 " kvt_open() refuses to format it without dax.reinit: true", hex,
			 l.nonzero_off);
		status = "foreign";
		break;
	case DAXFMT_FOUND_ZERO:
		snprintf(why, sizeof(why), "not a kvtier device: all zeros where sampled"
			 " (kvt_open() would format it)");
		status = "zero";
		break;
	case DAXFMT_FOUND_TRUNCATED:
		snprintf(why, sizeof(why), "truncated: the %s is %" PRIu64 " bytes, its kvtier"
			 " superblock records a region of %" PRIu64 " bytes; kvt_open() refuses it",
			 in->dev.is_char ? "device" : "file", in->dev.bytes, l.recorded_bytes);
		status = "truncated";
		break;
	default:
		return -1;
	}
	fprintf(stderr, "kvtier inspect: %s: %s\n", path, why);
	if (in->js) {
		fputs("{\"device\":", in->js);
		json_str(in->js, path);
		fprintf(in->js, ",\"type\":\"%s\",\"bytes\":%" PRIu64 ",\"status\":\"%s\"",
			in->dev.is_char ? "devdax" : "file", in->dev.bytes, status);
		if (l.found == DAXFMT_FOUND_FOREIGN) {
			fputs(",\"first_bytes\":", in->js);
			json_str(in->js, hex);
			fprintf(in->js, ",\"nonzero_offset\":%" PRIu64, l.nonzero_off);
		}
		if (l.found == DAXFMT_FOUND_TRUNCATED)
			fprintf(in->js, ",\"recorded_bytes\":%" PRIu64, l.recorded_bytes);
		fputs(",\"reason\":", in->js);
		json_str(in->js, why);
		fputc('}', in->js);
		in->js_done = true;
	}
	return CLI_EXIT_FAIL;
}

/* The device line, then every partition.  Return: an exit code. */
static int inspect_run(struct inspect *in)
{
	const char *path = in->o->path;
	struct daxfmt_geometry g;
	struct kvt_key ns;
	uint32_t version;
	uint64_t psize, nparts, tail;
	char why[512];
	int ret;

	ret = inspect_refusal(in);
	if (ret >= 0)
		return ret;
	ret = daxfmt_probe(in->dev.base, in->dev.bytes, &g, &ns, &version, why, sizeof(why));
	if (ret) {
		fprintf(stderr, "kvtier inspect: %s: %s\n", path, why);
		return CLI_EXIT_FAIL;
	}
	psize = g.region_bytes;
	nparts = in->dev.bytes / psize;
	tail = in->dev.bytes - nparts * psize;

	if (in->dev.is_char)
		printf("device       %s (Device-DAX, %" PRIu64 " bytes, align %" PRIu64 ")\n", path,
		       in->dev.bytes, in->dev.align);
	else
		printf("device       %s (regular file, %" PRIu64 " bytes)\n", path, in->dev.bytes);
	printf("partitions   %" PRIu64 " of %" PRIu64 " bytes (the region the superblock at"
	       " offset 0 records)", nparts, psize);
	if (tail)
		printf("; %" PRIu64 " bytes after the last one unused", tail);
	printf("\n");
	if (in->js) {
		fputs("{\"device\":", in->js);
		json_str(in->js, path);
		fprintf(in->js, ",\"type\":\"%s\",\"bytes\":%" PRIu64 ",\"partition_bytes\":%"
			PRIu64 ",\"partitions\":[", in->dev.is_char ? "devdax" : "file",
			in->dev.bytes, psize);
	}
	ret = walk_partitions(in, psize);
	if (ret) {
		fprintf(stderr, "kvtier inspect: %s: %s\n", path, strerror(-ret));
		return CLI_EXIT_FAIL;
	}
	if (in->js)
		fprintf(in->js, "],\"partitions_unreadable\":%" PRIu32 ",\"entries_listed\":%"
			PRIu32 ",\"entries_unlisted\":%" PRIu64 "}", in->errors, in->listed,
			in->unlisted);
	in->js_done = true;
	if (in->errors) {
		fprintf(stderr, "kvtier inspect: %s: %s%s\n", path, in->first_error,
			in->errors > 1 ? " (and more, above)" : "");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int parse_args(struct inspect_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "entries", no_argument, NULL, 'e' },
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'e':
			o->entries = true;
			break;
		case 'v':
			o->verify = true;
			break;
		case 'h':
			inspect_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "kvtier inspect: unknown option '%s'\n", argv[optind - 1]);
			inspect_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "kvtier inspect: DEVICE missing\n");
		inspect_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "kvtier inspect: unexpected argument '%s'\n", argv[optind + 1]);
		inspect_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	o->path = argv[optind];
	return -1;
}

int inspect_main(int argc, char **argv)
{
	struct inspect_opts o = { 0 };
	struct inspect in = { .o = &o };
	struct stat st;
	int code;

	code = parse_args(&o, argc, argv);
	if (code >= 0)
		return code;
	if (!stat(o.path, &st) && S_ISDIR(st.st_mode))
		return inspect_fs_main(o.path, o.json, o.verify);
	if (dev_open(&in.dev, o.path))
		return CLI_EXIT_FAIL;
	code = CLI_EXIT_FAIL;
	if (o.json) {
		in.js = open_memstream(&in.js_buf, &in.js_len);
		if (!in.js) {
			fprintf(stderr, "kvtier inspect: %s\n", strerror(ENOMEM));
			goto out_close;
		}
	}
	code = inspect_run(&in);
	if (!in.js)
		goto out_close;
	if (fclose(in.js)) {
		fprintf(stderr, "kvtier inspect: %s\n", strerror(ENOMEM));
		code = CLI_EXIT_FAIL;
		goto out_free_json;
	}
	/* none when the device was refused, or a failure cut the object short */
	if (in.js_done)
		printf("%s\n", in.js_buf);
out_free_json:
	free(in.js_buf);
out_close:
	dev_close(&in.dev);
	return code;
}
