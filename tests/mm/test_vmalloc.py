"""The vmalloc family (kvalloc.mm.vmalloc): vmalloc, vmalloc_huge, vfree, vmap, vm_map_ram."""

from __future__ import annotations

import pytest

from kvalloc import (
    GFP,
    PMD_SIZE,
    VM,
    VMALLOC_END,
    VMALLOC_START,
    Kernel,
    KernelBug,
    KernelConfig,
    KernelWarning,
    PageFault,
)

from ..helpers import (
    FRESH_BUDDY,
    MIB,
    PAGE_OFFSET,
    PFN0,
    TOTAL_4G,
    VS,
    K,
    buddy,
    buddy_line,
    ck,
    dm,
    failing,
    kernel_warnings,
    mode,
    nn,
    pfns,
    quiet,
    stats,
    stats_without_warnings,
    warn_alloc,
    warn_lines,
    warn_lines as warn,
    warn_on,
)

# -- the worked example and area lookup ------------------------------------------------------------


@pytest.mark.spec
def test_vmalloc_5001_worked_example() -> None:
    # from tests/test_core.py::test_vmalloc_5001_worked_example
    k = Kernel()
    k.trace.enable()
    p = k.vmalloc(5001)
    assert p == K
    area = k.find_vm_area(p)
    assert area is not None
    assert (area.size, area.nr_pages, area.requested_size, area.page_order) == (12288, 2, 5001, 0)
    assert area.flags == VM.ALLOC and area.caller == "vmalloc"
    assert [pg.pfn for pg in area.pages] == [0x100002, 0x100003]
    assert k.vmallocinfo() == "0xffffc90000000000-0xffffc90000003000   12288 vmalloc pages=2 vmalloc N0=2\n"
    assert [str(e) for e in k.trace.events] == [
        f"alloc_vmap_area: va_start: {K} size=12288 align=1 vstart=0xffffc90000000000 "
        "vend=0xffffe8ffffffffff failed=0"]
    assert k.stats().nr_vmalloc_pages == 2 and "VmallocUsed:           8 kB" in k.meminfo()
    assert k.find_vm_area(p + 10000) == area     # interior, even in the guard page
    k.check()
    # then, on a fresh kernel, from tests/test_spec_core.py::test_worked_example_8_8_area
    k = Kernel()
    p = nn(ck(k, k.vmalloc(5001)))
    assert p == VS
    area = nn(k.find_vm_area(p))
    assert area.addr == VS
    assert area.size == 12288
    assert area.nr_pages == 2
    assert area.requested_size == 5001
    assert area.page_order == 0
    assert area.flags == VM.ALLOC  # VM_UNINITIALIZED cleared (8.3 step 8)
    assert area.caller == "vmalloc"
    assert [pg.pfn for pg in area.pages] == [PFN0 + 2, PFN0 + 3]
    assert all(pg.refcount == 1 and pg.order == 0 and pg.node == 0 for pg in area.pages)
    # the page array took the first kmalloc-16 object: the next one is at offset 16
    obj = nn(ck(k, k.kmalloc(16)))
    assert obj == dm(PFN0) + 16
    # 6.7: interior addresses and the guard page find the area
    for addr in (p + 1, p + 5000, p + 8192, p + 12287):
        assert nn(k.find_vm_area(addr)).addr == VS
    assert k.find_vm_area(p + 12288) is None
    assert k.find_vm_area(p - 1) is None
    assert nn(k.vmalloc_to_page(p + 4096 + 17)).pfn == PFN0 + 3
    assert k.vmalloc_to_page(p + 8192) is None  # guard is never mapped
    assert k.is_vmalloc_addr(p + 8192)
    k.kfree(obj)
    k.check()
    k.vfree(p)
    k.check()
    assert k.find_vm_area(p) is None  # lazy VAs are not busy
    assert k.stats().free_pages == TOTAL_4G


@pytest.mark.spec
def test_is_vmalloc_addr_bounds() -> None:
    k = Kernel()
    assert k.is_vmalloc_addr(VMALLOC_START)
    assert k.is_vmalloc_addr(VMALLOC_END - 1)
    assert not k.is_vmalloc_addr(VMALLOC_END)  # 9.7 exclusive bound
    assert not k.is_vmalloc_addr(VMALLOC_START - 1)
    assert not k.is_vmalloc_addr(dm(PFN0))
    assert not k.is_vmalloc_addr(0)


@pytest.mark.spec
def test_vmalloc_node_range_restricted_range() -> None:
    k = Kernel()
    start = VS + 0x100000
    p = nn(ck(k, k.vmalloc_node_range(4096, 1, start, start + 0x10000, GFP.KERNEL, VM(0))))
    assert p == start
    area = nn(k.find_vm_area(p))
    assert (area.caller, area.size, area.flags) == ("vmalloc_node_range", 8192, VM.ALLOC)
    q = nn(ck(k, k.vmalloc(4096)))
    assert q == VS  # the default range starts lower
    k.vfree(p)
    k.check()
    k.vfree(q)
    k.check()


# -- page arrays and page blocks -------------------------------------------------------------------


@pytest.mark.spec
def test_vmalloc_64_pages_is_one_order6_block() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(64 * 4096)))
    # 8.5: array 512 bytes -> kmalloc-512 slab (1 page) at 0x100000; then order-6 at 0x100040
    assert pfns(k, p) == [PFN0 + 0x40 + i for i in range(64)]
    assert k.stats().slab_pages == 1


