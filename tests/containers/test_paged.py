"""Vectors whose frames are not one physical run (the per-page views): bulk reads, slices
and iteration agree with ``list``, and cost the slice, not the vector."""

from __future__ import annotations

import pytest

from containers import Elem, VVec, u16, u64
from kvalloc import Kernel
from kvalloc.config import KasanMode
from kvalloc.tools.bench import fragmented_kernel


def paged(elem: Elem[int], n: int) -> tuple[VVec[int], Kernel]:
    k = fragmented_kernel()
    v = VVec(elem, range(n), kernel=k)
    assert v._flat is None and type(v._mv).__name__ == "_Paged"
    return v, k


@pytest.mark.parametrize("elem", [u64, u16])
def test_slices_iteration_and_searches_of_a_paged_vector_agree_with_list(elem: Elem[int]) -> None:
    n = 3000
    v, k = paged(elem, n)
    ref = list(range(n))
    for sl in (slice(None), slice(5, 9), slice(500, 2600), slice(510, 515), slice(1, None, 7),
               slice(2999, 3000), slice(100, 50), slice(-700, -3, 5), slice(0, 3000, 512)):
        got = v[sl]
        assert got.to_list() == ref[sl], sl
        got._check()
        got.drop()
    assert list(v) == ref and sum(v) == sum(ref)
    assert v == ref and 2999 in v and 3000 not in v
    assert v.index(1500) == 1500 and v.count(7) == 1
    v._check()
    v.drop()
    k.check()


def test_a_short_slice_reads_only_its_pages() -> None:
    v, _ = paged(u64, 20_000)          # 40 pages, each cast to its own view on first use
    cache = v._mv.pages
    cache.clear()
    assert v[10_000:10_010].to_list() == list(range(10_000, 10_010))
    assert sorted(cache) == [10_000 // 512]


@pytest.mark.parametrize("flat", [True, False])
def test_extend_from_slice_takes_buffers_of_the_elements_format_as_they_are(flat: bool) -> None:
    import array

    from containers import u8

    k = Kernel() if flat else fragmented_kernel()
    v = VVec(u64, [1], kernel=k)
    v.extend_from_slice(array.array("Q", range(2, 3000)))
    v.extend_from_slice(memoryview(array.array("Q", [5, 6])))
    v.extend_from_slice(array.array("Q"))
    assert v.to_list() == [1, *range(2, 3000), 5, 6]
    with pytest.raises(OverflowError, match=r"^u64 value -1 out of range \[0, 18446744073709551615\]$"):
        v.extend_from_slice(array.array("q", [7, -1]))        # another format: each checked
    assert len(v) == 3001
    b = VVec(u8, kernel=k)
    b.extend_from_slice(b"\x00\x01\xff")
    b.extend_from_slice(bytearray(b"\x02"))
    assert b.to_list() == [0, 1, 255, 2]
    for vec in (v, b):
        vec._check()
        vec.drop()
    k.check()


@pytest.mark.parametrize("kasan", ["off", "generic"])
def test_pushes_into_a_paged_buffer_fill_one_run_at_a_time(kasan: KasanMode) -> None:
    k = fragmented_kernel(kasan=kasan, run=64)     # every other frame, and one run of 64
    v = VVec.with_capacity(u64, 100 * 512, kernel=k)
    assert v._flat is None
    for i in range(100 * 512):
        v.push(i)
        if i % 4099 == 0 or i % 512 in (511, 0):
            v._check()
    assert v.to_list() == list(range(100 * 512))
    assert v._tend - v._tbase >= 512 and v._room > 0      # the fast path found a run
    v.truncate(10)
    v.push(77)                                              # below the run: the slow path
    v._check()
    assert v[-2:].to_list() == [9, 77]
    v.drop()
    k.check()
    assert k.kasan_reports == []
