"""vmap nodes (mm/vmalloc.c since v6.9): ``node_alloc()``, ``node_pool_add_va()``,
``node_pool_del_va()``, ``purge_vmap_node()``, ``decay_va_pool_node()`` and the vmap-node
shrinker (``vmap_node_shrink_scan()``)."""

from __future__ import annotations

import pytest

from kvalloc import GFP, VMALLOC_END, VMALLOC_START, Kernel, KernelBug, KernelConfig
from kvalloc.mm.vmalloc_types import VmapArea
from kvalloc.tools.workloads import fragment

PAGE = 4096


def test_reproducer_from_the_issue() -> None:
    """purge_vmap_node(): with two CPUs the purged 2-page area (one page and its guard)
    goes to node 0's pool of 2-page areas, so an 8 KiB request (3 pages with the guard)
    lands after it; with one CPU (one node) it merges and the request reuses the range."""
    k = Kernel(KernelConfig(cpus=2))
    p = k.vmalloc(4096)
    k.vfree(p)
    k.vm_unmap_aliases()
    q = k.vmalloc(8192)
    assert p is not None and q is not None and q - p == 8192
    assert k.stats().vmap_pooled == 1
    k.check()
    one = Kernel(KernelConfig(cpus=1))
    p1 = one.vmalloc(4096)
    one.vfree(p1)
    one.vm_unmap_aliases()
    assert one.vmalloc(8192) == p1 and one.stats().vmap_pooled == 0


def test_exact_size_request_takes_the_most_recently_pooled_area() -> None:
    """node_alloc() -> node_pool_del_va(): the pool's head (the last area added by
    node_pool_add_va(), list_add) is reused for a request of exactly its size."""
    k = Kernel(KernelConfig(cpus=4))
    ps = [k.vmalloc(PAGE) for _ in range(4)]
    for p in ps:
        k.vfree(p)
    k.vm_unmap_aliases()
    assert k.stats().vmap_pooled == 4
    got = [k.vmalloc(PAGE) for _ in range(4)]
    assert got == ps[::-1]                   # purged in address order, reused last-in first
    assert k.stats().vmap_pooled == 0
    k.check()


def test_an_unaligned_head_goes_to_the_tail() -> None:
    """node_pool_del_va(): a head not aligned for the request is moved to the tail
    (list_move_tail) and the request falls back to the global free tree."""
    k = Kernel(KernelConfig(cpus=2))
    a = k.vmalloc(PAGE)                     # at VMALLOC_START: 16 KiB aligned
    b = k.vmalloc(PAGE)                     # at VMALLOC_START + 8 KiB: not 16 KiB aligned
    assert a is not None and b is not None and b - a == 2 * PAGE
    k.vfree(a)
    k.vfree(b)
    k.vm_unmap_aliases()                    # pool head: b (added last)
    c = k.vmalloc(PAGE, GFP.KERNEL, align=4 * PAGE)
    assert c is not None and c not in (a, b) and c % (4 * PAGE) == 0
    pool = [va.va_start for _, va in k.machine.kva.pooled()]
    assert pool == [b, a]                   # b moved to the tail, a is the head now
    assert k.vmalloc(PAGE) == a
    k.check()


def test_pools_decay_by_a_quarter_on_every_purge() -> None:
    """decay_va_pool_node(vn, false): each purge first returns len >> 2 areas of every pool,
    from its head, to the free tree; vm_unmap_aliases() purges without full decay."""
    k = Kernel(KernelConfig(cpus=2))
    ps = [k.vmalloc(PAGE) for _ in range(16)]
    for p in ps[::2]:
        k.vfree(p)
    k.vm_unmap_aliases()
    assert k.stats().vmap_pooled == 8
    k.vfree(ps[1])                           # something to purge
    k.vm_unmap_aliases()
    assert k.stats().vmap_pooled == 8 - 2 + 1  # 8 >> 2 decayed, then one more pooled
    k.check()


