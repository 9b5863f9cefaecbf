"""Fault injection (kvalloc.mm.fault_inject): fail_page_alloc, failslab, the sweep."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest

from kvalloc import GFP, PMD_SIZE, Kernel
from kvalloc.mm.memcontrol import Cgroup

from ..helpers import (
    M_K,
    M_KA,
    M_KZ,
    PAGE,
    VS,
    Mode,
    instrumented_kernel as mk,
    norm,
    ok,
    pages_fail,
    quiet,
    untag,
    walloc,
)

pytestmark = pytest.mark.spec


# -- helpers ---------------------------------------------------------------------------------------


FI_FIRST = "FAULT_INJECTION: forcing a failure."  # 4.6


def arr_fail(size: int, array_size: int, mode: str) -> str:
    """KERNEL.md 8.4 step 3 ("allocated" verbatim)."""
    return walloc(f"vmalloc error: size {size}, failed to allocated page array size {array_size}",
                  mode)


def fi_lines(name: str, interval: int, probability: int, times: int) -> list[str]:
    """KERNEL.md 4.6: the two FAULT_INJECTION lines (times before the decrement)."""
    return [FI_FIRST,
            f"name {name}, interval {interval}, probability {probability}, space 0, times {times}"]


def _quiet_alloc(k: Kernel) -> object:
    with quiet():
        return k.alloc_pages(0)


def test_fail_page_alloc_interval_and_lines() -> None:
    # 4.6: every candidate increments the counter; failed when counter % interval == 0;
    # GFP_KERNEL failures log the two lines, then the 4.2 warn_alloc
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=3, times=-1)
    results = []
    for i in range(1, 7):
        n0 = len(k.dmesg)
        pg = k.alloc_pages(0) if i % 3 else _quiet_alloc(k)
        results.append(pg is not None)
        if i % 3 == 0:
            assert k.dmesg[n0:] == fi_lines("fail_page_alloc", 3, 100, -1) + [
                walloc("page allocation failure: order:0", M_K)]
        else:
            assert k.dmesg[n0:] == []
        k.check()
    assert results == [True, True, False, True, True, False]


def test_fail_page_alloc_times_counts_down() -> None:
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=2)
    n0 = len(k.dmesg)
    with quiet():
        got = [k.alloc_pages(0) is not None for _ in range(3)]
    assert got == [False, False, True]
    fail = walloc("page allocation failure: order:0", M_K)
    assert k.dmesg[n0:] == (fi_lines("fail_page_alloc", 1, 100, 2) + [fail]
                            + fi_lines("fail_page_alloc", 1, 100, 1) + [fail])
    k.check()


def test_fault_nofail_is_not_a_candidate() -> None:
    # 4.6: __GFP_NOFAIL allocations are not candidates and do not bump the counter
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=2, times=-1)
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOFAIL) is not None
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is not None   # counter 1
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is None       # counter 2
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOFAIL) is not None
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is not None   # counter 3
    k.check()
    k.fault.failslab(probability=1.0, interval=1, times=-1)
    assert k.kmalloc(8, GFP.KERNEL | GFP.NOFAIL) is not None
    k.check()


def test_fault_min_order() -> None:
    # 4.6: orders below min_order are not candidates
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1, min_order=1)
    assert k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN) is not None
    assert k.alloc_pages(1, GFP.KERNEL | GFP.NOWARN) is None
    # vmalloc of 2 pages: order-1 attempt fails (silently: gfp | NOWARN, 8.4 step 5), the
    # order-0 bulk path fills both pages (8.5); the kmalloc-16 slab is order 0 (11.2)
    n0 = len(k.dmesg)
    p = ok(k, k.vmalloc(2 * PAGE))
    assert k.dmesg[n0:] == []
    area = k.find_vm_area(p)
    assert area is not None and area.nr_pages == 2
    # kmalloc-1024 slabs are order 1 (11.2): that refill fails, and SLUB falls back to the
    # minimum order, one page (mm/slub.c: allocate_slab()), which is not a candidate
    n0 = len(k.dmesg)
    x = k.kmalloc(1024)
    assert x is not None and k.stats().slab_pages == 1 + 1     # kmalloc-16's page and this one
    assert k.dmesg[n0:] == []                 # the first attempt was __GFP_NOWARN
    assert k.kmalloc(512) is not None
    k.check()


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_fault_probability_follows_seeded_generator(seed: int) -> None:
    # 4.6 + 17: a draw from random.Random(seed) below probability fails the candidate; with
    # interval 1 and times -1 every candidate draws once. NOWARN: no lines at all.
    k = mk(seed=seed)
    rng = random.Random(seed)
    k.fault.fail_page_alloc(probability=0.3, interval=1, times=-1)
    pages = []
    for _ in range(60):
        pg = k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN)
        assert (pg is None) == (rng.random() < 0.3)
        if pg is not None:
            pages.append(pg)
    assert k.dmesg == []
    for pg in pages:
        k.free_pages(pg, 0)
    k.check()
    assert k.stats().free_pages == k.stats().total_pages


def test_fault_probability_printed_as_percent() -> None:
    k = mk(seed=1)
    k.fault.fail_page_alloc(probability=0.5, interval=1, times=-1)
    with quiet():
        while k.alloc_pages(0) is not None:
            pass
    assert k.dmesg[-3:-1] == fi_lines("fail_page_alloc", 1, 50, -1)


def test_failslab_basic() -> None:
    # 4.6: kmalloc up to 8192 bytes is a failslab candidate; a large kmalloc is not
    k = mk()
    k.fault.failslab(probability=1.0, interval=1, times=-1)
    n0 = len(k.dmesg)
    with quiet():
        assert k.kmalloc(8) is None
    assert k.dmesg[n0:n0 + 2] == fi_lines("failslab", 1, 100, -1)
    n1 = len(k.dmesg)
    assert k.kmalloc(8, GFP.KERNEL | GFP.NOWARN) is None
    assert k.dmesg[n1:] == []
    big = ok(k, k.kmalloc(16384))
    pg = k.alloc_pages(0)
    assert pg is not None
    k.fault.clear()
    x = ok(k, k.kmalloc(8))
    k.kfree(x)
    k.kfree(big)
    k.free_pages(pg, 0)
    k.check()
    assert k.stats().free_pages == k.stats().total_pages


def test_vmalloc_nofail_survives_all_injection() -> None:
    # 4.6: NOFAIL allocations are not candidates. The page array (nested_gfp keeps NOFAIL:
    # GFP_RECLAIM_MASK contains it, 2.2/8.4) and the order-0 fallback keep NOFAIL; the
    # high-order attempts drop it (8.5) and fail silently (gfp | NOWARN).
    k = mk()
    k.fault.fail_page_alloc(probability=1.0, interval=1, times=-1)
    k.fault.failslab(probability=1.0, interval=1, times=-1)
    n0 = len(k.dmesg)
    p = ok(k, k.vmalloc(4 * PAGE, GFP.KERNEL | GFP.NOFAIL))
    assert k.dmesg[n0:] == []
    area = k.find_vm_area(p)
    assert area is not None and area.nr_pages == 4
    k.vfree(p)
    k.check()


# -- the sweep -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Expected result of one injected run (hand-derived from 4.6, 8.3-8.5, 11.2, 13.2)."""

    fail: bool
    tail: tuple[str, ...] = ()        # the last dmesg lines of a failure
    exact: bool = False               # the new lines are exactly `tail` (no FAULT_INJECTION)
    page_order: int = 0               # of a successful area
    addr: int | None = None           # of a successful area (fresh kernel)


