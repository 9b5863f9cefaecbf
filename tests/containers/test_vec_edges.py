"""Ownership, validation and failure edges of the containers.

Each test here once failed (at the tree the adversarial review measured): copies sharing one
buffer, value checks that depended on spare capacity, capacity overflows escaping as
LayoutError, resizes that wrote before they reserved, views that died with the host's memory.
"""

from __future__ import annotations

import array
import copy
import decimal
import fractions
import pickle
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import kvalloc
from containers import (
    EXACT,
    FACTOR_1_5,
    Array,
    KBox,
    KVec,
    Struct,
    Vec,
    VVec,
    f64,
    pyobj,
    u8,
    u32,
    u64,
)
from containers._owner import GIVEN_AWAY
from containers.growth import Growth
from kvalloc import AllocError, Kernel, KernelBug, KernelConfig, MoveOnly, Vmalloc

from ..helpers import (
    BOX_CLASSES,
    VEC_CLASSES,
    BoxClass,
    VecClass,
    class_name,
    duplicate,
    finish_kernel,
    memory_state,
    snapshot,
)

pytestmark = pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")


class Obj:
    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Obj) and other.n == self.n

    __hash__ = None  # type: ignore[assignment]


# --------------------------------------------------------------------------- copies own their memory


@pytest.mark.parametrize("how", ["copy", "deepcopy", "clone"])
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_vec_copy_is_an_independent_owner(k: Kernel, cls: VecClass, how: str) -> None:
    v = cls(u64, range(100), kernel=k)
    w = duplicate(v, how)
    assert type(w) is cls and w.to_list() == list(range(100))
    assert w.ptr != v.ptr and w.capacity == 100
    assert w._alloc == v._alloc and w._growth is v._growth
    w._check()
    k.check()
    w.drop()                                         # the original's memory is untouched
    v._check()
    assert v.to_list() == list(range(100))
    v.push(100)                                      # and still its own to grow
    assert v[-1] == 100
    w2 = copy.copy(v)
    v.drop()
    assert w2.to_list() == list(range(101))
    w2.drop()
    assert k.stats().nr_vmalloc_pages == 0
    finish_kernel(k)


@pytest.mark.parametrize("how", ["copy", "deepcopy", "clone"])
@pytest.mark.parametrize("cls", BOX_CLASSES, ids=class_name)
def test_box_copy_is_an_independent_owner(k: Kernel, cls: BoxClass, how: str) -> None:
    b = cls.new(u32, 7, kernel=k)
    c = duplicate(b, how)
    assert type(c) is cls and c.value == 7 and c.ptr != b.ptr
    c._check()
    c.value = 8
    assert b.value == 7
    c.drop()
    b._check()
    assert b.value == 7
    b.drop()
    finish_kernel(k)


def test_pyobj_copy_is_shallow_and_deepcopy_is_deep(k: Kernel) -> None:
    items = [Obj(1), Obj(2)]
    v = KVec(pyobj, items, kernel=k)
    shallow, deep = copy.copy(v), copy.deepcopy(v)
    assert all(x is y for x, y in zip(shallow, items))
    assert deep.to_list() == items and not any(x is y for x, y in zip(deep, items))
    v.drop()                                         # the copies keep their objects alive
    assert shallow[0] is items[0] and deep[1] == Obj(2)
    for x in (shallow, deep):
        x._check()
        x.drop()
    finish_kernel(k)


def test_deepcopy_of_a_vector_that_holds_itself(k: Kernel) -> None:
    v = KVec(pyobj, kernel=k)
    v.push(v)
    w = copy.deepcopy(v)
    assert w[0] is w and w.ptr != v.ptr
    w.clear()
    v.clear()
    w.drop()
    v.drop()
    finish_kernel(k)


