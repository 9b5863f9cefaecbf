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

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from containers import elem as elems
from containers.growth import POLICIES
from containers.vec import Vec
from kvalloc import VREALLOC_HISTORY, AllocError, Kernel, KernelConfig, ReallocEvent
from kvalloc.alloc import Allocator, Kmalloc, KVmalloc, Layout, MoveOnly, Vmalloc
from kvalloc.config import VREALLOC_ALIASES, vrealloc_profile_number
from kvalloc.constants import PAGE_SIZE

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
WORKLOADS = ("push",)

#: commit -> (alias or "", kernel version, the commit's title), oldest first.
PROFILE_INFO: dict[str, tuple[str, str, str]] = {
    "3ddc2fefe6f3": ("v6.12", "v6.12", "mm: vmalloc: implement vrealloc()"),
    "d699440f58ce": ("v6.13", "v6.13-rc", "mm: fix vrealloc()'s KASAN poisoning logic"),
    "a0309faf1cb0": ("", "v6.15-rc", "mm: vmalloc: support more granular vrealloc() sizing"),
    "f7a35a3c36d1": ("", "v6.15-rc7", "mm: vmalloc: Actually use the in-place vrealloc region"),
    "70d1eb031a68": ("v6.15", "v6.15-rc7", "mm: vmalloc: Only zero-init on vrealloc shrink"),
    "4c5d3365882d": ("v6.17", "v6.17", "mm/vmalloc: allow to set node and align in vrealloc"),
    "007f5da43b3d": ("v6.19", "v6.19-rc",
                     "mm/kasan: fix incorrect unpoisoning in vrealloc for KASAN"),
    "9b47d4eea3f7": ("", "2026", "mm/kasan: fix KASAN poisoning in vrealloc()"),
    "e64f42036ef4": ("latest", "2026", "mm/vmalloc: free unused pages on vrealloc() shrink"),
}

#: Every column of a growth row, in order, with its meaning (``--explain``, docs/study.md).
GLOSSARY: dict[str, str] = {
    "alloc": "the allocator: kmalloc (krealloc), vmalloc (vrealloc), kvmalloc (kvrealloc), "
             "or moveonly (allocate, copy, free: never in place)",
    "policy": "the growth policy: how the vector picks its new capacity",
    "profile": "the vrealloc profile, as its commit id",
    "profile_alias": "the profile's alias (latest, v6.12, ...), empty for commits without one",
    "workload": "what the vector was put through (push: N values pushed one by one)",
    "elem": "the element type",
    "elem_size": "bytes per element, padded to its alignment",
    "elements": "N, the elements the workload asked for (kept when the run fails)",
    "len": "elements in the vector at the end",
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
    "metadata_pages": "other pages the run holds at the end: a vm area's pages[] array, slab pages",
    "peak_pages": "the most pages in use at any moment, old and new buffers together during a move",
    "overhead_pct": "memory held at the end ((data_pages + metadata_pages) * 4096) over the "
                    "payload (len * elem_size), minus 100 %",
    "peak_va_bytes": "the most kernel address space held at once (busy and unpurged areas, guard "
                     "pages included)",
    "lazy_va_bytes": "address space held at the end by areas freed but not yet purged",
    "purges": "lazy-free purges during the run (__purge_vmap_area_lazy)",
    "tlb_flushes": "kernel TLB flushes during the run",
}
GROWTH_COLUMNS: tuple[str, ...] = tuple(GLOSSARY)

#: Keys of one line of ``--events`` (JSON Lines), then the run's own keys.
EVENT_KEYS = ("seq", "len", "old_capacity", "new_capacity", "old_bytes", "new_bytes",
              "old_allocated", "new_allocated", "outcome", "bytes_copied", "backing", "old_ptr",
              "new_ptr")
EVENT_RUN_KEYS = ("alloc", "policy", "profile", "workload")

