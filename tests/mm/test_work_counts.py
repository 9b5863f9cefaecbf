"""``Kernel.work()``: the cumulative work counters (docs/cost_model.md#counting-the-work-kernelwork).

Every expected count is derived from what the kernel does for the call (the comments say
how), on a fresh kernel so that no slab is partially filled yet.
"""

from __future__ import annotations

import random
import warnings

import pytest

from kvalloc import GFP, PAGE_SIZE, KasanWarning, Kernel, KernelConfig, WorkCounts

from ..helpers import MIB, nn, quiet

pytestmark = pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")

HUGE = 2 * MIB                          # one PMD leaf


def delta(k: Kernel, before: WorkCounts) -> dict[str, int]:
    """The non-zero fields of the work since ``before``."""
    return {name: n for name, n in (k.work() - before).to_dict().items() if n}


def balanced(k: Kernel) -> None:
    """What the counters must agree with: frames in use, page-table entries, invariants."""
    w, s, pt = k.work(), k.stats(), k.machine.pgtable
    assert w.pages_allocated - w.pages_freed == s.total_pages - s.free_pages
    assert w.ptes_mapped - w.ptes_unmapped == len(pt.pte)
    assert w.pmds_mapped - w.pmds_unmapped == len(pt.pmd)
    assert w.tlb_flushes == s.nr_tlb_flushes
    assert w.tlb_shootdown_cpus == w.tlb_flushes * (k.config.cpus - 1)
    assert w.vmap_area_allocs >= s.vmap_areas
    k.check()


def test_a_fresh_kernel_has_done_no_work() -> None:
    k = Kernel()
    assert k.work() == WorkCounts()
    balanced(k)


def test_vmalloc_one_page_then_vfree_and_purge(k: Kernel) -> None:
    # vmalloc(4096): one order-0 data page (alloc_pages_bulk), pages[] of one pointer from a
    # new kmalloc-8 slab (one order-0 page) zeroed with __GFP_ZERO (8 bytes), one PTE, one
    # vmap area. KASAN changes none of it.
    before = k.work()
    p = nn(k.vmalloc(PAGE_SIZE))
    assert delta(k, before) == {"pages_allocated": 2, "bytes_zeroed": 8, "ptes_mapped": 1,
                                "vmap_area_allocs": 1}
    # vfree: unmapped at once (free_unmap_vmap_area), the data page and the emptied slab
    # page freed; the area is lazy, so nothing is flushed or purged yet.
    mid = k.work()
    k.vfree(p)
    assert delta(k, mid) == {"pages_freed": 2, "ptes_unmapped": 1}
    # vm_unmap_aliases: one purge of the one lazy area, one flush, one other CPU (cpus=2).
    mid = k.work()
    k.vm_unmap_aliases()
    assert delta(k, mid) == {"lazy_areas_purged": 1, "tlb_flushes": 1, "tlb_shootdown_cpus": 1}
    balanced(k)


def test_snapshot_subtraction_is_the_work_between() -> None:
    k = Kernel()
    a = k.work()
    p = nn(k.vmalloc(PAGE_SIZE))
    b = k.work()
    k.vfree(p)
    k.vm_unmap_aliases()
    c = k.work()
    assert (b - a) + (c - b) == c - a
    assert (c - a).to_dict() == {
        "bytes_copied": 0, "bytes_zeroed": 8, "pages_allocated": 2, "pages_freed": 2,
        "ptes_mapped": 1, "ptes_unmapped": 1, "pmds_mapped": 0, "pmds_unmapped": 0,
        "tlb_flushes": 1, "tlb_shootdown_cpus": 1, "lazy_areas_purged": 1,
        "vmap_area_allocs": 1, "resize_calls": 0}
    with pytest.raises(ValueError, match="negative"):
        a - c                                                    # noqa: B018
    assert k.work() == c                                         # reading is not work


@pytest.mark.parametrize("cpus, others", [(1, 0), (2, 1), (4, 3), (64, 63)])
def test_each_flush_interrupts_every_other_cpu(cpus: int, others: int) -> None:
    k = Kernel(KernelConfig(cpus=cpus))
    for _ in range(3):
        k.vfree(k.vmalloc(PAGE_SIZE))
        k.vm_unmap_aliases()
    w = k.work()
    assert w.tlb_flushes == 3
    assert w.tlb_shootdown_cpus == 3 * others == w.tlb_flushes * (cpus - 1)
    balanced(k)


