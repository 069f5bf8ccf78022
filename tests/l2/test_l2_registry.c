/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the L2 adapter registry and its config — built-in types,
 * duplicate / wrong-ABI / incomplete registrations, plugin discovery with
 * broken plugins beside a good one (each reported with path and reason,
 * the good one loaded), the l2_adapters JSON knob, and kvt_open() naming
 * the known types for an unknown one.  Real dlopen of real .so files.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/l2_conf.h"
#include "api/l2_builtins.h"
#include "l2/l2_registry.h"
#include "kvtier/l2.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/plugins.h"

static const struct l2_load_error *error_for(const struct l2_registry *r, const char *needle)
{
	for (size_t i = 0; i < r->nerrors && i < L2_MAX_LOAD_ERRORS; i++)
		if (strstr(r->errors[i].path, needle))
			return &r->errors[i];
	return NULL;
}

TEST(builtin_types_register_at_init)
{
	struct l2_registry r;
	char names[256];

	l2_registry_init(&r, l2_builtin_ops);
	CHECK(l2_registry_find(&r, "fs") != NULL);
	CHECK(l2_registry_find(&r, "nope") == NULL);
	l2_registry_names(&r, names, sizeof(names));
	CHECK_HAS(names, "fs");
	l2_registry_fini(&r);
}

static int fake_create(const struct kvt_l2_config *cfg, const struct kvt_l1_desc *l1,
		       struct kvt_l2_adapter **out, char *err, size_t errlen)
{
	return -ENODEV;
}

TEST(duplicate_wrong_abi_and_incomplete_tables_are_refused)
{
	const struct kvt_l2_ops *fs;
	struct kvt_l2_ops copy, bad;
	struct l2_registry r;
	char err[256];

	l2_registry_init(&r, l2_builtin_ops);
	fs = l2_registry_find(&r, "fs");
	CHECK(fs != NULL);
	copy = *fs;
	CHECK_EQ(l2_registry_add(&r, &copy, "test", err, sizeof(err)), -EEXIST);
	CHECK_HAS(err, "\"fs\" already registered (by built-in)");
	CHECK(l2_registry_find(&r, "fs") == fs);

	copy.type = "fs_future";
	copy.abi_version = KVT_L2_ABI_VERSION + 1;
	CHECK_EQ(l2_registry_add(&r, &copy, "test", err, sizeof(err)), -EPROTO);
	CHECK_HAS(err, "ABI version");

	memset(&bad, 0, sizeof(bad));
	bad.abi_version = KVT_L2_ABI_VERSION;
	bad.type = "incomplete";
	bad.create = fake_create;
	CHECK_EQ(l2_registry_add(&r, &bad, "test", err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "lacks a function");
	bad.type = "";
	CHECK_EQ(l2_registry_add(&r, &bad, "test", err, sizeof(err)), -EINVAL);

	copy = *fs;
	copy.type = "fs_twin";
	CHECK_EQ(l2_registry_add(&r, &copy, "test", err, sizeof(err)), 0);
	CHECK(l2_registry_find(&r, "fs_twin") == &copy);
	l2_registry_fini(&r);
}

TEST(discovery_skips_broken_plugins_and_loads_the_good_one)
{
	static const char *const names[] = {
		"bad_abi", "init_fails", "l2_mem", "no_symbol", "zz_dup_mem", NULL,
	};
	const char *dir = test_plugin_dir(names);
	const struct l2_load_error *e;
	const struct kvt_l2_ops *mem;
	struct l2_registry r;
	char junk[PATH_MAX + 16];
	int fd;

	/* not a shared object at all, and a file that is not *.so */
	snprintf(junk, sizeof(junk), "%s/kvt_junk.so", dir);
	fd = open(junk, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "hello", 5), 5);
	close(fd);
	snprintf(junk, sizeof(junk), "%s/README", dir);
	fd = open(junk, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);

	l2_registry_init(&r, l2_builtin_ops);
	CHECK_EQ(l2_registry_load_dirs(&r, dir), 1);
	mem = l2_registry_find(&r, "mem");
	CHECK(mem != NULL);
	CHECK_HAS(mem->help, "max_size_mb");     /* the good plugin, not the duplicate */
	CHECK(l2_registry_find(&r, "fs") != NULL);
	CHECK(l2_registry_find(&r, "future") == NULL);
	CHECK(l2_registry_find(&r, "half_initialised") == NULL);
	CHECK_EQ(r.nerrors, 5);

	CHECK((e = error_for(&r, "kvt_bad_abi.so")) != NULL);
	CHECK_HAS(e->reason, "\"future\": built for L2 ABI version");
	CHECK((e = error_for(&r, "kvt_init_fails.so")) != NULL);
	CHECK_HAS(e->reason, "its init failed");
	CHECK((e = error_for(&r, "kvt_no_symbol.so")) != NULL);
	CHECK_HAS(e->reason, "no kvt_l2_plugin_register symbol");
	CHECK((e = error_for(&r, "kvt_zz_dup_mem.so")) != NULL);
	CHECK_HAS(e->reason, "\"mem\" already registered");
	CHECK((e = error_for(&r, "kvt_junk.so")) != NULL);
	CHECK_HAS(e->reason, "dlopen");
	CHECK(error_for(&r, "README") == NULL);
	l2_registry_fini(&r);
}

