/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/pool_srv.c - the servers a `kvtier-bench pool` run
 * starts: kvtier-poold (a /dev/shm pool, sockets in a fresh /tmp directory)
 * and, with --peer-maru, Maru's own server; their CPU time, their logs on
 * failure, and their stop.
 */
#define _GNU_SOURCE
#include "tools/kvtier-bench/pool_bench.h"

/* ---- the servers this run starts ---------------------------------------- */

struct srv srv_poold = { .name = "kvtier-poold" };
struct srv srv_maru = { .name = "maru-server" };
static char srv_dir[64], srv_sock[96], srv_rpc[96];

static int srv_reap(struct srv *s, int ms)
{
	int st;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return st;
		}
		usleep(10000);
	}
	return -1;
}

void srv_print_log(const struct srv *s)
{
	char line[512];
	FILE *f = fopen(s->log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s: %s", s->name, line);
	fclose(f);
}

static void srv_kill(struct srv *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	if (srv_reap(s, 10000) == -1) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

/* atexit: a run that failed half-way still stops the servers with SIGTERM,
 * so kvtier-poold removes its /dev/shm pool file, and removes the temp folder. */
static void srv_cleanup(void)
{
	srv_kill(&srv_poold);
	srv_kill(&srv_maru);
	if (srv_dir[0]) {
		unlink(srv_poold.log);
		unlink(srv_maru.log);
		unlink(srv_sock);
		unlink(srv_rpc);
		rmdir(srv_dir);
		srv_dir[0] = 0;
	}
}

/* The temp folder both servers' logs and sockets go in, made once. */
static int srv_folder(void)
{
	if (srv_dir[0])
		return 0;
	snprintf(srv_dir, sizeof(srv_dir), "/tmp/kvt-bench-pool-XXXXXX");
	if (!mkdtemp(srv_dir)) {
		srv_dir[0] = 0;
		fprintf(stderr, "kvtier-bench: pool: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(srv_poold.log, sizeof(srv_poold.log), "%s/poold.log", srv_dir);
	snprintf(srv_maru.log, sizeof(srv_maru.log), "%s/maru.log", srv_dir);
	snprintf(srv_sock, sizeof(srv_sock), "%s/rm.sock", srv_dir);
	snprintf(srv_rpc, sizeof(srv_rpc), "%s/rpc.sock", srv_dir);
	atexit(srv_cleanup);
	return 0;
}

/* Forks @argv with stdout and stderr in @s's log.  Return: 0, or -1 after
 * printing why. */
static int srv_spawn(struct srv *s, char *const argv[])
{
	int fd;

	fflush(NULL);
	s->pid = fork();
	if (s->pid < 0) {
		s->pid = 0;
		fprintf(stderr, "kvtier-bench: pool: fork: %s\n", strerror(errno));
		return -1;
	}
	if (s->pid == 0) {
		/* SIGTERM, not SIGKILL, if the bench dies: kvtier-poold then
		 * removes its pool file */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		/* stdout too: a --json reader must see only the bench's lines */
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return 0;
}

/* This binary's folder into @dir.  Return: 0 or -1. */
static int self_dir(char *dir, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -1;
	self[n] = 0;
	snprintf(dir, len, "%s", dirname(self));
	return 0;
}

/* Starts kvtier-poold from this binary's folder, its RPC on loopback TCP or
 * (@ipc) an ipc:// socket in the temp folder.  Return: 0 with @addr set, or
 * -1 after printing why. */
int srv_start(char *addr, size_t addrlen, char *exe, size_t exelen, bool ipc)
{
	char dir[PATH_MAX];
	int port = loopback_free_port();

	if (self_dir(dir, sizeof(dir)) || port < 0) {
		fprintf(stderr, "kvtier-bench: pool: cannot find my binary or a free port\n");
		return -1;
	}
	snprintf(exe, exelen, "%s/kvtier-poold", dir);
	if (access(exe, X_OK)) {
		fprintf(stderr, "kvtier-bench: pool: %s: %s (build it, or give --server)\n", exe,
			strerror(errno));
		return -1;
	}
	if (srv_folder())
		return -1;
	if (ipc)
		snprintf(addr, addrlen, "ipc://%s", srv_rpc);
	else
		snprintf(addr, addrlen, "tcp://127.0.0.1:%d", port);
	return srv_spawn(&srv_poold, (char *const[]){ exe, "--rpc", addr, "--rm-socket", srv_sock,
						     "--shm-pool", SHM_POOL, NULL });
}

const char *srv_rm_socket(void)
{
	return srv_sock;
}

/*
 * Starts Maru's own server (tools/maru-peer/maru_peer.py server, found from
 * this binary's folder build/VARIANT/ in the source tree) from the Maru
 * checkout @maru_dir under Debian's python3.  Return: 0 with @addr set, or
 * -1 after printing why.
 */
int srv_start_maru(const char *maru_dir, char *addr, size_t addrlen)
{
	char dir[PATH_MAX], script[PATH_MAX + 64], check[PATH_MAX + 32], port_s[16];
	int port = loopback_free_port();

	if (self_dir(dir, sizeof(dir)) || port < 0) {
		fprintf(stderr, "kvtier-bench: pool: cannot find my binary or a free port\n");
		return -1;
	}
	snprintf(script, sizeof(script), "%s/../../tools/maru-peer/maru_peer.py", dir);
	snprintf(check, sizeof(check), "%s/maru_server", maru_dir);
	if (access(script, R_OK) || access(PEER_PYTHON, X_OK)) {
		fprintf(stderr, "kvtier-bench: pool: --peer-maru needs %s and %s: %s\n", script,
			PEER_PYTHON, strerror(errno));
		return -1;
	}
	if (access(check, R_OK)) {
		fprintf(stderr, "kvtier-bench: pool: --peer-maru %s: not a Maru checkout (no "
			"maru_server/)\n", maru_dir);
		return -1;
	}
	if (srv_folder() || setenv("PYTHONPATH", maru_dir, 1))
		return -1;
	snprintf(port_s, sizeof(port_s), "%d", port);
	snprintf(addr, addrlen, "tcp://127.0.0.1:%d", port);
	return srv_spawn(&srv_maru, (char *const[]){ PEER_PYTHON, script, "server", (char *)maru_dir,
						    "--port", port_s, NULL });
}

/* Stops Maru's server (SIGTERM: it stops its RPC loop). */
void srv_stop_maru(void)
{
	srv_kill(&srv_maru);
}

/* Stops the daemon.  Return: 0 when it exited 0 within 20 s. */
int srv_stop(void)
{
	int st;

	kill(srv_poold.pid, SIGTERM);
	st = srv_reap(&srv_poold, 20000);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "kvtier-bench: pool: kvtier-poold did not stop cleanly (%s %d)\n",
			st == -1 ? "still running" : WIFEXITED(st) ? "exit" : "signal",
			st == -1 ? 0 : WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		srv_print_log(&srv_poold);
		return -1;
	}
	return 0;
}

/*
 * CPU time of every thread of server @s, in ns (the first field of each
 * /proc/PID/task/TID/schedstat); 0 when it is not running.
 * Per request it is what the server costs, which the other processes on a
 * 2-core machine move far less than they move throughput.
 */
uint64_t srv_cpu_ns(const struct srv *s)
{
	char path[64], line[128];
	struct dirent *d;
	uint64_t sum = 0;
	DIR *dir;

	if (s->pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", (int)s->pid,
			 d->d_name);
		f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f))
			sum += strtoull(line, NULL, 10);
		if (f)
			fclose(f);
	}
	closedir(dir);
	return sum;
}
