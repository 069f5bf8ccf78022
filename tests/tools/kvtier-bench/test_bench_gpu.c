/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: `kvtier-bench gpu` end to end on machines without a GPU,
 * against the CUDA runtime stand-in (tests/plugins/cudart_standin.c: the
 * same entry points over host memory), so a lent GPU machine's few minutes
 * are not spent finding a broken bench: every chunk goes DAX -> slab ->
 * "device" through kvt_get_sink() and the CUDA sink, is checked after the
 * copy back, and the report carries a row per size and worker count and
 * the ratio keys, and the emulated device is gone; with no such device it
 * exits 77 with the reason; bad options exit 2.  What the stand-in measures is host
 * memcpy, nothing about a GPU: the numbers are not checked.
 */
#define _GNU_SOURCE
#include <glob.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/common/harness.h"
#include "tests/common/plugins.h"

#define OUT_MAX 65536

/* A folder holding libcudart.so -> the stand-in; "" for an empty one. */
static const char *runtime_dir(bool standin)
{
	static char dir[PATH_MAX];
	char link[PATH_MAX + 32];

	snprintf(dir, sizeof(dir), "%s/cudart-%d", harness_tmpdir(0), standin);
	if (access(dir, F_OK) == 0)
		return dir;
	CHECK_EQ(mkdir(dir, 0700), 0);
	if (standin) {
		snprintf(link, sizeof(link), "%s/libcudart.so", dir);
		CHECK_EQ(symlink(test_plugin_path("cudart_standin"), link), 0);
	}
	return dir;
}

/* kvtier-bench gpu @args with @env set first; stdout and stderr into @out.
 * Return: the exit status. */
static int bench_gpu(const char *env, const char *args, char *out)
{
	char cmd[PATH_MAX * 3];

	snprintf(cmd, sizeof(cmd), "%s %s gpu %s 2>&1", env, test_tool_path("kvtier-bench"), args);
	return test_shell_run(cmd, out, OUT_MAX);
}

/* The bench's emulated devices now in /dev/shm. */
static size_t devices_left(void)
{
	glob_t g;
	size_t n;

	if (glob("/dev/shm/kvtier-bench-gpu-*", 0, NULL, &g))
		return 0;
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

TEST(every_size_and_worker_count_is_restored_checked_and_reported)
{
	static char out[OUT_MAX];
	char env[PATH_MAX + 64];
	size_t before = devices_left();

	snprintf(env, sizeof(env), "LD_LIBRARY_PATH=%s", runtime_dir(true));
	CHECK_EQ(bench_gpu(env, "--total-mib 8 --chunk-kib 256,1024 --workers 1,2 --reps 2 --json",
			   out), 0);
	CHECK_HAS(out, "\"workload\":\"gpu\"");
	CHECK_HAS(out, "\"chunk_bytes\":262144,\"chunks\":32,\"workers\":1,");
	CHECK_HAS(out, "\"chunk_bytes\":262144,\"chunks\":32,\"workers\":2,");
	CHECK_HAS(out, "\"chunk_bytes\":1048576,\"chunks\":8,\"workers\":1,");
	CHECK_HAS(out, "\"chunk_bytes\":1048576,\"chunks\":8,\"workers\":2,");
	CHECK_HAS(out, "\"gpu_restore_ratio_to_pinned_h2d_256kib\":");
	CHECK_HAS(out, "\"gpu_restore_ratio_to_pinned_h2d_1024kib\":");
	CHECK_HAS(out, "\"gpu_goal_met\":");
	CHECK(strstr(out, "reached the GPU wrong") == NULL);
	CHECK_EQ(devices_left(), before);
}

TEST(no_device_exits_77_with_the_reason)
{
	static char out[OUT_MAX];
	char env[PATH_MAX + 64];

	snprintf(env, sizeof(env), "KVT_STANDIN_DEVICES=0 LD_LIBRARY_PATH=%s", runtime_dir(true));
	CHECK_EQ(bench_gpu(env, "--json", out), 77);
	CHECK_HAS(out, "no CUDA device 0 (0 found)");
	CHECK(strstr(out, "\"workload\"") == NULL);
}

TEST(a_device_past_the_last_exits_77)
{
	static char out[OUT_MAX];
	char env[PATH_MAX + 64];

	snprintf(env, sizeof(env), "LD_LIBRARY_PATH=%s", runtime_dir(true));
	CHECK_EQ(bench_gpu(env, "--device 3", out), 77);
	CHECK_HAS(out, "no CUDA device 3 (1 found)");
}

TEST(bad_options_exit_2)
{
	static char out[OUT_MAX];

	CHECK_EQ(bench_gpu("", "--chunk-kib 100", out), 2);
	CHECK_HAS(out, "--chunk-kib");
	CHECK_EQ(bench_gpu("", "--chunk-kib 300", out), 2);
	CHECK_HAS(out, "not a multiple of 256");
	CHECK_EQ(bench_gpu("", "--workers 1,2,3,4,5", out), 2);
	CHECK_EQ(bench_gpu("", "--reps 0", out), 2);
	CHECK_EQ(bench_gpu("", "extra", out), 2);
}