@pytest.mark.spec
def test_vmalloc_100_pages_blocks_64_32_4() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(100 * 4096)))
    # 8.5: array 800 bytes -> kmalloc-1k slab of 2 pages (0x100000-1); then orders 6, 5, 2
    expected = (
        [PFN0 + 0x40 + i for i in range(64)]
        + [PFN0 + 0x20 + i for i in range(32)]
        + [PFN0 + 0x4 + i for i in range(4)]
    )
    assert pfns(k, p) == expected
    assert k.stats().slab_pages == 2
    # write across the order-6 / order-5 boundary and read through the direct map
    k.write(p + 64 * 4096 - 3, b"abcdef")
    k.check()
    assert ck(k, k.read(dm(PFN0 + 0x7F) + 4093, 3)) == b"abc"
    assert ck(k, k.read(dm(PFN0 + 0x20), 3)) == b"def"
    k.vfree(p)
    k.check()
    assert buddy(k) == [FRESH_BUDDY]


def test_large_area_page_array_is_vmalloced() -> None:
    k = Kernel()
    p = k.vmalloc(513 * 4096)
    assert p is not None
    lines = k.vmallocinfo().splitlines()
    # the area's VA is reserved first, then its 4104-byte page array as a vmalloc of its own
    assert lines == [
        "0xffffc90000000000-0xffffc90000202000 2105344 vmalloc pages=513 vmalloc vpages N0=513",
        "0xffffc90000202000-0xffffc90000205000   12288 vmalloc pages=2 vmalloc N0=2"]
    k.vfree(p)
    assert k.vmallocinfo().count("unpurged") == 2
    assert k.stats().nr_vmalloc_pages == 0
    k.check()


@pytest.mark.spec
def test_nested_page_array_vpages() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(513 * 4096)))
    assert p == VS
    # 8.4 step 3: 513*8 = 4104 > 4096 -> nested __vmalloc_node(4104) after the parent's VA
    nested = VS + 514 * 4096
    na = nn(k.find_vm_area(nested))
    assert (na.addr, na.size, na.nr_pages, na.requested_size) == (nested, 12288, 2, 4104)
    assert na.caller == "vmalloc" and na.flags == VM.ALLOC
    # nested array: kmalloc-16 slab 0x100000; nested pages order-1 0x100002
    assert [pg.pfn for pg in na.pages] == [PFN0 + 2, PFN0 + 3]
    # parent: order-9 block 0x100200 then one bulk page 0x100001
    assert pfns(k, p) == [PFN0 + 0x200 + i for i in range(512)] + [PFN0 + 1]
    s = k.stats()
    assert (s.nr_vmalloc_pages, s.vmap_areas, s.slab_pages) == (515, 2, 1)
    assert s.free_pages == TOTAL_4G - 1 - 2 - 513
    assert buddy(k) == [buddy_line([0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1023])]
    k.write(p + 512 * 4096, b"last")
    k.check()
    assert ck(k, k.read(dm(PFN0 + 1), 4)) == b"last"
    k.vfree(p)
    k.check()
    s = k.stats()
    # 9.1: the parent VA, then the nested array VA, go lazy (514 + 3 pages)
    assert (s.vmap_areas, s.vmap_lazy_nr, s.nr_vmalloc_pages, s.slab_pages) == (0, 517, 0, 0)
    assert buddy(k) == [FRESH_BUDDY]


def test_page_allocation_failure_is_cleaned_up_by_deferred_work() -> None:
    # mm/vmalloc.c: __vmalloc_area_node() hands the failed area to defer_vm_area_cleanup();
    # cleanup_vm_area_work() vfree()s it later, here at the next allocation or on request
    k = Kernel(KernelConfig(ram=4 << 20))
    free_before = k.stats().free_pages
    with quiet():
        assert k.vmalloc(1023 * 4096) is None     # 1024 frames, 3 taken by the page array
    # the size of the pages obtained (area->nr_pages): 1021 frames were left
    assert k.dmesg[-1] == "kvalloc: vmalloc error: size 4182016, failed to allocate pages, " + \
        mode(0xCC2, "GFP_KERNEL|__GFP_HIGHMEM")
    k.check()
    s = k.stats()
    # until the work runs, the area and its nested page array hold every frame
    assert (s.pending_work, s.free_pages, s.vmap_areas, s.nr_vmalloc_pages) == (1, 0, 2, 1023)
    # the failed area is VM_UNINITIALIZED and not shown; its nested page array is
    assert k.vmallocinfo().splitlines() == [
        "0xffffc90000400000-0xffffc90000403000   12288 vmalloc pages=2 vmalloc N0=2"]
    assert k.run_workqueues() == 1
    k.check()
    s = k.stats()
    assert s.pending_work == 0
    assert s.free_pages == free_before and s.vmap_areas == 0 and s.nr_vmalloc_pages == 0
    assert "unpurged vm_area" in k.vmallocinfo()


def test_deferred_cleanup_runs_before_the_next_allocation() -> None:
    # the defined point of the deferred work: the start of the next vmalloc-family call
    k = Kernel(KernelConfig(ram=4 << 20))
    with quiet():
        assert k.vmalloc(1023 * 4096) is None
    assert k.stats().pending_work == 1
    k.trace.enable("free_vmap_area_noflush", "alloc_vmap_area")
    p = nn(ck(k, k.vmalloc(4096)))
    names = [e.name for e in k.trace.events]
    # the failed area and its page array go lazy before the new area is reserved
    assert names == ["free_vmap_area_noflush", "free_vmap_area_noflush", "alloc_vmap_area"]
    s = k.stats()
    assert (s.pending_work, s.vmap_areas, s.nr_vmalloc_pages) == (0, 1, 1)
    k.vfree(p)
    k.check()


