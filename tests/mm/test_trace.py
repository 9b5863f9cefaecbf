"""Tracepoints (kvalloc.mm.trace): alloc_vmap_area, free_vmap_area_noflush, purge_vmap_area_lazy."""

from __future__ import annotations

import pytest

from kvalloc import GFP, VM, VMALLOC_END, VMALLOC_START, Kernel, KernelConfig

from ..helpers import (
    PFN0,
    TOTAL_4G,
    VS,
    buddy_line,
    ck,
    dm,
    kernel_warnings,
    meminfo_lines,
    nn,
    vinfo,
    warn_alloc,
)

pytestmark = pytest.mark.spec


# -- helpers ---------------------------------------------------------------------------------------


ENOENT = 2**64 - 2  # 6.6 step 3: -ENOENT as unsigned
ERANGE = 2**64 - 34  # -ERANGE as unsigned
ULONG_MAX = 2**64 - 1
Event = tuple[str, dict[str, int | str]]


def events(k: Kernel) -> list[Event]:
    return [(e.name, dict(e.fields)) for e in k.trace.events]


def ava(addr: int, size: int, align: int, vstart: int = VS, vend: int = VMALLOC_END,
        failed: int = 0) -> Event:
    return ("alloc_vmap_area", {"addr": addr, "size": size, "align": align, "vstart": vstart,
                                "vend": vend, "failed": failed})


def fva(va_start: int, nr_lazy: int, nr_lazy_max: int = 16384) -> Event:
    return ("free_vmap_area_noflush",
            {"va_start": va_start, "nr_lazy": nr_lazy, "nr_lazy_max": nr_lazy_max})


def pva(start: int, end: int, npurged: int) -> Event:
    return ("purge_vmap_area_lazy", {"start": start, "end": end, "npurged": npurged})


ALL_TRACE = ("alloc_vmap_area", "free_vmap_area_noflush", "purge_vmap_area_lazy")


def test_worked_example_8_8_views_and_trace() -> None:
    k = Kernel()
    k.trace.enable(*ALL_TRACE)
    p = nn(ck(k, k.vmalloc(5001)))
    assert p == VS
    # 8.8 / 14.1
    assert vinfo(k) == ["0xffffc90000000000-0xffffc90000003000   12288 vmalloc pages=2 vmalloc N0=2"]
    # 14.2: slab frame + 2 pages used; VmallocUsed counts the 2 vmalloc pages only
    assert k.meminfo().splitlines() == meminfo_lines(4194304, 4194304 - 12, 8)
    # 4.2: frame 0x100000 split the first block; order-1 0x100002 taken
    assert k.buddyinfo().splitlines() == [buddy_line([1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1023])]
    s = k.stats()
    assert (s.free_pages, s.nr_vmalloc_pages, s.vmap_areas, s.free_vmap_areas) == (
        TOTAL_4G - 3, 2, 1, 2)
    assert (s.slab_pages, s.vmap_lazy_nr, s.warnings) == (1, 0, 0)
    # 6.6 step 3 (15: addr printed in decimal, but the field is the integer)
    assert events(k) == [ava(VS, 12288, 1)]
    k.trace.clear()
    assert k.trace.events == []
    k.vfree(p)
    k.check()
    assert vinfo(k) == ["0xffffc90000000000-0xffffc90000003000   12288 unpurged vm_area"]
    assert k.meminfo().splitlines() == meminfo_lines(4194304, 4194304, 0)
    assert k.buddyinfo().splitlines() == [buddy_line([0] * 10 + [1024])]
    s = k.stats()
    assert (s.vmap_areas, s.vmap_lazy_nr, s.nr_vmalloc_pages, s.slab_pages) == (0, 3, 0, 0)
    assert events(k) == [fva(VS, 3)]  # 6.8 step 3
    k.vm_unmap_aliases()
    k.check()
    assert vinfo(k) == []
    assert events(k) == [fva(VS, 3), pva(VS, VS + 0x3000, 1)]  # widened to the lazy VA
    s = k.stats()
    # two CPUs, two vmap nodes: the purged 3-page area waits in node 0's pool, between free blocks
    assert (s.nr_purges, s.nr_tlb_flushes, s.vmap_lazy_nr, s.free_vmap_areas, s.vmap_pooled) == (
        1, 1, 0, 2, 1)


