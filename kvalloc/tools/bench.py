"""Benchmarks of ``kvalloc`` (``kvalloc bench``): ratios against in-process baselines.

Every goal but three is a *ratio* between two measurements taken in the same process, so
results do not depend on how fast the host is; absolute numbers are printed for information
only. The exceptions are ``vrealloc_move_extra_us_per_page``, a cost per page in µs, and
the growth study's two run times in seconds (``study_growth_*_s``): compare those with
``list_append_ns`` of the same run, which shows how fast the host was.

The two sides of a ratio are timed in interleaved rounds, a slice of each a round (the
order alternating), and the ratio is the median of the per-round ratios: a load change on
a shared host then moves both sides of a round alike, where a ratio of two minima taken
seconds apart took it in full. The absolute figures printed beside (rates, ns per
operation, MiB/s) are the best slice.

Metrics (``name  value  goal  PASS/MISS``, one line each):

1. ``vmalloc_vfree_*`` and ``vmalloc_churn_*``: the rate of ``vmalloc(4096)`` + ``vfree``
   with 100 and with 100 000 live one-page areas, as back-to-back pairs and as "free a
   random live area, allocate a new one"; the scaling ratio ``rate(100000) / rate(100)``
   must be at least 0.5 (allocation is O(log n), not O(n)).
2. ``lowest_match_speedup``: :meth:`FreeAreaTree.find_lowest_match` against
   :func:`find_vmap_lowest_linear_match` over 100 000 free fragments, for a request only the
   last block can hold; ``linear / fast`` must be at least 50.
3. ``memcpy_bandwidth_ratio``: :meth:`Kernel.memcpy` of 64 MiB between two vmalloc areas
   against ``b2[:] = b1`` on two 64 MiB ``bytearray`` objects; at least 0.8.
4. ``idle_kernel_kib`` and ``idle_kernel_construct_ms``: host memory (``tracemalloc``) and
   time to build ``Kernel(KernelConfig(ram=64 << 30))``; informational.
5. ``direct_view_write_ratio``: one 8-byte store through :meth:`Kernel.direct_view`, the way
   the containers store (the flat view cast to ``"Q"``: ``q[i] = v``), against one
   ``list.append``; at most 3. ``direct_view_paged_write_ns`` times the per-page fallback
   (``qpages[i >> 9][i & 511] = v``) used when the frames are not contiguous.
6. ``kasan_vmalloc_slowdown`` and ``kasan_access_slowdown``: vmalloc+vfree pairs and 8-byte
   ``write``+``read`` pairs with generic KASAN on, divided by off; the kernel's own KASAN
   costs about 4x on vmalloc operations, the goal here is at most 2.
7. ``vvec_push_ratio``: ``VVec[u64].push`` per operation over ``list.append`` for 1 000 000
   elements grown from empty (at most 5); ``vvec_push_flat_ratio`` and
   ``vvec_push_paged_ratio``: pushes into a reserved buffer whose frames are one physical
   run (a ``KVVec`` of 524 288 elements, kmalloc'd), or never adjacent (1 000 000 elements
   on a kernel whose free frames are every other one), each over as many appends (at most
   3 and 3.5); ``kasan_push_ratio``: push with generic KASAN
   over push without (at most 1.2); ``extend_from_slice_ratio``: ``extend_from_slice`` of
   1 000 000 ints over ``array.array("Q").extend`` of the list (at most 2);
   ``extend_from_array_ratio``: the same from an ``array`` over ``array.extend`` of it (at
   most 1.2; it includes the 1 954-page vmalloc and its vfree, which ``array`` does with one
   ``realloc``), and ``extend_reserved_from_array_ratio`` the copy alone, into a vector
   reserved outside the clock (informational); ``sum_flat_ratio`` / ``sum_paged_ratio``:
   ``sum`` of a vector over ``sum`` of a list (at most 6); ``slice_scaling``: a 1 000-element
   slice of a 1 000 000-element vector over one of a 10 000-element vector (at most 2: a
   slice costs its length).
   ``kvec_1m_u64_fails`` is 1 when a ``KVec[u64]`` of 1 000 000 elements is refused, as in
   the kernel (8 MB > ``KMALLOC_MAX_SIZE``).
8. ``vmalloc_pair_vs_peer``: a vmalloc(4096)+vfree pair with 100 live areas over the same
   pair on :class:`MiniVmalloc`, a minimal first-fit peer that also takes a frame and writes
   a page-table entry per page (at most 6).
9. ``grow_in_place_scaling``: a vector's in-place grow (``reserve`` of one more element
   inside the area's pages) at 16 384 pages over at 1 page (at most 2: O(pages added));
   ``vrealloc_move_extra_us_per_page``: a vrealloc move of 2 048 pages minus a
   ``Kernel.memcpy`` of the same bytes, per page (at most 1 µs).
10. ``vvec_256mib_rss_ratio``: the host memory (``VmRSS``, in a fresh process) a
    ``VVec[u64]`` grown by push to 256 MiB holds, over its payload (at most 1.25; the quick
    run grows 32 MiB).
11. ``study_growth_default_s`` and ``study_growth_1m_s``: seconds for ``kvalloc study
    growth`` with the default configurations at 50 000 and 1 000 000 elements, run as the
    command runs it (one worker process per CPU, events released; at most 5 and 30 s: the
    two goals that are times, so they depend on the host); ``study_exact_push_us``: one push
    of ``vmalloc``/``exact`` (a reallocation per push) in one process, recorded as the study
    records it.

``quick=True`` runs the same code with smaller sizes and fewer repeats (a smoke test for the
test suite, a few seconds); its numbers are noisier and its 100 000-area metric is measured
at a smaller population (the metric names stay the same).

Example:
    >>> from kvalloc.tools.bench import run
    >>> results = run(quick=True)   # doctest: +SKIP
    >>> results["lowest_match_speedup"] >= 50   # doctest: +SKIP
    True
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from .. import __version__
from ..config import KasanMode, KernelConfig
from ..constants import KMALLOC_MAX_SIZE, PAGE_SIZE, VMALLOC_START
from ..kernel import Kernel
from ..mm.vmap_area import FreeAreaTree, find_vmap_lowest_linear_match

__all__ = ["GOALS", "Goal", "MiniVmalloc", "fragmented_kernel", "main", "run"]


@dataclass(frozen=True)
class Goal:
    """A target for one ratio: ``value >= limit`` (``op == ">="``) or ``value <= limit``."""

    op: str
    limit: float

    def met(self, value: float) -> bool:
        """Whether ``value`` satisfies the goal."""
        return value >= self.limit if self.op == ">=" else value <= self.limit

    def __str__(self) -> str:
        return f"{self.op} {self.limit:g}"


#: The goals of the project issue, by metric name. Metrics not listed are informational.
GOALS: dict[str, Goal] = {
    "vmalloc_vfree_scaling": Goal(">=", 0.5),
    "vmalloc_churn_scaling": Goal(">=", 0.5),
    "lowest_match_speedup": Goal(">=", 50.0),
    "memcpy_bandwidth_ratio": Goal(">=", 0.8),
    "direct_view_write_ratio": Goal("<=", 3.0),
    "kasan_vmalloc_slowdown": Goal("<=", 2.0),
    "kasan_access_slowdown": Goal("<=", 2.0),
    "vvec_push_ratio": Goal("<=", 5.0),
    "vvec_push_flat_ratio": Goal("<=", 3.0),
    "vvec_push_paged_ratio": Goal("<=", 3.5),
    "extend_from_slice_ratio": Goal("<=", 2.0),
    "extend_from_array_ratio": Goal("<=", 1.2),
    "kasan_push_ratio": Goal("<=", 1.2),
    "sum_flat_ratio": Goal("<=", 6.0),
    "sum_paged_ratio": Goal("<=", 6.0),
    "slice_scaling": Goal("<=", 2.0),
    "vmalloc_pair_vs_peer": Goal("<=", 6.0),
    "grow_in_place_scaling": Goal("<=", 2.0),
    "vrealloc_move_extra_us_per_page": Goal("<=", 1.0),
    "vvec_256mib_rss_ratio": Goal("<=", 1.25),
    "study_growth_default_s": Goal("<=", 5.0),
    "study_growth_1m_s": Goal("<=", 30.0),
}

_MiB = 1 << 20


@dataclass(frozen=True)
class _Params:
    """Sizes and repeat counts of one run (full or quick)."""

    small_live: int          # live areas of the "100" population
    large_live: int          # live areas of the "100 000" population
    pair_ops: int            # vmalloc+vfree pairs (or accesses) per timed slice
    fragments: int           # free blocks in the lowest-match tree
    fast_calls: int          # find_lowest_match calls per timed slice
    copy_bytes: int          # memcpy / bytearray copy size
    kernel_repeats: int      # idle-kernel constructions timed
    writes: int              # direct-view writes / list appends per timed slice
    rounds: int              # interleaved rounds per ratio (each side timed once a round)
    quick: bool = False


#: One-page vmalloc+vfree pairs per lazy purge of the default kernel: each freed area is a page
#: and its guard page, and ``lazy_max_pages`` is 16384. A full run's slices are this long, so
#: every slice carries one purge (a shorter slice would carry one or none, which no pairing
#: can even out against a peer that has no lazy list).
_PURGE_OPS: Final = KernelConfig().lazy_max // 2

_FULL = _Params(small_live=100, large_live=100_000, pair_ops=_PURGE_OPS,
                fragments=100_000, fast_calls=2_000,
                copy_bytes=64 * _MiB, kernel_repeats=20,
                writes=1_000_000, rounds=9)
_QUICK = _Params(small_live=100, large_live=10_000, pair_ops=1_000,
                 fragments=100_000, fast_calls=200,
                 copy_bytes=8 * _MiB, kernel_repeats=3,
                 writes=100_000, rounds=3, quick=True)


# -- helpers --------------------------------------------------------------------------


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Disable the cyclic garbage collector for a timed section (as :mod:`timeit` does)."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _best(fn: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` timings of ``fn()`` in seconds (GC off while timing)."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        with _no_gc():
            t0 = time.perf_counter()
            fn()
            t = time.perf_counter() - t0
        best = min(best, t)
    return best


#: One timed run: does its work once and returns the seconds of the part that counts
#: (setup such as building a vector to sort stays outside its clock).
Timed = Callable[[], float]


def _timed(fn: Callable[[], object]) -> Timed:
    """``fn`` as a :data:`Timed`: the seconds of one whole call."""
    def run() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    return run


def _rounds(timed: dict[str, Timed], rounds: int, collect: bool = True) -> dict[str, list[float]]:
    """``{name: [seconds per round]}``: every entry timed once a round for ``rounds`` rounds,
    the order rotated each round (``A B``, ``B A``, ... for two), GC off throughout and
    collected between rounds when ``collect`` (skip it where a collection would walk a
    large heap and nothing cyclic is made).

    The entries of one round run milliseconds apart and so see the same host load; a ratio
    is then taken per round (:func:`_ratio`) rather than between minima measured seconds
    apart, where a load change between the two halves lands in the ratio."""
    names = list(timed)
    out: dict[str, list[float]] = {name: [] for name in names}
    with _no_gc():
        for r in range(max(1, rounds)):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                out[name].append(timed[name]())
            if collect:
                gc.collect()
    return out


def _ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    """The median over rounds of ``times[num][i] / times[den][i]``."""
    return statistics.median(a / b for a, b in zip(times[num], times[den], strict=True))


def _progress(msg: str) -> None:
    """Show what is running on a terminal; stay quiet otherwise."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{msg}")
        sys.stderr.flush()


