"""Spec-driven tests of the allocator layer and the containers.

Written from API.md sections 5 and 7, KERNEL.md 10.10-10.11 and 11 (what the allocators do
underneath) and the Rust-for-Linux semantics of ``kernel::alloc`` (``Layout``, ``Allocator``,
``KVec``/``KBox``). Every test using the ``k`` fixture runs with KASAN off and with generic
KASAN, and every kernel fixture asserts at teardown that no KASAN report was produced and that
``Kernel.check()`` finds every invariant intact.
"""

from __future__ import annotations

import gc
import struct
import weakref
from collections.abc import Callable, Iterator, MutableSequence
from typing import Any, Literal, Union

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from containers import (
    CPYTHON_LIST, EXACT, FACTOR_1_5, RUST_KVEC, RUST_STD, Array, Box, Elem, InsertError, KBox,
    KVBox, KVec, KVVec, PushError, Struct, VBox, Vec, VecStats, VVec, boolean, f32, f64, i8, i16,
    i32, i64, isize, pyobj, u8, u16, u32, u64, usize,
)
from kvalloc import (
    GFP, KMALLOC_MAX_SIZE, PAGE_SIZE, AllocError, Kernel, KernelConfig, KVmalloc, Kmalloc,
    Layout, LayoutError, MoveOnly, Vmalloc,
)

pytestmark = pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")

VecClass = Union[type[KVec[Any]], type[VVec[Any]], type[KVVec[Any]]]
BoxClass = Union[type[KBox[Any]], type[VBox[Any]], type[KVBox[Any]]]
AllocClass = Union[type[Kmalloc], type[Vmalloc], type[KVmalloc]]

VEC_CLASSES: list[VecClass] = [KVec, VVec, KVVec]
BOX_CLASSES: list[BoxClass] = [KBox, VBox, KVBox]
ALLOC_CLASSES: list[AllocClass] = [Kmalloc, Vmalloc, KVmalloc]


def _name(x: object) -> str:
    return getattr(x, "__name__", repr(x))


# ---------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------


def _finish(kern: Kernel) -> None:
    kern.fault.clear()
    assert kern.kasan_reports == []
    kern.check()