def test_vm_unmap_aliases_with_nothing_lazy() -> None:
    k = Kernel()
    k.trace.enable(*ALL_TRACE)
    k.vm_unmap_aliases()
    k.check()
    # 6.8 step 3: fires with ULONG_MAX, 0, 0; no flush, no purge counted
    assert events(k) == [pva(ULONG_MAX, 0, 0)]
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes) == (0, 0)


# -- tracepoints -----------------------------------------------------------------------------------


def test_trace_lazy_threshold_purge() -> None:
    # one CPU: one vmap node, so purged areas merge (tests/mm/test_vmap_nodes.py: pools)
    k = Kernel(KernelConfig(lazy_max_pages=8, cpus=1))
    k.trace.enable("free_vmap_area_noflush", "purge_vmap_area_lazy")
    ps = [nn(ck(k, k.vmalloc(4096))) for _ in range(5)]
    assert k.trace.events == []  # alloc_vmap_area is not enabled
    for p in ps:
        k.vfree(p)
        k.check()
    # 6.8: free fires after insertion, before the threshold check; 10 > 8 schedules
    # drain_vmap_work (mm/vmalloc.c: free_vmap_area_noflush()), which has not run yet
    assert k.stats().pending_work == 1
    k.run_workqueues()
    k.check()
    # drain_vmap_area_work() purges (ULONG_MAX, 0 widened to the lazy range)
    assert events(k) == [
        fva(VS, 2, 8), fva(VS + 0x2000, 4, 8), fva(VS + 0x4000, 6, 8), fva(VS + 0x6000, 8, 8),
        fva(VS + 0x8000, 10, 8), pva(VS, VS + 0xA000, 5),
    ]
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes, s.vmap_lazy_nr, s.free_vmap_areas) == (1, 1, 0, 1)


def test_trace_allocation_failure_purge_and_retry() -> None:
    k = Kernel()
    end = VS + 0x4000
    k.trace.enable(*ALL_TRACE)
    p = nn(ck(k, k.vmalloc_node_range(8192, 1, VS, end, GFP.KERNEL, VM(0))))
    k.vfree(p)
    k.check()
    q = nn(ck(k, k.vmalloc_node_range(8192, 1, VS, end, GFP.KERNEL, VM(0))))
    assert p == q == VS
    n = len(k.dmesg)
    with kernel_warnings(1):
        assert k.vmalloc_node_range(8192, 1, VS, end, GFP.KERNEL, VM(0)) is None
    k.check()
    # 6.6: search, purge, search again (15: twice when a purge retry happens)
    assert events(k) == [
        ava(VS, 0x3000, 1, VS, end),
        fva(VS, 3),
        ava(ERANGE, 0x3000, 1, VS, end, failed=1),
        pva(VS, VS + 0x3000, 1),
        ava(VS, 0x3000, 1, VS, end),
        ava(ERANGE, 0x3000, 1, VS, end, failed=1),
        pva(ULONG_MAX, 0, 0),
        ava(ERANGE, 0x3000, 1, VS, end, failed=1),
    ]
    assert k.dmesg[n:] == [
        "vmalloc_node_range for size 12288 failed: Address range restricted to "
        "0xffffc90000000000 - 0xffffc90000004000",
        warn_alloc("vmalloc error: size 8192, vm_struct allocation failed", 0xCC0, "GFP_KERNEL"),
    ]
    k.trace.clear()
    # non-blocking: one search, no purge (6.6 step 4)
    with kernel_warnings(0):
        assert k.vmalloc_node_range(8192, 1, VS, end, GFP.NOWAIT, VM(0)) is None
    k.check()
    assert events(k) == [ava(ERANGE, 0x3000, 1, VS, end, failed=1)]


def test_trace_enoent_and_nowarn() -> None:
    k = Kernel()
    k.trace.enable(*ALL_TRACE)
    n = len(k.dmesg)
    with kernel_warnings(0):
        assert k.vmalloc(4096, GFP.KERNEL | GFP.NOWARN, align=1 << 46) is None
    k.check()
    assert k.dmesg[n:] == []  # 8.7: __GFP_NOWARN suppresses the pr_warn and warn_alloc
    assert events(k) == [
        ava(ENOENT, 8192, 1 << 46, failed=1),
        pva(ULONG_MAX, 0, 0),
        ava(ENOENT, 8192, 1 << 46, failed=1),
    ]
    assert k.stats().warnings == 0


