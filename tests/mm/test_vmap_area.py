"""The KVA allocator (kvalloc.mm.vmap_area): lowest fit, fit types, merging, lazy purge."""

from __future__ import annotations

import bisect
import random

import pytest
from hypothesis import given, settings, strategies as st

from kvalloc import GFP, VM, VMALLOC_END, VMALLOC_START, Kernel, KernelConfig
from kvalloc.constants import ULONG_MAX
from kvalloc.mm.vmalloc_types import SortedVAs, VmapArea
from kvalloc.mm.vmap_area import (
    FL_FIT_TYPE,
    LE_FIT_TYPE,
    NE_FIT_TYPE,
    RE_FIT_TYPE,
    FreeAreaTree,
    FreeVmapAreas,
    find_vmap_lowest_linear_match,
)

from ..helpers import TOTAL_4G, VS, K, ck, failing, mode, nn, quiet, warn_alloc

# -- helpers ---------------------------------------------------------------------------------------


PAGE = 4096


# -- the free-area tree against the linear reference -----------------------------------------------


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


class _KvaModel:
    """An independent model of the KVA allocator with vmap nodes (mm/vmalloc.c, v6.9+):
    the free list (linear lowest fit), the lazy list, and with more than one CPU node 0's
    pools (``node_alloc`` takes an exact-size pool's head if aligned, else moves it to the
    tail; ``__purge_vmap_area_lazy`` decays each pool by a quarter from its head, then
    pools every purged area of at most 256 pages). Past the lazy threshold a free only
    schedules the drain (``drain_vmap_work``), which runs before the next allocation."""

    def __init__(self, cpus: int, lazy_max: int) -> None:
        self.free = [(1, ULONG_MAX)]
        self.lazy: list[tuple[int, int]] = []
        self.pools: dict[int, list[tuple[int, int]]] = {}
        self.nodes = min(cpus, 128)
        self.lazy_max = lazy_max
        self.drain_pending = False

    def alloc(self, size: int, align: int) -> int:
        if self.drain_pending:
            self.drain_pending = False
            self.drain()
        pool = self.pools.get(size) if self.nodes > 1 else None
        if pool:
            s, e = pool[-1]
            if s % align == 0:
                pool.pop()
                return s
            pool.insert(0, pool.pop())
        got = find_vmap_lowest_linear_match(self.free, size, align, VMALLOC_START)
        assert got is not None
        self.free = _model_clip(self.free, got[0], got[1], got[2], size)
        return got[2]

    def vfree(self, s: int, e: int) -> None:
        self.lazy.append((s, e))
        if sum(b - a for a, b in self.lazy) // PAGE > self.lazy_max:
            self.drain_pending = True

    def drain(self) -> None:
        for size in sorted(self.pools):
            pool = self.pools[size]
            for _ in range(len(pool) >> 2):
                self.free = _model_free(self.free, *pool.pop())
        for s2, e2 in sorted(self.lazy):
            if self.nodes > 1 and e2 - s2 <= 256 * PAGE:
                self.pools.setdefault(e2 - s2, []).append((s2, e2))
            else:
                self.free = _model_free(self.free, s2, e2)
        self.lazy = []


@pytest.mark.parametrize("cpus", [1, 4])
@settings(max_examples=40, deadline=None)
@given(seq=st.lists(st.tuples(st.integers(1, 24), st.integers(0, 9), st.booleans(),
                              st.integers(0, 999)), min_size=1, max_size=60))
def test_kernel_places_every_area_as_the_model(cpus: int,
                                               seq: list[tuple[int, int, bool, int]]) -> None:
    """With one CPU every area lands at the linear lowest fit; with four, a freed and purged
    area waits in its node's pool for a request of its exact size."""
    k = Kernel(KernelConfig(ram=64 << 20, lazy_max_pages=64, cpus=cpus))
    model = _KvaModel(cpus, 64)
    live: list[tuple[int, int]] = []
    for pages, align_shift, free, pick in seq:
        if free and live:
            p, size = live.pop(pick % len(live))
            k.vfree(p)
            model.vfree(p, p + size)
        else:
            align = PAGE << align_shift
            want = model.alloc((pages + 1) * PAGE, align)
            got = k.vmalloc(pages * PAGE, GFP.KERNEL, align=align)
            assert got == want      # the vmalloc range never runs out here: no purge retry
            assert got % align == 0 and VMALLOC_START <= got < VMALLOC_END
            live.append((got, (pages + 1) * PAGE))
        k.check()
    pooled = sorted((va.va_start, va.va_end) for _, va in k.machine.kva.pooled())
    assert pooled == sorted(x for pool in model.pools.values() for x in pool)
    assert k.stats().pending_work == model.drain_pending


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


