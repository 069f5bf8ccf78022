# SPDX-License-Identifier: Apache-2.0
"""kvtier as an LMCache multiprocess L2 tier, through LMCache's ``native_plugin``.

LMCache's server loads it with::

    --l2-adapter '{"type": "native_plugin", "module_path": "kvtier.lmcache",
                   "class_name": "KvtierConnector",
                   "adapter_params": {"config": "/etc/kvtier.yaml"}}'

The contract followed is LMCache's, read at these commits of LMCache/LMCache:

- ``docs/source/developer_guide/extending_lmcache/native_connectors.rst``
  @ 05d4437c6ebf4d9f1373921222b1ca5313eb03d9 (the connector protocol);
- ``lmcache/v1/distributed/l2_adapters/native_plugin_l2_adapter.py``
  @ 68c638a6a8e86d9ec0867ff51fe445b4b3e75503 (``connector_cls(**adapter_params)``,
  then a check that the six methods are callable; ``submit_batch_delete`` is
  optional there and provided here);
- ``lmcache/v1/distributed/l2_adapters/native_connector_l2_adapter.py``
  @ 0b43a45563fe5c25dc80ac9f8be16d3f20d86b22 (the driver: it reads ``event_fd()``
  once, submits under its own lock and records the returned id afterwards, and a
  demux thread polls the fd for POLLIN, calls ``drain_completions()`` and never
  reads the fd itself; it calls ``close()`` after stopping that thread).

Keys arrive as LMCache's opaque strings (``model@rank@group@hash[@salt]``); each
batch is turned into kvtier keys by one ``Store.keys()`` call, in C.  The work
runs on kvtier's threads: every submit returns at once with a future id, and
the buffers stay referenced by the Store until their completion is drained.
"""

from __future__ import annotations

import errno
import json
import select
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import kvtier

__all__ = ["KvtierConnector"]

#: What ``drain_completions()`` returns per finished batch: (future id, ok,
#: error text or "", per-key results or None), LMCache's completion tuple.
Completion = tuple[int, bool, str, list[bool] | None]

#: How long ``close()`` waits for batches still in flight before it closes the
#: Store anyway and reports them failed.  LMCache's own synchronous delete waits
#: 30 s for a completion; a close should not wait longer than that.
CLOSE_WAIT_S = 30.0

_CLOSED_TEXT = "kvtier connector closed before the batch completed"


def _knob(value: Any) -> Any:
    """A kvtier knob value from an ``adapter_params`` value.

    ``adapter_params`` comes from JSON, so a knob whose kvtier value is JSON
    text (``l2_adapters``) may arrive as a list or an object: it is passed on as
    JSON text.  Scalars go through unchanged for the Store to check.
    """
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


class KvtierConnector:
    """LMCache native connector over one ``kvtier.Store``.

    Every method may be called from any thread.  Submits and drains share one
    short lock, so an id returned by a submit is always recorded as in flight
    before a concurrent drain can report it; LMCache relies on the ids being
    unique, and they are the Store's, which never reuses one.
    """

    def __init__(self, config: str | dict[str, Any] | None = None, **knobs: Any) -> None:
        """Open the Store.

        Args:
            config: a kvtier YAML path (or a dict of knobs), the ``config``
                entry of LMCache's ``adapter_params``.
            **knobs: every other ``adapter_params`` entry, a kvtier knob that
                overrides the file (``max_local_cpu_size``, ``l2_adapters``...).

        Raises:
            kvtier.Error: the config is malformed or kvtier cannot open it;
                LMCache then fails to create the adapter, naming the reason.
        """
        self._store = kvtier.Store(config, **{k: _knob(v) for k, v in knobs.items()})
        self._fd: int = self._store.event_fd()
        self._lock = threading.Lock()
        self._inflight: set[int] = set()
        # Completions collected by close() for drain_completions() to return.
        self._finished: list[Completion] = []
        self._closing = False
        self._store_closed = False

    def event_fd(self) -> int:
        """The fd LMCache polls: readable while completions wait to be drained."""
        return self._fd

    def submit_batch_get(self, keys: Sequence[str], memoryviews: Sequence[Any]) -> int:
        """Load each key into its writable view; per-key result: loaded."""
        return self._submit(self._store.submit_get, keys, memoryviews)

    def submit_batch_set(self, keys: Sequence[str], memoryviews: Sequence[Any]) -> int:
        """Store each view under its key; per-key result: stored or already there."""
        return self._submit(self._store.submit_set, keys, memoryviews)

    def submit_batch_exists(self, keys: Sequence[str]) -> int:
        """Per-key presence, not a prefix: LMCache builds a bitmap from it."""
        return self._submit(self._store.submit_exists, keys)

    def submit_batch_delete(self, keys: Sequence[str]) -> int:
        """Remove each key; per-key result: deleted (False if absent)."""
        return self._submit(self._store.submit_delete, keys)

    def drain_completions(self) -> list[Completion]:
        """Every completion not yet returned, and the event fd reset.

        Safe to call when nothing is ready (it returns ``[]``) and after
        ``close()``, when it returns what close() collected, then ``[]``.
        """
        with self._lock:
            done = self._finished
            self._finished = []
            if not self._store_closed:
                done.extend(self._store.drain())
            for completion in done:
                self._inflight.discard(completion[0])
        return done

    def close(self) -> None:
        """Finish or fail the batches in flight, then close the Store.

        New submits are refused at once.  Batches in flight get up to
        ``CLOSE_WAIT_S`` to complete (their real results are kept for
        ``drain_completions()``); any still running then is reported failed,
        and the Store's close waits for it and releases its buffers, so no
        kvtier thread touches a view after this returns.  Idempotent.
        """
        with self._lock:
            if self._closing:
                return
            self._closing = True
        try:
            self._wait_inflight()
        finally:
            with self._lock:
                self._store.close()
                self._store_closed = True
                for fid in sorted(self._inflight):
                    self._finished.append((fid, False, _CLOSED_TEXT, None))
                self._inflight.clear()

    def _wait_inflight(self) -> None:
        """Drain into ``_finished`` until nothing is in flight or time is up."""
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        deadline = time.monotonic() + CLOSE_WAIT_S
        while True:
            with self._lock:
                for completion in self._store.drain():
                    self._inflight.discard(completion[0])
                    self._finished.append(completion)
                if not self._inflight:
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            poller.poll(min(left, 0.1) * 1000)

    def _submit(self, submit: Callable[..., int], keys: Sequence[str], *bufs: Any) -> int:
        """Map @keys in one C call, then submit under the lock and record the id.

        Raises:
            kvtier.Error: the connector is closed (errno ESHUTDOWN), or kvtier
                refused the batch; nothing is then in flight for it.
            TypeError, ValueError: malformed keys or buffers.
        """
        kv_keys = self._store.keys(list(keys))
        with self._lock:
            if self._closing:
                raise kvtier.Error(errno.ESHUTDOWN, "kvtier connector is closed")
            fid = submit(kv_keys, *[list(b) for b in bufs])
            self._inflight.add(fid)
        return fid
