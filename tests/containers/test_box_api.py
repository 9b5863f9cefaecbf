"""The new Box API (issue 13, /tmp/i13/API.md, "Box"), written from the spec alone:
uninitialised boxes, drop_contents, leak, pinning, boxed slices and Vec.into_boxed_slice."""

from __future__ import annotations

import gc
import struct
import weakref
from typing import Any

import pytest

from containers import (
    AllocError,
    Array,
    Box,
    KBox,
    KVBox,
    KVec,
    Struct,
    Vec,
    pyobj,
    u8,
    u32,
    u64,
)
from kvalloc import Kernel, Kmalloc, KVmalloc, MoveOnly, Vmalloc
from kvalloc.alloc import ReallocEvent

from ..helpers import (
    BOX_CLASSES,
    VEC_CLASSES,
    BoxClass,
    Token,
    VecClass,
    class_name,
    memory_state,
    no_memory,
)

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]

BIG = Struct("5242880s")                  # 5 MiB: more than KMALLOC_MAX_SIZE



def gone(r: weakref.ref[Any]) -> bool:
    gc.collect()
    return r() is None


def holds(k: Kernel, b: Box[Any, Any]) -> bool:
    """The kernel holds the box's memory (a live kmalloc object or mapped vmalloc pages)."""
    if k.is_vmalloc_addr(b.ptr):
        return k.vmalloc_to_page(b.ptr) is not None
    return k.ksize(b.ptr) >= b.layout.size


NOT_INIT = "is not initialised"
PINNED = "is pinned"


# --------------------------------------------------------------------------- new_uninit, write, assume_init


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=class_name)
def test_new_uninit_then_write(k: Kernel, cls: BoxClass) -> None:
    before = memory_state(k)
    b = cls.new_uninit(u32, kernel=k)
    assert type(b) is cls and not b.is_init
    assert b.elem is u32 and b.layout.size == 4 and holds(k, b)
    with pytest.raises(ValueError, match=NOT_INIT):
        _ = b.value
    b._check()
    k.check()
    ptr = b.ptr
    r = b.write(7)
    assert r is b                                   # the same box
    assert b.is_init and b.value == 7 and b.ptr == ptr
    b._check()
    b.drop()
    assert memory_state(k) == before


@pytest.mark.parametrize("alloc_cls", [Kmalloc, Vmalloc, KVmalloc], ids=class_name)
def test_generic_new_uninit(k: Kernel, alloc_cls: type[Kmalloc] | type[Vmalloc] | type[KVmalloc]) -> None:
    a = alloc_cls(k)
    b = Box.new_uninit(u64, alloc=a)
    assert isinstance(b, Box) and b.alloc == a and not b.is_init
    with pytest.raises(ValueError, match=NOT_INIT):
        _ = b.value
    assert b.write(2**64 - 1).value == 2**64 - 1
    b.drop()


def test_new_uninit_failures(k: Kernel) -> None:
    before = memory_state(k)
    with no_memory(k):
        for cls in BOX_CLASSES:
            with pytest.raises(AllocError):
                cls.new_uninit(u64, kernel=k)
    with pytest.raises(AllocError):
        KBox.new_uninit(BIG, kernel=k)
    bad: Any = 5
    with pytest.raises(TypeError):
        KBox.new_uninit(bad, kernel=k)
    assert memory_state(k) == before
    b = KVBox.new_uninit(BIG, kernel=k)             # kvmalloc falls back to vmalloc
    assert k.is_vmalloc_addr(b.ptr) and not b.is_init
    b.drop()
    assert memory_state(k) == before


def test_write_validates(k: Kernel) -> None:
    b = KBox.new_uninit(u8, kernel=k)
    with pytest.raises(OverflowError):
        b.write(256)
    bad: Any = "x"
    with pytest.raises(TypeError):
        b.write(bad)
    assert not b.is_init
    with pytest.raises(ValueError, match=NOT_INIT):
        _ = b.value
    b._check()
    assert b.write(255).value == 255
    b.drop()


def test_write_pyobj_keeps_the_object(k: Kernel) -> None:
    t = Token(1)
    b = KBox.new_uninit(pyobj, kernel=k)
    b.write(t)
    assert b.value is t
    r = weakref.ref(t)
    del t
    assert not gone(r)
    b.drop()
    assert gone(r)


def test_uninit_pyobj_box_drops_cleanly(k: Kernel) -> None:
    before = memory_state(k)
    for cls in BOX_CLASSES:
        b = cls.new_uninit(pyobj, kernel=k)
        b._check()
        b.drop()
    assert memory_state(k) == before
    k.check()


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=class_name)
def test_assume_init(k: Kernel, cls: BoxClass) -> None:
    b = cls.new_uninit(u32, kernel=k)
    k.write(b.ptr, struct.pack("<I", 0xDEADBEEF))      # initialised behind the box's back
    c = b.assume_init()
    assert c.is_init and c.value == 0xDEADBEEF and c.ptr == b.ptr
    c._check()
    c.drop()


