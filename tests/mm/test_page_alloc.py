"""The buddy allocator (kvalloc.mm.page_alloc): split and merge, failures, page contents."""

from __future__ import annotations

import time
import tracemalloc
import warnings

import pytest
from hypothesis import given, strategies as st

from kvalloc import GFP, PAGE_SIZE, Kernel, KernelBug, KernelConfig, KernelWarning

from ..helpers import (
    FRESH_BUDDY,
    MIB,
    PFN0,
    TOTAL_4G,
    VS,
    buddy,
    buddy_line,
    ck,
    dm,
    failing,
    meminfo_lines,
    mode,
    nn,
    pfns,
    quiet,
    warn_alloc,
    warn_lines,
    warn_on,
)

# -- buddy allocator -------------------------------------------------------------------------------


@pytest.mark.spec
def test_buddy_splits_lowest_pfn_and_merges_back() -> None:
    # from tests/test_core.py::test_buddy_splits_lowest_pfn_and_merges_back
    k = Kernel(KernelConfig(ram=8 << 20))
    assert k.buddyinfo() == "Node 0, zone   Normal " + "     0 " * 10 + "     2 \n"
    a = k.alloc_pages(0)
    assert a is not None and a.pfn == 0x100000 and a.order == 0 and a.refcount == 1
    k.check()
    # the first order-10 block split down: one free block of each order 0..9
    assert k.buddyinfo() == "Node 0, zone   Normal " + "     1 " * 10 + "     1 \n"
    b = k.alloc_pages(3)
    assert b is not None and b.pfn == 0x100008
    c = k.alloc_pages(0)
    assert c is not None and c.pfn == 0x100001
    k.check()
    for page, order in ((b, 3), (a, 0), (c, 0)):
        k.free_pages(page, order)
        k.check()
    assert k.buddyinfo() == "Node 0, zone   Normal " + "     0 " * 10 + "     2 \n"
    assert a.refcount == 0
    assert k.stats().free_pages == 2048
    # then, on a fresh kernel, from tests/test_spec_core.py::test_alloc_pages_lowest_pfn_split_and_merge
    k = Kernel()
    k.check()
    assert buddy(k) == [FRESH_BUDDY]
    # 4.2: order 0 from a fresh machine splits the first order-10 block, keeps the lowest frame
    p0 = nn(ck(k, k.alloc_pages(0)))
    assert (p0.pfn, p0.order, p0.refcount, p0.node) == (PFN0, 0, 1, 0)
    assert buddy(k) == [buddy_line([1] * 10 + [1023])]
    # order 3: smallest order with a free block is 3 (0x100008)
    p3 = nn(ck(k, k.alloc_pages(3)))
    assert (p3.pfn, p3.order, p3.refcount) == (PFN0 + 8, 3, 1)
    p2 = nn(ck(k, k.alloc_pages(2)))
    assert p2.pfn == PFN0 + 4
    assert buddy(k) == [buddy_line([1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1023])]
    assert k.stats().free_pages == TOTAL_4G - 1 - 8 - 4
    # free 0x100008 (o3): buddy 0x100000/o3 is not free -> stays
    k.free_pages(p3, 3)
    k.check()
    assert buddy(k) == [buddy_line([1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1023])]
    # free 0x100000: merges with 0x100001 (o0) and 0x100002 (o1) up to an order-2 block
    k.free_pages(p0, 0)
    k.check()
    assert buddy(k) == [buddy_line([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1023])]
    # free 0x100004 (o2): everything merges back to order 10
    k.free_pages(p2, 2)
    k.check()
    assert buddy(k) == [FRESH_BUDDY]
    assert k.stats().free_pages == TOTAL_4G


@pytest.mark.spec
def test_alloc_pages_bulk_one_at_a_time() -> None:
    k = Kernel()
    pages = ck(k, k.alloc_pages_bulk(5))
    # 4.5 + 4.2: lowest pfn of the smallest order each time
    assert [p.pfn for p in pages] == [PFN0 + i for i in range(5)]
    assert buddy(k) == [buddy_line([1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1023])]
    for i in (3, 0, 4, 2, 1):  # any order of frees merges fully (4.2)
        k.free_pages(pages[i], 0)
        k.check()
    assert buddy(k) == [FRESH_BUDDY]


