"""A time cost model: counted work (:class:`WorkCounts`) to estimated nanoseconds (:class:`CostModel`).

The simulator counts work; this module prices it. A :class:`WorkCounts` holds what a run or
one operation did (bytes copied, pages allocated, PTEs mapped, TLB flushes, ...). A
:class:`CostModel` holds a nanosecond cost per unit of each and turns counts into an
estimate, in total (:meth:`CostModel.estimate_ns`) or per category
(:meth:`CostModel.breakdown`). The defaults are drawn from published measurements on x86_64
servers; docs/cost_model.md gives the source and the derivation of every number and says
which are estimates. This module is a leaf: it imports nothing from the simulator.

Invariants: every count is an ``int >= 0``; every cost is a finite ``float >= 0``; the
estimate is the sum of the breakdown and never falls when any count grows.

>>> m = CostModel.default()
>>> one_page = WorkCounts(pages_allocated=1, ptes_mapped=1, vmap_area_allocs=1)
>>> m.estimate_ns(one_page)
500.0
>>> m.breakdown(one_page)["page_alloc"]
40.0
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Final

from ._validate import require_int

__all__ = ["CATEGORIES", "CostModel", "Tiers", "WorkCounts"]

#: ``(from_bytes, ns_per_byte)`` pairs, ``from_bytes`` strictly rising from 0: a copy (or
#: memset) of ``n`` bytes is charged at the rate of the last tier with ``from_bytes <= n``.
Tiers = tuple[tuple[int, float], ...]

#: The categories of :meth:`CostModel.breakdown`, in order, each with the
#: :class:`WorkCounts` field it prices.
CATEGORIES: Final[tuple[tuple[str, str], ...]] = (
    ("memcpy", "bytes_copied"),
    ("memset", "bytes_zeroed"),
    ("page_alloc", "pages_allocated"),
    ("page_free", "pages_freed"),
    ("pte_map", "ptes_mapped"),
    ("pte_unmap", "ptes_unmapped"),
    ("pmd_map", "pmds_mapped"),
    ("pmd_unmap", "pmds_unmapped"),
    ("tlb_flush", "tlb_flushes"),
    ("tlb_shootdown", "tlb_shootdown_cpus"),
    ("lazy_purge", "lazy_areas_purged"),
    ("vmap_area_alloc", "vmap_area_allocs"),
    ("resize_call", "resize_calls"),
)


# --------------------------------------------------------------------------------------------
# WorkCounts
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WorkCounts:
    """The counted work of a run or of one operation; every field an ``int >= 0``.

    * ``bytes_copied``: memcpy bytes (vrealloc moves, krealloc copies);
    * ``bytes_zeroed``: memset-to-zero bytes (``__GFP_ZERO``, ``init_on_alloc``, the tail
      zeroing of a vrealloc);
    * ``pages_allocated`` / ``pages_freed``: order-0 pages from / to the page allocator;
    * ``ptes_mapped`` / ``ptes_unmapped``: 4 KiB page-table entries set / cleared;
    * ``pmds_mapped`` / ``pmds_unmapped``: 2 MiB (PMD) block mappings set / cleared;
    * ``tlb_flushes``: kernel-range TLB flushes (the local part of each);
    * ``tlb_shootdown_cpus``: the other CPUs those flushes had to interrupt, summed over the
      flushes (a flush on a 4-CPU machine that reaches every CPU adds 3);
    * ``lazy_areas_purged``: lazily freed vmap areas returned to the free tree by a purge;
    * ``vmap_area_allocs``: kernel virtual address (KVA) allocations;
    * ``resize_calls``: ``krealloc`` / ``vrealloc`` / ``kvrealloc`` calls (their fixed cost,
      whatever else they do).

    ``a + b`` adds field by field; ``a - b`` is the work between two snapshots, and a
    negative field is a ``ValueError``. ``WorkCounts.FIELDS`` names the fields in order.
    Construction is O(fields); so are ``+`` and ``-``.

    >>> before = WorkCounts(bytes_copied=4096, tlb_flushes=1)
    >>> after = before + WorkCounts(bytes_copied=8192, pages_allocated=3)
    >>> (after - before).bytes_copied, (after - before).pages_allocated
    (8192, 3)
    >>> WorkCounts(pages_freed=-1)
    Traceback (most recent call last):
        ...
    ValueError: WorkCounts.pages_freed must be >= 0, got -1
    """

    bytes_copied: int = 0
    bytes_zeroed: int = 0
    pages_allocated: int = 0
    pages_freed: int = 0
    ptes_mapped: int = 0
    ptes_unmapped: int = 0
    pmds_mapped: int = 0
    pmds_unmapped: int = 0
    tlb_flushes: int = 0
    tlb_shootdown_cpus: int = 0
    lazy_areas_purged: int = 0
    vmap_area_allocs: int = 0
    resize_calls: int = 0

    FIELDS: ClassVar[tuple[str, ...]]

    def __post_init__(self) -> None:
        for name in WorkCounts.FIELDS:
            value = require_int(f"WorkCounts.{name}", getattr(self, name), 0)
            object.__setattr__(self, name, value)   # an IntEnum member becomes its plain int

    def __add__(self, other: WorkCounts) -> WorkCounts:
        """Field-by-field sum. O(fields).

        >>> (WorkCounts(tlb_flushes=1) + WorkCounts(tlb_flushes=2)).tlb_flushes
        3
        """
        if not isinstance(other, WorkCounts):
            return NotImplemented
        return WorkCounts(**{n: getattr(self, n) + getattr(other, n) for n in WorkCounts.FIELDS})

    def __sub__(self, other: WorkCounts) -> WorkCounts:
        """Field-by-field difference of two snapshots; ``ValueError`` if a field would be negative.

        O(fields).

        >>> WorkCounts(pages_freed=1) - WorkCounts(pages_freed=2)
        Traceback (most recent call last):
            ...
        ValueError: WorkCounts difference is negative in pages_freed: 1 - 2
        """
        if not isinstance(other, WorkCounts):
            return NotImplemented
        diff = {}
        for name in WorkCounts.FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            if a < b:
                raise ValueError(f"WorkCounts difference is negative in {name}: {a} - {b}")
            diff[name] = a - b
        return WorkCounts(**diff)

    def to_dict(self) -> dict[str, int]:
        """The counts as a plain dict, in field order; ``WorkCounts(**d)`` rebuilds it. O(fields).

        >>> WorkCounts(ptes_mapped=2).to_dict()["ptes_mapped"]
        2
        """
        return {name: getattr(self, name) for name in WorkCounts.FIELDS}


WorkCounts.FIELDS = tuple(f.name for f in dataclasses.fields(WorkCounts))


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------

def _require_ns(name: str, value: object) -> float:
    """``value`` as a ``float`` if it is a finite, non-negative ``int`` or ``float`` (not bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result) or result < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return result


