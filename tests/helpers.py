"""Shared test helpers: constants and expected-text builders, kernel factories, checks.

Notation (as in KERNEL.md): VS = VMALLOC_START, dm(pfn) = the direct-map address of a frame
(4.1), PFN0 = the first simulated frame (1.2); the vrealloc profiles are numbered as in 10.1
(P1 = 3ddc2fefe6f3 ... P9 = latest).
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import pytest
from hypothesis import strategies as st

from containers import KBox, KVBox, KVec, KVVec, VBox, Vec, VVec
from kvalloc import (
    GFP,
    PAGE_SIZE,
    VMALLOC_START,
    Kernel,
    KernelConfig,
    KernelWarning,
    VmArea,
)

T = TypeVar("T")

# --------------------------------------------------------------------------- constants

PAGE_OFFSET = 0xFFFF888000000000  # KERNEL.md 1.1 (direct map base)
VS = VMALLOC_START
K = VMALLOC_START  # the same address, as the issue-derived tests spell it
PFN0 = 0x100000  # KERNEL.md 1.2 first simulated pfn
TOTAL_4G = (4 << 30) // PAGE_SIZE  # 1048576 frames
PAGE = PAGE_SIZE
MIB = 1 << 20
CUT = "------------[ cut here ]------------"  # KERNEL.md 0.5


# --------------------------------------------------------------------------- small checks


def dm(pfn: int) -> int:
    """Direct-map address of a frame (KERNEL.md 4.1)."""
    return PAGE_OFFSET + pfn * PAGE_SIZE


def ck(k: Kernel, value: T) -> T:
    """Run the invariant checker after a step and pass the step's result through."""
    k.check()
    return value


def nn(value: T | None) -> T:
    """Narrow an Optional result that the test expects to be present."""
    assert value is not None
    return value


def ok(k: Kernel, p: int | None) -> int:
    """A call that must succeed; check() after it (KERNEL.md 18)."""
    k.check()
    assert p is not None
    return p


def stats_without_warnings(k: Kernel) -> dict[str, int]:
    """Every KernelStats field except ``warnings`` (which a refused call legitimately bumps)."""
    d = dataclasses.asdict(k.stats())
    d.pop("warnings")
    return d


STAT_FIELDS = (
    "total_pages", "free_pages", "nr_vmalloc_pages", "vmap_areas", "free_vmap_areas",
    "vmap_lazy_nr", "lazy_max_pages", "nr_purges", "nr_tlb_flushes", "slab_pages",
    "vrealloc_calls", "vrealloc_shrink", "vrealloc_grow_in_place", "vrealloc_moved",
    "vrealloc_bytes_copied", "vrealloc_pages_freed", "warnings", "kasan_reports",
)


def stats(k: Kernel) -> dict[str, int]:
    s = k.stats()
    return {name: getattr(s, name) for name in STAT_FIELDS}


@contextmanager
def quiet() -> Iterator[None]:
    """Silence KernelWarnings (dmesg still records them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KernelWarning)
        yield


@contextmanager
def kernel_warnings(n: int) -> Iterator[None]:
    """Expect exactly n KernelWarning issued in the block (API.md 6)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        yield
    got = [w for w in rec if issubclass(w.category, KernelWarning)]
    assert len(got) == n, [str(w.message) for w in got]


def assert_refused(k: Kernel, call: Callable[[], object], expect: object,
                   new_lines: list[str], nr_warnings: int) -> None:
    """Run a call the kernel refuses: result, exact new dmesg lines, nothing else changed."""
    before = stats_without_warnings(k)
    warns_before = k.stats().warnings
    info_before = k.vmallocinfo()
    log_len = len(k.dmesg)
    with quiet():
        result = call()
    assert result == expect
    assert k.dmesg[log_len:] == new_lines
    assert k.stats().warnings == warns_before + nr_warnings
    assert stats_without_warnings(k) == before
    assert k.vmallocinfo() == info_before
    k.check()


def failing(k: Kernel, call: Callable[[], T], lines: list[str], nwarn: int) -> T:
    """Run a call that must fail/no-op: exact new dmesg lines, stats unchanged but warnings."""
    before = stats(k)
    n = len(k.dmesg)
    with kernel_warnings(nwarn):
        result = call()
    k.check()
    assert k.dmesg[n:] == lines
    before["warnings"] += nwarn
    assert stats(k) == before
    return result


# --------------------------------------------------------------------------- dmesg texts


def warn_lines(message: str | None, function: str) -> list[str]:
    """The dmesg lines of a WARN (or WARN_ON when message is None)."""
    lines = ["------------[ cut here ]------------"]
    if message is not None:
        lines.append(message)
    lines.append(f"WARNING: CPU: 0 PID: 1 at {function}")
    return lines


def warn_on(function: str) -> list[str]:
    """A WARN_ON(cond): first and third line only (KERNEL.md 0.5)."""
    return warn_lines(None, function)


def warn_alloc(msg: str, gfp: int, names: str) -> str:
    """One warn_alloc line (KERNEL.md 0.5)."""
    return f"kvalloc: {msg}, mode:{gfp:#x}({names}), nodemask=(null),cpuset=/,mems_allowed=0"


