"""Vectors (containers.vec): construction, capacity, Rust-for-Linux methods, sequence API."""

from __future__ import annotations

import gc
import struct
import weakref
from collections.abc import Callable, MutableSequence
from typing import Any, Literal

import pytest

from containers import (
    EXACT,
    Array,
    Elem,
    InsertError,
    KVec,
    KVVec,
    PushError,
    Struct,
    Vec,
    VecStats,
    VVec,
    boolean,
    f64,
    i8,
    i16,
    i32,
    i64,
    pyobj,
    u8,
    u16,
    u32,
    u64,
)
from kvalloc import (
    GFP,
    KMALLOC_MAX_SIZE,
    AllocError,
    Kernel,
    KernelConfig,
    Kmalloc,
    KVmalloc,
    MoveOnly,
    Vmalloc,
)

from ..helpers import (
    VEC_CLASSES,
    VecClass,
    class_name as _name,
    fail_everything,
    finish_kernel as _finish,
    memory_state,
    snapshot,
)

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]


# -- construction, capacity and the Rust-for-Linux methods (API.md 7.1) ----------------------------


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_new_empty_vector_allocates_nothing(k: Kernel, cls: VecClass) -> None:
    before = memory_state(k)
    calls = k.stats().vrealloc_calls
    vs = [cls(u32, kernel=k), cls(u64, [], kernel=k), cls(u8, iter(()), kernel=k),
          cls.with_capacity(u32, 0, kernel=k)]
    for v in vs:
        assert len(v) == 0 and v.capacity == 0
        assert v.ptr == v.elem.align        # NonNull::dangling()
        assert v.to_list() == [] and v.as_bytes() == b""
    assert memory_state(k) == before
    assert k.stats().vrealloc_calls == calls
    for v in vs:
        v.drop()
    assert memory_state(k) == before


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
@pytest.mark.parametrize("n", [1, 3, 5, 100, 1000])
def test_capacity_from_iterable_is_exact(k: Kernel, cls: VecClass, n: int) -> None:
    v = cls(u32, range(n), kernel=k)
    assert v.capacity == n and len(v) == n
    g = cls(u16, (i for i in range(n)), kernel=k)
    assert g.capacity == n and g.to_list() == list(range(n))
    w = cls.with_capacity(u64, n, kernel=k)
    assert w.capacity == n and len(w) == 0
    for x in (v, g, w):
        x.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_vector_alloc_class_and_memory_kind(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, [1, 2, 3], kernel=k)
    expected = {KVec: Kmalloc, VVec: Vmalloc, KVVec: KVmalloc}[cls]
    assert type(v.alloc) is expected
    assert v.alloc.kernel is k
    assert v.elem is u32
    assert k.is_vmalloc_addr(v.ptr) == (cls is VVec)
    assert v.ptr % u32.align == 0
    assert k.read(v.ptr, 12) == struct.pack("<3I", 1, 2, 3)     # the bytes live in the kernel
    assert v.as_bytes() == struct.pack("<3I", 1, 2, 3)
    v.drop()


def test_generic_vec_with_explicit_allocator(k: Kernel) -> None:
    a = KVmalloc(k)
    v: Vec[int, KVmalloc] = Vec(i32, [-1, 2], alloc=a, growth=EXACT)
    assert v.alloc is a and v.capacity == 2
    v.push(3)
    assert v.capacity == 3
    w = Vec.with_capacity(u8, 10, alloc=Vmalloc(k))
    assert w.capacity == 10 and k.is_vmalloc_addr(w.ptr)
    ptr, n, cap = v.into_raw_parts()
    x = Vec.from_raw_parts(i32, ptr, n, cap, alloc=a)
    assert x.to_list() == [-1, 2, 3]
    x.drop()
    w.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_elements_live_in_kernel_memory(k: Kernel, cls: VecClass) -> None:
    v = cls(i32, [1, -2, 3], kernel=k)
    k.write(v.ptr + 4, struct.pack("<i", -77))        # a write through the page table ...
    assert v[1] == -77                                 # ... is what the vector holds
    v[2] = 123456
    assert k.read(v.ptr + 8, 4) == struct.pack("<i", 123456)
    v.drop()


@pytest.mark.parametrize("kasan", ["off", "generic"])
@pytest.mark.parametrize("elem", [u64, u16, Struct("<3s"), Array(u32, 3), pyobj],
                         ids=lambda e: e.name)
