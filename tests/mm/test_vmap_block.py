"""Per-CPU vmap blocks (kvalloc.mm.vmap_block), each test after the mm/vmalloc.c function it
follows: vm_map_ram(), vb_alloc(), new_vmap_block(), vb_free(), free_vmap_block(),
purge_fragmented_block(), _vm_unmap_aliases(), reclaim_and_purge_vmap_areas()."""

from __future__ import annotations

import random
import warnings
from typing import Literal

import pytest

from kvalloc import (
    GFP,
    VM,
    VMAP_BLOCK_SIZE,
    VMAP_MAX_ALLOC,
    Kernel,
    KernelBug,
    KernelConfig,
    Page,
    PageFault,
)
from kvalloc.mm.vmap_block import VMAP_PURGE_THRESHOLD

from ..helpers import PAGE, VS, ck, failing, instrumented_kernel, nn, stats, untag, warn_on

BLOCK_LINE = "0xffffc90000000000-0xffffc90000400000 4194304 vm_map_ram"


def pages_of(k: Kernel, n: int) -> list[Page]:
    return ck(k, k.alloc_pages_bulk(n))


def test_vb_alloc_carves_power_of_two_ranges_from_one_block() -> None:
    # vb_alloc(): order = get_order(size); pages_off = VMAP_BBMAP_BITS - vb->free
    # new_vmap_block(): alloc_vmap_area(VMAP_BLOCK_SIZE, VMAP_BLOCK_SIZE, ..., VMAP_RAM|VMAP_BLOCK)
    k = Kernel()
    pg = pages_of(k, 8)
    a = nn(ck(k, k.vm_map_ram(pg, 3)))      # order 2: pages 0-3, 3 mapped
    b = nn(ck(k, k.vm_map_ram(pg, 1)))      # order 0: page 4
    c = nn(ck(k, k.vm_map_ram(pg, 2)))      # order 1: pages 5-6
    assert (a, b, c) == (VS, VS + 4 * PAGE, VS + 5 * PAGE)
    assert k.vmallocinfo() == BLOCK_LINE + "\n"     # vmalloc_info_show(): one line, block size
    assert k.find_vm_area(b) is None
    assert nn(k.vmalloc_to_page(a + 2 * PAGE)).pfn == pg[2].pfn
    assert k.vmalloc_to_page(a + 3 * PAGE) is None  # the 4th page of the order-2 range is not mapped
    s = k.stats()
    assert (s.vmap_areas, s.slab_pages) == (1, 1)   # the area and struct vmap_block's kmalloc-256
    assert nn(k.vmalloc(4096)) == VS + VMAP_BLOCK_SIZE


def test_vb_free_never_reuses_a_freed_range() -> None:
    # vb_free(): the range turns dirty; vb_alloc() only takes the never-used tail
    k = Kernel()
    pg = pages_of(k, 2)
    a = nn(ck(k, k.vm_map_ram(pg, 2)))
    k.write(a, b"block")
    assert k.read(PAGE_OFFSET_OF(pg[0]), 5) == b"block"
    k.vm_unmap_ram(a, 2)
    k.check()
    with pytest.raises(PageFault):
        k.read(a, 1)
    b = nn(ck(k, k.vm_map_ram(pg, 2)))
    assert b == a + 2 * PAGE
    assert k.read(b, 5) == b"block"
    s = k.stats()
    assert (s.vmap_areas, s.vmap_lazy_nr) == (1, 0)   # the block stays busy, nothing is lazy
    assert k.vmallocinfo() == BLOCK_LINE + "\n"


def PAGE_OFFSET_OF(page: Page) -> int:
    return 0xFFFF888000000000 + page.pfn * PAGE


def test_a_full_block_makes_a_new_one_and_a_fully_dirty_block_is_freed_lazily() -> None:
    # vb_alloc(): a block with vb->free == 0 leaves the free list; new_vmap_block() makes the next
    # vb_free(): vb->dirty == VMAP_BBMAP_BITS -> free_vmap_block() -> free_vmap_area_noflush()
    k = Kernel()
    pg = pages_of(k, VMAP_MAX_ALLOC)
    first = [nn(k.vm_map_ram(pg, VMAP_MAX_ALLOC)) for _ in range(16)]
    k.check()
    assert first == [VS + i * 64 * PAGE for i in range(16)]
    nxt = nn(ck(k, k.vm_map_ram(pg, 1)))
    assert nxt == VS + VMAP_BLOCK_SIZE
    assert k.stats().vmap_areas == 2
    for a in first[:-1]:
        k.vm_unmap_ram(a, VMAP_MAX_ALLOC)
        k.check()
    assert (k.stats().vmap_areas, k.stats().vmap_lazy_nr) == (2, 0)
    k.vm_unmap_ram(first[-1], VMAP_MAX_ALLOC)
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.vmap_lazy_nr) == (1, 1024)
    assert k.vmallocinfo().splitlines() == [
        "0xffffc90000400000-0xffffc90000800000 4194304 vm_map_ram",
        "0xffffc90000000000-0xffffc90000400000 4194304 unpurged vm_area",
    ]