# -- placement and fit types -----------------------------------------------------------------------


@pytest.mark.spec
def test_lowest_fit_alignment_and_fit_types() -> None:
    # one CPU: one vmap node, so purged areas merge (tests/mm/test_vmap_nodes.py: pools)
    k = Kernel(KernelConfig(cpus=1))
    assert k.stats().free_vmap_areas == 1  # 6.2: [1, 2**64-1)
    a = nn(ck(k, k.vmalloc(4096)))
    assert a == VS and k.stats().free_vmap_areas == 2  # NE fit
    b = nn(ck(k, k.vmalloc(0x5000)))
    assert b == VS + 0x2000  # VA 0x6000 bytes
    c = nn(ck(k, k.vmalloc(4096)))
    assert c == VS + 0x8000
    k.vfree(b)
    k.check()
    k.vm_unmap_aliases()
    k.check()
    s = k.stats()
    assert (s.free_vmap_areas, s.vmap_areas, s.vmap_lazy_nr) == (3, 2, 0)
    # RE fit: hole [VS+0x2000, VS+0x8000), 0x4000-byte VA aligned to 0x4000 -> VS+0x4000
    d = nn(ck(k, k.vmalloc(0x3000, align=0x4000)))
    assert d == VS + 0x4000 and k.stats().free_vmap_areas == 3
    # FL fit: exact hole [VS+0x2000, VS+0x4000)
    e = nn(ck(k, k.vmalloc(4096)))
    assert e == VS + 0x2000 and k.stats().free_vmap_areas == 2
    # NE fit with alignment: first block is [VS+0xa000, ...) -> aligned VS+0x10000
    f = nn(ck(k, k.vmalloc(4096, align=0x10000)))
    assert f == VS + 0x10000 and k.stats().free_vmap_areas == 3
    # LE fit: lowest fit is the gap [VS+0xa000, VS+0x10000)
    g = nn(ck(k, k.vmalloc(4096)))
    assert g == VS + 0xA000 and k.stats().free_vmap_areas == 3
    h = nn(ck(k, k.vmalloc(0x3000)))  # 0x4000 VA fills [VS+0xc000, VS+0x10000): FL
    assert h == VS + 0xC000 and k.stats().free_vmap_areas == 2
    assert k.stats().vmap_areas == 7
    for area in (a, c, d, e, f, g, h):
        assert k.is_vmalloc_addr(area)
        k.vfree(area)
        k.check()
    k.vm_unmap_aliases()
    k.check()
    s = k.stats()
    assert (s.free_vmap_areas, s.vmap_areas, s.free_pages) == (1, 0, TOTAL_4G)


# -- lazy areas and purging ------------------------------------------------------------------------


@pytest.mark.spec
def test_lazy_areas_are_not_reused_before_a_purge_and_are_after() -> None:
    # from tests/test_core.py::test_lazy_areas_are_not_reused_before_a_purge_and_are_after
    k = Kernel()
    k.trace.enable("free_vmap_area_noflush", "purge_vmap_area_lazy")
    p = k.vmalloc(4096)
    assert p is not None
    k.vfree(p)
    assert k.vmallocinfo() == "0xffffc90000000000-0xffffc90000002000    8192 unpurged vm_area\n"
    assert k.stats().vmap_lazy_nr == 2
    q = k.vmalloc(4096)
    assert q == p + 8192                          # the lazy area is not reused
    k.check()
    k.vm_unmap_aliases()
    assert (k.stats().nr_purges, k.stats().nr_tlb_flushes, k.stats().vmap_lazy_nr) == (1, 1, 0)
    r = k.vmalloc(4096)
    assert r == p                                 # after the purge it is
    assert [str(e) for e in k.trace.events] == [
        f"free_vmap_area_noflush: va_start={p:#x} nr_lazy=2 nr_lazy_max=16384",
        f"purge_vmap_area_lazy: start={p:#x} end={p + 8192:#x} num_purged=1"]
    k.vm_unmap_aliases()                          # nothing lazy: no flush, trace still fires
    assert k.stats().nr_tlb_flushes == 1
    assert str(k.trace.events[-1]) == "purge_vmap_area_lazy: start=0xffffffffffffffff end=0x0 num_purged=0"
    k.check()
    # then, on a fresh kernel, from tests/test_spec_core.py::test_lazy_area_not_reused_until_purged
    k = Kernel()
    p = nn(ck(k, k.vmalloc(5001)))
    assert p == VS
    k.vfree(p)
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.vmap_lazy_nr, s.nr_purges, s.nr_tlb_flushes) == (0, 3, 0, 0)
    q = nn(ck(k, k.vmalloc(5001)))
    assert q == VS + 0x3000  # the lazy VA is not free space (6.1)
    k.vm_unmap_aliases()  # 6.8: purge now
    k.check()
    s = k.stats()
    assert (s.vmap_lazy_nr, s.nr_purges, s.nr_tlb_flushes, s.free_vmap_areas) == (0, 1, 1, 2)
    r = nn(ck(k, k.vmalloc(5001)))
    assert r == VS  # reused after the purge
    k.vm_unmap_aliases()  # nothing lazy: no purge, no flush
    k.check()
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes) == (1, 1)