def test_trace_nested_page_array() -> None:
    k = Kernel()
    k.trace.enable(*ALL_TRACE)
    p = nn(ck(k, k.vmalloc(513 * 4096)))
    assert events(k) == [ava(VS, 514 * 4096, 1), ava(VS + 514 * 4096, 0x3000, 1)]
    k.trace.clear()
    k.vfree(p)
    k.check()
    # 9.1: the parent's VA is freed first, then the page array's (kvfree -> vfree)
    assert events(k) == [fva(VS, 514), fva(VS + 514 * 4096, 517)]


def test_trace_vmap_and_vm_map_ram() -> None:
    k = Kernel()
    k.trace.enable(*ALL_TRACE)
    pages = ck(k, k.alloc_pages_bulk(65))
    v = nn(ck(k, k.vmap(pages[:2])))
    r = nn(ck(k, k.vm_map_ram(pages, 65)))
    # 9.4: guard page, align 1; 9.5: no guard, align PAGE_SIZE (mm/vmalloc.c: vm_map_ram()
    # with more than VMAP_MAX_ALLOC pages)
    assert events(k) == [ava(VS, 0x3000, 1), ava(VS + 0x3000, 65 * 4096, 4096)]
    k.trace.clear()
    k.vm_unmap_ram(r, 65)
    k.check()
    k.vunmap(v)
    k.check()
    assert events(k) == [fva(VS + 0x3000, 65), fva(VS, 68)]


def test_trace_vmap_block() -> None:
    # mm/vmalloc.c: new_vmap_block() reserves VMAP_BLOCK_SIZE aligned to itself; vb_alloc()
    # from the same block reserves nothing; free_vmap_block() frees the whole block lazily
    k = Kernel()
    k.trace.enable(*ALL_TRACE)
    pages = ck(k, k.alloc_pages_bulk(64))
    r = [nn(ck(k, k.vm_map_ram(pages[:64], 64))) for _ in range(16)]
    assert events(k) == [ava(VS, 4 << 20, 4 << 20)]
    k.trace.clear()
    for a in r:
        k.vm_unmap_ram(a, 64)
        k.check()
    assert events(k) == [fva(VS, 1024)]


def test_trace_flush_reset_perms_purge_range() -> None:
    k = Kernel()
    k.trace.enable(*ALL_TRACE)
    p = nn(ck(k, k.vmalloc_node_range(8192, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL,
                                      VM.FLUSH_RESET_PERMS)))
    k.trace.clear()
    k.vfree(p)
    k.check()
    # 9.6: purge over the direct map of frames 0x100002-0x100003, widened by the lazy VA
    assert events(k) == [fva(VS, 3), pva(dm(PFN0 + 2), VS + 0x3000, 1)]
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes) == (1, 1)


def test_trace_flush_reset_perms_after_threshold_purge() -> None:
    k = Kernel(KernelConfig(lazy_max_pages=1))
    k.trace.enable(*ALL_TRACE)
    p = nn(ck(k, k.vmalloc_node_range(8192, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL,
                                      VM.FLUSH_RESET_PERMS)))
    k.trace.clear()
    k.vfree(p)
    k.run_workqueues()
    k.check()
    # 6.8: the threshold only schedules drain_vmap_work; 9.6 (vm_reset_perms) purges the area
    # itself over the direct-map range widened to it; the drain then finds nothing
    assert events(k) == [
        fva(VS, 3, 1),
        pva(dm(PFN0 + 2), VS + 0x3000, 1),
        pva(ULONG_MAX, 0, 0),
    ]
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes) == (1, 1)


def test_trace_enable_disable_clear() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(4096)))
    assert k.trace.events == []  # 15: recorded only when enabled
    k.trace.enable("free_vmap_area_noflush")
    q = nn(ck(k, k.vmalloc(4096)))
    k.vfree(p)
    k.check()
    assert events(k) == [fva(VS, 2)]
    k.trace.disable("free_vmap_area_noflush")
    k.vfree(q)
    k.check()
    assert events(k) == [fva(VS, 2)]
    k.trace.clear()
    assert k.trace.events == []
    assert [e.name for e in k.trace.events] == []
    assert q == VS + 0x2000