def test_generic_vec_copy_keeps_its_allocator(k: Kernel) -> None:
    alloc = MoveOnly(Vmalloc(k))
    v = Vec(u32, [1, 2, 3], alloc=alloc, growth=EXACT)
    w = copy.copy(v)
    assert type(w) is Vec and w._alloc is alloc and w._growth is EXACT
    w.push(4)
    assert w.stats.moved == 1 and v.to_list() == [1, 2, 3]
    w.drop()
    v.drop()
    finish_kernel(k)


# --------------------------------------------------------------------------- pickle


@pytest.mark.parametrize("elem, values", [
    (u64, [1, 2, 2**64 - 1]),
    (Struct("<IH"), [(1, 2), (3, 4)]),
    (Array(u8, 3), [[1, 2, 3], [4, 5, 6]]),
    (pyobj, ["a", {1: 2}, (3,)]),
], ids=["u64", "struct", "array", "pyobj"])
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_pickle_rebuilds_on_the_default_kernel(cls: VecClass, elem: Any, values: list[Any]) -> None:
    k = Kernel()
    v = cls(elem, values, kernel=k, growth=FACTOR_1_5)
    w = pickle.loads(pickle.dumps(v))
    assert type(w) is cls and w.to_list() == values
    assert w._alloc.kernel is kvalloc.default_kernel() and type(w._alloc) is type(v._alloc)
    assert w._growth is FACTOR_1_5
    assert w.elem == elem
    w._check()
    w.drop()
    v.drop()
    kvalloc.default_kernel().check()
    k.check()


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=class_name)
def test_pickle_box(cls: BoxClass) -> None:
    b = cls.new(Struct("<Hd"), (3, 0.5), kernel=Kernel())
    c = pickle.loads(pickle.dumps(b))
    assert type(c) is cls and c.value == (3, 0.5)
    assert c._alloc.kernel is kvalloc.default_kernel()
    c._check()
    c.drop()
    b.drop()


def test_pickle_generic_vec_with_a_wrapped_allocator() -> None:
    v = Vec(u8, [1, 2], alloc=MoveOnly(Vmalloc(Kernel())))
    w = pickle.loads(pickle.dumps(v))
    assert repr(w._alloc) == "MoveOnly(Vmalloc())" and w._alloc.kernel is kvalloc.default_kernel()
    w.drop()
    v.drop()


def test_pickle_refuses_an_unpicklable_growth_policy_naming_the_container(k: Kernel) -> None:
    v = KVec(u8, [1], kernel=k, growth=lambda cap, req, size: req)
    with pytest.raises(TypeError, match=r"^cannot pickle KVec: its growth policy .* cannot be "
                                        r"pickled \("):
        pickle.dumps(v)
    g = Growth("mine", lambda cap, req, size: req)
    b = VVec(u8, [1], kernel=k, growth=g)
    with pytest.raises(TypeError, match="^cannot pickle VVec: its growth policy "):
        pickle.dumps(b)
    v.drop()
    b.drop()
    finish_kernel(k)


def test_pickle_refuses_unpicklable_pyobj_values(k: Kernel) -> None:
    v = KVec(pyobj, [lambda: 0], kernel=k)
    with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
        pickle.dumps(v)
    v._check()
    v.drop()
    finish_kernel(k)


def test_dropped_containers_refuse_to_copy_or_pickle(k: Kernel) -> None:
    v = KVec(u8, [1], kernel=k)
    b = KBox.new(u8, 1, kernel=k)
    v.drop()
    b.drop()
    for fn in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(ValueError):
            fn(v)
        with pytest.raises(ValueError):
            fn(b)
    finish_kernel(k)


# --------------------------------------------------------------------------- one validation, any capacity


class Index:
    def __index__(self) -> int:
        return 3


# as struct.pack and array.array: ints take __index__, floats __float__ or __index__
BAD_FOR_INT = [decimal.Decimal(3), fractions.Fraction(3), 3.0, "3", None]
BAD_FOR_F64 = ["0.5", b"0.5", None, 1j, [0.5]]