def test_vectors_on_fragmented_memory(kasan: Literal["off", "generic"], elem: Elem[Any]) -> None:
    # every other page frame is taken: a vmalloc buffer is not physically contiguous and
    # elements of 3 or 12 bytes straddle page boundaries
    kern = Kernel(KernelConfig(ram=8 << 20, kasan=kasan))
    pages = kern.alloc_pages_bulk(2048)
    for pg in pages[::2]:
        kern.free_pages(pg, 0)

    def val(i: int) -> Any:
        if elem is pyobj:
            return ("obj", i)
        if isinstance(elem, Array):
            return [i, i + 1, i * 3]
        if isinstance(elem, Struct):
            return (bytes([i & 0xFF, 1, 2]),)
        return i % 60000

    ref = [val(i) for i in range(3000)]
    v = VVec(elem, ref, kernel=kern)
    assert v == ref
    for i in range(0, 400, 7):
        v.insert(i * 5, val(i + 5000))
        ref.insert(i * 5, val(i + 5000))
        assert v.pop(i * 3) == ref.pop(i * 3)
        v[-i - 1] = val(i + 9000)
        ref[-i - 1] = val(i + 9000)
    del v[100:2000:3]
    del ref[100:2000:3]
    v.reverse()
    ref.reverse()
    v.extend_from_slice([val(i) for i in range(1500)])
    ref.extend([val(i) for i in range(1500)])
    assert v.to_list() == ref
    assert v[1365:1400] == ref[1365:1400]
    v.shrink_to_fit()
    assert v.to_list() == ref
    v.drop()
    for pg in pages[1::2]:
        kern.free_pages(pg, 0)
    _finish(kern)


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_reserve(k: Kernel, cls: VecClass) -> None:
    v = cls.with_capacity(u32, 10, kernel=k)
    v.extend_from_slice([1, 2])
    ptr, reallocs = v.ptr, v.stats.reallocs
    for extra in (0, 1, 5, 8):              # spare capacity suffices: no-op
        v.reserve(extra)
        assert (v.capacity, v.ptr, v.stats.reallocs) == (10, ptr, reallocs)
    v.truncate(0)
    v.reserve(0)
    assert v.capacity == 10                 # never shrinks
    v.extend_from_slice(range(10))
    v.reserve(1)                            # max(2 * 10, 11)
    assert v.capacity == 20
    v.reserve(100)                          # max(40, 110)
    assert v.capacity == 110
    assert len(v) == 10 and v.to_list() == list(range(10))
    with pytest.raises(ValueError):
        v.reserve(-1)
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_push_within_capacity(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, kernel=k)
    with pytest.raises(PushError) as ei:
        v.push_within_capacity(7)
    assert ei.value.value == 7
    assert len(v) == 0 and v.capacity == 0
    v.reserve(2)
    reallocs = v.stats.reallocs
    v.push_within_capacity(1)
    v.push_within_capacity(2)
    assert v.stats.reallocs == reallocs
    with pytest.raises(PushError) as ei2:
        v.push_within_capacity(3)
    assert ei2.value.value == 3
    assert v.to_list() == [1, 2] and v.capacity == 2
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_insert_within_capacity(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, [1, 2], kernel=k)           # full
    with pytest.raises(InsertError) as ei:
        v.insert_within_capacity(5, 9)       # both problems: the index is checked first
    assert ei.value.value == 9 and ei.value.reason == "index_out_of_bounds"
    with pytest.raises(InsertError) as ei2:
        v.insert_within_capacity(1, 8)
    assert ei2.value.value == 8 and ei2.value.reason == "out_of_capacity"
    with pytest.raises(InsertError) as ei3:
        v.insert_within_capacity(2, 8)       # index == len is valid: capacity is the problem
    assert ei3.value.reason == "out_of_capacity"
    assert v.to_list() == [1, 2] and v.capacity == 2
    v.reserve(3)
    cap, reallocs = v.capacity, v.stats.reallocs
    v.insert_within_capacity(0, 0)
    v.insert_within_capacity(3, 3)
    v.insert_within_capacity(2, 7)
    assert v.to_list() == [0, 1, 7, 2, 3]
    assert (v.capacity, v.stats.reallocs) == (cap, reallocs)
    with pytest.raises(InsertError) as ei4:
        v.insert_within_capacity(len(v) + 1, 1)
    assert ei4.value.reason == "index_out_of_bounds"
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_truncate_clear_drain_keep_capacity(k: Kernel, cls: VecClass) -> None:
    v = cls(u64, range(20), kernel=k)
    ptr = v.ptr
    v.truncate(30)                            # longer: no-op
    assert len(v) == 20
    v.truncate(5)
    assert v.to_list() == [0, 1, 2, 3, 4] and v.capacity == 20 and v.ptr == ptr
    assert list(v.drain_all()) == [0, 1, 2, 3, 4]
    assert len(v) == 0 and v.capacity == 20 and v.ptr == ptr
    v.extend_from_slice([9, 8])
    v.clear()
    assert len(v) == 0 and v.capacity == 20 and v.ptr == ptr
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_resize_extend_from_slice_retain(k: Kernel, cls: VecClass) -> None:
    v = cls(i16, [1, 2], kernel=k)
    v.resize(5, -7)
    assert v.to_list() == [1, 2, -7, -7, -7]
    v.resize(3, 100)
    assert v.to_list() == [1, 2, -7]
    v.resize(3, 0)
    assert v.to_list() == [1, 2, -7]
    reallocs = v.stats.reallocs
    v.extend_from_slice(range(100))           # reserves once
    assert v.stats.reallocs == reallocs + 1
    v.extend_from_slice((5, 6))
    v.extend_from_slice([])
    assert v.to_list() == [1, 2, -7] + list(range(100)) + [5, 6]
    cap = v.capacity
    v.retain(lambda x: x % 3 == 0)
    assert v.to_list() == [x for x in [1, 2, -7] + list(range(100)) + [5, 6] if x % 3 == 0]
    assert v.capacity == cap
    v.retain(lambda x: True)
    v.retain(lambda x: False)
    assert len(v) == 0 and v.capacity == cap
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_shrink_to_and_shrink_to_fit(k: Kernel, cls: VecClass) -> None:
    v = cls.with_capacity(u32, 100, kernel=k)
    v.extend_from_slice(range(10))
    v.shrink_to(200)                          # above the capacity: no-op
    assert v.capacity == 100
    reallocs = v.stats.reallocs
    v.shrink_to(50)
    assert v.capacity == 50 and v.stats.reallocs == reallocs + 1
    v.shrink_to(3)                            # never below len
    assert v.capacity == 10
    assert v.to_list() == list(range(10))
    v.push(10)
    v.shrink_to_fit()
    assert v.capacity == 11 and v.to_list() == list(range(11))
    v.shrink_to_fit()
    assert v.capacity == 11
    v.clear()
    v.shrink_to_fit()                         # to zero: the buffer is freed
    assert v.capacity == 0 and len(v) == 0
    assert v.ptr == u32.align
    v.push(5)
    assert v.to_list() == [5] and v.capacity == 1
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_shrink_to_zero_frees_memory(k: Kernel, cls: VecClass) -> None:
    before = memory_state(k)
    v = cls(u64, range(3000), kernel=k)
    v.clear()
    v.shrink_to_fit()
    assert memory_state(k) == before
    v.drop()