def test_assume_init_refuses_bytes_that_do_not_decode(k: Kernel) -> None:
    b = KBox.new_uninit(pyobj, kernel=k)
    k.write(b.ptr, struct.pack("<Q", 0x1234_5678_9ABC_DEF0))     # no live object has this handle
    with pytest.raises(ValueError):
        b.assume_init()
    assert not b.is_init                           # nothing changed
    with pytest.raises(ValueError, match=NOT_INIT):
        _ = b.value
    b._check()
    b.drop()


def test_assume_init_pyobj_none(k: Kernel) -> None:
    # all-zero pyobj bytes decode (as None, the value of a zeroed pyobj box)
    z = KBox.new_zeroed(pyobj, kernel=k)
    assert z.value is None
    z.drop()
    b = KBox.new_uninit(pyobj, kernel=k)
    k.write(b.ptr, bytes(8))
    c = b.assume_init()
    assert c.is_init and c.value is None
    c.drop()


def test_new_boxes_are_initialised(k: Kernel) -> None:
    for cls in BOX_CLASSES:
        b = cls.new(u8, 1, kernel=k)
        z = cls.new_zeroed(u8, kernel=k)
        assert b.is_init and z.is_init and not b.is_pinned
        b.drop()
        z.drop()


# --------------------------------------------------------------------------- drop_contents


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=class_name)
def test_drop_contents_keeps_the_allocation(k: Kernel, cls: BoxClass) -> None:
    before = memory_state(k)
    b = cls.new(u32, 5, kernel=k)
    held = memory_state(k)
    ptr = b.ptr
    b = b.drop_contents()
    assert not b.is_init and b.ptr == ptr and holds(k, b)
    assert memory_state(k) == held
    with pytest.raises(ValueError, match=NOT_INIT):
        _ = b.value
    b._check()
    k.check()
    assert b.write(6).value == 6
    b.drop()
    assert memory_state(k) == before


def test_drop_contents_releases_a_pyobj(k: Kernel) -> None:
    t = Token(1)
    b = KBox.new(pyobj, t, kernel=k)
    r = weakref.ref(t)
    del t
    b = b.drop_contents()
    assert gone(r) and not b.is_init
    b._check()
    b.drop()


# --------------------------------------------------------------------------- leak


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=class_name)
def test_leak(k: Kernel, cls: BoxClass) -> None:
    before = memory_state(k)
    b = cls.new(u32, 0xABCD, kernel=k)
    ptr = b.ptr
    addr = b.leak()
    assert addr == ptr
    assert k.read(addr, 4) == struct.pack("<I", 0xABCD)   # the memory stays allocated
    with pytest.raises(ValueError):
        _ = b.value
    with pytest.raises(ValueError):
        b.leak()
    b.drop()                                       # gives nothing back: the box owns nothing
    del b
    gc.collect()
    assert memory_state(k) != before
    k.check()
    back = cls.from_raw(u32, addr, kernel=k)      # ownership can be taken back
    assert back.value == 0xABCD
    back.drop()
    assert memory_state(k) == before


def test_leak_keeps_a_pyobj_alive(k: Kernel) -> None:
    t = Token(3)
    b = KBox.new(pyobj, t, kernel=k)
    r = weakref.ref(t)
    del t
    addr = b.leak()
    del b
    assert not gone(r)
    back = KBox.from_raw(pyobj, addr, kernel=k)
    assert back.value is r()
    back.drop()
    assert gone(r)


# --------------------------------------------------------------------------- pin


def test_pin(k: Kernel) -> None:
    before = memory_state(k)
    b = KBox.pin(u32, 9, kernel=k)
    assert type(b) is KBox and b.is_pinned and b.is_init and b.value == 9
    b._check()
    b.drop()                                       # a pinned box is still dropped normally
    assert memory_state(k) == before


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=class_name)
def test_into_pin(k: Kernel, cls: BoxClass) -> None:
    b = cls.new(u32, 4, kernel=k)
    ptr = b.ptr
    assert not b.is_pinned
    p = b.into_pin()
    assert type(p) is cls and p.is_pinned and p.ptr == ptr and p.value == 4
    p._check()
    p.drop()


PIN_REFUSED = ["into_inner", "into_raw", "drop_contents", "leak"]


@pytest.mark.parametrize("op", PIN_REFUSED)
@pytest.mark.parametrize("how", ["pin", "into_pin"])
def test_pinned_box_refuses(k: Kernel, op: str, how: str) -> None:
    t = Token(1)
    b = KBox.pin(pyobj, t, kernel=k) if how == "pin" else KBox.new(pyobj, t, kernel=k).into_pin()
    ptr = b.ptr
    held = memory_state(k)
    with pytest.raises(TypeError, match=PINNED):
        getattr(b, op)()
    assert b.is_pinned and b.is_init and b.value is t and b.ptr == ptr
    assert memory_state(k) == held
    b._check()
    k.check()
    r = weakref.ref(t)
    del t
    b.drop()
    assert gone(r)


