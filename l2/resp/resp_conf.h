/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/resp_conf.h - the configuration of the "resp" L2 adapter (Redis,
 * Valkey, Redis Cluster): its JSON members, parsed and checked in one place.
 *
 *   url             redis://[user[:password]@]host[:port][/db] (required);
 *                   rediss:// is refused: this build has no TLS
 *   cluster         true: Redis Cluster (slot map, MOVED/ASK); db must be 0
 *   username        ACL user for AUTH (default: the URL's, else none)
 *   password        AUTH password (default: the URL's, else the environment
 *                   variable KVT_REDIS_PASSWORD, so secrets stay out of files)
 *   timeout_ms      connect and per-I/O timeout (default 2000, 10..600000)
 *   max_inflight    commands in flight on one connection: the pipeline
 *                   window (default 1024, 1..65536)
 *   ttl_s           expiry of stored chunks, SET ... EX (default 0: none)
 *   max_value_bytes largest value stored (header + payload; default
 *                   512 MiB, Redis's proto-max-bulk-len)
 *   prefix          start of every key name (default "kvt:")
 *   hash_tag        "" (default): keys spread over the cluster by their own
 *                   hash; "namespace": {<namespace seed>}, so one instance's
 *                   chunks share a slot; any other text: that fixed {tag}
 *   delete_corrupt  true (default): a value that fails its header or
 *                   checksum on load is deleted, so a later store rewrites it
 *
 * Threads: any; no state.
 */
#ifndef KVT_L2_RESP_RESP_CONF_H
#define KVT_L2_RESP_RESP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvtier/l2.h"

#define RESP_HOST_MAX 256
#define RESP_SECRET_MAX 256
#define RESP_PREFIX_MAX 128
#define RESP_TAG_MAX 64
/* keyhead + 32 hex digits, NUL included */
#define RESP_KEYHEAD_MAX (RESP_PREFIX_MAX + RESP_TAG_MAX + 2)
#define RESP_KEY_MAX (RESP_KEYHEAD_MAX + 33)
#define RESP_PASSWORD_ENV "KVT_REDIS_PASSWORD"

struct resp_conf {
	char host[RESP_HOST_MAX];
	int port;
	int db;
	char username[RESP_SECRET_MAX];
	char password[RESP_SECRET_MAX];
	bool cluster;
	bool delete_corrupt;
	uint32_t timeout_ms;
	uint32_t max_inflight;
	uint64_t ttl_s;
	uint64_t max_value_bytes;
	char url_redacted[RESP_HOST_MAX + 64];  /* for messages: no password */
	/* prefix, then "{tag}" when there is one: every key name starts so */
	char keyhead[RESP_KEYHEAD_MAX];
	size_t keyhead_len;
};

/*
 * resp_url_parse() - split a redis:// URL into host, port (default 6379),
 * db (default 0), username and password (both "" when absent).
 * @err: receives `resp: url: "<url, password hidden>": why`.
 * Return: 0, or -EINVAL (malformed), -EPROTONOSUPPORT (rediss://, another
 * scheme).  On error @out is partly written.
 */
int resp_url_parse(const char *url, struct resp_conf *out, char *err, size_t errlen);

/*
 * resp_conf_parse() - every member of @cfg into @out (defaults for the
 * absent ones); reads the environment for the password.
 * @err: receives a message naming the key and the value (never a password).
 * Return: 0 or a negative errno (-EINVAL, -EPROTONOSUPPORT).
 */
int resp_conf_parse(const struct kvt_l2_config *cfg, struct resp_conf *out, char *err,
		    size_t errlen);

/*
 * resp_conf_check() - resp_conf_parse() into a scratch conf that is wiped
 * afterwards: the members checked, no server reached.
 * Return: as resp_conf_parse().
 */
int resp_conf_check(const struct kvt_l2_config *cfg, char *err, size_t errlen);

#endif /* KVT_L2_RESP_RESP_CONF_H */
