"""The allocator layer: big alignments on every allocator, and their history."""

from __future__ import annotations

import pytest

from kvalloc import AllocError, KVmalloc, Kernel, KernelConfig, Kmalloc, Layout, Vmalloc

from .helpers import stats_without_warnings


@pytest.mark.parametrize("alloc", [Kmalloc, Vmalloc, KVmalloc])
@pytest.mark.parametrize("align", [128, 8192])
@pytest.mark.parametrize("size", [100, 20000, 5 << 20])
def test_alignments_above_min_align_work_on_the_latest_kernel(
        alloc: type[Kmalloc] | type[Vmalloc] | type[KVmalloc], align: int, size: int) -> None:
    k = Kernel()
    a = alloc(k)
    if alloc is Kmalloc and size > 4 << 20:
        with pytest.raises(AllocError):
            a.alloc(Layout(size, align))
        return
    p = a.alloc(Layout(size, align))
    assert p % align == 0
    k.write(p, b"kept")
    q = a.realloc(p, Layout(3 * size, align), Layout(size, align))
    assert q % align == 0 and k.read(q, 4) == b"kept"
    a.free(q, Layout(3 * size, align))
    k.vm_unmap_aliases()
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.slab_pages, s.free_pages) == (0, 0, s.total_pages)


@pytest.mark.parametrize("alloc,name", [(Vmalloc, "Vmalloc"), (KVmalloc, "KVmalloc")])
def test_before_aligned_vrealloc_big_alignments_are_refused(
        alloc: type[Vmalloc] | type[KVmalloc], name: str) -> None:
    k = Kernel(KernelConfig(vrealloc="v6.15"))
    before = stats_without_warnings(k)
    with pytest.raises(AllocError):
        alloc(k).alloc(Layout(100, 8192))
    assert k.dmesg == [f"{name} does not support alignments larger than PAGE_SIZE yet."]
    assert stats_without_warnings(k) == before
    assert alloc(k).alloc(Layout(100, 4096)) % 4096 == 0
    k.check()
