# SPDX-License-Identifier: Apache-2.0
"""kvtier.sglang.KvtierStorage driven as SGLang HiCache drives a storage backend.

SGLang is not installed here.  What the tests take from it, at these commits of
sgl-project/sglang:

- ``HiCacheStorageConfig``: ``python/sglang/srt/mem_cache/hicache_storage.py``
  @ 001067fffe33427bee0ed2f007fb7551a1d76b44 (copied below when SGLang is
  absent; the base class then comes from kvtier.sglang's stand-in);
- loading: ``python/sglang/srt/mem_cache/storage/backend_factory.py`` @ the same
  commit (``_create_dynamic_backend``: import, subclass check,
  ``cls(storage_config, kwargs)``), then ``register_mem_pool_host`` as
  ``python/sglang/srt/managers/cache_controller.py`` @ the same commit does;
- the host pool: ``MHATokenToKVPoolHost``/``MLATokenToKVPoolHost`` page_first
  layout and ``get_page_buffer_meta`` (K and V per page, or one latent part),
  ``python/sglang/srt/mem_cache/pool_host/mha.py``
  @ 0047d999bb3a3ad311df5a4b6356bfb5586e0d66, rebuilt over a CPU torch tensor
  so the pointers are real;
- the calls: the prefetch thread's ``batch_exists`` then ``batch_get_v1`` and
  the backup thread's ``batch_set_v1``, pages in batches, from two threads.
"""

from __future__ import annotations

import importlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
import torch

import kvtier
from kvtier.sglang import KvtierStorage

try:
    from sglang.srt.mem_cache.hicache_storage import HiCacheStorage, HiCacheStorageConfig
except ImportError:
    from kvtier.sglang import HiCacheStorage

    @dataclass
    class HiCacheStorageConfig:  # type: ignore[no-redef]
        """SGLang's, from hicache_storage.py @ 001067fffe33427bee0ed2f007fb7551a1d76b44."""

        tp_rank: int
        tp_size: int
        pp_rank: int
        pp_size: int
        attn_cp_rank: int
        attn_cp_size: int
        is_mla_model: bool
        enable_storage_metrics: bool
        is_page_first_layout: bool
        model_name: Optional[str]
        dp_rank: int = 0
        dp_size: int = 1
        tp_lcm_size: Optional[int] = None
        should_split_heads: bool = False
        extra_config: Optional[dict] = None


#: 4 KiB kvtier chunks (16 x 1 x 1 x 64 x K,V x bfloat16); a host page part is 512 bytes.
KNOBS = {"max_local_cpu_size": "0.05", "chunk_size": "16", "kv_layers": "1",
         "kv_heads": "1", "head_dim": "64"}
PAGE = 4


