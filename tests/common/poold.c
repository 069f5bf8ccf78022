/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/poold.c - see poold.h.  The daemons are children of the
 * calling process; their PIDs sit in a table that an atexit handler kills.
 */
#define _GNU_SOURCE
#include "tests/common/poold.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

#include "l2/fschunk.h"
#include "proto/maru/maru_mp.h"
#include "proto/maru/maru_rpc.h"
#include "tests/common/harness.h"
#include "tools/common/port.h"

#define MAX_DAEMONS 8

static pid_t live[MAX_DAEMONS];
static pid_t owner;

static void kill_all(void)
{
	if (getpid() != owner)
		return;
	for (int i = 0; i < MAX_DAEMONS; i++)
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
		atexit(kill_all);
	}
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (live[i] == 0) {
			live[i] = pid;
			return;
		}
}

static void untrack(pid_t pid)
{
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (live[i] == pid)
			live[i] = 0;
}

static const char *exe_override;

void poold_use(const char *exe)
{
	exe_override = exe;
}

const char *poold_path(void)
{
	static char path[PATH_MAX];
	const char *dir = harness_build_dir();
	ssize_t n;

	if (exe_override)
		return access(exe_override, X_OK) == 0 ? exe_override : NULL;
	if (!dir || strlen(dir) + 32 > sizeof(path))
		return NULL;
	strcpy(path, dir);
	/* TSan cannot see libzmq's own synchronization (it is not
	 * instrumented), so a TSan daemon reports races in libzmq; the TSan
	 * tests check the client against the ASan daemon, as
	 * tests/poold/run_pool_tests.py does */
	n = (ssize_t)strlen(path);
	if (n > 5 && !strcmp(path + n - 5, "/tsan")) {
		strcpy(path + n - 5, "/asan/kvtier-poold");
		if (access(path, X_OK) == 0)
			return path;
		path[n] = '\0';
		memcpy(path + n - 5, "/tsan", 5);
	}
	strcat(path, "/kvtier-poold");
	return access(path, X_OK) == 0 ? path : NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool log_has(const char *path, const char *what)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, what) != NULL;
}

int poold_start(struct poold *d, const char *pool_size, const char *args)
{
	static int seq;
	static const char *dir;
	const char *exe = poold_path();
	char *argv[32], extra[256];
	int argc = 0;
	uint64_t deadline;
	pid_t pid;

	memset(d, 0, sizeof(*d));
	if (!exe) {
		fprintf(stderr, "poold: kvtier-poold is not built\n");
		return -1;
	}
	d->port = loopback_free_port();
	snprintf(d->addr, sizeof(d->addr), "tcp://127.0.0.1:%d", d->port);
	/* one directory for all of a process's daemons: the harness has few */
	if (!dir)
		dir = harness_tmpdir(0);
	snprintf(d->rm, sizeof(d->rm), "%s/rm%d.sock", dir, seq);
	snprintf(d->log, sizeof(d->log), "%s/poold%d.log", dir, seq++);
	argv[argc++] = (char *)exe;
	argv[argc++] = "--rpc";
	argv[argc++] = d->addr;
	argv[argc++] = "--rm-socket";
	argv[argc++] = d->rm;
	argv[argc++] = "--shm-pool";
	argv[argc++] = (char *)pool_size;
	snprintf(extra, sizeof(extra), "%s", args ? args : "");
	for (char *save = NULL, *t = strtok_r(extra, " ", &save); t && argc < 30;
	     t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		setenv("KVT_LOG", "warn", 0);
		execv(exe, argv);
		_exit(127);
	}
	d->pid = pid;
	track(pid);
	deadline = now_ms() + 20000;
	while (now_ms() < deadline) {
		int st;

		if (log_has(d->log, "ready"))
			return 0;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			untrack(pid);
			d->pid = 0;
			fprintf(stderr, "poold: exited with status %d before ready\n", st);
			return -1;
		}
		usleep(10000);
	}
	fprintf(stderr, "poold: not ready in 20 s\n");
	poold_kill(d);
	return -1;
}

void poold_kill(struct poold *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	untrack(d->pid);
	d->pid = 0;
}

int poold_stop(struct poold *d)
{
	int st = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	waitpid(d->pid, &st, 0);
	untrack(d->pid);
	d->pid = 0;
	if (!WIFEXITED(st) || log_has(d->log, "Sanitizer") || log_has(d->log, "runtime error"))
		return -1;
	return WEXITSTATUS(st);
}

/* ---- the small client ------------------------------------------------- */

struct call {
	void *ctx, *s;
	zmq_msg_t msg;
	struct mp_cur c;
};

