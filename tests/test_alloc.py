"""The allocator layer (kvalloc.alloc): Layout, Kmalloc, Vmalloc, KVmalloc, MoveOnly."""

from __future__ import annotations

from typing import Any

import pytest

from containers import Vec, u8
from kvalloc import (
    PAGE_SIZE,
    AllocError,
    Kernel,
    KernelConfig,
    KernelWarning,
    Kmalloc,
    KVmalloc,
    Layout,
    LayoutError,
    MoveOnly,
    Vmalloc,
)

from .helpers import (
    class_name as _name,
    fail_everything,
    memory_state,
    stats_without_warnings,
    warn_on,
)

# -- helpers ---------------------------------------------------------------------------------------


AllocClass = type[Kmalloc] | type[Vmalloc] | type[KVmalloc]
ALLOC_CLASSES: list[AllocClass] = [Kmalloc, Vmalloc, KVmalloc]


def pattern(n: int, seed: int = 0) -> bytes:
    """``n`` recognisable bytes (period 251, shifted by ``seed``)."""
    block = bytes((i * 7 + seed * 13 + 3) & 0xFF for i in range(251))
    return (block * (n // 251 + 1))[:n]


# -- Layout (API.md 5, core::alloc::Layout) --------------------------------------------------------


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_layout_fields_and_defaults() -> None:
    lay = Layout(10)
    assert (lay.size, lay.align) == (10, 1)
    assert Layout(24, 8) == Layout(24, 8)
    with pytest.raises(AttributeError):     # frozen
        setattr(lay, "size", 11)  # noqa: B010 (mypy rejects the assignment it tests)


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_layout_array() -> None:
    assert Layout.array(Layout(12, 4), 3) == Layout(36, 4)
    # each element is padded to its alignment: [T; n] has stride size_of::<T>() (padded)
    assert Layout.array(Layout(5, 8), 3) == Layout(24, 8)
    assert Layout.array(Layout(8, 8), 0) == Layout(0, 8)
    assert Layout.array(Layout(1), 4096).size == 4096


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_layout_pad_to_align_and_dangling() -> None:
    assert Layout(5, 8).pad_to_align() == Layout(8, 8)
    assert Layout(16, 8).pad_to_align() == Layout(16, 8)
    assert Layout(0, 64).pad_to_align() == Layout(0, 64)
    assert Layout(4097, 4096).pad_to_align() == Layout(8192, 4096)
    assert Layout(0, 64).dangling() == 64
    assert Layout(3).dangling() == 1
    assert Layout(100, 8192).dangling() == 8192


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("align", [0, 3, 6, 12, 100, -1, -8])
def test_layout_rejects_non_power_of_two_align(align: int) -> None:
    with pytest.raises(LayoutError):
        Layout(8, align)


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_layout_rejects_negative_size() -> None:
    with pytest.raises(LayoutError):
        Layout(-1)
    with pytest.raises(LayoutError):
        Layout(-1, 8)
    assert issubclass(LayoutError, ValueError)


# -- Allocators (API.md 5; KERNEL.md 10.10, 11.3, 11.5) --------------------------------------------


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_min_align() -> None:
    # rust/kernel/alloc/allocator.rs: ARCH_KMALLOC_MINALIGN (8 on x86_64), PAGE_SIZE for vmalloc
    assert Kmalloc.MIN_ALIGN == 8
    assert Vmalloc.MIN_ALIGN == 4096
    assert KVmalloc.MIN_ALIGN == 8


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_allocator_kernel_and_min_align_on_instances(k: Kernel, cls: AllocClass) -> None:
    a = cls(k)
    assert a.kernel is k
    assert a.MIN_ALIGN == cls.MIN_ALIGN


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_realloc_from_none_allocates(k: Kernel, cls: AllocClass) -> None:
    a = cls(k)
    p = a.realloc(None, Layout(100, 8), Layout(0, 8))
    assert p % 8 == 0 and p > PAGE_SIZE
    k.write(p, pattern(100))
    assert k.read(p, 100) == pattern(100)
    a.free(p, Layout(100, 8))


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_realloc_with_old_size_zero_allocates(k: Kernel, cls: AllocClass) -> None:
    # a zero-sized old layout means the pointer is dangling (== align): it is not freed
    a = cls(k)
    p = a.realloc(8, Layout(64, 8), Layout(0, 8))
    assert p != 8 and p % 8 == 0
    k.write(p, pattern(64))
    assert k.read(p, 64) == pattern(64)
    a.free(p, Layout(64, 8))


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
@pytest.mark.parametrize("size", [100, 20000])
def test_realloc_to_size_zero_frees_and_returns_dangling(k: Kernel, cls: AllocClass,
                                                         size: int) -> None:
    a = cls(k)
    before = memory_state(k)
    p = a.alloc(Layout(size, 64))
    assert memory_state(k) != before
    assert a.realloc(p, Layout(0, 64), Layout(size, 64)) == 64
    assert memory_state(k) == before
    q = a.alloc(Layout(size, 16))
    a.free(q, Layout(size, 16))
    assert memory_state(k) == before


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_alloc_of_size_zero_returns_dangling_and_allocates_nothing(k: Kernel,
                                                                   cls: AllocClass) -> None:
    a = cls(k)
    before = memory_state(k)
    assert a.alloc(Layout(0, 32)) == 32
    assert a.realloc(None, Layout(0, 4096), Layout(0)) == 4096
    assert memory_state(k) == before


RESIZE_CHAINS = {
    # sizes exercising in-place and moving resizes of each allocator (KERNEL.md 10.10, 11.3)
    "Kmalloc": [100, 120, 5000, 50, 3, 200000, 8000, 1],
    "Vmalloc": [100, 3000, 4096, 20000, 10, 9000, 300000, 2],
    "KVmalloc": [100, 3000, 20000, 5 << 20, 6 << 20, 4096, 10, 1000],
}


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
def test_resize_keeps_min_old_new_bytes(k: Kernel, cls: AllocClass) -> None:
    a = cls(k)
    sizes = RESIZE_CHAINS[cls.__name__]
    p = a.alloc(Layout(sizes[0], 8))
    k.write(p, pattern(sizes[0], 0))
    for step, (old, new) in enumerate(zip(sizes, sizes[1:]), 1):
        q = a.realloc(p, Layout(new, 8), Layout(old, 8))
        assert q % 8 == 0
        keep = min(old, new)
        assert k.read(q, keep) == pattern(old, step - 1)[:keep], (old, new)
        k.write(q, pattern(new, step))
        k.check()
        p = q
    a.free(p, Layout(sizes[-1], 8))


def _area(kern: Kernel, p: int | None) -> tuple[int, ...]:
    """What the kernel knows about an allocation: its vmalloc area or its kmalloc size."""
    if p is None:
        return ()
    if kern.is_vmalloc_addr(p):
        vm = kern.find_vm_area(p)
        assert vm is not None
        return (vm.addr, vm.size, vm.nr_pages, vm.requested_size)
    return (kern.ksize(p),)


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
@pytest.mark.parametrize("old,new", [(100, 100000), (3000, 9000), (0, 64), (0, 100000)])
def test_failed_realloc_raises_and_keeps_old_allocation(k: Kernel, cls: AllocClass, old: int,
                                                        new: int) -> None:
    a = cls(k)
    p = a.alloc(Layout(old, 8)) if old else None
    if p is not None:
        k.write(p, pattern(old))
    area_before = _area(k, p)
    before = memory_state(k)
    fail_everything(k)
    try:
        with pytest.raises(AllocError):
            a.realloc(p, Layout(new, 8), Layout(old, 8))
    finally:
        k.fault.clear()
    k.check()
    assert memory_state(k) == before
    assert _area(k, p) == area_before
    if p is not None:
        # still valid, same contents, resizable and freeable
        assert k.read(p, old) == pattern(old)
        q = a.realloc(p, Layout(new, 8), Layout(old, 8))
        assert k.read(q, old) == pattern(old)
        a.free(q, Layout(new, 8))


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_alloc_error_is_memory_error() -> None:
    assert issubclass(AllocError, MemoryError)


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
@pytest.mark.parametrize("cls", ALLOC_CLASSES, ids=_name)
@pytest.mark.parametrize("align", [128, 8192])
def test_large_alignments(k: Kernel, cls: AllocClass, align: int) -> None:
    a = cls(k)
    sizes = [1, 100, align, 3 * align + 5, 20000, 40, 70000, 8]
    p = a.alloc(Layout(sizes[0], align))
    assert p % align == 0
    k.write(p, b"\x5a")
    for old, new in zip(sizes, sizes[1:]):
        q = a.realloc(p, Layout(new, align), Layout(old, align))
        assert q % align == 0, (old, new, hex(q))
        assert k.read(q, 1) == b"\x5a"
        p = q
    a.free(p, Layout(sizes[-1], align))


@pytest.mark.parametrize("alloc", [Kmalloc, Vmalloc, KVmalloc])
@pytest.mark.parametrize("align", [128, 8192])
@pytest.mark.parametrize("size", [100, 20000, 5 << 20])
def test_alignments_above_min_align_work_on_the_latest_kernel(
        alloc: type[Kmalloc] | type[Vmalloc] | type[KVmalloc], align: int, size: int) -> None:
    k = Kernel()
    a = alloc(k)
    if alloc is Kmalloc and size > 4 << 20:            # above KMALLOC_MAX_SIZE: refused
        before = memory_state(k)
        with pytest.warns(KernelWarning, match="^WARNING at __alloc_pages_noprof$"), \
                pytest.raises(AllocError):
            a.alloc(Layout(size, align))
        assert k.dmesg == warn_on("__alloc_pages_noprof")    # the order-11 WARN_ON_ONCE
        assert memory_state(k) == before
        k.check()
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


# -- each allocator goes through the kernel's own resize function ----------------------------------


def _spy(monkeypatch: pytest.MonkeyPatch, kern: Kernel, name: str) -> list[int]:
    """Record each call of the kernel resize function ``name`` (the machine's one resize entry)."""
    calls: list[int] = []
    machine = kern.machine
    real = machine.realloc

    def wrapper(kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == name:
            calls.append(1)
        return real(kind, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(machine, "realloc", wrapper)
    return calls


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_kmalloc_goes_through_krealloc(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    kre, vre, kvre = (_spy(monkeypatch, k, n) for n in ("krealloc", "vrealloc", "kvrealloc"))
    a = Kmalloc(k)
    p = a.alloc(Layout(100, 8))
    assert not k.is_vmalloc_addr(p)
    p = a.realloc(p, Layout(5000, 8), Layout(100, 8))
    a.free(p, Layout(5000, 8))
    assert len(kre) == 3 and not vre and not kvre
    assert k.stats().vrealloc_calls == 0


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_vmalloc_goes_through_vrealloc(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    kre, vre, kvre = (_spy(monkeypatch, k, n) for n in ("krealloc", "vrealloc", "kvrealloc"))
    a = Vmalloc(k)
    p = a.alloc(Layout(100, 8))
    assert k.is_vmalloc_addr(p)
    q = a.realloc(p, Layout(4000, 8), Layout(100, 8))         # same page: grow in place
    assert q == p
    q = a.realloc(q, Layout(40000, 8), Layout(4000, 8))       # beyond: moved
    a.free(q, Layout(40000, 8))
    s = k.stats()
    assert len(vre) == 4 and not kre and not kvre
    assert s.vrealloc_calls == 4
    assert s.vrealloc_grow_in_place == 1
    assert s.vrealloc_moved == 2        # the first allocation (p = NULL) counts as moved (10.12)
    assert s.vrealloc_bytes_copied == 4000


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_kvmalloc_goes_through_kvrealloc(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    kvre = _spy(monkeypatch, k, "kvrealloc")
    a = KVmalloc(k)
    p = a.alloc(Layout(100, 8))
    assert not k.is_vmalloc_addr(p)          # small: kmalloc
    big = 5 << 20                            # above KMALLOC_MAX_SIZE: vmalloc fallback
    p = a.realloc(p, Layout(big, 8), Layout(100, 8))
    assert k.is_vmalloc_addr(p)
    calls_before = k.stats().vrealloc_calls
    p = a.realloc(p, Layout(big + 1000, 8), Layout(big, 8))   # vmalloc memory: vrealloc
    s = k.stats()
    assert s.vrealloc_calls == calls_before + 1
    assert s.vrealloc_grow_in_place >= 1
    a.free(p, Layout(big + 1000, 8))
    assert len(kvre) == 4


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_vvec_shrink_through_vrealloc_frees_pages_latest_profile(k: Kernel) -> None:
    # KERNEL.md 10.11: shrinking a 64-page area to 16 KiB frees 60 pages in place
    a = Vmalloc(k)
    p = a.alloc(Layout(262144))
    s0 = k.stats()
    assert a.realloc(p, Layout(16384), Layout(262144)) == p
    s1 = k.stats()
    assert s1.nr_vmalloc_pages == s0.nr_vmalloc_pages - 60
    assert s1.vrealloc_pages_freed == s0.vrealloc_pages_freed + 60
    assert s1.free_pages == s0.free_pages + 60
    assert s1.vrealloc_shrink == s0.vrealloc_shrink + 1
    a.free(p, Layout(16384))


# -- MoveOnly --------------------------------------------------------------------------------------


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_move_only_never_resizes_in_place(k: Kernel) -> None:
    inner = Vmalloc(k)
    a = MoveOnly(inner)
    assert a.kernel is k
    assert a.MIN_ALIGN == inner.MIN_ALIGN
    p = a.alloc(Layout(100))
    k.write(p, pattern(100))
    s0 = k.stats()
    q = a.realloc(p, Layout(200), Layout(100))       # would be in place with Vmalloc
    assert q != p
    assert k.read(q, 100) == pattern(100)
    r = a.realloc(q, Layout(50), Layout(200))        # shrinks move too
    assert r != q
    assert k.read(r, 50) == pattern(100)[:50]
    assert k.stats().vrealloc_grow_in_place == s0.vrealloc_grow_in_place
    assert k.stats().vrealloc_shrink == s0.vrealloc_shrink
    assert a.realloc(r, Layout(0, 16), Layout(50)) == 16
    before = memory_state(k)
    assert before["nr_vmalloc_pages"] == 0


@pytest.mark.spec
@pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")
def test_move_only_in_a_vector(k: Kernel) -> None:
    v: Vec[int, MoveOnly] = Vec(u8, alloc=MoveOnly(Vmalloc(k)))
    for i in range(100):
        v.push(i)
    st_ = v.stats
    assert st_.reallocs == 8             # capacities 1, 2, 4, ..., 128
    assert st_.in_place == 0
    assert st_.moved == 7
    assert st_.bytes_copied == 1 + 2 + 4 + 8 + 16 + 32 + 64
    assert v.to_list() == list(range(100))
    v.drop()


@pytest.mark.parametrize("cls", [Kmalloc, Vmalloc, KVmalloc])
@pytest.mark.parametrize("flags", ["3264", 3264.7, None])
def test_allocators_refuse_non_int_flags(cls: type[Kmalloc], flags: object) -> None:
    k = Kernel()
    before = stats_without_warnings(k)
    with pytest.raises(TypeError, match="flags must be int"):
        cls(k).alloc(Layout(8), flags)  # type: ignore[arg-type]
    assert stats_without_warnings(k) == before
    k.check()


def test_only_kmalloc_and_kvmalloc_pad_the_layout() -> None:
    """rust/kernel/alloc/allocator.rs (since fde578c86281, "replace aligned_size() with
    Kmalloc::aligned_layout()"): ``ReallocFunc::call`` passes ``layout.size()`` as it is;
    ``Kmalloc`` and ``KVmalloc`` pad it first with ``Kmalloc::aligned_layout``, ``Vmalloc``
    does not."""
    k = Kernel()
    p = Vmalloc(k).alloc(Layout(5, 8))
    area = k.find_vm_area(p)
    assert area is not None and area.requested_size == 5
    q = KVmalloc(k).alloc(Layout(5, 8))
    assert not k.is_vmalloc_addr(q) and k.ksize(q) == 8
    r = Kmalloc(k).alloc(Layout(12, 16))
    assert k.ksize(r) == 16 and r % 16 == 0
    big = KVmalloc(k).alloc(Layout(5 << 20 | 5, 8))              # past KMALLOC_MAX_SIZE
    area = k.find_vm_area(big)
    assert area is not None and area.requested_size == (5 << 20) + 8
    k.check()
