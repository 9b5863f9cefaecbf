"""The new Vec API (issue 13, /tmp/i13/API.md), written from the spec alone.

Every method is checked against a Python list, on its edges (empty, out of range, exact error
types and messages), with ``pyobj`` elements (the stored objects keep their identity), for
atomicity (a refused call changes nothing: contents, capacity, pointer, stats, invariants),
and for growth through the allocator (``stats.reallocs`` and ``ReallocEvent``s).
"""

from __future__ import annotations

import collections.abc
import gc
import re
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from containers import (
    AllocError,
    KVec,
    KVVec,
    Vec,
    VecStats,
    VVec,
    pyobj,
    u8,
    u16,
    u32,
    u64,
)
from containers.errors import RemoveError
from kvalloc import GFP, KMALLOC_MAX_SIZE, PAGE_SIZE, Kernel, Kmalloc, KVmalloc, Vmalloc
from kvalloc.alloc import ReallocEvent
from kvalloc.kernel import Page
from kvalloc.tools.bench import fragmented_kernel

from ..helpers import (
    VEC_CLASSES,
    Token,
    VecClass,
    class_name,
    finish_kernel,
    memory_state,
    no_memory,
)

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]




def toks(n: int) -> list[Token]:
    return [Token(i) for i in range(n)]


def same(got: list[Any], want: list[Any]) -> bool:
    """The same objects in the same order (identity, not equality)."""
    return len(got) == len(want) and all(x is y for x, y in zip(got, want))


Snap = tuple[list[Any], int, int, VecStats, int]


def snap(v: Vec[Any, Any]) -> Snap:
    return v.to_list(), v.capacity, v.ptr, v.stats, len(v)


def assert_unchanged(k: Kernel, v: Vec[Any, Any], before: Snap) -> None:
    after = snap(v)
    assert after[1:] == before[1:]
    assert after[0] == before[0]
    if v.elem is pyobj:
        assert same(after[0], before[0])
    v._check()
    k.check()




def events(v: Vec[Any, Any]) -> list[ReallocEvent]:
    """Start recording the ReallocEvents of ``v``'s allocator."""
    seen: list[ReallocEvent] = []
    alloc: Any = v.alloc
    alloc.observer = seen.append
    return seen


def full(cls: VecClass, k: Kernel, n: int = 1024) -> Vec[int, Any]:
    """A ``cls`` of u32 with len == capacity == n (4 KiB for the default)."""
    v: Vec[int, Any] = cls(u32, range(n), kernel=k)
    assert v.capacity == n
    return v


def dropped(cls: VecClass, k: Kernel) -> Vec[int, Any]:
    v: Vec[int, Any] = cls(u32, [3, 1, 2], kernel=k)
    v.drop()
    return v


def gone(r: weakref.ref[Any]) -> bool:
    gc.collect()
    return r() is None


# --------------------------------------------------------------------------- remove_at


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_remove_at(k: Kernel, cls: VecClass) -> None:
    m = [10, 20, 30, 40]
    v = cls(u32, m, kernel=k)
    cap = v.capacity
    for i in (1, 2, 0, 0):
        assert v.remove_at(i) == m.pop(i)
        assert v.to_list() == m
        v._check()
    assert v.capacity == cap and len(v) == 0
    v.drop()


@pytest.mark.parametrize("i,n", [(3, 3), (4, 3), (-1, 3), (-3, 3), (0, 0), (-1, 0), (100, 3)])
def test_remove_at_out_of_range(k: Kernel, i: int, n: int) -> None:
    v = KVec(u32, range(n), kernel=k)
    before = snap(v)
    msg = f"removal index (is {i}) should be < len (is {n})"
    with pytest.raises(RemoveError, match="^" + re.escape(msg) + "$") as ei:
        v.remove_at(i)
    assert isinstance(ei.value, IndexError)
    assert str(ei.value) == msg
    assert_unchanged(k, v, before)
    v.drop()


def test_remove_error_is_an_index_error() -> None:
    assert issubclass(RemoveError, IndexError)


def test_remove_at_bad_type(k: Kernel) -> None:
    v = KVec(u32, [1, 2], kernel=k)
    before = snap(v)
    bad: Any = "0"
    with pytest.raises(TypeError):
        v.remove_at(bad)
    flt: Any = 1.0
    with pytest.raises(TypeError):
        v.remove_at(flt)
    assert_unchanged(k, v, before)
    v.drop()


def test_remove_at_pyobj(k: Kernel) -> None:
    t = toks(4)
    v = KVec(pyobj, t, kernel=k)
    m = list(t)
    got = v.remove_at(1)
    assert got is m.pop(1)
    assert same(v.to_list(), m)
    r = weakref.ref(t[1])
    del got
    t.pop(1)
    assert gone(r)                      # the vector dropped its reference
    v._check()
    v.drop()


# --------------------------------------------------------------------------- extend_with


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_extend_with(k: Kernel, cls: VecClass) -> None:
    v = cls(u16, [1, 2], kernel=k)
    v.extend_with(3, 9)
    assert v.to_list() == [1, 2, 9, 9, 9]
    v.extend_with(0, 5)
    assert v.to_list() == [1, 2, 9, 9, 9]
    v._check()
    v.drop()


def test_extend_with_pyobj_same_object(k: Kernel) -> None:
    v = KVec(pyobj, kernel=k)
    t = Token(1)
    v.extend_with(4, t)
    assert same(v.to_list(), [t] * 4)
    r = weakref.ref(t)
    del t
    assert not gone(r)                 # the vector keeps it alive
    v.truncate(1)
    assert not gone(r)
    v.clear()
    assert gone(r)
    v._check()
    v.drop()


def test_extend_with_errors(k: Kernel) -> None:
    v = KVec(u8, [1], kernel=k)
    v.reserve(10)
    before = snap(v)
    with pytest.raises(ValueError):
        v.extend_with(-1, 0)
    bad: Any = "2"
    with pytest.raises(TypeError):
        v.extend_with(bad, 0)
    with pytest.raises(TypeError):
        v.extend_with(2, bad)
    with pytest.raises(OverflowError):
        v.extend_with(2, 256)
    assert_unchanged(k, v, before)
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_extend_with_grows_through_the_allocator(k: Kernel, cls: VecClass) -> None:
    v = full(cls, k, 16)
    seen = events(v)
    r = v.stats.reallocs
    v.extend_with(100, 7)
    assert v.stats.reallocs == r + 1 and v.capacity >= 116
    assert [e.outcome for e in seen] in (["in_place"], ["moved"])
    assert seen[0].new_bytes == v.capacity * 4 and seen[0].old_bytes == 16 * 4
    assert v.to_list() == list(range(16)) + [7] * 100
    v.truncate(16)
    seen.clear()
    r = v.stats.reallocs
    v.extend_with(50, 1)                       # within capacity: no reallocation
    assert v.stats.reallocs == r and seen == []
    v.drop()


# --------------------------------------------------------------------------- from_elem


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_from_elem_aliases(k: Kernel, cls: VecClass) -> None:
    v = cls.from_elem(u32, 7, 5, kernel=k)
    assert type(v) is cls
    assert v.to_list() == [7] * 5 and v.capacity == 5 and v.elem is u32
    assert v.alloc == cls(u32, kernel=k).alloc and v.alloc.kernel is k
    v._check()
    e = cls.from_elem(u32, 7, 0, kernel=k)
    assert type(e) is cls and len(e) == 0 and e.capacity == 0
    v.drop()
    e.drop()


