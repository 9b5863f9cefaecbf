"""Static typing of the containers and allocators (API.md 0: "Every public name is fully typed;
``mypy --strict`` passes on the package and on user code").

``assert_type`` calls are checked by mypy (``tests/test_mypy.py`` runs mypy over this file)
and are no-ops at run time; the run-time assertions next to them check the dynamic side.
``test_mypy_*`` run mypy itself, once for all snippets, on small user programs that must fail
or pass.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from typing_extensions import assert_type

from containers import (
    EXACT,
    RUST_KVEC,
    Array,
    Box,
    Elem,
    InsertError,
    KBox,
    KVBox,
    KVec,
    KVVec,
    PushError,
    Struct,
    VBox,
    Vec,
    VecStats,
    VVec,
    boolean,
    f32,
    f64,
    pyobj,
    u8,
    u16,
    u32,
    u64,
)
from kvalloc import Allocator, Kernel, Kmalloc, KVmalloc, Layout, MoveOnly, Vmalloc

from . import mypy_snippets

# ---------------------------------------------------------------------------------------------
# assert_type
# ---------------------------------------------------------------------------------------------


def test_element_types() -> None:
    assert_type(u32, Elem[int])
    assert_type(u8, Elem[int])
    assert_type(f64, Elem[float])
    assert_type(boolean, Elem[bool])
    assert_type(pyobj, Elem[object])
    arr = Array(u16, 3)
    assert_type(arr, Array[int])
    assert_type(Struct("<hI"), Struct)
    e: Elem[list[int]] = arr                  # Array[T] is an Elem[list[T]]
    t: Elem[tuple[Any, ...]] = Struct("<q")   # Struct is an Elem[tuple[Any, ...]]
    assert_type(u32.size, int)
    assert_type(u32.name, str)
    assert e.size == 6 and t.size == 8


def test_vec_types() -> None:
    k = Kernel()
    v = KVec(u32, kernel=k)
    assert_type(v, KVec[int])
    v.push(1)
    v.append(2)
    v.extend([3, 4])
    assert_type(v[0], int)
    assert_type(v[-1], int)
    # a slice is a new vector of the same class and allocator (API.md 7.1), statically too
    s = v[1:]
    assert_type(s, KVec[int])
    assert type(s) is KVec and s.alloc == v.alloc
    assert_type(v.pop(), int)
    assert_type(len(v), int)
    assert_type(v.capacity, int)
    assert_type(v.ptr, int)
    assert_type(v.alloc, Kmalloc)
    assert_type(v.elem, Elem[int])
    assert_type(v.stats, VecStats)
    assert_type(v.to_list(), list[int])
    assert_type(v.as_bytes(), bytes)
    assert_type(v.index(1), int)
    assert_type(v.count(1), int)
    assert_type(v.drain_all(), Iterator[int])
    assert_type(v.into_raw_parts(), tuple[int, int, int])

    vv = VVec(u64, [1, 2], kernel=k)
    assert_type(vv, VVec[int])
    assert_type(vv.alloc, Vmalloc)
    kv = KVVec(f32, kernel=k, growth=EXACT)
    assert_type(kv, KVVec[float])
    assert_type(kv.alloc, KVmalloc)
    kb = KVec(boolean, [True], kernel=k)
    assert_type(kb, KVec[bool])
    assert_type(kb[0], bool)
    ka = KVec(Array(u8, 2), [[1, 2]], kernel=k)
    assert_type(ka, KVec[list[int]])
    assert_type(ka[0], list[int])
    ks = KVec(Struct("<hI"), [(1, 2)], kernel=k)
    assert_type(ks[0], tuple[Any, ...])

    w = VVec(pyobj, kernel=k)
    assert_type(w, VVec[object])
    w.push("anything")
    assert_type(w[0], object)
    assert w[0] == "anything"

    assert_type(KVec.with_capacity(u16, 4, kernel=k), KVec[int])
    assert_type(VVec.with_capacity(u16, 4, kernel=k), VVec[int])
    assert_type(KVVec.with_capacity(u16, 4, kernel=k), KVVec[int])
    g = Vec(u8, alloc=Vmalloc(k))
    assert_type(g, Vec[int, Vmalloc])
    assert_type(Vec.with_capacity(u8, 2, alloc=KVmalloc(k)), Vec[int, KVmalloc])
    m = Vec(u8, alloc=MoveOnly(Kmalloc(k)), growth=RUST_KVEC)
    assert_type(m, Vec[int, MoveOnly])

    r = KVec(u32, [5], kernel=k)
    ptr, n, cap = r.into_raw_parts()
    back = KVec.from_raw_parts(u32, ptr, n, cap, kernel=k)
    assert_type(back, KVec[int])
    assert back == [5]

    for x in (v, s, vv, kv, kb, ka, ks, w, g, m, back):
        x.drop()


def test_box_types() -> None:
    k = Kernel()
    b = KBox.new(f64, 1.0, kernel=k)
    assert_type(b, KBox[float])
    assert_type(b.value, float)
    assert_type(KBox.new(f64, 1.0, kernel=k).value, float)
    b.value = 2.5
    assert_type(b.ptr, int)
    assert_type(b.layout, Layout)
    assert_type(b.alloc, Kmalloc)
    assert_type(b.into_inner(), float)
    assert_type(VBox.new(u32, 1, kernel=k), VBox[int])
    assert_type(KVBox.new_zeroed(u32, kernel=k), KVBox[int])
    assert_type(KVBox.new(Struct("<hI"), (1, 2), kernel=k).value, tuple[Any, ...])
    assert_type(KBox.new(Array(u8, 2), [1, 2], kernel=k).value, list[int])
    assert_type(KBox.new(pyobj, None, kernel=k).value, object)
    raw = KBox.new(u16, 7, kernel=k).into_raw()
    assert_type(raw, int)
    back = KBox.from_raw(u16, raw, kernel=k)
    assert_type(back, KBox[int])
    assert back.into_inner() == 7
    gb = Box.new(u32, 1, alloc=Vmalloc(k))
    assert_type(gb, Box[int, Vmalloc])
    assert_type(Box.new_zeroed(u8, alloc=Kmalloc(k)), Box[int, Kmalloc])
    gb.drop()


def test_allocator_types() -> None:
    k = Kernel()
    allocs: list[Allocator] = [Kmalloc(k), Vmalloc(k), KVmalloc(k), MoveOnly(Vmalloc(k))]
    for a in allocs:
        p = a.alloc(Layout(64, 8))
        assert_type(p, int)
        q = a.realloc(p, Layout(128, 8), Layout(64, 8))
        assert_type(q, int)
        a.free(q, Layout(128, 8))
        assert_type(a.MIN_ALIGN, int)
        assert_type(a.kernel, Kernel)
    assert_type(Layout.array(Layout(4, 4), 3), Layout)
    assert_type(Layout(5, 8).pad_to_align(), Layout)
    assert_type(Layout(5, 8).dangling(), int)
    assert_type(RUST_KVEC(0, 1, 8), int)


def test_error_value_types() -> None:
    k = Kernel()
    v = KVec(u32, kernel=k)
    try:
        v.push_within_capacity(3)
    except PushError as e:
        assert e.value == 3
    try:
        v.insert_within_capacity(1, 4)
    except InsertError as e2:
        assert e2.reason == "index_out_of_bounds" and e2.value == 4
    v.drop()


# ---------------------------------------------------------------------------------------------
# mypy on user snippets
# ---------------------------------------------------------------------------------------------

# Lines expected to be reported carry a marker ``# E: <error code>``.
SNIPPETS: dict[str, str] = {
    "kvsnip_fail_push_str": """
        from containers import KVec, u32
        from kvalloc import Kernel

        v: KVec[int] = KVec(u32, kernel=Kernel())
        v.push(1)
        v.push("x")  # E: arg-type
        v.append("y")  # E: arg-type
        w = KVec(u32, ["a"], kernel=Kernel())  # E: misc
        """,
    "kvsnip_fail_vvec_for_kvec": """
        from containers import KVec, VVec, Vec, u32
        from kvalloc import Kernel, Kmalloc

        def total(v: Vec[int, Kmalloc]) -> int:
            return sum(v)

        k = Kernel()
        ok = total(KVec(u32, [1, 2], kernel=k))
        bad = total(VVec(u32, [1, 2], kernel=k))  # E: arg-type
        """,
    "kvsnip_fail_box_value": """
        from containers import KBox, f64
        from kvalloc import Kernel

        b = KBox.new(f64, 1.0, kernel=Kernel())
        s: str = b.value  # E: assignment
        b.value = "x"  # E: assignment
        """,
    "kvsnip_pass": """
        from collections.abc import Iterable
        from typing import TypeVar

        from containers import (
            EXACT, Box, InsertError, KBox, KVBox, KVec, KVVec, PushError, Vec, VVec, f64,
            pyobj, u8, u32, u64,
        )
        from kvalloc import (
            AllocError, Allocator, GFP, Kernel, KVmalloc, Kmalloc, Layout, Vmalloc,
        )

        T = TypeVar("T")
        A = TypeVar("A", bound=Allocator)

        def total(v: Vec[int, Kmalloc]) -> int:
            return sum(v)

        def first(v: Vec[T, A]) -> T:
            return v[0]

        def fill(v: Vec[int, A], items: Iterable[int]) -> Vec[int, A]:
            for x in items:
                v.push(x, GFP.KERNEL)
            return v

        def policy(cap: int, required: int, elem_size: int) -> int:
            return max(required, 2 * cap)

        k = Kernel()
        kv: KVec[int] = KVec(u32, range(3), kernel=k)
        print(total(kv) + first(kv))
        vv: VVec[int] = VVec(u64, kernel=k, growth=policy)
        fill(vv, [1, 2, 3])
        kvv = KVVec.with_capacity(u8, 16, kernel=k)
        kvv.extend_from_slice(b"abc")
        kvv.reserve(10, GFP.KERNEL)
        kvv.shrink_to_fit()
        try:
            kvv.push_within_capacity(1)
        except PushError as e:
            print(e.value)
        try:
            kvv.insert_within_capacity(99, 1)
        except InsertError as e2:
            print(e2.reason, e2.value)
        objs = VVec(pyobj, kernel=k)
        objs.push(object())
        o: object = objs[0]
        tail: Vec[int, Kmalloc] = kv[1:]
        n: int = kv[-1]
        total(tail)
        kv.insert(0, 5)
        kv.remove(5)
        kv.reverse()
        del kv[0]
        kv[0] = 7
        kv[0:1] = [8, 9]
        with VVec(u8, kernel=k, growth=EXACT) as tmp:
            tmp.append(1)
        b: KBox[float] = KBox.new(f64, 1.5, kernel=k)
        b.value = b.value * 2
        x: float = b.into_inner()
        big = KVBox.new_zeroed(u64, kernel=k)
        p: int = big.into_raw()
        big2 = KVBox.from_raw(u64, p, kernel=k)
        big2.drop()
        gen: Box[int, Vmalloc] = Box.new(u32, 3, alloc=Vmalloc(k))
        alloc: Allocator = KVmalloc(k)
        q = alloc.realloc(None, Layout(8, 8), Layout(0, 8))
        alloc.free(q, Layout(8, 8))
        generic: Vec[int, KVmalloc] = Vec(u32, alloc=KVmalloc(k))
        try:
            KVec.with_capacity(u8, 1 << 30, kernel=k)
        except AllocError:
            pass
        ptr, length, cap = kv.into_raw_parts()
        again: KVec[int] = KVec.from_raw_parts(u32, ptr, length, cap, kernel=k)
        again.drop()
        """,
    # API.md 7.1 lists ``+=``; it must type-check on a name declared as the alias type
    "kvsnip_pass_iadd": """
        from containers import KVec, u32
        from kvalloc import Kernel

        v: KVec[int] = KVec(u32, kernel=Kernel())
        v += [1, 2]
        """,
    # the context manager hands back the vector itself, so its static type should be kept
    "kvsnip_pass_with": """
        from containers import KVec, u32
        from kvalloc import Kernel

        def takes_kvec(v: KVec[int]) -> int:
            return len(v)

        with KVec(u32, [1], kernel=Kernel()) as v:
            takes_kvec(v)
        """,
}

@pytest.fixture(scope="module")
def mypy_results(tmp_path_factory: pytest.TempPathFactory) -> mypy_snippets.Results:
    """One ``mypy --strict`` run over every snippet."""
    return mypy_snippets.run(SNIPPETS, tmp_path_factory.mktemp("mypy_snippets"))


def _expected(src: str) -> set[tuple[int, str]]:
    return mypy_snippets.expected(src)


def _check(results: mypy_snippets.Results, name: str) -> None:
    mypy_snippets.check(results, SNIPPETS, name)


@pytest.mark.parametrize("name", ["kvsnip_fail_push_str", "kvsnip_fail_vvec_for_kvec",
                                  "kvsnip_fail_box_value"])
def test_mypy_rejects(mypy_results: dict[str, set[tuple[int, str]]], name: str) -> None:
    assert _expected(textwrap.dedent(SNIPPETS[name])), "a failing snippet needs markers"
    _check(mypy_results, name)


def test_mypy_accepts_user_program(mypy_results: dict[str, set[tuple[int, str]]]) -> None:
    _check(mypy_results, "kvsnip_pass")


def test_mypy_accepts_iadd_on_alias(mypy_results: dict[str, set[tuple[int, str]]]) -> None:
    _check(mypy_results, "kvsnip_pass_iadd")


def test_mypy_keeps_alias_type_in_with(mypy_results: dict[str, set[tuple[int, str]]]) -> None:
    _check(mypy_results, "kvsnip_pass_with")
