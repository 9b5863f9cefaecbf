"""Lazily split blocks (kvalloc.mm.page_alloc.SplitBlock) and the run-based page array of a
vm_struct (kvalloc.mm.vmalloc_types.PageArray): the same pages, pfns, buddy state, counters
and /proc text as one Block per page, and Kernel.check() catches a corrupted run."""

from __future__ import annotations

import random

import pytest

from kvalloc import GFP, PAGE_SIZE, Kernel, KernelBug, KernelConfig
from kvalloc.mm.page_alloc import OWNER_USER, OWNER_VMALLOC, Block, PageAllocator, SplitBlock
from kvalloc.mm.vmalloc_types import PageArray

from ..helpers import PFN0, nn


def _mem(ram: int = 16 << 20) -> PageAllocator:
    return Kernel(KernelConfig(ram=ram)).machine.mem


def _state(mem: PageAllocator) -> tuple[object, ...]:
    return (list(mem.free_blocks()), mem.nr_free, mem.nr_pages_allocated, mem.nr_pages_freed,
            mem.nr_bytes_zeroed)


@pytest.mark.parametrize("order", [1, 3, 10])
def test_a_lazily_split_block_gives_the_blocks_split_page_gives(order: int) -> None:
    eager, lazy = _mem(), _mem()
    want = eager.split_page(nn(eager.alloc_pages(0xcc0, order, OWNER_USER)))
    sb = lazy.split_page_lazy(nn(lazy.alloc_pages(0xcc0, order, OWNER_USER)))
    assert (sb.pfn, sb.order, sb.mask) == (PFN0, order, (1 << (1 << order)) - 1)
    assert len(lazy.blocks) == 0 and list(lazy.lazy_runs()) == [(PFN0, 1 << order, sb)]
    lazy.check()
    got = [nn(lazy.blocks.get(b.pfn)) for b in reversed(want)][::-1]   # any order of asking
    assert [(b.pfn, b.order, b.refcount, b.owner, b.memcg, b.vmalloc) for b in got] == \
        [(b.pfn, b.order, b.refcount, b.owner, b.memcg, b.vmalloc) for b in want]
    assert not sb.mask and not lazy.split and lazy.blocks.keys() == eager.blocks.keys()
    assert all(lazy.blocks.get(b.pfn) is b for b in got)     # made once, then kept
    lazy.check()


def test_the_block_map_finds_pages_without_a_block() -> None:
    mem = _mem()
    sb = mem.split_page_lazy(nn(mem.alloc_pages(0xcc0, 2, OWNER_USER)))
    assert PFN0 + 3 in mem.blocks and PFN0 + 4 not in mem.blocks and object() not in mem.blocks
    assert len(mem.blocks) == 0                               # asking "in" makes nothing
    b = mem.blocks[PFN0 + 1]
    assert (b.pfn, b.refcount, len(mem.blocks), sb.mask) == (PFN0 + 1, 1, 1, 0b1101)
    assert mem.block_of(PFN0 + 2) is mem.blocks[PFN0 + 2] and mem.block_of(PFN0 + 4) is None
    with pytest.raises(KeyError):
        mem.blocks[PFN0 + 4]
    assert mem.blocks.get(PFN0 + 4) is None and mem.blocks.get(PFN0 + 4, b) is b
    assert list(mem.lazy_runs()) == [(PFN0, 1, sb), (PFN0 + 3, 1, sb)]
    mem.check()


@pytest.mark.parametrize("seed", range(6))
def test_free_split_run_ends_as_freeing_each_page_does(seed: int) -> None:
    rng = random.Random(seed)
    one, batched = _mem(), _mem()
    eager: list[list[Block]] = []
    lazy: list[SplitBlock] = []
    for _ in range(6):
        order = rng.randrange(1, 8)
        eager.append(one.split_page(nn(one.alloc_pages(0xcc0, order, OWNER_USER))))
        lazy.append(batched.split_page_lazy(nn(batched.alloc_pages(0xcc0, order, OWNER_USER))))
    for i in rng.sample(range(6), 4):
        n = len(eager[i])
        lo, hi = sorted(rng.sample(range(n + 1), 2))
        for b in eager[i][lo:hi]:
            one.free_pages(b)
        if lo < hi:
            batched.free_split_run([(lazy[i], lazy[i].pfn + lo, hi - lo)])
        if rng.random() < 0.5 and hi < n:                  # a page asked for, then freed
            one.free_pages(eager[i][hi])
            batched.free_pages(nn(batched.blocks.get(lazy[i].pfn + hi)))
    for mem in (one, batched):
        mem.check()
    assert _state(one) == _state(batched)


