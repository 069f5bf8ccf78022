/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/kvtier-bench/main.c - `kvtier-bench <workload> [options]`.
 *
 * Dispatches to one workload per file (lookup.c, ...).  Each workload runs
 * kvtier and its peers (a mutex table, raw I/O, memcpy) in the same process
 * with the same inputs, so every figure it prints has a baseline beside it.
 */
#include <stdio.h>
#include <string.h>

#include "tools/kvtier-bench/bench.h"

static const struct bench_workload workloads[] = {
	{ "lookup", "kvt_contains() from reader threads while a writer churns the index, "
		    "against a mutex- and an rwlock-guarded table",
	  lookup_main },
	{ "restore", "batched kvt_get() restores from a DAX tier against memcpy of the same bytes",
	  restore_main },
	{ "disk", "store and load through the fs L2 adapter against raw io_uring O_DIRECT "
		  "files of the same bytes in the same directory",
	  disk_main },
	{ "resp", "store and load through the resp L2 adapter against redis-benchmark SET/GET "
		  "of the same value size on a redis-server it starts", resp_main },
	{ "docqa", "long_doc_qa-shaped queries restored from DAX: latency beside the fastest "
		   "copy at the restore's thread count", docqa_main },
	{ "cold", "kvt_open() of a 64 GiB L1 and puts into L1 memory nothing touched yet, "
		  "with and without the prefault actor, against warm memcpy", cold_main },
	{ "recovery", "kvt_open() of a full DAX device of 1-8 GiB: open time against size, "
		      "the per-slot cost and its projection to 1 TiB", recovery_main },
	{ "restart", "a warm restart from the fs tier with 1K-100K chunk files: kvt_open, "
		     "first hit and contains of every key, beside nftw of the directory",
	  restart_main },
	{ "pool", "Maru metadata RPC ops/s and p99 (lookup, batch lookup/pin/register) from "
		  "1, 4 and 16 clients on a kvtier-poold it starts, or any --server", pool_main },
	{ "gpu", "restores from DAX into GPU memory through the CUDA sink against pinned and "
		 "pageable cudaMemcpyAsync of the same bytes (exit 77 without a GPU)", gpu_main },
};

#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: kvtier-bench <workload> [options]\n"
		   "       kvtier-bench <workload> --help\n\n"
		   "workloads:\n");
	for (size_t i = 0; i < NWORKLOADS; i++)
		fprintf(f, "  %-10s %s\n", workloads[i].name, workloads[i].summary);
	fprintf(f, "\nExit status: 0 success, 1 a kvtier or system call failed, "
		   "2 bad command line.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return BENCH_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return BENCH_EXIT_OK;
	}
	for (size_t i = 0; i < NWORKLOADS; i++)
		if (!strcmp(argv[1], workloads[i].name))
			return workloads[i].main(argc - 1, argv + 1);
	fprintf(stderr, "kvtier-bench: unknown workload \"%s\"\n\n", argv[1]);
	usage(stderr);
	return BENCH_EXIT_USAGE;
}
