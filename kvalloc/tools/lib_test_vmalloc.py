"""The ``lib/test_vmalloc.c`` workloads (docs/mm.md#test_vmalloc) run on a simulated kernel.

Workers run one after another, each as task ``vmalloc_test/<i>`` (pid ``1000 + i``); each
shuffles the 13-entry test table unless ``sequential_test_order``. Random numbers come from
the kernel's seeded workload generator, consumed in execution order. ``pcpu_alloc_test``
needs a percpu allocator, which is not simulated: it is skipped and prints no Summary line.

Example:
    >>> from kvalloc import Kernel
    >>> k = Kernel()
    >>> results = run_test_vmalloc(k, run_test_mask=4096, test_loop_count=3)
    >>> (results[0].name, results[0].passed, results[0].failed)
    ('vrealloc_test', 1, 0)
    >>> k.dmesg[-2]
    'Summary: vrealloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 3 avg: 0 usec'
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._validate import require_int
from ..constants import NUMA_NO_NODE, PAGE_SIZE, fls
from ..gfp import G
from ..mm.page_alloc import OWNER_USER

if TYPE_CHECKING:
    from ..kernel import Kernel
    from ..mm.machine import Machine


@dataclasses.dataclass
class TestResult:
    """Counts of one test case on one worker."""

    __test__ = False   # not a pytest class
    worker: int
    name: str
    passed: int = 0
    failed: int = 0
    xfailed: int = 0
    #: host microseconds per repeat of the test (``avg:``), when run with a clock
    avg_us: float = 0.0


@dataclasses.dataclass
class _Params:
    nr_pages: int
    use_huge: bool
    loops: int
    cpus: int


class _Ctx:
    """What a test case sees: the kernel's internals, the generator, the parameters."""

    def __init__(self, m: Machine, rng: random.Random, params: _Params, name: str) -> None:
        self.m, self.rng, self.p, self.name = m, rng, params, name
        self.vm = m.vmalloc
        self.rcu_queue: list[int] = []

    def vmalloc(self, size: int) -> int | None:
        return self.vm.vmalloc_node(size, 1, G.KERNEL, self.name)

    def vfree(self, p: int | None) -> None:
        if p:
            self.vm.vfree(p)

    def store(self, addr: int, value: int) -> None:
        """A 1-byte instrumented store (``*p = value``) labelled with the test's name."""
        self.m.access.write(addr, bytes([value]), self.name)

    def load(self, addr: int) -> int:
        return self.m.access.read(addr, 1, self.name)[0]

    def kvfree_rcu(self, p: int) -> None:
        self.rcu_queue.append(p)
        if len(self.rcu_queue) >= 512:
            self.rcu_barrier()

    def rcu_barrier(self) -> None:
        queue, self.rcu_queue = self.rcu_queue, []
        for p in queue:
            self.vm.vfree(p)


def fix_size_alloc_test(c: _Ctx) -> int:
    size = max(c.p.nr_pages, 1) * PAGE_SIZE
    for _ in range(c.p.loops):
        if c.p.use_huge:
            ptr = c.vm.vmalloc_huge(size, G.KERNEL, c.name)
        else:
            ptr = c.vmalloc(size)
        if not ptr:
            return -1
        c.store(ptr, 0)
        c.vfree(ptr)
    return 0


def full_fit_alloc_test(c: _Ctx) -> int:
    junk = fls(c.p.cpus) * 8192
    ptr, junk_ptr = c.vmalloc(junk * 8), c.vmalloc(junk * 8)
    ptrs: list[int | None] = []
    rv = -1
    if ptr and junk_ptr:
        junks: list[int | None] = []
        for _ in range(junk):
            ptrs.append(c.vmalloc(PAGE_SIZE))
            junks.append(c.vmalloc(PAGE_SIZE))
        for p in junks:
            c.vfree(p)
        for _ in range(c.p.loops):
            tmp = c.vmalloc(PAGE_SIZE)
            if not tmp:
                break
            c.store(tmp, 1)
            c.vfree(tmp)
        else:
            rv = 0
    for p in ptrs:
        c.vfree(p)
    c.vfree(ptr)
    c.vfree(junk_ptr)
    return rv