class PageFirstHostPool:
    """A host KV pool laid out as SGLang's page_first pools, with real memory.

    ``mla=False``: ``kv_buffer`` is (2, size, layers, heads, dim) and a page has
    two parts, K then V; ``mla=True``: (size, layers, 1, dim), one part.
    """

    def __init__(self, pages: int = 32, layers: int = 2, heads: int = 2, dim: int = 16,
                 mla: bool = False) -> None:
        self.page_size = PAGE
        self.size = pages * PAGE
        self.layout = "page_first"
        self.dtype = torch.bfloat16
        self.layer_num, self.head_num, self.head_dim, self.mla = layers, heads, dim, mla
        shape = (self.size, layers, 1, dim) if mla else (2, self.size, layers, heads, dim)
        self.kv_buffer = torch.zeros(shape, dtype=self.dtype)

    def token_bytes(self) -> int:
        heads = 1 if self.mla else self.head_num
        itemsize = torch.empty(0, dtype=self.dtype).element_size()  # torch 1.13: no .itemsize
        return self.layer_num * heads * self.head_dim * itemsize

    def get_page_buffer_meta(self, indices: torch.Tensor) -> tuple[list[int], list[int]]:
        assert len(indices) % self.page_size == 0
        base = self.kv_buffer.data_ptr()
        v_offset = self.size * self.token_bytes()
        ptrs: list[int] = []
        for first in indices.tolist()[::self.page_size]:
            k_ptr = base + first * self.token_bytes()
            ptrs += [k_ptr] if self.mla else [k_ptr, k_ptr + v_offset]
        return ptrs, [self.page_size * self.token_bytes()] * len(ptrs)

    def get_data_page(self, index: int, flat: bool = True) -> torch.Tensor:
        if self.mla:
            return self.kv_buffer[index:index + PAGE].flatten()
        return self.kv_buffer[:, index:index + PAGE].flatten()

    def get_dummy_flat_data_page(self) -> torch.Tensor:
        return torch.zeros_like(self.get_data_page(0))

    def slots(self, first_page: int, npages: int) -> torch.Tensor:
        """host_indices of @npages pages from @first_page: npages * page_size slots."""
        return torch.arange(first_page * PAGE, (first_page + npages) * PAGE, dtype=torch.int64)

    def fill(self, first_page: int, npages: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        sl = slice(first_page * PAGE, (first_page + npages) * PAGE)
        view = self.kv_buffer[sl] if self.mla else self.kv_buffer[:, sl]
        view.copy_(torch.randn(view.shape, generator=gen).to(self.dtype))

    def page(self, p: int) -> torch.Tensor:
        """A copy of page @p (every part), to compare pages across slots."""
        return self.get_data_page(p * PAGE).clone()


def extra_config(tmp_path: Path, v1: bool, fs: Path | None = None) -> dict[str, Any]:
    """The --hicache-storage-backend-extra-config JSON, with a kvtier YAML file."""
    yaml_path = tmp_path / "kvtier.yaml"
    yaml_path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in KNOBS.items()))
    cfg: dict[str, Any] = {"backend_name": "kvtier", "module_path": "kvtier.sglang",
                           "class_name": "KvtierStorage", "interface_v1": int(v1),
                           "kvtier_config": str(yaml_path)}
    if fs is not None:
        # nested, as it is written in the JSON of --hicache-storage-backend-extra-config
        cfg["kvtier_knobs"] = {"l2_adapters": [{"type": "fs", "base_path": str(fs)}]}
    return cfg


def storage_config(extra: dict[str, Any], tp_rank: int = 0, tp_size: int = 1,
                   pp_rank: int = 0, pp_size: int = 1, mla: bool = False) -> Any:
    return HiCacheStorageConfig(
        tp_rank=tp_rank, tp_size=tp_size, pp_rank=pp_rank, pp_size=pp_size,
        attn_cp_rank=0, attn_cp_size=1, is_mla_model=mla, enable_storage_metrics=False,
        is_page_first_layout=True, model_name="Qwen/Qwen3-0.6B", extra_config=extra)


def create_backend(storage_cfg: Any, pool: Any) -> Any:
    """backend_factory._create_dynamic_backend, then cache_controller's register."""
    extra = storage_cfg.extra_config
    for field in ("backend_name", "module_path", "class_name"):
        assert field in extra
    cls = getattr(importlib.import_module(extra["module_path"]), extra["class_name"])
    assert issubclass(cls, HiCacheStorage)
    backend = cls(storage_cfg, {})
    backend.register_mem_pool_host(pool)
    return backend


def keys_of(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:04x}" * 4 for i in range(n)]


