/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fault/inject.c - the -Wl,--wrap targets of the fault-injection
 * programs (see inject.h).  Each __wrap_X asks fault_hit() first and fails
 * as X itself fails when the system is out of memory; otherwise it is X.
 */
#define _GNU_SOURCE
#include "tests/fault/inject.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>
#include <liburing.h>
#include <pthread.h>
#include <urcu-bp.h>
#include <urcu/rculfhash.h>
#include <yaml.h>
#include <zmq.h>

/* target and mode are written before armed is set and read after it is seen set */
static atomic_bool armed;
static atomic_long calls;
static atomic_long target;
static _Atomic enum fault_mode mode;
static const char *_Atomic fired_what;

void fault_arm(long nth, enum fault_mode m)
{
	atomic_store(&target, nth);
	atomic_store(&mode, m);
	atomic_store(&fired_what, NULL);
	atomic_store(&calls, 0);
	atomic_store(&armed, true);
}

long fault_disarm(const char **what)
{
	atomic_store(&armed, false);
	if (what)
		*what = atomic_load(&fired_what);
	return atomic_load(&calls);
}

bool fault_fired(void)
{
	return atomic_load(&fired_what) != NULL;
}

/* Whether this call of @what must fail.  Any thread. */
static bool fault_hit(const char *what)
{
	long n;

	if (!atomic_load_explicit(&armed, memory_order_acquire))
		return false;
	n = atomic_fetch_add(&calls, 1) + 1;
	if (n == atomic_load(&target) || (atomic_load(&mode) == FAULT_PERSIST && n > target)) {
		const char *none = NULL;

		atomic_compare_exchange_strong(&fired_what, &none, what);
		return true;
	}
	return false;
}

/* KVT_FAULT_NTH=N[:persist]: a whole program (the daemon) armed from its start. */
__attribute__((constructor)) static void arm_from_env(void)
{
	const char *env = getenv("KVT_FAULT_NTH");
	char *end;
	long n;

	if (!env)
		return;
	n = strtol(env, &end, 10);
	if (n < 1 || (*end && strcmp(end, ":persist"))) {
		fprintf(stderr, "fault: bad KVT_FAULT_NTH \"%s\" (N or N:persist, N >= 1)\n", env);
		exit(2);
	}
	fault_arm(n, *end ? FAULT_PERSIST : FAULT_ONCE);
}

__attribute__((destructor)) static void report_at_exit(void)
{
	const char *what;
	long n;

	if (!getenv("KVT_FAULT_NTH"))
		return;
	n = fault_disarm(&what);
	if (what)
		fprintf(stderr, "fault: fired at call %s (%s)\n", getenv("KVT_FAULT_NTH"), what);
	else
		fprintf(stderr, "fault: not reached (%ld calls)\n", n);
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
char *__real_strdup(const char *s);
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off);
int __real_eventfd(unsigned int initval, int flags);
int __real_io_uring_queue_init(unsigned int entries, struct io_uring *ring, unsigned int flags);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
struct cds_lfht *__real__cds_lfht_new(unsigned long init_size, unsigned long min_nr_alloc_buckets,
				      unsigned long max_nr_buckets, int flags,
				      const struct cds_lfht_mm_type *mm,
				      const struct rcu_flavor_struct *flavor, pthread_attr_t *attr);
struct call_rcu_data *__real_urcu_bp_create_call_rcu_data(unsigned long flags, int cpu_affinity);
int __real_yaml_parser_initialize(yaml_parser_t *parser);
int __real_yaml_parser_load(yaml_parser_t *parser, yaml_document_t *doc);
redisContext *__real_redisConnectWithTimeout(const char *ip, int port, const struct timeval tv);
void *__real_redisCommandArgv(redisContext *c, int argc, const char **argv, const size_t *argvlen);
void *__real_zmq_ctx_new(void);
void *__real_zmq_socket(void *ctx, int type);

#define FAIL_NULL(what)                                                        \
	do {                                                                   \
		if (fault_hit(what)) {                                         \
			errno = ENOMEM;                                        \
			return NULL;                                           \
		}                                                              \
	} while (0)

void *__wrap_malloc(size_t size)
{
	FAIL_NULL("malloc");
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	FAIL_NULL("calloc");
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	FAIL_NULL("realloc");
	return __real_realloc(p, size);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	if (fault_hit("posix_memalign"))
		return ENOMEM;
	return __real_posix_memalign(p, align, size);
}