def test_vrealloc_move_copies_what_the_stats_report() -> None:
    k = Kernel(KernelConfig(vrealloc="latest"))
    p = nn(k.vmalloc(PAGE_SIZE))
    k.write(p, b"\xab" * PAGE_SIZE)
    before = k.work()
    q = nn(k.vrealloc(p, 3 * PAGE_SIZE))       # one page mapped: the grow must move
    assert q != p
    assert k.work().bytes_copied - before.bytes_copied == k.stats().vrealloc_bytes_copied
    # The new area: 3 data pages, pages[] of 3 pointers from a new kmalloc-32 slab page
    # (32 bytes zeroed), 3 PTEs, 1 area; the old copied (4096 bytes) and vfree'd: its page
    # and its emptied kmalloc-8 slab page freed, its PTE unmapped.
    assert delta(k, before) == {"bytes_copied": PAGE_SIZE, "bytes_zeroed": 32,
                                "pages_allocated": 4, "pages_freed": 2, "ptes_mapped": 3,
                                "ptes_unmapped": 1, "vmap_area_allocs": 1, "resize_calls": 1}
    # latest shrinks in place and frees the pages past the new size: 2 pages, 2 PTEs and
    # the flush of their range.
    mid = k.work()
    assert k.vrealloc(q, PAGE_SIZE) == q
    assert delta(k, mid) == {"pages_freed": 2, "ptes_unmapped": 2, "tlb_flushes": 1,
                             "tlb_shootdown_cpus": 1, "resize_calls": 1}
    assert k.read(q, 4) == b"\xab" * 4
    balanced(k)


def test_vrealloc_shrink_zeroes_the_tail_under_init_on_alloc() -> None:
    k = Kernel(KernelConfig(vrealloc="latest", init_on_alloc=True))
    p = nn(k.vmalloc(6000))
    before = k.work()
    assert k.vrealloc(p, 5000) == p            # same two pages: memset(p + 5000, 0, 1000)
    assert delta(k, before) == {"bytes_zeroed": 1000, "resize_calls": 1}
    balanced(k)


def test_huge_vmalloc_maps_one_pmd() -> None:
    k = Kernel(KernelConfig(huge_vmalloc=True))
    before = k.work()
    p = nn(k.vmalloc_huge(HUGE))
    assert nn(k.find_vm_area(p)).page_order == 9
    # One order-9 block (512 pages) mapped by one PMD leaf, no PTE; pages[] of 512 pointers
    # is 4096 bytes: a kmalloc-4k object (zeroed) on a new order-3 slab (8 pages).
    assert delta(k, before) == {"pages_allocated": 512 + 8, "bytes_zeroed": PAGE_SIZE,
                                "pmds_mapped": 1, "vmap_area_allocs": 1}
    mid = k.work()
    k.vfree(p)
    k.vm_unmap_aliases()
    assert delta(k, mid) == {"pages_freed": 520, "pmds_unmapped": 1, "tlb_flushes": 1,
                             "tlb_shootdown_cpus": 1, "lazy_areas_purged": 1}
    balanced(k)


def test_without_huge_vmalloc_the_same_request_maps_ptes() -> None:
    k = Kernel(KernelConfig(huge_vmalloc=False))
    before = k.work()
    nn(k.vmalloc_huge(HUGE))
    w = k.work() - before
    assert (w.pmds_mapped, w.ptes_mapped) == (0, 512)
    balanced(k)


def test_gfp_zero_counts_the_pages_cleared() -> None:
    # vmalloc with __GFP_ZERO: the data page cleared (4096) and pages[] (8).
    k = Kernel()
    before = k.work()
    nn(k.vmalloc(PAGE_SIZE, GFP.KERNEL | GFP.ZERO))
    assert delta(k, before)["bytes_zeroed"] == PAGE_SIZE + 8
    before = k.work()
    nn(k.vzalloc(PAGE_SIZE))                   # pages[] now fits the existing kmalloc-8 slab
    assert delta(k, before) == {"bytes_zeroed": PAGE_SIZE + 8, "pages_allocated": 1,
                                "ptes_mapped": 1, "vmap_area_allocs": 1}
    # alloc_pages(order 1, __GFP_ZERO): both pages cleared, even though the simulation
    # has nothing to clear in frames never written.
    before = k.work()
    nn(k.alloc_pages(1, GFP.KERNEL | GFP.ZERO))
    assert delta(k, before) == {"bytes_zeroed": 2 * PAGE_SIZE, "pages_allocated": 2}
    # kzalloc(100): the kmalloc-128 object (128 bytes); its slab page is not cleared.
    before = k.work()
    nn(k.kzalloc(100))
    assert delta(k, before) == {"bytes_zeroed": 128, "pages_allocated": 1}
    balanced(k)