@pytest.mark.spec
def test_purge_runs_when_lazy_pages_exceed_the_threshold() -> None:
    # from tests/test_core.py::test_purge_runs_when_lazy_pages_exceed_the_threshold
    # one CPU: one vmap node, so purged areas merge (tests/mm/test_vmap_nodes.py: pools)
    k = Kernel(KernelConfig(lazy_max_pages=5, cpus=1))
    ptrs = [k.vmalloc(4096) for _ in range(4)]
    for i, p in enumerate(ptrs[:2]):
        k.vfree(p)
        assert k.stats().vmap_lazy_nr == 2 * (i + 1)
        k.check()
    # 6 > 5: free_vmap_area_noflush() schedules drain_vmap_work (mm/vmalloc.c); it runs
    # before the next allocation: one flush over the union of three areas
    k.vfree(ptrs[2])
    k.check()
    s = k.stats()
    assert (s.vmap_lazy_nr, s.nr_purges, s.nr_tlb_flushes, s.pending_work) == (6, 0, 0, 1)
    assert k.vmalloc(3 * 4096) == K       # the drained, merged space is reused at once
    s = k.stats()
    assert (s.vmap_lazy_nr, s.nr_purges, s.nr_tlb_flushes, s.pending_work) == (0, 1, 1, 0)
    k.check()
    # then, on a fresh kernel, from tests/test_spec_core.py::test_lazy_threshold_triggers_purge
    k = Kernel(KernelConfig(lazy_max_pages=8, cpus=1))
    assert k.stats().lazy_max_pages == 8
    ps = [nn(ck(k, k.vmalloc(4096))) for _ in range(5)]
    assert ps == [VS + 0x2000 * i for i in range(5)]
    for i, p in enumerate(ps[:4]):
        k.vfree(p)
        k.check()
        assert k.stats().vmap_lazy_nr == 2 * (i + 1)  # 6.8 step 1 (guard included)
    assert k.stats().nr_purges == 0  # 8 is not > 8
    k.vfree(ps[4])  # 10 > 8: drain_vmap_work is scheduled
    assert k.stats().pending_work == 1
    assert k.run_workqueues() == 1
    k.check()
    s = k.stats()
    assert (s.vmap_lazy_nr, s.nr_purges, s.nr_tlb_flushes) == (0, 1, 1)
    assert (s.vmap_areas, s.free_vmap_areas, s.free_pages) == (0, 1, TOTAL_4G)
    assert k.vmallocinfo().splitlines() == []


# -- allocation failures: purge and retry, -ERANGE, -ENOENT ----------------------------------------