static int call_send(const struct poold *d, struct call *cl, uint8_t type, msgpack_sbuffer *sb)
{
	struct maru_hdr h = { .magic = MARU_MAGIC, .version = MARU_VERSION, .type = type, .seq = 1,
			      .len = (uint32_t)(sb->size - MARU_HDR_SIZE) };
	int t = 5000, zero = 0;

	maru_hdr_encode((uint8_t *)sb->data, &h);
	cl->ctx = zmq_ctx_new();
	cl->s = zmq_socket(cl->ctx, ZMQ_DEALER);
	zmq_setsockopt(cl->s, ZMQ_RCVTIMEO, &t, sizeof(t));
	zmq_setsockopt(cl->s, ZMQ_SNDTIMEO, &t, sizeof(t));
	zmq_setsockopt(cl->s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_msg_init(&cl->msg);
	if (zmq_connect(cl->s, d->addr) || zmq_send(cl->s, "", 0, ZMQ_SNDMORE) < 0 ||
	    zmq_send(cl->s, sb->data, sb->size, 0) < 0)
		return -1;
	do {
		zmq_msg_close(&cl->msg);
		zmq_msg_init(&cl->msg);
		if (zmq_msg_recv(&cl->msg, cl->s, 0) < 0)
			return -1;
	} while (zmq_msg_more(&cl->msg));
	if (zmq_msg_size(&cl->msg) < MARU_HDR_SIZE)
		return -1;
	mp_init(&cl->c, (uint8_t *)zmq_msg_data(&cl->msg) + MARU_HDR_SIZE,
		zmq_msg_size(&cl->msg) - MARU_HDR_SIZE);
	return 0;
}

static void call_close(struct call *cl)
{
	zmq_msg_close(&cl->msg);
	if (cl->s)
		zmq_close(cl->s);
	if (cl->ctx)
		zmq_ctx_term(cl->ctx);
}

static int member_u64(const struct mp_cur *map, const char *name, uint64_t *v)
{
	struct mp_cur c = *map;

	return mp_map_member(&c, name) || mp_read_u64(&c, v) ? -1 : 0;
}

int poold_stat(const struct poold *d, const char *section, const char *name, uint64_t *out)
{
	struct call cl = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ret = -1;

	msgpack_sbuffer_init(&sb);
	maru_resp_begin(&sb, &pk);
	msgpack_pack_map(&pk, 0);
	if (call_send(d, &cl, MARU_GET_STATS, &sb) == 0) {
		struct mp_cur c = cl.c;

		if (mp_map_member(&c, section) == 0)
			ret = member_u64(&c, name, out);
	}
	call_close(&cl);
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

int poold_lookup(const struct poold *d, const struct kvt_key *key, struct maru_handle *h,
		 uint64_t *off, uint64_t *len)
{
	char name[FSCHUNK_NAME_LEN + 1];
	struct call cl = { 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ret = -1;

	fschunk_name(key, name);
	msgpack_sbuffer_init(&sb);
	maru_resp_begin(&sb, &pk);
	msgpack_pack_map(&pk, 1);
	maru_pack_cstr(&pk, "key");
	msgpack_pack_str(&pk, 32);
	msgpack_pack_str_body(&pk, name, 32);
	if (call_send(d, &cl, MARU_LOOKUP_KV, &sb) == 0) {
		struct mp_cur c = cl.c, hc = cl.c;
		bool found = false;

		if (mp_map_member(&c, "found") || mp_read_bool(&c, &found))
			goto out;
		ret = 0;
		if (!found)
			goto out;
		ret = -1;
		if (mp_map_member(&hc, "handle") || member_u64(&hc, "region_id", &h->region_id) ||
		    member_u64(&hc, "offset", &h->offset) || member_u64(&hc, "length", &h->length) ||
		    member_u64(&hc, "auth_token", &h->auth_token) ||
		    member_u64(&cl.c, "kv_offset", off) || member_u64(&cl.c, "kv_length", len))
			goto out;
		ret = 1;
	}
out:
	call_close(&cl);
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

void *poold_map(const struct poold *d, const struct maru_handle *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t req[MARU_RM_HDR_SIZE + 32], resp[64];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { resp, sizeof(resp) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	int s = socket(AF_UNIX, SOCK_STREAM, 0), fd = -1;
	void *map = NULL;
	size_t n;

	if (s < 0)
		return NULL;
	memcpy(sa.sun_path, d->rm, strlen(d->rm));
	n = maru_rm_handle_req(req, MARU_RM_GET_FD_REQ, h);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) || send(s, req, n, 0) != (ssize_t)n ||
	    recvmsg(s, &mh, 0) <= 0)
		goto out;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	if (fd < 0)
		goto out;
	map = mmap(NULL, h->length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)h->offset);
	if (map == MAP_FAILED)
		map = NULL;
	close(fd);
out:
	close(s);
	return map;
}
