"""Spec-driven tests of the kvalloc views: /proc files, stats, tracepoints, dmesg texts.

KERNEL.md sections 0.5, 2.4, 6.6-6.8, 8.8, 9.6, 14, 15, 17; API.md 4.3 and 4.5.
Notation: VS = VMALLOC_START, dm(pfn) = the direct-map address of a frame (KERNEL.md 4.1).
"""

from __future__ import annotations

import time
from typing import TypeVar

import pytest

from kvalloc import (
    GFP,
    PAGE_SIZE,
    VM,
    VMALLOC_END,
    VMALLOC_START,
    Kernel,
    KernelConfig,
)

from .helpers import ck, dm, kernel_warnings, nn

T = TypeVar("T")

VS = VMALLOC_START
PAGE_OFFSET = 0xFFFF888000000000  # KERNEL.md 1.1
PFN0 = 0x100000  # KERNEL.md 1.2
TOTAL_4G = (4 << 30) // PAGE_SIZE
MIB = 1 << 20
ENOENT = 2**64 - 2  # 6.6 step 3: -ENOENT as unsigned
ERANGE = 2**64 - 34  # -ERANGE as unsigned
ULONG_MAX = 2**64 - 1
CUT = "------------[ cut here ]------------"

Event = tuple[str, dict[str, int | str]]





def warn_alloc(msg: str, gfp: int, names: str) -> str:
    """KERNEL.md 0.5 warn_alloc line."""
    return f"kvalloc: {msg}, mode:{gfp:#x}({names}), nodemask=(null),cpuset=/,mems_allowed=0"


def buddy_line(counts: list[int]) -> str:
    """KERNEL.md 14.3."""
    assert len(counts) == 11
    return "Node 0, zone   Normal " + "".join(f"{c:6d} " for c in counts)


def meminfo_lines(total_kb: int, free_kb: int, used_kb: int) -> list[str]:
    """KERNEL.md 14.2: 16-character label, value in 8 columns, then ` kB`."""
    return [
        f"{'MemTotal:':<16}{total_kb:>8} kB",
        f"{'MemFree:':<16}{free_kb:>8} kB",
        "VmallocTotal:   34359738367 kB",
        f"{'VmallocUsed:':<16}{used_kb:>8} kB",
        "VmallocChunk:          0 kB",
    ]


def info_line(start: int, end: int, rest: str) -> str:
    """KERNEL.md 14.1: `0x%pK-0x%pK %7ld` then the items."""
    return f"0x{start:016x}-0x{end:016x} {end - start:7d}{rest}"


def vinfo(k: Kernel) -> list[str]:
    return k.vmallocinfo().splitlines()


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



# --------------------------------------------------------------------------- fresh machine


def test_fresh_kernel_views() -> None:
    k = Kernel()
    k.check()
    # 14.2: with the default 4 GiB
    assert k.meminfo().splitlines() == [
        "MemTotal:        4194304 kB",
        "MemFree:         4194304 kB",
        "VmallocTotal:   34359738367 kB",
        "VmallocUsed:           0 kB",
        "VmallocChunk:          0 kB",
    ]
    # 14.3: trailing space kept
    assert k.buddyinfo().splitlines() == [
        "Node 0, zone   Normal      0      0      0      0      0      0      0      0      0"
        "      0   1024 "
    ]
    assert k.vmallocinfo().splitlines() == []
    s = k.stats()
    assert (s.total_pages, s.free_pages, s.nr_vmalloc_pages) == (TOTAL_4G, TOTAL_4G, 0)
    assert (s.vmap_areas, s.free_vmap_areas, s.vmap_lazy_nr, s.lazy_max_pages) == (0, 1, 0, 16384)
    assert (s.nr_purges, s.nr_tlb_flushes, s.slab_pages, s.warnings, s.kasan_reports) == (
        0, 0, 0, 0, 0)
    assert (s.vrealloc_calls, s.vrealloc_shrink, s.vrealloc_grow_in_place, s.vrealloc_moved,
            s.vrealloc_bytes_copied, s.vrealloc_pages_freed) == (0, 0, 0, 0, 0, 0)
    assert k.dmesg == []
    assert k.trace.events == []


