"""Figures of the growth study, sized for a two-column paper (for ``kvalloc study growth --plot``).

Three figures, each written to one file whose extension picks the format (``.png`` at 200 dpi,
``.svg``, ``.pdf``):

* :func:`plot_sweep`: the rows of a sweep (``growth_study(..., sweep=points)``), one panel per
  question: amortised copies per element, the worst single copy and the memory overhead,
  each against N.
* :func:`plot_runs`: the cumulative bytes copied against the elements pushed, one step line
  per run of a study without a sweep.
* :func:`plot_timeline`: the address space one run used over time, villoc-style: every
  buffer a bar from the event that placed it to the event that moved it away or freed it.

Every configuration keeps its look across figures: the colour is the allocator's
(:data:`ALLOC_COLOURS`, the Okabe-Ito colour-blind-safe palette), the line style the
policy's (:data:`POLICY_STYLES`) and, when several profiles are drawn, the marker the
profile's. Configurations whose series are equal are drawn as one line whose legend entry
names them all (:func:`merge_identical`), so no line hides another unannounced; in
:func:`plot_sweep`, lines equal in one panel only are named under the legend.

matplotlib is imported inside the functions (the ``plot`` extra): importing this module
never needs it.

>>> merge_identical({"a": [(1, 2)], "b": [(1, 3)], "c": [(1, 2)]})
[(['a', 'c'], [(1, 2)]), (['b'], [(1, 3)])]
>>> alloc_colour("vmalloc"), policy_style("rust_kvec")
('#0072B2', '-')
"""

from __future__ import annotations

import math
import os
import textwrap
import zlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from containers.growth import POLICIES
from kvalloc.constants import PAGE_SIZE
from kvalloc.tools.study import ALLOCS, PROFILE_INFO, Run, profile_alias, profile_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

__all__ = ["ALLOC_COLOURS", "FORMATS", "OKABE_ITO", "POLICY_STYLES", "PROFILE_MARKERS",
           "TIMELINE_COLOURS", "alloc_colour", "merge_identical", "plot_runs", "plot_sweep", "plot_timeline",
           "plot_whatif",
           "policy_style", "profile_marker"]

#: The Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), safe for the common
#: colour-vision deficiencies and in greyscale by lightness.
OKABE_ITO: dict[str, str] = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
#: One colour per allocator, the same in every figure; ``moveonly``, the baseline, is black.
#: An allocator not in the table gets one of the spare colours, fixed by its name.
ALLOC_COLOURS: dict[str, str] = {
    "kmalloc": OKABE_ITO["vermillion"], "vmalloc": OKABE_ITO["blue"],
    "kvmalloc": OKABE_ITO["bluish_green"], "moveonly": OKABE_ITO["black"],
    # raw-resize workloads name the kernel function they call
    "krealloc": OKABE_ITO["vermillion"], "vrealloc": OKABE_ITO["blue"],
    "kvrealloc": OKABE_ITO["bluish_green"],
}
_SPARE_COLOURS = (OKABE_ITO["reddish_purple"], OKABE_ITO["sky_blue"], OKABE_ITO["orange"])
#: One line style per growth policy (matplotlib dash patterns, in line widths).
POLICY_STYLES: dict[str, Any] = {
    "rust_kvec": "-", "rust_std": (0, (5, 1.5, 1, 1.5, 1, 1.5)), "cpython_list": (0, (5, 2)),
    "factor_1_5": (0, (6, 1.5, 1.5, 1.5)), "exact": (0, (1, 1.3)),
    "-": "-",             # RAW_POLICY
}
_SPARE_STYLES: tuple[Any, ...] = ((0, (9, 2)), (0, (2, 2, 6, 2)))
#: One marker per vrealloc profile, oldest first (used when a figure shows several profiles).
PROFILE_MARKERS: dict[str, str] = dict(zip(PROFILE_INFO, "osD^vP<X>"))
_SPARE_MARKERS = "hp*"
#: The policy of a raw-resize workload's runs (growth_study names the kernel function as alloc).
RAW_POLICY = "-"
#: What each extension of ``path`` writes.
FORMATS: dict[str, str] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

_PNG_DPI = 200
_WIDTH = 7.2                 # inches: a two-column paper's text width
_LW = 1.1                    # points: data lines
_MS = 2.6                    # points: markers
_MS_MULTI = 3.6              # points: markers telling profiles apart
_RC: dict[str, Any] = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "figure.titlesize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4, "xtick.major.size": 3, "ytick.major.size": 3,
    "xtick.minor.size": 1.8, "ytick.minor.size": 1.8, "lines.solid_capstyle": "butt",
    "legend.frameon": False, "legend.handlelength": 3.2, "legend.borderaxespad": 0.2,
    "pdf.fonttype": 42, "svg.fonttype": "path", "svg.hashsalt": "kvalloc",
    "axes.formatter.use_mathtext": True,
}
# An event must have these keys (study.EVENT_KEYS has them all).
_EVENT_KEYS = ("len", "old_allocated", "new_allocated", "outcome", "bytes_copied", "backing",
               "old_ptr", "new_ptr")
# A sweep row must have these columns (GROWTH_COLUMNS has them all; profile_alias is derived).
_SWEEP_KEYS = ("alloc", "policy", "profile", "workload", "elem", "elem_size", "elements",
               "status", "copies_per_element", "worst_copy_bytes", "overhead_pct")

K = TypeVar("K", bound=Hashable)
P = TypeVar("P", bound=Hashable)


# --------------------------------------------------------------------------- pure helpers