@pytest.mark.spec
def test_vmalloc_page_shortage_fails_and_cleans_up() -> None:
    k = Kernel(KernelConfig(ram=4 * MIB))
    # 8.3 step 2: 1024 pages is not more than totalram; the pages run out (8.4 step 6):
    # 1021 frames are free after the nested array (kmalloc-16 slab + 2 pages)
    n = len(k.dmesg)
    with kernel_warnings(1):
        assert k.vmalloc(4 * MIB) is None
    k.check()
    # 8.4 step 1 adds __GFP_HIGHMEM to gfp; whether "the caller's gfp" of the warn_alloc
    # includes it is ambiguous (the kernel prints 0xcc2), so both renderings are accepted.
    msg = "vmalloc error: size 4182016, failed to allocate pages"     # the 1021 pages obtained
    assert k.dmesg[n:] in (
        [warn_alloc(msg, 0xCC0, "GFP_KERNEL")],
        [warn_alloc(msg, 0xCC2, "GFP_KERNEL|__GFP_HIGHMEM")],
    )
    s = k.stats()
    assert (s.pending_work, s.free_pages, s.vmap_areas) == (1, 0, 2)  # defer_vm_area_cleanup
    k.run_workqueues()
    k.check()
    s = k.stats()
    assert (s.free_pages, s.nr_vmalloc_pages, s.slab_pages, s.vmap_areas) == (1024, 0, 0, 0)
    assert s.vmap_lazy_nr == 1025 + 3  # 8.4 step 8: both VAs go lazy
    assert s.warnings == 1
    assert buddy(k) == [buddy_line([0] * 10 + [1])]


# -- contents: stale data and zeroing --------------------------------------------------------------


def test_stale_contents_and_zeroing() -> None:
    k = Kernel()
    p = k.vmalloc(8192)
    assert p is not None
    k.write(p, b"secret")
    k.vfree(p)
    k.vm_unmap_aliases()
    q = k.vmalloc(8192)           # same frames come back: stale data is visible
    assert q is not None and k.read(q, 6) == b"secret"
    k.vfree(q)
    z = k.vzalloc(8192)
    assert z is not None and k.read(z, 6) == bytes(6)
    k.check()
    for cfg in (KernelConfig(init_on_free=True), KernelConfig(init_on_alloc=True)):
        k2 = Kernel(cfg)
        p = k2.vmalloc(8192)
        assert p is not None
        k2.write(p, b"secret")
        k2.vfree(p)
        q = k2.vmalloc(8192)
        assert q is not None and k2.read(q, 6) == bytes(6)
        k2.check()


@pytest.mark.spec
def test_vmalloc_returns_stale_data_vzalloc_zeroes() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(4096)))
    # array kmalloc-8 slab 0x100000; the page is 0x100001 (4.2, 8.5)
    assert pfns(k, p) == [PFN0 + 1]
    k.write(p, b"secret")
    k.check()
    k.vfree(p)
    k.check()
    # 4.3: freed frames keep their bytes
    assert ck(k, k.read(dm(PFN0 + 1), 6)) == b"secret"
    q = nn(ck(k, k.vmalloc(4096)))
    assert q == VS + 0x2000  # the first VA is lazy (6.8)
    assert pfns(k, q) == [PFN0 + 1]
    assert ck(k, k.read(q, 6)) == b"secret"  # 8.6: vmalloc returns old data
    k.vfree(q)
    k.check()
    z = nn(ck(k, k.vzalloc(4096)))
    assert pfns(k, z) == [PFN0 + 1]
    assert ck(k, k.read(z, 4096)) == bytes(4096)
    k.write(z, b"again")
    k.check()
    k.vfree(z)
    k.check()
    g = nn(ck(k, k.vmalloc(4096, GFP.KERNEL | GFP.ZERO)))
    assert ck(k, k.read(g, 8)) == bytes(8)


# -- vmalloc_huge ----------------------------------------------------------------------------------


def test_vmalloc_huge_maps_pmds_and_falls_back() -> None:
    k = Kernel()
    p = k.vmalloc_huge(3 * PMD_SIZE + 1)
    assert p is not None and p % PMD_SIZE == 0
    area = k.find_vm_area(p)
    assert area is not None and area.page_order == 9 and area.nr_pages == 2048
    assert area.size == 4 * PMD_SIZE + 4096
    pgtable = k.machine.pgtable
    assert len(pgtable.pmd) == 4 and not any(K <= v << 12 < K + (4 << 21) for v in pgtable.pte)
    assert k.vmalloc_to_page(p + PMD_SIZE + 5 * 4096) == area.pages[512 + 5]
    k.check()
    small = Kernel(KernelConfig(huge_vmalloc=False))
    q = small.vmalloc_huge(PMD_SIZE)
    assert q is not None
    a2 = small.find_vm_area(q)
    assert a2 is not None and a2.page_order == 0 and q == K
    small.check()


@pytest.mark.spec
def test_vmalloc_huge_pmd_mapping() -> None:
    k = Kernel()
    small = nn(ck(k, k.vmalloc(4096)))  # kmalloc-8 slab 0x100000, page 0x100001
    assert small == VS
    p = nn(ck(k, k.vmalloc_huge(2 * MIB)))
    # 8.3 step 3: shift 21, align 2 MiB -> ALIGN(VS + 0x2000, 2 MiB)
    assert p == VS + 0x200000
    area = nn(k.find_vm_area(p))
    assert (area.size, area.nr_pages, area.page_order) == (2 * MIB + 4096, 512, 9)
    assert area.requested_size == 2 * MIB
    assert area.flags == VM.ALLOC | VM.ALLOW_HUGE_VMAP
    assert area.caller == "vmalloc_huge"
    # array 4096 bytes -> kmalloc-4k slab (order 3) at 0x100008; pages: order-9 0x100200
    assert [pg.pfn for pg in area.pages] == [PFN0 + 0x200 + i for i in range(512)]
    assert k.stats().slab_pages == 1 + 8
    assert nn(k.vmalloc_to_page(p + 0x1FF000)).pfn == PFN0 + 0x3FF
    k.write(p + 0x1FF000 + 4093, b"end")
    k.check()
    assert ck(k, k.read(dm(PFN0 + 0x3FF) + 4093, 3)) == b"end"
    assert k.vmalloc_to_page(p + 2 * MIB) is None  # guard
    # lowest fit still uses the gap below the huge area
    q = nn(ck(k, k.vmalloc(4096)))
    assert q == VS + 0x2000
    for a in (small, p, q):
        k.vfree(a)
        k.check()
    assert k.stats().free_pages == TOTAL_4G