@pytest.mark.parametrize(
    ("cpus", "pages"), [(1, 8192), (2, 16384), (3, 16384), (4, 24576), (7, 24576), (8, 32768),
                        (15, 32768), (16, 40960), (31, 40960)]
)
def test_lazy_max_pages_by_cpus(cpus: int, pages: int) -> None:
    k = Kernel(KernelConfig(cpus=cpus))
    assert k.stats().lazy_max_pages == pages  # 1.3


def test_lazy_max_pages_override() -> None:
    assert Kernel(KernelConfig(lazy_max_pages=100, cpus=16)).stats().lazy_max_pages == 100


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


# --------------------------------------------------------------------------- worked example


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
    assert (s.nr_purges, s.nr_tlb_flushes, s.vmap_lazy_nr, s.free_vmap_areas) == (1, 1, 0, 1)


def test_vm_unmap_aliases_with_nothing_lazy() -> None:
    k = Kernel()
    k.trace.enable(*ALL_TRACE)
    k.vm_unmap_aliases()
    k.check()
    # 6.8 step 3: fires with ULONG_MAX, 0, 0; no flush, no purge counted
    assert events(k) == [pva(ULONG_MAX, 0, 0)]
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes) == (0, 0)


# --------------------------------------------------------------------------- vmallocinfo


def test_vmallocinfo_items_and_order() -> None:
    k = Kernel()
    a = nn(ck(k, k.vmalloc(4096)))
    b = nn(ck(k, k.vzalloc(4096, caller="drv")))
    pages = ck(k, k.alloc_pages_bulk(2))
    c = nn(ck(k, k.vmap(pages)))
    d = nn(ck(k, k.vm_map_ram(pages, 2)))
    e = nn(ck(k, k.vmalloc_node_range(4096, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL,
                                      VM.USERMAP)))
    h = nn(ck(k, k.vmalloc_huge(2 * MIB)))
    assert (a, b, c, d, e, h) == (VS, VS + 0x2000, VS + 0x4000, VS + 0x7000, VS + 0x9000,
                                  VS + 0x200000)
    k.vfree(a)
    k.check()
    # 14.1: busy in address order, then lazy; caller label first, then flags
    assert vinfo(k) == [
        info_line(VS + 0x2000, VS + 0x4000, " drv pages=1 vmalloc N0=1"),
        info_line(VS + 0x4000, VS + 0x7000, " vmap vmap"),
        info_line(VS + 0x7000, VS + 0x9000, " vm_map_ram"),
        info_line(VS + 0x9000, VS + 0xB000, " vmalloc_node_range pages=1 vmalloc user N0=1"),
        info_line(VS + 0x200000, VS + 0x401000, " vmalloc_huge pages=512 vmalloc N0=512"),
        info_line(VS, VS + 0x2000, " unpurged vm_area"),
    ]
    assert vinfo(k)[0] == "0xffffc90000002000-0xffffc90000004000    8192 drv pages=1 vmalloc N0=1"
    assert vinfo(k)[4] == (
        "0xffffc90000200000-0xffffc90000401000 2101248 vmalloc_huge pages=512 vmalloc N0=512")
    # 14.2: vmap / vm_map_ram mappings and guard pages are not VmallocUsed
    free = TOTAL_4G - k.stats().free_pages
    assert k.meminfo().splitlines() == meminfo_lines(4194304, (TOTAL_4G - free) * 4, 514 * 4)
    assert k.stats().nr_vmalloc_pages == 514


def test_vmallocinfo_nested_page_array_vpages() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(513 * 4096, caller="big_table")))
    # 8.4 step 3 / 14.1: 514 pages of VA = 2105344 bytes fills %7ld exactly
    assert vinfo(k) == [
        "0xffffc90000000000-0xffffc90000202000 2105344 big_table pages=513 vmalloc vpages N0=513",
        "0xffffc90000202000-0xffffc90000205000   12288 big_table pages=2 vmalloc N0=2",
    ]
    assert k.meminfo().splitlines()[3] == f"{'VmallocUsed:':<16}{515 * 4:>8} kB"
    k.vfree(p)
    k.check()
    assert vinfo(k) == [
        "0xffffc90000000000-0xffffc90000202000 2105344 unpurged vm_area",
        "0xffffc90000202000-0xffffc90000205000   12288 unpurged vm_area",
    ]


