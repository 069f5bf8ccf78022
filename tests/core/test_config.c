/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: core/config.c and core/config_yaml.c - the knob table,
 * strict value parsing through kvt_config_set(), LMCache YAML files (ignored
 * keys, extra_config in dotted and nested form, malformed files), KVT_*
 * environment overrides, kvt_config_get()/dump(), chunk sizing and the
 * cross-knob checks of config_check().
 */
#define _GNU_SOURCE
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvtier.h"
#include "tests/common/harness.h"

static struct kvt_config *new_cfg(void)
{
	struct kvt_config *cfg = NULL;

	CHECK_EQ(kvt_config_new(&cfg), 0);
	CHECK(cfg != NULL);
	return cfg;
}

/* This case's temp dir; the harness allows few per process. */
static const char *tmpdir(void)
{
	static const char *dir;

	if (!dir)
		dir = harness_tmpdir(0);
	return dir;
}

/* Writes @text to @name in the temp dir; returns its path. */
static const char *write_yaml(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir(), name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK_EQ(fclose(f), 0);
	return path;
}

static const char *get(const struct kvt_config *cfg, const char *key)
{
	static char buf[CONFIG_STR_MAX + 8];

	CHECK(kvt_config_get(cfg, key, buf, sizeof(buf)) >= 0);
	return buf;
}

static bool is_ignored(const struct kvt_config *cfg, const char *key)
{
	const char *k;

	for (size_t i = 0; kvt_config_ignored(cfg, i, &k) == 0; i++)
		if (strcmp(k, key) == 0)
			return true;
	return false;
}

/* Remove every KVT_ variable, so the runner's environment cannot leak in. */
static void clear_kvt_env(void)
{
	extern char **environ;
	char name[256];
	bool again = true;

	while (again) {
		again = false;
		for (char **e = environ; e && *e; e++) {
			const char *eq = strchr(*e, '=');

			if (strncmp(*e, "KVT_", 4) || !eq ||
			    (size_t)(eq - *e) >= sizeof(name))
				continue;
			snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
			unsetenv(name);
			again = true;
			break;
		}
	}
}

TEST(defaults_from_table)
{
	struct kvt_config *cfg = new_cfg();

	CHECK_EQ(cfg->chunk_size, 256);
	CHECK(cfg->local_cpu);
	CHECK(cfg->max_local_cpu_size == 5.0);
	CHECK(!cfg->use_only_staging_buffer);
	CHECK_EQ(strcmp(cfg->model_name, ""), 0);
	CHECK_EQ(cfg->world_size, 1);
	CHECK_EQ(cfg->worker_id, 0);
	CHECK_EQ(strcmp(cfg->kv_dtype, "bfloat16"), 0);
	CHECK_EQ(cfg->kv_layers, 24);
	CHECK_EQ(cfg->kv_heads, 2);
	CHECK_EQ(cfg->head_dim, 64);
	CHECK(!cfg->use_mla);
	CHECK_EQ(cfg->pin_ttl_ms, 0);
	CHECK_EQ(cfg->put_wait_ms, 1000);
	CHECK_EQ(cfg->staging_wait_ms, 1000);
	CHECK(cfg->l1_evict_low == 0.05);
	CHECK(cfg->l1_evict_high == 0.10);
	CHECK_EQ(cfg->l1_numa_node, -1);
	CHECK_EQ(cfg->l1_prefetch_workers, 1);
	CHECK_EQ(cfg->mailbox_depth, 4096);
	CHECK_EQ(cfg->mailbox_wait_ms, 1000);
	CHECK_EQ(cfg->nignored, 0);
	{
		const char *k;

		CHECK_EQ(kvt_config_ignored(cfg, 0, &k), -ENOENT);
		CHECK_EQ(kvt_config_ignored(cfg, 0, NULL), -EINVAL);
	}
	CHECK_EQ(config_check(cfg, NULL, 0), 0);
	kvt_config_free(cfg);
	kvt_config_free(NULL);
}

