#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# tools/device-check.sh - issue 21's checks on a lent GPU machine, as one short run.
#
#   tools/device-check.sh pack      here: build release, then put the programs and every shared
#                                   library they need beyond glibc and libstdc++ into .devcheck/
#                                   (ignored by git: the device tool carries it)
#   tools/device-check.sh run OUT   on the lent machine: every check below; each program's
#                                   --json line goes into OUT/device-check.jsonl, the whole log
#                                   into OUT/device-check.log
#
# The lent machine is bare and reaches nothing, so it cannot install kvtier's build dependencies
# (liburcu, Concurrency Kit, ZeroMQ, ...): it runs what pack built here, with the machine's own
# glibc and libstdc++ (newer than Debian 12's, which the programs were linked against) and the
# CUDA runtime the machine has (libcudart.so, loaded at run time by the sink and the bench).
#
# The checks, each under a timeout, in about three minutes on 16 cores:
#   1. the machine: GPU, cores, memory, kernel;
#   2. tests/api/test_cuda_sink: restored DAX chunks land in GPU memory byte for byte (PASS, or
#      SKIP with the reason: that is a failed check on a GPU machine);
#   3. kvtier-bench gpu: DAX -> slab -> GPU through the CUDA sink beside pinned and pageable
#      cudaMemcpyAsync, 256 KiB - 64 MiB chunks, 1-4 restore workers;
#   4. kvtier-bench restore --curve with 1-16 workers, lookup with 1-16 readers, pool with 1, 4
#      and 16 clients (its own transport floor beside it).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PACK="$ROOT/.devcheck"

pack() {
	cd "$ROOT"
	python3 configure.py >/dev/null
	ninja build/release/kvtier-bench build/release/kvtier-poold \
		build/release/tests/api/test_cuda_sink
	rm -rf "$PACK"
	mkdir -p "$PACK/bin" "$PACK/lib" "$PACK/tests/api"
	cp build/release/kvtier-bench build/release/kvtier-poold "$PACK/bin/"
	cp build/release/tests/api/test_cuda_sink "$PACK/tests/api/"
	# glibc's libraries, the loader and the C++ runtime stay the machine's own
	ldd "$PACK/bin/kvtier-bench" "$PACK/bin/kvtier-poold" "$PACK/tests/api/test_cuda_sink" |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
		grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv|libstdc\+\+|libgcc_s)\.so' |
		while read -r lib; do cp -L "$lib" "$PACK/lib/"; done
	du -sh "$PACK"
	echo "device-check: packed; on the lent machine: sh tools/device-check.sh run \$OUT" \
		"(carry .devcheck)"
}

# step NAME SECONDS CMD...: run CMD under a timeout, its output into the log, its --json line
# (the last line that starts with {) into the results with the step's name
step() {
	name=$1
	secs=$2
	shift 2
	echo "== $name: $*" >>"$LOG"
	start=$(date +%s)
	rc=0
	timeout "$secs" "$@" >"$OUT/step.out" 2>&1 || rc=$?
	cat "$OUT/step.out" >>"$LOG"
	json=$(grep '^{' "$OUT/step.out" | tail -n 1 || true)
	if [ -n "$json" ]; then
		printf '{"step":"%s","rc":%d,"result":%s}\n' "$name" "$rc" "$json" >>"$RESULTS"
	else
		printf '{"step":"%s","rc":%d}\n' "$name" "$rc" >>"$RESULTS"
	fi
	echo "device-check: $name: exit $rc in $(($(date +%s) - start)) s"
	rm -f "$OUT/step.out"
}

run() {
	OUT=$1
	LOG="$OUT/device-check.log"
	RESULTS="$OUT/device-check.jsonl"
	mkdir -p "$OUT"
	: >"$LOG"
	: >"$RESULTS"
	if [ ! -x "$PACK/bin/kvtier-bench" ]; then
		echo "device-check: no $PACK: run 'tools/device-check.sh pack' here and carry .devcheck" >&2
		exit 2
	fi
	export LD_LIBRARY_PATH="$PACK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	missing=$(ldd "$PACK/bin/kvtier-bench" "$PACK/bin/kvtier-poold" | grep 'not found' || true)
	if [ -n "$missing" ]; then
		echo "device-check: libraries missing on this machine:" >&2
		echo "$missing" >&2
		exit 2
	fi
	{
		echo "== machine"
		uname -r
		nproc
		free -g | head -n 2
		nvidia-smi -L || echo "nvidia-smi: not found"
		nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
	} >>"$LOG" 2>&1
	gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)
	printf '{"step":"machine","cores":%s,"gpu":"%s","kernel":"%s"}\n' "$(nproc)" "$gpu" \
		"$(uname -r)" >>"$RESULTS"
	step cuda-sink-test 60 "$PACK/tests/api/test_cuda_sink"
	grep -E '^(PASS|FAIL|SKIP) ' "$LOG" | sed 's/^/device-check: /' || true
	step gpu 240 "$PACK/bin/kvtier-bench" gpu --json
	step restore-curve 150 "$PACK/bin/kvtier-bench" restore --curve --max-workers 16 --json
	step lookup 150 "$PACK/bin/kvtier-bench" lookup --max-readers 16 --seconds 1 --json
	step pool 150 "$PACK/bin/kvtier-bench" pool --seconds 1 --json
	echo "device-check: results in $RESULTS, log in $LOG"
}

case "${1:-}" in
pack) pack ;;
run)
	[ $# -eq 2 ] || { echo "usage: tools/device-check.sh run OUT" >&2; exit 2; }
	run "$2"
	;;
*)
	echo "usage: tools/device-check.sh pack | run OUT" >&2
	exit 2
	;;
esac
