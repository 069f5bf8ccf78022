/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/harness.c - runs every registered case in a forked child with
 * a time limit (KVT_TEST_TIMEOUT seconds, default 300) and reports one line
 * per case.  A case name given on the command line runs that case alone, in
 * process, which is what a debugger wants.
 */
#define _GNU_SOURCE
#include "harness.h"

#include "core/tsan.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CASES 256

static struct harness_case cases[MAX_CASES];
static int ncases;
static char tmpdirs[8][200];
static int ntmpdirs;
/* threads the sanitizer runtime runs for itself, left out of every count */
static int runtime_threads;

void harness_register(const char *name, void (*fn)(void))
{
	if (ncases == MAX_CASES) {
		fprintf(stderr, "harness: more than %d cases\n", MAX_CASES);
		exit(2);
	}
	cases[ncases].name = name;
	cases[ncases].fn = fn;
	ncases++;
}

static bool in_child;

void harness_child_begin(void)
{
	in_child = true;
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (in_child) {
		fflush(NULL);
		_exit(1);
	}
	exit(1);
}

void harness_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    skip: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(SKIP_EXIT);
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int harness_count_fds(void)
{
	/* opendir's own fd is counted too; it is the same in every call */
	return count_dir("/proc/self/fd");
}

int harness_count_threads(void)
{
	return count_dir("/proc/self/task") - runtime_threads;
}

#ifdef KVT_TSAN
static void *no_op_thread(void *arg)
{
	return arg;
}
#endif

/*
 * TSan starts a background thread of its own at a process's first
 * pthread_create, which would appear in the middle of a case as a leaked
 * thread: start it before the case runs and count the runtime's threads
 * once.  (Not the symbolizer too: a case that forks would hand its children
 * a symbolizer whose pipes they share, and a report in a child then hangs.)
 */
static void settle_sanitizer_runtime(void)
{
#ifdef KVT_TSAN
	pthread_t t;

	if (pthread_create(&t, NULL, no_op_thread, NULL) == 0)
		pthread_join(t, NULL);
	runtime_threads = count_dir("/proc/self/task") - 1;
#endif
}

static void remove_tmpdirs(void)
{
	char cmd[256];

	for (int i = 0; i < ntmpdirs; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%.200s'", tmpdirs[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n", tmpdirs[i]);
	}
}

/* A fresh directory under @parent; NULL (errno set) if mkdtemp failed. */
static const char *tmpdir_under(const char *parent)
{
	char *dir;

	if (ntmpdirs == 8)
		harness_fail(__FILE__, __LINE__, "too many temp dirs");
	dir = tmpdirs[ntmpdirs];
	snprintf(dir, sizeof(tmpdirs[0]), "%s/kvt-test-XXXXXX", parent);
	if (!mkdtemp(dir))
		return NULL;
	if (ntmpdirs++ == 0)
		atexit(remove_tmpdirs);
	return dir;
}

const char *harness_tmpdir(int shm)
{
	const char *dir = tmpdir_under(shm ? "/dev/shm" : "/tmp");

	if (!dir)
		harness_fail(__FILE__, __LINE__, "mkdtemp under %s: %s", shm ? "/dev/shm" : "/tmp",
			     strerror(errno));
	return dir;
}

const char *harness_disk_tmpdir(void)
{
	const char *dir = tmpdir_under("/var/tmp");

	if (!dir)
		SKIP("mkdtemp under /var/tmp: %s", strerror(errno));
	return dir;
}

const char *harness_build_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);

	if (n <= 0)
		return NULL;
	dir[n] = '\0';
	/* the last /tests/: the checkout's own path may hold a tests folder */
	for (char *p = dir + n; (p = memrchr(dir, '/', (size_t)(p - dir)));) {
		if (!strncmp(p, "/tests/", 7)) {
			*p = '\0';
			return dir;
		}
	}
	return NULL;
}

static int run_case(const struct harness_case *c, int timeout_s)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		alarm(timeout_s);
		settle_sanitizer_runtime();
		c->fn();
		exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("PASS %s\n", c->name);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_EXIT) {
		printf("SKIP %s\n", c->name);
		return 0;
	}
	if (WIFSIGNALED(status))
		printf("FAIL %s: signal %d%s\n", c->name, WTERMSIG(status),
		       WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
	else
		printf("FAIL %s: exit %d\n", c->name, WEXITSTATUS(status));
	return 1;
}

int main(int argc, char **argv)
{
	const char *env = getenv("KVT_TEST_TIMEOUT");
	int timeout_s = env ? atoi(env) : 300;
	int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1) {
		for (int i = 0; i < ncases; i++)
			if (strcmp(cases[i].name, argv[1]) == 0) {
				settle_sanitizer_runtime();
				cases[i].fn();
				printf("PASS %s\n", cases[i].name);
				return 0;
			}
		fprintf(stderr, "no case %s\n", argv[1]);
		return 2;
	}
	for (int i = 0; i < ncases; i++)
		failed += run_case(&cases[i], timeout_s);
	return failed ? 1 : 0;
}
