/* SPDX-License-Identifier: Apache-2.0 */
/* l2/resp/resp_slot.c - see resp_slot.h. */
#include "l2/resp/resp_slot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint16_t resp_crc16(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint16_t crc = 0;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned int resp_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);

	if (open) {
		size_t rest = len - (size_t)(open + 1 - key);
		const char *close = memchr(open + 1, '}', rest);

		if (close && close > open + 1)
			return resp_crc16(open + 1, (size_t)(close - open - 1)) & (RESP_SLOTS - 1);
	}
	return resp_crc16(key, len) & (RESP_SLOTS - 1);
}

int resp_slots_parse(const redisReply *r, const char *self_host, resp_slot_range_fn fn,
		     void *arg)
{
	int ranges = 0;

	if (!r || r->type != REDIS_REPLY_ARRAY)
		return -EPROTO;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i], *m;
		const char *host;
		int ret;

		if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3)
			return -EPROTO;
		m = e->element[2];
		if (e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER || m->type != REDIS_REPLY_ARRAY ||
		    m->elements < 2 || m->element[0]->type != REDIS_REPLY_STRING ||
		    m->element[1]->type != REDIS_REPLY_INTEGER)
			return -EPROTO;
		if (e->element[0]->integer < 0 || e->element[1]->integer >= RESP_SLOTS ||
		    e->element[0]->integer > e->element[1]->integer || m->element[1]->integer < 1 ||
		    m->element[1]->integer > 65535)
			return -EPROTO;
		host = m->element[0]->str;
		if (!host[0] || !strcmp(host, "?"))
			host = self_host;
		ret = fn(arg, (unsigned int)e->element[0]->integer,
			 (unsigned int)e->element[1]->integer, host, (int)m->element[1]->integer);
		if (ret)
			return ret;
		ranges++;
	}
	return ranges;
}

bool resp_redirect_parse(const char *err, size_t len, struct resp_redirect *out)
{
	char buf[320], *p, *end, *colon;
	unsigned long slot;
	long port;

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, err, len);
	buf[len] = 0;
	if (!strncmp(buf, "MOVED ", 6)) {
		out->ask = false;
		p = buf + 6;
	} else if (!strncmp(buf, "ASK ", 4)) {
		out->ask = true;
		p = buf + 4;
	} else {
		return false;
	}
	slot = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || slot >= RESP_SLOTS)
		return false;
	p = end + 1;
	colon = strrchr(p, ':');
	if (!colon || (size_t)(colon - p) >= sizeof(out->host))
		return false;
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || port < 1 || port > 65535)
		return false;
	*colon = 0;
	/* "[::1]" style is not what Redis sends, but accept it */
	if (p[0] == '[' && colon > p + 1 && colon[-1] == ']') {
		colon[-1] = 0;
		p++;
	}
	strcpy(out->host, strcmp(p, "?") ? p : "");
	out->slot = (unsigned int)slot;
	out->port = (int)port;
	return true;
}