@pytest.mark.parametrize("alloc_cls", [Kmalloc, Vmalloc, KVmalloc], ids=class_name)
def test_from_elem_generic(k: Kernel, alloc_cls: type[Kmalloc] | type[Vmalloc] | type[KVmalloc]) -> None:
    a = alloc_cls(k)
    v = Vec.from_elem(u64, 2**64 - 1, 3, alloc=a)
    assert type(v) is Vec and v.alloc == a
    assert v.to_list() == [2**64 - 1] * 3 and v.capacity == 3
    v._check()
    v.drop()


def test_from_elem_pyobj(k: Kernel) -> None:
    t = Token(0)
    v = KVec.from_elem(pyobj, t, 3, kernel=k)
    assert same(v.to_list(), [t, t, t])
    v._check()
    v.drop()


def test_from_elem_errors(k: Kernel) -> None:
    before = memory_state(k)
    with pytest.raises(ValueError):
        KVec.from_elem(u8, 1, -1, kernel=k)
    with pytest.raises(OverflowError):
        KVec.from_elem(u8, 256, 2, kernel=k)
    bad: Any = "x"
    with pytest.raises(TypeError):
        KVec.from_elem(u8, bad, 2, kernel=k)
    with pytest.raises(TypeError):
        VVec.from_elem(u8, 1, bad, kernel=k)
    with pytest.raises(AllocError):
        KVec.from_elem(u8, 0, KMALLOC_MAX_SIZE + 1, kernel=k)   # past kmalloc's limit
    with no_memory(k), pytest.raises(AllocError):
        VVec.from_elem(u32, 1, 100, kernel=k)
    assert memory_state(k) == before
    k.check()


# ------------------------------------------------------------- spare_capacity_mut, inc_len, dec_len


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_spare_capacity_write_then_inc_len(k: Kernel, cls: VecClass) -> None:
    v = cls.with_capacity(u32, 6, kernel=k)
    v.extend([1, 2])
    s = v.spare_capacity_mut()
    assert len(s) == 4
    s[0] = 3
    s.write(1, 4)
    s[2:4] = iter([5, 6])
    assert s[0] == 3 and s[1] == 4 and s[3] == 6     # raw stored values of a plain type
    assert v.to_list() == [1, 2]                        # not part of the vector yet
    v.inc_len(3)
    assert v.to_list() == [1, 2, 3, 4, 5]
    v.inc_len(1)
    assert v.to_list() == [1, 2, 3, 4, 5, 6] and v.capacity == 6
    assert len(v.spare_capacity_mut()) == 0
    v._check()
    v.drop()


def test_spare_capacity_bounds_and_values(k: Kernel) -> None:
    v = KVec.with_capacity(u8, 3, kernel=k)
    v.push(1)
    s = v.spare_capacity_mut()
    with pytest.raises(IndexError):
        s[2] = 0
    with pytest.raises(IndexError):
        s.write(2, 0)
    with pytest.raises(IndexError):
        _ = s[2]
    with pytest.raises(OverflowError):
        s[0] = 256
    bad: Any = "x"
    with pytest.raises(TypeError):
        s.write(0, bad)
    with pytest.raises(ValueError):
        s[0:2] = [1]                                    # not the same length
    with pytest.raises(ValueError):
        s[0:1] = [1, 2]
    assert v.to_list() == [1] and v.capacity == 3
    v._check()
    v.drop()


def test_spare_capacity_of_a_full_vector(k: Kernel) -> None:
    v = KVec(u32, [1, 2], kernel=k)
    s = v.spare_capacity_mut()
    assert len(s) == 0
    with pytest.raises(IndexError):
        s[0] = 1
    v.drop()


def test_spare_capacity_pyobj(k: Kernel) -> None:
    v = KVec.with_capacity(pyobj, 4, kernel=k)
    a, b = Token(1), Token(2)
    v.push(a)
    s = v.spare_capacity_mut()
    s[0] = b
    with pytest.raises(TypeError):
        _ = s[0]                                # a reference cannot be read back raw
    v.inc_len(1)
    assert same(v.to_list(), [a, b])
    # a slot never written does not hold a valid element
    before = snap(v)
    with pytest.raises(ValueError):
        v.inc_len(1)
    assert_unchanged(k, v, before)
    v.drop()


def test_inc_len_errors(k: Kernel) -> None:
    v = KVec.with_capacity(u32, 4, kernel=k)
    v.push(1)
    before = snap(v)
    with pytest.raises(ValueError):
        v.inc_len(4)                            # capacity - len is 3
    with pytest.raises(ValueError):
        v.inc_len(-1)
    bad: Any = "1"
    with pytest.raises(TypeError):
        v.inc_len(bad)
    assert_unchanged(k, v, before)
    v.inc_len(0)
    assert_unchanged(k, v, before)
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_dec_len(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, [1, 2, 3, 4], kernel=k)
    cap = v.capacity
    assert v.dec_len(2) == [3, 4]
    assert v.to_list() == [1, 2] and v.capacity == cap
    assert v.dec_len(0) == []
    before = snap(v)
    with pytest.raises(ValueError):
        v.dec_len(3)
    with pytest.raises(ValueError):
        v.dec_len(-1)
    bad: Any = 1.0
    with pytest.raises(TypeError):
        v.dec_len(bad)
    assert_unchanged(k, v, before)
    assert v.dec_len(2) == [1, 2] and len(v) == 0
    v._check()
    v.drop()


def test_dec_len_pyobj(k: Kernel) -> None:
    t = toks(3)
    v = KVec(pyobj, t, kernel=k)
    got = v.dec_len(2)
    assert same(got, t[1:])
    assert same(v.to_list(), t[:1])
    v._check()
    v.drop()


def _stale(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="view is stale"):
        call()


@pytest.mark.parametrize("change", ["push", "inc_len", "dec_len", "reserve", "shrink", "drop",
                                    "clear", "into_raw_parts"])
def test_spare_capacity_goes_stale(k: Kernel, change: str) -> None:
    v = KVec.with_capacity(u32, 8, kernel=k)
    v.extend([1, 2])
    s = v.spare_capacity_mut()
    parts: tuple[int, int, int] | None = None
    if change == "push":
        v.push(3)
    elif change == "inc_len":
        v.inc_len(1)
    elif change == "dec_len":
        v.dec_len(1)
    elif change == "reserve":
        v.reserve(100)
    elif change == "shrink":
        v.shrink_to_fit()
    elif change == "drop":
        v.drop()
    elif change == "clear":
        v.clear()
    else:
        parts = v.into_raw_parts()
    _stale(lambda: s.__setitem__(0, 1))
    _stale(lambda: s.write(0, 1))
    _stale(lambda: s[0])
    _stale(lambda: len(s))
    _stale(lambda: s.__setitem__(slice(0, 1), [1]))
    if parts is not None:
        v = KVec.from_raw_parts(u32, *parts, kernel=k)
    v._check()
    k.check()
    v.drop()