@pytest.mark.parametrize("room", [False, True], ids=["full", "spare"])
@pytest.mark.parametrize("value", BAD_FOR_INT, ids=lambda x: type(x).__name__)
def test_int_elements_refuse_non_ints_whatever_the_capacity(k: Kernel, value: object,
                                                            room: bool) -> None:
    v = VVec(u8, [1, 2, 3], kernel=k)
    if room:
        v.reserve(10)
    before = snapshot(v)
    with pytest.raises(TypeError, match="u8"):
        v.push(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="u8"):
        v.extend_from_slice([4, value])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="u8"):
        v[0] = value  # type: ignore[call-overload]
    assert snapshot(v) == before
    v._check()
    v.drop()
    finish_kernel(k)


PUSH_REFUSALS = [
    (u64, 1.5, TypeError, "u64 needs an int, not float"),
    (u64, "3", TypeError, "u64 needs an int, not str"),
    (u64, 2**64, OverflowError, "u64 value 18446744073709551616 out of range [0, 18446744073709551615]"),
    (u64, -1, OverflowError, "u64 value -1 out of range [0, 18446744073709551615]"),
    (u8, 256, OverflowError, "u8 value 256 out of range [0, 255]"),
    (f64, "0.5", TypeError, "f64 needs a float, not str"),
    (f64, 10**400, OverflowError, f"f64 value {10**400} out of range"),
]


@pytest.mark.parametrize("kasan", ["off", "generic"])
@pytest.mark.parametrize("room", [False, True], ids=["full", "spare"])
@pytest.mark.parametrize(("elem", "value", "exc", "msg"), PUSH_REFUSALS,
                         ids=lambda x: getattr(x, "name", None) or type(x).__name__)
def test_push_names_the_refused_value_on_the_fast_and_the_slow_path(
        elem: Any, value: object, exc: type[Exception], msg: str, room: bool,
        kasan: str) -> None:
    """The fast path stores first and lets the element type name a refusal: the same
    exception and text as the slow path, and nothing changes."""
    k = Kernel(KernelConfig(ram=64 << 20, kasan=kasan))  # type: ignore[arg-type]
    v = VVec(elem, [1, 2], kernel=k)
    if room:
        v.reserve(10)
        v.push(3)                      # the fast room is set up (KASAN: after its check)
        assert v._room > len(v)
    before, stats = snapshot(v), k.stats()
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        v.push(value)
    assert snapshot(v) == before and k.stats() == stats
    v._check()
    k.check()
    v.drop()
    finish_kernel(k)


@pytest.mark.parametrize("room", [False, True], ids=["full", "spare"])
@pytest.mark.parametrize("value", BAD_FOR_F64, ids=lambda x: type(x).__name__)
def test_f64_elements_refuse_non_reals_whatever_the_capacity(k: Kernel, value: object,
                                                             room: bool) -> None:
    v = VVec(f64, [0.5], kernel=k)
    if room:
        v.reserve(10)
    before = snapshot(v)
    with pytest.raises(TypeError, match="f64"):
        v.push(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="f64"):
        v.extend_from_slice([value])  # type: ignore[list-item]
    assert snapshot(v) == before
    v.push(True)
    v.push(2)                          # ints and bools are reals, as struct takes them
    assert v.to_list() == [0.5, 1.0, 2.0]
    v.drop()
    finish_kernel(k)