def _wl_vmalloc(n: int) -> Callable[[Kernel, Cgroup | None], int | None]:
    return lambda k, cg: k.vmalloc(n * PAGE)


def _wl_huge(k: Kernel, cg: Cgroup | None) -> int | None:
    return k.vmalloc_huge(PMD_SIZE)


def _wl_memcg(k: Kernel, cg: Cgroup | None) -> int | None:
    assert cg is not None
    with k.memcg.charge_to(cg):
        return k.vmalloc(3 * PAGE, GFP.KERNEL_ACCOUNT)


F = Outcome(fail=False)
A1 = (arr_fail(4096, 8, M_K),)
A3 = (arr_fail(12288, 24, M_K),)
A512 = (arr_fail(2097152, 4096, M_K),)
# 513 pages: the array (4104 bytes) is a nested vmalloc of 2 pages whose own array is
# kmalloc-16 (8.4 step 3); both levels print (nested gfp = 0xdc0)
A513 = (arr_fail(8192, 16, M_KZ), arr_fail(2101248, 4104, M_K))
AHUGE = (arr_fail(2097152, 4096, M_K),)
A3CG = (arr_fail(12288, 24, M_KA),)
HUGE_SMALL = Outcome(fail=False, page_order=0, addr=VS + PMD_SIZE + PAGE)  # 8.4 step 8 / 8.3 step 9
HUGE_OK = Outcome(fail=False, page_order=9, addr=VS)
# workload -> (run, nr_pages, {(kind, every): [outcome for n = 1, 2, ...]})
# kind "page" = fail_page_alloc, "slab" = failslab; every=False: times=1 (only the n-th
# candidate fails), every=True: times=-1 (every n-th candidate fails). Candidates per
# workload (fresh kernel, 4.6/8.5/11.2):
#   vmalloc 1 page : page = slab refill (o0), bulk frame [, fallback frame]; slab = kmalloc-8
#   vmalloc 3 pages: page = slab refill, order-1 block, bulk frame;          slab = kmalloc-32
#   vmalloc 512    : page = slab refill (o3, quiet) [, its o0 fallback], order-9 block;
#                    slab = kmalloc-4k
#   vmalloc 513    : page = nested slab refill, nested order-1, order-9, bulk frame;
#                    slab = the nested kmalloc-16
#   vmalloc_huge   : page = slab refill (o3, quiet) [, its o0 fallback], order-9 block
#                    (then the small-page retry);
#                    slab = kmalloc-4k (again on retry)
#   memcg 3 pages  : as 3 pages, charged to a cgroup with max = 3 pages
SWEEP: dict[str, tuple[Callable[[Kernel, Cgroup | None], int | None], int,
                       dict[tuple[str, bool], list[Outcome]]]] = {
    "vmalloc-1": (_wl_vmalloc(1), 1, {
        ("page", False): [Outcome(True, A1), F, F],   # n=2: bulk fails, fallback succeeds
        ("page", True): [Outcome(True, A1), F, F],
        ("slab", False): [Outcome(True, A1), F],
        ("slab", True): [Outcome(True, A1), F],
    }),
    "vmalloc-3": (_wl_vmalloc(3), 3, {
        ("page", False): [Outcome(True, A3), F, F, F],
        # every 2nd: order-1 fails, bulk gets 1 of 3, fallback 1 more, then fails -> 2 of 3
        ("page", True): [Outcome(True, A3),
                         Outcome(True, (pages_fail(8192, M_K),), exact=True), F, F],
        ("slab", False): [Outcome(True, A3), F],
        ("slab", True): [Outcome(True, A3), F],
    }),
    "vmalloc-512": (_wl_vmalloc(512), 512, {
        # n=1: the array's order-3 slab fails quietly, its one-page fallback succeeds
        ("page", False): [F, F, F],
        ("page", True): [Outcome(True, A512), F, F],  # every 2nd: orders 8..1 + bulk + fallback
        ("slab", False): [Outcome(True, A512), F],
        ("slab", True): [Outcome(True, A512), F],
    }),
    "vmalloc-513": (_wl_vmalloc(513), 513, {
        ("page", False): [Outcome(True, A513), F, F, F, F],
        ("page", True): [Outcome(True, A513),
                         Outcome(True, (pages_fail(2097152, M_K),), exact=True), F, F, F],
        ("slab", False): [Outcome(True, A513), F],
        ("slab", True): [Outcome(True, A513), F],
    }),
    "vmalloc_huge": (_wl_huge, 512, {
        ("page", False): [HUGE_OK, HUGE_SMALL, HUGE_OK],   # n=1: the slab's fallback order
        ("page", True): [Outcome(True, AHUGE), HUGE_SMALL, HUGE_OK],
        ("slab", False): [HUGE_SMALL, HUGE_OK],
        ("slab", True): [Outcome(True, AHUGE), HUGE_OK],
    }),
    "memcg-3": (_wl_memcg, 3, {
        ("page", False): [Outcome(True, A3CG), F, F, F],
        ("page", True): [Outcome(True, A3CG),
                         Outcome(True, (pages_fail(8192, M_KA),), exact=True), F, F],
        ("slab", False): [Outcome(True, A3CG), F],
        ("slab", True): [Outcome(True, A3CG), F],
    }),
}