@pytest.mark.spec
def test_blocking_allocation_purges_once_when_the_range_is_full() -> None:
    # from tests/test_core.py::test_blocking_allocation_purges_once_when_the_range_is_full
    k = Kernel()
    start, end = K, K + 4 * 4096
    k.trace.enable("alloc_vmap_area")
    p = k.vmalloc_node_range(3 * 4096, 1, start, end, GFP.KERNEL, 0)
    assert p == K
    k.vfree(p)
    q = k.vmalloc_node_range(3 * 4096, 1, start, end, GFP.KERNEL, 0)
    assert q == K                                  # found only after the purge retry
    fails = [e for e in k.trace.events if e.fields["failed"]]
    # the lowest free block lies above vend: -ERANGE (KERNEL.md 6.3 step 3)
    assert len(fails) == 1 and fails[0].fields["addr"] == 2**64 - 34
    with quiet():
        r = k.vmalloc_node_range(4096, 1, start, end, GFP.KERNEL, 0)
    assert r is None
    assert k.dmesg[-2:] == [
        f"vmalloc_node_range for size 8192 failed: Address range restricted to {start:#x} - {end:#x}",
        "kvalloc: vmalloc error: size 4096, vm_struct allocation failed, " + mode(0xCC0, "GFP_KERNEL")]
    with quiet():   # a non-blocking request fails silently at the KVA level, without a purge
        assert k.vmalloc_node_range(4096, 1, start, end, GFP.ATOMIC, 0) is None
    assert k.dmesg[-1] == "kvalloc: vmalloc error: size 4096, vm_struct allocation failed, " + \
        mode(0x820, "GFP_ATOMIC")
    k.check()
    # then, on a fresh kernel, from tests/test_spec_core.py::test_allocation_failure_purges_once_and_retries
    k = Kernel()
    end = VS + 0x4000
    p = nn(ck(k, k.vmalloc_node_range(8192, 1, VS, end, GFP.KERNEL, VM(0))))
    assert p == VS
    k.vfree(p)
    k.check()
    # non-blocking: no purge, silent -EBUSY, but __vmalloc_node_range's warn_alloc prints (8.7)
    line = warn_alloc("vmalloc error: size 8192, vm_struct allocation failed", 0x820, "GFP_ATOMIC")
    assert failing(
        k, lambda: k.vmalloc_node_range(8192, 1, VS, end, GFP.ATOMIC, VM(0)), [line], 1
    ) is None
    assert failing(
        k, lambda: k.vmalloc_node_range(8192, 1, VS, end, GFP.NOWAIT, VM(0)), [], 0
    ) is None
    # blocking: -ERANGE, purge, retry succeeds at VS (6.6 step 4)
    q = nn(ck(k, k.vmalloc_node_range(8192, 1, VS, end, GFP.KERNEL, VM(0))))
    assert q == VS
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes, s.vmap_lazy_nr) == (1, 1, 0)
    # the range is full: purge finds nothing, then the pr_warn and the warn_alloc
    lines = [
        "vmalloc_node_range for size 12288 failed: Address range restricted to "
        "0xffffc90000000000 - 0xffffc90000004000",
        warn_alloc("vmalloc error: size 8192, vm_struct allocation failed", 0xCC0, "GFP_KERNEL"),
    ]
    assert failing(
        k, lambda: k.vmalloc_node_range(8192, 1, VS, end, GFP.KERNEL, VM(0)), lines, 1
    ) is None
    k.vfree(q)
    k.check()


def test_out_of_range_alignment_gives_erange() -> None:
    k = Kernel()
    k.trace.enable("alloc_vmap_area")
    with quiet():
        assert k.vmalloc(4096, GFP.KERNEL, align=1 << 46) is None
    fails = [e.fields["addr"] for e in k.trace.events if e.fields["failed"]]
    # the next 2**46-aligned address is 2**64: no block can hold it, -ENOENT before and after
    # the purge retry (KERNEL.md 16.2, align_shift_alloc_test fails at i = 46)
    assert fails == [2**64 - 2, 2**64 - 2]
    k.check()


@pytest.mark.spec
def test_alignment_beyond_vmalloc_space_fails_enoent() -> None:
    k = Kernel()
    # 16.2 align_shift_alloc_test: ALIGN(VS, 2**46) reaches 2**64, nothing fits (6.3)
    lines = [
        "vmalloc_node_range for size 8192 failed: Address range restricted to "
        "0xffffc90000000000 - 0xffffe8ffffffffff",
        warn_alloc("vmalloc error: size 4096, vm_struct allocation failed", 0xCC0, "GFP_KERNEL"),
    ]
    assert failing(k, lambda: k.vmalloc(4096, align=1 << 46), lines, 1) is None
    p = nn(ck(k, k.vmalloc(4096, align=1 << 45)))
    assert p == 0xFFFFE00000000000  # ALIGN(VS, 2**45)
    k.vfree(p)
    k.check()


