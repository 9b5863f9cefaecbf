"""kmalloc on the slab model (kvalloc.mm.slab): size classes, slab layout, large kmalloc."""

from __future__ import annotations

import pytest

from kvalloc import (
    GFP,
    KMALLOC_MAX_SIZE,
    ZERO_SIZE_PTR,
    Kernel,
    KernelBug,
    KernelConfig,
)

from ..helpers import (
    FRESH_BUDDY,
    MIB,
    PAGE_OFFSET,
    PFN0,
    TOTAL_4G,
    buddy,
    buddy_line,
    ck,
    dm,
    failing,
    kernel_warnings,
    nn,
    quiet,
    warn_lines,
    warn_on,
)

# -- size classes and slab layout ------------------------------------------------------------------


@pytest.mark.parametrize("size,cls", [(1, 8), (8, 8), (9, 16), (64, 64), (65, 96), (96, 96),
                                      (97, 128), (129, 192), (193, 256), (4097, 8192), (8192, 8192)])
def test_kmalloc_size_classes_and_kfree(size: int, cls: int) -> None:
    k = Kernel()
    p = k.kmalloc(size)
    assert p is not None and k.ksize(p) == cls
    k.kfree(p)
    assert k.stats().slab_pages == 0
    k.check()


@pytest.mark.spec
@pytest.mark.parametrize(
    ("size", "klass"),
    [
        (1, 8), (8, 8), (9, 16), (16, 16), (17, 32), (33, 64), (64, 64), (65, 96), (96, 96),
        (97, 128), (128, 128), (129, 192), (192, 192), (193, 256), (257, 512), (513, 1024),
        (1025, 2048), (2049, 4096), (4097, 8192), (8192, 8192),
    ],
)
def test_kmalloc_size_classes(size: int, klass: int) -> None:
    k = Kernel()
    p = nn(ck(k, k.kmalloc(size)))
    assert p == dm(PFN0)  # 11.2: first object of the first slab
    assert k.ksize(p) == klass  # 11.1
    # 11.2 slab order: one page up to 512, then 2, 4, 8, 8 pages
    slab = {1024: 2, 2048: 4, 4096: 8, 8192: 8}.get(klass, 1)
    assert k.stats().slab_pages == slab
    k.kfree(p)
    k.check()
    s = k.stats()
    assert (s.slab_pages, s.free_pages) == (0, TOTAL_4G)


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


@pytest.mark.spec
@pytest.mark.parametrize(("klass", "per_slab"), [(96, 42), (192, 21)])
def test_kmalloc_odd_class_slab_layout(klass: int, per_slab: int) -> None:
    k = Kernel()
    objs = [nn(ck(k, k.kmalloc(klass))) for _ in range(per_slab)]
    assert objs == [dm(PFN0) + klass * i for i in range(per_slab)]  # 11.2
    extra = nn(ck(k, k.kmalloc(klass - 1)))
    assert extra == dm(PFN0 + 1)  # a new slab from the lowest free frame
    assert k.stats().slab_pages == 2
    k.kfree(extra)
    k.check()
    assert k.stats().slab_pages == 1  # empty slab returned at once
    k.kfree(objs[5])
    k.check()
    assert ck(k, k.kmalloc(klass)) == objs[5]  # freed object reusable at once
    for o in objs:
        k.kfree(o)
        k.check()
    assert k.stats().slab_pages == 0


@pytest.mark.spec
def test_kmalloc_caches_are_separate() -> None:
    k = Kernel()
    a = nn(ck(k, k.kmalloc(96)))
    b = nn(ck(k, k.kmalloc(192)))
    c = nn(ck(k, k.kmalloc(1024)))
    # 11.2: one cache per class; slabs from the buddy allocator by lowest pfn
    assert (a, b, c) == (dm(PFN0), dm(PFN0 + 1), dm(PFN0 + 2))
    assert k.stats().slab_pages == 4


@pytest.mark.spec
def test_kmalloc_objects_live_in_the_direct_map() -> None:
    k = Kernel()
    a = nn(ck(k, k.kmalloc(16)))
    b = nn(ck(k, k.kmalloc(16)))
    # 11.2: kmalloc-16 slab is frame 0x100000, objects at offsets 0, 16, ...
    assert (a, b) == (dm(PFN0), dm(PFN0) + 16)
    assert a == 0xFFFF888100000000
    assert not k.is_vmalloc_addr(a)
    v = nn(ck(k, k.vmalloc(100)))
    k.write(v, b"0123456789abcdef")
    k.check()
    k.memcpy(b, v, 16)
    k.check()
    assert ck(k, k.read(b, 16)) == b"0123456789abcdef"
    k.memset(a, 0x41, 16)
    k.check()
    assert ck(k, k.read(dm(PFN0), 32)) == b"A" * 16 + b"0123456789abcdef"
    k.kfree(a)
    k.check()
    k.kfree(b)
    k.check()
    k.vfree(v)
    k.check()


# -- zero size, NULL, kfree, contents --------------------------------------------------------------


@pytest.mark.spec
def test_kmalloc_zero_and_null() -> None:
    k = Kernel()
    z = ck(k, k.kmalloc(0))
    assert z == ZERO_SIZE_PTR  # 11.1
    assert k.ksize(ZERO_SIZE_PTR) == 0 and k.ksize(0) == 0
    assert failing(k, lambda: k.kfree(ZERO_SIZE_PTR), [], 0) is None
    assert failing(k, lambda: k.kfree(0), [], 0) is None
    assert ck(k, k.kzalloc(0)) == ZERO_SIZE_PTR
    assert k.stats().slab_pages == 0


