"""Growth and shrink studies: how vectors grow through each allocator, policy and vrealloc
commit, and what a vrealloc shrink gives back (``kvalloc study growth`` / ``study shrink``).

Each growth run pushes ``elements`` values one by one into a fresh vector on a fresh kernel
and records every reallocation: whether the kernel resized in place or moved the buffer, and
how many bytes it copied. ``moveonly`` is the baseline allocator that never resizes in place.

Example:
    >>> rows, _ = growth_study(elements=1000, allocs=["vmalloc", "moveonly"], policies=["rust_kvec"])
    >>> [(r["alloc"], r["reallocs"], r["in_place"], r["moved"]) for r in rows]
    [('vmalloc', 11, 9, 1), ('moveonly', 11, 0, 10)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from containers import elem as elems
from containers.growth import POLICIES
from containers.vec import Vec
from kvalloc import VREALLOC_HISTORY, AllocError, Kernel, KernelConfig
from kvalloc.alloc import Kmalloc, KVmalloc, MoveOnly, Vmalloc
from kvalloc.config import VREALLOC_ALIASES, vrealloc_profile_number

ALLOCS: dict[str, Callable[[Kernel], Any]] = {
    "kmalloc": Kmalloc, "vmalloc": Vmalloc, "kvmalloc": KVmalloc,
    "moveonly": lambda k: MoveOnly(Vmalloc(k)),
}
ELEMS: dict[str, elems.Elem[Any]] = {
    name: getattr(elems, name) for name in
    ("u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "usize", "isize", "f32", "f64")
}
GROWTH_COLUMNS = ("alloc", "policy", "profile", "elem", "elements", "status", "reallocs",
                  "in_place", "moved", "bytes_copied", "copied_per_element", "capacity",
                  "slack_bytes", "pages_used", "vrealloc_grow_in_place", "vrealloc_moved",
                  "vrealloc_shrink")


def _commit(profile: str) -> str:
    vrealloc_profile_number(profile)        # validates
    return VREALLOC_ALIASES.get(profile, profile)


def grow_once(alloc: str, policy: str, profile: str, elem: str, elements: int
              ) -> tuple[dict[str, Any], list[tuple[int, int, bool, int]]]:
    """One run: the summary row and the reallocation events ``(len, capacity, in_place, copied)``."""
    k = Kernel(KernelConfig(vrealloc=profile, ram=max(1 << 30, 1 << (elements * 64).bit_length())))
    e = ELEMS[elem]
    v: Vec[Any, Any] = Vec(e, alloc=ALLOCS[alloc](k), growth=POLICIES[policy])
    free0 = k.stats().free_pages
    events: list[tuple[int, int, bool, int]] = []
    status = "ok"
    cap, moved, copied = 0, 0, 0
    value = 1
    try:
        for i in range(elements):
            v.push(value)
            if v.capacity != cap:
                st = v.stats
                events.append((i, v.capacity, st.moved == moved, st.bytes_copied - copied))
                cap, moved, copied = v.capacity, st.moved, st.bytes_copied
    except AllocError:
        status = f"AllocError at len {len(v)}"
    st, ks = v.stats, k.stats()
    row: dict[str, Any] = {
        "alloc": alloc, "policy": policy, "profile": _commit(profile), "elem": elem,
        "elements": len(v), "status": status, "reallocs": st.reallocs, "in_place": st.in_place,
        "moved": st.moved, "bytes_copied": st.bytes_copied,
        "copied_per_element": round(st.bytes_copied / max(1, len(v)), 3),
        "capacity": v.capacity, "slack_bytes": (v.capacity - len(v)) * e.size,
        "pages_used": free0 - ks.free_pages, "vrealloc_grow_in_place": ks.vrealloc_grow_in_place,
        "vrealloc_moved": ks.vrealloc_moved, "vrealloc_shrink": ks.vrealloc_shrink,
    }
    v.drop()
    k.check()
    return row, events


def growth_study(elements: int = 50_000, elem: str = "u64",
                 allocs: Sequence[str] = ("kmalloc", "vmalloc", "kvmalloc"),
                 policies: Sequence[str] = ("rust_kvec", "cpython_list", "factor_1_5", "exact"),
                 profiles: Sequence[str] = ("latest",),
                 progress: Callable[[str], None] | None = None,
                 ) -> tuple[list[dict[str, Any]], dict[str, list[tuple[int, int, bool, int]]]]:
    """Every combination of allocator x policy x profile; rows plus per-run realloc events."""
    if elem not in ELEMS:
        raise ValueError(f"unknown element type {elem!r}; valid: {', '.join(ELEMS)}")
    for a in allocs:
        if a not in ALLOCS:
            raise ValueError(f"unknown allocator {a!r}; valid: {', '.join(ALLOCS)}")
    for p in policies:
        if p not in POLICIES:
            raise ValueError(f"unknown policy {p!r}; valid: {', '.join(POLICIES)}")
    for prof in profiles:
        _commit(prof)
    if elements < 0:
        raise ValueError(f"--elements must be >= 0, got {elements}")
    rows, traces = [], {}
    for prof in profiles:
        for a in allocs:
            for p in policies:
                if progress is not None:
                    progress(f"{a} {p} {prof}")
                row, events = grow_once(a, p, prof, elem, elements)
                rows.append(row)
                traces[f"{a}/{p}/{row['profile']}"] = events
    return rows, traces


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
            "profile": _commit(prof), "from": from_size, "to": to_size, "same_pointer": q == p,
            "pages_before": before, "pages_after": after, "pages_freed": before - after,
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


def plot_growth(traces: dict[str, list[tuple[int, int, bool, int]]], path: str,
                elements: int) -> None:
    """Cumulative bytes copied against elements pushed, one line per run (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for name, events in traces.items():
        xs, ys, total = [0], [0], 0
        for length, _cap, _in_place, copied in events:
            total += copied
            xs.append(length)
            ys.append(total)
        xs.append(elements)
        ys.append(total)
        ax.step(xs, ys, where="post", label=name)
    ax.set_xlabel("elements pushed")
    ax.set_ylabel("bytes copied by reallocations (cumulative)")
    ax.set_title("Vector growth: copies made by the kernel's realloc")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