class _PlainVAs:
    """The reference for SortedVAs: a list of (start, end), searched linearly."""

    def __init__(self) -> None:
        self.areas: list[tuple[int, int]] = []

    def overlap(self, s: int, e: int) -> tuple[int, int] | None:
        hits = [a for a in self.areas if a[0] < e and a[1] > s]
        return max(hits) if hits else None

    def find(self, addr: int) -> tuple[int, int] | None:
        return next((a for a in self.areas if a[0] <= addr < a[1]), None)


def _span(va: VmapArea | None) -> tuple[int, int] | None:
    return None if va is None else (va.va_start, va.va_end)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), st.lists(st.tuples(st.sampled_from("iirfo"), st.integers(0, 400),
                                             st.integers(1, 12)), min_size=20, max_size=300))
def test_sorted_vas_answer_as_a_linear_scan(load: int, ops: list[tuple[str, int, int]]) -> None:
    """Insert (refused on overlap, returning the overlapped area), remove, find and overlap
    on chunks of at most 2 * load starts, split and emptied as they go; check() after each."""
    t, ref = SortedVAs(load), _PlainVAs()
    for op, x, n in ops:
        if op == "i":
            other = t.insert(VmapArea(x, x + n))
            expect = ref.overlap(x, x + n)
            assert _span(other) == expect
            if expect is None:
                ref.areas.append((x, x + n))
        elif op == "r" and ref.areas:
            s, e = ref.areas.pop(x % len(ref.areas))
            va = t.find(s)
            assert _span(va) == (s, e)
            t.remove(va)  # type: ignore[arg-type]
        elif op == "f":
            assert _span(t.find(x)) == ref.find(x)
        else:
            assert _span(t.overlap(x, x + n)) == ref.overlap(x, x + n)
        t.check()
        assert [_span(va) for va in t] == sorted(ref.areas) and len(t) == len(ref.areas)
    assert [_span(va) for va in t.pop_all()] == sorted(ref.areas)
    assert len(t) == 0 and list(t) == [] and t.find(0) is None
    t.check()


def test_sorted_vas_many_chunks_and_a_broken_tree() -> None:
    rng = random.Random(5)
    t = SortedVAs()
    starts = rng.sample(range(0, 10**6, 4), 20_000)
    for s in starts:
        assert t.insert(VmapArea(s, s + 2)) is None
    for s in starts[:5000]:
        t.remove(t.find(s))  # type: ignore[arg-type]
    t.check()
    assert len(t._chunks) > 40
    plain = sorted(starts[5000:])
    for x in rng.sample(range(-5, 10**6 + 5), 3000) + [plain[0], plain[-1], -1, 10**7]:
        j = bisect.bisect_right(plain, x)
        hit = plain[j - 1] if j and x < plain[j - 1] + 2 else None
        assert _span(t.find(x)) == (None if hit is None else (hit, hit + 2))
    t._chunks[3].reverse()
    with pytest.raises(AssertionError, match="chunk order"):
        t.check()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 3000), unique=True, max_size=1200),
       st.lists(st.integers(-5, 3 * 3000 + 5), min_size=1, max_size=40))
def test_free_area_neighbours_match_bisect(starts: list[int], probes: list[int]) -> None:
    """FreeAreaTree.neighbours (what merging asks) across chunk boundaries (1200 blocks make
    several chunks of LOAD)."""
    blocks = sorted((3 * s, 3 * s + 1) for s in starts)
    t = FreeAreaTree(blocks)
    for s, _ in blocks[::5]:                 # removals reshape the chunks
        t.remove(s)
    plain = [b for i, b in enumerate(blocks) if i % 5]
    keys = [s for s, _ in plain]
    for x in probes + keys[:3] + keys[-3:]:
        j = bisect.bisect_right(keys, x)
        assert t.neighbours(x) == (plain[j - 1] if j else None,
                                   plain[j] if j < len(plain) else None)


def test_free_area_neighbours_across_many_chunks() -> None:
    rng = random.Random(7)
    plain = sorted((3 * s, 3 * s + 2) for s in rng.sample(range(10**5), 5000))
    t = FreeAreaTree(plain)
    assert len(t._starts) > 30
    keys = [s for s, _ in plain]
    for x in rng.sample(range(-3, 3 * 10**5 + 3), 2000) + [keys[0], keys[-1]]:
        j = bisect.bisect_right(keys, x)
        assert t.neighbours(x) == (plain[j - 1] if j else None,
                                   plain[j] if j < len(plain) else None)
    assert FreeAreaTree().neighbours(5) == (None, None)
