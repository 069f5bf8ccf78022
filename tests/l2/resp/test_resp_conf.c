/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the thread-free parts of the "resp" L2 adapter, no server
 * needed: URL and JSON member parsing (l2/resp/resp_conf.c) with the errors
 * that name the key, the CRC16 key slot with {hash tags}, CLUSTER SLOTS
 * and MOVED/ASK parsing (l2/resp/resp_slot.c), key names and value checks
 * (l2/resp/resp_value.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>

#include "l2/resp/resp_adapter.h"
#include "l2/resp/resp_conf.h"
#include "l2/resp/resp_slot.h"
#include "l2/resp/resp_value.h"
#include "tests/common/harness.h"
#include "kvtier/l2.h"

static int conf_try(const char *const *kv, struct resp_conf *out, char *err, size_t errlen)
{
	struct kvt_l2_param p[24];
	struct kvt_l2_config cfg = { .type = "resp", .params = p, .json = "{}" };
	static const struct kvt_key seed = { 0x1122334455667788ull, 0x99aabbccddeeff00ull };
	size_t n = 0;

	cfg.ns_seed = &seed;
	p[n++] = (struct kvt_l2_param){ "type", "resp" };
	for (; kv && kv[0]; kv += 2)
		p[n++] = (struct kvt_l2_param){ kv[0], kv[1] };
	cfg.nparams = n;
	return resp_conf_parse(&cfg, out, err, errlen);
}

TEST(url_forms)
{
	static const struct {
		const char *url;
		const char *host;
		int port, db;
		const char *user, *pass;
	} rows[] = {
		{ "redis://127.0.0.1", "127.0.0.1", 6379, 0, "", "" },
		{ "redis://127.0.0.1:7000/3", "127.0.0.1", 7000, 3, "", "" },
		{ "redis://cache.example:6380/", "cache.example", 6380, 0, "", "" },
		{ "redis://:s3cret@h:1/2", "h", 1, 2, "", "s3cret" },
		{ "redis://alice:p%40ss@h", "h", 6379, 0, "alice", "p@ss" },
		{ "redis://[::1]:6390/1", "::1", 6390, 1, "", "" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct resp_conf c;
		char err[256] = "";

		CHECK_ROW(i, resp_url_parse(rows[i].url, &c, err, sizeof(err)) == 0);
		CHECK_ROW(i, !strcmp(c.host, rows[i].host));
		CHECK_ROW(i, c.port == rows[i].port && c.db == rows[i].db);
		CHECK_ROW(i, !strcmp(c.username, rows[i].user));
		CHECK_ROW(i, !strcmp(c.password, rows[i].pass));
		CHECK_ROW(i, !strstr(c.url_redacted, "s3cret"));
	}
}

/* Every refused config names the key (and never echoes a password). */
TEST(config_errors_named)
{
	static const struct {
		const char *kv[8];
		int code;
		const char *msg;
	} rows[] = {
		{ { NULL }, -EINVAL, "url: required" },
		{ { "url", "rediss://h:6380", NULL }, -EPROTONOSUPPORT, "TLS" },
		{ { "url", "http://h", NULL }, -EPROTONOSUPPORT, "redis://" },
		{ { "url", "redis://", NULL }, -EINVAL, "no host" },
		{ { "url", "redis://h:99999", NULL }, -EINVAL, "port" },
		{ { "url", "redis://h:12x", NULL }, -EINVAL, "port" },
		{ { "url", "redis://h/abc", NULL }, -EINVAL, "database" },
		{ { "url", "redis://h?db=1", NULL }, -EINVAL, "query" },
		{ { "url", "redis://a b", NULL }, -EINVAL, "bad host" },
		{ { "url", "redis://:topsecret@h/x", NULL }, -EINVAL, "***" },
		{ { "url", "redis://h", "colour", "red", NULL }, -EINVAL, "unknown key \"colour\"" },
		{ { "url", "redis://h", "cluster", "maybe", NULL }, -EINVAL, "cluster" },
		{ { "url", "redis://h/1", "cluster", "true", NULL }, -EINVAL, "database 1" },
		{ { "url", "redis://h", "timeout_ms", "0", NULL }, -EINVAL, "timeout_ms" },
		{ { "url", "redis://h", "max_inflight", "0", NULL }, -EINVAL, "max_inflight" },
		{ { "url", "redis://h", "max_value_bytes", "10", NULL }, -EINVAL, "max_value_bytes" },
		{ { "url", "redis://h", "hash_tag", "a{b", NULL }, -EINVAL, "hash_tag" },
		{ { "url", "redis://h", "prefix", "a b", NULL }, -EINVAL, "prefix" },
		{ { "url", "redis://h", "username", "bob", NULL }, -EINVAL, "needs a password" },
	};

	unsetenv(RESP_PASSWORD_ENV);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct resp_conf c;
		char err[512] = "";
		int ret = conf_try(rows[i].kv, &c, err, sizeof(err));

		if (ret != rows[i].code || !strstr(err, rows[i].msg))
			fprintf(stderr, "    row %zu: %d \"%s\"\n", i, ret, err);
		CHECK_ROW(i, ret == rows[i].code);
		CHECK_ROW(i, strstr(err, rows[i].msg) != NULL);
		CHECK_ROW(i, strstr(err, "topsecret") == NULL);
	}
}

TEST(config_defaults_and_members)
{
	const char *kv[] = { "url", "redis://u:pw@h:7/0", "ttl_s", "60", "prefix", "p:",
			     "hash_tag", "grp", "max_inflight", "8", NULL };
	const char *ns[] = { "url", "redis://h", "hash_tag", "namespace", NULL };
	const char *none[] = { "url", "redis://h", NULL };
	struct resp_conf c;
	char err[256] = "";

	CHECK_EQ(conf_try(kv, &c, err, sizeof(err)), 0);
	CHECK(!strcmp(c.keyhead, "p:{grp}"));
	CHECK_EQ(c.ttl_s, 60);
	CHECK_EQ(c.max_inflight, 8);
	CHECK(!strcmp(c.username, "u") && !strcmp(c.password, "pw"));
	CHECK_EQ(conf_try(ns, &c, err, sizeof(err)), 0);
	CHECK(!strcmp(c.keyhead, "kvt:{1122334455667788}"));
	setenv(RESP_PASSWORD_ENV, "fromenv", 1);
	CHECK_EQ(conf_try(none, &c, err, sizeof(err)), 0);
	CHECK(!strcmp(c.password, "fromenv"));
	CHECK(!strcmp(c.keyhead, "kvt:"));
	CHECK_EQ(c.timeout_ms, 2000);
	CHECK(c.delete_corrupt && !c.cluster && c.ttl_s == 0);
	unsetenv(RESP_PASSWORD_ENV);
	CHECK_EQ(conf_try(none, &c, err, sizeof(err)), 0);
	CHECK(c.password[0] == 0);
}

/* The test vectors of the Redis Cluster specification. */
TEST(key_slots_and_tags)
{
	CHECK_EQ(resp_crc16("123456789", 9), 0x31C3);
	CHECK_EQ(resp_key_slot("123456789", 9), 12739);
	CHECK_EQ(resp_key_slot("{user1000}.following", 20), resp_key_slot("user1000", 8));
	CHECK_EQ(resp_key_slot("foo{}{bar}", 10), resp_key_slot("foo{}{bar}", 10));
	CHECK(resp_key_slot("foo{}{bar}", 10) != resp_key_slot("bar", 3));
	CHECK_EQ(resp_key_slot("foo{{bar}}zap", 13), resp_key_slot("{bar", 4));
	CHECK_EQ(resp_key_slot("foo{bar}{zap}", 13), resp_key_slot("bar", 3));
}

static int collect(void *arg, unsigned int start, unsigned int end, const char *host, int port)
{
	char *out = arg;
	size_t len = strlen(out);

	snprintf(out + len, 512 - len, "%u-%u@%s:%d;", start, end, host, port);
	return 0;
}

static redisReply *mk(int type)
{
	redisReply *r = calloc(1, sizeof(*r));

	r->type = type;
	return r;
}

static redisReply *mk_int(long long v)
{
	redisReply *r = mk(REDIS_REPLY_INTEGER);

	r->integer = v;
	return r;
}

static redisReply *mk_str(const char *s)
{
	redisReply *r = mk(REDIS_REPLY_STRING);

	r->str = strdup(s);
	r->len = strlen(s);
	return r;
}

static redisReply *mk_arr(size_t n, ...)
{
	redisReply *r = mk(REDIS_REPLY_ARRAY);
	va_list ap;

	r->elements = n;
	r->element = calloc(n, sizeof(*r->element));
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		r->element[i] = va_arg(ap, redisReply *);
	va_end(ap);
	return r;
}

TEST(cluster_slots_parse)
{
	char out[512] = "";
	redisReply *r = mk_arr(2,
		mk_arr(3, mk_int(0), mk_int(5460), mk_arr(3, mk_str("10.0.0.1"), mk_int(7000),
							  mk_str("id1"))),
		mk_arr(4, mk_int(5461), mk_int(16383), mk_arr(2, mk_str(""), mk_int(7001)),
		       mk_arr(2, mk_str("10.0.0.3"), mk_int(7002))));
	redisReply *bad = mk_arr(1, mk_arr(3, mk_int(9), mk_int(3), mk_arr(2, mk_str("h"),
									mk_int(1))));

	CHECK_EQ(resp_slots_parse(r, "seed", collect, out), 2);
	CHECK(!strcmp(out, "0-5460@10.0.0.1:7000;5461-16383@seed:7001;"));
	CHECK_EQ(resp_slots_parse(bad, "seed", collect, out), -EPROTO);
	freeReplyObject(bad);
	bad = mk_int(1);
	CHECK_EQ(resp_slots_parse(bad, "seed", collect, out), -EPROTO);
	freeReplyObject(r);
	freeReplyObject(bad);
}

TEST(redirect_parse)
{
	struct resp_redirect rd;

	CHECK(resp_redirect_parse("MOVED 3999 127.0.0.1:6381", 25, &rd));
	CHECK(!rd.ask && rd.slot == 3999 && rd.port == 6381 && !strcmp(rd.host, "127.0.0.1"));
	CHECK(resp_redirect_parse("ASK 12 ::1:7000", 15, &rd));
	CHECK(rd.ask && rd.slot == 12 && rd.port == 7000 && !strcmp(rd.host, "::1"));
	CHECK(resp_redirect_parse("MOVED 1 :7001", 13, &rd));
	CHECK(rd.host[0] == 0 && rd.port == 7001);
	CHECK(!resp_redirect_parse("MOVED 99999 h:1", 15, &rd));
	CHECK(!resp_redirect_parse("ERR wrong", 9, &rd));
	CHECK(!resp_redirect_parse("ASK 1 h", 7, &rd));
}

TEST(value_checks)
{
	struct kvt_key k = { 1, 2 }, other = { 3, 4 };
	const char *kv[] = { "url", "redis://h", NULL };
	size_t len = 10000;
	uint8_t *v = malloc(FSCHUNK_HDR + len);
	struct fschunk_info info;
	struct resp_conf c;
	char name[RESP_KEY_MAX], err[128];

	CHECK_EQ(conf_try(kv, &c, err, sizeof(err)), 0);
	CHECK_EQ(resp_key_name(&c, &k, name), 36);
	CHECK(!strcmp(name, "kvt:00000000000000010000000000000002"));
	for (size_t i = 0; i < len; i++)
		v[FSCHUNK_HDR + i] = (uint8_t)(i * 7);
	resp_value_header(v, &k, v + FSCHUNK_HDR, len);
	CHECK_EQ(resp_value_check(v, FSCHUNK_HDR + len, &k, len, &info), 0);
	CHECK_EQ(info.len, len);
	CHECK_EQ(resp_value_check(v, FSCHUNK_HDR + len, &k, len - 1, &info), -EMSGSIZE);
	CHECK_EQ(resp_value_check(v, FSCHUNK_HDR + len, &other, len, &info), -EBADMSG);
	CHECK_EQ(resp_value_check(v, FSCHUNK_HDR + len - 1, &k, len, &info), -EBADMSG);
	CHECK_EQ(resp_value_check(v, 100, &k, len, &info), -EBADMSG);
	v[FSCHUNK_HDR + 77] ^= 1;
	CHECK_EQ(resp_value_check(v, FSCHUNK_HDR + len, &k, len, &info), -EBADMSG);
	free(v);
}

TEST(ops_table)
{
	CHECK(!strcmp(resp_l2_ops.type, "resp"));
	CHECK_EQ(resp_l2_ops.abi_version, KVT_L2_ABI_VERSION);
	CHECK(resp_l2_ops.create && resp_l2_ops.destroy && resp_l2_ops.status);
	CHECK_HAS(resp_l2_ops.help, "hash_tag");
}
