/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/common/harness.h - the unit-test harness.
 *
 * Each test file defines cases with TEST(name) { ... }.  The harness runs
 * every case in a forked child with a time limit, so a crash or hang fails
 * that case only, and prints one line per case: "PASS name", "FAIL name:
 * reason" or "SKIP name: reason".  tests/run.py sums those lines.
 */
#ifndef KVT_TESTS_HARNESS_H
#define KVT_TESTS_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKIP_EXIT 77

struct harness_case {
	const char *name;
	void (*fn)(void);
};

void harness_register(const char *name, void (*fn)(void));
void harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void harness_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Call first in a child a case forked: a failed check then ends the child
 * with _exit(), so the atexit handlers it inherited (the case's temp
 * directories removed, its servers killed) stay the case's own. */
void harness_child_begin(void);

#define TEST(name)                                                             \
	static void test_##name(void);                                         \
	__attribute__((constructor)) static void register_##name(void)        \
	{                                                                      \
		harness_register(#name, test_##name);                          \
	}                                                                      \
	static void test_##name(void)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			harness_fail(__FILE__, __LINE__, "%s", #cond);        \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);   \
		if (check_a_ != check_b_)                                      \
			harness_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", \
				     #a, #b, check_a_, check_b_);             \
	} while (0)

#define CHECK_HAS(s, sub)                                                      \
	do {                                                                   \
		if (!strstr((s), (sub)))                                       \
			harness_fail(__FILE__, __LINE__,                       \
				     "\"%s\" does not contain \"%s\"", (s), (sub)); \
	} while (0)

/* A failed check inside a table-driven loop names the row. */
#define CHECK_ROW(row, cond)                                                   \
	do {                                                                   \
		if (!(cond))                                                   \
			harness_fail(__FILE__, __LINE__, "row %zu: %s", (size_t)(row), #cond); \
	} while (0)

#define SKIP(...) harness_skip(__VA_ARGS__)

/* Open file descriptors and threads of this process, for leak checks. */
int harness_count_fds(void);
int harness_count_threads(void);
/* A fresh directory under /tmp (or /dev/shm when @shm), removed at exit. */
const char *harness_tmpdir(int shm);
/* A fresh directory under /var/tmp, removed at exit: a disk file system
 * (O_DIRECT; pages that can leave the page cache), where /tmp may be
 * tmpfs.  The case is skipped where none can be made. */
const char *harness_disk_tmpdir(void);
/* build/<variant> of the running test program, which lies at any depth
 * below build/<variant>/tests/ (its source's path below tests/); NULL when
 * the program is not there. */
const char *harness_build_dir(void);

#endif /* KVT_TESTS_HARNESS_H */