def _require_tiers(name: str, value: object) -> Tiers:
    """``value`` as :data:`Tiers`: non-empty, from 0, thresholds rising, rates not falling."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence of (from_bytes, ns_per_byte) pairs, "
                        f"not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    tiers: list[tuple[int, float]] = []
    for i, pair in enumerate(value):
        where = f"{name}[{i}]"
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence):
            raise TypeError(f"{where} must be a (from_bytes, ns_per_byte) pair, "
                            f"not {type(pair).__name__}")
        if len(pair) != 2:
            raise ValueError(f"{where} must be a (from_bytes, ns_per_byte) pair, "
                             f"got {len(pair)} items")
        start = require_int(f"{where}[0]", pair[0], 0)
        rate = _require_ns(f"{where}[1]", pair[1])
        if i == 0 and start != 0:
            raise ValueError(f"{where} must start at 0 bytes, got {start}")
        if tiers:
            prev_start, prev_rate = tiers[-1]
            if start <= prev_start:
                raise ValueError(f"{where} starts at {start} bytes, not above the previous "
                                 f"tier's {prev_start}")
            if rate < prev_rate:
                raise ValueError(f"{where} costs {rate} ns/byte, less than the previous tier's "
                                 f"{prev_rate} (a larger copy may not cost less per byte)")
        tiers.append((start, rate))
    return tuple(tiers)


def _tier_rate(tiers: Tiers, nbytes: int) -> float:
    """The ns/byte of the last tier whose ``from_bytes <= nbytes``. O(len(tiers))."""
    rate = tiers[0][1]
    for start, tier_rate in tiers:
        if start > nbytes:
            break
        rate = tier_rate
    return rate


def _sized_ns(tiers: Tiers, what: str, field: str, total: int,
              sizes: Iterable[int] | None) -> float:
    """Cost of ``total`` bytes (``work.<field>``) done as ``sizes``; one operation if None."""
    if sizes is None:
        return total * _tier_rate(tiers, total)
    ns = 0.0
    seen = 0
    for i, size in enumerate(sizes):
        size = require_int(f"{what}[{i}]", size, 0)
        seen += size
        ns += size * _tier_rate(tiers, size)
    if seen != total:
        raise ValueError(f"{what} sum to {seen}, but work.{field} is {total}")
    return ns


# --------------------------------------------------------------------------------------------
# Defaults (docs/cost_model.md#defaults gives the source and derivation of each)
# --------------------------------------------------------------------------------------------

_KIB: Final = 1024
_MIB: Final = 1024 * 1024

#: memcpy: L2-resident (src + dst <= 1 MiB), LLC-resident (<= 32 MiB), DRAM (single core,
#: ~10 GB/s: Stack Overflow #39260020 measured 11.4 GB/s on Skylake, 5.6 GB/s on Broadwell-E).
DEFAULT_MEMCPY_TIERS: Final[Tiers] = ((0, 0.025), (512 * _KIB, 0.05), (16 * _MIB, 0.1))
#: memset: stores only, so about twice memcpy's rate in cache; DRAM 13.7 GB/s = 0.073 ns/byte
#: (Ankur Arora, "x86/clear_page: Introduce clear_pages()", AMD Milan, 4 KiB chunks).
DEFAULT_MEMSET_TIERS: Final[Tiers] = ((0, 0.0125), (512 * _KIB, 0.03), (16 * _MIB, 0.073))


# --------------------------------------------------------------------------------------------
# CostModel
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CostModel:
    """Nanosecond costs per unit of counted work; validated on construction, immutable.

    Every cost is a finite ``float >= 0`` (an ``int`` is accepted and stored as ``float``).
    ``memcpy_tiers`` and ``memset_tiers`` are :data:`Tiers`: ``(from_bytes, ns_per_byte)``
    pairs starting at 0 bytes, thresholds strictly rising and rates never falling, so a
    larger copy never costs less. All other fields are ns per unit of the
    :class:`WorkCounts` field named in :data:`CATEGORIES`; ``CostModel.KEYS`` names every
    field, in order. ``CostModel()`` is the default model; docs/cost_model.md cites the
    source of each default. Construction is O(fields + tiers).

    >>> m = CostModel.default().replace(page_alloc_ns=100)
    >>> m.page_alloc_ns, m.page_free_ns
    (100.0, 30.0)
    >>> CostModel(tlb_flush_ns=-1)
    Traceback (most recent call last):
        ...
    ValueError: CostModel.tlb_flush_ns must be a finite number >= 0, got -1
    """

    memcpy_tiers: Tiers = DEFAULT_MEMCPY_TIERS
    memset_tiers: Tiers = DEFAULT_MEMSET_TIERS
    page_alloc_ns: float = 40.0
    page_free_ns: float = 30.0
    pte_map_ns: float = 10.0
    pte_unmap_ns: float = 10.0
    pmd_map_ns: float = 50.0
    pmd_unmap_ns: float = 50.0
    tlb_flush_ns: float = 500.0
    tlb_shootdown_per_cpu_ns: float = 500.0
    lazy_purge_per_area_ns: float = 150.0
    vmap_area_alloc_ns: float = 450.0
    resize_call_ns: float = 50.0

    KEYS: ClassVar[tuple[str, ...]]
    _TIER_KEYS: ClassVar[tuple[str, ...]] = ("memcpy_tiers", "memset_tiers")

    def __post_init__(self) -> None:
        for name in CostModel.KEYS:
            value = getattr(self, name)
            if name in CostModel._TIER_KEYS:
                checked: object = _require_tiers(f"CostModel.{name}", value)
            else:
                checked = _require_ns(f"CostModel.{name}", value)
            object.__setattr__(self, name, checked)

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def default(cls) -> CostModel:
        """The default model (docs/cost_model.md#defaults). O(1) after the first call.

        >>> CostModel.default() == CostModel()
        True
        """
        return _DEFAULT

    @classmethod
    def _check_keys(cls, keys: Iterable[str]) -> None:
        for key in keys:
            if key not in cls.KEYS:
                raise ValueError(f"unknown CostModel key {key!r}; valid: " + ", ".join(cls.KEYS))

    def replace(self, **changes: Any) -> CostModel:
        """A copy with ``changes`` applied and validated; an unknown key is a ``ValueError``.

        O(fields + tiers).

        >>> CostModel().replace(tlb_flush_ns=0).tlb_flush_ns
        0.0
        >>> CostModel().replace(tlb_ns=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        ValueError: unknown CostModel key 'tlb_ns'; valid: memcpy_tiers, memset_tiers, ...
        """
        self._check_keys(changes)
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostModel:
        """The default model with the keys of ``data`` overriding it; every key is optional.

        Tiers may be given as lists of two-item lists (as TOML and JSON write them). An
        unknown key is a ``ValueError`` naming it and listing the valid ones. O(keys + tiers).

        >>> CostModel.from_dict({"memcpy_tiers": [[0, 0.1]]}).memcpy_ns(1 << 20)
        104857.6
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a cost model must be a mapping of keys to costs, "
                            f"not {type(data).__name__}")
        cls._check_keys(data)
        return _DEFAULT.replace(**data)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CostModel:
        """Read a model from a ``.toml`` or ``.json`` file (by extension), as :meth:`from_dict`.

        The file holds top-level keys only, each optional. TOML needs Python 3.11's
        ``tomllib`` (or the ``tomli`` package on 3.10). O(file size).

        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = pathlib.Path(d, "fast-tlb.toml")
        ...     _ = p.write_text("tlb_flush_ns = 100\\n")
        ...     CostModel.from_file(p).tlb_flush_ns
        100.0
        """
        name = os.fspath(path)
        suffix = os.path.splitext(name)[1].lower()
        if suffix == ".json":
            with open(name, encoding="utf-8") as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{name}: not valid JSON: {e}") from None
        elif suffix == ".toml":
            with open(name, "rb") as f:
                raw = f.read()
            data = _load_toml(name, raw)
        else:
            raise ValueError(f"a cost model file must end in .toml or .json, got {name!r}")
        if not isinstance(data, dict):
            raise ValueError(f"{name}: a cost model file must hold a table of keys, "
                             f"not {type(data).__name__}")
        return cls.from_dict(data)

    # ---- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Every key with its value, tiers as lists of ``[from_bytes, ns_per_byte]``.

        JSON- and TOML-ready; ``CostModel.from_dict(m.to_dict()) == m``. O(fields + tiers).

        >>> CostModel().to_dict()["memcpy_tiers"][0]
        [0, 0.025]
        """
        out: dict[str, Any] = {}
        for name in CostModel.KEYS:
            value = getattr(self, name)
            out[name] = [list(t) for t in value] if name in CostModel._TIER_KEYS else value
        return out

    def to_toml(self) -> str:
        """The model as a TOML document that :meth:`from_file` reads back. O(fields + tiers).

        >>> print(CostModel().to_toml().splitlines()[2])
        page_alloc_ns = 40.0
        """
        lines = []
        for name, value in self.to_dict().items():
            if name in CostModel._TIER_KEYS:
                text = "[" + ", ".join(f"[{s}, {r!r}]" for s, r in value) + "]"
            else:
                text = repr(value)
            lines.append(f"{name} = {text}")
        return "\n".join(lines) + "\n"

    # ---- pricing ---------------------------------------------------------------------------

    def memcpy_ns(self, nbytes: int) -> float:
        """The cost of one memcpy of ``nbytes``, at the rate of its size tier. O(tiers).

        >>> m = CostModel()
        >>> m.memcpy_ns(4096), m.memcpy_ns(64 << 20)
        (102.4, 6710886.4)
        """
        nbytes = require_int("nbytes", nbytes, 0)
        return nbytes * _tier_rate(self.memcpy_tiers, nbytes)

    def memset_ns(self, nbytes: int) -> float:
        """The cost of one memset of ``nbytes``, at the rate of its size tier. O(tiers).

        >>> CostModel().memset_ns(4096)
        51.2
        """
        nbytes = require_int("nbytes", nbytes, 0)
        return nbytes * _tier_rate(self.memset_tiers, nbytes)

    def estimate_counts_ns(self, counts: Sequence[int]) -> float:
        """:meth:`estimate_ns` of one operation's counts given in ``WorkCounts.FIELDS``
        order, without building a :class:`WorkCounts` (the studies' per-event fast path;
        counts are not validated). O(fields + tiers).

        >>> CostModel().estimate_counts_ns((4096, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1))
        652.4
        """
        copied, zeroed = counts[0], counts[1]
        ns = copied * _tier_rate(self.memcpy_tiers, copied) if copied else 0.0
        if zeroed:
            ns += zeroed * _tier_rate(self.memset_tiers, zeroed)
        rest: float = sum(map(operator.mul, counts[2:], self._rates()))
        return ns + rest

    def _rates(self) -> tuple[float, ...]:
        return (self.page_alloc_ns, self.page_free_ns, self.pte_map_ns, self.pte_unmap_ns,
                self.pmd_map_ns, self.pmd_unmap_ns, self.tlb_flush_ns,
                self.tlb_shootdown_per_cpu_ns, self.lazy_purge_per_area_ns,
                self.vmap_area_alloc_ns, self.resize_call_ns)

    def breakdown(self, work: WorkCounts, *, copy_sizes: Iterable[int] | None = None,
                  zero_sizes: Iterable[int] | None = None) -> dict[str, float]:
        """Estimated ns per category of :data:`CATEGORIES`, in that order.

        ``copy_sizes`` lists the size of each memcpy making up ``work.bytes_copied`` (they
        must sum to it), so that each copy is charged at its own size tier; without it the
        bytes are priced as one copy of ``work.bytes_copied`` bytes, which is right for the
        counts of a single operation. ``zero_sizes`` does the same for ``bytes_zeroed``.
        ``math.fsum`` of the values is :meth:`estimate_ns`. O(categories + tiers × sizes).

        >>> b = CostModel().breakdown(WorkCounts(tlb_flushes=1, tlb_shootdown_cpus=3))
        >>> b["tlb_flush"], b["tlb_shootdown"], b["memcpy"]
        (500.0, 1500.0, 0.0)
        """
        if not isinstance(work, WorkCounts):
            raise TypeError(f"work must be WorkCounts, not {type(work).__name__}")
        return {
            "memcpy": _sized_ns(self.memcpy_tiers, "copy_sizes", "bytes_copied",
                                work.bytes_copied, copy_sizes),
            "memset": _sized_ns(self.memset_tiers, "zero_sizes", "bytes_zeroed",
                                work.bytes_zeroed, zero_sizes),
            "page_alloc": work.pages_allocated * self.page_alloc_ns,
            "page_free": work.pages_freed * self.page_free_ns,
            "pte_map": work.ptes_mapped * self.pte_map_ns,
            "pte_unmap": work.ptes_unmapped * self.pte_unmap_ns,
            "pmd_map": work.pmds_mapped * self.pmd_map_ns,
            "pmd_unmap": work.pmds_unmapped * self.pmd_unmap_ns,
            "tlb_flush": work.tlb_flushes * self.tlb_flush_ns,
            "tlb_shootdown": work.tlb_shootdown_cpus * self.tlb_shootdown_per_cpu_ns,
            "lazy_purge": work.lazy_areas_purged * self.lazy_purge_per_area_ns,
            "vmap_area_alloc": work.vmap_area_allocs * self.vmap_area_alloc_ns,
            "resize_call": work.resize_calls * self.resize_call_ns,
        }

    def estimate_ns(self, work: WorkCounts, *, copy_sizes: Iterable[int] | None = None,
                    zero_sizes: Iterable[int] | None = None) -> float:
        """Estimated time of ``work`` in ns: ``math.fsum`` of :meth:`breakdown`'s values.

        Takes the same ``copy_sizes`` / ``zero_sizes`` as :meth:`breakdown`. With fixed sizes
        the estimate is linear in every count; it never falls when a count grows.
        O(categories + tiers × sizes).

        >>> m = CostModel()
        >>> m.estimate_ns(WorkCounts(bytes_copied=8192), copy_sizes=[4096, 4096])
        204.8
        >>> m.estimate_ns(WorkCounts(bytes_copied=8192), copy_sizes=[4096])
        Traceback (most recent call last):
            ...
        ValueError: copy_sizes sum to 4096, but work.bytes_copied is 8192
        """
        return math.fsum(self.breakdown(work, copy_sizes=copy_sizes, zero_sizes=zero_sizes)
                         .values())


CostModel.KEYS = tuple(f.name for f in dataclasses.fields(CostModel))
_DEFAULT: Final = CostModel()


def _load_toml(name: str, raw: bytes) -> object:
    """Parse TOML with ``tomllib`` (3.11+) or ``tomli``; ``ValueError`` on bad TOML."""
    if sys.version_info >= (3, 11):
        import tomllib
        parse: Any = tomllib.loads
        error: type[Exception] = tomllib.TOMLDecodeError
    else:  # pragma: no cover - exercised on Python 3.10 only
        import importlib
        try:
            tomli: Any = importlib.import_module("tomli")
        except ModuleNotFoundError:
            raise ValueError(f"{name}: reading TOML needs Python 3.11+ or the tomli package; "
                             "use a .json file instead") from None
        parse, error = tomli.loads, tomli.TOMLDecodeError
    try:
        text = raw.decode("utf-8")
        result: object = parse(text)
    except (UnicodeDecodeError, error) as e:
        raise ValueError(f"{name}: not valid TOML: {e}") from None
    return result