@pytest.mark.parametrize("room", [False, True], ids=["full", "spare"])
def test_index_and_float_protocols_are_accepted_whatever_the_capacity(k: Kernel,
                                                                       room: bool) -> None:
    v = VVec(u8, [1], kernel=k)
    f = VVec(f64, [0.5], kernel=k)
    if room:
        v.reserve(10)
        f.reserve(10)
    v.push(Index())  # type: ignore[arg-type]
    v.extend_from_slice([Index(), 4])  # type: ignore[list-item]
    v[0] = Index()  # type: ignore[call-overload]
    f.push(decimal.Decimal("0.25"))  # type: ignore[arg-type]
    f.extend_from_slice([fractions.Fraction(1, 8), Index()])  # type: ignore[list-item]
    assert v.to_list() == [3, 3, 3, 4] and all(type(x) is int for x in v)
    assert f.to_list() == [0.5, 0.25, 0.125, 3.0]
    v._check()
    f._check()
    v.drop()
    f.drop()
    finish_kernel(k)


def test_bool_into_an_int_element_is_stored_as_its_value(k: Kernel) -> None:
    v = KVec(u8, kernel=k)
    v.reserve(4)
    v.push(True)
    v.extend_from_slice([False, 2])
    assert v.to_list() == [1, 0, 2] and type(v[0]) is int
    v.drop()
    finish_kernel(k)


@pytest.mark.parametrize("room", [False, True], ids=["full", "spare"])
@pytest.mark.parametrize("call", ["push", "reserve", "resize", "extend_from_slice", "shrink_to"])
def test_flags_must_be_int_whatever_the_capacity(k: Kernel, call: str, room: bool) -> None:
    v = KVec(u32, [1, 2, 3], kernel=k)
    if room:
        v.reserve(10)
    before = snapshot(v)
    args: dict[str, tuple[Any, ...]] = {
        "push": (4,), "reserve": (1,), "resize": (5, 0), "extend_from_slice": ([4],),
        "shrink_to": (0,)}
    fn = getattr(v, call)
    with pytest.raises(TypeError, match="^flags must be int"):
        fn(*args[call], "GFP_KERNEL")
    with pytest.raises(ValueError, match=r"^flags must lie in \[0, 2\*\*32\), got -1$"):
        fn(*args[call], -1)
    assert snapshot(v) == before
    v._check()
    v.drop()
    finish_kernel(k)


# --------------------------------------------------------------------------- capacity overflow


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_reserve_past_the_address_space_is_alloc_error_and_changes_nothing(k: Kernel,
                                                                           cls: VecClass) -> None:
    v = cls(u64, [1, 2, 3], kernel=k)
    before, mem, st = snapshot(v), memory_state(k), v.stats
    for n in (2**61, 2**62, 2**64):
        with pytest.raises(AllocError, match=rf"^{cls.__name__}: capacity overflow|cannot allocate"):
            v.reserve(n)
    assert snapshot(v) == before and memory_state(k) == mem and v.stats == st
    v._check()
    v.drop()
    finish_kernel(k)


def test_a_growth_policy_past_the_address_space_is_alloc_error(k: Kernel) -> None:
    v = KVec(u64, [1, 2, 3], kernel=k, growth=lambda cap, req, size: 2**70)
    before, mem = snapshot(v), memory_state(k)
    with pytest.raises(AllocError, match=r"^KVec: capacity overflow \(1180591620717411303424 "
                                         r"elements of 8 bytes\)$"):
        v.push(4)
    assert snapshot(v) == before and memory_state(k) == mem
    v._check()
    v.drop()
    finish_kernel(k)


def test_a_growth_policy_below_the_request_is_value_error(k: Kernel) -> None:
    v = KVec(u64, [1], kernel=k, growth=lambda cap, req, size: req - 1)
    with pytest.raises(ValueError, match=r"^growth policy returned 1, less than 2$"):
        v.push(2)
    assert v.to_list() == [1]
    v.drop()
    finish_kernel(k)


# --------------------------------------------------------------------------- host memory


