/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/plugins.h - what this build made beside the running test
 * binary: the L2 plugins (the example plugin in plugins/, the test plugins
 * in tests/plugins/) and the tools.
 */
#ifndef KVT_TESTS_PLUGINS_H
#define KVT_TESTS_PLUGINS_H

#include <stddef.h>

/* build/<variant>/.../kvt_<name>.so; "l2_mem" is the example plugin.  The
 * string lives until the fourth next call. */
const char *test_plugin_path(const char *name);

/* build/<variant>/<tool>: the tools of the same build. */
const char *test_tool_path(const char *tool);

/* Run @cmd through the shell, its stdout into @out (@len bytes, NUL
 * ended); a case fails unless it exits.  Return: its exit status. */
int test_shell_run(const char *cmd, char *out, size_t len);

/* A fresh directory in the case's temp dir holding links to the plugins
 * @names (NULL-terminated): a plugin_dirs entry. */
const char *test_plugin_dir(const char *const *names);

#endif /* KVT_TESTS_PLUGINS_H */