#: The default table: (header, column, format). Fits 120 characters.
TABLE: tuple[tuple[str, str, str], ...] = (
    ("alloc", "alloc", "s"), ("policy", "policy", "s"), ("profile", "profile_label", "s"),
    ("N", "elements", "d"), ("reallocs", "reallocs", "d"), ("in place", "in_place", "d"),
    ("moved", "moved", "d"), ("copied MiB", "copied_mib", ".2f"),
    ("copies/elem", "copies_per_element", ".3f"), ("worst KiB", "worst_copy_kib", ".1f"),
    ("overhead %", "overhead_pct", ".1f"), ("status", "status", "s"),
)
TABLE_WIDTH = 120


def profile_commit(profile: str) -> str:
    """The commit id of a profile given by commit or alias; ValueError if unknown."""
    vrealloc_profile_number(profile)        # validates
    return VREALLOC_ALIASES.get(profile, profile)


def profile_alias(commit: str) -> str:
    """The alias of a commit (``latest``, ``v6.12``, ...), or ``""``."""
    return PROFILE_INFO.get(commit, ("",))[0]


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
    """One configuration of the growth study."""

    alloc: str
    policy: str
    profile: str          # commit id
    elem: str = "u64"
    elements: int = 50_000
    workload: str = "push"


@dataclasses.dataclass
class Run:
    """What one growth run recorded: its events, a kernel snapshot after each, the result."""

    spec: RunSpec
    elem_size: int
    events: list[dict[str, Any]]
    snaps: list[tuple[int, ...]]          # after each event, see _Probe.SNAP
    base: tuple[int, ...]                 # the same snapshot before the first event
    length: int                           # elements in the vector at the end
    failed_at: int | None                 # length at which the allocator refused

    def row(self) -> dict[str, Any]:
        """The summary row of the whole run (:data:`GROWTH_COLUMNS`)."""
        return _summarise(self, len(self.events), self.length, self.spec.elements)


class _Probe:
    """The allocator observer of one run: numbers events and snapshots the kernel."""

    # snapshot fields: pages in use, peak pages, VA held (busy + lazy), peak VA, lazy VA,
    # purges, TLB flushes, vrealloc fresh, in place, moved, fall-through
    SNAP = ("used", "peak", "va", "peak_va", "lazy", "purges", "flushes", "vr_fresh",
            "vr_in_place", "vr_moved", "vr_fallthrough")

    def __init__(self, k: Kernel, stride: int) -> None:
        self.k = k
        self.m = k.machine
        self.stride = stride
        self.events: list[dict[str, Any]] = []
        self.snaps: list[tuple[int, ...]] = []
        self.length: Callable[[], int] = lambda: 0
        self.peak_va = 0
        self.m.mem.reset_watermark()
        self.base = self.snap()

    def snap(self) -> tuple[int, ...]:
        m = self.m
        mem, kva, vr, tlb = m.mem, m.kva, m.vrealloc.stats, m.pgtable.nr_tlb_flushes
        lazy = kva.vmap_lazy_nr * PAGE_SIZE
        va = kva.busy_bytes + lazy
        if va > self.peak_va:
            self.peak_va = va
        return (mem.nr_frames - mem.nr_free, mem.nr_frames - mem.min_free, va, self.peak_va,
                lazy, kva.nr_purges, tlb, vr.fresh, vr.shrink + vr.grow_in_place,
                vr.moved - vr.fresh, vr.fallthrough)

    def __call__(self, e: ReallocEvent) -> None:
        s = self.stride
        self.events.append({
            "seq": len(self.events), "len": self.length(),
            "old_capacity": e.old_bytes // s, "new_capacity": e.new_bytes // s,
            "old_bytes": e.old_bytes, "new_bytes": e.new_bytes,
            "old_allocated": e.old_allocated, "new_allocated": e.new_allocated,
            "outcome": e.outcome, "bytes_copied": e.bytes_copied, "backing": e.backing,
            "old_ptr": e.old_ptr, "new_ptr": e.new_ptr,
        })
        self.snaps.append(self.snap())


def _value(e: elems.Elem[Any]) -> Any:
    """A valid value of any element type: the one whose bytes are all zero, or 1."""
    v = e.unpack(bytes(e.size))
    return 1 if isinstance(v, int) else v