def _progress_done() -> None:
    """Clear the progress line (terminal only)."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


# -- 1. vmalloc/vfree rate ------------------------------------------------------------


class _VmallocLoops:
    """A kernel with ``live`` one-page areas and its two timed loops of ``ops`` operations,
    one operation being one ``vmalloc(4096)`` plus one ``vfree``: :meth:`pairs` (back to
    back) and :meth:`churn` ("free a random live area, allocate a new one", fresh random
    indices each call, drawn before the clock starts). Both run once untimed first so the
    lazy-free list and the free tree reach their steady state; lazy purges inside the timed
    loops are part of the cost, as in the kernel."""

    def __init__(self, live: int, ops: int, seed: int = 0) -> None:
        # each live area takes one frame plus its guard page of KVA; 4 GiB is far more than enough
        self.k = k = Kernel(KernelConfig(ram=4 << 30))
        self.live, self.ops = live, ops
        self.rng = random.Random(seed)
        self.areas: list[int] = []
        for _ in range(live):
            a = k.vmalloc(PAGE_SIZE)
            assert a is not None, "benchmark kernel ran out of memory"
            self.areas.append(a)
        self.pairs()                                   # warm-up to steady state
        self.churn()

    def pairs(self) -> float:
        vmalloc, vfree = self.k.vmalloc, self.k.vfree
        t0 = time.perf_counter()
        for _ in range(self.ops):
            vfree(vmalloc(PAGE_SIZE))
        return time.perf_counter() - t0

    def churn(self) -> float:
        vmalloc, vfree, areas = self.k.vmalloc, self.k.vfree, self.areas
        idx = [self.rng.randrange(self.live) for _ in range(self.ops)]
        t0 = time.perf_counter()
        for i in idx:
            vfree(areas[i])
            a = vmalloc(PAGE_SIZE)
            assert a is not None
            areas[i] = a
        return time.perf_counter() - t0

    def release(self) -> None:
        for a in self.areas:
            self.k.vfree(a)
        self.areas = []


def bench_vmalloc(p: _Params) -> dict[str, float]:
    """Metric 1: vmalloc+vfree rates at a small and a large population, and their ratios
    (both populations live at once, their slices interleaved)."""
    _progress(f"vmalloc/vfree with {p.small_live} and {p.large_live} live areas ...")
    small, large = _VmallocLoops(p.small_live, p.pair_ops), _VmallocLoops(p.large_live, p.pair_ops)
    pairs = _rounds({"small": small.pairs, "large": large.pairs}, p.rounds, collect=False)
    churn = _rounds({"small": small.churn, "large": large.churn}, p.rounds, collect=False)
    small.release()
    large.release()
    n = p.pair_ops
    return {
        "vmalloc_vfree_rate_100": n / min(pairs["small"]),
        "vmalloc_vfree_rate_100000": n / min(pairs["large"]),
        "vmalloc_vfree_scaling": _ratio(pairs, "small", "large"),
        "vmalloc_churn_rate_100": n / min(churn["small"]),
        "vmalloc_churn_rate_100000": n / min(churn["large"]),
        "vmalloc_churn_scaling": _ratio(churn, "small", "large"),
    }


# -- 2. lowest match ------------------------------------------------------------------


def bench_lowest_match(p: _Params) -> dict[str, float]:
    """Metric 2: indexed lowest fit against the linear reference over many fragments.

    Block ``i`` is one page at ``base + 3 * i`` pages (never adjacent), followed by one
    64 MiB block; a 16-page request with page alignment fits only in the last block.
    """
    _progress(f"lowest match over {p.fragments} fragments ...")
    base = VMALLOC_START
    stride = 3 * PAGE_SIZE
    blocks = [(base + i * stride, base + i * stride + PAGE_SIZE) for i in range(p.fragments)]
    big = base + p.fragments * stride
    blocks.append((big, big + 64 * _MiB))
    tree = FreeAreaTree(blocks)
    listed = list(tree)
    size, align, vstart = 16 * PAGE_SIZE, PAGE_SIZE, base
    fast_answer = tree.find_lowest_match(size, align, vstart)
    slow_answer = find_vmap_lowest_linear_match(listed, size, align, vstart)
    assert fast_answer == slow_answer == (big, big + 64 * _MiB, big), (fast_answer, slow_answer)

    find = tree.find_lowest_match
    calls = p.fast_calls

    def fast() -> None:
        for _ in range(calls):
            find(size, align, vstart)

    def linear() -> None:
        find_vmap_lowest_linear_match(listed, size, align, vstart)

    t = _rounds({"fast": _timed(fast), "linear": _timed(linear)}, max(5, p.rounds))
    return {
        "lowest_match_fast_us": min(t["fast"]) / calls * 1e6,
        "lowest_match_linear_us": min(t["linear"]) * 1e6,
        "lowest_match_speedup": _ratio(t, "linear", "fast") * calls,
    }


# -- 3. memcpy bandwidth --------------------------------------------------------------


def bench_memcpy(p: _Params) -> dict[str, float]:
    """Metric 3: ``Kernel.memcpy`` between two vmalloc areas against a ``bytearray`` copy,
    one of each a round."""
    size = p.copy_bytes
    _progress(f"memcpy of {size >> 20} MiB ...")
    pattern = bytes(range(256)) * (size // 256)
    k = Kernel(KernelConfig(ram=max(4 << 30, 4 * size)))
    src, dst = k.vmalloc(size), k.vmalloc(size)
    assert src is not None and dst is not None, "benchmark kernel ran out of memory"
    k.write(src, pattern)                 # materialise every source frame
    k.memcpy(dst, src, size)              # and every destination frame
    assert k.read(dst + size - 256, 256) == pattern[-256:]
    b1 = bytearray(pattern)
    b2 = bytearray(size)
    b2[:] = b1                            # touch the destination's pages once

    def host_copy() -> None:
        b2[:] = b1

    t = _rounds({"kvalloc": _timed(lambda: k.memcpy(dst, src, size)),
                 "host": _timed(host_copy)}, p.rounds)
    k.vfree(src)
    k.vfree(dst)
    del k, b1, b2, pattern
    return {
        "memcpy_mib_s": size / min(t["kvalloc"]) / _MiB,
        "bytearray_copy_mib_s": size / min(t["host"]) / _MiB,
        "memcpy_bandwidth_ratio": _ratio(t, "host", "kvalloc"),
    }


# -- 4. idle kernel -------------------------------------------------------------------


def bench_idle_kernel(p: _Params) -> dict[str, float]:
    """Metric 4: host bytes kept by an idle 64 GiB ``Kernel`` and its construction time."""
    _progress("idle kernel ...")
    config = KernelConfig(ram=64 << 30)
    Kernel(config)                         # warm-up: lazy imports, caches
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    k = Kernel(config)
    after = tracemalloc.get_traced_memory()[0]
    if not was_tracing:
        tracemalloc.stop()
    del k
    t = _best(lambda: Kernel(config), p.kernel_repeats)
    return {
        "idle_kernel_kib": (after - before) / 1024,
        "idle_kernel_construct_ms": t * 1e3,
    }


# -- 5. direct-view writes ------------------------------------------------------------


def _write_views(qpages: list[memoryview], n: int) -> None:
    """The containers' fast-path store loop: element ``i`` (8 bytes) gets value ``i``."""
    for i in range(n):
        qpages[i >> 9][i & 511] = i


