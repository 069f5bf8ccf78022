/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the resp I/O actor's reply reader (l2/resp/rio_reader.c),
 * alone on a socketpair: replies of a fresh node (no read buffer yet) and
 * of one split into single-byte reads parse the same, a bulk body is
 * skipped exactly, and garbage is -EPROTO.  tests/fuzz/fuzz_resp_reader.c
 * feeds it arbitrary bytes.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "l2/resp/rio_internal.h"
#include "tests/common/harness.h"

/* A node whose connection has @text waiting and then ends. */
static void node_with(struct rio_node *nd, redisContext *ctx, int sv[2], const char *text)
{
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(write(sv[1], text, strlen(text)), (ssize_t)strlen(text));
	CHECK_EQ(shutdown(sv[1], SHUT_WR), 0);
	memset(ctx, 0, sizeof(*ctx));
	ctx->fd = sv[0];
	memset(nd, 0, sizeof(*nd));
	nd->c = ctx;
	nd->rd_cap = RD_BUF;
}

static void node_done(struct rio_node *nd, int sv[2])
{
	mem_free(nd->rbuf);
	close(sv[0]);
	close(sv[1]);
}

/* Found by fuzz_resp_reader: the first reply of a fresh node computed
 * NULL + 0 (undefined) before its buffer was allocated. */
TEST(first_reply_of_a_fresh_node)
{
	const char *text = "+OK\r\n:42\r\n$3\r\nabc\r\n$-1\r\n-MOVED 1 h:1\r\n";
	struct rio_node nd;
	struct rd_reply rr;
	redisContext ctx;
	int sv[2];

	for (size_t cap = 1; cap <= RD_BUF; cap = cap == 1 ? 64 : RD_BUF * 2) {
		node_with(&nd, &ctx, sv, text);
		nd.rd_cap = cap;
		CHECK(nd.rbuf == NULL);
		CHECK_EQ(rio_rd_head(&nd, &rr), 0);
		CHECK_EQ(rr.type, '+');
		CHECK(!strcmp(rr.str, "OK"));
		CHECK_EQ(rio_rd_head(&nd, &rr), 0);
		CHECK_EQ(rr.type, ':');
		CHECK_EQ(rr.integer, 42);
		CHECK_EQ(rio_rd_head(&nd, &rr), 0);
		CHECK_EQ(rr.type, '$');
		CHECK_EQ(rr.integer, 3);
		CHECK_EQ(rio_rd_bytes(&nd, NULL, 3 + 2), 0);
		CHECK_EQ(rio_rd_head(&nd, &rr), 0);
		CHECK_EQ(rr.integer, -1);
		CHECK_EQ(rio_rd_head(&nd, &rr), 0);
		CHECK_EQ(rr.type, '-');
		CHECK(!strcmp(rr.str, "MOVED 1 h:1"));
		CHECK_EQ(rio_rd_head(&nd, &rr), -ECONNRESET);
		node_done(&nd, sv);
	}
}

TEST(garbage_is_eproto)
{
	static const char *const rows[] = { "*1\r\n", ":12x\r\n", "$-2\r\n", "+OK\n", "\r\n" };
	struct rio_node nd;
	struct rd_reply rr;
	redisContext ctx;
	int sv[2];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		node_with(&nd, &ctx, sv, rows[i]);
		CHECK_ROW(i, rio_rd_head(&nd, &rr) == -EPROTO);
		node_done(&nd, sv);
	}
}