def long_busy_list_alloc_test(c: _Ctx) -> int:
    ptr = c.vmalloc(15000 * 8)
    if not ptr:
        return -1
    ptrs = [c.vmalloc(PAGE_SIZE) for _ in range(15000)]
    rv = 0
    for _ in range(c.p.loops):
        p1, p2 = c.vmalloc(100 * PAGE_SIZE), c.vmalloc(PAGE_SIZE)
        if not p1 or not p2:
            c.vfree(p1)
            c.vfree(p2)
            rv = -1
            break
        c.store(p1, 0)
        c.store(p2, 1)
        c.vfree(p1)
        c.vfree(p2)
    for p in ptrs:
        c.vfree(p)
    c.vfree(ptr)
    return rv


def random_size_alloc_test(c: _Ctx) -> int:
    for _ in range(c.p.loops):
        ptr = c.vmalloc(c.rng.randint(1, 100) * PAGE_SIZE)
        if not ptr:
            return -1
        c.store(ptr, 1)                     # *((__u8 *)p) = 1;
        c.vfree(ptr)
    return 0


def _vmalloc_node(c: _Ctx, size: int, align: int) -> int | None:
    return c.vm.vmalloc_node(size, align, G.KERNEL | G.ZERO, c.name)


def fix_align_alloc_test(c: _Ctx) -> int:
    thread_size = (32 if c.m.kasan is not None else 16) << 10
    for _ in range(c.p.loops):
        ptr = _vmalloc_node(c, 5 * PAGE_SIZE, thread_size << 1)
        if not ptr:
            return -1
        c.vfree(ptr)
    return 0


def random_size_align_alloc_test(c: _Ctx) -> int:
    for _ in range(c.p.loops):
        rnd = c.rng.getrandbits(8)
        ptr = _vmalloc_node(c, ((rnd % 10) + 1) * PAGE_SIZE, 1 << (rnd % 23))
        if not ptr:
            return -1
        c.vfree(ptr)
    return 0


def align_shift_alloc_test(c: _Ctx) -> int:
    for i in range(64):
        ptr = _vmalloc_node(c, PAGE_SIZE, 1 << i)
        if not ptr:
            return -1
        c.vfree(ptr)
    return 0


def pcpu_alloc_test(c: _Ctx) -> int:   # pragma: no cover - skipped, see module docstring
    return 0


def _kvfree_rcu_test(c: _Ctx) -> int:
    for _ in range(c.p.loops):
        p = c.vmalloc(PAGE_SIZE)
        if not p:
            return -1
        c.store(p + 16, ord("a"))
        c.kvfree_rcu(p)
    return 0


def kvfree_rcu_1_arg_vmalloc_test(c: _Ctx) -> int:
    return _kvfree_rcu_test(c)


def kvfree_rcu_2_arg_vmalloc_test(c: _Ctx) -> int:
    return _kvfree_rcu_test(c)


def vm_map_ram_test(c: _Ctx) -> int:
    n = max(c.p.nr_pages, 1)
    m = c.m
    array = m.slab.kmalloc(n * 8, G.KERNEL | G.ZERO)
    blocks = m.mem.alloc_pages_bulk(G.KERNEL, n, OWNER_USER)
    if len(blocks) < n:
        for b in blocks:
            m.mem.free_pages(b)
        m.slab.kfree(array or 0)
        return 1
    for _ in range(c.p.loops):
        v = m.vmalloc.vm_map_ram(blocks)
        c.store(v or 0, ord("a"))
        m.vmalloc.vm_unmap_ram(v or 0, n)
    for b in blocks:
        m.mem.free_pages(b)
    m.slab.kfree(array or 0)
    return 0


def no_block_alloc_test(c: _Ctx) -> int:
    size = max(c.p.nr_pages, 1) * PAGE_SIZE
    for _ in range(c.p.loops):
        gfp = G.ATOMIC if c.rng.getrandbits(8) % 2 else G.NOWAIT
        ptr = c.vm.vmalloc(size, gfp, c.name)
        if not ptr:
            return -1
        c.store(ptr, 0)
        c.vfree(ptr)
    return 0


