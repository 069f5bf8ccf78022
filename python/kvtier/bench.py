# SPDX-License-Identifier: Apache-2.0
"""python3 -m kvtier.bench [--json] [--reps N]: what the Python package costs
over kvtier's C API, measured in the same run on the same store and buffers.

  put, get of 1 MiB chunks   Store.put / Store.get of a 64-chunk batch (64 MiB)
                             against the same kvt_put / kvt_get batch in a C
                             loop (Store._c_loop); each put is under fresh
                             keys, so every put copies, into an L1 that holds
                             a round's puts (removed between rounds, untimed).
  overhead per batch         Store.get of 64 one-token chunks (the call, its
                             checks, its result list) minus the C loop's time
                             for the same batch.

Rounds alternate Python and C, and each figure is the median over rounds, so
drift of the machine hits both sides.  The JSON line's goals:
py_over_c_get_ratio_1mib >= 0.9, py_over_c_put_ratio_1mib >= 0.9,
py_overhead_us_per_batch64 <= 10.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

import kvtier

BATCH = 64
MIB = 1 << 20
# 256 tokens x 16 layers x 2 (K, V) x 1 head x 64 dims x 2 bytes = 1 MiB a chunk
SHAPE = {"chunk_size": 256, "kv_layers": 16, "kv_heads": 1, "head_dim": 64}


def python_seconds(fn, reps: int) -> float:
    t0 = time.perf_counter()
    for i in range(reps):
        fn(i)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m kvtier.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=8, help="batches a round, each side")
    ap.add_argument("--rounds", type=int, default=7, help="rounds (medians are taken)")
    ap.add_argument("--json", action="store_true", help="one JSON object as the last line")
    args = ap.parse_args(argv)
    if args.reps < 1 or args.rounds < 1:
        ap.error("--reps and --rounds must be at least 1")

    # room for a round's puts (reps batches) with a quarter spare, so no put waits for eviction
    gib = (args.reps + 2) * BATCH * MIB * 1.25 / (1 << 30)
    with kvtier.Store(max_local_cpu_size="%.3f" % gib, **SHAPE) as store:
        assert store.chunk_bytes == MIB
        tokens = np.arange(256 * BATCH * args.reps, dtype=np.uint32)
        put_keys = store.chunk_keys(tokens)
        keys = put_keys[:BATCH]
        src = [np.full(MIB, i, np.uint8) for i in range(BATCH)]
        dst = [np.empty(MIB, np.uint8) for _ in range(BATCH)]
        small_keys = [store.key(b"overhead-%d" % i) for i in range(BATCH)]
        small_src = [np.full(64, i, np.uint8) for i in range(BATCH)]
        small_dst = [np.empty(64, np.uint8) for _ in range(BATCH)]
        store.put(small_keys, small_src)

        def py_put(i: int) -> None:
            store.put(put_keys[i * BATCH:(i + 1) * BATCH], src)

        rows: dict[str, list[float]] = {k: [] for k in
                                        ("py_put", "c_put", "py_get", "c_get", "py_small",
                                         "c_small")}
        n = args.reps * 64
        sides = [
            ("py_put", lambda: python_seconds(py_put, args.reps)),
            ("c_put", lambda: store._c_loop("put", put_keys, src, args.reps)),
            ("py_get", lambda: python_seconds(lambda i: store.get(keys, dst), args.reps)),
            ("c_get", lambda: store._c_loop("get", keys, dst, args.reps)),
            ("py_small", lambda: python_seconds(lambda i: store.get(small_keys, small_dst), n)),
            ("c_small", lambda: store._c_loop("get", small_keys, small_dst, n)),
        ]
        for r in range(args.rounds):
            print("round %d/%d" % (r + 1, args.rounds), file=sys.stderr, flush=True)
            # which side goes first alternates, so neither always finds a warmer cache
            for pair in range(0, len(sides), 2):
                first, second = sides[pair:pair + 2][::1 if r % 2 else -1]
                rows[first[0]].append(first[1]())
                if first[0].endswith("put"):
                    store.remove(put_keys)
                rows[second[0]].append(second[1]())
                if second[0].endswith("put"):
                    store.put(keys, src)  # what the gets read
        assert all(np.array_equal(d, s) for d, s in zip(dst, src)), "get restored wrong bytes"
        store.remove(put_keys)

    nbytes = args.reps * BATCH * MIB
    med = {k: statistics.median(v) for k, v in rows.items()}
    out = {
        "batch": BATCH, "chunk_bytes": MIB, "reps": args.reps, "rounds": args.rounds,
        "py_put_gbps": nbytes / med["py_put"] / 1e9,
        "c_put_gbps": nbytes / med["c_put"] / 1e9,
        "py_get_gbps": nbytes / med["py_get"] / 1e9,
        "c_get_gbps": nbytes / med["c_get"] / 1e9,
        "py_over_c_put_ratio_1mib": med["c_put"] / med["py_put"],
        "py_over_c_get_ratio_1mib": med["c_get"] / med["py_get"],
        "py_us_per_batch64": med["py_small"] / (args.reps * 64) * 1e6,
        "c_us_per_batch64": med["c_small"] / (args.reps * 64) * 1e6,
    }
    out["py_overhead_us_per_batch64"] = out["py_us_per_batch64"] - out["c_us_per_batch64"]
    print("%-26s %10s %10s %8s" % ("", "Python", "C API", "ratio"))
    print("%-26s %10.2f %10.2f %8.3f" % ("put 64 x 1 MiB (GB/s)", out["py_put_gbps"],
                                          out["c_put_gbps"], out["py_over_c_put_ratio_1mib"]))
    print("%-26s %10.2f %10.2f %8.3f" % ("get 64 x 1 MiB (GB/s)", out["py_get_gbps"],
                                          out["c_get_gbps"], out["py_over_c_get_ratio_1mib"]))
    print("%-26s %10.2f %10.2f %8s" % ("get 64 x 64 B (us/batch)", out["py_us_per_batch64"],
                                        out["c_us_per_batch64"],
                                        "+%.2f" % out["py_overhead_us_per_batch64"]))
    if args.json:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                          for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