def _run_limited(code: str, limit_gib: int) -> str:
    """Run ``code`` in a fresh interpreter whose address space is capped at ``limit_gib``."""
    prog = textwrap.dedent(f"""
        import resource
        lim = {limit_gib} << 30
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    """) + textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc/self/status")
def test_a_large_vmalloc_reserve_costs_host_memory_only_for_what_is_touched() -> None:
    out = _run_limited("""
        from containers import VVec, u8
        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
        v = VVec(u8, [1, 2, 3])
        before = rss()
        v.reserve(1 << 30)
        v.push(4)
        grew = rss() - before          # page metadata (~230 bytes a page), not the 1 GiB payload
        v._check()
        print(v.to_list(), v.capacity >= (1 << 30) + 3, grew < 64 or grew)
    """, limit_gib=1)
    assert out == "[1, 2, 3, 4] True True"


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS")
def test_resize_reserves_before_it_fills() -> None:
    out = _run_limited("""
        from containers import KVec, VVec, u8
        from kvalloc import AllocError, default_kernel
        v = KVec(u8, [1, 2, 3])
        try:
            v.resize(1 << 28, 0)       # past KMALLOC_MAX_SIZE: refused before any byte is built
        except AllocError:
            print("refused", v.to_list(), v.capacity)
        w = VVec(u8, [1])
        w.resize(64 << 20, 7)
        print(len(w), w[1], w[-1], w.count(7) if False else "ok")
        w._check()
        default_kernel().check()
    """, limit_gib=2)
    assert out.splitlines() == ["refused [1, 2, 3] 3", "67108864 7 7 ok"]


