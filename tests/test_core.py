"""Unit tests of the core simulator (issue: page frames, page table, KVA, vmalloc, kmalloc).

Every test calls ``check()`` after each step.
"""

from __future__ import annotations

import tracemalloc
import warnings

import pytest

from kvalloc import (
    GFP, KMALLOC_MAX_SIZE, PMD_SIZE, VM, VMALLOC_END, VMALLOC_START, ZERO_SIZE_PTR,
    Kernel, KernelBug, KernelConfig, KernelPanic, KernelWarning, PageFault,
)
from kvalloc.constants import PAGE_OFFSET

from .helpers import assert_refused, quiet, stats_without_warnings, warn_lines

K = VMALLOC_START


def mode(gfp: int, text: str) -> str:
    return f"mode:{gfp:#x}({text}), nodemask=(null),cpuset=/,mems_allowed=0"


# -- physical memory -------------------------------------------------------------------

def test_buddy_splits_lowest_pfn_and_merges_back() -> None:
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


def test_alloc_pages_order_above_max_warns_once() -> None:
    k = Kernel()
    with quiet():
        assert k.alloc_pages(11) is None
        assert k.alloc_pages(11) is None
    assert k.dmesg == warn_lines(None, "__alloc_pages_noprof")
    assert k.alloc_pages(11, GFP.KERNEL | GFP.NOWARN) is None
    k.check()


def test_physical_exhaustion_prints_page_allocation_failure() -> None:
    k = Kernel(KernelConfig(ram=4 << 20))
    assert k.alloc_pages(10) is not None
    with pytest.warns(KernelWarning):
        assert k.alloc_pages(0) is None
    assert k.dmesg[-1] == "kvalloc: page allocation failure: order:0, " + mode(0xCC0, "GFP_KERNEL")
    with pytest.raises(KernelBug, match="__GFP_NOFAIL"):
        with quiet():
            k.alloc_pages(0, GFP.KERNEL | GFP.NOFAIL)


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


# -- page table and access --------------------------------------------------------------

def test_guard_page_and_unmapped_addresses_fault() -> None:
    k = Kernel()
    p = k.vmalloc(5001)
    assert p is not None
    k.write(p + 8191, b"x")
    with pytest.raises(PageFault, match="^BUG: unable to handle page fault for address: 0xffffc90000002000$"):
        k.write(p + 8191, b"xy")
    assert k.dmesg[-3:] == ["BUG: unable to handle page fault for address: ffffc90000002000",
                            "#PF: supervisor write access in kernel mode",
                            "#PF: error_code(0x0002) - not-present page"]
    assert k.read(p + 8191, 1) == b"x"     # the failed write wrote nothing
    with pytest.raises(PageFault, match="NULL pointer dereference, address: 0x10$"):
        k.read(16, 4)
    assert k.dmesg[-3:] == ["BUG: kernel NULL pointer dereference, address: 0000000000000010",
                            "#PF: supervisor read access in kernel mode",
                            "#PF: error_code(0x0000) - not-present page"]
    with pytest.raises(PageFault):
        k.memset(VMALLOC_END - 4096, 0, 1)
    k.check()


def test_memcpy_memset_and_direct_map() -> None:
    k = Kernel()
    a, b = k.vmalloc(3 * 4096), k.vmalloc(3 * 4096)
    assert a is not None and b is not None
    payload = bytes(range(256)) * 48
    k.write(a, payload)
    k.memcpy(b, a, len(payload))
    assert k.read(b, len(payload)) == payload
    k.memcpy(b + 1, a + 4000, 200)            # unaligned, crossing pages
    assert k.read(b + 1, 200) == payload[4000:4200]
    k.memset(b, 0xAB, 5000)
    assert k.read(b, 5000) == b"\xab" * 5000
    k.memset(b, 0, 4096)
    assert k.read(b, 4096) == bytes(4096)
    # a vmalloc page is also reachable through the direct map of its frame
    page = k.vmalloc_to_page(a + 4096)
    assert page is not None
    assert k.read(PAGE_OFFSET + page.pfn * 4096, 16) == payload[4096:4112]
    obj = k.kmalloc(100)
    assert obj is not None and PAGE_OFFSET <= obj
    k.write(obj, b"slab!")
    assert k.read(obj, 5) == b"slab!"
    k.check()


def test_direct_view_is_the_same_memory() -> None:
    k = Kernel()
    p = k.vmalloc(3 * 4096)
    assert p is not None
    view = k.direct_view(p, 3 * 4096)
    assert len(view.pages) == 3 and view.offset == 0 and not view.checked
    q = [mv.cast("Q") for mv in view.pages]
    q[1][3] = 0x1122334455667788
    assert k.read(p + 4096 + 24, 8) == (0x1122334455667788).to_bytes(8, "little")
    k.write(p + 8192, b"\x01" * 8)
    assert q[2][0] == 0x0101010101010101
    k.memset(p, 0, 3 * 4096)                  # zeroing keeps the views valid
    assert q[1][3] == 0
    obj = k.kmalloc(96)
    assert obj is not None
    v2 = k.direct_view(obj + 8, 16)
    assert v2.offset == (obj + 8) % 4096
    k.check()