# --------------------------------------------------------------------------- as_slice


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_as_slice(k: Kernel, cls: VecClass) -> None:
    m = [5, 6, 7, 8]
    v = cls(u32, m, kernel=k)
    s = v.as_slice()
    assert isinstance(s, collections.abc.Sequence)
    assert len(s) == 4
    assert [s[i] for i in range(4)] == m
    assert s[1:3] == [6, 7] and type(s[1:3]) is list
    assert s[:] == m and s[3:1] == []
    assert list(s) == m
    assert s == m and s == [5, 6, 7, 8] and s != [5, 6, 7]
    assert 7 in s and 9 not in s
    with pytest.raises(IndexError):
        _ = s[4]
    assert v.to_list() == m
    v.drop()


def test_as_slice_empty_and_pyobj(k: Kernel) -> None:
    v = KVec(pyobj, kernel=k)
    assert len(v.as_slice()) == 0 and list(v.as_slice()) == []
    t = toks(3)
    v.extend(t)
    s = v.as_slice()
    assert same(list(s), t) and same(s[0:2], t[:2]) and s[2] is t[2]
    v.drop()


@pytest.mark.parametrize("change", ["push", "pop", "reserve", "shrink_and_extend",
                                    "truncate", "drop", "extend_with", "remove_at"])
def test_as_slice_goes_stale(k: Kernel, change: str) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    s = v.as_slice()
    if change == "push":
        v.push(4)
    elif change == "pop":
        v.pop()
    elif change == "reserve":
        v.reserve(1000)
    elif change == "shrink_and_extend":
        v.shrink_to_fit()
        v.extend_from_slice([9])        # a length and buffer change
    elif change == "truncate":
        v.truncate(1)
    elif change == "drop":
        v.drop()
    elif change == "extend_with":
        v.extend_with(2, 0)
    else:
        v.remove_at(0)
    _stale(lambda: len(s))
    _stale(lambda: s[0])
    _stale(lambda: s[0:1])
    _stale(lambda: list(s))
    v._check()
    v.drop()


# --------------------------------------------------------------------------- page_iter