TEST(a_missing_plugin_directory_is_reported_not_fatal)
{
	static const char *const names[] = { "l2_mem", NULL };
	char dirs[PATH_MAX * 2];
	struct l2_registry r;

	snprintf(dirs, sizeof(dirs), "/nonexistent/kvtier-plugins:%s", test_plugin_dir(names));
	l2_registry_init(&r, l2_builtin_ops);
	CHECK_EQ(l2_registry_load_dirs(&r, dirs), 1);
	CHECK_EQ(r.nerrors, 1);
	CHECK_HAS(r.errors[0].reason, "cannot read the plugin directory");
	CHECK(l2_registry_find(&r, "mem") != NULL);
	l2_registry_fini(&r);
}

TEST(adapter_json_parses_lmcache_forms)
{
	struct l2_conf_list l;
	char err[256];

	CHECK_EQ(l2_conf_parse("{\"type\":\"fs\",\"base_path\":\"/data/kv\",\"use_odirect\":true}",
			       &l, err, sizeof(err)), 0);
	CHECK_EQ(l.n, 1);
	CHECK(!strcmp(l.cfg[0].type, "fs"));
	CHECK_EQ(l.cfg[0].nparams, 3);
	CHECK(!strcmp(l.cfg[0].params[2].key, "use_odirect"));
	CHECK(!strcmp(l.cfg[0].params[2].value, "true"));
	CHECK_HAS(l.cfg[0].json, "\"base_path\":\"/data/kv\"");
	l2_conf_free(&l);

	CHECK_EQ(l2_conf_parse("[{\"type\":\"fs\",\"base_path\":\"/a\"}, {\"type\": \"mem\", \"max_size_mb\": 1.5}]",
			       &l, err, sizeof(err)), 0);
	CHECK_EQ(l.n, 2);
	CHECK_EQ(l.cfg[1].index, 1);
	CHECK(!strcmp(l.cfg[1].params[1].value, "1.5"));
	l2_conf_free(&l);
	CHECK_EQ(l2_conf_parse("", &l, err, sizeof(err)), 0);
	CHECK_EQ(l.n, 0);
}

TEST(adapter_json_errors_name_what_is_wrong)
{
	static const struct {
		const char *text, *want;
	} rows[] = {
		{ "{\"type\":\"fs\"", "not valid JSON" },
		{ "\"fs\"", "must be a JSON object" },
		{ "[1]", "#0: must be a JSON object" },
		{ "{\"base_path\":\"/x\"}", "no \"type\"" },
		{ "{\"type\":\"fs\",\"eviction\":{\"eviction_policy\":\"LRU\"}}",
		  "\"eviction\": nested values are not supported" },
		{ "{\"type\":\"fs\",\"a\":1,\"a\":2}", "\"a\" given twice" },
		{ "[{\"type\":\"a\"},{\"type\":\"b\"},{\"type\":\"c\"},{\"type\":\"d\"},{\"type\":\"e\"},"
		  "{\"type\":\"f\"},{\"type\":\"g\"},{\"type\":\"h\"},{\"type\":\"i\"}]",
		  "more than 8 adapters" },
		/* found by fuzz_l2_adapters: what follows the value was ignored */
		{ "[{\"type\":\"fs\"}]e\", {\"type\":\"mem\"}", "not valid JSON" },
		{ "{\"type\":\"fs\"}\n---\n{\"type\":\"mem\"}", "text after the JSON value" },
	};
	struct l2_conf_list l;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[256] = "";

		CHECK_ROW(i, l2_conf_parse(rows[i].text, &l, err, sizeof(err)) < 0);
		CHECK_ROW(i, strstr(err, rows[i].want) != NULL);
	}
}