def test_kvec_shrink_stays_in_place(k: Kernel) -> None:
    # krealloc keeps the object when the new size fits (KERNEL.md 11.3 step 4)
    v = KVec.with_capacity(u8, 1000, kernel=k)
    v.extend_from_slice(range(200))
    ptr = v.ptr
    v.shrink_to_fit()
    assert v.ptr == ptr and v.capacity == 200
    assert v.stats.in_place == 1 and v.stats.moved == 0
    v.drop()


def test_vvec_shrink_frees_pages_on_latest_profile(k: Kernel) -> None:
    v = VVec.with_capacity(u8, 262144, kernel=k)
    v.extend_from_slice(bytes(range(256)) * 64)           # 16 KiB
    s0 = k.stats()
    ptr = v.ptr
    v.shrink_to_fit()
    s1 = k.stats()
    assert v.ptr == ptr and v.capacity == 16384
    assert s1.nr_vmalloc_pages == s0.nr_vmalloc_pages - 60
    assert s1.vrealloc_pages_freed == s0.vrealloc_pages_freed + 60
    assert s1.vrealloc_shrink == s0.vrealloc_shrink + 1
    assert v.stats.in_place == 1
    assert v.to_list() == list(range(256)) * 64
    # growing past the remaining pages moves (the freed range cannot be reused, 10.10)
    v.reserve(20000)
    assert v.ptr != ptr
    assert v.to_list() == list(range(256)) * 64
    v.drop()