def test_only_the_vmalloc_range_and_small_areas_are_pooled() -> None:
    """node_alloc(): no node for a range other than [VMALLOC_START, VMALLOC_END);
    size_to_va_pool(): no pool above MAX_VA_SIZE_PAGES (256) pages."""
    k = Kernel(KernelConfig(cpus=2))
    r = k.vmalloc_node_range(PAGE, PAGE, VMALLOC_START + (1 << 30), VMALLOC_END, GFP.KERNEL,
                             0, 0)
    big = k.vmalloc(256 * PAGE)             # 257 pages with the guard
    ok = k.vmalloc(255 * PAGE)              # 256 pages with the guard
    for p in (r, big, ok):
        k.vfree(p)
    k.vm_unmap_aliases()
    assert [(va.va_end - va.va_start) // PAGE for _, va in k.machine.kva.pooled()] == [256]
    k.check()


def test_out_of_space_purge_decays_every_pool() -> None:
    """alloc_vmap_area() overflow -> reclaim_and_purge_vmap_areas():
    __purge_vmap_area_lazy(..., full_pool_decay=true) returns every pool to the free tree
    and pools nothing, so a request that only fits in the pooled space succeeds."""
    k = Kernel(KernelConfig(cpus=2))
    lo, hi = VMALLOC_START, VMALLOC_START + 8 * PAGE
    ps = [k.vmalloc_node_range(PAGE, PAGE, lo, hi, GFP.KERNEL, 0, 0) for _ in range(4)]
    assert all(ps)
    # the small range is not the vmalloc range: give the areas a node by hand, as if
    # node_alloc() had made them, so that their purge pools them
    for va in list(k.machine.kva.busy):
        va.flags |= 1 << 8
    for p in ps:
        k.vfree(p)
    k.vm_unmap_aliases()
    assert k.stats().vmap_pooled == 4
    p = k.vmalloc_node_range(3 * PAGE, PAGE, lo, hi, GFP.KERNEL, 0, 0)
    assert p == lo and k.stats().vmap_pooled == 0
    k.check()


def test_the_shrinker_empties_the_pools() -> None:
    k = Kernel(KernelConfig(cpus=8))
    for p in [k.vmalloc(PAGE * (i + 1)) for i in range(10)]:
        k.vfree(p)
    k.vm_unmap_aliases()
    assert k.stats().vmap_pooled == 10 and k.vmap_node_shrink() == 10
    assert list(k.machine.kva.free) == [(1, 2**64 - 1)]
    k.check()


@pytest.mark.parametrize("kasan", ["generic", "sw_tags"])
def test_a_reused_pooled_area_is_kasan_clean(kasan: str) -> None:
    k = Kernel(KernelConfig(cpus=2, kasan=kasan))   # type: ignore[arg-type]
    p = k.vmalloc(3 * PAGE)
    assert p is not None
    k.vfree(p)
    k.vm_unmap_aliases()
    q = k.vmalloc(3 * PAGE)
    assert q is not None
    untag = (1 << 56) - 1                           # sw_tags: a new tag, the same address
    assert q & untag == p & untag
    k.write(q, b"x" * 3 * PAGE)
    assert k.read(q + 3 * PAGE - 1, 1) == b"x" and k.kasan_reports == []
    k.check()


def test_check_finds_a_pooled_area_that_is_also_free() -> None:
    k = Kernel(KernelConfig(cpus=2))
    k.vfree(k.vmalloc(PAGE))
    k.vm_unmap_aliases()
    kva = k.machine.kva
    va = kva.pooled()[0][1]
    kva.pools[0][1].append(VmapArea(va.va_start, va.va_end, None, 1 << 8))
    kva.nr_pooled += 1
    with pytest.raises(KernelBug, match="INV-KVA-1"):
        k.check()


def test_vmallocinfo_lists_node_by_node() -> None:
    """vmalloc_info_show(): for_each_vmap_node, the node's busy list in address order; a
    busy area's node is addr_to_node_id(va_start) = (va_start / (16 * PAGE_SIZE)) % nodes.
    show_purge_info() then lists each node's lazy areas the same way."""
    k = Kernel(KernelConfig(cpus=2))
    fragment(k)                                     # 32 one-page areas, every other one
    starts = [int(line.split("-")[0], 16) for line in k.vmallocinfo().splitlines()]
    zone = 16 * PAGE
    nodes = [(a - VMALLOC_START) // zone % 2 for a in starts]
    assert nodes == sorted(nodes) and nodes.count(0) == nodes.count(1) == 16
    assert starts[:4] == [VMALLOC_START + 0x2000 + 0x4000 * i for i in range(4)]
    assert starts[16] == VMALLOC_START + 0x12000    # node 1's first area
    one = Kernel(KernelConfig(cpus=1))
    fragment(one)
    assert [int(line.split("-")[0], 16) for line in one.vmallocinfo().splitlines()] == \
        sorted(starts)
