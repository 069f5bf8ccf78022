/* SPDX-License-Identifier: Apache-2.0 */
/* tools/common/http_get.c - see http_get.h. */
#define _GNU_SOURCE
#include "tools/common/http_get.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_MAX_REPLY (64u << 20)

static int fail(char *err, size_t errlen, int ret, const char *fmt, const char *a,
		const char *b)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, a, b);
	return ret;
}

/* Split @url into host, port and path. */
static int parse_url(const char *url, char *host, size_t hlen, char *port, size_t plen,
		     const char **path)
{
	const char *p = url, *slash;
	char hp[300], *h, *colon;
	size_t n;

	if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	else if (strstr(p, "://"))
		return -EINVAL;
	slash = strchr(p, '/');
	*path = slash && slash[1] ? slash : "/metrics";
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (n >= sizeof(hp))
		return -EINVAL;
	memcpy(hp, p, n);
	hp[n] = '\0';
	colon = strrchr(hp, ':');
	if (!colon || colon == hp || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	*colon = '\0';
	h = hp;
	if (h[0] == '[') {
		if (colon[-1] != ']')
			return -EINVAL;
		colon[-1] = '\0';
		h++;
	}
	if (!h[0] || strlen(h) >= hlen)
		return -EINVAL;
	for (const char *c = colon + 1; *c; c++)
		if (*c < '0' || *c > '9')
			return -EINVAL;
	memcpy(host, h, strlen(h) + 1);
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

static int connect_to(const char *host, const char *port, int timeout_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, ret = -EHOSTUNREACH;

	if (getaddrinfo(host, port, &hints, &res))
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(ret);
		int soerr = 0;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
			ret = -errno;
			close(fd);
			fd = -1;
			continue;
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&pfd, 1, timeout_ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
			ret = soerr ? -soerr : -ETIMEDOUT;
			close(fd);
			fd = -1;
			continue;
		}
		break;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : ret;
}

/* Send all of @buf, then read until the server closes (HTTP/1.0). */
static int exchange(int fd, const char *req, int timeout_ms, char **out, size_t *outlen)
{
	size_t len = strlen(req), off = 0, cap = 65536, n = 0;
	char *buf;

	while (off < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t w;

		if (poll(&pfd, 1, timeout_ms) != 1)
			return -ETIMEDOUT;
		w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		off += w > 0 ? (size_t)w : 0;
	}
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (n + 1 >= cap) {
			char *p = cap < HTTP_MAX_REPLY ? realloc(buf, cap * 2) : NULL;

			if (!p) {
				free(buf);
				return -EFBIG;
			}
			buf = p;
			cap *= 2;
		}
		if (poll(&pfd, 1, timeout_ms) != 1) {
			free(buf);
			return -ETIMEDOUT;
		}
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			int e = -errno;

			free(buf);
			return e;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

int http_get(const char *url, int timeout_ms, char **body, size_t *len, char *err,
	     size_t errlen)
{
	char host[256], port[16], req[1024], *reply = NULL, *hdr_end, *cl;
	const char *path;
	size_t n = 0, blen;
	int fd, ret, status;

	if (parse_url(url, host, sizeof(host), port, sizeof(port), &path))
		return fail(err, errlen, -EINVAL, "bad URL '%s'%s: want http://HOST:PORT[/PATH]",
			    url, "");
	fd = connect_to(host, port, timeout_ms);
	if (fd < 0)
		return fail(err, errlen, fd, "%s: cannot connect: %s", url, strerror(-fd));
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: text/plain\r\nUser-Agent: kvtier\r\n\r\n",
		 path, host, port);
	ret = exchange(fd, req, timeout_ms, &reply, &n);
	close(fd);
	if (ret)
		return fail(err, errlen, ret, "%s: %s", url, strerror(-ret));
	if (sscanf(reply, "HTTP/1.%*[01] %d", &status) != 1 ||
	    !(hdr_end = strstr(reply, "\r\n\r\n"))) {
		free(reply);
		return fail(err, errlen, -EPROTO, "%s: the reply is not HTTP%s", url, "");
	}
	if (status != 200) {
		char line[96];

		snprintf(line, sizeof(line), "%.*s", (int)strcspn(reply, "\r\n"), reply);
		free(reply);
		return fail(err, errlen, -EPROTO, "%s: the server answered '%s'", url, line);
	}
	*hdr_end = '\0';
	blen = n - (size_t)(hdr_end + 4 - reply);
	cl = strcasestr(reply, "\r\nContent-Length:");
	if (cl && strtoull(cl + 17, NULL, 10) != blen) {
		free(reply);
		return fail(err, errlen, -EPROTO, "%s: the body is shorter or longer than its "
			    "Content-Length%s", url, "");
	}
	memmove(reply, hdr_end + 4, blen + 1);
	*body = reply;
	*len = blen;
	return 0;
}
