"""GFP and VM_* flag values and %pGg rendering (kvalloc.gfp, kvalloc.flags, kvalloc.vm_flags)."""

from __future__ import annotations

import pytest

import kvalloc
import kvalloc.flags
from kvalloc import GFP, VM, VMALLOC_END, VMALLOC_START, Kernel, KernelConfig

from .helpers import MIB, kernel_warnings, warn_alloc

pytestmark = pytest.mark.spec


def test_gfp_values_kernel_2() -> None:
    # KERNEL.md 2.1 / 2.2
    singles = {
        GFP.DMA: 0x01, GFP.HIGHMEM: 0x02, GFP.DMA32: 0x04, GFP.HIGH: 0x20, GFP.IO: 0x40,
        GFP.FS: 0x80, GFP.ZERO: 0x100, GFP.DIRECT_RECLAIM: 0x400, GFP.KSWAPD_RECLAIM: 0x800,
        GFP.NOWARN: 0x2000, GFP.RETRY_MAYFAIL: 0x4000, GFP.NOFAIL: 0x8000,
        GFP.NORETRY: 0x10000, GFP.COMP: 0x40000, GFP.THISNODE: 0x200000,
        GFP.ACCOUNT: 0x400000,
    }
    for flag, value in singles.items():
        assert int(flag) == value, flag
    assert int(GFP.KERNEL) == 0xCC0
    assert int(GFP.KERNEL_ACCOUNT) == 0x400CC0
    assert int(GFP.ATOMIC) == 0x820
    assert int(GFP.NOWAIT) == 0x2800
    assert int(GFP.NOIO) == 0xC00
    assert int(GFP.NOFS) == 0xC40
    assert int(GFP.USER) == 0x100CC0
    f = kvalloc.flags
    assert isinstance(f.GFP_KERNEL, GFP)
    assert f.GFP_KERNEL == GFP.KERNEL and f.GFP_KERNEL_ACCOUNT == GFP.KERNEL_ACCOUNT
    assert f.GFP_ATOMIC == GFP.ATOMIC and f.GFP_NOWAIT == GFP.NOWAIT
    assert f.GFP_NOFS == GFP.NOFS and f.GFP_NOIO == GFP.NOIO
    assert f.__GFP_ZERO == GFP.ZERO and f.__GFP_NOWARN == GFP.NOWARN
    assert f.__GFP_HIGHMEM == GFP.HIGHMEM and f.__GFP_ACCOUNT == GFP.ACCOUNT
    assert f.__GFP_NOFAIL == GFP.NOFAIL and f.__GFP_NORETRY == GFP.NORETRY
    assert f.__GFP_THISNODE == GFP.THISNODE


def test_vm_flag_values_kernel_3_1() -> None:
    expected = {
        VM.IOREMAP: 0x1, VM.ALLOC: 0x2, VM.MAP: 0x4, VM.USERMAP: 0x8, VM.DMA_COHERENT: 0x10,
        VM.UNINITIALIZED: 0x20, VM.NO_GUARD: 0x40, VM.KASAN: 0x80,
        VM.FLUSH_RESET_PERMS: 0x100, VM.MAP_PUT_PAGES: 0x200, VM.ALLOW_HUGE_VMAP: 0x400,
        VM.SPARSE: 0x1000,
    }
    for flag, value in expected.items():
        assert int(flag) == value, flag


# -- %pGg rendering --------------------------------------------------------------------------------


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
        # 8.3 step 2; __vmalloc_node_range() has no gfp filter, so every flag is rendered
        assert k.vmalloc_node_range(size, 1, VMALLOC_START, VMALLOC_END, gfp, VM(0)) is None
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
