/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_config_yaml.c - libFuzzer target for the YAML config
 * loader: each input is an LMCache-style config file, loaded with
 * kvt_config_load_yaml() onto a default config, then kvt_config_check().
 *
 * The loader takes a path, so the input goes into one memfd (no file on
 * disk) opened through /proc/self/fd.  Besides "no crash, no leak" it
 * checks what core/config_yaml.c and kvt_config_dump() promise:
 *   - a failed load changes nothing (the config equals the defaults);
 *   - a loaded config dumps to YAML that loads back onto a default config
 *     with every knob equal.
 * A broken promise aborts, so libFuzzer keeps the input.
 *
 * Built by configure.py (build/fuzz/fuzz_config_yaml); seeds in
 * tests/fuzz/corpus/config_yaml.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "core/config_knobs.h"
#include "kvtier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int in_fd = -1, dump_fd = -1;
static char in_path[64], dump_path[64];

static int memfd(const char *name, char *path, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

static void fill(int fd, const void *data, size_t size)
{
	/* kvt_config_dump() writes at the file offset */
	if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET) ||
	    (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("memfd write");
		abort();
	}
}

/* Every knob of @a and @b as text; abort on the first that differs. */
static void same_knobs(const struct kvt_config *a, const struct kvt_config *b, const char *what)
{
	static char va[CONFIG_L2_MAX + 8], vb[CONFIG_L2_MAX + 8];

	for (size_t i = 0; i < config_nknobs; i++) {
		ssize_t na = kvt_config_get(a, config_knobs[i].key, va, sizeof(va));
		ssize_t nb = kvt_config_get(b, config_knobs[i].key, vb, sizeof(vb));

		if (na < 0 || nb < 0 || strcmp(va, vb)) {
			fprintf(stderr, "%s: knob %s: \"%s\" became \"%s\"\n", what,
				config_knobs[i].key, va, vb);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvt_config *cfg, *def, *back;
	char err[512], err2[512];
	const char *key;
	int ret;

	if (in_fd < 0) {
		in_fd = memfd("kvt-fuzz-yaml", in_path, sizeof(in_path));
		dump_fd = memfd("kvt-fuzz-dump", dump_path, sizeof(dump_path));
	}
	if (kvt_config_new(&cfg) || kvt_config_new(&def) || kvt_config_new(&back))
		abort();
	fill(in_fd, data, size);
	ret = kvt_config_load_yaml(cfg, in_path, err, sizeof(err));
	if (ret) {
		if (memcmp(cfg, def, sizeof(*cfg))) {
			fprintf(stderr, "a failed load (%s) changed the config\n", err);
			abort();
		}
		goto out;
	}
	(void)kvt_config_check(cfg, err, sizeof(err));
	for (size_t i = 0; kvt_config_ignored(cfg, i, &key) == 0; i++)
		if (!key || strlen(key) >= 64)
			abort();
	/* the dump loads back, knob for knob */
	fill(dump_fd, NULL, 0);
	if (kvt_config_dump(cfg, dump_fd))
		abort();
	ret = kvt_config_load_yaml(back, dump_path, err2, sizeof(err2));
	if (ret) {
		fprintf(stderr, "the dump of a loaded config does not load back: %s\n", err2);
		abort();
	}
	same_knobs(cfg, back, "dump and load back");
out:
	kvt_config_free(back);
	kvt_config_free(def);
	kvt_config_free(cfg);
	return 0;
}