def test_pin_failures(k: Kernel) -> None:
    before = memory_state(k)
    with no_memory(k), pytest.raises(AllocError):
        KBox.pin(u64, 1, kernel=k)
    with pytest.raises(AllocError):
        KBox.pin(BIG, (b"x",), kernel=k)
    with pytest.raises(OverflowError):
        KBox.pin(u8, 256, kernel=k)
    bad: Any = "x"
    with pytest.raises(TypeError):
        KBox.pin(u8, bad, kernel=k)
    assert memory_state(k) == before


# --------------------------------------------------------------------------- from_slice


def test_from_slice(k: Kernel) -> None:
    before = memory_state(k)
    b = KBox.from_slice(u32, [1, 2, 3], kernel=k)
    assert type(b) is KBox
    assert b.value == [1, 2, 3] and b.elem == Array(u32, 3) and b.layout.size == 12
    assert k.read(b.ptr, 12) == struct.pack("<3I", 1, 2, 3)
    b._check()
    b.value = [4, 5, 6]
    assert b.value == [4, 5, 6]
    assert b.into_inner() == [4, 5, 6]
    assert memory_state(k) == before


def test_from_slice_pyobj_and_iterables(k: Kernel) -> None:
    t = [Token(i) for i in range(3)]
    b = KBox.from_slice(pyobj, t, kernel=k)
    got = b.value
    assert len(got) == 3 and all(x is y for x, y in zip(got, t))
    refs = [weakref.ref(x) for x in t]
    del t, got
    assert not any(gone(r) for r in refs)
    b.drop()
    assert all(gone(r) for r in refs)
    c = KBox.from_slice(u8, (1, 2), kernel=k)
    assert c.value == [1, 2] and c.elem == Array(u8, 2)
    c.drop()


def test_from_slice_failures(k: Kernel) -> None:
    before = memory_state(k)
    mixed: list[Any] = [1, "x"]
    with pytest.raises(OverflowError):
        KBox.from_slice(u8, [1, 256], kernel=k)
    with pytest.raises(TypeError):
        KBox.from_slice(u8, mixed, kernel=k)
    with no_memory(k), pytest.raises(AllocError):
        KBox.from_slice(u64, [1, 2, 3], kernel=k)
    assert memory_state(k) == before


# --------------------------------------------------------------------------- Vec.into_boxed_slice


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_into_boxed_slice(k: Kernel, cls: VecClass) -> None:
    before = memory_state(k)
    v = cls(u32, [1, 2, 3], kernel=k)
    v.reserve(100)                                  # capacity > len: the box shrinks it
    seen: list[ReallocEvent] = []
    alloc: Any = v.alloc
    alloc.observer = seen.append
    b = v.into_boxed_slice()
    assert isinstance(b, Box) and b.alloc == v.alloc
    assert b.value == [1, 2, 3] and b.elem == Array(u32, 3) and b.layout.size == 12
    assert [e.new_bytes for e in seen] == [12]      # one shrink to exactly len
    with pytest.raises(ValueError):
        len(v)                                      # the vector was given away
    with pytest.raises(ValueError):
        v.push(1)
    v.drop()                                        # a no-op
    v._check()
    b._check()
    k.check()
    b.drop()
    assert memory_state(k) == before


def test_into_boxed_slice_of_a_full_vector_keeps_the_buffer(k: Kernel) -> None:
    v = KVec(u64, [7, 8], kernel=k)
    ptr = v.ptr
    stats = v.stats
    b = v.into_boxed_slice()
    assert b.ptr == ptr and b.value == [7, 8]
    assert type(b) is KBox or isinstance(b, Box)
    assert stats.reallocs == 1
    b.drop()


def test_into_boxed_slice_pyobj(k: Kernel) -> None:
    t = [Token(i) for i in range(4)]
    v = KVec(pyobj, t, kernel=k)
    v.reserve(4)
    b = v.into_boxed_slice()
    got = b.value
    assert all(x is y for x, y in zip(got, t)) and len(got) == 4
    refs = [weakref.ref(x) for x in t]
    del t, got
    assert not any(gone(r) for r in refs)
    b.drop()
    assert all(gone(r) for r in refs)


def test_into_boxed_slice_failed_shrink_changes_nothing(k: Kernel) -> None:
    v: Vec[int, MoveOnly] = Vec.with_capacity(u32, 5000, alloc=MoveOnly(Vmalloc(k)))
    v.extend_from_slice(range(10))
    state = (v.to_list(), v.capacity, v.ptr, v.stats)
    with no_memory(k), pytest.raises(AllocError):
        v.into_boxed_slice()
    assert (v.to_list(), v.capacity, v.ptr, v.stats) == state
    v._check()
    k.check()
    b = v.into_boxed_slice()
    assert isinstance(b, Box) and b.value == list(range(10)) and b.alloc == v.alloc
    b.drop()
