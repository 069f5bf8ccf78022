# SPDX-License-Identifier: Apache-2.0
"""kvtier as SGLang HiCache's L3 storage, through its ``dynamic`` backend.

Enabled with::

    --hicache-storage-backend dynamic
    --hicache-storage-backend-extra-config '{"backend_name": "kvtier",
        "module_path": "kvtier.sglang", "class_name": "KvtierStorage",
        "interface_v1": 1, "kvtier_config": "/etc/kvtier.yaml"}'

The contract followed is SGLang's, read at these commits of sgl-project/sglang:

- ``python/sglang/srt/mem_cache/hicache_storage.py``
  @ 001067fffe33427bee0ed2f007fb7551a1d76b44: ``HiCacheStorage`` (the methods
  below) and ``HiCacheStorageConfig`` (tp/pp/attn_cp ranks, ``model_name``,
  ``extra_config``);
- ``python/sglang/srt/mem_cache/storage/backend_factory.py`` @ the same commit:
  a ``dynamic`` backend must subclass ``HiCacheStorage`` and is built as
  ``cls(storage_config, kwargs)``, ``kwargs`` being the factory's own (empty)
  keyword dict; our settings come from ``storage_config.extra_config``;
- ``python/sglang/srt/managers/cache_controller.py`` @ the same commit: it calls
  ``register_mem_pool_host`` right after construction, and with
  ``interface_v1`` true its prefetch thread calls ``batch_exists`` (leading
  pages present) then ``batch_get_v1`` and its backup thread ``batch_set_v1``,
  both with ``host_indices`` of ``len(keys) * page_size`` token slots, in
  batches of at most 128 pages; a ``None`` result kills those threads;
- ``python/sglang/srt/mem_cache/pool_host/mha.py``
  @ 0047d999bb3a3ad311df5a4b6356bfb5586e0d66: ``get_page_buffer_meta(indices)``
  returns ``(ptrs, sizes)`` with the same number of parts for every page (K
  and V for MHA, one per layer pair for ``layer_first``, one for MLA), page by
  page, and part sizes that may differ (K and V of unequal head dims).

extra_config keys read here: ``kvtier_config`` (a kvtier YAML path),
``kvtier_knobs`` (a dict of kvtier knobs over the file; the namespace knobs
worker_id, world_size and model_name are always SGLang's) and ``interface_v1``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import torch

import kvtier

try:
    from sglang.srt.mem_cache.hicache_storage import HiCacheStorage
except ImportError:
    from abc import ABC, abstractmethod

    class HiCacheStorage(ABC):  # type: ignore[no-redef]
        """Stand-in for SGLang's base class when SGLang is not installed.

        The interface of ``HiCacheStorage`` in
        sgl-project/sglang ``python/sglang/srt/mem_cache/hicache_storage.py``
        @ 001067fffe33427bee0ed2f007fb7551a1d76b44, reduced to what a storage
        backend is called through (the v2 pool-transfer methods are left out:
        SGLang raises NotImplementedError for them by default too), so the
        backend can be loaded and tested without SGLang.
        """

        def register_mem_pool_host(self, mem_pool_host: Any) -> None:
            self.mem_pool_host = mem_pool_host

        def batch_get_v1(self, keys: list[str], host_indices: Any,
                         extra_info: Any = None) -> list[bool]:
            raise NotImplementedError()

        def batch_set_v1(self, keys: list[str], host_indices: Any,
                         extra_info: Any = None) -> list[bool]:
            raise NotImplementedError()

        @abstractmethod
        def get(self, key: str, target_location: Any = None,
                target_sizes: Any = None) -> Any:
            """The value of @key, or None when absent."""

        @abstractmethod
        def batch_get(self, keys: list[str], target_locations: Any = None,
                      target_sizes: Any = None) -> Any:
            """Values (or None) of @keys."""

        @abstractmethod
        def set(self, key: str, value: Any = None, target_location: Any = None,
                target_sizes: Any = None) -> bool:
            """Store @value under @key; True on success."""

        @abstractmethod
        def batch_set(self, keys: list[str], values: Any = None,
                      target_locations: Any = None, target_sizes: Any = None) -> bool:
            """Store every value; True when all succeeded."""

        @abstractmethod
        def exists(self, key: str) -> bool:
            """Whether @key is stored."""

        def batch_exists(self, keys: list[str], extra_info: Any = None) -> int:
            for i, key in enumerate(keys):
                if not self.exists(key):
                    return i
            return len(keys)

        def clear(self) -> None:
            pass

        def get_stats(self) -> Any:
            return None


__all__ = ["HiCacheStorage", "KvtierStorage"]

logger = logging.getLogger(__name__)

#: Separator between a page's key and the index of one of its parts (v1 path).
_PART_SEP = "#"


def _namespace_knobs(storage_config: Any) -> dict[str, Any]:
    """kvtier's namespace knobs for this SGLang worker.

    TP, attention-CP and PP ranks each hold a different slice of a page
    (heads, a CP share, layers), so each gets its own kvtier worker_id out of a
    world of tp * cp * pp: a rank never reads another's bytes under the same
    page hash.  Attention-DP replicas hold the same slices, so, as in SGLang's
    own file and Mooncake backends, the DP rank is left out and they share.
    """
    tp_rank, tp_size = int(storage_config.tp_rank), int(storage_config.tp_size)
    cp_rank = int(getattr(storage_config, "attn_cp_rank", 0) or 0)
    cp_size = int(getattr(storage_config, "attn_cp_size", 1) or 1)
    pp_rank = int(getattr(storage_config, "pp_rank", 0) or 0)
    pp_size = int(getattr(storage_config, "pp_size", 1) or 1)
    knobs: dict[str, Any] = {
        "worker_id": (pp_rank * cp_size + cp_rank) * tp_size + tp_rank,
        "world_size": pp_size * cp_size * tp_size,
    }
    if storage_config.model_name:
        knobs["model_name"] = str(storage_config.model_name)
    return knobs


def _knob(value: Any) -> Any:
    """A kvtier knob value from the JSON extra config.

    A knob whose kvtier value is JSON text (``l2_adapters``) is naturally
    written nested in SGLang's JSON, as a list or an object: it is passed on
    as JSON text.  Scalars go through unchanged for the Store to check.
    """
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _nbytes(buf: Any) -> int:
    """Size in bytes of a tensor or of any buffer-protocol object."""
    if isinstance(buf, torch.Tensor):
        return buf.numel() * buf.element_size()
    return memoryview(buf).nbytes


class KvtierStorage(HiCacheStorage):
    """HiCache L3 storage over one ``kvtier.Store`` per SGLang worker.

    Page keys are SGLang's hash strings; each call maps its batch to kvtier keys
    with one ``Store.keys()`` call.  The v1 methods copy between kvtier and the
    host pool's own memory (no staging): a page of ``n`` parts in
    ``get_page_buffer_meta()`` order is kept as ``n`` kvtier entries, and is
    present, loaded or stored only when all ``n`` are.  Failures of kvtier
    itself raise; a page that is absent or failed is ``False``/``None``.
    """

    def __init__(self, storage_config: Any, kwargs: dict[str, Any] | None = None) -> None:
        """Open the Store for this worker.

        Args:
            storage_config: SGLang's ``HiCacheStorageConfig``.
            kwargs: the factory's keyword dict (empty in SGLang today); unused,
                taken so the factory's ``cls(storage_config, kwargs)`` works.

        Raises:
            kvtier.Error: kvtier cannot open with this configuration.
        """
        extra = dict(storage_config.extra_config or {})
        knobs = {k: _knob(v) for k, v in (extra.get("kvtier_knobs") or {}).items()}
        knobs.update(_namespace_knobs(storage_config))
        self._v1 = bool(extra.get("interface_v1", 0))
        self._store = kvtier.Store(extra.get("kvtier_config"), **knobs)
        self._parts = 1
        self.mem_pool_host: Any = None

    def register_mem_pool_host(self, mem_pool_host: Any) -> None:
        """Keep the host pool, and learn how many parts its pages have.

        With ``interface_v1`` the first page's metadata is read once, so that
        ``batch_exists`` can check every part of a page even before the first
        v1 call (a restarted worker prefetches before it backs anything up).

        Raises:
            ValueError: a page part is larger than a kvtier chunk
                (``chunk_bytes``), so it could never be stored.
        """
        super().register_mem_pool_host(mem_pool_host)
        if not self._v1:
            return
        page = torch.arange(int(mem_pool_host.page_size), dtype=torch.int64)
        _, sizes = self._meta(page)
        if not sizes:
            raise ValueError("get_page_buffer_meta gave no parts for a page")
        self._parts = len(sizes)
        largest = max(sizes)
        if largest > self._store.chunk_bytes:
            raise ValueError(
                f"a host page part is {largest} bytes but a kvtier chunk is "
                f"{self._store.chunk_bytes}: raise chunk_size, kv_layers, kv_heads "
                "or head_dim in the kvtier config")

    def exists(self, key: str) -> bool:
        return self.batch_exists([key]) == 1

    def batch_exists(self, keys: list[str], extra_info: Any = None) -> int:
        """How many leading pages are stored whole (every part present)."""
        present = self._store.contains(self._store.keys(self._part_ids(keys)))
        return present // self._parts

    def set(self, key: str, value: Any = None, target_location: Any = None,
            target_sizes: Any = None) -> bool:
        values = None if value is None else [value]
        locations = None if target_location is None else [target_location]
        sizes = None if target_sizes is None else [target_sizes]
        return self.batch_set([key], values, locations, sizes)

    def batch_set(self, keys: list[str], values: Any = None, target_locations: Any = None,
                  target_sizes: Any = None) -> bool:
        """Store one whole buffer per key: tensors, buffer objects, or addresses.

        True when every key is stored or was already there.
        """
        kv_keys = self._store.keys(list(keys))
        if values is not None:
            results = self._store.put(kv_keys, list(values))
        elif target_locations is not None and target_sizes is not None:
            results = self._store.put_ptrs(kv_keys, [int(p) for p in target_locations],
                                           [int(s) for s in target_sizes])
        else:
            raise ValueError("batch_set needs values, or target_locations with target_sizes")
        return all(r >= 0 for r in results)

    def get(self, key: str, target_location: Any = None, target_sizes: Any = None) -> Any:
        locations = None if target_location is None else [target_location]
        sizes = None if target_sizes is None else [target_sizes]
        return self.batch_get([key], locations, sizes)[0]

    def batch_get(self, keys: list[str], target_locations: Any = None,
                  target_sizes: Any = None) -> list[Any]:
        """Fill each target with its key's value; None where the key is absent.

        A target is a tensor or writable buffer (returned filled, as SGLang's
        file backend does) or, with ``target_sizes``, an address (returned as
        is).  Without targets a flat page of the registered pool is allocated
        per key.  A value whose size differs from its target is a miss.
        """
        kv_keys = self._store.keys(list(keys))
        if target_sizes is not None:
            if target_locations is None:
                raise ValueError("target_sizes needs target_locations (addresses)")
            targets = list(target_locations)
            sizes = [int(s) for s in target_sizes]
            got = self._store.get_ptrs(kv_keys, [int(p) for p in targets], sizes)
        else:
            if target_locations is not None:
                targets = list(target_locations)
            elif self.mem_pool_host is not None:
                targets = [self.mem_pool_host.get_dummy_flat_data_page() for _ in keys]
            else:
                raise RuntimeError("batch_get without targets needs register_mem_pool_host()")
            sizes = [_nbytes(t) for t in targets]
            got = self._store.get(kv_keys, targets)
        out: list[Any] = []
        for key, target, size, n in zip(keys, targets, sizes, got):
            if n is not None and n != size:
                logger.warning("kvtier page %s holds %d bytes, its target %d: a miss",
                               key, n, size)
            out.append(target if n == size else None)
        return out

    def batch_set_v1(self, keys: list[str], host_indices: Any,
                     extra_info: Any = None) -> list[bool]:
        """Store pages straight from the host pool; per page: stored whole."""
        ptrs, sizes = self._page_meta(host_indices, len(keys))
        results = self._store.put_ptrs(self._store.keys(self._part_ids(keys)), ptrs, sizes)
        return self._per_page([r >= 0 for r in results])

    def batch_get_v1(self, keys: list[str], host_indices: Any,
                     extra_info: Any = None) -> list[bool]:
        """Load pages straight into the host pool; per page: every part loaded whole."""
        ptrs, sizes = self._page_meta(host_indices, len(keys))
        got = self._store.get_ptrs(self._store.keys(self._part_ids(keys)), ptrs, sizes)
        return self._per_page([n == size for n, size in zip(got, sizes)])

    def close(self) -> None:
        """Close the Store (SGLang calls this when it detaches the backend)."""
        self._store.close()

    def _part_ids(self, keys: Sequence[str]) -> list[str]:
        """kvtier ids of every part of every page, page by page."""
        if self._parts == 1:
            return list(keys)
        return [f"{key}{_PART_SEP}{j}" for key in keys for j in range(self._parts)]

    def _per_page(self, part_ok: list[bool]) -> list[bool]:
        n = self._parts
        return [all(part_ok[i:i + n]) for i in range(0, len(part_ok), n)]

    def _page_meta(self, host_indices: Any, npages: int) -> tuple[list[int], list[int]]:
        """The host pool's (ptrs, sizes) for @npages pages of ``_parts`` parts.

        Raises:
            RuntimeError: the v1 path is used without ``interface_v1`` (pages
                would be kept in parts that ``batch_exists`` does not look
                for), or before ``register_mem_pool_host()``.
            ValueError: the metadata does not cover @npages pages.
        """
        if not self._v1:
            raise RuntimeError('the v1 calls need "interface_v1": 1 in the extra config')
        if self.mem_pool_host is None:
            raise RuntimeError("the v1 calls need register_mem_pool_host() first")
        ptrs, sizes = self._meta(host_indices)
        if len(ptrs) != npages * self._parts:
            raise ValueError(f"get_page_buffer_meta gave {len(ptrs)} parts for "
                             f"{npages} pages of {self._parts} parts")
        return ptrs, sizes

    def _meta(self, host_indices: Any) -> tuple[list[int], list[int]]:
        """``get_page_buffer_meta`` as two int lists (some pools give one size).

        Raises:
            ValueError: pointers and sizes differ in number, or a size is <= 0.
        """
        ptrs, sizes = self.mem_pool_host.get_page_buffer_meta(host_indices)
        ptrs = [int(p) for p in ptrs]
        sizes = [int(sizes)] * len(ptrs) if isinstance(sizes, int) else [int(s) for s in sizes]
        if len(ptrs) != len(sizes) or any(n <= 0 for n in sizes):
            raise ValueError(f"get_page_buffer_meta gave {len(ptrs)} pointers and sizes {sizes}")
        return ptrs, sizes