@pytest.mark.spec
def test_vmalloc_huge_order10_chunks_and_nested_array() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc_huge(3 * MIB)))
    assert p == VS
    area = nn(k.find_vm_area(p))
    # 8.3: size rounds to 4 MiB, VA 4 MiB + guard; 1024 pages, array 8192 bytes -> nested
    assert (area.size, area.nr_pages, area.page_order) == (4 * MIB + 4096, 1024, 9)
    assert area.requested_size == 3 * MIB
    # 8.5: ilog2(1024) = 10 > 9 -> one order-10 block (the first untouched one, 0x100400)
    assert [pg.pfn for pg in area.pages] == [PFN0 + 0x400 + i for i in range(1024)]
    nested = nn(k.find_vm_area(VS + 0x401000))
    assert (nested.size, nested.nr_pages, nested.page_order) == (12288, 2, 0)
    assert nested.caller == "vmalloc_huge"
    assert nn(k.vmalloc_to_page(p + 0x203000)).pfn == PFN0 + 0x603
    assert len(ck(k, k.read(p + 3 * MIB, 4))) == 4  # mapped past the request
    k.vfree(p)
    k.check()
    assert k.stats().vmap_lazy_nr == 1025 + 3


@pytest.mark.spec
def test_vmalloc_huge_small_size_uses_pages() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc_huge(MIB)))
    area = nn(k.find_vm_area(p))
    # 8.3 step 3: size < PMD_SIZE -> shift 12, align max(1, 4096)
    assert (area.page_order, area.nr_pages, area.size) == (0, 256, MIB + 4096)


@pytest.mark.spec
def test_vmalloc_huge_disabled_nohugevmalloc() -> None:
    k = Kernel(KernelConfig(huge_vmalloc=False))
    small = nn(ck(k, k.vmalloc(4096)))
    p = nn(ck(k, k.vmalloc_huge(2 * MIB)))
    assert (small, p) == (VS, VS + 0x2000)  # shift 12, align 1: no 2 MiB alignment
    area = nn(k.find_vm_area(p))
    assert (area.page_order, area.nr_pages) == (0, 512)
    assert area.flags == VM.ALLOC | VM.ALLOW_HUGE_VMAP
    # 8.5 large-order-first still takes one order-9 block (mapped with PTEs)
    assert [pg.pfn for pg in area.pages] == [PFN0 + 0x200 + i for i in range(512)]
    k.write(p + 4096 * 300, b"pte")
    k.check()
    assert ck(k, k.read(dm(PFN0 + 0x200 + 300), 3)) == b"pte"


def test_huge_falls_back_to_small_pages_on_a_fresh_va() -> None:
    # 8 MiB of order-0 pages, then give back one order-3 block (for the kmalloc-4k page
    # array) and every other page: no block of order >= 4 is free anywhere.
    k = Kernel(KernelConfig(ram=8 << 20))
    pages = k.alloc_pages_bulk(2048)
    freed = pages[:8] + pages[16::2]
    for pg in freed:
        k.free_pages(pg, 0)
    k.check()
    assert k.buddyinfo() == "Node 0, zone   Normal   1016      0      0      1" + "      0" * 7 + " \n"
    p = k.vmalloc_huge(PMD_SIZE)
    assert p == K + PMD_SIZE + 4096            # the 2 MiB-aligned VA at K is still held
    area = k.find_vm_area(p)
    assert area is not None and area.page_order == 0 and area.nr_pages == 512
    assert k.dmesg == []                       # the huge attempt fails silently
    k.check()
    # mm/vmalloc.c: defer_vm_area_cleanup(): the failed attempt keeps its VA, its page array
    # and any pages it got until cleanup_vm_area_work() runs; /proc hides it meanwhile
    s = k.stats()
    assert (s.pending_work, s.vmap_areas) == (1, 2)
    assert k.vmallocinfo().splitlines() == [
        "0xffffc90000201000-0xffffc90000402000 2101248 vmalloc_huge pages=512 vmalloc N0=512"]
    k.run_workqueues()
    k.check()
    assert k.vmallocinfo().splitlines()[-1] == \
        "0xffffc90000000000-0xffffc90000201000 2101248 unpurged vm_area"


