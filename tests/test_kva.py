"""The KVA allocator: the indexed lowest fit against the linear reference, fit types, merging."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kvalloc import GFP, Kernel, KernelConfig, VMALLOC_END, VMALLOC_START
from kvalloc.constants import ULONG_MAX
from kvalloc.mm.vmap_area import (
    FL_FIT_TYPE, LE_FIT_TYPE, NE_FIT_TYPE, RE_FIT_TYPE, FreeAreaTree, FreeVmapAreas,
    find_vmap_lowest_linear_match,
)

PAGE = 4096


def test_fit_types_clip_as_the_kernel_draws_them() -> None:
    t = FreeVmapAreas([(0x10000, 0x20000)])
    assert t.va_clip(0x10000, 0x20000, 0x10000, 0x1000) == LE_FIT_TYPE
    assert list(t) == [(0x11000, 0x20000)]
    assert t.va_clip(0x11000, 0x20000, 0x1F000, 0x1000) == RE_FIT_TYPE
    assert list(t) == [(0x11000, 0x1F000)]
    assert t.va_clip(0x11000, 0x1F000, 0x14000, 0x1000) == NE_FIT_TYPE
    assert list(t) == [(0x11000, 0x14000), (0x15000, 0x1F000)]
    assert t.va_clip(0x11000, 0x14000, 0x11000, 0x3000) == FL_FIT_TYPE
    assert list(t) == [(0x15000, 0x1F000)]
    t.check()


def test_merge_joins_both_neighbours_and_refuses_overlap() -> None:
    t = FreeVmapAreas([(0x1000, 0x2000), (0x3000, 0x4000)])
    assert t.merge_or_add(0x2000, 0x3000) is None
    assert list(t) == [(0x1000, 0x4000)]
    assert t.merge_or_add(0x3800, 0x5000) == (0x1000, 0x4000)
    assert list(t) == [(0x1000, 0x4000)]
    assert t.merge_or_add(0x5000, 0x6000) is None
    assert t.merge_or_add(0x4000, 0x5000) is None
    assert list(t) == [(0x1000, 0x6000)]
    t.check()


def test_exact_lowest_fit_finds_a_block_the_kernels_pruning_misses() -> None:
    # A 3-page block at a 16 KiB boundary holds a 2-page request aligned to 16 KiB, although
    # it is smaller than size + align - 1, the kernel's pruning bound (KERNEL.md 6.3).
    low = (0x100000, 0x100000 + 3 * PAGE)
    high = (0x200000, 0x300000)
    t = FreeVmapAreas([low, high])
    assert t.find_lowest_match(2 * PAGE, 4 * PAGE, 0) == (low[0], low[1], 0x100000)
    assert find_vmap_lowest_linear_match([low, high], 2 * PAGE, 4 * PAGE, 0) == (low[0], low[1], 0x100000)


def _model_clip(blocks: list[tuple[int, int]], s: int, e: int, nva: int, size: int) -> list[tuple[int, int]]:
    out = [b for b in blocks if b != (s, e)]
    if s < nva:
        out.append((s, nva))
    if nva + size < e:
        out.append((nva + size, e))
    return sorted(out)


def _model_free(blocks: list[tuple[int, int]], s: int, e: int) -> list[tuple[int, int]]:
    merged = sorted(blocks + [(s, e)])
    out: list[tuple[int, int]] = []
    for a, b in merged:
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


ops = st.lists(
    st.tuples(st.sampled_from(["alloc", "alloc", "free"]), st.integers(1, 40),
              st.integers(0, 6), st.integers(0, 64), st.integers(0, 10**6)),
    min_size=1, max_size=150)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_indexed_lowest_fit_agrees_with_linear_reference(seq: list[tuple[str, int, int, int, int]]) -> None:
    base, top = 0x10000000, 0x10000000 + 4096 * PAGE
    FreeAreaTree.LOAD = 4           # tiny chunks: exercise splits, merges and the max-tree
    try:
        t = FreeVmapAreas([(base, top)])
        model = [(base, top)]
        live: list[tuple[int, int]] = []
        for op, pages, align_shift, vstart_pages, pick in seq:
            if op == "free" and live:
                s, e = live.pop(pick % len(live))
                assert t.merge_or_add(s, e) is None
                model = _model_free(model, s, e)
            else:
                size, align = pages * PAGE, PAGE << align_shift
                vstart = base + vstart_pages * PAGE
                want = find_vmap_lowest_linear_match(model, size, align, vstart)
                got = t.find_lowest_match(size, align, vstart)
                assert got == want
                if got is not None:
                    s, e, nva = got
                    t.va_clip(s, e, nva, size)
                    model = _model_clip(model, s, e, nva, size)
                    live.append((nva, nva + size))
            t.check()
            assert list(t) == model
    finally:
        FreeAreaTree.LOAD = 128


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 24), st.integers(0, 9), st.booleans(), st.integers(0, 999)),
                min_size=1, max_size=60))
def test_kernel_places_every_area_at_the_linear_lowest_fit(seq: list[tuple[int, int, bool, int]]) -> None:
    k = Kernel(KernelConfig(ram=64 << 20, lazy_max_pages=64))
    live: list[int] = []
    for pages, align_shift, free, pick in seq:
        if free and live:
            k.vfree(live.pop(pick % len(live)))
        else:
            align = PAGE << align_shift
            ref = find_vmap_lowest_linear_match(list(k.machine.kva.free), (pages + 1) * PAGE, align, VMALLOC_START)
            p = k.vmalloc(pages * PAGE, GFP.KERNEL, align=align)
            assert p is not None and ref is not None
            assert p == ref[2]      # the vmalloc range never runs out here: no purge retry
            assert p % align == 0 and VMALLOC_START <= p < VMALLOC_END
            live.append(p)
        k.check()


def test_large_random_sequence_matches_reference() -> None:
    rng = random.Random(7)
    t = FreeVmapAreas([(1, ULONG_MAX)])
    model = [(1, ULONG_MAX)]
    live: list[tuple[int, int]] = []
    for _ in range(3000):
        if live and rng.random() < 0.45:
            s, e = live.pop(rng.randrange(len(live)))
            t.merge_or_add(s, e)
            model = _model_free(model, s, e)
        else:
            size, align = rng.randint(1, 16) * PAGE, PAGE << rng.randint(0, 5)
            got = t.find_lowest_match(size, align, VMALLOC_START)
            assert got == find_vmap_lowest_linear_match(model, size, align, VMALLOC_START)
            assert got is not None
            t.va_clip(got[0], got[1], got[2], size)
            model = _model_clip(model, got[0], got[1], got[2], size)
            live.append((got[2], got[2] + size))
    t.check()
    assert list(t) == model
