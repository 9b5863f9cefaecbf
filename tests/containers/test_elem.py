"""Element types (containers.elem): sizes, range and type checks, pyobj lifetimes."""

from __future__ import annotations

import gc
import struct
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from containers import (
    Array,
    Elem,
    KBox,
    KVBox,
    KVec,
    PushError,
    Struct,
    VBox,
    Vec,
    VVec,
    boolean,
    f32,
    f64,
    i8,
    i16,
    i32,
    i64,
    isize,
    pyobj,
    u8,
    u16,
    u32,
    u64,
    usize,
)
from kvalloc import AllocError, Kernel

from ..helpers import (
    BOX_CLASSES,
    VEC_CLASSES,
    BoxClass,
    VecClass,
    class_name as _name,
    fail_everything,
    memory_state,
    snapshot,
)

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]


# -- helpers ---------------------------------------------------------------------------------------


class Obj:
    """A weak-referenceable object for pyobj lifetime tests."""

    def __init__(self, n: int = 0) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Obj({self.n})"


def alive(ref: weakref.ref[Obj]) -> bool:
    gc.collect()
    return ref() is not None


# -- element types (API.md 7) ----------------------------------------------------------------------


ARR = Array(u16, 3)
REC = Struct("<hI")


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


# -- pyobj lifetimes -------------------------------------------------------------------------------


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