def test_more_than_vmap_max_alloc_pages_get_an_area_of_their_own() -> None:
    # vm_map_ram(): count <= VMAP_MAX_ALLOC -> vb_alloc(), else alloc_vmap_area(size, PAGE_SIZE)
    k = Kernel()
    pg = pages_of(k, 65)
    a = nn(ck(k, k.vm_map_ram(pg, 64)))
    b = nn(ck(k, k.vm_map_ram(pg, 65)))
    assert (a, b) == (VS, VS + VMAP_BLOCK_SIZE)
    assert k.vmallocinfo().splitlines() == [
        BLOCK_LINE, "0xffffc90000400000-0xffffc90000441000  266240 vm_map_ram"]
    k.vm_unmap_ram(b, 65)
    k.vm_unmap_ram(a, 64)
    k.check()
    assert k.stats().vmap_lazy_nr == 65


def test_vm_unmap_aliases_purges_fragmented_blocks_below_the_threshold() -> None:
    # _vm_unmap_aliases(): purge_fragmented_block(vb, &purge_list, false) needs
    # free + dirty == VMAP_BBMAP_BITS and free < VMAP_PURGE_THRESHOLD
    k = Kernel()
    pg = pages_of(k, VMAP_MAX_ALLOC)
    n = (1024 - VMAP_PURGE_THRESHOLD) // 64 + 1          # 13 ranges: 192 pages stay free
    addrs = [nn(k.vm_map_ram(pg, VMAP_MAX_ALLOC)) for _ in range(n)]
    for a in addrs:
        k.vm_unmap_ram(a, VMAP_MAX_ALLOC)
    k.check()
    assert k.stats().vmap_areas == 1
    k.vm_unmap_aliases()
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.vmap_lazy_nr, s.nr_purges) == (0, 0, 1)
    assert k.vmallocinfo() == ""
    assert s.slab_pages == 0                               # kfree_rcu() of the struct


def test_vm_unmap_aliases_flushes_dirty_ranges_once() -> None:
    # _vm_unmap_aliases(): a block that is not purged has its dirty range flushed and reset
    # (vb->dirty_min = VMAP_BBMAP_BITS, vb->dirty_max = 0); one flush_tlb_kernel_range()
    k = Kernel()
    pg = pages_of(k, 2)
    a = nn(k.vm_map_ram(pg, 2))
    nn(k.vm_map_ram(pg, 2))
    k.vm_unmap_ram(a, 2)
    flushes = k.stats().nr_tlb_flushes
    k.vm_unmap_aliases()
    k.check()
    assert k.stats().nr_tlb_flushes == flushes + 1
    assert k.stats().vmap_areas == 1                       # 1020 pages free: kept
    k.vm_unmap_aliases()
    assert k.stats().nr_tlb_flushes == flushes + 1         # nothing dirty is left to flush


def test_out_of_space_purges_every_fragmented_block() -> None:
    # alloc_vmap_area() overflow: reclaim_and_purge_vmap_areas() runs
    # purge_fragmented_blocks_allcpus() (force_purge) before __purge_vmap_area_lazy()
    k = Kernel()
    pg = pages_of(k, 1)
    a = nn(k.vm_map_ram(pg, 1))
    k.vm_unmap_ram(a, 1)
    k.vm_unmap_aliases()                                   # 1023 free: not purged on demand
    assert k.stats().vmap_areas == 1
    p = nn(ck(k, k.vmalloc_node_range(4096, 1, VS, VS + VMAP_BLOCK_SIZE, GFP.KERNEL, VM(0))))
    assert p == VS
    k.check()
    assert k.stats().vmap_areas == 1 and len(k.machine.vb) == 0          # the block is gone
    k.vfree(p)


def test_vm_map_ram_of_no_pages_warns_and_changes_nothing() -> None:
    # vb_alloc(): if (WARN_ON(size == 0)) return ERR_PTR(-EINVAL)
    k = Kernel()
    assert failing(k, lambda: k.vm_map_ram([], 0), warn_on("vb_alloc"), 1) is None


@pytest.mark.parametrize("case", ["no block", "wrong count", "interior", "twice"])
def test_vm_unmap_ram_of_no_live_range_is_a_kernel_bug_and_changes_nothing(case: str) -> None:
    # vb_free(): xa_load() gives NULL without a block (a NULL dereference); a range that is not
    # live corrupts vb->dirty in the kernel. kvalloc raises KernelBug before changing anything.
    k = instrumented_kernel("generic")
    pg = pages_of(k, 4)
    a = nn(k.vm_map_ram(pg, 4))
    if case == "twice":
        k.vm_unmap_ram(a, 4)
    addr, count = {"no block": (VS + VMAP_BLOCK_SIZE, 1), "wrong count": (a, 3),
                   "interior": (a + PAGE, 1), "twice": (a, 4)}[case]
    kasan = nn(k.machine.kasan)
    before, info, shadow = stats(k), k.vmallocinfo(), kasan.shadow_bytes(a, 2048)
    with pytest.raises(KernelBug, match="vb_free"):
        k.vm_unmap_ram(addr, count)
    k.check()
    assert (stats(k), k.vmallocinfo(), kasan.shadow_bytes(a, 2048)) == (before, info, shadow)