def merge_identical(series: Mapping[K, Sequence[P]]) -> list[tuple[list[K], list[P]]]:
    """Group the labels whose point sequences are equal: ``[(labels, points), ...]``.

    Groups come in the order of their first label, labels in the order of ``series``; the
    points are compared exactly (the rows hold integers and rounded floats).

    >>> merge_identical({"k": [(1, 0.5), (2, 1.0)], "v": [(1, 0.5)], "kv": [(1, 0.5), (2, 1.0)]})
    [(['k', 'kv'], [(1, 0.5), (2, 1.0)]), (['v'], [(1, 0.5)])]
    """
    groups: dict[tuple[P, ...], tuple[list[K], list[P]]] = {}
    for label, points in series.items():
        key = tuple(points)
        if key in groups:
            groups[key][0].append(label)
        else:
            groups[key] = ([label], list(points))
    return list(groups.values())


def _spare(name: str, choices: Sequence[Any]) -> Any:
    # a fixed choice for a name not in the table: the same in every process (not hash())
    return choices[zlib.crc32(name.encode()) % len(choices)]


def alloc_colour(alloc: str) -> str:
    """The allocator's colour, the same in every figure (:data:`ALLOC_COLOURS`)."""
    return ALLOC_COLOURS.get(alloc) or str(_spare(alloc, _SPARE_COLOURS))


def policy_style(policy: str) -> Any:
    """The policy's line style, the same in every figure (:data:`POLICY_STYLES`)."""
    return POLICY_STYLES.get(policy) or _spare(policy, _SPARE_STYLES)


def profile_marker(commit: str) -> str:
    """The profile's marker (:data:`PROFILE_MARKERS`), for figures with several profiles."""
    return PROFILE_MARKERS.get(commit) or str(_spare(commit, _SPARE_MARKERS))


class _Config(NamedTuple):
    """What tells one line from another; sorted in the study's order."""

    alloc: str
    policy: str
    profile: str          # commit
    elem: str
    workload: str
    variant: str = ""     # vectors, churn, background: what else the run had, in words


def _variant(vectors: int = 1, interleave: str = "round-robin", churn: str = "",
             background: str = "") -> str:
    """``2 vectors (random), churn fix_size_alloc_test``: the setting besides the workload."""
    parts = []
    if vectors > 1:
        parts.append(f"{vectors} vectors" + (f" ({interleave})" if interleave != "round-robin" else ""))
    if churn:
        parts.append(f"churn {churn}")
    if background:
        parts.append(f"background {os.path.basename(background)}")
    return ", ".join(parts)


def _spec_config(run: Run) -> _Config:
    s = run.spec
    return _Config(s.alloc, s.policy, s.profile, s.elem, s.workload,
                   _variant(s.vectors, s.interleave, s.churn, s.background))


def _order(c: _Config) -> tuple[Any, ...]:
    allocs, policies, profiles = list(ALLOCS), list(POLICIES), list(PROFILE_INFO)

    def rank(seq: list[str], x: str) -> tuple[int, str]:
        return (seq.index(x), "") if x in seq else (len(seq), x)
    return (rank(allocs, c.alloc), rank(policies, c.policy), rank(profiles, c.profile),
            c.elem, c.workload, c.variant)


def _profile_label(commit: str) -> str:
    return profile_label(commit)


_EXTRA_FIELDS = ("profile", "elem", "workload", "variant")


def _group_label(members: Sequence[_Config], universe: Sequence[_Config]) -> str:
    """``kmalloc, kvmalloc / rust_kvec``: the allocators sharing a policy (and the same set of
    profiles, element types, workloads and variants, named only where ``universe`` has
    several)."""
    vary = [len({getattr(c, f) for c in universe}) > 1 for f in _EXTRA_FIELDS]
    # the default setting, said in the terms the others differ in
    others = " ".join(c.variant for c in universe)
    plain = ", ".join(w for w, key in (("1 vector", "vector"), ("no churn", "churn"),
                                       ("no background", "background")) if key in others)

    def extra(c: _Config) -> tuple[str, ...]:
        vals = (_profile_label(c.profile), c.elem, c.workload, c.variant or plain)
        return tuple(v for v, on in zip(vals, vary) if on)

    every = sorted({extra(c) for c in universe})
    by_ap: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for c in sorted(members, key=_order):
        by_ap.setdefault((c.alloc, c.policy), []).append(extra(c))
    parts: dict[tuple[str, tuple[tuple[str, ...], ...]], list[str]] = {}
    for (alloc, policy), found in by_ap.items():
        parts.setdefault((policy, tuple(found)), []).append(alloc)
    out = []
    for (policy, extras), allocs in parts.items():
        text = ", ".join(allocs) + ("" if policy == RAW_POLICY else f" / {policy}")
        if any(vary):
            if len(every) > 1 and sorted(extras) == every:
                what = "every profile" if vary == [True, False, False, False] else "all"
            else:
                what = ", ".join(" ".join(e) for e in extras)
            text += f" ({what})"
        out.append(text)
    return "; ".join(out)


def _unit(largest: float) -> tuple[int, str]:
    """Bytes per unit and the unit's name for values up to ``largest`` bytes."""
    if largest >= 4 << 20:
        return 1 << 20, "MiB"
    if largest >= 4 << 10:
        return 1 << 10, "KiB"
    return 1, "bytes"


def _fmt_n(n: int) -> str:
    return f"{n:,}".replace(",", "\u2009")       # thin-space thousands: 200 000


def _profiles_text(commits: Sequence[str]) -> str:
    names = [f"{profile_alias(c)} ({c})" if profile_alias(c) else profile_label(c) for c in commits]
    return ("profile " if len(names) == 1 else "profiles ") + ", ".join(names)


# --------------------------------------------------------------------------- checks