def test_free_split_run_refuses_what_is_not_one_run_and_changes_nothing() -> None:
    mem = _mem()
    a = mem.split_page_lazy(nn(mem.alloc_pages(0xcc0, 2, OWNER_USER)))
    b = mem.split_page_lazy(nn(mem.alloc_pages(0xcc0, 2, OWNER_USER)))
    mem.blocks.get(PFN0 + 6)
    before = _state(mem), a.mask, b.mask
    bad = [[(a, PFN0, 2), (b, PFN0 + 4, 1)],          # a gap
           [(a, PFN0 + 2, 2), (b, PFN0 + 4, 3)],      # PFN0 + 6 has a Block
           [(a, PFN0 + 3, 2)],                        # past the end of a
           [(a, PFN0, 0)]]
    for pieces in bad:
        with pytest.raises(KernelBug, match=r"^free_split_run: frames 0x1000"):
            mem.free_split_run(pieces)
        assert (_state(mem), a.mask, b.mask) == before
    mem.free_split_run([(a, PFN0 + 2, 2), (b, PFN0 + 4, 2)])
    assert (a.mask, b.mask) == (0b0011, 0b1000)
    mem.check()


def test_check_catches_a_corrupted_split_block() -> None:
    k = Kernel(KernelConfig(ram=16 << 20))
    p = nn(k.vmalloc(64 * PAGE_SIZE))
    mem = k.machine.mem
    [sb] = [sb for lst in mem.split.values() for sb in lst]
    k.check()
    sb.mask ^= 1 << 5                               # a page lost: neither free nor allocated
    with pytest.raises(KernelBug, match=f"^INV-VM-3: area .* page {sb.pfn + 5:#x} is not allocated"):
        k.check()
    with pytest.raises(KernelBug, match="^INV-PG-1: free .* != 4096 frames"):
        mem.check()
    sb.mask ^= 1 << 5
    sb.mask |= 1 << 64                              # a frame outside the block
    with pytest.raises(KernelBug, match="^INV-PG-4: split block 0x.* has frames"):
        k.check()
    sb.mask ^= 1 << 64
    mem.split[sb.pfn >> 10].append(sb)              # listed twice
    with pytest.raises(KernelBug, match="^INV-PG-4: split block 0x.* listed twice"):
        k.check()
    mem.split[sb.pfn >> 10].pop()
    dict.__setitem__(mem.blocks, sb.pfn, Block(sb.pfn, 0, OWNER_VMALLOC, None))
    sb.mask ^= 1 << 1                               # a page both lazy and with a Block
    with pytest.raises(KernelBug, match=f"^INV-PG-3: frames {sb.pfn:#x} belong to vmalloc and "):
        mem.check()
    sb.mask ^= 1 << 1
    dict.__delitem__(mem.blocks, sb.pfn)
    k.check()
    k.vfree(p)
    k.check()


def test_check_catches_a_corrupted_page_array() -> None:
    k = Kernel(KernelConfig(ram=16 << 20))
    p = nn(k.vmalloc(8 * PAGE_SIZE))
    vm = nn(k.machine.vmalloc.find_vm_area(p))
    pages = nn(vm.pages)
    [(s, n, pfn, what)] = list(pages.segments())
    assert (s, n, pfn, type(what)) == (0, 8, nn(k.find_vm_area(p)).pages[0].pfn, SplitBlock)
    pages._segs[0] = (s, n, pfn + 1, what)           # past the end of its split block
    with pytest.raises(KernelBug, match="^INV-VM-3: area .* are not frames of their split"):
        k.check()
    pages._segs[0] = (s, n + 1, pfn, what)
    with pytest.raises(KernelBug, match="^INV-VM-3: area .* leave the 8 slots"):
        k.check()
    pages._segs[0] = (s, n, pfn, what)
    k.check()


def _run(k: Kernel, seed: int, look: bool) -> tuple[object, ...]:
    """A seeded mix of vmalloc, vrealloc and vfree; ``look`` asks for pages' Blocks between."""
    rng, eye = random.Random(seed), random.Random(-seed)
    live: list[int] = []
    for _ in range(40):
        r = rng.random()
        if r < 0.45 or not live:
            p = k.vmalloc(rng.choice([1, 2, 3, 17, 64, 300, 1024, 1500]) * PAGE_SIZE
                          - rng.randrange(100))
            if p is not None:
                live.append(p)
        elif r < 0.75:
            i = rng.randrange(len(live))
            q = k.vrealloc(live[i], rng.randrange(1, 1600 * PAGE_SIZE))
            if q is not None:
                live[i] = q
        else:
            k.vfree(live.pop(rng.randrange(len(live))))
        if look and live:
            area = nn(k.find_vm_area(eye.choice(live)))
            for pg in eye.sample(area.pages, min(3, len(area.pages))):
                assert pg.refcount == 1 and pg.order == 0
        k.check()
    out = (k.vmallocinfo(), k.buddyinfo(), k.meminfo(), k.work(), k.stats(),
           [[pg.pfn for pg in nn(k.find_vm_area(p)).pages] for p in live])
    for p in live:
        k.vfree(p)
    k.check()
    return out + (k.buddyinfo(), k.work())


