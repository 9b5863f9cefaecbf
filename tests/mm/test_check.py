"""Kernel.check() (kvalloc.mm.check): clean on fresh kernels, names a broken invariant."""

from __future__ import annotations

import pytest

import kvalloc
from kvalloc import GFP, Kernel, KernelBug, KernelConfig

from ..helpers import nn


@pytest.mark.spec
def test_check_passes_on_fresh_kernel_and_default_kernel() -> None:
    Kernel().check()
    k = kvalloc.default_kernel()
    assert k is kvalloc.default_kernel()
    k.check()


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


def test_check_names_a_broken_busy_or_lazy_tree() -> None:
    k = Kernel()
    nn(k.vmalloc(4096))
    b = nn(k.vmalloc(4096))
    k.vfree(b)                                     # b's area is lazy now
    k.check()
    busy = k.machine.kva.busy
    busy._heads[0] += 1                            # a chunk head that is not its first start
    with pytest.raises(KernelBug, match=r"^INV-KVA-1: busy tree broken \(chunk order\)$"):
        k.check()
    busy._heads[0] -= 1
    lazy = k.machine.kva.lazy
    lazy._map.pop(b)                               # a start with no area
    with pytest.raises(KernelBug, match=r"^INV-KVA-1: lazy tree broken \(keys differ\)$"):
        k.check()


MODULES_VADDR = 0xFFFFFFFFA0000000
MODULES_END = 0xFFFFFFFFFF000000


def test_check_accepts_a_vmalloc_node_range_in_the_module_range() -> None:
    # __vmalloc_node_range() over MODULES_VADDR..MODULES_END is how module_alloc() works
    k = Kernel()
    p = nn(k.vmalloc_node_range(8192, 4096, MODULES_VADDR, MODULES_END, GFP.KERNEL, 0))
    assert MODULES_VADDR <= p < MODULES_END
    k.write(p, b"x")
    k.check()
    k.vfree(p)
    k.check()


@pytest.mark.parametrize("kasan", ["generic", "sw_tags"])
def test_check_accepts_vrealloc_through_an_interior_pointer(kasan: str) -> None:
    # vrealloc_node_align_noprof() finds the area of an interior pointer and annotates KASAN
    # from that pointer; the shadow invariant holds only for resizes through the start
    k = Kernel(KernelConfig(kasan=kasan))  # type: ignore[arg-type]
    p = nn(k.vmalloc(5000))
    assert k.vrealloc(p + 5, 100) == p + 5
    k.check()
    assert k.kasan_reports == []