def test_vvec_shrink_flags_reach_vrealloc(k: Kernel) -> None:
    # KERNEL.md 10.10 step 3.3: only callers allowed to do IO and FS free the tail pages
    v = VVec.with_capacity(u8, 262144, kernel=k)
    v.extend_from_slice(bytes(16384))
    s0 = k.stats()
    v.shrink_to(40000, GFP.NOFS)
    s1 = k.stats()
    assert v.capacity == 40000
    assert s1.vrealloc_shrink == s0.vrealloc_shrink + 1
    assert s1.nr_vmalloc_pages == s0.nr_vmalloc_pages           # GFP_NOFS keeps its pages
    v.shrink_to_fit(GFP.KERNEL)
    s2 = k.stats()
    assert s2.nr_vmalloc_pages == s0.nr_vmalloc_pages - 60
    v.drop()


def test_vvec_shrink_keeps_pages_on_older_profile() -> None:
    kern = Kernel(KernelConfig(vrealloc="v6.19"))
    v = VVec.with_capacity(u8, 262144, kernel=kern)
    v.extend_from_slice(bytes(16384))
    s0 = kern.stats()
    v.shrink_to_fit()
    s1 = kern.stats()
    assert s1.nr_vmalloc_pages == s0.nr_vmalloc_pages
    assert s1.vrealloc_pages_freed == 0
    v.drop()
    _finish(kern)


def test_vec_stats_kvec(k: Kernel) -> None:
    # u32 buffers of 4, 8, 16, 32, 64 bytes: kmalloc-8 holds 4 and 8 (in place), then the
    # object moves to kmalloc-16, -32, -64, copying ksize (8, 16, 32) bytes (KERNEL.md 11.3)
    v = KVec(u32, kernel=k)
    for i in range(16):
        v.push(i)
    assert v.stats == VecStats(reallocs=5, in_place=1, moved=3, bytes_copied=56)
    assert isinstance(v.stats, VecStats)
    v.drop()