@pytest.mark.spec
def test_vmalloc_huge_falls_back_to_small_pages() -> None:
    k = Kernel(KernelConfig(ram=4 * MIB))
    a0 = nn(ck(k, k.alloc_pages(0)))  # 0x100000
    fill = [nn(ck(k, k.alloc_pages(o))) for o in range(9)]  # the rest of the lower half
    assert [pg.pfn for pg in fill] == [PFN0 + (1 << o) for o in range(9)]
    c = nn(ck(k, k.alloc_pages(0)))  # splits the upper half: 0x100200
    assert c.pfn == PFN0 + 0x200
    for o, pg in enumerate(fill):
        k.free_pages(pg, o)
        k.check()
    assert buddy(k) == [buddy_line([2] * 9 + [0, 0])]  # 1022 free frames, no order-9 block
    k.trace.enable("alloc_vmap_area", "free_vmap_area_noflush")
    n = len(k.dmesg)
    with kernel_warnings(0):
        h = nn(ck(k, k.vmalloc_huge(2 * MIB)))
    assert k.dmesg[n:] == []  # huge page failures are silent (8.4 steps 5-6)
    # 8.3 step 9: the huge VA went lazy, the retry uses a new VA with small pages
    assert h == VS + 0x201000
    area = nn(k.find_vm_area(h))
    assert (area.page_order, area.nr_pages, area.size) == (0, 512, 0x201000)
    # large-order-first: order 9 fails, then two order-8 blocks (0x100100, 0x100300)
    assert [pg.pfn for pg in area.pages] == (
        [PFN0 + 0x100 + i for i in range(256)] + [PFN0 + 0x300 + i for i in range(256)]
    )
    # the failed huge attempt is freed by deferred work (defer_vm_area_cleanup()), after the
    # retry reserved its VA
    assert k.stats().pending_work == 1
    k.run_workqueues()
    k.check()
    ev = [(e.name, dict(e.fields)) for e in k.trace.events]
    assert ev == [
        ("alloc_vmap_area", {"addr": VS, "size": 0x201000, "align": 0x200000, "vstart": VS,
                             "vend": VMALLOC_END, "failed": 0}),
        ("alloc_vmap_area", {"addr": VS + 0x201000, "size": 0x201000, "align": 1,
                             "vstart": VS, "vend": VMALLOC_END, "failed": 0}),
        ("free_vmap_area_noflush", {"va_start": VS, "nr_lazy": 513, "nr_lazy_max": 16384}),
    ]
    s = k.stats()
    assert (s.vmap_lazy_nr, s.slab_pages, s.nr_vmalloc_pages, s.warnings) == (513, 8, 512, 0)
    assert s.free_pages == 1022 - 8 - 512
    assert buddy(k) == [buddy_line([2, 2, 2, 1, 2, 2, 2, 2, 0, 0, 0])]
    k.vfree(h)
    k.check()
    k.free_pages(a0, 0)
    k.check()
    k.free_pages(c, 0)
    k.check()
    assert buddy(k) == [buddy_line([0] * 10 + [1])]


# -- VM_FLUSH_RESET_PERMS --------------------------------------------------------------------------


def test_flush_reset_perms_purges_with_the_direct_map_range() -> None:
    k = Kernel()
    p = k.vmalloc_node_range(8192, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL, VM.FLUSH_RESET_PERMS)
    assert p is not None
    k.trace.enable("purge_vmap_area_lazy")
    k.vfree(p)
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes, s.vmap_lazy_nr) == (1, 1, 0)
    ev = k.trace.events[0].fields
    assert ev["npurged"] == 1 and ev["start"] == PAGE_OFFSET + 0x100002 * 4096
    k.check()


@pytest.mark.spec
def test_vmalloc_node_range_flush_reset_perms() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc_node_range(
        8192, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL, VM.FLUSH_RESET_PERMS)))
    area = nn(k.find_vm_area(p))
    assert area.flags == VM.ALLOC | VM.FLUSH_RESET_PERMS
    assert [pg.pfn for pg in area.pages] == [PFN0 + 2, PFN0 + 3]
    k.vfree(p)
    k.check()
    # 9.6: the purge finds the area itself (already lazy): one flush, no extra one
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes, s.vmap_lazy_nr, s.free_pages) == (1, 1, 0, TOTAL_4G)


@pytest.mark.spec
def test_flush_reset_perms_past_the_lazy_threshold() -> None:
    k = Kernel(KernelConfig(lazy_max_pages=1))
    p = nn(ck(k, k.vmalloc_node_range(
        8192, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL, VM.FLUSH_RESET_PERMS)))
    k.vfree(p)
    k.check()
    # mm/vmalloc.c: free_vmap_area_noflush() pushes 3 > 1 and only schedules drain_vmap_work;
    # vm_reset_perms() then purges the area itself: one flush, as under the threshold
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes, s.vmap_lazy_nr, s.pending_work) == (1, 1, 0, 1)
    # drain_vmap_area_work() finds nothing lazy: no flush
    assert k.run_workqueues() == 1
    k.check()
    s = k.stats()
    assert (s.nr_purges, s.nr_tlb_flushes, s.vmap_lazy_nr, s.pending_work) == (1, 1, 0, 0)


# -- gfp, node and refused requests ----------------------------------------------------------------


@pytest.mark.spec
def test_vmalloc_gfp_classes_and_node() -> None:
    k = Kernel()
    for gfp in (GFP.KERNEL, GFP.NOFS, GFP.NOIO, GFP.ATOMIC, GFP.NOWAIT, GFP.USER):
        p = nn(ck(k, k.vmalloc(4096, gfp)))
        k.vfree(p)
        k.check()
    p = nn(ck(k, k.vmalloc(4096, node=0)))
    k.vfree(p)
    k.check()
    with pytest.raises(ValueError):  # 8.1: only NUMA_NO_NODE or 0
        k.vmalloc(4096, node=1)
    with pytest.raises(ValueError):
        k.vzalloc(4096, node=2)
    k.check()
    assert k.dmesg == []


@pytest.mark.spec
def test_vmalloc_zero_size_warn_on_once() -> None:
    k = Kernel()
    lines = warn_on("__vmalloc_node_range_noprof")  # 8.3 step 1
    assert failing(k, lambda: k.vmalloc(0), lines, 1) is None
    assert failing(k, lambda: k.vmalloc(0), [], 0) is None  # same call site: silent
    assert failing(k, lambda: k.vzalloc(0), [], 0) is None
    assert failing(k, lambda: k.vmalloc_huge(0), [], 0) is None