def vrealloc_test(c: _Ctx) -> int:
    vr = c.m.vrealloc
    for _ in range(c.p.loops):
        p = vr.vrealloc(0, PAGE_SIZE, G.KERNEL, 1, NUMA_NO_NODE, c.name)[0]
        if not p:
            return -1
        c.store(p, ord("a"))
        for size in (4 * PAGE_SIZE, PAGE_SIZE, PAGE_SIZE // 2, PAGE_SIZE):
            n = vr.vrealloc(p, size, G.KERNEL, 1, NUMA_NO_NODE, c.name)[0]
            if not n or c.load(n) != ord("a"):
                c.vfree(n or p)
                return -1
            p = n
        c.vfree(p)
    return 0


TestFunc = Callable[[_Ctx], int]

#: (name, function, xfail); the id of entry i is ``1 << i``. None marks a skipped test.
TEST_CASES: tuple[tuple[str, TestFunc | None, bool], ...] = (
    ("fix_size_alloc_test", fix_size_alloc_test, False),
    ("full_fit_alloc_test", full_fit_alloc_test, False),
    ("long_busy_list_alloc_test", long_busy_list_alloc_test, False),
    ("random_size_alloc_test", random_size_alloc_test, False),
    ("fix_align_alloc_test", fix_align_alloc_test, False),
    ("random_size_align_alloc_test", random_size_align_alloc_test, False),
    ("align_shift_alloc_test", align_shift_alloc_test, True),
    ("pcpu_alloc_test", None, False),
    ("kvfree_rcu_1_arg_vmalloc_test", kvfree_rcu_1_arg_vmalloc_test, False),
    ("kvfree_rcu_2_arg_vmalloc_test", kvfree_rcu_2_arg_vmalloc_test, False),
    ("vm_map_ram_test", vm_map_ram_test, False),
    ("no_block_alloc_test", no_block_alloc_test, True),
    ("vrealloc_test", vrealloc_test, False),
)


def _usec(us: float) -> str:
    """An ``avg:`` value: whole microseconds, as the kernel prints them, or two decimals
    below 1 (0 stays ``0``)."""
    return f"{us:.2f}" if 0 < us < 1 else f"{us:.0f}"


def estimate_seconds(k: Kernel, *, run_test_mask: int = 7, nr_threads: int = 0,
                     test_repeat_count: int = 1, test_loop_count: int = 1000000,
                     nr_pages: int = 0, use_huge: bool = False, sample: int = 1000,
                     clock: Callable[[], float] = time.perf_counter) -> float:
    """About how many seconds :func:`run_test_vmalloc` with these parameters takes on this
    host. Each selected test runs on scratch kernels configured as ``k`` (``k`` itself is
    not touched) with ``sample`` and ``2 * sample`` loops, timed by ``clock`` (seconds):
    the difference is the cost of the loops, the rest the test's fixed setup (such as
    ``long_busy_list_alloc_test``'s 15 000 areas); both are scaled to
    ``test_loop_count``, the workers and the repeats. O(sample x tests)."""
    from ..kernel import Kernel as _Kernel
    loops = test_loop_count if test_loop_count > 0 else 1
    n = max(1, sample)
    if loops <= 2 * n:
        n = loops
    per_worker = 0.0
    for bit in range(len(TEST_CASES)):
        if not run_test_mask & (1 << bit) or TEST_CASES[bit][1] is None:
            continue
        times = []
        for count in (n, 2 * n) if n < loops else (n,):
            scratch = _Kernel(k.config)
            t0 = clock()
            run_test_vmalloc(scratch, run_test_mask=1 << bit, nr_threads=1,
                             test_repeat_count=1, test_loop_count=count, nr_pages=nr_pages,
                             use_huge=use_huge)
            times.append(clock() - t0)
        if len(times) == 1:
            per_worker += times[0]
        else:
            per_loop = max(0.0, (times[1] - times[0]) / n)
            per_worker += max(0.0, times[0] - per_loop * n) + per_loop * loops
    workers = min(max(nr_threads, 1), 65535)
    repeat = test_repeat_count if test_repeat_count > 0 else 1
    return per_worker * workers * repeat


def _shuffle(order: list[int], rng: random.Random) -> None:
    """``shuffle_array``: swap ``i`` with ``get_random_u32_below(i)`` for i = n-1 .. 1."""
    for i in range(len(order) - 1, 0, -1):
        j = rng.randrange(i)
        order[i], order[j] = order[j], order[i]


def run_test_vmalloc(k: Kernel, *, run_test_mask: int = 7, nr_threads: int = 0,
                     sequential_test_order: bool = False, test_repeat_count: int = 1,
                     test_loop_count: int = 1000000, nr_pages: int = 0, use_huge: bool = False,
                     progress: Callable[[str], None] | None = None,
                     clock: Callable[[], int] | None = None) -> list[TestResult]:
    """Load ``test_vmalloc`` with these module parameters; Summary lines go to ``k.dmesg``.

    Returns one :class:`TestResult` per worker and selected, non-skipped test, in the order of
    the Summary lines. O(loops x work per loop).

    The simulated kernel has no clock of its own: with ``clock`` (nanoseconds, for example
    :func:`time.perf_counter_ns`) the Summary lines report what the simulation took on the
    host, ``avg:`` in microseconds per repeat (with two decimals below 1) and the worker's
    "cycles" in host nanoseconds; without it they print 0 and the log stays deterministic.
    """
    for name, value in (("run_test_mask", run_test_mask), ("nr_threads", nr_threads),
                        ("test_repeat_count", test_repeat_count),
                        ("test_loop_count", test_loop_count), ("nr_pages", nr_pages)):
        require_int(name, value)
    if run_test_mask < 0 or nr_pages < 0:
        raise ValueError("run_test_mask and nr_pages must not be negative")
    workers = min(max(nr_threads, 1), 65535)
    repeat = test_repeat_count if test_repeat_count > 0 else 1
    loops = test_loop_count if test_loop_count > 0 else 1
    params = _Params(nr_pages, use_huge, loops, k.config.cpus)
    results: list[list[TestResult]] = []
    m = k.machine
    with m.lock:
        rng = m.workload_rng
        log = m.log
        saved = (log.comm, log.pid)
        try:
            took: list[int] = []
            for w in range(workers):
                start = clock() if clock is not None else 0
                log.comm, log.pid = f"vmalloc_test/{w}", 1000 + w
                order = list(range(len(TEST_CASES)))
                if not sequential_test_order:
                    _shuffle(order, rng)
                mine = {i: TestResult(w, TEST_CASES[i][0]) for i in range(len(TEST_CASES))}
                for i in order:
                    name, func, xfail = TEST_CASES[i]
                    if not run_test_mask & (1 << i) or func is None:
                        continue
                    if progress is not None:
                        progress(f"worker {w}: {name}")
                    res = mine[i]
                    t0 = clock() if clock is not None else 0
                    for _ in range(repeat):
                        ctx = _Ctx(m, rng, params, name)
                        rv = func(ctx)
                        ctx.rcu_barrier()
                        if rv == 0:
                            res.passed += 1
                        elif xfail:
                            res.xfailed += 1
                        else:
                            res.failed += 1
                    if clock is not None:
                        res.avg_us = (clock() - t0) / repeat / 1000
                results.append([mine[i] for i in range(len(TEST_CASES))
                                 if run_test_mask & (1 << i) and TEST_CASES[i][1] is not None])
                took.append(clock() - start if clock is not None else 0)
        finally:
            log.comm, log.pid = saved
        for w, res_list in enumerate(results):
            for r in res_list:
                log.pr(f"Summary: {r.name} passed: {r.passed} failed: {r.failed} xfailed: "
                       f"{r.xfailed} repeat: {repeat} loops: {loops} avg: {_usec(r.avg_us)} usec")
            log.pr(f"All test took worker{w}={took[w]} cycles")
    return [r for res_list in results for r in res_list]
