# SPDX-License-Identifier: Apache-2.0
"""kvtier.lmcache.KvtierConnector driven as LMCache drives a native plug-in.

LMCache is not installed here, so ``Driver`` below re-creates the part of
LMCache/LMCache ``lmcache/v1/distributed/l2_adapters/native_connector_l2_adapter.py``
@ 0b43a45563fe5c25dc80ac9f8be16d3f20d86b22 that touches the connector: submits
under the driver's lock with the pending entry recorded after the submit
returns, and a demux thread that polls the event fd (POLLIN, 500 ms), calls
``drain_completions()`` and never reads the fd.  Loading follows
``native_plugin_l2_adapter.py`` @ 68c638a6a8e86d9ec0867ff51fe445b4b3e75503.

The tiers are real: a small L1 and, where persistence is checked, an fs tier in
a temporary directory read back afterwards by a fresh ``kvtier.Store``.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kvtier
from kvtier.lmcache import KvtierConnector

Completion = tuple[int, bool, str, list[bool] | None]

#: 4 KiB chunks (16 tokens x 1 layer x 1 head x 64 x K,V x bfloat16) in 50 MB of L1.
KNOBS = {"max_local_cpu_size": "0.05", "chunk_size": "16", "kv_layers": "1",
         "kv_heads": "1", "head_dim": "64", "model_name": "test/lmcache"}
#: 256 KiB chunks: fs writes long enough to be caught in flight by a SIGKILL.
BIG_KNOBS = {**KNOBS, "chunk_size": "256", "kv_layers": "2", "kv_heads": "2"}

REQUIRED = ["event_fd", "submit_batch_get", "submit_batch_set", "submit_batch_exists",
            "drain_completions", "close"]


def fs_tier(path: Path) -> list[dict[str, str]]:
    """An ``l2_adapters`` value as LMCache's JSON gives it: a list, not text."""
    return [{"type": "fs", "base_path": str(path)}]


def lmc_key(name: str, salt: str = "") -> str:
    """A key string shaped like LMCache's ``model@rank@group@hash[@salt]``."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"test/lmcache@00000000@0@{digest}" + (f"@{salt}" if salt else "")


def payload(key: str, size: int) -> bytes:
    """Bytes that only @key has, so a mixed-up or torn value shows."""
    seed = hashlib.blake2b(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def chunk_bytes(knobs: dict[str, Any]) -> int:
    with kvtier.Store(**knobs) as store:
        return store.chunk_bytes


class Driver:
    """LMCache's NativeConnectorL2Adapter, reduced to its use of the connector."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.fd = int(client.event_fd())
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.pending: dict[int, str] = {}
        self.results: dict[int, Completion] = {}
        self.unknown: list[Completion] = []
        self.submitted: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._demux, daemon=True)
        self.thread.start()

    def submit(self, op: str, keys: list[str], views: list[memoryview] | None = None) -> int:
        method = getattr(self.client, f"submit_batch_{op}")
        with self.lock:
            fid = int(method(keys) if views is None else method(keys, views))
            self.pending[fid] = op
            self.submitted.append(fid)
        return fid

    def wait(self, fid: int, timeout: float = 30.0) -> Completion:
        with self.cv:
            if not self.cv.wait_for(lambda: fid in self.results, timeout):
                raise AssertionError(f"future {fid} did not complete in {timeout} s")
            return self.results.pop(fid)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.client.close()

    def _demux(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self.stop.is_set():
            if not poller.poll(500):
                continue
            completions = self.client.drain_completions()
            with self.cv:
                for completion in completions:
                    if self.pending.pop(completion[0], None) is None:
                        self.unknown.append(completion)
                    else:
                        self.results[completion[0]] = completion
                self.cv.notify_all()


@pytest.fixture
def conn(tmp_path: Path) -> Any:
    c = KvtierConnector(l2_adapters=fs_tier(tmp_path / "fs"), **KNOBS)
    yield c
    c.close()


@pytest.fixture
def driver(conn: KvtierConnector) -> Any:
    d = Driver(conn)
    yield d
    d.close()
    assert d.unknown == [], "completions for ids that were never submitted"


def views_of(keys: list[str], size: int) -> list[memoryview]:
    return [memoryview(bytearray(payload(k, size))) for k in keys]


def test_loads_as_native_plugin(tmp_path: Path) -> None:
    """module_path/class_name/adapter_params resolve and the checked methods exist."""
    yaml_path = tmp_path / "kvtier.yaml"
    yaml_path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in KNOBS.items()))
    spec = {"type": "native_plugin", "module_path": "kvtier.lmcache",
            "class_name": "KvtierConnector",
            "adapter_params": {"config": str(yaml_path), "l2_adapters": fs_tier(tmp_path)}}
    cls = getattr(importlib.import_module(spec["module_path"]), spec["class_name"])
    client = cls(**spec["adapter_params"])
    try:
        for name in REQUIRED + ["submit_batch_delete"]:
            assert callable(getattr(client, name, None)), name
        fd = client.event_fd()
        assert isinstance(fd, int) and fd >= 0
        assert select.select([fd], [], [], 0)[0] == [], "fd readable with nothing submitted"
        assert client.drain_completions() == []
    finally:
        client.close()