def check_path(path: object, option: str = "--plot") -> str:
    """The format of ``path`` by its extension (also checked before a study runs);
    TypeError or ValueError naming ``option`` otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"path must be a str or os.PathLike of str, got {text!r}")
    fmt = FORMATS.get(os.path.splitext(text)[1].lower())
    if fmt is None:
        raise ValueError(f"{option} FILE must end in .png, .svg or .pdf, got {text!r}")
    return fmt


def _check_list(value: object, what: str, func: str, kind: type, many: str, one: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{func}: {what} must be a list of {many}, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{func}: {what} is empty, nothing to plot")
    for i, item in enumerate(value):
        if not isinstance(item, kind):
            raise TypeError(f"{func}: {what}[{i}] must be {one}, got {type(item).__name__}")
    return value


def _check_events(run: Run, where: str) -> None:
    """The run's events are dicts with the keys the figures read."""
    if not isinstance(run.events, list):
        raise TypeError(f"{where}.events must be a list of event dicts, got "
                        f"{type(run.events).__name__}")
    for i, ev in enumerate(run.events):
        if not isinstance(ev, dict):
            raise TypeError(f"{where}.events[{i}] must be a dict, got {type(ev).__name__}")
        missing = [k for k in _EVENT_KEYS if k not in ev]
        if missing:
            raise ValueError(f"{where}.events[{i}] lacks the key(s) {', '.join(missing)}")


# --------------------------------------------------------------------------- matplotlib

def _pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig: Figure, path: str | os.PathLike[str], fmt: str) -> None:
    # no dates in the file: the same study writes the same bytes
    metadata: dict[str, Any] = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
    fig.savefig(path, format=fmt, dpi=_PNG_DPI if fmt == "png" else "figure", metadata=metadata)


def _log_or_symlog(ax: Axes, values: Sequence[float]) -> float | None:
    """A log y axis when every value is positive; with zeros, symlog with its linear part
    below the smallest positive value, so zeros stay on the axis. Returns that threshold
    (None for a plain log axis, or no positive value at all)."""
    pos = [v for v in values if v > 0]
    if not pos:
        return None
    if len(pos) == len(values):
        ax.set_yscale("log")
        return None
    thresh = 2.0 ** math.floor(math.log2(min(pos)))
    ax.set_yscale("symlog", linthresh=thresh, linscale=0.35)
    ax.set_ylim(bottom=0)
    return thresh


def _pow2_ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """Powers of two from ``lo`` to ``hi``, every 1st, 2nd, 4th, 5th or 10th, at most ``most``."""
    a, b = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    for k in (1, 2, 4, 5, 10, 20):
        ticks = [2.0 ** e for e in range(a - a % k, b + 1, k) if lo / 1.01 <= 2.0 ** e <= hi * 1.01]
        if len(ticks) <= most:
            return ticks
    return [2.0 ** a, 2.0 ** b]


def _bytes_text(v: float) -> str:
    """``4 KiB``, ``1 MiB``, ``16 B``: a power of two with its unit."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if v >= unit:
            return f"{v / unit:g} {name}"
    return "0" if v == 0 else f"{v:g} B"


def _number_text(v: float) -> str:
    """``0.25``, ``16``, ``1 024``: a tick label in a chosen unit."""
    return _fmt_n(int(v)) if v >= 10_000 and v == int(v) else f"{v:g}"


def _pow2_axis(ax: Axes, values: Sequence[float], label: Callable[[float], str],
               zero: float | None = None) -> None:
    """Power-of-two major ticks over the positive ``values`` (and 0 on a symlog axis)."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter, NullLocator
    pos = [v for v in values if v > 0]
    if not pos:
        return
    lo, hi = min(pos), max(pos)
    ticks = _pow2_ticks(lo, hi)
    if len(ticks) < 3:
        ticks = _pow2_ticks(lo / 2, hi * 2)
    every = [2.0 ** e for e in range(math.floor(math.log2(lo)) - 1, math.ceil(math.log2(hi)) + 2)]
    if zero is not None:
        ticks = [0.0, *ticks]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FixedFormatter([label(t) for t in ticks]))
    if len(every) < 40:
        ax.yaxis.set_minor_locator(FixedLocator([t for t in every if t not in ticks]))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.yaxis.set_minor_locator(NullLocator())


def _marker(group: Sequence[_Config], multi_profile: bool, step: bool) -> str:
    """With several profiles a marker names the profile; a line the same under several has
    none. With one profile, points (a sweep) get a dot and steps none."""
    if multi_profile:
        profiles = {c.profile for c in group}
        return profile_marker(group[0].profile) if len(profiles) == 1 else "none"
    return "none" if step else "o"


def _look(group: Sequence[_Config], multi_profile: bool, step: bool) -> dict[str, Any]:
    c = group[0]
    return {"color": alloc_colour(c.alloc), "linestyle": policy_style(c.policy),
            "linewidth": _LW, "marker": _marker(group, multi_profile, step),
            "markersize": _MS_MULTI if multi_profile else _MS, "markeredgewidth": 0}


def _handle(group: Sequence[_Config], multi_profile: bool, step: bool = False) -> Line2D:
    """The legend handle of a line: the colour, line style and marker of its first member."""
    from matplotlib.lines import Line2D
    look = _look(group, multi_profile, step)
    look["markersize"] += 0.6
    return Line2D([], [], **look)


def _draw(ax: Axes, group: Sequence[_Config], pts: Sequence[tuple[float, float]],
          multi_profile: bool, step: bool = False) -> None:
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    look = _look(group, multi_profile, step)
    if step:
        ax.step(xs, ys, where="post", markevery=0.06, zorder=3, **look)
    else:
        ax.plot(xs, ys, zorder=3, **look)


def _grid(ax: Axes) -> None:
    ax.grid(True, which="major", linewidth=0.3, color="#d9d9d9")
    ax.set_axisbelow(True)


_EQ = "\u00a0=\u00a0"         # " = " that a wrapped legend note never breaks ("[1] =" / "[4]")


