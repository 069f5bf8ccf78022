/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: allocation-failure injection in kvtier-poold (issue 17 item
 * 7).  The daemon's fault build (tests/fault/kvtier-poold-fault, linked
 * with inject.c) runs with KVT_FAULT_NTH=N for N = 1, 2, ... until N passes
 * its last call: its startup, then the requests of an engine storing and
 * reading chunks through the pool adapter (register, lookup, pin, unpin,
 * region allocation, heartbeats).  Per N the daemon either refuses to start
 * with an error, or serves every later request, answers GET_STATS, and
 * stops cleanly on SIGTERM; it never crashes and LeakSanitizer finds
 * nothing at its exit.  Every chunk the engine reads back is exact, and in
 * the run that reaches no fault every chunk is read back.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common/fixture.h"
#include "tests/common/harness.h"
#include "tests/common/poold.h"
#include "tests/fault/fault_kvt.h"

#define NKEYS 16

/* The daemon's stderr, whole (the fault report is its last line). */
static char *read_log(const char *path)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static bool log_clean(const char *log)
{
	return !strstr(log, "Sanitizer") && !strstr(log, "runtime error");
}

/* An engine's session against @d: store, read back, store more. */
static void engine_session(const struct poold *d, uint64_t first, bool must)
{
	struct fk_setup s = { .local_cpu = false };
	char json[512];
	struct kvt *kvt;
	long hits;

	snprintf(json, sizeof(json),
		 "{\"type\":\"pool\",\"server\":\"%s\",\"rm\":\"%s\",\"size_gb\":0.001953125,"
		 "\"timeout_ms\":3000,\"heartbeat_ms\":100}", d->addr, d->rm);
	s.l2_json = json;
	if (fk_open(&s, &kvt, must))
		return;
	CHECK(fk_put(kvt, first, NKEYS) >= 0 || !must);
	CHECK_EQ(kvt_flush(kvt), 0);
	hits = fk_check_some(kvt, first, NKEYS);
	CHECK(hits >= 0 || !must);
	if (must)
		CHECK_EQ(hits, NKEYS);
	CHECK_EQ(kvt_close(kvt), 0);
}

TEST(poold_startup_and_requests)
{
	char exe[4096], nth[32];
	const char *dir = harness_build_dir();
	long points = 0, refused = 0, served = 0, bad = 0;

	/* one daemon per N, about 70 of them: ~2 minutes on a quiet machine,
	 * more than the harness's 300 s per case on a loaded one; tests/run.py
	 * still stops the program at 900 s */
	alarm(840);
	CHECK(dir != NULL);
	snprintf(exe, sizeof(exe), "%s/tests/fault/kvtier-poold-fault", dir);
	if (access(exe, X_OK))
		harness_skip("%s is not built", exe);
	poold_use(exe);
	/* KVT_FAULT_FIRST=N starts there, to look at one N again */
	for (long n = getenv("KVT_FAULT_FIRST") ? atol(getenv("KVT_FAULT_FIRST")) : 1; bad < 3; n++) {
		struct poold d;
		uint64_t stat;
		const char *log;
		int ret, stopped;

		snprintf(nth, sizeof(nth), "%ld", n);
		setenv("KVT_FAULT_NTH", nth, 1);
		ret = poold_start(&d, "256M", NULL);
		unsetenv("KVT_FAULT_NTH");
		points++;
		if (ret) {
			/* refused to start: it said why and left nothing behind */
			log = read_log(d.log);
			if (!log_clean(log) || !strstr(log, "fault: fired")) {
				fprintf(stderr, "N=%ld: start failed badly:\n%s\n", n, log);
				bad++;
			}
			refused++;
			continue;
		}
		engine_session(&d, (uint64_t)n * 1000, false);
		/* the fault may fall on this very request; the next must be served */
		ret = poold_stat(&d, "kv_manager", "total_pins", &stat) &&
		      poold_stat(&d, "kv_manager", "total_pins", &stat);
		stopped = poold_stop(&d);
		log = read_log(d.log);
		if (ret || stopped || !log_clean(log)) {
			fprintf(stderr, "N=%ld: the daemon did not survive (stats %d, stop %d):\n%s\n",
				n, ret, stopped, log);
			bad++;
			continue;
		}
		served++;
		if (strstr(log, "fault: not reached")) {
			/* no fault: the same session must succeed in full */
			CHECK_EQ(poold_start(&d, "256M", NULL), 0);
			engine_session(&d, 1, true);
			CHECK_EQ(poold_stop(&d), 0);
			break;
		}
		if (n % 25 == 0) {
			printf("    fault poold: N=%ld ...\n", n);
			fflush(stdout);
		}
	}
	poold_use(NULL);
	printf("    fault poold: %ld failure points (%ld refused to start, %ld served on), "
	       "%ld crashes or leaks\n", points - 1, refused, served - 1, bad);
	CHECK_EQ(bad, 0);
}