def mode(gfp: int, text: str) -> str:
    """The ``mode:`` tail of a warn_alloc line."""
    return f"mode:{gfp:#x}({text}), nodemask=(null),cpuset=/,mems_allowed=0"


def walloc(msg: str, mode: str) -> str:
    """A warn_alloc line (KERNEL.md 0.5), the mode already rendered."""
    return f"kvalloc: {msg}, mode:{mode}, nodemask=(null),cpuset=/,mems_allowed=0"


# %#x(%pGg) of the gfp masks used by the instrument tests (KERNEL.md 2.2, 2.4)
M_K = "0xcc0(GFP_KERNEL)"
M_KA = "0x400cc0(GFP_KERNEL_ACCOUNT)"
M_KZ = "0xdc0(GFP_KERNEL|__GFP_ZERO)"


def pages_fail(size: int, mode: str) -> str:
    """The page-allocation failure of ``__vmalloc_area_node()``: ``size`` is that of the pages
    obtained before the failure (``area->nr_pages * PAGE_SIZE``)."""
    return walloc(f"vmalloc error: size {size}, failed to allocate pages", mode)


_HIGHMEM_FORMS = {
    "mode:0xcc2(GFP_KERNEL|__GFP_HIGHMEM)": "mode:" + M_K,
    "mode:0x400cc2(GFP_KERNEL_ACCOUNT|__GFP_HIGHMEM)": "mode:" + M_KA,
    "mode:0xdc2(GFP_KERNEL|__GFP_HIGHMEM|__GFP_ZERO)": "mode:" + M_KZ,
}


def norm(lines: list[str]) -> list[str]:
    """8.4 step 1 adds __GFP_HIGHMEM to gfp; whether the warn_alloc lines of 8.4 ("the
    caller's gfp") include it is ambiguous (the kernel prints it), so both are accepted by
    mapping the HIGHMEM rendering of a "vmalloc error" line onto the plain one."""
    out = []
    for x in lines:
        if "vmalloc error: size" in x:
            for a, b in _HIGHMEM_FORMS.items():
                x = x.replace(a, b)
        out.append(x)
    return out


# --------------------------------------------------------------------------- views


def buddy_line(counts: list[int]) -> str:
    """KERNEL.md 14.3: `Node 0, zone %8s ` then `%6lu ` per order."""
    assert len(counts) == 11
    return "Node 0, zone   Normal " + "".join(f"{c:6d} " for c in counts)


def buddy(k: Kernel) -> list[str]:
    return k.buddyinfo().splitlines()


FRESH_BUDDY = buddy_line([0] * 10 + [1024])


def meminfo_lines(total_kb: int, free_kb: int, used_kb: int) -> list[str]:
    """KERNEL.md 14.2: 16-character label, value in 8 columns, then ` kB`."""
    return [
        f"{'MemTotal:':<16}{total_kb:>8} kB",
        f"{'MemFree:':<16}{free_kb:>8} kB",
        "VmallocTotal:   34359738367 kB",
        f"{'VmallocUsed:':<16}{used_kb:>8} kB",
        "VmallocChunk:          0 kB",
    ]


def vinfo(k: Kernel) -> list[str]:
    return k.vmallocinfo().splitlines()


def pfns(k: Kernel, addr: int) -> list[int]:
    area = nn(k.find_vm_area(addr))
    return [p.pfn for p in area.pages]


# --------------------------------------------------------------------------- instruments

Mode = Literal["off", "generic", "sw_tags"]


def instrumented_kernel(kasan: Mode = "off", *, fault: Literal["report", "panic"] = "report",
                        seed: int = 0, ram: int = 4 << 30, lazy: int | None = None,
                        panic_on_warn: bool = False, multi_shot: bool = False) -> Kernel:
    return Kernel(KernelConfig(kasan=kasan, kasan_fault=fault, seed=seed, ram=ram,
                               lazy_max_pages=lazy, panic_on_warn=panic_on_warn,
                               kasan_multi_shot=multi_shot))


def untag(a: int) -> int:
    """KERNEL.md 0.4."""
    return (a & ((1 << 56) - 1)) | (0xFF << 56)


# --------------------------------------------------------------------------- vrealloc profiles

HIST = (
    "3ddc2fefe6f3", "d699440f58ce", "a0309faf1cb0", "f7a35a3c36d1", "70d1eb031a68",
    "4c5d3365882d", "007f5da43b3d", "9b47d4eea3f7", "e64f42036ef4",
)  # KERNEL.md 10.1 / API.md 3
ALL_PROFILES = pytest.mark.parametrize("profile", HIST)


def profile_kernel(profile: str, **kw: object) -> Kernel:
    k = Kernel(KernelConfig(vrealloc=profile, **kw))  # type: ignore[arg-type]
    k.check()
    return k


def area(k: Kernel, p: int) -> VmArea:
    a = k.find_vm_area(p)
    assert a is not None
    return a


