/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: the resp adapter's send queue (l2/resp/resp_sendq.c), alone
 * on a socketpair: text and zero-copy segments arrive byte-exact and in
 * order, adjacent text merges into one segment, text that outgrows its
 * buffer (segments keep offsets, not pointers) stays right, more segments
 * than one sendmsg() takes and short writes resume where they stopped, a
 * full socket with a send timeout is -ETIMEDOUT, and reset empties it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "l2/resp/resp_sendq.h"
#include "tests/common/harness.h"

struct drain {
	int fd;
	uint8_t *buf;
	size_t cap, len;
};

/* reads until EOF, like the server's side of the connection */
static void *drain_thread(void *arg)
{
	struct drain *d = arg;

	for (;;) {
		ssize_t n = read(d->fd, d->buf + d->len, d->cap - d->len);

		if (n <= 0)
			break;
		d->len += (size_t)n;
	}
	return NULL;
}

/* flush @q through a socketpair with a small send buffer (so writes are
 * short) and return what the other end read */
static size_t flush_and_read(struct resp_sendq *q, uint8_t *out, size_t cap)
{
	struct drain d = { .buf = out, .cap = cap };
	pthread_t t;
	int sv[2], small = 4096;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	d.fd = sv[1];
	CHECK_EQ(pthread_create(&t, NULL, drain_thread, &d), 0);
	CHECK_EQ(resp_sendq_flush(q, sv[0]), 0);
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	return d.len;
}

TEST(a_set_command_arrives_byte_exact)
{
	static const char hdr[] = "HDR!";
	static const char payload[] = "the chunk's bytes";
	static const char want[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$21\r\nHDR!the chunk's bytes\r\n";
	struct resp_sendq q = { 0 };
	uint8_t out[256];

	CHECK_EQ(resp_sendq_text(&q, "*3\r\n$3\r\nSET\r\n$%u\r\n%s\r\n$%zu\r\n", 3u, "key",
				 strlen(hdr) + strlen(payload)), 0);
	CHECK_EQ(resp_sendq_ptr(&q, hdr, strlen(hdr)), 0);
	CHECK_EQ(resp_sendq_ptr(&q, payload, strlen(payload)), 0);
	CHECK_EQ(resp_sendq_ptr(&q, payload, 0), 0); /* an empty segment is nothing */
	CHECK_EQ(resp_sendq_text(&q, "\r\n"), 0);
	CHECK_EQ(q.nseg, 4);
	CHECK_EQ(q.bytes, strlen(want));
	CHECK_EQ(flush_and_read(&q, out, sizeof(out)), strlen(want));
	CHECK(memcmp(out, want, strlen(want)) == 0);
	resp_sendq_reset(&q);
	CHECK_EQ(q.nseg, 0);
	CHECK_EQ(q.bytes, 0);
	resp_sendq_free(&q);
}

TEST(adjacent_text_is_one_segment)
{
	struct resp_sendq q = { 0 };

	CHECK_EQ(resp_sendq_text(&q, "*1\r\n$6\r\nASKING\r\n"), 0);
	CHECK_EQ(resp_sendq_text(&q, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), 0);
	CHECK_EQ(q.nseg, 1);
	CHECK_EQ(q.seg[0].len, q.tlen);
	resp_sendq_free(&q);
}

/* 3000 commands, each text + a pointer into one 1 MiB buffer + text: many
 * more segments than one sendmsg() takes, text far past its first buffer,
 * and short writes on a 4 KiB socket buffer */
TEST(thousands_of_segments_and_a_growing_text_arrive_in_order)
{
	enum { CMDS = 3000, PAYLOAD = 1 << 20 };
	struct resp_sendq q = { 0 };
	uint8_t *payload = malloc(PAYLOAD), *want, *out;
	size_t wlen = 0, cap = 16u << 20;

	CHECK(payload != NULL);
	want = malloc(cap);
	out = malloc(cap);
	CHECK(want && out);
	for (size_t i = 0; i < PAYLOAD; i++)
		payload[i] = (uint8_t)(i * 131 + 7);
	for (size_t c = 0; c < CMDS; c++) {
		size_t off = (c * 7919) % (PAYLOAD - 300), len = 1 + c % 300;
		char text[128];
		int n = snprintf(text, sizeof(text), "*2\r\n$3\r\nGET\r\n$%zu\r\nkey-%05zu-%s\r\n", len,
				 c, "padding-to-grow-the-text-buffer-past-64KiB");

		CHECK_EQ(resp_sendq_text(&q, "%s", text), 0);
		memcpy(want + wlen, text, (size_t)n);
		wlen += (size_t)n;
		CHECK_EQ(resp_sendq_ptr(&q, payload + off, len), 0);
		memcpy(want + wlen, payload + off, len);
		wlen += len;
	}
	CHECK(q.tcap > 65536);
	CHECK(q.nseg > 4 * RESP_SENDQ_IOV);
	CHECK_EQ(q.bytes, wlen);
	CHECK_EQ(flush_and_read(&q, out, cap), wlen);
	CHECK(memcmp(out, want, wlen) == 0);
	resp_sendq_free(&q);
	free(payload);
	free(want);
	free(out);
}

TEST(a_full_socket_times_out)
{
	struct resp_sendq q = { 0 };
	struct timeval tv = { .tv_usec = 50000 };
	static uint8_t big[4 << 20];
	int sv[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	CHECK_EQ(resp_sendq_ptr(&q, big, sizeof(big)), 0);
	CHECK_EQ(resp_sendq_flush(&q, sv[0]), -ETIMEDOUT); /* nobody reads */
	close(sv[1]);
	CHECK_EQ(resp_sendq_flush(&q, sv[0]), -EPIPE); /* and nobody will */
	close(sv[0]);
	resp_sendq_free(&q);
}
