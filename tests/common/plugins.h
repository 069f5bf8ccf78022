/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/plugins.h - the L2 plugins this build made, for tests that
 * load them: the example plugin (plugins/) and the test plugins
 * (tests/plugins/), found beside the running test binary.
 */
#ifndef KVT_TESTS_PLUGINS_H
#define KVT_TESTS_PLUGINS_H

/* build/<variant>/.../kvt_<name>.so; "l2_mem" is the example plugin.  The
 * string lives until the fourth next call. */
const char *test_plugin_path(const char *name);

/* A fresh directory in the case's temp dir holding links to the plugins
 * @names (NULL-terminated): a plugin_dirs entry. */
const char *test_plugin_dir(const char *const *names);

#endif /* KVT_TESTS_PLUGINS_H */