# -- KVA allocator --------------------------------------------------------------------

def test_vmalloc_5001_worked_example() -> None:
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


def test_lazy_areas_are_not_reused_before_a_purge_and_are_after() -> None:
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


def test_purge_runs_when_lazy_pages_exceed_the_threshold() -> None:
    k = Kernel(KernelConfig(lazy_max_pages=5))
    ptrs = [k.vmalloc(4096) for _ in range(4)]
    for i, p in enumerate(ptrs[:2]):
        k.vfree(p)
        assert k.stats().vmap_lazy_nr == 2 * (i + 1)
        k.check()
    k.vfree(ptrs[2])           # 6 > 5: purge now, one flush over the union of three areas
    s = k.stats()
    assert (s.vmap_lazy_nr, s.nr_purges, s.nr_tlb_flushes) == (0, 1, 1)
    assert k.vmalloc(3 * 4096) == K       # the merged space is reusable at once
    k.check()


def test_blocking_allocation_purges_once_when_the_range_is_full() -> None:
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


# -- vmalloc family ---------------------------------------------------------------------

def test_vmalloc_huge_maps_pmds_and_falls_back() -> None:
    k = Kernel()
    p = k.vmalloc_huge(3 * PMD_SIZE + 1)
    assert p is not None and p % PMD_SIZE == 0
    area = k.find_vm_area(p)
    assert area is not None and area.page_order == 9 and area.nr_pages == 2048
    assert area.size == 4 * PMD_SIZE + 4096
    assert len(k.machine.pgtable.pmd) == 4 and not any(K <= v << 12 < K + (4 << 21) for v in k.machine.pgtable.pte)
    assert k.vmalloc_to_page(p + PMD_SIZE + 5 * 4096) == area.pages[512 + 5]
    k.check()
    small = Kernel(KernelConfig(huge_vmalloc=False))
    q = small.vmalloc_huge(PMD_SIZE)
    assert q is not None
    a2 = small.find_vm_area(q)
    assert a2 is not None and a2.page_order == 0 and q == K
    small.check()


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
    assert p == K + PMD_SIZE + 4096            # the 2 MiB-aligned VA at K went lazy
    area = k.find_vm_area(p)
    assert area is not None and area.page_order == 0 and area.nr_pages == 512
    assert k.dmesg == []                       # the huge attempt fails silently
    assert k.vmallocinfo().splitlines()[-1] == \
        "0xffffc90000000000-0xffffc90000201000 2101248 unpurged vm_area"
    k.check()


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


def test_page_allocation_failure_frees_everything_and_leaves_va_lazy() -> None:
    k = Kernel(KernelConfig(ram=4 << 20))
    free_before = k.stats().free_pages
    with quiet():
        assert k.vmalloc(1023 * 4096) is None     # 1024 frames, 3 taken by the page array
    assert k.dmesg[-1] == "kvalloc: vmalloc error: size 4190208, failed to allocate pages, " + \
        mode(0xCC2, "GFP_KERNEL|__GFP_HIGHMEM")
    s = k.stats()
    assert s.free_pages == free_before and s.vmap_areas == 0 and s.nr_vmalloc_pages == 0
    assert "unpurged vm_area" in k.vmallocinfo()
    k.check()


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
    assert r == v + 16384
    assert k.vmallocinfo().splitlines()[0] == "0xffffc90000004000-0xffffc90000006000    8192 vm_map_ram"
    assert k.find_vm_area(r) is None
    k.vm_unmap_ram(r, 2)
    with pytest.raises(KernelBug):
        k.vm_unmap_ram(r + 1, 2)
    for p in pages:
        k.free_pages(p, 0)
    k.check()


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


# -- kmalloc ----------------------------------------------------------------------------

@pytest.mark.parametrize("size,cls", [(1, 8), (8, 8), (9, 16), (64, 64), (65, 96), (96, 96),
                                      (97, 128), (129, 192), (193, 256), (4097, 8192), (8192, 8192)])
def test_kmalloc_size_classes(size: int, cls: int) -> None:
    k = Kernel()
    p = k.kmalloc(size)
    assert p is not None and k.ksize(p) == cls
    k.kfree(p)
    assert k.stats().slab_pages == 0
    k.check()


def test_slab_layout_and_large_kmalloc() -> None:
    k = Kernel()
    objs = [k.kmalloc(96) or 0 for _ in range(43)]  # 42 per page in kmalloc-96
    base = PAGE_OFFSET + 0x100000 * 4096
    assert objs[:2] == [base, base + 96] and objs[41] == base + 41 * 96
    assert objs[42] == base + 4096
    assert k.stats().slab_pages == 2
    k.kfree(objs[5])
    assert k.kmalloc(90) == objs[5]                 # lowest free object of the lowest slab
    k.check()
    big = k.kmalloc(9000)
    assert big is not None and k.ksize(big) == 16384
    assert k.kmalloc(0) == ZERO_SIZE_PTR and k.ksize(ZERO_SIZE_PTR) == 0
    k.kfree(ZERO_SIZE_PTR)
    k.kfree(None)
    with quiet():
        assert k.kmalloc(KMALLOC_MAX_SIZE + 1) is None
    assert k.dmesg == warn_lines(None, "__alloc_pages_noprof")
    assert k.kmalloc(KMALLOC_MAX_SIZE) is not None
    with pytest.raises(KernelBug):
        k.kfree(objs[0] + 8)
    k.check()