def _append_list(n: int) -> list[int]:
    """The baseline: ``n`` ``list.append`` calls, same loop shape."""
    lst: list[int] = []
    append = lst.append
    for i in range(n):
        append(i)
    return lst


def bench_direct_view(p: _Params) -> dict[str, float]:
    """Metric 5: per-element store through ``direct_view`` frame views against ``list.append``."""
    n = p.writes
    _progress(f"direct-view writes of {n} u64 ...")
    size = n * 8
    k = Kernel()
    addr = k.vmalloc(size)
    assert addr is not None, "benchmark kernel ran out of memory"
    view = k.direct_view(addr, size)
    assert view.offset == 0
    qpages = [mv.cast("Q") for mv in view.pages]
    _write_views(qpages, n)               # warm-up (and every frame is already materialised)
    # the containers' path: the flat view when the frames are contiguous, else the pages
    flat = view.flat.cast("Q") if view.flat is not None else None
    loops = {"paged": _timed(lambda: _write_views(qpages, n)),
             "append": _timed(lambda: _append_list(n))}
    if flat is not None:
        _write_flat(flat, n)
        loops["flat"] = _timed(lambda: _write_flat(flat, n))
    t = _rounds(loops, p.rounds)
    store = "flat" if flat is not None else "paged"
    last = (n - 1) * 8
    assert int.from_bytes(k.read(addr + last, 8), "little") == n - 1
    for q in qpages:
        q.release()
    if flat is not None:
        flat.release()
    k.vfree(addr)
    return {
        "direct_view_flat": 1.0 if flat is not None else 0.0,
        "direct_view_write_ns": min(t[store]) / n * 1e9,
        "direct_view_paged_write_ns": min(t["paged"]) / n * 1e9,
        "list_append_ns": min(t["append"]) / n * 1e9,
        "direct_view_write_ratio": _ratio(t, store, "append"),
    }