static const struct set_case {
	const char *key;
	const char *value;
	bool ok;
	const char *expect;	/* substring of err, or of get() when ok */
} set_cases[] = {
	{ "chunk_size", "512", true, "512" },
	{ "chunk_size", "1", true, "1" },
	{ "chunk_size", "1048576", true, "1048576" },
	{ "chunk_size", "12abc", false, "chunk_size: \"12abc\": not an unsigned integer" },
	{ "chunk_size", "", false, "chunk_size: \"\": not an unsigned integer" },
	{ "chunk_size", "-1", false, "chunk_size: \"-1\": not an unsigned integer" },
	{ "chunk_size", " 12", false, "not an unsigned integer" },
	{ "chunk_size", "12 ", false, "not an unsigned integer" },
	{ "chunk_size", "+12", false, "not an unsigned integer" },
	{ "chunk_size", "0x10", false, "not an unsigned integer" },
	{ "chunk_size", "1.5", false, "not an unsigned integer" },
	{ "chunk_size", "0", false, "chunk_size: \"0\": must be between 1 and 1048576" },
	{ "chunk_size", "1048577", false, "must be between 1 and 1048576" },
	{ "chunk_size", "4294967296", false, "must be between 1 and 1048576" },
	{ "chunk_size", "99999999999999999999", false,
	  "chunk_size: \"99999999999999999999\": must be between" },
	{ "world_size", "4096", true, "4096" },
	{ "world_size", "0", false, "world_size: \"0\": must be between 1 and 4096" },
	{ "worker_id", "4095", true, "4095" },
	{ "worker_id", "4096", false, "worker_id: \"4096\"" },
	{ "kv_layers", "1025", false, "kv_layers: \"1025\": must be between 1 and 1024" },
	{ "kv_heads", "0", false, "kv_heads: \"0\"" },
	{ "head_dim", "4097", false, "head_dim: \"4097\"" },
	{ "pin_ttl_ms", "86400000", true, "86400000" },
	{ "pin_ttl_ms", "86400001", false, "pin_ttl_ms: \"86400001\"" },
	{ "put_wait_ms", "0", true, "0" },
	{ "put_wait_ms", "600001", false, "put_wait_ms: \"600001\"" },
	{ "staging_wait_ms", "x", false, "staging_wait_ms: \"x\"" },
	{ "max_local_cpu_size", "0.5", true, "0.5" },
	{ "max_local_cpu_size", "4096", true, "4096" },
	{ "max_local_cpu_size", "1e3", true, "1000" },
	/* LMCache's DAX primary config; kvt_config_check() says where 0 cannot be */
	{ "max_local_cpu_size", "0", true, "0" },
	{ "max_local_cpu_size", "-1", false,
	  "max_local_cpu_size: \"-1\": must be between 0 and 4096" },
	{ "max_local_cpu_size", "4097", false, "must be between 0 and 4096" },
	{ "max_local_cpu_size", "nan", false, "max_local_cpu_size: \"nan\": not a number" },
	{ "max_local_cpu_size", "inf", false, "max_local_cpu_size: \"inf\": not a number" },
	{ "max_local_cpu_size", "1e999", false, "max_local_cpu_size: \"1e999\"" },
	{ "max_local_cpu_size", "5GB", false, "not a number" },
	{ "max_local_cpu_size", "", false, "max_local_cpu_size: \"\": not a number" },
	{ "max_local_cpu_size", "0x10", false, "not a number" },
	{ "l1.evict_low", "0.2", true, "0.2" },
	{ "l1.evict_low", "0", true, "0" },
	{ "l1.evict_low", "1", true, "1" },
	{ "l1.evict_low", "2", false, "l1.evict_low: \"2\": must be between 0 and 1" },
	{ "l1.evict_low", "-0.1", false, "l1.evict_low: \"-0.1\": must be between 0 and 1" },
	{ "l1.evict_high", "NaN", false, "l1.evict_high: \"NaN\": not a number" },
	{ "l1.numa_node", "-1", true, "-1" },
	{ "l1.numa_node", "3", true, "3" },
	{ "l1.numa_node", "-2", false, "l1.numa_node: \"-2\": must be between -1 and 1023" },
	{ "l1.numa_node", "1024", false, "must be between -1 and 1023" },
	{ "l1.numa_node", "-", false, "l1.numa_node: \"-\": not an integer" },
	{ "l1.numa_node", "99999999999999999999", false, "must be between -1 and 1023" },
	{ "l1.prefetch_workers", "64", true, "64" },
	{ "l1.prefetch_workers", "65", false, "l1.prefetch_workers: \"65\"" },
	{ "actors.mailbox_depth", "64", true, "64" },
	{ "actors.mailbox_depth", "1048576", true, "1048576" },
	{ "actors.mailbox_depth", "100", false,
	  "actors.mailbox_depth: \"100\": must be a power of two" },
	{ "actors.mailbox_depth", "32", false, "must be between 64 and 1048576" },
	{ "actors.mailbox_depth", "2097152", false, "must be between 64 and 1048576" },
	{ "actors.mailbox_wait_ms", "0", false, "actors.mailbox_wait_ms: \"0\"" },
	{ "local_cpu", "false", true, "false" },
	{ "local_cpu", "TRUE", true, "true" },
	{ "local_cpu", "Yes", true, "true" },
	{ "local_cpu", "off", true, "false" },
	{ "local_cpu", "ON", true, "true" },
	{ "local_cpu", "0", true, "false" },
	{ "local_cpu", "1", true, "true" },
	{ "local_cpu", "No", true, "false" },
	{ "local_cpu", "2", false, "local_cpu: \"2\": not a boolean" },
	{ "local_cpu", "truthy", false, "local_cpu: \"truthy\": not a boolean" },
	{ "use_mla", "", false, "use_mla: \"\": not a boolean" },
	{ "kv_dtype", "float32", true, "float32" },
	{ "kv_dtype", "fp8_e5m2", true, "fp8_e5m2" },
	{ "kv_dtype", "int8", true, "int8" },
	{ "kv_dtype", "float64", false, "kv_dtype: \"float64\": must be one of bfloat16" },
	{ "kv_dtype", "BFLOAT16", false, "kv_dtype: \"BFLOAT16\"" },
	{ "model_name", "Qwen/Qwen2.5-0.5B-Instruct", true, "Qwen/Qwen2.5-0.5B-Instruct" },
	{ "model_name", "", true, "" },
	{ "model_name", "a\nb", false, "model_name: \"a\nb\": contains a control character" },
	{ "kv_layout", "0123456789012345678901234567890", true, "0123456789" },
	{ "kv_layout", "01234567890123456789012345678901", false,
	  "kv_layout: \"01234567890123456789012345678901\": longer than 31 bytes" },
	{ "tenant_salt", "s3cret", true, "s3cret" },
	{ "foo", "1", false, "unknown key 'foo'" },
	{ "l1.evict", "0.1", false, "unknown key 'l1.evict'" },
	{ "l1", "0.1", false, "unknown key 'l1'" },
	{ "extra_config", "x", false, "unknown key 'extra_config'" },
	{ "Chunk_Size", "1", false, "unknown key 'Chunk_Size'" },
	{ "cache_policy", "LRU", true, NULL },
	{ "storage_plugin.foo.module", "x", true, NULL },
	{ "remote_url", "lm://localhost:65432", true, NULL },
	{ "local_disk", "file:///tmp/", true, NULL },
};