# -- refused requests change nothing ----------------------------------------------------

def test_refused_requests_follow_the_kernel_and_change_nothing() -> None:
    k = Kernel(KernelConfig(ram=64 << 20))
    p = k.vmalloc(3 * 4096)
    assert p is not None
    k.check()
    assert_refused(k, lambda: k.vmalloc(0), None,
                   warn_lines(None, "__vmalloc_node_range_noprof"), 1)
    assert_refused(k, lambda: k.vmalloc(0), None, [], 0)          # WARN_ON_ONCE
    assert_refused(k, lambda: k.vmalloc(1 << 40), None,
                   ["kvalloc: vmalloc error: size 1099511627776, exceeds total pages, "
                    + mode(0xCC0, "GFP_KERNEL")], 1)
    assert_refused(k, lambda: k.vmalloc(4096, GFP.KERNEL, align=3), None,
                   ["kvalloc: vmalloc error: size 4096, vm_struct allocation failed, "
                    + mode(0xCC0, "GFP_KERNEL")], 1)
    assert_refused(k, lambda: k.vfree(p + 1), None,
                   warn_lines(f"Trying to vfree() bad address ({p + 1:016x})", "remove_vm_area")
                   + warn_lines(f"Trying to vfree() nonexistent vm area ({p + 1:016x})", "vfree"), 2)
    assert_refused(k, lambda: k.vfree(K + (1 << 30)), None,
                   warn_lines(f"Trying to vfree() nonexistent vm area ({K + (1 << 30):016x})", "vfree"), 1)
    assert_refused(k, lambda: k.vfree(0), None, [], 0)
    k.vfree(p + 4096)                  # page-aligned interior address: frees the whole area
    assert k.stats().vmap_areas == 0
    assert_refused(k, lambda: k.vfree(p), None,
                   warn_lines(f"Trying to vfree() nonexistent vm area ({p:016x})", "vfree"), 1)


@pytest.mark.parametrize("call", [
    lambda k: k.vmalloc(4096.0), lambda k: k.vmalloc(True), lambda k: k.vmalloc("1"),
    lambda k: k.vmalloc(4096, align=2.0), lambda k: k.kmalloc(None), lambda k: k.vfree("p"),
    lambda k: k.alloc_pages(1.0), lambda k: k.read(K, 1.5), lambda k: k.write(K, "str"),
    lambda k: k.vmalloc(4096, GFP.KERNEL, caller=5), lambda k: k.vmalloc(4096, node=None),
])
def test_wrong_types_raise_type_error(call: object) -> None:
    k = Kernel()
    before = k.stats()
    with pytest.raises(TypeError, match="must be|expected"):
        call(k)  # type: ignore[operator]
    assert k.stats() == before
    k.check()


@pytest.mark.parametrize("call", [
    lambda k: k.vmalloc(-1), lambda k: k.vmalloc(2**64), lambda k: k.kmalloc(-5),
    lambda k: k.vmalloc(4096, align=-1), lambda k: k.vmalloc(4096, align=2**64),
    lambda k: k.vfree(-1), lambda k: k.alloc_pages(-1), lambda k: k.memset(K, 256, 1),
    lambda k: k.vmalloc(4096, node=1), lambda k: k.read(-1, 1),
])
def test_out_of_domain_values_raise_value_error(call: object) -> None:
    k = Kernel()
    before = k.stats()
    with pytest.raises(ValueError, match="must"):
        call(k)  # type: ignore[operator]
    assert k.stats() == before
    k.check()


def test_panic_on_warn_raises_kernel_panic() -> None:
    k = Kernel(KernelConfig(panic_on_warn=True))
    with pytest.raises(KernelPanic), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k.vfree(K)
    assert k.dmesg[-1] == "Kernel panic - not syncing: kernel: panic_on_warn set ..."


def test_check_names_the_broken_invariant() -> None:
    k = Kernel()
    p = k.vmalloc(4096)
    assert p is not None
    k.machine.mem.nr_vmalloc += 1                  # corrupt a counter on purpose
    with pytest.raises(KernelBug, match="^INV-CNT-1"):
        k.check()
    k.machine.mem.nr_vmalloc -= 1
    del k.machine.pgtable.pte[p >> 12]             # unmap a page behind the allocator's back
    with pytest.raises(KernelBug, match="^INV-PT-1"):
        k.check()


def test_stats_are_unchanged_by_views() -> None:
    k = Kernel()
    k.vmalloc(4096)
    before = stats_without_warnings(k)
    k.vmallocinfo(), k.meminfo(), k.buddyinfo(), k.check()
    assert stats_without_warnings(k) == before