def _coincidences(panel: str, merged: Sequence[Sequence[list[_Config]]],
                  universe: Sequence[_Config], number: Callable[[list[_Config]], int]) -> str:
    """``(c) rust_kvec, exact: vmalloc = moveonly``: the legend entries drawn as one line in
    a panel. By name when one profile, element type and workload are drawn and the equal
    entries share their policy; otherwise by legend number: ``[5] = [9]``."""
    plain = all(len({getattr(c, f) for c in universe}) == 1 for f in _EXTRA_FIELDS)
    by_allocs: dict[tuple[str, ...], list[str]] = {}
    other: list[str] = []
    for gs in merged:
        members = sorted((c for g in gs for c in g), key=_order)
        if plain and len({c.policy for c in members}) == 1:
            allocs = tuple(dict.fromkeys(c.alloc for c in members))
            by_allocs.setdefault(allocs, []).append(members[0].policy)
        else:
            other.append(_EQ.join(f"[{number(g)}]" for g in gs))
    items = [f"{', '.join(pols)}: {_EQ.join(allocs)}" for allocs, pols in by_allocs.items()]
    return f"({panel}) " + "; ".join(items + other)


# --------------------------------------------------------------------------- layout

_LEGEND_WIDTH = 2.95          # inches: the legend column right of the panels
_LEGEND_CHARS = 36            # characters of a legend line in that column, at 8 pt
_LINE_IN = 8 * 1.4 / 72       # inches per legend text line


def _title(parts: Sequence[str]) -> str:
    """The parts joined by ``; ``, broken onto a second line when too long for the width."""
    text = "; ".join(parts)
    if len(text) <= 105 or len(parts) < 2:
        return text
    return "; ".join(parts[:-1]) + "\n" + parts[-1]


def _wrap(text: str, width: int, indent: str = "  ") -> str:
    return "\n".join(line for para in text.split("\n") for line in textwrap.wrap(
        para, width, subsequent_indent=indent, break_on_hyphens=False))


def _legend_entries(groups: Sequence[Sequence[_Config]], universe: Sequence[_Config],
                    suffix: Mapping[_Config, str], numbered: bool = False) -> list[str]:
    out = []
    for i, members in enumerate(groups, 1):
        label = (f"[{i}] " if numbered else "") + _group_label(members, universe)
        extra = sorted({suffix[c] for c in members if c in suffix})
        out.append(_wrap(label, _LEGEND_CHARS) + (f"\n  {extra[0]}" if extra else ""))
    return out


def _legend_lines(labels: Sequence[str], notes: str) -> int:
    return sum(lab.count("\n") + 1 for lab in labels) + (notes.count("\n") + 2 if notes else 0) + 2


def _figure(plt: Any, panels: int, height: float, legend_lines: int) -> tuple[Figure, list[Axes], Axes]:
    """A figure of the paper's width: ``panels`` stacked axes sharing x on the left, a
    legend column on the right; taller than ``height`` if the legend needs it."""
    height = max(height, legend_lines * _LINE_IN * 1.08 + 0.9)
    fig = plt.figure(figsize=(_WIDTH, height), layout="constrained")
    grid = fig.add_gridspec(panels, 2, width_ratios=(_WIDTH - _LEGEND_WIDTH, _LEGEND_WIDTH))
    axes: list[Axes] = []
    for i in range(panels):
        axes.append(fig.add_subplot(grid[i, 0], sharex=axes[0] if axes else None))
    leg_ax = fig.add_subplot(grid[:, 1])
    leg_ax.axis("off")
    return fig, axes, leg_ax


def _legend(leg_ax: Axes, handles: Sequence[Any], labels: Sequence[str], title: str,
            notes: str) -> None:
    """The legend at the top of its column and, under it, the notes."""
    leg = leg_ax.legend(list(handles), list(labels), loc="upper left", ncol=1, title=title,
                        title_fontproperties={"size": 8, "weight": "bold"}, alignment="left",
                        handlelength=2.8, handletextpad=0.6, labelspacing=0.4, borderaxespad=0)
    leg.set_in_layout(False)
    if notes:
        leg_ax.annotate(notes, xy=(0, 0), xycoords=leg, xytext=(0, -9),
                        textcoords="offset points", va="top", ha="left", zorder=6,
                        annotation_clip=False).set_in_layout(False)


# --------------------------------------------------------------------------- plot_sweep

_PANELS = (
    ("copies_per_element", "a", "copies per element: bytes copied / element size / N",
     "amortised copies\nper element"),
    ("worst_copy_bytes", "b", "worst single copy", "largest single\ncopy ({unit})"),
    ("overhead_pct", "c", "memory overhead", "memory held over\npayload (%)"),
)


def _commits(cfgs: Sequence[_Config]) -> list[str]:
    return sorted({c.profile for c in cfgs}, key=lambda p: _order(_Config("", "", p, "", "", "")))


def _title_elems(cfgs: Sequence[_Config], sizes: Mapping[str, int]) -> str:
    """``u64 (8 B) elements`` and, when every line shares it, the variant (``, 3 vectors``)."""
    elems = sorted({c.elem for c in cfgs})
    variants = {c.variant for c in cfgs}
    text = ", ".join(f"{e} ({sizes[e]} B)" for e in elems) + " elements"
    return text + (f", {variants.pop()}" if len(variants) == 1 and "" not in variants else "")