@pytest.mark.parametrize("seed", range(3))
def test_asking_for_pages_changes_nothing_the_kernel_shows(seed: int) -> None:
    cfg = KernelConfig(ram=32 << 20, init_on_free=bool(seed & 1))
    assert _run(Kernel(cfg), seed, False) == _run(Kernel(cfg), seed, True)


def test_a_page_array_is_indexed_as_a_list_of_blocks() -> None:
    k = Kernel(KernelConfig(ram=16 << 20))
    mem = k.machine.mem
    a = PageArray(mem, 10)
    sb = mem.split_page_lazy(nn(mem.alloc_pages(0xcc0, 2, OWNER_USER)))
    one = nn(mem.alloc_pages(0xcc0, 0, OWNER_USER))
    a.set_run(2, 4, sb.pfn, sb)
    a.set_blocks(7, [one])
    with pytest.raises(KernelBug, match="slots 5..6 of 10 are not empty"):
        a.set_blocks(5, [one])
    assert a.pfns() == [PFN0, PFN0 + 1, PFN0 + 2, PFN0 + 3, one.pfn] and a.nr_filled(3, 8) == 4
    assert a[0] is None and a[-3] is one and a[3] is mem.blocks.get(PFN0 + 1)
    assert sb.mask == 0b1101                              # only slot 3 was made a Block
    assert [b and b.pfn for b in a[1:8]] == [None, PFN0, PFN0 + 1, PFN0 + 2, PFN0 + 3, None,
                                             one.pfn]
    assert [b and b.pfn for b in a] == [None, *[b and b.pfn for b in a[1:8]], None, None]
    a.clear(3, 8)
    assert list(a.segments()) == [(2, 1, PFN0, sb)] and len(a) == 10
    b = PageArray(mem, 4)
    b.put(1, a, 2, 3)
    assert b.pfns() == [PFN0] and b[1] is mem.blocks.get(PFN0)
    with pytest.raises(IndexError):
        b[4]
    b.resize(2)
    with pytest.raises(KernelBug, match="slots from 1 are not empty"):
        b.resize(1)


def test_an_area_is_a_few_runs_and_each_is_freed_in_one_go() -> None:
    k = Kernel(KernelConfig(ram=64 << 20))
    mem = k.machine.mem
    p = nn(k.vmalloc(2049 * PAGE_SIZE, GFP.KERNEL))
    vm = nn(k.machine.vmalloc.find_vm_area(p))
    segs = list(nn(vm.pages).segments())
    assert [(s, n, type(w).__name__) for s, n, _, w in segs] == [
        (0, 1024, "SplitBlock"), (1024, 1024, "SplitBlock"), (2048, 1, "list")]
    assert len(mem.blocks) < 10                      # no Block per page
    freed = mem.nr_pages_freed
    k.vfree(p)
    assert mem.nr_pages_freed - freed >= 2049 and not mem.split
    k.check()


def test_a_reader_makes_a_block_under_the_kernel_lock() -> None:
    # Page.refcount does not take the kernel lock; making a page's Block changes its split
    # block, so that happens under the lock a vfree or a shrink holds
    k = Kernel(KernelConfig(ram=16 << 20))
    mem = k.machine.mem
    assert mem.lock is k.machine.lock
    area = nn(k.find_vm_area(nn(k.vmalloc(4 * PAGE_SIZE))))
    [first] = [sb for lst in mem.split.values() for sb in lst]
    assert first.mask == 0b1111                    # find_vm_area reads frames, makes no Block
    p = nn(k.vmalloc(4 * PAGE_SIZE))
    [sb] = [sb for lst in mem.split.values() for sb in lst if sb is not first]
    pfn = sb.pfn + 2
    assert k.vmalloc_to_page(p + 2 * PAGE_SIZE).refcount == 1 and sb.mask == 0b1011  # type: ignore[union-attr]
    assert dict.get(mem.blocks, pfn) is not None and area.pages[0].refcount == 1
