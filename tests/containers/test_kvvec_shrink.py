"""``KVVec.shrink_to`` after rust/kernel/alloc/kvec.rs: ``impl<T> Vec<T, KVmalloc>::shrink_to``.

Upstream: a kmalloc buffer is shrunk by ``KVmalloc::realloc``; a vmalloc buffer only when the
page count drops (``current_pages <= target_pages`` returns early), and then by
``KVmalloc::alloc`` + ``copy_nonoverlapping`` + ``KVmalloc::free``; a target of 0 frees.
``KVec`` and ``VVec`` keep shrinking through ``realloc`` (upstream has no ``shrink_to`` there).
"""

from __future__ import annotations

import warnings

import pytest

from containers import KVVec, VVec, pyobj, u32
from kvalloc import AllocError, Kernel, KernelConfig, KernelWarning, ReallocEvent

from ..helpers import memory_state

MIB = 1 << 20


@pytest.fixture(params=["off", "generic", "sw_tags"])
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(KernelConfig(kasan=request.param))


def _events(v: KVVec[int]) -> list[ReallocEvent]:
    seen: list[ReallocEvent] = []
    v.alloc.observer = seen.append
    return seen


def test_vmalloc_buffer_moves_to_a_fresh_allocation_when_pages_drop(k: Kernel) -> None:
    v = KVVec.with_capacity(u32, 4 * MIB, kernel=k)            # 16 MiB: vmalloc
    v.extend(range(1000))
    old = v.ptr
    seen = _events(v)
    v.shrink_to(2 * MIB)                                       # 4096 -> 2048 pages
    assert v.capacity == 2 * MIB and v.ptr != old and k.is_vmalloc_addr(v.ptr)
    assert [e.outcome for e in seen] == ["fresh", "freed"]    # KVmalloc::alloc, then ::free
    assert v.to_list() == list(range(1000))
    assert v.stats.bytes_copied >= 4000
    v._check()
    k.check()
    v.drop()


def test_vmalloc_buffer_is_kept_when_no_page_would_be_freed(k: Kernel) -> None:
    v = KVVec.with_capacity(u32, 4 * MIB, kernel=k)
    v.push(1)
    before = (v.ptr, v.capacity, v.stats)
    seen = _events(v)
    v.shrink_to(4 * MIB - 1000)                                # same 4096 pages
    assert (v.ptr, v.capacity, v.stats) == before and seen == []
    v.drop()


def test_small_target_lands_in_kmalloc_and_zero_frees(k: Kernel) -> None:
    v = KVVec.with_capacity(u32, 4 * MIB, kernel=k)
    v.extend([7, 8])
    v.shrink_to(0)                                             # target = len = 2: 8 bytes
    assert v.capacity == 2 and not k.is_vmalloc_addr(v.ptr) and v == [7, 8]
    w = KVVec.with_capacity(u32, 4 * MIB, kernel=k)
    seen = _events(w)
    w.shrink_to(0)                                             # nothing in it: freed
    assert w.capacity == 0 and [e.outcome for e in seen] == ["freed"]
    assert k.stats().nr_vmalloc_pages == 0
    for x in (v, w):
        x._check()
        x.drop()
    k.check()


def test_kmalloc_buffer_goes_through_krealloc(k: Kernel) -> None:
    v = KVVec.with_capacity(u32, 1000, kernel=k)               # 4000 bytes: kmalloc
    v.push(1)
    seen = _events(v)
    v.shrink_to(10)
    assert v.capacity == 10 and [e.outcome for e in seen] in (["in_place"], ["moved"])
    v.drop()


def test_failed_fresh_allocation_changes_nothing() -> None:
    k = Kernel(KernelConfig(ram=64 * MIB))
    v = KVVec.with_capacity(u32, 10 * MIB, kernel=k)           # 40 MiB of 64
    v.push(3)
    hog = VVec.with_capacity(u32, 5 * MIB, kernel=k)           # 20 MiB more: no room left
    before, mem = (v.ptr, v.capacity, v.to_list(), v.stats), memory_state(k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KernelWarning)
        with pytest.raises(AllocError):
            v.shrink_to(5 * MIB)                               # needs 20 MiB fresh
    assert (v.ptr, v.capacity, v.to_list(), v.stats) == before and memory_state(k) == mem
    v._check()
    k.check()
    hog.drop()
    v.drop()


def test_pyobj_references_move_with_the_elements() -> None:
    k = Kernel()
    objs = [object() for _ in range(3)]
    v = KVVec.with_capacity(pyobj, 1 * MIB, kernel=k)          # 8 MiB of handles
    v.extend(objs)
    v.shrink_to(0)
    assert all(a is b for a, b in zip(v.to_list(), objs)) and v.capacity == 3
    v._check()
    v.drop()
    k.check()
