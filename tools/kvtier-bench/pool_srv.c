/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/pool_srv.c - the kvtier-poold a `kvtier-bench pool` run
 * starts (a /dev/shm pool, sockets in a fresh /tmp directory), its CPU time,
 * its log on failure, and its stop.
 */
#define _GNU_SOURCE
#include "tools/kvtier-bench/pool_bench.h"

/* ---- the daemon this run starts ---------------------------------------- */

pid_t srv_pid;
static char srv_dir[64], srv_log[96], srv_sock[96];

static int srv_reap(int ms)
{
	int st;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(srv_pid, &st, WNOHANG) == srv_pid) {
			srv_pid = 0;
			return st;
		}
		usleep(10000);
	}
	return -1;
}

void srv_print_log(void)
{
	char line[512];
	FILE *f = fopen(srv_log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  kvtier-poold: %s", line);
	fclose(f);
}

/* atexit: a run that failed half-way still stops the daemon with SIGTERM,
 * so it removes its /dev/shm pool file, and removes the temp folder. */
static void srv_cleanup(void)
{
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		if (srv_reap(10000) == -1) {
			kill(srv_pid, SIGKILL);
			waitpid(srv_pid, NULL, 0);
			srv_pid = 0;
		}
	}
	if (srv_dir[0]) {
		unlink(srv_log);
		unlink(srv_sock);
		rmdir(srv_dir);
		srv_dir[0] = 0;
	}
}

/* Starts kvtier-poold from this binary's folder.  Return: 0 with @addr set,
 * or -1 after printing why. */
int srv_start(char *addr, size_t addrlen, char *exe, size_t exelen)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int port = loopback_free_port(), fd;

	if (n <= 0 || port < 0) {
		fprintf(stderr, "kvtier-bench: pool: cannot find my binary or a free port\n");
		return -1;
	}
	self[n] = 0;
	snprintf(exe, exelen, "%s/kvtier-poold", dirname(self));
	if (access(exe, X_OK)) {
		fprintf(stderr, "kvtier-bench: pool: %s: %s (build it, or give --server)\n", exe,
			strerror(errno));
		return -1;
	}
	snprintf(srv_dir, sizeof(srv_dir), "/tmp/kvt-bench-pool-XXXXXX");
	if (!mkdtemp(srv_dir)) {
		srv_dir[0] = 0;
		fprintf(stderr, "kvtier-bench: pool: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(srv_log, sizeof(srv_log), "%s/poold.log", srv_dir);
	snprintf(srv_sock, sizeof(srv_sock), "%s/rm.sock", srv_dir);
	snprintf(addr, addrlen, "tcp://127.0.0.1:%d", port);
	atexit(srv_cleanup);
	fflush(NULL);
	srv_pid = fork();
	if (srv_pid < 0) {
		fprintf(stderr, "kvtier-bench: pool: fork: %s\n", strerror(errno));
		return -1;
	}
	if (srv_pid == 0) {
		/* SIGTERM, not SIGKILL, if the bench dies: the daemon then
		 * removes its pool file */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		fd = open(srv_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		/* stdout too: a --json reader must see only the bench's lines */
		if (fd >= 0 && (dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0))
			_exit(127);
		execl(exe, exe, "--rpc", addr, "--rm-socket", srv_sock, "--shm-pool", SHM_POOL,
		      (char *)NULL);
		_exit(127);
	}
	return 0;
}

/* Stops the daemon.  Return: 0 when it exited 0 within 20 s. */
int srv_stop(void)
{
	int st;

	kill(srv_pid, SIGTERM);
	st = srv_reap(20000);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "kvtier-bench: pool: kvtier-poold did not stop cleanly (%s %d)\n",
			st == -1 ? "still running" : WIFEXITED(st) ? "exit" : "signal",
			st == -1 ? 0 : WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		srv_print_log();
		return -1;
	}
	return 0;
}

/*
 * CPU time of every thread of the daemon this run started, in ns (the
 * first field of each /proc/PID/task/TID/schedstat); 0 when there is none.
 * Per request it is what the server costs, which the other processes on a
 * 2-core machine move far less than they move throughput.
 */
uint64_t srv_cpu_ns(void)
{
	char path[64], line[128];
	struct dirent *d;
	uint64_t sum = 0;
	DIR *dir;

	if (srv_pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)srv_pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", (int)srv_pid,
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