def test_bad_adapter_param_fails_construction() -> None:
    with pytest.raises(kvtier.Error):
        KvtierConnector(no_such_kvtier_knob="1", **KNOBS)


def test_mixed_batches(driver: Driver) -> None:
    size = chunk_bytes(KNOBS)
    a = [lmc_key(f"a{i}") for i in range(8)]
    b = [lmc_key(f"b{i}", salt="tenant") for i in range(8)]
    absent = [lmc_key(f"absent{i}") for i in range(3)]
    # partial chunks too: LMCache's last chunk of a prompt is short
    sizes = {k: size - 512 * (i % 3) for i, k in enumerate(a + b)}
    set_a = driver.submit("set", a, [memoryview(bytearray(payload(k, sizes[k]))) for k in a])
    set_b = driver.submit("set", b, [memoryview(bytearray(payload(k, sizes[k]))) for k in b])
    for fid, keys in ((set_a, a), (set_b, b)):
        fid_, ok, err, res = driver.wait(fid)
        assert (fid_, ok, err, res) == (fid, True, "", [True] * len(keys))

    outs = [bytearray(size) for _ in a]
    miss_outs = [bytearray(size) for _ in absent]
    get_a = driver.submit("get", a, [memoryview(o) for o in outs])
    get_absent = driver.submit("get", absent, [memoryview(o) for o in miss_outs])
    exists = driver.submit("exists", [a[0], absent[0], b[5], absent[1]])
    delete_b = driver.submit("delete", b[:4] + absent[:1])

    _, ok, _, loaded = driver.wait(get_a)
    assert ok and loaded == [True] * len(a)
    for k, o in zip(a, outs):
        assert bytes(o[:sizes[k]]) == payload(k, sizes[k])
    _, _, _, loaded = driver.wait(get_absent)
    assert loaded == [False] * len(absent)
    assert all(o == bytearray(size) for o in miss_outs), "a miss wrote into its buffer"
    assert driver.wait(exists)[3] == [True, False, True, False]
    _, ok, _, deleted = driver.wait(delete_b)
    assert ok and deleted == [True] * 4 + [False]

    after = driver.submit("exists", b)
    assert driver.wait(after)[3] == [False] * 4 + [True] * 4
    regot = [bytearray(size) for _ in b]
    loaded = driver.wait(driver.submit("get", b, [memoryview(o) for o in regot]))[3]
    assert loaded == [False] * 4 + [True] * 4
    assert len(set(driver.submitted)) == len(driver.submitted), "a future id was reused"


