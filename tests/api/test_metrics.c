/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the metrics endpoint (metrics.listen): the knob's checks, a
 * real HTTP scrape of /metrics whose histogram counts equal the calls made
 * and whose counters equal kvt_stats(), per-adapter L2 histograms, the
 * text passing `promtool check metrics`, and close stopping the server.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvtier.h"
#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tools/common/http_get.h"
#include "tools/common/port.h"
#include "tools/common/prom_parse.h"

#define CHUNK 4096

static char addr[32], url[128];

static struct kvt *open_metrics(const char *l2_adapters)
{
	struct kvt_config *cfg;
	struct kvt *kvt;
	char err[256];
	int port = loopback_free_port();

	CHECK(port > 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	snprintf(url, sizeof(url), "http://%s/metrics", addr);
	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "max_local_cpu_size", "0.001");
	cfg_set(cfg, "metrics.listen", addr);
	if (l2_adapters) {
		cfg_set(cfg, "local_cpu", "false");
		cfg_set(cfg, "l2_adapters", l2_adapters);
	}
	if (kvt_open(cfg, &kvt, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, "kvt_open: %s", err);
	kvt_config_free(cfg);
	return kvt;
}

static void scrape(struct prom_samples *s, char **text)
{
	char err[256], *body;
	size_t len;

	if (http_get(url, 5000, &body, &len, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, "%s", err);
	if (prom_parse(body, s, err, sizeof(err)))
		harness_fail(__FILE__, __LINE__, "%s", err);
	if (text)
		*text = body;
	else
		free(body);
}

static uint64_t val(const struct prom_samples *s, const char *name, const char *labels)
{
	bool found;
	double v = prom_value(s, name, labels, &found);

	if (!found)
		harness_fail(__FILE__, __LINE__, "no sample %s{%s}", name, labels);
	return (uint64_t)v;
}

/* The buckets of @name{@labels} only grow and end at _count. */
static void check_histogram(const struct prom_samples *s, const char *name, const char *labels,
			    uint64_t count)
{
	char bname[128], lab[256];
	double prev = 0;
	size_t buckets = 0;

	snprintf(bname, sizeof(bname), "%s_bucket", name);
	for (size_t i = 0; i < s->n; i++) {
		char tier[32], want[32];

		if (strcmp(s->v[i].name, bname))
			continue;
		prom_label(s->v[i].labels, "tier", tier, sizeof(tier));
		prom_label(labels, "tier", want, sizeof(want));
		if (strcmp(tier, want))
			continue;
		CHECK(s->v[i].value >= prev);
		prev = s->v[i].value;
		buckets++;
	}
	CHECK_EQ(buckets, 28);
	CHECK_EQ((uint64_t)prev, count);
	snprintf(bname, sizeof(bname), "%s_count", name);
	CHECK_EQ(val(s, bname, labels), count);
	snprintf(lab, sizeof(lab), "%s%sle=\"+Inf\"", labels, labels[0] ? "," : "");
	snprintf(bname, sizeof(bname), "%s_bucket", name);
	CHECK_EQ(val(s, bname, lab), count);
}

static void promtool_check(const char *text)
{
	char path[256], cmd[512];
	FILE *f;
	int rc;

	if (access("/usr/bin/promtool", X_OK))
		return;
	snprintf(path, sizeof(path), "%s/metrics.txt", harness_tmpdir(0));
	f = fopen(path, "w");
	CHECK(f);
	CHECK_EQ(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 1>&2", path);
	rc = system(cmd);
	CHECK_EQ(rc, 0);
}

TEST(listen_knob_refuses_a_bad_address_naming_it)
{
	static const char *const bad[] = {
		"9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:-1",
		"example.com:9464", "::1:9464", "[::1:9464", "127.0.0.1:94x4", NULL,
	};
	static const char *const good[] = {
		"127.0.0.1:9464", "localhost:0", "*:9464", "[::1]:9464", "", NULL,
	};
	struct kvt_config *cfg;
	char err[256], got[64];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	for (size_t i = 0; bad[i]; i++) {
		err[0] = '\0';
		CHECK_ROW(i, kvt_config_set(cfg, "metrics.listen", bad[i], err, sizeof(err)) ==
				     -EINVAL);
		CHECK_HAS(err, "metrics.listen");
		CHECK_HAS(err, bad[i]);
	}
	for (size_t i = 0; good[i]; i++) {
		CHECK_ROW(i, kvt_config_set(cfg, "metrics.listen", good[i], err, sizeof(err)) == 0);
		CHECK(kvt_config_get(cfg, "metrics.listen", got, sizeof(got)) >= 0);
		CHECK_ROW(i, strcmp(got, good[i]) == 0);
	}
	kvt_config_free(cfg);
}

TEST(scrape_counts_every_call_and_matches_kvt_stats)
{
	enum { PUTS = 37, CONTAINS = 23, GETS = 19, PREFETCHES = 5 };
	static uint8_t src[2][CHUNK], dst[2][CHUNK];
	int threads = harness_count_threads(), fds = harness_count_fds();
	struct kvt *kvt = open_metrics(NULL);
	struct prom_samples s;
	struct kvt_stats st;
	char *text, err[256], *body;
	size_t len;
	uint64_t done = 0;

	for (int i = 0; i < PUTS; i++) {
		struct kvt_key k[2] = { key_of(2 * i), key_of(2 * i + 1) };
		const void *b[2] = { src[0], src[1] };
		size_t lens[2] = { CHUNK, CHUNK };

		CHECK(kvt_put(kvt, k, b, lens, 2, NULL, NULL, NULL) >= 0);
	}
	for (int i = 0; i < CONTAINS; i++) {
		struct kvt_key k[2] = { key_of(i), key_of(1000 + i) };

		CHECK(kvt_contains(kvt, k, 2, 0) >= 0);
	}
	for (int i = 0; i < GETS; i++) {
		struct kvt_key k[2] = { key_of(i), key_of(i + 1) };
		void *b[2] = { dst[0], dst[1] };
		size_t lens[2] = { CHUNK, CHUNK }, out[2];

		CHECK(kvt_get(kvt, k, 2, b, lens, out) >= 0);
	}
	for (int i = 0; i < PREFETCHES; i++) {
		struct kvt_key k = key_of(i);
		void *b[1] = { dst[i % 2] };
		size_t lens[1] = { CHUNK }, out[1];

		CHECK_EQ(kvt_prefetch(kvt, &k, 1, b, lens, out, NULL, NULL, NULL), 0);
		/* one at a time: the buffers are shared */
		while (done < (uint64_t)i + 1) {
			struct pollfd p = { .fd = kvt_event_fd(kvt), .events = POLLIN };
			uint64_t n;

			CHECK_EQ(poll(&p, 1, 5000), 1);
			if (read(p.fd, &n, sizeof(n)) == sizeof(n))
				done += n;
		}
	}
	scrape(&s, &text);
	st = stats_of(kvt);
	check_histogram(&s, "kvtier_put_seconds", "", PUTS);
	check_histogram(&s, "kvtier_contains_seconds", "", CONTAINS);
	check_histogram(&s, "kvtier_get_seconds", "", GETS);
	check_histogram(&s, "kvtier_prefetch_seconds", "", PREFETCHES);
	CHECK_EQ(val(&s, "kvtier_puts_total", ""), st.puts);
	CHECK_EQ(val(&s, "kvtier_lookups_total", ""), st.lookups);
	CHECK_EQ(val(&s, "kvtier_lookup_hits_total", ""), st.lookup_hits);
	CHECK_EQ(val(&s, "kvtier_hits_total", "tier=\"l1\""), st.l1_hits);
	CHECK_EQ(val(&s, "kvtier_misses_total", "tier=\"l1\""), st.l1_misses);
	CHECK_EQ(val(&s, "kvtier_read_bytes_total", "tier=\"l1\""), st.l1_bytes_out);
	CHECK_EQ(val(&s, "kvtier_entries", "tier=\"l1\""), st.l1_entries);
	CHECK_EQ(val(&s, "kvtier_slots", "tier=\"l1\""), st.l1_slots);
	CHECK_EQ(val(&s, "kvtier_prefetches_total", ""), PREFETCHES);
	CHECK_EQ(val(&s, "kvtier_pin_force_releases_total", ""), 0);
	CHECK(st.l1_hits > 0 && st.puts == 2 * PUTS);
	/* no DAX tier: no series claims one */
	CHECK(!strstr(text, "tier=\"dax\""));
	promtool_check(text);
	free(text);
	prom_samples_free(&s);
	/* only /metrics is served */
	{
		char other[128];

		snprintf(other, sizeof(other), "http://%s/other", addr);
		CHECK_EQ(http_get(other, 5000, &body, &len, err, sizeof(err)), -EPROTO);
		CHECK_HAS(err, "404");
	}
	kvt_close(kvt);
	/* the server is gone with its thread and socket */
	CHECK(http_get(url, 1000, &body, &len, err, sizeof(err)) < 0);
	CHECK_EQ(harness_count_threads(), threads);
	CHECK_EQ(harness_count_fds(), fds);
}

TEST(each_l2_adapter_has_store_and_load_histograms)
{
	enum { PUTS = 9, GETS = 7 };
	static uint8_t src[CHUNK], dst[CHUNK];
	char adapters[512];
	struct prom_samples s;
	struct kvt_stats st;
	struct kvt *kvt;
	char *text;

	snprintf(adapters, sizeof(adapters), "{\"type\":\"fs\",\"base_path\":\"%s\"}",
		 harness_tmpdir(0));
	kvt = open_metrics(adapters);
	for (int i = 0; i < PUTS; i++) {
		struct kvt_key k = key_of(i);
		const void *b = src;
		size_t len = CHUNK;

		CHECK_EQ(kvt_put(kvt, &k, &b, &len, 1, NULL, NULL, NULL), 1);
	}
	CHECK_EQ(kvt_flush(kvt), 0);
	for (int i = 0; i < GETS; i++) {
		struct kvt_key k = key_of(i);
		void *b = dst;
		size_t len = CHUNK, out;

		CHECK_EQ(kvt_get(kvt, &k, 1, &b, &len, &out), 1);
	}
	scrape(&s, &text);
	st = stats_of(kvt);
	check_histogram(&s, "kvtier_l2_store_seconds", "tier=\"fs\"", PUTS);
	check_histogram(&s, "kvtier_l2_load_seconds", "tier=\"fs\"", GETS);
	CHECK_EQ(val(&s, "kvtier_hits_total", "tier=\"l2\""), st.l2_hits);
	CHECK_EQ(val(&s, "kvtier_l2_healthy", "tier=\"fs\""), 1);
	CHECK_EQ(val(&s, "kvtier_l2_chunks", "tier=\"fs\"") > 0, 1);
	promtool_check(text);
	free(text);
	prom_samples_free(&s);
	kvt_close(kvt);
}

TEST(a_port_in_use_fails_open_naming_the_address)
{
	struct kvt_config *cfg;
	struct kvt *a = open_metrics(NULL), *b;
	char err[256];

	CHECK_EQ(kvt_config_new(&cfg), 0);
	cfg_small_chunk(cfg, "64");
	cfg_set(cfg, "max_local_cpu_size", "0.001");
	cfg_set(cfg, "metrics.listen", addr);
	CHECK_EQ(kvt_open(cfg, &b, err, sizeof(err)), -EADDRINUSE);
	CHECK_HAS(err, addr);
	kvt_config_free(cfg);
	kvt_close(a);
}

/* Runs @cmd, its stdout into @out; returns its exit status. */
static int run_tool(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int st;

	CHECK(p);
	while (n + 1 < len && fgets(out + n, (int)(len - n), p))
		n += strlen(out + n);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The kvtier CLI against a live instance: stats --url reads it, top shows
 * its tiers and latencies, and stats with no target is a usage error. */
TEST(kvtier_stats_and_top_read_a_running_instance)
{
	static uint8_t src[CHUNK];
	const char *dir = harness_build_dir();
	char cmd[512], out[65536];
	struct kvt *kvt;

	if (!dir || access(dir, X_OK))
		SKIP("no build directory");
	snprintf(cmd, sizeof(cmd), "%s/kvtier", dir);
	if (access(cmd, X_OK))
		SKIP("%s not built", cmd);
	kvt = open_metrics(NULL);
	for (int i = 0; i < 5; i++) {
		struct kvt_key k = key_of(i);
		const void *b = src;
		size_t l = CHUNK;

		CHECK_EQ(kvt_put(kvt, &k, &b, &l, 1, NULL, NULL, NULL), 1);
	}
	snprintf(cmd, sizeof(cmd), "%s/kvtier stats --url %s", dir, url);
	CHECK_EQ(run_tool(cmd, out, sizeof(out)), 0);
	CHECK_HAS(out, "kvtier_puts_total");
	CHECK_HAS(out, "kvtier_put_seconds_count");
	snprintf(cmd, sizeof(cmd), "%s/kvtier stats --url %s --prometheus", dir, addr);
	CHECK_EQ(run_tool(cmd, out, sizeof(out)), 0);
	CHECK_HAS(out, "# TYPE kvtier_put_seconds histogram\n");
	CHECK_HAS(out, "\nkvtier_put_seconds_count 5\n");
	snprintf(cmd, sizeof(cmd), "%s/kvtier top --url %s --interval 0.1 --count 2", dir, url);
	CHECK_EQ(run_tool(cmd, out, sizeof(out)), 0);
	CHECK_HAS(out, "sample 2");
	CHECK_HAS(out, "\nl1 ");
	CHECK_HAS(out, "kvtier_contains_seconds");
	snprintf(cmd, sizeof(cmd), "%s/kvtier stats 2>&1", dir);
	CHECK_EQ(run_tool(cmd, out, sizeof(out)), 2);
	CHECK_HAS(out, "--url");
	kvt_close(kvt);
	snprintf(cmd, sizeof(cmd), "%s/kvtier stats --url %s 2>&1", dir, url);
	CHECK_EQ(run_tool(cmd, out, sizeof(out)), 1);
	CHECK_HAS(out, "cannot connect");
}