def test_vectors_work_through_the_kernel_when_the_host_cannot_map_views(
        k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_views(addr: int, size: int, reuse: Any = None) -> Any:
        raise OSError("host refused to map")
    monkeypatch.setattr(k, "direct_view", no_views)
    v = VVec(u32, range(2000), kernel=k)
    assert v._view is None
    v.push(7)
    v[0] = 9
    v.extend_from_slice([1, 2, 3])
    del v[1]
    assert v[0] == 9 and v[-4:].to_list() == [7, 1, 2, 3] and len(v) == 2003
    v._check()
    k.check()
    v.drop()
    finish_kernel(k)


# --------------------------------------------------------------------------- the checkers


@pytest.mark.parametrize("kasan", ["off", "generic", "sw_tags"])
@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_vec_check_holds_after_every_step(cls: VecClass, kasan: str) -> None:
    k = Kernel(KernelConfig(kasan=kasan))  # type: ignore[arg-type]
    v = cls(u32, kernel=k)
    steps = [lambda: v.push(1), lambda: v.extend_from_slice(range(5000)), lambda: v.insert(3, 9),
             lambda: v.truncate(10), v.shrink_to_fit, lambda: v.reserve(1 << 16),
             lambda: v.resize(20, 4), v.reverse, v.clear, v.shrink_to_fit]
    v._check()
    for step in steps:
        step()
        v._check()
        k.check()
    v.drop()
    v._check()
    finish_kernel(k)


def _corruptions() -> list[tuple[str, Any]]:
    def longer(v: Any) -> None:
        v._len = v._cap + 1

    def shifted(v: Any) -> None:
        v._ptr += 8

    def freed_behind_its_back(v: Any) -> None:
        v._alloc.free(v._ptr, v._layout(v._cap))

    def room(v: Any) -> None:
        v._room = v._cap + 5

    def cap(v: Any) -> None:
        v._cap = -1

    def push_view_past_the_room(v: Any) -> None:
        v._tpush = v._tmv                 # would let a push store beyond the fast room
        v._room = v._tbase + 1

    def push_flags_without_a_view(v: Any) -> None:
        v._push_flags = object()

    def push_flags_of_the_other_run(v: Any) -> None:
        v._push_flags, v._push_run_flags = v._push_run_flags, v._push_flags

    # a shifted pointer still inside a vmalloc area's pages owns memory: the stale view tells
    return [("V1", longer), ("R[23]", shifted), ("R2", freed_behind_its_back),
            ("R3", room), ("R1", cap), ("R3", push_view_past_the_room),
            ("R3", push_flags_without_a_view), ("R3", push_flags_of_the_other_run)]


@pytest.mark.parametrize("cls", VEC_CLASSES, ids=class_name)
def test_vec_check_names_the_broken_invariant(cls: VecClass) -> None:
    for code, corrupt in _corruptions():
        k = Kernel()
        v = cls(u32, range(3000 if cls is VVec else 30), kernel=k)
        corrupt(v)
        with pytest.raises(KernelBug, match=rf"^{cls.__name__} {code}: "):
            v._check()
        v._state = GIVEN_AWAY                        # nothing left to drop correctly
        v._view, v._room = None, -1


def test_vec_check_finds_a_bogus_pyobj_handle() -> None:
    k = Kernel()
    v = KVec(pyobj, [Obj(1), Obj(2)], kernel=k)
    k.write(v.ptr + 8, (12345).to_bytes(8, "little"))
    with pytest.raises(KernelBug, match=r"^KVec V3: element 1 does not decode as pyobj: "):
        v._check()


@pytest.mark.parametrize("cls", BOX_CLASSES, ids=class_name)
def test_box_check_names_the_broken_invariant(cls: BoxClass) -> None:
    k = Kernel()
    b = cls.new(u64, 5, kernel=k)
    b._check()
    b._ptr += 1
    with pytest.raises(KernelBug, match=rf"^{cls.__name__} B2: ptr 0x[0-9a-f]+ is not aligned to 8$"):
        b._check()
    b._ptr -= 1
    b._alloc.free(b._ptr, b._layout_of(b._elem))
    with pytest.raises(KernelBug, match=rf"^{cls.__name__} B2: "):
        b._check()
    p = KBox.new(pyobj, Obj(1), kernel=k)
    k.write(p.ptr, (999).to_bytes(8, "little"))
    with pytest.raises(KernelBug, match=r"^KBox B3: the value does not decode as pyobj: "):
        p._check()


@pytest.mark.parametrize("source", ["own view", "bytearray", "array", "bytes"])
def test_extend_from_a_memoryview_copies_what_the_view_held_at_the_call(source: str) -> None:
    """Views of host-owned buffers are copied from directly; a view of simulated memory (the
    vector's own export here) is snapshotted first, since the grow moves what it shows."""
    from containers import KVVec
    k = Kernel(KernelConfig(ram=64 << 20))
    v = KVVec(u64, range(3000), kernel=k)
    data = array.array("Q", range(3000))
    src = {"own view": lambda: v.as_memoryview(),
           "bytearray": lambda: memoryview(bytearray(data.tobytes())).cast("Q"),
           "array": lambda: memoryview(data),
           "bytes": lambda: memoryview(data.tobytes()).cast("Q")}[source]()
    cap = v.capacity
    v.extend_from_slice(src)
    assert v.capacity > cap                       # the grow happened during the call
    assert v.to_list() == list(range(3000)) * 2
    if source == "own view":
        src.release()
    v._check()
    v.drop()
    finish_kernel(k)


def test_extend_takes_an_iterator_whose_length_hint_lies_and_a_generator() -> None:
    class Liar:
        def __init__(self) -> None:
            self.left = 3

        def __iter__(self) -> Liar:
            return self

        def __next__(self) -> int:
            if not self.left:
                raise StopIteration
            self.left -= 1
            return self.left

        def __length_hint__(self) -> int:
            return 1 << 60                 # list() would try to preallocate this

    k = Kernel(KernelConfig(ram=64 << 20))
    v = VVec(u64, kernel=k)
    v.extend(Liar())
    v.extend(i * i for i in range(4))
    with pytest.raises(TypeError, match="^u64 needs an int, not float$"):
        v.extend(x for x in (1, 2.5))  # type: ignore[misc]
    assert v.to_list() == [2, 1, 0, 0, 1, 4, 9]
    v._check()
    v.drop()
    finish_kernel(k)
