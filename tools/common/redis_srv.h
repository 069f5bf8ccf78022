/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/common/redis_srv.h - real redis-server processes for the resp adapter
 * tests, benchmarks and kvtier-stress --tier resp: each on a free loopback port with its own temp
 * directory, no persistence, waited for with PING polling.  Every server a
 * process starts is killed (SIGKILL, by PID) when that process exits, and
 * also when it dies of a signal (PR_SET_PDEATHSIG in the server), so a
 * failed or timed-out test case leaves nothing behind.
 */
#ifndef KVT_TOOLS_REDIS_SRV_H
#define KVT_TOOLS_REDIS_SRV_H

#include <stdbool.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

struct redis_srv {
	pid_t pid;           /* 0: not running */
	int port;
	char dir[256];
	char args[512];      /* extra arguments, kept for restarts */
};

/* True when redis-server is installed (else the tests SKIP). */
bool redis_available(void);

/*
 * redis_start() - start a server on a free port in a fresh directory under
 * @parent with extra command line @args (e.g. "--maxmemory 8mb"; may be
 * NULL) and wait until it answers PING (at most @wait_s seconds).
 * Return: 0, or -1 after printing why (the server is killed).
 */
int redis_start(struct redis_srv *s, const char *parent, const char *args, int wait_s);

/* redis_restart() - start @s again on its port and directory (after
 * redis_kill()).  Return: 0 or -1. */
int redis_restart(struct redis_srv *s, int wait_s);

/* redis_kill() - SIGKILL and reap; nothing if not running. */
void redis_kill(struct redis_srv *s);

/*
 * redis_kill_all() - SIGKILL and reap every server this process started.
 * Only system calls: async-signal-safe, so a tool's SIGINT/SIGTERM/SIGALRM
 * handler may call it (the atexit handler does the same at exit).
 */
void redis_kill_all(void);

/* redis_stop_signal() - send @sig (SIGSTOP, SIGCONT) to the server. */
void redis_signal(struct redis_srv *s, int sig);

/* redis_connect() - a hiredis context to @s (5 s timeouts), NULL on error. */
redisContext *redis_connect(const struct redis_srv *s);

/*
 * redis_cmd() - run one command (printf format of hiredis) on a fresh
 * connection to @s.  Return: the reply (freeReplyObject it), or NULL.
 */
redisReply *redis_cmd(const struct redis_srv *s, const char *fmt, ...);

/*
 * redis_cluster_create() - start @n cluster-enabled servers and join them
 * as @n masters with `redis-cli --cluster create ... --cluster-yes`, then
 * wait until every node reports cluster_state:ok and agrees on the slots.
 * Return: 0, or -1 after printing why.
 */
int redis_cluster_create(struct redis_srv *s, int n, const char *parent, int wait_s);

/* redis_node_id() - @s's cluster node id (40 hex) into @out.  Return: 0/-1. */
int redis_node_id(const struct redis_srv *s, char out[41]);

#endif /* KVT_TOOLS_REDIS_SRV_H */
