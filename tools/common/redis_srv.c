/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/redis_srv.c - see redis_srv.h.  The servers are children of the
 * calling process; their PIDs sit in a table that an atexit handler kills.
 */
#define _GNU_SOURCE
#include "tools/common/redis_srv.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 16

static pid_t live[MAX_SERVERS];
static pid_t owner;  /* the process whose atexit kills them */

void redis_kill_all(void)
{
	if (owner == 0 || getpid() != owner)
		return;
	for (int i = 0; i < MAX_SERVERS; i++)
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			live[i] = 0;
		}
}

static void track(pid_t pid)
{
	if (owner != getpid()) {
		memset(live, 0, sizeof(live));
		owner = getpid();
		atexit(redis_kill_all);
	}
	for (int i = 0; i < MAX_SERVERS; i++)
		if (live[i] == 0) {
			live[i] = pid;
			return;
		}
}

static void untrack(pid_t pid)
{
	for (int i = 0; i < MAX_SERVERS; i++)
		if (live[i] == pid)
			live[i] = 0;
}

bool redis_available(void)
{
	return system("command -v redis-server >/dev/null 2>&1") == 0;
}

static bool port_free(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	bool ok;

	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* A port free now whose cluster bus port (+10000) is free too. */
static int pick_port(void)
{
	static unsigned int seed;

	if (!seed)
		seed = (unsigned int)getpid() * 2654435761u ^ (unsigned int)time(NULL);
	for (int tries = 0; tries < 1000; tries++) {
		int port = 20000 + (int)(rand_r(&seed) % 30000);

		if (port_free(port) && port_free(port + 10000))
			return port;
	}
	return -1;
}

redisContext *redis_connect(const struct redis_srv *s)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);

	if (!c || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	return c;
}

redisReply *redis_cmd(const struct redis_srv *s, const char *fmt, ...)
{
	redisContext *c = redis_connect(s);
	redisReply *r;
	va_list ap;

	if (!c)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return r;
}

static bool answers(const struct redis_srv *s)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
	redisReply *r;
	bool ok;

	if (!c || c->err) {
		if (c)
			redisFree(c);
		return false;
	}
	redisSetTimeout(c, tv);
	r = redisCommand(c, "PING");
	/* NOAUTH counts: the server is up, it wants a password */
	ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ok;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Spawn @s on s->port; wait for PING.  Return: 0, 1 (exited: maybe the
 * port was taken) or -1. */
static int spawn(struct redis_srv *s, int wait_s)
{
	char cmd[1200];
	uint64_t deadline;
	pid_t pid;

	snprintf(cmd, sizeof(cmd),
		 "exec redis-server --port %d --bind 127.0.0.1 --dir '%s' --save '' "
		 "--appendonly no --protected-mode no --daemonize no --logfile redis.log %s",
		 s->port, s->dir, s->args);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		/* dies with the test process, even when it is killed */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	s->pid = pid;
	track(pid);
	deadline = now_ms() + (uint64_t)wait_s * 1000;
	while (now_ms() < deadline) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			untrack(pid);
			s->pid = 0;
			return 1;
		}
		if (answers(s))
			return 0;
		usleep(20000);
	}
	fprintf(stderr, "    redis-server on port %d: no PING answer in %d s\n", s->port, wait_s);
	redis_kill(s);
	return -1;
}

int redis_start(struct redis_srv *s, const char *parent, const char *args, int wait_s)
{
	static int seq;

	memset(s, 0, sizeof(*s));
	snprintf(s->args, sizeof(s->args), "%s", args ? args : "");
	for (int tries = 0; tries < 5; tries++) {
		int ret;

		snprintf(s->dir, sizeof(s->dir), "%s/redis-%d-%d", parent, getpid(), seq++);
		if (mkdir(s->dir, 0700) && errno != EEXIST) {
			fprintf(stderr, "    mkdir %s: %s\n", s->dir, strerror(errno));
			return -1;
		}
		s->port = pick_port();
		if (s->port < 0) {
			fprintf(stderr, "    no free port\n");
			return -1;
		}
		ret = spawn(s, wait_s);
		if (ret <= 0)
			return ret;
	}
	fprintf(stderr, "    redis-server keeps exiting at start; see %s/redis.log\n", s->dir);
	return -1;
}

int redis_restart(struct redis_srv *s, int wait_s)
{
	for (int tries = 0; tries < 50; tries++) {
		int ret = spawn(s, wait_s);

		if (ret <= 0)
			return ret;
		usleep(100000);   /* the old socket may linger a moment */
	}
	return -1;
}

void redis_kill(struct redis_srv *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	untrack(s->pid);
	s->pid = 0;
}

void redis_signal(struct redis_srv *s, int sig)
{
	if (s->pid > 0)
		kill(s->pid, sig);
}

int redis_node_id(const struct redis_srv *s, char out[41])
{
	redisReply *r = redis_cmd(s, "CLUSTER MYID");
	int ret = -1;

	if (r && r->type == REDIS_REPLY_STRING && r->len == 40) {
		memcpy(out, r->str, 41);
		ret = 0;
	}
	if (r)
		freeReplyObject(r);
	return ret;
}

static bool cluster_ok(const struct redis_srv *s, int n)
{
	redisReply *r = redis_cmd(s, "CLUSTER INFO");
	char want[64];
	bool ok;

	snprintf(want, sizeof(want), "cluster_known_nodes:%d", n);
	ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") &&
	     strstr(r->str, "cluster_slots_assigned:16384") && strstr(r->str, want);
	if (r)
		freeReplyObject(r);
	return ok;
}

int redis_cluster_create(struct redis_srv *s, int n, const char *parent, int wait_s)
{
	char cmd[1024];
	size_t off;
	uint64_t deadline;

	for (int i = 0; i < n; i++)
		if (redis_start(&s[i], parent, "--cluster-enabled yes --cluster-config-file "
					       "nodes.conf --cluster-node-timeout 5000 "
					       "--cluster-require-full-coverage no",
				wait_s))
			return -1;
	off = (size_t)snprintf(cmd, sizeof(cmd), "redis-cli --cluster create");
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, " 127.0.0.1:%d", s[i].port);
	snprintf(cmd + off, sizeof(cmd) - off, " --cluster-yes > '%s/create.log' 2>&1", s[0].dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "    %s failed; see %s/create.log\n", cmd, s[0].dir);
		return -1;
	}
	deadline = now_ms() + (uint64_t)wait_s * 1000;
	while (now_ms() < deadline) {
		int ok = 0;

		for (int i = 0; i < n; i++)
			ok += cluster_ok(&s[i], n);
		if (ok == n)
			return 0;
		usleep(100000);
	}
	fprintf(stderr, "    the cluster did not reach cluster_state:ok in %d s\n", wait_s);
	return -1;
}