def _write_flat(q: memoryview, n: int) -> None:
    for i in range(n):
        q[i] = i


# -- 6. KASAN cost --------------------------------------------------------------------


def bench_kasan(p: _Params) -> dict[str, float]:
    """Metric 6: vmalloc+vfree and write+read slices with generic KASAN on against off: one
    kernel of each kind, their slices interleaved (``off``, ``generic``, then the other way
    round), the slowdown the median of the per-round ratios."""
    _progress("KASAN on versus off ...")
    n = p.pair_ops
    alloc: dict[str, Timed] = {}
    access: dict[str, Timed] = {}
    kernels: dict[str, tuple[Kernel, list[int | None]]] = {}
    for mode in ("off", "generic"):
        k = Kernel(KernelConfig(kasan=mode))
        live = [k.vmalloc(PAGE_SIZE) for _ in range(p.small_live)]
        a = k.vmalloc(64 * PAGE_SIZE)
        assert a is not None
        kernels[mode] = (k, live + [a])

        def pairs(k: Kernel = k) -> float:
            vmalloc, vfree = k.vmalloc, k.vfree
            t0 = time.perf_counter()
            for _ in range(n):
                vfree(vmalloc(PAGE_SIZE))
            return time.perf_counter() - t0

        def rw(k: Kernel = k, a: int = a) -> float:
            read, write, data = k.read, k.write, b"\x01" * 8
            t0 = time.perf_counter()
            for i in range(n):
                off = (i * 8) & 0x3FFF8
                write(a + off, data)
                read(a + off, 8)
            return time.perf_counter() - t0

        pairs()                                    # warm-up
        rw()
        alloc[mode], access[mode] = pairs, rw
    t_alloc = _rounds(alloc, p.rounds, collect=False)
    t_access = _rounds(access, p.rounds, collect=False)
    for k, areas in kernels.values():
        assert not k.kasan_reports
        for x in areas:
            k.vfree(x)
    return {
        "kasan_vmalloc_slowdown": _ratio(t_alloc, "generic", "off"),
        "kasan_access_slowdown": _ratio(t_access, "generic", "off"),
    }