def test_init_on_alloc_and_init_on_free_zeroing() -> None:
    # init_on_alloc: the data page and the new slab page cleared, and the pages[] object.
    k = Kernel(KernelConfig(init_on_alloc=True))
    before = k.work()
    nn(k.vmalloc(PAGE_SIZE))
    assert delta(k, before)["bytes_zeroed"] == 2 * PAGE_SIZE + 8
    # init_on_free: nothing cleared at allocation but pages[] (__GFP_ZERO); at vfree the
    # pages[] object (kfree) and both pages (__free_pages) are cleared.
    k = Kernel(KernelConfig(init_on_free=True))
    before = k.work()
    p = nn(k.vmalloc(PAGE_SIZE))
    assert delta(k, before)["bytes_zeroed"] == 8
    mid = k.work()
    k.vfree(p)
    assert delta(k, mid) == {"bytes_zeroed": 8 + 2 * PAGE_SIZE, "pages_freed": 2,
                             "ptes_unmapped": 1}
    balanced(k)


def test_memset_and_memcpy_through_the_kernel() -> None:
    k = Kernel()
    p = nn(k.vmalloc(2 * PAGE_SIZE))
    before = k.work()
    k.memset(p, 0, 100)
    k.memset(p, 0x5A, 100)                     # not zeroing: not counted
    k.memcpy(p + PAGE_SIZE, p, 300)
    assert delta(k, before) == {"bytes_zeroed": 100, "bytes_copied": 300}
    balanced(k)


def test_a_copy_kasan_reports_is_skipped_and_not_counted() -> None:
    k = Kernel(KernelConfig(kasan="generic"))
    p, q = nn(k.vmalloc(100)), nn(k.vmalloc(PAGE_SIZE))
    before = k.work()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KasanWarning)
        k.memcpy(q, p, 200)                    # reads past the 100 bytes: reported, skipped
    assert len(k.kasan_reports) == 1
    assert k.work() == before


def test_krealloc_copies_ksize_and_zeroes_the_tail() -> None:
    k = Kernel()
    p = nn(k.kmalloc(100))                     # kmalloc-128
    before = k.work()
    nn(k.krealloc(p, 200))                     # moves to kmalloc-256: copies ksize = 128
    assert delta(k, before) == {"bytes_copied": 128, "pages_allocated": 1, "pages_freed": 1,
                                "resize_calls": 1}
    k = Kernel(KernelConfig(init_on_alloc=True))
    p = nn(k.kmalloc(100))
    before = k.work()
    assert k.krealloc(p, 50) == p              # in place: memset(p + 50, 0, 128 - 50)
    assert delta(k, before) == {"bytes_zeroed": 78, "resize_calls": 1}
    balanced(k)


def test_kvrealloc_from_kmalloc_to_vmalloc_copies_ksize() -> None:
    k = Kernel()
    p = nn(k.kvmalloc(100))                    # kmalloc-128
    before = k.work()
    q = nn(k.kvrealloc(p, 8 * MIB))            # above KMALLOC_MAX_SIZE: a vmalloc area
    assert k.is_vmalloc_addr(q)
    # kvmalloc's vmalloc, huge allowed: 2048 pages in 4 PMD leaves. Their pages[] is 16 KiB,
    # more than a page, so it is vmalloc'd itself with __GFP_ZERO: a second area, 4 pages
    # cleared and mapped by PTEs, whose own pages[] of 4 pointers is a zeroed kmalloc-32
    # object on a new slab page. The copy is ksize(p) = 128 bytes (memcpy_nocheck), and
    # the kfree empties the kmalloc-128 slab.
    assert delta(k, before) == {"bytes_copied": 128, "bytes_zeroed": 4 * PAGE_SIZE + 32,
                                "pages_allocated": 2048 + 4 + 1, "pages_freed": 1,
                                "pmds_mapped": 4, "ptes_mapped": 4, "vmap_area_allocs": 2,
                                "resize_calls": 1}
    balanced(k)