def run_growth(spec: RunSpec) -> Run:
    """Run one configuration on a fresh kernel; O(events + elements).

    >>> r = run_growth(RunSpec("vmalloc", "rust_kvec", "e64f42036ef4", elements=600))
    >>> [(e["outcome"], e["new_capacity"]) for e in r.events][:3]
    [('fresh', 1), ('in_place', 2), ('in_place', 4)]
    """
    e = element(spec.elem)
    n = spec.elements
    stride = Layout(e.size, e.align).pad_to_align().size
    k = Kernel(KernelConfig(vrealloc=spec.profile,
                            ram=max(1 << 30, 1 << (max(1, n) * stride * 4).bit_length())))
    alloc: Allocator = ALLOCS[spec.alloc](k)
    probe = _Probe(k, stride)
    alloc.observer = probe  # type: ignore[attr-defined]
    v: Vec[Any, Any] = Vec(e, alloc=alloc, growth=POLICIES[spec.policy])
    probe.length = v.__len__
    failed_at: int | None = None
    value = _value(e)
    push = v.push
    try:
        for _ in range(n):
            push(value)
    except AllocError:
        failed_at = len(v)
    length = len(v)
    alloc.observer = None  # type: ignore[attr-defined]
    v.drop()
    k.check()
    return Run(spec, stride, probe.events, probe.snaps, probe.base, length, failed_at)


