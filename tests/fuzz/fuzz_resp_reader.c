/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_resp_reader.c - libFuzzer target for the resp adapter's
 * incoming side: the reply reader of l2/resp/rio_reader.c (rio_rd_head,
 * rio_rd_bytes, rio_rd_value: a GET's value checked and read into the
 * caller's buffer), the MOVED/ASK parser, and the CLUSTER SLOTS parser of
 * l2/resp/resp_slot.c on what hiredis's reader makes of the same bytes.
 *
 * Input: 4 control bytes, then the bytes a node sends.
 *   [0] the command the window carried: SET, STRLEN, GET or DEL (mod 4)
 *   [1] bit 0: every key was sent after ASKING (an extra "+OK" first)
 *       bit 1: the node has no read buffer yet (the reader allocates it,
 *         as on a fresh connection); else one kept from input to input,
 *         which is much faster under ASan
 *   [2] how the reads are split: 0 as read_window() sets rd_cap, else
 *       each reply's rd_cap from a small generator seeded with it (reads
 *       of 1, 2, 3, 7, 64, RD_HEAD_READ or RD_BUF bytes)
 *   [3] GET buffer size: 0 -> 64 KiB (RD_DIRECT_MIN, the direct path),
 *       else the byte x 256
 * The node's bytes are written into one end of a socket pair whose other
 * end is the node's connection; the writer is shut down, so the reader
 * sees the end of the stream and never blocks.  Replies are handled as
 * on_reply() in rio_runs.c does, one key each, until an I/O error.
 * Keys are { i + 1, 0x4b5654 }: a seed's GET value carries a valid header
 * for key 0.
 *
 * Built by configure.py (build/fuzz/fuzz_resp_reader); seeds in
 * tests/fuzz/corpus/resp_reader.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include "l2/resp/rio_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_KEYS 64
#define MAX_STREAM (160u << 10)
#define KEY_HI 0x4b5654u

static struct respio rio;          /* rio_rd_value() uses its hdr only */

static int slot_range(void *arg, unsigned int start, unsigned int end, const char *host, int port)
{
	if (!host)
		abort();
	(*(unsigned *)arg)++;
	return 0;
}

/*
 * Whether some "*N\r\n" in @p declares more elements than @n bytes can
 * hold (each takes at least 3).  hiredis 0.14 (Debian 12's) callocs an
 * array's N pointers when it reads the header, before any element, with no
 * bound of its own: "*327009894" asked for 2.6 GB and failed the target on
 * libFuzzer's malloc limit, in hiredis, not in the parsers fed from it.
 */
static bool array_too_long(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t count = 0;
		size_t d = i + 1;

		if (p[i] != '*')
			continue;
		for (; d < n && p[d] >= '0' && p[d] <= '9' && count <= n; d++)
			count = count * 10 + (uint64_t)(p[d] - '0');
		if (count > n / 3)
			return true;
	}
	return false;
}

/* What hiredis's reader makes of the bytes, through the slot parsers. */
static void hiredis_side(const uint8_t *p, size_t n)
{
	redisReader *r;
	struct resp_redirect rd;
	void *reply;

	if (array_too_long(p, n))
		return;
	r = redisReaderCreate();
	if (!r)
		abort();
	if (redisReaderFeed(r, (const char *)p, n) != REDIS_OK)
		abort();
	for (int k = 0; k < MAX_KEYS; k++) {
		redisReply *rep;
		unsigned ranges = 0;

		if (redisReaderGetReply(r, &reply) != REDIS_OK || !reply)
			break;
		rep = reply;
		if (rep->type == REDIS_REPLY_ARRAY)
			(void)resp_slots_parse(rep, "self", slot_range, &ranges);
		else if (rep->type == REDIS_REPLY_ERROR)
			(void)resp_redirect_parse(rep->str, rep->len, &rd);
		freeReplyObject(reply);
	}
	redisReaderFree(r);
}

