"""Growth and shrink studies: how vectors grow through each allocator, policy and vrealloc
commit, and what a vrealloc shrink gives back (``kvalloc study growth`` / ``study shrink``).

A growth run drives one vector on a fresh kernel through a workload (by default ``push``:
``elements`` values pushed one by one) and records an *event* for every call the vector's
buffer makes into its allocator: a first allocation (``fresh``), a resize that kept the
pointer (``in_place``) or moved the buffer (``moved``), a refused one (``failed``) and the
final ``freed``. Events come from the allocator layer (:class:`kvalloc.ReallocEvent`), so
``reserve``, ``extend_from_slice`` and ``shrink_to`` are seen as well as pushes. Every column
of a row is computed from the run's events and the kernel snapshots taken with them, so a
sweep over N (:func:`sweep_rows`) is derived from one run and equals a run stopped at each N.
The columns are defined in :data:`GLOSSARY` (``kvalloc study growth --explain``,
docs/study.md).

``moveonly`` is the baseline allocator that never resizes in place.

Example:
    >>> rows, _ = growth_study(elements=1000, allocs=["vmalloc", "moveonly"], policies=["rust_kvec"])
    >>> [(r["alloc"], r["fresh"], r["reallocs"], r["in_place"], r["moved"]) for r in rows]
    [('vmalloc', 1, 10, 9, 1), ('moveonly', 1, 10, 0, 10)]
"""

from __future__ import annotations

import array
import bisect
import dataclasses
import functools
import json
import operator
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from containers import elem as elems
from containers.growth import POLICIES
from containers.vec import Vec
from kvalloc import (
    VREALLOC_HISTORY,
    AllocError,
    CostModel,
    Kernel,
    KernelConfig,
    KernelWarning,
    ReallocEvent,
)
from kvalloc.alloc import Allocator, Kmalloc, KVmalloc, Layout, MoveOnly, Vmalloc
from kvalloc.config import VREALLOC_ALIASES
from kvalloc.constants import KMALLOC_MAX_SIZE, PAGE_SIZE
from kvalloc.profiles import KERNEL_PROFILES, VreallocProfile, register_profile, resolve_profile

from . import background as bg
from .background import fragmentation