TEST(l2_adapters_knob_validates_and_appends)
{
	struct kvt_config *cfg;
	char err[256], val[4096];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	CHECK_EQ(kvt_config_set(cfg, "l2_adapters", "{\"type\":", err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "not valid JSON");
	CHECK_EQ(kvt_config_add_l2_adapter(cfg, "{\"type\":\"fs\",\"base_path\":\"/a\"}", err,
					   sizeof(err)), 0);
	CHECK_EQ(kvt_config_add_l2_adapter(cfg, "{\"type\":\"mem\",\"max_size_mb\":4}", err,
					   sizeof(err)), 0);
	CHECK_EQ(kvt_config_add_l2_adapter(cfg, "[{\"type\":\"x\"},{\"type\":\"y\"}]", err,
					   sizeof(err)), -EINVAL);
	CHECK_HAS(err, "expected one JSON object");
	CHECK_EQ(kvt_config_add_l2_adapter(cfg, "{\"base_path\":\"/a\"}", err, sizeof(err)),
		 -EINVAL);
	CHECK(kvt_config_get(cfg, "l2_adapters", val, sizeof(val)) > 0);
	CHECK_HAS(val, "{\"type\":\"fs\",\"base_path\":\"/a\"}, {\"type\":\"mem\"");
	for (int i = 2; i < KVT_L2_MAX_ADAPTERS; i++)
		CHECK_EQ(kvt_config_add_l2_adapter(cfg, "{\"type\":\"mem\",\"max_size_mb\":1}", err,
						   sizeof(err)), 0);
	CHECK_EQ(kvt_config_add_l2_adapter(cfg, "{\"type\":\"mem\",\"max_size_mb\":1}", err,
					   sizeof(err)), -E2BIG);
	CHECK_HAS(err, "more than 8 adapters");
	kvt_config_free(cfg);
}

/* Found by fuzz_l2_adapters: a knob with text after its JSON array was
 * accepted, and an adapter appended to it was joined after that text, so
 * it was dropped while the add returned 0. */
TEST(l2_adapters_knob_refuses_trailing_text)
{
	struct kvt_config *cfg;
	char err[256], val[4096];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	CHECK_EQ(kvt_config_set(cfg, "l2_adapters", "[{\"type\":\"fs\",\"base_path\":\"/a\"}]x, y}]",
				err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "not valid JSON");
	CHECK_EQ(kvt_config_set(cfg, "l2_adapters", "[{\"type\":\"fs\",\"base_path\":\"/a\"}]  ",
				err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_add_l2_adapter(cfg, "{\"type\":\"mem\"}", err, sizeof(err)), 0);
	CHECK(kvt_config_get(cfg, "l2_adapters", val, sizeof(val)) > 0);
	CHECK_HAS(val, "{\"type\":\"mem\"}");
	/* a comment after the list would swallow an object joined after it */
	CHECK_EQ(kvt_config_set(cfg, "l2_adapters", "[]#{", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_add_l2_adapter(cfg, "{\"type\":\"mem\"}", err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "cannot append");
	kvt_config_free(cfg);
}

/* kvt_open()'s log, captured from stderr. */
static int open_capturing(struct kvt_config *cfg, struct kvt **kvt, char *log, size_t len)
{
	char path[PATH_MAX];
	int fd, saved, ret;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stderr", harness_tmpdir(0));
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0);
	saved = dup(2);
	dup2(fd, 2);
	ret = kvt_open(cfg, kvt, NULL, 0);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, log, len - 1, 0);
	log[n > 0 ? n : 0] = '\0';
	close(fd);
	return ret;
}

static struct kvt_config *small_config(void)
{
	struct kvt_config *cfg;

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "max_local_cpu_size", "0.001");
	return cfg;
}

TEST(open_names_known_types_for_an_unknown_one)
{
	static const char *const names[] = { "l2_mem", "bad_abi", NULL };
	struct kvt_config *cfg = small_config();
	struct kvt *kvt = NULL;
	char log[4096];

	cfg_set(cfg, "l2_plugin_dirs", test_plugin_dir(names));
	cfg_set(cfg, "l2_adapters", "{\"type\":\"s3\",\"bucket\":\"b\"}");
	CHECK_EQ(open_capturing(cfg, &kvt, log, sizeof(log)), -EINVAL);
	CHECK_HAS(log, "l2_adapters #0: unknown type \"s3\" (known: fs, resp, pool, mem)");
	CHECK_HAS(log, "kvt_bad_abi.so skipped");
	kvt_config_free(cfg);
	CHECK_EQ(harness_count_threads(), 1);
}

TEST(open_reports_an_adapter_config_error)
{
	static const char *const names[] = { "l2_mem", NULL };
	struct kvt_config *cfg = small_config();
	struct kvt *kvt = NULL;
	char log[4096];

	cfg_set(cfg, "l2_plugin_dirs", test_plugin_dir(names));
	cfg_set(cfg, "l2_adapters", "{\"type\":\"mem\",\"max_size_gb\":1}");
	CHECK_EQ(open_capturing(cfg, &kvt, log, sizeof(log)), -EINVAL);
	CHECK_HAS(log, "l2_adapters #0 (mem): mem: unknown key \"max_size_gb\"");
	kvt_config_free(cfg);
}

TEST(open_with_a_plugin_adapter_and_broken_neighbours)
{
	static const char *const names[] = { "l2_mem", "no_symbol", "init_fails", NULL };
	struct kvt_config *cfg = small_config();
	struct kvt_l2_status st;
	const char *type = NULL;
	struct kvt_stats s;
	struct kvt *kvt;
	int fds = harness_count_fds();

	cfg_set(cfg, "l2_plugin_dirs", test_plugin_dir(names));
	cfg_set(cfg, "l2_adapters", "[{\"type\":\"mem\",\"max_size_mb\":2}]");
	CHECK_EQ(kvt_open(cfg, &kvt, NULL, 0), 0);
	kvt_config_free(cfg);
	s = stats_of(kvt);
	CHECK_EQ(s.l2_adapters, 1);
	CHECK_EQ(s.l2_plugin_errors, 2);
	CHECK_EQ(s.l2_unhealthy, 0);
	CHECK_EQ(kvt_l2_report(kvt, 0, &type, &st), 0);
	CHECK(!strcmp(type, "mem"));
	CHECK(st.is_healthy);
	CHECK_EQ(st.capacity_bytes, 2u << 20);
	CHECK_EQ(kvt_l2_report(kvt, 1, &type, &st), -ENOENT);
	CHECK_EQ(kvt_close(kvt), 0);
	CHECK_EQ(harness_count_fds(), fds);
}

/*
 * kvt_config_check() (and so `kvtier config check`) refuses every config
 * kvt_open() would refuse for a reason that needs no device or server: the
 * adapter JSON, each built-in adapter's keys and values, and paths.  Each
 * row is refused by both, with the check's message.
 */
TEST(check_refuses_what_open_refuses_without_devices)
{
	static const struct {
		const char *key, *value, *key2, *value2;
		const char *msg;
	} rows[] = {
		{ "l2_adapters", "[{\"type\":\"s3\"}]", NULL, NULL,
		  "l2_adapters #0: unknown type \"s3\" (built in: fs, resp, pool" },
		{ "l2_adapters", "{\"type\":\"fs\",\"use_odirectt\":true}", NULL, NULL,
		  "l2_adapters #0 (fs): fs: unknown key \"use_odirectt\"" },
		{ "l2_adapters", "{\"type\":\"fs\",\"base_path\":\"kvt/l2\"}", NULL, NULL,
		  "fs: base_path: \"kvt/l2\": required, an absolute path" },
		{ "l2_adapters", "{\"type\":\"fs\",\"base_path\":\"/tmp/x\",\"io_depth\":0}", NULL,
		  NULL, "io_depth" },
		{ "l2_adapters", "{\"type\":\"resp\",\"url\":\"rediss://h:6380\"}", NULL, NULL,
		  "l2_adapters #0 (resp): resp: url" },
		{ "l2_adapters", "{\"type\":\"pool\",\"size_gb\":-1}", NULL, NULL,
		  "l2_adapters #0 (pool): pool: size_gb" },
		{ "pool.server", "tcp://127.0.0.1:1", "pool.size_gb", "0.000001",
		  "below one page" },
		{ "dax.device_path", "kvt-dax.img", "dax.max_dax_size", "1",
		  "dax.device_path: \"kvt-dax.img\": not an absolute path" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kvt_config *cfg = small_config();
		struct kvt *kvt = NULL;
		char err[512] = "", log[4096];
		int ret;

		cfg_set(cfg, rows[i].key, rows[i].value);
		if (rows[i].key2)
			cfg_set(cfg, rows[i].key2, rows[i].value2);
		ret = kvt_config_check(cfg, err, sizeof(err));
		if (ret != -EINVAL || !strstr(err, rows[i].msg))
			harness_fail(__FILE__, __LINE__, "row %zu: check %d \"%s\", want -EINVAL \"%s\"",
				     i, ret, err, rows[i].msg);
		CHECK_EQ(open_capturing(cfg, &kvt, log, sizeof(log)), -EINVAL);
		CHECK_HAS(log, rows[i].msg);
		CHECK(kvt == NULL);
		kvt_config_free(cfg);
	}
}

/* What check cannot know: a type not built in while l2_plugin_dirs is set
 * may be a plugin's (not loaded by the check); kvt_open() decides.  A good
 * built-in adapter passes without its directory being made. */
TEST(check_leaves_plugin_types_to_open)
{
	static const char *const names[] = { "l2_mem", NULL };
	struct kvt_config *cfg = small_config();
	char err[512] = "", path[512], json[600];

	cfg_set(cfg, "l2_plugin_dirs", test_plugin_dir(names));
	cfg_set(cfg, "l2_adapters", "[{\"type\":\"mem\"}]");
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/not-made", harness_tmpdir(0));
	snprintf(json, sizeof(json), "{\"type\":\"fs\",\"base_path\":\"%s\"}", path);
	cfg_set(cfg, "l2_adapters", json);
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), 0);
	CHECK_EQ(access(path, F_OK), -1);
	kvt_config_free(cfg);
}