@pytest.mark.spec
def test_alloc_pages_order_above_max_warn_on_once() -> None:
    # from tests/test_core.py::test_alloc_pages_order_above_max_warns_once
    k = Kernel()
    with quiet():
        assert k.alloc_pages(11) is None
        assert k.alloc_pages(11) is None
    assert k.dmesg == warn_lines(None, "__alloc_pages_noprof")
    assert k.alloc_pages(11, GFP.KERNEL | GFP.NOWARN) is None
    k.check()
    # then, on a fresh kernel, from tests/test_spec_core.py::test_alloc_pages_order_above_max_warn_on_once
    k = Kernel()
    # 4.2: order > 10 fails at once; no WARN with __GFP_NOWARN (and it does not use up the ONCE)
    assert failing(k, lambda: k.alloc_pages(11, GFP.KERNEL | GFP.NOWARN), [], 0) is None
    assert failing(k, lambda: k.alloc_pages(11), warn_on("__alloc_pages_noprof"), 1) is None
    assert failing(k, lambda: k.alloc_pages(12), [], 0) is None  # ONCE: silent
    assert k.stats().free_pages == TOTAL_4G


def test_physical_exhaustion_prints_page_allocation_failure() -> None:
    k = Kernel(KernelConfig(ram=4 << 20))
    assert k.alloc_pages(10) is not None
    with pytest.warns(KernelWarning):
        assert k.alloc_pages(0) is None
    assert k.dmesg[-1] == "kvalloc: page allocation failure: order:0, " + mode(0xCC0, "GFP_KERNEL")
    with pytest.raises(KernelBug, match="__GFP_NOFAIL"), quiet():
        k.alloc_pages(0, GFP.KERNEL | GFP.NOFAIL)


@pytest.mark.spec
def test_page_allocation_failure_warn_alloc() -> None:
    k = Kernel(KernelConfig(ram=4 * MIB))
    assert k.stats().total_pages == 1024
    big = nn(ck(k, k.alloc_pages(10)))
    assert big.pfn == PFN0
    line = warn_alloc("page allocation failure: order:0", 0xCC0, "GFP_KERNEL")
    assert failing(k, lambda: k.alloc_pages(0), [line], 1) is None  # 4.2
    line = warn_alloc("page allocation failure: order:2", 0x820, "GFP_ATOMIC")
    assert failing(k, lambda: k.alloc_pages(2, GFP.ATOMIC), [line], 1) is None
    assert failing(k, lambda: k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN), [], 0) is None
    assert failing(k, lambda: k.alloc_pages_bulk(3), [], 0) == []  # 4.5 never warns
    k.free_pages(big, 10)
    k.check()
    assert k.stats().free_pages == 1024


@pytest.mark.spec
def test_page_allocation_nofail_cannot_progress() -> None:
    k = Kernel(KernelConfig(ram=4 * MIB))
    big = nn(ck(k, k.alloc_pages(10)))
    with pytest.raises(KernelBug), warnings.catch_warnings():  # 4.2
        warnings.simplefilter("ignore")
        k.alloc_pages(0, GFP.KERNEL | GFP.NOFAIL)
    k.free_pages(big, 10)
    k.check()


# -- contents at allocation and free ---------------------------------------------------------------


@pytest.mark.spec
def test_init_on_free_zeroes_at_free_time() -> None:
    k = Kernel(KernelConfig(init_on_free=True))
    p = nn(ck(k, k.vmalloc(4096)))
    pfn = pfns(k, p)[0]
    k.write(p, b"secret")
    k.check()
    k.vfree(p)
    k.check()
    assert ck(k, k.read(dm(pfn), 6)) == bytes(6)  # 4.3
    a = nn(ck(k, k.kmalloc(32)))
    k.write(a, b"x" * 32)
    k.check()
    k.kfree(a)
    k.check()
    assert ck(k, k.read(a, 32)) == bytes(32)  # 11.1: freed objects zeroed under init_on_free
    pg = nn(ck(k, k.alloc_pages(0)))
    k.write(dm(pg.pfn), b"page")
    k.check()
    k.free_pages(pg, 0)
    k.check()
    assert ck(k, k.read(dm(pg.pfn), 4)) == bytes(4)