@pytest.mark.spec
def test_vmalloc_size_exceeds_total_pages() -> None:
    k = Kernel()
    size = (4 << 30) + 4096  # 8.3 step 2: 1048577 > 1048576 pages
    line = warn_alloc(f"vmalloc error: size {size}, exceeds total pages", 0xCC0, "GFP_KERNEL")
    assert failing(k, lambda: k.vmalloc(size), [line], 1) is None
    assert failing(k, lambda: k.vmalloc(size), [line], 1) is None  # not rate-limited / once
    line = warn_alloc(f"vmalloc error: size {size}, exceeds total pages", 0xDC0,
                      "GFP_KERNEL|__GFP_ZERO")
    assert failing(k, lambda: k.vzalloc(size), [line], 1) is None
    assert failing(k, lambda: k.vmalloc(size, GFP.KERNEL | GFP.NOWARN), [], 0) is None
    big = 2**64 - 1
    line = warn_alloc(f"vmalloc error: size {big}, exceeds total pages", 0xCC0, "GFP_KERNEL")
    assert failing(k, lambda: k.vmalloc(big), [line], 1) is None
    # exactly totalram pages passes step 2 (checked elsewhere with a small machine)


@pytest.mark.spec
def test_vmalloc_non_power_of_two_align() -> None:
    k = Kernel()
    # 6.6 step 1: -EINVAL (no search, no purge); 8.3 step 4 warn_alloc
    line = warn_alloc("vmalloc error: size 4096, vm_struct allocation failed", 0xCC0, "GFP_KERNEL")
    k.trace.enable("alloc_vmap_area", "purge_vmap_area_lazy")
    assert failing(k, lambda: k.vmalloc(4096, align=3), [line], 1) is None
    assert failing(k, lambda: k.vmalloc(4096, align=0x3000), [line], 1) is None
    assert k.trace.events == []


def test_gfp_filter_warns_once() -> None:
    k = Kernel()
    with pytest.warns(KernelWarning):
        p = k.vmalloc(8192, GFP.KERNEL | GFP.THISNODE)
    assert p is not None
    assert k.dmesg == warn_lines("Unexpected gfp: 0x200000 (__GFP_THISNODE). Fixing up to gfp: "
                                 "0xcc0 (GFP_KERNEL). Fix your code!", "vmalloc_fix_flags")
    q = k.vmalloc(8192, GFP.KERNEL | GFP.THISNODE)
    assert q is not None and len(k.dmesg) == 3     # WARN_ONCE: silent, still fixed up
    k.check()


@pytest.mark.spec
def test_gfp_filter_warn_once_8_2() -> None:
    k = Kernel()
    lines = warn(
        "Unexpected gfp: 0x200000 (__GFP_THISNODE). Fixing up to gfp: 0xcc0 (GFP_KERNEL). "
        "Fix your code!",
        "vmalloc_fix_flags",
    )
    before = stats(k)
    n = len(k.dmesg)
    with kernel_warnings(1):
        p = nn(k.vmalloc(8192, GFP.KERNEL | GFP.THISNODE))
    k.check()
    assert k.dmesg[n:] == lines
    assert k.stats().warnings == before["warnings"] + 1
    assert nn(k.find_vm_area(p)).nr_pages == 2  # the allocation continues
    n = len(k.dmesg)
    with kernel_warnings(0):
        q = nn(k.vmalloc_huge(8192, GFP.KERNEL | GFP.THISNODE))  # same WARN_ONCE: silent
    k.check()
    assert k.dmesg[n:] == []
    k.vfree(p)
    k.check()
    k.vfree(q)
    k.check()


@pytest.mark.spec
@pytest.mark.parametrize(
    ("gfp", "text"),
    [
        (GFP.KERNEL | GFP.DMA32,
         "Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL). Fix your code!"),
        (GFP.KERNEL | GFP.ZERO | GFP.HIGHMEM | GFP.COMP,
         "Unexpected gfp: 0x40002 (__GFP_HIGHMEM|__GFP_COMP). Fixing up to gfp: 0xdc0 "
         "(GFP_KERNEL|__GFP_ZERO). Fix your code!"),
        (GFP.KERNEL_ACCOUNT | GFP.THISNODE,
         "Unexpected gfp: 0x200000 (__GFP_THISNODE). Fixing up to gfp: 0x400cc0 "
         "(GFP_KERNEL_ACCOUNT). Fix your code!"),
        # mm/vmalloc.c: GFP_VMALLOC_SUPPORTED has no __GFP_RETRY_MAYFAIL (the patch adding it,
        # "mm: allow __GFP_RETRY_MAYFAIL in vmalloc", was dropped from -mm)
        (GFP.KERNEL | GFP.RETRY_MAYFAIL,
         "Unexpected gfp: 0x4000 (__GFP_RETRY_MAYFAIL). Fixing up to gfp: 0xcc0 (GFP_KERNEL). "
         "Fix your code!"),
    ],
)
def test_gfp_filter_texts(gfp: GFP, text: str) -> None:
    k = Kernel()
    n = len(k.dmesg)
    with kernel_warnings(1):
        p = nn(k.vmalloc_huge(4096, gfp))  # vmalloc_huge_node filters too (8.2)
    k.check()
    assert k.dmesg[n:] == warn(text, "vmalloc_fix_flags")
    k.vfree(p)
    k.check()


# -- vfree, vunmap, vmap, vm_map_ram ---------------------------------------------------------------


