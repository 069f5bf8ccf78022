# SPDX-License-Identifier: Apache-2.0
"""kvtier: an LLM engine's KV cache in tiers (DRAM, Device-DAX, a CXL pool, a
filesystem, Redis/Valkey), from Python.

    import kvtier
    with kvtier.Store("/etc/kvtier.yaml", max_local_cpu_size=8) as store:
        keys = store.chunk_keys(token_ids)
        store.put(keys, chunks)               # bytes, bytearray, numpy, CPU torch
        hits = store.contains(keys)           # the cached prefix
        lengths = store.get(keys[:hits], bufs)

Every batch call is one C call that releases the GIL while kvtier works;
buffers are used in place, never copied in Python.  Keys are 16-byte
``bytes``: ``chunk_keys(tokens)`` for token prefixes, ``key(id)`` for an
engine's own ids (the same key in every process with the same namespace).

The asynchronous calls come in two forms over one stream of completions,
and a Store uses one of them: asyncio (``await store.aget(...)``,
``await store.prefetch(...)``), or the raw ``submit_*()`` / ``event_fd()``
/ ``drain()`` that engine plug-ins poll themselves (kvtier.lmcache).
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno as _errno
import os
import sys
from typing import Any, Iterator, Mapping

from . import _kvtier
from ._kvtier import (BusyError, ClosedError, ConfigError, Error, NoSpaceError,
                      NotFoundError, TimeoutError)

__all__ = ["Store", "Error", "ClosedError", "BusyError", "NoSpaceError", "TimeoutError",
           "NotFoundError", "ConfigError"]


def _torch_buffer(obj: Any) -> Any:
    """A CPU torch tensor's memory as a numpy byte array over the same bytes,
    for the C extension (torch tensors have no buffer protocol)."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(obj, torch.Tensor):
        raise TypeError("no buffer")
    if obj.device.type != "cpu":
        raise ValueError("a %s tensor: kvtier reads and writes host memory; use a CPU "
                         "(pinned) tensor" % obj.device.type)
    if not obj.is_contiguous():
        raise ValueError("a non-contiguous tensor")
    return obj.reshape(-1).view(torch.uint8).numpy()


_kvtier._set_buffer_adapter(_torch_buffer)


class Store(_kvtier.Store):
    """One kvtier instance.

    ``config`` is a YAML file (LMCache's format) or a dict of knobs;
    ``knobs`` are kvtier's config keys, dotted as in YAML
    (``Store(**{"dax.mode": "tiered"})``), applied after the file and the
    ``KVT_*`` environment.  A context manager; ``close()`` is idempotent and
    waits for the calls in flight.

    Threads: any, concurrently.  The C threads behind it never call back
    into Python.
    """

    def __init__(self, config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                 **knobs: Any) -> None:
        if isinstance(config, Mapping):
            knobs = {**config, **knobs}
            config = None
        elif config is not None:
            config = os.fspath(config)
        super().__init__(config, knobs)
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the calls in flight, then close; pending awaitables fail
        with ClosedError."""
        if self._loop is not None and not self.closed:
            self._loop.remove_reader(self.event_fd())
            self._loop = None
        super().close()
        waiters, self._waiters = self._waiters, {}
        for fut in waiters.values():
            if not fut.done():
                fut.get_loop().call_soon_threadsafe(
                    _fail, fut, ClosedError(_errno.ESHUTDOWN, "kvtier.Store closed"))

    @contextlib.contextmanager
    def borrow(self, key: bytes) -> Iterator[memoryview]:
        """Read a chunk in place (L1 or DAX): a read-only memoryview.  The
        chunk stays readable, even if removed or evicted meanwhile, as long
        as anything uses its bytes; close() refuses until then."""
        lease = super().borrow(key)
        raw = (ctypes.c_ubyte * lease.length).from_address(lease.address)
        raw._kvtier_lease = lease  # type: ignore[attr-defined]  # the bytes live with it
        del lease
        view = memoryview(raw).cast("B").toreadonly()
        del raw
        try:
            yield view
        finally:
            view.release()

    def prefetch(self, keys: list[bytes], bufs: list[Any]) -> "asyncio.Future[list[int | None]]":
        """Restore the cached prefix of ``keys`` into ``bufs`` on kvtier's
        restore workers; the future gives each key's length (None past the
        prefix).  The buffers must stay untouched until it is done."""
        return self._await(super().prefetch(keys, bufs))

    async def aget(self, keys: list[bytes], bufs: list[Any]) -> list[int | None]:
        """get() without blocking the event loop: positional, None for holes."""
        return await self._await(self.submit_get(keys, bufs, True))

    def _await(self, future_id: int) -> "asyncio.Future[Any]":
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                self._loop.remove_reader(self.event_fd())
            loop.add_reader(self.event_fd(), self._on_completions)
            self._loop = loop
        fut = loop.create_future()
        self._waiters[future_id] = fut
        return fut

    def _on_completions(self) -> None:
        for future_id, ok, error, results in self.drain():
            fut = self._waiters.pop(future_id, None)
            if fut is None or fut.done():
                continue
            if ok:
                fut.set_result(results)
            else:
                fut.set_exception(Error(_errno.EIO, error))


def _fail(fut: "asyncio.Future[Any]", exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