@pytest.mark.spec
def test_init_on_alloc_zeroes_at_allocation() -> None:
    k = Kernel(KernelConfig(init_on_alloc=True))
    pg = nn(ck(k, k.alloc_pages(0)))
    k.write(dm(pg.pfn), b"stale")
    k.check()
    k.free_pages(pg, 0)
    k.check()
    assert ck(k, k.read(dm(pg.pfn), 5)) == b"stale"  # init_on_free off: kept at free
    pg2 = nn(ck(k, k.alloc_pages(0)))
    assert pg2.pfn == pg.pfn
    assert ck(k, k.read(dm(pg2.pfn), 5)) == bytes(5)  # 4.3 want_init_on_alloc
    k.free_pages(pg2, 0)
    k.check()
    # plain vmalloc: page 0x100001 after the kmalloc-8 slab (8.5)
    k.write(dm(PFN0 + 1), b"stale")
    k.check()
    p = nn(ck(k, k.vmalloc(4096)))
    assert pfns(k, p) == [PFN0 + 1]
    assert ck(k, k.read(p, 5)) == bytes(5)


# -- a big machine costs nothing until used --------------------------------------------------------


def test_idle_64_gib_kernel_is_cheap() -> None:
    tracemalloc.start()
    k = Kernel(KernelConfig(ram=64 << 30))
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert size < 256 << 10
    assert k.stats().total_pages == 16 << 20
    p = k.vmalloc(1 << 20)
    assert p is not None
    assert len(k.machine.mem.chunks) == 0        # nothing written yet: no contents chunk exists
    k.memset(p, 1, 4096)
    assert len(k.machine.mem.chunks) == 1
    k.check()