def alloc(k: Kernel, size: int, gfp: int = GFP.KERNEL) -> int:
    p = k.vmalloc(size) if gfp == GFP.KERNEL else k.vmalloc(size, gfp)
    assert p is not None
    k.check()
    return p


def nonzero_pattern(n: int, seed: int = 0) -> bytes:
    """Non-zero bytes, so that zeroing and copying are both visible."""
    return bytes((i * 7 + seed) % 251 + 1 for i in range(n))


def vrealloc_events(k: Kernel) -> list[dict[str, int | str]]:
    return [e.fields for e in k.trace.events if e.name == "vrealloc"]


# --------------------------------------------------------------------------- resize sequences

resize_sizes = st.one_of(st.integers(1, 3 * 4096),
                         st.sampled_from([4095, 4096, 4097, 8192, 16384]),
                         st.integers(1, 300_000), st.just(0))


def resize_sequence(k: Kernel, seq: list[int], seed: int, api: str) -> None:
    """Resize one allocation through ``seq`` against a bytes model, ``check()`` every step."""
    rng = random.Random(seed)
    resize = {"vrealloc": k.vrealloc, "kvrealloc": k.kvrealloc, "krealloc": k.krealloc}[api]
    p: int | None = None
    model = b""
    for size in seq:
        if api == "krealloc" and size > 4 << 20:
            continue
        q = resize(p, size)
        if size == 0:
            assert q in (None, 16)               # vrealloc: NULL; kmalloc memory: ZERO_SIZE_PTR
            p, model = None, b""
            k.check()
            continue
        assert q is not None
        keep = min(len(model), size)
        assert k.read(q, keep) == model[:keep]
        # write a random window so the next step has fresh data to preserve
        start = rng.randrange(size)
        data = rng.randbytes(min(size - start, 5000))
        k.write(q + start, data)
        model = (model[:keep] + k.read(q + keep, size - keep))
        model = model[:start] + data + model[start + len(data):]
        assert k.read(q, size) == model
        p = q
        k.check()
    if p is not None:
        k.kvfree(p)
    k.vm_unmap_aliases()
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.nr_vmalloc_pages, s.slab_pages) == (0, 0, 0)


# --------------------------------------------------------------------------- containers

VecClass = type[KVec[Any]] | type[VVec[Any]] | type[KVVec[Any]]
BoxClass = type[KBox[Any]] | type[VBox[Any]] | type[KVBox[Any]]

VEC_CLASSES: list[VecClass] = [KVec, VVec, KVVec]
BOX_CLASSES: list[BoxClass] = [KBox, VBox, KVBox]


def class_name(x: object) -> str:
    """A parametrize id: the class's name."""
    return getattr(x, "__name__", repr(x))


def finish_kernel(kern: Kernel) -> None:
    """Teardown of a container test's kernel: no KASAN report, every invariant intact."""
    kern.fault.clear()
    assert kern.kasan_reports == []
    kern.check()


def fail_everything(kern: Kernel) -> None:
    """Make every page and slab allocation fail until ``kern.fault.clear()``."""
    kern.fault.fail_page_alloc(probability=1.0, times=-1)
    kern.fault.failslab(probability=1.0, times=-1)


@contextmanager
def no_memory(kern: Kernel) -> Iterator[None]:
    """Every page and slab allocation fails inside the block."""
    fail_everything(kern)
    try:
        yield
    finally:
        kern.fault.clear()


class Token:
    """A distinct object per stored value, so that a pyobj container's identity is checked."""

    __slots__ = ("n", "__weakref__")

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"T{self.n}"


def memory_state(kern: Kernel) -> dict[str, int]:
    """The memory-owning counters once the kernel's deferred work ran (the cleanup of failed
    areas, mm/vmalloc.c: cleanup_vm_area_work()), lazily freed vmap areas were purged and the
    vmap node pools emptied."""
    kern.run_workqueues()
    kern.vm_unmap_aliases()
    kern.vmap_node_shrink()
    s = kern.stats()
    return {"free_pages": s.free_pages, "nr_vmalloc_pages": s.nr_vmalloc_pages,
            "vmap_areas": s.vmap_areas, "free_vmap_areas": s.free_vmap_areas,
            "vmap_lazy_nr": s.vmap_lazy_nr, "slab_pages": s.slab_pages}


DUPLICATIONS = ("copy", "deepcopy", "clone", "pickle")


def duplicate(c: Any, how: str) -> Any:
    """``c`` copied one of the four ways (:data:`DUPLICATIONS`); a pickled container is
    rebuilt on the default kernel."""
    if how == "copy":
        return copy.copy(c)
    if how == "deepcopy":
        return copy.deepcopy(c)
    if how == "clone":
        return c.clone()
    assert how == "pickle", how
    return pickle.loads(pickle.dumps(c))


def snapshot(v: Vec[Any, Any]) -> tuple[int, int, int, list[Any], bytes]:
    return len(v), v.capacity, v.ptr, v.to_list(), v.as_bytes()


def default_sigint() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C: SIGINT back at its default, as for a
    command in a terminal's foreground (a job a shell starts in the background without job
    control, such as a CI step run with ``&``, inherits SIGINT ignored)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