def test_vec_stats_vvec_match_kernel(k: Kernel) -> None:
    s0 = k.stats()
    v = VVec(u8, kernel=k)
    for i in range(9000):
        v.push(i & 0xFF)
    s1 = k.stats()
    # capacities 1 .. 16384: 1 allocation, 12 grows within the first page, 2 moves
    assert v.stats == VecStats(reallocs=15, in_place=12, moved=2, bytes_copied=4096 + 8192)
    assert s1.vrealloc_calls - s0.vrealloc_calls == 15
    assert s1.vrealloc_grow_in_place - s0.vrealloc_grow_in_place == 12
    assert s1.vrealloc_bytes_copied - s0.vrealloc_bytes_copied == v.stats.bytes_copied
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_raw_parts_round_trip(k: Kernel, cls: VecClass) -> None:
    before = memory_state(k)
    v = cls(u32, [1, 2, 3], kernel=k)
    v.reserve(10)
    cap = v.capacity
    ptr, length, capacity = v.into_raw_parts()
    assert (ptr, length, capacity) == (ptr, 3, cap)
    del v
    gc.collect()                              # giving the buffer away means no free
    assert k.read(ptr, 12) == struct.pack("<3I", 1, 2, 3)
    w = cls.from_raw_parts(u32, ptr, length, capacity, kernel=k)
    assert w.to_list() == [1, 2, 3] and w.capacity == cap and w.ptr == ptr
    assert type(w) is cls
    w.push(4)
    assert w.to_list() == [1, 2, 3, 4]
    w.drop()
    assert memory_state(k) == before


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_vector_given_away_by_into_raw_parts_is_unusable(k: Kernel, cls: VecClass) -> None:
    # into_raw_parts consumes the vector (Rust: ``self`` by value); the buffer now belongs to
    # whoever calls from_raw_parts, so the old object must not write into it
    v = cls(u32, [1, 2, 3], kernel=k)
    v.reserve(10)
    ptr, length, capacity = v.into_raw_parts()
    uses: list[tuple[str, Callable[[], object]]] = [
        ("push", lambda: v.push(4)), ("append", lambda: v.append(4)),
        ("getitem", lambda: v[0]), ("to_list", lambda: v.to_list()),
        ("insert", lambda: v.insert(0, 4)), ("pop", lambda: v.pop())]
    for name, use in uses:
        with pytest.raises(ValueError):
            use()
        assert k.read(ptr, 16)[:12] == struct.pack("<3I", 1, 2, 3), name
    w = cls.from_raw_parts(u32, ptr, length, capacity, kernel=k)
    assert w.to_list() == [1, 2, 3]
    w.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_drop_frees_and_later_use_raises(k: Kernel, cls: VecClass) -> None:
    before = memory_state(k)
    v = cls(u64, range(2000), kernel=k)
    v.drop()
    assert memory_state(k) == before
    uses: list[Callable[[], object]] = [
        lambda: v.push(1), lambda: v.append(1), lambda: v[0], lambda: v.to_list(),
        lambda: v.pop(), lambda: v.reserve(1), lambda: v.extend([1]), lambda: v.insert(0, 1),
        lambda: v.__setitem__(0, 1), lambda: v.clear(), lambda: v.truncate(0),
        lambda: list(v), lambda: 1 in v, lambda: v.as_bytes(), lambda: v.shrink_to_fit(),
        lambda: v.into_raw_parts(), lambda: v[0:1], lambda: v.index(1), lambda: v.count(1),
        lambda: v.reverse(), lambda: v.resize(3, 0), lambda: v.extend_from_slice([1]),
        lambda: v.push_within_capacity(1), lambda: v.insert_within_capacity(0, 1),
        lambda: v.retain(bool), lambda: list(v.drain_all()),
    ]
    for i, use in enumerate(uses):
        with pytest.raises(ValueError):
            use()
        assert memory_state(k) == before, i
    v.drop()                                  # dropping again does nothing
    assert memory_state(k) == before


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_len_of_dropped_vector_raises(k: Kernel, cls: VecClass) -> None:
    # "Using a dropped vector raises ValueError" (API.md 7.1), like a released memoryview
    v = cls(u8, [1], kernel=k)
    v.drop()
    with pytest.raises(ValueError):
        len(v)


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_context_manager_drops(k: Kernel, cls: VecClass) -> None:
    before = memory_state(k)
    with cls(u32, range(5000), kernel=k) as v:
        assert isinstance(v, cls)
        v.push(1)
    assert memory_state(k) == before
    with pytest.raises(ValueError):
        v.push(1)
    with pytest.raises(KeyError), cls(u32, range(5000), kernel=k) as w:
        raise KeyError("boom")
    assert memory_state(k) == before
    with pytest.raises(ValueError):
        w.to_list()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
@pytest.mark.parametrize("n", [10, 3000, 100000])
def test_garbage_collection_frees(k_off: Kernel, cls: VecClass, n: int) -> None:
    k = k_off
    before = memory_state(k)
    v = cls(u64, range(n), kernel=k)
    v.push(1)
    assert memory_state(k) != before
    ref = weakref.ref(v)
    del v
    gc.collect()
    assert ref() is None
    assert memory_state(k) == before


# -- failed allocations ----------------------------------------------------------------------------


GROWING_OPS: dict[str, Callable[[Vec[Any, Any]], object]] = {
    "push": lambda v: v.push(1),
    "append": lambda v: v.append(1),
    "reserve": lambda v: v.reserve(1000),
    "extend_from_slice": lambda v: v.extend_from_slice([1, 2, 3]),
    "extend": lambda v: v.extend(iter([1, 2, 3])),
    "iadd": lambda v: v.__iadd__([1]),
    "insert": lambda v: v.insert(0, 1),
    "insert_middle": lambda v: v.insert(5, 1),
    "resize": lambda v: v.resize(len(v) + 10, 7),
    "set_slice_grow": lambda v: v.__setitem__(slice(0, 1), [1, 2, 3]),
}


@pytest.mark.parametrize("op", sorted(GROWING_OPS))
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_failed_allocation_leaves_vector_unchanged(k: Kernel, cls: VecClass, op: str) -> None:
    v = cls(u32, range(1024), kernel=k)       # full; 4 KiB
    state = snapshot(v)
    stats = v.stats
    fail_everything(k)
    try:
        with pytest.raises(AllocError):
            GROWING_OPS[op](v)
    finally:
        k.fault.clear()
    assert snapshot(v) == state
    assert v.stats == stats
    k.check()
    GROWING_OPS[op](v)                        # works once memory is available again
    assert len(v) > 1024 or op == "reserve"
    v.drop()