static size_t next_cap(uint32_t *state)
{
	static const size_t caps[] = { 1, 2, 3, 7, 64, RD_HEAD_READ, RD_BUF };

	*state = *state * 1103515245u + 12345u;
	return caps[(*state >> 16) % (sizeof(caps) / sizeof(caps[0]))];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[RD_DIRECT_MIN];
	static uint8_t *kept;   /* the reused read buffer, never freed */
	struct kvt_key keys[MAX_KEYS];
	void *bufs[MAX_KEYS];
	size_t lens[MAX_KEYS];
	struct l2_job job = { .keys = keys, .bufs = bufs, .lens = lens, .n = MAX_KEYS };
	struct rio_run run = { .job = &job };
	struct rio_node nd;
	redisContext ctx;
	enum rio_cmd cmd;
	uint32_t split;
	size_t glen, n, off = 0;
	uint8_t flags;
	bool ask;
	int sv[2];

	if (size < 4)
		return 0;
	cmd = (enum rio_cmd)(data[0] % 4);
	flags = data[1];
	ask = flags & 1;
	split = data[2];
	glen = data[3] ? (size_t)data[3] * 256 : RD_DIRECT_MIN;
	data += 4;
	size -= 4;
	n = size < MAX_STREAM ? size : MAX_STREAM;
	run.cmd = cmd;
	for (size_t i = 0; i < MAX_KEYS; i++) {
		keys[i].lo = i + 1;
		keys[i].hi = KEY_HI;
		bufs[i] = buf;
		lens[i] = glen;
	}

	hiredis_side(data, n);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	{
		int sb = (int)MAX_STREAM * 2;
		struct timeval tv = { .tv_sec = 2 };

		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
		setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sb, sizeof(sb));
		setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
	}
	while (off < n) {
		ssize_t w = write(sv[1], data + off, n - off);

		if (w <= 0)
			break;          /* the socket is full: the rest is cut */
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);

	memset(&ctx, 0, sizeof(ctx));
	ctx.fd = sv[0];
	memset(&nd, 0, sizeof(nd));
	nd.c = &ctx;
	if (!(flags & 2)) {
		if (!kept)
			kept = mem_alloc(RD_BUF);
		nd.rbuf = kept;
	}
	nd.port = 6379;
	strcpy(nd.host, "node");

	for (size_t i = 0; i < MAX_KEYS; i++) {
		struct rd_reply rr;
		struct resp_redirect rd;
		struct fschunk_info info;
		int ret, res;

		if (split)
			nd.rd_cap = next_cap(&split);
		else
			nd.rd_cap = cmd == CMD_GET && lens[i] >= RD_DIRECT_MIN ? RD_HEAD_READ : RD_BUF;
		if (ask && rio_rd_head(&nd, &rr))
			break;
		ret = rio_rd_head(&nd, &rr);
		if (ret)
			break;
		if (nd.rpos > nd.rlen || nd.rlen > RD_BUF)
			abort();
		if (rr.type == '-') {
			if (resp_redirect_parse(rr.str, rr.len, &rd) &&
			    (rd.slot >= RESP_SLOTS || rd.port < 1 || rd.port > 65535 ||
			     strnlen(rd.host, sizeof(rd.host)) == sizeof(rd.host)))
				abort();
			continue;
		}
		if (rr.type == '$' && rr.integer >= 0 && cmd != CMD_GET) {
			if (rio_rd_bytes(&nd, NULL, (size_t)rr.integer + 2))
				break;
			continue;
		}
		if (cmd != CMD_GET || rr.type != '$' || rr.integer < 0)
			continue;
		ret = rio_rd_value(&rio, &run, i, &nd, (size_t)rr.integer, &res, &info);
		if (ret)
			break;
		if (!res && (info.len > lens[i] || info.len + FSCHUNK_HDR != (uint64_t)rr.integer))
			abort();
	}
	if (nd.rbuf != kept)
		mem_free(nd.rbuf);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