char *__wrap_strdup(const char *s)
{
	FAIL_NULL("strdup");
	return __real_strdup(s);
}

void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	if (fault_hit("mmap")) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return __real_mmap64(addr, len, prot, flags, fd, off);
}

int __wrap_eventfd(unsigned int initval, int flags)
{
	if (fault_hit("eventfd")) {
		errno = EMFILE;
		return -1;
	}
	return __real_eventfd(initval, flags);
}

int __wrap_io_uring_queue_init(unsigned int entries, struct io_uring *ring, unsigned int flags)
{
	if (fault_hit("io_uring_queue_init"))
		return -ENOMEM;
	return __real_io_uring_queue_init(entries, ring, flags);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	if (fault_hit("pthread_create"))
		return EAGAIN;
	return __real_pthread_create(t, attr, fn, arg);
}

struct cds_lfht *__wrap__cds_lfht_new(unsigned long init_size, unsigned long min_nr_alloc_buckets,
				      unsigned long max_nr_buckets, int flags,
				      const struct cds_lfht_mm_type *mm,
				      const struct rcu_flavor_struct *flavor, pthread_attr_t *attr)
{
	FAIL_NULL("cds_lfht_new");
	return __real__cds_lfht_new(init_size, min_nr_alloc_buckets, max_nr_buckets, flags, mm,
				    flavor, attr);
}

struct call_rcu_data *__wrap_urcu_bp_create_call_rcu_data(unsigned long flags, int cpu_affinity)
{
	FAIL_NULL("create_call_rcu_data");
	return __real_urcu_bp_create_call_rcu_data(flags, cpu_affinity);
}

int __wrap_yaml_parser_initialize(yaml_parser_t *parser)
{
	if (fault_hit("yaml_parser_initialize")) {
		memset(parser, 0, sizeof(*parser));
		parser->error = YAML_MEMORY_ERROR;
		return 0;
	}
	return __real_yaml_parser_initialize(parser);
}

/* libyaml's own answer to an allocation failure mid-document: 0, with the
 * parser's error YAML_MEMORY_ERROR and the document left empty. */
int __wrap_yaml_parser_load(yaml_parser_t *parser, yaml_document_t *doc)
{
	if (fault_hit("yaml_parser_load")) {
		memset(doc, 0, sizeof(*doc));
		parser->error = YAML_MEMORY_ERROR;
		parser->problem = NULL;
		return 0;
	}
	return __real_yaml_parser_load(parser, doc);
}

redisContext *__wrap_redisConnectWithTimeout(const char *ip, int port, const struct timeval tv)
{
	FAIL_NULL("redisConnectWithTimeout");
	return __real_redisConnectWithTimeout(ip, port, tv);
}

/* hiredis's blocking calls answer NULL with the context's err set when
 * they cannot allocate; the context is unusable afterwards. */
static void *redis_oom(redisContext *c)
{
	c->err = REDIS_ERR_OOM;
	snprintf(c->errstr, sizeof(c->errstr), "Out of memory");
	return NULL;
}

void *__wrap_redisCommand(redisContext *c, const char *format, ...)
{
	va_list ap;
	void *reply;

	if (fault_hit("redisCommand"))
		return redis_oom(c);
	va_start(ap, format);
	reply = redisvCommand(c, format, ap);
	va_end(ap);
	return reply;
}

void *__wrap_redisCommandArgv(redisContext *c, int argc, const char **argv, const size_t *argvlen)
{
	if (fault_hit("redisCommandArgv"))
		return redis_oom(c);
	return __real_redisCommandArgv(c, argc, argv, argvlen);
}

#ifndef KVT_NO_JEMALLOC
/* Release builds allocate through jemalloc's explicit API (core/mem.h). */
#include <jemalloc/jemalloc.h>

void *__real_mallocx(size_t size, int flags);
void *__real_rallocx(void *p, size_t size, int flags);

void *__wrap_mallocx(size_t size, int flags)
{
	FAIL_NULL("mallocx");
	return __real_mallocx(size, flags);
}

void *__wrap_rallocx(void *p, size_t size, int flags)
{
	FAIL_NULL("rallocx");
	return __real_rallocx(p, size, flags);
}
#endif

void *__wrap_zmq_ctx_new(void)
{
	FAIL_NULL("zmq_ctx_new");
	return __real_zmq_ctx_new();
}

void *__wrap_zmq_socket(void *ctx, int type)
{
	FAIL_NULL("zmq_socket");
	return __real_zmq_socket(ctx, type);
}