@pytest.mark.parametrize("mla", [False, True], ids=["mha-k-v", "mla-one-part"])
def test_v1_backup_then_prefetch(tmp_path: Path, mla: bool) -> None:
    pool = PageFirstHostPool(mla=mla)
    backend = create_backend(storage_config(extra_config(tmp_path, True), mla=mla), pool)
    try:
        assert backend.mem_pool_host is pool
        keys = keys_of("p", 6)
        pool.fill(0, 6, seed=1)
        # backup thread: pages 0..5 in two batches, _page_set_zero_copy's all(...)
        assert backend.batch_set_v1(keys[:4], pool.slots(0, 4)) == [True] * 4
        assert all(backend.batch_set_v1(keys[4:], pool.slots(4, 2)))
        # prefetch thread: hit query, then load into other host slots
        assert backend.batch_exists(keys + keys_of("q", 2)) == 6
        untouched = pool.page(20)
        assert backend.batch_get_v1(keys, pool.slots(10, 6)) == [True] * 6
        for i in range(6):
            assert torch.equal(pool.page(10 + i), pool.page(i)), f"page {i} differs"
        assert torch.equal(pool.page(20), untouched), "a load wrote past its pages"
        # a miss in the middle: the pages after it are still loaded, positionally
        got = backend.batch_get_v1([keys[0], "absent" * 8, keys[2]], pool.slots(16, 3))
        assert got == [True, False, True]
    finally:
        backend.close()


def test_v1_value_of_another_size_is_not_loaded(tmp_path: Path) -> None:
    """A key holding fewer bytes than a page part must not count as a loaded page."""
    pool = PageFirstHostPool(mla=True)
    backend = create_backend(storage_config(extra_config(tmp_path, True), mla=True), pool)
    try:
        keys = keys_of("s", 2)
        pool.fill(0, 1, seed=6)
        assert backend.batch_set_v1(keys[:1], pool.slots(0, 1)) == [True]
        assert backend.set(keys[1], torch.ones(100, dtype=torch.uint8))
        assert backend.batch_get_v1(keys, pool.slots(4, 2)) == [True, False]
        assert torch.equal(pool.page(4), pool.page(0))
    finally:
        backend.close()


def test_batch_exists_counts_leading_pages(tmp_path: Path) -> None:
    pool = PageFirstHostPool()
    backend = create_backend(storage_config(extra_config(tmp_path, True)), pool)
    try:
        keys = keys_of("e", 4)
        pool.fill(0, 4, seed=2)
        assert backend.batch_set_v1([keys[0], keys[1], keys[3]], pool.slots(0, 3)) == [True] * 3
        assert backend.batch_exists(keys) == 2
        assert backend.batch_exists(keys[3:]) == 1
        assert backend.batch_exists([]) == 0
        assert backend.exists(keys[1]) and not backend.exists(keys[2])
    finally:
        backend.close()


def test_generic_batch_set_then_batch_get(tmp_path: Path) -> None:
    """interface_v1 off: flat data pages through batch_set/batch_get (_generic_page_*)."""
    pool = PageFirstHostPool()
    backend = create_backend(storage_config(extra_config(tmp_path, False)), pool)
    try:
        keys = keys_of("g", 5)
        pool.fill(0, 5, seed=3)
        pages = [pool.get_data_page(i * PAGE) for i in range(5)]
        assert backend.batch_set(keys, pages) is True
        assert backend.set(keys[0], pages[0]) is True  # already there: still a success
        assert backend.batch_exists(keys + ["nope" * 8]) == 5
        dst = [pool.get_dummy_flat_data_page() for _ in range(6)]
        got = backend.batch_get(keys + ["nope" * 8], dst)
        assert got[5] is None
        for i in range(5):
            assert got[i] is dst[i] and torch.equal(got[i], pages[i])
        fresh = backend.get(keys[2])  # no target: a flat page of the pool
        assert fresh is not None and torch.equal(fresh, pages[2])
        assert backend.get("nope" * 8, pool.get_dummy_flat_data_page()) is None
        # a value of another size is a miss, not a short or truncated page
        assert backend.get(keys[1], torch.zeros(7, dtype=torch.uint8)) is None
        assert backend.get(keys[1], torch.zeros(2 * pages[1].numel(), dtype=pages[1].dtype)) is None
    finally:
        backend.close()