@pytest.mark.spec
def test_64_gib_machine_is_cheap() -> None:
    t0 = time.perf_counter()
    k = Kernel(KernelConfig(ram=64 << 30))
    frames = (64 << 30) // PAGE_SIZE
    assert k.stats().total_pages == frames
    assert k.meminfo().splitlines() == meminfo_lines(frames * 4, frames * 4, 0)
    assert k.meminfo().splitlines()[0] == "MemTotal:       67108864 kB"
    assert k.buddyinfo().splitlines() == [buddy_line([0] * 10 + [frames // 1024])]
    p = nn(ck(k, k.vmalloc(5001)))
    assert p == VS
    area = nn(k.find_vm_area(p))
    assert [pg.pfn for pg in area.pages] == [PFN0 + 2, PFN0 + 3]  # same layout as 8.8
    assert k.meminfo().splitlines() == meminfo_lines(frames * 4, (frames - 3) * 4, 8)
    k.vfree(p)
    k.check()
    assert time.perf_counter() - t0 < 30  # API.md 4: no memory proportional to ram


@pytest.mark.parametrize("seed", range(6))
def test_free_pages_run_ends_as_freeing_each_page_does(seed: int) -> None:
    # vm_area_free_pages frees a vmalloc area's pages a run at a time; the buddy lists must
    # end exactly as after the kernel's one __free_page per page, whatever was free before
    import random

    from kvalloc.mm.page_alloc import OWNER_USER, Block

    rng = random.Random(seed)
    twins = [Kernel(KernelConfig(ram=16 << 20)).machine.mem for _ in range(2)]
    runs: list[list[list[Block]]] = [[], []]
    for _ in range(6):
        order = rng.randrange(0, 8)
        for mem, out in zip(twins, runs):
            block = mem.alloc_pages(0xcc0, order, OWNER_USER)
            assert block is not None
            out.append(mem.split_page(block))
    keep = rng.sample(range(6), 2)
    one, batched = twins
    for i in range(6):
        if i in keep:
            continue
        for b in runs[0][i]:
            one.free_pages(b)
        lo = rng.randrange(len(runs[1][i]))
        batched.free_pages_run(runs[1][i][:lo])
        batched.free_pages_run(runs[1][i][lo:])
    for mem in twins:
        mem.check()
    assert list(one.free_blocks()) == list(batched.free_blocks())
    assert one.nr_free == batched.nr_free and one.blocks.keys() == batched.blocks.keys()


def test_free_pages_run_refuses_what_is_not_one_run_and_changes_nothing() -> None:
    from kvalloc.mm.page_alloc import OWNER_USER

    mem = Kernel(KernelConfig(ram=16 << 20)).machine.mem
    block = mem.alloc_pages(0xcc0, 2, OWNER_USER)
    assert block is not None
    pages = mem.split_page(block)
    free = mem.nr_free
    with pytest.raises(KernelBug, match=r"^free_pages_run: frame 0x100002 is not part of an "
                                        r"order-0 run from 0x100000$"):
        mem.free_pages_run([pages[0], pages[2]])
    assert mem.nr_free == free and all(b.refcount == 1 for b in pages)
    mem.check()
    mem.free_pages_run(pages)
    assert mem.nr_free == free + 4
    mem.check()


@pytest.mark.parametrize("release", [True, False])
def test_a_freed_16_mib_run_gives_its_host_memory_back_unless_asked_not_to(release: bool) -> None:
    k = Kernel(KernelConfig(ram=64 << 20, release_host_memory=release))
    mem = k.machine.mem
    big, small = k.vmalloc(4096 * PAGE_SIZE), k.vmalloc(4095 * PAGE_SIZE)
    assert big is not None and small is not None
    k.memset(big, 0xAB, 4096 * PAGE_SIZE)
    k.memset(small, 0xCD, 4095 * PAGE_SIZE)
    big_pfns = [p.pfn for p in nn(k.find_vm_area(big)).pages]
    small_pfns = [p.pfn for p in nn(k.find_vm_area(small)).pages]
    k.vfree(big)
    k.vfree(small)
    k.check()
    # through the direct map: the 16 MiB run reads as zeros once released; 4095 frames never are
    first = mem.frame(big_pfns[0])[:4].tobytes()
    assert first == (b"\0" * 4 if release else b"\xab" * 4)
    assert mem.frame(small_pfns[7])[:2].tobytes() == b"\xcd\xcd"
    assert mem.host_released == (4096 if release else 0)
    assert k.stats().free_pages == k.stats().total_pages


@pytest.mark.parametrize("seed", range(4))
def test_free_list_hands_out_the_lowest_free_head_like_a_sorted_set(seed: int) -> None:
    import random

    from kvalloc.mm.page_alloc import FreeList

    rng = random.Random(seed)
    fl, ref = FreeList(), set()
    for _ in range(5000):
        op = rng.random()
        if op < 0.45:
            pfn = rng.randrange(300)           # re-adding removed heads leaves stale entries
            if pfn not in ref:
                fl.add(pfn)
                ref.add(pfn)
        elif op < 0.8 and ref:
            pfn = rng.choice(sorted(ref))
            fl.remove(pfn)
            ref.discard(pfn)
        elif ref:
            assert fl.lowest() == min(ref)
            assert fl.pop_lowest() == min(ref)
            ref.discard(min(ref))
        assert len(fl) == len(ref) and bool(fl) == bool(ref)
        assert len(fl.heap) <= 2 * len(ref) + 65 and ref <= set(fl.heap)
    assert list(fl) == sorted(ref)


def _run_length_by_definition(pfns: list[int], i: int, limit: int) -> int:
    k = 1
    while k < limit and pfns[i + k] == pfns[i] + k:
        k += 1
    return k


@given(runs=st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 40)), min_size=1,
                     max_size=8),
       data=st.data())
def test_run_length_is_the_longest_consecutive_prefix(runs: list[tuple[int, int]],
                                                     data: st.DataObject) -> None:
    """run_length (bisection on the entries, one check) against its definition, on frame
    lists made of runs as the buddy allocator hands them out, in any order and overlap."""
    from kvalloc.mm.page_alloc import run_length
    pfns = [p for start, n in runs for p in range(start, start + n)]
    i = data.draw(st.integers(0, len(pfns) - 1))
    limit = data.draw(st.integers(1, len(pfns) - i))
    assert run_length(pfns, i, limit) == _run_length_by_definition(pfns, i, limit)


def test_run_length_walks_a_list_that_leaves_and_rejoins_the_count() -> None:
    from kvalloc.mm.page_alloc import run_length
    pfns = [10, 11, 12, 40, 14, 15, 16]          # entry 6 is on the count from 10, entry 3 not
    assert run_length(pfns, 0, 7) == 3
    assert run_length(pfns, 4, 3) == 3 and run_length(pfns, 0, 2) == 2
    assert run_length(list(range(100, 1124)) + [5], 0, 1025) == 1024
