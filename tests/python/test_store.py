# SPDX-License-Identifier: Apache-2.0
"""kvtier.Store from Python: round trips with every buffer kind, holes, pins,
the GIL released in long calls, asyncio, every error path, and 100k calls with
steady memory and references.  Real tiers: L1 and, where a test says so, an
fs tier in a temporary directory."""
from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

import kvtier

CHUNK = 4096  # chunk_size 16 x 1 layer x 2 (K, V) x 1 head x 64 dims x 2 bytes
SMALL = {"chunk_size": 16, "kv_layers": 1, "kv_heads": 1, "head_dim": 64,
         "max_local_cpu_size": "0.01"}  # 2560 chunks of L1


@pytest.fixture
def store():
    with kvtier.Store(**SMALL) as s:
        yield s


def chunk(i: int, n: int = CHUNK) -> bytes:
    return bytes((i * 31 + j) & 0xFF for j in range(256)) * (n // 256) + bytes(n % 256)


def test_round_trip_bytes_numpy_and_torch(store):
    keys = store.chunk_keys(range(16 * 6))
    assert len(keys) == 6 and all(len(k) == 16 for k in keys)
    src = [chunk(0), bytearray(chunk(1)), memoryview(chunk(2)),
           np.frombuffer(chunk(3), dtype=np.uint8),
           torch.frombuffer(bytearray(chunk(4)), dtype=torch.bfloat16),
           np.frombuffer(chunk(5)[:1000], dtype=np.uint8)]  # a partial last chunk
    assert store.put(keys, src) == [0, 0, 0, 0, 0, 0]
    assert store.put(keys[:2], src[:2]) == [1, 1]  # already there: a no-op success
    dst = [bytearray(CHUNK), np.zeros(CHUNK, np.uint8), torch.zeros(CHUNK // 2, dtype=torch.bfloat16),
           memoryview(bytearray(CHUNK)), np.zeros(CHUNK // 4, np.float32),
           torch.zeros(CHUNK, dtype=torch.uint8)]
    assert store.get(keys, dst) == [CHUNK] * 5 + [1000]
    assert bytes(dst[0]) == chunk(0)
    assert dst[1].tobytes() == chunk(1)
    assert bytes(dst[2].view(torch.uint8).numpy()) == chunk(2)
    assert bytes(dst[3]) == chunk(3)
    assert dst[4].tobytes() == chunk(4)
    assert bytes(dst[5].numpy()[:1000]) == chunk(5)[:1000]


def test_chunk_keys_take_lists_and_integer_arrays_alike(store):
    tokens = list(range(1000, 1040))
    a = store.chunk_keys(tokens)
    assert a == store.chunk_keys(np.array(tokens, dtype=np.uint32))
    assert a == store.chunk_keys(np.array(tokens, dtype=np.int64))
    assert a == store.chunk_keys(torch.tensor(tokens, dtype=torch.int32).numpy())
    assert len(a) == 3  # 16 + 16 + 8
    assert store.chunk_keys(tokens[:32]) == a[:2]  # a prefix shares its keys
    with pytest.raises(ValueError):
        store.chunk_keys([1, -2, 3])


def test_get_leaves_holes_where_keys_are_missing(store):
    keys = [store.key("k%d" % i) for i in range(5)]
    assert store.put([keys[0], keys[2], keys[4]], [chunk(0), chunk(2), chunk(4)]) == [0, 0, 0]
    dst = [bytearray(b"\xee" * CHUNK) for _ in keys]
    assert store.get(keys, dst) == [CHUNK, None, CHUNK, None, CHUNK]
    assert bytes(dst[1]) == b"\xee" * CHUNK  # a hole's buffer is left alone
    assert store.contains(keys) == 1  # the prefix ends at the first hole


def test_pins_are_counted_and_keep_a_key_until_unpinned(store):
    keys = store.chunk_keys(range(32))
    store.put(keys, [chunk(1), chunk(2)])
    assert store.contains(keys, pin=True) == 2
    assert store.contains(keys, pin=True) == 2
    assert store.unpin(keys) == 2
    assert store.remove(keys) == [-16, -16]  # EBUSY: one pin each is left
    assert store.unpin(keys) == 2
    assert store.remove(keys) == [0, 0]
    assert store.stats()["pinned_entries"] == 0


def test_remove_reports_per_key_and_force_takes_pinned_keys(store):
    keys = store.chunk_keys(range(48))
    store.put(keys, [chunk(i) for i in range(3)])
    assert store.contains(keys[:1], pin=True) == 1
    absent = store.key("never stored")
    assert store.remove([keys[0], keys[1], absent]) == [-16, 0, -2]  # EBUSY, removed, ENOENT
    assert store.unpin(keys[:1]) == 1
    assert store.remove(keys[:1]) == [0]
    assert store.contains(keys[2:], pin=True) == 1
    assert store.remove(keys[2:], force=True) == [0]
    assert store.contains(keys) == 0


def test_keys_of_ids_match_across_processes_and_split_by_namespace(store):
    ids = ["qwen@00000000@0@5f3a", b"\x00\x01binary", ""]
    mine = store.keys(ids)
    assert mine == [store.key(i) for i in ids]
    assert len(set(mine)) == 3
    code = ("import kvtier, json, sys; s = kvtier.Store(**json.loads(sys.argv[1])); "
            "print(s.key('qwen@00000000@0@5f3a').hex())")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    other = subprocess.run([sys.executable, "-c", code, json.dumps(SMALL)], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert bytes.fromhex(other) == mine[0]
    with kvtier.Store(tenant_salt="tenant-b", **SMALL) as t:
        assert t.key(ids[0]) != mine[0]


def test_a_long_get_lets_other_python_threads_run(store):
    """The GIL is released inside kvtier: a thread keeps running during one get."""
    n = 2000
    keys = store.chunk_keys(range(16 * n))
    data = [np.full(CHUNK, i & 0xFF, np.uint8) for i in range(n)]
    assert store.put(keys, data) == [0] * n
    dst = [np.empty(CHUNK, np.uint8) for _ in range(n)]
    ticks: list[float] = []
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.01)
    windows = []
    for _ in range(20):
        t0 = time.perf_counter()
        assert store.get(keys, dst) == [CHUNK] * n
        windows.append((t0, time.perf_counter()))
    stop.set()
    t.join()
    inside = sum(1 for a, b in windows for x in ticks if a < x < b)
    assert inside > 0, "no tick of the other thread fell inside a get: the GIL was held"


def test_asyncio_aget_and_prefetch_through_the_event_fd(store):
    keys = store.chunk_keys(range(16 * 8))
    store.put(keys[:6], [chunk(i) for i in range(6)])

    async def main():
        other = asyncio.create_task(asyncio.sleep(0))  # the loop keeps running meanwhile
        a = [bytearray(CHUNK) for _ in keys]
        b = [bytearray(CHUNK) for _ in keys]
        got, pre = await asyncio.gather(store.aget(keys, a), store.prefetch(keys, b))
        await other
        return got, pre, a, b

    got, pre, a, b = asyncio.run(main())
    assert got == [CHUNK] * 6 + [None, None]
    assert pre == [CHUNK] * 6 + [None, None]  # the prefix
    assert [bytes(x) for x in a[:6]] == [chunk(i) for i in range(6)]
    assert [bytes(x) for x in b[:6]] == [chunk(i) for i in range(6)]


def test_raw_submissions_complete_through_drain(store):
    keys = [store.key(i.to_bytes(4, "little")) for i in range(10)]
    ids = [store.submit_set(keys[:5], [chunk(i) for i in range(5)])]
    deadline = time.time() + 10
    done = {}
    while len(done) < 1 and time.time() < deadline:
        for c in store.drain():
            done[c[0]] = c
    assert done[ids[0]] == (ids[0], True, "", [True] * 5)
    # the Store's workers run batches concurrently: the delete goes in only
    # once the exists it would race has completed
    ids = [store.submit_exists(keys)]
    while len(done) < 2 and time.time() < deadline:
        for c in store.drain():
            done[c[0]] = c
    ids += [store.submit_delete(keys[:2]),
            store.submit_get(keys[:6], [bytearray(CHUNK) for _ in range(6)])]
    assert len(set(ids)) == 3
    while len(done) < 4 and time.time() < deadline:
        for c in store.drain():
            done[c[0]] = c
    assert done[ids[0]][3] == [True] * 5 + [False] * 5
    assert done[ids[1]][3] == [True, True]
    assert done[ids[2]][1] is True and len(done[ids[2]][3]) == 6


@pytest.mark.parametrize("bad, exc", [
    ([object()], TypeError),                          # no buffer protocol
    ([np.zeros((64, 128), np.uint8)[:, ::2]], ValueError),  # not C-contiguous
    ([bytes(CHUNK + 1)], ValueError),                 # longer than a chunk
    ([b""], ValueError),                              # empty
    ([b"x", b"y"], ValueError),                       # one key, two buffers
    (b"x" * 10, TypeError),                           # one buffer, not a list of them
])
def test_bad_put_buffers_raise_before_kvtier_runs(store, bad, exc):
    key = store.key("k")
    with pytest.raises(exc):
        store.put([key], bad)
    assert store.stats()["puts"] == 0


def test_bad_get_buffers_and_keys_raise(store):
    key = store.key("k")
    with pytest.raises(ValueError):
        store.get([key], [b"read-only bytes"])
    with pytest.raises(TypeError):
        store.get([b"short"], [bytearray(CHUNK)])
    with pytest.raises(TypeError):
        store.contains(["a str is no key"])
    with pytest.raises(TypeError):
        store.key(12)
    if torch.cuda.is_available():
        with pytest.raises(ValueError):
            store.put([key], [torch.zeros(16, device="cuda")])


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(kvtier.ConfigError, match="chunk_size"):
        kvtier.Store(chunk_size="12abc")
    with pytest.raises(kvtier.ConfigError, match="no_such_knob"):
        kvtier.Store(no_such_knob=1)
    with pytest.raises(kvtier.Error):
        kvtier.Store(str(tmp_path / "missing.yaml"))
    yaml = tmp_path / "kvtier.yaml"
    yaml.write_text("chunk_size: 16\nkv_layers: 1\nkv_heads: 1\nhead_dim: 64\n"
                    "max_local_cpu_size: 0.01\n")
    with kvtier.Store(yaml) as s:
        assert s.chunk_bytes == CHUNK
    with kvtier.Store({"head_dim": 128, **{k: v for k, v in SMALL.items() if k != "head_dim"}}) as s:
        assert s.chunk_bytes == 2 * CHUNK


def test_closed_store_raises_and_close_is_idempotent():
    s = kvtier.Store(**SMALL)
    key = s.key("k")
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(kvtier.ClosedError) as e:
        s.put([key], [chunk(0)])
    assert e.value.errno == 108  # ESHUTDOWN
    with pytest.raises(kvtier.ClosedError):
        s.submit_set([key], [chunk(0)])


def test_borrow_gives_a_read_only_view_released_on_exit(store):
    key = store.key("k")
    store.put([key], [chunk(7)])
    with store.borrow(key) as view:
        assert bytes(view) == chunk(7)
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 1
    with pytest.raises(ValueError):
        bytes(view)  # released: no dangling pointer
    with pytest.raises(kvtier.NotFoundError), store.borrow(store.key("absent")):
        pass


def test_bytes_still_used_keep_the_lease_and_block_close():
    s = kvtier.Store(**SMALL)
    key = s.key("k")
    s.put([key], [chunk(3)])
    with s.borrow(key) as view:
        arr = np.frombuffer(view, dtype=np.uint8)
    assert s.stats()["borrows_active"] == 1
    with pytest.raises(kvtier.BusyError):
        s.close()
    s.remove([key])  # removed meanwhile: the borrowed bytes stay
    assert arr.tobytes() == chunk(3)
    del arr
    assert s.stats()["borrows_active"] == 0
    s.close()


def test_stats_and_prometheus(store):
    keys = store.chunk_keys(range(32))
    store.put(keys, [chunk(0), chunk(1)])
    store.get(keys, [bytearray(CHUNK), bytearray(CHUNK)])
    st = store.stats()
    assert st["puts"] == 2 and st["l1_hits"] == 2 and st["l1_slots"] > 0
    text = store.prometheus()
    assert '# TYPE kvtier_hits_total counter\nkvtier_hits_total{tier="l1"} 2\n' in text


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_100k_calls_keep_memory_and_references_steady(store):
    keys = store.chunk_keys(range(16 * 4))
    src = [np.full(CHUNK, i, np.uint8) for i in range(4)]
    dst = [bytearray(CHUNK) for _ in range(4)]
    refs = [sys.getrefcount(b) for b in src + dst]

    def round_(i: int) -> None:
        store.put(keys, src)
        store.get(keys, dst)
        store.contains(keys, pin=True)
        store.unpin(keys)
        if i % 64 == 0:
            store.remove(keys)
        fid = store.submit_exists(keys)
        while not any(c[0] == fid for c in store.drain()):
            pass

    for i in range(2000):
        round_(i)
    gc.collect()
    base_rss, base_objs = rss_kib(), len(gc.get_objects())
    for i in range(2000, 2000 + 100_000 // 6):
        round_(i)
    gc.collect()
    assert [sys.getrefcount(b) for b in src + dst] == refs
    assert len(gc.get_objects()) - base_objs < 100
    assert rss_kib() - base_rss < 8 * 1024, "RSS grew by %d KiB" % (rss_kib() - base_rss)


def test_close_with_submissions_in_flight_finishes_them(tmp_path):
    s = kvtier.Store(l2_adapters=json.dumps([{"type": "fs", "base_path": str(tmp_path)}]),
                     **SMALL)
    keys = [s.key("k%d" % i) for i in range(64)]
    bufs = [chunk(i) for i in range(64)]
    for i in range(0, 64, 8):
        s.submit_set(keys[i:i + 8], bufs[i:i + 8])
    s.close()  # waits for the queued batches; their completions are dropped
    with kvtier.Store(l2_adapters=json.dumps([{"type": "fs", "base_path": str(tmp_path)}]),
                      **SMALL) as t:
        dst = [bytearray(CHUNK) for _ in keys]
        assert t.get(keys, dst) == [CHUNK] * 64
        assert [bytes(d) for d in dst] == bufs