def test_vfree_of_a_block_address_loses_the_block_until_it_is_all_dirty() -> None:
    # remove_vm_area(): find_unlink_vmap_area() unlinks the whole block area (va->vm is NULL);
    # free_vmap_block() later hits __unlink_va()'s WARN_ON(RB_EMPTY_NODE()) and frees it lazily
    k = Kernel()
    pg = pages_of(k, VMAP_MAX_ALLOC)
    addrs = [nn(k.vm_map_ram(pg, VMAP_MAX_ALLOC)) for _ in range(16)]
    with pytest.warns(Warning):
        k.vfree(addrs[3])
    assert k.dmesg[-2] == "Trying to vfree() nonexistent vm area (ffffc900000c0000)"
    k.check()
    assert (k.stats().vmap_areas, k.vmallocinfo()) == (0, "")
    for a in addrs[:-1]:
        k.vm_unmap_ram(a, VMAP_MAX_ALLOC)
        k.check()
    n = len(k.dmesg)
    with pytest.warns(Warning):
        k.vm_unmap_ram(addrs[-1], VMAP_MAX_ALLOC)
    assert k.dmesg[n:] == warn_on("__unlink_va")
    k.check()
    assert k.stats().vmap_lazy_nr == 1024 and not k.machine.kva.leaked


@pytest.mark.parametrize("mode", ["generic", "sw_tags"])
def test_kasan_unpoisons_each_range_alone(mode: Literal["generic", "sw_tags"]) -> None:
    # vm_map_ram(): kasan_unpoison_vmalloc(mem, size, KASAN_VMALLOC_PROT_NORMAL) for count
    # pages, not the order-rounded range; vm_unmap_ram(): kasan_poison_vmalloc(mem, size)
    k = instrumented_kernel(mode, seed=5, multi_shot=True)
    pg = pages_of(k, 3)
    a = nn(k.vm_map_ram(pg, 3))
    b = nn(k.vm_map_ram(pg, 1))
    k.check()
    assert untag(b) == untag(a) + 4 * PAGE
    if mode == "sw_tags":
        assert a >> 56 != b >> 56
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k.write(a + 3 * PAGE - 1, b"x")
        assert len(k.kasan_reports) == 0
        with pytest.raises(PageFault):
            k.read(a + 3 * PAGE, 1)       # the unmapped 4th page of the order-2 range
        assert len(k.kasan_reports) == 1
        k.vm_unmap_ram(untag(a), 3)
        k.check()
        k.write(b, b"y")
        assert len(k.kasan_reports) == 1
        with pytest.raises(PageFault):
            k.read(a, 1)
        assert len(k.kasan_reports) == 2
    k.vm_unmap_ram(untag(b), 1)
    k.check()


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_seeded_vm_map_ram_churn_keeps_every_invariant(cpus: int) -> None:
    # every path of vb_alloc(), vb_free(), free_vmap_block() and _vm_unmap_aliases(), with
    # vmalloc/vfree in between, check() after every step and the mapped bytes read back
    k = Kernel(KernelConfig(cpus=cpus, ram=64 << 20))
    rng = random.Random(cpus)
    live: list[tuple[int, list[Page], bytes]] = []
    areas: list[int] = []
    for step in range(400):
        r = rng.random()
        if r < 0.45:
            n = rng.choice([1, 1, 2, 3, 4, 7, 16, 33, 64, 65, 80])
            pg = pages_of(k, n)
            a = nn(k.vm_map_ram(pg, n))
            tag = bytes([step & 0xFF]) * 8
            k.write(a + (n - 1) * PAGE, tag)
            live.append((a, pg, tag))
        elif r < 0.85 and live:
            a, pg, tag = live.pop(rng.randrange(len(live)))
            assert k.read(a + (len(pg) - 1) * PAGE, 8) == tag
            k.vm_unmap_ram(a, len(pg))
            for page in pg:
                k.free_pages(page, 0)
        elif r < 0.93:
            areas.append(nn(k.vmalloc(rng.randrange(1, 5) * PAGE)))
        elif r < 0.97 and areas:
            k.vfree(areas.pop(rng.randrange(len(areas))))
        else:
            k.vm_unmap_aliases()
        k.check()
    for a, pg, _ in live:
        k.vm_unmap_ram(a, len(pg))
    for p in areas:
        k.vfree(p)
    k.check()
