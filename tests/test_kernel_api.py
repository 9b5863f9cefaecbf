"""The Kernel facade (kvalloc.kernel): argument validation, refused requests, panics, dmesg."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from kvalloc import (
    GFP,
    VM,
    VMALLOC_END,
    VMALLOC_START,
    Kernel,
    KernelConfig,
    KernelPanic,
)

from .helpers import (
    CUT,
    PAGE_OFFSET,
    PFN0,
    VS,
    K,
    assert_refused,
    ck,
    kernel_warnings,
    mode,
    nn,
    stats,
    warn_alloc,
    warn_lines,
    warn_lines as warn,
    warn_on,
)

# -- argument validation ---------------------------------------------------------------------------


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


_BAD_FLOAT: Any = 4096.0
_BAD_STR: Any = "4096"
BAD_CALLS: list[tuple[str, Callable[[Kernel], object], type[Exception]]] = [
    ("vmalloc-bool", lambda k: k.vmalloc(True), TypeError),
    ("vmalloc-false", lambda k: k.vmalloc(False), TypeError),
    ("vmalloc-float", lambda k: k.vmalloc(_BAD_FLOAT), TypeError),
    ("vmalloc-str", lambda k: k.vmalloc(_BAD_STR), TypeError),
    ("vmalloc-neg", lambda k: k.vmalloc(-1), ValueError),
    ("vmalloc-2**64", lambda k: k.vmalloc(2**64), ValueError),
    ("vmalloc-align-bool", lambda k: k.vmalloc(4096, align=True), TypeError),
    ("vmalloc-align-neg", lambda k: k.vmalloc(4096, align=-4096), ValueError),
    ("vmalloc-align-big", lambda k: k.vmalloc(4096, align=2**64), ValueError),
    ("vzalloc-bool", lambda k: k.vzalloc(True), TypeError),
    ("vzalloc-neg", lambda k: k.vzalloc(-4096), ValueError),
    ("vmalloc_huge-float", lambda k: k.vmalloc_huge(_BAD_FLOAT), TypeError),
    ("vmalloc_huge-big", lambda k: k.vmalloc_huge(2**65), ValueError),
    ("node_range-size-bool",
     lambda k: k.vmalloc_node_range(True, 1, VMALLOC_START, VMALLOC_END, GFP.KERNEL, VM(0)),
     TypeError),
    ("node_range-align-neg",
     lambda k: k.vmalloc_node_range(4096, -1, VMALLOC_START, VMALLOC_END, GFP.KERNEL, VM(0)),
     ValueError),
    ("kmalloc-bool", lambda k: k.kmalloc(True), TypeError),
    ("kmalloc-float", lambda k: k.kmalloc(_BAD_FLOAT), TypeError),
    ("kmalloc-neg", lambda k: k.kmalloc(-8), ValueError),
    ("kmalloc-2**64", lambda k: k.kmalloc(2**64), ValueError),
    ("kzalloc-bool", lambda k: k.kzalloc(False), TypeError),
    ("alloc_pages-bool", lambda k: k.alloc_pages(True), TypeError),
    ("alloc_pages-neg", lambda k: k.alloc_pages(-1), ValueError),
    ("alloc_pages-2**64", lambda k: k.alloc_pages(2**64), ValueError),
    ("read-size-neg", lambda k: k.read(VMALLOC_START, -1), ValueError),
    ("read-size-bool", lambda k: k.read(PAGE_OFFSET + PFN0 * 4096, True), TypeError),
    ("memset-size-neg", lambda k: k.memset(PAGE_OFFSET + PFN0 * 4096, 0, -1), ValueError),
    ("memcpy-size-float",
     lambda k: k.memcpy(PAGE_OFFSET + PFN0 * 4096, PAGE_OFFSET + PFN0 * 4096, _BAD_FLOAT),
     TypeError),
]


@pytest.mark.spec
@pytest.mark.parametrize(
    ("call", "exc"), [(c, e) for _, c, e in BAD_CALLS], ids=[n for n, _, _ in BAD_CALLS]
)
def test_bad_input_types_and_ranges(call: Callable[[Kernel], object], exc: type[Exception]) -> None:
    k = Kernel()
    before = stats(k)
    with kernel_warnings(0), pytest.raises(exc):
        call(k)
    k.check()
    assert k.dmesg == []
    assert stats(k) == before


# -- refused requests change nothing ---------------------------------------------------------------


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


# -- panic_on_warn ---------------------------------------------------------------------------------


def test_panic_on_warn_raises_kernel_panic() -> None:
    k = Kernel(KernelConfig(panic_on_warn=True))
    with pytest.raises(KernelPanic), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k.vfree(K)
    assert k.dmesg[-1] == "Kernel panic - not syncing: kernel: panic_on_warn set ..."


@pytest.mark.spec
def test_panic_on_warn() -> None:
    k = Kernel(KernelConfig(panic_on_warn=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KernelPanic):
            k.vmalloc(0)
    k.check()
    assert k.dmesg == warn_on("__vmalloc_node_range_noprof") + [
        "Kernel panic - not syncing: kernel: panic_on_warn set ..."
    ]
    # warn_alloc never panics (0.5)
    size = (4 << 30) + 4096
    n = len(k.dmesg)
    with kernel_warnings(1):
        assert k.vmalloc(size) is None
    k.check()
    assert k.dmesg[n:] == [
        warn_alloc(f"vmalloc error: size {size}, exceeds total pages", 0xCC0, "GFP_KERNEL")
    ]
    p = nn(ck(k, k.vmalloc(4096)))
    n = len(k.dmesg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KernelPanic):
            k.vfree(p + 4096 * 16)
    k.check()
    assert k.dmesg[n:] == warn(
        "Trying to vfree() nonexistent vm area (ffffc90000010000)", "vfree"
    ) + ["Kernel panic - not syncing: kernel: panic_on_warn set ..."]


# -- dmesg -----------------------------------------------------------------------------------------


@pytest.mark.spec
def test_warnings_accumulate_in_dmesg_oldest_first() -> None:
    k = Kernel()
    with kernel_warnings(3):
        assert k.vmalloc(0) is None
        k.vfree(VS)
        assert k.alloc_pages(11) is None
    k.check()
    assert k.dmesg == [
        CUT, "WARNING: CPU: 0 PID: 1 at __vmalloc_node_range_noprof",
        CUT, "Trying to vfree() nonexistent vm area (ffffc90000000000)",
        "WARNING: CPU: 0 PID: 1 at vfree",
        CUT, "WARNING: CPU: 0 PID: 1 at __alloc_pages_noprof",
    ]
    assert k.stats().warnings == 3
    assert isinstance(k.dmesg, list)


@pytest.mark.spec
def test_dmesg_is_per_kernel() -> None:
    k1 = Kernel()
    k2 = Kernel()
    with kernel_warnings(1):
        k1.vfree(VS)
    assert k2.dmesg == [] and k2.stats().warnings == 0
    with kernel_warnings(1):  # WARN_ONCE state is per Kernel instance (0.5)
        assert k2.alloc_pages(11) is None
    with kernel_warnings(1):
        assert k1.alloc_pages(11) is None
    k1.check()
    k2.check()
