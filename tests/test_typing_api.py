"""Static typing of the new container API (issue 13, /tmp/i13/API.md).

``assert_type`` calls are checked by mypy (``tests/test_mypy.py`` runs mypy over this file)
and are no-ops at run time; ``test_mypy_*`` run mypy on small user programs that must fail on
exactly the marked lines, or pass.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from typing_extensions import assert_type

from containers import (
    Array,
    Box,
    KBox,
    KVBox,
    KVec,
    KVVec,
    VBox,
    Vec,
    VVec,
    f64,
    pyobj,
    u8,
    u32,
    u64,
)
from containers.errors import RemoveError
from containers.vec import SearchResult
from containers.view import Slice, SpareSlots
from kvalloc import Kernel, Kmalloc, KVmalloc, MoveOnly, Vmalloc
from kvalloc.kernel import Page

from . import mypy_snippets

# ---------------------------------------------------------------------------------------------
# assert_type
# ---------------------------------------------------------------------------------------------


def test_vec_rust_parity_types() -> None:
    k = Kernel()
    v = KVec(u32, [1, 2, 3, 4], kernel=k)
    assert_type(v.remove_at(0), int)
    assert_type(v.extend_with(2, 7), None)
    assert_type(KVec.from_elem(u32, 1, 3, kernel=k), KVec[int])
    assert_type(VVec.from_elem(u64, 1, 3, kernel=k), VVec[int])
    assert_type(KVVec.from_elem(f64, 1.0, 3, kernel=k), KVVec[float])
    assert_type(KVec.from_elem(pyobj, None, 1, kernel=k), KVec[object])
    assert_type(Vec.from_elem(u8, 1, 2, alloc=Vmalloc(k)), Vec[int, Vmalloc])
    assert_type(Vec.from_elem(u8, 1, 2, alloc=MoveOnly(Kmalloc(k))), Vec[int, MoveOnly])
    v.reserve(4)
    s = v.spare_capacity_mut()
    assert_type(s, SpareSlots[int])
    assert_type(len(s), int)
    s[0] = 5
    s[1:2] = [6]
    assert_type(s.write(2, 7), None)
    assert_type(s[0], int)
    assert_type(v.inc_len(3), None)
    assert_type(v.dec_len(1), list[int])
    sl = v.as_slice()
    assert_type(sl, Slice[int])
    assert_type(sl[0], int)
    assert_type(sl[0:2], list[int])
    assert_type(len(sl), int)
    assert_type(list(sl), list[int])
    w = VVec(u64, range(600), kernel=k)
    assert_type(w.page_iter(), Iterator[Page])
    moved = w.collect(Kmalloc(k))
    assert_type(moved, Vec[int, Kmalloc])
    again = moved.collect(Vmalloc(k))
    assert_type(again, Vec[int, Vmalloc])
    assert_type(KVec(pyobj, kernel=k).collect(KVmalloc(k)), Vec[object, KVmalloc])
    again.drop()
    v.drop()


def test_vec_std_types() -> None:
    k = Kernel()
    v = KVec(u32, [5, 1, 4, 1, 3], kernel=k)
    assert_type(v.swap_remove(0), int)
    assert_type(v.split_off(1), KVec[int])
    assert_type(VVec(u64, [1, 2], kernel=k).split_off(1), VVec[int])
    assert_type(KVVec(u8, [1, 2], kernel=k).split_off(1), KVVec[int])
    assert_type(Vec(u8, [1, 2], alloc=Vmalloc(k)).split_off(1), Vec[int, Vmalloc])
    assert_type(v.append_vec(VVec(u32, [9], kernel=k)), None)
    assert_type(v.dedup(), None)
    assert_type(v.dedup_by_key(lambda x: x // 2), None)
    assert_type(v.dedup_by(lambda a, b: a == b), None)
    assert_type(v.drain(range(0, 1)), Iterator[int])
    assert_type(v.drain(slice(0, 1)), Iterator[int])
    assert_type(v.drain(), Iterator[int])
    v.extend([5, 1, 4, 1, 3])
    assert_type(v.extend_from_within(), None)
    assert_type(v.extend_from_within(range(0, 1)), None)
    assert_type(v.sort(), None)
    assert_type(v.sort(key=lambda x: -x, reverse=True), None)
    assert_type(v.sort_by_key(lambda x: x), None)
    assert_type(v.sort_by(lambda a, b: a - b), None)
    r = v.binary_search(3)
    assert_type(r, SearchResult)
    assert_type(r.found, bool)
    assert_type(r.index, int)
    assert_type(v.binary_search_by_key(3, lambda x: x), SearchResult)
    assert_type(v.chunks(2), Iterator[list[int]])
    assert_type(v.windows(2), Iterator[list[int]])
    assert_type(v.fill(1), None)
    assert_type(v.rotate_left(1), None)
    assert_type(v.rotate_right(1), None)
    assert_type(v.first(), int | None)
    assert_type(v.last(), int | None)
    assert_type(v.get(0), int | None)
    assert_type(v.swap(0, 1), None)
    p = KVec(pyobj, [object()], kernel=k)
    assert_type(p.first(), object | None)
    assert_type(p.chunks(1), Iterator[list[object]])
    p.drop()
    v.drop()


def test_list_conformance_types() -> None:
    k = Kernel()
    v = KVec(u32, [1, 2], kernel=k)
    assert_type(v + [3], KVec[int])
    assert_type(v + (3,), KVec[int])
    assert_type(v + VVec(u32, [3], kernel=k), KVec[int])
    assert_type([0] + v, list[int])
    assert_type(v * 2, KVec[int])
    assert_type(2 * v, KVec[int])
    assert_type(VVec(u64, [1], kernel=k) * 2, VVec[int])
    v *= 2
    assert_type(v, KVec[int])
    assert_type(v.copy(), KVec[int])
    assert_type(Vec(u8, alloc=Vmalloc(k)).copy(), Vec[int, Vmalloc])
    assert_type(v < [1], bool)
    assert_type(v <= (1,), bool)
    assert_type(v > VVec(u32, kernel=k), bool)
    assert_type(v >= [1], bool)
    assert_type(reversed(v), Iterator[int])
    v.drop()


def test_box_types() -> None:
    k = Kernel()
    b = KBox.new_uninit(u32, kernel=k)
    assert_type(b, KBox[int])
    assert_type(b.is_init, bool)
    assert_type(b.write(1), KBox[int])
    assert_type(b.drop_contents(), KBox[int])
    assert_type(b.assume_init(), KBox[int])
    assert_type(VBox.new_uninit(f64, kernel=k), VBox[float])
    assert_type(KVBox.new_uninit(pyobj, kernel=k), KVBox[object])
    assert_type(Box.new_uninit(u8, alloc=Vmalloc(k)), Box[int, Vmalloc])
    assert_type(KBox.new(u8, 1, kernel=k).leak(), int)
    pb = KBox.pin(u32, 1, kernel=k)
    assert_type(pb, KBox[int])
    assert_type(pb.is_pinned, bool)
    assert_type(KBox.new(u8, 1, kernel=k).into_pin(), KBox[int])
    assert_type(VBox.new(u8, 1, kernel=k).into_pin(), VBox[int])
    sb = KBox.from_slice(u32, [1], kernel=k)
    assert_type(sb, KBox[list[int]])
    assert_type(sb.value, list[int])
    assert_type(KBox.from_slice(pyobj, [None], kernel=k), KBox[list[object]])
    assert_type(KVec(u32, [1], kernel=k).into_boxed_slice(), Box[list[int], Kmalloc])
    assert_type(VVec(f64, [1.0], kernel=k).into_boxed_slice(), Box[list[float], Vmalloc])
    assert_type(KVVec(u8, [1], kernel=k).into_boxed_slice(), Box[list[int], KVmalloc])
    assert_type(Vec(u8, [1], alloc=MoveOnly(Vmalloc(k))).into_boxed_slice(), Box[list[int], MoveOnly])
    assert_type(KVec(Array(u8, 2), [[1, 2]], kernel=k).into_boxed_slice(), Box[list[list[int]], Kmalloc])
    pb.drop()
    sb.drop()


def test_remove_error_type() -> None:
    k = Kernel()
    v = KVec(u32, kernel=k)
    try:
        v.remove_at(0)
    except RemoveError as e:
        assert_type(e, RemoveError)
        assert isinstance(e, IndexError)
    else:                                     # pragma: no cover - the call must raise
        raise AssertionError("remove_at(0) of an empty vector must raise")
    v.drop()


# ---------------------------------------------------------------------------------------------
# mypy on user snippets
# ---------------------------------------------------------------------------------------------

# Lines expected to be reported carry a marker ``# E: <error code>``.
SNIPPETS: dict[str, str] = {
    "apisnip_fail_elements": """
        from containers import KVec, u32
        from kvalloc import Kernel

        k = Kernel()
        v: KVec[int] = KVec(u32, [1, 2], kernel=k)
        v.append("x")  # E: arg-type
        v.extend_with(2, "x")  # E: arg-type
        v.fill("x")  # E: arg-type
        v.remove_at("0")  # E: arg-type
        v.swap_remove("0")  # E: arg-type
        v.split_off("1")  # E: arg-type
        v.chunks("2")  # E: arg-type
        v.rotate_left(1.5)  # E: arg-type
        v.inc_len("1")  # E: arg-type
        s = v.spare_capacity_mut()
        s[0] = "x"  # E: call-overload
        s.write(0, "x")  # E: arg-type
        w = KVec.from_elem(u32, "x", 3, kernel=k)  # E: misc
        """,
    "apisnip_fail_results": """
        from containers import KBox, KVec, Vec, f64, u32
        from kvalloc import Kernel, Kmalloc, Vmalloc

        k = Kernel()
        v: KVec[int] = KVec(u32, [1, 2], kernel=k)
        a: int = v.first()  # E: assignment
        b: int = v.get(0)  # E: assignment
        c: str = v.remove_at(0)  # E: assignment
        d: list[str] = v.dec_len(1)  # E: assignment
        e: KVec[int] = v.collect(Vmalloc(k))  # E: assignment
        f: Vec[int, Kmalloc] = v.collect(Vmalloc(k))  # E: arg-type
        g: Vec[str, Vmalloc] = v.collect(Vmalloc(k))  # E: assignment
        h: int = KBox.from_slice(u32, [1], kernel=k).value  # E: assignment
        i: str = next(v.page_iter())  # E: assignment
        j: bool = v.binary_search(1).index  # E: assignment
        fv = KVec(f64, [1.0], kernel=k)
        v.append_vec(fv)  # E: arg-type
        l: list[str] = [""] + v  # E: operator
        """,
    "apisnip_fail_box": """
        from containers import KBox, VBox, f64, u32
        from kvalloc import Kernel

        k = Kernel()
        b = KBox.new_uninit(u32, kernel=k)
        b.write("x")  # E: arg-type
        c: VBox[int] = b.write(1)  # E: assignment
        p = KBox.pin(u32, "x", kernel=k)  # E: misc
        s: KBox[int] = KBox.from_slice(u32, [1], kernel=k)  # E: assignment
        f = KBox.from_slice(f64, ["x"], kernel=k)  # E: misc
        """,
    "apisnip_pass": """
        from collections.abc import Iterator

        from containers import Box, KBox, KVec, KVVec, Vec, VVec, pyobj, u8, u32, u64
        from containers.errors import RemoveError
        from kvalloc import GFP, Kernel, Kmalloc, KVmalloc, Vmalloc

        k = Kernel()
        v: KVec[int] = KVec.from_elem(u32, 0, 4, kernel=k)
        v.extend_with(2, 1, GFP.KERNEL)
        v.extend_from_within(range(0, 2), flags=GFP.KERNEL)
        try:
            v.remove_at(99)
        except RemoveError:
            pass
        x: int = v.remove_at(0) + v.swap_remove(-1)
        tail: KVec[int] = v.split_off(1)
        v.append_vec(tail)
        v.dedup()
        v.dedup_by_key(lambda n: n % 3)
        v.dedup_by(lambda a, b: a == b)
        drained: list[int] = list(v.drain(slice(0, 1)))
        v.sort(key=lambda n: -n, reverse=False)
        v.sort_by_key(lambda n: n)
        v.sort_by(lambda a, b: a - b)
        found, at = v.binary_search(1)
        ok: bool = found
        pos: int = at + v.binary_search_by_key(2, lambda n: n).index
        for chunk in v.chunks(2):
            total: int = sum(chunk)
        for win in v.windows(2):
            first: int = win[0]
        v.fill(3)
        v.rotate_left(0)
        v.rotate_right(0)
        maybe = v.first()
        if maybe is not None:
            y: int = maybe + 1
        v.swap(0, 0)
        v.reserve(2)
        spare = v.spare_capacity_mut()
        spare[0] = 1
        spare.write(1, 2)
        v.inc_len(2)
        gone: list[int] = v.dec_len(1)
        view = v.as_slice()
        z: int = view[0] + len(view)
        part: list[int] = view[0:1]
        w: VVec[int] = VVec.from_elem(u64, 1, 600, kernel=k)
        pfns: list[int] = [p.pfn for p in w.page_iter()]
        moved: Vec[int, Kmalloc] = w.collect(Kmalloc(k))
        both: KVec[int] = v + [1] + (2,)
        as_list: list[int] = [0] + v
        twice: KVec[int] = 2 * v * 2
        v *= 2
        v += [1]
        c: KVec[int] = v.copy()
        less: bool = v < [9] and v <= (9,) and v > [] and v >= c
        back: Iterator[int] = reversed(v)
        boxed: Box[list[int], Kmalloc] = v.into_boxed_slice()
        b: KBox[int] = KBox.new_uninit(u32, kernel=k)
        b.write(1).drop_contents().write(2)
        if b.is_init and not b.is_pinned:
            n: int = b.value
        addr: int = b.leak()
        p = KBox.pin(u8, 1, kernel=k)
        p2: KBox[int] = KBox.new(u8, 1, kernel=k).into_pin()
        s: KBox[list[int]] = KBox.from_slice(u32, [1, 2], kernel=k)
        items: list[int] = s.value
        g: Box[int, Vmalloc] = Box.new_uninit(u32, alloc=Vmalloc(k)).write(3)
        objs: KVVec[object] = KVVec.from_elem(pyobj, None, 2, kernel=k)
        col: Vec[object, KVmalloc] = objs.collect(KVmalloc(k))
        """,
}

@pytest.fixture(scope="module")
def mypy_api_results(tmp_path_factory: pytest.TempPathFactory) -> mypy_snippets.Results:
    """One ``mypy --strict`` run over every snippet."""
    return mypy_snippets.run(SNIPPETS, tmp_path_factory.mktemp("mypy_api_snippets"))


def _expected(src: str) -> set[tuple[int, str]]:
    return mypy_snippets.expected(src)


def _check(results: mypy_snippets.Results, name: str) -> None:
    mypy_snippets.check(results, SNIPPETS, name)


@pytest.mark.parametrize("name", ["apisnip_fail_elements", "apisnip_fail_results", "apisnip_fail_box"])
def test_mypy_rejects(mypy_api_results: dict[str, set[tuple[int, str]]], name: str) -> None:
    assert _expected(textwrap.dedent(SNIPPETS[name])), "a failing snippet needs markers"
    _check(mypy_api_results, name)


def test_mypy_accepts_user_program(mypy_api_results: dict[str, set[tuple[int, str]]]) -> None:
    _check(mypy_api_results, "apisnip_pass")