TEST(set_table)
{
	for (size_t i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
		const struct set_case *c = &set_cases[i];
		struct kvt_config *cfg = new_cfg();
		struct kvt_config before = *cfg;
		char err[256] = "";
		int ret = kvt_config_set(cfg, c->key, c->value, err, sizeof(err));

		if (c->ok != (ret == 0))
			harness_fail(__FILE__, __LINE__,
				     "row %zu %s=\"%s\": ret %d, err \"%s\"", i,
				     c->key, c->value, ret, err);
		if (!c->ok) {
			CHECK_EQ(ret, -EINVAL);
			CHECK_HAS(err, c->expect);
			/* failure atomicity: nothing changed */
			if (memcmp(&before, cfg, sizeof(before)))
				harness_fail(__FILE__, __LINE__,
					     "row %zu changed the config", i);
		} else if (c->expect) {
			CHECK_HAS(get(cfg, c->key), c->expect);
		} else {
			CHECK(is_ignored(cfg, c->key));
		}
		kvt_config_free(cfg);
	}
}

TEST(set_null_err_buffer_is_fine)
{
	struct kvt_config *cfg = new_cfg();
	char small[8];

	CHECK_EQ(kvt_config_set(cfg, "chunk_size", "bad", NULL, 0), -EINVAL);
	CHECK_EQ(kvt_config_set(cfg, "chunk_size", "bad", small, sizeof(small)),
		 -EINVAL);
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	CHECK_EQ(kvt_config_set(cfg, NULL, "1", NULL, 0), -EINVAL);
	CHECK_EQ(kvt_config_set(cfg, "chunk_size", NULL, NULL, 0), -EINVAL);
	CHECK_EQ(cfg->chunk_size, 256);
	kvt_config_free(cfg);
}

