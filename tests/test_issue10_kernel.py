"""Regressions at the edges of the kernel layer: ownership transfer in vmap, align=0 resizes,
cgroups of another kernel, check() after legal calls, config and allocator argument types."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from kvalloc import GFP, VM, Kernel, KernelConfig, Kmalloc, KVmalloc, Layout, Vmalloc

from .helpers import nn, quiet, stats_without_warnings, warn_lines

MODULES_VADDR = 0xFFFFFFFFA0000000
MODULES_END = 0xFFFFFFFFFF000000


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


def test_vrealloc_with_align_0_warns_as_is_aligned_is_false() -> None:
    # mm/vmalloc.c: vrealloc_node_align_noprof(): !IS_ALIGNED(p, 0) -> WARN, return NULL
    k = Kernel()
    p = nn(k.vmalloc(5000))
    k.write(p, b"keep")
    before = stats_without_warnings(k)
    n = len(k.dmesg)
    with quiet():
        assert k.vrealloc(p, 100, align=0) is None
    assert k.dmesg[n:] == warn_lines("will not reallocate with a bigger alignment (0x0)",
                                     "vrealloc_node_align_noprof")
    after = stats_without_warnings(k)
    assert after.pop("vrealloc_calls") == before.pop("vrealloc_calls") + 1
    assert after == before
    assert k.read(p, 4) == b"keep"
    k.check()


def test_krealloc_with_align_0_allocates_anew() -> None:
    # mm/slub.c: krealloc: !IS_ALIGNED(p, 0) -> a new object, contents copied, old freed
    k = Kernel()
    p = nn(k.kmalloc(100))
    k.write(p, b"data")
    q = nn(k.krealloc(p, 50, align=0))
    assert q != p
    assert k.read(q, 4) == b"data"
    k.check()


def test_memcg_refuses_a_cgroup_of_another_kernel() -> None:
    a, b = Kernel(), Kernel()
    b_cg = b.memcg.create("b")
    with pytest.raises(ValueError, match="belongs to another Kernel"):
        with a.memcg.charge_to(b_cg):
            a.vmalloc(8192, GFP.KERNEL_ACCOUNT)
    with pytest.raises(ValueError, match="belongs to another Kernel"):
        a.memcg.create("x", parent=b_cg)
    assert b_cg.usage == 0 and [c.name for c in b_cg.children] == []
    a.check()
    b.check()


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


@pytest.mark.parametrize("field, value", [("kasan", None), ("kasan", 1), ("kasan_fault", True),
                                          ("vrealloc", 9)])
def test_kernel_config_wrong_types_raise_type_error(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"KernelConfig.{field} must be str"):
        KernelConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [Kmalloc, Vmalloc, KVmalloc])
@pytest.mark.parametrize("flags", ["3264", 3264.7, None])
def test_allocators_refuse_non_int_flags(cls: type[Kmalloc], flags: object) -> None:
    k = Kernel()
    before = stats_without_warnings(k)
    with pytest.raises(TypeError, match="flags must be int"):
        cls(k).alloc(Layout(8), flags)  # type: ignore[arg-type]
    assert stats_without_warnings(k) == before
    k.check()


_RSS_SCRIPT = """
import sys, warnings
warnings.simplefilter("ignore")
from kvalloc import Kernel, KernelConfig
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
k = Kernel(KernelConfig(kasan=sys.argv[1], ram=2 << 30))
before = rss()
p = k.vmalloc(1 << 30)
k.write(p, b"x")
print(rss() - before)
"""


@pytest.mark.skipif(not pathlib.Path("/proc/self/statm").exists(), reason="needs /proc")
@pytest.mark.parametrize("kasan", ["generic", "sw_tags"])
def test_kasan_shadow_of_a_1_gib_area_is_lazy(kasan: str) -> None:
    def cost(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, mode], capture_output=True,
                             text=True, check=True)
        return int(out.stdout)

    assert cost(kasan) - cost("off") < 16 << 20