def _summarise(run: Run, upto: int, length: int, elements: int) -> dict[str, Any]:
    """The row of ``run`` after its first ``upto`` events, with ``length`` elements."""
    spec, size = run.spec, run.elem_size
    evs = run.events[:upto]
    snap = run.snaps[upto - 1] if upto else run.base
    base = run.base
    count = {"fresh": 0, "in_place": 0, "moved": 0, "failed": 0, "freed": 0}
    copied = worst = 0
    capacity = allocated = 0
    for ev in evs:
        count[ev["outcome"]] += 1
        c = ev["bytes_copied"]
        copied += c
        if c > worst:
            worst = c
        if ev["outcome"] != "failed":
            capacity, allocated = ev["new_capacity"], ev["new_allocated"]
    failed_at = run.failed_at if length == run.length else None
    used = snap[0] - base[0]
    data_pages = -(-allocated // PAGE_SIZE)
    payload = length * size
    held = max(used, data_pages) * PAGE_SIZE
    commit = spec.profile
    row: dict[str, Any] = {
        "alloc": spec.alloc, "policy": spec.policy, "profile": commit,
        "profile_alias": profile_alias(commit), "workload": spec.workload, "elem": spec.elem,
        "elem_size": size, "elements": elements, "len": length,
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
        "overhead_pct": round((held - payload) / payload * 100, 2) if payload else 0.0,
        "peak_va_bytes": snap[3] - base[2], "lazy_va_bytes": snap[4] - base[4],
        "purges": snap[5] - base[5], "tlb_flushes": snap[6] - base[6],
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


def sweep_rows(run: Run, points: Iterable[int]) -> list[dict[str, Any]]:
    """The row of ``run`` at each N of ``points``, derived from its events (push workload):
    equal to a run of N elements. O(events * points)."""
    rows = []
    events = run.events
    for n in points:
        if n > run.spec.elements:
            raise ValueError(f"sweep point {n} is past the run's {run.spec.elements} elements")
        upto = 0
        while upto < len(events) and events[upto]["len"] < n and events[upto]["outcome"] != "freed":
            upto += 1
        length = min(n, run.length)
        rows.append(_summarise(run, upto, length, n))
    return rows


def growth_study(elements: int = 50_000, elem: str = "u64",
                 allocs: Sequence[str] = ("kmalloc", "vmalloc", "kvmalloc"),
                 policies: Sequence[str] = ("rust_kvec", "cpython_list", "factor_1_5", "exact"),
                 profiles: Sequence[str] = ("latest",),
                 progress: Callable[[str], None] | None = None,
                 sweep: Sequence[int] | None = None,
                 ) -> tuple[list[dict[str, Any]], list[Run]]:
    """Every combination of allocator x policy x profile: the rows and the runs.

    With ``sweep``, each run goes to ``max(sweep)`` elements and yields one row per point.
    Allocators that do not depend on the profile (:data:`PROFILE_FREE_ALLOCS`) run once and
    their rows are repeated under each profile.
    """
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
    n = max(sweep) if sweep else elements
    rows: list[dict[str, Any]] = []
    runs: list[Run] = []
    done: dict[tuple[str, str], Run] = {}
    for commit in commits:
        for a in allocs:
            for p in policies:
                if progress is not None:
                    progress(f"{a} {p} {profile_alias(commit) or commit}")
                spec = RunSpec(a, p, commit, elem, n)
                shared = done.get((a, p)) if a in PROFILE_FREE_ALLOCS else None
                run = (dataclasses.replace(shared, spec=spec) if shared is not None
                       else run_growth(spec))
                done[(a, p)] = run
                runs.append(run)
                rows.extend(sweep_rows(run, sweep) if sweep else [run.row()])
    return rows, runs


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
    return {**row, "profile_label": row["profile_alias"] or commit,
            "copied_mib": row["bytes_copied"] / (1 << 20),
            "worst_copy_kib": row["worst_copy_bytes"] / 1024,
            "status": "ok" if row["status"] == "ok" else "refused"}


def format_growth(rows: list[dict[str, Any]], wide: bool = False) -> str:
    """The growth table (the columns of :data:`TABLE`, or every column when ``wide``) and a
    short summary of what differs between the rows."""
    import textwrap
    if wide:
        return format_table(rows, GROWTH_COLUMNS)
    table = [t for t in TABLE if t[1] != "status" or any(r["status"] != "ok" for r in rows)]
    cells = [[h for h, _, _ in table]]
    for row in rows:
        c = _cells(row)
        cells.append([format(c[key], fmt) for _, key, fmt in table])
    widths = [max(len(r[i]) for r in cells) for i in range(len(table))]
    out = []
    for r in cells:
        out.append("  ".join(x.ljust(w) if fmt == "s" else x.rjust(w)
                             for x, w, (_, _, fmt) in zip(r, widths, table)).rstrip())
    for line in summary(rows):
        out.extend(textwrap.wrap(line, TABLE_WIDTH, subsequent_indent="  ") or [""])
    return "\n".join(out) + "\n"


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """Two or three lines: the fewest and most copies, the worst single copy, failures."""
    ok = [r for r in rows if r["status"] == "ok" and r["len"]]
    lines: list[str] = []
    if not ok:
        return lines

    def name(r: dict[str, Any]) -> str:
        return f"{r['alloc']}/{r['policy']}" + (
            f" on {r['profile_alias'] or r['profile']}" if len({x['profile'] for x in rows}) > 1 else "")

    best = min(ok, key=lambda r: (r["copies_per_element"], r["overhead_pct"]))
    most = max(ok, key=lambda r: r["copies_per_element"])
    worst = max(ok, key=lambda r: r["worst_copy_bytes"])
    lines.append("")
    lines.append(f"fewest copies: {name(best)} ({best['copies_per_element']:.3f} per element, "
                 f"{best['in_place']} of {best['reallocs']} resizes in place); most: {name(most)} "
                 f"({most['copies_per_element']:.3f})")
    lines.append(f"worst single copy: {name(worst)}, {worst['worst_copy_bytes'] / 1024:.1f} KiB; "
                 f"least memory overhead: "
                 f"{name(min(ok, key=lambda r: r['overhead_pct']))} "
                 f"({min(r['overhead_pct'] for r in ok):.1f} %)")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines.append("refused: " + ", ".join(f"{name(r)} at len {r['failed_at']}" for r in failed))
    return lines


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


def plot_growth(runs: list[Run], path: str) -> None:
    """Cumulative bytes copied against elements pushed, one line per run (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for run in runs:
        xs, ys, total = [0], [0], 0
        for ev in run.events:
            total += ev["bytes_copied"]
            xs.append(ev["len"])
            ys.append(total)
        xs.append(run.length)
        ys.append(total)
        s = run.spec
        ax.step(xs, ys, where="post",
                label=f"{s.alloc}/{s.policy}/{profile_alias(s.profile) or s.profile}")
    ax.set_xlabel("elements pushed")
    ax.set_ylabel("bytes copied by reallocations (cumulative)")
    ax.set_title("Vector growth: copies made by the kernel's realloc")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