def test_fd_readable_until_drained(conn: KvtierConnector) -> None:
    fid = conn.submit_batch_exists([lmc_key("x")])
    poller = select.poll()
    poller.register(conn.event_fd(), select.POLLIN)
    assert poller.poll(10_000), "no completion signalled"
    assert poller.poll(0), "fd reset before drain_completions()"
    assert conn.drain_completions() == [(fid, True, "", [False])]
    assert poller.poll(0) == [], "drain_completions() left the fd readable"
    assert conn.drain_completions() == []


def test_views_referenced_until_drained(conn: KvtierConnector) -> None:
    size = chunk_bytes(KNOBS)
    keys = [lmc_key(f"held{i}") for i in range(4)]
    arrays = [np.frombuffer(payload(k, size), dtype=np.uint8).copy() for k in keys]
    refs = [weakref.ref(a) for a in arrays]
    fid = conn.submit_batch_set(keys, [memoryview(a) for a in arrays])
    del arrays
    gc.collect()
    assert all(r() is not None for r in refs), "a view was released before its drain"
    poller = select.poll()
    poller.register(conn.event_fd(), select.POLLIN)
    done: list[Completion] = []
    deadline = time.monotonic() + 30
    while not any(c[0] == fid for c in done) and time.monotonic() < deadline:
        poller.poll(500)
        done += conn.drain_completions()
    assert [c[:2] for c in done] == [(fid, True)]
    gc.collect()
    assert all(r() is None for r in refs), "views still held after their drain"