@pytest.mark.spec
def test_kfree_of_non_kmalloc_address_is_a_bug() -> None:
    k = Kernel()
    p = nn(ck(k, k.kmalloc(32)))
    k.kfree(p)
    k.check()
    with pytest.raises(KernelBug):  # 11.1
        k.kfree(p)
    k.check()
    with pytest.raises(KernelBug):
        k.ksize(p)
    k.check()
    v = nn(ck(k, k.vmalloc(4096)))
    with pytest.raises(KernelBug):
        k.kfree(v)
    k.check()


@pytest.mark.spec
def test_kmalloc_stale_and_kzalloc_whole_class() -> None:
    k = Kernel()
    a = nn(ck(k, k.kmalloc(100)))  # class 128
    k.write(a, b"\xff" * 128)
    k.check()
    k.kfree(a)
    k.check()
    b = nn(ck(k, k.kmalloc(100)))
    assert b == a  # 11.2 lowest free object; slab frame is reused, not zeroed
    assert ck(k, k.read(b, 128)) == b"\xff" * 128
    k.kfree(b)
    k.check()
    z = nn(ck(k, k.kzalloc(100)))
    assert z == a
    assert ck(k, k.read(z, 128)) == bytes(128)  # 11.1: the whole class size is zeroed


# -- large kmalloc and failures --------------------------------------------------------------------


@pytest.mark.spec
def test_large_kmalloc() -> None:
    k = Kernel()
    p = nn(ck(k, k.kmalloc(8193)))
    # 11.1: order get_order(8193) = 2 compound block, not a slab
    assert p == dm(PFN0)
    assert k.ksize(p) == 16384
    s = k.stats()
    assert (s.slab_pages, s.free_pages) == (0, TOTAL_4G - 4)
    assert buddy(k) == [buddy_line([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1023])]
    k.write(p + 16380, b"tail")
    k.check()
    assert ck(k, k.read(dm(PFN0 + 3) + 4092, 4)) == b"tail"
    k.kfree(p)
    k.check()
    assert buddy(k) == [FRESH_BUDDY]
    m = nn(ck(k, k.kmalloc(KMALLOC_MAX_SIZE)))
    assert m == dm(PFN0) and k.ksize(m) == KMALLOC_MAX_SIZE
    assert k.stats().free_pages == TOTAL_4G - 1024
    k.kfree(m)
    k.check()


@pytest.mark.spec
def test_kmalloc_above_max_size_warn_on_once() -> None:
    k = Kernel()
    # 11.1: order 11 fails with the page allocator's WARN_ON_ONCE
    lines = warn_on("__alloc_pages_noprof")
    assert failing(k, lambda: k.kmalloc(KMALLOC_MAX_SIZE + 1, GFP.KERNEL | GFP.NOWARN), [], 0) is None
    assert failing(k, lambda: k.kmalloc(KMALLOC_MAX_SIZE + 1), lines, 1) is None
    assert failing(k, lambda: k.kzalloc(KMALLOC_MAX_SIZE * 2), [], 0) is None


@pytest.mark.spec
def test_kmalloc_out_of_memory() -> None:
    k = Kernel(KernelConfig(ram=4 * MIB))
    m = nn(ck(k, k.kmalloc(KMALLOC_MAX_SIZE)))
    n = len(k.dmesg)
    with kernel_warnings(1):
        assert k.kmalloc(8) is None
    k.check()
    # 4.2: the slab refill fails in the page allocator (mode text not asserted: see report)
    assert len(k.dmesg) == n + 1
    assert k.dmesg[n].startswith("kvalloc: page allocation failure: order:0, mode:")
    assert k.dmesg[n].endswith(", nodemask=(null),cpuset=/,mems_allowed=0")
    assert failing(k, lambda: k.kmalloc(8, GFP.KERNEL | GFP.NOWARN), [], 0) is None
    k.kfree(m)
    k.check()


def test_a_slab_falls_back_to_its_minimum_order_when_memory_is_fragmented() -> None:
    # mm/slub.c: allocate_slab() tries the cache's order quietly (__GFP_NOWARN |
    # __GFP_NORETRY), then the minimum order (one object) with the caller's flags
    from kvalloc.tools.bench import fragmented_kernel
    k = fragmented_kernel(4 << 20)                  # every free frame is a single page
    n0 = len(k.dmesg)
    objs = [k.kmalloc(1024) for _ in range(5)]
    assert all(objs) and k.dmesg[n0:] == []         # no warning for the failed order-1 try
    assert k.stats().slab_pages == 2                # two order-0 slabs of 4 objects each
    slab = k.machine.slab.slab_of_pfn[(objs[0] - PAGE_OFFSET) >> 12]   # type: ignore[operator]
    assert slab.block.order == 0 and slab.objects == 4 and slab.cache.order == 1
    assert [o - objs[0] for o in objs[:4]] == [0, 1024, 2048, 3072]  # type: ignore[operator]
    k.check()
    for o in objs:
        k.kfree(o)
    assert k.stats().slab_pages == 0
    k.check()
    # a large kmalloc has no fallback: an order-1 block cannot be found
    assert k.kmalloc(8192 + 1, GFP.KERNEL | GFP.NOWARN) is None
    # with frames in pairs again, the cache's own order is used
    k2 = Kernel()
    x = k2.kmalloc(1024)
    assert x is not None and k2.stats().slab_pages == 2
    k2.check()


def test_check_catches_a_slab_whose_object_count_does_not_match_its_order() -> None:
    k = Kernel()
    x = k.kmalloc(1024)
    assert x is not None
    slab = k.machine.slab.slab_of_pfn[(x - PAGE_OFFSET) >> 12]
    slab.objects = 4                                # an order-1 slab holds 8
    with pytest.raises(KernelBug, match=r"^INV-CNT-3: kmalloc-1k slab 0x[0-9a-f]+ of order 1 "
                                        r"holds 4 objects$"):
        k.check()