# -- 7. containers --------------------------------------------------------------------


def bench_containers(p: _Params) -> dict[str, float]:
    """Metric 7: VVec push and extend_from_slice against list.append / array.extend."""
    import array
    import warnings

    from containers import KVec, VVec, u64

    from ..errors import AllocError, KernelWarning
    n = p.writes
    _progress(f"containers: {n} pushes ...")

    def push(kasan: KasanMode) -> Callable[[], None]:
        def loop() -> None:
            v = VVec(u64, kernel=Kernel(KernelConfig(ram=1 << 30, kasan=kasan)))
            push = v.push
            for i in range(n):
                push(i)
            assert len(v) == n and v[n - 1] == n - 1
            v.drop()
        return loop

    pushes = _rounds({"list": _timed(lambda: _append_list(n)), "push": _timed(push("off")),
                      "kasan": _timed(push("generic"))}, p.rounds)
    items = list(range(n))

    def arr() -> None:
        a = array.array("Q")
        a.extend(items)

    def efs() -> None:
        v = VVec(u64, kernel=Kernel(KernelConfig(ram=1 << 30)))
        v.extend_from_slice(items)
        v.drop()

    extend = _rounds({"array": _timed(arr), "efs": _timed(efs)}, p.rounds)
    src = array.array("Q", items)

    def arr_from_array() -> None:
        a = array.array("Q")
        a.extend(src)

    warm = Kernel(KernelConfig(ram=1 << 30))

    def efs_from_array() -> None:
        v = VVec(u64, kernel=warm)
        v.extend_from_slice(src)
        v.drop()

    def efs_reserved() -> float:              # the copy alone: the vmalloc outside the clock
        v = VVec.with_capacity(u64, len(src), kernel=warm)
        t0 = time.perf_counter()
        v.extend_from_slice(src)
        t = time.perf_counter() - t0
        v.drop()
        return t

    efs_from_array()                      # the frames are touched once, as the array's are
    extend2 = _rounds({"array": _timed(arr_from_array), "efs": _timed(efs_from_array),
                       "reserved": efs_reserved}, p.rounds)
    # the same count on each side of each ratio: list.append is ~25 % cheaper at 125 000
    # elements than at 1 000 000 (its array in cache), a push costs the same at both
    nf = min(n, KMALLOC_MAX_SIZE // 8)         # the most u64 one kmalloc'd run holds
    reserved = _rounds({"flat": _push_into(warm, nf), "list": _timed(lambda: _append_list(nf))},
                       p.rounds)
    paged = _rounds({"paged": _push_into(fragmented_kernel(64 << 20), n, paged=True),
                     "list": _timed(lambda: _append_list(n))}, p.rounds)
    sums = _bulk_reads(warm, n, p)
    kv = KVec(u64, kernel=Kernel())
    refused = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KernelWarning)
        try:
            kv.extend_from_slice(range(1_000_000))
        except AllocError:
            refused = 1.0
    return {
        "vvec_push_ns": min(pushes["push"]) / n * 1e9,
        "vvec_push_ratio": _ratio(pushes, "push", "list"),
        "vvec_push_flat_ratio": _ratio(reserved, "flat", "list"),
        "vvec_push_paged_ratio": _ratio(paged, "paged", "list"),
        "extend_from_slice_ratio": _ratio(extend, "efs", "array"),
        "extend_from_array_ratio": _ratio(extend2, "efs", "array"),
        "extend_reserved_from_array_ratio": _ratio(extend2, "reserved", "array"),
        "kasan_push_ratio": _ratio(pushes, "kasan", "push"),
        **sums,
        "kvec_1m_u64_fails": refused,
    }


def fragmented_kernel(ram: int = 8 << 20, kasan: KasanMode = "off", run: int = 0) -> Kernel:
    """A kernel whose free frames are every other one, plus its last ``run`` frames as one
    physical run (room for slabs): no two pages of a vmalloc area taken from the singles
    are adjacent, so vectors there take the paged path (push runs, per-run copies)."""
    from ..gfp import GFP
    k = Kernel(KernelConfig(ram=ram, kasan=kasan))
    taken = []
    while (page := k.alloc_pages(0, GFP.KERNEL | GFP.NOWARN)) is not None:
        taken.append(page)
    for i, page in enumerate(taken):
        if i % 2 == 0 or i >= len(taken) - run:
            k.free_pages(page, 0)
    return k



def _page_per_run(v: Any) -> bool:
    """True when no two consecutive pages of vector ``v``'s buffer are adjacent frames."""
    pf = v._view.pfns if v._view is not None else []
    return bool(pf) and all(b != a + 1 for a, b in zip(pf, pf[1:]))


def _push_into(k: Kernel, n: int, paged: bool = False) -> Timed:
    """``n`` pushes into a vector reserved beforehand on ``k`` (the reserve and the drop
    outside the clock): a ``KVVec[u64]`` whose buffer is one kmalloc'd physical run (at
    most ``KMALLOC_MAX_SIZE``), or with ``paged`` a ``VVec[u64]`` no two of whose frames
    are adjacent (a push run per page)."""
    from containers import KVVec, VVec, u64

    def run() -> float:
        v = (VVec if paged else KVVec).with_capacity(u64, n, kernel=k)
        assert _page_per_run(v) if paged else v._flat is not None, "not the layout named"
        push = v.push
        t0 = time.perf_counter()
        for i in range(n):
            push(i)
        t = time.perf_counter() - t0
        v.drop()
        return t
    return run