def _pfns(k: Kernel, v: Vec[Any, Any]) -> list[int]:
    nbytes = v.capacity * v.elem.size
    out = []
    for i in range((nbytes + PAGE_SIZE - 1) // PAGE_SIZE):
        page = k.vmalloc_to_page(v.ptr + i * PAGE_SIZE)
        assert page is not None
        out.append(page.pfn)
    return out


def test_page_iter_vvec(k: Kernel) -> None:
    v = VVec(u64, range(1000), kernel=k)             # 8000 bytes: two pages
    pages = list(v.page_iter())
    assert all(isinstance(p, Page) for p in pages)
    got = [p.pfn for p in pages]
    assert got == _pfns(k, v) and len(got) == 2
    assert v.to_list() == list(range(1000))
    v.drop()


def test_page_iter_in_address_order_on_scattered_frames() -> None:
    k = fragmented_kernel(16 << 20)
    v = VVec(u64, range(5 * PAGE_SIZE // 8), kernel=k)      # five pages, never adjacent
    got = [p.pfn for p in v.page_iter()]
    assert got == _pfns(k, v) and len(got) == 5
    assert all(b - a != 1 for a, b in zip(got, got[1:]))
    v.drop()
    finish_kernel(k)


def test_page_iter_needs_vmalloc(k: Kernel) -> None:
    msg = "^" + re.escape("page_iter needs a vmalloc-backed buffer; this ")
    for v in (KVec(u32, [1, 2], kernel=k), KVVec(u32, [1, 2], kernel=k)):
        assert not k.is_vmalloc_addr(v.ptr)
        before = snap(v)
        with pytest.raises(TypeError, match=msg):
            list(v.page_iter())
        assert_unchanged(k, v, before)
        v.drop()


def test_page_iter_kvvec_past_kmalloc(k_off: Kernel) -> None:
    k = k_off
    v = KVVec.with_capacity(u8, KMALLOC_MAX_SIZE + 1, kernel=k)
    assert k.is_vmalloc_addr(v.ptr)
    got = [p.pfn for p in v.page_iter()]
    assert got == _pfns(k, v) and len(got) == KMALLOC_MAX_SIZE // PAGE_SIZE + 1
    v.drop()


# --------------------------------------------------------------------------- collect


def test_collect_into_other_allocator(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    a = Vmalloc(k)
    seen: list[ReallocEvent] = []
    a.observer = seen.append
    w = v.collect(a)
    assert isinstance(w, Vec) and w.alloc == a and w.to_list() == [1, 2, 3]
    assert k.is_vmalloc_addr(w.ptr)
    assert [e.outcome for e in seen] == ["fresh"]
    with pytest.raises(ValueError):
        len(v)                                       # v is left dropped
    with pytest.raises(ValueError):
        v.push(1)
    v._check()
    w._check()
    w.drop()
    k.check()


def test_collect_same_allocator_reuses_the_buffer(k: Kernel) -> None:
    v = VVec(u64, range(100), kernel=k)
    ptr, cap = v.ptr, v.capacity
    before = memory_state(k)
    w = v.collect(v.alloc)
    assert w.ptr == ptr and w.capacity == cap and w.to_list() == list(range(100))
    assert memory_state(k) == before
    assert w.alloc == v.alloc
    with pytest.raises(ValueError):
        v.to_list()
    v._check()
    w._check()
    x = w.collect(Vmalloc(k))                       # an equal allocator is the same allocator
    assert x.ptr == ptr and x.capacity == cap and x.to_list() == list(range(100))
    assert memory_state(k) == before
    x._check()
    x.drop()


def test_collect_pyobj_keeps_identity(k: Kernel) -> None:
    t = toks(5)
    v = KVec(pyobj, t, kernel=k)
    w = v.collect(KVmalloc(k))
    assert same(w.to_list(), t)
    v.drop()                                         # a no-op: already dropped
    assert same(w.to_list(), t)
    r = weakref.ref(t[0])
    del t
    assert not gone(r)
    w.drop()
    assert gone(r)


def test_collect_other_kernel_is_refused(k: Kernel) -> None:
    v = KVec(u32, [1, 2], kernel=k)
    before = snap(v)
    other = Kernel()
    with pytest.raises((ValueError, TypeError)):
        v.collect(Vmalloc(other))
    assert_unchanged(k, v, before)
    other.check()
    bad: Any = "alloc"
    with pytest.raises(TypeError):
        v.collect(bad)
    assert_unchanged(k, v, before)
    v.drop()


def test_collect_failed_allocation(k: Kernel) -> None:
    v = KVec(u32, range(100), kernel=k)
    before = snap(v)
    with no_memory(k), pytest.raises(AllocError):
        v.collect(Vmalloc(k))
    assert_unchanged(k, v, before)           # still alive, not dropped
    v.push(1)
    v.drop()


# --------------------------------------------------------------------------- swap_remove


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_swap_remove(k: Kernel, cls: VecClass) -> None:
    m = [1, 2, 3, 4, 5]
    v = cls(u32, m, kernel=k)
    cap = v.capacity
    assert v.swap_remove(1) == 2
    assert v.to_list() == [1, 5, 3, 4]
    assert v.swap_remove(-1) == 4                  # negative like list
    assert v.to_list() == [1, 5, 3]
    assert v.swap_remove(-3) == 1
    assert v.to_list() == [3, 5]
    assert v.swap_remove(1) == 5
    assert v.swap_remove(0) == 3
    assert len(v) == 0 and v.capacity == cap
    v._check()
    v.drop()


@pytest.mark.parametrize("i,n", [(3, 3), (-4, 3), (0, 0), (-1, 0)])
def test_swap_remove_bad_index(k: Kernel, i: int, n: int) -> None:
    v = KVec(u32, range(n), kernel=k)
    before = snap(v)
    with pytest.raises(IndexError):
        v.swap_remove(i)
    bad: Any = "0"
    with pytest.raises(TypeError):
        v.swap_remove(bad)
    assert_unchanged(k, v, before)
    v.drop()


def test_swap_remove_pyobj(k: Kernel) -> None:
    t = toks(4)
    v = KVec(pyobj, t, kernel=k)
    assert v.swap_remove(0) is t[0]
    assert same(v.to_list(), [t[3], t[1], t[2]])
    v._check()
    v.drop()


# --------------------------------------------------------------------------- split_off


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
@pytest.mark.parametrize("at", [0, 2, 5])
def test_split_off(k: Kernel, cls: VecClass, at: int) -> None:
    m = [1, 2, 3, 4, 5]
    v = cls(u32, m, kernel=k)
    w = v.split_off(at)
    assert type(w) is cls and w.alloc == v.alloc and w.elem is v.elem
    assert v.to_list() == m[:at] and w.to_list() == m[at:]
    v._check()
    w._check()
    w.push(9)
    assert v.to_list() == m[:at]
    v.drop()
    w.drop()


def test_split_off_errors(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    before = snap(v)
    with pytest.raises(ValueError):
        v.split_off(4)
    with pytest.raises(ValueError):
        v.split_off(-1)
    bad: Any = "1"
    with pytest.raises(TypeError):
        v.split_off(bad)
    assert_unchanged(k, v, before)
    v.drop()


def test_split_off_pyobj(k: Kernel) -> None:
    t = toks(5)
    v = KVec(pyobj, t, kernel=k)
    w = v.split_off(3)
    assert same(v.to_list(), t[:3]) and same(w.to_list(), t[3:])
    v.drop()
    assert same(w.to_list(), t[3:])
    w._check()
    w.drop()


def test_split_off_failed_allocation(k: Kernel) -> None:
    v = VVec(u32, range(2000), kernel=k)
    before = snap(v)
    mem = memory_state(k)
    with no_memory(k), pytest.raises(AllocError):
        v.split_off(1)
    assert_unchanged(k, v, before)
    assert memory_state(k) == mem
    v.drop()


# --------------------------------------------------------------------------- append_vec


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
@pytest.mark.parametrize("other_cls", VEC_CLASSES, ids=class_name)
def test_append_vec(k: Kernel, cls: VecClass, other_cls: VecClass) -> None:
    v = cls(u32, [1, 2], kernel=k)
    o = other_cls(u32, [3, 4, 5], kernel=k)
    ocap, optr = o.capacity, o.ptr
    v.append_vec(o)
    assert v.to_list() == [1, 2, 3, 4, 5]
    assert len(o) == 0 and o.to_list() == [] and o.capacity == ocap and o.ptr == optr
    o.push(6)                                       # other is still usable
    assert o.to_list() == [6]
    v._check()
    o._check()
    v.drop()
    o.drop()


def test_append_vec_empty_and_pyobj(k: Kernel) -> None:
    t = toks(4)
    v = KVec(pyobj, t[:1], kernel=k)
    o = VVec(pyobj, t[1:], kernel=k)
    v.append_vec(o)
    assert same(v.to_list(), t) and len(o) == 0
    before = snap(v)
    v.append_vec(o)                                 # nothing to move
    assert_unchanged(k, v, before)
    del before
    o.drop()
    assert same(v.to_list(), t)
    r = weakref.ref(t[3])
    del t
    assert not gone(r)
    v.drop()
    assert gone(r)


def test_append_vec_errors(k: Kernel) -> None:
    v = KVec(u32, [1], kernel=k)
    o = KVec(u64, [2], kernel=k)
    before, obefore = snap(v), snap(o)
    with pytest.raises(TypeError):
        v.append_vec(o)                             # another element type
    bad: Any = [2, 3]
    with pytest.raises(TypeError):
        v.append_vec(bad)
    d = dropped(KVec, k)
    with pytest.raises(ValueError):
        v.append_vec(d)
    assert_unchanged(k, v, before)
    assert_unchanged(k, o, obefore)
    v.drop()
    o.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_append_vec_grows_and_fails_atomically(k: Kernel, cls: VecClass) -> None:
    v = full(cls, k)
    o = VVec(u32, range(10), kernel=k)
    before, obefore = snap(v), snap(o)
    with no_memory(k), pytest.raises(AllocError):
        v.append_vec(o)
    assert_unchanged(k, v, before)
    assert_unchanged(k, o, obefore)
    seen = events(v)
    v.append_vec(o)
    assert v.stats.reallocs == before[3].reallocs + 1
    assert len(seen) == 1 and seen[0].outcome in ("in_place", "moved")
    assert v.to_list() == list(range(1024)) + list(range(10)) and len(o) == 0
    v.drop()
    o.drop()


# --------------------------------------------------------------------------- dedup


@pytest.mark.parametrize("m,want", [([], []), ([1], [1]), ([1, 1, 2, 2, 2, 1, 3, 3], [1, 2, 1, 3]),
                                    ([4, 4, 4], [4]), ([1, 2, 3], [1, 2, 3])])
def test_dedup(k: Kernel, m: list[int], want: list[int]) -> None:
    v = VVec(u32, m, kernel=k)
    cap = v.capacity
    v.dedup()
    assert v.to_list() == want and v.capacity == cap
    v._check()
    v.drop()


def test_dedup_by_key(k: Kernel) -> None:
    v = KVec(u32, [10, 11, 20, 21, 22, 10, 30], kernel=k)
    v.dedup_by_key(lambda x: x // 10)
    assert v.to_list() == [10, 20, 10, 30]
    v.drop()


def test_dedup_by_compares_with_the_last_kept(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3, 4, 10, 10], kernel=k)
    v.dedup_by(lambda a, b: abs(a - b) <= 1)
    # Rust: 2 is close to the kept 1 (removed); 3 is compared with 1 (kept); 4 with 3 (removed)
    assert v.to_list() == [1, 3, 10]
    v.drop()


def test_dedup_pyobj(k: Kernel) -> None:
    a, b = Token(1), Token(2)
    c = Token(1)
    v = KVec(pyobj, [a, a, b, b, a, c], kernel=k)
    v.dedup()                                     # Tokens compare by identity
    assert same(v.to_list(), [a, b, a, c])
    v.dedup_by_key(lambda t: t.n if isinstance(t, Token) else None)
    assert same(v.to_list(), [a, b, a])
    rc = weakref.ref(c)
    del c
    assert gone(rc)                               # the removed element was released
    v._check()
    v.drop()


def test_dedup_key_raises_changes_nothing(k: Kernel) -> None:
    v = KVec(u32, [1, 1, 2, 2], kernel=k)
    before = snap(v)

    def boom(x: int) -> object:
        raise RuntimeError("key")

    with pytest.raises(RuntimeError):
        v.dedup_by_key(boom)
    assert_unchanged(k, v, before)
    v.drop()


# --------------------------------------------------------------------------- drain


@pytest.mark.parametrize("r,lo,hi", [(slice(None), 0, 6), (slice(1, 4), 1, 4), (range(2, 5), 2, 5),
                                     (range(0, 0), 0, 0), (slice(6, None), 6, 6), (range(6), 0, 6),
                                     (slice(None, 2), 0, 2)])
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_drain(k: Kernel, cls: VecClass, r: slice | range, lo: int, hi: int) -> None:
    m = [1, 2, 3, 4, 5, 6]
    v = cls(u32, m, kernel=k)
    cap = v.capacity
    it = v.drain(r)
    assert v.to_list() == m[:lo] + m[hi:]          # removed at once, before iterating
    assert v.capacity == cap
    assert list(it) == m[lo:hi]
    v._check()
    v.drop()


def test_drain_default_is_everything(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    assert list(v.drain()) == [1, 2, 3] and len(v) == 0
    v.drop()


def test_drain_pyobj(k: Kernel) -> None:
    t = toks(5)
    v = KVec(pyobj, t, kernel=k)
    it = v.drain(range(1, 3))
    assert same(v.to_list(), [t[0], t[3], t[4]])
    v.drop()                                        # the drained objects survive the vector
    assert same(list(it), t[1:3])


def test_drain_errors(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3, 4], kernel=k)
    before = snap(v)
    with pytest.raises(ValueError):
        v.drain(slice(0, 4, 2))                     # step must be 1
    with pytest.raises(ValueError):
        v.drain(range(0, 4, 2))
    with pytest.raises((IndexError, ValueError)):
        v.drain(range(2, 9))                        # past the end
    bad: Any = (0, 2)
    with pytest.raises(TypeError):
        v.drain(bad)
    assert_unchanged(k, v, before)
    v.drop()


# --------------------------------------------------------------------------- extend_from_within


@pytest.mark.parametrize("r,lo,hi", [(slice(None), 0, 4), (slice(1, 3), 1, 3), (range(2, 4), 2, 4),
                                     (range(0), 0, 0)])
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_extend_from_within(k: Kernel, cls: VecClass, r: slice | range, lo: int, hi: int) -> None:
    m = [1, 2, 3, 4]
    v = cls(u32, m, kernel=k)
    v.extend_from_within(r)
    assert v.to_list() == m + m[lo:hi]
    v._check()
    v.drop()


def test_extend_from_within_default_and_pyobj(k: Kernel) -> None:
    t = toks(3)
    v = KVec(pyobj, t, kernel=k)
    v.extend_from_within()
    assert same(v.to_list(), t + t)
    v.truncate(3)
    v.extend_from_within(slice(2, 3))
    assert same(v.to_list(), t + [t[2]])
    r0, r2 = weakref.ref(t[0]), weakref.ref(t[2])
    del t
    v.truncate(2)                                  # both references to t[2] released
    assert gone(r2) and not gone(r0)
    v._check()
    v.drop()
    assert gone(r0)


def test_extend_from_within_errors(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    v.reserve(20)
    before = snap(v)
    with pytest.raises((IndexError, ValueError)):
        v.extend_from_within(range(1, 5))
    bad: Any = [0, 1]
    with pytest.raises(TypeError):
        v.extend_from_within(bad)
    assert_unchanged(k, v, before)
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_extend_from_within_grows_and_fails_atomically(k: Kernel, cls: VecClass) -> None:
    v = full(cls, k)
    before = snap(v)
    with no_memory(k), pytest.raises(AllocError):
        v.extend_from_within()
    assert_unchanged(k, v, before)
    seen = events(v)
    v.extend_from_within(range(0, 10))
    assert v.stats.reallocs == before[3].reallocs + 1 and len(seen) == 1
    assert seen[0].outcome in ("in_place", "moved")
    assert v.to_list() == list(range(1024)) + list(range(10))
    v.drop()


# --------------------------------------------------------------------------- sort


SORT_DATA = [5, 3, 9, 1, 3, 7, 0, 9, 2]


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_sort(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, SORT_DATA, kernel=k)
    cap, ptr = v.capacity, v.ptr
    v.sort()
    assert v.to_list() == sorted(SORT_DATA)
    v.sort(reverse=True)
    assert v.to_list() == sorted(SORT_DATA, reverse=True)
    v.sort(key=lambda x: (x % 3, x))
    assert v.to_list() == sorted(SORT_DATA, key=lambda x: (x % 3, x))
    v.sort(key=lambda x: x % 4, reverse=True)
    assert v.to_list() == sorted(sorted(SORT_DATA, key=lambda x: (x % 3, x)), key=lambda x: x % 4,
                                 reverse=True)
    assert v.capacity == cap and v.ptr == ptr
    v._check()
    v.drop()


def test_sort_by_key_and_sort_by(k: Kernel) -> None:
    v = KVec(u32, SORT_DATA, kernel=k)
    v.sort_by_key(lambda x: -x)
    assert v.to_list() == sorted(SORT_DATA, key=lambda x: -x)
    v.sort_by(lambda a, b: (a > b) - (a < b))
    assert v.to_list() == sorted(SORT_DATA)
    v.sort_by(lambda a, b: b - a)
    assert v.to_list() == sorted(SORT_DATA, reverse=True)
    v.drop()


def test_sort_is_stable_pyobj(k: Kernel) -> None:
    t = [Token(n) for n in [3, 1, 3, 2, 1, 3]]
    v = KVec(pyobj, t, kernel=k)

    def key(o: object) -> int:
        assert isinstance(o, Token)
        return o.n

    v.sort(key=key)
    assert same(v.to_list(), sorted(t, key=key))
    v.sort(key=key, reverse=True)
    assert same(v.to_list(), sorted(sorted(t, key=key), key=key, reverse=True))
    v.sort_by_key(lambda o: 0)
    assert same(v.to_list(), sorted(sorted(t, key=key), key=key, reverse=True))
    v.sort_by(lambda a, b: key(a) - key(b))
    assert same(v.to_list(), sorted(t, key=key))
    v._check()
    v.drop()


def test_sort_failure_changes_nothing(k: Kernel) -> None:
    v = KVec(pyobj, [Token(1), 2, Token(3)], kernel=k)
    before = snap(v)
    with pytest.raises(TypeError):
        v.sort()                                   # Token and int do not compare
    assert_unchanged(k, v, before)

    def bad_key(o: object) -> int:
        raise RuntimeError("key")

    with pytest.raises(RuntimeError):
        v.sort_by_key(bad_key)
    with pytest.raises(RuntimeError):
        v.sort(key=bad_key)
    assert_unchanged(k, v, before)
    v.drop()


# --------------------------------------------------------------------------- binary_search


def test_binary_search(k: Kernel) -> None:
    m = [1, 3, 5, 7, 9]
    v = KVec(u32, m, kernel=k)
    for x in range(11):
        r = v.binary_search(x)
        if x in m:
            assert tuple(r) == (True, m.index(x)) and r.found and r.index == m.index(x)
        else:
            assert tuple(r) == (False, sum(1 for y in m if y < x)) and not r.found
    assert v.to_list() == m
    v.drop()


def test_binary_search_empty_and_duplicates(k: Kernel) -> None:
    e = KVec(u32, kernel=k)
    assert tuple(e.binary_search(3)) == (False, 0)
    v = KVec(u32, [1, 2, 2, 2, 3], kernel=k)
    r = v.binary_search(2)
    assert r.found and r.index in (1, 2, 3)
    assert tuple(v.binary_search(0)) == (False, 0)
    assert tuple(v.binary_search(4)) == (False, 5)
    e.drop()
    v.drop()


def test_binary_search_by_key(k: Kernel) -> None:
    t = [Token(n) for n in (2, 4, 6, 8)]
    v = KVec(pyobj, t, kernel=k)

    def key(o: object) -> int:
        assert isinstance(o, Token)
        return o.n

    assert tuple(v.binary_search_by_key(6, key)) == (True, 2)
    assert tuple(v.binary_search_by_key(5, key)) == (False, 2)
    assert tuple(v.binary_search_by_key(9, key)) == (False, 4)
    w = KVec(u32, [10, 20, 30], kernel=k)
    assert tuple(w.binary_search_by_key(2, lambda x: x // 10)) == (True, 1)
    v.drop()
    w.drop()


# --------------------------------------------------------------------------- chunks, windows


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 10])
def test_chunks_and_windows(k: Kernel, n: int) -> None:
    m = [1, 2, 3, 4, 5, 6, 7]
    v = VVec(u32, m, kernel=k)
    assert list(v.chunks(n)) == [m[i:i + n] for i in range(0, len(m), n)]
    assert list(v.windows(n)) == [m[i:i + n] for i in range(len(m) - n + 1)]
    assert v.to_list() == m
    v.drop()


def test_chunks_windows_empty_pyobj_and_errors(k: Kernel) -> None:
    e = KVec(u32, kernel=k)
    assert list(e.chunks(3)) == [] and list(e.windows(1)) == []
    t = toks(3)
    v = KVec(pyobj, t, kernel=k)
    ch = list(v.chunks(2))
    assert len(ch) == 2 and same(ch[0], t[:2]) and same(ch[1], t[2:])
    wi = list(v.windows(2))
    assert len(wi) == 2 and same(wi[0], t[:2]) and same(wi[1], t[1:])
    for bad in (0, -1):
        with pytest.raises(ValueError):
            list(v.chunks(bad))
        with pytest.raises(ValueError):
            list(v.windows(bad))
    s: Any = "2"
    with pytest.raises(TypeError):
        list(v.chunks(s))
    assert same(v.to_list(), t)
    e.drop()
    v.drop()


# --------------------------------------------------------------------------- fill


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_fill(k: Kernel, cls: VecClass) -> None:
    v = cls(u16, [1, 2, 3], kernel=k)
    cap = v.capacity
    v.fill(7)
    assert v.to_list() == [7, 7, 7] and v.capacity == cap
    e = cls(u16, kernel=k)
    e.fill(5)
    assert e.to_list() == []
    before = snap(v)
    with pytest.raises(OverflowError):
        v.fill(2**16)
    bad: Any = "x"
    with pytest.raises(TypeError):
        v.fill(bad)
    assert_unchanged(k, v, before)
    v.drop()
    e.drop()


def test_fill_pyobj_releases_the_old_objects(k: Kernel) -> None:
    t = toks(3)
    v = KVec(pyobj, t, kernel=k)
    refs = [weakref.ref(x) for x in t]
    del t
    z = Token(9)
    v.fill(z)
    assert same(v.to_list(), [z, z, z])
    assert all(gone(r) for r in refs)
    v._check()
    v.drop()


# --------------------------------------------------------------------------- rotate


@pytest.mark.parametrize("kk", [0, 1, 3, 5])
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_rotate(k: Kernel, cls: VecClass, kk: int) -> None:
    m = [1, 2, 3, 4, 5]
    v = cls(u32, m, kernel=k)
    v.rotate_left(kk)
    assert v.to_list() == m[kk:] + m[:kk]
    v.rotate_right(kk)
    assert v.to_list() == m
    v.rotate_right(kk)
    assert v.to_list() == m[len(m) - kk:] + m[:len(m) - kk]
    v._check()
    v.drop()


def test_rotate_errors_and_pyobj(k: Kernel) -> None:
    t = toks(4)
    v = KVec(pyobj, t, kernel=k)
    v.rotate_left(1)
    assert same(v.to_list(), t[1:] + t[:1])
    v.rotate_right(1)
    assert same(v.to_list(), t)
    before = snap(v)
    for f in (v.rotate_left, v.rotate_right):
        with pytest.raises(ValueError):
            f(5)
        with pytest.raises(ValueError):
            f(-1)
        bad: Any = "1"
        with pytest.raises(TypeError):
            f(bad)
    assert_unchanged(k, v, before)
    e = KVec(u32, kernel=k)
    e.rotate_left(0)
    e.rotate_right(0)
    with pytest.raises(ValueError):
        e.rotate_left(1)
    v.drop()
    e.drop()


# --------------------------------------------------------------------------- first, last, get, swap


def test_first_last_get(k: Kernel) -> None:
    v = KVec(u32, [4, 5, 6], kernel=k)
    assert v.first() == 4 and v.last() == 6
    assert [v.get(i) for i in range(-2, 5)] == [None, None, 4, 5, 6, None, None]
    e = KVec(u32, kernel=k)
    assert e.first() is None and e.last() is None and e.get(0) is None
    t = toks(2)
    p = KVec(pyobj, t, kernel=k)
    assert p.first() is t[0] and p.last() is t[1] and p.get(1) is t[1]
    bad: Any = "0"
    with pytest.raises(TypeError):
        v.get(bad)
    for x in (v, e, p):
        x.drop()


def test_first_last_get_of_zero_values(k: Kernel) -> None:
    v = KVec(u32, [0], kernel=k)
    assert v.first() == 0 and v.last() == 0 and v.get(0) == 0
    v.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_swap(k: Kernel, cls: VecClass) -> None:
    m = [1, 2, 3, 4]
    v = cls(u32, m, kernel=k)
    v.swap(0, 3)
    assert v.to_list() == [4, 2, 3, 1]
    v.swap(1, 1)
    assert v.to_list() == [4, 2, 3, 1]
    before = snap(v)
    with pytest.raises(IndexError):
        v.swap(0, 4)
    with pytest.raises(IndexError):
        v.swap(4, 0)
    bad: Any = "1"
    with pytest.raises(TypeError):
        v.swap(bad, 0)
    assert_unchanged(k, v, before)
    v.drop()


def test_swap_pyobj(k: Kernel) -> None:
    t = toks(3)
    v = KVec(pyobj, t, kernel=k)
    v.swap(0, 2)
    assert same(v.to_list(), [t[2], t[1], t[0]])
    v._check()
    v.drop()


# --------------------------------------------------------------------------- + * *= copy


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_add(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, [1, 2], kernel=k)
    other = VVec(u32, [3], kernel=k)
    for rhs, want in ((other, [1, 2, 3]), ([4, 5], [1, 2, 4, 5]), ((6,), [1, 2, 6]), ([], [1, 2])):
        w = v + rhs
        assert type(w) is cls and w.alloc == v.alloc and w.to_list() == want
        assert w.ptr != v.ptr or w.capacity == 0
        w._check()
        w.drop()
    r = [0] + v
    assert type(r) is list and r == [0, 1, 2]
    assert v.to_list() == [1, 2] and other.to_list() == [3]
    v.drop()
    other.drop()


def test_add_errors(k: Kernel) -> None:
    v = KVec(u8, [1], kernel=k)
    before = snap(v)
    mem = memory_state(k)
    bad: Any = "ab"
    with pytest.raises(TypeError):
        _ = v + bad
    with pytest.raises(OverflowError):
        _ = v + [256]
    none: list[Any] = [None]
    with pytest.raises(TypeError):
        _ = v + none
    three: Any = 3
    with pytest.raises(TypeError):
        _ = v + three
    assert_unchanged(k, v, before)
    assert memory_state(k) == mem
    v.drop()


def test_add_pyobj(k: Kernel) -> None:
    t = toks(4)
    v = KVec(pyobj, t[:2], kernel=k)
    w = v + t[2:]
    assert same(w.to_list(), t)
    head: list[object] = [t[0]]
    r = head + v
    assert type(r) is list and same(r, [t[0], t[0], t[1]])
    v.drop()
    w.drop()


@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_mul(k: Kernel, cls: VecClass, n: int) -> None:
    m = [1, 2]
    v = cls(u32, m, kernel=k)
    for w in (v * n, n * v):
        assert type(w) is cls and w.alloc == v.alloc and w.to_list() == m * n
        w._check()
        w.drop()
    assert v.to_list() == m
    v *= n
    assert type(v) is cls and v.to_list() == m * n
    v._check()
    v.drop()


def test_imul_keeps_the_object_and_grows(k: Kernel) -> None:
    v = full(VVec, k, 100)
    ident = v
    seen = events(v)
    r = v.stats.reallocs
    v *= 3
    assert v is ident and v.to_list() == list(range(100)) * 3
    assert v.stats.reallocs >= r + 1 and seen and seen[0].outcome in ("in_place", "moved")
    v.drop()


def test_mul_pyobj_and_errors(k: Kernel) -> None:
    t = toks(2)
    v = KVec(pyobj, t, kernel=k)
    w = v * 2
    assert same(w.to_list(), t + t)
    v *= 2
    assert same(v.to_list(), t + t)
    before = snap(v)
    bad: Any = "2"
    with pytest.raises(TypeError):
        _ = v * bad
    with pytest.raises(TypeError):
        v *= bad
    assert_unchanged(k, v, before)
    v.drop()
    w.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_copy(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, [1, 2, 3], kernel=k)
    w = v.copy()
    assert type(w) is cls and w == v and w.alloc == v.alloc and w.ptr != v.ptr
    assert w.capacity == 3
    w.push(4)
    assert v.to_list() == [1, 2, 3]
    t = toks(2)
    p = KVec(pyobj, t, kernel=k)
    q = p.copy()
    assert same(q.to_list(), t)
    for x in (v, w, p, q):
        x._check()
        x.drop()


GROWING_NEW: dict[str, Callable[[Vec[int, Any]], object]] = {
    "add": lambda v: v + [1],
    "add_self": lambda v: v + v,
    "mul": lambda v: v * 2,
    "rmul": lambda v: 2 * v,
    "copy": lambda v: v.copy(),
}

GROWING_IN_PLACE: dict[str, Callable[[Vec[int, Any]], object]] = {
    "extend_with": lambda v: v.extend_with(5, 1),
    "extend_from_within": lambda v: v.extend_from_within(range(0, 3)),
    "imul": lambda v: v.__imul__(2),
    "reinit": lambda v: _reinit(v, range(2000)),
}


def _reinit(v: Vec[Any, Any], items: Any) -> None:
    """``__init__`` again, with the constructor's arguments (the vector's own element type,
    kernel, flags and policy)."""
    target: Any = v
    if isinstance(v, (KVec, VVec, KVVec)):
        target.__init__(v.elem, items, kernel=v.alloc.kernel)
    else:
        target.__init__(v.elem, items, alloc=v.alloc)


@pytest.mark.parametrize("op", sorted(GROWING_NEW) + sorted(GROWING_IN_PLACE))
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_failed_allocation_changes_nothing(k: Kernel, cls: VecClass, op: str) -> None:
    v = full(cls, k)
    before = snap(v)
    mem = memory_state(k)
    f = GROWING_NEW.get(op) or GROWING_IN_PLACE[op]
    with no_memory(k), pytest.raises(AllocError):
        f(v)
    assert_unchanged(k, v, before)
    assert memory_state(k) == mem
    if op in GROWING_IN_PLACE:
        seen = events(v)
        f(v)                                          # works once memory is back
        assert v.stats.reallocs > before[3].reallocs
        # a replacement may free the old buffer and allocate afresh
        assert seen and seen[0].outcome in (("in_place", "moved", "fresh") if op == "reinit"
                                            else ("in_place", "moved"))
    else:
        w: Any = f(v)
        assert_unchanged(k, v, before)
        w.drop()
    v.drop()


# --------------------------------------------------------------------------- comparisons, reversed


def test_comparisons(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    w = VVec(u32, [1, 2, 4], kernel=k)
    bigger: list[Any] = [[1, 2, 4], (1, 2, 4), w]
    equal: list[Any] = [[1, 2, 3], (1, 2, 3)]
    for other in bigger:
        assert v < other and v <= other and not v > other and not v >= other
        assert v != other
    for other in equal:
        assert v <= other and v >= other and not v < other and not v > other
    assert v > [1, 2] and v >= (1, 2) and v < [1, 2, 3, 0] and v > []
    assert w > v and w >= v and not w < v
    e = KVec(u32, kernel=k)
    assert e < v and e <= [] and e >= () and not e < []
    bad: Any = "abc"
    with pytest.raises(TypeError):
        _ = v < bad
    three: Any = 3
    with pytest.raises(TypeError):
        _ = v < three
    for x in (v, w, e):
        x.drop()


def test_reversed(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    assert list(reversed(v)) == [3, 2, 1]
    assert v.to_list() == [1, 2, 3]
    t = toks(3)
    p = KVec(pyobj, t, kernel=k)
    assert same(list(reversed(p)), t[::-1])
    e = VVec(u32, kernel=k)
    assert list(reversed(e)) == []
    for x in (v, p, e):
        x.drop()


# --------------------------------------------------------------------------- re-__init__


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_reinit_replaces_contents(k: Kernel, cls: VecClass) -> None:
    v = cls(u32, [1, 2, 3], kernel=k)
    alloc = v.alloc
    _reinit(v, [7, 8])
    assert type(v) is cls and v.to_list() == [7, 8] and v.elem is u32 and v.alloc == alloc
    _reinit(v, range(100))
    assert v.to_list() == list(range(100))
    _reinit(v, [])
    assert v.to_list() == []
    v._check()
    v.drop()


def test_reinit_pyobj_and_bad_values(k: Kernel) -> None:
    t = toks(3)
    v = KVec(pyobj, t, kernel=k)
    refs = [weakref.ref(x) for x in t]
    new = toks(2)
    _reinit(v, new)
    del t
    assert same(v.to_list(), new) and all(gone(r) for r in refs)
    v.drop()
    w = KVec(u8, [1, 2], kernel=k)
    before = snap(w)
    with pytest.raises(OverflowError):
        _reinit(w, [1, 256])
    bad: Any = 5
    with pytest.raises(TypeError):
        _reinit(w, bad)
    assert_unchanged(k, w, before)
    w.drop()


# --------------------------------------------------------------------------- dropped vectors


ON_DROPPED: dict[str, Callable[[Vec[int, Any]], object]] = {
    "remove_at": lambda v: v.remove_at(0),
    "extend_with": lambda v: v.extend_with(1, 1),
    "spare_capacity_mut": lambda v: v.spare_capacity_mut(),
    "inc_len": lambda v: v.inc_len(0),
    "dec_len": lambda v: v.dec_len(0),
    "as_slice": lambda v: v.as_slice(),
    "page_iter": lambda v: list(v.page_iter()),
    "collect": lambda v: v.collect(v.alloc),
    "swap_remove": lambda v: v.swap_remove(0),
    "split_off": lambda v: v.split_off(0),
    "append_vec": lambda v: v.append_vec(KVec(u32, [1], kernel=v.alloc.kernel)),
    "dedup": lambda v: v.dedup(),
    "dedup_by_key": lambda v: v.dedup_by_key(lambda x: x),
    "dedup_by": lambda v: v.dedup_by(lambda a, b: a == b),
    "drain": lambda v: list(v.drain()),
    "extend_from_within": lambda v: v.extend_from_within(),
    "sort": lambda v: v.sort(),
    "sort_by_key": lambda v: v.sort_by_key(lambda x: x),
    "sort_by": lambda v: v.sort_by(lambda a, b: a - b),
    "binary_search": lambda v: v.binary_search(1),
    "binary_search_by_key": lambda v: v.binary_search_by_key(1, lambda x: x),
    "chunks": lambda v: list(v.chunks(1)),
    "windows": lambda v: list(v.windows(1)),
    "fill": lambda v: v.fill(0),
    "rotate_left": lambda v: v.rotate_left(0),
    "rotate_right": lambda v: v.rotate_right(0),
    "first": lambda v: v.first(),
    "last": lambda v: v.last(),
    "get": lambda v: v.get(0),
    "swap": lambda v: v.swap(0, 0),
    "add": lambda v: v + [1],
    "radd": lambda v: [1] + v,
    "mul": lambda v: v * 2,
    "rmul": lambda v: 2 * v,
    "imul": lambda v: v.__imul__(2),
    "copy": lambda v: v.copy(),
    "lt": lambda v: v < [1],
    "le": lambda v: v <= [1],
    "gt": lambda v: v > [1],
    "ge": lambda v: v >= [1],
    "reversed": lambda v: list(reversed(v)),
    "into_boxed_slice": lambda v: v.into_boxed_slice(),
}


@pytest.mark.parametrize("op", sorted(ON_DROPPED))
def test_dropped_vector_refuses(k: Kernel, op: str) -> None:
    cls: VecClass = VVec if op == "page_iter" else KVec
    v = dropped(cls, k)
    mem = memory_state(k)
    with pytest.raises(ValueError):
        ON_DROPPED[op](v)
    v._check()
    k.check()
    assert memory_state(k) == mem or op == "append_vec"


@pytest.mark.parametrize("op", ["remove_at", "swap_remove", "dedup", "sort", "fill", "rotate_left",
                                "first", "binary_search", "as_slice", "spare_capacity_mut"])
def test_given_away_vector_refuses(k: Kernel, op: str) -> None:
    v = KVec(u32, [1, 2], kernel=k)
    parts = v.into_raw_parts()
    with pytest.raises(ValueError):
        ON_DROPPED[op](v)
    KVec.from_raw_parts(u32, *parts, kernel=k).drop()


# --------------------------------------------------------------------------- flags


def test_flags_are_validated(k: Kernel) -> None:
    v = KVec(u32, [1, 2], kernel=k)
    before = snap(v)
    neg: Any = -1
    txt: Any = "x"
    calls: list[Callable[[Any], object]] = [lambda f: v.extend_with(3, 0, flags=f),
                                            lambda f: v.extend_from_within(flags=f)]
    for call in calls:
        with pytest.raises(ValueError):
            call(neg)
        with pytest.raises(TypeError):
            call(txt)
    assert_unchanged(k, v, before)
    mem = memory_state(k)
    with pytest.raises(ValueError):
        KVec.from_elem(u32, 0, 3, kernel=k, flags=neg)
    with pytest.raises(ValueError):
        v.collect(Vmalloc(k), flags=neg)
    assert_unchanged(k, v, before)
    assert memory_state(k) == mem
    v.extend_with(2, 5, flags=GFP.KERNEL)
    v.extend_from_within(range(0, 1), flags=GFP.KERNEL)
    assert v.to_list() == [1, 2, 5, 5, 1]
    w = KVec.from_elem(u32, 1, 2, kernel=k, flags=GFP.KERNEL | GFP.ZERO)
    assert w.to_list() == [1, 1]
    v.drop()
    w.drop()


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_reinit_with_constructor_arguments_is_atomic(k: Kernel, cls: VecClass) -> None:
    """Re-initialising with the constructor's own arguments is a growing replacement too:
    a refused allocation or a bad value leaves the old contents in place."""
    v = cls(u32, [1, 2, 3], kernel=k)
    target: Any = v
    before = snap(v)
    with no_memory(k), pytest.raises(AllocError):
        target.__init__(u32, range(2000), kernel=k)
    assert_unchanged(k, v, before)
    with pytest.raises(OverflowError):
        target.__init__(u32, [1, 2**40], kernel=k)
    assert_unchanged(k, v, before)
    target.__init__(u32, [4, 5], kernel=k)
    assert v.to_list() == [4, 5]
    v.drop()


PYOBJ_GROWING: dict[str, Callable[[Vec[object, Any], Token, Vec[object, Any]], object]] = {
    "extend_with": lambda v, x, o: v.extend_with(3, x),
    "extend_from_within": lambda v, x, o: v.extend_from_within(),
    "append_vec": lambda v, x, o: v.append_vec(o),
    "add": lambda v, x, o: v + [x],
    "mul": lambda v, x, o: v * 2,
    "imul": lambda v, x, o: v.__imul__(2),
    "copy": lambda v, x, o: v.copy(),
    "split_off": lambda v, x, o: v.split_off(1),
    "collect": lambda v, x, o: v.collect(Vmalloc(v.alloc.kernel)),
}


@pytest.mark.parametrize("op", sorted(PYOBJ_GROWING))
def test_refused_growth_takes_no_pyobj_reference(k: Kernel, op: str) -> None:
    t = toks(600)                                    # 4800 bytes: a page and more
    v = KVec(pyobj, t, kernel=k)
    o = KVec(pyobj, [Token(-1)], kernel=k)
    x = Token(-2)
    before, obefore = snap(v), snap(o)
    with no_memory(k), pytest.raises(AllocError):
        PYOBJ_GROWING[op](v, x, o)
    assert_unchanged(k, v, before)
    assert_unchanged(k, o, obefore)
    del before, obefore
    rx, r0, ro = weakref.ref(x), weakref.ref(t[0]), weakref.ref(o.to_list()[0])
    del x, t
    assert gone(rx)                                 # no reference was kept for the new value
    assert not gone(r0) and not gone(ro)
    o.drop()
    v.drop()
    assert gone(r0) and gone(ro)