ALLOCS: dict[str, Callable[[Kernel], Any]] = {
    "kmalloc": Kmalloc, "vmalloc": Vmalloc, "kvmalloc": KVmalloc,
    "moveonly": lambda k: MoveOnly(Vmalloc(k)),
}
#: Allocators whose behaviour does not depend on the vrealloc profile: one run serves all.
PROFILE_FREE_ALLOCS = frozenset({"kmalloc", "moveonly"})
ELEMS: dict[str, elems.Elem[Any]] = {
    name: getattr(elems, name) for name in
    ("u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "usize", "isize", "f32", "f64")
}

#: commit -> (kernel version, the commit's title), oldest first (docs/vrealloc.md#profiles);
#: the aliases are kvalloc.profiles.VREALLOC_ALIASES.
PROFILE_INFO: dict[str, tuple[str, str]] = {
    p.commit: (p.version, p.description) for p in KERNEL_PROFILES}
_ALIAS_OF = {commit: alias for alias, commit in VREALLOC_ALIASES.items()}

#: Every column of a growth row, in order, with its meaning (``--explain``, docs/study.md).
GLOSSARY: dict[str, str] = {
    "alloc": "the allocator: kmalloc (krealloc), vmalloc (vrealloc), kvmalloc (kvrealloc), "
             "or moveonly (allocate, copy, free: never in place)",
    "policy": "the growth policy: how the vector picks its new capacity",
    "profile": "the vrealloc profile, as its commit id",
    "profile_alias": "the profile's alias (latest, v6.12, ...), empty for commits without one "
                     "and for what-ifs",
    "profile_kind": "kernel (a commit of mm/vmalloc.c) or what-if (a change no kernel has, "
                    "docs/whatif.md)",
    "workload": "what the vectors were put through: push (N values pushed one by one), burst, "
                "sawtooth, bpf-insn-hist, random, or a trace file (docs/workloads.md)",
    "elem": "the element type",
    "elem_size": "bytes per element, padded to its alignment",
    "elements": "N, the elements the workload asked for, per vector (kept when the run fails)",
    "vectors": "how many vectors ran the workload side by side in one kernel (--vectors)",
    "churn": "the lib/test_vmalloc.c-style background between reallocations (--churn), or empty",
    "background": "the /proc/vmallocinfo whose population was recreated first, or empty",
    "len": "elements in all the buffers at the end",
    "status": "ok, or where the run failed (AllocError at len L)",
    "failed_at": "the length at which the allocator refused, or empty",
    "fresh": "first allocations: calls with no old buffer (not resizes)",
    "reallocs": "resizes of an existing buffer; reallocs == in_place + moved",
    "in_place": "resizes that kept the pointer",
    "moved": "resizes that returned a new pointer (the contents were copied)",
    "failed": "resizes or allocations the allocator refused (AllocError); nothing changed",
    "vrealloc_fresh": "vrealloc calls with a NULL pointer (kernel counter)",
    "vrealloc_in_place": "vrealloc calls that returned the same pointer: shrinks and in-place grows",
    "vrealloc_moved": "vrealloc calls that moved an existing area, including fall-throughs",
    "vrealloc_fallthrough": "of vrealloc_moved: a0309faf1cb0's in-place grow that reallocated anyway",
    "bytes_copied": "bytes the kernel (or moveonly) copied over the whole run",
    "worst_copy_bytes": "the largest single copy: the cost of the worst push",
    "copies_per_element": "bytes_copied in elements, per element at the end (amortised copies)",
    "capacity": "elements the buffer holds at the end",
    "requested_bytes": "capacity * elem_size: what the vector asked its allocator for",
    "allocated_bytes": "what the allocator really holds: ksize() of a kmalloc object, or the "
                       "mapped pages of a vmalloc area * 4096 (huge mappings rounded to 2 MiB)",
    "allocator_slack_bytes": "allocated_bytes - requested_bytes: what the allocator's rounding costs",
    "container_slack_bytes": "(capacity - len) * elem_size: spare capacity the policy keeps",
    "data_pages": "pages holding the buffer at the end (allocated_bytes / 4096, rounded up)",
    "metadata_pages": "other pages the run holds at the end: a vm area's pages[] array, slab "
                      "pages (a churn's are not the run's)",
    "peak_pages": "the most pages the run held at any moment, old and new buffers together "
                  "during a move",
    "overhead_pct": "memory held at the end ((data_pages + metadata_pages) * 4096) over the "
                    "payload (len * elem_size), minus 100 %",
    "peak_va_bytes": "the most address space held at once beyond what was held at the start "
                     "(busy and unpurged areas, guard pages included; a churn's too)",
    "lazy_va_bytes": "address space held at the end by areas freed but not yet purged (all of "
                     "the kernel's, a background's included)",
    "purges": "lazy-free purges the run's own calls made (__purge_vmap_area_lazy; a churn's "
              "steps not counted)",
    "tlb_flushes": "kernel TLB flushes the run's own calls made",
    "ptes_mapped": "4 KiB page-table entries the run's own calls set (vremap maps a moved "
                   "area's pages again instead of copying them)",
    "ptes_unmapped": "4 KiB page-table entries the run's own calls cleared",
    "est_time_ms": "estimated time of every resize and allocation of the run, in ms, from the "
                   "work counted (Kernel.work()) priced by the cost model (--cost-model, "
                   "docs/cost_model.md); the background's work is not included",
    "est_ns_per_element": "est_time_ms per element at the end, in ns (amortised time)",
    "worst_est_us": "the estimated time of the slowest single resize, in µs",
    "free_areas": "free blocks of address space in the vmalloc range at the end",
    "largest_hole_bytes": "the largest free block below the highest busy or lazy area at the end",
    "va_span_bytes": "from VMALLOC_START to the end of the highest busy or lazy area at the end",
}
GROWTH_COLUMNS: tuple[str, ...] = tuple(GLOSSARY)

#: Keys of one line of ``--events`` (JSON Lines), then the run's own keys.
EVENT_KEYS = ("seq", "len", "old_capacity", "new_capacity", "old_bytes", "new_bytes",
              "old_allocated", "new_allocated", "outcome", "bytes_copied", "backing", "old_ptr",
              "new_ptr", "buffer", "est_ns")
EVENT_RUN_KEYS = ("alloc", "policy", "profile", "workload")

#: The default table: (header line 1, header line 2, cell, format, width). 126 characters.
TABLE: tuple[tuple[str, str, str, str, int], ...] = (
    ("alloc", "", "alloc", "s", 8), ("policy", "", "policy", "s", 12),
    ("profile", "", "profile_label", "s", 12), ("N", "", "n_cell", "s", 8),
    ("reallocs", "", "reallocs", "d", 8), ("in place", "", "in_place", "d", 8),
    ("moved", "", "moved", "d", 6), ("copied", "MiB", "copied_mib", ".2f", 9),
    ("copies/", "elem", "copies_per_element", ".3f", 9), ("worst", "KiB", "worst_copy_kib", ".1f", 7),
    ("overhead", "%", "overhead_pct", ".1f", 8), ("est time", "µs", "est_time_us", ".1f", 9),
)
TABLE_WIDTH = 126


def profile_commit(profile: str | VreallocProfile) -> str:
    """The name rows use for a profile: the commit id of a kernel profile (given by commit
    or alias), the name of a what-if (given by name, by ``module:NAME`` or as the profile
    itself, which registers it); ValueError if unknown."""
    prof = resolve_profile(profile)
    if prof.kind == "what-if":
        register_profile(prof)
    return prof.name


def profile_alias(commit: str) -> str:
    """The alias of a commit (``latest``, ``v6.12``, ...), or ``""``."""
    return _ALIAS_OF.get(commit, "")


def profile_kind(name: str) -> str:
    """``"kernel"`` for a commit id, else ``"what-if"`` (a registered what-if, or one of a
    module that is not imported here, as in rows read back from a file)."""
    return "kernel" if name in VREALLOC_HISTORY else "what-if"


def profile_label(name: str) -> str:
    """How tables and figures name a profile: a kernel commit by its alias (or commit id),
    a what-if as ``what-if:NAME``, so the two are never confused.

    >>> profile_label("e64f42036ef4"), profile_label("grow-into-va")
    ('latest', 'what-if:grow-into-va')
    """
    if profile_kind(name) == "what-if":
        return f"what-if:{name}"
    return _ALIAS_OF.get(name, name)


def element(name: str) -> elems.Elem[Any]:
    """An element type by name (``u64``) or size (``16B``: an opaque 16-byte record)."""
    if name in ELEMS:
        return ELEMS[name]
    if name.endswith("B") and name[:-1].isdigit() and int(name[:-1]) > 0:
        return elems.Struct(f"<{int(name[:-1])}s")
    raise ValueError(f"unknown element type {name!r}; valid: {', '.join(ELEMS)}, or NB "
                     "for an N-byte record (16B)")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One configuration of the growth study.

    ``workload`` is a name of :data:`kvalloc.tools.trace.WORKLOADS` or a trace file;
    ``vectors`` copies of its vector 0 run in one kernel, interleaved ``round-robin`` (one
    step of each in turn) or ``random`` (seeded by ``seed``); a push of N is N steps. With
    ``churn`` (a :data:`kvalloc.tools.background.CHURN_CASES` name), ``churn_steps`` of that
    background run after every reallocation; ``background`` is a ``/proc/vmallocinfo``
    file whose population is recreated first.
    """

    alloc: str
    policy: str
    profile: str          # commit id
    elem: str = "u64"
    elements: int = 50_000
    workload: str = "push"
    vectors: int = 1
    interleave: str = "round-robin"
    seed: int = 0
    churn: str = ""
    churn_steps: int = 4
    background: str = ""


@dataclasses.dataclass
class Run:
    """What one growth run recorded: its events, a kernel snapshot after each, the result.

    The events are kept in columns of machine ints (``array``), not as Python objects: a
    million-event run holds about 250 MB less and gives the garbage collector nothing to
    walk. ``ev`` holds :data:`_EV_FIELDS` ints per event (strings as indices into
    :data:`OUTCOMES`, :data:`BACKINGS` and ``buffers``), ``ptrs`` the old and new pointer,
    ``snaps`` :data:`_Recorder.SNAP` ints per event (the kernel after it), ``steps`` the
    workload step of each event. The fragmentation fields of a snapshot are measured only
    where a row reads them (the last event, and the sweep points ``run_growth`` was given);
    elsewhere they are -1.
    """

    spec: RunSpec
    elem_size: int
    ev: array.array[int]
    ptrs: array.array[int]
    snaps: array.array[int]
    base: tuple[int, ...]                 # the snapshot before the first event
    steps: array.array[int]
    buffers: list[str]                    # buffer names (v0, r1, ...) by index
    length: int                           # elements in all buffers at the end
    failed_at: int | None                 # length of the refused buffer, or None
    dmesg: list[str] = dataclasses.field(default_factory=list)   # what the kernel logged

    released: bool = False                # release_events() was called

    def __len__(self) -> int:
        """The number of events."""
        return len(self.steps)

    def release_events(self) -> None:
        """Drop the event columns (a study that has made its rows no longer needs them);
        :attr:`dmesg`, :attr:`length` and :attr:`failed_at` stay. Afterwards the events,
        rows and snapshots raise ValueError."""
        self.ev, self.ptrs, self.snaps = array.array("q"), array.array("Q"), array.array("q")
        self.steps = array.array("q")
        self.__dict__.pop("events", None)
        self.released = True

    def _need_events(self) -> None:
        if self.released:
            raise ValueError("this run's events were released (growth_study(keep_events=False))")

    def record(self, i: int) -> tuple[Any, ...]:
        """Event ``i`` as the values of :data:`EVENT_KEYS`, in order. O(1)."""
        self._need_events()
        f = self.ev[i * _EV_FIELDS:(i + 1) * _EV_FIELDS]
        return (i, f[0], f[1], f[2], f[3], f[4], f[5], f[6], OUTCOMES[f[7]], f[8],
                BACKINGS[f[9]], self.ptrs[2 * i], self.ptrs[2 * i + 1], self.buffers[f[10]],
                f[11])

    def snap(self, i: int) -> tuple[int, ...]:
        """The kernel snapshot after event ``i`` (``base`` for ``i == -1``). O(1)."""
        self._need_events()
        if i < 0:
            return self.base
        w = len(self.base)
        return tuple(self.snaps[i * w:(i + 1) * w])

    @functools.cached_property
    def events(self) -> list[dict[str, Any]]:
        """The events as dicts keyed by :data:`EVENT_KEYS` (built on first use)."""
        self._need_events()
        return [dict(zip(EVENT_KEYS, self.record(i))) for i in range(len(self))]

    def row(self) -> dict[str, Any]:
        """The summary row of the whole run (:data:`GROWTH_COLUMNS`)."""
        self._need_events()
        tally = _Tally(self)
        tally.advance(len(self))
        return _summarise(self, tally, self.length, self.spec.elements)


#: ``outcome`` and ``backing`` of an event, by their index in :attr:`Run.ev`.
OUTCOMES = ("fresh", "in_place", "moved", "failed", "freed")
BACKINGS = ("", "kmalloc", "vmalloc", "vmalloc_huge")
_OUTCOME = {name: i for i, name in enumerate(OUTCOMES)}
_BACKING = {name: i for i, name in enumerate(BACKINGS)}
_FAILED = _OUTCOME["failed"]
# ints per event in Run.ev: len, old and new capacity, old and new bytes, old and new
# allocated, outcome, bytes copied, backing, buffer, estimated ns
_EV_FIELDS = 12


class _Tally:
    """Running sums over a growing prefix of a run's events: a row at each N of a sweep in
    O(events) for the whole sweep, at C speed (``array`` slices, ``count``, ``sum``)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.upto = 0
        self.count = [0] * len(OUTCOMES)
        self.copied = 0
        self.worst = 0
        self.est_ns = 0
        self.worst_ns = 0
        self.held: dict[int, tuple[int, int]] = {}     # buffer -> (capacity, allocated)

    def advance(self, upto: int) -> None:
        """Take in the events before ``upto`` (at least :attr:`upto`)."""
        ev, nf = self.run.ev, _EV_FIELDS
        a, b = self.upto * nf, upto * nf
        if b <= a:
            return
        outcomes = ev[a + 7:b:nf]
        for code in range(len(OUTCOMES)):
            self.count[code] += outcomes.count(code)
        copied = ev[a + 8:b:nf]
        self.copied += sum(copied)
        self.worst = max(self.worst, max(copied))
        est = ev[a + 11:b:nf]
        self.est_ns += sum(est)
        self.worst_ns = max(self.worst_ns, max(est))
        bufs, caps, allocated = ev[a + 10:b:nf], ev[a + 2:b:nf], ev[a + 6:b:nf]
        need = set(bufs)                    # the last event of each buffer that held memory
        for i in range(len(bufs) - 1, -1, -1):
            buf = bufs[i]
            if buf in need and outcomes[i] != _FAILED:
                self.held[buf] = (caps[i], allocated[i])
                need.discard(buf)
                if not need:
                    break
        self.upto = upto


class _Recorder:
    """The allocator observers of one run: numbers events and snapshots the kernel.

    Each event's ints go into plain lists first (``list.extend(tuple)`` is one C call, where
    ``array.extend`` converts item by item) and move into the ``array`` columns every
    :attr:`FLUSH` events and at :meth:`flush`.
    """

    # snapshot fields: pages in use, peak pages, VA held (busy + lazy), peak VA, lazy VA,
    # purges, TLB flushes, vrealloc fresh, in place, moved, fall-through, free areas,
    # largest hole, VA span, PTEs mapped, PTEs unmapped
    SNAP = ("used", "peak", "va", "peak_va", "lazy", "purges", "flushes", "vr_fresh",
            "vr_in_place", "vr_moved", "vr_fallthrough", "free_areas", "largest_hole", "span",
            "ptes_mapped", "ptes_unmapped")
    FLUSH = 4096
    _FRAG = SNAP.index("free_areas")             # the three fragmentation fields from here

    def __init__(self, k: Kernel, stride: int, churn: Any = None, churn_steps: int = 0,
                 cost: CostModel | None = None) -> None:
        self.k = k
        self.m = k.machine
        self.cost = cost if cost is not None else CostModel.default()
        self.stride = stride
        self.churn = churn
        self.churn_steps = churn_steps
        self.ev: array.array[int] = array.array("q")
        self.ptrs: array.array[int] = array.array("Q")
        self.snaps: array.array[int] = array.array("q")
        self.steps: array.array[int] = array.array("q")
        # the columns' newest values, not yet in the arrays
        self._ev: list[int] = []
        self._ptrs: list[int] = []
        self._snaps: list[int] = []
        self._steps: list[int] = []
        self.buffers: list[str] = []
        self.step = 0
        self.peak_va = 0
        # what the churn's steps changed, kept out of the run's own counters
        self._churn_pages = 0                      # frames they hold now
        self._churn_counts: tuple[int, ...] = (0, 0, 0, 0)   # purges, flushes, PTEs set, cleared
        self._own_peak = 0                         # the run's peak pages before the last steps
        self._frag_gen = -1
        self._frag = (0, 0, 0)
        self._snap_gen = -1               # the address space's generation at the newest snapshot
        self.m.mem.reset_watermark()
        base, f = self.snap(), self._FRAG
        self.base = base[:f] + self.fragmentation() + base[f + 3:]
        self.work = self.m.work_counts()          # after the last event (and its churn)

    def flush(self) -> None:
        """Move the buffered values into the array columns."""
        for column, values in ((self.ev, self._ev), (self.ptrs, self._ptrs),
                               (self.snaps, self._snaps), (self.steps, self._steps)):
            column.fromlist(values)
            values.clear()

    def snap(self) -> tuple[int, ...]:
        """The kernel now, its fragmentation fields -1 (:meth:`capture` measures them). O(1).

        Pages, purges, TLB flushes and PTEs are the run's own: what the churn's steps
        changed is left out (:meth:`run_churn`). The address space (VA held, lazy VA,
        fragmentation) is the whole kernel's, shared with the churn and the background."""
        m = self.m
        mem, kva, vr, pt = m.mem, m.kva, m.vrealloc.stats, m.pgtable
        lazy = kva.vmap_lazy_nr * PAGE_SIZE
        va = kva.busy_bytes + lazy
        if va > self.peak_va:
            self.peak_va = va
        self._snap_gen = kva.generation
        churn = self._churn_pages
        peak = mem.nr_frames - mem.min_free - churn
        if peak < self._own_peak:
            peak = self._own_peak
        purges, flushes, mapped, unmapped = self._churn_counts
        return (mem.nr_frames - mem.nr_free - churn, peak, va, self.peak_va,
                lazy, kva.nr_purges - purges, pt.nr_tlb_flushes - flushes, vr.fresh,
                vr.shrink + vr.grow_in_place, vr.moved - vr.fresh, vr.fallthrough, -1, -1, -1,
                pt.nr_ptes_mapped - mapped, pt.nr_ptes_unmapped - unmapped)

    def run_churn(self) -> None:
        """Run the churn's :attr:`churn_steps` steps, keeping what they change out of the
        run's own counters, as ``est_time`` leaves out their work: the frames they hold,
        the purges and TLB flushes they cause, the PTEs they set and clear. The peak pages
        of the run are measured between the steps (the page allocator's low-water mark is
        reset after them). O(steps)."""
        m = self.m
        mem, kva, pt = m.mem, m.kva, m.pgtable

        def counts() -> tuple[int, ...]:          # the _churn_counts fields, as they are now
            return kva.nr_purges, pt.nr_tlb_flushes, pt.nr_ptes_mapped, pt.nr_ptes_unmapped
        used = mem.nr_frames - mem.nr_free
        peak = mem.nr_frames - mem.min_free - self._churn_pages
        if peak > self._own_peak:
            self._own_peak = peak
        before = counts()
        step = self.churn.step
        for _ in range(self.churn_steps):
            step()
        self._churn_pages += mem.nr_frames - mem.nr_free - used
        self._churn_counts = tuple(map(operator.add, self._churn_counts,
                                       map(operator.sub, counts(), before)))
        mem.reset_watermark()

    def fragmentation(self) -> tuple[int, int, int]:
        """The fragmentation fields of the address space now; measured again only when its
        areas changed. O(free blocks + pooled and lazy areas)."""
        kva = self.m.kva
        if kva.generation != self._frag_gen:
            f = fragmentation(self.k)
            self._frag = (f["free_areas"], f["largest_hole_bytes"], f["va_span_bytes"])
            self._frag_gen = kva.generation
        return self._frag

    def capture(self) -> None:
        """Measure the fragmentation fields of the newest snapshot, for a row to read.

        Call it where a row will be made (before the workload step of a sweep point, and at
        the end): measuring after every event would cost O(areas) per event. The address
        space changes only inside events, each followed by its snapshot, so the newest
        snapshot still describes it; AssertionError if it does not."""
        buf: list[int] | array.array[int] = self._snaps or self.snaps
        if not buf:
            return                                 # no event yet: the base is measured
        if self.m.kva.generation != self._snap_gen:
            raise AssertionError("the address space changed outside an event")
        at = len(buf) - len(self.SNAP) + self._FRAG
        buf[at], buf[at + 1], buf[at + 2] = self.fragmentation()

    def observer(self, buffer: str, length: Callable[[], int]) -> Callable[[ReallocEvent], None]:
        """The observer of one buffer (a vector ``v0`` or a raw buffer ``r0``)."""
        ev, s = self._ev, self.stride
        add_ev, add_ptrs, add_snap = ev.extend, self._ptrs.extend, self._snaps.extend
        add_step = self._steps.append
        outcome_of, backing_of = _OUTCOME, _BACKING
        buf = len(self.buffers)
        self.buffers.append(buffer)
        snap, flush, limit = self.snap, self.flush, self.FLUSH * _EV_FIELDS
        work_counts, estimate, sub = self.m.work_counts, self.cost.estimate_counts_ns, operator.sub
        call_ns = self.cost.resize_call_ns
        one_call = round(call_ns)
        nw = len(self.work) - 1                 # the work fields but the resize calls

        def observe(e: ReallocEvent) -> None:
            old_ptr, new_ptr, old_bytes, new_bytes, old_alloc, new_alloc, outcome, copied, \
                backing = e
            work, last = work_counts(), self.work
            if work[:nw] == last[:nw]:          # only the call itself (an in-place resize)
                calls = work[nw] - last[nw]
                est = one_call if calls == 1 else round(call_ns * calls)
            else:
                est = round(estimate(tuple(map(sub, work, last))))
            add_ev((length(), old_bytes // s, new_bytes // s, old_bytes, new_bytes, old_alloc,
                    new_alloc, outcome_of[outcome], copied, backing_of[backing], buf, est))
            add_ptrs((old_ptr, new_ptr))
            add_step(self.step)
            if self.churn is not None:
                self.run_churn()
                work = work_counts()
            self.work = work
            add_snap(snap())
            if len(ev) >= limit:
                flush()
        return observe


def _value(e: elems.Elem[Any]) -> Any:
    """A valid value of any element type: the one whose bytes are all zero, or 1."""
    v = e.unpack(bytes(e.size))
    return 1 if isinstance(v, int) else v


RAW_ALLOCS: dict[str, Callable[[Kernel], Allocator]] = {
    "vrealloc": Vmalloc, "kvrealloc": KVmalloc, "krealloc": Kmalloc}


def _ops(spec: RunSpec) -> list[Any]:
    from .trace import workload_ops
    return workload_ops(spec.workload, spec.elements, spec.seed)


Step = tuple[str, int, str, int]


def _steps(spec: RunSpec, ops: list[Any]) -> list[Step]:
    """The workload as steps ``(kind, id, op, arg)``: kind ``v`` (vector) or ``r`` (raw
    buffer), a push of N as N steps. ``spec.vectors`` copies of a workload on id 0 each get
    their own id and are interleaved; a workload naming several ids runs in file order."""
    import random

    def expand(op: Any, vid: int) -> list[Step]:
        kind = "r" if op.name in RAW_ALLOCS else "v"
        if op.name == "push":
            return [(kind, vid, "push", 1)] * op.arg
        return [(kind, vid, op.name, op.arg)]

    if spec.vectors == 1:
        return [st for op in ops for st in expand(op, op.buf)]
    if any(op.buf for op in ops):
        raise ValueError("--vectors copies a workload on buffer 0; this one names other buffers")
    queues = [list(reversed([st for op in ops for st in expand(op, c)]))
              for c in range(spec.vectors)]
    out: list[Step] = []
    if spec.interleave == "round-robin":
        while queues:
            for q in queues:
                out.append(q.pop())
            queues = [q for q in queues if q]
    else:
        rng = random.Random(spec.seed)
        while queues:
            i = rng.randrange(len(queues))
            out.append(queues[i].pop())
            if not queues[i]:
                queues.pop(i)
    return out


def _raw_length(raws: dict[int, tuple[Allocator, int, int]], vid: int,
                stride: int) -> Callable[[], int]:
    """The length of raw buffer ``vid`` in elements (its size over the element stride)."""
    return lambda: raws[vid][2] // stride if vid in raws else 0


def run_growth(spec: RunSpec, cost: CostModel | None = None, points: Iterable[int] = ()) -> Run:
    """Run one configuration on a fresh kernel; O(events + workload steps).

    ``points`` are the element counts N at which :func:`sweep_rows` will be asked for rows
    (the end is always one): the address space's fragmentation is measured there, as it
    would cost O(areas) after every event.

    >>> r = run_growth(RunSpec("vmalloc", "rust_kvec", "e64f42036ef4", elements=600))
    >>> [(e["outcome"], e["new_capacity"]) for e in r.events][:3]
    [('fresh', 1), ('in_place', 2), ('in_place', 4)]
    """
    with warnings.catch_warnings():          # kernel warnings go to the run's log (Run.dmesg)
        warnings.simplefilter("ignore", KernelWarning)
        return _run_growth(spec, cost, points)


def _run_growth(spec: RunSpec, cost: CostModel | None, points: Iterable[int]) -> Run:
    e = element(spec.elem)
    n = spec.elements
    stride = Layout(e.size, e.align).pad_to_align().size
    entries = bg.load_vmallocinfo(spec.background) if spec.background else []
    ram = max(1 << 30, 1 << (max(1, n) * stride * 4 * spec.vectors).bit_length())
    if entries:
        ram += bg.ram_needed(entries)
    k = Kernel(KernelConfig(vrealloc=spec.profile, ram=ram, seed=spec.seed))
    if entries:
        bg.populate(k, entries)
    churn = bg.Churn(k, spec.churn, spec.seed) if spec.churn else None
    rec = _Recorder(k, stride, churn, spec.churn_steps if churn is not None else 0, cost)
    policy = POLICIES[spec.policy] if spec.policy in POLICIES else POLICIES["rust_kvec"]
    vecs: dict[int, Vec[Any, Any]] = {}
    raws: dict[int, tuple[Allocator, int, int]] = {}       # id -> (allocator, ptr, size)
    allocs: list[Any] = []

    def vector(vid: int) -> Vec[Any, Any]:
        v = vecs.get(vid)
        if v is None:
            a = ALLOCS[spec.alloc](k)
            v = Vec(e, alloc=a, growth=policy)
            a.observer = rec.observer(f"v{vid}", v.__len__)
            allocs.append(a)
            vecs[vid] = v
        return v

    value = _value(e)
    failed_at: int | None = None
    ops = _ops(spec)
    only_push = all(op.name == "push" and op.buf == 0 for op in ops)
    marks = {at * spec.vectors for at in points}          # the steps a sweep row ends before
    try:
        if only_push and spec.vectors == 1:
            push = vector(0).push                       # the hot path: steps are pushes
            done = 0
            total = sum(op.arg for op in ops)
            for end in sorted({m for m in marks if 0 < m < total}) + [total]:
                for _ in range(end - done):
                    rec.step = done
                    push(value)
                    done += 1
                if end < total:                         # the end is captured below
                    rec.capture()
        else:
            for i, (kind, vid, name, arg) in enumerate(_steps(spec, ops)):
                if i in marks:
                    rec.capture()
                rec.step = i
                if kind == "v":
                    v = vector(vid)
                    if name == "push":
                        v.push(value)
                    elif name == "extend":
                        v.extend_from_slice([value] * arg)
                    elif name == "reserve":
                        v.reserve(arg)
                    elif name == "truncate":
                        v.truncate(arg)
                    elif name == "shrink_to":
                        v.shrink_to(arg)
                    else:                                  # drop: a later step starts anew
                        v.drop()
                        del vecs[vid]
                    continue
                a, ptr, size = raws.get(vid) or (RAW_ALLOCS[name](k), 0, 0)
                if ptr == 0:
                    a.observer = rec.observer(  # type: ignore[attr-defined]
                        f"r{vid}", _raw_length(raws, vid, stride))
                    allocs.append(a)
                    raws[vid] = (a, 0, 0)
                new = a.realloc(ptr or None, Layout(arg, 8), Layout(size, 8))
                if arg:
                    raws[vid] = (a, new, arg)
                else:
                    del raws[vid]
    except AllocError:
        rec.flush()
        failed_at = rec.ev[-_EV_FIELDS] if rec.ev else 0      # the len of the last event
    rec.capture()
    length = sum(len(v) for v in vecs.values()) + sum(sz // stride for _, _, sz in raws.values())
    for a in allocs:
        a.observer = None
    for v in vecs.values():
        v.drop()
    for a, ptr, size in raws.values():
        a.free(ptr, Layout(size, 8))
    if churn is not None:
        churn.release()
    k.check()
    rec.flush()
    return Run(spec, stride, rec.ev, rec.ptrs, rec.snaps, rec.base, rec.steps, rec.buffers,
               length, failed_at, k.dmesg)


def _summarise(run: Run, tally: _Tally, length: int, elements: int) -> dict[str, Any]:
    """The row of ``run`` after the events ``tally`` took in, with ``length`` elements."""
    spec, size = run.spec, run.elem_size
    count = dict(zip(OUTCOMES, tally.count))
    copied, worst, held = tally.copied, tally.worst, tally.held
    snap = run.snap(tally.upto - 1)
    if snap[_Recorder._FRAG] < 0:
        raise ValueError(f"the run did not measure its address space at {elements} elements: "
                         f"pass them to run_growth(spec, points=...)")
    base = run.base
    capacity = sum(c for c, _ in held.values())
    allocated = sum(a for _, a in held.values())
    failed_at = run.failed_at if length == run.length else None
    used = snap[0] - base[0]
    data_pages = sum(-(-a // PAGE_SIZE) for _, a in held.values())
    payload = length * size
    total = max(used, data_pages) * PAGE_SIZE
    commit = spec.profile
    row: dict[str, Any] = {
        "alloc": spec.alloc, "policy": spec.policy, "profile": commit,
        "profile_alias": profile_alias(commit), "profile_kind": profile_kind(commit),
        "workload": spec.workload, "elem": spec.elem,
        "elem_size": size, "elements": elements, "vectors": spec.vectors,
        "churn": spec.churn, "background": spec.background, "len": length,
        "status": "ok" if failed_at is None else f"AllocError at len {failed_at}",
        "failed_at": "" if failed_at is None else failed_at,
        "fresh": count["fresh"], "reallocs": count["in_place"] + count["moved"],
        "in_place": count["in_place"], "moved": count["moved"], "failed": count["failed"],
        "vrealloc_fresh": snap[7] - base[7], "vrealloc_in_place": snap[8] - base[8],
        "vrealloc_moved": snap[9] - base[9], "vrealloc_fallthrough": snap[10] - base[10],
        "bytes_copied": copied, "worst_copy_bytes": worst,
        "copies_per_element": round(copied / size / length, 4) if length else 0.0,
        "capacity": capacity, "requested_bytes": capacity * size, "allocated_bytes": allocated,
        "allocator_slack_bytes": allocated - capacity * size,
        "container_slack_bytes": (capacity - length) * size,
        "data_pages": data_pages, "metadata_pages": max(0, used - data_pages),
        "peak_pages": snap[1] - base[0],
        "overhead_pct": round((total - payload) / payload * 100, 2) if payload else 0.0,
        "peak_va_bytes": snap[3] - base[2], "lazy_va_bytes": snap[4],
        "purges": snap[5] - base[5], "tlb_flushes": snap[6] - base[6],
        "ptes_mapped": snap[14] - base[14], "ptes_unmapped": snap[15] - base[15],
        "est_time_ms": round(tally.est_ns / 1e6, 4),
        "est_ns_per_element": round(tally.est_ns / length, 2) if length else 0.0,
        "worst_est_us": round(tally.worst_ns / 1e3, 3),
        "free_areas": snap[11], "largest_hole_bytes": snap[12], "va_span_bytes": snap[13],
    }
    return row


def sweep_points(start: int, stop: int, points: int) -> list[int]:
    """``points`` log-spaced distinct element counts from ``start`` to ``stop`` inclusive.

    >>> sweep_points(1000, 1000000, 4)
    [1000, 10000, 100000, 1000000]
    """
    if not 1 <= start <= stop:
        raise ValueError(f"--sweep needs 1 <= START <= STOP, got {start}:{stop}")
    if points < 1:
        raise ValueError(f"--sweep needs POINTS >= 1, got {points}")
    if points == 1 or start == stop:
        return [stop]
    ratio = (stop / start) ** (1 / (points - 1))
    return sorted({min(stop, round(start * ratio ** i)) for i in range(points)})


def parse_sweep(text: str) -> tuple[int, int, int]:
    """``START:STOP:POINTS`` as three ints; ValueError naming the problem."""
    parts = text.split(":")
    try:
        start, stop, points = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"--sweep takes START:STOP:POINTS (e.g. 1000:1000000:30), got {text!r}"
                         ) from None
    sweep_points(start, stop, points)
    return start, stop, points


def _check_sweepable(workload: str, vectors: int, interleave: str) -> None:
    """ValueError unless the state at N is a prefix of the run (the push workload, and
    round-robin when several vectors run)."""
    if workload != "push" or (vectors > 1 and interleave != "round-robin"):
        raise ValueError("--sweep needs the push workload (and --interleave round-robin)")


def sweep_rows(run: Run, points: Iterable[int]) -> list[dict[str, Any]]:
    """The row of ``run`` at each N of ``points``, derived from its events: equal to a run of
    N elements. Only for the ``push`` workload, interleaved round-robin (so that the state
    at N is a prefix of the run), and for points the run was made with
    (``run_growth(spec, points=...)``; ValueError otherwise). O(events + points)."""
    run._need_events()
    spec = run.spec
    _check_sweepable(spec.workload, spec.vectors, spec.interleave)
    points = list(points)
    for n in points:
        if n > spec.elements:
            raise ValueError(f"sweep point {n} is past the run's {spec.elements} elements")
    rows: dict[int, dict[str, Any]] = {}
    steps, k = run.steps, spec.vectors
    tally = _Tally(run)
    for n in sorted(set(points)):                         # one pass over the events
        upto = bisect.bisect_left(steps, n * k)           # events of the first n * k pushes
        length = run.length if run.failed_at is not None and upto == len(steps) else n * k
        tally.advance(upto)
        rows[n] = _summarise(run, tally, length, n)
    return [dict(rows[n]) for n in points]


def growth_study(elements: int = 50_000, elem: str = "u64",
                 allocs: Sequence[str] = ("kmalloc", "vmalloc", "kvmalloc"),
                 policies: Sequence[str] = ("rust_kvec", "cpython_list", "factor_1_5", "exact"),
                 profiles: Sequence[str | VreallocProfile] = ("latest",),
                 progress: Callable[[int, int, str], None] | None = None,
                 sweep: Sequence[int] | None = None, *, workload: str = "push",
                 vectors: int = 1, interleave: str = "round-robin", seed: int = 0,
                 churn: str = "", churn_steps: int = 4, background: str = "",
                 on_rows: Callable[[list[dict[str, Any]], Run], None] | None = None,
                 keep_events: bool = True, cost: CostModel | None = None, jobs: int = 1,
                 ) -> tuple[list[dict[str, Any]], list[Run]]:
    """Every combination of allocator x policy x profile: the rows and the runs.

    ``progress(done, total, label)`` is called before each configuration and once at the
    end; ``on_rows(rows, run)`` as each configuration finishes (rows printed as they come).
    With ``keep_events=False`` each run's events are released once its rows are made
    (:meth:`Run.release_events`): a long study then holds one run's events at a time.

    With ``sweep``, each run goes to ``max(sweep)`` elements and yields one row per point.
    Allocators that do not depend on the profile (:data:`PROFILE_FREE_ALLOCS`) run once and
    their rows are repeated under each profile. A workload of raw resizes only (such as
    ``bpf-insn-hist``) does not use an allocator or policy: it runs once per profile, with
    the kernel functions it calls as ``alloc`` and ``-`` as ``policy``. ``cost`` prices
    the counted work for the estimated time columns (default: ``CostModel.default()``).

    ``jobs`` worker processes make the runs (0: one per CPU; default 1, in this process).
    Each run is deterministic and on a kernel of its own, so the rows and runs are the same
    whatever ``jobs`` is, and come in the same order; what-ifs given as objects or
    registered here are registered in the workers too.
    """
    from .trace import workload_ops
    _jobs(jobs, 1)
    element(elem)
    for a in allocs:
        if a not in ALLOCS:
            raise ValueError(f"unknown allocator {a!r}; valid: {', '.join(ALLOCS)}")
    for p in policies:
        if p not in POLICIES:
            raise ValueError(f"unknown policy {p!r}; valid: {', '.join(POLICIES)}")
    commits = [profile_commit(prof) for prof in profiles]
    if elements < 0:
        raise ValueError(f"--elements must be >= 0, got {elements}")
    if vectors < 1:
        raise ValueError(f"--vectors must be >= 1, got {vectors}")
    if interleave not in ("round-robin", "random"):
        raise ValueError(f"--interleave must be round-robin or random, got {interleave!r}")
    if churn and churn not in bg.CHURN_CASES:
        raise ValueError(f"unknown --churn case {churn!r}; valid: {', '.join(bg.CHURN_CASES)}")
    if churn_steps < 0:
        raise ValueError(f"--churn-steps must be >= 0, got {churn_steps}")
    n = max(sweep) if sweep else elements
    ops = workload_ops(workload, n, seed)
    if sweep:
        _check_sweepable(workload, vectors, interleave)
    raw_only = bool(ops) and all(op.name in RAW_ALLOCS for op in ops)
    if raw_only:
        allocs = [",".join(sorted({op.name for op in ops}))]
        policies = ["-"]
    configs = [(ci, RunSpec(a, p, c, elem, n, workload, vectors, interleave, seed, churn,
                            churn_steps, background))
               for ci, c in enumerate(commits) for a in allocs for p in policies]
    # One run per configuration, except that a profile-free allocator's run serves every
    # profile: a group is the specs one run serves, in configuration order.
    groups: dict[tuple[Any, ...], list[RunSpec]] = {}
    keys: list[tuple[tuple[Any, ...], int]] = []          # per configuration: group, index
    for ci, spec in configs:
        key = ((spec.alloc, spec.policy) if spec.alloc in PROFILE_FREE_ALLOCS
               else (ci, spec.alloc, spec.policy))
        group = groups.setdefault(key, [])
        keys.append((key, len(group)))
        group.append(spec)
    whatifs = tuple(resolve_profile(c) for c in commits if profile_kind(c) == "what-if")
    results = _group_results(list(groups.values()), cost, sweep, keep_events, whatifs,
                             _jobs(jobs, len(groups)))
    rows: list[dict[str, Any]] = []
    runs: list[Run] = []
    got: dict[tuple[Any, ...], tuple[Run, list[list[dict[str, Any]]]]] = {}
    try:
        for i, ((key, j), (_, spec)) in enumerate(zip(keys, configs)):
            if progress is not None:
                progress(i, len(configs),
                         f"{spec.alloc} {spec.policy} {profile_label(spec.profile)}")
            if key not in got:
                got[key] = results.next()
            run, group_rows = got[key]
            if j:
                run = dataclasses.replace(run, spec=spec)
            runs.append(run)
            rows.extend(group_rows[j])
            if on_rows is not None:
                on_rows(group_rows[j], run)
        results.close(done=True)
    finally:
        results.close()                    # stops the workers if a callback or run raised
    if progress is not None:
        progress(len(configs), len(configs), "")
    return rows, runs


def _jobs(jobs: int, groups: int) -> int:
    """The worker processes for ``groups`` runs: ``jobs``, 0 meaning one per CPU."""
    if type(jobs) is not int:
        raise TypeError(f"jobs must be an int, not {type(jobs).__name__}")
    if jobs < 0:
        raise ValueError(f"--jobs must be >= 0 (0: one per CPU), got {jobs}")
    if jobs == 0:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            (os.cpu_count() or 1)
    return max(1, min(jobs, groups))


def _run_group(specs: list[RunSpec], cost: CostModel | None, sweep: Sequence[int] | None,
               keep_events: bool, whatifs: tuple[VreallocProfile, ...] = (),
               ) -> tuple[Run, list[list[dict[str, Any]]]]:
    """One run serving ``specs`` (the same run under each spec's profile): the run and each
    spec's rows. Without ``keep_events`` the run's events are released once the rows are
    made. ``whatifs`` are registered first (a worker process starts without them)."""
    for prof in whatifs:
        register_profile(prof)
    run = run_growth(specs[0], cost, sweep or ())
    rows = []
    for j, spec in enumerate(specs):
        r = dataclasses.replace(run, spec=spec) if j else run
        rows.append(sweep_rows(r, sweep) if sweep else [r.row()])
    if not keep_events:
        run.release_events()
    return run, rows


def _group_results(groups: list[list[RunSpec]], cost: CostModel | None,
                   sweep: Sequence[int] | None, keep_events: bool,
                   whatifs: tuple[VreallocProfile, ...], jobs: int) -> _Results:
    """:func:`_run_group` of each group, in order: made here when asked for, or in
    ``jobs`` worker processes started at once (each run is deterministic and on its own
    kernel, so the results are the same)."""
    if jobs == 1:
        return _Results(lambda i: _run_group(groups[i], cost, sweep, keep_events))
    import multiprocessing
    import threading
    # fork when no other thread could hold a lock across it, else a fresh server to fork from
    methods = multiprocessing.get_all_start_methods()
    method = ("fork" if "fork" in methods and threading.active_count() == 1 else
              "forkserver" if "forkserver" in methods else "spawn")
    pool = multiprocessing.get_context(method).Pool(jobs, _worker_init)
    # longest first (so that no long run is left to run alone at the end), by the resizes
    # each is expected to make
    first = sorted(range(len(groups)), key=lambda i: -_expected_resizes(groups[i][0]))
    pending = {i: pool.apply_async(_run_group, (groups[i], cost, sweep, keep_events, whatifs))
               for i in first}
    return _Results(lambda i: pending[i].get(), pool)


def _expected_resizes(spec: RunSpec) -> int:
    """A rough count of the resizes a run makes, to start the longest runs first: ``exact``
    resizes on every push (``kmalloc`` only up to ``KMALLOC_MAX_SIZE``), the other policies
    a few dozen times."""
    if spec.policy != "exact":
        return 0
    n = spec.elements * spec.vectors
    if spec.alloc == "kmalloc":
        n = min(n, KMALLOC_MAX_SIZE // max(1, element(spec.elem).size))
    return n


def _worker_init() -> None:
    """A worker ignores Ctrl-C: the command's own process stops the workers and keeps the
    finished rows (a terminal's Ctrl-C reaches every process of the job)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_Result = tuple[Run, list[list[dict[str, Any]]]]
#: Seconds :meth:`_Results.close` waits for ``Pool.terminate()`` after a failure.
_TERMINATE_WAIT = 5.0


class _Results:
    """The groups' results in order, one per :meth:`next` (``result(i)`` makes or waits
    for group ``i``); :meth:`close` stops the worker processes, if any."""

    def __init__(self, result: Callable[[int], _Result], pool: Any = None) -> None:
        self._result = result
        self._pool = pool
        self._next = 0

    def next(self) -> _Result:
        i, self._next = self._next, self._next + 1
        return self._result(i)

    def close(self, done: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if done:
            pool.close()
            pool.join()
            return
        # Interrupted, or a run failed: stop the others. Pool.terminate() can wait for ever
        # when it kills a worker that is sending a result (cpython#96995: the worker dies
        # holding the result queue's lock, which the pool's task handler then waits for).
        # The workers are killed before that wait, so it gets a few seconds, in a daemon
        # thread, and the command goes on.
        import threading
        stop = threading.Thread(target=pool.terminate, name="kvalloc-study-pool-terminate",
                                daemon=True)
        stop.start()
        stop.join(_TERMINATE_WAIT)


def write_events(runs: Iterable[Run], out: IO[str]) -> int:
    """Every event of ``runs`` as JSON Lines (:data:`EVENT_KEYS` plus the run's keys).

    Returns the number of lines written.
    """
    lines = 0
    for run in runs:
        s = run.spec
        extra = {"alloc": s.alloc, "policy": s.policy, "profile": s.profile,
                 "workload": s.workload}
        for ev in run.events:
            out.write(json.dumps({**ev, **extra}) + "\n")
            lines += 1
    return lines


def explain(width: int = 100) -> str:
    """The glossary of every growth column, one paragraph each, wrapped to ``width``."""
    import textwrap
    name_w = max(map(len, GLOSSARY))
    out = ["kvalloc study growth: the columns of a row (--json, --csv, --wide)\n\n"]
    for name, text in GLOSSARY.items():
        out.append(textwrap.fill(text, width, initial_indent=f"{name:<{name_w}}  ",
                                 subsequent_indent=" " * (name_w + 2)) + "\n")
    tail = ("The default table shows alloc, policy, profile (alias or commit), N, reallocs, "
            "in place, moved, copied MiB (bytes_copied), copies/elem, worst copy KiB "
            "(worst_copy_bytes), overhead % and status. --events FILE writes one JSON line per "
            "event with the keys " + ", ".join(EVENT_KEYS) + ", plus "
            + ", ".join(EVENT_RUN_KEYS) + ".")
    out.append("\n" + textwrap.fill(tail, width) + "\n")
    return "".join(out)


def _cells(row: dict[str, Any]) -> dict[str, Any]:
    commit = row["profile"]
    return {**row, "profile_label": profile_label(commit),
            "copied_mib": row["bytes_copied"] / (1 << 20),
            "worst_copy_kib": row["worst_copy_bytes"] / 1024,
            "est_time_us": row["est_time_ms"] * 1000,
            "n_cell": f"{row['elements']}" + ("" if row["status"] == "ok" else "*")}


def profile_width(profiles: Iterable[str]) -> int:
    """The profile column's width for rows of these profiles (what-if labels are longer)."""
    return max([12, *(len(profile_label(profile_commit(p))) for p in profiles)])


def _table(width: int) -> list[tuple[str, str, str, str, int]]:
    return [(h1, h2, key, f, width if key == "profile_label" else w)
            for h1, h2, key, f, w in TABLE]


def table_header(profile_width: int = 12) -> str:
    """The default table's two header lines (fixed widths, so rows can come one by one)."""
    top, bottom = [], []
    for h1, h2, _, f, w in _table(profile_width):
        top.append(h1.ljust(w) if f == "s" else h1.rjust(w))
        bottom.append(h2.ljust(w) if f == "s" else h2.rjust(w))
    return "  ".join(top).rstrip() + "\n" + "  ".join(bottom).rstrip()


def table_line(row: dict[str, Any], profile_width: int = 12) -> str:
    """One row of the default table, in the widths of :func:`table_header`."""
    c = _cells(row)
    return "  ".join(format(c[key], f).ljust(w) if f == "s" else format(c[key], f).rjust(w)
                     for _, _, key, f, w in _table(profile_width)).rstrip()


def format_growth(rows: list[dict[str, Any]], wide: bool = False) -> str:
    """The growth table (the columns of :data:`TABLE`, or every column when ``wide``) and a
    short summary of what differs between the rows."""
    if wide:
        return format_table(rows, GROWTH_COLUMNS)
    width = profile_width({r["profile"] for r in rows})
    out = [table_header(width), *(table_line(r, width) for r in rows), *summary_lines(rows)]
    return "\n".join(out) + "\n"


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    """:func:`summary`, wrapped to the table's width."""
    import textwrap
    out = []
    for line in summary(rows):
        out.extend(textwrap.wrap(line, TABLE_WIDTH, subsequent_indent="  ") or [""])
    return out


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """Two or three lines: the fewest and most copies, the worst single copy, failures.

    Of a sweep, only each configuration's row at its largest N counts.
    """
    last: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        key = (r["alloc"], r["policy"], r["profile"])
        if key not in last or r["elements"] >= last[key]["elements"]:
            last[key] = r
    rows = list(last.values())
    ok = [r for r in rows if r["status"] == "ok" and r["len"]]
    lines: list[str] = []
    failed = [r for r in rows if r["status"] != "ok"]

    def name(r: dict[str, Any]) -> str:
        return f"{r['alloc']}/{r['policy']}" + (
            f" on {profile_label(r['profile'])}" if len({x['profile'] for x in rows}) > 1 else "")

    if ok:
        best = min(ok, key=lambda r: (r["copies_per_element"], r["overhead_pct"]))
        most = max(ok, key=lambda r: r["copies_per_element"])
        worst = max(ok, key=lambda r: r["worst_copy_bytes"])
        lean = min(ok, key=lambda r: r["overhead_pct"])
        most_text = (f"; most: {name(most)} ({most['copies_per_element']:.3f})"
                     if most["copies_per_element"] != best["copies_per_element"] else "")
        lines.append(f"fewest copies: {name(best)} ({best['copies_per_element']:.3f} per element, "
                     f"{best['in_place']} of {best['reallocs']} resizes in place){most_text}")
        lines.append(f"worst single copy: {name(worst)}, {worst['worst_copy_bytes'] / 1024:.1f} "
                     f"KiB; least memory overhead: {name(lean)} ({lean['overhead_pct']:.1f} %)")
    if failed:
        lines.append("* refused before N: " + ", ".join(f"{name(r)} at len {r['failed_at']}"
                                                       for r in failed))
    return [""] + lines if lines else []


def dmesg_lines(runs: Iterable[Run]) -> list[str]:
    """Every run's kernel log, each under a header naming the run."""
    out = []
    for run in runs:
        if run.dmesg:
            s = run.spec
            out.append(f"== {s.alloc} {s.policy} {profile_label(s.profile)}")
            out.extend(run.dmesg)
    return out


SHRINK_COLUMNS = ("profile", "from", "to", "same_pointer", "pages_before", "pages_after",
                  "pages_freed", "vmalloc_used_kb_before", "vmalloc_used_kb_after",
                  "tlb_flushes", "grow_back")


def shrink_study(from_size: int = 256 << 10, to_size: int = 16 << 10,
                 profiles: Sequence[str] = VREALLOC_HISTORY) -> list[dict[str, Any]]:
    """``vmalloc(from)`` then ``vrealloc(p, to)`` then back to ``from``, under each profile."""
    if not 0 < to_size <= from_size:
        raise ValueError(f"need 0 < --to <= --from, got {to_size} and {from_size}")
    rows = []
    for prof in profiles:
        k = Kernel(KernelConfig(vrealloc=prof))
        p = k.vmalloc(from_size)
        if p is None:
            raise ValueError(f"cannot vmalloc {from_size} bytes")

        def used(k: Kernel = k) -> int:
            return int(k.meminfo().splitlines()[3].split()[1])

        area = k.find_vm_area(p)
        before, kb_before, flushes = area.nr_pages if area else 0, used(), k.stats().nr_tlb_flushes
        q = k.vrealloc(p, to_size)
        area = k.find_vm_area(q or 0)
        after = area.nr_pages if area else 0
        kb_after = used()
        r = k.vrealloc(q, from_size)
        rows.append({
            "profile": profile_commit(prof), "from": from_size, "to": to_size,
            "same_pointer": q == p, "pages_before": before, "pages_after": after,
            "pages_freed": before - after,
            "vmalloc_used_kb_before": kb_before, "vmalloc_used_kb_after": kb_after,
            "tlb_flushes": k.stats().nr_tlb_flushes - flushes,
            "grow_back": "in place" if r == q else "moved",
        })
        k.check()
    return rows


def format_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(c) for c in columns]] + [[str(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) if cell[:1].isdigit() else cell.ljust(w)
                       for cell, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"