@pytest.mark.spec
def test_double_vfree_warns_each_time() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(4096)))
    k.vfree(p)
    k.check()
    lines = warn("Trying to vfree() nonexistent vm area (ffffc90000000000)", "vfree")  # 9.1
    assert failing(k, lambda: k.vfree(p), lines, 1) is None
    assert failing(k, lambda: k.vfree(p), lines, 1) is None  # a plain WARN, not once


@pytest.mark.spec
def test_vfree_foreign_null_and_unaligned() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(8192)))
    assert failing(k, lambda: k.vfree(0), [], 0) is None  # 9.1 step 1
    lines = warn("Trying to vfree() nonexistent vm area (ffffc90000100000)", "vfree")
    assert failing(k, lambda: k.vfree(VS + 0x100000), lines, 1) is None
    obj = nn(ck(k, k.kmalloc(8)))  # page-aligned direct-map object (kmalloc-8 slab, new page)
    assert obj % 4096 == 0
    lines = warn(f"Trying to vfree() nonexistent vm area ({obj:016x})", "vfree")
    assert failing(k, lambda: k.vfree(obj), lines, 1) is None
    # 9.2 + 9.1: an unaligned address prints two warnings and frees nothing
    lines = warn("Trying to vfree() bad address (ffffc90000000001)", "remove_vm_area") + warn(
        "Trying to vfree() nonexistent vm area (ffffc90000000001)", "vfree"
    )
    assert failing(k, lambda: k.vfree(p + 1), lines, 2) is None
    assert k.find_vm_area(p) is not None
    k.kfree(obj)
    k.check()
    k.vfree(p)
    k.check()


@pytest.mark.spec
def test_vfree_interior_and_guard_address_frees_area() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(8192)))
    q = nn(ck(k, k.vmalloc(8192)))
    n = len(k.dmesg)
    with kernel_warnings(0):
        k.vfree(p + 4096)  # 9.1: interior page-aligned address, no warning
        k.vfree(q + 8192)  # the guard page too
    k.check()
    assert k.dmesg[n:] == []
    s = k.stats()
    assert (s.vmap_areas, s.vmap_lazy_nr, s.free_pages, s.nr_vmalloc_pages) == (0, 6, TOTAL_4G, 0)


@pytest.mark.spec
def test_vunmap_keeps_pages() -> None:
    k = Kernel()
    p = nn(ck(k, k.vmalloc(8192)))
    before = k.stats()
    k.vunmap(p)
    k.check()
    s = k.stats()
    # 9.3: pages stay allocated and counted; the VA goes lazy (whether the page array is
    # released is not specified, so free_pages is only bounded)
    assert before.free_pages <= s.free_pages <= before.free_pages + 1
    assert s.nr_vmalloc_pages == 2
    assert (s.vmap_areas, s.vmap_lazy_nr) == (0, 3)
    assert k.find_vm_area(p) is None
    lines = warn("Trying to vunmap() nonexistent vm area (ffffc90000000000)", "vunmap")
    assert failing(k, lambda: k.vunmap(p), lines, 1) is None
    assert failing(k, lambda: k.vunmap(0), [], 0) is None


def test_vmap_vunmap_vm_map_ram() -> None:
    k = Kernel()
    pages = k.alloc_pages_bulk(3)
    assert [p.pfn for p in pages] == [0x100000, 0x100001, 0x100002]
    v = k.vmap(pages)
    assert v is not None and v == K
    assert k.vmallocinfo() == "0xffffc90000000000-0xffffc90000004000   16384 vmap vmap\n"
    k.write(v + 4096, b"abc")
    assert k.read(PAGE_OFFSET + 0x100001 * 4096, 3) == b"abc"
    k.vunmap(v)
    assert all(p.refcount == 1 for p in pages)
    with quiet():
        k.vunmap(v)
    assert k.dmesg[-2] == "Trying to vunmap() nonexistent vm area (ffffc90000000000)"
    r = k.vm_map_ram(pages, 2)
    # mm/vmalloc.c: new_vmap_block(): a block of 4 MiB aligned to its size; [v, v + 16 KiB) is lazy
    assert r == v + (4 << 20)
    assert k.vmallocinfo().splitlines()[0] == "0xffffc90000400000-0xffffc90000800000 4194304 vm_map_ram"
    assert k.find_vm_area(r) is None
    k.vm_unmap_ram(r, 2)
    with pytest.raises(KernelBug):
        k.vm_unmap_ram(r + 1, 2)
    for p in pages:
        k.free_pages(p, 0)
    k.check()


@pytest.mark.spec
def test_vmap_maps_given_pages() -> None:
    k = Kernel()
    pages = ck(k, k.alloc_pages_bulk(3))
    v = nn(ck(k, k.vmap(pages)))
    assert v == VS
    area = nn(k.find_vm_area(v))
    # 9.4: VA of 3 pages + guard, VM_MAP only, nr_pages stays 0, caller "vmap"
    assert (area.size, area.nr_pages, area.flags, area.caller) == (16384, 0, VM.MAP, "vmap")
    assert nn(k.vmalloc_to_page(v + 2 * 4096)).pfn == pages[2].pfn
    k.write(v + 4096 - 2, b"wxyz")
    k.check()
    assert ck(k, k.read(dm(pages[1].pfn), 2)) == b"yz"
    s = k.stats()
    assert (s.nr_vmalloc_pages, s.vmap_areas) == (0, 1)
    k.vunmap(v)
    k.check()
    assert ck(k, k.read(dm(pages[0].pfn) + 4094, 2)) == b"wx"  # pages still owned by us
    for pg in pages:
        k.free_pages(pg, 0)
        k.check()
    assert k.stats().free_pages == TOTAL_4G