def test_vmap_and_vm_map_ram_map_ptes() -> None:
    k = Kernel()
    pages = k.alloc_pages_bulk(4)
    assert k.work().pages_allocated == 4       # bulk goes through alloc_pages: counted once
    before = k.work()
    v = nn(k.vmap(pages))
    assert delta(k, before) == {"ptes_mapped": 4, "vmap_area_allocs": 1}
    mid = k.work()
    k.vunmap(v)
    assert delta(k, mid) == {"ptes_unmapped": 4}
    mid = k.work()
    a = nn(k.vm_map_ram(pages, 4))             # a new vmap block: its area and its struct's slab page
    assert delta(k, mid) == {"ptes_mapped": 4, "vmap_area_allocs": 1, "pages_allocated": 1}
    mid = k.work()
    k.vm_unmap_ram(a, 4)
    # vb_free unmaps at once. vm_unmap_aliases frees the wholly dirty block, whose area is
    # then purged lazily; one flush covers the purge and the dirty range.
    k.vm_unmap_aliases()
    assert delta(k, mid) == {"ptes_unmapped": 4, "tlb_flushes": 1, "tlb_shootdown_cpus": 1,
                             "lazy_areas_purged": 1}
    mid = k.work()
    for page in pages:
        k.free_pages(page, 0)
    assert delta(k, mid) == {"pages_freed": 4}
    balanced(k)


def test_a_failed_memcg_charge_allocates_and_frees() -> None:
    # __alloc_pages(): the block is taken, the charge fails, __free_pages() gives it back.
    k = Kernel()
    cg = k.memcg.create("tiny", max=PAGE_SIZE)
    before = k.work()
    with k.memcg.charge_to(cg), quiet():
        assert k.alloc_pages(1, GFP.KERNEL_ACCOUNT) is None
    assert delta(k, before) == {"pages_allocated": 2, "pages_freed": 2}
    balanced(k)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_counter_is_monotone_over_a_random_workload(seed: int) -> None:
    rng = random.Random(seed)
    k = Kernel(KernelConfig(vrealloc="latest", cpus=4, init_on_alloc=seed == 2,
                            init_on_free=seed == 3, seed=seed))
    vm: list[tuple[int, int]] = []             # (address, size)
    km: list[int] = []
    last = k.work()
    for step in range(400):
        op = rng.randrange(10)
        if op <= 2 or not vm:
            size = rng.choice([1, 100, PAGE_SIZE, 5000, 3 * PAGE_SIZE, 40 * PAGE_SIZE])
            gfp = GFP.KERNEL | GFP.ZERO if rng.random() < 0.3 else GFP.KERNEL
            vm.append((nn(k.vmalloc(size, gfp)), size))
        elif op == 3:
            k.vfree(vm.pop(rng.randrange(len(vm)))[0])
        elif op == 4:
            i = rng.randrange(len(vm))
            size = rng.choice([1, 3000, PAGE_SIZE, 7 * PAGE_SIZE, 20 * PAGE_SIZE])
            vm[i] = (nn(k.vrealloc(vm[i][0], size)), size)
        elif op == 5:
            km.append(nn(k.kmalloc(rng.choice([8, 100, 700, 3000, 20000]))))
        elif op == 6 and km:
            i = rng.randrange(len(km))
            km[i] = nn(k.krealloc(km[i], rng.choice([16, 500, 5000])))
        elif op == 7 and km:
            k.kfree(km.pop(rng.randrange(len(km))))
        elif op == 8:
            p, size = vm[rng.randrange(len(vm))]
            n = rng.randrange(1, size + 1)
            k.memset(p, rng.choice([0, 0x33]), n)
            q, qsize = vm[rng.randrange(len(vm))]
            if q != p:
                k.memcpy(q, p, min(n, qsize))
        else:
            k.vm_unmap_aliases()
        now = k.work()
        grew = now - last                      # ValueError if any counter fell
        assert all(n >= 0 for n in grew.to_dict().values())
        last = now
        if step % 50 == 0:
            balanced(k)
    for p, _ in vm:
        k.vfree(p)
    for p in km:
        k.kfree(p)
    k.run_workqueues()
    k.vm_unmap_aliases()
    k.vmap_node_shrink()
    balanced(k)
    w = k.work()
    assert w.pages_allocated == w.pages_freed > 0
    assert w.ptes_mapped == w.ptes_unmapped > 0
    assert w.tlb_shootdown_cpus == 3 * w.tlb_flushes > 0
    assert w.bytes_copied > 0 and w.bytes_zeroed > 0 and w.lazy_areas_purged > 0