def test_concurrent_submitters(driver: Driver) -> None:
    """LMCache's store, lookup and load paths submit from different threads."""
    size = chunk_bytes(KNOBS)
    errors: list[str] = []

    def worker(t: int) -> None:
        for r in range(10):
            keys = [lmc_key(f"t{t}r{r}k{i}") for i in range(4)]
            if driver.wait(driver.submit("set", keys, views_of(keys, size)))[3] != [True] * 4:
                errors.append(f"set {t}/{r}")
            outs = [bytearray(size) for _ in keys]
            res = driver.wait(driver.submit("get", keys, [memoryview(o) for o in outs]))[3]
            if res != [True] * 4 or any(bytes(o) != payload(k, size)
                                        for k, o in zip(keys, outs)):
                errors.append(f"get {t}/{r}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert len(set(driver.submitted)) == len(driver.submitted) == 80


def test_close_with_work_in_flight(tmp_path: Path) -> None:
    size = chunk_bytes(KNOBS)
    conn = KvtierConnector(l2_adapters=fs_tier(tmp_path), **KNOBS)
    sets: dict[int, list[str]] = {}
    others: list[int] = []
    for n in range(24):
        keys = [lmc_key(f"c{n}k{i}") for i in range(8)]
        sets[conn.submit_batch_set(keys, views_of(keys, size))] = keys
        others.append(conn.submit_batch_get(keys, [memoryview(bytearray(size)) for _ in keys]))
        others.append(conn.submit_batch_exists(keys))
    conn.close()
    conn.close()  # idempotent
    done = conn.drain_completions()
    ids = [c[0] for c in done]
    assert sorted(ids) == sorted(list(sets) + others), "a batch was lost or reported twice"
    assert conn.drain_completions() == []
    for fid, ok, err, res in done:
        assert ok or err, f"future {fid} failed without a reason"
        if ok and res is not None:
            assert len(res) == 8
    with pytest.raises(kvtier.Error) as exc:
        conn.submit_batch_exists([lmc_key("late")])
    assert exc.value.errno == errno.ESHUTDOWN
    # every set reported stored is durable in the fs tier
    stored = [k for fid, ok, _, res in done if fid in sets and ok
              for k, hit in zip(sets[fid], res or []) if hit]
    assert stored, "no set completed before close"
    with kvtier.Store(l2_adapters=json.dumps(fs_tier(tmp_path)), **KNOBS) as store:
        bufs = [bytearray(size) for _ in stored]
        got = store.get(store.keys(stored), bufs)
        assert got == [size] * len(stored)
        assert all(bytes(b) == payload(k, size) for k, b in zip(stored, bufs))


def test_close_that_cannot_wait_fails_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no time to wait, close() reports what is left failed and frees every view."""
    monkeypatch.setattr("kvtier.lmcache.CLOSE_WAIT_S", 0.0)
    size = chunk_bytes(BIG_KNOBS)
    conn = KvtierConnector(**BIG_KNOBS)
    batches = [[lmc_key(f"f{n}k{i}") for i in range(16)] for n in range(8)]
    arrays = [[np.full(size, n, dtype=np.uint8) for _ in keys] for n, keys in enumerate(batches)]
    refs = [weakref.ref(a) for batch in arrays for a in batch]
    ids = [conn.submit_batch_set(keys, [memoryview(a) for a in batch])
           for keys, batch in zip(batches, arrays)]
    del arrays
    conn.close()
    done = conn.drain_completions()
    assert sorted(c[0] for c in done) == sorted(ids), "a batch was lost or reported twice"
    assert all(ok or err for _, ok, err, _ in done)
    assert not all(ok for _, ok, _, _ in done), "nothing was left in flight to fail"
    gc.collect()
    assert all(r() is None for r in refs), "a view outlived close()"


CHILD = r"""
import json, select, sys, hashlib
from kvtier.lmcache import KvtierConnector

knobs = json.loads(sys.argv[1])
size = int(sys.argv[2])

def lmc_key(name):
    return "test/lmcache@00000000@0@" + hashlib.sha256(name.encode()).hexdigest()

def payload(key, n):
    seed = hashlib.blake2b(key.encode()).digest()
    return (seed * (n // len(seed) + 1))[:n]

def views(keys):
    return [memoryview(bytearray(payload(k, size))) for k in keys]

done = {}

def wait(conn, fid):
    poller = select.poll()
    poller.register(conn.event_fd(), select.POLLIN)
    while fid not in done:
        poller.poll(1000)
        done.update((c[0], c) for c in conn.drain_completions())
    return done.pop(fid)

conn = KvtierConnector(**knobs)
keys = [lmc_key("durable%d" % i) for i in range(16)]
assert wait(conn, conn.submit_batch_set(keys, views(keys)))[3] == [True] * 16
conn.close()
print("durable", flush=True)

conn = KvtierConnector(**knobs)
inflight = []
n = 0
while True:
    keys = [lmc_key("b%d_%d" % (n, i)) for i in range(16)]
    inflight.append(conn.submit_batch_set(keys, views(keys)))
    print("submitted %d" % n, flush=True)
    n += 1
    if len(inflight) >= 4:
        wait(conn, inflight.pop(0))
"""


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3])
def test_plugin_killed_mid_batch_leaves_nothing_torn(tmp_path: Path, delay: float) -> None:
    """SIGKILL while batches are being written: every key reads whole or not at all."""
    knobs = {**BIG_KNOBS, "l2_adapters": fs_tier(tmp_path)}
    size = chunk_bytes(BIG_KNOBS)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(knobs), str(size)],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("submitted 2"):
                break
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, lines
    lines += rest.splitlines()
    assert "durable" in lines, lines
    batches = max(int(l.split()[1]) for l in lines if l.startswith("submitted")) + 1

    durable = [lmc_key(f"durable{i}") for i in range(16)]
    maybe = [lmc_key(f"b{n}_{i}") for n in range(batches) for i in range(16)]
    with kvtier.Store(l2_adapters=json.dumps(fs_tier(tmp_path)), **BIG_KNOBS) as store:
        for keys, must in ((durable, True), (maybe, False)):
            bufs = [bytearray(size) for _ in keys]
            got = store.get(store.keys(keys), bufs)
            for key, n, buf in zip(keys, got, bufs):
                if n is None:
                    assert not must, f"{key}: written and closed before the kill, now gone"
                    continue
                assert n == size, f"{key}: {n} of {size} bytes: torn"
                assert bytes(buf) == payload(key, size), f"{key}: wrong bytes"
