"""``kvalloc study whatif``: is my vrealloc idea worth a patch? (docs/whatif.md#the-whatif-study)

Runs a fixed set of workload cases (:data:`CASES`) under ``latest`` and each what-if
profile, and reports per case what the idea changes: bytes copied, estimated time, the
slowest single resize, memory overhead, and each as a ratio against ``latest``. Every
number is a growth-study row (:func:`kvalloc.tools.study.growth_study`), so the columns mean
what docs/study.md says.

>>> rows = whatif_study(["grow-into-va"], cases=["push"], elements=2000)
>>> [(r["profile_label"], r["in_place"], r["reallocs"], r["bytes_copied"]) for r in rows]
[('latest', 9, 11, 12288), ('what-if:grow-into-va', 11, 11, 0)]
>>> rows[1]["copied_vs_latest"], rows[1]["time_vs_latest"] < 1
(0.0, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from kvalloc.cost_model import CostModel
from kvalloc.profiles import WHATIFS, VreallocProfile

from .study import growth_study, profile_commit, profile_label


@dataclasses.dataclass(frozen=True)
class Case:
    """One workload of the what-if study: a growth-study configuration."""

    name: str
    question: str
    alloc: str
    policy: str
    elements: int
    workload: str = "push"
    elem: str = "u64"
    vectors: int = 1
    churn: str = ""


#: The cases, in the order they are reported.
CASES: tuple[Case, ...] = (
    Case("push", "a VVec growing by doubling", "vmalloc", "rust_kvec", 100_000),
    Case("push-exact", "a VVec growing by one element at a time", "vmalloc", "exact", 50_000),
    Case("burst", "bursts of pushes and truncations", "vmalloc", "rust_kvec", 50_000, "burst"),
    Case("sawtooth", "grow, shrink to fit, grow again", "vmalloc", "rust_kvec", 50_000,
         "sawtooth"),
    Case("vectors-churn", "4 vectors side by side with test_vmalloc churn", "vmalloc",
         "rust_kvec", 20_000, vectors=4, churn="fix_size_alloc_test"),
    Case("kvvec-huge", "a KVVec of 64-byte records past 8 MiB (huge mappings)", "kvmalloc",
         "rust_kvec", 300_000, elem="64B"),
    Case("bpf-insn-hist", "the BPF verifier's kvrealloc of one 16-byte entry more",
         "kvrealloc", "-", 300_000, "bpf-insn-hist", "16B"),
)
CASE_NAMES = tuple(c.name for c in CASES)

#: The columns of a what-if row, in order.
COLUMNS = ("case", "profile", "profile_label", "profile_kind", "alloc", "policy", "elements",
           "reallocs", "in_place", "moved", "bytes_copied", "ptes_mapped", "tlb_flushes",
           "est_time_ms", "worst_est_us", "overhead_pct", "copied_vs_latest",
           "time_vs_latest", "worst_vs_latest", "status")


def _ratio(value: float, base: float) -> float | None:
    if base:
        return round(value / base, 4)
    return None if value else 1.0


#: The what-ifs compared by default: the built-in ones.
WHATIF_NAMES: tuple[str, ...] = tuple(w.name for w in WHATIFS)


def whatif_study(profiles: Sequence[str | VreallocProfile] = WHATIF_NAMES,
                 cases: Sequence[str] = CASE_NAMES, elements: int | None = None,
                 cost: CostModel | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 ) -> list[dict[str, Any]]:
    """One row per case and profile (``latest`` first in each case), with ratios against
    ``latest``. ``elements`` overrides every case's own N. O(sum of the runs)."""
    names = [profile_commit(p) for p in profiles]
    latest = profile_commit("latest")
    names = [latest, *(n for n in names if n != latest)]
    chosen = []
    for c in cases:
        if c not in CASE_NAMES:
            raise ValueError(f"unknown what-if case {c!r}; valid: {', '.join(CASE_NAMES)}")
        chosen.append(CASES[CASE_NAMES.index(c)])
    if elements is not None and elements < 1:
        raise ValueError(f"--elements must be >= 1, got {elements}")
    out: list[dict[str, Any]] = []
    for i, case in enumerate(chosen):
        if progress is not None:
            progress(i, len(chosen), case.name)
        raw = case.policy == "-"
        rows, _ = growth_study(elements if elements is not None else case.elements, case.elem,
                               ["vmalloc"] if raw else [case.alloc],
                               ["rust_kvec"] if raw else [case.policy], names,
                               workload=case.workload, vectors=case.vectors, churn=case.churn,
                               keep_events=False, cost=cost)
        base = rows[0]
        for r in rows:
            out.append({
                "case": case.name, "profile": r["profile"],
                "profile_label": profile_label(r["profile"]),
                "profile_kind": r["profile_kind"], "alloc": r["alloc"], "policy": r["policy"],
                "elements": r["elements"], "reallocs": r["reallocs"], "in_place": r["in_place"],
                "moved": r["moved"], "bytes_copied": r["bytes_copied"],
                "ptes_mapped": r["ptes_mapped"], "tlb_flushes": r["tlb_flushes"],
                "est_time_ms": r["est_time_ms"], "worst_est_us": r["worst_est_us"],
                "overhead_pct": r["overhead_pct"],
                "copied_vs_latest": _ratio(r["bytes_copied"], base["bytes_copied"]),
                "time_vs_latest": _ratio(r["est_time_ms"], base["est_time_ms"]),
                "worst_vs_latest": _ratio(r["worst_est_us"], base["worst_est_us"]),
                "status": r["status"]})
    if progress is not None:
        progress(len(chosen), len(chosen), "")
    return out


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def format_whatif(rows: list[dict[str, Any]]) -> str:
    """The what-if table: one block per case, ``latest`` first, then one line of verdict."""
    width = max([12, *(len(r["profile_label"]) for r in rows)])
    head = (f"{'case':<14}  {'profile':<{width}}  {'in place':>13}  {'copied MiB':>10}  "
            f"{'est ms':>9}  {'worst µs':>9}  {'overhead %':>10}  {'copied':>7}  {'time':>6}  "
            f"{'worst':>6}")
    out = [head, f"{'':<14}  {'':<{width}}  {'':>13}  {'':>10}  {'':>9}  {'':>9}  {'':>10}  "
                 f"{'vs latest':>23}".rstrip()]
    last = None
    for r in rows:
        if last is not None and r["case"] != last:
            out.append("")
        last = r["case"]
        in_place = f"{r['in_place']}/{r['reallocs']}"
        out.append(f"{r['case']:<14}  {r['profile_label']:<{width}}  {in_place:>13}  "
                   f"{r['bytes_copied'] / (1 << 20):>10.2f}  {r['est_time_ms']:>9.3f}  "
                   f"{r['worst_est_us']:>9.1f}  {r['overhead_pct']:>10.1f}  "
                   f"{_x(r['copied_vs_latest']):>7}  {_x(r['time_vs_latest']):>6}  "
                   f"{_x(r['worst_vs_latest']):>6}")
    out.append("")
    out.extend(verdict(rows))
    return "\n".join(out) + "\n"


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """Per what-if: in how many cases it beats latest's estimated time by 10 % or more,
    and its geometric-mean time ratio over the cases."""
    lines = []
    for label in dict.fromkeys(r["profile_label"] for r in rows if r["profile_kind"] == "what-if"):
        mine = [r for r in rows if r["profile_label"] == label and r["time_vs_latest"]]
        if not mine:
            continue
        wins = [r["case"] for r in mine if r["time_vs_latest"] <= 0.9]
        gmean = math.exp(sum(math.log(r["time_vs_latest"]) for r in mine) / len(mine))
        lines.append(f"{label}: est time {gmean:.2f}x latest (geometric mean over "
                     f"{len(mine)} cases); 10 % or more faster in "
                     + (", ".join(wins) if wins else "none"))
    return lines