def test_failed_shrink_through_move_only_leaves_vector_unchanged(k: Kernel) -> None:
    # a shrink that needs a new allocation (MoveOnly never resizes in place) can fail too
    v: Vec[int, MoveOnly] = Vec.with_capacity(u16, 5000, alloc=MoveOnly(Vmalloc(k)))
    v.extend_from_slice(range(100))
    state, stats = snapshot(v), v.stats
    fail_everything(k)
    try:
        with pytest.raises(AllocError):
            v.shrink_to_fit()
        with pytest.raises(AllocError):
            v.shrink_to(200)
    finally:
        k.fault.clear()
    assert snapshot(v) == state and v.stats == stats
    v.shrink_to_fit()
    assert v.capacity == 100 and v.to_list() == list(range(100))
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_failed_first_allocation(k: Kernel, cls: VecClass) -> None:
    before = memory_state(k)
    fail_everything(k)
    try:
        with pytest.raises(AllocError):
            cls(u32, range(10), kernel=k)
        with pytest.raises(AllocError):
            cls.with_capacity(u32, 10, kernel=k)
        v = cls(u32, kernel=k)
        with pytest.raises(AllocError):
            v.push(1)
        assert (len(v), v.capacity, v.ptr) == (0, 0, u32.align)
    finally:
        k.fault.clear()
    assert memory_state(k) == before
    v.push(1)
    assert v.to_list() == [1]
    v.drop()