def _state(k: Kernel, cg: Cgroup | None) -> dict[str, int]:
    s = k.stats()
    d = {"free_pages": s.free_pages, "vmap_areas": s.vmap_areas, "slab_pages": s.slab_pages,
         "nr_vmalloc_pages": s.nr_vmalloc_pages}
    if cg is not None:
        d["usage"] = cg.usage
        d["memcg_vmalloc"] = cg.stat()["vmalloc"]
        d["memcg_kernel"] = cg.stat()["kernel"]
    return d


@pytest.mark.parametrize("kasan", ["off", "generic", "sw_tags"])
@pytest.mark.parametrize("every", [False, True])
@pytest.mark.parametrize("kind", ["page", "slab"])
@pytest.mark.parametrize("workload", list(SWEEP))
def test_fault_injection_sweep(workload: str, kind: str, every: bool, kasan: Mode) -> None:
    run, nr_pages, table = SWEEP[workload]
    outcomes = table[(kind, every)]
    name = "fail_page_alloc" if kind == "page" else "failslab"
    for n, want in enumerate(outcomes, start=1):
        # a fresh kernel per n: the counter starts at 0 whatever arming does to it (4.6)
        k = mk(kasan, seed=n)
        cg = k.memcg.create("sweep", max=3 * PAGE) if workload == "memcg-3" else None
        before = _state(k, cg)
        busy_before = k.stats().vmap_areas
        times = -1 if every else 1
        if kind == "page":
            k.fault.fail_page_alloc(probability=1.0, interval=n, times=times)
        else:
            k.fault.failslab(probability=1.0, interval=n, times=times)
        n0 = len(k.dmesg)
        with quiet():
            p = run(k, cg)
        k.check()
        new = norm(k.dmesg[n0:])
        where = f"{workload} {kind} every={every} n={n}"
        if cg is not None:
            assert cg.usage <= 3 * PAGE, where  # 13.2
        if want.fail:
            assert p is None, where
            # the failed area is freed by deferred work (mm/vmalloc.c: defer_vm_area_cleanup())
            k.run_workqueues()
            k.check()
            assert _state(k, cg) == before, where
            assert k.stats().vmap_areas == busy_before
            if want.exact:
                assert new == list(want.tail), where
            else:
                assert new[-len(want.tail):] == list(want.tail), where
                # the failed candidate was not NOWARN (slab, or a slab refill): 4.6 lines
                assert new[:2] == fi_lines(name, n, 100, times), where
            continue
        assert p is not None, where
        # a huge attempt that failed holds its range until its deferred cleanup runs
        # (mm/vmalloc.c: defer_vm_area_cleanup(), cleanup_vm_area_work())
        held = want is HUGE_SMALL
        assert k.stats().pending_work == held, where
        nested = nr_pages * 8 > PAGE                    # the page array is vmalloc'ed too
        assert k.stats().vmap_areas == busy_before + 1 + nested + held, where
        area = k.find_vm_area(p)
        assert area is not None, where
        assert area.nr_pages == nr_pages and area.page_order == want.page_order, where
        if want.addr is not None:
            assert untag(p) == want.addr, where
        if cg is not None:
            assert cg.usage == 3 * PAGE and cg.stat()["vmalloc"] == 3 * PAGE, where
        k.write(p + nr_pages * PAGE - 1, b"\x5a")  # the whole area is mapped and clean
        k.vfree(p)
        k.run_workqueues()
        k.check()
        assert _state(k, cg) == before, where
    assert k.kasan_reports == []