def plot_sweep(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """The rows of a sweep against N, one panel per question: (a) amortised copies per
    element (bytes copied / element size / N), (b) the worst single copy, (c) the memory
    overhead. Writes ``path`` only.

    Configurations equal in every panel are one line and one legend entry; lines that
    coincide in one panel only are drawn once there (in the look of the first) and named
    under the legend. A run the allocator refused ends its line at the last N it completed;
    its legend entry says where it stopped.
    """
    _check_list(rows, "rows", "plot_sweep", dict, "growth rows (dicts)", "a growth row (a dict)")
    for i, row in enumerate(rows):
        missing = [k for k in _SWEEP_KEYS if k not in row]
        if missing:
            raise ValueError(f"plot_sweep: rows[{i}] lacks the column(s) {', '.join(missing)}")
    fmt = check_path(path)

    cfgs: dict[_Config, dict[int, dict[str, Any]]] = {}
    sizes: dict[str, int] = {}
    for row in rows:
        c = _Config(row["alloc"], row["policy"], row["profile"], row["elem"], row["workload"],
                    _variant(row.get("vectors", 1), "round-robin", row.get("churn", ""),
                             row.get("background", "")))
        n = row["elements"]
        if n in cfgs.setdefault(c, {}):
            raise ValueError(f"plot_sweep: two rows for {c.alloc}/{c.policy}/"
                             f"{_profile_label(c.profile)} at N={n}")
        cfgs[c][n] = row
        sizes[c.elem] = row["elem_size"]
    order = sorted(cfgs, key=_order)
    commits = _commits(order)
    multi = len(commits) > 1
    refused: dict[_Config, str] = {}
    for c in order:
        stops = [n for n, r in cfgs[c].items() if r["status"] != "ok"]
        if stops:
            refused[c] = f"(refused from N = {_fmt_n(min(stops))})"
    copies = [r["worst_copy_bytes"] for r in rows if r["status"] == "ok" and r["worst_copy_bytes"] > 0]
    unit, unit_name = _unit(math.sqrt(min(copies) * max(copies)) if copies else 0)
    panel_series: list[dict[_Config, list[tuple[float, float]]]] = []
    for col, *_ in _PANELS:
        div = unit if col == "worst_copy_bytes" else 1
        panel_series.append({c: [(float(n), cfgs[c][n][col] / div) for n in sorted(cfgs[c])
                                 if cfgs[c][n]["status"] == "ok"] for c in order})
    # configurations equal in every panel are one line everywhere and one legend entry
    groups = [m for m, _ in merge_identical({c: [tuple(ps[c]) for ps in panel_series]
                                             for c in order})]
    # then, panel by panel, the lines that coincide there
    drawn: list[list[tuple[list[list[_Config]], list[tuple[float, float]]]]] = []
    notes = []

    def number(g: list[_Config]) -> int:
        return groups.index(g) + 1
    for (_, letter, _, _), ps in zip(_PANELS, panel_series):
        present = [g for g in groups if ps[g[0]]]
        inner = merge_identical({i: ps[g[0]] for i, g in enumerate(present)})
        drawn.append([([present[i] for i in ids], pts) for ids, pts in inner])
        same = [[present[i] for i in ids] for ids, _ in inner if len(ids) > 1]
        if same:
            notes.append(_coincidences(letter, same, order, number))
    note_text = "\n".join(["Lines equal within a panel are drawn once,", "in the look of the first named:"]
                          + [_wrap(n, _LEGEND_CHARS + 4, "     ") for n in notes]) if notes else ""
    labels = _legend_entries(groups, order, refused, numbered=any("[" in n for n in notes))
    ns = sorted({n for c in order for n in cfgs[c]})
    workloads = ", ".join(sorted({c.workload for c in order}))

    plt = _pyplot()
    with plt.rc_context(_RC):
        fig, axes, leg_ax = _figure(plt, 3, 7.0, _legend_lines(labels, note_text))
        try:
            for (col, letter, title, ylabel), lines, ax in zip(_PANELS, drawn, axes):
                for gs, pts in reversed(lines):        # the first configurations on top
                    _draw(ax, gs[0], pts, multi)
                ax.set_xscale("log")
                values = [y for _, pts in lines for _, y in pts]
                if col == "copies_per_element":
                    _log_or_symlog(ax, values)
                elif col == "worst_copy_bytes":
                    _pow2_axis(ax, values, _number_text, _log_or_symlog(ax, values))
                else:
                    ax.set_ylim(bottom=min(0.0, *values) if values else 0.0)
                ax.set_title(f"({letter}) {title}", loc="left", fontweight="bold")
                ax.set_ylabel(ylabel.format(unit=unit_name))
                ax.label_outer()
                _grid(ax)
            axes[-1].set_xlabel("N (elements pushed)")
            _legend(leg_ax, [_handle(g, multi) for g in groups], labels,
                    "allocator / policy" + (" (profile)" if multi else ""), note_text)
            fig.suptitle(_title([f"Vector growth, {workloads} workload: "
                                 f"{_title_elems(order, sizes)}, "
                                 f"N = {_fmt_n(ns[0])} to {_fmt_n(ns[-1])}",
                                 _profiles_text(commits)]))
            _save(fig, path, fmt)
        finally:
            plt.close(fig)


# --------------------------------------------------------------------------- plot_runs

def _by_length(run: Run) -> bool:
    """Whether the run's events can be drawn against the length: one buffer that never
    shrinks (a push workload); otherwise they are drawn against the workload step."""
    evs = run.events
    return (len({ev.get("buffer", "v0") for ev in evs}) <= 1
            and all(a["len"] <= b["len"] for a, b in zip(evs, evs[1:])))


def _cumulative(run: Run, by_length: bool) -> list[tuple[float, float]]:
    """(elements, or workload step, 1-based; bytes copied so far) after each event."""
    steps = getattr(run, "steps", None)
    if not isinstance(steps, list) or len(steps) != len(run.events):
        steps = list(range(len(run.events)))
    pts: list[tuple[float, float]] = []
    total = 0
    for ev, step in zip(run.events, steps):
        total += ev["bytes_copied"]
        x = float(max(1, ev["len"]) if by_length else step + 1)
        if pts and pts[-1][0] == x:
            pts[-1] = (x, float(total))
        else:
            pts.append((x, float(total)))
    end = float(max(1, run.length)) if by_length else (pts[-1][0] if pts else 1.0)
    if not pts or pts[-1][0] < end:
        pts.append((end, float(total)))
    return pts


def plot_runs(runs: list[Run], path: str | os.PathLike[str]) -> None:
    """Cumulative bytes copied against the elements pushed (the event's ``len``), one step
    line per run; runs with equal curves share one line and one legend entry. When a run
    has several buffers or shrinks (a workload other than push, ``vectors > 1``), every run
    is drawn against the workload step instead. Writes ``path`` only."""
    _check_list(runs, "runs", "plot_runs", Run, "kvalloc.tools.study.Run", "a kvalloc.tools.study.Run")
    for i, r in enumerate(runs):
        _check_events(r, f"plot_runs: runs[{i}]")
    fmt = check_path(path)
    by_cfg: dict[_Config, Run] = {}
    for r in runs:
        s = r.spec
        c = _spec_config(r)
        if c in by_cfg:
            raise ValueError(f"plot_runs: two runs of {s.alloc}/{s.policy}/"
                             f"{_profile_label(s.profile)} ({', '.join(filter(None, c[3:]))})")
        by_cfg[c] = r
    order = sorted(by_cfg, key=_order)
    commits = _commits(order)
    multi = len(commits) > 1
    by_length = all(_by_length(by_cfg[c]) for c in order)
    groups = merge_identical({c: _cumulative(by_cfg[c], by_length) for c in order})
    sizes = {c.elem: by_cfg[c].elem_size for c in order}
    refused = {c: f"(refused at {_fmt_n(f)} elements)" for c in order
               if (f := by_cfg[c].failed_at) is not None}
    labels = _legend_entries([m for m, _ in groups], order, refused)
    workloads = ", ".join(sorted({c.workload for c in order}))

    plt = _pyplot()
    with plt.rc_context(_RC):
        fig, (ax,), leg_ax = _figure(plt, 1, 4.0, _legend_lines(labels, ""))
        try:
            for members, pts in reversed(groups):
                _draw(ax, members, pts, multi, step=True)
            ax.set_xscale("log")
            values = [y for _, pts in groups for _, y in pts]
            _pow2_axis(ax, values, _bytes_text, _log_or_symlog(ax, values))
            pushes = all(c.workload == "push" for c in order)
            ax.set_xlabel(("elements pushed" if pushes else "buffer length at the call (elements)")
                          if by_length else "workload step (1 = the first)")
            ax.set_ylabel("bytes copied so far")
            ax.set_xlim(1, max(10.0, max(x for _, pts in groups for x, _ in pts) * 1.2))
            _grid(ax)
            _legend(leg_ax, [_handle(m, multi, step=True) for m, _ in groups], labels,
                    "allocator / policy" + (" (profile)" if multi else ""), "")
            fig.suptitle(_title([f"Bytes copied by reallocation, {workloads} workload: "
                                 f"{_title_elems(order, sizes)}", _profiles_text(commits)]))
            _save(fig, path, fmt)
        finally:
            plt.close(fig)


# --------------------------------------------------------------------------- plot_timeline

#: Colours of the timeline: a buffer as placed (fresh or moved), resized in place, guard.
TIMELINE_COLOURS: dict[str, str] = {
    "placed": OKABE_ITO["blue"], "in_place": OKABE_ITO["orange"], "guard": "#c4c4c4",
    "move": "#303030", "failed": OKABE_ITO["vermillion"],
}
_REGIONS = {"kmalloc": "direct map (kmalloc)", "vmalloc": "vmalloc space",
            "vmalloc_huge": "vmalloc space"}


class _Bar(NamedTuple):
    """One stretch of a buffer's life: events [x0, x1) over [ptr, ptr + size)."""

    region: str
    x0: int
    x1: int
    ptr: int
    size: int
    kind: str            # placed or in_place
    guard: bool          # a vmalloc area: a guard page follows it


class _Move(NamedTuple):
    x: int
    src: str
    src_addr: int
    dst: str
    dst_addr: int


def _bars(run: Run) -> tuple[list[_Bar], list[_Move], list[tuple[int, str, int]]]:
    """The bars of a run, its moves and its refused calls (event, region, address)."""
    live: dict[int, _Bar] = {}          # ptr -> the open stretch (x1 unused)
    bars: list[_Bar] = []
    moves: list[_Move] = []
    fails: list[tuple[int, str, int]] = []

    def close(ptr: int, x: int) -> _Bar | None:
        b = live.pop(ptr, None)
        if b is not None and x > b.x0:
            bars.append(b._replace(x1=x))
        return b

    for x, ev in enumerate(run.events):
        out, old, new = ev["outcome"], ev["old_ptr"], ev["new_ptr"]
        region = _REGIONS.get(ev["backing"], str(ev["backing"]))
        guard = ev["backing"] != "kmalloc"
        size = ev["new_allocated"]
        if out == "fresh":
            live[new] = _Bar(region, x, x, new, size, "placed", guard)
        elif out == "in_place":
            b = live.get(old)
            if b is None or b.size != size or b.kind != "in_place":
                prev = close(old, x)
                live[new] = _Bar(prev.region if prev else region, x, x, new, size, "in_place",
                                 prev.guard if prev else guard)
        elif out == "moved":
            prev = close(old, x)
            live[new] = _Bar(region, x, x, new, size, "placed", guard)
            if prev is not None:            # (a buffer the run saw placed)
                moves.append(_Move(x, prev.region, old + prev.size // 2, region, new + size // 2))
        elif out == "failed":
            b = live.get(old)
            if b is not None:               # a refused first allocation has no buffer to mark
                fails.append((x, b.region, old + b.size // 2))
        elif out == "freed":
            close(old, x)
    for ptr in list(live):
        close(ptr, len(run.events))
    return bars, moves, fails


def _top(b: _Bar) -> int:
    return b.ptr + b.size + (PAGE_SIZE if b.guard else 0)


def _detail(bars: Sequence[_Bar], moves: Sequence[_Move], low: int, high: int,
            end: int) -> tuple[int, int] | None:
    """(events, address span) of a magnified detail of the first events, when their bars are
    too thin to see at full scale and the upper left of the panel, where the detail goes, is
    empty; None otherwise."""
    span = high - low
    if not any(b.size < span * 0.015 for b in bars):
        return None
    # the prefix of the run whose bars all stay in the bottom 6 % of the panel
    x_end = min((b.x0 for b in bars if _top(b) - low > span * 0.06), default=end)
    if x_end < 3 or x_end > end * 0.8:
        return None
    y_top = max((_top(b) for b in bars if b.x0 < x_end), default=low) - low
    # the detail and its tick labels cover about x < 50 %, y > 30 % of the panel
    x_lim, y_lim = end * 0.5, low + span * 1.03 * 0.3
    if any(b.x0 < x_lim and _top(b) > y_lim for b in bars):
        return None
    if any(m.x < x_lim and max(m.src_addr, m.dst_addr) > y_lim for m in moves if m.src == m.dst):
        return None
    return x_end, y_top


def plot_timeline(run: Run, path: str | os.PathLike[str]) -> None:
    """The address space of one run over time: x is the event number, y the address from
    the lowest one the run used; each buffer is a bar over ``[ptr, ptr + allocated)`` from
    the event that placed it to the event that moved it away or freed it, blue as placed
    (fresh or moved), orange once resized in place. Moves are thin connectors, a refused
    resize a cross; the guard page after a vmalloc area is drawn light grey (allocated bytes
    never include it). A run that used both the direct map and the vmalloc space (kvmalloc)
    gets a panel for each. When the early buffers are too small to see, an inset shows them
    magnified. Writes ``path`` only."""
    if not isinstance(run, Run):
        raise TypeError(f"plot_timeline: run must be a kvalloc.tools.study.Run, got "
                        f"{type(run).__name__}")
    _check_events(run, "plot_timeline: run")
    if not run.events:
        raise ValueError("plot_timeline: the run has no events, nothing to plot")
    fmt = check_path(path)
    bars, moves, fails = _bars(run)
    if not bars:
        raise ValueError("plot_timeline: the run never held a buffer, nothing to plot")
    regions = [r for r in ("vmalloc space", "direct map (kmalloc)") if any(b.region == r for b in bars)]
    regions += sorted({b.region for b in bars} - set(regions))
    low = {r: min(b.ptr for b in bars if b.region == r) for r in regions}
    high = {r: max(_top(b) for b in bars if b.region == r) for r in regions}

    plt = _pyplot()
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import ConnectionPatch, Patch
    from matplotlib.ticker import MaxNLocator

    def draw(ax: Axes, region: str, unit: int, inset: bool = False) -> None:
        def y(addr: int) -> float:
            return (addr - low[region]) / unit
        mine = [b for b in bars if b.region == region]
        boxes = [[(b.x0, y(b.ptr)), (b.x1, y(b.ptr)), (b.x1, y(b.ptr + b.size)),
                  (b.x0, y(b.ptr + b.size))] for b in mine]
        guards = [[(b.x0, y(b.ptr + b.size)), (b.x1, y(b.ptr + b.size)), (b.x1, y(_top(b))),
                   (b.x0, y(_top(b)))] for b in mine if b.guard]
        ax.add_collection(PolyCollection(guards, facecolors=TIMELINE_COLOURS["guard"],
                                         edgecolors="none", zorder=1))
        # edged in their own colour: a bar one event wide out of thousands still shows
        faces = [TIMELINE_COLOURS[b.kind] for b in mine]
        ax.add_collection(PolyCollection(boxes, facecolors=faces, edgecolors=faces,
                                         linewidths=0.4, zorder=2))
        segs = [[(m.x, y(m.src_addr)), (m.x, y(m.dst_addr))] for m in moves
                if m.src == m.dst == region]
        dense = len(segs) > 100
        ax.add_collection(LineCollection(segs, colors=TIMELINE_COLOURS["move"],
                                         linewidths=0.3 if dense else 0.7,
                                         alpha=0.5 if dense else 1.0, zorder=3))
        fx = [(x, y(a)) for x, r, a in fails if r == region]
        if fx:
            ax.plot([p[0] for p in fx], [p[1] for p in fx], linestyle="none", marker="x",
                    color=TIMELINE_COLOURS["failed"], markersize=4, zorder=4)
        ax.xaxis.set_major_locator(MaxNLocator(5 if inset else "auto", integer=True))

    s = run.spec
    end = len(run.events)
    with plt.rc_context(_RC):
        fig = plt.figure(figsize=(_WIDTH, 1.5 + 2.3 * len(regions)), layout="constrained")
        try:
            axes = fig.subplots(len(regions), 1, sharex=True, squeeze=False)[:, 0]
            ax_of = dict(zip(regions, axes))
            unit_of: dict[str, int] = {}
            for region, ax in ax_of.items():
                unit, unit_name = _unit(high[region] - low[region])
                unit_of[region] = unit
                draw(ax, region, unit)
                ax.set_xlim(0, end)
                ax.set_ylim(0, max(1, high[region] - low[region]) / unit * 1.03)
                ax.set_ylabel(f"{region}:\naddress \u2212 {low[region]:#x} ({unit_name})")
                ax.grid(True, axis="y", linewidth=0.3, color="#e3e3e3")
                ax.set_axisbelow(True)
                zoom = _detail([b for b in bars if b.region == region],
                               [m for m in moves if m.src == region], low[region], high[region], end)
                if zoom is not None:
                    x_end, y_top = zoom
                    dunit, dname = _unit(y_top)
                    ins = ax.inset_axes((0.06, 0.40, 0.42, 0.52))
                    draw(ins, region, dunit, inset=True)
                    ins.set_xlim(0, x_end)
                    ins.set_ylim(0, y_top / dunit * 1.05)
                    ins.yaxis.set_major_locator(MaxNLocator(4))
                    ins.set_title(f"detail: events 0\u2013{x_end} ({dname})", fontsize=8, loc="left")
                    for side in ("top", "right"):
                        ins.spines[side].set_visible(True)
                    ins.set_facecolor("white")
                    ax.indicate_inset((0, 0, x_end, y_top / unit), ins, edgecolor="#707070",
                                      linewidth=0.5, alpha=1)
            for m in moves:
                if m.src != m.dst:
                    fig.add_artist(ConnectionPatch(
                        (m.x, (m.src_addr - low[m.src]) / unit_of[m.src]),
                        (m.x, (m.dst_addr - low[m.dst]) / unit_of[m.dst]), "data", "data",
                        axesA=ax_of[m.src], axesB=ax_of[m.dst], color=TIMELINE_COLOURS["move"],
                        linewidth=0.7, zorder=3))
            axes[-1].set_xlabel("event number (time: one per allocator call)")
            handles: list[Any] = [
                Patch(color=TIMELINE_COLOURS["placed"], label="placed (fresh or moved)")]
            if any(b.kind == "in_place" for b in bars):
                handles.append(Patch(color=TIMELINE_COLOURS["in_place"], label="resized in place"))
            if moves:
                handles.append(Line2D([], [], color=TIMELINE_COLOURS["move"], linewidth=0.7,
                                      label="move (copy)"))
            if any(b.guard for b in bars):
                handles.append(Patch(color=TIMELINE_COLOURS["guard"], label="guard page"))
            if fails:
                handles.append(Line2D([], [], color=TIMELINE_COLOURS["failed"], marker="x",
                                      linestyle="none", label="refused"))
            fig.legend(handles=handles, loc="outside lower center", ncol=len(handles),
                       handlelength=1.6)
            if len(regions) == 1:
                shown = f"; {regions[0]}"
            elif len(regions) == 2:
                shown = f"; panels: {regions[0]} (top), {regions[1]} (bottom)"
            else:
                shown = "; panels, top to bottom: " + ", ".join(regions)
            variant = _spec_config(run).variant
            if s.workload == "push" and s.vectors == 1:
                did = (f"{_fmt_n(run.length)} {s.elem} ({run.elem_size} B) pushed" if run.failed_at is None
                       else f"{_fmt_n(run.length)} of {_fmt_n(s.elements)} {s.elem} ({run.elem_size} B) "
                            "pushed, then refused")
            else:
                did = (f"{s.workload} workload, N = {_fmt_n(s.elements)} {s.elem} ({run.elem_size} B)"
                       + (f", {variant}" if variant else "")
                       + (", refused at the end" if run.failed_at is not None else ""))
            who = s.alloc if s.policy == RAW_POLICY else f"{s.alloc} / {s.policy}"
            fig.suptitle(f"Address space over time: {who}, {did}, "
                         f"{_fmt_n(end)} allocator calls\n"
                         f"{_profiles_text([s.profile])}{shown}")
            _save(fig, path, fmt)
        finally:
            plt.close(fig)


# --------------------------------------------------------------------------- plot_whatif

#: Bar colours of the what-ifs, in the order they appear (Okabe-Ito, skipping the allocators').
_WHATIF_COLOURS = (OKABE_ITO["orange"], OKABE_ITO["sky_blue"], OKABE_ITO["reddish_purple"],
                   OKABE_ITO["bluish_green"], OKABE_ITO["yellow"], OKABE_ITO["vermillion"])


def plot_whatif(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """The rows of ``kvalloc study whatif`` as two panels of grouped bars, one group per
    case and one bar per what-if: (a) estimated time and (b) bytes copied, each relative to
    latest (the line at 1). A bar is labelled with its ratio; a case where latest copies
    nothing shows no bar in (b)."""
    fmt = check_path(path)
    rows = _check_list(rows, "rows", "plot_whatif", dict, "dicts", "a dict")
    plt = _pyplot()
    cases = list(dict.fromkeys(r["case"] for r in rows))
    labels = list(dict.fromkeys(r["profile_label"] for r in rows if r["profile_kind"] == "what-if"))
    if not labels:
        raise ValueError("plot_whatif: the rows hold no what-if profile")
    by = {(r["case"], r["profile_label"]): r for r in rows}
    fig, axes = plt.subplots(2, 1, figsize=(_WIDTH, 5.6), layout="constrained", sharex=True)
    width = 0.8 / len(labels)
    panels = (("time_vs_latest", "a", "estimated time"),
              ("copied_vs_latest", "b", "bytes copied"))
    for ax, (key, letter, what) in zip(axes, panels):
        for j, label in enumerate(labels):
            xs, ys = [], []
            for i, case in enumerate(cases):
                r = by.get((case, label))
                if r is not None and r[key] is not None:
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(r[key])
            bars = ax.bar(xs, ys, width * 0.92, color=_WHATIF_COLOURS[j % len(_WHATIF_COLOURS)],
                          edgecolor="black", linewidth=0.4, label=label, zorder=3)
            ax.bar_label(bars, [f"{y:.2f}" for y in ys], fontsize=5.5, padding=1.5, rotation=90)
        ax.axhline(1.0, color="black", linewidth=0.9, zorder=4)
        ax.set_ylabel(f"{what}\nrelative to latest", fontsize=8)
        ax.set_title(f"({letter}) {what} of each what-if over latest's (latest = 1)",
                     fontsize=9, loc="left")
        top = max([1.0, *(r[key] or 0.0 for r in rows)])
        ax.set_ylim(0, top * 1.25)
        ax.grid(axis="y", color="#dddddd", linewidth=0.5, zorder=0)
        ax.tick_params(labelsize=7)
    axes[1].set_xticks(range(len(cases)), cases, rotation=20, ha="right", fontsize=7)
    axes[0].legend(loc="upper left", fontsize=7, ncol=len(labels), frameon=False,
                   bbox_to_anchor=(0, 1.02, 1, 0.2), mode="expand", borderaxespad=0.6)
    fig.suptitle("What-if vrealloc strategies against latest (e64f42036ef4), per workload\n"
                 "kvalloc study whatif: counted work, times from the cost model", fontsize=9)
    _save(fig, path, fmt)
    plt.close(fig)