def test_kmalloc_max_size_limits_kvec_only(k_off: Kernel) -> None:
    k = k_off
    n = KMALLOC_MAX_SIZE // 8
    v = KVec.with_capacity(u64, n, kernel=k)        # exactly 4 MiB: the largest kmalloc
    v.extend_from_slice(range(n))
    state = (len(v), v.capacity, v.ptr)
    with pytest.raises(AllocError):
        v.push(1)                                   # 8 MiB would exceed KMALLOC_MAX_SIZE
    assert (len(v), v.capacity, v.ptr) == state
    assert v[0] == 0 and v[-1] == n - 1
    with pytest.raises(AllocError):
        KVec.with_capacity(u8, KMALLOC_MAX_SIZE + 1, kernel=k)
    v.drop()

    w = KVVec.with_capacity(u64, n, kernel=k)
    w.extend_from_slice(range(n))
    assert not k.is_vmalloc_addr(w.ptr)
    w.push(n)                                       # kvrealloc falls back to vmalloc
    assert k.is_vmalloc_addr(w.ptr)
    assert w[0] == 0 and w[n - 1] == n - 1 and w[n] == n and len(w) == n + 1
    assert w[n // 2] == n // 2
    w.drop()

    x = VVec.with_capacity(u8, KMALLOC_MAX_SIZE + 1, kernel=k)
    x.extend_from_slice(bytes(KMALLOC_MAX_SIZE + 1))
    assert x.capacity == KMALLOC_MAX_SIZE + 1 and len(x) == KMALLOC_MAX_SIZE + 1
    y = KVVec.with_capacity(u8, KMALLOC_MAX_SIZE + 1, kernel=k)
    assert k.is_vmalloc_addr(y.ptr)
    x.drop()
    y.drop()


# -- Vec as a MutableSequence ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_sequence_indexing(k: Kernel, cls: VecClass) -> None:
    v = cls(i32, [10, 20, 30, 40], kernel=k)
    assert isinstance(v, MutableSequence)
    assert len(v) == 4
    assert v[0] == 10 and v[-1] == 40 and v[-4] == 10
    for bad in (4, -5, 100):
        with pytest.raises(IndexError):
            v[bad]
        with pytest.raises(IndexError):
            v[bad] = 1
        with pytest.raises(IndexError):
            del v[bad]
    v[-1] = -40
    v[1] = -20
    assert v.to_list() == [10, -20, 30, -40]
    del v[-1]
    del v[0]
    assert v.to_list() == [-20, 30]
    assert list(iter(v)) == [-20, 30]
    assert 30 in v and 31 not in v
    with pytest.raises(TypeError):
        v["0"]  # type: ignore[call-overload]
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_sequence_slices(k: Kernel, cls: VecClass) -> None:
    items = list(range(10))
    v = cls(u16, items, kernel=k)
    for sl in (slice(1, 3), slice(None, None, 2), slice(-3, None), slice(5, 1), slice(None),
               slice(1, None, 3), slice(-100, 100), slice(2, -2, 4)):
        s = v[sl]
        assert type(s) is cls
        assert s.alloc == v.alloc and s.alloc.kernel is k and type(s.alloc) is type(v.alloc)
        assert s.elem is u16
        assert s.to_list() == items[sl]
        assert s.capacity == len(items[sl])
        if len(s):
            assert s.ptr != v.ptr
            s[0] = 999                           # a copy: the original is untouched
        s.drop()
    assert v.to_list() == items
    with pytest.raises(ValueError):
        v[::0]
    v[2:5] = [7, 7]
    items[2:5] = [7, 7]
    v[0:0] = [1, 2, 3]
    items[0:0] = [1, 2, 3]
    v[::3] = [0] * len(items[::3])
    items[::3] = [0] * len(items[::3])
    assert v.to_list() == items
    with pytest.raises(ValueError):
        v[::2] = [1]                            # extended slice: lengths must match
    del v[1:4]
    del items[1:4]
    del v[::2]
    del items[::2]
    assert v.to_list() == items
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_sequence_methods(k: Kernel, cls: VecClass) -> None:
    # declared as the base class: ``+=`` on a KVec-typed name does not type-check (test_typing.py)
    v: Vec[int, Any] = cls(u8, [3, 1, 2], kernel=k)
    ref = [3, 1, 2]
    v.insert(0, 9)
    ref.insert(0, 9)
    v.insert(100, 8)                           # list semantics: clamped
    ref.insert(100, 8)
    v.insert(-1, 7)
    ref.insert(-1, 7)
    v.insert(-100, 6)
    ref.insert(-100, 6)
    assert v.to_list() == ref
    assert v.pop() == ref.pop()
    assert v.pop(0) == ref.pop(0)
    assert v.pop(-2) == ref.pop(-2)
    v.append(1)
    ref.append(1)
    v.remove(1)
    ref.remove(1)
    with pytest.raises(ValueError):
        v.remove(200)
    assert v.to_list() == ref
    assert v.index(1) == ref.index(1)
    v.extend([5, 5, 4])
    ref.extend([5, 5, 4])
    assert v.index(5) == ref.index(5)
    assert v.index(5, ref.index(5) + 1) == ref.index(5, ref.index(5) + 1)
    with pytest.raises(ValueError):
        v.index(5, 0, ref.index(5))
    with pytest.raises(ValueError):
        v.index(200)
    assert v.count(5) == 2 and v.count(200) == 0
    v.reverse()
    ref.reverse()
    assert v.to_list() == ref
    same = v
    v += [1, 2]
    ref += [1, 2]
    assert v is same
    v += v                                      # extending with itself doubles, like a list
    ref += ref
    assert v.to_list() == ref
    while ref:
        assert v.pop() == ref.pop()
    with pytest.raises(IndexError):
        v.pop()
    v.drop()


def test_sequence_equality_and_repr(k: Kernel) -> None:
    a = KVec(u32, [1, 2, 3], kernel=k)
    b = VVec(u32, [1, 2, 3], kernel=k)
    c = KVVec(u64, (1, 2, 3), kernel=k)
    assert a == [1, 2, 3] and a == (1, 2, 3) and a == b and b == c and c == a
    assert a != [1, 2] and a != [1, 2, 4] and a != KVec(u32, [3, 2, 1], kernel=k)
    assert (a == 5) is False and a != "123"
    assert repr(a) == "KVec(u32, [1, 2, 3])"
    assert repr(b) == "VVec(u32, [1, 2, 3])"
    assert repr(c) == "KVVec(u64, [1, 2, 3])"
    assert repr(KVec(f64, [1.5], kernel=k)) == "KVec(f64, [1.5])"
    assert repr(VVec(boolean, [True, False], kernel=k)) == "VVec(boolean, [True, False])"
    assert repr(KVec(i8, kernel=k)) == "KVec(i8, [])"
    for x in (a, b, c):
        x.drop()


def test_mixed_operations_match_list(k: Kernel) -> None:
    v = KVVec(i64, kernel=k)
    ref: list[int] = []
    for i in range(300):
        v.append(i * -3)
        ref.append(i * -3)
        if i % 7 == 0:
            v.insert(i // 2, i)
            ref.insert(i // 2, i)
        if i % 11 == 0:
            assert v.pop(i // 3) == ref.pop(i // 3)
    assert v == ref
    v.drop()