SLAB_ORDERS = {8: 0, 16: 0, 32: 0, 64: 0, 96: 0, 128: 0, 192: 0, 256: 0, 512: 0,
               1024: 1, 2048: 2, 4096: 3, 8192: 3}  # 11.2


@pytest.mark.parametrize("every", [False, True])
@pytest.mark.parametrize("kind", ["page", "slab"])
@pytest.mark.parametrize("size", list(SLAB_ORDERS))
def test_fault_injection_sweep_kmalloc(size: int, kind: str, every: bool) -> None:
    # one slab candidate (the kmalloc) and one page candidate (the slab refill) on a fresh
    # kernel (4.6, 11.2): n = 1 fails, n = 2 succeeds. A refill above the minimum order is
    # tried quietly first and falls back to the minimum order, a second page candidate
    # (mm/slub.c: allocate_slab()): with only the first failing, the kmalloc succeeds.
    order = SLAB_ORDERS[size]
    min_order = (size - 1).bit_length() - 12 if size > 4096 else 0
    fallback = kind == "page" and order > min_order
    times = -1 if every else 1
    for n in (1, 2):
        k = mk()
        before = _state(k, None)
        if kind == "page":
            k.fault.fail_page_alloc(probability=1.0, interval=n, times=times)
        else:
            k.fault.failslab(probability=1.0, interval=n, times=times)
        with quiet():
            x = k.kmalloc(size)
        k.check()
        if n == 1 and fallback and not every:
            assert x is not None and k.dmesg == []
            assert k.stats().slab_pages == 1 << min_order
            k.kfree(x)
            k.check()
            assert _state(k, None) == before
            continue
        if n == 1:
            assert x is None
            assert _state(k, None) == before
            if kind == "page":
                new = k.dmesg
                assert new[:2] == fi_lines("fail_page_alloc", 1, 100, times)
                # 4.2: the refill's warn_alloc (its exact gfp text is the slab's choice)
                assert len(new) == 3
                assert new[2].startswith(f"kvalloc: page allocation failure: order:{min_order}, "
                                         "mode:")
            else:
                assert k.dmesg[:2] == fi_lines("failslab", 1, 100, times)
            continue
        assert x is not None
        assert k.ksize(x) == size
        assert k.stats().slab_pages == 1 << order
        k.kfree(x)
        k.check()
        assert _state(k, None) == before
