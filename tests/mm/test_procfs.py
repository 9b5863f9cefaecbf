"""/proc/vmallocinfo, /proc/meminfo and /proc/buddyinfo (kvalloc.mm.proc)."""

from __future__ import annotations

import pytest

from kvalloc import GFP, VM, VMALLOC_END, VMALLOC_START, Kernel

from ..helpers import (
    MIB,
    TOTAL_4G,
    VS,
    ck,
    meminfo_lines,
    nn,
    stats_without_warnings,
    vinfo,
)

# -- helpers ---------------------------------------------------------------------------------------


def info_line(start: int, end: int, rest: str) -> str:
    """KERNEL.md 14.1: `0x%pK-0x%pK %7ld` then the items."""
    return f"0x{start:016x}-0x{end:016x} {end - start:7d}{rest}"


@pytest.mark.spec
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


# -- vmallocinfo -----------------------------------------------------------------------------------


@pytest.mark.spec
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
    # mm/vmalloc.c: new_vmap_block(): a 2-page vm_map_ram takes a 4 MiB block aligned to its
    # size; the huge area, 2 MiB aligned, goes after it
    assert (a, b, c, d, e, h) == (VS, VS + 0x2000, VS + 0x4000, VS + 0x400000, VS + 0x7000,
                                  VS + 0x800000)
    k.vfree(a)
    k.check()
    # 14.1: busy in address order, then lazy; caller label first, then flags; the block is
    # one vm_map_ram line of its size (vmalloc_info_show())
    assert vinfo(k) == [
        info_line(VS + 0x2000, VS + 0x4000, " drv pages=1 vmalloc N0=1"),
        info_line(VS + 0x4000, VS + 0x7000, " vmap vmap"),
        info_line(VS + 0x7000, VS + 0x9000, " vmalloc_node_range pages=1 vmalloc user N0=1"),
        info_line(VS + 0x400000, VS + 0x800000, " vm_map_ram"),
        info_line(VS + 0x800000, VS + 0xA01000, " vmalloc_huge pages=512 vmalloc N0=512"),
        info_line(VS, VS + 0x2000, " unpurged vm_area"),
    ]
    assert vinfo(k)[0] == "0xffffc90000002000-0xffffc90000004000    8192 drv pages=1 vmalloc N0=1"
    assert vinfo(k)[3] == "0xffffc90000400000-0xffffc90000800000 4194304 vm_map_ram"
    assert vinfo(k)[4] == (
        "0xffffc90000800000-0xffffc90000a01000 2101248 vmalloc_huge pages=512 vmalloc N0=512")
    # 14.2: vmap / vm_map_ram mappings and guard pages are not VmallocUsed
    free = TOTAL_4G - k.stats().free_pages
    assert k.meminfo().splitlines() == meminfo_lines(4194304, (TOTAL_4G - free) * 4, 514 * 4)
    assert k.stats().nr_vmalloc_pages == 514


@pytest.mark.spec
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


@pytest.mark.spec
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


@pytest.mark.spec
def test_vmallocinfo_vunmap_and_vm_unmap_ram_are_unpurged() -> None:
    # mm/vmalloc.c: vm_map_ram(): more than VMAP_MAX_ALLOC (64) pages get an area of their own
    k = Kernel()
    p = nn(ck(k, k.vmalloc(8192)))
    pages = ck(k, k.alloc_pages_bulk(65))
    r = nn(ck(k, k.vm_map_ram(pages, 65)))
    assert r == VS + 0x3000
    k.vunmap(p)
    k.check()
    k.vm_unmap_ram(r, 65)
    k.check()
    assert vinfo(k) == [
        "0xffffc90000000000-0xffffc90000003000   12288 unpurged vm_area",
        "0xffffc90000003000-0xffffc90000044000  266240 unpurged vm_area",
    ]
    # 9.3: vunmap keeps the vmalloc pages counted
    assert k.meminfo().splitlines()[3] == f"{'VmallocUsed:':<16}{8:>8} kB"
    s = k.stats()
    assert (s.vmap_lazy_nr, s.vmap_areas) == (68, 0)


# -- views change nothing --------------------------------------------------------------------------


def test_stats_are_unchanged_by_views() -> None:
    k = Kernel()
    k.vmalloc(4096)
    before = stats_without_warnings(k)
    k.vmallocinfo(), k.meminfo(), k.buddyinfo(), k.check()
    assert stats_without_warnings(k) == before