def test_vmallocinfo_huge_with_nested_array() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc_huge(3 * MIB)))
    assert p == VS
    # 8.3 / 8.4: 4 MiB + guard, 1024 pages counted in steps of 512 for N0
    assert vinfo(k) == [
        "0xffffc90000000000-0xffffc90000401000 4198400 vmalloc_huge pages=1024 vmalloc vpages "
        "N0=1024",
        "0xffffc90000401000-0xffffc90000404000   12288 vmalloc_huge pages=2 vmalloc N0=2",
    ]
    assert k.meminfo().splitlines()[3] == f"{'VmallocUsed:':<16}{1026 * 4:>8} kB"


def test_vmallocinfo_vunmap_and_vm_unmap_ram_are_unpurged() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(8192)))
    pages = ck(k, k.alloc_pages_bulk(4))
    r = nn(ck(k, k.vm_map_ram(pages, 4)))
    assert r == VS + 0x3000
    k.vunmap(p)
    k.check()
    k.vm_unmap_ram(r, 4)
    k.check()
    assert vinfo(k) == [
        "0xffffc90000000000-0xffffc90000003000   12288 unpurged vm_area",
        "0xffffc90000003000-0xffffc90000007000   16384 unpurged vm_area",
    ]
    # 9.3: vunmap keeps the vmalloc pages counted
    assert k.meminfo().splitlines()[3] == f"{'VmallocUsed:':<16}{8:>8} kB"
    s = k.stats()
    assert (s.vmap_lazy_nr, s.vmap_areas) == (7, 0)


# --------------------------------------------------------------------------- tracepoints


def test_trace_lazy_threshold_purge() -> None:
    k = Kernel(KernelConfig(lazy_max_pages=8))
    k.trace.enable("free_vmap_area_noflush", "purge_vmap_area_lazy")
    ps = [nn(ck(k, k.vmalloc(4096))) for _ in range(5)]
    assert k.trace.events == []  # alloc_vmap_area is not enabled
    for p in ps:
        k.vfree(p)
        k.check()
    # 6.8: free fires after insertion, before the threshold check; 10 > 8 purges (ULONG_MAX, 0
    # widened to the lazy range)
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
    pages = ck(k, k.alloc_pages_bulk(2))
    v = nn(ck(k, k.vmap(pages)))
    r = nn(ck(k, k.vm_map_ram(pages, 2)))
    # 9.4: guard page, align 1; 9.5: no guard, align PAGE_SIZE
    assert events(k) == [ava(VS, 0x3000, 1), ava(VS + 0x3000, 0x2000, 4096)]
    k.trace.clear()
    k.vm_unmap_ram(r, 2)
    k.check()
    k.vunmap(v)
    k.check()
    assert events(k) == [fva(VS + 0x3000, 2), fva(VS, 5)]


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
    k.check()
    # 6.8 threshold purge first, then 9.6 finds nothing (range passed in kept) + extra flush
    assert events(k) == [
        fva(VS, 3, 1),
        pva(VS, VS + 0x3000, 1),
        pva(dm(PFN0 + 2), dm(PFN0 + 4), 0),
    ]
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes) == (1, 2)


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


# --------------------------------------------------------------------------- dmesg texts


