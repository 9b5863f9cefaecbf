"""Kernel.check() (kvalloc.mm.check): clean on fresh kernels, names a broken invariant."""

from __future__ import annotations

import pytest

import kvalloc
from kvalloc import Kernel, KernelBug


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
    k.mem.nr_vmalloc += 1                  # corrupt a counter on purpose
    with pytest.raises(KernelBug, match="^INV-CNT-1"):
        k.check()
    k.mem.nr_vmalloc -= 1
    del k.pgtable.pte[p >> 12]             # unmap a page behind the allocator's back
    with pytest.raises(KernelBug, match="^INV-PT-1"):
        k.check()
