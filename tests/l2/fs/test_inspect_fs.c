/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: `kvtier inspect DIR` on an fs tier's directory written by a
 * real fs adapter: counts chunks and bytes, names every file the adapter
 * would refuse (a flipped payload byte found with --verify, a truncated
 * header without), exits 1 when there is one, and changes nothing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "l2/fschunk.h"
#include "kvtier.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/plugins.h"

#define CHUNK 4096

/* Three chunks (ids 0..2) written through an instance; returns the dir. */
static const char *store_three(void)
{
	static char dir[512];
	char json[700];
	struct kvt_config *cfg;
	static uint8_t bufs[3][CHUNK];
	const void *ptrs[3];
	size_t lens[3];
	struct kvt_key keys[3];
	struct kvt *kvt;

	snprintf(dir, sizeof(dir), "%s/fs", harness_tmpdir(0));
	snprintf(json, sizeof(json), "{\"type\":\"fs\",\"base_path\":\"%s\"}", dir);
	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "max_local_cpu_size", "0.001");
	cfg_set(cfg, "l2_adapters", json);
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	for (int i = 0; i < 3; i++) {
		memset(bufs[i], i + 1, CHUNK);
		ptrs[i] = bufs[i];
		lens[i] = CHUNK - (size_t)i * 100;
		keys[i] = key_of((uint64_t)i);
	}
	CHECK_EQ(kvt_put(kvt, keys, ptrs, lens, 3, NULL, NULL, NULL), 3);
	CHECK_EQ(kvt_flush(kvt), 0);
	CHECK_EQ(kvt_close(kvt), 0);
	return dir;
}

static const char *chunk_path(const char *dir, uint64_t id)
{
	static char path[700];
	struct kvt_key k = key_of(id);
	char name[FSCHUNK_NAME_LEN + 1];

	fschunk_name(&k, name);
	snprintf(path, sizeof(path), "%s/%.2s/%s", dir, name, name);
	return path;
}

/* Run kvtier inspect; stdout into @out.  Return: the exit status. */
static int inspect(const char *dir, const char *flag, char *out, size_t len)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "%s inspect %s --json %s 2>&1", test_tool_path("kvtier"), dir,
		 flag);
	return test_shell_run(cmd, out, len);
}

TEST(a_clean_directory_reports_every_chunk)
{
	const char *dir = store_three();
	char out[8192];

	CHECK_EQ(inspect(dir, "--verify", out, sizeof(out)), 0);
	CHECK_HAS(out, "\"chunks\":3,\"bytes\":11988,\"bad\":0");
	CHECK_HAS(out, "\"verified\":true");
}

TEST(damaged_files_are_named_and_fail_the_inspection)
{
	const char *dir = store_three();
	char out[8192];
	int fd;

	fd = open(chunk_path(dir, 1), O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, "\x5a", 1, FSCHUNK_HDR + 10), 1);
	close(fd);
	/* headers alone do not see a payload flip */
	CHECK_EQ(inspect(dir, "", out, sizeof(out)), 0);
	CHECK_HAS(out, "\"chunks\":3");
	CHECK_EQ(inspect(dir, "--verify", out, sizeof(out)), 1);
	CHECK_HAS(out, "payload checksum mismatch");
	CHECK_HAS(out, "\"chunks\":2,\"bytes\":7992,\"bad\":1");

	CHECK_EQ(truncate(chunk_path(dir, 2), 100), 0);
	CHECK_EQ(inspect(dir, "", out, sizeof(out)), 1);
	CHECK_HAS(out, "bad header");
	/* read-only: the damaged files are still there */
	CHECK_EQ(access(chunk_path(dir, 1), F_OK), 0);
	CHECK_EQ(access(chunk_path(dir, 2), F_OK), 0);
}