@pytest.mark.parametrize(
    ("gfp", "value", "names"),
    [
        (GFP.KERNEL, 0xCC0, "GFP_KERNEL"),
        (GFP.KERNEL | GFP.ZERO, 0xDC0, "GFP_KERNEL|__GFP_ZERO"),
        (GFP.KERNEL_ACCOUNT, 0x400CC0, "GFP_KERNEL_ACCOUNT"),
        (GFP.KERNEL_ACCOUNT | GFP.ZERO, 0x400DC0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO"),
        (GFP.NOFS, 0xC40, "GFP_NOFS"),
        (GFP.NOIO, 0xC00, "GFP_NOIO"),
        (GFP.USER, 0x100CC0, "GFP_USER"),
        (GFP.ATOMIC, 0x820, "GFP_ATOMIC"),
        (GFP.ATOMIC | GFP.ZERO, 0x920, "GFP_ATOMIC|__GFP_ZERO"),
        (GFP.KERNEL | GFP.RETRY_MAYFAIL, 0x4CC0, "GFP_KERNEL|__GFP_RETRY_MAYFAIL"),
        (GFP.KERNEL | GFP.NORETRY, 0x10CC0, "GFP_KERNEL|__GFP_NORETRY"),
        (GFP.KERNEL | GFP.NOFAIL, 0x8CC0, "GFP_KERNEL|__GFP_NOFAIL"),
    ],
)
def test_warn_alloc_mode_rendering(gfp: GFP, value: int, names: str) -> None:
    k = Kernel()
    size = (4 << 30) + 4096
    with kernel_warnings(1):
        assert k.vmalloc(size, gfp) is None  # 8.3 step 2, after the (no-op) filter
    k.check()
    assert k.dmesg == [warn_alloc(f"vmalloc error: size {size}, exceeds total pages", value, names)]
    assert k.stats().warnings == 1


@pytest.mark.parametrize(
    ("gfp", "names"),
    [
        (GFP(0x100CCA), "GFP_HIGHUSER_MOVABLE"),
        (GFP(0x100CC2), "GFP_HIGHUSER"),
        (GFP.KERNEL | GFP.DMA, "GFP_KERNEL|GFP_DMA"),
        (GFP.KERNEL | GFP.HIGHMEM, "GFP_KERNEL|__GFP_HIGHMEM"),
        (GFP.KERNEL | GFP.THISNODE, "GFP_KERNEL|__GFP_THISNODE"),
        (GFP.THISNODE, "__GFP_THISNODE"),
        (GFP.KERNEL | GFP.COMP | GFP.ACCOUNT, "GFP_KERNEL_ACCOUNT|__GFP_COMP"),
        (GFP.DIRECT_RECLAIM | GFP.KSWAPD_RECLAIM | GFP.HIGH, "GFP_ATOMIC|__GFP_DIRECT_RECLAIM"),
    ],
)
def test_pGg_rendering_unfiltered(gfp: GFP, names: str) -> None:
    k = Kernel(KernelConfig(ram=4 * MIB))
    size = 4 * MIB + 4096
    # vmalloc_node_range does not filter (8.2); 2.4 %pGg walk
    with kernel_warnings(1):
        assert k.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, gfp, VM(0)) is None
    k.check()
    assert k.dmesg == [
        warn_alloc(f"vmalloc error: size {size}, exceeds total pages", int(gfp), names)
    ]


def test_warnings_accumulate_in_dmesg_oldest_first() -> None:
    k = Kernel()
    with kernel_warnings(3):
        assert k.vmalloc(0) is None
        k.vfree(VS)
        assert k.alloc_pages(11) is None
    k.check()
    assert k.dmesg == [
        CUT, "WARNING: CPU: 0 PID: 1 at __vmalloc_node_range_noprof",
        CUT, "Trying to vfree() nonexistent vm area (ffffc90000000000)",
        "WARNING: CPU: 0 PID: 1 at vfree",
        CUT, "WARNING: CPU: 0 PID: 1 at __alloc_pages_noprof",
    ]
    assert k.stats().warnings == 3
    assert isinstance(k.dmesg, list)


def test_dmesg_is_per_kernel() -> None:
    k1 = Kernel()
    k2 = Kernel()
    with kernel_warnings(1):
        k1.vfree(VS)
    assert k2.dmesg == [] and k2.stats().warnings == 0
    with kernel_warnings(1):  # WARN_ONCE state is per Kernel instance (0.5)
        assert k2.alloc_pages(11) is None
    with kernel_warnings(1):
        assert k1.alloc_pages(11) is None
    k1.check()
    k2.check()