@pytest.fixture(params=["off", "generic"])
def k(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    """A fresh kernel, with KASAN off and with generic KASAN; no KASAN report at the end."""
    kern = Kernel(KernelConfig(kasan=request.param))
    yield kern
    _finish(kern)


@pytest.fixture
def k_off() -> Iterator[Kernel]:
    """A fresh kernel without KASAN (for the heavier tests)."""
    kern = Kernel()
    yield kern
    _finish(kern)


def pattern(n: int, seed: int = 0) -> bytes:
    """``n`` recognisable bytes (period 251, shifted by ``seed``)."""
    block = bytes((i * 7 + seed * 13 + 3) & 0xFF for i in range(251))
    return (block * (n // 251 + 1))[:n]


def fail_everything(kern: Kernel) -> None:
    """Make every page and slab allocation fail until ``kern.fault.clear()``."""
    kern.fault.fail_page_alloc(probability=1.0, times=-1)
    kern.fault.failslab(probability=1.0, times=-1)


def memory_state(kern: Kernel) -> dict[str, int]:
    """The memory-owning counters, after purging lazily freed vmap areas."""
    kern.vm_unmap_aliases()
    s = kern.stats()
    return {"free_pages": s.free_pages, "nr_vmalloc_pages": s.nr_vmalloc_pages,
            "vmap_areas": s.vmap_areas, "free_vmap_areas": s.free_vmap_areas,
            "vmap_lazy_nr": s.vmap_lazy_nr, "slab_pages": s.slab_pages}


def snapshot(v: Vec[Any, Any]) -> tuple[int, int, int, list[Any], bytes]:
    return len(v), v.capacity, v.ptr, v.to_list(), v.as_bytes()


class Obj:
    """A weak-referenceable object for pyobj lifetime tests."""

    def __init__(self, n: int = 0) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Obj({self.n})"


def alive(ref: weakref.ref[Obj]) -> bool:
    gc.collect()
    return ref() is not None


# ---------------------------------------------------------------------------------------------
# Layout (API.md 5, core::alloc::Layout)
# ---------------------------------------------------------------------------------------------


def test_layout_fields_and_defaults() -> None:
    lay = Layout(10)
    assert (lay.size, lay.align) == (10, 1)
    assert Layout(24, 8) == Layout(24, 8)
    with pytest.raises(AttributeError):     # frozen
        setattr(lay, "size", 11)


def test_layout_array() -> None:
    assert Layout.array(Layout(12, 4), 3) == Layout(36, 4)
    # each element is padded to its alignment: [T; n] has stride size_of::<T>() (padded)
    assert Layout.array(Layout(5, 8), 3) == Layout(24, 8)
    assert Layout.array(Layout(8, 8), 0) == Layout(0, 8)
    assert Layout.array(Layout(1), 4096).size == 4096


def test_layout_pad_to_align_and_dangling() -> None:
    assert Layout(5, 8).pad_to_align() == Layout(8, 8)
    assert Layout(16, 8).pad_to_align() == Layout(16, 8)
    assert Layout(0, 64).pad_to_align() == Layout(0, 64)
    assert Layout(4097, 4096).pad_to_align() == Layout(8192, 4096)
    assert Layout(0, 64).dangling() == 64
    assert Layout(3).dangling() == 1
    assert Layout(100, 8192).dangling() == 8192


@pytest.mark.parametrize("align", [0, 3, 6, 12, 100, -1, -8])
def test_layout_rejects_non_power_of_two_align(align: int) -> None:
    with pytest.raises(LayoutError):
        Layout(8, align)


def test_layout_rejects_negative_size() -> None:
    with pytest.raises(LayoutError):
        Layout(-1)
    with pytest.raises(LayoutError):
        Layout(-1, 8)
    assert issubclass(LayoutError, ValueError)


# ---------------------------------------------------------------------------------------------
# Allocators (API.md 5; KERNEL.md 10.10, 11.3, 11.5)
# ---------------------------------------------------------------------------------------------


def test_min_align() -> None:
    # rust/kernel/alloc/allocator.rs: ARCH_KMALLOC_MINALIGN (8 on x86_64), PAGE_SIZE for vmalloc
    assert Kmalloc.MIN_ALIGN == 8
    assert Vmalloc.MIN_ALIGN == 4096
    assert KVmalloc.MIN_ALIGN == 8


@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_allocator_kernel_and_min_align_on_instances(k: Kernel, cls: AllocClass) -> None:
    a = cls(k)
    assert a.kernel is k
    assert a.MIN_ALIGN == cls.MIN_ALIGN


@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_realloc_from_none_allocates(k: Kernel, cls: AllocClass) -> None:
    a = cls(k)
    p = a.realloc(None, Layout(100, 8), Layout(0, 8))
    assert p % 8 == 0 and p > PAGE_SIZE
    k.write(p, pattern(100))
    assert k.read(p, 100) == pattern(100)
    a.free(p, Layout(100, 8))


@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_realloc_with_old_size_zero_allocates(k: Kernel, cls: AllocClass) -> None:
    # a zero-sized old layout means the pointer is dangling (== align): it is not freed
    a = cls(k)
    p = a.realloc(8, Layout(64, 8), Layout(0, 8))
    assert p != 8 and p % 8 == 0
    k.write(p, pattern(64))
    assert k.read(p, 64) == pattern(64)
    a.free(p, Layout(64, 8))


@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
@pytest.mark.parametrize("size", [100, 20000])
def test_realloc_to_size_zero_frees_and_returns_dangling(k: Kernel, cls: AllocClass,
                                                         size: int) -> None:
    a = cls(k)
    before = memory_state(k)
    p = a.alloc(Layout(size, 64))
    assert memory_state(k) != before
    assert a.realloc(p, Layout(0, 64), Layout(size, 64)) == 64
    assert memory_state(k) == before
    q = a.alloc(Layout(size, 16))
    a.free(q, Layout(size, 16))
    assert memory_state(k) == before


@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_alloc_of_size_zero_returns_dangling_and_allocates_nothing(k: Kernel,
                                                                   cls: AllocClass) -> None:
    a = cls(k)
    before = memory_state(k)
    assert a.alloc(Layout(0, 32)) == 32
    assert a.realloc(None, Layout(0, 4096), Layout(0)) == 4096
    assert memory_state(k) == before


RESIZE_CHAINS = {
    # sizes exercising in-place and moving resizes of each allocator (KERNEL.md 10.10, 11.3)
    "Kmalloc": [100, 120, 5000, 50, 3, 200000, 8000, 1],
    "Vmalloc": [100, 3000, 4096, 20000, 10, 9000, 300000, 2],
    "KVmalloc": [100, 3000, 20000, 5 << 20, 6 << 20, 4096, 10, 1000],
}


@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_resize_keeps_min_old_new_bytes(k: Kernel, cls: AllocClass) -> None:
    a = cls(k)
    sizes = RESIZE_CHAINS[cls.__name__]
    p = a.alloc(Layout(sizes[0], 8))
    k.write(p, pattern(sizes[0], 0))
    for step, (old, new) in enumerate(zip(sizes, sizes[1:]), 1):
        q = a.realloc(p, Layout(new, 8), Layout(old, 8))
        assert q % 8 == 0
        keep = min(old, new)
        assert k.read(q, keep) == pattern(old, step - 1)[:keep], (old, new)
        k.write(q, pattern(new, step))
        k.check()
        p = q
    a.free(p, Layout(sizes[-1], 8))


@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
@pytest.mark.parametrize("old,new", [(100, 100000), (3000, 9000), (0, 64), (0, 100000)])
def test_failed_realloc_raises_and_keeps_old_allocation(k: Kernel, cls: AllocClass, old: int,
                                                        new: int) -> None:
    a = cls(k)
    p = a.alloc(Layout(old, 8)) if old else None
    if p is not None:
        k.write(p, pattern(old))
    area_before = _area(k, p)
    before = memory_state(k)
    fail_everything(k)
    try:
        with pytest.raises(AllocError):
            a.realloc(p, Layout(new, 8), Layout(old, 8))
    finally:
        k.fault.clear()
    k.check()
    assert memory_state(k) == before
    assert _area(k, p) == area_before
    if p is not None:
        # still valid, same contents, resizable and freeable
        assert k.read(p, old) == pattern(old)
        q = a.realloc(p, Layout(new, 8), Layout(old, 8))
        assert k.read(q, old) == pattern(old)
        a.free(q, Layout(new, 8))


def _area(kern: Kernel, p: int | None) -> tuple[int, ...]:
    """What the kernel knows about an allocation: its vmalloc area or its kmalloc size."""
    if p is None:
        return ()
    if kern.is_vmalloc_addr(p):
        vm = kern.find_vm_area(p)
        assert vm is not None
        return (vm.addr, vm.size, vm.nr_pages, vm.requested_size)
    return (kern.ksize(p),)


def test_alloc_error_is_memory_error() -> None:
    assert issubclass(AllocError, MemoryError)


@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
@pytest.mark.parametrize("align", [128, 8192])
def test_large_alignments(k: Kernel, cls: AllocClass, align: int) -> None:
    a = cls(k)
    sizes = [1, 100, align, 3 * align + 5, 20000, 40, 70000, 8]
    p = a.alloc(Layout(sizes[0], align))
    assert p % align == 0
    k.write(p, b"\x5a")
    for old, new in zip(sizes, sizes[1:]):
        q = a.realloc(p, Layout(new, align), Layout(old, align))
        assert q % align == 0, (old, new, hex(q))
        assert k.read(q, 1) == b"\x5a"
        p = q
    a.free(p, Layout(sizes[-1], align))


def _spy(monkeypatch: pytest.MonkeyPatch, kern: Kernel, name: str) -> list[int]:
    """Record each call of the kernel resize function ``name`` (the machine's one resize entry)."""
    calls: list[int] = []
    machine = kern.machine
    real = machine.realloc

    def wrapper(kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == name:
            calls.append(1)
        return real(kind, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(machine, "realloc", wrapper)
    return calls


def test_kmalloc_goes_through_krealloc(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    kre, vre, kvre = (_spy(monkeypatch, k, n) for n in ("krealloc", "vrealloc", "kvrealloc"))
    a = Kmalloc(k)
    p = a.alloc(Layout(100, 8))
    assert not k.is_vmalloc_addr(p)
    p = a.realloc(p, Layout(5000, 8), Layout(100, 8))
    a.free(p, Layout(5000, 8))
    assert len(kre) == 3 and not vre and not kvre
    assert k.stats().vrealloc_calls == 0


def test_vmalloc_goes_through_vrealloc(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    kre, vre, kvre = (_spy(monkeypatch, k, n) for n in ("krealloc", "vrealloc", "kvrealloc"))
    a = Vmalloc(k)
    p = a.alloc(Layout(100, 8))
    assert k.is_vmalloc_addr(p)
    q = a.realloc(p, Layout(4000, 8), Layout(100, 8))         # same page: grow in place
    assert q == p
    q = a.realloc(q, Layout(40000, 8), Layout(4000, 8))       # beyond: moved
    a.free(q, Layout(40000, 8))
    s = k.stats()
    assert len(vre) == 4 and not kre and not kvre
    assert s.vrealloc_calls == 4
    assert s.vrealloc_grow_in_place == 1
    assert s.vrealloc_moved == 2        # the first allocation (p = NULL) counts as moved (10.12)
    assert s.vrealloc_bytes_copied == 4000


def test_kvmalloc_goes_through_kvrealloc(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    kvre = _spy(monkeypatch, k, "kvrealloc")
    a = KVmalloc(k)
    p = a.alloc(Layout(100, 8))
    assert not k.is_vmalloc_addr(p)          # small: kmalloc
    big = 5 << 20                            # above KMALLOC_MAX_SIZE: vmalloc fallback
    p = a.realloc(p, Layout(big, 8), Layout(100, 8))
    assert k.is_vmalloc_addr(p)
    calls_before = k.stats().vrealloc_calls
    p = a.realloc(p, Layout(big + 1000, 8), Layout(big, 8))   # vmalloc memory: vrealloc
    s = k.stats()
    assert s.vrealloc_calls == calls_before + 1
    assert s.vrealloc_grow_in_place >= 1
    a.free(p, Layout(big + 1000, 8))
    assert len(kvre) == 4


def test_vvec_shrink_through_vrealloc_frees_pages_latest_profile(k: Kernel) -> None:
    # KERNEL.md 10.11: shrinking a 64-page area to 16 KiB frees 60 pages in place
    a = Vmalloc(k)
    p = a.alloc(Layout(262144))
    s0 = k.stats()
    assert a.realloc(p, Layout(16384), Layout(262144)) == p
    s1 = k.stats()
    assert s1.nr_vmalloc_pages == s0.nr_vmalloc_pages - 60
    assert s1.vrealloc_pages_freed == s0.vrealloc_pages_freed + 60
    assert s1.free_pages == s0.free_pages + 60
    assert s1.vrealloc_shrink == s0.vrealloc_shrink + 1
    a.free(p, Layout(16384))


def test_move_only_never_resizes_in_place(k: Kernel) -> None:
    inner = Vmalloc(k)
    a = MoveOnly(inner)
    assert a.kernel is k
    assert a.MIN_ALIGN == inner.MIN_ALIGN
    p = a.alloc(Layout(100))
    k.write(p, pattern(100))
    s0 = k.stats()
    q = a.realloc(p, Layout(200), Layout(100))       # would be in place with Vmalloc
    assert q != p
    assert k.read(q, 100) == pattern(100)
    r = a.realloc(q, Layout(50), Layout(200))        # shrinks move too
    assert r != q
    assert k.read(r, 50) == pattern(100)[:50]
    assert k.stats().vrealloc_grow_in_place == s0.vrealloc_grow_in_place
    assert k.stats().vrealloc_shrink == s0.vrealloc_shrink
    assert a.realloc(r, Layout(0, 16), Layout(50)) == 16
    before = memory_state(k)
    assert before["nr_vmalloc_pages"] == 0


def test_move_only_in_a_vector(k: Kernel) -> None:
    v: Vec[int, MoveOnly] = Vec(u8, alloc=MoveOnly(Vmalloc(k)))
    for i in range(100):
        v.push(i)
    st_ = v.stats
    assert st_.reallocs == 8             # capacities 1, 2, 4, ..., 128
    assert st_.in_place == 0
    assert st_.moved == 7
    assert st_.bytes_copied == 1 + 2 + 4 + 8 + 16 + 32 + 64
    assert v.to_list() == list(range(100))
    v.drop()


# ---------------------------------------------------------------------------------------------
# element types (API.md 7)
# ---------------------------------------------------------------------------------------------

ARR = Array(u16, 3)
REC = Struct("<hI")

ELEM_CASES: list[tuple[Elem[Any], list[Any], list[Any], list[Any]]] = [
    # (elem, storable values, out of range (OverflowError), wrong type (TypeError))
    (u8, [0, 1, 255], [-1, 256, 2**64], ["1", 1.0, None, b"\x01"]),
    (u16, [0, 65535], [-1, 65536], ["1", 2.5, None]),
    (u32, [0, 2**32 - 1], [-1, 2**32], ["1", 2.5, None, [1]]),
    (u64, [0, 2**64 - 1], [-1, 2**64], ["1", 2.5, None]),
    (i8, [-128, 0, 127], [-129, 128], ["1", 2.5, None]),
    (i16, [-32768, 32767], [-32769, 32768], ["1", 2.5]),
    (i32, [-2**31, 2**31 - 1], [-2**31 - 1, 2**31], ["1", 2.5]),
    (i64, [-2**63, 2**63 - 1], [-2**63 - 1, 2**63], ["1", 2.5]),
    (usize, [0, 2**64 - 1], [-1, 2**64], ["1", 2.5]),
    (isize, [-2**63, 2**63 - 1], [-2**63 - 1, 2**63], ["1", 2.5]),
    (f32, [0.0, 1.5, -2.25, 2.0**127, -(2.0**-126), float("inf")], [1e39, -1e39], ["1.0", None, b"x"]),
    (f64, [0.0, -0.0, 1e308, -2.5, float("inf")], [10**400], ["1.0", None, [1.0]]),
    (boolean, [True, False], [], [1, 0, "True", None, 1.0]),
    (ARR, [[1, 2, 3], [0, 0, 65535]], [[1, 2, 65536], [-1, 0, 0]], ["abc", 5, [1, 2, "x"]]),
    (REC, [(1, 2), (-32768, 2**32 - 1)], [(40000, 1), (1, -1), (1, 2**32)],
     [[1, 2], 5, (1, "x"), ("a", 1)]),
]


def test_element_sizes_aligns_names() -> None:
    expect: dict[str, tuple[Elem[Any], int, int]] = {
        "u8": (u8, 1, 1), "u16": (u16, 2, 2), "u32": (u32, 4, 4), "u64": (u64, 8, 8),
        "i8": (i8, 1, 1), "i16": (i16, 2, 2), "i32": (i32, 4, 4), "i64": (i64, 8, 8),
        "usize": (usize, 8, 8), "isize": (isize, 8, 8), "f32": (f32, 4, 4), "f64": (f64, 8, 8),
        "boolean": (boolean, 1, 1), "pyobj": (pyobj, 8, 8),
    }
    for name, (e, size, align) in expect.items():
        assert (e.name, e.size, e.align) == (name, size, align)
    assert (ARR.size, ARR.align) == (6, 2)
    assert Array(u64, 4).size == 32 and Array(u64, 4).align == 8
    assert REC.size == struct.calcsize("<hI")


@pytest.mark.parametrize("case", ELEM_CASES, ids=lambda c: c[0].name)
def test_element_round_trip_in_vec_and_box(k: Kernel,
                                           case: tuple[Elem[Any], list[Any], list[Any],
                                                       list[Any]]) -> None:
    elem, good, _, _ = case
    v = KVec(elem, good, kernel=k)
    assert v.to_list() == good
    w = VVec(elem, kernel=k)
    for x in good:
        w.push(x)
    assert w.to_list() == good
    for x in good:
        with KVBox.new(elem, x, kernel=k) as b:
            assert b.value == x
    v.drop()
    w.drop()


@pytest.mark.parametrize("case", ELEM_CASES, ids=lambda c: c[0].name)
def test_element_checks_write_nothing(k: Kernel,
                                      case: tuple[Elem[Any], list[Any], list[Any],
                                                  list[Any]]) -> None:
    elem, good, over, wrong = case
    for cls in VEC_CLASSES:
        v = cls(elem, good, kernel=k)
        v.reserve(4)                           # spare capacity: a push would not allocate
        raw = k.read(v.ptr, v.capacity * elem.size)
        state = snapshot(v)
        for bad, exc in [(x, OverflowError) for x in over] + [(x, TypeError) for x in wrong]:
            with pytest.raises(exc):
                v.push(bad)
            with pytest.raises(exc):
                v.append(bad)
            with pytest.raises(exc):
                v[0] = bad
            with pytest.raises(exc):
                v.insert(0, bad)
            with pytest.raises(exc):
                v.extend_from_slice([good[0], bad])
            with pytest.raises(exc):
                v.push_within_capacity(bad)
            with pytest.raises(exc):
                v.resize(len(v) + 3, bad)
            assert snapshot(v) == state
            assert k.read(v.ptr, v.capacity * elem.size) == raw, bad
        v.drop()


@pytest.mark.parametrize("case", ELEM_CASES, ids=lambda c: c[0].name)
def test_element_checks_in_boxes(k: Kernel,
                                 case: tuple[Elem[Any], list[Any], list[Any], list[Any]]) -> None:
    elem, good, over, wrong = case
    b = KBox.new(elem, good[0], kernel=k)
    raw = k.read(b.ptr, elem.size)
    before = memory_state(k)
    for bad, exc in [(x, OverflowError) for x in over] + [(x, TypeError) for x in wrong]:
        with pytest.raises(exc):
            b.value = bad
        assert k.read(b.ptr, elem.size) == raw
        with pytest.raises(exc):
            KBox.new(elem, bad, kernel=k)
        with pytest.raises(exc):
            VBox.new(elem, bad, kernel=k)
        assert memory_state(k) == before         # nothing allocated
    assert b.value == good[0]
    b.drop()


def test_array_length_mismatch_is_refused(k: Kernel) -> None:
    v = KVec(ARR, [[1, 2, 3]], kernel=k)
    with pytest.raises((TypeError, ValueError)):
        v.push([1, 2])
    with pytest.raises((TypeError, ValueError)):
        v.push([1, 2, 3, 4])
    assert v.to_list() == [[1, 2, 3]]
    v.drop()


def test_pyobj_stores_any_object_by_identity(k: Kernel) -> None:
    things: list[object] = [None, 1, "s", (1, 2), [3], {"a": 1}, Obj(5), KVec, 2**100]
    v = KVec(pyobj, things, kernel=k)
    assert len(v) == len(things)
    for got, want in zip(v, things):
        assert got is want
    assert v[-1] is things[-1]
    v.drop()


def test_new_zeroed_values(k: Kernel) -> None:
    # dirty the memory first so that zeroing is visible
    for _ in range(3):
        KBox.new(Struct("<32s"), (b"\xff" * 32,), kernel=k).drop()
        VBox.new(Struct("<32s"), (b"\xff" * 32,), kernel=k).drop()
    cases: list[tuple[Elem[Any], Any]] = [
        (u32, 0), (i64, 0), (f64, 0.0), (f32, 0.0), (boolean, False), (pyobj, None),
        (Array(u8, 4), [0, 0, 0, 0]), (Struct("<hI"), (0, 0)),
    ]
    for cls in BOX_CLASSES:
        for elem, zero in cases:
            with cls.new_zeroed(elem, kernel=k) as b:
                assert b.value == zero, (cls, elem)


# ---------------------------------------------------------------------------------------------
# pyobj lifetimes
# ---------------------------------------------------------------------------------------------


def _stored(cls: VecClass, kern: Kernel) -> tuple[Vec[Any, Any], weakref.ref[Obj]]:
    o = Obj(1)
    v: Vec[Any, Any] = cls(pyobj, [Obj(0)], kernel=kern)
    v.push(o)
    v.push(Obj(2))
    return v, weakref.ref(o)


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_pyobj_alive_while_stored_then_pop(k: Kernel, cls: VecClass) -> None:
    v, ref = _stored(cls, k)
    assert alive(ref)
    assert v[1] is ref()
    got = v.pop(1)
    assert got is ref()
    assert alive(ref)           # still referenced by ``got``
    del got
    assert not alive(ref)
    v.drop()


OPS_THAT_RELEASE: dict[str, Callable[[Vec[Any, Any]], object]] = {
    "truncate": lambda v: v.truncate(1),
    "clear": lambda v: v.clear(),
    "overwrite": lambda v: v.__setitem__(1, None),
    "overwrite_negative": lambda v: v.__setitem__(-2, "x"),
    "drop": lambda v: v.drop(),
    "delitem": lambda v: v.__delitem__(1),
    "del_slice": lambda v: v.__delitem__(slice(1, 3)),
    "set_slice": lambda v: v.__setitem__(slice(0, 3), [1, 2]),
    "remove": lambda v: v.remove(v[1]),
    "retain": lambda v: v.retain(lambda o: isinstance(o, Obj) and o.n != 1),
    "drain_all": lambda v: list(v.drain_all()),
    "resize_down": lambda v: v.resize(1, None),
    "pop_last_twice": lambda v: (v.pop(), v.pop()),
    "exit": lambda v: v.__exit__(None, None, None),
}


@pytest.mark.parametrize("op", sorted(OPS_THAT_RELEASE))
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_pyobj_released_by(k: Kernel, cls: VecClass, op: str) -> None:
    v, ref = _stored(cls, k)
    assert alive(ref)
    OPS_THAT_RELEASE[op](v)
    assert not alive(ref)
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_pyobj_released_when_vector_collected(k: Kernel, cls: VecClass) -> None:
    v, ref = _stored(cls, k)
    vref = weakref.ref(v)
    del v
    assert not alive(ref)
    gc.collect()
    assert vref() is None


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_pyobj_refcounting_over_moves_and_duplicates(k: Kernel, cls: VecClass) -> None:
    v, ref = _stored(cls, k)
    o = ref()
    assert o is not None
    v.insert(0, o)                 # stored twice
    v.reverse()
    v.reserve(100)                 # the buffer moves or grows; references unchanged
    v.extend([Obj(7)] * 3)
    v.shrink_to_fit()
    if len(v) < v.capacity:
        v.insert_within_capacity(0, Obj(8))
    del o
    assert alive(ref)
    v.remove(ref())
    assert alive(ref)              # one element still refers to it
    idx = [i for i, x in enumerate(v) if x is ref()]
    assert len(idx) == 1
    del v[idx[0]]
    assert not alive(ref)
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_pyobj_slices_hold_their_own_references(k: Kernel, cls: VecClass) -> None:
    v, ref = _stored(cls, k)
    s = v[1:2]
    assert s[0] is ref()
    v.drop()
    assert alive(ref)
    s.clear()
    assert not alive(ref)
    s.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_pyobj_raw_parts_keep_objects_alive(k: Kernel, cls: VecClass) -> None:
    v, ref = _stored(cls, k)
    ptr, length, cap = v.into_raw_parts()
    del v
    assert alive(ref)
    w = cls.from_raw_parts(pyobj, ptr, length, cap, kernel=k)
    assert w[1] is ref()
    w.drop()
    assert not alive(ref)


def test_pyobj_push_within_capacity_failure_keeps_no_reference(k: Kernel) -> None:
    v = KVec(pyobj, [Obj()], kernel=k)
    o = Obj(3)
    ref = weakref.ref(o)
    try:
        v.push_within_capacity(o)
    except PushError as e:
        assert e.value is o
    else:
        pytest.fail("push_within_capacity into a full vector must raise PushError")
    del o
    assert not alive(ref)
    v.drop()


def test_pyobj_failed_push_keeps_no_reference(k: Kernel) -> None:
    for cls in VEC_CLASSES:
        v = cls(pyobj, [Obj()] * 1024, kernel=k)       # full: 8 KiB
        o = Obj(9)
        ref = weakref.ref(o)
        fail_everything(k)
        try:
            with pytest.raises(AllocError):
                v.push(o)
        finally:
            k.fault.clear()
        del o
        assert not alive(ref), cls
        assert len(v) == 1024
        v.drop()


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=_name)
def test_pyobj_in_boxes(k: Kernel, cls: BoxClass) -> None:
    o = Obj(1)
    ref = weakref.ref(o)
    b = cls.new(pyobj, o, kernel=k)
    del o
    assert alive(ref)
    assert b.value is ref()
    b.value = None
    assert not alive(ref)
    o2 = Obj(2)
    ref2 = weakref.ref(o2)
    b.value = o2
    del o2
    got = b.into_inner()
    assert got is ref2()
    del got
    assert not alive(ref2)

    o3 = Obj(3)
    ref3 = weakref.ref(o3)
    b3 = cls.new(pyobj, o3, kernel=k)
    del o3
    b3.drop()
    assert not alive(ref3)

    o4 = Obj(4)
    ref4 = weakref.ref(o4)
    b4 = cls.new(pyobj, o4, kernel=k)
    del o4, b4
    assert not alive(ref4)


# ---------------------------------------------------------------------------------------------
# growth policies (API.md 7)
# ---------------------------------------------------------------------------------------------


def _capacities(v: Vec[Any, Any], n: int, value: Any = 0) -> list[int]:
    caps: list[int] = []
    for _ in range(n):
        v.push(value)
        if not caps or caps[-1] != v.capacity:
            caps.append(v.capacity)
    return caps


def test_growth_policy_functions() -> None:
    assert [RUST_KVEC(c, c + 1, 8) for c in (0, 1, 2, 4, 8)] == [1, 2, 4, 8, 16]
    assert RUST_KVEC(4, 100, 8) == 100
    assert RUST_STD(0, 1, 1) == 8 and RUST_STD(0, 1, 4) == 4 and RUST_STD(0, 1, 2048) == 1
    assert EXACT(10, 11, 8) == 11
    assert FACTOR_1_5(10, 11, 8) == 15
    for policy in (RUST_KVEC, RUST_STD, CPYTHON_LIST, FACTOR_1_5, EXACT):
        for cap in range(0, 40):
            for extra in (1, 2, 7, 100):
                assert policy(cap, cap + extra, 4) >= cap + extra


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=_name)
def test_default_growth_is_rust_kvec_doubling(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, kernel=k)
    assert _capacities(v, 100) == [1, 2, 4, 8, 16, 32, 64, 128]
    w = cls(u64, kernel=k, growth=RUST_KVEC)
    assert _capacities(w, 9) == [1, 2, 4, 8, 16]
    v.drop()
    w.drop()


def test_growth_rust_std(k: Kernel) -> None:
    # std RawVec MIN_NON_ZERO_CAP: 8 for 1-byte elements, 4 up to 1 KiB, else 1
    assert _capacities(KVec(u8, kernel=k, growth=RUST_STD), 20) == [8, 16, 32]
    assert _capacities(KVec(u32, kernel=k, growth=RUST_STD), 20) == [4, 8, 16, 32]
    big = Struct("2000s")
    assert _capacities(VVec(big, kernel=k, growth=RUST_STD), 5, (b"",)) == [1, 2, 4, 8]


def test_growth_cpython_list(k: Kernel) -> None:
    # Objects/listobject.c: "The growth pattern is:  0, 4, 8, 16, 24, 32, 40, 52, 64, 76, ..."
    v = KVec(u32, kernel=k, growth=CPYTHON_LIST)
    assert _capacities(v, 70) == [4, 8, 16, 24, 32, 40, 52, 64, 76]


def test_growth_factor_1_5_and_exact(k: Kernel) -> None:
    assert _capacities(VVec(u32, kernel=k, growth=FACTOR_1_5), 28) == [1, 2, 3, 4, 6, 9, 13,
                                                                       19, 28]
    assert _capacities(KVVec(u32, kernel=k, growth=EXACT), 6) == [1, 2, 3, 4, 5, 6]


def test_growth_callable(k: Kernel) -> None:
    seen: list[tuple[int, int, int]] = []

    def plus_three(cap: int, required: int, elem_size: int) -> int:
        seen.append((cap, required, elem_size))
        return required + 3

    v = KVec(u64, kernel=k, growth=plus_three)
    assert _capacities(v, 10) == [4, 8, 12]
    assert seen == [(0, 1, 8), (4, 5, 8), (8, 9, 8)]
    v.extend_from_slice(range(5))          # 10 + 5 > 12: one call with required = 15
    assert seen[-1] == (12, 15, 8) and v.capacity == 18
    lam = VVec(u16, kernel=k, growth=lambda c, r, s: 2 * r)
    assert _capacities(lam, 5) == [2, 6]
    v.drop()
    lam.drop()


def test_growth_applies_to_reserve_and_extend(k: Kernel) -> None:
    v = KVec(u32, range(4), kernel=k)
    v.extend_from_slice([4, 5, 6, 7, 8])            # max(2 * 4, 9)
    assert v.capacity == 9
    v.reserve(1)                                    # max(18, 10)
    assert v.capacity == 18
    e = KVec(u32, range(4), kernel=k, growth=EXACT)
    e.reserve(5)
    assert e.capacity == 9
    v.drop()
    e.drop()


# ---------------------------------------------------------------------------------------------
# Vec: construction, capacity and the Rust-for-Linux methods (API.md 7.1)
# ---------------------------------------------------------------------------------------------


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
    with pytest.raises(KeyError):
        with cls(u32, range(5000), kernel=k) as w:
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


# -- failed allocations ------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Vec as a MutableSequence
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Box (API.md 7.2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=_name)
def test_box_new_value_and_memory(k: Kernel, cls: BoxClass) -> None:
    b = cls.new(u64, 7, kernel=k)
    assert b.value == 7
    assert k.read(b.ptr, 8) == struct.pack("<Q", 7)
    assert b.layout == Layout(8, 8)
    assert b.ptr % 8 == 0
    assert type(b.alloc) is {KBox: Kmalloc, VBox: Vmalloc, KVBox: KVmalloc}[cls]
    assert b.alloc.kernel is k
    assert k.is_vmalloc_addr(b.ptr) == (cls is VBox)
    b.value = 2**64 - 1
    assert b.value == 2**64 - 1
    assert k.read(b.ptr, 8) == b"\xff" * 8
    s = cls.new(Struct("<hI"), (-1, 5), kernel=k)
    assert s.value == (-1, 5)
    s.value = (2, 3)
    assert s.value == (2, 3)
    a = cls.new(Array(f64, 2), [0.5, -1.0], kernel=k)
    assert a.value == [0.5, -1.0]
    for x in (b, s, a):
        x.drop()


def test_generic_box_with_explicit_allocator(k: Kernel) -> None:
    a = Vmalloc(k)
    b: Box[float, Vmalloc] = Box.new(f32, 0.5, alloc=a)
    assert b.alloc is a and b.value == 0.5 and k.is_vmalloc_addr(b.ptr)
    z = Box.new_zeroed(u16, alloc=Kmalloc(k))
    assert z.value == 0
    b.drop()
    z.drop()


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=_name)
def test_box_into_raw_from_raw(k: Kernel, cls: BoxClass) -> None:
    before = memory_state(k)
    b = cls.new(i32, -5, kernel=k)
    p = b.into_raw()
    with pytest.raises(ValueError):
        b.value
    del b
    gc.collect()
    assert k.read(p, 4) == struct.pack("<i", -5)     # not freed
    b2 = cls.from_raw(i32, p, kernel=k)
    assert type(b2) is cls and b2.ptr == p and b2.value == -5
    b2.drop()
    assert memory_state(k) == before


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=_name)
def test_box_into_inner_drop_context_gc(k: Kernel, cls: BoxClass) -> None:
    before = memory_state(k)
    b = cls.new(f64, 2.5, kernel=k)
    assert b.into_inner() == 2.5
    assert memory_state(k) == before
    with pytest.raises(ValueError):
        b.value
    with pytest.raises(ValueError):
        b.value = 1.0
    with pytest.raises(ValueError):
        b.into_raw()
    d = cls.new(u8, 1, kernel=k)
    d.drop()
    assert memory_state(k) == before
    with pytest.raises(ValueError):
        d.value
    with cls.new(u16, 3, kernel=k) as c:
        assert c.value == 3
    assert memory_state(k) == before
    with pytest.raises(ValueError):
        c.value
    g = cls.new(Array(u64, 600), [1] * 600, kernel=k)
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None
    assert memory_state(k) == before


def test_big_box_needs_kvmalloc(k_off: Kernel) -> None:
    k = k_off
    big = Struct("5242880s")                    # 5 MiB > KMALLOC_MAX_SIZE
    before = memory_state(k)
    with pytest.raises(AllocError):
        KBox.new(big, (b"x",), kernel=k)
    with pytest.raises(AllocError):
        KBox.new_zeroed(big, kernel=k)
    assert memory_state(k) == before
    b = KVBox.new(big, (b"xyz",), kernel=k)
    assert k.is_vmalloc_addr(b.ptr)
    assert k.read(b.ptr, 4) == b"xyz\x00"
    v = VBox.new_zeroed(big, kernel=k)
    assert k.read(v.ptr + 5242870, 10) == bytes(10)
    b.drop()
    v.drop()
    assert memory_state(k) == before


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=_name)
def test_box_failed_allocation(k: Kernel, cls: BoxClass) -> None:
    before = memory_state(k)
    fail_everything(k)
    try:
        with pytest.raises(AllocError):
            cls.new(u64, 1, kernel=k)
        with pytest.raises(AllocError):
            cls.new_zeroed(Array(u64, 1000), kernel=k)
    finally:
        k.fault.clear()
    assert memory_state(k) == before


# ---------------------------------------------------------------------------------------------
# random operation sequences against a Python list (hypothesis)
# ---------------------------------------------------------------------------------------------

U32 = st.integers(0, 2**32 - 1)
SMALL = st.integers(-12, 12)


class Token:
    """A distinct object per stored value, so identity is checked for the pyobj vector."""

    __slots__ = ("n", "__weakref__")

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"T{self.n}"


class VecMachineBase(RuleBasedStateMachine):
    """KVec[int] (u32), VVec[int] (u64) and KVec[object] (pyobj) side by side with lists."""

    kasan: Literal["off", "generic"] = "off"

    def __init__(self) -> None:
        super().__init__()
        self.k = Kernel(KernelConfig(kasan=self.kasan))
        self.a: KVec[int] = KVec(u32, kernel=self.k)
        self.b: VVec[int] = VVec(u64, kernel=self.k)
        # declared as the base class so that ``self.c += ...`` type-checks (see test_typing.py)
        self.c: Vec[object, Kmalloc] = KVec(pyobj, kernel=self.k)
        self.m: list[int] = []
        self.t: list[Token] = []                 # t[i].n == m[i]

    # helpers
    def _all(self) -> list[Vec[Any, Any]]:
        return [self.a, self.b, self.c]

    def _norm(self, i: int) -> int:
        return i % len(self.m)

    # rules
    @rule(x=U32)
    def push(self, x: int) -> None:
        self.a.push(x)
        self.b.push(x)
        tok = Token(x)
        self.c.push(tok)
        self.m.append(x)
        self.t.append(tok)

    @rule(x=U32)
    def append(self, x: int) -> None:
        self.a.append(x)
        self.b.append(x)
        tok = Token(x)
        self.c.append(tok)
        self.m.append(x)
        self.t.append(tok)

    @rule(xs=st.lists(U32, max_size=12))
    def extend(self, xs: list[int]) -> None:
        self.a.extend(xs)
        self.b.extend_from_slice(xs)
        toks = [Token(x) for x in xs]
        self.c += toks
        self.m.extend(xs)
        self.t.extend(toks)

    @rule(i=st.integers(-20, 20), x=U32)
    def insert(self, i: int, x: int) -> None:
        self.a.insert(i, x)
        self.b.insert(i, x)
        tok = Token(x)
        self.c.insert(i, tok)
        self.m.insert(i, x)
        self.t.insert(i, tok)

    @rule(i=st.integers(-20, 20), x=U32)
    def insert_within_capacity(self, i: int, x: int) -> None:
        n, cap = len(self.m), self.a.capacity
        if not 0 <= i <= n:
            reason = "index_out_of_bounds"
        elif n == cap:
            reason = "out_of_capacity"
        else:
            reason = ""
        tok = Token(x)
        targets: list[tuple[Vec[Any, Any], object]] = [(self.a, x), (self.b, x), (self.c, tok)]
        for v, val in targets:
            if reason:
                with pytest.raises(InsertError) as ei:
                    v.insert_within_capacity(i, val)
                assert ei.value.reason == reason and ei.value.value is val
            else:
                v.insert_within_capacity(i, val)   
        if not reason:
            self.m.insert(i, x)
            self.t.insert(i, tok)

    @rule(x=U32)
    def push_within_capacity(self, x: int) -> None:
        full = len(self.m) == self.a.capacity
        tok = Token(x)
        targets: list[tuple[Vec[Any, Any], object]] = [(self.a, x), (self.b, x), (self.c, tok)]
        for v, val in targets:
            if full:
                with pytest.raises(PushError) as ei:
                    v.push_within_capacity(val)    
                assert ei.value.value is val
            else:
                v.push_within_capacity(val)        
        if not full:
            self.m.append(x)
            self.t.append(tok)

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(-50, 50), default=st.booleans())
    def pop(self, i: int, default: bool) -> None:
        if default:
            want = self.m.pop()
            assert self.a.pop() == want and self.b.pop() == want
            assert self.c.pop() is self.t.pop()
        else:
            j = self._norm(i) - (len(self.m) if i < 0 else 0)
            want = self.m.pop(j)
            assert self.a.pop(j) == want and self.b.pop(j) == want
            assert self.c.pop(j) is self.t.pop(j)

    @rule(i=st.integers(-50, 50))
    def pop_out_of_range(self, i: int) -> None:
        if -len(self.m) <= i < len(self.m):
            return
        for v in self._all():
            with pytest.raises(IndexError):
                v.pop(i)

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(-50, 50), x=U32)
    def setitem(self, i: int, x: int) -> None:
        j = self._norm(i)
        tok = Token(x)
        self.a[j] = x
        self.b[j - len(self.m)] = x
        self.c[j] = tok
        self.m[j] = x
        self.t[j] = tok

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(-50, 50))
    def delitem(self, i: int) -> None:
        j = self._norm(i)
        del self.a[j]
        del self.b[j]
        del self.c[j - len(self.m)]
        del self.m[j]
        del self.t[j]

    @rule(start=SMALL, stop=SMALL, step=st.integers(1, 3))
    def getslice(self, start: int, stop: int, step: int) -> None:
        sl = slice(start, stop, step)
        sa, sb, sc = self.a[sl], self.b[sl], self.c[sl]
        assert type(sa) is KVec and type(sb) is VVec and type(sc) is KVec
        assert sa.to_list() == self.m[sl] and sb == self.m[sl]
        assert [x is y for x, y in zip(sc, self.t[sl])] == [True] * len(self.t[sl])
        sa.drop()
        sb.drop()
        sc.drop()

    @rule(start=SMALL, stop=SMALL, step=st.integers(1, 3))
    def delslice(self, start: int, stop: int, step: int) -> None:
        sl = slice(start, stop, step)
        del self.a[sl]
        del self.b[sl]
        del self.c[sl]
        del self.m[sl]
        del self.t[sl]

    @rule(start=SMALL, stop=SMALL, xs=st.lists(U32, max_size=6))
    def setslice(self, start: int, stop: int, xs: list[int]) -> None:
        sl = slice(start, stop)
        toks = [Token(x) for x in xs]
        self.a[sl] = xs
        self.b[sl] = xs
        self.c[sl] = toks
        self.m[sl] = xs
        self.t[sl] = toks

    @rule(n=st.integers(0, 30))
    def truncate(self, n: int) -> None:
        for v in self._all():
            v.truncate(n)
        del self.m[n:]
        del self.t[n:]

    @rule()
    def clear(self) -> None:
        caps = [v.capacity for v in self._all()]
        for v in self._all():
            v.clear()
        assert [v.capacity for v in self._all()] == caps
        self.m.clear()
        self.t.clear()

    @rule(n=st.integers(0, 30), x=U32)
    def resize(self, n: int, x: int) -> None:
        tok = Token(x)
        self.a.resize(n, x)
        self.b.resize(n, x)
        self.c.resize(n, tok)
        if n <= len(self.m):
            del self.m[n:]
            del self.t[n:]
        else:
            self.t.extend([tok] * (n - len(self.m)))
            self.m.extend([x] * (n - len(self.m)))

    @rule(n=st.integers(0, 40))
    def reserve(self, n: int) -> None:
        for v in self._all():
            cap = v.capacity
            v.reserve(n)
            assert v.capacity >= len(self.m) + n and v.capacity >= cap
            if cap - len(self.m) >= n:
                assert v.capacity == cap

    @rule(n=st.integers(0, 40))
    def shrink_to(self, n: int) -> None:
        for v in self._all():
            cap = v.capacity
            v.shrink_to(n)
            assert v.capacity == min(cap, max(len(self.m), n))

    @rule()
    def shrink_to_fit(self) -> None:
        for v in self._all():
            v.shrink_to_fit()
            assert v.capacity == len(self.m)

    @rule()
    def reverse(self) -> None:
        for v in self._all():
            v.reverse()
        self.m.reverse()
        self.t.reverse()

    @rule(mod=st.integers(1, 4))
    def retain(self, mod: int) -> None:
        self.a.retain(lambda x: x % mod == 0)
        self.b.retain(lambda x: x % mod == 0)
        self.c.retain(lambda o: isinstance(o, Token) and o.n % mod == 0)
        keep = [i for i, x in enumerate(self.m) if x % mod == 0]
        self.m = [self.m[i] for i in keep]
        self.t = [self.t[i] for i in keep]

    @rule()
    def drain_all(self) -> None:
        assert list(self.a.drain_all()) == self.m
        assert list(self.b.drain_all()) == self.m
        drained = list(self.c.drain_all())
        assert len(drained) == len(self.t) and all(x is y for x, y in zip(drained, self.t))
        self.m.clear()
        self.t.clear()

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(0, 100))
    def remove_index_count(self, i: int) -> None:
        x = self.m[i % len(self.m)]
        first = self.m.index(x)
        assert self.a.index(x) == first and self.b.index(x) == first
        assert self.a.count(x) == self.m.count(x) == self.b.count(x)
        assert self.c.index(self.t[first]) == first
        assert x in self.a and self.t[first] in self.c
        self.a.remove(x)
        self.b.remove(x)
        self.c.remove(self.t[first])
        del self.m[first]
        del self.t[first]

    @rule(x=st.one_of(st.integers(2**64, 2**70), st.integers(-2**70, -1)))
    def push_out_of_range(self, x: int) -> None:
        for v in (self.a, self.b):
            with pytest.raises(OverflowError):
                v.push(x)
            if self.m:
                with pytest.raises(OverflowError):
                    v[0] = x
        with pytest.raises(OverflowError):
            self.a.push(2**32)

    @invariant()
    def same_contents(self) -> None:
        assert self.a.to_list() == self.m
        assert self.b.to_list() == self.m
        assert self.a == self.b
        got = self.c.to_list()
        assert len(got) == len(self.t) and all(x is y for x, y in zip(got, self.t))
        for v in self._all():
            assert len(v) == len(self.m) <= v.capacity
        # growth is the policy's decision, not the allocator's
        assert self.a.capacity == self.b.capacity == self.c.capacity
        self.k.check()
        assert self.k.kasan_reports == []

    def teardown(self) -> None:
        for v in self._all():
            v.drop()
        assert self.k.stats().nr_vmalloc_pages == 0
        self.k.check()


@settings(max_examples=200, stateful_step_count=50, deadline=None,
          suppress_health_check=list(HealthCheck))
class VecMachine(VecMachineBase):
    kasan = "off"


@settings(max_examples=60, stateful_step_count=50, deadline=None,
          suppress_health_check=list(HealthCheck))
class VecMachineKasan(VecMachineBase):
    kasan = "generic"


TestVecMachine = VecMachine.TestCase
TestVecMachineKasan = VecMachineKasan.TestCase