def _bulk_reads(k: Kernel, n: int, p: _Params) -> dict[str, float]:
    """``sum`` and iteration over a flat and a paged vector against a list, and a
    1 000-element slice of a large vector against one of a small vector."""
    from containers import KVVec, VVec, u64
    items = list(range(n))
    flat = KVVec(u64, items[:n // 4], kernel=k)          # kmalloc'd: one physical run
    paged = VVec(u64, items[:n // 16], kernel=fragmented_kernel(64 << 20))
    assert flat._flat is not None and _page_per_run(paged)
    out: dict[str, float] = {}
    for name, v, ref in (("flat", flat, items[:n // 4]), ("paged", paged, items[:n // 16])):
        # ten sums a timing: one sum of the paged vector is well under a millisecond
        t = _rounds({"vec": _timed(lambda: [sum(v) for _ in range(10)]),      # noqa: B023
                     "list": _timed(lambda: [sum(ref) for _ in range(10)])},  # noqa: B023
                    p.rounds)
        out[f"sum_{name}_ratio"] = _ratio(t, "vec", "list")
    small = VVec(u64, items[:10_000], kernel=k)
    big = VVec(u64, items, kernel=k)
    t = _rounds({"small": _timed(lambda: small[5000:6000].drop()),
                 "big": _timed(lambda: big[n // 2:n // 2 + 1000].drop())}, p.rounds)
    out["slice_scaling"] = _ratio(t, "big", "small")
    for v in (flat, paged, small, big):
        v.drop()
    return out


def bench_vec_ops(p: _Params) -> dict[str, float]:
    """Vector operations against the matching ``list`` ones (informational), each timed on
    its own after the vector or list is built: ``sort`` of 100 000 random ``u64``,
    ``extend_from_within`` of half the vector (``l.extend(l[:m])``), ``split_off`` at the
    middle (``l[m:]`` then ``del l[m:]``). Growth goes through kvrealloc, so the
    ``extend_from_within`` figure includes moving the vector into a larger vmalloc area."""

    from containers import KVVec, u64
    n = p.writes // 10
    _progress(f"vector operations on {n} u64 ...")
    k = Kernel(KernelConfig(ram=1 << 30))
    rng = random.Random(0)
    items = [rng.getrandbits(64) for _ in range(n)]
    m = n // 2

    def timed(setup: Callable[[], Any], op: Callable[[Any], object]) -> Timed:
        def run() -> float:
            x = setup()
            t0 = time.perf_counter()
            op(x)
            t = time.perf_counter() - t0
            if isinstance(x, KVVec):
                x.drop()
            return t
        return run

    def vec() -> KVVec[int]:
        return KVVec(u64, items, kernel=k)

    def lst() -> list[int]:
        return list(items)

    def lsplit(a: list[int]) -> None:
        b = a[m:]
        del a[m:]
        assert b

    cases: dict[str, tuple[Callable[[Any], object], Callable[[Any], object]]] = {
        "sort": (lambda v: v.sort(), lambda a: a.sort()),
        "extend_from_within": (lambda v: v.extend_from_within(slice(0, m)),
                               lambda a: a.extend(a[:m])),
        "split_off": (lambda v: v.split_off(m).drop(), lsplit),
    }
    out: dict[str, float] = {}
    for name, (vop, lop) in cases.items():
        t = _rounds({"vec": timed(vec, vop), "list": timed(lst, lop)}, p.rounds)
        out[f"vec_{name}_ratio"] = _ratio(t, "vec", "list")
    return out


# -- 8. the peer: a minimal vmalloc --------------------------------------------------


class MiniVmalloc:
    """The reference peer of ``vmalloc_pair_vs_peer``: about the least a vmalloc can do.

    Lowest-address first fit over free address ranges (a ``SortedList`` of starts and a
    dict of sizes), a guard page after each area, coalescing on free, one frame from a free
    stack and one page-table entry per page. No ``vm_struct``, page array, buddy allocator,
    lazy purge, KASAN, validation or locking: the factor against it is what modelling those
    costs.

    >>> m = MiniVmalloc(1 << 20, 1 << 30, 16)
    >>> a = m.vmalloc(8192); b = m.vmalloc(100); (b - a) // 4096, len(m.pte)
    (3, 3)
    >>> m.vfree(a); m.vfree(b); m.free_size
    {1048576: 1072693248}
    """

    def __init__(self, start: int, end: int, frames: int) -> None:
        from sortedcontainers import SortedList
        self.free_starts: SortedList[int] = SortedList([start])
        self.free_size = {start: end - start}
        self.frames = list(range(frames))
        self.pte: dict[int, int] = {}
        self.busy: dict[int, int] = {}

    def vmalloc(self, size: int) -> int | None:
        """Map ``size`` bytes (rounded up to pages) at the lowest free address that fits."""
        need = ((size + PAGE_SIZE - 1) & -PAGE_SIZE) + PAGE_SIZE        # and a guard page
        free_size = self.free_size
        for start in self.free_starts:
            have = free_size[start]
            if have >= need:
                break
        else:
            return None
        del free_size[start]
        self.free_starts.remove(start)
        if have > need:
            self.free_starts.add(start + need)
            free_size[start + need] = have - need
        vpn, frames, pte = start >> 12, self.frames, self.pte
        for i in range(need // PAGE_SIZE - 1):
            pte[vpn + i] = frames.pop()
        self.busy[start] = need
        return start

    def vfree(self, addr: int) -> None:
        """Unmap the area at ``addr``, give its frames back, merge its range with free ones."""
        need = self.busy.pop(addr)
        vpn, frames, pte = addr >> 12, self.frames, self.pte
        for i in range(need // PAGE_SIZE - 1):
            frames.append(pte.pop(vpn + i))
        starts, free_size = self.free_starts, self.free_size
        start, size = addr, need
        i = starts.bisect_left(addr)
        if i < len(starts) and starts[i] == addr + need:                # merge the next
            size += free_size.pop(starts[i])
            del starts[i]
        if i > 0 and starts[i - 1] + free_size[starts[i - 1]] == addr:  # into the previous
            start = starts[i - 1]
            free_size[start] += size
            return
        starts.add(start)
        free_size[start] = size


def bench_peer(p: _Params) -> dict[str, float]:
    """Metric 8: vmalloc(4096)+vfree pairs against the same pairs on :class:`MiniVmalloc`,
    each with ``small_live`` live areas."""
    _progress("vmalloc/vfree against the minimal peer ...")
    m = MiniVmalloc(VMALLOC_START, VMALLOC_START + (1 << 40), 1 << 20)
    live = [m.vmalloc(PAGE_SIZE) for _ in range(p.small_live)]
    n = p.pair_ops
    vmalloc, vfree = m.vmalloc, m.vfree

    def pairs() -> None:
        for _ in range(n):
            vfree(vmalloc(PAGE_SIZE))  # type: ignore[arg-type]

    pairs()
    assert all(a is not None for a in live)
    ours = _VmallocLoops(p.small_live, n)
    t = _rounds({"peer": _timed(pairs), "kvalloc": ours.pairs}, p.rounds, collect=False)
    ours.release()
    return {"peer_pair_us": min(t["peer"]) / n * 1e6,
            "vmalloc_pair_us": min(t["kvalloc"]) / n * 1e6,
            "vmalloc_pair_vs_peer": _ratio(t, "kvalloc", "peer")}


# -- 9. resizes: in place against the area size, a move per page ---------------------


def _in_place_grows(k: Kernel, pages: int, grows: int) -> float:
    """Seconds per in-place grow of a ``VVec[u64]`` whose area has ``pages`` pages: the
    capacity goes up one element at a time inside the area's last page."""
    from containers import EXACT, VVec, u64
    per_page = PAGE_SIZE // 8
    v = VVec(u64, kernel=k, growth=EXACT)
    v.reserve(pages * per_page - grows)
    reserve = v.reserve
    before = k.stats().vrealloc_grow_in_place
    t0 = time.perf_counter()
    for _ in range(grows):
        reserve(v.capacity - len(v) + 1)
    dt = time.perf_counter() - t0
    assert k.stats().vrealloc_grow_in_place - before == grows, "a grow moved"
    v.drop()
    return dt / grows


def bench_resize(p: _Params) -> dict[str, float]:
    """Metric 9: a container's in-place grow at 1 and 16 384 pages (their ratio at most 2:
    O(pages added), not O(area)); a vrealloc move's cost per page beyond its copy."""
    big = 16_384 if not p.quick else 2048       # the quick run keeps the metric's name
    _progress(f"in-place grows at 1 and {big} pages ...")
    k = Kernel(KernelConfig(ram=max(1 << 30, 4 * big * PAGE_SIZE)))
    grows = 400
    t = _rounds({"small": lambda: _in_place_grows(k, 1, grows),
                 "large": lambda: _in_place_grows(k, big, grows)}, p.rounds)
    small, large = min(t["small"]), min(t["large"])
    pages = 2048 if not p.quick else 256
    _progress(f"vrealloc moves of {pages} pages ...")
    size = pages * PAGE_SIZE
    m = k.machine
    moves, copies = [], []
    for _ in range(p.rounds):            # a round: a copy, then a move of the same bytes
        a = k.vmalloc(size)
        assert a is not None
        k.memset(a, 1, size)
        b = k.vmalloc(size)              # the move's destination range is taken: it moves
        assert b is not None
        k.memcpy(b, a, size)
        with _no_gc():
            t0 = time.perf_counter()
            k.memcpy(b, a, size)         # the copy alone, frames already touched
            copies.append(time.perf_counter() - t0)
        k.vfree(b)
        with m.lock, _no_gc():
            t0 = time.perf_counter()
            c, _ = m.realloc("vrealloc", a, size + PAGE_SIZE, 0xcc0, 8, -1, "bench")
            moves.append(time.perf_counter() - t0)
        assert c is not None and c != a
        k.vfree(c)
    # the median of the per-round differences, as for the ratios: not min - min, whose two
    # minima may come from rounds under different host load
    extra = statistics.median(mv - cp for mv, cp in zip(moves, copies, strict=True)) / pages
    return {"grow_in_place_us_1_page": small * 1e6, "grow_in_place_us_16384_pages": large * 1e6,
            "grow_in_place_scaling": _ratio(t, "large", "small"),
            "vrealloc_move_us_per_page": min(moves) / pages * 1e6,
            "vrealloc_move_extra_us_per_page": extra * 1e6}


# -- 10. host memory ------------------------------------------------------------------

_RSS_SCRIPT = """
import sys
from containers import VVec, u64
from kvalloc import Kernel, KernelConfig
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
payload = int(sys.argv[1])
k = Kernel(KernelConfig(ram=8 * payload if 8 * payload >= 1 << 30 else 1 << 30))
base = rss()
v = VVec(u64, kernel=k)
push = v.push
for i in range(payload // 8):
    push(i)
print((rss() - base) / payload)
"""


def bench_rss(p: _Params) -> dict[str, float]:
    """Metric 10: the host memory a ``VVec[u64]`` grown by push to 256 MiB holds, over its
    payload (a fresh process, ``VmRSS``; at most 1.25). Linux only (``/proc``)."""
    import subprocess
    if not os.path.exists("/proc/self/status"):
        return {}
    payload = (256 if not p.quick else 32) << 20
    _progress(f"host memory of a {payload >> 20} MiB VVec ...")
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(payload)], check=True,
                         capture_output=True, text=True).stdout
    return {"vvec_256mib_rss_ratio": float(out.split()[-1])}


# -- driver ---------------------------------------------------------------------------

# -- 11. the growth study ---------------------------------------------------------------

def bench_study(p: _Params) -> dict[str, float]:
    """The growth study as ``kvalloc study growth`` runs it (every CPU, events released):
    the default configurations at 50 000 and at 1 000 000 elements (the quick run: 5 000
    and 20 000), and one reallocating push of ``vmalloc``/``exact`` in this process."""
    import warnings

    from ..errors import KernelWarning
    from .study import RunSpec, _jobs, growth_study, run_growth
    default, big = (5_000, 20_000) if p.quick else (50_000, 1_000_000)
    jobs = _jobs(0, 12)
    out: dict[str, float] = {"study_jobs": float(jobs)}
    for name, n in (("study_growth_default_s", default), ("study_growth_1m_s", big)):
        _progress(f"study growth --elements {n} ({jobs} workers) ...")
        t0 = time.perf_counter()
        growth_study(n, keep_events=False, jobs=0)
        out[name] = time.perf_counter() - t0
    pushes = 5_000 if p.quick else 50_000
    _progress(f"study: {pushes} exact pushes through vmalloc ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KernelWarning)
        t = _best(lambda: run_growth(RunSpec("vmalloc", "exact", "e64f42036ef4",
                                             elements=pushes)), min(p.rounds, 3))
    out["study_exact_push_us"] = t / pushes * 1e6
    return out


_UNITS: dict[str, str] = {
    "study_growth_default_s": "s",
    "study_growth_1m_s": "s",
    "study_exact_push_us": "us",
    "study_jobs": "",
    "vmalloc_vfree_rate_100": "ops/s",
    "vmalloc_vfree_rate_100000": "ops/s",
    "vmalloc_churn_rate_100": "ops/s",
    "vmalloc_churn_rate_100000": "ops/s",
    "lowest_match_fast_us": "us",
    "lowest_match_linear_us": "us",
    "memcpy_mib_s": "MiB/s",
    "bytearray_copy_mib_s": "MiB/s",
    "idle_kernel_kib": "KiB",
    "idle_kernel_construct_ms": "ms",
    "direct_view_write_ns": "ns",
    "direct_view_paged_write_ns": "ns",
    "list_append_ns": "ns",
    "vvec_push_ns": "ns",
    "peer_pair_us": "us",
    "vmalloc_pair_us": "us",
    "grow_in_place_us_1_page": "us",
    "grow_in_place_us_16384_pages": "us",
    "vrealloc_move_us_per_page": "us",
    "vrealloc_move_extra_us_per_page": "us",
    "kvec_1m_u64_fails": "",
    "direct_view_flat": "",
}


def _line(name: str, value: float) -> str:
    """One result line: name, value (with unit), goal and PASS/MISS (or ``-`` / ``info``)."""
    goal = GOALS.get(name)
    unit = _UNITS.get(name, "x")
    shown = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    verdict = "info" if goal is None else ("PASS" if goal.met(value) else "MISS")
    return f"{name:<28} {shown + ' ' + unit:>18}   goal {str(goal) if goal else '-':<7} {verdict}"


def machine_info() -> dict[str, object]:
    """What the numbers came from: interpreter, OS, CPU model and count."""
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"implementation": platform.python_implementation(),
            "python_build": " ".join(platform.python_build()),
            "system": platform.platform(), "arch": platform.machine(),
            "cpu": cpu, "cpus": os.cpu_count()}


def run(json_path: str | None = None, quick: bool = False) -> dict[str, float]:
    """Run every benchmark, print one line per metric, and return ``{metric: value}``.

    ``quick=True`` is a smoke run (seconds): smaller sizes, fewer repeats. When
    ``json_path`` is given, the results are also written there as JSON:
    ``{"python": ..., "quick": ..., "machine": {...}, "kvalloc": version, "date": ...,
    "metrics": {name: value}, "goals": {name: {"goal": ">= 0.5", "pass": true}}}``.
    """
    p = _QUICK if quick else _FULL
    version = platform.python_version()
    print(f"kvalloc bench{' (quick)' if quick else ''}: Python {version} "
          f"({platform.python_implementation()}) on {platform.machine()}")
    if quick:
        print(f"  (quick: the *_100000 rates use {p.large_live} live areas, "
              f"copies {p.copy_bytes >> 20} MiB, {p.writes} writes)")
    results: dict[str, float] = {}
    try:
        for bench in (bench_vmalloc, bench_lowest_match, bench_memcpy, bench_idle_kernel,
                      bench_direct_view, bench_kasan, bench_containers, bench_vec_ops,
                      bench_peer,
                      bench_resize, bench_rss, bench_study):
            part = bench(p)
            _progress_done()
            for name, value in part.items():
                print(_line(name, value), flush=True)
            results.update(part)
    finally:
        _progress_done()
    missed = [n for n, g in GOALS.items() if n in results and not g.met(results[n])]
    print(f"{len(GOALS) - len(missed)}/{len(GOALS)} goals met"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    if json_path is not None:
        doc = {
            "python": version,
            "quick": quick,
            "machine": machine_info(),
            "kvalloc": __version__,
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "metrics": results,
            "goals": {n: {"goal": str(g), "pass": g.met(results[n])}
                      for n, g in GOALS.items() if n in results},
        }
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return results


def main(argv: list[str] | None = None) -> int:
    """``kvalloc bench [--json FILE] [--quick]``: run the benchmarks; exit status 0.

    A missed goal is reported (``MISS``) but is not an error: timings are informative,
    never assertions.
    """
    parser = argparse.ArgumentParser(
        prog="kvalloc bench",
        description="Measure kvalloc against in-process baselines (ratios with goals).")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="fast smoke run: smaller sizes, fewer repeats (noisy numbers)")
    args = parser.parse_args(argv)
    json_path: str | None = args.json
    quick: bool = args.quick
    run(json_path, quick=quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
