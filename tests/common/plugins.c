/* SPDX-License-Identifier: Apache-2.0 */
/* tests/common/plugins.c - see plugins.h. */
#define _GNU_SOURCE
#include "tests/common/plugins.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common/harness.h"

static const char *variant_dir(void)
{
	const char *dir = harness_build_dir();

	CHECK(dir != NULL);
	return dir;
}

const char *test_plugin_path(const char *name)
{
	static char path[4][PATH_MAX];
	static int turn;
	char *p = path[turn++ % 4];

	if (!strcmp(name, "l2_mem"))
		snprintf(p, PATH_MAX, "%s/plugins/kvt_l2_mem.so", variant_dir());
	else
		snprintf(p, PATH_MAX, "%s/tests/plugins/kvt_%s.so", variant_dir(), name);
	CHECK(access(p, R_OK) == 0);
	return p;
}

const char *test_tool_path(const char *tool)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", variant_dir(), tool);
	CHECK(access(path, X_OK) == 0);
	return path;
}

int test_shell_run(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n;
	int st;

	CHECK(p != NULL);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	st = pclose(p);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}

const char *test_plugin_dir(const char *const *names)
{
	static char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/plugins", harness_tmpdir(0));
	CHECK_EQ(mkdir(dir, 0700), 0);
	for (const char *const *n = names; *n; n++) {
		char link[PATH_MAX + 64];

		snprintf(link, sizeof(link), "%s/kvt_%s.so", dir, *n);
		CHECK_EQ(symlink(test_plugin_path(*n), link), 0);
	}
	return dir;
}
