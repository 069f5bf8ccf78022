/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l2/resp/resp_slot.h - Redis Cluster's key space: the CRC16 slot of a key
 * (with {hash tags}), the slot ranges of a CLUSTER SLOTS reply, and the
 * MOVED / ASK redirections a node answers with.
 *
 * Threads: any; no state.
 */
#ifndef KVT_L2_RESP_RESP_SLOT_H
#define KVT_L2_RESP_RESP_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define RESP_SLOTS 16384u

/* CRC16-CCITT (XMODEM: poly 0x1021, init 0), the one Redis Cluster uses. */
uint16_t resp_crc16(const void *buf, size_t len);

/*
 * resp_key_slot() - the slot of key @key: CRC16 of the text between the
 * first '{' and the first '}' after it when that is not empty, else of the
 * whole key, modulo 16384.
 */
unsigned int resp_key_slot(const char *key, size_t len);

/* One range of a CLUSTER SLOTS reply: slots [start, end] are served by the
 * master at host:port. */
typedef int (*resp_slot_range_fn)(void *arg, unsigned int start, unsigned int end,
				  const char *host, int port);

/*
 * resp_slots_parse() - call @fn for each range of a CLUSTER SLOTS reply.
 * @self_host: the host the reply came from, used where a node's address is
 *             empty or "?" (Redis 7 says so for an unknown endpoint).
 * Return: ranges seen, -EPROTO for a malformed reply, or @fn's nonzero code.
 */
int resp_slots_parse(const redisReply *r, const char *self_host, resp_slot_range_fn fn,
		     void *arg);

struct resp_redirect {
	bool ask;            /* ASK (one-shot, send ASKING first); else MOVED */
	unsigned int slot;
	char host[256];      /* "" means: the host of the node that answered */
	int port;
};

/*
 * resp_redirect_parse() - parse an error reply "MOVED <slot> <host>:<port>"
 * or "ASK <slot> <host>:<port>" (the host may be an IPv6 address, or empty).
 * Return: true with @out filled; false when @err is no redirection.
 */
bool resp_redirect_parse(const char *err, size_t len, struct resp_redirect *out);

#endif /* KVT_L2_RESP_RESP_SLOT_H */