def test_tp_and_pp_ranks_do_not_see_each_other(tmp_path: Path) -> None:
    """Same page hashes, one shared fs tier: each rank reads only its own pages."""
    fs = tmp_path / "fs"
    extra = extra_config(tmp_path, True, fs=fs)
    keys = keys_of("r", 4)
    pool0 = PageFirstHostPool()
    pool0.fill(0, 4, seed=4)
    rank0 = create_backend(storage_config(extra, tp_rank=0, tp_size=2, pp_size=2), pool0)
    assert rank0.batch_set_v1(keys, pool0.slots(0, 4)) == [True] * 4
    rank0.close()  # the pages are in the fs tier now

    pool1 = PageFirstHostPool()
    for cfg in (storage_config(extra, tp_rank=1, tp_size=2, pp_size=2),
                storage_config(extra, tp_rank=0, tp_size=2, pp_rank=1, pp_size=2)):
        other = create_backend(cfg, pool1)
        try:
            assert other.batch_exists(keys) == 0
            assert other.batch_get_v1(keys, pool1.slots(0, 4)) == [False] * 4
            assert torch.count_nonzero(pool1.kv_buffer.float()) == 0
        finally:
            other.close()

    again = create_backend(storage_config(extra, tp_rank=0, tp_size=2, pp_size=2), pool1)
    try:
        assert again.batch_exists(keys) == 4, "rank 0's own pages lost across a restart"
        assert again.batch_get_v1(keys, pool1.slots(8, 4)) == [True] * 4
        for i in range(4):
            assert torch.equal(pool1.page(8 + i), pool0.page(i))
    finally:
        again.close()


def test_errors_raise_never_none(tmp_path: Path) -> None:
    pool = PageFirstHostPool()
    keys = keys_of("x", 2)
    unregistered = KvtierStorage(storage_config(extra_config(tmp_path, True)), {})
    try:
        with pytest.raises(RuntimeError):
            unregistered.batch_get_v1(keys, pool.slots(0, 2))
        unregistered.register_mem_pool_host(pool)
        with pytest.raises(ValueError):  # 2 pages of indices for 3 keys
            unregistered.batch_set_v1(keys + keys_of("y", 1), pool.slots(0, 2))
    finally:
        unregistered.close()
    with pytest.raises(kvtier.Error):
        unregistered.batch_exists(keys)

    generic = create_backend(storage_config(extra_config(tmp_path, False)), pool)
    try:
        with pytest.raises(RuntimeError):  # v1 pages would be invisible to batch_exists
            generic.batch_set_v1(keys, pool.slots(0, 2))
    finally:
        generic.close()

    huge = PageFirstHostPool(pages=2, dim=2048)  # 64 KiB parts, 4 KiB kvtier chunks
    with pytest.raises(ValueError, match="chunk"):
        create_backend(storage_config(extra_config(tmp_path, True)), huge)


def test_prefetch_and_backup_threads_concurrently(tmp_path: Path) -> None:
    pool = PageFirstHostPool(pages=64)
    backend = create_backend(storage_config(extra_config(tmp_path, True)), pool)
    keys = keys_of("c", 24)
    pool.fill(0, 24, seed=5)
    expected = [pool.page(i) for i in range(24)]
    failures: list[str] = []
    backed_up = threading.Event()

    def backup() -> None:
        for first in range(0, 24, 3):
            if not all(backend.batch_set_v1(keys[first:first + 3], pool.slots(first, 3))):
                failures.append(f"backup {first}")
        backed_up.set()

    def prefetch() -> None:
        rounds = 0
        while not backed_up.is_set() or rounds < 3:
            rounds += 1
            hit = backend.batch_exists(keys)
            if not hit:
                continue
            loaded = backend.batch_get_v1(keys[:hit], pool.slots(32, hit))
            if loaded != [True] * hit:
                failures.append(f"prefetch of {hit} pages: {loaded}")
            for i in range(hit):
                if not torch.equal(pool.page(32 + i), expected[i]):
                    failures.append(f"page {i} differs after prefetch")

    threads = [threading.Thread(target=backup), threading.Thread(target=prefetch)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert backend.batch_exists(keys) == 24
    finally:
        backend.close()