TEST(set_long_value_is_cut_in_message)
{
	struct kvt_config *cfg = new_cfg();
	char value[1024], err[512];

	memset(value, '7', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	CHECK_EQ(kvt_config_set(cfg, "chunk_size", value, err, sizeof(err)),
		 -EINVAL);
	CHECK_HAS(err, "chunk_size: \"7777");
	CHECK_HAS(err, "...\": must be between");
	kvt_config_free(cfg);
}

TEST(get_formats_and_errors)
{
	struct kvt_config *cfg = new_cfg();
	char buf[64], tiny[3];

	CHECK_EQ(kvt_config_get(cfg, "chunk_size", buf, sizeof(buf)), 3);
	CHECK_EQ(strcmp(buf, "256"), 0);
	CHECK_EQ(strcmp(get(cfg, "l1.evict_low"), "0.05"), 0);
	CHECK_EQ(strcmp(get(cfg, "l1.evict_high"), "0.1"), 0);
	CHECK_EQ(strcmp(get(cfg, "max_local_cpu_size"), "5"), 0);
	CHECK_EQ(strcmp(get(cfg, "local_cpu"), "true"), 0);
	CHECK_EQ(strcmp(get(cfg, "l1.numa_node"), "-1"), 0);
	CHECK_EQ(strcmp(get(cfg, "kv_dtype"), "bfloat16"), 0);
	CHECK_EQ(strcmp(get(cfg, "model_name"), ""), 0);
	CHECK_EQ(kvt_config_get(cfg, "nope", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(kvt_config_get(cfg, "cache_policy", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(kvt_config_get(cfg, "chunk_size", tiny, sizeof(tiny)), -ENOSPC);
	CHECK_EQ(kvt_config_get(cfg, "chunk_size", buf, 4), 3);
	/* a double survives get -> set exactly */
	CHECK_EQ(kvt_config_set(cfg, "max_local_cpu_size", "0.1234567890123", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "l1.evict_low", "0.30000000000000004", NULL, 0), 0);
	{
		double d = cfg->l1_evict_low;

		CHECK_EQ(kvt_config_set(cfg, "l1.evict_low", get(cfg, "l1.evict_low"),
					NULL, 0), 0);
		CHECK(cfg->l1_evict_low == d);
	}
	kvt_config_free(cfg);
}

TEST(yaml_lmcache_config_lists_ignored_keys)
{
	const char *path = write_yaml("lmcache.yaml",
		"# an LMCache config, unchanged\n"
		"chunk_size: 512\n"
		"local_cpu: True\n"
		"max_local_cpu_size: 20.5\n"
		"local_disk: \"file:///local/disk_test/\"\n"
		"max_local_disk_size: 5\n"
		"remote_url: null\n"
		"remote_serde: \"naive\"\n"
		"cache_policy: LRU\n"
		"store_location: ~\n"
		"save_decode_cache: False\n"
		"enable_blending: false\n"
		"blend_special_str: \" # # \"\n"
		"storage_plugins: [\"mooncake\", \"dax\"]\n"
		"storage_plugin.mooncake.module_path: lmcache.mooncake\n"
		"storage_plugin.dax.class_name: DaxBackend\n"
		"pd_role: sender\n"
		"nixl_buffer_size: 1073741824\n"
		"internal_api_server_enabled: false\n"
		"numa_mode: auto\n"
		"error_handling:\n"
		"  on_error: skip\n"
		"extra_config:\n"
		"  enable_nixl_storage: false\n"
		"  l1.evict_low: 0.2\n"
		"  l1.evict_high: 0.4\n");
	struct kvt_config *cfg = new_cfg();
	char err[256] = "";
	static const char *const ignored[] = {
		"local_disk", "max_local_disk_size", "remote_url", "remote_serde",
		"cache_policy", "store_location", "save_decode_cache",
		"enable_blending", "blend_special_str", "storage_plugins",
		"storage_plugin.mooncake.module_path",
		"storage_plugin.dax.class_name", "pd_role", "nixl_buffer_size",
		"internal_api_server_enabled", "numa_mode", "error_handling",
		"enable_nixl_storage",
	};

	CHECK_EQ(kvt_config_load_yaml(cfg, path, err, sizeof(err)), 0);
	CHECK_EQ(cfg->chunk_size, 512);
	CHECK(cfg->local_cpu);
	CHECK(cfg->max_local_cpu_size == 20.5);
	CHECK(cfg->l1_evict_low == 0.2);
	CHECK(cfg->l1_evict_high == 0.4);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (!is_ignored(cfg, ignored[i]))
			harness_fail(__FILE__, __LINE__, "%s not listed", ignored[i]);
	CHECK_EQ(cfg->nignored, sizeof(ignored) / sizeof(ignored[0]));
	/* loading again lists each key once */
	CHECK_EQ(kvt_config_load_yaml(cfg, path, err, sizeof(err)), 0);
	CHECK_EQ(cfg->nignored, sizeof(ignored) / sizeof(ignored[0]));
	CHECK_EQ(config_check(cfg, err, sizeof(err)), 0);
	kvt_config_free(cfg);
}

static const struct yaml_case {
	const char *name;
	const char *text;
} extra_forms[] = {
	{ "extra_dotted", "extra_config:\n  l1.evict_low: 0.125\n  actors.mailbox_depth: 256\n" },
	{ "extra_nested", "extra_config:\n  l1:\n    evict_low: 0.125\n  actors: {mailbox_depth: 256}\n" },
	{ "top_dotted", "l1.evict_low: 0.125\nactors.mailbox_depth: 256\n" },
	{ "top_nested", "l1:\n  evict_low: 0.125\nactors:\n  mailbox_depth: 256\n" },
	{ "flow", "{extra_config: {l1: {evict_low: '0.125'}}, actors.mailbox_depth: \"256\"}\n" },
};

TEST(yaml_extra_config_dotted_and_nested)
{
	for (size_t i = 0; i < sizeof(extra_forms) / sizeof(extra_forms[0]); i++) {
		const char *path = write_yaml(extra_forms[i].name, extra_forms[i].text);
		struct kvt_config *cfg = new_cfg();
		char err[256] = "";

		if (kvt_config_load_yaml(cfg, path, err, sizeof(err)))
			harness_fail(__FILE__, __LINE__, "%s: %s", extra_forms[i].name, err);
		CHECK(cfg->l1_evict_low == 0.125);
		CHECK_EQ(cfg->mailbox_depth, 256);
		CHECK_EQ(cfg->nignored, 0);
		kvt_config_free(cfg);
	}
}

static const struct yaml_bad_case {
	const char *name;
	const char *text;
	int ret;
	const char *expect[3];	/* substrings of err */
} yaml_bad[] = {
	{ "unknown_top", "chunk_size: 256\nfoo: 1\n", -EINVAL,
	  { "unknown key 'foo'", ":2:" } },
	{ "unknown_extra", "extra_config:\n  l1.evict_lo: 0.1\n", -EINVAL,
	  { "unknown key 'l1.evict_lo'" } },
	{ "unknown_nested", "extra_config:\n  l1:\n    bogus: 1\n", -EINVAL,
	  { "unknown key 'l1.bogus'" } },
	{ "unknown_section_map", "foo:\n  bar: 1\n", -EINVAL,
	  { "unknown key 'foo'" } },
	{ "bad_indent", "chunk_size: 256\n  local_cpu: true\n", -EINVAL,
	  { "malformed YAML", ":2:" } },
	{ "bad_indent_map", "extra_config:\n    l1.evict_low: 0.1\n  l1.evict_high: 0.2\n",
	  -EINVAL, { "malformed YAML" } },
	{ "unterminated_quote", "model_name: \"qwen\nchunk_size: 256\n", -EINVAL,
	  { "malformed YAML", "quoted scalar" } },
	{ "tab_indent", "extra_config:\n\tl1.evict_low: 0.1\n", -EINVAL,
	  { "malformed YAML" } },
	{ "sequence_for_scalar", "chunk_size: [256, 512]\n", -EINVAL,
	  { "chunk_size: \"[256, 512]\": a sequence where a scalar is expected", ":1:" } },
	{ "map_for_scalar", "local_cpu: {a: 1}\n", -EINVAL,
	  { "local_cpu: \"{a: 1}\": a map where a scalar is expected" } },
	{ "block_sequence", "extra_config:\n  l1.evict_low:\n    - 0.1\n", -EINVAL,
	  { "l1.evict_low: \"[0.1]\": a sequence", ":3:" } },
	{ "bad_value", "chunk_size: 12abc\n", -EINVAL,
	  { "chunk_size: \"12abc\": not an unsigned integer" } },
	{ "bad_value_extra", "extra_config:\n  l1:\n    evict_low: 2\n", -EINVAL,
	  { "l1.evict_low: \"2\": must be between 0 and 1", ":3:" } },
	{ "null_number", "chunk_size:\n", -EINVAL,
	  { "chunk_size: \"\": not an unsigned integer" } },
	{ "pow2", "actors:\n  mailbox_depth: 1000\n", -EINVAL,
	  { "actors.mailbox_depth: \"1000\": must be a power of two" } },
	{ "extra_not_map", "extra_config: 5\n", -EINVAL,
	  { "extra_config: must be a map" } },
	{ "extra_seq", "extra_config: [1]\n", -EINVAL,
	  { "extra_config: must be a map" } },
	{ "top_not_map", "- chunk_size\n", -EINVAL,
	  { "top level must be a map" } },
	{ "scalar_file", "hello\n", -EINVAL, { "top level must be a map" } },
	{ "map_key", "? [a, b]\n: 1\n", -EINVAL, { "a key must be a scalar" } },
	{ "two_docs", "chunk_size: 128\n---\nchunk_size: 64\n", -EINVAL,
	  { "more than one YAML document" } },
	{ "alias_cycle", "l1: &a\n  x: *a\n", -EINVAL, { NULL } },
	{ "nul_in_value", "model_name: \"a\\0b\"\n", -EINVAL, { "NUL" } },
	/* a key given twice is an error naming both lines, not last-wins */
	{ "dup_key", "chunk_size: 128\nlocal_cpu: true\nchunk_size: 64\n", -EINVAL,
	  { "chunk_size: given twice, at lines 1 and 3", ":3:" } },
	{ "dup_across_forms", "l1.evict_low: 0.01\nextra_config:\n  l1:\n    evict_low: 0.02\n",
	  -EINVAL, { "l1.evict_low: given twice, at lines 1 and 4" } },
	{ "dup_ignored_key", "extra_config:\n  cache_policy: LRU\n  cache_policy: LFU\n",
	  -EINVAL, { "cache_policy: given twice, at lines 2 and 3" } },
	{ "dup_section", "l1:\n  evict_low: 0.01\nl1:\n  evict_high: 0.5\n", -EINVAL,
	  { "l1: given twice, at lines 1 and 3" } },
};

TEST(yaml_bad_files_fail_clearly)
{
	for (size_t i = 0; i < sizeof(yaml_bad) / sizeof(yaml_bad[0]); i++) {
		const struct yaml_bad_case *c = &yaml_bad[i];
		const char *path = write_yaml(c->name, c->text);
		struct kvt_config *cfg = new_cfg();
		struct kvt_config before = *cfg;
		char err[512] = "";
		int ret = kvt_config_load_yaml(cfg, path, err, sizeof(err));

		if (ret != c->ret)
			harness_fail(__FILE__, __LINE__, "%s: ret %d, err \"%s\"",
				     c->name, ret, err);
		CHECK_HAS(err, path);
		for (int j = 0; j < 3 && c->expect[j]; j++)
			CHECK_HAS(err, c->expect[j]);
		/* a failed load changes nothing, even keys applied before */
		if (memcmp(&before, cfg, sizeof(before)))
			harness_fail(__FILE__, __LINE__, "%s changed the config",
				     c->name);
		kvt_config_free(cfg);
	}
}

TEST(yaml_missing_and_empty_files)
{
	struct kvt_config *cfg = new_cfg();
	char err[512] = "", path[512];

	snprintf(path, sizeof(path), "%s/absent.yaml", tmpdir());
	CHECK_EQ(kvt_config_load_yaml(cfg, path, err, sizeof(err)), -ENOENT);
	CHECK_HAS(err, "absent.yaml");
	CHECK_EQ(kvt_config_load_yaml(cfg, write_yaml("empty", ""), err,
				      sizeof(err)), 0);
	CHECK_EQ(kvt_config_load_yaml(cfg, write_yaml("comments", "# nothing\n"),
				      err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_load_yaml(cfg, write_yaml("null_extra",
				      "extra_config:\nchunk_size: '64'\n"),
				      err, sizeof(err)), 0);
	CHECK_EQ(cfg->chunk_size, 64);
	CHECK_EQ(kvt_config_load_yaml(cfg, write_yaml("strings",
				      "model_name: 'Qwen/Qwen2.5-0.5B'\ntenant_salt: null\n"
				      "kv_dtype: float16\nuse_mla: yes\n"),
				      err, sizeof(err)), 0);
	CHECK_EQ(strcmp(cfg->model_name, "Qwen/Qwen2.5-0.5B"), 0);
	CHECK_EQ(strcmp(cfg->tenant_salt, ""), 0);
	CHECK_EQ(strcmp(cfg->kv_dtype, "float16"), 0);
	CHECK(cfg->use_mla);
	kvt_config_free(cfg);
}

TEST(dump_lines_and_reload)
{
	struct kvt_config *cfg = new_cfg(), *back = new_cfg();
	char path[512], text[8192], err[256] = "";
	ssize_t n;
	int fd;

	CHECK_EQ(kvt_config_set(cfg, "model_name", "m \"q\" \\x", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "l1.evict_high", "0.3", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "cache_policy", "LRU", NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/dump.yaml", tmpdir());
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(kvt_config_dump(cfg, fd), 0);
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, text, sizeof(text) - 1);
	CHECK(n > 0);
	text[n] = '\0';
	close(fd);
	CHECK_HAS(text, "chunk_size: 256  # ");
	CHECK_HAS(text, "l1.evict_high: 0.3  # ");
	CHECK_HAS(text, "kv_dtype: \"bfloat16\"  # ");
	CHECK_HAS(text, "actors.mailbox_depth: 4096  # ");
	CHECK_HAS(text, "# ignored LMCache key: cache_policy");
	CHECK_EQ(kvt_config_load_yaml(back, path, err, sizeof(err)), 0);
	CHECK_EQ(strcmp(back->model_name, cfg->model_name), 0);
	CHECK(back->l1_evict_high == 0.3);
	CHECK_EQ(kvt_config_dump(cfg, -1), -EBADF);
	kvt_config_free(cfg);
	kvt_config_free(back);
}

/* Runs "<build>/kvtier config check @path"; its stdout and stderr into
 * @out.  Returns the exit status, or skips when the tool is not built. */
static int run_config_check(const char *path, char *out, size_t len)
{
	const char *dir = harness_build_dir();
	char cmd[1024], tool[512];
	size_t n = 0;
	FILE *p;
	int st;

	snprintf(tool, sizeof(tool), "%s/kvtier", dir ? dir : "build/asan");
	if (access(tool, X_OK))
		SKIP("%s is not built", tool);
	clear_kvt_env();
	snprintf(cmd, sizeof(cmd), "%s config check %s 2>&1", tool, path);
	p = popen(cmd, "r");
	CHECK(p != NULL);
	while (n + 1 < len && fgets(out + n, (int)(len - n), p))
		n += strlen(out + n);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t count_of(const char *s, const char *sub)
{
	size_t n = 0;

	for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
		n++;
	return n;
}

TEST(cli_check_names_each_ignored_key_once)
{
	static char out[65536];
	const char *path = write_yaml("ignored_once.yaml",
				      "chunk_size: 256\ncache_policy: LRU\nremote_serde: naive\n");

	CHECK_EQ(run_config_check(path, out, sizeof(out)), 0);
	CHECK_HAS(out, ": ok");
	if (count_of(out, "cache_policy") != 1 || count_of(out, "remote_serde") != 1)
		harness_fail(__FILE__, __LINE__, "ignored keys not named exactly once:\n%s", out);
}

/*
 * LMCache's DAX restore-path sample as LMCache users write it: local_cpu
 * false, the DAX device as the store, 16 GB of CPU memory (restore buffers,
 * not a hot cache), LMCache's own keys only.  It loads unchanged, passes
 * the check, and means primary mode: DAX holds the chunks.
 */
static const char lmcache_dax_sample[] =
	"chunk_size: 256\n"
	"local_cpu: false\n"
	"max_local_cpu_size: 16\n"
	"storage_plugins: [\"dax\"]\n"
	"extra_config:\n"
	"  storage_plugin.dax.module_path: lmcache.v1.storage_backend.plugins.dax_backend\n"
	"  storage_plugin.dax.class_name: DaxBackend\n"
	"  dax.device_path: \"/dev/dax1.0\"\n"
	"  dax.max_dax_size: 100\n"
	"  dax.restore_workers: 8\n"
	"  dax.restore_max_regions: 8\n"
	"  dax.retrieve_staging_slab_bytes: 268435456\n";

TEST(lmcache_dax_sample_loads_unchanged_as_primary)
{
	const char *path = write_yaml("lmcache_dax.yaml", lmcache_dax_sample);
	struct kvt_config *cfg = new_cfg();
	static char out[65536];
	char err[512] = "";

	CHECK_EQ(kvt_config_load_yaml(cfg, path, err, sizeof(err)), 0);
	CHECK(is_ignored(cfg, "storage_plugins"));
	CHECK(is_ignored(cfg, "storage_plugin.dax.module_path"));
	if (kvt_config_check(cfg, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, "LMCache's DAX sample refused: %s", err);
	/* no dax.mode given: derived from local_cpu (api/test_dax opens it) */
	CHECK_EQ(strcmp(get(cfg, "dax.mode"), "auto"), 0);
	/* local_cpu true keeps L1 as the cache in front: tiered */
	CHECK_EQ(kvt_config_set(cfg, "local_cpu", "true", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), 0);
	/* an explicit mode that contradicts local_cpu stays an error naming both */
	CHECK_EQ(kvt_config_set(cfg, "local_cpu", "false", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_set(cfg, "dax.mode", "tiered", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "dax.mode: \"tiered\"");
	CHECK_HAS(err, "local_cpu: false");
	CHECK_EQ(kvt_config_set(cfg, "local_cpu", "true", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_set(cfg, "dax.mode", "primary", err, sizeof(err)), 0);
	CHECK_EQ(kvt_config_check(cfg, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "dax.mode: \"primary\"");
	CHECK_HAS(err, "local_cpu: true");
	kvt_config_free(cfg);
	/* and the tool agrees, and says what auto comes to */
	CHECK_EQ(run_config_check(path, out, sizeof(out)), 0);
	CHECK_HAS(out, ": ok");
	CHECK_HAS(out, "dax.mode: \"auto\"  # here: primary, from local_cpu;");
}

/* Found by fuzz_config_yaml: a value holding NEL (U+0085), LS or PS was
 * dumped raw inside quotes, where YAML reads a line break and folds it. */
TEST(dump_reloads_unicode_line_breaks)
{
	struct kvt_config *cfg = new_cfg(), *back = new_cfg();
	char path[512], err[256] = "";
	int fd;

	CHECK_EQ(kvt_config_set(cfg, "model_name", "a\xc2\x85" "b\xe2\x80\xa8" "c\xe2\x80\xa9" "d",
				NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/dump-nel.yaml", tmpdir());
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(kvt_config_dump(cfg, fd), 0);
	close(fd);
	CHECK_EQ(kvt_config_load_yaml(back, path, err, sizeof(err)), 0);
	CHECK_EQ(strcmp(back->model_name, cfg->model_name), 0);
	kvt_config_free(cfg);
	kvt_config_free(back);
}

/* Found by fuzz_config_yaml: an ignored LMCache key holding a newline was
 * dumped into a comment, and its second line loaded back as a knob. */
TEST(ignored_keys_are_printable_ascii)
{
	struct kvt_config *cfg = new_cfg();
	char err[256] = "";

	CHECK_EQ(kvt_config_set(cfg, "storage_plugin.x\nchunk_size", "5", err, sizeof(err)),
		 -EINVAL);
	CHECK_HAS(err, "unknown key");
	CHECK_EQ(kvt_config_set(cfg, "storage_plugin.\xc3\xa9", "5", err, sizeof(err)), -EINVAL);
	CHECK_EQ(kvt_config_set(cfg, "storage_plugin.a b", "5", err, sizeof(err)), 0);
	kvt_config_free(cfg);
}

TEST(env_overrides)
{
	struct kvt_config *cfg = new_cfg();
	char err[256] = "";

	clear_kvt_env();
	setenv("KVT_CHUNK_SIZE", "512", 1);
	setenv("KVT_L1_EVICT_LOW", "0.01", 1);
	setenv("KVT_ACTORS_MAILBOX_DEPTH", "128", 1);
	setenv("KVT_KV_DTYPE", "float32", 1);
	/* other subsystems' variables are not knobs and not errors */
	setenv("KVT_TEST_TIMEOUT", "10", 1);
	setenv("KVT_REDIS_PASSWORD", "pw", 1);
	setenv("KVT_LOG", "debug", 1);
	setenv("KVT_STRESS_SECONDS", "5", 1);
	setenv("LMCACHE_CHUNK_SIZE", "64", 1);
	CHECK_EQ(kvt_config_apply_env(cfg, err, sizeof(err)), 0);
	CHECK_EQ(cfg->chunk_size, 512);
	CHECK(cfg->l1_evict_low == 0.01);
	CHECK_EQ(cfg->mailbox_depth, 128);
	CHECK_EQ(strcmp(cfg->kv_dtype, "float32"), 0);
	kvt_config_free(cfg);
}

TEST(env_unknown_and_bad_values_fail)
{
	struct kvt_config *cfg = new_cfg();
	struct kvt_config before;
	char err[256] = "";

	clear_kvt_env();
	setenv("KVT_CHUNK_SIZE", "512", 1);
	setenv("KVT_FOO", "1", 1);
	before = *cfg;
	CHECK_EQ(kvt_config_apply_env(cfg, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "KVT_FOO");
	CHECK(memcmp(&before, cfg, sizeof(before)) == 0);
	unsetenv("KVT_FOO");

	/* lower-case and dotted spellings are not the KVT_ name */
	setenv("KVT_chunk_size", "1", 1);
	CHECK_EQ(kvt_config_apply_env(cfg, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "KVT_chunk_size");
	unsetenv("KVT_chunk_size");

	setenv("KVT_L1_EVICT_HIGH", "1.5", 1);
	CHECK_EQ(kvt_config_apply_env(cfg, err, sizeof(err)), -EINVAL);
	CHECK_HAS(err, "KVT_L1_EVICT_HIGH");
	CHECK_HAS(err, "l1.evict_high: \"1.5\": must be between 0 and 1");
	CHECK(memcmp(&before, cfg, sizeof(before)) == 0);
	unsetenv("KVT_L1_EVICT_HIGH");

	CHECK_EQ(kvt_config_apply_env(cfg, err, sizeof(err)), 0);
	CHECK_EQ(cfg->chunk_size, 512);
	kvt_config_free(cfg);
}

TEST(dtype_bytes)
{
	CHECK_EQ(config_dtype_bytes("bfloat16"), 2);
	CHECK_EQ(config_dtype_bytes("float16"), 2);
	CHECK_EQ(config_dtype_bytes("float32"), 4);
	CHECK_EQ(config_dtype_bytes("fp8_e4m3"), 1);
	CHECK_EQ(config_dtype_bytes("fp8_e5m2"), 1);
	CHECK_EQ(config_dtype_bytes("int8"), 1);
	CHECK_EQ(config_dtype_bytes("float64"), 0);
	CHECK_EQ(config_dtype_bytes(""), 0);
	CHECK_EQ(config_dtype_bytes(NULL), 0);
}

TEST(chunk_bytes_qwen_and_mla)
{
	struct kvt_config *cfg = new_cfg();

	/* Qwen2.5-0.5B: 24 layers, 2 KV heads, head_dim 64, bf16, 256 tokens */
	CHECK_EQ(config_chunk_bytes(cfg), 3u << 20);
	/* DeepSeek-V3-like MLA: 61 layers, one 576-wide latent, bf16 */
	CHECK_EQ(kvt_config_set(cfg, "use_mla", "true", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "kv_layers", "61", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "kv_heads", "1", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "head_dim", "576", NULL, 0), 0);
	CHECK_EQ(config_chunk_bytes(cfg), 61ull * 256 * 576 * 2);
	CHECK_EQ(kvt_config_set(cfg, "kv_dtype", "fp8_e4m3", NULL, 0), 0);
	CHECK_EQ(config_chunk_bytes(cfg), 61ull * 256 * 576);
	/* the largest shape stays in size_t */
	CHECK_EQ(kvt_config_set(cfg, "use_mla", "false", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "kv_dtype", "float32", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "kv_layers", "1024", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "kv_heads", "1024", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "head_dim", "4096", NULL, 0), 0);
	CHECK_EQ(kvt_config_set(cfg, "chunk_size", "1048576", NULL, 0), 0);
	CHECK_EQ(config_chunk_bytes(cfg), 1ull << 55);
	kvt_config_free(cfg);
}

static const struct check_case {
	const char *set[6][2];	/* knob, value pairs applied in order */
	bool ok;
	const char *expect[2];
} check_cases[] = {
	{ { { NULL } }, true, { NULL } },
	{ { { "l1.evict_low", "0.2" }, { "l1.evict_high", "0.2" } }, false,
	  { "l1.evict_low (0.2)", "l1.evict_high (0.2)" } },
	{ { { "l1.evict_low", "0.5" } }, false,
	  { "l1.evict_low (0.5) must be below l1.evict_high (0.1)" } },
	{ { { "l1.evict_low", "0" }, { "l1.evict_high", "1" } }, true, { NULL } },
	{ { { "worker_id", "1" } }, false,
	  { "worker_id (1) must be below world_size (1)" } },
	{ { { "world_size", "8" }, { "worker_id", "7" } }, true, { NULL } },
	{ { { "use_only_staging_buffer", "true" } }, false,
	  { "use_only_staging_buffer", "local_cpu" } },
	{ { { "use_only_staging_buffer", "true" }, { "local_cpu", "false" } },
	  true, { NULL } },
	/* 3 MiB chunks: 6 MiB holds two, a little less does not */
	{ { { "max_local_cpu_size", "0.005859375" } }, true, { NULL } },
	{ { { "max_local_cpu_size", "0.0058" } }, false,
	  { "max_local_cpu_size (0.0058 GB)", "3145728" } },
	{ { { "max_local_cpu_size", "0.001" }, { "local_cpu", "false" } },
	  true, { NULL } },
	/* 2 x 64 x 65536 x 8 x 128 x 2 bytes = 16 GiB */
	{ { { "kv_layers", "64" }, { "chunk_size", "65536" }, { "kv_heads", "8" },
	    { "head_dim", "128" } }, false, { "must be below 4 GiB", "chunk_size 65536" } },
	/* exactly 4 GiB does not fit the 32-bit chunk length */
	{ { { "kv_layers", "64" }, { "chunk_size", "16384" }, { "kv_heads", "8" },
	    { "head_dim", "128" }, { "max_local_cpu_size", "8" } }, false,
	  { "must be below 4 GiB" } },
	/* 2 GiB chunks: 8 GB holds two, 3 GB does not */
	{ { { "kv_layers", "64" }, { "chunk_size", "8192" }, { "kv_heads", "8" },
	    { "head_dim", "128" }, { "max_local_cpu_size", "8" } }, true, { NULL } },
	{ { { "kv_layers", "64" }, { "chunk_size", "8192" }, { "kv_heads", "8" },
	    { "head_dim", "128" }, { "max_local_cpu_size", "3" } }, false,
	  { "max_local_cpu_size (3 GB)" } },
};

TEST(check_table)
{
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		const struct check_case *c = &check_cases[i];
		struct kvt_config *cfg = new_cfg();
		char err[512] = "";
		int ret;

		for (int j = 0; j < 6 && c->set[j][0]; j++)
			if (kvt_config_set(cfg, c->set[j][0], c->set[j][1], err,
					   sizeof(err)))
				harness_fail(__FILE__, __LINE__, "row %zu: %s", i, err);
		ret = config_check(cfg, err, sizeof(err));
		if (c->ok != (ret == 0))
			harness_fail(__FILE__, __LINE__, "row %zu: ret %d, err \"%s\"",
				     i, ret, err);
		if (!c->ok) {
			CHECK_EQ(ret, -EINVAL);
			for (int j = 0; j < 2 && c->expect[j]; j++)
				CHECK_HAS(err, c->expect[j]);
		}
		kvt_config_free(cfg);
	}
}
