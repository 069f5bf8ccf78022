/* SPDX-License-Identifier: Apache-2.0 */
/* core/metrics_http.c - see metrics_http.h. */
#define _GNU_SOURCE
#include "core/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

#define METRICS_MAX_CONNECTIONS 16
#define METRICS_IDLE_TIMEOUT_S 10

struct metrics_http {
	struct MHD_Daemon *d;
	int fd;
	int port;
	metrics_render_fn fn;
	void *arg;
};

static int addr_err(char *err, size_t errlen, const char *addr, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s (want HOST:PORT, e.g. 127.0.0.1:9464)", why);
	return -EINVAL;
}

int metrics_addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len,
		       char *err, size_t errlen)
{
	struct sockaddr_storage tmp;
	char host[64];
	const char *colon, *hs = addr;
	size_t hl;
	char *end;
	unsigned long port;

	if (!ss)
		ss = &tmp;
	memset(ss, 0, sizeof(*ss));
	colon = strrchr(addr, ':');
	if (!colon)
		return addr_err(err, errlen, addr, "no ':PORT'");
	hl = (size_t)(colon - addr);
	if (addr[0] == '[') {
		if (hl < 2 || addr[hl - 1] != ']')
			return addr_err(err, errlen, addr, "an IPv6 host needs [brackets]");
		hs++;
		hl -= 2;
	}
	if (!hl || hl >= sizeof(host))
		return addr_err(err, errlen, addr, hl ? "host too long" : "no host");
	memcpy(host, hs, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535 || colon[1] == '-' || colon[1] == '+')
		return addr_err(err, errlen, addr, "the port is not a number 0..65535");
	if (addr[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return addr_err(err, errlen, addr, "not an IPv6 address");
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (len)
			*len = sizeof(*s6);
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	if (strcmp(host, "localhost") == 0)
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (strcmp(host, "*") == 0)
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return addr_err(err, errlen, addr,
				"the host is not an IPv4 address, [IPv6], localhost or *");
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	if (len)
		*len = sizeof(*s4);
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, char *body,
			     size_t len, bool owned)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = owned ? MHD_create_response_from_buffer_with_free_callback(len, body, mem_free) :
		    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			mem_free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == MHD_HTTP_OK && owned ?
					"text/plain; version=0.0.4; charset=utf-8" :
					"text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	static char not_found[] = "not found: kvtier serves /metrics\n";
	static char not_allowed[] = "method not allowed: GET /metrics\n";
	struct metrics_http *m = cls;
	struct prom_text t = { 0 };

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
			     sizeof(not_allowed) - 1, false);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1, false);
	m->fn(m->arg, &t);
	if (t.err) {
		static char failed[] = "could not render the metrics: out of memory\n";

		mem_free(t.buf);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, failed, sizeof(failed) - 1,
			     false);
	}
	return reply(c, MHD_HTTP_OK, t.buf, t.len, true);
}

int metrics_http_start(const char *addr, metrics_render_fn fn, void *arg,
		       struct metrics_http **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct metrics_http *m;
	char why[160];
	int one = 1, ret;

	ret = metrics_addr_parse(addr, &ss, &sl, why, sizeof(why));
	if (ret) {
		if (err && errlen)
			snprintf(err, errlen, "metrics address '%s': %s", addr, why);
		return ret;
	}
	m = mem_zalloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->arg = arg;
	m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->fd < 0) {
		ret = -errno;
		goto fail;
	}
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->fd, (struct sockaddr *)&ss, sl) || listen(m->fd, 64) ||
	    getsockname(m->fd, (struct sockaddr *)&ss, &sl)) {
		ret = -errno;
		goto fail;
	}
	m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						   ((struct sockaddr_in *)&ss)->sin_port);
	/* ITC: MHD_quiesce_daemon() at stop hands the socket back to us */
	m->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC |
					(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, on_request, m,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)m->fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_IDLE_TIMEOUT_S,
				MHD_OPTION_END);
	if (!m->d) {
		ret = -EIO;
		goto fail;
	}
	log_info("metrics: serving http://%s/metrics (port %d)", addr, m->port);
	*out = m;
	return 0;

fail:
	if (err && errlen)
		snprintf(err, errlen, "metrics endpoint on '%s': %s", addr,
			 ret == -EIO ? "libmicrohttpd could not start" : strerror(-ret));
	if (m->fd >= 0)
		close(m->fd);
	mem_free(m);
	return ret;
}

int metrics_http_port(const struct metrics_http *m)
{
	return m->port;
}

void metrics_http_stop(struct metrics_http *m)
{
	if (!m)
		return;
	MHD_socket fd = MHD_quiesce_daemon(m->d);

	/* joins the polling thread; a quiesced daemon leaves its listening
	 * socket to us, closed only once that thread is gone */
	MHD_stop_daemon(m->d);
	if (fd != MHD_INVALID_SOCKET && close(fd))
		log_error("metrics: closing the listening socket: %s", strerror(errno));
	mem_free(m);
}
