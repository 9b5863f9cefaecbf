"""Boxes (containers.kbox): KBox, VBox, KVBox and the generic Box."""

from __future__ import annotations

import gc
import struct
import weakref

import pytest

from containers import (
    Array,
    Box,
    KBox,
    KVBox,
    Struct,
    VBox,
    f32,
    f64,
    i32,
    u8,
    u16,
    u64,
)
from kvalloc import AllocError, Kernel, Kmalloc, KVmalloc, Layout, Vmalloc

from ..helpers import BOX_CLASSES, BoxClass, class_name as _name, fail_everything, memory_state

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]


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
        _ = b.value
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
        _ = b.value
    with pytest.raises(ValueError):
        b.value = 1.0
    with pytest.raises(ValueError):
        b.into_raw()
    d = cls.new(u8, 1, kernel=k)
    d.drop()
    assert memory_state(k) == before
    with pytest.raises(ValueError):
        _ = d.value
    with cls.new(u16, 3, kernel=k) as c:
        assert c.value == 3
    assert memory_state(k) == before
    with pytest.raises(ValueError):
        _ = c.value
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
