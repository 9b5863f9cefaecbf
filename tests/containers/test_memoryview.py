"""``Vec.as_memoryview``: zero-copy, typed, shaped, and never a window on freed memory."""

from __future__ import annotations

import gc
import warnings
from typing import Any

import pytest

from containers import Array, KVec, KVVec, Struct, VVec, f64, pyobj, u8, u16, u32
from kvalloc import Kernel, KernelConfig
from kvalloc.tools.bench import fragmented_kernel

RELEASED = "operation forbidden on released memoryview object"


@pytest.fixture(params=["off", "generic", "sw_tags"])
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(KernelConfig(kasan=request.param))


def test_format_shape_and_sharing(k: Kernel) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    m = v.as_memoryview()
    assert (m.format, m.shape, m.readonly, m.tolist()) == ("I", (3,), False, [1, 2, 3])
    m[1] = 20                                   # a write through the view is the vector's
    assert v == [1, 20, 3]
    v[2] = 30                                   # and the vector's writes are the view's
    assert m[2] == 30
    vf = KVec(f64, [0.5], kernel=k)              # each vector kept alive: its view with it
    f = vf.as_memoryview()
    assert (f.format, f.tolist()) == ("d", [0.5])
    va = KVec(Array(u16, 3), [[1, 2, 3], [4, 5, 6]], kernel=k)
    a: Any = va.as_memoryview()
    assert (a.format, a.shape, a.tolist()) == ("H", (2, 3), [[1, 2, 3], [4, 5, 6]])
    vs = KVec(Struct("<IH"), [(1, 2)], kernel=k)
    s: Any = vs.as_memoryview()
    assert (s.format, s.shape, bytes(s)) == ("B", (1, 6), b"\x01\x00\x00\x00\x02\x00")
    e = KVec(u32, kernel=k).as_memoryview()
    assert (e.format, e.shape, len(e)) == ("I", (0,), 0)
    del vf                                       # a collected vector releases its views
    with pytest.raises(ValueError, match=RELEASED):
        f.tolist()
    v._check()
    k.check()


def test_released_on_resize_and_drop(k: Kernel) -> None:
    v = KVec(u8, [1], kernel=k)
    m = v.as_memoryview()
    v.push(2)                                    # capacity 1 -> 2: a resize
    with pytest.raises(ValueError, match=RELEASED):
        m[0]
    m2 = v.as_memoryview()
    v.truncate(1)                                # no resize: the view stays valid
    assert m2.tolist() == [1, 2]
    v.drop()
    with pytest.raises(ValueError, match=RELEASED):
        m2.tolist()
    k.check()


def test_a_live_derived_view_blocks_resize_and_drop(k: Kernel) -> None:
    v = KVec(u32, [1, 2], kernel=k)
    part = v.as_memoryview()[1:]                 # a slice of the exported view
    before = (v.ptr, v.capacity, v.to_list(), v.stats, k.stats())
    with pytest.raises(BufferError, match="still alive"):
        v.push(3)
    with pytest.raises(BufferError, match="still alive"):
        v.drop()
    assert (v.ptr, v.capacity, v.to_list(), v.stats, k.stats()) == before
    assert part.tolist() == [2]                  # the memory is still the vector's
    del part
    v.push(3)
    assert v == [1, 2, 3]
    v._check()
    k.check()


def test_no_view_reads_freed_memory() -> None:
    k = Kernel()
    v = VVec(u8, b"secret" * 1000, kernel=k)
    m = v.as_memoryview()
    ptr = v.ptr
    v.drop()
    w = VVec(u8, b"\xee" * 6000, kernel=k)       # new contents, maybe in the old frames
    assert w.ptr != 0 and ptr != 0
    with pytest.raises(ValueError, match=RELEASED):
        bytes(m)
    with pytest.raises(ValueError, match=RELEASED):
        m[0] = 1
    assert w.to_list() == [0xee] * 6000
    k.check()


def test_refused_views() -> None:
    with pytest.raises(TypeError, match="handles to Python objects"):
        KVec(pyobj, [object()], kernel=Kernel()).as_memoryview()
    paged = VVec(u8, bytes(3 * 4096), kernel=fragmented_kernel())
    assert paged._flat is None
    with pytest.raises(BufferError, match="not physically contiguous"):
        paged.as_memoryview()


def test_collect_and_into_raw_parts_release_views(k: Kernel) -> None:
    v = KVVec(u8, [1, 2], kernel=k)
    m = v.as_memoryview()
    parts = v.into_raw_parts()
    with pytest.raises(ValueError, match=RELEASED):
        m.tolist()
    KVVec.from_raw_parts(u8, *parts, kernel=k).drop()
    k.check()


np: Any = None
try:
    import numpy
    np = numpy
except ImportError:  # pragma: no cover - numpy is an optional extra
    pass

needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed")


@needs_numpy
def test_numpy_frombuffer(k: Kernel) -> None:
    v = KVec(u32, range(10), kernel=k)
    arr = np.frombuffer(v.as_memoryview(), dtype=np.uint32)
    assert arr.sum() == 45
    arr[0] = 100                                 # numpy writes into simulated memory
    assert v[0] == 100
    before = (v.ptr, v.capacity, v.to_list())
    with pytest.raises(BufferError, match="still in use|still alive"):
        v.reserve(100)
    assert (v.ptr, v.capacity, v.to_list()) == before
    del arr
    gc.collect()
    v.reserve(100)
    assert v[0] == 100
    g = KVec(Array(u16, 2), [[1, 2], [3, 4]], kernel=k)
    grid = np.frombuffer(g.as_memoryview(), dtype=np.uint16)
    assert grid.tolist() == [1, 2, 3, 4]
    del grid
    r = KVec(Struct("<IH"), [(7, 8), (9, 10)], kernel=k)
    rec = np.frombuffer(r.as_memoryview(), dtype=np.dtype([("a", "<u4"), ("b", "<u2")]))
    assert rec["a"].tolist() == [7, 9] and rec["b"].tolist() == [8, 10]
    del rec
    gc.collect()
    k.check()


@needs_numpy
def test_garbage_collected_vector_with_a_live_array_keeps_its_memory() -> None:
    """A vector collected while a numpy array still uses its memory cannot free it; the
    buffer stays allocated (a leak, never a read of freed memory)."""
    k = Kernel()
    free0 = k.stats().free_pages
    v = VVec(u8, b"\x07" * 8192, kernel=k)
    arr = np.frombuffer(v.as_memoryview(), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        del v
        gc.collect()
    assert k.stats().free_pages < free0          # still allocated
    assert int(arr.sum()) == 7 * 8192
    k.check()