@pytest.mark.spec
def test_vmap_rejects_flush_reset_perms_and_clears_no_guard() -> None:
    k = Kernel()
    pages = ck(k, k.alloc_pages_bulk(2))
    # 9.4 step 1
    assert failing(k, lambda: k.vmap(pages, VM.MAP | VM.FLUSH_RESET_PERMS), warn_on("vmap"), 1) is None
    assert failing(k, lambda: k.vmap(pages, VM.MAP | VM.FLUSH_RESET_PERMS), [], 0) is None
    # 9.4 step 2: the flag is cleared, the guard page is added
    n = len(k.dmesg)
    with kernel_warnings(1):
        v = nn(k.vmap(pages, VM.MAP | VM.NO_GUARD))
    k.check()
    assert k.dmesg[n:] == warn_on("vmap")
    area = nn(k.find_vm_area(v))
    assert area.size == 3 * 4096 and area.flags == VM.MAP
    k.vunmap(v)
    k.check()
    for pg in pages:
        k.free_pages(pg, 0)
        k.check()


@pytest.mark.spec
def test_vm_map_ram_no_guard_no_vm() -> None:
    # mm/vmalloc.c: vm_map_ram() of more than VMAP_MAX_ALLOC pages: an area of its own
    k = Kernel()
    pages = ck(k, k.alloc_pages_bulk(65))
    a = nn(ck(k, k.vm_map_ram(pages, 65)))
    assert a == VS
    assert k.find_vm_area(a) is None  # 6.7: no vm
    assert nn(k.vmalloc_to_page(a + 8192)).pfn == pages[2].pfn
    b = nn(ck(k, k.vmalloc(4096)))
    assert b == VS + 65 * 0x1000  # 9.5: no guard page after the vm_map_ram area
    k.write(a + 65 * 4096 - 1, b"!")
    k.check()
    assert ck(k, k.read(dm(pages[64].pfn) + 4095, 1)) == b"!"
    k.vm_unmap_ram(a, 65)
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.vmap_lazy_nr) == (1, 65)
    with pytest.raises(PageFault):
        k.read(a, 1)
    k.check()
    k.vfree(b)
    k.check()
    for pg in pages:
        k.free_pages(pg, 0)
        k.check()


@pytest.mark.spec
def test_vm_unmap_ram_nonexistent_warn_on_once() -> None:
    # mm/vmalloc.c: vm_unmap_ram(): WARN_ON_ONCE(!va) for more than VMAP_MAX_ALLOC pages
    k = Kernel()
    assert failing(k, lambda: k.vm_unmap_ram(VS, 65), warn_on("vm_unmap_ram"), 1) is None
    assert failing(k, lambda: k.vm_unmap_ram(VS + 0x5000, 66), [], 0) is None


@pytest.mark.spec
def test_vm_unmap_ram_bug_on_bad_address() -> None:
    k = Kernel()
    for addr in (0, VS - 4096, VS + 1):
        with pytest.raises(KernelBug):  # 9.5
            k.vm_unmap_ram(addr, 1)
        k.check()


@pytest.mark.spec
def test_vfree_of_vm_map_ram_area_is_nonexistent() -> None:
    k = Kernel()
    pages = ck(k, k.alloc_pages_bulk(1))
    a = nn(ck(k, k.vm_map_ram(pages, 1)))
    n = len(k.dmesg)
    with kernel_warnings(1):
        k.vfree(a)
    # 9.1: the VA is unlinked and lost (leaked set). k.check() is NOT called from here on:
    # the spec conflicts with itself (18 says invariants hold after every public call, but
    # INV-PT-2 as worded fails because the leaked VA keeps its PTEs, as in the kernel).
    assert k.dmesg[n:] == warn("Trying to vfree() nonexistent vm area (ffffc90000000000)", "vfree")
    s = k.stats()
    assert (s.vmap_areas, s.vmap_lazy_nr) == (0, 0)
    assert k.vmallocinfo().splitlines() == []
    b = nn(k.vmalloc(4096))
    assert b == VS + (4 << 20)  # the leaked VA, the whole 4 MiB vmap block, is not free space
    k.vfree(b)


def _unchanged(k: Kernel) -> tuple[dict[str, int], str, int]:
    return stats_without_warnings(k), k.vmallocinfo(), len(k.dmesg)


@pytest.mark.parametrize("case", ["twice", "vmalloc_pages", "order2"])
def test_vmap_put_pages_takes_only_order0_pages_the_caller_owns(case: str) -> None:
    # mm/vmalloc.c: vmap() with VM_MAP_PUT_PAGES makes vfree() free each page: the pages
    # become the area's, so they must be the caller's order-0 pages, each given once.
    k = Kernel()
    if case == "twice":
        pg = nn(k.alloc_pages(0))
        pages = [pg, pg]
        want = f"page pfn {pg.pfn:#x} is given twice"
    elif case == "vmalloc_pages":
        area = nn(k.find_vm_area(nn(k.vmalloc(8192))))
        pages = list(area.pages)
        want = "is owned by vmalloc, not the caller"
    else:
        pages = [nn(k.alloc_pages(2))]
        want = "heads an order-2 block"
    before = _unchanged(k)
    with pytest.raises(ValueError, match=want):
        k.vmap(pages, VM.MAP | VM.MAP_PUT_PAGES)
    assert _unchanged(k) == before
    k.check()


def test_vmap_put_pages_of_owned_pages_still_works_and_vfree_frees_them() -> None:
    k = Kernel()
    pages = [nn(k.alloc_pages(0)) for _ in range(3)]
    p = nn(k.vmap(pages, VM.MAP | VM.MAP_PUT_PAGES))
    k.check()
    free = k.stats().free_pages
    k.vfree(p)
    k.check()
    assert k.stats().free_pages == free + 3
